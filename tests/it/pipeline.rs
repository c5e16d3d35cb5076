//! The pipeline's promises through the real binary (issues #13, #14, #15): archive vouches before
//! it writes (a tampered audit log, one forged HMAC record, an unpinned signing key — refused by
//! the verify stage with zero objects stored, on file://, LocalStack and the Azure stand-in); a
//! retention failure says `retention`; `upload --plan` refuses a plan that does not cover the
//! manifest; an HMAC-signed bundle is warned about before writing; two concurrent archives, one
//! with a legal hold, never both succeed with an object unheld; stdout failures and closed pipes
//! get the right exit codes; `handoff --from` builds a verifiable package from the store alone.

use crate::support;
use crate::support::azure as az;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

use crate::support::cli::wormvault_env as run_in;

#[track_caller]
fn expect(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}:\n{}",
        text(output)
    );
    assert!(!text(output).contains("panicked"), "{}", text(output));
}

fn secret_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Keys, a trust root naming them `release-key`, and a signed bundle `bundle/` for `session`
/// (`extra_files` more evidence files, for the race test).
fn evidence(dir: &Path, session: &str, retention_days: u32, extra_files: usize) {
    let extra: Vec<(String, String)> = (0..extra_files)
        .map(|i| (format!("log-{i:03}.txt"), format!("line {i}\n")))
        .collect();
    let mut files = vec![
        ("evidence.json", "{\"release\": \"2.1.0\"}\n"),
        ("pr-attestation.md", "# approved\n"),
    ];
    files.extend(extra.iter().map(|(p, c)| (p.as_str(), c.as_str())));
    let days = retention_days.to_string();
    support::cli::release_bundle(dir, session, &files, &["--retention-days", &days]);
}

/// Three HMAC-signed records in `name`, all with key id `audit-key-1`; the third signed with
/// `key_file` (the genuine audit.key, or a forger's).
fn audit_log(dir: &Path, name: &str, third_key: &str) {
    for (i, key) in ["audit.key", "audit.key", third_key].iter().enumerate() {
        let target = format!("release-{i}");
        expect(
            &run_in(
                dir,
                &[],
                &[
                    "-q",
                    "audit",
                    "append",
                    "--log",
                    name,
                    "--event-type",
                    "runtime.decision",
                    "--actor",
                    "agent:ci",
                    "--action",
                    "deploy",
                    "--target",
                    &target,
                    "--decision",
                    "allow",
                    "--key-file",
                    key,
                    "--key-id",
                    "audit-key-1",
                ],
            ),
            0,
        );
    }
}

/// The shared setup for the "vouch before writing" cases: keys, bundle, the genuine audit key,
/// a forger's key, a tampered log and a log with one forged HMAC record.
fn vouch_setup(dir: &Path) {
    evidence(dir, "rel-vouch", 2555, 0);
    secret_file(
        &dir.join("audit.key"),
        b"genuine audit secret 0123456789abcdef",
    );
    secret_file(
        &dir.join("forger.key"),
        b"a forger's secret 0123456789abcdef!!",
    );
    // Tampered: record 2's decision edited after the fact (its record_hash no longer matches).
    audit_log(dir, "tampered.jsonl", "audit.key");
    let log = std::fs::read_to_string(dir.join("tampered.jsonl")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let edited = lines[1].replace("\"allow\"", "\"deny\"");
    assert_ne!(edited, lines[1]);
    std::fs::write(
        dir.join("tampered.jsonl"),
        format!("{}\n{edited}\n{}\n", lines[0], lines[2]),
    )
    .unwrap();
    // Forged: a well-linked third record whose HMAC was made with another secret.
    audit_log(dir, "forged.jsonl", "forger.key");
}

fn archive_with_log<'a>(target: &'a str, log: &'a str, receipts: &'a str) -> Vec<&'a str> {
    vec![
        "archive",
        "bundle",
        "--trust-root",
        "trust-root.json",
        "--key-id",
        "release-key",
        "--to",
        target,
        "--audit-log",
        log,
        "--audit-hmac-key-file",
        "audit.key",
        "--audit-key-id",
        "audit-key-1",
        "--receipts-out",
        receipts,
    ]
}

/// Every "vouch before writing" refusal against one target; `stored` counts what the store
/// holds afterwards (it must stay 0), `env` carries the store's credentials.
fn refuses_before_writing(
    dir: &Path,
    target: &str,
    env: &[(&str, &str)],
    stored: &dyn Fn() -> usize,
) {
    for (log, why) in [
        ("tampered.jsonl", "record_hash"),
        ("forged.jsonl", "signature"),
    ] {
        let receipts = format!("r-{log}.json");
        let before = std::fs::read(dir.join(log)).unwrap();
        let output = run_in(dir, env, &archive_with_log(target, log, &receipts));
        expect(&output, 1);
        let message = text(&output);
        assert!(
            message.contains("verify stage failed")
                && message.contains(log)
                && message.contains("nothing was stored"),
            "{log}: {message}"
        );
        assert!(message.to_lowercase().contains(why), "{log}: {message}");
        assert_eq!(stored(), 0, "{log}: objects were stored:\n{message}");
        assert!(!dir.join(&receipts).exists(), "{log}: receipts written");
        assert_eq!(
            std::fs::read(dir.join(log)).unwrap(),
            before,
            "{log}: the refused log was appended to"
        );
    }
    // A receipts key that is not in the trust roots.
    expect(
        &run_in(
            dir,
            &[],
            &["-q", "keys", "generate", "--output-dir", "other-keys"],
        ),
        0,
    );
    let mut args = archive_with_log(target, "good.jsonl", "r-unpinned.json");
    args.extend(["--receipts-key", "other-keys/evidence-ed25519-private.pem"]);
    let output = run_in(dir, env, &args);
    expect(&output, 1);
    assert!(
        text(&output).contains("verify stage failed")
            && text(&output).contains("receipts key")
            && text(&output).contains("not a usable trust root"),
        "{}",
        text(&output)
    );
    assert_eq!(stored(), 0, "objects stored with an unpinned receipts key");
    // Local paths that could only fail after the store was written: the session records'
    // directory is a file, the checkpoint's local copy exists, the receipts would go under a
    // file, a hold under an empty case id no release could name. Refused first, nothing stored,
    // the log not appended to.
    audit_log(dir, "good.jsonl", "audit.key");
    std::fs::write(dir.join("not-a-dir"), b"x").unwrap();
    std::fs::write(dir.join("taken.checkpoint.txt"), b"x").unwrap();
    let log_before = std::fs::read(dir.join("good.jsonl")).unwrap();
    for (extra, stage, exit) in [
        (&["--state-dir", "not-a-dir"][..], "session stage failed", 2),
        (
            &[
                "--checkpoint-key",
                "keys/evidence-ed25519-private.pem",
                "--checkpoint-out",
                "taken.checkpoint.txt",
            ][..],
            "anchor stage failed",
            2,
        ),
        (
            &["--receipts-out", "not-a-dir/receipts.json"][..],
            "receipts stage failed",
            2,
        ),
        (&["--legal-hold", " "][..], "--legal-hold", 2),
    ] {
        let mut args = archive_with_log(target, "good.jsonl", "r-local.json");
        if extra[0] == "--receipts-out" {
            args.truncate(args.len() - 2);
        }
        args.extend(extra);
        let output = run_in(dir, env, &args);
        expect(&output, exit);
        assert!(
            text(&output).contains(stage),
            "{extra:?}: {}",
            text(&output)
        );
        assert_eq!(stored(), 0, "{extra:?}: objects stored");
        assert_eq!(
            std::fs::read(dir.join("good.jsonl")).unwrap(),
            log_before,
            "{extra:?}: the log was appended to"
        );
    }
    // The same archive with the genuine log and pinned keys goes through.
    let mut args = archive_with_log(target, "good.jsonl", "r-good.json");
    args.extend([
        "--receipts-key",
        "keys/evidence-ed25519-private.pem",
        "--checkpoint-key",
        "keys/evidence-ed25519-private.pem",
    ]);
    let output = run_in(dir, env, &args);
    expect(&output, 0);
    assert!(stored() >= 4, "nothing stored by the genuine archive");
}

fn files_under(root: &Path) -> usize {
    if !root.exists() {
        return 0;
    }
    walk(root)
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() { walk(&path) } else { 1 }
        })
        .sum()
}

#[test]
fn archive_refuses_a_tampered_or_forged_log_and_unpinned_keys_before_writing_to_a_vault() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    vouch_setup(d);
    let vault = d.join("vault");
    let target = format!("file://{}", vault.display());
    refuses_before_writing(d, &target, &[], &|| files_under(&vault));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_refuses_a_tampered_or_forged_log_before_writing_to_localstack() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::s3::bucket_with(&s3.client, support::s3::FULL).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    vouch_setup(&d);
    let target = format!("s3://{bucket}/evidence");
    let env = [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let client = s3.client.clone();
    let handle = tokio::runtime::Handle::current();
    let stored = || {
        let (client, bucket) = (client.clone(), bucket.clone());
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    handle.block_on(async move {
                        let versions = client
                            .list_object_versions()
                            .bucket(bucket)
                            .send()
                            .await
                            .unwrap();
                        versions.versions().len() + versions.delete_markers().len()
                    })
                })
                .join()
                .unwrap()
        })
    };
    tokio::task::block_in_place(|| refuses_before_writing(&d, &target, &env, &stored));
}

#[test]
fn archive_refuses_a_tampered_or_forged_log_before_writing_to_the_azure_standin() {
    let Some(standin) = az::require_worm_standin() else {
        return;
    };
    let container = az::fresh_container(&standin, "vouch").unwrap();
    let target = az::target(&standin, &container, "rel").to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    vouch_setup(d);
    let env = [(
        "AZURE_STORAGE_KEY",
        wormvault::store::azure::auth::AZURITE_DEV_KEY,
    )];
    let stored = || {
        let reply = az::rest(
            &standin,
            "GET",
            &format!("/{container}"),
            "restype=container&comp=list",
            &[],
            b"",
        )
        .unwrap();
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        String::from_utf8_lossy(&reply.body)
            .matches("<Blob>")
            .count()
    };
    refuses_before_writing(d, &target, &env, &stored);
}

#[test]
fn a_retention_failure_names_the_retention_stage_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-short", 2554, 0);
    let vault = d.join("vault");
    let target = format!("file://{}", vault.display());
    let output = run_in(
        d,
        &[],
        &[
            "archive",
            "bundle",
            "--trust-root",
            "trust-root.json",
            "--to",
            &target,
        ],
    );
    expect(&output, 1);
    let message = text(&output);
    assert!(
        message.contains("retention stage failed") && !message.contains("verify stage failed"),
        "{message}"
    );
    assert!(message.contains("retention_below_minimum"), "{message}");
    assert_eq!(files_under(&vault), 0);
    // --json names the stage in the error too.
    let output = run_in(
        d,
        &[],
        &[
            "--json",
            "archive",
            "bundle",
            "--trust-root",
            "trust-root.json",
            "--to",
            &target,
        ],
    );
    expect(&output, 1);
    let last = String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .unwrap()
        .to_string();
    let error: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("retention stage failed"),
        "{error}"
    );
    assert_eq!(error["kind"], "refused");
}

/// CAVRA's `plan --output DIR` writes DIR/storage-plan.json: a path that is a directory, ends in
/// `/`, or does not exist and is not `*.json` is that directory (created); a `*.json` path is
/// the file. An existing plan file is refused (exit 2, untouched) before the bundle is verified.
#[test]
fn plan_output_is_a_directory_as_in_cavra_unless_it_names_a_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-out", 2555, 0);
    let target = format!("file://{}", d.join("vault").display());
    let plan = |output: &str, bundle: &str| {
        run_in(
            d,
            &[],
            &[
                "-q",
                "plan",
                bundle,
                "--trust-root",
                "trust-root.json",
                "--to",
                &target,
                "--output",
                output,
            ],
        )
    };
    let is_plan = |path: &Path| {
        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(plan["objects"].as_array().is_some(), "{plan}");
    };
    std::fs::create_dir(d.join("existing")).unwrap();
    for (output, written) in [
        ("plan-out", "plan-out/storage-plan.json"),
        ("new/deeper", "new/deeper/storage-plan.json"),
        ("slash/", "slash/storage-plan.json"),
        ("existing", "existing/storage-plan.json"),
        ("x.json", "x.json"),
    ] {
        expect(&plan(output, "bundle"), 0);
        assert!(d.join(written).is_file(), "--output {output}: no {written}");
        is_plan(&d.join(written));
    }
    assert!(d.join("plan-out").is_dir() && d.join("slash").is_dir());

    // Never overwritten, and refused before any work: the bundle is not even looked at.
    std::fs::write(d.join("kept.json"), "mine\n").unwrap();
    for (output, refused) in [
        ("x.json", "x.json"),
        ("kept.json", "kept.json"),
        ("existing", "existing/storage-plan.json"),
        ("plan-out/", "plan-out/storage-plan.json"),
    ] {
        let before = std::fs::read(d.join(refused)).unwrap();
        let output = plan(output, "no-such-bundle");
        expect(&output, 2);
        let message = text(&output);
        assert!(
            message.contains(&format!("{refused} already exists"))
                && message.contains("already exists")
                && !message.contains("no-such-bundle"),
            "{message}"
        );
        assert_eq!(std::fs::read(d.join(refused)).unwrap(), before);
    }
    // A plan that fails creates no directory.
    expect(&plan("never", "no-such-bundle"), 2);
    assert!(!d.join("never").exists());
}

/// CAVRA's plan names an S3 bucket and an Azure container at once; a wormvault plan is executed
/// against one store, so both is a usage error (exit 2) that says why and what to run instead.
#[test]
fn plan_for_s3_and_azure_at_once_is_refused_saying_to_run_it_once_per_store() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["plan", "archive"] {
        let output = run_in(
            dir.path(),
            &[],
            &[
                command,
                "no-bundle",
                "--s3-bucket",
                "cav-bkt",
                "--s3-prefix",
                "evidence",
                "--azure-account",
                "cavacct",
                "--azure-container",
                "cavc",
                "--output",
                "plan.json",
            ][..if command == "plan" { 12 } else { 10 }],
        );
        expect(&output, 2);
        let message = text(&output);
        assert!(
            message.contains("a wormvault plan is for one store")
                && message.contains(
                    "once with --s3-bucket and once with --azure-account/--azure-container"
                ),
            "{command}: {message}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn upload_refuses_a_reviewed_plan_that_does_not_cover_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-cover", 2555, 0);
    let vault = d.join("vault");
    let target = format!("file://{}", vault.display());
    expect(
        &run_in(
            d,
            &[],
            &[
                "-q",
                "plan",
                "bundle",
                "--trust-root",
                "trust-root.json",
                "--to",
                &target,
                "--output",
                "plan.json",
            ],
        ),
        0,
    );
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("plan.json")).unwrap()).unwrap();
    let objects = plan["objects"].as_array_mut().unwrap();
    let before = objects.len();
    objects.retain(|o| o["path"] != "pr-attestation.md");
    assert_eq!(objects.len(), before - 1);
    std::fs::write(d.join("partial.json"), plan.to_string()).unwrap();
    let output = run_in(
        d,
        &[],
        &[
            "upload",
            "bundle",
            "--plan",
            "partial.json",
            "--trust-root",
            "trust-root.json",
            "--receipts-out",
            "r.json",
        ],
    );
    expect(&output, 1);
    let message = text(&output);
    assert!(
        message.contains("plan stage failed")
            && message.contains("does not cover")
            && message.contains("pr-attestation.md")
            && message.contains("partial.json"),
        "{message}"
    );
    assert_eq!(files_under(&vault), 0, "a partial plan stored objects");
    // The plan as reviewed uploads.
    expect(
        &run_in(
            d,
            &[],
            &[
                "upload",
                "bundle",
                "--plan",
                "plan.json",
                "--trust-root",
                "trust-root.json",
                "--receipts-out",
                "r.json",
            ],
        ),
        0,
    );
}

/// A plan's own choices (target, session, mode, hold case, retention) can be edited
/// consistently into another well-formed plan; the reviewer pins what they reviewed by the
/// digest `plan` prints, and a GOVERNANCE plan needs `--governance` at upload too.
#[test]
fn upload_takes_only_the_pinned_plan_and_a_weaker_lock_only_when_restated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-pin", 2555, 0);
    let vault = d.join("vault");
    let target = format!("file://{}", vault.display());
    let planned = run_in(
        d,
        &[],
        &[
            "plan",
            "bundle",
            "--trust-root",
            "trust-root.json",
            "--to",
            &target,
            "--output",
            "plan.json",
        ],
    );
    expect(&planned, 0);
    let printed = text(&planned);
    let digest = printed
        .split("--plan-digest ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest printed: {printed}"))
        .to_string();
    assert_eq!(digest.len(), 64, "{printed}");
    // Another case id, written consistently (tags, flags, retention): a well-formed plan, but
    // not the one pinned.
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("plan.json")).unwrap()).unwrap();
    plan["retention"]["mode"] = "governance".into();
    for o in plan["objects"].as_array_mut().unwrap() {
        o["retention_mode"] = "governance".into();
    }
    std::fs::write(d.join("governance.json"), plan.to_string()).unwrap();
    let upload = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "upload",
            "bundle",
            "--plan",
            file,
            "--trust-root",
            "trust-root.json",
            "--receipts-out",
        ];
        let receipts = format!("r-{file}");
        args.push(&receipts);
        args.extend_from_slice(extra);
        run_in(d, &[], &args)
    };
    let pinned = upload(
        "governance.json",
        &["--governance", "--plan-digest", &digest],
    );
    expect(&pinned, 1);
    assert!(
        text(&pinned).contains("plan stage failed") && text(&pinned).contains(&digest),
        "{}",
        text(&pinned)
    );
    let unrestated = upload("governance.json", &[]);
    expect(&unrestated, 1);
    assert!(
        text(&unrestated).contains("--governance"),
        "{}",
        text(&unrestated)
    );
    assert_eq!(files_under(&vault), 0, "a refused plan stored objects");
    // Restated, the GOVERNANCE plan is a plan the reviewer could have made: it passes (dry run).
    expect(
        &upload("governance.json", &["--governance", "--dry-run"]),
        0,
    );
    // The reviewed plan, pinned, uploads (same objects: already present, proven).
    expect(
        &upload("plan.json", &["--plan-digest", &digest.to_uppercase()]),
        0,
    );
}

#[test]
fn archive_of_an_hmac_bundle_warns_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("files")).unwrap();
    std::fs::write(d.join("files/evidence.json"), "{\"r\": 1}\n").unwrap();
    secret_file(&d.join("bundle.key"), b"bundle secret 0123456789abcdef0123");
    expect(
        &run_in(
            d,
            &[],
            &[
                "-q",
                "bundle",
                "create",
                "files",
                "--output",
                "bundle",
                "--hmac-key-file",
                "bundle.key",
                "--session-id",
                "rel-hmac",
            ],
        ),
        0,
    );
    let target = format!("file://{}/vault", d.display());
    let output = run_in(
        d,
        &[],
        &[
            "archive",
            "bundle",
            "--hmac-key-file",
            "bundle.key",
            "--to",
            &target,
            "--receipts-out",
            "r.json",
        ],
    );
    expect(&output, 0);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let warning = stderr
        .find("warning: the bundle is HMAC-signed")
        .unwrap_or_else(|| panic!("no warning:\n{stderr}"));
    let first_write = stderr
        .find("preflight")
        .unwrap_or_else(|| panic!("no preflight:\n{stderr}"));
    assert!(warning < first_write, "warned after writing:\n{stderr}");
    assert!(stderr.contains("--bundle-key-file"), "{stderr}");
    // --quiet does not silence it.
    let output = run_in(
        d,
        &[],
        &[
            "-q",
            "archive",
            "bundle",
            "--hmac-key-file",
            "bundle.key",
            "--to",
            &target,
            "--receipts-out",
            "r2.json",
        ],
    );
    expect(&output, 0);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("warning: the bundle is HMAC-signed"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_failed_stdout_write_exits_2_and_a_closed_pipe_keeps_the_commands_exit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-pipe", 2555, 0);
    let verify = [
        "bundle",
        "verify",
        "bundle",
        "--trust-root",
        "trust-root.json",
    ];
    let bin = env!("CARGO_BIN_EXE_wormvault");
    // /dev/full: every write fails with ENOSPC.
    let full = Command::new(bin)
        .current_dir(d)
        .args(verify)
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .output()
        .unwrap();
    expect(&full, 2);
    assert!(
        String::from_utf8_lossy(&full.stderr).contains("writing the result to stdout failed"),
        "{}",
        text(&full)
    );
    // A reader that went away (`| head -c0`): EPIPE is not an error.
    let closed_pipe = |args: &[&str]| {
        let mut child = Command::new(bin)
            .current_dir(d)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        child.wait_with_output().unwrap()
    };
    expect(&closed_pipe(&verify), 0);
    // ... and never turns a failure into success.
    std::fs::write(
        d.join("bundle/files/evidence.json"),
        "{\"release\": \"9\"}\n",
    )
    .ok();
    std::fs::write(d.join("bundle/evidence.json"), "{\"release\": \"9\"}\n").ok();
    let failed = closed_pipe(&verify);
    expect(&failed, 1);
}

/// Two archives of the same bundle at once, one with `--legal-hold`: never both exit 0 while an
/// object is left without the hold (issue #15 item 13).
#[test]
fn concurrent_archives_with_and_without_a_legal_hold_leave_no_object_unheld() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-race", 2555, 24);
    let bin = env!("CARGO_BIN_EXE_wormvault");
    let mut held_ok = 0;
    for round in 0..4 {
        let vault = d.join(format!("vault-{round}"));
        let target = format!("file://{}", vault.display());
        let audit_log = format!("audit-{round}.jsonl");
        let start = |hold: bool, receipts: String| {
            let mut command = Command::new(bin);
            command.current_dir(d).args([
                "-q",
                "archive",
                "bundle",
                "--trust-root",
                "trust-root.json",
                "--to",
                &target,
                "--receipts-out",
                &receipts,
                "--concurrency",
                "8",
                // One case registry (the audit log) for both runs, as a hold needs one.
                "--audit-log",
                &audit_log,
                "--audit-signing-key",
                "keys/evidence-ed25519-private.pem",
                "--checkpoint-key",
                "keys/evidence-ed25519-private.pem",
            ]);
            if hold {
                command.args(["--legal-hold", "CASE-RACE"]);
            }
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            command.spawn().unwrap()
        };
        let plain = start(false, format!("r-plain-{round}.json"));
        let held = start(true, format!("r-held-{round}.json"));
        let plain = plain.wait_with_output().unwrap();
        let held = held.wait_with_output().unwrap();
        for output in [&plain, &held] {
            assert!(
                matches!(output.status.code(), Some(0) | Some(1)),
                "{}",
                text(output)
            );
            assert!(
                !text(output).contains("needs --audit-log"),
                "{}",
                text(output)
            );
            assert!(!text(output).contains("panicked"), "{}", text(output));
        }
        if held.status.success() {
            held_ok += 1;
            // The held archive says every object is held: the store must agree, object by
            // object, after both runs ended.
            let store = wormvault::store::local::LocalVault::open(
                wormvault::store::Target::parse(&target).unwrap(),
            )
            .unwrap();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let objects = runtime.block_on(async {
                use wormvault::store::ImmutableStore;
                store.list("").await.unwrap()
            });
            let receipts: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(d.join(format!("r-held-{round}.json"))).unwrap(),
            )
            .unwrap();
            for receipt in receipts["receipts"].as_array().unwrap() {
                let key = receipt["key"].as_str().unwrap();
                let object = objects
                    .iter()
                    .find(|o| o.key == key)
                    .unwrap_or_else(|| panic!("{key} missing"));
                assert_eq!(
                    object.legal_hold,
                    Some(true),
                    "round {round}: the held archive exited 0 but {key} is not held\nplain: {}\nheld: {}",
                    text(&plain),
                    text(&held)
                );
            }
        }
    }
    // Not vacuous: the held archive got through in some round, and was checked object by object.
    assert!(held_ok > 0, "the held archive never succeeded");
}

/// Archive to LocalStack, delete every local artifact (state dir, receipts, checkpoint, plan),
/// rebuild the package from the store alone, and verify it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_from_the_store_after_local_state_is_gone() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::s3::bucket_with(&s3.client, support::s3::FULL).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let target = format!("s3://{bucket}/evidence");
    let env = [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    tokio::task::block_in_place(|| {
        evidence(&d, "rel-from", 2555, 0);
        let work = d.join("work");
        std::fs::create_dir(&work).unwrap();
        for name in ["bundle", "keys", "trust-root.json"] {
            std::fs::rename(d.join(name), work.join(name)).unwrap();
        }
        expect(
            &run_in(
                &work,
                &env,
                &[
                    "-q",
                    "archive",
                    "bundle",
                    "--trust-root",
                    "trust-root.json",
                    "--key-id",
                    "release-key",
                    "--to",
                    &target,
                    "--audit-log",
                    "audit.jsonl",
                    "--audit-signing-key",
                    "keys/evidence-ed25519-private.pem",
                    "--checkpoint-key",
                    "keys/evidence-ed25519-private.pem",
                    "--receipts-key",
                    "keys/evidence-ed25519-private.pem",
                    "--receipts-out",
                    "r.json",
                ],
            ),
            0,
        );
        // Only the trust roots the auditor pins survive; everything else is gone.
        let roots = d.join("auditor-roots.json");
        std::fs::copy(work.join("trust-root.json"), &roots).unwrap();
        std::fs::remove_dir_all(&work).unwrap();
        let elsewhere = d.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let output = run_in(
            &elsewhere,
            &env,
            &[
                "handoff",
                "--from",
                &target,
                "--session",
                "rel-from",
                "--output",
                "pkg.tar.gz",
            ],
        );
        expect(&output, 0);
        assert!(elsewhere.join("pkg.tar.gz").exists(), "{}", text(&output));
        // Unpinned, the package is never VERIFIED; pinned to the auditor's own roots, it is.
        let unpinned = run_in(&elsewhere, &[], &["handoff", "verify", "pkg.tar.gz"]);
        expect(&unpinned, 1);
        assert!(
            String::from_utf8_lossy(&unpinned.stdout).contains("UNPINNED"),
            "{}",
            text(&unpinned)
        );
        let verified = run_in(
            &elsewhere,
            &[],
            &[
                "handoff",
                "verify",
                "pkg.tar.gz",
                "--trust-root",
                roots.to_str().unwrap(),
            ],
        );
        expect(&verified, 0);
        assert!(
            String::from_utf8_lossy(&verified.stdout).contains("VERIFIED handoff"),
            "{}",
            text(&verified)
        );
    });
}

/// `handoff --from` trusts nothing for being in the store: an evidence object changed behind
/// the tool's back (a vault file made writable and rewritten) is refused, and no package is
/// written.
#[test]
fn handoff_from_refuses_a_store_object_that_differs_from_plan_and_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-from-bad", 2555, 0);
    let vault = d.join("vault");
    let target = format!("file://{}", vault.display());
    expect(
        &run_in(
            d,
            &[],
            &[
                "-q",
                "archive",
                "bundle",
                "--trust-root",
                "trust-root.json",
                "--to",
                &target,
                "--audit-log",
                "audit.jsonl",
                "--audit-signing-key",
                "keys/evidence-ed25519-private.pem",
                "--checkpoint-key",
                "keys/evidence-ed25519-private.pem",
                "--receipts-out",
                "r.json",
            ],
        ),
        0,
    );
    let from = |output: &str| {
        run_in(
            d,
            &[],
            &[
                "handoff",
                "--from",
                &target,
                "--session",
                "rel-from-bad",
                "--output",
                output,
            ],
        )
    };
    expect(&from("good.tar.gz"), 0);
    let receipts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    let key = receipts["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .find(|k| k.ends_with("evidence.json"))
        .unwrap()
        .to_string();
    let object = vault.join(&key);
    std::fs::set_permissions(&object, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&object, "{\"release\": \"6.6.6\"}\n").unwrap();
    let output = from("bad.tar.gz");
    expect(&output, 1);
    assert!(
        text(&output).contains(&key) && text(&output).contains("the plan says"),
        "{}",
        text(&output)
    );
    assert!(!d.join("bad.tar.gz").exists());
}

/// `upload --plan … --dry-run` checks the reviewed plan against the verified bundle exactly as
/// the upload would, prints it, and writes nothing; a plan that no longer fits is refused the same.
#[test]
fn upload_dry_run_checks_the_reviewed_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-dry", 2555, 0);
    let vault = d.join("vault");
    let target = format!("file://{}", vault.display());
    expect(
        &run_in(
            d,
            &[],
            &[
                "-q",
                "plan",
                "bundle",
                "--trust-root",
                "trust-root.json",
                "--to",
                &target,
                "--output",
                "plan.json",
            ],
        ),
        0,
    );
    let upload = |plan: &str| {
        run_in(
            d,
            &[],
            &[
                "upload",
                "bundle",
                "--plan",
                plan,
                "--trust-root",
                "trust-root.json",
                "--dry-run",
                "--receipts-out",
                "r.json",
            ],
        )
    };
    let dry = upload("plan.json");
    expect(&dry, 0);
    let shown = text(&dry);
    assert!(
        shown.contains("plan for session rel-dry") && shown.contains("nothing was written"),
        "{shown}"
    );
    assert!(
        !vault.exists() || files_under(&vault) == 0,
        "a dry run stored objects"
    );
    assert!(!d.join("r.json").exists(), "a dry run wrote receipts");
    // A plan missing a file is refused in the dry run too, naming the plan stage.
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("plan.json")).unwrap()).unwrap();
    plan["objects"]
        .as_array_mut()
        .unwrap()
        .retain(|o| o["path"] != "pr-attestation.md");
    std::fs::write(d.join("partial.json"), plan.to_string()).unwrap();
    let refused = upload("partial.json");
    expect(&refused, 1);
    assert!(
        text(&refused).contains("plan stage failed"),
        "{}",
        text(&refused)
    );
    assert!(!vault.exists() || files_under(&vault) == 0);
}

/// Issue #17 item 1: `--audit-log s3://…` for archive, hold, status and handoff. The events land
/// in the stored log (create-only, COMPLIANCE-locked records), nothing is written to a local log
/// file, and the log read back from the bucket verifies with the events in order; the handoff
/// package built from the session verifies pinned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_hold_status_and_handoff_with_the_audit_log_in_the_bucket() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::s3::bucket_with(&s3.client, support::s3::FULL).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let target = format!("s3://{bucket}/evidence");
    let log = format!("s3://{bucket}/audit-log");
    let env = [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let key = "keys/evidence-ed25519-private.pem";
    tokio::task::block_in_place(|| {
        evidence(&d, "rel-stored-log", 2555, 0);
        expect(
            &run_in(
                &d,
                &env,
                &[
                    "-q",
                    "archive",
                    "bundle",
                    "--trust-root",
                    "trust-root.json",
                    "--key-id",
                    "release-key",
                    "--to",
                    &target,
                    "--audit-log",
                    &log,
                    "--audit-signing-key",
                    key,
                    "--checkpoint-key",
                    key,
                    "--receipts-key",
                    key,
                    "--receipts-out",
                    "r.json",
                    "--state-dir",
                    "state",
                ],
            ),
            0,
        );
        let hold = run_in(
            &d,
            &env,
            &[
                "-q",
                "hold",
                "set",
                &format!("{target}/rel-stored-log/"),
                "--case",
                "CASE-S",
                "--reason",
                "litigation",
                "--actor",
                "records-manager",
                "--audit-log",
                &log,
                "--audit-signing-key",
                key,
                "--audit-key-id",
                "release-key",
                "--checkpoint-key",
                key,
            ],
        );
        expect(&hold, 0);
    });
    let entries: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        !entries.iter().any(|n| n.ends_with(".jsonl")),
        "no local log file may be written when the log is in the bucket: {entries:?}"
    );
    // The stored records: evidence.archived, then the hold's decision and outcome, each its own
    // COMPLIANCE-locked object.
    let listed = s3
        .client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("audit-log/records/")
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for key in &keys {
        let head = s3
            .client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.object_lock_mode().map(|m| m.as_str()),
            Some("COMPLIANCE"),
            "{key}"
        );
    }
    tokio::task::block_in_place(|| {
        let verified = run_in(
            &d,
            &env,
            &[
                "--json",
                "audit",
                "verify",
                "--log",
                &log,
                "--trust-root",
                "trust-root.json",
            ],
        );
        expect(&verified, 0);
        let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
        let shown = report.to_string();
        assert!(shown.contains("\"record_count\":3"), "{shown}");
        let exported = run_in(
            &d,
            &env,
            &[
                "audit",
                "export",
                "--log",
                &log,
                "--format",
                "jsonl",
                "--output",
                "log.jsonl",
            ],
        );
        expect(&exported, 0);
        let lines = std::fs::read_to_string(d.join("log.jsonl")).unwrap();
        let events: Vec<String> = lines
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["event_type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(events[0], "evidence.archived", "{events:?}");
        assert!(
            events[1..].iter().all(|e| e.starts_with("legal_hold.")),
            "{events:?}"
        );

        // status names the stored log, not a temporary copy.
        let status = run_in(
            &d,
            &env,
            &[
                "--json",
                "status",
                "--target",
                &target,
                "--audit-log",
                &log,
                "--receipts",
                "r.json",
                "--audit-trust-root",
                "trust-root.json",
            ],
        );
        let report: serde_json::Value = serde_json::from_slice(&status.stdout)
            .unwrap_or_else(|e| panic!("status printed no JSON ({e}): {}", text(&status)));
        assert_eq!(report["audit_log"], log.as_str(), "{report}");

        // The handoff package of the session reads the stored log; the hold came after the
        // archive's checkpoint, so a newer checkpoint of the stored log is taken for it.
        expect(
            &run_in(
                &d,
                &env,
                &[
                    "-q",
                    "audit",
                    "checkpoint",
                    "--log",
                    &log,
                    "--origin",
                    "wormvault.audit-log",
                    "--signing-key",
                    key,
                    "--output",
                    "newer.checkpoint.txt",
                    "--trust-root",
                    "trust-root.json",
                ],
            ),
            0,
        );
        let handoff = run_in(
            &d,
            &env,
            &[
                "handoff",
                "--session",
                "rel-stored-log",
                "--state-dir",
                "state",
                "--output",
                "pkg.tar.gz",
                "--checkpoint",
                "newer.checkpoint.txt",
            ],
        );
        expect(&handoff, 0);
        let verified = run_in(
            &d,
            &[],
            &[
                "handoff",
                "verify",
                "pkg.tar.gz",
                "--trust-root",
                "trust-root.json",
            ],
        );
        expect(&verified, 0);
        assert!(
            String::from_utf8_lossy(&verified.stdout).contains("VERIFIED"),
            "{}",
            text(&verified)
        );
    });
}
