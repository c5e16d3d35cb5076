//! Enterprise audit-log readiness: CAVRA's eight checks over a `cavra.audit-log.evidence.v1`
//! packet and its summary (cavra-compat.md §3). Every input — including invalid JSON, a
//! non-object packet or a section of the wrong type — yields a report; bad input is a blocker,
//! never a crash.

use serde::Serialize;
use serde_json::{Map, Value};

pub const PACKET_SCHEMA: &str = "cavra.audit-log.evidence.v1";
pub const REPORT_SCHEMA: &str = "cavra.audit-log.readiness.v1";
pub const MINIMUM_RETENTION_DAYS: i64 = crate::retention::MINIMUM_RETENTION_DAYS as i64;
pub const STORE_TYPES: [&str; 5] = [
    "azure_immutable_blob",
    "s3_object_lock",
    "postgres_append_only",
    "worn_storage",
    "siem_archive",
];
pub const EXPORT_FORMATS: [&str; 3] = ["jsonl", "siem", "auditor_package"];
pub const ALERTS: [&str; 4] = [
    "audit_write_failure",
    "audit_integrity_failure",
    "audit_retention_policy_failure",
    "audit_export_failure",
];
const OPERATING_REFS: [&str; 4] = [
    "change_control_ref",
    "tamper_drill_ref",
    "recovery_drill_ref",
    "auditor_handoff_ref",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Blocker,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// `blocked`, `ready_with_warnings` or `ready`.
    pub status: &'static str,
    pub blocker_count: usize,
    pub warning_count: usize,
    pub ready_for_enterprise_audit_log_contract: bool,
    pub ready_for_enterprise_live_audit_log: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadinessReport {
    pub schema_version: &'static str,
    pub product: &'static str,
    pub packet: String,
    pub evidence_mode: Value,
    pub require_live: bool,
    pub checks: Vec<Check>,
    /// CAVRA's result (`cavra.audit-log.readiness.v1`) carries `status`, `blocker_count`,
    /// `warning_count` and the two `ready_for_*` flags at the top level; they are written there,
    /// and the same values again under `summary` for scripts written against earlier versions.
    #[serde(flatten)]
    pub result: Summary,
    pub summary: Summary,
}

impl ReadinessReport {
    pub fn ready(&self) -> bool {
        self.summary.blocker_count == 0
    }
}

/// One line of the contract: a check and what it requires.
#[derive(Debug, Clone, Serialize)]
pub struct ContractItem {
    pub name: &'static str,
    pub requires: String,
}

/// The contract a packet must meet, in check order.
pub fn contract() -> Vec<ContractItem> {
    let item = |name, requires: String| ContractItem { name, requires };
    vec![
        item("schema_version", format!("schema_version is {PACKET_SCHEMA:?}")),
        item("evidence_mode", "evidence_mode \"live\" passes; \"sample\" warns (a blocker with --require-live); anything else is a blocker".into()),
        item("storage", format!("storage.separate_from_evidence_bundles, append_only, external_mutation_disabled are true; store_type is one of {}; provider_ref (non-empty string) or provider_refs (non-empty object)", STORE_TYPES.join(", "))),
        item("integrity", "integrity.hash_chained, sample_log_verified, tamper_detection_tested, signature_or_hmac_enabled are true; latest_verification_evidence_ref is non-empty".into()),
        item("retention", format!("retention.retention_days >= {MINIMUM_RETENTION_DAYS} (an integer or a string of one; booleans are not numbers); legal_hold_supported and delete_protection are true; retention_policy_ref is non-empty")),
        item("exports", format!("exports.formats includes {}; redaction_supported, auditor_export_tested, siem_export_tested are true; latest_export_evidence_ref is non-empty", EXPORT_FORMATS.join(", "))),
        item("monitoring", format!("monitoring.alerts includes {}; runbook_ref is non-empty", ALERTS.join(", "))),
        item("operating_evidence", format!("operating_evidence.{} are non-empty", OPERATING_REFS.join(", "))),
    ]
}

/// Validate packet bytes (the file's contents). Invalid UTF-8 or JSON is reported as blockers.
pub fn validate_bytes(packet: &str, bytes: &[u8], require_live: bool) -> ReadinessReport {
    let problem = match std::str::from_utf8(bytes) {
        Err(error) => format!("packet is not UTF-8 ({error}); fix the packet file"),
        Ok(text) => match crate::canonical::parse_strict(text) {
            Ok(value) => return validate(packet, &value, require_live),
            Err(error) => format!("packet is not valid JSON ({error}); fix the packet file"),
        },
    };
    let mut report = validate(packet, &Value::Object(Map::new()), require_live);
    report.checks[0].message = problem;
    report
}

/// Run the eight checks on a parsed packet.
pub fn validate(packet: &str, value: &Value, require_live: bool) -> ReadinessReport {
    let empty = Map::new();
    let (root, root_problem) = match value {
        Value::Object(map) => (map, None),
        other => (
            &empty,
            Some(format!("packet is a JSON {} , not an object", kind(other))),
        ),
    };
    let mut checks = vec![
        check_schema(root, root_problem.as_deref()),
        check_mode(root, require_live),
        section(root, "storage", check_storage),
        section(root, "integrity", check_integrity),
        section(root, "retention", check_retention),
        section(root, "exports", check_exports),
        section(root, "monitoring", check_monitoring),
        section(root, "operating_evidence", check_operating),
    ];
    for check in &mut checks {
        if check.message.is_empty() {
            check.message = "ok".into();
        }
    }
    let blocker_count = checks
        .iter()
        .filter(|c| c.status == Status::Blocker)
        .count();
    let warning_count = checks.iter().filter(|c| c.status == Status::Warn).count();
    let mode = root.get("evidence_mode").cloned().unwrap_or(Value::Null);
    let live = mode.as_str() == Some("live");
    let summary = Summary {
        status: if blocker_count > 0 {
            "blocked"
        } else if warning_count > 0 {
            "ready_with_warnings"
        } else {
            "ready"
        },
        blocker_count,
        warning_count,
        ready_for_enterprise_audit_log_contract: blocker_count == 0,
        ready_for_enterprise_live_audit_log: blocker_count == 0 && live && warning_count == 0,
    };
    ReadinessReport {
        schema_version: REPORT_SCHEMA,
        product: "CAVRA",
        packet: packet.to_string(),
        evidence_mode: mode,
        require_live,
        checks,
        result: summary.clone(),
        summary,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn verdict(name: &'static str, problems: Vec<String>, pass: &str) -> Check {
    if problems.is_empty() {
        Check {
            name,
            status: Status::Pass,
            message: pass.to_string(),
        }
    } else {
        Check {
            name,
            status: Status::Blocker,
            message: problems.join("; "),
        }
    }
}

fn check_schema(root: &Map<String, Value>, root_problem: Option<&str>) -> Check {
    if let Some(problem) = root_problem {
        return Check {
            name: "schema_version",
            status: Status::Blocker,
            message: problem.to_string(),
        };
    }
    match root.get("schema_version") {
        Some(Value::String(s)) if s == PACKET_SCHEMA => verdict(
            "schema_version",
            vec![],
            &format!("schema_version is {PACKET_SCHEMA}"),
        ),
        Some(other) => verdict(
            "schema_version",
            vec![format!(
                "schema_version must be {PACKET_SCHEMA:?}, found {other}"
            )],
            "",
        ),
        None => verdict(
            "schema_version",
            vec![format!(
                "schema_version is missing; it must be {PACKET_SCHEMA:?}"
            )],
            "",
        ),
    }
}

fn check_mode(root: &Map<String, Value>, require_live: bool) -> Check {
    let name = "evidence_mode";
    match root.get(name).and_then(Value::as_str) {
        Some("live") => Check {
            name,
            status: Status::Pass,
            message: "live operating evidence".into(),
        },
        Some("sample") if require_live => Check {
            name,
            status: Status::Blocker,
            message: "evidence_mode is sample but --require-live needs live operating evidence"
                .into(),
        },
        Some("sample") => Check {
            name,
            status: Status::Warn,
            message:
                "sample evidence: the contract shape is met, but not with live operating evidence"
                    .into(),
        },
        _ => Check {
            name,
            status: Status::Blocker,
            message: format!(
                "evidence_mode must be \"live\" or \"sample\", found {}",
                root.get(name).map_or("nothing".into(), Value::to_string)
            ),
        },
    }
}

/// Run a section's checks, or block when the section is missing or not an object.
fn section(
    root: &Map<String, Value>,
    name: &'static str,
    body: fn(&Map<String, Value>) -> Check,
) -> Check {
    match root.get(name) {
        Some(Value::Object(map)) => body(map),
        Some(other) => verdict(
            name,
            vec![format!("{name} must be an object, found a {}", kind(other))],
            "",
        ),
        None => verdict(name, vec![format!("{name} section is missing")], ""),
    }
}

fn require_true(
    map: &Map<String, Value>,
    section: &str,
    keys: &[&str],
    problems: &mut Vec<String>,
) {
    for key in keys {
        if map.get(*key) != Some(&Value::Bool(true)) {
            problems.push(format!("{section}.{key} must be true"));
        }
    }
}

fn non_empty_string(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

fn require_ref(map: &Map<String, Value>, section: &str, key: &str, problems: &mut Vec<String>) {
    if !non_empty_string(map.get(key)) {
        problems.push(format!("{section}.{key} must be a non-empty reference"));
    }
}

fn missing_members(
    map: &Map<String, Value>,
    section: &str,
    key: &str,
    required: &[&str],
    problems: &mut Vec<String>,
) {
    let Some(Value::Array(items)) = map.get(key) else {
        problems.push(format!(
            "{section}.{key} must be a list including {}",
            required.join(", ")
        ));
        return;
    };
    let present: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !present.contains(r))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("{section}.{key} is missing {}", missing.join(", ")));
    }
}

fn check_storage(map: &Map<String, Value>) -> Check {
    let mut problems = Vec::new();
    require_true(
        map,
        "storage",
        &[
            "separate_from_evidence_bundles",
            "append_only",
            "external_mutation_disabled",
        ],
        &mut problems,
    );
    match map.get("store_type").and_then(Value::as_str) {
        Some(store) if STORE_TYPES.contains(&store) => {}
        _ => problems.push(format!(
            "storage.store_type must be one of {}",
            STORE_TYPES.join(", ")
        )),
    }
    let single = non_empty_string(map.get("provider_ref"));
    let many = matches!(map.get("provider_refs"), Some(Value::Object(refs)) if !refs.is_empty());
    if !single && !many {
        problems
            .push("storage needs provider_ref (string) or provider_refs (non-empty object)".into());
    }
    verdict(
        "storage",
        problems,
        "separate, append-only immutable audit storage is declared",
    )
}

fn check_integrity(map: &Map<String, Value>) -> Check {
    let mut problems = Vec::new();
    require_true(
        map,
        "integrity",
        &[
            "hash_chained",
            "sample_log_verified",
            "tamper_detection_tested",
            "signature_or_hmac_enabled",
        ],
        &mut problems,
    );
    require_ref(
        map,
        "integrity",
        "latest_verification_evidence_ref",
        &mut problems,
    );
    verdict(
        "integrity",
        problems,
        "hash chain, signatures and tamper detection are evidenced",
    )
}

/// CAVRA's retention_days: an integer, or a string holding one; booleans are not numbers. An
/// integer of any size counts (Python's `int` has no bound): beyond `i64` it is saturated, so
/// `100000000000000000000` days passes as CAVRA's check passes it. Floats, underscores and other
/// spellings Python's `int()` would also take are refused (fail closed).
fn retention_days(value: Option<&Value>) -> Result<i64, String> {
    match value {
        Some(Value::Number(n)) => integer_text(&n.to_string())
            .ok_or_else(|| format!("retention.retention_days must be an integer, found {n}")),
        Some(Value::String(s)) => integer_text(s)
            .ok_or_else(|| format!("retention.retention_days must be an integer, found {s:?}")),
        Some(Value::Bool(b)) => Err(format!(
            "retention.retention_days must be an integer, found the boolean {b}"
        )),
        Some(other) => Err(format!(
            "retention.retention_days must be an integer, found {other}"
        )),
        None => Err("retention.retention_days is missing".into()),
    }
}

/// A decimal integer (surrounding whitespace and one leading sign allowed), saturated to the
/// range of `i64`; `None` for anything else.
fn integer_text(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match text.parse::<i64>() {
        Ok(n) => Some(n),
        Err(e) => match e.kind() {
            std::num::IntErrorKind::PosOverflow => Some(i64::MAX),
            std::num::IntErrorKind::NegOverflow => Some(i64::MIN),
            _ => None,
        },
    }
}

fn check_retention(map: &Map<String, Value>) -> Check {
    let mut problems = Vec::new();
    match retention_days(map.get("retention_days")) {
        Ok(days) if days >= MINIMUM_RETENTION_DAYS => {}
        Ok(days) => problems.push(format!(
            "retention.retention_days is {days}; at least {MINIMUM_RETENTION_DAYS} is required"
        )),
        Err(problem) => problems.push(problem),
    }
    require_true(
        map,
        "retention",
        &["legal_hold_supported", "delete_protection"],
        &mut problems,
    );
    require_ref(map, "retention", "retention_policy_ref", &mut problems);
    verdict(
        "retention",
        problems,
        "retention of at least 2555 days with legal hold and delete protection",
    )
}

fn check_exports(map: &Map<String, Value>) -> Check {
    let mut problems = Vec::new();
    missing_members(map, "exports", "formats", &EXPORT_FORMATS, &mut problems);
    require_true(
        map,
        "exports",
        &[
            "redaction_supported",
            "auditor_export_tested",
            "siem_export_tested",
        ],
        &mut problems,
    );
    require_ref(map, "exports", "latest_export_evidence_ref", &mut problems);
    verdict(
        "exports",
        problems,
        "jsonl, SIEM and auditor exports are tested, with redaction",
    )
}

fn check_monitoring(map: &Map<String, Value>) -> Check {
    let mut problems = Vec::new();
    missing_members(map, "monitoring", "alerts", &ALERTS, &mut problems);
    require_ref(map, "monitoring", "runbook_ref", &mut problems);
    verdict(
        "monitoring",
        problems,
        "write, integrity, retention and export failures alert, with a runbook",
    )
}

fn check_operating(map: &Map<String, Value>) -> Check {
    let missing: Vec<&str> = OPERATING_REFS
        .iter()
        .copied()
        .filter(|key| !non_empty_string(map.get(*key)))
        .collect();
    if missing.is_empty() {
        verdict(
            "operating_evidence",
            vec![],
            "change control, tamper drill, recovery drill and auditor handoff are evidenced",
        )
    } else {
        verdict(
            "operating_evidence",
            vec![format!(
                "operating_evidence is missing {}",
                missing.join(", ")
            )],
            "",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        serde_json::from_str(include_str!(
            "../tests/fixtures/cavra/enterprise-audit-log.sample.json"
        ))
        .unwrap()
    }

    fn status_of(report: &ReadinessReport, name: &str) -> Status {
        report
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .status
    }

    /// The JSON as CAVRA's own tests read it: the summary at the top level of the result.
    #[test]
    fn the_result_has_cavras_top_level_shape() {
        for (require_live, status, blockers, contract) in [
            (false, "ready_with_warnings", 0, true),
            (true, "blocked", 1, false),
        ] {
            let result = serde_json::to_value(validate("p", &sample(), require_live)).unwrap();
            assert_eq!(result["schema_version"], "cavra.audit-log.readiness.v1");
            assert_eq!(result["status"], status);
            assert_eq!(result["blocker_count"], blockers);
            assert_eq!(result["warning_count"], if require_live { 0 } else { 1 });
            assert_eq!(result["ready_for_enterprise_audit_log_contract"], contract);
            assert_eq!(result["ready_for_enterprise_live_audit_log"], false);
            assert_eq!(result["summary"]["status"], status);
            assert!(
                result["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["name"] == "evidence_mode"
                        && c["status"] == if require_live { "blocker" } else { "warn" })
            );
        }
    }

    #[test]
    fn sample_packet_warns_and_blocks_when_live_required() {
        let report = validate("p", &sample(), false);
        assert_eq!(report.summary.status, "ready_with_warnings");
        assert_eq!(
            (report.summary.blocker_count, report.summary.warning_count),
            (0, 1)
        );
        assert!(report.summary.ready_for_enterprise_audit_log_contract);
        assert!(!report.summary.ready_for_enterprise_live_audit_log);
        let live = validate("p", &sample(), true);
        assert_eq!(live.summary.status, "blocked");
        assert_eq!(status_of(&live, "evidence_mode"), Status::Blocker);
    }

    #[test]
    fn retention_days_types() {
        let mut packet = sample();
        for (days, ok) in [
            (json!(2555), true),
            (json!("2555"), true),
            (json!(2554), false),
            (json!(true), false),
            (json!(2555.5), false),
            (json!("x"), false),
            (json!(" +2555 "), true),
            (json!("-99999999999999999999999"), false),
            (json!("2_555"), false),
            (json!(""), false),
            (json!("+"), false),
            (
                serde_json::from_str::<Value>("100000000000000000000").unwrap(),
                true,
            ),
            (json!("100000000000000000000"), true),
        ] {
            packet["retention"]["retention_days"] = days.clone();
            let report = validate("p", &packet, false);
            assert_eq!(
                status_of(&report, "retention") == Status::Pass,
                ok,
                "{days}"
            );
        }
    }

    #[test]
    fn wrong_types_are_blockers_not_crashes() {
        for packet in [
            json!([]),
            json!("x"),
            json!({"storage": [], "integrity": "yes", "retention": 5, "exports": null, "monitoring": {"alerts": "all"}, "operating_evidence": {}}),
        ] {
            let report = validate("p", &packet, false);
            assert_eq!(report.summary.status, "blocked");
            assert_eq!(report.checks.len(), 8);
        }
        let report = validate_bytes("p", b"{not json", false);
        assert!(report.checks[0].message.contains("not valid JSON"));
        let mut packet = sample();
        packet["operating_evidence"] =
            json!({"change_control_ref": "x", "recovery_drill_ref": " "});
        let report = validate("p", &packet, false);
        assert_eq!(
            report.checks[7].message,
            "operating_evidence is missing tamper_drill_ref, recovery_drill_ref, auditor_handoff_ref"
        );
    }
}
