//! `wormvault completions SHELL` and `wormvault man`: shell completion scripts and a roff man
//! page generated from the same clap definition the binary parses with, so they cannot drift from
//! the flags (as `rclone completion`, `restic generate` and `cosign completion` do).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, Output};
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    wormvault completions bash > /etc/bash_completion.d/wormvault\n  \
    wormvault completions zsh > \"${fpath[1]}/_wormvault\"\n  \
    wormvault completions fish > ~/.config/fish/completions/wormvault.fish")]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    wormvault man | man -l -\n  \
    wormvault man --output-dir /usr/local/share/man/man1")]
pub struct ManArgs {
    /// Write one page per command (wormvault.1, wormvault-archive.1, …) into this directory
    /// instead of printing the top-level page on stdout.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs, _output: &Output) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    let mut stdout = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "wormvault", &mut stdout);
    stdout.flush().context("writing completions to stdout")?;
    Ok(Exit::Ok)
}

pub fn man(args: ManArgs, output: &Output) -> anyhow::Result<Exit> {
    let command = Cli::command();
    match args.output_dir {
        None => {
            let mut stdout = std::io::stdout().lock();
            clap_mangen::Man::new(command)
                .render(&mut stdout)
                .context("writing the man page to stdout")?;
            stdout.flush().context("writing the man page to stdout")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            output.note(format!("man pages written to {}", dir.display()));
        }
    }
    Ok(Exit::Ok)
}
