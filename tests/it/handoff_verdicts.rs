//! `handoff verify` verdict gaps found by the adversarial review (F1–F7): each forged or
//! hostile package gets its exact verdict, finding kind, check name and exit code.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::forgery::{
    edit_json, files, forge, kinds, ok, readme_session, reindex_and_pack, text, unpack, verify,
    wormvault,
};

/// The findings of `report` as (kind, check) pairs.
fn found(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|f| {
                    (
                        f["kind"].as_str().unwrap_or("").to_string(),
                        f["check"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

/// Pack `work` as it is (the index is not recomputed), index first.
fn pack_as_is(work: &Path, to: &Path) {
    let file = std::fs::File::create(to).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let mut names = files(work);
    names.sort_by_key(|n| n != "handoff.json");
    for name in names {
        builder
            .append_path_with_name(work.join(&name), &name)
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

/// `handoff verify --json` in a child that is killed (and the test failed) after 60 s.
fn verify_within_a_minute(dir: &Path, args: &[&str]) -> (i32, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .current_dir(dir)
        .args([&["--json", "handoff", "verify"][..], args].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
            return (status.code().unwrap_or(-1), report);
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("handoff verify hung for 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn f6_checkpoint_key_revoked_under_a_crlf_pem_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let package = readme_session(d);
    // The auditor's roots: the key active as prod-evidence, and the same key revoked under
    // another id, written with CRLF line ends (another PEM text, another SHA-256).
    let mut roots: Value =
        serde_json::from_slice(&std::fs::read(d.join("trust-roots.json")).unwrap()).unwrap();
    let mut revoked = roots["trust_roots"][0].clone();
    let pem = revoked["public_key_pem"]
        .as_str()
        .unwrap()
        .replace('\n', "\r\n");
    revoked["key_id"] = "prod-evidence-compromised".into();
    revoked["status"] = "revoked".into();
    revoked["public_key_sha256"] = wormvault::trust::fingerprint(&pem).into();
    revoked["public_key_pem"] = pem.into();
    roots["trust_roots"].as_array_mut().unwrap().push(revoked);
    std::fs::write(
        d.join("revoked-crlf.json"),
        serde_json::to_vec_pretty(&roots).unwrap(),
    )
    .unwrap();
    let (code, report, _) = verify(d, &package, &["--trust-root", "revoked-crlf.json"]);
    assert_eq!((code, report["verdict"].as_str()), (1, Some("FAILED")));
    assert!(
        found(&report).contains(&("key_revoked".into(), "checkpoint_signature".into())),
        "{:?}",
        found(&report)
    );
    assert_eq!(check(&report, "checkpoint_signature")["status"], "fail");
}

#[test]
fn f3_handoff_index_names_outside_the_package_are_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let work = d.join("f3");
    unpack(&d.join("handoff.tar.gz"), &work);
    reindex_and_pack(&work, &d.join("scratch.tar.gz"));
    edit_json(&work.join("handoff.json"), |index| {
        for name in ["/etc/hostname", "../../../../../../../../dev/zero"] {
            index["files"][name] = "00".repeat(32).into();
            index["bytes"][name] = 1.into();
        }
    });
    pack_as_is(&work, &d.join("f3.tar.gz"));
    let (code, report) =
        verify_within_a_minute(d, &["f3.tar.gz", "--trust-root", "trust-roots.json"]);
    assert_eq!((code, report["verdict"].as_str()), (1, Some("FAILED")));
    let unsafe_names: Vec<_> = found(&report)
        .into_iter()
        .filter(|f| *f == ("index_path_unsafe".into(), "package_contents".into()))
        .collect();
    assert_eq!(unsafe_names.len(), 2, "{report:#}");
    let detail = check(&report, "package_contents")["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.contains("\"/etc/hostname\", which is unsafe (absolute path); it was not opened"),
        "{detail}"
    );
    if let Ok(bytes) = std::fs::read("/etc/hostname") {
        let digest = wormvault::hashing::sha256_hex(&bytes);
        assert!(
            !report.to_string().contains(&digest),
            "the local file's digest leaked"
        );
    }
}

#[test]
fn f4_handoff_extraction_is_capped_whatever_the_index_declares() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let work = d.join("f4");
    unpack(&d.join("handoff.tar.gz"), &work);
    // 200 MiB of zeros, honestly declared in the (unsigned) index: the package stays small.
    let big = 200usize << 20;
    let mut zeros = std::fs::File::create(work.join("zeros.bin")).unwrap();
    for _ in 0..(big >> 20) {
        zeros.write_all(&[0u8; 1 << 20]).unwrap();
    }
    drop(zeros);
    reindex_and_pack(&work, &d.join("f4.tar.gz"));
    let size = std::fs::metadata(d.join("f4.tar.gz")).unwrap().len();
    assert!(size < 1 << 20, "{size}");
    let output = wormvault(
        d,
        &[
            "handoff",
            "verify",
            "f4.tar.gz",
            "--trust-root",
            "trust-roots.json",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let ceiling = size * 100 + (64 << 20);
    assert!(
        text(&output).contains(&format!(
            "\"zeros.bin\" is {big} bytes, over the {ceiling}-byte limit"
        )) && text(&output).contains("--max-extract-bytes"),
        "{}",
        text(&output)
    );
    // Raised by the auditor, extraction goes on — and the file outside the layout fails it.
    let (code, report, _) = verify(
        d,
        &d.join("f4.tar.gz"),
        &[
            "--trust-root",
            "trust-roots.json",
            "--max-extract-bytes",
            "400000000",
        ],
    );
    assert_eq!((code, report["verdict"].as_str()), (1, Some("FAILED")));
    assert!(
        found(&report).contains(&("package_file_unexpected".into(), "package_contents".into()))
    );
}

#[test]
fn f2_handoff_stored_report_check_details_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let package = forge(d, "f2", |w| {
        let path = w.join("report/verification.json");
        edit_json(&path, |r| {
            for c in r["checks"].as_array_mut().unwrap() {
                if c["name"] == "retention_minimum" {
                    let detail = c["detail"].as_str().unwrap().replace(
                        "locked by wormvault only — the storage does not enforce it",
                        "enforced by the store",
                    );
                    c["detail"] = detail.into();
                }
            }
        });
        let report: wormvault::handoff::HandoffReport =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::write(
            w.join("report/report.html"),
            wormvault::handoff_html::render(&wormvault::handoff::view(&report)),
        )
        .unwrap();
    });
    let (code, report, _) = verify(d, &package, &["--trust-root", "trust-roots.json"]);
    assert_eq!((code, report["verdict"].as_str()), (1, Some("FAILED")));
    assert_eq!(
        found(&report),
        vec![(
            "stored_report_mismatch".to_string(),
            "stored_reports".to_string()
        )]
    );
    let detail = check(&report, "stored_reports")["detail"].as_str().unwrap();
    assert!(
        detail.contains("checks[retention_minimum].detail"),
        "{detail}"
    );
    // The stored verdict must be the recomputed one.
    let package = forge(d, "f2v", |w| {
        edit_json(&w.join("report/verification.json"), |r| {
            r["verdict"] = "INCOMPLETE".into();
            r["valid"] = false.into();
        });
    });
    let (code, report, _) = verify(d, &package, &["--trust-root", "trust-roots.json"]);
    assert_eq!((code, report["verdict"].as_str()), (1, Some("FAILED")));
    let detail = check(&report, "stored_reports")["detail"].as_str().unwrap();
    assert!(
        detail.contains("says verdict is \"INCOMPLETE\""),
        "{detail}"
    );
}

#[test]
fn f1_handoff_page_from_another_version_is_unchecked_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let package = forge(d, "f1", |w| {
        let path = w.join("report/report.html");
        let html = std::fs::read_to_string(&path).unwrap();
        let edited = html.replace(
            &format!("content=\"wormvault {}\"", env!("CARGO_PKG_VERSION")),
            "content=\"wormvault 0.0.9\"",
        ) + "<p>enforced by the store until 2099</p>";
        assert!(edited.contains("wormvault 0.0.9"));
        std::fs::write(&path, edited).unwrap();
    });
    let (code, report, _) = verify(d, &package, &["--trust-root", "trust-roots.json"]);
    assert_eq!((code, report["verdict"].as_str()), (1, Some("INCOMPLETE")));
    let stored = check(&report, "stored_reports");
    assert_eq!(stored["status"], "unchecked");
    let detail = stored["detail"].as_str().unwrap();
    assert!(
        detail.contains("rendered by wormvault \"0.0.9\"") && detail.contains("NOT checked"),
        "{detail}"
    );
    assert!(found(&report).is_empty());
}

#[test]
fn f5_handoff_files_outside_the_layout_fail_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let package = forge(d, "f5", |w| {
        std::fs::write(
            w.join("AUDITOR-SUMMARY.html"),
            "<h1>VERIFIED until 2099</h1>",
        )
        .unwrap();
        std::fs::write(w.join("audit/notes.txt"), "extra").unwrap();
    });
    let (code, report, _) = verify(d, &package, &["--trust-root", "trust-roots.json"]);
    assert_eq!((code, report["verdict"].as_str()), (1, Some("FAILED")));
    let unexpected: Vec<_> = found(&report)
        .into_iter()
        .filter(|f| *f == ("package_file_unexpected".into(), "package_contents".into()))
        .collect();
    assert_eq!(unexpected.len(), 2, "{report:#}");
    assert!(
        check(&report, "package_contents")["detail"]
            .as_str()
            .unwrap()
            .contains("\"AUDITOR-SUMMARY.html\" is not part of the package layout")
    );
}

#[test]
fn f7a_handoff_tampered_archive_is_failed_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let work = d.join("f7a");
    unpack(&d.join("handoff.tar.gz"), &work);
    // The genuine files, then plan.json a second time.
    let path = d.join("dup.tar.gz");
    let file = std::fs::File::create(&path).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let mut names = files(&work);
    names.sort_by_key(|n| n != "handoff.json");
    for name in &names {
        builder
            .append_path_with_name(work.join(name), name)
            .unwrap();
    }
    builder
        .append_path_with_name(work.join("plan.json"), "plan.json")
        .unwrap();
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap();
    let (code, report, output) = verify(d, &path, &["--trust-root", "trust-roots.json"]);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (1, Some("FAILED")),
        "{}",
        text(&output)
    );
    assert_eq!(
        found(&report),
        vec![(
            "archive_duplicate_entry".to_string(),
            "package_archive".to_string()
        )]
    );
    assert!(
        check(&report, "package_archive")["detail"]
            .as_str()
            .unwrap()
            .contains("\"plan.json\" appears more than once")
    );
    // Nothing was read, so nothing is claimed about the lock either.
    let shown = wormvault(
        d,
        &[
            "handoff",
            "verify",
            path.to_str().unwrap(),
            "--trust-root",
            "trust-roots.json",
        ],
    );
    assert!(
        text(&shown).contains("enforcement unknown: the receipts were not read"),
        "{}",
        text(&shown)
    );
    assert!(
        !text(&shown).contains("the storage does not enforce it"),
        "{}",
        text(&shown)
    );
    // A missing package is still an error (exit 2).
    let output = wormvault(d, &["handoff", "verify", "missing.tar.gz"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

#[test]
fn f7b_handoff_fingerprint_prefix_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let package = readme_session(d);
    let roots: Value =
        serde_json::from_slice(&std::fs::read(d.join("trust-roots.json")).unwrap()).unwrap();
    let fp = roots["trust_roots"][0]["public_key_sha256"]
        .as_str()
        .unwrap()
        .to_uppercase();
    let pinned = format!("SHA256:{fp}");
    let (code, report, output) = verify(d, &package, &["--trusted-fingerprint", &pinned]);
    assert_eq!(code, 0, "{}", text(&output));
    assert_eq!(report["verdict"], "VERIFIED");
    let typed = "SHA256:NOT-HEX";
    let output = wormvault(
        d,
        &[
            "handoff",
            "verify",
            package.to_str().unwrap(),
            "--trusted-fingerprint",
            typed,
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output)
            .contains("--trusted-fingerprint \"SHA256:NOT-HEX\" is not a SHA-256 fingerprint"),
        "{}",
        text(&output)
    );
}

#[test]
fn f7c_handoff_minimum_retention_out_of_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let package = readme_session(d);
    let output = wormvault(
        d,
        &[
            "handoff",
            "verify",
            package.to_str().unwrap(),
            "--trust-root",
            "trust-roots.json",
            "--minimum-retention-days",
            "100000000",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("100000000 days is out of range: at most 365000 days"));
    assert!(!text(&output).contains("panicked"));
    // Through the library, with no CLI bound: a finding, never a panic.
    let options = wormvault::handoff::VerifyOptions {
        pins: wormvault::handoff::Pins::from_files(&[d.join("trust-roots.json")]).unwrap(),
        minimum_retention_days: u32::MAX,
        ..Default::default()
    };
    let (report, _) = wormvault::handoff::verify(&package, &options).unwrap();
    assert_eq!(report.verdict, wormvault::handoff::Verdict::Failed);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == "retention_minimum_out_of_range" && f.check == "retention_minimum")
    );
}

#[test]
fn f_handoff_genuine_package_still_verifies_with_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let package = readme_session(d);
    let (code, report, _) = verify(d, &package, &["--trust-root", "trust-roots.json"]);
    assert_eq!((code, report["verdict"].as_str()), (0, Some("VERIFIED")));
    assert!(kinds(&report).is_empty());
    assert_eq!(check(&report, "stored_reports")["status"], "pass");
    ok(wormvault(
        d,
        &[
            "handoff",
            "verify",
            package.to_str().unwrap(),
            "--trust-root",
            "trust-roots.json",
        ],
    ));
}
