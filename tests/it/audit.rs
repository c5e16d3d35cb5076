//! Audit log and readiness, end to end through the real binary: CAVRA test vectors and the
//! 25-record fixture, one tamper test per failure kind (localised, with expected vs found),
//! concurrent appenders, torn tails, checkpoints / proofs / consistency / prune round trips,
//! exports and redaction, alerts, Ed25519 records against trust roots, interop of checkpoints
//! and Merkle proofs with the independent `signed_note` and `tlog_tiles` crates, property tests,
//! and readiness packets (both shared packets, each check weakened, malformed input).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{Value, json};
use wormvault::audit::checkpoint::{self, CheckpointKey};
use wormvault::audit::merkle;
use wormvault::audit::{Checkpoint, NewRecord, SignatureCheck, Signer, VerifyOptions};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cavra");

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wormvault"));
    command.env_remove("WORMVAULT_LOG");
    command
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run wormvault")
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(env.path("hmac.key"), "k-secret\n").unwrap();
        std::fs::write(env.path("secret.key"), "secret").unwrap();
        // The fixture private key, with the 0600 mode private keys must have.
        let key = env.path("signing.pem");
        std::fs::copy(
            format!("{FIXTURES}/keys/evidence-ed25519-private.pem"),
            &key,
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A log of `n` HMAC-signed records (key file hmac.key, key id kid), built via the library.
    fn log(&self, name: &str, n: u32) -> PathBuf {
        let path = self.path(name);
        let signer = Signer::Hmac {
            key: b"k-secret".to_vec(),
            key_id: "kid".into(),
        };
        for i in 1..=n {
            wormvault::audit::append(&path, &event(i), &signer).unwrap();
        }
        path
    }

    fn verify(&self, logs: &[&Path], extra: &[&str]) -> (i32, Value) {
        let key = self.path("hmac.key");
        let mut args = vec![
            "--json",
            "audit",
            "verify",
            "--key-file",
            s(&key),
            "--key-id",
            "kid",
        ];
        for log in logs {
            args.extend(["--log", s(log)]);
        }
        args.extend(extra);
        let output = run(&args);
        (code(&output), stdout_json(&output))
    }
}

fn event(i: u32) -> NewRecord {
    let mut metadata = serde_json::Map::new();
    metadata.insert("n".into(), json!(i));
    metadata.insert("note".into(), json!(format!("caf\u{e9} {i} \u{1F600}")));
    NewRecord {
        event_type: "runtime.decision".into(),
        actor: format!("agent:{i}"),
        action: "write_file".into(),
        target: format!("iam/role-{i}.tf"),
        decision: "allow".into(),
        tenant_id: Some("tenant-a".into()),
        workspace_id: None,
        evidence_refs: vec![format!("evidence://session-{i}")],
        metadata,
        created_at: Some(format!("2026-07-04T00:00:{:02}+00:00", i % 60)),
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// CAVRA compatibility

#[test]
fn spec_test_vectors_come_out_exactly() {
    let env = Env::new();
    let log = env.path("vectors.jsonl");
    let key = env.path("secret.key");
    let common = [
        "--tenant",
        "tenant-a",
        "--workspace",
        "workspace-prod",
        "--key-file",
        s(&key),
        "--key-id",
        "audit-key-1",
    ];
    let mut first = vec![
        "--json",
        "audit",
        "append",
        "--log",
        s(&log),
        "--event-type",
        "runtime.decision",
        "--actor",
        "agent:claude-code",
        "--action",
        "write_file",
        "--target",
        "iam/admin-role.tf",
        "--decision",
        "require_approval",
        "--evidence-ref",
        "evidence://session-1",
        "--created-at",
        "2026-07-04T00:00:01+00:00",
    ];
    first.extend(common);
    let output = run(&first);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let record = stdout_json(&output);
    assert_eq!(
        record["record_hash"],
        "95d1c19d96c2828e39829f4e0ca1536db8bc6cce4795dce1acb657084cdb8034"
    );
    assert_eq!(
        record["signature"],
        json!({"algorithm": "HS256", "key_id": "audit-key-1", "value": "wTItTEKJQ7rj8wOjmdQ5Q/rRKrPfWQf6BfzF+rjxdRo="})
    );
    let mut second = vec![
        "--json",
        "audit",
        "append",
        "--log",
        s(&log),
        "--event-type",
        "approval.decision",
        "--actor",
        "security-operator",
        "--action",
        "approve",
        "--target",
        "approval-1",
        "--decision",
        "approved",
        "--evidence-ref",
        "evidence://approval-1",
        "--created-at",
        "2026-07-04T00:00:02+00:00",
    ];
    second.extend(common);
    let record = stdout_json(&run(&second));
    assert_eq!(
        record["record_hash"],
        "ca6b4ef4377e096cd87f0f459a8596193c74183afcfd7dcc0de025959929d7e2"
    );
    assert_eq!(
        record["previous_hash"],
        "95d1c19d96c2828e39829f4e0ca1536db8bc6cce4795dce1acb657084cdb8034"
    );
    assert_eq!(
        record["signature"]["value"],
        "BtLUXlMExPZReYSnijbBIOu68PjXptZiMVI0Ar0c9Qs="
    );
    // Stored lines are the spaced, key-sorted JSON CAVRA writes.
    let stored = lines(&log);
    assert!(stored[0].starts_with(r#"{"action": "write_file", "actor": "agent:claude-code", "created_at": "2026-07-04T00:00:01+00:00", "#), "{}", stored[0]);
    assert!(stored[0].contains(r#""previous_hash": null, "record_hash": "95d1c19d"#));
}

#[test]
fn fixture_of_25_records_verifies_in_cavra_shape() {
    let env = Env::new();
    let log = format!("{FIXTURES}/audit-hmac.jsonl");
    let output = run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        &log,
        "--key-file",
        s(&env.path("secret.key")),
        "--key-id",
        "audit-key-1",
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = stdout_json(&output);
    assert_eq!(report["schema_version"], "cavra.audit-log.verification.v1");
    assert_eq!(report["product"], "CAVRA");
    assert_eq!(report["valid"], true);
    assert_eq!(report["record_count"], 25);
    assert_eq!(report["first_sequence"], 1);
    assert_eq!(report["last_sequence"], 25);
    assert_eq!(report["errors"], json!([]));
    assert_eq!(report["signatures_checked"], 25);
    assert_eq!(report["signatures_unchecked"], 0);
    assert_eq!(
        report["last_record_hash"].as_str().unwrap(),
        lines(Path::new(&log))
            .last()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["record_hash"]
                .as_str()
                .unwrap()
                .to_string())
            .unwrap()
    );

    // The key id is part of what is compared: a wrong one fails every record's signature.
    let output = run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        &log,
        "--key-file",
        s(&env.path("secret.key")),
    ]);
    assert_eq!(code(&output), 1);
    let report = stdout_json(&output);
    assert_eq!(report["error_count"], 25);
    assert_eq!(report["errors"][0], "record 1: signature mismatch");
    assert_eq!(report["first_bad_record"]["check"], "signature");
    assert_eq!(report["diagnosis"]["kind"], "key_mismatch");
    // Without a key, signatures are not checked (as in CAVRA) and the chain still verifies.
    let output = run(&["--json", "audit", "verify", "--log", &log]);
    assert_eq!(code(&output), 0);
    assert_eq!(stdout_json(&output)["signatures_checked"], 0);
    assert_eq!(stdout_json(&output)["signatures_unchecked"], 25);
}

#[test]
fn missing_log_is_an_error_not_a_pass() {
    let env = Env::new();
    let output = run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        s(&env.path("absent.jsonl")),
        "--alert-file",
        s(&env.path("alerts.jsonl")),
    ]);
    assert_eq!(code(&output), 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let alert: Value = serde_json::from_str(lines(&env.path("alerts.jsonl"))[0].as_str()).unwrap();
    // A mistyped path is a usage error, not tampering (issue #15 item 5).
    assert_eq!(alert["alert"], "audit_usage_error");
}

#[test]
fn legacy_key_flag_warns_but_works() {
    let env = Env::new();
    let log = format!("{FIXTURES}/audit-hmac.jsonl");
    let output = run(&[
        "audit",
        "verify",
        "--log",
        &log,
        "--key",
        "secret",
        "--key-id",
        "audit-key-1",
    ]);
    assert_eq!(code(&output), 0);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("warning: --key puts the HMAC key in the process list")
    );
    drop(env);
}

/// CAVRA's `--output FILE` on audit-log validation: the result object `--json` prints, written
/// whatever the verdict (exit code unchanged), never over an existing file (refused, exit 2,
/// before the log is read).
#[test]
fn verify_output_writes_the_result_object_whatever_the_verdict_and_never_overwrites() {
    let env = Env::new();
    let log = env.log("log.jsonl", 4);
    let written = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(env.path(name)).unwrap()).unwrap()
    };
    let (exit, printed) = env.verify(&[&log], &["--output", s(&env.path("valid.json"))]);
    assert_eq!(exit, 0, "{printed:#}");
    assert_eq!(written("valid.json"), printed);
    assert_eq!(written("valid.json")["valid"], true);
    // Text output on stdout is unchanged by --output.
    let key = env.path("hmac.key");
    let plain = run(&[
        "audit",
        "verify",
        "--log",
        s(&log),
        "--key-file",
        s(&key),
        "--key-id",
        "kid",
        "--output",
        s(&env.path("text-run.json")),
    ]);
    assert_eq!(code(&plain), 0);
    let stdout = String::from_utf8_lossy(&plain.stdout);
    assert!(!stdout.trim_start().starts_with('{'), "{stdout}");
    assert_eq!(written("text-run.json")["valid"], true);

    let mut content = lines(&log);
    content[1] = content[1].replace("agent:2", "agent:X");
    write_lines(&log, &content);
    let (exit, printed) = env.verify(&[&log], &["--output", s(&env.path("invalid.json"))]);
    assert_eq!(exit, 1, "{printed:#}");
    assert_eq!(written("invalid.json"), printed);
    assert_eq!(written("invalid.json")["valid"], false);

    // An existing file is refused before the log is read, and left as it was.
    std::fs::write(env.path("kept.json"), "mine\n").unwrap();
    let output = run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        s(&env.path("absent.jsonl")),
        "--output",
        s(&env.path("kept.json")),
    ]);
    assert_eq!(code(&output), 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(s(&env.path("kept.json"))) && stderr.contains("already exists"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    assert_eq!(std::fs::read(env.path("kept.json")).unwrap(), b"mine\n");
}

// ---------------------------------------------------------------------------------------------
// Tampering: one test per failure kind, each localising the right record.

fn tampered(env: &Env, edit: impl FnOnce(&mut Vec<String>)) -> (i32, Value) {
    let log = env.log("log.jsonl", 10);
    let mut content = lines(&log);
    edit(&mut content);
    write_lines(&log, &content);
    env.verify(&[&log], &["--alert-file", s(&env.path("alerts.jsonl"))])
}

#[test]
fn tamper_mutation_is_localised() {
    let env = Env::new();
    let (exit, report) = tampered(&env, |l| {
        l[6] = l[6].replace("\"decision\": \"allow\"", "\"decision\": \"deny\"")
    });
    assert_eq!(exit, 1);
    assert_eq!(
        report["errors"],
        json!(
            [
                "record 7: record_hash mismatch",
                "record 7: signature mismatch",
                "record 8: previous_hash mismatch"
            ]
            .iter()
            .take(2)
            .collect::<Vec<_>>()
        )
    );
    let bad = &report["first_bad_record"];
    assert_eq!(
        (
            bad["record"].as_u64(),
            bad["line"].as_u64(),
            bad["check"].as_str()
        ),
        (Some(7), Some(7), Some("record_hash"))
    );
    let stored: Value = serde_json::from_str(&lines(&env.path("log.jsonl"))[6]).unwrap();
    assert_eq!(
        bad["found"],
        format!("\"{}\"", stored["record_hash"].as_str().unwrap())
    );
    assert_ne!(bad["expected"], bad["found"]);
    assert_eq!(report["diagnosis"]["kind"], "mutation");
    assert_eq!(report["diagnosis"]["record"], 7);
    // The alert went to the alert file.
    let alert: Value = serde_json::from_str(lines(&env.path("alerts.jsonl"))[0].as_str()).unwrap();
    assert_eq!(alert["alert"], "audit_integrity_failure");
}

#[test]
fn tamper_deletion_is_localised() {
    let env = Env::new();
    let (exit, report) = tampered(&env, |l| {
        l.remove(3);
    });
    assert_eq!(exit, 1);
    assert_eq!(report["errors"][0], "record 4: sequence mismatch");
    assert_eq!(report["errors"][1], "record 4: previous_hash mismatch");
    assert_eq!(report["first_bad_record"]["expected"], "4");
    assert_eq!(report["first_bad_record"]["found"], "5");
    assert_eq!(report["diagnosis"]["kind"], "deletion");
    assert_eq!(report["diagnosis"]["record"], 4);
}

#[test]
fn tamper_reordering_is_localised() {
    let env = Env::new();
    let (exit, report) = tampered(&env, |l| l.swap(2, 5));
    assert_eq!(exit, 1);
    assert_eq!(report["first_bad_record"]["record"], 3);
    assert_eq!(report["diagnosis"]["kind"], "reordering");
    assert_eq!(report["diagnosis"]["record"], 3);
}

#[test]
fn tamper_duplication_is_localised() {
    let env = Env::new();
    let (exit, report) = tampered(&env, |l| {
        let copy = l[4].clone();
        l.insert(5, copy);
    });
    assert_eq!(exit, 1);
    assert_eq!(report["first_bad_record"]["record"], 6);
    assert_eq!(report["first_bad_record"]["check"], "sequence");
    assert_eq!(report["diagnosis"]["kind"], "duplication");
    assert_eq!(report["diagnosis"]["record"], 6);
}

#[test]
fn tamper_insertion_is_localised() {
    let env = Env::new();
    // A well-formed, correctly signed record that links to record 5, spliced in after it.
    let fork = env.path("fork.jsonl");
    let log = env.log("log.jsonl", 10);
    write_lines(&fork, &lines(&log)[..5]);
    let signer = Signer::Hmac {
        key: b"k-secret".to_vec(),
        key_id: "kid".into(),
    };
    wormvault::audit::append(&fork, &event(99), &signer).unwrap();
    let forged = lines(&fork)[5].clone();
    let mut content = lines(&log);
    content.insert(5, forged);
    write_lines(&log, &content);
    let (exit, report) = env.verify(&[&log], &[]);
    assert_eq!(exit, 1);
    assert_eq!(report["first_bad_record"]["record"], 7);
    assert_eq!(report["first_bad_record"]["line"], 7);
    assert_eq!(report["diagnosis"]["kind"], "insertion");
    assert_eq!(report["diagnosis"]["record"], 6);
}

#[test]
fn tamper_truncation_is_caught_by_a_checkpoint() {
    let env = Env::new();
    let log = env.log("log.jsonl", 12);
    let cp = env.path("cp-12.note");
    let output = run(&[
        "audit",
        "checkpoint",
        "--log",
        s(&log),
        "--origin",
        "example.com/audit",
        "--signing-key",
        s(&env.path("signing.pem")),
        "--key-file",
        s(&env.path("hmac.key")),
        "--key-id",
        "kid",
        "--output",
        s(&cp),
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let content = lines(&log);
    write_lines(&log, &content[..9]);
    let public = format!("{FIXTURES}/keys/evidence-ed25519-public.pem");
    let (exit, report) = env.verify(
        &[&log],
        &["--checkpoint", s(&cp), "--checkpoint-key", &public],
    );
    assert_eq!(exit, 1, "{report}");
    // The truncated log is a valid chain by itself; only the checkpoint shows what is missing.
    assert_eq!(report["first_bad_record"], Value::Null);
    assert_eq!(report["diagnosis"]["kind"], "truncation");
    assert_eq!(report["diagnosis"]["record"], 10);
    assert!(
        report["errors"][0]
            .as_str()
            .unwrap()
            .contains("commits to 12 records but the log has 9"),
        "{report}"
    );
}

#[test]
fn rewrite_of_whole_chain_is_caught_by_a_checkpoint() {
    let env = Env::new();
    let log = env.log("log.jsonl", 8);
    let cp = env.path("cp.note");
    assert_eq!(
        code(&run(&[
            "audit",
            "checkpoint",
            "--log",
            s(&log),
            "--origin",
            "example.com/audit",
            "--signing-key",
            s(&env.path("signing.pem")),
            "--key-file",
            s(&env.path("hmac.key")),
            "--key-id",
            "kid",
            "--output",
            s(&cp)
        ])),
        0
    );
    // Rebuild an entirely different, internally consistent chain with the same key.
    std::fs::remove_file(&log).unwrap();
    let signer = Signer::Hmac {
        key: b"k-secret".to_vec(),
        key_id: "kid".into(),
    };
    for i in 1..=10 {
        let mut forged = event(i);
        forged.decision = "deny".into();
        wormvault::audit::append(&log, &forged, &signer).unwrap();
    }
    let public = format!("{FIXTURES}/keys/evidence-ed25519-public.pem");
    let (exit, report) = env.verify(
        &[&log],
        &["--checkpoint", s(&cp), "--checkpoint-key", &public],
    );
    assert_eq!(exit, 1);
    assert_eq!(report["diagnosis"]["kind"], "checkpoint_mismatch");
    assert_eq!(report["checkpoints"][0]["consistent"], false);
    assert_eq!(report["checkpoints"][0]["tree_size"], 8);
}

#[test]
fn malformed_lines_are_named_by_physical_line() {
    let env = Env::new();
    let cases: Vec<(&str, Box<dyn Fn(&mut Vec<String>)>)> = vec![
        (
            "not valid JSON",
            Box::new(|l: &mut Vec<String>| l[3] = "{\"sequence\": 4,".into()),
        ),
        (
            "duplicate object key",
            Box::new(|l: &mut Vec<String>| l[3] = l[3].replacen("{", "{\"actor\": \"x\", ", 1)),
        ),
        (
            "not valid JSON",
            Box::new(|l: &mut Vec<String>| l[3] = l[3].replace("\"n\": 3", "\"n\": NaN")),
        ),
    ];
    for (problem, edit) in cases {
        let log = env.log(&format!("log-{}.jsonl", rand_suffix()), 6);
        let mut content = lines(&log);
        content.insert(1, String::new()); // a blank line: skipped, but it still counts as a physical line
        edit(&mut content);
        write_lines(&log, &content);
        let (exit, report) = env.verify(&[&log], &[]);
        assert_eq!(exit, 1);
        let first = report["errors"][0].as_str().unwrap();
        assert!(
            first.contains("line 4: ") && first.contains(problem),
            "{problem}: {first}"
        );
        assert_eq!(report["first_bad_record"]["line"], 4);
        assert_eq!(report["first_bad_record"]["record"], 3);
        assert_eq!(report["diagnosis"]["kind"], "malformed_line");
    }
    // Invalid UTF-8.
    let log = env.log("utf8.jsonl", 3);
    let mut bytes = std::fs::read(&log).unwrap();
    let second_line = bytes.iter().position(|b| *b == b'\n').unwrap() + 5;
    bytes[second_line] = 0xff;
    std::fs::write(&log, bytes).unwrap();
    let (exit, report) = env.verify(&[&log], &[]);
    assert_eq!(exit, 1);
    assert!(
        report["errors"][0]
            .as_str()
            .unwrap()
            .contains("line 2: not valid UTF-8"),
        "{report}"
    );
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn torn_last_line_is_reported_and_never_extended() {
    let env = Env::new();
    let log = env.log("log.jsonl", 4);
    let mut bytes = std::fs::read(&log).unwrap();
    let before = bytes.len();
    bytes.extend_from_slice(br#"{"action": "write_file", "actor": "agent:5", "#);
    std::fs::write(&log, &bytes).unwrap();
    let output = run(&[
        "audit",
        "append",
        "--log",
        s(&log),
        "--event-type",
        "e",
        "--actor",
        "a",
        "--action",
        "x",
        "--target",
        "t",
        "--decision",
        "allow",
        "--alert-file",
        s(&env.path("alerts.jsonl")),
    ]);
    assert_eq!(code(&output), 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("byte offset {before}")) && stderr.contains("no trailing newline"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&log).unwrap(),
        bytes,
        "the torn log was not touched"
    );
    let alert: Value = serde_json::from_str(lines(&env.path("alerts.jsonl"))[0].as_str()).unwrap();
    assert_eq!(alert["alert"], "audit_write_failure");
    let (exit, report) = env.verify(&[&log], &[]);
    assert_eq!(exit, 1);
    assert_eq!(report["record_count"], 4);
    assert!(report["errors"][0].as_str().unwrap().ends_with(
        "line 5: last line has no trailing newline (torn write: an append was interrupted)"
    ));
    assert_eq!(report["diagnosis"]["kind"], "torn_write");
}

#[test]
fn concurrent_appenders_keep_the_chain() {
    let env = Env::new();
    let log = env.path("shared.jsonl");
    let key = env.path("hmac.key");
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (log, key) = (log.clone(), key.clone());
            std::thread::spawn(move || {
                for i in 0..50 {
                    let output = run(&[
                        "audit",
                        "append",
                        "--log",
                        s(&log),
                        "--event-type",
                        "e",
                        "--actor",
                        &format!("w{worker}"),
                        "--action",
                        &format!("a{i}"),
                        "--target",
                        "t",
                        "--decision",
                        "allow",
                        "--key-file",
                        s(&key),
                        "--key-id",
                        "kid",
                    ]);
                    assert_eq!(
                        code(&output),
                        0,
                        "{}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let (exit, report) = env.verify(&[&log], &[]);
    assert_eq!(exit, 0, "{report}");
    assert_eq!(report["record_count"], 200);
    assert_eq!(report["last_sequence"], 200);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints, proofs, consistency, prune

#[test]
fn checkpoint_prove_verify_proof_round_trip() {
    let env = Env::new();
    let log = env.log("log.jsonl", 13);
    let public = format!("{FIXTURES}/keys/evidence-ed25519-public.pem");
    let cp = env.path("cp.note");
    let output = run(&[
        "--json",
        "audit",
        "checkpoint",
        "--log",
        s(&log),
        "--origin",
        "example.com/audit",
        "--signing-key",
        s(&env.path("signing.pem")),
        "--output",
        s(&cp),
        "--key-file",
        s(&env.path("hmac.key")),
        "--key-id",
        "kid",
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let note = std::fs::read_to_string(&cp).unwrap();
    assert!(note.starts_with("example.com/audit\n13\n"), "{note}");
    assert!(note.contains("\n\n\u{2014} example.com/audit "), "{note}");

    // The log grows; the old checkpoint is still a prefix (consistency), and proofs against it work.
    let signer = Signer::Hmac {
        key: b"k-secret".to_vec(),
        key_id: "kid".into(),
    };
    for i in 14..=20 {
        wormvault::audit::append(&log, &event(i), &signer).unwrap();
    }
    let (exit, report) = env.verify(
        &[&log],
        &["--checkpoint", s(&cp), "--checkpoint-key", &public],
    );
    assert_eq!(exit, 0, "{report}");
    assert_eq!(report["checkpoints"][0]["consistent"], true);

    let proof = env.path("proof.json");
    let output = run(&[
        "audit",
        "prove",
        "--log",
        s(&log),
        "--seq",
        "7",
        "--checkpoint",
        s(&cp),
        "--checkpoint-key",
        &public,
        "--output",
        s(&proof),
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run(&[
        "--json",
        "audit",
        "verify-proof",
        "--proof",
        s(&proof),
        "--checkpoint-key",
        &public,
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let check = stdout_json(&output);
    assert_eq!(
        (
            check["valid"].as_bool(),
            check["tree_size"].as_u64(),
            check["checkpoint_signature_verified"].as_bool()
        ),
        (Some(true), Some(13), Some(true))
    );

    // Tampering with the proved record, the path, or the checkpoint is detected.
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    let mut bad = original.clone();
    bad["record"]["decision"] = json!("deny");
    std::fs::write(env.path("bad1.json"), bad.to_string()).unwrap();
    let output = run(&[
        "--json",
        "audit",
        "verify-proof",
        "--proof",
        s(&env.path("bad1.json")),
        "--checkpoint-key",
        &public,
    ]);
    assert_eq!(code(&output), 1);
    assert_eq!(stdout_json(&output)["record_hash_recomputes"], false);
    let mut bad = original.clone();
    bad["proof"][0] = json!(base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
    std::fs::write(env.path("bad2.json"), bad.to_string()).unwrap();
    assert_eq!(
        code(&run(&[
            "audit",
            "verify-proof",
            "--proof",
            s(&env.path("bad2.json")),
            "--checkpoint-key",
            &public
        ])),
        1
    );
    let mut bad = original;
    bad["checkpoint"] = json!(note.replacen("\n13\n", "\n14\n", 1));
    std::fs::write(env.path("bad3.json"), bad.to_string()).unwrap();
    let output = run(&[
        "audit",
        "verify-proof",
        "--proof",
        s(&env.path("bad3.json")),
        "--checkpoint-key",
        &public,
    ]);
    assert_eq!(code(&output), 1);
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not verify"));

    // A checkpoint by another key is rejected.
    let other = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let forged = Checkpoint {
        origin: "example.com/audit".into(),
        size: 13,
        root: [0; 32],
    }
    .sign("example.com/audit", &other)
    .unwrap();
    std::fs::write(env.path("forged.note"), forged).unwrap();
    let output = run(&[
        "audit",
        "verify",
        "--log",
        s(&log),
        "--checkpoint",
        s(&env.path("forged.note")),
        "--checkpoint-key",
        &public,
    ]);
    assert_eq!(code(&output), 1);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no signature by key"));
}

#[test]
fn prune_leaves_a_suffix_that_verifies_on_its_own() {
    let env = Env::new();
    let log = env.log("log.jsonl", 20);
    let public = format!("{FIXTURES}/keys/evidence-ed25519-public.pem");
    let full_cp = env.path("cp-20.note");
    assert_eq!(
        code(&run(&[
            "audit",
            "checkpoint",
            "--log",
            s(&log),
            "--origin",
            "example.com/audit",
            "--signing-key",
            s(&env.path("signing.pem")),
            "--key-file",
            s(&env.path("hmac.key")),
            "--key-id",
            "kid",
            "--output",
            s(&full_cp)
        ])),
        0
    );
    let archive = env.path("archive-1-7.jsonl");
    let anchor = env.path("anchor.json");
    let head_cp = env.path("cp-7.note");
    let output = run(&[
        "--json",
        "audit",
        "prune",
        "--log",
        s(&log),
        "--before-seq",
        "8",
        "--archive",
        s(&archive),
        "--anchor-out",
        s(&anchor),
        "--checkpoint-out",
        s(&head_cp),
        "--origin",
        "example.com/audit",
        "--signing-key",
        s(&env.path("signing.pem")),
        "--key-file",
        s(&env.path("hmac.key")),
        "--key-id",
        "kid",
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome = stdout_json(&output);
    assert_eq!(
        (
            outcome["archived_records"].as_u64(),
            outcome["retained_records"].as_u64()
        ),
        (Some(7), Some(13))
    );
    assert_eq!(lines(&archive).len(), 7);
    assert_eq!(lines(&log).len(), 13);
    assert!(
        std::fs::read_to_string(&head_cp)
            .unwrap()
            .starts_with("example.com/audit\n7\n")
    );

    // The suffix alone fails without its anchor, passes with it, and still extends the old checkpoint.
    let (exit, report) = env.verify(&[&log], &[]);
    assert_eq!(exit, 1);
    assert_eq!(report["errors"][0], "record 1: sequence mismatch");
    let (exit, report) = env.verify(
        &[&log],
        &[
            "--anchor",
            s(&anchor),
            "--checkpoint-key",
            &public,
            "--checkpoint",
            s(&full_cp),
        ],
    );
    assert_eq!(exit, 0, "{report}");
    assert_eq!(
        (
            report["first_sequence"].as_u64(),
            report["record_count"].as_u64(),
            report["tree_size"].as_u64()
        ),
        (Some(8), Some(13), Some(20))
    );
    // Archive + suffix verify together as one chain.
    let (exit, report) = env.verify(
        &[&archive, &log],
        &["--checkpoint", s(&full_cp), "--checkpoint-key", &public],
    );
    assert_eq!(exit, 0, "{report}");
    assert_eq!(report["record_count"], 20);
    // Appends continue the chain after a prune.
    let signer = Signer::Hmac {
        key: b"k-secret".to_vec(),
        key_id: "kid".into(),
    };
    let next = wormvault::audit::append(&log, &event(21), &signer).unwrap();
    assert_eq!(next.sequence(), Some(21));
    let (exit, _) = env.verify(
        &[&log],
        &["--anchor", s(&anchor), "--checkpoint-key", &public],
    );
    assert_eq!(exit, 0);
    // --origin checks the anchor's checkpoint too: an anchor of another log is refused.
    let (exit, _) = env.verify(
        &[&log],
        &[
            "--anchor",
            s(&anchor),
            "--checkpoint-key",
            &public,
            "--origin",
            "example.com/audit",
        ],
    );
    assert_eq!(exit, 0);
    let output = run(&[
        "audit",
        "verify",
        "--log",
        s(&log),
        "--anchor",
        s(&anchor),
        "--checkpoint-key",
        &public,
        "--origin",
        "example.com/other-log",
    ]);
    assert_eq!(code(&output), 1);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "is for origin \"example.com/audit\", not this log's \"example.com/other-log\": it anchors another log"
        ),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A doctored anchor (different previous hash) is refused.
    let mut doctored: Value =
        serde_json::from_str(&std::fs::read_to_string(&anchor).unwrap()).unwrap();
    doctored["previous_hash"] = json!("00".repeat(32));
    std::fs::write(env.path("doctored.json"), doctored.to_string()).unwrap();
    let output = run(&[
        "audit",
        "verify",
        "--log",
        s(&log),
        "--anchor",
        s(&env.path("doctored.json")),
        "--checkpoint-key",
        &public,
    ]);
    assert_eq!(code(&output), 1);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("does not reproduce the signed checkpoint root")
    );

    // Pruning a log that does not verify is refused with a retention alert; nothing changes.
    let mut content = lines(&log);
    content[2] = content[2].replace("\"allow\"", "\"deny\"");
    write_lines(&log, &content);
    let output = run(&[
        "audit",
        "prune",
        "--log",
        s(&log),
        "--before-seq",
        "12",
        "--archive",
        s(&env.path("a2.jsonl")),
        "--origin",
        "example.com/audit",
        "--signing-key",
        s(&env.path("signing.pem")),
        "--key-file",
        s(&env.path("hmac.key")),
        "--key-id",
        "kid",
        "--anchor",
        s(&anchor),
        "--checkpoint-key",
        &public,
        "--alert-file",
        s(&env.path("alerts.jsonl")),
    ]);
    assert_eq!(code(&output), 1);
    assert!(!env.path("a2.jsonl").exists());
    let alert: Value = serde_json::from_str(lines(&env.path("alerts.jsonl"))[0].as_str()).unwrap();
    assert_eq!(alert["alert"], "audit_retention_policy_failure");
}

// ---------------------------------------------------------------------------------------------
// Exports, redaction, alerts

#[test]
fn exports_in_each_format() {
    let env = Env::new();
    let log = env.log("log.jsonl", 3);
    let export = |format: &str, extra: &[&str]| {
        let mut args = vec!["audit", "export", "--log", s(&log), "--format", format];
        args.extend(extra);
        let output = run(&args);
        assert_eq!(
            code(&output),
            0,
            "{format}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(export("jsonl", &[]), std::fs::read_to_string(&log).unwrap());
    let hec: Vec<Value> = export("splunk-hec", &[])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hec.len(), 3);
    assert_eq!(hec[0]["time"], 1783123201.0);
    assert_eq!(hec[0]["event"]["sequence"], 1);
    let sentinel: Value = serde_json::from_str(export("sentinel", &[]).trim()).unwrap();
    assert_eq!(sentinel.as_array().unwrap().len(), 3);
    assert_eq!(sentinel[2]["TimeGenerated"], "2026-07-04T00:00:03.000000Z");
    let datadog: Value = serde_json::from_str(export("datadog", &[]).trim()).unwrap();
    assert_eq!(datadog[1]["ddsource"], "wormvault");
    assert_eq!(datadog[1]["audit"]["actor"], "agent:2");
    let cef = export("cef", &[]);
    let first = cef.lines().next().unwrap();
    assert!(
        first.starts_with("CEF:0|wormvault|wormvault audit log|"),
        "{first}"
    );
    assert!(
        first.contains("suser=agent:1 act=write_file outcome=allow cs1Label=recordHash cs1="),
        "{first}"
    );

    // Redaction: the value is replaced by a commitment; links still verify with --allow-redacted.
    let key = env.path("hmac.key");
    let redacted = export(
        "jsonl",
        &[
            "--redact",
            "actor",
            "--redact",
            "metadata.note",
            "--key-file",
            s(&key),
            "--key-id",
            "kid",
        ],
    );
    let first: Value = serde_json::from_str(redacted.lines().next().unwrap()).unwrap();
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(br#""agent:1""#))
    };
    assert_eq!(
        first["actor"],
        json!({"redacted": format!("sha256:{expected}")})
    );
    assert!(
        first["metadata"]["note"]["redacted"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let exported = env.path("redacted.jsonl");
    std::fs::write(&exported, &redacted).unwrap();
    let (exit, report) = env.verify(&[&exported], &[]);
    assert_eq!(
        exit, 1,
        "without --allow-redacted, record hashes no longer recompute"
    );
    assert_eq!(report["errors"][0], "record 1: record_hash mismatch");
    let (exit, report) = env.verify(&[&exported], &["--allow-redacted"]);
    assert_eq!(exit, 0, "{report}");
    assert_eq!(report["redacted_records"], 3);
    assert_eq!(report["redacted_bound"], 3);
    // ...but a reordering inside a redacted export is still caught.
    let mut content = lines(&exported);
    content.swap(0, 1);
    write_lines(&exported, &content);
    let (exit, _) = env.verify(&[&exported], &["--allow-redacted"]);
    assert_eq!(exit, 1);

    // Chain fields cannot be redacted; a broken log is not exported (export alert).
    let output = run(&[
        "audit",
        "export",
        "--log",
        s(&log),
        "--format",
        "jsonl",
        "--redact",
        "record_hash",
    ]);
    assert_eq!(code(&output), 2);
    let mut content = lines(&log);
    content[1] = content[1].replace("agent:2", "agent:X");
    write_lines(&log, &content);
    let output = run(&[
        "audit",
        "export",
        "--log",
        s(&log),
        "--format",
        "cef",
        "--alert-file",
        s(&env.path("alerts.jsonl")),
    ]);
    assert_eq!(code(&output), 1);
    assert!(output.stdout.is_empty());
    let alert: Value = serde_json::from_str(lines(&env.path("alerts.jsonl"))[0].as_str()).unwrap();
    assert_eq!(alert["alert"], "audit_export_failure");
    let stderr_alert = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr_alert
            .lines()
            .any(|l| l.starts_with("{\"alert\":\"audit_export_failure\"")),
        "{stderr_alert}"
    );
}

// ---------------------------------------------------------------------------------------------
// Ed25519 records against trust roots

#[test]
fn ed25519_records_verify_against_trust_roots() {
    let env = Env::new();
    let log = env.path("ed.jsonl");
    for i in 0..3 {
        let output = run(&[
            "audit",
            "append",
            "--log",
            s(&log),
            "--event-type",
            "e",
            "--actor",
            &format!("a{i}"),
            "--action",
            "x",
            "--target",
            "t",
            "--decision",
            "allow",
            "--private-key",
            s(&env.path("signing.pem")),
            "--key-id",
            "prod-evidence",
            "--created-at",
            "2026-07-04T00:00:01+00:00",
        ]);
        assert_eq!(
            code(&output),
            0,
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let record: Value = serde_json::from_str(&lines(&log)[0]).unwrap();
    assert_eq!(record["signature"]["algorithm"], "Ed25519");
    assert_eq!(record["signature"]["key_id"], "prod-evidence");
    let roots = format!("{FIXTURES}/keys/evidence-trust-roots.json");
    let output = run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        s(&log),
        "--trust-root",
        &roots,
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    // A record made before the root's valid_from is refused.
    let early = env.path("early.jsonl");
    let output = run(&[
        "audit",
        "append",
        "--log",
        s(&early),
        "--event-type",
        "e",
        "--actor",
        "a",
        "--action",
        "x",
        "--target",
        "t",
        "--decision",
        "allow",
        "--private-key",
        s(&env.path("signing.pem")),
        "--key-id",
        "prod-evidence",
        "--created-at",
        "2025-12-31T23:59:59+00:00",
    ]);
    assert_eq!(code(&output), 0);
    let output = run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        s(&early),
        "--trust-root",
        &roots,
    ]);
    assert_eq!(code(&output), 1);
    let report = stdout_json(&output);
    assert_eq!(report["first_bad_record"]["check"], "signature");
    assert!(
        report["first_bad_record"]["expected"]
            .as_str()
            .unwrap()
            .contains("is valid only from 2026-01-01"),
        "{report}"
    );
    // A revoked root never verifies.
    let mut revoked: Value =
        serde_json::from_str(&std::fs::read_to_string(&roots).unwrap()).unwrap();
    revoked["trust_roots"][0]["status"] = json!("revoked");
    std::fs::write(env.path("revoked.json"), revoked.to_string()).unwrap();
    let output = run(&[
        "audit",
        "verify",
        "--log",
        s(&log),
        "--trust-root",
        s(&env.path("revoked.json")),
    ]);
    assert_eq!(code(&output), 1);
    // An HMAC key does not verify Ed25519 records.
    let output = run(&[
        "audit",
        "verify",
        "--log",
        s(&log),
        "--key-file",
        s(&env.path("hmac.key")),
    ]);
    assert_eq!(code(&output), 1);
}

// ---------------------------------------------------------------------------------------------
// Interop with independent implementations (dev-dependencies, not used by wormvault itself)

struct TlogStore(Vec<tlog_tiles::Hash>);

impl tlog_tiles::HashReader for TlogStore {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        Ok(indexes.iter().map(|i| self.0[*i as usize]).collect())
    }
}

#[test]
fn checkpoint_note_verifies_with_the_signed_note_crate() {
    let env = Env::new();
    let log = env.log("log.jsonl", 9);
    let cp = env.path("cp.note");
    assert_eq!(
        code(&run(&[
            "audit",
            "checkpoint",
            "--log",
            s(&log),
            "--origin",
            "example.com/audit",
            "--signing-key",
            s(&env.path("signing.pem")),
            "--output",
            s(&cp),
            "--key-file",
            s(&env.path("hmac.key")),
            "--key-id",
            "kid"
        ])),
        0
    );
    let note_text = std::fs::read_to_string(&cp).unwrap();
    let pem =
        std::fs::read_to_string(format!("{FIXTURES}/keys/evidence-ed25519-public.pem")).unwrap();
    let key = <ed25519_dalek::VerifyingKey as ed25519_dalek::pkcs8::DecodePublicKey>::from_public_key_pem(&pem).unwrap();
    let vkey = checkpoint::verifier_key_string("example.com/audit", &key);
    let verifier = signed_note::StandardVerifier::new(&vkey)
        .expect("signed_note accepts our verifier key (name, key hash, key)");
    let note =
        signed_note::Note::from_bytes(note_text.as_bytes()).expect("signed_note parses our note");
    let (verified, unverified) = note
        .verify(&signed_note::VerifierList::new(vec![Box::new(verifier)]))
        .expect("signed_note verifies our signature");
    assert_eq!((verified.len(), unverified.len()), (1, 0));
    // And the body parses as a C2SP checkpoint with our root.
    let parsed = tlog_tiles::Checkpoint::from_bytes(note.text())
        .expect("tlog_tiles parses our checkpoint body");
    let ours = Checkpoint::open(
        &note_text,
        &CheckpointKey {
            name: "example.com/audit".into(),
            key,
        },
    )
    .unwrap();
    assert_eq!(
        (parsed.origin(), parsed.size(), parsed.hash().0),
        ("example.com/audit", 9, ours.root)
    );
    // Their key id computation agrees with our key hash.
    let mut encoded = vec![1u8];
    encoded.extend_from_slice(key.as_bytes());
    assert_eq!(
        signed_note::key_id("example.com/audit", &encoded).to_be_bytes(),
        checkpoint::key_hash("example.com/audit", &key)
    );
    // A note signed by signed_note's own signer verifies with ours.
    let seed = [11u8; 32];
    let their_key = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let mut public = vec![1u8];
    public.extend_from_slice(their_key.as_bytes());
    let mut private = vec![1u8];
    private.extend_from_slice(&seed);
    let b64 = base64::engine::general_purpose::STANDARD;
    let skey = format!(
        "PRIVATE+KEY+other.example/log+{:08x}+{}",
        signed_note::key_id("other.example/log", &public),
        b64.encode(private)
    );
    let signer = signed_note::StandardSigner::new(&skey).unwrap();
    let mut foreign = signed_note::Note::new(ours.body().as_bytes(), &[]).unwrap();
    foreign.add_sigs(&[&signer]).unwrap();
    let foreign_text = String::from_utf8(foreign.to_bytes()).unwrap();
    let opened = Checkpoint::open(
        &foreign_text,
        &CheckpointKey {
            name: "other.example/log".into(),
            key: their_key,
        },
    )
    .unwrap();
    assert_eq!(opened, ours);
}

#[test]
fn merkle_roots_and_proofs_match_tlog_tiles() {
    let leaves_data: Vec<[u8; 32]> = (0..70u32)
        .map(|i| {
            use sha2::Digest;
            sha2::Sha256::digest(i.to_be_bytes()).into()
        })
        .collect();
    let mut store = TlogStore(Vec::new());
    for (n, data) in leaves_data.iter().enumerate() {
        let hashes = tlog_tiles::stored_hashes(n as u64, data, &store).unwrap();
        store.0.extend(hashes);
    }
    let leaves: Vec<merkle::Hash> = leaves_data.iter().map(|d| merkle::leaf_hash(d)).collect();
    for t in 1..=70u64 {
        let root = merkle::root(&leaves[..t as usize]);
        assert_eq!(
            tlog_tiles::tree_hash(t, &store).unwrap().0,
            root,
            "root of {t}"
        );
        for n in [0, t / 2, t - 1] {
            let ours = merkle::inclusion_proof(&leaves[..t as usize], n).unwrap();
            let theirs: Vec<merkle::Hash> = tlog_tiles::prove_record(t, n, &store)
                .unwrap()
                .into_iter()
                .map(|h| h.0)
                .collect();
            assert_eq!(ours, theirs, "inclusion proof of {n} in {t}");
            let as_theirs: Vec<tlog_tiles::Hash> =
                ours.iter().map(|h| tlog_tiles::Hash(*h)).collect();
            tlog_tiles::check_record(
                &as_theirs,
                t,
                tlog_tiles::Hash(root),
                n,
                tlog_tiles::Hash(leaves[n as usize]),
            )
            .unwrap();
        }
        for m in 1..=t {
            let ours = merkle::consistency_proof(&leaves[..t as usize], m).unwrap();
            let theirs: Vec<merkle::Hash> = tlog_tiles::prove_tree(t, m, &store)
                .unwrap()
                .into_iter()
                .map(|h| h.0)
                .collect();
            assert_eq!(ours, theirs, "consistency proof {m} -> {t}");
            let old_root = merkle::root(&leaves[..m as usize]);
            merkle::verify_consistency(m, t, &old_root, &root, &theirs).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests (library level, no process per case)

fn arbitrary_event() -> impl Strategy<Value = NewRecord> {
    (
        "[a-z.]{1,12}",
        "\\PC{0,16}",
        "[a-z_]{1,8}",
        "\\PC{0,16}",
        prop::option::of("\\PC{0,8}"),
        prop::collection::vec("\\PC{0,12}", 0..3),
        -1.0e9f64..1.0e9,
    )
        .prop_map(
            |(event_type, actor, action, target, tenant, refs, number)| {
                let mut metadata = serde_json::Map::new();
                metadata.insert("x".into(), json!(number));
                NewRecord {
                    event_type,
                    actor,
                    action,
                    target,
                    decision: "allow".into(),
                    tenant_id: tenant,
                    workspace_id: None,
                    evidence_refs: refs,
                    metadata,
                    created_at: Some("2026-07-04T00:00:01+00:00".into()),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn chain_round_trips(events in prop::collection::vec(arbitrary_event(), 1..12)) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.jsonl");
        let signer = Signer::Hmac { key: b"p".to_vec(), key_id: "p".into() };
        for event in &events {
            wormvault::audit::append(&log, event, &signer).unwrap();
        }
        let options = VerifyOptions { signatures: SignatureCheck::Hmac { key: b"p".to_vec(), key_id: "p".into() }, ..Default::default() };
        let report = wormvault::audit::verify(&log, &options).unwrap();
        prop_assert!(report.valid, "{:?}", report.errors);
        prop_assert_eq!(report.record_count, events.len() as u64);
    }

    #[test]
    fn any_field_change_is_detected_at_that_record(events in prop::collection::vec(arbitrary_event(), 2..10), pick in any::<prop::sample::Index>(), field in prop::sample::select(vec!["actor", "action", "target", "event_type", "metadata", "created_at", "tenant_id"])) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.jsonl");
        let signer = Signer::Hmac { key: b"p".to_vec(), key_id: "p".into() };
        for event in &events {
            wormvault::audit::append(&log, event, &signer).unwrap();
        }
        let mut content = lines(&log);
        let index = pick.index(content.len());
        let mut record: serde_json::Map<String, Value> = serde_json::from_str(&content[index]).unwrap();
        let changed = json!({"tampered": true});
        prop_assume!(record.get(field) != Some(&changed));
        record.insert(field.into(), changed);
        content[index] = wormvault::canonical::spaced(&Value::Object(record));
        write_lines(&log, &content);
        let report = wormvault::audit::verify(&log, &VerifyOptions::default()).unwrap();
        prop_assert!(!report.valid);
        let bad = report.first_bad_record.unwrap();
        prop_assert_eq!(bad.record, index as u64 + 1);
        prop_assert_eq!(bad.check, "record_hash");
        prop_assert_eq!(report.diagnosis.unwrap().kind, "mutation");
    }
}

// ---------------------------------------------------------------------------------------------
// Readiness

fn readiness(packet: &Value, live: bool) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packet.json");
    std::fs::write(&path, packet.to_string()).unwrap();
    let mut args = vec!["--json", "readiness", "validate", "--packet", s(&path)];
    if live {
        args.push("--require-live");
    }
    let output = run(&args);
    (code(&output), stdout_json(&output))
}

fn packet(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/enterprise-audit-log.{name}.json")).unwrap(),
    )
    .unwrap()
}

fn check_status<'a>(report: &'a Value, name: &str) -> &'a str {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["status"]
        .as_str()
        .unwrap()
}

#[test]
fn readiness_shared_packets_give_the_spec_results() {
    let (exit, report) = readiness(&packet("sample"), false);
    assert_eq!(exit, 0);
    assert_eq!(report["schema_version"], "cavra.audit-log.readiness.v1");
    assert_eq!(
        report["summary"],
        json!({"status": "ready_with_warnings", "blocker_count": 0, "warning_count": 1, "ready_for_enterprise_audit_log_contract": true, "ready_for_enterprise_live_audit_log": false})
    );
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "schema_version",
            "evidence_mode",
            "storage",
            "integrity",
            "retention",
            "exports",
            "monitoring",
            "operating_evidence"
        ]
    );
    assert_eq!(check_status(&report, "evidence_mode"), "warn");

    let (exit, report) = readiness(&packet("sample"), true);
    assert_eq!(exit, 1);
    assert_eq!(report["summary"]["status"], "blocked");
    assert_eq!(report["summary"]["blocker_count"], 1);
    assert_eq!(check_status(&report, "evidence_mode"), "blocker");

    let (exit, report) = readiness(&packet("live.sanitized.example"), true);
    assert_eq!(exit, 0);
    assert_eq!(
        report["summary"],
        json!({"status": "ready", "blocker_count": 0, "warning_count": 0, "ready_for_enterprise_audit_log_contract": true, "ready_for_enterprise_live_audit_log": true})
    );

    // --output writes the same report.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let path = dir.path().join("p.json");
    std::fs::write(&path, packet("sample").to_string()).unwrap();
    assert_eq!(
        code(&run(&[
            "readiness",
            "validate",
            "--packet",
            s(&path),
            "--output",
            s(&out)
        ])),
        0
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written["summary"]["status"], "ready_with_warnings");
    // The contract lists the eight checks.
    let contract = stdout_json(&run(&["--json", "readiness", "contract"]));
    assert_eq!(contract["checks"].as_array().unwrap().len(), 8);
}

#[test]
fn readiness_each_weakened_check_blocks() {
    let weakenings: Vec<(&str, Box<dyn Fn(&mut Value)>)> = vec![
        (
            "schema_version",
            Box::new(|p: &mut Value| p["schema_version"] = json!("cavra.audit-log.evidence.v0")),
        ),
        (
            "evidence_mode",
            Box::new(|p: &mut Value| p["evidence_mode"] = json!("demo")),
        ),
        (
            "storage",
            Box::new(|p: &mut Value| p["storage"]["append_only"] = json!("true")),
        ),
        (
            "storage",
            Box::new(|p: &mut Value| p["storage"]["store_type"] = json!("worm_storage")),
        ),
        (
            "storage",
            Box::new(|p: &mut Value| p["storage"]["provider_refs"] = json!({})),
        ),
        (
            "integrity",
            Box::new(|p: &mut Value| p["integrity"]["tamper_detection_tested"] = json!(false)),
        ),
        (
            "integrity",
            Box::new(|p: &mut Value| {
                p["integrity"]["latest_verification_evidence_ref"] = json!("")
            }),
        ),
        (
            "retention",
            Box::new(|p: &mut Value| p["retention"]["retention_days"] = json!(2554)),
        ),
        (
            "retention",
            Box::new(|p: &mut Value| p["retention"]["retention_days"] = json!(true)),
        ),
        (
            "retention",
            Box::new(|p: &mut Value| p["retention"]["delete_protection"] = json!(1)),
        ),
        (
            "exports",
            Box::new(|p: &mut Value| p["exports"]["formats"] = json!(["jsonl", "siem"])),
        ),
        (
            "exports",
            Box::new(|p: &mut Value| p["exports"]["siem_export_tested"] = json!(null)),
        ),
        (
            "monitoring",
            Box::new(|p: &mut Value| {
                p["monitoring"]["alerts"] = json!([
                    "audit_write_failure",
                    "audit_integrity_failure",
                    "audit_export_failure"
                ])
            }),
        ),
        (
            "monitoring",
            Box::new(|p: &mut Value| {
                p["monitoring"]
                    .as_object_mut()
                    .unwrap()
                    .remove("runbook_ref");
            }),
        ),
        (
            "operating_evidence",
            Box::new(|p: &mut Value| p["operating_evidence"]["recovery_drill_ref"] = json!("")),
        ),
    ];
    for (check, weaken) in weakenings {
        let mut weakened = packet("live.sanitized.example");
        weaken(&mut weakened);
        let (exit, report) = readiness(&weakened, false);
        assert_eq!(exit, 1, "{check}: {report}");
        assert_eq!(report["summary"]["blocker_count"], 1, "{check}: {report}");
        assert_eq!(check_status(&report, check), "blocker", "{check}: {report}");
        assert_eq!(
            report["summary"]["ready_for_enterprise_audit_log_contract"],
            false
        );
    }
    // retention_days as a string of an integer is accepted.
    let mut packet_str = packet("live.sanitized.example");
    packet_str["retention"]["retention_days"] = json!("3650");
    assert_eq!(readiness(&packet_str, true).0, 0);
    // Missing operating refs are listed in order.
    let mut missing = packet("live.sanitized.example");
    missing["operating_evidence"] = json!({"tamper_drill_ref": "x"});
    let (_, report) = readiness(&missing, false);
    assert_eq!(
        report["checks"][7]["message"],
        "operating_evidence is missing change_control_ref, recovery_drill_ref, auditor_handoff_ref"
    );
}

#[test]
fn readiness_malformed_packets_are_blockers_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not json", b"{\"schema_version\": ".to_vec()),
        ("array", b"[1, 2]".to_vec()),
        ("binary", vec![0xff, 0xfe, 0x00]),
        ("sections of wrong types", json!({"schema_version": "cavra.audit-log.evidence.v1", "evidence_mode": "live", "storage": "s3", "integrity": [], "retention": 2555, "exports": null, "monitoring": true, "operating_evidence": 1}).to_string().into_bytes()),
        ("duplicate keys", b"{\"schema_version\": \"cavra.audit-log.evidence.v1\", \"schema_version\": \"x\"}".to_vec()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join("packet.json");
        std::fs::write(&path, bytes).unwrap();
        let output = run(&["--json", "readiness", "validate", "--packet", s(&path)]);
        assert_eq!(
            code(&output),
            1,
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report = stdout_json(&output);
        assert_eq!(report["summary"]["status"], "blocked", "{name}");
        assert_eq!(report["checks"].as_array().unwrap().len(), 8, "{name}");
        assert_eq!(
            check_status(&report, "schema_version") == "blocker",
            name != "sections of wrong types",
            "{name}: {report}"
        );
    }
    let output = run(&[
        "readiness",
        "validate",
        "--packet",
        "/nonexistent/packet.json",
    ]);
    assert_eq!(code(&output), 2);
}
