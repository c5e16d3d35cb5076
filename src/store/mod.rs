//! Write-once storage. One small trait, [`ImmutableStore`], implemented by every backend (local
//! WORM vault, S3 Object Lock, Azure immutable blobs) and checked by one conformance suite.
//!
//! Rules every backend follows (house style, habit 5):
//! * writes are create-only: `put` never replaces an existing object; it returns
//!   [`StoreError::AlreadyExists`] and the caller decides (resume or fail);
//! * a retention or legal-hold request the backend cannot honour is an error, never dropped;
//! * what a backend reports ([`StoredObject`]) is read from the store, not echoed from the request.
//!
//! SDK types never leave the backend modules.

pub mod azure;
pub(crate) mod buffers;
pub mod compare;
#[cfg(test)]
pub(crate) mod cutting_server;
pub mod key;
pub mod s3;
pub mod target;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use key::{Key, KeyError};
pub use target::{Target, TargetError};

/// Object Lock / immutability mode. S3 calls them COMPLIANCE and GOVERNANCE; Azure's version-level
/// policies call the same two strengths Locked and Unlocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetentionMode {
    /// Nobody, not even an administrator, can shorten or remove the lock (S3 COMPLIANCE, Azure
    /// Locked policy).
    Compliance,
    /// Privileged principals can shorten or remove it (S3 GOVERNANCE, Azure Unlocked policy).
    Governance,
}

impl std::fmt::Display for RetentionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RetentionMode::Compliance => "compliance",
            RetentionMode::Governance => "governance",
        })
    }
}

/// Who enforces immutability for an object, as the receipt states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// The store itself refuses deletes and overwrites (confirmed by preflight and read-back).
    Store,
    /// Only wormvault refuses (a local vault on a plain filesystem).
    Tool,
    /// The user accepted a store that could not confirm immutability.
    Unconfirmed,
}

/// What every human output says where the storage does not enforce the lock (`tool`,
/// `unconfirmed`): one wording for verify, the HTML report, status, archive and the demo.
pub const TOOL_ONLY: &str = "locked by wormvault only — the storage does not enforce it";

impl Enforcement {
    /// The caveat to print beside a lock this enforcement describes, if any.
    pub fn caveat(self) -> Option<&'static str> {
        (self != Enforcement::Store).then_some(TOOL_ONLY)
    }

    /// The enforcement as people read it: `store`, or `tool — locked by wormvault only — …`.
    pub fn described(self) -> String {
        match self.caveat() {
            Some(caveat) => format!("{self} — {caveat}"),
            None => self.to_string(),
        }
    }
}

impl std::fmt::Display for Enforcement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Enforcement::Store => "store",
            Enforcement::Tool => "tool",
            Enforcement::Unconfirmed => "unconfirmed",
        })
    }
}

/// The lock an object must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockSpec {
    pub mode: RetentionMode,
    pub retain_until: DateTime<Utc>,
    pub legal_hold: bool,
}

/// One object to write, create-only, from a file on disk.
#[derive(Debug, Clone)]
pub struct PutObject<'a> {
    /// Full key (or blob name / relative path) inside the target, prefix included.
    pub key: String,
    pub source: &'a Path,
    pub size: u64,
    /// Lowercase hex SHA-256 of the source, computed once before upload.
    pub sha256: String,
    pub lock: LockSpec,
    pub tags: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    pub content_type: Option<String>,
}

/// Whether a [`StoredObject::sha256`] proves the stored bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestSource {
    /// The store's own digest of the bytes it holds (S3's full-object checksum, the local
    /// vault hashing the file as it reads it), or one this tool checked against the bytes it sent
    /// in the write that created the object (staged Azure blocks, an S3 multipart composite), or
    /// one this tool computed by reading the object back.
    Verified,
    /// Recorded by whoever wrote the object (blob metadata, `x-amz-meta-sha256`, the local
    /// vault's record): anyone able to create the object could have written any value there, so
    /// it proves nothing about the bytes until they are read and hashed.
    #[default]
    Claimed,
}

/// What the store reports about one object version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    pub size: u64,
    /// SHA-256 as the store reports it (S3 checksum, Azure metadata, local vault record), hex.
    pub sha256: Option<String>,
    /// Whether `sha256` proves the bytes or is only what the writer recorded.
    #[serde(default)]
    pub sha256_source: DigestSource,
    /// Content-MD5 as the store reports it, hex (Azure).
    pub md5: Option<String>,
    pub retention_mode: Option<RetentionMode>,
    pub retain_until: Option<DateTime<Utc>>,
    pub legal_hold: Option<bool>,
    pub tags: BTreeMap<String, String>,
    pub last_modified: Option<DateTime<Utc>>,
    pub request_id: Option<String>,
    pub enforcement: Enforcement,
    /// Whether this is the current (latest) version of the key.
    pub is_latest: bool,
}

/// Result of one preflight check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightCheck {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
}

/// Is this target really configured for WORM? Read from the store's own configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightReport {
    pub target: String,
    pub checks: Vec<PreflightCheck>,
    /// What receipts of uploads to this target will say.
    pub enforcement: Enforcement,
}

impl PreflightReport {
    /// No check failed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != CheckStatus::Fail)
    }

    pub fn failures(&self) -> impl Iterator<Item = &PreflightCheck> {
        self.checks.iter().filter(|c| c.status == CheckStatus::Fail)
    }

    /// The bucket or container itself could not be read (it does not exist, or the service
    /// refused the credentials): a configuration error (exit 2), not a target judged and found
    /// not to be WORM (exit 1).
    pub fn unreadable(&self) -> bool {
        self.failures()
            .any(|c| c.name == s3::preflight::CHECK_BUCKET || c.name == "container-exists")
    }
}

/// Options that relax preflight only when the user names them explicitly.
#[derive(Debug, Clone, Default)]
pub struct PreflightOptions {
    /// S3: accept SSE-S3 (AES256) default encryption instead of SSE-KMS.
    pub allow_sse_s3: bool,
    /// Azure/others: accept a store that cannot confirm immutability; receipts then say
    /// `enforcement: unconfirmed`.
    pub allow_unenforced: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {key} already exists in {target}")]
    AlreadyExists { target: String, key: String },
    #[error("object {key} not found in {target}")]
    NotFound { target: String, key: String },
    #[error("object {key} in {target} is protected: {detail}")]
    Protected {
        target: String,
        key: String,
        detail: String,
    },
    #[error("{target} did not honour the request for {key}: {detail}")]
    NotHonoured {
        target: String,
        key: String,
        detail: String,
    },
    #[error("checksum mismatch for {key} in {target}: expected {expected}, store has {found}")]
    ChecksumMismatch {
        target: String,
        key: String,
        expected: String,
        found: String,
    },
    #[error("{operation} failed on {target}{}: {message}", key.as_deref().map(|k| format!(" ({k})")).unwrap_or_default())]
    Cloud {
        target: String,
        operation: String,
        key: Option<String>,
        message: String,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    /// A [`WriteGate`] closed: the object was not written.
    #[error("{key} was not written: {reason}")]
    Withheld { key: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GateState {
    Waiting,
    Open,
    Closed(String),
}

/// Holds back the moment a write becomes a stored object until a check that runs alongside the
/// upload has passed. `archive` and `upload --plan` use it to verify large files while their S3
/// multipart parts or Azure blocks are already being sent: neither is an object (S3 keeps parts
/// invisible until CompleteMultipartUpload, and an aborted upload leaves nothing; staged Azure
/// blocks are not a blob until Put Block List), so sending them early is safe, while every
/// single-part write and every completion waits here. If the check fails —
/// or its [`GateKeeper`] is dropped without deciding — every waiting write fails with
/// [`StoreError::Withheld`] and nothing is stored.
/// A gate may also carry the [`SharedDigests`](crate::hashing::SharedDigests) through which the
/// writers hand the check the digests of what they sent (one hash pass, issue #19 item 3).
#[derive(Debug, Clone)]
pub struct WriteGate(
    tokio::sync::watch::Receiver<GateState>,
    Option<crate::hashing::SharedDigests>,
);

/// The deciding side of a [`WriteGate`].
#[derive(Debug)]
pub struct GateKeeper(tokio::sync::watch::Sender<GateState>);

impl WriteGate {
    pub fn new() -> (GateKeeper, WriteGate) {
        let (sender, receiver) = tokio::sync::watch::channel(GateState::Waiting);
        (GateKeeper(sender), WriteGate(receiver, None))
    }

    /// A gate whose writers share their digests with the check deciding it.
    pub fn sharing(digests: crate::hashing::SharedDigests) -> (GateKeeper, WriteGate) {
        let (keeper, WriteGate(receiver, _)) = WriteGate::new();
        (keeper, WriteGate(receiver, Some(digests)))
    }

    /// The digests shared with the check, if this gate carries them.
    pub fn digests(&self) -> Option<&crate::hashing::SharedDigests> {
        self.1.as_ref()
    }

    /// Wait until the gate opens (`Ok`) or closes ([`StoreError::Withheld`] naming `key`).
    pub async fn wait(&self, key: &str) -> Result<(), StoreError> {
        // Counted as parked while it waits: the check stops waiting for files the uploader
        // cannot reach once every write is parked here.
        let _parked = self.1.as_ref().map(|d| d.park());
        let mut receiver = self.0.clone();
        let state = receiver
            .wait_for(|state| *state != GateState::Waiting)
            .await
            .map(|state| state.clone());
        match state {
            Ok(GateState::Open) => Ok(()),
            Ok(GateState::Closed(reason)) => Err(StoreError::Withheld {
                key: key.to_string(),
                reason,
            }),
            _ => Err(StoreError::Withheld {
                key: key.to_string(),
                reason: "the check that had to pass before writing ended without a verdict".into(),
            }),
        }
    }
}

impl GateKeeper {
    pub fn open(self) {
        let _ = self.0.send(GateState::Open);
    }

    pub fn close(self, reason: impl Into<String>) {
        let _ = self.0.send(GateState::Closed(reason.into()));
    }
}

/// Progress callback: called with byte counts as they are sent.
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// The storage trait. Async because the cloud SDKs are; the local vault just does blocking I/O.
#[async_trait::async_trait]
pub trait ImmutableStore: Send + Sync {
    /// The target this store writes to (for messages and receipts).
    fn target(&self) -> &Target;

    /// Read the store's configuration and judge whether it is WORM.
    async fn preflight(&self, options: &PreflightOptions) -> Result<PreflightReport, StoreError>;

    /// Create-only write of one object with its lock, tags and metadata. Returns what the store
    /// reports right after the write. [`StoreError::AlreadyExists`] if the key exists.
    async fn put(
        &self,
        object: &PutObject<'_>,
        progress: Progress<'_>,
    ) -> Result<StoredObject, StoreError>;

    /// [`ImmutableStore::put`] behind a [`WriteGate`]: nothing becomes an object before the gate
    /// opens. This default waits before starting; a store with invisible staging (S3 multipart
    /// parts, Azure staged blocks) sends them first and waits before committing.
    async fn put_gated(
        &self,
        object: &PutObject<'_>,
        gate: &WriteGate,
        progress: Progress<'_>,
    ) -> Result<StoredObject, StoreError> {
        gate.wait(&object.key).await?;
        self.put(object, progress).await
    }

    /// The current version of a key as the store reports it (checksum, lock, legal hold), or
    /// `None` if absent.
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, StoreError>;

    /// [`ImmutableStore::head`] without the object's tags (`tags` left empty), for existence and
    /// lock checks that never look at them. A store that reads tags with a request of their own
    /// (Azure's Get Blob Tags) makes one request instead of two; the default is `head`.
    async fn head_untagged(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        self.head(key).await
    }

    /// Every version of every object under `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, StoreError>;

    /// Set or clear the legal hold on one object version (the current one when `None`), and
    /// return the state read back.
    async fn set_legal_hold(
        &self,
        key: &str,
        version_id: Option<&str>,
        hold: bool,
    ) -> Result<StoredObject, StoreError>;

    /// Download one object version to `dest`, returning the SHA-256 of what was received.
    async fn download(
        &self,
        key: &str,
        version_id: Option<&str>,
        dest: &Path,
    ) -> Result<String, StoreError>;

    /// The SHA-256 (hex) of one object version's bytes, proven: what an object whose reported
    /// digest is only [`DigestSource::Claimed`] must pass before it is taken for the planned one.
    /// `local` is a file the object is expected to hold; a backend may prove the object holds
    /// exactly its bytes from digests the store computed (then the local file's SHA-256 is
    /// returned) instead of reading the object.
    ///
    /// This default downloads the object into a temporary directory and hashes it.
    async fn content_sha256(
        &self,
        key: &str,
        version_id: Option<&str>,
        local: Option<&Path>,
    ) -> Result<String, StoreError> {
        let _ = local;
        downloaded_sha256(self, key, version_id).await
    }

    /// Try to delete one object version. While it is locked or held the store must refuse with
    /// [`StoreError::Protected`]; exposed so conformance tests and drills can prove that.
    async fn delete(&self, key: &str, version_id: Option<&str>) -> Result<(), StoreError>;

    /// Abort this tool's incomplete (multipart/staged) uploads under `prefix`, left by a crashed
    /// run, before resuming. Returns how many were aborted. Stores without such state: 0.
    async fn abort_incomplete_uploads(&self, prefix: &str) -> Result<usize, StoreError> {
        let _ = prefix;
        Ok(0)
    }

    /// Create-only write of a small object held in memory (an audit record, a checkpoint), with
    /// its lock and metadata; [`StoreError::AlreadyExists`] if the key exists. Returns what the
    /// store reports after the write (read back, as [`ImmutableStore::put`] does). Its
    /// [`StoredObject::sha256_source`] is [`DigestSource::Verified`] only when the digest proves
    /// the stored bytes (S3's full-object checksum; the local vault hashing the stored file; an
    /// Azure blob created by one Put Blob whose CRC64 the service checked and which was locked
    /// from its first moment): a caller that must know the stored bytes then needs no second
    /// read of the object; otherwise it reads the bytes back.
    ///
    /// This default stages the bytes in a temporary file and goes through `put`, so it has every
    /// guarantee `put` has (create-only, lock, checksum, read-back); backends may do better.
    async fn put_bytes(&self, object: &PutBytes<'_>) -> Result<StoredObject, StoreError> {
        let mut temp = tempfile::NamedTempFile::new().map_err(|source| StoreError::Io {
            path: "a temporary file".into(),
            source,
        })?;
        std::io::Write::write_all(&mut temp, object.bytes)
            .and_then(|()| temp.as_file().sync_data())
            .map_err(|source| StoreError::Io {
                path: temp.path().display().to_string(),
                source,
            })?;
        let put = PutObject {
            key: object.key.to_string(),
            source: temp.path(),
            size: object.bytes.len() as u64,
            sha256: crate::hashing::sha256_hex(object.bytes),
            lock: object.lock.clone(),
            tags: BTreeMap::new(),
            metadata: object.metadata.clone(),
            content_type: object.content_type.map(str::to_string),
        };
        self.put(&put, &|_| {}).await
    }

    /// Read one small object version (the current one when `version_id` is `None`) into memory;
    /// `Ok(None)` if absent. An object larger than `max_len` is refused
    /// ([`StoreError::Config`] naming the key) before its body is read.
    ///
    /// This default asks `head` for the size and downloads to a temporary file.
    async fn get_bytes(
        &self,
        key: &str,
        version_id: Option<&str>,
        max_len: u64,
    ) -> Result<Option<FetchedObject>, StoreError> {
        let Some(head) = self.head(key).await? else {
            return Ok(None);
        };
        if version_id.is_none() && head.size > max_len {
            return Err(too_large(self.target(), key, head.size, max_len));
        }
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "a temporary directory".into(),
            source,
        })?;
        let path = dir.path().join("object");
        self.download(key, version_id, &path).await?;
        let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if bytes.len() as u64 > max_len {
            return Err(too_large(self.target(), key, bytes.len() as u64, max_len));
        }
        Ok(Some(FetchedObject {
            bytes,
            version_id: version_id.map(str::to_string).or(head.version_id),
            retention_mode: head.retention_mode,
            retain_until: head.retain_until,
            legal_hold: head.legal_hold,
        }))
    }

    /// One page of the keys under `prefix` that sort after `start_after` (byte order, as S3's
    /// ListObjectsV2 `start-after`), every version of each key included (oldest first) and delete
    /// markers too, at most about `max` entries; a key's versions are never split across pages.
    /// An empty page means there is nothing after `start_after`; a page marked
    /// [`ListedPage::complete`] says so for its last key, sparing the request for an empty page.
    ///
    /// This default goes through `list` (one HEAD per version); backends list names only.
    async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListedPage, StoreError> {
        let mut all: Vec<ListedVersion> = self
            .list(prefix)
            .await?
            .into_iter()
            .filter(|o| start_after.is_none_or(|after| o.key.as_str() > after))
            .map(|o| ListedVersion {
                key: o.key,
                version_id: o.version_id,
                is_latest: o.is_latest,
                delete_marker: false,
                size: o.size,
            })
            .collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(page_of(all, max))
    }
}

/// One small object to write from memory ([`ImmutableStore::put_bytes`]).
#[derive(Debug, Clone)]
pub struct PutBytes<'a> {
    pub key: &'a str,
    pub bytes: &'a [u8],
    pub lock: LockSpec,
    pub metadata: BTreeMap<String, String>,
    pub content_type: Option<&'a str>,
}

/// A small object read into memory, with the lock the store reported with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedObject {
    pub bytes: Vec<u8>,
    pub version_id: Option<String>,
    pub retention_mode: Option<RetentionMode>,
    pub retain_until: Option<DateTime<Utc>>,
    pub legal_hold: Option<bool>,
}

/// One page of a name listing ([`ImmutableStore::list_after`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedPage {
    /// In key order, a key's versions together (oldest first).
    pub versions: Vec<ListedVersion>,
    /// Nothing sorts after the last entry: the listing ends with this page. `false` promises
    /// nothing either way (ask for the page after the last key to know).
    pub complete: bool,
}

impl ListedPage {
    /// The key to list after for the next page: the last key of this page, or `None` when
    /// there is no next page (this one is empty or complete).
    pub fn next_after(&self) -> Option<String> {
        if self.complete {
            return None;
        }
        self.versions.last().map(|v| v.key.clone())
    }
}

/// One entry of a name listing ([`ImmutableStore::list_after`]): an object version or a delete
/// marker, without a per-object HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVersion {
    pub key: String,
    pub version_id: Option<String>,
    pub is_latest: bool,
    /// A delete marker (S3): the key looks deleted although its locked versions remain.
    pub delete_marker: bool,
    pub size: u64,
}

/// How many times a small object's read ([`ImmutableStore::get_bytes`]) is tried when its
/// response body breaks off mid-transfer (the cloud SDKs retry a request that fails before its
/// response, not a body cut short).
pub(crate) const BODY_ATTEMPTS: u32 = 3;

/// The reads of one small object whose response body broke off, counted against
/// [`BODY_ATTEMPTS`] (S3's and Azure's `get_bytes`).
#[derive(Debug, Default)]
pub(crate) struct BodyRetries {
    broken: u32,
}

impl BodyRetries {
    /// After a body broke off with `message`: the pause before the next read (200 ms, then
    /// 800 ms), or, when that was the last attempt, the error naming the key and the attempts.
    pub(crate) async fn after_break(
        &mut self,
        target: &Target,
        operation: &str,
        key: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        self.broken += 1;
        if self.broken >= BODY_ATTEMPTS {
            return Err(StoreError::Cloud {
                target: target.to_string(),
                operation: operation.to_string(),
                key: Some(key.to_string()),
                message: format!(
                    "{message} (the response body broke off {} times; each time the object was read again from the start)",
                    self.broken
                ),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(
            200 << (2 * (self.broken - 1)),
        ))
        .await;
        Ok(())
    }
}

/// The refusal for a small object above its size cap.
pub fn too_large(target: &Target, key: &str, size: u64, max: u64) -> StoreError {
    StoreError::Config(format!(
        "object {key} in {target} is {size} bytes, more than the {max} bytes allowed for it; it was not read"
    ))
}

/// Keep whole keys up to about `max` entries of a sorted listing of everything after the
/// listing's start (a key's versions stay together); complete when nothing was cut off.
pub(crate) fn page_of(mut all: Vec<ListedVersion>, max: usize) -> ListedPage {
    if all.len() <= max {
        return ListedPage {
            versions: all,
            complete: true,
        };
    }
    let mut end = max.max(1);
    while end < all.len() && all[end].key == all[end - 1].key {
        end += 1;
    }
    let complete = end == all.len();
    all.truncate(end);
    ListedPage {
        versions: all,
        complete,
    }
}

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod local;

/// Open the store for a target. Cloud backends read credentials from their standard chains.
/// From which file size this target stages an object invisibly before committing it (S3
/// multipart parts, Azure blocks of a multi-block blob), so the file's content can still be
/// checked while it uploads and the commit waits ([`WriteGate`]). `None` for the local vault,
/// which has no invisible staging. The pipeline asks this; the CLI never reads backend settings.
pub fn staging_threshold(target: &Target) -> Result<Option<u64>, StoreError> {
    Ok(match target {
        Target::S3 { .. } => Some(
            s3::S3Settings::from_env()?
                .multipart_threshold
                .saturating_add(1),
        ),
        Target::Azure { .. } => Some(azure::AzureOptions::default().block_size as u64 + 1),
        Target::Local { .. } => None,
    })
}

/// Objects written at once by default. S3: measured on LocalStack (scripts/bench-s3.sh), 16
/// objects with 8 parts each in flight was the fastest of 4/8/16/32 × 4/8 (the AWS CLI uses
/// 10); the bound is S3's request rate, not memory, since bodies stream from disk. Others: 4.
pub fn default_concurrency(target: &Target) -> usize {
    match target {
        Target::S3 { .. } => 16,
        _ => 4,
    }
}

/// The SHA-256 of what a stored version holds, proven: the digest `stored` reports when the store
/// computed it ([`DigestSource::Verified`]; `None` if it reports none), else
/// [`ImmutableStore::content_sha256`] of the version (`local`: the file it is expected to hold).
/// The one rule for an object found already stored, whoever wrote it.
pub async fn proven_sha256(
    store: &dyn ImmutableStore,
    stored: &StoredObject,
    local: Option<&Path>,
) -> Result<Option<String>, StoreError> {
    match stored.sha256_source {
        DigestSource::Verified => Ok(stored.sha256.clone()),
        DigestSource::Claimed => store
            .content_sha256(&stored.key, stored.version_id.as_deref(), local)
            .await
            .map(Some),
    }
}

/// Download one object version into a temporary directory (removed afterwards) and return the
/// SHA-256 of what was received.
pub(crate) async fn downloaded_sha256<S: ImmutableStore + ?Sized>(
    store: &S,
    key: &str,
    version_id: Option<&str>,
) -> Result<String, StoreError> {
    let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
        path: "a temporary directory".into(),
        source,
    })?;
    store
        .download(key, version_id, &dir.path().join("object"))
        .await
}

/// Check one object's metadata and tags against the target's rules (S3 and Azure user metadata
/// travels as HTTP headers: visible ASCII, bounded in size; tags have their own alphabets and
/// limits). The plan runs this for every object it plans, so no upload can fail on them midway;
/// each write checks again. A local vault stores both as JSON and takes anything.
pub fn check_fields(
    target: &Target,
    key: &str,
    metadata: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> Result<(), StoreError> {
    match target {
        Target::Local { .. } => Ok(()),
        Target::S3 { .. } => {
            s3::check_metadata(key, metadata)?;
            s3::tagging_header(key, tags).map(|_| ())
        }
        Target::Azure { .. } => azure::check_fields(key, metadata, tags),
    }
}

pub async fn open(target: &Target) -> Result<Box<dyn ImmutableStore>, StoreError> {
    match target {
        Target::Local { .. } => Ok(Box::new(local::LocalVault::open(target.clone())?)),
        Target::S3 { .. } => Ok(Box::new(s3::S3Store::connect(target.clone()).await?)),
        Target::Azure { .. } => Ok(Box::new(azure::AzureStore::from_env(target.clone())?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(keys: &[&str]) -> Vec<ListedVersion> {
        keys.iter()
            .map(|key| ListedVersion {
                key: key.to_string(),
                version_id: None,
                is_latest: true,
                delete_marker: false,
                size: 1,
            })
            .collect()
    }

    fn keys(page: &ListedPage) -> Vec<&str> {
        page.versions.iter().map(|v| v.key.as_str()).collect()
    }

    #[test]
    fn a_page_ends_the_listing_only_when_nothing_was_cut_off() {
        // Everything fits: complete, and there is no next page to ask for.
        let page = page_of(versions(&["a", "b", "c"]), 3);
        assert_eq!(keys(&page), ["a", "b", "c"]);
        assert!(page.complete);
        assert_eq!(page.next_after(), None);

        // Cut after two entries: not complete, and the next page starts after "b".
        let page = page_of(versions(&["a", "b", "c"]), 2);
        assert_eq!(keys(&page), ["a", "b"]);
        assert!(!page.complete);
        assert_eq!(page.next_after().as_deref(), Some("b"));

        // A key's versions stay together even past `max`; what follows them is cut off.
        let page = page_of(versions(&["a", "b", "b", "b", "c"]), 2);
        assert_eq!(keys(&page), ["a", "b", "b", "b"]);
        assert!(!page.complete);
        // ...and when nothing follows them, the page still ends the listing.
        let page = page_of(versions(&["a", "b", "b", "b"]), 2);
        assert_eq!(keys(&page), ["a", "b", "b", "b"]);
        assert!(page.complete);

        // An empty listing is complete; `max` 0 is read as 1.
        let page = page_of(Vec::new(), 10);
        assert!(page.complete && page.versions.is_empty());
        assert_eq!(page.next_after(), None);
        let page = page_of(versions(&["a", "b"]), 0);
        assert_eq!(keys(&page), ["a"]);
        assert!(!page.complete);

        // A page that does not say it ends still has a next page to ask for, even if short.
        let page = ListedPage {
            versions: versions(&["x"]),
            complete: false,
        };
        assert_eq!(page.next_after().as_deref(), Some("x"));
    }

    #[tokio::test]
    async fn write_gate_holds_until_decided() {
        let (keeper, gate) = WriteGate::new();
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.wait("a").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "the gate let a write through before it was opened"
        );
        keeper.open();
        assert!(waiting.await.unwrap().is_ok());
        assert!(gate.wait("b").await.is_ok(), "an open gate stays open");

        let (keeper, gate) = WriteGate::new();
        keeper.close("the bundle did not verify");
        let error = gate.wait("k").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "k was not written: the bundle did not verify"
        );

        let (keeper, gate) = WriteGate::new();
        drop(keeper);
        assert!(
            matches!(gate.wait("k").await, Err(StoreError::Withheld { .. })),
            "an undecided gate must not open"
        );
    }
}
