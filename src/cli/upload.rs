//! `wormvault upload --plan F BUNDLE`: execute a reviewed plan. The pipeline verifies the
//! bundle again and refuses a plan that no longer describes it exactly (digest, every file
//! covered once, retention) before anything is written (`pipeline::reviewed`).

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::Output;
use crate::cli::args::{EvidenceArgs, ExecuteArgs, verify_options};
use crate::cli::common::{CliObserver, run_pipeline};
use crate::cli::output::{render_outcome, render_plan};
use crate::exit::Exit;
use crate::pipeline::plan::StoragePlan;
use crate::pipeline::{self, ArchiveRequest, PlanSource};
use crate::store::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle the plan was made from (directory or .tar.gz); it is verified again.
    pub bundle: PathBuf,
    /// The reviewed plan (from `wormvault plan --output`).
    #[arg(long)]
    pub plan: PathBuf,
    /// The digest of the plan that was reviewed, as `wormvault plan` printed it: the upload
    /// refuses any other plan. Without it, the plan's own choices (target, session, mode, hold
    /// case, retention) are taken from the file, checked only for consistency with the bundle.
    #[arg(long, value_name = "SHA256")]
    pub plan_digest: Option<String>,
    /// Accept a plan that asks for GOVERNANCE (S3) / Unlocked (Azure) retention: a weaker lock
    /// is never taken from the plan file alone.
    #[arg(long)]
    pub governance: bool,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    /// Verify the bundle and check the reviewed plan against it, print what would be uploaded,
    /// and stop: no store is contacted and nothing is written.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let plan = StoragePlan::load(&args.plan)?;
    pipeline::reviewed::check_restated(
        &plan,
        &pipeline::reviewed::Restated {
            pinned_digest: args.plan_digest.clone(),
            governance: args.governance,
        },
    )
    .with_context(|| format!("upload --plan {}", args.plan.display()))?;
    if args.plan_digest.is_none() {
        output.note(format!(
            "the plan's choices (target, session, mode, hold case, retention) are taken from {}; pin the reviewed plan with --plan-digest {}",
            args.plan.display(),
            plan.digest()
        ));
    }
    let target = Target::parse(&plan.target)?;
    let (options, spinner) = verify_options(&args.evidence, &args.bundle, output)?;
    let minimum_retention_days = u32::try_from(args.evidence.minimum_retention_days)
        .map_err(|_| anyhow::anyhow!("--minimum-retention-days is out of range"))?;
    if args.dry_run {
        let observer = CliObserver::new(*output, spinner);
        let checked = pipeline::reviewed_only(
            &args.bundle,
            options,
            &plan,
            minimum_retention_days,
            observer.as_ref(),
        );
        observer.finish();
        checked.with_context(|| format!("upload --plan {} --dry-run", args.plan.display()))?;
        output.note("dry run: the reviewed plan covers the verified bundle; nothing was written");
        output.result(&plan, || render_plan(&plan));
        return Ok(Exit::Ok);
    }
    let execute = args
        .execute
        .request(options.trust.as_ref(), args.evidence.trust_root.as_deref())?;
    let outcome = run_pipeline(
        &target,
        ArchiveRequest {
            bundle: args.bundle.clone(),
            verify: options,
            plan: PlanSource::Reviewed {
                plan: Box::new(plan),
                minimum_retention_days,
            },
            execute,
        },
        spinner,
        output,
    )
    .with_context(|| format!("upload --plan {}", args.plan.display()))?;
    output.result(&outcome, || render_outcome(&outcome));
    Ok(Exit::Ok)
}
