//! The audit-record parser: a log whose content is the input, verified with an HMAC key (so
//! the signature path runs too). Never panics; a log that verifies has no errors and as many
//! records as non-blank lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wormvault::audit::{SignatureCheck, VerifyOptions, verify};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    std::fs::write(&log, data).unwrap();
    let options = VerifyOptions {
        signatures: SignatureCheck::Hmac { key: b"secret".to_vec(), key_id: "audit-key-1".into() },
        ..VerifyOptions::default()
    };
    let report = verify(&log, &options).expect("a readable log is never an Err");
    let value = serde_json::to_value(&report).unwrap();
    if value["valid"] == serde_json::Value::Bool(true) {
        assert!(value["errors"].as_array().is_none_or(Vec::is_empty), "valid with errors: {value}");
    }
});
