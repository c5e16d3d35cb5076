//! Where AWS credentials are sent, checked before any AWS client or credentials provider is
//! built. The project's rule: credentials go only to endpoints the user named, and never over
//! plain HTTP except to an explicit loopback emulator.
//!
//! Every AWS client wormvault builds (S3, KMS) and every client the SDK's default credentials
//! chain builds on its own (STS for web identity and assume-role profiles, SSO and SSO OIDC for
//! SSO profiles) takes its endpoint from the same places, resolved by the SDK as
//! [`AwsConfigSources::service_endpoint`] resolves it here, with the SDK's own lookup
//! (`aws_runtime::env_config::EnvConfigValue`):
//!
//! 1. an explicit setting (`--endpoint-url`, `--kms-endpoint`, `WORMVAULT_KMS_ENDPOINT`);
//! 2. `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_S3`, `_KMS`, `_STS`, `_SSO`, `_SSO_OIDC`);
//! 3. `AWS_ENDPOINT_URL`;
//! 4. the profile's `services` section (`<service> = \n endpoint_url = ...`);
//! 5. the profile's `endpoint_url`.
//!
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (or the profile's `ignore_configured_endpoint_urls`)
//! turns 2-5 off for the clients built from the loaded configuration (S3, KMS), but NOT for the
//! credentials chain's own STS/SSO clients: aws-config builds those from a configuration that
//! always honours 2-5 (`ProviderConfig::client_config`, aws-config 1.13), so they are checked
//! whatever the flag says.
//!
//! The chain's other network sources:
//! - the container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, with
//!   `AWS_CONTAINER_AUTHORIZATION_TOKEN`): aws-config itself refuses a plain `http://` one whose
//!   address is not loopback or the ECS/EKS agent's (169.254.170.2, 169.254.170.23,
//!   fd00:ec2::23), resolving a host name and requiring every address to be allowed. The same
//!   rule is applied here to literal addresses so the refusal is a configuration error naming
//!   the variable; a host name other than `localhost` is left to the SDK's DNS check.
//! - the instance metadata service (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, profile
//!   `ec2_metadata_service_endpoint`): IMDS is plain HTTP on a link-local address by design,
//!   and answers with credentials, so a plain `http://` override is accepted only to a
//!   loopback address (tests), the link-local ranges (169.254.0.0/16, fe80::/10) or the IPv6
//!   IMDS address fd00:ec2::254. Anything else would carry credentials in clear text across a
//!   network.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aws_config::profile::ProfileSet;
use aws_runtime::env_config::EnvConfigValue;
use aws_runtime::env_config::file::EnvConfigFiles as ProfileFiles;
use aws_types::origin::Origin;
use aws_types::os_shim_internal::{Env, Fs};

/// The AWS service ids (as the SDK spells them) whose clients the default credentials chain
/// builds itself: STS (web identity, assume-role profiles), SSO and SSO OIDC (SSO profiles).
pub const CREDENTIAL_CHAIN_SERVICES: [&str; 3] = ["STS", "SSO", "SSO OIDC"];

/// How an endpoint that [`check_endpoint`] accepted is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointTransport {
    /// `https://`: TLS with the platform's trust roots.
    Https,
    /// `http://` to a loopback host: an emulator on this machine, no TLS.
    LoopbackHttp,
}

/// An endpoint refused before any request: the message names the endpoint, the setting it came
/// from and what to do. It holds no credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EndpointRefused(pub String);

/// An endpoint and the setting that named it (`--endpoint-url`, `AWS_ENDPOINT_URL_KMS`,
/// "profile `ci` services section `sts` endpoint_url", ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedEndpoint {
    pub endpoint: String,
    pub setting: String,
}

impl NamedEndpoint {
    pub fn new(endpoint: impl Into<String>, setting: impl Into<String>) -> Self {
        NamedEndpoint {
            endpoint: endpoint.into(),
            setting: setting.into(),
        }
    }
}

/// Refuse an endpoint that would carry signed requests or credentials in clear text over a
/// network: `http://` is allowed only to a loopback host (127.0.0.0/8, ::1, `localhost`: an
/// emulator on this machine); anything but `http(s)://host` is refused. `setting` names where
/// the endpoint came from, for the message.
pub fn check_endpoint(endpoint: &str, setting: &str) -> Result<EndpointTransport, EndpointRefused> {
    let parsed = url::Url::parse(endpoint).map_err(|e| {
        EndpointRefused(format!(
            "AWS endpoint {endpoint:?} (from {setting}) is not a URL ({e}); give it as https://host[:port] or unset {setting}"
        ))
    })?;
    let host = parsed.host().ok_or_else(|| {
        EndpointRefused(format!(
            "AWS endpoint {endpoint:?} (from {setting}) has no host; give it as https://host[:port] or unset {setting}"
        ))
    })?;
    match parsed.scheme() {
        "https" => Ok(EndpointTransport::Https),
        "http" if is_loopback_host(&host) => Ok(EndpointTransport::LoopbackHttp),
        "http" => Err(EndpointRefused(format!(
            "refusing to send AWS credentials over plain HTTP to {endpoint} (from {setting}): only a loopback emulator (127.0.0.0/8, ::1, localhost) may use http://; use https:// or unset {setting}"
        ))),
        other => Err(EndpointRefused(format!(
            "AWS endpoint {endpoint:?} (from {setting}) uses {other}://; only https:// (or http:// to a loopback emulator) is supported"
        ))),
    }
}

/// Is the host a loopback address (127.0.0.0/8, ::1) or `localhost`?
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Is the host loopback (see [`is_loopback_host`]) or link-local (169.254.0.0/16, fe80::/10)?
/// Where instance-local credential services answer over plain HTTP by design (EC2's instance
/// metadata, App Service's managed identity endpoint).
pub fn is_loopback_or_link_local_host(host: &url::Host<&str>) -> bool {
    is_loopback_host(host)
        || match host {
            url::Host::Ipv4(ip) => ip.is_link_local(),
            url::Host::Ipv6(ip) => ip.is_unicast_link_local(),
            url::Host::Domain(_) => false,
        }
}

/// The places an AWS client's configuration comes from: the environment and the shared config
/// and credentials files, with the selected profile.
pub struct AwsConfigSources {
    env: Env,
    profiles: ProfileSet,
}

impl AwsConfigSources {
    /// The process environment and the profile files the SDK would read (`AWS_CONFIG_FILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE`, `~/.aws`), with `profile` (`--profile`) or `AWS_PROFILE`
    /// selected. Unreadable or unparsable files count as empty, as the SDK counts them.
    pub async fn load(profile: Option<&str>) -> Self {
        Self::load_from(Env::real(), Fs::real(), &ProfileFiles::default(), profile).await
    }

    /// As [`AwsConfigSources::load`], from a given environment, file system and profile files
    /// (tests).
    pub async fn load_from(env: Env, fs: Fs, files: &ProfileFiles, profile: Option<&str>) -> Self {
        let profiles =
            aws_config::profile::load(&fs, &env, files, profile.map(|p| Cow::Owned(p.to_string())))
                .await
                .unwrap_or_default();
        AwsConfigSources { env, profiles }
    }

    fn var(&self, name: &str) -> Option<String> {
        self.env.get(name).ok()
    }

    /// Whether `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (or the profile's
    /// `ignore_configured_endpoint_urls`) is `true`, as aws-config reads it.
    pub fn ignores_configured_endpoints(&self) -> bool {
        EnvConfigValue::new()
            .env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .profile("ignore_configured_endpoint_urls")
            .load(&self.env, Some(&self.profiles))
            .is_some_and(|(value, _)| value.trim().eq_ignore_ascii_case("true"))
    }

    /// The endpoint a client for `service_id` ("S3", "KMS", "STS", "SSO", "SSO OIDC") takes from
    /// the environment and profile, and the setting that names it; `None`: AWS's own endpoint.
    /// `honour_ignore_flag`: whether `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` applies to this
    /// client (it does to clients built from the loaded configuration, not to the credentials
    /// chain's own).
    pub fn service_endpoint(
        &self,
        service_id: &str,
        honour_ignore_flag: bool,
    ) -> Option<NamedEndpoint> {
        if honour_ignore_flag && self.ignores_configured_endpoints() {
            return None;
        }
        let (value, source) = EnvConfigValue::new()
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .service_id(service_id)
            .load(&self.env, Some(&self.profiles))?;
        let origin: Origin = (&source).into();
        let profile = self.profiles.selected_profile();
        let setting = if origin == Origin::service_environment_variable() {
            format!(
                "AWS_ENDPOINT_URL_{}",
                service_id.to_uppercase().replace(' ', "_")
            )
        } else if origin == Origin::shared_environment_variable() {
            "AWS_ENDPOINT_URL".to_string()
        } else if origin == Origin::service_profile_file() {
            format!(
                "the endpoint_url under `{}` in the services section of AWS profile `{profile}`",
                service_id.to_lowercase().replace(' ', "-")
            )
        } else {
            format!("endpoint_url in AWS profile `{profile}`")
        };
        Some(NamedEndpoint::new(value.into_owned(), setting))
    }

    /// Check the endpoint a client for `service_id` will use: `explicit` when given (it wins,
    /// as a programmatic endpoint does in the SDK), else the environment's and profile's.
    /// Returns the endpoint to set on the client, if any, and how it is reached.
    pub fn check_service(
        &self,
        service_id: &str,
        explicit: Option<NamedEndpoint>,
    ) -> Result<Option<(String, EndpointTransport)>, EndpointRefused> {
        let Some(named) = explicit.or_else(|| self.service_endpoint(service_id, true)) else {
            return Ok(None);
        };
        let transport = check_endpoint(&named.endpoint, &named.setting)?;
        Ok(Some((
            named.endpoint.trim_end_matches('/').to_string(),
            transport,
        )))
    }

    /// Check every endpoint the SDK's default credentials chain may send credentials or
    /// tokens to, or fetch credentials from: STS, SSO and SSO OIDC (same rule as
    /// [`check_endpoint`]), the container credentials endpoint and the instance metadata
    /// endpoint (see the module documentation). Call it before building the chain.
    pub fn check_credential_chain(&self) -> Result<(), EndpointRefused> {
        for service_id in CREDENTIAL_CHAIN_SERVICES {
            if let Some(named) = self.service_endpoint(service_id, false) {
                check_endpoint(&named.endpoint, &named.setting).map_err(|refused| {
                    EndpointRefused(format!(
                        "{refused} (the AWS credentials chain would send credentials or tokens to {service_id} there)"
                    ))
                })?;
            }
        }
        if let Some(uri) = self.var("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            check_container_uri(&uri)?;
        }
        if let Some((value, source)) = EnvConfigValue::new()
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .profile("ec2_metadata_service_endpoint")
            .load(&self.env, Some(&self.profiles))
        {
            let origin: Origin = (&source).into();
            let setting = if origin == Origin::shared_environment_variable() {
                "AWS_EC2_METADATA_SERVICE_ENDPOINT".to_string()
            } else {
                format!(
                    "ec2_metadata_service_endpoint in AWS profile `{}`",
                    self.profiles.selected_profile()
                )
            };
            check_imds_endpoint(&value, &setting)?;
        }
        Ok(())
    }
}

/// The ECS and EKS container credential agents' addresses, allowed over plain HTTP by aws-config.
const CONTAINER_AGENTS: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x23)),
];

/// The IPv6 instance metadata address (Nitro instances).
const IMDS_IPV6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254);

fn host_ip(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        url::Host::Domain(_) => None,
    }
}

/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`: https, or http to loopback or the ECS/EKS agent (the
/// SDK's own rule; host names other than `localhost` are left to the SDK's DNS check).
fn check_container_uri(uri: &str) -> Result<(), EndpointRefused> {
    const SETTING: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    let parsed = url::Url::parse(uri).map_err(|e| {
        EndpointRefused(format!(
            "{SETTING} {uri:?} is not a URL ({e}); fix or unset {SETTING}"
        ))
    })?;
    let Some(host) = parsed.host() else {
        return Err(EndpointRefused(format!(
            "{SETTING} {uri:?} has no host; fix or unset {SETTING}"
        )));
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => match host_ip(&host) {
            Some(ip) if ip.is_loopback() || CONTAINER_AGENTS.contains(&ip) => Ok(()),
            None => Ok(()),
            Some(_) => Err(EndpointRefused(format!(
                "refusing to fetch AWS credentials over plain HTTP from {uri} (from {SETTING}): http:// is allowed only to loopback or the ECS/EKS credential agent (169.254.170.2, 169.254.170.23, fd00:ec2::23); use https:// or unset {SETTING}"
            ))),
        },
        other => Err(EndpointRefused(format!(
            "{SETTING} {uri:?} uses {other}://; only https:// (or http:// to loopback or the ECS/EKS agent) is supported"
        ))),
    }
}

/// The instance metadata endpoint: https, or http to loopback, link-local (169.254.0.0/16,
/// fe80::/10) or fd00:ec2::254.
fn check_imds_endpoint(endpoint: &str, setting: &str) -> Result<(), EndpointRefused> {
    let parsed = url::Url::parse(endpoint).map_err(|e| {
        EndpointRefused(format!(
            "instance metadata endpoint {endpoint:?} (from {setting}) is not a URL ({e}); fix or unset {setting}"
        ))
    })?;
    let Some(host) = parsed.host() else {
        return Err(EndpointRefused(format!(
            "instance metadata endpoint {endpoint:?} (from {setting}) has no host; fix or unset {setting}"
        )));
    };
    let allowed_plain = is_loopback_or_link_local_host(&host)
        || matches!(host, url::Host::Ipv6(ip) if ip == IMDS_IPV6);
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if allowed_plain => Ok(()),
        _ => Err(EndpointRefused(format!(
            "refusing to fetch AWS credentials over plain HTTP from the instance metadata endpoint {endpoint} (from {setting}): http:// is allowed only to a link-local (169.254.0.0/16, fe80::/10), fd00:ec2::254 or loopback address; unset {setting}"
        ))),
    }
}

/// Whether the environment holds static AWS keys (`AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`, both non-empty): the first source the SDK's default credentials
/// chain takes, with no request.
pub fn static_keys_in_environment() -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sources(vars: &[(&str, &str)], config: &str, profile: Option<&str>) -> AwsConfigSources {
        let mut vars = vars.to_vec();
        vars.push(("AWS_CONFIG_FILE", "/wv-test/config"));
        vars.push(("AWS_SHARED_CREDENTIALS_FILE", "/wv-test/credentials"));
        let env = Env::from_slice(&vars);
        let fs = Fs::from_map(HashMap::from([(
            "/wv-test/config".to_string(),
            config.as_bytes().to_vec(),
        )]));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(AwsConfigSources::load_from(
                env,
                fs,
                &ProfileFiles::default(),
                profile,
            ))
    }

    const PLAIN: &str = "http://192.0.2.1:4566";
    const LOOP: &str = "http://127.0.0.1:4566";
    const TLS: &str = "https://aws.example.com";

    #[test]
    fn loopback_endpoint_check_table() {
        for (endpoint, transport) in [
            (TLS, EndpointTransport::Https),
            (LOOP, EndpointTransport::LoopbackHttp),
            ("http://localhost:9000", EndpointTransport::LoopbackHttp),
            ("http://[::1]:9000", EndpointTransport::LoopbackHttp),
        ] {
            assert_eq!(
                check_endpoint(endpoint, "X").unwrap(),
                transport,
                "{endpoint}"
            );
        }
        for refused in [
            PLAIN,
            "http://10.0.0.1",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example",
            "ftp://127.0.0.1",
            "127.0.0.1:4566",
            "",
        ] {
            let error = check_endpoint(refused, "AWS_ENDPOINT_URL_KMS").unwrap_err();
            assert!(error.0.contains("AWS_ENDPOINT_URL_KMS"), "{error}");
        }
    }

    /// (environment, profile config, service id) → the refused setting, or None (allowed).
    #[test]
    fn service_endpoint_resolution_table() {
        let services_kms = format!(
            "[profile ci]\nservices = svc\nendpoint_url = {TLS}\n[services svc]\nkms =\n  endpoint_url = {PLAIN}\nsts =\n  endpoint_url = {PLAIN}\nsso-oidc =\n  endpoint_url = {PLAIN}\n"
        );
        let general = format!("[profile ci]\nendpoint_url = {PLAIN}\n");
        let cases: Vec<(&[(&str, &str)], &str, &str, Option<&str>)> = vec![
            (&[], "", "KMS", None),
            (
                &[("AWS_ENDPOINT_URL", PLAIN)],
                "",
                "KMS",
                Some("AWS_ENDPOINT_URL"),
            ),
            (
                &[("AWS_ENDPOINT_URL_KMS", PLAIN)],
                "",
                "KMS",
                Some("AWS_ENDPOINT_URL_KMS"),
            ),
            // The service-specific variable wins over the general one, either way.
            (
                &[("AWS_ENDPOINT_URL_KMS", LOOP), ("AWS_ENDPOINT_URL", PLAIN)],
                "",
                "KMS",
                None,
            ),
            (
                &[("AWS_ENDPOINT_URL_KMS", PLAIN), ("AWS_ENDPOINT_URL", TLS)],
                "",
                "KMS",
                Some("AWS_ENDPOINT_URL_KMS"),
            ),
            // AWS_ENDPOINT_URL_S3 does not reach KMS.
            (&[("AWS_ENDPOINT_URL_S3", PLAIN)], "", "KMS", None),
            (
                &[],
                &general,
                "KMS",
                Some("endpoint_url in AWS profile `ci`"),
            ),
            (&[], &services_kms, "KMS", Some("services section")),
            (&[], &services_kms, "STS", Some("`sts`")),
            (&[], &services_kms, "SSO OIDC", Some("`sso-oidc`")),
            (&[], &services_kms, "S3", None),
            // The environment wins over the profile.
            (&[("AWS_ENDPOINT_URL", LOOP)], &services_kms, "KMS", None),
            (
                &[("AWS_ENDPOINT_URL_STS", PLAIN)],
                "",
                "STS",
                Some("AWS_ENDPOINT_URL_STS"),
            ),
            (
                &[("AWS_ENDPOINT_URL_SSO", PLAIN)],
                "",
                "SSO",
                Some("AWS_ENDPOINT_URL_SSO"),
            ),
            (
                &[("AWS_ENDPOINT_URL_SSO_OIDC", PLAIN)],
                "",
                "SSO OIDC",
                Some("AWS_ENDPOINT_URL_SSO_OIDC"),
            ),
        ];
        for (vars, config, service, refused) in cases {
            let sources = sources(vars, config, Some("ci"));
            let result = sources.check_service(service, None);
            match refused {
                None => assert!(result.is_ok(), "{vars:?} {config:?} {service}: {result:?}"),
                Some(setting) => {
                    let error = result.unwrap_err();
                    assert!(
                        error.0.contains(setting) && error.0.contains("plain HTTP"),
                        "{vars:?} {config:?} {service}: {error}"
                    );
                }
            }
        }
    }

    /// The explicit setting wins over everything, as a programmatic endpoint does in the SDK.
    #[test]
    fn explicit_endpoint_wins() {
        let sources = sources(&[("AWS_ENDPOINT_URL_KMS", PLAIN)], "", None);
        let checked = sources
            .check_service("KMS", Some(NamedEndpoint::new(LOOP, "--kms-endpoint")))
            .unwrap();
        assert_eq!(
            checked,
            Some((LOOP.to_string(), EndpointTransport::LoopbackHttp))
        );
        let error = sources
            .check_service("KMS", Some(NamedEndpoint::new(PLAIN, "--kms-endpoint")))
            .unwrap_err();
        assert!(error.0.contains("--kms-endpoint"), "{error}");
    }

    /// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns the configured endpoints off for the service
    /// clients, not for the credentials chain's STS client (aws-config builds it without it).
    #[test]
    fn ignore_flag_applies_to_service_clients_not_to_the_credential_chain() {
        let vars = [
            ("AWS_ENDPOINT_URL", PLAIN),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ];
        let sources = sources(&vars, "", None);
        assert_eq!(sources.check_service("KMS", None), Ok(None));
        let error = sources.check_credential_chain().unwrap_err();
        assert!(
            error.0.contains("AWS_ENDPOINT_URL") && error.0.contains("STS"),
            "{error}"
        );
    }

    /// Environment and profile combinations → the credentials chain is refused (naming the
    /// setting) or allowed.
    #[test]
    fn credential_chain_endpoint_table() {
        let assume_role = format!(
            "[profile ci]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\nservices = svc\n[profile base]\n[services svc]\nsts =\n  endpoint_url = {PLAIN}\n"
        );
        let general = format!("[profile ci]\nendpoint_url = {PLAIN}\n");
        let cases: Vec<(&[(&str, &str)], &str, Option<&str>)> = vec![
            (&[], "", None),
            (&[("AWS_ENDPOINT_URL_STS", TLS)], "", None),
            (&[("AWS_ENDPOINT_URL_STS", LOOP)], "", None),
            (
                &[("AWS_ENDPOINT_URL_STS", PLAIN)],
                "",
                Some("AWS_ENDPOINT_URL_STS"),
            ),
            (&[("AWS_ENDPOINT_URL", PLAIN)], "", Some("AWS_ENDPOINT_URL")),
            // An S3-only or KMS-only endpoint does not reach the chain.
            (
                &[
                    ("AWS_ENDPOINT_URL_S3", PLAIN),
                    ("AWS_ENDPOINT_URL_KMS", PLAIN),
                ],
                "",
                None,
            ),
            // A specific, safe STS endpoint overrides a plain general one for STS, but SSO
            // would still take the general one.
            (
                &[("AWS_ENDPOINT_URL_STS", TLS), ("AWS_ENDPOINT_URL", PLAIN)],
                "",
                Some("AWS_ENDPOINT_URL"),
            ),
            (
                &[("AWS_ENDPOINT_URL_SSO", PLAIN)],
                "",
                Some("AWS_ENDPOINT_URL_SSO"),
            ),
            (
                &[("AWS_ENDPOINT_URL_SSO_OIDC", PLAIN)],
                "",
                Some("AWS_ENDPOINT_URL_SSO_OIDC"),
            ),
            (&[], &assume_role, Some("`sts` in the services section")),
            (&[], &general, Some("endpoint_url in AWS profile `ci`")),
            // Container credentials: the SDK's own rule.
            (
                &[(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://169.254.170.2/creds",
                )],
                "",
                None,
            ),
            (
                &[(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://169.254.170.23/v1",
                )],
                "",
                None,
            ),
            (
                &[(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://[fd00:ec2::23]/v1",
                )],
                "",
                None,
            ),
            (
                &[(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://127.0.0.1:80/c",
                )],
                "",
                None,
            ),
            (
                &[(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "https://creds.example/c",
                )],
                "",
                None,
            ),
            (
                &[(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://192.0.2.1/creds",
                )],
                "",
                Some("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            ),
            // Instance metadata.
            (
                &[(
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                    "http://169.254.169.254",
                )],
                "",
                None,
            ),
            (
                &[(
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                    "http://[fd00:ec2::254]",
                )],
                "",
                None,
            ),
            (
                &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338")],
                "",
                None,
            ),
            (
                &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://192.0.2.1")],
                "",
                Some("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
            ),
            (
                &[],
                "[profile ci]\nec2_metadata_service_endpoint = http://192.0.2.1\n",
                Some("ec2_metadata_service_endpoint in AWS profile `ci`"),
            ),
        ];
        for (vars, config, refused) in cases {
            let result = sources(vars, config, Some("ci")).check_credential_chain();
            match refused {
                None => assert!(result.is_ok(), "{vars:?} {config:?}: {result:?}"),
                Some(setting) => {
                    let error = result.unwrap_err();
                    assert!(error.0.contains(setting), "{vars:?} {config:?}: {error}");
                }
            }
        }
    }

    /// The resolution here is the SDK's: for each profile file, the endpoint the SDK's loaded
    /// configuration gives each service is the one found here (with this process's real
    /// environment on both sides; the environment's precedence is the SDK's own
    /// `EnvConfigValue`, used as is).
    #[test]
    fn endpoint_resolution_matches_the_sdk() {
        use aws_runtime::env_config::file::EnvConfigFileKind as ProfileFileKind;
        let dir = tempfile::tempdir().unwrap();
        let configs = [
            String::new(),
            format!("[profile ci]\nendpoint_url = {TLS}/general\n"),
            format!(
                "[profile ci]\nservices = svc\nendpoint_url = {TLS}/general\n[services svc]\nkms =\n  endpoint_url = {TLS}/kms-profile\nsts =\n  endpoint_url = {TLS}/sts\n"
            ),
            format!(
                "[profile ci]\nignore_configured_endpoint_urls = true\nendpoint_url = {TLS}/general\n"
            ),
        ];
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for (n, config) in configs.iter().enumerate() {
            let path = dir.path().join(format!("config{n}"));
            std::fs::write(&path, config).unwrap();
            let files = ProfileFiles::builder()
                .with_file(ProfileFileKind::Config, &path)
                .build();
            let shared = runtime.block_on(
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .profile_files(files.clone())
                    .profile_name("ci")
                    .region(aws_config::Region::new("us-east-1"))
                    .no_credentials()
                    .load(),
            );
            let ours = runtime.block_on(AwsConfigSources::load_from(
                Env::real(),
                Fs::real(),
                &files,
                Some("ci"),
            ));
            for service in ["KMS", "S3", "STS"] {
                let sdk = shared
                    .service_config()
                    .and_then(|conf| {
                        conf.load_config(
                            aws_types::service_config::ServiceConfigKey::builder()
                                .service_id(service)
                                .env("AWS_ENDPOINT_URL")
                                .profile("endpoint_url")
                                .build()
                                .unwrap(),
                        )
                    })
                    .or_else(|| shared.endpoint_url().map(str::to_string));
                let found = ours.service_endpoint(service, true).map(|n| n.endpoint);
                assert_eq!(found, sdk, "{config:?} {service}");
            }
        }
    }
}
