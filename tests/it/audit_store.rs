//! Issue #17: the audit log kept in WORM storage, through the real binary. Many writer
//! processes at once on file://, LocalStack and the Azure WORM stand-in give one gap-free chain;
//! appenders killed with SIGKILL leave a log that verifies and can be extended; a record
//! rewritten, deleted or cut off behind the tool's back is caught and localised; export gives the
//! stored lines byte for byte; push is idempotent and refuses different bytes; anchor stores a
//! checkpoint that the independent `signed_note` crate accepts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cavra");
const ORIGIN: &str = "example.com/release-audit";

struct Env {
    dir: tempfile::TempDir,
    /// Extra environment for every run (emulator credentials).
    vars: Vec<(String, String)>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hmac.key"), "k-secret\n").unwrap();
        let key = dir.path().join("signing.pem");
        std::fs::copy(
            format!("{FIXTURES}/keys/evidence-ed25519-private.pem"),
            &key,
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        Env {
            dir,
            vars: Vec::new(),
        }
    }

    fn s3() -> Option<(Env, support::S3Env)> {
        let s3 = support::require_s3()?;
        let mut env = Env::new();
        for (name, value) in [
            ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", support::S3_ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", support::S3_SECRET_KEY),
            ("AWS_REGION", support::S3_REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            env.vars.push((name.into(), value.into()));
        }
        Some((env, s3))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wormvault"));
        // In the test's directory: receipts and session records default to the working one.
        command
            .current_dir(self.dir.path())
            .env_remove("WORMVAULT_LOG")
            .args(args);
        for (name, value) in &self.vars {
            command.env(name, value);
        }
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run wormvault")
    }

    fn append_args<'a>(&'a self, log: &'a str, actor: &'a str) -> Vec<String> {
        [
            "audit",
            "append",
            "--log",
            log,
            "--event-type",
            "evidence.archived",
            "--actor",
            actor,
            "--action",
            "archive",
            "--target",
            "bundle",
            "--decision",
            "allow",
            "--key-file",
            self.path("hmac.key").to_str().unwrap(),
            "--key-id",
            "kid",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn append(&self, log: &str, actor: &str) -> Output {
        let args = self.append_args(log, actor);
        self.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `audit verify --json` of a log with the HMAC key; (exit code, report).
    fn verify(&self, log: &str, extra: &[&str]) -> (i32, Value) {
        let key = self.path("hmac.key");
        let mut args = vec![
            "--json",
            "audit",
            "verify",
            "--log",
            log,
            "--key-file",
            key.to_str().unwrap(),
            "--key-id",
            "kid",
        ];
        args.extend_from_slice(extra);
        let output = self.run(&args);
        let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "verify printed no JSON ({e}): {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code().unwrap_or(-1), report)
    }

    /// `hold set TARGET --case CASE-1 …` recording the decision in the audit log `log`.
    fn hold_set(&self, target: &str, log: &str, extra: &[&str]) -> Output {
        let hmac = self.path("hmac.key");
        let mut args = vec![
            "hold",
            "set",
            target,
            "--case",
            "CASE-1",
            "--reason",
            "litigation",
            "--actor",
            "records-manager",
            "--audit-log",
            log,
            "--audit-key-file",
            hmac.to_str().unwrap(),
            "--audit-key-id",
            "kid",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn anchor(&self, log: &str) -> Output {
        self.anchor_with(log, &self.path("signing.pem"))
    }

    /// `audit anchor --json` of a log, its checkpoint signed with `signing_key`.
    fn anchor_with(&self, log: &str, signing_key: &Path) -> Output {
        self.run(&[
            "--json",
            "audit",
            "anchor",
            "--log",
            log,
            "--origin",
            ORIGIN,
            "--signing-key",
            signing_key.to_str().unwrap(),
            "--key-file",
            self.path("hmac.key").to_str().unwrap(),
            "--key-id",
            "kid",
        ])
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn public_key() -> String {
    format!("{FIXTURES}/keys/evidence-ed25519-public.pem")
}

/// `writers` threads, each running `per_writer` append processes one after the other.
fn many_writers(env: &Env, log: &str, writers: usize, per_writer: usize) {
    std::thread::scope(|scope| {
        for writer in 0..writers {
            scope.spawn(move || {
                for i in 0..per_writer {
                    let output = env.append(log, &format!("writer-{writer}-{i}"));
                    assert_eq!(
                        output.status.code(),
                        Some(0),
                        "append {i} of writer {writer} failed: {}",
                        text(&output)
                    );
                }
            });
        }
    });
}

/// The chain has exactly `n` records 1..n, every signature checked.
fn assert_chain(env: &Env, log: &str, n: u64) {
    let (exit, report) = env.verify(log, &[]);
    assert_eq!(exit, 0, "{report:#}");
    assert_eq!(report["valid"], true);
    assert_eq!(report["record_count"], n, "{report:#}");
    assert_eq!(report["record_objects"], n);
    assert_eq!(report["first_sequence"], 1);
    assert_eq!(report["last_sequence"], n);
    assert_eq!(report["signatures_checked"], n);
    assert_eq!(report["store_findings"], serde_json::json!([]));
}

fn vault_log(env: &Env, name: &str) -> String {
    let root = env.path(name);
    std::fs::create_dir_all(&root).unwrap();
    format!("file://{}/audit", root.display())
}

#[test]
fn file_vault_many_writers_give_one_gap_free_chain() {
    let env = Env::new();
    let log = vault_log(&env, "vault");
    many_writers(&env, &log, 4, 200);
    assert_chain(&env, &log, 800);
}

/// `audit verify --output FILE` of a log kept in a store writes the result object `--json`
/// prints, and refuses an existing FILE (exit 2) before reading the store.
#[test]
fn file_vault_verify_output_writes_the_result_and_never_overwrites() {
    let env = Env::new();
    let log = vault_log(&env, "vault");
    for actor in ["a", "b"] {
        let output = env.append(&log, actor);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    let result = env.path("result.json");
    let (exit, printed) = env.verify(&log, &["--output", result.to_str().unwrap()]);
    assert_eq!(exit, 0, "{printed:#}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(written, printed);
    assert_eq!(written["record_count"], 2);
    let before = std::fs::read(&result).unwrap();
    let output = env.run(&[
        "audit",
        "verify",
        "--log",
        &log,
        "--output",
        result.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("already exists"),
        "{}",
        text(&output)
    );
    assert_eq!(std::fs::read(&result).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn localstack_many_writers_give_one_gap_free_chain() {
    let Some((env, s3)) = Env::s3() else { return };
    let bucket = support::fresh_lock_bucket(&s3.client).await;
    let log = format!("s3://{bucket}/audit");
    tokio::task::block_in_place(|| {
        many_writers(&env, &log, 4, 200);
        assert_chain(&env, &log, 800);
    });
    // Every record is locked in COMPLIANCE mode for at least the policy minimum.
    let head = s3
        .client
        .head_object()
        .bucket(&bucket)
        .key("audit/records/00000000000000000800.json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );
    let until = head.object_lock_retain_until_date().unwrap().secs();
    let minimum = chrono::Utc::now().timestamp() + 2554 * 86_400;
    assert!(until >= minimum, "retained only until {until}");
}

/// A log on the Azure WORM stand-in: an `Env` holding the account key, the log URL
/// `<container>/audit` in a fresh container, the endpoint and the container's name (None when
/// the stand-in is not required and not running).
fn standin_log(container: &str) -> Option<(Env, String, String, String)> {
    let endpoint = support::azure::require_worm_standin()?;
    let container = support::azure::fresh_container(&endpoint, container).unwrap();
    let mut env = Env::new();
    env.vars.push((
        "AZURE_STORAGE_KEY".into(),
        wormvault::store::azure::auth::AZURITE_DEV_KEY.into(),
    ));
    let log = support::azure::target(&endpoint, &container, "audit").to_string();
    Some((env, log, endpoint, container))
}

#[test]
fn azure_standin_many_writers_give_one_gap_free_chain() {
    let Some((env, log, _, _)) = standin_log("audit-log") else {
        return;
    };
    many_writers(&env, &log, 4, 200);
    assert_chain(&env, &log, 800);
}

/// Start appenders and SIGKILL them after random short delays, several rounds; then the log
/// verifies, takes one more append, and still verifies.
fn killed_appenders_leave_a_log_that_verifies(env: &Env, log: &str) {
    kill_appenders(env, log);
    let (exit, report) = env.verify(log, &[]);
    assert_eq!(exit, 0, "after kills: {report:#}");
    let before = report["record_count"].as_u64().unwrap();
    let output = env.append(log, "after-the-kills");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_chain(env, log, before + 1);
}

/// 12 rounds of 4 appender processes, each SIGKILLed after a random delay under 120 ms.
fn kill_appenders(env: &Env, log: &str) {
    let mut seed: u64 = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    for round in 0..12 {
        let mut children = Vec::new();
        for writer in 0..4 {
            let args = env.append_args(log, &format!("killed-{round}-{writer}"));
            let child = env
                .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            children.push(child);
        }
        for mut child in children {
            std::thread::sleep(Duration::from_millis(random(120)));
            let _ = child.kill(); // SIGKILL on Unix
            let _ = child.wait();
        }
    }
}

/// The Azure WORM stand-in ignores the lock headers on Put Blob, so a record is locked right
/// after its write: a writer killed in between leaves the newest record unlocked. That is the
/// only thing a kill may leave: verify reports it (and nothing else), the next append waits for
/// the lock, then refuses naming the blob and what to do; once the blob is locked as the
/// message says, the log verifies and takes the next append. Otherwise (no kill landed in that
/// window) the log verifies and takes the next append directly.
#[test]
fn killed_appenders_on_the_azure_standin_leave_a_log_that_verifies() {
    let Some((env, log, endpoint, container)) = standin_log("audit-kill") else {
        return;
    };
    kill_appenders(&env, &log);
    let (exit, report) = env.verify(&log, &[]);
    if exit != 0 {
        let findings = report["store_findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1, "{report:#}");
        assert_eq!(report["error_count"], 1, "{report:#}");
        assert_eq!(findings[0]["record"], report["last_sequence"], "{report:#}");
        assert!(
            findings[0]["problem"]
                .as_str()
                .unwrap()
                .starts_with("the record object is not locked"),
            "{report:#}"
        );
        let key = findings[0]["key"].as_str().unwrap().to_string();
        eprintln!("a kill left the newest record unlocked: {key}");
        let output = env.append(&log, "while-unlocked");
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(
            text(&output).contains(&key)
                && text(&output).contains("lock that object with the log's retention"),
            "{}",
            text(&output)
        );
        // Do what the message says: lock the blob (a Locked immutability policy).
        let until = (chrono::Utc::now() + chrono::Duration::days(2556))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let locked = support::azure::rest(
            &endpoint,
            "PUT",
            &format!("/{container}/{key}"),
            "comp=immutabilityPolicies",
            &[
                ("x-ms-immutability-policy-until-date", &until),
                ("x-ms-immutability-policy-mode", "Locked"),
            ],
            b"",
        )
        .unwrap();
        assert_eq!(locked.status, 200, "{locked:?}");
    }
    let (exit, report) = env.verify(&log, &[]);
    assert_eq!(exit, 0, "after kills: {report:#}");
    let before = report["record_count"].as_u64().unwrap();
    let output = env.append(&log, "after-the-kills");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_chain(&env, &log, before + 1);
}

#[test]
fn killed_appenders_on_a_file_vault_leave_a_log_that_verifies() {
    let env = Env::new();
    let log = vault_log(&env, "vault");
    killed_appenders_leave_a_log_that_verifies(&env, &log);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_appenders_on_localstack_leave_a_log_that_verifies() {
    let Some((env, s3)) = Env::s3() else { return };
    let bucket = support::fresh_lock_bucket(&s3.client).await;
    let log = format!("s3://{bucket}/audit");
    tokio::task::block_in_place(|| killed_appenders_leave_a_log_that_verifies(&env, &log));
}

fn record_key(prefix: &str, n: u64) -> String {
    format!("{prefix}/records/{n:020}.json")
}

/// Versions of one key, oldest last (as S3 lists them).
async fn version_ids(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<String> {
    let listed = client
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    listed
        .versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .filter_map(|v| v.version_id().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rewritten_deleted_and_truncated_records_are_caught_on_localstack() {
    let Some((mut env, s3)) = Env::s3() else {
        return;
    };
    // Tests only: GOVERNANCE, so the attacker below can delete a locked version with bypass.
    env.vars
        .push((wormvault::audit::store::TEST_MODE_VAR.into(), "1".into()));
    let bucket = support::fresh_lock_bucket(&s3.client).await;
    let client = &s3.client;
    let url = |prefix: &str| format!("s3://{bucket}/{prefix}");
    for prefix in ["rewrite", "truncate", "gap"] {
        tokio::task::block_in_place(|| {
            for i in 0..10 {
                let output = env.append(&url(prefix), &format!("a{i}"));
                assert_eq!(output.status.code(), Some(0), "{}", text(&output));
            }
            let output = env.anchor(&url(prefix));
            assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        });
    }

    // 1. A record rewritten: a new version of record 5 (S3 allows a new version of a locked
    //    key without any bypass; only the old version is protected).
    let key = record_key("rewrite", 5);
    let original = client
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let forged = String::from_utf8(original.to_vec())
        .unwrap()
        .replace("\"a4\"", "\"mallory\"");
    client
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(forged.into_bytes().into())
        .send()
        .await
        .unwrap();
    let (exit, report) = tokio::task::block_in_place(|| {
        env.verify(&url("rewrite"), &["--checkpoint-key", &public_key()])
    });
    assert_eq!(exit, 1, "{report:#}");
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_bad_record"]["record"], 5, "{report:#}");
    assert!(
        report["first_bad_record"]["path"]
            .as_str()
            .unwrap()
            .ends_with(&key),
        "{report:#}"
    );
    let findings = report["store_findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["key"] == key.as_str()
            && f["record"] == 5
            && f["problem"].as_str().unwrap().contains("2 versions")),
        "{report:#}"
    );

    // 2. Truncation: the two newest records' versions deleted (GOVERNANCE bypass). The chain of
    //    8 that remains is valid by itself; the stored checkpoint of 10 shows what is missing.
    for n in [9, 10] {
        let key = record_key("truncate", n);
        for version in version_ids(client, &bucket, &key).await {
            client
                .delete_object()
                .bucket(&bucket)
                .key(&key)
                .version_id(version)
                .bypass_governance_retention(true)
                .send()
                .await
                .unwrap();
        }
    }
    let (exit, report) = tokio::task::block_in_place(|| {
        env.verify(&url("truncate"), &["--checkpoint-key", &public_key()])
    });
    assert_eq!(exit, 1, "{report:#}");
    assert_eq!(report["diagnosis"]["kind"], "truncation", "{report:#}");
    assert_eq!(report["checkpoints_verified"], 1);
    // Without the user's checkpoint key the checkpoint is not checked, and the report says so.
    let (_, report) = tokio::task::block_in_place(|| env.verify(&url("truncate"), &[]));
    assert_eq!(report["checkpoints_unchecked"], 1, "{report:#}");
    assert_eq!(report["checkpoints_verified"], 0);
    let plain = tokio::task::block_in_place(|| {
        env.run(&[
            "audit",
            "verify",
            "--log",
            &url("truncate"),
            "--key-file",
            env.path("hmac.key").to_str().unwrap(),
            "--key-id",
            "kid",
        ])
    });
    assert!(
        text(&plain).contains("1 NOT checked (no --checkpoint-key given)"),
        "{}",
        text(&plain)
    );
    // A truncated log whose checkpoint was not checked is never reported as a success: the
    // stored checkpoint's size (its key name) is compared with the records without any key.
    assert_eq!(plain.status.code(), Some(1), "{}", text(&plain));
    assert!(text(&plain).starts_with("INVALID"), "{}", text(&plain));
    assert!(
        text(&plain).contains(
            "truncate/checkpoints/00000000000000000010: a stored checkpoint covers 10 records but the log holds only 8: records 9..10 were cut off"
        ),
        "{}",
        text(&plain)
    );
    // Nothing is appended after the cut (it would take record 9's place and bury the cut), and
    // status refuses the log; the store is left as it was.
    let output = tokio::task::block_in_place(|| env.append(&url("truncate"), "after-the-cut"));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains(&format!(
            "audit log {}: truncate/checkpoints/00000000000000000010: a stored checkpoint covers 10 records but the log holds only 8"
        , url("truncate"))),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("wormvault audit push --log COPY --to LOG"));
    let status_target = format!("s3://{bucket}/status-target");
    let output = tokio::task::block_in_place(|| {
        env.run(&[
            "status",
            "--target",
            &status_target,
            "--audit-log",
            &url("truncate"),
            "--audit-key-file",
            env.path("hmac.key").to_str().unwrap(),
        ])
    });
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("records 9..10 were cut off"),
        "{}",
        text(&output)
    );
    assert_eq!(
        version_ids(client, &bucket, &record_key("truncate", 9)).await,
        Vec::<String>::new(),
        "a record was written after the cut"
    );

    // 3. A gap: record 4's only version deleted (bypass).
    let key = record_key("gap", 4);
    for version in version_ids(client, &bucket, &key).await {
        client
            .delete_object()
            .bucket(&bucket)
            .key(&key)
            .version_id(version)
            .bypass_governance_retention(true)
            .send()
            .await
            .unwrap();
    }
    let (exit, report) = tokio::task::block_in_place(|| env.verify(&url("gap"), &[]));
    assert_eq!(exit, 1, "{report:#}");
    assert_eq!(report["diagnosis"]["kind"], "deletion", "{report:#}");
    assert_eq!(report["diagnosis"]["record"], 4, "{report:#}");
    assert!(
        report["store_findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == key.as_str()
                && f["problem"]
                    .as_str()
                    .unwrap()
                    .contains("records 4..4 are missing")),
        "{report:#}"
    );
    // And the governance-mode test log says it is only GOVERNANCE-locked.
    assert_eq!(report["governance_locked_records"], 9);
}

#[test]
fn export_of_a_stored_log_is_its_records_byte_for_byte() {
    let env = Env::new();
    let log = vault_log(&env, "vault");
    for i in 0..7 {
        let output = env.append(&log, &format!("a{i}"));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    let exported = env.path("export.jsonl");
    let output = env.run(&[
        "audit",
        "export",
        "--log",
        &log,
        "--format",
        "jsonl",
        "--output",
        exported.to_str().unwrap(),
        "--key-file",
        env.path("hmac.key").to_str().unwrap(),
        "--key-id",
        "kid",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let mut stored = Vec::new();
    for n in 1..=7 {
        stored.extend(std::fs::read(env.path("vault").join(record_key("audit", n))).unwrap());
    }
    assert_eq!(std::fs::read(&exported).unwrap(), stored);
    let (exit, report) = env.verify(exported.to_str().unwrap(), &[]);
    assert_eq!(exit, 0, "{report:#}");
    assert_eq!(report["record_count"], 7);
    assert_eq!(report["signatures_checked"], 7);
    // CAVRA's rules, checked independently (python3's json/hashlib/hmac, as CAVRA computes them).
    let checked = Command::new("python3")
        .args(["-c", CAVRA_CHECK, exported.to_str().unwrap(), "k-secret"])
        .output()
        .expect("python3 must be on PATH");
    assert!(checked.status.success(), "{}", text(&checked));
    assert_eq!(String::from_utf8_lossy(&checked.stdout).trim(), "7");
}

/// CAVRA's chain rules: sequence = position, previous_hash = the previous record_hash,
/// record_hash = SHA-256 of the compact key-sorted JSON without record_hash and signature, and
/// the HS256 signature over the same JSON with record_hash.
const CAVRA_CHECK: &str = r#"
import base64, hashlib, hmac, json, sys
key = sys.argv[2].encode(); prev = None; n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.strip():
        continue
    n += 1
    r = json.loads(line)
    sig = r.pop("signature"); rh = r.pop("record_hash")
    assert r["sequence"] == n, (n, r["sequence"])
    assert r["previous_hash"] == prev, n
    assert hashlib.sha256(json.dumps(r, sort_keys=True, separators=(",", ":")).encode()).hexdigest() == rh, n
    r["record_hash"] = rh
    mac = hmac.new(key, json.dumps(r, sort_keys=True, separators=(",", ":")).encode(), hashlib.sha256).digest()
    assert sig["value"] == base64.b64encode(mac).decode(), n
    prev = rh
print(n)
"#;

/// A local log of `n` HMAC-signed records.
fn local_log(env: &Env, name: &str, n: u32, actor: &str) -> PathBuf {
    let path = env.path(name);
    for i in 0..n {
        let output = env.append(path.to_str().unwrap(), &format!("{actor}{i}"));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    path
}

fn push(env: &Env, logs: &[&Path], to: &str) -> Output {
    let mut args = vec!["--json", "audit", "push"];
    for log in logs {
        args.extend(["--log", log.to_str().unwrap()]);
    }
    let key = env.path("hmac.key");
    args.extend([
        "--to",
        to,
        "--key-file",
        key.to_str().unwrap(),
        "--key-id",
        "kid",
    ]);
    env.run(&args)
}

#[test]
fn push_is_idempotent_resumable_and_refuses_different_bytes() {
    let env = Env::new();
    let full = local_log(&env, "full.jsonl", 30, "p");
    // An interrupted push: only the first 10 lines made it.
    let first = env.path("first.jsonl");
    let text_full = std::fs::read_to_string(&full).unwrap();
    let ten: String = text_full.split_inclusive('\n').take(10).collect();
    std::fs::write(&first, ten).unwrap();
    let log = vault_log(&env, "vault");
    let output = push(&env, &[&first], &log);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let output = push(&env, &[&full], &log);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (
            summary["stored"].as_u64(),
            summary["already_stored"].as_u64()
        ),
        (Some(20), Some(10))
    );
    let output = push(&env, &[&full], &log);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (
            summary["stored"].as_u64(),
            summary["already_stored"].as_u64()
        ),
        (Some(0), Some(30))
    );
    assert_chain(&env, &log, 30);
    // The stored records are the file's lines byte for byte.
    let stored = std::fs::read_to_string(env.path("vault").join(record_key("audit", 30))).unwrap();
    assert_eq!(stored, text_full.split_inclusive('\n').nth(29).unwrap());
    // A different log is refused, naming the first record that differs.
    let other = local_log(&env, "other.jsonl", 3, "q");
    let output = push(&env, &[&other], &log);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("record 1 (records/00000000000000000001.json)"),
        "{}",
        text(&output)
    );
    assert_chain(&env, &log, 30);
}

/// Push is strictly sequential: when another writer holds record k, nothing after k is written.
/// (A parallel push stored records k+1… naming its own k as predecessor: a fork in the store.)
#[test]
fn push_writes_nothing_past_a_record_another_writer_claimed() {
    let env = Env::new();
    let full = local_log(&env, "full.jsonl", 40, "p");
    let first = env.path("first.jsonl");
    let text_full = std::fs::read_to_string(&full).unwrap();
    let ten: String = text_full.split_inclusive('\n').take(10).collect();
    std::fs::write(&first, ten).unwrap();
    let log = vault_log(&env, "vault");
    let output = push(&env, &[&first], &log);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    // Another pipeline appends record 11 before the push resumes.
    let output = env.append(&log, "other-pipeline");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let output = push(&env, &[&full], &log);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("record 11 (records/00000000000000000011.json)"),
        "{}",
        text(&output)
    );
    let records = env.path("vault").join("audit/records");
    let stored: Vec<String> = walk(&records)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(stored.len(), 11, "records past 11 were written: {stored:?}");
    assert_chain(&env, &log, 11);
}

/// A log cut back behind the tool's back (records deleted from a file:// vault below a stored
/// checkpoint's size) is refused by append, hold (with and without the checkpoint key) and
/// status before anything is written, naming the log and the checkpoint; pushing the missing
/// records back from a copy, as the message says, makes the log usable again.
#[test]
fn a_log_cut_back_below_a_stored_checkpoint_is_refused_before_writing_on_a_file_vault() {
    let env = Env::new();
    let log = vault_log(&env, "vault");
    for i in 0..5 {
        let output = env.append(&log, &format!("a{i}"));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    let output = env.anchor(&log);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let vault = env.path("vault");
    let mut copy = String::new();
    for n in 1..=5 {
        copy.push_str(&std::fs::read_to_string(vault.join(record_key("audit", n))).unwrap());
    }
    std::fs::write(env.path("copy.jsonl"), &copy).unwrap();
    // The cut: records 4 and 5 removed (a file:// vault is enforced by wormvault only).
    for n in [4, 5] {
        std::fs::remove_file(vault.join(record_key("audit", n))).unwrap();
        std::fs::remove_file(vault.join(format!(
            "audit/.wormvault/objects/{}.json",
            record_key("", n).trim_start_matches('/')
        )))
        .unwrap();
    }
    let before = walk(&vault);
    let expected = "checkpoints/00000000000000000005: a stored checkpoint covers 5 records but the log holds only 3: records 4..5 were cut off";
    let names = |output: &Output| text(output).contains(&log) && text(output).contains(expected);
    let output = env.append(&log, "after-the-cut");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(names(&output), "{}", text(&output));
    let hold = |extra: &[&str]| env.hold_set(&log, &log, extra);
    let output = hold(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(names(&output), "{}", text(&output));
    assert!(text(&output).contains("wormvault audit push --log COPY --to LOG"));
    // With the checkpoint key the signed checkpoint itself is checked against the records too.
    let key = env.path("signing.pem");
    let output = hold(&["--checkpoint-key", key.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("commits to 5 records but the log has 3: records 4..5 are missing"),
        "{}",
        text(&output)
    );
    let status_target = format!("file://{}", env.path("status-target").display());
    std::fs::create_dir_all(env.path("status-target")).unwrap();
    let output = env.run(&[
        "status",
        "--target",
        &status_target,
        "--audit-log",
        &log,
        "--audit-key-file",
        env.path("hmac.key").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(names(&output), "{}", text(&output));
    assert_eq!(walk(&vault), before, "a refusal wrote to the vault");
    // What the message says to do: push the missing records back from a copy.
    let output = push(&env, &[&env.path("copy.jsonl")], &log);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let output = env.append(&log, "after-the-restore");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let (exit, report) = env.verify(&log, &["--checkpoint-key", &public_key()]);
    assert_eq!(exit, 0, "{report:#}");
    assert_eq!(report["record_count"], 6, "{report:#}");
    assert_eq!(report["checkpoints_verified"], 1, "{report:#}");
}

/// `archive --audit-log <store log> --checkpoint-key` checks every checkpoint the log's store
/// holds against the pinned key before anything is written: a checkpoint signed with another
/// key (stored by `audit anchor` with that key, so it is locked and well-formed) stops the
/// archive at its verify stage, naming the checkpoint, and the target stays empty. The same
/// archive from a log whose checkpoint is signed with the pinned key goes through.
#[test]
fn archive_with_a_checkpoint_key_refuses_a_store_log_holding_a_foreign_checkpoint() {
    let env = Env::new();
    let d = env.path("");
    let run = |args: &[&str]| {
        let output = env.run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", text(&output));
    };
    let p = |name: &str| env.path(name).to_str().unwrap().to_string();
    run(&["-q", "keys", "generate", "--output-dir", &p("keys")]);
    run(&["-q", "keys", "generate", "--output-dir", &p("foreign")]);
    run(&[
        "-q",
        "keys",
        "trust-root",
        "--public-key",
        &p("keys/evidence-ed25519-public.pem"),
        "--output",
        &p("trust-root.json"),
        "--key-id",
        "release-key",
    ]);
    std::fs::create_dir_all(d.join("files")).unwrap();
    std::fs::write(d.join("files/evidence.json"), "{\"release\": \"2.1.0\"}\n").unwrap();
    run(&[
        "-q",
        "bundle",
        "create",
        &p("files"),
        "--output",
        &p("bundle"),
        "--private-key",
        &p("keys/evidence-ed25519-private.pem"),
        "--key-id",
        "release-key",
        "--session-id",
        "rel-1",
        "--retention-days",
        "2555",
    ]);
    // Two logs of 3 records: one anchored with the pinned key, one with a foreign key.
    let anchored = |name: &str, signing_key: &str| {
        let log = vault_log(&env, name);
        for i in 0..3 {
            let output = env.append(&log, &format!("{name}-{i}"));
            assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        }
        let output = env.anchor_with(&log, Path::new(signing_key));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        log
    };
    // The pinned checkpoint key is the release key (a trust root, as archive requires).
    let pinned = p("keys/evidence-ed25519-private.pem");
    let genuine = anchored("genuine", &pinned);
    let foreign = anchored("foreign-log", &p("foreign/evidence-ed25519-private.pem"));
    let archive = |log: &str, to: &str| {
        let target = format!("file://{}", env.path(to).display());
        env.run(&[
            "archive",
            &p("bundle"),
            "--trust-root",
            &p("trust-root.json"),
            "--key-id",
            "release-key",
            "--to",
            &target,
            "--audit-log",
            log,
            "--audit-hmac-key-file",
            &p("hmac.key"),
            "--audit-key-id",
            "kid",
            "--checkpoint-key",
            &pinned,
        ])
    };
    let before = walk(&env.path("foreign-log"));
    let output = archive(&foreign, "target-a");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = text(&output);
    assert!(
        message.contains("verify stage failed")
            && message.contains("checkpoints/00000000000000000003")
            && message.contains("nothing was stored"),
        "{message}"
    );
    assert!(
        !env.path("target-a").exists() || walk(&env.path("target-a")).is_empty(),
        "the refused archive stored objects"
    );
    assert_eq!(
        walk(&env.path("foreign-log")),
        before,
        "the refused archive wrote to the log"
    );
    let output = archive(&genuine, "target-b");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(!walk(&env.path("target-b")).is_empty());
    // The archive's event went into the stored log (through the log handle's own runtime,
    // which made the file:// vault's write panic before), and so does a hold's.
    let target = format!("file://{}", env.path("target-b").display());
    let output = env.hold_set(&target, &genuine, &["--checkpoint-key", &pinned]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let public = p("keys/evidence-ed25519-public.pem");
    let (exit, report) = env.verify(&genuine, &["--checkpoint-key", &public]);
    assert_eq!(exit, 0, "{report:#}");
    // 3 records, the archive's event, then the hold's decision and its application.
    assert_eq!(report["record_count"], 6, "{report:#}");
}

#[test]
fn anchor_stores_a_locked_checkpoint_that_signed_note_accepts() {
    let env = Env::new();
    let log = vault_log(&env, "vault");
    for i in 0..5 {
        assert_eq!(env.append(&log, &format!("a{i}")).status.code(), Some(0));
    }
    let output = env.anchor(&log);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["tree_size"], 5);
    assert_eq!(outcome["already_stored"], false);
    // A rerun of the same size stores nothing new and says so.
    let again: Value = serde_json::from_slice(&env.anchor(&log).stdout).unwrap();
    assert_eq!(again["already_stored"], true);

    let stored = env
        .path("vault")
        .join(format!("audit/checkpoints/{:020}", 5));
    let note_text = std::fs::read_to_string(&stored).unwrap();
    // Read-only on disk: the local vault's lock.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o222,
        0
    );
    let pem = std::fs::read_to_string(public_key()).unwrap();
    let key = <ed25519_dalek::VerifyingKey as ed25519_dalek::pkcs8::DecodePublicKey>::from_public_key_pem(&pem).unwrap();
    let vkey = wormvault::audit::checkpoint::verifier_key_string(ORIGIN, &key);
    let verifier = signed_note::StandardVerifier::new(&vkey).unwrap();
    let note = signed_note::Note::from_bytes(note_text.as_bytes()).unwrap();
    let (verified, _) = note
        .verify(&signed_note::VerifierList::new(vec![Box::new(verifier)]))
        .expect("signed_note verifies the stored checkpoint");
    assert_eq!(verified.len(), 1);
    let parsed = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
    assert_eq!(parsed.size(), 5);

    let (exit, report) = env.verify(&log, &["--checkpoint-key", &public_key()]);
    assert_eq!(exit, 0, "{report:#}");
    assert_eq!(report["checkpoints_verified"], 1);
    assert_eq!(report["checkpoints"][0]["consistent"], true);
}

/// A local log of `n` HMAC-signed records built with the library (actors p000, p001, …).
fn library_log(env: &Env, name: &str, n: u32) -> PathBuf {
    let path = env.path(name);
    let signer = wormvault::audit::Signer::Hmac {
        key: b"k-secret".to_vec(),
        key_id: "kid".into(),
    };
    for i in 0..n {
        let new = wormvault::audit::NewRecord {
            event_type: "evidence.archived".into(),
            actor: format!("p{i:03}"),
            action: "archive".into(),
            target: "bundle".into(),
            decision: "allow".into(),
            ..Default::default()
        };
        wormvault::audit::append(&path, &new, &signer).unwrap();
    }
    path
}

#[test]
fn an_append_after_thousands_of_records_finds_the_head() {
    let env = Env::new();
    let path = library_log(&env, "big.jsonl", 2345);
    let log = vault_log(&env, "vault");
    assert_eq!(push(&env, &[&path], &log).status.code(), Some(0));
    let output = env.append(&log, "next");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("appended record 2346"),
        "{}",
        text(&output)
    );
    assert_chain(&env, &log, 2346);
}

#[test]
fn record_bundles_speed_up_reads_and_a_forged_bundle_is_caught() {
    let env = Env::new();
    let path = library_log(&env, "big.jsonl", 600);
    let log = vault_log(&env, "vault");
    assert_eq!(push(&env, &[&path], &log).status.code(), Some(0));
    let output = env.anchor(&log);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["bundles_written"], 2, "{outcome:#}");
    let (exit, report) = env.verify(&log, &["--checkpoint-key", &public_key()]);
    assert_eq!(exit, 0, "{report:#}");
    assert_eq!(report["records_from_bundles"], 512);
    assert_eq!(report["record_count"], 600);
    // Without the checkpoint key no bundle is trusted: every record is read on its own. The
    // chain verifies, but with the stored checkpoint unchecked the verdict is not a success.
    let (exit, report) = env.verify(&log, &[]);
    assert_eq!(exit, 1, "{report:#}");
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(report["checkpoints_unchecked"], 1, "{report:#}");
    assert_eq!(report["records_from_bundles"], 0);

    // Someone with filesystem access rewrites record 300 inside its bundle (same size).
    let bundle = env.path("vault").join(format!("audit/bundles/{:020}", 257));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o644)).unwrap();
    let forged = std::fs::read_to_string(&bundle)
        .unwrap()
        .replace("\"p299\"", "\"p29X\"");
    std::fs::write(&bundle, forged).unwrap();
    let (exit, report) = env.verify(&log, &["--checkpoint-key", &public_key()]);
    assert_eq!(exit, 1, "{report:#}");
    assert_eq!(report["first_bad_record"]["record"], 300, "{report:#}");
    // Read record by record, the log itself is intact.
    let (exit, report) = env.verify(
        &log,
        &["--checkpoint-key", &public_key(), "--read-every-record"],
    );
    assert_eq!(exit, 0, "{report:#}");
}

#[test]
fn an_append_that_keeps_losing_gives_up_as_contended_naming_the_log() {
    let env = Env::new();
    let log = vault_log(&env, "vault");
    // Something holds the name of record 1 that is not a record (a directory): every claim of
    // sequence 1 collides, as it would against writers that always win.
    std::fs::create_dir_all(env.path("vault").join(record_key("audit", 1))).unwrap();
    let mut args = env.append_args(&log, "loser");
    args.extend(["--max-attempts".to_string(), "3".to_string()]);
    let output = env.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let message = text(&output);
    assert!(message.contains("contended"), "{message}");
    assert!(message.contains("3 attempts"), "{message}");
    assert!(message.contains(&log), "{message}");
    assert!(!message.contains("appended record"), "{message}");
}

#[test]
fn anchor_every_keeps_anchoring_and_stops_cleanly_on_sigterm() {
    let env = Env::new();
    let log = vault_log(&env, "vault");
    assert_eq!(env.append(&log, "first").status.code(), Some(0));
    let key = env.path("signing.pem");
    let hmac = env.path("hmac.key");
    let child = env
        .command(&[
            "audit",
            "anchor",
            "--log",
            &log,
            "--origin",
            ORIGIN,
            "--signing-key",
            key.to_str().unwrap(),
            "--key-file",
            hmac.to_str().unwrap(),
            "--key-id",
            "kid",
            "--every",
            "1s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let checkpoint = |size: u64| {
        env.path("vault")
            .join(format!("audit/checkpoints/{size:020}"))
    };
    // Poll (no timing asserted): the first anchor, then one of the grown log.
    let wait_for = |path: PathBuf| {
        for _ in 0..600 {
            if path.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{} never appeared", path.display());
    };
    wait_for(checkpoint(1));
    assert_eq!(env.append(&log, "second").status.code(), Some(0));
    wait_for(checkpoint(2));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("stopped by signal"),
        "{}",
        text(&output)
    );
    let (exit, report) = env.verify(&log, &["--checkpoint-key", &public_key()]);
    assert_eq!(exit, 0, "{report:#}");
    assert_eq!(report["checkpoints_verified"], 2);
}

/// Issue #17 item 3: `audit anchor` writes the C2SP tlog-tiles objects (hash tiles and entry
/// bundles, full and partial) before the checkpoint; the independent `tlog_tiles` crate reads
/// the stored tiles, recomputes the signed checkpoint's root and proves inclusion of stored
/// records; `audit verify` checks the tiles against the checkpoint and catches a rewritten one.
#[test]
fn anchor_writes_tlog_tiles_a_generic_client_proves_inclusion_from() {
    let env = Env::new();
    let path = library_log(&env, "log.jsonl", 300);
    let log = vault_log(&env, "vault");
    assert_eq!(push(&env, &[&path], &log).status.code(), Some(0));
    let output = env.anchor(&log);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    // 300 entries: full and partial level-0 tiles and entry bundles, and a partial level-1 tile.
    assert_eq!(outcome["tiles_written"], 5, "{outcome:#}");

    let root_dir = env.path("vault").join("audit");
    let mut stored = std::collections::HashMap::new();
    for entry in walk(&root_dir.join("tile")) {
        let relative = entry
            .strip_prefix(&root_dir)
            .unwrap()
            .to_string_lossy()
            .to_string();
        stored.insert(relative, std::fs::read(&entry).unwrap());
    }
    let mut paths: Vec<&String> = stored.keys().collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "tile/0/000",
            "tile/0/001.p/44",
            "tile/1/000.p/1",
            "tile/entries/000",
            "tile/entries/001.p/44"
        ]
    );
    let note_text =
        std::fs::read_to_string(root_dir.join(format!("checkpoints/{:020}", 300))).unwrap();
    let note = signed_note::Note::from_bytes(note_text.as_bytes()).unwrap();
    let checkpoint = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
    assert_eq!(checkpoint.size(), 300);

    struct Stored(std::collections::HashMap<String, Vec<u8>>);
    impl tlog_tiles::TileReader for Stored {
        fn height(&self) -> u8 {
            8
        }
        fn read_tiles(
            &self,
            tiles: &[tlog_tiles::Tile],
        ) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
            // Their paths carry the height (`tile/8/…`); C2SP's do not.
            tiles
                .iter()
                .map(|t| {
                    let path = t.path().replacen("tile/8/", "tile/", 1);
                    self.0
                        .get(&path)
                        .cloned()
                        .ok_or(tlog_tiles::Error::InvalidTile)
                })
                .collect()
        }
        fn save_tiles(&self, _tiles: &[tlog_tiles::Tile], _data: &[Vec<u8>]) {}
    }
    let reader_store = Stored(stored.clone());
    let reader = tlog_tiles::TileHashReader::new(300, *checkpoint.hash(), &reader_store);
    assert_eq!(
        tlog_tiles::tree_hash(300, &reader).unwrap(),
        *checkpoint.hash()
    );
    // Inclusion of stored records, by their record_hash (the tlog entry).
    for n in [1u64, 150, 300] {
        let line = std::fs::read_to_string(root_dir.join(format!("records/{n:020}.json"))).unwrap();
        let record: Value = serde_json::from_str(&line).unwrap();
        let entry = hex::decode(record["record_hash"].as_str().unwrap()).unwrap();
        let proof = tlog_tiles::prove_record(300, n - 1, &reader).unwrap();
        tlog_tiles::check_record(
            &proof,
            300,
            *checkpoint.hash(),
            n - 1,
            tlog_tiles::record_hash(&entry),
        )
        .unwrap();
    }

    let (exit, report) = env.verify(&log, &["--checkpoint-key", &public_key()]);
    assert_eq!(exit, 0, "{report:#}");
    assert!(
        report["tiles"].as_str().unwrap().starts_with("checked"),
        "{report:#}"
    );

    // A tile rewritten behind the tool's back (the local vault's lock is the tool's own).
    let tile = root_dir.join("tile/0/000");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[7] ^= 1;
    std::fs::write(&tile, bytes).unwrap();
    let (exit, report) = env.verify(&log, &["--checkpoint-key", &public_key()]);
    assert_eq!(exit, 1, "{report:#}");
    assert!(
        report["tiles"].as_str().unwrap().starts_with("FAILED"),
        "{report:#}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
