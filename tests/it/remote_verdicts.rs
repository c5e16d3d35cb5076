//! Verdicts about what is stored, through the real binary: `check-remote` on the archive's own
//! sidecars under `<session>/_wormvault/` (a new version, a delete marker, content that is not
//! what the name says), a bundle path S3 metadata cannot carry as it is (stored percent-encoded;
//! what a store would refuse is refused at plan, see pipeline::plan's tests), and a store log's
//! first bad record named by its own URL.

use crate::support;

use std::path::Path;
use std::process::Output;

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[track_caller]
fn exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}:\n{}",
        text(output)
    );
    assert!(!text(output).contains("panicked"), "{}", text(output));
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(output)))
}

/// Run wormvault in `dir` (against LocalStack when `endpoint` is given), on a thread of its own
/// so a calling test's async runtime is not blocked.
fn run(dir: &Path, endpoint: Option<&str>, args: &[&str]) -> Output {
    let env = match endpoint {
        Some(endpoint) => vec![
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
        None => Vec::new(),
    };
    support::cli::wormvault_env(dir, &env, args)
}

fn archive_args<'a>(target: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--json"];
    args.extend(support::cli::release_archive_args(target, "receipts.json"));
    args.extend_from_slice(extra);
    args
}

/// (kind, key) of every finding of a `check-remote --json` run.
fn findings(output: &Output) -> Vec<(String, String)> {
    json(output)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(kind: &str, key: &str) -> (String, String) {
    (kind.to_string(), key.to_string())
}

/// The archive's sidecars rewritten and hidden behind the tool's back on S3 (a new version over
/// the checkpoint and the receipts, a delete marker on the segment): `check-remote` names each
/// (extra version, changed content, missing) and fails, where before it said the store matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_remote_reports_rewritten_and_hidden_sidecars_on_s3() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::s3::bucket_with(&s3.client, support::s3::FULL).await;
    let target = format!("s3://{bucket}/rel");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    support::cli::release_bundle(
        d,
        "rel-sc",
        &[("evidence.json", "{\"release\": \"2.1.0\"}\n")],
        &[],
    );
    let archived = run(d, Some(&s3.endpoint), &archive_args(&target, &[]));
    exit(&archived, 0);
    let outcome = json(&archived);
    let receipts_key = outcome["receipts_key"].as_str().unwrap().to_string();
    let checkpoint_key = outcome["checkpoint"]["key"].as_str().unwrap().to_string();
    let sidecars: Vec<String> = outcome["sidecars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let segment_key = sidecars
        .iter()
        .find(|k| k.contains("/_wormvault/audit-segment-"))
        .unwrap()
        .clone();
    let check = || {
        run(
            d,
            Some(&s3.endpoint),
            &[
                "--json",
                "check-remote",
                &target,
                "--receipts",
                "receipts.json",
            ],
        )
    };
    // Untouched, every sidecar (receipts, checkpoint, segment, key, trust roots, plan, session
    // record) is what its name says: no finding.
    let clean = check();
    exit(&clean, 0);
    assert_eq!(findings(&clean), vec![], "{}", text(&clean));

    for key in [&checkpoint_key, &receipts_key] {
        s3.client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(b"forged\n".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    s3.client
        .delete_object()
        .bucket(&bucket)
        .key(&segment_key)
        .send()
        .await
        .unwrap();
    let checked = check();
    exit(&checked, 1);
    let mut found = findings(&checked);
    found.sort();
    let mut expected = vec![
        pair("extra_version", &checkpoint_key),
        pair("changed", &checkpoint_key),
        pair("extra_version", &receipts_key),
        pair("changed", &receipts_key),
        pair("missing", &segment_key),
    ];
    expected.sort();
    assert_eq!(found, expected, "{}", text(&checked));
    let report = json(&checked);
    let detail = |kind: &str, key: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind && f["key"] == key)
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        detail("extra_version", &receipts_key),
        "2 versions stored; wormvault writes each of its sidecars once"
    );
    assert!(
        detail("changed", &receipts_key).starts_with("its content is not JSON"),
        "{report:#}"
    );
    assert!(
        detail("missing", &segment_key).contains("delete marker"),
        "{report:#}"
    );
    assert_eq!(report["ok"], false);
}

/// On a local vault, a sidecar rewritten in place (its read-only commit undone) is writable and
/// no longer what its name says (the plan's digest is in its name).
#[test]
fn check_remote_reports_a_rewritten_sidecar_on_a_vault() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    support::cli::release_bundle(
        d,
        "rel-vault",
        &[("evidence.json", "{\"release\": \"2.1.0\"}\n")],
        &[],
    );
    let vault = format!("file://{}/vault", d.display());
    let archived = run(d, None, &archive_args(&vault, &[]));
    exit(&archived, 0);
    let outcome = json(&archived);
    let plan_key = outcome["sidecars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .find(|k| k.contains("/_wormvault/plan-"))
        .unwrap()
        .to_string();
    let check = |receipts: &str| {
        run(
            d,
            None,
            &["--json", "check-remote", &vault, "--receipts", receipts],
        )
    };
    exit(&check("receipts.json"), 0);

    // The plan sidecar rewritten in place.
    let path = d.join("vault").join(&plan_key);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    plan["session_id"] = "rel-other".into();
    std::fs::write(&path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let checked = check("receipts.json");
    exit(&checked, 1);
    let mut found = findings(&checked);
    found.sort();
    assert_eq!(
        found,
        vec![pair("changed", &plan_key), pair("writable", &plan_key)],
        "{}",
        text(&checked)
    );
    let detail = json(&checked)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "changed")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.starts_with("the name says a plan of digest "),
        "{detail}"
    );
}

/// S3 metadata is visible ASCII: a bundle path with `é` is stored in `bundle-path`
/// percent-encoded (UTF-8), so an archive with a legal hold stores every object and
/// `check-remote --rehash` passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_file_name_is_archived_to_s3_with_its_path_percent_encoded() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::s3::bucket_with(&s3.client, support::s3::FULL).await;
    let target = format!("s3://{bucket}/rel");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    support::cli::release_bundle(
        d,
        "rel-cafe",
        &[
            ("Café.md", "a\n"),
            ("plain.txt", "b\n"),
            ("a b%.txt", "c\n"),
        ],
        &[],
    );
    let archived = run(
        d,
        Some(&s3.endpoint),
        &archive_args(&target, &["--legal-hold", "CASE-1"]),
    );
    exit(&archived, 0);
    let outcome = json(&archived);
    let key_of = |path: &str| {
        outcome["upload"]["receipts"]["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == path)
            .unwrap_or_else(|| panic!("no receipt for {path}: {outcome:#}"))["key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for (path, stored) in [
        ("Café.md", "Caf%C3%A9.md"),
        ("plain.txt", "plain.txt"),
        ("a b%.txt", "a%20b%25.txt"),
    ] {
        let head = s3
            .client
            .head_object()
            .bucket(&bucket)
            .key(key_of(path))
            .send()
            .await
            .unwrap();
        let metadata = head.metadata().unwrap();
        assert_eq!(
            metadata.get("bundle-path").map(String::as_str),
            Some(stored)
        );
        assert_eq!(
            wormvault::pipeline::plan::decode_bundle_path(stored).as_deref(),
            Some(path)
        );
    }
    let checked = run(
        d,
        Some(&s3.endpoint),
        &[
            "check-remote",
            &target,
            "--receipts",
            "receipts.json",
            "--rehash",
        ],
    );
    exit(&checked, 0);
}

/// A record planted in a store log without a signature: `audit verify` names it by its own URL
/// (the prefix once) and says it has no signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_unsigned_store_record_is_named_by_its_url_and_diagnosed_unsigned() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let bucket = support::fresh_lock_bucket(&s3.client).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("h.key"), "ab".repeat(32)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("h.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = format!("s3://{bucket}/audit");
    let appended = run(
        d,
        Some(&s3.endpoint),
        &[
            "-q",
            "audit",
            "append",
            "--log",
            &log,
            "--event-type",
            "x",
            "--actor",
            "a",
            "--action",
            "a",
            "--target",
            "t",
            "--decision",
            "allow",
            "--key-file",
            "h.key",
            "--key-id",
            "k",
        ],
    );
    exit(&appended, 0);
    let first = s3
        .client
        .get_object()
        .bucket(&bucket)
        .key("audit/records/00000000000000000001.json")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let first: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let mut planted = first.as_object().unwrap().clone();
    planted.remove("signature");
    planted.remove("record_hash");
    planted.insert("sequence".into(), 2.into());
    planted.insert("previous_hash".into(), first["record_hash"].clone());
    let canonical =
        wormvault::canonical::compact(&serde_json::Value::Object(planted.clone())).to_string();
    let hash = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    };
    planted.insert("record_hash".into(), hash.into());
    s3.client
        .put_object()
        .bucket(&bucket)
        .key("audit/records/00000000000000000002.json")
        .body(
            // Records are stored one JSON line each, newline-terminated.
            format!("{}\n", serde_json::Value::Object(planted))
                .into_bytes()
                .into(),
        )
        .send()
        .await
        .unwrap();
    let verified = run(
        d,
        Some(&s3.endpoint),
        &[
            "--json",
            "audit",
            "verify",
            "--log",
            &log,
            "--key-file",
            "h.key",
            "--key-id",
            "k",
        ],
    );
    exit(&verified, 1);
    let report = json(&verified);
    assert_eq!(report["first_bad_record"]["record"], 2, "{report:#}");
    assert_eq!(
        report["first_bad_record"]["path"],
        format!("s3://{bucket}/audit/records/00000000000000000002.json"),
        "{report:#}"
    );
    assert_eq!(
        report["diagnosis"]["detail"],
        "record 2 has no signature: it was written or rewritten without the log's key",
        "{report:#}"
    );
}
