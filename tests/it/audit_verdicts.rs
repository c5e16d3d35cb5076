//! Verdicts of the audit commands that an adversarial review showed could be forged, through
//! the real binary: an export that signs `redaction_signature`s only over records whose own
//! signatures verified, checkpoints and prune anchors signed only over checked records, redacted
//! records that cannot be verified are not a success (and a malformed redaction marker is a
//! finding), inclusion proofs whose sequence is authenticated and whose root must be pinned, and
//! the JSON-token bound of a record line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Map, Value, json};
use wormvault::audit::record::Canonical;
use wormvault::audit::{NewRecord, Signer};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cavra");

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .env_remove("WORMVAULT_LOG")
        .args(args)
        .output()
        .expect("run wormvault")
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(output)))
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
        let key = env.path("signing.pem");
        std::fs::copy(
            format!("{FIXTURES}/keys/evidence-ed25519-private.pem"),
            &key,
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in ["hmac.key", "signing.pem"] {
                std::fs::set_permissions(env.path(name), std::fs::Permissions::from_mode(0o600))
                    .unwrap();
            }
        }
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A log of `n` records signed by `signer`.
    fn log(&self, name: &str, n: u32, signer: &Signer) -> PathBuf {
        let path = self.path(name);
        for i in 1..=n {
            let new = NewRecord {
                event_type: "runtime.decision".into(),
                actor: format!("agent:{i}"),
                action: "deploy".into(),
                target: "bundle-42".into(),
                decision: "allow".into(),
                created_at: Some("2026-07-04T00:00:01+00:00".into()),
                ..Default::default()
            };
            wormvault::audit::append(&path, &new, signer).unwrap();
        }
        path
    }

    fn hmac_log(&self, name: &str, n: u32) -> PathBuf {
        self.log(
            name,
            n,
            &Signer::Hmac {
                key: b"k-secret".to_vec(),
                key_id: "kid".into(),
            },
        )
    }

    fn hmac_args(&self) -> Vec<String> {
        vec![
            "--key-file".into(),
            s(&self.path("hmac.key")).into(),
            "--key-id".into(),
            "kid".into(),
        ]
    }

    /// `audit checkpoint` of `log` at its head, with `extra` key flags.
    fn checkpoint(&self, log: &Path, output: &Path, extra: &[String]) -> Output {
        let key = self.path("signing.pem");
        let mut args: Vec<&str> = vec![
            "audit",
            "checkpoint",
            "--log",
            s(log),
            "--origin",
            "example.com/audit",
            "--signing-key",
            s(&key),
            "--output",
            s(output),
        ];
        args.extend(extra.iter().map(String::as_str));
        run(&args)
    }
}

fn public_pem() -> String {
    format!("{FIXTURES}/keys/evidence-ed25519-public.pem")
}

fn records(path: &Path) -> Vec<Map<String, Value>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn write_records(path: &Path, records: &[Map<String, Value>]) {
    let text: String = records
        .iter()
        .map(|r| format!("{}\n", Value::Object(r.clone())))
        .collect();
    std::fs::write(path, text).unwrap();
}

/// What an attacker with write access (and no signing key) can do: rewrite record 2 and
/// recompute every record_hash and link, leaving the old signatures in place.
fn rewrite_and_rechain(path: &Path) {
    let mut all = records(path);
    all[1].insert("decision".into(), json!("deny"));
    all[1].insert("actor".into(), json!("mallory"));
    let mut previous = Value::Null;
    for record in &mut all {
        record.insert("previous_hash".into(), previous.clone());
        let hash = Canonical::of(record).record_hash();
        record.insert("record_hash".into(), json!(hash));
        previous = json!(hash);
    }
    write_records(path, &all);
}

// ---- F1: export signs only what verified ----------------------------------------------------

#[test]
fn export_with_private_key_refuses_a_record_its_key_did_not_sign() {
    let env = Env::new();
    let key = env.path("signing.pem");
    let signer_args = |log: &Path, out: &Path| {
        run(&[
            "--json",
            "audit",
            "export",
            "--log",
            s(log),
            "--format",
            "jsonl",
            "--redact",
            "target",
            "--private-key",
            s(&key),
            "--key-id",
            "prod-evidence",
            "--output",
            s(out),
        ])
    };
    let signer = Signer::ed25519(
        wormvault::trust::SigningKeySource::load(&key, &Default::default()).unwrap(),
        "prod-evidence".into(),
    );
    let log = env.log("ed.jsonl", 3, &signer);
    // The genuine log exports with --private-key alone (its public half checks the records)
    // and the export verifies in full under the pinned trust root.
    let genuine = env.path("genuine.jsonl");
    let output = signer_args(&log, &genuine);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let roots = format!("{FIXTURES}/keys/evidence-trust-roots.json");
    let output = run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        s(&genuine),
        "--allow-redacted",
        "--trust-root",
        &roots,
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(json(&output)["redacted_bound"], 3);

    // Rewritten and re-chained: export refuses (exit 1), names the record, writes nothing.
    rewrite_and_rechain(&log);
    let forged = env.path("forged.jsonl");
    let output = signer_args(&log, &forged);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        text(&output).contains("first: record 2: signature mismatch"),
        "{}",
        text(&output)
    );
    assert!(!forged.exists());

    // A log whose records the given key did not sign (an HMAC log) is refused too.
    let hmac = env.hmac_log("hmac.jsonl", 2);
    let output = signer_args(&hmac, &env.path("hmac-export.jsonl"));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(!env.path("hmac-export.jsonl").exists());
}

// ---- F2: checkpoints and prune anchors only over checked records ----------------------------

#[test]
fn checkpoint_refuses_a_log_whose_signatures_were_not_checked() {
    let env = Env::new();
    let log = env.hmac_log("log.jsonl", 3);
    let cp = env.path("cp.note");
    let output = env.checkpoint(&log, &cp, &[]);
    assert_eq!(code(&output), 1, "{}", text(&output));
    let message = text(&output);
    assert!(
        message.contains("3 record signature(s) could not be checked (no key was given)")
            && message.contains("--key-file/--key-env"),
        "{message}"
    );
    assert!(!cp.exists());
    // With the key it is signed.
    let output = env.checkpoint(&log, &cp, &env.hmac_args());
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(cp.exists());
    // Rewritten and re-chained: with the key refused as invalid, without it as unchecked.
    rewrite_and_rechain(&log);
    let output = env.checkpoint(&log, &env.path("cp2.note"), &env.hmac_args());
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        text(&output).contains("signature mismatch"),
        "{}",
        text(&output)
    );
    let output = env.checkpoint(&log, &env.path("cp3.note"), &[]);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(!env.path("cp2.note").exists() && !env.path("cp3.note").exists());
}

#[test]
fn checkpoint_of_an_unsigned_log_still_works() {
    // Records written without a key carry no signature: nothing is left unchecked.
    let env = Env::new();
    let log = env.log("unsigned.jsonl", 3, &Signer::Unsigned);
    let cp = env.path("cp.note");
    let output = env.checkpoint(&log, &cp, &[]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        std::fs::read_to_string(&cp)
            .unwrap()
            .starts_with("example.com/audit\n3\n")
    );
}

#[test]
fn prune_refuses_a_log_whose_signatures_were_not_checked() {
    let env = Env::new();
    let log = env.hmac_log("log.jsonl", 5);
    let before = std::fs::read(&log).unwrap();
    let prune = |extra: &[String]| {
        let mut args: Vec<String> = [
            "audit",
            "prune",
            "--log",
            s(&log),
            "--before-seq",
            "3",
            "--archive",
            s(&env.path("archive.jsonl")),
            "--anchor-out",
            s(&env.path("anchor.json")),
            "--origin",
            "example.com/audit",
            "--signing-key",
            s(&env.path("signing.pem")),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let output = prune(&[]);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        text(&output).contains("could not be checked"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("audit_retention_policy_failure"));
    assert!(!env.path("archive.jsonl").exists() && !env.path("anchor.json").exists());
    assert_eq!(std::fs::read(&log).unwrap(), before);
    let output = prune(&env.hmac_args());
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(env.path("anchor.json").exists());
}

// ---- F3 / F9: redacted records that cannot be verified --------------------------------------

fn checkpointed_log(env: &Env) -> (PathBuf, PathBuf) {
    let log = env.hmac_log("log.jsonl", 3);
    let cp = env.path("cp-3.note");
    let output = env.checkpoint(&log, &cp, &env.hmac_args());
    assert_eq!(code(&output), 0, "{}", text(&output));
    (log, cp)
}

fn verify_redacted(log: &Path, cp: &Path) -> Output {
    run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        s(log),
        "--allow-redacted",
        "--checkpoint",
        s(cp),
        "--checkpoint-key",
        &public_pem(),
    ])
}

#[test]
fn redacted_record_with_a_malformed_marker_is_a_finding() {
    let env = Env::new();
    let (log, cp) = checkpointed_log(&env);
    let mut all = records(&log);
    all[1].insert("action".into(), json!("delete-all-evidence"));
    all[1].insert(
        "metadata".into(),
        json!({"note": {"redacted": "sha256:00"}}),
    );
    let tampered = env.path("tampered.jsonl");
    write_records(&tampered, &all);
    let output = verify_redacted(&tampered, &cp);
    assert_eq!(code(&output), 1, "{}", text(&output));
    let report = json(&output);
    assert_eq!(report["valid"], false);
    assert_eq!(report["incomplete"], false);
    assert_eq!(report["first_bad_record"]["record"], 2);
    assert_eq!(report["first_bad_record"]["check"], "redaction");
    assert_eq!(
        report["first_bad_record"]["found"],
        "{\"redacted\":\"sha256:00\"}"
    );
    assert_eq!(
        report["errors"][0],
        "record 2: malformed redaction marker at metadata.note"
    );
    // The root rebuilt from the stored record_hash values matches, but that is not a match claim.
    assert_eq!(report["checkpoints"][0]["consistent"], false);
    let message = report["checkpoints"][0]["message"].as_str().unwrap();
    assert!(message.contains("NOT a match"), "{message}");
    assert!(!message.contains("records match"), "{message}");
}

#[test]
fn redacted_record_without_a_key_is_not_a_success() {
    let env = Env::new();
    let (log, cp) = checkpointed_log(&env);
    let mut all = records(&log);
    all[1].insert("decision".into(), json!("approved-by-ciso"));
    all[1].insert(
        "metadata".into(),
        json!({"note": {"redacted": format!("sha256:{}", "ab".repeat(32))}}),
    );
    let tampered = env.path("tampered.jsonl");
    write_records(&tampered, &all);
    let output = verify_redacted(&tampered, &cp);
    assert_eq!(code(&output), 1, "{}", text(&output));
    let report = json(&output);
    assert_eq!(report["valid"], false);
    assert_eq!(report["redacted_unverified"], json!([2]));
    assert_eq!(report["first_bad_record"]["check"], "redaction_signature");
    assert_eq!(
        report["first_bad_record"]["found"],
        "not checked: no key given"
    );
    assert_eq!(report["checkpoints"][0]["consistent"], false);
    // The checkpoint's root matches the stored hashes but cannot vouch for the redacted record:
    // nothing failed, the verdict is incomplete (exit 1 all the same).
    assert_eq!(report["incomplete"], true);
    // The text says it plainly: nothing failed, but the redaction could not be checked.
    let output = run(&["audit", "verify", "--log", s(&tampered), "--allow-redacted"]);
    assert_eq!(code(&output), 1);
    assert!(
        text(&output).starts_with(
            "INCOMPLETE (nothing failed, but not everything could be checked): 1 problem(s)"
        ),
        "{}",
        text(&output)
    );
    let output = run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        s(&tampered),
        "--allow-redacted",
    ]);
    assert_eq!(code(&output), 1);
    assert_eq!(json(&output)["incomplete"], true);
    assert_eq!(json(&output)["valid"], false);
    let output = run(&["audit", "verify", "--log", s(&tampered), "--allow-redacted"]);
    assert!(
        text(&output)
            .contains("record 2: redacted, and its redaction could not be verified (no key given)"),
        "{}",
        text(&output)
    );
    // The untouched log still matches its checkpoint.
    let output = verify_redacted(&log, &cp);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(json(&output)["checkpoints"][0]["consistent"], true);
}

#[test]
fn verify_with_origin_refuses_a_checkpoint_of_another_log() {
    let env = Env::new();
    let log = env.hmac_log("log.jsonl", 3);
    let cp = env.path("other.note");
    let mut args = vec![
        "audit",
        "checkpoint",
        "--log",
        s(&log),
        "--origin",
        "evil.example/other-log",
        "--signing-key",
    ];
    let key = env.path("signing.pem");
    args.extend([s(&key), "--output", s(&cp)]);
    let hmac = env.hmac_args();
    args.extend(hmac.iter().map(String::as_str));
    let output = run(&args);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let pem = public_pem();
    let verify = |origin: Option<&str>| {
        let mut args = vec![
            "audit",
            "verify",
            "--log",
            s(&log),
            "--checkpoint",
            s(&cp),
            "--checkpoint-key",
            &pem,
        ];
        args.extend(hmac.iter().map(String::as_str));
        if let Some(origin) = origin {
            args.extend(["--origin", origin]);
        }
        run(&args)
    };
    let output = verify(Some("example.com/audit"));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        text(&output).contains(
            "is for origin \"evil.example/other-log\", not this log's \"example.com/audit\""
        ),
        "{}",
        text(&output)
    );
    let output = verify(Some("evil.example/other-log"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    // Without --origin the origin is printed with the result.
    let output = verify(None);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        text(&output).contains("checkpoint evil.example/other-log @ 3:"),
        "{}",
        text(&output)
    );
}

// ---- F4 / F5: inclusion proofs ----------------------------------------------------------------

fn proof(env: &Env) -> (PathBuf, Value) {
    let (log, cp) = checkpointed_log(env);
    let path = env.path("p.json");
    let output = run(&[
        "audit",
        "prove",
        "--log",
        s(&log),
        "--seq",
        "2",
        "--checkpoint",
        s(&cp),
        "--checkpoint-key",
        &public_pem(),
        "--output",
        s(&path),
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, value)
}

fn verify_proof(path: &Path, key: bool, json_out: bool) -> Output {
    let pem = public_pem();
    let mut args = vec!["audit", "verify-proof", "--proof", s(path)];
    if json_out {
        args.insert(0, "--json");
    }
    if key {
        args.extend(["--checkpoint-key", &pem]);
    }
    run(&args)
}

#[test]
fn verify_proof_refuses_a_sequence_that_is_not_the_proved_record() {
    let env = Env::new();
    let (path, original) = proof(&env);
    let output = verify_proof(&path, true, false);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "valid: record 2 is leaf 1 of a tree of 3 signed by the checkpoint key"
    );
    for (field, value) in [
        ("sequence", json!(3)),
        ("sequence", json!(0)),
        ("sequence", json!(u64::MAX)),
        ("leaf_index", json!(u64::MAX)),
    ] {
        let mut edited = original.clone();
        edited[field] = value.clone();
        let bad = env.path("bad.json");
        std::fs::write(&bad, edited.to_string()).unwrap();
        let output = verify_proof(&bad, true, true);
        assert_eq!(code(&output), 1, "{field}={value}: {}", text(&output));
        let check = json(&output);
        assert_eq!(check["valid"], false, "{check}");
        assert_eq!(check["status"], "invalid", "{check}");
        assert_eq!(check["sequence"], 2, "{check}");
        assert!(
            check["errors"][0]
                .as_str()
                .unwrap()
                .starts_with("sequence mismatch"),
            "{check}"
        );
        let output = verify_proof(&bad, true, false);
        assert_eq!(code(&output), 1);
        assert!(
            text(&output).starts_with("INVALID: sequence mismatch"),
            "{}",
            text(&output)
        );
    }
}

#[test]
fn verify_proof_without_a_checkpoint_key_is_not_a_success() {
    let env = Env::new();
    let (path, _) = proof(&env);
    let output = verify_proof(&path, false, true);
    assert_eq!(code(&output), 1, "{}", text(&output));
    let check = json(&output);
    assert_eq!(
        (check["valid"].clone(), check["status"].clone()),
        (json!(false), json!("unauthenticated"))
    );
    assert_eq!(check["checkpoint_signature_verified"], false);
    let output = verify_proof(&path, false, false);
    assert_eq!(code(&output), 1);
    let out = text(&output);
    assert!(
        out.starts_with("NOT VERIFIED:") && out.contains("pass --checkpoint-key PEM"),
        "{out}"
    );
    assert!(!out.contains("valid:"), "{out}");
}

// ---- F6: the JSON-token bound of a record line ------------------------------------------------

#[test]
fn audit_verify_refuses_a_line_of_too_many_json_tokens_on_both_paths() {
    let env = Env::new();
    let many = format!("[{}]", vec!["1"; 300_000].join(","));
    // Keys out of order (the tree path) and in order (the fast path's shape): the same verdict.
    for (name, line) in [
        ("tree.jsonl", format!("{{\"z\": 1, \"a\": {many}}}\n")),
        ("sorted.jsonl", format!("{{\"a\": {many}, \"z\": 1}}\n")),
    ] {
        let path = env.path(name);
        std::fs::write(&path, line).unwrap();
        for extra in [&[][..], &["--allow-redacted"][..]] {
            let mut args = vec!["--json", "audit", "verify", "--log", s(&path)];
            args.extend(extra);
            let output = run(&args);
            assert_eq!(code(&output), 1, "{name} {extra:?}: {}", text(&output));
            let report = json(&output);
            assert_eq!(report["first_bad_record"]["check"], "json", "{report}");
            assert_eq!(report["first_bad_record"]["line"], 1, "{report}");
            assert!(
                report["errors"][0]
                    .as_str()
                    .unwrap()
                    .contains("line has more than 100000 JSON tokens"),
                "{report}"
            );
        }
    }
    // A large record of long strings (few tokens) is read as usual.
    let log = env.hmac_log("big.jsonl", 1);
    let signer = Signer::Hmac {
        key: b"k-secret".to_vec(),
        key_id: "kid".into(),
    };
    let mut metadata = Map::new();
    metadata.insert("document".into(), json!("x,:[{".repeat(200_000)));
    let new = NewRecord {
        event_type: "e".into(),
        actor: "a".into(),
        action: "x".into(),
        target: "t".into(),
        decision: "allow".into(),
        metadata,
        ..Default::default()
    };
    wormvault::audit::append(&log, &new, &signer).unwrap();
    let mut args = vec!["--json", "audit", "verify", "--log", s(&log)];
    let hmac = env.hmac_args();
    args.extend(hmac.iter().map(String::as_str));
    let output = run(&args);
    assert_eq!(code(&output), 0, "{}", text(&output));
    args.push("--allow-redacted");
    let output = run(&args);
    assert_eq!(code(&output), 0, "{}", text(&output));
}
