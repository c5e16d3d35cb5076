//! Drills: evidence that tamper detection and recovery work, as readiness packets reference
//! them (`operating_evidence.tamper_drill_ref` / `recovery_drill_ref`, cavra-compat.md §3).
//!
//! [`tamper`] copies a bundle and an audit log, tampers with the copies in every way the
//! verifiers know, runs the real verifiers and checks each tamper is caught and localised;
//! [`recovery`] restores an archived session from the store into a fresh directory and verifies
//! it is the archived bundle. Both write drill evidence JSON and never modify their inputs.

pub mod recovery;
pub mod tamper;

use std::path::{Path, PathBuf};

pub use recovery::{RecoveryDrill, RecoveryDrillOptions, recovery};
pub use tamper::{TamperDrill, TamperOptions, tamper};

/// Everything that stops a drill before it has a verdict (exit 2). A tamper that is not caught,
/// or a restore that differs, is a verdict in the evidence (exit 1), not an error.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a bundle directory; the tamper drill copies and edits a bundle directory (unpack a .tar.gz first)"
    )]
    NotABundleDirectory { path: PathBuf },
    #[error(
        "audit log {path} has {records} record(s); the tamper drill needs at least 3 so that a middle record can be tampered with"
    )]
    LogTooShort { path: PathBuf, records: u64 },
    #[error(
        "{path} line {line}: {problem}; the drill needs a readable log to tamper with (run `wormvault audit verify`)"
    )]
    UnreadableLog {
        path: PathBuf,
        line: u64,
        problem: String,
    },
    #[error("{path}: {problem}")]
    UnreadableBundle { path: PathBuf, problem: String },
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Recovery(#[from] crate::recovery::RecoveryError),
}

impl DrillError {
    pub(crate) fn io(
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(std::io::Error) -> DrillError {
        let path = path.to_path_buf();
        move |source| DrillError::Io {
            action,
            path,
            source,
        }
    }
}

/// A file's identity in drill evidence: where it was and what it hashed to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileIdentity {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

pub(crate) fn identify(path: &Path, relative: &str) -> Result<FileIdentity, DrillError> {
    let digest =
        crate::hashing::sha256_file(path, &|_| {}).map_err(DrillError::io("hashing", path))?;
    Ok(FileIdentity {
        path: relative.to_string(),
        sha256: digest.sha256,
        bytes: digest.bytes,
    })
}

/// RFC 3339 UTC timestamp with microseconds, as the other evidence files write it.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
