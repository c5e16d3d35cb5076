//! `wormvault hold set|release|status|report TARGET`: legal holds by case, kept in the audit log
//! (the case registry) and applied to every object version under a prefix.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use indicatif::{ProgressBar, ProgressStyle};

use crate::audit::Signer;
use crate::cli::Output;
use crate::cli::args::{AuditLogKeyArgs, parse_target};
use crate::cli::common;
use crate::exit::{Exit, Refusal};
use crate::hold::{
    self, AnchorKey, ChangeReport, ChangeRequest, Decision, HoldError, Registrar, RegistryError,
    Tick,
};
use crate::store::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Hold every object version under the target prefix for a case (logged, then applied).
    Set(ChangeArgs),
    /// Release a case's hold (needs --confirm-release); versions another case holds stay held.
    Release(ChangeArgs),
    /// Per object version: the store's flag, the cases holding it, and any disagreement.
    Status(ReadArgs),
    /// Every object version a case holds, with retain-until and location (json or csv).
    Report(ReportArgs),
}

/// The audit log as case registry, and the keys that verify, sign and anchor it.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// The audit log that records every hold decision (required: it is the case registry): a
    /// JSONL file, or a log kept in WORM storage (s3://bucket/prefix, azure://…, file:///…).
    #[arg(long, value_name = "FILE|URL")]
    pub audit_log: Option<PathBuf>,
    /// The audit log's keys: `--audit-signing-key` (Ed25519, whose public half also verifies
    /// the log unless --audit-trust-root / --audit-public-key is given) or the HMAC key.
    #[command(flatten)]
    pub keys: AuditLogKeyArgs,
    /// Ed25519 key of the hold checkpoints: a private PEM or `awskms:ARN` (endpoint from
    /// WORMVAULT_KMS_ENDPOINT for an emulator) signs new ones (set/release); a public or private
    /// PEM checks the ones stored in the target.
    #[arg(long, value_name = "PEM|awskms:ARN")]
    pub checkpoint_key: Option<PathBuf>,
    /// Checkpoint origin line and note key name; also names the anchor folder in the target.
    #[arg(long, default_value = hold::DEFAULT_ORIGIN)]
    pub checkpoint_origin: String,
}

#[derive(Debug, clap::Args)]
pub struct ChangeArgs {
    /// Target with the prefix to act on, e.g. s3://bucket/prefix/session-id
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Target,
    /// Case or matter id the hold belongs to.
    #[arg(long)]
    pub case: String,
    /// Why (recorded in the audit event).
    #[arg(long)]
    pub reason: String,
    /// Who decides (recorded as the audit event's actor).
    #[arg(long)]
    pub actor: String,
    /// Confirm a release: versions no other case holds become deletable once retention ends.
    #[arg(long)]
    pub confirm_release: bool,
    /// Show what would change and change nothing (no event, no flag).
    #[arg(long)]
    pub dry_run: bool,
    /// `set` only: take over, for this case, versions whose legal hold is on but no case in the
    /// audit log holds them (a hold placed outside wormvault) — listed as `adopted` in the signed
    /// decision record; releasing the case later clears them. Without it `set` refuses them.
    #[arg(long)]
    pub adopt_unaccounted: bool,
    /// Flag requests in flight at once.
    #[arg(long, default_value_t = hold::apply::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
}

/// S3 Batch Operations hand-off (set only).
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// Write an S3 Batch Operations manifest CSV here (and the CreateJob request to
    /// OUT.job.json) instead of applying the flags; the decision is still logged.
    #[arg(long, value_name = "OUT", requires_all = ["batch_account_id", "batch_role_arn", "batch_manifest_location", "batch_report_location"])]
    pub batch_manifest: Option<PathBuf>,
    /// AWS account id that runs the job.
    #[arg(long)]
    pub batch_account_id: Option<String>,
    /// IAM role S3 Batch Operations assumes (needs s3:PutObjectLegalHold).
    #[arg(long)]
    pub batch_role_arn: Option<String>,
    /// s3://bucket/key the manifest will be uploaded to (single PUT: its ETag is its MD5).
    #[arg(long)]
    pub batch_manifest_location: Option<String>,
    /// s3://bucket/prefix for the job's completion report.
    #[arg(long)]
    pub batch_report_location: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// Target with the prefix to read, e.g. s3://bucket/prefix/session-id
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Target,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Target with the prefix to report on, e.g. s3://bucket/prefix
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Target,
    /// The case to report.
    #[arg(long)]
    pub case: String,
    /// Report format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write the report here instead of stdout (never overwritten).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl RegistryArgs {
    /// The key id an Ed25519 key answers to here: `--audit-key-id`, else the one the log's
    /// newest record is signed under (`archive` names its audit key by the trust root that holds
    /// it). A key id is only a label — every record must still verify under the given key — and
    /// appending under the log's own id keeps one id per key in the registry.
    fn ed25519_key_id(&self, log: &std::path::Path) -> Option<String> {
        if self.keys.sign.key.audit_key_id.is_some() {
            return self.keys.sign.key.audit_key_id.clone();
        }
        newest_signature_key_id(log)
    }

    /// The registrar; `writing` loads the signer and the private checkpoint key.
    fn registrar(&self, actor: &str, writing: bool, output: &Output) -> anyhow::Result<Registrar> {
        let given = self
            .audit_log
            .clone()
            .ok_or_else(|| refusal(HoldError::Registry(RegistryError::NoAuditLog)))?;
        let (checkpoint_key, anchor) = match &self.checkpoint_key {
            None => (None, None),
            // A KMS key signs without its private half ever leaving the KMS.
            Some(path)
                if path
                    .to_str()
                    .and_then(crate::trust::kms::kms_key_name)
                    .is_some() =>
            {
                let settings = crate::trust::kms::KmsSettings {
                    endpoint: std::env::var(crate::trust::kms::KMS_ENDPOINT_VAR)
                        .ok()
                        .filter(|v| !v.trim().is_empty()),
                    ..Default::default()
                };
                let key = crate::trust::kms::SigningKeySource::load(path, &settings)?;
                (
                    Some(key.public().verifying_key()),
                    writing.then(|| AnchorKey {
                        origin: self.checkpoint_origin.clone(),
                        key,
                    }),
                )
            }
            Some(path) => match crate::trust::load_public_key(path) {
                Ok((public, _)) if !writing => (Some(public.verifying_key()), None),
                Ok(_) => {
                    return Err(anyhow!(
                        "{} is a public key; changing holds signs a checkpoint and needs the Ed25519 private key",
                        path.display()
                    ));
                }
                Err(_) => {
                    let pair = crate::trust::load_private_key(path)
                        .with_context(|| format!("loading checkpoint key {}", path.display()))?;
                    (
                        Some(pair.public().verifying_key()),
                        Some(AnchorKey {
                            origin: self.checkpoint_origin.clone(),
                            key: crate::trust::kms::SigningKeySource::File(Box::new(pair)),
                        }),
                    )
                }
            },
        };
        // A log in a store (`s3://…`, `azure://…`, `file:///…`) is read from a verified copy;
        // the hold's records are claimed in the store first (create-only, locked, read back).
        // Its stored checkpoints are checked with the checkpoint key (a log cut back behind the
        // tool's back is refused, with or without a key) before anything is written.
        let log = crate::cli::audit::open_log_checked(
            &given,
            &crate::audit::VerifyOptions::default(),
            &crate::audit::store::verify::Checkpoints {
                key: checkpoint_key,
                ..Default::default()
            },
        )?;
        let signatures = self
            .keys
            .signature_check(|| self.ed25519_key_id(log.path()), output)?;
        let signer = if writing {
            self.keys.signer(self.ed25519_key_id(log.path()), output)?
        } else {
            Signer::Unsigned
        };
        Ok(Registrar {
            log,
            signatures,
            signer,
            actor: actor.to_string(),
            origin: self.checkpoint_origin.clone(),
            checkpoint_key,
            anchor,
        })
    }
}

fn refusal(error: HoldError) -> anyhow::Error {
    if error.is_refusal() {
        anyhow::Error::new(Refusal(error.to_string()))
    } else {
        anyhow::Error::new(error)
    }
}

/// The store prefix named by the target (`""` or ending in `/`).
fn prefix_of(store: &dyn crate::store::ImmutableStore) -> String {
    let prefix = store.target().prefix().to_string();
    if prefix.is_empty() {
        prefix
    } else {
        format!("{prefix}/")
    }
}

/// Progress of a flag run: a bar on a terminal, JSON lines with --json, a line every few
/// seconds otherwise.
struct Progress {
    output: Output,
    bar: Mutex<Option<ProgressBar>>,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    fn new(output: &Output) -> Progress {
        Progress {
            output: *output,
            bar: Mutex::new(None),
            last: Mutex::new(None),
        }
    }

    fn tick(&self, tick: Tick) {
        if self.output.progress_enabled() {
            let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
            let bar = bar.get_or_insert_with(|| {
                let bar = ProgressBar::with_draw_target(
                    Some(tick.total as u64),
                    common::draw_target(&self.output),
                );
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} legal holds {pos}/{len} {wide_bar} {per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            });
            bar.set_position(tick.done as u64);
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let every = if self.output.json {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        };
        let due = last.is_none_or(|t| t.elapsed() >= every) || tick.done == tick.total;
        if !due {
            return;
        }
        *last = Some(Instant::now());
        self.output.event(
            &serde_json::json!({
                "event": "hold_progress",
                "done": tick.done,
                "total": tick.total,
                "per_second": (tick.per_second * 10.0).round() / 10.0,
                "eta_seconds": tick.eta_seconds.map(|s| s.ceil()),
            }),
            || {
                format!(
                    "legal holds: {}/{} ({:.0}/s, eta {})",
                    tick.done,
                    tick.total,
                    tick.per_second,
                    tick.eta_seconds
                        .map(|s| format!("{}s", s.ceil()))
                        .unwrap_or_else(|| "unknown".into())
                )
            },
        );
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    match args.command {
        Command::Set(a) => change(a, Decision::Set, output),
        Command::Release(a) => change(a, Decision::Release, output),
        Command::Status(a) => status(a, output),
        Command::Report(a) => report(a, output),
    }
}

fn change(args: ChangeArgs, decision: Decision, output: &Output) -> anyhow::Result<Exit> {
    if args.adopt_unaccounted && decision == Decision::Release {
        anyhow::bail!(
            "--adopt-unaccounted is for `hold set` (taking over a hold no case accounts for); a release never clears such a hold"
        );
    }
    let registrar = args.registry.registrar(&args.actor, true, output)?;
    let batch = match &args.batch.batch_manifest {
        None => None,
        Some(path) => Some((
            path.clone(),
            hold::batch::BatchJob {
                account_id: args.batch.batch_account_id.clone().unwrap_or_default(),
                role_arn: args.batch.batch_role_arn.clone().unwrap_or_default(),
                manifest_location: args
                    .batch
                    .batch_manifest_location
                    .clone()
                    .unwrap_or_default(),
                report_location: args.batch.batch_report_location.clone().unwrap_or_default(),
                hold: true,
                description: format!("wormvault legal hold for case {}", args.case),
            },
        )),
    };
    let progress = Progress::new(output);
    let result = common::with_store(&args.target, async |store| {
        let request = ChangeRequest {
            decision,
            case: args.case.clone(),
            reason: args.reason.clone(),
            prefix: prefix_of(store),
            dry_run: args.dry_run,
            release_confirmed: args.confirm_release,
            concurrency: usize::from(args.concurrency),
            batch,
            adopt_unaccounted: args.adopt_unaccounted,
        };
        hold::change(store, &registrar, &request, &|t| progress.tick(t))
            .await
            .map_err(refusal)
    });
    progress.finish();
    let report: ChangeReport = result?;
    output.result(&report, || render_change(&report));
    if !report.ok {
        output.warn(format!(
            "some flags were not confirmed; the decision is logged{} — rerun the same command to finish the job",
            report
                .decision_record
                .map(|s| format!(" as audit record {s}"))
                .unwrap_or_default()
        ));
        return Ok(Exit::Error);
    }
    Ok(Exit::Ok)
}

fn render_change(report: &ChangeReport) -> String {
    let mut text = String::new();
    let show_each = report.objects.len() <= 200;
    for object in &report.objects {
        if !show_each && object.ok {
            continue;
        }
        let version = object
            .version_id
            .as_deref()
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default();
        let state = match (&object.error, report.dry_run, object.legal_hold) {
            (Some(error), _, _) => format!("FAILED    {}{version}: {error}", object.key),
            (None, true, _) => format!(
                "{} {}{version}",
                match (object.before == Some(object.wanted), object.wanted) {
                    (true, true) => "stays HELD     ",
                    (true, false) => "stays not held ",
                    (false, true) => "would HOLD     ",
                    (false, false) => "would RELEASE  ",
                },
                object.key
            ),
            (None, false, Some(true)) => format!("HELD      {}{version}", object.key),
            (None, false, Some(false)) => format!("not held  {}{version}", object.key),
            (None, false, None) => format!("pending   {}{version}", object.key),
        };
        text.push_str(&state);
        if !object.cases.is_empty() {
            text.push_str(&format!("  [cases: {}]", object.cases.join(", ")));
        }
        text.push('\n');
    }
    let verb = match report.action {
        Decision::Set => "hold set",
        Decision::Release => "hold release",
    };
    text.push_str(&format!(
        "{verb} for case {}: {} object versions, {} {}{}{}",
        report.case,
        report.objects.len(),
        report.changed,
        if report.dry_run {
            "would change (dry run: nothing was changed or logged)"
        } else {
            "flags changed"
        },
        report
            .decision_record
            .map(|s| format!(", decision = audit record {s}"))
            .unwrap_or_default(),
        report
            .anchor
            .as_ref()
            .map(|a| format!(
                ", checkpoint of {} records stored at {}",
                a.tree_size, a.key
            ))
            .unwrap_or_default()
    ));
    if report.adopted > 0 {
        text.push_str(&format!(
            "\nadopted {} version(s) whose hold no case accounted for: case {} now holds them (recorded in the decision), and releasing it will clear them",
            report.adopted, report.case
        ));
    }
    if let Some(job) = &report.batch_job {
        text.push_str(&format!(
            "\nS3 Batch Operations job written to {}: upload the manifest, run `aws s3control create-job --cli-input-json file://{}`, then `wormvault hold status` confirms the flags",
            job.display(),
            job.display()
        ));
    }
    text
}

fn status(args: ReadArgs, output: &Output) -> anyhow::Result<Exit> {
    let registrar = args.registry.registrar("wormvault", false, output)?;
    let report = common::with_store(&args.target, async |store| {
        let prefix = prefix_of(store);
        hold::status(store, &registrar, &prefix)
            .await
            .map_err(refusal)
    })?;
    output.result(&report, || {
        let mut text = String::new();
        for object in &report.objects {
            let version = object
                .version_id
                .as_deref()
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default();
            let flag = match (object.present, object.legal_hold) {
                (false, _) => "MISSING ",
                (true, Some(true)) => "HELD    ",
                (true, Some(false)) => "not held",
                (true, None) => "unknown ",
            };
            let cases = if object.cases.is_empty() {
                "no case".to_string()
            } else {
                format!("cases: {}", object.cases.join(", "))
            };
            text.push_str(&format!("{flag} {}{version}  [{cases}]\n", object.key));
        }
        for finding in &report.findings {
            text.push_str(&format!(
                "FINDING {}{}: {}\n",
                finding.kind,
                finding
                    .key
                    .as_deref()
                    .map(|k| format!(" {k}"))
                    .unwrap_or_default(),
                finding.detail
            ));
        }
        for ignored in &report.anchors_ignored {
            text.push_str(&format!(
                "NOTE not a hold checkpoint of this log, passed over (someone wrote into the tool's namespace; investigate): {ignored}\n"
            ));
        }
        text.push_str(&format!(
            "{} object versions; log of {} records verified{}; {}",
            report.objects.len(),
            report.log_records,
            report
                .anchor_checked
                .as_ref()
                .map(|(key, size)| format!(" against the stored checkpoint {key} ({size} records)"))
                .unwrap_or_else(|| " (no hold checkpoint stored in the target yet)".into()),
            if report.ok {
                "store flags agree with the cases".to_string()
            } else {
                format!("{} FINDING(S)", report.findings.len())
            }
        ));
        text
    });
    Ok(if report.ok { Exit::Ok } else { Exit::Failure })
}

fn report(args: ReportArgs, output: &Output) -> anyhow::Result<Exit> {
    let registrar = args.registry.registrar("wormvault", false, output)?;
    let report = common::with_store(&args.target, async |store| {
        let prefix = prefix_of(store);
        hold::report(store, &registrar, &prefix, &args.case)
            .await
            .map_err(refusal)
    })?;
    match &args.output {
        // The file follows --format whatever the output mode; stdout gets the result: a line,
        // or with --json one JSON document naming the file.
        Some(path) => {
            let rendered = match args.format {
                Format::Csv => hold::report_csv(&report),
                _ => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&report).context("rendering the report")?
                ),
            };
            crate::archive::write_new(path, rendered.as_bytes()).map_err(|e| anyhow!(e))?;
            let summary = serde_json::json!({
                "case": report.case,
                "object_versions": report.rows.len(),
                "output": path,
                "ok": report.ok,
            });
            output.result(&summary, || {
                format!(
                    "case {}: {} object versions written to {}",
                    report.case,
                    report.rows.len(),
                    path.display()
                )
            });
        }
        None => {
            let rendered = match (args.format, output.json) {
                (Format::Csv, false) => hold::report_csv(&report),
                _ => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&report).context("rendering the report")?
                ),
            };
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(rendered.as_bytes())
                .context("writing the report")?;
        }
    }
    if !report.ok {
        output.warn(format!(
            "{} of the versions case {} holds are not held in the store or are gone (run `wormvault hold status`)",
            report.problems, report.case
        ));
        return Ok(Exit::Failure);
    }
    Ok(Exit::Ok)
}

/// The `signature.key_id` of the log's newest record, found as appends find the head (from the
/// file's end, never the whole log): `None` for a missing, empty, torn or unsigned log.
fn newest_signature_key_id(log: &std::path::Path) -> Option<String> {
    let mut file = std::fs::File::open(log).ok()?;
    crate::audit::append::read_head(&mut file, log)
        .ok()?
        .signature_key_id
}
