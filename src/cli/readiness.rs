//! `wormvault readiness validate|contract`: CAVRA's enterprise audit-log readiness checks over an
//! evidence packet (cavra-compat.md §3). Exit 0 without blockers, 1 with any.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::Output;
use crate::exit::Exit;
use crate::readiness::{self, Status};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ReadinessCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReadinessCommand {
    /// Check an audit-log evidence packet against the contract.
    Validate(ValidateArgs),
    /// Print the contract: the eight checks and what each requires.
    Contract,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Evidence packet (`cavra.audit-log.evidence.v1` JSON).
    #[arg(long)]
    pub packet: PathBuf,
    /// Sample evidence is a blocker, not a warning.
    #[arg(long)]
    pub require_live: bool,
    /// Also write the JSON report here.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        ReadinessCommand::Validate(args) => validate(args, output),
        ReadinessCommand::Contract => {
            let contract = readiness::contract();
            let value = serde_json::json!({"schema_version": readiness::REPORT_SCHEMA, "input_schema": readiness::PACKET_SCHEMA, "checks": contract});
            output.result(&value, || {
                contract
                    .iter()
                    .enumerate()
                    .map(|(i, item)| format!("{}. {}: {}\n", i + 1, item.name, item.requires))
                    .collect()
            });
            Ok(Exit::Ok)
        }
    }
}

fn validate(args: ValidateArgs, output: &Output) -> anyhow::Result<Exit> {
    let text = crate::limits::read_capped(
        &args.packet,
        crate::limits::MAX_READINESS_PACKET_BYTES,
        "readiness packet",
    )?;
    let packet = args.packet.display().to_string();
    let report = readiness::validate_bytes(&packet, &text, args.require_live);
    if let Some(path) = &args.output {
        let rendered = serde_json::to_string_pretty(&report)? + "\n";
        std::fs::write(path, rendered).with_context(|| format!("writing {}", path.display()))?;
    }
    output.result(&report, || {
        let mut text = format!(
            "{}: {} blocker(s), {} warning(s)\n",
            report.summary.status, report.summary.blocker_count, report.summary.warning_count
        );
        for check in &report.checks {
            let mark = match check.status {
                Status::Pass => "pass",
                Status::Warn => "WARN",
                Status::Blocker => "BLOCKER",
            };
            text.push_str(&format!("  {mark:<7} {}: {}\n", check.name, check.message));
        }
        text
    });
    Ok(if report.ready() {
        Exit::Ok
    } else {
        Exit::Failure
    })
}
