//! Small objects for the audit log in the store (issue #17, docs/audit-store.md): name listings
//! of every version after a key (ListObjectVersions, no per-object HEAD) and size-capped reads
//! into memory (GetObject with checksum mode, lock headers taken from the same response).
//! Writes go through the trait's default `put_bytes`, i.e. the create-only, locked, read-back
//! `put` of `upload.rs`.

use aws_sdk_s3::primitives::DateTime as AwsDateTime;
use aws_sdk_s3::types::{ChecksumMode, ObjectLockLegalHoldStatus, ObjectLockMode};
use chrono::{DateTime, Utc};

use super::{S3Store, status};
use crate::store::{FetchedObject, ListedVersion, RetentionMode, StoreError, page_of, too_large};

fn to_chrono(time: &AwsDateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(time.secs(), time.subsec_nanos())
}

/// One page of versions after `start_after` (S3's key-marker: keys strictly after it). S3 lists
/// a key's versions newest first; they are returned oldest first. A page S3 cut inside a key's
/// versions is shortened to whole keys, unless it holds one key only (then that key has more
/// versions than a page, which a caller reports as rewritten anyway).
pub(super) async fn list_after(
    store: &S3Store,
    prefix: &str,
    start_after: Option<&str>,
    max: usize,
) -> Result<Vec<ListedVersion>, StoreError> {
    let page = store
        .client
        .list_object_versions()
        .bucket(&store.bucket)
        .prefix(prefix)
        .set_key_marker(start_after.map(str::to_string))
        .max_keys(i32::try_from(max.clamp(1, 1000)).unwrap_or(1000))
        .send()
        .await
        .map_err(|e| store.cloud_error("ListObjectVersions", Some(prefix), &e))?;
    let mut entries: Vec<(ListedVersion, Option<DateTime<Utc>>)> = Vec::new();
    for version in page.versions() {
        if let Some(key) = version.key() {
            entries.push((
                ListedVersion {
                    key: key.to_string(),
                    version_id: version.version_id().map(str::to_string),
                    is_latest: version.is_latest() == Some(true),
                    delete_marker: false,
                    size: version.size().unwrap_or(0).max(0) as u64,
                },
                version.last_modified().and_then(to_chrono),
            ));
        }
    }
    for marker in page.delete_markers() {
        if let Some(key) = marker.key() {
            entries.push((
                ListedVersion {
                    key: key.to_string(),
                    version_id: marker.version_id().map(str::to_string),
                    is_latest: marker.is_latest() == Some(true),
                    delete_marker: true,
                    size: 0,
                },
                marker.last_modified().and_then(to_chrono),
            ));
        }
    }
    // Key order, then oldest first; the current version (is_latest) last among equal times.
    entries.sort_by(|(a, at), (b, bt)| {
        a.key
            .cmp(&b.key)
            .then(at.cmp(bt))
            .then(a.is_latest.cmp(&b.is_latest))
    });
    let mut listed: Vec<ListedVersion> = entries.into_iter().map(|(v, _)| v).collect();
    if page.is_truncated() == Some(true)
        && let Some(last) = listed.last().map(|v| v.key.clone())
        && listed.iter().any(|v| v.key != last)
    {
        // The next page may hold more versions of the last key: leave that key to it.
        listed.retain(|v| v.key != last);
        return Ok(listed);
    }
    Ok(page_of(listed, usize::MAX))
}

/// GET one version into memory, refusing before reading the body when S3 says it is larger than
/// `max_len`, and while reading if more bytes arrive than that.
pub(super) async fn get_bytes(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
    max_len: u64,
) -> Result<Option<FetchedObject>, StoreError> {
    let result = store
        .client
        .get_object()
        .bucket(&store.bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await;
    let output = match result {
        Ok(output) => output,
        Err(error) if matches!(status(&error), Some(404 | 405)) => return Ok(None),
        Err(error) => return Err(store.cloud_error("GetObject", Some(key), &error)),
    };
    let declared = output.content_length().unwrap_or(0).max(0) as u64;
    if declared > max_len {
        return Err(too_large(&store.target, key, declared, max_len));
    }
    let retention_mode = output.object_lock_mode().and_then(|mode| match mode {
        ObjectLockMode::Compliance => Some(RetentionMode::Compliance),
        ObjectLockMode::Governance => Some(RetentionMode::Governance),
        _ => None,
    });
    let retain_until = output.object_lock_retain_until_date().and_then(to_chrono);
    let legal_hold = output
        .object_lock_legal_hold_status()
        .map(|s| *s == ObjectLockLegalHoldStatus::On);
    let found_version = output.version_id().map(str::to_string);
    let mut body = output.body;
    let mut bytes = Vec::with_capacity(declared as usize);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| StoreError::Cloud {
            target: store.target.to_string(),
            operation: "GetObject".into(),
            key: Some(key.to_string()),
            message: e.to_string(),
        })?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > max_len {
            return Err(too_large(&store.target, key, bytes.len() as u64, max_len));
        }
    }
    Ok(Some(FetchedObject {
        bytes,
        version_id: found_version,
        retention_mode,
        retain_until,
        legal_hold,
    }))
}
