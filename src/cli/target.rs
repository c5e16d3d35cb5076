//! `wormvault target check TARGET`: is the target really configured for WORM?

use crate::cli::Output;
use crate::cli::args::{PreflightFlags, TargetArg};
use crate::cli::common;
use crate::exit::Exit;
use crate::store::CheckStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Read the target's configuration and judge it: each check pass/warn/fail with a reason.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: TargetArg,
    #[command(flatten)]
    pub preflight: PreflightFlags,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        Command::Check(args) => check(args, output),
    }
}

fn check(args: CheckArgs, output: &Output) -> anyhow::Result<Exit> {
    let report = common::with_store(&args.target.target, async |store| {
        Ok(store.preflight(&args.preflight.options()).await?)
    })?;
    output.result(&report, || {
        let mut text = format!("target {}\n", report.target);
        for check in &report.checks {
            let status = match check.status {
                CheckStatus::Pass => "pass",
                CheckStatus::Warn => "WARN",
                CheckStatus::Fail => "FAIL",
            };
            text.push_str(&format!("  {status:4}  {}: {}\n", check.name, check.detail));
        }
        text.push_str(&format!(
            "enforcement: {}\n{}",
            report.enforcement,
            if report.passed() {
                "ready for WORM uploads"
            } else {
                "NOT ready: uploads to this target are refused"
            }
        ));
        text
    });
    Ok(if report.passed() {
        Exit::Ok
    } else if report.unreadable() {
        // Missing, or the credentials were refused: nothing was judged (exit 2).
        Exit::Error
    } else {
        Exit::Failure
    })
}
