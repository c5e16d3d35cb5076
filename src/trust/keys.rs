//! Ed25519 key pairs in exactly the PEM forms CAVRA writes (PKCS#8 v1 private key without the
//! embedded public key, SPKI public key, 64-column base64, `\n` line ends and a trailing
//! newline), the public-key fingerprint and default key id (cavra-compat.md §4), and private key
//! files that are created 0600 and refused when others can read them.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use super::TrustError;

/// An Ed25519 signing key with its PEM renderings.
pub struct KeyPair {
    signing: SigningKey,
}

impl std::fmt::Debug for KeyPair {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("fingerprint", &self.public().fingerprint())
            .finish()
    }
}

impl KeyPair {
    /// A fresh key from 32 bytes of operating-system randomness.
    pub fn generate() -> Result<Self, TrustError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| TrustError::Random(e.to_string()))?;
        let signing = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(Self { signing })
    }

    /// Parse a PKCS#8 PEM private key (`what` names it in errors).
    pub fn from_pkcs8_pem(pem: &str, what: &str) -> Result<Self, TrustError> {
        let signing =
            SigningKey::from_pkcs8_pem(&pem_text(pem)).map_err(|e| TrustError::InvalidKey {
                what: what.to_string(),
                expected: "PKCS#8 PEM Ed25519 private key",
                reason: e.to_string(),
            })?;
        Ok(Self { signing })
    }

    /// The private key as CAVRA writes it: PKCS#8 v1 (RFC 8410 `OneAsymmetricKey` without the
    /// optional public key), which is what Python `cryptography` emits for
    /// `PrivateFormat.PKCS8` / `NoEncryption`.
    pub fn private_pem(&self) -> Result<String, TrustError> {
        let bytes = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.signing.to_bytes(),
            public_key: None,
        };
        let pem = bytes
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| TrustError::InvalidKey {
                what: "generated key".into(),
                expected: "encodable Ed25519 key",
                reason: e.to_string(),
            })?;
        Ok(pem.to_string())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            verifying: self.signing.verifying_key(),
        }
    }

    /// The raw signing key, for signers outside this module (audit records, checkpoints).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Sign bytes; returns the 64-byte signature as standard base64 (CAVRA's `value`).
    pub fn sign_b64(&self, message: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.signing.sign(message).to_bytes())
    }
}

/// An Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    verifying: VerifyingKey,
}

impl PublicKey {
    /// Parse an SPKI PEM public key (`what` names it in errors).
    pub fn from_spki_pem(pem: &str, what: &str) -> Result<Self, TrustError> {
        let verifying = VerifyingKey::from_public_key_pem(&pem_text(pem)).map_err(|e| {
            TrustError::InvalidKey {
                what: what.to_string(),
                expected: "SPKI PEM Ed25519 public key",
                reason: e.to_string(),
            }
        })?;
        Ok(Self { verifying })
    }

    /// Wrap a raw verifying key (a public key read from a KMS, say).
    pub fn from_verifying_key(verifying: VerifyingKey) -> Self {
        Self { verifying }
    }

    /// The raw verifying key, for verifiers outside this module (checkpoint notes).
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying
    }

    /// The SPKI PEM text exactly as CAVRA writes it (64-column base64, trailing newline).
    pub fn spki_pem(&self) -> String {
        // Encoding a 32-byte key into a fixed-size SPKI cannot fail; fall back to an empty
        // string rather than panic if the library ever says otherwise.
        self.verifying
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// Hex SHA-256 of the SPKI PEM text (CAVRA's `public_key_sha256`).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.spki_pem())
    }

    /// Check a base64 Ed25519 signature over `message` (strict verification: rejects
    /// non-canonical and small-order encodings, as OpenSSL does).
    pub fn verify_b64(
        &self,
        key_id: &str,
        message: &[u8],
        signature_b64: &str,
    ) -> Result<(), TrustError> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(signature_b64.trim())
            .map_err(|e| TrustError::MalformedSignature {
                key_id: key_id.to_string(),
                reason: e.to_string(),
            })?;
        let signature = ed25519_dalek::Signature::from_slice(&raw).map_err(|_| {
            TrustError::MalformedSignature {
                key_id: key_id.to_string(),
                reason: format!("{} bytes, expected 64", raw.len()),
            }
        })?;
        self.verifying
            .verify_strict(message, &signature)
            .map_err(|_| TrustError::BadSignature {
                key_id: key_id.to_string(),
            })
    }
}

/// Hex SHA-256 of a public key's SPKI PEM text, as given (cavra-compat.md §4: the fingerprint
/// is over the PEM text, not the DER).
/// A PEM document as the strict RFC 7468 parser wants it: LF line ends and nothing around the
/// armour but one final newline. Keys pasted into CI secrets or editors commonly gain a trailing
/// blank line or CRLFs, which OpenSSL and Python's `cryptography` accept.
fn pem_text(pem: &str) -> String {
    format!("{}\n", pem.replace("\r\n", "\n").trim())
}

pub fn fingerprint(spki_pem: &str) -> String {
    crate::hashing::sha256_hex(spki_pem.as_bytes())
}

/// The default key id: the first 16 hex characters of the fingerprint.
pub fn default_key_id(fingerprint: &str) -> String {
    fingerprint.chars().take(16).collect()
}

/// Write a private key PEM to a new file created with mode 0600 from the start (no window in
/// which another user could open it). Refuses to overwrite.
pub fn write_private_key(path: &Path, pem: &str) -> Result<(), TrustError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            TrustError::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            TrustError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| TrustError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// A PEM key file's text, at most [`crate::limits::MAX_KEY_FILE_BYTES`] (a pipe or `/dev/zero`
/// given as a key cannot hang or exhaust memory).
fn read_key_text(file: std::fs::File, path: &Path) -> Result<String, TrustError> {
    use std::io::Read as _;
    let max = crate::limits::MAX_KEY_FILE_BYTES;
    let io = |source| TrustError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text).map_err(io)?;
    if text.len() as u64 > max {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than {max} bytes: not a key file"),
        )));
    }
    Ok(text)
}

/// Load a PKCS#8 PEM private key, refusing a file that group or others can read.
pub fn load_private_key(path: &Path) -> Result<KeyPair, TrustError> {
    let file = std::fs::File::open(path).map_err(|source| TrustError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = file.metadata().map_err(|source| TrustError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TrustError::PrivateKeyPermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let pem = read_key_text(file, path)?;
    KeyPair::from_pkcs8_pem(&pem, &path.display().to_string())
}

/// Load an SPKI PEM public key; returns the key and the file's exact text (the fingerprint is
/// over the text as stored).
pub fn load_public_key(path: &Path) -> Result<(PublicKey, String), TrustError> {
    let file = std::fs::File::open(path).map_err(|source| TrustError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let pem = read_key_text(file, path)?;
    let key = PublicKey::from_spki_pem(&pem, &path.display().to_string())?;
    // The canonical encoding, not the file's bytes: fingerprints are over CAVRA's PEM form, and a
    // file with CRLFs or a trailing blank line holds the same key.
    let pem = key.spki_pem();
    Ok((key, pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_PRIVATE: &str =
        include_str!("../../tests/fixtures/cavra/keys/evidence-ed25519-private.pem");
    const FIXTURE_PUBLIC: &str =
        include_str!("../../tests/fixtures/cavra/keys/evidence-ed25519-public.pem");

    #[test]
    fn pem_with_crlf_or_blank_lines_around_it_is_the_same_key() {
        let pasted = format!("\n{}\n\n", FIXTURE_PRIVATE.replace('\n', "\r\n"));
        let pair = KeyPair::from_pkcs8_pem(&pasted, "pasted").unwrap();
        assert_eq!(pair.private_pem().unwrap(), FIXTURE_PRIVATE);
        let public = PublicKey::from_spki_pem(&format!("{FIXTURE_PUBLIC}\n"), "pasted").unwrap();
        assert_eq!(public.spki_pem(), FIXTURE_PUBLIC);
        assert!(KeyPair::from_pkcs8_pem("not a key\n", "junk").is_err());
    }

    #[test]
    fn fixture_keys_round_trip_byte_for_byte() {
        let pair = KeyPair::from_pkcs8_pem(FIXTURE_PRIVATE, "fixture").unwrap();
        assert_eq!(pair.private_pem().unwrap(), FIXTURE_PRIVATE);
        assert_eq!(pair.public().spki_pem(), FIXTURE_PUBLIC);
        assert_eq!(
            pair.public().fingerprint(),
            "06876be07c0b9b7826625aceb1f81f1bd705a0a278cc66729d0acebee5cc6567"
        );
        assert_eq!(
            default_key_id(&pair.public().fingerprint()),
            "06876be07c0b9b78"
        );
    }

    #[test]
    fn generated_keys_have_cavra_shape_and_sign() {
        let pair = KeyPair::generate().unwrap();
        let private = pair.private_pem().unwrap();
        let public = pair.public().spki_pem();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));
        assert!(private.ends_with("-----END PRIVATE KEY-----\n"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
        assert!(public.ends_with("-----END PUBLIC KEY-----\n"));
        let again = KeyPair::from_pkcs8_pem(&private, "generated").unwrap();
        assert_eq!(again.public(), pair.public());
        let signature = pair.sign_b64(b"message");
        pair.public()
            .verify_b64("k", b"message", &signature)
            .unwrap();
        let err = pair
            .public()
            .verify_b64("k", b"messagf", &signature)
            .unwrap_err();
        assert_eq!(err.kind(), "signature_invalid");
        let err = pair
            .public()
            .verify_b64("k", b"message", "AAAA")
            .unwrap_err();
        assert_eq!(err.kind(), "signature_malformed");
        assert_ne!(KeyPair::generate().unwrap().public(), pair.public());
    }

    #[cfg(unix)]
    #[test]
    fn private_key_file_mode_is_enforced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let pair = KeyPair::generate().unwrap();
        write_private_key(&path, &pair.private_pem().unwrap()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_private_key(&path).unwrap().public(), pair.public());
        let err = write_private_key(&path, "x").unwrap_err();
        assert!(matches!(err, TrustError::AlreadyExists { .. }));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_private_key(&path).unwrap_err();
        assert!(matches!(
            err,
            TrustError::PrivateKeyPermissions { mode: 0o640, .. }
        ));
        assert!(err.to_string().contains("chmod 600"));
    }
}
