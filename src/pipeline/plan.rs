//! The storage plan: a pure function from verified inputs to a serialisable plan saying where
//! each object goes, with which lock, hold, tags and checksum — reviewable before anything is
//! written (house style habit 4: plan, then execute).
//!
//! The plan is a superset of CAVRA's `cavra.immutable-storage-plan.v1` (cavra-compat.md §5): it
//! keeps CAVRA's `bundle`, `retention`, `s3_object_lock`, `azure_immutable_blob` and `files`
//! sections and adds the session-scoped `objects` list wormvault executes.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::retention::{self, RetentionError};
use crate::store::{Key, LockSpec, RetentionMode, Target};

pub const CAVRA_PLAN_SCHEMA: &str = "cavra.immutable-storage-plan.v1";
pub const PLAN_FORMAT: &str = "wormvault.storage-plan.v1";

/// One file of a verified bundle, as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    /// Path relative to the bundle directory (`/`-separated).
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// What the plan is made from: a bundle that has already been verified.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// wormvault's bundle digest (see `bundle` module): what the plan is bound to.
    pub bundle_digest: String,
    /// The manifest's `signature` object as written (CAVRA's plan carries it).
    pub manifest_signature: serde_json::Value,
    pub created_at: String,
    pub signer: String,
    pub session_id: String,
    pub classification: Option<String>,
    pub retention_days: u32,
    /// The bundle's own retain-until (retention-policy.json), if it has one.
    pub policy_retain_until: Option<DateTime<Utc>>,
    /// Every object to store: the manifest's files plus `manifest.json` itself.
    pub files: Vec<PlanFile>,
}

/// Choices made by the person running the archive.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub target: Target,
    pub mode: RetentionMode,
    /// Case id when a legal hold is requested at upload.
    pub legal_hold_case: Option<String>,
    pub minimum_retention_days: u32,
    /// When the plan is made; retain-until is counted from here.
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedObject {
    /// Path inside the bundle.
    pub path: String,
    /// Full key in the store (target prefix / session / bundle digest / path).
    pub key: String,
    pub sha256: String,
    pub bytes: u64,
    pub retention_mode: RetentionMode,
    pub retain_until: DateTime<Utc>,
    pub legal_hold: bool,
    pub tags: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
}

impl PlannedObject {
    pub fn lock(&self) -> LockSpec {
        LockSpec {
            mode: self.retention_mode,
            retain_until: self.retain_until,
            legal_hold: self.legal_hold,
        }
    }
}

/// The plan document. Field order follows CAVRA's plan first, then wormvault's additions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoragePlan {
    pub schema_version: String,
    pub product: String,
    pub format: String,
    pub created_at: String,
    pub bundle: PlanBundle,
    pub retention: PlanRetention,
    pub s3_object_lock: Option<S3Section>,
    pub azure_immutable_blob: Option<AzureSection>,
    pub files: Vec<CavraFile>,
    /// wormvault additions.
    pub target: String,
    pub session_id: String,
    pub bundle_digest: String,
    /// `<target prefix>/<session_id>/<bundle_digest>`: everything this plan writes is below it.
    pub session_prefix: String,
    pub objects: Vec<PlannedObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanBundle {
    pub manifest_signature: serde_json::Value,
    pub created_at: String,
    pub signer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRetention {
    pub mode: RetentionMode,
    pub retention_days: u32,
    pub retain_until: DateTime<Utc>,
    pub delete_protection: bool,
    pub legal_hold_supported: bool,
    pub legal_hold: bool,
    pub legal_hold_case: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Section {
    pub bucket: String,
    pub prefix: String,
    pub object_lock_enabled: bool,
    pub default_retention_mode: String,
    pub default_retention_days: u32,
    pub required_bucket_versioning: bool,
    pub required_kms_encryption: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureSection {
    pub account: String,
    pub container: String,
    pub immutability_policy_days: u32,
    pub allow_protected_append_writes: bool,
    pub required_versioning: bool,
    pub required_infrastructure_encryption: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CavraFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub s3_uri: Option<String>,
    pub azure_blob: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Retention(#[from] RetentionError),
    #[error("bundle file path {path:?} is not a safe relative path")]
    UnsafePath { path: String },
    #[error(
        "session id {session_id:?} must be 1-128 characters of letters, digits, '.', '_' or '-', and not begin with _wormvault (the tool's own namespace)"
    )]
    BadSessionId { session_id: String },
    #[error("bundle lists {path:?} twice")]
    DuplicatePath { path: String },
    #[error("cannot read plan {path}: {message}")]
    Read { path: String, message: String },
    #[error("object {key} cannot be stored on {target}: {message}; nothing was written")]
    Unstorable {
        key: String,
        target: String,
        message: String,
    },
}

/// Bytes of a bundle path written as `%XX` in the `bundle-path` metadata: ASCII controls, space
/// and `%` here, and every byte of a non-ASCII character (UTF-8, as URLs percent-encode it).
/// S3 and Azure metadata travel as HTTP headers, visible ASCII only, so `Café.md` is stored as
/// `Caf%C3%A9.md`; a path of visible ASCII without `%` is stored as it is.
const BUNDLE_PATH_ESCAPE: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'%');

/// The `bundle-path` metadata value of a bundle path (see [`BUNDLE_PATH_ESCAPE`]).
pub fn encode_bundle_path(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, BUNDLE_PATH_ESCAPE).to_string()
}

/// The bundle path a `bundle-path` metadata value stands for; `None` if it is not UTF-8 once
/// decoded. Every reader that compares the metadata with a path decodes it with this.
pub fn decode_bundle_path(value: &str) -> Option<String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(|p| p.into_owned())
}

fn valid_session_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && id != "."
        && id != ".."
        // The tool's own namespace at a store's root (hold registry checkpoints, …).
        && !id.to_ascii_lowercase().starts_with("_wormvault")
}

/// Make the plan. Pure: same input, same plan.
pub fn plan(input: &PlanInput, options: &PlanOptions) -> Result<StoragePlan, PlanError> {
    retention::check_minimum(
        i64::from(input.retention_days),
        options.minimum_retention_days,
    )?;
    if !valid_session_id(&input.session_id) {
        return Err(PlanError::BadSessionId {
            session_id: input.session_id.clone(),
        });
    }
    // Lock until the later of the bundle's own retain-until and the calendar-year date counted
    // from now, and never less than the policy minimum from now.
    let days = input.retention_days.max(options.minimum_retention_days);
    let mut retain_until = retention::retain_until(options.now, days)?;
    if let Some(policy_until) = input.policy_retain_until {
        retain_until = retain_until.max(policy_until);
    }
    // Stores keep retain-until at whole seconds: round up so the lock never ends early.
    if retain_until.timestamp_subsec_nanos() != 0 {
        retain_until =
            DateTime::from_timestamp(retain_until.timestamp() + 1, 0).unwrap_or(retain_until);
    }
    retention::check_retain_until(retain_until, options.now, options.minimum_retention_days)?;

    let session_prefix = options
        .target
        .key(&format!("{}/{}", input.session_id, input.bundle_digest));
    let legal_hold = options.legal_hold_case.is_some();
    let mut files = input.files.clone();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut objects = Vec::with_capacity(files.len());
    let mut cavra_files = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        if Key::parse(&file.path).is_err() {
            return Err(PlanError::UnsafePath {
                path: file.path.clone(),
            });
        }
        if index > 0 && files[index - 1].path == file.path {
            return Err(PlanError::DuplicatePath {
                path: file.path.clone(),
            });
        }
        let key = format!("{session_prefix}/{}", file.path);
        let mut tags = BTreeMap::new();
        tags.insert("wormvault-session".to_string(), input.session_id.clone());
        tags.insert(
            "wormvault-bundle-digest".to_string(),
            input.bundle_digest.clone(),
        );
        if let Some(case) = &options.legal_hold_case {
            tags.insert("wormvault-case-id".to_string(), case.clone());
        }
        let mut metadata = BTreeMap::new();
        metadata.insert("sha256".to_string(), file.sha256.clone());
        metadata.insert("bundle-path".to_string(), encode_bundle_path(&file.path));
        metadata.insert("session-id".to_string(), input.session_id.clone());
        // Refuse here what the store would refuse: no upload may fail on its metadata or tags
        // after others were stored (and locked).
        crate::store::check_fields(&options.target, &key, &metadata, &tags).map_err(|e| {
            PlanError::Unstorable {
                key: key.clone(),
                target: options.target.to_string(),
                message: match e {
                    crate::store::StoreError::Config(message) => message,
                    other => other.to_string(),
                },
            }
        })?;
        let (s3_uri, azure_blob) = match &options.target {
            Target::S3 { bucket, .. } => (Some(format!("s3://{bucket}/{key}")), None),
            Target::Azure { container, .. } => (None, Some(format!("{container}/{key}"))),
            Target::Local { .. } => (None, None),
        };
        cavra_files.push(CavraFile {
            path: file.path.clone(),
            sha256: file.sha256.clone(),
            bytes: file.bytes,
            s3_uri,
            azure_blob,
        });
        objects.push(PlannedObject {
            path: file.path.clone(),
            key,
            sha256: file.sha256.clone(),
            bytes: file.bytes,
            retention_mode: options.mode,
            retain_until,
            legal_hold,
            tags,
            metadata,
        });
    }
    let mode_name = match options.mode {
        RetentionMode::Compliance => "COMPLIANCE",
        RetentionMode::Governance => "GOVERNANCE",
    };
    Ok(StoragePlan {
        schema_version: CAVRA_PLAN_SCHEMA.to_string(),
        product: "wormvault".to_string(),
        format: PLAN_FORMAT.to_string(),
        created_at: options.now.to_rfc3339_opts(SecondsFormat::Secs, false),
        bundle: PlanBundle {
            manifest_signature: input.manifest_signature.clone(),
            created_at: input.created_at.clone(),
            signer: input.signer.clone(),
        },
        retention: PlanRetention {
            mode: options.mode,
            retention_days: days,
            retain_until,
            delete_protection: true,
            legal_hold_supported: true,
            legal_hold,
            legal_hold_case: options.legal_hold_case.clone(),
        },
        s3_object_lock: match &options.target {
            Target::S3 { bucket, prefix } => Some(S3Section {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                object_lock_enabled: true,
                default_retention_mode: mode_name.to_string(),
                default_retention_days: days,
                required_bucket_versioning: true,
                required_kms_encryption: true,
            }),
            _ => None,
        },
        azure_immutable_blob: match &options.target {
            Target::Azure {
                account, container, ..
            } => Some(AzureSection {
                account: account.clone(),
                container: container.clone(),
                immutability_policy_days: days,
                allow_protected_append_writes: false,
                required_versioning: true,
                required_infrastructure_encryption: true,
            }),
            _ => None,
        },
        files: cavra_files,
        target: options.target.to_string(),
        session_id: input.session_id.clone(),
        bundle_digest: input.bundle_digest.clone(),
        session_prefix,
        objects,
    })
}

impl StoragePlan {
    /// Load a reviewed plan from disk.
    pub fn load(path: &std::path::Path) -> Result<StoragePlan, PlanError> {
        let read_error = |message: String| PlanError::Read {
            path: path.display().to_string(),
            message,
        };
        let text =
            crate::limits::read_json_capped(path, crate::limits::MAX_PLAN_BYTES, "storage plan")
                .map_err(|e| read_error(e.to_string()))?;
        let value = crate::canonical::parse_strict(&text).map_err(|e| read_error(e.to_string()))?;
        drop(value);
        // Typed from the checked text, not from the Value: serde_json's arbitrary_precision
        // (canonical.rs) makes from_value's number errors vague ("invalid number").
        let plan: StoragePlan =
            serde_json::from_str(&text).map_err(|e| read_error(e.to_string()))?;
        if plan.format != PLAN_FORMAT {
            return Err(read_error(format!(
                "format is {:?}, expected {PLAN_FORMAT:?}",
                plan.format
            )));
        }
        for object in &plan.objects {
            if Key::parse(&object.path).is_err() || !object.key.starts_with(&plan.session_prefix) {
                return Err(read_error(format!(
                    "object {:?} is outside the session prefix",
                    object.key
                )));
            }
        }
        Ok(plan)
    }

    /// SHA-256 of the plan's canonical JSON: receipts point at the exact plan they executed.
    pub fn digest(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        crate::hashing::sha256_hex(crate::canonical::compact(&value).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PlanInput {
        PlanInput {
            bundle_digest: "ab".repeat(32),
            manifest_signature: serde_json::json!({"algorithm": "HS256", "value": "x"}),
            created_at: "2026-11-22T05:51:34+00:00".into(),
            signer: "platform-security".into(),
            session_id: "release-1".into(),
            classification: None,
            retention_days: 2555,
            policy_retain_until: None,
            files: vec![
                PlanFile {
                    path: "manifest.json".into(),
                    sha256: "11".repeat(32),
                    bytes: 10,
                },
                PlanFile {
                    path: "evidence.json".into(),
                    sha256: "22".repeat(32),
                    bytes: 20,
                },
            ],
        }
    }

    fn options(target: &str) -> PlanOptions {
        PlanOptions {
            target: Target::parse(target).unwrap(),
            mode: RetentionMode::Compliance,
            legal_hold_case: Some("CASE-7".into()),
            minimum_retention_days: 2555,
            now: DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn bundle_path_metadata_is_percent_encoded_visible_ascii() {
        let mut input = input();
        input.files[1].path = "Café notes%.md".into();
        for target in [
            "s3://evidence/releases",
            "azure://acct/c/releases",
            "file:///v",
        ] {
            let plan = plan(&input, &options(target)).unwrap();
            let object = plan
                .objects
                .iter()
                .find(|o| o.path == "Café notes%.md")
                .unwrap();
            assert_eq!(object.metadata["bundle-path"], "Caf%C3%A9%20notes%25.md");
            assert_eq!(
                decode_bundle_path(&object.metadata["bundle-path"]).as_deref(),
                Some("Café notes%.md")
            );
            // The key keeps the path as it is; only the metadata is encoded.
            assert!(object.key.ends_with("/Café notes%.md"));
        }
        assert_eq!(encode_bundle_path("evidence.json"), "evidence.json");
    }

    #[test]
    fn metadata_or_tags_a_store_would_refuse_are_refused_at_plan() {
        // 400 × 'é' is 2400 characters once encoded: over S3's 2 KB of metadata, within Azure's 8 KB.
        let mut input = input();
        input.files[1].path = "é".repeat(400);
        let refused = plan(&input, &options("s3://evidence/releases")).unwrap_err();
        assert!(
            matches!(&refused, PlanError::Unstorable { key, .. } if key.ends_with(&input.files[1].path)),
            "{refused:?}"
        );
        assert!(
            refused
                .to_string()
                .contains("bytes; S3 allows at most 2048; nothing was written"),
            "{refused}"
        );
        plan(&input, &options("azure://acct/c/releases")).unwrap();
        plan(&input, &options("file:///v")).unwrap();
        // A case id outside Azure's tag alphabet is refused for Azure at plan, not at upload.
        let mut options = options("azure://acct/c/releases");
        options.legal_hold_case = Some("CASE#7".into());
        let refused = plan(&super::tests::input(), &options).unwrap_err();
        assert!(refused.to_string().contains("blob index tags"), "{refused}");
    }

    #[test]
    fn session_scoped_keys_locks_and_tags() {
        let plan = plan(&input(), &options("s3://evidence/releases")).unwrap();
        let digest = "ab".repeat(32);
        assert_eq!(plan.session_prefix, format!("releases/release-1/{digest}"));
        assert_eq!(plan.objects[0].path, "evidence.json");
        assert_eq!(
            plan.objects[0].key,
            format!("releases/release-1/{digest}/evidence.json")
        );
        assert_eq!(
            plan.objects[0].retain_until.to_rfc3339(),
            "2033-11-22T10:00:00+00:00"
        );
        assert!(
            plan.objects
                .iter()
                .all(|o| o.legal_hold && o.retention_mode == RetentionMode::Compliance)
        );
        assert_eq!(plan.objects[1].tags["wormvault-case-id"], "CASE-7");
        assert_eq!(
            plan.files[0].s3_uri.as_deref(),
            Some(&*format!(
                "s3://evidence/releases/release-1/{digest}/evidence.json"
            ))
        );
        assert_eq!(
            plan.s3_object_lock.as_ref().unwrap().default_retention_days,
            2555
        );
        assert!(plan.azure_immutable_blob.is_none());
        // Pure: same input, same plan and digest.
        assert_eq!(
            plan.digest(),
            super::plan(&input(), &options("s3://evidence/releases"))
                .unwrap()
                .digest()
        );
    }

    #[test]
    fn refuses_short_retention_bad_paths_and_sessions() {
        let mut short = input();
        short.retention_days = 2554;
        assert!(matches!(
            plan(&short, &options("s3://evidence/x")),
            Err(PlanError::Retention(_))
        ));
        let mut traversal = input();
        traversal.files[0].path = "../escape".into();
        assert!(matches!(
            plan(&traversal, &options("s3://evidence/x")),
            Err(PlanError::UnsafePath { .. })
        ));
        // The shared key rule (store::Key) also refuses NUL and backslash, which the plan's own
        // check used to let through.
        for path in ["a\0b", "dir\\..\\escape", "a//b"] {
            let mut hostile = input();
            hostile.files[0].path = path.into();
            assert!(
                matches!(
                    plan(&hostile, &options("s3://evidence/x")),
                    Err(PlanError::UnsafePath { .. })
                ),
                "{path:?}"
            );
        }
        for id in ["a/b", "_wormvault", "_WormVault-holds", ".."] {
            let mut session = input();
            session.session_id = id.into();
            assert!(
                matches!(
                    plan(&session, &options("s3://evidence")),
                    Err(PlanError::BadSessionId { .. })
                ),
                "{id}"
            );
        }
        let mut session = input();
        session.session_id = "release_wormvault".into();
        assert!(plan(&session, &options("s3://evidence")).is_ok());
        let mut dup = input();
        dup.files[1].path = "manifest.json".into();
        assert!(matches!(
            plan(&dup, &options("s3://evidence/x")),
            Err(PlanError::DuplicatePath { .. })
        ));
    }

    #[test]
    fn policy_retain_until_later_wins() {
        let mut later = input();
        let until = DateTime::parse_from_rfc3339("2040-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        later.policy_retain_until = Some(until);
        let plan = plan(&later, &options("azure://acct/evidence")).unwrap();
        assert_eq!(plan.retention.retain_until, until);
        assert_eq!(
            plan.files[0]
                .azure_blob
                .as_deref()
                .map(|b| b.starts_with("evidence/release-1/")),
            Some(true)
        );
    }
}
