//! `wormvault keys generate|trust-root|trust-bundle`: Ed25519 key pairs in CAVRA's PEM forms,
//! trust roots and trust-root bundles.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;

use crate::bundle::json::python_indented;
use crate::cli::Output;
use crate::exit::Exit;
use crate::trust::{KeyPair, RootStatus, TrustRoot, TrustRootBundle, TrustStore};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Generate an Ed25519 key pair (private key file mode 0600, never overwritten).
    Generate(GenerateArgs),
    /// Write a trust root for a public key (key id, owner, status, validity window).
    TrustRoot(TrustRootArgs),
    /// Combine trust roots into a trust-root bundle (sorted by key id; duplicate ids rejected).
    TrustBundle(TrustBundleArgs),
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Directory for evidence-ed25519-private.pem and evidence-ed25519-public.pem.
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Key id to report (default: first 16 hex characters of the public key's SHA-256).
    #[arg(long)]
    pub key_id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TrustRootArgs {
    /// The SPKI PEM public key the root vouches for.
    #[arg(long)]
    pub public_key: PathBuf,
    /// Where to write the trust root JSON (never overwritten).
    #[arg(long)]
    pub output: PathBuf,
    /// Key id (default: first 16 hex characters of the public key's SHA-256).
    #[arg(long)]
    pub key_id: Option<String>,
    /// Who owns the key.
    #[arg(long, default_value = "platform-security")]
    pub owner: String,
    /// active, retired or revoked.
    #[arg(long, default_value = "active", value_parser = parse_status)]
    pub status: RootStatus,
    /// Start of validity (ISO 8601 with offset; default now).
    #[arg(long, value_parser = parse_time)]
    pub valid_from: Option<chrono::DateTime<Utc>>,
    /// End of validity (ISO 8601 with offset; default open-ended).
    #[arg(long, value_parser = parse_time)]
    pub valid_until: Option<chrono::DateTime<Utc>>,
}

#[derive(Debug, clap::Args)]
pub struct TrustBundleArgs {
    /// Trust root or trust-root bundle files to combine.
    #[arg(required = true)]
    pub roots: Vec<PathBuf>,
    /// Where to write the bundle (never overwritten).
    #[arg(long)]
    pub output: PathBuf,
}

fn parse_status(text: &str) -> Result<RootStatus, String> {
    match text {
        "active" => Ok(RootStatus::Active),
        "retired" => Ok(RootStatus::Retired),
        "revoked" => Ok(RootStatus::Revoked),
        other => Err(format!("{other:?} is not one of active, retired, revoked")),
    }
}

pub(crate) fn parse_time(text: &str) -> Result<chrono::DateTime<Utc>, String> {
    crate::trust::parse_timestamp(text).ok_or_else(|| {
        format!(
            "{text:?} is not an ISO 8601 timestamp with an offset (e.g. 2026-01-01T00:00:00+00:00)"
        )
    })
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        KeysCommand::Generate(args) => generate(args, output),
        KeysCommand::TrustRoot(args) => trust_root(args, output),
        KeysCommand::TrustBundle(args) => trust_bundle(args, output),
    }
}

fn generate(args: GenerateArgs, output: &Output) -> anyhow::Result<Exit> {
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("creating {}", args.output_dir.display()))?;
    let pair = KeyPair::generate()?;
    let private_path = args.output_dir.join("evidence-ed25519-private.pem");
    let public_path = args.output_dir.join("evidence-ed25519-public.pem");
    if public_path.exists() {
        anyhow::bail!(
            "{} already exists; refusing to overwrite a key file",
            public_path.display()
        );
    }
    crate::trust::write_private_key(&private_path, &pair.private_pem()?)?;
    let public_pem = pair.public().spki_pem();
    write_new(&public_path, &public_pem)?;
    let fingerprint = pair.public().fingerprint();
    let key_id = args
        .key_id
        .unwrap_or_else(|| crate::trust::default_key_id(&fingerprint));
    let result = serde_json::json!({
        "key_id": key_id,
        "public_key_sha256": fingerprint,
        "private_key": private_path,
        "public_key": public_path,
    });
    output.result(&result, || {
        format!(
            "generated Ed25519 key {key_id}\n  fingerprint {fingerprint}\n  private key {} (mode 0600)\n  public key  {}",
            private_path.display(),
            public_path.display()
        )
    });
    Ok(Exit::Ok)
}

fn trust_root(args: TrustRootArgs, output: &Output) -> anyhow::Result<Exit> {
    let pem = std::fs::read_to_string(&args.public_key)
        .with_context(|| format!("reading {}", args.public_key.display()))?;
    let root = TrustRoot::new(
        &pem,
        args.key_id,
        &args.owner,
        args.status,
        Some(args.valid_from.unwrap_or_else(Utc::now)),
        args.valid_until,
    )?;
    write_new(
        &args.output,
        &python_indented(&serde_json::to_value(&root)?),
    )?;
    output.result(&root, || {
        format!(
            "wrote trust root {} ({}) to {}",
            root.key_id,
            root.status.as_str(),
            args.output.display()
        )
    });
    Ok(Exit::Ok)
}

fn trust_bundle(args: TrustBundleArgs, output: &Output) -> anyhow::Result<Exit> {
    let mut roots = Vec::new();
    for path in &args.roots {
        roots.extend(TrustStore::load(path)?.roots().iter().cloned());
    }
    let bundle = TrustRootBundle::new(roots, Utc::now())?;
    TrustStore::new(bundle.trust_roots.clone())?;
    write_new(
        &args.output,
        &python_indented(&serde_json::to_value(&bundle)?),
    )?;
    output.result(&bundle, || {
        let ids: Vec<&str> = bundle
            .trust_roots
            .iter()
            .map(|r| r.key_id.as_str())
            .collect();
        format!(
            "wrote trust bundle with {} roots ({}) to {}",
            ids.len(),
            ids.join(", "),
            args.output.display()
        )
    });
    Ok(Exit::Ok)
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
