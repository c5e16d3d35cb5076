//! Verifying an audit log: CAVRA's per-record checks in CAVRA's order (schema_version, sequence,
//! previous_hash, record_hash, signature), continuing past failures, plus what CAVRA lacks —
//! torn and malformed lines named by physical line, a diagnosis of the first break (mutation,
//! insertion, deletion, reordering, duplication, truncation), and Merkle checks against signed
//! checkpoints. The report counts what was checked (`signatures_checked`, `_failed`,
//! `_unchecked`, `fully_checked_records`), so no verdict implies a check that did not run, and a
//! failed signature never carries the expected value (no MAC oracle).
//!
//! The file is streamed: a reader thread cuts it into batches of lines, each batch's records are
//! parsed, hashed and signature-checked in parallel (each record is independent), and then the
//! links between records are checked in order. Memory stays constant whatever the log size.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AuditError;
use super::checkpoint::{Checkpoint, SegmentStart};
use super::fast;
use super::merkle::{self, Hash};
use super::record::{Canonical, EVENT_SCHEMA, SignatureCheck, SignatureOutcome};
use crate::canonical;

pub const VERIFICATION_SCHEMA: &str = "cavra.audit-log.verification.v1";
/// Lines per parallel batch.
const BATCH_LINES: usize = 8192;
/// A record line longer than this is reported as malformed and skipped without being buffered
/// (the same bound `append` uses for the tail line): a hostile multi-gigabyte line must not be
/// read into memory whole.
pub(crate) const MAX_LINE: u64 = 64 * 1024 * 1024;
/// Bytes of line data per parallel batch, besides the line count bound: a batch of long lines
/// must not hold BATCH_LINES × MAX_LINE bytes at once.
const BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Error strings kept in the report (the count is always exact).
const MAX_ERRORS: usize = 10_000;
/// Bytes read from the log at a time.
const READ_CHUNK: usize = 1024 * 1024;

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
}

/// The record where verification first failed, with what was expected and what was found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadRecord {
    /// 1-based record index (the sequence it should have).
    pub record: u64,
    pub path: String,
    /// Physical line number in `path`.
    pub line: u64,
    /// `schema_version`, `sequence`, `previous_hash`, `record_hash`, `signature`,
    /// `redaction_signature`, `json`, `torn`.
    pub check: &'static str,
    pub expected: String,
    pub found: String,
}

/// What kind of tampering the first break looks like, and where.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diagnosis {
    /// `mutation`, `insertion`, `deletion`, `reordering`, `duplication`, `truncation`,
    /// `checkpoint_mismatch`, `torn_write`, `malformed_line`, `key_mismatch` (every signed record
    /// fails its signature and nothing else fails: wrong key or key id).
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
    /// Leaves in the Merkle tree (records before the segment plus records read).
    pub tree_size: u64,
    /// base64 RFC 6962 root over all leaves (the value a checkpoint of this log would carry).
    pub merkle_root: String,
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
pub fn verify_segments(
    paths: &[PathBuf],
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match File::open(path) {
            Ok(file) => files.push(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AuditError::MissingLog { path: path.clone() });
            }
            Err(e) => {
                return Err(AuditError::Io {
                    action: "opening audit log",
                    path: path.clone(),
                    source: e,
                });
            }
        }
    }
    let mut state = State::new(paths, options);
    let fast_check = FastCheck::new(options);
    let (sender, receiver) = mpsc::sync_channel::<Result<Batch, AuditError>>(1);
    // Spent batches go back to the reader, so their buffers are reused rather than reallocated.
    let (recycle, recycled) = mpsc::channel::<Batch>();
    let reader_paths = paths.to_vec();
    let reader =
        std::thread::spawn(move || read_batches(files, reader_paths, LIMITS, sender, recycled));
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
            for item in previous.drain(..) {
                state.observe(item);
            }
        };
        rayon::join(check, walk);
        std::mem::swap(&mut previous, &mut current);
        let _ = recycle.send(batch);
    }
    for item in previous.drain(..) {
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
        Batch {
            data: Vec::with_capacity(READ_CHUNK * 2),
            lines: Vec::with_capacity(BATCH_LINES),
        }
    }
}

/// How the reader cuts the file (constants in production; small in tests).
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_line: usize,
    batch_lines: usize,
    batch_bytes: usize,
    /// Bytes read from the file at a time, straight into the batch buffer.
    chunk: usize,
}

const LIMITS: Limits = Limits {
    max_line: MAX_LINE as usize,
    batch_lines: BATCH_LINES,
    batch_bytes: BATCH_BYTES,
    chunk: READ_CHUNK,
};

/// Read the segments in large chunks straight into batch buffers and cut them into lines where
/// they lie (no per-line copy). A line that has not ended by the time a batch is full moves to
/// the next batch; a line longer than `max_line` is dropped as soon as it is seen to be, and the
/// rest of it is skipped unread, so memory stays bounded by `batch_bytes + max_line + chunk`.
fn read_batches(
    files: Vec<File>,
    paths: Vec<PathBuf>,
    limits: Limits,
    sender: mpsc::SyncSender<Result<Batch, AuditError>>,
    recycled: mpsc::Receiver<Batch>,
) {
    let fresh = || match recycled.try_recv() {
        Ok(mut batch) => {
            batch.data.clear();
            batch.lines.clear();
            batch
        }
        Err(_) => Batch::new(),
    };
    let mut batch = fresh();
    for (segment, mut file) in files.into_iter().enumerate() {
        let fail = |source: std::io::Error| AuditError::Io {
            action: "reading audit log",
            path: paths[segment].clone(),
            source,
        };
        let mut number = 0u64;
        // Start of the line being read, and how far it has been searched for a newline.
        let mut line_start = batch.data.len();
        let mut scanned = line_start;
        // Inside an oversize line whose bytes are being discarded.
        let mut skipping = false;
        loop {
            let read = match (&mut file)
                .take(limits.chunk as u64)
                .read_to_end(&mut batch.data)
            {
                Ok(read) => read,
                Err(source) => {
                    let _ = sender.send(Err(fail(source)));
                    return;
                }
            };
            if read == 0 {
                break;
            }
            while let Some(offset) = memchr::memchr(b'\n', &batch.data[scanned..]) {
                let end = scanned + offset;
                scanned = end + 1;
                number += 1;
                if skipping {
                    // The newline that ends an oversize line: drop what was read of it.
                    skipping = false;
                    batch.data.drain(line_start..scanned);
                    scanned = line_start;
                    batch.lines.push(Line {
                        segment,
                        number,
                        start: line_start,
                        end: line_start,
                        torn: false,
                        oversize: true,
                    });
                } else if end - line_start > limits.max_line {
                    batch.data.drain(line_start..scanned);
                    scanned = line_start;
                    batch.lines.push(Line {
                        segment,
                        number,
                        start: line_start,
                        end: line_start,
                        torn: false,
                        oversize: true,
                    });
                } else if batch.data[line_start..end]
                    .iter()
                    .all(u8::is_ascii_whitespace)
                {
                    // CAVRA skips blank lines.
                } else {
                    batch.lines.push(Line {
                        segment,
                        number,
                        start: line_start,
                        end,
                        torn: false,
                        oversize: false,
                    });
                }
                line_start = scanned;
                if batch.lines.len() >= limits.batch_lines || line_start >= limits.batch_bytes {
                    // Hand over the complete lines; the unfinished one moves to the next batch.
                    let mut next = fresh();
                    next.data.extend_from_slice(&batch.data[line_start..]);
                    batch.data.truncate(line_start);
                    if sender
                        .send(Ok(std::mem::replace(&mut batch, next)))
                        .is_err()
                    {
                        return;
                    }
                    line_start = 0;
                    scanned = 0;
                }
            }
            scanned = batch.data.len();
            if skipping || batch.data.len() - line_start > limits.max_line {
                // Keep nothing of an oversize line; remember to skip to its end.
                skipping = true;
                batch.data.truncate(line_start);
                scanned = line_start;
            }
        }
        if skipping || batch.data.len() > line_start {
            // The file ends inside a line: a torn write (oversize or not).
            number += 1;
            let oversize = skipping;
            let end = if oversize {
                line_start
            } else {
                batch.data.len()
            };
            batch.lines.push(Line {
                segment,
                number,
                start: line_start,
                end,
                torn: true,
                oversize,
            });
        }
    }
    if !batch.lines.is_empty() {
        let _ = sender.send(Ok(batch));
    }
}

/// A top-level field's canonical JSON text, with the common case — a string of 64 lowercase hex
/// digits — held as its 32 bytes. Two texts are equal exactly when the values are, in either form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FieldText {
    /// Absent or `null` (Python's `.get` gives None for both).
    Null,
    Digest(Hash),
    Text(String),
}

/// Lowercase hex digit values; 0x10 marks every other byte.
const LOWER_HEX: [u8; 256] = {
    let mut table = [0x10u8; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

impl FieldText {
    fn from_canonical(text: &[u8]) -> FieldText {
        if text == b"null" {
            return FieldText::Null;
        }
        if text.len() == 66 && text[0] == b'"' && text[65] == b'"' {
            let mut digest = [0u8; 32];
            let mut bad = 0u8;
            for (byte, pair) in digest.iter_mut().zip(text[1..65].chunks_exact(2)) {
                let (high, low) = (
                    LOWER_HEX[usize::from(pair[0])],
                    LOWER_HEX[usize::from(pair[1])],
                );
                bad |= (high | low) & 0x10;
                *byte = (high << 4) | (low & 0x0f);
            }
            if bad == 0 {
                return FieldText::Digest(digest);
            }
        }
        FieldText::Text(String::from_utf8_lossy(text).into_owned())
    }

    /// The canonical JSON text.
    fn text(&self) -> String {
        match self {
            FieldText::Null => "null".into(),
            FieldText::Digest(digest) => format!("\"{}\"", hex::encode(digest)),
            FieldText::Text(text) => text.clone(),
        }
    }

    fn digest(&self) -> Option<&Hash> {
        match self {
            FieldText::Digest(digest) => Some(digest),
            _ => None,
        }
    }

    /// The value when it is a JSON string.
    fn string_value(&self) -> Option<String> {
        match self {
            FieldText::Null => None,
            FieldText::Digest(digest) => Some(hex::encode(digest)),
            FieldText::Text(text) => serde_json::from_str::<String>(text).ok(),
        }
    }
}

/// Everything about one record that does not depend on its neighbours. Field values are kept as
/// their canonical JSON text, so comparing texts is comparing values; strings describing a
/// failure are only built when there is one.
struct Summary {
    schema_ok: bool,
    /// Canonical text of `schema_version` when it is wrong (`missing` when absent).
    schema_found: String,
    sequence: Option<u64>,
    /// Canonical text of `sequence` when it is not an unsigned integer (`missing` when absent).
    sequence_other: String,
    previous_hash: FieldText,
    /// The stored `record_hash`.
    record_hash: FieldText,
    computed_hash: Hash,
    signature: SignatureOutcome,
    /// The record carries a (non-null) `signature`.
    signed: bool,
    /// The `signature.key_id` the record names, read only when its signature failed.
    failed_key_id: Option<String>,
    leaf: Hash,
    redacted: bool,
}

impl Summary {
    fn sequence_found(&self) -> String {
        self.sequence
            .map_or_else(|| self.sequence_other.clone(), |n| n.to_string())
    }
}

// `Record` is the common variant and is built once per record in the verify hot path; boxing its
// summary to shrink `Unreadable` would allocate for every record instead.
#[allow(clippy::large_enum_variant)]
enum Checked {
    Record {
        segment: usize,
        line: u64,
        summary: Summary,
    },
    Unreadable {
        segment: usize,
        line: u64,
        torn: bool,
        problem: String,
    },
}

/// What the fast path needs that is the same for every record: the HMAC keyed once, and the
/// expected signature object's text around its value.
struct FastCheck {
    hmac: Option<(Hmac<Sha256>, Vec<u8>, String)>,
}

impl FastCheck {
    /// `None` when the fast path does not apply (Ed25519 or redacted exports take the tree path).
    fn new(options: &VerifyOptions) -> Option<FastCheck> {
        if options.allow_redacted {
            return None;
        }
        match &options.signatures {
            SignatureCheck::None => Some(FastCheck { hmac: None }),
            SignatureCheck::Hmac { key, key_id } => {
                let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                let prefix = format!(
                    "{{\"algorithm\":\"HS256\",\"key_id\":{},\"value\":\"",
                    canonical::compact(&Value::from(key_id.as_str()))
                );
                Some(FastCheck {
                    hmac: Some((mac, prefix.into_bytes(), key_id.clone())),
                })
            }
            SignatureCheck::Ed25519 { .. } => None,
        }
    }
}

fn check_line(
    line: &Line,
    data: &[u8],
    options: &VerifyOptions,
    fast_check: Option<&FastCheck>,
    scratch: &mut fast::Scratch,
) -> Checked {
    let (segment, number, torn) = (line.segment, line.number, line.torn);
    let unreadable = |problem: String| Checked::Unreadable {
        segment,
        line: number,
        torn,
        problem,
    };
    if line.oversize {
        return unreadable(format!(
            "line is longer than {MAX_LINE} bytes; it was skipped unread (a record line this long is corrupt or hostile)"
        ));
    }
    if torn {
        return unreadable(
            "last line has no trailing newline (torn write: an append was interrupted)".into(),
        );
    }
    let mut bytes = &data[line.start..line.end];
    while let [rest @ .., b'\r'] = bytes {
        bytes = rest;
    }
    // Fast path (same result, one pass, no tree) for HMAC or no signature check; it validates
    // UTF-8 as it goes and declines anything else.
    if let Some(fast_check) = fast_check
        && let Some(record) = fast::canonical_record(bytes, scratch)
    {
        return Checked::Record {
            segment,
            line: number,
            summary: summarise_fast(&record, fast_check),
        };
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => return unreadable(format!("not valid UTF-8 ({e})")),
    };
    let fields = match canonical::parse_strict(text) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return unreadable("not a JSON object".into()),
        Err(e) => return unreadable(format!("not valid JSON ({e})")),
    };
    Checked::Record {
        segment,
        line: number,
        summary: summarise(&fields, options),
    }
}

/// The Merkle leaf: over the stored record_hash's bytes when it is a hex digest, else over the
/// computed one.
fn leaf_of(record_hash: &FieldText, computed_hash: &Hash) -> Hash {
    let stored = match record_hash {
        FieldText::Digest(digest) => Some(*digest),
        FieldText::Text(_) => record_hash
            .string_value()
            .and_then(|text| hex::decode(text).ok())
            .and_then(|b| b.try_into().ok()),
        FieldText::Null => None,
    };
    merkle::leaf_hash(&stored.unwrap_or(*computed_hash))
}

fn summarise_fast(record: &fast::CanonicalRecord<'_>, fast_check: &FastCheck) -> Summary {
    let computed_hash: Hash = Sha256::digest(record.payload).into();
    let signature = match &fast_check.hmac {
        Some((keyed, prefix, key_id)) => {
            let mut hex_hash = [0u8; 64];
            hex::encode_to_slice(computed_hash, &mut hex_hash)
                .unwrap_or_else(|_| unreachable!("64 hex digits for 32 bytes"));
            let mut mac = keyed.clone();
            record.signed_payload(&hex_hash, |piece| mac.update(piece));
            let mut value = [0u8; 44];
            let length = BASE64
                .encode_slice(mac.finalize().into_bytes(), &mut value)
                .unwrap_or_else(|_| unreachable!("44 base64 characters for 32 bytes"));
            let value = &value[..length];
            let matches = record.signature.is_some_and(|found| {
                found.len() == prefix.len() + value.len() + 2
                    && found.starts_with(prefix)
                    && &found[prefix.len()..prefix.len() + value.len()] == value
                    && found.ends_with(b"\"}")
            });
            if matches {
                SignatureOutcome::Valid
            } else {
                // Never the expected value: it would be a MAC oracle (issue #15 item 11).
                let found: Option<Value> = record
                    .signature
                    .and_then(|s| serde_json::from_slice(s).ok());
                SignatureOutcome::Mismatch {
                    expected: super::record::hmac_expectation(key_id, found.as_ref()),
                    found: record.signature.map_or_else(
                        || "no signature".into(),
                        |s| String::from_utf8_lossy(s).into_owned(),
                    ),
                }
            }
        }
        None => SignatureOutcome::NotChecked,
    };
    let signed = record.signature.is_some_and(|s| s != b"null");
    let failed_key_id = match &signature {
        SignatureOutcome::Mismatch { .. } => record
            .signature
            .and_then(|s| serde_json::from_slice::<Value>(s).ok())
            .and_then(|v| v.get("key_id").and_then(Value::as_str).map(str::to_owned)),
        _ => None,
    };
    let schema_ok = record.schema_version == Some(SCHEMA_TEXT.as_bytes());
    let sequence = record
        .sequence
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(sequence_number);
    let record_hash = record
        .record_hash
        .map_or(FieldText::Null, FieldText::from_canonical);
    Summary {
        schema_ok,
        schema_found: if schema_ok {
            String::new()
        } else {
            record.schema_version.map_or_else(
                || "missing".into(),
                |t| String::from_utf8_lossy(t).into_owned(),
            )
        },
        sequence,
        sequence_other: if sequence.is_some() {
            String::new()
        } else {
            record.sequence.map_or_else(
                || "missing".into(),
                |t| String::from_utf8_lossy(t).into_owned(),
            )
        },
        previous_hash: record
            .previous_hash
            .map_or(FieldText::Null, FieldText::from_canonical),
        leaf: leaf_of(&record_hash, &computed_hash),
        record_hash,
        computed_hash,
        signature,
        signed,
        failed_key_id,
        redacted: false,
    }
}

const SCHEMA_TEXT: &str = "\"cavra.audit-log.event.v1\"";

/// The record number a canonical `sequence` text stands for. CAVRA compares `sequence != i` in
/// Python, where `3.0 == 3`: an integral float is accepted as that integer, as CAVRA accepts it
/// (README "cavra-compat notes"). Python's `True == 1` is not followed: a boolean is not a
/// sequence number.
fn sequence_number(text: &str) -> Option<u64> {
    if !canonical::is_float_text(text) {
        return text.parse::<u64>().ok();
    }
    let value: f64 = text.parse().ok()?;
    // Only integers a double holds exactly (below 2^53), so no two sequences read alike.
    (value.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&value))
        .then_some(value as u64)
}

fn summarise(fields: &Map<String, Value>, options: &VerifyOptions) -> Summary {
    let schema = fields.get("schema_version");
    let sequence = fields.get("sequence");
    let canonical = Canonical::of(fields);
    let computed_text = canonical.record_hash();
    let mut computed_hash = [0u8; 32];
    hex::decode_to_slice(&computed_text, &mut computed_hash)
        .unwrap_or_else(|_| unreachable!("record_hash() is 64 hex digits"));
    let redacted = options.allow_redacted && fields.values().any(contains_redaction);
    let signature = if redacted {
        check_redaction_signature(fields, &options.signatures)
    } else {
        options
            .signatures
            .check(fields, &canonical.signed_payload(&computed_text))
    };
    let signed = fields.get("signature").is_some_and(|v| !v.is_null())
        || fields.contains_key(REDACTION_SIGNATURE);
    let failed_key_id = match &signature {
        SignatureOutcome::Mismatch { .. } => fields
            .get(if redacted {
                REDACTION_SIGNATURE
            } else {
                "signature"
            })
            .and_then(|v| v.get("key_id"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    };
    let text = |key: &str| {
        fields.get(key).map_or(FieldText::Null, |value| {
            FieldText::from_canonical(canonical::compact(value).as_bytes())
        })
    };
    let record_hash = text("record_hash");
    Summary {
        schema_ok: schema.and_then(Value::as_str) == Some(EVENT_SCHEMA),
        schema_found: schema.map_or("missing".into(), canonical::compact),
        sequence: sequence
            .filter(|value| value.is_number())
            .and_then(|value| sequence_number(&canonical::compact(value))),
        sequence_other: sequence.map_or("missing".into(), canonical::compact),
        previous_hash: text("previous_hash"),
        leaf: leaf_of(&record_hash, &computed_hash),
        record_hash,
        computed_hash,
        signature,
        signed,
        failed_key_id,
        redacted,
    }
}

const NO_REDACTION_SIGNATURE: &str = "no redaction_signature";

/// The field an export adds to a redacted record (see `export::export`).
pub const REDACTION_SIGNATURE: &str = super::export::REDACTION_SIGNATURE;

/// A redacted record's `record_hash` and `signature` cannot be recomputed, so what binds its
/// unredacted fields is the `redaction_signature` the export added: the same algorithm and key
/// over the compact canonical JSON of the redacted record without `signature` and
/// `redaction_signature`. No key: not checked. A key but no (or a failing) redaction signature:
/// a mismatch — an edited decision, target or metadata next to a redaction must not verify.
fn check_redaction_signature(
    fields: &Map<String, Value>,
    signatures: &super::record::SignatureCheck,
) -> SignatureOutcome {
    if !signatures.is_enabled() {
        return SignatureOutcome::NotChecked;
    }
    let Some(binding) = fields.get(REDACTION_SIGNATURE) else {
        return SignatureOutcome::Mismatch {
            expected: "a redaction_signature binding the unredacted fields of this redacted record (export it with the log's key: `audit export --redact … --key-file …`)".into(),
            found: NO_REDACTION_SIGNATURE.into(),
        };
    };
    let payload = super::export::redaction_payload(fields);
    let mut view = fields.clone();
    view.insert("signature".into(), binding.clone());
    match signatures.check(&view, &payload) {
        SignatureOutcome::Mismatch { expected, found } => SignatureOutcome::Mismatch {
            expected: format!("redaction_signature: {expected}"),
            found,
        },
        other => other,
    }
}

/// `{"redacted": "sha256:<hex>"}` anywhere in a value (see `export::redact`).
fn contains_redaction(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            (map.len() == 1
                && map
                    .get("redacted")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.starts_with("sha256:")))
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

struct State<'a> {
    paths: Vec<String>,
    options: &'a VerifyOptions,
    position: u64,
    /// The previous record's record_hash (null before the first).
    previous: FieldText,
    previous_readable: bool,
    frontier: merkle::Frontier,
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
}

impl<'a> State<'a> {
    fn new(paths: &[PathBuf], options: &'a VerifyOptions) -> State<'a> {
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

    fn bad(
        &mut self,
        segment: usize,
        line: u64,
        check: &'static str,
        expected: String,
        found: String,
    ) {
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
            self.diagnosis = Some(Diagnosis {
                kind,
                record,
                detail,
            });
        }
    }

    fn observe(&mut self, item: Checked) {
        match item {
            Checked::Unreadable {
                segment,
                line,
                torn,
                problem,
            } => {
                let path = self.paths[segment].clone();
                self.error(format!("{path} line {line}: {problem}"));
                let check = if torn { "torn" } else { "json" };
                self.bad(
                    segment,
                    line,
                    check,
                    "a complete JSON record line".into(),
                    problem.clone(),
                );
                self.settle_pending(None);
                let kind = if torn { "torn_write" } else { "malformed_line" };
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
                summary,
            } => self.observe_record(segment, line, summary),
        }
    }

    fn observe_record(&mut self, segment: usize, line: u64, summary: Summary) {
        let i = self.position;
        let mut failed: Vec<&'static str> = Vec::new();
        if !summary.schema_ok {
            self.error(format!("record {i}: invalid schema_version"));
            self.bad(
                segment,
                line,
                "schema_version",
                EVENT_SCHEMA.into(),
                summary.schema_found.clone(),
            );
            failed.push("schema_version");
        }
        if summary.sequence != Some(i) {
            self.error(format!("record {i}: sequence mismatch"));
            self.bad(
                segment,
                line,
                "sequence",
                i.to_string(),
                summary.sequence_found(),
            );
            failed.push("sequence");
        }
        // After an unreadable line the expected link is unknown; that line is already reported.
        if self.previous_readable && summary.previous_hash != self.previous {
            self.error(format!("record {i}: previous_hash mismatch"));
            self.bad(
                segment,
                line,
                "previous_hash",
                self.previous.text(),
                summary.previous_hash.text(),
            );
            failed.push("previous_hash");
        }
        if summary.redacted {
            self.redacted += 1;
        } else if summary.record_hash.digest() != Some(&summary.computed_hash) {
            self.error(format!("record {i}: record_hash mismatch"));
            self.bad(
                segment,
                line,
                "record_hash",
                format!("\"{}\"", hex::encode(summary.computed_hash)),
                summary.record_hash.text(),
            );
            failed.push("record_hash");
        }
        if let SignatureOutcome::Mismatch { expected, found } = &summary.signature {
            let what = if summary.redacted {
                "redaction_signature"
            } else {
                "signature"
            };
            self.error(format!("record {i}: {what} mismatch"));
            self.bad(segment, line, what, expected.clone(), found.clone());
            failed.push("signature");
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

        self.settle_pending(Some(&summary));
        if !failed.is_empty() && self.diagnosis.is_none() && matches!(self.pending, Pending::None) {
            self.classify(i, &summary, &failed);
        }

        self.record_count += 1;
        if self.first_sequence.is_none() {
            self.first_sequence = summary.sequence;
        }
        self.last_sequence = summary.sequence;
        self.last_record_hash = summary.record_hash.clone();
        self.previous = summary.record_hash;
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
                let seen = current
                    .and_then(|s| s.sequence)
                    .is_some_and(|s| (from..to).contains(&s));
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
                let inserted =
                    current.is_some_and(|s| s.sequence == Some(at) && s.previous_hash == before);
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
            self.diagnose(
                "mutation",
                i,
                format!("record {i} was altered: its content no longer hashes to its record_hash"),
            );
        } else if failed.contains(&"signature") && failed.len() == 1 {
            self.diagnose("mutation", i, format!("record {i} carries a signature that does not verify: it was rewritten or signed by an untrusted key"));
        } else if let Some(s) = summary.sequence.filter(|s| *s > i) {
            self.pending = Pending::Gap {
                at: i,
                from: i,
                to: s,
            };
        } else if summary.sequence.is_some_and(|s| s < i) && self.previous == summary.record_hash {
            self.diagnose(
                "duplication",
                i,
                format!("record {i} repeats record {} (same record_hash)", i - 1),
            );
        } else if summary.sequence.is_some_and(|s| s < i) {
            self.diagnose("insertion", i - 1, format!("record {i} is numbered {} and does not link to record {}: a record was inserted before it", summary.sequence_found(), i - 1));
        } else if failed == ["previous_hash"] {
            self.pending = Pending::Link {
                at: i,
                before: self.previous.clone(),
            };
        } else {
            self.diagnose(
                "mutation",
                i,
                format!("record {i} fails: {}", failed.join(", ")),
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
            super::record::SignatureCheck::Hmac { key_id, .. } => {
                format!("given HMAC key id {key_id:?}")
            }
            super::record::SignatureCheck::Ed25519 { trust } => format!(
                "given trust roots {}",
                trust
                    .roots()
                    .iter()
                    .map(|root| format!("{:?}", root.key_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            super::record::SignatureCheck::None => "given no key".into(),
        };
        self.diagnosis = Some(Diagnosis {
            kind: "key_mismatch",
            record: first,
            detail: format!(
                "every one of the {} signed record(s) fails its signature check while every hash, link and sequence verifies: wrong key or key id ({found}, {given}); if the key is right, every signature was replaced",
                self.signatures_failed
            ),
        });
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
                format!(
                    "the first {size} records match checkpoint {:?} at size {size}",
                    checkpoint.origin
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
                CheckpointResult {
                    origin: checkpoint.origin.clone(),
                    tree_size: size,
                    consistent,
                    message,
                },
            ));
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
                format!(
                    "records {from}..{} were deleted (record {at} holds sequence {to})",
                    to - 1
                )
            };
            self.diagnose("deletion", at, detail);
        }
        self.settle_pending(None);
        self.diagnose_key_mismatch();
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
            merkle_root: BASE64.encode(self.frontier.root()),
            checkpoints: self.checkpoint_results.into_iter().flatten().collect(),
            redacted_records: self.redacted,
            redacted_bound: self.redacted_bound,
            redacted_unverified: self.redacted_unverified,
            fully_checked_records: self.fully_checked,
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
            crate::audit::append(&path, &new, &signer).unwrap();
        }
        let lines = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        (dir, path, lines)
    }

    fn rewrite(path: &Path, lines: &[String]) {
        let mut file = File::create(path).unwrap();
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
                (diagnosis.kind, diagnosis.record),
                (kind, record),
                "{kind}: {}",
                diagnosis.detail
            );
        }
    }

    /// What the reader should produce, from a naive split: (segment, line number, text or None
    /// when oversize, torn).
    fn expected_lines(
        segments: &[&[u8]],
        max_line: usize,
    ) -> Vec<(usize, u64, Option<Vec<u8>>, bool)> {
        let mut out = Vec::new();
        for (segment, bytes) in segments.iter().enumerate() {
            let mut pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            let tail = pieces.pop().unwrap_or_default();
            for (index, piece) in pieces.iter().enumerate() {
                if piece.len() > max_line {
                    out.push((segment, index as u64 + 1, None, false));
                } else if !piece.iter().all(u8::is_ascii_whitespace) {
                    out.push((segment, index as u64 + 1, Some(piece.to_vec()), false));
                }
            }
            if !tail.is_empty() {
                let oversize = tail.len() > max_line;
                out.push((
                    segment,
                    pieces.len() as u64 + 1,
                    (!oversize).then(|| tail.to_vec()),
                    true,
                ));
            }
        }
        out
    }

    fn read_all(segments: &[&[u8]], limits: Limits) -> Vec<(usize, u64, Option<Vec<u8>>, bool)> {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let mut paths = Vec::new();
        for (index, bytes) in segments.iter().enumerate() {
            let path = dir.path().join(format!("{index}.jsonl"));
            std::fs::write(&path, bytes).unwrap();
            files.push(File::open(&path).unwrap());
            paths.push(path);
        }
        let (sender, receiver) = mpsc::sync_channel(2);
        let (recycle, recycled) = mpsc::channel();
        let reader =
            std::thread::spawn(move || read_batches(files, paths, limits, sender, recycled));
        let mut out = Vec::new();
        for batch in receiver {
            let batch = batch.unwrap();
            assert!(
                batch.data.len() <= limits.batch_bytes + limits.max_line + limits.chunk,
                "batch buffer bound"
            );
            for line in &batch.lines {
                let text = (!line.oversize).then(|| batch.data[line.start..line.end].to_vec());
                out.push((line.segment, line.number, text, line.torn));
            }
            let _ = recycle.send(batch);
        }
        reader.join().unwrap();
        out
    }

    #[test]
    fn reader_cuts_lines_like_a_naive_split() {
        let long = "x".repeat(40);
        let cases: Vec<Vec<Vec<u8>>> = vec![
            vec![b"a\nbb\n\n  \nccc\n".to_vec()],
            vec![b"a\nbb".to_vec()],
            vec![format!("a\n{long}\nb\n").into_bytes()],
            vec![format!("a\n{long}").into_bytes()],
            vec![
                format!("{long}{long}\n{long}\nz\r\n").into_bytes(),
                b"q\n\nr".to_vec(),
                b"".to_vec(),
                b"s\n".to_vec(),
            ],
            vec![b"\n\n\n".to_vec(), b"   ".to_vec()],
        ];
        let mut rng: u64 = 7;
        let mut generated = Vec::new();
        for _ in 0..40 {
            let mut bytes = Vec::new();
            for _ in 0..60 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                match rng % 5 {
                    0 => bytes.push(b'\n'),
                    1 => bytes.extend_from_slice(&b"y".repeat((rng >> 8) as usize % 50)),
                    2 => bytes.push(b' '),
                    _ => bytes.extend_from_slice(b"{\"k\": 1}\n"),
                }
            }
            generated.push(vec![bytes]);
        }
        for segments in cases.iter().chain(&generated) {
            let slices: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
            for (max_line, batch_lines, batch_bytes, chunk) in [
                (30, 2, 16, 1),
                (30, 3, 64, 7),
                (30, 1000, 1000, 4096),
                (1000, 1, 1, 3),
            ] {
                let limits = Limits {
                    max_line,
                    batch_lines,
                    batch_bytes,
                    chunk,
                };
                assert_eq!(
                    read_all(&slices, limits),
                    expected_lines(&slices, max_line),
                    "{limits:?} on {segments:?}"
                );
            }
        }
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
