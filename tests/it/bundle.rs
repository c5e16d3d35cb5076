//! CLI tests for `wormvault keys` and `wormvault bundle`, run against the real binary: the CAVRA
//! fixtures verify, created bundles verify (and an independent Python implementation agrees on
//! canonical bytes, fingerprints and signatures), packing is deterministic, and the tamper
//! matrix — every bad input gives its exact finding kinds and exit code, never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use wormvault::test_support::raw_tar_gz;

const BIN: &str = env!("CARGO_BIN_EXE_wormvault");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cavra");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Finding kinds of a `bundle verify --json` report, in order.
    fn kinds(&self) -> Vec<String> {
        self.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_string())
            .collect()
    }
}

fn wormvault(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let output = Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run wormvault");
    let run = Run {
        code: output
            .status
            .code()
            .expect("exited normally, not by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "wormvault panicked on {args:?}: {}",
        run.stderr
    );
    run
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn fixture(path: &str) -> PathBuf {
    Path::new(FIXTURES).join(path)
}

/// A working directory with the fixture private key copied in with mode 0600 (git does not
/// keep modes) and an evidence directory to bundle.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("private.pem");
        std::fs::write(
            &key,
            std::fs::read(fixture("keys/evidence-ed25519-private.pem")).unwrap(),
        )
        .unwrap();
        set_mode(&key, 0o600);
        let evidence = dir.path().join("evidence");
        std::fs::create_dir(&evidence).unwrap();
        std::fs::write(
            evidence.join("evidence.json"),
            "{\n  \"note\": \"r\\u00e8gle \\u2603\",\n  \"session_id\": \"s-1\"\n}\n",
        )
        .unwrap();
        std::fs::write(
            evidence.join("pr-attestation.md"),
            "# Attestation\n\nReviewed and approved.\n",
        )
        .unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Create an Ed25519 bundle signed by the fixture key under `key_id`.
    fn create(&self, name: &str, extra: &[&str]) -> PathBuf {
        let output = self.path(name);
        let mut args = vec![
            "bundle",
            "create",
            s(&self.dir.path().join("evidence")).to_string().leak() as &str,
        ];
        let output_str: &str = s(&output).to_string().leak();
        let key: &str = s(&self.path("private.pem")).to_string().leak();
        args.extend([
            "--output",
            output_str,
            "--signer",
            "platform-security",
            "--session-id",
            "s-1",
        ]);
        if !extra
            .iter()
            .any(|a| *a == "--unsigned" || a.starts_with("--key") || *a == "--hmac-key-file")
        {
            args.extend(["--private-key", key]);
            if !extra.contains(&"--key-id") {
                args.extend(["--key-id", "prod-evidence"]);
            }
        }
        args.extend(extra);
        let run = wormvault(&args, &[]);
        assert_eq!(run.code, 0, "create failed: {}", run.stderr);
        output
    }

    /// A trust-root file for the fixture public key with the given status and window.
    fn root(&self, name: &str, status: &str, from: &str, until: Option<&str>) -> PathBuf {
        let output = self.path(name);
        let public = fixture("keys/evidence-ed25519-public.pem");
        let mut args = vec![
            "keys",
            "trust-root",
            "--public-key",
            s(&public),
            "--key-id",
            "prod-evidence",
            "--status",
            status,
            "--valid-from",
            from,
            "--output",
            s(&output),
        ];
        if let Some(until) = until {
            args.extend(["--valid-until", until]);
        }
        let run = wormvault(&args, &[]);
        assert_eq!(run.code, 0, "trust-root failed: {}", run.stderr);
        output
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn trust_args() -> Vec<String> {
    vec![
        "--trust-root".into(),
        s(&fixture("keys/evidence-trust-roots.json")).into(),
        "--key-id".into(),
        "prod-evidence".into(),
        "--minimum-retention-days".into(),
        "2555".into(),
    ]
}

fn verify(bundle: &Path, args: &[String]) -> Run {
    let mut all: Vec<&str> = vec!["--json", "bundle", "verify", s(bundle)];
    all.extend(args.iter().map(String::as_str));
    wormvault(&all, &[])
}

#[test]
fn cavra_fixtures_verify() {
    let run = verify(&fixture("bundle-ed25519"), &trust_args());
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    assert_eq!(report["valid"], true);
    assert_eq!(report["signature"]["algorithm"], "Ed25519");
    assert_eq!(report["signature"]["key_id"], "prod-evidence");
    assert_eq!(report["signature"]["verified"], true);
    assert_eq!(report["signature"]["root_status"], "active");
    assert_eq!(
        report["signature"]["fingerprint"],
        "06876be07c0b9b7826625aceb1f81f1bd705a0a278cc66729d0acebee5cc6567"
    );
    assert_eq!(report["retention_policy"]["retention_days"], 2555);
    assert_eq!(report["files"].as_array().unwrap().len(), 3);

    // The same with the public key instead of the trust root.
    let public = fixture("keys/evidence-ed25519-public.pem");
    assert_eq!(
        verify(
            &fixture("bundle-ed25519"),
            &["--public-key".into(), s(&public).into()]
        )
        .code,
        0
    );

    // HMAC: from a file (trailing newline ignored), from the environment, and the legacy flag.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("hmac.key");
    std::fs::write(&key_file, "bundle-secret\n").unwrap();
    let hmac = fixture("bundle-hmac");
    let run = verify(&hmac, &["--key-file".into(), s(&key_file).into()]);
    assert_eq!(
        (run.code, run.json()["valid"].as_bool()),
        (0, Some(true)),
        "{}",
        run.stdout
    );
    let run = wormvault(
        &["bundle", "verify", s(&hmac), "--key-env", "WV_TEST_HMAC"],
        &[("WV_TEST_HMAC", "bundle-secret")],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = wormvault(
        &["bundle", "verify", s(&hmac), "--key", "bundle-secret"],
        &[],
    );
    assert_eq!(run.code, 0);
    assert!(
        run.stderr
            .contains("warning: --key puts the HMAC key in the process list"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stdout.contains("bundle-secret"),
        "the secret must not be echoed"
    );
    // No key material for a signed bundle is a failure, not a pass (CAVRA's gap).
    let run = verify(&hmac, &[]);
    assert_eq!(
        (run.code, run.kinds()),
        (1, vec!["key_material_missing".to_string()])
    );
    let run = verify(&fixture("bundle-ed25519"), &[]);
    assert_eq!(
        (run.code, run.kinds()),
        (1, vec!["key_material_missing".to_string()])
    );
}

#[test]
fn keys_generate_writes_cavra_pem_with_private_mode() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let run = wormvault(
        &["--json", "keys", "generate", "--output-dir", s(&keys)],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = run.json();
    let private = keys.join("evidence-ed25519-private.pem");
    let public = keys.join("evidence-ed25519-public.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let public_pem = std::fs::read_to_string(&public).unwrap();
    let fingerprint = wormvault::hashing::sha256_hex(public_pem.as_bytes());
    assert_eq!(result["public_key_sha256"], fingerprint.as_str());
    assert_eq!(result["key_id"], &fingerprint[..16]);
    assert!(!run.stdout.contains("PRIVATE KEY"));
    // Never overwritten.
    let again = wormvault(&["keys", "generate", "--output-dir", s(&keys)], &[]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    // A private key others can read is refused with a hint.
    set_mode(&private, 0o644);
    let evidence = dir.path().join("e.txt");
    std::fs::write(&evidence, "x").unwrap();
    let out = dir.path().join("b");
    let run = wormvault(
        &[
            "bundle",
            "create",
            s(&evidence),
            "--output",
            s(&out),
            "--private-key",
            s(&private),
        ],
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);

    // Trust bundle: sorted, duplicates rejected.
    let root_a = dir.path().join("a.json");
    let run = wormvault(
        &[
            "keys",
            "trust-root",
            "--public-key",
            s(&public),
            "--key-id",
            "zz-key",
            "--output",
            s(&root_a),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let combined = dir.path().join("roots.json");
    let fixture_roots = fixture("keys/evidence-trust-roots.json");
    let run = wormvault(
        &[
            "--json",
            "keys",
            "trust-bundle",
            s(&root_a),
            s(&fixture_roots),
            "--output",
            s(&combined),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ids: Vec<String> = run.json()["trust_roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key_id"].as_str().unwrap().into())
        .collect();
    assert_eq!(ids, ["prod-evidence", "zz-key"]);
    let dup = wormvault(
        &[
            "keys",
            "trust-bundle",
            s(&fixture_roots),
            s(&fixture_roots),
            "--output",
            s(&dir.path().join("dup.json")),
        ],
        &[],
    );
    assert_eq!(dup.code, 2);
    assert!(
        dup.stderr
            .contains("\"prod-evidence\" appears more than once"),
        "{}",
        dup.stderr
    );
}

#[test]
fn created_bundle_verifies_and_packs_deterministically() {
    let ws = Workspace::new();
    let bundle = ws.create("bundle", &[]);
    let run = verify(&bundle, &trust_args());
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    // Same fingerprint as CAVRA's fixture for the same key.
    assert_eq!(
        report["signature"]["fingerprint"],
        "06876be07c0b9b7826625aceb1f81f1bd705a0a278cc66729d0acebee5cc6567"
    );
    let paths: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "evidence.json",
            "pr-attestation.md",
            "retention-policy.json"
        ]
    );
    let digest = report["digest"].as_str().unwrap().to_string();

    let first = ws.path("first.tar.gz");
    let second = ws.path("second.tar.gz");
    for out in [&first, &second] {
        let run = wormvault(&["bundle", "pack", s(&bundle), "--output", s(out)], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap(),
        "two packs differ"
    );
    let run = verify(&first, &trust_args());
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["digest"].as_str(), Some(digest.as_str()));
    // Refuses to overwrite.
    assert_eq!(
        wormvault(&["bundle", "pack", s(&bundle), "--output", s(&first)], &[]).code,
        2
    );
}

/// Python (`json.dumps` + the `cryptography` package) checks what wormvault writes: the same
/// canonical bytes, fingerprints, PEM encodings, Ed25519 and HMAC signatures. Skipped only when
/// python3 or `cryptography` is not installed.
#[test]
fn python_cross_check() {
    let probe = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("SKIP python_cross_check: python3 with `cryptography` is not available");
        return;
    }
    let ws = Workspace::new();
    let ed = ws.create("ed", &[]);
    let key_file = ws.path("hmac.key");
    std::fs::write(&key_file, "bundle-secret").unwrap();
    let hmac = ws.create("hmac", &["--key-file", s(&key_file).to_string().leak()]);
    let keys = ws.path("keys");
    assert_eq!(
        wormvault(&["keys", "generate", "--output-dir", s(&keys)], &[]).code,
        0
    );
    let script = r#"
import base64, hashlib, hmac, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

def check_ed25519(bundle, public_pem_path):
    manifest = json.load(open(bundle + "/manifest.json"))
    signature = manifest.pop("signature")
    message = json.dumps(manifest, sort_keys=True).encode()
    pem = open(public_pem_path, "rb").read()
    assert signature["public_key_sha256"] == hashlib.sha256(pem).hexdigest(), "fingerprint"
    key = serialization.load_pem_public_key(pem)
    key.verify(base64.b64decode(signature["value"]), message)
    for entry in manifest["files"]:
        data = open(bundle + "/" + entry["path"], "rb").read()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data), entry
    # The file on disk is exactly json.dumps(indent=2, sort_keys=True) + newline.
    manifest["signature"] = signature
    assert open(bundle + "/manifest.json").read() == json.dumps(manifest, indent=2, sort_keys=True) + "\n", "layout"

fixtures, ed, hmac_bundle, keys = sys.argv[1:5]
check_ed25519(fixtures + "/bundle-ed25519", fixtures + "/keys/evidence-ed25519-public.pem")
check_ed25519(ed, fixtures + "/keys/evidence-ed25519-public.pem")

manifest = json.load(open(hmac_bundle + "/manifest.json"))
signature = manifest.pop("signature")
expected = base64.b64encode(hmac.new(b"bundle-secret", json.dumps(manifest, sort_keys=True).encode(), hashlib.sha256).digest()).decode()
assert signature == {"algorithm": "HS256", "value": expected}, signature

private_pem = open(keys + "/evidence-ed25519-private.pem", "rb").read()
private = serialization.load_pem_private_key(private_pem, password=None)
assert private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()) == private_pem, "private PEM"
public_pem = open(keys + "/evidence-ed25519-public.pem", "rb").read()
assert private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) == public_pem, "public PEM"
print("python agrees")
"#;
    let output = Command::new("python3")
        .args(["-c", script, FIXTURES, s(&ed), s(&hmac), s(&keys)])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python disagrees: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "python agrees"
    );
}

/// The bundle's files as tar entries, plus `extra`.
fn bundle_tar(bundle: &Path, out: &Path, extra: Vec<(&str, tar::EntryType, Vec<u8>, &str)>) {
    let mut entries = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(bundle)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let names: Vec<&'static str> = names.into_iter().map(|n| &*n.leak()).collect();
    for name in names {
        entries.push((
            name,
            tar::EntryType::Regular,
            std::fs::read(bundle.join(name)).unwrap(),
            "",
        ));
    }
    entries.extend(extra);
    let entries: Vec<_> = entries
        .iter()
        .map(|(name, kind, data, link)| (*name, *kind, data.as_slice(), *link))
        .collect();
    std::fs::write(out, raw_tar_gz(&entries)).unwrap();
}

fn edit_manifest(bundle: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let path = bundle.join("manifest.json");
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(value.as_object_mut().unwrap());
    std::fs::write(&path, wormvault::bundle::json::python_indented(&value)).unwrap();
}

/// Re-sign the manifest with `key`, naming `key_id` and `fingerprint` in the signature.
fn resign(bundle: &Path, key: &wormvault::trust::KeyPair, key_id: &str, fingerprint: &str) {
    edit_manifest(bundle, |manifest| {
        manifest.remove("signature");
        let message = wormvault::canonical::spaced(&Value::Object(manifest.clone()));
        manifest.insert(
            "signature".into(),
            serde_json::json!({"algorithm": "Ed25519", "key_id": key_id, "public_key_sha256": fingerprint, "value": key.sign_b64(message.as_bytes())}),
        );
    });
}

#[test]
fn tamper_matrix() {
    use tar::EntryType::{Regular, Symlink};
    let ws = Workspace::new();
    let good = ws.create("good", &[]);
    assert_eq!(verify(&good, &trust_args()).code, 0);
    let prod_fingerprint = "06876be07c0b9b7826625aceb1f81f1bd705a0a278cc66729d0acebee5cc6567";
    let roots = |name: &str, status: &str, from: &str, until: Option<&str>| -> Vec<String> {
        let path = ws.root(name, status, from, until);
        vec![
            "--trust-root".into(),
            s(&path).into(),
            "--key-id".into(),
            "prod-evidence".into(),
        ]
    };
    let hmac_file = ws.path("hmac.key");
    std::fs::write(&hmac_file, "right-key").unwrap();

    // (name, prepare → bundle path to verify, verify args, expected kinds, expected exit code)
    type Prepare<'a> = Box<dyn Fn(&Path) -> PathBuf + 'a>;
    type Case<'a> = (
        &'static str,
        Prepare<'a>,
        Vec<String>,
        Vec<&'static str>,
        i32,
    );
    let copy = |name: &str| -> PathBuf {
        let dir = ws.path(name);
        std::fs::create_dir(&dir).unwrap();
        for entry in std::fs::read_dir(&good).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        dir
    };
    let cases: Vec<Case> = vec![
        (
            "changed byte",
            Box::new(|d| {
                let path = d.join("evidence.json");
                let mut bytes = std::fs::read(&path).unwrap();
                bytes[5] ^= 0x20;
                std::fs::write(&path, bytes).unwrap();
                d.to_path_buf()
            }),
            trust_args(),
            vec!["file_hash_mismatch"],
            1,
        ),
        (
            "truncated file",
            Box::new(|d| {
                let path = d.join("pr-attestation.md");
                let bytes = std::fs::read(&path).unwrap();
                std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
                d.to_path_buf()
            }),
            trust_args(),
            vec!["file_size_mismatch", "file_hash_mismatch"],
            1,
        ),
        (
            "extra file",
            Box::new(|d| {
                std::fs::write(d.join("smuggled.sh"), "echo hi\n").unwrap();
                d.to_path_buf()
            }),
            trust_args(),
            vec!["file_unlisted"],
            1,
        ),
        (
            "missing file",
            Box::new(|d| {
                std::fs::remove_file(d.join("evidence.json")).unwrap();
                d.to_path_buf()
            }),
            trust_args(),
            vec!["file_missing"],
            1,
        ),
        (
            "listed file replaced by a symlink",
            Box::new(|d| {
                std::fs::remove_file(d.join("evidence.json")).unwrap();
                std::os::unix::fs::symlink("/etc/hostname", d.join("evidence.json")).unwrap();
                d.to_path_buf()
            }),
            trust_args(),
            vec!["file_not_regular"],
            1,
        ),
        (
            "manifest edited",
            Box::new(|d| {
                edit_manifest(d, |m| {
                    m.insert("signer".into(), "someone-else".into());
                });
                d.to_path_buf()
            }),
            trust_args(),
            vec!["signature_invalid"],
            1,
        ),
        (
            "manifest hash edited to match a changed file",
            Box::new(|d| {
                std::fs::write(d.join("pr-attestation.md"), "forged\n").unwrap();
                edit_manifest(d, |m| {
                    let entry = &mut m["files"][1];
                    entry["sha256"] = wormvault::hashing::sha256_hex(b"forged\n").into();
                    entry["bytes"] = 7.into();
                });
                d.to_path_buf()
            }),
            trust_args(),
            vec!["signature_invalid"],
            1,
        ),
        (
            "signature from another key claiming the trusted fingerprint",
            Box::new(|d| {
                resign(
                    d,
                    &wormvault::trust::KeyPair::generate().unwrap(),
                    "prod-evidence",
                    prod_fingerprint,
                );
                d.to_path_buf()
            }),
            trust_args(),
            vec!["signature_invalid"],
            1,
        ),
        (
            "signature from another key with its own fingerprint",
            Box::new(|d| {
                let other = wormvault::trust::KeyPair::generate().unwrap();
                resign(d, &other, "prod-evidence", &other.public().fingerprint());
                d.to_path_buf()
            }),
            trust_args(),
            vec!["fingerprint_mismatch"],
            1,
        ),
        (
            "wrong --key-id",
            Box::new(|d| d.to_path_buf()),
            {
                let mut args = trust_args();
                args[3] = "other-key".into();
                args
            },
            vec!["key_id_mismatch"],
            1,
        ),
        (
            "key id unknown to the trust roots",
            Box::new(|d| {
                let key = wormvault::trust::KeyPair::from_pkcs8_pem(
                    &std::fs::read_to_string(fixture("keys/evidence-ed25519-private.pem")).unwrap(),
                    "k",
                )
                .unwrap();
                resign(d, &key, "ghost-key", prod_fingerprint);
                d.to_path_buf()
            }),
            vec![
                "--trust-root".into(),
                s(&fixture("keys/evidence-trust-roots.json")).into(),
            ],
            vec!["unknown_key_id"],
            1,
        ),
        (
            "revoked root",
            Box::new(|d| d.to_path_buf()),
            roots("revoked.json", "revoked", "2020-01-01T00:00:00+00:00", None),
            vec!["root_revoked"],
            1,
        ),
        (
            "retired root used after its window",
            Box::new(|d| d.to_path_buf()),
            roots(
                "retired-old.json",
                "retired",
                "2020-01-01T00:00:00+00:00",
                Some("2021-01-01T00:00:00+00:00"),
            ),
            vec!["root_retired_outside_window"],
            1,
        ),
        (
            "expired active root",
            Box::new(|d| d.to_path_buf()),
            roots(
                "expired.json",
                "active",
                "2020-01-01T00:00:00+00:00",
                Some("2021-01-01T00:00:00+00:00"),
            ),
            vec!["root_expired"],
            1,
        ),
        (
            "root not yet valid",
            Box::new(|d| d.to_path_buf()),
            roots("future.json", "active", "2099-01-01T00:00:00+00:00", None),
            vec!["root_not_yet_valid"],
            1,
        ),
        (
            "retention 2554",
            Box::new(|_| ws.create("short-retention", &["--retention-days", "2554"])),
            trust_args(),
            vec!["retention_below_minimum"],
            1,
        ),
        (
            "retention policy missing",
            Box::new(|d| {
                std::fs::remove_file(d.join("retention-policy.json")).unwrap();
                d.to_path_buf()
            }),
            trust_args(),
            vec!["file_missing", "retention_policy_missing"],
            1,
        ),
        (
            "malformed JSON manifest",
            Box::new(|d| {
                std::fs::write(d.join("manifest.json"), "{\"files\": [").unwrap();
                d.to_path_buf()
            }),
            trust_args(),
            vec!["manifest_malformed_json"],
            1,
        ),
        (
            "non-object JSON manifest",
            Box::new(|d| {
                std::fs::write(d.join("manifest.json"), "[1, 2, 3]\n").unwrap();
                d.to_path_buf()
            }),
            trust_args(),
            vec!["manifest_not_object"],
            1,
        ),
        (
            "manifest missing",
            Box::new(|d| {
                std::fs::remove_file(d.join("manifest.json")).unwrap();
                d.to_path_buf()
            }),
            trust_args(),
            vec!["manifest_missing"],
            1,
        ),
        (
            "manifest lists a path outside the bundle",
            Box::new(|d| {
                edit_manifest(d, |m| {
                    m["files"][0]["path"] = "../evidence.json".into();
                });
                d.to_path_buf()
            }),
            trust_args(),
            vec!["unsafe_path", "file_unlisted", "signature_invalid"],
            1,
        ),
        (
            "unsigned without --allow-unsigned",
            Box::new(|_| ws.create("unsigned", &["--unsigned"])),
            vec![],
            vec!["unsigned_not_allowed"],
            1,
        ),
        (
            "HMAC bundle with the wrong key",
            Box::new(|_| {
                let key: &str = s(&hmac_file).to_string().leak();
                ws.create("hmac", &["--hmac-key-file", key])
            }),
            vec!["--key-env".into(), "WV_WRONG_KEY".into()],
            vec!["signature_invalid"],
            1,
        ),
        (
            "tar entry with an absolute path",
            Box::new(|d| {
                let out = d.with_extension("tar.gz");
                bundle_tar(
                    d,
                    &out,
                    vec![("/tmp/wormvault-escape-test", Regular, b"x".to_vec(), "")],
                );
                out
            }),
            trust_args(),
            vec!["archive_unsafe_path"],
            1,
        ),
        (
            "tar entry with ..",
            Box::new(|d| {
                let out = d.with_extension("tar.gz");
                bundle_tar(d, &out, vec![("../escape.txt", Regular, b"x".to_vec(), "")]);
                out
            }),
            trust_args(),
            vec!["archive_unsafe_path"],
            1,
        ),
        (
            "tar symlink entry",
            Box::new(|d| {
                let out = d.with_extension("tar.gz");
                bundle_tar(
                    d,
                    &out,
                    vec![("passwd", Symlink, Vec::new(), "/etc/passwd")],
                );
                out
            }),
            trust_args(),
            vec!["archive_link"],
            1,
        ),
        (
            "tar duplicate name",
            Box::new(|d| {
                let out = d.with_extension("tar.gz");
                bundle_tar(
                    d,
                    &out,
                    vec![(
                        "evidence.json",
                        Regular,
                        b"{\"swapped\": true}\n".to_vec(),
                        "",
                    )],
                );
                out
            }),
            trust_args(),
            vec!["archive_duplicate_entry"],
            1,
        ),
        (
            "not a gzip tar at all",
            Box::new(|d| {
                let out = d.with_extension("tar.gz");
                let mut bytes = vec![0x1f, 0x8b];
                bytes.extend_from_slice(b"garbage that is not deflate");
                std::fs::write(&out, bytes).unwrap();
                out
            }),
            trust_args(),
            vec![
                "archive_corrupt",
                "manifest_missing",
                "retention_policy_missing",
            ],
            1,
        ),
    ];
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for (index, (name, prepare, args, expected, code)) in cases.into_iter().enumerate() {
        let dir = copy(&format!("case-{index}"));
        let target = prepare(&dir);
        let run = if name.starts_with("HMAC") {
            let mut all = vec!["--json", "bundle", "verify", s(&target)];
            all.extend(args.iter().map(String::as_str));
            wormvault(&all, &[("WV_WRONG_KEY", "wrong-key")])
        } else {
            verify(&target, &args)
        };
        let kinds = run.kinds();
        if run.code != code || kinds != expected {
            failures.push(format!(
                "{name}: expected {expected:?} exit {code}, got {kinds:?} exit {}\n{}",
                run.code, run.stdout
            ));
        }
        assert_eq!(run.json()["valid"], false, "{name}");
    }
    assert!(!Path::new("/tmp/wormvault-escape-test").exists());
    assert!(!ws.path("escape.txt").exists());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn retired_root_inside_its_window_still_verifies() {
    let ws = Workspace::new();
    let bundle = ws.create("bundle", &[]);
    let root = ws.root(
        "retired.json",
        "retired",
        "2020-01-01T00:00:00+00:00",
        Some("2099-01-01T00:00:00+00:00"),
    );
    let run = verify(&bundle, &["--trust-root".into(), s(&root).into()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["signature"]["root_status"], "retired");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let run = wormvault(&["bundle", "verify", "/nonexistent/bundle"], &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("/nonexistent/bundle does not exist"),
        "{}",
        run.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    let bad_root = dir.path().join("roots.json");
    std::fs::write(&bad_root, "{\"schema_version\": \"nope\"}").unwrap();
    let run = wormvault(
        &[
            "bundle",
            "verify",
            s(&fixture("bundle-ed25519")),
            "--trust-root",
            s(&bad_root),
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = wormvault(
        &[
            "bundle",
            "verify",
            s(&fixture("bundle-hmac")),
            "--key-env",
            "WV_SURELY_UNSET_VAR",
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let evidence = dir.path().join("e.txt");
    std::fs::write(&evidence, "x").unwrap();
    let run = wormvault(
        &[
            "bundle",
            "create",
            s(&evidence),
            "--output",
            s(&dir.path().join("b")),
        ],
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no signing key"), "{}", run.stderr);
    // An output that already holds files is never overwritten.
    let run = wormvault(
        &[
            "bundle",
            "create",
            s(&evidence),
            "--output",
            s(&fixture("bundle-hmac")),
            "--unsigned",
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// `keys generate` under `umask 000` still writes the directory 0700, the private key 0600 and
/// the public key 0644 (modes set explicitly); with `--key-id` it also writes the matching
/// trust root, which a bundle signed right after verifies against (issue #14 item 3).
#[test]
fn keys_generate_sets_modes_under_any_umask_and_records_the_key_id() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec {BIN} --json keys generate --output-dir {} --key-id release-2026",
            s(&keys)
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&keys), 0o700);
    assert_eq!(mode(&keys.join("evidence-ed25519-private.pem")), 0o600);
    assert_eq!(mode(&keys.join("evidence-ed25519-public.pem")), 0o644);
    let root = keys.join("release-2026-trust-root.json");
    assert_eq!(result["trust_root"], s(&root));
    assert_eq!(mode(&root), 0o644);
    let root_json: Value = serde_json::from_str(&std::fs::read_to_string(&root).unwrap()).unwrap();
    assert_eq!(root_json["key_id"], "release-2026");
    assert_eq!(root_json["status"], "active");
    assert_eq!(root_json["public_key_sha256"], result["public_key_sha256"]);

    // The recorded id works end to end: sign with it, verify pinned to the written root.
    let evidence = dir.path().join("e.txt");
    std::fs::write(&evidence, "x").unwrap();
    let bundle = dir.path().join("bundle");
    let private = keys.join("evidence-ed25519-private.pem");
    let run = wormvault(
        &[
            "bundle",
            "create",
            s(&evidence),
            "--output",
            s(&bundle),
            "--private-key",
            s(&private),
            "--key-id",
            "release-2026",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = wormvault(
        &[
            "--json",
            "bundle",
            "verify",
            s(&bundle),
            "--trust-root",
            s(&root),
            "--key-id",
            "release-2026",
        ],
        &[],
    );
    assert_eq!((run.code, run.kinds()), (0, vec![]), "{}", run.stdout);

    // A key id that cannot be a file name is a usage error, and nothing is written.
    let other = dir.path().join("other");
    let run = wormvault(
        &[
            "keys",
            "generate",
            "--output-dir",
            s(&other),
            "--key-id",
            "../x",
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!other.exists());
}

/// Algorithm confusion (issue #15 item 7): an HS256 bundle never passes a verify that pinned an
/// Ed25519 root by `--key-id`, even given the right HMAC key; `--allow-unsigned` with
/// `--key-id` is a usage error.
#[test]
fn hmac_bundle_does_not_satisfy_a_pinned_key_id() {
    let key = tempfile::tempdir().unwrap();
    let key_file = key.path().join("k");
    std::fs::write(&key_file, "bundle-secret").unwrap();
    set_mode(&key_file, 0o600);
    let mut args: Vec<String> = trust_args();
    args.extend(["--hmac-key-file".into(), s(&key_file).into()]);
    let run = verify(&fixture("bundle-hmac"), &args);
    assert_eq!(
        (run.code, run.kinds()),
        (1, vec!["algorithm_mismatch".to_string()]),
        "{}",
        run.stdout
    );
    let mut args: Vec<String> = trust_args();
    args.push("--allow-unsigned".into());
    let run = verify(&fixture("bundle-ed25519"), &args);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--allow-unsigned") && run.stderr.contains("--key-id"));
}

/// Review D4: an unsigned manifest accepted with --allow-unsigned says so in text, not only
/// as `signature: null` in JSON; a signed one does not.
#[test]
fn bundle_verify_text_says_plainly_when_unsigned() {
    let ws = Workspace::new();
    let unsigned = ws.create("unsigned", &["--unsigned"]);
    let run = wormvault(&["bundle", "verify", s(&unsigned), "--allow-unsigned"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("VALID "), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "signature NONE: the manifest is UNSIGNED (accepted only because of --allow-unsigned)"
        ),
        "{}",
        run.stdout
    );
    let run = wormvault(&["bundle", "verify", s(&unsigned)], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("signature NONE: the manifest is UNSIGNED\n"),
        "{}",
        run.stdout
    );
    let signed = ws.create("signed", &[]);
    let mut args = vec!["bundle".to_string(), "verify".into(), s(&signed).into()];
    args.extend(trust_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = wormvault(&args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("VALID "), "{}", run.stdout);
    assert!(!run.stdout.contains("UNSIGNED"), "{}", run.stdout);
}

/// Review A1 and the case-collision finding through the CLI: a signed bundle whose archive
/// smuggles a hidden `evidence.json` in a directory entry's data, or adds a case-variant name,
/// exits 1 with the exact finding.
#[test]
fn bundle_verify_refuses_archives_other_extractors_read_differently() {
    use tar::EntryType::{Directory, Regular};
    let ws = Workspace::new();
    let good = ws.create("good", &[]);
    let mut hidden = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_path("evidence.json").unwrap();
    header.set_size(8);
    header.set_mode(0o644);
    header.set_cksum();
    hidden.append(&header, &b"{\"x\":1}\n"[..]).unwrap();
    let hidden = hidden.into_inner().unwrap();
    let control = ws.path("control.tar.gz");
    bundle_tar(&good, &control, vec![]);
    let run = verify(&control, &trust_args());
    assert_eq!((run.code, run.kinds()), (0, vec![]), "{}", run.stderr);
    for (name, extra, kind) in [
        (
            "dir-data.tar.gz",
            vec![("zz-pad/", Directory, hidden.clone(), "")],
            "archive_ambiguous_entry",
        ),
        (
            "case.tar.gz",
            vec![("EVIDENCE.json", Regular, b"{}".to_vec(), "")],
            "archive_name_collision",
        ),
    ] {
        let archive = ws.path(name);
        bundle_tar(&good, &archive, extra);
        let run = verify(&archive, &trust_args());
        assert_eq!(
            (run.code, run.kinds()),
            (1, vec![kind.to_string()]),
            "{name}: {}",
            run.stderr
        );
    }
}

/// Review C1/D1 through the CLI: a FIFO manifest.json exits 1 at once (never hangs), and a
/// manifest listing `./evidence.json` is refused as `plan` refuses it.
#[test]
fn bundle_verify_never_waits_on_a_fifo_and_agrees_with_plan_on_paths() {
    let ws = Workspace::new();
    let bundle = ws.create("fifo", &[]);
    std::fs::remove_file(bundle.join("manifest.json")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(bundle.join("manifest.json"))
            .status()
            .unwrap()
            .success()
    );
    let mut child = Command::new(BIN)
        .args(["bundle", "verify", s(&bundle), "--json"])
        .args(trust_args())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("bundle verify blocked on a FIFO manifest.json");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["findings"][0]["kind"], "file_not_regular");
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);

    let bundle = ws.create("dotslash", &[]);
    edit_manifest(&bundle, |manifest| {
        let files = manifest["files"].as_array_mut().unwrap();
        let entry = files
            .iter_mut()
            .find(|f| f["path"] == "evidence.json")
            .unwrap();
        entry["path"] = "./evidence.json".into();
    });
    let key = wormvault::trust::KeyPair::from_pkcs8_pem(
        &std::fs::read_to_string(fixture("keys/evidence-ed25519-private.pem")).unwrap(),
        "fixture",
    )
    .unwrap();
    let fingerprint = key.public().fingerprint();
    resign(&bundle, &key, "prod-evidence", &fingerprint);
    let run = verify(&bundle, &trust_args());
    assert_eq!(
        (run.code, run.kinds()),
        (
            1,
            vec!["unsafe_path".to_string(), "file_unlisted".to_string()]
        ),
        "{}",
        run.stderr
    );
}

/// Review 32 cli-F4: a signing key left in the input directory is never packed (it would be
/// signed into the evidence and locked in WORM storage for years): exit 2, no bundle written.
#[test]
fn bundle_create_never_packs_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ev = d.join("ev");
    let inner_key = d.join("ev/hmac.key");
    let outer_key = d.join("hmac.key");
    let run = wormvault(&["-q", "keys", "generate", "--output-dir", s(&ev)], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::write(d.join("ev/evidence.json"), "{}\n").unwrap();
    let private = d.join("ev/evidence-ed25519-private.pem");
    let out = d.join("bundle");
    // The Ed25519 key signing it, sitting among the inputs.
    let run = wormvault(
        &[
            "bundle",
            "create",
            s(&ev),
            "--output",
            s(&out),
            "--private-key",
            s(&private),
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("evidence-ed25519-private.pem holds a PEM private key"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
    // Any PEM private key (here an OpenSSH one), whatever signs the bundle.
    std::fs::remove_file(&private).unwrap();
    std::fs::write(
        d.join("ev/id_ed25519"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    let run = wormvault(
        &[
            "bundle",
            "create",
            s(&ev),
            "--output",
            s(&out),
            "--unsigned",
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("id_ed25519 holds a PEM private key"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(d.join("ev/id_ed25519")).unwrap();
    // The HMAC key this bundle is signed with.
    std::fs::write(d.join("ev/hmac.key"), "bundle-secret\n").unwrap();
    let key_args = ["--hmac-key-file", s(&inner_key)];
    let mut args = vec!["bundle", "create", s(&ev), "--output", s(&out)];
    args.extend(key_args);
    let run = wormvault(&args, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hmac.key holds the HMAC key this bundle is signed with"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
    // A public key is evidence like any other file.
    std::fs::remove_file(d.join("ev/hmac.key")).unwrap();
    std::fs::write(d.join("hmac.key"), "bundle-secret\n").unwrap();
    let mut args = vec!["bundle", "create", s(&ev), "--output", s(&out)];
    args.extend(["--hmac-key-file", s(&outer_key)]);
    let run = wormvault(&args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(out.join("evidence-ed25519-public.pem").exists());
}

/// Review 32 cli-F10: over a reading limit (`--max-entries`, `--max-entry-bytes`) the archive
/// was not read whole — not a verdict on the evidence (the files not read are not "missing"),
/// but a check that did not run: exit 2, saying which limit and what to do.
#[test]
fn an_archive_over_a_reading_limit_is_not_verified_rather_than_called_invalid() {
    let ws = Workspace::new();
    let good = ws.create("good", &[]);
    let packed = ws.path("good.tar.gz");
    let run = wormvault(&["bundle", "pack", s(&good), "--output", s(&packed)], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(verify(&packed, &trust_args()).code, 0);
    for (limit, value, says) in [
        ("--max-entries", "2", "more than 2 entries"),
        ("--max-entry-bytes", "16", "over the 16-byte limit"),
    ] {
        let mut args = vec!["bundle", "verify", s(&packed)];
        let trust = trust_args();
        args.extend(trust.iter().map(String::as_str));
        args.extend([limit, value]);
        let run = wormvault(&args, &[]);
        assert_eq!(run.code, 2, "{limit}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("was NOT verified"), "{}", run.stderr);
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert!(
            run.stderr
                .contains("raise --max-entries / --max-entry-bytes"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("missing"), "{}", run.stderr);
        assert!(!run.stdout.contains("VALID"), "{}", run.stdout);
    }
}
