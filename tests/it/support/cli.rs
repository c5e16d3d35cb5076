//! Running the real binary from a test: in a working directory, its output as one text, and
//! the exit code asserted (never a panic).

use std::path::Path;
use std::process::{Command, Output};

/// Run `wormvault ARGS` in `dir`.
pub fn wormvault(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run wormvault")
}

/// stdout then stderr, as one text for messages and `contains` checks.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The run exited with `expected`, and did not panic.
#[track_caller]
pub fn code(output: &Output, expected: i32) {
    assert_eq!(output.status.code(), Some(expected), "{}", text(output));
    assert!(!text(output).contains("panicked"), "{}", text(output));
}

/// Run `wormvault ARGS` in `dir` with `env` added, on a thread of its own so a calling async
/// test's runtime is not blocked.
pub fn wormvault_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                Command::new(env!("CARGO_BIN_EXE_wormvault"))
                    .current_dir(dir)
                    .envs(env.iter().copied())
                    .args(args)
                    .output()
                    .expect("run wormvault")
            })
            .join()
            .expect("the wormvault thread")
    })
}

/// The release setup most pipeline tests start from, in `dir`: Ed25519 keys in `keys/`, a trust
/// root naming the public key `release-key` (`trust-root.json`), `files` (path, content) under
/// `files/`, and a bundle of them in `bundle/` signed as `release-key` for `session`, created with
/// `bundle_args` added (e.g. `--retention-days`).
pub fn release_bundle(dir: &Path, session: &str, files: &[(&str, &str)], bundle_args: &[&str]) {
    let ok = |args: &[&str]| code(&wormvault_env(dir, &[], args), 0);
    ok(&["-q", "keys", "generate", "--output-dir", "keys"]);
    ok(&[
        "-q",
        "keys",
        "trust-root",
        "--public-key",
        "keys/evidence-ed25519-public.pem",
        "--output",
        "trust-root.json",
        "--key-id",
        "release-key",
    ]);
    for (path, content) in files {
        let path = dir.join("files").join(path);
        std::fs::create_dir_all(path.parent().expect("files/ is its parent"))
            .expect("create files/");
        std::fs::write(path, content).expect("write an evidence file");
    }
    let mut args = vec![
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
        session,
    ];
    args.extend_from_slice(bundle_args);
    ok(&args);
}

/// `archive bundle` of [`release_bundle`]'s setup to `target`: verified against its trust root
/// as `release-key`, with an audit log, record signatures and a checkpoint by the same key, and
/// receipts written to `receipts`.
pub fn release_archive_args<'a>(target: &'a str, receipts: &'a str) -> Vec<&'a str> {
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
        "audit.jsonl",
        "--audit-signing-key",
        "keys/evidence-ed25519-private.pem",
        "--audit-key-id",
        "release-key",
        "--checkpoint-key",
        "keys/evidence-ed25519-private.pem",
        "--receipts-out",
        receipts,
    ]
}
