//! Streaming SHA-256 of files: fixed 128 KiB reads into a buffer each thread keeps (constant
//! memory whatever the file size; larger reads measured no faster here), and many files hashed
//! in parallel on all cores, largest first. A file bigger than one core's share of the work (or
//! any file, with fewer files than cores) has its reads on a thread of their own, overlapping the
//! hashing, so the copy out of the page cache is not on the hasher's core (issue #19 item 5);
//! memory stays bounded by a fixed ring of buffers. Every read lands in a [`ReadBuffer`], where
//! the kernel's copy is fast (`crate::readbuf`). The `sha2` crate's SHA-NI code
//! (chosen at run time) hashes within a few percent of OpenSSL's assembly on 16 KiB-1 MiB
//! blocks here, so it stays the one SHA-256 implementation.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::readbuf::ReadBuffer;

/// A shareable byte-count callback (for progress bars) that options structs can carry.
#[derive(Clone)]
pub struct ProgressHook(pub std::sync::Arc<dyn Fn(u64) + Send + Sync>);

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHook")
    }
}

/// Read size for streaming hashes.
pub const READ_SIZE: usize = 128 * 1024;

/// A file's SHA-256 (lowercase hex) and its length in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub sha256: String,
    pub bytes: u64,
}

/// Hash one file, streaming. `progress` is called with the byte count of each read.
pub fn sha256_file(path: &Path, progress: &(dyn Fn(u64) + Sync)) -> std::io::Result<FileDigest> {
    let mut file = File::open(path)?;
    sha256_reader(&mut file, &|n| {
        count_hashed(path, n as usize);
        progress(n)
    })
}

/// Hash any reader, streaming.
pub fn sha256_reader(
    reader: &mut dyn Read,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<FileDigest> {
    with_read_buffer(|buffer| {
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        loop {
            let read = match reader.read(buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buffer[..read]);
            total += read as u64;
            progress(read as u64);
        }
        Ok(FileDigest {
            sha256: hex::encode(hasher.finalize()),
            bytes: total,
        })
    })
}

thread_local! {
    /// Each thread's read buffer, kept between files: hashing 2,000 small files allocated and
    /// zeroed 2,000 buffers before (issue #19 item 5).
    /// It is a [`ReadBuffer`]: reads land where the kernel's copy out of the page cache is fast.
    static READ_BUFFER: std::cell::RefCell<Option<ReadBuffer>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` with this thread's [`READ_SIZE`] buffer (a fresh one if it is in use further up the
/// stack, e.g. a progress callback that hashes too).
fn with_read_buffer<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    READ_BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => f(buffer.get_or_insert_with(|| ReadBuffer::new(READ_SIZE))),
        Err(_) => f(&mut ReadBuffer::new(READ_SIZE)),
    })
}

/// Buffers in flight between the reader thread and the hasher of [`sha256_file_overlapped`].
const OVERLAP_BUFFERS: usize = 4;

/// Hash one file with its reads on a second thread, so reading (a copy out of the page cache, or
/// disk I/O) overlaps hashing. Same result and progress calls as [`sha256_file`]; memory is
/// [`OVERLAP_BUFFERS`] × [`READ_SIZE`].
pub fn sha256_file_overlapped(
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<FileDigest> {
    use std::sync::mpsc::sync_channel;
    let mut file = File::open(path)?;
    // Full buffers travel reader -> hasher, emptied ones come back; the ring bounds memory.
    let (full_tx, full_rx) = sync_channel::<std::io::Result<(ReadBuffer, usize)>>(OVERLAP_BUFFERS);
    let (empty_tx, empty_rx) = sync_channel::<ReadBuffer>(OVERLAP_BUFFERS);
    for _ in 0..OVERLAP_BUFFERS {
        empty_tx
            .send(ReadBuffer::new(READ_SIZE))
            .expect("the ring has room for every buffer");
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // Ends when the file ends, on an error, or when the hasher has gone (it stopped).
            while let Ok(mut buffer) = empty_rx.recv() {
                let outcome = loop {
                    match file.read(&mut buffer) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                match outcome {
                    Ok(0) => break,
                    Ok(n) => {
                        if full_tx.send(Ok((buffer, n))).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        break;
                    }
                }
            }
        });
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        for message in full_rx {
            let (buffer, read) = message?;
            hasher.update(&buffer[..read]);
            count_hashed(path, read);
            total += read as u64;
            progress(read as u64);
            // The reader may already have stopped (end of file): a refused buffer is dropped.
            let _ = empty_tx.send(buffer);
        }
        Ok(FileDigest {
            sha256: hex::encode(hasher.finalize()),
            bytes: total,
        })
    })
}

/// SHA-256 of bytes in memory, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Hash many files in parallel (rayon's pool, one thread per core). Results keep input order;
/// each entry carries its own I/O error so one unreadable file does not hide the others.
///
/// Largest files start first, so a big file found last cannot leave the other cores idle at the
/// end (each core takes the next file as it gets free). A file bigger than one core's share of all the bytes (or any file, with fewer files than
/// cores) is read on a thread of its own ([`sha256_file_overlapped`]): its core then only hashes
/// while the reads (the copy out of the page cache, ~17% of the work) run on a core that would
/// otherwise wait. Every other file is read and hashed on its worker, which keeps all cores busy
/// with no thread per file (issue #19 item 5).
pub fn sha256_files(
    paths: &[PathBuf],
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<std::io::Result<FileDigest>> {
    // Sizes only plan the work; a file that cannot be read reports its error when opened.
    let sizes: Vec<u64> = paths
        .iter()
        .map(|path| std::fs::metadata(path).map_or(0, |m| m.len()))
        .collect();
    sha256_files_sized(paths, &sizes, progress)
}

/// [`sha256_files`] for a caller that already knows each file's size (`sizes[i]` of `paths[i]`,
/// from a `stat` it made anyway): the sizes only plan the work (largest first, which files get a
/// reader thread); the digest and byte count are always of what was read.
pub fn sha256_files_sized(
    paths: &[PathBuf],
    sizes: &[u64],
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<std::io::Result<FileDigest>> {
    let threads = rayon::current_num_threads();
    let plan = plan(paths.len(), sizes, threads);
    // One worker per core takes the next file of the plan as it gets free: the largest files go
    // first and the last ones are the smallest, whichever core finishes first.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let hashed: Vec<(usize, std::io::Result<FileDigest>)> = (0..threads.min(plan.len()))
        .into_par_iter()
        .flat_map_iter(|_| {
            let mut mine = Vec::new();
            while let Some(&(index, overlap)) =
                plan.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
            {
                let digest = if overlap {
                    sha256_file_overlapped(&paths[index], progress)
                } else {
                    sha256_file(&paths[index], progress)
                };
                mine.push((index, digest));
            }
            mine
        })
        .collect();
    let mut results: Vec<Option<std::io::Result<FileDigest>>> =
        paths.iter().map(|_| None).collect();
    for (index, digest) in hashed {
        results[index] = Some(digest);
    }
    results
        .into_iter()
        .map(|r| r.expect("every file was hashed"))
        .collect()
}

/// The order `count` files are hashed in on `threads` cores (largest first), and whether each
/// gets a reader thread of its own: when it is bigger than one core's share of all the bytes, or
/// when there are fewer files than cores, and it is at least [`OVERLAP_MIN`]. A missing size
/// counts as 0.
fn plan(count: usize, sizes: &[u64], threads: usize) -> Vec<(usize, bool)> {
    let size = |index: usize| sizes.get(index).copied().unwrap_or(0);
    let total: u64 = (0..count).map(size).sum();
    let share = total / threads.max(1) as u64;
    let few = count < threads;
    let mut order: Vec<usize> = (0..count).collect();
    // Stable: equal sizes keep their input order.
    order.sort_by_key(|&index| std::cmp::Reverse(size(index)));
    order
        .into_iter()
        .map(|index| {
            let overlap = threads > 1 && size(index) >= OVERLAP_MIN && (few || size(index) > share);
            (index, overlap)
        })
        .collect()
}

/// Files smaller than this are not worth a reader thread of their own.
const OVERLAP_MIN: u64 = (OVERLAP_BUFFERS * READ_SIZE) as u64;

/// One hash pass for a file that is verified while it uploads (issue #19 item 3). The deferred
/// content check (`bundle::finish_deferred_with`) registers the files it must hash; the uploader
/// ([`SharedDigests::claim`], S3 multipart and Azure staged blocks) hashes the bytes it sends
/// anyway, and publishes that whole-file digest instead of the check hashing the file a second
/// time. The published digest is of the very bytes that were sent, so the check still decides on
/// what the store will hold, and nothing is committed before it passes (the [`WriteGate`]).
///
/// The check never waits for a file nobody is reading: it waits only while the upload can still
/// make progress. When every write in flight is parked at the gate (the uploader can start no
/// more files until the gate opens), or the upload stage has ended, the check hashes the files
/// not yet claimed itself; a claim given up (an error, a stopped upload) is hashed by the check
/// too. The worst case is today's two passes, never a deadlock.
///
/// [`WriteGate`]: crate::store::WriteGate
#[derive(Clone, Default)]
pub struct SharedDigests(std::sync::Arc<Shared>);

impl std::fmt::Debug for SharedDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedDigests")
    }
}

#[derive(Default)]
struct Shared {
    state: std::sync::Mutex<SharedState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct SharedState {
    files: std::collections::HashMap<PathBuf, Slot>,
    /// Writes of the upload stage under way ([`SharedDigests::enter`]).
    in_flight: usize,
    /// Writes waiting at the gate ([`SharedDigests::park`]).
    parked: usize,
    /// The upload stage is over: nothing more will be claimed.
    ended: bool,
}

enum Slot {
    /// Registered by the check; nobody reads it yet.
    Expected,
    /// The uploader is reading it.
    Claimed,
    /// The uploader's digest of what it sent.
    Done(FileDigest),
    /// The uploader gave up its claim, or the check took the file: the check hashes it.
    CheckHashes,
}

impl SharedDigests {
    /// A share for the files the check must hash (by the path the uploader opens).
    pub fn new(paths: &[PathBuf]) -> SharedDigests {
        let shared = SharedDigests::default();
        shared.lock().files = paths.iter().map(|p| (p.clone(), Slot::Expected)).collect();
        shared
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SharedState> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut SharedState)) {
        change(&mut self.lock());
        self.0.changed.notify_all();
    }

    /// The uploader is about to read `path` to send it: if the check registered it and has not
    /// taken it, the claim is the uploader's, and it must [`DigestClaim::publish`] what it read.
    pub fn claim(&self, path: &Path) -> Option<DigestClaim> {
        let mut state = self.lock();
        match state.files.get_mut(path) {
            Some(slot @ Slot::Expected) => {
                *slot = Slot::Claimed;
                Some(DigestClaim {
                    shared: self.clone(),
                    path: path.to_path_buf(),
                    published: false,
                })
            }
            _ => None,
        }
    }

    /// A write of the upload stage starts; it ends when the ticket is dropped.
    pub fn enter(&self) -> ShareTicket {
        self.update(|s| s.in_flight += 1);
        ShareTicket {
            shared: self.clone(),
            parked: false,
        }
    }

    /// A write waits at the gate until the ticket is dropped.
    pub fn park(&self) -> ShareTicket {
        self.update(|s| s.parked += 1);
        ShareTicket {
            shared: self.clone(),
            parked: true,
        }
    }

    /// How many registered files got their digest from the uploader (hashed once).
    pub fn from_uploader(&self) -> usize {
        let state = self.lock();
        state
            .files
            .values()
            .filter(|slot| matches!(slot, Slot::Done(_)))
            .count()
    }

    /// The upload stage is over (finished, failed or never started).
    pub fn end(&self) {
        self.update(|s| s.ended = true);
    }

    /// The check's side: the digest of every registered file in `paths` (input order), taken from
    /// the uploader where it read the file, else from `hash` (called on batches of files the
    /// uploader will not read, as soon as that is certain).
    pub fn collect(
        &self,
        paths: &[PathBuf],
        hash: &dyn Fn(&[PathBuf]) -> Vec<std::io::Result<FileDigest>>,
    ) -> Vec<std::io::Result<FileDigest>> {
        let mut results: Vec<Option<std::io::Result<FileDigest>>> =
            paths.iter().map(|_| None).collect();
        loop {
            let mut to_hash: Vec<usize> = Vec::new();
            {
                let mut state = self.lock();
                loop {
                    // The uploader cannot start another file: it is over, or every write it
                    // has under way waits for this check.
                    let stalled =
                        state.ended || (state.parked > 0 && state.parked >= state.in_flight);
                    let mut waiting = false;
                    for (index, path) in paths.iter().enumerate() {
                        if results[index].is_some() {
                            continue;
                        }
                        match state.files.get_mut(path) {
                            Some(Slot::Done(digest)) => results[index] = Some(Ok(digest.clone())),
                            Some(Slot::Claimed) => waiting = true,
                            Some(slot @ Slot::Expected) if stalled => {
                                *slot = Slot::CheckHashes;
                                to_hash.push(index);
                            }
                            Some(Slot::Expected) => waiting = true,
                            Some(Slot::CheckHashes) | None => to_hash.push(index),
                        }
                    }
                    if !to_hash.is_empty() || !waiting {
                        break;
                    }
                    state = self
                        .0
                        .changed
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                }
                for &index in &to_hash {
                    state.files.insert(paths[index].clone(), Slot::CheckHashes);
                }
            }
            if to_hash.is_empty() {
                break;
            }
            let batch: Vec<PathBuf> = to_hash.iter().map(|&i| paths[i].clone()).collect();
            for (index, digest) in to_hash.into_iter().zip(hash(&batch)) {
                results[index] = Some(digest);
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every file has a digest when collect ends"))
            .collect()
    }
}

/// The uploader's claim on a file (see [`SharedDigests::claim`]). Dropped unpublished (an error,
/// a stopped upload), the file goes back to the check, which hashes it itself.
pub struct DigestClaim {
    shared: SharedDigests,
    path: PathBuf,
    published: bool,
}

impl DigestClaim {
    /// The whole-file digest of the bytes the uploader read and sent.
    pub fn publish(mut self, digest: FileDigest) {
        self.published = true;
        let path = std::mem::take(&mut self.path);
        self.shared.update(|s| {
            s.files.insert(path, Slot::Done(digest));
        });
    }
}

impl Drop for DigestClaim {
    fn drop(&mut self) {
        if !self.published {
            let path = std::mem::take(&mut self.path);
            self.shared.update(|s| {
                s.files.insert(path, Slot::CheckHashes);
            });
        }
    }
}

/// A write in flight, or parked at the gate, until dropped (see [`SharedDigests::enter`]).
pub struct ShareTicket {
    shared: SharedDigests,
    parked: bool,
}

impl Drop for ShareTicket {
    fn drop(&mut self) {
        let parked = self.parked;
        self.shared.update(|s| {
            if parked {
                s.parked -= 1;
            } else {
                s.in_flight -= 1;
            }
        });
    }
}

/// In unit tests: bytes of each file's content hashed so far, by path, so a test can count hash
/// passes (issue #19 item 3: a file verified while it uploads is hashed once). Keyed by path
/// because tests run in parallel, each in its own temp dir.
#[cfg(test)]
static HASHED_BYTES: std::sync::Mutex<Option<std::collections::HashMap<PathBuf, u64>>> =
    std::sync::Mutex::new(None);

/// Record `bytes` of `path` hashed (tests only; nothing in other builds).
#[inline]
pub(crate) fn count_hashed(_path: &Path, _bytes: usize) {
    #[cfg(test)]
    {
        let mut map = HASHED_BYTES.lock().unwrap_or_else(|e| e.into_inner());
        *map.get_or_insert_with(Default::default)
            .entry(_path.to_path_buf())
            .or_default() += _bytes as u64;
    }
}

/// Bytes of `path` hashed so far in this test process (see [`count_hashed`]).
#[cfg(test)]
pub(crate) fn hashed_bytes(path: &Path) -> u64 {
    let map = HASHED_BYTES.lock().unwrap_or_else(|e| e.into_inner());
    map.as_ref().and_then(|m| m.get(path)).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        // Spans several reads and a partial last read.
        let data: Vec<u8> = (0..(READ_SIZE * 3 + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let counted = std::sync::atomic::AtomicU64::new(0);
        let digest = sha256_file(&path, &|n| {
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(digest.sha256, sha256_hex(&data));
        assert_eq!(digest.bytes, data.len() as u64);
        assert_eq!(counted.into_inner(), data.len() as u64);
        let many = sha256_files(&[path.clone(), dir.path().join("missing")], &|_| {});
        assert_eq!(many[0].as_ref().unwrap().sha256, digest.sha256);
        assert!(many[1].is_err());
    }

    #[test]
    fn overlapped_reads_give_the_same_digest_and_progress() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, READ_SIZE, READ_SIZE * OVERLAP_BUFFERS * 3 + 5] {
            let path = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            let counted = std::sync::atomic::AtomicU64::new(0);
            let digest = sha256_file_overlapped(&path, &|n| {
                counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            })
            .unwrap();
            assert_eq!(digest.sha256, sha256_hex(&data), "length {len}");
            assert_eq!(digest.bytes, len as u64);
            assert_eq!(counted.into_inner(), len as u64);
            assert_eq!(hashed_bytes(&path), len as u64);
        }
        let missing = sha256_file_overlapped(&dir.path().join("missing"), &|_| {});
        assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
        // A directory opens but cannot be read: the reader's error reaches the caller.
        assert!(sha256_file_overlapped(dir.path(), &|_| {}).is_err());
    }

    /// Issue #19 item 5: the largest files are hashed first, and a file bigger than one core's
    /// share of the bytes gets a reader thread (its core only hashes); with fewer files than
    /// cores every file big enough does; tiny files and a single core never do.
    #[test]
    fn plan_takes_large_files_first_and_gives_the_big_ones_a_reader() {
        let big = OVERLAP_MIN * 10;
        assert_eq!(
            plan(4, &[10, big, 5, OVERLAP_MIN], 2),
            vec![(1, true), (3, false), (0, false), (2, false)]
        );
        // Two equal big files on two cores: each is one core's share, both cores hash.
        assert_eq!(plan(2, &[big, big], 2), vec![(0, false), (1, false)]);
        assert_eq!(plan(1, &[OVERLAP_MIN], 2), vec![(0, true)]);
        assert_eq!(plan(1, &[OVERLAP_MIN - 1], 2), vec![(0, false)]);
        assert_eq!(plan(2, &[big, 1], 1), vec![(0, false), (1, false)]);
        // Missing size hints count as 0; every file is still planned once.
        assert_eq!(plan(3, &[big], 4), vec![(0, true), (1, false), (2, false)]);
    }

    /// Whatever the plan (and wrong size hints), results come back in input order, each file
    /// hashed once, an unreadable one reported in its place.
    #[test]
    fn many_files_come_back_in_input_order_hashed_once() {
        let dir = tempfile::tempdir().unwrap();
        let lens = [3, 0, OVERLAP_MIN as usize * 4 + 7, 1, READ_SIZE + 1, 9];
        let mut paths = Vec::new();
        let mut contents = Vec::new();
        for (i, len) in lens.iter().enumerate() {
            let path = dir.path().join(format!("f{i}"));
            let data: Vec<u8> = (0..*len).map(|j| (j * 7 + i) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            paths.push(path);
            contents.push(data);
        }
        paths.insert(2, dir.path().join("missing"));
        contents.insert(2, Vec::new());
        let total: u64 = lens.iter().map(|&l| l as u64).sum();
        for sizes in [None, Some(vec![1u64 << 40, 0, 5])] {
            let counted = std::sync::atomic::AtomicU64::new(0);
            let progress = |n| {
                counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            };
            let results = match &sizes {
                None => sha256_files(&paths, &progress),
                Some(sizes) => sha256_files_sized(&paths, sizes, &progress),
            };
            assert_eq!(results.len(), paths.len());
            for (i, result) in results.iter().enumerate() {
                if i == 2 {
                    assert_eq!(
                        result.as_ref().unwrap_err().kind(),
                        std::io::ErrorKind::NotFound
                    );
                    continue;
                }
                let digest = result.as_ref().unwrap();
                assert_eq!(digest.sha256, sha256_hex(&contents[i]), "file {i}");
                assert_eq!(digest.bytes, contents[i].len() as u64);
            }
            assert_eq!(counted.into_inner(), total);
        }
        for (path, data) in paths.iter().zip(&contents) {
            assert_eq!(
                hashed_bytes(path),
                2 * data.len() as u64,
                "{}",
                path.display()
            );
        }
    }

    /// The per-thread read buffer is not shared with a hash started from a progress callback.
    #[test]
    fn a_hash_inside_a_progress_callback_gets_its_own_buffer() {
        let outer: Vec<u8> = (0..READ_SIZE * 2 + 3).map(|i| (i % 241) as u8).collect();
        let inner: Vec<u8> = (0..READ_SIZE + 5).map(|i| (i % 239) as u8).collect();
        let inner_digests = std::sync::Mutex::new(Vec::new());
        let digest = sha256_reader(&mut outer.as_slice(), &|_| {
            let digest = sha256_reader(&mut inner.as_slice(), &|_| {}).unwrap();
            inner_digests.lock().unwrap().push(digest.sha256);
        })
        .unwrap();
        assert_eq!(digest.sha256, sha256_hex(&outer));
        let inner_digests = inner_digests.into_inner().unwrap();
        assert_eq!(inner_digests.len(), 3);
        assert!(inner_digests.iter().all(|d| *d == sha256_hex(&inner)));
    }

    /// The check takes the uploader's digest where it read the file, and hashes itself only what
    /// the uploader cannot reach: once every write in flight is parked at the gate, or the
    /// upload stage is over (never a wait that cannot end).
    #[test]
    fn shared_digests_wait_only_while_the_uploader_can_progress() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"aaa").unwrap();
        std::fs::write(&b, b"bbb").unwrap();
        let hash = |paths: &[PathBuf]| sha256_files(paths, &|_| {});

        let shared = SharedDigests::new(&[a.clone(), b.clone()]);
        let in_flight = shared.enter();
        let claim = shared.claim(&a).expect("registered and not taken");
        assert!(shared.claim(&a).is_none(), "one claim per file");
        let check = {
            let shared = shared.clone();
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || shared.collect(&[a, b], &hash))
        };
        // A marker digest: the check must return the uploader's value, not its own.
        let from_uploader = FileDigest {
            sha256: "ab".repeat(32),
            bytes: 3,
        };
        claim.publish(from_uploader.clone());
        // The only write in flight now waits at the gate: b can no longer be reached.
        let parked = shared.park();
        let digests = check.join().unwrap();
        assert_eq!(digests[0].as_ref().unwrap(), &from_uploader);
        assert_eq!(digests[1].as_ref().unwrap().sha256, sha256_hex(b"bbb"));
        assert!(shared.claim(&b).is_none(), "the check took b");
        drop((parked, in_flight));

        // The upload stage ended without reading anything: the check hashes every file.
        let shared = SharedDigests::new(&[a.clone(), b.clone()]);
        let check = {
            let shared = shared.clone();
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || shared.collect(&[a, b], &hash))
        };
        shared.end();
        let digests = check.join().unwrap();
        assert_eq!(digests[0].as_ref().unwrap().sha256, sha256_hex(b"aaa"));
        assert_eq!(digests[1].as_ref().unwrap().sha256, sha256_hex(b"bbb"));
    }
}
