//! `wormvault audit append|verify|checkpoint|prove|verify-proof|prune|export`: the hash-chained
//! audit log. Flag names follow CAVRA's (`--log`, `--key-id`; cavra-compat.md §7); secrets come
//! from `--key-file` / `--key-env` (legacy `--key` warns). Failures raise one structured alert
//! line on stderr (and in `--alert-file`).

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde_json::{Map, Value};

use crate::audit::alert::{Alert, AlertKind};
use crate::audit::checkpoint::InclusionProof;
use crate::audit::export::Format;
use crate::audit::prune::PruneRequest;
use crate::audit::store::verify::{Checkpoints, StoreVerifyReport};
use crate::audit::store::{LogHandle, LogLocation, StoreLogError, WriteOptions};
use crate::audit::{
    AuditError, MerkleWork, NewRecord, SignatureCheck, Signer, VerifyOptions, VerifyReport,
};
use crate::cli::Output;
use crate::cli::args::{AlertArgs, CheckpointKeyArgs, KeyArgs, LogArgs, VerifyKeyArgs};
use crate::exit::{Exit, Refusal};
use crate::trust::{KmsSettings, SigningKeySource};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Append one record (file-locked, fsynced; refuses to extend a torn log).
    Append(AppendArgs),
    /// Verify the chain (CAVRA's checks and result shape), signatures, checkpoints, anchors.
    Verify(VerifyArgs),
    /// Write a signed C2SP checkpoint of the log head (RFC 6962 Merkle root over the records).
    Checkpoint(CheckpointArgs),
    /// Emit an inclusion proof for one record (JSON, checkable offline).
    Prove(ProveArgs),
    /// Check an inclusion proof offline.
    VerifyProof(VerifyProofArgs),
    /// Move records before a sequence into an archive segment; leave a signed anchor.
    Prune(PruneArgs),
    /// Export for auditors or SIEMs (jsonl, splunk-hec, sentinel, datadog, cef), with redaction.
    Export(ExportArgs),
    /// Move a local log (archive segments first, then the live log) into a log kept in a store;
    /// idempotent and resumable.
    Push(PushArgs),
    /// Store a signed checkpoint of a log kept in a store, create-only and locked (one shot, or
    /// `--every DURATION` until SIGINT/SIGTERM).
    Anchor(AnchorArgs),
}

/// Load an Ed25519 signing key: a private key file (PKCS#8 PEM, mode 0600 enforced by the trust
/// module), or `awskms:ARN` — a key that never leaves AWS KMS (endpoint: AWS's, or
/// `WORMVAULT_KMS_ENDPOINT` for an emulator).
fn signing_key(path: &Path) -> anyhow::Result<SigningKeySource> {
    // A key file must be a regular file; an `awskms:` ARN is not a path, and require_regular
    // leaves any path it cannot open (that one, a missing file) to the loader's own error.
    crate::limits::require_regular(path, "signing key")?;
    let settings = KmsSettings {
        endpoint: std::env::var(crate::trust::kms::KMS_ENDPOINT_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty()),
        ..KmsSettings::default()
    };
    Ok(SigningKeySource::load(path, &settings)?)
}

/// Raise an alert: one JSON line on stderr, appended to the alert file if given.
fn raise(kind: AlertKind, log: &Path, message: &str, alert_file: Option<&Path>) {
    let alert = Alert::new(kind, log, message);
    eprintln!("{}", alert.line());
    if let Some(file) = alert_file
        && let Err(error) = alert.append_to(file)
    {
        eprintln!(
            "warning: could not append the alert to {}: {error}",
            file.display()
        );
    }
}

/// Run a step; on error raise `kind` — or `audit_usage_error` when the error is a usage or
/// configuration problem (a key file that is missing, empty or readable by others, a log path
/// that does not exist) — and pass the error on.
fn alerting<T>(
    kind: AlertKind,
    log: &Path,
    alert_file: Option<&Path>,
    step: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    step().inspect_err(|error| {
        raise(
            alert_kind_for(kind, error),
            log,
            &format!("{error:#}"),
            alert_file,
        )
    })
}

fn alert_kind_for(kind: AlertKind, error: &anyhow::Error) -> AlertKind {
    let usage = error.chain().any(|cause| {
        cause.downcast_ref::<crate::trust::TrustError>().is_some()
            || cause.downcast_ref::<crate::limits::LimitError>().is_some()
            || matches!(
                cause.downcast_ref::<AuditError>(),
                Some(AuditError::MissingLog { .. } | AuditError::NotRegular { .. })
            )
    });
    // An integrity alert is only for what verification found (a refusal); any other error
    // before a verdict (unreadable file, bad arguments) is a usage error.
    if usage
        || (kind == AlertKind::AuditIntegrityFailure && error.downcast_ref::<Refusal>().is_none())
    {
        AlertKind::AuditUsageError
    } else {
        kind
    }
}

/// Refusals (torn tail, invalid log) exit 1; everything else exits 2.
fn audit_error(error: AuditError) -> anyhow::Error {
    match error {
        AuditError::TornTail { .. }
        | AuditError::CorruptTail { .. }
        | AuditError::LogInvalid { .. }
        | AuditError::NotExtending { .. }
        | AuditError::SignaturesUnchecked { .. }
        | AuditError::Checkpoint(_) => anyhow::Error::new(Refusal(error.to_string())),
        other => anyhow::Error::new(other),
    }
}

#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// The record's event_type (e.g. evidence.archived, legal_hold.set).
    #[arg(long)]
    pub event_type: String,
    /// Who acted (the record's actor).
    #[arg(long)]
    pub actor: String,
    /// What was done (the record's action).
    #[arg(long)]
    pub action: String,
    /// What it was done to (the record's target).
    #[arg(long)]
    pub target: String,
    /// The outcome (the record's decision).
    #[arg(long)]
    pub decision: String,
    /// Tenant id recorded with the event.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Workspace id recorded with the event.
    #[arg(long)]
    pub workspace: Option<String>,
    /// A reference to evidence the event concerns (repeatable).
    #[arg(long = "evidence-ref")]
    pub evidence_refs: Vec<String>,
    /// A JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
    /// ISO 8601 timestamp (default: now, as Python's isoformat writes it).
    #[arg(long)]
    pub created_at: Option<String>,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Sign with Ed25519 instead of HMAC: PKCS#8 PEM private key (mode 0600), or `awskms:ARN`.
    #[arg(long, value_name = "PEM", conflicts_with_all = ["key_file", "key_env", "legacy_key"])]
    pub private_key: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreWriteArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// How records and checkpoints are written to a log kept in a store.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreWriteArgs {
    /// Store log only: put a legal hold on every object written (besides the COMPLIANCE lock).
    #[arg(long)]
    pub legal_hold: bool,
    /// Store log only: attempts to claim the next sequence number against other writers before
    /// giving up with "contended" (exit 2).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_attempts: u32,
}

impl StoreWriteArgs {
    fn options(&self) -> WriteOptions {
        WriteOptions {
            legal_hold: self.legal_hold,
            max_attempts: self.max_attempts,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The log; repeat for consecutive segments (archive segments first, then the live log). Or
    /// one log kept in a store, named by its target URL (s3://…, azure://…, file:///…).
    #[arg(long, required = true, value_name = "FILE|URL")]
    pub log: Vec<PathBuf>,
    #[command(flatten)]
    pub keys: VerifyKeyArgs,
    /// A signed checkpoint the log must extend (repeatable): catches truncation and rewrites.
    #[arg(long)]
    pub checkpoint: Vec<PathBuf>,
    /// A segment anchor (from `audit prune`): the log starts after the anchored checkpoint.
    #[arg(long)]
    pub anchor: Option<PathBuf>,
    #[command(flatten)]
    pub checkpoint_key: CheckpointKeyArgs,
    /// The log's origin (the `--origin` its checkpoints were signed with): a --checkpoint or
    /// --anchor naming another origin is refused (exit 1). Without it the origin is only printed.
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// Accept a redacted export: redacted records are checked for links, sequence and schema only.
    #[arg(long)]
    pub allow_redacted: bool,
    /// Store log only: read every record from its own object, not from the record bundles that
    /// a verified stored checkpoint covers.
    #[arg(long)]
    pub read_every_record: bool,
    /// Local log: also build the Merkle tree and report its root (`merkle_root`); without
    /// --merkle or --checkpoint it is not computed (`merkle_root: null`).
    #[arg(long)]
    pub merkle: bool,
    /// Also write the verification result (the object `--json` prints) to FILE, as CAVRA's
    /// `--output` does, whatever the verdict (the exit code is unchanged). Never overwritten: an
    /// existing FILE is refused (exit 2) before the log is read.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Checkpoint origin line (a unique name for this log, e.g. example.com/release-audit).
    #[arg(long)]
    pub origin: String,
    /// Ed25519 PKCS#8 PEM private key (mode 0600) that signs the note, or `awskms:ARN`.
    #[arg(long, value_name = "PEM")]
    pub signing_key: PathBuf,
    /// Signature name (default: the origin).
    #[arg(long)]
    pub signer_name: Option<String>,
    /// Where to write the signed checkpoint (never overwritten).
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub keys: VerifyKeyArgs,
    /// Segment anchor, for a pruned log.
    #[arg(long)]
    pub anchor: Option<PathBuf>,
    #[command(flatten)]
    pub checkpoint_key: CheckpointKeyArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Sequence of the record to prove.
    #[arg(long)]
    pub seq: u64,
    /// Prove against this signed checkpoint (embedded in the proof) instead of the whole log.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    #[command(flatten)]
    pub checkpoint_key: CheckpointKeyArgs,
    /// Write the proof here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyProofArgs {
    /// The inclusion proof (JSON, from `audit prove`).
    #[arg(long)]
    pub proof: PathBuf,
    #[command(flatten)]
    pub checkpoint_key: CheckpointKeyArgs,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Records with a sequence below this move to the archive.
    #[arg(long)]
    pub before_seq: u64,
    /// Archive segment to create (must not exist).
    #[arg(long)]
    pub archive: PathBuf,
    /// Segment anchor to create (default: <log>.anchor-<N>.json).
    #[arg(long)]
    pub anchor_out: Option<PathBuf>,
    /// Also write the signed checkpoint of the pruned head here.
    #[arg(long)]
    pub checkpoint_out: Option<PathBuf>,
    /// Checkpoint origin line of the anchor (the log's unique name).
    #[arg(long)]
    pub origin: String,
    /// Ed25519 PKCS#8 PEM private key (mode 0600) that signs the anchor's checkpoint, or `awskms:ARN`.
    #[arg(long, value_name = "PEM")]
    pub signing_key: PathBuf,
    /// Signature name (default: the origin).
    #[arg(long)]
    pub signer_name: Option<String>,
    #[command(flatten)]
    pub keys: VerifyKeyArgs,
    /// The log's current anchor, if it was pruned before.
    #[arg(long)]
    pub anchor: Option<PathBuf>,
    #[command(flatten)]
    pub checkpoint_key: CheckpointKeyArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// `--format` of `audit export`: the clap face of the library's [`Format`] (the library does
/// not know clap; #13). Variant names and help text are the CLI contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// The stored lines (spaced canonical JSON), redacted if asked.
    Jsonl,
    /// Splunk HEC `/services/collector/event` events, one JSON object per line.
    SplunkHec,
    /// Azure Monitor Logs Ingestion API bodies (JSON arrays with TimeGenerated), one per line.
    Sentinel,
    /// Datadog `/api/v2/logs` bodies (JSON arrays of at most 1000 entries), one per line.
    Datadog,
    /// ArcSight Common Event Format, one `CEF:0|…` line per record.
    Cef,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Self {
        match arg {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::SplunkHec => Format::SplunkHec,
            FormatArg::Sentinel => Format::Sentinel,
            FormatArg::Datadog => Format::Datadog,
            FormatArg::Cef => Format::Cef,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Export format.
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// Redact a field (dotted path, e.g. actor or metadata.user.email); repeatable.
    #[arg(long)]
    pub redact: Vec<String>,
    /// Write here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub keys: VerifyKeyArgs,
    /// Ed25519 PKCS#8 PEM private key (mode 0600) of an Ed25519-signed log: signs the
    /// `redaction_signature` of redacted records (an HMAC log uses --key-file/--key-env).
    #[arg(long, value_name = "PEM")]
    pub private_key: Option<PathBuf>,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        AuditCommand::Append(args) => append(args, output),
        AuditCommand::Verify(args) => verify(args, output),
        AuditCommand::Checkpoint(args) => checkpoint(args, output),
        AuditCommand::Prove(args) => prove(args, output),
        AuditCommand::VerifyProof(args) => verify_proof(args, output),
        AuditCommand::Prune(args) => prune(args, output),
        AuditCommand::Export(args) => export(args, output),
        AuditCommand::Push(args) => push(args, output),
        AuditCommand::Anchor(args) => anchor(args, output),
    }
}

fn append(args: AppendArgs, output: &Output) -> anyhow::Result<Exit> {
    let alert_file = args.alerts.file.clone();
    let record = alerting(
        AlertKind::AuditWriteFailure,
        &args.log.path,
        alert_file.as_deref(),
        || {
            let metadata: Map<String, Value> = match &args.metadata {
                None => Map::new(),
                Some(text) => match crate::canonical::parse_strict(text)
                    .context("--metadata is not valid JSON")?
                {
                    Value::Object(map) => map,
                    _ => return Err(anyhow!("--metadata must be a JSON object")),
                },
            };
            // An unparseable created_at would be hashed into the chain for good, and Ed25519 record
            // signatures could then never be checked against a key's validity window.
            if let Some(created_at) = &args.created_at
                && crate::trust::parse_timestamp(created_at).is_none()
            {
                return Err(anyhow!(
                    "--created-at {created_at:?} is not an ISO 8601 / RFC 3339 timestamp with a UTC offset (e.g. 2026-07-04T00:00:01+00:00)"
                ));
            }
            let signer = if let Some(path) = &args.private_key {
                let key = signing_key(path)?;
                let key_id =
                    args.key.key_id.clone().unwrap_or_else(|| {
                        crate::trust::default_key_id(&key.public().fingerprint())
                    });
                Signer::ed25519(key, key_id)
            } else if let Some(source) = args.key.hmac_source(output) {
                Signer::Hmac {
                    key: source.load()?.expose().to_vec(),
                    key_id: args.key.hmac_key_id(),
                }
            } else {
                Signer::Unsigned
            };
            let new = NewRecord {
                event_type: args.event_type.clone(),
                actor: args.actor.clone(),
                action: args.action.clone(),
                target: args.target.clone(),
                decision: args.decision.clone(),
                tenant_id: args.tenant.clone(),
                workspace_id: args.workspace.clone(),
                evidence_refs: args.evidence_refs.clone(),
                metadata,
                created_at: args.created_at.clone(),
            };
            let location = LogLocation::from_path(&args.log.path)?;
            crate::cli::common::runtime()?
                .block_on(location.append(&new, &signer, &args.store.options()))
                .map_err(store_log_error)
        },
    )?;
    output.result(&record, || {
        format!(
            "appended record {} to {} ({})",
            record.sequence().unwrap_or(0),
            args.log.path.display(),
            record.record_hash().unwrap_or("")
        )
    });
    Ok(Exit::Ok)
}

/// [`VerifyKeyArgs::signature_check`], refusing first (without reading it) a `--public-key`
/// that is not a regular file.
fn verify_options(
    keys: &VerifyKeyArgs,
    checkpoints: &[PathBuf],
    anchor: Option<&Path>,
    checkpoint_key: &CheckpointKeyArgs,
    output: &Output,
) -> anyhow::Result<VerifyOptions> {
    let mut options = VerifyOptions {
        signatures: keys.signature_check(output)?,
        ..Default::default()
    };
    for path in checkpoints {
        options.checkpoints.push(checkpoint_key.open(path)?);
    }
    if let Some(path) = anchor {
        options.start = checkpoint_key.anchor(path)?;
    }
    Ok(options)
}

fn report_text(report: &VerifyReport) -> String {
    let mut text = if report.valid {
        format!(
            "valid: {} records ({}..{}) in {}, last record_hash {}{}",
            report.record_count,
            report.first_sequence.unwrap_or(0),
            report.last_sequence.unwrap_or(0),
            report.segments.join(" + "),
            report.last_record_hash.as_deref().unwrap_or("-"),
            signature_summary(report)
        )
    } else {
        format!(
            "{}: {} problem(s) in {}\nsignatures_checked {} ({} failed), signatures_unchecked {}, unsigned records {}",
            if report.incomplete {
                "INCOMPLETE (nothing failed, but not everything could be checked)"
            } else {
                "INVALID"
            },
            report.error_count,
            report.segments.join(" + "),
            report.signatures_checked,
            report.signatures_failed,
            report.signatures_unchecked,
            report.unsigned_records
        )
    };
    for error in report.errors.iter().take(20) {
        text.push_str(&format!("\n  {error}"));
    }
    if report.errors.len() > 20 {
        text.push_str(&format!(
            "\n  … {} more (use --json for all)",
            report.error_count - 20
        ));
    }
    if let Some(bad) = &report.first_bad_record {
        text.push_str(&format!(
            "\nfirst bad record: {} ({} line {}), {}: expected {}, found {}",
            bad.record, bad.path, bad.line, bad.check, bad.expected, bad.found
        ));
    }
    if let Some(diagnosis) = &report.diagnosis {
        text.push_str(&format!(
            "\ndiagnosis: {} at record {}: {}",
            diagnosis.kind, diagnosis.record, diagnosis.detail
        ));
    }
    for checkpoint in &report.checkpoints {
        text.push_str(&format!(
            "\ncheckpoint {} @ {}: {}",
            checkpoint.origin, checkpoint.tree_size, checkpoint.message
        ));
    }
    match &report.merkle_root {
        Some(root) => text.push_str(&format!(
            "\nMerkle root over {} records: {root}",
            report.tree_size
        )),
        None => text.push_str("\nMerkle root not computed (no --checkpoint or --merkle given)"),
    }
    text
}

/// What the verdict says about signatures: "verified" only when every signed record's signature
/// was checked and none is left unchecked (issue #15 items 4 and 6).
fn signature_summary(report: &VerifyReport) -> String {
    let mut text = if report.signatures_unchecked > 0 {
        format!(
            "; {} record signature(s) NOT checked ({}) — who wrote those records is not verified",
            report.signatures_unchecked,
            if report.signature_key_given {
                "redacted records without a redaction_signature"
            } else {
                "no key given"
            }
        )
    } else if report.signatures_checked > 0 {
        format!("; all {} signatures verified", report.signatures_checked)
    } else {
        "; the records carry no signatures".to_string()
    };
    if report.signatures_unchecked > 0 && report.signatures_checked > 0 {
        text.push_str(&format!(
            "; {} other signature(s) verified",
            report.signatures_checked
        ));
    }
    if report.redacted_records > 0 {
        text.push_str(&format!(
            "; {} redacted record(s): record_hash not recomputable, {} bound by a verified redaction_signature, {} unverified (records {})",
            report.redacted_records,
            report.redacted_bound,
            report.redacted_unverified.len(),
            summarise_sequences(&report.redacted_unverified)
        ));
    }
    text.push_str(&format!(
        "\nsignatures_checked {}, signatures_unchecked {}, unsigned records {}, fully checked records {} of {}",
        report.signatures_checked,
        report.signatures_unchecked,
        report.unsigned_records,
        report.fully_checked_records,
        report.record_count
    ));
    text
}

fn summarise_sequences(sequences: &[u64]) -> String {
    let mut shown: Vec<String> = sequences.iter().take(10).map(u64::to_string).collect();
    if sequences.len() > 10 {
        shown.push("…".into());
    }
    if shown.is_empty() {
        "none".into()
    } else {
        shown.join(", ")
    }
}

fn verify(args: VerifyArgs, output: &Output) -> anyhow::Result<Exit> {
    if let Some(path) = &args.output {
        crate::fs::check_new(path)?;
    }
    let log = args.log.last().cloned().unwrap_or_default();
    let alert_file = args.alerts.file.as_deref();
    let stored = args
        .log
        .iter()
        .map(|path| LogLocation::from_path(path))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(target) = stored.iter().find_map(|l| match l {
        LogLocation::Store(target) => Some(target.clone()),
        LogLocation::File(_) => None,
    }) {
        if args.origin.is_some() {
            return Err(anyhow!(
                "--origin checks the --checkpoint files of a local log; a log kept in a store is checked against its stored checkpoints and --checkpoint-key"
            ));
        }
        if args.log.len() > 1 || args.anchor.is_some() {
            return Err(anyhow!(
                "a log kept in a store is verified alone, from record 1: give one --log URL and no --anchor"
            ));
        }
        return verify_stored(&args, target, output);
    }
    let report = alerting(AlertKind::AuditIntegrityFailure, &log, alert_file, || {
        let options = verify_options(
            &args.keys,
            &args.checkpoint,
            args.anchor.as_deref(),
            &args.checkpoint_key,
            output,
        )?;
        if let Some(expected) = &args.origin
            && let Some((path, checkpoint)) = args
                .checkpoint
                .iter()
                .zip(&options.checkpoints)
                .find(|(_, c)| &c.origin != expected)
        {
            return Err(anyhow::Error::new(Refusal(format!(
                "checkpoint {} is for origin {:?}, not this log's {expected:?}: it is a checkpoint of another log; pass the checkpoint of {expected:?}",
                path.display(),
                checkpoint.origin
            ))));
        }
        if let (Some(expected), Some(path), Some(origin)) =
            (&args.origin, &args.anchor, &options.start.origin)
            && origin != expected
        {
            return Err(anyhow::Error::new(Refusal(format!(
                "anchor {} is for origin {origin:?}, not this log's {expected:?}: it anchors another log; pass an anchor of {expected:?}",
                path.display()
            ))));
        }
        let options = VerifyOptions {
            allow_redacted: args.allow_redacted,
            merkle: if args.merkle {
                MerkleWork::Root
            } else {
                MerkleWork::Skip
            },
            ..options
        };
        crate::audit::verify_segments(&args.log, &options).map_err(audit_error)
    })?;
    write_result(args.output.as_deref(), &report)?;
    output.result(&report, || report_text(&report));
    if report.valid {
        return Ok(Exit::Ok);
    }
    let first = report.errors.first().cloned().unwrap_or_default();
    match &report.diagnosis {
        Some(diagnosis) if diagnosis.kind == "key_mismatch" => raise(
            AlertKind::AuditKeyMismatch,
            &log,
            &diagnosis.detail,
            alert_file,
        ),
        _ => raise(
            AlertKind::AuditIntegrityFailure,
            &log,
            &format!("{} problem(s); first: {first}", report.error_count),
            alert_file,
        ),
    }
    Ok(Exit::Failure)
}

/// `audit verify --output FILE`: the result object, as `--json` prints it, in a new file.
fn write_result(path: Option<&Path>, report: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(report)? + "\n";
        write_new(path, text.as_bytes())?;
    }
    Ok(())
}

/// Verify a log, refusing (exit 1) when it does not verify.
fn require_valid(log: &Path, options: &VerifyOptions) -> anyhow::Result<VerifyReport> {
    let report = crate::audit::verify(log, options).map_err(audit_error)?;
    if !report.valid {
        return Err(anyhow::Error::new(Refusal(format!(
            "{} does not verify ({} problem(s); first: {}); run `wormvault audit verify`",
            log.display(),
            report.error_count,
            report.errors.first().cloned().unwrap_or_default()
        ))));
    }
    Ok(report)
}

fn checkpoint(args: CheckpointArgs, output: &Output) -> anyhow::Result<Exit> {
    let alert_file = args.alerts.file.as_deref();
    let note = alerting(
        AlertKind::AuditIntegrityFailure,
        &args.log.path,
        alert_file,
        || {
            let options = verify_options(
                &args.keys,
                &[],
                args.anchor.as_deref(),
                &args.checkpoint_key,
                output,
            )?;
            let key = signing_key(&args.signing_key)?;
            let name = args
                .signer_name
                .clone()
                .unwrap_or_else(|| args.origin.clone());
            let log = open_log(&args.log.path, &options)?;
            let (_, note) =
                crate::audit::checkpoint::create(log.path(), &options, &args.origin, &name, &key)
                    .map_err(audit_error)?;
            write_new(&args.output, note.as_bytes())?;
            Ok(note)
        },
    )?;
    let value = serde_json::json!({"checkpoint": note, "output": args.output});
    output.result(&value, || {
        format!("wrote checkpoint {}:\n{note}", args.output.display())
    });
    Ok(Exit::Ok)
}

/// The record-signature check of `audit export --private-key K` when no key is pinned otherwise:
/// the public half of K under `--key-id` (default: derived from its fingerprint).
fn export_check_from_private(
    key: &SigningKeySource,
    key_id: Option<&str>,
) -> anyhow::Result<SignatureCheck> {
    let public = key.public();
    let key_id = key_id
        .map(str::to_owned)
        .unwrap_or_else(|| crate::trust::default_key_id(&public.fingerprint()));
    let root = crate::trust::TrustRoot::new(
        &public.spki_pem(),
        Some(key_id),
        "the public half of --private-key",
        crate::trust::RootStatus::Active,
        None,
        None,
    )?;
    Ok(SignatureCheck::Ed25519 {
        trust: crate::trust::TrustStore::new(vec![root])?,
    })
}

/// Create a file that must not exist yet, write it and fsync it ([`crate::fs::write_new`]).
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(crate::fs::write_new(path, bytes)?)
}

fn prove(args: ProveArgs, output: &Output) -> anyhow::Result<Exit> {
    let note = match &args.checkpoint {
        Some(path) => Some(crate::limits::read_json_capped(
            path,
            crate::limits::MAX_NOTE_BYTES,
            "--checkpoint",
        )?),
        None => None,
    };
    let key = match &note {
        Some(note) => Some(args.checkpoint_key.key_for(note)?),
        None => None,
    };
    let against = note.as_deref().zip(key.as_ref());
    let log = open_log(&args.log.path, &VerifyOptions::default())?;
    let proof =
        crate::audit::checkpoint::prove(log.path(), args.seq, against).map_err(audit_error)?;
    let text = serde_json::to_string_pretty(&proof)? + "\n";
    match &args.output {
        Some(path) => {
            write_new(path, text.as_bytes())?;
            output.result(&serde_json::json!({"proof": path, "sequence": args.seq, "tree_size": proof.tree_size}), || {
                format!("wrote inclusion proof for record {} in a tree of {} to {}", args.seq, proof.tree_size, path.display())
            });
        }
        None => print!("{text}"),
    }
    Ok(Exit::Ok)
}

fn verify_proof(args: VerifyProofArgs, output: &Output) -> anyhow::Result<Exit> {
    let text =
        crate::limits::read_json_capped(&args.proof, crate::limits::MAX_NOTE_BYTES, "--proof")?;
    let proof: InclusionProof = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an inclusion proof", args.proof.display()))?;
    let key = match (&args.checkpoint_key.checkpoint_key, &proof.checkpoint) {
        (Some(_), Some(note)) => Some(args.checkpoint_key.key_for(note)?),
        (Some(_), None) => {
            return Err(anyhow::Error::new(Refusal(
                "a checkpoint key was given but the proof carries no checkpoint".into(),
            )));
        }
        (None, _) => None,
    };
    let check = proof
        .check(key.as_ref())
        .map_err(|e| anyhow::Error::new(Refusal(format!("{}: {e}", args.proof.display()))))?;
    output.result(&check, || match check.status {
        "valid" => format!(
            "valid: record {} is leaf {} of a tree of {} signed by the checkpoint key",
            check.leaf_index + 1,
            check.leaf_index,
            check.tree_size,
        ),
        "unauthenticated" => format!(
            "NOT VERIFIED: the path leads from record {} to the proof's own root, but no --checkpoint-key was given, so that root is not authenticated and the proof shows nothing about the log; pass --checkpoint-key PEM (the pinned public key that signs the log's checkpoints)",
            check.leaf_index + 1
        ),
        _ => format!("INVALID: {}", check.errors.join("; ")),
    });
    Ok(if check.valid { Exit::Ok } else { Exit::Failure })
}

fn prune(args: PruneArgs, output: &Output) -> anyhow::Result<Exit> {
    if let LogLocation::Store(target) = LogLocation::from_path(&args.log.path)? {
        return Err(anyhow!(
            "{target} is a log kept in a store: its records are locked for the retention period and are never pruned (prune applies to a local JSONL log)"
        ));
    }
    let alert_file = args.alerts.file.as_deref();
    let outcome = alerting(
        AlertKind::AuditRetentionPolicyFailure,
        &args.log.path,
        alert_file,
        || {
            let options = verify_options(
                &args.keys,
                &[],
                args.anchor.as_deref(),
                &args.checkpoint_key,
                output,
            )?;
            let key = signing_key(&args.signing_key)?;
            let anchor_out = args.anchor_out.clone().unwrap_or_else(|| {
                let mut name = args.log.path.clone().into_os_string();
                name.push(format!(".anchor-{}.json", args.before_seq));
                PathBuf::from(name)
            });
            let name = args
                .signer_name
                .clone()
                .unwrap_or_else(|| args.origin.clone());
            let request = PruneRequest {
                log: &args.log.path,
                before_sequence: args.before_seq,
                archive: &args.archive,
                anchor_out: &anchor_out,
                origin: &args.origin,
                key_name: &name,
                signing_key: &key,
                verify: &options,
            };
            let outcome = crate::audit::prune::prune(&request).map_err(audit_error)?;
            if let Some(path) = &args.checkpoint_out {
                write_new(path, outcome.checkpoint.as_bytes())?;
            }
            Ok(outcome)
        },
    )?;
    output.result(&outcome, || {
        format!(
            "archived {} record(s) to {}, kept {} from sequence {} in {}; anchor {}",
            outcome.archived_records,
            outcome.archive.display(),
            outcome.retained_records,
            outcome.first_retained_sequence,
            outcome.log.display(),
            outcome.anchor.display()
        )
    });
    Ok(Exit::Ok)
}

fn export(args: ExportArgs, output: &Output) -> anyhow::Result<Exit> {
    let alert_file = args.alerts.file.as_deref();
    let summary = alerting(
        AlertKind::AuditExportFailure,
        &args.log.path,
        alert_file,
        || {
            crate::audit::export::check_redactions(&args.redact)?;
            // The key that signs redaction_signatures, loaded first: its public half checks the
            // record signatures when no other Ed25519 key is pinned (as `hold
            // --audit-signing-key` does).
            let private = match &args.private_key {
                Some(path) => {
                    if args.keys.key.hmac_source(output).is_some() {
                        return Err(anyhow!(
                            "--private-key signs the redaction_signatures of an Ed25519-signed log; an HMAC-signed log is exported with --key-file/--key-env alone: give one or the other"
                        ));
                    }
                    Some(signing_key(path)?)
                }
                None => None,
            };
            let signatures = match (&private, args.keys.signature_check(output)?) {
                (Some(key), SignatureCheck::None) => {
                    export_check_from_private(key, args.keys.key.key_id.as_deref())?
                }
                (_, check) => check,
            };
            // Export only what verifies: an auditor or SIEM must not receive a broken chain silently.
            let options = VerifyOptions {
                signatures,
                ..Default::default()
            };
            let log = open_log(&args.log.path, &options)?;
            let report = require_valid(log.path(), &options)?;
            // With the log's key, bind each redacted record's remaining fields (README "Redaction").
            let binder = match (private, &options.signatures) {
                (Some(key), _) => {
                    let key_id = args.keys.key.key_id.clone().unwrap_or_else(|| {
                        crate::trust::default_key_id(&key.public().fingerprint())
                    });
                    Some(Signer::ed25519(key, key_id))
                }
                (None, SignatureCheck::Hmac { key, key_id }) => Some(Signer::Hmac {
                    key: key.clone(),
                    key_id: key_id.clone(),
                }),
                _ => None,
            };
            // Signing vouches for what is signed: never sign over a record whose own signature
            // was not checked (a record rewritten and its chain recomputed would be laundered
            // into a "verified" redacted export).
            if binder.is_some() {
                report.require_signatures_checked().map_err(audit_error)?;
            }
            if !args.redact.is_empty() && binder.is_none() {
                output.warn("redacting without the log's key (--key-file/--key-env, or --private-key for Ed25519): the unredacted fields of redacted records will not be bound, and `audit verify --allow-redacted` will report them unverified");
            }
            let binder = binder.as_ref();
            match &args.output {
                Some(path) => {
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(path)
                        .with_context(|| {
                            format!("creating {} (it must not exist yet)", path.display())
                        })?;
                    let mut writer = std::io::BufWriter::new(file);
                    let summary = crate::audit::export::export(
                        log.path(),
                        args.format.into(),
                        &args.redact,
                        binder,
                        &mut writer,
                    )?;
                    let file = writer
                        .into_inner()
                        .map_err(|e| anyhow!("writing {}: {}", path.display(), e.error()))?;
                    file.sync_all()
                        .with_context(|| format!("syncing {}", path.display()))?;
                    Ok(summary)
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = stdout.lock();
                    Ok(crate::audit::export::export(
                        log.path(),
                        args.format.into(),
                        &args.redact,
                        binder,
                        &mut lock,
                    )?)
                }
            }
        },
    )?;
    if args.output.is_some() {
        output.result(&summary, || {
            format!(
                "exported {} record(s) as {}",
                summary.records, summary.format
            )
        });
    } else {
        output.note(format!("exported {} record(s)", summary.records));
    }
    Ok(Exit::Ok)
}

/// Errors of a log kept in a store: findings in the log (corrupt head, differing records, an
/// invalid log) exit 1; contention, I/O and cloud errors exit 2.
pub(crate) fn store_log_error(error: StoreLogError) -> anyhow::Error {
    match error {
        StoreLogError::Audit(inner) => audit_error(inner),
        error if error.is_refusal() => anyhow::Error::new(Refusal(error.to_string())),
        error => anyhow::Error::new(error),
    }
}

/// A `--log`/`--audit-log` value as a [`LogHandle`]: the file itself, or for a log kept in a
/// store a copy in a temporary directory (kept as long as the handle), made after the stored
/// log verified under `options`; appends through the handle go to the store first.
pub(crate) fn open_log(log: &Path, options: &VerifyOptions) -> anyhow::Result<LogHandle> {
    open_log_checked(log, options, &Checkpoints::default())
}

/// [`open_log`] checking a store log's stored checkpoints with the user's checkpoint key
/// (signature, and the records against each checkpoint's tree); without one they are still
/// compared with the records by size (a log cut back is refused).
pub(crate) fn open_log_checked(
    log: &Path,
    options: &VerifyOptions,
    checkpoints: &Checkpoints,
) -> anyhow::Result<LogHandle> {
    let location = LogLocation::from_path(log)?;
    LogHandle::open_blocking(&location, options, checkpoints, WriteOptions::default())
        .map_err(store_log_error)
}

/// The checkpoint key the user pins, for the checkpoints stored in a log.
fn stored_checkpoint_key(args: &CheckpointKeyArgs) -> anyhow::Result<Checkpoints> {
    Ok(Checkpoints {
        key: args.verifying_key()?,
        key_name: args.key_name.clone(),
        ignore_bundles: false,
    })
}

fn store_report_text(report: &StoreVerifyReport) -> String {
    let mut text = String::new();
    if report.valid() && report.checkpoints_unchecked > 0 {
        // The chain alone verifying is not the log verifying: records cut off after a stored
        // checkpoint leave a valid chain, and only the checkpoint shows they are gone.
        text.push_str(&format!(
            "INCOMPLETE: {} stored checkpoint(s) NOT checked — give --checkpoint-key (the key you trust for this log's anchors) to detect truncation\n",
            report.checkpoints_unchecked
        ));
    }
    text.push_str(&report_text(&report.chain));
    text.push_str(&format!(
        "\nstore: {} record object(s) read from {}",
        report.record_objects, report.log
    ));
    if report.governance_locked_records > 0 {
        text.push_str(&format!(
            "; {} record(s) locked in GOVERNANCE mode only (a privileged user can remove them)",
            report.governance_locked_records
        ));
    }
    text.push_str(&match (report.stored_checkpoints, report.checkpoints_unchecked) {
        (0, _) => "\nstored checkpoints: none (truncation of the newest records cannot be detected; run `wormvault audit anchor`)".to_string(),
        (stored, 0) => format!(
            "\nstored checkpoints: {stored}, {} verified against --checkpoint-key and matched by the records",
            report.checkpoints_verified
        ),
        (stored, unchecked) => format!(
            "\nstored checkpoints: {stored}, {unchecked} NOT checked (no --checkpoint-key given) — their signatures and trees are not checked; only a log cut back below a stored checkpoint's size is detected"
        ),
    });
    if report.records_from_bundles > 0 {
        text.push_str(&format!(
            "\n{} record(s) read from record bundles covered by a verified checkpoint (each record's own object listed and size-checked)",
            report.records_from_bundles
        ));
    }
    text.push_str(&format!("\ntiles: {}", report.tiles));
    text
}

fn verify_stored(
    args: &VerifyArgs,
    target: crate::store::Target,
    output: &Output,
) -> anyhow::Result<Exit> {
    let log = PathBuf::from(target.to_string());
    let alert_file = args.alerts.file.as_deref();
    let report = alerting(AlertKind::AuditIntegrityFailure, &log, alert_file, || {
        let options = verify_options(
            &args.keys,
            &args.checkpoint,
            None,
            &args.checkpoint_key,
            output,
        )?;
        let options = VerifyOptions {
            allow_redacted: args.allow_redacted,
            ..options
        };
        let checkpoints = Checkpoints {
            ignore_bundles: args.read_every_record,
            ..stored_checkpoint_key(&args.checkpoint_key)?
        };
        crate::cli::common::runtime()?
            .block_on(async {
                let store = crate::audit::store::open(&target).await?;
                crate::audit::store::verify::verify(store.as_ref(), &options, &checkpoints, None)
                    .await
            })
            .map_err(store_log_error)
    })?;
    write_result(args.output.as_deref(), &report)?;
    output.result(&report, || store_report_text(&report));
    if report.valid() && report.checkpoints_unchecked > 0 {
        // Not success: what could not be checked is said, and the exit says it too.
        return Ok(Exit::Failure);
    }
    if report.valid() {
        return Ok(Exit::Ok);
    }
    raise(
        AlertKind::AuditIntegrityFailure,
        &log,
        &format!(
            "{} problem(s); first: {}",
            report.problem_count(),
            report.first_problem().unwrap_or_default()
        ),
        alert_file,
    );
    Ok(Exit::Failure)
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The local log; repeat for consecutive segments (archive segments first, then the live
    /// log), one chain from record 1.
    #[arg(long, required = true, value_name = "FILE")]
    pub log: Vec<PathBuf>,
    /// The log in a store to push into (s3://bucket/prefix, azure://…, file:///…).
    #[arg(long, value_name = "URL")]
    pub to: String,
    #[command(flatten)]
    pub keys: VerifyKeyArgs,
    #[command(flatten)]
    pub store: StoreWriteArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

fn push(args: PushArgs, output: &Output) -> anyhow::Result<Exit> {
    let log = args.log.last().cloned().unwrap_or_default();
    let alert_file = args.alerts.file.as_deref();
    let summary = alerting(AlertKind::AuditWriteFailure, &log, alert_file, || {
        let target = crate::store::Target::parse(&args.to)?;
        // Refuse before writing: the local chain must verify, its signatures checked.
        let options = VerifyOptions {
            signatures: args.keys.signature_check(output)?,
            ..Default::default()
        };
        let report = crate::audit::verify_segments(&args.log, &options).map_err(audit_error)?;
        if !report.valid {
            return Err(anyhow::Error::new(Refusal(format!(
                "{} does not verify ({} problem(s); first: {}); nothing was pushed",
                report.segments.join(" + "),
                report.error_count,
                report.errors.first().cloned().unwrap_or_default()
            ))));
        }
        report.require_signatures_checked().map_err(audit_error)?;
        let write = args.store.options();
        crate::cli::common::runtime()?
            .block_on(async {
                let store = crate::audit::store::open(&target).await?;
                crate::audit::store::push::push(store.as_ref(), &args.log, &write).await
            })
            .map_err(store_log_error)
    })?;
    output.result(&summary, || {
        format!(
            "pushed {} record(s) to {}: {} stored now, {} already stored with identical bytes",
            summary.records, summary.log, summary.stored, summary.already_stored
        )
    });
    Ok(Exit::Ok)
}

#[derive(Debug, clap::Args)]
pub struct AnchorArgs {
    /// The log kept in a store (s3://bucket/prefix, azure://…, file:///…).
    #[command(flatten)]
    pub log: LogArgs,
    /// Checkpoint origin line (a unique name for this log, e.g. example.com/release-audit).
    #[arg(long)]
    pub origin: String,
    /// Ed25519 PKCS#8 PEM private key (mode 0600) that signs the checkpoint.
    #[arg(long, value_name = "PEM")]
    pub signing_key: PathBuf,
    /// Signature name (default: the origin).
    #[arg(long)]
    pub signer_name: Option<String>,
    #[command(flatten)]
    pub keys: VerifyKeyArgs,
    /// Key of the checkpoints already stored (default: the public half of --signing-key).
    #[command(flatten)]
    pub checkpoint_key: CheckpointKeyArgs,
    #[command(flatten)]
    pub store: StoreWriteArgs,
    /// Keep running: anchor again after each DURATION (e.g. 30s, 15m, 1h, 1d) until SIGINT or
    /// SIGTERM.
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// `30s`, `15m`, `1h`, `1d` (a whole number and one unit).
fn parse_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        anyhow!("--every {text:?}: expected a whole number and a unit (s, m, h, d)")
    })?;
    let seconds = match unit {
        "s" => number,
        "m" => number.saturating_mul(60),
        "h" => number.saturating_mul(3600),
        "d" => number.saturating_mul(86_400),
        _ => return Err(anyhow!("--every {text:?}: the unit must be s, m, h or d")),
    };
    if seconds == 0 {
        return Err(anyhow!("--every must be at least 1s"));
    }
    Ok(std::time::Duration::from_secs(seconds))
}

fn anchor(args: AnchorArgs, output: &Output) -> anyhow::Result<Exit> {
    let alert_file = args.alerts.file.as_deref();
    let log = args.log.path.clone();
    let every = args.every.as_deref().map(parse_duration).transpose()?;
    let LogLocation::Store(target) = LogLocation::from_path(&log)? else {
        return Err(anyhow!(
            "audit anchor stores a checkpoint in the log's store: --log must be a target URL (s3://…, azure://…, file:///…); for a local file use `audit checkpoint`"
        ));
    };
    let options = verify_options(&args.keys, &[], None, &args.checkpoint_key, output)?;
    let key = signing_key(&args.signing_key)?;
    let name = args
        .signer_name
        .clone()
        .unwrap_or_else(|| args.origin.clone());
    let mut checkpoints = stored_checkpoint_key(&args.checkpoint_key)?;
    if checkpoints.key.is_none() {
        checkpoints.key = Some(key.public().verifying_key());
        checkpoints.key_name = Some(name.clone());
    }
    let write = args.store.options();
    let request = crate::audit::store::anchor::AnchorRequest {
        verify: &options,
        checkpoints: &checkpoints,
        origin: &args.origin,
        key_name: &name,
        signing_key: &key,
        write: &write,
    };
    let runtime = crate::cli::common::runtime()?;
    runtime.block_on(async {
        let store = crate::audit::store::open(&target)
            .await
            .map_err(store_log_error)?;
        let mut stop = StopSignal::new()?;
        loop {
            let result = crate::audit::store::anchor::anchor(store.as_ref(), &request)
                .await
                .map_err(store_log_error);
            let (outcome, _) =
                alerting(AlertKind::AuditIntegrityFailure, &log, alert_file, || {
                    result
                })?;
            output.result(&outcome, || {
                format!(
                    "{} checkpoint of {} record(s) at {} (locked, create-only); {} tlog-tiles object(s) written",
                    if outcome.already_stored {
                        "already anchored:"
                    } else {
                        "stored"
                    },
                    outcome.tree_size,
                    outcome.key,
                    outcome.tiles_written
                )
            });
            let Some(every) = every else {
                return Ok(Exit::Ok);
            };
            if stop.wait(every).await {
                output.note("stopped by signal after the last complete anchor");
                return Ok(Exit::Ok);
            }
        }
    })
}

/// SIGINT/SIGTERM for `audit anchor --every`: registered before the first anchor, so a signal
/// that arrives while anchoring ends the loop once that anchor is complete.
struct StopSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn new() -> anyhow::Result<StopSignal> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignal {
            interrupt: signal(SignalKind::interrupt()).context("installing a SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing a SIGTERM handler")?,
        })
    }

    /// Wait `duration`; true if a stop signal came first.
    async fn wait(&mut self, duration: std::time::Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => false,
            _ = self.interrupt.recv() => true,
            _ = self.terminate.recv() => true,
        }
    }
}
