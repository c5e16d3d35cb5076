//! The README cannot drift from the binary. Every fenced shell block (```sh) runs as written, in
//! order, in one scratch directory, with the real binary on PATH, against a local vault and
//! LocalStack (`fenced_blocks_run_as_written`). The indented blocks are syntax summaries: every
//! `wormvault …` line in them names a real subcommand whose every `--flag` (also in its trailing
//! comment) the parser accepts, and every subcommand they name is run by a fenced block. The few
//! other indented commands that a test cannot run are in [`NOT_RUN`], each with its reason; the
//! quick start's `cargo run -- demo` runs as the binary's `demo`.

use clap::CommandFactory;

pub(crate) fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// Code-block command lines starting with `wormvault `, continuation lines joined, with their
/// README line number. Returns (line, command part, comment part).
pub(crate) fn commands(text: &str) -> Vec<(usize, String, String)> {
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let Some(code) = line.strip_prefix("    ") else {
            continue;
        };
        let code = code.trim_start();
        if !code.starts_with("wormvault ") {
            continue;
        }
        let mut command = String::new();
        let mut comment = String::new();
        let mut current = code.to_string();
        loop {
            let (body, note) = match current.split_once(" #") {
                Some((body, note)) => (body.to_string(), note.to_string()),
                None => (current.clone(), String::new()),
            };
            comment.push(' ');
            comment.push_str(&note);
            let body = body.trim_end();
            match body.strip_suffix('\\') {
                Some(body) => {
                    command.push_str(body);
                    command.push(' ');
                    match lines.next() {
                        Some((_, next)) => current = next.trim().to_string(),
                        None => break,
                    }
                }
                None => {
                    command.push_str(body);
                    break;
                }
            }
        }
        found.push((number + 1, command, comment));
    }
    found
}

/// `--flag` tokens in a piece of text (`[--x]`, `--a/--b`, `--x=value` and `--x|--y` included).
pub(crate) fn flags(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '/' | '[' | ']' | '(' | ')' | ',' | '|'))
        .filter_map(|token| token.strip_prefix("--"))
        .map(|flag| {
            flag.split('=')
                .next()
                .unwrap()
                .trim_end_matches(['.', ':', '`'])
        })
        .filter(|flag| {
            !flag.is_empty() && flag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_string)
        .collect()
}

/// Every long name (and alias) a subcommand accepts, plus the global flags.
pub(crate) fn accepted(command: &clap::Command) -> Vec<String> {
    let mut names = vec!["help".to_string(), "version".to_string()];
    for arg in command.get_arguments() {
        if let Some(long) = arg.get_long() {
            names.push(long.to_string());
        }
        if let Some(aliases) = arg.get_all_aliases() {
            names.extend(aliases.into_iter().map(str::to_string));
        }
    }
    names
}

/// The subcommand alternatives a command line names: `hold set|release X` gives `hold set` and
/// `hold release`.
pub(crate) fn resolve<'a>(
    root: &'a clap::Command,
    words: &[&str],
) -> Result<Vec<&'a clap::Command>, String> {
    let mut current = vec![root];
    for word in words {
        if word.starts_with('-') || !current.iter().all(|c| c.has_subcommands()) {
            break;
        }
        let names: Vec<&str> = word.split('|').collect();
        let next: Vec<&clap::Command> = current
            .iter()
            .flat_map(|c| names.iter().filter_map(|n| c.find_subcommand(n)))
            .collect();
        if next.is_empty() {
            if current.iter().any(|c| std::ptr::eq(*c, root)) {
                return Err(format!("no subcommand {word:?}"));
            }
            // A positional argument of a command that also has subcommands (`handoff`).
            break;
        }
        current = next;
    }
    Ok(current)
}

#[test]
fn every_readme_command_names_real_subcommands_and_flags() {
    let root = wormvault::cli::Cli::command();
    let text = readme();
    let found = commands(&text);
    assert!(
        found.len() >= 30,
        "only {} command lines found",
        found.len()
    );
    let mut problems = Vec::new();
    for (line, command, comment) in &found {
        let words: Vec<&str> = command.split_whitespace().skip(1).collect();
        let targets = match resolve(&root, &words) {
            Ok(targets) => targets,
            Err(e) => {
                problems.push(format!("README:{line}: {e}: {command}"));
                continue;
            }
        };
        if targets.len() == 1 && std::ptr::eq(targets[0], &root) {
            problems.push(format!("README:{line}: no subcommand: {command}"));
            continue;
        }
        if targets
            .iter()
            .any(|t| t.has_subcommands() && t.get_name() != "handoff")
        {
            problems.push(format!("README:{line}: incomplete subcommand: {command}"));
            continue;
        }
        let global = accepted(&root);
        let known: Vec<Vec<String>> = targets
            .iter()
            .map(|t| {
                let mut names = accepted(t);
                names.extend(global.iter().cloned());
                names
            })
            .collect();
        for flag in flags(command) {
            if !known.iter().all(|names| names.contains(&flag)) {
                problems.push(format!(
                    "README:{line}: --{flag} is not a flag of every command named: {command}"
                ));
            }
        }
        for flag in flags(comment) {
            if !known.iter().any(|names| names.contains(&flag)) {
                problems.push(format!(
                    "README:{line}: --{flag} (in the comment) is not a flag of that command"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "README drifted from the binary:\n{}",
        problems.join("\n")
    );
}

#[test]
fn readme_quick_start_commands_are_the_ones_tested() {
    let text = readme();
    // The two commands a new user runs first, exactly as the README shows them.
    assert!(text.contains("\n    cargo run -- demo\n"));
    assert!(text.contains("\n    bash scripts/test.sh\n"));
    // .ci/run runs the README's test command (and nothing replaces it).
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(ci.contains("exec bash scripts/test.sh"), "{ci}");
    // `cargo run -- demo` is the binary's `demo`, run in a scratch directory.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .current_dir(dir.path())
        .arg("demo")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("VERIFIED"));
}

#[test]
fn the_checker_catches_a_drifted_flag() {
    // The checker itself can fail: a made-up flag and a made-up subcommand are found.
    let root = wormvault::cli::Cli::command();
    let found = commands(
        "    wormvault bundle verify b --trust-root r.json --no-such-flag\n    wormvault frobnicate x\n",
    );
    assert_eq!(found.len(), 2);
    let verify = resolve(&root, &["bundle", "verify", "b"]).unwrap();
    assert_eq!(verify[0].get_name(), "verify");
    assert!(!accepted(verify[0]).contains(&"no-such-flag".to_string()));
    assert!(accepted(verify[0]).contains(&"trust-root".to_string()));
    let unknown = resolve(&root, &["frobnicate", "x"]);
    assert!(unknown.is_err(), "{:?}", unknown.map(|v| v.len()));
    assert_eq!(
        flags("[--a] --b=1 --c/--d (--e) --f|--g"),
        ["a", "b", "c", "d", "e", "f", "g"]
    );
}

/// Indented README commands that are not `wormvault …` and that this test does not run, with
/// why (everything else in a code block runs or is flag-checked).
const NOT_RUN: &[(&str, &str)] = &[
    (
        "cargo run -- demo",
        "runs below as the built binary's `demo` (cargo would rebuild into the shared target dir)",
    ),
    (
        "bash scripts/test.sh",
        "is the whole test suite, this test included (it runs in CI as .ci/run)",
    ),
    (
        "cargo install --locked --path .",
        "scripts/test.sh runs it into a scratch root (a second full build here)",
    ),
    (
        "bash scripts/build-static.sh",
        "a full musl release build, minutes long; needs the musl target installed",
    ),
    (
        "docker build -t wormvault .",
        "needs a Docker engine, which the development and CI machines do not have",
    ),
];

/// Fenced ```sh blocks: (README line of the opening fence, the block's text).
pub(crate) fn fenced_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        match &mut current {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    let info = info.trim();
                    assert!(
                        matches!(info, "sh" | "bash" | "shell"),
                        "README:{}: a fenced block must be a shell block (```sh), found ```{info}",
                        number + 1
                    );
                    current = Some((number + 1, String::new()));
                }
            }
            Some((start, body)) => {
                if line.trim_end() == "```" {
                    blocks.push((*start, std::mem::take(body)));
                    current = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    assert!(current.is_none(), "README: an unclosed fenced block");
    blocks
}

/// The subcommand path of a command line (`hold set`, `audit verify-proof`, `handoff`), with
/// `a|b` alternatives expanded.
fn subcommand_paths(root: &clap::Command, command: &str) -> Vec<String> {
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let mut paths = vec![(root, String::new())];
    for word in words {
        if word.starts_with('-') || !paths.iter().all(|(c, _)| c.has_subcommands()) {
            break;
        }
        let next: Vec<(&clap::Command, String)> = paths
            .iter()
            .flat_map(|(c, path)| {
                word.split('|').filter_map(move |name| {
                    c.find_subcommand(name)
                        .map(|sub| (sub, format!("{path} {}", sub.get_name())))
                })
            })
            .collect();
        if next.is_empty() {
            break;
        }
        paths = next;
    }
    paths
        .into_iter()
        .map(|(_, p)| p.trim().to_string())
        .collect()
}

#[test]
fn fenced_blocks_run_as_written() {
    let text = readme();
    let blocks = fenced_blocks(&text);
    assert!(blocks.len() >= 5, "only {} fenced blocks", blocks.len());
    let root = wormvault::cli::Cli::command();

    // Every subcommand an indented synopsis names is run by a fenced block.
    let mut run = std::collections::BTreeSet::new();
    for (_, block) in &blocks {
        let indented: String = block.lines().map(|l| format!("    {l}\n")).collect();
        for (_, command, _) in commands(&indented) {
            run.extend(subcommand_paths(&root, &command));
        }
        // Commands inside a loop body are indented twice: take them too.
        for line in block.lines() {
            let line = line.trim_start();
            if line.starts_with("wormvault ") {
                run.extend(subcommand_paths(&root, line));
            }
        }
    }
    let mut unrun = Vec::new();
    for (line, command, _) in commands(&text) {
        for path in subcommand_paths(&root, &command) {
            if !run.contains(&path) {
                unrun.push(format!(
                    "README:{line}: `wormvault {path}` is in no fenced block"
                ));
            }
        }
    }
    assert!(unrun.is_empty(), "{}", unrun.join("\n"));

    // Every other indented command is on the not-run list.
    for line in text.lines() {
        let Some(code) = line.strip_prefix("    ") else {
            continue;
        };
        let code = code.split(" #").next().unwrap_or_default().trim();
        if ["cargo ", "bash ", "docker ", "sh "]
            .iter()
            .any(|p| code.starts_with(p))
        {
            assert!(
                NOT_RUN.iter().any(|(c, _)| *c == code),
                "README command `{code}` is neither run nor on the justified NOT_RUN list"
            );
        }
    }

    // Run the blocks in order in one scratch directory, as a user pasting them would.
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
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_wormvault"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for (line, block) in &blocks {
        let needs_s3 = block.contains("s3://");
        let script = match (&s3, &bucket) {
            (Some(s3), Some(_)) => block.replace("http://127.0.0.1:4566", &s3.endpoint),
            _ if needs_s3 => {
                // require_s3 has said why (and panicked under CI=true).
                continue;
            }
            _ => block.clone(),
        };
        let mut command = std::process::Command::new("bash");
        command.args(["-euo", "pipefail", "-c", &script]);
        command.current_dir(dir.path());
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("AWS_") || name_text.starts_with("WORMVAULT_") {
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
        let out = command.output().expect("run bash");
        assert!(
            out.status.success(),
            "README:{line}: the block failed as written (exit {:?}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} blocks ran");
    // What the blocks promise is really there.
    for file in [
        "receipts.json",
        "handoff.tar.gz",
        "from-store.tar.gz",
        "report.html",
        "CASE-77.csv",
        "recovery-drill.json",
        "tamper-drill.json",
        "ops.cef",
        "ops.anchor.json",
    ] {
        assert!(
            dir.path().join(file).is_file(),
            "no {file} after the README ran"
        );
    }
}
