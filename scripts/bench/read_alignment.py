#!/usr/bin/env python3
"""CPU cost of reading a cached file with pread, by where the reads land (see src/readbuf.rs).

The kernel's copy out of the page cache (`copy_to_user`) is much slower on some machines when
the file offset and the target address disagree modulo 32/64 bytes. This reads FILE in
512 KiB + 16 KiB reads (what `audit verify` reads per chunk) into a page-aligned buffer at
several (source offset shift, target offset) pairs and prints the best CPU seconds (user +
system) of three passes for each. Usage: read_alignment.py FILE
"""
import mmap
import os
import sys

CHUNK = 512 * 1024
TAIL = 16 * 1024


def cpu_seconds(fd, size, view, source_shift, target):
    best = float("inf")
    for _ in range(3):
        before = os.times()
        position = 0
        while position < size:
            os.preadv(fd, [view[target:target + CHUNK + TAIL]], max(0, position + source_shift))
            position += CHUNK
        after = os.times()
        best = min(best, (after.user - before.user) + (after.system - before.system))
    return best


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    fd = os.open(sys.argv[1], os.O_RDONLY)
    size = os.fstat(fd).st_size
    buffer = mmap.mmap(-1, CHUNK + TAIL + 8192)  # page-aligned
    view = memoryview(buffer)
    print(f"{size / 1e6:.0f} MB in {CHUNK // 1024} KiB reads; best of 3 passes")
    cases = [
        (0, 0, "offset and address agree (both 0 mod 64)"),
        (-1, 63, "offset and address agree (both 63 mod 64), as audit verify now reads"),
        (-1, 16, "offset 63, address 16 mod 64 (the byte before a chunk into malloc'd memory)"),
        (0, 16, "offset 0, address 16 mod 64 (a large malloc'd Vec)"),
        (0, 32, "offset 0, address 32 mod 64"),
        (0, 8, "offset 0, address 8 mod 64"),
    ]
    for shift, target, what in cases:
        print(f"  {cpu_seconds(fd, size, view, shift, target):6.3f} CPU-s  {what}")


if __name__ == "__main__":
    main()
