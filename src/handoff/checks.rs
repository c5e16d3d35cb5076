//! Every check `handoff verify` runs, recomputed from the extracted package: one function per
//! check (architecture-2.md §2.4), each recording its own findings with stable `kind` strings
//! and never returning early, so one run reports every problem.
//!
//! Trust (issue #14 item 1): every signature — bundle, receipts, Ed25519 audit records,
//! checkpoint — is checked against the keys the auditor pins (`--trust-root` files and/or
//! `--trusted-fingerprint`), matched by fingerprint, with status and validity window judged at
//! the signing time. The trust roots inside the package are information only: without a pin
//! the verdict is `UNPINNED`, never `VERIFIED`. HMAC signatures need the shared secret; without
//! it the check is `unchecked` and the verdict is `INCOMPLETE`.
//!
//! One story (item 2): plan, receipts, index, the checkpointed `evidence.archived` event and
//! the checkpoint must agree; retention is measured from the archive time that event proves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    BUNDLE_DIR, CHECKPOINT, CHECKPOINT_KEY, HANDOFF_SCHEMA, HandoffError, HandoffIndex, INDEX,
    PLAN, PROOFS, RECEIPTS, REPORT_HTML, REPORT_JSON, REPORT_SCHEMA, SEGMENT, TRUST_ROOTS,
};
use crate::audit::{self, Checkpoint, CheckpointKey, InclusionProof};
use crate::bundle::{self, FindingKind};
use crate::handoff_html::{self, ReportCheck, ReportObject};
use crate::plan::StoragePlan;
use crate::receipt::ReceiptSet;
use crate::store::Enforcement;
use crate::store::compare::Field;
use crate::trust::{PublicKey, RootStatus, Secret, TrustRoot, TrustStore};

/// The text every human output carries when the storage does not enforce the lock (item 6).
pub use crate::store::TOOL_ONLY;

/// The largest `--minimum-retention-days` accepted (about 1000 years): any archive time plus
/// this is a representable date.
pub const MAX_RETENTION_DAYS: u32 = 365_000;

/// The overall verdict. Only `Verified` exits 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Every check ran and passed, every signature against a pinned key.
    Verified,
    /// At least one check failed.
    Failed,
    /// No key was pinned: nothing the package says about its own keys is authority.
    Unpinned,
    /// Nothing failed, but something could not be checked (an HMAC signature without its key).
    Incomplete,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Verified => "VERIFIED",
            Verdict::Failed => "FAILED",
            Verdict::Unpinned => "UNPINNED",
            Verdict::Incomplete => "INCOMPLETE",
        }
    }
}

/// One problem, with a stable kind (for machines and tests) and the check that found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: String,
    pub check: String,
    pub detail: String,
}

/// A key that signed something in the package, as the package names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundKey {
    /// `bundle`, `receipts`, `audit records`, `checkpoint`.
    pub role: String,
    pub key_id: Option<String>,
    pub fingerprint: Option<String>,
}

/// One hold event about the session's objects, from the checkpointed audit segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldEvent {
    pub sequence: u64,
    pub created_at: String,
    pub event_type: String,
    pub actor: String,
    pub case: Option<String>,
    pub reason: Option<String>,
    pub objects: Vec<String>,
}

/// The machine-readable verification report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoffReport {
    pub schema_version: String,
    pub verified_at: String,
    /// True only for `verdict == VERIFIED`.
    pub valid: bool,
    pub verdict: Verdict,
    pub pinned: bool,
    pub session_id: String,
    pub target: String,
    pub bundle_digest: String,
    /// The archive time proven by the checkpointed `evidence.archived` event.
    pub archived_at: Option<String>,
    /// `store`, `tool` or `unconfirmed`, from the receipts; anything but `store` means the lock
    /// is kept by wormvault only.
    pub enforcement: String,
    pub checks: Vec<ReportCheck>,
    pub findings: Vec<Finding>,
    pub objects: Vec<ReportObject>,
    pub signer: String,
    pub signing_key: String,
    /// Every signing key the package names (what to pin after checking it out of band).
    pub keys_found: Vec<FoundKey>,
    pub hold_events: Vec<HoldEvent>,
    /// Where the objects' hold state comes from: the store (`--online`) or as of packaging.
    pub hold_state_source: String,
    /// The signed checkpoint's size and when its last record was written (for the timeline).
    #[serde(default)]
    pub checkpoint: Option<CheckpointMark>,
    /// The minimum retention (days) the report was made against: a stored report is compared
    /// with the package re-checked as its packager checked it, with these days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_retention_days: Option<u32>,
}

/// Where the package's signed checkpoint sits in the audit log (shown on the custody timeline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMark {
    pub records: u64,
    pub last_record_at: Option<String>,
}

/// Keys the auditor trusts, named outside the package.
#[derive(Debug, Clone, Default)]
pub struct Pins {
    /// Roots from `--trust-root` files.
    pub roots: Vec<TrustRoot>,
    /// `--trusted-fingerprint` values (lowercase hex SHA-256 of the public key PEM).
    pub fingerprints: Vec<String>,
}

/// A `--trusted-fingerprint` value as lowercase hex: an optional `sha256:` prefix in any case,
/// then 64 hex digits in any case. `None` when it is not one.
pub fn normalize_fingerprint(value: &str) -> Option<String> {
    let value = value.trim();
    let hex = match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &value[7..],
        _ => value,
    };
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

impl Pins {
    pub fn from_files(paths: &[PathBuf]) -> Result<Pins, HandoffError> {
        let mut roots: Vec<TrustRoot> = Vec::new();
        for path in paths {
            let store = TrustStore::load(path).map_err(|e| HandoffError::Usage(e.to_string()))?;
            for root in store.roots() {
                if let Some(known) = roots.iter().find(|r| r.key_id == root.key_id) {
                    if known != root {
                        return Err(HandoffError::Usage(format!(
                            "--trust-root files disagree about key id {:?}; pin one definition",
                            root.key_id
                        )));
                    }
                    continue;
                }
                roots.push(root.clone());
            }
        }
        Ok(Pins {
            roots,
            fingerprints: Vec::new(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.fingerprints.is_empty()
    }
}

/// The store's answer to `--online`.
#[derive(Debug, Clone)]
pub struct OnlineResult {
    pub ok: bool,
    /// The store was not contacted: it is not the package's target, or credentials would
    /// have gone over plain HTTP to a non-loopback host.
    pub refused: bool,
    pub detail: String,
    /// Legal hold per object key as the store reports it now (`None`: not reported).
    pub holds: BTreeMap<String, Option<bool>>,
}

pub type OnlineCheck = dyn Fn(&ReceiptSet) -> Result<OnlineResult, String>;

/// What to verify against.
#[derive(Default)]
pub struct VerifyOptions<'a> {
    pub pins: Pins,
    /// HMAC key for an HS256 bundle signature.
    pub bundle_key: Option<Secret>,
    /// HMAC key (and key id, default: the records') for HS256 audit records.
    pub audit_key: Option<(Secret, Option<String>)>,
    pub minimum_retention_days: u32,
    pub online: Option<&'a OnlineCheck>,
    /// Most bytes extracted from the package (default: [`super::extraction_ceiling`]); the
    /// package's own index can only lower it.
    pub max_extract_bytes: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    Unchecked,
}

struct Outcome {
    status: Status,
    detail: String,
    findings: Vec<(&'static str, String)>,
}

impl Outcome {
    fn pass(detail: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Pass,
            detail: detail.into(),
            findings: Vec::new(),
        }
    }
    fn unchecked(detail: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Unchecked,
            detail: detail.into(),
            findings: Vec::new(),
        }
    }
    /// Not checked, with a finding saying why the check could not run.
    fn unchecked_because(kind: &'static str, detail: impl Into<String>) -> Outcome {
        let detail = detail.into();
        Outcome {
            status: Status::Unchecked,
            detail: detail.clone(),
            findings: vec![(kind, detail)],
        }
    }
    fn fail(kind: &'static str, detail: impl Into<String>) -> Outcome {
        let detail = detail.into();
        Outcome {
            status: Status::Fail,
            detail: detail.clone(),
            findings: vec![(kind, detail)],
        }
    }
    /// Pass with `ok` when there are no findings, else fail listing them.
    fn from_findings(findings: Vec<(&'static str, String)>, ok: impl Into<String>) -> Outcome {
        if findings.is_empty() {
            Outcome::pass(ok)
        } else {
            Outcome {
                status: Status::Fail,
                detail: findings
                    .iter()
                    .map(|(k, d)| format!("[{k}] {d}"))
                    .collect::<Vec<_>>()
                    .join("; "),
                findings,
            }
        }
    }
}

fn load_json<T: serde::de::DeserializeOwned>(root: &Path, name: &str) -> Result<T, String> {
    let path = root.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{name}: {e}"))?;
    let value = crate::canonical::parse_strict(&text)
        .map_err(|e| format!("{name}: not valid JSON: {e}"))?;
    serde_json::from_value(value).map_err(|e| format!("{name}: {e}"))
}

/// Everything read from the package once, shared by the checks.
struct Package<'a> {
    root: &'a Path,
    index: Result<HandoffIndex, String>,
    plan: Result<StoragePlan, String>,
    receipts: Result<ReceiptSet, String>,
    /// The package's own trust roots: information, never authority.
    carried: Result<TrustStore, String>,
    /// The keys signatures are checked against: the pins, or (unpinned) the carried roots so
    /// the report can still say what would have been checked.
    trust: Result<TrustStore, String>,
    pinned: bool,
    segment: Vec<Value>,
    checkpoint_pem: Result<String, String>,
}

fn effective_trust(
    pins: &Pins,
    carried: &Result<TrustStore, String>,
    checkpoint_pem: &Result<String, String>,
) -> Result<TrustStore, String> {
    if pins.is_empty() {
        return match carried {
            Ok(store) => with_default_ids(store.roots().to_vec()),
            Err(e) => Err(e.clone()),
        };
    }
    let mut roots = pins.roots.clone();
    let pinned_fp: BTreeSet<String> = pins
        .fingerprints
        .iter()
        .map(|f| normalize_fingerprint(f).unwrap_or_else(|| f.trim().to_ascii_lowercase()))
        .collect();
    let mut add = |root: TrustRoot| {
        if !roots
            .iter()
            .any(|r| r.key_id == root.key_id || r.public_key_sha256 == root.public_key_sha256)
        {
            roots.push(root);
        }
    };
    // A key pinned only by its fingerprint is the pin's; the package's root for it supplies its
    // key id and nothing else of its own: not its validity window or a "retired" status, which
    // the package could write to widen a key's window — with no window the user gave, none is
    // applied, and the signature check says the key was pinned by fingerprint. A revocation the
    // package states is kept (it can only refuse).
    if let Ok(carried) = carried {
        for root in carried.roots() {
            if pinned_fp.contains(&root.public_key_sha256) {
                let status = if root.status == RootStatus::Revoked {
                    RootStatus::Revoked
                } else {
                    RootStatus::Active
                };
                if let Ok(pinned) = TrustRoot::new(
                    &root.public_key_pem,
                    Some(root.key_id.clone()),
                    "pinned by fingerprint",
                    status,
                    None,
                    None,
                ) {
                    add(pinned);
                }
            }
        }
    }
    // A pinned checkpoint key the package carries only as a PEM.
    if let Ok(pem) = checkpoint_pem
        && pinned_fp.contains(&crate::trust::fingerprint(pem))
        && let Ok(root) = TrustRoot::new(
            pem,
            None,
            "pinned by fingerprint",
            RootStatus::Active,
            None,
            None,
        )
    {
        add(root);
    }
    with_default_ids(roots)
}

/// Each pinned key also answers to its default key id (the first 16 hex characters of its
/// fingerprint, what `keys generate` and an archive without `--audit-key-id` write): the id
/// is only a hint for finding the key — the signature must still verify under the pinned key,
/// whose status and window apply unchanged.
fn with_default_ids(mut roots: Vec<TrustRoot>) -> Result<TrustStore, String> {
    let aliases: Vec<TrustRoot> = roots
        .iter()
        .filter_map(|root| {
            let id = crate::trust::default_key_id(&root.public_key_sha256);
            (!roots.iter().any(|r| r.key_id == id)).then(|| TrustRoot {
                key_id: id,
                ..root.clone()
            })
        })
        .collect();
    for alias in aliases {
        if !roots.iter().any(|r| r.key_id == alias.key_id) {
            roots.push(alias);
        }
    }
    TrustStore::new(roots).map_err(|e| e.to_string())
}

/// Revocation is by key, not key id: a key revoked under any id never verifies.
/// What signatures were checked against, said plainly.
fn trust_label(pkg: &Package) -> &'static str {
    if pkg.pinned {
        "the pinned keys"
    } else {
        "the package's own trust roots (information, not authority)"
    }
}

/// The key id under which `key` is revoked, if it is: [`TrustStore::revocation_of`], the one
/// revocation rule (decoded raw key, any key id), for every signature the package carries.
fn revoked_by_key(trust: &TrustStore, key: &PublicKey) -> Option<String> {
    trust.revocation_of(key).map(|r| r.key_id.clone())
}

/// The public key of the pinned root with this fingerprint (to judge its revocation by key).
fn pinned_key(trust: &TrustStore, fingerprint: &str) -> Option<PublicKey> {
    trust
        .roots()
        .iter()
        .find(|r| r.public_key_sha256 == fingerprint)
        .and_then(|r| r.check().ok())
}

fn read_segment(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| crate::canonical::parse_strict(l).ok())
        .collect()
}

/// Every check, recomputed from the package directory. `packaging`: run by `create` (the
/// stored reports are not written yet, so they are not compared).
pub fn check_package(root: &Path, options: &VerifyOptions, packaging: bool) -> HandoffReport {
    let carried = TrustStore::load(&root.join(TRUST_ROOTS)).map_err(|e| e.to_string());
    let checkpoint_pem = std::fs::read_to_string(root.join(CHECKPOINT_KEY))
        .map_err(|e| format!("{CHECKPOINT_KEY}: {e}"));
    let pkg = Package {
        root,
        index: load_json(root, INDEX),
        plan: load_json(root, PLAN),
        receipts: ReceiptSet::load(&root.join(RECEIPTS)),
        trust: effective_trust(&options.pins, &carried, &checkpoint_pem),
        carried,
        pinned: !options.pins.is_empty(),
        segment: read_segment(&root.join(SEGMENT)),
        checkpoint_pem,
    };

    let mut checks: Vec<(&'static str, Outcome)> = Vec::new();
    checks.push(("package_contents", check_contents(&pkg)));
    checks.push(("trust_pinned", check_pinned(&pkg, options)));
    let (bundle_outcome, bundle_report) = check_bundle(&pkg, options);
    checks.push(("bundle_signature_and_files", bundle_outcome));
    checks.push((
        "plan_matches_bundle",
        check_plan(&pkg, bundle_report.as_ref()),
    ));
    let archive_event = proven_archive_event(&pkg);
    checks.push((
        "one_story",
        check_story(&pkg, bundle_report.as_ref(), archive_event.as_ref().ok()),
    ));
    checks.push(("receipts_signature", check_receipts_signature(&pkg)));
    checks.push((
        "retention_minimum",
        check_retention(&pkg, options, &archive_event),
    ));
    let (chain_outcome, segment_report) = check_chain(&pkg, options);
    checks.push(("audit_chain", chain_outcome));
    let (checkpoint_outcome, opened, key) = check_checkpoint_signature(&pkg);
    checks.push(("checkpoint_signature", checkpoint_outcome));
    checks.push((
        "checkpoint_matches_log",
        check_checkpoint_log(&opened, &segment_report),
    ));
    checks.push((
        "archive_event_proofs",
        check_proofs(&pkg, &opened, &key, &archive_event),
    ));
    let mut store_holds = None;
    if let (Some(online), Ok(receipts)) = (options.online, &pkg.receipts) {
        checks.push((
            "store_matches_receipts",
            match online(receipts) {
                // The store was never contacted (not the package's target, or credentials
                // would go over plain HTTP) or never answered: the online comparison did not
                // run, which says nothing about the evidence — `unchecked` (INCOMPLETE, exit 1),
                // never FAILED. The finding names why it did not run.
                Ok(r) if r.refused => Outcome::unchecked_because(
                    "online_refused",
                    format!(
                        "the store was not contacted, so the objects were not compared with the receipts: {}",
                        r.detail
                    ),
                ),
                Ok(r) => {
                    store_holds = Some(r.holds);
                    if r.ok {
                        Outcome::pass(r.detail)
                    } else {
                        Outcome::fail("store_mismatch", r.detail)
                    }
                }
                Err(e) => Outcome::unchecked_because(
                    "store_unreachable",
                    format!(
                        "the store could not be reached, so the objects were not compared with the receipts: {e}"
                    ),
                ),
            },
        ));
    }

    let hold_events = hold_events(&pkg);
    let mut report = assemble(&pkg, checks, bundle_report.as_ref(), &archive_event);
    report.hold_events = hold_events;
    report.checkpoint = opened.as_ref().ok().map(|c| CheckpointMark {
        records: c.size,
        last_record_at: pkg
            .segment
            .iter()
            .find(|r| r["sequence"].as_u64() == Some(c.size))
            .and_then(|r| r["created_at"].as_str().map(str::to_string)),
    });
    apply_hold_history(&mut report);
    report.minimum_retention_days = Some(options.minimum_retention_days);
    report.hold_state_source = if let Some(holds) = &store_holds {
        for object in &mut report.objects {
            let key = object.location.rsplit(' ').next().unwrap_or_default();
            object.legal_hold = match holds.get(key) {
                Some(Some(true)) => "on (read from the store now)".into(),
                Some(Some(false)) => "off (read from the store now)".into(),
                _ => "not reported by the store".into(),
            };
        }
        "read from the store now (--online)".into()
    } else if options.online.is_some() {
        "as of packaging: the store could not be read".into()
    } else {
        "as of packaging (offline): receipts plus the checkpointed hold events; run with --online TARGET to read the store".into()
    };
    if !packaging {
        let stored = check_stored_reports(&pkg, options);
        push_check(&mut report, "stored_reports", stored);
    }
    settle(&mut report);
    report
}

/// The report for a package whose archive entries were tampered with (unsafe names, links,
/// devices, duplicates, data after the archive, a failed gzip trailer): nothing in it is
/// read, the verdict is FAILED, and each entry is a finding under `package_archive`.
pub fn archive_refused(found: &[bundle::Finding]) -> HandoffReport {
    let unknown = || String::from("unknown");
    let mut report = HandoffReport {
        schema_version: REPORT_SCHEMA.into(),
        verified_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        valid: false,
        verdict: Verdict::Failed,
        pinned: false,
        session_id: unknown(),
        target: unknown(),
        bundle_digest: unknown(),
        archived_at: None,
        enforcement: unknown(),
        checks: Vec::new(),
        findings: Vec::new(),
        objects: Vec::new(),
        signer: unknown(),
        signing_key: unknown(),
        keys_found: Vec::new(),
        hold_events: Vec::new(),
        hold_state_source: String::new(),
        checkpoint: None,
        minimum_retention_days: None,
    };
    let detail = format!(
        "the package archive was tampered with; nothing in it was checked: {}",
        found
            .iter()
            .map(|f| format!("[{}] {}", f.kind.as_str(), f.message))
            .collect::<Vec<_>>()
            .join("; ")
    );
    for f in found {
        report.findings.push(Finding {
            kind: f.kind.as_str().into(),
            check: "package_archive".into(),
            detail: f.message.clone(),
        });
    }
    report.checks.push(ReportCheck {
        name: "package_archive".into(),
        passed: false,
        status: "fail".into(),
        detail,
    });
    settle(&mut report);
    report
}

fn push_check(report: &mut HandoffReport, name: &str, outcome: Outcome) {
    for (kind, detail) in &outcome.findings {
        report.findings.push(Finding {
            kind: (*kind).into(),
            check: name.into(),
            detail: detail.clone(),
        });
    }
    report.checks.push(ReportCheck {
        name: name.into(),
        passed: outcome.status == Status::Pass,
        status: match outcome.status {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unchecked => "unchecked",
        }
        .into(),
        detail: outcome.detail,
    });
}

fn settle(report: &mut HandoffReport) {
    report.verdict = if report.checks.iter().any(|c| c.status == "fail") {
        Verdict::Failed
    } else if !report.pinned {
        Verdict::Unpinned
    } else if report.checks.iter().any(|c| c.status != "pass") {
        Verdict::Incomplete
    } else {
        Verdict::Verified
    };
    report.valid = report.verdict == Verdict::Verified;
}

fn assemble(
    pkg: &Package,
    checks: Vec<(&'static str, Outcome)>,
    bundle_report: Option<&bundle::BundleReport>,
    archive_event: &Result<Value, String>,
) -> HandoffReport {
    let (session_id, target, bundle_digest, enforcement) = match &pkg.receipts {
        Ok(r) => (
            r.session_id.clone(),
            r.target.clone(),
            r.bundle_digest.clone(),
            r.enforcement.to_string(),
        ),
        Err(_) => (
            "unknown".into(),
            "unknown".into(),
            "unknown".into(),
            "unknown".into(),
        ),
    };
    let mut signer = String::from("unknown");
    let mut signing_key = String::from("unknown");
    if let Some(report) = bundle_report {
        if let Some(manifest) = &report.manifest {
            signer = manifest.signer.clone();
        }
        if let Some(sig) = &report.signature {
            signing_key = format!(
                "{} key {} (fingerprint {})",
                sig.algorithm,
                sig.key_id.clone().unwrap_or_default(),
                sig.fingerprint.clone().unwrap_or_default()
            );
        }
    }
    let objects = match &pkg.receipts {
        Ok(receipts) => receipts
            .receipts
            .iter()
            .map(|r| ReportObject {
                path: r.path.clone(),
                location: format!("{} {}", receipts.target.trim_end_matches('/'), r.key),
                version_id: r.version_id.clone(),
                sha256: r.sha256.clone().unwrap_or_default(),
                bytes: r.bytes,
                retention_mode: r
                    .retention_mode
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "none reported".into()),
                retain_until: r
                    .retain_until
                    .map(|u| u.to_rfc3339())
                    .unwrap_or_else(|| "none reported".into()),
                legal_hold: r
                    .legal_hold
                    .map(|h| if h { "on" } else { "off" }.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                enforcement: r.enforcement.to_string(),
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut report = HandoffReport {
        schema_version: REPORT_SCHEMA.into(),
        verified_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        valid: false,
        verdict: Verdict::Failed,
        pinned: pkg.pinned,
        session_id,
        target,
        bundle_digest,
        archived_at: archive_event
            .as_ref()
            .ok()
            .and_then(|e| e.get("created_at"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        enforcement,
        checks: Vec::new(),
        findings: Vec::new(),
        objects,
        signer,
        signing_key,
        keys_found: keys_found(pkg, bundle_report),
        hold_events: Vec::new(),
        hold_state_source: String::new(),
        checkpoint: None,
        minimum_retention_days: None,
    };
    for (name, outcome) in checks {
        push_check(&mut report, name, outcome);
    }
    report
}

fn keys_found(pkg: &Package, bundle_report: Option<&bundle::BundleReport>) -> Vec<FoundKey> {
    let by_id = |key_id: &str| -> Option<String> {
        pkg.carried.as_ref().ok().and_then(|t| {
            t.roots()
                .iter()
                .find(|r| r.key_id == key_id)
                .map(|r| r.public_key_sha256.clone())
        })
    };
    let mut found = Vec::new();
    if let Some(sig) = bundle_report.and_then(|r| r.signature.as_ref())
        && sig.algorithm == "Ed25519"
    {
        found.push(FoundKey {
            role: "bundle".into(),
            key_id: sig.key_id.clone(),
            fingerprint: sig
                .fingerprint
                .clone()
                .or_else(|| sig.key_id.as_deref().and_then(by_id)),
        });
    }
    if let Ok(r) = &pkg.receipts
        && let Some(sig) = &r.signature
    {
        let key_id = sig
            .get("key_id")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        found.push(FoundKey {
            role: "receipts".into(),
            fingerprint: sig
                .get("public_key_sha256")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .or_else(|| key_id.as_deref().and_then(by_id)),
            key_id,
        });
    }
    let mut audit_ids = BTreeSet::new();
    for record in &pkg.segment {
        let sig = record.get("signature");
        if sig
            .and_then(|s| s.get("algorithm"))
            .and_then(|a| a.as_str())
            == Some("Ed25519")
            && let Some(id) = sig.and_then(|s| s.get("key_id")).and_then(|a| a.as_str())
        {
            audit_ids.insert(id.to_string());
        }
    }
    for id in audit_ids {
        found.push(FoundKey {
            role: "audit records".into(),
            fingerprint: by_id(&id),
            key_id: Some(id),
        });
    }
    if let Ok(pem) = &pkg.checkpoint_pem {
        found.push(FoundKey {
            role: "checkpoint".into(),
            key_id: None,
            fingerprint: Some(crate::trust::fingerprint(pem)),
        });
    }
    found
}

/// Is `name` a file of the layout `handoff` writes? The fixed documents, and the bundle's
/// files directly under `bundle/` (a bundle is flat; its own verifier judges which belong).
pub(crate) fn in_layout(name: &str) -> bool {
    const FIXED: [&str; 10] = [
        INDEX,
        TRUST_ROOTS,
        PLAN,
        RECEIPTS,
        SEGMENT,
        CHECKPOINT,
        CHECKPOINT_KEY,
        PROOFS,
        REPORT_JSON,
        REPORT_HTML,
    ];
    FIXED.contains(&name)
        || name
            .strip_prefix(BUNDLE_DIR)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|file| !file.is_empty() && !file.contains('/'))
}

/// Why an index name may not be opened, if it may not: it must be a safe relative path in its
/// normal form (the archive entries' rule: no absolute path, `..`, backslash, NUL or drive
/// prefix, no `.` or empty components).
fn unsafe_index_name(name: &str) -> Option<String> {
    match bundle::safe_relative(name) {
        Err(reason) => Some(reason),
        Ok(parts) if parts.is_empty() => Some("names no file".into()),
        Ok(parts) if parts.join("/") != name => {
            Some(format!("not in normal form (it is {:?})", parts.join("/")))
        }
        Ok(_) => None,
    }
}

/// Hash the regular file `name` under `root`, following no link and opening no device, FIFO
/// or socket: every component is examined without following it first, and the opened file is
/// checked to be a regular file before a byte is read.
fn hash_regular_file(root: &Path, name: &str) -> Result<crate::hashing::FileDigest, String> {
    let mut path = root.to_path_buf();
    let parts: Vec<&str> = name.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
        let last = i + 1 == parts.len();
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Err("is a symbolic link; only regular files are read".into());
        }
        if !last && !kind.is_dir() {
            return Err(format!("{} is not a directory", parts[..=i].join("/")));
        }
        if last && !kind.is_file() {
            return Err("is not a regular file; only regular files are read".into());
        }
    }
    let mut file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
    if !file.metadata().map_err(|e| e.to_string())?.is_file() {
        return Err("is not a regular file; only regular files are read".into());
    }
    crate::hashing::sha256_reader(&mut file, &|_| {}).map_err(|e| e.to_string())
}

fn check_contents(pkg: &Package) -> Outcome {
    let index = match &pkg.index {
        Ok(index) => index,
        Err(e) => return Outcome::fail("index_invalid", format!("{INDEX}: {e}")),
    };
    if index.schema_version != HANDOFF_SCHEMA {
        return Outcome::fail(
            "index_invalid",
            format!("{INDEX} has schema {:?}", index.schema_version),
        );
    }
    let files = match super::list_files(pkg.root) {
        Ok(files) => files,
        Err(e) => return Outcome::fail("index_invalid", e.to_string()),
    };
    let mut findings = Vec::new();
    for name in &files {
        if !in_layout(name) {
            findings.push((
                "package_file_unexpected",
                format!(
                    "{name:?} is not part of the package layout `wormvault handoff` writes; nothing outside it is read or trusted, and its presence fails the package"
                ),
            ));
        } else if name != INDEX && !index.files.contains_key(name) {
            findings.push((
                "package_file_unlisted",
                format!("{name} is in the package but not in {INDEX}"),
            ));
        }
    }
    for (name, sha) in &index.files {
        if let Some(reason) = unsafe_index_name(name) {
            findings.push((
                "index_path_unsafe",
                format!("{INDEX} lists {name:?}, which is unsafe ({reason}); it was not opened"),
            ));
            continue;
        }
        if !in_layout(name) {
            if !files.contains(name) {
                findings.push((
                    "package_file_unexpected",
                    format!(
                        "{INDEX} lists {name:?}, which is not part of the package layout `wormvault handoff` writes"
                    ),
                ));
            }
            continue;
        }
        match hash_regular_file(pkg.root, name) {
            Err(e) => findings.push(("package_file_missing", format!("{name}: {e}"))),
            Ok(digest) if &digest.sha256 != sha => findings.push((
                "package_file_changed",
                format!("{name} has SHA-256 {}, the index says {sha}", digest.sha256),
            )),
            Ok(_) => {}
        }
    }
    // The count leaves out the stored reports (written after the packager's own check, and
    // compared under `stored_reports`), so the packager's report and a re-check agree.
    let evidence = index
        .files
        .keys()
        .filter(|n| *n != REPORT_JSON && *n != REPORT_HTML)
        .count();
    Outcome::from_findings(
        findings,
        format!(
            "{evidence} files match {INDEX}, every one in the package layout (besides the stored reports)"
        ),
    )
}

fn check_pinned(pkg: &Package, options: &VerifyOptions) -> Outcome {
    if !pkg.pinned {
        return Outcome::unchecked(
            "UNPINNED: no --trust-root or --trusted-fingerprint given; the keys the package names are listed, pin them after checking them out of band",
        );
    }
    match &pkg.trust {
        Err(e) => Outcome::fail("pins_invalid", e.clone()),
        Ok(trust) => {
            let mut keys: Vec<String> = Vec::new();
            for root in trust.roots() {
                if !keys.iter().any(|k| k.ends_with(&root.public_key_sha256)) {
                    keys.push(format!("{} {}", root.key_id, root.public_key_sha256));
                }
            }
            Outcome::pass(format!(
                "{} pinned key(s) ({} --trust-root, {} --trusted-fingerprint): {}",
                keys.len(),
                options.pins.roots.len(),
                options.pins.fingerprints.len(),
                keys.join(", ")
            ))
        }
    }
}

fn check_bundle(pkg: &Package, options: &VerifyOptions) -> (Outcome, Option<bundle::BundleReport>) {
    let trust = match &pkg.trust {
        Ok(trust) => trust.clone(),
        Err(e) => return (Outcome::fail("pins_invalid", e.clone()), None),
    };
    let report = match bundle::verify(
        &pkg.root.join(BUNDLE_DIR),
        &bundle::VerifyOptions {
            trust: Some(trust.clone()),
            hmac_key: options.bundle_key.clone(),
            minimum_retention_days: Some(u64::from(options.minimum_retention_days)),
            ..Default::default()
        },
    ) {
        Ok(report) => report,
        Err(e) => return (Outcome::fail("bundle_unreadable", e.to_string()), None),
    };
    let hmac_unchecked = report
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::KeyMaterialMissing)
        && report
            .signature
            .as_ref()
            .is_some_and(|s| s.algorithm == "HS256");
    let mut findings: Vec<(&'static str, String)> = report
        .findings
        .iter()
        .filter(|f| !(hmac_unchecked && f.kind == FindingKind::KeyMaterialMissing))
        .map(|f| {
            (
                "bundle_invalid",
                format!("[{}] {}", f.kind.as_str(), f.message),
            )
        })
        .collect();
    if let Some(fp) = report
        .signature
        .as_ref()
        .and_then(|s| s.fingerprint.clone())
        && let Some(id) = pinned_key(&trust, &fp).and_then(|k| revoked_by_key(&trust, &k))
    {
        findings.push((
            "key_revoked",
            format!("the bundle's signing key {fp} is revoked (as {id:?})"),
        ));
    }
    let outcome = if !findings.is_empty() {
        Outcome::from_findings(findings, "")
    } else if hmac_unchecked {
        Outcome::unchecked(format!(
            "{} files match the manifest; the HS256 (HMAC) signature is unchecked: pass --bundle-key-file with the shared key",
            report.files.len()
        ))
    } else {
        Outcome::pass(format!(
            "{} files match the manifest; signature verified against {}",
            report.files.len(),
            trust_label(pkg)
        ))
    };
    (outcome, Some(report))
}

fn check_plan(pkg: &Package, bundle_report: Option<&bundle::BundleReport>) -> Outcome {
    let plan = match &pkg.plan {
        Ok(plan) => plan,
        Err(e) => return Outcome::fail("plan_invalid", e.clone()),
    };
    let Some(report) = bundle_report else {
        return Outcome::fail("bundle_unreadable", "no readable bundle");
    };
    let mut findings = Vec::new();
    let digest = report.digest.clone().unwrap_or_default();
    if plan.bundle_digest != digest {
        findings.push((
            "bundle_digest_mismatch",
            format!(
                "plan is for bundle {}, the package's bundle is {digest}",
                plan.bundle_digest
            ),
        ));
    }
    let listed: BTreeSet<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    for object in &plan.objects {
        // The plan is read before anything vouches for it: its paths get the index's rule.
        let name = format!("{BUNDLE_DIR}/{}", object.path);
        let digest = match unsafe_index_name(&name) {
            Some(reason) => Err(format!("unsafe path ({reason}); it was not opened")),
            None => hash_regular_file(pkg.root, &name),
        };
        match digest {
            Err(e) => findings.push(("plan_bundle_mismatch", format!("{}: {e}", object.path))),
            Ok(sha) if sha.sha256 != object.sha256 => findings.push((
                "plan_bundle_mismatch",
                format!(
                    "{}: plan says {}, bundle file is {}",
                    object.path, object.sha256, sha.sha256
                ),
            )),
            Ok(_) => {}
        }
    }
    let planned: BTreeSet<&str> = plan.objects.iter().map(|o| o.path.as_str()).collect();
    for path in listed.difference(&planned) {
        findings.push((
            "plan_incomplete",
            format!("bundle file {path} is not in the plan"),
        ));
    }
    Outcome::from_findings(
        findings,
        format!(
            "{} planned objects match the bundle files",
            plan.objects.len()
        ),
    )
}

/// The `evidence.archived` event carrying these receipts' hash, found in the segment (which the
/// checkpoint covers when `checkpoint_matches_log` passes).
fn proven_archive_event(pkg: &Package) -> Result<Value, String> {
    let receipts = pkg.receipts.as_ref().map_err(Clone::clone)?;
    let digest = receipts.digest();
    pkg.segment
        .iter()
        .find(|r| {
            r.get("event_type").and_then(|v| v.as_str()) == Some("evidence.archived")
                && r.get("metadata")
                    .and_then(|m| m.get("receipts_sha256"))
                    .and_then(|v| v.as_str())
                    == Some(digest.as_str())
        })
        .cloned()
        .ok_or_else(|| {
            format!("no evidence.archived event in the audit segment carries the receipts' hash {digest}")
        })
}

/// Plan, receipts, index and the archive event tell one story (issue #14 item 2).
fn check_story(
    pkg: &Package,
    bundle_report: Option<&bundle::BundleReport>,
    event: Option<&Value>,
) -> Outcome {
    let (Ok(plan), Ok(receipts)) = (&pkg.plan, &pkg.receipts) else {
        return Outcome::fail(
            "document_unreadable",
            format!(
                "{}{}",
                pkg.plan.as_ref().err().cloned().unwrap_or_default(),
                pkg.receipts.as_ref().err().cloned().unwrap_or_default()
            ),
        );
    };
    let mut f: Vec<(&'static str, String)> = Vec::new();
    let mut agree = |kind: &'static str, what: &str, values: &[(&str, Option<String>)]| {
        let known: Vec<&(&str, Option<String>)> =
            values.iter().filter(|(_, v)| v.is_some()).collect();
        if let Some((_, first)) = known.first()
            && known.iter().any(|(_, v)| v != first)
        {
            f.push((
                kind,
                format!(
                    "{what} differs: {}",
                    known
                        .iter()
                        .map(|(doc, v)| format!("{doc} {:?}", v.clone().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    };
    let index = pkg.index.as_ref().ok();
    let meta = |name: &str| {
        event
            .and_then(|e| e.get("metadata"))
            .and_then(|m| m.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let event_target = event
        .and_then(|e| e.get("target"))
        .and_then(|v| v.as_str())
        .map(|t| {
            t.split_once('#')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        });
    let (event_store, event_prefix) = match event_target {
        Some(Some((a, b))) => (Some(a), Some(b)),
        Some(None) => (Some(String::from("(unparseable)")), None),
        None => (None, None),
    };
    agree(
        "session_mismatch",
        "session id",
        &[
            ("plan", Some(plan.session_id.clone())),
            ("receipts", Some(receipts.session_id.clone())),
            ("index", index.map(|i| i.session_id.clone())),
        ],
    );
    agree(
        "bundle_digest_mismatch",
        "bundle digest",
        &[
            ("plan", Some(plan.bundle_digest.clone())),
            ("receipts", Some(receipts.bundle_digest.clone())),
            ("index", index.map(|i| i.bundle_digest.clone())),
            ("archive event", meta("bundle_digest")),
            ("bundle", bundle_report.and_then(|r| r.digest.clone())),
        ],
    );
    let norm = |t: &str| t.trim_end_matches('/').to_string();
    agree(
        "target_mismatch",
        "target",
        &[
            ("plan", Some(norm(&plan.target))),
            ("receipts", Some(norm(&receipts.target))),
            ("index", index.map(|i| norm(&i.target))),
            ("archive event", event_store.map(|t| norm(&t))),
        ],
    );
    agree(
        "session_prefix_mismatch",
        "session prefix",
        &[
            ("plan", Some(norm(&plan.session_prefix))),
            ("receipts", Some(norm(&receipts.session_prefix))),
            ("archive event", event_prefix.map(|p| norm(&p))),
        ],
    );
    agree(
        "plan_digest_mismatch",
        "plan SHA-256",
        &[
            ("plan", Some(plan.digest())),
            ("receipts", Some(receipts.plan_sha256.clone())),
            ("archive event", meta("plan_sha256")),
        ],
    );
    agree(
        "enforcement_mismatch",
        "enforcement",
        &[
            ("receipts", Some(receipts.enforcement.to_string())),
            ("archive event", meta("enforcement")),
        ],
    );
    if let Some(retain) = meta("retain_until") {
        let event_until = crate::trust::parse_timestamp(&retain).map(|t| t.timestamp());
        if event_until != Some(plan.retention.retain_until.timestamp()) {
            f.push((
                "retain_until_mismatch",
                format!(
                    "the archive event says retain-until {retain}, the plan {}",
                    plan.retention.retain_until.to_rfc3339()
                ),
            ));
        }
    }
    if let Some(count) = event
        .and_then(|e| e.get("metadata"))
        .and_then(|m| m.get("objects"))
        .and_then(|v| v.as_u64())
        && count != plan.objects.len() as u64
    {
        f.push((
            "object_count_mismatch",
            format!(
                "the archive event counts {count} objects, the plan {}",
                plan.objects.len()
            ),
        ));
    }
    if event.is_none() {
        f.push((
            "archive_event_missing",
            "no evidence.archived event carries these receipts' hash".into(),
        ));
    }
    // Objects: receipts list exactly the plan's objects, with what the store reported.
    let mut seen = BTreeMap::new();
    for receipt in &receipts.receipts {
        if seen.insert(receipt.key.as_str(), receipt).is_some() {
            f.push((
                "receipt_duplicate",
                format!("{} has more than one receipt", receipt.key),
            ));
        }
        if receipt.enforcement != receipts.enforcement {
            f.push((
                "enforcement_mismatch",
                format!(
                    "{}: receipt says enforcement {}, the receipt set {}",
                    receipt.key, receipt.enforcement, receipts.enforcement
                ),
            ));
        }
    }
    for object in &plan.objects {
        let Some(receipt) = seen.remove(object.key.as_str()) else {
            f.push((
                "receipt_missing",
                format!("{}: planned but no receipt", object.key),
            ));
            continue;
        };
        if receipt.path != object.path {
            f.push((
                "object_path_mismatch",
                format!(
                    "{}: receipt path {}, plan {}",
                    object.key, receipt.path, object.path
                ),
            ));
        }
        // The same comparison and rule as the read-back that wrote the receipt
        // (receipt::compare, Rules::PLAN): retain-until at least the plan's, hold exactly, lock
        // fields skipped under `unconfirmed` enforcement.
        for m in crate::receipt::compare(object, &receipt.as_stored()) {
            let key = &object.key;
            let (kind, detail) = match m.field {
                Field::Sha256 => (
                    "object_digest_mismatch",
                    format!(
                        "{key}: store reported SHA-256 {}, plan {}",
                        m.found, m.expected
                    ),
                ),
                Field::Bytes => (
                    "object_size_mismatch",
                    format!(
                        "{key}: store reported {} bytes, plan {}",
                        m.found, m.expected
                    ),
                ),
                Field::RetentionMode => (
                    "retention_mode_mismatch",
                    format!(
                        "{key}: store reported mode {}, plan {}",
                        m.found, m.expected
                    ),
                ),
                Field::RetainUntil => (
                    "retain_until_mismatch",
                    format!(
                        "{key}: store reported retain-until {}, plan {}",
                        m.found, m.expected
                    ),
                ),
                Field::LegalHold => (
                    "legal_hold_mismatch",
                    format!(
                        "{key}: store reported legal hold {}, plan {}",
                        m.found, m.expected
                    ),
                ),
                other => (
                    "object_mismatch",
                    format!(
                        "{key}: store reported {other} {}, plan {}",
                        m.found, m.expected
                    ),
                ),
            };
            f.push((kind, detail));
        }
    }
    // Later events about the objects (holds) name the same versions the receipts do.
    let versions: BTreeMap<&str, &str> = receipts
        .receipts
        .iter()
        .filter_map(|r| Some((r.key.as_str(), r.version_id.as_deref()?)))
        .collect();
    for record in &pkg.segment {
        let sequence = record.get("sequence").and_then(|v| v.as_u64()).unwrap_or(0);
        let objects = record
            .get("metadata")
            .and_then(|m| m.get("objects"))
            .and_then(|o| o.as_array());
        for object in objects.into_iter().flatten() {
            let key = object
                .get("key")
                .and_then(|k| k.as_str())
                .unwrap_or_default();
            let version = object.get("version_id").and_then(|v| v.as_str());
            if let (Some(expected), Some(found)) = (versions.get(key), version)
                && expected != &found
            {
                f.push((
                    "version_mismatch",
                    format!(
                        "audit record {sequence} names {key} version {found}, the receipts {expected}"
                    ),
                ));
            }
        }
    }
    for key in seen.keys() {
        f.push((
            "receipt_unplanned",
            format!("{key}: receipt for an object the plan does not list"),
        ));
    }
    Outcome::from_findings(
        f,
        format!(
            "plan, receipts, index and the archive event agree on session {}, bundle, target and {} objects",
            plan.session_id,
            plan.objects.len()
        ),
    )
}

fn check_receipts_signature(pkg: &Package) -> Outcome {
    let receipts = match &pkg.receipts {
        Ok(r) => r,
        Err(e) => return Outcome::fail("receipts_invalid", e.clone()),
    };
    if receipts.signature.is_none() {
        return Outcome::pass(
            "receipts are not signed (their SHA-256 is carried by the signed, checkpointed archive event)",
        );
    }
    let trust = match &pkg.trust {
        Ok(trust) => trust,
        Err(e) => return Outcome::fail("pins_invalid", e.clone()),
    };
    match receipts.verify_signature(trust) {
        Err(e) => Outcome::fail("receipts_signature_invalid", e),
        Ok(key) => {
            match pinned_key(trust, &key.fingerprint).and_then(|k| revoked_by_key(trust, &k)) {
                Some(id) => Outcome::fail(
                    "key_revoked",
                    format!(
                        "receipts signing key {} is revoked (as {id:?})",
                        key.fingerprint
                    ),
                ),
                None => Outcome::pass(format!("signed by {} ({})", key.key_id, key.fingerprint)),
            }
        }
    }
}

/// Retention measured from the archive time the checkpointed event proves, never from a date
/// the receipts state about themselves (issue #14 item 2).
fn check_retention(
    pkg: &Package,
    options: &VerifyOptions,
    event: &Result<Value, String>,
) -> Outcome {
    let receipts = match &pkg.receipts {
        Ok(r) => r,
        Err(e) => return Outcome::fail("receipts_invalid", e.clone()),
    };
    let days = options.minimum_retention_days;
    if receipts.enforcement == Enforcement::Unconfirmed {
        return Outcome::fail(
            "enforcement_unconfirmed",
            format!(
                "the store could not confirm immutability (enforcement: unconfirmed): {TOOL_ONLY}"
            ),
        );
    }
    let archived = match event {
        Err(e) => return Outcome::fail("archive_time_unproven", e.clone()),
        Ok(event) => match event
            .get("created_at")
            .and_then(|v| v.as_str())
            .and_then(crate::trust::parse_timestamp)
        {
            Some(t) => t,
            None => {
                return Outcome::fail(
                    "archive_time_unproven",
                    "the archive event has no readable created_at",
                );
            }
        },
    };
    let Some(required) = chrono::TimeDelta::try_days(i64::from(days))
        .and_then(|span| archived.checked_add_signed(span))
    else {
        return Outcome::fail(
            "retention_minimum_out_of_range",
            format!(
                "a minimum retention of {days} days after {} is past the last representable date; use at most {MAX_RETENTION_DAYS} days",
                archived.to_rfc3339()
            ),
        );
    };
    let now = chrono::Utc::now();
    let mut findings = Vec::new();
    for r in &receipts.receipts {
        match r.retain_until {
            Some(until) if until.timestamp() >= required.timestamp() => {
                if until < now {
                    findings.push((
                        "retention_expired",
                        format!("{}: retain-until {} has already passed", r.key, until.to_rfc3339()),
                    ));
                }
            }
            other => findings.push((
                "retention_too_short",
                format!(
                    "{}: locked until {} — less than {days} days after the archive time {} proven by the audit event",
                    r.key,
                    other.map(|u| u.to_rfc3339()).unwrap_or_else(|| "nothing".into()),
                    archived.to_rfc3339()
                ),
            )),
        }
    }
    let who = if receipts.enforcement == Enforcement::Store {
        "enforced by the store".to_string()
    } else {
        TOOL_ONLY.to_string()
    };
    Outcome::from_findings(
        findings,
        format!(
            "every object locked until at least {} ({days} days after the archive time {} proven by the audit event); {who}",
            required.to_rfc3339(),
            archived.to_rfc3339()
        ),
    )
}

fn first_signature_algorithm(segment: &[Value]) -> Option<String> {
    segment
        .first()?
        .get("signature")?
        .get("algorithm")?
        .as_str()
        .map(str::to_string)
}

fn check_chain(pkg: &Package, options: &VerifyOptions) -> (Outcome, Option<audit::VerifyReport>) {
    let algorithm = first_signature_algorithm(&pkg.segment);
    let (signatures, note) = match (algorithm.as_deref(), &pkg.trust, &options.audit_key) {
        (Some("Ed25519"), Ok(trust), _) => (
            audit::SignatureCheck::Ed25519 {
                trust: trust.clone(),
            },
            if pkg.pinned {
                "Ed25519 signatures verified against the pinned keys"
            } else {
                "Ed25519 signatures verified against the package's own trust roots (information, not authority)"
            },
        ),
        (Some("HS256"), _, Some((key, key_id))) => {
            let key_id = key_id.clone().unwrap_or_else(|| {
                pkg.segment[0]["signature"]["key_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            });
            (
                audit::SignatureCheck::Hmac {
                    key: key.expose().to_vec(),
                    key_id,
                },
                "HS256 signatures verified with --audit-key-file",
            )
        }
        _ => (audit::SignatureCheck::None, ""),
    };
    let checked = signatures.is_enabled();
    // Revocation is by key: an audit key id whose pinned key is revoked under any id fails.
    let mut revoked = Vec::new();
    if let (Some("Ed25519"), Ok(trust)) = (algorithm.as_deref(), &pkg.trust) {
        let ids: BTreeSet<&str> = pkg
            .segment
            .iter()
            .filter_map(|r| r.get("signature")?.get("key_id")?.as_str())
            .collect();
        for id in ids {
            if let Some(root) = trust.roots().iter().find(|r| r.key_id == id)
                && let Some(as_id) = root.check().ok().and_then(|k| revoked_by_key(trust, &k))
            {
                revoked.push((
                    "key_revoked",
                    format!(
                        "audit records are signed by key id {id:?}, whose key {} is revoked (as {as_id:?})",
                        root.public_key_sha256
                    ),
                ));
            }
        }
    }
    if !revoked.is_empty() {
        return (Outcome::from_findings(revoked, ""), None);
    }
    let report = audit::verify(
        &pkg.root.join(SEGMENT),
        &audit::VerifyOptions {
            signatures,
            ..Default::default()
        },
    );
    let outcome = match &report {
        Err(e) => Outcome::fail("audit_chain_invalid", e.to_string()),
        Ok(r) if !r.valid => Outcome::fail("audit_chain_invalid", r.errors.join("; ")),
        Ok(r) if checked => {
            Outcome::pass(format!("{} records, chain intact, {note}", r.record_count))
        }
        Ok(r) if algorithm.is_none() => Outcome::fail(
            "audit_records_unsigned",
            format!(
                "{} records, chain intact, but the records are not signed: anyone could have written them",
                r.record_count
            ),
        ),
        Ok(r) => Outcome::unchecked(format!(
            "{} records, chain intact; the {} record signatures are unchecked: pass --audit-key-file with the shared key",
            r.record_count,
            algorithm.unwrap_or_default()
        )),
    };
    (outcome, report.ok())
}

fn check_checkpoint_signature(
    pkg: &Package,
) -> (
    Outcome,
    Result<Checkpoint, String>,
    Result<CheckpointKey, String>,
) {
    let note = std::fs::read_to_string(pkg.root.join(CHECKPOINT)).map_err(|e| e.to_string());
    let key = (|| -> Result<CheckpointKey, (&'static str, String)> {
        let pem = pkg
            .checkpoint_pem
            .clone()
            .map_err(|e| ("checkpoint_invalid", e))?;
        let fingerprint = crate::trust::fingerprint(&pem);
        let trust = pkg
            .trust
            .as_ref()
            .map_err(|e| ("pins_invalid", e.clone()))?;
        let public = PublicKey::from_spki_pem(&pem, CHECKPOINT_KEY)
            .map_err(|e| ("checkpoint_invalid", e.to_string()))?;
        // Revocation first, by the decoded key (the same rule as every other signature).
        if let Some(id) = revoked_by_key(trust, &public) {
            return Err((
                "key_revoked",
                format!("checkpoint key {fingerprint} is revoked (as {id:?})"),
            ));
        }
        // The pinned root for this key, by the decoded key too (its PEM text may differ).
        let root = trust.roots_for_key(&public).next().ok_or_else(|| {
            (
                "checkpoint_key_unpinned",
                format!(
                    "checkpoint key {fingerprint} is not among {}",
                    trust_label(pkg)
                ),
            )
        })?;
        // A checkpoint is signed no earlier than the last record it covers.
        let signed_at = pkg
            .segment
            .last()
            .and_then(|r| r.get("created_at"))
            .and_then(|v| v.as_str())
            .and_then(crate::trust::parse_timestamp)
            .ok_or((
                "checkpoint_invalid",
                "the segment has no dated last record".to_string(),
            ))?;
        root.admits(signed_at)
            .map_err(|e| ("checkpoint_key_not_admitted", e.to_string()))?;
        let name = note
            .as_ref()
            .map(|n| n.lines().next().unwrap_or_default().to_string())
            .unwrap_or_default();
        Ok(CheckpointKey {
            name,
            key: public.verifying_key(),
        })
    })();
    let (outcome, opened) = match (&note, &key) {
        (Err(e), _) => (
            Outcome::fail("checkpoint_invalid", e.clone()),
            Err(e.clone()),
        ),
        (_, Err((kind, e))) => (Outcome::fail(kind, e.clone()), Err(e.clone())),
        (Ok(note), Ok(key)) => match Checkpoint::open(note, key) {
            Ok(c) => (
                Outcome::pass(format!(
                    "{} records signed by one of {}",
                    c.size,
                    trust_label(pkg)
                )),
                Ok(c),
            ),
            Err(e) => (
                Outcome::fail("checkpoint_signature_invalid", e.to_string()),
                Err(e.to_string()),
            ),
        },
    };
    (outcome, opened, key.map_err(|(_, e)| e))
}

fn check_checkpoint_log(
    opened: &Result<Checkpoint, String>,
    segment: &Option<audit::VerifyReport>,
) -> Outcome {
    use base64::Engine;
    match (opened, segment) {
        (Err(e), _) => Outcome::fail("checkpoint_invalid", e.clone()),
        (_, None) => Outcome::fail("audit_chain_invalid", "the audit segment cannot be read"),
        (Ok(checkpoint), Some(report)) => {
            let root = base64::engine::general_purpose::STANDARD.encode(checkpoint.root);
            if checkpoint.size == report.tree_size && Some(&root) == report.merkle_root.as_ref() {
                Outcome::pass(format!(
                    "segment of {} records has the checkpoint's Merkle root",
                    report.tree_size
                ))
            } else {
                Outcome::fail(
                    "checkpoint_log_mismatch",
                    format!(
                        "checkpoint commits to {} records root {root}, the segment has {} records root {}",
                        checkpoint.size,
                        report.tree_size,
                        report.merkle_root.as_deref().unwrap_or("(not computed)")
                    ),
                )
            }
        }
    }
}

fn check_proofs(
    pkg: &Package,
    opened: &Result<Checkpoint, String>,
    key: &Result<CheckpointKey, String>,
    event: &Result<Value, String>,
) -> Outcome {
    let proofs: Vec<InclusionProof> = match load_json(pkg.root, PROOFS) {
        Ok(p) => p,
        Err(e) => return Outcome::fail("archive_event_unproven", e),
    };
    let (key, checkpoint) = match (key, opened) {
        (Ok(k), Ok(c)) => (k, c),
        (Err(e), _) | (_, Err(e)) => return Outcome::fail("archive_event_unproven", e.clone()),
    };
    let Ok(event) = event else {
        return Outcome::fail(
            "archive_event_unproven",
            event.clone().err().unwrap_or_default(),
        );
    };
    let mut proven = false;
    for proof in &proofs {
        let checked = match proof.check(Some(key)) {
            Ok(c) => c,
            Err(e) => return Outcome::fail("archive_event_unproven", e.to_string()),
        };
        if !checked.valid {
            return Outcome::fail(
                "archive_event_unproven",
                format!(
                    "proof for record {}: {}",
                    proof.sequence,
                    checked.errors.join("; ")
                ),
            );
        }
        if proof.tree_size != checkpoint.size {
            return Outcome::fail(
                "archive_event_unproven",
                format!(
                    "proof for record {} is against a tree of {} records, the package's checkpoint has {}",
                    proof.sequence, proof.tree_size, checkpoint.size
                ),
            );
        }
        if &proof.record == event {
            proven = true;
        }
    }
    if proven {
        Outcome::pass(format!(
            "the archive event carrying the receipts' hash is proved included in the signed checkpoint ({} proof(s))",
            proofs.len()
        ))
    } else {
        Outcome::fail(
            "archive_event_unproven",
            "no inclusion proof is for the archive event carrying these receipts' hash",
        )
    }
}

fn hold_events(pkg: &Package) -> Vec<HoldEvent> {
    let Ok(receipts) = &pkg.receipts else {
        return Vec::new();
    };
    pkg.segment
        .iter()
        .filter(|r| {
            r.get("event_type")
                .and_then(|v| v.as_str())
                .is_some_and(|t| t.starts_with("legal_hold."))
                && super::is_about_session(r, &receipts.target, &receipts.session_prefix)
        })
        .map(|r| {
            let s = |v: Option<&Value>| v.and_then(|v| v.as_str()).map(str::to_string);
            let meta = r.get("metadata");
            HoldEvent {
                sequence: r.get("sequence").and_then(|v| v.as_u64()).unwrap_or(0),
                created_at: s(r.get("created_at")).unwrap_or_default(),
                event_type: s(r.get("event_type")).unwrap_or_default(),
                actor: s(meta.and_then(|m| m.get("actor")))
                    .or(s(r.get("actor")))
                    .unwrap_or_default(),
                case: s(meta.and_then(|m| m.get("case")))
                    .or(s(meta.and_then(|m| m.get("case_id")))),
                reason: s(meta.and_then(|m| m.get("reason"))),
                objects: meta
                    .and_then(|m| m.get("objects"))
                    .and_then(|o| o.as_array())
                    .map(|objects| {
                        objects
                            .iter()
                            .filter(|o| o.get("error").is_none_or(|e| e.is_null()))
                            .filter_map(|o| {
                                o.get("key")
                                    .and_then(|k| k.as_str())
                                    .or(o.as_str())
                                    .map(str::to_string)
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The hold state as of packaging: the receipts' state, then each checkpointed hold event.
fn apply_hold_history(report: &mut HandoffReport) {
    hold_states(&mut report.objects, &report.hold_events);
}

fn hold_states(objects: &mut [ReportObject], events: &[HoldEvent]) {
    // The store keeps one flag per version; which cases hold it is the registry's: a version is
    // held while at least one case that set a hold on it has not released it (issue #16). So
    // the state shown is the set of cases still holding, not the last event's direction.
    let mut holding: BTreeMap<String, (BTreeSet<String>, u64)> = BTreeMap::new();
    for event in events {
        let set = match event.event_type.as_str() {
            "legal_hold.set" => true,
            "legal_hold.released" => false,
            _ => continue, // outcomes (`legal_hold.applied`) change no case's hold
        };
        let case = event.case.clone().unwrap_or_else(|| "none".into());
        for key in &event.objects {
            let entry = holding.entry(key.clone()).or_default();
            if set {
                entry.0.insert(case.clone());
            } else {
                entry.0.remove(&case);
            }
            entry.1 = event.sequence;
        }
    }
    for object in objects {
        let key = object.location.rsplit(' ').next().unwrap_or_default();
        if let Some((cases, last)) = holding.get(key) {
            object.legal_hold = if cases.is_empty() {
                format!("off (no case holds it since record {last})")
            } else {
                format!(
                    "on (case{} {}; last change record {last})",
                    if cases.len() > 1 { "s" } else { "" },
                    cases.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            };
        }
    }
}

/// The package re-checked exactly as `handoff` checked it before writing its reports: pinned
/// to the trust roots it carries, without HMAC keys, offline, with the stored report's minimum
/// retention (else the auditor's). The stored report must be this, field for field.
fn packager_replay(
    pkg: &Package,
    options: &VerifyOptions,
    stored_days: Option<u32>,
) -> HandoffReport {
    let pins = Pins {
        roots: pkg
            .carried
            .as_ref()
            .map(|c| c.roots().to_vec())
            .unwrap_or_default(),
        fingerprints: Vec::new(),
    };
    let replay = VerifyOptions {
        pins,
        minimum_retention_days: stored_days.unwrap_or(options.minimum_retention_days),
        ..Default::default()
    };
    check_package(pkg.root, &replay, true)
}

/// Most differences listed one by one before the rest are counted.
const MAX_LISTED_DIFFERENCES: usize = 12;

/// Every path at which `stored` differs from `expected`: objects by key, arrays by index (by
/// `name` where the elements have one, such as `checks[retention_minimum].detail`).
fn differences(path: &str, stored: &Value, expected: &Value, out: &mut Vec<String>) {
    match (stored, expected) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                differences(
                    &sub,
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let label = match (x.get("name"), y.get("name")) {
                    (Some(Value::String(n)), Some(Value::String(m))) if n == m => n.clone(),
                    _ => i.to_string(),
                };
                differences(&format!("{path}[{label}]"), x, y, out);
            }
        }
        _ if stored != expected => out.push(path.to_string()),
        _ => {}
    }
}

/// Two differing values as text, long ones clipped around where they first differ.
fn shown_pair(a: &Value, b: &Value) -> (String, String) {
    let (a, b) = (a.to_string(), b.to_string());
    let (x, y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let common = x.iter().zip(&y).take_while(|(p, q)| p == q).count();
    let start = common.saturating_sub(40);
    let clip = |c: &[char]| {
        let end = c.len().min(start + 160);
        format!(
            "{}{}{}",
            if start > 0 { "…" } else { "" },
            c[start.min(c.len())..end].iter().collect::<String>(),
            if end < c.len() { "…" } else { "" }
        )
    };
    (clip(&x), clip(&y))
}

fn lookup<'a>(value: &'a Value, path: &str) -> &'a Value {
    // Paths are built by `differences`: `a.b[name].c`.
    let mut current = value;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((key, rest)) => (key, Some(rest.trim_end_matches(']'))),
            None => (part, None),
        };
        current = current.get(key).unwrap_or(&Value::Null);
        if let Some(index) = index {
            current = match current.as_array() {
                Some(items) => items
                    .iter()
                    .find(|i| i.get("name").and_then(|n| n.as_str()) == Some(index))
                    .or_else(|| index.parse::<usize>().ok().and_then(|n| items.get(n)))
                    .unwrap_or(&Value::Null),
                None => &Value::Null,
            };
        }
    }
    current
}

/// The reports stored in the package are what the packager saw; they are compared with the
/// package re-checked as the packager checked it ([`packager_replay`]) and any disagreement —
/// a check's status or detail, a finding, a key, the verdict, any field — is a finding naming
/// the field (issue #14 item 8). A report and page written by another wormvault version cannot
/// be reproduced here: its facts and verdict are still compared, the rest is `unchecked`, so
/// the verdict is never VERIFIED on the strength of a page nobody checked.
fn check_stored_reports(pkg: &Package, options: &VerifyOptions) -> Outcome {
    let stored_value = load_json::<Value>(pkg.root, REPORT_JSON);
    let schema = stored_value
        .as_ref()
        .ok()
        .and_then(|v| v.get("schema_version"))
        .and_then(|s| s.as_str());
    if schema == Some("wormvault.handoff-report.v1") {
        return Outcome::unchecked(
            "the stored reports were written by an older wormvault (handoff-report.v1) and cannot be compared; rebuild the package with `wormvault handoff`",
        );
    }
    let (stored, stored_value): (HandoffReport, Value) = match stored_value.and_then(|v| {
        Ok((
            serde_json::from_value(v.clone()).map_err(|e| format!("{REPORT_JSON}: {e}"))?,
            v,
        ))
    }) {
        Ok(pair) => pair,
        Err(e) => return Outcome::fail("stored_report_mismatch", e),
    };
    let html = std::fs::read_to_string(pkg.root.join(REPORT_HTML));
    let this_version = env!("CARGO_PKG_VERSION");
    let other_version = html
        .as_ref()
        .ok()
        .and_then(|h| rendered_by(h))
        .filter(|v| *v != this_version)
        .map(|v| v.chars().take(40).collect::<String>());

    let replay = packager_replay(pkg, options, stored.minimum_retention_days);
    let mut expected = serde_json::to_value(&replay).unwrap_or(Value::Null);
    let mut theirs = stored_value;
    let mut findings = Vec::new();
    if other_version.is_some() {
        // Another version's wording cannot be reproduced: compare the facts and the verdict.
        let facts = |r: &Value| {
            let mut out = serde_json::Map::new();
            for field in [
                "session_id",
                "target",
                "bundle_digest",
                "archived_at",
                "enforcement",
                "signer",
                "signing_key",
                "objects",
                "hold_events",
                "verdict",
                "valid",
                "pinned",
            ] {
                out.insert(field.into(), r.get(field).cloned().unwrap_or(Value::Null));
            }
            Value::Object(out)
        };
        expected = facts(&expected);
        theirs = facts(&theirs);
    } else {
        for value in [&mut expected, &mut theirs] {
            if let Some(object) = value.as_object_mut() {
                object.remove("verified_at");
            }
        }
    }
    let mut paths = Vec::new();
    differences("", &theirs, &expected, &mut paths);
    for path in paths.iter().take(MAX_LISTED_DIFFERENCES) {
        findings.push((
            "stored_report_mismatch",
            {
                let (a, b) = shown_pair(lookup(&theirs, path), lookup(&expected, path));
                format!(
                    "{REPORT_JSON} says {path} is {a}, but the package re-checked as its packager checked it gives {b}"
                )
            },
        ));
    }
    if paths.len() > MAX_LISTED_DIFFERENCES {
        findings.push((
            "stored_report_mismatch",
            format!(
                "{REPORT_JSON} differs in {} more field(s)",
                paths.len() - MAX_LISTED_DIFFERENCES
            ),
        ));
    }
    if stored.verdict != Verdict::Verified && stored.verdict != Verdict::Incomplete {
        findings.push((
            "stored_report_mismatch",
            format!("{REPORT_JSON} records verdict {}", stored.verdict.as_str()),
        ));
    }
    // The stored page is a rendering of the stored JSON. Rendered by this wormvault, it must be
    // byte for byte what that JSON renders to (an edited page is caught).
    match &html {
        Err(e) => findings.push(("stored_html_mismatch", format!("{REPORT_HTML}: {e}"))),
        Ok(_) if other_version.is_some() => {}
        Ok(html) if *html != handoff_html::render(&super::view(&stored)) => findings.push((
            "stored_html_mismatch",
            format!("{REPORT_HTML} is not the page {REPORT_JSON} renders to: it was edited"),
        )),
        Ok(_) => {}
    }
    if findings.is_empty()
        && let Some(version) = other_version
    {
        return Outcome::unchecked(format!(
            "the stored reports say they were rendered by wormvault {version:?}, not this wormvault {this_version}: their facts and verdict agree with what was recomputed, but the stored HTML page and the checks' wording cannot be reproduced here and were NOT checked — do not rely on the stored page; read the page this verify writes (--html), or rebuild the package with wormvault {this_version}"
        ));
    }
    Outcome::from_findings(
        findings,
        "the stored JSON report is, field for field, the package re-checked as its packager checked it, and the stored HTML page is what it renders to (the reports shown are the recomputed ones)",
    )
}

/// The wormvault version a stored HTML report names as its generator, if any.
fn rendered_by(html: &str) -> Option<&str> {
    let start = html.find("<meta name=\"generator\" content=\"wormvault ")?
        + "<meta name=\"generator\" content=\"wormvault ".len();
    let rest = &html[start..];
    rest.find('"').map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_version_of_a_stored_page_is_read() {
        let page = "<head><meta name=\"generator\" content=\"wormvault 0.1.0\"></head>";
        assert_eq!(rendered_by(page), Some("0.1.0"));
        assert_eq!(rendered_by("<html>no meta</html>"), None);
    }

    fn root(status: RootStatus, id: &str) -> TrustRoot {
        let key = crate::trust::KeyPair::generate().unwrap();
        TrustRoot::new(
            &key.public().spki_pem(),
            Some(id.into()),
            "o",
            status,
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn overlapping_cases_keep_a_version_held_until_the_last_releases() {
        let event = |sequence, kind: &str, case: &str, objects: &[&str]| HoldEvent {
            sequence,
            created_at: String::new(),
            event_type: kind.into(),
            actor: "rm".into(),
            case: Some(case.into()),
            reason: None,
            objects: objects.iter().map(|o| o.to_string()).collect(),
        };
        let object = |key: &str| ReportObject {
            path: key.into(),
            location: format!("t {key}"),
            version_id: None,
            sha256: String::new(),
            bytes: 0,
            retention_mode: "COMPLIANCE".into(),
            retain_until: String::new(),
            legal_hold: "off".into(),
            enforcement: "store".into(),
        };
        let mut objects = vec![object("a/k1"), object("a/k2")];
        let events = vec![
            event(5, "legal_hold.set", "CASE-1", &["a/k1", "a/k2"]),
            event(6, "legal_hold.applied", "CASE-1", &[]),
            event(7, "legal_hold.set", "CASE-2", &["a/k1"]),
            event(9, "legal_hold.released", "CASE-1", &["a/k1", "a/k2"]),
        ];
        hold_states(&mut objects, &events);
        assert_eq!(
            objects[0].legal_hold,
            "on (case CASE-2; last change record 9)"
        );
        assert_eq!(
            objects[1].legal_hold,
            "off (no case holds it since record 9)"
        );
    }

    #[test]
    fn revocation_is_by_key_not_key_id() {
        let active = root(RootStatus::Active, "a");
        let mut revoked = active.clone();
        revoked.key_id = "b".into();
        revoked.status = RootStatus::Revoked;
        let store = TrustStore::new(vec![active.clone(), revoked]).unwrap();
        assert_eq!(
            revoked_by_key(&store, &active.check().unwrap()).as_deref(),
            Some("b")
        );
        let other = root(RootStatus::Active, "c");
        assert_eq!(revoked_by_key(&store, &other.check().unwrap()), None);
    }

    #[test]
    fn fingerprint_pins_select_carried_roots_only() {
        let a = root(RootStatus::Active, "a");
        let b = root(RootStatus::Active, "b");
        let carried = Ok(TrustStore::new(vec![a.clone(), b.clone()]).unwrap());
        let pins = Pins {
            roots: vec![],
            fingerprints: vec![format!("sha256:{}", a.public_key_sha256.to_uppercase())],
        };
        let trust = effective_trust(&pins, &carried, &Err("none".into())).unwrap();
        let fps: BTreeSet<&str> = trust
            .roots()
            .iter()
            .map(|r| r.public_key_sha256.as_str())
            .collect();
        assert_eq!(fps, BTreeSet::from([a.public_key_sha256.as_str()]));
        // The default key id answers for the same key, never for another one.
        assert!(
            trust
                .roots()
                .iter()
                .any(|r| r.key_id == crate::trust::default_key_id(&a.public_key_sha256))
        );
    }

    #[test]
    fn verdicts_never_verify_unpinned_or_unchecked() {
        let check = |status: &str| ReportCheck {
            name: "x".into(),
            passed: status == "pass",
            status: status.into(),
            detail: String::new(),
        };
        let mut report = HandoffReport {
            schema_version: REPORT_SCHEMA.into(),
            verified_at: String::new(),
            valid: false,
            verdict: Verdict::Failed,
            pinned: true,
            session_id: String::new(),
            target: String::new(),
            bundle_digest: String::new(),
            archived_at: None,
            enforcement: "store".into(),
            checks: vec![check("pass")],
            findings: vec![],
            objects: vec![],
            signer: String::new(),
            signing_key: String::new(),
            keys_found: vec![],
            hold_events: vec![],
            hold_state_source: String::new(),
            checkpoint: None,
            minimum_retention_days: None,
        };
        settle(&mut report);
        assert_eq!((report.verdict, report.valid), (Verdict::Verified, true));
        report.checks.push(check("unchecked"));
        settle(&mut report);
        assert_eq!((report.verdict, report.valid), (Verdict::Incomplete, false));
        report.pinned = false;
        settle(&mut report);
        assert_eq!(report.verdict, Verdict::Unpinned);
        report.checks.push(check("fail"));
        settle(&mut report);
        assert_eq!((report.verdict, report.valid), (Verdict::Failed, false));
    }

    #[test]
    fn session_events_by_target_or_object_key() {
        let about = |v: Value| super::super::is_about_session(&v, "file:///v", "p/s1/d");
        assert!(about(serde_json::json!({"target": "file:///v/#p/s1/d"})));
        assert!(about(
            serde_json::json!({"target": "x", "metadata": {"objects": [{"key": "p/s1/d/a.json"}]}})
        ));
        assert!(!about(serde_json::json!({"target": "file:///v#p/s1/d2"})));
        assert!(!about(
            serde_json::json!({"target": "file:///other#p/s1/d"})
        ));
        assert!(!about(
            serde_json::json!({"target": "x", "metadata": {"objects": [{"key": "p/s1/dx/a"}]}})
        ));
    }
}
