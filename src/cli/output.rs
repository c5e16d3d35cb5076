//! Rendering: results go to stdout (human text or `--json`), diagnostics and progress to stderr;
//! the text of a storage plan and an archive outcome (shared by `plan`, `upload`, `archive`).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use serde::Serialize;

use crate::pipeline::ArchiveOutcome;
use crate::pipeline::plan::StoragePlan;

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

/// When progress bars are drawn (`--progress`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// On a terminal, unless `--json` or `--quiet`.
    #[default]
    Auto,
    /// Even when stderr is not a terminal (CI logs that render carriage returns).
    Always,
    /// Never.
    Never,
}

/// How a command reports. Commands never print directly; they go through this.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub progress: Progress,
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

    /// A diagnostic on stderr (suppressed by `--quiet`): a line for humans, or with `--json` a
    /// JSON line `{"kind":"note","message":…}` (stderr carries only JSON lines then).
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            self.diagnostic("note", text.as_ref(), "");
        }
    }

    /// A warning always goes to stderr: `warning: …`, or `{"kind":"warning","message":…}` with
    /// `--json`.
    pub fn warn(&self, text: impl AsRef<str>) {
        self.diagnostic("warning", text.as_ref(), "warning: ");
    }

    fn diagnostic(&self, kind: &str, text: &str, prefix: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = if self.json {
            writeln!(
                stderr,
                "{}",
                serde_json::json!({"kind": kind, "message": text})
            )
        } else {
            writeln!(stderr, "{prefix}{text}")
        };
    }

    /// Progress bars: never with `--json` or `--quiet` (stderr then carries only JSON lines or
    /// nothing), otherwise as `--progress` says (`auto`: only when stderr is a terminal).
    pub fn progress_enabled(&self) -> bool {
        !self.json
            && !self.quiet
            && match self.progress {
                Progress::Auto => std::io::stderr().is_terminal(),
                Progress::Always => true,
                Progress::Never => false,
            }
    }
}

/// A unit enum value as the words its JSON name spells (`already_present` → "already present"),
/// for human text: never Rust's `Debug` names (`AlreadyPresent`).
pub fn words<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name.replace('_', " "),
        Ok(other) => other.to_string(),
        Err(_) => "unknown".into(),
    }
}

/// A legal-hold flag as the store reported it, in words.
pub fn hold_words(flag: Option<bool>) -> &'static str {
    match flag {
        Some(true) => "on",
        Some(false) => "off",
        None => "not reported",
    }
}

/// The text rendering of a storage plan (`plan`, `archive --dry-run`).
pub fn render_plan(plan: &StoragePlan) -> String {
    let mut text = format!(
        "plan for session {} → {}\n  bundle digest {}\n  retention {} until {} ({}){}\n",
        plan.session_id,
        plan.target,
        plan.bundle_digest,
        plan.retention.retention_days,
        plan.retention.retain_until.to_rfc3339(),
        plan.retention.mode,
        plan.retention
            .legal_hold_case
            .as_ref()
            .map(|c| format!(", legal hold for case {c}"))
            .unwrap_or_default()
    );
    for object in &plan.objects {
        text.push_str(&format!(
            "  {}  {} bytes  sha256 {}\n",
            object.key, object.bytes, object.sha256
        ));
    }
    text
}

pub fn render_outcome(outcome: &ArchiveOutcome) -> String {
    let mut text = format!(
        "archived session {} to {}\n  {} objects ({} uploaded, {} already present), every one read back\n  receipts {} (sha256 {}), stored at {}\n  enforcement: {}\n",
        outcome.plan.session_id,
        outcome.plan.target,
        outcome.plan.objects.len(),
        outcome.upload.uploaded,
        outcome.upload.already_present,
        outcome.receipts_path.display(),
        outcome.receipts_sha256,
        outcome.receipts_key,
        outcome.upload.receipts.enforcement.described(),
    );
    if let Some(record) = &outcome.audit_record {
        text.push_str(&format!(
            "  audit event evidence.archived, record {}\n",
            record.get("sequence").cloned().unwrap_or_default()
        ));
    }
    if let Some(anchor) = &outcome.checkpoint {
        text.push_str(&format!(
            "  checkpoint of {} records at {} (stored at {})\n",
            anchor.tree_size,
            anchor.path.display(),
            anchor.key
        ));
    }
    text.push_str(&format!(
        "  {} sidecar(s) for `handoff --from` stored under {}/_wormvault/\n",
        outcome.sidecars.len(),
        outcome.plan.session_prefix
    ));
    if let Some(path) = &outcome.session_record {
        text.push_str(&format!("  session recorded in {}\n", path.display()));
    }
    text
}

/// Tracing events as JSON lines for `--json` runs: `{"kind":"log","level":"WARN","target":…,
/// "message":…, <fields>}`, one per line, so stderr carries only JSON.
pub struct JsonLines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let metadata = event.metadata();
        let mut fields = JsonFields(serde_json::Map::new());
        event.record(&mut fields);
        let mut line = serde_json::Map::new();
        line.insert("kind".into(), "log".into());
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("target".into(), metadata.target().into());
        line.extend(fields.0);
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}

/// Collects an event's fields as JSON strings (numbers and booleans as themselves).
struct JsonFields(serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for JsonFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(
        &mut self,
        field: &tracing::field::Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        // `message` arrives here as format_args!, whose Debug is its Display text.
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}
