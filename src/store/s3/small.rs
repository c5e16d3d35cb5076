//! Small objects for the audit log in the store (issue #17, docs/audit-store.md): name listings
//! of every version after a key (ListObjectVersions, no per-object HEAD) and size-capped reads
//! into memory (GetObject with checksum mode, lock headers taken from the same response).
//! Writes go through the trait's default `put_bytes`, i.e. the create-only, locked, read-back
//! `put` of `upload.rs`.

use aws_sdk_s3::primitives::DateTime as AwsDateTime;
use aws_sdk_s3::types::{ChecksumMode, ObjectLockLegalHoldStatus, ObjectLockMode};
use chrono::{DateTime, Utc};

use super::{S3Store, status};
use crate::store::{
    FetchedObject, ListedPage, ListedVersion, RetentionMode, StoreError, too_large,
};

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
) -> Result<ListedPage, StoreError> {
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
    let truncated = page.is_truncated() == Some(true);
    if truncated
        && let Some(last) = listed.last().map(|v| v.key.clone())
        && listed.iter().any(|v| v.key != last)
    {
        // The next page may hold more versions of the last key: leave that key to it.
        listed.retain(|v| v.key != last);
    }
    // S3 says whether more follows (IsTruncated): a last page needs no empty page after it.
    Ok(ListedPage {
        versions: listed,
        complete: !truncated,
    })
}

/// GET one version into memory, refusing before reading the body when S3 says it is larger than
/// `max_len`, and while reading if more bytes arrive than that.
///
/// A body that breaks off mid-transfer is read again from the start, up to
/// [`crate::store::BODY_ATTEMPTS`] times: the SDK retries a request that fails before its
/// response, not a response whose body is cut short (a dropped connection while an audit log is
/// streamed from the bucket would otherwise end the run). Every retry names the version the first
/// response did, so all attempts read the same bytes.
pub(super) async fn get_bytes(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
    max_len: u64,
) -> Result<Option<FetchedObject>, StoreError> {
    let mut pinned = version_id.map(str::to_string);
    let mut retries = crate::store::BodyRetries::default();
    loop {
        match get_once(store, key, pinned.as_deref(), max_len).await? {
            Fetch::Done(found) => return Ok(found),
            Fetch::BodyBroke { version, message } => {
                retries
                    .after_break(&store.target, "GetObject", key, &message)
                    .await?;
                if pinned.is_none() {
                    pinned = version;
                }
            }
        }
    }
}

/// One GetObject: the object (or `None`), or a body that broke off (retryable).
enum Fetch {
    Done(Option<FetchedObject>),
    BodyBroke {
        version: Option<String>,
        message: String,
    },
}

async fn get_once(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
    max_len: u64,
) -> Result<Fetch, StoreError> {
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
        Err(error) if matches!(status(&error), Some(404 | 405)) => return Ok(Fetch::Done(None)),
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
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                return Ok(Fetch::BodyBroke {
                    version: found_version,
                    message: e.to_string(),
                });
            }
        };
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > max_len {
            return Err(too_large(&store.target, key, bytes.len() as u64, max_len));
        }
    }
    Ok(Fetch::Done(Some(FetchedObject {
        bytes,
        version_id: found_version,
        retention_mode,
        retain_until,
        legal_hold,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cutting_server;
    use crate::store::s3::test_store as store;

    /// A body cut short is read again, pinned to the version the first response named, and the
    /// bytes returned are the whole object; a body that keeps breaking off is an error naming
    /// the key and the attempts, after exactly BODY_ATTEMPTS requests.
    #[test]
    fn a_body_cut_short_is_read_again() {
        let runtime = cutting_server::runtime();
        let (endpoint, requests) = cutting_server::start(5000, 1, "x-amz-version-id", "v7");
        let found = runtime
            .block_on(async { get_bytes(&store(&endpoint).await, "p/k", None, 1 << 20).await })
            .unwrap()
            .unwrap();
        assert_eq!(found.bytes, cutting_server::body(5000));
        assert_eq!(found.version_id.as_deref(), Some("v7"));
        let gets = cutting_server::gets(&requests);
        assert_eq!(gets.len(), 2, "{gets:?}");
        assert!(!gets[0].contains("versionId"), "{gets:?}");
        assert!(gets[1].contains("versionId=v7"), "{gets:?}");

        let (endpoint, requests) =
            cutting_server::start(5000, usize::MAX, "x-amz-version-id", "v7");
        let error = runtime
            .block_on(async { get_bytes(&store(&endpoint).await, "p/k", None, 1 << 20).await })
            .unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, StoreError::Cloud { .. }), "{text}");
        assert!(
            text.contains("p/k") && text.contains("broke off 3 times"),
            "{text}"
        );
        assert_eq!(
            cutting_server::gets(&requests).len(),
            crate::store::BODY_ATTEMPTS as usize
        );
    }
}
