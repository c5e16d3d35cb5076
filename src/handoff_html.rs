//! The human-readable handoff report: one self-contained HTML page (no scripts, no external
//! resources) an auditor can open offline, saying what was verified, when, by which key, where
//! each object lives and until when it is locked.

use serde::{Deserialize, Serialize};

/// One verification step, as shown to the auditor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportCheck {
    pub name: String,
    /// True only when the check ran and passed.
    pub passed: bool,
    /// `pass`, `fail` or `unchecked` (could not be checked: not a pass).
    #[serde(default)]
    pub status: String,
    pub detail: String,
}

/// One legal-hold event from the checkpointed audit segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportHold {
    pub sequence: u64,
    pub created_at: String,
    pub event: String,
    pub case: String,
    pub actor: String,
    pub reason: String,
    pub objects: usize,
}

/// One stored object, as shown to the auditor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportObject {
    pub path: String,
    pub location: String,
    pub version_id: Option<String>,
    pub sha256: String,
    pub bytes: u64,
    pub retention_mode: String,
    pub retain_until: String,
    pub legal_hold: String,
    pub enforcement: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportView {
    pub session_id: String,
    pub target: String,
    pub bundle_digest: String,
    pub verified_at: String,
    pub signer: String,
    pub signing_key: String,
    pub valid: bool,
    /// `VERIFIED`, `FAILED`, `UNPINNED` or `INCOMPLETE`.
    pub verdict: String,
    /// `store`, `tool` or `unconfirmed`.
    pub enforcement: String,
    pub archived_at: Option<String>,
    pub checks: Vec<ReportCheck>,
    pub objects: Vec<ReportObject>,
    pub holds: Vec<ReportHold>,
    pub hold_state_source: String,
    /// (kind, detail) of every finding.
    pub findings: Vec<(String, String)>,
}

/// HTML-escape text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

pub fn render(view: &ReportView) -> String {
    let verdict = match view.verdict.as_str() {
        "VERIFIED" if view.valid => "VERIFIED",
        "UNPINNED" => "UNPINNED — not verified: no trusted key was pinned",
        "INCOMPLETE" => "INCOMPLETE — not verified: some signatures could not be checked",
        _ => "VERIFICATION FAILED",
    };
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str(&format!(
        "<title>wormvault handoff: {}</title>\n",
        escape(&view.session_id)
    ));
    html.push_str(
        "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%;margin:1em 0}\
         th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;font-size:13px;vertical-align:top}\
         th{background:#eee}.ok{color:#0a6b0a;font-weight:bold}.bad{color:#b00020;font-weight:bold}\
         code{font-size:12px;word-break:break-all}</style>\n</head>\n<body>\n",
    );
    html.push_str(&format!(
        "<h1>Evidence handoff: session <code id=\"session\">{}</code></h1>\n",
        escape(&view.session_id)
    ));
    html.push_str(&format!(
        "<p id=\"verdict\" class=\"{}\">{verdict}</p>\n",
        if view.valid { "ok" } else { "bad" }
    ));
    if view.enforcement != "store" {
        html.push_str(&format!(
            "<p id=\"enforcement\" class=\"bad\">Enforcement: {} — locked by wormvault only — the storage does not enforce it.</p>\n",
            escape(&view.enforcement)
        ));
    }
    if !view.findings.is_empty() {
        html.push_str("<h2>Findings</h2>\n<ul id=\"findings\">\n");
        for (kind, detail) in &view.findings {
            html.push_str(&format!(
                "<li><code>{}</code> {}</li>\n",
                escape(kind),
                escape(detail)
            ));
        }
        html.push_str("</ul>\n");
    }
    let archived_at = view
        .archived_at
        .clone()
        .unwrap_or_else(|| "not proven".into());
    html.push_str("<table>\n");
    for (label, value) in [
        ("Archived at (proven by the audit log)", &archived_at),
        ("Verified at", &view.verified_at),
        ("Storage target", &view.target),
        (
            "Bundle digest (SHA-256 of the canonical manifest)",
            &view.bundle_digest,
        ),
        ("Signer", &view.signer),
        ("Signing key", &view.signing_key),
    ] {
        html.push_str(&format!(
            "<tr><th>{}</th><td><code>{}</code></td></tr>\n",
            escape(label),
            escape(value)
        ));
    }
    html.push_str("</table>\n<h2>What was verified</h2>\n<table id=\"checks\">\n<tr><th>Check</th><th>Result</th><th>Detail</th></tr>\n");
    for check in &view.checks {
        html.push_str(&format!(
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>\n",
            escape(&check.name),
            if check.passed { "ok" } else { "bad" },
            match (check.passed, check.status.as_str()) {
                (true, _) => "pass",
                (false, "unchecked") => "UNCHECKED",
                _ => "FAIL",
            },
            escape(&check.detail)
        ));
    }
    html.push_str("</table>\n<h2>Where each object lives and until when it is locked</h2>\n<table id=\"objects\">\n");
    html.push_str("<tr><th>File</th><th>Location</th><th>Version</th><th>SHA-256</th><th>Bytes</th><th>Mode</th><th>Locked until</th><th>Legal hold</th><th>Enforced by</th></tr>\n");
    for object in &view.objects {
        html.push_str(&format!(
            "<tr class=\"object\"><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&object.path),
            escape(&object.location),
            escape(object.version_id.as_deref().unwrap_or("—")),
            escape(&object.sha256),
            object.bytes,
            escape(&object.retention_mode),
            escape(&object.retain_until),
            escape(&object.legal_hold),
            escape(&object.enforcement),
        ));
    }
    html.push_str(&format!(
        "</table>\n<h2>Legal hold timeline</h2>\n<p id=\"hold-source\">Hold state shown above: {}</p>\n<table id=\"holds\">\n<tr><th>Record</th><th>Time</th><th>Event</th><th>Case</th><th>Actor</th><th>Reason</th><th>Objects</th></tr>\n",
        escape(&view.hold_state_source)
    ));
    if view.holds.is_empty() {
        html.push_str(
            "<tr><td colspan=\"7\">No hold was set or released after the archive.</td></tr>\n",
        );
    }
    for hold in &view.holds {
        html.push_str(&format!(
            "<tr class=\"hold\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            hold.sequence,
            escape(&hold.created_at),
            escape(&hold.event),
            escape(&hold.case),
            escape(&hold.actor),
            escape(&hold.reason),
            hold.objects
        ));
    }
    html.push_str("</table>\n<p>Produced by wormvault. Re-check offline with <code>wormvault handoff verify PACKAGE --trust-root ROOTS.json</code>; add <code>--online TARGET</code> to compare with the store.</p>\n</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_user_controlled() {
        let view = ReportView {
            session_id: "<script>alert(1)</script>".into(),
            target: "s3://b/p".into(),
            bundle_digest: "ab".into(),
            verified_at: "now".into(),
            signer: "a&b".into(),
            signing_key: "k".into(),
            valid: false,
            verdict: "FAILED".into(),
            enforcement: "tool".into(),
            archived_at: None,
            checks: vec![ReportCheck {
                name: "x\"y".into(),
                passed: false,
                status: "fail".into(),
                detail: "'d'".into(),
            }],
            objects: vec![],
            holds: vec![],
            hold_state_source: "as of packaging".into(),
            findings: vec![],
        };
        let html = render(&view);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            html.contains("a&amp;b") && html.contains("x&quot;y") && html.contains("&#39;d&#39;")
        );
        assert!(html.contains("VERIFICATION FAILED"));
        assert!(html.contains("locked by wormvault only — the storage does not enforce it"));
    }
}
