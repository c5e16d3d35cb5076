"""A straightforward Python verifier with the same checks as `wormvault audit verify` (CAVRA's
order: schema_version, sequence, previous_hash, record_hash, HMAC signature), streaming the file.

Usage: audit_verify.py LOG KEY KEY_ID  -> prints one JSON result line.
"""
import base64
import hashlib
import hmac
import json
import sys


def main():
    path, key, key_id = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
    errors = []
    previous = None
    index = 0
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            index += 1
            record = json.loads(line)
            if record.get("schema_version") != "cavra.audit-log.event.v1":
                errors.append("record %d: invalid schema_version" % index)
            if record.get("sequence") != index:
                errors.append("record %d: sequence mismatch" % index)
            if record.get("previous_hash") != previous:
                errors.append("record %d: previous_hash mismatch" % index)
            body = {k: v for k, v in record.items() if k not in ("record_hash", "signature")}
            digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
            if record.get("record_hash") != digest:
                errors.append("record %d: record_hash mismatch" % index)
            body["record_hash"] = digest
            signed = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
            expected = {
                "algorithm": "HS256",
                "key_id": key_id,
                "value": base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode(),
            }
            if record.get("signature") != expected:
                errors.append("record %d: signature mismatch" % index)
            previous = record.get("record_hash")
    print(json.dumps({"valid": not errors, "record_count": index, "errors": errors[:5]}))


if __name__ == "__main__":
    main()
