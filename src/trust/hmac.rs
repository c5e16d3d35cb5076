//! HMAC-SHA256 as CAVRA uses it (HS256 manifest signatures, audit-record HMACs): base64 of the
//! MAC over the given bytes, compared in constant time.

use base64::Engine;
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Raw HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Standard base64 of HMAC-SHA256 (CAVRA's `value`).
pub fn hmac_sha256_b64(key: &[u8], message: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key, message))
}

/// Does `expected_b64` equal the HMAC of `message`? The comparison runs in constant time over
/// the MAC bytes (`Mac::verify_slice`); malformed base64 is simply "no".
pub fn verify_hmac_sha256_b64(key: &[u8], message: &[u8], expected_b64: &str) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(expected_b64.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    mac.update(message);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2_and_verification() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let b64 = hmac_sha256_b64(b"Jefe", b"what do ya want for nothing?");
        assert!(verify_hmac_sha256_b64(
            b"Jefe",
            b"what do ya want for nothing?",
            &b64
        ));
        assert!(!verify_hmac_sha256_b64(
            b"Jeff",
            b"what do ya want for nothing?",
            &b64
        ));
        assert!(!verify_hmac_sha256_b64(
            b"Jefe",
            b"what do ya want for nothing!",
            &b64
        ));
        assert!(!verify_hmac_sha256_b64(b"Jefe", b"x", "not base64!"));
        assert!(!verify_hmac_sha256_b64(b"Jefe", b"x", ""));
    }
}
