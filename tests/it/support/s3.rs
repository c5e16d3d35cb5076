//! S3 bucket set-ups for emulator tests: a fully WORM-configured bucket (Object Lock with
//! default COMPLIANCE retention, versioning, SSE-KMS, public access block, TLS-only policy) and
//! variants missing one piece, for preflight tests.
#![allow(dead_code)]

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockRetentionMode, ObjectLockRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};

pub fn tls_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    })
    .to_string()
}

/// Which parts of the WORM configuration to apply to a bucket.
#[derive(Clone, Copy)]
pub struct Setup {
    pub lock: bool,
    pub versioning: bool,
    pub encryption: bool,
    pub public_access_block: bool,
    pub tls_policy: bool,
}

pub const FULL: Setup = Setup {
    lock: true,
    versioning: true,
    encryption: true,
    public_access_block: true,
    tls_policy: true,
};

/// A fresh bucket configured as `setup` says (default retention COMPLIANCE 2555 days on lock
/// buckets; SSE-KMS with a key ARN — LocalStack does not check the key exists).
pub async fn bucket_with(client: &Client, setup: Setup) -> String {
    let bucket = if setup.lock {
        super::fresh_lock_bucket(client).await
    } else {
        let name = super::unique_name("wv-s3-plain");
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create plain bucket");
        if setup.versioning {
            client
                .put_bucket_versioning()
                .bucket(&name)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .expect("enable versioning");
        }
        name
    };
    if setup.lock {
        client
            .put_object_lock_configuration()
            .bucket(&bucket)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(ObjectLockRetentionMode::Compliance)
                                    .days(2555)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("default retention");
    }
    if setup.encryption {
        put_sse_kms(client, &bucket, LOCALSTACK_KMS_KEY, false).await;
    } else {
        // LocalStack may report a default configuration; remove it so the bucket has none.
        let _ = client
            .delete_bucket_encryption()
            .bucket(&bucket)
            .send()
            .await;
    }
    if setup.public_access_block {
        client
            .put_public_access_block()
            .bucket(&bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .expect("public access block");
    } else {
        // New buckets get all four flags on by default (AWS since 2023, LocalStack too).
        client
            .delete_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .expect("remove public access block");
    }
    if setup.tls_policy {
        client
            .put_bucket_policy()
            .bucket(&bucket)
            .policy(tls_policy(&bucket))
            .send()
            .await
            .expect("bucket policy");
    }
    bucket
}

/// Any key ARN: LocalStack does not check that the KMS key exists.
pub const LOCALSTACK_KMS_KEY: &str =
    "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555";

/// Default SSE-KMS encryption with `key_arn` on a bucket.
pub async fn put_sse_kms(client: &Client, bucket: &str, key_arn: &str, bucket_key: bool) {
    client
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id(key_arn)
                                .build()
                                .expect("SSE-KMS rule"),
                        )
                        .bucket_key_enabled(bucket_key)
                        .build(),
                )
                .build()
                .expect("SSE-KMS configuration"),
        )
        .send()
        .await
        .expect("SSE-KMS default encryption");
}
