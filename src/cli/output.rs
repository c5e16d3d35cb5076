//! Rendering: results go to stdout (human text or `--json`), diagnostics and progress to stderr.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use serde::Serialize;

/// The first failed write of a result to stdout (commands keep going; `cli::run` turns it into
/// the exit code with [`crate::exit::with_stdout`]).
static STDOUT_FAILURE: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// The first stdout write failure of this process, if any.
pub fn stdout_failure() -> Option<std::io::ErrorKind> {
    STDOUT_FAILURE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(std::io::Error::kind)
}

/// Describe the stdout failure for the error line (None for a broken pipe, which is not one).
pub fn stdout_failure_message() -> Option<String> {
    STDOUT_FAILURE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .filter(|e| e.kind() != std::io::ErrorKind::BrokenPipe)
        .map(|e| format!("writing the result to stdout failed: {e}"))
}

fn record_stdout(result: std::io::Result<()>) {
    if let Err(error) = result {
        let mut slot = STDOUT_FAILURE.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(error);
        }
    }
}

/// How a command reports. Commands never print directly; they go through this.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
}

impl Output {
    /// Print a result: `--json` gets the value as one pretty JSON document, humans get `text`.
    pub fn result<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let rendered = serde_json::to_string_pretty(value).unwrap_or_else(|e| {
                format!("{{\"error\":\"could not render result as JSON: {e}\"}}")
            });
            record_stdout(writeln!(stdout, "{rendered}").and_then(|_| stdout.flush()));
        } else {
            let text = text();
            if !text.is_empty() {
                record_stdout(writeln!(stdout, "{}", text.trim_end()).and_then(|_| stdout.flush()));
            }
        }
    }

    /// Progress: JSON lines with `--json`, a human status line otherwise — both on stderr, so
    /// stdout carries only the result document.
    pub fn event<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            if !self.quiet
                && let Ok(line) = serde_json::to_string(value)
            {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        } else if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", text());
        }
    }

    /// A diagnostic for humans on stderr (suppressed by `--quiet`).
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", text.as_ref());
        }
    }

    /// A warning always goes to stderr.
    pub fn warn(&self, text: impl AsRef<str>) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {}", text.as_ref());
    }

    /// Progress bars only when stderr is a terminal and no machine output was asked for.
    pub fn progress_enabled(&self) -> bool {
        !self.json && !self.quiet && std::io::stderr().is_terminal()
    }
}
