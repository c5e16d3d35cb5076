//! Checking a store against receipts (`check-remote`): what is stored now versus what was
//! receipted — missing, extra, changed, retention shortened, hold state, extra versions — with
//! an optional full re-download and re-hash.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::receipt::ReceiptSet;
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

/// Compare the store with a receipt set. `rehash` downloads every object and hashes it.
pub async fn check(
    store: &dyn ImmutableStore,
    receipts: &ReceiptSet,
    rehash: bool,
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
                    "{} versions stored; the receipt names one ({:?})",
                    found.len(),
                    receipt.version_id
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
        let mut changed = Vec::new();
        if current.sha256 != receipt.sha256 {
            changed.push(format!(
                "sha256 receipt {:?} store {:?}",
                receipt.sha256, current.sha256
            ));
        }
        if current.size != receipt.bytes {
            changed.push(format!(
                "bytes receipt {} store {}",
                receipt.bytes, current.size
            ));
        }
        if receipt.version_id.is_some() && current.version_id != receipt.version_id {
            changed.push(format!(
                "version receipt {:?} store {:?}",
                receipt.version_id, current.version_id
            ));
        }
        if receipt.etag.is_some() && current.etag.is_some() && current.etag != receipt.etag {
            changed.push(format!(
                "etag receipt {:?} store {:?}",
                receipt.etag, current.etag
            ));
        }
        if !changed.is_empty() {
            findings.push(Finding {
                kind: FindingKind::Changed,
                key: key.into(),
                detail: changed.join("; "),
            });
        }
        if let Some(receipted) = receipt.retain_until {
            match current.retain_until {
                Some(now) if now.timestamp() >= receipted.timestamp() => {}
                other => findings.push(Finding {
                    kind: FindingKind::RetentionShortened,
                    key: key.into(),
                    detail: format!("receipt retain-until {receipted}, store {other:?}"),
                }),
            }
        }
        if receipt.retention_mode.is_some() && current.retention_mode != receipt.retention_mode {
            findings.push(Finding {
                kind: FindingKind::ModeChanged,
                key: key.into(),
                detail: format!(
                    "receipt {:?}, store {:?}",
                    receipt.retention_mode, current.retention_mode
                ),
            });
        }
        if current.legal_hold != receipt.legal_hold {
            findings.push(Finding {
                kind: FindingKind::HoldChanged,
                key: key.into(),
                detail: format!("receipt legal hold {:?}, store {:?} (a records manager may have changed it: `wormvault hold status` names the cases holding it)", receipt.legal_hold, current.legal_hold),
            });
        }
        if let Some(dir) = &scratch {
            let dest = dir.path().join(format!("object-{rehashed}"));
            let sha = store
                .download(key, receipt.version_id.as_deref(), Path::new(&dest))
                .await?;
            rehashed += 1;
            if Some(&sha) != receipt.sha256.as_ref() {
                findings.push(Finding {
                    kind: FindingKind::RehashMismatch,
                    key: key.into(),
                    detail: format!(
                        "downloaded content hashes to {sha}, receipt says {:?}",
                        receipt.sha256
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
        ok,
        findings,
    })
}
