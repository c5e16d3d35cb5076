//! Size limits for the JSON documents wormvault reads, and the one capped reader every parser of
//! untrusted files goes through: a document over its limit is refused — naming the file and
//! the limit — before its bytes are read into memory, so a 2 GiB `manifest.json` (or one that a
//! 2 MiB `.tar.gz` inflates to) costs a `stat`, not 2 GiB of RAM (house-style: every parser
//! has size limits).
//!
//! The limits are generous for real documents and documented here (the README points here):
//!
//! | document | constant | limit |
//! |---|---|---|
//! | bundle `manifest.json` | [`MAX_MANIFEST_BYTES`] | 16 MiB (~100,000 listed files) |
//! | `retention-policy.json` | [`MAX_RETENTION_POLICY_BYTES`] | 1 MiB |
//! | trust root / trust-root bundle | [`MAX_TRUST_ROOTS_BYTES`] | 4 MiB |
//! | readiness packet | [`MAX_READINESS_PACKET_BYTES`] | 16 MiB |
//! | storage plan | [`MAX_PLAN_BYTES`] | 64 MiB |
//! | receipts | [`MAX_RECEIPTS_BYTES`] | 64 MiB |
//! | key file (PEM public/private key, checkpoint key, HMAC secret) | [`MAX_KEY_FILE_BYTES`] | 64 KiB |
//! | checkpoint, segment anchor, inclusion proof | [`MAX_NOTE_BYTES`] | 1 MiB |
//! | `canonical` input | [`MAX_CANONICAL_INPUT_BYTES`] | 256 MiB |
//!
//! Every document and log read by path must be a regular file ([`open_input`],
//! [`require_regular`]): a FIFO, device, socket or directory is refused before a byte is read,
//! naming the flag or document and what the path is, so `--log /dev/zero` or a FIFO with no
//! writer is an immediate usage error (exit 2), never a hang nor a verdict on half a stream.

use std::io::Read;
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;

/// A bundle's `manifest.json`: ~150 bytes per listed file, so 16 MiB lists ~100,000 files (the
/// archive reader's default entry limit).
pub const MAX_MANIFEST_BYTES: u64 = 16 * MIB;
/// `retention-policy.json`: ten short fields.
pub const MAX_RETENTION_POLICY_BYTES: u64 = MIB;
/// A trust root or trust-root bundle (~1 KiB per root).
pub const MAX_TRUST_ROOTS_BYTES: u64 = 4 * MIB;
/// A `cavra.audit-log.evidence.v1` readiness packet.
pub const MAX_READINESS_PACKET_BYTES: u64 = 16 * MIB;
/// A storage plan (~1 KiB per object, 100,000 objects with room to spare).
pub const MAX_PLAN_BYTES: u64 = 64 * MIB;
/// A receipt set (~1 KiB per object).
pub const MAX_RECEIPTS_BYTES: u64 = 64 * MIB;
/// A key file: a PEM public or private key, or an HMAC secret (real ones are under 1 KiB).
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
/// A signed checkpoint note, a segment anchor or an inclusion proof (a few KiB).
pub const MAX_NOTE_BYTES: u64 = MIB;
/// The JSON document `wormvault canonical FILE` reads.
pub const MAX_CANONICAL_INPUT_BYTES: u64 = 256 * MIB;

/// Why a capped read failed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(
        "{what} {path} is {size} bytes, over the {limit}-byte limit for a {what}; refusing to read it"
    )]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        /// The size found (at least `limit + 1` when the file grew while read).
        size: u64,
        limit: u64,
    },
    #[error("{what} {path} is not UTF-8 text")]
    NotUtf8 { what: &'static str, path: PathBuf },
    /// Not a regular file: a FIFO, socket, device or directory (or, read as a bundle member, a
    /// symlink). Refused without reading, so a FIFO never blocks the reader.
    #[error("{what} {path} is {found}, not a regular file; refusing to read it")]
    NotRegular {
        what: &'static str,
        path: PathBuf,
        found: &'static str,
    },
    #[error("reading {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LimitError {
    /// The underlying I/O error kind, if this is an I/O error (e.g. to tell "missing" apart).
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            LimitError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

/// What a file type is, in words for messages.
pub fn describe_type(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_file() {
        "a regular file"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symlink"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

/// Open `path` for reading only if it is a regular file, never blocking: the open is
/// non-blocking (`O_NONBLOCK`: opening a FIFO with no writer would otherwise wait forever) and
/// the type is checked on the open descriptor (`fstat`), so what is judged is what is read. With
/// `follow_symlinks` false a symlink as the last component is refused too (`O_NOFOLLOW`).
/// `Err(Ok(type))` names a file that is not regular; `Err(Err(e))` is an I/O error.
pub fn open_regular(
    path: &Path,
    follow_symlinks: bool,
) -> Result<std::fs::File, Result<&'static str, std::io::Error>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if !follow_symlinks {
        flags |= libc::O_NOFOLLOW;
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
    {
        Ok(file) => file,
        // O_NOFOLLOW on a symlink fails with ELOOP; say what it is.
        Err(error) if !follow_symlinks && error.raw_os_error() == Some(libc::ELOOP) => {
            return match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => Err(Ok("a symlink")),
                _ => Err(Err(error)),
            };
        }
        Err(error) => return Err(Err(error)),
    };
    let file_type = file.metadata().map_err(Err)?.file_type();
    if !file_type.is_file() {
        return Err(Ok(describe_type(file_type)));
    }
    Ok(file)
}

/// [`open_regular`] (symlinks followed) with the refusal as a [`LimitError`] naming `what` (a
/// flag such as `--log`, or a document such as "handoff package"): for readers that stream a
/// file (audit logs, packages) rather than read it whole.
pub fn open_input(path: &Path, what: &'static str) -> Result<std::fs::File, LimitError> {
    open_checked(path, what, true)
}

/// [`open_regular`] with its refusal or I/O error as a [`LimitError`] naming `what`.
fn open_checked(
    path: &Path,
    what: &'static str,
    follow_symlinks: bool,
) -> Result<std::fs::File, LimitError> {
    open_regular(path, follow_symlinks).map_err(|error| match error {
        Ok(found) => LimitError::NotRegular {
            what,
            path: path.to_path_buf(),
            found,
        },
        Err(source) => LimitError::Io {
            what,
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Read `file` to its end, but never more than `max` bytes: one more is a [`LimitError::TooLarge`]
/// (a file that grew, a pipe or device that does not stop). `capacity` is what to reserve.
fn read_limited(
    file: std::fs::File,
    path: &Path,
    max: u64,
    what: &'static str,
    capacity: usize,
) -> Result<Vec<u8>, LimitError> {
    let mut bytes = Vec::with_capacity(capacity);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| LimitError::Io {
            what,
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(LimitError::TooLarge {
            what,
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit: max,
        });
    }
    Ok(bytes)
}

/// `bytes` as UTF-8 text ready for a JSON parser.
fn utf8(bytes: Vec<u8>, path: &Path, what: &'static str) -> Result<String, LimitError> {
    String::from_utf8(bytes).map_err(|_| LimitError::NotUtf8 {
        what,
        path: path.to_path_buf(),
    })
}

/// Refuse `path` if it exists and is not a regular file, without reading it or blocking on it:
/// for paths a reader outside this module opens afterwards. An I/O error (missing file,
/// permission) is left for that reader to report in its own words.
pub fn require_regular(path: &Path, what: &'static str) -> Result<(), LimitError> {
    match open_input(path, what) {
        Err(error @ LimitError::NotRegular { .. }) => Err(error),
        _ => Ok(()),
    }
}

/// Read a secret key file (an HMAC key, given as `--key-file <(…)` as often as by path): a
/// pipe or FIFO is read, as a secret is better never written to disk, but at most `max` bytes —
/// more is refused, so `/dev/zero` or a runaway writer cannot hang or exhaust memory. A
/// directory is refused. Opening a FIFO waits for its writer, as a shell's `<(…)` has one.
pub fn read_secret_capped(
    path: &Path,
    max: u64,
    what: &'static str,
) -> Result<Vec<u8>, LimitError> {
    let io = |source| LimitError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let file_type = file.metadata().map_err(io)?.file_type();
    if file_type.is_dir() {
        return Err(LimitError::NotRegular {
            what,
            path: path.to_path_buf(),
            found: describe_type(file_type),
        });
    }
    read_limited(file, path, max, what, 0)
}

/// Read at most `max` bytes of `path`; refuse (without reading it) a file whose size is over
/// `max` or that is not a regular file (a FIFO, device, socket or directory: opened without
/// blocking and refused, see [`open_regular`]), and refuse a file that turns out longer while
/// read (a growing file). `what` names the document in messages ("manifest", "storage plan", …).
pub fn read_capped(path: &Path, max: u64, what: &'static str) -> Result<Vec<u8>, LimitError> {
    read_capped_with(path, max, what, true)
}

/// [`read_capped`] for a file inside a bundle: a symlink (as the last component) is refused as
/// well, as every bundle member must be a regular file. The caller checks the other components.
pub fn read_member_capped(
    path: &Path,
    max: u64,
    what: &'static str,
) -> Result<Vec<u8>, LimitError> {
    read_capped_with(path, max, what, false)
}

fn read_capped_with(
    path: &Path,
    max: u64,
    what: &'static str,
    follow_symlinks: bool,
) -> Result<Vec<u8>, LimitError> {
    let file = open_checked(path, what, follow_symlinks)?;
    let len = file
        .metadata()
        .map_err(|source| LimitError::Io {
            what,
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if len > max {
        return Err(LimitError::TooLarge {
            what,
            path: path.to_path_buf(),
            size: len,
            limit: max,
        });
    }
    read_limited(file, path, max, what, len.min(max) as usize)
}

/// [`read_member_capped`], as UTF-8 text ready for a JSON parser.
pub fn read_member_json_capped(
    path: &Path,
    max: u64,
    what: &'static str,
) -> Result<String, LimitError> {
    utf8(read_member_capped(path, max, what)?, path, what)
}

/// [`read_capped`], as UTF-8 text ready for a JSON parser.
pub fn read_json_capped(path: &Path, max: u64, what: &'static str) -> Result<String, LimitError> {
    utf8(read_capped(path, max, what)?, path, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_over_the_limit_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        // A sparse 2 GiB file: refused from its size alone, no memory used.
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(2 << 30).unwrap();
        let error = read_json_capped(&path, MAX_MANIFEST_BYTES, "manifest").unwrap_err();
        assert!(matches!(error, LimitError::TooLarge { size, limit, .. }
            if size == 2 << 30 && limit == MAX_MANIFEST_BYTES));
        let message = error.to_string();
        assert!(
            message.contains("big.json") && message.contains("16777216"),
            "{message}"
        );

        std::fs::write(&path, b"{\"a\": 1}").unwrap();
        assert_eq!(
            read_json_capped(&path, 8, "manifest").unwrap(),
            "{\"a\": 1}"
        );
        assert!(matches!(
            read_json_capped(&path, 7, "manifest"),
            Err(LimitError::TooLarge { .. })
        ));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_json_capped(&path, 8, "manifest"),
            Err(LimitError::NotUtf8 { .. })
        ));
        let missing = read_json_capped(&dir.path().join("none"), 8, "manifest").unwrap_err();
        assert_eq!(missing.io_kind(), Some(std::io::ErrorKind::NotFound));
    }

    /// A secret key file may be a pipe or a device, but never more than `max` bytes is read:
    /// `/dev/zero` is refused as too large instead of read forever.
    #[test]
    fn secret_key_files_are_read_bounded() {
        let error = read_secret_capped(Path::new("/dev/zero"), 16, "key file").unwrap_err();
        assert!(
            matches!(
                error,
                LimitError::TooLarge {
                    size: 17,
                    limit: 16,
                    ..
                }
            ),
            "{error:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, b"secret\n").unwrap();
        assert_eq!(
            read_secret_capped(&path, MAX_KEY_FILE_BYTES, "key file").unwrap(),
            b"secret\n"
        );
        assert!(matches!(
            read_secret_capped(dir.path(), 16, "key file"),
            Err(LimitError::NotRegular {
                found: "a directory",
                ..
            })
        ));
    }

    /// A FIFO (no writer) is refused at once, never waited on; a directory likewise; a symlink
    /// is followed by `read_capped` but refused by `read_member_capped`.
    #[test]
    fn limits_refuse_fifos_directories_and_member_symlinks_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("manifest.json");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let (send, receive) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let plain = read_json_capped(&path, 8, "manifest");
            let member = read_member_json_capped(&path, 8, "manifest");
            send.send((plain, member)).unwrap();
        });
        let (plain, member) = receive
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO must not block");
        for result in [plain, member] {
            assert!(
                matches!(
                    result,
                    Err(LimitError::NotRegular {
                        found: "a FIFO",
                        ..
                    })
                ),
                "{result:?}"
            );
        }
        assert!(matches!(
            read_json_capped(dir.path(), 8, "manifest"),
            Err(LimitError::NotRegular {
                found: "a directory",
                ..
            })
        ));
        let target = dir.path().join("real.json");
        std::fs::write(&target, b"{}").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_json_capped(&link, 8, "manifest").unwrap(), "{}");
        let error = read_member_json_capped(&link, 8, "manifest").unwrap_err();
        assert!(
            matches!(
                error,
                LimitError::NotRegular {
                    found: "a symlink",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("link.json is a symlink, not a regular file")
        );
        assert_eq!(
            read_member_json_capped(&target, 8, "manifest").unwrap(),
            "{}"
        );
    }
}
