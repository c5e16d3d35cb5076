//! `wormvault status`: the operating status of a tenant audit store — CAVRA's six checks
//! (cavra-compat.md §6), each derived from a real check of the store, the receipts and the
//! audit log. Exit 0 when every check is ready, 1 when any is degraded, blocked or unknown.
//! The report is scanned for secrets before anything is printed; a hit refuses the output.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::Output;
use crate::cli::args::{AuditVerifyArgs, PreflightFlags, parse_target};
use crate::cli::common;
use crate::exit::{Exit, Refusal};
use crate::status::anchor::{AnchorKey, AnchorPolicy};
use crate::status::{self, State, StatusReport, StatusRequest, secrets};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The audit store: file:///path, s3://bucket/prefix, …
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: crate::store::Target,
    /// The audit log the archive pipeline appends `evidence.archived` events to: a JSONL file,
    /// or a log kept in WORM storage (s3://bucket/prefix, azure://…, file:///…).
    #[arg(long, value_name = "FILE|URL")]
    pub audit_log: PathBuf,
    /// Receipts of archived sessions to compare with the store (repeatable, or several values).
    #[arg(long, num_args = 1..)]
    pub receipts: Vec<PathBuf>,
    /// The newest archived evidence must be at most this many hours old.
    #[arg(long, default_value_t = 24)]
    pub freshness_hours: u32,
    /// Archived objects must be retained at least this many days (at most 365000).
    #[arg(long, default_value_t = crate::bundle::DEFAULT_RETENTION_DAYS, value_parser = crate::cli::args::retention_days_u64)]
    pub minimum_retention_days: u64,
    /// Check the audit records' signatures too (otherwise the chain alone is verified).
    #[command(flatten)]
    pub audit_keys: AuditVerifyArgs,
    /// The same preflight relaxations the uploads to this target were made with.
    #[command(flatten)]
    pub preflight: PreflightFlags,
    /// The newest anchor (signed checkpoint under `<log>/checkpoints/`) of the store log named by
    /// `--audit-log s3://…|azure://…|file://…` must be at most this old (e.g. `26h`, `90m`);
    /// folded into evidence_freshness. No anchor, an older one, or one whose signature was not
    /// checked against `--checkpoint-key` is not ready.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_anchor_age: Option<std::time::Duration>,
    /// Ed25519 SPKI PEM public key that signs the log's checkpoints: the anchors under a store
    /// log's `checkpoints/` (with --max-anchor-age; a store log's checkpoints are all checked
    /// against its records) and the checkpoints each archive stored beside its evidence
    /// (`<session>/_wormvault/audit-checkpoint-<N>.txt`), which the log must extend. Without it
    /// those are not checked, and status is not ready.
    #[arg(long, value_name = "PEM")]
    pub checkpoint_key: Option<PathBuf>,
    /// Signed-note key name of the checkpoints (default: each checkpoint's origin line).
    #[arg(long, value_name = "NAME", requires = "checkpoint_key")]
    pub checkpoint_key_name: Option<String>,
    /// The log's origin (the `--origin` of `audit anchor`): a newest anchor for another origin
    /// is a checkpoint of another log and blocks. Without it, the anchor still counts only if
    /// its root matches the log's records at its size.
    #[arg(long, value_name = "ORIGIN", requires = "max_anchor_age")]
    pub origin: Option<String>,
}

/// `26h`, `90m`, `1day 2h` (humantime), greater than zero.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{e} (expected a duration such as 26h or 90m)"))?;
    if duration.is_zero() {
        return Err("the duration must be greater than zero".into());
    }
    Ok(duration)
}

/// The anchor policy of `--max-anchor-age`: the store log is `--audit-log` when it is a target
/// URL (a local JSONL log has no stored anchors).
fn anchor_policy(args: &Args, key: Option<&AnchorKey>) -> anyhow::Result<Option<AnchorPolicy>> {
    let Some(max_age) = args.max_anchor_age else {
        return Ok(None);
    };
    let text = args.audit_log.to_string_lossy();
    if !text.contains("://") {
        anyhow::bail!(
            "--max-anchor-age reads the anchors of a store log, but --audit-log {text} is a local file; name the log as s3://bucket/prefix, azure://… or file:///vault/prefix"
        );
    }
    let log = parse_target(&text).context("--audit-log")?;
    let max_age = chrono::TimeDelta::from_std(max_age)
        .map_err(|_| anyhow::anyhow!("--max-anchor-age is too large"))?;
    Ok(Some(AnchorPolicy {
        log,
        max_age,
        key: key.cloned(),
        origin: args.origin.clone(),
    }))
}

/// The pinned `--checkpoint-key` (never a key found in a store).
fn checkpoint_key(args: &Args) -> anyhow::Result<Option<AnchorKey>> {
    let Some(path) = &args.checkpoint_key else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading --checkpoint-key {}", path.display()))?;
    let key = crate::trust::PublicKey::from_spki_pem(&pem, &path.display().to_string())?;
    Ok(Some(AnchorKey {
        key: key.verifying_key(),
        name: args.checkpoint_key_name.clone(),
    }))
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let pinned = checkpoint_key(&args)?;
    let anchors = anchor_policy(&args, pinned.as_ref())?;
    // A log in a store is read from a copy made after its stored form verified.
    let location = crate::audit::store::LogLocation::from_path(&args.audit_log)?;
    // A local log that is not there is a mistyped path (exit 2), not a blocked store.
    if let crate::audit::store::LogLocation::File(path) = &location
        && !path.exists()
    {
        anyhow::bail!(
            "--audit-log {}: no such file; give the path of the audit log the archive pipeline appends to (or a store log URL such as s3://bucket/prefix)",
            path.display()
        );
    }
    // A store log's stored checkpoints are checked with the pinned key (signature, and the
    // records against each one's tree): a log rewritten behind them is refused.
    let checkpoints = crate::audit::store::verify::Checkpoints {
        key: pinned.as_ref().map(|k| k.key),
        key_name: args.checkpoint_key_name.clone(),
        ignore_bundles: false,
    };
    let log = crate::cli::audit::open_log_checked(
        &args.audit_log,
        &crate::audit::VerifyOptions::default(),
        &checkpoints,
    )?;
    let request = StatusRequest {
        target: args.target,
        audit_log: log.path().to_path_buf(),
        audit_log_name: Some(log.name()),
        receipts: args.receipts,
        freshness: chrono::TimeDelta::hours(i64::from(args.freshness_hours)),
        minimum_retention_days: args.minimum_retention_days,
        now: chrono::Utc::now(),
        audit_signatures: args.audit_keys.signature_check()?,
        preflight: args.preflight.options(),
        anchors,
        checkpoint_key: pinned,
        audit_log_store: log.target().cloned(),
    };
    let runtime = common::runtime()?;
    let report = runtime.block_on(status::status(&request));
    let text = render(&report);
    refuse_secrets(&report, &text)?;
    output.result(&report, || text);
    Ok(if report.status == State::Ready {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

/// Refuse to print a report (JSON or text) that carries anything that looks like a secret.
fn refuse_secrets(report: &StatusReport, text: &str) -> anyhow::Result<()> {
    let value = serde_json::to_value(report).context("rendering the status report")?;
    let mut hits = secrets::scan_value(&value);
    hits.extend(secrets::scan_text(text));
    if hits.is_empty() {
        return Ok(());
    }
    let places: Vec<String> = hits.iter().map(ToString::to_string).collect();
    Err(anyhow::Error::new(Refusal(format!(
        "refusing to print the status report: it contains what looks like a secret ({}); check the target, log and receipts for embedded credentials",
        places.join("; ")
    ))))
}

fn render(report: &StatusReport) -> String {
    let mut text = format!("audit store {}: {}\n", report.target, report.status);
    for check in &report.checks {
        text.push_str(&format!(
            "  {:<21} {:<9} {}\n",
            check.name,
            check.state.to_string(),
            check.reason
        ));
    }
    text
}
