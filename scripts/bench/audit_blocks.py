"""SHA-256 blocks one record of an HMAC-signed CAVRA log needs to verify, without the Merkle tree
(averaged over the first 10,000 records): the record_hash over the compact canonical payload,
the HMAC's inner hash over the signed payload (payload with record_hash) and its outer hash. The
HMAC key blocks (ipad and opad) are hashed once per run, not per record. Each SHA-256 message of
L bytes takes ceil((L + 9) / 64) blocks. The Merkle tree adds 3 a record: the leaf
SHA-256(0x00 || 32 bytes) is 1 block, and n leaves have n - 1 nodes SHA-256(0x01 || 64 bytes) of
2 blocks each.

Usage: audit_blocks.py LOG  -> prints the average block count.
"""
import json
import sys


def blocks(length):
    return (length + 9 + 63) // 64


def main():
    total = count = 0
    with open(sys.argv[1], "r", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            body = {k: v for k, v in record.items() if k not in ("record_hash", "signature")}
            payload = len(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
            body["record_hash"] = record["record_hash"]
            signed = len(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
            # Inner: key block (precomputed) + signed payload; outer: opad block + 32-byte digest.
            inner = blocks(64 + signed) - 1
            outer = blocks(64 + 32) - 1
            total += blocks(payload) + inner + outer
            count += 1
            if count == 10_000:
                break
    print(f"{total / max(count, 1):.2f}")


if __name__ == "__main__":
    main()
