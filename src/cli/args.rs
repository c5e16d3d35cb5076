//! Every argument group of the command line, defined once and `#[command(flatten)]`ed into the
//! commands that take it (architecture-2.md §2.3): the target, the evidence (bundle
//! verification) flags, plan and execute flags, preflight relaxations, the bundle's HMAC key and
//! the audit log's key flags, and `audit`'s own groups (log, alert file, keys, checkpoint key)
//! under CAVRA's names. Outside `audit` (which keeps CAVRA's `--key-file`/`--key-env`,
//! cavra-compat.md §7) the audit log's key has one spelling, `--audit-key-*`; the spellings
//! earlier releases used stay accepted as hidden aliases so existing scripts keep working.
//! The groups resolve themselves into library values (`VerifyOptions`, `PlanRequest`,
//! `ExecuteRequest`, `Signer`, `SignatureCheck`), so commands never re-derive them.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use ed25519_dalek::pkcs8::DecodePublicKey;

use crate::audit::checkpoint::{CheckpointKey, SegmentAnchor, SegmentStart};
use crate::audit::record::DEFAULT_HMAC_KEY_ID;
use crate::audit::{Checkpoint, SignatureCheck, Signer};
use crate::bundle::{ArchiveLimits, VerifyOptions};
use crate::cli::Output;
use crate::cli::common;
use crate::exit::Refusal;
use crate::pipeline::{
    AnchorSettings, AuditSettings, ExecuteRequest, PlanRequest, SessionSettings,
};
use crate::store::{PreflightOptions, RetentionMode, Target};
use crate::trust::{
    KmsSettings, PublicKey, RootStatus, Secret, SecretSource, SigningKeySource, TrustRoot,
    TrustStore,
};

/// Parse a target argument (`value_parser = parse_target`): a bad target is a usage error.
pub fn parse_target(text: &str) -> Result<Target, crate::store::TargetError> {
    Target::parse(text)
}

/// How to reach S3, spelled as the aws CLI's global options and global here too, so every
/// command that opens an `s3://` target (archive, upload, plan, target, hold, status,
/// check-remote, handoff, drill, audit logs kept in a bucket) honours them. Unset, the standard
/// AWS chain decides (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, the
/// profile's settings); a flag wins over all of them.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "S3 connection (as the aws CLI)")]
pub struct S3ConnectionArgs {
    /// Named profile from the AWS config and credentials files (default: AWS_PROFILE, then
    /// `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region of the bucket (default: AWS_REGION, then the profile's region).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// S3 endpoint URL for S3-compatible stores and emulators (default: AWS_ENDPOINT_URL_S3,
    /// AWS_ENDPOINT_URL, then the profile's endpoint_url). https:// only, except http:// to a
    /// loopback emulator.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

impl S3ConnectionArgs {
    /// The library's connection options (empty strings count as unset, as in the aws CLI).
    pub fn connection(&self) -> crate::store::s3::S3Connection {
        let set = |v: &Option<String>| {
            v.as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        crate::store::s3::S3Connection {
            profile: set(&self.profile),
            region: set(&self.region),
            endpoint_url: set(&self.endpoint_url),
        }
    }
}

/// A positional storage target.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArg {
    /// s3://bucket/prefix, azure://account/container/prefix, azure+http://host:port/account/container/prefix, file:///path
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Target,
}

/// Flags that relax preflight; each must be named explicitly.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Preflight (what the target must be)")]
pub struct PreflightFlags {
    /// S3: accept SSE-S3 (AES256) default encryption instead of requiring SSE-KMS.
    #[arg(long)]
    pub allow_sse_s3: bool,
    /// Accept a store that cannot confirm immutability; every receipt then says `enforcement: unconfirmed`.
    #[arg(long)]
    pub accept_unenforced_storage: bool,
}

impl PreflightFlags {
    pub fn options(&self) -> PreflightOptions {
        PreflightOptions {
            allow_sse_s3: self.allow_sse_s3,
            allow_unenforced: self.accept_unenforced_storage,
        }
    }
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

/// How to verify a bundle: key material, unsigned opt-in, retention minimum, archive limits.
/// Shared by `bundle verify`, `plan`, `upload` and `archive`.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Verification (the bundle and its keys)")]
pub struct EvidenceArgs {
    /// Trust root or trust-root bundle (the signature's key id and fingerprint select the root).
    #[arg(long, value_name = "FILE", env = "WORMVAULT_TRUST_ROOT")]
    pub trust_root: Option<PathBuf>,
    /// Require the signature to be by this key id.
    #[arg(long, env = "WORMVAULT_KEY_ID")]
    pub key_id: Option<String>,
    /// SPKI PEM public key to check an Ed25519 signature against.
    #[arg(long, value_name = "PEM")]
    pub public_key: Option<PathBuf>,
    /// Accept an unsigned (SHA256-only) manifest. Not with --key-id: a pinned key id means the
    /// evidence must be signed by that key.
    #[arg(long, conflicts_with = "key_id")]
    pub allow_unsigned: bool,
    /// Refuse a bundle whose signed retention policy keeps the evidence fewer days than this
    /// (at most 365000).
    #[arg(long, default_value_t = crate::bundle::DEFAULT_RETENTION_DAYS, value_parser = retention_days_u64)]
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

/// A number of days of retention given on the command line: a whole number no larger than
/// [`crate::handoff::checks::MAX_RETENTION_DAYS`] (about 1000 years; more cannot be a date a
/// store takes), refused as a usage error (exit 2) before anything runs.
pub fn retention_days(text: &str) -> Result<u32, String> {
    let digits = text.trim();
    let out_of_range = || {
        format!(
            "{digits} days is out of range: at most {} days (about 1000 years)",
            crate::handoff::checks::MAX_RETENTION_DAYS
        )
    };
    // A number too large for any integer type is out of range too, not "not a number".
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.trim_start_matches('0').len() > 9
    {
        return Err(out_of_range());
    }
    let days: u32 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of days"))?;
    if days > crate::handoff::checks::MAX_RETENTION_DAYS {
        return Err(out_of_range());
    }
    Ok(days)
}

/// [`retention_days`] for the options kept as `u64`.
pub fn retention_days_u64(text: &str) -> Result<u64, String> {
    retention_days(text).map(u64::from)
}

/// Load a trust root or trust-root bundle, refusing one over
/// [`crate::limits::MAX_TRUST_ROOTS_BYTES`] before reading it.
pub fn load_trust_roots(path: &std::path::Path) -> anyhow::Result<TrustStore> {
    TrustStore::load(path).with_context(|| format!("loading trust roots from {}", path.display()))
}

/// Where and how to store: shared by `plan` and `archive`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Plan (where, how long, held)")]
pub struct PlanArgs {
    /// Target: s3://bucket/prefix, azure://account/container/prefix, azure+http://host:port/account/container/prefix, file:///path
    #[arg(long = "to", value_name = "TARGET", value_parser = parse_target)]
    pub to: Option<Target>,
    /// CAVRA-compatible alternative to --to: S3 bucket.
    #[arg(long, conflicts_with = "to")]
    pub s3_bucket: Option<String>,
    /// CAVRA-compatible: S3 key prefix (with --s3-bucket).
    #[arg(long, requires = "s3_bucket", default_value = "")]
    pub s3_prefix: String,
    /// CAVRA-compatible alternative to --to: Azure storage account.
    /// (Not with --s3-bucket: a plan is for one store.)
    #[arg(long, conflicts_with = "to", requires = "azure_container")]
    pub azure_account: Option<String>,
    /// CAVRA-compatible: Azure container (with --azure-account).
    #[arg(long, requires = "azure_account")]
    pub azure_container: Option<String>,
    /// Session id for the object prefix (default: the bundle's retention-policy session_id).
    #[arg(long)]
    pub session_id: Option<String>,
    /// Place a legal hold for this case id on every object at upload, registered in the audit
    /// log (then required) as the case's `legal_hold.set` event. Required when the bundle's
    /// signed retention policy says `legal_hold: true`.
    #[arg(long, value_name = "CASE")]
    pub legal_hold: Option<String>,
    /// Use GOVERNANCE (S3) / Unlocked (Azure) retention instead of COMPLIANCE / Locked.
    #[arg(long)]
    pub governance: bool,
    /// Retain longer than the bundle's policy (never below the minimum; at most 365000).
    #[arg(long, value_parser = retention_days)]
    pub retention_days: Option<u32>,
}

impl PlanArgs {
    pub fn target(&self) -> anyhow::Result<Target> {
        if self.s3_bucket.is_some() && self.azure_account.is_some() {
            // CAVRA's plan names both stores; a wormvault plan is executed against exactly one.
            anyhow::bail!(
                "--s3-bucket with --azure-account: a wormvault plan is for one store (it is executed against exactly that store, unlike CAVRA's plan naming both); run `plan` (or `archive`) once with --s3-bucket and once with --azure-account/--azure-container"
            );
        }
        if let Some(to) = &self.to {
            return Ok(to.clone());
        }
        if let Some(bucket) = &self.s3_bucket {
            return Ok(parse_target(&format!("s3://{bucket}/{}", self.s3_prefix))?);
        }
        if let (Some(account), Some(container)) = (&self.azure_account, &self.azure_container) {
            return Ok(parse_target(&format!("azure://{account}/{container}"))?);
        }
        anyhow::bail!(
            "no target: pass --to TARGET (or --s3-bucket / --azure-account with --azure-container)"
        )
    }

    pub fn request(&self, minimum_retention_days: u64) -> anyhow::Result<PlanRequest> {
        if let Some(case) = &self.legal_hold {
            crate::hold::check_case_id(case).context("--legal-hold")?;
        }
        Ok(PlanRequest {
            target: self.target()?,
            session_id: self.session_id.clone(),
            mode: if self.governance {
                RetentionMode::Governance
            } else {
                RetentionMode::Compliance
            },
            legal_hold_case: self.legal_hold.clone(),
            retention_days: self.retention_days,
            minimum_retention_days: u32::try_from(minimum_retention_days)
                .context("--minimum-retention-days is out of range")?,
            now: chrono::Utc::now(),
        })
    }
}

/// How to execute a plan: shared by `upload` and `archive`.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Upload and receipts")]
pub struct ExecuteArgs {
    #[command(flatten)]
    pub preflight: PreflightFlags,
    /// Objects uploaded at once [default: the target's, see `store::default_concurrency`: 16
    /// for S3 (bounded by S3's request rate, not memory: bodies stream from disk), 4 otherwise].
    #[arg(
        long,
        help_heading = "Upload and receipts",
        env = "WORMVAULT_CONCURRENCY"
    )]
    pub concurrency: Option<usize>,
    /// Where to write the receipts (default: receipts-<session>-<time>.json here). Never overwritten.
    #[arg(long, value_name = "FILE", help_heading = "Upload and receipts")]
    pub receipts_out: Option<PathBuf>,
    /// Sign the receipts with this Ed25519 private key (PKCS#8 PEM, mode 0600), or with an AWS
    /// KMS Ed25519 key named `awskms:ARN`.
    #[arg(
        long,
        value_name = "PEM|awskms:ARN",
        help_heading = "Upload and receipts"
    )]
    pub receipts_key: Option<PathBuf>,
    /// Key id for the receipts signature (default: derived from the public key).
    #[arg(long, help_heading = "Upload and receipts")]
    pub receipts_key_id: Option<String>,
    /// Append an `evidence.archived` event to this audit log: a JSONL file, or a log kept in
    /// WORM storage named by a target URL (s3://bucket/prefix, azure://…, file:///…).
    #[arg(
        long,
        value_name = "FILE|URL",
        help_heading = "Audit log and anchor",
        env = "WORMVAULT_AUDIT_LOG"
    )]
    pub audit_log: Option<PathBuf>,
    /// Who the audit event names as actor.
    #[arg(
        long,
        default_value = "wormvault",
        help_heading = "Audit log and anchor"
    )]
    pub actor: String,
    /// How the audit event is signed: `--audit-signing-key` (Ed25519) or the audit log's HMAC key.
    #[command(flatten)]
    pub audit_keys: AuditSignArgs,
    /// After the event, sign a checkpoint of the audit log with this Ed25519 key (PEM file, or
    /// `awskms:ARN`) and upload it locked beside the evidence.
    #[arg(
        long,
        value_name = "PEM|awskms:ARN",
        requires = "audit_log",
        help_heading = "Audit log and anchor"
    )]
    pub checkpoint_key: Option<PathBuf>,
    /// Checkpoint origin line (the log's name).
    #[arg(
        long,
        default_value = "wormvault.audit-log",
        help_heading = "Audit log and anchor"
    )]
    pub checkpoint_origin: String,
    /// Local copy of the signed checkpoint (default: next to the receipts).
    #[arg(long, value_name = "FILE", help_heading = "Audit log and anchor")]
    pub checkpoint_out: Option<PathBuf>,
    /// Where session records (plan, paths of receipts, log, checkpoint) are kept for `handoff --session`.
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".wormvault",
        help_heading = "Upload and receipts",
        env = "WORMVAULT_STATE_DIR"
    )]
    pub state_dir: PathBuf,
}

impl ExecuteArgs {
    /// The execution half of the request. Key ids not given are taken from the trust root that
    /// holds the key (by fingerprint), so the signatures name the id the auditor's roots use.
    pub fn request(
        &self,
        trust: Option<&TrustStore>,
        trust_roots_file: Option<&Path>,
    ) -> anyhow::Result<ExecuteRequest> {
        let kms = self.audit_keys.kms_settings();
        let receipt_key = match &self.receipts_key {
            Some(path) => {
                let key = SigningKeySource::load(path, &kms)?;
                let key_id = key_id_for(self.receipts_key_id.clone(), &key.public(), trust);
                Some((key, key_id))
            }
            None => None,
        };
        let audit = match &self.audit_log {
            None => None,
            Some(log) => {
                let signer = self.audit_keys.signer(trust, None)?;
                let anchor = match &self.checkpoint_key {
                    Some(path) => Some(AnchorSettings {
                        origin: self.checkpoint_origin.clone(),
                        key: SigningKeySource::load(path, &kms)?,
                        output: self.checkpoint_out.clone(),
                    }),
                    None => None,
                };
                // A store log's stored checkpoints are checked with the checkpoint key's public
                // half before anything is written (a log cut back is refused, key or not).
                // This read is the verify stage's (a local log is checked there too): its
                // refusal says so, and that nothing was stored.
                let log = crate::cli::audit::open_log_checked(
                    log,
                    &crate::audit::VerifyOptions::default(),
                    &crate::audit::store::verify::Checkpoints {
                        key: anchor.as_ref().map(|a| a.key.public().verifying_key()),
                        ..Default::default()
                    },
                )
                .map_err(|error| {
                    let what = if crate::exit::classify(&error) == crate::exit::Exit::Failure {
                        "does not verify"
                    } else {
                        "could not be read"
                    };
                    error.context(format!(
                        "verify stage failed: audit log {} {what}; nothing was stored — investigate the log before archiving",
                        log.display()
                    ))
                })?;
                Some(AuditSettings {
                    log,
                    signer,
                    actor: self.actor.clone(),
                    tenant_id: None,
                    workspace_id: None,
                    anchor,
                })
            }
        };
        Ok(ExecuteRequest {
            concurrency: self.concurrency,
            preflight: self.preflight.options(),
            receipts_out: self.receipts_out.clone(),
            receipt_key,
            audit,
            session: Some(SessionSettings {
                state_dir: self.state_dir.clone(),
            }),
            trust_roots_file: trust_roots_file.map(Path::to_path_buf),
        })
    }
}

/// The key id a signature names: the one given, else the trust root's for this key, else one
/// derived from the fingerprint.
fn key_id_for(given: Option<String>, key: &PublicKey, trust: Option<&TrustStore>) -> String {
    let fingerprint = key.fingerprint();
    given
        .or_else(|| {
            trust?
                .roots()
                .iter()
                .find(|root| root.public_key_sha256 == fingerprint)
                .map(|root| root.key_id.clone())
        })
        .unwrap_or_else(|| crate::trust::default_key_id(&fingerprint))
}

/// Verify options from the evidence flags, with a hashing bar on a terminal (total and ETA for a
/// bundle directory; finish the returned bar when verification is over).
pub fn verify_options(
    evidence: &EvidenceArgs,
    bundle: &Path,
    output: &Output,
) -> anyhow::Result<(VerifyOptions, Option<indicatif::ProgressBar>)> {
    let mut options = evidence.options(output)?;
    let (hook, bar) = common::hashing_progress(output, common::bundle_bytes(bundle));
    options.progress = hook;
    Ok((options, bar))
}

/// The audit log's HMAC key (file or environment variable) and the id of its key. The one
/// spelling outside `audit`; `--audit-hmac-key-file`/`--audit-hmac-key-env` (the pipeline's
/// earlier names) are hidden aliases.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditKeyArgs {
    /// File holding the audit log's HMAC key (one trailing newline is ignored).
    #[arg(
        long,
        value_name = "PATH",
        alias = "audit-hmac-key-file",
        conflicts_with = "audit_key_env"
    )]
    pub audit_key_file: Option<PathBuf>,
    /// Environment variable holding the audit log's HMAC key.
    #[arg(long, value_name = "VAR", alias = "audit-hmac-key-env")]
    pub audit_key_env: Option<String>,
    /// Key id of the audit signatures: the HMAC key's (default audit-log-hmac) or the Ed25519
    /// key's (default: the trust root's id for the key, else one derived from its fingerprint).
    #[arg(long, value_name = "ID")]
    pub audit_key_id: Option<String>,
}

impl AuditKeyArgs {
    /// The HMAC secret, when a file or variable is named.
    pub fn hmac(&self) -> anyhow::Result<Option<Secret>> {
        let source = match (&self.audit_key_file, &self.audit_key_env) {
            (Some(path), _) => SecretSource::File(path.clone()),
            (None, Some(var)) => SecretSource::Env(var.clone()),
            (None, None) => return Ok(None),
        };
        Ok(Some(source.load()?))
    }

    fn hmac_key_id(&self) -> String {
        self.audit_key_id
            .clone()
            .unwrap_or_else(|| DEFAULT_HMAC_KEY_ID.to_string())
    }
}

/// Signing the audit log's new records: an Ed25519 private key or the HMAC key of
/// [`AuditKeyArgs`]; unsigned when neither is given.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Audit log and anchor")]
pub struct AuditSignArgs {
    /// Sign audit records with this Ed25519 private key (PKCS#8 PEM, mode 0600), or with an AWS
    /// KMS Ed25519 key named `awskms:ARN` (the private key never leaves KMS).
    #[arg(long, value_name = "PEM|awskms:ARN", conflicts_with_all = ["audit_key_file", "audit_key_env"])]
    pub audit_signing_key: Option<PathBuf>,
    /// KMS endpoint for `awskms:` keys (default: AWS's, from the standard chain). Plain http://
    /// only to a loopback emulator.
    #[arg(long, value_name = "URL", env = "WORMVAULT_KMS_ENDPOINT")]
    pub kms_endpoint: Option<String>,
    #[command(flatten)]
    pub key: AuditKeyArgs,
}

impl AuditSignArgs {
    /// Where `awskms:` keys are reached.
    pub fn kms_settings(&self) -> KmsSettings {
        KmsSettings {
            endpoint: self.kms_endpoint.clone(),
            ..KmsSettings::default()
        }
    }

    /// The signer. An Ed25519 key without `--audit-key-id` is named `ed25519_key_id` when given,
    /// else by the trust root that holds it (by fingerprint), else by its fingerprint.
    pub fn signer(
        &self,
        trust: Option<&TrustStore>,
        ed25519_key_id: Option<String>,
    ) -> anyhow::Result<Signer> {
        self.signer_with(None, trust, ed25519_key_id)
    }

    /// [`AuditSignArgs::signer`] with a fallback HMAC secret (`hold`'s hidden legacy flags).
    fn signer_with(
        &self,
        legacy_hmac: Option<Secret>,
        trust: Option<&TrustStore>,
        ed25519_key_id: Option<String>,
    ) -> anyhow::Result<Signer> {
        if let Some(path) = &self.audit_signing_key {
            let key = SigningKeySource::load(path, &self.kms_settings())?;
            let key_id = key_id_for(
                self.key.audit_key_id.clone().or(ed25519_key_id),
                &key.public(),
                trust,
            );
            return Ok(Signer::ed25519(key, key_id));
        }
        if let Some(secret) = self.key.hmac()?.or(legacy_hmac) {
            return Ok(Signer::Hmac {
                key: secret.expose().to_vec(),
                key_id: self.key.hmac_key_id(),
            });
        }
        Ok(Signer::Unsigned)
    }
}

/// Public keys that verify the audit log's Ed25519-signed records.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditPinArgs {
    /// Trust roots (a root or trust-root bundle) for the audit log's Ed25519-signed records.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["audit_public_key", "audit_key_file", "audit_key_env"])]
    pub audit_trust_root: Option<PathBuf>,
    /// SPKI PEM public key for the audit log's Ed25519-signed records.
    #[arg(long, value_name = "PEM", conflicts_with_all = ["audit_key_file", "audit_key_env"])]
    pub audit_public_key: Option<PathBuf>,
}

/// Checking the audit log's record signatures: the HMAC key, trust roots or a public key.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditVerifyArgs {
    #[command(flatten)]
    pub key: AuditKeyArgs,
    #[command(flatten)]
    pub pins: AuditPinArgs,
}

impl AuditVerifyArgs {
    pub fn signature_check(&self) -> anyhow::Result<SignatureCheck> {
        signature_check(&self.key, None, &self.pins, None, || None)
    }
}

/// The signature check from the key flags: the HMAC key (or `legacy_hmac`), else the trust
/// roots, else the public key (or `fallback_pem`, a signing key's public half) under
/// `--audit-key-id`, else `ed25519_key_id()`, else an id derived from the fingerprint.
fn signature_check(
    key: &AuditKeyArgs,
    legacy_hmac: Option<Secret>,
    pins: &AuditPinArgs,
    fallback_pem: Option<String>,
    ed25519_key_id: impl FnOnce() -> Option<String>,
) -> anyhow::Result<SignatureCheck> {
    if let Some(secret) = key.hmac()?.or(legacy_hmac) {
        return Ok(SignatureCheck::Hmac {
            key: secret.expose().to_vec(),
            key_id: key.hmac_key_id(),
        });
    }
    if let Some(path) = &pins.audit_trust_root {
        return Ok(SignatureCheck::Ed25519 {
            trust: TrustStore::load(path)?,
        });
    }
    let pem = match &pins.audit_public_key {
        Some(path) => Some(crate::trust::load_public_key(path)?.1),
        None => fallback_pem,
    };
    let Some(pem) = pem else {
        return Ok(SignatureCheck::None);
    };
    let key_id = key
        .audit_key_id
        .clone()
        .or_else(ed25519_key_id)
        .unwrap_or_else(|| crate::trust::default_key_id(&crate::trust::fingerprint(&pem)));
    let root = TrustRoot::new(
        &pem,
        Some(key_id),
        "command line",
        RootStatus::Active,
        None,
        None,
    )?;
    Ok(SignatureCheck::Ed25519 {
        trust: TrustStore::new(vec![root])?,
    })
}

/// `hold`'s earlier spellings of the audit log's HMAC key (the bundle key's flag names, reused
/// for the log), still accepted but hidden: `--audit-key-file`/`--audit-key-env` replace them.
#[derive(Debug, Clone, clap::Args)]
pub struct LegacyAuditHmacArgs {
    #[arg(
        long = "hmac-key-file",
        alias = "key-file",
        value_name = "PATH",
        hide = true,
        conflicts_with_all = ["legacy_hmac_key_env", "audit_key_file", "audit_key_env", "audit_signing_key", "audit_trust_root", "audit_public_key"]
    )]
    pub legacy_hmac_key_file: Option<PathBuf>,
    #[arg(
        long = "hmac-key-env",
        alias = "key-env",
        value_name = "VAR",
        hide = true,
        conflicts_with_all = ["audit_key_file", "audit_key_env", "audit_signing_key", "audit_trust_root", "audit_public_key"]
    )]
    pub legacy_hmac_key_env: Option<String>,
    #[arg(long = "key", value_name = "VALUE", hide = true, conflicts_with_all = ["legacy_hmac_key_file", "legacy_hmac_key_env", "audit_key_file", "audit_key_env", "audit_signing_key", "audit_trust_root", "audit_public_key"])]
    pub legacy_key: Option<String>,
}

impl LegacyAuditHmacArgs {
    fn load(&self, output: &Output) -> anyhow::Result<Option<Secret>> {
        HmacKeyArgs {
            hmac_key_file: self.legacy_hmac_key_file.clone(),
            hmac_key_env: self.legacy_hmac_key_env.clone(),
            legacy_key: self.legacy_key.clone(),
        }
        .load(output)
    }
}

/// The audit log's keys where one command both verifies the log and appends to it (`hold`):
/// signing, pins, and the hidden legacy HMAC spellings.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditLogKeyArgs {
    #[command(flatten)]
    pub sign: AuditSignArgs,
    #[command(flatten)]
    pub pins: AuditPinArgs,
    #[command(flatten)]
    pub legacy: LegacyAuditHmacArgs,
}

impl AuditLogKeyArgs {
    /// The signature check; an Ed25519 signing key's public half verifies the log when no pin
    /// is given. `ed25519_key_id` names that key when `--audit-key-id` does not.
    pub fn signature_check(
        &self,
        ed25519_key_id: impl FnOnce() -> Option<String>,
        output: &Output,
    ) -> anyhow::Result<SignatureCheck> {
        let fallback = match &self.sign.audit_signing_key {
            Some(path)
                if self.pins.audit_public_key.is_none() && self.pins.audit_trust_root.is_none() =>
            {
                Some(
                    SigningKeySource::load(path, &self.sign.kms_settings())?
                        .public()
                        .spki_pem(),
                )
            }
            _ => None,
        };
        signature_check(
            &self.sign.key,
            self.legacy.load(output)?,
            &self.pins,
            fallback,
            ed25519_key_id,
        )
    }

    /// The signer (see [`AuditSignArgs::signer`]), accepting the legacy HMAC spellings.
    pub fn signer(
        &self,
        ed25519_key_id: Option<String>,
        output: &Output,
    ) -> anyhow::Result<Signer> {
        self.sign
            .signer_with(self.legacy.load(output)?, None, ed25519_key_id)
    }
}

// ---- `audit …` (CAVRA's flag names, cavra-compat.md §7) --------------------------------------

/// `audit`'s record-signature material: HMAC secret (file/env), or Ed25519 trust roots / public
/// key, under CAVRA's names (`--key-file`, `--key-env`, `--key-id`).
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// File holding the HMAC key (one trailing newline is ignored).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["key_env", "legacy_key"])]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the HMAC key.
    #[arg(long, value_name = "VAR", conflicts_with = "legacy_key")]
    pub key_env: Option<String>,
    /// Legacy CAVRA flag: the HMAC key itself (visible in the process list; prefer --key-file).
    #[arg(long = "key", value_name = "VALUE", hide = true)]
    pub legacy_key: Option<String>,
    /// Key id (HMAC default: audit-log-hmac; Ed25519 default: first 16 hex of the fingerprint).
    #[arg(long)]
    pub key_id: Option<String>,
}

impl KeyArgs {
    pub fn hmac_source(&self, output: &Output) -> Option<SecretSource> {
        if let Some(path) = &self.key_file {
            Some(SecretSource::File(path.clone()))
        } else if let Some(var) = &self.key_env {
            Some(SecretSource::Env(var.clone()))
        } else {
            self.legacy_key.as_ref().map(|value| {
                output.warn("--key puts the HMAC key in the process list and shell history; use --key-file PATH or --key-env VAR instead");
                SecretSource::Inline(value.clone())
            })
        }
    }

    pub fn hmac_key_id(&self) -> String {
        self.key_id
            .clone()
            .unwrap_or_else(|| DEFAULT_HMAC_KEY_ID.to_string())
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyKeyArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Trust roots (CAVRA trust-root or trust-root-bundle JSON) for Ed25519-signed records.
    #[arg(long, value_name = "FILE", conflicts_with = "public_key")]
    pub trust_root: Option<PathBuf>,
    /// An Ed25519 SPKI PEM public key for Ed25519-signed records (key id from --key-id).
    #[arg(long, value_name = "PEM")]
    pub public_key: Option<PathBuf>,
}

impl VerifyKeyArgs {
    pub fn signature_check(&self, output: &Output) -> anyhow::Result<SignatureCheck> {
        // Refused at once, not opened and waited on (a FIFO with no writer would block).
        if let Some(path) = &self.public_key {
            crate::limits::require_regular(path, "--public-key")?;
        }
        let hmac = self.key.hmac_source(output);
        let ed25519 = self.trust_root.is_some() || self.public_key.is_some();
        if hmac.is_some() && ed25519 {
            return Err(anyhow!(
                "give either an HMAC key (--key-file/--key-env) or Ed25519 trust (--trust-root/--public-key), not both"
            ));
        }
        if let Some(source) = hmac {
            let secret = source.load()?;
            return Ok(SignatureCheck::Hmac {
                key: secret.expose().to_vec(),
                key_id: self.key.hmac_key_id(),
            });
        }
        if let Some(path) = &self.trust_root {
            return Ok(SignatureCheck::Ed25519 {
                trust: TrustStore::load(path)?,
            });
        }
        if let Some(path) = &self.public_key {
            let (key, pem) = crate::trust::load_public_key(path)?;
            let key_id = self
                .key
                .key_id
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

/// The public key that signs checkpoints and anchors.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckpointKeyArgs {
    /// Ed25519 SPKI PEM public key that signed the checkpoints / anchor.
    #[arg(long, value_name = "PEM")]
    pub checkpoint_key: Option<PathBuf>,
    /// Signed-note key name (default: the checkpoint's origin line).
    #[arg(long)]
    pub key_name: Option<String>,
}

impl CheckpointKeyArgs {
    /// The `--checkpoint-key` PEM read (bounded) and parsed; `None` when it was not given.
    pub fn verifying_key(&self) -> anyhow::Result<Option<ed25519_dalek::VerifyingKey>> {
        let Some(path) = &self.checkpoint_key else {
            return Ok(None);
        };
        let pem = crate::limits::read_json_capped(
            path,
            crate::limits::MAX_KEY_FILE_BYTES,
            "--checkpoint-key",
        )?;
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
            anyhow!(
                "{} is not an SPKI PEM Ed25519 public key: {e}",
                path.display()
            )
        })?;
        Ok(Some(key))
    }

    pub fn key_for(&self, note: &str) -> anyhow::Result<CheckpointKey> {
        let key = self.verifying_key()?.ok_or_else(|| {
            anyhow!("--checkpoint-key PEM is required to check a signed checkpoint")
        })?;
        let name = match &self.key_name {
            Some(name) => name.clone(),
            None => note.lines().next().unwrap_or_default().to_string(),
        };
        Ok(CheckpointKey { name, key })
    }

    pub fn open(&self, path: &Path) -> anyhow::Result<Checkpoint> {
        let note =
            crate::limits::read_json_capped(path, crate::limits::MAX_NOTE_BYTES, "--checkpoint")?;
        let key = self.key_for(&note)?;
        Checkpoint::open(&note, &key)
            .map_err(|e| anyhow::Error::new(Refusal(format!("checkpoint {}: {e}", path.display()))))
    }

    pub fn anchor(&self, path: &Path) -> anyhow::Result<SegmentStart> {
        let text =
            crate::limits::read_json_capped(path, crate::limits::MAX_NOTE_BYTES, "--anchor")?;
        let anchor: SegmentAnchor = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a segment anchor", path.display()))?;
        let key = self.key_for(&anchor.checkpoint)?;
        anchor
            .check(&key)
            .map_err(|e| anyhow::Error::new(Refusal(format!("anchor {}: {e}", path.display()))))
    }
}

/// The audit log an `audit` subcommand reads or writes (`audit verify` takes several segments
/// and declares its own repeatable `--log`).
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// The audit log: a JSONL file (one hash-chained record per line), or a log kept in WORM
    /// storage, named by a target URL (s3://bucket/prefix, azure://account/container/prefix,
    /// file:///vault/prefix; docs/audit-store.md).
    #[arg(id = "log", long = "log", value_name = "FILE|URL")]
    pub path: PathBuf,
}

/// Where an `audit` subcommand also appends its structured alerts (always printed on stderr).
#[derive(Debug, Clone, clap::Args)]
pub struct AlertArgs {
    /// Also append each alert (one JSON line) to this file.
    #[arg(id = "alert_file", long = "alert-file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}
