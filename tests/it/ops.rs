//! CLI tests for the operating commands — `wormvault drill tamper`, `drill recovery` and
//! `status` — against the real binary and local WORM vaults in temp dirs: a bundle is created
//! with a generated key, archived with an HMAC-signed audit log, and then drilled and checked,
//! including the failing cases (uncaught tamper, broken baseline, tampered vault object, stale
//! evidence, missing receipts, unreachable store, short retention), plus status and recovery on
//! a LocalStack Object Lock bucket (skipped with a reason outside CI when LocalStack is down).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_wormvault");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

fn wormvault(args: &[&str]) -> Run {
    wormvault_env(args, &[])
}

fn wormvault_env(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let output = Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run wormvault");
    let run = Run {
        code: output
            .status
            .code()
            .expect("exited normally, not by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "wormvault panicked on {args:?}: {}",
        run.stderr
    );
    run
}

fn ok(args: &[&str]) -> Run {
    let run = wormvault(args);
    assert_eq!(
        run.code, 0,
        "{args:?} failed:\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A session archived to a local vault: keys, bundle, HMAC-signed audit log, receipts.
struct Archived {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    log: PathBuf,
    hmac: PathBuf,
    root: PathBuf,
    receipts: PathBuf,
    vault: PathBuf,
}

impl Archived {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn target(&self) -> String {
        format!("file://{}", self.vault.display())
    }

    /// `retention_days` for the bundle; the archive's minimum is lowered to match when short.
    fn new(retention_days: u32) -> Archived {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        ok(&[
            "keys",
            "generate",
            "--output-dir",
            s(&p("keys")),
            "--key-id",
            "ops-test",
        ]);
        ok(&[
            "keys",
            "trust-root",
            "--public-key",
            s(&p("keys/evidence-ed25519-public.pem")),
            "--key-id",
            "ops-test",
            "--valid-from",
            "2020-01-01T00:00:00+00:00",
            "--output",
            s(&p("keys/root.json")),
        ]);
        std::fs::create_dir_all(p("evidence")).unwrap();
        std::fs::write(
            p("evidence/evidence.json"),
            b"{\"release\": \"1.2.3\", \"checks\": \"passed\"}\n",
        )
        .unwrap();
        std::fs::write(
            p("evidence/pr-attestation.md"),
            b"# PR 42\napproved by security\n",
        )
        .unwrap();
        let days = retention_days.to_string();
        ok(&[
            "bundle",
            "create",
            s(&p("evidence")),
            "--output",
            s(&p("bundle")),
            "--private-key",
            s(&p("keys/evidence-ed25519-private.pem")),
            "--key-id",
            "ops-test",
            "--session-id",
            "release-42",
            "--retention-days",
            &days,
        ]);
        std::fs::write(p("audit.key"), b"audit-hmac-secret\n").unwrap();
        for i in 1..=4 {
            ok(&[
                "audit",
                "append",
                "--log",
                s(&p("audit.jsonl")),
                "--event-type",
                "runtime.decision",
                "--actor",
                &format!("agent-{i}"),
                "--action",
                "write_file",
                "--target",
                "iam/role.tf",
                "--decision",
                "allow",
                "--key-file",
                s(&p("audit.key")),
            ]);
        }
        let vault = p("vault");
        let target = format!("file://{}", vault.display());
        ok(&[
            "archive",
            s(&p("bundle")),
            "--to",
            &target,
            "--audit-log",
            s(&p("audit.jsonl")),
            "--audit-hmac-key-file",
            s(&p("audit.key")),
            "--receipts-out",
            s(&p("receipts.json")),
            "--trust-root",
            s(&p("keys/root.json")),
            "--receipts-key",
            s(&p("keys/evidence-ed25519-private.pem")),
            "--receipts-key-id",
            "ops-test",
            "--minimum-retention-days",
            &retention_days.min(2555).to_string(),
        ]);
        Archived {
            bundle: p("bundle"),
            log: p("audit.jsonl"),
            hmac: p("audit.key"),
            root: p("keys/root.json"),
            receipts: p("receipts.json"),
            vault,
            dir,
        }
    }

    fn status(&self, extra: &[&str]) -> Run {
        let target = self.target();
        let mut args = vec![
            "status",
            "--json",
            "--target",
            &target,
            "--audit-log",
            s(&self.log),
        ];
        // The log's records are HMAC-signed: status checks them only with the key, and blocks
        // evidence it cannot check (issue #15 item 4). Tests that mean "no key" say so.
        let hmac = s(&self.hmac).to_string();
        if !extra
            .iter()
            .any(|a| a.starts_with("--audit-") || *a == "--no-audit-key")
        {
            args.extend(["--audit-key-file", hmac.as_str()]);
        }
        args.extend(extra.iter().filter(|a| **a != "--no-audit-key"));
        wormvault(&args)
    }
}

fn case<'a>(drill: &'a Value, id: &str) -> &'a Value {
    drill["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

fn check<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}"))
}

const BUNDLE_CASES: [(&str, &str, &str); 10] = [
    ("bundle.changed_byte", "file_hash_mismatch", "evidence.json"),
    (
        "bundle.truncated_file",
        "file_size_mismatch",
        "evidence.json",
    ),
    (
        "bundle.extra_file",
        "file_unlisted",
        "drill-unlisted-file.txt",
    ),
    ("bundle.missing_file", "file_missing", "evidence.json"),
    (
        "bundle.manifest_edited",
        "signature_invalid",
        "manifest.json",
    ),
    (
        "bundle.signature_replaced",
        "signature_invalid",
        "manifest.json",
    ),
    (
        "bundle.signature_removed",
        "signature_missing",
        "manifest.json",
    ),
    (
        "bundle.manifest_removed",
        "manifest_missing",
        "manifest.json",
    ),
    (
        "bundle.retention_lowered",
        "retention_below_minimum",
        "retention-policy.json",
    ),
    (
        "bundle.retention_policy_removed",
        "retention_policy_missing",
        "retention-policy.json",
    ),
];

#[test]
fn tamper_drill_catches_and_localises_every_case_without_touching_inputs() {
    let session = Archived::new(2555);
    let log_before = std::fs::read(&session.log).unwrap();
    let manifest_before = std::fs::read(session.bundle.join("manifest.json")).unwrap();
    let evidence = session.path("tamper-drill.json");
    let run = ok(&[
        "drill",
        "tamper",
        "--json",
        "--log",
        s(&session.log),
        "--bundle",
        s(&session.bundle),
        "--trust-root",
        s(&session.root),
        "--audit-key-file",
        s(&session.hmac),
        "--output",
        s(&evidence),
    ]);
    let printed = run.json();
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&evidence).unwrap()).unwrap();
    assert_eq!(
        printed, written,
        "stdout and the evidence file carry the same document"
    );
    assert_eq!(written["schema_version"], "wormvault.drill.tamper.v1");
    assert_eq!(written["passed"], true);
    assert_eq!(written["inputs_unchanged"], true);
    assert_eq!(
        written["inputs"]["audit_log"]["records"], 5,
        "4 decisions + the evidence.archived event"
    );
    assert_eq!(
        written["settings"]["audit_signature_check"],
        "HS256 key id audit-log-hmac"
    );
    assert_eq!(written["summary"]["cases"], 23);
    assert_eq!(written["summary"]["failed"], 0);
    assert_eq!(written["summary"]["not_applicable"], 0);

    for (id, kind, path) in BUNDLE_CASES {
        let c = case(&written, id);
        assert_eq!(
            (
                c["outcome"].as_str(),
                c["caught"].as_bool(),
                c["localised"].as_bool()
            ),
            (Some("pass"), Some(true), Some(true)),
            "{id}: {c}"
        );
        assert_eq!(c["expected"]["kind"], kind, "{id}");
        assert_eq!(c["expected"]["location"], path, "{id}");
        assert_eq!(c["observed"]["verdict"], "invalid", "{id}");
        assert!(
            c["observed"]["kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == kind),
            "{id}: {c}"
        );
        assert_eq!(c["observed"]["location"], path, "{id}");
    }
    // 5 records: the middle record is 3.
    let log_cases = [
        ("audit_log.mutated_record", "chain", "mutation", 3),
        ("audit_log.inserted_record", "chain", "insertion", 3),
        ("audit_log.deleted_record", "chain", "deletion", 3),
        ("audit_log.reordered_records", "chain", "reordering", 3),
        ("audit_log.duplicated_record", "chain", "duplication", 4),
        ("audit_log.malformed_line", "chain", "malformed_line", 3),
        ("audit_log.torn_last_line", "chain", "torn_write", 5),
        (
            "audit_log.truncated_log",
            "chain+checkpoint",
            "truncation",
            5,
        ),
        (
            "audit_log.rewritten_chain",
            "chain+checkpoint",
            "checkpoint_mismatch",
            5,
        ),
        (
            "audit_log.rewritten_chain_signed",
            "chain+signatures",
            "mutation",
            3,
        ),
        ("audit_log.bad_signature", "chain+signatures", "mutation", 3),
    ];
    for (id, verification, kind, record) in log_cases {
        let c = case(&written, id);
        assert_eq!(c["outcome"], "pass", "{id}: {c}");
        assert_eq!(c["verification"], verification, "{id}");
        assert_eq!(c["observed"]["kinds"][0], kind, "{id}: {c}");
        assert_eq!(
            c["observed"]["location"],
            format!("record {record}"),
            "{id}: {c}"
        );
    }
    for baseline in ["bundle.baseline", "audit_log.baseline"] {
        assert_eq!(case(&written, baseline)["outcome"], "pass");
        assert_eq!(case(&written, baseline)["observed"]["verdict"], "valid");
    }
    // The inputs are byte-for-byte what they were, and their digests are recorded.
    assert_eq!(std::fs::read(&session.log).unwrap(), log_before);
    assert_eq!(
        std::fs::read(session.bundle.join("manifest.json")).unwrap(),
        manifest_before
    );
    assert_eq!(
        written["inputs"]["audit_log"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );

    // Evidence is never overwritten.
    let again = wormvault(&[
        "drill",
        "tamper",
        "--log",
        s(&session.log),
        "--bundle",
        s(&session.bundle),
        "--trust-root",
        s(&session.root),
        "--audit-key-file",
        s(&session.hmac),
        "--output",
        s(&evidence),
    ]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("never overwritten"),
        "{}",
        again.stderr
    );
}

#[test]
fn tamper_drill_fails_when_a_tamper_goes_uncaught() {
    let session = Archived::new(2555);
    // The log is HMAC-signed, but no audit key is given: forged signatures cannot be caught.
    let evidence = session.path("uncaught.json");
    let run = wormvault(&[
        "drill",
        "tamper",
        "--json",
        "--log",
        s(&session.log),
        "--bundle",
        s(&session.bundle),
        "--trust-root",
        s(&session.root),
        "--output",
        s(&evidence),
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let drill = run.json();
    assert_eq!(drill["passed"], false);
    assert_eq!(drill["summary"]["failed"], 2);
    for id in [
        "audit_log.bad_signature",
        "audit_log.rewritten_chain_signed",
    ] {
        let c = case(&drill, id);
        assert_eq!(c["outcome"], "not_caught", "{c}");
        assert_eq!(c["caught"], false);
        assert_eq!(c["observed"]["verdict"], "valid");
        assert!(
            c["reason"].as_str().unwrap().contains("no key was given"),
            "{c}"
        );
    }
    // Everything else was still caught; the evidence file was written for the failed drill too.
    assert_eq!(case(&drill, "audit_log.deleted_record")["outcome"], "pass");
    assert!(evidence.exists());
}

#[test]
fn tamper_drill_on_a_bundle_that_already_fails_says_why() {
    let session = Archived::new(2555);
    // A copy of the bundle whose evidence file no longer matches the manifest.
    let broken = session.path("broken-bundle");
    std::fs::create_dir_all(&broken).unwrap();
    for entry in std::fs::read_dir(&session.bundle).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), broken.join(entry.file_name())).unwrap();
    }
    std::fs::write(broken.join("evidence.json"), b"{\"release\": \"6.6.6\"}\n").unwrap();
    let run = wormvault(&[
        "drill",
        "tamper",
        "--json",
        "--log",
        s(&session.log),
        "--bundle",
        s(&broken),
        "--trust-root",
        s(&session.root),
        "--audit-key-file",
        s(&session.hmac),
        "--output",
        s(&session.path("broken.json")),
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let drill = run.json();
    assert_eq!(drill["passed"], false);
    let baseline = case(&drill, "bundle.baseline");
    assert_eq!(baseline["outcome"], "not_caught");
    assert_eq!(baseline["observed"]["verdict"], "invalid");
    assert!(
        baseline["observed"]["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "file_hash_mismatch"),
        "{baseline}"
    );
    assert!(
        baseline["reason"]
            .as_str()
            .unwrap()
            .contains("untampered copy does not verify"),
        "{baseline}"
    );
    for (id, _, _) in BUNDLE_CASES {
        let c = case(&drill, id);
        assert_eq!(c["outcome"], "inconclusive", "{id}: {c}");
        assert!(
            c["reason"]
                .as_str()
                .unwrap()
                .contains("already fails verification"),
            "{c}"
        );
    }
    // The audit-log half is unaffected.
    assert_eq!(case(&drill, "audit_log.mutated_record")["outcome"], "pass");
    assert_eq!(
        drill["summary"]["failed"], 11,
        "baseline + 10 inconclusive bundle cases"
    );
}

#[test]
fn recovery_drill_restores_identical_files() {
    let session = Archived::new(2555);
    let restored = session.path("restored");
    let report = session.path("recovery.json");
    let run = ok(&[
        "drill",
        "recovery",
        "--json",
        "--target",
        &session.target(),
        "--receipts",
        s(&session.receipts),
        "--output-dir",
        s(&restored),
        "--trust-root",
        s(&session.root),
        "--report",
        s(&report),
    ]);
    let drill = run.json();
    assert_eq!(
        drill,
        serde_json::from_str::<Value>(&std::fs::read_to_string(&report).unwrap()).unwrap()
    );
    assert_eq!(drill["schema_version"], "wormvault.drill.recovery.v1");
    assert_eq!(drill["passed"], true);
    assert_eq!(drill["identical"], true);
    assert_eq!(drill["bundle_digest_matches"], true);
    assert_eq!(drill["bundle"]["valid"], true);
    assert_eq!(drill["bundle"]["signature_verified"], true);
    assert_eq!(drill["bundle"]["signature_key_id"], "ops-test");
    assert_eq!(drill["files"].as_array().unwrap().len(), 4);
    assert!(drill["problems"].as_array().unwrap().is_empty());
    assert_eq!(drill["receipts_signature"]["verified"], true);
    assert_eq!(drill["receipts_signature"]["detail"], "signed by ops-test");
    // Byte-for-byte the bundle that was archived.
    for name in [
        "evidence.json",
        "pr-attestation.md",
        "retention-policy.json",
        "manifest.json",
    ] {
        assert_eq!(
            std::fs::read(restored.join(name)).unwrap(),
            std::fs::read(session.bundle.join(name)).unwrap(),
            "{name}"
        );
    }
    // The destination must be fresh.
    let again = wormvault(&[
        "drill",
        "recovery",
        "--target",
        &session.target(),
        "--receipts",
        s(&session.receipts),
        "--output-dir",
        s(&restored),
        "--trust-root",
        s(&session.root),
    ]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    // Receipts edited after signing: the objects still restore, but the reference is forged.
    let edited = session.path("edited-receipts.json");
    let mut receipts: Value =
        serde_json::from_str(&std::fs::read_to_string(&session.receipts).unwrap()).unwrap();
    receipts["plan_sha256"] = Value::from("0".repeat(64));
    std::fs::write(&edited, serde_json::to_string(&receipts).unwrap()).unwrap();
    let run = wormvault(&[
        "drill",
        "recovery",
        "--json",
        "--target",
        &session.target(),
        "--receipts",
        s(&edited),
        "--output-dir",
        s(&session.path("restored-2")),
        "--trust-root",
        s(&session.root),
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let drill = run.json();
    assert_eq!(
        (drill["passed"].as_bool(), drill["identical"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(drill["receipts_signature"]["verified"], false);
    assert!(
        drill["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("receipts signature does not verify"),
        "{drill}"
    );
}

#[test]
fn recovery_drill_reports_a_tampered_vault_object() {
    use std::os::unix::fs::PermissionsExt;
    let session = Archived::new(2555);
    let receipts: Value =
        serde_json::from_str(&std::fs::read_to_string(&session.receipts).unwrap()).unwrap();
    let key = receipts["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "evidence.json")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let object = session.vault.join(&key);
    // The vault commits files read-only; an attacker with filesystem access can still chmod.
    assert!(std::fs::metadata(&object).unwrap().permissions().readonly());
    std::fs::set_permissions(&object, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(
        &object,
        b"{\"release\": \"1.2.3\", \"checks\": \"FAILED\"}\n",
    )
    .unwrap();

    let run = wormvault(&[
        "drill",
        "recovery",
        "--json",
        "--target",
        &session.target(),
        "--receipts",
        s(&session.receipts),
        "--output-dir",
        s(&session.path("restored")),
        "--trust-root",
        s(&session.root),
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let drill = run.json();
    assert_eq!(drill["passed"], false);
    assert_eq!(drill["identical"], false);
    let file = drill["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "evidence.json")
        .unwrap();
    assert_eq!(file["matches_receipt"], false);
    assert_eq!(drill["bundle"]["valid"], false);
    assert!(
        drill["bundle"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "file_hash_mismatch" && f["path"] == "evidence.json")
    );
    let problems: Vec<&str> = drill["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("evidence.json (object ") && p.contains("the receipt says")),
        "{problems:?}"
    );
    // Untouched objects still match.
    let manifest = drill["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "manifest.json")
        .unwrap();
    assert_eq!(manifest["matches_receipt"], true);
}

const CHECKS: [&str; 6] = [
    "store_health",
    "retention_posture",
    "evidence_freshness",
    "export_readiness",
    "immutable_storage",
    "dashboard_visibility",
];

#[test]
fn status_is_ready_on_a_fresh_archive_and_degrades_with_stale_evidence() {
    let session = Archived::new(2555);
    let receipts = s(&session.receipts).to_string();
    // A local vault: every check is ready except immutable_storage, which is degraded — the
    // lock is enforced by wormvault only (issue #14 item 6), so the exit code is 1.
    let run = session.status(&["--receipts", &receipts]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let status = run.json();
    assert_eq!(status["status"], "degraded");
    let names: Vec<&str> = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, CHECKS);
    for name in CHECKS {
        let expected = if name == "immutable_storage" {
            "degraded"
        } else {
            "ready"
        };
        assert_eq!(
            check(&status, name)["state"],
            expected,
            "{name}: {}",
            check(&status, name)
        );
    }
    assert!(
        check(&status, "immutable_storage")["reason"]
            .as_str()
            .unwrap()
            .contains("locked by wormvault only — the storage does not enforce it")
    );
    assert_eq!(status["summary"]["ready"], 5);
    assert_eq!(check(&status, "evidence_freshness")["details"]["record"], 5);
    assert_eq!(
        check(&status, "immutable_storage")["details"]["preflight_enforcement"],
        "tool"
    );
    assert_eq!(
        check(&status, "dashboard_visibility")["details"]["objects_checked"],
        4
    );
    assert!(
        check(&status, "retention_posture")["details"]["shortest_retention_days"]
            .as_i64()
            .unwrap()
            >= 2555
    );
    assert_eq!(check(&status, "export_readiness")["details"]["records"], 5);
    assert_eq!(
        check(&status, "evidence_freshness")["details"]["log_signatures_checked"],
        true
    );

    // Without the audit key the signed records cannot be checked: freshness is blocked, since
    // a chain rewritten under another key would pass (issue #15 item 4).
    let run = session.status(&["--receipts", &receipts, "--no-audit-key"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let status = run.json();
    assert_eq!(status["status"], "blocked");
    let freshness = check(&status, "evidence_freshness");
    assert_eq!(freshness["state"], "blocked");
    assert!(
        freshness["reason"]
            .as_str()
            .unwrap()
            .contains("could not be checked"),
        "{freshness}"
    );

    // A wrong key blocks freshness, since the archived-evidence events can no longer be trusted.
    let wrong = session.path("wrong.key");
    std::fs::write(&wrong, b"not-the-audit-key\n").unwrap();
    let run = session.status(&["--receipts", &receipts, "--audit-key-file", s(&wrong)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let status = run.json();
    assert_eq!(status["status"], "blocked");
    let freshness = check(&status, "evidence_freshness");
    assert_eq!(freshness["state"], "blocked");
    assert!(
        freshness["reason"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{freshness}"
    );
    assert!(!run.stdout.contains("not-the-audit-key"));

    // A zero-hour window: the same evidence is now too old.
    let run = session.status(&["--receipts", &receipts, "--freshness-hours", "0"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let status = run.json();
    assert_eq!(status["status"], "degraded");
    let freshness = check(&status, "evidence_freshness");
    assert_eq!(freshness["state"], "degraded");
    assert!(
        freshness["reason"]
            .as_str()
            .unwrap()
            .contains("older than the 0-hour window"),
        "{freshness}"
    );
    assert_eq!(status["summary"]["degraded"], 2);
    assert_eq!(status["summary"]["ready"], 4);

    // Human output lists every check.
    let target = session.target();
    let text = wormvault(&[
        "status",
        "--target",
        &target,
        "--audit-log",
        s(&session.log),
        "--receipts",
        &receipts,
        "--audit-key-file",
        s(&session.hmac),
    ]);
    assert_eq!(
        text.code, 1,
        "degraded: a local vault is locked by wormvault only"
    );
    assert!(
        text.stdout.contains("locked by wormvault only"),
        "{}",
        text.stdout
    );
    for name in CHECKS {
        assert!(text.stdout.contains(name), "{}", text.stdout);
    }
}

#[test]
fn status_degrades_when_the_last_archived_evidence_is_old() {
    let session = Archived::new(2555);
    // A log whose only evidence.archived event is years old.
    let old_log = session.path("old-audit.jsonl");
    ok(&[
        "audit",
        "append",
        "--log",
        s(&old_log),
        "--event-type",
        "evidence.archived",
        "--actor",
        "wormvault",
        "--action",
        "archive",
        "--target",
        "file:///old",
        "--decision",
        "archived",
        "--created-at",
        "2024-01-02T03:04:05+00:00",
        "--metadata",
        "{\"retain_until\": \"2031-01-01T03:04:05+00:00\", \"receipts_sha256\": \"00\"}",
    ]);
    let target = session.target();
    let run = wormvault(&[
        "status",
        "--json",
        "--target",
        &target,
        "--audit-log",
        s(&old_log),
    ]);
    assert_eq!(run.code, 1);
    let status = run.json();
    assert_eq!(status["status"], "degraded");
    let freshness = check(&status, "evidence_freshness");
    assert_eq!(freshness["state"], "degraded");
    assert_eq!(
        freshness["details"]["last_archived_at"],
        "2024-01-02T03:04:05Z"
    );
    assert!(
        freshness["reason"]
            .as_str()
            .unwrap()
            .contains("older than the 24-hour window"),
        "{freshness}"
    );
    // Without receipts the retention comes from that event: 2556 days ≥ 2555.
    let retention = check(&status, "retention_posture");
    assert_eq!(retention["state"], "ready", "{retention}");
    assert_eq!(retention["details"]["source"], "audit log");
    assert_eq!(check(&status, "dashboard_visibility")["state"], "unknown");
}

#[test]
fn status_blocks_when_receipts_are_missing() {
    let session = Archived::new(2555);
    let missing = session.path("no-such-receipts.json");
    let run = session.status(&["--receipts", s(&missing)]);
    assert_eq!(run.code, 1);
    let status = run.json();
    assert_eq!(status["status"], "blocked");
    let visibility = check(&status, "dashboard_visibility");
    assert_eq!(visibility["state"], "blocked");
    assert!(
        visibility["reason"]
            .as_str()
            .unwrap()
            .contains("missing or unreadable"),
        "{visibility}"
    );
    assert!(
        visibility["reason"]
            .as_str()
            .unwrap()
            .contains("no-such-receipts.json"),
        "{visibility}"
    );
    assert_eq!(check(&status, "store_health")["state"], "ready");
    assert_eq!(check(&status, "evidence_freshness")["state"], "ready");

    // Receipts present, but an object removed from the vault behind wormvault's back.
    let receipts: Value =
        serde_json::from_str(&std::fs::read_to_string(&session.receipts).unwrap()).unwrap();
    let key = receipts["receipts"][0]["key"].as_str().unwrap().to_string();
    std::fs::remove_file(session.vault.join(&key)).unwrap();
    let run = session.status(&["--receipts", s(&session.receipts)]);
    assert_eq!(run.code, 1);
    let status = run.json();
    let visibility = check(&status, "dashboard_visibility");
    assert_eq!(visibility["state"], "blocked");
    assert_eq!(
        visibility["reason"],
        format!("missing {key}: receipted but not stored")
    );
}

#[test]
fn status_blocks_when_the_store_is_unreachable() {
    let session = Archived::new(2555);
    let not_a_dir = session.path("not-a-directory");
    std::fs::write(&not_a_dir, b"plain file").unwrap();
    let target = format!("file://{}", not_a_dir.display());
    let receipts = s(&session.receipts).to_string();
    let run = wormvault(&[
        "status",
        "--json",
        "--target",
        &target,
        "--audit-log",
        s(&session.log),
        "--receipts",
        &receipts,
    ]);
    assert_eq!(run.code, 1);
    let status = run.json();
    assert_eq!(status["status"], "blocked");
    let health = check(&status, "store_health");
    assert_eq!(health["state"], "blocked");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("is not a directory"),
        "{health}"
    );
    assert_eq!(health["details"]["failed_checks"][0], "vault_directory");
    assert_eq!(check(&status, "immutable_storage")["state"], "blocked");
    let visibility = check(&status, "dashboard_visibility");
    assert_eq!(visibility["state"], "blocked");
    assert!(
        visibility["reason"]
            .as_str()
            .unwrap()
            .contains("are for target"),
        "{visibility}"
    );
}

#[test]
fn status_blocks_when_retention_is_below_the_minimum() {
    // One year: the plan rounds retention up to whole years (retention::retain_until).
    let session = Archived::new(365);
    let receipts = s(&session.receipts).to_string();
    let run = session.status(&["--receipts", &receipts]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let status = run.json();
    assert_eq!(status["status"], "blocked");
    let retention = check(&status, "retention_posture");
    assert_eq!(retention["state"], "blocked", "{retention}");
    assert!(
        retention["reason"]
            .as_str()
            .unwrap()
            .contains("below the 2555-day minimum"),
        "{retention}"
    );
    let days = retention["details"]["shortest_retention_days"]
        .as_i64()
        .unwrap();
    assert!((365..=366).contains(&days), "{days}");
    // The same archive against its own 365-day minimum is ready.
    let run = session.status(&["--receipts", &receipts, "--minimum-retention-days", "365"]);
    assert_eq!(
        run.code, 1,
        "immutable_storage is degraded on a local vault: {}",
        run.stdout
    );
    assert_eq!(check(&run.json(), "retention_posture")["state"], "ready");
}

#[test]
fn status_refuses_to_print_anything_that_looks_like_a_secret() {
    let session = Archived::new(2555);
    // A target path that embeds a Slack token ends up in every reason.
    let token = format!("xoxb-{}-{}", "123456789012", "abcdefghijkl");
    let leaky = session.path(&token);
    std::fs::create_dir_all(&leaky).unwrap();
    let target = format!("file://{}", leaky.display());
    for json in [true, false] {
        let mut args = vec![
            "status",
            "--target",
            &target,
            "--audit-log",
            s(&session.log),
        ];
        if json {
            args.push("--json");
        }
        let run = wormvault(&args);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stdout.is_empty(), "nothing printed: {}", run.stdout);
        assert!(run.stderr.contains("looks like a secret"), "{}", run.stderr);
        assert!(run.stderr.contains("Slack token"), "{}", run.stderr);
        assert!(
            !run.stderr.contains("abcdefghijkl"),
            "the value itself is never echoed: {}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_recovery_on_an_s3_object_lock_bucket() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::s3::bucket_with(&s3.client, support::s3::FULL).await;
    let session = Archived::new(2555);
    let env = [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", support::S3_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", support::S3_SECRET_KEY),
        ("AWS_REGION", support::S3_REGION),
    ];
    let target = format!("s3://{bucket}/ops");
    let receipts = session.path("receipts-s3.json");
    let run = wormvault_env(
        &[
            "archive",
            s(&session.bundle),
            "--to",
            &target,
            "--audit-log",
            s(&session.log),
            "--audit-hmac-key-file",
            s(&session.hmac),
            "--receipts-out",
            s(&receipts),
            "--trust-root",
            s(&session.root),
        ],
        &env,
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let run = wormvault_env(
        &[
            "status",
            "--json",
            "--target",
            &target,
            "--audit-log",
            s(&session.log),
            "--receipts",
            s(&receipts),
            "--audit-key-file",
            s(&session.hmac),
        ],
        &env,
    );
    // Every check passes but immutable_storage: the bucket enforces its locks, but the audit
    // log is a local JSONL file anyone who can write it can roll back (review 32).
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let status = run.json();
    assert_eq!(status["status"], "degraded");
    assert_eq!(status["summary"]["ready"], 5, "{status:#}");
    assert_eq!(check(&status, "immutable_storage")["state"], "degraded");
    assert_eq!(
        check(&status, "immutable_storage")["details"]["audit_log_enforcement"],
        "none"
    );
    assert_eq!(
        check(&status, "immutable_storage")["details"]["preflight_enforcement"],
        "store"
    );
    assert_eq!(
        check(&status, "evidence_freshness")["details"]["record"],
        6,
        "the S3 archive event follows the local one"
    );
    assert_eq!(
        check(&status, "dashboard_visibility")["details"]["objects_checked"],
        4
    );

    // The local vault's receipts do not describe this bucket.
    let run = wormvault_env(
        &[
            "status",
            "--json",
            "--target",
            &target,
            "--audit-log",
            s(&session.log),
            "--receipts",
            s(&session.receipts),
        ],
        &env,
    );
    assert_eq!(run.code, 1);
    let visibility = run.json()["checks"][5].clone();
    assert_eq!(
        (visibility["name"].as_str(), visibility["state"].as_str()),
        (Some("dashboard_visibility"), Some("blocked"))
    );

    let run = wormvault_env(
        &[
            "drill",
            "recovery",
            "--json",
            "--target",
            &target,
            "--receipts",
            s(&receipts),
            "--output-dir",
            s(&session.path("restored-s3")),
            "--trust-root",
            s(&session.root),
        ],
        &env,
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let drill = run.json();
    assert_eq!(
        (drill["passed"].as_bool(), drill["identical"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(
        drill["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["version_id"].is_string()),
        "S3 restores the receipted versions"
    );
}
