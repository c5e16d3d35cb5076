//! Keys, key ids, trust roots and signature checks: Ed25519 key pairs in CAVRA's PEM forms,
//! trust roots with status and validity windows, HMAC-SHA256, and loading secrets from files
//! or environment variables (cavra-compat.md §4 and §7).
//!
//! The rest of the crate (bundles, audit logs) calls [`TrustStore::verify_ed25519`] and the
//! [`hmac`] helpers; nothing outside this module touches key bytes.

pub mod hmac;
pub mod keys;
pub mod kms;
pub mod roots;
pub mod secret;

pub use keys::{
    KeyPair, PublicKey, default_key_id, fingerprint, load_private_key, load_public_key,
    write_private_key,
};
pub use kms::{Ed25519Sign, KmsKey, KmsSettings, SignError, SigningKeySource};
pub use roots::{
    RootStatus, TRUST_ROOT_BUNDLE_SCHEMA, TRUST_ROOT_SCHEMA, TrustRoot, TrustRootBundle,
    TrustStore, VerifiedKey,
};
pub use secret::{Secret, SecretSource};

use std::path::PathBuf;

/// Everything that can go wrong with keys, trust roots and signatures. Each variant names the
/// key id or file involved; verification failures carry what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} already exists; refusing to overwrite a key file (move it away or pick another --output-dir)"
    )]
    AlreadyExists { path: PathBuf },
    #[error(
        "private key {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}` and retry"
    )]
    PrivateKeyPermissions { path: PathBuf, mode: u32 },
    #[error("{what} is not a valid {expected}: {reason}")]
    InvalidKey {
        what: String,
        expected: &'static str,
        reason: String,
    },
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("{what} is not a valid trust root file: {reason}")]
    InvalidTrustRoot { what: String, reason: String },
    #[error("key id {key_id:?} appears more than once; trust-root key ids must be unique")]
    DuplicateKeyId { key_id: String },
    #[error(
        "no trust root has key id {key_id:?}; add it to the trust bundle or pass the right --key-id"
    )]
    UnknownKeyId { key_id: String },
    #[error(
        "trust root {key_id:?} has public key fingerprint {expected}, but the signature names {found}"
    )]
    FingerprintMismatch {
        key_id: String,
        expected: String,
        found: String,
    },
    #[error(
        "trust root {key_id:?} claims fingerprint {claimed} but its public_key_pem hashes to {actual}; the trust file is corrupt"
    )]
    RootFingerprintInvalid {
        key_id: String,
        claimed: String,
        actual: String,
    },
    #[error("trust root {key_id:?} is revoked{also}; nothing it signed is accepted")]
    Revoked {
        key_id: String,
        /// Empty, or how the key is revoked under another key id: revocation is by key
        /// (fingerprint), not by key id (issue #15 item 7).
        also: String,
    },
    #[error(
        "trust root {key_id:?} is retired and the signature time {signed_at} is outside its validity window [{valid_from}, {valid_until}]"
    )]
    RetiredOutsideWindow {
        key_id: String,
        signed_at: String,
        valid_from: String,
        valid_until: String,
    },
    #[error("trust root {key_id:?} expired at {valid_until}; the signature is dated {signed_at}")]
    Expired {
        key_id: String,
        signed_at: String,
        valid_until: String,
    },
    #[error(
        "trust root {key_id:?} is valid only from {valid_from}; the signature is dated {signed_at}"
    )]
    NotYetValid {
        key_id: String,
        signed_at: String,
        valid_from: String,
    },
    #[error("trust root {key_id:?}: {field} {value:?} is not an ISO 8601 timestamp with an offset")]
    BadTimestamp {
        key_id: String,
        field: &'static str,
        value: String,
    },
    #[error("trust root {key_id:?} uses algorithm {algorithm:?}; only Ed25519 is supported")]
    UnsupportedAlgorithm { key_id: String, algorithm: String },
    #[error("signature by {key_id:?} is not valid base64 of a 64-byte Ed25519 signature: {reason}")]
    MalformedSignature { key_id: String, reason: String },
    #[error(
        "signature by {key_id:?} does not verify: the signed bytes or the signature were changed, or another key signed them"
    )]
    BadSignature { key_id: String },
    #[error("secret {what}: {reason}")]
    Secret { what: String, reason: String },
    #[error("{0}")]
    Kms(#[from] SignError),
}

impl TrustError {
    /// A stable machine-readable name for the failure, used as a finding kind by verifiers.
    pub fn kind(&self) -> &'static str {
        match self {
            TrustError::Io { .. } => "io",
            TrustError::AlreadyExists { .. } => "already_exists",
            TrustError::PrivateKeyPermissions { .. } => "private_key_permissions",
            TrustError::InvalidKey { .. } => "invalid_key",
            TrustError::Random(_) => "random",
            TrustError::InvalidTrustRoot { .. } => "invalid_trust_root",
            TrustError::DuplicateKeyId { .. } => "duplicate_key_id",
            TrustError::UnknownKeyId { .. } => "unknown_key_id",
            TrustError::FingerprintMismatch { .. } => "fingerprint_mismatch",
            TrustError::RootFingerprintInvalid { .. } => "root_fingerprint_invalid",
            TrustError::Revoked { .. } => "root_revoked",
            TrustError::RetiredOutsideWindow { .. } => "root_retired_outside_window",
            TrustError::Expired { .. } => "root_expired",
            TrustError::NotYetValid { .. } => "root_not_yet_valid",
            TrustError::BadTimestamp { .. } => "bad_timestamp",
            TrustError::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            TrustError::MalformedSignature { .. } => "signature_malformed",
            TrustError::BadSignature { .. } => "signature_invalid",
            TrustError::Secret { .. } => "secret",
            TrustError::Kms(_) => "kms",
        }
    }
}

/// Parse a CAVRA timestamp (ISO 8601 / RFC 3339 with an explicit offset, e.g.
/// `2026-11-22T05:51:34.123456+00:00`).
pub fn parse_timestamp(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Format a timestamp as CAVRA (Python `datetime.isoformat()` on an aware UTC time) writes it:
/// microseconds and `+00:00`.
pub fn format_timestamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}
