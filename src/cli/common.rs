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
        // While the hashing bar is drawn, a line is printed with the bar out of the way, so
        // neither garbles the other.
        if let Some(spinner) = self
            .spinner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            spinner.suspend(|| self.print(event));
            return;
        }
        self.print(event);
    }

    fn bytes(&self, count: u64) {
        self.count_bytes(count);
    }
}

impl CliObserver {
    fn print(&self, event: &Event) {
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

    fn count_bytes(&self, count: u64) {
        if !self.output.progress_enabled() {
            return;
        }
        let mut slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        let bar = slot.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, draw_target(&self.output));
            bar.set_style(
                ProgressStyle::with_template("{spinner} uploaded {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        bar.inc(count);
    }
}

/// A hashing progress bar on a terminal: bytes of `total` with rate and ETA when the total is
/// known (a bundle directory: the sum of its files), else a byte-counting spinner (a `.tar.gz`,
/// whose unpacked size is known only once read). Returns the hook to put in verify options and
/// the bar to finish.
pub fn hashing_progress(
    output: &Output,
    total: Option<u64>,
) -> (Option<crate::hashing::ProgressHook>, Option<ProgressBar>) {
    if !output.progress_enabled() {
        return (None, None);
    }
    let bar = byte_bar(output, total, "verifying");
    let counter = bar.clone();
    (
        Some(crate::hashing::ProgressHook(Arc::new(move |n| {
            counter.inc(n)
        }))),
        Some(bar),
    )
}

/// A byte bar of `total` with rate and ETA for work reported object by object (downloads of
/// receipted objects), on a terminal. Returns the hook to pass on and the bar to finish.
pub fn bytes_progress(
    output: &Output,
    total: u64,
    label: &str,
) -> (Option<crate::hashing::ProgressHook>, Option<ProgressBar>) {
    if !output.progress_enabled() {
        return (None, None);
    }
    let bar = byte_bar(output, Some(total), label);
    let counter = bar.clone();
    (
        Some(crate::hashing::ProgressHook(Arc::new(move |n| {
            counter.inc(n)
        }))),
        Some(bar),
    )
}

/// Where bars draw: the terminal (`--progress auto`; indicatif hides them elsewhere), or stderr
/// whatever it is (`--progress always`: CI logs that render carriage returns).
pub fn draw_target(output: &Output) -> indicatif::ProgressDrawTarget {
    match output.progress {
        crate::cli::output::Progress::Always => {
            indicatif::ProgressDrawTarget::term_like_with_hz(Box::new(StderrLine), 4)
        }
        _ => indicatif::ProgressDrawTarget::stderr(),
    }
}

/// Stderr as a one-line "terminal" for `--progress always`: each redraw returns to the line's
/// start (`\r`) and clears it, which CI log viewers render as one updating line.
#[derive(Debug)]
struct StderrLine;

impl indicatif::TermLike for StderrLine {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.escape(n, 'A')
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.escape(n, 'B')
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.escape(n, 'C')
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.escape(n, 'D')
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        use std::io::Write;
        writeln!(std::io::stderr().lock(), "{s}")
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        use std::io::Write;
        write!(std::io::stderr().lock(), "{s}")
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.write_str("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        use std::io::Write;
        std::io::stderr().lock().flush()
    }
}

impl StderrLine {
    fn escape(&self, n: usize, code: char) -> std::io::Result<()> {
        use indicatif::TermLike;
        if n == 0 {
            return Ok(());
        }
        self.write_str(&format!("\x1b[{n}{code}"))
    }
}

/// A byte bar (`label [bar] done/total rate eta`) when `total` is known, else a spinner with the
/// bytes done and the rate. Drawn on stderr; log lines go through [`ProgressBar::suspend`].
pub fn byte_bar(output: &Output, total: Option<u64>, label: &str) -> ProgressBar {
    match total {
        Some(total) => {
            let bar = ProgressBar::with_draw_target(Some(total), draw_target(output));
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{label} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }
        None => {
            let bar = ProgressBar::with_draw_target(None, draw_target(output));
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{spinner}} {label}: {{bytes}} ({{bytes_per_sec}})"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        }
    }
}

/// The bytes a bundle's hashing will read, when cheap to know: the regular files of a bundle
/// directory (bundles are flat). `None` for a `.tar.gz` or anything unreadable.
pub fn bundle_bytes(bundle: &std::path::Path) -> Option<u64> {
    let entries = std::fs::read_dir(bundle).ok()?;
    let mut total = 0u64;
    for entry in entries.flatten() {
        let meta = entry.metadata().ok()?;
        if meta.is_file() {
            total = total.saturating_add(meta.len());
        }
    }
    Some(total)
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
