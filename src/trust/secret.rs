//! Secrets (HMAC keys) from a file or an environment variable, never required on argv
//! (cavra-compat.md §7). A legacy `--key VALUE` is accepted for old CAVRA scripts; the CLI warns
//! when it is used. Secret bytes never appear in `Debug`, errors or output.

use std::path::PathBuf;

use super::TrustError;

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `--key-file PATH`: the file's bytes, minus one trailing `\n` or `\r\n` (what `echo` and
    /// editors add).
    File(PathBuf),
    /// `--key-env VAR`: the variable's value as UTF-8.
    Env(String),
    /// Legacy `--key VALUE` (visible in the process list; callers warn).
    Inline(String),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(path) => write!(f, "File({})", path.display()),
            SecretSource::Env(var) => write!(f, "Env({var})"),
            SecretSource::Inline(_) => write!(f, "Inline(<redacted>)"),
        }
    }
}

/// Secret bytes; redacted in `Debug`, overwritten on drop (best effort).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|byte| *byte = 0);
    }
}

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl SecretSource {
    /// Read the secret. An empty secret is an error (an HMAC under an empty key proves nothing).
    pub fn load(&self) -> Result<Secret, TrustError> {
        let (what, mut bytes) = match self {
            SecretSource::File(path) => {
                // A pipe (`--key-file <(…)`) is read, but never more than a key file can be.
                let bytes = crate::limits::read_secret_capped(
                    path,
                    crate::limits::MAX_KEY_FILE_BYTES,
                    "key file",
                )
                .map_err(|error| TrustError::Secret {
                    what: format!("file {}", path.display()),
                    reason: error.to_string(),
                })?;
                (format!("file {}", path.display()), bytes)
            }
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(value) => (format!("environment variable {var}"), value.into_bytes()),
                Err(std::env::VarError::NotPresent) => {
                    return Err(TrustError::Secret {
                        what: format!("environment variable {var}"),
                        reason: "is not set; export it or use --key-file".into(),
                    });
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(TrustError::Secret {
                        what: format!("environment variable {var}"),
                        reason: "is not valid UTF-8".into(),
                    });
                }
            },
            SecretSource::Inline(value) => {
                ("given with --key".to_string(), value.clone().into_bytes())
            }
        };
        if let SecretSource::File(_) = self {
            if bytes.ends_with(b"\r\n") {
                bytes.truncate(bytes.len() - 2);
            } else if bytes.ends_with(b"\n") {
                bytes.truncate(bytes.len() - 1);
            }
        }
        if bytes.is_empty() {
            return Err(TrustError::Secret {
                what,
                reason: "is empty".into(),
            });
        }
        Ok(Secret(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_env_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "bundle-secret\n").unwrap();
        assert_eq!(
            SecretSource::File(path.clone()).load().unwrap().expose(),
            b"bundle-secret"
        );
        std::fs::write(&path, "").unwrap();
        assert!(matches!(
            SecretSource::File(path.clone()).load(),
            Err(TrustError::Secret { .. })
        ));
        let missing = SecretSource::Env("WORMVAULT_TEST_SURELY_UNSET_VARIABLE".into()).load();
        assert!(matches!(missing, Err(TrustError::Secret { .. })));
        let secret = Secret::new(b"hidden".to_vec());
        assert!(!format!("{secret:?}").contains("hidden"));
        assert!(!format!("{:?}", SecretSource::Inline("hidden".into())).contains("hidden"));
    }
}
