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

/// Read at most `max` bytes of `path`; refuse (without reading it) a file whose size is over
/// `max`, and refuse a file that turns out longer while read (a FIFO, a growing file). `what`
/// names the document in messages ("manifest", "storage plan", …).
pub fn read_capped(path: &Path, max: u64, what: &'static str) -> Result<Vec<u8>, LimitError> {
    let io = |source| LimitError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    if metadata.is_file() && metadata.len() > max {
        return Err(LimitError::TooLarge {
            what,
            path: path.to_path_buf(),
            size: metadata.len(),
            limit: max,
        });
    }
    let mut bytes = Vec::with_capacity(metadata.len().min(max) as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
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

/// [`read_capped`], as UTF-8 text ready for a JSON parser.
pub fn read_json_capped(path: &Path, max: u64, what: &'static str) -> Result<String, LimitError> {
    String::from_utf8(read_capped(path, max, what)?).map_err(|_| LimitError::NotUtf8 {
        what,
        path: path.to_path_buf(),
    })
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
}
