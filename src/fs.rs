//! Create-only, synced file writes: the one way wormvault writes a local artifact (receipts,
//! plans, checkpoints, session records, keys' public halves, manifests, reports). A file that
//! exists is never replaced; what is written is fsynced before success is reported.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file could not be written create-only (it exists, or I/O failed).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "{} already exists; wormvault never overwrites it — pass another path",
        path.display()
    )]
    Exists { path: PathBuf },
    #[error("writing {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Write a new file (never replacing one), creating missing parent directories, and fsync it.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                WriteError::Exists {
                    path: path.to_path_buf(),
                }
            } else {
                io(source)
            }
        })?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/receipts.json");
        write_new(&path, b"first").unwrap();
        let again = write_new(&path, b"second").unwrap_err();
        assert!(matches!(again, WriteError::Exists { .. }), "{again}");
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
    }
}
