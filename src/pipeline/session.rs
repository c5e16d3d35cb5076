//! The session record: where an archived session's artifacts are, so `wormvault handoff
//! --session` can find them later.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{ArchiveOutcome, WriteError, write_new};

/// A session record could not be written or found.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("rendering the session record: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "no archived session {session_id:?} in {} ({source}); run `wormvault archive` first, pass --state-dir, or build the package from the store with `handoff --from TARGET`",
        state_dir.display()
    )]
    NotFound {
        session_id: String,
        state_dir: PathBuf,
        source: std::io::Error,
    },
    #[error("no session records under {}", dir.display())]
    Empty { dir: PathBuf },
    #[error("session record {} is corrupt: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Where an archived session's local artifacts are, so `handoff --session` can find them.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SessionRecord {
    pub schema_version: String,
    pub session_id: String,
    pub bundle_digest: String,
    pub target: String,
    pub archived_at: String,
    pub bundle: PathBuf,
    pub trust_root: Option<PathBuf>,
    pub plan: PathBuf,
    pub receipts: PathBuf,
    pub audit_log: Option<PathBuf>,
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_key: Option<PathBuf>,
}

pub const SESSION_SCHEMA: &str = "wormvault.session.v1";

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Record an archived session under `state_dir/sessions/<session>/<digest prefix>-<time>/`.
pub fn record_session(
    state_dir: &Path,
    outcome: &ArchiveOutcome,
    bundle: &Path,
    trust_root: Option<&Path>,
    audit_log: Option<&Path>,
    checkpoint_public_pem: Option<&str>,
) -> Result<PathBuf, SessionError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let dir = state_dir
        .join("sessions")
        .join(&outcome.plan.session_id)
        .join(format!(
            "{}-{stamp}",
            &outcome.plan.bundle_digest[..16.min(outcome.plan.bundle_digest.len())]
        ));
    let plan_path = dir.join("plan.json");
    let mut plan_text = serde_json::to_string_pretty(&outcome.plan)?;
    plan_text.push('\n');
    write_new(&plan_path, plan_text.as_bytes())?;
    let checkpoint_key = match checkpoint_public_pem {
        Some(pem) => {
            let path = dir.join("checkpoint-key.pem");
            write_new(&path, pem.as_bytes())?;
            Some(absolute(&path))
        }
        None => None,
    };
    let record = SessionRecord {
        schema_version: SESSION_SCHEMA.into(),
        session_id: outcome.plan.session_id.clone(),
        bundle_digest: outcome.plan.bundle_digest.clone(),
        target: outcome.plan.target.clone(),
        archived_at: chrono::Utc::now().to_rfc3339(),
        bundle: absolute(bundle),
        trust_root: trust_root.map(absolute),
        plan: absolute(&plan_path),
        receipts: absolute(&outcome.receipts_path),
        // A log in a store keeps its URL; a local file is made absolute.
        audit_log: audit_log.map(|log| {
            if log.to_string_lossy().contains("://") {
                log.to_path_buf()
            } else {
                absolute(log)
            }
        }),
        checkpoint: outcome.checkpoint.as_ref().map(|c| absolute(&c.path)),
        checkpoint_key,
    };
    let path = dir.join("session.json");
    write_new(&path, serde_json::to_string_pretty(&record)?.as_bytes())?;
    Ok(path)
}

/// The most recent record of a session in `state_dir`.
pub fn find_session(state_dir: &Path, session_id: &str) -> Result<SessionRecord, SessionError> {
    let dir = state_dir.join("sessions").join(session_id);
    let mut newest: Option<SessionRecord> = None;
    let entries = std::fs::read_dir(&dir).map_err(|source| SessionError::NotFound {
        session_id: session_id.to_string(),
        state_dir: state_dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path().join("session.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let record: SessionRecord =
            serde_json::from_str(&text).map_err(|source| SessionError::Corrupt {
                path: path.clone(),
                source,
            })?;
        if newest
            .as_ref()
            .is_none_or(|n| record.archived_at > n.archived_at)
        {
            newest = Some(record);
        }
    }
    newest.ok_or(SessionError::Empty { dir })
}
