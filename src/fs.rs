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

/// Check, before anything is written anywhere, that `path` can be written create-only later: it
/// does not exist, and its nearest existing ancestor is a directory ([`write_new`] creates the
/// missing ones). A run that stores evidence first and only then finds its receipts or
/// checkpoint path unusable would leave a store written and no local record of it.
pub fn check_new(path: &Path) -> Result<(), WriteError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(WriteError::Exists {
            path: path.to_path_buf(),
        });
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => check_dir(parent),
        None => Ok(()),
    }
}

/// Check that `dir` is a directory, or can be created as one: its nearest existing ancestor is
/// a directory.
pub fn check_dir(dir: &Path) -> Result<(), WriteError> {
    for ancestor in dir.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        match std::fs::metadata(ancestor) {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(WriteError::Io {
                    path: dir.to_path_buf(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotADirectory,
                        format!("{} is not a directory", ancestor.display()),
                    ),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(WriteError::Io {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(())
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

    #[test]
    fn a_path_is_checked_writable_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(check_new(&file), Err(WriteError::Exists { .. })));
        check_new(&dir.path().join("new/deeper/receipts.json")).unwrap();
        let under_a_file = check_new(&file.join("receipts.json")).unwrap_err();
        assert!(
            under_a_file.to_string().contains("is not a directory"),
            "{under_a_file}"
        );
        check_dir(dir.path()).unwrap();
        check_dir(&dir.path().join("state")).unwrap();
        assert!(check_dir(&file).is_err());
        assert!(check_dir(&file.join("sessions")).is_err());
    }
}
