//! Where a local (`file://`) vault writes, and what `check-remote` says about it (issue #15
//! item 12), through the real binary: the vault root is exactly the path in the target URL —
//! a `.wormvault` state directory in a parent never moves it; `..`, `%2e%2e`, `?` and `#` are
//! refused with nothing written; a path inside an existing vault is not written through; and a
//! vault object made writable again (`chmod 644`) is a named `check-remote` finding.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::cli::{code, text, wormvault};

/// Keys (with the trust root `keys generate --key-id` writes) and a signed bundle of session
/// `rel-1` in `dir`.
fn evidence(dir: &Path) {
    for args in [
        &[
            "-q",
            "keys",
            "generate",
            "--output-dir",
            "keys",
            "--key-id",
            "vault-key",
        ][..],
        &[
            "-q",
            "bundle",
            "create",
            "files",
            "--output",
            "bundle",
            "--private-key",
            "keys/evidence-ed25519-private.pem",
            "--key-id",
            "vault-key",
            "--session-id",
            "rel-1",
        ][..],
    ] {
        if args[1] == "bundle" {
            std::fs::create_dir_all(dir.join("files")).unwrap();
            std::fs::write(dir.join("files/evidence.json"), "{\"ok\": true}\n").unwrap();
        }
        code(&wormvault(dir, args), 0);
    }
}

fn archive(dir: &Path, target: &str, receipts: &str) -> Output {
    wormvault(
        dir,
        &[
            "--json",
            "archive",
            "bundle",
            "--trust-root",
            "keys/vault-key-trust-root.json",
            "--key-id",
            "vault-key",
            "--to",
            target,
            "--receipts-out",
            receipts,
        ],
    )
}

/// Every regular file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_state_directory_in_a_parent_does_not_move_the_vault() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    evidence(d);
    // The default state directory of an earlier run, in the working directory.
    std::fs::create_dir_all(d.join(".wormvault/sessions")).unwrap();
    let before: Vec<String> = files_under(d);
    let vault = format!("file://{}/vault", d.display());
    let run = archive(d, &vault, "receipts.json");
    code(&run, 0);
    let result: Value = serde_json::from_slice(&run.stdout).unwrap();
    let keys: Vec<String> = result["upload"]["receipts"]["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    assert!(!keys.is_empty());
    // Every object is where the target URL says: under d/vault, with its record there too.
    for key in &keys {
        let object = d.join("vault").join(key);
        assert!(object.is_file(), "{key} not in the named vault");
        assert!(
            d.join("vault/.wormvault/objects")
                .join(format!("{key}.json"))
                .is_file()
        );
        // ... and nothing landed in the working directory.
        assert!(
            !d.join(key).exists(),
            "{key} landed in the working directory"
        );
    }
    assert!(d.join("vault/.wormvault/vault.json").is_file());
    assert!(!d.join("rel-1").exists());
    assert!(!d.join(".wormvault/objects").exists());
    let after: Vec<String> = files_under(d)
        .into_iter()
        .filter(|f| !f.starts_with("vault/") && !f.starts_with(".wormvault/sessions/"))
        .filter(|f| f != "receipts.json")
        .collect();
    assert_eq!(after, before);
    // The receipts name that vault, and check-remote agrees with what is there.
    let receipts: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("receipts.json")).unwrap()).unwrap();
    assert_eq!(receipts["target"], vault.as_str());
    code(
        &wormvault(
            d,
            &[
                "check-remote",
                &vault,
                "--receipts",
                "receipts.json",
                "--rehash",
            ],
        ),
        0,
    );
}

#[test]
fn ambiguous_file_targets_are_refused_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    evidence(d);
    let before = files_under(d);
    let base = d.display().to_string();
    for target in [
        format!("file://{base}/x/../vault"),
        format!("file://{base}/./vault"),
        format!("file://{base}/%2e%2e/vault"),
        format!("file://{base}/vault?versioned=1"),
        format!("file://{base}/vault#frag"),
    ] {
        let run = archive(d, &target, "receipts.json");
        code(&run, 2);
        assert!(text(&run).contains("invalid target"), "{}", text(&run));
        assert_eq!(files_under(d), before, "{target} wrote something");
    }
    assert!(!d.join("x").exists() && !d.join("vault").exists());
}

#[test]
fn a_path_inside_a_vault_is_not_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    evidence(d);
    let vault = format!("file://{}/vault", d.display());
    code(&archive(d, &vault, "receipts.json"), 0);
    let inside = files_under(&d.join("vault"));
    let nested = format!("{vault}/elsewhere");
    let run = archive(d, &nested, "receipts-2.json");
    assert_ne!(run.status.code(), Some(0), "{}", text(&run));
    assert!(
        text(&run).contains("inside the local vault"),
        "{}",
        text(&run)
    );
    assert_eq!(files_under(&d.join("vault")), inside, "nothing was written");
    // Addressing a prefix inside the vault still works for reading (hold status; the case
    // registry is the audit log, empty here).
    code(
        &wormvault(
            d,
            &[
                "hold",
                "status",
                &format!("{vault}/rel-1"),
                "--audit-log",
                "holds.jsonl",
                "--audit-public-key",
                "keys/evidence-ed25519-public.pem",
            ],
        ),
        0,
    );
}

#[test]
fn a_vault_object_made_writable_again_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    evidence(d);
    let vault = format!("file://{}/vault", d.display());
    let run = archive(d, &vault, "receipts.json");
    code(&run, 0);
    let result: Value = serde_json::from_slice(&run.stdout).unwrap();
    let key = result["upload"]["receipts"]["receipts"][0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let path = d.join("vault").join(&key);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o444
    );
    code(
        &wormvault(d, &["check-remote", &vault, "--receipts", "receipts.json"]),
        0,
    );
    // Content untouched, only the read-only commit undone.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = wormvault(
        d,
        &[
            "--json",
            "check-remote",
            &vault,
            "--receipts",
            "receipts.json",
        ],
    );
    code(&run, 1);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "writable");
    assert_eq!(findings[0]["key"], key.as_str());
    assert!(findings[0]["detail"].as_str().unwrap().contains("644"));
    // The store-level view `status` can use says the same.
    let vault_store =
        wormvault::store::local::LocalVault::open(wormvault::store::Target::parse(&vault).unwrap())
            .unwrap();
    let state = vault_store.lock_state(&key).unwrap().unwrap();
    assert!(state.writable && state.mode == 0o644);
}

#[test]
fn check_remote_checks_who_signed_the_receipts_only_against_a_pinned_trust_root() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    evidence(d);
    let vault = format!("file://{}/vault", d.display());
    let signed = wormvault(
        d,
        &[
            "--json",
            "archive",
            "bundle",
            "--trust-root",
            "keys/vault-key-trust-root.json",
            "--key-id",
            "vault-key",
            "--to",
            &vault,
            "--receipts-out",
            "receipts.json",
            "--receipts-key",
            "keys/evidence-ed25519-private.pem",
            "--receipts-key-id",
            "vault-key",
        ],
    );
    code(&signed, 0);
    let check = |receipts: &str, trust: Option<&str>| {
        let mut args = vec!["--json", "check-remote", &vault, "--receipts", receipts];
        if let Some(trust) = trust {
            args.extend(["--trust-root", trust]);
        }
        wormvault(d, &args)
    };
    // Pinned: the signature is checked and said so.
    let run = check("receipts.json", Some("keys/vault-key-trust-root.json"));
    code(&run, 0);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["receipts_signature"]["status"], "verified");
    // Not pinned: compared as given, and the result says the signature was not checked.
    let run = check("receipts.json", None);
    code(&run, 0);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["receipts_signature"]["status"], "not_checked");
    let run = wormvault(d, &["check-remote", &vault, "--receipts", "receipts.json"]);
    code(&run, 0);
    assert!(
        text(&run).contains("note: the receipts' signature was not checked (no --trust-root)"),
        "{}",
        text(&run)
    );
    // An edited receipt (its signature no longer verifies) and unsigned receipts are refused
    // when a trust root is pinned: exit 1, before the store is read.
    let mut edited: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("receipts.json")).unwrap()).unwrap();
    edited["receipts"][0]["bytes"] = Value::from(1);
    std::fs::write(d.join("edited.json"), edited.to_string()).unwrap();
    let run = check("edited.json", Some("keys/vault-key-trust-root.json"));
    code(&run, 1);
    assert!(
        text(&run)
            .contains("edited.json: signature not verified against keys/vault-key-trust-root.json"),
        "{}",
        text(&run)
    );
    edited.as_object_mut().unwrap().remove("signature").unwrap();
    edited["receipts"][0]["bytes"] = signed_bytes(d);
    std::fs::write(d.join("unsigned.json"), edited.to_string()).unwrap();
    let run = check("unsigned.json", Some("keys/vault-key-trust-root.json"));
    code(&run, 1);
    assert!(
        text(&run).contains("receipts are not signed"),
        "{}",
        text(&run)
    );
    // Without the pin the unsigned copy still matches the store (what it claims is true).
    code(&check("unsigned.json", None), 0);
}

/// The size of the first receipted object, as the signed receipts state it.
fn signed_bytes(d: &Path) -> Value {
    let receipts: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("receipts.json")).unwrap()).unwrap();
    receipts["receipts"][0]["bytes"].clone()
}

/// An archive with `--legal-hold` but no audit log (the case registry) is a usage error (exit
/// 2, like `hold` without one), refused before the vault is even created.
#[test]
fn archive_with_a_legal_hold_and_no_audit_log_is_a_usage_error_that_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    evidence(d);
    let vault = format!("file://{}/vault", d.display());
    let run = wormvault(
        d,
        &[
            "archive",
            "bundle",
            "--trust-root",
            "keys/vault-key-trust-root.json",
            "--key-id",
            "vault-key",
            "--to",
            &vault,
            "--legal-hold",
            "CASE-1",
            "--receipts-out",
            "receipts.json",
        ],
    );
    code(&run, 2);
    assert!(text(&run).contains("needs --audit-log"), "{}", text(&run));
    assert!(!d.join("vault").exists());
    assert!(!d.join("receipts.json").exists());
}
