//! The bundle .tar.gz reader: arbitrary bytes (gzip'd if they are not already, so the tar layer
//! is reached) extracted and verified. Never panics, never writes outside its temp dir (the
//! extraction root is checked to be the only thing that appeared), bounded by small limits.
//! Differential check against "another extractor": when the verdict is valid, a multi-member
//! gzip reader (what `gzip -d | tar -x` does) must read exactly the bytes one member holds,
//! with a good trailer — so nothing beyond what was verified could be unpacked elsewhere.
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
    let report = verify(&archive, &options);
    if report.as_ref().is_ok_and(|r| r.valid) {
        use std::io::Read;
        let stored = std::fs::read(&archive).unwrap();
        let mut single = Vec::new();
        flate2::read::GzDecoder::new(&stored[..])
            .read_to_end(&mut single)
            .expect("valid ⇒ the gzip member and its trailer are intact");
        let mut multi = Vec::new();
        flate2::read::MultiGzDecoder::new(&stored[..])
            .read_to_end(&mut multi)
            .expect("valid ⇒ a multi-member reader reads it too");
        assert_eq!(single, multi, "valid ⇒ no second gzip member");
    }
    drop(report);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("bundle.tar.gz")], "something was written beside the archive");
});

