//! The audit verifier's one-pass canonicaliser (`audit::verify::fast`) against the tree path it
//! stands in for: whatever line it accepts, the tree path must accept too and give the same
//! payload, signed payload and field texts (a difference would make a verdict depend on which
//! path took the line). Declining is always allowed: the verifier then takes the tree path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wormvault::audit::record::Canonical;
use wormvault::audit::verify::fast::{Scratch, canonical_record};
use wormvault::canonical;

fuzz_target!(|data: &[u8]| {
    let mut scratch = Scratch::default();
    let Some(fast) = canonical_record(data, &mut scratch) else {
        return;
    };
    let line = std::str::from_utf8(data).expect("the fast path accepted a line that is not UTF-8");
    let Ok(Value::Object(fields)) = canonical::parse_strict(line) else {
        panic!("the fast path accepted what the tree path rejects: {line:?}");
    };
    let tree = Canonical::of(&fields);
    assert_eq!(std::str::from_utf8(fast.payload).unwrap(), tree.hash_payload());
    let mut signed = Vec::new();
    fast.signed_payload(b"0123abcd", |piece| signed.extend_from_slice(piece));
    assert_eq!(String::from_utf8(signed).unwrap(), tree.signed_payload("0123abcd"));
    let text = |key: &str| fields.get(key).map(canonical::compact);
    let fast_text = |slice: Option<&[u8]>| slice.map(|s| String::from_utf8(s.to_vec()).unwrap());
    assert_eq!(fast_text(fast.schema_version), text("schema_version"));
    assert_eq!(fast_text(fast.sequence), text("sequence"));
    assert_eq!(fast_text(fast.previous_hash), text("previous_hash"));
    assert_eq!(fast_text(fast.record_hash), text("record_hash"));
    assert_eq!(fast_text(fast.signature), text("signature"));
});
