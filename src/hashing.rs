//! Streaming SHA-256 of files: fixed 128 KiB reads (constant memory whatever the file size;
//! larger reads measured slower here), and many files hashed in parallel on all cores.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

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
    sha256_reader(&mut file, progress)
}

/// Hash any reader, streaming.
pub fn sha256_reader(
    reader: &mut dyn Read,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<FileDigest> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; READ_SIZE];
    let mut total = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
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
}

/// SHA-256 of bytes in memory, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Hash many files in parallel (rayon's pool, one thread per core). Results keep input order;
/// each entry carries its own I/O error so one unreadable file does not hide the others.
pub fn sha256_files(
    paths: &[PathBuf],
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<std::io::Result<FileDigest>> {
    paths
        .par_iter()
        .map(|path| sha256_file(path, progress))
        .collect()
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
}
