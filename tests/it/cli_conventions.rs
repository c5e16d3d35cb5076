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
