//! Rendering: results go to stdout (human text or `--json`), diagnostics and progress to stderr.

use std::io::{IsTerminal, Write};

use serde::Serialize;

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
            let _ = writeln!(stdout, "{rendered}");
        } else {
            let text = text();
            if !text.is_empty() {
                let _ = writeln!(stdout, "{}", text.trim_end());
            }
        }
    }

    /// Progress: JSON lines with `--json`, a human status line otherwise — both on stderr, so
    /// stdout carries only the result document.
    pub fn event<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            if !self.quiet {
                if let Ok(line) = serde_json::to_string(value) {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
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
