//! Stages 4–8 and what the auditor needs later: preflight and upload ([`super::upload`]), the
//! receipts (written locally create-only, signed if asked, stored locked beside the evidence),
//! the `evidence.archived` audit event carrying the receipts' hash, the anchor (a signed
//! checkpoint of the log), and the sidecars `wormvault handoff --from` builds a package from.
//!
//! Every sidecar goes under `<session_prefix>/_wormvault/` with the plan's lock, create-only (an
//! identical existing copy is accepted, any other content refused):
//!
//! | key | what |
//! |---|---|
//! | `receipts-<sha16>.json` | the receipts, as written locally |
//! | `audit-checkpoint-<N>.txt` | the signed checkpoint of the first N records (the anchor) |
//! | `audit-segment-<N>.jsonl` | those N records, byte for byte |
//! | `checkpoint-key-<fp16>.pem` | the checkpoint's public key (SPKI PEM) |
//! | `trust-roots-<sha16>.json` | the trust roots the archive was verified against, as given |
//! | `plan-<sha16>.json` | the executed plan |
//! | `session-<sha16>.json` | the portable session record naming all of the above by key |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::audit::{self, NewRecord};
use crate::remote::SIDECAR_DIR;
use crate::store::{self, ImmutableStore, LockSpec, PutObject, StoreError, WriteGate};
use crate::trust::TrustStore;

use super::plan::StoragePlan;
use super::receipt::ReceiptSet;
use super::upload::{self, Observer, UploadOptions};
use super::{
    ArchiveError, ArchiveOutcome, ExecuteRequest, Stage, StageError, stage_event, write_new,
};

/// The schema of the session record stored beside the evidence.
pub const STORED_SESSION_SCHEMA: &str = "wormvault.stored-session.v1";

/// The portable session record: no local paths, only keys in the store (relative to nothing:
/// full keys, as `list` returns them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredSession {
    pub schema_version: String,
    pub session_id: String,
    pub bundle_digest: String,
    pub target: String,
    pub session_prefix: String,
    pub archived_at: String,
    pub plan: String,
    pub receipts: String,
    pub trust_roots: Option<String>,
    pub audit_segment: Option<String>,
    pub checkpoint: Option<String>,
    pub checkpoint_key: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AnchorOutcome {
    pub path: PathBuf,
    pub key: String,
    pub tree_size: u64,
    pub root: String,
}

/// The key of a sidecar object wormvault writes beside the evidence.
pub fn sidecar_key(plan: &StoragePlan, name: &str) -> String {
    format!("{}/{SIDECAR_DIR}/{name}", plan.session_prefix)
}

/// Upload a small local file beside the evidence with the plan's retention lock (and the legal
/// hold when `legal_hold`), create-only; an identical existing copy is accepted. Returns the key.
async fn put_sidecar(
    store: &dyn ImmutableStore,
    plan: &StoragePlan,
    name: &str,
    local: &Path,
    stage: Stage,
    legal_hold: bool,
) -> Result<String, ArchiveError> {
    let fail = |e: StageError| ArchiveError::new(stage, e);
    let digest = crate::hashing::sha256_file(local, &|_| {}).map_err(|source| {
        fail(StageError::Hash {
            path: local.to_path_buf(),
            source,
        })
    })?;
    let key = sidecar_key(plan, name);
    let mut tags = BTreeMap::new();
    tags.insert("wormvault-session".to_string(), plan.session_id.clone());
    tags.insert(
        "wormvault-bundle-digest".to_string(),
        plan.bundle_digest.clone(),
    );
    let content_type = if name.ends_with(".json") {
        "application/json"
    } else {
        "text/plain"
    };
    let object = PutObject {
        key: key.clone(),
        source: local,
        size: digest.bytes,
        sha256: digest.sha256.clone(),
        lock: LockSpec {
            mode: plan.retention.mode,
            retain_until: plan.retention.retain_until,
            legal_hold,
        },
        tags,
        metadata: BTreeMap::from([("sha256".to_string(), digest.sha256.clone())]),
        content_type: Some(content_type.into()),
    };
    let stored = match store.put(&object, &|_| {}).await {
        Ok(stored) => stored,
        Err(StoreError::AlreadyExists { .. }) => store
            .head(&key)
            .await
            .map_err(|e| fail(e.into()))?
            .ok_or_else(|| {
                fail(
                    StoreError::NotFound {
                        target: store.target().to_string(),
                        key: key.clone(),
                    }
                    .into(),
                )
            })?,
        Err(e) => return Err(fail(e.into())),
    };
    // A sidecar already there whose digest the store only records (a rerun, or someone who
    // created the key first) is proven by its bytes before it is taken for this one.
    let found = crate::store::proven_sha256(store, &stored, Some(local))
        .await
        .map_err(|e| fail(e.into()))?;
    if found.as_deref() != Some(digest.sha256.as_str()) {
        return Err(fail(StageError::SidecarDiffers {
            key,
            expected: digest.sha256,
            found: found.unwrap_or_else(|| "nothing".into()),
        }));
    }
    Ok(key)
}

/// [`put_sidecar`] for bytes made here (staged in a temp file: stores upload from files).
async fn put_sidecar_bytes(
    store: &dyn ImmutableStore,
    plan: &StoragePlan,
    name: &str,
    bytes: &[u8],
    stage: Stage,
) -> Result<String, ArchiveError> {
    let io = |source| {
        ArchiveError::new(
            stage,
            super::WriteError::Io {
                path: PathBuf::from(name),
                source,
            },
        )
    };
    let mut temp = tempfile::NamedTempFile::new().map_err(io)?;
    std::io::Write::write_all(&mut temp, bytes).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    put_sidecar(store, plan, name, temp.path(), stage, false).await
}

fn short(sha256: &str) -> &str {
    &sha256[..16.min(sha256.len())]
}

/// The first `size` records of the log, byte for byte (the segment a checkpoint of `size` covers).
fn log_prefix(log: &Path, size: u64) -> Result<Vec<u8>, std::io::Error> {
    use std::io::BufRead;
    let mut out = Vec::new();
    let mut reader = std::io::BufReader::new(std::fs::File::open(log)?);
    let mut line = Vec::new();
    let mut count = 0;
    while count < size {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        out.extend_from_slice(&line);
        count += 1;
    }
    Ok(out)
}

/// Stages 4–8 for a checked plan; `bundle_dir` is where the verified files are, `bundle` what
/// the user named (for the local session record).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute(
    plan: &StoragePlan,
    bundle_dir: &Path,
    bundle: &Path,
    store: &dyn ImmutableStore,
    request: ExecuteRequest,
    gate: Option<WriteGate>,
    trust: Option<&TrustStore>,
    warnings: Vec<String>,
    observer: Arc<dyn Observer>,
) -> Result<ArchiveOutcome, ArchiveError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let receipts_out = request
        .receipts_out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("receipts-{}-{stamp}.json", plan.session_id)));
    // Refuse before writing: the receipts file must be new, and so must the checkpoint's local
    // copy; both, and the session records' directory, must be writable where they are to go.
    crate::fs::check_new(&receipts_out).map_err(|e| ArchiveError::new(Stage::Receipts, e))?;
    if let Some(anchor) = request.audit.as_ref().and_then(|a| a.anchor.as_ref()) {
        let output = anchor
            .output
            .clone()
            .unwrap_or_else(|| receipts_out.with_extension("checkpoint.txt"));
        crate::fs::check_new(&output).map_err(|e| ArchiveError::new(Stage::Anchor, e))?;
    }
    if let Some(session) = &request.session {
        crate::fs::check_dir(&session.state_dir)
            .map_err(|e| ArchiveError::new(Stage::Session, e))?;
    }
    // An archive-time hold is registered in the audit log (hold::registry): refuse before
    // writing when there is no log, or it is unsigned, or it does not verify with its key.
    // What verifies the registry's records (the log's signer), for the hold's anchor below too.
    let mut hold_signatures = None;
    if plan.retention.legal_hold_case.is_some() {
        let settings = request.audit.as_ref().ok_or_else(|| {
            ArchiveError::new(Stage::Preflight, crate::hold::RegistryError::NoAuditLog)
        })?;
        let signatures =
            crate::hold::registry::signature_check_for(&settings.signer).ok_or_else(|| {
                ArchiveError::new(
                    Stage::Preflight,
                    crate::hold::RegistryError::Unverifiable {
                        path: settings.log.path().to_path_buf(),
                    },
                )
            })?;
        crate::hold::registry::check_before_archive_hold(settings.log.path(), &signatures)
            .map_err(|e| ArchiveError::new(Stage::Preflight, e))?;
        // The hold is anchored by a hold checkpoint as `hold set` anchors one: the log must
        // verify against the newest hold checkpoint already in the target (a log cut back is
        // refused here, not anchored over after the upload).
        if let Some(anchor) = &settings.anchor {
            crate::hold::check_log_against_anchors(
                store,
                settings.log.path(),
                &signatures,
                crate::hold::DEFAULT_ORIGIN,
                &anchor.key.public().verifying_key(),
            )
            .await
            .map_err(|e| ArchiveError::new(Stage::Preflight, hold_stage_error(e, settings)))?;
        }
        hold_signatures = Some(signatures);
    }
    stage_event(
        observer.as_ref(),
        Stage::Preflight,
        "started",
        plan.target.clone(),
    );
    let options = UploadOptions {
        concurrency: request
            .concurrency
            .unwrap_or_else(|| store::default_concurrency(store.target()))
            .max(1),
        preflight: request.preflight.clone(),
        gate,
    };
    let upload = upload::execute(plan, bundle_dir, store, &options, observer.clone())
        .await
        .map_err(|e| {
            let stage = match e {
                upload::UploadError::Preflight { .. } => Stage::Preflight,
                upload::UploadError::ReadBack { .. } => Stage::Receipts,
                _ => Stage::Upload,
            };
            ArchiveError::new(stage, e)
        })?;
    stage_event(
        observer.as_ref(),
        Stage::Upload,
        "passed",
        format!(
            "{} uploaded, {} already present, all read back",
            upload.uploaded, upload.already_present
        ),
    );

    // Receipts: signed if asked, written locally (create-only), then stored locked beside the
    // evidence and read back.
    let mut receipts: ReceiptSet = upload.receipts.clone();
    if let Some((key, key_id)) = &request.receipt_key {
        receipts
            .sign(key, key_id)
            .map_err(|e| ArchiveError::new(Stage::Receipts, audit::AuditError::from(e)))?;
    }
    let receipts_sha256 = receipts.digest();
    write_new(&receipts_out, receipts.to_json().as_bytes())
        .map_err(|e| ArchiveError::new(Stage::Receipts, e))?;
    let receipts_key = put_sidecar(
        store,
        plan,
        &format!("receipts-{}.json", short(&receipts_sha256)),
        &receipts_out,
        Stage::Receipts,
        plan.retention.legal_hold,
    )
    .await?;
    stage_event(
        observer.as_ref(),
        Stage::Receipts,
        "passed",
        format!("{} (sha256 {receipts_sha256})", receipts_out.display()),
    );
    let mut upload = upload;
    upload.receipts = receipts;

    let mut audit_record = None;
    let mut checkpoint = None;
    let mut segment_key = None;
    let mut checkpoint_pem_key = None;
    if let Some(settings) = &request.audit {
        let mut metadata = serde_json::Map::new();
        metadata.insert("receipts_sha256".into(), receipts_sha256.clone().into());
        metadata.insert("plan_sha256".into(), plan.digest().into());
        metadata.insert("bundle_digest".into(), plan.bundle_digest.clone().into());
        metadata.insert("objects".into(), plan.objects.len().into());
        metadata.insert(
            "enforcement".into(),
            upload.receipts.enforcement.to_string().into(),
        );
        metadata.insert(
            "retain_until".into(),
            plan.retention.retain_until.to_rfc3339().into(),
        );
        metadata.insert("receipts_key".into(), receipts_key.clone().into());
        let record = NewRecord {
            event_type: "evidence.archived".into(),
            actor: settings.actor.clone(),
            action: "archive".into(),
            target: format!("{}#{}", plan.target, plan.session_prefix),
            decision: "archived".into(),
            tenant_id: settings.tenant_id.clone(),
            workspace_id: settings.workspace_id.clone(),
            evidence_refs: vec![
                format!("bundle:sha256:{}", plan.bundle_digest),
                format!("receipts:sha256:{receipts_sha256}"),
            ],
            metadata,
            created_at: None,
        };
        let written = settings
            .log
            .append(&record, &settings.signer)
            .map_err(|e| ArchiveError::new(Stage::AuditEvent, e))?;
        stage_event(
            observer.as_ref(),
            Stage::AuditEvent,
            "passed",
            format!(
                "record {} in {}",
                written.sequence().unwrap_or(0),
                settings.log.name()
            ),
        );
        audit_record = Some(serde_json::Value::Object(written.fields));

        // Holds placed at upload are registered for their case before the anchor, so the
        // checkpoint covers them: one `legal_hold.set` decision naming every object version
        // held so far (evidence and receipts, read back) and its `legal_hold.applied` outcome.
        // The sidecars written after this point (checkpoint, segment, plan, session record) are
        // stored retention-locked without the hold: a hold the registry does not name would be
        // a disagreement, and naming them would need a record after the checkpoint.
        if let Some(case) = &plan.retention.legal_hold_case {
            let fail = |e: StageError| ArchiveError::new(Stage::AuditEvent, e);
            let mut objects: Vec<crate::hold::VersionRef> = upload
                .receipts
                .receipts
                .iter()
                .map(|r| crate::hold::VersionRef {
                    key: r.key.clone(),
                    version_id: r.version_id.clone(),
                })
                .collect();
            let stored = store
                .head(&receipts_key)
                .await
                .map_err(|e| fail(e.into()))?;
            objects.push(crate::hold::VersionRef {
                version_id: stored.and_then(|s| s.version_id),
                key: receipts_key.clone(),
            });
            crate::hold::registry::record_archive_hold(
                &settings.log,
                &settings.signer,
                &settings.actor,
                case,
                "placed at archive (--legal-hold)",
                &plan.target.to_string(),
                &format!("{}/", plan.session_prefix),
                &objects,
            )
            .map_err(|e| fail(e.into()))?;
            // Anchored at once under the hold checkpoints `hold` commands check (the archive's
            // own checkpoint below is a session sidecar they do not read): a log cut back past
            // these records is then refused by every hold command.
            if let (Some(anchor), Some(signatures)) = (&settings.anchor, &hold_signatures) {
                let fail = |e: crate::hold::HoldError| {
                    ArchiveError::new(Stage::Anchor, hold_stage_error(e, settings))
                };
                let hold_anchor = crate::hold::store_checkpoint(
                    store,
                    settings.log.path(),
                    signatures,
                    crate::hold::DEFAULT_ORIGIN,
                    &anchor.key,
                    crate::hold::anchor_retain_until(std::iter::once(plan.retention.retain_until)),
                )
                .await
                .map_err(fail)?;
                stage_event(
                    observer.as_ref(),
                    Stage::Anchor,
                    "passed",
                    format!(
                        "hold checkpoint of {} records stored at {}",
                        hold_anchor.tree_size, hold_anchor.key
                    ),
                );
            }
        }

        if let Some(anchor) = &settings.anchor {
            let fail = |e: StageError| ArchiveError::new(Stage::Anchor, e);
            // The same checks as before upload (chain and every signature under the event's
            // key): what is anchored is what was vouched for, plus the event.
            let signatures = super::verify::log_check(settings.log.path(), &settings.signer, trust)
                .map_err(|e| fail(e.into()))?;
            let verified = audit::verify(
                settings.log.path(),
                &audit::VerifyOptions {
                    signatures,
                    ..Default::default()
                },
            )
            .map_err(|e| fail(e.into()))?;
            if !verified.valid {
                return Err(fail(StageError::LogInvalid {
                    log: PathBuf::from(settings.log.name()),
                    errors: verified.errors,
                }));
            }
            // Default options build the tree; a missing root fails base64_root (BadRoot).
            let root_text = verified.merkle_root.clone().unwrap_or_default();
            let root = base64_root(&root_text).map_err(fail)?;
            let head = audit::Checkpoint {
                origin: anchor.origin.clone(),
                size: verified.tree_size,
                root,
            };
            let note = head
                .sign(&anchor.origin, &anchor.key)
                .map_err(|e| fail(e.into()))?;
            let output = anchor
                .output
                .clone()
                .unwrap_or_else(|| receipts_out.with_extension("checkpoint.txt"));
            write_new(&output, note.as_bytes()).map_err(|e| fail(e.into()))?;
            let key = put_sidecar(
                store,
                plan,
                &format!("audit-checkpoint-{}.txt", verified.tree_size),
                &output,
                Stage::Anchor,
                false,
            )
            .await?;
            // The records the checkpoint covers, and its public key: `handoff --from` needs both.
            let segment =
                log_prefix(settings.log.path(), verified.tree_size).map_err(|source| {
                    fail(StageError::Hash {
                        path: PathBuf::from(settings.log.name()),
                        source,
                    })
                })?;
            segment_key = Some(
                put_sidecar_bytes(
                    store,
                    plan,
                    &format!("audit-segment-{}.jsonl", verified.tree_size),
                    &segment,
                    Stage::Anchor,
                )
                .await?,
            );
            let public = anchor.key.public();
            checkpoint_pem_key = Some(
                put_sidecar_bytes(
                    store,
                    plan,
                    &format!("checkpoint-key-{}.pem", short(&public.fingerprint())),
                    public.spki_pem().as_bytes(),
                    Stage::Anchor,
                )
                .await?,
            );
            stage_event(
                observer.as_ref(),
                Stage::Anchor,
                "passed",
                format!(
                    "checkpoint of {} records stored at {key}",
                    verified.tree_size
                ),
            );
            checkpoint = Some(AnchorOutcome {
                path: output,
                key,
                tree_size: verified.tree_size,
                root: root_text,
            });
        }
    }

    // The rest of what `handoff --from` needs: the plan, the trust roots as given, and the
    // portable session record naming every sidecar.
    let mut sidecars = Vec::new();
    let plan_text = pretty("plan", plan).map_err(|e| ArchiveError::new(Stage::Session, e))?;
    let plan_key = put_sidecar_bytes(
        store,
        plan,
        &format!("plan-{}.json", short(&plan.digest())),
        plan_text.as_bytes(),
        Stage::Session,
    )
    .await?;
    sidecars.push(plan_key.clone());
    let trust_key = match &request.trust_roots_file {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| {
                ArchiveError::new(
                    Stage::Session,
                    StageError::Hash {
                        path: path.clone(),
                        source,
                    },
                )
            })?;
            let key = put_sidecar_bytes(
                store,
                plan,
                &format!(
                    "trust-roots-{}.json",
                    short(&crate::hashing::sha256_hex(&bytes))
                ),
                &bytes,
                Stage::Session,
            )
            .await?;
            sidecars.push(key.clone());
            Some(key)
        }
        None => None,
    };
    sidecars.extend(segment_key.iter().cloned());
    sidecars.extend(checkpoint_pem_key.iter().cloned());
    let stored = StoredSession {
        schema_version: STORED_SESSION_SCHEMA.into(),
        session_id: plan.session_id.clone(),
        bundle_digest: plan.bundle_digest.clone(),
        target: plan.target.clone(),
        session_prefix: plan.session_prefix.clone(),
        archived_at: chrono::Utc::now().to_rfc3339(),
        plan: plan_key,
        receipts: receipts_key.clone(),
        trust_roots: trust_key,
        audit_segment: segment_key,
        checkpoint: checkpoint.as_ref().map(|c| c.key.clone()),
        checkpoint_key: checkpoint_pem_key,
    };
    let session_text =
        pretty("session record", &stored).map_err(|e| ArchiveError::new(Stage::Session, e))?;
    sidecars.push(
        put_sidecar_bytes(
            store,
            plan,
            &format!("session-{}.json", short(&receipts_sha256)),
            session_text.as_bytes(),
            Stage::Session,
        )
        .await?,
    );

    let mut outcome = ArchiveOutcome {
        plan: plan.clone(),
        upload,
        receipts_path: receipts_out,
        receipts_key,
        receipts_sha256,
        audit_record,
        checkpoint,
        sidecars,
        session_record: None,
        warnings,
    };
    if let Some(session) = &request.session {
        let checkpoint_pem = request
            .audit
            .as_ref()
            .and_then(|a| a.anchor.as_ref())
            .map(|a| a.key.public().spki_pem());
        let path = super::session::record_session(
            &session.state_dir,
            &outcome,
            bundle,
            request.trust_roots_file.as_deref(),
            request
                .audit
                .as_ref()
                .map(|a| PathBuf::from(a.log.name()))
                .as_deref(),
            checkpoint_pem.as_deref(),
        )
        .map_err(|e| ArchiveError::new(Stage::Session, e))?;
        stage_event(
            observer.as_ref(),
            Stage::Session,
            "passed",
            format!("session recorded in {}", path.display()),
        );
        outcome.session_record = Some(path);
    }
    Ok(outcome)
}

/// Pretty JSON with a final newline.
fn pretty<T: Serialize>(what: &'static str, value: &T) -> Result<String, StageError> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|source| StageError::Json { what, source })?;
    text.push('\n');
    Ok(text)
}

fn base64_root(text: &str) -> Result<[u8; 32], StageError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| StageError::BadRoot(text.to_string()))
}

/// A hold-module error as a stage error: store and audit errors as themselves, a refusal (a log
/// that does not match the stored hold checkpoints) as the registry refusing.
fn hold_stage_error(e: crate::hold::HoldError, settings: &super::AuditSettings) -> StageError {
    use crate::hold::HoldError;
    match e {
        HoldError::Store(e) => StageError::Store(e),
        HoldError::Audit(e) => StageError::Audit(e),
        HoldError::Registry(e) => StageError::HoldRegistry(e),
        other if other.is_refusal() => {
            StageError::HoldRegistry(crate::hold::RegistryError::LogInvalid {
                path: settings.log.path().to_path_buf(),
                count: 1,
                first: other.to_string(),
            })
        }
        other => StageError::Hash {
            path: settings.log.path().to_path_buf(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}
