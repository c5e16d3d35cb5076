//! Checking one record line on its own (everything that does not depend on its neighbours):
//! parse it — through the one-pass fast path when it applies, else the JSON tree — recompute its
//! record_hash, check its signature (or a redacted record's `redaction_signature`), and keep a
//! [`Summary`] of canonical field texts for the chain walk in [`super::chain`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::VerifyOptions;
use super::fast;
use super::hexdigits;
use super::reader::{Line, MAX_LINE, MAX_TOKENS, too_many_tokens};
use crate::audit::merkle::{self, Hash};
use crate::audit::record::{Canonical, EVENT_SCHEMA, SignatureCheck, SignatureOutcome};
use crate::canonical;

/// A top-level field's canonical JSON text, with the common case — a string of 64 lowercase hex
/// digits — held as its 32 bytes. Two texts are equal exactly when the values are, in either form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FieldText {
    /// Absent or `null` (Python's `.get` gives None for both).
    Null,
    Digest(Hash),
    Text(String),
}

impl FieldText {
    pub(super) fn from_canonical(text: &[u8]) -> FieldText {
        if text == b"null" {
            return FieldText::Null;
        }
        if let [b'"', hex @ .., b'"'] = text
            && let Some(digest) = hexdigits::decode_digest(hex)
        {
            return FieldText::Digest(digest);
        }
        FieldText::Text(String::from_utf8_lossy(text).into_owned())
    }

    /// The canonical JSON text.
    pub(super) fn text(&self) -> String {
        match self {
            FieldText::Null => "null".into(),
            FieldText::Digest(digest) => format!("\"{}\"", hex::encode(digest)),
            FieldText::Text(text) => text.clone(),
        }
    }

    pub(super) fn digest(&self) -> Option<&Hash> {
        match self {
            FieldText::Digest(digest) => Some(digest),
            _ => None,
        }
    }

    /// The value when it is a JSON string.
    pub(super) fn string_value(&self) -> Option<String> {
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
pub(super) struct Summary {
    pub(super) schema_ok: bool,
    /// Canonical text of `schema_version` when it is wrong (`missing` when absent).
    pub(super) schema_found: String,
    pub(super) sequence: Option<u64>,
    /// Canonical text of `sequence` when it is not an unsigned integer (`missing` when absent).
    pub(super) sequence_other: String,
    pub(super) previous_hash: FieldText,
    /// The stored `record_hash`.
    pub(super) record_hash: FieldText,
    pub(super) computed_hash: Hash,
    pub(super) signature: SignatureOutcome,
    /// The record carries a (non-null) `signature`.
    pub(super) signed: bool,
    /// The `signature.key_id` the record names, read only when its signature failed.
    pub(super) failed_key_id: Option<String>,
    /// The Merkle leaf, when the tree is built ([`VerifyOptions::builds_tree`]).
    pub(super) leaf: Option<Hash>,
    pub(super) redacted: bool,
    /// The first malformed redaction marker (`--allow-redacted` only): where, and what it holds.
    pub(super) bad_marker: Option<(String, String)>,
}

impl Summary {
    pub(super) fn sequence_found(&self) -> String {
        self.sequence
            .map_or_else(|| self.sequence_other.clone(), |n| n.to_string())
    }
}

// `Record` is the common variant and is built once per record in the verify hot path; boxing its
// summary to shrink `Unreadable` would allocate for every record instead.
#[allow(clippy::large_enum_variant)]
pub(super) enum Checked {
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
pub(super) struct FastCheck {
    hmac: Option<(Hmac<Sha256>, Vec<u8>, String)>,
    tree: bool,
}

impl FastCheck {
    /// `None` when the fast path does not apply (Ed25519 or redacted exports take the tree path).
    pub(super) fn new(options: &VerifyOptions) -> Option<FastCheck> {
        if options.allow_redacted {
            return None;
        }
        match &options.signatures {
            SignatureCheck::None => Some(FastCheck {
                hmac: None,
                tree: options.builds_tree(),
            }),
            SignatureCheck::Hmac { key, key_id } => {
                let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                let prefix = format!(
                    "{{\"algorithm\":\"HS256\",\"key_id\":{},\"value\":\"",
                    canonical::compact(&Value::from(key_id.as_str()))
                );
                Some(FastCheck {
                    hmac: Some((mac, prefix.into_bytes(), key_id.clone())),
                    tree: options.builds_tree(),
                })
            }
            SignatureCheck::Ed25519 { .. } => None,
        }
    }
}

pub(super) fn check_line(
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
    if too_many_tokens(bytes).is_some() {
        return unreadable(format!(
            "line has more than {MAX_TOKENS} JSON tokens (values, keys and separators); it was not parsed (a record this large is corrupt or hostile, and parsing it would take memory without bound)"
        ));
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
/// computed one (`None` when the tree is not built).
fn leaf_of(tree: bool, record_hash: &FieldText, computed_hash: &Hash) -> Option<Hash> {
    if !tree {
        return None;
    }
    let stored = match record_hash {
        FieldText::Digest(digest) => Some(*digest),
        FieldText::Text(_) => record_hash
            .string_value()
            .and_then(|text| hex::decode(text).ok())
            .and_then(|b| b.try_into().ok()),
        FieldText::Null => None,
    };
    Some(merkle::leaf_hash(&stored.unwrap_or(*computed_hash)))
}

fn summarise_fast(record: &fast::CanonicalRecord<'_>, fast_check: &FastCheck) -> Summary {
    let computed_hash: Hash = Sha256::digest(record.payload).into();
    let hex_hash = hexdigits::encode_digest(&computed_hash);
    let signature = match &fast_check.hmac {
        Some((keyed, prefix, key_id)) => {
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
                    expected: crate::audit::record::hmac_expectation(key_id, found.as_ref()),
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
    // The stored record_hash is almost always the computed one: then compare its text with the
    // hex already written, and skip decoding it (the same `Digest` from_canonical would give).
    let record_hash = match record.record_hash {
        Some([b'"', hex @ .., b'"']) if *hex == hex_hash => FieldText::Digest(computed_hash),
        other => other.map_or(FieldText::Null, FieldText::from_canonical),
    };
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
        leaf: leaf_of(fast_check.tree, &record_hash, &computed_hash),
        record_hash,
        computed_hash,
        signature,
        signed,
        failed_key_id,
        redacted: false,
        bad_marker: None,
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
    let mut markers = Markers::default();
    if options.allow_redacted {
        for (key, value) in fields {
            markers.find(key, value);
        }
    }
    let redacted = markers.any;
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
        leaf: leaf_of(options.builds_tree(), &record_hash, &computed_hash),
        record_hash,
        computed_hash,
        signature,
        signed,
        failed_key_id,
        redacted,
        bad_marker: markers.malformed,
    }
}

pub(super) const NO_REDACTION_SIGNATURE: &str = "no redaction_signature";

/// The field an export adds to a redacted record (see `export::export`).
pub const REDACTION_SIGNATURE: &str = crate::audit::export::REDACTION_SIGNATURE;

/// A redacted record's `record_hash` and `signature` cannot be recomputed, so what binds its
/// unredacted fields is the `redaction_signature` the export added: the same algorithm and key
/// over the compact canonical JSON of the redacted record without `signature` and
/// `redaction_signature`. No key: not checked. A key but no (or a failing) redaction signature:
/// a mismatch — an edited decision, target or metadata next to a redaction must not verify.
fn check_redaction_signature(
    fields: &Map<String, Value>,
    signatures: &SignatureCheck,
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
    let payload = crate::audit::export::redaction_payload(fields);
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

/// The redaction markers of a record: objects of one key `redacted` whose value is a string
/// starting `sha256:` (see `export::redact`), anywhere in a value. Such a record is redacted;
/// a marker that is not exactly `sha256:` and 64 lowercase hex digits (a SHA-256 as `export`
/// writes it) is a finding, the first one kept with its dotted path.
#[derive(Default)]
struct Markers {
    any: bool,
    malformed: Option<(String, String)>,
}

impl Markers {
    fn find(&mut self, path: &str, value: &Value) {
        match value {
            Value::Object(map) => {
                if map.len() == 1
                    && let Some(text) = map.get("redacted").and_then(Value::as_str)
                    && let Some(digest) = text.strip_prefix("sha256:")
                {
                    self.any = true;
                    let well_formed = digest.len() == 64
                        && digest
                            .bytes()
                            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                    if !well_formed && self.malformed.is_none() {
                        self.malformed = Some((path.to_string(), canonical::compact(value)));
                    }
                    return;
                }
                for (key, inner) in map {
                    self.find(&format!("{path}.{key}"), inner);
                }
            }
            Value::Array(items) => {
                for (index, inner) in items.iter().enumerate() {
                    self.find(&format!("{path}[{index}]"), inner);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify::test_logs::append_signed;

    fn checked(line: &str, options: &VerifyOptions, fast: bool) -> String {
        let data = line.as_bytes();
        let entry = Line {
            segment: 0,
            number: 1,
            start: 0,
            end: data.len(),
            torn: false,
            oversize: false,
        };
        let fast_check = if fast { FastCheck::new(options) } else { None };
        assert_eq!(fast_check.is_some(), fast);
        match check_line(
            &entry,
            data,
            options,
            fast_check.as_ref(),
            &mut fast::Scratch::default(),
        ) {
            Checked::Record { summary: s, .. } => format!(
                "{:?}",
                (
                    // What a report shows: the schema found only when it is wrong.
                    (
                        s.schema_ok,
                        (!s.schema_ok).then_some(&s.schema_found),
                        s.sequence,
                        s.sequence_found()
                    ),
                    (&s.previous_hash, &s.record_hash, s.computed_hash),
                    (&s.signature, s.signed, &s.failed_key_id, s.leaf, s.redacted),
                )
            ),
            Checked::Unreadable { problem, .. } => format!("unreadable: {problem}"),
        }
    }

    /// A line over the JSON-token bound is unreadable on both paths, named as such; one just
    /// under it is read.
    #[test]
    fn token_bound_is_the_same_on_both_paths() {
        let over = format!("{{\"a\": [{}]}}", vec!["1"; MAX_TOKENS].join(","));
        let under = format!("{{\"a\": [{}]}}", vec!["1"; MAX_TOKENS - 3].join(","));
        let options = VerifyOptions::default();
        for fast in [true, false] {
            assert_eq!(
                checked(&over, &options, fast),
                format!(
                    "unreadable: line has more than {MAX_TOKENS} JSON tokens (values, keys and separators); it was not parsed (a record this large is corrupt or hostile, and parsing it would take memory without bound)"
                )
            );
            assert!(!checked(&under, &options, fast).starts_with("unreadable"));
        }
    }

    /// The one-pass path and the tree path summarise every record alike — its hashes, links and
    /// signature verdict — for intact records and for each kind of tampering, with and without
    /// a key and a tree. The fast path must really have taken each line.
    #[test]
    fn fast_and_tree_paths_summarise_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        append_signed(&path, 3);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let second: Map<String, Value> = serde_json::from_str(lines[1]).unwrap();
        let mut cases: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let stored = second["record_hash"].as_str().unwrap().to_string();
        let first_hash = serde_json::from_str::<Value>(lines[0]).unwrap()["record_hash"].clone();
        let edits: Vec<(&str, Option<Value>)> = vec![
            ("record_hash", Some(Value::from(stored.to_uppercase()))),
            ("record_hash", Some(first_hash.clone())),
            ("record_hash", Some(Value::from(&stored[..63]))),
            ("record_hash", Some(Value::from(format!("{stored}0")))),
            ("record_hash", Some(Value::from(5))),
            ("record_hash", Some(Value::Null)),
            ("record_hash", None),
            (
                "previous_hash",
                Some(Value::from(first_hash.as_str().unwrap().to_uppercase())),
            ),
            ("previous_hash", None),
            ("action", Some(Value::from("edited"))),
            ("sequence", Some(Value::from(2.0))),
            ("sequence", Some(Value::from("2"))),
            ("schema_version", Some(Value::from("other"))),
            (
                "signature",
                Some(serde_json::json!({"algorithm": "HS256", "key_id": "kid", "value": "AAAA"})),
            ),
            (
                "signature",
                Some(serde_json::json!({"algorithm": "HS256", "key_id": "other", "value": "AAAA"})),
            ),
            ("signature", Some(Value::Null)),
            ("signature", None),
        ];
        for (key, value) in edits {
            let mut fields = second.clone();
            match value {
                Some(value) => fields.insert(key.into(), value),
                None => fields.remove(key),
            };
            cases.push(canonical::spaced(&Value::Object(fields)));
        }
        let keyed = VerifyOptions {
            signatures: SignatureCheck::Hmac {
                key: b"k".to_vec(),
                key_id: "kid".into(),
            },
            ..Default::default()
        };
        let no_tree = VerifyOptions {
            merkle: super::super::MerkleWork::Skip,
            ..Default::default()
        };
        for line in &cases {
            assert!(
                fast::canonical_record(line.as_bytes(), &mut fast::Scratch::default()).is_some(),
                "the fast path should take {line}"
            );
            for options in [&keyed, &VerifyOptions::default(), &no_tree] {
                assert_eq!(
                    checked(line, options, true),
                    checked(line, options, false),
                    "{line}"
                );
            }
        }
    }
}
