//! Operating status of a tenant audit store: CAVRA's six checks (cavra-compat.md §6 —
//! `store_health`, `retention_posture`, `evidence_freshness`, `export_readiness`,
//! `immutable_storage`, `dashboard_visibility`), each `ready|degraded|blocked|unknown` with a
//! reason. CAVRA only validates states a caller supplies; here each one is derived from a real
//! check of the store (preflight, listing against receipts), the receipts, and the audit log
//! (chain verification, the latest `evidence.archived` event, a trial export).
//!
//! Nothing here fails: a check that cannot run is `unknown` or `blocked` with the reason.
//! [`secrets`] scans the report before it is printed.

pub mod anchor;
pub mod secrets;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::audit::{self, Checkpoint, export::Format};
use crate::receipt::ReceiptSet;
use crate::remote::{self, FindingKind, SIDECAR_DIR};
use crate::store::{self, Enforcement, PreflightOptions, PreflightReport, Target};

pub const STATUS_SCHEMA: &str = "cavra.tenant-audit-store.status.v1";
pub const CHECK_NAMES: [&str; 6] = [
    "store_health",
    "retention_posture",
    "evidence_freshness",
    "export_readiness",
    "immutable_storage",
    "dashboard_visibility",
];
/// The event the archive pipeline appends for every archived session.
pub const ARCHIVED_EVENT: &str = "evidence.archived";
/// Findings listed in a reason before "and N more".
const LIST_LIMIT: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Ready,
    Degraded,
    Blocked,
    Unknown,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Ready => "ready",
            State::Degraded => "degraded",
            State::Blocked => "blocked",
            State::Unknown => "unknown",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub state: State,
    pub reason: String,
    /// The measured facts behind the state (ages, counts, enforcement, findings).
    pub details: Map<String, Value>,
}

fn check(name: &'static str, state: State, reason: impl Into<String>, details: Value) -> Check {
    let details = match details {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Check {
        name,
        state,
        reason: reason.into(),
        details,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub ready: usize,
    pub degraded: usize,
    pub blocked: usize,
    pub unknown: usize,
}

/// The status response.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub schema_version: &'static str,
    pub product: &'static str,
    pub generated_at: String,
    pub target: String,
    pub audit_log: String,
    pub receipts: Vec<String>,
    /// blocked if any check is blocked, else degraded if any is degraded or unknown, else ready.
    pub status: State,
    pub checks: Vec<Check>,
    pub summary: Summary,
}

impl StatusReport {
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct StatusRequest {
    pub target: Target,
    pub audit_log: PathBuf,
    /// How to name the log in the report when `audit_log` is a local copy of a log in a store.
    pub audit_log_name: Option<String>,
    pub receipts: Vec<PathBuf>,
    /// The newest archived evidence must be younger than this.
    pub freshness: TimeDelta,
    pub minimum_retention_days: u64,
    pub now: DateTime<Utc>,
    /// Record signatures to check besides the chain (CAVRA checks them only given a key).
    pub audit_signatures: audit::SignatureCheck,
    /// Preflight relaxations the user accepted for this target (e.g. SSE-S3 instead of SSE-KMS).
    pub preflight: PreflightOptions,
    /// `--max-anchor-age`: the newest anchor of the store log must be at most this old and
    /// verify under the pinned checkpoint key ([`anchor`]); folded into `evidence_freshness`.
    pub anchors: Option<anchor::AnchorPolicy>,
    /// `--checkpoint-key`: the pinned key of the signed checkpoints the archive stored beside
    /// the evidence (`<session>/_wormvault/audit-checkpoint-<N>.txt`); the log must extend each
    /// of them. Without it they are not checked, and that is said (not ready).
    pub checkpoint_key: Option<anchor::AnchorKey>,
    /// Where the audit log is kept: `None` for a local JSONL file, else the store log's target
    /// (a `file://` vault is enforced by wormvault only: whoever can write there can roll the
    /// log back).
    pub audit_log_store: Option<Target>,
}

/// The overall state of a set of checks.
pub fn overall(checks: &[Check]) -> State {
    if checks.iter().any(|c| c.state == State::Blocked) {
        State::Blocked
    } else if checks
        .iter()
        .any(|c| matches!(c.state, State::Degraded | State::Unknown))
    {
        State::Degraded
    } else {
        State::Ready
    }
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let mut text = items
        .iter()
        .take(LIST_LIMIT)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > LIST_LIMIT {
        text.push_str(&format!("; and {} more", items.len() - LIST_LIMIT));
    }
    text
}

/// Run every check and assemble the report.
pub async fn status(request: &StatusRequest) -> StatusReport {
    let receipts: Vec<(PathBuf, Result<ReceiptSet, String>)> = request
        .receipts
        .iter()
        .map(|path| (path.clone(), ReceiptSet::load(path)))
        .collect();
    let loaded: Vec<&ReceiptSet> = receipts
        .iter()
        .filter_map(|(_, set)| set.as_ref().ok())
        .collect();

    let store = store::open(&request.target).await;
    let preflight: Result<PreflightReport, String> = match &store {
        Ok(store) => store
            .preflight(&request.preflight)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let anchor_verdict = match &request.anchors {
        Some(policy) => Some(anchor::judge(policy, request.now).await),
        None => None,
    };
    // The signed checkpoints each archive stored beside its evidence, and the newest anchor:
    // the log is verified against all of them in one pass (a log shorter than one, or with
    // another root at its size, was rolled back or forked — or the anchor is another log's).
    let sessions = match &store {
        Ok(store) => {
            session_checkpoints(store.as_ref(), &loaded, request.checkpoint_key.as_ref()).await
        }
        Err(_) => SessionCheckpoints::default(),
    };
    let mut checkpoints: Vec<Checkpoint> = sessions
        .verified
        .iter()
        .map(|s| s.checkpoint.clone())
        .collect();
    let anchor_index = anchor_verdict
        .as_ref()
        .and_then(|v| v.checkpoint.clone())
        .map(|checkpoint| {
            checkpoints.push(checkpoint);
            checkpoints.len() - 1
        });
    let log = LogFacts::gather(&request.audit_log, &request.audit_signatures, checkpoints);
    let anchor_verdict = anchor_verdict.map(|v| anchor_against_log(v, &log, anchor_index));

    // The store compared with every receipt set (missing, changed, retention shortened ...).
    let mut remote_reports = Vec::new();
    let mut remote_errors = Vec::new();
    if let Ok(store) = &store {
        for set in &loaded {
            match remote::check(store.as_ref(), set, false).await {
                Ok(report) => remote_reports.push(report),
                Err(e) => remote_errors.push(format!("session {}: {e}", set.session_prefix)),
            }
        }
    }
    let remote_findings: Vec<&remote::Finding> = remote_reports
        .iter()
        .flat_map(|r| r.findings.iter())
        .collect();

    let checks = vec![
        store_health(&request.target, &preflight),
        retention_posture(request, &loaded, &log, &remote_findings),
        with_anchor(
            evidence_freshness(request, &log, &sessions),
            anchor_verdict.as_ref(),
        ),
        export_readiness(&request.audit_log, &log),
        with_log_storage(
            immutable_storage(&preflight, &loaded, &remote_findings),
            request,
        ),
        dashboard_visibility(
            request,
            &receipts,
            &log,
            store.as_ref().err().map(ToString::to_string),
            &remote_reports,
            &remote_errors,
        ),
    ];
    let count = |state: State| checks.iter().filter(|c| c.state == state).count();
    let summary = Summary {
        ready: count(State::Ready),
        degraded: count(State::Degraded),
        blocked: count(State::Blocked),
        unknown: count(State::Unknown),
    };
    StatusReport {
        schema_version: STATUS_SCHEMA,
        product: "wormvault",
        generated_at: request
            .now
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        target: request.target.to_string(),
        audit_log: request
            .audit_log_name
            .clone()
            .unwrap_or_else(|| request.audit_log.display().to_string()),
        receipts: request
            .receipts
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        status: overall(&checks),
        checks,
        summary,
    }
}

/// How bad a state is, for combining two verdicts on one check.
fn severity(state: State) -> u8 {
    match state {
        State::Ready => 0,
        State::Degraded => 1,
        State::Unknown => 2,
        State::Blocked => 3,
    }
}

/// Fold the newest anchor's verdict into a check: the worse state wins, both reasons are kept,
/// and the anchor's measurements go under `details.anchor`.
fn with_anchor(mut check: Check, verdict: Option<&anchor::AnchorVerdict>) -> Check {
    let Some(verdict) = verdict else {
        return check;
    };
    if severity(verdict.state) > severity(check.state) {
        check.state = verdict.state;
    }
    check.reason = format!("{}; {}", check.reason, verdict.reason);
    check
        .details
        .insert("anchor".into(), verdict.details.clone());
    check
        .details
        .insert("anchor_state".into(), json!(verdict.state));
    check
}

/// One signed checkpoint an archive stored beside its evidence, verified under the pinned key.
struct SessionCheckpoint {
    key: String,
    checkpoint: Checkpoint,
}

/// The signed checkpoints stored beside the archived evidence of the receipts given.
#[derive(Default)]
struct SessionCheckpoints {
    /// Verified under the pinned key (the log is compared with each, in this order).
    verified: Vec<SessionCheckpoint>,
    /// Stored, but no --checkpoint-key was given to check them.
    unchecked: Vec<String>,
    /// Listed or named but not readable (store errors).
    unreadable: Vec<String>,
    /// Stored and not acceptable: a bad signature, another size, more than one version.
    problems: Vec<String>,
}

/// What the log's comparison with the session checkpoints found.
struct SessionFindings {
    matched: usize,
    blockers: Vec<String>,
}

impl SessionCheckpoints {
    fn against(&self, log: &LogFacts) -> SessionFindings {
        let mut blockers = self.problems.clone();
        let mut matched = 0;
        if log.report.is_some() {
            for (index, stored) in self.verified.iter().enumerate() {
                match log.checkpoints.get(index) {
                    Some(result) if result.consistent => matched += 1,
                    Some(result) => blockers.push(format!(
                        "the audit log was rolled back or forked: it does not extend the locked checkpoint {} (size {}) stored beside the archived evidence — {}",
                        stored.key, stored.checkpoint.size, result.message
                    )),
                    None => blockers.push(format!(
                        "the audit log could not be compared with the checkpoint {} stored beside the archived evidence",
                        stored.key
                    )),
                }
            }
        }
        SessionFindings { matched, blockers }
    }
}

/// The size `N` in a `<session>/_wormvault/audit-checkpoint-<N>.txt` key.
fn session_checkpoint_size(key: &str, sidecars: &str) -> Option<u64> {
    let name = key.strip_prefix(sidecars)?;
    let digits = name
        .strip_prefix("audit-checkpoint-")?
        .strip_suffix(".txt")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Read and verify (pinned key only, never a key found in the store) every
/// `audit-checkpoint-<N>.txt` stored beside the evidence of each receipt set.
async fn session_checkpoints(
    store: &dyn store::ImmutableStore,
    receipts: &[&ReceiptSet],
    key: Option<&anchor::AnchorKey>,
) -> SessionCheckpoints {
    let mut found = SessionCheckpoints::default();
    for set in receipts {
        let sidecars = format!("{}/{SIDECAR_DIR}/", set.session_prefix);
        let listed = match store.list(&sidecars).await {
            Ok(listed) => listed,
            Err(e) => {
                found
                    .unreadable
                    .push(format!("listing {sidecars} failed: {e}"));
                continue;
            }
        };
        let mut keys: Vec<(&str, u64)> = listed
            .iter()
            .filter_map(|o| session_checkpoint_size(&o.key, &sidecars).map(|n| (o.key.as_str(), n)))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for (object_key, size) in keys {
            let versions = listed.iter().filter(|o| o.key == object_key).count();
            if versions > 1 {
                found.problems.push(format!(
                    "checkpoint {object_key} has {versions} versions: it is stored create-only and locked, so it was rewritten"
                ));
                continue;
            }
            let Some(key) = key else {
                found.unchecked.push(object_key.to_string());
                continue;
            };
            let note = match store
                .get_bytes(object_key, None, anchor::MAX_NOTE_BYTES)
                .await
            {
                Ok(Some(object)) => match String::from_utf8(object.bytes) {
                    Ok(note) => note,
                    Err(_) => {
                        found
                            .problems
                            .push(format!("checkpoint {object_key} is not UTF-8 text"));
                        continue;
                    }
                },
                Ok(None) => {
                    found
                        .unreadable
                        .push(format!("{object_key}: listed but not readable"));
                    continue;
                }
                Err(e) => {
                    found.unreadable.push(format!("{object_key}: {e}"));
                    continue;
                }
            };
            match crate::hold::registry::open_checkpoint(&note, &key.key, key.name.as_deref()) {
                Err(e) => found.problems.push(format!(
                    "checkpoint {object_key} does not verify under --checkpoint-key: {e}"
                )),
                Ok(checkpoint) if checkpoint.size != size => found.problems.push(format!(
                    "checkpoint {object_key} signs tree size {}, not the {size} its name says",
                    checkpoint.size
                )),
                Ok(checkpoint) => found.verified.push(SessionCheckpoint {
                    key: object_key.to_string(),
                    checkpoint,
                }),
            }
        }
    }
    found
}

/// Hold the newest anchor's root against the log's records at its size: a genuine signature
/// on a checkpoint of another log (or of a rewritten one) is not this log's anchor.
fn anchor_against_log(
    mut verdict: anchor::AnchorVerdict,
    log: &LogFacts,
    index: Option<usize>,
) -> anchor::AnchorVerdict {
    let (Some(index), Some(checkpoint)) = (index, &verdict.checkpoint) else {
        return verdict;
    };
    let size = checkpoint.size;
    match log.checkpoints.get(index) {
        Some(result) if result.consistent => {
            verdict.details["anchor_root_matches_log"] = json!(true);
            verdict
                .reason
                .push_str(&format!(", root matches the log's first {size} records"));
        }
        Some(result) => {
            verdict.details["anchor_root_matches_log"] = json!(false);
            verdict.state = State::Blocked;
            verdict.reason = format!(
                "newest anchor (size {size}, origin {:?}) is not a checkpoint of this log's records: {} (a checkpoint of another log, or the log was rewritten)",
                checkpoint.origin, result.message
            );
        }
        None => {
            verdict.details["anchor_root_matches_log"] = Value::Null;
            if severity(verdict.state) < severity(State::Unknown) {
                verdict.state = State::Unknown;
            }
            verdict.reason.push_str(
                ", but its root could not be compared with the log's records (the log could not be verified)",
            );
        }
    }
    verdict
}

/// immutable_storage also covers where the audit log is kept: a log on a plain filesystem (a
/// local JSONL file, or a `file://` vault, enforcement `tool`) can be rolled back or forked by
/// whoever can write there, and only checkpoints kept elsewhere would show it.
fn with_log_storage(mut verdict: Check, request: &StatusRequest) -> Check {
    let (enforcement, note) = match &request.audit_log_store {
        None => (
            "none",
            format!(
                "the audit log {} is a local file: whoever can write it can roll it back or fork it; keep it in a store that enforces retention (s3://…, azure://…)",
                request.audit_log.display()
            ),
        ),
        Some(target @ Target::Local { .. }) => (
            "tool",
            format!(
                "the audit log {target} is kept on a local vault (enforcement: tool): whoever can write its files can roll it back or fork it; keep it in a store that enforces retention (s3://…, azure://…)"
            ),
        ),
        Some(_) => return verdict,
    };
    verdict
        .details
        .insert("audit_log_enforcement".into(), json!(enforcement));
    match verdict.state {
        State::Ready => {
            verdict.state = State::Degraded;
            verdict.reason = note;
        }
        _ => verdict.reason = format!("{}; {note}", verdict.reason),
    }
    verdict
}

/// store_health: the store opens and its preflight (read from the store's own configuration)
/// has no failing check.
fn store_health(target: &Target, preflight: &Result<PreflightReport, String>) -> Check {
    match preflight {
        Err(error) => check(
            "store_health",
            State::Blocked,
            format!("store {target} is unreachable: {error}"),
            json!({"reachable": false}),
        ),
        Ok(report) if !report.passed() => {
            let failures: Vec<String> = report
                .failures()
                .map(|c| format!("{}: {}", c.name, c.detail))
                .collect();
            check(
                "store_health",
                State::Blocked,
                format!("store {target} fails preflight: {}", list(&failures)),
                json!({"reachable": true, "preflight_passed": false, "failed_checks": report.failures().map(|c| c.name.clone()).collect::<Vec<_>>()}),
            )
        }
        Ok(report) => check(
            "store_health",
            State::Ready,
            format!(
                "store {target} is reachable and passes preflight ({} checks)",
                report.checks.len()
            ),
            json!({"reachable": true, "preflight_passed": true, "checks": report.checks.iter().map(|c| json!({"name": c.name, "status": c.status})).collect::<Vec<_>>()}),
        ),
    }
}

/// Whole days between two instants, rounded to the nearest day: retain-until is computed when
/// the plan is made, a little before the receipts are written.
fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let seconds = (to - from).num_seconds();
    (seconds + 43_200).div_euclid(86_400)
}

/// retention_posture: the shortest lock any receipt records (retain-until minus the receipts'
/// creation) against the minimum; without receipts, the lock the latest `evidence.archived`
/// event records; and no object whose lock the store now reports shorter than receipted.
fn retention_posture(
    request: &StatusRequest,
    receipts: &[&ReceiptSet],
    log: &LogFacts,
    remote: &[&remote::Finding],
) -> Check {
    let minimum = request.minimum_retention_days;
    let shortened: Vec<String> = remote
        .iter()
        .filter(|f| {
            matches!(
                f.kind,
                FindingKind::RetentionShortened | FindingKind::ModeChanged
            )
        })
        .map(|f| format!("{}: {}", f.key, f.detail))
        .collect();
    if !shortened.is_empty() {
        return check(
            "retention_posture",
            State::Blocked,
            format!(
                "the store reports a shorter or weaker lock than receipted: {}",
                list(&shortened)
            ),
            json!({"minimum_retention_days": minimum, "shortened": shortened.len()}),
        );
    }
    let mut shortest: Option<(i64, String)> = None;
    let mut unlocked = Vec::new();
    let mut source = "receipts";
    for set in receipts {
        let Some(created) = crate::trust::parse_timestamp(&set.created_at) else {
            unlocked.push(format!(
                "receipts for {} have an unreadable created_at {:?}",
                set.session_prefix, set.created_at
            ));
            continue;
        };
        for receipt in &set.receipts {
            match receipt.retain_until {
                Some(until) => {
                    let days = days_between(created, until);
                    if shortest.as_ref().is_none_or(|(d, _)| days < *d) {
                        shortest = Some((days, receipt.key.clone()));
                    }
                }
                None => unlocked.push(format!(
                    "{} has no retain-until (enforcement {})",
                    receipt.key, receipt.enforcement
                )),
            }
        }
    }
    if receipts.is_empty()
        && let Some(event) = &log.latest_archived
        && let (Some(until), Some(at)) = (event.retain_until, event.created_at)
    {
        source = "audit log";
        shortest = Some((
            days_between(at, until),
            format!("record {}", event.sequence),
        ));
    }
    if !unlocked.is_empty() {
        return check(
            "retention_posture",
            State::Degraded,
            format!(
                "retention is not confirmed for every object: {}",
                list(&unlocked)
            ),
            json!({"minimum_retention_days": minimum, "unconfirmed_objects": unlocked.len()}),
        );
    }
    match shortest {
        None => check(
            "retention_posture",
            State::Unknown,
            "no receipts and no evidence.archived event with retain_until to read the retention from; pass --receipts".to_string(),
            json!({"minimum_retention_days": minimum}),
        ),
        Some((days, what)) if days >= i64::try_from(minimum).unwrap_or(i64::MAX) => check(
            "retention_posture",
            State::Ready,
            format!("shortest retention is {days} days ({what}), at or above the {minimum}-day minimum"),
            json!({"minimum_retention_days": minimum, "shortest_retention_days": days, "source": source}),
        ),
        Some((days, what)) => check(
            "retention_posture",
            State::Blocked,
            format!("retention of {what} is {days} days, below the {minimum}-day minimum"),
            json!({"minimum_retention_days": minimum, "shortest_retention_days": days, "source": source}),
        ),
    }
}

/// evidence_freshness: the newest `evidence.archived` event in a log whose chain verifies,
/// against the freshness window.
fn evidence_freshness(
    request: &StatusRequest,
    log: &LogFacts,
    sessions: &SessionCheckpoints,
) -> Check {
    let mut verdict = archived_freshness(request, log);
    let findings = sessions.against(log);
    verdict.details.insert(
        "session_checkpoints".into(),
        json!({
            "verified": sessions.verified.len(),
            "matched": findings.matched,
            "unchecked": sessions.unchecked.len(),
            "unreadable": sessions.unreadable.len(),
            "problems": findings.blockers.len(),
        }),
    );
    if !findings.blockers.is_empty() {
        let mut blockers = Vec::new();
        if verdict.state == State::Blocked {
            blockers.push(verdict.reason.clone());
        }
        blockers.extend(findings.blockers);
        verdict.state = State::Blocked;
        verdict.reason = list(&blockers);
        return verdict;
    }
    if verdict.state == State::Blocked {
        return verdict;
    }
    let mut notes = Vec::new();
    if !sessions.unchecked.is_empty() {
        notes.push(format!(
            "{} signed checkpoint(s) of the audit log stored beside the archived evidence ({}) were NOT checked: give --checkpoint-key (the public key the archive's checkpoints are signed with); without them a rolled-back or forked log is not detected",
            sessions.unchecked.len(),
            list(&sessions.unchecked)
        ));
    }
    if !sessions.unreadable.is_empty() {
        notes.push(format!(
            "checkpoint(s) stored beside the archived evidence could not be read, so the log was not compared with them: {}",
            list(&sessions.unreadable)
        ));
    }
    if notes.is_empty() {
        if findings.matched > 0 {
            verdict.reason.push_str(&format!(
                "; the log extends the {} signed checkpoint(s) stored beside the archived evidence",
                findings.matched
            ));
        }
        return verdict;
    }
    if verdict.state == State::Ready {
        verdict.state = State::Degraded;
    }
    verdict.reason = format!("{}; {}", verdict.reason, notes.join("; "));
    verdict
}

/// The freshness of the newest `evidence.archived` event alone.
fn archived_freshness(request: &StatusRequest, log: &LogFacts) -> Check {
    let window_hours = request.freshness.num_hours();
    if let Some(problem) = &log.problem {
        return check(
            "evidence_freshness",
            State::Blocked,
            problem.clone(),
            json!({"freshness_hours": window_hours}),
        );
    }
    let Some(event) = &log.latest_archived else {
        return check(
            "evidence_freshness",
            State::Blocked,
            format!(
                "the audit log has no {ARCHIVED_EVENT} event: no evidence has been archived (run `wormvault archive … --audit-log`)"
            ),
            json!({"freshness_hours": window_hours, "records": log.records}),
        );
    };
    let Some(at) = event.created_at else {
        return check(
            "evidence_freshness",
            State::Unknown,
            format!(
                "record {} ({ARCHIVED_EVENT}) has an unreadable created_at",
                event.sequence
            ),
            json!({"freshness_hours": window_hours}),
        );
    };
    let age = request.now - at;
    let details = json!({
        "freshness_hours": window_hours,
        "last_archived_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "age_seconds": age.num_seconds(),
        "record": event.sequence,
        "receipts_sha256": event.receipts_sha256,
        "log_signatures_checked": log.report.as_ref().is_some_and(|r| r.signature_key_given),
    });
    if age <= request.freshness {
        check(
            "evidence_freshness",
            State::Ready,
            format!(
                "last evidence archived {} ago (record {}), within the {window_hours}-hour window",
                human_age(age),
                event.sequence
            ),
            details,
        )
    } else {
        check(
            "evidence_freshness",
            State::Degraded,
            format!(
                "last evidence archived {} ago (record {}), older than the {window_hours}-hour window",
                human_age(age),
                event.sequence
            ),
            details,
        )
    }
}

fn human_age(age: TimeDelta) -> String {
    let seconds = age.num_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}

/// export_readiness: a trial export of the log as JSONL (which must verify as the same chain)
/// and in one SIEM format (Splunk HEC, one event per record).
fn export_readiness(path: &Path, log: &LogFacts) -> Check {
    let Some(verified) = &log.report else {
        return check(
            "export_readiness",
            State::Blocked,
            format!(
                "cannot export: {}",
                log.problem
                    .clone()
                    .unwrap_or_else(|| "the audit log could not be read".into())
            ),
            json!({}),
        );
    };
    let mut problems = Vec::new();
    // JSONL to a temp file, then verified as a log: the export an auditor receives must check.
    match tempfile::NamedTempFile::new() {
        Err(e) => problems.push(format!("cannot create a scratch file: {e}")),
        Ok(mut scratch) => {
            match audit::export::export(path, Format::Jsonl, &[], None, scratch.as_file_mut()) {
                Err(e) => problems.push(format!("jsonl export failed: {e}")),
                Ok(summary) => {
                    match audit::verify(scratch.path(), &audit::VerifyOptions::default()) {
                        Err(e) => problems.push(format!("jsonl export unreadable: {e}")),
                        Ok(check)
                            if !check.valid
                                || check.last_record_hash != verified.last_record_hash
                                || summary.records != verified.record_count =>
                        {
                            problems.push(format!(
                        "jsonl export does not verify as the same chain ({} records exported, {} in the log; export valid: {})",
                        summary.records, verified.record_count, check.valid
                    ));
                        }
                        Ok(_) => {}
                    }
                }
            }
        }
    }
    // Splunk HEC to a counting sink.
    let mut sink = LineCounter::default();
    match audit::export::export(path, Format::SplunkHec, &[], None, &mut sink) {
        Err(e) => problems.push(format!("splunk-hec export failed: {e}")),
        Ok(summary)
            if summary.records != verified.record_count || sink.lines != verified.record_count =>
        {
            problems.push(format!(
                "splunk-hec export wrote {} events for {} records",
                sink.lines, verified.record_count
            ))
        }
        Ok(_) => {}
    }
    let details =
        json!({"formats_tested": ["jsonl", "splunk-hec"], "records": verified.record_count});
    if problems.is_empty() {
        check(
            "export_readiness",
            State::Ready,
            format!(
                "jsonl (re-verified) and splunk-hec exports of {} records work",
                verified.record_count
            ),
            details,
        )
    } else {
        check("export_readiness", State::Blocked, list(&problems), details)
    }
}

/// Counts newline-terminated lines and discards the bytes.
#[derive(Default)]
struct LineCounter {
    lines: u64,
}

impl Write for LineCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.lines += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// immutable_storage: who enforces the locks, according to the store now (preflight) and to the
/// receipts when the objects were read back — they must agree, and be confirmed.
fn immutable_storage(
    preflight: &Result<PreflightReport, String>,
    receipts: &[&ReceiptSet],
    remote: &[&remote::Finding],
) -> Check {
    let report = match preflight {
        Err(error) => {
            return check(
                "immutable_storage",
                State::Unknown,
                format!("cannot read the store's configuration: {error}"),
                json!({}),
            );
        }
        Ok(report) => report,
    };
    if !report.passed() {
        let failures: Vec<String> = report
            .failures()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        return check(
            "immutable_storage",
            State::Blocked,
            format!(
                "the store's WORM configuration fails preflight: {}",
                list(&failures)
            ),
            json!({"preflight_enforcement": report.enforcement}),
        );
    }
    let mut disagreements = Vec::new();
    for set in receipts {
        if set.enforcement != report.enforcement {
            disagreements.push(format!(
                "receipts for {} say enforcement {}, the store now reports {}",
                set.session_prefix, set.enforcement, report.enforcement
            ));
        }
        for receipt in set
            .receipts
            .iter()
            .filter(|r| r.enforcement != report.enforcement)
        {
            disagreements.push(format!(
                "{} was receipted with enforcement {}",
                receipt.key, receipt.enforcement
            ));
        }
    }
    let changed: Vec<String> = remote
        .iter()
        .filter(|f| f.kind == FindingKind::ModeChanged)
        .map(|f| format!("{}: {}", f.key, f.detail))
        .collect();
    disagreements.extend(changed);
    let details =
        json!({"preflight_enforcement": report.enforcement, "receipt_sets": receipts.len()});
    if !disagreements.is_empty() {
        return check(
            "immutable_storage",
            State::Blocked,
            format!(
                "immutability does not match the receipts: {}",
                list(&disagreements)
            ),
            details,
        );
    }
    // GOVERNANCE (S3) / Unlocked (Azure) retention can be shortened or bypassed by privileged
    // principals (docs/security.md): enforced by the store, but not immutable.
    let governance = receipts
        .iter()
        .flat_map(|set| set.receipts.iter())
        .filter(|r| r.retention_mode == Some(crate::store::RetentionMode::Governance))
        .count();
    match report.enforcement {
        Enforcement::Store if governance > 0 => check(
            "immutable_storage",
            State::Degraded,
            format!(
                "{governance} receipted object(s) are locked in GOVERNANCE mode (S3) / an Unlocked policy (Azure): privileged principals can shorten or bypass that retention; archive with COMPLIANCE (the default) for storage no one can change"
            ),
            details,
        ),
        Enforcement::Store => check(
            "immutable_storage",
            State::Ready,
            "the store enforces retention itself (confirmed by preflight and the receipts)",
            details,
        ),
        // Issue #14 item 6: a lock only wormvault enforces is not immutable storage.
        Enforcement::Tool => check(
            "immutable_storage",
            State::Degraded,
            format!(
                "{TOOL_ONLY} (enforcement: tool — a local vault whose files are read-only with retain-until, and wormvault refuses overwrite and delete before it; use a SnapLock/WORM volume or a cloud target for store enforcement)"
            ),
            details,
        ),
        Enforcement::Unconfirmed => check(
            "immutable_storage",
            State::Degraded,
            format!(
                "{TOOL_ONLY} (enforcement: unconfirmed — the store cannot confirm immutability; objects may be deletable)"
            ),
            details,
        ),
    }
}

/// What every human output says where enforcement is `tool` or `unconfirmed` (issue #14 item 6).
pub use crate::store::TOOL_ONLY;

/// dashboard_visibility: the archived sessions are accounted for — receipts present, for this
/// target, and every receipted object present in the store with the receipted content and lock.
fn dashboard_visibility(
    request: &StatusRequest,
    receipts: &[(PathBuf, Result<ReceiptSet, String>)],
    log: &LogFacts,
    store_error: Option<String>,
    remote: &[remote::RemoteReport],
    remote_errors: &[String],
) -> Check {
    if receipts.is_empty() {
        return check(
            "dashboard_visibility",
            State::Unknown,
            "no receipts given: nothing to compare the store with (pass --receipts FILE for each archived session)",
            json!({"receipt_sets": 0}),
        );
    }
    let mut problems: Vec<String> = Vec::new();
    let mut recorded = 0usize;
    let mut unconfirmed: Vec<String> = Vec::new();
    for (path, set) in receipts {
        match set {
            Err(error) => problems.push(format!(
                "receipts {} missing or unreadable: {error}",
                path.display()
            )),
            Ok(set) => {
                // Every archive that completed appended an evidence.archived event naming its
                // receipts' digest: receipts with none belong to an archive that stopped before
                // its audit event, or whose event was removed from the log (rolled back).
                let digest = set.digest();
                if log.report.is_none() {
                    unconfirmed.push(path.display().to_string());
                } else if log.archived.contains(&digest) {
                    if log.problem.is_some() {
                        unconfirmed.push(path.display().to_string());
                    } else {
                        recorded += 1;
                    }
                } else {
                    problems.push(format!(
                        "receipts {} (session {}, receipts_sha256 {digest}) have no {ARCHIVED_EVENT} event in the audit log: the archive never recorded its audit event, or the event was removed (the log rolled back)",
                        path.display(),
                        set.session_prefix
                    ));
                }
                if Target::parse(&set.target).ok().as_ref() != Some(&request.target) {
                    problems.push(format!(
                        "receipts {} are for target {}, not {}",
                        path.display(),
                        set.target,
                        request.target
                    ));
                }
            }
        }
    }
    if !unconfirmed.is_empty() {
        problems.push(format!(
            "receipts {} could not be confirmed by an {ARCHIVED_EVENT} event: the audit log cannot be read or does not verify (see evidence_freshness)",
            unconfirmed.join(", ")
        ));
    }
    if let Some(error) = store_error {
        problems.push(format!("cannot list the store: {error}"));
    }
    problems.extend(remote_errors.iter().cloned());
    let mut held = 0;
    for report in remote {
        for finding in &report.findings {
            if finding.kind == FindingKind::HoldChanged {
                held += 1;
            } else {
                let kind = serde_json::to_value(&finding.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                problems.push(format!("{kind} {}: {}", finding.key, finding.detail));
            }
        }
    }
    let objects: usize = remote.iter().map(|r| r.objects_checked).sum();
    let details = json!({"receipt_sets": receipts.len(), "receipt_sets_in_log": recorded, "objects_checked": objects, "hold_changes": held, "problems": problems.len()});
    if problems.is_empty() {
        let mut reason = format!(
            "{} receipt set(s) present, each named by an {ARCHIVED_EVENT} event of the audit log; all {objects} receipted objects are in the store as receipted",
            receipts.len()
        );
        if held > 0 {
            reason.push_str(&format!(
                " ({held} legal-hold change(s) since, see the audit log)"
            ));
        }
        check("dashboard_visibility", State::Ready, reason, details)
    } else {
        check(
            "dashboard_visibility",
            State::Blocked,
            list(&problems),
            details,
        )
    }
}

/// What the status needs from the audit log, read once.
struct LogFacts {
    report: Option<audit::VerifyReport>,
    problem: Option<String>,
    records: u64,
    latest_archived: Option<ArchivedEvent>,
    /// Every `evidence.archived` event's `receipts_sha256`.
    archived: HashSet<String>,
    /// The comparison with each checkpoint given to [`LogFacts::gather`], in its order.
    checkpoints: Vec<audit::verify::CheckpointResult>,
}

struct ArchivedEvent {
    sequence: u64,
    created_at: Option<DateTime<Utc>>,
    retain_until: Option<DateTime<Utc>>,
    receipts_sha256: Option<String>,
}

impl LogFacts {
    fn gather(
        path: &Path,
        signatures: &audit::SignatureCheck,
        checkpoints: Vec<Checkpoint>,
    ) -> LogFacts {
        let given = checkpoints.len();
        let options = audit::VerifyOptions {
            signatures: signatures.clone(),
            checkpoints,
            ..Default::default()
        };
        let report = match audit::verify(path, &options) {
            Ok(report) => report,
            Err(error) => {
                return LogFacts {
                    report: None,
                    problem: Some(format!("audit log: {error}")),
                    records: 0,
                    latest_archived: None,
                    archived: HashSet::new(),
                    checkpoints: Vec::new(),
                };
            }
        };
        let problem = if !report.valid {
            Some(format!(
                "audit log {} does not verify ({} problem(s){}): archived-evidence events in it cannot be trusted; run `wormvault audit verify`",
                path.display(),
                report.error_count,
                report
                    .diagnosis
                    .as_ref()
                    .map(|d| format!(", {} at record {}", d.kind, d.record))
                    .unwrap_or_default()
            ))
        } else {
            // A signed log whose signatures were not checked proves nothing about who wrote
            // the archived-evidence events (issue #15 item 4): pass --audit-key-file.
            report.require_signatures_checked().err().map(|e| {
                format!(
                    "{e}; status needs --audit-key-file (HS256) or --audit-trust-root (Ed25519)"
                )
            })
        };
        let (latest_archived, archived) = archived_events(path);
        // The verifier reports one result per checkpoint, in the order given.
        let checkpoints = if report.checkpoints.len() == given {
            report.checkpoints.clone()
        } else {
            Vec::new()
        };
        LogFacts {
            records: report.record_count,
            report: Some(report),
            problem,
            latest_archived,
            archived,
            checkpoints,
        }
    }
}

/// The last `evidence.archived` record, and every such record's `receipts_sha256` (streamed;
/// the log's chain is verified separately).
fn archived_events(path: &Path) -> (Option<ArchivedEvent>, HashSet<String>) {
    let mut latest = None;
    let mut all = HashSet::new();
    let Ok(file) = std::fs::File::open(path) else {
        return (latest, all);
    };
    for line in BufReader::with_capacity(crate::hashing::READ_SIZE, file).lines() {
        let Ok(line) = line else { break };
        // Cheap filter before parsing: most records are other events.
        if !line.contains(ARCHIVED_EVENT) {
            continue;
        }
        let Ok(Value::Object(fields)) = crate::canonical::parse_strict(&line) else {
            continue;
        };
        if fields.get("event_type").and_then(Value::as_str) != Some(ARCHIVED_EVENT) {
            continue;
        }
        let metadata = fields.get("metadata");
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
        let sequence = fields.get("sequence").and_then(Value::as_u64).unwrap_or(0);
        let receipts_sha256 = text(metadata.and_then(|m| m.get("receipts_sha256")));
        if let Some(digest) = &receipts_sha256 {
            all.insert(digest.clone());
        }
        latest = Some(ArchivedEvent {
            sequence,
            created_at: text(fields.get("created_at"))
                .and_then(|t| crate::trust::parse_timestamp(&t)),
            retain_until: text(metadata.and_then(|m| m.get("retain_until")))
                .and_then(|t| crate::trust::parse_timestamp(&t)),
            receipts_sha256,
        });
    }
    (latest, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(states: &[State]) -> Vec<Check> {
        states
            .iter()
            .map(|s| check("x", *s, "", json!({})))
            .collect()
    }

    /// Store-enforced retention in GOVERNANCE mode can be shortened by privileged principals: the
    /// check is degraded, not ready; COMPLIANCE receipts are ready.
    #[test]
    fn governance_receipts_are_not_immutable_storage() {
        let preflight = Ok(PreflightReport {
            target: "s3://b/p".into(),
            checks: Vec::new(),
            enforcement: Enforcement::Store,
        });
        let set = |mode: &str| -> ReceiptSet {
            serde_json::from_value(json!({
                "schema_version": crate::receipt::RECEIPTS_SCHEMA,
                "product": "wormvault", "target": "s3://b/p", "session_id": "s",
                "bundle_digest": "d", "session_prefix": "p/s/d", "plan_sha256": "x",
                "created_at": "2026-12-03T00:00:00Z", "enforcement": "store",
                "receipts": [{
                    "path": "e.json", "key": "p/s/d/e.json", "version_id": "v", "etag": null,
                    "sha256": "00", "md5": null, "bytes": 1, "retention_mode": mode,
                    "retain_until": "2033-12-03T00:00:00Z", "legal_hold": false,
                    "request_id": null, "enforcement": "store", "outcome": "uploaded",
                    "read_at": "2026-12-03T00:00:00Z"
                }]
            }))
            .unwrap()
        };
        let governance = set("governance");
        let verdict = immutable_storage(&preflight, &[&governance], &[]);
        assert_eq!(verdict.state, State::Degraded, "{}", verdict.reason);
        assert!(verdict.reason.contains("GOVERNANCE"), "{}", verdict.reason);
        let compliance = set("compliance");
        assert_eq!(
            immutable_storage(&preflight, &[&compliance], &[]).state,
            State::Ready
        );
    }

    /// A newest anchor whose signature verified but whose root is not the log's at its size (a
    /// checkpoint of another log under the same key) is blocked, not a fresh anchor; the log's
    /// own checkpoint passes with the root match said.
    #[test]
    fn an_anchor_must_match_the_records_at_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.jsonl");
        let signer = audit::Signer::Unsigned;
        for i in 0..3 {
            let record = audit::NewRecord {
                event_type: "x".into(),
                actor: format!("a{i}"),
                action: "a".into(),
                target: "t".into(),
                decision: "allow".into(),
                tenant_id: None,
                workspace_id: None,
                evidence_refs: Vec::new(),
                metadata: Map::new(),
                created_at: None,
            };
            audit::append(&log, &record, &signer).unwrap();
        }
        let genuine = {
            use base64::Engine;
            let report = audit::verify(&log, &Default::default()).unwrap();
            let root: [u8; 32] = base64::engine::general_purpose::STANDARD
                .decode(report.merkle_root.unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            Checkpoint {
                origin: "example.com/a".into(),
                size: 3,
                root,
            }
        };
        let foreign = Checkpoint {
            origin: "example.com/b".into(),
            size: 3,
            root: [0xbb; 32],
        };
        let verdict = |checkpoint: Checkpoint| anchor::AnchorVerdict {
            state: State::Ready,
            reason: "newest anchor x (size 3) is 1s old, within 1m, signature verified".into(),
            details: json!({}),
            checkpoint: Some(checkpoint),
        };
        for (checkpoint, state) in [(genuine, State::Ready), (foreign, State::Blocked)] {
            let facts = LogFacts::gather(
                &log,
                &audit::SignatureCheck::default(),
                vec![checkpoint.clone()],
            );
            let judged = anchor_against_log(verdict(checkpoint), &facts, Some(0));
            assert_eq!(judged.state, state, "{}", judged.reason);
            if state == State::Ready {
                assert!(
                    judged
                        .reason
                        .ends_with(", root matches the log's first 3 records"),
                    "{}",
                    judged.reason
                );
            } else {
                assert!(
                    judged.reason.starts_with(
                        "newest anchor (size 3, origin \"example.com/b\") is not a checkpoint of this log's records: checkpoint \"example.com/b\" at size 3: root mismatch"
                    ),
                    "{}",
                    judged.reason
                );
            }
        }
    }

    #[test]
    fn overall_state_rules() {
        assert_eq!(overall(&with(&[State::Ready; 6])), State::Ready);
        assert_eq!(
            overall(&with(&[State::Ready, State::Unknown])),
            State::Degraded
        );
        assert_eq!(
            overall(&with(&[State::Ready, State::Degraded])),
            State::Degraded
        );
        assert_eq!(
            overall(&with(&[State::Degraded, State::Blocked, State::Unknown])),
            State::Blocked
        );
    }

    #[test]
    fn retention_days_round_to_the_nearest_day() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(days_between(t0, t0 + TimeDelta::days(2555)), 2555);
        // Retain-until fixed at plan time, receipts written minutes later: still 2555.
        assert_eq!(
            days_between(t0 + TimeDelta::minutes(20), t0 + TimeDelta::days(2555)),
            2555
        );
        assert_eq!(days_between(t0, t0 + TimeDelta::days(2554)), 2554);
    }
}
