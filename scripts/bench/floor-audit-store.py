#!/usr/bin/env python3
"""What LocalStack itself costs for a stored audit log's verify (issue #17 bench): the floor a
store verify cannot go below while it lists every version of every record key.

  listing   ListObjectVersions over <prefix>/records/, 1000 keys a page, one range after the
            other (as `aws s3api list-object-versions` does) and split into N key ranges listed
            in parallel (KeyMarker = the range start; 20-digit keys sort numerically)
  GETs      bundle objects (<prefix>/bundles/, 256 records each) and single record objects,
            with T requests in flight: objects/s and MB/s

Unsigned requests (LocalStack does not check SigV4); loopback endpoints only.
Usage: floor-audit-store.py ENDPOINT BUCKET PREFIX RECORDS
Prints one `FLOOR name=value` line per figure.
"""

import http.client
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def main():
    endpoint, bucket, prefix, records = sys.argv[1:5]
    records = int(records)
    url = urllib.parse.urlparse(endpoint)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing: {endpoint} is not a loopback emulator")

    def connect():
        return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=120)

    def list_range(conn, start, stop):
        """Versions of keys in (start, stop]: returns (versions, pages)."""
        versions = pages = 0
        marker = start
        while True:
            query = {"versions": "", "prefix": f"{prefix}/records/", "max-keys": "1000"}
            if marker:
                query["key-marker"] = marker
            conn.request("GET", f"/{bucket}?{urllib.parse.urlencode(query)}")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                sys.exit(f"ListObjectVersions: HTTP {response.status}")
            pages += 1
            root = ET.fromstring(body)
            keys = [e.findtext(f"{NS}Key") for e in root if e.tag in (f"{NS}Version", f"{NS}DeleteMarker")]
            done = False
            for key in keys:
                if stop is not None and key > stop:
                    done = True
                    break
                versions += 1
            if done or root.findtext(f"{NS}IsTruncated") != "true" or not keys:
                return versions, pages
            marker = root.findtext(f"{NS}NextKeyMarker") or keys[-1]

    def key(n):
        return f"{prefix}/records/{n:020d}.json"

    for parts in (1, 4, 8):
        bounds = [records * i // parts for i in range(parts + 1)]
        results = [None] * parts

        def run(i):
            start = key(bounds[i]) if bounds[i] > 0 else None
            stop = key(bounds[i + 1]) if i + 1 < parts else None
            results[i] = list_range(connect(), start, stop)

        began = time.monotonic()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(parts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - began
        versions = sum(r[0] for r in results)
        pages = sum(r[1] for r in results)
        print(f"FLOOR listing_ranges={parts} versions={versions} pages={pages} wall_s={wall:.2f}", flush=True)

    def get_all(keys, in_flight):
        jobs = list(keys)
        lock = threading.Lock()
        total = [0]

        def worker():
            conn = connect()
            while True:
                with lock:
                    if not jobs:
                        return
                    k = jobs.pop()
                conn.request("GET", f"/{bucket}/{urllib.parse.quote(k)}")
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    sys.exit(f"GET {k}: HTTP {response.status}")
                with lock:
                    total[0] += len(body)

        began = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(in_flight)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - began, total[0]

    bundles = [f"{prefix}/bundles/{first:020d}" for first in range(1, records - 255 + 1, 256)]
    if bundles:
        wall, size = get_all(bundles, 16)
        print(f"FLOOR bundle_gets={len(bundles)} in_flight=16 wall_s={wall:.2f} objects_per_s={len(bundles) / wall:.0f} MB_per_s={size / wall / 1e6:.1f}", flush=True)
    sample = [key(n) for n in range(1, min(records, 5000) + 1)]
    wall, size = get_all(sample, 32)
    print(f"FLOOR record_gets={len(sample)} in_flight=32 wall_s={wall:.2f} objects_per_s={len(sample) / wall:.0f}", flush=True)


if __name__ == "__main__":
    main()
