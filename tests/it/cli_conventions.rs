//! CLI conventions users know from aws, rclone, restic and cosign: shell completions and man
//! pages generated from the parser itself (so they list every subcommand and flag).

use std::process::Command;

fn wormvault(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .args(args)
        .output()
        .expect("run wormvault")
}

#[test]
fn completions_for_every_shell_name_the_subcommands_and_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = wormvault(&["completions", shell]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("utf-8 completions");
        for word in ["archive", "handoff", "hold", "trust-root"] {
            assert!(text.contains(word), "{shell} completions lack {word}");
        }
    }
    let bad = wormvault(&["completions", "tcsh"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_page_renders_on_stdout_and_one_page_per_command_into_a_directory() {
    let out = wormvault(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).expect("utf-8 man page");
    assert!(
        page.starts_with(".ie") || page.contains(".TH wormvault"),
        "roff header: {page:.200}"
    );
    assert!(
        page.contains("archive"),
        "the top page lists the subcommands"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = wormvault(&["man", "--output-dir", dir.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "wormvault.1",
        "wormvault-archive.1",
        "wormvault-handoff.1",
        "wormvault-hold.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is a roff page");
    }
}

/// Every option and argument a user can see in `--help` says what it is for.
#[test]
fn every_visible_option_has_a_line_of_help() {
    use clap::CommandFactory;
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if arg.is_hide_set() {
                continue;
            }
            let described = arg
                .get_help()
                .or(arg.get_long_help())
                .is_some_and(|help| !help.to_string().trim().is_empty());
            if !described {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut command = wormvault::cli::Cli::command();
    command.build();
    let mut missing = Vec::new();
    walk(&command, "wormvault", &mut missing);
    assert!(missing.is_empty(), "options without help: {missing:#?}");
}

/// The audit log's key has one spelling outside `audit` (`--audit-key-file`, `--audit-key-env`,
/// `--audit-key-id`, `--audit-signing-key`, `--audit-trust-root`, `--audit-public-key`): archive,
/// hold, drill and status accept it and resolve it to the same key; the spellings earlier
/// releases used still resolve to that key but are hidden from `--help`.
#[test]
fn audit_key_flags_have_one_spelling_and_old_spellings_are_hidden_aliases() {
    use clap::{CommandFactory, Parser};
    use std::os::unix::fs::PermissionsExt;
    use wormvault::audit::{SignatureCheck, Signer};
    use wormvault::cli::{Cli, Command, Output, drill, hold};

    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("audit.key");
    std::fs::write(&key_file, "audit-secret-material\n").unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key_path = key_file.to_str().unwrap();
    let target = format!("file://{}", dir.path().join("vault").display());
    let output = Output {
        json: false,
        quiet: true,
        progress: wormvault::cli::output::Progress::Never,
    };
    let expected = b"audit-secret-material".to_vec();

    // The HMAC key each command resolves from `flag KEY_FILE` (+ `--audit-key-id ops-1`).
    let resolve = |command: &str, flag: &str| -> (Vec<u8>, String) {
        let mut argv: Vec<String> = match command {
            "archive" => vec![
                "archive",
                "bundle",
                "--to",
                &target,
                "--audit-log",
                "log.jsonl",
            ],
            "hold" => vec![
                "hold",
                "set",
                &target,
                "--case",
                "C-1",
                "--reason",
                "r",
                "--actor",
                "a",
                "--audit-log",
                "log.jsonl",
            ],
            "drill" => vec![
                "drill",
                "tamper",
                "--log",
                "log.jsonl",
                "--bundle",
                "b",
                "--output",
                "o.json",
            ],
            "status" => vec!["status", "--target", &target, "--audit-log", "log.jsonl"],
            other => panic!("{other}"),
        }
        .into_iter()
        .map(String::from)
        .collect();
        argv.insert(0, "wormvault".into());
        argv.extend([flag, key_path, "--audit-key-id", "ops-1"].map(String::from));
        let cli = Cli::try_parse_from(&argv)
            .unwrap_or_else(|e| panic!("{command} {flag} does not parse: {e}"));
        let signer = |signer: Signer| match signer {
            Signer::Hmac { key, key_id } => (key, key_id),
            other => panic!("{command} {flag}: {other:?}"),
        };
        let check = |check: SignatureCheck| match check {
            SignatureCheck::Hmac { key, key_id } => (key, key_id),
            _ => panic!("{command} {flag}: not an HMAC check"),
        };
        match cli.command {
            Command::Archive(args) => signer(args.execute.audit_keys.signer(None, None).unwrap()),
            Command::Hold(hold::Args {
                command: hold::Command::Set(args),
            }) => {
                let keys = &args.registry.keys;
                let signed = signer(keys.signer(None, &output).unwrap());
                assert_eq!(
                    check(keys.signature_check(|| None, &output).unwrap()),
                    signed,
                    "hold verifies the log under the key it signs with"
                );
                signed
            }
            Command::Drill(drill::Args {
                command: drill::DrillCommand::Tamper(args),
            }) => check(args.audit_keys.signature_check().unwrap()),
            Command::Status(args) => check(args.audit_keys.signature_check().unwrap()),
            other => panic!("{other:?}"),
        }
    };

    let cases: &[(&str, &[&str])] = &[
        ("archive", &["--audit-hmac-key-file"]),
        (
            "hold",
            &["--hmac-key-file", "--key-file", "--audit-hmac-key-file"],
        ),
        ("drill", &["--audit-hmac-key-file"]),
        ("status", &["--audit-hmac-key-file"]),
    ];
    for (command, old) in cases {
        for flag in std::iter::once(&"--audit-key-file").chain(old.iter()) {
            assert_eq!(
                resolve(command, flag),
                (expected.clone(), "ops-1".to_string()),
                "{command} {flag}"
            );
        }
    }

    // The environment-variable spellings parse too (the variable is read only when used).
    for argv in [
        vec![
            "archive",
            "b",
            "--to",
            &target,
            "--audit-log",
            "l",
            "--audit-key-env",
            "V",
        ],
        vec![
            "archive",
            "b",
            "--to",
            &target,
            "--audit-log",
            "l",
            "--audit-hmac-key-env",
            "V",
        ],
        vec!["hold", "status", &target, "--audit-key-env", "V"],
        vec!["hold", "status", &target, "--hmac-key-env", "V"],
        vec!["hold", "status", &target, "--key-env", "V"],
        vec![
            "drill",
            "tamper",
            "--log",
            "l",
            "--bundle",
            "b",
            "--output",
            "o",
            "--audit-key-env",
            "V",
        ],
        vec![
            "status",
            "--target",
            &target,
            "--audit-log",
            "l",
            "--audit-key-env",
            "V",
        ],
    ] {
        let argv: Vec<&str> = std::iter::once("wormvault").chain(argv).collect();
        if let Err(error) = Cli::try_parse_from(&argv) {
            panic!("{argv:?}: {error}");
        }
    }

    // --help shows the one spelling and none of the old ones.
    let mut cli = Cli::command();
    for (path, shown) in [
        (
            &["archive"][..],
            &[
                "--audit-key-file",
                "--audit-key-env",
                "--audit-key-id",
                "--audit-signing-key",
            ][..],
        ),
        (
            &["hold", "set"][..],
            &[
                "--audit-key-file",
                "--audit-key-env",
                "--audit-key-id",
                "--audit-signing-key",
                "--audit-trust-root",
                "--audit-public-key",
            ][..],
        ),
        (
            &["drill", "tamper"][..],
            &[
                "--audit-key-file",
                "--audit-key-env",
                "--audit-key-id",
                "--audit-trust-root",
                "--audit-public-key",
            ][..],
        ),
        (
            &["status"][..],
            &[
                "--audit-key-file",
                "--audit-key-env",
                "--audit-key-id",
                "--audit-trust-root",
                "--audit-public-key",
            ][..],
        ),
    ] {
        let mut command = &mut cli;
        for name in path {
            command = command.find_subcommand_mut(name).unwrap();
        }
        let help = command.render_long_help().to_string();
        for flag in shown {
            assert!(help.contains(flag), "{path:?} --help lacks {flag}");
        }
        for old in ["--audit-hmac-key-file", "--audit-hmac-key-env"] {
            assert!(!help.contains(old), "{path:?} --help shows {old}");
        }
        if path[0] == "hold" {
            for old in [
                "--hmac-key-file",
                "--hmac-key-env",
                "--key-file",
                "--key-env",
            ] {
                assert!(!help.contains(old), "{path:?} --help shows {old}");
            }
        }
    }
}

/// One audit-log key per command line: an HMAC key together with an Ed25519 signing key or pin
/// is a usage error (exit 2) in every spelling, not a log signed one way and checked another.
#[test]
fn an_hmac_and_an_ed25519_audit_key_together_are_a_usage_error() {
    for argv in [
        &[
            "hold",
            "status",
            "file:///tmp/v",
            "--audit-signing-key",
            "k.pem",
            "--audit-key-file",
            "h",
        ][..],
        &[
            "hold",
            "status",
            "file:///tmp/v",
            "--audit-signing-key",
            "k.pem",
            "--hmac-key-file",
            "h",
        ],
        &[
            "hold",
            "status",
            "file:///tmp/v",
            "--audit-public-key",
            "k.pem",
            "--key-env",
            "V",
        ],
        &[
            "hold",
            "status",
            "file:///tmp/v",
            "--audit-trust-root",
            "r.json",
            "--audit-key-env",
            "V",
        ],
        &[
            "archive",
            "b",
            "--to",
            "file:///tmp/v",
            "--audit-log",
            "l",
            "--audit-signing-key",
            "k.pem",
            "--audit-hmac-key-file",
            "h",
        ],
        &[
            "status",
            "--target",
            "file:///tmp/v",
            "--audit-log",
            "l",
            "--audit-public-key",
            "k.pem",
            "--audit-key-file",
            "h",
        ],
    ] {
        let out = wormvault(argv);
        assert_eq!(out.status.code(), Some(2), "{argv:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot be used with"), "{argv:?}: {stderr}");
    }
}

#[test]
fn verbosity_and_quiet_are_exclusive_and_logs_carry_no_colour_off_a_terminal() {
    let both = wormvault(&["-q", "-v", "demo"]);
    assert_eq!(both.status.code(), Some(2), "-q with -v is a usage error");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .current_dir(dir.path())
        .args(["-vv", "target", "check", "file:///nonexistent-vault-dir"])
        .output()
        .unwrap();
    assert!(out.status.code().is_some());
    assert!(
        !out.stderr.contains(&0x1b),
        "escape codes in piped stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `archive --help` groups its options and shows examples, and every example is a command line
/// the parser accepts (the same check the README gets, `readme::`).
#[test]
fn archive_help_has_headings_and_examples_that_parse() {
    use clap::CommandFactory;
    let out = wormvault(&["archive", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for heading in [
        "Plan (where, how long, held):",
        "Verification (the bundle and its keys):",
        "Preflight (what the target must be):",
        "Upload and receipts:",
        "Audit log and anchor:",
        "Examples:",
    ] {
        assert!(help.contains(heading), "archive --help lacks {heading}");
    }
    let examples = &help[help.find("Examples:").unwrap()..];
    let indented: String = examples
        .lines()
        .map(|l| format!("    {}\n", l.trim_start()))
        .collect();
    let found = crate::readme::commands(&indented);
    assert!(found.len() >= 4, "{examples}");
    let root = wormvault::cli::Cli::command();
    for (_, command, _) in found {
        let words: Vec<&str> = command.split_whitespace().skip(1).collect();
        let targets = crate::readme::resolve(&root, &words).unwrap();
        let mut known = crate::readme::accepted(targets[0]);
        known.extend(crate::readme::accepted(&root));
        for flag in crate::readme::flags(&command) {
            assert!(
                known.contains(&flag),
                "--{flag} in an archive example: {command}"
            );
        }
    }
}

/// `WORMVAULT_*` environment fallbacks for the flags a pipeline sets once (as `AWS_*`,
/// `RCLONE_*` and `RESTIC_*` do), and `--progress auto|always|never`.
#[test]
fn environment_fallbacks_and_progress_modes() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cavra");
    let bundle = format!("{fixtures}/bundle-ed25519");
    let roots = format!("{fixtures}/keys/evidence-trust-roots.json");
    let verify = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wormvault"));
        command
            .env_remove("WORMVAULT_TRUST_ROOT")
            .env_remove("WORMVAULT_PROGRESS")
            .args(["bundle", "verify", &bundle])
            .args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    // Without a trust root the signed fixture does not verify; with it from the environment it does.
    assert_eq!(verify(&[], &[]).status.code(), Some(1));
    let from_env = verify(&[("WORMVAULT_TRUST_ROOT", &roots)], &[]);
    assert_eq!(
        from_env.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&from_env.stderr)
    );
    // The flag wins over the environment.
    let flag_wins = verify(
        &[("WORMVAULT_TRUST_ROOT", "/nonexistent/roots.json")],
        &["--trust-root", &roots],
    );
    assert_eq!(flag_wins.status.code(), Some(0));
    for mode in ["auto", "always", "never"] {
        let out = verify(&[], &["--trust-root", &roots, "--progress", mode]);
        assert_eq!(out.status.code(), Some(0), "--progress {mode}");
    }
    let bad = verify(
        &[("WORMVAULT_PROGRESS", "sometimes")],
        &["--trust-root", &roots],
    );
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown progress mode is a usage error"
    );
}

// ---------------------------------------------------------------------------------------------
// `--profile`, `--region`, `--endpoint-url` as the aws CLI spells them (issue #18 item 3).
// ---------------------------------------------------------------------------------------------

/// The real binary with every AWS variable of the test environment removed, so only what a test
/// sets (files, flags, variables) can reach LocalStack.
fn wormvault_clean_aws(config_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wormvault"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(&name);
        }
    }
    command
        .env("HOME", config_dir)
        .env("AWS_CONFIG_FILE", config_dir.join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            config_dir.join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// AWS config and credentials files with one profile, `wv-lstack`, holding LocalStack's test
/// keys and the given extra config lines (region, endpoint_url).
fn aws_profile_files(config_lines: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config"),
        format!("[profile wv-lstack]\n{config_lines}"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("credentials"),
        format!(
            "[wv-lstack]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            crate::support::S3_ACCESS_KEY,
            crate::support::S3_SECRET_KEY
        ),
    )
    .unwrap();
    dir
}

fn target_check_json(mut command: Command, target: &str) -> (i32, serde_json::Value, String) {
    let out = command
        .args(["--json", "target", "check", target])
        .output()
        .expect("run wormvault");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), value, stderr)
}

/// The bucket name of a check report's failing checks (empty: every check passed).
fn failing(report: &serde_json::Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .filter(|c| c["status"] == "fail")
                .map(|c| c["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_region_and_endpoint_flags_reach_localstack_through_the_binary() {
    let Some(s3) = crate::support::require_s3() else {
        return;
    };
    let bucket = crate::support::s3::bucket_with(&s3.client, crate::support::s3::FULL).await;
    let target = format!("s3://{bucket}/evidence");

    // 1. Everything from the profile (region, endpoint_url, keys), chosen with --profile.
    let files = aws_profile_files(&format!(
        "region = us-east-1\nendpoint_url = {}\n",
        s3.endpoint
    ));
    let mut command = wormvault_clean_aws(files.path());
    command.args(["--profile", "wv-lstack"]);
    let (code, report, stderr) = target_check_json(command, &target);
    assert_eq!(code, 0, "--profile: {report:#} {stderr}");
    assert!(failing(&report).is_empty(), "--profile: {report:#}");
    assert_eq!(stderr.trim(), "", "no SDK warnings on a clean run");

    // 2. The flag wins over AWS_PROFILE naming a profile that does not exist.
    let mut command = wormvault_clean_aws(files.path());
    command
        .env("AWS_PROFILE", "no-such-profile")
        .args(["--profile", "wv-lstack"]);
    let (code, report, stderr) = target_check_json(command, &target);
    assert_eq!(code, 0, "--profile over AWS_PROFILE: {report:#} {stderr}");

    // 3. AWS_PROFILE alone keeps working (the aws CLI's fallback).
    let mut command = wormvault_clean_aws(files.path());
    command.env("AWS_PROFILE", "wv-lstack");
    let (code, report, stderr) = target_check_json(command, &target);
    assert_eq!(code, 0, "AWS_PROFILE: {report:#} {stderr}");

    // 4. A profile with keys only: no region and no endpoint → a usage error naming --region;
    //    then --region and --endpoint-url supply them, and --endpoint-url wins over an
    //    AWS_ENDPOINT_URL that points nowhere.
    let bare = aws_profile_files("");
    let mut command = wormvault_clean_aws(bare.path());
    command.args(["--profile", "wv-lstack", "--endpoint-url", &s3.endpoint]);
    let (code, _, stderr) = target_check_json(command, &target);
    assert_eq!(code, 2, "no region is a config error: {stderr}");
    assert!(
        stderr.contains("--region"),
        "the error names the flag: {stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line, no SDK dumps: {stderr}"
    );

    let mut command = wormvault_clean_aws(bare.path());
    command.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").args([
        "--profile",
        "wv-lstack",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &s3.endpoint,
    ]);
    let (code, report, stderr) = target_check_json(command, &target);
    assert_eq!(code, 0, "--region/--endpoint-url: {report:#} {stderr}");
    assert!(failing(&report).is_empty(), "{report:#}");
}

/// A local address that is not loopback (where a listener can wait), if this machine has one.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    // Connecting a UDP socket sends nothing; it only picks the outgoing interface.
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn plain_http_endpoint_off_loopback_is_refused_before_any_request() {
    let ip = non_loopback_ip();
    let listener = ip.map(|ip| {
        let listener = std::net::TcpListener::bind((ip, 0)).expect("bind a listener");
        listener.set_nonblocking(true).unwrap();
        listener
    });
    let endpoint = match &listener {
        Some(listener) => format!("http://{}", listener.local_addr().unwrap()),
        // No non-loopback interface: the refusal is still checked, against a name.
        None => "http://s3.example.test:4566".to_string(),
    };
    let files = aws_profile_files(&format!("region = us-east-1\nendpoint_url = {endpoint}\n"));
    let ways: [(&str, &dyn Fn(&mut Command)); 3] = [
        ("--endpoint-url", &|c: &mut Command| {
            c.args(["--profile", "wv-lstack", "--endpoint-url", &endpoint]);
        }),
        ("AWS_ENDPOINT_URL", &|c: &mut Command| {
            c.env("AWS_ENDPOINT_URL", &endpoint)
                .args(["--profile", "wv-lstack"]);
        }),
        ("profile endpoint_url", &|c: &mut Command| {
            c.args(["--profile", "wv-lstack"]);
        }),
    ];
    for (how, set) in ways {
        let mut command = wormvault_clean_aws(files.path());
        set(&mut command);
        let mut child = command
            .args(["--json", "target", "check", "s3://wv-plain-http/evidence"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run wormvault");
        // Wait for the binary to finish, failing at once if the listener is contacted (a client
        // that did connect would otherwise wait for an answer that never comes).
        loop {
            if child.try_wait().expect("wait for wormvault").is_some() {
                break;
            }
            if let Some(listener) = &listener {
                match listener.accept() {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Ok((_, from)) => {
                        let _ = child.kill();
                        panic!("{how}: the refused endpoint got a connection from {from}");
                    }
                    Err(e) => panic!("{how}: accept failed: {e}"),
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("collect wormvault output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{how}: plain HTTP off loopback is a config error: {stderr}"
        );
        assert!(
            stderr.contains("refusing to send AWS credentials over plain HTTP"),
            "{how}: {stderr}"
        );
        let line: serde_json::Value = serde_json::from_str(stderr.trim())
            .unwrap_or_else(|e| panic!("{how}: stderr is one JSON line ({e}): {stderr}"));
        assert_eq!(line["kind"], "error", "{how}: {line}");
        if let Some(listener) = &listener {
            match listener.accept() {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Ok((_, from)) => panic!("{how}: the refused endpoint got a connection from {from}"),
                Err(e) => panic!("{how}: accept failed: {e}"),
            }
        }
    }
}

/// `--progress always` draws on a non-terminal stderr (CI logs), with the total and an ETA, on
/// the commands that read a lot: bundle create, bundle verify, check-remote --rehash, drill
/// recovery; `never` and `--json` draw nothing. (No durations are asserted.)
#[test]
fn long_commands_show_total_and_eta() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_wormvault"))
            .args(args)
            .current_dir(d)
            .env_remove("WORMVAULT_PROGRESS")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    std::fs::create_dir(d.join("ev")).unwrap();
    // 8 MiB: many 128 KiB reads, so the bar is drawn more than once.
    let data: Vec<u8> = (0..8u32 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(d.join("ev/blob.bin"), &data).unwrap();
    let quiet = |args: &[&str]| {
        let (code, err) = run(&[&["-q"][..], args].concat());
        assert_eq!(code, 0, "{args:?}: {err}");
    };
    quiet(&["keys", "generate", "--output-dir", "keys", "--key-id", "k1"]);
    quiet(&[
        "keys",
        "trust-root",
        "--public-key",
        "keys/evidence-ed25519-public.pem",
        "--key-id",
        "k1",
        "--output",
        "root.json",
    ]);
    let (code, err) = run(&[
        "--progress",
        "always",
        "bundle",
        "create",
        "ev",
        "--output",
        "b",
        "--private-key",
        "keys/evidence-ed25519-private.pem",
        "--key-id",
        "k1",
        "--signer",
        "s",
        "--session-id",
        "s1",
    ]);
    assert_eq!(code, 0, "{err}");
    let shows_total = |what: &str, err: &str, label: &str| {
        assert!(
            err.contains(&format!("{label} [")) && err.contains("/8.00 MiB") && err.contains("eta"),
            "{what}: no bar with total and ETA: {err:?}"
        );
    };
    shows_total("bundle create", &err, "hashing");
    let (code, err) = run(&[
        "--progress",
        "always",
        "bundle",
        "verify",
        "b",
        "--trust-root",
        "root.json",
    ]);
    assert_eq!(code, 0, "{err}");
    shows_total("bundle verify", &err, "verifying");
    for quiet_mode in [
        &["--progress", "never"][..],
        &["--json", "--progress", "always"][..],
    ] {
        let (code, err) = run(&[
            quiet_mode,
            &["bundle", "verify", "b", "--trust-root", "root.json"],
        ]
        .concat());
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("verifying"), "{quiet_mode:?}: {err:?}");
    }

    let vault = format!("file://{}/vault", d.display());
    quiet(&[
        "archive",
        "b",
        "--to",
        &vault,
        "--trust-root",
        "root.json",
        "--receipts-out",
        "r.json",
    ]);
    let (code, err) = run(&[
        "--progress",
        "always",
        "check-remote",
        &vault,
        "--receipts",
        "r.json",
        "--rehash",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("re-hashing [") && err.contains("eta"),
        "check-remote: {err:?}"
    );
    let (code, err) = run(&[
        "--progress",
        "always",
        "drill",
        "recovery",
        "--target",
        &vault,
        "--receipts",
        "r.json",
        "--output-dir",
        "restored",
        "--trust-root",
        "root.json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("restoring [") && err.contains("eta"),
        "drill recovery: {err:?}"
    );
}

/// Missing credentials (a profile that does not exist, nothing in the environment) are one
/// clear line naming the fix, not the SDK's list of providers; `-q` keeps it (it is the error).
#[test]
fn missing_aws_credentials_are_one_clear_line() {
    let files = aws_profile_files("region = us-east-1\n");
    for quiet in [false, true] {
        let mut command = wormvault_clean_aws(files.path());
        if quiet {
            command.arg("-q");
        }
        command.args([
            "--profile",
            "no-such-profile",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
            "target",
            "check",
            "s3://wv-no-credentials/evidence",
        ]);
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("no AWS credentials found"), "{stderr}");
        assert!(stderr.contains("--profile"), "{stderr}");
        assert!(!stderr.contains("WARN"), "no SDK warning dumps: {stderr}");
    }
}

#[test]
fn retention_days_beyond_any_date_are_a_usage_error_before_anything_runs() {
    // The value is refused by the parser (exit 2), not by the retention stage after the bundle
    // was verified (which exited 1, as if the evidence had failed a policy).
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[
            "plan",
            "no-bundle",
            "--to",
            "file:///nowhere",
            "--retention-days",
            "4294967295",
        ][..],
        &[
            "archive",
            "no-bundle",
            "--to",
            "file:///nowhere",
            "--retention-days",
            "365001",
        ][..],
        &[
            "plan",
            "no-bundle",
            "--to",
            "file:///nowhere",
            "--minimum-retention-days",
            "365001",
        ][..],
        &["status", "--minimum-retention-days", "99999999"][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_wormvault"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("days is out of range: at most 365000 days (about 1000 years)"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
