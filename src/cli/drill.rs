//! `wormvault drill tamper|recovery`: the tamper and recovery drills whose evidence JSON
//! readiness packets reference (`tamper_drill_ref`, `recovery_drill_ref`). Exit 0 when the drill
//! passes, 1 when a tamper went uncaught or the restore differs, 2 on usage or I/O errors.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::Serialize;

use crate::cli::Output;
use crate::cli::args::{AuditVerifyArgs, EvidenceArgs, parse_target};
use crate::cli::common;
use crate::drill::{self, RecoveryDrillOptions, TamperOptions};
use crate::exit::{Exit, Refusal};
use crate::receipt::ReceiptSet;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DrillCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DrillCommand {
    /// Tamper with copies of a bundle and an audit log in every way the verifiers know; check each is caught and localised.
    Tamper(TamperArgs),
    /// Restore an archived session from the store into a fresh directory and verify it is the archived bundle.
    Recovery(RecoveryArgs),
}

#[derive(Debug, clap::Args)]
pub struct TamperArgs {
    /// The audit log to copy and tamper with (only read).
    #[arg(long)]
    pub log: PathBuf,
    /// The bundle directory to copy and tamper with (only read).
    #[arg(long)]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    /// Keys that check the audit records' signatures (otherwise only the chain is checked).
    #[command(flatten)]
    pub audit_keys: AuditVerifyArgs,
    /// Where to write the drill evidence JSON (never overwritten).
    #[arg(long)]
    pub output: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RecoveryArgs {
    /// The store the session was archived to (file:///path, s3://bucket/prefix, …).
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: crate::store::Target,
    /// The receipts of the archived session.
    #[arg(long)]
    pub receipts: PathBuf,
    /// A fresh directory to restore into (must not exist).
    #[arg(long)]
    pub output_dir: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    /// Also write the drill evidence JSON here (never overwritten).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        DrillCommand::Tamper(args) => tamper(args, output),
        DrillCommand::Recovery(args) => recovery(args, output),
    }
}

/// Write evidence JSON to a new file (never replacing one).
fn write_evidence<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("rendering drill evidence")?;
    text.push('\n');
    crate::archive::write_new(path, text.as_bytes()).map_err(|e| anyhow!(e))
}

fn tamper(args: TamperArgs, output: &Output) -> anyhow::Result<Exit> {
    if args.output.exists() {
        anyhow::bail!(
            "{} already exists; drill evidence is never overwritten — pass another --output",
            args.output.display()
        );
    }
    let options = TamperOptions {
        bundle: args.evidence.options(output)?,
        audit_signatures: args.audit_keys.signature_check()?,
    };
    let scratch =
        tempfile::tempdir().context("creating a scratch directory for the tampered copies")?;
    let drill = drill::tamper(&args.bundle, &args.log, &options, scratch.path())?;
    write_evidence(&args.output, &drill)?;
    output.result(&drill, || {
        let mut text = format!(
            "tamper drill {}: {} cases, {} passed, {} failed, {} not applicable; inputs {}\n  evidence {}",
            if drill.passed { "PASSED" } else { "FAILED" },
            drill.summary.cases,
            drill.summary.passed,
            drill.summary.failed,
            drill.summary.not_applicable,
            if drill.inputs_unchanged { "unchanged" } else { "CHANGED" },
            args.output.display()
        );
        for case in &drill.cases {
            text.push_str(&format!("\n  {:<15} {:<38} {}", case.outcome.text(), case.id, case.reason));
        }
        text
    });
    Ok(if drill.passed {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

fn recovery(args: RecoveryArgs, output: &Output) -> anyhow::Result<Exit> {
    if let Some(report) = &args.report
        && report.exists()
    {
        anyhow::bail!(
            "{} already exists; drill evidence is never overwritten — pass another --report",
            report.display()
        );
    }
    let target = args.target;
    let receipts = ReceiptSet::load(&args.receipts).map_err(|e| anyhow!(e))?;
    if crate::store::Target::parse(&receipts.target).ok().as_ref() != Some(&target) {
        return Err(anyhow::Error::new(Refusal(format!(
            "receipts {} are for target {}, not {target}; pass the target the session was archived to",
            args.receipts.display(),
            receipts.target
        ))));
    }
    let total = receipts.receipts.iter().map(|r| r.bytes).sum();
    let (progress, bar) = common::bytes_progress(output, total, "restoring");
    let options = RecoveryDrillOptions {
        bundle: args.evidence.options(output)?,
        progress,
    };
    let drill = common::with_store(&target, async |store| {
        Ok(drill::recovery(store, &receipts, &args.receipts, &args.output_dir, &options).await?)
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let drill = drill?;
    if let Some(path) = &args.report {
        write_evidence(path, &drill)?;
    }
    output.result(&drill, || {
        let mut text = format!(
            "recovery drill {}: session {} restored from {} into {}\n  {} objects, {}; bundle {}; digest {}",
            if drill.passed { "PASSED" } else { "FAILED" },
            drill.session_id,
            drill.target,
            drill.destination,
            drill.files.len(),
            if drill.identical { "identical to the receipts" } else { "NOT identical to the receipts" },
            match &drill.bundle {
                Some(bundle) if bundle.valid => "verifies".to_string(),
                Some(bundle) => format!("does NOT verify ({} findings)", bundle.findings.len()),
                None => "not verified".to_string(),
            },
            if drill.bundle_digest_matches { "matches the receipts" } else { "does NOT match the receipts" },
        );
        for problem in &drill.problems {
            text.push_str(&format!("\n  - {problem}"));
        }
        text
    });
    Ok(if drill.passed {
        Exit::Ok
    } else {
        Exit::Failure
    })
}
