//! Harness smoke tests: the emulators started by scripts/test.sh answer and behave as
//! /work/shared/spec/emulators.md records — LocalStack enforces S3 Object Lock COMPLIANCE mode,
//! Azurite's blob endpoint answers. (The Azurite and WORM stand-in behaviour tests belong to the
//! Azure work.)

use crate::support;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumMode, ObjectLockMode, ObjectLockRetentionMode};
use base64::Engine;
use sha2::{Digest, Sha256};

fn sha256_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

fn one_day_from_now() -> DateTime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    DateTime::from_secs(now + 86_400)
}

#[tokio::test]
async fn localstack_refuses_deleting_a_compliance_locked_version() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::fresh_lock_bucket(&s3.client).await;
    let body = b"wormvault harness smoke: compliance-locked evidence\n";
    let retain_until = one_day_from_now();

    let put = s3
        .client
        .put_object()
        .bucket(&bucket)
        .key("evidence/smoke.txt")
        .body(ByteStream::from_static(body))
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(retain_until)
        .checksum_sha256(sha256_base64(body))
        .send()
        .await
        .expect("put object with COMPLIANCE retention and SHA-256 checksum");
    let version = put
        .version_id()
        .expect("Object Lock bucket is versioned: put returns a version id")
        .to_string();
    assert_eq!(put.checksum_sha256(), Some(sha256_base64(body).as_str()));

    // Deleting the locked version must be refused, and the version must still be there.
    let refused = s3
        .client
        .delete_object()
        .bucket(&bucket)
        .key("evidence/smoke.txt")
        .version_id(&version)
        .send()
        .await
        .expect_err("deleting a COMPLIANCE-locked version must be refused");
    assert_eq!(
        refused.code(),
        Some("AccessDenied"),
        "unexpected refusal: {refused:?}"
    );

    let retention = s3
        .client
        .get_object_retention()
        .bucket(&bucket)
        .key("evidence/smoke.txt")
        .version_id(&version)
        .send()
        .await
        .expect("read retention back");
    let retention = retention.retention().expect("retention is set");
    assert_eq!(retention.mode(), Some(&ObjectLockRetentionMode::Compliance));
    assert_eq!(
        retention.retain_until_date().map(|d| d.secs()),
        Some(retain_until.secs())
    );

    let head = s3
        .client
        .head_object()
        .bucket(&bucket)
        .key("evidence/smoke.txt")
        .version_id(&version)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("locked version still exists after the refused delete");
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert_eq!(head.checksum_sha256(), Some(sha256_base64(body).as_str()));
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
}

#[tokio::test]
async fn localstack_rejects_a_wrong_sha256_checksum() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::fresh_lock_bucket(&s3.client).await;
    let refused = s3
        .client
        .put_object()
        .bucket(&bucket)
        .key("evidence/corrupt.txt")
        .body(ByteStream::from_static(b"the bytes actually sent"))
        .checksum_sha256(sha256_base64(b"the bytes the sender meant"))
        .send()
        .await
        .expect_err("a body that does not match its SHA-256 must be refused");
    assert_eq!(
        refused.code(),
        Some("BadDigest"),
        "unexpected refusal: {refused:?}"
    );
    let listed = s3
        .client
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .expect("list versions");
    assert!(
        listed.versions().is_empty(),
        "refused upload left a version behind: {:?}",
        listed.versions()
    );
}

#[test]
fn fresh_names_are_unique_and_valid_bucket_names() {
    let names: Vec<String> = (0..200)
        .map(|_| support::unique_name("wv-Smoke_Test"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "duplicate names generated");
    for name in &names {
        assert!(name.starts_with("wv-smoketest-"), "{name}");
        assert!((3..=63).contains(&name.len()), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }
}

#[test]
fn azurite_blob_endpoint_answers_and_requires_authentication() {
    let endpoint = support::azurite_endpoint();
    let probe_url = format!("{endpoint}?comp=properties&restype=service");
    let mut reply = None;
    let usable = support::require_emulator(
        "Azurite",
        &endpoint,
        "Start it with `bash azurite/start.sh` or run everything with `bash scripts/test.sh`",
        || {
            reply = Some(support::http_get(&probe_url)?);
            Ok(())
        },
    );
    if !usable {
        return;
    }
    let reply = reply.expect("probe stored the reply");
    // Unsigned request: a real Azure-compatible blob service refuses it with 403.
    assert_eq!(
        reply.status, 403,
        "unexpected answer from {probe_url}: {reply:?}"
    );
    assert!(
        reply.body.contains("AuthorizationFailure"),
        "unexpected body from {probe_url}: {}",
        reply.body
    );
}
