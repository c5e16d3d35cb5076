//! Lowercase hex for the verify hot path: every record's computed hash is written as 64 hex
//! digits and every `previous_hash` read back from them. Eight digits are handled at a time in a
//! `u64` (SWAR); `tests` hold both directions to the `hex` crate over every byte value.

/// The value of a lowercase hex digit, or 0x10 for any other byte (uppercase included).
pub(super) const LOWER_HEX: [u8; 256] = {
    let mut table = [0x10u8; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES * 0x80;
const NIBBLES: u64 = ONES * 0x0f;

/// The 32 bytes that 64 lowercase hex digits stand for; `None` when `text` is not exactly that
/// (any other length, an uppercase digit, any other byte).
pub(super) fn decode_digest(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (out, digits) in digest.chunks_exact_mut(4).zip(text.chunks_exact(8)) {
        let digits: [u8; 8] = digits
            .try_into()
            .unwrap_or_else(|_| unreachable!("eight digits"));
        out.copy_from_slice(&decode8(u64::from_le_bytes(digits))?.to_le_bytes());
    }
    Some(digest)
}

/// Eight lowercase hex digits (little-endian in a `u64`) as four bytes.
#[inline(always)]
fn decode8(x: u64) -> Option<u32> {
    if x & HIGH != 0 {
        return None;
    }
    // With every byte below 0x80 these tests cannot carry or borrow into a neighbour.
    let at_least = |low: u8| (x + ONES * u64::from(0x80 - low)) & HIGH;
    let at_most = |high: u8| (ONES * u64::from(0x80 + high) - x) & HIGH;
    let digit = at_least(b'0') & at_most(b'9');
    let letter = at_least(b'a') & at_most(b'f');
    if digit | letter != HIGH {
        return None;
    }
    // `a`..`f` have low nibbles 1..6: nine more makes 10..15.
    let nibbles = (x & NIBBLES) + (letter >> 7) * 9;
    // Byte 2k becomes nibble 2k << 4 | nibble 2k+1; then the even bytes are gathered.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let pairs = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    Some((pairs | (pairs >> 16)) as u32)
}

/// A digest as 64 lowercase hex digits.
pub(super) fn encode_digest(digest: &[u8; 32]) -> [u8; 64] {
    let mut text = [0u8; 64];
    for (out, bytes) in text.chunks_exact_mut(8).zip(digest.chunks_exact(4)) {
        let bytes: [u8; 4] = bytes
            .try_into()
            .unwrap_or_else(|_| unreachable!("four bytes"));
        out.copy_from_slice(&encode4(u32::from_le_bytes(bytes)).to_le_bytes());
    }
    text
}

/// Four bytes (little-endian in a `u32`) as eight lowercase hex digits.
#[inline(always)]
fn encode4(bytes: u32) -> u64 {
    // Byte i moves to byte 2i, then its high nibble stays there and its low one moves up one.
    let spread = u64::from(bytes);
    let spread = (spread | (spread << 16)) & 0x0000_ffff_0000_ffff;
    let spread = (spread | (spread << 8)) & 0x00ff_00ff_00ff_00ff;
    let nibbles = ((spread >> 4) & NIBBLES) | ((spread & NIBBLES) << 8);
    // Nibbles above 9 get `a` - `0` - 10 = 39 more.
    let letters = ((nibbles + ONES * 0x76) & HIGH) >> 7;
    nibbles + ONES * u64::from(b'0') + letters * 39
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_digests() -> impl Iterator<Item = [u8; 32]> {
        let mut rng: u64 = 0x853c_49e6_748f_ea9b;
        (0..20_000).map(move |_| {
            let mut digest = [0u8; 32];
            for byte in &mut digest {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                *byte = (rng >> 24) as u8;
            }
            digest
        })
    }

    #[test]
    fn encodes_and_decodes_as_the_hex_crate_does() {
        let every_byte: Vec<[u8; 32]> = (0..8)
            .map(|k| std::array::from_fn(|i| (k * 32 + i) as u8))
            .collect();
        for digest in every_byte.into_iter().chain(random_digests()) {
            let text = encode_digest(&digest);
            assert_eq!(text.as_slice(), hex::encode(digest).as_bytes());
            assert_eq!(decode_digest(&text), Some(digest));
        }
    }

    /// Every byte value at every position of otherwise valid text: decoded exactly when it is a
    /// lowercase hex digit, to the value the `hex` crate gives.
    #[test]
    fn decodes_only_lowercase_hex() {
        let valid = encode_digest(&std::array::from_fn(|i| (i * 37) as u8));
        for position in 0..64 {
            for byte in 0u8..=0xff {
                let mut text = valid;
                text[position] = byte;
                let expected = if LOWER_HEX[usize::from(byte)] < 16 {
                    let mut digest = [0u8; 32];
                    hex::decode_to_slice(text, &mut digest).unwrap();
                    Some(digest)
                } else {
                    None
                };
                assert_eq!(decode_digest(&text), expected, "{byte:#x} at {position}");
            }
        }
        assert_eq!(decode_digest(&valid[..62]), None);
        assert_eq!(decode_digest(&[b'0'; 66]), None);
    }
}
