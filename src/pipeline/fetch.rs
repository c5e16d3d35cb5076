//! `handoff --from TARGET --session ID`: everything a handoff package needs, fetched from the
//! store alone (issue #14 item 4) — for a machine that never ran the archive, such as an
//! ephemeral CI runner whose `.wormvault/` is gone.
//!
//! The newest portable session record (`<prefix>/<session>/<digest>/_wormvault/session-*.json`,
//! see [`super::record`]) names the sidecars. Each is downloaded to a temp dir and checked
//! against the hash its name carries; the bundle directory is rebuilt from the evidence objects,
//! each checked against the plan's SHA-256 *and* the receipts'. Nothing is trusted for being in
//! the store: the package is then built by `handoff::create` and verified by the auditor
//! against roots they pin.

use std::path::{Path, PathBuf};

use crate::handoff::HandoffInputs;
use crate::remote::SIDECAR_DIR;
use crate::store::{ImmutableStore, Key, StoreError};

use super::plan::StoragePlan;
use super::receipt::ReceiptSet;
use super::record::{STORED_SESSION_SCHEMA, StoredSession};

/// Largest sidecar document read into memory (plans and receipts of very large bundles stay far
/// below this; anything bigger is not a document wormvault wrote).
const MAX_SIDECAR_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "no session record for session {session_id:?} under {target} ({SIDECAR_DIR}/session-*.json); was it archived there by a wormvault that stores them?"
    )]
    NoSession { target: String, session_id: String },
    #[error(
        "session {session_id} was archived without {what}; a handoff package needs it (archive with --audit-log and --checkpoint-key, and --trust-root)"
    )]
    Missing {
        session_id: String,
        what: &'static str,
    },
    #[error("{key}: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("{key} in the store has SHA-256 {found}, but {what} says {expected}")]
    Digest {
        key: String,
        what: String,
        expected: String,
        found: String,
    },
    #[error("writing {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FetchError {
    /// A store whose contents disagree with their own records is a verification failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, FetchError::Corrupt { .. } | FetchError::Digest { .. })
    }
}

async fn download(
    store: &dyn ImmutableStore,
    key: &str,
    dest: &Path,
) -> Result<(String, Vec<u8>), FetchError> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|source| FetchError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let sha256 = store.download(key, None, dest).await?;
    let size = std::fs::metadata(dest)
        .map_err(|source| FetchError::Io {
            path: dest.to_path_buf(),
            source,
        })?
        .len();
    if size > MAX_SIDECAR_BYTES {
        return Err(FetchError::Corrupt {
            key: key.to_string(),
            detail: format!("{size} bytes; a sidecar is at most {MAX_SIDECAR_BYTES}"),
        });
    }
    let bytes = std::fs::read(dest).map_err(|source| FetchError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    Ok((sha256, bytes))
}

/// The hash prefix a sidecar's name carries (`receipts-<16 hex>.json` → `<16 hex>`).
fn name_hash(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?;
    let stem = name.rsplit_once('.')?.0;
    let hash = stem.rsplit_once('-')?.1;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

fn check_name(key: &str, sha256: &str, what: &str) -> Result<(), FetchError> {
    match name_hash(key) {
        Some(hash) if sha256.starts_with(hash) => Ok(()),
        Some(hash) => Err(FetchError::Digest {
            key: key.to_string(),
            what: format!("its name ({what})"),
            expected: format!("{hash}…"),
            found: sha256.to_string(),
        }),
        None => Err(FetchError::Corrupt {
            key: key.to_string(),
            detail: format!("not a {what} sidecar name wormvault writes"),
        }),
    }
}

/// Every sidecar key must sit under the session's own sidecar folder.
fn own_sidecar(session: &StoredSession, key: &str) -> Result<(), FetchError> {
    let folder = format!("{}/{SIDECAR_DIR}/", session.session_prefix);
    if key.starts_with(&folder) && !key[folder.len()..].contains('/') {
        Ok(())
    } else {
        Err(FetchError::Corrupt {
            key: key.to_string(),
            detail: format!("named by the session record but not under {folder}"),
        })
    }
}

/// Fetch session `session_id` from `store` into `dir` (which must be empty) and return the
/// inputs of `handoff::create`. `trust_roots` overrides the stored roots.
pub async fn fetch_session(
    store: &dyn ImmutableStore,
    session_id: &str,
    dir: &Path,
    trust_roots: Option<PathBuf>,
    minimum_retention_days: u32,
) -> Result<HandoffInputs, FetchError> {
    let target = store.target().clone();
    let prefix = target.key(session_id);
    let listed = store.list(&format!("{prefix}/")).await?;
    let mut records: Vec<&str> = listed
        .iter()
        .filter(|o| o.is_latest)
        .map(|o| o.key.as_str())
        .filter(|key| {
            key.rsplit_once('/').is_some_and(|(folder, name)| {
                folder.ends_with(&format!("/{SIDECAR_DIR}"))
                    && name.starts_with("session-")
                    && name.ends_with(".json")
            })
        })
        .collect();
    records.sort();
    records.dedup();
    let mut newest: Option<StoredSession> = None;
    for (i, key) in records.iter().enumerate() {
        let (_, bytes) = download(store, key, &dir.join(format!("session-{i}.json"))).await?;
        let record: StoredSession =
            serde_json::from_slice(&bytes).map_err(|e| FetchError::Corrupt {
                key: key.to_string(),
                detail: format!("not a session record: {e}"),
            })?;
        if record.schema_version != STORED_SESSION_SCHEMA || record.session_id != session_id {
            return Err(FetchError::Corrupt {
                key: key.to_string(),
                detail: format!(
                    "schema {:?}, session {:?}; expected {STORED_SESSION_SCHEMA}, {session_id:?}",
                    record.schema_version, record.session_id
                ),
            });
        }
        own_sidecar(&record, key)?;
        if newest
            .as_ref()
            .is_none_or(|n| record.archived_at > n.archived_at)
        {
            newest = Some(record);
        }
    }
    let session = newest.ok_or_else(|| FetchError::NoSession {
        target: target.to_string(),
        session_id: session_id.to_string(),
    })?;
    let missing = |what| FetchError::Missing {
        session_id: session_id.to_string(),
        what,
    };

    // The plan and the receipts, each checked against the hash its name carries.
    own_sidecar(&session, &session.plan)?;
    let plan_path = dir.join("plan.json");
    download(store, &session.plan, &plan_path).await?;
    let plan = StoragePlan::load(&plan_path).map_err(|e| FetchError::Corrupt {
        key: session.plan.clone(),
        detail: e.to_string(),
    })?;
    check_name(&session.plan, &plan.digest(), "plan digest")?;
    own_sidecar(&session, &session.receipts)?;
    let receipts_path = dir.join("receipts.json");
    let (_, receipts_bytes) = download(store, &session.receipts, &receipts_path).await?;
    let receipts: ReceiptSet =
        serde_json::from_slice(&receipts_bytes).map_err(|e| FetchError::Corrupt {
            key: session.receipts.clone(),
            detail: format!("not a receipts document: {e}"),
        })?;
    // The name carries the digest the `evidence.archived` event names (`ReceiptSet::digest`).
    check_name(&session.receipts, &receipts.digest(), "receipts digest")?;
    for (what, found, expected) in [
        ("session id", &plan.session_id, &session.session_id),
        ("bundle digest", &plan.bundle_digest, &session.bundle_digest),
        (
            "session prefix",
            &plan.session_prefix,
            &session.session_prefix,
        ),
        (
            "receipts' session id",
            &receipts.session_id,
            &session.session_id,
        ),
        (
            "receipts' bundle digest",
            &receipts.bundle_digest,
            &session.bundle_digest,
        ),
    ] {
        if found != expected {
            return Err(FetchError::Corrupt {
                key: session.plan.clone(),
                detail: format!("{what} is {found}, the session record says {expected}"),
            });
        }
    }

    // The bundle, rebuilt from the evidence objects: each must have the plan's SHA-256 and the
    // receipts' (what the store reported at archive time).
    let bundle = dir.join("bundle");
    for object in &plan.objects {
        if Key::parse(&object.path).is_err() {
            return Err(FetchError::Corrupt {
                key: session.plan.clone(),
                detail: format!("object path {:?} is not a safe relative path", object.path),
            });
        }
        let receipt = receipts
            .receipts
            .iter()
            .find(|r| r.key == object.key)
            .ok_or_else(|| FetchError::Corrupt {
                key: session.receipts.clone(),
                detail: format!("no receipt for planned object {}", object.key),
            })?;
        let dest = bundle.join(&object.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|source| FetchError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let sha256 = store
            .download(&object.key, receipt.version_id.as_deref(), &dest)
            .await?;
        for (what, expected) in [
            ("the plan", Some(object.sha256.as_str())),
            ("its receipt", receipt.sha256.as_deref()),
        ] {
            if expected != Some(sha256.as_str()) {
                return Err(FetchError::Digest {
                    key: object.key.clone(),
                    what: what.into(),
                    expected: expected.unwrap_or("nothing").to_string(),
                    found: sha256,
                });
            }
        }
    }

    // Trust roots (as given at archive time, unless the caller brings their own), the audit
    // segment, the checkpoint and its key.
    let trust_roots = match trust_roots {
        Some(path) => path,
        None => {
            let key = session
                .trust_roots
                .as_ref()
                .ok_or_else(|| missing("--trust-root"))?;
            own_sidecar(&session, key)?;
            let path = dir.join("trust-roots.json");
            let (sha, _) = download(store, key, &path).await?;
            check_name(key, &sha, "trust roots SHA-256")?;
            path
        }
    };
    let fetch = async |key: &Option<String>, name: &str, what| {
        let key = key.as_ref().ok_or_else(|| missing(what))?;
        own_sidecar(&session, key)?;
        let path = dir.join(name);
        download(store, key, &path).await?;
        Ok::<_, FetchError>(path)
    };
    let audit_log = fetch(&session.audit_segment, "audit-segment.jsonl", "--audit-log").await?;
    let checkpoint = fetch(&session.checkpoint, "checkpoint.txt", "--checkpoint-key").await?;
    let checkpoint_key = fetch(
        &session.checkpoint_key,
        "checkpoint-key.pem",
        "--checkpoint-key",
    )
    .await?;
    Ok(HandoffInputs {
        bundle,
        trust_roots,
        plan: plan_path,
        receipts: receipts_path,
        audit_log,
        checkpoint,
        checkpoint_key,
        minimum_retention_days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_names_carry_their_hash() {
        assert_eq!(
            name_hash("p/s/d/_wormvault/receipts-0123456789abcdef.json"),
            Some("0123456789abcdef")
        );
        assert_eq!(name_hash("p/_wormvault/audit-segment-12.jsonl"), None);
        assert!(
            check_name(
                "x/receipts-0123456789abcdef.json",
                "0123456789abcdef99",
                "r"
            )
            .is_ok()
        );
        assert!(matches!(
            check_name(
                "x/receipts-0123456789abcdef.json",
                "ff23456789abcdef99",
                "r"
            ),
            Err(FetchError::Digest { .. })
        ));
    }
}
