//! The pipeline users come for: verify → retention gate → plan → target preflight → upload →
//! read-back receipts → audit event (`evidence.archived`, carrying the receipts' hash) → anchor
//! (a signed checkpoint of the audit log, uploaded locked beside the evidence).
//!
//! A failure at any stage stops there and names the stage; nothing is reported as stored that
//! was not read back from the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, NewRecord, Signer};
use crate::bundle::{self, BundleReport};
use crate::plan::{self, PlanFile, PlanInput, PlanOptions, StoragePlan};
use crate::receipt::ReceiptSet;
use crate::remote::SIDECAR_DIR;
use crate::retention;
use crate::store::{ImmutableStore, LockSpec, PutObject, RetentionMode, StoreError, Target};
use crate::trust::KeyPair;
use crate::upload::{self, Event, Observer, UploadOptions, UploadReport};

/// The pipeline's stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Verify,
    Retention,
    Plan,
    Preflight,
    Upload,
    Receipts,
    AuditEvent,
    Anchor,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

/// A stage failed. `refusal` separates policy/verification failures (exit 1) from operational
/// errors (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{stage} stage failed: {message}")]
pub struct ArchiveError {
    pub stage: Stage,
    pub refusal: bool,
    pub message: String,
}

impl ArchiveError {
    fn refused(stage: Stage, message: impl Into<String>) -> Self {
        ArchiveError {
            stage,
            refusal: true,
            message: message.into(),
        }
    }
    fn failed(stage: Stage, message: impl Into<String>) -> Self {
        ArchiveError {
            stage,
            refusal: false,
            message: message.into(),
        }
    }
}

/// How to plan a verified bundle.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub target: Target,
    /// Override the bundle's own session id (retention-policy.json).
    pub session_id: Option<String>,
    pub mode: RetentionMode,
    pub legal_hold_case: Option<String>,
    /// Retain longer than the bundle's policy asks (never shorter).
    pub retention_days: Option<u32>,
    pub minimum_retention_days: u32,
    pub now: DateTime<Utc>,
}

/// Where the audit event goes and who signs it.
#[derive(Debug)]
pub struct AuditSettings {
    pub log: PathBuf,
    pub signer: Signer,
    pub actor: String,
    pub tenant_id: Option<String>,
    pub workspace_id: Option<String>,
    /// Sign and upload a checkpoint of the log after the event.
    pub anchor: Option<AnchorSettings>,
}

#[derive(Debug)]
pub struct AnchorSettings {
    /// Checkpoint origin line (and note key name).
    pub origin: String,
    pub key: KeyPair,
    /// Local copy of the signed checkpoint.
    pub output: PathBuf,
}

/// Everything after the plan: executing it.
#[derive(Debug)]
pub struct ExecuteRequest {
    pub upload: UploadOptions,
    /// Local receipts file (never overwritten).
    pub receipts_out: PathBuf,
    /// Sign receipts with this key and key id.
    pub receipt_key: Option<(KeyPair, String)>,
    pub audit: Option<AuditSettings>,
}

#[derive(Debug, Serialize)]
pub struct ArchiveOutcome {
    pub plan: StoragePlan,
    pub upload: UploadReport,
    pub receipts_path: PathBuf,
    pub receipts_key: String,
    pub receipts_sha256: String,
    pub audit_record: Option<serde_json::Value>,
    pub checkpoint: Option<AnchorOutcome>,
}

#[derive(Debug, Serialize)]
pub struct AnchorOutcome {
    pub path: PathBuf,
    pub key: String,
    pub tree_size: u64,
    pub root: String,
}

fn stage_event(observer: &dyn Observer, stage: Stage, status: &str, detail: impl Into<String>) {
    observer.event(&Event::Stage {
        stage: stage.to_string(),
        status: status.into(),
        detail: detail.into(),
    });
}

/// The refusal for a bundle that does not verify, every finding listed (`suffix` is appended).
pub fn verification_refusal(report: &BundleReport, suffix: &str) -> ArchiveError {
    let findings: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("[{}] {}", f.kind, f.message))
        .collect();
    ArchiveError::refused(
        Stage::Verify,
        format!(
            "bundle {} does not verify ({} problem(s)): {}{suffix}",
            report.input.display(),
            findings.len(),
            findings.join("; ")
        ),
    )
}

/// Stage 1: verify the bundle. Every finding is listed in the refusal.
pub fn verify_bundle(
    path: &Path,
    options: &bundle::VerifyOptions,
    observer: &dyn Observer,
) -> Result<BundleReport, ArchiveError> {
    stage_event(
        observer,
        Stage::Verify,
        "started",
        path.display().to_string(),
    );
    let report = bundle::verify(path, options)
        .map_err(|e| ArchiveError::failed(Stage::Verify, e.to_string()))?;
    if !report.valid {
        return Err(verification_refusal(&report, ""));
    }
    let deferred = if report.deferred.is_empty() {
        String::new()
    } else {
        format!(
            "; the content of {} large file(s) is checked while they upload, and nothing is committed before it passes",
            report.deferred.len()
        )
    };
    stage_event(
        observer,
        Stage::Verify,
        "passed",
        format!(
            "{} files, digest {}{deferred}",
            report.files.len(),
            report.digest.clone().unwrap_or_default()
        ),
    );
    Ok(report)
}

/// Stages 2 and 3: the retention gate and the plan (pure apart from hashing manifest.json).
pub fn plan_bundle(
    report: &BundleReport,
    request: &PlanRequest,
    observer: &dyn Observer,
) -> Result<StoragePlan, ArchiveError> {
    let policy = report.retention_policy.as_ref().ok_or_else(|| {
        ArchiveError::refused(Stage::Retention, "the bundle has no retention-policy.json; create it with `wormvault bundle create --retention-days N`")
    })?;
    let policy_days = i64::try_from(policy.retention_days).unwrap_or(i64::MAX);
    retention::check_minimum(policy_days, request.minimum_retention_days)
        .map_err(|e| ArchiveError::refused(Stage::Retention, e.to_string()))?;
    let mut days = u32::try_from(policy.retention_days)
        .map_err(|_| ArchiveError::refused(Stage::Retention, "retention_days is out of range"))?;
    if let Some(requested) = request.retention_days {
        retention::check_minimum(i64::from(requested), request.minimum_retention_days)
            .map_err(|e| ArchiveError::refused(Stage::Retention, e.to_string()))?;
        days = days.max(requested);
    }
    // --- legal holds by case (issue 16, hold::registry) ---------------------------------------
    // A bundle whose signed policy asks for a legal hold is held for a named case, or refused.
    if policy.legal_hold && request.legal_hold_case.is_none() {
        return Err(ArchiveError::refused(
            Stage::Retention,
            "the bundle's signed retention-policy.json asks for a legal hold (legal_hold: true); holds are kept per case, so name the case with --legal-hold CASE",
        ));
    }
    // --- end legal holds by case --------------------------------------------------------------
    stage_event(
        observer,
        Stage::Retention,
        "passed",
        format!("{days} days (minimum {})", request.minimum_retention_days),
    );

    let manifest = report
        .manifest
        .as_ref()
        .ok_or_else(|| ArchiveError::failed(Stage::Plan, "verified bundle has no manifest"))?;
    let digest = report
        .digest
        .clone()
        .ok_or_else(|| ArchiveError::failed(Stage::Plan, "verified bundle has no digest"))?;
    let mut files: Vec<PlanFile> = report
        .files
        .iter()
        .map(|f| PlanFile {
            path: f.path.clone(),
            sha256: f.sha256.clone(),
            bytes: f.bytes,
        })
        .collect();
    let manifest_path = report.bundle_dir.join("manifest.json");
    let manifest_digest = crate::hashing::sha256_file(&manifest_path, &|_| {}).map_err(|e| {
        ArchiveError::failed(
            Stage::Plan,
            format!("hashing {}: {e}", manifest_path.display()),
        )
    })?;
    files.push(PlanFile {
        path: "manifest.json".into(),
        sha256: manifest_digest.sha256,
        bytes: manifest_digest.bytes,
    });
    let input = PlanInput {
        bundle_digest: digest,
        manifest_signature: serde_json::to_value(&manifest.signature)
            .unwrap_or(serde_json::Value::Null),
        created_at: manifest.created_at.clone(),
        signer: manifest.signer.clone(),
        session_id: request
            .session_id
            .clone()
            .unwrap_or_else(|| policy.session_id.clone()),
        classification: Some(policy.classification.clone()),
        retention_days: days,
        policy_retain_until: crate::trust::parse_timestamp(&policy.retain_until),
        files,
    };
    let options = PlanOptions {
        target: request.target.clone(),
        mode: request.mode,
        legal_hold_case: request.legal_hold_case.clone(),
        minimum_retention_days: request.minimum_retention_days,
        now: request.now,
    };
    let plan = plan::plan(&input, &options).map_err(|e| match e {
        plan::PlanError::Retention(_) => ArchiveError::refused(Stage::Retention, e.to_string()),
        _ => ArchiveError::refused(Stage::Plan, e.to_string()),
    })?;
    stage_event(
        observer,
        Stage::Plan,
        "passed",
        format!(
            "{} objects under {}",
            plan.objects.len(),
            plan.session_prefix
        ),
    );
    Ok(plan)
}

/// The key of a sidecar object wormvault writes beside the evidence.
pub fn sidecar_key(plan: &StoragePlan, name: &str) -> String {
    format!("{}/{SIDECAR_DIR}/{name}", plan.session_prefix)
}

/// Upload a small local file beside the evidence with the plan's lock, create-only; an
/// identical existing copy is accepted. Returns what the store reports.
async fn put_sidecar(
    store: &dyn ImmutableStore,
    plan: &StoragePlan,
    name: &str,
    local: &Path,
    stage: Stage,
) -> Result<String, ArchiveError> {
    let digest = crate::hashing::sha256_file(local, &|_| {})
        .map_err(|e| ArchiveError::failed(stage, format!("hashing {}: {e}", local.display())))?;
    let key = sidecar_key(plan, name);
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("wormvault-session".to_string(), plan.session_id.clone());
    tags.insert(
        "wormvault-bundle-digest".to_string(),
        plan.bundle_digest.clone(),
    );
    let object = PutObject {
        key: key.clone(),
        source: local,
        size: digest.bytes,
        sha256: digest.sha256.clone(),
        lock: LockSpec {
            mode: plan.retention.mode,
            retain_until: plan.retention.retain_until,
            legal_hold: plan.retention.legal_hold,
        },
        tags,
        metadata: std::collections::BTreeMap::from([("sha256".to_string(), digest.sha256.clone())]),
        content_type: Some("application/json".into()),
    };
    let stored = match store.put(&object, &|_| {}).await {
        Ok(stored) => stored,
        Err(StoreError::AlreadyExists { .. }) => store
            .head(&key)
            .await
            .map_err(|e| ArchiveError::failed(stage, e.to_string()))?
            .ok_or_else(|| {
                ArchiveError::failed(stage, format!("{key} vanished after AlreadyExists"))
            })?,
        Err(e) => return Err(ArchiveError::failed(stage, e.to_string())),
    };
    if stored.sha256.as_deref() != Some(digest.sha256.as_str()) {
        return Err(ArchiveError::refused(
            stage,
            format!(
                "{key} in the store has SHA-256 {:?}, expected {}",
                stored.sha256, digest.sha256
            ),
        ));
    }
    Ok(key)
}

/// Stages 4–8: preflight, upload with read-back receipts, receipts stored, audit event, anchor.
pub async fn execute(
    plan: &StoragePlan,
    bundle_dir: &Path,
    store: &dyn ImmutableStore,
    request: ExecuteRequest,
    observer: Arc<dyn Observer>,
) -> Result<ArchiveOutcome, ArchiveError> {
    if request.receipts_out.exists() {
        return Err(ArchiveError::failed(
            Stage::Receipts,
            format!(
                "receipts file {} already exists; wormvault never overwrites receipts — pass another --receipts-out",
                request.receipts_out.display()
            ),
        ));
    }
    // --- legal holds by case (issue 16, hold::registry) ---------------------------------------
    // An archive-time hold is registered in the audit log: refuse before writing when there is
    // no log, or it is unsigned, or it does not verify with the signing key.
    if plan.retention.legal_hold_case.is_some() {
        let settings = request.audit.as_ref().ok_or_else(|| {
            ArchiveError::refused(
                Stage::Preflight,
                crate::hold::RegistryError::NoAuditLog.to_string(),
            )
        })?;
        crate::hold::registry::check_before_archive_hold(&settings.log, &settings.signer)
            .map_err(|e| ArchiveError::refused(Stage::Preflight, e.to_string()))?;
    }
    // --- end legal holds by case --------------------------------------------------------------
    stage_event(
        observer.as_ref(),
        Stage::Preflight,
        "started",
        plan.target.clone(),
    );
    let upload = upload::execute(plan, bundle_dir, store, &request.upload, observer.clone())
        .await
        .map_err(|e| {
            let stage = match e {
                upload::UploadError::Preflight { .. } => Stage::Preflight,
                upload::UploadError::ReadBack { .. } => Stage::Receipts,
                _ => Stage::Upload,
            };
            ArchiveError {
                stage,
                refusal: e.is_refusal(),
                message: e.to_string(),
            }
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
        receipts.sign(key, key_id);
    }
    let receipts_sha256 = receipts.digest();
    write_new(&request.receipts_out, receipts.to_json().as_bytes())
        .map_err(|e| ArchiveError::failed(Stage::Receipts, e))?;
    let receipts_key = put_sidecar(
        store,
        plan,
        &format!("receipts-{}.json", &receipts_sha256[..16]),
        &request.receipts_out,
        Stage::Receipts,
    )
    .await?;
    stage_event(
        observer.as_ref(),
        Stage::Receipts,
        "passed",
        format!(
            "{} (sha256 {receipts_sha256})",
            request.receipts_out.display()
        ),
    );
    let mut upload = upload;
    upload.receipts = receipts;

    let mut audit_record = None;
    let mut checkpoint = None;
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
        let written = audit::append(&settings.log, &record, &settings.signer)
            .map_err(|e| ArchiveError::failed(Stage::AuditEvent, e.to_string()))?;
        stage_event(
            observer.as_ref(),
            Stage::AuditEvent,
            "passed",
            format!(
                "record {} in {}",
                written.sequence().unwrap_or(0),
                settings.log.display()
            ),
        );
        audit_record = Some(serde_json::Value::Object(written.fields));

        if let Some(anchor) = &settings.anchor {
            let verified = audit::verify(&settings.log, &audit::VerifyOptions::default())
                .map_err(|e| ArchiveError::failed(Stage::Anchor, e.to_string()))?;
            if !verified.valid {
                return Err(ArchiveError::refused(
                    Stage::Anchor,
                    format!(
                        "audit log {} does not verify; refusing to anchor it: {}",
                        settings.log.display(),
                        verified.errors.join("; ")
                    ),
                ));
            }
            let root = base64_root(&verified.merkle_root)
                .map_err(|e| ArchiveError::failed(Stage::Anchor, e))?;
            let head = audit::Checkpoint {
                origin: anchor.origin.clone(),
                size: verified.tree_size,
                root,
            };
            let note = head
                .sign(&anchor.origin, anchor.key.signing_key())
                .map_err(|e| ArchiveError::failed(Stage::Anchor, e.to_string()))?;
            write_new(&anchor.output, note.as_bytes())
                .map_err(|e| ArchiveError::failed(Stage::Anchor, e))?;
            let key = put_sidecar(
                store,
                plan,
                &format!("audit-checkpoint-{}.txt", verified.tree_size),
                &anchor.output,
                Stage::Anchor,
            )
            .await?;
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
                path: anchor.output.clone(),
                key,
                tree_size: verified.tree_size,
                root: verified.merkle_root.clone(),
            });
        }
    }
    // --- legal holds by case (issue 16, hold::registry) ---------------------------------------
    // Every object this run stored with the hold on (evidence, receipts, checkpoint) is
    // registered for the case: one `legal_hold.set` decision and its `legal_hold.applied`
    // outcome (the flags were read back in the receipts / on upload).
    if let (Some(case), Some(settings)) = (&plan.retention.legal_hold_case, &request.audit) {
        let mut objects: Vec<crate::hold::VersionRef> = upload
            .receipts
            .receipts
            .iter()
            .map(|r| crate::hold::VersionRef {
                key: r.key.clone(),
                version_id: r.version_id.clone(),
            })
            .collect();
        let sidecars =
            std::iter::once(receipts_key.clone()).chain(checkpoint.iter().map(|c| c.key.clone()));
        for key in sidecars {
            let stored = store
                .head(&key)
                .await
                .map_err(|e| ArchiveError::failed(Stage::AuditEvent, e.to_string()))?;
            objects.push(crate::hold::VersionRef {
                version_id: stored.and_then(|s| s.version_id),
                key,
            });
        }
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
        .map_err(|e| ArchiveError::failed(Stage::AuditEvent, e.to_string()))?;
    }
    // --- end legal holds by case --------------------------------------------------------------
    Ok(ArchiveOutcome {
        plan: plan.clone(),
        upload,
        receipts_path: request.receipts_out.clone(),
        receipts_key,
        receipts_sha256,
        audit_record,
        checkpoint,
    })
}

fn base64_root(text: &str) -> Result<[u8; 32], String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| format!("Merkle root {text:?} is not base64 of 32 bytes"))
}

/// Write a new file (never replacing one), synced.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("creating {} (never overwritten): {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("writing {}: {e}", path.display()))
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
) -> Result<PathBuf, String> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let dir = state_dir
        .join("sessions")
        .join(&outcome.plan.session_id)
        .join(format!(
            "{}-{stamp}",
            &outcome.plan.bundle_digest[..16.min(outcome.plan.bundle_digest.len())]
        ));
    let plan_path = dir.join("plan.json");
    let mut plan_text = serde_json::to_string_pretty(&outcome.plan).map_err(|e| e.to_string())?;
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
        audit_log: audit_log.map(absolute),
        checkpoint: outcome.checkpoint.as_ref().map(|c| absolute(&c.path)),
        checkpoint_key,
    };
    let path = dir.join("session.json");
    write_new(
        &path,
        serde_json::to_string_pretty(&record)
            .map_err(|e| e.to_string())?
            .as_bytes(),
    )?;
    Ok(path)
}

/// The most recent record of a session in `state_dir`.
pub fn find_session(state_dir: &Path, session_id: &str) -> Result<SessionRecord, String> {
    let dir = state_dir.join("sessions").join(session_id);
    let mut newest: Option<SessionRecord> = None;
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        format!("no archived session {session_id:?} in {} ({e}); run `wormvault archive` first or pass --state-dir", state_dir.display())
    })?;
    for entry in entries.flatten() {
        let path = entry.path().join("session.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let record: SessionRecord =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if newest
            .as_ref()
            .is_none_or(|n| record.archived_at > n.archived_at)
        {
            newest = Some(record);
        }
    }
    newest.ok_or_else(|| format!("no session records under {}", dir.display()))
}
