//! Read buffers placed for the kernel's copy out of the page cache.
//!
//! `read`/`pread` from a cached file is a `memcpy` in the kernel (`copy_to_user`), and on the
//! machine measured here it runs about 3.5x slower when the file offset and the target address
//! are not congruent modulo 32 bytes: 512 KiB reads of a cached 742 MB log took 0.38–0.50 CPU-s
//! into a `Vec` from `malloc` (16 bytes past a page) against 0.10–0.12 CPU-s when both sides
//! agreed modulo 64 (AMD EPYC, 2 cores; `scripts/bench/read_alignment.py` measures it). A heap
//! buffer's address is whatever the allocator gives, so the readers that stream files (hashing,
//! uploads, the local vault, bundle extraction, `audit verify`) pick where in their buffer a
//! read lands (the line readers on std's `BufReader` do not): [`ReadBuffer`] for reads from
//! offset 0 in whole multiples of 64 bytes, [`start_for`] for reads at any offset.

use std::ops::{Deref, DerefMut};

/// The alignment the copy wants both sides to agree on (a cache line).
pub const COPY_ALIGN: usize = 64;

/// The index in `buffer` at which to read the byte at file `offset` so that the kernel's copy
/// has source and target congruent modulo [`COPY_ALIGN`] (always below `COPY_ALIGN`).
pub fn start_for(buffer: &[u8], offset: u64) -> usize {
    // Only the low bits matter, so truncating the offset on a 32-bit target changes nothing.
    (offset as usize).wrapping_sub(buffer.as_ptr().addr()) % COPY_ALIGN
}

/// A zero-initialised read buffer (empty by default) whose first byte is on a [`COPY_ALIGN`] boundary,
/// so reads of a file from offset 0 in multiples of `COPY_ALIGN` land where the copy is fast.
#[derive(Default)]
pub struct ReadBuffer {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl ReadBuffer {
    /// `len` zero bytes, placed for reads from file offset 0 (or any multiple of 64).
    pub fn new(len: usize) -> ReadBuffer {
        let mut buffer = ReadBuffer::default();
        buffer.place(len, 0);
        buffer
    }

    /// Make the buffer `len` bytes long, placed for a read of the file from `offset`. It is
    /// filled by that read: what it holds before is whatever it held (initialised, not
    /// meaningful). Grows the allocation only when it is too small, so a reused buffer is not
    /// zeroed again.
    pub fn place(&mut self, len: usize, offset: u64) {
        if self.storage.len() < len + COPY_ALIGN {
            self.storage.resize(len + COPY_ALIGN, 0);
        }
        self.start = start_for(&self.storage, offset);
        self.len = len;
    }

    /// Keep the first `len` bytes (what a short read filled).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

impl Deref for ReadBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl DerefMut for ReadBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

impl std::fmt::Debug for ReadBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadBuffer({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_buffer_starts_on_a_boundary_and_has_its_length() {
        for len in [0, 1, 63, 64, 4096, 128 * 1024, 128 * 1024 + 1] {
            let mut buffer = ReadBuffer::new(len);
            assert_eq!(buffer.len(), len);
            assert_eq!(buffer.as_ptr().addr() % COPY_ALIGN, 0, "{len}");
            assert!(buffer.iter().all(|&b| b == 0));
            buffer.fill(7);
            assert!(buffer.iter().all(|&b| b == 7));
        }
    }

    #[test]
    fn a_placed_buffer_agrees_with_its_offset() {
        let mut buffer = ReadBuffer::new(10);
        for (len, offset) in [
            (100, 0u64),
            (5, 1),
            (128 * 1024, 4095),
            (3, 64),
            (200_000, 17),
        ] {
            buffer.place(len, offset);
            assert_eq!(buffer.len(), len);
            buffer[len - 1] = 9;
            buffer.truncate(len - 1);
            assert_eq!(buffer.len(), len - 1);
            buffer.truncate(len);
            assert_eq!(buffer.len(), len - 1, "truncate never grows");
            assert_eq!(
                buffer.as_ptr().addr() % COPY_ALIGN,
                (offset % COPY_ALIGN as u64) as usize
            );
        }
    }

    #[test]
    fn start_for_makes_address_and_offset_agree() {
        let storage = vec![0u8; 4 * COPY_ALIGN];
        for offset in [0u64, 1, 15, 63, 64, 65, 524_287, 524_288, u64::MAX] {
            let start = start_for(&storage, offset);
            assert!(start < COPY_ALIGN);
            let address = storage[start..].as_ptr().addr();
            assert_eq!(
                address % COPY_ALIGN,
                (offset % COPY_ALIGN as u64) as usize,
                "{offset}"
            );
        }
        // Any slice of the buffer gives the same placement as the buffer itself.
        let start = start_for(&storage[5..], 100);
        assert_eq!(
            (storage[5 + start..].as_ptr().addr()) % COPY_ALIGN,
            100 % COPY_ALIGN
        );
    }
}
