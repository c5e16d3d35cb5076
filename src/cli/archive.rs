//! `wormvault archive BUNDLE --to TARGET`: the whole pipeline in one command, and the argument
//! groups `plan` and `upload` share with it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::audit::Signer;
use crate::bundle::VerifyOptions;
use crate::cli::Output;
use crate::cli::bundle::{EvidenceArgs, HmacKeyArgs};
use crate::cli::common::{self, CliObserver};
use crate::cli::target::PreflightFlags;
use crate::exit::Exit;
use crate::pipeline::plan::StoragePlan;
use crate::pipeline::{
    self, AnchorSettings, ArchiveOutcome, ArchiveRequest, AuditSettings, ExecuteRequest,
    PlanRequest, PlanSource, SessionSettings,
};
use crate::store::{RetentionMode, Target};
use crate::trust::{KeyPair, TrustStore};

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

/// How to execute a plan: shared by `upload` and `archive`.
#[derive(Debug, clap::Args)]
pub struct ExecuteArgs {
    #[command(flatten)]
    pub preflight: PreflightFlags,
    /// Objects uploaded at once [default: the target's, see `store::default_concurrency`: 16
    /// for S3 (bounded by S3's request rate, not memory: bodies stream from disk), 4 otherwise].
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
    /// The execution half of the request. Key ids not given are taken from the trust root that
    /// holds the key (by fingerprint), so the signatures name the id the auditor's roots use.
    pub fn request(
        &self,
        trust: Option<&TrustStore>,
        trust_roots_file: Option<&Path>,
        output: &Output,
    ) -> anyhow::Result<ExecuteRequest> {
        let receipt_key = match &self.receipts_key {
            Some(path) => {
                let key = crate::trust::load_private_key(path)?;
                let key_id = key_id_for(self.receipts_key_id.clone(), &key, trust);
                Some((key, key_id))
            }
            None => None,
        };
        let audit = match &self.audit_log {
            None => None,
            Some(log) => {
                let signer = audit_signer_pinned(
                    self.audit_signing_key.as_deref(),
                    &HmacKeyArgs {
                        hmac_key_file: self.audit_hmac_key_file.clone(),
                        hmac_key_env: self.audit_hmac_key_env.clone(),
                        legacy_key: None,
                    },
                    self.audit_key_id.clone(),
                    trust,
                    output,
                )?;
                let anchor = match &self.checkpoint_key {
                    Some(path) => Some(AnchorSettings {
                        origin: self.checkpoint_origin.clone(),
                        key: crate::trust::load_private_key(path)?,
                        output: self.checkpoint_out.clone(),
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
            concurrency: self.concurrency,
            preflight: self.preflight.options(),
            receipts_out: self.receipts_out.clone(),
            receipt_key,
            audit,
            session: Some(SessionSettings {
                state_dir: self.state_dir.clone(),
            }),
            trust_roots_file: trust_roots_file.map(Path::to_path_buf),
        })
    }
}

/// The key id a signature names: the one given, else the trust root's for this key, else one
/// derived from the fingerprint.
fn key_id_for(given: Option<String>, key: &KeyPair, trust: Option<&TrustStore>) -> String {
    let fingerprint = key.public().fingerprint();
    given
        .or_else(|| {
            trust?
                .roots()
                .iter()
                .find(|root| root.public_key_sha256 == fingerprint)
                .map(|root| root.key_id.clone())
        })
        .unwrap_or_else(|| crate::trust::default_key_id(&fingerprint))
}

/// The audit signer from an Ed25519 key file or an HMAC secret (file/env); unsigned otherwise.
pub fn audit_signer(
    signing_key: Option<&Path>,
    hmac: &HmacKeyArgs,
    key_id: Option<String>,
    output: &Output,
) -> anyhow::Result<Signer> {
    audit_signer_pinned(signing_key, hmac, key_id, None, output)
}

/// [`audit_signer`], taking an Ed25519 key's id from the trust root that holds it when none is
/// given.
pub fn audit_signer_pinned(
    signing_key: Option<&Path>,
    hmac: &HmacKeyArgs,
    key_id: Option<String>,
    trust: Option<&TrustStore>,
    output: &Output,
) -> anyhow::Result<Signer> {
    if let Some(path) = signing_key {
        let key = crate::trust::load_private_key(path)?;
        let key_id = key_id_for(key_id, &key, trust);
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
        "archived session {} to {}\n  {} objects ({} uploaded, {} already present), every one read back\n  receipts {} (sha256 {}), stored at {}\n  enforcement: {}{}\n",
        outcome.plan.session_id,
        outcome.plan.target,
        outcome.plan.objects.len(),
        outcome.upload.uploaded,
        outcome.upload.already_present,
        outcome.receipts_path.display(),
        outcome.receipts_sha256,
        outcome.receipts_key,
        outcome.upload.receipts.enforcement,
        outcome
            .upload
            .receipts
            .enforcement
            .caveat()
            .map(|c| format!(" — {c}"))
            .unwrap_or_default(),
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
    text.push_str(&format!(
        "  {} sidecar(s) for `handoff --from` stored under {}/_wormvault/\n",
        outcome.sidecars.len(),
        outcome.plan.session_prefix
    ));
    if let Some(path) = &outcome.session_record {
        text.push_str(&format!("  session recorded in {}\n", path.display()));
    }
    text
}

/// Verify options from the evidence flags, with a hashing spinner on a terminal (finish the
/// returned bar when verification is over).
pub fn verify_options(
    evidence: &EvidenceArgs,
    output: &Output,
) -> anyhow::Result<(VerifyOptions, Option<indicatif::ProgressBar>)> {
    let mut options = evidence.options(output)?;
    let (hook, bar) = common::hashing_progress(output);
    options.progress = hook;
    Ok((options, bar))
}

/// Run one pipeline request against its target's store (opened here), with progress.
pub fn run_pipeline(
    target: &Target,
    request: ArchiveRequest,
    spinner: Option<indicatif::ProgressBar>,
    output: &Output,
) -> anyhow::Result<ArchiveOutcome> {
    let observer = CliObserver::new(*output, spinner);
    let runtime = common::runtime()?;
    let result = runtime.block_on(async {
        let store = common::open_store(target).await?;
        Ok::<_, anyhow::Error>(pipeline::archive(request, store.as_ref(), observer.clone()).await?)
    });
    observer.finish();
    result
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let request = args.plan.request(args.evidence.minimum_retention_days)?;
    let (options, spinner) = verify_options(&args.evidence, output)?;
    if args.dry_run {
        let observer = CliObserver::new(*output, spinner);
        let planned = pipeline::plan_only(&args.bundle, options, &request, observer.as_ref());
        observer.finish();
        let (_, plan) = planned?;
        output.result(&plan, || render_plan(&plan));
        return Ok(Exit::Ok);
    }
    let target = request.target.clone();
    let execute = args.execute.request(
        options.trust.as_ref(),
        args.evidence.trust_root.as_deref(),
        output,
    )?;
    let outcome = run_pipeline(
        &target,
        ArchiveRequest {
            bundle: args.bundle.clone(),
            verify: options,
            plan: PlanSource::Fresh(request),
            execute,
        },
        spinner,
        output,
    )?;
    output.result(&outcome, || render_outcome(&outcome));
    Ok(Exit::Ok)
}
