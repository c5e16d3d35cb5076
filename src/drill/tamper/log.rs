//! The audit-log cases of the tamper drill: stream the log into a copy with one record line
//! rewritten (mutated, inserted, deleted, reordered, duplicated, malformed, torn, truncated, a
//! re-hashed chain, a forged signature), and check that [`crate::audit::verify`] diagnoses the
//! right kind at the right record.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::{
    Case, CaseOutcome, Expected, Observed, Subject, TamperOptions, Verdict, baseline_case,
    forge_value, judge,
};
use crate::audit::record::Canonical;
use crate::audit::verify::DiagnosisKind;
use crate::audit::{self, Checkpoint};
use crate::canonical;
use crate::drill::DrillError;

/// Origin of the in-memory checkpoint taken of the untampered log.
const CHECKPOINT_ORIGIN: &str = "wormvault.drill/untampered-log";

/// Rewrites one audit-log record line (1-based record index) into zero or more outputs.
type LineEdit = Box<dyn FnMut(u64, String) -> Result<Vec<Emit>, DrillError>>;

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
    let mut index = 0u64;
    super::for_each_line(source, |number, line| {
        let text = String::from_utf8(line).map_err(|e| DrillError::UnreadableLog {
            path: source.to_path_buf(),
            line: number,
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
        Ok(())
    })?;
    writer.flush().map_err(DrillError::io("writing", dest))
}

/// Replace record `k` by what `f` makes of it; every other line passes through unchanged.
fn line_edit(
    k: u64,
    mut f: impl FnMut(String) -> Result<Vec<Emit>, DrillError> + 'static,
) -> LineEdit {
    Box::new(move |index, line| {
        if index == k {
            f(line)
        } else {
            Ok(vec![Emit::Line(line)])
        }
    })
}

/// Edit the fields of record `k` (read from `source`) with `f` and write it back in canonical
/// form; `f` decides whether the record_hash is recomputed (see [`rehash`]).
fn record_edit(k: u64, source: PathBuf, f: impl Fn(&mut Map<String, Value>) + 'static) -> LineEdit {
    line_edit(k, move |line| {
        let mut fields = parse_record(&line, k, &source)?;
        f(&mut fields);
        Ok(vec![Emit::Line(render_record(&fields))])
    })
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
    kind: DiagnosisKind,
    record: u64,
    edit: LineEdit,
}

pub(super) fn log_cases(
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
        .decode(baseline.merkle_root.as_deref().unwrap_or_default())
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
    specs.push(LogCase {
        id: "audit_log.mutated_record",
        tamper: format!("changed the decision of record {k} without recomputing its record_hash"),
        check: LogCheck::Chain,
        kind: DiagnosisKind::Mutation,
        record: k,
        edit: record_edit(k, source.clone(), mutate),
    });
    let src = source.clone();
    let mut previous: Option<Map<String, Value>> = None;
    specs.push(LogCase {
        id: "audit_log.inserted_record",
        tamper: format!("inserted a forged record numbered {k}, linked to record {} and correctly hashed, before the real record {k}", k - 1),
        check: LogCheck::Chain,
        kind: DiagnosisKind::Insertion,
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
        kind: DiagnosisKind::Deletion,
        record: k,
        edit: line_edit(k, |_| Ok(vec![])),
    });
    let mut held: Option<String> = None;
    specs.push(LogCase {
        id: "audit_log.reordered_records",
        tamper: format!("swapped records {k} and {}", k + 1),
        check: LogCheck::Chain,
        kind: DiagnosisKind::Reordering,
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
        kind: DiagnosisKind::Duplication,
        record: k + 1,
        edit: line_edit(k, |line| {
            Ok(vec![Emit::Line(line.clone()), Emit::Line(line)])
        }),
    });
    specs.push(LogCase {
        id: "audit_log.malformed_line",
        tamper: format!("replaced record {k} with a line that is not JSON"),
        check: LogCheck::Chain,
        kind: DiagnosisKind::MalformedLine,
        record: k,
        edit: line_edit(k, |_| {
            Ok(vec![Emit::Line(
                "{\"sequence\": overwritten by the tamper drill".into(),
            )])
        }),
    });
    specs.push(LogCase {
        id: "audit_log.torn_last_line",
        tamper: format!("cut the last record ({n}) in half and dropped its newline, as an interrupted append leaves it"),
        check: LogCheck::Chain,
        kind: DiagnosisKind::TornWrite,
        record: n,
        edit: line_edit(n, |line| {
            let half: String = line.chars().take(line.chars().count() / 2).collect();
            Ok(vec![Emit::Torn(half)])
        }),
    });
    specs.push(LogCase {
        id: "audit_log.truncated_log",
        tamper: format!("removed the last record ({n}); checked against a checkpoint of the untampered log ({n} records)"),
        check: LogCheck::ChainCheckpoint,
        kind: DiagnosisKind::Truncation,
        record: n,
        edit: line_edit(n, |_| Ok(vec![])),
    });
    specs.push(rewritten_chain(
        "audit_log.rewritten_chain",
        format!("changed record {k} and recomputed record_hash and previous_hash for records {k}..{n} (an attacker without the key); checked against a checkpoint of the untampered log"),
        LogCheck::ChainCheckpoint,
        DiagnosisKind::CheckpointMismatch,
        n,
        k,
        source.clone(),
    ));
    specs.push(rewritten_chain(
        "audit_log.rewritten_chain_signed",
        format!("changed record {k} and recomputed record_hash and previous_hash for records {k}..{n}, keeping the old signatures; checked with the record signatures"),
        LogCheck::ChainSignatures,
        DiagnosisKind::Mutation,
        k,
        k,
        source.clone(),
    ));
    specs.push(LogCase {
        id: "audit_log.bad_signature",
        tamper: format!("replaced the signature value of record {k} with a forged one"),
        check: LogCheck::ChainSignatures,
        kind: DiagnosisKind::Mutation,
        record: k,
        edit: record_edit(k, source.clone(), |fields| {
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
                kind: Some(spec.kind.to_string()),
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
    kind: DiagnosisKind,
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
