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
use crate::status::{self, State, StatusReport, StatusRequest, secrets};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The audit store: file:///path, s3://bucket/prefix, …
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: crate::store::Target,
    /// The audit log the archive pipeline appends `evidence.archived` events to.
    #[arg(long)]
    pub audit_log: PathBuf,
    /// Receipts of archived sessions to compare with the store (repeatable, or several values).
    #[arg(long, num_args = 1..)]
    pub receipts: Vec<PathBuf>,
    /// The newest archived evidence must be at most this many hours old.
    #[arg(long, default_value_t = 24)]
    pub freshness_hours: u32,
    /// Archived objects must be retained at least this many days.
    #[arg(long, default_value_t = crate::bundle::DEFAULT_RETENTION_DAYS)]
    pub minimum_retention_days: u64,
    /// Check the audit records' signatures too (otherwise the chain alone is verified).
    #[command(flatten)]
    pub audit_keys: AuditVerifyArgs,
    /// The same preflight relaxations the uploads to this target were made with.
    #[command(flatten)]
    pub preflight: PreflightFlags,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let request = StatusRequest {
        target: args.target,
        audit_log: args.audit_log,
        receipts: args.receipts,
        freshness: chrono::TimeDelta::hours(i64::from(args.freshness_hours)),
        minimum_retention_days: args.minimum_retention_days,
        now: chrono::Utc::now(),
        audit_signatures: args.audit_keys.signature_check()?,
        preflight: args.preflight.options(),
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
