//! The bundle .tar.gz reader: arbitrary bytes (gzip'd if they are not already, so the tar layer
//! is reached) extracted and verified. Never panics, never writes outside its temp dir (the
//! extraction root is checked to be the only thing that appeared), bounded by small limits.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use wormvault::bundle::{ArchiveLimits, VerifyOptions, verify};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bundle.tar.gz");
    let bytes = if data.starts_with(&[0x1f, 0x8b]) {
        data.to_vec()
    } else {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    };
    std::fs::write(&archive, bytes).unwrap();
    let options = VerifyOptions {
        allow_unsigned: true,
        minimum_retention_days: None,
        limits: ArchiveLimits { max_entries: 64, max_entry_bytes: 1 << 20, max_total_bytes: 4 << 20 },
        ..VerifyOptions::default()
    };
    let _ = verify(&archive, &options);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("bundle.tar.gz")], "something was written beside the archive");
});

