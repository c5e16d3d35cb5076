//! The bundle cases of the tamper drill: copy the bundle, edit each copy one way (a changed,
//! missing or unlisted file, a forged or stripped signature, a weakened retention), and check
//! that [`crate::bundle::verify`] names the right finding kind on the right file.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Map, Value};

use super::{
    Case, CaseOutcome, EXTRA_FILE, Expected, Observed, Subject, TamperOptions, Verdict,
    baseline_case, forge_value, judge,
};
use crate::bundle::{self, MANIFEST_FILE, RETENTION_FILE};
use crate::canonical;
use crate::drill::DrillError;

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
/// Edits a bundle copy in place.
type BundleEdit = Box<dyn Fn(&Path) -> Result<(), DrillError>>;
struct BundleCase {
    id: &'static str,
    tamper: String,
    kind: &'static str,
    path: String,
    applicable: Result<(), String>,
    edit: BundleEdit,
}

pub(super) fn bundle_cases(
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
