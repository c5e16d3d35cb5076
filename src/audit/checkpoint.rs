//! Signed checkpoints of the log head (C2SP tlog-checkpoint in a C2SP signed-note), inclusion
//! proofs for single records, and segment anchors that let a pruned suffix verify on its own.
//!
//! Checkpoint body (c2sp.org/tlog-checkpoint): `<origin>\n<tree size>\n<base64 root>\n`, where
//! the root is the RFC 6962 root over the records' leaves (see [`super::merkle`]). Note
//! (c2sp.org/signed-note): body, a blank line, then `— <name> <base64(key hash || signature)>\n`
//! per signature; the key hash is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || the
//! 32-byte Ed25519 public key) and the Ed25519 signature covers the body bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::VerifyingKey;

use crate::trust::Ed25519Sign;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::merkle::{self, Frontier, Hash};
use super::record::{Canonical, Record};
// The log-reading operations moved to `prove.rs`; their paths here are kept for callers.
pub use super::prove::{create, prove};

/// Signed-note signature type byte for Ed25519 (c2sp.org/signed-note).
const ALG_ED25519: u8 = 0x01;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

pub const PROOF_SCHEMA: &str = "wormvault.audit-log.inclusion-proof.v1";
pub const ANCHOR_SCHEMA: &str = "wormvault.audit-log.segment-anchor.v1";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    #[error(
        "checkpoint has no signature by key {name:?} (key hash {key_hash}); check --checkpoint-key and the key name"
    )]
    NoMatchingSignature { name: String, key_hash: String },
    #[error(
        "checkpoint signature by {name:?} does not verify: the checkpoint was altered or signed by another key"
    )]
    BadSignature { name: String },
    #[error("invalid key name {0:?}: it must be non-empty and contain no spaces or '+'")]
    BadKeyName(String),
    #[error("malformed {what}: {problem}")]
    MalformedDocument { what: &'static str, problem: String },
    #[error("{0}")]
    Mismatch(String),
    #[error("signing the checkpoint: {0}")]
    Sign(#[from] crate::trust::SignError),
}

/// A tree head: what a checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// A named Ed25519 note key (the name is usually the origin).
#[derive(Debug, Clone)]
pub struct CheckpointKey {
    pub name: String,
    pub key: VerifyingKey,
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// First 4 bytes of SHA-256(name || "\n" || 0x01 || public key) (c2sp.org/signed-note).
pub fn key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALG_ED25519]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The verifier key string used by Go's note package and the `signed_note` crate:
/// `<name>+<hex key hash>+<base64(0x01 || public key)>`.
pub fn verifier_key_string(name: &str, key: &VerifyingKey) -> String {
    let mut bytes = vec![ALG_ED25519];
    bytes.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{}+{}",
        hex::encode(key_hash(name, key)),
        BASE64.encode(bytes)
    )
}

impl Checkpoint {
    /// The checkpoint body the note signature covers.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// Sign as a note with one Ed25519 signature line, by a key file (`&SigningKey` coerces)
    /// or a KMS key ([`crate::trust::KmsKey`]).
    pub fn sign(&self, name: &str, key: &dyn Ed25519Sign) -> Result<String, CheckpointError> {
        if !valid_key_name(name) {
            return Err(CheckpointError::BadKeyName(name.to_string()));
        }
        if self.origin.is_empty() || self.origin.contains('\n') {
            return Err(CheckpointError::Malformed(
                "origin must be one non-empty line".into(),
            ));
        }
        let body = self.body();
        let signature = key.sign(body.as_bytes())?;
        let mut blob = key_hash(name, &key.public_key().verifying_key()).to_vec();
        blob.extend_from_slice(&signature);
        Ok(format!(
            "{body}\n{SIGNATURE_PREFIX}{name} {}\n",
            BASE64.encode(blob)
        ))
    }

    /// Parse a signed note and verify the signature line of `key`; unknown signatures by other
    /// keys are ignored (as the signed-note spec allows).
    pub fn open(note: &str, key: &CheckpointKey) -> Result<Checkpoint, CheckpointError> {
        let malformed = |text: &str| CheckpointError::Malformed(text.to_string());
        let (body, signatures) = note
            .rsplit_once("\n\n")
            .ok_or_else(|| malformed("no blank line before signatures"))?;
        let body = format!("{body}\n");
        let checkpoint = Checkpoint::parse_body(&body)?;
        let wanted = key_hash(&key.name, &key.key);
        let mut found = false;
        for line in signatures.lines() {
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or_else(|| malformed("signature line does not start with '— '"))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or_else(|| malformed("signature line has no base64 part"))?;
            let blob = BASE64
                .decode(blob)
                .map_err(|_| malformed("signature is not base64"))?;
            if blob.len() < 4 || name != key.name || blob[..4] != wanted {
                continue;
            }
            found = true;
            let signature = ed25519_dalek::Signature::from_slice(&blob[4..]).map_err(|_| {
                CheckpointError::BadSignature {
                    name: name.to_string(),
                }
            })?;
            key.key
                .verify_strict(body.as_bytes(), &signature)
                .map_err(|_| CheckpointError::BadSignature {
                    name: name.to_string(),
                })?;
        }
        if !found {
            return Err(CheckpointError::NoMatchingSignature {
                name: key.name.clone(),
                key_hash: hex::encode(wanted),
            });
        }
        Ok(checkpoint)
    }

    /// Parse an unsigned checkpoint body (origin, size, root, optional extension lines).
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let malformed = |text: &str| CheckpointError::Malformed(text.to_string());
        let mut lines = body
            .strip_suffix('\n')
            .ok_or_else(|| malformed("body must end with a newline"))?
            .split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| malformed("empty origin line"))?;
        let size_text = lines
            .next()
            .ok_or_else(|| malformed("missing tree size line"))?;
        if size_text.is_empty()
            || !size_text.bytes().all(|b| b.is_ascii_digit())
            || (size_text.len() > 1 && size_text.starts_with('0'))
        {
            return Err(malformed(
                "tree size must be a decimal number without leading zeros",
            ));
        }
        let size: u64 = size_text
            .parse()
            .map_err(|_| malformed("tree size out of range"))?;
        let root_text = lines
            .next()
            .ok_or_else(|| malformed("missing root hash line"))?;
        let root: Hash = BASE64
            .decode(root_text)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| malformed("root hash is not base64 of 32 bytes"))?;
        if lines.any(str::is_empty) {
            return Err(malformed("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

/// The leaf data of a record: the 32 bytes its `record_hash` names. A stored hash that is not
/// 64 hex digits (the record already fails verification) falls back to the recomputed hash.
pub fn record_leaf(record: &Record) -> Hash {
    let stored: Option<Hash> = record
        .record_hash()
        .and_then(|text| hex::decode(text).ok())
        .and_then(|b| b.try_into().ok());
    let data = stored.unwrap_or_else(|| {
        let recomputed = Canonical::of(&record.fields).record_hash();
        hex::decode(recomputed)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 32])
    });
    merkle::leaf_hash(&data)
}

fn b64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| BASE64.encode(h)).collect()
}

fn parse_b64_hashes(what: &'static str, items: &[String]) -> Result<Vec<Hash>, CheckpointError> {
    items
        .iter()
        .map(|text| {
            BASE64
                .decode(text)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| CheckpointError::MalformedDocument {
                    what,
                    problem: format!("{text:?} is not base64 of a 32-byte hash"),
                })
        })
        .collect()
}

/// An inclusion proof for one record, self-contained: the record itself (so its hash can be
/// recomputed), its leaf index, the tree it is proved against, and optionally the signed
/// checkpoint of that tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InclusionProof {
    pub schema_version: String,
    pub sequence: u64,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// base64 RFC 6962 root of the tree of `tree_size` leaves.
    pub root: String,
    /// base64 sibling hashes, leaf to root (RFC 6962 PATH).
    pub proof: Vec<String>,
    pub record: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// What an offline proof check established.
#[derive(Debug, Clone, Serialize)]
pub struct ProofCheck {
    /// True only when every check passed *and* the root was authenticated by a checkpoint
    /// signed with the pinned key (`status` is then `valid`).
    pub valid: bool,
    /// `valid`, `invalid` (a check failed), or `unauthenticated` (every check that could run
    /// passed, but no checkpoint key was given: the root, and so the proof, proves nothing).
    pub status: &'static str,
    /// The proved record's own `sequence` (inside its record_hash); `None` when it has none.
    pub sequence: Option<u64>,
    /// The leaf the path was checked for (the record is leaf `sequence - 1`).
    pub leaf_index: u64,
    pub tree_size: u64,
    pub record_hash_recomputes: bool,
    pub checkpoint_signature_verified: bool,
    pub errors: Vec<String>,
}

impl InclusionProof {
    pub fn new(
        record: &Record,
        leaf_index: u64,
        leaves: &[Hash],
        checkpoint: Option<String>,
    ) -> Result<InclusionProof, merkle::MerkleError> {
        let proof = merkle::inclusion_proof(leaves, leaf_index)?;
        Ok(InclusionProof {
            schema_version: PROOF_SCHEMA.into(),
            sequence: record.sequence().unwrap_or(leaf_index + 1),
            leaf_index,
            tree_size: leaves.len() as u64,
            root: BASE64.encode(merkle::root(leaves)),
            proof: b64_hashes(&proof),
            record: Value::Object(record.fields.clone()),
            checkpoint,
        })
    }

    /// Check offline: the record's hash recomputes, the path leads to the root, and (when a
    /// key is given) the embedded checkpoint is signed by it and names this root and size.
    pub fn check(&self, key: Option<&CheckpointKey>) -> Result<ProofCheck, CheckpointError> {
        let mut errors = Vec::new();
        if self.schema_version != PROOF_SCHEMA {
            errors.push(format!(
                "schema_version is {:?}, expected {PROOF_SCHEMA:?}",
                self.schema_version
            ));
        }
        let Value::Object(fields) = &self.record else {
            return Err(CheckpointError::MalformedDocument {
                what: "inclusion proof",
                problem: "record is not an object".into(),
            });
        };
        let record = Record {
            fields: fields.clone(),
        };
        let recomputed = Canonical::of(fields).record_hash();
        let record_hash_recomputes = record.record_hash() == Some(recomputed.as_str());
        if !record_hash_recomputes {
            errors.push(format!(
                "record_hash mismatch: expected {recomputed}, found {:?}",
                record.record_hash()
            ));
        }
        // The top-level `sequence` is not covered by anything: it must agree with the leaf the
        // path proves and with the record's own (hashed) sequence, or it is a finding.
        let own_sequence = record.sequence();
        match self.leaf_index.checked_add(1) {
            Some(position) if position == self.sequence && own_sequence == Some(position) => {}
            position => errors.push(format!(
                "sequence mismatch: the proof says sequence {}, its leaf_index {} is record {}, and the record inside says {}",
                self.sequence,
                self.leaf_index,
                position.map_or_else(|| "out of range".to_string(), |p| p.to_string()),
                own_sequence.map_or_else(|| "no sequence".to_string(), |s| s.to_string())
            )),
        }
        let root: Hash =
            parse_b64_hashes("inclusion proof root", std::slice::from_ref(&self.root))?[0];
        let path = parse_b64_hashes("inclusion proof path", &self.proof)?;
        if let Err(error) = merkle::verify_inclusion(
            self.leaf_index,
            self.tree_size,
            &record_leaf(&record),
            &path,
            &root,
        ) {
            errors.push(format!(
                "inclusion proof does not lead to the root: {error}"
            ));
        }
        let mut checkpoint_signature_verified = false;
        match (key, &self.checkpoint) {
            (Some(key), Some(note)) => {
                let checkpoint = Checkpoint::open(note, key)?;
                checkpoint_signature_verified = true;
                if checkpoint.size != self.tree_size || checkpoint.root != root {
                    errors.push(format!(
                        "checkpoint commits to size {} root {}, proof is for size {} root {}",
                        checkpoint.size,
                        BASE64.encode(checkpoint.root),
                        self.tree_size,
                        self.root
                    ));
                }
            }
            (Some(_), None) => {
                errors.push("a checkpoint key was given but the proof carries no checkpoint".into())
            }
            (None, _) => {}
        }
        let status = if !errors.is_empty() {
            "invalid"
        } else if checkpoint_signature_verified {
            "valid"
        } else {
            "unauthenticated"
        };
        Ok(ProofCheck {
            valid: status == "valid",
            status,
            sequence: own_sequence,
            leaf_index: self.leaf_index,
            tree_size: self.tree_size,
            record_hash_recomputes,
            checkpoint_signature_verified,
            errors,
        })
    }
}

/// Where a pruned log segment starts, provably: the signed checkpoint of everything before it
/// (tree size m = first_sequence - 1), the previous record's hash (what the first retained
/// record links to), and the Merkle frontier of the first m - 1 leaves. Pushing the leaf of
/// `previous_hash` onto that frontier must reproduce the signed root, which proves both that
/// `previous_hash` is leaf m and that the frontier is right, so verification of the suffix can
/// keep extending the same tree and check later checkpoints in constant memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentAnchor {
    pub schema_version: String,
    /// Sequence of the first record of the segment.
    pub first_sequence: u64,
    /// `record_hash` of the record before the segment.
    pub previous_hash: String,
    /// Leaves before the segment (= first_sequence - 1).
    pub tree_size: u64,
    /// base64 perfect-subtree roots covering leaves 0..tree_size-1, largest first.
    pub frontier_before_previous: Vec<String>,
    /// The signed checkpoint of the tree of `tree_size` leaves.
    pub checkpoint: String,
}

/// A checked anchor: the state verification starts from.
#[derive(Debug, Clone)]
pub struct SegmentStart {
    pub first_sequence: u64,
    pub previous_hash: Option<String>,
    pub frontier: Frontier,
    /// The origin of the signed checkpoint the start was checked against (`None` from record 1).
    pub origin: Option<String>,
}

impl Default for SegmentStart {
    fn default() -> Self {
        SegmentStart {
            first_sequence: 1,
            previous_hash: None,
            frontier: Frontier::new(),
            origin: None,
        }
    }
}

fn decode_record_hash(text: &str) -> Option<Hash> {
    hex::decode(text).ok().and_then(|b| b.try_into().ok())
}

impl SegmentAnchor {
    /// Build an anchor from the frontier of the leaves before the previous record.
    pub fn new(
        frontier_before_previous: &Frontier,
        previous_hash: &str,
        note: String,
    ) -> SegmentAnchor {
        let tree_size = frontier_before_previous.size() + 1;
        SegmentAnchor {
            schema_version: ANCHOR_SCHEMA.into(),
            first_sequence: tree_size + 1,
            previous_hash: previous_hash.to_string(),
            tree_size,
            frontier_before_previous: b64_hashes(frontier_before_previous.hashes()),
            checkpoint: note,
        }
    }

    /// Check the anchor against the checkpoint key and turn it into a verification start.
    pub fn check(&self, key: &CheckpointKey) -> Result<SegmentStart, CheckpointError> {
        let mismatch = |text: String| CheckpointError::Mismatch(format!("segment anchor: {text}"));
        if self.schema_version != ANCHOR_SCHEMA {
            return Err(mismatch(format!(
                "schema_version {:?}, expected {ANCHOR_SCHEMA:?}",
                self.schema_version
            )));
        }
        let checkpoint = Checkpoint::open(&self.checkpoint, key)?;
        if checkpoint.size != self.tree_size
            || self.first_sequence != self.tree_size.saturating_add(1)
            || self.tree_size == 0
        {
            return Err(mismatch(format!(
                "checkpoint size {}, tree_size {} and first_sequence {} disagree",
                checkpoint.size, self.tree_size, self.first_sequence
            )));
        }
        let hashes = parse_b64_hashes("segment anchor frontier", &self.frontier_before_previous)?;
        let mut frontier = Frontier::from_parts(self.tree_size - 1, hashes).ok_or_else(|| {
            mismatch("frontier has the wrong number of hashes for tree_size - 1".into())
        })?;
        let previous = decode_record_hash(&self.previous_hash)
            .ok_or_else(|| mismatch("previous_hash is not 64 hex digits".into()))?;
        frontier.push(merkle::leaf_hash(&previous));
        if frontier.root() != checkpoint.root {
            return Err(mismatch(
                "frontier plus previous_hash does not reproduce the signed checkpoint root: the anchor was altered".into(),
            ));
        }
        Ok(SegmentStart {
            first_sequence: self.first_sequence,
            previous_hash: Some(self.previous_hash.clone()),
            frontier,
            origin: Some(checkpoint.origin.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[9u8; 32])
    }

    #[test]
    fn sign_open_and_tamper() {
        let checkpoint = Checkpoint {
            origin: "example.com/audit".into(),
            size: 5,
            root: [3u8; 32],
        };
        let note = checkpoint.sign("example.com/audit", &key()).unwrap();
        assert!(note.starts_with("example.com/audit\n5\nAwMD"));
        assert!(note.contains("\n\n\u{2014} example.com/audit "));
        let verifier = CheckpointKey {
            name: "example.com/audit".into(),
            key: key().verifying_key(),
        };
        assert_eq!(Checkpoint::open(&note, &verifier).unwrap(), checkpoint);
        let tampered = note.replacen("\n5\n", "\n4\n", 1);
        assert!(matches!(
            Checkpoint::open(&tampered, &verifier),
            Err(CheckpointError::BadSignature { .. })
        ));
        let other = CheckpointKey {
            name: "other".into(),
            key: key().verifying_key(),
        };
        assert!(matches!(
            Checkpoint::open(&note, &other),
            Err(CheckpointError::NoMatchingSignature { .. })
        ));
        assert!(Checkpoint::open("garbage", &verifier).is_err());
        assert!(Checkpoint::parse_body("o\n05\nAAAA\n").is_err());
    }
}
