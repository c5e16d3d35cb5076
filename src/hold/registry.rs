//! The case registry: which cases hold which object versions, derived only from a VERIFIED audit
//! log (chain, record signatures with the user's key, and the newest hold checkpoint stored in
//! the target), and the events that change it.
//!
//! Events (all `cavra.audit-log.event.v1` records, so any CAVRA verifier checks them):
//! * `legal_hold.set` / `legal_hold.released` — the decision, written BEFORE any store flag
//!   changes: `metadata.case`, `reason`, `objects: [{key, version_id}]` (the exact object set
//!   this event adds to / removes from the case), `prefix`, `target`. The actor is the record's
//!   `actor`.
//! * `legal_hold.applied` — the outcome, written once every flag the decision implies was read
//!   back from the store: `metadata.case` and `completes: [{sequence, record_hash}]`, naming the
//!   decision records it finishes. A decision without an outcome is an unfinished job: the next
//!   `hold set`/`release` of that case finishes it instead of logging the objects again.
//!
//! The store flag an object version must carry is `true` exactly while at least one case holds
//! it (S3 and Azure keep one boolean per version; the case is ours to keep).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::audit::{self, AuditError, Checkpoint, NewRecord, Record, Signer, VerifyOptions};

pub const EVENT_SET: &str = "legal_hold.set";
pub const EVENT_RELEASED: &str = "legal_hold.released";
pub const EVENT_APPLIED: &str = "legal_hold.applied";

/// One object version (the unit S3 and Azure keep a legal hold on).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VersionRef {
    pub key: String,
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Set,
    Release,
}

/// In words, as the log's event names say it (`set`, `release`), for messages.
impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decision::Set => "set",
            Decision::Release => "release",
        })
    }
}

/// A decision record (`legal_hold.set` / `legal_hold.released`) as read from the log.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    pub sequence: u64,
    pub record_hash: String,
    pub created_at: String,
    pub decision: Decision,
    pub case: String,
    pub actor: String,
    pub reason: String,
    pub objects: Vec<VersionRef>,
    /// An outcome record (`legal_hold.applied`) names this decision.
    pub completed: bool,
}

/// What a verified log says about legal holds.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Cases holding each object version (versions no case holds are absent).
    pub holds: BTreeMap<VersionRef, BTreeSet<String>>,
    /// Every decision, in log order.
    pub decisions: Vec<DecisionRecord>,
    /// Records in the verified log.
    pub record_count: u64,
    /// Where in `decisions` each (case, version) was last set (for reports: held since).
    held_since: BTreeMap<(String, VersionRef), usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "legal holds are kept per case in the audit log, so a hold command needs --audit-log: without it nobody could tell which cases hold an object, and releasing one case could lift another's hold"
    )]
    NoAuditLog,
    #[error(
        "the audit log {path} is the case registry, so its record signatures must be checked with a key you hold (--audit-signing-key, --audit-key-file/--audit-key-env, --audit-public-key or --audit-trust-root)"
    )]
    Unverifiable { path: PathBuf },
    #[error(
        "the audit log {path} does not verify ({count} problem(s), first: {first}); the case registry cannot be trusted — run `wormvault audit verify` and repair the log before changing holds"
    )]
    LogInvalid {
        path: PathBuf,
        count: usize,
        first: String,
    },
    #[error("{path} record {sequence}: malformed {event} event: {problem}")]
    BadEvent {
        path: PathBuf,
        sequence: u64,
        event: String,
        problem: String,
    },
    #[error("{path} changed while it was read (record {sequence}); rerun the command")]
    Changed { path: PathBuf, sequence: u64 },
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl RegistryError {
    /// The registry (the audit log) does not verify or holds a malformed event: a refusal
    /// (exit 1); a missing log or key, or a log that changed while read, is not.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            RegistryError::LogInvalid { .. } | RegistryError::BadEvent { .. }
        )
    }
}

impl Registry {
    /// Cases holding one version (empty when none).
    pub fn cases(&self, version: &VersionRef) -> Vec<String> {
        self.holds
            .get(version)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn is_held(&self, version: &VersionRef) -> bool {
        self.holds.get(version).is_some_and(|c| !c.is_empty())
    }

    /// Versions `case` holds whose key starts with `prefix`.
    pub fn held_by(&self, case: &str, prefix: &str) -> Vec<VersionRef> {
        self.holds
            .iter()
            .filter(|(v, cases)| v.key.starts_with(prefix) && cases.contains(case))
            .map(|(v, _)| v.clone())
            .collect()
    }

    /// Decisions of `case` with no outcome yet, touching `prefix`.
    pub fn unfinished(&self, case: &str, prefix: &str) -> Vec<&DecisionRecord> {
        self.decisions
            .iter()
            .filter(|d| {
                !d.completed
                    && d.case == case
                    && d.objects.iter().any(|o| o.key.starts_with(prefix))
            })
            .collect()
    }

    /// Every unfinished decision touching `prefix` (any case).
    pub fn all_unfinished(&self, prefix: &str) -> Vec<&DecisionRecord> {
        self.decisions
            .iter()
            .filter(|d| !d.completed && d.objects.iter().any(|o| o.key.starts_with(prefix)))
            .collect()
    }

    /// The decision that last set `case` on `version`.
    pub fn set_by(&self, case: &str, version: &VersionRef) -> Option<&DecisionRecord> {
        self.held_since
            .get(&(case.to_string(), version.clone()))
            .map(|&i| &self.decisions[i])
    }

    /// Every case named by a decision.
    pub fn known_cases(&self) -> BTreeSet<String> {
        self.decisions.iter().map(|d| d.case.clone()).collect()
    }
}

/// Verify the log at `path` (chain, signatures with `options.signatures`, and
/// `options.checkpoints`), then read the registry from exactly the records that verified.
pub fn load(path: &Path, options: &VerifyOptions) -> Result<Registry, RegistryError> {
    if !options.signatures.is_enabled() {
        return Err(RegistryError::Unverifiable {
            path: path.to_path_buf(),
        });
    }
    if !path.exists() {
        // A new registry: no case holds anything yet. The first event creates the log.
        if options.checkpoints.is_empty() {
            return Ok(Registry::default());
        }
        return Err(RegistryError::LogInvalid {
            path: path.to_path_buf(),
            count: 1,
            first: "the log is missing but the target holds a signed checkpoint of it".into(),
        });
    }
    let report = audit::verify(path, options)?;
    if !report.valid {
        return Err(RegistryError::LogInvalid {
            path: path.to_path_buf(),
            count: report.error_count,
            first: report.errors.first().cloned().unwrap_or_default(),
        });
    }
    let mut registry = Registry {
        record_count: report.record_count,
        ..Default::default()
    };
    let file = std::fs::File::open(path).map_err(AuditError::io("opening audit log", path))?;
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut read = 0u64;
    let mut index_of: BTreeMap<u64, usize> = BTreeMap::new();
    let mut last_hash: Option<String> = None;
    while read < report.record_count {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(AuditError::io("reading audit log", path))?;
        if n == 0 {
            return Err(RegistryError::Changed {
                path: path.to_path_buf(),
                sequence: read,
            });
        }
        if line.trim().is_empty() {
            continue;
        }
        read += 1;
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&line) else {
            return Err(RegistryError::Changed {
                path: path.to_path_buf(),
                sequence: read,
            });
        };
        let record = Record { fields };
        last_hash = record.record_hash().map(str::to_string);
        registry.observe(path, &record, &mut index_of)?;
    }
    if last_hash != report.last_record_hash {
        return Err(RegistryError::Changed {
            path: path.to_path_buf(),
            sequence: read,
        });
    }
    Ok(registry)
}

fn text(fields: &Map<String, Value>, name: &str) -> Option<String> {
    fields.get(name).and_then(Value::as_str).map(str::to_string)
}

impl Registry {
    fn observe(
        &mut self,
        path: &Path,
        record: &Record,
        index_of: &mut BTreeMap<u64, usize>,
    ) -> Result<(), RegistryError> {
        let event = text(&record.fields, "event_type").unwrap_or_default();
        let sequence = record.sequence().unwrap_or(0);
        let bad = |problem: &str| RegistryError::BadEvent {
            path: path.to_path_buf(),
            sequence,
            event: event.clone(),
            problem: problem.to_string(),
        };
        let empty = Map::new();
        let metadata = record
            .fields
            .get("metadata")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        match event.as_str() {
            EVENT_SET | EVENT_RELEASED => {
                // Records written before the registry carried `case_id` and were written after
                // the flags were applied: they are complete decisions.
                let (case, legacy) = match (text(metadata, "case"), text(metadata, "case_id")) {
                    (Some(case), _) => (case, false),
                    (None, Some(case)) => (case, true),
                    _ => return Err(bad("no metadata.case")),
                };
                let mut objects = Vec::new();
                for object in metadata
                    .get("objects")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("no metadata.objects list"))?
                {
                    let key = object
                        .get("key")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("an object without a key"))?;
                    if legacy && object.get("error").is_some_and(|e| !e.is_null()) {
                        continue;
                    }
                    objects.push(VersionRef {
                        key: key.to_string(),
                        version_id: object
                            .get("version_id")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    });
                }
                let decision = if event == EVENT_SET {
                    Decision::Set
                } else {
                    Decision::Release
                };
                let index = self.decisions.len();
                for object in &objects {
                    let cases = self.holds.entry(object.clone()).or_default();
                    match decision {
                        Decision::Set => {
                            cases.insert(case.clone());
                            self.held_since
                                .insert((case.clone(), object.clone()), index);
                        }
                        Decision::Release => {
                            cases.remove(&case);
                            self.held_since.remove(&(case.clone(), object.clone()));
                        }
                    }
                    if cases.is_empty() {
                        self.holds.remove(object);
                    }
                }
                index_of.insert(sequence, index);
                self.decisions.push(DecisionRecord {
                    sequence,
                    record_hash: record.record_hash().unwrap_or_default().to_string(),
                    created_at: text(&record.fields, "created_at").unwrap_or_default(),
                    decision,
                    case,
                    actor: text(&record.fields, "actor").unwrap_or_default(),
                    reason: text(metadata, "reason").unwrap_or_default(),
                    objects,
                    completed: legacy,
                });
            }
            EVENT_APPLIED => {
                for done in metadata
                    .get("completes")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("no metadata.completes list"))?
                {
                    let seq = done
                        .get("sequence")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| bad("a completed decision without a sequence"))?;
                    let hash = done.get("record_hash").and_then(Value::as_str);
                    let decision = index_of
                        .get(&seq)
                        .map(|&i| &mut self.decisions[i])
                        .ok_or_else(|| bad(&format!("names record {seq}, not a hold decision")))?;
                    if hash != Some(decision.record_hash.as_str()) {
                        return Err(bad(&format!(
                            "names record {seq} with a record_hash that is not that record's"
                        )));
                    }
                    decision.completed = true;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The decision record for `objects` (see the module docs for the fields).
pub fn decision_record(
    decision: Decision,
    case: &str,
    actor: &str,
    reason: &str,
    target: &str,
    prefix: &str,
    objects: &[VersionRef],
) -> NewRecord {
    let (event_type, action) = match decision {
        Decision::Set => (EVENT_SET, "legal_hold_set"),
        Decision::Release => (EVENT_RELEASED, "legal_hold_release"),
    };
    let mut metadata = Map::new();
    metadata.insert("case".into(), case.into());
    metadata.insert("reason".into(), reason.into());
    metadata.insert("prefix".into(), prefix.into());
    metadata.insert("object_count".into(), objects.len().into());
    metadata.insert(
        "objects".into(),
        objects
            .iter()
            .map(|o| serde_json::json!({"key": o.key, "version_id": o.version_id}))
            .collect::<Vec<_>>()
            .into(),
    );
    NewRecord {
        event_type: event_type.into(),
        actor: actor.into(),
        action: action.into(),
        target: format!("{target}#{prefix}"),
        decision: "recorded".into(),
        evidence_refs: vec![format!("case:{case}")],
        metadata,
        ..Default::default()
    }
}

/// The outcome record finishing `decisions` of `case` after `confirmed` flags were read back.
pub fn applied_record(
    case: &str,
    actor: &str,
    target: &str,
    prefix: &str,
    decisions: &[(u64, String)],
    confirmed: usize,
) -> NewRecord {
    let mut metadata = Map::new();
    metadata.insert("case".into(), case.into());
    metadata.insert(
        "completes".into(),
        decisions
            .iter()
            .map(|(sequence, hash)| serde_json::json!({"sequence": sequence, "record_hash": hash}))
            .collect::<Vec<_>>()
            .into(),
    );
    metadata.insert("flags_confirmed".into(), confirmed.into());
    NewRecord {
        event_type: EVENT_APPLIED.into(),
        actor: actor.into(),
        action: "legal_hold_apply".into(),
        target: format!("{target}#{prefix}"),
        decision: "applied".into(),
        evidence_refs: vec![format!("case:{case}")],
        metadata,
        ..Default::default()
    }
}

/// Register holds that `archive` already placed at upload (every object written with the hold
/// on and read back in its receipts): one `legal_hold.set` decision naming every object version
/// and its `legal_hold.applied` outcome, appended to `log`. Returns the two records.
///
/// The caller (archive) must have verified `log` with its key before writing to the store, as
/// [`load`] does, and anchors the log afterwards with its own checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn record_archive_hold(
    log: &crate::audit::store::LogHandle,
    signer: &Signer,
    actor: &str,
    case: &str,
    reason: &str,
    target: &str,
    prefix: &str,
    objects: &[VersionRef],
) -> Result<(Record, Record), AuditError> {
    let set = decision_record(Decision::Set, case, actor, reason, target, prefix, objects);
    let written = log.append(&set, signer)?;
    let done = applied_record(
        case,
        actor,
        target,
        prefix,
        &[(
            written.sequence().unwrap_or(0),
            written.record_hash().unwrap_or_default().to_string(),
        )],
        objects.len(),
    );
    let outcome = log.append(&done, signer)?;
    Ok((written, outcome))
}

/// A checkpoint verifier plus the stored notes it must open, for [`VerifyOptions::checkpoints`].
pub fn open_checkpoint(
    note: &str,
    key: &ed25519_dalek::VerifyingKey,
    name: Option<&str>,
) -> Result<Checkpoint, audit::checkpoint::CheckpointError> {
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| note.lines().next().unwrap_or_default().to_string());
    Checkpoint::open(note, &audit::CheckpointKey { name, key: *key })
}

/// What verifies the records `signer` writes: the HMAC key itself, or the Ed25519 key's public
/// half pinned under its key id. `None` for an unsigned log, which cannot be a case registry.
pub fn signature_check_for(signer: &Signer) -> Option<audit::SignatureCheck> {
    match signer {
        Signer::Unsigned => None,
        Signer::Hmac { key, key_id } => Some(audit::SignatureCheck::Hmac {
            key: key.clone(),
            key_id: key_id.clone(),
        }),
        Signer::Ed25519 { .. } | Signer::Kms { .. } => {
            let (public, key_id) = signer.ed25519_public()?;
            let root = crate::trust::TrustRoot::new(
                &public.spki_pem(),
                Some(key_id.to_string()),
                "audit signing key",
                crate::trust::RootStatus::Active,
                None,
                None,
            )
            .ok()?;
            let trust = crate::trust::TrustStore::new(vec![root]).ok()?;
            Some(audit::SignatureCheck::Ed25519 { trust })
        }
    }
}

/// Before `archive --legal-hold CASE` writes anything: the log that will register the hold must
/// verify with `signatures`, the check of its signer's key ([`signature_check_for`]; an existing
/// log — a new one is created).
pub fn check_before_archive_hold(
    log: &Path,
    signatures: &audit::SignatureCheck,
) -> Result<Registry, RegistryError> {
    load(
        log,
        &VerifyOptions {
            signatures: signatures.clone(),
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac() -> (Signer, VerifyOptions) {
        let key = b"registry-test-key".to_vec();
        (
            Signer::Hmac {
                key: key.clone(),
                key_id: "k".into(),
            },
            VerifyOptions {
                signatures: audit::SignatureCheck::Hmac {
                    key,
                    key_id: "k".into(),
                },
                ..Default::default()
            },
        )
    }

    fn v(key: &str) -> VersionRef {
        VersionRef {
            key: key.into(),
            version_id: Some(format!("v-{key}")),
        }
    }

    fn decide(
        log: &Path,
        signer: &Signer,
        d: Decision,
        case: &str,
        objects: &[VersionRef],
    ) -> Record {
        let record = decision_record(d, case, "rm", "why", "s3://b/", "p/", objects);
        audit::append(log, &record, signer).unwrap()
    }

    #[test]
    fn cases_overlap_and_unfinished_decisions_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.jsonl");
        let (signer, options) = hmac();
        let first = decide(
            &log,
            &signer,
            Decision::Set,
            "CASE-42",
            &[v("p/a"), v("p/b")],
        );
        let done = applied_record(
            "CASE-42",
            "rm",
            "s3://b/",
            "p/",
            &[(1, first.record_hash().unwrap().to_string())],
            2,
        );
        audit::append(&log, &done, &signer).unwrap();
        decide(&log, &signer, Decision::Set, "CASE-77", &[v("p/b")]);
        decide(
            &log,
            &signer,
            Decision::Release,
            "CASE-42",
            &[v("p/a"), v("p/b")],
        );

        let registry = load(&log, &options).unwrap();
        assert_eq!(registry.cases(&v("p/b")), vec!["CASE-77".to_string()]);
        assert!(!registry.is_held(&v("p/a")));
        assert!(registry.held_by("CASE-42", "p/").is_empty());
        let open: Vec<u64> = registry
            .all_unfinished("p/")
            .iter()
            .map(|d| d.sequence)
            .collect();
        assert_eq!(open, vec![3, 4]);
        assert!(
            registry
                .unfinished("CASE-42", "p/")
                .iter()
                .all(|d| d.sequence == 4)
        );
    }

    #[test]
    fn an_unverified_or_forged_registry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.jsonl");
        let (signer, options) = hmac();
        decide(&log, &signer, Decision::Set, "CASE-1", &[v("p/a")]);
        // No key: refused, not trusted.
        assert!(matches!(
            load(&log, &VerifyOptions::default()),
            Err(RegistryError::Unverifiable { .. })
        ));
        // A record signed with another key (someone who can write the file but lacks the key).
        let forger = Signer::Hmac {
            key: b"other".to_vec(),
            key_id: "k".into(),
        };
        decide(&log, &forger, Decision::Release, "CASE-1", &[v("p/a")]);
        assert!(matches!(
            load(&log, &options),
            Err(RegistryError::LogInvalid { .. })
        ));
    }

    #[test]
    fn an_outcome_must_name_a_decision_by_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.jsonl");
        let (signer, options) = hmac();
        decide(&log, &signer, Decision::Set, "CASE-1", &[v("p/a")]);
        let wrong = applied_record("CASE-1", "rm", "s3://b/", "p/", &[(1, "00".repeat(32))], 1);
        audit::append(&log, &wrong, &signer).unwrap();
        assert!(matches!(
            load(&log, &options),
            Err(RegistryError::BadEvent { sequence: 2, .. })
        ));
    }
}
