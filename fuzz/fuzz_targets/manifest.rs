//! The bundle manifest parser, through the real verifier: a bundle directory whose
//! manifest.json is the input (beside one real file and a retention policy). Never panics;
//! an invalid manifest is a finding, never an `Err` (that is for unreadable inputs).
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
    } else {
        assert!(!report.findings.is_empty(), "invalid without findings");
    }
});
