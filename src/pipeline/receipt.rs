//! Upload receipts: what the *store* reported for each object when it was read back after the
//! upload (version id, checksum, lock, legal hold), compared with the plan. A receipt is never
//! written from the request alone.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::plan::{PlannedObject, StoragePlan};
use crate::store::{Enforcement, RetentionMode, StoredObject, compare};

pub const RECEIPTS_SCHEMA: &str = "wormvault.receipts.v1";

/// How the object came to be in the store during this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Written by this run.
    Uploaded,
    /// Already present with the same content and lock (a resumed run).
    AlreadyPresent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub path: String,
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    pub bytes: u64,
    pub retention_mode: Option<RetentionMode>,
    pub retain_until: Option<DateTime<Utc>>,
    pub legal_hold: Option<bool>,
    pub request_id: Option<String>,
    pub enforcement: Enforcement,
    pub outcome: Outcome,
    pub read_at: DateTime<Utc>,
}

/// All receipts of one upload run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptSet {
    pub schema_version: String,
    pub product: String,
    pub target: String,
    pub session_id: String,
    pub bundle_digest: String,
    pub session_prefix: String,
    /// SHA-256 of the canonical JSON of the plan that was executed.
    pub plan_sha256: String,
    pub created_at: String,
    pub enforcement: Enforcement,
    pub receipts: Vec<Receipt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<serde_json::Value>,
}

/// One way the store's answer differs from the plan (the one typed mismatch, store::compare).
pub use crate::store::compare::{Field, Mismatch};

/// Compare what the store reports with what the plan asked for. The rule is
/// [`Rules::PLAN`](crate::store::compare::Rules::PLAN): retain-until at least the plan's (a lock may
/// be extended, never shortened), legal hold exactly as planned, and with `Unconfirmed`
/// enforcement (the user explicitly accepted a store that cannot confirm immutability) the lock
/// fields are not compared — the receipt says so instead.
pub fn compare(planned: &PlannedObject, stored: &StoredObject) -> Vec<Mismatch> {
    compare::differences(
        &planned.key,
        &expected(planned),
        stored,
        compare::Rules::PLAN,
    )
}

/// What a planned object should look like in the store.
pub fn expected(planned: &PlannedObject) -> compare::Expected<'_> {
    compare::Expected {
        sha256: Some(&planned.sha256),
        bytes: Some(planned.bytes),
        lock: Some(compare::ExpectedLock {
            mode: Some(planned.retention_mode),
            retain_until: Some(planned.retain_until),
            legal_hold: Some(planned.legal_hold),
        }),
        ..compare::Expected::default()
    }
}

pub fn receipt(planned: &PlannedObject, stored: &StoredObject, outcome: Outcome) -> Receipt {
    Receipt {
        path: planned.path.clone(),
        key: stored.key.clone(),
        version_id: stored.version_id.clone(),
        etag: stored.etag.clone(),
        sha256: stored.sha256.clone(),
        md5: stored.md5.clone(),
        bytes: stored.size,
        retention_mode: stored.retention_mode,
        retain_until: stored.retain_until,
        legal_hold: stored.legal_hold,
        request_id: stored.request_id.clone(),
        enforcement: stored.enforcement,
        outcome,
        read_at: Utc::now(),
    }
}

impl Receipt {
    /// The stored state this receipt records, for comparing it again (handoff, `remote check`).
    pub fn as_stored(&self) -> StoredObject {
        StoredObject {
            key: self.key.clone(),
            version_id: self.version_id.clone(),
            etag: self.etag.clone(),
            size: self.bytes,
            sha256: self.sha256.clone(),
            sha256_source: crate::store::DigestSource::Claimed,
            md5: self.md5.clone(),
            retention_mode: self.retention_mode,
            retain_until: self.retain_until,
            legal_hold: self.legal_hold,
            tags: Default::default(),
            last_modified: None,
            request_id: self.request_id.clone(),
            enforcement: self.enforcement,
            is_latest: true,
        }
    }
}

impl ReceiptSet {
    pub fn new(plan: &StoragePlan, enforcement: Enforcement, receipts: Vec<Receipt>) -> ReceiptSet {
        ReceiptSet {
            schema_version: RECEIPTS_SCHEMA.into(),
            product: "wormvault".into(),
            target: plan.target.clone(),
            session_id: plan.session_id.clone(),
            bundle_digest: plan.bundle_digest.clone(),
            session_prefix: plan.session_prefix.clone(),
            plan_sha256: plan.digest(),
            created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, false),
            enforcement,
            receipts,
            signature: None,
        }
    }

    /// The bytes a signature covers: spaced canonical JSON without `signature` (the same rule
    /// CAVRA uses for manifests).
    pub fn signed_bytes(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.remove("signature");
        }
        crate::canonical::spaced(&value)
    }

    /// SHA-256 of the canonical JSON of the whole receipt set (signature included): what the
    /// `evidence.archived` audit event carries.
    pub fn digest(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        crate::hashing::sha256_hex(crate::canonical::compact(&value).as_bytes())
    }

    /// Sign with Ed25519, the same signature object CAVRA puts on manifests, by a key file or a
    /// KMS key ([`crate::trust::Ed25519Sign`]). On an error the set is left unsigned.
    pub fn sign(
        &mut self,
        key: &dyn crate::trust::Ed25519Sign,
        key_id: &str,
    ) -> Result<(), crate::trust::SignError> {
        self.signature = None;
        let value = key.sign_b64(self.signed_bytes().as_bytes())?;
        self.signature = Some(serde_json::json!({
            "algorithm": "Ed25519",
            "key_id": key_id,
            "public_key_sha256": key.public_key().fingerprint(),
            "value": value,
        }));
        Ok(())
    }

    /// Check the signature against trust roots (key id, fingerprint, validity at `created_at`).
    pub fn verify_signature(
        &self,
        trust: &crate::trust::TrustStore,
    ) -> Result<crate::trust::VerifiedKey, String> {
        let signature = self.signature.as_ref().ok_or("receipts are not signed")?;
        let field = |name: &str| signature.get(name).and_then(|v| v.as_str());
        if field("algorithm") != Some("Ed25519") {
            return Err(format!(
                "unsupported receipt signature algorithm {}",
                field("algorithm").map_or("(none)".to_string(), |a| format!("{a:?}"))
            ));
        }
        let key_id = field("key_id").ok_or("receipt signature has no key_id")?;
        let value = field("value").ok_or("receipt signature has no value")?;
        let signed_at = crate::trust::parse_timestamp(&self.created_at).ok_or_else(|| {
            format!(
                "receipts created_at {:?} is not a timestamp",
                self.created_at
            )
        })?;
        trust
            .verify_ed25519(
                key_id,
                field("public_key_sha256"),
                self.signed_bytes().as_bytes(),
                value,
                signed_at,
            )
            .map_err(|e| e.to_string())
    }

    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let mut text = crate::canonical::spaced(&value);
        text.push('\n');
        text
    }

    pub fn load(path: &std::path::Path) -> Result<ReceiptSet, String> {
        let text =
            crate::limits::read_json_capped(path, crate::limits::MAX_RECEIPTS_BYTES, "receipts")
                .map_err(|e| e.to_string())?;
        let value = crate::canonical::parse_strict(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
        drop(value);
        // Typed from the checked text (from_value's number errors are vague under
        // serde_json's arbitrary_precision, see canonical.rs).
        let set: ReceiptSet = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a receipt set: {e}", path.display()))?;
        if set.schema_version != RECEIPTS_SCHEMA {
            return Err(format!(
                "{} has schema {:?}, expected {RECEIPTS_SCHEMA:?}",
                path.display(),
                set.schema_version
            ));
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn planned() -> PlannedObject {
        PlannedObject {
            path: "evidence.json".into(),
            key: "p/s/d/evidence.json".into(),
            sha256: "aa".repeat(32),
            bytes: 5,
            retention_mode: RetentionMode::Compliance,
            retain_until: DateTime::parse_from_rfc3339("2033-11-22T10:00:00.5Z")
                .unwrap()
                .with_timezone(&Utc),
            legal_hold: true,
            tags: BTreeMap::new(),
            metadata: BTreeMap::new(),
        }
    }

    fn stored() -> StoredObject {
        StoredObject {
            key: "p/s/d/evidence.json".into(),
            version_id: Some("v1".into()),
            etag: None,
            size: 5,
            sha256: Some("aa".repeat(32)),
            sha256_source: crate::store::DigestSource::Claimed,
            md5: None,
            retention_mode: Some(RetentionMode::Compliance),
            retain_until: Some(
                DateTime::parse_from_rfc3339("2033-11-22T10:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            legal_hold: Some(true),
            tags: BTreeMap::new(),
            last_modified: None,
            request_id: None,
            enforcement: Enforcement::Store,
            is_latest: true,
        }
    }

    #[test]
    fn matching_state_has_no_mismatch() {
        assert!(compare(&planned(), &stored()).is_empty());
    }

    #[test]
    fn each_difference_is_named() {
        let cases: Vec<(&str, Box<dyn Fn(&mut StoredObject)>)> = vec![
            ("sha256", Box::new(|s| s.sha256 = Some("bb".repeat(32)))),
            ("sha256", Box::new(|s| s.sha256 = None)),
            ("bytes", Box::new(|s| s.size = 4)),
            (
                "retention_mode",
                Box::new(|s| s.retention_mode = Some(RetentionMode::Governance)),
            ),
            ("retention_mode", Box::new(|s| s.retention_mode = None)),
            (
                "retain_until",
                Box::new(|s| {
                    s.retain_until = Some(s.retain_until.unwrap() - chrono::Duration::seconds(1))
                }),
            ),
            ("retain_until", Box::new(|s| s.retain_until = None)),
            ("legal_hold", Box::new(|s| s.legal_hold = Some(false))),
            ("legal_hold", Box::new(|s| s.legal_hold = None)),
        ];
        for (field, change) in cases {
            let mut state = stored();
            change(&mut state);
            let found = compare(&planned(), &state);
            assert_eq!(found.len(), 1, "{field}: {found:?}");
            assert_eq!(found[0].field.as_str(), field);
        }
    }

    #[test]
    fn unconfirmed_skips_lock_but_not_content() {
        let mut state = stored();
        state.enforcement = Enforcement::Unconfirmed;
        state.retention_mode = None;
        state.retain_until = None;
        state.legal_hold = None;
        assert!(compare(&planned(), &state).is_empty());
        state.sha256 = None;
        assert_eq!(compare(&planned(), &state)[0].field, Field::Sha256);
    }
}
