//! `wormvault target check TARGET`: is the target really configured for WORM?

use crate::cli::Output;
use crate::cli::common;
use crate::exit::Exit;
use crate::store::{CheckStatus, PreflightOptions};

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
    /// s3://bucket/prefix, azure://account/container/prefix, azure+http://host:port/account/container, file:///path
    pub target: String,
    #[command(flatten)]
    pub preflight: PreflightFlags,
}

/// Flags that relax preflight; each must be named explicitly.
#[derive(Debug, Clone, clap::Args)]
pub struct PreflightFlags {
    /// S3: accept SSE-S3 (AES256) default encryption instead of requiring SSE-KMS.
    #[arg(long)]
    pub allow_sse_s3: bool,
    /// Accept a store that cannot confirm immutability; every receipt then says `enforcement: unconfirmed`.
    #[arg(long)]
    pub accept_unenforced_storage: bool,
}

impl PreflightFlags {
    pub fn options(&self) -> PreflightOptions {
        PreflightOptions {
            allow_sse_s3: self.allow_sse_s3,
            allow_unenforced: self.accept_unenforced_storage,
        }
    }
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        Command::Check(args) => check(args, output),
    }
}

fn check(args: CheckArgs, output: &Output) -> anyhow::Result<Exit> {
    let target = common::parse_target(&args.target)?;
    let runtime = common::runtime()?;
    let report = runtime.block_on(async {
        let store = common::open_store(&target).await?;
        anyhow::Ok(store.preflight(&args.preflight.options()).await?)
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
    } else {
        Exit::Failure
    })
}
