//! The archive pipeline end to end through the real binary: the README's demo, archive to a
//! local vault and to LocalStack, plan review and `upload --plan`, legal holds, `check-remote`,
//! and the auditor handoff package (offline verification, every single tampering caught, the
//! HTML report opened in headless Chromium).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_sdk_s3::types::{ChecksumMode, ObjectLockMode};
use sha2::Digest as _;

use crate::support::cli::{text, wormvault};

#[track_caller]
fn ok(output: Output) -> Output {
    assert_eq!(
        output.status.code(),
        Some(0),
        "expected success:\n{}",
        text(&output)
    );
    output
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

/// Keys, a trust root, and a signed bundle for session `session` in `dir`.
fn evidence(dir: &Path, session: &str, retention_days: u32) -> PathBuf {
    let days = retention_days.to_string();
    support::cli::release_bundle(
        dir,
        session,
        &[
            ("evidence.json", "{\"release\": \"2.1.0\"}\n"),
            ("pr-attestation.md", "# approved\n"),
        ],
        &["--retention-days", &days],
    );
    dir.join("bundle")
}

use crate::support::cli::release_archive_args as archive_args;

/// Run wormvault against an S3 endpoint with test credentials (and `env`), on a thread of its
/// own so the calling test's async runtime is not blocked.
fn wormvault_s3(dir: &Path, endpoint: &str, env: &[(&str, &str)], args: Vec<String>) -> Output {
    let mut all = vec![
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    all.extend_from_slice(env);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    support::cli::wormvault_env(dir, &all, &args)
}

/// For a LocalStack archive test: the emulator, a bucket configured as preflight requires, a
/// scratch directory and the archive target; `None` (the test returns) when LocalStack is not
/// there outside CI.
async fn s3_case() -> Option<(support::S3Env, String, tempfile::TempDir, String)> {
    let s3 = support::require_s3()?;
    let bucket = support::s3::bucket_with(&s3.client, support::s3::FULL).await;
    let target = format!("s3://{bucket}/evidence");
    Some((s3, bucket, tempfile::tempdir().unwrap(), target))
}

/// A run refused (exit 1) because big.bin's content does not match the manifest, saying that no
/// object was stored — and the bucket agrees: no object version, no delete marker, no
/// multipart upload left behind.
async fn assert_refused_with_nothing_stored(
    refused: &Output,
    client: &aws_sdk_s3::Client,
    bucket: &str,
) {
    exit(refused, 1);
    let message = text(refused);
    assert!(
        message.contains("big.bin")
            && message.contains("file_hash_mismatch")
            && message.contains("no object was stored"),
        "{message}"
    );
    let versions = client
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert!(
        versions.versions().is_empty() && versions.delete_markers().is_empty(),
        "objects were stored: {versions:?}"
    );
    let uploads = client
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "a multipart upload was left behind: {uploads:?}"
    );
}

/// `len` bytes of a fixed pattern that does not repeat within a multipart part.
fn patterned(len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(output)))
}

#[test]
fn demo_runs_the_whole_pipeline_without_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let output = ok(wormvault(dir.path(), &["demo", "--dir", "demo"]));
    let shown = text(&output);
    for step in [
        "[keys]",
        "[bundle]",
        "[audit log]",
        "[archive]",
        "[audit event]",
        "[worm check]",
        "[handoff]",
        "[handoff verify] VERIFIED",
    ] {
        assert!(shown.contains(step), "demo output lacks {step}:\n{shown}");
    }
    // A local vault on a plain filesystem is enforced by the tool alone, and the demo says so
    // where it reports the lock (issue #14 item 6).
    let archive_line = shown.lines().find(|l| l.starts_with("[archive]")).unwrap();
    assert!(
        archive_line.contains("locked by wormvault only — the storage does not enforce it"),
        "{archive_line}"
    );
    let html = std::fs::read_to_string(dir.path().join("demo/handoff-report.html")).unwrap();
    assert!(html.contains("id=\"verdict\" class=\"ok\">VERIFIED"));
    // The vault really holds the objects read-only, and the handoff verifies again from the CLI.
    ok(wormvault(
        dir.path(),
        &[
            "handoff",
            "verify",
            "demo/handoff.tar.gz",
            "--trust-root",
            "demo/trust-roots.json",
        ],
    ));
    // A second run refuses to reuse the directory rather than mixing two demos.
    exit(&wormvault(dir.path(), &["demo", "--dir", "demo"]), 2);
}

#[test]
fn archive_to_local_vault_resumes_and_check_remote_matches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-7", 2555);
    let vault = format!("file://{}/vault", d.display());
    let first = json(&ok(wormvault(
        d,
        &[&["--json"][..], &archive_args(&vault, "receipts-1.json")].concat(),
    )));
    assert_eq!(first["upload"]["uploaded"], 4);
    let receipts = &first["upload"]["receipts"]["receipts"];
    assert_eq!(receipts.as_array().unwrap().len(), 4);
    for receipt in receipts.as_array().unwrap() {
        assert_eq!(receipt["retention_mode"], "compliance");
        assert_eq!(receipt["enforcement"], "tool");
        assert_eq!(receipt["legal_hold"], false);
    }
    // The audit log got the evidence.archived event with the receipts' hash.
    let log = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    assert!(
        log.contains("evidence.archived")
            && log.contains(first["receipts_sha256"].as_str().unwrap())
    );
    // A rerun skips what is there and writes nothing twice.
    let again = json(&ok(wormvault(
        d,
        &[
            "--json",
            "archive",
            "bundle",
            "--trust-root",
            "trust-root.json",
            "--to",
            &vault,
            "--receipts-out",
            "receipts-2.json",
        ],
    )));
    assert_eq!(again["upload"]["uploaded"], 0);
    assert_eq!(again["upload"]["already_present"], 4);
    ok(wormvault(
        d,
        &[
            "check-remote",
            &vault,
            "--receipts",
            "receipts-1.json",
            "--rehash",
        ],
    ));

    // Change an object behind the tool's back: check-remote catches it.
    let key = receipts[0]["key"].as_str().unwrap();
    let path = d.join("vault").join(key);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&path, b"forged").unwrap();
    let checked = wormvault(
        d,
        &[
            "--json",
            "check-remote",
            &vault,
            "--receipts",
            "receipts-1.json",
        ],
    );
    exit(&checked, 1);
    let findings = json(&checked)["findings"].clone();
    assert!(
        findings
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "changed" && f["key"] == key),
        "{findings}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-8", 2555);
    let vault = format!("file://{}/vault", d.display());
    let plan = json(&ok(wormvault(
        d,
        &[
            "--json",
            "archive",
            "bundle",
            "--trust-root",
            "trust-root.json",
            "--to",
            &vault,
            "--dry-run",
            "--legal-hold",
            "CASE-42",
        ],
    )));
    assert_eq!(plan["format"], "wormvault.storage-plan.v1");
    assert_eq!(plan["schema_version"], "cavra.immutable-storage-plan.v1");
    assert_eq!(plan["objects"].as_array().unwrap().len(), 4);
    assert!(
        plan["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["legal_hold"] == true && o["tags"]["wormvault-case-id"] == "CASE-42")
    );
    assert!(
        plan["session_prefix"]
            .as_str()
            .unwrap()
            .starts_with("rel-8/")
    );
    assert!(!d.join("vault").exists());
}

#[test]
fn short_retention_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-9", 2554);
    let vault = format!("file://{}/vault", d.display());
    let output = wormvault(
        d,
        &[
            "archive",
            "bundle",
            "--trust-root",
            "trust-root.json",
            "--to",
            &vault,
        ],
    );
    exit(&output, 1);
    assert!(
        text(&output).contains("2554") && text(&output).contains("2555"),
        "{}",
        text(&output)
    );
    assert!(!d.join("vault").exists());
}

#[test]
fn upload_of_a_reviewed_plan_refuses_a_changed_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-10", 2555);
    let vault = format!("file://{}/vault", d.display());
    ok(wormvault(
        d,
        &[
            "-q",
            "plan",
            "bundle",
            "--trust-root",
            "trust-root.json",
            "--to",
            &vault,
            "--output",
            "plan.json",
        ],
    ));
    // The reviewed plan executes...
    let outcome = json(&ok(wormvault(
        d,
        &[
            "--json",
            "upload",
            "bundle",
            "--plan",
            "plan.json",
            "--trust-root",
            "trust-root.json",
            "--receipts-out",
            "r.json",
        ],
    )));
    assert_eq!(outcome["upload"]["uploaded"], 4);
    // ...but not against a bundle re-created with other content.
    std::fs::remove_dir_all(d.join("bundle")).unwrap();
    std::fs::write(d.join("files/evidence.json"), "{\"release\": \"2.1.1\"}\n").unwrap();
    ok(wormvault(
        d,
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
            "release-key",
            "--session-id",
            "rel-10",
        ],
    ));
    let output = wormvault(
        d,
        &[
            "upload",
            "bundle",
            "--plan",
            "plan.json",
            "--trust-root",
            "trust-root.json",
            "--receipts-out",
            "r2.json",
        ],
    );
    exit(&output, 1);
    assert!(
        text(&output).contains("changed after review"),
        "{}",
        text(&output)
    );
}

#[test]
fn legal_hold_set_status_and_confirmed_release_on_a_vault() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    evidence(d, "rel-11", 2555);
    let vault = format!("file://{}/vault", d.display());
    ok(wormvault(
        d,
        &[
            "-q",
            "archive",
            "bundle",
            "--trust-root",
            "trust-root.json",
            "--to",
            &vault,
            "--receipts-out",
            "r.json",
        ],
    ));
    let prefix = format!("{vault}/rel-11");
    let set = json(&ok(wormvault(
        d,
        &[
            "--json",
            "hold",
            "set",
            &prefix,
            "--case",
            "CASE-1",
            "--reason",
            "litigation",
            "--audit-log",
            "holds.jsonl",
            "--audit-signing-key",
            "keys/evidence-ed25519-private.pem",
            "--checkpoint-key",
            "keys/evidence-ed25519-private.pem",
            "--actor",
            "records-manager",
        ],
    )));
    assert_eq!(
        set["objects"].as_array().unwrap().len(),
        8,
        "4 evidence objects + the receipts, plan, trust roots and session record (_wormvault/)"
    );
    assert!(
        set["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["legal_hold"] == true)
    );
    let registry = [
        "--audit-log",
        "holds.jsonl",
        "--audit-signing-key",
        "keys/evidence-ed25519-private.pem",
        "--checkpoint-key",
        "keys/evidence-ed25519-private.pem",
    ];
    let status = json(&ok(wormvault(
        d,
        &[&["--json", "hold", "status", &prefix][..], &registry].concat(),
    )));
    assert!(
        status["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["legal_hold"] == true)
    );
    exit(
        &wormvault(
            d,
            &[
                &[
                    "hold", "release", &prefix, "--case", "CASE-1", "--reason", "settled",
                    "--actor", "rm",
                ][..],
                &registry,
            ]
            .concat(),
        ),
        1,
    );
    let released = json(&ok(wormvault(
        d,
        &[
            &[
                "--json",
                "hold",
                "release",
                &prefix,
                "--case",
                "CASE-1",
                "--reason",
                "settled",
                "--actor",
                "rm",
                "--confirm-release",
            ][..],
            &registry,
        ]
        .concat(),
    )));
    assert!(
        released["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["legal_hold"] == false)
    );
    // The hold was recorded in the audit log, naming the case, the reason and every object.
    let log = std::fs::read_to_string(d.join("holds.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(record["event_type"], "legal_hold.set");
    assert_eq!(record["actor"], "records-manager");
    assert_eq!(record["metadata"]["case"], "CASE-1");
    assert_eq!(record["metadata"]["reason"], "litigation");
    assert_eq!(record["metadata"]["objects"].as_array().unwrap().len(), 8);
    ok(wormvault(
        d,
        &[
            "audit",
            "verify",
            "--log",
            "holds.jsonl",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
        ],
    ));
}

/// Archive to a local vault with an audit log and checkpoint, then build the handoff package.
fn handoff_package(d: &Path) -> PathBuf {
    evidence(d, "rel-12", 2555);
    let vault = format!("file://{}/vault", d.display());
    ok(wormvault(
        d,
        &[&["-q"][..], &archive_args(&vault, "receipts.json")].concat(),
    ));
    ok(wormvault(
        d,
        &[
            "-q",
            "handoff",
            "--session",
            "rel-12",
            "--output",
            "handoff.tar.gz",
        ],
    ));
    d.join("handoff.tar.gz")
}

fn unpack(package: &Path, into: &Path) -> Vec<String> {
    let file = std::fs::File::open(package).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(into)
        .unwrap();
    walkdir::WalkDir::new(into)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(into)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn repack(from: &Path, to: &Path) {
    let file = std::fs::File::create(to).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    builder.append_dir_all(".", from).unwrap();
    builder.into_inner().unwrap().finish().unwrap();
}

#[test]
fn handoff_verifies_offline_and_fails_after_any_single_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let package = handoff_package(d);
    let vault = format!("file://{}/vault", d.display());
    let verified = json(&ok(wormvault(
        d,
        &[
            "--json",
            "handoff",
            "verify",
            "handoff.tar.gz",
            "--trust-root",
            "trust-root.json",
            "--online",
            &vault,
        ],
    )));
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["verdict"], "VERIFIED");
    let names: Vec<&str> = verified["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for check in [
        "package_contents",
        "bundle_signature_and_files",
        "trust_pinned",
        "one_story",
        "retention_minimum",
        "audit_chain",
        "stored_reports",
        "checkpoint_signature",
        "archive_event_proofs",
        "store_matches_receipts",
    ] {
        assert!(names.contains(&check), "{check} missing from {names:?}");
    }
    assert_eq!(verified["objects"].as_array().unwrap().len(), 4);

    // Flip one byte in each file of the package, one at a time.
    let clean = d.join("clean");
    let files = unpack(&package, &clean);
    assert!(files.len() >= 13, "{files:?}");
    for name in &files {
        let work = d.join(format!("tamper-{}", name.replace('/', "_")));
        unpack(&package, &work);
        let path = work.join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] = if bytes[middle] == b'a' { b'b' } else { b'a' };
        std::fs::write(&path, bytes).unwrap();
        let tampered = d.join(format!("{}.tar.gz", work.display()));
        repack(&work, &tampered);
        let output = wormvault(
            d,
            &[
                "handoff",
                "verify",
                tampered.to_str().unwrap(),
                "--trust-root",
                "trust-root.json",
            ],
        );
        exit(&output, 1);
    }

    // An extra file (more bytes than the index declares: refused while extracting, before it
    // is written), and a missing file.
    let work = d.join("extra");
    unpack(&package, &work);
    std::fs::write(work.join("bundle/extra.txt"), "smuggled").unwrap();
    repack(&work, &d.join("extra.tar.gz"));
    let output = wormvault(
        d,
        &[
            "handoff",
            "verify",
            "extra.tar.gz",
            "--trust-root",
            "trust-root.json",
        ],
    );
    exit(&output, 2);
    assert!(text(&output).contains("total limit"), "{}", text(&output));
    let work = d.join("missing");
    unpack(&package, &work);
    std::fs::remove_file(work.join("audit/archive-event-proofs.json")).unwrap();
    repack(&work, &d.join("missing.tar.gz"));
    exit(
        &wormvault(
            d,
            &[
                "handoff",
                "verify",
                "missing.tar.gz",
                "--trust-root",
                "trust-root.json",
            ],
        ),
        1,
    );

    // A consistent forgery: receipts edited AND the index updated to match. The signed audit
    // event still carries the original receipts' hash, so the proofs check catches it.
    let work = d.join("forged");
    unpack(&package, &work);
    let receipts = std::fs::read_to_string(work.join("receipts.json"))
        .unwrap()
        .replace("2033", "2099");
    std::fs::write(work.join("receipts.json"), &receipts).unwrap();
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("handoff.json")).unwrap()).unwrap();
    index["files"]["receipts.json"] = wormvault::hashing::sha256_hex(receipts.as_bytes()).into();
    std::fs::write(
        work.join("handoff.json"),
        serde_json::to_string(&index).unwrap(),
    )
    .unwrap();
    repack(&work, &d.join("forged.tar.gz"));
    let output = wormvault(
        d,
        &[
            "--json",
            "handoff",
            "verify",
            "forged.tar.gz",
            "--trust-root",
            "trust-root.json",
        ],
    );
    exit(&output, 1);
    let report = json(&output);
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"archive_event_proofs"), "{failed:?}");
}

/// Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes for a screenshot) into
/// RGB pixels: IDAT chunks inflated with flate2, scanline filters undone (PNG spec §9).
fn png_pixels(png: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "bit depth");
                assert_eq!(data[12], 0, "interlaced");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&idat[..]), &mut raw).unwrap();
    let stride = width * channels;
    assert_eq!(raw.len(), height * (stride + 1), "inflated size");
    let mut previous = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(width * height);
    for row in raw.chunks(stride + 1) {
        let (filter, line) = (row[0], &row[1..]);
        let mut out = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= channels { out[i - channels] } else { 0 };
            let b = previous[i];
            let c = if i >= channels {
                previous[i - channels]
            } else {
                0
            };
            let predictor = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("PNG filter {other}"),
            };
            out[i] = line[i].wrapping_add(predictor);
        }
        pixels.extend(out.chunks(channels).map(|p| [p[0], p[1], p[2]]));
        previous = out;
    }
    (width, height, pixels)
}

#[test]
fn html_report_opens_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    let Some(chromium) = chromium else {
        if support::ci_requires_emulators() {
            panic!(
                "chromium is required with CI=true (scripts/test.sh installs Debian's chromium package)"
            );
        }
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    handoff_package(d);
    // A legal hold after the archive, under a newer checkpoint: the package carries the hold
    // history and the report draws it on the custody timeline.
    let receipts = wormvault::receipt::ReceiptSet::load(&d.join("receipts.json")).unwrap();
    let session = format!("file://{}/vault/{}", d.display(), receipts.session_prefix);
    ok(wormvault(
        d,
        &[
            "-q",
            "hold",
            "set",
            &session,
            "--case",
            "CASE-77",
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
            "release-key",
        ],
    ));
    let note = std::fs::read_dir(d)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".checkpoint.txt"))
        .expect("the archive's checkpoint note");
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
            "--public-key",
            "keys/evidence-ed25519-public.pem",
            "--key-id",
            "release-key",
            "--signing-key",
            "keys/evidence-ed25519-private.pem",
            "--output",
            "cp-2.note",
        ],
    ));
    std::fs::remove_file(d.join("handoff.tar.gz")).unwrap();
    ok(wormvault(
        d,
        &[
            "-q",
            "handoff",
            "--session",
            "rel-12",
            "--output",
            "handoff.tar.gz",
            "--checkpoint",
            "cp-2.note",
            "--checkpoint-key",
            "keys/evidence-ed25519-public.pem",
        ],
    ));
    ok(wormvault(
        d,
        &[
            "-q",
            "handoff",
            "verify",
            "handoff.tar.gz",
            "--trust-root",
            "trust-root.json",
            "--html",
            "report.html",
        ],
    ));
    let run = |profile: &str, mode: &[&str]| {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", d.join(profile).display()))
            .args(mode)
            .arg(format!("file://{}", d.join("report.html").display()))
            .output()
            .expect("run chromium")
    };
    let output = run("chromium-dom", &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        dom.contains("id=\"verdict\" class=\"ok\">VERIFIED"),
        "chromium did not render the report:\n{dom}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The verdict comes before everything else on the page.
    let body = &dom[dom.find("<body").unwrap()..];
    let verdict = body.find("id=\"verdict\"").unwrap();
    assert!(body.find("<table").unwrap() > verdict && body.find("<svg").unwrap() > verdict);
    let receipts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("receipts.json")).unwrap()).unwrap();
    let receipts = receipts["receipts"].as_array().unwrap();
    for receipt in receipts {
        assert!(
            dom.contains(receipt["key"].as_str().unwrap()),
            "object {} not shown",
            receipt["key"]
        );
    }
    assert_eq!(dom.matches("class=\"object\"").count(), 4);
    // Both timelines are drawn: one retention bar per object, today marked, the archive, the
    // hold on its case lane (still on: a band to today) and the checkpoint.
    let retention = &dom[dom.find("id=\"retention-timeline\"").unwrap()..];
    let retention = &retention[..retention.find("</svg>").unwrap()];
    assert_eq!(retention.matches("<rect class=\"bar\"").count(), 4);
    assert!(retention.contains("class=\"today\"") && retention.contains("today (verified "));
    let custody = &dom[dom.find("id=\"custody-timeline\"").unwrap()..];
    let custody = &custody[..custody.find("</svg>").unwrap()];
    for part in [
        "class=\"mark archive\"",
        "class=\"mark set\"",
        "class=\"held\"",
        "class=\"mark checkpoint\"",
        "case CASE-77",
        "class=\"today\"",
    ] {
        assert!(
            custody.contains(part),
            "{part} missing from the custody timeline"
        );
    }
    assert!(dom.contains("Every file matches the signed manifest"));
    assert!(dom.contains("locked by wormvault only — the storage does not enforce it"));
    assert!(dom.contains(&format!("wormvault {}", env!("CARGO_PKG_VERSION"))));

    // The page as a person sees it: a screenshot that is not blank, with the verdict's green
    // box and the retention bars' blue actually painted.
    let shot = d.join("report.png");
    let output = run(
        "chromium-shot",
        &[
            "--window-size=1200,1600",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}):\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let (width, height, pixels) = png_pixels(&png);
    assert_eq!((width, height), (1200, 1600));
    let near = |p: &[u8; 3], c: [u8; 3]| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 4);
    let count = |c: [u8; 3]| pixels.iter().filter(|p| near(p, c)).count();
    let white = count([255, 255, 255]);
    assert!(
        white < pixels.len() * 95 / 100,
        "the screenshot is almost blank"
    );
    let colours: std::collections::HashSet<[u8; 3]> =
        pixels.iter().map(|p| p.map(|v| v >> 4)).collect();
    assert!(colours.len() >= 12, "only {} colours", colours.len());
    assert!(count([230, 244, 230]) > 5_000, "no green verdict box");
    assert!(count([47, 111, 179]) > 2_000, "no retention bars");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_to_localstack_locks_every_object_and_catches_a_new_version() {
    let Some((s3, bucket, dir, target)) = s3_case().await else {
        return;
    };
    let run = |args: Vec<String>| wormvault_s3(dir.path(), &s3.endpoint, &[], args);
    evidence(dir.path(), "rel-s3", 2555);
    let args: Vec<String> = [&["--json"][..], &archive_args(&target, "receipts.json")]
        .concat()
        .into_iter()
        .map(String::from)
        .collect();
    let outcome = json(&ok(run(args)));
    let receipts = outcome["upload"]["receipts"]["receipts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(receipts.len(), 4);
    let min_until = chrono::Utc::now() + chrono::Duration::days(2555);
    for receipt in &receipts {
        let key = receipt["key"].as_str().unwrap();
        assert!(key.starts_with("evidence/rel-s3/"));
        let head = s3
            .client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
        let until = head.object_lock_retain_until_date().unwrap().secs();
        assert!(
            until >= min_until.timestamp() - 5,
            "retain-until {until} is less than 2555 days ahead"
        );
        assert_eq!(head.version_id(), receipt["version_id"].as_str());
        let version = receipt["version_id"].as_str().unwrap();
        let deleted = s3
            .client
            .delete_object()
            .bucket(&bucket)
            .key(key)
            .version_id(version)
            .send()
            .await;
        assert!(
            deleted.is_err(),
            "deleting locked version of {key} succeeded"
        );
    }
    // A new version put behind the tool's back is caught.
    let key = receipts[0]["key"].as_str().unwrap();
    s3.client
        .put_object()
        .bucket(&bucket)
        .key(key)
        .body(b"forged".to_vec().into())
        .send()
        .await
        .unwrap();
    let checked = run(vec![
        "--json".into(),
        "check-remote".into(),
        target.clone(),
        "--receipts".into(),
        "receipts.json".into(),
    ]);
    exit(&checked, 1);
    let kinds: Vec<String> = json(&checked)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"changed".to_string()) && kinds.contains(&"extra_version".to_string()),
        "{kinds:?}"
    );
}

/// A file large enough for multipart is verified while its parts upload; a mismatch found that
/// way refuses the archive with the verification findings and stores nothing at all (no object
/// version, no dangling multipart upload). Untampered, the same bundle archives normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_checks_a_multipart_file_during_upload_and_stores_nothing_on_mismatch() {
    let Some((s3, bucket, dir, target)) = s3_case().await else {
        return;
    };
    let small_parts = [
        ("WORMVAULT_S3_MULTIPART_THRESHOLD_MIB", "5"),
        ("WORMVAULT_S3_PART_SIZE_MIB", "5"),
    ];
    let run = |args: Vec<String>| wormvault_s3(dir.path(), &s3.endpoint, &small_parts, args);
    std::fs::create_dir_all(dir.path().join("files")).unwrap();
    let big = patterned(12 * 1024 * 1024);
    std::fs::write(dir.path().join("files/big.bin"), &big).unwrap();
    evidence(dir.path(), "rel-gate", 2555);
    let in_bundle = walkdir::WalkDir::new(dir.path().join("bundle"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name() == "big.bin")
        .expect("big.bin in the bundle")
        .into_path();
    let mut tampered = big.clone();
    tampered[9 * 1024 * 1024] ^= 1;
    std::fs::write(&in_bundle, &tampered).unwrap();

    let refused = run(archive_args(&target, "receipts-1.json")
        .into_iter()
        .map(String::from)
        .collect());
    assert_refused_with_nothing_stored(&refused, &s3.client, &bucket).await;
    assert!(!dir.path().join("receipts-1.json").exists());

    std::fs::write(&in_bundle, &big).unwrap();
    let args: Vec<String> = [&["--json"][..], &archive_args(&target, "receipts-2.json")]
        .concat()
        .into_iter()
        .map(String::from)
        .collect();
    let outcome = json(&ok(run(args)));
    let receipts = outcome["upload"]["receipts"]["receipts"]
        .as_array()
        .unwrap()
        .clone();
    let big_receipt = receipts
        .iter()
        .find(|r| r["key"].as_str().unwrap().ends_with("/big.bin"))
        .expect("a receipt for big.bin");
    let key = big_receipt["key"].as_str().unwrap();
    let head = s3
        .client
        .head_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(head.content_length(), Some(big.len() as i64));
    let sha = hex::encode(sha2::Sha256::digest(&big));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("sha256"))
            .map(String::as_str),
        Some(sha.as_str()),
        "whole-object SHA-256 recorded"
    );
    assert_eq!(big_receipt["version_id"].as_str(), head.version_id());
}

/// wormvault keeps connections to a custom endpoint alive. A rerun of an archived bundle makes
/// LocalStack answer every create-only PUT with 412 before reading its body, after which that
/// connection never answers again; wormvault must close such a connection rather than pool it.
/// If it pooled it, the next request on it would wait out the read timeout (5 s here) before
/// its retry — so the rerun must finish well inside one read timeout, with every object found
/// present and read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_rerun_on_kept_alive_connections_does_not_wait_out_the_read_timeout() {
    let Some((s3, bucket, dir, target)) = s3_case().await else {
        return;
    };
    std::fs::create_dir_all(dir.path().join("files")).unwrap();
    // A body bigger than socket buffers, so the 412 really comes before the body is read.
    let big = patterned(3 * 1024 * 1024);
    std::fs::write(dir.path().join("files/build.bin"), &big).unwrap();
    evidence(dir.path(), "rel-rerun", 2555);
    let short_timeout = [("WORMVAULT_S3_READ_TIMEOUT_SECS", "5")];
    let run = |receipts: &str| {
        let args: Vec<String> = [&["--json"][..], &archive_args(&target, receipts)]
            .concat()
            .into_iter()
            .map(String::from)
            .collect();
        let started = std::time::Instant::now();
        let output = wormvault_s3(dir.path(), &s3.endpoint, &short_timeout, args);
        (json(&ok(output)), started.elapsed())
    };
    let (first, _) = run("receipts-1.json");
    assert_eq!(first["upload"]["uploaded"], 5);
    for round in 2..=3 {
        let (again, took) = run(&format!("receipts-{round}.json"));
        assert_eq!(
            (
                again["upload"]["uploaded"].as_u64(),
                again["upload"]["already_present"].as_u64()
            ),
            (Some(0), Some(5)),
            "{again}"
        );
        assert!(
            took < std::time::Duration::from_secs(5),
            "rerun {round} took {took:?}: a request waited out the 5 s read timeout"
        );
    }
    let versions = s3
        .client
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    // 5 evidence objects plus one receipts object per run; no evidence object written twice.
    let mut keys: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.key())
        .filter(|k| !k.contains("/_wormvault/"))
        .collect();
    keys.sort_unstable();
    let total = keys.len();
    keys.dedup();
    assert_eq!((total, keys.len()), (5, 5), "evidence objects: {keys:?}");
}

/// `upload --plan` takes the same path as `archive` for files big enough for multipart: their
/// parts go out while their content is checked, and nothing is committed unless it matches. A
/// file changed after review (same manifest, so the same bundle digest the plan names) is
/// refused with the finding and the bucket stays empty; the untouched bundle then uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_of_a_reviewed_plan_checks_a_multipart_file_during_upload() {
    let Some((s3, bucket, dir, target)) = s3_case().await else {
        return;
    };
    let small_parts = [
        ("WORMVAULT_S3_MULTIPART_THRESHOLD_MIB", "5"),
        ("WORMVAULT_S3_PART_SIZE_MIB", "5"),
    ];
    let run = |args: &[&str]| {
        wormvault_s3(
            dir.path(),
            &s3.endpoint,
            &small_parts,
            args.iter().map(|a| a.to_string()).collect(),
        )
    };
    std::fs::create_dir_all(dir.path().join("files")).unwrap();
    let big = patterned(11 * 1024 * 1024);
    std::fs::write(dir.path().join("files/big.bin"), &big).unwrap();
    evidence(dir.path(), "rel-plan", 2555);
    ok(run(&[
        "-q",
        "plan",
        "bundle",
        "--trust-root",
        "trust-root.json",
        "--to",
        &target,
        "--output",
        "plan.json",
    ]));
    let in_bundle = dir.path().join("bundle/big.bin");
    assert!(
        in_bundle.exists(),
        "bundle layout changed: {}",
        in_bundle.display()
    );
    let mut tampered = big.clone();
    tampered[7 * 1024 * 1024] ^= 0x20;
    std::fs::write(&in_bundle, &tampered).unwrap();

    let upload = [
        "upload",
        "bundle",
        "--plan",
        "plan.json",
        "--trust-root",
        "trust-root.json",
        "--receipts-out",
    ];
    let refused = run(&[&upload[..], &["r1.json"]].concat());
    assert_refused_with_nothing_stored(&refused, &s3.client, &bucket).await;
    assert!(!dir.path().join("r1.json").exists());

    std::fs::write(&in_bundle, &big).unwrap();
    let done = run(&[&["--json"][..], &upload[..], &["r2.json"]].concat());
    assert!(
        text(&done).contains("matched the manifest before their upload was committed"),
        "{}",
        text(&done)
    );
    // One pass over the large file: the check took the digest of the parts as they were sent.
    assert!(
        text(&done).contains("(1 of them read and hashed once, as sent)"),
        "{}",
        text(&done)
    );
    let outcome = json(&ok(done));
    let receipts = outcome["upload"]["receipts"]["receipts"]
        .as_array()
        .unwrap()
        .clone();
    let key = receipts
        .iter()
        .filter_map(|r| r["key"].as_str())
        .find(|k| k.ends_with("/big.bin"))
        .expect("a receipt for big.bin")
        .to_string();
    let head = s3
        .client
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(big.len() as i64));
    let sha = hex::encode(sha2::Sha256::digest(&big));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("sha256"))
            .map(String::as_str),
        Some(sha.as_str())
    );
}

/// The records manager's commands on an S3 prefix, state read back with direct SDK calls:
/// `hold set` puts a legal hold on every archived object and logs it, `hold release` is refused
/// without confirmation and then releases, and `check-remote` reports what changed behind the
/// receipts — the hold state (as information), and as failures a retention shortened (possible
/// only under GOVERNANCE, with the bypass) and an object nobody receipted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_commands_and_check_remote_on_an_s3_prefix() {
    let Some((s3, bucket, dir, target)) = s3_case().await else {
        return;
    };
    let run = |args: &[&str]| {
        wormvault_s3(
            dir.path(),
            &s3.endpoint,
            &[],
            args.iter().map(|a| a.to_string()).collect(),
        )
    };
    evidence(dir.path(), "rel-hold", 2555);
    let archived = json(&ok(run(&[
        &["--json"][..],
        &archive_args(&target, "r.json"),
        &["--governance"],
    ]
    .concat())));
    let keys: Vec<String> = archived["upload"]["receipts"]["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 4);
    ok(run(&["check-remote", &target, "--receipts", "r.json"]));
    let hold_of = |key: String| {
        let client = s3.client.clone();
        let bucket = bucket.clone();
        async move {
            let answer = client
                .get_object_legal_hold()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await;
            answer
                .ok()
                .and_then(|a| a.legal_hold().and_then(|h| h.status().cloned()))
        }
    };
    let on = Some(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On);
    let prefix = format!("{target}/rel-hold");

    let set = json(&ok(run(&[
        "--json",
        "hold",
        "set",
        &prefix,
        "--case",
        "CASE-7",
        "--reason",
        "litigation",
        "--actor",
        "records-manager",
        "--audit-log",
        "holds.jsonl",
        "--audit-signing-key",
        "keys/evidence-ed25519-private.pem",
        "--checkpoint-key",
        "keys/evidence-ed25519-private.pem",
    ])));
    let held: Vec<&str> = set["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["legal_hold"] == true)
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert_eq!(
        held.len(),
        11,
        "4 evidence objects; in _wormvault/ the receipts, audit checkpoint, audit segment, checkpoint key, plan, trust roots and session record: {set}"
    );
    assert!(keys.iter().all(|k| held.contains(&k.as_str())), "{set}");
    for key in &keys {
        assert_eq!(hold_of(key.clone()).await, on, "{key}");
    }
    let record: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(dir.path().join("holds.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            record["event_type"].as_str(),
            record["metadata"]["case"].as_str()
        ),
        (Some("legal_hold.set"), Some("CASE-7"))
    );
    // The receipts say no hold: check-remote reports the difference for every object, as
    // information (a records manager's hold is not tampering), so it still exits 0.
    let checked = json(&ok(run(&[
        "--json",
        "check-remote",
        &target,
        "--receipts",
        "r.json",
    ])));
    assert_eq!(checked["ok"], true, "{checked}");
    let findings = checked["findings"].as_array().unwrap().clone();
    for key in &keys {
        assert!(
            findings
                .iter()
                .any(|f| f["kind"] == "hold_changed" && f["key"] == key.as_str()),
            "{key}: {findings:?}"
        );
    }

    let registry = [
        "--actor",
        "records-manager",
        "--audit-log",
        "holds.jsonl",
        "--audit-signing-key",
        "keys/evidence-ed25519-private.pem",
        "--checkpoint-key",
        "keys/evidence-ed25519-private.pem",
    ];
    exit(
        &run(&[
            &[
                "hold", "release", &prefix, "--case", "CASE-7", "--reason", "settled",
            ][..],
            &registry,
        ]
        .concat()),
        1,
    );
    assert_eq!(
        hold_of(keys[0].clone()).await,
        on,
        "an unconfirmed release released a hold"
    );
    ok(run(&[
        &[
            "hold",
            "release",
            &prefix,
            "--case",
            "CASE-7",
            "--reason",
            "settled",
            "--confirm-release",
        ][..],
        &registry,
    ]
    .concat()));
    for key in &keys {
        assert_ne!(hold_of(key.clone()).await, on, "{key}");
    }
    ok(run(&["check-remote", &target, "--receipts", "r.json"]));

    // Behind the tool's back: a GOVERNANCE retention shortened with the bypass, and a stray object.
    let until = aws_smithy_types::DateTime::from_secs(chrono::Utc::now().timestamp() + 86_400);
    let retention = aws_sdk_s3::types::ObjectLockRetention::builder()
        .mode(aws_sdk_s3::types::ObjectLockRetentionMode::Governance)
        .retain_until_date(until)
        .build();
    s3.client
        .put_object_retention()
        .bucket(&bucket)
        .key(&keys[0])
        .retention(retention)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    let stray = format!("{}/stray.txt", keys[0].rsplit_once('/').unwrap().0);
    s3.client
        .put_object()
        .bucket(&bucket)
        .key(&stray)
        .body(b"not receipted".to_vec().into())
        .send()
        .await
        .unwrap();
    let checked = run(&["--json", "check-remote", &target, "--receipts", "r.json"]);
    exit(&checked, 1);
    let findings = json(&checked)["findings"].as_array().unwrap().clone();
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "retention_shortened" && f["key"] == keys[0].as_str()),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "extra" && f["key"] == stray.as_str()),
        "{findings:?}"
    );
}
