//! `wormvault demo [--dir D]`: the whole pipeline with no cloud, step by step.

use std::path::PathBuf;

use crate::cli::Output;
use crate::cli::common::{self, CliObserver};
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fresh directory to work in (default: ./wormvault-demo-<time>).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let dir = args.dir.unwrap_or_else(|| {
        PathBuf::from(format!(
            "wormvault-demo-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    });
    let quiet_output = Output {
        quiet: true,
        ..*output
    };
    let observer = CliObserver::lines(quiet_output);
    let json = output.json;
    let say = move |step: &crate::demo::Step| {
        if !json {
            println!("[{}] {}", step.step, step.detail);
        }
    };
    let runtime = common::runtime()?;
    let report = runtime.block_on(crate::demo::run(&dir, &say, observer))?;
    output.result(&report, || {
        format!(
            "\ndemo complete in {}\nnext: open {} in a browser, or run `wormvault handoff verify {} --trust-root {}`",
            report.directory.display(),
            report.directory.join("handoff-report.html").display(),
            report.handoff.display(),
            report.directory.join("trust-roots.json").display()
        )
    });
    Ok(if report.handoff_valid {
        Exit::Ok
    } else {
        Exit::Failure
    })
}
