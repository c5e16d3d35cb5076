//! Ed25519 signing keys that never leave a KMS (issue #17 item 5), behind one small signing
//! abstraction, [`Ed25519Sign`], that the file key ([`KeyPair`], a bare `SigningKey`) and the AWS
//! KMS key ([`KmsKey`]) both implement. Audit records, checkpoints and receipts are signed
//! through it, so a CI runner can sign with `--signing-key awskms:ARN` and hold no private key.
//!
//! AWS KMS facts used (KMS API reference, `Sign` and `GetPublicKey`): an Ed25519 key has KeySpec
//! `ECC_NIST_EDWARDS25519` and KeyUsage `SIGN_VERIFY`; `Sign` with SigningAlgorithm
//! `ED25519_SHA_512` and MessageType `RAW` is plain (pure) Ed25519 over the message, so the
//! 64-byte signature is exactly CAVRA's Ed25519 form; `RAW` messages are at most 4096 bytes
//! (pre-hashed `ED25519_PH_SHA_512` would not verify as plain Ed25519, so a longer message is
//! refused, never hashed); `GetPublicKey` returns the SPKI DER public key.
//!
//! The SDK is async and the signers are called from sync code (and from inside async code, e.g.
//! the archive pipeline). A [`KmsKey`] owns one thread with its own current-thread runtime; a
//! signature is a request over a channel and a blocking wait for the answer, so no runtime is
//! ever nested and the caller's runtime is not required.

use std::sync::mpsc;
use std::time::Duration;

use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, SigningKey, Verifier as _, VerifyingKey};

use super::{KeyPair, PublicKey};

/// The `--signing-key` spelling of a KMS key: `awskms:<key ARN, key id or alias ARN>`.
pub const AWSKMS_SCHEME: &str = "awskms:";
/// Environment variable naming a KMS endpoint (emulators); `--kms-endpoint` overrides it.
pub const KMS_ENDPOINT_VAR: &str = "WORMVAULT_KMS_ENDPOINT";
/// Largest message KMS signs with MessageType RAW (KMS API reference, `Sign`).
pub const KMS_MAX_RAW_MESSAGE: usize = 4096;
/// Largest SPKI DER public key accepted from GetPublicKey (an Ed25519 SPKI is 44 bytes).
const MAX_SPKI_DER: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(
        "KMS key {key} has key spec {found}; wormvault signs with Ed25519 only (KeySpec ECC_NIST_EDWARDS25519, signing algorithm ED25519_SHA_512). Create the key with --key-spec ECC_NIST_EDWARDS25519 --key-usage SIGN_VERIFY"
    )]
    WrongKeySpec { key: String, found: String },
    #[error("KMS key {key} has key usage {found}, not SIGN_VERIFY; it cannot sign")]
    WrongKeyUsage { key: String, found: String },
    #[error("KMS key {key}: {operation} failed: {message}")]
    Kms {
        key: String,
        operation: &'static str,
        message: String,
    },
    #[error("KMS key {key}: {problem}")]
    Invalid { key: String, problem: String },
    #[error(
        "the message to sign is {len} bytes; KMS signs at most {KMS_MAX_RAW_MESSAGE} bytes as plain Ed25519 (a pre-hashed signature would not be CAVRA's Ed25519 form). Shorten the record's metadata or sign with a key file"
    )]
    MessageTooLong { len: usize },
    /// An endpoint the KMS client or its credentials chain would use was refused (plain HTTP
    /// off loopback, or not a URL), before any request; the message names the setting.
    #[error("KMS: {0}")]
    InsecureEndpoint(#[from] crate::aws_endpoints::EndpointRefused),
    #[error("invalid KMS key name {0:?}: expected awskms:<key ARN, key id or alias>")]
    BadName(String),
    #[error("the KMS signing thread stopped: {0}")]
    Worker(String),
}

/// Something that makes plain Ed25519 signatures: a key file in memory, or a key in a KMS.
pub trait Ed25519Sign: Send + Sync {
    /// The public half (pinned by fingerprint in a trust root).
    fn public_key(&self) -> PublicKey;
    /// The 64-byte Ed25519 signature of `message`.
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError>;
    /// Base64 of [`Ed25519Sign::sign`] (CAVRA's signature `value`).
    fn sign_b64(&self, message: &[u8]) -> Result<String, SignError> {
        use base64::Engine as _;
        Ok(base64::engine::general_purpose::STANDARD.encode(self.sign(message)?))
    }
}

impl Ed25519Sign for SigningKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying_key(self.verifying_key())
    }
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        Ok(ed25519_dalek::Signer::sign(self, message).to_bytes())
    }
}

impl Ed25519Sign for KeyPair {
    fn public_key(&self) -> PublicKey {
        self.public()
    }
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        Ed25519Sign::sign(self.signing_key(), message)
    }
}

/// Where the KMS is: AWS's regional endpoint (from the standard chain), or an override.
#[derive(Clone, Default)]
pub struct KmsSettings {
    /// `--kms-endpoint` / `WORMVAULT_KMS_ENDPOINT`; plain `http://` only to loopback.
    pub endpoint: Option<String>,
    /// Region override (library callers and emulators); otherwise the AWS chain.
    pub region: Option<String>,
    /// Static access key id and secret (library callers and emulators); otherwise the AWS
    /// chain (env, profiles, SSO, web identity, instance roles). Never printed.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for KmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsSettings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials.as_ref().map(|c| &c.0))
            .finish()
    }
}

/// How the explicit KMS endpoint is named in messages.
const EXPLICIT_ENDPOINT_SETTING: &str = "--kms-endpoint / WORMVAULT_KMS_ENDPOINT";

/// Refuse an endpoint that would carry credentials in clear text off this machine (the one
/// check every AWS endpoint goes through, [`crate::aws_endpoints::check_endpoint`]).
pub fn check_endpoint(endpoint: &str) -> Result<(), SignError> {
    crate::aws_endpoints::check_endpoint(endpoint, EXPLICIT_ENDPOINT_SETTING)?;
    Ok(())
}

/// Check, before any client or credentials provider is built, every endpoint the KMS client
/// would send credentials to: the KMS endpoint as the SDK resolves it (the explicit setting,
/// then AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, the profile's `services` section or
/// `endpoint_url`) and, when the default credentials chain will be used, its STS, SSO, IMDS and
/// container endpoints. Returns the KMS endpoint to set on the client, if any.
async fn checked_endpoint(settings: &KmsSettings) -> Result<Option<String>, SignError> {
    let sources = crate::aws_endpoints::AwsConfigSources::load(None).await;
    let explicit = settings.endpoint.as_ref().map(|endpoint| {
        crate::aws_endpoints::NamedEndpoint::new(endpoint.clone(), EXPLICIT_ENDPOINT_SETTING)
    });
    let endpoint = sources.check_service("KMS", explicit)?;
    if uses_credential_chain(settings) {
        sources.check_credential_chain()?;
    }
    Ok(endpoint.map(|(endpoint, _)| endpoint))
}

/// Whether the SDK's default credentials chain (which may call STS, SSO, IMDS or a container
/// endpoint) will be used: not with explicit keys, nor with static keys in the environment
/// (taken directly, with no request).
fn uses_credential_chain(settings: &KmsSettings) -> bool {
    settings.credentials.is_none() && !crate::aws_endpoints::static_keys_in_environment()
}

/// The key named by `awskms:<id>`, or `None` when `spec` is not a KMS name.
pub fn kms_key_name(spec: &str) -> Option<Result<String, SignError>> {
    let id = spec.strip_prefix(AWSKMS_SCHEME)?;
    Some(if id.is_empty() || id.chars().any(char::is_whitespace) {
        Err(SignError::BadName(spec.to_string()))
    } else {
        Ok(id.to_string())
    })
}

type Reply = mpsc::Sender<Result<[u8; 64], SignError>>;

/// An Ed25519 key held by AWS KMS. Connecting reads and checks its public key; signing asks KMS
/// and checks the answer against that public key before returning it.
pub struct KmsKey {
    key_id: String,
    public: PublicKey,
    requests: std::sync::Mutex<mpsc::Sender<(Vec<u8>, Reply)>>,
}

impl std::fmt::Debug for KmsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKey")
            .field("key_id", &self.key_id)
            .field("fingerprint", &self.public.fingerprint())
            .finish()
    }
}

impl KmsKey {
    /// Connect to KMS, read the key's public key and refuse any key that is not an Ed25519
    /// signing key. Works from sync and async callers alike (the SDK runs on the key's thread).
    pub fn connect(key_id: &str, settings: &KmsSettings) -> Result<KmsKey, SignError> {
        if let Some(endpoint) = &settings.endpoint {
            check_endpoint(endpoint)?;
        }
        let (requests, inbox) = mpsc::channel::<(Vec<u8>, Reply)>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<PublicKey, SignError>>();
        let (id, settings) = (key_id.to_string(), settings.clone());
        std::thread::Builder::new()
            .name("wormvault-kms".into())
            .spawn(move || worker(id, settings, inbox, ready_tx))
            .map_err(|e| SignError::Worker(e.to_string()))?;
        let public = ready_rx
            .recv()
            .map_err(|_| SignError::Worker("it exited before connecting".into()))??;
        Ok(KmsKey {
            key_id: key_id.to_string(),
            public,
            requests: std::sync::Mutex::new(requests),
        })
    }

    /// The KMS key id or ARN as given.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl Ed25519Sign for KmsKey {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        if message.len() > KMS_MAX_RAW_MESSAGE {
            return Err(SignError::MessageTooLong { len: message.len() });
        }
        let (reply, answer) = mpsc::channel();
        self.requests
            .lock()
            .map_err(|_| SignError::Worker("a signer panicked".into()))?
            .send((message.to_vec(), reply))
            .map_err(|_| SignError::Worker("it has exited".into()))?;
        let signature = answer
            .recv()
            .map_err(|_| SignError::Worker("it exited while signing".into()))??;
        // A signature that does not verify under the key's public key is never passed on: it
        // would be written into a record that then fails every verifier.
        let verifying = self.public.verifying_key();
        verifying
            .verify(message, &Signature::from_bytes(&signature))
            .map_err(|_| SignError::Invalid {
                key: self.key_id.clone(),
                problem: "KMS returned a signature that does not verify under the key's public key"
                    .into(),
            })?;
        Ok(signature)
    }
}

/// The KMS thread: connect, answer GetPublicKey once, then one Sign per request until every
/// sender is gone.
fn worker(
    key_id: String,
    settings: KmsSettings,
    inbox: mpsc::Receiver<(Vec<u8>, Reply)>,
    ready: mpsc::Sender<Result<PublicKey, SignError>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(SignError::Worker(e.to_string())));
            return;
        }
    };
    let client = runtime.block_on(async {
        // Refused here, before the client or any credentials provider exists: no request.
        let endpoint = checked_endpoint(&settings).await?;
        // A KMS that accepts the connection and never answers must not hang a release
        // pipeline: every attempt and the whole call (retries included) are bounded.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(90))
            .build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .timeout_config(timeouts);
        if let Some(endpoint) = &endpoint {
            // The endpoint just checked, set explicitly so the client uses exactly it.
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some((id, secret)) = &settings.credentials {
            loader = loader.credentials_provider(aws_sdk_kms::config::Credentials::new(
                id.clone(),
                secret.clone(),
                None,
                None,
                "wormvault-kms-settings",
            ));
        } else if !uses_credential_chain(&settings) {
            // Static keys in the environment: the chain's first source, taken directly.
            loader = loader.credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            );
        }
        Ok::<_, SignError>(aws_sdk_kms::Client::new(&loader.load().await))
    });
    let client = match client {
        Ok(client) => client,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let public = runtime.block_on(public_key(&client, &key_id));
    let ok = public.is_ok();
    if ready.send(public).is_err() || !ok {
        return;
    }
    while let Ok((message, reply)) = inbox.recv() {
        let result = runtime.block_on(sign(&client, &key_id, message));
        let _ = reply.send(result);
    }
}

fn kms_error<E: std::error::Error>(key: &str, operation: &'static str, error: E) -> SignError {
    // DisplayErrorContext walks the source chain (the service's message, or the HTTP cause).
    SignError::Kms {
        key: key.to_string(),
        operation,
        message: aws_smithy_types::error::display::DisplayErrorContext(error).to_string(),
    }
}

async fn public_key(client: &aws_sdk_kms::Client, key_id: &str) -> Result<PublicKey, SignError> {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let out = client
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| kms_error(key_id, "GetPublicKey", e))?;
    match out.key_spec() {
        Some(KeySpec::EccNistEdwards25519) => {}
        other => {
            return Err(SignError::WrongKeySpec {
                key: key_id.to_string(),
                found: other.map_or("(none reported)".into(), |s| s.as_str().to_string()),
            });
        }
    }
    match out.key_usage() {
        Some(KeyUsageType::SignVerify) => {}
        other => {
            return Err(SignError::WrongKeyUsage {
                key: key_id.to_string(),
                found: other.map_or("(none reported)".into(), |s| s.as_str().to_string()),
            });
        }
    }
    let der = out.public_key().map(|b| b.as_ref()).unwrap_or_default();
    if der.is_empty() || der.len() > MAX_SPKI_DER {
        return Err(SignError::Invalid {
            key: key_id.to_string(),
            problem: format!("GetPublicKey returned {} bytes of public key", der.len()),
        });
    }
    let verifying = VerifyingKey::from_public_key_der(der).map_err(|e| SignError::Invalid {
        key: key_id.to_string(),
        problem: format!("the public key is not an SPKI Ed25519 key: {e}"),
    })?;
    Ok(PublicKey::from_verifying_key(verifying))
}

async fn sign(
    client: &aws_sdk_kms::Client,
    key_id: &str,
    message: Vec<u8>,
) -> Result<[u8; 64], SignError> {
    use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
    let out = client
        .sign()
        .key_id(key_id)
        .message(aws_sdk_kms::primitives::Blob::new(message))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::Ed25519Sha512)
        .send()
        .await
        .map_err(|e| kms_error(key_id, "Sign", e))?;
    let bytes = out.signature().map(|b| b.as_ref()).unwrap_or_default();
    bytes.try_into().map_err(|_| SignError::Invalid {
        key: key_id.to_string(),
        problem: format!(
            "Sign returned {} bytes; an Ed25519 signature is 64",
            bytes.len()
        ),
    })
}

/// A signing key named on the command line: a PKCS#8 PEM file (mode 0600), or `awskms:ARN`.
#[derive(Debug)]
pub enum SigningKeySource {
    File(Box<KeyPair>),
    Kms(std::sync::Arc<KmsKey>),
}

impl SigningKeySource {
    /// Load `spec`: `awskms:<id>` connects to KMS (checking the key is Ed25519), anything else
    /// is a private key file read as [`super::load_private_key`] reads it.
    pub fn load(spec: &std::path::Path, settings: &KmsSettings) -> Result<Self, super::TrustError> {
        if let Some(name) = spec.to_str().and_then(kms_key_name) {
            let key = KmsKey::connect(&name?, settings)?;
            return Ok(SigningKeySource::Kms(std::sync::Arc::new(key)));
        }
        Ok(SigningKeySource::File(Box::new(super::load_private_key(
            spec,
        )?)))
    }

    /// The public key (what a trust root pins by fingerprint).
    pub fn public(&self) -> PublicKey {
        self.public_key()
    }

    /// The key file's pair, when this is one (callers that need raw key bytes, e.g. hold).
    pub fn key_pair(&self) -> Option<&KeyPair> {
        match self {
            SigningKeySource::File(pair) => Some(pair),
            SigningKeySource::Kms(_) => None,
        }
    }
}

impl Ed25519Sign for SigningKeySource {
    fn public_key(&self) -> PublicKey {
        match self {
            SigningKeySource::File(pair) => pair.public(),
            SigningKeySource::Kms(key) => key.public_key(),
        }
    }
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        match self {
            SigningKeySource::File(pair) => Ed25519Sign::sign(pair.as_ref(), message),
            SigningKeySource::Kms(key) => key.sign(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_in_clear_text_only_to_loopback() {
        for ok in [
            "https://kms.us-east-1.amazonaws.com",
            "http://127.0.0.1:4566",
            "http://localhost:4566",
            "http://[::1]:9000",
        ] {
            assert!(check_endpoint(ok).is_ok(), "{ok}");
        }
        for no in [
            "http://kms.example.com",
            "http://10.0.0.1:4566",
            "http://127.0.0.1.evil.com",
            "ftp://127.0.0.1",
        ] {
            assert!(
                matches!(check_endpoint(no), Err(SignError::InsecureEndpoint(_))),
                "{no}"
            );
        }
    }

    #[test]
    fn kms_names() {
        assert_eq!(
            kms_key_name("awskms:arn:aws:kms:us-east-1:1:key/abc")
                .unwrap()
                .unwrap(),
            "arn:aws:kms:us-east-1:1:key/abc"
        );
        assert!(kms_key_name("keys/audit.pem").is_none());
        assert!(kms_key_name("awskms:").unwrap().is_err());
    }

    #[test]
    fn file_keys_sign_through_the_trait() {
        let pair = KeyPair::generate().unwrap();
        let message = b"body\n";
        let signature = Ed25519Sign::sign(&pair, message).unwrap();
        pair.public()
            .verifying_key()
            .verify(message, &Signature::from_bytes(&signature))
            .unwrap();
        assert_eq!(Ed25519Sign::public_key(pair.signing_key()), pair.public());
    }
}
