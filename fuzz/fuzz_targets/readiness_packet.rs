//! The readiness packet validator: arbitrary bytes give a report with exactly CAVRA's eight
//! checks, never a panic; blocker/warning counts match the checks and the status follows them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for require_live in [false, true] {
        let report = wormvault::readiness::validate_bytes("packet.json", data, require_live);
        let value = serde_json::to_value(&report).unwrap();
        let checks = value["checks"].as_array().expect("checks array");
        assert_eq!(checks.len(), 8, "{value}");
        let count = |status: &str| checks.iter().filter(|c| c["status"] == status).count() as u64;
        let summary = &value["summary"];
        assert_eq!(summary["blocker_count"].as_u64(), Some(count("blocker")), "{value}");
        assert_eq!(summary["warning_count"].as_u64(), Some(count("warn")), "{value}");
        assert_eq!(report.ready(), count("blocker") == 0);
    }
});
