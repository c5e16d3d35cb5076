//! `wormvault bundle create|verify|pack`: CAVRA-compatible evidence bundles. Flag names follow
//! CAVRA's (cavra-compat.md §7) so existing pipeline scripts only change the program name.

use std::path::PathBuf;

use crate::bundle::{BundleReport, CreateOptions, FindingKind, ManifestSignature, Signing};
use crate::cli::Output;
use crate::cli::args::{EvidenceArgs, HmacKeyArgs};
use crate::cli::common;
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: BundleCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BundleCommand {
    /// Create a signed evidence bundle from files or a directory.
    Create(CreateArgs),
    /// Verify a bundle directory or .tar.gz: files, signature, retention; reports every problem.
    Verify(VerifyArgs),
    /// Pack a bundle directory into a deterministic .tar.gz (same input, same bytes).
    Pack(PackArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Files and/or directories (a directory contributes its top-level files).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// New bundle directory (must not exist or be empty).
    #[arg(long)]
    pub output: PathBuf,
    /// Who signs (recorded in the manifest).
    #[arg(long, default_value = "wormvault")]
    pub signer: String,
    /// PKCS#8 PEM Ed25519 private key (file mode 0600) to sign with.
    #[arg(long, value_name = "PEM")]
    pub private_key: Option<PathBuf>,
    /// Key id for an Ed25519 signature (default: first 16 hex characters of the fingerprint).
    #[arg(long)]
    pub key_id: Option<String>,
    /// Retention period in days written into the signed retention policy.
    #[arg(long, default_value_t = crate::bundle::DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u64).range(1..=36_500))]
    pub retention_days: u64,
    /// Data classification written into the signed retention policy.
    #[arg(long, default_value = "regulated-sdlc")]
    pub classification: String,
    /// Mark the evidence as under legal hold.
    #[arg(long)]
    pub legal_hold: bool,
    /// Session id for the retention policy (default: bundle-<timestamp>).
    #[arg(long)]
    pub session_id: Option<String>,
    /// Write an unsigned (SHA256-only) manifest; verifiers refuse it without --allow-unsigned.
    #[arg(long, conflicts_with = "private_key")]
    pub unsigned: bool,
    #[command(flatten)]
    pub hmac: HmacKeyArgs,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Bundle directory or .tar.gz archive.
    pub bundle: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

#[derive(Debug, clap::Args)]
pub struct PackArgs {
    /// Bundle directory.
    pub bundle: PathBuf,
    /// The .tar.gz to write (never overwritten).
    #[arg(long)]
    pub output: PathBuf,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        BundleCommand::Create(args) => create(args, output),
        BundleCommand::Verify(args) => verify(args, output),
        BundleCommand::Pack(args) => pack(args, output),
    }
}

fn create(args: CreateArgs, output: &Output) -> anyhow::Result<Exit> {
    let hmac = args.hmac.load(output)?;
    let signing = match (&args.private_key, hmac, args.unsigned) {
        (Some(_), Some(_), _) => {
            anyhow::bail!("give either --private-key (Ed25519) or an HMAC key, not both")
        }
        (Some(path), None, _) => Signing::Ed25519 {
            key: crate::trust::load_private_key(path)?,
            key_id: args.key_id.clone(),
        },
        (None, Some(secret), false) => {
            if args.key_id.is_some() {
                anyhow::bail!(
                    "--key-id applies to Ed25519 signatures only (CAVRA's HS256 signatures carry no key id)"
                );
            }
            Signing::Hmac(secret)
        }
        (None, Some(_), true) => anyhow::bail!("--unsigned conflicts with an HMAC key"),
        (None, None, true) => Signing::Unsigned,
        (None, None, false) => anyhow::bail!(
            "no signing key: pass --private-key PEM (Ed25519), --key-file/--key-env (HMAC), or --unsigned"
        ),
    };
    let options = CreateOptions {
        output: args.output,
        signer: args.signer,
        signing,
        retention_days: args.retention_days,
        classification: args.classification,
        legal_hold: args.legal_hold,
        session_id: args.session_id,
        created_at: None,
    };
    // The inputs' size (files, and a directory's top-level files) is the bar's total.
    let total = args
        .inputs
        .iter()
        .map(|input| match std::fs::metadata(input) {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => common::bundle_bytes(input).unwrap_or(0),
            Err(_) => 0,
        })
        .sum();
    let (hook, bar) = common::bytes_progress(output, total, "hashing");
    let created = crate::bundle::create_with_progress(&args.inputs, &options, &|n| {
        if let Some(hook) = &hook {
            (hook.0)(n)
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let created = created?;
    output.result(&created, || {
        let mut text = format!(
            "created bundle {} ({} files, {}{})\n  digest {}",
            created.output.display(),
            created.files.len(),
            created.algorithm,
            created
                .key_id
                .as_ref()
                .map(|k| format!(" by {k}"))
                .unwrap_or_default(),
            created.digest
        );
        for file in &created.files {
            text.push_str(&format!(
                "\n  {}  {:>10}  {}",
                file.sha256, file.bytes, file.path
            ));
        }
        text
    });
    Ok(Exit::Ok)
}

fn verify(args: VerifyArgs, output: &Output) -> anyhow::Result<Exit> {
    let (options, bar) = crate::cli::args::verify_options(&args.evidence, &args.bundle, output)?;
    let report = crate::bundle::verify(&args.bundle, &options);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report?;
    output.result(&report, || render(&report));
    Ok(if report.valid {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

pub fn render(report: &BundleReport) -> String {
    let mut text = if report.valid {
        format!("VALID {}", report.input.display())
    } else {
        format!(
            "INVALID {} ({} problems)",
            report.input.display(),
            report.findings.len()
        )
    };
    // An unsigned manifest is said so plainly, even when --allow-unsigned accepted it.
    let malformed = report.findings.iter().any(|f| {
        matches!(
            f.kind,
            FindingKind::SignatureMalformed | FindingKind::UnsupportedAlgorithm
        )
    });
    let unsigned = !malformed
        && report.manifest.as_ref().is_some_and(|manifest| {
            matches!(
                manifest.signature,
                None | Some(ManifestSignature::SHA256 { .. })
            )
        });
    if unsigned {
        text.push_str(if report.valid {
            "\n  signature NONE: the manifest is UNSIGNED (accepted only because of --allow-unsigned); nothing vouches for who made this evidence"
        } else {
            "\n  signature NONE: the manifest is UNSIGNED"
        });
    } else if let Some(signature) = &report.signature {
        text.push_str(&format!(
            "\n  signature {}{}{}",
            signature.algorithm,
            signature
                .key_id
                .as_ref()
                .map(|k| format!(" by {k}"))
                .unwrap_or_default(),
            if signature.verified {
                " (verified)"
            } else {
                " (not verified)"
            }
        ));
    }
    text.push_str(&format!(
        "\n  files {} listed and present",
        report.files.len()
    ));
    if let Some(policy) = &report.retention_policy {
        text.push_str(&format!(
            "\n  retention {} days until {}",
            policy.retention_days, policy.retain_until
        ));
    }
    if let Some(digest) = &report.digest {
        text.push_str(&format!("\n  digest {digest}"));
    }
    for finding in &report.findings {
        text.push_str(&format!("\n  - [{}] {}", finding.kind, finding.message));
    }
    text
}

fn pack(args: PackArgs, output: &Output) -> anyhow::Result<Exit> {
    let packed = crate::bundle::pack(&args.bundle, &args.output)?;
    output.result(&packed, || {
        format!(
            "packed {} files into {} ({} bytes, sha256 {})",
            packed.entries.len(),
            packed.output.display(),
            packed.bytes,
            packed.sha256
        )
    });
    Ok(Exit::Ok)
}
