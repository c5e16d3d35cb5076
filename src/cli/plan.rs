//! `wormvault plan BUNDLE --to TARGET --output F`: the storage plan alone, for review.

use std::path::PathBuf;

use crate::cli::Output;
use crate::cli::args::{EvidenceArgs, PlanArgs, verify_options};
use crate::cli::common::CliObserver;
use crate::cli::output::render_plan;
use crate::exit::Exit;
use crate::pipeline;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle directory or .tar.gz.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    /// Write the plan here (a directory gets storage-plan.json inside, as CAVRA does). Never overwritten.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let request = args.plan.request(args.evidence.minimum_retention_days)?;
    let (options, spinner) = verify_options(&args.evidence, &args.bundle, output)?;
    let observer = CliObserver::new(*output, spinner);
    let planned = pipeline::plan_only(&args.bundle, options, &request, observer.as_ref());
    observer.finish();
    let (_, plan) = planned?;
    if let Some(path) = &args.output {
        let path = if path.is_dir() {
            path.join("storage-plan.json")
        } else {
            path.clone()
        };
        let mut text = serde_json::to_string_pretty(&plan)?;
        text.push('\n');
        pipeline::write_new(&path, text.as_bytes())?;
        output.note(format!("plan written to {}", path.display()));
    }
    output.note(format!(
        "plan digest {d}: after review, upload exactly this plan with --plan-digest {d}",
        d = plan.digest()
    ));
    output.result(&plan, || render_plan(&plan));
    Ok(Exit::Ok)
}
