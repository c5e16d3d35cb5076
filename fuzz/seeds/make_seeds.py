#!/usr/bin/env python3
"""Regenerate the committed seed inputs for the hostile cases of issue #15 (items 7-13).

Run from fuzz/seeds/: `python3 make_seeds.py`. Each seed is small (the fuzzer's inputs are
small); the real 2 GiB bomb is built by tests/it/hostile.rs. Copy them into the corpus before a
run: `cp seeds/bundle_archive/* corpus/bundle_archive/` (see ../README.md).
"""
import gzip, io, json, os, struct, tarfile, zlib

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/fixtures/cavra/bundle-hmac")


def tar_bytes(entries, pax_global=None, fmt=tarfile.GNU_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, pax_headers=pax_global) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def fixture_entries():
    return [(n, open(os.path.join(FIX, n), "rb").read())
            for n in ["evidence.json", "manifest.json", "pr-attestation.md", "retention-policy.json"]]


def gz(data):
    return gzip.compress(data, mtime=0)


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


good = gz(tar_bytes(fixture_entries()))
a = "bundle_archive"
write(a, "valid.tar.gz", good)
bad = bytearray(good); bad[-8] ^= 0xFF; write(a, "crc32-wrong.tar.gz", bytes(bad))
bad = bytearray(good); bad[-4] ^= 0x01; write(a, "isize-wrong.tar.gz", bytes(bad))
write(a, "trailer-missing.tar.gz", good[:-8])
write(a, "second-member.tar.gz", good + gz(tar_bytes([("evidence.json", b"forged")])))
write(a, "appended-bytes.tar.gz", good + b"appended")
write(a, "second-tar-in-member.tar.gz",
      gz(tar_bytes(fixture_entries()) + tar_bytes([("evidence.json", b"forged")])))
write(a, "pax-global-git-archive.tar.gz",
      gz(tar_bytes(fixture_entries(), {"comment": "0123456789abcdef0123456789abcdef01234567"},
                   tarfile.PAX_FORMAT)))
write(a, "pax-global-path.tar.gz",
      gz(tar_bytes(fixture_entries(), {"path": "evidence.sh"}, tarfile.PAX_FORMAT)))
write(a, "long-name.tar.gz", gz(tar_bytes(fixture_entries() + [("/".join(["d"] * 2100), b"x")])))
write(a, "reserved-name.tar.gz",
      gz(tar_bytes(fixture_entries() + [("_wormvault/receipts.json", b"{}")])))
# A manifest entry declaring 2 GiB: the header and a little of its body.
header = tarfile.TarInfo("manifest.json"); header.size = 2 << 30; header.mode = 0o644
write(a, "manifest-bomb-head.tar.gz", gz(header.tobuf(tarfile.GNU_FORMAT) + b"\0" * 8192))

# The same size declared by a PAX `x` header over a ustar size of 0.
pax = tarfile.TarInfo("manifest.json"); pax.size = 0; pax.mode = 0o644
pax.pax_headers = {"size": str(2 << 30)}
write(a, "manifest-pax-size.tar.gz", gz(pax.tobuf(tarfile.PAX_FORMAT)))

m = "manifest"
manifest = json.load(open(os.path.join(FIX, "manifest.json")))
for name, path in [("reserved-path.json", "_wormvault/receipts.json"),
                   ("long-path.json", "/".join(["d"] * 2100))]:
    edited = json.loads(json.dumps(manifest))
    edited["files"].append({"path": path, "sha256": "0" * 64, "bytes": 0})
    write(m, name, json.dumps(edited, indent=2, sort_keys=True).encode() + b"\n")
write(m, "hs256-signed.json", open(os.path.join(FIX, "manifest.json"), "rb").read())

# audit_fast_path: single record lines — the fixture's, and spellings the fast path keeps or
# rewrites (escapes in and out of Python's form, raw non-ASCII and DEL, odd whitespace, floats to
# re-write, the removed members first and last, strings across the bitmap's 64-byte words).
f = "audit_fast_path"
log = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/fixtures/cavra/audit-hmac.jsonl")
for i, line in enumerate(open(log, "rb").read().splitlines()[:4]):
    write(f, f"fixture-{i}.json", line)
for name, line in [
    ("escapes.json", r'{"a": "\u00e9\u00E9\/\u0041\ud83d\ude00\uD83D\uDE00 \" \\ \b\f\n\r\t \u0001 \u007f", "b": 1}'),
    ("raw.json", '{"a": "raw \u00e9 \U0001F600 \x7f", "\u00e9": 2}'),
    ("spaces.json", '{ "a" :\t1 ,\n"record_hash" : "x" ,"s":2,"signature":{ "k" : [1 ,2] } , "z" : 3 }'),
    ("removed-first.json", '{"record_hash": "x", "signature": 1, "z": 2}'),
    ("floats.json", '{"a": [1e5, 2.50, -0, -0.0, 0.1e1, 1E+16, 5e-324, 123456789012345678901234567890]}'),
    ("long-strings.json", '{"k' + "x" * 60 + '": "' + "y" * 61 + r'\u00e9' + "z" * 70 + '"}'),
]:
    write(f, name, line.encode())
