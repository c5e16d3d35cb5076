//! Create-only writes to Azure: a blob of one block in one Put Blob, a larger one staged in blocks
//! (each with a transactional CRC64) and committed after the [`WriteGate`] — either write with
//! `If-None-Match: *` and the immutability policy and legal hold carried in its headers, so the
//! blob never exists unlocked (a store that drops them gets them by their own requests) — then
//! read the blob back and compare it with the request (store::compare, Azure's rule).

use std::collections::HashMap;
use std::io::Read;

use azure_core::http::{Etag, RequestContent};
use azure_storage_blob::models::{
    BlobClientSetImmutabilityPolicyOptions, BlobClientSetLegalHoldOptions, BlobClientUploadOptions,
    BlockBlobClientCommitBlockListOptions, BlockBlobClientStageBlockOptions, BlockLookupList,
    ImmutabilityPolicyMode,
};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use md5::Digest as _;
use sha2::Sha256;

use super::{
    AzureStore, SHA256_METADATA, cloud, describe, metadata_name, status_of, tags_header, to_offset,
};
use crate::readbuf::ReadBuffer;
use crate::store::buffers::BufferPool;
use crate::store::{
    Enforcement, Progress, PutObject, RetentionMode, StoreError, StoredObject, WriteGate, compare,
};

/// One read-back difference in the words Azure's messages have always used.
fn describe_difference(m: &compare::Mismatch) -> String {
    let (found, expected) = (&m.found, &m.expected);
    match m.field {
        compare::Field::Bytes => format!("size {found} (expected {expected})"),
        compare::Field::Sha256 => format!("metadata sha256 {found} (expected {expected})"),
        compare::Field::Md5 => format!("Content-MD5 {found} (expected {expected})"),
        compare::Field::Tag => format!("tag {found} (expected {expected})"),
        compare::Field::RetainUntil => {
            format!("immutability policy until {found} (expected ≥ {expected})")
        }
        compare::Field::RetentionMode => format!("policy mode {found} (expected {expected})"),
        compare::Field::LegalHold => format!("legal hold {found} (expected {expected})"),
        other => format!("{other} {found} (expected {expected})"),
    }
}

/// Bytes read (and hashed) at a time: small enough to be hashed while still in the CPU cache.
const PIECE: usize = 256 * 1024;

/// RFC 1123 dates have whole seconds: round a requested retention *up* so the stored one is
/// never shorter than asked.
pub(super) fn ceil_second(when: DateTime<Utc>) -> DateTime<Utc> {
    let floor = DateTime::<Utc>::from_timestamp(when.timestamp(), 0).unwrap_or(when);
    if floor < when {
        floor + chrono::Duration::seconds(1)
    } else {
        floor
    }
}

/// The first ten bytes of this write's block ids: random (80 bits), so that ids are unique to
/// the write. Each id is those bytes and the block number in 12 digits: 22 bytes, the length of
/// the ids earlier versions used (`wormvault-000000000000`, …), since Azure refuses a block whose
/// id length differs from the blocks already staged under the name, and a kill mid-upload by an
/// earlier version leaves such blocks behind for a week.
///
/// Uncommitted blocks belong to the blob *name*, not to a writer: with ids that were the same
/// for every write, a second writer of the same name — another pipeline archiving to the same
/// key at the same time — restaged the first one's ids with its own bytes, and the first
/// writer's Put Block List then committed the other's content under its own SHA-256 metadata and
/// Content-MD5 (neither of which the service checks against the committed blocks), so its receipt
/// named bytes the store did not hold. With ids unique to the write, each commit lists only
/// blocks its own writer staged (each checked by the service against its CRC64), and the other
/// commit is refused by `If-None-Match: *`.
fn write_id() -> Result<[u8; 10], getrandom::Error> {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random)?;
    Ok(random)
}

/// Block `index`'s id in the write whose random prefix is `write_id`.
fn block_id(write_id: &[u8; 10], index: u64) -> Vec<u8> {
    let mut id = write_id.to_vec();
    id.extend_from_slice(format!("{index:012}").as_bytes());
    id
}

/// The immutability policy and legal hold a create-only write (Put Blob, Put Block List) carries
/// with the content (`x-ms-immutability-policy-until-date`, `-mode`, `x-ms-legal-hold`), so the
/// blob exists locked from its first moment. None where the lock is not to be enforced (a
/// container the user accepted as unenforced may refuse them; there the explicit requests'
/// failures are tolerated).
struct LockHeaders {
    expiry: Option<azure_core::time::OffsetDateTime>,
    mode: Option<ImmutabilityPolicyMode>,
    legal_hold: Option<bool>,
}

impl LockHeaders {
    fn of(object: &PutObject<'_>, enforcement: Enforcement) -> Result<LockHeaders, StoreError> {
        if enforcement == Enforcement::Unconfirmed {
            return Ok(LockHeaders {
                expiry: None,
                mode: None,
                legal_hold: None,
            });
        }
        Ok(LockHeaders {
            expiry: Some(
                to_offset(ceil_second(object.lock.retain_until)).map_err(StoreError::Config)?,
            ),
            mode: Some(match object.lock.mode {
                RetentionMode::Compliance => ImmutabilityPolicyMode::Locked,
                RetentionMode::Governance => ImmutabilityPolicyMode::Unlocked,
            }),
            legal_hold: object.lock.legal_hold.then_some(true),
        })
    }
}

impl AzureStore {
    /// The create-only write behind [`ImmutableStore::put`] and [`ImmutableStore::put_gated`]:
    /// stage the blocks, wait for the gate if there is one, commit, lock, read back.
    pub(super) async fn write(
        &self,
        object: &PutObject<'_>,
        progress: Progress<'_>,
        gate: Option<&WriteGate>,
    ) -> Result<StoredObject, StoreError> {
        self.check_key(&object.key)?;
        super::check_fields(&object.key, &object.metadata, &object.tags)?;
        for (name, value) in &object.metadata {
            if name.eq_ignore_ascii_case(SHA256_METADATA)
                && !value.eq_ignore_ascii_case(&object.sha256)
            {
                return Err(StoreError::Config(format!(
                    "metadata {SHA256_METADATA}={value} for {} contradicts the object's SHA-256 {}",
                    object.key, object.sha256
                )));
            }
        }
        let enforcement = self.enforcement();
        if object.size <= self.options.block_size as u64 {
            return self.write_whole(object, progress, gate, enforcement).await;
        }
        if self.properties(&object.key, None, false).await?.is_some() {
            return Err(StoreError::AlreadyExists {
                target: self.target.to_string(),
                key: object.key.clone(),
            });
        }
        // The deferred content check takes this read's digest instead of hashing the file again
        // (hashing::SharedDigests); claimed here, after the last cheap refusal.
        let claim = gate
            .and_then(|g| g.digests())
            .and_then(|d| d.claim(object.source));
        let (ids, md5) = self.stage_blocks(object, progress, claim).await?;
        if let Some(gate) = gate {
            gate.wait(&object.key).await?;
        }
        let metadata = self.commit_metadata(object);
        let lock = LockHeaders::of(object, enforcement)?;
        let options = BlockBlobClientCommitBlockListOptions {
            if_none_match: Some(Etag::from("*")),
            blob_content_md5: md5.map(|m| m.to_vec()),
            blob_content_type: object.content_type.clone(),
            metadata: Some(metadata),
            blob_tags_string: if object.tags.is_empty() {
                None
            } else {
                Some(tags_header(&object.tags))
            },
            immutability_policy_expiry: lock.expiry,
            immutability_policy_mode: lock.mode,
            legal_hold: lock.legal_hold,
            ..Default::default()
        };
        let list = BlockLookupList {
            latest: Some(ids),
            ..Default::default()
        };
        let body: RequestContent<BlockLookupList, azure_core::http::XmlFormat> =
            list.try_into().map_err(|e: azure_core::Error| {
                cloud(
                    &self.target,
                    "Put Block List",
                    Some(&object.key),
                    e.to_string(),
                )
            })?;
        let block = self.blob(&object.key).block_blob_client();
        if let Err(e) = block.commit_block_list(body, Some(options)).await {
            return Err(self.create_error(&object.key, "Put Block List", &e));
        }
        let mut stored = self.read_back_locked(object, enforcement).await?;
        self.verify(object, md5.as_ref(), &stored, enforcement)?;
        // The blob is the blocks this write staged (each checked by the store against its
        // CRC64, under ids no other write uses) and its bytes were hashed as they were sent: the
        // sha256 metadata this write put beside them is, for this version, a checked digest.
        stored.sha256_source = crate::store::DigestSource::Verified;
        Ok(stored)
    }

    /// An object of at most one block in ONE Put Blob request: `If-None-Match: *` (create-only,
    /// no existence check first), the bytes with their CRC64 for the service to check, the
    /// `sha256` metadata, tags, and the immutability policy and legal hold headers (Azure applies
    /// them with the write, so the blob never exists unlocked). Then Get Blob Properties and Get
    /// Blob Tags: three requests where staging took seven. A store that did not apply the lock
    /// headers (a container default policy already satisfying it, or a store without them) gets
    /// the policy and hold set explicitly, as after a staged write. The file is read and hashed
    /// before anything is sent, and nothing is written when it is not what the plan says.
    async fn write_whole(
        &self,
        object: &PutObject<'_>,
        progress: Progress<'_>,
        gate: Option<&WriteGate>,
        enforcement: Enforcement,
    ) -> Result<StoredObject, StoreError> {
        let claim = gate
            .and_then(|g| g.digests())
            .and_then(|d| d.claim(object.source));
        let path = object.source.to_path_buf();
        let limit = self.options.block_size as u64;
        let with_md5 = self.options.content_md5;
        let read = tokio::task::spawn_blocking(move || -> Result<_, std::io::Error> {
            let file = std::fs::File::open(&path)?;
            let mut data = Vec::new();
            // One byte over the limit is enough to know the file grew past one block.
            file.take(limit + 1).read_to_end(&mut data)?;
            let sha256 = crate::hashing::sha256_hex(&data);
            crate::hashing::count_hashed(&path, data.len());
            let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
            crc.update(&data);
            let md5: Option<[u8; 16]> = with_md5.then(|| md5::Md5::digest(&data).into());
            Ok((data, sha256, crc.finalize(), md5))
        })
        .await
        .map_err(|e| {
            cloud(
                &self.target,
                "read source",
                Some(&object.key),
                e.to_string(),
            )
        })?;
        let (data, sha256, crc, md5) = read.map_err(|source| StoreError::Io {
            path: object.source.display().to_string(),
            source,
        })?;
        if data.len() as u64 != object.size {
            return Err(StoreError::ChecksumMismatch {
                target: self.target.to_string(),
                key: object.key.clone(),
                expected: format!("{} bytes", object.size),
                found: format!(
                    "{} bytes read from {} (nothing was written)",
                    data.len(),
                    object.source.display()
                ),
            });
        }
        if let Some(claim) = claim {
            claim.publish(crate::hashing::FileDigest {
                sha256: sha256.clone(),
                bytes: data.len() as u64,
            });
        }
        if !sha256.eq_ignore_ascii_case(&object.sha256) {
            return Err(StoreError::ChecksumMismatch {
                target: self.target.to_string(),
                key: object.key.clone(),
                expected: object.sha256.clone(),
                found: format!(
                    "{sha256} (the source changed since it was hashed; nothing was written)"
                ),
            });
        }
        if let Some(gate) = gate {
            gate.wait(&object.key).await?;
        }
        let lock = LockHeaders::of(object, enforcement)?;
        let options = BlobClientUploadOptions {
            if_none_match: Some(Etag::from("*")),
            blob_content_md5: md5.map(|m| m.to_vec()),
            blob_content_type: object.content_type.clone(),
            metadata: Some(self.commit_metadata(object)),
            blob_tags_string: (!object.tags.is_empty()).then(|| tags_header(&object.tags)),
            immutability_policy_expiry: lock.expiry,
            immutability_policy_mode: lock.mode,
            legal_hold: lock.legal_hold,
            // The service refuses a request with both an MD5 and a CRC64 of the content
            // (BothCrc64AndMd5HeaderPresent): with the Content-MD5 asked for, that is sent.
            method_options: azure_core::http::ClientMethodOptions {
                context: match md5 {
                    None => azure_core::http::Context::new().with_value(super::ContentCrc64(crc)),
                    Some(_) => azure_core::http::Context::new(),
                },
            },
            ..Default::default()
        };
        let size = data.len() as u64;
        let content: RequestContent<bytes::Bytes, azure_core::http::NoFormat> =
            bytes::Bytes::from(data).into();
        if let Err(e) = self.blob(&object.key).upload(content, Some(options)).await {
            return Err(self.create_error(&object.key, "Put Blob", &e));
        }
        progress(size);
        let mut stored = self.read_back_locked(object, enforcement).await?;
        self.verify(object, md5.as_ref(), &stored, enforcement)?;
        // The bytes were hashed before they were sent and the service checked their CRC64 on
        // arrival: the sha256 metadata this write put beside them is, for this version, a
        // checked digest.
        stored.sha256_source = crate::store::DigestSource::Verified;
        Ok(stored)
    }

    /// Read a just-written blob back (properties and tags). Its write carried the policy and
    /// hold ([`LockHeaders`]), so the blob never existed unlocked; a store that did not apply
    /// them (one that ignores the headers, or the user's unenforced container) gets the policy
    /// and hold set by their own requests, and the blob is read again.
    async fn read_back_locked(
        &self,
        object: &PutObject<'_>,
        enforcement: Enforcement,
    ) -> Result<StoredObject, StoreError> {
        let missing = || StoreError::NotHonoured {
            target: self.target.to_string(),
            key: object.key.clone(),
            detail: "the blob is missing right after it was written".to_string(),
        };
        let stored = self
            .head_version(&object.key, None)
            .await?
            .ok_or_else(missing)?;
        let until = ceil_second(object.lock.retain_until);
        let locked = stored.retain_until.is_some_and(|u| u >= until)
            && (stored.retention_mode == Some(object.lock.mode)
                || stored.retention_mode == Some(RetentionMode::Compliance));
        let held = !object.lock.legal_hold || stored.legal_hold == Some(true);
        if locked && held {
            return Ok(stored);
        }
        self.lock(object, enforcement).await?;
        self.head_version(&object.key, None)
            .await?
            .ok_or_else(missing)
    }

    /// A refused create-only write (`If-None-Match: *`) as a [`StoreError`]: on an existing blob,
    /// 409 BlobAlreadyExists (412 ConditionNotMet from some service versions); a store that checks
    /// the existing blob's lock first answers 409 BlobImmutableDueToPolicy or
    /// BlobImmutableDueToLegalHold (the WORM stand-in does). All of them mean "exists".
    fn create_error(&self, key: &str, operation: &str, e: &azure_core::Error) -> StoreError {
        match status_of(e) {
            (Some(409), Some(code))
                if matches!(
                    code.as_str(),
                    "BlobAlreadyExists"
                        | "BlobImmutableDueToPolicy"
                        | "BlobImmutableDueToLegalHold"
                ) =>
            {
                StoreError::AlreadyExists {
                    target: self.target.to_string(),
                    key: key.to_string(),
                }
            }
            (Some(412), _) => StoreError::AlreadyExists {
                target: self.target.to_string(),
                key: key.to_string(),
            },
            _ => cloud(&self.target, operation, Some(key), describe(e)),
        }
    }

    /// The metadata a write commits: the request's (names made Azure-safe) and the `sha256`.
    fn commit_metadata(&self, object: &PutObject<'_>) -> HashMap<String, String> {
        let mut metadata: HashMap<String, String> = object
            .metadata
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(SHA256_METADATA))
            .map(|(k, v)| (metadata_name(k), v.clone()))
            .collect();
        metadata.insert(
            SHA256_METADATA.to_string(),
            object.sha256.to_ascii_lowercase(),
        );
        metadata
    }

    /// Stage every block of `object.source`, verifying size and SHA-256 against the request, and
    /// return the block ids and, when [`AzureOptions::content_md5`] asks for it, the whole-blob
    /// MD5.
    ///
    /// Client CPU per byte (issue #19): one read from the page cache into a recycled block
    /// buffer, one SHA-256 pass (shared with the deferred content check through
    /// `hashing::SharedDigests`, so the file is hashed once) and one CRC64 pass (the checksum the
    /// service verifies) on each piece while it is in cache, and the copy into the socket. No other copy: the buffer
    /// goes to the HTTP client as `Bytes` and comes back to the pool when the request is done.
    async fn stage_blocks(
        &self,
        object: &PutObject<'_>,
        progress: Progress<'_>,
        claim: Option<crate::hashing::DigestClaim>,
    ) -> Result<(Vec<Vec<u8>>, Option<[u8; 16]>), StoreError> {
        let path = object.source.to_path_buf();
        let block_size = self.options.block_size;
        let with_md5 = self.options.content_md5;
        let io_err = |source: std::io::Error| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::File::open(&path).map_err(io_err)?;
        let source = path.clone();
        let (sender, mut receiver) =
            tokio::sync::mpsc::channel::<Result<(u64, bytes::Bytes, u64), std::io::Error>>(2);
        // Buffers come back here when the HTTP client drops a block's last reference (no copy
        // into the request, no fresh allocation the kernel zeroes per block), so at most
        // (channel + concurrency + 1) block buffers are ever allocated per blob.
        let pool = BufferPool::new(usize::MAX);
        // The reader hashes on a blocking thread — SHA-256 to prove we send what was planned, the
        // block's CRC64 for the service to check, MD5 for Content-MD5 when asked —
        // and hands blocks over through a bounded channel: memory stays at a few blocks whatever
        // the file size. Each piece is hashed right after it is read, while it is still in the
        // CPU cache, instead of the whole block being read back from memory once per checksum.
        let reader = tokio::task::spawn_blocking(
            move || -> Result<(u64, Option<[u8; 16]>, String), std::io::Error> {
                let mut md5 = with_md5.then(md5::Md5::new);
                let mut sha = Sha256::new();
                let mut total = 0u64;
                let mut index = 0u64;
                // Only a read to the end gives the whole file's digest to share.
                let mut whole_file = false;
                loop {
                    // A recycled buffer is already this long: nothing is zeroed again. A new one
                    // comes zeroed from the allocator (fresh pages), not written over by a memset.
                    // Placed where the kernel's copy out of the page cache is fast.
                    let mut block = pool.take().unwrap_or_else(|| ReadBuffer::new(block_size));
                    block.place(block_size, total);
                    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
                    let mut filled = 0;
                    while filled < block_size {
                        let end = (filled + PIECE).min(block_size);
                        let n = file.read(&mut block[filled..end])?;
                        if n == 0 {
                            break;
                        }
                        let piece = &block[filled..filled + n];
                        sha.update(piece);
                        crc.update(piece);
                        // In this thread, not beside the SHA-256 on rayon: a fork per piece
                        // cost more CPU in waking and idling workers than it saved in time.
                        if let Some(md5) = md5.as_mut() {
                            md5.update(piece);
                        }
                        filled += n;
                    }
                    if filled == 0 {
                        whole_file = true;
                        break;
                    }
                    block.truncate(filled);
                    crate::hashing::count_hashed(&source, filled);
                    total += filled as u64;
                    let data = pool.frame(block);
                    if sender
                        .blocking_send(Ok((index, data, crc.finalize())))
                        .is_err()
                    {
                        break; // the uploader stopped (an error); it reports why
                    }
                    index += 1;
                    if filled < block_size {
                        whole_file = true;
                        break;
                    }
                }
                let sha256 = hex::encode(sha.finalize());
                if whole_file && let Some(claim) = claim {
                    claim.publish(crate::hashing::FileDigest {
                        sha256: sha256.clone(),
                        bytes: total,
                    });
                }
                Ok((total, md5.map(|m| m.finalize().into()), sha256))
            },
        );
        let block = self.blob(&object.key).block_blob_client();
        let target = &self.target;
        let key = object.key.as_str();
        let write_id = write_id().map_err(|e| {
            cloud(
                target,
                "Put Block",
                Some(key),
                format!("no random block id: {e}"),
            )
        })?;
        let write_id = &write_id;
        let blocks = futures::stream::poll_fn(|cx| receiver.poll_recv(cx));
        let ids: Vec<(u64, Vec<u8>)> = blocks
            .map(|item| {
                let block = &block;
                async move {
                    let (index, data, crc) = item.map_err(|source| StoreError::Io {
                        path: object.source.display().to_string(),
                        source,
                    })?;
                    // Fixed-length ids (Azure requires one length per blob), ≤ 64 bytes, unique
                    // to this write (see `write_id`).
                    let id = block_id(write_id, index);
                    let len = data.len() as u64;
                    let options = BlockBlobClientStageBlockOptions {
                        transactional_content_crc64: Some(crc.to_le_bytes().to_vec()),
                        ..Default::default()
                    };
                    block
                        .stage_block(&id, len, data.into(), Some(options))
                        .await
                        .map_err(|e| {
                            let mut message = describe(&e);
                            if status_of(&e).1.as_deref() == Some("InvalidBlobOrBlock") {
                                message.push_str(
                                    " (if uncommitted blocks with ids of another length are staged under this name — another writer's — Azure discards them a week after they were staged)",
                                );
                            }
                            cloud(target, "Put Block", Some(key), message)
                        })?;
                    progress(len);
                    Ok::<_, StoreError>((index, id))
                }
            })
            .buffer_unordered(self.options.concurrency)
            .try_collect()
            .await?;
        drop(receiver);
        let (total, md5, sha256) = reader
            .await
            .map_err(|e| cloud(&self.target, "read source", Some(key), e.to_string()))?
            .map_err(|source| StoreError::Io {
                path: object.source.display().to_string(),
                source,
            })?;
        if total != object.size {
            return Err(StoreError::ChecksumMismatch {
                target: self.target.to_string(),
                key: key.to_string(),
                expected: format!("{} bytes", object.size),
                found: format!("{total} bytes read from {}", object.source.display()),
            });
        }
        if !sha256.eq_ignore_ascii_case(&object.sha256) {
            return Err(StoreError::ChecksumMismatch {
                target: self.target.to_string(),
                key: key.to_string(),
                expected: object.sha256.clone(),
                found: format!(
                    "{sha256} (the source changed since it was hashed; nothing was committed)"
                ),
            });
        }
        let mut ids = ids;
        ids.sort_by_key(|(index, _)| *index);
        Ok((ids.into_iter().map(|(_, id)| id).collect(), md5))
    }

    /// Set the policy (and hold) on a just-committed blob. On a store that refuses, the error
    /// names the unlocked blob so the operator knows what exists.
    async fn lock(
        &self,
        object: &PutObject<'_>,
        enforcement: Enforcement,
    ) -> Result<(), StoreError> {
        let blob = self.blob(&object.key);
        let until = ceil_second(object.lock.retain_until);
        let expiry = to_offset(until).map_err(StoreError::Config)?;
        let mode = match object.lock.mode {
            RetentionMode::Compliance => ImmutabilityPolicyMode::Locked,
            RetentionMode::Governance => ImmutabilityPolicyMode::Unlocked,
        };
        // A container default policy (infra/azure) may already give the new version what the
        // plan asks; then an uploader without the immutability permission needs nothing more.
        let current = self.properties(&object.key, None, false).await?;
        let satisfied = current.as_ref().is_some_and(|c| {
            c.retain_until.is_some_and(|u| u >= until)
                && (c.retention_mode == Some(object.lock.mode)
                    || c.retention_mode == Some(RetentionMode::Compliance))
        });
        let held = current.as_ref().is_some_and(|c| c.legal_hold == Some(true));
        let options = BlobClientSetImmutabilityPolicyOptions {
            immutability_policy_mode: Some(mode),
            ..Default::default()
        };
        let result = if satisfied {
            Ok(())
        } else {
            blob.set_immutability_policy(&expiry, Some(options))
                .await
                .map(|_| ())
        };
        if let Err(e) = result {
            if enforcement != Enforcement::Unconfirmed {
                return Err(StoreError::NotHonoured {
                    target: self.target.to_string(),
                    key: object.key.clone(),
                    detail: format!(
                        "Set Blob Immutability Policy failed ({}); the blob was written but is NOT locked. Use a container with version-level immutability, or accept unenforced storage explicitly",
                        describe(&e)
                    ),
                });
            }
            tracing::warn!(key = %object.key, error = %describe(&e), "immutability policy not set (enforcement unconfirmed by the user's choice)");
        }
        if object.lock.legal_hold
            && !held
            && let Err(e) = blob
                .set_legal_hold(true, None::<BlobClientSetLegalHoldOptions>)
                .await
        {
            if enforcement != Enforcement::Unconfirmed {
                return Err(StoreError::NotHonoured {
                    target: self.target.to_string(),
                    key: object.key.clone(),
                    detail: format!(
                        "Set Blob Legal Hold failed ({}); the blob was written without a legal hold",
                        describe(&e)
                    ),
                });
            }
            tracing::warn!(key = %object.key, error = %describe(&e), "legal hold not set (enforcement unconfirmed by the user's choice)");
        }
        Ok(())
    }

    /// Compare what the store reports with what was asked; every difference is listed.
    fn verify(
        &self,
        object: &PutObject<'_>,
        md5: Option<&[u8; 16]>,
        stored: &StoredObject,
        enforcement: Enforcement,
    ) -> Result<(), StoreError> {
        // Azure's rule: the policy may end later than asked (ceil to the second: RFC 1123 dates),
        // a legal hold is checked only when requested, hex digests compare case-insensitively,
        // and with `unconfirmed` enforcement (the user's explicit choice) the lock is not read.
        let rules = compare::Rules {
            retain_until: compare::RetainRule::AtLeast,
            legal_hold: compare::HoldRule::WhenRequested,
            lock: compare::LockRule::Always,
            hex: compare::HexCase::Insensitive,
            require_confirmed: false,
        };
        let md5_hex = md5.map(hex::encode);
        let expected = compare::Expected {
            sha256: Some(&object.sha256),
            bytes: Some(object.size),
            md5: md5_hex.as_deref(),
            tags: Some(&object.tags),
            lock: (enforcement != Enforcement::Unconfirmed).then(|| compare::ExpectedLock {
                mode: Some(object.lock.mode),
                retain_until: Some(ceil_second(object.lock.retain_until)),
                legal_hold: Some(object.lock.legal_hold),
            }),
            ..compare::Expected::default()
        };
        let differences = compare::differences(&object.key, &expected, stored, rules);
        let problems: Vec<String> = differences.iter().map(describe_difference).collect();
        if problems.is_empty() {
            return Ok(());
        }
        let checksum = differences.iter().all(|m| m.field.is_content());
        if checksum {
            return Err(StoreError::ChecksumMismatch {
                target: self.target.to_string(),
                key: object.key.clone(),
                expected: match &md5_hex {
                    Some(md5) => format!("sha256 {} md5 {md5} size {}", object.sha256, object.size),
                    None => format!("sha256 {} size {}", object.sha256, object.size),
                },
                found: problems.join("; "),
            });
        }
        Err(StoreError::NotHonoured {
            target: self.target.to_string(),
            key: object.key.clone(),
            detail: format!("read back after upload: {}", problems.join("; ")),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use chrono::TimeZone;

    use super::*;
    use crate::store::azure::{AzureAuth, AzureOptions, auth};
    use crate::store::{LockSpec, Target};

    fn store() -> AzureStore {
        let target =
            Target::parse("azure+http://127.0.0.1:10000/devstoreaccount1/evidence").unwrap();
        let sas = AzureAuth::Sas(auth::SecretString::new("sig=x".into()));
        AzureStore::new(target, sas, AzureOptions::default()).unwrap()
    }

    /// The read-back judges typed fields: content differences are a checksum mismatch, anything
    /// else (lock, tags) a request the store did not honour, and a lock is not read when the user
    /// accepted unconfirmed enforcement.
    #[test]
    fn block_ids_are_unique_to_a_write_and_as_long_as_earlier_versions_ids() {
        let (first, second) = (write_id().unwrap(), write_id().unwrap());
        assert_ne!(first, second);
        for index in [0, 1, 49_999, 999_999_999_999] {
            assert_eq!(
                block_id(&first, index).len(),
                "wormvault-000000000000".len()
            );
            assert_ne!(block_id(&first, index), block_id(&second, index));
        }
        assert_eq!(&block_id(&first, 7)[10..], b"000000000007");
    }

    #[test]
    fn read_back_sorts_differences_by_field() {
        let until = Utc.with_ymd_and_hms(2033, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::milliseconds(250);
        let tags = BTreeMap::from([("case".to_string(), "c-1".to_string())]);
        let object = PutObject {
            key: "s/a.txt".into(),
            source: Path::new("a.txt"),
            size: 3,
            sha256: "ab".repeat(32),
            lock: LockSpec {
                mode: RetentionMode::Compliance,
                retain_until: until,
                legal_hold: true,
            },
            tags: tags.clone(),
            metadata: BTreeMap::new(),
            content_type: None,
        };
        let md5 = [7u8; 16];
        let good = StoredObject {
            key: object.key.clone(),
            version_id: Some("v".into()),
            etag: None,
            size: 3,
            sha256: Some("AB".repeat(32)),
            sha256_source: crate::store::DigestSource::Claimed,
            md5: Some(hex::encode(md5)),
            retention_mode: Some(RetentionMode::Compliance),
            retain_until: Some(ceil_second(until)),
            legal_hold: Some(true),
            tags,
            last_modified: None,
            request_id: None,
            enforcement: Enforcement::Store,
            is_latest: true,
        };
        let store = store();
        let verify = |stored: &StoredObject, enforcement| {
            store.verify(&object, Some(&md5), stored, enforcement)
        };
        assert!(verify(&good, Enforcement::Store).is_ok());

        let content = StoredObject {
            md5: Some("00".repeat(16)),
            size: 4,
            ..good.clone()
        };
        assert!(matches!(
            verify(&content, Enforcement::Store),
            Err(StoreError::ChecksumMismatch { .. })
        ));

        // A second short of the rounded-up date is shorter than asked.
        let short = StoredObject {
            retain_until: Some(ceil_second(until) - chrono::Duration::seconds(1)),
            ..good.clone()
        };
        let error = verify(&short, Enforcement::Store).unwrap_err();
        assert!(
            matches!(&error, StoreError::NotHonoured { detail, .. } if detail.contains("immutability policy until")),
            "{error}"
        );
        // Content and lock both wrong: not only a checksum problem.
        let both = StoredObject {
            size: 4,
            ..short.clone()
        };
        assert!(matches!(
            verify(&both, Enforcement::Store),
            Err(StoreError::NotHonoured { .. })
        ));
        let untagged = StoredObject {
            tags: BTreeMap::new(),
            ..good.clone()
        };
        assert!(matches!(
            verify(&untagged, Enforcement::Store),
            Err(StoreError::NotHonoured { .. })
        ));

        // Unconfirmed: the lock is not read, content still is.
        let unlocked = StoredObject {
            retention_mode: None,
            retain_until: None,
            legal_hold: None,
            enforcement: Enforcement::Unconfirmed,
            ..good.clone()
        };
        assert!(verify(&unlocked, Enforcement::Unconfirmed).is_ok());
        assert!(verify(&unlocked, Enforcement::Store).is_err());
        let changed = StoredObject {
            sha256: Some("cd".repeat(32)),
            ..unlocked
        };
        assert!(matches!(
            verify(&changed, Enforcement::Unconfirmed),
            Err(StoreError::ChecksumMismatch { .. })
        ));
    }
}
