//! Checking a store against receipts (`check-remote`): what is stored now versus what was
//! receipted — missing, extra, changed, retention shortened, hold state, extra versions — with
//! an optional full re-download and re-hash.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::receipt::{Receipt, ReceiptSet};
use crate::store::compare::{self, Field};
use crate::store::{ImmutableStore, StoreError, StoredObject};

/// Keys under the session prefix that wormvault itself writes beside the evidence.
pub const SIDECAR_DIR: &str = "_wormvault";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Missing,
    Extra,
    Changed,
    RetentionShortened,
    ModeChanged,
    HoldChanged,
    ExtraVersion,
    RehashMismatch,
    /// A local-vault object whose file is writable again (its read-only SnapLock commit was
    /// undone, e.g. `chmod 644`): the content still matches, but it is no longer locked.
    Writable,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub key: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemoteReport {
    pub target: String,
    pub session_prefix: String,
    pub objects_checked: usize,
    pub rehashed: usize,
    /// Objects whose digest was compared only as their writer recorded it (Azure metadata, S3
    /// metadata beside a composite checksum), not re-hashed: the store computes no digest of
    /// their bytes, so for them the check covers the lock and the recorded digest, not the bytes.
    pub digests_recorded_only: usize,
    pub ok: bool,
    pub findings: Vec<Finding>,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create a scratch directory for re-hashing: {0}")]
    Scratch(std::io::Error),
}

/// The rule for a receipt checked against the store later: a lock may have been extended, never
/// shortened or weakened; the legal hold is compared exactly (a change is reported, as
/// information); the lock is read whatever the enforcement, since the receipt states what was
/// stored then.
const RECEIPTED: compare::Rules = compare::Rules {
    retain_until: compare::RetainRule::AtLeast,
    legal_hold: compare::HoldRule::Exactly,
    lock: compare::LockRule::Always,
    hex: compare::HexCase::Exact,
    require_confirmed: false,
};

/// Findings for one receipted object whose current version the store reported. Fields the
/// receipt does not state (no version id, mode or retain-until; an etag either side lacks) are not
/// compared; a digest or hold state the receipt lacks while the store reports one is a change.
fn compare_with_receipt(receipt: &Receipt, current: &StoredObject) -> Vec<Finding> {
    let expected = compare::Expected {
        sha256: receipt.sha256.as_deref(),
        bytes: Some(receipt.bytes),
        version_id: receipt.version_id.as_deref(),
        etag: receipt.etag.as_deref().filter(|_| current.etag.is_some()),
        lock: Some(compare::ExpectedLock {
            mode: receipt.retention_mode,
            retain_until: receipt.retain_until,
            legal_hold: receipt.legal_hold,
        }),
        ..compare::Expected::default()
    };
    let mut differences = compare::differences(&receipt.key, &expected, current, RECEIPTED);
    let unstated = |field, found: Option<String>| compare::Mismatch {
        key: receipt.key.clone(),
        field,
        expected: "nothing".into(),
        found: found.unwrap_or_default(),
    };
    if receipt.sha256.is_none() && current.sha256.is_some() {
        differences.push(unstated(Field::Sha256, current.sha256.clone()));
    }
    if receipt.legal_hold.is_none() && current.legal_hold.is_some() {
        differences.push(unstated(
            Field::LegalHold,
            current.legal_hold.map(|h| h.to_string()),
        ));
    }
    let key = || receipt.key.clone();
    let mut findings = Vec::new();
    let changed: Vec<String> = differences
        .iter()
        .filter(|m| {
            matches!(
                m.field,
                Field::Sha256 | Field::Bytes | Field::VersionId | Field::Etag
            )
        })
        .map(|m| {
            let name = if m.field == Field::VersionId {
                "version".to_string()
            } else {
                m.field.to_string()
            };
            format!("{name} receipt {} store {}", m.expected, m.found)
        })
        .collect();
    if !changed.is_empty() {
        findings.push(Finding {
            kind: FindingKind::Changed,
            key: key(),
            detail: changed.join("; "),
        });
    }
    // In the order findings have always come: retention, mode, hold.
    let lock = [Field::RetainUntil, Field::RetentionMode, Field::LegalHold]
        .into_iter()
        .flat_map(|field| differences.iter().filter(move |m| m.field == field));
    for m in lock {
        let (kind, detail) = match m.field {
            Field::RetainUntil => (
                FindingKind::RetentionShortened,
                format!("receipt retain-until {}, store {}", m.expected, m.found),
            ),
            Field::RetentionMode => (
                FindingKind::ModeChanged,
                format!("receipt {}, store {}", m.expected, m.found),
            ),
            Field::LegalHold => (
                FindingKind::HoldChanged,
                format!(
                    "receipt legal hold {}, store {} (a records manager may have changed it: `wormvault hold status` names the cases holding it)",
                    m.expected, m.found
                ),
            ),
            _ => continue,
        };
        findings.push(Finding {
            kind,
            key: key(),
            detail,
        });
    }
    findings
}

/// Compare the store with a receipt set. `rehash` downloads every object and hashes it.
pub async fn check(
    store: &dyn ImmutableStore,
    receipts: &ReceiptSet,
    rehash: bool,
) -> Result<RemoteReport, RemoteError> {
    check_with_progress(store, receipts, rehash, None).await
}

/// [`check`], reporting each re-hashed object's receipted size to `progress` once it is
/// downloaded and hashed (a progress bar's total is the receipts' bytes).
pub async fn check_with_progress(
    store: &dyn ImmutableStore,
    receipts: &ReceiptSet,
    rehash: bool,
    progress: Option<&crate::hashing::ProgressHook>,
) -> Result<RemoteReport, RemoteError> {
    let mut findings = Vec::new();
    let listing = store.list(&format!("{}/", receipts.session_prefix)).await?;
    let mut versions: BTreeMap<&str, Vec<&StoredObject>> = BTreeMap::new();
    for object in &listing {
        versions
            .entry(object.key.as_str())
            .or_default()
            .push(object);
    }
    let sidecar = format!("{}/{SIDECAR_DIR}/", receipts.session_prefix);
    for key in versions.keys() {
        if !key.starts_with(&sidecar) && !receipts.receipts.iter().any(|r| r.key == *key) {
            findings.push(Finding {
                kind: FindingKind::Extra,
                key: key.to_string(),
                detail: "stored but not in the receipts".into(),
            });
        }
    }
    let scratch = if rehash {
        Some(tempfile::tempdir().map_err(RemoteError::Scratch)?)
    } else {
        None
    };
    let mut rehashed = 0;
    let mut digests_recorded_only = 0;
    for receipt in &receipts.receipts {
        let key = receipt.key.as_str();
        let Some(found) = versions.get(key) else {
            findings.push(Finding {
                kind: FindingKind::Missing,
                key: key.into(),
                detail: "receipted but not stored".into(),
            });
            continue;
        };
        if found.len() > 1 {
            findings.push(Finding {
                kind: FindingKind::ExtraVersion,
                key: key.into(),
                detail: format!(
                    "{} versions stored; the receipt names one ({})",
                    found.len(),
                    receipt.version_id.as_deref().unwrap_or("no version id")
                ),
            });
        }
        let Some(current) = store.head(key).await? else {
            findings.push(Finding {
                kind: FindingKind::Missing,
                key: key.into(),
                detail: "listed but HEAD finds no current version".into(),
            });
            continue;
        };
        findings.extend(compare_with_receipt(receipt, &current));
        if scratch.is_none() && current.sha256_source == crate::store::DigestSource::Claimed {
            digests_recorded_only += 1;
        }
        if let Some(dir) = &scratch {
            let dest = dir.path().join(format!("object-{rehashed}"));
            let sha = store
                .download(key, receipt.version_id.as_deref(), Path::new(&dest))
                .await?;
            rehashed += 1;
            if let Some(progress) = progress {
                (progress.0)(receipt.bytes);
            }
            if Some(&sha) != receipt.sha256.as_ref() {
                findings.push(Finding {
                    kind: FindingKind::RehashMismatch,
                    key: key.into(),
                    detail: format!(
                        "downloaded content hashes to {sha}, receipt says {}",
                        receipt.sha256.as_deref().unwrap_or("no sha256")
                    ),
                });
            }
            let _ = std::fs::remove_file(&dest);
        }
    }
    // A local vault's lock is the file's read-only mode (SnapLock convention): read it back
    // from the filesystem for every stored object, evidence and sidecars alike.
    if let crate::store::Target::Local { .. } = store.target() {
        let vault = crate::store::local::LocalVault::open(store.target().clone())?;
        for key in versions.keys() {
            if let Some(state) = vault.lock_state(key)?
                && state.writable
            {
                findings.push(Finding {
                    kind: FindingKind::Writable,
                    key: key.to_string(),
                    detail: format!(
                        "the file {} is writable (mode {:o}); a vault object must be read-only — its WORM commit was undone, so it can be changed in place",
                        vault.root().join(key).display(),
                        state.mode
                    ),
                });
            }
        }
    }
    // A hold change alone is information, not tampering.
    let ok = findings.iter().all(|f| f.kind == FindingKind::HoldChanged);
    Ok(RemoteReport {
        target: receipts.target.clone(),
        session_prefix: receipts.session_prefix.clone(),
        objects_checked: receipts.receipts.len(),
        rehashed,
        digests_recorded_only,
        ok,
        findings,
    })
}
