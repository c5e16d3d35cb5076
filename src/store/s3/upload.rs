//! Create-only, locked writes to S3: one PUT for small files, a multipart upload with per-part
//! SHA-256 checksums for large ones, and cleanup of multipart uploads a killed run left behind.
//!
//! Guarantees, with where each comes from:
//! * never overwrite: `If-None-Match: *` on PutObject and on CompleteMultipartUpload (S3 user
//!   guide, "Conditional writes"); a 412 becomes [`StoreError::AlreadyExists`];
//! * the bytes are the planned bytes: a single PUT carries `x-amz-checksum-sha256` = the plan's
//!   digest, so S3 refuses anything else (BadDigest). A multipart object has only a composite
//!   checksum (digest of part digests), so the upload hashes the whole file while reading the
//!   parts, refuses to complete unless that equals the plan's digest, checks the composite S3
//!   reports against the part digests it sent, and stores the whole-object digest as
//!   `x-amz-meta-sha256`;
//! * the lock is the planned lock: mode, retain-until and legal hold are sent with the write and
//!   read back with HEAD afterwards; any difference is [`StoreError::NotHonoured`];
//! * memory stays flat: parts are hashed with 128 KiB reads and sent straight from the file
//!   (offset + length, in 256 KiB chunks: `body`), so part size and file size do not change memory
//!   use.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::DateTime as AwsDateTime;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockLegalHoldStatus,
    ObjectLockMode,
};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checksum::{composite_checksum, digest_to_base64, hex_to_base64};
use super::{MAX_PART_SIZE, MAX_PARTS, S3Store, body, code, describe, read, status};
use crate::hashing::READ_SIZE;
use crate::store::compare::{self, Field, Mismatch};
use crate::store::{
    LockSpec, Progress, PutObject, RetentionMode, StoreError, StoredObject, WriteGate,
};

/// Metadata key (sent as `x-amz-meta-sha256`) holding the whole-object SHA-256, hex. For a
/// single PUT it repeats the checksum S3 verified; for multipart it is the digest wormvault
/// verified while uploading, which S3's composite checksum cannot express.
pub const SHA256_METADATA_KEY: &str = "sha256";

/// S3's object tag limits (user guide, "Categorizing your storage using tags").
const MAX_TAGS: usize = 10;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

/// A multipart upload that was started and never completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DanglingUpload {
    pub key: String,
    pub upload_id: String,
    pub initiated: Option<DateTime<Utc>>,
}

/// Characters left as-is in the tagging header: RFC 3986 unreserved. Everything else is
/// percent-encoded (the header is a URL query string; `+` would be ambiguous).
const TAG_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The `x-amz-tagging` header value for a tag set, after checking S3's limits.
pub fn tagging_header(
    key: &str,
    tags: &BTreeMap<String, String>,
) -> Result<Option<String>, StoreError> {
    if tags.is_empty() {
        return Ok(None);
    }
    if tags.len() > MAX_TAGS {
        return Err(StoreError::Config(format!(
            "object {key} has {} tags; S3 allows at most {MAX_TAGS} per object",
            tags.len()
        )));
    }
    let mut pairs = Vec::with_capacity(tags.len());
    for (name, value) in tags {
        if name.is_empty()
            || name.chars().count() > MAX_TAG_KEY
            || value.chars().count() > MAX_TAG_VALUE
        {
            return Err(StoreError::Config(format!(
                "tag {name:?} on object {key}: S3 tag keys are 1-{MAX_TAG_KEY} characters and values at most {MAX_TAG_VALUE}"
            )));
        }
        pairs.push(format!(
            "{}={}",
            percent_encoding::utf8_percent_encode(name, TAG_ESCAPE),
            percent_encoding::utf8_percent_encode(value, TAG_ESCAPE)
        ));
    }
    Ok(Some(pairs.join("&")))
}

/// S3's limit on an object's user metadata: the UTF-8 bytes of every name and value together.
pub const MAX_METADATA_BYTES: usize = 2048;

/// Check an object's user metadata for S3 (with the `sha256` entry every write adds): S3 sends
/// metadata as HTTP headers, so names must be header tokens and values visible ASCII, and all of
/// it together at most [`MAX_METADATA_BYTES`]. Run at plan time for every planned object, and
/// again on each write.
pub fn check_metadata(key: &str, metadata: &BTreeMap<String, String>) -> Result<(), StoreError> {
    let mut total = SHA256_METADATA_KEY.len() + 64;
    for (name, value) in metadata {
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        let value_ok = value.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
        if !name_ok || !value_ok {
            return Err(StoreError::Config(format!(
                "metadata {name:?} on object {key}: S3 metadata names are letters, digits, '-', '_' or '.', and values printable ASCII"
            )));
        }
        if !name.eq_ignore_ascii_case(SHA256_METADATA_KEY) {
            total += name.len() + value.len();
        }
    }
    if total > MAX_METADATA_BYTES {
        return Err(StoreError::Config(format!(
            "metadata on object {key} is {total} bytes; S3 allows at most {MAX_METADATA_BYTES}"
        )));
    }
    Ok(())
}

/// User metadata for the object: the plan's entries plus the whole-object SHA-256, checked by
/// [`check_metadata`].
fn metadata(
    object: &PutObject<'_>,
) -> Result<std::collections::HashMap<String, String>, StoreError> {
    check_metadata(&object.key, &object.metadata)?;
    let mut out = std::collections::HashMap::new();
    for (name, value) in &object.metadata {
        out.insert(name.to_ascii_lowercase(), value.clone());
    }
    out.insert(SHA256_METADATA_KEY.to_string(), object.sha256.clone());
    Ok(out)
}

/// S3 keeps retain-until dates to the second. Round up so the stored date is never earlier than
/// the plan's.
pub fn retain_until_seconds(requested: DateTime<Utc>) -> i64 {
    let seconds = requested.timestamp();
    if requested.timestamp_subsec_nanos() > 0 {
        seconds + 1
    } else {
        seconds
    }
}

fn lock_mode(mode: RetentionMode) -> ObjectLockMode {
    match mode {
        RetentionMode::Compliance => ObjectLockMode::Compliance,
        RetentionMode::Governance => ObjectLockMode::Governance,
    }
}

/// Part size for a file: the configured size, raised (in whole MiB) so the file fits in S3's
/// 10,000 parts.
pub fn effective_part_size(file_size: u64, configured: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let needed = file_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    configured.max(needed)
}

/// The object's SHA-256 plan digest, checked and base64-encoded for S3.
fn plan_checksum(store: &S3Store, object: &PutObject<'_>) -> Result<String, StoreError> {
    hex_to_base64(&object.sha256).map_err(|e| {
        StoreError::Config(format!(
            "object {} in {}: planned SHA-256 unusable: {e}",
            object.key, store.target
        ))
    })
}

/// Write one object. With a gate, a single PUT waits for it before sending anything, and a
/// multipart upload sends its parts (invisible until completed) but completes only once the gate
/// opens; a closed gate aborts the upload, so nothing is stored.
pub(super) async fn put(
    store: &S3Store,
    object: &PutObject<'_>,
    progress: Progress<'_>,
    gate: Option<&WriteGate>,
) -> Result<StoredObject, StoreError> {
    let request = WriteHeaders::for_object(store, object)?;
    let on_disk = std::fs::metadata(object.source)
        .map_err(|source| StoreError::Io {
            path: object.source.display().to_string(),
            source,
        })?
        .len();
    if on_disk != object.size {
        return Err(StoreError::Config(format!(
            "{} is {on_disk} bytes but the plan for {} says {}; the file changed after planning — re-run the plan",
            object.source.display(),
            object.key,
            object.size
        )));
    }
    if object.size > MAX_PART_SIZE * MAX_PARTS {
        return Err(StoreError::Config(format!(
            "{} is larger than S3's 5 TiB object limit",
            object.source.display()
        )));
    }
    let (version_id, written) = if object.size <= store.settings.multipart_threshold {
        if let Some(gate) = gate {
            gate.wait(&object.key).await?;
        }
        let version = put_single(store, object, &request, progress).await?;
        (version, Written::OnePut)
    } else {
        let version = put_multipart(store, object, &request, progress, gate).await?;
        (version, Written::Multipart)
    };
    confirm(store, object, version_id.as_deref(), written).await
}

/// What every write of an object sends, built once (architecture-2.md §2.6): PutObject and
/// CreateMultipartUpload get their lock, hold, metadata, tags and content type from
/// [`with_write_headers!`], so the two cannot disagree. `checksum` is the whole object's
/// SHA-256 (base64), sent as such only by PutObject; a multipart upload sends one per part.
struct WriteHeaders {
    checksum: String,
    tagging: Option<String>,
    metadata: std::collections::HashMap<String, String>,
    lock: crate::store::LockSpec,
    content_type: Option<String>,
}

impl WriteHeaders {
    /// The headers for writing `object`: its planned SHA-256 as the checksum, its tags, its
    /// metadata (with `x-amz-meta-sha256`), lock and content type, each checked against S3's
    /// limits.
    fn for_object(store: &S3Store, object: &PutObject<'_>) -> Result<WriteHeaders, StoreError> {
        Ok(WriteHeaders {
            checksum: plan_checksum(store, object)?,
            tagging: tagging_header(&object.key, &object.tags)?,
            metadata: metadata(object)?,
            lock: object.lock.clone(),
            content_type: object.content_type.clone(),
        })
    }
}

/// Apply [`WriteHeaders`] to a PutObject or CreateMultipartUpload builder. A macro because the
/// SDK's two fluent builders share these setter names but no trait.
macro_rules! with_write_headers {
    ($call:expr, $headers:expr) => {{
        let headers: &WriteHeaders = $headers;
        let call = $call
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .object_lock_mode(lock_mode(headers.lock.mode))
            .object_lock_retain_until_date(AwsDateTime::from_secs(retain_until_seconds(
                headers.lock.retain_until,
            )))
            .set_metadata(Some(headers.metadata.clone()))
            .set_tagging(headers.tagging.clone())
            .set_content_type(headers.content_type.clone());
        // Only a requested hold is sent: the header needs s3:PutObjectLegalHold, which the
        // uploader role in infra/aws/ deliberately lacks (holds belong to the legal-hold role).
        if headers.lock.legal_hold {
            call.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        } else {
            call
        }
    }};
}

/// Map a write error: 412 → exists; BadDigest → the bytes differ from the plan.
fn write_error<E>(
    store: &S3Store,
    operation: &str,
    object: &PutObject<'_>,
    error: &SdkError<E>,
) -> StoreError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    if status(error) == Some(412) || code(error) == Some("PreconditionFailed") {
        return StoreError::AlreadyExists {
            target: store.target.to_string(),
            key: object.key.clone(),
        };
    }
    if matches!(
        code(error),
        Some("BadDigest" | "InvalidDigest" | "XAmzContentChecksumMismatch")
    ) {
        return StoreError::ChecksumMismatch {
            target: store.target.to_string(),
            key: object.key.clone(),
            expected: object.sha256.clone(),
            found: format!(
                "different bytes from {} ({})",
                object.source.display(),
                describe(error)
            ),
        };
    }
    store.cloud_error(operation, Some(&object.key), error)
}

async fn put_single(
    store: &S3Store,
    object: &PutObject<'_>,
    request: &WriteHeaders,
    progress: Progress<'_>,
) -> Result<Option<String>, StoreError> {
    let body = body::file_range(object.source, 0, object.size)?;
    let version = put_object(store, object, request, body).await?;
    progress(object.size);
    Ok(version)
}

/// One create-only PutObject of `body` (`object.size` bytes) with `request`'s headers; returns
/// the version id S3 gave it.
async fn put_object(
    store: &S3Store,
    object: &PutObject<'_>,
    request: &WriteHeaders,
    body: aws_sdk_s3::primitives::ByteStream,
) -> Result<Option<String>, StoreError> {
    let call = with_write_headers!(
        store
            .client
            .put_object()
            .bucket(&store.bucket)
            .key(&object.key)
            .body(body)
            .content_length(object.size as i64)
            .if_none_match("*")
            .checksum_sha256(&request.checksum),
        request
    );
    // The signed x-amz-checksum-sha256 header binds the body (S3 verifies it), so the payload is
    // not hashed a second time for SigV4.
    let output = call
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| write_error(store, "PutObject", object, &e))?;
    Ok(output.version_id().map(str::to_string))
}

/// Create-only write of a small object held in memory (an audit record, a checkpoint, a tile):
/// the PutObject [`put`] would send for it — the same headers, `If-None-Match: *`, the
/// `x-amz-checksum-sha256` S3 verifies — and the same read-back ([`confirm`]: the store's own
/// checksum and the lock), without staging the bytes in a temporary file first.
pub(super) async fn put_bytes(
    store: &S3Store,
    object: &crate::store::PutBytes<'_>,
) -> Result<StoredObject, StoreError> {
    let size = object.bytes.len() as u64;
    if size > MAX_PART_SIZE {
        return Err(StoreError::Config(format!(
            "object {} is {size} bytes, more than one PutObject takes (5 GiB)",
            object.key
        )));
    }
    // The plan `put` checks and `confirm` compares against; its source is never opened.
    let planned = PutObject {
        key: object.key.to_string(),
        source: std::path::Path::new("the bytes in memory"),
        size,
        sha256: crate::hashing::sha256_hex(object.bytes),
        lock: object.lock.clone(),
        tags: BTreeMap::new(),
        metadata: object.metadata.clone(),
        content_type: object.content_type.map(str::to_string),
    };
    let request = WriteHeaders::for_object(store, &planned)?;
    let body = aws_sdk_s3::primitives::ByteStream::from(object.bytes.to_vec());
    let version = put_object(store, &planned, &request, body).await?;
    confirm(store, &planned, version.as_deref(), Written::OnePut).await
}

/// One part as read and hashed from disk.
struct PartPlan {
    number: i32,
    offset: u64,
    length: u64,
    digest: [u8; 32],
}

/// Read the file once, in order, hashing each part and the whole file; hand parts to the uploader
/// through a bounded channel (so reading stays at most `capacity` parts ahead of the network).
/// Returns the whole-file SHA-256, hex.
/// With a `claim` (the deferred content check registered this file, see
/// [`crate::hashing::SharedDigests`]), the whole-file digest of the bytes read — the bytes sent —
/// is handed to the check, so the file is read and hashed once; an error drops the claim and the
/// check hashes the file itself.
fn read_parts(
    path: PathBuf,
    size: u64,
    part_size: u64,
    sender: tokio::sync::mpsc::Sender<PartPlan>,
    claim: Option<crate::hashing::DigestClaim>,
) -> std::io::Result<String> {
    let mut file = std::fs::File::open(&path)?;
    let mut whole = Sha256::new();
    let mut buffer = crate::readbuf::ReadBuffer::new(READ_SIZE);
    let mut offset = 0u64;
    let mut number = 1i32;
    while offset < size {
        let length = part_size.min(size - offset);
        let mut part = Sha256::new();
        let mut remaining = length;
        while remaining > 0 {
            let want = remaining.min(READ_SIZE as u64) as usize;
            let read = match file.read(&mut buffer[..want]) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "{} ended at byte {} while reading part {number}",
                            path.display(),
                            offset + length - remaining
                        ),
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            part.update(&buffer[..read]);
            whole.update(&buffer[..read]);
            crate::hashing::count_hashed(&path, read);
            remaining -= read as u64;
        }
        let plan = PartPlan {
            number,
            offset,
            length,
            digest: part.finalize().into(),
        };
        if sender.blocking_send(plan).is_err() {
            // The uploader stopped (an error); it reports why.
            return Err(std::io::Error::other("upload stopped"));
        }
        offset += length;
        number += 1;
    }
    let whole = hex::encode(whole.finalize());
    if let Some(claim) = claim {
        claim.publish(crate::hashing::FileDigest {
            sha256: whole.clone(),
            bytes: size,
        });
    }
    Ok(whole)
}

async fn put_multipart(
    store: &S3Store,
    object: &PutObject<'_>,
    request: &WriteHeaders,
    progress: Progress<'_>,
    gate: Option<&WriteGate>,
) -> Result<Option<String>, StoreError> {
    // Fail fast before sending gigabytes when the key is taken; If-None-Match on completion still
    // decides a race.
    match store
        .client
        .head_object()
        .bucket(&store.bucket)
        .key(&object.key)
        .send()
        .await
    {
        Ok(_) => {
            return Err(StoreError::AlreadyExists {
                target: store.target.to_string(),
                key: object.key.clone(),
            });
        }
        Err(error) if matches!(status(&error), Some(404 | 405)) => {}
        Err(error) => return Err(store.cloud_error("HeadObject", Some(&object.key), &error)),
    }
    let create = with_write_headers!(
        store
            .client
            .create_multipart_upload()
            .bucket(&store.bucket)
            .key(&object.key),
        request
    );
    let created = create
        .send()
        .await
        .map_err(|e| write_error(store, "CreateMultipartUpload", object, &e))?;
    let Some(upload_id) = created.upload_id().map(str::to_string) else {
        return Err(StoreError::Cloud {
            target: store.target.to_string(),
            operation: "CreateMultipartUpload".into(),
            key: Some(object.key.clone()),
            message: "the store returned no upload id".into(),
        });
    };
    match upload_and_complete(store, object, &upload_id, progress, gate).await {
        Ok(version) => Ok(version),
        Err(error) => {
            // Never leave parts behind: abort, and say so if even that fails.
            let abort = store
                .client
                .abort_multipart_upload()
                .bucket(&store.bucket)
                .key(&object.key)
                .upload_id(&upload_id)
                .send()
                .await;
            match abort {
                Ok(_) => Err(error),
                Err(abort_error) => Err(StoreError::Cloud {
                    target: store.target.to_string(),
                    operation: "CompleteMultipartUpload".into(),
                    key: Some(object.key.clone()),
                    message: format!(
                        "{error}; aborting upload {upload_id} also failed ({}): run the upload again, it aborts dangling uploads first",
                        describe(&abort_error)
                    ),
                }),
            }
        }
    }
}

async fn upload_and_complete(
    store: &S3Store,
    object: &PutObject<'_>,
    upload_id: &str,
    progress: Progress<'_>,
    gate: Option<&WriteGate>,
) -> Result<Option<String>, StoreError> {
    let part_size = effective_part_size(object.size, store.settings.part_size);
    let concurrency = store.settings.part_concurrency;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<PartPlan>(concurrency);
    let source = object.source.to_path_buf();
    let size = object.size;
    let claim = gate
        .and_then(|g| g.digests())
        .and_then(|d| d.claim(object.source));
    let reader =
        tokio::task::spawn_blocking(move || read_parts(source, size, part_size, sender, claim));

    let parts = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
        .map(|part| upload_part(store, object, upload_id, part, progress))
        .buffer_unordered(concurrency)
        .try_collect::<Vec<(CompletedPart, [u8; 32])>>()
        .await;
    // The receiver is gone now, so a reader still waiting to send stops on its own.
    let whole = reader.await.map_err(|e| StoreError::Io {
        path: object.source.display().to_string(),
        source: std::io::Error::other(format!("hashing task failed: {e}")),
    })?;
    let mut parts = parts?;
    let whole = whole.map_err(|source| StoreError::Io {
        path: object.source.display().to_string(),
        source,
    })?;
    if whole != object.sha256 {
        return Err(StoreError::ChecksumMismatch {
            target: store.target.to_string(),
            key: object.key.clone(),
            expected: object.sha256.clone(),
            found: format!(
                "{whole} (SHA-256 of {} while uploading; the file changed after planning)",
                object.source.display()
            ),
        });
    }
    parts.sort_by_key(|(part, _)| part.part_number());
    let digests: Vec<[u8; 32]> = parts.iter().map(|(_, digest)| *digest).collect();
    let expected_composite = composite_checksum(&digests);
    // The point of no return: completing makes the object. Wait for the gate here.
    if let Some(gate) = gate {
        gate.wait(&object.key).await?;
    }
    let completed = CompletedMultipartUpload::builder()
        .set_parts(Some(parts.into_iter().map(|(part, _)| part).collect()))
        .build();
    let output = store
        .client
        .complete_multipart_upload()
        .bucket(&store.bucket)
        .key(&object.key)
        .upload_id(upload_id)
        .multipart_upload(completed)
        .if_none_match("*")
        .send()
        .await
        .map_err(|e| write_error(store, "CompleteMultipartUpload", object, &e))?;
    if let Some(reported) = output.checksum_sha256()
        && reported != expected_composite
    {
        return Err(StoreError::ChecksumMismatch {
            target: store.target.to_string(),
            key: object.key.clone(),
            expected: expected_composite,
            found: format!("{reported} (composite checksum reported on completion)"),
        });
    }
    Ok(output.version_id().map(str::to_string))
}

async fn upload_part(
    store: &S3Store,
    object: &PutObject<'_>,
    upload_id: &str,
    part: PartPlan,
    progress: Progress<'_>,
) -> Result<(CompletedPart, [u8; 32]), StoreError> {
    // Sent from the file itself (offset + length): S3 checks the bytes against the digest taken
    // while reading, so a file changing underneath is refused (BadDigest), never stored.
    let body = body::file_range(object.source, part.offset, part.length)?;
    let checksum = digest_to_base64(&part.digest);
    let output = store
        .client
        .upload_part()
        .bucket(&store.bucket)
        .key(&object.key)
        .upload_id(upload_id)
        .part_number(part.number)
        .content_length(part.length as i64)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(&checksum)
        .body(body)
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| write_error(store, &format!("UploadPart {}", part.number), object, &e))?;
    if let Some(reported) = output.checksum_sha256()
        && reported != checksum
    {
        return Err(StoreError::ChecksumMismatch {
            target: store.target.to_string(),
            key: object.key.clone(),
            expected: checksum,
            found: format!(
                "{reported} (part {} checksum reported by the store)",
                part.number
            ),
        });
    }
    progress(part.length);
    let completed = CompletedPart::builder()
        .part_number(part.number)
        .set_e_tag(output.e_tag().map(str::to_string))
        .checksum_sha256(checksum)
        .build();
    Ok((completed, part.digest))
}

/// How an object was written, which decides what proves its content on the read-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// One PutObject: S3 verified its `x-amz-checksum-sha256` and must report that full-object
    /// checksum; nothing else is taken as the store's word.
    OnePut,
    /// A multipart upload: S3 reports a composite, checked on completion, and the whole-object
    /// digest comes from the metadata written after checking it.
    Multipart,
}

/// Read the object back and compare it with the request: content digest, lock mode,
/// retain-until (to the second, see [`retain_until_seconds`]) and legal hold.
async fn confirm(
    store: &S3Store,
    object: &PutObject<'_>,
    version_id: Option<&str>,
    written: Written,
) -> Result<StoredObject, StoreError> {
    let Some(mut stored) = read::head_known(
        store,
        &object.key,
        version_id,
        read::HeadOptions {
            known_latest: Some(true),
            fresh_without_hold: !object.lock.legal_hold,
            read_tags: false,
            composite: match written {
                Written::OnePut => read::Composite::Refused,
                Written::Multipart => read::Composite::CheckedByThisWrite,
            },
        },
    )
    .await?
    else {
        return Err(StoreError::NotHonoured {
            target: store.target.to_string(),
            key: object.key.clone(),
            detail: "the object is not there right after a successful write".into(),
        });
    };
    stored.is_latest = true;
    // Compared with store::compare under the read-back rule ([`READ_BACK`]), content first:
    // other content is a checksum mismatch; another lock is a request the store did not honour.
    let expected = compare::Expected {
        sha256: Some(&object.sha256),
        ..compare::Expected::default()
    };
    let content = compare::differences(&object.key, &expected, &stored, READ_BACK);
    let lock = lock_differences(&object.lock, &stored);
    if !content.is_empty() {
        return Err(StoreError::ChecksumMismatch {
            target: store.target.to_string(),
            key: object.key.clone(),
            expected: object.sha256.clone(),
            found: stored
                .sha256
                .clone()
                .unwrap_or_else(|| "no whole-object SHA-256 reported by the store".into()),
        });
    }
    if !lock.is_empty() {
        return Err(StoreError::NotHonoured {
            target: store.target.to_string(),
            key: object.key.clone(),
            detail: format!(
                "{} (version {}); the object is written but not locked as planned — check the bucket's Object Lock configuration with `wormvault target check`",
                lock.iter()
                    .map(describe_lock)
                    .collect::<Vec<_>>()
                    .join("; "),
                stored.version_id.as_deref().unwrap_or("unknown")
            ),
        });
    }
    Ok(stored)
}

/// The rule for the read-back right after a write: the store must hold exactly the retain-until
/// second it was just sent (rounded up, [`retain_until_seconds`]) — a later date would mean the
/// request was not the one applied — and a legal hold it does not report is off.
const READ_BACK: compare::Rules = compare::Rules {
    retain_until: compare::RetainRule::Exactly,
    legal_hold: compare::HoldRule::AbsentIsOff,
    lock: compare::LockRule::Always,
    hex: compare::HexCase::Exact,
    require_confirmed: false,
};

/// The lock as S3 stores it: retain-until rounded up to the second it is sent as.
fn expected_lock(lock: &LockSpec) -> compare::ExpectedLock {
    compare::ExpectedLock {
        mode: Some(lock.mode),
        retain_until: Some(
            DateTime::from_timestamp(retain_until_seconds(lock.retain_until), 0)
                .unwrap_or(lock.retain_until),
        ),
        legal_hold: Some(lock.legal_hold),
    }
}

fn describe_lock(m: &Mismatch) -> String {
    if m.field == Field::LegalHold {
        // Under [`READ_BACK`] a hold the store does not report is off.
        let on_off = |value: &str| if value == "true" { "on" } else { "off" };
        return format!(
            "legal hold is {}, requested {}",
            on_off(&m.found),
            on_off(&m.expected)
        );
    }
    let what = match m.field {
        Field::RetentionMode => "retention mode",
        Field::RetainUntil => "retain-until",
        other => other.as_str(),
    };
    format!("{what} is {}, requested {}", m.found, m.expected)
}

/// Differences between the requested lock and what the store reports, under the read-back rule.
pub fn lock_differences(lock: &LockSpec, stored: &StoredObject) -> Vec<Mismatch> {
    let expected = compare::Expected {
        lock: Some(expected_lock(lock)),
        ..compare::Expected::default()
    };
    compare::differences(&stored.key, &expected, stored, READ_BACK)
}

pub(super) async fn abort_dangling(
    store: &S3Store,
    prefix: &str,
) -> Result<Vec<DanglingUpload>, StoreError> {
    let mut found = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut upload_marker: Option<String> = None;
    loop {
        let page = store
            .client
            .list_multipart_uploads()
            .bucket(&store.bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(upload_marker.clone())
            .send()
            .await
            .map_err(|e| store.cloud_error("ListMultipartUploads", Some(prefix), &e))?;
        for upload in page.uploads() {
            if let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) {
                found.push(DanglingUpload {
                    key: key.to_string(),
                    upload_id: upload_id.to_string(),
                    initiated: upload
                        .initiated()
                        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                });
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        upload_marker = page.next_upload_id_marker().map(str::to_string);
        if key_marker.is_none() && upload_marker.is_none() {
            break;
        }
    }
    for upload in &found {
        match store
            .client
            .abort_multipart_upload()
            .bucket(&store.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .send()
            .await
        {
            Ok(_) => {}
            // Completed or aborted meanwhile: nothing left to clean.
            Err(e) if code(&e) == Some("NoSuchUpload") => {}
            Err(e) => return Err(store.cloud_error("AbortMultipartUpload", Some(&upload.key), &e)),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A server that takes any PutObject and answers HEAD with `checksum` as the object's
    /// `x-amz-checksum-sha256`, our own `x-amz-meta-sha256` for `bytes`, and the lock planned.
    fn reporting(
        bytes: &'static [u8],
        checksum: String,
        retain_until: DateTime<Utc>,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let hex = crate::hashing::sha256_hex(bytes);
        let until = retain_until.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        crate::store::cutting_server::scripted(move |head| {
            let common = "HTTP/1.1 200 OK\r\nx-amz-version-id: v1\r\nETag: \"e1\"";
            if head.starts_with("PUT") {
                (common.to_string(), Vec::new())
            } else {
                (
                    format!(
                        "{common}\r\nContent-Length: {}\r\nx-amz-checksum-sha256: {checksum}\r\nx-amz-meta-sha256: {hex}\r\nx-amz-object-lock-mode: COMPLIANCE\r\nx-amz-object-lock-retain-until-date: {until}\r\nx-amz-object-lock-legal-hold: OFF",
                        bytes.len()
                    ),
                    Vec::new(),
                )
            }
        })
    }

    /// One PutObject is proved only by the full-object checksum S3 verified for it: a store that
    /// answers the read-back with a composite checksum (`…-1`) gets no credit for the
    /// `x-amz-meta-sha256` we sent ourselves, and the write is a checksum mismatch, not a
    /// receipt. The same server reporting the full-object checksum gives the receipt.
    #[test]
    fn one_put_is_proved_only_by_the_full_object_checksum() {
        const BYTES: &[u8] = b"{\"sequence\": 1}\n";
        let runtime = crate::store::cutting_server::runtime();
        let retain_until = Utc.with_ymd_and_hms(2033, 11, 20, 5, 51, 34).unwrap();
        let object = crate::store::PutBytes {
            key: "p/audit/1.json",
            bytes: BYTES,
            lock: crate::store::LockSpec {
                mode: crate::store::RetentionMode::Compliance,
                retain_until,
                legal_hold: false,
            },
            metadata: BTreeMap::new(),
            content_type: None,
        };
        let full = hex_to_base64(&crate::hashing::sha256_hex(BYTES)).unwrap();
        let put = |checksum: String| {
            let (endpoint, requests) = reporting(BYTES, checksum, retain_until);
            let result = runtime.block_on(async {
                let store = super::super::test_store(&endpoint).await;
                put_bytes(&store, &object).await
            });
            let methods: Vec<String> = requests
                .lock()
                .unwrap()
                .iter()
                .map(|head| head.split(' ').next().unwrap_or("").to_string())
                .collect();
            (result, methods)
        };

        let (result, methods) = put(format!("{full}-1"));
        assert_eq!(methods, ["PUT", "HEAD"]);
        match result {
            Err(StoreError::ChecksumMismatch { key, found, .. }) => {
                assert_eq!(key, "p/audit/1.json");
                assert!(found.contains("no whole-object SHA-256"), "{found}");
            }
            other => panic!("a composite for one PutObject was taken: {other:?}"),
        }

        let (result, methods) = put(full);
        assert_eq!(methods, ["PUT", "HEAD"]);
        let stored = result.unwrap();
        assert_eq!(
            stored.sha256.as_deref(),
            Some(crate::hashing::sha256_hex(BYTES).as_str())
        );
        assert_eq!(stored.version_id.as_deref(), Some("v1"));
        assert_eq!(stored.retain_until, Some(retain_until));
    }

    #[test]
    fn tagging_header_percent_encodes_and_enforces_limits() {
        let mut tags = BTreeMap::new();
        tags.insert("case".to_string(), "INC 42/a+b".to_string());
        tags.insert("session".to_string(), "release-2026-11-22".to_string());
        assert_eq!(
            tagging_header("k", &tags).unwrap().unwrap(),
            "case=INC%2042%2Fa%2Bb&session=release-2026-11-22"
        );
        assert_eq!(tagging_header("k", &BTreeMap::new()).unwrap(), None);
        let many: BTreeMap<String, String> = (0..11)
            .map(|i| (format!("t{i}"), "v".to_string()))
            .collect();
        assert!(matches!(
            tagging_header("k", &many),
            Err(StoreError::Config(_))
        ));
        let long: BTreeMap<String, String> = [("t".to_string(), "v".repeat(257))].into();
        assert!(matches!(
            tagging_header("k", &long),
            Err(StoreError::Config(_))
        ));
    }

    #[test]
    fn retain_until_rounds_up_to_whole_seconds() {
        let exact = Utc.with_ymd_and_hms(2033, 11, 20, 5, 51, 34).unwrap();
        assert_eq!(retain_until_seconds(exact), exact.timestamp());
        let fraction = exact + chrono::Duration::microseconds(123_456);
        assert_eq!(retain_until_seconds(fraction), exact.timestamp() + 1);
    }

    #[test]
    fn part_size_grows_to_fit_ten_thousand_parts() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(effective_part_size(200 * MIB, 5 * MIB), 5 * MIB);
        // 100 GiB at 5 MiB would be 20,480 parts: raised to 11 MiB (10,240 / 1,024 rounded up).
        let size = 100 * 1024 * MIB;
        let part = effective_part_size(size, 5 * MIB);
        assert_eq!(part, 11 * MIB);
        assert!(size.div_ceil(part) <= MAX_PARTS);
    }

    #[test]
    fn lock_differences_name_each_mismatch() {
        let until = Utc.with_ymd_and_hms(2033, 11, 20, 5, 51, 34).unwrap()
            + chrono::Duration::milliseconds(500);
        let lock = LockSpec {
            mode: RetentionMode::Compliance,
            retain_until: until,
            legal_hold: false,
        };
        let mut stored = StoredObject {
            key: "k".into(),
            version_id: Some("v".into()),
            etag: None,
            size: 1,
            sha256: None,
            sha256_source: crate::store::DigestSource::Claimed,
            md5: None,
            retention_mode: Some(RetentionMode::Compliance),
            retain_until: DateTime::from_timestamp(retain_until_seconds(until), 0),
            legal_hold: Some(false),
            tags: BTreeMap::new(),
            last_modified: None,
            request_id: None,
            enforcement: crate::store::Enforcement::Store,
            is_latest: true,
        };
        assert!(lock_differences(&lock, &stored).is_empty());
        stored.retention_mode = Some(RetentionMode::Governance);
        stored.retain_until = DateTime::from_timestamp(retain_until_seconds(until) - 1, 0);
        stored.legal_hold = Some(true);
        let problems = lock_differences(&lock, &stored);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(
            problems.iter().map(|m| m.field).collect::<Vec<_>>(),
            [Field::RetentionMode, Field::RetainUntil, Field::LegalHold]
        );
        assert_eq!(
            describe_lock(&problems[0]),
            "retention mode is governance, requested compliance"
        );
        // Exactly the second sent: a later date is not what was requested either.
        stored.retain_until = DateTime::from_timestamp(retain_until_seconds(until) + 1, 0);
        assert_eq!(
            lock_differences(&lock, &stored)[1].field,
            Field::RetainUntil
        );
        stored.retention_mode = None;
        assert_eq!(
            describe_lock(&lock_differences(&lock, &stored)[0]),
            "retention mode is nothing, requested compliance"
        );
        // No legal hold reported is off, as requested.
        stored.retention_mode = Some(RetentionMode::Compliance);
        stored.retain_until = DateTime::from_timestamp(retain_until_seconds(until), 0);
        stored.legal_hold = None;
        assert!(lock_differences(&lock, &stored).is_empty());
        stored.legal_hold = Some(true);
        assert_eq!(
            describe_lock(&lock_differences(&lock, &stored)[0]),
            "legal hold is on, requested off"
        );
    }

    #[test]
    fn reader_hashes_parts_and_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(READ_SIZE * 5 + 7)).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let part = (READ_SIZE * 2) as u64;
        let (sender, mut receiver) = tokio::sync::mpsc::channel(16);
        let whole = read_parts(path.clone(), data.len() as u64, part, sender, None).unwrap();
        assert_eq!(whole, crate::hashing::sha256_hex(&data));
        let mut seen = Vec::new();
        while let Ok(plan) = receiver.try_recv() {
            let start = plan.offset as usize;
            let end = start + plan.length as usize;
            assert_eq!(
                hex::encode(plan.digest),
                crate::hashing::sha256_hex(&data[start..end])
            );
            seen.push((plan.number, plan.length));
        }
        assert_eq!(seen, [(1, part), (2, part), (3, READ_SIZE as u64 + 7)]);
        // A file shorter than planned is an error, not a short object.
        let (sender, _receiver) = tokio::sync::mpsc::channel(16);
        assert!(read_parts(path, data.len() as u64 + 1, part, sender, None).is_err());
    }

    /// Issue #19 item 3: a large file checked while it uploads is read and hashed once — the
    /// uploader's whole-file digest of the bytes it sent feeds the deferred check — and the
    /// check still refuses content that differs from the manifest.
    #[test]
    fn one_hash_pass_feeds_the_deferred_check() {
        use crate::bundle::{self, CreateOptions, Signing};
        use crate::hashing::{SharedDigests, hashed_bytes};
        let dir = tempfile::tempdir().unwrap();
        let inputs = dir.path().join("in");
        std::fs::create_dir_all(&inputs).unwrap();
        let data: Vec<u8> = (0..(READ_SIZE * 3 + 11)).map(|i| (i % 241) as u8).collect();
        std::fs::write(inputs.join("large.bin"), &data).unwrap();
        let output = dir.path().join("bundle");
        bundle::create(
            &[inputs],
            &CreateOptions {
                output: output.clone(),
                signer: "platform-security".into(),
                signing: Signing::Unsigned,
                retention_days: 2555,
                classification: "regulated-sdlc".into(),
                legal_hold: false,
                session_id: Some("s-1".into()),
                created_at: None,
            },
        )
        .unwrap();
        let options = bundle::VerifyOptions {
            allow_unsigned: true,
            defer_hashing_from: Some(data.len() as u64),
            ..bundle::VerifyOptions::default()
        };
        let source = output.join("large.bin");
        let part = (READ_SIZE * 2) as u64;

        // The uploader reads and hashes while the check waits for its digest.
        let upload_while_checking = |claim_it: bool| {
            let mut report = bundle::verify(&output, &options).unwrap();
            assert_eq!(report.deferred, ["large.bin"]);
            let shared = SharedDigests::new(&bundle::verify::deferred_sources(&report));
            let check = {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    bundle::verify::finish_deferred_with(&mut report, None, Some(&shared));
                    report
                })
            };
            let in_flight = shared.enter();
            let claim = shared.claim(&source);
            assert!(claim.is_some(), "the check left the file to the uploader");
            let (sender, _receiver) = tokio::sync::mpsc::channel(16);
            let claim = if claim_it {
                claim
            } else {
                drop(claim);
                None
            };
            let whole = read_parts(source.clone(), data.len() as u64, part, sender, claim).unwrap();
            // The write now waits at the gate for the check.
            let parked = shared.park();
            let report = check.join().unwrap();
            drop((parked, in_flight));
            (whole, report)
        };

        let before = hashed_bytes(&source);
        let (whole, report) = upload_while_checking(true);
        assert_eq!(whole, crate::hashing::sha256_hex(&data));
        assert!(report.valid, "{:?}", report.findings);
        assert_eq!(
            hashed_bytes(&source) - before,
            data.len() as u64,
            "one pass over the file, not two"
        );

        // A claim given up (the upload stopped): the check hashes the file itself.
        let before = hashed_bytes(&source);
        let (_, report) = upload_while_checking(false);
        assert!(report.valid);
        assert_eq!(hashed_bytes(&source) - before, 2 * data.len() as u64);

        // Same size, other content: the uploader's digest of what it sent fails the check.
        let mut changed = data.clone();
        changed[READ_SIZE + 3] ^= 1;
        std::fs::write(&source, &changed).unwrap();
        let before = hashed_bytes(&source);
        let (whole, report) = upload_while_checking(true);
        assert_eq!(whole, crate::hashing::sha256_hex(&changed));
        assert!(!report.valid);
        assert_eq!(report.kinds(), ["file_hash_mismatch"]);
        assert_eq!(hashed_bytes(&source) - before, changed.len() as u64);
    }
}
