//! One audit record (`cavra.audit-log.event.v1`): its fields, the exact bytes its `record_hash`
//! and signature cover, and the signers/verifiers for those signatures (cavra-compat.md §2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::canonical;
use crate::trust::{
    Ed25519Sign, KeyPair, KmsKey, PublicKey, SignError, SigningKeySource, TrustStore,
};

/// The record schema CAVRA writes and this tool writes.
pub const EVENT_SCHEMA: &str = "cavra.audit-log.event.v1";
/// CAVRA's default HMAC key id.
pub const DEFAULT_HMAC_KEY_ID: &str = "audit-log-hmac";

/// The caller-chosen part of a new record; sequence, timestamps and hashes are filled in by
/// [`crate::audit::append`].
#[derive(Debug, Clone, Default)]
pub struct NewRecord {
    pub event_type: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub decision: String,
    pub tenant_id: Option<String>,
    pub workspace_id: Option<String>,
    pub evidence_refs: Vec<String>,
    pub metadata: Map<String, Value>,
    /// `None` = now, written as Python's `datetime.now(timezone.utc).isoformat()` does.
    pub created_at: Option<String>,
}

impl NewRecord {
    /// The record body (everything but `record_hash` and `signature`) at a given position.
    pub fn body(&self, sequence: u64, previous_hash: Option<&str>) -> Map<String, Value> {
        let created_at = self.created_at.clone().unwrap_or_else(python_utc_now);
        let mut map = Map::new();
        map.insert("schema_version".into(), Value::from(EVENT_SCHEMA));
        map.insert("sequence".into(), Value::from(sequence));
        map.insert("created_at".into(), Value::from(created_at));
        map.insert("event_type".into(), Value::from(self.event_type.clone()));
        map.insert("actor".into(), Value::from(self.actor.clone()));
        map.insert("action".into(), Value::from(self.action.clone()));
        map.insert("target".into(), Value::from(self.target.clone()));
        map.insert("decision".into(), Value::from(self.decision.clone()));
        map.insert(
            "tenant_id".into(),
            self.tenant_id.clone().map_or(Value::Null, Value::from),
        );
        map.insert(
            "workspace_id".into(),
            self.workspace_id.clone().map_or(Value::Null, Value::from),
        );
        map.insert(
            "evidence_refs".into(),
            Value::from(self.evidence_refs.clone()),
        );
        map.insert("metadata".into(), Value::Object(self.metadata.clone()));
        map.insert(
            "previous_hash".into(),
            previous_hash.map_or(Value::Null, Value::from),
        );
        map
    }
}

/// `datetime.now(timezone.utc).isoformat()`: microseconds unless they are zero, `+00:00`.
pub fn python_utc_now() -> String {
    let now = Utc::now();
    if now.timestamp_subsec_micros() == 0 {
        now.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        now.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// A stored record: the whole JSON object as it appears on its line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Record {
    pub fields: Map<String, Value>,
}

impl Record {
    pub fn sequence(&self) -> Option<u64> {
        self.fields.get("sequence").and_then(Value::as_u64)
    }
    pub fn record_hash(&self) -> Option<&str> {
        self.fields.get("record_hash").and_then(Value::as_str)
    }
    pub fn previous_hash(&self) -> Option<&str> {
        self.fields.get("previous_hash").and_then(Value::as_str)
    }
    /// The stored line: spaced, key-sorted JSON plus `\n` (what CAVRA writes).
    pub fn to_line(&self) -> String {
        let mut line = canonical::spaced(&Value::Object(self.fields.clone()));
        line.push('\n');
        line
    }
}

/// The canonical texts a record's hash and signature cover, computed once per record.
///
/// Both are the compact canonical JSON of the record's top-level object; they differ only in
/// whether `record_hash` is included, so the members are rendered once and joined twice.
pub struct Canonical {
    /// Rendered `"key":value` members, sorted by key, without `record_hash` and `signature`.
    members: Vec<(String, String)>,
}

impl Canonical {
    pub fn of(fields: &Map<String, Value>) -> Canonical {
        let mut members: Vec<(String, String)> = fields
            .iter()
            .filter(|(key, _)| key.as_str() != "record_hash" && key.as_str() != "signature")
            .map(|(key, value)| (key.clone(), canonical::compact(value)))
            .collect();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        Canonical { members }
    }

    fn join(&self, record_hash: Option<&str>) -> String {
        let capacity = self
            .members
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum::<usize>()
            + 96;
        let mut out = String::with_capacity(capacity);
        out.push('{');
        let mut first = true;
        let mut push = |out: &mut String, key: &str, rendered: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&canonical::compact(&Value::from(key)));
            out.push(':');
            out.push_str(rendered);
        };
        let hash_rendered = record_hash.map(|hash| canonical::compact(&Value::from(hash)));
        let mut hash_pending = hash_rendered.is_some();
        for (key, rendered) in &self.members {
            if hash_pending && key.as_str() > "record_hash" {
                push(
                    &mut out,
                    "record_hash",
                    hash_rendered.as_deref().unwrap_or_default(),
                );
                hash_pending = false;
            }
            push(&mut out, key, rendered);
        }
        if hash_pending {
            push(
                &mut out,
                "record_hash",
                hash_rendered.as_deref().unwrap_or_default(),
            );
        }
        out.push('}');
        out
    }

    /// What `record_hash` covers: the record without `record_hash` and `signature`.
    pub fn hash_payload(&self) -> String {
        self.join(None)
    }

    /// What the signature covers: the record without `signature` but with `record_hash`.
    pub fn signed_payload(&self, record_hash: &str) -> String {
        self.join(Some(record_hash))
    }

    /// Lowercase hex SHA-256 of [`Self::hash_payload`].
    pub fn record_hash(&self) -> String {
        hex::encode(Sha256::digest(self.hash_payload().as_bytes()))
    }
}

/// How new records are signed.
pub enum Signer {
    /// No signature (CAVRA writes none when it has no key).
    Unsigned,
    /// HS256 with a shared secret.
    Hmac { key: Vec<u8>, key_id: String },
    /// Ed25519 with a private key.
    Ed25519 { key: Box<KeyPair>, key_id: String },
    /// Ed25519 with a key that never leaves AWS KMS (`awskms:ARN`); the signature is the same
    /// plain Ed25519 form, so verifiers cannot tell (and need not know) where it was made.
    Kms {
        key: std::sync::Arc<KmsKey>,
        key_id: String,
    },
}

impl std::fmt::Debug for Signer {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Unsigned => f.write_str("Signer::Unsigned"),
            Signer::Hmac { key_id, .. } => write!(f, "Signer::Hmac {{ key_id: {key_id:?} }}"),
            Signer::Ed25519 { key_id, .. } => write!(f, "Signer::Ed25519 {{ key_id: {key_id:?} }}"),
            Signer::Kms { key, key_id } => write!(
                f,
                "Signer::Kms {{ key: {:?}, key_id: {key_id:?} }}",
                key.key_id()
            ),
        }
    }
}

impl Signer {
    /// The `signature` object for a signed payload, or `None` when unsigned. Fails only for a
    /// KMS key (unreachable, refused, or a payload longer than KMS signs as plain Ed25519).
    pub fn sign(&self, signed_payload: &str) -> Result<Option<Value>, SignError> {
        let ed25519 = |key_id: &str, value: String| serde_json::json!({"algorithm": "Ed25519", "key_id": key_id, "value": value});
        Ok(match self {
            Signer::Unsigned => None,
            Signer::Hmac { key, key_id } => Some(serde_json::json!({
                "algorithm": "HS256",
                "key_id": key_id,
                "value": hmac_base64(key, signed_payload.as_bytes()),
            })),
            Signer::Ed25519 { key, key_id } => {
                Some(ed25519(key_id, key.sign_b64(signed_payload.as_bytes())))
            }
            Signer::Kms { key, key_id } => Some(ed25519(
                key_id,
                Ed25519Sign::sign_b64(key.as_ref(), signed_payload.as_bytes())?,
            )),
        })
    }

    /// An Ed25519 signer for a key file or a KMS key.
    pub fn ed25519(key: SigningKeySource, key_id: String) -> Signer {
        match key {
            SigningKeySource::File(key) => Signer::Ed25519 { key, key_id },
            SigningKeySource::Kms(key) => Signer::Kms { key, key_id },
        }
    }

    /// The Ed25519 public key and key id records are signed with (file or KMS key), if any.
    pub fn ed25519_public(&self) -> Option<(PublicKey, &str)> {
        match self {
            Signer::Ed25519 { key, key_id } => Some((key.public(), key_id)),
            Signer::Kms { key, key_id } => Some((key.public_key(), key_id)),
            Signer::Unsigned | Signer::Hmac { .. } => None,
        }
    }
}

/// base64 of HMAC-SHA256(key, message).
pub fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    BASE64.encode(mac.finalize().into_bytes())
}

/// What a failed HS256 check expected, and which part of the signature object failed —
/// never the expected value itself: printing the correct MAC of a record would let anyone paste
/// it into a forged record (issue #15 item 11).
pub fn hmac_expectation(key_id: &str, found: Option<&Value>) -> String {
    let field = |name: &str| found.and_then(|f| f.get(name)).and_then(Value::as_str);
    let problem = match found {
        None | Some(Value::Null) => "the record has no signature".to_string(),
        Some(Value::Object(_)) if field("algorithm") != Some("HS256") => format!(
            "the algorithm is {}, not HS256",
            field("algorithm").map_or("missing".into(), |a| format!("{a:?}"))
        ),
        Some(Value::Object(_)) if field("key_id") != Some(key_id) => format!(
            "the record names key id {}, the key given is {key_id:?}",
            field("key_id").map_or("(none)".into(), |k| format!("{k:?}"))
        ),
        Some(Value::Object(map)) if map.len() != 3 || field("value").is_none() => {
            "the signature object has other fields than algorithm, key_id and value".into()
        }
        Some(Value::Object(_)) => {
            "the value is not the HMAC-SHA256 of this record under the given key".into()
        }
        Some(_) => "the signature is not a JSON object".into(),
    };
    format!(
        "an HS256 signature by key id {key_id:?} over this record (the expected value is never shown); check failed: {problem}"
    )
}

/// What record signatures are checked against. CAVRA checks signatures only when given a key.
#[derive(Debug, Clone, Default)]
pub enum SignatureCheck {
    #[default]
    None,
    /// HS256: the expected signature object is recomputed and compared whole (so a wrong key id
    /// is a mismatch, as in CAVRA).
    Hmac { key: Vec<u8>, key_id: String },
    /// Ed25519: the record's key id selects a trust root, whose status and validity window must
    /// admit the record's `created_at` (active; retired only inside its window; never revoked),
    /// and the signature must verify under it ([`TrustStore::verify_ed25519`]).
    Ed25519 { trust: TrustStore },
}

/// Outcome of a signature check, with what was expected and found on a mismatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureOutcome {
    NotChecked,
    Valid,
    Mismatch { expected: String, found: String },
}

impl SignatureCheck {
    pub fn is_enabled(&self) -> bool {
        !matches!(self, SignatureCheck::None)
    }

    pub fn check(&self, fields: &Map<String, Value>, signed_payload: &str) -> SignatureOutcome {
        let found = fields.get("signature");
        let found_text = || found.map_or("no signature".to_string(), canonical::compact);
        match self {
            SignatureCheck::None => SignatureOutcome::NotChecked,
            SignatureCheck::Hmac { key, key_id } => {
                let expected = serde_json::json!({
                    "algorithm": "HS256",
                    "key_id": key_id,
                    "value": hmac_base64(key, signed_payload.as_bytes()),
                });
                if found == Some(&expected) {
                    SignatureOutcome::Valid
                } else {
                    SignatureOutcome::Mismatch {
                        expected: hmac_expectation(key_id, found),
                        found: found_text(),
                    }
                }
            }
            SignatureCheck::Ed25519 { trust } => {
                let mismatch = |expected: String| SignatureOutcome::Mismatch {
                    expected,
                    found: found_text(),
                };
                let Some(Value::Object(signature)) = found else {
                    return mismatch("an Ed25519 signature object".into());
                };
                if signature.get("algorithm").and_then(Value::as_str) != Some("Ed25519") {
                    return mismatch("algorithm Ed25519".into());
                }
                let (Some(key_id), Some(value)) = (
                    signature.get("key_id").and_then(Value::as_str),
                    signature.get("value").and_then(Value::as_str),
                ) else {
                    return mismatch("key_id and value".into());
                };
                let Some(created_at) = fields
                    .get("created_at")
                    .and_then(Value::as_str)
                    .and_then(crate::trust::parse_timestamp)
                else {
                    return mismatch(
                        "a parseable created_at to check the key's validity window".into(),
                    );
                };
                match trust.verify_ed25519(
                    key_id,
                    None,
                    signed_payload.as_bytes(),
                    value,
                    created_at,
                ) {
                    Ok(_) => SignatureOutcome::Valid,
                    Err(error) => mismatch(format!(
                        "a valid Ed25519 signature by a trusted key ({error})"
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_one() -> NewRecord {
        NewRecord {
            event_type: "runtime.decision".into(),
            actor: "agent:claude-code".into(),
            action: "write_file".into(),
            target: "iam/admin-role.tf".into(),
            decision: "require_approval".into(),
            tenant_id: Some("tenant-a".into()),
            workspace_id: Some("workspace-prod".into()),
            evidence_refs: vec!["evidence://session-1".into()],
            metadata: Map::new(),
            created_at: Some("2026-07-04T00:00:01+00:00".into()),
        }
    }

    #[test]
    fn test_vector_one_hash_and_hmac() {
        let body = vector_one().body(1, None);
        let canonical = Canonical::of(&body);
        let hash = canonical.record_hash();
        assert_eq!(
            hash,
            "95d1c19d96c2828e39829f4e0ca1536db8bc6cce4795dce1acb657084cdb8034"
        );
        let signer = Signer::Hmac {
            key: b"secret".to_vec(),
            key_id: "audit-key-1".into(),
        };
        let signature = signer
            .sign(&canonical.signed_payload(&hash))
            .unwrap()
            .unwrap();
        assert_eq!(
            signature["value"],
            "wTItTEKJQ7rj8wOjmdQ5Q/rRKrPfWQf6BfzF+rjxdRo="
        );
    }

    #[test]
    fn signed_payload_places_record_hash_in_key_order() {
        let mut fields = Map::new();
        fields.insert("zeta".into(), Value::from(1));
        fields.insert("alpha".into(), Value::from(2));
        let canonical = Canonical::of(&fields);
        assert_eq!(
            canonical.signed_payload("h"),
            r#"{"alpha":2,"record_hash":"h","zeta":1}"#
        );
        fields.insert("record_hash".into(), Value::from("h"));
        assert_eq!(
            canonical.signed_payload("h"),
            canonical::compact(&Value::Object(fields))
        );
    }

    #[test]
    fn ed25519_against_trust_roots() {
        use crate::trust::{RootStatus, TrustRoot};
        let pair = KeyPair::from_pkcs8_pem(
            include_str!("../../tests/fixtures/cavra/keys/evidence-ed25519-private.pem"),
            "t",
        )
        .unwrap();
        let pem = pair.public().spki_pem();
        let mut fields = vector_one().body(1, None);
        let canonical = Canonical::of(&fields);
        let payload = canonical.signed_payload(&canonical.record_hash());
        let signer = Signer::Ed25519 {
            key: Box::new(pair),
            key_id: "k1".into(),
        };
        fields.insert("signature".into(), signer.sign(&payload).unwrap().unwrap());
        let at = |text: &str| Some(crate::trust::parse_timestamp(text).unwrap());
        let check = |status, until: Option<&str>, id: &str| {
            let root = TrustRoot::new(
                &pem,
                Some(id.into()),
                "t",
                status,
                at("2026-01-01T00:00:00+00:00"),
                until.and_then(at),
            )
            .unwrap();
            SignatureCheck::Ed25519 {
                trust: TrustStore::new(vec![root]).unwrap(),
            }
            .check(&fields, &payload)
        };
        assert_eq!(
            check(RootStatus::Active, None, "k1"),
            SignatureOutcome::Valid
        );
        assert_eq!(
            check(RootStatus::Retired, Some("2026-12-31T00:00:00+00:00"), "k1"),
            SignatureOutcome::Valid
        );
        assert!(matches!(
            check(RootStatus::Retired, Some("2026-02-01T00:00:00+00:00"), "k1"),
            SignatureOutcome::Mismatch { .. }
        ));
        assert!(matches!(
            check(RootStatus::Revoked, None, "k1"),
            SignatureOutcome::Mismatch { .. }
        ));
        assert!(matches!(
            check(RootStatus::Active, None, "k2"),
            SignatureOutcome::Mismatch { .. }
        ));
        let root =
            TrustRoot::new(&pem, Some("k1".into()), "t", RootStatus::Active, None, None).unwrap();
        let tampered = payload.replace("write_file", "read_file");
        assert!(matches!(
            SignatureCheck::Ed25519 {
                trust: TrustStore::new(vec![root]).unwrap()
            }
            .check(&fields, &tampered),
            SignatureOutcome::Mismatch { .. }
        ));
    }
}
