//! `wormvault handoff --session S --output handoff.tar.gz` builds the auditor package;
//! `wormvault handoff verify handoff.tar.gz [--online]` re-checks it offline (and the store).

use std::path::PathBuf;

use anyhow::Context;

use crate::archive::find_session;
use crate::cli::Output;
use crate::cli::common;
use crate::exit::Exit;
use crate::handoff::{self, HandoffInputs, HandoffReport};
use crate::receipt::ReceiptSet;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Re-check a handoff package offline; --online also compares with the store.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Session id of an archive made on this machine (its record is in --state-dir), or, with
    /// --from, of an archive in that store.
    #[arg(long)]
    pub session: Option<String>,
    /// Build the package from the store alone (the sidecars `archive` stored under
    /// `<prefix>/<session>/<digest>/_wormvault/`), not from local files: s3://…, azure://…, file://…
    #[arg(long, value_name = "TARGET")]
    pub from: Option<String>,
    /// The package to write (never overwritten).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[arg(long, value_name = "DIR", default_value = ".wormvault")]
    pub state_dir: PathBuf,
    /// Trust roots to include (default: the ones the archive verified against).
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
    #[arg(long, default_value_t = crate::retention::MINIMUM_RETENTION_DAYS)]
    pub minimum_retention_days: u32,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The handoff package (.tar.gz).
    pub package: PathBuf,
    /// Also compare the store with the receipts (needs credentials for the target).
    #[arg(long)]
    pub online: bool,
    /// Write the HTML report here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    #[arg(long, default_value_t = crate::retention::MINIMUM_RETENTION_DAYS)]
    pub minimum_retention_days: u32,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        Some(Command::Verify(verify)) => run_verify(verify, output),
        None => run_create(args.create, output),
    }
}

fn render(report: &HandoffReport) -> String {
    let mut text = format!(
        "{} handoff for session {} ({})\n",
        if report.valid { "VERIFIED" } else { "FAILED" },
        report.session_id,
        report.target
    );
    for check in &report.checks {
        text.push_str(&format!(
            "  {}  {}: {}\n",
            if check.passed { "pass" } else { "FAIL" },
            check.name,
            check.detail
        ));
    }
    text.push_str(&format!(
        "  {} objects, signer {}, {}",
        report.objects.len(),
        report.signer,
        report.signing_key
    ));
    text
}

fn run_create(args: CreateArgs, output: &Output) -> anyhow::Result<Exit> {
    let session = args
        .session
        .context("pass --session SESSION_ID (or use `handoff verify PACKAGE`)")?;
    let destination = args.output.context("pass --output handoff.tar.gz")?;
    if let Some(from) = &args.from {
        return create_from_store(
            from,
            &session,
            &destination,
            args.trust_root,
            args.minimum_retention_days,
            output,
        );
    }
    let record = find_session(&args.state_dir, &session)?;
    let missing = |what: &str| {
        anyhow::anyhow!(
            "session {session} was archived without {what}; a handoff package needs it (archive with --audit-log and --checkpoint-key, and --trust-root)"
        )
    };
    let inputs = HandoffInputs {
        bundle: record.bundle.clone(),
        trust_roots: args
            .trust_root
            .or(record.trust_root.clone())
            .ok_or_else(|| missing("--trust-root"))?,
        plan: record.plan.clone(),
        receipts: record.receipts.clone(),
        audit_log: record
            .audit_log
            .clone()
            .ok_or_else(|| missing("--audit-log"))?,
        checkpoint: record
            .checkpoint
            .clone()
            .ok_or_else(|| missing("--checkpoint-key"))?,
        checkpoint_key: record
            .checkpoint_key
            .clone()
            .ok_or_else(|| missing("--checkpoint-key"))?,
        minimum_retention_days: args.minimum_retention_days,
    };
    let report = handoff::create(&inputs, &destination)?;
    output.note(format!("wrote {}", destination.display()));
    output.result(&report, || render(&report));
    Ok(if report.valid {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

/// `handoff --from`: fetch the session from the store into a temp dir, then build as usual.
fn create_from_store(
    from: &str,
    session: &str,
    destination: &std::path::Path,
    trust_root: Option<PathBuf>,
    minimum_retention_days: u32,
    output: &Output,
) -> anyhow::Result<Exit> {
    let target = crate::store::Target::parse(from)?;
    let temp = tempfile::tempdir().context("creating a temp dir for the fetched session")?;
    let runtime = common::runtime()?;
    let inputs = runtime.block_on(async {
        let store = common::open_store(&target).await?;
        Ok::<_, anyhow::Error>(
            crate::pipeline::fetch::fetch_session(
                store.as_ref(),
                session,
                temp.path(),
                trust_root,
                minimum_retention_days,
            )
            .await?,
        )
    })?;
    output.note(format!(
        "fetched session {session} from {target}: every evidence object matched the plan and the receipts"
    ));
    let report = handoff::create(&inputs, destination)?;
    output.note(format!("wrote {}", destination.display()));
    output.result(&report, || render(&report));
    Ok(if report.valid {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

fn run_verify(args: VerifyArgs, output: &Output) -> anyhow::Result<Exit> {
    let online_check = |receipts: &ReceiptSet| -> Result<(bool, String), String> {
        let target = crate::store::Target::parse(&receipts.target).map_err(|e| e.to_string())?;
        let runtime = common::runtime().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let store = crate::store::open(&target)
                .await
                .map_err(|e| e.to_string())?;
            let report = crate::remote::check(store.as_ref(), receipts, false)
                .await
                .map_err(|e| e.to_string())?;
            let detail = if report.findings.is_empty() {
                format!(
                    "{} objects in {} match the receipts",
                    report.objects_checked, receipts.target
                )
            } else {
                report
                    .findings
                    .iter()
                    .map(|f| format!("{:?} {}: {}", f.kind, f.key, f.detail))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            Ok((report.ok, detail))
        })
    };
    let online: Option<&dyn Fn(&ReceiptSet) -> Result<(bool, String), String>> = if args.online {
        Some(&online_check)
    } else {
        None
    };
    let (report, html) = handoff::verify(&args.package, args.minimum_retention_days, online)?;
    if let Some(path) = &args.html {
        crate::archive::write_new(path, html.as_bytes()).map_err(anyhow::Error::msg)?;
        output.note(format!("HTML report written to {}", path.display()));
    }
    output.result(&report, || render(&report));
    Ok(if report.valid {
        Exit::Ok
    } else {
        Exit::Failure
    })
}
