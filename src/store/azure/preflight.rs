//! Is this container WORM? The container is read once ([`read_container`], one Get Container
//! Properties) into a [`ContainerSnapshot`], then judged by a pure function ([`judge`]) — the same
//! shape as `store/s3/preflight.rs`, so every verdict is unit-tested without a network.

use super::{AzureStore, cloud, describe, status_of};
use crate::store::{
    CheckStatus, Enforcement, PreflightCheck, PreflightOptions, PreflightReport, StoreError,
};

/// What Get Container Properties said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerReading {
    /// HTTP 404.
    Missing,
    /// HTTP 401/403, with the error as the service described it.
    Refused(String),
    Found {
        /// `x-ms-blob-public-access`, if any.
        public_access: Option<String>,
        /// `x-ms-immutable-storage-with-versioning-enabled: true`.
        version_level_immutability: bool,
        /// `x-ms-has-immutability-policy`, as reported.
        policy: Option<String>,
        /// `x-ms-has-legal-hold`, as reported.
        legal_hold: Option<String>,
    },
}

/// Everything preflight judges, read before judging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSnapshot {
    pub endpoint: String,
    pub https: bool,
    pub loopback: bool,
    pub auth_kind: &'static str,
    pub account: String,
    pub container: String,
    pub reading: ContainerReading,
}

/// Read the container's properties. Other errors than 404/401/403 are operational errors.
pub(super) async fn read_container(store: &AzureStore) -> Result<ContainerSnapshot, StoreError> {
    let reading = match store.container.get_properties(None).await {
        Ok(properties) => {
            let headers = properties.headers();
            let header = |name: &'static str| {
                headers
                    .get_optional_str(&azure_core::http::headers::HeaderName::from_static(name))
                    .map(str::to_string)
            };
            ContainerReading::Found {
                public_access: header("x-ms-blob-public-access"),
                version_level_immutability: header(
                    "x-ms-immutable-storage-with-versioning-enabled",
                )
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                policy: header("x-ms-has-immutability-policy"),
                legal_hold: header("x-ms-has-legal-hold"),
            }
        }
        Err(e) => {
            let (status, code) = status_of(&e);
            if status == Some(404) {
                ContainerReading::Missing
            } else if matches!(status, Some(401 | 403)) {
                ContainerReading::Refused(describe(&e))
            } else {
                return Err(cloud(
                    &store.target,
                    "Get Container Properties",
                    None,
                    format!("{} {}", describe(&e), code.unwrap_or_default()),
                ));
            }
        }
    };
    Ok(ContainerSnapshot {
        endpoint: store.endpoint.to_string(),
        https: store.endpoint.scheme() == "https",
        loopback: matches!(
            store.endpoint.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
        ),
        auth_kind: store.auth_kind,
        account: store.account.clone(),
        container: store.container_name.clone(),
        reading,
    })
}

/// The checks and the enforcement receipts will state, from a snapshot alone.
pub fn judge(
    snapshot: &ContainerSnapshot,
    options: &PreflightOptions,
) -> (Vec<PreflightCheck>, Enforcement) {
    let mut checks = Vec::new();
    let mut check = |name: &str, status: CheckStatus, detail: String| {
        checks.push(PreflightCheck {
            name: name.to_string(),
            status,
            detail,
        });
    };
    let endpoint = &snapshot.endpoint;
    match (snapshot.https, snapshot.loopback) {
        (true, _) => check(
            "transport",
            CheckStatus::Pass,
            format!("{endpoint} over HTTPS"),
        ),
        (false, true) => check(
            "transport",
            CheckStatus::Warn,
            format!("{endpoint} is plain HTTP on loopback (emulator only)"),
        ),
        (false, false) => check(
            "transport",
            CheckStatus::Fail,
            format!("{endpoint} is plain HTTP to a remote host; use https"),
        ),
    }
    let shared_key_over_https = snapshot.auth_kind == "shared key" && snapshot.https;
    let (status, detail) = match &snapshot.reading {
        // Credentials the service refused did not authenticate, whatever their kind.
        ContainerReading::Refused(error) => (
            CheckStatus::Fail,
            format!("{}: refused by the service ({error})", snapshot.auth_kind),
        ),
        _ if shared_key_over_https => (
            CheckStatus::Warn,
            "shared key: prefer Entra ID and disable shared-key access on the account (infra/azure)"
                .to_string(),
        ),
        _ => (CheckStatus::Pass, snapshot.auth_kind.to_string()),
    };
    check("authentication", status, detail);
    let (public_access, immutable, policy, hold) = match &snapshot.reading {
        ContainerReading::Missing | ContainerReading::Refused(_) => {
            let detail = match &snapshot.reading {
                ContainerReading::Refused(error) => format!(
                    "access to container {} refused ({error}); check the credentials",
                    snapshot.container
                ),
                _ => format!(
                    "container {} does not exist in account {}",
                    snapshot.container, snapshot.account
                ),
            };
            check("container-exists", CheckStatus::Fail, detail);
            // Nothing about the container could be read: nothing confirms the store enforces
            // anything (as S3 says for a bucket it cannot read).
            return (checks, Enforcement::Unconfirmed);
        }
        ContainerReading::Found {
            public_access,
            version_level_immutability,
            policy,
            legal_hold,
        } => (
            public_access,
            *version_level_immutability,
            policy,
            legal_hold,
        ),
    };
    check(
        "container-exists",
        CheckStatus::Pass,
        format!(
            "container {} in account {}",
            snapshot.container, snapshot.account
        ),
    );
    match public_access {
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
                snapshot.container
            ),
        );
        check(
            "versioning",
            unconfirmed,
            "cannot be confirmed: the container does not report version-level immutability"
                .to_string(),
        );
    }
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
    (checks, enforcement)
}

/// Read, judge, and remember the enforcement for the receipts of this store's writes.
pub(super) async fn run(
    store: &AzureStore,
    options: &PreflightOptions,
) -> Result<PreflightReport, StoreError> {
    let snapshot = read_container(store).await?;
    let (checks, enforcement) = judge(&snapshot, options);
    if let Ok(mut slot) = store.enforcement.write() {
        *slot = Some(enforcement);
    }
    Ok(PreflightReport {
        target: store.target.to_string(),
        checks,
        enforcement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(reading: ContainerReading) -> ContainerSnapshot {
        ContainerSnapshot {
            endpoint: "https://acct.blob.core.windows.net/".into(),
            https: true,
            loopback: false,
            auth_kind: "Entra ID token",
            account: "acct".into(),
            container: "evidence".into(),
            reading,
        }
    }

    fn found(immutable: bool, public_access: Option<&str>) -> ContainerReading {
        ContainerReading::Found {
            public_access: public_access.map(str::to_string),
            version_level_immutability: immutable,
            policy: None,
            legal_hold: None,
        }
    }

    fn status(checks: &[PreflightCheck], name: &str) -> CheckStatus {
        checks.iter().find(|c| c.name == name).unwrap().status
    }

    #[test]
    fn immutable_private_container_over_https_passes() {
        let (checks, enforcement) = judge(&snapshot(found(true, None)), &Default::default());
        assert!(
            checks.iter().all(|c| c.status == CheckStatus::Pass),
            "{checks:#?}"
        );
        assert_eq!(enforcement, Enforcement::Store);
    }

    #[test]
    fn unenforced_container_fails_unless_explicitly_accepted() {
        let snap = snapshot(found(false, None));
        let (checks, enforcement) = judge(&snap, &Default::default());
        assert_eq!(
            status(&checks, "version-level-immutability"),
            CheckStatus::Fail
        );
        assert_eq!(status(&checks, "versioning"), CheckStatus::Fail);
        assert_eq!(enforcement, Enforcement::Store);
        let allow = PreflightOptions {
            allow_unenforced: true,
            ..Default::default()
        };
        let (checks, enforcement) = judge(&snap, &allow);
        assert_eq!(
            status(&checks, "version-level-immutability"),
            CheckStatus::Warn
        );
        assert_eq!(enforcement, Enforcement::Unconfirmed);
    }

    #[test]
    fn transport_public_access_and_missing_container() {
        let mut plain = snapshot(found(true, Some("blob")));
        plain.https = false;
        let (checks, _) = judge(&plain, &Default::default());
        assert_eq!(status(&checks, "transport"), CheckStatus::Fail);
        assert_eq!(status(&checks, "public-access"), CheckStatus::Fail);
        plain.loopback = true;
        let (checks, _) = judge(&plain, &Default::default());
        assert_eq!(status(&checks, "transport"), CheckStatus::Warn);

        for reading in [
            ContainerReading::Missing,
            ContainerReading::Refused("HTTP 403".into()),
        ] {
            let refused = matches!(reading, ContainerReading::Refused(_));
            let (checks, enforcement) = judge(&snapshot(reading), &Default::default());
            assert_eq!(status(&checks, "container-exists"), CheckStatus::Fail);
            // Review 32 cli-F5: no claim of store enforcement, nor of authentication, for a
            // container that could not be read.
            assert_eq!(enforcement, Enforcement::Unconfirmed);
            assert_eq!(
                status(&checks, "authentication"),
                if refused {
                    CheckStatus::Fail
                } else {
                    CheckStatus::Pass
                }
            );
            assert!(
                checks
                    .iter()
                    .all(|c| c.name != "version-level-immutability")
            );
        }
    }

    #[test]
    fn shared_key_over_https_is_a_warning() {
        let mut snap = snapshot(found(true, None));
        snap.auth_kind = "shared key";
        let (checks, _) = judge(&snap, &Default::default());
        assert_eq!(status(&checks, "authentication"), CheckStatus::Warn);
    }
}
