//! `wormvault archive BUNDLE --to TARGET`: the whole pipeline in one command, and the plan and
//! outcome renderings `plan` and `upload` share with it.

use std::path::PathBuf;

use crate::cli::Output;
use crate::cli::args::{EvidenceArgs, ExecuteArgs, PlanArgs, verify_options};
use crate::cli::common::{CliObserver, run_pipeline};
use crate::cli::output::{render_outcome, render_plan};
use crate::exit::Exit;
use crate::pipeline::{self, ArchiveRequest, PlanSource};

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
    let execute = args
        .execute
        .request(options.trust.as_ref(), args.evidence.trust_root.as_deref())?;
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
