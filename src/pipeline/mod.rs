//! The archive pipeline, top to bottom, in the order the stages run:
//!
//! 1. **verify** ([`verify`]): the bundle (files, signature, trust root), then what the archive
//!    will vouch for besides it — the audit log verifies in full under the keys given, and
//!    every key that will sign (receipts, audit event, checkpoint) is pinned in the trust roots;
//! 2. **retention**: the one retention gate (the bundle's policy, `--retention-days`, and for a
//!    reviewed plan its dates);
//! 3. **plan** ([`plan`]): where each object goes, its lock, hold and tags — or, for
//!    `upload --plan`, the reviewed plan checked against the verified bundle ([`reviewed`]);
//! 4. **preflight**, 5. **upload** ([`upload`]): create-only writes, read back;
//! 6. **receipts** ([`receipt`]), 7. **audit event**, 8. **anchor** ([`record`]): what the
//!    store reported, the `evidence.archived` event carrying its hash, a signed checkpoint, and
//!    everything `handoff --from` needs, stored locked beside the evidence;
//!
//! then the local session record ([`session`]). [`fetch`] reads a session back from the store
//! for `handoff --from`. `cli/archive.rs`, `cli/upload.rs`, `cli/plan.rs`
//! and `demo.rs` each build a request and call [`archive`] or [`plan_only`].
//!
//! Nothing is written anywhere before every check that can run before the first byte has run
//! (house rule "refuse before writing"); a failure names its stage ([`ArchiveError`]) and keeps
//! its typed cause ([`StageError`]), so exit codes are decided from the cause in one place
//! (`crate::exit::classify`).

pub mod fetch;
pub mod plan;
pub mod receipt;
pub mod record;
pub mod reviewed;
pub mod session;
pub mod upload;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{AuditError, Signer};
use crate::bundle::{self, BundleError, BundleReport, Finding};
use crate::retention::{self, RetentionError};
use crate::store::{self, ImmutableStore, RetentionMode, StoreError, Target};
use plan::{PlanError, PlanFile, PlanInput, PlanOptions, StoragePlan};

pub use record::{AnchorOutcome, sidecar_key};
pub use reviewed::ReviewedPlanError;
pub use session::{SESSION_SCHEMA, SessionRecord, find_session, record_session};
pub use upload::{Event, Observer, Silent, UploadError, UploadOptions, UploadReport};
pub use verify::VouchError;

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
    /// The local session record (after everything is stored).
    Session,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Verify => "verify",
            Stage::Retention => "retention",
            Stage::Plan => "plan",
            Stage::Preflight => "preflight",
            Stage::Upload => "upload",
            Stage::Receipts => "receipts",
            Stage::AuditEvent => "audit_event",
            Stage::Anchor => "anchor",
            Stage::Session => "session",
        })
    }
}

/// A stage failed: which one, and why (the typed cause is kept as the error's source).
#[derive(Debug, thiserror::Error)]
#[error("{stage} stage failed")]
pub struct ArchiveError {
    pub stage: Stage,
    pub source: StageError,
}

impl ArchiveError {
    pub fn new(stage: Stage, source: impl Into<StageError>) -> Self {
        ArchiveError {
            stage,
            source: source.into(),
        }
    }

    /// A policy or verification refusal (exit 1) rather than an operational error (exit 2).
    pub fn is_refusal(&self) -> bool {
        self.source.is_refusal()
    }
}

/// Why a stage failed. Each variant keeps the library error it came from.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(
        "bundle {} does not verify ({} problem(s)): {}{}",
        input.display(),
        findings.len(),
        findings.iter().map(|f| format!("[{}] {}", f.kind, f.message)).collect::<Vec<_>>().join("; "),
        if *nothing_committed { "; no object was stored" } else { "" }
    )]
    NotVerified {
        input: PathBuf,
        findings: Vec<Finding>,
        /// Found while staged parts were already out (deferred content check): nothing was
        /// committed.
        nothing_committed: bool,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Vouch(#[from] VouchError),
    #[error(
        "the bundle has no retention-policy.json; create it with `wormvault bundle create --retention-days N`"
    )]
    NoRetentionPolicy,
    #[error("retention_days {0} is out of range")]
    RetentionOutOfRange(u64),
    #[error(transparent)]
    Retention(#[from] RetentionError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Reviewed(#[from] ReviewedPlanError),
    #[error("the verified bundle has no {0}")]
    Incomplete(&'static str),
    #[error("hashing {}: {source}", path.display())]
    Hash {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the bundle verification thread stopped unexpectedly; nothing was committed")]
    VerifierStopped,
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key} in the store has SHA-256 {found}, expected {expected}")]
    SidecarDiffers {
        key: String,
        expected: String,
        found: String,
    },
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(
        "the bundle's signed retention-policy.json asks for a legal hold (legal_hold: true); holds are kept per case, so name the case with --legal-hold CASE"
    )]
    LegalHoldNeedsCase,
    #[error(transparent)]
    HoldRegistry(#[from] crate::hold::RegistryError),
    #[error(transparent)]
    Checkpoint(#[from] crate::audit::checkpoint::CheckpointError),
    #[error(
        "audit log {} does not verify; refusing to anchor it: {}",
        log.display(),
        errors.join("; ")
    )]
    LogInvalid { log: PathBuf, errors: Vec<String> },
    #[error("Merkle root {0:?} is not base64 of 32 bytes")]
    BadRoot(String),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Session(#[from] session::SessionError),
    #[error("rendering {what} as JSON: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl StageError {
    /// Policy/verification refusals (exit 1) versus operational errors (exit 2).
    pub fn is_refusal(&self) -> bool {
        match self {
            StageError::NotVerified { .. }
            | StageError::NoRetentionPolicy
            | StageError::LegalHoldNeedsCase
            | StageError::RetentionOutOfRange(_)
            | StageError::Retention(_)
            | StageError::Reviewed(_)
            | StageError::SidecarDiffers { .. }
            | StageError::LogInvalid { .. } => true,
            // A plan that cannot be made from a verified bundle (unsafe path, bad session id,
            // retention) is a refusal; a plan file that cannot be read is not.
            StageError::Plan(e) => !matches!(e, PlanError::Read { .. }),
            // A log that does not verify is a refusal; a missing --audit-log or key, or a log
            // that changed while read, is a usage/configuration error (as `hold` says).
            StageError::HoldRegistry(e) => e.is_refusal(),
            StageError::Vouch(e) => e.is_refusal(),
            StageError::Upload(e) => e.is_refusal(),
            StageError::Store(e) => matches!(e, StoreError::ChecksumMismatch { .. }),
            _ => false,
        }
    }
}

pub use crate::fs::{WriteError, write_new};

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

/// Where the plan comes from: made now (`archive`), or reviewed earlier (`upload --plan`).
#[derive(Debug, Clone)]
pub enum PlanSource {
    Fresh(PlanRequest),
    Reviewed {
        plan: Box<StoragePlan>,
        minimum_retention_days: u32,
    },
}

impl PlanSource {
    fn minimum_retention_days(&self) -> u32 {
        match self {
            PlanSource::Fresh(request) => request.minimum_retention_days,
            PlanSource::Reviewed {
                minimum_retention_days,
                ..
            } => *minimum_retention_days,
        }
    }
}

/// Where the audit event goes and who signs it.
#[derive(Debug)]
pub struct AuditSettings {
    /// The log: a local file, or a verified copy of a log in a store that appends go through.
    pub log: crate::audit::store::LogHandle,
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
    pub key: crate::trust::SigningKeySource,
    /// Local copy of the signed checkpoint (default: next to the receipts).
    pub output: Option<PathBuf>,
}

/// Keep a local record of the session for `handoff --session`.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub state_dir: PathBuf,
}

/// Everything after the plan: executing it.
#[derive(Debug)]
pub struct ExecuteRequest {
    /// Objects in flight (default: [`store::default_concurrency`]).
    pub concurrency: Option<usize>,
    pub preflight: store::PreflightOptions,
    /// Local receipts file, never overwritten (default: `receipts-<session>-<time>.json` here).
    pub receipts_out: Option<PathBuf>,
    /// Sign receipts with this key and key id.
    pub receipt_key: Option<(crate::trust::SigningKeySource, String)>,
    pub audit: Option<AuditSettings>,
    pub session: Option<SessionSettings>,
    /// The trust-roots file the bundle was verified with: stored beside the evidence as given,
    /// and named in the session record.
    pub trust_roots_file: Option<PathBuf>,
}

/// One `archive` or `upload --plan` run.
#[derive(Debug)]
pub struct ArchiveRequest {
    /// Bundle directory or `.tar.gz`.
    pub bundle: PathBuf,
    /// How the bundle is verified (trust roots, key id, HMAC key, limits, progress). The
    /// pipeline decides the deferred-hashing threshold and applies the retention minimum
    /// itself, in the retention stage.
    pub verify: bundle::VerifyOptions,
    pub plan: PlanSource,
    pub execute: ExecuteRequest,
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
    /// The sidecar objects `handoff --from` reads (plan, session record, trust roots, audit
    /// segment, checkpoint key), by key.
    pub sidecars: Vec<String>,
    /// The local session record, when one was kept.
    pub session_record: Option<PathBuf>,
    /// Said before anything was written (e.g. an HMAC-signed bundle).
    pub warnings: Vec<String>,
}

pub(crate) fn stage_event(
    observer: &dyn Observer,
    stage: Stage,
    status: &str,
    detail: impl Into<String>,
) {
    observer.event(&Event::Stage {
        stage: stage.to_string(),
        status: status.into(),
        detail: detail.into(),
    });
}

/// Verify, gate retention and plan, writing nothing (`wormvault plan`, `archive --dry-run`).
pub fn plan_only(
    bundle: &Path,
    verify: bundle::VerifyOptions,
    request: &PlanRequest,
    observer: &dyn Observer,
) -> Result<(BundleReport, StoragePlan), ArchiveError> {
    let report = verify::bundle(
        bundle,
        verify,
        None,
        request.minimum_retention_days,
        observer,
    )?;
    let plan = plan_bundle(&report, request, observer)?;
    Ok((report, plan))
}

/// `upload --plan … --dry-run`: the bundle verified again and the reviewed plan checked against
/// it (digest, every file covered once, retention), as the upload would; nothing is opened or
/// written. Like `plan_only`, no store is contacted (the dry runs of `aws s3 cp` do not either).
pub fn reviewed_only(
    bundle: &Path,
    verify: bundle::VerifyOptions,
    plan: &StoragePlan,
    minimum_retention_days: u32,
    observer: &dyn Observer,
) -> Result<BundleReport, ArchiveError> {
    let report = verify::bundle(bundle, verify, None, minimum_retention_days, observer)?;
    reviewed::check(plan, &report, minimum_retention_days)?;
    Ok(report)
}

/// The whole pipeline against an open store. Everything that can be checked before the first
/// byte is stored is checked first: the bundle, the audit log and the signing keys (verify),
/// retention, the plan (or the reviewed plan against the bundle), the target (preflight).
pub async fn archive(
    request: ArchiveRequest,
    store: &dyn ImmutableStore,
    observer: Arc<dyn Observer>,
) -> Result<ArchiveOutcome, ArchiveError> {
    let ArchiveRequest {
        bundle,
        verify: options,
        plan: source,
        execute,
    } = request;
    let minimum = source.minimum_retention_days();
    let trust = options.trust.clone();
    // Files big enough to be staged invisibly (S3 parts, Azure blocks) are hashed while they
    // upload; nothing is committed before their check passes (see `verify::Deferred`).
    let defer = store::staging_threshold(store.target())
        .map_err(|e| ArchiveError::new(Stage::Verify, e))?;
    let report = {
        let bundle = bundle.clone();
        let observer = observer.clone();
        tokio::task::spawn_blocking(move || {
            verify::bundle(&bundle, options, defer, minimum, observer.as_ref())
        })
        .await
        .map_err(|_| ArchiveError::new(Stage::Verify, StageError::VerifierStopped))??
    };
    let warnings = verify::vouch(&report, &execute, trust.as_ref(), observer.as_ref())?;
    let plan = match &source {
        PlanSource::Fresh(request) => plan_bundle(&report, request, observer.as_ref())?,
        PlanSource::Reviewed {
            plan,
            minimum_retention_days,
        } => {
            reviewed::check(plan, &report, *minimum_retention_days)?;
            stage_event(
                observer.as_ref(),
                Stage::Plan,
                "passed",
                format!(
                    "reviewed plan covers the verified bundle: {} objects under {}",
                    plan.objects.len(),
                    plan.session_prefix
                ),
            );
            (**plan).clone()
        }
    };
    let deferred = verify::Deferred::start(report);
    let gate = deferred.gate();
    let bundle_dir = deferred.bundle_dir().to_path_buf();
    let outcome = record::execute(
        &plan,
        &bundle_dir,
        &bundle,
        store,
        execute,
        gate,
        trust.as_ref(),
        warnings,
        observer.clone(),
    )
    .await;
    // The deferred check decides even when the upload failed: a bundle that did not verify is
    // reported as that, not as whatever the held-back commit ran into.
    deferred.finish(observer.as_ref()).await?;
    outcome
}

/// Stages 2 and 3 for a fresh plan: the retention gate and the plan (pure apart from hashing
/// manifest.json).
pub fn plan_bundle(
    report: &BundleReport,
    request: &PlanRequest,
    observer: &dyn Observer,
) -> Result<StoragePlan, ArchiveError> {
    let refuse = |e: StageError| ArchiveError::new(Stage::Retention, e);
    let policy = report
        .retention_policy
        .as_ref()
        .ok_or_else(|| refuse(StageError::NoRetentionPolicy))?;
    let policy_days = i64::try_from(policy.retention_days).unwrap_or(i64::MAX);
    retention::check_minimum(policy_days, request.minimum_retention_days)
        .map_err(|e| refuse(e.into()))?;
    let mut days = u32::try_from(policy.retention_days)
        .map_err(|_| refuse(StageError::RetentionOutOfRange(policy.retention_days)))?;
    if let Some(requested) = request.retention_days {
        retention::check_minimum(i64::from(requested), request.minimum_retention_days)
            .map_err(|e| refuse(e.into()))?;
        days = days.max(requested);
    }
    // A bundle whose signed policy asks for a legal hold is held for a named case, or refused:
    // holds are kept per case (hold::registry), and an unnamed one could never be released.
    if policy.legal_hold && request.legal_hold_case.is_none() {
        return Err(refuse(StageError::LegalHoldNeedsCase));
    }
    stage_event(
        observer,
        Stage::Retention,
        "passed",
        format!("{days} days (minimum {})", request.minimum_retention_days),
    );

    let plan_error = |e: StageError| ArchiveError::new(Stage::Plan, e);
    let manifest = report
        .manifest
        .as_ref()
        .ok_or_else(|| plan_error(StageError::Incomplete("manifest")))?;
    let digest = report
        .digest
        .clone()
        .ok_or_else(|| plan_error(StageError::Incomplete("digest")))?;
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
    let manifest_digest =
        crate::hashing::sha256_file(&manifest_path, &|_| {}).map_err(|source| {
            plan_error(StageError::Hash {
                path: manifest_path.clone(),
                source,
            })
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
        PlanError::Retention(_) => ArchiveError::new(Stage::Retention, e),
        _ => ArchiveError::new(Stage::Plan, e),
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
