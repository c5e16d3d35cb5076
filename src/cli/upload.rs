//! `wormvault upload --plan F BUNDLE`: execute a reviewed plan; refuses if the bundle no longer
//! matches the digest the plan was made from.

use std::path::PathBuf;

use crate::archive;
use crate::cli::archive::{render_outcome, stage_error, ExecuteArgs};
use crate::cli::bundle::EvidenceArgs;
use crate::cli::common::CliObserver;
use crate::cli::Output;
use crate::exit::{Exit, Refusal};
use crate::plan::StoragePlan;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle the plan was made from (directory or .tar.gz); it is verified again.
    pub bundle: PathBuf,
    /// The reviewed plan (from `wormvault plan --output`).
    #[arg(long)]
    pub plan: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let plan = StoragePlan::load(&args.plan)?;
    let options = args.evidence.options(output)?;
    let observer = CliObserver::new(*output, 0);
    let report = archive::verify_bundle(&args.bundle, &options, observer.as_ref()).map_err(stage_error)?;
    let digest = report.digest.clone().unwrap_or_default();
    if digest != plan.bundle_digest {
        return Err(anyhow::Error::new(Refusal(format!(
            "bundle {} has digest {digest}, but the plan {} was made for {}; the bundle changed after review — make and review a new plan",
            args.bundle.display(),
            args.plan.display(),
            plan.bundle_digest
        ))));
    }
    // Every planned object must be a file of the verified bundle with the same digest.
    for object in &plan.objects {
        let verified = report.files.iter().find(|f| f.path == object.path).map(|f| f.sha256.as_str());
        let ok = match verified {
            Some(sha) => sha == object.sha256,
            None => object.path == "manifest.json",
        };
        if !ok {
            return Err(anyhow::Error::new(Refusal(format!(
                "plan object {} does not match the verified bundle file {}",
                object.key, object.path
            ))));
        }
    }
    let request = args.execute.request(&plan, output)?;
    let outcome = crate::cli::archive::execute(&plan, &report.bundle_dir, request, output)?;
    crate::cli::archive::record_session(&args.execute, &args.evidence, &args.bundle, &outcome, output)?;
    output.result(&outcome, || render_outcome(&outcome));
    Ok(Exit::Ok)
}
