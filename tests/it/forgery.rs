//! Forged auditor handoff packages, through the real binary (issue #14 "Tests"): each forgery
//! is rejected with its named finding when the auditor pins the genuine trust roots, and none
//! prints VERIFIED or exits 0 when nothing is pinned. Also the README pipeline (keys → trust
//! bundle → bundle → archive to a file:// vault with audit log and checkpoint → handoff →
//! pinned verify), hold history in the package, `--online` that never follows the package,
//! bounded extraction, and no package written when `handoff` fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SESSION: &str = "rel-42";

pub(crate) use crate::support::cli::{text, wormvault};

fn wormvault_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run wormvault")
}

#[track_caller]
pub(crate) fn ok(output: Output) -> Output {
    assert_eq!(
        output.status.code(),
        Some(0),
        "expected success:\n{}",
        text(&output)
    );
    output
}

/// The README pipeline in `dir`, as a new user runs it: keys, a trust root and trust bundle, a
/// signed bundle, an archive to a local vault with an audit log and checkpoint, the handoff.
pub(crate) fn readme_session(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("evidence")).unwrap();
    std::fs::write(
        dir.join("evidence/evidence.json"),
        "{\"release\": \"2.1.0\"}\n",
    )
    .unwrap();
    std::fs::write(dir.join("evidence/pr-attestation.md"), "# approved\n").unwrap();
    let vault = format!("file://{}/vault", dir.display());
    for args in [
        vec!["keys", "generate", "--output-dir", "keys"],
        vec![
            "keys",
            "trust-root",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
            "--key-id",
            "prod-evidence",
            "--output",
            "root.json",
        ],
        vec![
            "keys",
            "trust-bundle",
            "root.json",
            "--output",
            "trust-roots.json",
        ],
        vec![
            "bundle",
            "create",
            "evidence/",
            "--output",
            "bundle",
            "--private-key",
            "keys/evidence-ed25519-private.pem",
            "--key-id",
            "prod-evidence",
            "--signer",
            "platform-security",
            "--session-id",
            SESSION,
        ],
        vec![
            "archive",
            "bundle/",
            "--to",
            &vault,
            "--trust-root",
            "trust-roots.json",
            "--key-id",
            "prod-evidence",
            "--audit-log",
            "audit.jsonl",
            "--audit-signing-key",
            "keys/evidence-ed25519-private.pem",
            "--checkpoint-key",
            "keys/evidence-ed25519-private.pem",
            "--receipts-out",
            "receipts.json",
        ],
        vec![
            "handoff",
            "--session",
            SESSION,
            "--output",
            "handoff.tar.gz",
        ],
    ] {
        ok(wormvault(dir, &[&["-q"][..], &args].concat()));
    }
    dir.join("handoff.tar.gz")
}

/// `handoff verify --json PACKAGE EXTRA…`: exit code and report.
pub(crate) fn verify(dir: &Path, package: &Path, extra: &[&str]) -> (i32, Value, Output) {
    let package = package.to_str().unwrap();
    let output = wormvault(
        dir,
        &[&["--json", "handoff", "verify", package][..], extra].concat(),
    );
    assert!(!text(&output).contains("panicked"), "{}", text(&output));
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), report, output)
}

pub(crate) fn kinds(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|f| f["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The forged package is refused with `kind` when pinned to the genuine roots in `genuine`,
/// and is not VERIFIED (nor exit 0) when nothing is pinned.
#[track_caller]
fn assert_rejected(genuine: &Path, package: &Path, kind: &str) -> Value {
    let roots = genuine.join("trust-roots.json");
    let (code, report, output) =
        verify(genuine, package, &["--trust-root", roots.to_str().unwrap()]);
    assert_eq!(code, 1, "pinned: {}", text(&output));
    assert_eq!(report["verdict"], "FAILED", "{report:#}");
    assert_eq!(report["valid"], false);
    assert!(
        kinds(&report).iter().any(|k| k == kind),
        "no {kind} in {:?}",
        kinds(&report)
    );
    let (code, unpinned, _) = verify(genuine, package, &[]);
    assert_ne!(code, 0);
    assert_ne!(unpinned["verdict"], "VERIFIED");
    let plain = wormvault(genuine, &["handoff", "verify", package.to_str().unwrap()]);
    assert_ne!(plain.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&plain.stdout).starts_with("VERIFIED"));
    report
}

pub(crate) fn unpack(package: &Path, into: &Path) {
    let file = std::fs::File::open(package).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(into)
        .unwrap();
}

pub(crate) fn files(root: &Path) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// What a forger does after editing: re-hash every file into the index and pack it again.
pub(crate) fn reindex_and_pack(work: &Path, to: &Path) {
    let index_path = work.join("handoff.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let mut hashes = serde_json::Map::new();
    let mut sizes = serde_json::Map::new();
    for name in files(work).into_iter().filter(|n| n != "handoff.json") {
        let bytes = std::fs::read(work.join(&name)).unwrap();
        hashes.insert(name.clone(), wormvault::hashing::sha256_hex(&bytes).into());
        sizes.insert(name, bytes.len().into());
    }
    index["files"] = hashes.into();
    index["bytes"] = sizes.into();
    std::fs::write(&index_path, serde_json::to_vec_pretty(&index).unwrap()).unwrap();
    let file = std::fs::File::create(to).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let mut names = files(work);
    names.sort_by_key(|n| n != "handoff.json");
    for name in names {
        builder
            .append_path_with_name(work.join(&name), &name)
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

/// Unpack the genuine package of `dir` into a work directory, let `edit` change it, re-index.
pub(crate) fn forge(dir: &Path, name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let work = dir.join(format!("forge-{name}"));
    unpack(&dir.join("handoff.tar.gz"), &work);
    edit(&work);
    let out = dir.join(format!("{name}.tar.gz"));
    reindex_and_pack(&work, &out);
    out
}

pub(crate) fn edit_json(path: &Path, change: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    change(&mut value);
    std::fs::write(path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

/// A forger's key pair in `dir/forger-keys`.
fn forger_keys(dir: &Path) -> (String, String) {
    ok(wormvault(
        dir,
        &["-q", "keys", "generate", "--output-dir", "forger-keys"],
    ));
    (
        dir.join("forger-keys/evidence-ed25519-private.pem")
            .display()
            .to_string(),
        dir.join("forger-keys/evidence-ed25519-public.pem")
            .display()
            .to_string(),
    )
}

/// Append an `evidence.archived` event for the package's (edited) receipts to its segment,
/// signed by `private` under key id `key_id`, and re-checkpoint and re-prove it with
/// `checkpoint_private`/`checkpoint_public` — what a forger with those keys can do.
fn append_archive_event(
    dir: &Path,
    work: &Path,
    private: &str,
    key_id: &str,
    created_at: Option<&str>,
    checkpoint: (&str, &str),
) {
    let receipts = wormvault::receipt::ReceiptSet::load(&work.join("receipts.json")).unwrap();
    let plan: Value =
        serde_json::from_slice(&std::fs::read(work.join("plan.json")).unwrap()).unwrap();
    let metadata = serde_json::json!({
        "receipts_sha256": receipts.digest(),
        "plan_sha256": receipts.plan_sha256,
        "bundle_digest": receipts.bundle_digest,
        "objects": receipts.receipts.len(),
        "enforcement": receipts.enforcement.to_string(),
        "retain_until": plan["retention"]["retain_until"],
    })
    .to_string();
    let segment = work.join("audit/segment.jsonl");
    let target = format!("{}#{}", receipts.target, receipts.session_prefix);
    let mut args = vec![
        "-q",
        "audit",
        "append",
        "--log",
        segment.to_str().unwrap(),
        "--event-type",
        "evidence.archived",
        "--actor",
        "wormvault",
        "--action",
        "archive",
        "--target",
        &target,
        "--decision",
        "archived",
        "--metadata",
        &metadata,
        "--private-key",
        private,
        "--key-id",
        key_id,
    ];
    if let Some(created_at) = created_at {
        args.extend(["--created-at", created_at]);
    }
    ok(wormvault(dir, &args));
    let note_path = work.join("audit/checkpoint.txt");
    let origin = std::fs::read_to_string(&note_path)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::remove_file(&note_path).unwrap();
    // `audit checkpoint` refuses a log whose record signatures no single given key checks (the
    // forger's record sits next to the genuine one), so the forger signs the checkpoint with
    // their own tooling: the root `audit verify --merkle` reports, signed by the library.
    let verified = wormvault(
        dir,
        &[
            "--json",
            "audit",
            "verify",
            "--merkle",
            "--log",
            segment.to_str().unwrap(),
        ],
    );
    let report: Value = serde_json::from_slice(&verified.stdout).unwrap();
    let root: [u8; 32] = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        report["merkle_root"].as_str().unwrap(),
    )
    .unwrap()
    .try_into()
    .unwrap();
    let pem = std::fs::read_to_string(dir.join(checkpoint.0)).unwrap();
    let signing_key =
        <ed25519_dalek::SigningKey as ed25519_dalek::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&pem)
            .unwrap();
    let note = wormvault::audit::Checkpoint {
        origin: origin.clone(),
        size: report["tree_size"].as_u64().unwrap(),
        root,
    }
    .sign(&origin, &signing_key)
    .unwrap();
    std::fs::write(&note_path, note).unwrap();
    std::fs::copy(checkpoint.1, work.join("audit/checkpoint-key.pem")).unwrap();
    let records = std::fs::read_to_string(&segment)
        .unwrap()
        .lines()
        .count()
        .to_string();
    let proof = dir.join(format!(
        "proof-{}.json",
        work.file_name().unwrap().to_string_lossy()
    ));
    ok(wormvault(
        dir,
        &[
            "-q",
            "audit",
            "prove",
            "--log",
            segment.to_str().unwrap(),
            "--seq",
            &records,
            "--checkpoint",
            note_path.to_str().unwrap(),
            "--checkpoint-key",
            checkpoint.1,
            "--output",
            proof.to_str().unwrap(),
        ],
    ));
    let proof: Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    std::fs::write(
        work.join("audit/archive-event-proofs.json"),
        serde_json::to_vec_pretty(&vec![proof]).unwrap(),
    )
    .unwrap();
}

fn fingerprint(dir: &Path) -> String {
    let roots: Value =
        serde_json::from_slice(&std::fs::read(dir.join("trust-roots.json")).unwrap()).unwrap();
    roots["trust_roots"][0]["public_key_sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn readme_pipeline_verifies_pinned_and_is_unpinned_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let package = readme_session(d);
    let (code, report, output) = verify(d, &package, &["--trust-root", "trust-roots.json"]);
    assert_eq!(code, 0, "{}", text(&output));
    assert_eq!(report["verdict"], "VERIFIED");
    assert!(report["findings"].as_array().unwrap().is_empty());
    let fp = fingerprint(d);
    let (code, report, _) = verify(d, &package, &["--trusted-fingerprint", &fp]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "VERIFIED");

    // Unpinned: exit 1, UNPINNED, the fingerprints found and the exact flag to pin them.
    let (code, report, _) = verify(d, &package, &[]);
    assert_eq!((code, report["verdict"].as_str()), (1, Some("UNPINNED")));
    let plain = wormvault(d, &["handoff", "verify", "handoff.tar.gz"]);
    assert_eq!(plain.status.code(), Some(1));
    let shown = String::from_utf8_lossy(&plain.stdout);
    assert!(shown.starts_with("UNPINNED"), "{shown}");
    assert!(
        shown.contains(&format!("--trusted-fingerprint {fp}")),
        "{shown}"
    );
    // The lock is the tool's own on a plain filesystem, and the output says so.
    assert!(shown.contains("locked by wormvault only — the storage does not enforce it"));

    // A fingerprint that is not the signer's pins nothing useful.
    let other = "ab".repeat(32);
    let (code, report, _) = verify(d, &package, &["--trusted-fingerprint", &other]);
    assert_eq!(code, 1);
    assert!(
        kinds(&report).contains(&"checkpoint_key_unpinned".to_string()),
        "{report:#}"
    );
}

#[test]
fn whole_session_resigned_with_a_foreign_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    // The forger rebuilds the same session (same id, key id, signer, target layout) with
    // altered evidence and their own keys.
    let forger = d.join("forger");
    std::fs::create_dir_all(&forger).unwrap();
    let package = readme_session(&forger);
    let report = assert_rejected(d, &package, "bundle_invalid");
    let found = kinds(&report);
    for kind in ["checkpoint_key_unpinned", "audit_chain_invalid"] {
        assert!(found.iter().any(|k| k == kind), "no {kind} in {found:?}");
    }
}

#[test]
fn genuine_bundle_with_rewritten_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, &str, Edit)> = vec![
        (
            "retention",
            "archive_event_missing",
            Box::new(|r| {
                for o in r["receipts"].as_array_mut().unwrap() {
                    o["retain_until"] = "2099-01-01T00:00:00Z".into();
                }
            }),
        ),
        (
            "hold",
            "legal_hold_mismatch",
            Box::new(|r| r["receipts"][0]["legal_hold"] = true.into()),
        ),
        (
            "target",
            "target_mismatch",
            Box::new(|r| r["target"] = "s3://forged-bucket/releases".into()),
        ),
        (
            "enforcement",
            "enforcement_mismatch",
            Box::new(|r| r["enforcement"] = "store".into()),
        ),
        (
            "dropped",
            "receipt_missing",
            Box::new(|r| {
                r["receipts"].as_array_mut().unwrap().pop();
            }),
        ),
    ];
    for (name, kind, change) in cases {
        let package = forge(d, name, |w| edit_json(&w.join("receipts.json"), change));
        assert_rejected(d, &package, kind);
    }
}

#[test]
fn plan_and_receipts_disagree_on_target() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let package = forge(d, "plan-target", |w| {
        edit_json(&w.join("plan.json"), |p| {
            p["target"] = "s3://elsewhere/releases".into()
        })
    });
    let report = assert_rejected(d, &package, "target_mismatch");
    assert!(kinds(&report).contains(&"plan_digest_mismatch".to_string()));
}

#[test]
fn audit_event_resigned_by_an_unpinned_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let (private, public) = forger_keys(d);
    let package = forge(d, "resigned", |w| {
        edit_json(&w.join("receipts.json"), |r| {
            for o in r["receipts"].as_array_mut().unwrap() {
                o["retain_until"] = "2099-01-01T00:00:00Z".into();
            }
        });
        // Same key id as the genuine key: a key id alone proves nothing.
        append_archive_event(d, w, &private, "prod-evidence", None, (&private, &public));
    });
    let report = assert_rejected(d, &package, "audit_chain_invalid");
    assert!(
        kinds(&report).contains(&"checkpoint_key_unpinned".to_string()),
        "{report:#}"
    );
}

#[test]
fn checkpoint_from_another_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let package = readme_session(d);
    let work = d.join("peek");
    unpack(&package, &work);
    let origin = std::fs::read_to_string(work.join("audit/checkpoint.txt"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    // Another log, checkpointed by the genuine (pinned) key under the same origin.
    for n in 0..3 {
        let target = format!("other-{n}");
        ok(wormvault(
            d,
            &[
                "-q",
                "audit",
                "append",
                "--log",
                "other.jsonl",
                "--event-type",
                "evidence.archived",
                "--actor",
                "x",
                "--action",
                "archive",
                "--target",
                &target,
                "--decision",
                "archived",
                "--private-key",
                "keys/evidence-ed25519-private.pem",
                "--key-id",
                "prod-evidence",
            ],
        ));
    }
    ok(wormvault(
        d,
        &[
            "-q",
            "audit",
            "checkpoint",
            "--log",
            "other.jsonl",
            "--origin",
            &origin,
            "--signing-key",
            "keys/evidence-ed25519-private.pem",
            "--output",
            "other.note",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
            "--key-id",
            "prod-evidence",
        ],
    ));
    let forged = forge(d, "other-checkpoint", |w| {
        std::fs::copy(d.join("other.note"), w.join("audit/checkpoint.txt")).unwrap();
    });
    assert_rejected(d, &forged, "checkpoint_log_mismatch");
}

#[test]
fn backdated_package_fails_retention() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let backdate = |r: &mut Value| {
        r["created_at"] = "2019-01-01T00:00:00.000000+00:00".into();
        for o in r["receipts"].as_array_mut().unwrap() {
            o["retain_until"] = "2026-01-02T00:00:00Z".into();
            o["read_at"] = "2019-01-01T00:00:01Z".into();
        }
    };
    // Receipts backdated to 2019 with a retain-until already past: the receipts' own date is
    // not the archive time, the audit event is.
    let package = forge(d, "backdated", |w| {
        edit_json(&w.join("receipts.json"), backdate)
    });
    assert_rejected(d, &package, "archive_time_unproven");
    // Even a forger holding the signing key, who writes a 2019 archive event for them, gets a
    // retain-until already in the past refused.
    let key = d
        .join("keys/evidence-ed25519-private.pem")
        .display()
        .to_string();
    let public = d
        .join("keys/evidence-ed25519-public.pem")
        .display()
        .to_string();
    let package = forge(d, "backdated-insider", |w| {
        edit_json(&w.join("receipts.json"), backdate);
        append_archive_event(
            d,
            w,
            &key,
            "prod-evidence",
            Some("2019-01-01T00:00:00.000000+00:00"),
            (&key, &public),
        );
    });
    assert_rejected(d, &package, "retention_expired");
}

#[test]
fn edited_reports_in_the_package_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    // The HTML alone edited to claim a longer lock, with a re-hashed index.
    let package = forge(d, "html", |w| {
        let path = w.join("report/report.html");
        let html = std::fs::read_to_string(&path).unwrap();
        let year = &chrono::Utc::now().format("%Y").to_string();
        let edited = html.replace(&format!(">{}", (year.parse::<i32>().unwrap() + 7)), ">2099");
        assert_ne!(html, edited);
        std::fs::write(&path, edited).unwrap();
    });
    assert_rejected(d, &package, "stored_html_mismatch");
    // JSON and HTML edited together, consistently.
    let package = forge(d, "report", |w| {
        let path = w.join("report/verification.json");
        edit_json(&path, |r| {
            for o in r["objects"].as_array_mut().unwrap() {
                o["retain_until"] = "2099-01-01T00:00:00+00:00".into();
            }
        });
        let report: wormvault::handoff::HandoffReport =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::write(
            w.join("report/report.html"),
            wormvault::handoff_html::render(&wormvault::handoff::view(&report)),
        )
        .unwrap();
    });
    assert_rejected(d, &package, "stored_report_mismatch");
    // The report `verify --html` writes is the recomputed one.
    let output = wormvault(
        d,
        &[
            "handoff",
            "verify",
            "report.tar.gz",
            "--trust-root",
            "trust-roots.json",
            "--html",
            "r.html",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(
        !html.contains("<td>2099") && html.contains("VERIFICATION FAILED"),
        "{html}"
    );
}

/// A TCP listener that records whether anything connected.
fn listener(addr: &str) -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind(addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

#[track_caller]
fn assert_nothing_received(listener: &std::net::TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((mut stream, peer)) => {
            let mut bytes = Vec::new();
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_millis(500)))
                .unwrap();
            let _ = std::io::Read::read_to_end(&mut stream, &mut bytes);
            panic!("{peer} connected and sent {} bytes", bytes.len());
        }
        Err(e) => panic!("{e}"),
    }
}

fn retarget(d: &Path, name: &str, target: &str) -> PathBuf {
    forge(d, name, |w| {
        for file in ["receipts.json", "plan.json", "handoff.json"] {
            edit_json(&w.join(file), |v| v["target"] = target.into());
        }
    })
}

#[test]
fn online_never_follows_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let env = [("AZURE_STORAGE_SAS_TOKEN", "sv=2024&sig=auditor-secret")];

    // The package names the forger's store; the auditor names theirs: refused, nothing sent.
    let trap = listener("127.0.0.1:0");
    let port = trap.local_addr().unwrap().port();
    let package = retarget(
        d,
        "trap",
        &format!("azure+http://127.0.0.1:{port}/acct/evidence/releases"),
    );
    let output = wormvault_env(
        d,
        &[
            "--json",
            "handoff",
            "verify",
            package.to_str().unwrap(),
            "--trust-root",
            "trust-roots.json",
            "--online",
            "azure://realacct/evidence/releases",
        ],
        &env,
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        kinds(&report).contains(&"online_refused".to_string()),
        "{report:#}"
    );
    assert_nothing_received(&trap);

    // The auditor names a plain-HTTP store that is not loopback: refused before connecting.
    let local_ip = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").and_then(|_| s.local_addr()))
        .map(|a| a.ip());
    match local_ip {
        Ok(ip) if !ip.is_loopback() && !ip.is_unspecified() => {
            let trap = listener("0.0.0.0:0");
            let port = trap.local_addr().unwrap().port();
            let target = format!("azure+http://{ip}:{port}/acct/evidence/releases");
            let package = retarget(d, "attacker", &target);
            let output = wormvault_env(
                d,
                &[
                    "--json",
                    "handoff",
                    "verify",
                    package.to_str().unwrap(),
                    "--trust-root",
                    "trust-roots.json",
                    "--online",
                    &target,
                ],
                &env,
            );
            assert_eq!(output.status.code(), Some(1), "{}", text(&output));
            let report: Value = serde_json::from_slice(&output.stdout).unwrap();
            assert!(
                kinds(&report).contains(&"online_refused".to_string()),
                "{report:#}"
            );
            assert!(text(&output).contains("plain HTTP"), "{}", text(&output));
            assert!(!text(&output).contains("auditor-secret"));
            assert_nothing_received(&trap);
        }
        other => eprintln!("SKIPPED the non-loopback case: no non-loopback address ({other:?})"),
    }

    // The genuine store, named by the auditor, is compared.
    let vault = format!("file://{}/vault", d.display());
    let (code, report, output) = verify(
        d,
        &d.join("handoff.tar.gz"),
        &["--trust-root", "trust-roots.json", "--online", &vault],
    );
    assert_eq!(code, 0, "{}", text(&output));
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "store_matches_receipts" && c["passed"] == true)
    );
}

#[test]
fn no_package_is_written_when_handoff_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    std::fs::remove_file(d.join("handoff.tar.gz")).unwrap();
    let before = files(d);
    let handoff = || {
        wormvault(
            d,
            &[
                "handoff",
                "--session",
                SESSION,
                "--output",
                "handoff.tar.gz",
            ],
        )
    };
    // The packager's trust roots now revoke the key: the package would not verify.
    let roots = std::fs::read_to_string(d.join("trust-roots.json")).unwrap();
    std::fs::write(
        d.join("trust-roots.json"),
        roots.replace("\"active\"", "\"revoked\""),
    )
    .unwrap();
    let output = handoff();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("nothing was written"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("root_revoked"), "{}", text(&output));
    assert!(!d.join("handoff.tar.gz").exists());
    std::fs::write(d.join("trust-roots.json"), roots).unwrap();
    // The local receipts were edited after the archive: no archive event carries them.
    edit_json(&d.join("receipts.json"), |r| {
        r["receipts"][0]["legal_hold"] = true.into()
    });
    let output = handoff();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(!d.join("handoff.tar.gz").exists());
    assert_eq!(files(d), before, "handoff left files behind");
}

#[test]
fn hold_history_is_in_the_package_under_a_newer_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    std::fs::remove_file(d.join("handoff.tar.gz")).unwrap();
    let receipts = wormvault::receipt::ReceiptSet::load(&d.join("receipts.json")).unwrap();
    let session_target = format!("file://{}/vault/{}", d.display(), receipts.session_prefix);
    ok(wormvault(
        d,
        &[
            "-q",
            "hold",
            "set",
            &session_target,
            "--case",
            "CASE-9",
            "--reason",
            "litigation",
            "--actor",
            "records-manager",
            "--checkpoint-key",
            "keys/evidence-ed25519-private.pem",
            "--audit-log",
            "audit.jsonl",
            "--audit-signing-key",
            "keys/evidence-ed25519-private.pem",
            "--audit-key-id",
            "prod-evidence",
        ],
    ));
    // The archive's checkpoint does not cover the hold: refused, nothing written.
    let output = wormvault(
        d,
        &[
            "handoff",
            "--session",
            SESSION,
            "--output",
            "handoff.tar.gz",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("--checkpoint"), "{}", text(&output));
    assert!(!d.join("handoff.tar.gz").exists());
    // With a newer checkpoint, the hold is in the package and in the report.
    let note = std::fs::read_dir(d)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".checkpoint.txt"))
        .unwrap();
    let origin = std::fs::read_to_string(note)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    ok(wormvault(
        d,
        &[
            "-q",
            "audit",
            "checkpoint",
            "--log",
            "audit.jsonl",
            "--origin",
            &origin,
            "--signing-key",
            "keys/evidence-ed25519-private.pem",
            "--output",
            "cp-2.note",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
            "--key-id",
            "prod-evidence",
        ],
    ));
    ok(wormvault(
        d,
        &[
            "-q",
            "handoff",
            "--session",
            SESSION,
            "--output",
            "handoff.tar.gz",
            "--checkpoint",
            "cp-2.note",
            "--checkpoint-key",
            "keys/evidence-ed25519-public.pem",
        ],
    ));
    let (code, report, output) = verify(
        d,
        &d.join("handoff.tar.gz"),
        &["--trust-root", "trust-roots.json", "--html", "report.html"],
    );
    assert_eq!(code, 0, "{}", text(&output));
    let holds = report["hold_events"].as_array().unwrap();
    assert_eq!(holds.len(), 1, "{report:#}");
    assert_eq!(holds[0]["case"], "CASE-9");
    assert_eq!(holds[0]["event_type"], "legal_hold.set");
    assert!(
        report["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["legal_hold"].as_str().unwrap().starts_with("on"))
    );
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(
        html.contains("CASE-9") && html.contains("as of packaging"),
        "{html}"
    );
    assert!(html.contains("locked by wormvault only — the storage does not enforce it"));
    // Online, the hold state shown is the store's, and says so.
    let vault = format!("file://{}/vault", d.display());
    let (code, report, output) = verify(
        d,
        &d.join("handoff.tar.gz"),
        &["--trust-root", "trust-roots.json", "--online", &vault],
    );
    assert_eq!(code, 0, "{}", text(&output));
    assert_eq!(
        report["hold_state_source"],
        "read from the store now (--online)"
    );
    assert!(
        report["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["legal_hold"] == "on (read from the store now)"),
        "{report:#}"
    );
}

#[test]
fn extraction_is_bounded_by_what_the_index_declares() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A small package whose index declares a 2-byte file that inflates to 64 MiB.
    let index = serde_json::json!({
        "schema_version": "wormvault.handoff.v1", "product": "wormvault",
        "created_at": "2026-01-01T00:00:00Z", "session_id": "s", "target": "file:///v",
        "bundle_digest": "00", "files": {"plan.json": "00"}, "bytes": {"plan.json": 2},
    })
    .to_string();
    let path = d.join("bomb.tar.gz");
    let file = std::fs::File::create(&path).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(index.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "handoff.json", index.as_bytes())
        .unwrap();
    let big = 64u64 << 20;
    let mut header = tar::Header::new_gnu();
    header.set_size(big);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "plan.json", std::io::repeat(0).take_bytes(big))
        .unwrap();
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 1 << 20);
    let output = wormvault(d, &["handoff", "verify", "bomb.tar.gz"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("67108864 bytes, over the"),
        "{}",
        text(&output)
    );
}

#[test]
fn extraction_without_declared_sizes_is_bounded_by_the_package_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No index: a ~200 KiB package inflating to 256 MiB is refused at its legacy bound
    // (100 × its size + 64 MiB), before more than that is written.
    let path = d.join("legacy.tar.gz");
    let file = std::fs::File::create(&path).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::best(),
    ));
    let big = 256u64 << 20;
    let mut header = tar::Header::new_gnu();
    header.set_size(big);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "plan.json", std::io::repeat(0).take_bytes(big))
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 1 << 20, "{size}");
    let output = wormvault(d, &["handoff", "verify", "legacy.tar.gz"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let limit = size * 100 + (64 << 20);
    assert!(
        text(&output).contains(&format!("over the {limit}-byte limit")),
        "{}",
        text(&output)
    );
}

trait TakeBytes: std::io::Read + Sized {
    fn take_bytes(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}
impl<R: std::io::Read> TakeBytes for R {}

#[test]
fn hmac_signatures_are_unchecked_without_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("evidence")).unwrap();
    std::fs::write(d.join("evidence/evidence.json"), "{\"release\": \"3\"}\n").unwrap();
    std::fs::write(d.join("bundle.key"), "bundle-secret\n").unwrap();
    std::fs::write(d.join("audit.key"), "audit-secret\n").unwrap();
    let vault = format!("file://{}/vault", d.display());
    for args in [
        vec!["keys", "generate", "--output-dir", "keys"],
        vec![
            "keys",
            "trust-root",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
            "--key-id",
            "checkpoints",
            "--output",
            "trust-roots.json",
        ],
        vec![
            "bundle",
            "create",
            "evidence/",
            "--output",
            "bundle",
            "--hmac-key-file",
            "bundle.key",
            "--signer",
            "ci",
            "--session-id",
            SESSION,
        ],
        vec![
            "archive",
            "bundle/",
            "--to",
            &vault,
            "--hmac-key-file",
            "bundle.key",
            "--trust-root",
            "trust-roots.json",
            "--audit-log",
            "audit.jsonl",
            "--audit-hmac-key-file",
            "audit.key",
            "--checkpoint-key",
            "keys/evidence-ed25519-private.pem",
            "--receipts-out",
            "receipts.json",
        ],
        vec![
            "handoff",
            "--session",
            SESSION,
            "--output",
            "handoff.tar.gz",
        ],
    ] {
        ok(wormvault(d, &[&["-q"][..], &args].concat()));
    }
    let package = d.join("handoff.tar.gz");
    let status = |report: &Value, name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (code, report, _) = verify(d, &package, &["--trust-root", "trust-roots.json"]);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (1, Some("INCOMPLETE")),
        "{report:#}"
    );
    assert_eq!(status(&report, "bundle_signature_and_files"), "unchecked");
    assert_eq!(status(&report, "audit_chain"), "unchecked");
    let keys = [
        "--trust-root",
        "trust-roots.json",
        "--bundle-key-file",
        "bundle.key",
        "--audit-key-file",
        "audit.key",
    ];
    let (code, report, _) = verify(d, &package, &keys);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (0, Some("VERIFIED")),
        "{report:#}"
    );
    // A wrong bundle key is a failure, not "unchecked".
    std::fs::write(d.join("wrong.key"), "guess\n").unwrap();
    let (code, report, _) = verify(
        d,
        &package,
        &[
            "--trust-root",
            "trust-roots.json",
            "--bundle-key-file",
            "wrong.key",
        ],
    );
    assert_eq!(
        (code, report["verdict"].as_str()),
        (1, Some("FAILED")),
        "{report:#}"
    );
}

#[test]
fn hold_events_naming_other_versions_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    readme_session(d);
    let key = d
        .join("keys/evidence-ed25519-private.pem")
        .display()
        .to_string();
    let public = d
        .join("keys/evidence-ed25519-public.pem")
        .display()
        .to_string();
    // Even signed by the pinned key, a hold event about another version than the receipts'
    // does not tell the same story.
    let package = forge(d, "versions", |w| {
        let mut first_key = String::new();
        edit_json(&w.join("receipts.json"), |r| {
            for o in r["receipts"].as_array_mut().unwrap() {
                o["version_id"] = "v1".into();
            }
            first_key = r["receipts"][0]["key"].as_str().unwrap().to_string();
        });
        let metadata = serde_json::json!({
            "case_id": "CASE-1", "reason": "r",
            "objects": [{"key": first_key, "version_id": "v2", "legal_hold": true, "error": null}],
        })
        .to_string();
        let segment = w.join("audit/segment.jsonl");
        ok(wormvault(
            d,
            &[
                "-q",
                "audit",
                "append",
                "--log",
                segment.to_str().unwrap(),
                "--event-type",
                "legal_hold.set",
                "--actor",
                "records",
                "--action",
                "legal_hold_set",
                "--target",
                "elsewhere",
                "--decision",
                "applied",
                "--metadata",
                &metadata,
                "--private-key",
                &key,
                "--key-id",
                "prod-evidence",
            ],
        ));
        append_archive_event(d, w, &key, "prod-evidence", None, (&key, &public));
    });
    assert_rejected(d, &package, "version_mismatch");
}

#[test]
fn pinned_keys_are_judged_at_signing_time_and_revoked_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let package = readme_session(d);
    let root = |args: &[&str]| {
        let base = [
            "-q",
            "keys",
            "trust-root",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
        ];
        ok(wormvault(d, &[&base[..], args].concat()));
    };
    // The same key, pinned with a window that closed before the archive: every signature,
    // the checkpoint's included, is refused.
    root(&[
        "--key-id",
        "prod-evidence",
        "--valid-from",
        "2019-01-01T00:00:00+00:00",
        "--valid-until",
        "2020-01-01T00:00:00+00:00",
        "--output",
        "expired.json",
    ]);
    let (code, report, _) = verify(d, &package, &["--trust-root", "expired.json"]);
    assert_eq!(code, 1);
    let found = kinds(&report);
    for kind in [
        "checkpoint_key_not_admitted",
        "bundle_invalid",
        "audit_chain_invalid",
    ] {
        assert!(found.iter().any(|k| k == kind), "no {kind} in {found:?}");
    }
    // Revoked under another key id: revocation is by key, whatever id the signature names.
    root(&[
        "--key-id",
        "old-id",
        "--status",
        "revoked",
        "--output",
        "revoked.json",
    ]);
    let (code, report, _) = verify(
        d,
        &package,
        &[
            "--trust-root",
            "trust-roots.json",
            "--trust-root",
            "revoked.json",
        ],
    );
    assert_eq!((code, report["verdict"].as_str()), (1, Some("FAILED")));
    let found = kinds(&report);
    assert!(
        found.iter().filter(|k| *k == "key_revoked").count() >= 3,
        "{found:?}"
    );
}
