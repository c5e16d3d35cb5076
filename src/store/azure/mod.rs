//! Azure Blob Storage backend of [`ImmutableStore`]: version-level immutability (time-based
//! policies, Locked/Unlocked) and legal holds, through the official `azure_storage_blob` crate.
//!
//! Writes are create-only block blobs. A file of at most one block goes in ONE Put Blob with
//! `If-None-Match: *`, its CRC64, metadata, tags and the immutability policy and legal hold
//! headers (write.rs `write_whole`). Larger files: blocks of [`AzureOptions::block_size`] are
//! read from disk, staged with a transactional CRC64 each (bounded concurrency, flat memory),
//! and committed with `If-None-Match: *`, the SHA-256 in metadata (`sha256`), blob index tags
//! and, when asked ([`AzureOptions::content_md5`]), the whole-blob Content-MD5, and the same
//! policy and hold headers. Either way the blob's properties are read back (a store that did not
//! apply the headers gets the policy and hold by their own requests): a store that does not report
//! what was asked (bare Azurite drops it) fails the upload with [`StoreError::NotHonoured`],
//! unless the user explicitly accepted unenforced storage at preflight
//! ([`PreflightOptions::allow_unenforced`]), in which case every [`StoredObject`] says
//! [`Enforcement::Unconfirmed`].
//!
//! Laid out like `store/s3/`: this file owns the client (credentials, endpoint, options) and
//! maps SDK errors to [`StoreError`]; the work is split by concern: [`preflight`] (read the
//! container once, then a pure judge: is it WORM?), `write` (create-only staged writes, lock,
//! read-back compared with `store::compare`) and `read` (properties, tags, listing, legal holds,
//! download, delete).

pub mod auth;
pub mod preflight;
mod read;
mod small;
mod write;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, Url};
use azure_core::time::OffsetDateTime;
use azure_storage_blob::{BlobClient, BlobContainerClient, BlobContainerClientOptions};
use chrono::{DateTime, Utc};

pub use auth::{AzureAuth, auth_from_env};

use super::{
    Enforcement, ImmutableStore, Key, PreflightOptions, PreflightReport, Progress, PutObject,
    StoreError, StoredObject, Target, WriteGate,
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
    /// Compute the whole-blob MD5 while staging and commit it as the blob's Content-MD5 (checked
    /// on read-back, carried in receipts). Off by default: Azure does not check this value on
    /// Put Block List (it stores what the client sends), the blocks' bytes are checked by the
    /// service through each block's transactional CRC64 and the content by the SHA-256 in
    /// metadata, and MD5 costs more client CPU than SHA-256 (~1.4 s/GiB against ~0.6 s on one
    /// core; issue #19). Turn it on for downstream tools that check Content-MD5 on download
    /// (AzCopy, the Azure SDKs): [`AzureStore::from_env`] reads `WORMVAULT_AZURE_CONTENT_MD5=1`.
    pub content_md5: bool,
}

impl Default for AzureOptions {
    fn default() -> Self {
        AzureOptions {
            block_size: 8 * 1024 * 1024,
            concurrency: 4,
            content_md5: false,
        }
    }
}

/// `WORMVAULT_AZURE_CONTENT_MD5`: `1`/`true` turns the whole-blob Content-MD5 on, unset/`0`/
/// `false` leaves it off; anything else is a configuration error (not silently ignored).
pub const CONTENT_MD5_ENV: &str = "WORMVAULT_AZURE_CONTENT_MD5";

fn content_md5_from_env() -> Result<bool, StoreError> {
    match std::env::var(CONTENT_MD5_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(false),
        Ok(v) => parse_content_md5(&v),
        Err(e) => Err(StoreError::Config(format!("{CONTENT_MD5_ENV}: {e}"))),
    }
}

fn parse_content_md5(value: &str) -> Result<bool, StoreError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" => Ok(false),
        "1" | "true" => Ok(true),
        _ => Err(StoreError::Config(format!(
            "{CONTENT_MD5_ENV}={value:?}: expected 1 or true (commit the whole-blob Content-MD5) or 0 or false"
        ))),
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

/// Azure's limit on a blob's metadata: every name and value together, in bytes.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;

/// Check an object's metadata and blob index tags for Azure (with the `sha256` entry every write
/// adds): names C# identifiers (after `-` becomes `_`), values visible ASCII (they travel as
/// HTTP headers), at most [`MAX_METADATA_BYTES`] together; at most 10 tags, by [`valid_tag`].
/// Run at plan time for every planned object, and again on each write.
pub fn check_fields(
    key: &str,
    metadata: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> Result<(), StoreError> {
    let mut total = SHA256_METADATA.len() + 64;
    for (name, value) in metadata {
        if !valid_metadata_name(&metadata_name(name)) {
            return Err(StoreError::Config(format!(
                "metadata name {name:?} for {key} is not allowed on Azure (it must be a C# identifier: letters, digits, '_')"
            )));
        }
        if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(StoreError::Config(format!(
                "metadata {name:?} for {key}: Azure metadata values are printable ASCII"
            )));
        }
        if !name.eq_ignore_ascii_case(SHA256_METADATA) {
            total += name.len() + value.len();
        }
    }
    if total > MAX_METADATA_BYTES {
        return Err(StoreError::Config(format!(
            "metadata for {key} is {total} bytes; Azure allows at most {MAX_METADATA_BYTES}"
        )));
    }
    if tags.len() > 10
        || tags
            .iter()
            .any(|(k, v)| !valid_tag(k, 128, false) || !valid_tag(v, 256, true))
    {
        return Err(StoreError::Config(format!(
            "blob index tags for {key} must be at most 10, keys 1-128 and values 0-256 characters of letters, digits, space and + - . / : = _"
        )));
    }
    Ok(())
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
        send_next(ctx, request, next).await
    }
}

/// Pass a request on to the rest of the pipeline (a policy's last step).
async fn send_next(
    ctx: &azure_core::http::Context<'_>,
    request: &mut azure_core::http::Request,
    next: &[Arc<dyn azure_core::http::policies::Policy>],
) -> azure_core::http::policies::PolicyResult {
    match next.split_first() {
        Some((first, rest)) => first.send(ctx, request, rest).await,
        None => Err(azure_core::Error::with_message(
            ErrorKind::Other,
            "pipeline ended before the transport",
        )),
    }
}

/// The `x-ms-content-crc64` of one request's body, carried to [`TransactionalCrc64`] in the
/// request's context: the crate's one-request upload (Put Blob) takes no transactional checksum.
#[derive(Debug, Clone, Copy)]
pub(super) struct ContentCrc64(pub u64);

/// Adds `x-ms-content-crc64` (base64 of the little-endian CRC-64/NVME, as Put Block sends it)
/// to a request whose context carries a [`ContentCrc64`]: the service then checks the bytes it
/// received against it and refuses the write on a mismatch. Runs before the Shared Key signer.
#[derive(Debug)]
struct TransactionalCrc64;

#[async_trait::async_trait]
impl azure_core::http::policies::Policy for TransactionalCrc64 {
    async fn send(
        &self,
        ctx: &azure_core::http::Context,
        request: &mut azure_core::http::Request,
        next: &[Arc<dyn azure_core::http::policies::Policy>],
    ) -> azure_core::http::policies::PolicyResult {
        use base64::Engine as _;
        if let Some(ContentCrc64(crc)) = ctx.value::<ContentCrc64>() {
            request.insert_header(
                "x-ms-content-crc64",
                base64::engine::general_purpose::STANDARD.encode(crc.to_le_bytes()),
            );
        }
        send_next(ctx, request, next).await
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
        let options = AzureOptions {
            content_md5: content_md5_from_env()?,
            ..AzureOptions::default()
        };
        AzureStore::new(target, auth, options)
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
        // Credentials (a SAS token in every URL, bearer tokens, shared-key signatures) go over
        // plain HTTP only to an emulator on loopback, refused here before any request.
        if endpoint_url.scheme() != "https" && !is_loopback_host(&endpoint_url) {
            return Err(StoreError::Config(format!(
                "{endpoint} is plain HTTP to a host that is not loopback; wormvault sends Azure credentials only over HTTPS (plain HTTP is allowed to an emulator on 127.0.0.1, ::1 or localhost)"
            )));
        }
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
        client_options
            .per_try_policies
            .push(Arc::new(TransactionalCrc64));
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
            AzureAuth::Token(token) => {
                // The SDK sends Entra ID tokens over https only; say what to set instead of its
                // bare "must use https" (the usual cause: an emulator run without its key).
                if container_url.scheme() != "https" {
                    return Err(StoreError::Config(format!(
                        "{endpoint} is plain HTTP, and with no AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN set wormvault would sign in with Microsoft Entra ID, whose tokens go over https only. For an emulator, set AZURE_STORAGE_KEY to its account key (or AZURE_STORAGE_CONNECTION_STRING); for Azure, use the https:// endpoint"
                    )));
                }
                credential = Some(token.clone())
            }
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

    /// The one key rule ([`Key::parse`]) plus, stricter here, Azure's 1024-byte cap on names.
    fn check_key(&self, key: &str) -> Result<(), StoreError> {
        if Key::parse(key).is_err() || key.len() > 1024 {
            return Err(StoreError::Config(format!(
                "invalid blob name {key:?} for {}: a relative path of 1-1024 bytes (no leading, trailing or doubled '/', no '\\' or NUL, no '.' or '..' segments)",
                self.target
            )));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ImmutableStore for AzureStore {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn preflight(&self, options: &PreflightOptions) -> Result<PreflightReport, StoreError> {
        preflight::run(self, options).await
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

    async fn head_untagged(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        self.properties(key, None, false).await
    }

    /// Current blobs under `prefix`, each read with Get Blob Properties (so policy and hold come
    /// from the store). Versions are not listed: the emulators have none (see README).
    async fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, StoreError> {
        read::list(self, prefix).await
    }

    async fn set_legal_hold(
        &self,
        key: &str,
        version_id: Option<&str>,
        hold: bool,
    ) -> Result<StoredObject, StoreError> {
        read::set_legal_hold(self, key, version_id, hold).await
    }

    async fn download(
        &self,
        key: &str,
        version_id: Option<&str>,
        dest: &Path,
    ) -> Result<String, StoreError> {
        read::download(self, key, version_id, dest).await
    }

    async fn delete(&self, key: &str, version_id: Option<&str>) -> Result<(), StoreError> {
        read::delete(self, key, version_id).await
    }

    async fn put_bytes(
        &self,
        object: &crate::store::PutBytes<'_>,
    ) -> Result<StoredObject, StoreError> {
        small::put_bytes(self, object).await
    }

    async fn get_bytes(
        &self,
        key: &str,
        version_id: Option<&str>,
        max_len: u64,
    ) -> Result<Option<crate::store::FetchedObject>, StoreError> {
        small::get_bytes(self, key, version_id, max_len).await
    }

    async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<crate::store::ListedPage, StoreError> {
        small::list_after(self, prefix, start_after, max).await
    }
}

/// Is the URL's host a loopback address (127.0.0.0/8, ::1, localhost)?
fn is_loopback_host(url: &Url) -> bool {
    url.host()
        .is_some_and(|h| crate::aws_endpoints::is_loopback_host(&h))
}

#[cfg(test)]
mod tests {
    use super::write::ceil_second;
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let open = |url: &str| {
            let target = Target::parse(url).unwrap();
            AzureStore::new(
                target,
                AzureAuth::Sas(auth::SecretString::new("sv=2024&sig=secret".into())),
                AzureOptions::default(),
            )
        };
        for remote in [
            "azure+http://192.0.2.7:10000/acct/c/p",
            "azure+http://blob.example.com/acct/c/p",
        ] {
            let error = open(remote).expect_err("plain HTTP to a remote host must be refused");
            assert!(
                matches!(&error, StoreError::Config(m) if m.contains("not loopback") && !m.contains("secret")),
                "{error}"
            );
        }
        for local in [
            "azure+http://127.0.0.1:10000/devstoreaccount1/c/p",
            "azure+http://localhost:10000/devstoreaccount1/c/p",
        ] {
            assert!(open(local).is_ok(), "{local}");
        }
    }

    /// A token credential that is never asked for a token.
    #[derive(Debug)]
    struct NoToken;

    #[async_trait::async_trait]
    impl azure_core::credentials::TokenCredential for NoToken {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<azure_core::credentials::AccessToken> {
            unreachable!("no request is made")
        }
    }

    #[test]
    fn entra_id_over_plain_http_names_the_key_to_set() {
        let target = Target::parse("azure+http://127.0.0.1:10000/devstoreaccount1/c/p").unwrap();
        let error = AzureStore::new(
            target,
            AzureAuth::Token(std::sync::Arc::new(NoToken)),
            AzureOptions::default(),
        )
        .expect_err("Entra ID tokens never go over plain HTTP");
        let message = error.to_string();
        assert!(
            matches!(error, StoreError::Config(_))
                && message.contains("AZURE_STORAGE_KEY")
                && message.contains("https only"),
            "{message}"
        );
    }

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

    /// The Content-MD5 switch takes only the documented values; a typo is an error, not "off".
    #[test]
    fn content_md5_switch_values() {
        for (value, on) in [("1", true), ("true", true), (" TRUE ", true), ("0", false)] {
            assert_eq!(parse_content_md5(value).unwrap(), on, "{value:?}");
        }
        assert!(!parse_content_md5("").unwrap());
        assert!(!parse_content_md5("false").unwrap());
        for bad in ["yes", "on", "2", "md5"] {
            assert!(
                matches!(parse_content_md5(bad), Err(StoreError::Config(m)) if m.contains(CONTENT_MD5_ENV)),
                "{bad:?}"
            );
        }
        assert!(!AzureOptions::default().content_md5);
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
            ..AzureOptions::default()
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
