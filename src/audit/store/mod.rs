//! The audit log kept in WORM storage (issue #17, docs/audit-store.md): one CAVRA JSONL record
//! per object, create-only and locked, under `<prefix>/records/`; signed checkpoints under
//! `<prefix>/checkpoints/`. Many writers share one log with no coordinator: the store's
//! conditional create decides who gets each sequence number ([`append`]).
//!
//! Files by concern: [`layout`] (key names), [`append`] (the claim protocol), [`read`] (listing
//! and bounded-parallel reads in sequence order), [`verify`] (the chain as a file would be
//! verified, plus what only the store shows: extra versions, delete markers, locks, stored
//! checkpoints), [`push`] (move a local log into a store), [`anchor`] (store a signed checkpoint).
//!
//! API for the commands that take `--audit-log` (archive, hold, status, handoff):
//! [`LogLocation::parse`] a `--log`/`--audit-log` value, then [`LogLocation::append`] a record,
//! [`LogLocation::head`] for the newest record, or [`LogLocation::materialize`] for a verified
//! local JSONL copy that the file-based code (prove, checkpoint, export, handoff) reads.

pub mod anchor;
pub mod append;
pub mod handle;
pub mod layout;
pub mod push;
pub mod read;
pub mod verify;

use std::path::{Path, PathBuf};

use chrono::Utc;

pub use handle::LogHandle;

use super::append::Head;
use super::{AuditError, NewRecord, Record, Signer, VerifyOptions};
use crate::store::{ImmutableStore, LockSpec, RetentionMode, StoreError, Target, TargetError};

/// The policy minimum retention (CAVRA's 2555 days, as everywhere else in wormvault).
pub const MIN_RETENTION_DAYS: i64 = 2555;
/// Largest record object read back (a record line is small; a giant object is an attack).
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;
/// Largest record bundle read (256 records).
pub const MAX_BUNDLE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest checkpoint note read.
pub const MAX_CHECKPOINT_BYTES: u64 = 64 * 1024;
/// Tests only: store records under GOVERNANCE instead of COMPLIANCE, so a test can play the
/// attacker with a bypass. Never documented for users; a log written so says so in every
/// read-back (the lock mode is checked and reported).
pub const TEST_MODE_VAR: &str = "WORMVAULT_AUDIT_STORE_TEST_GOVERNANCE";

/// Where a `--log` / `--audit-log` value points: a value with a scheme (`s3://`, `azure://`,
/// `azure+http(s)://`, `file://`) is a log in a store, anything else a local JSONL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLocation {
    File(PathBuf),
    Store(Target),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreLogError {
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The store error is part of the message (not a `source`), so it is printed once.
    #[error("audit log {log}: {error}")]
    Store { log: String, error: Box<StoreError> },
    #[error(
        "audit log {log}: contended — {attempts} attempts to claim the next sequence number each lost to another writer; retry later"
    )]
    Contended { log: String, attempts: u32 },
    #[error("audit log {log}: {key}: {problem}")]
    Corrupt {
        log: String,
        key: String,
        problem: String,
    },
    #[error("audit log {log}: {key} was stored but reading it back failed: {problem}")]
    ReadBack {
        log: String,
        key: String,
        problem: String,
    },
    #[error(
        "audit log {log}: record {sequence} ({key}) is already stored with different bytes than line {line} of {file}; refusing to push a log that differs from the stored one"
    )]
    Differs {
        log: String,
        key: String,
        sequence: u64,
        file: PathBuf,
        line: u64,
    },
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl StoreLogError {
    pub(crate) fn store(target: &Target) -> impl FnOnce(StoreError) -> StoreLogError + '_ {
        move |error| StoreLogError::Store {
            log: target.to_string(),
            error: Box::new(error),
        }
    }

    /// The store refused a create-only write because the key exists (another writer won).
    pub fn is_already_exists(&self) -> bool {
        matches!(self, StoreLogError::Store { error, .. } if matches!(**error, StoreError::AlreadyExists { .. }))
    }

    /// Refusals found in the log's content (exit 1) rather than I/O or configuration (exit 2).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreLogError::Corrupt { .. } | StoreLogError::Differs { .. }
        )
    }
}

/// How records are written.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Put a legal hold on every object written.
    pub legal_hold: bool,
    /// Attempts to claim a sequence number before giving up ("contended").
    pub max_attempts: u32,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            legal_hold: false,
            max_attempts: 64,
        }
    }
}

impl WriteOptions {
    /// The lock of an object written now: COMPLIANCE (a locked Azure policy), retained the
    /// policy minimum from now, legal hold as asked.
    pub fn lock(&self) -> LockSpec {
        let governance = std::env::var_os(TEST_MODE_VAR).is_some_and(|v| v == "1");
        LockSpec {
            mode: if governance {
                RetentionMode::Governance
            } else {
                RetentionMode::Compliance
            },
            retain_until: Utc::now() + chrono::Duration::days(MIN_RETENTION_DAYS),
            legal_hold: self.legal_hold,
        }
    }
}

impl LogLocation {
    /// Parse a `--log` value (see [`LogLocation`]).
    pub fn parse(value: &str) -> Result<LogLocation, TargetError> {
        if value.contains("://") {
            Target::parse(value).map(LogLocation::Store)
        } else {
            Ok(LogLocation::File(PathBuf::from(value)))
        }
    }

    /// [`LogLocation::parse`] of a path-typed argument.
    pub fn from_path(path: &Path) -> Result<LogLocation, TargetError> {
        match path.to_str() {
            Some(text) => LogLocation::parse(text),
            None => Ok(LogLocation::File(path.to_path_buf())),
        }
    }

    /// Append one record; success only once it is stored (and, in a store, locked and read
    /// back).
    pub async fn append(
        &self,
        new: &NewRecord,
        signer: &Signer,
        options: &WriteOptions,
    ) -> Result<Record, StoreLogError> {
        match self {
            LogLocation::File(path) => Ok(super::append(path, new, signer)?),
            LogLocation::Store(target) => {
                let store = open(target).await?;
                append::append(store.as_ref(), new, signer, options).await
            }
        }
    }

    /// The newest record's sequence and hash.
    pub async fn head(&self) -> Result<Head, StoreLogError> {
        match self {
            LogLocation::File(path) => {
                let mut file = std::fs::File::open(path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        AuditError::MissingLog { path: path.clone() }
                    } else {
                        AuditError::io("opening audit log", path)(e)
                    }
                })?;
                Ok(super::append::read_head(&mut file, path)?)
            }
            LogLocation::Store(target) => {
                let store = open(target).await?;
                Ok(append::find_head(store.as_ref()).await?.head)
            }
        }
    }

    /// A local JSONL file holding the log: the file itself, or for a store log a copy written
    /// into `dir` (`audit-log.jsonl`) from the stored records in sequence order, after the stored
    /// log verified under `options` (store findings included — among them a stored checkpoint
    /// larger than the stored records, i.e. a log cut back, found without any key) and, with a
    /// key in `checkpoints`, every stored checkpoint's signature and tree checked against the
    /// records. Refuses an invalid stored log.
    pub async fn materialize(
        &self,
        dir: &Path,
        options: &VerifyOptions,
        checkpoints: &verify::Checkpoints,
    ) -> Result<PathBuf, StoreLogError> {
        match self {
            LogLocation::File(path) => Ok(path.clone()),
            LogLocation::Store(target) => {
                let store = open(target).await?;
                let path = dir.join("audit-log.jsonl");
                let report =
                    verify::verify(store.as_ref(), options, checkpoints, Some(&path)).await?;
                if !report.valid() {
                    return Err(StoreLogError::Audit(AuditError::LogInvalid {
                        path: PathBuf::from(target.to_string()),
                        count: report.problem_count(),
                        first: report.first_problem().unwrap_or_default(),
                        action: "use it",
                    }));
                }
                Ok(path)
            }
        }
    }

    /// The name to show for this log.
    pub fn name(&self) -> String {
        match self {
            LogLocation::File(path) => path.display().to_string(),
            LogLocation::Store(target) => target.to_string(),
        }
    }
}

/// Open the store of a log.
pub async fn open(target: &Target) -> Result<Box<dyn ImmutableStore>, StoreLogError> {
    crate::store::open(target)
        .await
        .map_err(StoreLogError::store(target))
}
