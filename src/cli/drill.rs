//! `wormvault drill tamper|recovery`: the tamper and recovery drills whose evidence JSON
//! readiness packets reference (`tamper_drill_ref`, `recovery_drill_ref`). Exit 0 when the drill
//! passes, 1 when a tamper went uncaught or the restore differs, 2 on usage or I/O errors.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::Serialize;

use crate::audit::SignatureCheck;
use crate::audit::record::DEFAULT_HMAC_KEY_ID;
use crate::cli::Output;
use crate::cli::bundle::EvidenceArgs;
use crate::cli::common;
use crate::drill::{self, RecoveryDrillOptions, TamperOptions};
use crate::exit::{Exit, Refusal};
use crate::receipt::ReceiptSet;
use crate::trust::{RootStatus, SecretSource, TrustRoot, TrustStore};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DrillCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DrillCommand {
    /// Tamper with copies of a bundle and an audit log in every way the verifiers know; check each is caught and localised.
    Tamper(TamperArgs),
    /// Restore an archived session from the store into a fresh directory and verify it is the archived bundle.
    Recovery(RecoveryArgs),
}

#[derive(Debug, clap::Args)]
pub struct TamperArgs {
    /// The audit log to copy and tamper with (only read).
    #[arg(long)]
    pub log: PathBuf,
    /// The bundle directory to copy and tamper with (only read).
    #[arg(long)]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub audit_keys: AuditKeyArgs,
    /// Where to write the drill evidence JSON (never overwritten).
    #[arg(long)]
    pub output: PathBuf,
}

/// Record-signature material for the audit log (named apart from the bundle's key flags);
/// shared with `status`.
#[derive(Debug, clap::Args)]
pub struct AuditKeyArgs {
    /// File holding the audit log's HMAC key.
    #[arg(long, value_name = "PATH", conflicts_with = "audit_key_env")]
    pub audit_key_file: Option<PathBuf>,
    /// Environment variable holding the audit log's HMAC key.
    #[arg(long, value_name = "VAR")]
    pub audit_key_env: Option<String>,
    /// The audit log's HMAC key id (default audit-log-hmac) or Ed25519 key id (with --audit-public-key).
    #[arg(long)]
    pub audit_key_id: Option<String>,
    /// Trust roots for Ed25519-signed audit records.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["audit_public_key", "audit_key_file", "audit_key_env"])]
    pub audit_trust_root: Option<PathBuf>,
    /// SPKI PEM public key for Ed25519-signed audit records.
    #[arg(long, value_name = "PEM", conflicts_with_all = ["audit_key_file", "audit_key_env"])]
    pub audit_public_key: Option<PathBuf>,
}

impl AuditKeyArgs {
    pub fn signature_check(&self) -> anyhow::Result<SignatureCheck> {
        let hmac = match (&self.audit_key_file, &self.audit_key_env) {
            (Some(path), _) => Some(SecretSource::File(path.clone())),
            (None, Some(var)) => Some(SecretSource::Env(var.clone())),
            (None, None) => None,
        };
        if let Some(source) = hmac {
            let key_id = self
                .audit_key_id
                .clone()
                .unwrap_or_else(|| DEFAULT_HMAC_KEY_ID.to_string());
            return Ok(SignatureCheck::Hmac {
                key: source.load()?.expose().to_vec(),
                key_id,
            });
        }
        if let Some(path) = &self.audit_trust_root {
            return Ok(SignatureCheck::Ed25519 {
                trust: TrustStore::load(path)?,
            });
        }
        if let Some(path) = &self.audit_public_key {
            let (key, pem) = crate::trust::load_public_key(path)?;
            let key_id = self
                .audit_key_id
                .clone()
                .unwrap_or_else(|| crate::trust::default_key_id(&key.fingerprint()));
            let root = TrustRoot::new(
                &pem,
                Some(key_id),
                "command line",
                RootStatus::Active,
                None,
                None,
            )?;
            return Ok(SignatureCheck::Ed25519 {
                trust: TrustStore::new(vec![root])?,
            });
        }
        Ok(SignatureCheck::None)
    }
}

#[derive(Debug, clap::Args)]
pub struct RecoveryArgs {
    /// The store the session was archived to (file:///path, s3://bucket/prefix, …).
    #[arg(long)]
    pub target: String,
    /// The receipts of the archived session.
    #[arg(long)]
    pub receipts: PathBuf,
    /// A fresh directory to restore into (must not exist).
    #[arg(long)]
    pub output_dir: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    /// Also write the drill evidence JSON here (never overwritten).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        DrillCommand::Tamper(args) => tamper(args, output),
        DrillCommand::Recovery(args) => recovery(args, output),
    }
}

/// Write evidence JSON to a new file (never replacing one).
fn write_evidence<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("rendering drill evidence")?;
    text.push('\n');
    crate::archive::write_new(path, text.as_bytes()).map_err(|e| anyhow!(e))
}

fn tamper(args: TamperArgs, output: &Output) -> anyhow::Result<Exit> {
    if args.output.exists() {
        anyhow::bail!(
            "{} already exists; drill evidence is never overwritten — pass another --output",
            args.output.display()
        );
    }
    let options = TamperOptions {
        bundle: args.evidence.options(output)?,
        audit_signatures: args.audit_keys.signature_check()?,
    };
    let scratch =
        tempfile::tempdir().context("creating a scratch directory for the tampered copies")?;
    let drill = drill::tamper(&args.bundle, &args.log, &options, scratch.path())?;
    write_evidence(&args.output, &drill)?;
    output.result(&drill, || {
        let mut text = format!(
            "tamper drill {}: {} cases, {} passed, {} failed, {} not applicable; inputs {}\n  evidence {}",
            if drill.passed { "PASSED" } else { "FAILED" },
            drill.summary.cases,
            drill.summary.passed,
            drill.summary.failed,
            drill.summary.not_applicable,
            if drill.inputs_unchanged { "unchanged" } else { "CHANGED" },
            args.output.display()
        );
        for case in &drill.cases {
            text.push_str(&format!("\n  {:<15} {:<38} {}", case.outcome.text(), case.id, case.reason));
        }
        text
    });
    Ok(if drill.passed {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

fn recovery(args: RecoveryArgs, output: &Output) -> anyhow::Result<Exit> {
    if let Some(report) = &args.report
        && report.exists()
    {
        anyhow::bail!(
            "{} already exists; drill evidence is never overwritten — pass another --report",
            report.display()
        );
    }
    let target = common::parse_target(&args.target)?;
    let receipts = ReceiptSet::load(&args.receipts).map_err(|e| anyhow!(e))?;
    if crate::store::Target::parse(&receipts.target).ok().as_ref() != Some(&target) {
        return Err(anyhow::Error::new(Refusal(format!(
            "receipts {} are for target {}, not {target}; pass the target the session was archived to",
            args.receipts.display(),
            receipts.target
        ))));
    }
    let options = RecoveryDrillOptions {
        bundle: args.evidence.options(output)?,
    };
    let runtime = common::runtime()?;
    let drill = runtime.block_on(async {
        let store = common::open_store(&target).await?;
        anyhow::Ok(
            drill::recovery(
                store.as_ref(),
                &receipts,
                &args.receipts,
                &args.output_dir,
                &options,
            )
            .await?,
        )
    })?;
    if let Some(path) = &args.report {
        write_evidence(path, &drill)?;
    }
    output.result(&drill, || {
        let mut text = format!(
            "recovery drill {}: session {} restored from {} into {}\n  {} objects, {}; bundle {}; digest {}",
            if drill.passed { "PASSED" } else { "FAILED" },
            drill.session_id,
            drill.target,
            drill.destination,
            drill.files.len(),
            if drill.identical { "identical to the receipts" } else { "NOT identical to the receipts" },
            match &drill.bundle {
                Some(bundle) if bundle.valid => "verifies".to_string(),
                Some(bundle) => format!("does NOT verify ({} findings)", bundle.findings.len()),
                None => "not verified".to_string(),
            },
            if drill.bundle_digest_matches { "matches the receipts" } else { "does NOT match the receipts" },
        );
        for problem in &drill.problems {
            text.push_str(&format!("\n  - {problem}"));
        }
        text
    });
    Ok(if drill.passed {
        Exit::Ok
    } else {
        Exit::Failure
    })
}
