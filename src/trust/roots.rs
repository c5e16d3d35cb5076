//! Trust roots (`cavra.evidence.trust-root.v1`) and trust-root bundles
//! (`cavra.evidence.trust-root-bundle.v1`), and the one place a signature is checked against
//! them: the root is chosen by key id *and* fingerprint, then its status and validity window
//! decide whether a signature made at a given time may be accepted (cavra-compat.md §4).
//!
//! Status rules (this tool's, stricter than CAVRA's where CAVRA has gaps):
//! * `revoked` — never accepted, whatever the signing time;
//! * `retired` — accepted only for a signature made inside `[valid_from, valid_until]`; a
//!   retired root without `valid_until` has no closed window and is refused;
//! * `active`  — refused when the signing time is before `valid_from` (not yet valid) or after
//!   `valid_until` (expired).

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{PublicKey, fingerprint};
use super::{TrustError, format_timestamp, parse_timestamp};

pub const TRUST_ROOT_SCHEMA: &str = "cavra.evidence.trust-root.v1";
pub const TRUST_ROOT_BUNDLE_SCHEMA: &str = "cavra.evidence.trust-root-bundle.v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootStatus {
    Active,
    Retired,
    Revoked,
}

impl RootStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RootStatus::Active => "active",
            RootStatus::Retired => "retired",
            RootStatus::Revoked => "revoked",
        }
    }
}

/// One trust root, field for field as CAVRA writes it. Timestamps stay as the stored text so a
/// round trip never changes bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRoot {
    pub schema_version: String,
    pub product: String,
    pub key_id: String,
    pub owner: String,
    pub status: RootStatus,
    pub algorithm: String,
    pub public_key_sha256: String,
    pub public_key_pem: String,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

impl TrustRoot {
    /// A new root for a public key (PEM text as stored; its fingerprint is computed here). The
    /// key id defaults to the fingerprint's first 16 hex characters.
    pub fn new(
        public_key_pem: &str,
        key_id: Option<String>,
        owner: &str,
        status: RootStatus,
        valid_from: Option<DateTime<Utc>>,
        valid_until: Option<DateTime<Utc>>,
    ) -> Result<Self, TrustError> {
        PublicKey::from_spki_pem(public_key_pem, "public key")?;
        let fingerprint = fingerprint(public_key_pem);
        let key_id = key_id.unwrap_or_else(|| super::default_key_id(&fingerprint));
        if key_id.is_empty() {
            return Err(TrustError::InvalidTrustRoot {
                what: "new trust root".into(),
                reason: "key id is empty".into(),
            });
        }
        if let (Some(from), Some(until)) = (valid_from, valid_until)
            && until < from
        {
            return Err(TrustError::InvalidTrustRoot {
                what: format!("trust root {key_id:?}"),
                reason: "valid_until is before valid_from".into(),
            });
        }
        Ok(Self {
            schema_version: TRUST_ROOT_SCHEMA.into(),
            product: "CAVRA".into(),
            key_id,
            owner: owner.to_string(),
            status,
            algorithm: "Ed25519".into(),
            public_key_sha256: fingerprint,
            public_key_pem: public_key_pem.to_string(),
            valid_from: valid_from.map(format_timestamp),
            valid_until: valid_until.map(format_timestamp),
        })
    }

    fn time(
        &self,
        field: &'static str,
        value: &Option<String>,
    ) -> Result<Option<DateTime<Utc>>, TrustError> {
        match value {
            None => Ok(None),
            Some(text) => parse_timestamp(text)
                .map(Some)
                .ok_or_else(|| TrustError::BadTimestamp {
                    key_id: self.key_id.clone(),
                    field,
                    value: text.clone(),
                }),
        }
    }

    /// Structural checks that do not depend on a signature: algorithm, fingerprint matches the
    /// PEM text, the PEM parses, timestamps parse.
    pub fn check(&self) -> Result<PublicKey, TrustError> {
        if self.algorithm != "Ed25519" {
            return Err(TrustError::UnsupportedAlgorithm {
                key_id: self.key_id.clone(),
                algorithm: self.algorithm.clone(),
            });
        }
        let actual = fingerprint(&self.public_key_pem);
        if actual != self.public_key_sha256 {
            return Err(TrustError::RootFingerprintInvalid {
                key_id: self.key_id.clone(),
                claimed: self.public_key_sha256.clone(),
                actual,
            });
        }
        self.time("valid_from", &self.valid_from)?;
        self.time("valid_until", &self.valid_until)?;
        PublicKey::from_spki_pem(
            &self.public_key_pem,
            &format!("trust root {:?}", self.key_id),
        )
    }

    /// May a signature made at `signed_at` be accepted under this root's status and window?
    pub fn admits(&self, signed_at: DateTime<Utc>) -> Result<(), TrustError> {
        let from = self.time("valid_from", &self.valid_from)?;
        let until = self.time("valid_until", &self.valid_until)?;
        let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "unbounded".into());
        match self.status {
            RootStatus::Revoked => Err(TrustError::Revoked {
                key_id: self.key_id.clone(),
                also: String::new(),
            }),
            RootStatus::Retired => {
                let inside = until.is_some()
                    && from.is_none_or(|from| signed_at >= from)
                    && until.is_some_and(|until| signed_at <= until);
                if inside {
                    Ok(())
                } else {
                    Err(TrustError::RetiredOutsideWindow {
                        key_id: self.key_id.clone(),
                        signed_at: format_timestamp(signed_at),
                        valid_from: show(&self.valid_from),
                        valid_until: show(&self.valid_until),
                    })
                }
            }
            RootStatus::Active => {
                if let Some(from) = from
                    && signed_at < from
                {
                    return Err(TrustError::NotYetValid {
                        key_id: self.key_id.clone(),
                        signed_at: format_timestamp(signed_at),
                        valid_from: show(&self.valid_from),
                    });
                }
                if let Some(until) = until
                    && signed_at > until
                {
                    return Err(TrustError::Expired {
                        key_id: self.key_id.clone(),
                        signed_at: format_timestamp(signed_at),
                        valid_until: show(&self.valid_until),
                    });
                }
                Ok(())
            }
        }
    }
}

/// A set of trust roots as CAVRA writes it: sorted by key id, key ids unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRootBundle {
    pub schema_version: String,
    pub product: String,
    pub created_at: String,
    pub trust_roots: Vec<TrustRoot>,
}

impl TrustRootBundle {
    /// Build a bundle: roots sorted by key id; a repeated key id is an error.
    pub fn new(mut roots: Vec<TrustRoot>, created_at: DateTime<Utc>) -> Result<Self, TrustError> {
        roots.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        check_unique(&roots)?;
        Ok(Self {
            schema_version: TRUST_ROOT_BUNDLE_SCHEMA.into(),
            product: "CAVRA".into(),
            // CAVRA writes bundle times without fractional seconds.
            created_at: created_at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
            trust_roots: roots,
        })
    }
}

fn check_unique(roots: &[TrustRoot]) -> Result<(), TrustError> {
    let mut seen = BTreeSet::new();
    for root in roots {
        if !seen.insert(root.key_id.as_str()) {
            return Err(TrustError::DuplicateKeyId {
                key_id: root.key_id.clone(),
            });
        }
    }
    Ok(())
}

/// What a successful check says about the key that signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedKey {
    pub key_id: String,
    pub fingerprint: String,
    pub status: RootStatus,
    pub owner: String,
}

/// Trust roots loaded for verification.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    roots: Vec<TrustRoot>,
}

impl TrustStore {
    /// A store from roots; every root is checked structurally and key ids must be unique.
    pub fn new(roots: Vec<TrustRoot>) -> Result<Self, TrustError> {
        check_unique(&roots)?;
        for root in &roots {
            root.check()?;
        }
        Ok(Self { roots })
    }

    /// Parse a trust-root bundle or a single trust root (told apart by `schema_version`).
    pub fn from_json(text: &str, what: &str) -> Result<Self, TrustError> {
        let invalid = |reason: String| TrustError::InvalidTrustRoot {
            what: what.to_string(),
            reason,
        };
        let value = crate::canonical::parse_strict(text).map_err(|e| invalid(e.to_string()))?;
        let schema = value
            .get("schema_version")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let roots = match schema {
            TRUST_ROOT_BUNDLE_SCHEMA => {
                serde_json::from_str::<TrustRootBundle>(text)
                    .map_err(|e| invalid(e.to_string()))?
                    .trust_roots
            }
            TRUST_ROOT_SCHEMA => {
                vec![serde_json::from_str::<TrustRoot>(text).map_err(|e| invalid(e.to_string()))?]
            }
            other => {
                return Err(invalid(format!(
                    "schema_version is {other:?}; expected {TRUST_ROOT_BUNDLE_SCHEMA} or {TRUST_ROOT_SCHEMA}"
                )));
            }
        };
        Self::new(roots)
    }

    /// Read a trust-root file through the documented size cap
    /// ([`crate::limits::MAX_TRUST_ROOTS_BYTES`]): an oversize file is refused unread.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        use crate::limits::{LimitError, MAX_TRUST_ROOTS_BYTES, read_json_capped};
        let text =
            read_json_capped(path, MAX_TRUST_ROOTS_BYTES, "trust-root file").map_err(|error| {
                match error {
                    LimitError::Io { path, source, .. } => TrustError::Io { path, source },
                    other => TrustError::InvalidTrustRoot {
                        what: path.display().to_string(),
                        reason: other.to_string(),
                    },
                }
            })?;
        Self::from_json(&text, &path.display().to_string())
    }

    pub fn roots(&self) -> &[TrustRoot] {
        &self.roots
    }

    /// Verify an Ed25519 signature (base64) over `message`, made at `signed_at`, by the root
    /// with `key_id` — and, when the signature names one, with that public-key fingerprint.
    /// Steps, in order: find the root by key id; match the fingerprint; status and validity
    /// window admit the signing time; the signature verifies under the root's key.
    /// Revocation is by key, not by key id: if the public key of `root` is listed as revoked
    /// under any key id — the same fingerprint, or the same key written as different PEM text —
    /// nothing signed with it is accepted, whatever id the signature names.
    fn refuse_if_revoked_elsewhere(
        &self,
        root: &TrustRoot,
        key: &PublicKey,
    ) -> Result<(), TrustError> {
        if let Some(other) = self.revocation_of(key)
            && other.key_id != root.key_id
        {
            return Err(TrustError::Revoked {
                key_id: root.key_id.clone(),
                also: format!(
                    ": its public key (fingerprint {}) is listed as revoked under key id {:?}, and revocation is by key, not key id",
                    root.public_key_sha256, other.key_id
                ),
            });
        }
        Ok(())
    }

    /// The root that revokes `key`, if any: the one rule for revocation, used by every caller.
    /// It compares the decoded raw Ed25519 key, never the PEM text or its SHA-256, so the same
    /// key written with other line ends, wrapping or armour is still the same (revoked) key;
    /// and it ignores key ids: a key revoked under any id is revoked.
    pub fn revocation_of(&self, key: &PublicKey) -> Option<&TrustRoot> {
        let raw = key.verifying_key().to_bytes();
        self.roots
            .iter()
            .filter(|r| r.status == RootStatus::Revoked)
            .find(|r| holds_key(r, &raw))
    }

    /// Every root holding `key` (by decoded raw key, whatever its PEM text or key id).
    pub fn roots_for_key<'a>(&'a self, key: &PublicKey) -> impl Iterator<Item = &'a TrustRoot> {
        let raw = key.verifying_key().to_bytes();
        self.roots.iter().filter(move |r| holds_key(r, &raw))
    }

    pub fn verify_ed25519(
        &self,
        key_id: &str,
        fingerprint: Option<&str>,
        message: &[u8],
        signature_b64: &str,
        signed_at: DateTime<Utc>,
    ) -> Result<VerifiedKey, TrustError> {
        let root = self
            .roots
            .iter()
            .find(|root| root.key_id == key_id)
            .ok_or_else(|| TrustError::UnknownKeyId {
                key_id: key_id.to_string(),
            })?;
        if let Some(found) = fingerprint
            && found != root.public_key_sha256
        {
            return Err(TrustError::FingerprintMismatch {
                key_id: key_id.to_string(),
                expected: root.public_key_sha256.clone(),
                found: found.to_string(),
            });
        }
        let key = root.check()?;
        self.refuse_if_revoked_elsewhere(root, &key)?;
        root.admits(signed_at)?;
        key.verify_b64(key_id, message, signature_b64)?;
        Ok(VerifiedKey {
            key_id: root.key_id.clone(),
            fingerprint: root.public_key_sha256.clone(),
            status: root.status,
            owner: root.owner.clone(),
        })
    }
}

/// Whether `root` holds the raw Ed25519 key `raw` (its PEM decoded; a PEM that does not decode
/// holds no key).
fn holds_key(root: &TrustRoot, raw: &[u8; 32]) -> bool {
    PublicKey::from_spki_pem(&root.public_key_pem, "trust root")
        .is_ok_and(|k| k.verifying_key().to_bytes() == *raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::KeyPair;

    const FIXTURE_ROOTS: &str =
        include_str!("../../tests/fixtures/cavra/keys/evidence-trust-roots.json");

    fn at(text: &str) -> DateTime<Utc> {
        parse_timestamp(text).unwrap()
    }

    fn root_for(
        pair: &KeyPair,
        key_id: &str,
        status: RootStatus,
        from: &str,
        until: Option<&str>,
    ) -> TrustRoot {
        TrustRoot::new(
            &pair.public().spki_pem(),
            Some(key_id.into()),
            "owner",
            status,
            Some(at(from)),
            until.map(at),
        )
        .unwrap()
    }

    #[test]
    fn fixture_bundle_loads_and_round_trips() {
        let store = TrustStore::from_json(FIXTURE_ROOTS, "fixture").unwrap();
        assert_eq!(store.roots().len(), 1);
        assert_eq!(store.roots()[0].key_id, "prod-evidence");
        assert_eq!(store.roots()[0].status, RootStatus::Active);
        // Every field survives a parse/serialise round trip.
        let bundle: TrustRootBundle = serde_json::from_str(FIXTURE_ROOTS).unwrap();
        let original: serde_json::Value = serde_json::from_str(FIXTURE_ROOTS).unwrap();
        assert_eq!(serde_json::to_value(&bundle).unwrap(), original);
    }

    #[test]
    fn fixture_manifest_signature_verifies_against_fixture_root() {
        let store = TrustStore::from_json(FIXTURE_ROOTS, "fixture").unwrap();
        let text = include_str!("../../tests/fixtures/cavra/bundle-ed25519/manifest.json");
        let mut manifest = crate::canonical::parse_strict(text).unwrap();
        let signature = manifest
            .as_object_mut()
            .unwrap()
            .remove("signature")
            .unwrap();
        let signed = crate::canonical::spaced(&manifest);
        let created = at(manifest["created_at"].as_str().unwrap());
        let verified = store
            .verify_ed25519(
                signature["key_id"].as_str().unwrap(),
                signature["public_key_sha256"].as_str(),
                signed.as_bytes(),
                signature["value"].as_str().unwrap(),
                created,
            )
            .unwrap();
        assert_eq!(verified.key_id, "prod-evidence");
        let mut tampered = signed.into_bytes();
        tampered[10] ^= 1;
        let err = store
            .verify_ed25519(
                "prod-evidence",
                None,
                &tampered,
                signature["value"].as_str().unwrap(),
                created,
            )
            .unwrap_err();
        assert_eq!(err.kind(), "signature_invalid");
    }

    #[test]
    fn status_and_window_rules() {
        let pair = KeyPair::generate().unwrap();
        let message = b"signed bytes";
        let signature = pair.sign_b64(message);
        let fp = pair.public().fingerprint();
        let check = |root: TrustRoot, when: &str| {
            TrustStore::new(vec![root])
                .unwrap()
                .verify_ed25519("k", Some(&fp), message, &signature, at(when))
                .map_err(|e| e.kind())
        };
        let (from, until) = (
            "2026-01-01T00:00:00+00:00",
            Some("2026-06-30T23:59:59+00:00"),
        );
        let inside = "2026-03-01T00:00:00+00:00";
        let after = "2026-07-01T00:00:00+00:00";
        let before = "2025-12-31T23:59:59+00:00";
        assert!(check(root_for(&pair, "k", RootStatus::Active, from, None), after).is_ok());
        assert!(
            check(
                root_for(&pair, "k", RootStatus::Active, from, until),
                inside
            )
            .is_ok()
        );
        assert_eq!(
            check(root_for(&pair, "k", RootStatus::Active, from, until), after),
            Err("root_expired")
        );
        assert_eq!(
            check(
                root_for(&pair, "k", RootStatus::Active, from, until),
                before
            ),
            Err("root_not_yet_valid")
        );
        assert!(
            check(
                root_for(&pair, "k", RootStatus::Retired, from, until),
                inside
            )
            .is_ok()
        );
        assert_eq!(
            check(
                root_for(&pair, "k", RootStatus::Retired, from, until),
                after
            ),
            Err("root_retired_outside_window")
        );
        assert_eq!(
            check(
                root_for(&pair, "k", RootStatus::Retired, from, None),
                inside
            ),
            Err("root_retired_outside_window")
        );
        assert_eq!(
            check(
                root_for(&pair, "k", RootStatus::Revoked, from, until),
                inside
            ),
            Err("root_revoked")
        );
    }

    #[test]
    fn a_key_revoked_under_one_id_is_refused_under_every_id() {
        let pair = KeyPair::generate().unwrap();
        let from = "2026-01-01T00:00:00+00:00";
        let when = at("2026-02-01T00:00:00+00:00");
        let good = pair.sign_b64(b"m");
        let active = root_for(&pair, "active-id", RootStatus::Active, from, None);
        let revoked = root_for(&pair, "revoked-id", RootStatus::Revoked, from, None);
        let store = TrustStore::new(vec![active.clone(), revoked]).unwrap();
        let error = store
            .verify_ed25519("active-id", None, b"m", &good, when)
            .unwrap_err();
        assert_eq!(error.kind(), "root_revoked");
        assert!(error.to_string().contains("revoked-id"), "{error}");
        // Another key revoked does not affect this one.
        let other = KeyPair::generate().unwrap();
        let store = TrustStore::new(vec![
            active,
            root_for(&other, "revoked-id", RootStatus::Revoked, from, None),
        ])
        .unwrap();
        assert!(
            store
                .verify_ed25519("active-id", None, b"m", &good, when)
                .is_ok()
        );
    }

    #[test]
    fn trust_revocation_compares_the_raw_key_not_the_pem_text() {
        let pair = KeyPair::generate().unwrap();
        let from = "2026-01-01T00:00:00+00:00";
        let active = root_for(&pair, "active-id", RootStatus::Active, from, None);
        // The same key written with CRLF line ends: another PEM text, another SHA-256.
        let crlf = active.public_key_pem.replace('\n', "\r\n");
        let mut revoked = TrustRoot::new(
            &crlf,
            Some("revoked-crlf".into()),
            "owner",
            RootStatus::Revoked,
            Some(at(from)),
            None,
        )
        .unwrap();
        assert_ne!(revoked.public_key_sha256, active.public_key_sha256);
        let store = TrustStore::new(vec![active.clone(), revoked.clone()]).unwrap();
        assert_eq!(
            store
                .revocation_of(&pair.public())
                .map(|r| r.key_id.as_str()),
            Some("revoked-crlf")
        );
        let error = store
            .verify_ed25519(
                "active-id",
                None,
                b"m",
                &pair.sign_b64(b"m"),
                at("2026-02-01T00:00:00+00:00"),
            )
            .unwrap_err();
        assert_eq!(error.kind(), "root_revoked");
        assert_eq!(store.roots_for_key(&pair.public()).count(), 2);
        // Another key is not revoked by it.
        let other = KeyPair::generate().unwrap();
        assert!(store.revocation_of(&other.public()).is_none());
        revoked.status = RootStatus::Active;
        let store = TrustStore::new(vec![active, revoked]).unwrap();
        assert!(store.revocation_of(&pair.public()).is_none());
    }

    #[test]
    fn key_id_fingerprint_and_signature_are_all_checked() {
        let pair = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let store = TrustStore::new(vec![root_for(
            &pair,
            "k",
            RootStatus::Active,
            "2026-01-01T00:00:00+00:00",
            None,
        )])
        .unwrap();
        let when = at("2026-02-01T00:00:00+00:00");
        let fp = pair.public().fingerprint();
        let good = pair.sign_b64(b"m");
        let verified = store
            .verify_ed25519("k", Some(&fp), b"m", &good, when)
            .unwrap();
        assert_eq!(verified.fingerprint, fp);
        assert_eq!(
            store
                .verify_ed25519("other", Some(&fp), b"m", &good, when)
                .unwrap_err()
                .kind(),
            "unknown_key_id"
        );
        let other_fp = other.public().fingerprint();
        assert_eq!(
            store
                .verify_ed25519("k", Some(&other_fp), b"m", &good, when)
                .unwrap_err()
                .kind(),
            "fingerprint_mismatch"
        );
        let forged = other.sign_b64(b"m");
        assert_eq!(
            store
                .verify_ed25519("k", Some(&fp), b"m", &forged, when)
                .unwrap_err()
                .kind(),
            "signature_invalid"
        );
        assert_eq!(
            store
                .verify_ed25519("k", None, b"n", &good, when)
                .unwrap_err()
                .kind(),
            "signature_invalid"
        );
    }

    #[test]
    fn bundles_sort_and_reject_duplicates() {
        let a = KeyPair::generate().unwrap();
        let b = KeyPair::generate().unwrap();
        let from = "2026-01-01T00:00:00+00:00";
        let bundle = TrustRootBundle::new(
            vec![
                root_for(&a, "zeta", RootStatus::Active, from, None),
                root_for(&b, "alpha", RootStatus::Retired, from, None),
            ],
            at(from),
        )
        .unwrap();
        let ids: Vec<_> = bundle
            .trust_roots
            .iter()
            .map(|r| r.key_id.as_str())
            .collect();
        assert_eq!(ids, ["alpha", "zeta"]);
        let err = TrustRootBundle::new(
            vec![
                root_for(&a, "same", RootStatus::Active, from, None),
                root_for(&b, "same", RootStatus::Active, from, None),
            ],
            at(from),
        )
        .unwrap_err();
        assert!(matches!(err, TrustError::DuplicateKeyId { ref key_id } if key_id == "same"));
    }

    #[test]
    fn corrupt_root_fingerprint_is_refused() {
        let pair = KeyPair::generate().unwrap();
        let mut root = root_for(
            &pair,
            "k",
            RootStatus::Active,
            "2026-01-01T00:00:00+00:00",
            None,
        );
        root.public_key_sha256 = "0".repeat(64);
        assert_eq!(
            TrustStore::new(vec![root]).unwrap_err().kind(),
            "root_fingerprint_invalid"
        );
    }
}
