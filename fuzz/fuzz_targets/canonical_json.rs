//! Canonical JSON: `parse_strict` never panics; whatever it accepts, serde_json accepts too and
//! parses to the same value; both canonical variants re-parse to that value (round trip) and are
//! stable (canonicalising the re-parsed value gives the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wormvault::canonical::{compact, parse_strict, spaced};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(value) = parse_strict(text) else { return };
    let loose: serde_json::Value = serde_json::from_str(text).expect("parse_strict accepted what serde_json rejects");
    assert_eq!(compact(&value), compact(&loose), "parse_strict and serde_json disagree");
    for (name, out) in [("compact", compact(&value)), ("spaced", spaced(&value))] {
        assert!(out.is_ascii(), "{name} output is not ASCII (ensure_ascii)");
        let again = parse_strict(&out).unwrap_or_else(|e| panic!("{name} output does not re-parse: {e}: {out}"));
        let by_serde: serde_json::Value = serde_json::from_str(&out).expect("serde_json rejects canonical output");
        assert_eq!(again, by_serde);
        // Floats go through Python's repr and integers keep their digits (serde_json's
        // arbitrary_precision keeps number text, so compare canonical forms, not Values).
        assert_eq!(compact(&again), compact(&value), "{name} round trip changed the value: {out}");
        let twice = if name == "compact" { compact(&again) } else { spaced(&again) };
        assert_eq!(twice, out, "{name} is not stable");
    }
});
