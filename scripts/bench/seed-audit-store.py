#!/usr/bin/env python3
"""Bench-only parallel seeder for a stored audit log on LocalStack (issue #17 bench).

`wormvault audit push` writes records strictly in sequence (record k+1 only after k's
create-only PUT succeeded): a parallel push could leave a gap that a concurrent appender fills
with its own record, and the pushed record after the gap, already stored and locked, would then
name the wrong predecessor: a fork in locked storage. Sequential is too slow to load 100,000
records into LocalStack for a benchmark, so this script writes them in parallel, producing
exactly what push writes (checked by the bench against records push wrote itself):

  key      <prefix>/records/<sequence, 20 digits>.json
  body     the JSONL line, byte for byte, with its newline
  headers  If-None-Match: *, x-amz-checksum-sha256 (base64), Content-Type application/x-ndjson,
           x-amz-meta-record-hash (the record_hash), x-amz-meta-sha256 (hex SHA-256 of the body),
           x-amz-object-lock-mode COMPLIANCE, retain-until now + 2555 days (rounded up to the
           second, as wormvault does)

The requests are NOT signed: LocalStack does not check SigV4 (the bench verifies that first by
sending a PUT with a wrong signature). Never point this at real S3; it refuses a non-loopback
endpoint. Usage: seed-audit-store.py ENDPOINT BUCKET PREFIX JSONL FIRST_SEQUENCE [THREADS]
"""

import base64
import datetime
import hashlib
import http.client
import json
import math
import queue
import sys
import threading
import time
import urllib.parse


def main():
    endpoint, bucket, prefix, path, first = sys.argv[1:6]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 16
    first = int(first)
    url = urllib.parse.urlparse(endpoint)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing: {endpoint} is not a loopback emulator")
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2555)
    until = datetime.datetime.fromtimestamp(math.ceil(until.timestamp()), datetime.timezone.utc)
    until = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    jobs = queue.Queue(maxsize=4 * threads)
    errors = []

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)
        while True:
            job = jobs.get()
            if job is None:
                return
            sequence, line = job
            key = f"{prefix}/records/{sequence:020d}.json"
            record_hash = json.loads(line)["record_hash"]
            headers = {
                "If-None-Match": "*",
                "Content-Type": "application/x-ndjson",
                "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(line).digest()).decode(),
                "x-amz-sdk-checksum-algorithm": "SHA256",
                "x-amz-meta-record-hash": record_hash,
                "x-amz-meta-sha256": hashlib.sha256(line).hexdigest(),
                "x-amz-object-lock-mode": "COMPLIANCE",
                "x-amz-object-lock-retain-until-date": until,
            }
            for attempt in range(5):
                try:
                    conn.request("PUT", f"/{bucket}/{urllib.parse.quote(key)}", body=line, headers=headers)
                    response = conn.getresponse()
                    body = response.read()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)
                    time.sleep(0.2 * (attempt + 1))
            else:
                errors.append(f"{key}: no answer")
                continue
            if response.status != 200:
                errors.append(f"{key}: HTTP {response.status} {body[:200]!r}")

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    count = 0
    with open(path, "rb") as log:
        for number, line in enumerate(log, start=1):
            if number < first or not line.strip():
                continue
            jobs.put((number, line))
            count += 1
    for _ in workers:
        jobs.put(None)
    for w in workers:
        w.join()
    if errors:
        sys.exit(f"{len(errors)} writes failed, first: {errors[0]}")
    print(f"seeded records {first}..{first + count - 1}")


if __name__ == "__main__":
    main()
