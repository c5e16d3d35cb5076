//! Verifying an audit log: CAVRA's per-record checks in CAVRA's order (schema_version, sequence,
//! previous_hash, record_hash, signature), continuing past failures, plus what CAVRA lacks —
//! torn and malformed lines named by physical line, a diagnosis of the first break (mutation,
//! insertion, deletion, reordering, duplication, truncation), and Merkle checks against signed
//! checkpoints. The report counts what was checked (`signatures_checked`, `_failed`,
//! `_unchecked`, `fully_checked_records`), so no verdict implies a check that did not run, and a
//! failed signature never carries the expected value (no MAC oracle).
//!
//! The log is streamed: a log file is cut into chunks that the workers read and check themselves
//! ([`files`]), any other source (a log streamed from a store) into batches of lines by a reader
//! thread ([`reader`]); each record is parsed, hashed and signature-checked on its own, in
//! parallel, and then the links between records are checked in order. Memory stays constant
//! whatever the log size.
//!
//! Files by concern: this file holds the options, the report and the entry points; [`files`]
//! cuts log files into chunks and walks their results in order, [`reader`] cuts any other
//! source into batches of lines, [`record`] checks one line on its own (through
//! [`fast`], the one-pass canonical re-serialiser of a record line, when it applies), and
//! [`chain`] walks the checked records in order (links, Merkle checkpoints, diagnosis).

mod chain;
pub mod fast;
mod files;
mod hexdigits;
mod reader;
mod record;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rayon::prelude::*;
use serde::Serialize;

use super::AuditError;
use super::checkpoint::{Checkpoint, SegmentStart};
use super::record::SignatureCheck;
use chain::State;
use reader::{Batch, LIMITS, Limits, read_batches};
use record::{Checked, FastCheck, check_line};

pub(crate) use reader::{MAX_LINE, MAX_TOKENS, too_many_tokens};
pub use record::REDACTION_SIGNATURE;

/// Declares a closed set of names that the report serialises as plain strings: the variants
/// are what the code matches on, the strings are what JSON readers and scripts match on (the
/// same model as `bundle::FindingKind`).
macro_rules! report_names {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident => $text:literal: $doc:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $(#[doc = $doc] $variant,)* }

        impl $name {
            /// The stable name (in the JSON report and in messages).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

report_names! {
    /// Which of CAVRA's per-record checks (or which line-level problem) a [`BadRecord`] failed.
    pub enum Check {
        SchemaVersion => "schema_version": "`schema_version` is not `cavra.audit-log.event.v1`.",
        Sequence => "sequence": "`sequence` is not the record's position.",
        PreviousHash => "previous_hash": "`previous_hash` is not the previous record's `record_hash`.",
        RecordHash => "record_hash": "The content does not hash to `record_hash`.",
        Signature => "signature": "`signature` does not verify under the given key.",
        RedactionSignature => "redaction_signature": "A redacted record's `redaction_signature` is missing, does not verify, or could not be checked (no key).",
        Redaction => "redaction": "A redaction marker is malformed: not `{\"redacted\": \"sha256:<64 lowercase hex>\"}`.",
        Json => "json": "The line is not a JSON object (or not UTF-8, or longer than the line limit).",
        Torn => "torn": "The last line has no trailing newline (an interrupted append).",
    }
}

report_names! {
    /// What kind of tampering (or damage) the first break looks like.
    pub enum DiagnosisKind {
        Mutation => "mutation": "A record was rewritten.",
        Insertion => "insertion": "A record was inserted.",
        Deletion => "deletion": "Records were deleted.",
        Reordering => "reordering": "Records are out of order.",
        Duplication => "duplication": "A record repeats the one before it.",
        Truncation => "truncation": "The log is shorter than a checkpoint commits to.",
        CheckpointMismatch => "checkpoint_mismatch": "The records up to a checkpoint's size do not give its root.",
        TornWrite => "torn_write": "The last line is torn (an interrupted append).",
        MalformedLine => "malformed_line": "A line is not a JSON record.",
        KeyMismatch => "key_mismatch": "Every signed record fails its signature and nothing else fails: wrong key or key id.",
    }
}

pub const VERIFICATION_SCHEMA: &str = "cavra.audit-log.verification.v1";
/// Error strings kept in the report (the count is always exact).
const MAX_ERRORS: usize = 10_000;

/// Whether verification builds the log's Merkle tree (a leaf hash per record and the node
/// hashes of the RFC 6962 frontier) and reports its root. It is a choice the caller states: the
/// root is what checkpoints, inclusion proofs, anchors, tiles and handoff packages are built
/// from, and a plain chain check does not need it (about a seventh of the hashing per record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MerkleWork {
    /// Build the tree and report `merkle_root` (the default, so a caller that does not say
    /// otherwise always gets a root).
    #[default]
    Root,
    /// Skip the leaf and node hashes: the report's `merkle_root` is `None` (`null` in JSON),
    /// never an empty or made-up root. Checkpoints in [`VerifyOptions::checkpoints`] need the
    /// tree, so when any is given the tree is built (and its root reported) all the same — a
    /// check that was asked for is never skipped.
    Skip,
}

/// What to check besides the chain itself.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Record signatures (CAVRA checks them only when given a key).
    pub signatures: SignatureCheck,
    /// Where the (first) segment starts: sequence 1 with no previous record, or a checked
    /// [`super::SegmentAnchor`] for a pruned suffix.
    pub start: SegmentStart,
    /// Signed tree heads (already signature-checked) that the log must extend.
    pub checkpoints: Vec<Checkpoint>,
    /// Accept redacted exports: records with `{"redacted": "sha256:…"}` values skip the
    /// record_hash check (links, sequence and schema are still checked); their
    /// `redaction_signature` is checked instead of `signature` when a key is given.
    pub allow_redacted: bool,
    /// Build the Merkle tree and report its root ([`MerkleWork::Root`], the default) or not.
    pub merkle: MerkleWork,
}

impl VerifyOptions {
    /// Whether this run builds the Merkle tree: asked for, or needed by a checkpoint check.
    pub(crate) fn builds_tree(&self) -> bool {
        self.merkle == MerkleWork::Root || !self.checkpoints.is_empty()
    }
}

/// The record where verification first failed, with what was expected and what was found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadRecord {
    /// 1-based record index (the sequence it should have).
    pub record: u64,
    pub path: String,
    /// Physical line number in `path`.
    pub line: u64,
    /// Serialised as `schema_version`, `sequence`, `previous_hash`, `record_hash`, `signature`,
    /// `redaction_signature`, `json`, `torn`.
    pub check: Check,
    pub expected: String,
    pub found: String,
}

/// What kind of tampering the first break looks like, and where.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diagnosis {
    /// Serialised as `mutation`, `insertion`, `deletion`, `reordering`, `duplication`,
    /// `truncation`, `checkpoint_mismatch`, `torn_write`, `malformed_line`, `key_mismatch` (every
    /// signed record fails its signature and nothing else fails: wrong key or key id).
    pub kind: DiagnosisKind,
    pub record: u64,
    pub detail: String,
}

/// One checkpoint comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointResult {
    pub origin: String,
    pub tree_size: u64,
    pub consistent: bool,
    pub message: String,
}

/// CAVRA's result object, plus wormvault's extra fields after `errors`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub schema_version: &'static str,
    pub product: &'static str,
    pub path: String,
    pub valid: bool,
    /// Not valid only because something could not be checked (redacted records and no key):
    /// no check failed, but the verdict is not a success either (printed `INCOMPLETE`).
    pub incomplete: bool,
    pub record_count: u64,
    pub first_sequence: Option<u64>,
    pub last_sequence: Option<u64>,
    pub last_record_hash: Option<String>,
    pub errors: Vec<String>,
    pub error_count: usize,
    pub segments: Vec<String>,
    /// Whether record-signature key material was given (CAVRA checks signatures only then).
    pub signature_key_given: bool,
    /// Signatures checked against the given key (valid or not), redaction signatures included.
    pub signatures_checked: u64,
    /// Of those, signatures that did not verify.
    pub signatures_failed: u64,
    /// Records carrying a signature that was not checked: no key given, or a redacted record
    /// with no `redaction_signature` to check. A verdict with any of these says nothing about
    /// who wrote the records (see [`VerifyReport::require_signatures_checked`]).
    pub signatures_unchecked: u64,
    /// Records with no signature at all.
    pub unsigned_records: u64,
    pub first_bad_record: Option<BadRecord>,
    pub diagnosis: Option<Diagnosis>,
    /// Leaves in the Merkle tree (records before the segment plus records read), counted whether
    /// or not the tree was built.
    pub tree_size: u64,
    /// base64 RFC 6962 root over all leaves (the value a checkpoint of this log would carry);
    /// `None` (`null` in JSON) when the tree was not built ([`MerkleWork::Skip`]).
    pub merkle_root: Option<String>,
    pub checkpoints: Vec<CheckpointResult>,
    /// Records with redacted values (`--allow-redacted`): their record_hash cannot be
    /// recomputed.
    pub redacted_records: u64,
    /// Redacted records whose unredacted fields are bound by a `redaction_signature` that
    /// verified under the given key.
    pub redacted_bound: u64,
    /// Sequences of redacted records that could not be fully checked (no key, or no
    /// `redaction_signature`), at most 10,000 listed.
    pub redacted_unverified: Vec<u64>,
    /// Records every check of which ran and passed (hash, links, and signature when signed).
    pub fully_checked_records: u64,
}

impl VerifyReport {
    /// Records whose signature could not be checked (see `signatures_unchecked`).
    pub fn unchecked_signatures(&self) -> u64 {
        self.signatures_unchecked
    }

    /// Before signing over the log (a checkpoint, a prune anchor): it must be valid, and every
    /// record signature must have been checked — a signed checkpoint vouches for authorship too.
    /// `action` completes "refusing to …" in the error ("checkpoint it").
    pub fn require_signable(&self, log: &Path, action: &'static str) -> Result<(), AuditError> {
        if !self.valid {
            return Err(AuditError::LogInvalid {
                path: log.to_path_buf(),
                count: self.error_count,
                first: self.errors.first().cloned().unwrap_or_default(),
                action,
            });
        }
        self.require_signatures_checked()
    }

    /// For commands that consume a log (archive, handoff, status, hold): refuse a log whose
    /// records carry signatures that were not checked — a chain rewritten under another key
    /// passes every other check (issue #15 item 4).
    pub fn require_signatures_checked(&self) -> Result<(), AuditError> {
        if self.signatures_unchecked == 0 {
            return Ok(());
        }
        Err(AuditError::SignaturesUnchecked {
            path: PathBuf::from(&self.path),
            unchecked: self.signatures_unchecked,
            key_given: self.signature_key_given,
        })
    }
}

/// Verify one log file.
pub fn verify(path: &Path, options: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    verify_segments(&[path.to_path_buf()], options)
}

/// Verify consecutive segments (e.g. an archive segment then the pruned log) as one chain.
/// Each must be a regular file, read in chunks by the workers themselves ([`files`]): a pipe,
/// FIFO or device is refused before anything is read (it cannot be read twice, as the commands
/// that verify a log and then use it must, and `/dev/zero` would never end). A log streamed from
/// a store goes through [`verify_readers`].
pub fn verify_segments(
    paths: &[PathBuf],
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let mut segments = Vec::with_capacity(paths.len());
    for path in paths {
        let file = match crate::limits::open_regular(path, true) {
            Ok(file) => file,
            Err(Ok(found)) => {
                return Err(AuditError::NotRegular {
                    path: path.clone(),
                    found,
                });
            }
            Err(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AuditError::MissingLog { path: path.clone() });
            }
            Err(Err(e)) => {
                return Err(AuditError::Io {
                    action: "opening audit log",
                    path: path.clone(),
                    source: e,
                });
            }
        };
        let len = file
            .metadata()
            .map_err(|e| AuditError::Io {
                action: "reading the size of audit log",
                path: path.clone(),
                source: e,
            })?
            .len();
        segments.push(files::Segment {
            file,
            len,
            path: path.clone(),
        });
    }
    files::verify_files(paths, &segments, options, files::CHUNK_LIMITS)
}

/// Verify consecutive segments read from any source (a file, or a log streamed from a store),
/// named by `names` in the report (`path`, `segments`, `first_bad_record.path`).
pub fn verify_readers(
    names: &[PathBuf],
    files: Vec<Box<dyn Read + Send>>,
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    verify_readers_with(names, files, options, LIMITS)
}

/// [`verify_readers`] with the reader's limits as a parameter (small in tests).
fn verify_readers_with(
    names: &[PathBuf],
    files: Vec<Box<dyn Read + Send>>,
    options: &VerifyOptions,
    limits: Limits,
) -> Result<VerifyReport, AuditError> {
    let paths = names;
    let mut state = State::new(paths, options);
    let fast_check = FastCheck::new(options);
    let (sender, receiver) = mpsc::sync_channel::<Result<Batch, AuditError>>(1);
    // Spent batches go back to the reader, so their buffers are reused rather than reallocated.
    let (recycle, recycled) = mpsc::channel::<Batch>();
    let reader_paths = paths.to_vec();
    let reader =
        std::thread::spawn(move || read_batches(files, reader_paths, limits, sender, recycled));
    // Pipeline: while the workers check batch k+1 (each record on its own), one of them walks the
    // results of batch k in order (links, sequence, Merkle frontier), so the serial part overlaps
    // with the parallel part instead of adding to it.
    // The two result buffers alternate, so they are allocated once.
    let mut previous: Vec<Checked> = Vec::new();
    let mut current: Vec<Checked> = Vec::new();
    for batch in receiver {
        let batch = batch?;
        let data = &batch.data;
        let check = || {
            batch
                .lines
                .par_iter()
                .map_init(fast::Scratch::default, |scratch, line| {
                    check_line(line, data, options, fast_check.as_ref(), scratch)
                })
                .collect_into_vec(&mut current);
        };
        let walk = || {
            for item in &previous {
                state.observe(item);
            }
        };
        rayon::join(check, walk);
        std::mem::swap(&mut previous, &mut current);
        let _ = recycle.send(batch);
    }
    for item in &previous {
        state.observe(item);
    }
    if reader.join().is_err() {
        return Err(AuditError::Invalid {
            what: "audit log reader".into(),
            problem: "reader thread panicked".into(),
        });
    }
    Ok(state.finish())
}

/// Logs the tests of this module's files share.
#[cfg(test)]
pub(super) mod test_logs {
    use std::path::Path;

    use crate::audit::record::{NewRecord, Signer};

    /// Append `n` HMAC-signed records (key `k`, id `kid`) to the log at `path`.
    pub(in crate::audit::verify) fn append_signed(path: &Path, n: u32) {
        let signer = Signer::Hmac {
            key: b"k".to_vec(),
            key_id: "kid".into(),
        };
        for i in 1..=n {
            let new = NewRecord {
                event_type: "e".into(),
                actor: format!("a{i}"),
                action: "x".into(),
                target: "t".into(),
                decision: "allow".into(),
                created_at: Some("2026-07-04T00:00:01+00:00".into()),
                ..Default::default()
            };
            crate::audit::append(path, &new, &signer).unwrap();
        }
    }

    /// Hostile segment sets for the line cutters: torn tails, blank and whitespace lines, CRLF,
    /// long lines (complete and torn), empty segments, and 40 random logs from `seed`.
    pub(in crate::audit::verify) fn hostile_segments(seed: u64) -> Vec<Vec<Vec<u8>>> {
        let long = "x".repeat(40);
        let mut cases: Vec<Vec<Vec<u8>>> = vec![
            vec![b"a\nbb\n\n  \nccc\n".to_vec()],
            vec![b"a\nbb".to_vec()],
            vec![format!("a\n{long}\nb\n").into_bytes()],
            vec![format!("a\n{long}").into_bytes()],
            vec![format!("{long}\n").into_bytes()],
            vec![
                format!("{long}{long}\n{long}\nz\r\n").into_bytes(),
                b"q\n\nr".to_vec(),
                b"".to_vec(),
                b"s\n".to_vec(),
            ],
            vec![b"\n\n\n".to_vec(), b"   ".to_vec()],
            vec![b"\n".to_vec(), b"\r\n \r\n".to_vec(), b"x".to_vec()],
        ];
        let mut rng = seed;
        for _ in 0..40 {
            let mut bytes = Vec::new();
            for _ in 0..50 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                match rng % 6 {
                    0 => bytes.push(b'\n'),
                    1 => bytes.extend_from_slice(&b"y".repeat((rng >> 8) as usize % 50)),
                    2 => bytes.push(b' '),
                    3 => bytes.extend_from_slice(b"\r\n"),
                    _ => bytes.extend_from_slice(b"{\"k\": 1}\n"),
                }
            }
            cases.push(vec![bytes]);
        }
        cases
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn build(n: u32) -> (tempfile::TempDir, PathBuf, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        test_logs::append_signed(&path, n);
        let lines = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        (dir, path, lines)
    }

    fn rewrite(path: &Path, lines: &[String]) {
        let mut file = std::fs::File::create(path).unwrap();
        for line in lines {
            writeln!(file, "{line}").unwrap();
        }
    }

    fn options() -> VerifyOptions {
        VerifyOptions {
            signatures: SignatureCheck::Hmac {
                key: b"k".to_vec(),
                key_id: "kid".into(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn clean_log_verifies() {
        let (_dir, path, _) = build(9000);
        let report = verify(&path, &options()).unwrap();
        assert!(report.valid, "{:?}", report.errors);
        assert_eq!(
            (
                report.record_count,
                report.first_sequence,
                report.last_sequence
            ),
            (9000, Some(1), Some(9000))
        );
        assert_eq!(report.tree_size, 9000);
    }

    #[test]
    fn each_tamper_kind_is_diagnosed() {
        let (_dir, path, lines) = build(10);
        let cases: Vec<(&str, Vec<String>, u64)> = vec![
            (
                "mutation",
                {
                    let mut l = lines.clone();
                    l[4] = l[4].replace("\"a5\"", "\"evil\"");
                    l
                },
                5,
            ),
            (
                "deletion",
                {
                    let mut l = lines.clone();
                    l.remove(4);
                    l
                },
                5,
            ),
            (
                "reordering",
                {
                    let mut l = lines.clone();
                    l.swap(4, 5);
                    l
                },
                5,
            ),
            (
                "duplication",
                {
                    let mut l = lines.clone();
                    l.insert(5, l[4].clone());
                    l
                },
                6,
            ),
        ];
        for (kind, tampered, record) in cases {
            rewrite(&path, &tampered);
            let report = verify(&path, &options()).unwrap();
            assert!(!report.valid, "{kind}");
            let diagnosis = report.diagnosis.unwrap();
            assert_eq!(
                (diagnosis.kind.as_str(), diagnosis.record),
                (kind, record),
                "{kind}: {}",
                diagnosis.detail
            );
        }
    }

    /// The JSON report keeps CAVRA-era strings: scripts match `first_bad_record.check` and
    /// `diagnosis.kind` by name.
    #[test]
    fn check_and_diagnosis_names_serialise_as_before() {
        assert_eq!(
            serde_json::to_value(Check::PreviousHash).unwrap(),
            "previous_hash"
        );
        assert_eq!(
            serde_json::to_value(Check::RedactionSignature).unwrap(),
            "redaction_signature"
        );
        assert_eq!(serde_json::to_value(Check::Torn).unwrap(), "torn");
        assert_eq!(
            serde_json::to_value(DiagnosisKind::KeyMismatch).unwrap(),
            "key_mismatch"
        );
        assert_eq!(
            serde_json::to_value(DiagnosisKind::CheckpointMismatch).unwrap(),
            "checkpoint_mismatch"
        );
        assert_eq!(
            serde_json::to_value(DiagnosisKind::TornWrite).unwrap(),
            "torn_write"
        );
        assert!(DiagnosisKind::Mutation == "mutation");
        assert_eq!(Check::SchemaVersion.to_string(), "schema_version");
    }

    /// The root of the first `n` lines' leaves, computed independently of the verifier.
    fn expected_root(lines: &[String], n: usize) -> String {
        use base64::Engine as _;
        let leaves: Vec<_> = lines[..n]
            .iter()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                let hash = hex::decode(value["record_hash"].as_str().unwrap()).unwrap();
                crate::audit::merkle::leaf_hash(&hash)
            })
            .collect();
        base64::engine::general_purpose::STANDARD.encode(crate::audit::merkle::root(&leaves))
    }

    #[test]
    fn merkle_root_is_computed_when_asked_and_absent_when_skipped() {
        let (_dir, path, lines) = build(37);
        let asked = verify(&path, &options()).unwrap();
        assert_eq!(
            options().merkle,
            MerkleWork::Root,
            "the default builds the tree"
        );
        assert!(asked.valid, "{:?}", asked.errors);
        assert_eq!(asked.merkle_root, Some(expected_root(&lines, 37)));
        assert_eq!(asked.tree_size, 37);

        let skipped = verify(
            &path,
            &VerifyOptions {
                merkle: MerkleWork::Skip,
                ..options()
            },
        )
        .unwrap();
        assert!(skipped.valid, "{:?}", skipped.errors);
        assert_eq!(skipped.merkle_root, None);
        assert_eq!(
            (
                skipped.tree_size,
                skipped.record_count,
                skipped.fully_checked_records
            ),
            (37, 37, 37)
        );
        let json = serde_json::to_value(&skipped).unwrap();
        assert_eq!(json["merkle_root"], serde_json::Value::Null);

        // Skipping the tree skips no other check: a rewritten record still fails.
        let mut tampered = lines.clone();
        tampered[3] = tampered[3].replace("\"a4\"", "\"evil\"");
        rewrite(&path, &tampered);
        let bad = verify(
            &path,
            &VerifyOptions {
                merkle: MerkleWork::Skip,
                ..options()
            },
        )
        .unwrap();
        assert!(!bad.valid);
        assert_eq!(bad.diagnosis.unwrap().kind, DiagnosisKind::Mutation);
    }

    /// A checkpoint needs the tree: with `MerkleWork::Skip` it is still checked, both ways.
    #[test]
    fn checkpoints_are_checked_even_when_the_tree_is_skipped() {
        use base64::Engine as _;
        let (_dir, path, lines) = build(20);
        let root = base64::engine::general_purpose::STANDARD
            .decode(expected_root(&lines, 12))
            .unwrap()
            .try_into()
            .unwrap();
        let checkpoint = |root| Checkpoint {
            origin: "test/log".into(),
            size: 12,
            root,
        };
        let with = |checkpoint: Checkpoint| VerifyOptions {
            merkle: MerkleWork::Skip,
            checkpoints: vec![checkpoint],
            ..options()
        };
        let good = verify(&path, &with(checkpoint(root))).unwrap();
        assert!(good.valid, "{:?}", good.errors);
        assert_eq!(good.checkpoints.len(), 1);
        assert!(good.checkpoints[0].consistent);
        assert_eq!(good.merkle_root, Some(expected_root(&lines, 20)));

        let mut other = root;
        other[0] ^= 1;
        let bad = verify(&path, &with(checkpoint(other))).unwrap();
        assert!(!bad.valid);
        assert!(!bad.checkpoints[0].consistent);
        assert_eq!(
            bad.diagnosis.unwrap().kind,
            DiagnosisKind::CheckpointMismatch
        );
    }

    #[test]
    fn missing_log_is_an_error() {
        let error = verify(
            Path::new("/nonexistent/log.jsonl"),
            &VerifyOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(error, AuditError::MissingLog { .. }));
    }
}
