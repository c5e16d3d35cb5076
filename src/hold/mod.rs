//! Legal holds by case. S3 and Azure keep one boolean legal hold per object version; which
//! cases (matters) hold a version is wormvault's to keep, in the audit log:
//!
//! * [`registry`] — the case registry, read only from a verified log (chain, record signatures
//!   with the user's key, and the newest signed hold checkpoint stored in the target);
//! * [`apply`] — setting store flags at scale (bounded concurrency, retries on throttling,
//!   read-back, progress with ETA);
//! * [`batch`] — the S3 Batch Operations manifest and job for holds beyond one machine;
//! * this module — `set`/`release` (decision logged first, flags applied, outcome logged, log
//!   anchored by a checkpoint stored locked in the target), `status` and `report`.
//!
//! The rule (issue 16): the store flag of a version is on exactly while at least one case holds
//! it. Releasing one case therefore clears only the versions no other case holds.

pub mod apply;
pub mod batch;
pub mod registry;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::audit::{self, AuditError, SignatureCheck, Signer, VerifyOptions};
use crate::store::{ImmutableStore, LockSpec, PutObject, RetentionMode, StoreError, StoredObject};
pub use apply::{FlagChange, FlagOutcome, Tick};
pub use registry::{Decision, Registry, RegistryError, VersionRef};

/// Where hold checkpoints live in a target, at the root of the bucket / container / vault (so
/// every prefix of the target is checked against the same anchors), one folder per origin.
pub const ANCHOR_DIR: &str = "_wormvault/holds";
/// Default checkpoint origin (and signed-note key name) of a hold registry.
pub const DEFAULT_ORIGIN: &str = "wormvault-legal-holds";
/// A stored hold checkpoint larger than this is refused unread.
const MAX_ANCHOR_BYTES: u64 = 64 * 1024;
/// A decision record longer than this is refused (the audit log reads lines up to 64 MiB).
const MAX_DECISION_BYTES: usize = 48 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error(
        "releasing a legal hold needs explicit confirmation (--confirm-release); it makes the objects deletable once their retention ends (use --dry-run to see what would change)"
    )]
    ReleaseNotConfirmed,
    #[error("no objects under {prefix:?} in {target}")]
    NothingThere { target: String, prefix: String },
    #[error(
        "case {case:?} holds nothing under {prefix:?} in {target} according to the verified audit log{action}. Cases holding objects under this prefix: {others}"
    )]
    CaseHoldsNothing {
        case: String,
        target: String,
        prefix: String,
        /// What was not done ("; nothing was released"), empty for a report.
        action: &'static str,
        others: String,
    },
    #[error("{what}: {problem}")]
    BadField {
        what: &'static str,
        problem: &'static str,
    },
    #[error(
        "{count} object version(s) under {prefix:?} have their store legal hold ON but no case in the verified audit log holds them (first: {first}); {decision} would take over or clear a hold it cannot account for — the log may have been cut back, or the hold was set outside wormvault. Nothing was changed: run `wormvault hold status` and restore the log; a hold placed outside wormvault is taken over for a case with `hold set --case CASE --adopt-unaccounted` (recorded as adopted)"
    )]
    FlagOnWithoutCase {
        decision: Decision,
        prefix: String,
        count: usize,
        first: String,
    },
    #[error(
        "changing holds needs --checkpoint-key (Ed25519 PEM): every change is anchored by a signed checkpoint of the audit log stored locked in the target"
    )]
    NoAnchorKey,
    #[error(
        "the target holds {count} signed hold checkpoint(s) under {dir}; give --checkpoint-key to check the audit log against them (a log that was cut back would otherwise go unnoticed)"
    )]
    AnchorUnchecked { count: usize, dir: String },
    #[error(
        "hold checkpoint {key} in {target} ({size} records) is signed by your checkpoint key but is not a checkpoint of the audit log {log}: it is another registry's (a log anchored with the same key and origin — give each registry its own --checkpoint-origin), or this log was cut back or rewritten ({problem}); nothing was changed — compare the log with its backups before going on"
    )]
    NotThisLog {
        target: String,
        key: String,
        size: u64,
        log: PathBuf,
        problem: String,
    },
    #[error("hold checkpoint {key} in {target}: {problem}")]
    BadAnchor {
        target: String,
        key: String,
        problem: String,
    },
    #[error(
        "the {decision} decision for case {case:?} would name {count} object versions ({bytes} bytes), more than one audit record may hold; hold narrower prefixes"
    )]
    TooLarge {
        decision: Decision,
        case: String,
        count: usize,
        bytes: usize,
    },
    #[error("S3 Batch Operations manifests are for s3:// targets; {target} is not one")]
    BatchNotS3 { target: String },
    #[error(
        "a release is applied by this tool only (S3 Batch Operations is offered for setting holds)"
    )]
    BatchRelease,
    #[error("{0}")]
    Batch(#[from] batch::BatchError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("audit log: {0}")]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Scratch(String),
}

impl HoldError {
    /// A policy / verification refusal (exit 1) rather than an operational error (exit 2).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            HoldError::ReleaseNotConfirmed
                | HoldError::CaseHoldsNothing { .. }
                | HoldError::FlagOnWithoutCase { .. }
                | HoldError::AnchorUnchecked { .. }
                | HoldError::BadAnchor { .. }
                | HoldError::NotThisLog { .. }
        ) || matches!(self, HoldError::Registry(e) if e.is_refusal())
    }
}

/// The signing side of anchoring.
pub struct AnchorKey {
    pub origin: String,
    /// A private key file or a KMS key (`awskms:ARN`).
    pub key: crate::trust::kms::SigningKeySource,
}

/// The audit log as case registry: where it is, how it is verified and signed, who acts.
pub struct Registrar {
    /// A local file, or the verified copy of a log in a store that appends go through.
    pub log: crate::audit::store::LogHandle,
    /// Record signatures are checked with this before the log is trusted (must be enabled).
    pub signatures: SignatureCheck,
    pub signer: Signer,
    pub actor: String,
    /// Checkpoint origin (the anchor folder in the target and the note key name).
    pub origin: String,
    /// Verifies the hold checkpoints stored in the target.
    pub checkpoint_key: Option<VerifyingKey>,
    /// Signs a new checkpoint after every change (required for set/release).
    pub anchor: Option<AnchorKey>,
}

/// The registry and the store's view of the prefix, both read before anything changes.
pub struct Context {
    pub registry: Registry,
    /// Every object version under the prefix (hold anchors left out).
    pub versions: BTreeMap<VersionRef, StoredObject>,
    /// The stored checkpoint the log was checked against: (key, tree size).
    pub anchor_checked: Option<(String, u64)>,
    /// Objects under the anchor folder, newer by name than that checkpoint, that are not
    /// checkpoints of this log signed by the checkpoint key ("key: problem"): passed over.
    pub anchors_ignored: Vec<String>,
    /// How the log was verified (signatures, stored checkpoint): the registry is read again
    /// the same way after flags change.
    pub verify: VerifyOptions,
}

/// A case id as every hold command takes it (see [`check_field`]): `archive`/`plan --legal-hold`
/// check it before planning, so no hold is placed under a case id no `hold release` could name.
pub fn check_case_id(case: &str) -> Result<(), HoldError> {
    check_field("case id", case)
}

/// Unicode format (Cf), line/paragraph separator (Zl, Zp) and other invisible characters: a
/// case id carrying one looks like another case's id but is a different case.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F | 0x200B..=0x200F
        | 0x2028..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// A case id, reason or actor: non-empty text of at most 256 characters, no control characters,
/// no leading or trailing whitespace, no invisible / bidi / format characters and no non-ASCII
/// whitespace, in Unicode NFC — so two ids that look the same are the same id.
fn check_field(what: &'static str, value: &str) -> Result<(), HoldError> {
    let problem = if value.trim().is_empty() {
        Some("must not be empty")
    } else if value.chars().count() > 256 {
        Some("must be at most 256 characters")
    } else if value.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if value.trim() != value {
        Some("must not begin or end with whitespace")
    } else if value
        .chars()
        .any(|c| is_invisible(c) || (c.is_whitespace() && !c.is_ascii()))
    {
        Some(
            "must not contain invisible, bidirectional-override or format characters or non-ASCII whitespace (they make one id look like another)",
        )
    } else if !icu_normalizer::ComposingNormalizerBorrowed::new_nfc().is_normalized(value) {
        Some(
            "must be in Unicode normalization form C (NFC): the same text in another form would be another case",
        )
    } else {
        None
    };
    match problem {
        Some(problem) => Err(HoldError::BadField { what, problem }),
        None => Ok(()),
    }
}

fn anchor_dir(origin: &str) -> String {
    let safe: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{ANCHOR_DIR}/{safe}/")
}

fn anchor_size(key: &str) -> Option<u64> {
    key.rsplit('/')
        .next()?
        .strip_prefix("checkpoint-")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// The stored hold checkpoint that binds the log: the newest under the origin's folder that opens
/// as a checkpoint signed by the checkpoint key (objects that do not open are reported and passed
/// over, see [`load`]).
struct Bound {
    checkpoint: Option<crate::audit::Checkpoint>,
    key: Option<(String, u64)>,
    ignored: Vec<String>,
}

async fn bind(
    store: &dyn ImmutableStore,
    origin: &str,
    checkpoint_key: Option<&VerifyingKey>,
) -> Result<Bound, HoldError> {
    let dir = anchor_dir(origin);
    let anchors = store.list(&dir).await?;
    let mut bound = Bound {
        checkpoint: None,
        key: None,
        ignored: Vec::new(),
    };
    // Newest first: the first that opens as a checkpoint of this log signed by the checkpoint
    // key binds the log. Anyone able to write to the store can put objects under the anchor
    // folder (locked ones cannot be removed), so an object that is not such a checkpoint is
    // reported and passed over rather than stopping every hold command for as long as it is
    // locked; when none of them opens, nothing binds the log and that is refused as before.
    let mut candidates: Vec<(u64, &StoredObject)> = anchors
        .iter()
        .filter_map(|a| anchor_size(&a.key).map(|size| (size, a)))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.key.cmp(&a.1.key)));
    if candidates.is_empty() {
        return Ok(bound);
    }
    let Some(key) = checkpoint_key else {
        return Err(HoldError::AnchorUnchecked {
            count: anchors.len(),
            dir,
        });
    };
    let mut first_problem = None;
    for (size, object) in candidates {
        match open_anchor(store, origin, key, size, object).await {
            Ok(checkpoint) => {
                bound.checkpoint = Some(checkpoint);
                bound.key = Some((object.key.clone(), size));
                break;
            }
            Err(HoldError::BadAnchor { key, problem, .. }) => {
                bound.ignored.push(format!("{key}: {problem}"));
                first_problem.get_or_insert((key, problem));
            }
            Err(other) => return Err(other),
        }
    }
    if bound.key.is_none()
        && let Some((key, problem)) = first_problem
    {
        return Err(HoldError::BadAnchor {
            target: store.target().to_string(),
            key,
            problem: format!(
                "{problem} (and no other object under {dir} is a checkpoint of this log signed by the checkpoint key)"
            ),
        });
    }
    Ok(bound)
}

/// Read the registry from the log verified with `options` plus the bound checkpoint. A log that
/// verifies on its own but not against the checkpoint is not that checkpoint's log at its size:
/// another registry's checkpoint (same key and origin) or this log cut back / rewritten — which
/// of the two cannot be told from here, so it is refused and said as it is.
fn verify_bound(
    store: &dyn ImmutableStore,
    log: &std::path::Path,
    signatures: &SignatureCheck,
    bound: &Bound,
) -> Result<(Registry, VerifyOptions), HoldError> {
    let options = VerifyOptions {
        signatures: signatures.clone(),
        checkpoints: bound.checkpoint.iter().cloned().collect(),
        ..Default::default()
    };
    match registry::load(log, &options) {
        Ok(registry) => Ok((registry, options)),
        Err(RegistryError::LogInvalid { first, .. }) if bound.checkpoint.is_some() => {
            let alone = VerifyOptions {
                signatures: signatures.clone(),
                ..Default::default()
            };
            let (key, size) = bound.key.clone().unwrap_or_default();
            match registry::load(log, &alone) {
                Ok(_) if log.exists() => Err(HoldError::NotThisLog {
                    target: store.target().to_string(),
                    key,
                    size,
                    log: log.to_path_buf(),
                    problem: first,
                }),
                _ => Err(RegistryError::LogInvalid {
                    path: log.to_path_buf(),
                    count: 1,
                    first,
                }
                .into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Read the store's view of `prefix` and the registry from the verified log (checked against
/// the newest hold checkpoint stored in the target).
pub async fn load(
    store: &dyn ImmutableStore,
    registrar: &Registrar,
    prefix: &str,
) -> Result<Context, HoldError> {
    let bound = bind(store, &registrar.origin, registrar.checkpoint_key.as_ref()).await?;
    let (registry, options) =
        verify_bound(store, registrar.log.path(), &registrar.signatures, &bound)?;
    let versions = store
        .list(prefix)
        .await?
        .into_iter()
        .filter(|o| !o.key.starts_with(ANCHOR_DIR))
        .map(|o| {
            (
                VersionRef {
                    key: o.key.clone(),
                    version_id: o.version_id.clone(),
                },
                o,
            )
        })
        .collect();
    Ok(Context {
        registry,
        versions,
        anchor_checked: bound.key,
        anchors_ignored: bound.ignored,
        verify: options,
    })
}

/// Before `archive --legal-hold` writes anything: the log that will register the hold must verify
/// against the newest hold checkpoint stored in the target (a log cut back is refused, not
/// anchored over). The caller has verified the log with `signatures` alone
/// ([`registry::check_before_archive_hold`]), so with no checkpoint stored there is nothing more
/// to check.
pub async fn check_log_against_anchors(
    store: &dyn ImmutableStore,
    log: &std::path::Path,
    signatures: &SignatureCheck,
    origin: &str,
    checkpoint_key: &VerifyingKey,
) -> Result<(), HoldError> {
    let bound = bind(store, origin, Some(checkpoint_key)).await?;
    if bound.checkpoint.is_none() {
        return Ok(());
    }
    verify_bound(store, log, signatures, &bound).map(|_| ())
}

/// Download one object under the anchor folder and open it as a checkpoint of this log signed
/// by `key`, whose tree size is the one its name gives.
async fn open_anchor(
    store: &dyn ImmutableStore,
    origin: &str,
    key: &ed25519_dalek::VerifyingKey,
    size: u64,
    object: &StoredObject,
) -> Result<crate::audit::Checkpoint, HoldError> {
    let bad = |problem: String| HoldError::BadAnchor {
        target: store.target().to_string(),
        key: object.key.clone(),
        problem,
    };
    // A checkpoint note is a few hundred bytes; anything large planted under the anchor
    // folder is refused before it is downloaded.
    if object.size > MAX_ANCHOR_BYTES {
        return Err(bad(format!(
            "{} bytes, larger than a checkpoint can be",
            object.size
        )));
    }
    let scratch = tempfile::tempdir().map_err(|e| HoldError::Scratch(e.to_string()))?;
    let local = scratch.path().join("checkpoint.txt");
    store
        .download(&object.key, object.version_id.as_deref(), &local)
        .await?;
    let note = std::fs::read_to_string(&local).map_err(|e| bad(format!("unreadable: {e}")))?;
    if note.len() as u64 > MAX_ANCHOR_BYTES {
        return Err(bad("larger than a checkpoint can be".into()));
    }
    let checkpoint =
        registry::open_checkpoint(&note, key, Some(origin)).map_err(|e| bad(e.to_string()))?;
    if checkpoint.size != size {
        return Err(bad(format!(
            "its name says {size} records, its signed body {}",
            checkpoint.size
        )));
    }
    Ok(checkpoint)
}

/// A set or release request.
pub struct ChangeRequest {
    pub decision: Decision,
    pub case: String,
    pub reason: String,
    /// Full key prefix inside the store (empty, or ending in `/`).
    pub prefix: String,
    pub dry_run: bool,
    pub release_confirmed: bool,
    pub concurrency: usize,
    /// Write an S3 Batch Operations manifest + job here instead of applying flags.
    pub batch: Option<(PathBuf, batch::BatchJob)>,
    /// `set` only: take over versions whose flag is on with no case in the log (a hold placed
    /// outside wormvault) for this case, saying so in the decision record (`adopted`); without
    /// it such versions refuse the decision.
    pub adopt_unaccounted: bool,
}

/// One object version in a change report.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeLine {
    pub key: String,
    pub version_id: Option<String>,
    /// The flag as listed before the change.
    pub before: Option<bool>,
    /// The flag the registry requires after the change.
    pub wanted: bool,
    /// The flag read back after the change (`None` in a dry run, a batch hand-off, or on error).
    pub legal_hold: Option<bool>,
    /// Cases holding it after the change.
    pub cases: Vec<String>,
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnchorOutcome {
    pub key: String,
    pub tree_size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    pub target: String,
    pub prefix: String,
    pub action: Decision,
    pub case: String,
    pub reason: String,
    pub dry_run: bool,
    /// Sequence of the decision record written by this run (none: nothing new to decide).
    pub decision_record: Option<u64>,
    /// Earlier unfinished decisions of this case that this run finished (sequences).
    pub resumed: Vec<u64>,
    /// Sequence of the outcome record.
    pub outcome_record: Option<u64>,
    pub anchor: Option<AnchorOutcome>,
    pub batch_job: Option<PathBuf>,
    pub objects: Vec<ChangeLine>,
    pub changed: usize,
    /// Versions whose flag was on with no case, taken over by this `set --adopt-unaccounted`.
    pub adopted: usize,
    pub ok: bool,
}

/// The cases holding at least one version under `prefix` ("none" when no case does).
fn cases_holding(registry: &Registry, prefix: &str) -> String {
    let cases: BTreeSet<&String> = registry
        .holds
        .iter()
        .filter(|(v, _)| v.key.starts_with(prefix))
        .flat_map(|(_, cases)| cases.iter())
        .collect();
    if cases.is_empty() {
        "none".into()
    } else {
        cases.into_iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn decision_bytes(objects: &[VersionRef]) -> usize {
    objects
        .iter()
        .map(|o| 40 + o.key.len() * 2 + o.version_id.as_ref().map_or(4, |v| v.len() + 2))
        .sum()
}

/// Set or release `request.case` on every object version under `request.prefix`.
pub async fn change(
    store: &dyn ImmutableStore,
    registrar: &Registrar,
    request: &ChangeRequest,
    progress: &(dyn Fn(Tick) + Send + Sync),
) -> Result<ChangeReport, HoldError> {
    check_field("--case", &request.case)?;
    check_field("--reason", &request.reason)?;
    check_field("--actor", &registrar.actor)?;
    if request.decision == Decision::Release && !request.release_confirmed && !request.dry_run {
        return Err(HoldError::ReleaseNotConfirmed);
    }
    if !request.dry_run && registrar.anchor.is_none() {
        return Err(HoldError::NoAnchorKey);
    }
    let target = store.target().to_string();
    let bucket = match (&request.batch, store.target()) {
        (None, _) => None,
        (Some(_), _) if request.decision == Decision::Release => {
            return Err(HoldError::BatchRelease);
        }
        (Some(_), crate::store::Target::S3 { bucket, .. }) => Some(bucket.clone()),
        (Some(_), _) => return Err(HoldError::BatchNotS3 { target }),
    };
    let context = load(store, registrar, &request.prefix).await?;
    let registry = &context.registry;
    let case = request.case.as_str();
    let held: BTreeSet<VersionRef> = registry
        .held_by(case, &request.prefix)
        .into_iter()
        .collect();
    let pending: Vec<&registry::DecisionRecord> = registry.unfinished(case, &request.prefix);

    // The decision this run records: the exact versions it adds to / removes from the case.
    let decided: Vec<VersionRef> = match request.decision {
        Decision::Set => {
            if context.versions.is_empty() && held.is_empty() && pending.is_empty() {
                return Err(HoldError::NothingThere {
                    target,
                    prefix: request.prefix.clone(),
                });
            }
            context
                .versions
                .keys()
                .filter(|v| !held.contains(*v))
                .cloned()
                .collect()
        }
        Decision::Release => {
            if held.is_empty() && pending.is_empty() {
                return Err(HoldError::CaseHoldsNothing {
                    case: case.to_string(),
                    target,
                    prefix: request.prefix.clone(),
                    action: "; nothing was released",
                    others: cases_holding(registry, &request.prefix),
                });
            }
            held.iter().cloned().collect()
        }
    };
    let bytes = decision_bytes(&decided);
    if bytes > MAX_DECISION_BYTES {
        return Err(HoldError::TooLarge {
            decision: request.decision,
            case: case.to_string(),
            count: decided.len(),
            bytes,
        });
    }

    // The registry after the decision: what every flag must be.
    let mut after = registry.clone();
    for version in &decided {
        let cases = after.holds.entry(version.clone()).or_default();
        match request.decision {
            Decision::Set => {
                cases.insert(case.to_string());
            }
            Decision::Release => {
                cases.remove(case);
            }
        }
        if cases.is_empty() {
            after.holds.remove(version);
        }
    }
    // Flags to bring in line: this decision's versions, the unfinished decisions' versions, and
    // (for set) every version the case holds under the prefix, so a rerun repairs them.
    let mut touched: BTreeSet<VersionRef> = decided.iter().cloned().collect();
    for decision in &pending {
        touched.extend(decision.objects.iter().cloned());
    }
    if request.decision == Decision::Set {
        touched.extend(held.iter().cloned());
    }
    // A flag that is on while no case in the verified log holds it (and no unfinished release
    // explains it: a release still clearing its flags, perhaps running right now) is a hold this
    // run cannot account for: taking it over for this case, or clearing it, could lift a hold
    // whose records were cut from the log. Refused before anything is logged or changed.
    let explained: BTreeSet<&VersionRef> = registry
        .all_unfinished(&request.prefix)
        .into_iter()
        .filter(|d| d.decision == Decision::Release)
        .flat_map(|d| d.objects.iter())
        .collect();
    let unaccounted: Vec<&VersionRef> = touched
        .iter()
        .filter(|v| {
            context.versions.get(*v).and_then(|o| o.legal_hold) == Some(true)
                && !registry.is_held(v)
                && !explained.contains(*v)
        })
        .collect();
    // Past this refusal, `unaccounted` are the versions `set --adopt-unaccounted` takes over.
    let adopting = request.adopt_unaccounted && request.decision == Decision::Set;
    if let Some(first) = unaccounted.first()
        && !adopting
    {
        return Err(HoldError::FlagOnWithoutCase {
            decision: request.decision,
            prefix: request.prefix.clone(),
            count: unaccounted.len(),
            first: match &first.version_id {
                Some(v) => format!("{} (version {v})", first.key),
                None => first.key.clone(),
            },
        });
    }
    let changes: Vec<FlagChange> = touched
        .iter()
        .map(|v| FlagChange {
            version: v.clone(),
            hold: after.is_held(v),
            listed: context.versions.get(v).and_then(|o| o.legal_hold),
        })
        .collect();

    let mut report = ChangeReport {
        target: target.clone(),
        prefix: request.prefix.clone(),
        action: request.decision,
        case: case.to_string(),
        reason: request.reason.clone(),
        dry_run: request.dry_run,
        decision_record: None,
        resumed: pending.iter().map(|d| d.sequence).collect(),
        outcome_record: None,
        anchor: None,
        batch_job: None,
        objects: Vec::new(),
        changed: 0,
        adopted: unaccounted.len(),
        ok: true,
    };
    let line = |change: &FlagChange| ChangeLine {
        key: change.version.key.clone(),
        version_id: change.version.version_id.clone(),
        before: change.listed,
        wanted: change.hold,
        legal_hold: None,
        cases: after.cases(&change.version),
        ok: true,
        error: None,
    };
    if request.dry_run {
        report.objects = changes.iter().map(line).collect();
        report.changed = changes.iter().filter(|c| c.listed != Some(c.hold)).count();
        return Ok(report);
    }

    let mut completes: Vec<(u64, String)> = pending
        .iter()
        .map(|d| (d.sequence, d.record_hash.clone()))
        .collect();
    if !decided.is_empty() {
        let mut record = registry::decision_record(
            request.decision,
            case,
            &registrar.actor,
            &request.reason,
            &target,
            &request.prefix,
            &decided,
        );
        if !unaccounted.is_empty() {
            // Who took over holds no case accounted for, and which: part of the signed record.
            record.metadata.insert(
                "adopted".into(),
                unaccounted
                    .iter()
                    .map(|o| serde_json::json!({"key": o.key, "version_id": o.version_id}))
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        let written = registrar.log.append(&record, &registrar.signer)?;
        let sequence = written.sequence().unwrap_or(0);
        report.decision_record = Some(sequence);
        completes.push((
            sequence,
            written.record_hash().unwrap_or_default().to_string(),
        ));
    }

    if let (Some((manifest, job)), Some(bucket)) = (&request.batch, &bucket) {
        let wanted: Vec<VersionRef> = changes
            .iter()
            .filter(|c| c.hold)
            .map(|c| c.version.clone())
            .collect();
        report.batch_job = Some(batch::write(manifest, bucket, &wanted, job)?);
        report.objects = changes.iter().map(line).collect();
        report.anchor = Some(anchor(store, registrar, &context).await?);
        return Ok(report);
    }

    let outcomes = apply::apply(store, changes.clone(), request.concurrency, progress).await;
    let mut by_version: BTreeMap<VersionRef, FlagOutcome> = outcomes
        .into_iter()
        .map(|o| {
            (
                VersionRef {
                    key: o.key.clone(),
                    version_id: o.version_id.clone(),
                },
                o,
            )
        })
        .collect();
    for change in &changes {
        let mut entry = line(change);
        if let Some(outcome) = by_version.remove(&change.version) {
            entry.legal_hold = outcome.legal_hold;
            entry.ok = outcome.ok;
            entry.error = outcome.error;
            if outcome.changed && outcome.ok && entry.before.is_none() {
                // No listed flag to compare with at the end: the request's word counts.
                report.changed += 1;
            }
        }
        report.objects.push(entry);
    }
    reconcile(
        store,
        registrar,
        &context.verify,
        &mut report.objects,
        request.concurrency,
        progress,
    )
    .await?;
    // Versions whose flag now differs from the one listed before the run (a flag changed and
    // changed back by the reconciliation counts once, or not at all).
    report.changed += report
        .objects
        .iter()
        .filter(|o| {
            o.ok && o.before.is_some() && o.legal_hold.is_some() && o.legal_hold != o.before
        })
        .count();
    report.ok = report.objects.iter().all(|o| o.ok);
    if report.ok && (!completes.is_empty() || report.changed > 0) {
        let record = registry::applied_record(
            case,
            &registrar.actor,
            &target,
            &request.prefix,
            &completes,
            report.objects.len(),
        );
        let written = registrar.log.append(&record, &registrar.signer)?;
        report.outcome_record = written.sequence();
    }
    // Anchor whenever the log holds records no stored checkpoint covers: this run's, or an
    // earlier run's that was stopped between its outcome record and its checkpoint.
    let covered = context.anchor_checked.as_ref().map_or(0, |(_, size)| *size);
    if report.decision_record.is_some()
        || report.outcome_record.is_some()
        || context.registry.record_count > covered
    {
        report.anchor = Some(anchor(store, registrar, &context).await?);
    }
    Ok(report)
}

/// Rounds of [`reconcile`] before a version that keeps changing is reported as failed.
const RECONCILE_ROUNDS: usize = 5;

/// Bring this run's flags in line with the registry as it is *now*, not as it was when the run
/// loaded it. Two hold commands on the same objects at once each decide from their own reading
/// of the log: a `release` of case Y that read the log before a concurrent `set` of case X was
/// logged computes "no case holds it" and, if its request lands after X's, leaves the object
/// unheld while X holds it. So once its flags are applied, a run reads the log again (a log in a
/// store is first brought up to the store's head) and re-applies every flag it touched that the
/// registry now wants otherwise, until a reading finds nothing to change. Whichever run writes a
/// flag last reads the log after that write, so the last reading covers every decision logged
/// before it. The lines show the registry's cases and wanted flag as last read.
async fn reconcile(
    store: &dyn ImmutableStore,
    registrar: &Registrar,
    verify: &VerifyOptions,
    lines: &mut [ChangeLine],
    concurrency: usize,
    progress: &(dyn Fn(Tick) + Send + Sync),
) -> Result<(), HoldError> {
    let version = |line: &ChangeLine| VersionRef {
        key: line.key.clone(),
        version_id: line.version_id.clone(),
    };
    for round in 0..=RECONCILE_ROUNDS {
        registrar.log.refresh()?;
        let now = registry::load(registrar.log.path(), verify)?;
        // Lines whose flag differs from what the registry wants now, by version.
        let mut stale: BTreeMap<VersionRef, usize> = BTreeMap::new();
        for (index, line) in lines.iter_mut().enumerate() {
            let v = version(line);
            line.wanted = now.is_held(&v);
            line.cases = now.cases(&v);
            if line.ok && line.legal_hold.is_some_and(|flag| flag != line.wanted) {
                stale.insert(v, index);
            }
        }
        if stale.is_empty() {
            break;
        }
        if round == RECONCILE_ROUNDS {
            // Still changing after every round: say so rather than report a flag that may be
            // stale.
            for &index in stale.values() {
                lines[index].ok = false;
                lines[index].error = Some(format!(
                    "other hold commands kept changing the cases of this object while this one ran ({RECONCILE_ROUNDS} rounds); run `hold status` when they are done"
                ));
            }
            break;
        }
        let changes = stale
            .iter()
            .map(|(v, &index)| FlagChange {
                version: v.clone(),
                hold: lines[index].wanted,
                listed: lines[index].legal_hold,
            })
            .collect();
        for outcome in apply::apply(store, changes, concurrency, progress).await {
            let v = VersionRef {
                key: outcome.key,
                version_id: outcome.version_id,
            };
            let Some(&index) = stale.get(&v) else {
                continue;
            };
            let line = &mut lines[index];
            line.legal_hold = outcome.legal_hold;
            line.ok = outcome.ok;
            line.error = outcome.error;
        }
    }
    Ok(())
}

/// Sign a checkpoint of the whole log and store it locked in the target, as long as the
/// evidence it covers is retained.
async fn anchor(
    store: &dyn ImmutableStore,
    registrar: &Registrar,
    context: &Context,
) -> Result<AnchorOutcome, HoldError> {
    let key = registrar.anchor.as_ref().ok_or(HoldError::NoAnchorKey)?;
    store_checkpoint(
        store,
        registrar.log.path(),
        &registrar.signatures,
        &key.origin,
        &key.key,
        anchor_retain_until(context.versions.values().filter_map(|o| o.retain_until)),
    )
    .await
}

/// Sign a checkpoint of the whole log at `log` (verified with `signatures` and against the newest
/// hold checkpoint already stored under `origin`, so a log cut back is never anchored over) and
/// store it under `_wormvault/holds/<origin>/`, COMPLIANCE-locked until `retain_until`. `hold
/// set`/`release` and `archive --legal-hold` both anchor through here.
pub async fn store_checkpoint(
    store: &dyn ImmutableStore,
    log: &std::path::Path,
    signatures: &SignatureCheck,
    origin: &str,
    key: &crate::trust::kms::SigningKeySource,
    retain_until: DateTime<Utc>,
) -> Result<AnchorOutcome, HoldError> {
    let bound = bind(store, origin, Some(&key.public().verifying_key())).await?;
    let (_, options) = verify_bound(store, log, signatures, &bound)?;
    let (checkpoint, note) = audit::checkpoint::create(log, &options, origin, origin, key)?;
    let scratch = tempfile::tempdir().map_err(|e| HoldError::Scratch(e.to_string()))?;
    let local = scratch.path().join("checkpoint.txt");
    std::fs::write(&local, note.as_bytes()).map_err(|e| HoldError::Scratch(e.to_string()))?;
    let digest = crate::hashing::sha256_file(&local, &|_| {})
        .map_err(|e| HoldError::Scratch(e.to_string()))?;
    let object_key = format!(
        "{}checkpoint-{}-{}.txt",
        anchor_dir(origin),
        checkpoint.size,
        &hex::encode(checkpoint.root)[..16]
    );
    let put = PutObject {
        key: object_key.clone(),
        source: &local,
        size: digest.bytes,
        sha256: digest.sha256.clone(),
        lock: anchor_lock(retain_until),
        tags: BTreeMap::from([("wormvault-kind".to_string(), "hold-checkpoint".to_string())]),
        metadata: BTreeMap::from([("sha256".to_string(), digest.sha256.clone())]),
        content_type: Some("text/plain".into()),
    };
    match store.put(&put, &|_| {}).await {
        Ok(_) => {}
        // The same log head anchored twice (a rerun): the name carries size and root, so an
        // existing object of that name is this checkpoint; its content is checked on next load.
        Err(StoreError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(AnchorOutcome {
        key: object_key,
        tree_size: checkpoint.size,
    })
}

/// How long a hold checkpoint is kept: the latest of the retain-until dates of what it covers,
/// at least a year from now.
pub fn anchor_retain_until(retain_until: impl Iterator<Item = DateTime<Utc>>) -> DateTime<Utc> {
    let floor = Utc::now() + chrono::Duration::days(366);
    retain_until.fold(floor, DateTime::max)
}

/// The lock of a hold checkpoint: always COMPLIANCE (a GOVERNANCE lock can be bypassed, and a
/// checkpoint that can be deleted cannot show the log was cut back), until `retain_until`.
fn anchor_lock(retain_until: DateTime<Utc>) -> LockSpec {
    LockSpec {
        mode: RetentionMode::Compliance,
        retain_until: DateTime::from_timestamp(retain_until.timestamp() + 1, 0)
            .unwrap_or(retain_until),
        legal_hold: false,
    }
}

/// One object version in `hold status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusLine {
    pub key: String,
    pub version_id: Option<String>,
    /// The store's flag.
    pub legal_hold: Option<bool>,
    /// Cases holding it according to the verified log.
    pub cases: Vec<String>,
    pub retain_until: Option<DateTime<Utc>>,
    /// Present in the store (a version the registry names may be gone).
    pub present: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusFinding {
    /// `flag_off_while_held`, `flag_on_without_case`, `held_version_missing`, `unfinished`.
    pub kind: &'static str,
    pub key: Option<String>,
    pub version_id: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub target: String,
    pub prefix: String,
    pub log_records: u64,
    /// The stored hold checkpoint the log was checked against (key, tree size).
    pub anchor_checked: Option<(String, u64)>,
    /// Objects under the anchor folder that are not checkpoints of this log signed by the
    /// checkpoint key, passed over ("key: problem").
    pub anchors_ignored: Vec<String>,
    pub objects: Vec<StatusLine>,
    pub findings: Vec<StatusFinding>,
    pub ok: bool,
}

/// Compare the store's flags under `prefix` with the cases of the verified registry.
pub async fn status(
    store: &dyn ImmutableStore,
    registrar: &Registrar,
    prefix: &str,
) -> Result<StatusReport, HoldError> {
    let context = load(store, registrar, prefix).await?;
    let registry = &context.registry;
    let mut findings = Vec::new();
    let mut objects = Vec::new();
    for (version, object) in &context.versions {
        let cases = registry.cases(version);
        match (object.legal_hold, cases.is_empty()) {
            (Some(true), true) => findings.push(StatusFinding {
                kind: "flag_on_without_case",
                key: Some(version.key.clone()),
                version_id: version.version_id.clone(),
                detail: "the store holds it but no case in the verified log does: set outside wormvault, or a release did not finish".into(),
            }),
            (flag, false) if flag != Some(true) => findings.push(StatusFinding {
                kind: "flag_off_while_held",
                key: Some(version.key.clone()),
                version_id: version.version_id.clone(),
                detail: format!(
                    "held by {} but the store reports legal hold {}: it can be deleted once retention ends; rerun `hold set --case {}`",
                    cases.join(", "),
                    match flag {
                        Some(false) => "off",
                        _ => "not reported",
                    },
                    cases[0]
                ),
            }),
            _ => {}
        }
        objects.push(StatusLine {
            key: version.key.clone(),
            version_id: version.version_id.clone(),
            legal_hold: object.legal_hold,
            cases,
            retain_until: object.retain_until,
            present: true,
        });
    }
    for (version, cases) in &registry.holds {
        if version.key.starts_with(prefix) && !context.versions.contains_key(version) {
            findings.push(StatusFinding {
                kind: "held_version_missing",
                key: Some(version.key.clone()),
                version_id: version.version_id.clone(),
                detail: format!(
                    "held by {} but not in the store",
                    cases.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
            objects.push(StatusLine {
                key: version.key.clone(),
                version_id: version.version_id.clone(),
                legal_hold: None,
                cases: cases.iter().cloned().collect(),
                retain_until: None,
                present: false,
            });
        }
    }
    // H9: a key whose older version a case holds, shadowed by a newer version no case holds —
    // readers of the key get the unheld one.
    let newest: BTreeMap<&str, &VersionRef> = context
        .versions
        .iter()
        .filter(|(_, o)| o.is_latest)
        .map(|(v, _)| (v.key.as_str(), v))
        .collect();
    for (key, version) in &newest {
        if registry.is_held(version) {
            continue;
        }
        // The key's versions sit together in the ordered map: read just those.
        let first = VersionRef {
            key: key.to_string(),
            version_id: None,
        };
        let held_older: BTreeSet<String> = context
            .versions
            .range(first..)
            .map(|(v, _)| v)
            .take_while(|v| v.key == *key)
            .filter(|v| *v != *version)
            .flat_map(|v| registry.cases(v))
            .collect();
        if !held_older.is_empty() {
            findings.push(StatusFinding {
                kind: "held_key_shadowed",
                key: Some(key.to_string()),
                version_id: version.version_id.clone(),
                detail: format!(
                    "an older version is held by {} but the newest version (the one the key returns) is held by no case: run `hold set` for the case again to hold it, or check who wrote it",
                    held_older.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    // H2: records after the newest stored hold checkpoint could be cut from the log unnoticed.
    let covered = context.anchor_checked.as_ref().map_or(0, |(_, size)| *size);
    if registry.decisions.iter().any(|d| d.sequence > covered) {
        findings.push(StatusFinding {
            kind: "unanchored",
            key: None,
            version_id: None,
            detail: format!(
                "{} records not covered by any hold checkpoint (the log has {}, the newest stored hold checkpoint covers {covered}), among them hold decisions: they could be cut from the log unnoticed; rerun any `hold set`/`hold release` with --checkpoint-key to anchor them",
                registry.record_count - covered,
                registry.record_count
            ),
        });
    }
    for decision in registry.all_unfinished(prefix) {
        findings.push(StatusFinding {
            kind: "unfinished",
            key: None,
            version_id: None,
            detail: format!(
                "audit record {} ({} for case {}, {} versions) has no outcome: a run was interrupted; rerun `hold {} --case {}`",
                decision.sequence,
                if decision.decision == Decision::Set { "set" } else { "release" },
                decision.case,
                decision.objects.len(),
                if decision.decision == Decision::Set { "set" } else { "release --confirm-release" },
                decision.case
            ),
        });
    }
    Ok(StatusReport {
        target: store.target().to_string(),
        prefix: prefix.to_string(),
        log_records: registry.record_count,
        anchor_checked: context.anchor_checked,
        anchors_ignored: context.anchors_ignored,
        ok: findings.is_empty(),
        objects,
        findings,
    })
}

/// One row of `hold report`: a version the case holds, where it lives and until when.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    pub case: String,
    pub key: String,
    pub version_id: Option<String>,
    pub location: String,
    pub legal_hold: Option<bool>,
    pub retention_mode: Option<RetentionMode>,
    pub retain_until: Option<DateTime<Utc>>,
    /// Audit record that placed the hold, when, by whom, why.
    pub held_since_record: u64,
    pub held_since: String,
    pub held_by: String,
    pub reason: String,
    pub present: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub case: String,
    pub target: String,
    pub prefix: String,
    pub rows: Vec<ReportRow>,
    /// Rows whose store flag is not on, or whose version is gone.
    pub problems: usize,
    pub ok: bool,
}

/// Where an object version lives, as a URI a reader can act on.
pub fn location(target: &crate::store::Target, key: &str, version: Option<&str>) -> String {
    let mut root = target.clone();
    match &mut root {
        crate::store::Target::S3 { prefix, .. }
        | crate::store::Target::Azure { prefix, .. }
        | crate::store::Target::Local { prefix, .. } => *prefix = key.to_string(),
    }
    match (version, target) {
        (Some(v), crate::store::Target::S3 { .. }) => format!("{root}?versionId={v}"),
        (Some(v), _) => format!("{root}?versionid={v}"),
        (None, _) => root.to_string(),
    }
}

/// Every version `case` holds under `prefix`, read back from the store.
pub async fn report(
    store: &dyn ImmutableStore,
    registrar: &Registrar,
    prefix: &str,
    case: &str,
) -> Result<CaseReport, HoldError> {
    let context = load(store, registrar, prefix).await?;
    let registry = &context.registry;
    let held = registry.held_by(case, prefix);
    if held.is_empty() {
        return Err(HoldError::CaseHoldsNothing {
            case: case.to_string(),
            target: store.target().to_string(),
            prefix: prefix.to_string(),
            action: "",
            others: cases_holding(registry, prefix),
        });
    }
    let mut rows = Vec::with_capacity(held.len());
    for version in held {
        let stored = context.versions.get(&version);
        let since = registry.set_by(case, &version);
        rows.push(ReportRow {
            case: case.to_string(),
            location: location(store.target(), &version.key, version.version_id.as_deref()),
            legal_hold: stored.and_then(|s| s.legal_hold),
            retention_mode: stored.and_then(|s| s.retention_mode),
            retain_until: stored.and_then(|s| s.retain_until),
            held_since_record: since.map_or(0, |d| d.sequence),
            held_since: since.map(|d| d.created_at.clone()).unwrap_or_default(),
            held_by: since.map(|d| d.actor.clone()).unwrap_or_default(),
            reason: since.map(|d| d.reason.clone()).unwrap_or_default(),
            present: stored.is_some(),
            key: version.key,
            version_id: version.version_id,
        });
    }
    let problems = rows
        .iter()
        .filter(|r| !r.present || r.legal_hold != Some(true))
        .count();
    Ok(CaseReport {
        case: case.to_string(),
        target: store.target().to_string(),
        prefix: prefix.to_string(),
        ok: problems == 0,
        problems,
        rows,
    })
}

/// The CSV of a case report (RFC 4180 quoting; one header row).
pub fn report_csv(report: &CaseReport) -> String {
    fn field(value: &str) -> String {
        if value.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value.to_string()
        }
    }
    let mut out = String::from(
        "case,key,version_id,location,legal_hold,retention_mode,retain_until,held_since_record,held_since,held_by,reason,present\n",
    );
    for row in &report.rows {
        let cells = [
            row.case.clone(),
            row.key.clone(),
            row.version_id.clone().unwrap_or_default(),
            row.location.clone(),
            row.legal_hold.map(|b| b.to_string()).unwrap_or_default(),
            row.retention_mode
                .map(|m| m.to_string())
                .unwrap_or_default(),
            row.retain_until.map(|t| t.to_rfc3339()).unwrap_or_default(),
            row.held_since_record.to_string(),
            row.held_since.clone(),
            row.held_by.clone(),
            row.reason.clone(),
            row.present.to_string(),
        ];
        out.push_str(&cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}
