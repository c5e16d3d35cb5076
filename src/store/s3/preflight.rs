//! Preflight for S3 targets: read the bucket's configuration and judge, check by check, whether
//! it keeps evidence write-once. LocalStack stores policies and public access blocks without
//! enforcing them, and AWS accepts lock headers only on lock-enabled buckets, so the tool judges
//! the configuration it reads rather than trusting the server to refuse (emulators.md).
//!
//! Reading ([`read_bucket`], SDK calls) is separate from judging ([`judge`], pure), so every
//! verdict is unit-tested without a server.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{BucketVersioningStatus, ObjectLockEnabled};

use super::{S3Store, code, describe, policy, status};
use crate::store::{
    CheckStatus, Enforcement, PreflightCheck, PreflightOptions, PreflightReport, StoreError,
};

/// Names of the checks in an S3 [`PreflightReport`], in report order.
pub const CHECK_BUCKET: &str = "bucket";
pub const CHECK_OBJECT_LOCK: &str = "object-lock";
pub const CHECK_VERSIONING: &str = "versioning";
pub const CHECK_DEFAULT_RETENTION: &str = "default-retention";
pub const CHECK_ENCRYPTION: &str = "encryption";
pub const CHECK_PUBLIC_ACCESS_BLOCK: &str = "public-access-block";
pub const CHECK_TLS_POLICY: &str = "tls-only-policy";

/// One configuration read: present, not configured, or not readable (with the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading<T> {
    Found(T),
    Absent,
    Unreadable(String),
}

/// The bucket's default retention rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRetention {
    pub mode: String,
    pub days: Option<i32>,
    pub years: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLockConfig {
    pub enabled: bool,
    pub default_retention: Option<DefaultRetention>,
}

/// One default-encryption rule: algorithm (`aws:kms`, `aws:kms:dsse`, `AES256`) and KMS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionRule {
    pub algorithm: String,
    pub kms_key_id: Option<String>,
}

/// The four public-access-block flags, in the order S3 documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// Everything preflight reads from the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSnapshot {
    pub bucket: String,
    /// `Some(reason)` when the bucket itself cannot be reached (missing, access denied).
    pub unreachable: Option<String>,
    pub object_lock: Reading<ObjectLockConfig>,
    /// Versioning status as S3 reports it (`Enabled`, `Suspended`); absent when never enabled.
    pub versioning: Reading<String>,
    pub encryption: Reading<Vec<EncryptionRule>>,
    pub public_access_block: Reading<PublicAccessBlock>,
    pub policy: Reading<String>,
}

fn check(name: &str, status: CheckStatus, detail: impl Into<String>) -> PreflightCheck {
    PreflightCheck {
        name: name.to_string(),
        status,
        detail: detail.into(),
    }
}

/// Judge a snapshot. Pure: the verdicts depend only on what was read and the options.
pub fn judge(snapshot: &BucketSnapshot, options: &PreflightOptions) -> Vec<PreflightCheck> {
    use CheckStatus::{Fail, Pass, Warn};
    let bucket = &snapshot.bucket;
    if let Some(reason) = &snapshot.unreachable {
        let mut checks = vec![check(
            CHECK_BUCKET,
            Fail,
            format!("bucket {bucket} cannot be used: {reason}"),
        )];
        for name in [
            CHECK_OBJECT_LOCK,
            CHECK_VERSIONING,
            CHECK_DEFAULT_RETENTION,
            CHECK_ENCRYPTION,
            CHECK_PUBLIC_ACCESS_BLOCK,
            CHECK_TLS_POLICY,
        ] {
            checks.push(check(
                name,
                Fail,
                "not checked: the bucket cannot be reached",
            ));
        }
        return checks;
    }
    let unreadable = |name: &str, what: &str, reason: &str| {
        check(
            name,
            Fail,
            format!(
                "cannot read the {what} of {bucket}: {reason}; grant the caller read access to it"
            ),
        )
    };
    let mut checks = vec![check(
        CHECK_BUCKET,
        Pass,
        format!("bucket {bucket} is reachable"),
    )];

    // Object Lock, and the default retention rule that comes with it.
    match &snapshot.object_lock {
        Reading::Found(config) if config.enabled => {
            checks.push(check(CHECK_OBJECT_LOCK, Pass, "Object Lock is enabled"));
            checks.push(match &config.default_retention {
                Some(rule) => {
                    let period = match (rule.days, rule.years) {
                        (Some(days), _) => format!("{days} days"),
                        (None, Some(years)) => format!("{years} years"),
                        (None, None) => "no period".to_string(),
                    };
                    if rule.mode.eq_ignore_ascii_case("COMPLIANCE") {
                        check(CHECK_DEFAULT_RETENTION, Pass, format!("default retention {} {period}", rule.mode))
                    } else {
                        check(CHECK_DEFAULT_RETENTION, Warn, format!(
                            "default retention {} {period}: privileged users can shorten it; wormvault still sets the requested mode on every object",
                            rule.mode
                        ))
                    }
                }
                None => check(CHECK_DEFAULT_RETENTION, Warn,
                    "no default retention: objects written by other tools are not locked; wormvault sets retention on every object it writes"),
            });
        }
        Reading::Found(_) | Reading::Absent => {
            checks.push(check(CHECK_OBJECT_LOCK, Fail, format!(
                "Object Lock is not enabled on {bucket}: objects could be deleted or overwritten; use a bucket created with Object Lock (see infra/aws/evidence-bucket.yaml)"
            )));
            checks.push(check(
                CHECK_DEFAULT_RETENTION,
                Warn,
                "no default retention (Object Lock is not enabled)",
            ));
        }
        Reading::Unreadable(reason) => {
            checks.push(unreadable(
                CHECK_OBJECT_LOCK,
                "Object Lock configuration",
                reason,
            ));
            checks.push(check(
                CHECK_DEFAULT_RETENTION,
                Warn,
                "default retention unknown (Object Lock configuration unreadable)",
            ));
        }
    }

    checks.push(match &snapshot.versioning {
        Reading::Found(state) if state == "Enabled" => check(CHECK_VERSIONING, Pass, "versioning is Enabled"),
        Reading::Found(state) => check(CHECK_VERSIONING, Fail, format!(
            "versioning is {state} on {bucket}: overwrites would replace evidence; enable versioning (Object Lock requires it)"
        )),
        Reading::Absent => check(CHECK_VERSIONING, Fail, format!(
            "versioning was never enabled on {bucket}: overwrites would replace evidence; enable versioning (Object Lock requires it)"
        )),
        Reading::Unreadable(reason) => unreadable(CHECK_VERSIONING, "versioning status", reason),
    });

    checks.push(match &snapshot.encryption {
        Reading::Found(rules) => {
            let kms = rules.iter().find(|r| r.algorithm.starts_with("aws:kms"));
            let sse_s3 = rules.iter().any(|r| r.algorithm == "AES256");
            match (kms, sse_s3) {
                (Some(rule), _) => check(CHECK_ENCRYPTION, Pass, format!(
                    "default encryption {} with key {}",
                    rule.algorithm,
                    rule.kms_key_id.as_deref().unwrap_or("aws/s3 (AWS managed)")
                )),
                (None, true) if options.allow_sse_s3 => check(CHECK_ENCRYPTION, Warn,
                    "default encryption is SSE-S3 (AES256), accepted because SSE-S3 was explicitly allowed; SSE-KMS gives key-level access control and audit"),
                (None, true) => check(CHECK_ENCRYPTION, Fail, format!(
                    "default encryption of {bucket} is SSE-S3 (AES256), not SSE-KMS; configure SSE-KMS with a customer managed key, or explicitly allow SSE-S3"
                )),
                (None, false) => check(CHECK_ENCRYPTION, Fail, format!(
                    "default encryption of {bucket} uses {}; configure SSE-KMS",
                    rules.iter().map(|r| r.algorithm.as_str()).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        Reading::Absent => check(CHECK_ENCRYPTION, Fail, format!(
            "no default encryption on {bucket}; configure SSE-KMS with a customer managed key"
        )),
        Reading::Unreadable(reason) => unreadable(CHECK_ENCRYPTION, "default encryption", reason),
    });

    checks.push(match &snapshot.public_access_block {
        Reading::Found(block) => {
            let off: Vec<&str> = [
                ("BlockPublicAcls", block.block_public_acls),
                ("IgnorePublicAcls", block.ignore_public_acls),
                ("BlockPublicPolicy", block.block_public_policy),
                ("RestrictPublicBuckets", block.restrict_public_buckets),
            ]
            .into_iter()
            .filter(|(_, on)| !on)
            .map(|(name, _)| name)
            .collect();
            if off.is_empty() {
                check(
                    CHECK_PUBLIC_ACCESS_BLOCK,
                    Pass,
                    "all four public access block settings are on",
                )
            } else {
                check(
                    CHECK_PUBLIC_ACCESS_BLOCK,
                    Fail,
                    format!(
                        "public access block of {bucket} has {} off; turn all four settings on",
                        off.join(", ")
                    ),
                )
            }
        }
        Reading::Absent => check(
            CHECK_PUBLIC_ACCESS_BLOCK,
            Fail,
            format!("no public access block on {bucket}; turn on all four settings"),
        ),
        Reading::Unreadable(reason) => {
            unreadable(CHECK_PUBLIC_ACCESS_BLOCK, "public access block", reason)
        }
    });

    checks.push(match &snapshot.policy {
        Reading::Found(document) => match policy::denies_insecure_transport(document, bucket) {
            Ok(statement) => check(CHECK_TLS_POLICY, Pass, format!("bucket policy {statement} denies every request without TLS")),
            Err(reason) => check(CHECK_TLS_POLICY, Fail, format!(
                "bucket policy of {bucket} does not enforce TLS: {reason}; add a Deny of s3:* for Principal \"*\" on the bucket and its objects with Condition Bool aws:SecureTransport \"false\""
            )),
        },
        Reading::Absent => check(CHECK_TLS_POLICY, Fail, format!(
            "no bucket policy on {bucket}, so requests without TLS are allowed; add a Deny statement with Condition Bool aws:SecureTransport \"false\""
        )),
        Reading::Unreadable(reason) => unreadable(CHECK_TLS_POLICY, "bucket policy", reason),
    });
    checks
}

/// Map a configuration read: a "not configured" error code becomes [`Reading::Absent`], other
/// service errors (access denied, ...) [`Reading::Unreadable`], transport failures an error.
fn reading<T, E>(
    store: &S3Store,
    operation: &str,
    result: Result<T, SdkError<E>>,
    absent_codes: &[&str],
) -> Result<Reading<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(value) => Ok(Reading::Found(value)),
        Err(error @ SdkError::ServiceError(_)) => {
            if code(&error).is_some_and(|c| absent_codes.contains(&c)) {
                Ok(Reading::Absent)
            } else {
                Ok(Reading::Unreadable(describe(&error)))
            }
        }
        Err(error) => Err(store.cloud_error(operation, None, &error)),
    }
}

/// Read the bucket's configuration with the store's client.
pub(super) async fn read_bucket(store: &S3Store) -> Result<BucketSnapshot, StoreError> {
    let client = &store.client;
    let bucket = store.bucket.clone();
    let empty = |unreachable: String| BucketSnapshot {
        bucket: bucket.clone(),
        unreachable: Some(unreachable),
        object_lock: Reading::Absent,
        versioning: Reading::Absent,
        encryption: Reading::Absent,
        public_access_block: Reading::Absent,
        policy: Reading::Absent,
    };
    match client.head_bucket().bucket(&bucket).send().await {
        Ok(_) => {}
        Err(error @ SdkError::ServiceError(_)) => {
            let reason = match status(&error) {
                Some(404) => {
                    "it does not exist (HeadBucket: 404 Not Found); create it or fix the target"
                        .to_string()
                }
                Some(403) => {
                    "access denied (HeadBucket: 403); grant s3:ListBucket on it".to_string()
                }
                _ => describe(&error),
            };
            return Ok(empty(reason));
        }
        Err(error) => return Err(store.cloud_error("HeadBucket", None, &error)),
    }

    let lock = client
        .get_object_lock_configuration()
        .bucket(&bucket)
        .send()
        .await
        .map(|out| {
            let config = out.object_lock_configuration();
            ObjectLockConfig {
                enabled: config.and_then(|c| c.object_lock_enabled())
                    == Some(&ObjectLockEnabled::Enabled),
                default_retention: config
                    .and_then(|c| c.rule())
                    .and_then(|r| r.default_retention())
                    .map(|d| DefaultRetention {
                        mode: d
                            .mode()
                            .map(|m| m.as_str().to_string())
                            .unwrap_or_else(|| "(no mode)".into()),
                        days: d.days(),
                        years: d.years(),
                    }),
            }
        });
    let object_lock = reading(
        store,
        "GetObjectLockConfiguration",
        lock,
        &["ObjectLockConfigurationNotFoundError"],
    )?;

    let versioning = client
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .map(|out| out.status().cloned());
    let versioning = match reading(store, "GetBucketVersioning", versioning, &[])? {
        Reading::Found(Some(BucketVersioningStatus::Enabled)) => {
            Reading::Found("Enabled".to_string())
        }
        Reading::Found(Some(other)) => Reading::Found(other.as_str().to_string()),
        Reading::Found(None) | Reading::Absent => Reading::Absent,
        Reading::Unreadable(reason) => Reading::Unreadable(reason),
    };

    let encryption = client
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .map(|out| {
            out.server_side_encryption_configuration()
                .map(|c| c.rules())
                .unwrap_or_default()
                .iter()
                .filter_map(|rule| rule.apply_server_side_encryption_by_default())
                .map(|default| EncryptionRule {
                    algorithm: default.sse_algorithm().as_str().to_string(),
                    kms_key_id: default.kms_master_key_id().map(str::to_string),
                })
                .collect::<Vec<_>>()
        });
    let encryption = match reading(
        store,
        "GetBucketEncryption",
        encryption,
        &["ServerSideEncryptionConfigurationNotFoundError"],
    )? {
        Reading::Found(rules) if rules.is_empty() => Reading::Absent,
        other => other,
    };

    let block = client
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .map(|out| {
            let config = out.public_access_block_configuration();
            PublicAccessBlock {
                block_public_acls: config.and_then(|c| c.block_public_acls()).unwrap_or(false),
                ignore_public_acls: config.and_then(|c| c.ignore_public_acls()).unwrap_or(false),
                block_public_policy: config
                    .and_then(|c| c.block_public_policy())
                    .unwrap_or(false),
                restrict_public_buckets: config
                    .and_then(|c| c.restrict_public_buckets())
                    .unwrap_or(false),
            }
        });
    let public_access_block = reading(
        store,
        "GetPublicAccessBlock",
        block,
        &["NoSuchPublicAccessBlockConfiguration"],
    )?;

    let document = client
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .map(|out| out.policy().map(str::to_string));
    let policy = match reading(store, "GetBucketPolicy", document, &["NoSuchBucketPolicy"])? {
        Reading::Found(Some(text)) => Reading::Found(text),
        Reading::Found(None) | Reading::Absent => Reading::Absent,
        Reading::Unreadable(reason) => Reading::Unreadable(reason),
    };

    Ok(BucketSnapshot {
        bucket,
        unreachable: None,
        object_lock,
        versioning,
        encryption,
        public_access_block,
        policy,
    })
}

pub(super) async fn run(
    store: &S3Store,
    options: &PreflightOptions,
) -> Result<PreflightReport, StoreError> {
    let snapshot = read_bucket(store).await?;
    let checks = judge(&snapshot, options);
    // The store enforces immutability only when nothing failed; otherwise receipts must not claim it.
    let enforcement = if checks.iter().all(|c| c.status != CheckStatus::Fail) {
        Enforcement::Store
    } else {
        Enforcement::Unconfirmed
    };
    Ok(PreflightReport {
        target: store.target.to_string(),
        checks,
        enforcement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*",
        "Resource":["arn:aws:s3:::evidence","arn:aws:s3:::evidence/*"],
        "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;

    fn good() -> BucketSnapshot {
        BucketSnapshot {
            bucket: "evidence".into(),
            unreachable: None,
            object_lock: Reading::Found(ObjectLockConfig {
                enabled: true,
                default_retention: Some(DefaultRetention {
                    mode: "COMPLIANCE".into(),
                    days: Some(2555),
                    years: None,
                }),
            }),
            versioning: Reading::Found("Enabled".into()),
            encryption: Reading::Found(vec![EncryptionRule {
                algorithm: "aws:kms".into(),
                kms_key_id: Some("arn:aws:kms:us-east-1:0:key/k".into()),
            }]),
            public_access_block: Reading::Found(PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            }),
            policy: Reading::Found(POLICY.into()),
        }
    }

    fn verdicts(
        snapshot: &BucketSnapshot,
        options: &PreflightOptions,
    ) -> Vec<(String, CheckStatus)> {
        judge(snapshot, options)
            .into_iter()
            .map(|c| (c.name, c.status))
            .collect()
    }

    fn failing(snapshot: &BucketSnapshot) -> Vec<String> {
        judge(snapshot, &PreflightOptions::default())
            .into_iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn well_configured_bucket_passes_every_check() {
        let checks = judge(&good(), &PreflightOptions::default());
        assert_eq!(
            checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            [
                CHECK_BUCKET,
                CHECK_OBJECT_LOCK,
                CHECK_DEFAULT_RETENTION,
                CHECK_VERSIONING,
                CHECK_ENCRYPTION,
                CHECK_PUBLIC_ACCESS_BLOCK,
                CHECK_TLS_POLICY
            ]
        );
        assert!(
            checks.iter().all(|c| c.status == CheckStatus::Pass),
            "{checks:#?}"
        );
        assert!(checks[2].detail.contains("COMPLIANCE 2555 days"));
    }

    #[test]
    fn each_misconfiguration_fails_its_own_check() {
        let mut s = good();
        s.object_lock = Reading::Absent;
        assert_eq!(failing(&s), [CHECK_OBJECT_LOCK]);
        s.object_lock = Reading::Found(ObjectLockConfig {
            enabled: false,
            default_retention: None,
        });
        assert_eq!(failing(&s), [CHECK_OBJECT_LOCK]);

        let mut s = good();
        s.versioning = Reading::Found("Suspended".into());
        assert_eq!(failing(&s), [CHECK_VERSIONING]);
        s.versioning = Reading::Absent;
        assert_eq!(failing(&s), [CHECK_VERSIONING]);

        let mut s = good();
        s.encryption = Reading::Absent;
        assert_eq!(failing(&s), [CHECK_ENCRYPTION]);

        let mut s = good();
        s.public_access_block = Reading::Found(PublicAccessBlock {
            restrict_public_buckets: false,
            ..PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            }
        });
        let checks = judge(&s, &PreflightOptions::default());
        let block = checks
            .iter()
            .find(|c| c.name == CHECK_PUBLIC_ACCESS_BLOCK)
            .unwrap();
        assert_eq!(block.status, CheckStatus::Fail);
        assert!(
            block.detail.contains("RestrictPublicBuckets off"),
            "{}",
            block.detail
        );
        s.public_access_block = Reading::Absent;
        assert_eq!(failing(&s), [CHECK_PUBLIC_ACCESS_BLOCK]);

        let mut s = good();
        s.policy = Reading::Absent;
        assert_eq!(failing(&s), [CHECK_TLS_POLICY]);
        s.policy = Reading::Found(POLICY.replace("false", "true"));
        assert_eq!(failing(&s), [CHECK_TLS_POLICY]);

        let mut s = good();
        s.policy = Reading::Unreadable("AccessDenied (HTTP 403): denied".into());
        let checks = judge(&s, &PreflightOptions::default());
        let tls = checks.iter().find(|c| c.name == CHECK_TLS_POLICY).unwrap();
        assert_eq!(tls.status, CheckStatus::Fail);
        assert!(tls.detail.contains("AccessDenied"));
    }

    #[test]
    fn sse_s3_needs_the_explicit_option() {
        let mut s = good();
        s.encryption = Reading::Found(vec![EncryptionRule {
            algorithm: "AES256".into(),
            kms_key_id: None,
        }]);
        assert_eq!(failing(&s), [CHECK_ENCRYPTION]);
        let allowed = verdicts(
            &s,
            &PreflightOptions {
                allow_sse_s3: true,
                ..Default::default()
            },
        );
        assert!(allowed.contains(&(CHECK_ENCRYPTION.to_string(), CheckStatus::Warn)));
    }

    #[test]
    fn missing_or_governance_default_retention_only_warns() {
        let mut s = good();
        s.object_lock = Reading::Found(ObjectLockConfig {
            enabled: true,
            default_retention: None,
        });
        assert!(failing(&s).is_empty());
        assert!(
            verdicts(&s, &PreflightOptions::default())
                .contains(&(CHECK_DEFAULT_RETENTION.to_string(), CheckStatus::Warn))
        );
        s.object_lock = Reading::Found(ObjectLockConfig {
            enabled: true,
            default_retention: Some(DefaultRetention {
                mode: "GOVERNANCE".into(),
                days: None,
                years: Some(7),
            }),
        });
        assert!(
            verdicts(&s, &PreflightOptions::default())
                .contains(&(CHECK_DEFAULT_RETENTION.to_string(), CheckStatus::Warn))
        );
    }

    #[test]
    fn unreachable_bucket_fails_everything() {
        let mut s = good();
        s.unreachable = Some("it does not exist".into());
        let checks = judge(&s, &PreflightOptions::default());
        assert_eq!(checks.len(), 7);
        assert!(checks.iter().all(|c| c.status == CheckStatus::Fail));
        assert!(checks[0].detail.contains("does not exist"));
    }
}
