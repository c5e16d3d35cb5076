//! `wormvault hold set|release|status TARGET`: legal holds on every object version under a prefix.

use std::path::PathBuf;

use crate::cli::Output;
use crate::cli::bundle::HmacKeyArgs;
use crate::cli::common;
use crate::exit::Exit;
use crate::hold::{self, HoldAction, HoldReport};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Place a legal hold on every object version under the target prefix.
    Set(HoldArgs),
    /// Release the legal hold (needs --confirm-release).
    Release(HoldArgs),
    /// Show the legal hold state of every object version under the target prefix.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct HoldArgs {
    /// Target with the prefix to act on, e.g. s3://bucket/prefix/session-id
    pub target: String,
    /// Case or matter id the hold belongs to.
    #[arg(long)]
    pub case: String,
    /// Why (recorded in the audit log when --audit-log is given).
    #[arg(long)]
    pub reason: String,
    /// Confirm a release: objects become deletable once their retention ends.
    #[arg(long)]
    pub confirm_release: bool,
    /// Record the change as an audit-log event (`legal_hold.set` / `legal_hold.released`).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Who the audit event names as actor.
    #[arg(long, default_value = "wormvault")]
    pub actor: String,
    /// Sign the audit event with this Ed25519 private key.
    #[arg(long, value_name = "PEM")]
    pub audit_signing_key: Option<PathBuf>,
    #[command(flatten)]
    pub audit_hmac: HmacKeyArgs,
    /// Key id for the audit event signature.
    #[arg(long)]
    pub audit_key_id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    pub target: String,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let (target, action, case, reason, confirmed) = match &args.command {
        Command::Set(a) => (
            &a.target,
            HoldAction::Set,
            Some(a.case.as_str()),
            Some(a.reason.as_str()),
            false,
        ),
        Command::Release(a) => (
            &a.target,
            HoldAction::Release,
            Some(a.case.as_str()),
            Some(a.reason.as_str()),
            a.confirm_release,
        ),
        Command::Status(a) => (&a.target, HoldAction::Status, None, None, false),
    };
    let target = common::parse_target(target)?;
    let runtime = common::runtime()?;
    let report = runtime.block_on(async {
        let store = common::open_store(&target).await?;
        let prefix = store.target().prefix().to_string();
        let prefix = if prefix.is_empty() {
            prefix
        } else {
            format!("{prefix}/")
        };
        anyhow::Ok(hold::apply(store.as_ref(), &prefix, action, case, reason, confirmed).await?)
    });
    let report: HoldReport = match report {
        Ok(report) => report,
        Err(error)
            if matches!(
                error.downcast_ref::<hold::HoldError>(),
                Some(hold::HoldError::ReleaseNotConfirmed)
            ) =>
        {
            return Err(anyhow::Error::new(crate::exit::Refusal(error.to_string())));
        }
        Err(error) => return Err(error),
    };
    if let Command::Set(a) | Command::Release(a) = &args.command {
        if let (Some(log), Some(record)) = (&a.audit_log, report.audit_record(&a.actor)) {
            let signer = crate::cli::archive::audit_signer(
                a.audit_signing_key.as_deref(),
                &a.audit_hmac,
                a.audit_key_id.clone(),
                output,
            )?;
            let written = crate::audit::append(log, &record, &signer)?;
            output.note(format!(
                "recorded as audit record {} in {}",
                written.sequence().unwrap_or(0),
                log.display()
            ));
        }
    }
    output.result(&report, || {
        let mut text = String::new();
        for object in &report.objects {
            let state = match object.legal_hold {
                Some(true) => "HELD",
                Some(false) => "not held",
                None => "unknown",
            };
            let version = object
                .version_id
                .as_deref()
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default();
            match &object.error {
                None => text.push_str(&format!("{state:9} {}{version}\n", object.key)),
                Some(error) => {
                    text.push_str(&format!("FAILED    {}{version}: {error}\n", object.key))
                }
            }
        }
        text.push_str(&format!(
            "{:?}: {} objects, {}",
            report.action,
            report.objects.len(),
            if report.ok { "ok" } else { "SOME FAILED" }
        ));
        text
    });
    Ok(if report.ok { Exit::Ok } else { Exit::Error })
}
