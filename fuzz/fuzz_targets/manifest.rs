//! The bundle manifest parser, through the real verifier: a bundle directory whose
//! manifest.json is the input (beside one real file and a retention policy). Never panics;
//! an invalid manifest is a finding, never an `Err` (that is for unreadable inputs). With an
//! Ed25519 key id pinned (and an HMAC key at hand, to tempt algorithm confusion) a valid
//! verdict needs an Ed25519 signature, and no file in `_wormvault/` is ever valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wormvault::bundle::{VerifyOptions, verify};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest.json"), data).unwrap();
    std::fs::write(dir.path().join("evidence.json"), b"{}\n").unwrap();
    let options = VerifyOptions { allow_unsigned: true, minimum_retention_days: None, ..VerifyOptions::default() };
    let report = verify(dir.path(), &options).expect("a readable bundle directory is never an Err");
    if report.valid {
        assert!(report.manifest.is_some(), "valid without a manifest");
        assert!(
            report.files.iter().all(|f| !f.path.to_ascii_lowercase().starts_with("_wormvault/")),
            "valid with a file in the reserved namespace"
        );
    } else {
        assert!(!report.findings.is_empty(), "invalid without findings");
    }
    let pinned = VerifyOptions {
        allow_unsigned: false,
        key_id: Some("prod-evidence".into()),
        hmac_key: Some(wormvault::trust::Secret::new(b"bundle-secret".to_vec())),
        minimum_retention_days: None,
        ..VerifyOptions::default()
    };
    let report = verify(dir.path(), &pinned).expect("a readable bundle directory is never an Err");
    if report.valid {
        assert_eq!(
            report.signature.map(|s| s.algorithm),
            Some("Ed25519".to_string()),
            "a pinned key id was satisfied by a non-Ed25519 signature"
        );
    }
});
