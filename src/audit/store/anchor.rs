//! `audit anchor`: store a signed C2SP checkpoint of the stored log at
//! `<prefix>/checkpoints/<size, 20 digits>`, create-only and locked, after the stored log
//! verified. An anchor of a size already stored with the same bytes is success (Ed25519 notes
//! are deterministic, so a rerun produces the same object); different bytes are a refusal.
//!
//! Differs from docs/audit-store.md §2: the rewritable `<prefix>/checkpoint` pointer is not
//! written, because every store here is create-only for wormvault (a locked Azure blob and a
//! `file://` vault object cannot be replaced); readers take the largest `checkpoints/` key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use serde::Serialize;

use super::append::read_back;
use super::verify::{Checkpoints, StoreVerifyReport};
use super::{MAX_CHECKPOINT_BYTES, StoreLogError, WriteOptions, layout};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::{AuditError, VerifyOptions};
use crate::store::{ImmutableStore, PutBytes, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct AnchorOutcome {
    pub log: String,
    pub key: String,
    pub tree_size: u64,
    pub root: String,
    pub checkpoint: String,
    /// The same checkpoint was already stored (a rerun).
    pub already_stored: bool,
}

pub struct AnchorRequest<'a> {
    pub verify: &'a VerifyOptions,
    pub checkpoints: &'a Checkpoints,
    pub origin: &'a str,
    pub key_name: &'a str,
    pub signing_key: &'a SigningKey,
    pub write: &'a WriteOptions,
}

/// Verify the stored log, then store a signed checkpoint of it.
pub async fn anchor(
    store: &dyn ImmutableStore,
    request: &AnchorRequest<'_>,
) -> Result<(AnchorOutcome, StoreVerifyReport), StoreLogError> {
    let target = store.target();
    let report = super::verify::verify(store, request.verify, request.checkpoints, None).await?;
    if !report.valid() {
        return Err(AuditError::LogInvalid {
            path: target.to_string().into(),
            count: report.problem_count(),
            first: report.first_problem().unwrap_or_default(),
            action: "anchor it",
        }
        .into());
    }
    report.chain.require_signatures_checked()?;
    if report.chain.tree_size == 0 {
        return Err(AuditError::Invalid {
            what: target.to_string(),
            problem: "the log has no records; nothing to anchor".into(),
        }
        .into());
    }
    let root: [u8; 32] = BASE64
        .decode(&report.chain.merkle_root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AuditError::Invalid {
            what: target.to_string(),
            problem: "the verifier returned no Merkle root".into(),
        })?;
    let checkpoint = Checkpoint {
        origin: request.origin.to_string(),
        size: report.chain.tree_size,
        root,
    };
    let note = checkpoint
        .sign(request.key_name, request.signing_key)
        .map_err(AuditError::from)?;
    let key = layout::checkpoint_key(target, checkpoint.size);
    let lock = request.write.lock();
    let put = store
        .put_bytes(&PutBytes {
            key: &key,
            bytes: note.as_bytes(),
            lock: lock.clone(),
            metadata: Default::default(),
            content_type: Some("text/plain; charset=utf-8"),
        })
        .await;
    let already_stored = match put {
        Ok(stored) => {
            read_back(
                store,
                target,
                &key,
                note.as_bytes(),
                stored.version_id.as_deref(),
                &lock,
            )
            .await?;
            false
        }
        Err(StoreError::AlreadyExists { .. }) => {
            let existing = store
                .get_bytes(&key, None, MAX_CHECKPOINT_BYTES)
                .await
                .map_err(StoreLogError::store(target))?;
            if existing.is_none_or(|e| e.bytes != note.as_bytes()) {
                return Err(StoreLogError::Corrupt {
                    log: target.to_string(),
                    key,
                    problem: "a different checkpoint of this size is already stored (another origin or key, or a forked log)".into(),
                });
            }
            true
        }
        Err(other) => return Err(StoreLogError::store(target)(other)),
    };
    Ok((
        AnchorOutcome {
            log: target.to_string(),
            key,
            tree_size: checkpoint.size,
            root: report.chain.merkle_root.clone(),
            checkpoint: note,
            already_stored,
        },
        report,
    ))
}
