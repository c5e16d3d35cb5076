//! Helpers shared by subcommands: the async runtime, opening a store ([`with_store`]),
//! progress rendering.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::Output;
use crate::pipeline::{self, ArchiveOutcome, ArchiveRequest, Event, Observer};
use crate::store::{ImmutableStore, Target};

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

/// Open the target's store on a fresh runtime and run `f` with it: the one place a command
/// goes from a target to a store.
pub fn with_store<T>(
    target: &Target,
    f: impl AsyncFnOnce(&dyn ImmutableStore) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    runtime()?.block_on(async {
        let store = crate::store::open(target)
            .await
            .with_context(|| format!("opening {target}"))?;
        f(store.as_ref()).await
    })
}

/// Renders engine events: JSON lines with `--json`, short lines on stderr otherwise; on a
/// terminal, the hashing spinner until verification is over, then a byte bar while uploading.
pub struct CliObserver {
    output: Output,
    spinner: Mutex<Option<ProgressBar>>,
    bar: Mutex<Option<ProgressBar>>,
}

impl CliObserver {
    /// `spinner`: the hashing spinner of the verify stage, cleared at the first stage event.
    pub fn new(output: Output, spinner: Option<ProgressBar>) -> Arc<CliObserver> {
        Arc::new(CliObserver {
            output,
            spinner: Mutex::new(spinner),
            bar: Mutex::new(None),
        })
    }

    /// Events as lines only (no bars).
    pub fn lines(output: Output) -> Arc<CliObserver> {
        CliObserver::new(output, None)
    }

    pub fn finish(&self) {
        for slot in [&self.spinner, &self.bar] {
            if let Some(bar) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Observer for CliObserver {
    fn event(&self, event: &Event) {
        if let Event::Stage { .. } = event
            && let Some(spinner) = self
                .spinner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
        {
            spinner.finish_and_clear();
        }
        if let Event::Warning { message } = event {
            // Warnings are never suppressed (not even by --quiet).
            if self.output.json {
                self.output.event(event, String::new);
                if self.output.quiet {
                    self.output.warn(message);
                }
            } else {
                self.output.warn(message);
            }
            return;
        }
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
            Event::Warning { message } => format!("warning: {message}"),
            Event::Preflight { target, passed } => format!(
                "preflight {target}: {}",
                if *passed { "passed" } else { "FAILED" }
            ),
            Event::ObjectStarted { key, bytes } => format!("uploading {key} ({bytes} bytes)"),
            Event::ObjectDone { key, outcome } => {
                format!("{key}: {}", crate::cli::output::words(outcome))
            }
            Event::ReadBack { objects } => format!("reading back {objects} objects"),
        };
        match self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(bar) => {
                if !matches!(event, Event::ObjectStarted { .. }) {
                    bar.println(line());
                }
            }
            None => self.output.event(event, line),
        }
    }

    fn bytes(&self, count: u64) {
        if !self.output.progress_enabled() {
            return;
        }
        let mut slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        let bar = slot.get_or_insert_with(|| {
            let bar = ProgressBar::no_length();
            bar.set_style(
                ProgressStyle::with_template("{spinner} uploaded {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        bar.inc(count);
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

/// Run one pipeline request against its target's store (opened here), with progress.
pub fn run_pipeline(
    target: &Target,
    request: ArchiveRequest,
    spinner: Option<indicatif::ProgressBar>,
    output: &Output,
) -> anyhow::Result<ArchiveOutcome> {
    let observer = CliObserver::new(*output, spinner);
    let result = with_store(target, async |store| {
        Ok(pipeline::archive(request, store, observer.clone()).await?)
    });
    observer.finish();
    result
}
