//! Helpers shared by subcommands: the async runtime, opening stores, progress rendering.

use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::Output;
use crate::exit::Refusal;
use crate::store::{ImmutableStore, Target};
use crate::upload::{Event, Observer, UploadError};

/// A multi-threaded runtime (the local vault uses `block_in_place`, which needs one).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2),
        )
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn parse_target(text: &str) -> anyhow::Result<Target> {
    Ok(Target::parse(text)?)
}

pub async fn open_store(target: &Target) -> anyhow::Result<Box<dyn ImmutableStore>> {
    crate::store::open(target)
        .await
        .with_context(|| format!("opening {target}"))
}

/// Map upload errors: refusals (preflight, conflicts, read-back differences) exit 1.
pub fn upload_error(error: UploadError) -> anyhow::Error {
    if error.is_refusal() {
        anyhow::Error::new(Refusal(error.to_string()))
    } else {
        anyhow::Error::new(error)
    }
}

/// Renders engine events: a byte progress bar on a terminal, JSON lines with `--json`, short
/// lines on stderr otherwise.
pub struct CliObserver {
    output: Output,
    bar: Option<ProgressBar>,
}

impl CliObserver {
    pub fn new(output: Output, total_bytes: u64) -> Arc<CliObserver> {
        let bar = output.progress_enabled().then(|| {
            let bar = ProgressBar::new(total_bytes);
            bar.set_style(
                ProgressStyle::with_template("{spinner} uploading {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Arc::new(CliObserver { output, bar })
    }

    /// Events as lines only (no byte bar): for the stages before anything is uploaded.
    pub fn lines(output: Output) -> Arc<CliObserver> {
        Arc::new(CliObserver { output, bar: None })
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for CliObserver {
    fn event(&self, event: &Event) {
        let line = || match event {
            Event::Stage {
                stage,
                status,
                detail,
            } => format!(
                "[{stage}] {status}{}",
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ),
            Event::Preflight { target, passed } => format!(
                "preflight {target}: {}",
                if *passed { "passed" } else { "FAILED" }
            ),
            Event::ObjectStarted { key, bytes } => format!("uploading {key} ({bytes} bytes)"),
            Event::ObjectDone { key, outcome } => format!("{key}: {outcome:?}"),
            Event::ReadBack { objects } => format!("reading back {objects} objects"),
        };
        match &self.bar {
            Some(bar) => {
                if !matches!(event, Event::ObjectStarted { .. }) {
                    bar.println(line());
                }
            }
            None => self.output.event(event, line),
        }
    }

    fn bytes(&self, count: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(count);
        }
    }
}

/// A byte-counting spinner for hashing on a terminal (the total is not known before the
/// manifest is read). Returns the hook to put in verify options and the bar to finish.
pub fn hashing_progress(
    output: &Output,
) -> (Option<crate::hashing::ProgressHook>, Option<ProgressBar>) {
    if !output.progress_enabled() {
        return (None, None);
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} verifying: hashed {bytes} ({bytes_per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let counter = bar.clone();
    (
        Some(crate::hashing::ProgressHook(Arc::new(move |n| {
            counter.inc(n)
        }))),
        Some(bar),
    )
}
