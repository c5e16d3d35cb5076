//! `wormvault bundle create|verify|pack`: CAVRA-compatible evidence bundles. Flag names follow
//! CAVRA's (cavra-compat.md §7) so existing pipeline scripts only change the program name.

use std::path::PathBuf;

use anyhow::Context;

use crate::bundle::{ArchiveLimits, BundleReport, CreateOptions, Signing, VerifyOptions};
use crate::cli::Output;
use crate::exit::Exit;
use crate::trust::{Secret, SecretSource, TrustStore};

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

/// HMAC key sources, shared by create and verify.
#[derive(Debug, clap::Args)]
pub struct HmacKeyArgs {
    /// File holding the HMAC key (one trailing newline is ignored).
    #[arg(
        long,
        alias = "key-file",
        value_name = "PATH",
        conflicts_with = "hmac_key_env"
    )]
    pub hmac_key_file: Option<PathBuf>,
    /// Environment variable holding the HMAC key.
    #[arg(long, alias = "key-env", value_name = "VAR")]
    pub hmac_key_env: Option<String>,
    /// Legacy CAVRA flag: the HMAC key itself (visible in the process list; prefer --key-file).
    #[arg(long = "key", value_name = "VALUE", hide = true, conflicts_with_all = ["hmac_key_file", "hmac_key_env"])]
    pub legacy_key: Option<String>,
}

impl HmacKeyArgs {
    pub fn load(&self, output: &Output) -> anyhow::Result<Option<Secret>> {
        let source = if let Some(path) = &self.hmac_key_file {
            SecretSource::File(path.clone())
        } else if let Some(var) = &self.hmac_key_env {
            SecretSource::Env(var.clone())
        } else if let Some(value) = &self.legacy_key {
            output.warn("--key puts the HMAC key in the process list and shell history; use --key-file PATH or --key-env VAR instead");
            SecretSource::Inline(value.clone())
        } else {
            return Ok(None);
        };
        Ok(Some(source.load()?))
    }
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
    #[arg(long, default_value_t = crate::bundle::DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u64).range(1..=36_500))]
    pub retention_days: u64,
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

/// How to verify a bundle: key material, unsigned opt-in, retention minimum, archive limits.
/// Shared by `bundle verify`, `plan`, `upload` and `archive`.
#[derive(Debug, clap::Args)]
pub struct EvidenceArgs {
    /// Trust root or trust-root bundle (the signature's key id and fingerprint select the root).
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
    /// Require the signature to be by this key id.
    #[arg(long)]
    pub key_id: Option<String>,
    /// SPKI PEM public key to check an Ed25519 signature against.
    #[arg(long, value_name = "PEM")]
    pub public_key: Option<PathBuf>,
    /// Accept an unsigned (SHA256-only) manifest. Not with --key-id: a pinned key id means the
    /// evidence must be signed by that key.
    #[arg(long, conflicts_with = "key_id")]
    pub allow_unsigned: bool,
    #[arg(long, default_value_t = crate::bundle::DEFAULT_RETENTION_DAYS)]
    pub minimum_retention_days: u64,
    /// Largest archive entry accepted, in bytes.
    #[arg(long, default_value_t = ArchiveLimits::default().max_entry_bytes)]
    pub max_entry_bytes: u64,
    /// Most archive entries accepted.
    #[arg(long, default_value_t = ArchiveLimits::default().max_entries)]
    pub max_entries: usize,
    #[command(flatten)]
    pub hmac: HmacKeyArgs,
}

impl EvidenceArgs {
    /// Load the key material and build the verifier's options.
    pub fn options(&self, output: &Output) -> anyhow::Result<VerifyOptions> {
        let public_key = match &self.public_key {
            Some(path) => {
                let (key, pem) = crate::trust::load_public_key(path)?;
                Some((key, crate::trust::fingerprint(&pem)))
            }
            None => None,
        };
        let trust = match &self.trust_root {
            Some(path) => Some(load_trust_roots(path)?),
            None => None,
        };
        Ok(VerifyOptions {
            public_key,
            trust,
            key_id: self.key_id.clone(),
            hmac_key: self.hmac.load(output)?,
            allow_unsigned: self.allow_unsigned,
            minimum_retention_days: Some(self.minimum_retention_days),
            limits: ArchiveLimits {
                max_entries: self.max_entries,
                max_entry_bytes: self.max_entry_bytes,
                ..ArchiveLimits::default()
            },
            progress: None,
            defer_hashing_from: None,
        })
    }
}

/// Load a trust root or trust-root bundle, refusing one over
/// [`crate::limits::MAX_TRUST_ROOTS_BYTES`] before reading it.
pub fn load_trust_roots(path: &std::path::Path) -> anyhow::Result<TrustStore> {
    TrustStore::load(path).with_context(|| format!("loading trust roots from {}", path.display()))
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
    let created = crate::bundle::create(&args.inputs, &options)?;
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
    let options = args.evidence.options(output)?;
    let report = crate::bundle::verify(&args.bundle, &options)?;
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
    if let Some(signature) = &report.signature {
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
