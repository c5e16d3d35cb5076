//! S3 Object Lock backend: [`S3Store`] implements [`ImmutableStore`] with `aws-sdk-s3`. This file
//! owns the connection (credentials, region, endpoint, retries) and maps SDK errors to
//! [`StoreError`]; the work is split by concern:
//! [`preflight`] (is the bucket WORM?), `upload` (create-only locked writes, multipart, dangling
//! upload cleanup) and `read` (HEAD, versions, legal holds, download, delete).
//!
//! SDK types stay inside this module tree (house style, habit 1).

mod body;
mod checksum;
pub mod policy;
pub mod preflight;
mod proof;
mod read;
mod small;
mod upload;

pub use upload::{MAX_METADATA_BYTES, check_metadata, tagging_header};

use std::path::Path;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::{
    ImmutableStore, PreflightOptions, PreflightReport, Progress, PutObject, StoreError,
    StoredObject, Target,
};

pub use checksum::{ChecksumError, StoreChecksum, composite_checksum, parse_store_checksum};
pub use upload::DanglingUpload;

pub use crate::aws_endpoints::EndpointTransport;
use crate::aws_endpoints::{AwsConfigSources, NamedEndpoint, static_keys_in_environment};

/// Smallest part S3 accepts (except the last one), 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Largest part and largest single PUT S3 accepts, 5 GiB.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// S3's limit on parts per multipart upload.
pub const MAX_PARTS: u64 = 10_000;

/// How to connect and how to split uploads. `Default` reads credentials, region and endpoint
/// from the standard AWS chain only.
#[derive(Clone)]
pub struct S3Settings {
    /// Endpoint override (emulators, S3-compatible stores). `None` uses `AWS_ENDPOINT_URL` /
    /// `AWS_ENDPOINT_URL_S3` or the AWS profile, then AWS itself. Any custom endpoint switches to
    /// path-style addressing (`http://host/bucket/key`), which emulators need.
    pub endpoint_url: Option<String>,
    /// Region override; otherwise the AWS chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Named profile of the shared config/credentials files (`--profile`); otherwise
    /// `AWS_PROFILE`, then `default`. Its `region`, `endpoint_url` and credentials apply where no
    /// explicit setting overrides them.
    pub profile: Option<String>,
    /// Static credentials (emulators and tests). `None`: the AWS chain (env, profiles, SSO,
    /// web identity, container and instance roles). Never logged.
    pub credentials: Option<S3Credentials>,
    /// Files larger than this go multipart.
    pub multipart_threshold: u64,
    /// Part size for multipart uploads (raised automatically to stay within 10,000 parts).
    pub part_size: u64,
    /// Parts in flight per multipart upload.
    pub part_concurrency: usize,
    /// Attempts per request, first included, for throttling and transient errors (the SDK's
    /// standard retry mode with exponential backoff and jitter; other errors are not retried).
    pub max_attempts: u32,
    /// Longest wait for the first byte of a response, counted from the start of the request (so
    /// it includes sending the body: one part, or one single-PUT object). Without it a server
    /// that accepts an upload and never answers hangs the run forever; a timed-out attempt is
    /// retried like any transient error. `WORMVAULT_S3_READ_TIMEOUT_SECS` overrides the default.
    pub read_timeout: Duration,
}

/// Default read timeout: a 64 MiB single PUT (the multipart threshold) still fits at ~220 KB/s.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Environment override of the read timeout, in whole seconds (operations and fault drills).
pub const READ_TIMEOUT_VAR: &str = "WORMVAULT_S3_READ_TIMEOUT_SECS";

fn read_timeout_from_env() -> Duration {
    std::env::var(READ_TIMEOUT_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|secs| *secs > 0)
        .map_or(DEFAULT_READ_TIMEOUT, Duration::from_secs)
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint_url: None,
            region: None,
            profile: None,
            credentials: None,
            multipart_threshold: 64 * 1024 * 1024,
            part_size: 16 * 1024 * 1024,
            part_concurrency: 8,
            max_attempts: 5,
            read_timeout: read_timeout_from_env(),
        }
    }
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|c| &c.access_key_id),
            )
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("part_concurrency", &self.part_concurrency)
            .field("max_attempts", &self.max_attempts)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// Static access keys. `Debug` shows the key id only.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Environment variables that tune multipart uploads for [`S3Store::connect`] (whole numbers).
pub const ENV_MULTIPART_THRESHOLD_MIB: &str = "WORMVAULT_S3_MULTIPART_THRESHOLD_MIB";
pub const ENV_PART_SIZE_MIB: &str = "WORMVAULT_S3_PART_SIZE_MIB";
pub const ENV_PART_CONCURRENCY: &str = "WORMVAULT_S3_PART_CONCURRENCY";

/// Where and as whom to connect, as the aws CLI's global options `--profile`, `--region` and
/// `--endpoint-url` say. `None` fields leave the standard AWS chain in charge (`AWS_PROFILE`,
/// `AWS_REGION`, `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, the profile's settings): an explicit
/// value wins over all of them, as in the aws CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Connection {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// The connection options of this process (the CLI's global flags), set once at start.
///
/// Why process-wide rather than passed along: the flags are global options, like the aws CLI's,
/// and must reach every S3 client the process opens — including the ones library code opens
/// from a bare [`Target`] (status, `handoff --from`, an audit log kept in a bucket). Environment
/// variables would do the same but `std::env::set_var` is unsound in a threaded process.
static PROCESS_CONNECTION: std::sync::OnceLock<S3Connection> = std::sync::OnceLock::new();

/// Set this process's S3 connection options (first call wins; later calls are ignored and
/// return `false`). Read by [`S3Settings::from_env`], hence by [`S3Store::connect`] and
/// `store::open`.
pub fn set_process_connection(connection: S3Connection) -> bool {
    PROCESS_CONNECTION.set(connection).is_ok()
}

impl S3Settings {
    /// Defaults, with multipart tuning from `WORMVAULT_S3_MULTIPART_THRESHOLD_MIB`,
    /// `WORMVAULT_S3_PART_SIZE_MIB` and `WORMVAULT_S3_PART_CONCURRENCY` when set, and the
    /// process's connection options ([`set_process_connection`]: profile, region, endpoint).
    /// What those leave unset comes from the standard AWS chain when connecting.
    pub fn from_env() -> Result<S3Settings, StoreError> {
        let read = |name: &str| -> Result<Option<u64>, StoreError> {
            match std::env::var(name) {
                Ok(value) => value.trim().parse::<u64>().map(Some).map_err(|_| {
                    StoreError::Config(format!("{name}={value:?} is not a whole number"))
                }),
                Err(_) => Ok(None),
            }
        };
        let mut settings = S3Settings::default();
        if let Some(connection) = PROCESS_CONNECTION.get() {
            settings.profile = connection.profile.clone();
            settings.region = connection.region.clone();
            settings.endpoint_url = connection.endpoint_url.clone();
        }
        if let Some(mib) = read(ENV_MULTIPART_THRESHOLD_MIB)? {
            settings.multipart_threshold = mib.saturating_mul(1024 * 1024);
        }
        if let Some(mib) = read(ENV_PART_SIZE_MIB)? {
            settings.part_size = mib.saturating_mul(1024 * 1024);
        }
        if let Some(parts) = read(ENV_PART_CONCURRENCY)? {
            settings.part_concurrency = usize::try_from(parts).unwrap_or(usize::MAX);
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), StoreError> {
        if self.part_size < MIN_PART_SIZE || self.part_size > MAX_PART_SIZE {
            return Err(StoreError::Config(format!(
                "S3 part size {} is outside S3's limits ({MIN_PART_SIZE}..={MAX_PART_SIZE} bytes); choose a part size of at least 5 MiB",
                self.part_size
            )));
        }
        if self.multipart_threshold > MAX_PART_SIZE {
            return Err(StoreError::Config(format!(
                "S3 multipart threshold {} exceeds the 5 GiB single-PUT limit; use at most {MAX_PART_SIZE}",
                self.multipart_threshold
            )));
        }
        if self.part_concurrency == 0 || self.max_attempts == 0 {
            return Err(StoreError::Config(
                "S3 part concurrency and attempts must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// An S3 bucket (and key prefix) with Object Lock, as a write-once store.
pub struct S3Store {
    target: Target,
    bucket: String,
    client: Client,
    settings: S3Settings,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("target", &self.target)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Keeps connections to a custom endpoint alive, and drops one after a failed upload request.
///
/// HTTP/1.1 keeps connections open by default and AWS S3 does, but some S3-compatible servers
/// close each connection after one response unless the request asks explicitly — LocalStack
/// under hypercorn does (it adds `Connection: close` otherwise, localstack issue #6557) — and
/// then every request pays a new TCP connection and a new server-side connection handler (about
/// 1.0–1.4 ms of LocalStack's single Python process per request, measured). So every request
/// asks for `Connection: keep-alive`.
///
/// A kept-alive connection must not be reused after an error answer to a request with a body:
/// LocalStack answers a create-only PUT of an existing key with 412 before it reads the body,
/// and after that exchange the connection never answers again (the next request on it waits
/// out the read timeout; reproduced with a raw socket). Such a connection is poisoned — closed
/// instead of going back to the pool — before its response is read, so no later request can
/// pick it up.
#[derive(Debug)]
struct KeepAlive;

/// Marks an attempt whose request carries a body (set before transmit, read on the response).
#[derive(Debug, Clone, Copy)]
struct SentBody;

impl aws_smithy_types::config_bag::Storable for SentBody {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl aws_sdk_s3::config::Intercept for KeepAlive {
    fn name(&self) -> &'static str {
        "wormvault::KeepAlive"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let request = context.request_mut();
        request.headers_mut().insert("connection", "keep-alive");
        if matches!(request.method(), "GET" | "HEAD" | "DELETE") {
            cfg.interceptor_state().unset::<SentBody>();
        } else {
            cfg.interceptor_state().store_put(SentBody);
        }
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        if context.response().status().is_success() || cfg.load::<SentBody>().is_none() {
            return Ok(());
        }
        let connection = cfg
            .load::<aws_smithy_runtime_api::client::connection::CaptureSmithyConnection>()
            .and_then(|capture| capture.get());
        match connection {
            Some(connection) => connection.poison(),
            // Without a handle on the connection it may go back to the pool; say so, because the
            // next request on it can then wait out the read timeout.
            None => tracing::warn!(
                "could not close the connection after an error answer to an upload request"
            ),
        }
        Ok(())
    }
}

impl S3Store {
    /// Does this object version hold exactly the bytes of the file `local`, by the part
    /// checksums S3 computed for it? `Some(SHA-256 hex of the file)` when every part's size and
    /// SHA-256 and their composite are the stored ones; `None` when not, or when S3 reports no
    /// part checksums (an object written by one PUT, or without SHA-256 checksums). Reads the
    /// local file, never the object.
    pub async fn proven_by_parts(
        &self,
        key: &str,
        version_id: Option<&str>,
        local: &Path,
    ) -> Result<Option<String>, StoreError> {
        proof::by_parts(self, key, version_id, local).await
    }

    /// Connect with credentials, region and endpoint from the standard AWS chain, and multipart
    /// tuning from [`S3Settings::from_env`].
    pub async fn connect(target: Target) -> Result<S3Store, StoreError> {
        S3Store::connect_with(target, S3Settings::from_env()?).await
    }

    /// Connect with explicit settings (endpoint, region, credentials, multipart tuning).
    pub async fn connect_with(target: Target, settings: S3Settings) -> Result<S3Store, StoreError> {
        let Target::S3 { bucket, .. } = &target else {
            return Err(StoreError::Config(format!(
                "{target} is not an s3:// target"
            )));
        };
        let bucket = bucket.clone();
        settings.validate()?;
        let retry = RetryConfig::standard()
            .with_max_attempts(settings.max_attempts)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(20));
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(settings.read_timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts);
        // Checked before anything is loaded or built, so a refused endpoint never sees a
        // request: the S3 endpoint (flag, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's
        // `services` section or `endpoint_url`) and, when the SDK's default credentials chain
        // will be used, the STS/SSO/IMDS/container endpoints it would use.
        let chain = settings.credentials.is_none() && !static_keys_in_environment();
        let sources = AwsConfigSources::load(settings.profile.as_deref()).await;
        let explicit = settings
            .endpoint_url
            .as_ref()
            .map(|endpoint| NamedEndpoint::new(endpoint.clone(), "--endpoint-url"));
        sources
            .check_service("S3", explicit)
            .map_err(|refused| StoreError::Config(refused.to_string()))?;
        if chain {
            sources
                .check_credential_chain()
                .map_err(|refused| StoreError::Config(refused.to_string()))?;
        }
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint.trim_end_matches('/'));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(credentials) = &settings.credentials {
            loader = loader.credentials_provider(Credentials::new(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.clone(),
                credentials.session_token.clone(),
                None,
                "wormvault-settings",
            ));
        } else if static_keys_in_environment() {
            // The default chain tries the environment's keys first and would use them; taking
            // them directly skips building the chain's other providers, whose STS and SSO
            // clients read and parse the platform's whole CA bundle at every start.
            loader = loader.credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            );
        }
        let shared = loader.load().await;
        if shared.region().is_none() {
            return Err(StoreError::Config(format!(
                "no AWS region for {target}: set --region, AWS_REGION or a profile region so requests go to the bucket's region"
            )));
        }
        // The endpoint the client will use, resolved as the SDK resolves it (explicit setting,
        // then AWS_ENDPOINT_URL_S3 or the profile's `services` section, then AWS_ENDPOINT_URL or
        // the profile's `endpoint_url`), and set explicitly so the check below sees exactly
        // what is used.
        let endpoint = match &settings.endpoint_url {
            Some(endpoint) => Some(endpoint.trim_end_matches('/').to_string()),
            None => shared
                .service_config()
                .and_then(|conf| {
                    conf.load_config(
                        aws_types::service_config::ServiceConfigKey::builder()
                            .service_id("S3")
                            .env("AWS_ENDPOINT_URL")
                            .profile("endpoint_url")
                            .build()
                            .ok()?,
                    )
                })
                .or_else(|| shared.endpoint_url().map(str::to_string)),
        };
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if let Some(endpoint) = &endpoint {
            // Credentials go only to an endpoint the user named (flag, environment or profile),
            // and never in clear text off the loopback interface.
            let transport = check_endpoint(endpoint)?;
            // Emulators and most S3-compatible stores serve buckets under the path, not as
            // virtual-hosted names (emulators.md, "Rust SDK facts").
            config = config
                .endpoint_url(endpoint.clone())
                .force_path_style(true)
                .interceptor(KeepAlive);
            if transport == EndpointTransport::LoopbackHttp {
                // A loopback emulator: nothing goes over TLS, so the platform's CA bundle is not
                // read for it.
                config = config.http_client(loopback_http_client());
            }
        }
        let client = Client::from_conf(config.build());
        Ok(S3Store {
            target,
            bucket,
            client,
            settings,
        })
    }

    /// The bucket this store writes to.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The multipart settings in use.
    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    /// Abort every unfinished multipart upload under `prefix` (full key prefix): the parts a
    /// killed or failed run left behind, which cost storage and can never become objects. Call it
    /// before uploading into a session prefix. Returns what was aborted.
    ///
    /// S3 cannot tell whose upload it is, so scope `prefix` to this tool's session: a concurrent
    /// run writing to the same prefix would lose its in-progress upload (and fail loudly).
    pub async fn abort_dangling_uploads(
        &self,
        prefix: &str,
    ) -> Result<Vec<DanglingUpload>, StoreError> {
        upload::abort_dangling(self, prefix).await
    }

    /// One specific version as the store reports it (checksum, lock, legal hold, tags), or
    /// `None` if it does not exist.
    pub async fn head_version(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<StoredObject>, StoreError> {
        read::head(self, key, version_id).await
    }

    fn cloud_error<E>(&self, operation: &str, key: Option<&str>, error: &SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        StoreError::Cloud {
            target: self.target.to_string(),
            operation: operation.to_string(),
            key: key.map(str::to_string),
            message: describe(error),
        }
    }
}

/// The SDK's HTTP client (hyper, rustls with aws-lc, the SDK's timeouts) with an empty trust
/// store, for a plain-HTTP loopback emulator: no TLS connection is made to it, and an HTTPS
/// URL reached through it (a redirect, say) fails certificate verification instead of being
/// trusted. No proxy is used for the loopback interface.
fn loopback_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let context = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::empty().with_native_roots(false))
        .build()
        .unwrap_or_else(|_| unreachable!("a TLS context without certificates is valid"));
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
}

/// Refuse an S3 endpoint that would carry signed requests in clear text over a network: `http://`
/// is allowed only to a loopback host (127.0.0.0/8, ::1, `localhost`: an emulator on this
/// machine); anything but `http(s)://host` is refused. The one check every AWS endpoint goes
/// through ([`crate::aws_endpoints::check_endpoint`]); an accepted endpoint says how it is
/// reached.
pub fn check_endpoint(endpoint: &str) -> Result<EndpointTransport, StoreError> {
    crate::aws_endpoints::check_endpoint(endpoint, "the S3 endpoint")
        .map_err(|refused| StoreError::Config(refused.to_string()))
}

/// HTTP status of an SDK error, when a response came back.
fn status<E>(error: &SdkError<E>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// The service error code (`NoSuchKey`, `PreconditionFailed`, ...), when the service sent one.
fn code<E: ProvideErrorMetadata>(error: &SdkError<E>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// A one-line description: code, message and HTTP status for service errors, the cause chain
/// for transport errors (the SDK's own Display says only "dispatch failure").
fn describe<E>(error: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            format!(
                "{} (HTTP {}): {}",
                err.code().unwrap_or("unknown error"),
                service.raw().status().as_u16(),
                err.message().unwrap_or("no message")
            )
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            // The SDK lists every credential provider it tried, one per line; say it in one.
            if text.contains("no credentials found in chain") {
                return "no AWS credentials found (tried the environment, the profile, web identity, ECS and EC2 instance metadata): pass --profile naming a profile with credentials, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into();
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    }
}

#[async_trait::async_trait]
impl ImmutableStore for S3Store {
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
        upload::put(self, object, progress, None).await
    }

    async fn put_gated(
        &self,
        object: &PutObject<'_>,
        gate: &crate::store::WriteGate,
        progress: Progress<'_>,
    ) -> Result<StoredObject, StoreError> {
        upload::put(self, object, progress, Some(gate)).await
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        read::head(self, key, None).await
    }

    async fn head_untagged(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        // GetObjectTagging is a request of its own: skipped.
        let options = read::HeadOptions {
            read_tags: false,
            ..read::HeadOptions::FULL
        };
        read::head_known(self, key, None, options).await
    }

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

    /// A multipart object is proven by the part checksums S3 reports when `local` matches them
    /// (one local read, no download); otherwise it is downloaded (proof.rs).
    async fn content_sha256(
        &self,
        key: &str,
        version_id: Option<&str>,
        local: Option<&Path>,
    ) -> Result<String, StoreError> {
        proof::content_sha256(self, key, version_id, local).await
    }

    async fn delete(&self, key: &str, version_id: Option<&str>) -> Result<(), StoreError> {
        read::delete(self, key, version_id).await
    }

    async fn abort_incomplete_uploads(&self, prefix: &str) -> Result<usize, StoreError> {
        Ok(self.abort_dangling_uploads(prefix).await?.len())
    }

    async fn put_bytes(
        &self,
        object: &crate::store::PutBytes<'_>,
    ) -> Result<StoredObject, StoreError> {
        upload::put_bytes(self, object).await
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

/// A store on a loopback test server (`http://127.0.0.1:PORT`) with static keys.
#[cfg(test)]
pub(crate) async fn test_store(endpoint: &str) -> S3Store {
    let settings = S3Settings {
        endpoint_url: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        credentials: Some(S3Credentials {
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            session_token: None,
        }),
        ..S3Settings::default()
    };
    S3Store::connect_with(Target::parse("s3://bucket/p").unwrap(), settings)
        .await
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::{EndpointTransport, check_endpoint};

    #[test]
    fn plain_http_only_to_loopback() {
        for (ok, transport) in [
            (
                "https://s3.eu-west-1.amazonaws.com",
                EndpointTransport::Https,
            ),
            ("https://minio.internal:9000", EndpointTransport::Https),
            ("HTTPS://minio.internal:9000", EndpointTransport::Https),
            ("http://127.0.0.1:4566", EndpointTransport::LoopbackHttp),
            ("http://127.1.2.3:4566/", EndpointTransport::LoopbackHttp),
            ("http://localhost:4566", EndpointTransport::LoopbackHttp),
            ("HTTP://127.0.0.1:4566", EndpointTransport::LoopbackHttp),
            ("http://[::1]:4566", EndpointTransport::LoopbackHttp),
        ] {
            assert_eq!(check_endpoint(ok).unwrap(), transport, "{ok}");
        }
        for refused in [
            "http://10.0.0.5:4566",
            "http://s3.example.com",
            "http://localhost.example.com:4566",
            "http://127.0.0.1.nip.io",
            "ftp://127.0.0.1",
            "127.0.0.1:4566",
            "http://",
        ] {
            assert!(check_endpoint(refused).is_err(), "{refused}");
        }
    }
}
