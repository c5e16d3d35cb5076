//! `wormvault plan BUNDLE --to TARGET --output F`: the storage plan alone, for review.

use std::path::PathBuf;

use crate::archive;
use crate::cli::Output;
use crate::cli::archive::{PlanArgs, render_plan, stage_error};
use crate::cli::bundle::EvidenceArgs;
use crate::cli::common::CliObserver;
use crate::exit::Exit;

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
    let observer = CliObserver::lines(*output);
    let report = crate::cli::archive::verify_with_progress(
        &args.bundle,
        &args.evidence,
        observer.as_ref(),
        output,
        None,
    )?;
    let request = args.plan.request(args.evidence.minimum_retention_days)?;
    let plan = archive::plan_bundle(&report, &request, observer.as_ref()).map_err(stage_error)?;
    if let Some(path) = &args.output {
        let path = if path.is_dir() {
            path.join("storage-plan.json")
        } else {
            path.clone()
        };
        let mut text = serde_json::to_string_pretty(&plan)?;
        text.push('\n');
        archive::write_new(&path, text.as_bytes()).map_err(anyhow::Error::msg)?;
        output.note(format!("plan written to {}", path.display()));
    }
    output.result(&plan, || render_plan(&plan));
    Ok(Exit::Ok)
}
