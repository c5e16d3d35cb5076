//! The tamper drill: copy a bundle and an audit log into a scratch directory, tamper with the
//! copies in every way the verifiers know, run the real verifiers ([`crate::bundle::verify`],
//! [`crate::audit::verify`]) on each copy, and check that each tamper is caught (the verdict is
//! invalid) and localised (the right finding kind on the right file, or the right diagnosis on
//! the right record). The inputs are only read; their digests before and after are recorded.
//!
//! Before any tamper, the untampered copies must verify (the baseline cases): a failure on a
//! copy of evidence that already fails proves nothing, so tamper cases are then inconclusive
//! and the drill fails.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{DrillError, FileIdentity, identify};
use crate::audit::record::Canonical;
use crate::audit::{self, Checkpoint, SignatureCheck};
use crate::bundle::{self, MANIFEST_FILE, RETENTION_FILE};
use crate::canonical;

pub const TAMPER_SCHEMA: &str = "wormvault.drill.tamper.v1";
/// The file the extra-file case adds to the bundle copy.
const EXTRA_FILE: &str = "drill-unlisted-file.txt";
/// Origin of the in-memory checkpoint taken of the untampered log.
const CHECKPOINT_ORIGIN: &str = "wormvault.drill/untampered-log";

/// What to verify against: the same key material as `bundle verify` and `audit verify`.
#[derive(Debug, Clone, Default)]
pub struct TamperOptions {
    pub bundle: bundle::VerifyOptions,
    /// Record signatures; `None` means the signature cases show signatures going unchecked.
    pub audit_signatures: SignatureCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Bundle,
    AuditLog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Valid,
    Invalid,
}

/// A case's result. Only `Pass` and `NotApplicable` let the drill pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseOutcome {
    /// Caught and localised (or, for a baseline, verified).
    Pass,
    /// The verifier passed the tampered copy (or, for a baseline, rejected the untampered one).
    NotCaught,
    /// Caught, but the report points at the wrong kind or place.
    NotLocalised,
    /// Not run: the untampered copy does not verify, so a failure would prove nothing.
    Inconclusive,
    /// The evidence has nothing this tamper could attack (e.g. unsigned records).
    NotApplicable,
}

impl CaseOutcome {
    pub fn text(self) -> &'static str {
        match self {
            CaseOutcome::Pass => "pass",
            CaseOutcome::NotCaught => "NOT CAUGHT",
            CaseOutcome::NotLocalised => "NOT LOCALISED",
            CaseOutcome::Inconclusive => "inconclusive",
            CaseOutcome::NotApplicable => "not applicable",
        }
    }

    fn acceptable(self) -> bool {
        matches!(self, CaseOutcome::Pass | CaseOutcome::NotApplicable)
    }
}

/// What the verifier should say.
#[derive(Debug, Clone, Serialize)]
pub struct Expected {
    pub verdict: Verdict,
    /// Bundle: a finding kind; audit log: a diagnosis kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Bundle: the file the finding names; audit log: `record N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// What the verifier said.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    pub verdict: Verdict,
    /// Bundle: every finding kind; audit log: the diagnosis kind.
    pub kinds: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// Stable id, e.g. `bundle.changed_byte`, `audit_log.deleted_record`.
    pub id: String,
    pub subject: Subject,
    /// What was done to the copy.
    pub tamper: String,
    /// Which checks ran: `files+signature+retention`, `chain`, `chain+checkpoint`, `chain+signatures`.
    pub verification: String,
    pub expected: Expected,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    pub caught: bool,
    pub localised: bool,
    pub outcome: CaseOutcome,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleInput {
    pub path: String,
    /// The bundle's identity (SHA-256 of the canonical manifest), when the manifest is readable.
    pub digest: Option<String>,
    pub files: Vec<FileIdentity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogInput {
    #[serde(flatten)]
    pub file: FileIdentity,
    pub records: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    pub bundle: BundleInput,
    pub audit_log: LogInput,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub bundle_key_material: String,
    pub audit_signature_check: String,
    pub minimum_retention_days: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub not_applicable: usize,
}

/// The drill evidence (`wormvault.drill.tamper.v1`).
#[derive(Debug, Clone, Serialize)]
pub struct TamperDrill {
    pub schema_version: &'static str,
    pub product: &'static str,
    pub tool_version: &'static str,
    pub started_at: String,
    pub finished_at: String,
    pub inputs: Inputs,
    pub settings: Settings,
    pub cases: Vec<Case>,
    pub summary: Summary,
    /// The inputs hash the same after the drill as before.
    pub inputs_unchanged: bool,
    /// Every case passed (or was not applicable) and the inputs are unchanged.
    pub passed: bool,
}

impl TamperDrill {
    /// Cases that made the drill fail.
    pub fn failures(&self) -> impl Iterator<Item = &Case> {
        self.cases.iter().filter(|c| !c.outcome.acceptable())
    }
}

/// Run the drill on copies of `bundle_dir` and `log` inside `scratch` (a fresh directory the
/// caller owns, e.g. a temp dir).
pub fn tamper(
    bundle_dir: &Path,
    log: &Path,
    options: &TamperOptions,
    scratch: &Path,
) -> Result<TamperDrill, DrillError> {
    let started_at = super::now();
    if !bundle_dir.is_dir() {
        return Err(DrillError::NotABundleDirectory {
            path: bundle_dir.to_path_buf(),
        });
    }
    if !log.exists() {
        return Err(DrillError::Audit(audit::AuditError::MissingLog {
            path: log.to_path_buf(),
        }));
    }
    let inputs_before = inputs(bundle_dir, log)?;
    let records = inputs_before.audit_log.records;
    if records < 3 {
        return Err(DrillError::LogTooShort {
            path: log.to_path_buf(),
            records,
        });
    }

    let mut cases = bundle_cases(bundle_dir, options, scratch)?;
    cases.extend(log_cases(log, records, options, scratch)?);

    let inputs_after = inputs(bundle_dir, log)?;
    let inputs_unchanged = inputs_after.bundle.files == inputs_before.bundle.files
        && inputs_after.audit_log.file.sha256 == inputs_before.audit_log.file.sha256;
    let summary = Summary {
        cases: cases.len(),
        passed: cases
            .iter()
            .filter(|c| c.outcome == CaseOutcome::Pass)
            .count(),
        failed: cases.iter().filter(|c| !c.outcome.acceptable()).count(),
        not_applicable: cases
            .iter()
            .filter(|c| c.outcome == CaseOutcome::NotApplicable)
            .count(),
    };
    let settings = Settings {
        bundle_key_material: bundle_key_material(&options.bundle),
        audit_signature_check: match &options.audit_signatures {
            SignatureCheck::None => "none".into(),
            SignatureCheck::Hmac { key_id, .. } => format!("HS256 key id {key_id}"),
            SignatureCheck::Ed25519 { .. } => "Ed25519 trust roots".into(),
        },
        minimum_retention_days: options.bundle.minimum_retention_days,
    };
    Ok(TamperDrill {
        schema_version: TAMPER_SCHEMA,
        product: "wormvault",
        tool_version: env!("CARGO_PKG_VERSION"),
        started_at,
        finished_at: super::now(),
        inputs: inputs_before,
        settings,
        passed: summary.failed == 0 && inputs_unchanged,
        summary,
        cases,
        inputs_unchanged,
    })
}

fn bundle_key_material(options: &bundle::VerifyOptions) -> String {
    let mut parts = Vec::new();
    if options.trust.is_some() {
        parts.push("trust roots".to_string());
    }
    if let Some((key, _)) = &options.public_key {
        parts.push(format!("public key {}", key.fingerprint()));
    }
    if options.hmac_key.is_some() {
        parts.push("HMAC key".to_string());
    }
    if options.allow_unsigned {
        parts.push("unsigned allowed".to_string());
    }
    if let Some(key_id) = &options.key_id {
        parts.push(format!("key id {key_id}"));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn inputs(bundle_dir: &Path, log: &Path) -> Result<Inputs, DrillError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(bundle_dir)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| DrillError::UnreadableBundle {
            path: bundle_dir.to_path_buf(),
            problem: e.to_string(),
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(bundle_dir)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        files.push(identify(entry.path(), &relative)?);
    }
    let digest = fs::read_to_string(bundle_dir.join(MANIFEST_FILE))
        .ok()
        .and_then(|text| canonical::parse_strict(&text).ok())
        .filter(Value::is_object)
        .map(|value| crate::hashing::sha256_hex(canonical::spaced(&value).as_bytes()));
    let records = count_records(log)?;
    Ok(Inputs {
        bundle: BundleInput {
            path: bundle_dir.display().to_string(),
            digest,
            files,
        },
        audit_log: LogInput {
            file: identify(log, &log.display().to_string())?,
            records,
        },
    })
}

/// Non-blank lines: what the verifier numbers as records.
fn count_records(log: &Path) -> Result<u64, DrillError> {
    let file = File::open(log).map_err(DrillError::io("opening audit log", log))?;
    let mut count = 0;
    for line in BufReader::with_capacity(crate::hashing::READ_SIZE, file).split(b'\n') {
        let line = line.map_err(DrillError::io("reading audit log", log))?;
        if !line.iter().all(u8::is_ascii_whitespace) {
            count += 1;
        }
    }
    Ok(count)
}

// ---------------------------------------------------------------------------------------------
// Bundle cases
// ---------------------------------------------------------------------------------------------

const BUNDLE_CHECKS: &str = "files+signature+retention";

fn copy_bundle(source: &Path, dest: &Path) -> Result<(), DrillError> {
    fs::create_dir_all(dest).map_err(DrillError::io("creating", dest))?;
    for entry in walkdir::WalkDir::new(source)
        .min_depth(1)
        .follow_links(false)
    {
        let entry = entry.map_err(|e| DrillError::UnreadableBundle {
            path: source.to_path_buf(),
            problem: e.to_string(),
        })?;
        let relative = entry.path().strip_prefix(source).unwrap_or(entry.path());
        let target = dest.join(relative);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).map_err(DrillError::io("creating", &target))?;
        } else if entry.file_type().is_file() {
            fs::copy(entry.path(), &target).map_err(DrillError::io("copying", entry.path()))?;
            // The copy may inherit a read-only mode (a restored or vaulted bundle); the drill
            // edits copies only.
            // Owner write only (set_readonly(false) would make it world-writable on Unix).
            let mode = fs::metadata(&target)
                .map_err(DrillError::io("reading", &target))?
                .permissions()
                .mode();
            fs::set_permissions(&target, fs::Permissions::from_mode(mode | 0o200))
                .map_err(DrillError::io("making writable", &target))?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Map<String, Value>, DrillError> {
    let text = fs::read_to_string(path).map_err(DrillError::io("reading", path))?;
    match canonical::parse_strict(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DrillError::UnreadableBundle {
            path: path.to_path_buf(),
            problem: "not a JSON object".into(),
        }),
    }
}

fn write_json(path: &Path, map: &Map<String, Value>) -> Result<(), DrillError> {
    let mut text = canonical::spaced(&Value::Object(map.clone()));
    text.push('\n');
    fs::write(path, text).map_err(DrillError::io("writing", path))
}

/// A different signature value of the same shape: flip one bit of the decoded bytes (base64
/// for Ed25519/HS256, hex for the unsigned SHA256 digest).
fn forge_value(value: &str, hex_encoded: bool) -> String {
    if hex_encoded {
        let mut bytes = hex::decode(value).unwrap_or_else(|_| vec![0; 32]);
        if let Some(first) = bytes.first_mut() {
            *first ^= 0x01;
        }
        return hex::encode(bytes);
    }
    let mut bytes = BASE64.decode(value).unwrap_or_else(|_| vec![0; 32]);
    match bytes.first_mut() {
        Some(first) => *first ^= 0x01,
        None => bytes.push(1),
    }
    BASE64.encode(bytes)
}

/// Edits a bundle copy in place.
type BundleEdit = Box<dyn Fn(&Path) -> Result<(), DrillError>>;
/// Rewrites one audit-log record line (1-based record index) into zero or more outputs.
type LineEdit = Box<dyn FnMut(u64, String) -> Result<Vec<Emit>, DrillError>>;

struct BundleCase {
    id: &'static str,
    tamper: String,
    kind: &'static str,
    path: String,
    applicable: Result<(), String>,
    edit: BundleEdit,
}

fn bundle_cases(
    bundle_dir: &Path,
    options: &TamperOptions,
    scratch: &Path,
) -> Result<Vec<Case>, DrillError> {
    // Baseline: the untampered copy must verify.
    let pristine = scratch.join("bundle.baseline");
    copy_bundle(bundle_dir, &pristine)?;
    let baseline_report = bundle::verify(&pristine, &options.bundle)?;
    let mut cases = vec![baseline_case(
        "bundle.baseline",
        Subject::Bundle,
        BUNDLE_CHECKS,
        baseline_report.valid,
        baseline_report
            .kinds()
            .iter()
            .map(|k| k.to_string())
            .collect(),
        if baseline_report.valid {
            "no findings".to_string()
        } else {
            baseline_report
                .findings
                .iter()
                .map(|f| format!("[{}] {}", f.kind, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        },
    )];
    let baseline_ok = baseline_report.valid;

    // The file to attack: the first non-empty listed file other than the retention policy.
    let manifest = read_json(&pristine.join(MANIFEST_FILE))?;
    let listed: Vec<(String, u64)> = manifest
        .get("files")
        .and_then(Value::as_array)
        .map(|files| {
            files
                .iter()
                .filter_map(|f| {
                    Some((
                        f.get("path")?.as_str()?.to_string(),
                        f.get("bytes")?.as_u64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let target = listed
        .iter()
        .find(|(path, bytes)| path != RETENTION_FILE && *bytes > 0)
        .map(|(path, _)| path.clone())
        .ok_or_else(|| DrillError::UnreadableBundle {
            path: bundle_dir.join(MANIFEST_FILE),
            problem:
                "the manifest lists no non-empty file besides retention-policy.json to tamper with"
                    .into(),
        })?;
    let algorithm = manifest
        .get("signature")
        .and_then(|s| s.get("algorithm"))
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_string();
    // An unsigned manifest carries a digest instead of a signature: tampering shows as a digest
    // mismatch there.
    let signature_kind = if algorithm == "SHA256" {
        "digest_mismatch"
    } else {
        "signature_invalid"
    };
    let minimum = options.bundle.minimum_retention_days.filter(|m| *m > 0);

    let t = target.clone();
    let mut specs = vec![BundleCase {
        id: "bundle.changed_byte",
        tamper: format!("flipped one bit of the first byte of {target}"),
        kind: "file_hash_mismatch",
        path: target.clone(),
        applicable: Ok(()),
        edit: Box::new(move |dir| {
            let path = dir.join(&t);
            let mut bytes = fs::read(&path).map_err(DrillError::io("reading", &path))?;
            if let Some(first) = bytes.first_mut() {
                *first ^= 0x01;
            }
            fs::write(&path, bytes).map_err(DrillError::io("writing", &path))
        }),
    }];
    let t = target.clone();
    specs.push(BundleCase {
        id: "bundle.truncated_file",
        tamper: format!("truncated {target} to half its length"),
        kind: "file_size_mismatch",
        path: target.clone(),
        applicable: Ok(()),
        edit: Box::new(move |dir| {
            let path = dir.join(&t);
            let length = fs::metadata(&path)
                .map_err(DrillError::io("reading", &path))?
                .len();
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(DrillError::io("opening", &path))?;
            file.set_len(length / 2)
                .map_err(DrillError::io("truncating", &path))
        }),
    });
    specs.push(BundleCase {
        id: "bundle.extra_file",
        tamper: format!("added {EXTRA_FILE}, which the manifest does not list"),
        kind: "file_unlisted",
        path: EXTRA_FILE.into(),
        applicable: Ok(()),
        edit: Box::new(|dir| {
            let path = dir.join(EXTRA_FILE);
            fs::write(&path, b"planted by the tamper drill\n")
                .map_err(DrillError::io("writing", &path))
        }),
    });
    let t = target.clone();
    specs.push(BundleCase {
        id: "bundle.missing_file",
        tamper: format!("deleted {target}"),
        kind: "file_missing",
        path: target.clone(),
        applicable: Ok(()),
        edit: Box::new(move |dir| {
            let path = dir.join(&t);
            fs::remove_file(&path).map_err(DrillError::io("deleting", &path))
        }),
    });
    let t = target.clone();
    specs.push(BundleCase {
        id: "bundle.manifest_edited",
        tamper: format!("changed {target} and rewrote its sha256 and bytes in manifest.json to match, keeping the signature"),
        kind: signature_kind,
        path: MANIFEST_FILE.into(),
        applicable: Ok(()),
        edit: Box::new(move |dir| {
            let path = dir.join(&t);
            let mut bytes = fs::read(&path).map_err(DrillError::io("reading", &path))?;
            bytes.extend_from_slice(b"\nappended by the tamper drill\n");
            fs::write(&path, &bytes).map_err(DrillError::io("writing", &path))?;
            let manifest_path = dir.join(MANIFEST_FILE);
            let mut manifest = read_json(&manifest_path)?;
            if let Some(Value::Array(files)) = manifest.get_mut("files") {
                for entry in files.iter_mut().filter(|f| f.get("path").and_then(Value::as_str) == Some(t.as_str())) {
                    if let Value::Object(entry) = entry {
                        entry.insert("sha256".into(), Value::from(crate::hashing::sha256_hex(&bytes)));
                        entry.insert("bytes".into(), Value::from(bytes.len() as u64));
                    }
                }
            }
            write_json(&manifest_path, &manifest)
        }),
    });
    let hex_signature = algorithm == "SHA256";
    specs.push(BundleCase {
        id: "bundle.signature_replaced",
        tamper: format!(
            "replaced the {algorithm} signature value in manifest.json with a forged one"
        ),
        kind: signature_kind,
        path: MANIFEST_FILE.into(),
        applicable: if manifest
            .get("signature")
            .and_then(|s| s.get("value"))
            .and_then(Value::as_str)
            .is_some()
        {
            Ok(())
        } else {
            Err("the manifest carries no signature value to replace".into())
        },
        edit: Box::new(move |dir| {
            let manifest_path = dir.join(MANIFEST_FILE);
            let mut manifest = read_json(&manifest_path)?;
            if let Some(Value::Object(signature)) = manifest.get_mut("signature") {
                let forged = forge_value(
                    signature
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    hex_signature,
                );
                signature.insert("value".into(), Value::from(forged));
            }
            write_json(&manifest_path, &manifest)
        }),
    });
    specs.push(BundleCase {
        id: "bundle.signature_removed",
        tamper: "removed the signature from manifest.json".into(),
        kind: "signature_missing",
        path: MANIFEST_FILE.into(),
        applicable: Ok(()),
        edit: Box::new(|dir| {
            let manifest_path = dir.join(MANIFEST_FILE);
            let mut manifest = read_json(&manifest_path)?;
            manifest.remove("signature");
            write_json(&manifest_path, &manifest)
        }),
    });
    specs.push(BundleCase {
        id: "bundle.manifest_removed",
        tamper: "deleted manifest.json".into(),
        kind: "manifest_missing",
        path: MANIFEST_FILE.into(),
        applicable: Ok(()),
        edit: Box::new(|dir| {
            let path = dir.join(MANIFEST_FILE);
            fs::remove_file(&path).map_err(DrillError::io("deleting", &path))
        }),
    });
    specs.push(BundleCase {
        id: "bundle.retention_lowered",
        tamper: match minimum {
            Some(m) => format!(
                "lowered retention_days in retention-policy.json to {} (minimum {m})",
                m - 1
            ),
            None => "lower retention_days below the minimum".into(),
        },
        kind: "retention_below_minimum",
        path: RETENTION_FILE.into(),
        applicable: match minimum {
            Some(_) => Ok(()),
            None => {
                Err("no minimum retention is checked (pass --minimum-retention-days N > 0)".into())
            }
        },
        edit: Box::new(move |dir| {
            let path = dir.join(RETENTION_FILE);
            let mut policy = read_json(&path)?;
            policy.insert(
                "retention_days".into(),
                Value::from(minimum.unwrap_or(1).saturating_sub(1)),
            );
            write_json(&path, &policy)
        }),
    });
    specs.push(BundleCase {
        id: "bundle.retention_policy_removed",
        tamper: "deleted retention-policy.json".into(),
        kind: "retention_policy_missing",
        path: RETENTION_FILE.into(),
        applicable: match minimum {
            Some(_) => Ok(()),
            None => {
                Err("no minimum retention is checked, so the policy file is not required".into())
            }
        },
        edit: Box::new(|dir| {
            let path = dir.join(RETENTION_FILE);
            fs::remove_file(&path).map_err(DrillError::io("deleting", &path))
        }),
    });

    for spec in specs {
        let expected = Expected {
            verdict: Verdict::Invalid,
            kind: Some(spec.kind.to_string()),
            location: Some(spec.path.clone()),
        };
        let mut case = Case {
            id: spec.id.into(),
            subject: Subject::Bundle,
            tamper: spec.tamper.clone(),
            verification: BUNDLE_CHECKS.into(),
            expected,
            observed: None,
            caught: false,
            localised: false,
            outcome: CaseOutcome::NotApplicable,
            reason: String::new(),
        };
        if let Err(why) = &spec.applicable {
            case.reason = why.clone();
            cases.push(case);
            continue;
        }
        if !baseline_ok {
            case.outcome = CaseOutcome::Inconclusive;
            case.reason = "not run: the untampered bundle already fails verification (see bundle.baseline), so a failure here would prove nothing".into();
            cases.push(case);
            continue;
        }
        let copy = scratch.join(spec.id);
        copy_bundle(bundle_dir, &copy)?;
        (spec.edit)(&copy)?;
        let report = bundle::verify(&copy, &options.bundle)?;
        let matched = report.findings.iter().find(|f| {
            f.kind.as_str() == spec.kind && f.path.as_deref() == Some(spec.path.as_str())
        });
        case.caught = !report.valid;
        case.localised = matched.is_some();
        case.observed = Some(Observed {
            verdict: if report.valid {
                Verdict::Valid
            } else {
                Verdict::Invalid
            },
            kinds: report.kinds().iter().map(|k| k.to_string()).collect(),
            location: matched
                .or(report.findings.first())
                .and_then(|f| f.path.clone()),
            detail: match matched {
                Some(finding) => finding.message.clone(),
                None => report
                    .findings
                    .iter()
                    .map(|f| format!("[{}] {}", f.kind, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            },
        });
        (case.outcome, case.reason) = judge(
            case.caught,
            case.localised,
            &format!("[{}] on {}", spec.kind, spec.path),
        );
        cases.push(case);
    }
    Ok(cases)
}

fn baseline_case(
    id: &str,
    subject: Subject,
    verification: &str,
    valid: bool,
    kinds: Vec<String>,
    detail: String,
) -> Case {
    Case {
        id: id.into(),
        subject,
        tamper: "none: the untampered copy".into(),
        verification: verification.into(),
        expected: Expected {
            verdict: Verdict::Valid,
            kind: None,
            location: None,
        },
        observed: Some(Observed {
            verdict: if valid {
                Verdict::Valid
            } else {
                Verdict::Invalid
            },
            kinds,
            location: None,
            detail: detail.clone(),
        }),
        caught: false,
        localised: false,
        outcome: if valid {
            CaseOutcome::Pass
        } else {
            CaseOutcome::NotCaught
        },
        reason: if valid {
            "the untampered copy verifies".into()
        } else {
            format!(
                "the untampered copy does not verify, so the drill cannot show that tampering is what the verifier catches: {detail}"
            )
        },
    }
}

fn judge(caught: bool, localised: bool, expected: &str) -> (CaseOutcome, String) {
    match (caught, localised) {
        (true, true) => (
            CaseOutcome::Pass,
            format!("caught and localised: {expected}"),
        ),
        (true, false) => (
            CaseOutcome::NotLocalised,
            format!("caught, but the report does not point at {expected}"),
        ),
        (false, _) => (
            CaseOutcome::NotCaught,
            format!("NOT caught: the verifier accepted the tampered copy (expected {expected})"),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Audit-log cases
// ---------------------------------------------------------------------------------------------

/// One output of a line edit: a complete line, or a torn (newline-less) final fragment.
enum Emit {
    Line(String),
    Torn(String),
}

/// Stream `source` to `dest`, handing each record line (1-based over non-blank lines) to
/// `edit`; blank lines pass through.
fn rewrite_log(
    source: &Path,
    dest: &Path,
    edit: impl FnMut(u64, String) -> Result<Vec<Emit>, DrillError>,
) -> Result<(), DrillError> {
    let out = File::create(dest).map_err(DrillError::io("creating", dest))?;
    stream_log(
        source,
        dest,
        BufWriter::with_capacity(crate::hashing::READ_SIZE, out),
        edit,
    )
}

/// The streaming core of [`rewrite_log`]; `dest` names the writer in errors.
fn stream_log(
    source: &Path,
    dest: &Path,
    mut writer: impl Write,
    mut edit: impl FnMut(u64, String) -> Result<Vec<Emit>, DrillError>,
) -> Result<(), DrillError> {
    let file = File::open(source).map_err(DrillError::io("opening audit log", source))?;
    let mut index = 0u64;
    for (number, line) in BufReader::with_capacity(crate::hashing::READ_SIZE, file)
        .split(b'\n')
        .enumerate()
    {
        let line = line.map_err(DrillError::io("reading audit log", source))?;
        let text = String::from_utf8(line).map_err(|e| DrillError::UnreadableLog {
            path: source.to_path_buf(),
            line: number as u64 + 1,
            problem: format!("not UTF-8 ({e})"),
        })?;
        let emitted = if text.trim().is_empty() {
            vec![Emit::Line(text)]
        } else {
            index += 1;
            edit(index, text)?
        };
        for item in emitted {
            match item {
                Emit::Line(line) => writeln!(writer, "{line}"),
                Emit::Torn(fragment) => write!(writer, "{fragment}"),
            }
            .map_err(DrillError::io("writing", dest))?;
        }
    }
    writer.flush().map_err(DrillError::io("writing", dest))
}

fn parse_record(line: &str, index: u64, source: &Path) -> Result<Map<String, Value>, DrillError> {
    match canonical::parse_strict(line.trim_end_matches('\r')) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DrillError::UnreadableLog {
            path: source.to_path_buf(),
            line: index,
            problem: "record is not a JSON object".into(),
        }),
    }
}

fn render_record(fields: &Map<String, Value>) -> String {
    canonical::spaced(&Value::Object(fields.clone()))
}

/// Recompute a record's `record_hash` as a forger without the signing key would.
fn rehash(fields: &mut Map<String, Value>) -> String {
    let hash = Canonical::of(fields).record_hash();
    fields.insert("record_hash".into(), Value::from(hash.clone()));
    hash
}

fn mutate(fields: &mut Map<String, Value>) {
    let decision = fields
        .get("decision")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    fields.insert(
        "decision".into(),
        Value::from(format!("{decision}-rewritten-by-drill")),
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LogCheck {
    Chain,
    ChainCheckpoint,
    ChainSignatures,
}

impl LogCheck {
    fn name(self) -> &'static str {
        match self {
            LogCheck::Chain => "chain",
            LogCheck::ChainCheckpoint => "chain+checkpoint",
            LogCheck::ChainSignatures => "chain+signatures",
        }
    }
}

struct LogCase {
    id: &'static str,
    tamper: String,
    check: LogCheck,
    kind: &'static str,
    record: u64,
    edit: LineEdit,
}

fn log_cases(
    log: &Path,
    records: u64,
    options: &TamperOptions,
    scratch: &Path,
) -> Result<Vec<Case>, DrillError> {
    let n = records;
    // A middle record with a neighbour on each side (n >= 3 gives 2 <= k <= n-1).
    let k = n / 2 + 1;
    let source: PathBuf = log.to_path_buf();

    // Baseline, with every check the drill will use: signatures (if given) and the log's own
    // Merkle head, which becomes the checkpoint the truncation and rewrite cases are held to.
    let pristine = scratch.join("audit_log.baseline.jsonl");
    rewrite_log(log, &pristine, |_, line| Ok(vec![Emit::Line(line)]))?;
    let full = audit::VerifyOptions {
        signatures: options.audit_signatures.clone(),
        ..Default::default()
    };
    let baseline = audit::verify(&pristine, &full)?;
    let verification = if options.audit_signatures.is_enabled() {
        "chain+signatures"
    } else {
        "chain"
    };
    let mut cases = vec![baseline_case(
        "audit_log.baseline",
        Subject::AuditLog,
        verification,
        baseline.valid,
        baseline
            .diagnosis
            .iter()
            .map(|d| d.kind.to_string())
            .collect(),
        if baseline.valid {
            format!("{} records verify", baseline.record_count)
        } else {
            baseline
                .errors
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        },
    )];
    let checkpoint = BASE64
        .decode(&baseline.merkle_root)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(|root| Checkpoint {
            origin: CHECKPOINT_ORIGIN.into(),
            size: baseline.tree_size,
            root,
        });
    let baseline_ok = baseline.valid && checkpoint.is_some();

    // Whether record k carries a signature (decides if the signature cases apply).
    let mut signed = false;
    stream_log(log, Path::new("(scan)"), std::io::sink(), |index, line| {
        if index == k {
            signed = parse_record(&line, index, &source)?
                .get("signature")
                .is_some_and(Value::is_object);
        }
        Ok(vec![Emit::Line(line)])
    })?;

    let mut specs: Vec<LogCase> = Vec::new();
    let src = source.clone();
    specs.push(LogCase {
        id: "audit_log.mutated_record",
        tamper: format!("changed the decision of record {k} without recomputing its record_hash"),
        check: LogCheck::Chain,
        kind: "mutation",
        record: k,
        edit: Box::new(move |index, line| {
            if index != k {
                return Ok(vec![Emit::Line(line)]);
            }
            let mut fields = parse_record(&line, index, &src)?;
            mutate(&mut fields);
            Ok(vec![Emit::Line(render_record(&fields))])
        }),
    });
    let src = source.clone();
    let mut previous: Option<Map<String, Value>> = None;
    specs.push(LogCase {
        id: "audit_log.inserted_record",
        tamper: format!("inserted a forged record numbered {k}, linked to record {} and correctly hashed, before the real record {k}", k - 1),
        check: LogCheck::Chain,
        kind: "insertion",
        record: k,
        edit: Box::new(move |index, line| {
            if index == k - 1 {
                previous = Some(parse_record(&line, index, &src)?);
            }
            if index != k {
                return Ok(vec![Emit::Line(line)]);
            }
            let mut forged = previous.clone().unwrap_or_default();
            let link = forged.get("record_hash").cloned().unwrap_or(Value::Null);
            forged.remove("signature");
            forged.insert("sequence".into(), Value::from(k));
            forged.insert("previous_hash".into(), link);
            forged.insert("actor".into(), Value::from("drill:forged-insertion"));
            rehash(&mut forged);
            Ok(vec![Emit::Line(render_record(&forged)), Emit::Line(line)])
        }),
    });
    specs.push(LogCase {
        id: "audit_log.deleted_record",
        tamper: format!("deleted record {k}"),
        check: LogCheck::Chain,
        kind: "deletion",
        record: k,
        edit: Box::new(move |index, line| {
            Ok(if index == k {
                vec![]
            } else {
                vec![Emit::Line(line)]
            })
        }),
    });
    let mut held: Option<String> = None;
    specs.push(LogCase {
        id: "audit_log.reordered_records",
        tamper: format!("swapped records {k} and {}", k + 1),
        check: LogCheck::Chain,
        kind: "reordering",
        record: k,
        edit: Box::new(move |index, line| {
            if index == k {
                held = Some(line);
                return Ok(vec![]);
            }
            let mut out = vec![Emit::Line(line)];
            if index == k + 1
                && let Some(earlier) = held.take()
            {
                out.push(Emit::Line(earlier));
            }
            Ok(out)
        }),
    });
    specs.push(LogCase {
        id: "audit_log.duplicated_record",
        tamper: format!("repeated record {k} right after itself"),
        check: LogCheck::Chain,
        kind: "duplication",
        record: k + 1,
        edit: Box::new(move |index, line| {
            Ok(if index == k {
                vec![Emit::Line(line.clone()), Emit::Line(line)]
            } else {
                vec![Emit::Line(line)]
            })
        }),
    });
    specs.push(LogCase {
        id: "audit_log.malformed_line",
        tamper: format!("replaced record {k} with a line that is not JSON"),
        check: LogCheck::Chain,
        kind: "malformed_line",
        record: k,
        edit: Box::new(move |index, line| {
            Ok(vec![Emit::Line(if index == k {
                "{\"sequence\": overwritten by the tamper drill".into()
            } else {
                line
            })])
        }),
    });
    specs.push(LogCase {
        id: "audit_log.torn_last_line",
        tamper: format!("cut the last record ({n}) in half and dropped its newline, as an interrupted append leaves it"),
        check: LogCheck::Chain,
        kind: "torn_write",
        record: n,
        edit: Box::new(move |index, line| {
            if index != n {
                return Ok(vec![Emit::Line(line)]);
            }
            let half: String = line.chars().take(line.chars().count() / 2).collect();
            Ok(vec![Emit::Torn(half)])
        }),
    });
    specs.push(LogCase {
        id: "audit_log.truncated_log",
        tamper: format!("removed the last record ({n}); checked against a checkpoint of the untampered log ({n} records)"),
        check: LogCheck::ChainCheckpoint,
        kind: "truncation",
        record: n,
        edit: Box::new(move |index, line| Ok(if index == n { vec![] } else { vec![Emit::Line(line)] })),
    });
    specs.push(rewritten_chain(
        "audit_log.rewritten_chain",
        format!("changed record {k} and recomputed record_hash and previous_hash for records {k}..{n} (an attacker without the key); checked against a checkpoint of the untampered log"),
        LogCheck::ChainCheckpoint,
        "checkpoint_mismatch",
        n,
        k,
        source.clone(),
    ));
    specs.push(rewritten_chain(
        "audit_log.rewritten_chain_signed",
        format!("changed record {k} and recomputed record_hash and previous_hash for records {k}..{n}, keeping the old signatures; checked with the record signatures"),
        LogCheck::ChainSignatures,
        "mutation",
        k,
        k,
        source.clone(),
    ));
    let src = source.clone();
    specs.push(LogCase {
        id: "audit_log.bad_signature",
        tamper: format!("replaced the signature value of record {k} with a forged one"),
        check: LogCheck::ChainSignatures,
        kind: "mutation",
        record: k,
        edit: Box::new(move |index, line| {
            if index != k {
                return Ok(vec![Emit::Line(line)]);
            }
            let mut fields = parse_record(&line, index, &src)?;
            if let Some(Value::Object(signature)) = fields.get_mut("signature") {
                let forged = forge_value(
                    signature
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    false,
                );
                signature.insert("value".into(), Value::from(forged));
            }
            Ok(vec![Emit::Line(render_record(&fields))])
        }),
    });

    for mut spec in specs {
        let mut case = Case {
            id: spec.id.into(),
            subject: Subject::AuditLog,
            tamper: spec.tamper.clone(),
            verification: spec.check.name().into(),
            expected: Expected {
                verdict: Verdict::Invalid,
                kind: Some(spec.kind.into()),
                location: Some(format!("record {}", spec.record)),
            },
            observed: None,
            caught: false,
            localised: false,
            outcome: CaseOutcome::NotApplicable,
            reason: String::new(),
        };
        if spec.check == LogCheck::ChainSignatures && !signed {
            case.reason = format!(
                "record {k} carries no signature: the log is unsigned, so there is no signature to forge (CAVRA readiness requires signature_or_hmac_enabled)"
            );
            cases.push(case);
            continue;
        }
        if !baseline_ok {
            case.outcome = CaseOutcome::Inconclusive;
            case.reason = "not run: the untampered log already fails verification (see audit_log.baseline), so a failure here would prove nothing".into();
            cases.push(case);
            continue;
        }
        let copy = scratch.join(format!("{}.jsonl", spec.id));
        rewrite_log(log, &copy, &mut spec.edit)?;
        let verify_options = match spec.check {
            LogCheck::Chain => audit::VerifyOptions::default(),
            LogCheck::ChainCheckpoint => audit::VerifyOptions {
                checkpoints: checkpoint.iter().cloned().collect(),
                ..Default::default()
            },
            LogCheck::ChainSignatures => audit::VerifyOptions {
                signatures: options.audit_signatures.clone(),
                ..Default::default()
            },
        };
        let report = audit::verify(&copy, &verify_options)?;
        let diagnosis = report.diagnosis.as_ref();
        case.caught = !report.valid;
        case.localised = diagnosis.is_some_and(|d| d.kind == spec.kind && d.record == spec.record);
        case.observed = Some(Observed {
            verdict: if report.valid {
                Verdict::Valid
            } else {
                Verdict::Invalid
            },
            kinds: diagnosis
                .map(|d| vec![d.kind.to_string()])
                .unwrap_or_default(),
            location: diagnosis.map(|d| format!("record {}", d.record)),
            detail: match (diagnosis, &report.first_bad_record) {
                (Some(d), Some(bad)) => format!(
                    "{} (first failing check: {} at record {}, line {})",
                    d.detail, bad.check, bad.record, bad.line
                ),
                (Some(d), None) => d.detail.clone(),
                (None, _) => report
                    .errors
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; "),
            },
        });
        (case.outcome, case.reason) = judge(
            case.caught,
            case.localised,
            &format!("{} at record {}", spec.kind, spec.record),
        );
        if !case.caught
            && spec.check == LogCheck::ChainSignatures
            && !options.audit_signatures.is_enabled()
        {
            case.reason.push_str(
                "; the records are signed but no key was given, so signatures were not checked — pass --key-file/--key-env (HMAC) or --trust-root/--public-key (Ed25519)",
            );
        }
        cases.push(case);
    }
    Ok(cases)
}

/// Rewrite record `k` and re-link everything after it with recomputed hashes: what an attacker
/// who can write the file but does not hold the signing key can do.
fn rewritten_chain(
    id: &'static str,
    tamper: String,
    check: LogCheck,
    kind: &'static str,
    record: u64,
    k: u64,
    source: PathBuf,
) -> LogCase {
    let mut link: Option<Value> = None;
    LogCase {
        id,
        tamper,
        check,
        kind,
        record,
        edit: Box::new(move |index, line| {
            if index < k {
                return Ok(vec![Emit::Line(line)]);
            }
            let mut fields = parse_record(&line, index, &source)?;
            if index == k {
                mutate(&mut fields);
            } else if let Some(previous) = &link {
                fields.insert("previous_hash".into(), previous.clone());
            }
            link = Some(Value::from(rehash(&mut fields)));
            Ok(vec![Emit::Line(render_record(&fields))])
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{NewRecord, Signer};

    fn log(dir: &Path, n: u32, signer: &Signer) -> PathBuf {
        let path = dir.join("log.jsonl");
        for i in 1..=n {
            let new = NewRecord {
                event_type: "e".into(),
                actor: format!("a{i}"),
                action: "x".into(),
                target: "t".into(),
                decision: "allow".into(),
                ..Default::default()
            };
            audit::append(&path, &new, signer).unwrap();
        }
        path
    }

    fn bundle(dir: &Path) -> PathBuf {
        let inputs = dir.join("in");
        fs::create_dir_all(&inputs).unwrap();
        fs::write(inputs.join("evidence.json"), b"{\"ok\": true}\n").unwrap();
        let output = dir.join("bundle");
        let options = bundle::CreateOptions {
            output: output.clone(),
            signer: "drill-test".into(),
            signing: bundle::Signing::Hmac(crate::trust::Secret::new(b"bundle-key".to_vec())),
            retention_days: 2555,
            classification: "test".into(),
            legal_hold: false,
            session_id: Some("s".into()),
            created_at: None,
        };
        bundle::create(&[inputs.join("evidence.json")], &options).unwrap();
        output
    }

    fn options(hmac: bool) -> TamperOptions {
        TamperOptions {
            bundle: bundle::VerifyOptions {
                hmac_key: Some(crate::trust::Secret::new(b"bundle-key".to_vec())),
                ..Default::default()
            },
            audit_signatures: if hmac {
                SignatureCheck::Hmac {
                    key: b"k".to_vec(),
                    key_id: "kid".into(),
                }
            } else {
                SignatureCheck::None
            },
        }
    }

    #[test]
    fn every_case_is_caught_and_localised_on_signed_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::Hmac {
            key: b"k".to_vec(),
            key_id: "kid".into(),
        };
        let log = log(dir.path(), 6, &signer);
        let bundle = bundle(dir.path());
        let scratch = tempfile::tempdir().unwrap();
        let drill = tamper(&bundle, &log, &options(true), scratch.path()).unwrap();
        let failures: Vec<_> = drill
            .failures()
            .map(|c| (c.id.clone(), c.reason.clone()))
            .collect();
        assert!(failures.is_empty(), "{failures:#?}");
        assert!(drill.passed && drill.inputs_unchanged);
        assert_eq!(drill.summary.not_applicable, 0);
        assert_eq!(drill.cases.len(), 1 + 10 + 1 + 11);
    }

    #[test]
    fn unchecked_signatures_fail_the_drill_and_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::Hmac {
            key: b"k".to_vec(),
            key_id: "kid".into(),
        };
        let log = log(dir.path(), 5, &signer);
        let bundle = bundle(dir.path());
        let scratch = tempfile::tempdir().unwrap();
        let drill = tamper(&bundle, &log, &options(false), scratch.path()).unwrap();
        assert!(!drill.passed);
        let failed: Vec<&str> = drill.failures().map(|c| c.id.as_str()).collect();
        assert_eq!(
            failed,
            [
                "audit_log.rewritten_chain_signed",
                "audit_log.bad_signature"
            ]
        );
        assert!(
            drill
                .failures()
                .all(|c| c.outcome == CaseOutcome::NotCaught
                    && c.reason.contains("no key was given"))
        );
    }

    #[test]
    fn unsigned_log_makes_signature_cases_not_applicable() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), 3, &Signer::Unsigned);
        let bundle = bundle(dir.path());
        let scratch = tempfile::tempdir().unwrap();
        let drill = tamper(&bundle, &log, &options(false), scratch.path()).unwrap();
        assert!(drill.passed, "{:#?}", drill.failures().collect::<Vec<_>>());
        assert_eq!(drill.summary.not_applicable, 2);
    }

    #[test]
    fn ed25519_signed_logs_are_drilled_with_trust_roots() {
        use crate::trust::{KeyPair, RootStatus, TrustRoot, TrustStore};
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let pem = key.public().spki_pem();
        let signer = Signer::Ed25519 {
            key: Box::new(key),
            key_id: "audit-ed".into(),
        };
        let log = log(dir.path(), 4, &signer);
        let bundle = bundle(dir.path());
        let root = TrustRoot::new(
            &pem,
            Some("audit-ed".into()),
            "drill test",
            RootStatus::Active,
            None,
            None,
        )
        .unwrap();
        let options = TamperOptions {
            audit_signatures: SignatureCheck::Ed25519 {
                trust: TrustStore::new(vec![root]).unwrap(),
            },
            ..options(false)
        };
        let scratch = tempfile::tempdir().unwrap();
        let drill = tamper(&bundle, &log, &options, scratch.path()).unwrap();
        assert!(drill.passed, "{:#?}", drill.failures().collect::<Vec<_>>());
        assert_eq!(drill.settings.audit_signature_check, "Ed25519 trust roots");
        let forged = drill
            .cases
            .iter()
            .find(|c| c.id == "audit_log.bad_signature")
            .unwrap();
        assert_eq!(
            forged.observed.as_ref().unwrap().location.as_deref(),
            Some("record 3")
        );
    }

    #[test]
    fn short_log_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), 2, &Signer::Unsigned);
        let bundle = bundle(dir.path());
        let scratch = tempfile::tempdir().unwrap();
        let error = tamper(&bundle, &log, &options(false), scratch.path()).unwrap_err();
        assert!(matches!(error, DrillError::LogTooShort { records: 2, .. }));
    }

    #[test]
    fn forged_values_differ_and_keep_their_shape() {
        let original = BASE64.encode([7u8; 64]);
        let forged = forge_value(&original, false);
        assert_ne!(forged, original);
        assert_eq!(BASE64.decode(&forged).unwrap().len(), 64);
        let digest = "ab".repeat(32);
        assert_ne!(forge_value(&digest, true), digest);
        assert_eq!(forge_value(&digest, true).len(), 64);
    }
}
