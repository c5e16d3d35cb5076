//! Reusable upload buffers: a buffer is handed to the HTTP client as a `Bytes` frame without a
//! copy, and comes back to its pool when the client drops the frame's last reference, so an
//! upload allocates (and zeroes) a few buffers, not one per chunk. Used by the S3 request body
//! (`s3::body`) and Azure's block staging (`azure::write`).

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::readbuf::ReadBuffer;

/// Spare buffers, keeping at most `max` of them (the rest are freed when they come back).
#[derive(Clone)]
pub(crate) struct BufferPool {
    spare: Arc<Mutex<Vec<ReadBuffer>>>,
    max: usize,
}

impl BufferPool {
    pub(crate) fn new(max: usize) -> BufferPool {
        BufferPool {
            spare: Arc::default(),
            max,
        }
    }

    /// A buffer that came back, if any (still as long as it was: not zeroed again).
    pub(crate) fn take(&self) -> Option<ReadBuffer> {
        self.spare.lock().ok().and_then(|mut spare| spare.pop())
    }

    /// `data` as a frame that returns it to this pool when dropped.
    pub(crate) fn frame(&self, data: ReadBuffer) -> Bytes {
        Bytes::from_owner(Pooled {
            data,
            pool: self.clone(),
        })
    }
}

struct Pooled {
    data: ReadBuffer,
    pool: BufferPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Ok(mut spare) = self.pool.spare.lock()
            && spare.len() < self.pool.max
        {
            spare.push(std::mem::take(&mut self.data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(byte: u8, len: usize) -> ReadBuffer {
        let mut buffer = ReadBuffer::new(len);
        buffer.fill(byte);
        buffer
    }

    /// A dropped frame's buffer comes back as it was, up to `max`; beyond that it is freed.
    #[test]
    fn dropped_frames_come_back_up_to_max() {
        let pool = BufferPool::new(1);
        assert!(pool.take().is_none());
        let (a, b) = (pool.frame(filled(7, 10)), pool.frame(filled(8, 20)));
        assert_eq!(&a[..], &[7; 10][..]);
        let copy = a.clone();
        drop(a);
        assert!(pool.take().is_none(), "a frame still referenced stays out");
        drop(copy);
        drop(b);
        assert_eq!(pool.take().map(|b| b.to_vec()), Some(vec![7; 10]));
        assert!(pool.take().is_none(), "only `max` buffers are kept");
    }
}
