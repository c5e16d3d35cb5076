//! `wormvault plan BUNDLE --to TARGET --output F`: the storage plan alone, for review.

use std::path::{Path, PathBuf};

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
    /// Write the plan here, as CAVRA's `--output DIR` does: a path that is a directory, ends in
    /// `/`, or does not exist and does not end in `.json` is a directory (created if missing)
    /// that gets `storage-plan.json` inside; any other path is the file. Never overwritten: an
    /// existing file is refused (exit 2) before the bundle is verified.
    #[arg(long, value_name = "DIR|FILE.json")]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let request = args.plan.request(args.evidence.minimum_retention_days)?;
    // Refused before any work: nothing is verified, and nothing created, for a plan that could
    // not be written.
    let plan_path = args.output.as_deref().map(plan_file);
    if let Some(path) = &plan_path {
        crate::fs::check_new(path)?;
    }
    let (options, spinner) = verify_options(&args.evidence, &args.bundle, output)?;
    let observer = CliObserver::new(*output, spinner);
    let planned = pipeline::plan_only(&args.bundle, options, &request, observer.as_ref());
    observer.finish();
    let (_, plan) = planned?;
    if let Some(path) = &plan_path {
        let mut text = serde_json::to_string_pretty(&plan)?;
        text.push('\n');
        pipeline::write_new(path, text.as_bytes())?;
        output.note(format!("plan written to {}", path.display()));
    }
    output.note(format!(
        "plan digest {d}: after review, upload exactly this plan with --plan-digest {d}",
        d = plan.digest()
    ));
    output.result(&plan, || render_plan(&plan));
    Ok(Exit::Ok)
}

/// The file `--output PATH` names: `PATH/storage-plan.json` when PATH is a directory, ends in
/// `/`, or does not exist and its extension is not `.json` (CAVRA's `--output DIR`, created when
/// the plan is written); otherwise PATH itself (an existing file, refused as never overwritten).
fn plan_file(path: &Path) -> PathBuf {
    let exists = std::fs::symlink_metadata(path).is_ok();
    let is_dir = path.is_dir()
        || path.as_os_str().as_encoded_bytes().ends_with(b"/")
        || (!exists
            && !path
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("json")));
    if is_dir {
        path.join("storage-plan.json")
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_a_directory_unless_it_is_a_json_file_or_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("existing"), b"x").unwrap();
        std::fs::create_dir(d.join("existing-dir.json")).unwrap();
        let plan = |name: &str| plan_file(&d.join(name));
        assert_eq!(plan("out"), d.join("out/storage-plan.json"));
        assert_eq!(plan("out/"), d.join("out/storage-plan.json"));
        assert_eq!(plan("x.json/"), d.join("x.json/storage-plan.json"));
        assert_eq!(
            plan("existing-dir.json"),
            d.join("existing-dir.json/storage-plan.json")
        );
        assert_eq!(plan("x.json"), d.join("x.json"));
        assert_eq!(plan("X.JSON"), d.join("X.JSON"));
        assert_eq!(plan("existing"), d.join("existing"));
    }
}
