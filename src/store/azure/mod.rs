//! Azure Blob Storage backend of [`ImmutableStore`]: version-level immutability (time-based
//! policies, Locked/Unlocked) and legal holds, through the official `azure_storage_blob` crate.
//!
//! Writes are create-only block blobs: blocks of [`AzureOptions::block_size`] are read from disk,
//! staged with a transactional CRC64 each (bounded concurrency, flat memory), and committed with
//! `If-None-Match: *`, the whole-blob Content-MD5, the SHA-256 in metadata (`sha256`) and blob
//! index tags. Then the immutability policy and legal hold are set, and the blob's properties are
//! read back: a store that does not report what was asked (bare Azurite drops it) fails the
//! upload with [`StoreError::NotHonoured`], unless the user explicitly accepted unenforced
//! storage at preflight ([`PreflightOptions::allow_unenforced`]), in which case every
//! [`StoredObject`] says [`Enforcement::Unconfirmed`].

pub mod auth;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, RwLock};

use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, Etag, RequestContent, Url};
use azure_core::time::OffsetDateTime;
use azure_storage_blob::models::{
    BlobClientDeleteOptions, BlobClientGetPropertiesOptions, BlobClientGetTagsOptions,
    BlobClientSetImmutabilityPolicyOptions, BlobClientSetLegalHoldOptions,
    BlobContainerClientListBlobsOptions, BlockBlobClientCommitBlockListOptions,
    BlockBlobClientStageBlockOptions, BlockLookupList, ImmutabilityPolicyMode,
};
use azure_storage_blob::{BlobClient, BlobContainerClient, BlobContainerClientOptions};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use md5::Digest as _;
use sha2::Sha256;

pub use auth::{AzureAuth, auth_from_env};

use super::{
    CheckStatus, Enforcement, ImmutableStore, PreflightCheck, PreflightOptions, PreflightReport,
    Progress, PutObject, RetentionMode, StoreError, StoredObject, Target, WriteGate, compare,
};

/// The `x-ms-version` every request carries. Pinned (not the crate default) so requests are
/// reproducible and comparable with the Python SDK's (wire-conformance test); Azurite is
/// started with `--skipApiVersionCheck`, Azure accepts it.
pub const API_VERSION: &str = "2026-04-06";

/// Metadata key carrying the SHA-256 (hex) of the blob's content.
pub const SHA256_METADATA: &str = "sha256";

/// Tunables for uploads.
#[derive(Debug, Clone)]
pub struct AzureOptions {
    /// Staged block size (default 8 MiB; Azure allows up to 4000 MiB per block, 50 000 blocks).
    pub block_size: usize,
    /// Blocks in flight per blob (default 4). Memory ≈ (concurrency + 3) × block_size.
    pub concurrency: usize,
}

impl Default for AzureOptions {
    fn default() -> Self {
        AzureOptions {
            block_size: 8 * 1024 * 1024,
            concurrency: 4,
        }
    }
}

/// The Azure backend. Construct with [`AzureStore::from_env`] (credentials from the environment)
/// or [`AzureStore::new`].
pub struct AzureStore {
    target: Target,
    account: String,
    container_name: String,
    container: BlobContainerClient,
    auth_kind: &'static str,
    endpoint: Url,
    options: AzureOptions,
    /// What the last preflight decided receipts will say; `None` until preflight ran, which
    /// `put` treats as [`Enforcement::Store`] (fail closed).
    enforcement: RwLock<Option<Enforcement>>,
}

impl std::fmt::Debug for AzureStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AzureStore({}, auth: {})", self.target, self.auth_kind)
    }
}

fn cloud(
    target: &Target,
    operation: &str,
    key: Option<&str>,
    message: impl Into<String>,
) -> StoreError {
    StoreError::Cloud {
        target: target.to_string(),
        operation: operation.to_string(),
        key: key.map(str::to_string),
        message: message.into(),
    }
}

/// HTTP status and Azure error code of a failed call, if it got a response.
fn status_of(err: &azure_core::Error) -> (Option<u16>, Option<String>) {
    match err.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => (Some(u16::from(*status)), error_code.clone()),
        _ => (None, None),
    }
}

fn describe(err: &azure_core::Error) -> String {
    match status_of(err) {
        (Some(status), Some(code)) => format!("HTTP {status} {code}"),
        (Some(status), None) => format!("HTTP {status}"),
        _ => err.to_string(),
    }
}

fn to_offset(when: DateTime<Utc>) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp(when.timestamp())
        .map_err(|e| format!("date {when} out of range: {e}"))
}

#[cfg(test)]
fn from_offset(when: OffsetDateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(when.unix_timestamp(), when.nanosecond())
}

/// RFC 1123 dates have whole seconds: round a requested retention *up* so the stored one is
/// never shorter than asked.
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

fn ceil_second(when: DateTime<Utc>) -> DateTime<Utc> {
    let floor = DateTime::<Utc>::from_timestamp(when.timestamp(), 0).unwrap_or(when);
    if floor < when {
        floor + chrono::Duration::seconds(1)
    } else {
        floor
    }
}

/// Azure metadata names must be C# identifiers.
fn valid_metadata_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Azure metadata names are C# identifiers, so the plan's `bundle-path` is stored as
/// `bundle_path`: '-' becomes '_', nothing else is changed.
fn metadata_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Blob index tags: 1–128 character keys, 0–256 character values, from letters, digits, space
/// and `+ - . / : = _` (Azure "Manage and find data with blob index tags").
fn valid_tag(text: &str, max: usize, allow_empty: bool) -> bool {
    (allow_empty || !text.is_empty())
        && text.chars().count() <= max
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " +-./:=_".contains(c))
}

/// The `x-ms-tags` header: a URL-encoded query string (spaces as %20).
fn tags_header(tags: &BTreeMap<String, String>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(tags.iter())
        .finish()
        .replace('+', "%20")
}

/// Sends `Accept: application/xml` (the Blob service's error and listing format) where the crate
/// leaves the HTTP client's `*/*`, as the official Python SDK does; found by the
/// wire-conformance test (tests/it/azure.rs).
#[derive(Debug)]
struct AcceptXml;

#[async_trait::async_trait]
impl azure_core::http::policies::Policy for AcceptXml {
    async fn send(
        &self,
        ctx: &azure_core::http::Context,
        request: &mut azure_core::http::Request,
        next: &[Arc<dyn azure_core::http::policies::Policy>],
    ) -> azure_core::http::policies::PolicyResult {
        if request
            .headers()
            .get_optional_str(&azure_core::http::headers::ACCEPT)
            .is_none()
        {
            request.insert_header("accept", "application/xml");
        }
        match next.split_first() {
            Some((first, rest)) => first.send(ctx, request, rest).await,
            None => Err(azure_core::Error::with_message(
                ErrorKind::Other,
                "pipeline ended before the transport",
            )),
        }
    }
}

impl AzureStore {
    /// A store for `target` (an `azure://` or `azure+http(s)://` target) with credentials from
    /// the environment ([`auth_from_env`]).
    pub fn from_env(target: Target) -> Result<AzureStore, StoreError> {
        let account = match &target {
            Target::Azure { account, .. } => account.clone(),
            other => {
                return Err(StoreError::Config(format!(
                    "{other} is not an Azure target"
                )));
            }
        };
        let auth = auth_from_env(&account).map_err(|e| StoreError::Config(e.to_string()))?;
        AzureStore::new(target, auth, AzureOptions::default())
    }

    /// A store for `target` with explicit credentials and options.
    pub fn new(
        target: Target,
        auth: AzureAuth,
        options: AzureOptions,
    ) -> Result<AzureStore, StoreError> {
        let Target::Azure {
            endpoint,
            account,
            container,
            ..
        } = &target
        else {
            return Err(StoreError::Config(format!(
                "{target} is not an Azure target"
            )));
        };
        if options.block_size == 0
            || options.block_size > 4000 * 1024 * 1024
            || options.concurrency == 0
        {
            return Err(StoreError::Config(format!(
                "invalid Azure upload options: block size {} (1 B..4000 MiB) and concurrency {} (≥ 1)",
                options.block_size, options.concurrency
            )));
        }
        let endpoint_url = Url::parse(endpoint.trim_end_matches('/'))
            .map_err(|e| StoreError::Config(format!("invalid Azure endpoint {endpoint}: {e}")))?;
        let mut container_url = endpoint_url.clone();
        container_url
            .path_segments_mut()
            .map_err(|_| {
                StoreError::Config(format!("invalid Azure endpoint {endpoint}: not a base URL"))
            })?
            .pop_if_empty()
            .push(container);
        let mut client_options = ClientOptions::default();
        client_options.per_try_policies.push(Arc::new(AcceptXml));
        let mut credential = None;
        match &auth {
            AzureAuth::SharedKey {
                account: signer,
                key,
            } => {
                client_options
                    .per_try_policies
                    .push(Arc::new(auth::SharedKeyPolicy {
                        account: signer.clone(),
                        key: key.clone(),
                    }));
            }
            AzureAuth::Sas(token) => {
                client_options
                    .per_try_policies
                    .push(Arc::new(auth::SasPolicy {
                        token: token.clone(),
                    }))
            }
            AzureAuth::Token(token) => credential = Some(token.clone()),
        }
        let client = BlobContainerClient::new(
            container_url,
            credential,
            Some(BlobContainerClientOptions {
                client_options,
                version: API_VERSION.to_string(),
            }),
        )
        .map_err(|e| {
            StoreError::Config(format!("cannot create an Azure client for {target}: {e}"))
        })?;
        Ok(AzureStore {
            account: account.clone(),
            container_name: container.clone(),
            container: client,
            auth_kind: auth.describe(),
            endpoint: endpoint_url,
            options,
            enforcement: RwLock::new(None),
            target,
        })
    }

    /// What receipts of uploads through this store will say (after preflight).
    pub fn enforcement(&self) -> Enforcement {
        self.enforcement
            .read()
            .ok()
            .and_then(|e| *e)
            .unwrap_or(Enforcement::Store)
    }

    fn blob(&self, key: &str) -> BlobClient {
        self.container.blob_client(key)
    }

    fn check_key(&self, key: &str) -> Result<(), StoreError> {
        if key.is_empty()
            || key.len() > 1024
            || key.ends_with('/')
            || key.split('/').any(|s| s == "." || s == "..")
        {
            return Err(StoreError::Config(format!(
                "invalid blob name {key:?} for {}: 1-1024 characters, no trailing '/', no '.' or '..' segments",
                self.target
            )));
        }
        Ok(())
    }

    async fn head_version(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<StoredObject>, StoreError> {
        self.check_key(key)?;
        let blob = self.blob(key);
        let options = BlobClientGetPropertiesOptions {
            version_id: version_id.map(str::to_string),
            ..Default::default()
        };
        let response = match blob.get_properties(Some(options)).await {
            Ok(r) => r,
            Err(e) if status_of(&e).0 == Some(404) => return Ok(None),
            Err(e) => {
                return Err(cloud(
                    &self.target,
                    "Get Blob Properties",
                    Some(key),
                    describe(&e),
                ));
            }
        };
        let headers = response.headers();
        let header = |name: &'static str| {
            headers
                .get_optional_str(&azure_core::http::headers::HeaderName::from_static(name))
                .map(str::to_string)
        };
        let size = header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let md5 = header("content-md5")
            .and_then(|v| B64.decode(v).ok())
            .map(hex::encode);
        let mut metadata = BTreeMap::new();
        for (name, value) in headers.iter() {
            if let Some(meta) = name.as_str().strip_prefix("x-ms-meta-") {
                metadata.insert(meta.to_string(), value.as_str().to_string());
            }
        }
        let retain_until = header("x-ms-immutability-policy-until-date")
            .and_then(|v| DateTime::parse_from_rfc2822(&v).ok())
            .map(|d| d.with_timezone(&Utc));
        let retention_mode = match header("x-ms-immutability-policy-mode")
            .map(|m| m.to_ascii_lowercase())
            .as_deref()
        {
            Some("locked") => Some(RetentionMode::Compliance),
            Some("unlocked") => Some(RetentionMode::Governance),
            _ => None,
        };
        // Azure reports x-ms-legal-hold on blobs of version-level-immutable containers; a blob
        // that carries a policy but no hold header has no hold.
        let legal_hold = header("x-ms-legal-hold")
            .map(|v| v.eq_ignore_ascii_case("true"))
            .or_else(|| header("x-ms-immutability-policy-until-date").map(|_| false));
        let last_modified = header("last-modified")
            .and_then(|v| DateTime::parse_from_rfc2822(&v).ok())
            .map(|d| d.with_timezone(&Utc));
        let is_latest = header("x-ms-is-current-version")
            .map(|v| v.eq_ignore_ascii_case("true"))
            .unwrap_or(true);
        let stored = StoredObject {
            key: key.to_string(),
            version_id: header("x-ms-version-id"),
            etag: header("etag"),
            size,
            sha256: metadata.get(SHA256_METADATA).cloned(),
            md5,
            retention_mode: if retain_until.is_some() {
                retention_mode
            } else {
                None
            },
            retain_until,
            legal_hold,
            tags: self.tags(key, version_id).await?,
            last_modified,
            request_id: header("x-ms-request-id"),
            enforcement: self.enforcement(),
            is_latest,
        };
        Ok(Some(stored))
    }

    async fn tags(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let options = BlobClientGetTagsOptions {
            version_id: version_id.map(str::to_string),
            ..Default::default()
        };
        let tags = self
            .blob(key)
            .get_tags(Some(options))
            .await
            .and_then(|r| r.into_model())
            .map_err(|e| cloud(&self.target, "Get Blob Tags", Some(key), describe(&e)))?;
        Ok(tags
            .blob_tag_set
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
            .collect())
    }

    /// The create-only write behind [`ImmutableStore::put`] and [`ImmutableStore::put_gated`]:
    /// stage the blocks, wait for the gate if there is one, commit, lock, read back.
    async fn write(
        &self,
        object: &PutObject<'_>,
        progress: Progress<'_>,
        gate: Option<&WriteGate>,
    ) -> Result<StoredObject, StoreError> {
        self.check_key(&object.key)?;
        for (name, value) in &object.metadata {
            if !valid_metadata_name(&metadata_name(name)) {
                return Err(StoreError::Config(format!(
                    "metadata name {name:?} for {} is not allowed on Azure (it must be a C# identifier: letters, digits, '_')",
                    object.key
                )));
            }
            if name.eq_ignore_ascii_case(SHA256_METADATA)
                && !value.eq_ignore_ascii_case(&object.sha256)
            {
                return Err(StoreError::Config(format!(
                    "metadata {SHA256_METADATA}={value} for {} contradicts the object's SHA-256 {}",
                    object.key, object.sha256
                )));
            }
        }
        if object.tags.len() > 10
            || object
                .tags
                .iter()
                .any(|(k, v)| !valid_tag(k, 128, false) || !valid_tag(v, 256, true))
        {
            return Err(StoreError::Config(format!(
                "blob index tags for {} must be at most 10, keys 1-128 and values 0-256 characters of letters, digits, space and + - . / : = _",
                object.key
            )));
        }
        let enforcement = self.enforcement();
        if self.head_version(&object.key, None).await?.is_some() {
            return Err(StoreError::AlreadyExists {
                target: self.target.to_string(),
                key: object.key.clone(),
            });
        }
        let (ids, md5) = self.stage_blocks(object, progress).await?;
        if let Some(gate) = gate {
            gate.wait(&object.key).await?;
        }
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
        let options = BlockBlobClientCommitBlockListOptions {
            if_none_match: Some(Etag::from("*")),
            blob_content_md5: Some(md5.to_vec()),
            blob_content_type: object.content_type.clone(),
            metadata: Some(metadata),
            blob_tags_string: if object.tags.is_empty() {
                None
            } else {
                Some(tags_header(&object.tags))
            },
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
            return Err(match status_of(&e) {
                // If-None-Match: * on an existing blob: 409 BlobAlreadyExists (412 ConditionNotMet
                // from some service versions).
                (Some(409), Some(code)) if code == "BlobAlreadyExists" => {
                    StoreError::AlreadyExists {
                        target: self.target.to_string(),
                        key: object.key.clone(),
                    }
                }
                (Some(412), _) => StoreError::AlreadyExists {
                    target: self.target.to_string(),
                    key: object.key.clone(),
                },
                _ => cloud(
                    &self.target,
                    "Put Block List",
                    Some(&object.key),
                    describe(&e),
                ),
            });
        }
        self.lock(object, enforcement).await?;
        let stored =
            self.head_version(&object.key, None)
                .await?
                .ok_or_else(|| StoreError::NotHonoured {
                    target: self.target.to_string(),
                    key: object.key.clone(),
                    detail: "the blob is missing right after it was committed".to_string(),
                })?;
        self.verify(object, &md5, &stored, enforcement)?;
        Ok(stored)
    }

    /// Stage every block of `object.source`, verifying size and SHA-256 against the request, and
    /// return the block ids and the whole-blob MD5.
    async fn stage_blocks(
        &self,
        object: &PutObject<'_>,
        progress: Progress<'_>,
    ) -> Result<(Vec<Vec<u8>>, [u8; 16]), StoreError> {
        let path = object.source.to_path_buf();
        let block_size = self.options.block_size;
        let io_err = |source: std::io::Error| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io_err)?;
        let (sender, mut receiver) =
            tokio::sync::mpsc::channel::<Result<(u64, bytes::Bytes), std::io::Error>>(2);
        // The reader hashes (MD5 for Content-MD5, SHA-256 to prove we send what was planned) on
        // a blocking thread, both digests in parallel per block, and hands blocks over through a
        // bounded channel: memory stays at a few blocks whatever the file size.
        let reader = tokio::task::spawn_blocking(
            move || -> Result<(u64, [u8; 16], String), std::io::Error> {
                let mut file = std::io::BufReader::with_capacity(128 * 1024, file);
                let mut md5 = md5::Md5::new();
                let mut sha = Sha256::new();
                let mut total = 0u64;
                let mut index = 0u64;
                loop {
                    let mut block = vec![0u8; block_size];
                    let mut filled = 0;
                    while filled < block_size {
                        let end = (filled + 128 * 1024).min(block_size);
                        let n = file.read(&mut block[filled..end])?;
                        if n == 0 {
                            break;
                        }
                        filled += n;
                    }
                    if filled == 0 {
                        break;
                    }
                    block.truncate(filled);
                    let data = bytes::Bytes::from(block);
                    rayon::join(|| md5.update(&data), || sha.update(&data));
                    total += filled as u64;
                    if sender.blocking_send(Ok((index, data))).is_err() {
                        break; // the uploader stopped (an error); it reports why
                    }
                    index += 1;
                    if filled < block_size {
                        break;
                    }
                }
                Ok((total, md5.finalize().into(), hex::encode(sha.finalize())))
            },
        );
        let block = self.blob(&object.key).block_blob_client();
        let target = &self.target;
        let key = object.key.as_str();
        let blocks = futures::stream::poll_fn(|cx| receiver.poll_recv(cx));
        let ids: Vec<(u64, Vec<u8>)> = blocks
            .map(|item| {
                let block = &block;
                async move {
                    let (index, data) = item.map_err(|source| StoreError::Io {
                        path: object.source.display().to_string(),
                        source,
                    })?;
                    // Fixed-length ids (Azure requires one length per blob), ≤ 64 bytes.
                    let id = format!("wormvault-{index:012}").into_bytes();
                    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &data);
                    let len = data.len() as u64;
                    let options = BlockBlobClientStageBlockOptions {
                        transactional_content_crc64: Some(crc.to_le_bytes().to_vec()),
                        ..Default::default()
                    };
                    block
                        .stage_block(&id, len, data.into(), Some(options))
                        .await
                        .map_err(|e| cloud(target, "Put Block", Some(key), describe(&e)))?;
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
        let current = self.head_version(&object.key, None).await?;
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
        md5: &[u8; 16],
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
        let md5_hex = hex::encode(md5);
        let expected = compare::Expected {
            sha256: Some(&object.sha256),
            bytes: Some(object.size),
            md5: Some(&md5_hex),
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
                expected: format!(
                    "sha256 {} md5 {} size {}",
                    object.sha256,
                    hex::encode(md5),
                    object.size
                ),
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

#[async_trait::async_trait]
impl ImmutableStore for AzureStore {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn preflight(&self, options: &PreflightOptions) -> Result<PreflightReport, StoreError> {
        let mut checks = Vec::new();
        let mut check = |name: &str, status: CheckStatus, detail: String| {
            checks.push(PreflightCheck {
                name: name.to_string(),
                status,
                detail,
            });
        };
        let https = self.endpoint.scheme() == "https";
        let loopback = matches!(
            self.endpoint.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
        );
        match (https, loopback) {
            (true, _) => check(
                "transport",
                CheckStatus::Pass,
                format!("{} over HTTPS", self.endpoint),
            ),
            (false, true) => check(
                "transport",
                CheckStatus::Warn,
                format!(
                    "{} is plain HTTP on loopback (emulator only)",
                    self.endpoint
                ),
            ),
            (false, false) => check(
                "transport",
                CheckStatus::Fail,
                format!(
                    "{} is plain HTTP to a remote host; use https",
                    self.endpoint
                ),
            ),
        }
        check(
            "authentication",
            if self.auth_kind == "shared key" && https {
                CheckStatus::Warn
            } else {
                CheckStatus::Pass
            },
            if self.auth_kind == "shared key" && https {
                "shared key: prefer Entra ID and disable shared-key access on the account (infra/azure)".to_string()
            } else {
                self.auth_kind.to_string()
            },
        );
        let properties = match self.container.get_properties(None).await {
            Ok(r) => r,
            Err(e) => {
                let (status, code) = status_of(&e);
                if status == Some(404) {
                    check(
                        "container-exists",
                        CheckStatus::Fail,
                        format!(
                            "container {} does not exist in account {}",
                            self.container_name, self.account
                        ),
                    );
                } else if matches!(status, Some(401 | 403)) {
                    check(
                        "container-exists",
                        CheckStatus::Fail,
                        format!(
                            "access to container {} refused ({}); check the credentials",
                            self.container_name,
                            describe(&e)
                        ),
                    );
                } else {
                    return Err(cloud(
                        &self.target,
                        "Get Container Properties",
                        None,
                        format!("{} {}", describe(&e), code.unwrap_or_default()),
                    ));
                }
                let enforcement = if options.allow_unenforced {
                    Enforcement::Unconfirmed
                } else {
                    Enforcement::Store
                };
                if let Ok(mut slot) = self.enforcement.write() {
                    *slot = Some(enforcement);
                }
                return Ok(PreflightReport {
                    target: self.target.to_string(),
                    checks,
                    enforcement,
                });
            }
        };
        let headers = properties.headers();
        let header = |name: &'static str| {
            headers
                .get_optional_str(&azure_core::http::headers::HeaderName::from_static(name))
                .map(str::to_string)
        };
        check(
            "container-exists",
            CheckStatus::Pass,
            format!(
                "container {} in account {}",
                self.container_name, self.account
            ),
        );
        match header("x-ms-blob-public-access") {
            None => check(
                "public-access",
                CheckStatus::Pass,
                "no anonymous public access".to_string(),
            ),
            Some(level) => check(
                "public-access",
                CheckStatus::Fail,
                format!("anonymous public access level {level:?}; set it to private"),
            ),
        }
        let immutable = header("x-ms-immutable-storage-with-versioning-enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let unconfirmed = if options.allow_unenforced {
            CheckStatus::Warn
        } else {
            CheckStatus::Fail
        };
        if immutable {
            check(
                "version-level-immutability",
                CheckStatus::Pass,
                "x-ms-immutable-storage-with-versioning-enabled: true".to_string(),
            );
            // The data plane does not expose the account's versioning switch; Azure only allows
            // version-level immutability on accounts with blob versioning enabled.
            check(
                "versioning",
                CheckStatus::Pass,
                "implied by version-level immutability (Azure requires blob versioning for it)"
                    .to_string(),
            );
        } else {
            let hint = if options.allow_unenforced {
                "accepted because unenforced storage was explicitly allowed: receipts will say enforcement: unconfirmed"
            } else {
                "uploads would not be immutable; use a container with version-level immutability (infra/azure) or explicitly accept unenforced storage"
            };
            check(
                "version-level-immutability",
                unconfirmed,
                format!(
                    "container {} does not report version-level immutability ({hint})",
                    self.container_name
                ),
            );
            check(
                "versioning",
                unconfirmed,
                "cannot be confirmed: the container does not report version-level immutability"
                    .to_string(),
            );
        }
        let policy = header("x-ms-has-immutability-policy");
        let hold = header("x-ms-has-legal-hold");
        check(
            "container-policy",
            CheckStatus::Pass,
            format!(
                "container time-based policy: {}; container legal hold: {}; each blob gets its own version-level policy",
                policy.as_deref().unwrap_or("not reported"),
                hold.as_deref().unwrap_or("not reported")
            ),
        );
        let enforcement = if immutable {
            Enforcement::Store
        } else if options.allow_unenforced {
            Enforcement::Unconfirmed
        } else {
            Enforcement::Store
        };
        if let Ok(mut slot) = self.enforcement.write() {
            *slot = Some(enforcement);
        }
        Ok(PreflightReport {
            target: self.target.to_string(),
            checks,
            enforcement,
        })
    }

    async fn put(
        &self,
        object: &PutObject<'_>,
        progress: Progress<'_>,
    ) -> Result<StoredObject, StoreError> {
        self.write(object, progress, None).await
    }

    /// Stages every block first and waits for the gate only before Put Block List: staged,
    /// uncommitted blocks are not a blob (no listing, read or version shows them) and Azure
    /// discards them after seven days.
    async fn put_gated(
        &self,
        object: &PutObject<'_>,
        gate: &WriteGate,
        progress: Progress<'_>,
    ) -> Result<StoredObject, StoreError> {
        self.write(object, progress, Some(gate)).await
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        self.head_version(key, None).await
    }

    /// Current blobs under `prefix`, each read with Get Blob Properties (so policy and hold come
    /// from the store). Versions are not listed: the emulators have none (see README).
    async fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, StoreError> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: if prefix.is_empty() {
                None
            } else {
                Some(prefix.to_string())
            },
            ..Default::default()
        };
        let mut pages = self
            .container
            .list_blobs(Some(options))
            .map_err(|e| cloud(&self.target, "List Blobs", None, describe(&e)))?
            .into_pages();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .and_then(|p| p.into_model())
                .map_err(|e| cloud(&self.target, "List Blobs", None, describe(&e)))?;
            names.extend(page.blob_items.into_iter().filter_map(|b| b.name));
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(stored) = self.head_version(&name, None).await? {
                out.push(stored);
            }
        }
        Ok(out)
    }

    async fn set_legal_hold(
        &self,
        key: &str,
        version_id: Option<&str>,
        hold: bool,
    ) -> Result<StoredObject, StoreError> {
        self.check_key(key)?;
        let options = BlobClientSetLegalHoldOptions {
            version_id: version_id.map(str::to_string),
            ..Default::default()
        };
        if let Err(e) = self.blob(key).set_legal_hold(hold, Some(options)).await {
            return Err(match status_of(&e) {
                (Some(404), _) => StoreError::NotFound {
                    target: self.target.to_string(),
                    key: key.to_string(),
                },
                _ => StoreError::NotHonoured {
                    target: self.target.to_string(),
                    key: key.to_string(),
                    detail: format!("Set Blob Legal Hold to {hold} failed: {}", describe(&e)),
                },
            });
        }
        let stored =
            self.head_version(key, version_id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    target: self.target.to_string(),
                    key: key.to_string(),
                })?;
        if stored.legal_hold != Some(hold) {
            return Err(StoreError::NotHonoured {
                target: self.target.to_string(),
                key: key.to_string(),
                detail: format!(
                    "legal hold read back as {:?} after setting it to {hold}",
                    stored.legal_hold
                ),
            });
        }
        Ok(stored)
    }

    async fn download(
        &self,
        key: &str,
        version_id: Option<&str>,
        dest: &Path,
    ) -> Result<String, StoreError> {
        use tokio::io::AsyncWriteExt;
        self.check_key(key)?;
        let mut blob = self.blob(key);
        if let Some(version) = version_id {
            blob = blob
                .with_version(version)
                .map_err(|e| StoreError::Config(e.to_string()))?;
        }
        let result = match blob.download(None).await {
            Ok(r) => r,
            Err(e) if status_of(&e).0 == Some(404) => {
                return Err(StoreError::NotFound {
                    target: self.target.to_string(),
                    key: key.to_string(),
                });
            }
            Err(e) => return Err(cloud(&self.target, "Get Blob", Some(key), describe(&e))),
        };
        let io = |source| StoreError::Io {
            path: dest.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut sha = Sha256::new();
        let mut body = result.body;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| cloud(&self.target, "Get Blob", Some(key), describe(&e)))?;
            sha.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok(hex::encode(sha.finalize()))
    }

    async fn delete(&self, key: &str, version_id: Option<&str>) -> Result<(), StoreError> {
        self.check_key(key)?;
        let options = BlobClientDeleteOptions {
            version_id: version_id.map(str::to_string),
            ..Default::default()
        };
        match self.blob(key).delete(Some(options)).await {
            Ok(_) => Ok(()),
            Err(e) => Err(match status_of(&e) {
                (Some(404), _) => StoreError::NotFound {
                    target: self.target.to_string(),
                    key: key.to_string(),
                },
                (Some(409), Some(code))
                    if code.starts_with("BlobImmutable")
                        || code.contains("LegalHold")
                        || code.contains("Immutab") =>
                {
                    StoreError::Protected {
                        target: self.target.to_string(),
                        key: key.to_string(),
                        detail: code,
                    }
                }
                _ => cloud(&self.target, "Delete Blob", Some(key), describe(&e)),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tags_and_dates() {
        assert!(valid_metadata_name("case_id") && valid_metadata_name("_x1"));
        assert_eq!(metadata_name("bundle-path"), "bundle_path");
        assert!(
            !valid_metadata_name("case-id")
                && !valid_metadata_name("1x")
                && !valid_metadata_name("")
        );
        assert!(
            valid_tag("sha256:ab12", 256, false)
                && !valid_tag("a&b", 256, false)
                && !valid_tag("", 128, false)
        );
        let mut tags = BTreeMap::new();
        tags.insert("case".to_string(), "CASE 1".to_string());
        tags.insert("digest".to_string(), "sha256:ab+c".to_string());
        assert_eq!(tags_header(&tags), "case=CASE%201&digest=sha256%3Aab%2Bc");
        let when = DateTime::parse_from_rfc3339("2033-01-01T00:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ceil_second(when).to_rfc3339(), "2033-01-01T00:00:01+00:00");
        let exact = DateTime::parse_from_rfc3339("2033-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ceil_second(exact), exact);
        assert_eq!(from_offset(to_offset(exact).unwrap()), Some(exact));
    }

    #[test]
    fn rejects_non_azure_targets_and_bad_options() {
        let s3 = Target::parse("s3://bucket-a/x").unwrap();
        assert!(matches!(
            AzureStore::new(
                s3,
                AzureAuth::Sas(auth::SecretString::new("sig=x".into())),
                AzureOptions::default()
            ),
            Err(StoreError::Config(_))
        ));
        let az = Target::parse("azure+http://127.0.0.1:10000/devstoreaccount1/evidence").unwrap();
        let bad = AzureOptions {
            block_size: 0,
            concurrency: 1,
        };
        assert!(matches!(
            AzureStore::new(
                az,
                AzureAuth::Sas(auth::SecretString::new("sig=x".into())),
                bad
            ),
            Err(StoreError::Config(_))
        ));
    }
}
