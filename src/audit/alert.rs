//! Structured alerts for audit failures: one JSON line naming the failure class (the four names
//! readiness packets require, cavra-compat.md §3 check 7), printed on stderr by the CLI and
//! appended to an alert file for the monitoring pipeline.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

/// The alert classes: the four readiness packets require, plus two that keep a configuration
/// mistake or a wrong key from being reported as tampering (issue #15 item 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    AuditWriteFailure,
    AuditIntegrityFailure,
    AuditRetentionPolicyFailure,
    AuditExportFailure,
    /// A usage or configuration error (missing log or key file, empty key, loose key
    /// permissions): nothing was verified, nothing is known to be tampered with.
    AuditUsageError,
    /// Every signed record fails its signature and nothing else fails: wrong key or key id.
    AuditKeyMismatch,
}

impl AlertKind {
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::AuditWriteFailure => "audit_write_failure",
            AlertKind::AuditIntegrityFailure => "audit_integrity_failure",
            AlertKind::AuditRetentionPolicyFailure => "audit_retention_policy_failure",
            AlertKind::AuditExportFailure => "audit_export_failure",
            AlertKind::AuditUsageError => "audit_usage_error",
            AlertKind::AuditKeyMismatch => "audit_key_mismatch",
        }
    }

    /// Integrity, write, retention and export failures are critical; a usage error or a key
    /// mismatch needs an operator, not an incident response.
    pub fn severity(self) -> &'static str {
        match self {
            AlertKind::AuditUsageError => "error",
            AlertKind::AuditKeyMismatch => "high",
            _ => "critical",
        }
    }
}

/// One alert line.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub alert: AlertKind,
    pub severity: &'static str,
    pub created_at: String,
    pub log: String,
    pub message: String,
}

impl Alert {
    pub fn new(alert: AlertKind, log: &Path, message: impl Into<String>) -> Alert {
        Alert {
            alert,
            severity: alert.severity(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            log: log.display().to_string(),
            message: message.into(),
        }
    }

    /// The alert as one JSON line (no trailing newline).
    pub fn line(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!("{{\"alert\":\"{}\"}}", self.alert.name()))
    }

    /// Append the line to an alert file (created if missing), locked and fsynced.
    pub fn append_to(&self, path: &Path) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.lock()?;
        file.write_all(format!("{}\n", self.line()).as_bytes())?;
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_line_names_the_class() {
        let alert = Alert::new(
            AlertKind::AuditIntegrityFailure,
            Path::new("a.jsonl"),
            "record 3: record_hash mismatch",
        );
        let value: serde_json::Value = serde_json::from_str(&alert.line()).unwrap();
        assert_eq!(value["alert"], "audit_integrity_failure");
        assert_eq!(value["log"], "a.jsonl");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alerts.jsonl");
        alert.append_to(&file).unwrap();
        alert.append_to(&file).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 2);
    }
}
