//! Inputs given by path that are not regular files. Documents and logs must be regular files
//! (refused at once otherwise: the `input:` cases of the hostile matrix); a secret key file may
//! be a pipe (`--key-file <(…)`), as a secret is better never written to disk. And `handoff
//! verify --online` against a store that cannot be reached says the store was not checked — it
//! is not a FAILED verdict on the evidence.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::forgery::{readme_session, text, verify};

fn fixture(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cavra")
        .join(path)
}

/// `--key-file /dev/stdin` fed by a pipe: the HMAC key is read from it and the log verifies.
#[test]
fn audit_key_file_may_be_a_pipe() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .args(["audit", "verify", "--log"])
        .arg(fixture("audit-hmac.jsonl"))
        .args(["--key-file", "/dev/stdin", "--key-id", "audit-key-1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("valid: 25 records"),
        "{}",
        text(&output)
    );
}

/// `--online` naming a store the package's receipts do not describe: wormvault refuses to
/// connect, so the online comparison did not run. The verdict is INCOMPLETE (exit 1, not
/// VERIFIED) with `store_matches_receipts` unchecked, saying the store was not contacted —
/// never FAILED, which would call genuine evidence bad. (A store that refuses the connection
/// takes the same path: `unchecked`, "the store could not be reached".)
#[test]
fn handoff_online_store_not_contacted_is_unchecked_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let package = readme_session(d);
    let (code, report, _) = verify(d, &package, &["--trust-root", "trust-roots.json"]);
    assert_eq!(code, 0, "{report:#}");
    let elsewhere = format!("file://{}/other-vault", d.display());
    let (code, report, output) = verify(
        d,
        &package,
        &["--trust-root", "trust-roots.json", "--online", &elsewhere],
    );
    assert_eq!(code, 1, "{}", text(&output));
    assert_eq!(report["verdict"], "INCOMPLETE", "{report:#}");
    let checks = report["checks"].as_array().unwrap();
    let check = checks
        .iter()
        .find(|c| c["name"] == "store_matches_receipts")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(check["status"], "unchecked", "{report:#}");
    let detail = check["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("the store was not contacted") && detail.contains("refusing to connect"),
        "{report:#}"
    );
    assert!(checks.iter().all(|c| c["status"] != "fail"), "{report:#}");
    assert!(!d.join("other-vault").exists());
}
