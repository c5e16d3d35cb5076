//! Azure credentials for the blob backend: Shared Key request signing (the official
//! `azure_storage_blob` crate has none), SAS tokens, and Entra ID token credentials; and where each
//! is read from (environment only — never argv).
//!
//! Shared Key follows "Authorize with Shared Key" (Blob service, version 2015-02-21 and later):
//! `StringToSign = VERB \n Content-Encoding \n Content-Language \n Content-Length (empty when 0) \n
//! Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n If-Match \n If-None-Match \n
//! If-Unmodified-Since \n Range \n CanonicalizedHeaders CanonicalizedResource`, signed with
//! HMAC-SHA256 under the base64-decoded account key. The canonicalized resource is
//! `/<account><encoded URL path>` plus each query parameter as `\n<lowercase name>:<values,sorted>`;
//! for path-style emulator URLs the path already starts with the account, hence
//! `/devstoreaccount1/devstoreaccount1/<container>/<blob>`.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// The well-known Azurite development account key (public, published by Microsoft for the
/// emulator). Only tests use it, and only through `AZURE_STORAGE_KEY`.
pub const AZURITE_DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How requests to the blob service are authorised.
#[derive(Clone)]
pub enum AzureAuth {
    /// Shared Key: account name + base64 account key (emulators, or accounts that still allow it).
    SharedKey { account: String, key: SecretKey },
    /// A SAS token (query string without the leading `?`).
    Sas(SecretString),
    /// Entra ID token credentials (production). The crate requires https for these.
    Token(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for AzureAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AzureAuth::SharedKey { account, .. } => write!(f, "SharedKey({account}, key redacted)"),
            AzureAuth::Sas(_) => f.write_str("Sas(redacted)"),
            AzureAuth::Token(_) => f.write_str("Token(Entra ID)"),
        }
    }
}

impl AzureAuth {
    /// Short description for reports (never the secret).
    pub fn describe(&self) -> &'static str {
        match self {
            AzureAuth::SharedKey { .. } => "shared key",
            AzureAuth::Sas(_) => "SAS token",
            AzureAuth::Token(_) => "Entra ID token",
        }
    }
}

/// A base64 account key, decoded once; never printed.
#[derive(Clone)]
pub struct SecretKey(Arc<Vec<u8>>);

impl SecretKey {
    pub fn from_base64(value: &str) -> Result<SecretKey, AuthError> {
        B64.decode(value.trim())
            .map(|k| SecretKey(Arc::new(k)))
            .map_err(|_| AuthError::BadKey)
    }
}

/// A secret string (SAS token); never printed.
#[derive(Clone)]
pub struct SecretString(Arc<String>);

impl SecretString {
    pub fn new(value: String) -> SecretString {
        SecretString(Arc::new(value))
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "the Azure account key is not valid base64 (check AZURE_STORAGE_KEY or the AccountKey of AZURE_STORAGE_CONNECTION_STRING)"
    )]
    BadKey,
    #[error("AZURE_STORAGE_CONNECTION_STRING has neither AccountKey nor SharedAccessSignature")]
    ConnectionStringIncomplete,
    #[error(
        "AZURE_STORAGE_CONNECTION_STRING names account {found:?} but the target's account is {expected:?}"
    )]
    AccountMismatch { expected: String, found: String },
    #[error("could not create Entra ID credentials: {0}")]
    Identity(String),
    #[error(
        "refusing to send the managed identity header over plain HTTP to {endpoint} (from {variable}): http:// is allowed only to loopback (localhost, 127.0.0.0/8, ::1) or link-local (169.254.0.0/16) addresses, where App Service and Azure Functions serve it; use https:// or unset {variable}"
    )]
    InsecureIdentityEndpoint { variable: String, endpoint: String },
}

/// The variables naming a managed identity endpoint (App Service / Functions; Cloud Shell and
/// Azure ML's older spelling).
const MANAGED_IDENTITY_ENDPOINT_VARS: [&str; 2] = ["IDENTITY_ENDPOINT", "MSI_ENDPOINT"];

/// A managed identity endpoint: https, or plain http to loopback or link-local only.
fn check_managed_identity_endpoint(variable: &str, endpoint: &str) -> Result<(), AuthError> {
    let allowed = url::Url::parse(endpoint).is_ok_and(|url| {
        url.scheme() == "https"
            || (url.scheme() == "http"
                && url
                    .host()
                    .is_some_and(|h| crate::aws_endpoints::is_loopback_or_link_local_host(&h)))
    });
    if allowed {
        Ok(())
    } else {
        Err(AuthError::InsecureIdentityEndpoint {
            variable: variable.to_string(),
            endpoint: endpoint.to_string(),
        })
    }
}

/// Credentials from the environment, in this order (first match wins):
/// 1. `AZURE_STORAGE_CONNECTION_STRING` (its `AccountKey`, or its `SharedAccessSignature`);
/// 2. `AZURE_STORAGE_KEY` (Shared Key for the target's account);
/// 3. `AZURE_STORAGE_SAS_TOKEN`;
/// 4. Entra ID: a client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`),
///    workload identity (`AZURE_FEDERATED_TOKEN_FILE`), managed identity (`IDENTITY_ENDPOINT`, or
///    `WORMVAULT_AZURE_MANAGED_IDENTITY=1` on VMs), else the developer tools (Azure CLI, azd).
pub fn auth_from_env(account: &str) -> Result<AzureAuth, AuthError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(conn) = var("AZURE_STORAGE_CONNECTION_STRING") {
        return from_connection_string(&conn, account);
    }
    if let Some(key) = var("AZURE_STORAGE_KEY") {
        return Ok(AzureAuth::SharedKey {
            account: account.to_string(),
            key: SecretKey::from_base64(&key)?,
        });
    }
    if let Some(sas) = var("AZURE_STORAGE_SAS_TOKEN") {
        return Ok(AzureAuth::Sas(SecretString::new(
            sas.trim_start_matches('?').to_string(),
        )));
    }
    let identity = |e: azure_core::Error| AuthError::Identity(e.to_string());
    let credential: Arc<dyn TokenCredential> = if let (Some(tenant), Some(client), Some(secret)) = (
        var("AZURE_TENANT_ID"),
        var("AZURE_CLIENT_ID"),
        var("AZURE_CLIENT_SECRET"),
    ) {
        azure_identity::ClientSecretCredential::new(&tenant, client, secret.into(), None)
            .map_err(identity)?
    } else if var("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        azure_identity::WorkloadIdentityCredential::new(None).map_err(identity)?
    } else if var("IDENTITY_ENDPOINT").is_some()
        || var("WORMVAULT_AZURE_MANAGED_IDENTITY").as_deref() == Some("1")
    {
        // The managed identity endpoint gets the identity header (a secret) and answers with a
        // token: refused here, before the credential exists, if it is plain HTTP off this
        // machine and off the link-local range.
        for name in MANAGED_IDENTITY_ENDPOINT_VARS {
            if let Some(endpoint) = var(name) {
                check_managed_identity_endpoint(name, &endpoint)?;
            }
        }
        azure_identity::ManagedIdentityCredential::new(None).map_err(identity)?
    } else {
        azure_identity::DeveloperToolsCredential::new(None).map_err(identity)?
    };
    Ok(AzureAuth::Token(credential))
}

fn from_connection_string(conn: &str, account: &str) -> Result<AzureAuth, AuthError> {
    let mut name = None;
    let mut key = None;
    let mut sas = None;
    for part in conn.split(';') {
        if let Some((k, v)) = part.split_once('=') {
            match k.trim() {
                "AccountName" => name = Some(v.trim().to_string()),
                "AccountKey" => key = Some(v.trim().to_string()),
                "SharedAccessSignature" => sas = Some(v.trim().trim_start_matches('?').to_string()),
                _ => {}
            }
        }
    }
    if let Some(found) = &name
        && found != account
    {
        return Err(AuthError::AccountMismatch {
            expected: account.to_string(),
            found: found.clone(),
        });
    }
    if let Some(key) = key {
        return Ok(AzureAuth::SharedKey {
            account: account.to_string(),
            key: SecretKey::from_base64(&key)?,
        });
    }
    if let Some(sas) = sas {
        return Ok(AzureAuth::Sas(SecretString::new(sas)));
    }
    Err(AuthError::ConnectionStringIncomplete)
}

const SIGNED_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

/// The Shared Key string-to-sign for one request. `headers` are (name, value) pairs in any case;
/// `query_pairs` are decoded query parameters; `path` is the URL-encoded path.
pub fn string_to_sign(
    method: &str,
    account: &str,
    path: &str,
    query_pairs: &[(String, String)],
    headers: &[(String, String)],
) -> String {
    let lower: Vec<(String, &str)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    let get = |name: &str| {
        lower
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .unwrap_or("")
    };
    let mut out = method.to_ascii_uppercase();
    for name in SIGNED_HEADERS {
        out.push('\n');
        let value = get(name);
        if !(name == "content-length" && value == "0") {
            out.push_str(value);
        }
    }
    let mut ms: Vec<(String, String)> = lower
        .iter()
        .filter(|(k, _)| k.starts_with("x-ms-"))
        .map(|(k, v)| {
            (
                k.clone(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    ms.sort();
    for (k, v) in ms {
        out.push('\n');
        out.push_str(&k);
        out.push(':');
        out.push_str(&v);
    }
    out.push('\n');
    out.push('/');
    out.push_str(account);
    out.push_str(path);
    let mut params: std::collections::BTreeMap<String, Vec<&str>> =
        std::collections::BTreeMap::new();
    for (k, v) in query_pairs {
        params
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.as_str());
    }
    for (k, mut values) in params {
        values.sort_unstable();
        out.push('\n');
        out.push_str(&k);
        out.push(':');
        out.push_str(&values.join(","));
    }
    out
}

/// HMAC-SHA256 of the string-to-sign, base64.
pub fn sign(key: &SecretKey, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&key.0)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(string_to_sign.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// RFC 1123 date for `x-ms-date`.
pub fn rfc1123_now() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Per-try pipeline policy: stamps `x-ms-date` and signs with Shared Key. Added through
/// `ClientOptions::per_try_policies`, which run after every other header has been set and right
/// before the transport, so each retry is signed afresh.
#[derive(Clone)]
pub struct SharedKeyPolicy {
    pub account: String,
    pub key: SecretKey,
}

impl std::fmt::Debug for SharedKeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedKeyPolicy({})", self.account)
    }
}

#[async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        request.insert_header("x-ms-date", rfc1123_now());
        let mut headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
            .collect();
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        {
            // The transport derives Content-Length from the body; sign the same value.
            let len = request.body().len().unwrap_or(0);
            headers.push(("content-length".to_string(), len.to_string()));
        }
        let url = request.url();
        let query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let text = string_to_sign(
            request.method().as_ref(),
            &self.account,
            url.path(),
            &query,
            &headers,
        );
        let signature = sign(&self.key, &text);
        request.insert_header(
            "authorization",
            format!("SharedKey {}:{}", self.account, signature),
        );
        super::send_next(ctx, request, next).await
    }
}

/// Per-try policy appending a SAS token to every request URL.
#[derive(Clone)]
pub struct SasPolicy {
    pub token: SecretString,
}

impl std::fmt::Debug for SasPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SasPolicy(redacted)")
    }
}

#[async_trait]
impl Policy for SasPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let url = request.url_mut();
        let existing: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let sas: Vec<(String, String)> =
            url::form_urlencoded::parse(self.token.expose().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .filter(|(k, _)| !existing.iter().any(|(e, _)| e == k))
                .collect();
        if !sas.is_empty() {
            url.query_pairs_mut().extend_pairs(sas);
        }
        super::send_next(ctx, request, next).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same request as `SignatureVector` in azurite/standin/test_worm_standin.py; the
    /// expected value was computed with the official Python SDK's SharedKeyCredentialPolicy
    /// (azure-storage-blob 12.31.1).
    #[test]
    fn signature_matches_python_sdk_vector() {
        let headers: Vec<(String, String)> = [
            ("x-ms-version", "2021-10-04"),
            ("x-ms-date", "Sun, 22 Nov 2026 07:00:00 GMT"),
            (
                "x-ms-immutability-policy-until-date",
                "Fri, 20 Nov 2033 07:00:00 GMT",
            ),
            ("x-ms-immutability-policy-mode", "Locked"),
            ("Content-Length", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let query = vec![("comp".to_string(), "immutabilityPolicies".to_string())];
        let text = string_to_sign(
            "PUT",
            "devstoreaccount1",
            "/devstoreaccount1/evidence/s1/a%20b.json",
            &query,
            &headers,
        );
        assert!(text.ends_with(
            "\n/devstoreaccount1/devstoreaccount1/evidence/s1/a%20b.json\ncomp:immutabilityPolicies"
        ));
        assert!(
            text.starts_with("PUT\n\n\n\n"),
            "empty Content-Length for 0: {text:?}"
        );
        let key = SecretKey::from_base64(AZURITE_DEV_KEY).unwrap();
        assert_eq!(
            sign(&key, &text),
            "UIgixVK/9dJExTBaYil2Kh1GmwavzHDFtMHumF4UVFk="
        );
        // Any change to a signed part changes the signature.
        let other = string_to_sign(
            "PUT",
            "devstoreaccount1",
            "/devstoreaccount1/evidence/s1/a%20c.json",
            &query,
            &headers,
        );
        assert_ne!(
            sign(&key, &other),
            "UIgixVK/9dJExTBaYil2Kh1GmwavzHDFtMHumF4UVFk="
        );
    }

    #[test]
    fn connection_string_parsing() {
        let conn = format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_DEV_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
        );
        assert!(matches!(
            from_connection_string(&conn, "devstoreaccount1"),
            Ok(AzureAuth::SharedKey { .. })
        ));
        assert!(matches!(
            from_connection_string(&conn, "other"),
            Err(AuthError::AccountMismatch { .. })
        ));
        assert!(matches!(
            from_connection_string("AccountName=a;SharedAccessSignature=?sv=1&sig=x", "a"),
            Ok(AzureAuth::Sas(_))
        ));
        assert!(matches!(
            from_connection_string("AccountName=a", "a"),
            Err(AuthError::ConnectionStringIncomplete)
        ));
        assert!(matches!(
            from_connection_string("AccountName=a;AccountKey=!!!", "a"),
            Err(AuthError::BadKey)
        ));
        // Secrets never show in Debug output.
        let auth = from_connection_string(&conn, "devstoreaccount1").unwrap();
        assert!(!format!("{auth:?}").contains("Eby8"));
    }
}

#[cfg(test)]
mod managed_identity_endpoint_tests {
    use super::*;

    #[test]
    fn managed_identity_endpoint_plain_http_only_to_loopback_or_link_local() {
        for ok in [
            "http://localhost:8081/msi/token",
            "http://127.0.0.1:41741/MSI/token/",
            "http://169.254.255.2:8081/msi/token",
            "http://[::1]:8081/msi/token",
            "https://identity.example/token",
        ] {
            assert!(
                check_managed_identity_endpoint("IDENTITY_ENDPOINT", ok).is_ok(),
                "{ok}"
            );
        }
        for no in [
            "http://192.0.2.1:8081/msi/token",
            "http://10.0.0.4/msi/token",
            "http://localhost.evil.example/token",
            "not a url",
            "ftp://127.0.0.1/token",
        ] {
            let error = check_managed_identity_endpoint("MSI_ENDPOINT", no).unwrap_err();
            assert!(error.to_string().contains("MSI_ENDPOINT"), "{error}");
        }
    }
}
