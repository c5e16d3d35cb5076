//! Issue #15 items 1–7 and 11, end to end through the real binary: logs written by an
//! independent CAVRA-format writer (python3's `json` and `hmac`, as CAVRA writes them) with
//! float ties, integers beyond 64 bits and `"sequence": 3.0`; verdicts that say how many
//! signatures were checked; a wrong key diagnosed as such; usage errors that are not integrity
//! alerts; redacted exports whose unredacted fields are bound; revocation by key across key
//! ids (audit records and bundles); and no expected MAC in any output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

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

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// An independent CAVRA-format writer: each stdin line is a JSON array of records' extra
/// fields (`metadata`, optional `sequence` override); it prints the HMAC-signed log.
const WRITER: &str = r#"
import base64, hashlib, hmac, json, sys
key = sys.argv[1].encode()
key_id = sys.argv[2]
prev = None
for i, line in enumerate(sys.stdin, start=1):
    extra = json.loads(line)
    record = {"schema_version": "cavra.audit-log.event.v1", "sequence": extra.get("sequence", i),
              "created_at": "2026-07-04T00:00:01+00:00", "event_type": "runtime.decision",
              "actor": "agent:ci", "action": "upload", "target": "bundle-%d" % i,
              "decision": "allow", "tenant_id": "tenant-a", "workspace_id": None,
              "evidence_refs": [], "metadata": extra.get("metadata", {}), "previous_hash": prev}
    record["record_hash"] = hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    payload = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    record["signature"] = {"algorithm": "HS256", "key_id": key_id,
                           "value": base64.b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode()}
    prev = record["record_hash"]
    print(json.dumps(record, sort_keys=True))
"#;

/// Write a log with python3 (CAVRA's own serialisation); each entry is Python literal source
/// for the record's extras, so ints and floats are Python's, not serde_json's.
fn python_log(path: &Path, key: &str, key_id: &str, extras: &[&str]) {
    let script = format!(
        "import json, sys\nfor e in [{}]:\n    print(json.dumps(e))\n",
        extras.join(", ")
    );
    let lines = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        lines.status.success(),
        "{}",
        String::from_utf8_lossy(&lines.stderr)
    );
    let mut child = Command::new("python3")
        .args(["-c", WRITER, key, key_id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&lines.stdout)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    std::fs::write(path, output.stdout).unwrap();
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
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn verify(&self, log: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["--json", "audit", "verify", "--log", s(log)];
        args.extend(extra);
        run(&args)
    }

    fn keyed(&self) -> Vec<String> {
        vec![
            "--key-file".into(),
            s(&self.path("hmac.key")).into(),
            "--key-id".into(),
            "kid".into(),
        ]
    }

    /// A CAVRA-written log of `n` plain records signed with hmac.key / kid.
    fn plain_log(&self, name: &str, n: usize) -> PathBuf {
        let path = self.path(name);
        let extras: Vec<String> = (1..=n)
            .map(|i| format!("{{\"metadata\": {{\"n\": {i}}}}}"))
            .collect();
        let extras: Vec<&str> = extras.iter().map(String::as_str).collect();
        python_log(&path, "k-secret", "kid", &extras);
        path
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------------
// Items 1–3: byte compatibility with CAVRA's Python

#[test]
fn cavra_log_with_float_ties_and_big_integers_verifies() {
    let env = Env::new();
    let log = env.path("numbers.jsonl");
    python_log(
        &log,
        "k-secret",
        "kid",
        &[
            r#"{"metadata": {"tie": 147121842227151.125, "epoch": 1780387041.5039062}}"#,
            r#"{"metadata": {"big": 2**64, "ten": 10**20, "neg": -2**63-1}}"#,
            r#"{"metadata": {"huge": int("9" * 400), "list": [2**64, -2**64, 0.1]}}"#,
            r#"{"metadata": {"n": 4}}"#,
        ],
    );
    let stored = std::fs::read_to_string(&log).unwrap();
    assert!(stored.contains("147121842227151.12}") && stored.contains("18446744073709551616"));
    // HMAC takes the one-pass fast path; --allow-redacted forces the tree path: both agree.
    for extra in [vec![], vec!["--allow-redacted".to_string()]] {
        let mut args = env.keyed();
        args.extend(extra);
        let output = env.verify(&log, &strs(&args));
        assert_eq!(code(&output), 0, "{}", text(&output));
        let report = json(&output);
        assert_eq!(report["valid"], true);
        assert_eq!(report["signatures_checked"], 4);
        assert_eq!(report["signatures_failed"], 0);
        assert_eq!(report["fully_checked_records"], 4);
    }
    // A one-digit change in the 400-digit integer is caught (it is not rounded to a float).
    let edited = stored.replacen(&"9".repeat(400), &format!("{}8", "9".repeat(399)), 1);
    std::fs::write(&log, edited).unwrap();
    let output = env.verify(&log, &strs(&env.keyed()));
    assert_eq!(code(&output), 1);
    assert_eq!(json(&output)["first_bad_record"]["record"], 3);
}

#[test]
fn integral_float_sequence_is_accepted_as_cavra_accepts_it() {
    let env = Env::new();
    let log = env.path("seq.jsonl");
    python_log(
        &log,
        "k-secret",
        "kid",
        &[r#"{}"#, r#"{"sequence": 2.0}"#, r#"{"sequence": 3}"#],
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("\"sequence\": 2.0")
    );
    let output = env.verify(&log, &strs(&env.keyed()));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(json(&output)["last_sequence"], 3);
    // 2.5 is not 2 (in Python either).
    python_log(&log, "k-secret", "kid", &[r#"{}"#, r#"{"sequence": 2.5}"#]);
    let output = env.verify(&log, &strs(&env.keyed()));
    assert_eq!(code(&output), 1);
    assert_eq!(json(&output)["errors"][0], "record 2: sequence mismatch");
}

#[test]
fn first_sequence_is_the_first_records_even_when_it_has_none() {
    let env = Env::new();
    let log = env.path("seq.jsonl");
    python_log(&log, "k-secret", "kid", &[r#"{}"#, r#"{}"#]);
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    lines[0].as_object_mut().unwrap().remove("sequence");
    let edited: String = lines.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(&log, edited).unwrap();
    let output = env.verify(&log, &strs(&env.keyed()));
    assert_eq!(code(&output), 1);
    let report = json(&output);
    // CAVRA: records[0].get("sequence") — null here, not record 2's 2.
    assert_eq!(report["first_sequence"], Value::Null);
    assert_eq!(report["last_sequence"], 2);
    assert_eq!(report["errors"][0], "record 1: sequence mismatch");
}

// ---------------------------------------------------------------------------------------------
// Item 4: how many signatures were checked

#[test]
fn verify_without_a_key_says_the_signatures_were_not_checked() {
    let env = Env::new();
    let log = env.plain_log("log.jsonl", 3);
    let output = env.verify(&log, &[]);
    assert_eq!(code(&output), 0, "CAVRA's exit code is kept");
    let report = json(&output);
    assert_eq!(report["signatures_checked"], 0);
    assert_eq!(report["signatures_unchecked"], 3);
    assert_eq!(report["signature_key_given"], false);
    let output = run(&["audit", "verify", "--log", s(&log)]);
    let out = text(&output);
    assert!(out.contains("3 record signature(s) NOT checked"), "{out}");
    assert!(!out.contains("signatures verified"), "{out}");

    let report = wormvault::audit::verify(&log, &Default::default()).unwrap();
    assert_eq!(report.unchecked_signatures(), 3);
    let error = report.require_signatures_checked().unwrap_err().to_string();
    assert!(
        error.contains("3 record signature(s) could not be checked"),
        "{error}"
    );
    let keyed = wormvault::audit::VerifyOptions {
        signatures: wormvault::audit::SignatureCheck::Hmac {
            key: b"k-secret".to_vec(),
            key_id: "kid".into(),
        },
        ..Default::default()
    };
    let report = wormvault::audit::verify(&log, &keyed).unwrap();
    assert!(report.require_signatures_checked().is_ok());
    assert_eq!(report.signatures_checked, 3);
    let out = text(&run(&[
        "audit",
        "verify",
        "--log",
        s(&log),
        "--key-file",
        s(&env.path("hmac.key")),
        "--key-id",
        "kid",
    ]));
    assert!(out.contains("all 3 signatures verified"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Item 5: a wrong key is not tampering; a mistyped path is a usage error

fn alert(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn wrong_key_or_key_id_is_diagnosed_as_such() {
    let env = Env::new();
    let log = env.plain_log("log.jsonl", 4);
    let alerts = env.path("alerts.jsonl");
    let output = env.verify(
        &log,
        &[
            "--key-file",
            s(&env.path("hmac.key")),
            "--key-id",
            "other-id",
            "--alert-file",
            s(&alerts),
        ],
    );
    assert_eq!(code(&output), 1);
    let report = json(&output);
    assert_eq!(report["diagnosis"]["kind"], "key_mismatch", "{report}");
    assert_eq!(report["diagnosis"]["record"], 1);
    let detail = report["diagnosis"]["detail"].as_str().unwrap();
    assert!(
        detail.contains(r#"records say key id "kid""#)
            && detail.contains(r#"given HMAC key id "other-id""#),
        "{detail}"
    );
    assert_eq!(report["signatures_failed"], 4);
    let raised = alert(&alerts);
    assert_eq!(raised["alert"], "audit_key_mismatch");
    assert_eq!(raised["severity"], "high");

    // The right key id with the wrong key: also a key mismatch.
    std::fs::write(env.path("wrong.key"), "not-the-key\n").unwrap();
    let output = env.verify(
        &log,
        &[
            "--key-file",
            s(&env.path("wrong.key")),
            "--key-id",
            "kid",
            "--alert-file",
            s(&alerts),
        ],
    );
    assert_eq!(code(&output), 1);
    assert_eq!(json(&output)["diagnosis"]["kind"], "key_mismatch");
    assert_eq!(alert(&alerts)["alert"], "audit_key_mismatch");

    // One forged record among good ones is still a mutation.
    let mut content: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    content[1] = content[1].replacen("\"value\": \"", "\"value\": \"A", 1);
    std::fs::write(&log, content.join("\n") + "\n").unwrap();
    let output = env.verify(&log, &strs(&env.keyed()));
    assert_eq!(json(&output)["diagnosis"]["kind"], "mutation");
}

#[test]
fn usage_errors_are_not_integrity_alerts() {
    let env = Env::new();
    let log = env.plain_log("log.jsonl", 2);
    let alerts = env.path("alerts.jsonl");
    std::fs::write(env.path("empty.key"), "").unwrap();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "mistyped log",
            vec!["--log".into(), s(&env.path("lgo.jsonl")).into()],
        ),
        (
            "missing key file",
            vec![
                "--log".into(),
                s(&log).into(),
                "--key-file".into(),
                s(&env.path("nokey")).into(),
            ],
        ),
        (
            "empty key file",
            vec![
                "--log".into(),
                s(&log).into(),
                "--key-file".into(),
                s(&env.path("empty.key")).into(),
            ],
        ),
        (
            "missing trust root",
            vec![
                "--log".into(),
                s(&log).into(),
                "--trust-root".into(),
                s(&env.path("roots.json")).into(),
            ],
        ),
    ];
    for (what, extra) in cases {
        let mut args = vec!["audit", "verify", "--alert-file", s(&alerts)];
        args.extend(strs(&extra));
        let output = run(&args);
        assert_eq!(code(&output), 2, "{what}: {}", text(&output));
        let raised = alert(&alerts);
        assert_eq!(raised["alert"], "audit_usage_error", "{what}");
        assert_eq!(raised["severity"], "error", "{what}");
        assert!(!text(&output).contains("audit_integrity_failure"), "{what}");
    }
    // A checkpoint signing key readable by others is a usage error too.
    let key = env.path("cp.pem");
    std::fs::copy(
        format!("{FIXTURES}/keys/evidence-ed25519-private.pem"),
        &key,
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let output = run(&[
        "audit",
        "checkpoint",
        "--log",
        s(&log),
        "--origin",
        "example.com/a",
        "--signing-key",
        s(&key),
        "--output",
        s(&env.path("cp.note")),
        "--alert-file",
        s(&alerts),
    ]);
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert_eq!(alert(&alerts)["alert"], "audit_usage_error");
}

// ---------------------------------------------------------------------------------------------
// Item 11: no signature oracle

#[test]
fn a_failed_signature_never_reveals_the_expected_mac() {
    use wormvault::audit::record::{Canonical, hmac_base64};
    let env = Env::new();
    let log = env.plain_log("log.jsonl", 3);
    let mut content: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // Forge record 3: new decision, recomputed record_hash, the old signature kept.
    let mut fields: serde_json::Map<String, Value> =
        match serde_json::from_str(&content[2]).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
    fields.insert("decision".into(), Value::from("deny"));
    let canonical = Canonical::of(&fields);
    let hash = canonical.record_hash();
    fields.insert("record_hash".into(), Value::from(hash.clone()));
    let correct_mac = hmac_base64(b"k-secret", canonical.signed_payload(&hash).as_bytes());
    content[2] = wormvault::canonical::spaced(&Value::Object(fields));
    std::fs::write(&log, content.join("\n") + "\n").unwrap();
    // The correct MAC of every record under a wrong key id is the same MAC: check that too.
    let alerts = env.path("alerts.jsonl");
    let hmac_key = env.path("hmac.key");
    let mut seen = String::new();
    for extra in [vec!["--json"], vec![]] {
        for key_id in ["kid", "other-id"] {
            let mut args = extra.clone();
            args.extend([
                "audit",
                "verify",
                "--log",
                s(&log),
                "--key-file",
                s(&hmac_key),
                "--key-id",
                key_id,
                "--alert-file",
                s(&alerts),
            ]);
            let output = run(&args);
            assert_eq!(code(&output), 1);
            seen.push_str(&text(&output));
        }
    }
    // (Also with --allow-redacted, the tree path.)
    let output = run(&[
        "--json",
        "audit",
        "verify",
        "--log",
        s(&log),
        "--key-file",
        s(&env.path("hmac.key")),
        "--key-id",
        "kid",
        "--allow-redacted",
    ]);
    seen.push_str(&text(&output));
    seen.push_str(&std::fs::read_to_string(&alerts).unwrap());
    assert!(seen.contains("record 3: signature mismatch"), "{seen}");
    assert!(seen.contains("the value is not the HMAC-SHA256 of this record under the given key"));
    assert!(!seen.contains(&correct_mac), "the expected MAC was printed");
    // Nor the expected MAC of any unforged record under the other key id.
    let report = wormvault::audit::verify(
        &log,
        &wormvault::audit::VerifyOptions {
            signatures: wormvault::audit::SignatureCheck::Hmac {
                key: b"k-secret".to_vec(),
                key_id: "kid".into(),
            },
            ..Default::default()
        },
    )
    .unwrap();
    let bad = report.first_bad_record.unwrap();
    assert!(
        !bad.expected.contains(&correct_mac)
            && !format!("{:?}", report.diagnosis).contains(&correct_mac)
    );
}

// ---------------------------------------------------------------------------------------------
// Item 6: redacted exports

#[test]
fn redacted_exports_bind_their_unredacted_fields() {
    let env = Env::new();
    let log = env.plain_log("log.jsonl", 3);
    let export = |name: &str, keyed: bool| {
        let out = env.path(name);
        let mut args = vec![
            "audit",
            "export",
            "--log",
            s(&log),
            "--format",
            "jsonl",
            "--redact",
            "actor",
            "--output",
            s(&out),
        ];
        let key = env.keyed();
        if keyed {
            args.extend(strs(&key));
        }
        let output = run(&args);
        assert_eq!(code(&output), 0, "{}", text(&output));
        out
    };
    let bound = export("bound.jsonl", true);
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&bound)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["redaction_signature"]["algorithm"], "HS256");

    let mut keyed = env.keyed();
    keyed.push("--allow-redacted".into());
    let output = env.verify(&bound, &strs(&keyed));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let report = json(&output);
    assert_eq!(report["redacted_records"], 3);
    assert_eq!(report["redacted_bound"], 3);
    assert_eq!(report["redacted_unverified"], serde_json::json!([]));
    assert_eq!(report["signatures_checked"], 3);

    // A changed decision (or target) next to a redaction no longer verifies.
    let original = std::fs::read_to_string(&bound).unwrap();
    for (from, to) in [
        ("\"decision\": \"allow\"", "\"decision\": \"deny\""),
        ("bundle-2", "bundle-9"),
    ] {
        let edited = original.replacen(from, to, 1);
        assert_ne!(edited, original);
        std::fs::write(&bound, &edited).unwrap();
        let output = env.verify(&bound, &strs(&keyed));
        assert_eq!(code(&output), 1, "{from} -> {to}: {}", text(&output));
        assert_eq!(
            json(&output)["first_bad_record"]["check"],
            "redaction_signature"
        );
    }
    std::fs::write(&bound, &original).unwrap();

    // Without a key nothing is claimed: every signature unchecked, the text never says
    // "signatures verified", and a redacted record that nothing binds is not a success (exit 1).
    let output = env.verify(&bound, &["--allow-redacted"]);
    assert_eq!(code(&output), 1);
    let report = json(&output);
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_bad_record"]["check"], "redaction_signature");
    assert_eq!(report["signatures_checked"], 0);
    assert_eq!(report["signatures_unchecked"], 3);
    assert_eq!(report["redacted_unverified"], serde_json::json!([1, 2, 3]));
    let out = text(&run(&[
        "audit",
        "verify",
        "--log",
        s(&bound),
        "--allow-redacted",
    ]));
    assert!(
        !out.contains("signatures verified")
            && out.contains("signatures_unchecked 3")
            && out.contains("record 1: redacted, and its redaction could not be verified"),
        "{out}"
    );

    // An export made without the key cannot be bound: with the key it does not verify, and it
    // is not called a key mismatch.
    let unbound = export("unbound.jsonl", false);
    let output = env.verify(&unbound, &strs(&keyed));
    assert_eq!(code(&output), 1);
    let report = json(&output);
    assert_eq!(
        report["first_bad_record"]["found"],
        "no redaction_signature"
    );
    assert_ne!(report["diagnosis"]["kind"], "key_mismatch");
}

// ---------------------------------------------------------------------------------------------
// Item 7: revocation by key, not key id

/// Trust roots listing the fixture public key twice: active as `active-id`, revoked as
/// `revoked-id`.
fn double_listed_roots(env: &Env) -> PathBuf {
    let public = format!("{FIXTURES}/keys/evidence-ed25519-public.pem");
    for (id, status) in [("active-id", "active"), ("revoked-id", "revoked")] {
        let output = run(&[
            "keys",
            "trust-root",
            "--public-key",
            &public,
            "--key-id",
            id,
            "--status",
            status,
            "--valid-from",
            "2020-01-01T00:00:00+00:00",
            "--output",
            s(&env.path(&format!("{id}.json"))),
        ]);
        assert_eq!(code(&output), 0, "{}", text(&output));
    }
    let roots = env.path("roots.json");
    let output = run(&[
        "keys",
        "trust-bundle",
        s(&env.path("active-id.json")),
        s(&env.path("revoked-id.json")),
        "--output",
        s(&roots),
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    roots
}

fn private_key(env: &Env) -> PathBuf {
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
    key
}

#[test]
fn a_key_revoked_under_one_id_never_verifies_audit_records_under_another() {
    let env = Env::new();
    let roots = double_listed_roots(&env);
    let key = private_key(&env);
    let log = env.path("ed.jsonl");
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
        "--private-key",
        s(&key),
        "--key-id",
        "active-id",
        "--created-at",
        "2026-07-04T00:00:01+00:00",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let output = env.verify(&log, &["--trust-root", s(&roots)]);
    assert_eq!(code(&output), 1, "{}", text(&output));
    let found = json(&output)["first_bad_record"]["expected"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        found.contains("revoked under key id \"revoked-id\""),
        "{found}"
    );
    // Only the active listing: it verifies (the refusal above is the revocation's doing).
    let output = env.verify(&log, &["--trust-root", s(&env.path("active-id.json"))]);
    assert_eq!(code(&output), 0, "{}", text(&output));
}

#[test]
fn a_key_revoked_under_one_id_never_verifies_a_bundle_under_another() {
    let env = Env::new();
    let roots = double_listed_roots(&env);
    let key = private_key(&env);
    let evidence = env.path("evidence");
    std::fs::create_dir(&evidence).unwrap();
    for file in ["evidence.json", "pr-attestation.md"] {
        std::fs::copy(
            format!("{FIXTURES}/bundle-ed25519/{file}"),
            evidence.join(file),
        )
        .unwrap();
    }
    let bundle = env.path("bundle");
    let output = run(&[
        "bundle",
        "create",
        s(&evidence),
        "--output",
        s(&bundle),
        "--private-key",
        s(&key),
        "--key-id",
        "active-id",
        "--signer",
        "platform-security",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let output = run(&[
        "--json",
        "bundle",
        "verify",
        s(&bundle),
        "--trust-root",
        s(&roots),
        "--key-id",
        "active-id",
    ]);
    assert_eq!(code(&output), 1, "{}", text(&output));
    let report = json(&output);
    let findings = report.to_string();
    assert!(findings.contains("root_revoked"), "{findings}");
    assert!(findings.contains("revoked-id"), "{findings}");
    let output = run(&[
        "--json",
        "bundle",
        "verify",
        s(&bundle),
        "--trust-root",
        s(&env.path("active-id.json")),
        "--key-id",
        "active-id",
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output));
}

#[test]
fn ed25519_redacted_exports_are_bound_by_the_private_key() {
    let env = Env::new();
    let key = private_key(&env);
    let roots = format!("{FIXTURES}/keys/evidence-trust-roots.json");
    let log = env.path("ed.jsonl");
    for actor in ["a1", "a2"] {
        let output = run(&[
            "audit",
            "append",
            "--log",
            s(&log),
            "--event-type",
            "e",
            "--actor",
            actor,
            "--action",
            "x",
            "--target",
            "t",
            "--decision",
            "allow",
            "--private-key",
            s(&key),
            "--key-id",
            "prod-evidence",
            "--created-at",
            "2026-07-04T00:00:01+00:00",
        ]);
        assert_eq!(code(&output), 0, "{}", text(&output));
    }
    let exported = env.path("export.jsonl");
    let output = run(&[
        "audit",
        "export",
        "--log",
        s(&log),
        "--format",
        "jsonl",
        "--redact",
        "actor",
        "--trust-root",
        &roots,
        "--private-key",
        s(&key),
        "--key-id",
        "prod-evidence",
        "--output",
        s(&exported),
    ]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let output = env.verify(&exported, &["--allow-redacted", "--trust-root", &roots]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let report = json(&output);
    assert_eq!(report["redacted_bound"], 2);
    assert_eq!(report["fully_checked_records"], 2);
    let original = std::fs::read_to_string(&exported).unwrap();
    std::fs::write(&exported, original.replacen("\"allow\"", "\"deny\"", 1)).unwrap();
    let output = env.verify(&exported, &["--allow-redacted", "--trust-root", &roots]);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(
        json(&output)["first_bad_record"]["check"],
        "redaction_signature"
    );
}
