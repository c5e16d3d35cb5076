//! Legal holds by case (issue 16) through the real binary, on a local vault, LocalStack and the
//! Azure WORM stand-in, with the store's state read back through the library: two cases on
//! overlapping objects, a release keeping the other case's objects held, an unknown case refused,
//! a flag turned off behind the tool's back found by `hold status`, `hold report` CSV matching the
//! store, a cut-back log refused against the stored checkpoint, a kill -9 during a 10,000-object
//! hold finished by a rerun without double-logging, and the S3 Batch Operations hand-off.

use crate::support;
use crate::support::azure as az;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use wormvault::store::s3::{S3Credentials, S3Settings, S3Store};
use wormvault::store::{ImmutableStore, LockSpec, PutObject, RetentionMode, StoredObject, Target};

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[track_caller]
fn expect(output: Output, code: i32) -> Output {
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}:\n{}",
        text(&output)
    );
    assert!(!text(&output).contains("panicked"), "{}", text(&output));
    output
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// How to run the CLI against one backend (credentials in the environment, never argv).
struct Cli {
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
}

impl Cli {
    fn new(env: Vec<(&'static str, String)>) -> Cli {
        let cli = Cli {
            dir: tempfile::tempdir().unwrap(),
            env,
        };
        expect(
            cli.run(&["-q", "keys", "generate", "--output-dir", "keys"]),
            0,
        );
        cli
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wormvault"));
        command
            .current_dir(self.dir.path())
            .env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .env_remove("AZURE_STORAGE_SAS_TOKEN")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        std::thread::scope(|s| s.spawn(|| self.command(args).output().unwrap()).join()).unwrap()
    }

    /// `hold ...` with the registry flags: the log, its signing key, the checkpoint key.
    fn hold(&self, args: &[&str]) -> Output {
        let mut all = vec!["hold"];
        all.extend_from_slice(args);
        all.extend_from_slice(&REGISTRY);
        self.run(&all)
    }

    fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("holds.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

const REGISTRY: [&str; 6] = [
    "--audit-log",
    "holds.jsonl",
    "--audit-signing-key",
    "keys/evidence-ed25519-private.pem",
    "--checkpoint-key",
    "keys/evidence-ed25519-private.pem",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Write `keys` (content = key) with a short GOVERNANCE lock and no hold.
async fn seed(store: &dyn ImmutableStore, keys: &[String]) {
    let scratch = tempfile::tempdir().unwrap();
    for (i, key) in keys.iter().enumerate() {
        let path = scratch.path().join(format!("{i}"));
        std::fs::write(&path, key.as_bytes()).unwrap();
        let digest = wormvault::hashing::sha256_file(&path, &|_| {}).unwrap();
        let object = PutObject {
            key: key.clone(),
            source: &path,
            size: digest.bytes,
            sha256: digest.sha256.clone(),
            lock: LockSpec {
                mode: RetentionMode::Governance,
                retain_until: chrono::DateTime::from_timestamp(Utc::now().timestamp() + 86_400, 0)
                    .unwrap(),
                legal_hold: false,
            },
            tags: BTreeMap::new(),
            metadata: BTreeMap::from([("sha256".to_string(), digest.sha256.clone())]),
            content_type: None,
        };
        store.put(&object, &|_| {}).await.expect("seed object");
    }
}

/// Every version under `prefix`, by key (each key has one version here).
fn state(
    rt: &tokio::runtime::Runtime,
    store: &dyn ImmutableStore,
    prefix: &str,
) -> BTreeMap<String, StoredObject> {
    rt.block_on(store.list(prefix))
        .unwrap()
        .into_iter()
        .filter(|o| !o.key.starts_with("_wormvault/"))
        .map(|o| (o.key.clone(), o))
        .collect()
}

fn held(objects: &BTreeMap<String, StoredObject>) -> Vec<String> {
    objects
        .values()
        .filter(|o| o.legal_hold == Some(true))
        .map(|o| o.key.clone())
        .collect()
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The whole records-manager scenario on one backend. `root` is the CLI target of the store's
/// root (no prefix); `store` the same store through the library.
fn scenario(cli: &Cli, root: &str, store: &dyn ImmutableStore) {
    let rt = runtime();
    let a = keys(&["m/a/1.txt", "m/a/2.txt", "m/a/3.txt"]);
    let b = keys(&["m/b/1.txt", "m/b/2.txt", "m/b/3.txt"]);
    rt.block_on(seed(store, &[a.clone(), b.clone()].concat()));
    let m = format!("{}/m", root.trim_end_matches('/'));
    let mb = format!("{m}/b");
    let ma = format!("{m}/a");

    // Without the audit log (the registry) a hold command is refused, saying why.
    let refused = expect(
        cli.run(&[
            "hold", "set", &m, "--case", "CASE-42", "--reason", "r", "--actor", "rm",
        ]),
        2,
    );
    assert!(
        text(&refused).contains("needs --audit-log"),
        "{}",
        text(&refused)
    );
    assert!(held(&state(&rt, store, "m/")).is_empty());

    // CASE-42 holds all six, CASE-77 the three under b/ (overlap).
    let set = json(&expect(
        cli.hold(&[
            "--json",
            "set",
            &m,
            "--case",
            "CASE-42",
            "--reason",
            "litigation",
            "--actor",
            "records-manager",
        ]),
        0,
    ));
    assert_eq!(set["objects"].as_array().unwrap().len(), 6, "{set}");
    assert!(
        set["anchor"]["key"]
            .as_str()
            .unwrap()
            .starts_with("_wormvault/holds/")
    );
    expect(
        cli.hold(&[
            "set",
            &mb,
            "--case",
            "CASE-77",
            "--reason",
            "regulator",
            "--actor",
            "rm",
        ]),
        0,
    );
    assert_eq!(held(&state(&rt, store, "m/")).len(), 6);

    // The events: one decision per case per object set, each completed, keys and case exact.
    let log = cli.log();
    let decisions: Vec<&serde_json::Value> = log
        .iter()
        .filter(|r| r["event_type"] == "legal_hold.set")
        .collect();
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0]["metadata"]["case"], "CASE-42");
    assert_eq!(decisions[0]["actor"], "records-manager");
    assert_eq!(decisions[0]["metadata"]["reason"], "litigation");
    let logged: Vec<&str> = decisions[0]["metadata"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(logged.len(), 6);
    assert!(a.iter().chain(&b).all(|k| logged.contains(&k.as_str())));
    assert_eq!(
        log.iter()
            .filter(|r| r["event_type"] == "legal_hold.applied")
            .count(),
        2
    );

    // Release of a case that holds nothing: refused, nothing logged or changed.
    let before = cli.log().len();
    let unknown = expect(
        cli.hold(&[
            "release",
            &m,
            "--case",
            "CASE-99",
            "--reason",
            "x",
            "--actor",
            "rm",
            "--confirm-release",
        ]),
        1,
    );
    assert!(
        text(&unknown).contains("holds nothing"),
        "{}",
        text(&unknown)
    );
    assert_eq!(cli.log().len(), before);
    assert_eq!(held(&state(&rt, store, "m/")).len(), 6);

    // A dry run says what would change and changes nothing.
    let dry = json(&expect(
        cli.hold(&[
            "--json",
            "release",
            &m,
            "--case",
            "CASE-42",
            "--reason",
            "settled",
            "--actor",
            "rm",
            "--dry-run",
        ]),
        0,
    ));
    let would_release: Vec<&str> = dry["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["wanted"] == false)
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        would_release.len(),
        3,
        "only a/ is held by CASE-42 alone: {dry}"
    );
    assert!(would_release.iter().all(|k| k.starts_with("m/a/")));
    assert_eq!(cli.log().len(), before);
    assert_eq!(held(&state(&rt, store, "m/")).len(), 6);

    // Releasing CASE-77 keeps the overlap held for CASE-42.
    expect(
        cli.hold(&[
            "release",
            &m,
            "--case",
            "CASE-77",
            "--reason",
            "closed",
            "--actor",
            "rm",
            "--confirm-release",
        ]),
        0,
    );
    assert_eq!(held(&state(&rt, store, "m/")).len(), 6);
    // Releasing CASE-42 on a/ only clears a/.
    expect(
        cli.hold(&[
            "release",
            &ma,
            "--case",
            "CASE-42",
            "--reason",
            "partial",
            "--actor",
            "rm",
            "--confirm-release",
        ]),
        0,
    );
    assert_eq!(held(&state(&rt, store, "m/")), b);
    let status = expect(cli.hold(&["status", &m]), 0);
    assert!(text(&status).contains("agree"), "{}", text(&status));

    // `hold report` CSV parses and matches the store.
    let report = expect(
        cli.hold(&["report", &m, "--case", "CASE-42", "--format", "csv"]),
        0,
    );
    let csv = String::from_utf8(report.stdout).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    let stored = state(&rt, store, "m/");
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{csv}");
        let object = &stored[row[col("key")]];
        assert_eq!(row[col("case")], "CASE-42");
        assert_eq!(row[col("legal_hold")], "true");
        assert_eq!(object.legal_hold, Some(true));
        assert_eq!(
            row[col("version_id")],
            object.version_id.as_deref().unwrap_or("")
        );
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(row[col("retain_until")]).unwrap(),
            object.retain_until.unwrap()
        );
        assert!(row[col("location")].contains(&object.key), "{csv}");
    }

    // A flag turned off behind the tool's back is a finding (exit 1) naming the object.
    let victim = &stored["m/b/2.txt"];
    rt.block_on(store.set_legal_hold(&victim.key, victim.version_id.as_deref(), false))
        .unwrap();
    let found = json(&expect(cli.hold(&["--json", "status", &m]), 1));
    let findings = found["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{found}");
    assert_eq!(findings[0]["kind"], "flag_off_while_held");
    assert_eq!(findings[0]["key"], "m/b/2.txt");
    // `hold set` for the case repairs it.
    expect(
        cli.hold(&[
            "set", &mb, "--case", "CASE-42", "--reason", "repair", "--actor", "rm",
        ]),
        0,
    );
    expect(cli.hold(&["status", &m]), 0);

    // The log verifies; cut back by its last record it no longer matches the checkpoint stored
    // in the target, and every hold command refuses it.
    let path = cli.dir.path().join("holds.jsonl");
    expect(
        cli.run(&[
            "audit",
            "verify",
            "--log",
            "holds.jsonl",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
        ]),
        0,
    );
    let full = std::fs::read_to_string(&path).unwrap();
    let mut cut: Vec<&str> = full.lines().collect();
    cut.pop();
    std::fs::write(&path, format!("{}\n", cut.join("\n"))).unwrap();
    let refused = expect(cli.hold(&["status", &m]), 1);
    assert!(
        text(&refused).contains(
            "is signed by your checkpoint key but is not a checkpoint of the audit log holds.jsonl"
        ) && text(&refused).contains("or this log was cut back or rewritten")
            && text(&refused).contains("(truncated)"),
        "{}",
        text(&refused)
    );
    std::fs::write(&path, full).unwrap();
    expect(cli.hold(&["status", &m]), 0);

    // A checkpoint planted in the anchor folder by someone without the key, newer by name than
    // every genuine one and locked: it cannot bind the log (not signed by the checkpoint key), so
    // it is named and passed over, and the newest genuine checkpoint still binds the log —
    // before, every hold command refused for as long as the planted object stayed locked.
    let scratch = tempfile::tempdir().unwrap();
    let forged = scratch.path().join("forged.txt");
    std::fs::write(
        &forged,
        "wormvault-legal-holds\n999\nAAAA\n\n\u{2014} x AAAA\n",
    )
    .unwrap();
    let digest = wormvault::hashing::sha256_file(&forged, &|_| {}).unwrap();
    rt.block_on(store.put(
        &PutObject {
            key: "_wormvault/holds/wormvault-legal-holds/checkpoint-999-forged.txt".into(),
            source: &forged,
            size: digest.bytes,
            sha256: digest.sha256.clone(),
            lock: LockSpec {
                mode: RetentionMode::Governance,
                retain_until:
                    chrono::DateTime::from_timestamp(Utc::now().timestamp() + 86_400, 0).unwrap(),
                legal_hold: false,
            },
            tags: BTreeMap::new(),
            metadata: BTreeMap::from([("sha256".to_string(), digest.sha256)]),
            content_type: None,
        },
        &|_| {},
    ))
    .unwrap();
    let status = expect(cli.hold(&["status", &m]), 0);
    assert!(
        text(&status).contains("checkpoint-999-forged.txt")
            && text(&status).contains("passed over")
            && text(&status).contains("against the stored checkpoint"),
        "{}",
        text(&status)
    );
    let status = json(&expect(cli.hold(&["--json", "status", &m]), 0));
    assert!(
        status["anchors_ignored"][0]
            .as_str()
            .is_some_and(|s| s.contains("checkpoint-999-forged.txt")),
        "{status}"
    );
    assert!(
        !status["anchor_checked"][0]
            .as_str()
            .unwrap()
            .contains("forged"),
        "{status}"
    );
    // Holds can still be set and released.
    expect(
        cli.hold(&[
            "set",
            &m,
            "--case",
            "CASE-after-plant",
            "--reason",
            "r",
            "--actor",
            "a",
        ]),
        0,
    );
    // The log cut back is still refused: the genuine checkpoint binds it.
    let full = std::fs::read_to_string(&path).unwrap();
    let mut cut: Vec<&str> = full.lines().collect();
    cut.pop();
    std::fs::write(&path, format!("{}\n", cut.join("\n"))).unwrap();
    expect(cli.hold(&["status", &m]), 1);
    std::fs::write(&path, full).unwrap();
}

#[test]
fn cases_on_a_local_vault() {
    let cli = Cli::new(vec![]);
    let vault = cli.dir.path().join("vault");
    std::fs::create_dir_all(vault.join(".wormvault")).unwrap();
    let root = format!("file://{}", vault.display());
    let rt = runtime();
    let store = rt
        .block_on(wormvault::store::open(&Target::parse(&root).unwrap()))
        .unwrap();
    drop(rt);
    scenario(&cli, &root, store.as_ref());
}

fn s3_settings(endpoint: &str) -> S3Settings {
    S3Settings {
        endpoint_url: Some(endpoint.to_string()),
        region: Some(support::S3_REGION.to_string()),
        credentials: Some(S3Credentials {
            access_key_id: support::S3_ACCESS_KEY.into(),
            secret_access_key: support::S3_SECRET_KEY.into(),
            session_token: None,
        }),
        ..S3Settings::default()
    }
}

fn s3_cli(endpoint: &str) -> Cli {
    Cli::new(vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ])
}

#[test]
fn cases_on_localstack() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let rt = runtime();
    let bucket = rt.block_on(support::fresh_lock_bucket(&s3.client));
    let root = format!("s3://{bucket}");
    let store = rt
        .block_on(S3Store::connect_with(
            Target::parse(&root).unwrap(),
            s3_settings(&s3.endpoint),
        ))
        .unwrap();
    drop(rt);
    scenario(&s3_cli(&s3.endpoint), &root, &store);
}

#[test]
fn cases_on_the_azure_worm_standin() {
    let Some(standin) = az::require_worm_standin() else {
        return;
    };
    let container = az::fresh_container(&standin, "holds").unwrap();
    let store = az::store(&standin, &container, Default::default());
    let root = az::target(&standin, &container, "").to_string();
    let cli = Cli::new(vec![(
        "AZURE_STORAGE_KEY",
        wormvault::store::azure::auth::AZURITE_DEV_KEY.to_string(),
    )]);
    scenario(&cli, &root, &store);
}

/// Fabricate `count` vault objects directly on disk (the vault's own record format), far
/// faster than `put`, so the interrupted run has a large job to interrupt.
fn fabricate_vault(vault: &Path, prefix: &str, count: usize) {
    let records = vault.join(".wormvault/objects").join(prefix);
    std::fs::create_dir_all(&records).unwrap();
    std::fs::create_dir_all(vault.join(prefix)).unwrap();
    let until = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    for i in 0..count {
        let name = format!("obj-{i:05}.txt");
        let body = format!("object {i}\n");
        std::fs::write(vault.join(prefix).join(&name), &body).unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
        let record = serde_json::json!({
            "key": format!("{prefix}/{name}"), "sha256": sha, "size": body.len(),
            "retention_mode": "governance", "retain_until": until, "legal_hold": false,
            "tags": {}, "metadata": {}, "created_at": Utc::now().to_rfc3339(),
        });
        std::fs::write(records.join(format!("{name}.json")), record.to_string()).unwrap();
    }
}

/// kill -9 during a 10,000-object hold, then rerun: every version held, one decision for the
/// case naming every version once, the interrupted job completed by one outcome, chain valid.
#[test]
fn kill_during_a_large_hold_and_rerun_finishes_without_double_logging() {
    const COUNT: usize = 10_000;
    let cli = Cli::new(vec![]);
    let vault = cli.dir.path().join("vault");
    fabricate_vault(&vault, "big", COUNT);
    let target = format!("file://{}/big", vault.display());
    let mut args = vec![
        "hold",
        "set",
        &target,
        "--case",
        "CASE-9",
        "--reason",
        "l",
        "--actor",
        "rm",
        "--concurrency",
        "2",
    ];
    args.extend_from_slice(&REGISTRY);
    let mut child = cli
        .command(&args)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = cli.dir.path().join("holds.jsonl");
    let started = std::time::Instant::now();
    // Kill once the decision is logged (the flags are then being applied).
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .ends_with('\n')
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it was killed"
        );
        assert!(started.elapsed().as_secs() < 120, "no decision logged");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !cli.log()
            .iter()
            .any(|r| r["event_type"] == "legal_hold.applied"),
        "the run finished before the kill: the test proves nothing"
    );
    let rt = runtime();
    let store = rt
        .block_on(wormvault::store::open(&Target::parse(&target).unwrap()))
        .unwrap();
    let partial = held(&state(&rt, store.as_ref(), "big/")).len();
    assert!(partial < COUNT, "all {COUNT} held before the kill");
    // Status says the job is unfinished.
    let status = json(&expect(cli.hold(&["--json", "status", &target]), 1));
    assert!(
        status["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "unfinished"),
        "{}",
        status["findings"]
    );

    let rerun = expect(
        cli.hold(&[
            "--json", "set", &target, "--case", "CASE-9", "--reason", "l", "--actor", "rm",
        ]),
        0,
    );
    // Progress as JSON lines on stderr: done of total, with an ETA.
    let progress: Vec<serde_json::Value> = String::from_utf8_lossy(&rerun.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["event"] == "hold_progress")
        .collect();
    let last = progress.last().expect("progress lines with --json");
    assert_eq!(
        (last["done"].as_u64(), last["total"].as_u64()),
        (Some(10_000), Some(10_000))
    );
    assert!(last.get("eta_seconds").is_some());
    let rerun = json(&rerun);
    assert_eq!(
        rerun["decision_record"],
        serde_json::Value::Null,
        "re-logged"
    );
    assert_eq!(rerun["resumed"], serde_json::json!([1]));
    assert_eq!(held(&state(&rt, store.as_ref(), "big/")).len(), COUNT);
    let log = cli.log();
    let decisions: Vec<_> = log
        .iter()
        .filter(|r| r["event_type"] == "legal_hold.set")
        .collect();
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        decisions[0]["metadata"]["objects"]
            .as_array()
            .unwrap()
            .len(),
        COUNT
    );
    let outcomes: Vec<_> = log
        .iter()
        .filter(|r| r["event_type"] == "legal_hold.applied")
        .collect();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0]["metadata"]["completes"][0]["sequence"], 1);
    expect(
        cli.run(&[
            "audit",
            "verify",
            "--log",
            "holds.jsonl",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
        ]),
        0,
    );
    expect(cli.hold(&["status", &target]), 0);
    // A second rerun logs nothing new.
    expect(
        cli.hold(&[
            "set", &target, "--case", "CASE-9", "--reason", "l", "--actor", "rm",
        ]),
        0,
    );
    assert_eq!(cli.log().len(), log.len());
}

/// `hold set --batch-manifest` on LocalStack: the manifest names every version (keys
/// URL-encoded), the job is S3PutObjectLegalHold ON, the decision records every version, no flag
/// is changed; `hold status` reports the pending job, and a plain rerun finishes it.
#[test]
fn batch_manifest_hand_off_on_localstack() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let rt = runtime();
    let bucket = rt.block_on(support::fresh_lock_bucket(&s3.client));
    let root = format!("s3://{bucket}");
    let store = rt
        .block_on(S3Store::connect_with(
            Target::parse(&root).unwrap(),
            s3_settings(&s3.endpoint),
        ))
        .unwrap();
    let names = keys(&["x/plain.txt", "x/with space,comma.txt", "x/ü+é.txt"]);
    rt.block_on(seed(&store, &names));
    let cli = s3_cli(&s3.endpoint);
    let x = format!("{root}/x");
    let out = json(&expect(
        cli.hold(&[
            "--json",
            "set",
            &x,
            "--case",
            "CASE-B",
            "--reason",
            "bulk",
            "--actor",
            "rm",
            "--batch-manifest",
            "manifest.csv",
            "--batch-account-id",
            "111122223333",
            "--batch-role-arn",
            "arn:aws:iam::111122223333:role/holds",
            "--batch-manifest-location",
            &format!("s3://{bucket}-ops/manifests/case-b.csv"),
            "--batch-report-location",
            &format!("s3://{bucket}-ops/reports"),
        ]),
        0,
    ));
    let manifest = std::fs::read_to_string(cli.dir.path().join("manifest.csv")).unwrap();
    let stored = state(&rt, &store, "x/");
    assert!(held(&stored).is_empty(), "the hand-off changed flags");
    let rows: Vec<&str> = manifest.lines().collect();
    assert_eq!(rows.len(), 3, "{manifest}");
    for object in stored.values() {
        let encoded =
            percent_encoding::utf8_percent_encode(&object.key, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2F", "/")
                .replace("%2E", ".")
                .replace("%2D", "-")
                .replace("%5F", "_");
        let row = format!(
            "{bucket},{encoded},{}",
            object.version_id.as_deref().unwrap()
        );
        assert!(rows.contains(&row.as_str()), "{row} not in {manifest}");
    }
    let job: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cli.dir.path().join(out["batch_job"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(
        job["Operation"]["S3PutObjectLegalHold"]["LegalHold"]["Status"],
        "ON"
    );
    assert_eq!(
        job["Manifest"]["Spec"]["Fields"],
        serde_json::json!(["Bucket", "Key", "VersionId"])
    );
    assert_eq!(
        job["Manifest"]["Location"]["ETag"],
        hex::encode(<md5::Md5 as md5::Digest>::digest(manifest.as_bytes()))
    );
    let decision = cli
        .log()
        .into_iter()
        .find(|r| r["event_type"] == "legal_hold.set")
        .unwrap();
    assert_eq!(decision["metadata"]["objects"].as_array().unwrap().len(), 3);
    expect(cli.hold(&["status", &x]), 1);
    expect(
        cli.hold(&[
            "set", &x, "--case", "CASE-B", "--reason", "bulk", "--actor", "rm",
        ]),
        0,
    );
    assert_eq!(held(&state(&rt, &store, "x/")).len(), 3);
    expect(cli.hold(&["status", &x]), 0);
}

/// Archive-time holds go through the registry: a bundle whose signed policy says
/// `legal_hold: true` is refused without a case, `--legal-hold CASE` without an audit log is
/// refused before anything is written, and with one every stored object is registered for the
/// case — `hold status` agrees, and releasing the case clears them.
#[test]
fn archive_time_holds_are_registered_for_the_case() {
    let cli = Cli::new(vec![]);
    expect(
        cli.run(&[
            "-q",
            "keys",
            "trust-root",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
            "--output",
            "trust-root.json",
            "--key-id",
            "release-key",
        ]),
        0,
    );
    std::fs::create_dir_all(cli.dir.path().join("files")).unwrap();
    std::fs::write(cli.dir.path().join("files/evidence.json"), "{}\n").unwrap();
    expect(
        cli.run(&[
            "-q",
            "bundle",
            "create",
            "files",
            "--output",
            "bundle",
            "--private-key",
            "keys/evidence-ed25519-private.pem",
            "--key-id",
            "release-key",
            "--session-id",
            "rel-h",
            "--legal-hold",
        ]),
        0,
    );
    let vault = cli.dir.path().join("vault");
    let root = format!("file://{}", vault.display());
    let archive = |extra: &[&str], receipts: &str| {
        let mut args = vec![
            "archive",
            "bundle",
            "--trust-root",
            "trust-root.json",
            "--to",
            &root,
            "--receipts-out",
            receipts,
        ];
        args.extend_from_slice(extra);
        cli.run(&args)
    };
    let stored_keys = || -> Vec<String> {
        let rt = runtime();
        match rt.block_on(wormvault::store::open(&Target::parse(&root).unwrap())) {
            Ok(store) => state(&rt, store.as_ref(), "").into_keys().collect(),
            Err(_) => Vec::new(),
        }
    };
    let refused = expect(archive(&[], "r1.json"), 1);
    assert!(
        text(&refused).contains("--legal-hold CASE"),
        "{}",
        text(&refused)
    );
    // No audit log (the case registry): a usage error (exit 2), as for hold commands.
    let refused = expect(archive(&["--legal-hold", "CASE-42"], "r2.json"), 2);
    assert!(text(&refused).contains("--audit-log"), "{}", text(&refused));
    assert!(stored_keys().is_empty(), "written before the refusal");
    expect(
        archive(
            &[
                "--legal-hold",
                "CASE-42",
                "--audit-log",
                "holds.jsonl",
                "--audit-signing-key",
                "keys/evidence-ed25519-private.pem",
                "--checkpoint-key",
                "keys/evidence-ed25519-private.pem",
            ],
            "r3.json",
        ),
        0,
    );
    let stored = stored_keys();
    assert_eq!(
        stored.len(),
        10,
        "3 files + receipts + checkpoint, segment, key, plan, trust roots, session record: {stored:?}"
    );
    // The evidence and the receipts are held for the case and registered before the anchor
    // (so the archive's checkpoint covers the hold); the sidecars written after the anchor are
    // retention-locked without the hold, and the registry names none of them — the store and
    // the registry agree on every version (status exits 0).
    let status = json(&expect(cli.hold(&["--json", "status", &root]), 0));
    let objects = status["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 10, "{status}");
    let (held_now, unheld): (Vec<_>, Vec<_>) =
        objects.iter().partition(|o| o["legal_hold"] == true);
    assert_eq!(held_now.len(), 4, "{status}");
    assert!(
        held_now
            .iter()
            .all(|o| o["cases"] == serde_json::json!(["CASE-42"])
                && (!o["key"].as_str().unwrap().contains("/_wormvault/")
                    || o["key"].as_str().unwrap().contains("/_wormvault/receipts-"))),
        "{status}"
    );
    assert!(
        unheld.iter().all(|o| o["cases"] == serde_json::json!([])
            && o["key"].as_str().unwrap().contains("/_wormvault/")),
        "{status}"
    );
    expect(
        cli.hold(&[
            "release",
            &root,
            "--case",
            "CASE-42",
            "--reason",
            "closed",
            "--actor",
            "rm",
            "--confirm-release",
        ]),
        0,
    );
    let rt = runtime();
    let store = rt
        .block_on(wormvault::store::open(&Target::parse(&root).unwrap()))
        .unwrap();
    assert!(held(&state(&rt, store.as_ref(), "")).is_empty());
    // The hold placed at archive is anchored by a hold checkpoint `hold` commands check.
    let anchors = rt.block_on(store.list("_wormvault/holds/")).unwrap();
    assert!(
        anchors.iter().any(|a| a
            .key
            .starts_with("_wormvault/holds/wormvault-legal-holds/checkpoint-")
            && a.retention_mode == Some(RetentionMode::Compliance)),
        "{anchors:?}"
    );
}

/// A local vault that, on the first flag this run changes, lets another records manager's
/// whole `hold set` of another case run first (logged, applied and anchored) — the moment a
/// concurrent command lands between this run's reading of the registry and its requests.
struct Interleaved {
    inner: Box<dyn ImmutableStore>,
    other: tokio::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

#[async_trait::async_trait]
impl ImmutableStore for Interleaved {
    fn target(&self) -> &Target {
        self.inner.target()
    }
    async fn preflight(
        &self,
        options: &wormvault::store::PreflightOptions,
    ) -> Result<wormvault::store::PreflightReport, wormvault::store::StoreError> {
        self.inner.preflight(options).await
    }
    async fn put(
        &self,
        object: &PutObject<'_>,
        progress: wormvault::store::Progress<'_>,
    ) -> Result<StoredObject, wormvault::store::StoreError> {
        self.inner.put(object, progress).await
    }
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, wormvault::store::StoreError> {
        self.inner.head(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, wormvault::store::StoreError> {
        self.inner.list(prefix).await
    }
    async fn set_legal_hold(
        &self,
        key: &str,
        version_id: Option<&str>,
        hold: bool,
    ) -> Result<StoredObject, wormvault::store::StoreError> {
        if let Some(other) = self.other.lock().await.take() {
            other();
        }
        self.inner.set_legal_hold(key, version_id, hold).await
    }
    async fn download(
        &self,
        key: &str,
        version_id: Option<&str>,
        dest: &Path,
    ) -> Result<String, wormvault::store::StoreError> {
        self.inner.download(key, version_id, dest).await
    }
    async fn delete(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(), wormvault::store::StoreError> {
        self.inner.delete(key, version_id).await
    }
}

/// Two records managers at once: `release` of case Y reads the registry (only Y holds the
/// object), logs its decision, and before its request lands another manager's `set` of case X
/// on the same object is logged and applied. The release must not leave the object unheld: it
/// reads the registry again after applying, finds X, and turns the flag back on. Before, the
/// release applied "off" from its first reading and the object stayed unheld while the log said
/// X held it.
#[test]
fn a_release_racing_another_cases_set_leaves_the_object_held() {
    use wormvault::audit::store::LogHandle;
    use wormvault::audit::{SignatureCheck, Signer};
    use wormvault::hold::{self, AnchorKey, ChangeRequest, Decision, Registrar};
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    let target = Target::parse(&format!("file://{}", vault.display())).unwrap();
    let log = dir.path().join("holds.jsonl");
    let checkpoint = wormvault::trust::KeyPair::generate().unwrap();
    let checkpoint_public = checkpoint.public().verifying_key();
    let checkpoint_pem = dir.path().join("checkpoint.pem");
    wormvault::trust::write_private_key(&checkpoint_pem, &checkpoint.private_pem().unwrap())
        .unwrap();
    let hmac = b"k-registry-secret".to_vec();
    let registrar = |actor: &str| {
        let pair = wormvault::trust::load_private_key(&checkpoint_pem).unwrap();
        Registrar {
            log: LogHandle::file(&log),
            signatures: SignatureCheck::Hmac {
                key: hmac.clone(),
                key_id: "holds".into(),
            },
            signer: Signer::Hmac {
                key: hmac.clone(),
                key_id: "holds".into(),
            },
            actor: actor.into(),
            origin: "holds-test".into(),
            checkpoint_key: Some(checkpoint_public),
            anchor: Some(AnchorKey {
                origin: "holds-test".into(),
                key: wormvault::trust::SigningKeySource::File(Box::new(pair)),
            }),
        }
    };
    let request = |decision: Decision, case: &str| ChangeRequest {
        decision,
        case: case.into(),
        reason: "test".into(),
        prefix: "ev/".into(),
        dry_run: false,
        release_confirmed: true,
        concurrency: 2,
        batch: None,
        adopt_unaccounted: false,
    };
    let plain = rt.block_on(wormvault::store::open(&target)).unwrap();
    rt.block_on(seed(plain.as_ref(), &["ev/a.bin".to_string()]));
    let set_y = rt
        .block_on(hold::change(
            plain.as_ref(),
            &registrar("manager-1"),
            &request(Decision::Set, "Y"),
            &|_| {},
        ))
        .unwrap();
    assert!(set_y.ok);
    assert_eq!(held(&state(&rt, plain.as_ref(), "ev/")), vec!["ev/a.bin"]);

    // The other manager's whole `set X`, run when the release sends its first request.
    let other_target = target.clone();
    let other_registrar = registrar("manager-2");
    let other_request = request(Decision::Set, "X");
    let other: Box<dyn FnOnce() + Send> = Box::new(move || {
        std::thread::spawn(move || {
            let rt = runtime();
            let store = rt.block_on(wormvault::store::open(&other_target)).unwrap();
            let report = rt
                .block_on(hold::change(
                    store.as_ref(),
                    &other_registrar,
                    &other_request,
                    &|_| {},
                ))
                .unwrap();
            assert!(report.ok && report.decision_record.is_some());
        })
        .join()
        .unwrap();
    });
    let racing = Interleaved {
        inner: rt.block_on(wormvault::store::open(&target)).unwrap(),
        other: tokio::sync::Mutex::new(Some(other)),
    };
    let release_y = rt
        .block_on(hold::change(
            &racing,
            &registrar("manager-1"),
            &request(Decision::Release, "Y"),
            &|_| {},
        ))
        .unwrap();
    assert!(racing.other.blocking_lock().is_none(), "the other set ran");
    assert!(release_y.ok, "{:?}", release_y.objects);
    let line = &release_y.objects[0];
    assert_eq!(
        (line.wanted, line.legal_hold, line.cases.clone()),
        (true, Some(true), vec!["X".to_string()])
    );
    // The store, read back: held (by X), as the registry says.
    assert_eq!(held(&state(&rt, plain.as_ref(), "ev/")), vec!["ev/a.bin"]);
    let registry = wormvault::hold::registry::load(
        &log,
        &wormvault::audit::VerifyOptions {
            signatures: SignatureCheck::Hmac {
                key: hmac.clone(),
                key_id: "holds".into(),
            },
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        registry.cases(&wormvault::hold::VersionRef {
            key: "ev/a.bin".into(),
            version_id: None,
        }),
        vec!["X".to_string()]
    );
}

/// Review 32 verdicts on a local vault: lookalike case ids and usage errors exit 2 naming the
/// flag; hold checkpoints are COMPLIANCE-locked; records left unanchored are a status finding
/// until the next hold command anchors them; a flag on with no case is neither taken over nor
/// cleared; a report for a case holding nothing names only cases that hold something.
#[test]
fn hold_verdicts_on_a_local_vault() {
    let cli = Cli::new(vec![]);
    let vault = cli.dir.path().join("vault");
    std::fs::create_dir_all(vault.join(".wormvault")).unwrap();
    let root = format!("file://{}", vault.display());
    let rt = runtime();
    let store = rt
        .block_on(wormvault::store::open(&Target::parse(&root).unwrap()))
        .unwrap();
    let store = store.as_ref();
    rt.block_on(seed(store, &keys(&["m/a/1.txt", "m/a/2.txt", "m/c/1.txt"])));
    let m = format!("{root}/m");
    let ma = format!("{m}/a");
    let mc = format!("{m}/c");

    // Lookalike case ids: refused (exit 2, naming --case), nothing logged or held.
    for (case, says) in [
        ("CASE-42 ", "--case: must not begin or end with whitespace"),
        ("CASE-\u{200B}42", "--case: must not contain invisible"),
        ("\u{202E}24-ESAC", "--case: must not contain invisible"),
        (
            "CASE-e\u{301}",
            "--case: must be in Unicode normalization form C",
        ),
    ] {
        let refused = expect(
            cli.hold(&["set", &ma, "--case", case, "--reason", "r", "--actor", "rm"]),
            2,
        );
        assert!(
            text(&refused).contains(says),
            "{case:?}: {}",
            text(&refused)
        );
    }
    assert!(cli.log().is_empty());
    assert!(held(&state(&rt, store, "m/")).is_empty());

    // Usage / configuration: exit 2, naming the flags a user can give.
    let no_log = expect(cli.run(&["hold", "status", &m]), 2);
    assert!(
        text(&no_log).contains("needs --audit-log"),
        "{}",
        text(&no_log)
    );
    let no_anchor = expect(
        cli.run(&[
            "hold",
            "set",
            &ma,
            "--case",
            "CASE-42",
            "--reason",
            "r",
            "--actor",
            "rm",
            "--audit-log",
            "holds.jsonl",
            "--audit-signing-key",
            "keys/evidence-ed25519-private.pem",
        ]),
        2,
    );
    assert!(
        text(&no_anchor).contains("needs --checkpoint-key"),
        "{}",
        text(&no_anchor)
    );
    let no_key = expect(
        cli.run(&["hold", "status", &m, "--audit-log", "holds.jsonl"]),
        2,
    );
    assert!(
        text(&no_key).contains("--audit-key-file/--audit-key-env")
            && !text(&no_key).contains("--hmac-key"),
        "{}",
        text(&no_key)
    );

    // A hold checkpoint is COMPLIANCE-locked (GOVERNANCE could be bypassed and deleted).
    expect(
        cli.hold(&[
            "set", &ma, "--case", "CASE-42", "--reason", "r", "--actor", "rm",
        ]),
        0,
    );
    let anchors = rt.block_on(store.list("_wormvault/holds/")).unwrap();
    assert_eq!(anchors.len(), 1, "{anchors:?}");
    assert_eq!(anchors[0].retention_mode, Some(RetentionMode::Compliance));

    // Records no stored hold checkpoint (of this origin) covers: a finding until the next hold
    // command anchors them.
    let other_origin = |case: &str| {
        let mut args = vec![
            "set",
            &ma,
            "--case",
            case,
            "--reason",
            "r",
            "--actor",
            "rm",
            "--checkpoint-origin",
            "elsewhere",
        ];
        args.push("--json");
        cli.hold(&args)
    };
    expect(other_origin("CASE-77"), 0);
    let status = json(&expect(cli.hold(&["--json", "status", &m]), 1));
    let findings = status["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{status}");
    assert_eq!(findings[0]["kind"], "unanchored");
    assert!(
        findings[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("2 records not covered by any hold checkpoint"),
        "{status}"
    );
    let rerun = json(&expect(
        cli.hold(&[
            "--json", "set", &ma, "--case", "CASE-77", "--reason", "r", "--actor", "rm",
        ]),
        0,
    ));
    assert_eq!(rerun["decision_record"], serde_json::Value::Null, "{rerun}");
    assert_eq!(rerun["anchor"]["tree_size"], 4, "{rerun}");
    expect(cli.hold(&["status", &m]), 0);

    // A flag on that no case holds (set outside wormvault, or its records cut from the log):
    // `hold set` refuses to take it over (exit 1), nothing logged, the flag as it was.
    let outside = &state(&rt, store, "m/c/")["m/c/1.txt"];
    rt.block_on(store.set_legal_hold(&outside.key, outside.version_id.as_deref(), true))
        .unwrap();
    let records = cli.log().len();
    let refused = expect(
        cli.hold(&[
            "set", &m, "--case", "CASE-9", "--reason", "r", "--actor", "rm",
        ]),
        1,
    );
    assert!(
        text(&refused).contains("1 object version(s) under \"m/\" have their store legal hold ON but no case in the verified audit log holds them (first: m/c/1.txt"),
        "{}",
        text(&refused)
    );
    assert_eq!(cli.log().len(), records);
    assert_eq!(
        held(&state(&rt, store, "m/")),
        keys(&["m/a/1.txt", "m/a/2.txt", "m/c/1.txt"])
    );
    // Only for `set`, and only when asked: the hold is taken over for the case, recorded as
    // adopted in the signed decision; the case's release then clears it, the other case's stays.
    expect(
        cli.hold(&[
            "release",
            &mc,
            "--case",
            "CASE-9",
            "--reason",
            "r",
            "--actor",
            "rm",
            "--confirm-release",
            "--adopt-unaccounted",
        ]),
        2,
    );
    let adopted = json(&expect(
        cli.hold(&[
            "--json",
            "set",
            &mc,
            "--case",
            "CASE-9",
            "--reason",
            "r",
            "--actor",
            "rm",
            "--adopt-unaccounted",
        ]),
        0,
    ));
    assert_eq!(adopted["adopted"], 1, "{adopted}");
    let decision = &cli.log()[adopted["decision_record"].as_u64().unwrap() as usize - 1];
    assert_eq!(
        decision["metadata"]["adopted"][0]["key"], "m/c/1.txt",
        "{decision}"
    );
    expect(cli.hold(&["status", &m]), 0);
    expect(
        cli.hold(&[
            "release",
            &mc,
            "--case",
            "CASE-9",
            "--reason",
            "r",
            "--actor",
            "rm",
            "--confirm-release",
        ]),
        0,
    );
    assert_eq!(
        held(&state(&rt, store, "m/")),
        keys(&["m/a/1.txt", "m/a/2.txt"])
    );

    // A report for a case holding nothing: no "released", and only cases that hold something.
    let nothing = expect(cli.hold(&["report", &mc, "--case", "CASE-42"]), 1);
    assert!(
        text(&nothing).contains(
            "according to the verified audit log. Cases holding objects under this prefix: none"
        ) && !text(&nothing).contains("released"),
        "{}",
        text(&nothing)
    );
}
