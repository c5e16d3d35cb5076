//! Parsing storage targets: `s3://bucket/prefix`, `azure://account/container/prefix` (or an
//! `azure+http(s)://host[:port]/account/container/prefix` endpoint URL for emulators and
//! sovereign clouds), and `file:///path` for a local WORM vault.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    S3 {
        bucket: String,
        prefix: String,
    },
    Azure {
        /// Blob service endpoint including the account, e.g.
        /// `https://acct.blob.core.windows.net` or `http://127.0.0.1:10000/devstoreaccount1`.
        endpoint: String,
        account: String,
        container: String,
        prefix: String,
    },
    Local {
        root: PathBuf,
        prefix: String,
    },
}

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid target {input:?}: {reason} (expected s3://bucket/prefix, azure://account/container/prefix, azure+http://host:port/account/container/prefix or file:///path)"
)]
pub struct TargetError {
    pub input: String,
    pub reason: String,
}

fn clean_prefix(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

impl Target {
    pub fn parse(input: &str) -> Result<Target, TargetError> {
        let fail = |reason: &str| TargetError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        // In every scheme: `?` (a query), `#` (a fragment) and `%` (an escape such as
        // %2e%2e, which this tool does not decode but URL-based tools and SDKs may) would make
        // the target mean one place here and another elsewhere. Refused, never interpreted.
        if let Some(rest) = input.split_once("://").map(|(_, rest)| rest)
            && let Some(bad) = rest.chars().find(|c| matches!(c, '?' | '#' | '%'))
        {
            return Err(fail(&format!(
                "{bad:?} is not allowed in a target (no queries, fragments or percent-escapes)"
            )));
        }
        if let Some(rest) = input.strip_prefix("s3://") {
            let mut parts = rest.split('/');
            let bucket = parts.next().unwrap_or_default();
            if bucket.len() < 3
                || bucket.len() > 63
                || !bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            {
                return Err(fail(
                    "bucket names are 3-63 lowercase letters, digits, '-' or '.'",
                ));
            }
            let rest: Vec<&str> = parts.collect();
            if rest.iter().any(|p| *p == "." || *p == "..") {
                return Err(fail("prefix may not contain '.' or '..' segments"));
            }
            return Ok(Target::S3 {
                bucket: bucket.to_string(),
                prefix: clean_prefix(&rest),
            });
        }
        if let Some(rest) = input.strip_prefix("azure://") {
            let parts: Vec<&str> = rest.split('/').collect();
            if parts.len() < 2 || parts[0].is_empty() || parts[1].is_empty() {
                return Err(fail("an Azure target needs an account and a container"));
            }
            let account = parts[0];
            if !account
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            {
                return Err(fail("Azure account names are lowercase letters and digits"));
            }
            if parts[2..].iter().any(|p| *p == "." || *p == "..") {
                return Err(fail("prefix may not contain '.' or '..' segments"));
            }
            return Ok(Target::Azure {
                endpoint: format!("https://{account}.blob.core.windows.net"),
                account: account.to_string(),
                container: parts[1].to_string(),
                prefix: clean_prefix(&parts[2..]),
            });
        }
        for scheme in ["azure+http://", "azure+https://"] {
            if let Some(rest) = input.strip_prefix(scheme) {
                let http = &scheme["azure+".len()..];
                let parts: Vec<&str> = rest.split('/').collect();
                if parts.len() < 3
                    || parts[0].is_empty()
                    || parts[1].is_empty()
                    || parts[2].is_empty()
                {
                    return Err(fail(
                        "an Azure endpoint target needs host, account and container",
                    ));
                }
                // The host part must be a real host[:port] (a port over 65535 or a userinfo part
                // would otherwise only fail, confusingly, at connect time).
                match url::Url::parse(&format!("{http}{}/", parts[0])) {
                    Ok(url)
                        if url.host_str().is_some()
                            && url.username().is_empty()
                            && url.password().is_none() => {}
                    _ => {
                        return Err(fail(
                            "the endpoint host must be host or host:port (port 1-65535)",
                        ));
                    }
                }
                if parts[3..].iter().any(|p| *p == "." || *p == "..") {
                    return Err(fail("prefix may not contain '.' or '..' segments"));
                }
                return Ok(Target::Azure {
                    endpoint: format!("{http}{}/{}", parts[0], parts[1]),
                    account: parts[1].to_string(),
                    container: parts[2].to_string(),
                    prefix: clean_prefix(&parts[3..]),
                });
            }
        }
        if let Some(rest) = input.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(fail(
                    "a local vault needs an absolute path: file:///path/to/vault",
                ));
            }
            // The vault root is exactly this path (store/local.rs), so it must mean one
            // directory to every reader: no `.`/`..` segments, and none of the characters a URL
            // parser would treat specially — `?` (query), `#` (fragment), `%` (an escape such
            // as %2e%2e, which this tool does not decode but another tool would) — nor
            // backslash or NUL.
            if let Some(bad) = rest
                .chars()
                .find(|c| matches!(c, '?' | '#' | '%' | '\\' | '\0'))
            {
                return Err(fail(&format!(
                    "{bad:?} is not allowed in a file:// vault path (no queries, fragments or percent-escapes)"
                )));
            }
            if rest.split('/').any(|p| p == "." || p == "..") {
                return Err(fail("a vault path may not contain '.' or '..' segments"));
            }
            let trimmed = rest.trim_end_matches('/');
            return Ok(Target::Local {
                root: PathBuf::from(if trimmed.is_empty() { "/" } else { trimmed }),
                prefix: String::new(),
            });
        }
        Err(fail("unknown scheme"))
    }

    /// The key prefix inside the store (may be empty).
    pub fn prefix(&self) -> &str {
        match self {
            Target::S3 { prefix, .. }
            | Target::Azure { prefix, .. }
            | Target::Local { prefix, .. } => prefix,
        }
    }

    /// `prefix/rest`, without doubled or leading slashes.
    pub fn key(&self, rest: &str) -> String {
        clean_prefix(&[self.prefix(), rest.trim_matches('/')])
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Target::Azure {
                endpoint,
                account,
                container,
                prefix,
            } => {
                if endpoint == &format!("https://{account}.blob.core.windows.net") {
                    write!(f, "azure://{account}/{container}/{prefix}")
                } else {
                    let host_and_account =
                        endpoint.split_once("://").map(|x| x.1).unwrap_or(endpoint);
                    let scheme = if endpoint.starts_with("https") {
                        "azure+https"
                    } else {
                        "azure+http"
                    };
                    write!(f, "{scheme}://{host_and_account}/{container}/{prefix}")
                }
            }
            Target::Local { root, prefix } if prefix.is_empty() => {
                write!(f, "file://{}", root.display())
            }
            Target::Local { root, prefix } => write!(f, "file://{}/{prefix}", root.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme() {
        assert_eq!(
            Target::parse("s3://evidence-bucket/releases/2026/").unwrap(),
            Target::S3 {
                bucket: "evidence-bucket".into(),
                prefix: "releases/2026".into()
            }
        );
        let azure = Target::parse("azure://acct/evidence/rel").unwrap();
        assert_eq!(azure.to_string(), "azure://acct/evidence/rel");
        let emu = Target::parse("azure+http://127.0.0.1:10000/devstoreaccount1/evidence").unwrap();
        assert_eq!(
            emu,
            Target::Azure {
                endpoint: "http://127.0.0.1:10000/devstoreaccount1".into(),
                account: "devstoreaccount1".into(),
                container: "evidence".into(),
                prefix: String::new()
            }
        );
        assert_eq!(emu.key("s1/abc/file.json"), "s1/abc/file.json");
        assert_eq!(
            Target::parse("file:///tmp/vault").unwrap().to_string(),
            "file:///tmp/vault"
        );
        assert_eq!(
            Target::parse("file:///tmp/vault/").unwrap(),
            Target::parse("file:///tmp/vault").unwrap()
        );
    }

    #[test]
    fn rejects_bad_targets() {
        for bad in [
            "s3://",
            "s3://UPPER/x",
            "s3://ok-bucket/../x",
            "azure://acct",
            "file://relative",
            "gs://b/x",
            "",
            "azure://acct/c/../x",
            "azure+http://127.0.0.1:99999/a/c",
            "azure+http://u:p@host/a/c",
            "azure+http://h:1/a/c/./x",
            "file:///srv/vault/../etc",
            "file:///srv/./vault",
            "file:///srv/%2e%2e/etc",
            "file:///srv/vault%2F..",
            "file:///srv/vault?x=1",
            "file:///srv/vault#frag",
            "file:///srv/va\\ult",
            "s3://bucket-a/x?versionId=1",
            "s3://bucket-a/%2e%2e/x",
            "s3://bucket-a/x#y",
            "azure://acct/c/x?sv=2024",
            "azure+http://127.0.0.1:10000/devstoreaccount1/c/%2e%2e",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
