//! The examples in `examples/` run as written, so they cannot rot: each GitHub workflow's `run:`
//! steps (in order, each in its own shell, as GitHub runs them; `uses:` steps are GitHub's own
//! and are skipped), the GitLab job's `script:` lines (in one shell, as GitLab runs them), and the
//! records manager's and auditor's scripts, all with the real `wormvault` first on PATH, against
//! LocalStack, the Azure WORM stand-in and the store each example names. Outside CI a missing
//! emulator skips with a printed reason; with CI=true it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::{self, azure as az};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .remove(0)
}

/// The `run:` steps of every job of a GitHub workflow, in order, with their names.
fn github_run_steps(path: &str) -> Vec<(String, String)> {
    let doc = yaml(path);
    let jobs = doc["jobs"].as_hash().expect("jobs");
    let mut steps = Vec::new();
    for job in jobs.values() {
        for step in job["steps"].as_vec().expect("steps") {
            if let Some(run) = step["run"].as_str() {
                let name = step["name"].as_str().unwrap_or(run).to_string();
                steps.push((name, run.to_string()));
            } else {
                assert!(
                    step["uses"].as_str().is_some(),
                    "{path}: a step with neither run nor uses"
                );
            }
        }
    }
    assert!(!steps.is_empty(), "{path} has no run steps");
    steps
}

/// A scratch "repository checkout": `wormvault` first on PATH, an Ed25519 key with its trust
/// root (`trust-roots.json`, as a project would commit it) and the evidence a build produced.
struct Checkout {
    dir: tempfile::TempDir,
    key_pem: PathBuf,
}

const KEY_ID: &str = "release-signing";

impl Checkout {
    fn new() -> Checkout {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let generate = wormvault_in(
            d,
            &[
                "keys",
                "generate",
                "--output-dir",
                "keys",
                "--key-id",
                KEY_ID,
            ],
        );
        ok(&generate);
        std::fs::copy(
            d.join(format!("keys/{KEY_ID}-trust-root.json")),
            d.join("trust-roots.json"),
        )
        .unwrap();
        std::fs::create_dir_all(d.join("evidence")).unwrap();
        std::fs::write(d.join("evidence/sbom.json"), "{\"components\": []}\n").unwrap();
        std::fs::write(d.join("evidence/test-report.txt"), "412 passed\n").unwrap();
        std::fs::create_dir_all(d.join("runner-temp")).unwrap();
        let key_pem = d.join("keys/evidence-ed25519-private.pem");
        Checkout { dir, key_pem }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The environment a CI runner gives the job, plus `extra`.
    fn env(&self, extra: &[(&str, String)]) -> BTreeMap<String, String> {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_wormvault"));
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut env: BTreeMap<String, String> = [
            ("PATH", path),
            ("HOME", self.path().display().to_string()),
            (
                "RUNNER_TEMP",
                self.path().join("runner-temp").display().to_string(),
            ),
            ("GITHUB_REPOSITORY", "example/payments-service".to_string()),
            ("EVIDENCE_KEY_ID", KEY_ID.to_string()),
            (
                "EVIDENCE_SIGNING_KEY",
                std::fs::read_to_string(&self.key_pem).unwrap(),
            ),
            ("AWS_REGION", support::S3_REGION.to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            env.insert(k.to_string(), v.clone());
        }
        env
    }
}

fn wormvault_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ok(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{}", text(output));
}

/// Run a shell script in `dir` with exactly `env` (nothing else inherited), as a CI runner does.
fn bash(dir: &Path, env: &BTreeMap<String, String>, script: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .args(["-eo", "pipefail", "-c", script, "bash"])
        .args(args)
        .output()
        .unwrap()
}

fn run_github_workflow(path: &str, checkout: &Checkout, env: &BTreeMap<String, String>) {
    for (name, run) in github_run_steps(path) {
        let output = bash(checkout.path(), env, &run, &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{path}: step {name:?} failed\n{}",
            text(&output)
        );
    }
}

fn receipts(checkout: &Checkout) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(checkout.path().join("receipts.json")).unwrap())
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// GitHub Actions to S3, then the auditor's script on a package built from the store alone, then
/// the records manager's hold run on the archived session.
#[test]
fn github_workflow_to_s3_then_the_auditor_and_the_records_manager() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let rt = runtime();
    let client = s3.client.clone();
    let bucket = rt.block_on(support::s3::bucket_with(&client, support::s3::FULL));
    let checkout = Checkout::new();
    let env = checkout.env(&[
        ("GITHUB_REF_NAME", "v1.2.3".into()),
        ("EVIDENCE_BUCKET", bucket.clone()),
        ("AWS_ENDPOINT_URL", s3.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", support::S3_ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", support::S3_SECRET_KEY.into()),
    ]);
    run_github_workflow(
        "examples/github-actions/archive-release-evidence.yml",
        &checkout,
        &env,
    );
    let set = receipts(&checkout);
    assert_eq!(set["enforcement"], "store");
    assert_eq!(set["target"], format!("s3://{bucket}/releases"));
    // Every receipted object is in the bucket, locked.
    for receipt in set["receipts"].as_array().unwrap() {
        let key = receipt["key"].as_str().unwrap();
        let head = rt
            .block_on(client.head_object().bucket(&bucket).key(key).send())
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(
            head.object_lock_mode().map(|m| m.as_str()),
            Some("COMPLIANCE"),
            "{key}"
        );
    }

    // The auditor gets a package built from the store alone (the runner is gone) and checks it
    // offline and online against their own copy of the trust roots.
    let auditor = tempfile::tempdir().unwrap();
    let target = format!("s3://{bucket}/releases");
    let mut auditor_env = env.clone();
    auditor_env.remove("EVIDENCE_SIGNING_KEY");
    let from = bash(
        auditor.path(),
        &auditor_env,
        "wormvault handoff --from \"$1\" --session v1.2.3 --output handoff.tar.gz",
        &[&target],
    );
    ok(&from);
    std::fs::copy(
        checkout.path().join("trust-roots.json"),
        auditor.path().join("my-trust-roots.json"),
    )
    .unwrap();
    let script =
        std::fs::read_to_string(repo().join("examples/auditor/verify-handoff.sh")).unwrap();
    let verified = bash(
        auditor.path(),
        &auditor_env,
        &script,
        &["handoff.tar.gz", "my-trust-roots.json", &target],
    );
    ok(&verified);
    let shown = String::from_utf8_lossy(&verified.stdout);
    assert!(shown.contains("VERIFIED handoff"), "{shown}");
    assert!(shown.contains("online: the store at"), "{shown}");
    let reports = std::fs::read_dir(auditor.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("handoff-report-") && name.ends_with(".html")
        })
        .count();
    assert_eq!(reports, 1, "the offline run wrote its HTML report");
    // Pinned to somebody else's key, the same script fails.
    let other = wormvault_in(
        auditor.path(),
        &[
            "keys",
            "generate",
            "--output-dir",
            "other",
            "--key-id",
            KEY_ID,
        ],
    );
    ok(&other);
    let forged_pin = bash(
        auditor.path(),
        &auditor_env,
        &script,
        &["handoff.tar.gz", &format!("other/{KEY_ID}-trust-root.json")],
    );
    assert_eq!(forged_pin.status.code(), Some(1), "{}", text(&forged_pin));

    // The records manager holds the session for a case, checks it, reports it, releases it.
    ok(&wormvault_in(
        checkout.path(),
        &["keys", "generate", "--output-dir", "records-keys"],
    ));
    let holds = std::fs::read_to_string(repo().join("examples/records-manager/holds.sh")).unwrap();
    let session = set["session_prefix"].as_str().unwrap().to_string();
    let mut hold_env = env.clone();
    for (k, v) in [
        ("TARGET", format!("s3://{bucket}/{session}")),
        ("CASE", "CASE-42".to_string()),
        ("ACTOR", "j.doe (records)".to_string()),
        ("REASON", "subpoena 7".to_string()),
        ("AUDIT_LOG", "holds.jsonl".to_string()),
        (
            "KEY",
            "records-keys/evidence-ed25519-private.pem".to_string(),
        ),
    ] {
        hold_env.insert(k.to_string(), v);
    }
    for action in ["set", "status", "report", "release", "status"] {
        let run = bash(checkout.path(), &hold_env, &holds, &[action]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "holds.sh {action}\n{}",
            text(&run)
        );
    }
    let report = std::fs::read_to_string(checkout.path().join("CASE-42-holds.csv")).unwrap();
    let rows = report.lines().count();
    assert!(rows > set["receipts"].as_array().unwrap().len(), "{report}");
    let events: Vec<serde_json::Value> =
        std::fs::read_to_string(checkout.path().join("holds.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "legal_hold.set",
            "legal_hold.applied",
            "legal_hold.released",
            "legal_hold.applied"
        ],
        "one decision and one outcome per change"
    );
}

/// GitLab CI: the job's ID token goes to the AWS SDK's web-identity provider (no static keys in
/// the job's environment); LocalStack's STS answers AssumeRoleWithWebIdentity.
#[test]
fn gitlab_job_to_s3_with_a_web_identity_token() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let rt = runtime();
    let client = s3.client.clone();
    let bucket = rt.block_on(support::s3::bucket_with(&client, support::s3::FULL));
    let checkout = Checkout::new();
    let doc = yaml("examples/gitlab-ci/.gitlab-ci.yml");
    let lines: Vec<String> = doc["archive-evidence"]["script"]
        .as_vec()
        .expect("script")
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert!(lines.len() >= 6);
    let mut env = checkout.env(&[
        ("CI_COMMIT_TAG", "v2.0.0".into()),
        ("CI_PIPELINE_ID", "4711".into()),
        ("CI_PROJECT_PATH", "example/payments-service".into()),
        (
            "CI_BUILDS_DIR",
            checkout.path().join("runner-temp").display().to_string(),
        ),
        // A JWT-shaped token; LocalStack does not check its signature (real STS does).
        (
            "AWS_ID_TOKEN",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9qZWN0X3BhdGg6ZXhhbXBsZSJ9.c2ln".into(),
        ),
        (
            "WORMVAULT_UPLOADER_ROLE_ARN",
            "arn:aws:iam::000000000000:role/wormvault-uploader".into(),
        ),
        ("EVIDENCE_BUCKET", bucket.clone()),
        ("AWS_ENDPOINT_URL", s3.endpoint.clone()),
    ]);
    // GitLab "File" variables hold a path to the secret.
    env.insert(
        "EVIDENCE_SIGNING_KEY".into(),
        checkout.key_pem.display().to_string(),
    );
    assert!(!env.contains_key("AWS_ACCESS_KEY_ID"));
    let output = bash(checkout.path(), &env, &lines.join("\n"), &[]);
    ok(&output);
    let set = receipts(&checkout);
    assert_eq!(set["enforcement"], "store");
    assert!(
        set["session_prefix"]
            .as_str()
            .unwrap()
            .starts_with("releases/v2.0.0/"),
        "{set}"
    );
}

/// GitHub Actions to Azure immutable blobs (through the WORM stand-in).
#[test]
fn github_workflow_to_azure_immutable_blobs() {
    let Some(_azurite) = az::require_azurite() else {
        return;
    };
    let Some(standin) = az::require_worm_standin() else {
        return;
    };
    let container = az::fresh_container(&standin, "examples").unwrap();
    let target = az::target(&standin, &container, "releases").to_string();
    let checkout = Checkout::new();
    let env = checkout.env(&[
        ("GITHUB_REF_NAME", "v3.1.0".into()),
        ("EVIDENCE_TARGET", target.clone()),
        (
            "AZURE_STORAGE_KEY",
            wormvault::store::azure::auth::AZURITE_DEV_KEY.into(),
        ),
    ]);
    run_github_workflow(
        "examples/github-actions/archive-to-azure.yml",
        &checkout,
        &env,
    );
    let set = receipts(&checkout);
    assert_eq!(set["enforcement"], "store");
    assert_eq!(set["target"], target);
    assert!(
        set["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["legal_hold"] == false && r["retain_until"].is_string()),
        "{set}"
    );
}

/// Every example is covered by a test above (a new file without one fails here).
#[test]
fn every_example_is_executed_by_a_test() {
    let this = std::fs::read_to_string(repo().join("tests/it/examples.rs")).unwrap();
    for entry in walkdir::WalkDir::new(repo().join("examples")) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() || entry.file_name() == "README.md" {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(repo())
            .unwrap()
            .display()
            .to_string();
        assert!(this.contains(&relative), "{relative} is not run by a test");
    }
}
