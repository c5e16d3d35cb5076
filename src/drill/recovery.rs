//! The recovery drill: restore an archived session from the store into a fresh directory
//! ([`crate::recovery::restore`] checks each object against its receipt), then verify the
//! restored directory as a bundle (files and signature, [`crate::bundle::verify`]) and check
//! that its digest is the `bundle_digest` the receipts were written for. Identical and valid →
//! the drill passes.

use std::path::Path;

use serde::Serialize;

use super::{DrillError, FileIdentity, identify};
use crate::bundle::{self, Finding};
use crate::receipt::ReceiptSet;
use crate::recovery::{self, RecoveryError, RestoredFile};
use crate::store::{ImmutableStore, StoreError};

pub const RECOVERY_SCHEMA: &str = "wormvault.drill.recovery.v1";

#[derive(Debug, Clone)]
pub struct RecoveryDrillOptions {
    /// How to verify the restored bundle (key material, retention minimum).
    pub bundle: bundle::VerifyOptions,
    /// Told each restored object's receipted size as it arrives (a progress bar).
    pub progress: Option<crate::hashing::ProgressHook>,
}

/// The restored bundle's verification, as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredBundle {
    pub valid: bool,
    pub findings: Vec<Finding>,
    pub signature_algorithm: Option<String>,
    pub signature_key_id: Option<String>,
    pub signature_verified: bool,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReceiptsSignature {
    pub verified: bool,
    /// The key id that verified, or why it did not.
    pub detail: String,
}

/// The drill evidence (`wormvault.drill.recovery.v1`).
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryDrill {
    pub schema_version: &'static str,
    pub product: &'static str,
    pub tool_version: &'static str,
    pub started_at: String,
    pub finished_at: String,
    pub target: String,
    pub session_id: String,
    pub session_prefix: String,
    /// The receipts file as read (its SHA-256) and the receipt set's canonical digest.
    pub receipts: FileIdentity,
    pub receipts_digest: String,
    /// The receipts' own signature, checked against the trust roots when both are present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipts_signature: Option<ReceiptsSignature>,
    pub destination: String,
    /// Every receipted object as downloaded, with the hash it had and whether it matches.
    pub files: Vec<RestoredFile>,
    /// Set when the restore stopped (e.g. an object is missing from the store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
    /// Every downloaded object hashes to its receipt.
    pub identical: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<RestoredBundle>,
    pub expected_bundle_digest: String,
    pub bundle_digest_matches: bool,
    pub passed: bool,
    /// Why the drill failed, one line per problem (empty when it passed).
    pub problems: Vec<String>,
}

/// Restore `receipts`' session from `store` into `destination` (which must not exist) and check
/// it. Store errors other than a missing object stop the drill (exit 2); everything that shows
/// the evidence did not come back intact is a failed verdict.
pub async fn recovery(
    store: &dyn ImmutableStore,
    receipts: &ReceiptSet,
    receipts_path: &Path,
    destination: &Path,
    options: &RecoveryDrillOptions,
) -> Result<RecoveryDrill, DrillError> {
    let started_at = super::now();
    let receipts_file = identify(receipts_path, &receipts_path.display().to_string())?;
    let mut problems = Vec::new();
    // Receipts are the reference the restore is judged against; a signed set is checked first.
    let receipts_signature = match (&receipts.signature, &options.bundle.trust) {
        (Some(_), Some(trust)) => Some(match receipts.verify_signature(trust) {
            Ok(key) => ReceiptsSignature {
                verified: true,
                detail: format!("signed by {}", key.key_id),
            },
            Err(why) => {
                problems.push(format!("receipts signature does not verify: {why}"));
                ReceiptsSignature {
                    verified: false,
                    detail: why,
                }
            }
        }),
        _ => None,
    };
    let (files, restore_error) = match recovery::restore_with_progress(
        store,
        receipts,
        destination,
        options.progress.as_ref(),
    )
    .await
    {
        Ok(report) => (report.files, None),
        Err(RecoveryError::Store(StoreError::NotFound { key, target })) => {
            let message = format!("object {key} is receipted but not found in {target}");
            (Vec::new(), Some(message))
        }
        Err(RecoveryError::UnsafePath(path)) => (
            Vec::new(),
            Some(format!(
                "receipt path {path:?} is not a safe relative path; refusing to restore it"
            )),
        ),
        Err(other) => return Err(other.into()),
    };
    if let Some(error) = &restore_error {
        problems.push(format!("restore failed: {error}"));
    }
    for file in files.iter().filter(|f| !f.matches_receipt) {
        let expected = receipts
            .receipts
            .iter()
            .find(|r| r.key == file.key)
            .and_then(|r| r.sha256.clone())
            .unwrap_or_else(|| "nothing".into());
        problems.push(format!(
            "{} (object {}) restored with SHA-256 {}; the receipt says {expected}",
            file.path, file.key, file.sha256
        ));
    }
    let identical = restore_error.is_none()
        && files.len() == receipts.receipts.len()
        && files.iter().all(|f| f.matches_receipt);

    let mut bundle_digest_matches = false;
    let restored_bundle = if restore_error.is_none() {
        let report = bundle::verify(destination, &options.bundle)?;
        for finding in &report.findings {
            problems.push(format!(
                "restored bundle: [{}] {}",
                finding.kind, finding.message
            ));
        }
        bundle_digest_matches = report.digest.as_deref() == Some(receipts.bundle_digest.as_str());
        if !bundle_digest_matches {
            problems.push(format!(
                "restored bundle digest {} differs from the receipts' bundle_digest {}",
                report.digest.as_deref().unwrap_or("(no readable manifest)"),
                receipts.bundle_digest
            ));
        }
        Some(RestoredBundle {
            valid: report.valid,
            findings: report.findings.clone(),
            signature_algorithm: report.signature.as_ref().map(|s| s.algorithm.clone()),
            signature_key_id: report.signature.as_ref().and_then(|s| s.key_id.clone()),
            signature_verified: report.signature.as_ref().is_some_and(|s| s.verified),
            digest: report.digest.clone(),
        })
    } else {
        None
    };
    let passed = receipts_signature.as_ref().is_none_or(|s| s.verified)
        && identical
        && restored_bundle.as_ref().is_some_and(|b| b.valid)
        && bundle_digest_matches;
    Ok(RecoveryDrill {
        schema_version: RECOVERY_SCHEMA,
        product: "wormvault",
        tool_version: env!("CARGO_PKG_VERSION"),
        started_at,
        finished_at: super::now(),
        target: store.target().to_string(),
        session_id: receipts.session_id.clone(),
        session_prefix: receipts.session_prefix.clone(),
        receipts: receipts_file,
        receipts_digest: receipts.digest(),
        receipts_signature,
        destination: destination.display().to_string(),
        files,
        restore_error,
        identical,
        bundle: restored_bundle,
        expected_bundle_digest: receipts.bundle_digest.clone(),
        bundle_digest_matches,
        passed,
        problems,
    })
}
