//! Exports of the audit log: JSONL as stored, and the SIEM ingestion formats — Splunk HTTP Event
//! Collector events, Azure Monitor Logs Ingestion (Microsoft Sentinel) JSON arrays, Datadog logs
//! intake (v2) JSON arrays, and ArcSight CEF lines — with optional field redaction that keeps
//! the chain links checkable.
//!
//! Redaction replaces a value by `{"redacted": "sha256:<hex SHA-256 of the compact canonical
//! JSON of the original value>"}` and keeps `sequence`, `previous_hash`, `record_hash` and
//! `signature`, so a verifier can still check the links and ordering, and can confirm a
//! disclosed original value against its commitment, but cannot recompute record_hash or the
//! signature of a redacted record (see README, "Audit log"). Given the log's key, the export
//! binds each redacted record's remaining fields with a `redaction_signature` (same algorithm
//! and key over the redacted record), which `audit verify --allow-redacted` checks.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::AuditError;
use crate::canonical;

/// Datadog accepts at most 1000 log entries per intake request.
const DATADOG_BATCH: usize = 1000;
/// Azure Monitor Logs Ingestion accepts at most 1 MB per call; 500 records stay well below.
const SENTINEL_BATCH: usize = 500;
/// Fields a redaction may never touch: they carry the chain (and the redaction binding).
const CHAIN_FIELDS: [&str; 6] = [
    "schema_version",
    "sequence",
    "previous_hash",
    "record_hash",
    "signature",
    REDACTION_SIGNATURE,
];

/// The field added to a redacted record when the export is given the log's key: a signature
/// object (`{"algorithm", "key_id", "value"}`, as `signature`) over [`redaction_payload`].
pub const REDACTION_SIGNATURE: &str = "redaction_signature";

/// What a `redaction_signature` covers: the compact canonical JSON of the redacted record
/// without `signature` and `redaction_signature` — every unredacted field, every redaction
/// commitment, and the chain fields (`sequence`, `previous_hash`, `record_hash`).
pub fn redaction_payload(fields: &Map<String, Value>) -> String {
    let mut view = fields.clone();
    view.remove("signature");
    view.remove(REDACTION_SIGNATURE);
    canonical::compact(&Value::Object(view))
}

/// Export format. The CLI has its own clap enum (`cli::audit::FormatArg`) mapped onto this one,
/// so the library does not depend on clap (#13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The stored lines (spaced canonical JSON), redacted if asked.
    Jsonl,
    /// Splunk HEC `/services/collector/event` events, one JSON object per line.
    SplunkHec,
    /// Azure Monitor Logs Ingestion API bodies (JSON arrays with TimeGenerated), one per line.
    Sentinel,
    /// Datadog `/api/v2/logs` bodies (JSON arrays of at most 1000 entries), one per line.
    Datadog,
    /// ArcSight Common Event Format, one `CEF:0|…` line per record.
    Cef,
}

impl std::fmt::Display for Format {
    /// The `--format` spelling.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Jsonl => "jsonl",
            Format::SplunkHec => "splunk-hec",
            Format::Sentinel => "sentinel",
            Format::Datadog => "datadog",
            Format::Cef => "cef",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub format: Format,
    pub records: u64,
    pub redacted_fields: Vec<String>,
}

/// Check redaction paths up front: dotted paths (`actor`, `metadata.user.email`), never a
/// chain field.
pub fn check_redactions(fields: &[String]) -> Result<(), AuditError> {
    for field in fields {
        let top = field.split('.').next().unwrap_or_default();
        if field.is_empty() || field.split('.').any(str::is_empty) {
            return Err(AuditError::Invalid {
                what: format!("--redact {field:?}"),
                problem: "expected a field name or dotted path like metadata.user".into(),
            });
        }
        if CHAIN_FIELDS.contains(&top) {
            return Err(AuditError::Invalid {
                what: format!("--redact {field:?}"),
                problem: "chain fields (schema_version, sequence, previous_hash, record_hash, signature) cannot be redacted".into(),
            });
        }
    }
    Ok(())
}

/// The redaction marker for a value.
pub fn redaction_marker(value: &Value) -> Value {
    let digest = hex::encode(Sha256::digest(canonical::compact(value).as_bytes()));
    json!({ "redacted": format!("sha256:{digest}") })
}

/// Replace the value at each dotted path (if present) by its marker.
pub fn redact(fields: &mut Map<String, Value>, paths: &[String]) {
    fn at_path(map: &mut Map<String, Value>, parts: &[&str]) {
        match parts {
            [] => {}
            [last] => {
                if let Some(value) = map.get_mut(*last) {
                    *value = redaction_marker(value);
                }
            }
            [first, rest @ ..] => {
                if let Some(Value::Object(next)) = map.get_mut(*first) {
                    at_path(next, rest);
                }
            }
        }
    }
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        at_path(fields, &parts);
    }
}

/// Stream the log at `log` to `out` in `format`. `binder` (the log's signing key) adds a
/// `redaction_signature` to every record a redaction changed; without it a redacted record's
/// unredacted fields are bound by nothing a verifier can check.
pub fn export(
    log: &Path,
    format: Format,
    redactions: &[String],
    binder: Option<&super::Signer>,
    out: &mut dyn Write,
) -> Result<ExportSummary, AuditError> {
    check_redactions(redactions)?;
    let file = File::open(log).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            AuditError::MissingLog {
                path: log.to_path_buf(),
            }
        } else {
            AuditError::Io {
                action: "opening audit log",
                path: log.to_path_buf(),
                source: e,
            }
        }
    })?;
    let write_error = AuditError::io("writing export of", log);
    let mut writer = BatchWriter {
        format,
        out,
        pending: 0,
    };
    let mut records = 0u64;
    for (index, line) in BufReader::with_capacity(128 * 1024, file)
        .split(b'\n')
        .enumerate()
    {
        let line = line.map_err(AuditError::io("reading audit log", log))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |problem: String| AuditError::BadLine {
            path: log.to_path_buf(),
            line: index as u64 + 1,
            problem,
        };
        let text = std::str::from_utf8(&line).map_err(|e| bad(format!("not UTF-8 ({e})")))?;
        let mut fields = match canonical::parse_strict(text) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Err(bad("not a JSON object".into())),
            Err(e) => return Err(bad(format!("not valid JSON ({e})"))),
        };
        let original = (binder.is_some() && !redactions.is_empty()).then(|| fields.clone());
        redact(&mut fields, redactions);
        if let (Some(binder), Some(original)) = (binder, original)
            && original != fields
            && let Some(binding) = binder.sign(&redaction_payload(&fields))?
        {
            fields.insert(REDACTION_SIGNATURE.into(), binding);
        }
        let rendered = render(format, &fields).map_err(bad)?;
        writer.push(&rendered).map_err(|e| AuditError::Io {
            action: "writing export of",
            path: log.to_path_buf(),
            source: e,
        })?;
        records += 1;
    }
    writer.finish().map_err(write_error)?;
    Ok(ExportSummary {
        format,
        records,
        redacted_fields: redactions.to_vec(),
    })
}

/// Groups Sentinel and Datadog entries into JSON arrays of a bounded size, one per line.
struct BatchWriter<'a> {
    format: Format,
    out: &'a mut dyn Write,
    pending: usize,
}

impl BatchWriter<'_> {
    fn limit(&self) -> Option<usize> {
        match self.format {
            Format::Sentinel => Some(SENTINEL_BATCH),
            Format::Datadog => Some(DATADOG_BATCH),
            _ => None,
        }
    }

    fn push(&mut self, rendered: &str) -> std::io::Result<()> {
        let Some(limit) = self.limit() else {
            return writeln!(self.out, "{rendered}");
        };
        if self.pending == 0 {
            self.out.write_all(b"[")?;
        } else {
            self.out.write_all(b",")?;
        }
        self.out.write_all(rendered.as_bytes())?;
        self.pending += 1;
        if self.pending == limit {
            self.out.write_all(b"]\n")?;
            self.pending = 0;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if self.limit().is_some() && self.pending > 0 {
            self.out.write_all(b"]\n")?;
        }
        self.out.flush()
    }
}

fn text_of(fields: &Map<String, Value>, key: &str) -> String {
    match fields.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => canonical::compact(other),
    }
}

fn timestamp(fields: &Map<String, Value>) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    let text = text_of(fields, "created_at");
    chrono::DateTime::parse_from_rfc3339(&text)
        .map_err(|e| format!("created_at {text:?} is not an ISO 8601 timestamp ({e})"))
}

fn render(format: Format, fields: &Map<String, Value>) -> Result<String, String> {
    let record = Value::Object(fields.clone());
    Ok(match format {
        Format::Jsonl => canonical::spaced(&record),
        Format::SplunkHec => {
            // HEC event endpoint: `time` in epoch seconds (fractions allowed), `event` the
            // payload, `fields` indexed fields (flat strings only).
            let time = timestamp(fields)?;
            let mut indexed = Map::new();
            for key in ["event_type", "decision", "tenant_id", "workspace_id"] {
                if let Some(Value::String(text)) = fields.get(key) {
                    indexed.insert(key.into(), Value::from(text.clone()));
                }
            }
            let epoch = time.timestamp() as f64 + f64::from(time.timestamp_subsec_micros()) / 1e6;
            serde_json::to_string(&json!({
                "time": epoch,
                "source": "wormvault:audit-log",
                "sourcetype": "_json",
                "event": record,
                "fields": indexed,
            }))
            .map_err(|e| e.to_string())?
        }
        Format::Sentinel => {
            // Logs Ingestion API: an array of rows; TimeGenerated is the required time column,
            // the other columns are the record's fields (nested values as dynamic).
            let time = timestamp(fields)?;
            let mut row = fields.clone();
            row.insert(
                "TimeGenerated".into(),
                Value::from(time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            );
            serde_json::to_string(&Value::Object(row)).map_err(|e| e.to_string())?
        }
        Format::Datadog => {
            timestamp(fields)?;
            let mut tags = vec![
                format!("event_type:{}", text_of(fields, "event_type")),
                format!("decision:{}", text_of(fields, "decision")),
            ];
            for key in ["tenant_id", "workspace_id"] {
                if let Some(Value::String(text)) = fields.get(key) {
                    tags.push(format!("{key}:{text}"));
                }
            }
            let message = format!(
                "{} {} {} {} -> {}",
                text_of(fields, "event_type"),
                text_of(fields, "actor"),
                text_of(fields, "action"),
                text_of(fields, "target"),
                text_of(fields, "decision")
            );
            serde_json::to_string(&json!({
                "ddsource": "wormvault",
                "service": "wormvault-audit-log",
                "ddtags": tags.join(","),
                "message": message,
                "timestamp": text_of(fields, "created_at"),
                "audit": record,
            }))
            .map_err(|e| e.to_string())?
        }
        Format::Cef => cef_line(fields)?,
    })
}

/// CEF header fields escape `\` and `|`.
fn cef_header(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// CEF extension values escape `\`, `=` and line breaks (as `\n` / `\r`).
fn cef_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(ch),
        }
    }
    out
}

fn cef_line(fields: &Map<String, Value>) -> Result<String, String> {
    let time = timestamp(fields)?;
    let decision = text_of(fields, "decision");
    let severity = match decision.as_str() {
        "block" | "deny" | "denied" | "blocked" | "reject" | "rejected" => 7,
        "require_approval" => 5,
        _ => 3,
    };
    let header = [
        "CEF:0".to_string(),
        "wormvault".into(),
        "wormvault audit log".into(),
        cef_header(env!("CARGO_PKG_VERSION")),
        cef_header(&text_of(fields, "event_type")),
        cef_header(&format!("{} {}", text_of(fields, "action"), decision)),
        severity.to_string(),
    ]
    .join("|");
    let mut extension = vec![
        ("rt", time.timestamp_millis().to_string()),
        ("externalId", text_of(fields, "sequence")),
        ("cat", text_of(fields, "event_type")),
        ("suser", text_of(fields, "actor")),
        ("act", text_of(fields, "action")),
        ("outcome", decision),
        ("cs1Label", "recordHash".into()),
        ("cs1", text_of(fields, "record_hash")),
        ("cs2Label", "previousHash".into()),
        ("cs2", text_of(fields, "previous_hash")),
        ("cs3Label", "tenantId".into()),
        ("cs3", text_of(fields, "tenant_id")),
        ("cs4Label", "workspaceId".into()),
        ("cs4", text_of(fields, "workspace_id")),
        ("cs5Label", "target".into()),
        ("cs5", text_of(fields, "target")),
        ("cs6Label", "evidenceRefs".into()),
        ("cs6", text_of(fields, "evidence_refs")),
        ("msg", text_of(fields, "metadata")),
    ];
    extension.retain(|(_, value)| !value.is_empty());
    let extension: Vec<String> = extension
        .into_iter()
        .map(|(key, value)| format!("{key}={}", cef_value(&value)))
        .collect();
    Ok(format!("{header}|{}", extension.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Map<String, Value> {
        let Value::Object(map) = json!({
            "schema_version": "cavra.audit-log.event.v1", "sequence": 3, "created_at": "2026-07-04T00:00:01+00:00",
            "event_type": "runtime.decision", "actor": "a|b=c\\d", "action": "write", "target": "t\nx",
            "decision": "block", "tenant_id": "t1", "workspace_id": null, "evidence_refs": ["e"],
            "metadata": {"user": {"email": "x@example.com"}}, "previous_hash": "p", "record_hash": "h"
        }) else {
            unreachable!()
        };
        map
    }

    #[test]
    fn cef_escapes_header_and_extension() {
        let line = cef_line(&record()).unwrap();
        assert!(
            line.starts_with("CEF:0|wormvault|wormvault audit log|"),
            "{line}"
        );
        assert!(
            line.contains("|runtime.decision|write block|7|rt=1783123201000 "),
            "{line}"
        );
        assert!(line.contains(r"suser=a|b\=c\\d"), "{line}");
        assert!(line.contains(r"cs5=t\nx"), "{line}");
        assert!(!line.contains("cs4="), "null workspace is omitted: {line}");
    }

    #[test]
    fn redaction_keeps_chain_and_commits_to_value() {
        let mut fields = record();
        redact(
            &mut fields,
            &[
                "metadata.user.email".into(),
                "actor".into(),
                "missing.path".into(),
            ],
        );
        let expected = hex::encode(Sha256::digest(br#""x@example.com""#));
        assert_eq!(
            fields["metadata"]["user"]["email"]["redacted"],
            format!("sha256:{expected}")
        );
        assert_eq!(fields["record_hash"], "h");
        assert!(
            fields["actor"]["redacted"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert!(check_redactions(&["record_hash".into()]).is_err());
        assert!(check_redactions(&["metadata..x".into()]).is_err());
    }

    #[test]
    fn siem_shapes() {
        let fields = record();
        let hec: Value =
            serde_json::from_str(&render(Format::SplunkHec, &fields).unwrap()).unwrap();
        assert_eq!(hec["time"], 1783123201.0);
        assert_eq!(hec["event"]["record_hash"], "h");
        assert_eq!(
            hec["fields"],
            json!({"event_type": "runtime.decision", "decision": "block", "tenant_id": "t1"})
        );
        let row: Value = serde_json::from_str(&render(Format::Sentinel, &fields).unwrap()).unwrap();
        assert_eq!(row["TimeGenerated"], "2026-07-04T00:00:01.000000Z");
        let dd: Value = serde_json::from_str(&render(Format::Datadog, &fields).unwrap()).unwrap();
        assert_eq!(
            dd["ddtags"],
            "event_type:runtime.decision,decision:block,tenant_id:t1"
        );
        assert_eq!(dd["ddsource"], "wormvault");
    }
}
