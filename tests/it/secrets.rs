//! Secret hygiene: a full local flow (keys, HMAC- and Ed25519-signed bundles, an HMAC-signed
//! audit log, checkpoints, plan, upload and archive to a local vault with signed receipts and an
//! audit event) plus failing runs with wrong keys, every output captured — stdout, stderr, the
//! `--json` variants and every file written — and searched for each secret in every encoding it
//! could leak in. And: every command that loads a private key refuses one that group or others
//! can read, with a `chmod 600` hint, before writing anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A random-looking secret unique to this run (so a match can only be a leak).
fn secret(label: &str) -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).unwrap();
    format!("{label}-{}", hex::encode(bytes))
}

struct Captured {
    /// Every stdout/stderr, by a label naming the run.
    streams: Vec<(String, String)>,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Captured {
    fn run(&mut self, dir: &Path, label: &str, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wormvault"));
        command.args(args).current_dir(dir);
        for (name, value) in envs {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        self.streams
            .push((format!("{label} (stdout)"), run.stdout.clone()));
        self.streams
            .push((format!("{label} (stderr)"), run.stderr.clone()));
        run
    }

    /// Run and require an exit code.
    fn expect(
        &mut self,
        dir: &Path,
        label: &str,
        code: i32,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Run {
        let run = self.run(dir, label, args, envs);
        assert_eq!(
            run.code,
            Some(code),
            "{label}: {args:?}\nstdout: {}\nstderr: {}",
            run.stdout,
            run.stderr
        );
        run
    }
}

/// Every encoding of `value` that could end up in output: as is, base64 (padded and not), hex.
fn encodings(name: &str, value: &[u8]) -> Vec<(String, String)> {
    let b64 = BASE64.encode(value);
    let mut out = vec![
        (format!("{name} (base64)"), b64.clone()),
        (
            format!("{name} (base64, unpadded)"),
            b64.trim_end_matches('=').to_string(),
        ),
        (format!("{name} (hex)"), hex::encode(value)),
    ];
    if let Ok(text) = std::str::from_utf8(value) {
        out.push((name.to_string(), text.to_string()));
    }
    out
}

/// The secrets of an Ed25519 PKCS#8 PEM: each base64 body line, the whole body, and the raw
/// 32-byte seed (the last 32 bytes of the 48-byte PKCS#8 v1 document) in every encoding.
fn private_key_secrets(name: &str, pem: &str) -> Vec<(String, String)> {
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    let der = BASE64.decode(body.concat()).unwrap();
    assert_eq!(der.len(), 48, "{name}: expected a PKCS#8 v1 Ed25519 key");
    let seed = &der[16..];
    let mut out: Vec<(String, String)> = body
        .iter()
        .map(|l| (format!("{name} PEM body line"), l.to_string()))
        .collect();
    out.push((format!("{name} PEM body"), body.concat()));
    out.extend(encodings(&format!("{name} raw seed"), seed));
    out
}

fn files_under(root: &Path, skip: &[PathBuf]) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() && !skip.iter().any(|s| s == entry.path()) {
            out.insert(
                entry.path().to_path_buf(),
                std::fs::read(entry.path()).unwrap(),
            );
        }
    }
    out
}

#[test]
fn no_secret_appears_in_any_output_of_a_full_run() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let mut c = Captured {
        streams: Vec::new(),
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();

    // Keys: an Ed25519 pair (text and --json), an HMAC key in a file, an audit key in the env,
    // and wrong keys for the failing runs (also secrets: they must not be echoed either).
    c.expect(
        dir,
        "keys generate",
        0,
        &["keys", "generate", "--output-dir", "keys"],
        &[],
    );
    c.expect(
        dir,
        "keys generate --json",
        0,
        &[
            "--json",
            "keys",
            "generate",
            "--output-dir",
            "keys-json",
            "--key-id",
            "json-key",
        ],
        &[],
    );
    // Every key an archive signs with must be a trust root (issue #14 item 3).
    for (key_dir, key_id, out) in [
        ("keys", "evidence-1", "root-1.json"),
        ("keys-json", "json-key", "root-2.json"),
    ] {
        let pem = format!("{key_dir}/evidence-ed25519-public.pem");
        c.expect(
            dir,
            "keys trust-root",
            0,
            &[
                "keys",
                "trust-root",
                "--public-key",
                &pem,
                "--key-id",
                key_id,
                "--output",
                out,
            ],
            &[],
        );
    }
    c.expect(
        dir,
        "keys trust-bundle",
        0,
        &[
            "keys",
            "trust-bundle",
            "root-1.json",
            "root-2.json",
            "--output",
            "roots.json",
        ],
        &[],
    );
    let private = dir.join("keys/evidence-ed25519-private.pem");
    let public = dir.join("keys/evidence-ed25519-public.pem");
    let private_json = dir.join("keys-json/evidence-ed25519-private.pem");
    let bundle_key = secret("bundle-hmac");
    let audit_key = secret("audit-hmac");
    let wrong_key = secret("wrong-hmac");
    std::fs::write(dir.join("hmac.key"), format!("{bundle_key}\n")).unwrap();
    std::fs::write(dir.join("wrong.key"), &wrong_key).unwrap();
    set_mode(&dir.join("hmac.key"), 0o600);
    set_mode(&dir.join("wrong.key"), 0o600);
    let audit_env = [("WV_AUDIT_KEY", audit_key.as_str())];
    let wrong_env = [("WV_WRONG_KEY", wrong_key.as_str())];

    std::fs::create_dir(dir.join("evidence")).unwrap();
    std::fs::write(
        dir.join("evidence/evidence.json"),
        b"{\"build\": \"1.2.3\", \"tests\": \"passed\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("evidence/pr-attestation.md"),
        b"# PR 42\nApproved by two reviewers.\n",
    )
    .unwrap();

    // Bundles: HMAC from a file, Ed25519 from a key file; text and --json.
    for (label, out, extra) in [
        (
            "bundle create hmac",
            "b-hmac",
            vec!["--hmac-key-file", "hmac.key"],
        ),
        (
            "bundle create ed25519",
            "b-ed",
            vec![
                "--private-key",
                "keys/evidence-ed25519-private.pem",
                "--key-id",
                "evidence-1",
            ],
        ),
    ] {
        let mut args = vec![
            "bundle",
            "create",
            "evidence",
            "--output",
            out,
            "--signer",
            "release-bot",
            "--session-id",
            "rel-1",
        ];
        args.extend(extra.iter().copied());
        c.expect(dir, label, 0, &args, &[]);
        let json_out = format!("{out}-json");
        let mut json_args = vec!["--json".to_string()];
        json_args.extend(args.iter().map(|a| {
            if *a == out {
                json_out.clone()
            } else {
                a.to_string()
            }
        }));
        c.expect(
            dir,
            &format!("{label} --json"),
            0,
            &json_args.iter().map(String::as_str).collect::<Vec<_>>(),
            &[],
        );
    }
    c.expect(
        dir,
        "bundle verify hmac",
        0,
        &["bundle", "verify", "b-hmac", "--hmac-key-file", "hmac.key"],
        &[],
    );
    c.expect(
        dir,
        "bundle verify hmac --json",
        0,
        &[
            "--json",
            "bundle",
            "verify",
            "b-hmac",
            "--hmac-key-file",
            "hmac.key",
        ],
        &[],
    );
    c.expect(
        dir,
        "bundle verify ed25519",
        0,
        &["bundle", "verify", "b-ed", "--public-key", &s(&public)],
        &[],
    );
    c.expect(
        dir,
        "bundle pack",
        0,
        &[
            "--json",
            "bundle",
            "pack",
            "b-ed",
            "--output",
            "b-ed.tar.gz",
        ],
        &[],
    );
    c.expect(
        dir,
        "bundle verify tar --json",
        0,
        &[
            "--json",
            "bundle",
            "verify",
            "b-ed.tar.gz",
            "--public-key",
            &s(&public),
        ],
        &[],
    );

    // Audit log: HMAC key from the environment; checkpoint signed with the Ed25519 key.
    let append = |extra: &[&'static str]| {
        let mut args = vec![
            "audit",
            "append",
            "--log",
            "audit.jsonl",
            "--event-type",
            "release.approved",
            "--actor",
            "alice",
        ];
        args.extend([
            "--action",
            "approve",
            "--target",
            "rel-1",
            "--decision",
            "approved",
            "--key-env",
            "WV_AUDIT_KEY",
        ]);
        args.extend(extra.iter().copied());
        args
    };
    c.expect(dir, "audit append", 0, &append(&[]), &audit_env);
    c.expect(
        dir,
        "audit append --json",
        0,
        &[&["--json"][..], &append(&["--metadata", "{\"ticket\": 7}"])].concat(),
        &audit_env,
    );
    c.expect(
        dir,
        "audit verify",
        0,
        &[
            "audit",
            "verify",
            "--log",
            "audit.jsonl",
            "--key-env",
            "WV_AUDIT_KEY",
        ],
        &audit_env,
    );
    c.expect(
        dir,
        "audit verify --json",
        0,
        &[
            "--json",
            "audit",
            "verify",
            "--log",
            "audit.jsonl",
            "--key-env",
            "WV_AUDIT_KEY",
        ],
        &audit_env,
    );
    c.expect(
        dir,
        "audit checkpoint",
        0,
        &[
            "--json",
            "audit",
            "checkpoint",
            "--log",
            "audit.jsonl",
            "--origin",
            "example.com/audit",
            "--signing-key",
            &s(&private),
            "--output",
            "audit.checkpoint",
            "--key-env",
            "WV_AUDIT_KEY",
        ],
        &audit_env,
    );
    c.expect(
        dir,
        "audit prove",
        0,
        &[
            "audit",
            "prove",
            "--log",
            "audit.jsonl",
            "--seq",
            "1",
            "--output",
            "proof.json",
        ],
        &[],
    );
    c.expect(
        dir,
        "audit export",
        0,
        &[
            "--json",
            "audit",
            "export",
            "--log",
            "audit.jsonl",
            "--format",
            "jsonl",
            "--output",
            "export.jsonl",
            "--key-env",
            "WV_AUDIT_KEY",
        ],
        &audit_env,
    );

    // Plan + upload (HMAC bundle) and archive (Ed25519 bundle) into a local vault, with signed
    // receipts, an HMAC-signed audit event and an anchored checkpoint.
    let vault = format!("file://{}", dir.join("vault").display());
    c.expect(
        dir,
        "plan --json",
        0,
        &[
            "--json",
            "plan",
            "b-hmac",
            "--hmac-key-file",
            "hmac.key",
            "--to",
            &vault,
            "--output",
            "plan.json",
        ],
        &[],
    );
    c.expect(
        dir,
        "upload --json",
        0,
        &[
            "--json",
            "upload",
            "--plan",
            "plan.json",
            "b-hmac",
            "--hmac-key-file",
            "hmac.key",
            "--receipts-out",
            "receipts-upload.json",
            "--trust-root",
            "roots.json",
            "--receipts-key",
            &s(&private),
            "--audit-log",
            "audit.jsonl",
            "--audit-hmac-key-env",
            "WV_AUDIT_KEY",
        ],
        &audit_env,
    );
    let archive = |json: bool, receipts: &'static str| {
        let mut args: Vec<String> = if json { vec!["--json".into()] } else { vec![] };
        args.extend(
            [
                "archive",
                "b-ed",
                "--public-key",
                &s(&public),
                "--to",
                &vault,
                "--receipts-out",
                receipts,
                "--trust-root",
                "roots.json",
                "--receipts-key",
                &s(&private),
            ]
            .iter()
            .map(|a| a.to_string()),
        );
        args.extend(
            [
                "--audit-log",
                "audit.jsonl",
                "--audit-hmac-key-env",
                "WV_AUDIT_KEY",
                "--checkpoint-key",
                &s(&private_json),
            ]
            .iter()
            .map(|a| a.to_string()),
        );
        args
    };
    let text_args = archive(false, "receipts-archive.json");
    c.expect(
        dir,
        "archive",
        0,
        &text_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &audit_env,
    );
    let json_args = archive(true, "receipts-archive-2.json");
    c.expect(
        dir,
        "archive --json (resume)",
        0,
        &json_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &audit_env,
    );
    c.expect(
        dir,
        "check-remote",
        0,
        &[
            "--json",
            "check-remote",
            "--receipts",
            "receipts-archive.json",
            "--rehash",
            &vault,
        ],
        &[],
    );

    // Failing runs with wrong or broken keys: the error paths must not echo secrets either.
    c.expect(
        dir,
        "bundle verify wrong key",
        1,
        &["bundle", "verify", "b-hmac", "--hmac-key-file", "wrong.key"],
        &[],
    );
    c.expect(
        dir,
        "bundle verify wrong key --json",
        1,
        &[
            "--json",
            "bundle",
            "verify",
            "b-hmac",
            "--hmac-key-env",
            "WV_WRONG_KEY",
        ],
        &wrong_env,
    );
    c.expect(
        dir,
        "bundle verify ed with hmac key",
        1,
        &["bundle", "verify", "b-ed", "--hmac-key-file", "hmac.key"],
        &[],
    );
    c.expect(
        dir,
        "audit verify wrong key",
        1,
        &[
            "audit",
            "verify",
            "--log",
            "audit.jsonl",
            "--key-env",
            "WV_WRONG_KEY",
        ],
        &wrong_env,
    );
    c.expect(
        dir,
        "audit verify wrong key --json",
        1,
        &[
            "--json",
            "audit",
            "verify",
            "--log",
            "audit.jsonl",
            "--key-file",
            "wrong.key",
        ],
        &[],
    );
    c.expect(
        dir,
        "upload with the wrong bundle key",
        1,
        &[
            "--json",
            "upload",
            "--plan",
            "plan.json",
            "b-hmac",
            "--hmac-key-file",
            "wrong.key",
            "--receipts-out",
            "never.json",
        ],
        &[],
    );
    // The legacy inline --key (warned about) must not be echoed back.
    c.run(
        dir,
        "audit verify --key (legacy)",
        &[
            "audit",
            "verify",
            "--log",
            "audit.jsonl",
            "--key",
            &wrong_key,
        ],
        &[],
    );
    // A corrupt private key (mode 0600): the parse error must not quote the PEM.
    let pem = std::fs::read_to_string(&private).unwrap();
    let broken: String = pem
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 1 {
                format!("{}!!\n", &l[..l.len() - 2])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.join("broken.pem"), &broken).unwrap();
    set_mode(&dir.join("broken.pem"), 0o600);
    let run = c.run(
        dir,
        "bundle create with a corrupt key",
        &[
            "bundle",
            "create",
            "evidence",
            "--output",
            "b-broken",
            "--private-key",
            "broken.pem",
        ],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let run = c.run(
        dir,
        "archive with a corrupt receipts key",
        &[
            "--json",
            "archive",
            "b-ed",
            "--public-key",
            &s(&public),
            "--to",
            &vault,
            "--receipts-key",
            "broken.pem",
        ],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    // A private key given where an HMAC key file is expected: used as bytes, never printed.
    c.expect(
        dir,
        "bundle verify with a PEM as HMAC key",
        1,
        &[
            "bundle",
            "verify",
            "b-hmac",
            "--hmac-key-file",
            &s(&private),
        ],
        &[],
    );

    // Everything a secret could hide in.
    let mut secrets: Vec<(String, String)> = Vec::new();
    for (name, value) in [
        ("bundle HMAC key", &bundle_key),
        ("audit HMAC key", &audit_key),
        ("wrong HMAC key", &wrong_key),
    ] {
        secrets.extend(encodings(name, value.as_bytes()));
    }
    secrets.extend(private_key_secrets("private key", &pem));
    secrets.extend(private_key_secrets(
        "json private key",
        &std::fs::read_to_string(&private_json).unwrap(),
    ));
    // The unchanged PEM lines of the corrupt key are the real key's lines: covered above.

    let skip = vec![
        private.clone(),
        private_json.clone(),
        dir.join("hmac.key"),
        dir.join("wrong.key"),
        dir.join("broken.pem"),
    ];
    let files = files_under(dir, &skip);
    // The flow really produced what it claims to: receipts, plan, log, checkpoint, vault objects.
    for expected in [
        "plan.json",
        "receipts-upload.json",
        "receipts-archive.json",
        "audit.jsonl",
        "audit.checkpoint",
        "proof.json",
        "export.jsonl",
    ] {
        assert!(
            files.contains_key(&dir.join(expected)),
            "{expected} was not written"
        );
    }
    let vault_files = files
        .keys()
        .filter(|p| p.starts_with(dir.join("vault")))
        .count();
    assert!(
        vault_files >= 8,
        "expected both sessions in the vault, found {vault_files} files"
    );
    assert!(
        c.streams.len() >= 60,
        "{} streams captured",
        c.streams.len()
    );

    let mut leaks = Vec::new();
    for (secret_name, value) in &secrets {
        assert!(
            value.len() >= 16,
            "{secret_name} is too short to search for reliably"
        );
        for (label, text) in &c.streams {
            if text.contains(value.as_str()) {
                leaks.push(format!("{secret_name} in {label}"));
            }
        }
        for (path, bytes) in &files {
            if bytes.windows(value.len()).any(|w| w == value.as_bytes()) {
                leaks.push(format!("{secret_name} in file {}", path.display()));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

/// Every command that loads a private key refuses a group- or world-readable one, names the
/// file, hints `chmod 600`, exits 2 and writes nothing.
#[test]
fn private_keys_readable_by_group_or_others_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let mut c = Captured {
        streams: Vec::new(),
    };
    c.expect(
        dir,
        "keys generate",
        0,
        &["keys", "generate", "--output-dir", "keys"],
        &[],
    );
    let good = dir.join("keys/evidence-ed25519-private.pem");
    let public = dir.join("keys/evidence-ed25519-public.pem");
    std::fs::write(dir.join("audit.key"), "audit-key-value-123456").unwrap();
    set_mode(&dir.join("audit.key"), 0o600);
    std::fs::create_dir(dir.join("evidence")).unwrap();
    std::fs::write(dir.join("evidence/evidence.json"), b"{}\n").unwrap();
    c.expect(
        dir,
        "bundle create",
        0,
        &[
            "bundle",
            "create",
            "evidence",
            "--output",
            "bundle",
            "--private-key",
            good.to_str().unwrap(),
        ],
        &[],
    );
    c.expect(
        dir,
        "audit append",
        0,
        &[
            "audit",
            "append",
            "--log",
            "audit.jsonl",
            "--event-type",
            "e",
            "--actor",
            "a",
            "--action",
            "b",
            "--target",
            "t",
            "--decision",
            "d",
            "--key-file",
            "audit.key",
        ],
        &[],
    );
    let log_before = std::fs::read(dir.join("audit.jsonl")).unwrap();
    let vault = format!("file://{}", dir.join("vault").display());
    c.expect(
        dir,
        "plan",
        0,
        &[
            "-q",
            "plan",
            "bundle",
            "--public-key",
            public.to_str().unwrap(),
            "--to",
            &vault,
            "--output",
            "plan.json",
        ],
        &[],
    );

    for mode in [0o640, 0o604, 0o644, 0o660] {
        let loose = dir.join(format!("loose-{mode:o}.pem"));
        std::fs::copy(&good, &loose).unwrap();
        set_mode(&loose, mode);
        let key = loose.to_str().unwrap();
        let pk = public.to_str().unwrap();
        let commands: Vec<(&str, Vec<&str>)> = vec![
            (
                "bundle create --private-key",
                vec![
                    "bundle",
                    "create",
                    "evidence",
                    "--output",
                    "never-bundle",
                    "--private-key",
                    key,
                ],
            ),
            (
                "audit append --private-key",
                vec![
                    "audit",
                    "append",
                    "--log",
                    "audit.jsonl",
                    "--event-type",
                    "e",
                    "--actor",
                    "a",
                    "--action",
                    "b",
                    "--target",
                    "t",
                    "--decision",
                    "d",
                    "--private-key",
                    key,
                ],
            ),
            (
                "audit checkpoint --signing-key",
                vec![
                    "audit",
                    "checkpoint",
                    "--log",
                    "audit.jsonl",
                    "--origin",
                    "o",
                    "--signing-key",
                    key,
                    "--output",
                    "never.checkpoint",
                ],
            ),
            (
                "archive --receipts-key",
                vec![
                    "archive",
                    "bundle",
                    "--public-key",
                    pk,
                    "--to",
                    &vault,
                    "--receipts-out",
                    "never.json",
                    "--receipts-key",
                    key,
                ],
            ),
            (
                "archive --audit-signing-key",
                vec![
                    "archive",
                    "bundle",
                    "--public-key",
                    pk,
                    "--to",
                    &vault,
                    "--receipts-out",
                    "never.json",
                    "--audit-log",
                    "audit.jsonl",
                    "--audit-signing-key",
                    key,
                ],
            ),
            (
                "archive --checkpoint-key",
                vec![
                    "archive",
                    "bundle",
                    "--public-key",
                    pk,
                    "--to",
                    &vault,
                    "--receipts-out",
                    "never.json",
                    "--audit-log",
                    "audit.jsonl",
                    "--audit-hmac-key-file",
                    "audit.key",
                    "--checkpoint-key",
                    key,
                ],
            ),
            (
                "upload --receipts-key",
                vec![
                    "upload",
                    "--plan",
                    "plan.json",
                    "bundle",
                    "--public-key",
                    pk,
                    "--receipts-out",
                    "never.json",
                    "--receipts-key",
                    key,
                ],
            ),
        ];
        for (label, args) in commands {
            for json in [false, true] {
                let mut argv = if json { vec!["--json"] } else { vec![] };
                argv.extend(args.iter().copied());
                let run = c.run(dir, label, &argv, &[]);
                let both = format!("{}{}", run.stdout, run.stderr);
                assert_eq!(
                    run.code,
                    Some(2),
                    "{label} (mode {mode:o}, json {json}) should exit 2:\n{both}"
                );
                assert!(
                    both.contains(key),
                    "{label}: the message should name {key}:\n{both}"
                );
                assert!(
                    both.contains("chmod 600"),
                    "{label}: the message should hint chmod 600:\n{both}"
                );
                assert!(!both.contains("panicked"), "{label}: panicked:\n{both}");
            }
        }
        for never in ["never-bundle", "never.checkpoint", "never.json", "vault"] {
            assert!(
                !dir.join(never).exists(),
                "{never} was written although the key was refused (mode {mode:o})"
            );
        }
        assert_eq!(
            std::fs::read(dir.join("audit.jsonl")).unwrap(),
            log_before,
            "the audit log changed (mode {mode:o})"
        );
    }
}
