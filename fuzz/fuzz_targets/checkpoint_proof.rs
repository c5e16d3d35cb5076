//! Checkpoint and inclusion-proof parsers: a signed note body, a whole note opened against a
//! fixed key, and a proof document checked with and without that key. Never panics; nothing
//! random verifies against the key (a forged signature would be a finding of its own).
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use wormvault::audit::{Checkpoint, CheckpointKey, InclusionProof};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Checkpoint::parse_body(text);
    let key = CheckpointKey { name: "example.com/audit".into(), key: SigningKey::from_bytes(&[7u8; 32]).verifying_key() };
    if let Ok(checkpoint) = Checkpoint::open(text, &key) {
        // Only a note this key signed may open; the fuzzer cannot sign.
        panic!("an unsigned input opened as a checkpoint: {checkpoint:?}");
    }
    if let Ok(proof) = serde_json::from_str::<InclusionProof>(text) {
        let _ = proof.check(None);
        assert!(proof.check(Some(&key)).is_err() || proof.checkpoint.is_none(), "a proof verified against a checkpoint the fuzzer cannot sign");
    }
});
