//! `wormvault archive BUNDLE --to TARGET`: the whole pipeline in one command, and the argument
//! groups `plan` and `upload` share with it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::archive::{
    self, AnchorSettings, ArchiveError, ArchiveOutcome, AuditSettings, ExecuteRequest, PlanRequest,
};
use crate::audit::Signer;
use crate::cli::Output;
use crate::cli::bundle::{EvidenceArgs, HmacKeyArgs};
use crate::cli::common::{self, CliObserver};
use crate::cli::target::PreflightFlags;
use crate::exit::{Exit, Refusal};
use crate::plan::StoragePlan;
use crate::store::{RetentionMode, Target};
use crate::upload::UploadOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle directory or .tar.gz.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    /// Stop after the plan and print it; nothing is written anywhere.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

/// Where and how to store: shared by `plan` and `archive`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Target: s3://bucket/prefix, azure://account/container/prefix, azure+http://host:port/account/container/prefix, file:///path
    #[arg(long = "to", value_name = "TARGET")]
    pub to: Option<String>,
    /// CAVRA-compatible alternative to --to: S3 bucket.
    #[arg(long, conflicts_with = "to")]
    pub s3_bucket: Option<String>,
    /// CAVRA-compatible: S3 key prefix (with --s3-bucket).
    #[arg(long, requires = "s3_bucket", default_value = "")]
    pub s3_prefix: String,
    /// CAVRA-compatible alternative to --to: Azure storage account.
    #[arg(long, conflicts_with_all = ["to", "s3_bucket"], requires = "azure_container")]
    pub azure_account: Option<String>,
    /// CAVRA-compatible: Azure container (with --azure-account).
    #[arg(long, requires = "azure_account")]
    pub azure_container: Option<String>,
    /// Session id for the object prefix (default: the bundle's retention-policy session_id).
    #[arg(long)]
    pub session_id: Option<String>,
    /// Place a legal hold for this case id on every object at upload, registered in the audit
    /// log (then required) as the case's `legal_hold.set` event. Required when the bundle's
    /// signed retention policy says `legal_hold: true`.
    #[arg(long, value_name = "CASE")]
    pub legal_hold: Option<String>,
    /// Use GOVERNANCE (S3) / Unlocked (Azure) retention instead of COMPLIANCE / Locked.
    #[arg(long)]
    pub governance: bool,
    /// Retain longer than the bundle's policy (never below the minimum).
    #[arg(long)]
    pub retention_days: Option<u32>,
}

impl PlanArgs {
    pub fn target(&self) -> anyhow::Result<Target> {
        if let Some(to) = &self.to {
            return common::parse_target(to);
        }
        if let Some(bucket) = &self.s3_bucket {
            return common::parse_target(&format!("s3://{bucket}/{}", self.s3_prefix));
        }
        if let (Some(account), Some(container)) = (&self.azure_account, &self.azure_container) {
            return common::parse_target(&format!("azure://{account}/{container}"));
        }
        anyhow::bail!(
            "no target: pass --to TARGET (or --s3-bucket / --azure-account with --azure-container)"
        )
    }

    pub fn request(&self, minimum_retention_days: u64) -> anyhow::Result<PlanRequest> {
        Ok(PlanRequest {
            target: self.target()?,
            session_id: self.session_id.clone(),
            mode: if self.governance {
                RetentionMode::Governance
            } else {
                RetentionMode::Compliance
            },
            legal_hold_case: self.legal_hold.clone(),
            retention_days: self.retention_days,
            minimum_retention_days: u32::try_from(minimum_retention_days)
                .context("--minimum-retention-days is out of range")?,
            now: chrono::Utc::now(),
        })
    }
}

/// Default objects in flight for S3 targets. Measured on LocalStack (scripts/bench-s3.sh): 16
/// objects with 8 parts each in flight was the fastest of 4/8/16/32 × 4/8; the AWS CLI uses 10.
const S3_CONCURRENCY: usize = 16;

/// How to execute a plan: shared by `upload` and `archive`.
#[derive(Debug, clap::Args)]
pub struct ExecuteArgs {
    #[command(flatten)]
    pub preflight: PreflightFlags,
    /// Objects uploaded at once [default: 16 for S3 targets (bounded by S3's request rate, not
    /// memory: bodies stream from disk), 4 otherwise].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Where to write the receipts (default: receipts-<session>-<time>.json here). Never overwritten.
    #[arg(long, value_name = "FILE")]
    pub receipts_out: Option<PathBuf>,
    /// Sign the receipts with this Ed25519 private key (PKCS#8 PEM, mode 0600).
    #[arg(long, value_name = "PEM")]
    pub receipts_key: Option<PathBuf>,
    /// Key id for the receipts signature (default: derived from the public key).
    #[arg(long)]
    pub receipts_key_id: Option<String>,
    /// Append an `evidence.archived` event to this audit log.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Who the audit event names as actor.
    #[arg(long, default_value = "wormvault")]
    pub actor: String,
    /// Sign the audit event with this Ed25519 private key.
    #[arg(long, value_name = "PEM", conflicts_with_all = ["audit_hmac_key_file", "audit_hmac_key_env"])]
    pub audit_signing_key: Option<PathBuf>,
    /// HMAC key for the audit event, from a file.
    #[arg(long, value_name = "PATH")]
    pub audit_hmac_key_file: Option<PathBuf>,
    /// HMAC key for the audit event, from an environment variable.
    #[arg(long, value_name = "VAR")]
    pub audit_hmac_key_env: Option<String>,
    /// Key id for the audit event signature.
    #[arg(long)]
    pub audit_key_id: Option<String>,
    /// After the event, sign a checkpoint of the audit log with this Ed25519 key and upload it
    /// locked beside the evidence.
    #[arg(long, value_name = "PEM", requires = "audit_log")]
    pub checkpoint_key: Option<PathBuf>,
    /// Checkpoint origin line (the log's name).
    #[arg(long, default_value = "wormvault.audit-log")]
    pub checkpoint_origin: String,
    /// Local copy of the signed checkpoint (default: next to the receipts).
    #[arg(long, value_name = "FILE")]
    pub checkpoint_out: Option<PathBuf>,
    /// Where session records (plan, paths of receipts, log, checkpoint) are kept for `handoff --session`.
    #[arg(long, value_name = "DIR", default_value = ".wormvault")]
    pub state_dir: PathBuf,
}

impl ExecuteArgs {
    pub fn request(&self, plan: &StoragePlan, output: &Output) -> anyhow::Result<ExecuteRequest> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let receipts_out = self
            .receipts_out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("receipts-{}-{stamp}.json", plan.session_id)));
        let receipt_key = match &self.receipts_key {
            Some(path) => {
                let key = crate::trust::load_private_key(path)?;
                let key_id = self
                    .receipts_key_id
                    .clone()
                    .unwrap_or_else(|| crate::trust::default_key_id(&key.public().fingerprint()));
                Some((key, key_id))
            }
            None => None,
        };
        let audit = match &self.audit_log {
            None => None,
            Some(log) => {
                let signer = audit_signer(
                    self.audit_signing_key.as_deref(),
                    &HmacKeyArgs {
                        hmac_key_file: self.audit_hmac_key_file.clone(),
                        hmac_key_env: self.audit_hmac_key_env.clone(),
                        legacy_key: None,
                    },
                    self.audit_key_id.clone(),
                    output,
                )?;
                let anchor = match &self.checkpoint_key {
                    Some(path) => Some(AnchorSettings {
                        origin: self.checkpoint_origin.clone(),
                        key: crate::trust::load_private_key(path)?,
                        output: self
                            .checkpoint_out
                            .clone()
                            .unwrap_or_else(|| receipts_out.with_extension("checkpoint.txt")),
                    }),
                    None => None,
                };
                Some(AuditSettings {
                    log: log.clone(),
                    signer,
                    actor: self.actor.clone(),
                    tenant_id: None,
                    workspace_id: None,
                    anchor,
                })
            }
        };
        Ok(ExecuteRequest {
            upload: UploadOptions {
                concurrency: self
                    .concurrency
                    .unwrap_or(if plan.target.starts_with("s3://") {
                        S3_CONCURRENCY
                    } else {
                        4
                    })
                    .max(1),
                preflight: self.preflight.options(),
                gate: None,
            },
            receipts_out,
            receipt_key,
            audit,
        })
    }
}

/// The audit signer from an Ed25519 key file or an HMAC secret (file/env); unsigned otherwise.
pub fn audit_signer(
    signing_key: Option<&Path>,
    hmac: &HmacKeyArgs,
    key_id: Option<String>,
    output: &Output,
) -> anyhow::Result<Signer> {
    if let Some(path) = signing_key {
        let key = crate::trust::load_private_key(path)?;
        let key_id =
            key_id.unwrap_or_else(|| crate::trust::default_key_id(&key.public().fingerprint()));
        return Ok(Signer::Ed25519 {
            key: Box::new(key),
            key_id,
        });
    }
    if let Some(secret) = hmac.load(output)? {
        return Ok(Signer::Hmac {
            key: secret.expose().to_vec(),
            key_id: key_id.unwrap_or_else(|| crate::audit::record::DEFAULT_HMAC_KEY_ID.to_string()),
        });
    }
    Ok(Signer::Unsigned)
}

/// Map a stage failure to the CLI's error (refusals exit 1).
pub fn stage_error(error: ArchiveError) -> anyhow::Error {
    if error.refusal {
        anyhow::Error::new(Refusal(error.to_string()))
    } else {
        anyhow::Error::new(error)
    }
}

pub fn render_plan(plan: &StoragePlan) -> String {
    let mut text = format!(
        "plan for session {} → {}\n  bundle digest {}\n  retention {} until {} ({}){}\n",
        plan.session_id,
        plan.target,
        plan.bundle_digest,
        plan.retention.retention_days,
        plan.retention.retain_until.to_rfc3339(),
        plan.retention.mode,
        plan.retention
            .legal_hold_case
            .as_ref()
            .map(|c| format!(", legal hold for case {c}"))
            .unwrap_or_default()
    );
    for object in &plan.objects {
        text.push_str(&format!(
            "  {}  {} bytes  sha256 {}\n",
            object.key, object.bytes, object.sha256
        ));
    }
    text
}

pub fn render_outcome(outcome: &ArchiveOutcome) -> String {
    let mut text = format!(
        "archived session {} to {}\n  {} objects ({} uploaded, {} already present), every one read back\n  receipts {} (sha256 {}), stored at {}\n  enforcement: {}\n",
        outcome.plan.session_id,
        outcome.plan.target,
        outcome.plan.objects.len(),
        outcome.upload.uploaded,
        outcome.upload.already_present,
        outcome.receipts_path.display(),
        outcome.receipts_sha256,
        outcome.receipts_key,
        outcome.upload.receipts.enforcement,
    );
    if let Some(record) = &outcome.audit_record {
        text.push_str(&format!(
            "  audit event evidence.archived, record {}\n",
            record.get("sequence").cloned().unwrap_or_default()
        ));
    }
    if let Some(anchor) = &outcome.checkpoint {
        text.push_str(&format!(
            "  checkpoint of {} records at {} (stored at {})\n",
            anchor.tree_size,
            anchor.path.display(),
            anchor.key
        ));
    }
    text
}

/// Run the execution stages with a runtime and progress, shared by `upload` and `archive`.
/// Stage 1 with a hashing spinner on a terminal.
pub fn verify_with_progress(
    bundle: &Path,
    evidence: &EvidenceArgs,
    observer: &dyn crate::upload::Observer,
    output: &Output,
    defer_hashing_from: Option<u64>,
) -> anyhow::Result<crate::bundle::BundleReport> {
    let mut options = evidence.options(output)?;
    let (hook, bar) = common::hashing_progress(output);
    options.progress = hook;
    options.defer_hashing_from = defer_hashing_from;
    let verified = archive::verify_bundle(bundle, &options, observer);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    verified.map_err(stage_error)
}

/// Keep the session's local record for `handoff --session`.
pub fn record_session(
    args: &ExecuteArgs,
    evidence: &EvidenceArgs,
    bundle: &Path,
    outcome: &ArchiveOutcome,
    output: &Output,
) -> anyhow::Result<()> {
    let checkpoint_pem = match &args.checkpoint_key {
        Some(path) => Some(crate::trust::load_private_key(path)?.public().spki_pem()),
        None => None,
    };
    let path = archive::record_session(
        &args.state_dir,
        outcome,
        bundle,
        evidence.trust_root.as_deref(),
        args.audit_log.as_deref(),
        checkpoint_pem.as_deref(),
    )
    .map_err(anyhow::Error::msg)
    .context("recording the session for `wormvault handoff`")?;
    output.note(format!("session recorded in {}", path.display()));
    Ok(())
}

pub fn execute(
    plan: &StoragePlan,
    bundle_dir: &Path,
    request: ExecuteRequest,
    output: &Output,
) -> anyhow::Result<ArchiveOutcome> {
    let target = Target::parse(&plan.target)?;
    let total: u64 = plan.objects.iter().map(|o| o.bytes).sum();
    let observer = CliObserver::new(*output, total);
    let runtime = common::runtime()?;
    let result = runtime.block_on(async {
        let store = common::open_store(&target).await?;
        archive::execute(plan, bundle_dir, store.as_ref(), request, observer.clone())
            .await
            .map_err(stage_error)
    });
    observer.finish();
    result
}

/// Run the plan while the deferred part of the bundle verification (the content of files large
/// enough for S3 multipart or several Azure blocks, see [`deferral_for`]) finishes on a blocking
/// thread: their parts or blocks go out meanwhile, but no object is created before it passes
/// ([`crate::store::WriteGate`]). If it fails, the archive
/// is refused with the verification findings (exit 1) and nothing is stored. With nothing
/// deferred this is [`execute`].
pub(crate) fn execute_verifying(
    plan: &StoragePlan,
    mut report: crate::bundle::BundleReport,
    mut request: ExecuteRequest,
    observer: &dyn crate::upload::Observer,
    output: &Output,
) -> anyhow::Result<ArchiveOutcome> {
    if report.deferred.is_empty() {
        return execute(plan, &report.bundle_dir, request, output);
    }
    let deferred = report.deferred.len();
    let (keeper, gate) = crate::store::WriteGate::new();
    request.upload.gate = Some(gate);
    let bundle_dir = report.bundle_dir.clone();
    let checker = std::thread::spawn(move || {
        crate::bundle::finish_deferred(&mut report, None);
        if report.valid {
            keeper.open();
        } else {
            keeper.close("the bundle did not verify");
        }
        report
    });
    let outcome = execute(plan, &bundle_dir, request, output);
    let report = checker.join().map_err(|_| {
        anyhow::anyhow!("the bundle verification thread panicked; nothing was committed")
    })?;
    if !report.valid {
        return Err(stage_error(archive::verification_refusal(
            &report,
            "; no object was stored",
        )));
    }
    observer.event(&crate::upload::Event::Stage {
        stage: archive::Stage::Verify.to_string(),
        status: "passed".into(),
        detail: format!("content of {deferred} large file(s) matched the manifest before their upload was committed"),
    });
    outcome
}

/// [`deferral_for`] the archive's target; `None` for a dry run, which uploads nothing.
fn deferral(args: &Args) -> anyhow::Result<Option<u64>> {
    if args.dry_run {
        return Ok(None);
    }
    deferral_for(&args.plan.target()?)
}

/// The file size from which a file's content is checked while it uploads rather than before:
/// on S3, files big enough for multipart (their parts go out while the file is hashed, and
/// CompleteMultipartUpload waits for the check); on Azure, files of more than one staged block
/// (Put Block List waits). None for the local vault, which has no invisible staging.
pub(crate) fn deferral_for(target: &Target) -> anyhow::Result<Option<u64>> {
    Ok(match target {
        Target::S3 { .. } => Some(
            crate::store::s3::S3Settings::from_env()?
                .multipart_threshold
                .saturating_add(1),
        ),
        Target::Azure { .. } => {
            Some(crate::store::azure::AzureOptions::default().block_size as u64 + 1)
        }
        _ => None,
    })
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let observer = CliObserver::lines(*output);
    let defer = deferral(&args)?;
    let report = crate::cli::archive::verify_with_progress(
        &args.bundle,
        &args.evidence,
        observer.as_ref(),
        output,
        defer,
    )?;
    let request = args.plan.request(args.evidence.minimum_retention_days)?;
    let plan = archive::plan_bundle(&report, &request, observer.as_ref()).map_err(stage_error)?;
    if args.dry_run {
        output.result(&plan, || render_plan(&plan));
        return Ok(Exit::Ok);
    }
    let execute_request = args.execute.request(&plan, output)?;
    let outcome = execute_verifying(&plan, report, execute_request, observer.as_ref(), output)?;
    record_session(
        &args.execute,
        &args.evidence,
        &args.bundle,
        &outcome,
        output,
    )?;
    output.result(&outcome, || render_outcome(&outcome));
    Ok(Exit::Ok)
}
