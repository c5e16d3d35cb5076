//! The command line: one file per subcommand, each parsing its arguments, resolving settings,
//! making one library call and rendering the result. Nothing below `cli/` sees clap or terminals.
//! A command file imports only `args` (every flag group, defined once), `common` (runtime,
//! `with_store`, the pipeline runner, progress) and `output` (rendering), never a sibling.

pub mod archive;
pub mod args;
pub mod audit;
pub mod bundle;
pub mod canonical;
pub mod check_remote;
pub mod common;
pub mod completions;
pub mod demo;
pub mod drill;
pub mod handoff;
pub mod hold;
pub mod keys;
pub mod output;
pub mod plan;
pub mod readiness;
pub mod status;
pub mod target;
pub mod upload;

use clap::{Parser, Subcommand};

use crate::exit::Exit;
pub use output::Output;

#[derive(Debug, Parser)]
#[command(
    name = "wormvault",
    version,
    about = "Verify release evidence and archive it into write-once (WORM) storage an auditor can check years later.",
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 verification or policy failure, 2 usage/config/IO/cloud error.\nSecrets (HMAC keys, private keys, account keys) are read from files or environment variables, never from arguments."
)]
pub struct Cli {
    /// Machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Only results and errors; no progress or notes.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More diagnostics on stderr: -v for wormvault's steps, -vv for debug detail (the
    /// WORMVAULT_LOG filter, e.g. `WORMVAULT_LOG=wormvault=debug,aws=info`, overrides it).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Progress bars: auto (on a terminal), always, never.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        env = "WORMVAULT_PROGRESS"
    )]
    pub progress: output::Progress,
    #[command(flatten)]
    pub s3: args::S3ConnectionArgs,
    #[command(subcommand)]
    pub command: Command,
}

// One value per process, parsed once and moved into its command: boxing the larger argument
// groups (a parsed `Target` in `archive`) would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate Ed25519 keys and build trust roots and trust-root bundles.
    Keys(keys::Args),
    /// Create, verify and pack CAVRA-compatible signed evidence bundles.
    Bundle(bundle::Args),
    /// The hash-chained audit log: append, verify, checkpoint, prove, prune, export.
    Audit(audit::Args),
    /// Check an enterprise audit-log evidence packet against CAVRA's readiness contract.
    Readiness(readiness::Args),
    /// Check that a storage target is really configured for WORM (preflight).
    Target(target::Args),
    /// Verify a bundle and write the storage plan (where each object goes, its lock, hold, tags) for review.
    Plan(plan::Args),
    /// Execute a reviewed storage plan: preflight, locked create-only upload, read-back receipts.
    Upload(upload::Args),
    /// The whole pipeline: verify, retention gate, plan, preflight, upload, receipts, audit event, anchor.
    Archive(archive::Args),
    /// Build an auditor handoff package for an archived session, or verify one (`handoff verify`).
    Handoff(handoff::Args),
    /// Set, release or show legal holds on every object under a target prefix.
    Hold(hold::Args),
    /// Compare what a store holds with upload receipts (missing, extra, changed, shortened).
    CheckRemote(check_remote::Args),
    /// Run the whole pipeline on a built-in default with no cloud: keys, bundle, audit log, local WORM vault, handoff.
    Demo(demo::Args),
    /// Tamper and recovery drills: prove tampering is caught and archived evidence comes back intact.
    Drill(drill::Args),
    /// Operating status of the audit store: CAVRA's six tenant checks, derived from real checks.
    Status(status::Args),
    /// Print the Python-compatible canonical JSON of a file (what hashes and signatures cover).
    Canonical(canonical::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page (or write one page per command with --output-dir).
    Man(completions::ManArgs),
}

/// Run a parsed command line and return the process exit code.
pub fn run(cli: Cli) -> u8 {
    init_tracing(cli.verbose, cli.quiet, cli.json);
    crate::store::s3::set_process_connection(cli.s3.connection());
    let output = Output {
        json: cli.json,
        quiet: cli.quiet,
        progress: cli.progress,
    };
    let result = match cli.command {
        Command::Keys(args) => keys::run(args, &output),
        Command::Bundle(args) => bundle::run(args, &output),
        Command::Audit(args) => audit::run(args, &output),
        Command::Readiness(args) => readiness::run(args, &output),
        Command::Target(args) => target::run(args, &output),
        Command::Plan(args) => plan::run(args, &output),
        Command::Upload(args) => upload::run(args, &output),
        Command::Archive(args) => archive::run(args, &output),
        Command::Handoff(args) => handoff::run(args, &output),
        Command::Hold(args) => hold::run(args, &output),
        Command::CheckRemote(args) => check_remote::run(args, &output),
        Command::Demo(args) => demo::run(args, &output),
        Command::Drill(args) => drill::run(args, &output),
        Command::Status(args) => status::run(args, &output),
        Command::Canonical(args) => canonical::run(args, &output),
        Command::Completions(args) => completions::completions(args, &output),
        Command::Man(args) => completions::man(args, &output),
    };
    let exit = match result {
        Ok(exit) => exit,
        Err(error) => report_error(&error, &output),
    };
    let stdout = output::stdout_failure();
    if let Some(message) = output::stdout_failure_message() {
        report_error(&anyhow::anyhow!(message), &output);
    }
    crate::exit::with_stdout(exit, stdout).code()
}

/// Print an error (with its causes) on stderr and pick the exit code ([`crate::exit::classify`]):
/// 1 for a policy or verification refusal anywhere in the chain, 2 for everything else.
fn report_error(error: &anyhow::Error, output: &Output) -> Exit {
    let exit = crate::exit::classify(error);
    let refusal = exit == Exit::Failure;
    let message = error_text(error);
    if output.json {
        let value = serde_json::json!({
            "error": message,
            "kind": if refusal { "refused" } else { "error" },
            "exit_code": exit.code(),
        });
        eprintln!("{value}");
    } else {
        eprintln!("error: {message}");
    }
    exit
}

/// The error and its causes on one line, `outer: cause: cause`, leaving out a cause whose text
/// the line already ends with (many library errors print their source in their own message, so
/// anyhow's `{:#}` would say "No such file or directory" twice).
fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

/// Diagnostics go to stderr: `-q` only errors, default warnings, `-v` wormvault's info, `-vv`
/// debug; `WORMVAULT_LOG` (an EnvFilter) overrides. Colour only on a terminal and never with
/// `NO_COLOR` (no-color.org), so logs piped to files or CI keep no escape codes. With `--json`
/// every diagnostic is one JSON line (`{"level","target","message",…}`), so stderr stays
/// machine-readable.
///
/// The AWS SDK's own config warnings (IMDS region and credential probes, one multi-line dump per
/// attempt) are shown only from `-vv` on: what they mean reaches the user as one line instead —
/// the store's "no AWS region … set --region" or the request's credential error.
fn init_tracing(verbose: u8, quiet: bool, json: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error,aws_config=off",
        (false, 0) => "warn,aws_config=off",
        (false, 1) => "warn,aws_config=off,wormvault=info",
        (false, _) => "info,wormvault=debug",
    };
    let filter =
        EnvFilter::try_from_env("WORMVAULT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let colour = !json && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.event_format(output::JsonLines).try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_text_names_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let inner = anyhow::Error::new(io).context("cannot read x.json: No such file or directory");
        let error = inner.context("loading trust roots from x.json");
        assert_eq!(
            super::error_text(&error),
            "loading trust roots from x.json: cannot read x.json: No such file or directory"
        );
        let plain = anyhow::anyhow!("disk full").context("writing receipts.json");
        assert_eq!(
            super::error_text(&plain),
            "writing receipts.json: disk full"
        );
    }
}
