"""Generate an HMAC-signed CAVRA audit log (cavra.audit-log.event.v1) for the benchmark.

Usage: audit_gen.py OUT N KEY KEY_ID
Records follow cavra-compat.md section 2: record_hash = SHA-256 of the compact sorted JSON
without record_hash/signature; HMAC over the compact sorted JSON with record_hash; lines are the
spaced sorted JSON.
"""
import base64
import hashlib
import hmac
import json
import sys


def main():
    out, n, key, key_id = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
    previous = None
    with open(out, "w", encoding="ascii") as f:
        for i in range(1, n + 1):
            record = {
                "schema_version": "cavra.audit-log.event.v1",
                "sequence": i,
                "created_at": "2026-07-04T00:%02d:%02d+00:00" % ((i // 60) % 60, i % 60),
                "event_type": "runtime.decision" if i % 3 else "approval.decision",
                "actor": "agent:%d" % (i % 97),
                "action": ("write_file", "approve", "upload", "export")[i % 4],
                "target": "iam/role-%d.tf" % i,
                "decision": ("allow", "block", "require_approval")[i % 3],
                "tenant_id": "tenant-a",
                "workspace_id": "ws-prod" if i % 2 else None,
                "evidence_refs": ["evidence://session-%d" % (i // 10)],
                "metadata": {"n": i, "ratio": i / 8.0, "note": "caf\u00e9 \u2713", "nested": {"a": True, "b": [1, 2.5, "x"]}},
                "previous_hash": previous,
            }
            body = json.dumps(record, sort_keys=True, separators=(",", ":"))
            digest = hashlib.sha256(body.encode()).hexdigest()
            record["record_hash"] = digest
            signed = json.dumps(record, sort_keys=True, separators=(",", ":"))
            record["signature"] = {
                "algorithm": "HS256",
                "key_id": key_id,
                "value": base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest()).decode(),
            }
            f.write(json.dumps(record, sort_keys=True) + "\n")
            previous = digest


if __name__ == "__main__":
    main()
