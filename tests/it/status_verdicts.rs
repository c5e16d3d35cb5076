//! `status` verdicts under a rolled-back, forked or half-written audit log (review 32, F1/F2):
//! every receipts file given must be named by an `evidence.archived` event of the verified log,
//! the log must extend every signed checkpoint an archive stored beside its evidence (checked
//! with the pinned `--checkpoint-key` only), and a log kept on a plain filesystem is not
//! immutable storage. Through the real binary, on local vaults.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::cli::{code, text, wormvault};

/// Keys (with their trust root) and three signed bundles of sessions s-a, s-b, s-c in `dir`.
fn evidence(dir: &Path) {
    code(
        &wormvault(
            dir,
            &[
                "-q",
                "keys",
                "generate",
                "--output-dir",
                "keys",
                "--key-id",
                "k1",
            ],
        ),
        0,
    );
    for session in ["a", "b", "c"] {
        let files = dir.join(format!("files-{session}"));
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(
            files.join("evidence.json"),
            format!("{{\"s\": \"{session}\"}}\n"),
        )
        .unwrap();
        code(
            &wormvault(
                dir,
                &[
                    "-q",
                    "bundle",
                    "create",
                    &format!("files-{session}"),
                    "--output",
                    &format!("bundle-{session}"),
                    "--private-key",
                    "keys/evidence-ed25519-private.pem",
                    "--key-id",
                    "k1",
                    "--session-id",
                    &format!("s-{session}"),
                ],
            ),
            0,
        );
    }
}

/// Archive `bundle-<session>` to `target`, its event in `log` (when given) with a checkpoint of
/// the log stored beside the evidence; receipts in `r-<session>.json`.
fn archive(dir: &Path, target: &str, log: Option<&str>, session: &str) {
    let bundle = format!("bundle-{session}");
    let receipts = format!("r-{session}.json");
    let mut args = vec![
        "-q",
        "archive",
        &bundle,
        "--to",
        target,
        "--trust-root",
        "keys/k1-trust-root.json",
        "--key-id",
        "k1",
        "--receipts-out",
        &receipts,
    ];
    if let Some(log) = log {
        args.extend([
            "--audit-log",
            log,
            "--audit-signing-key",
            "keys/evidence-ed25519-private.pem",
            "--checkpoint-key",
            "keys/evidence-ed25519-private.pem",
        ]);
    }
    code(&wormvault(dir, &args), 0);
}

fn status(
    dir: &Path,
    target: &str,
    log: &str,
    receipts: &[&str],
    extra: &[&str],
) -> (Output, Value) {
    let mut args = vec![
        "--json",
        "status",
        "--target",
        target,
        "--audit-log",
        log,
        "--audit-trust-root",
        "keys/k1-trust-root.json",
        "--receipts",
    ];
    args.extend(receipts);
    args.extend(extra);
    let output = wormvault(dir, &args);
    assert!(!text(&output).contains("panicked"), "{}", text(&output));
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output, report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {report}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

fn reason(report: &Value, name: &str) -> String {
    check(report, name)["reason"].as_str().unwrap().to_string()
}

/// Delete the newest record of a store log kept in a local vault (what anyone who can write the
/// vault's files can do): record `sequence`'s object and its vault record.
fn delete_record(vault_log: &Path, sequence: u64) {
    use std::os::unix::fs::PermissionsExt;
    let records = vault_log.join("records");
    let objects = vault_log.join(".wormvault/objects/records");
    for dir in [&records, &objects] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let name = format!("{sequence:020}.json");
    std::fs::remove_file(records.join(&name)).unwrap();
    for entry in std::fs::read_dir(&objects).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with(&name) {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
}

/// F1: the newest record (an archive's `evidence.archived` event) deleted from a log kept in a
/// `file://` vault; then a later archive re-uses its sequence number (a fork). `status` given the
/// receipts of the archive whose event is gone is blocked, naming the receipts; with the pinned
/// checkpoint key the locked checkpoint stored beside that archive shows the log was rolled back
/// (then forked); without the key it says plainly that the checkpoints were not checked.
#[test]
fn a_rolled_back_and_forked_log_is_not_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    evidence(d);
    let target = format!("file://{}/vault", d.display());
    std::fs::create_dir_all(d.join("logvault")).unwrap();
    let log = format!("file://{}/logvault/audit", d.display());
    archive(d, &target, Some(&log), "a");
    archive(d, &target, Some(&log), "b");

    // Untouched: every receipts file has its event and the log extends both stored checkpoints.
    let key = ["--checkpoint-key", "keys/evidence-ed25519-public.pem"];
    let (out, report) = status(d, &target, &log, &["r-a.json", "r-b.json"], &key);
    code(&out, 1); // both vaults are tool-enforced: immutable_storage is degraded
    assert_eq!(
        check(&report, "dashboard_visibility")["state"],
        "ready",
        "{report:#}"
    );
    assert_eq!(
        check(&report, "dashboard_visibility")["details"]["receipt_sets_in_log"],
        2
    );
    assert_eq!(
        check(&report, "evidence_freshness")["state"],
        "ready",
        "{report:#}"
    );
    assert_eq!(
        check(&report, "evidence_freshness")["details"]["session_checkpoints"]["matched"],
        2,
        "{report:#}"
    );
    let immutable = check(&report, "immutable_storage");
    assert_eq!(immutable["state"], "degraded");
    assert_eq!(immutable["details"]["audit_log_enforcement"], "tool");
    assert!(
        reason(&report, "immutable_storage").contains(&format!(
            "the audit log {log} is kept on a local vault (enforcement: tool): whoever can write its files can roll it back or fork it"
        )),
        "{report:#}"
    );

    // Roll back: record 2 (s-b's evidence.archived event) deleted.
    delete_record(&d.join("logvault/audit"), 2);
    let (out, report) = status(d, &target, &log, &["r-a.json", "r-b.json"], &[]);
    code(&out, 1);
    assert_eq!(report["status"], "blocked");
    let visibility = check(&report, "dashboard_visibility");
    assert_eq!(visibility["state"], "blocked", "{report:#}");
    assert!(
        reason(&report, "dashboard_visibility").starts_with("receipts r-b.json (session "),
        "{report:#}"
    );
    assert!(
        reason(&report, "dashboard_visibility").contains(
            "have no evidence.archived event in the audit log: the archive never recorded its audit event, or the event was removed (the log rolled back)"
        ),
        "{report:#}"
    );
    assert!(
        !reason(&report, "dashboard_visibility").contains("r-a.json"),
        "{report:#}"
    );
    // Without the key the stored checkpoints are not checked, and that is said.
    let freshness = check(&report, "evidence_freshness");
    assert_eq!(freshness["state"], "degraded", "{report:#}");
    assert!(
        reason(&report, "evidence_freshness").contains(
            "2 signed checkpoint(s) of the audit log stored beside the archived evidence"
        ),
        "{report:#}"
    );
    assert!(
        reason(&report, "evidence_freshness").contains("were NOT checked: give --checkpoint-key"),
        "{report:#}"
    );
    // With the key: s-b's locked checkpoint commits to 2 records; the log has 1.
    let (out, report) = status(d, &target, &log, &["r-a.json", "r-b.json"], &key);
    code(&out, 1);
    let freshness = check(&report, "evidence_freshness");
    assert_eq!(freshness["state"], "blocked", "{report:#}");
    let why = reason(&report, "evidence_freshness");
    assert!(
        why.contains(
            "the audit log was rolled back or forked: it does not extend the locked checkpoint"
        ),
        "{why}"
    );
    assert!(
        why.contains("/_wormvault/audit-checkpoint-2.txt (size 2)"),
        "{why}"
    );
    assert!(
        why.contains("records 2..2 are missing (truncated)"),
        "{why}"
    );

    // Fork: a later archive takes sequence 2. The log verifies as a chain, but s-b's receipts
    // still have no event and s-b's checkpoint has another root at size 2.
    archive(d, &target, Some(&log), "c");
    let (out, report) = status(
        d,
        &target,
        &log,
        &["r-a.json", "r-b.json", "r-c.json"],
        &key,
    );
    code(&out, 1);
    assert_eq!(report["status"], "blocked");
    assert!(
        reason(&report, "dashboard_visibility").starts_with("receipts r-b.json (session "),
        "{report:#}"
    );
    let why = reason(&report, "evidence_freshness");
    assert_eq!(check(&report, "evidence_freshness")["state"], "blocked");
    assert!(
        why.contains("the audit log was rolled back or forked"),
        "{why}"
    );
    assert!(why.contains("root mismatch"), "{why}");
    // A checkpoint key that is not the archive's: the stored checkpoints do not verify.
    code(
        &wormvault(
            d,
            &[
                "-q",
                "keys",
                "generate",
                "--output-dir",
                "other",
                "--key-id",
                "k2",
            ],
        ),
        0,
    );
    let (out, report) = status(
        d,
        &target,
        &log,
        &["r-a.json"],
        &["--checkpoint-key", "other/evidence-ed25519-public.pem"],
    );
    code(&out, 1);
    assert_eq!(check(&report, "evidence_freshness")["state"], "blocked");
    assert!(
        reason(&report, "evidence_freshness").contains("does not verify under --checkpoint-key"),
        "{report:#}"
    );
}

/// F2: receipts complete and every object stored, but no audit event (an archive killed between
/// its receipts and its audit event leaves exactly this; here: archived without a log). Another
/// archive's fresh event does not account for them.
#[test]
fn receipts_without_an_audit_event_block_status() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    evidence(d);
    let target = format!("file://{}/vault", d.display());
    archive(d, &target, Some("audit.jsonl"), "a");
    archive(d, &target, None, "b");
    let key = ["--checkpoint-key", "keys/evidence-ed25519-public.pem"];
    let (out, report) = status(d, &target, "audit.jsonl", &["r-a.json"], &key);
    code(&out, 1);
    assert_eq!(
        check(&report, "dashboard_visibility")["state"],
        "ready",
        "{report:#}"
    );
    assert_eq!(
        check(&report, "evidence_freshness")["state"],
        "ready",
        "{report:#}"
    );
    // A local JSONL log is no immutable storage either.
    assert_eq!(
        check(&report, "immutable_storage")["details"]["audit_log_enforcement"],
        "none"
    );
    assert!(
        reason(&report, "immutable_storage")
            .contains("the audit log audit.jsonl is a local file: whoever can write it can roll it back or fork it"),
        "{report:#}"
    );

    let (out, report) = status(d, &target, "audit.jsonl", &["r-a.json", "r-b.json"], &key);
    code(&out, 1);
    assert_eq!(report["status"], "blocked");
    let visibility = check(&report, "dashboard_visibility");
    assert_eq!(visibility["state"], "blocked", "{report:#}");
    assert_eq!(visibility["details"]["receipt_sets_in_log"], 1);
    let why = reason(&report, "dashboard_visibility");
    assert!(why.starts_with("receipts r-b.json (session "), "{why}");
    assert!(
        why.contains("have no evidence.archived event in the audit log"),
        "{why}"
    );
    // The evidence itself is all there: the only problem is the missing event.
    assert_eq!(visibility["details"]["problems"], 1, "{report:#}");
}
