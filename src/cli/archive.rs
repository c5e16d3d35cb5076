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
#[command(after_help = "Examples:
  # Review what would be stored, then archive to S3 Object Lock with an audit event and anchor
  wormvault archive bundle/ --to s3://evidence-bucket/releases --trust-root trust-roots.json --dry-run
  wormvault archive bundle/ --to s3://evidence-bucket/releases --trust-root trust-roots.json \\
      --audit-log audit.jsonl --audit-signing-key keys/audit.pem --checkpoint-key keys/audit.pem

  # Hold everything for a case from the start (needs the audit log: the case registry)
  wormvault archive bundle/ --to azure://account/container/releases --trust-root trust-roots.json \\
      --legal-hold CASE-42 --audit-log audit.jsonl --audit-signing-key keys/audit.pem

  # A local WORM vault (enforced by wormvault only), then the auditor's package from the store
  wormvault archive bundle/ --to file:///srv/vault --trust-root trust-roots.json \\
      --audit-log audit.jsonl --audit-signing-key keys/audit.pem --checkpoint-key keys/audit.pem
  wormvault handoff --from file:///srv/vault --session SESSION --output handoff.tar.gz

Exit codes: 0 archived, 1 refused (the stage is named; nothing was stored), 2 usage/IO/cloud error.")]
pub struct Args {
    /// Bundle directory or .tar.gz.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    /// Stop after the plan and print it; nothing is written anywhere.
    #[arg(long, help_heading = "Plan (where, how long, held)")]
    pub dry_run: bool,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let request = args.plan.request(args.evidence.minimum_retention_days)?;
    let (options, spinner) = verify_options(&args.evidence, &args.bundle, output)?;
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
