//! `wormvault handoff --session S --output handoff.tar.gz` builds the auditor package;
//! `wormvault handoff verify handoff.tar.gz --trust-root ROOTS [--online TARGET]` re-checks it
//! against keys the auditor pins (and, with `--online`, the store the auditor names).

use std::path::PathBuf;

use anyhow::Context;

use crate::archive::find_session;
use crate::cli::Output;
use crate::cli::args::parse_target;
use crate::cli::common;
use crate::exit::Exit;
use crate::handoff::checks::TOOL_ONLY;
use crate::handoff::{self, HandoffInputs, HandoffReport, OnlineResult, Pins, Verdict};
use crate::receipt::ReceiptSet;
use crate::store::Target;
use crate::trust::SecretSource;

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
    /// Re-check a handoff package against pinned keys; --online TARGET also compares the store.
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
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub from: Option<Target>,
    /// The package to write (never overwritten; nothing is written when the package would not verify).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Where `archive` recorded its sessions.
    #[arg(long, value_name = "DIR", default_value = ".wormvault")]
    pub state_dir: PathBuf,
    /// Trust roots to include (default: the ones the archive verified against).
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
    /// A newer signed checkpoint of the audit log (e.g. after holds were set), covering every
    /// event about the session (default: the one taken at archive time).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Public key (SPKI PEM) of the --checkpoint signer (default: the archive's).
    #[arg(long, value_name = "FILE")]
    pub checkpoint_key: Option<PathBuf>,
    /// Minimum retention in days the package is checked against (at most 365000).
    #[arg(long, default_value_t = crate::retention::MINIMUM_RETENTION_DAYS, value_parser = crate::cli::args::retention_days)]
    pub minimum_retention_days: u32,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The handoff package (.tar.gz).
    pub package: PathBuf,
    /// Trust roots you trust (a root or trust-root bundle), obtained outside the package.
    /// Repeatable. Every signature in the package must come from a pinned key.
    #[arg(long, value_name = "FILE")]
    pub trust_root: Vec<PathBuf>,
    /// SHA-256 fingerprint of a public key you trust (as `keys` prints it). Repeatable.
    #[arg(long, value_name = "SHA256")]
    pub trusted_fingerprint: Vec<String>,
    /// HMAC key file for an HS256-signed bundle (without it the bundle signature is unchecked).
    #[arg(long, value_name = "FILE")]
    pub bundle_key_file: Option<PathBuf>,
    /// HMAC key file for HS256-signed audit records (without it they are unchecked).
    #[arg(long, value_name = "FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// Key id of --audit-key-file (default: the one the records name).
    #[arg(long, value_name = "ID", requires = "audit_key_file")]
    pub audit_key_id: Option<String>,
    /// Also compare this store with the receipts. Must be the package's target; credentials
    /// never go over plain HTTP except to a loopback emulator.
    #[arg(long, value_name = "TARGET")]
    pub online: Option<String>,
    /// Most bytes extracted from the package (default: 100 × the package's size + 64 MiB).
    /// The package's own index can only lower it; raise it for a genuine package of highly
    /// compressible evidence.
    #[arg(long, value_name = "BYTES")]
    pub max_extract_bytes: Option<u64>,
    /// Write the (recomputed) HTML report here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Minimum retention in days, counted from the archive time the audit log proves (at most
    /// 365000).
    #[arg(long, default_value_t = crate::retention::MINIMUM_RETENTION_DAYS, value_parser = crate::cli::args::retention_days)]
    pub minimum_retention_days: u32,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        Some(Command::Verify(verify)) => run_verify(verify, output),
        None => run_create(args.create, output),
    }
}

pub fn render(report: &HandoffReport) -> String {
    let mut text = format!(
        "{} handoff for session {} ({})\n",
        report.verdict.as_str(),
        report.session_id,
        report.target
    );
    for check in &report.checks {
        text.push_str(&format!(
            "  {}  {}: {}\n",
            match check.status.as_str() {
                "pass" => "pass",
                "unchecked" => "UNCHECKED",
                _ => "FAIL",
            },
            check.name,
            check.detail
        ));
    }
    match report.enforcement.as_str() {
        "store" => {}
        // The receipts could not be read (a failed package): nothing is known of the lock.
        "unknown" => text.push_str("  enforcement unknown: the receipts were not read\n"),
        other => text.push_str(&format!("  enforcement {other}: {TOOL_ONLY}\n")),
    }
    text.push_str(&format!(
        "  {} objects, signer {}, {}",
        report.objects.len(),
        report.signer,
        report.signing_key
    ));
    if report.verdict == Verdict::Unpinned {
        text.push_str("\n\nUNPINNED: nothing was verified against a key you trust. The package names these keys:\n");
        let mut flags = Vec::new();
        for key in &report.keys_found {
            text.push_str(&format!(
                "  {:<14} key id {:<20} fingerprint {}\n",
                key.role,
                key.key_id.clone().unwrap_or_else(|| "-".into()),
                key.fingerprint.clone().unwrap_or_else(|| "unknown".into())
            ));
            if let Some(fp) = &key.fingerprint
                && !flags.contains(fp)
            {
                flags.push(fp.clone());
            }
        }
        text.push_str(
            "Check them with their owners out of band, then pin them:\n  wormvault handoff verify PACKAGE",
        );
        for fp in flags {
            text.push_str(&format!(" --trusted-fingerprint {fp}"));
        }
        text.push_str("\nor pin your own copy of the trust roots with --trust-root FILE.");
    }
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
    // The session's log: a local file, or a log in a store read from a copy made after its
    // stored form verified (the guard keeps the copy while the package is built).
    let given_log = record
        .audit_log
        .clone()
        .ok_or_else(|| missing("--audit-log"))?;
    let log = crate::cli::audit::open_log(&given_log, &crate::audit::VerifyOptions::default())?;
    let inputs = HandoffInputs {
        bundle: record.bundle.clone(),
        trust_roots: args
            .trust_root
            .or(record.trust_root.clone())
            .ok_or_else(|| missing("--trust-root"))?,
        plan: record.plan.clone(),
        receipts: record.receipts.clone(),
        audit_log: log.path().to_path_buf(),
        checkpoint: args
            .checkpoint
            .or(record.checkpoint.clone())
            .ok_or_else(|| missing("--checkpoint-key"))?,
        checkpoint_key: args
            .checkpoint_key
            .or(record.checkpoint_key.clone())
            .ok_or_else(|| missing("--checkpoint-key"))?,
        minimum_retention_days: args.minimum_retention_days,
    };
    let report = handoff::create(&inputs, &destination)?;
    output.note(format!("wrote {}", destination.display()));
    output.result(&report, || render(&report));
    Ok(Exit::Ok)
}

/// Is this endpoint's host a loopback address (127.0.0.0/8, ::1, localhost)?
fn is_loopback(endpoint: &str) -> bool {
    url::Url::parse(endpoint).is_ok_and(|url| {
        url.host()
            .is_some_and(|h| crate::aws_endpoints::is_loopback_host(&h))
    })
}

/// Refuse, before connecting, an `--online` store other than the package's or one reached over
/// plain HTTP off the loopback interface (credentials would travel in clear text).
fn check_online_target(named: &str, receipts: &ReceiptSet) -> Result<crate::store::Target, String> {
    let norm = |t: &str| t.trim_end_matches('/').to_string();
    if norm(named) != norm(&receipts.target) {
        return Err(format!(
            "--online {named} is not the package's target {}; refusing to connect (name the store the receipts describe)",
            receipts.target
        ));
    }
    let target = crate::store::Target::parse(named).map_err(|e| e.to_string())?;
    let mut endpoints = Vec::new();
    match &target {
        crate::store::Target::Azure { endpoint, .. } => endpoints.push(endpoint.clone()),
        crate::store::Target::S3 { .. } => {
            for var in [
                "WORMVAULT_S3_ENDPOINT",
                "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_S3",
            ] {
                if let Ok(value) = std::env::var(var) {
                    endpoints.push(value);
                }
            }
        }
        crate::store::Target::Local { .. } => {}
    }
    for endpoint in endpoints {
        if endpoint.to_ascii_lowercase().starts_with("http://") && !is_loopback(&endpoint) {
            return Err(format!(
                "refusing to send credentials over plain HTTP to {endpoint}: only a loopback emulator endpoint (127.0.0.0/8, ::1, localhost) may use http://"
            ));
        }
    }
    Ok(target)
}

/// `handoff --from`: fetch the session from the store into a temp dir, then build as usual.
fn create_from_store(
    target: &Target,
    session: &str,
    destination: &std::path::Path,
    trust_root: Option<PathBuf>,
    minimum_retention_days: u32,
    output: &Output,
) -> anyhow::Result<Exit> {
    let temp = tempfile::tempdir().context("creating a temp dir for the fetched session")?;
    let inputs = common::with_store(target, async |store| {
        Ok(crate::pipeline::fetch::fetch_session(
            store,
            session,
            temp.path(),
            trust_root,
            minimum_retention_days,
        )
        .await?)
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
    let mut pins = Pins::from_files(&args.trust_root)?;
    for typed in &args.trusted_fingerprint {
        let Some(fp) = handoff::checks::normalize_fingerprint(typed) else {
            anyhow::bail!(
                "--trusted-fingerprint {typed:?} is not a SHA-256 fingerprint (64 hex characters, optionally prefixed sha256:)"
            );
        };
        pins.fingerprints.push(fp);
    }
    let load = |path: &PathBuf| {
        SecretSource::File(path.clone())
            .load()
            .with_context(|| format!("reading the HMAC key {}", path.display()))
    };
    let bundle_key = args.bundle_key_file.as_ref().map(load).transpose()?;
    let audit_key = args
        .audit_key_file
        .as_ref()
        .map(load)
        .transpose()?
        .map(|key| (key, args.audit_key_id.clone()));
    let named = args.online.clone();
    let online_check = move |receipts: &ReceiptSet| -> Result<OnlineResult, String> {
        let named = named.as_deref().unwrap_or_default();
        let target = match check_online_target(named, receipts) {
            Ok(target) => target,
            Err(detail) => {
                return Ok(OnlineResult {
                    ok: false,
                    refused: true,
                    holds: Default::default(),
                    detail,
                });
            }
        };
        let runtime = common::runtime().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let store = crate::store::open(&target)
                .await
                .map_err(|e| e.to_string())?;
            let report = crate::remote::check(store.as_ref(), receipts, false)
                .await
                .map_err(|e| e.to_string())?;
            let detail = if report.findings.is_empty() {
                let mut detail = format!(
                    "{} objects in {} match the receipts",
                    report.objects_checked, receipts.target
                );
                if report.digests_recorded_only > 0 {
                    detail.push_str(&format!(
                        " (for {} of them the store reports only the sha256 their writer recorded: their content was not read; `check-remote --rehash` reads it)",
                        report.digests_recorded_only
                    ));
                }
                detail
            } else {
                report
                    .findings
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}: {}",
                            crate::cli::output::words(&f.kind),
                            f.key,
                            f.detail
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            // The hold state now, as the store reports it (shown instead of the packaged one).
            let mut holds = std::collections::BTreeMap::new();
            for receipt in &receipts.receipts {
                if let Ok(Some(stored)) = store.head(&receipt.key).await {
                    holds.insert(receipt.key.clone(), stored.legal_hold);
                }
            }
            Ok(OnlineResult {
                ok: report.ok,
                refused: false,
                holds,
                detail,
            })
        })
    };
    // Refuse a mismatched or plain-HTTP --online before reading anything else.
    if let Some(named) = &args.online {
        crate::store::Target::parse(named).map_err(|e| anyhow::anyhow!(e.to_string()))?;
    }
    let options = handoff::VerifyOptions {
        pins,
        bundle_key,
        audit_key,
        minimum_retention_days: args.minimum_retention_days,
        online: if args.online.is_some() {
            Some(&online_check)
        } else {
            None
        },
        max_extract_bytes: args.max_extract_bytes,
    };
    let (report, html) = handoff::verify(&args.package, &options)?;
    if let Some(path) = &args.html {
        crate::archive::write_new(path, html.as_bytes()).map_err(anyhow::Error::msg)?;
        output.note(format!("HTML report written to {}", path.display()));
    }
    output.result(&report, || render(&report));
    Ok(if report.verdict == Verdict::Verified {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts() {
        for yes in [
            "http://127.0.0.1:10000/devstoreaccount1",
            "http://127.8.9.1",
            "http://localhost:4566",
            "http://[::1]:10000/a",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "http://attacker:10000/a",
            "http://10.0.0.1/a",
            "http://127.0.0.1.evil.com/a",
            "http://user@evil.com/a",
            "http://localhost.evil.com",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
