//! The operations that read a log to commit to it: sign a checkpoint of a verified log's head
//! ([`create`]) and prove one record's inclusion in the log or in a signed checkpoint of it
//! ([`prove`]). The formats they produce — checkpoints, signed notes, inclusion proofs — and
//! their offline checks are in [`super::checkpoint`], which reads no log.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::AuditError;
use super::checkpoint::{Checkpoint, CheckpointKey, InclusionProof};
use super::merkle::{self, Hash};
use super::record::Record;
use super::verify::VerifyOptions;

/// Verify the log at `log` (refusing if it does not verify) and sign a checkpoint of its head.
/// Returns the checkpoint and its signed note text.
pub fn create(
    log: &Path,
    options: &VerifyOptions,
    origin: &str,
    key_name: &str,
    key: &dyn crate::trust::Ed25519Sign,
) -> Result<(Checkpoint, String), AuditError> {
    let report = super::verify::verify(log, options)?;
    // A signed checkpoint vouches for the records' authorship too: never sign over records whose
    // signatures no given key checked (a chain rewritten and re-hashed would pass the rest).
    report.require_signable(log, "checkpoint it")?;
    let root: Hash = BASE64
        .decode(report.merkle_root.as_deref().unwrap_or_default())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AuditError::Invalid {
            what: "Merkle root".into(),
            problem: "not 32 bytes".into(),
        })?;
    let checkpoint = Checkpoint {
        origin: origin.to_string(),
        size: report.tree_size,
        root,
    };
    let note = checkpoint.sign(key_name, key)?;
    Ok((checkpoint, note))
}

/// An inclusion proof for the record with `sequence`, against the whole log or, when given, a
/// signed checkpoint (whose signature is checked, and which the log must extend). The log must
/// start at sequence 1 (a pruned suffix cannot prove leaves it no longer holds).
pub fn prove(
    log: &Path,
    sequence: u64,
    against: Option<(&str, &CheckpointKey)>,
) -> Result<InclusionProof, AuditError> {
    let (mut leaves, kept) =
        super::leaves::read(log, &|record: &Record| record.sequence() == Some(sequence))?;
    let record = kept
        .into_iter()
        .next()
        .map(|(_, record)| record)
        .ok_or_else(|| AuditError::Invalid {
            what: log.display().to_string(),
            problem: format!("no record with sequence {sequence}"),
        })?;
    let mut note_text = None;
    if let Some((note, key)) = against {
        let checkpoint = Checkpoint::open(note, key)?;
        if checkpoint.size > leaves.len() as u64 {
            return Err(AuditError::NotExtending {
                path: log.to_path_buf(),
                detail: format!(
                    "the checkpoint commits to {} records but the log has {}: it was truncated",
                    checkpoint.size,
                    leaves.len()
                ),
            });
        }
        leaves.truncate(checkpoint.size as usize);
        if merkle::root(&leaves) != checkpoint.root {
            return Err(AuditError::NotExtending {
                path: log.to_path_buf(),
                detail: format!(
                    "the first {} records do not match the checkpoint: the log was rewritten",
                    checkpoint.size
                ),
            });
        }
        note_text = Some(note.to_string());
    }
    if sequence == 0 || sequence > leaves.len() as u64 {
        return Err(AuditError::Invalid {
            what: log.display().to_string(),
            problem: format!(
                "sequence {sequence} is outside the proved tree of {} records",
                leaves.len()
            ),
        });
    }
    Ok(InclusionProof::new(
        &record,
        sequence - 1,
        &leaves,
        note_text,
    )?)
}
