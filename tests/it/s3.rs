//! S3 Object Lock backend against LocalStack: preflight verdicts on real bucket configurations,
//! locked create-only uploads (single PUT and multipart) checked with direct SDK calls, legal
//! holds, dangling multipart cleanup, the backend conformance suite, and the CloudFormation
//! template deployed to LocalStack. Outside CI a missing LocalStack skips (with a printed reason);
//! with CI=true it fails.

use crate::support;

use support::s3::{FULL, Setup, bucket_with};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetentionMode, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use base64::Engine as _;
use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};
use wormvault::plan::{self, PlanFile, PlanInput, PlanOptions, StoragePlan};
use wormvault::store::s3::preflight::{
    CHECK_DEFAULT_RETENTION, CHECK_ENCRYPTION, CHECK_OBJECT_LOCK, CHECK_PUBLIC_ACCESS_BLOCK,
    CHECK_TLS_POLICY, CHECK_VERSIONING,
};
use wormvault::store::s3::{S3Credentials, S3Settings, S3Store};
use wormvault::store::{
    CheckStatus, Enforcement, ImmutableStore, LockSpec, PreflightOptions, PutObject, RetentionMode,
    StoreError, Target,
};
use wormvault::upload::{self, Silent, UploadError, UploadOptions};

const MIB: u64 = 1024 * 1024;

fn settings(endpoint: &str) -> S3Settings {
    S3Settings {
        endpoint_url: Some(endpoint.to_string()),
        region: Some(support::S3_REGION.to_string()),
        credentials: Some(S3Credentials {
            access_key_id: support::S3_ACCESS_KEY.into(),
            secret_access_key: support::S3_SECRET_KEY.into(),
            session_token: None,
        }),
        ..S3Settings::default()
    }
}

async fn store(bucket: &str, prefix: &str, settings: S3Settings) -> S3Store {
    let target = Target::parse(&format!("s3://{bucket}/{prefix}")).unwrap();
    S3Store::connect_with(target, settings)
        .await
        .expect("connect to LocalStack")
}

fn failing_checks(report: &wormvault::store::PreflightReport) -> Vec<String> {
    report.failures().map(|c| c.name.clone()).collect()
}

/// Every object version in a bucket: (key, version id).
async fn versions(client: &Client, bucket: &str) -> Vec<(String, String)> {
    let listed = client
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .expect("list versions");
    listed
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap_or_default().to_string(),
                v.version_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn fixture_bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cavra/bundle-ed25519")
}

/// A plan for the CAVRA fixture bundle (its manifest's files plus manifest.json) to `target`.
fn fixture_plan(target: &str, session: &str) -> StoragePlan {
    let dir = fixture_bundle();
    let manifest_text = std::fs::read(dir.join("manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_text).unwrap();
    let mut files: Vec<PlanFile> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| PlanFile {
            path: f["path"].as_str().unwrap().to_string(),
            sha256: f["sha256"].as_str().unwrap().to_string(),
            bytes: f["bytes"].as_u64().unwrap(),
        })
        .collect();
    files.push(PlanFile {
        path: "manifest.json".into(),
        sha256: wormvault::hashing::sha256_hex(&manifest_text),
        bytes: manifest_text.len() as u64,
    });
    let input = PlanInput {
        bundle_digest: wormvault::hashing::sha256_hex(&manifest_text),
        manifest_signature: manifest["signature"].clone(),
        created_at: manifest["created_at"].as_str().unwrap().to_string(),
        signer: manifest["signer"].as_str().unwrap().to_string(),
        session_id: session.to_string(),
        classification: Some("regulated-sdlc".into()),
        retention_days: 2555,
        policy_retain_until: None,
        files,
    };
    plan::plan(
        &input,
        &PlanOptions {
            target: Target::parse(target).unwrap(),
            mode: RetentionMode::Compliance,
            legal_hold_case: None,
            minimum_retention_days: 2555,
            now: Utc::now(),
        },
    )
    .expect("plan the fixture bundle")
}

fn put_request<'a>(
    key: &str,
    source: &'a Path,
    data_sha256: &str,
    size: u64,
    lock: LockSpec,
) -> PutObject<'a> {
    PutObject {
        key: key.to_string(),
        source,
        size,
        sha256: data_sha256.to_string(),
        lock,
        tags: BTreeMap::from([
            ("wormvault-session".to_string(), "s3-tests".to_string()),
            ("case".to_string(), "INC 42/a+b".to_string()),
        ]),
        metadata: BTreeMap::from([("wormvault-path".to_string(), "x".to_string())]),
        content_type: Some("application/octet-stream".into()),
    }
}

fn compliance(days: i64) -> LockSpec {
    LockSpec {
        mode: RetentionMode::Compliance,
        retain_until: Utc::now() + Duration::days(days),
        legal_hold: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = bucket_with(&s3.client, FULL).await;
    let store = store(&bucket, "", settings(&s3.endpoint)).await;
    let scratch = tempfile::tempdir().unwrap();
    let results =
        wormvault::store::conformance::run(&store, scratch.path(), "conformance-run").await;
    let failures: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
    assert!(failures.is_empty(), "conformance failures: {failures:#?}");
    assert!(results.len() >= 10, "{results:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_passes_on_a_worm_bucket() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = bucket_with(&s3.client, FULL).await;
    let store = store(&bucket, "evidence", settings(&s3.endpoint)).await;
    let report = store.preflight(&PreflightOptions::default()).await.unwrap();
    assert!(
        report.checks.iter().all(|c| c.status == CheckStatus::Pass),
        "{report:#?}"
    );
    assert_eq!(report.enforcement, Enforcement::Store);
    assert_eq!(report.target, format!("s3://{bucket}/evidence"));
    let retention = report
        .checks
        .iter()
        .find(|c| c.name == CHECK_DEFAULT_RETENTION)
        .unwrap();
    assert!(
        retention.detail.contains("COMPLIANCE 2555 days"),
        "{}",
        retention.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misconfigured_buckets_are_refused_before_any_write() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let cases: [(&str, Setup, &[&str]); 5] = [
        (
            "no object lock",
            Setup {
                lock: false,
                ..FULL
            },
            &[CHECK_OBJECT_LOCK],
        ),
        (
            "versioning off",
            Setup {
                lock: false,
                versioning: false,
                ..FULL
            },
            &[CHECK_OBJECT_LOCK, CHECK_VERSIONING],
        ),
        (
            "no encryption",
            Setup {
                encryption: false,
                ..FULL
            },
            &[CHECK_ENCRYPTION],
        ),
        (
            "no public access block",
            Setup {
                public_access_block: false,
                ..FULL
            },
            &[CHECK_PUBLIC_ACCESS_BLOCK],
        ),
        (
            "no TLS policy",
            Setup {
                tls_policy: false,
                ..FULL
            },
            &[CHECK_TLS_POLICY],
        ),
    ];
    for (name, setup, expected) in cases {
        let bucket = bucket_with(&s3.client, setup).await;
        let store = store(&bucket, "evidence", settings(&s3.endpoint)).await;
        let report = store.preflight(&PreflightOptions::default()).await.unwrap();
        assert_eq!(failing_checks(&report), expected, "{name}: {report:#?}");
        assert_eq!(report.enforcement, Enforcement::Unconfirmed, "{name}");

        // The upload engine stops at preflight: not a single object is written.
        let plan = fixture_plan(&format!("s3://{bucket}/evidence"), "release-2026-11-22");
        let error = upload::execute(
            &plan,
            &fixture_bundle(),
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, UploadError::Preflight { .. }),
            "{name}: {error}"
        );
        assert!(error.is_refusal());
        assert!(
            versions(&s3.client, &bucket).await.is_empty(),
            "{name}: objects were written"
        );
    }

    // One flag off is as bad as none.
    let bucket = bucket_with(&s3.client, FULL).await;
    s3.client
        .put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let store = store(&bucket, "", settings(&s3.endpoint)).await;
    let report = store.preflight(&PreflightOptions::default()).await.unwrap();
    assert_eq!(failing_checks(&report), [CHECK_PUBLIC_ACCESS_BLOCK]);
    let detail = &report.failures().next().unwrap().detail;
    assert!(detail.contains("RestrictPublicBuckets off"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_s3_passes_only_when_allowed() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = bucket_with(&s3.client, FULL).await;
    s3.client
        .put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let store = store(&bucket, "", settings(&s3.endpoint)).await;
    let strict = store.preflight(&PreflightOptions::default()).await.unwrap();
    assert_eq!(failing_checks(&strict), [CHECK_ENCRYPTION]);
    let relaxed = store
        .preflight(&PreflightOptions {
            allow_sse_s3: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(relaxed.passed(), "{relaxed:#?}");
    let encryption = relaxed
        .checks
        .iter()
        .find(|c| c.name == CHECK_ENCRYPTION)
        .unwrap();
    assert_eq!(encryption.status, CheckStatus::Warn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_fails_preflight() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::unique_name("wv-s3-missing");
    let store = store(&bucket, "", settings(&s3.endpoint)).await;
    let report = store.preflight(&PreflightOptions::default()).await.unwrap();
    assert!(!report.passed());
    assert_eq!(report.checks[0].name, "bucket");
    assert!(
        report.checks[0].detail.contains("does not exist"),
        "{}",
        report.checks[0].detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cavra_bundle_upload_is_locked_as_planned() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let client = &s3.client;
    let bucket = bucket_with(client, FULL).await;
    let store = store(&bucket, "evidence", settings(&s3.endpoint)).await;
    let plan = fixture_plan(&format!("s3://{bucket}/evidence"), "release-2026-11-22");
    let report = upload::execute(
        &plan,
        &fixture_bundle(),
        &store,
        &UploadOptions::default(),
        Arc::new(Silent),
    )
    .await
    .expect("upload the CAVRA bundle");
    assert_eq!((report.uploaded, report.already_present), (4, 0));
    assert_eq!(report.receipts.receipts.len(), 4);

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture_bundle().join("manifest.json")).unwrap())
            .unwrap();
    let manifest_digests: BTreeMap<String, String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let floor = Utc::now() + Duration::days(2555);
    for planned in &plan.objects {
        assert!(
            planned.key.starts_with("evidence/release-2026-11-22/"),
            "{}",
            planned.key
        );
        // Direct SDK reads, not the store's own code.
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(&planned.key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let stored_sha = hex::encode(
            base64::engine::general_purpose::STANDARD
                .decode(head.checksum_sha256().unwrap())
                .unwrap(),
        );
        if let Some(manifest_sha) = manifest_digests.get(&planned.path) {
            assert_eq!(&stored_sha, manifest_sha, "{}", planned.path);
        }
        assert_eq!(stored_sha, planned.sha256);
        let version = head.version_id().unwrap().to_string();
        let retention = client
            .get_object_retention()
            .bucket(&bucket)
            .key(&planned.key)
            .version_id(&version)
            .send()
            .await
            .unwrap();
        let retention = retention.retention().unwrap();
        assert_eq!(retention.mode(), Some(&ObjectLockRetentionMode::Compliance));
        let until = retention.retain_until_date().unwrap();
        assert!(
            until.secs() >= floor.timestamp(),
            "{} retained only until {until}",
            planned.key
        );
        let tags = client
            .get_object_tagging()
            .bucket(&bucket)
            .key(&planned.key)
            .version_id(&version)
            .send()
            .await
            .unwrap();
        assert!(
            tags.tag_set()
                .iter()
                .any(|t| t.key() == "wormvault-session" && t.value() == "release-2026-11-22")
        );
        // Delete of the version is refused by the store, and the version is still there.
        let refused = client
            .delete_object()
            .bucket(&bucket)
            .key(&planned.key)
            .version_id(&version)
            .send()
            .await;
        let error = refused.expect_err("delete of a COMPLIANCE-locked version must be refused");
        assert_eq!(error.code(), Some("AccessDenied"), "{error:?}");
        // And through the store: Protected.
        let refused = store
            .delete(&planned.key, Some(&version))
            .await
            .unwrap_err();
        assert!(matches!(refused, StoreError::Protected { .. }), "{refused}");
    }
    // The receipts say what the store says.
    for receipt in &report.receipts.receipts {
        assert_eq!(receipt.retention_mode, Some(RetentionMode::Compliance));
        assert_eq!(receipt.enforcement, Enforcement::Store);
        assert!(
            receipt.version_id.is_some() && receipt.request_id.is_some() && receipt.etag.is_some()
        );
    }
    // A rerun skips every object: still exactly one version per key.
    let again = upload::execute(
        &plan,
        &fixture_bundle(),
        &store,
        &UploadOptions::default(),
        Arc::new(Silent),
    )
    .await
    .unwrap();
    assert_eq!((again.uploaded, again.already_present), (0, 4));
    assert_eq!(versions(client, &bucket).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_is_create_only_and_reports_what_the_store_says() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let client = &s3.client;
    let bucket = bucket_with(client, FULL).await;
    let store = store(&bucket, "", settings(&s3.endpoint)).await;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("evidence.txt");
    std::fs::write(&source, b"first body\n").unwrap();
    let sha = wormvault::hashing::sha256_hex(b"first body\n");
    let lock = compliance(30);
    let written = store
        .put(
            &put_request("k/evidence.txt", &source, &sha, 11, lock.clone()),
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(written.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(written.retention_mode, Some(RetentionMode::Compliance));
    assert_eq!(written.legal_hold, Some(false));
    assert!(written.retain_until.unwrap() >= lock.retain_until - Duration::seconds(1));
    // Tags travel in the PUT itself; the confirmation right after the write does not re-read
    // them, a HEAD does (this also checks the tag value's URL encoding survived).
    let headed = store.head("k/evidence.txt").await.unwrap().unwrap();
    assert_eq!(
        headed.tags.get("case").map(String::as_str),
        Some("INC 42/a+b")
    );
    assert!(written.request_id.is_some() && written.version_id.is_some() && written.is_latest);

    // A second put of the same key, even with other content, is refused; no second version.
    std::fs::write(&source, b"other body!\n").unwrap();
    let other_sha = wormvault::hashing::sha256_hex(b"other body!\n");
    let error = store
        .put(
            &put_request("k/evidence.txt", &source, &other_sha, 12, lock),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::AlreadyExists { ref key, .. } if key == "k/evidence.txt"),
        "{error}"
    );
    let all = versions(client, &bucket).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].1, written.version_id.clone().unwrap());
    let listed = store.list("k/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256.as_deref(), Some(sha.as_str()));
    assert!(listed[0].is_latest);

    // Content that does not match the planned digest is refused by S3 (BadDigest), not stored.
    let error = store
        .put(
            &put_request("k/wrong.txt", &source, &"00".repeat(32), 12, compliance(30)),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::ChecksumMismatch { .. }),
        "{error}"
    );
    assert!(store.head("k/wrong.txt").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legal_hold_set_and_release() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let client = &s3.client;
    let bucket = bucket_with(client, FULL).await;
    let store = store(&bucket, "", settings(&s3.endpoint)).await;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("held.txt");
    std::fs::write(&source, b"held\n").unwrap();
    let sha = wormvault::hashing::sha256_hex(b"held\n");
    // GOVERNANCE so that only the hold (not retention) can be what refuses the bypass delete.
    let lock = LockSpec {
        mode: RetentionMode::Governance,
        retain_until: Utc::now() + Duration::days(1),
        legal_hold: false,
    };
    let written = store
        .put(&put_request("held.txt", &source, &sha, 5, lock), &|_| {})
        .await
        .unwrap();
    let version = written.version_id.clone().unwrap();

    let held = store
        .set_legal_hold("held.txt", Some(&version), true)
        .await
        .unwrap();
    assert_eq!(held.legal_hold, Some(true));
    let direct = client
        .get_object_legal_hold()
        .bucket(&bucket)
        .key("held.txt")
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    // Even a governance bypass cannot delete a held version.
    let refused = client
        .delete_object()
        .bucket(&bucket)
        .key("held.txt")
        .version_id(&version)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert!(refused.is_err(), "held version was deleted");

    let released = store.set_legal_hold("held.txt", None, false).await.unwrap();
    assert_eq!(released.legal_hold, Some(false));
    assert_eq!(released.version_id.as_deref(), Some(version.as_str()));
    let direct = client
        .get_object_legal_hold()
        .bucket(&bucket)
        .key("held.txt")
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::Off)
    );

    // A hold requested at upload is on from the first byte.
    let held_at_upload = LockSpec {
        legal_hold: true,
        ..compliance(1)
    };
    let written = store
        .put(
            &put_request("held-at-upload.txt", &source, &sha, 5, held_at_upload),
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(written.legal_hold, Some(true));

    // Holds on a key that does not exist: NotFound.
    let missing = store
        .set_legal_hold("missing.txt", None, true)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
}

/// Deterministic, incompressible-looking test data written in 1 MiB blocks.
fn write_pseudo_random(path: &Path, size: u64) -> String {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = vec![0u8; MIB as usize];
    let mut written = 0;
    while written < size {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let take = (size - written).min(MIB) as usize;
        file.write_all(&block[..take]).unwrap();
        hasher.update(&block[..take]);
        written += take as u64;
    }
    file.flush().unwrap();
    hex::encode(hasher.finalize())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_file_goes_multipart_with_part_checksums() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let client = &s3.client;
    let bucket = bucket_with(client, FULL).await;
    let small_parts = S3Settings {
        multipart_threshold: 16 * MIB,
        part_size: 8 * MIB,
        part_concurrency: 4,
        ..settings(&s3.endpoint)
    };
    let store = store(&bucket, "big", small_parts).await;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big.bin");
    let size = 200 * MIB + 12_345; // 26 parts, the last one short
    let sha = write_pseudo_random(&source, size);

    let sent = std::sync::atomic::AtomicU64::new(0);
    let lock = compliance(2555);
    let written = store
        .put(
            &put_request("big/big.bin", &source, &sha, size, lock.clone()),
            &|n| {
                sent.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            },
        )
        .await
        .expect("multipart upload");
    assert_eq!(sent.into_inner(), size);
    assert_eq!(written.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(written.size, size);
    assert_eq!(written.retention_mode, Some(RetentionMode::Compliance));

    // Direct SDK: composite SHA-256 of 26 parts, lock from the multipart request, the verified
    // whole-object digest in metadata, and no upload left open.
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("big/big.bin")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let composite = head.checksum_sha256().unwrap().to_string();
    assert!(composite.ends_with("-26"), "{composite}");
    assert_eq!(head.content_length(), Some(size as i64));
    assert_eq!(head.metadata().and_then(|m| m.get("sha256")), Some(&sha));
    let retention = client
        .get_object_retention()
        .bucket(&bucket)
        .key("big/big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        retention.retention().and_then(|r| r.mode()),
        Some(&ObjectLockRetentionMode::Compliance)
    );
    // The composite equals the one computed from this file's 8 MiB parts.
    let data = std::fs::read(&source).unwrap();
    let digests: Vec<[u8; 32]> = data
        .chunks((8 * MIB) as usize)
        .map(|c| Sha256::digest(c).into())
        .collect();
    drop(data);
    assert_eq!(
        composite,
        wormvault::store::s3::composite_checksum(&digests)
    );
    let open = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(open.uploads().is_empty());

    // Read back through the store: the downloaded bytes hash to the plan's digest.
    let dest = dir.path().join("back.bin");
    assert_eq!(
        store.download("big/big.bin", None, &dest).await.unwrap(),
        sha
    );
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), size);
    // Create-only holds for multipart too.
    let again = store
        .put(
            &put_request("big/big.bin", &source, &sha, size, lock),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::AlreadyExists { .. }), "{again}");
    assert_eq!(versions(client, &bucket).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_with_wrong_plan_digest_is_aborted() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let client = &s3.client;
    let bucket = bucket_with(client, FULL).await;
    let small = S3Settings {
        multipart_threshold: 5 * MIB,
        part_size: 5 * MIB,
        ..settings(&s3.endpoint)
    };
    let store = store(&bucket, "", small).await;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("f.bin");
    let size = 12 * MIB;
    let real = write_pseudo_random(&source, size);
    let wrong = format!(
        "{}{}",
        &real[..63],
        if real.ends_with('0') { '1' } else { '0' }
    );
    let error = store
        .put(
            &put_request("f.bin", &source, &wrong, size, compliance(1)),
            &|_| {},
        )
        .await
        .unwrap_err();
    match error {
        StoreError::ChecksumMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected, wrong);
            assert!(found.starts_with(&real), "{found}");
        }
        other => panic!("expected ChecksumMismatch, got {other}"),
    }
    assert!(versions(client, &bucket).await.is_empty());
    let open = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(
        open.uploads().is_empty(),
        "the failed upload was not aborted: {:?}",
        open.uploads()
    );
}

/// Another client created the planned key first with a one-part multipart upload: S3 reports a
/// composite checksum (of the part it checked), and `x-amz-meta-sha256` says the planned digest,
/// but the bytes are other ones of the same size. Metadata is whatever the writer sent; only the
/// composite is S3's. Before, the archive took the metadata as the whole object's digest and
/// receipted the object "already present"; now the object is downloaded and hashed and the
/// archive is refused as a conflict, the object left as the only version, as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_created_first_with_forged_metadata_is_downloaded_and_refused() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let client = &s3.client;
    let bucket = bucket_with(client, FULL).await;
    let dir = tempfile::tempdir().unwrap();
    let data = b"the evidence the plan archives".to_vec();
    std::fs::write(dir.path().join("e.txt"), &data).unwrap();
    let input = PlanInput {
        bundle_digest: "ef".repeat(32),
        manifest_signature: serde_json::json!({}),
        created_at: "2026-11-22T00:00:00+00:00".into(),
        signer: "test".into(),
        session_id: "forged-s3".into(),
        classification: None,
        retention_days: 2555,
        policy_retain_until: None,
        files: vec![PlanFile {
            path: "e.txt".into(),
            sha256: wormvault::hashing::sha256_hex(&data),
            bytes: data.len() as u64,
        }],
    };
    let plan = plan::plan(
        &input,
        &PlanOptions {
            target: Target::parse(&format!("s3://{bucket}/")).unwrap(),
            mode: RetentionMode::Compliance,
            legal_hold_case: None,
            minimum_retention_days: 2555,
            now: Utc::now(),
        },
    )
    .unwrap();
    let planned = &plan.objects[0];
    let forged = vec![b'x'; data.len()];
    let until = aws_sdk_s3::primitives::DateTime::from_secs(planned.retain_until.timestamp() + 1);
    let created = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key(&planned.key)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .metadata("sha256", &planned.sha256)
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .unwrap();
    let upload_id = created.upload_id().unwrap();
    let part = client
        .upload_part()
        .bucket(&bucket)
        .key(&planned.key)
        .upload_id(upload_id)
        .part_number(1)
        .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&forged)))
        .body(ByteStream::from(forged.clone()))
        .send()
        .await
        .unwrap();
    client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key(&planned.key)
        .upload_id(upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .checksum_sha256(part.checksum_sha256().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let head = client
        .head_object()
        .bucket(&bucket)
        .key(&planned.key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert!(
        head.checksum_sha256().is_some_and(|c| c.ends_with("-1")),
        "precondition: S3 reports a composite, {:?}",
        head.checksum_sha256()
    );

    let store = store(&bucket, "", settings(&s3.endpoint)).await;
    let error = upload::execute(
        &plan,
        dir.path(),
        &store,
        &UploadOptions::default(),
        Arc::new(Silent),
    )
    .await
    .unwrap_err();
    let UploadError::Conflict { key, detail } = &error else {
        panic!("expected a conflict, got {error}");
    };
    assert_eq!(key, &planned.key);
    assert!(
        detail.contains(&planned.sha256)
            && detail.contains(&wormvault::hashing::sha256_hex(&forged)),
        "{detail}"
    );
    assert_eq!(versions(client, &bucket).await.len(), 1);
    let body = client
        .get_object()
        .bucket(&bucket)
        .key(&planned.key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(body.as_ref(), forged.as_slice());
}

/// A resumed archive meets its own multipart objects: S3's only digest of them is a composite, so
/// the object is proven by the part checksums S3 computed (the local file cut at the stored part
/// sizes gives the same digests), not by downloading it, and not by its metadata. A file that
/// differs in one byte, or an object written by one PUT (no parts), is not proven that way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_multipart_object_is_proven_by_its_part_checksums() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let client = &s3.client;
    let bucket = bucket_with(client, FULL).await;
    let small_parts = S3Settings {
        multipart_threshold: 5 * MIB,
        part_size: 5 * MIB,
        ..settings(&s3.endpoint)
    };
    let store = store(&bucket, "", small_parts).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let size = 12 * MIB + 7;
    let sha = write_pseudo_random(&bundle.join("big.bin"), size);
    std::fs::write(bundle.join("small.txt"), b"one PUT").unwrap();
    let input = PlanInput {
        bundle_digest: "ab".repeat(32),
        manifest_signature: serde_json::json!({}),
        created_at: "2026-11-22T00:00:00+00:00".into(),
        signer: "test".into(),
        session_id: "parts-1".into(),
        classification: None,
        retention_days: 2555,
        policy_retain_until: None,
        files: vec![
            PlanFile {
                path: "big.bin".into(),
                sha256: sha.clone(),
                bytes: size,
            },
            PlanFile {
                path: "small.txt".into(),
                sha256: wormvault::hashing::sha256_hex(b"one PUT"),
                bytes: 7,
            },
        ],
    };
    let plan = plan::plan(
        &input,
        &PlanOptions {
            target: Target::parse(&format!("s3://{bucket}/")).unwrap(),
            mode: RetentionMode::Compliance,
            legal_hold_case: None,
            minimum_retention_days: 2555,
            now: Utc::now(),
        },
    )
    .unwrap();
    let first = upload::execute(
        &plan,
        &bundle,
        &store,
        &UploadOptions::default(),
        Arc::new(Silent),
    )
    .await
    .unwrap();
    assert_eq!((first.uploaded, first.already_present), (2, 0));
    let big = &plan
        .objects
        .iter()
        .find(|o| o.path == "big.bin")
        .unwrap()
        .key;
    let small = &plan
        .objects
        .iter()
        .find(|o| o.path == "small.txt")
        .unwrap()
        .key;

    assert_eq!(
        store
            .proven_by_parts(big, None, &bundle.join("big.bin"))
            .await
            .unwrap(),
        Some(sha.clone())
    );
    let other = dir.path().join("other.bin");
    let mut bytes = std::fs::read(bundle.join("big.bin")).unwrap();
    *bytes.last_mut().unwrap() ^= 0xFF;
    std::fs::write(&other, &bytes).unwrap();
    assert_eq!(
        store.proven_by_parts(big, None, &other).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .proven_by_parts(small, None, &bundle.join("small.txt"))
            .await
            .unwrap(),
        None
    );

    let again = upload::execute(
        &plan,
        &bundle,
        &store,
        &UploadOptions::default(),
        Arc::new(Silent),
    )
    .await
    .unwrap();
    assert_eq!((again.uploaded, again.already_present), (0, 2));
    let receipt = again
        .receipts
        .receipts
        .iter()
        .find(|r| &r.key == big)
        .unwrap();
    assert_eq!(receipt.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(versions(client, &bucket).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_multipart_upload_is_cleaned_up() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let client = &s3.client;
    let bucket = bucket_with(client, FULL).await;
    // A run killed after one part: created, one part uploaded, never completed.
    let part = vec![7u8; (5 * MIB) as usize];
    let mut started = Vec::new();
    for key in [
        "session-1/bundle/a.bin",
        "session-1/bundle/b.bin",
        "session-2/bundle/c.bin",
    ] {
        let created = client
            .create_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .unwrap();
        let upload_id = created.upload_id().unwrap().to_string();
        client
            .upload_part()
            .bucket(&bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(1)
            .checksum_sha256(
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&part)),
            )
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        started.push((key, upload_id));
    }
    let store = store(&bucket, "", settings(&s3.endpoint)).await;
    let mut aborted = store.abort_dangling_uploads("session-1/").await.unwrap();
    aborted.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        aborted
            .iter()
            .map(|u| (u.key.as_str(), u.upload_id.as_str()))
            .collect::<Vec<_>>(),
        started[..2]
            .iter()
            .map(|(k, id)| (*k, id.as_str()))
            .collect::<Vec<_>>()
    );
    assert!(aborted.iter().all(|u| u.initiated.is_some()));
    let open = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let remaining: Vec<&str> = open.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(
        remaining,
        ["session-2/bundle/c.bin"],
        "only the other session's upload is left"
    );
    // The parts cannot be completed any more.
    let gone = client
        .list_parts()
        .bucket(&bucket)
        .key(started[0].0)
        .upload_id(&started[0].1)
        .send()
        .await;
    assert_eq!(gone.unwrap_err().code(), Some("NoSuchUpload"));
    // Through the trait the engine uses: a count, and nothing left under the prefix.
    assert_eq!(
        store.abort_incomplete_uploads("session-2/").await.unwrap(),
        1
    );
    assert_eq!(
        store.abort_incomplete_uploads("session-2/").await.unwrap(),
        0
    );
    assert!(versions(client, &bucket).await.is_empty());
}

/// The AWS CLI, talking to LocalStack with the emulator's credentials.
fn aws_cli(endpoint: &str) -> std::process::Command {
    let mut command = std::process::Command::new("aws");
    command
        .arg("--endpoint-url")
        .arg(endpoint)
        .arg("--output")
        .arg("json")
        .env("AWS_ACCESS_KEY_ID", support::S3_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", support::S3_SECRET_KEY)
        .env("AWS_DEFAULT_REGION", support::S3_REGION)
        .env_remove("AWS_PROFILE");
    command
}

fn run_json(mut command: std::process::Command) -> serde_json::Value {
    let output = command.output().expect("run the AWS CLI");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

/// `wormvault target check` through the real binary, pointed at LocalStack by the standard AWS
/// environment (AWS_ENDPOINT_URL), as a user would run it.
fn target_check(endpoint: &str, target: &str) -> (i32, serde_json::Value) {
    let output = assert_cmd::Command::cargo_bin("wormvault")
        .unwrap()
        .args(["--json", "target", "check", target])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", support::S3_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", support::S3_SECRET_KEY)
        .env("AWS_REGION", support::S3_REGION)
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "target check printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

fn json_failures(report: &serde_json::Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudformation_template_deploys_a_bucket_that_passes_preflight() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let usable = support::require_emulator(
        "AWS CLI",
        "PATH",
        "install the AWS CLI (`pip install awscli`)",
        || match std::process::Command::new("aws").arg("--version").output() {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
            Err(e) => Err(e.to_string()),
        },
    );
    if !usable {
        return;
    }
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/aws/evidence-bucket.yaml");
    let stack = support::unique_name("wv-evidence");
    let mut create = aws_cli(&s3.endpoint);
    create.args([
        "cloudformation",
        "create-stack",
        "--stack-name",
        &stack,
        "--capabilities",
        "CAPABILITY_IAM",
    ]);
    create
        .arg("--template-body")
        .arg(format!("file://{}", template.display()));
    // OIDC trust for GitHub and GitLab on the uploader and legal-hold roles is deployed and read
    // back below. The CloudTrail data-event trail is switched off here: LocalStack's free edition
    // has no CloudTrail (cfn-lint checks that part of the template, tests `lint`).
    create.args([
        "--parameters",
        "ParameterKey=RetentionDays,ParameterValue=2600",
        "ParameterKey=GitHubOidcSubject,ParameterValue=repo:example/payments-service:ref:refs/tags/*",
        "ParameterKey=GitLabOidcSubject,ParameterValue=project_path:example/payments-service:ref_type:tag:ref:*",
        "ParameterKey=LegalHoldGitHubOidcSubject,ParameterValue=repo:example/records:environment:legal",
        "ParameterKey=EnableDataEventTrail,ParameterValue=false",
    ]);
    run_json(create);

    let started = std::time::Instant::now();
    let stack_state = loop {
        let mut describe = aws_cli(&s3.endpoint);
        describe.args(["cloudformation", "describe-stacks", "--stack-name", &stack]);
        let described = run_json(describe);
        let state = described["Stacks"][0].clone();
        let status = state["StackStatus"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == "CREATE_COMPLETE" {
            break state;
        }
        if status.contains("FAILED")
            || status.contains("ROLLBACK")
            || started.elapsed().as_secs() > 180
        {
            let mut events = aws_cli(&s3.endpoint);
            events.args([
                "cloudformation",
                "describe-stack-events",
                "--stack-name",
                &stack,
            ]);
            panic!("stack {stack} ended {status}: {:#}", run_json(events));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let output = |name: &str| {
        stack_state["Outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["OutputKey"] == name)
            .and_then(|o| o["OutputValue"].as_str())
            .unwrap_or_else(|| panic!("stack output {name} missing: {stack_state:#}"))
            .to_string()
    };
    let bucket = output("BucketName");
    let key_arn = output("KeyArn");
    assert_eq!(output("Target"), format!("s3://{bucket}/"));
    for role in [
        "UploaderRoleArn",
        "RetentionAdminRoleArn",
        "LegalHoldRoleArn",
    ] {
        assert!(output(role).starts_with("arn:aws:iam::"), "{role}");
    }
    // Each role trusts exactly the CI identities its parameters name, by OIDC subject.
    let trust = |role_arn: &str| -> String {
        let name = role_arn.rsplit('/').next().unwrap();
        let mut get = aws_cli(&s3.endpoint);
        get.args(["iam", "get-role", "--role-name", name]);
        let role = run_json(get);
        let document = &role["Role"]["AssumeRolePolicyDocument"];
        match document.as_str() {
            // Some IAM implementations return the document URL-encoded as a string.
            Some(text) => percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned(),
            None => document.to_string(),
        }
    };
    let uploader = trust(&output("UploaderRoleArn"));
    for needle in [
        "sts:AssumeRoleWithWebIdentity",
        "token.actions.githubusercontent.com:sub",
        "repo:example/payments-service:ref:refs/tags/*",
        "gitlab.com:sub",
        "project_path:example/payments-service:ref_type:tag:ref:*",
    ] {
        assert!(
            uploader.contains(needle),
            "uploader trust lacks {needle}: {uploader}"
        );
    }
    let holds = trust(&output("LegalHoldRoleArn"));
    assert!(
        holds.contains("repo:example/records:environment:legal"),
        "{holds}"
    );
    assert!(
        !holds.contains("gitlab.com:sub"),
        "no GitLab subject given for holds: {holds}"
    );
    assert!(
        !holds.contains("payments-service"),
        "the uploader's subject is not the holder's: {holds}"
    );

    // LocalStack's CloudFormation provider creates the lock bucket, versioning, default retention
    // and public access block, but does not apply BucketEncryption (the bucket keeps SSE-S3).
    // Preflight reads what is really there and names exactly that gap.
    let target = format!("s3://{bucket}/");
    let (code, report) = target_check(&s3.endpoint, &target);
    let failures = json_failures(&report);
    if failures.is_empty() {
        assert_eq!(code, 0, "{report:#}");
    } else {
        assert_eq!(failures, [CHECK_ENCRYPTION], "{report:#}");
        assert_eq!(code, 1, "a failed preflight is a policy refusal (exit 1)");
        // Apply the template's encryption (its own KMS key) as AWS would have.
        support::s3::put_sse_kms(&s3.client, &bucket, &key_arn, true).await;
    }
    let (code, report) = target_check(&s3.endpoint, &target);
    assert_eq!(code, 0, "{report:#}");
    assert!(json_failures(&report).is_empty());
    assert_eq!(report["enforcement"], "store");
    let checks = report["checks"].as_array().unwrap();
    let retention = checks
        .iter()
        .find(|c| c["name"] == CHECK_DEFAULT_RETENTION)
        .unwrap();
    assert!(
        retention["detail"]
            .as_str()
            .unwrap()
            .contains("COMPLIANCE 2600 days"),
        "{retention:#}"
    );
    let encryption = checks
        .iter()
        .find(|c| c["name"] == CHECK_ENCRYPTION)
        .unwrap();
    assert!(
        encryption["detail"].as_str().unwrap().contains(&key_arn),
        "{encryption:#}"
    );
    let tls = checks
        .iter()
        .find(|c| c["name"] == CHECK_TLS_POLICY)
        .unwrap();
    assert_eq!(tls["status"], "pass");

    // And an upload into the deployed bucket: locked COMPLIANCE, as planned.
    let store = store(&bucket, "evidence", settings(&s3.endpoint)).await;
    let report = store.preflight(&PreflightOptions::default()).await.unwrap();
    assert!(
        report.checks.iter().all(|c| c.status == CheckStatus::Pass),
        "{report:#?}"
    );
    let plan = fixture_plan(&format!("s3://{bucket}/evidence"), "release-2026-11-22");
    let uploaded = upload::execute(
        &plan,
        &fixture_bundle(),
        &store,
        &UploadOptions::default(),
        Arc::new(Silent),
    )
    .await
    .expect("upload into the deployed bucket");
    assert_eq!(uploaded.uploaded, 4);
    for planned in &plan.objects {
        let retention = s3
            .client
            .get_object_retention()
            .bucket(&bucket)
            .key(&planned.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            retention.retention().and_then(|r| r.mode()),
            Some(&ObjectLockRetentionMode::Compliance)
        );
    }
}

#[test]
fn cloudformation_template_passes_cfn_lint() {
    // Installs cfn-lint (pinned) into infra/.venv on first use; PyPI is reachable here and in CI.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/aws/lint.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .expect("run infra/aws/lint.sh");
    assert!(
        output.status.success(),
        "cfn-lint found problems:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("lint: clean"));
}

/// Review 32 cli-F9: a bucket that does not exist is a configuration error (exit 2) — nothing
/// was judged — while a bucket read and found not to be WORM is a policy failure (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_check_on_a_missing_bucket_is_a_configuration_error() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let missing = support::unique_name("wv-missing");
    let (code, report) = target_check(&s3.endpoint, &format!("s3://{missing}/"));
    assert_eq!(json_failures(&report)[0], "bucket", "{report:#}");
    assert_eq!(report["enforcement"], "unconfirmed");
    assert_eq!(code, 2, "{report:#}");
    // A plain bucket (no Object Lock) is read and judged: exit 1.
    let plain = support::unique_name("wv-plain");
    s3.client
        .create_bucket()
        .bucket(&plain)
        .send()
        .await
        .unwrap();
    let (code, report) = target_check(&s3.endpoint, &format!("s3://{plain}/"));
    assert!(
        !json_failures(&report).contains(&"bucket".to_string()),
        "{report:#}"
    );
    assert_eq!(code, 1, "{report:#}");
}
