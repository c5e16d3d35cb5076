//! S3 checksum encodings: the hex SHA-256 wormvault plans with versus the base64 values S3 sends
//! in `x-amz-checksum-sha256`, and the composite ("checksum of checksums") form S3 reports for
//! multipart uploads.
//!
//! S3 user guide, "Checking object integrity": a multipart object's SHA-256 checksum is the
//! SHA-256 of the concatenated binary part digests, base64-encoded, followed by `-<part count>`.
//! It is not the SHA-256 of the object, which is why multipart uploads also record and verify the
//! whole-object digest separately (see `upload.rs`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// Why a checksum string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    #[error("{value:?} is not a lowercase hex SHA-256 (64 hex digits)")]
    NotHexSha256 { value: String },
    #[error("{value:?} is not a base64 SHA-256 (32 bytes)")]
    NotBase64Sha256 { value: String },
}

/// Lowercase hex SHA-256 (as in manifests and plans) to the base64 form of `x-amz-checksum-sha256`.
pub fn hex_to_base64(hex_digest: &str) -> Result<String, ChecksumError> {
    let fail = || ChecksumError::NotHexSha256 {
        value: hex_digest.to_string(),
    };
    if hex_digest.len() != 64 || hex_digest.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(fail());
    }
    let bytes = hex::decode(hex_digest).map_err(|_| fail())?;
    Ok(STANDARD.encode(bytes))
}

/// Base64 full-object SHA-256 (single PUT) back to lowercase hex.
pub fn base64_to_hex(value: &str) -> Result<String, ChecksumError> {
    let bytes = STANDARD
        .decode(value.trim())
        .map_err(|_| ChecksumError::NotBase64Sha256 {
            value: value.to_string(),
        })?;
    if bytes.len() != 32 {
        return Err(ChecksumError::NotBase64Sha256 {
            value: value.to_string(),
        });
    }
    Ok(hex::encode(bytes))
}

/// Base64 of raw digest bytes (a part checksum).
pub fn digest_to_base64(digest: &[u8]) -> String {
    STANDARD.encode(digest)
}

/// What a store-reported `x-amz-checksum-sha256` value means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChecksum {
    /// SHA-256 of the whole object (single PUT), hex.
    FullObject(String),
    /// Composite checksum of a multipart upload: base64 digest-of-digests and the part count.
    Composite { value: String, parts: u32 },
}

/// Interpret a store-reported checksum: `<base64>` or `<base64>-<parts>`.
pub fn parse_store_checksum(value: &str) -> Result<StoreChecksum, ChecksumError> {
    let value = value.trim();
    match value.rsplit_once('-') {
        Some((digest, parts)) => {
            let bad = || ChecksumError::NotBase64Sha256 {
                value: value.to_string(),
            };
            let parts: u32 = parts.parse().map_err(|_| bad())?;
            base64_to_hex(digest)?;
            Ok(StoreChecksum::Composite {
                value: value.to_string(),
                parts,
            })
        }
        None => Ok(StoreChecksum::FullObject(base64_to_hex(value)?)),
    }
}

/// The composite checksum S3 computes over the given part digests (in part order):
/// `base64(SHA-256(d1 || d2 || ...))-N`.
pub fn composite_checksum(part_digests: &[[u8; 32]]) -> String {
    let mut hasher = Sha256::new();
    for digest in part_digests {
        hasher.update(digest);
    }
    format!(
        "{}-{}",
        STANDARD.encode(hasher.finalize()),
        part_digests.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_HEX: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const ABC_B64: &str = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";

    #[test]
    fn hex_and_base64_round_trip() {
        assert_eq!(hex_to_base64(ABC_HEX).unwrap(), ABC_B64);
        assert_eq!(base64_to_hex(ABC_B64).unwrap(), ABC_HEX);
        assert_eq!(
            parse_store_checksum(ABC_B64).unwrap(),
            StoreChecksum::FullObject(ABC_HEX.into())
        );
    }

    #[test]
    fn rejects_malformed_digests() {
        assert!(hex_to_base64(&ABC_HEX.to_uppercase()).is_err());
        assert!(hex_to_base64(&ABC_HEX[..62]).is_err());
        assert!(hex_to_base64(&format!("{}zz", &ABC_HEX[..62])).is_err());
        assert!(base64_to_hex("AAAA").is_err()); // 3 bytes
        assert!(base64_to_hex("not base64!").is_err());
        assert!(parse_store_checksum(&format!("{ABC_B64}-x")).is_err());
    }

    #[test]
    fn composite_is_digest_of_part_digests() {
        // Two parts "abc" and "def": the composite hashes the two 32-byte digests back to back.
        let first: [u8; 32] = Sha256::digest(b"abc").into();
        let second: [u8; 32] = Sha256::digest(b"def").into();
        let mut joined = first.to_vec();
        joined.extend_from_slice(&second);
        let expected = format!("{}-2", STANDARD.encode(Sha256::digest(&joined)));
        let composite = composite_checksum(&[first, second]);
        assert_eq!(composite, expected);
        assert_eq!(
            parse_store_checksum(&composite).unwrap(),
            StoreChecksum::Composite {
                value: expected,
                parts: 2
            }
        );
        // A composite is never the plain object digest.
        assert_ne!(
            composite.split('-').next().unwrap(),
            digest_to_base64(&Sha256::digest(b"abcdef"))
        );
    }
}
