//! Recovery: restore an archived session from the store into a fresh directory, checking every
//! object against its receipt, so a drill can show the evidence comes back intact.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::receipt::ReceiptSet;
use crate::store::{ImmutableStore, Key, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct RestoredFile {
    pub path: String,
    pub key: String,
    pub version_id: Option<String>,
    pub sha256: String,
    pub matches_receipt: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    pub target: String,
    pub session_id: String,
    pub destination: PathBuf,
    pub files: Vec<RestoredFile>,
    pub identical: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("recovery destination {0} already exists; recovery writes only into a fresh directory")]
    DestinationExists(PathBuf),
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("receipt path {0:?} is not a safe relative path")]
    UnsafePath(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Download every receipted object (the receipted version) into `destination/<path>`.
pub async fn restore(
    store: &dyn ImmutableStore,
    receipts: &ReceiptSet,
    destination: &Path,
) -> Result<RecoveryReport, RecoveryError> {
    restore_with_progress(store, receipts, destination, None).await
}

/// [`restore`], reporting each object's receipted size to `progress` once it is downloaded.
pub async fn restore_with_progress(
    store: &dyn ImmutableStore,
    receipts: &ReceiptSet,
    destination: &Path,
    progress: Option<&crate::hashing::ProgressHook>,
) -> Result<RecoveryReport, RecoveryError> {
    if destination.exists() {
        return Err(RecoveryError::DestinationExists(destination.to_path_buf()));
    }
    std::fs::create_dir_all(destination).map_err(|source| RecoveryError::Create {
        path: destination.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for receipt in &receipts.receipts {
        if Key::parse(&receipt.path).is_err() {
            return Err(RecoveryError::UnsafePath(receipt.path.clone()));
        }
        let dest = destination.join(&receipt.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|source| RecoveryError::Create {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let sha256 = store
            .download(&receipt.key, receipt.version_id.as_deref(), &dest)
            .await?;
        if let Some(progress) = progress {
            (progress.0)(receipt.bytes);
        }
        files.push(RestoredFile {
            path: receipt.path.clone(),
            key: receipt.key.clone(),
            version_id: receipt.version_id.clone(),
            matches_receipt: receipt.sha256.as_deref() == Some(sha256.as_str()),
            sha256,
        });
    }
    let identical = files.iter().all(|f| f.matches_receipt);
    Ok(RecoveryReport {
        target: receipts.target.clone(),
        session_id: receipts.session_id.clone(),
        destination: destination.to_path_buf(),
        files,
        identical,
    })
}
