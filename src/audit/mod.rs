//! The audit log: CAVRA-compatible hash-chained JSONL records (cavra-compat.md §2), appended
//! under a file lock, verified in parallel, anchored by C2SP signed checkpoints over an RFC 6962
//! Merkle tree, pruned into archive segments, exported to SIEMs, and alerted on failure.
//!
//! Files by concern: [`record`] (fields, canonical bytes, signatures), [`append`], [`verify`],
//! [`merkle`] (RFC 6962 trees and proofs), [`checkpoint`] (signed notes, inclusion proofs,
//! segment anchors), [`prove`] (checkpoint and prove a log), [`prune`], [`export`], [`alert`].

pub mod alert;
pub mod append;
pub mod checkpoint;
pub mod export;
pub mod leaves;
pub mod merkle;
pub mod prove;
pub mod prune;
pub mod record;
pub mod store;
pub mod tiles;
pub mod verify;

use std::path::PathBuf;

pub use append::append;
pub use checkpoint::{Checkpoint, CheckpointKey, InclusionProof, SegmentAnchor};
pub use record::{NewRecord, Record, SignatureCheck, Signer};
// The fast path moved under `verify` (its only user); the old path is kept.
pub use verify::fast;
pub use verify::{
    MerkleWork, VerifyOptions, VerifyReport, verify, verify_readers, verify_segments,
};

/// Everything that can go wrong in the audit module (verification *findings* are not errors:
/// they are in [`VerifyReport`]).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "audit log {path} does not exist; pass the path of an existing log (append creates one)"
    )]
    MissingLog { path: PathBuf },
    #[error(
        "audit log {}: it is {found}, not a regular file; refusing to read it (copy the log to a file first)",
        path.display()
    )]
    NotRegular { path: PathBuf, found: &'static str },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the last line of {path} (byte offset {offset}) has no trailing newline: an earlier append was interrupted. Refusing to extend a torn log; run `wormvault audit verify` and repair the log from its archive or checkpoint"
    )]
    TornTail { path: PathBuf, offset: u64 },
    #[error(
        "the last record of {path} (byte offset {offset}) is unusable: {problem}. Refusing to append; run `wormvault audit verify`"
    )]
    CorruptTail {
        path: PathBuf,
        offset: u64,
        problem: String,
    },
    #[error("{path} line {line}: {problem}")]
    BadLine {
        path: PathBuf,
        line: u64,
        problem: String,
    },
    #[error("{what}: {problem}")]
    Invalid { what: String, problem: String },
    /// A KMS signer failed; nothing was written.
    #[error("signing the record: {0}")]
    Sign(#[from] crate::trust::SignError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("Merkle proof: {0}")]
    Merkle(#[from] merkle::MerkleError),
    #[error("{path} does not extend the checkpoint: {detail}")]
    NotExtending { path: PathBuf, detail: String },
    #[error(
        "{path}: {unchecked} record signature(s) could not be checked ({}); a chain rewritten under another key would pass every other check, so it is not accepted. Give the log's key (`audit` commands: --key-file/--key-env for HS256, --trust-root or --public-key for Ed25519)",
        if *key_given { "redacted records carry no redaction_signature" } else { "no key was given" }
    )]
    SignaturesUnchecked {
        path: PathBuf,
        unchecked: u64,
        key_given: bool,
    },
    /// A log kept in a store failed (I/O, contention, a finding in the stored log).
    #[error(transparent)]
    StoredLog(Box<store::StoreLogError>),
    #[error("{path} does not verify ({count} problem(s), first: {first}); refusing to {action}")]
    LogInvalid {
        path: PathBuf,
        count: usize,
        first: String,
        action: &'static str,
    },
}

impl AuditError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> AuditError {
        let path = path.into();
        move |source| AuditError::Io {
            action,
            path,
            source,
        }
    }
}
