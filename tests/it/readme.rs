//! The README cannot drift from the binary: every `wormvault …` command line in its code blocks
//! names a real subcommand, and every `--flag` on it (or named in its trailing comment) is a
//! flag, or an alias of one, of that subcommand in the parser the binary uses. The quick start
//! runs as written (`cargo run -- demo` is the binary's `demo`), and the README's pipeline runs
//! end to end in `forgery::readme_pipeline_verifies_pinned_and_is_unpinned_otherwise`.

use clap::CommandFactory;

fn readme() -> String {
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
