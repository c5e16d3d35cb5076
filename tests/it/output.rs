//! Output people and machines can trust (issue #18 item 4), checked on every command the README
//! walkthrough runs: each `wormvault` invocation of its fenced blocks (local vault, holds,
//! status, drills, audit log; LocalStack when it runs) is recorded through a wrapper on PATH,
//! once as written and once with `--json`. Human text and JSON carry no Rust `Debug` shapes;
//! with `--json`, stdout is exactly one JSON document and every stderr line is JSON.

use std::path::Path;

/// Shapes of Rust `Debug` output that must never reach a user.
fn debug_shapes() -> regex::Regex {
    regex::Regex::new(concat!(
        r"Some\(|\bNone\b|\bOk\(|\bErr\(",
        // a struct or struct-like enum variant: `Foo { ` / `Foo {}`
        r"|\b[A-Z][A-Za-z]+ \{[ }]",
        // a CamelCase identifier where words are expected (`AlreadyPresent`, `HoldChanged`)
        r"|\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b",
        // a lone capitalised word as a line's value (`key: Uploaded`)
        r"|(?m):\s[A-Z][a-z]+$",
    ))
    .unwrap()
}

/// CamelCase words that are names, not enum variants (products, AWS API operations).
const NAMES: &[&str] = &[
    "LocalStack",
    "SnapLock",
    "HeadBucket",
    // the Sid of the TLS-only bucket policy statement (infra/aws/), quoted from the store
    "DenyInsecureTransport",
];

fn debug_text_in(text: &str) -> Vec<String> {
    // Opaque tokens (signatures, digests, Merkle roots, S3 version ids) can spell anything:
    // blank every run of 12+ such characters that has a digit or a base64 symbol in it.
    let token = regex::Regex::new(r"[A-Za-z0-9+/=_.-]{12,}").unwrap();
    let text = token.replace_all(text, |found: &regex::Captures| {
        let run = &found[0];
        if run
            .chars()
            .any(|c| c.is_ascii_digit() || matches!(c, '+' | '/' | '='))
        {
            "X".to_string()
        } else {
            run.to_string()
        }
    });
    debug_shapes()
        .find_iter(&text)
        .map(|m| m.as_str().to_string())
        .filter(|found| !NAMES.contains(&found.as_str()))
        .collect()
}

/// A `wormvault` wrapper that runs the real binary (with `--json` when `json`), records each
/// call's arguments, stdout, stderr and exit code under `log`, and passes them through.
fn wrapper(bin_dir: &Path, log: &Path, json: bool) {
    let script = format!(
        r#"#!/usr/bin/env bash
n=$(( $(cat "{log}/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "{log}/count"
printf '%s\n' "$@" > "{log}/$n.args"
"{real}" {flag} "$@" > "{log}/$n.out" 2> "{log}/$n.err"
rc=$?
echo "$rc" > "{log}/$n.rc"
cat "{log}/$n.out"
cat "{log}/$n.err" >&2
exit "$rc"
"#,
        log = log.display(),
        real = env!("CARGO_BIN_EXE_wormvault"),
        flag = if json { "--json" } else { "" },
    );
    let path = bin_dir.join("wormvault");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

struct Call {
    args: String,
    out: String,
    err: String,
    code: i32,
}

/// Run the README's fenced blocks (as `readme::fenced_blocks_run_as_written` does) through the
/// wrapper and return every call.
fn run_readme(json: bool) -> Vec<Call> {
    let text = crate::readme::readme();
    let s3 = if text.contains("s3://$BUCKET") {
        crate::support::require_s3()
    } else {
        None
    };
    let bucket = s3.as_ref().map(|s3| {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(crate::support::s3::bucket_with(
                &s3.client,
                crate::support::s3::FULL,
            ))
    });
    let dir = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let log = tempfile::tempdir().unwrap();
    wrapper(bin.path(), log.path(), json);
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (line, block) in crate::readme::fenced_blocks(&text) {
        let script = match &s3 {
            Some(s3) => block.replace("http://127.0.0.1:4566", &s3.endpoint),
            None if block.contains("s3://") => continue,
            None => block,
        };
        let mut command = std::process::Command::new("bash");
        command
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(dir.path());
        for (name, _) in std::env::vars_os() {
            let text = name.to_string_lossy();
            if text.starts_with("AWS_") || text.starts_with("WORMVAULT_") {
                command.env_remove(&name);
            }
        }
        command
            .env("PATH", &path)
            .env("HOME", dir.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1");
        if let Some(bucket) = &bucket {
            command.env("BUCKET", bucket);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "README:{line} (json={json}) failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Commands the README walkthrough does not run, through the same wrapper.
    let extra = format!(
        "wormvault demo --dir demo\nwormvault canonical receipts.json\nwormvault readiness contract\n\
         wormvault readiness validate --packet {} || [ $? -eq 1 ]\n",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/cavra/enterprise-audit-log.sample.json"
        )
    );
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &extra])
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{extra} (json={json}) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count: usize = std::fs::read_to_string(log.path().join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (1..=count)
        .map(|n| {
            let read = |ext: &str| {
                std::fs::read_to_string(log.path().join(format!("{n}.{ext}"))).unwrap_or_default()
            };
            Call {
                args: read("args").replace('\n', " "),
                out: read("out"),
                err: read("err"),
                code: read("rc").trim().parse().unwrap_or(-1),
            }
        })
        .collect()
}

#[test]
fn human_output_has_no_debug_text() {
    let calls = run_readme(false);
    assert!(calls.len() >= 30, "only {} calls", calls.len());
    let mut problems = Vec::new();
    for call in &calls {
        for (stream, text) in [("stdout", &call.out), ("stderr", &call.err)] {
            let found = debug_text_in(text);
            if !found.is_empty() {
                problems.push(format!("wormvault {}: {stream} has {found:?}", call.args));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn json_output_is_one_document_on_stdout_and_json_lines_on_stderr() {
    let calls = run_readme(true);
    assert!(calls.len() >= 30, "only {} calls", calls.len());
    let mut problems = Vec::new();
    for call in &calls {
        // `audit export` writes the export itself (here CEF) to stdout, as CAVRA's does.
        let export = call.args.starts_with("audit export");
        if !export {
            let documents: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&call.out)
                .into_iter::<serde_json::Value>()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| {
                    problems.push(format!("wormvault {}: stdout is not JSON ({e})", call.args));
                    Vec::new()
                });
            if documents.len() != 1 && call.code == 0 {
                problems.push(format!(
                    "wormvault {}: {} JSON documents on stdout",
                    call.args,
                    documents.len()
                ));
            }
            for document in &documents {
                let found = debug_text_in(&document.to_string());
                if !found.is_empty() {
                    problems.push(format!("wormvault {}: JSON has {found:?}", call.args));
                }
            }
        }
        for line in call.err.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(value) if value.is_object() => {
                    let found = debug_text_in(line);
                    if !found.is_empty() {
                        problems.push(format!("wormvault {}: stderr has {found:?}", call.args));
                    }
                }
                _ => problems.push(format!(
                    "wormvault {}: stderr line is not a JSON object: {line}",
                    call.args
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_debug_detector_catches_what_it_must() {
    for debug in [
        "legal hold Some(true)",
        "k: AlreadyPresent",
        "HoldChanged: x",
        "Finding { kind",
        "value None here",
        "Err(Io",
        "evidence.json: Uploaded\nnext",
        "kind RetentionShortened here",
    ] {
        assert!(!debug_text_in(debug).is_empty(), "{debug}");
    }
    for words in [
        "k: already present",
        "legal hold on",
        "store LocalStack at http://127.0.0.1:4566",
        "VERIFIED handoff for session rel-2.1.0",
        "{\"kind\":\"note\"}",
        "version AaIzNkUzlAl.x7Qp_9kLmN2 and root glC1Fu2uOrE7eebwA1xqJtHqlbYwSd2qbntZv4UUSpbjxzBsESSMntp8cK5rwdJqWLOnizd83bz4gMIy2WQ3kcp0DQI=",
    ] {
        assert!(debug_text_in(words).is_empty(), "{words}");
    }
}

fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .args(args)
        .current_dir(dir)
        .env_remove("WORMVAULT_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn errors_name_the_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, out, err) = run_in(d, &["demo", "--dir", "demo"]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(d.join("hmac.key"), "k-secret\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("hmac.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    for action in ["a", "b"] {
        let (code, _, err) = run_in(
            d,
            &[
                "audit",
                "append",
                "--log",
                "log.jsonl",
                "--event-type",
                "x.y",
                "--actor",
                "ci",
                "--action",
                action,
                "--target",
                "t",
                "--decision",
                "allow",
                "--key-file",
                "hmac.key",
                "--key-id",
                "audit-key-1",
            ],
        );
        assert_eq!(code, 0, "{err}");
    }

    // The right key under the wrong key id: named as such, not as tampering.
    let (code, out, err) = run_in(
        d,
        &[
            "audit",
            "verify",
            "--log",
            "log.jsonl",
            "--key-file",
            "hmac.key",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("key_mismatch"), "{out}");
    assert!(
        out.contains("\"audit-key-1\""),
        "the records' key id is named: {out}"
    );
    assert!(!out.contains("mutation"), "{out}");
    assert!(
        !err.contains("critical"),
        "no critical integrity alert: {err}"
    );

    // Mistyped paths: usage/IO errors (exit 2) naming the file, never an integrity verdict.
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "status",
                "--target",
                "file:///nonexistent-vault",
                "--audit-log",
                "lgo.jsonl",
            ],
            "lgo.jsonl",
        ),
        (
            &[
                "audit",
                "verify",
                "--log",
                "lgo.jsonl",
                "--key-file",
                "hmac.key",
            ],
            "lgo.jsonl",
        ),
        (
            &[
                "bundle",
                "verify",
                "bundel",
                "--trust-root",
                "demo/trust-roots.json",
            ],
            "bundel",
        ),
        (&["canonical", "nope.json"], "nope.json"),
        (
            &[
                "check-remote",
                "file:///nonexistent-vault",
                "--receipts",
                "receipts.json",
            ],
            "receipts.json",
        ),
    ];
    for (args, named) in cases {
        let (code, out, err) = run_in(d, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.contains(named),
            "{args:?}: the error names {named}: {err}"
        );
        assert!(!err.contains("critical"), "{args:?}: {err}");
        assert!(!out.contains("INVALID"), "{args:?}: {out}");
    }

    // A missing trust-root file: the cause once, not repeated by each layer.
    let (code, _, err) = run_in(d, &["bundle", "verify", ".", "--trust-root", "roots.json"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the cause once: {err}"
    );

    // check-remote against another target than the receipts': a usage error, not "missing".
    let vault = format!("file://{}/vault", d.display());
    let (code, out, err) = run_in(
        d,
        &["check-remote", &vault, "--receipts", "demo/receipts.json"],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("are for target"), "{err}");
    assert!(!out.contains("missing"), "{out}");
}
