//! `wormvault keys generate|trust-root|trust-bundle`: Ed25519 key pairs in CAVRA's PEM forms,
//! trust roots and trust-root bundles.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;

use crate::bundle::json::python_indented;
use crate::cli::Output;
use crate::exit::Exit;
use crate::trust::{
    Ed25519Sign as _, KeyPair, KmsKey, KmsSettings, RootStatus, TrustRoot, TrustRootBundle,
    TrustStore,
};

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
    /// Key id; also writes `<output-dir>/<key-id>-trust-root.json` (status active) so the id is
    /// recorded (default id, without a trust root: first 16 hex characters of the public key's
    /// SHA-256).
    #[arg(long)]
    pub key_id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TrustRootArgs {
    /// The SPKI PEM public key the root vouches for.
    #[arg(long, required_unless_present = "kms", conflicts_with = "kms")]
    pub public_key: Option<PathBuf>,
    /// Or: the AWS KMS Ed25519 key (ARN, key id or alias) whose public key (GetPublicKey) the
    /// root vouches for; the key must be ECC_NIST_EDWARDS25519 / SIGN_VERIFY.
    #[arg(long, value_name = "ARN")]
    pub kms: Option<String>,
    /// KMS endpoint (default: AWS's, from the standard chain); plain http:// only to loopback.
    #[arg(
        long,
        value_name = "URL",
        env = "WORMVAULT_KMS_ENDPOINT",
        requires = "kms"
    )]
    pub kms_endpoint: Option<String>,
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
    // The id names a file below: a plain name only.
    if let Some(id) = &args.key_id
        && (id.is_empty()
            || id.len() > 128
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || id.starts_with('.'))
    {
        anyhow::bail!(
            "--key-id {id:?} is not usable: use 1-128 letters, digits, '-', '_' or '.' (not starting with '.')"
        );
    }
    let created_dir = !args.output_dir.exists();
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("creating {}", args.output_dir.display()))?;
    // Modes are set explicitly, never left to the umask (under `umask 000` a created directory
    // would be world-writable and the public key world-writable).
    if created_dir {
        set_mode(&args.output_dir, 0o700)?;
    }
    let pair = KeyPair::generate()?;
    let private_path = args.output_dir.join("evidence-ed25519-private.pem");
    let public_path = args.output_dir.join("evidence-ed25519-public.pem");
    let fingerprint = pair.public().fingerprint();
    let key_id = args
        .key_id
        .clone()
        .unwrap_or_else(|| crate::trust::default_key_id(&fingerprint));
    let root_path = args
        .key_id
        .as_ref()
        .map(|id| args.output_dir.join(format!("{id}-trust-root.json")));
    for path in [Some(&public_path), root_path.as_ref()]
        .into_iter()
        .flatten()
    {
        if path.exists() {
            anyhow::bail!(
                "{} already exists; refusing to overwrite a key file",
                path.display()
            );
        }
    }
    crate::trust::write_private_key(&private_path, &pair.private_pem()?)?;
    set_mode(&private_path, 0o600)?;
    let public_pem = pair.public().spki_pem();
    write_new(&public_path, &public_pem)?;
    set_mode(&public_path, 0o644)?;
    // With --key-id, the matching trust root (status active, valid from now) is written too,
    // so the id chosen here is recorded where verifiers read it (issue #14 item 3).
    if let Some(root_path) = &root_path {
        let root = TrustRoot::new(
            &public_pem,
            Some(key_id.clone()),
            "platform-security",
            RootStatus::Active,
            // Whole seconds: a bundle signed later in this same second (its `created_at` has
            // whole seconds) must not read as signed before the root was valid.
            Some(chrono::SubsecRound::trunc_subsecs(Utc::now(), 0)),
            None,
        )?;
        write_new(root_path, &python_indented(&serde_json::to_value(&root)?))?;
        set_mode(root_path, 0o644)?;
    }
    let result = serde_json::json!({
        "key_id": key_id,
        "public_key_sha256": fingerprint,
        "private_key": private_path,
        "public_key": public_path,
        "trust_root": root_path,
    });
    output.result(&result, || {
        let mut text = format!(
            "generated Ed25519 key {key_id}\n  fingerprint {fingerprint}\n  private key {} (mode 0600)\n  public key  {}",
            private_path.display(),
            public_path.display()
        );
        match &root_path {
            Some(path) => text.push_str(&format!(
                "\n  trust root  {} (key id {key_id}, active; combine roots with `wormvault keys trust-bundle`)",
                path.display()
            )),
            None => text.push_str(
                "\n  (no key id was given, so no trust root was written: pass --key-id, or run `wormvault keys trust-root`)",
            ),
        }
        text
    });
    Ok(Exit::Ok)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:o} on {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

fn trust_root(args: TrustRootArgs, output: &Output) -> anyhow::Result<Exit> {
    let pem = match (&args.public_key, &args.kms) {
        (Some(path), _) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        (None, Some(arn)) => {
            let settings = KmsSettings {
                endpoint: args.kms_endpoint.clone(),
                ..KmsSettings::default()
            };
            let key = KmsKey::connect(arn, &settings)?;
            key.public_key().spki_pem()
        }
        (None, None) => anyhow::bail!("give --public-key PEM or --kms ARN"),
    };
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
    Ok(crate::fs::write_new(path, text.as_bytes())?)
}
