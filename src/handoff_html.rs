//! The human-readable handoff report: one self-contained HTML page (no scripts, no external
//! resources, print-ready) an auditor can open offline, saying first and unmistakably what the
//! verdict is, then what was verified (stable check kinds beside plain-English names), where
//! each object lives and until when it is locked (a retention timeline), and the custody and
//! hold history (archive, holds by case, the signed checkpoint) — issue #18 item 5, issue #14
//! items 5 and 6.
//!
//! The page is rendered by an askama template (`templates/handoff-report.html`, checked at
//! compile time, HTML auto-escaping on): everything taken from the package is untrusted text and
//! reaches the page only escaped. Rendering is deterministic — the only times on the page are
//! the report's own (its "today" is the report's `verified_at`), so `handoff verify` can compare
//! a stored page with what the stored JSON report renders to (issue #14 item 8).

use askama::Template;
use chrono::{DateTime, Datelike, TimeZone, Utc};
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

/// The package's signed checkpoint: how many audit records it covers, and when the last of
/// them was written (its place on the custody timeline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportCheckpoint {
    pub records: u64,
    pub last_record_at: Option<String>,
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
    #[serde(default)]
    pub checkpoint: Option<ReportCheckpoint>,
    /// (kind, detail) of every finding.
    pub findings: Vec<(String, String)>,
}

/// The plain-English name shown beside a check's stable kind (the kind stays the key machines
/// and tests use; an unknown kind is shown as itself).
pub fn check_title(kind: &str) -> &'static str {
    match kind {
        "package_contents" => "Every file in the package matches the package index",
        "trust_pinned" => "Signatures are checked against keys the auditor pinned",
        "bundle_signature_and_files" => "Every file matches the signed manifest",
        "plan_matches_bundle" => "The storage plan covers exactly the bundle's files",
        "one_story" => "Plan, receipts, index and audit event tell one story",
        "receipts_signature" => "The storage receipts are signed by a pinned key",
        "retention_minimum" => "Every object is locked long enough after the proven archive time",
        "audit_chain" => "The audit log is an unbroken, signed hash chain",
        "checkpoint_signature" => "The audit checkpoint is signed by a pinned key",
        "checkpoint_matches_log" => "The checkpoint covers exactly this audit log",
        "archive_event_proofs" => "The archive event is proved to be in the signed checkpoint",
        "store_matches_receipts" => "The store, read now, matches the receipts",
        "stored_reports" => "The reports stored in the package match the recomputed ones",
        _ => "",
    }
}

// Geometry of both timelines in SVG user units (the SVG is 960 wide and scales to the page;
// the template draws the axes from PLOT_LEFT to PLOT_RIGHT and labels right-aligned at 240).
const PLOT_LEFT: f64 = 250.0;
const PLOT_RIGHT: f64 = 850.0;
const ROW: f64 = 22.0;
const TOP: f64 = 34.0;
/// At most this many objects get a bar (the table below lists every object).
const MAX_BARS: usize = 200;
/// At most this many case lanes; later cases share one "other cases" lane.
const MAX_LANES: usize = 24;
/// Longest label drawn beside a bar or lane (the full text is in its tooltip and the tables).
const MAX_LABEL: usize = 34;

struct CheckRow<'a> {
    kind: &'a str,
    title: &'static str,
    class: &'static str,
    result: &'static str,
    detail: &'a str,
}

struct Tick {
    x: String,
    label: String,
}

struct Bar {
    label: String,
    title: String,
    x: String,
    width: String,
    y: String,
    text_y: String,
    end_x: String,
    until: String,
    class: &'static str,
}

struct Retention {
    height: String,
    axis_y: String,
    ticks: Vec<Tick>,
    today_x: String,
    today_label: String,
    bars: Vec<Bar>,
    /// Objects not drawn: (path, why).
    unplotted: Vec<(String, String)>,
    beyond_cap: usize,
}

struct Mark {
    x: String,
    y: String,
    class: &'static str,
    title: String,
}

struct Span {
    x: String,
    y: String,
    width: String,
    title: String,
}

struct Lane {
    label: String,
    title: String,
    text_y: String,
    line_y: String,
}

struct Custody {
    height: String,
    axis_y: String,
    ticks: Vec<Tick>,
    today_x: String,
    today_label: String,
    lanes: Vec<Lane>,
    spans: Vec<Span>,
    marks: Vec<Mark>,
    /// Events whose time is not a date: (event, time as given).
    unplotted: Vec<(String, String)>,
}

struct CustodyRow<'a> {
    class: &'static str,
    record: String,
    time: &'a str,
    event: &'a str,
    case: &'a str,
    actor: &'a str,
    reason: &'a str,
    objects: String,
}

#[derive(Template)]
#[template(path = "handoff-report.html")]
struct Page<'a> {
    v: &'a ReportView,
    version: &'static str,
    verdict_class: &'static str,
    verdict_text: &'static str,
    verdict_note: &'static str,
    tool_only: Option<&'static str>,
    archived_at: &'a str,
    checks: Vec<CheckRow<'a>>,
    retention: Option<Retention>,
    custody: Option<Custody>,
    custody_rows: Vec<CustodyRow<'a>>,
}

/// Render the page. Infallible: the template only formats strings; should formatting ever
/// fail, a minimal page still carries the verdict (never a success it cannot show).
pub fn render(view: &ReportView) -> String {
    let page = page(view);
    page.render().unwrap_or_else(|e| {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>wormvault handoff</title></head><body><p id=\"verdict\" class=\"{}\">{}</p><p>The full report could not be rendered: {}</p></body></html>\n",
            page.verdict_class,
            page.verdict_text,
            askama::filters::escape(e.to_string(), askama::filters::Html)
                .map(|s| s.to_string())
                .unwrap_or_default()
        )
    })
}

fn page(v: &ReportView) -> Page<'_> {
    let (verdict_class, verdict_text, verdict_note) = match v.verdict.as_str() {
        "VERIFIED" if v.valid => (
            "ok",
            "VERIFIED",
            "Every check ran and passed; every signature was checked against a key the auditor pinned.",
        ),
        "UNPINNED" => (
            "warn",
            "UNPINNED — not verified: no trusted key was pinned",
            "The package's own keys are information, not authority: pin the keys you trust (--trust-root or --trusted-fingerprint) and verify again.",
        ),
        "INCOMPLETE" => (
            "warn",
            "INCOMPLETE — not verified: some signatures could not be checked",
            "Nothing failed, but not everything could be checked (see the UNCHECKED rows below).",
        ),
        _ => (
            "bad",
            "VERIFICATION FAILED",
            "At least one check failed: the findings below say what does not hold.",
        ),
    };
    let checks = v
        .checks
        .iter()
        .map(|c| {
            let (class, result) = match (c.passed, c.status.as_str()) {
                (true, _) => ("ok", "pass"),
                (false, "unchecked") => ("warn", "UNCHECKED"),
                _ => ("bad", "FAIL"),
            };
            CheckRow {
                kind: &c.name,
                title: check_title(&c.name),
                class,
                result,
                detail: &c.detail,
            }
        })
        .collect();
    let mut custody_rows = Vec::new();
    if let Some(at) = &v.archived_at {
        custody_rows.push(CustodyRow {
            class: "archive",
            record: "—".into(),
            time: at,
            event: "evidence.archived",
            case: "",
            actor: "",
            reason: "",
            objects: v.objects.len().to_string(),
        });
    }
    for h in &v.holds {
        custody_rows.push(CustodyRow {
            class: "hold",
            record: h.sequence.to_string(),
            time: &h.created_at,
            event: &h.event,
            case: &h.case,
            actor: &h.actor,
            reason: &h.reason,
            objects: h.objects.to_string(),
        });
    }
    if let Some(c) = &v.checkpoint {
        custody_rows.push(CustodyRow {
            class: "checkpoint",
            record: c.records.to_string(),
            time: c.last_record_at.as_deref().unwrap_or("not in the segment"),
            event: "signed checkpoint (covers every record up to this one)",
            case: "",
            actor: "",
            reason: "",
            objects: String::new(),
        });
    }
    Page {
        v,
        version: env!("CARGO_PKG_VERSION"),
        verdict_class,
        verdict_text,
        verdict_note,
        tool_only: (v.enforcement != "store" && v.enforcement != "unknown")
            .then_some(crate::store::TOOL_ONLY),
        archived_at: v.archived_at.as_deref().unwrap_or("not proven"),
        checks,
        retention: retention(v),
        custody: custody(v),
        custody_rows,
    }
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn num(value: f64) -> String {
    format!("{value:.1}")
}

/// Cut a label to [`MAX_LABEL`] characters (the full text goes in the tooltip).
fn short(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX_LABEL - 1).collect();
        format!("{head}…")
    }
}

/// A linear time axis from `start` to `end` over the plot area.
struct TimeAxis {
    start: DateTime<Utc>,
    seconds: f64,
}

impl TimeAxis {
    fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> TimeAxis {
        let seconds = ((end - start).num_seconds() as f64).max(1.0);
        TimeAxis { start, seconds }
    }

    fn x(&self, t: DateTime<Utc>) -> f64 {
        let share = ((t - self.start).num_seconds() as f64 / self.seconds).clamp(0.0, 1.0);
        PLOT_LEFT + share * (PLOT_RIGHT - PLOT_LEFT)
    }
}

fn jan_first(year: i32) -> Option<DateTime<Utc>> {
    Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single()
}

/// Each object's retain-until on a calendar-year axis, from the archive to the last lock, with
/// the report's own time marked as today. Objects whose retain-until is not a date are listed.
fn retention(v: &ReportView) -> Option<Retention> {
    let today = parse(&v.verified_at)?;
    let archived = v.archived_at.as_deref().and_then(parse);
    let dated: Vec<(&ReportObject, Option<DateTime<Utc>>)> = v
        .objects
        .iter()
        .map(|o| (o, parse(&o.retain_until)))
        .collect();
    let mut first = archived.unwrap_or(today).min(today);
    let mut last = today;
    for until in dated.iter().filter_map(|(_, u)| *u) {
        first = first.min(until);
        last = last.max(until);
    }
    let (first_year, last_year) = (first.year(), last.year().saturating_add(1));
    let start = jan_first(first_year)?;
    let end = jan_first(last_year)?;
    let axis = TimeAxis::new(start, end);
    let span = i64::from(last_year - first_year).max(1);
    let step = [1i64, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
        .into_iter()
        .find(|s| span / s <= 12)
        .unwrap_or(10_000);
    let ticks = (i64::from(first_year)..=i64::from(last_year))
        .filter(|y| (y - i64::from(first_year)) % step == 0)
        .filter_map(|y| {
            let t = jan_first(i32::try_from(y).ok()?)?;
            Some(Tick {
                x: num(axis.x(t)),
                label: y.to_string(),
            })
        })
        .collect();
    let mut bars = Vec::new();
    let mut unplotted = Vec::new();
    let mut beyond_cap = 0;
    for (object, until) in &dated {
        let Some(until) = until else {
            unplotted.push((object.path.clone(), object.retain_until.clone()));
            continue;
        };
        if bars.len() == MAX_BARS {
            beyond_cap += 1;
            continue;
        }
        let from = archived.unwrap_or(start).min(*until);
        let (x0, x1) = (axis.x(from), axis.x(*until));
        let y = TOP + bars.len() as f64 * ROW;
        let expired = *until <= today;
        bars.push(Bar {
            label: short(&object.path),
            title: format!(
                "{} — {} until {}, legal hold {}",
                object.location, object.retention_mode, object.retain_until, object.legal_hold
            ),
            x: num(x0),
            width: num((x1 - x0).max(2.0)),
            y: num(y + 4.0),
            text_y: num(y + 15.0),
            end_x: num(x1 + 6.0),
            until: until.format("%Y-%m-%d").to_string(),
            class: if expired { "bar expired" } else { "bar" },
        });
    }
    let height = TOP + (bars.len().max(1) as f64) * ROW + 30.0;
    Some(Retention {
        height: num(height),
        axis_y: num(height - 24.0),
        ticks,
        today_x: num(axis.x(today)),
        today_label: format!("today (verified {})", today.format("%Y-%m-%d")),
        bars,
        unplotted,
        beyond_cap,
    })
}

/// The custody timeline: the archive, every hold event on a lane per case (a band while a
/// hold is on), the checkpoint, and today (the report's time).
fn custody(v: &ReportView) -> Option<Custody> {
    let today = parse(&v.verified_at)?;
    let archived = v.archived_at.as_deref().and_then(parse);
    let checkpoint_at = v
        .checkpoint
        .as_ref()
        .and_then(|c| c.last_record_at.as_deref())
        .and_then(parse);
    let mut unplotted = Vec::new();
    if let (Some(text), None) = (&v.archived_at, archived) {
        unplotted.push(("evidence.archived".to_string(), text.clone()));
    }
    let holds: Vec<(&ReportHold, Option<DateTime<Utc>>)> =
        v.holds.iter().map(|h| (h, parse(&h.created_at))).collect();
    let mut first = today;
    let mut last = today;
    for t in archived
        .iter()
        .chain(checkpoint_at.iter())
        .chain(holds.iter().filter_map(|(_, t)| t.as_ref()))
    {
        first = first.min(*t);
        last = last.max(*t);
    }
    // A margin of 5% (at least a minute) each side, so markers are not on the frame.
    let pad = ((last - first) / 20).max(chrono::Duration::minutes(1));
    // Checked: dates come from the package and may sit at the ends of the calendar.
    let (start, end) = (
        first.checked_sub_signed(pad).unwrap_or(first),
        last.checked_add_signed(pad).unwrap_or(last),
    );
    let axis = TimeAxis::new(start, end);
    // Tick labels precise enough that neighbours differ (5 ticks over the span).
    let format = match end - start {
        span if span > chrono::Duration::days(3) => "%Y-%m-%d",
        span if span > chrono::Duration::hours(2) => "%m-%d %H:%M",
        _ => "%H:%M:%S",
    };
    let ticks = (0..=4)
        .map(|i| {
            let t = start + (end - start) * i / 4;
            Tick {
                x: num(axis.x(t)),
                label: t.format(format).to_string(),
            }
        })
        .collect();

    // Lanes: the archive, one per case (in order of first appearance), the checkpoint.
    let mut cases: Vec<&str> = Vec::new();
    let mut others = false;
    for (hold, _) in &holds {
        if !cases.contains(&hold.case.as_str()) {
            if cases.len() < MAX_LANES {
                cases.push(&hold.case);
            } else {
                others = true;
            }
        }
    }
    let lane_of =
        |case: &str| -> usize { 1 + cases.iter().position(|c| *c == case).unwrap_or(cases.len()) };
    let lane_y = |lane: usize| TOP + lane as f64 * ROW + 11.0;
    let mut lanes = vec![Lane {
        label: "archive".into(),
        title: "evidence.archived: the objects were stored and locked".into(),
        text_y: num(lane_y(0) + 4.0),
        line_y: num(lane_y(0)),
    }];
    for (i, case) in cases.iter().enumerate() {
        let label = if case.is_empty() {
            "hold (no case named)".to_string()
        } else {
            format!("case {case}")
        };
        lanes.push(Lane {
            label: short(&label),
            title: label,
            text_y: num(lane_y(i + 1) + 4.0),
            line_y: num(lane_y(i + 1)),
        });
    }
    if others {
        lanes.push(Lane {
            label: "other cases".into(),
            title: format!("cases after the first {MAX_LANES}: see the table"),
            text_y: num(lane_y(cases.len() + 1) + 4.0),
            line_y: num(lane_y(cases.len() + 1)),
        });
    }
    let checkpoint_lane = lanes.len();
    lanes.push(Lane {
        label: "checkpoint".into(),
        title: "the signed audit checkpoint".into(),
        text_y: num(lane_y(checkpoint_lane) + 4.0),
        line_y: num(lane_y(checkpoint_lane)),
    });

    let mut marks = Vec::new();
    if let Some(t) = archived {
        marks.push(Mark {
            x: num(axis.x(t)),
            y: num(lane_y(0)),
            class: "mark archive",
            title: format!("archived {}", v.archived_at.as_deref().unwrap_or_default()),
        });
    }
    let mut spans = Vec::new();
    // While a case's hold is on (set, not yet released), its lane carries a band.
    let mut open: Vec<(usize, DateTime<Utc>, String)> = Vec::new();
    for (hold, at) in &holds {
        let Some(at) = *at else {
            unplotted.push((
                format!("record {} {}", hold.sequence, hold.event),
                hold.created_at.clone(),
            ));
            continue;
        };
        let lane = lane_of(&hold.case);
        let (class, on) = match hold.event.as_str() {
            "legal_hold.set" => ("mark set", Some(true)),
            "legal_hold.released" => ("mark released", Some(false)),
            _ => ("mark other", None),
        };
        marks.push(Mark {
            x: num(axis.x(at)),
            y: num(lane_y(lane)),
            class,
            title: format!(
                "record {}: {} case {} by {} at {} ({} objects): {}",
                hold.sequence,
                hold.event,
                hold.case,
                hold.actor,
                hold.created_at,
                hold.objects,
                hold.reason
            ),
        });
        match on {
            Some(true) if !open.iter().any(|(l, _, _)| *l == lane) => {
                open.push((lane, at, hold.case.clone()))
            }
            Some(false) => {
                if let Some(i) = open.iter().position(|(l, _, _)| *l == lane) {
                    let (_, from, case) = open.remove(i);
                    spans.push(hold_span(&axis, lane_y(lane), from, at, &case, "released"));
                }
            }
            _ => {}
        }
    }
    for (lane, from, case) in open {
        spans.push(hold_span(
            &axis,
            lane_y(lane),
            from,
            today,
            &case,
            "still on as of this report",
        ));
    }
    if let Some(c) = &v.checkpoint {
        match checkpoint_at {
            Some(t) => marks.push(Mark {
                x: num(axis.x(t)),
                y: num(lane_y(checkpoint_lane)),
                class: "mark checkpoint",
                title: format!(
                    "signed checkpoint over {} records (the last written {})",
                    c.records,
                    c.last_record_at.as_deref().unwrap_or_default()
                ),
            }),
            None => unplotted.push((
                format!("checkpoint over {} records", c.records),
                c.last_record_at.clone().unwrap_or_else(|| "no time".into()),
            )),
        }
    }
    let height = TOP + lanes.len() as f64 * ROW + 30.0;
    Some(Custody {
        height: num(height),
        axis_y: num(height - 24.0),
        ticks,
        today_x: num(axis.x(today)),
        today_label: format!("today (verified {})", today.format("%Y-%m-%d %H:%M")),
        lanes,
        spans,
        marks,
        unplotted,
    })
}

fn hold_span(
    axis: &TimeAxis,
    y: f64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    case: &str,
    end: &str,
) -> Span {
    let (x0, x1) = (axis.x(from), axis.x(to));
    Span {
        x: num(x0),
        y: num(y - 5.0),
        width: num((x1 - x0).max(2.0)),
        title: format!("legal hold, case {case}: on from {from} ({end})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(path: &str, until: &str) -> ReportObject {
        ReportObject {
            path: path.into(),
            location: format!("s3://b/p s/{path}"),
            version_id: Some("v1".into()),
            sha256: "ab".repeat(32),
            bytes: 10,
            retention_mode: "compliance".into(),
            retain_until: until.into(),
            legal_hold: "off".into(),
            enforcement: "store".into(),
        }
    }

    fn view() -> ReportView {
        ReportView {
            session_id: "rel-1".into(),
            target: "s3://b/p".into(),
            bundle_digest: "cd".repeat(32),
            verified_at: "2026-12-01T10:00:00Z".into(),
            signer: "release team".into(),
            signing_key: "Ed25519 key k".into(),
            valid: true,
            verdict: "VERIFIED".into(),
            enforcement: "store".into(),
            archived_at: Some("2026-11-30T09:00:00+00:00".into()),
            checks: vec![ReportCheck {
                name: "bundle_signature_and_files".into(),
                passed: true,
                status: "pass".into(),
                detail: "4 files match".into(),
            }],
            objects: vec![
                object("evidence.json", "2033-12-01T09:00:00+00:00"),
                object("manifest.json", "2033-12-01T09:00:00+00:00"),
            ],
            holds: vec![
                ReportHold {
                    sequence: 4,
                    created_at: "2026-11-30T12:00:00+00:00".into(),
                    event: "legal_hold.set".into(),
                    case: "CASE-42".into(),
                    actor: "records manager".into(),
                    reason: "litigation".into(),
                    objects: 2,
                },
                ReportHold {
                    sequence: 5,
                    created_at: "2026-11-30T18:00:00+00:00".into(),
                    event: "legal_hold.released".into(),
                    case: "CASE-42".into(),
                    actor: "records manager".into(),
                    reason: "settled".into(),
                    objects: 2,
                },
            ],
            hold_state_source: "as of packaging (offline)".into(),
            checkpoint: Some(ReportCheckpoint {
                records: 5,
                last_record_at: Some("2026-11-30T18:00:00+00:00".into()),
            }),
            findings: vec![],
        }
    }

    /// The text between `<tag ... id="ID"` and the next `</tag>`.
    fn element<'a>(html: &'a str, id: &str) -> &'a str {
        let at = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id}"));
        let rest = &html[at..];
        &rest[..rest.find("</").unwrap()]
    }

    #[test]
    fn escapes_everything_user_controlled() {
        let mut view = view();
        view.session_id = "<script>alert(1)</script>".into();
        view.signer = "a&b".into();
        view.valid = false;
        view.verdict = "FAILED".into();
        view.enforcement = "tool".into();
        view.checks[0].name = "x\"y".into();
        view.checks[0].detail = "'d'".into();
        view.objects[0].path = "<script>alert('key')</script>.json".into();
        view.objects[0].location = "s3://b/p s/<img src=x onerror=alert(2)>".into();
        view.holds[0].case = "<b onmouseover=alert(3)>C</b>".into();
        view.holds[0].reason = "</title><script>alert(4)</script>".into();
        view.findings = vec![("k<i>".into(), "<svg onload=alert(5)>".into())];
        let html = render(&view);
        for raw in [
            "<script",
            "<img",
            "<b ",
            "<svg onload",
            "<i>",
            "onerror=alert(2)>",
        ] {
            assert!(!html.contains(raw), "{raw} reached the page unescaped");
        }
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(
            html.contains("a&#38;b") && html.contains("x&#34;y") && html.contains("&#39;d&#39;")
        );
        assert!(html.contains("&#60;img src=x onerror=alert(2)&#62;"));
        assert!(html.contains("VERIFICATION FAILED"));
        assert!(!html.contains(">VERIFIED"));
    }

    #[test]
    fn the_verdict_comes_first_and_says_what_it_is() {
        for (verdict, valid, shown, class) in [
            ("VERIFIED", true, "VERIFIED", "ok"),
            ("VERIFIED", false, "VERIFICATION FAILED", "bad"),
            ("FAILED", false, "VERIFICATION FAILED", "bad"),
            ("UNPINNED", false, "UNPINNED — not verified", "warn"),
            ("INCOMPLETE", false, "INCOMPLETE — not verified", "warn"),
        ] {
            let mut view = view();
            view.verdict = verdict.into();
            view.valid = valid;
            let html = render(&view);
            let body = &html[html.find("<body>").unwrap()..];
            let first = body.find("id=\"verdict\"").unwrap();
            assert!(
                ["<table", "<svg", "<h2"]
                    .iter()
                    .all(|t| body.find(t).is_none_or(|at| at > first)),
                "the verdict is not the first thing on the page"
            );
            assert!(
                html.contains(&format!("id=\"verdict\" class=\"{class}\">{shown}")),
                "{verdict}/{valid}: {}",
                element(&html, "verdict")
            );
        }
    }

    #[test]
    fn rendering_is_deterministic_and_carries_the_version() {
        let view = view();
        let html = render(&view);
        assert_eq!(html, render(&view.clone()));
        assert!(html.contains(&format!("wormvault {}", env!("CARGO_PKG_VERSION"))));
        // No time on the page but the report's own.
        let now = Utc::now().format("%Y-%m-%dT%H").to_string();
        assert!(!html.contains(&now) || view.verified_at.contains(&now));
        assert!(html.contains("@media print"));
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://")
        );
    }

    #[test]
    fn tool_only_banner_shown_exactly_when_the_store_does_not_enforce() {
        let banner = "locked by wormvault only — the storage does not enforce it";
        let mut view = view();
        assert!(!render(&view).contains(banner));
        for enforcement in ["tool", "unconfirmed"] {
            view.enforcement = enforcement.into();
            let html = render(&view);
            assert!(
                element(&html, "enforcement").contains(banner),
                "{enforcement}"
            );
        }
    }

    #[test]
    fn timelines_place_every_object_and_every_hold() {
        let html = render(&view());
        let retention = element(&html, "retention-timeline");
        assert!(retention.contains("<svg"));
        assert_eq!(html.matches("<rect class=\"bar\"").count(), 2);
        assert!(html.contains("today (verified 2026-12-01)"));
        // Axis years from the archive to the lock's end.
        for year in ["2026", "2030", "2034"] {
            assert!(html.contains(&format!(">{year}</text>")), "{year}");
        }
        assert!(html.contains("case CASE-42"));
        assert_eq!(html.matches("class=\"mark set\"").count(), 1);
        assert_eq!(html.matches("class=\"mark released\"").count(), 1);
        assert_eq!(html.matches("class=\"mark checkpoint\"").count(), 1);
        assert_eq!(html.matches("class=\"held\"").count(), 1);
        assert!(html.contains("Every file matches the signed manifest"));
    }

    #[test]
    fn an_expired_or_undated_lock_is_shown_not_hidden() {
        let mut view = view();
        view.objects[0].retain_until = "2020-01-01T00:00:00+00:00".into();
        view.objects[1].retain_until = "none reported".into();
        let html = render(&view);
        assert_eq!(html.matches("class=\"bar expired\"").count(), 1);
        assert!(element(&html, "retention-unplotted").contains("manifest.json"));
    }

    #[test]
    fn hostile_sizes_stay_bounded() {
        let mut view = view();
        view.objects = (0..250)
            .map(|i| object(&format!("f{i}.json"), "9999-12-31T00:00:00+00:00"))
            .collect();
        view.holds = (0..30)
            .map(|i| ReportHold {
                sequence: 10 + i,
                created_at: "2026-11-30T12:00:00+00:00".into(),
                event: "legal_hold.set".into(),
                case: format!("CASE-{i}"),
                actor: "a".into(),
                reason: "r".into(),
                objects: 1,
            })
            .collect();
        let html = render(&view);
        assert_eq!(html.matches("<rect class=\"bar\"").count(), MAX_BARS);
        assert!(html.contains("50 more objects are not drawn"));
        assert_eq!(html.matches("class=\"object\"").count(), 250);
        // A retain-until in year 9999 still gives a readable axis, not thousands of ticks.
        let retention = element(&html, "retention-timeline");
        let ticks = html[html.find("id=\"retention-timeline\"").unwrap()..]
            .split("</svg>")
            .next()
            .unwrap()
            .matches("class=\"grid\"")
            .count();
        assert!((2..=14).contains(&ticks), "{ticks} ticks: {retention}");
        // 24 case lanes, the rest on one lane; every hold still in the table.
        assert!(html.contains(">case CASE-23<") && !html.contains(">case CASE-24<"));
        assert!(html.contains(">other cases<"));
        assert_eq!(html.matches("<tr class=\"hold\">").count(), 30);
    }
}
