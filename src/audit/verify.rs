//! Verifying an audit log: CAVRA's per-record checks in CAVRA's order (schema_version, sequence,
//! previous_hash, record_hash, signature), continuing past failures, plus what CAVRA lacks —
//! torn and malformed lines named by physical line, a diagnosis of the first break (mutation,
//! insertion, deletion, reordering, duplication, truncation), and Merkle checks against signed
//! checkpoints.
//!
//! The file is streamed: a reader thread cuts it into batches of lines, each batch's records are
//! parsed, hashed and signature-checked in parallel (each record is independent), and then the
//! links between records are checked in order. Memory stays constant whatever the log size.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rayon::prelude::*;
use serde::Serialize;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AuditError;
use super::checkpoint::{Checkpoint, SegmentStart};
use super::merkle::{self, Hash};
use super::fast;
use super::record::{Canonical, EVENT_SCHEMA, SignatureCheck, SignatureOutcome};
use crate::canonical;

pub const VERIFICATION_SCHEMA: &str = "cavra.audit-log.verification.v1";
/// Lines per parallel batch.
const BATCH_LINES: usize = 4096;
/// A record line longer than this is reported as malformed and skipped without being buffered
/// (the same bound `append` uses for the tail line): a hostile multi-gigabyte line must not be
/// read into memory whole.
pub(crate) const MAX_LINE: u64 = 64 * 1024 * 1024;
/// Bytes of line data per parallel batch, besides the line count bound: a batch of long lines
/// must not hold BATCH_LINES × MAX_LINE bytes at once.
const BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Error strings kept in the report (the count is always exact).
const MAX_ERRORS: usize = 10_000;
const READ_BUFFER: usize = 128 * 1024;

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
    /// record_hash and signature checks (links, sequence and schema are still checked).
    pub allow_redacted: bool,
}

/// The record where verification first failed, with what was expected and what was found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadRecord {
    /// 1-based record index (the sequence it should have).
    pub record: u64,
    pub path: String,
    /// Physical line number in `path`.
    pub line: u64,
    /// `schema_version`, `sequence`, `previous_hash`, `record_hash`, `signature`, `json`, `torn`.
    pub check: &'static str,
    pub expected: String,
    pub found: String,
}

/// What kind of tampering the first break looks like, and where.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diagnosis {
    /// `mutation`, `insertion`, `deletion`, `reordering`, `duplication`, `truncation`,
    /// `checkpoint_mismatch`, `torn_write`, `malformed_line`.
    pub kind: &'static str,
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
    pub record_count: u64,
    pub first_sequence: Option<u64>,
    pub last_sequence: Option<u64>,
    pub last_record_hash: Option<String>,
    pub errors: Vec<String>,
    pub error_count: usize,
    pub segments: Vec<String>,
    pub signatures_checked: bool,
    pub first_bad_record: Option<BadRecord>,
    pub diagnosis: Option<Diagnosis>,
    /// Leaves in the Merkle tree (records before the segment plus records read).
    pub tree_size: u64,
    /// base64 RFC 6962 root over all leaves (the value a checkpoint of this log would carry).
    pub merkle_root: String,
    pub checkpoints: Vec<CheckpointResult>,
    pub redacted_records: u64,
}

/// Verify one log file.
pub fn verify(path: &Path, options: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    verify_segments(&[path.to_path_buf()], options)
}

/// Verify consecutive segments (e.g. an archive segment then the pruned log) as one chain.
pub fn verify_segments(paths: &[PathBuf], options: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match File::open(path) {
            Ok(file) => files.push(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AuditError::MissingLog { path: path.clone() });
            }
            Err(e) => return Err(AuditError::Io { action: "opening audit log", path: path.clone(), source: e }),
        }
    }
    let mut state = State::new(paths, options);
    let (sender, receiver) = mpsc::sync_channel::<Result<Batch, AuditError>>(2);
    let reader_paths = paths.to_vec();
    let reader = std::thread::spawn(move || read_batches(files, reader_paths, sender));
    for batch in receiver {
        let batch = batch?;
        let data = &batch.data;
        let checked: Vec<Checked> =
            batch.lines.par_iter().map_init(Vec::new, |scratch, line| check_line(line, data, options, scratch)).collect();
        for item in checked {
            state.observe(item);
        }
    }
    if reader.join().is_err() {
        return Err(AuditError::Invalid { what: "audit log reader".into(), problem: "reader thread panicked".into() });
    }
    Ok(state.finish())
}

/// One line of a batch: its bytes are `data[start..end]` of the batch.
struct Line {
    segment: usize,
    number: u64,
    start: usize,
    end: usize,
    torn: bool,
    /// Longer than `MAX_LINE`: skipped unread, nothing of it is in the batch buffer.
    oversize: bool,
}

/// A run of lines sharing one buffer (no allocation per line).
struct Batch {
    data: Vec<u8>,
    lines: Vec<Line>,
}

impl Batch {
    fn new() -> Batch {
        Batch { data: Vec::with_capacity(BATCH_LINES * 1024), lines: Vec::with_capacity(BATCH_LINES) }
    }
}

fn read_batches(files: Vec<File>, paths: Vec<PathBuf>, sender: mpsc::SyncSender<Result<Batch, AuditError>>) {
    let mut batch = Batch::new();
    for (segment, file) in files.into_iter().enumerate() {
        let mut reader = BufReader::with_capacity(READ_BUFFER, file);
        let mut number = 0u64;
        loop {
            let start = batch.data.len();
            // Read at most MAX_LINE + 1 bytes of the line; more means it is oversize.
            match (&mut reader).take(MAX_LINE + 1).read_until(b'\n', &mut batch.data) {
                Ok(0) => break,
                Ok(_) => {}
                Err(source) => {
                    let _ = sender.send(Err(AuditError::Io { action: "reading audit log", path: paths[segment].clone(), source }));
                    return;
                }
            }
            number += 1;
            let mut torn = batch.data.last() != Some(&b'\n');
            let oversize = torn && (batch.data.len() - start) as u64 > MAX_LINE;
            if oversize {
                batch.data.truncate(start);
                match skip_line(&mut reader) {
                    Ok(ended) => torn = !ended,
                    Err(source) => {
                        let _ = sender.send(Err(AuditError::Io { action: "reading audit log", path: paths[segment].clone(), source }));
                        return;
                    }
                }
            }
            let end = if oversize { start } else if torn { batch.data.len() } else { batch.data.len() - 1 };
            // CAVRA skips blank lines.
            if !torn && !oversize && batch.data[start..end].iter().all(u8::is_ascii_whitespace) {
                batch.data.truncate(start);
                continue;
            }
            batch.lines.push(Line { segment, number, start, end, torn, oversize });
            if batch.lines.len() == BATCH_LINES || batch.data.len() >= BATCH_BYTES {
                let full = std::mem::replace(&mut batch, Batch::new());
                if sender.send(Ok(full)).is_err() {
                    return;
                }
            }
        }
    }
    if !batch.lines.is_empty() {
        let _ = sender.send(Ok(batch));
    }
}

/// Consume the rest of an oversize line without keeping it. `Ok(true)` when it ended with a
/// newline, `Ok(false)` at end of file (a torn line).
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<bool> {
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buffer.is_empty() {
            return Ok(false);
        }
        if let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            reader.consume(end + 1);
            return Ok(true);
        }
        let length = buffer.len();
        reader.consume(length);
    }
}

/// Everything about one record that does not depend on its neighbours. Field values are kept as
/// their canonical JSON text, so comparing texts is comparing values.
struct Summary {
    schema_ok: bool,
    schema_found: String,
    sequence: Option<u64>,
    sequence_found: String,
    /// Canonical text of `previous_hash` (`null` when absent, as Python's `.get` gives None).
    previous_hash: String,
    /// Canonical text of the stored `record_hash` (`null` when absent).
    record_hash: String,
    /// The stored `record_hash` when it is a string.
    record_hash_value: Option<String>,
    computed_hash: String,
    signature: SignatureOutcome,
    leaf: Hash,
    redacted: bool,
}

enum Checked {
    Record { segment: usize, line: u64, summary: Box<Summary> },
    Unreadable { segment: usize, line: u64, torn: bool, problem: String },
}

fn check_line(line: &Line, data: &[u8], options: &VerifyOptions, scratch: &mut Vec<u8>) -> Checked {
    let (segment, number, torn) = (line.segment, line.number, line.torn);
    let unreadable = |problem: String| Checked::Unreadable { segment, line: number, torn, problem };
    if line.oversize {
        return unreadable(format!("line is longer than {MAX_LINE} bytes; it was skipped unread (a record line this long is corrupt or hostile)"));
    }
    if torn {
        return unreadable("last line has no trailing newline (torn write: an append was interrupted)".into());
    }
    let text = match std::str::from_utf8(&data[line.start..line.end]) {
        Ok(text) => text.trim_end_matches('\r'),
        Err(e) => return unreadable(format!("not valid UTF-8 ({e})")),
    };
    // Fast path (same result, one pass, no tree) for HMAC or no signature check.
    let fast_eligible = !options.allow_redacted && matches!(options.signatures, SignatureCheck::None | SignatureCheck::Hmac { .. });
    if fast_eligible && let Some(record) = fast::canonical_record(text, scratch) {
        return Checked::Record { segment, line: number, summary: Box::new(summarise_fast(&record, options)) };
    }
    let fields = match canonical::parse_strict(text) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return unreadable("not a JSON object".into()),
        Err(e) => return unreadable(format!("not valid JSON ({e})")),
    };
    Checked::Record { segment, line: number, summary: Box::new(summarise(&fields, options)) }
}

fn leaf_of(record_hash_value: Option<&str>, computed_hash: &str) -> Hash {
    let decode = |text: &str| -> Option<Hash> { hex::decode(text).ok().and_then(|b| b.try_into().ok()) };
    let data = record_hash_value.and_then(decode).or_else(|| decode(computed_hash)).unwrap_or([0; 32]);
    merkle::leaf_hash(&data)
}

fn quoted_string(text: &str) -> Option<String> {
    // A canonical JSON string text without escapes is exactly `"` + value + `"`.
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then(|| inner.to_string())
}

fn summarise_fast(record: &fast::CanonicalRecord, options: &VerifyOptions) -> Summary {
    let computed_hash = hex::encode(Sha256::digest(&record.payload));
    let signature = match &options.signatures {
        SignatureCheck::Hmac { key, key_id } => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            let (prefix, inserted, suffix) = record.signed_parts(&computed_hash);
            mac.update(prefix);
            mac.update(inserted.as_bytes());
            mac.update(suffix);
            let value = BASE64.encode(mac.finalize().into_bytes());
            let expected = format!(
                "{{\"algorithm\":\"HS256\",\"key_id\":{},\"value\":\"{value}\"}}",
                canonical::compact(&Value::from(key_id.as_str()))
            );
            if record.signature.as_deref() == Some(expected.as_str()) {
                SignatureOutcome::Valid
            } else {
                SignatureOutcome::Mismatch { expected, found: record.signature.clone().unwrap_or_else(|| "no signature".into()) }
            }
        }
        _ => SignatureOutcome::NotChecked,
    };
    let record_hash_value = record.record_hash.as_deref().and_then(quoted_string);
    Summary {
        schema_ok: record.schema_version.as_deref() == Some(SCHEMA_TEXT),
        schema_found: record.schema_version.clone().unwrap_or_else(|| "missing".into()),
        sequence: record.sequence.as_deref().and_then(|t| t.parse::<u64>().ok()),
        sequence_found: record.sequence.clone().unwrap_or_else(|| "missing".into()),
        previous_hash: record.previous_hash.clone().unwrap_or_else(|| "null".into()),
        record_hash: record.record_hash.clone().unwrap_or_else(|| "null".into()),
        leaf: leaf_of(record_hash_value.as_deref(), &computed_hash),
        record_hash_value,
        computed_hash,
        signature,
        redacted: false,
    }
}

const SCHEMA_TEXT: &str = "\"cavra.audit-log.event.v1\"";

fn summarise(fields: &Map<String, Value>, options: &VerifyOptions) -> Summary {
    let schema = fields.get("schema_version");
    let sequence = fields.get("sequence");
    let canonical = Canonical::of(fields);
    let computed_hash = canonical.record_hash();
    let record_hash_value = fields.get("record_hash").and_then(Value::as_str).map(String::from);
    let redacted = options.allow_redacted && fields.values().any(contains_redaction);
    let signature = if redacted {
        SignatureOutcome::NotChecked
    } else {
        options.signatures.check(fields, &canonical.signed_payload(&computed_hash))
    };
    let text = |key: &str| fields.get(key).map_or_else(|| "null".to_string(), canonical::compact);
    Summary {
        schema_ok: schema.and_then(Value::as_str) == Some(EVENT_SCHEMA),
        schema_found: schema.map_or("missing".into(), canonical::compact),
        sequence: sequence.and_then(Value::as_u64),
        sequence_found: sequence.map_or("missing".into(), canonical::compact),
        previous_hash: text("previous_hash"),
        record_hash: text("record_hash"),
        leaf: leaf_of(record_hash_value.as_deref(), &computed_hash),
        record_hash_value,
        computed_hash,
        signature,
        redacted,
    }
}

/// `{"redacted": "sha256:<hex>"}` anywhere in a value (see `export::redact`).
fn contains_redaction(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            (map.len() == 1 && map.get("redacted").and_then(Value::as_str).is_some_and(|v| v.starts_with("sha256:")))
                || map.values().any(contains_redaction)
        }
        Value::Array(items) => items.iter().any(contains_redaction),
        _ => false,
    }
}

/// Pending classification of the first break that needs later records to decide.
enum Pending {
    None,
    /// Position `at` holds sequence `to` > `at`: deletion of at..to, unless one of them shows
    /// up later (reordering).
    Gap { at: u64, from: u64, to: u64 },
    /// Position `at` fails only its link: an inserted record (if the next record is numbered
    /// `at` and links to the record before), else a rewrite.
    Link { at: u64, before: String },
}

struct State<'a> {
    paths: Vec<String>,
    options: &'a VerifyOptions,
    position: u64,
    /// Canonical text of the previous record's record_hash (`null` before the first).
    previous: String,
    previous_readable: bool,
    frontier: merkle::Frontier,
    checkpoint_results: Vec<Option<CheckpointResult>>,
    errors: Vec<String>,
    error_count: usize,
    record_count: u64,
    first_sequence: Option<u64>,
    last_sequence: Option<u64>,
    last_record_hash: Option<String>,
    first_bad: Option<BadRecord>,
    diagnosis: Option<Diagnosis>,
    pending: Pending,
    redacted: u64,
}

impl<'a> State<'a> {
    fn new(paths: &[PathBuf], options: &'a VerifyOptions) -> State<'a> {
        let mut state = State {
            paths: paths.iter().map(|p| p.display().to_string()).collect(),
            options,
            position: options.start.first_sequence,
            previous: options.start.previous_hash.as_ref().map_or_else(|| "null".to_string(), |h| canonical::compact(&Value::from(h.as_str()))),
            previous_readable: true,
            frontier: options.start.frontier.clone(),
            checkpoint_results: vec![None; options.checkpoints.len()],
            errors: Vec::new(),
            error_count: 0,
            record_count: 0,
            first_sequence: None,
            last_sequence: None,
            last_record_hash: None,
            first_bad: None,
            diagnosis: None,
            pending: Pending::None,
            redacted: 0,
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

    fn bad(&mut self, segment: usize, line: u64, check: &'static str, expected: String, found: String) {
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

    fn diagnose(&mut self, kind: &'static str, record: u64, detail: String) {
        if self.diagnosis.is_none() {
            self.diagnosis = Some(Diagnosis { kind, record, detail });
        }
    }

    fn observe(&mut self, item: Checked) {
        match item {
            Checked::Unreadable { segment, line, torn, problem } => {
                let path = self.paths[segment].clone();
                self.error(format!("{path} line {line}: {problem}"));
                let check = if torn { "torn" } else { "json" };
                self.bad(segment, line, check, "a complete JSON record line".into(), problem.clone());
                self.settle_pending(None);
                let kind = if torn { "torn_write" } else { "malformed_line" };
                self.diagnose(kind, self.position, format!("{path} line {line}: {problem}"));
                if torn {
                    // A torn tail is not a record: nothing after it.
                    return;
                }
                self.previous_readable = false;
                self.previous = "null".into();
                self.position += 1;
            }
            Checked::Record { segment, line, summary } => self.observe_record(segment, line, *summary),
        }
    }

    fn observe_record(&mut self, segment: usize, line: u64, summary: Summary) {
        let i = self.position;
        let mut failed: Vec<&'static str> = Vec::new();
        if !summary.schema_ok {
            self.error(format!("record {i}: invalid schema_version"));
            self.bad(segment, line, "schema_version", EVENT_SCHEMA.into(), summary.schema_found.clone());
            failed.push("schema_version");
        }
        if summary.sequence != Some(i) {
            self.error(format!("record {i}: sequence mismatch"));
            self.bad(segment, line, "sequence", i.to_string(), summary.sequence_found.clone());
            failed.push("sequence");
        }
        // After an unreadable line the expected link is unknown; that line is already reported.
        if self.previous_readable && summary.previous_hash != self.previous {
            self.error(format!("record {i}: previous_hash mismatch"));
            self.bad(segment, line, "previous_hash", self.previous.clone(), summary.previous_hash.clone());
            failed.push("previous_hash");
        }
        if summary.redacted {
            self.redacted += 1;
        } else if summary.record_hash_value.as_deref() != Some(summary.computed_hash.as_str()) {
            self.error(format!("record {i}: record_hash mismatch"));
            self.bad(segment, line, "record_hash", format!("\"{}\"", summary.computed_hash), summary.record_hash.clone());
            failed.push("record_hash");
        }
        if let SignatureOutcome::Mismatch { expected, found } = &summary.signature {
            self.error(format!("record {i}: signature mismatch"));
            self.bad(segment, line, "signature", expected.clone(), found.clone());
            failed.push("signature");
        }

        self.settle_pending(Some(&summary));
        if !failed.is_empty() && self.diagnosis.is_none() && matches!(self.pending, Pending::None) {
            self.classify(i, &summary, &failed);
        }

        self.record_count += 1;
        if self.first_sequence.is_none() {
            self.first_sequence = summary.sequence;
        }
        self.last_sequence = summary.sequence;
        self.last_record_hash = summary.record_hash_value.clone();
        self.previous = summary.record_hash.clone();
        self.previous_readable = true;
        self.frontier.push(summary.leaf);
        self.position += 1;
        self.compare_checkpoints();
    }

    /// Decide a pending classification with the record just read (None = a non-record).
    fn settle_pending(&mut self, current: Option<&Summary>) {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => {}
            Pending::Gap { at, from, to } => {
                let seen = current.and_then(|s| s.sequence).is_some_and(|s| (from..to).contains(&s));
                if seen {
                    self.diagnose(
                        "reordering",
                        at,
                        format!("record {at} holds sequence {to} and sequence {} appears later: records are out of order", current.and_then(|s| s.sequence).unwrap_or(0)),
                    );
                } else {
                    self.pending = Pending::Gap { at, from, to };
                }
            }
            Pending::Link { at, before } => {
                let inserted = current.is_some_and(|s| s.sequence == Some(at) && s.previous_hash == before);
                if inserted {
                    self.diagnose("insertion", at, format!("record {at} was inserted: the next record is numbered {at} and links to record {}", at - 1));
                } else {
                    self.diagnose(
                        "mutation",
                        at,
                        format!("record {at} does not link to record {}: one of them was rewritten with a recomputed record_hash (a signature check tells which)", at - 1),
                    );
                }
            }
        }
    }

    fn classify(&mut self, i: u64, summary: &Summary, failed: &[&'static str]) {
        if failed.contains(&"record_hash") {
            self.diagnose("mutation", i, format!("record {i} was altered: its content no longer hashes to its record_hash"));
        } else if failed.contains(&"signature") && failed.len() == 1 {
            self.diagnose("mutation", i, format!("record {i} carries a signature that does not verify: it was rewritten or signed by an untrusted key"));
        } else if let Some(s) = summary.sequence.filter(|s| *s > i) {
            self.pending = Pending::Gap { at: i, from: i, to: s };
        } else if summary.sequence.is_some_and(|s| s < i) && self.previous == summary.record_hash {
            self.diagnose("duplication", i, format!("record {i} repeats record {} (same record_hash)", i - 1));
        } else if summary.sequence.is_some_and(|s| s < i) {
            self.diagnose("insertion", i - 1, format!("record {i} is numbered {} and does not link to record {}: a record was inserted before it", summary.sequence_found, i - 1));
        } else if failed == ["previous_hash"] {
            self.pending = Pending::Link { at: i, before: self.previous.clone() };
        } else {
            self.diagnose("mutation", i, format!("record {i} fails: {}", failed.join(", ")));
        }
    }

    /// Compare the tree so far with every checkpoint of exactly this size.
    fn compare_checkpoints(&mut self) {
        let size = self.frontier.size();
        let mut results = Vec::new();
        for (index, checkpoint) in self.options.checkpoints.iter().enumerate() {
            if checkpoint.size != size || self.checkpoint_results[index].is_some() {
                continue;
            }
            let root = self.frontier.root();
            let consistent = root == checkpoint.root;
            let message = if consistent {
                format!("the first {size} records match checkpoint {:?} at size {size}", checkpoint.origin)
            } else {
                format!(
                    "checkpoint {:?} at size {size}: root mismatch (expected {}, found {}): records 1..{size} were rewritten after the checkpoint",
                    checkpoint.origin,
                    BASE64.encode(checkpoint.root),
                    BASE64.encode(root)
                )
            };
            results.push((index, CheckpointResult { origin: checkpoint.origin.clone(), tree_size: size, consistent, message }));
        }
        for (index, result) in results {
            if !result.consistent {
                self.error(result.message.clone());
                self.diagnose("checkpoint_mismatch", size, result.message.clone());
            }
            self.checkpoint_results[index] = Some(result);
        }
    }

    fn finish(mut self) -> VerifyReport {
        if let Pending::Gap { at, from, to } = std::mem::replace(&mut self.pending, Pending::None) {
            let detail = if to - from == 1 {
                format!("record {from} was deleted (record {at} holds sequence {to})")
            } else {
                format!("records {from}..{} were deleted (record {at} holds sequence {to})", to - 1)
            };
            self.diagnose("deletion", at, detail);
        }
        self.settle_pending(None);
        let size = self.frontier.size();
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
                self.diagnose("truncation", size + 1, message.clone());
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
            record_count: self.record_count,
            first_sequence: self.first_sequence,
            last_sequence: self.last_sequence,
            last_record_hash: self.last_record_hash,
            errors: self.errors,
            error_count: self.error_count,
            segments: self.paths,
            signatures_checked: self.options.signatures.is_enabled(),
            first_bad_record: self.first_bad,
            diagnosis: self.diagnosis,
            tree_size: size,
            merkle_root: BASE64.encode(self.frontier.root()),
            checkpoints: self.checkpoint_results.into_iter().flatten().collect(),
            redacted_records: self.redacted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::{NewRecord, Signer};
    use std::io::Write;

    fn build(n: u32) -> (tempfile::TempDir, PathBuf, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let signer = Signer::Hmac { key: b"k".to_vec(), key_id: "kid".into() };
        for i in 1..=n {
            let new = NewRecord { event_type: "e".into(), actor: format!("a{i}"), action: "x".into(), target: "t".into(), decision: "allow".into(), created_at: Some("2026-07-04T00:00:01+00:00".into()), ..Default::default() };
            crate::audit::append(&path, &new, &signer).unwrap();
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().map(String::from).collect();
        (dir, path, lines)
    }

    fn rewrite(path: &Path, lines: &[String]) {
        let mut file = File::create(path).unwrap();
        for line in lines {
            writeln!(file, "{line}").unwrap();
        }
    }

    fn options() -> VerifyOptions {
        VerifyOptions { signatures: SignatureCheck::Hmac { key: b"k".to_vec(), key_id: "kid".into() }, ..Default::default() }
    }

    #[test]
    fn clean_log_verifies() {
        let (_dir, path, _) = build(9000);
        let report = verify(&path, &options()).unwrap();
        assert!(report.valid, "{:?}", report.errors);
        assert_eq!((report.record_count, report.first_sequence, report.last_sequence), (9000, Some(1), Some(9000)));
        assert_eq!(report.tree_size, 9000);
    }

    #[test]
    fn each_tamper_kind_is_diagnosed() {
        let (_dir, path, lines) = build(10);
        let cases: Vec<(&str, Vec<String>, u64)> = vec![
            ("mutation", { let mut l = lines.clone(); l[4] = l[4].replace("\"a5\"", "\"evil\""); l }, 5),
            ("deletion", { let mut l = lines.clone(); l.remove(4); l }, 5),
            ("reordering", { let mut l = lines.clone(); l.swap(4, 5); l }, 5),
            ("duplication", { let mut l = lines.clone(); l.insert(5, l[4].clone()); l }, 6),
        ];
        for (kind, tampered, record) in cases {
            rewrite(&path, &tampered);
            let report = verify(&path, &options()).unwrap();
            assert!(!report.valid, "{kind}");
            let diagnosis = report.diagnosis.unwrap();
            assert_eq!((diagnosis.kind, diagnosis.record), (kind, record), "{kind}: {}", diagnosis.detail);
        }
    }

    #[test]
    fn missing_log_is_an_error() {
        let error = verify(Path::new("/nonexistent/log.jsonl"), &VerifyOptions::default()).unwrap_err();
        assert!(matches!(error, AuditError::MissingLog { .. }));
    }
}
