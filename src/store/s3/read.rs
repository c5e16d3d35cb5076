//! Reading S3 objects back as the store reports them: HEAD with checksum mode (plus retention,
//! legal hold and tags), every version under a prefix, legal hold changes with read-back,
//! streamed downloads with hashing, and delete attempts that a lock must refuse.
//!
//! `StoredObject::sha256` for S3 (hex SHA-256 of the whole object):
//! * single PUT: decoded from the full-object `x-amz-checksum-sha256` S3 verified on upload;
//! * multipart: S3 reports only a composite checksum (`<base64>-<parts>`), so the value comes
//!   from `x-amz-meta-sha256`, which wormvault writes only after checking the whole-object digest
//!   while uploading and the composite after completion (upload.rs). Objects without that
//!   metadata report `None`; only a re-download ([`download`]) proves the content then.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::DateTime as AwsDateTime;
use aws_sdk_s3::types::{
    ChecksumMode, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetentionMode,
};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::checksum::{StoreChecksum, parse_store_checksum};
use super::upload::SHA256_METADATA_KEY;
use super::{S3Store, code, describe, status};
use crate::store::{DigestSource, Enforcement, RetentionMode, StoreError, StoredObject};

/// HEADs in flight while listing versions.
const LIST_CONCURRENCY: usize = 8;

fn to_chrono(time: &AwsDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

fn mode_from_lock(mode: &ObjectLockMode) -> Option<RetentionMode> {
    match mode {
        ObjectLockMode::Compliance => Some(RetentionMode::Compliance),
        ObjectLockMode::Governance => Some(RetentionMode::Governance),
        _ => None,
    }
}

fn mode_from_retention(mode: &ObjectLockRetentionMode) -> Option<RetentionMode> {
    match mode {
        ObjectLockRetentionMode::Compliance => Some(RetentionMode::Compliance),
        ObjectLockRetentionMode::Governance => Some(RetentionMode::Governance),
        _ => None,
    }
}

/// The outcome of a request for one object version: `Ok(None)` when the store says it is not
/// there — 404 (no such key or version, or the current version is a delete marker) or 405 (the
/// version asked for is a delete marker) — any other failure is a cloud error naming `operation`.
fn absent_if_missing<T, E>(
    store: &S3Store,
    operation: &str,
    key: &str,
    result: Result<T, SdkError<E>>,
) -> Result<Option<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(error) if matches!(status(&error), Some(404 | 405)) => Ok(None),
        Err(error) => Err(store.cloud_error(operation, Some(key), &error)),
    }
}

/// HEAD or GET (`$request`: `head_object` / `get_object`) of one version of `$key` (the current
/// one when `$version_id` is `None`) with checksum mode on, so S3 returns the stored SHA-256
/// checksum (and the SDK checks a GET body against it). A macro because the SDK's two fluent
/// builders share no trait; the outcome goes through [`absent_if_missing`].
macro_rules! versioned_get {
    ($store:expr, $request:ident, $operation:literal, $key:expr, $version_id:expr) => {{
        let result = $store
            .client
            .$request()
            .bucket(&$store.bucket)
            .key($key)
            .set_version_id($version_id.map(str::to_string))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        absent_if_missing($store, $operation, $key, result)
    }};
}

/// Error codes meaning "this object (or bucket) has no lock configuration", not a failure.
const NO_LOCK_CODES: &[&str] = &[
    "NoSuchObjectLockConfiguration",
    "ObjectLockConfigurationNotFoundError",
    "InvalidRequest",
];

pub(super) async fn head(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
) -> Result<Option<StoredObject>, StoreError> {
    head_known(store, key, version_id, HeadOptions::FULL).await
}

/// What a caller of [`head_known`] already knows, and what it needs read.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeadOptions {
    /// Whether the version is the current one, when the caller knows (listing, fresh write);
    /// without it, a versioned HEAD asks for the current version too.
    pub known_latest: Option<bool>,
    /// The version was just created by this tool without a legal hold (no hold read needed).
    pub fresh_without_hold: bool,
    /// Also read the tag set (one more request). The confirmation right after a write skips
    /// it: the tags travel in the same PUT as the object and are not part of a receipt.
    pub read_tags: bool,
    /// What a composite checksum (S3's answer for a multipart upload) leaves the whole object's
    /// SHA-256 to be.
    pub composite: Composite,
}

/// Where S3 reports only a composite checksum (a checksum of the parts' checksums), what the
/// whole object's SHA-256 is taken to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Composite {
    /// None: the version was just written by one PutObject, whose full-object checksum S3
    /// verifies and must report; a composite there is not S3's answer for it.
    Refused,
    /// `x-amz-meta-sha256`, [`DigestSource::Verified`]: the version was just written by this
    /// tool's multipart upload, which checked the whole-object digest before writing that
    /// metadata and had S3 check the composite of the parts it sent on completion.
    CheckedByThisWrite,
    /// `x-amz-meta-sha256`, [`DigestSource::Claimed`]: nothing is known of who wrote the
    /// version, and any writer can put any value in metadata.
    Claimed,
}

impl HeadOptions {
    /// A full read of a version nothing is known about: current-version check and tags.
    pub const FULL: HeadOptions = HeadOptions {
        known_latest: None,
        fresh_without_hold: false,
        read_tags: true,
        composite: Composite::Claimed,
    };
}

/// HEAD one version, reading what `options` says is not already known.
pub(super) async fn head_known(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
    options: HeadOptions,
) -> Result<Option<StoredObject>, StoreError> {
    let HeadOptions {
        known_latest,
        fresh_without_hold,
        read_tags,
        composite,
    } = options;
    let client = &store.client;
    let Some(output) = versioned_get!(store, head_object, "HeadObject", key, version_id)? else {
        return Ok(None);
    };
    let version = output.version_id().map(str::to_string);

    // HEAD includes lock headers only for callers allowed to read them; ask explicitly otherwise.
    // The follow-up reads are independent, so they go out together.
    let head_mode = output.object_lock_mode().and_then(mode_from_lock);
    let head_until = output.object_lock_retain_until_date().and_then(to_chrono);
    let head_hold = output
        .object_lock_legal_hold_status()
        .map(|status| *status == ObjectLockLegalHoldStatus::On);
    let retention = async {
        if head_mode.is_some() {
            return Ok((head_mode, head_until));
        }
        match client
            .get_object_retention()
            .bucket(&store.bucket)
            .key(key)
            .set_version_id(version.clone())
            .send()
            .await
        {
            Ok(found) => {
                let retention = found.retention();
                Ok((
                    retention
                        .and_then(|r| r.mode())
                        .and_then(mode_from_retention),
                    retention
                        .and_then(|r| r.retain_until_date())
                        .and_then(to_chrono),
                ))
            }
            Err(error) if code(&error).is_some_and(|c| NO_LOCK_CODES.contains(&c)) => {
                Ok((None, None))
            }
            Err(error) => Err(store.cloud_error("GetObjectRetention", Some(key), &error)),
        }
    };
    let legal_hold = async {
        if head_hold.is_some() {
            return Ok(head_hold);
        }
        // S3 has no default legal hold: a version just written without the hold header has none.
        if fresh_without_hold {
            return Ok(Some(false));
        }
        match client
            .get_object_legal_hold()
            .bucket(&store.bucket)
            .key(key)
            .set_version_id(version.clone())
            .send()
            .await
        {
            Ok(found) => Ok(Some(
                found.legal_hold().and_then(|h| h.status()) == Some(&ObjectLockLegalHoldStatus::On),
            )),
            // A lock bucket answers "no configuration" for a version never held: not held.
            Err(error) if code(&error) == Some("NoSuchObjectLockConfiguration") => Ok(Some(false)),
            // The bucket has no Object Lock: holds are impossible, so the state is unknown.
            Err(error) if code(&error).is_some_and(|c| NO_LOCK_CODES.contains(&c)) => Ok(None),
            Err(error) => Err(store.cloud_error("GetObjectLegalHold", Some(key), &error)),
        }
    };
    let tagging = async {
        if !read_tags {
            return Ok(BTreeMap::new());
        }
        client
            .get_object_tagging()
            .bucket(&store.bucket)
            .key(key)
            .set_version_id(version.clone())
            .send()
            .await
            .map(|tagging| {
                tagging
                    .tag_set()
                    .iter()
                    .map(|tag| (tag.key().to_string(), tag.value().to_string()))
                    .collect::<BTreeMap<_, _>>()
            })
            .map_err(|e| store.cloud_error("GetObjectTagging", Some(key), &e))
    };
    let ((retention_mode, retain_until), legal_hold, tags) =
        futures::try_join!(retention, legal_hold, tagging)?;

    let metadata_sha256 = output
        .metadata()
        .and_then(|m| m.get(SHA256_METADATA_KEY))
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|v| v.to_ascii_lowercase());
    let (sha256, sha256_source) = match output.checksum_sha256().map(parse_store_checksum) {
        Some(Ok(StoreChecksum::FullObject(hex))) => (Some(hex), DigestSource::Verified),
        Some(Ok(StoreChecksum::Composite { .. })) => match composite {
            Composite::Refused => (None, DigestSource::Claimed),
            Composite::CheckedByThisWrite => (metadata_sha256, DigestSource::Verified),
            Composite::Claimed => (metadata_sha256, DigestSource::Claimed),
        },
        Some(Err(_)) | None => (None, DigestSource::Claimed),
    };

    let is_latest = match known_latest {
        Some(latest) => latest,
        None if version_id.is_none() => true,
        None => {
            let current = client
                .head_object()
                .bucket(&store.bucket)
                .key(key)
                .send()
                .await;
            match absent_if_missing(store, "HeadObject", key, current)? {
                Some(current) => current.version_id() == version.as_deref(),
                None => false,
            }
        }
    };
    // The store refuses deletes of a version only while it carries a retention date or a hold;
    // whether the bucket enforces Object Lock at all is preflight's verdict.
    let enforcement = if retention_mode.is_some() || legal_hold == Some(true) {
        Enforcement::Store
    } else {
        Enforcement::Unconfirmed
    };
    Ok(Some(StoredObject {
        key: key.to_string(),
        version_id: version,
        etag: output.e_tag().map(str::to_string),
        size: output.content_length().unwrap_or(0).max(0) as u64,
        sha256,
        sha256_source,
        md5: None,
        retention_mode,
        retain_until,
        legal_hold,
        tags,
        last_modified: output.last_modified().and_then(to_chrono),
        request_id: output.request_id().map(str::to_string),
        enforcement,
        is_latest,
    }))
}

pub(super) async fn list(store: &S3Store, prefix: &str) -> Result<Vec<StoredObject>, StoreError> {
    // (key, version id, is latest) of every object version; delete markers hold no data and are
    // left out (a key whose newest entry is a marker then has no version with is_latest).
    let mut versions: Vec<(String, Option<String>, bool)> = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = store
            .client
            .list_object_versions()
            .bucket(&store.bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .map_err(|e| store.cloud_error("ListObjectVersions", Some(prefix), &e))?;
        for version in page.versions() {
            if let Some(key) = version.key() {
                versions.push((
                    key.to_string(),
                    version.version_id().map(str::to_string),
                    version.is_latest() == Some(true),
                ));
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
        if key_marker.is_none() {
            break;
        }
    }
    let heads = futures::stream::iter(versions)
        .map(|(key, version, latest)| async move {
            let found = head_known(
                store,
                &key,
                version.as_deref(),
                HeadOptions {
                    known_latest: Some(latest),
                    ..HeadOptions::FULL
                },
            )
            .await?;
            Ok::<_, StoreError>((key, found))
        })
        .buffered(LIST_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    // A version listed a moment ago but gone now was deleted meanwhile (only possible without a
    // lock); it is simply not reported.
    Ok(heads.into_iter().filter_map(|(_, found)| found).collect())
}

pub(super) async fn set_legal_hold(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
    hold: bool,
) -> Result<StoredObject, StoreError> {
    let not_found = || StoreError::NotFound {
        target: store.target.to_string(),
        key: key.to_string(),
    };
    // Resolve "current" to a version id first, so the hold and the read-back hit the same version.
    let version = match version_id {
        Some(version) => version.to_string(),
        None => head(store, key, None)
            .await?
            .and_then(|current| current.version_id)
            .ok_or_else(not_found)?,
    };
    let status = if hold {
        ObjectLockLegalHoldStatus::On
    } else {
        ObjectLockLegalHoldStatus::Off
    };
    let result = store
        .client
        .put_object_legal_hold()
        .bucket(&store.bucket)
        .key(key)
        .version_id(&version)
        .legal_hold(ObjectLockLegalHold::builder().status(status).build())
        .send()
        .await;
    match result {
        Ok(_) => {}
        Err(error)
            if matches!(code(&error), Some("NoSuchKey" | "NoSuchVersion"))
                || super::status(&error) == Some(404) =>
        {
            return Err(not_found());
        }
        Err(error) if code(&error) == Some("InvalidRequest") => {
            return Err(StoreError::NotHonoured {
                target: store.target.to_string(),
                key: key.to_string(),
                detail: format!(
                    "legal hold refused: {} (is Object Lock enabled on the bucket?)",
                    describe(&error)
                ),
            });
        }
        Err(error) => return Err(store.cloud_error("PutObjectLegalHold", Some(key), &error)),
    }
    let stored = head_known(store, key, Some(&version), HeadOptions::FULL)
        .await?
        .ok_or_else(not_found)?;
    if stored.legal_hold != Some(hold) {
        return Err(StoreError::NotHonoured {
            target: store.target.to_string(),
            key: key.to_string(),
            detail: format!(
                "legal hold on version {version} reads back as {} after setting it {}",
                match stored.legal_hold {
                    Some(true) => "on",
                    Some(false) => "off",
                    None => "not reported",
                },
                if hold { "on" } else { "off" }
            ),
        });
    }
    Ok(stored)
}

pub(super) async fn download(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
    dest: &Path,
) -> Result<String, StoreError> {
    let Some(output) = versioned_get!(store, get_object, "GetObject", key, version_id)? else {
        return Err(StoreError::NotFound {
            target: store.target.to_string(),
            key: key.to_string(),
        });
    };
    let io = |source: std::io::Error| StoreError::Io {
        path: dest.display().to_string(),
        source,
    };
    let result = async {
        let file = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut writer = tokio::io::BufWriter::with_capacity(crate::hashing::READ_SIZE, file);
        let mut hasher = Sha256::new();
        let mut body = output.body;
        // For single-PUT objects the SDK also checks the body against the stored full-object
        // checksum (checksum mode) and fails the stream on a mismatch.
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StoreError::Cloud {
                target: store.target.to_string(),
                operation: "GetObject".into(),
                key: Some(key.to_string()),
                message: format!("download interrupted or corrupted: {e}"),
            })?;
            hasher.update(&chunk);
            writer.write_all(&chunk).await.map_err(io)?;
        }
        writer.flush().await.map_err(io)?;
        writer.into_inner().sync_all().await.map_err(io)?;
        Ok(hex::encode(hasher.finalize()))
    }
    .await;
    if result.is_err() {
        // Do not leave a partial file that looks like a download.
        let _ = tokio::fs::remove_file(dest).await;
    }
    result
}

pub(super) async fn delete(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
) -> Result<(), StoreError> {
    // Deleting without a version id only adds a delete marker, which S3 allows even under a lock;
    // resolve the current version so the attempt is a real delete of data.
    let version = match version_id {
        Some(version) => version.to_string(),
        None => head(store, key, None)
            .await?
            .and_then(|current| current.version_id)
            .ok_or_else(|| StoreError::NotFound {
                target: store.target.to_string(),
                key: key.to_string(),
            })?,
    };
    match store
        .client
        .delete_object()
        .bucket(&store.bucket)
        .key(key)
        .version_id(&version)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let message = describe(&error).to_ascii_lowercase();
            // S3 answers 403 AccessDenied "... protected by object lock" for a retained or held
            // version (S3 user guide, "Object Lock": deletes of protected versions are denied).
            if status(&error) == Some(403)
                && (message.contains("lock")
                    || message.contains("legal hold")
                    || message.contains("retention"))
            {
                Err(StoreError::Protected {
                    target: store.target.to_string(),
                    key: key.to_string(),
                    detail: format!("version {version}: {}", describe(&error)),
                })
            } else {
                Err(store.cloud_error("DeleteObject", Some(key), &error))
            }
        }
    }
}
