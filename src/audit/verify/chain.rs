//! The walk over checked records in order: the links between records (sequence,
//! previous_hash), the Merkle frontier and its comparison with signed checkpoints, the counts
//! the report carries, and the diagnosis of the first break (mutation, insertion, deletion,
//! reordering, duplication, truncation, key mismatch).

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::record::{Checked, FieldText, NO_REDACTION_SIGNATURE, Summary};
use super::{
    BadRecord, Check, CheckpointResult, Diagnosis, DiagnosisKind, MAX_ERRORS, VERIFICATION_SCHEMA,
    VerifyOptions, VerifyReport,
};
use crate::audit::merkle;
use crate::audit::record::{EVENT_SCHEMA, SignatureCheck, SignatureOutcome};
use crate::canonical;

/// Pending classification of the first break that needs later records to decide.
enum Pending {
    None,
    /// Position `at` holds sequence `to` > `at`: deletion of at..to, unless one of them shows
    /// up later (reordering).
    Gap {
        at: u64,
        from: u64,
        to: u64,
    },
    /// Position `at` fails only its link: an inserted record (if the next record is numbered
    /// `at` and links to the record before), else a rewrite.
    Link {
        at: u64,
        before: FieldText,
    },
}

pub(super) struct State<'a> {
    paths: Vec<String>,
    options: &'a VerifyOptions,
    position: u64,
    /// The previous record's record_hash (null before the first).
    previous: FieldText,
    previous_readable: bool,
    /// The Merkle frontier, extended only when the tree is built.
    frontier: merkle::Frontier,
    /// Whether the tree is built ([`VerifyOptions::builds_tree`]).
    tree: bool,
    /// Leaves so far (records before the segment plus records read), counted either way.
    tree_size: u64,
    checkpoint_results: Vec<Option<CheckpointResult>>,
    errors: Vec<String>,
    error_count: usize,
    record_count: u64,
    first_sequence: Option<u64>,
    last_sequence: Option<u64>,
    last_record_hash: FieldText,
    first_bad: Option<BadRecord>,
    diagnosis: Option<Diagnosis>,
    pending: Pending,
    redacted: u64,
    redacted_bound: u64,
    redacted_unverified: Vec<u64>,
    signatures_valid: u64,
    signatures_failed: u64,
    signatures_unchecked: u64,
    unsigned_records: u64,
    fully_checked: u64,
    /// Key ids named by failing signatures (first few), and the first record that failed one.
    failed_key_ids: Vec<String>,
    first_signature_failure: Option<u64>,
    missing_redaction_signatures: u64,
    /// Errors that say only that something could not be checked (a redacted record and no
    /// key): when every error is one of these the verdict is incomplete, not a finding.
    unchecked_errors: usize,
    /// Leaves so far taken from a record_hash that the record's content was not checked against
    /// (a mismatch, or a redacted record whose redaction is unverified), and the first such record:
    /// a checkpoint root rebuilt from them vouches for nothing about those records.
    unverified_leaves: u64,
    first_unverified_leaf: Option<u64>,
}

impl<'a> State<'a> {
    pub(super) fn new(paths: &[PathBuf], options: &'a VerifyOptions) -> State<'a> {
        let mut state = State {
            paths: paths.iter().map(|p| p.display().to_string()).collect(),
            options,
            position: options.start.first_sequence,
            previous: options
                .start
                .previous_hash
                .as_ref()
                .map_or(FieldText::Null, |h| {
                    FieldText::from_canonical(
                        canonical::compact(&Value::from(h.as_str())).as_bytes(),
                    )
                }),
            previous_readable: true,
            frontier: options.start.frontier.clone(),
            tree: options.builds_tree(),
            tree_size: options.start.frontier.size(),
            checkpoint_results: vec![None; options.checkpoints.len()],
            errors: Vec::new(),
            error_count: 0,
            record_count: 0,
            first_sequence: None,
            last_sequence: None,
            last_record_hash: FieldText::Null,
            first_bad: None,
            diagnosis: None,
            pending: Pending::None,
            redacted: 0,
            redacted_bound: 0,
            redacted_unverified: Vec::new(),
            signatures_valid: 0,
            signatures_failed: 0,
            signatures_unchecked: 0,
            unsigned_records: 0,
            fully_checked: 0,
            failed_key_ids: Vec::new(),
            first_signature_failure: None,
            missing_redaction_signatures: 0,
            unchecked_errors: 0,
            unverified_leaves: 0,
            first_unverified_leaf: None,
        };
        state.compare_checkpoints();
        state
    }

    fn error(&mut self, text: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(text);
        }
    }

    fn bad(&mut self, segment: usize, line: u64, check: Check, expected: String, found: String) {
        if self.first_bad.is_none() {
            self.first_bad = Some(BadRecord {
                record: self.position,
                path: self.paths[segment].clone(),
                line,
                check,
                expected,
                found,
            });
        }
    }

    fn diagnose(&mut self, kind: DiagnosisKind, record: u64, detail: String) {
        if self.diagnosis.is_none() {
            self.diagnosis = Some(Diagnosis {
                kind,
                record,
                detail,
            });
        }
    }

    /// Take in the next record or unreadable line (borrowed: results are walked where the
    /// workers left them, and a `Checked` is a few hundred bytes).
    pub(super) fn observe(&mut self, item: &Checked) {
        match *item {
            Checked::Unreadable {
                segment,
                line,
                torn,
                ref problem,
            } => {
                let path = self.paths[segment].clone();
                self.error(format!("{path} line {line}: {problem}"));
                let check = if torn { Check::Torn } else { Check::Json };
                self.bad(
                    segment,
                    line,
                    check,
                    "a complete JSON record line".into(),
                    problem.clone(),
                );
                self.settle_pending(None);
                let kind = if torn {
                    DiagnosisKind::TornWrite
                } else {
                    DiagnosisKind::MalformedLine
                };
                self.diagnose(
                    kind,
                    self.position,
                    format!("{path} line {line}: {problem}"),
                );
                if torn {
                    // A torn tail is not a record: nothing after it.
                    return;
                }
                self.previous_readable = false;
                self.previous = FieldText::Null;
                self.position += 1;
            }
            Checked::Record {
                segment,
                line,
                ref summary,
            } => self.observe_record(segment, line, summary),
        }
    }

    fn observe_record(&mut self, segment: usize, line: u64, summary: &Summary) {
        let i = self.position;
        let mut failed: Vec<Check> = Vec::new();
        if !summary.schema_ok {
            self.error(format!("record {i}: invalid schema_version"));
            self.bad(
                segment,
                line,
                Check::SchemaVersion,
                EVENT_SCHEMA.into(),
                summary.schema_found.clone(),
            );
            failed.push(Check::SchemaVersion);
        }
        if summary.sequence != Some(i) {
            self.error(format!("record {i}: sequence mismatch"));
            self.bad(
                segment,
                line,
                Check::Sequence,
                i.to_string(),
                summary.sequence_found(),
            );
            failed.push(Check::Sequence);
        }
        // After an unreadable line the expected link is unknown; that line is already reported.
        if self.previous_readable && summary.previous_hash != self.previous {
            self.error(format!("record {i}: previous_hash mismatch"));
            self.bad(
                segment,
                line,
                Check::PreviousHash,
                self.previous.text(),
                summary.previous_hash.text(),
            );
            failed.push(Check::PreviousHash);
        }
        if let Some((path, marker)) = &summary.bad_marker {
            self.error(format!("record {i}: malformed redaction marker at {path}"));
            self.bad(
                segment,
                line,
                Check::Redaction,
                "{\"redacted\": \"sha256:<64 lowercase hex digits>\"}".into(),
                marker.clone(),
            );
            failed.push(Check::Redaction);
        }
        let mut leaf_verified = true;
        if summary.redacted {
            self.redacted += 1;
            leaf_verified = summary.signature == SignatureOutcome::Valid;
            if summary.signature == SignatureOutcome::NotChecked {
                // Nothing binds this record: its record_hash cannot be recomputed and no key
                // checked a redaction_signature, so its content is unverified — not a success.
                self.error(format!(
                    "record {i}: redacted, and its redaction could not be verified (no key given): its content is bound to nothing; verify with the log's key (--key-file/--key-env, or --trust-root/--public-key)"
                ));
                self.unchecked_errors += 1;
                self.bad(
                    segment,
                    line,
                    Check::RedactionSignature,
                    "a redaction_signature verified under the log's key".into(),
                    "not checked: no key given".into(),
                );
            }
        } else if summary.record_hash.digest() != Some(&summary.computed_hash) {
            leaf_verified = false;
            self.error(format!("record {i}: record_hash mismatch"));
            self.bad(
                segment,
                line,
                Check::RecordHash,
                format!("\"{}\"", hex::encode(summary.computed_hash)),
                summary.record_hash.text(),
            );
            failed.push(Check::RecordHash);
        }
        if let SignatureOutcome::Mismatch { expected, found } = &summary.signature {
            let what = if summary.redacted {
                Check::RedactionSignature
            } else {
                Check::Signature
            };
            self.error(format!("record {i}: {what} mismatch"));
            self.bad(segment, line, what, expected.clone(), found.clone());
            failed.push(Check::Signature);
        }
        match &summary.signature {
            SignatureOutcome::Valid => self.signatures_valid += 1,
            SignatureOutcome::Mismatch { found, .. } => {
                if summary.redacted && found == NO_REDACTION_SIGNATURE {
                    self.missing_redaction_signatures += 1;
                }
                self.signatures_failed += 1;
                self.first_signature_failure.get_or_insert(i);
                if let Some(key_id) = &summary.failed_key_id
                    && self.failed_key_ids.len() < 5
                    && !self.failed_key_ids.contains(key_id)
                {
                    self.failed_key_ids.push(key_id.clone());
                }
            }
            SignatureOutcome::NotChecked if summary.signed => self.signatures_unchecked += 1,
            SignatureOutcome::NotChecked => self.unsigned_records += 1,
        }
        if summary.redacted {
            if summary.signature == SignatureOutcome::Valid {
                self.redacted_bound += 1;
            } else if self.redacted_unverified.len() < MAX_ERRORS {
                self.redacted_unverified.push(i);
            }
        }
        let signature_settled = match summary.signature {
            SignatureOutcome::Valid => true,
            SignatureOutcome::NotChecked => !summary.signed,
            SignatureOutcome::Mismatch { .. } => false,
        };
        if failed.is_empty()
            && signature_settled
            && (!summary.redacted || summary.signature == SignatureOutcome::Valid)
        {
            self.fully_checked += 1;
        }

        self.settle_pending(Some(summary));
        if !failed.is_empty() && self.diagnosis.is_none() && matches!(self.pending, Pending::None) {
            self.classify(i, summary, &failed);
        }

        self.record_count += 1;
        // CAVRA's first_sequence is the first record's sequence, whatever it is (null when that
        // record has none), not the first integer sequence found further on.
        if self.record_count == 1 {
            self.first_sequence = summary.sequence;
        }
        self.last_sequence = summary.sequence;
        self.last_record_hash = summary.record_hash.clone();
        self.previous = summary.record_hash.clone();
        self.previous_readable = true;
        if let Some(leaf) = summary.leaf {
            self.frontier.push(leaf);
        }
        if !leaf_verified || summary.bad_marker.is_some() {
            self.unverified_leaves += 1;
            self.first_unverified_leaf.get_or_insert(i);
        }
        self.tree_size += 1;
        self.position += 1;
        self.compare_checkpoints();
    }

    /// Decide a pending classification with the record just read (None = a non-record).
    fn settle_pending(&mut self, current: Option<&Summary>) {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => {}
            Pending::Gap { at, from, to } => {
                let seen = current
                    .and_then(|s| s.sequence)
                    .is_some_and(|s| (from..to).contains(&s));
                if seen {
                    self.diagnose(
                        DiagnosisKind::Reordering,
                        at,
                        format!("record {at} holds sequence {to} and sequence {} appears later: records are out of order", current.and_then(|s| s.sequence).unwrap_or(0)),
                    );
                } else {
                    self.pending = Pending::Gap { at, from, to };
                }
            }
            Pending::Link { at, before } => {
                let inserted =
                    current.is_some_and(|s| s.sequence == Some(at) && s.previous_hash == before);
                if inserted {
                    self.diagnose(DiagnosisKind::Insertion, at, format!("record {at} was inserted: the next record is numbered {at} and links to record {}", at - 1));
                } else {
                    self.diagnose(
                        DiagnosisKind::Mutation,
                        at,
                        format!("record {at} does not link to record {}: one of them was rewritten with a recomputed record_hash (a signature check tells which)", at - 1),
                    );
                }
            }
        }
    }

    fn classify(&mut self, i: u64, summary: &Summary, failed: &[Check]) {
        if failed.contains(&Check::RecordHash) {
            self.diagnose(
                DiagnosisKind::Mutation,
                i,
                format!("record {i} was altered: its content no longer hashes to its record_hash"),
            );
        } else if failed.contains(&Check::Signature) && failed.len() == 1 {
            let detail = if summary.signed {
                format!(
                    "record {i} carries a signature that does not verify: it was rewritten or signed by an untrusted key"
                )
            } else {
                format!(
                    "record {i} has no signature: it was written or rewritten without the log's key"
                )
            };
            self.diagnose(DiagnosisKind::Mutation, i, detail);
        } else if let Some(s) = summary.sequence.filter(|s| *s > i) {
            self.pending = Pending::Gap {
                at: i,
                from: i,
                to: s,
            };
        } else if summary.sequence.is_some_and(|s| s < i) && self.previous == summary.record_hash {
            self.diagnose(
                DiagnosisKind::Duplication,
                i,
                format!("record {i} repeats record {} (same record_hash)", i - 1),
            );
        } else if summary.sequence.is_some_and(|s| s < i) {
            self.diagnose(DiagnosisKind::Insertion, i - 1, format!("record {i} is numbered {} and does not link to record {}: a record was inserted before it", summary.sequence_found(), i - 1));
        } else if failed == [Check::PreviousHash] {
            self.pending = Pending::Link {
                at: i,
                before: self.previous.clone(),
            };
        } else {
            self.diagnose(
                DiagnosisKind::Mutation,
                i,
                format!(
                    "record {i} fails: {}",
                    failed
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }

    /// Every signed record fails its signature and nothing else fails: that is not a rewritten
    /// record but the wrong key or key id (issue #15 item 5), so say so instead of "mutation".
    fn diagnose_key_mismatch(&mut self) {
        let only_signatures = self.signatures_failed > 0
            && self.signatures_valid == 0
            && self.missing_redaction_signatures == 0
            && self.error_count as u64 == self.signatures_failed;
        let Some(first) = self.first_signature_failure.filter(|_| only_signatures) else {
            return;
        };
        let found = if self.failed_key_ids.is_empty() {
            "records carry no signature naming a key id".to_string()
        } else {
            format!(
                "records say key id {}",
                self.failed_key_ids
                    .iter()
                    .map(|id| format!("{id:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let given = match &self.options.signatures {
            SignatureCheck::Hmac { key_id, .. } => {
                format!("given HMAC key id {key_id:?}")
            }
            SignatureCheck::Ed25519 { trust } => format!(
                "given trust roots {}",
                trust
                    .roots()
                    .iter()
                    .map(|root| format!("{:?}", root.key_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            SignatureCheck::None => "given no key".into(),
        };
        self.diagnosis = Some(Diagnosis {
            kind: DiagnosisKind::KeyMismatch,
            record: first,
            detail: format!(
                "every one of the {} signed record(s) fails its signature check while every hash, link and sequence verifies: wrong key or key id ({found}, {given}); if the key is right, every signature was replaced",
                self.signatures_failed
            ),
        });
    }

    /// Compare the tree so far with every checkpoint of exactly this size.
    fn compare_checkpoints(&mut self) {
        if self.options.checkpoints.is_empty() {
            return;
        }
        let size = self.frontier.size();
        let mut results = Vec::new();
        for (index, checkpoint) in self.options.checkpoints.iter().enumerate() {
            if checkpoint.size != size || self.checkpoint_results[index].is_some() {
                continue;
            }
            let root = self.frontier.root();
            let root_matches = root == checkpoint.root;
            // A match claim only when every leaf came from a record_hash its record was checked
            // against: otherwise the root proves only that the stored hashes were kept.
            let consistent = root_matches && self.unverified_leaves == 0;
            let message = if consistent {
                format!(
                    "the first {size} records match checkpoint {:?} at size {size}",
                    checkpoint.origin
                )
            } else if root_matches {
                format!(
                    "checkpoint {:?} at size {size}: NOT a match — the stored record_hash values give its root, but {} of records 1..{size} (first: record {}) do not match their record_hash or could not be checked against it, so the checkpoint does not vouch for their content",
                    checkpoint.origin,
                    self.unverified_leaves,
                    self.first_unverified_leaf.unwrap_or(0)
                )
            } else {
                format!(
                    "checkpoint {:?} at size {size}: root mismatch (expected {}, found {}): records 1..{size} were rewritten after the checkpoint",
                    checkpoint.origin,
                    BASE64.encode(checkpoint.root),
                    BASE64.encode(root)
                )
            };
            results.push((
                index,
                root_matches,
                CheckpointResult {
                    origin: checkpoint.origin.clone(),
                    tree_size: size,
                    consistent,
                    message,
                },
            ));
        }
        for (index, root_matches, result) in results {
            // (A root that matches over unverified leaves: those records are findings already.)
            if !root_matches {
                self.error(result.message.clone());
                self.diagnose(
                    DiagnosisKind::CheckpointMismatch,
                    size,
                    result.message.clone(),
                );
            }
            self.checkpoint_results[index] = Some(result);
        }
    }

    pub(super) fn finish(mut self) -> VerifyReport {
        if let Pending::Gap { at, from, to } = std::mem::replace(&mut self.pending, Pending::None) {
            let detail = if to - from == 1 {
                format!("record {from} was deleted (record {at} holds sequence {to})")
            } else {
                format!(
                    "records {from}..{} were deleted (record {at} holds sequence {to})",
                    to - 1
                )
            };
            self.diagnose(DiagnosisKind::Deletion, at, detail);
        }
        self.settle_pending(None);
        self.diagnose_key_mismatch();
        let size = self.tree_size;
        debug_assert!(!self.tree || self.frontier.size() == size);
        for index in 0..self.options.checkpoints.len() {
            if self.checkpoint_results[index].is_none() {
                let checkpoint = &self.options.checkpoints[index];
                let message = format!(
                    "checkpoint {:?} commits to {} records but the log has {size}: records {}..{} are missing (truncated)",
                    checkpoint.origin,
                    checkpoint.size,
                    size + 1,
                    checkpoint.size
                );
                self.error(message.clone());
                self.diagnose(DiagnosisKind::Truncation, size + 1, message.clone());
                self.checkpoint_results[index] = Some(CheckpointResult {
                    origin: checkpoint.origin.clone(),
                    tree_size: checkpoint.size,
                    consistent: false,
                    message,
                });
            }
        }
        VerifyReport {
            schema_version: VERIFICATION_SCHEMA,
            product: "CAVRA",
            path: self.paths.first().cloned().unwrap_or_default(),
            valid: self.error_count == 0,
            incomplete: self.error_count > 0 && self.error_count == self.unchecked_errors,
            record_count: self.record_count,
            first_sequence: self.first_sequence,
            last_sequence: self.last_sequence,
            last_record_hash: self.last_record_hash.string_value(),
            errors: self.errors,
            error_count: self.error_count,
            segments: self.paths,
            signature_key_given: self.options.signatures.is_enabled(),
            signatures_checked: self.signatures_valid + self.signatures_failed,
            signatures_failed: self.signatures_failed,
            signatures_unchecked: self.signatures_unchecked,
            unsigned_records: self.unsigned_records,
            first_bad_record: self.first_bad,
            diagnosis: self.diagnosis,
            tree_size: size,
            merkle_root: self.tree.then(|| BASE64.encode(self.frontier.root())),
            checkpoints: self.checkpoint_results.into_iter().flatten().collect(),
            redacted_records: self.redacted,
            redacted_bound: self.redacted_bound,
            redacted_unverified: self.redacted_unverified,
            fully_checked_records: self.fully_checked,
        }
    }
}
