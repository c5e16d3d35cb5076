//! The tamper drill: copy a bundle and an audit log into a scratch directory, tamper with the
//! copies in every way the verifiers know, run the real verifiers ([`crate::bundle::verify`],
//! [`crate::audit::verify`]) on each copy, and check that each tamper is caught (the verdict is
//! invalid) and localised (the right finding kind on the right file, or the right diagnosis on
//! the right record). The inputs are only read; their digests before and after are recorded.
//!
//! Before any tamper, the untampered copies must verify (the baseline cases): a failure on a
//! copy of evidence that already fails proves nothing, so tamper cases are then inconclusive
//! and the drill fails.

//!
//! Files by subject: this file holds the evidence types, the run and the shared judging;
//! [`bundle`] copies and tampers with the bundle, [`log`] rewrites the audit log.

mod bundle;
mod log;

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::Value;

use super::{DrillError, FileIdentity, identify};
use crate::audit::{self, SignatureCheck};
use crate::bundle::MANIFEST_FILE;
use crate::canonical;
use bundle::bundle_cases;
use log::log_cases;

pub const TAMPER_SCHEMA: &str = "wormvault.drill.tamper.v1";
/// The file the extra-file case adds to the bundle copy.
const EXTRA_FILE: &str = "drill-unlisted-file.txt";
/// What to verify against: the same key material as `bundle verify` and `audit verify`.
#[derive(Debug, Clone, Default)]
pub struct TamperOptions {
    pub bundle: crate::bundle::VerifyOptions,
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
    // The log is read several times (identified, counted, rewritten per case, identified
    // again): a pipe would be drained by the first read and every case after it judged on
    // nothing, and a device never ends. Refuse anything but a regular file before reading.
    open_log(log)?;
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

fn bundle_key_material(options: &crate::bundle::VerifyOptions) -> String {
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
        // A FIFO or device in the bundle would block or never end when hashed.
        if !entry.file_type().is_file() && !entry.file_type().is_symlink() {
            return Err(DrillError::UnreadableBundle {
                path: entry.path().to_path_buf(),
                problem: format!(
                    "is {}, not a regular file; refusing to read it",
                    crate::limits::describe_type(entry.file_type())
                ),
            });
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
    let mut count = 0;
    for_each_line(log, |_, line| {
        if !line.iter().all(u8::is_ascii_whitespace) {
            count += 1;
        }
        Ok(())
    })?;
    Ok(count)
}

/// Open the audit log for reading, refusing (without blocking) anything but a regular file.
fn open_log(log: &Path) -> Result<File, DrillError> {
    crate::limits::open_input(log, "audit log").map_err(|error| match error {
        crate::limits::LimitError::Io { source, .. } => DrillError::Io {
            action: "opening audit log",
            path: log.to_path_buf(),
            source,
        },
        refused => DrillError::Audit(audit::AuditError::Invalid {
            what: "--log".into(),
            problem: refused.to_string(),
        }),
    })
}

/// Hand each line of `log` (1-based physical line number, without its newline) to `f`, reading
/// at most one line at a time and refusing — as `audit verify` does — a line longer than
/// [`audit::verify::MAX_LINE`] (before buffering more than that) or with more than
/// [`audit::verify::MAX_TOKENS`] JSON tokens: the drill parses and rewrites record lines, and
/// a hostile multi-gigabyte line (or `/dev/zero`) must not be read into memory whole.
pub(super) fn for_each_line(
    log: &Path,
    mut f: impl FnMut(u64, Vec<u8>) -> Result<(), DrillError>,
) -> Result<(), DrillError> {
    use std::io::Read as _;
    let file = open_log(log)?;
    let mut reader = BufReader::with_capacity(crate::hashing::READ_SIZE, file);
    let max = audit::verify::MAX_LINE;
    let mut number = 0u64;
    loop {
        let mut line = Vec::new();
        let read = (&mut reader)
            .take(max + 1)
            .read_until(b'\n', &mut line)
            .map_err(DrillError::io("reading audit log", log))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.len() as u64 > max {
            return Err(DrillError::UnreadableLog {
                path: log.to_path_buf(),
                line: number,
                problem: format!(
                    "line is longer than the {max}-byte line limit (audit verify reports it malformed); it was not read"
                ),
            });
        }
        if audit::verify::too_many_tokens(&line).is_some() {
            return Err(DrillError::UnreadableLog {
                path: log.to_path_buf(),
                line: number,
                problem: format!(
                    "line has more than {} JSON tokens (audit verify reports it unreadable); it was not parsed",
                    audit::verify::MAX_TOKENS
                ),
            });
        }
        f(number, line)?;
    }
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{NewRecord, Signer};
    use std::path::PathBuf;

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
        let options = crate::bundle::CreateOptions {
            output: output.clone(),
            signer: "drill-test".into(),
            signing: crate::bundle::Signing::Hmac(crate::trust::Secret::new(
                b"bundle-key".to_vec(),
            )),
            retention_days: 2555,
            classification: "test".into(),
            legal_hold: false,
            session_id: Some("s".into()),
            created_at: None,
        };
        crate::bundle::create(&[inputs.join("evidence.json")], &options).unwrap();
        output
    }

    fn options(hmac: bool) -> TamperOptions {
        TamperOptions {
            bundle: crate::bundle::VerifyOptions {
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
