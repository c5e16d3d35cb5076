//! `status --max-anchor-age` (issue #17 item 6): the newest signed checkpoint under a store log's
//! `checkpoints/` is found, its signature checked against the pinned key, and its age held
//! against the limit — on a `file://` vault and on LocalStack, with the checkpoint objects
//! written through the store trait directly.

use std::path::Path;
use std::process::{Command, Output};

use chrono::{TimeDelta, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePublicKey;
use serde_json::Value;
use wormvault::audit::Checkpoint;
use wormvault::status::State;
use wormvault::status::anchor::{AnchorKey, AnchorPolicy, judge_in};
use wormvault::store::{self, ImmutableStore, LockSpec, PutObject, RetentionMode, Target};

use crate::support;

const ORIGIN: &str = "example.com/release-audit";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// Store a checkpoint of `size` with `root`, for `origin`, signed by `signer` at
/// `<log prefix>/checkpoints/<size>`.
async fn put_checkpoint(
    store: &dyn ImmutableStore,
    log_prefix: &str,
    size: u64,
    signer: &SigningKey,
    root: [u8; 32],
    origin: &str,
) {
    let note = Checkpoint {
        origin: origin.into(),
        size,
        root,
    }
    .sign(origin, signer)
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = under(log_prefix, &format!("checkpoints/{size:020}"));
    put_locked(store, dir.path(), key, note.as_bytes(), "text/plain").await;
}

/// `rest` under the log's prefix (none when the log is a vault's root).
fn under(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}/{rest}")
    }
}

/// Store `bytes` at `key`, create-only and COMPLIANCE-locked for a day (staged in `dir`).
async fn put_locked(
    store: &dyn ImmutableStore,
    dir: &Path,
    key: String,
    bytes: &[u8],
    content_type: &str,
) {
    let path = dir.join("object");
    std::fs::write(&path, bytes).unwrap();
    store
        .put(
            &PutObject {
                key,
                source: &path,
                size: bytes.len() as u64,
                sha256: wormvault::hashing::sha256_hex(bytes),
                lock: LockSpec {
                    mode: RetentionMode::Compliance,
                    retain_until: Utc::now() + TimeDelta::days(1),
                    legal_hold: false,
                },
                tags: Default::default(),
                metadata: Default::default(),
                content_type: Some(content_type.into()),
            },
            &|_| {},
        )
        .await
        .unwrap();
}

fn public_pem(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("checkpoint-public.pem");
    let pem = key()
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    std::fs::write(&path, pem).unwrap();
    path
}

fn status(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (Output, Value) {
    let output = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                Command::new(env!("CARGO_BIN_EXE_wormvault"))
                    .current_dir(dir)
                    .envs(env.iter().copied())
                    .args([&["--json", "status"][..], args].concat())
                    .output()
                    .unwrap()
            })
            .join()
            .unwrap()
    });
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        eprintln!(
            "status printed no JSON: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Value::Null
    });
    (output, report)
}

fn freshness(report: &Value) -> &Value {
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {report}"))
        .iter()
        .find(|c| c["name"] == "evidence_freshness")
        .unwrap()
}

/// Store `n` chained records (written to a local log by the CLI, then stored one object each,
/// locked, at `<log prefix>/records/<sequence>.json` as a store log keeps them).
async fn put_records(store: &dyn ImmutableStore, log_prefix: &str, dir: &Path, n: u64) {
    std::fs::write(dir.join("hmac.key"), "k-secret\n").unwrap();
    let stored = std::fs::read_to_string(dir.join("local.jsonl"))
        .map(|log| log.lines().count())
        .unwrap_or(0);
    for i in 0..n {
        let output = Command::new(env!("CARGO_BIN_EXE_wormvault"))
            .current_dir(dir)
            .args([
                "--quiet",
                "audit",
                "append",
                "--log",
                "local.jsonl",
                "--event-type",
                "evidence.archived",
                "--actor",
                &format!("a{i}"),
                "--action",
                "archive",
                "--target",
                "bundle",
                "--decision",
                "allow",
                "--key-file",
                "hmac.key",
                "--key-id",
                "kid",
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    let log = std::fs::read_to_string(dir.join("local.jsonl")).unwrap();
    for (index, line) in log.split_inclusive('\n').enumerate().skip(stored) {
        let key = under(log_prefix, &format!("records/{:020}.json", index + 1));
        put_locked(store, dir, key, line.as_bytes(), "application/x-ndjson").await;
    }
}

/// Anchor the stored log at its current size with `audit anchor` (checkpoint, tiles and
/// bundles, after the stored log verified), signed by the test key for `ORIGIN`.
fn anchor_now(dir: &Path, env: &[(&str, &str)], log: &str) {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let pem = dir.join("checkpoint-private.pem");
    if !pem.exists() {
        let text = key()
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        std::fs::write(&pem, text.as_bytes()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .current_dir(dir)
        .envs(env.iter().copied())
        .args([
            "-q",
            "audit",
            "anchor",
            "--log",
            log,
            "--origin",
            ORIGIN,
            "--signing-key",
            pem.to_str().unwrap(),
            "--key-file",
            "hmac.key",
            "--key-id",
            "kid",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The shared scenario: no anchor, then anchors of sizes 5 and 12, checked by the CLI (exit 1
/// while other checks fail is expected: the point is the evidence_freshness anchor verdict) and
/// by the library with a `now` in the future (too old) and a wrong key (blocked).
async fn scenario(
    writer: &dyn ImmutableStore,
    store: &dyn ImmutableStore,
    log: &Target,
    log_prefix: &str,
    target: &str,
    env: &[(&str, &str)],
) {
    let dir = tempfile::tempdir().unwrap();
    let pem = public_pem(dir.path());
    let log_url = log.to_string();
    // The log holds the records its checkpoints (sizes 5, 12, 13 below) count: a stored
    // checkpoint larger than the stored records is a log cut back, which status refuses.
    put_records(writer, log_prefix, dir.path(), 5).await;
    let args = [
        "--target",
        target,
        "--audit-log",
        &log_url,
        "--max-anchor-age",
        "26h",
        "--checkpoint-key",
        pem.to_str().unwrap(),
    ];
    let (out, report) = status(dir.path(), env, &args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = freshness(&report);
    assert_eq!(check["details"]["anchor_state"], "degraded", "{check}");
    assert!(
        check["reason"]
            .as_str()
            .unwrap()
            .contains("never been anchored"),
        "{check}"
    );

    anchor_now(dir.path(), env, &log_url);
    put_records(writer, log_prefix, dir.path(), 7).await;
    anchor_now(dir.path(), env, &log_url);
    put_records(writer, log_prefix, dir.path(), 1).await;
    let (_, report) = status(dir.path(), env, &args);
    let check = freshness(&report);
    assert_eq!(check["details"]["anchor_state"], "ready", "{check}");
    assert_eq!(check["details"]["anchor"]["anchor_size"], 12, "{check}");
    assert_eq!(check["details"]["anchor"]["anchor_signature_checked"], true);
    assert_eq!(check["details"]["anchor"]["anchor_root_matches_log"], true);
    assert!(
        check["reason"].as_str().unwrap().contains(
            "within 1day 2h, signature verified, root matches the log's first 12 records"
        ),
        "{check}"
    );
    // --origin names the log: its own anchors pass, another origin's is another log's.
    let with_origin = [&args[..], &["--origin", ORIGIN]].concat();
    let (_, report) = status(dir.path(), env, &with_origin);
    assert_eq!(freshness(&report)["details"]["anchor_state"], "ready");
    let other = [&args[..], &["--origin", "example.com/another-log"]].concat();
    let (_, report) = status(dir.path(), env, &other);
    let check = freshness(&report);
    assert_eq!(check["details"]["anchor_state"], "blocked", "{check}");
    assert!(
        check["reason"].as_str().unwrap().contains(
            "is for origin \"example.com/release-audit\", not this log's \"example.com/another-log\": it is a checkpoint of another log"
        ),
        "{check}"
    );

    // Without the key the signature is not checked, and that is not ready.
    let (_, report) = status(dir.path(), env, &args[..6]);
    let check = freshness(&report);
    assert_eq!(check["details"]["anchor_state"], "degraded", "{check}");
    assert!(check["reason"].as_str().unwrap().contains("not checked"));

    // Older than the limit (judged as of two days from now).
    let policy = AnchorPolicy {
        log: log.clone(),
        max_age: TimeDelta::hours(26),
        key: Some(AnchorKey {
            key: key().verifying_key(),
            name: None,
        }),
        origin: None,
    };
    let later = judge_in(store, &policy, Utc::now() + TimeDelta::days(2)).await;
    assert_eq!(later.state, State::Degraded, "{}", later.reason);
    assert!(
        later
            .reason
            .contains("older than --max-anchor-age (1day 2h)"),
        "{}",
        later.reason
    );
    assert_eq!(
        judge_in(store, &policy, Utc::now()).await.state,
        State::Ready
    );

    // A newer anchor signed by another key: the newest does not verify → blocked.
    put_checkpoint(
        writer,
        log_prefix,
        13,
        &SigningKey::from_bytes(&[8u8; 32]),
        [13; 32],
        ORIGIN,
    )
    .await;
    let forged = judge_in(store, &policy, Utc::now()).await;
    assert_eq!(forged.state, State::Blocked, "{}", forged.reason);
    assert!(
        forged.reason.contains("does not verify"),
        "{}",
        forged.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchor_age_on_a_file_vault() {
    let dir = tempfile::tempdir().unwrap();
    // A store log is written only at a vault root: the log is a vault of its own.
    let root = format!("file://{}/logvault", dir.path().display());
    let log = Target::parse(&root).unwrap();
    let vault = store::open(&log).await.unwrap();
    vault
        .preflight(&Default::default())
        .await
        .expect("the vault initialises");
    let target = format!("file://{}/vault", dir.path().display());
    scenario(vault.as_ref(), vault.as_ref(), &log, "", &target, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchor_age_on_localstack() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::s3::bucket_with(&s3.client, support::s3::FULL).await;
    let env = [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let settings = store::s3::S3Settings {
        endpoint_url: Some(s3.endpoint.clone()),
        region: Some("us-east-1".into()),
        credentials: Some(store::s3::S3Credentials {
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            session_token: None,
        }),
        ..Default::default()
    };
    let connect =
        |target: &Target| store::s3::S3Store::connect_with(target.clone(), settings.clone());
    let writer = connect(&Target::parse(&format!("s3://{bucket}")).unwrap())
        .await
        .unwrap();
    let log = Target::parse(&format!("s3://{bucket}/logs/release")).unwrap();
    let reader = connect(&log).await.unwrap();
    let target = format!("s3://{bucket}/evidence");
    scenario(&writer, &reader, &log, "logs/release", &target, &env).await;

    // A correctly signed note written as a new version over anchor 13 (which the bucket allows:
    // the old version stays locked) is a rewrite: blocked, whatever the new version says.
    let note = Checkpoint {
        origin: ORIGIN.into(),
        size: 13,
        root: [13; 32],
    }
    .sign(ORIGIN, &key())
    .unwrap();
    s3.client
        .put_object()
        .bucket(&bucket)
        .key(format!("logs/release/checkpoints/{:020}", 13))
        .body(note.into_bytes().into())
        .send()
        .await
        .unwrap();
    let policy = AnchorPolicy {
        log: log.clone(),
        max_age: TimeDelta::hours(26),
        key: Some(AnchorKey {
            key: key().verifying_key(),
            name: None,
        }),
        origin: None,
    };
    let rewritten = judge_in(&reader, &policy, Utc::now()).await;
    assert_eq!(rewritten.state, State::Blocked, "{}", rewritten.reason);
    assert!(
        rewritten.reason.contains("2 versions"),
        "{}",
        rewritten.reason
    );
}

#[test]
fn max_anchor_age_needs_a_store_log_and_a_real_duration() {
    let dir = tempfile::tempdir().unwrap();
    let vault = format!("file://{}/vault", dir.path().display());
    let (out, _) = status(
        dir.path(),
        &[],
        &[
            "--target",
            &vault,
            "--audit-log",
            "audit.jsonl",
            "--max-anchor-age",
            "26h",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is a local file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for bad in ["0s", "soon", "-3h"] {
        let (out, _) = status(
            dir.path(),
            &[],
            &[
                "--target",
                &vault,
                "--audit-log",
                &vault,
                "--max-anchor-age",
                bad,
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

/// Review 32 F3: a genuine checkpoint of ANOTHER log, signed by the same key and copied to a free
/// `checkpoints/<size>` key of this log, is not a fresh anchor of this log: its root does not
/// match the records at its size, so status refuses the log (exit 1) naming the mismatch,
/// instead of calling the anchor fresh and verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_logs_checkpoint_is_not_a_fresh_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let log = format!("file://{}/audit-a", dir.path().display());
    let root = format!("file://{}/vault", dir.path().display());
    let vault = store::open(&Target::parse(&log).unwrap()).await.unwrap();
    vault
        .preflight(&Default::default())
        .await
        .expect("the vault initialises");
    let pem = public_pem(dir.path());
    put_records(vault.as_ref(), "", dir.path(), 2).await;
    anchor_now(dir.path(), &[], &log);
    put_records(vault.as_ref(), "", dir.path(), 1).await;
    let args = [
        "--target",
        &root,
        "--audit-log",
        &log,
        "--max-anchor-age",
        "1m",
        "--checkpoint-key",
        pem.to_str().unwrap(),
    ];
    let (out, report) = status(dir.path(), &[], &args);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        freshness(&report)["details"]["anchor_state"],
        "ready",
        "{report}"
    );
    assert!(
        freshness(&report)["reason"]
            .as_str()
            .unwrap()
            .contains("within 1m, signature verified"),
        "{report}"
    );
    // Log B's checkpoint at size 3 (same key, its own origin and root) copied into log A.
    put_checkpoint(vault.as_ref(), "", 3, &key(), [0xbb; 32], "example.com/b").await;
    let (out, report) = status(dir.path(), &[], &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        report,
        Value::Null,
        "no ready report for a log that does not verify"
    );
    assert!(
        stderr.contains(r#"checkpoint \"example.com/b\" at size 3: root mismatch"#),
        "{stderr}"
    );
    // (--json: the refusal is a JSON object on stderr, its quotes escaped.)
    assert!(stderr.contains(r#""kind":"refused""#), "{stderr}");
}
