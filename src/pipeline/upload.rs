//! Executing a storage plan against a store: preflight, create-only writes with resume (skip
//! what is already there with the same content and lock, fail loudly on anything different),
//! then read every object back and turn what the store says into receipts.
//!
//! Nothing is claimed that was not read back: receipts are built only from what the store
//! reported when the object was read back after its write (every backend's `put` reads the
//! object back before returning) or when it was found already stored, and any difference from
//! the plan fails the run.

use std::path::Path;
use std::sync::Arc;

use futures::stream::{self, StreamExt};

use super::plan::{PlannedObject, StoragePlan};
use super::receipt::{self, Field, Mismatch, Outcome, Receipt, ReceiptSet};
use crate::store::{
    DigestSource, Enforcement, ImmutableStore, PreflightOptions, PreflightReport, PutObject,
    StoreError, StoredObject,
};

/// Objects above this size are looked up before writing (see `write_one`).
const PRECHECK_BYTES: u64 = 16 * 1024 * 1024;

/// What the engine tells its caller as it goes (the CLI renders progress bars or JSON lines).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A pipeline stage started, passed or failed (`archive`, `upload`).
    Stage {
        stage: String,
        status: String,
        detail: String,
    },
    /// Something the user should know before anything is written (e.g. an HMAC-signed bundle).
    Warning {
        message: String,
    },
    Preflight {
        target: String,
        passed: bool,
    },
    ObjectStarted {
        key: String,
        bytes: u64,
    },
    ObjectDone {
        key: String,
        outcome: Outcome,
    },
    ReadBack {
        objects: usize,
    },
}

pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);
    /// Bytes sent (for progress bars).
    fn bytes(&self, _count: u64) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {
    fn event(&self, _event: &Event) {}
}

#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Objects written at once.
    pub concurrency: usize,
    pub preflight: PreflightOptions,
    /// Hold every write's commit until this gate opens (see [`crate::store::WriteGate`]).
    pub gate: Option<crate::store::WriteGate>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            concurrency: 4,
            preflight: PreflightOptions::default(),
            gate: None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UploadReport {
    pub preflight: PreflightReport,
    pub uploaded: usize,
    pub already_present: usize,
    pub aborted_incomplete_uploads: usize,
    pub receipts: ReceiptSet,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("target {target} failed preflight: {}; nothing was written", summary(.report))]
    Preflight {
        target: String,
        report: PreflightReport,
    },
    #[error(
        "{key} already exists in the store with different {detail}; wormvault never overwrites — investigate, or archive under a new session id"
    )]
    Conflict { key: String, detail: String },
    #[error(
        "bundle file {path} is {found} bytes, the plan says {expected}; the bundle changed after it was verified"
    )]
    SourceChanged {
        path: String,
        expected: u64,
        found: u64,
    },
    #[error(
        "{failed} of {total} objects were not written; first error: {first}. Rerun the same command to resume: objects already stored are checked and skipped"
    )]
    Incomplete {
        failed: usize,
        total: usize,
        first: String,
    },
    #[error("read-back found {} difference(s) between the plan and the store: {}", .mismatches.len(), .mismatches.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    ReadBack { mismatches: Vec<Mismatch> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UploadError {
    /// Policy/verification refusals (exit 1) versus operational errors (exit 2).
    pub fn is_refusal(&self) -> bool {
        // A bucket or container that could not be read at all is a configuration error.
        if let UploadError::Preflight { report, .. } = self {
            return !report.unreadable();
        }
        matches!(
            self,
            UploadError::Conflict { .. }
                | UploadError::ReadBack { .. }
                | UploadError::SourceChanged { .. }
                | UploadError::Store(StoreError::ChecksumMismatch { .. })
        )
    }
}

fn summary(report: &PreflightReport) -> String {
    report
        .failures()
        .map(|c| format!("{} ({})", c.name, c.detail))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Preflight a target; an error if any check fails.
pub async fn preflight(
    store: &dyn ImmutableStore,
    options: &PreflightOptions,
) -> Result<PreflightReport, UploadError> {
    let report = store.preflight(options).await?;
    if !report.passed() {
        return Err(UploadError::Preflight {
            target: report.target.clone(),
            report,
        });
    }
    Ok(report)
}

/// Is an existing object the one the plan wants? Returns the differences. `resume_floor` is set
/// for an object an earlier run already stored (not one this run wrote).
fn same_object(
    planned: &PlannedObject,
    existing: &crate::store::StoredObject,
    resume_floor: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<Mismatch> {
    let mut differences = receipt::compare(planned, existing);
    // A hold set later by a records manager is not a different object: resume must not fail
    // because a legal hold was applied in between.
    differences.retain(|m| !(m.field == Field::LegalHold && existing.legal_hold == Some(true)));
    // A rerun of `archive` after an interrupted run makes a fresh plan whose retain-until counts
    // from *its* start, a little later than the interrupted run's. The object the earlier run
    // stored (same key, so same bundle digest; same bytes) is still the one wanted if its lock
    // meets the bundle's retention counted from the bundle's creation; the receipt records the
    // store's own date. Without this, every interrupted archive was unresumable (exit 1).
    if let (Some(floor), Some(until)) = (resume_floor, existing.retain_until)
        && until.timestamp() >= floor.timestamp()
    {
        differences.retain(|m| m.field != Field::RetainUntil);
    }
    differences
}

/// The earliest retain-until an already stored object of this plan may have: the plan's
/// retention counted from the bundle's creation. `None` (no tolerance) when it cannot be computed.
fn resume_floor(plan: &StoragePlan) -> Option<chrono::DateTime<chrono::Utc>> {
    let created = crate::trust::parse_timestamp(&plan.bundle.created_at)?;
    crate::retention::retain_until(created, plan.retention.retention_days).ok()
}

async fn write_one(
    store: &dyn ImmutableStore,
    bundle_dir: &Path,
    planned: &PlannedObject,
    floor: Option<chrono::DateTime<chrono::Utc>>,
    gate: Option<&crate::store::WriteGate>,
    observer: &dyn Observer,
) -> Result<(Outcome, StoredObject), UploadError> {
    let source = bundle_dir.join(&planned.path);
    let found = std::fs::metadata(&source)
        .map_err(|e| StoreError::Io {
            path: source.display().to_string(),
            source: e,
        })?
        .len();
    if found != planned.bytes {
        return Err(UploadError::SourceChanged {
            path: source.display().to_string(),
            expected: planned.bytes,
            found,
        });
    }
    // Large objects are looked up first so a resumed run does not send them again; small ones
    // go straight to the create-only write (the store refuses an existing key), which saves a
    // round trip per object on the common first run.
    if planned.bytes > PRECHECK_BYTES
        && let Some(existing) = store.head(&planned.key).await?
    {
        return judge_existing(store, planned, &source, existing, floor).await;
    }
    observer.event(&Event::ObjectStarted {
        key: planned.key.clone(),
        bytes: planned.bytes,
    });
    let object = PutObject {
        key: planned.key.clone(),
        source: &source,
        size: planned.bytes,
        sha256: planned.sha256.clone(),
        lock: planned.lock(),
        tags: planned.tags.clone(),
        metadata: planned.metadata.clone(),
        content_type: None,
    };
    let progress = |n| observer.bytes(n);
    let written = match gate {
        Some(gate) => store.put_gated(&object, gate, &progress).await,
        None => store.put(&object, &progress).await,
    };
    match written {
        // `put` returns the object as read back from the store after the write.
        Ok(stored) => Ok((Outcome::Uploaded, stored)),
        // Already stored (a resumed run, another writer, or a retried request): judge what is there.
        Err(StoreError::AlreadyExists { .. }) => match store.head(&planned.key).await? {
            Some(existing) => judge_existing(store, planned, &source, existing, floor).await,
            None => Err(StoreError::NotFound {
                target: store.target().to_string(),
                key: planned.key.clone(),
            }
            .into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// An object is already stored under the planned key (a resumed run, or another writer — e.g. a
/// concurrent archive of the same bundle): is it the one the plan wants? Same content and lock
/// is accepted. If the only difference is that the plan asks for a legal hold the stored object
/// lacks, the hold is set now and read back (a create-only "already present" must not report a
/// held archive while an object stays unheld, issue #15 item 13). Anything else is a conflict.
async fn judge_existing(
    store: &dyn ImmutableStore,
    planned: &PlannedObject,
    source: &Path,
    existing: StoredObject,
    floor: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(Outcome, StoredObject), UploadError> {
    let conflict = |differences: &[Mismatch]| UploadError::Conflict {
        key: planned.key.clone(),
        detail: differences
            .iter()
            .map(|m| format!("{} (plan {}, store {})", m.field, m.expected, m.found))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let differences = same_object(planned, &existing, floor);
    // The same object, or the same but for a hold the plan asks for and it lacks.
    let acceptable = differences.is_empty()
        || (planned.legal_hold
            && differences.iter().all(|m| m.field == Field::LegalHold)
            && existing.legal_hold != Some(true));
    if !acceptable {
        return Err(conflict(&differences));
    }
    // Before it is accepted (or held), the object's content must be proven, not just claimed.
    let existing = prove_content(store, planned, source, existing).await?;
    if differences.is_empty() {
        return Ok((Outcome::AlreadyPresent, existing));
    }
    let mut held = store
        .set_legal_hold(&planned.key, existing.version_id.as_deref(), true)
        .await?;
    // Setting a hold does not change a version's bytes: the proof carries over to the same
    // version reporting the same digest.
    if held.version_id == existing.version_id && held.sha256 == existing.sha256 {
        held.sha256_source = existing.sha256_source;
    }
    let differences = same_object(planned, &held, floor);
    if differences.is_empty() {
        Ok((Outcome::AlreadyPresent, held))
    } else {
        Err(conflict(&differences))
    }
}

/// An object found already stored under a planned key is proven before it is accepted
/// ([`crate::store::proven_sha256`]): one whose reported SHA-256 is only the one its writer
/// recorded ([`DigestSource::Claimed`]: Azure blob metadata, S3 metadata beside a composite
/// checksum) is read and hashed, or matched against the bundle file `source` by digests the store
/// computed — whoever could create the key first could have stored other bytes under the planned
/// digest. One whose digest the store computed keeps it (`same_object` already compared it).
async fn prove_content(
    store: &dyn ImmutableStore,
    planned: &PlannedObject,
    source: &Path,
    mut existing: StoredObject,
) -> Result<StoredObject, UploadError> {
    if existing.sha256_source == DigestSource::Verified {
        return Ok(existing);
    }
    let found = crate::store::proven_sha256(store, &existing, Some(source))
        .await?
        .unwrap_or_default();
    if !found.eq_ignore_ascii_case(&planned.sha256) {
        return Err(UploadError::Conflict {
            key: planned.key.clone(),
            detail: format!(
                "sha256 (plan {}, stored bytes {found}; the store reports {} only because its writer recorded it)",
                planned.sha256,
                existing.sha256.as_deref().unwrap_or("none"),
            ),
        });
    }
    tracing::info!(key = %planned.key, "already stored; its content is proven");
    existing.sha256 = Some(found);
    existing.sha256_source = DigestSource::Verified;
    Ok(existing)
}

/// Execute a plan: preflight, write every object (resuming), read everything back, receipts.
pub async fn execute(
    plan: &StoragePlan,
    bundle_dir: &Path,
    store: &dyn ImmutableStore,
    options: &UploadOptions,
    observer: Arc<dyn Observer>,
) -> Result<UploadReport, UploadError> {
    let report = preflight(store, &options.preflight).await;
    observer.event(&Event::Preflight {
        target: plan.target.clone(),
        passed: report.is_ok(),
    });
    let report = report?;
    let aborted = store.abort_incomplete_uploads(&plan.session_prefix).await?;
    let floor = resume_floor(plan);

    // Largest first: the longest transfers start at once instead of last, which shortens the
    // whole run (and lets a gated run send multipart parts while small objects wait).
    let mut order: Vec<(usize, &PlannedObject)> = plan.objects.iter().enumerate().collect();
    order.sort_by_key(|(index, planned)| (std::cmp::Reverse(planned.bytes), *index));
    let gate = options.gate.as_ref();
    let results: Vec<(usize, Result<(Outcome, StoredObject), UploadError>)> = stream::iter(order)
        .map(|(index, planned)| {
            let observer = observer.clone();
            // Counted in flight from the moment the write is scheduled (before it is first
            // polled): the deferred check waits for the uploader's digests only while some write
            // in flight is not parked at the gate (hashing::SharedDigests).
            let in_flight = gate.and_then(|g| g.digests()).map(|d| d.enter());
            async move {
                let _in_flight = in_flight;
                let result =
                    write_one(store, bundle_dir, planned, floor, gate, observer.as_ref()).await;
                if let Ok((outcome, _)) = &result {
                    observer.event(&Event::ObjectDone {
                        key: planned.key.clone(),
                        outcome: *outcome,
                    });
                }
                (index, result)
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;

    let mut outcomes = vec![Outcome::Uploaded; plan.objects.len()];
    let mut states: Vec<Option<StoredObject>> = vec![None; plan.objects.len()];
    let mut errors = Vec::new();
    for (index, result) in results {
        match result {
            Ok((outcome, state)) => {
                outcomes[index] = outcome;
                states[index] = Some(state);
            }
            Err(error) => errors.push((index, error)),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|(index, _)| *index);
        let failed = errors.len();
        let (_, first) = errors.remove(0);
        // A single refusal (conflict, changed source) is reported as itself.
        if failed == 1 || first.is_refusal() {
            return Err(first);
        }
        return Err(UploadError::Incomplete {
            failed,
            total: plan.objects.len(),
            first: first.to_string(),
        });
    }

    // Every object was read back from the store by the write itself (or found already there);
    // compare each state with the plan before anything is claimed.
    observer.event(&Event::ReadBack {
        objects: plan.objects.len(),
    });
    let mut receipts: Vec<Receipt> = Vec::with_capacity(plan.objects.len());
    let mut mismatches = Vec::new();
    for ((planned, state), outcome) in plan.objects.iter().zip(states).zip(&outcomes) {
        match state {
            None => mismatches.push(Mismatch::absent(&planned.key)),
            Some(stored) => {
                if stored.enforcement == Enforcement::Unconfirmed
                    && report.enforcement != Enforcement::Unconfirmed
                {
                    mismatches.push(Mismatch {
                        key: planned.key.clone(),
                        field: Field::Enforcement,
                        expected: report.enforcement.to_string(),
                        found: "unconfirmed".into(),
                    });
                }
                let floor = if *outcome == Outcome::AlreadyPresent {
                    floor
                } else {
                    None
                };
                let differences = same_object(planned, &stored, floor);
                if differences.is_empty() {
                    receipts.push(receipt::receipt(planned, &stored, *outcome));
                } else {
                    mismatches.extend(differences);
                }
            }
        }
    }
    if !mismatches.is_empty() {
        return Err(UploadError::ReadBack { mismatches });
    }
    let uploaded = outcomes.iter().filter(|o| **o == Outcome::Uploaded).count();
    let receipts = ReceiptSet::new(plan, report.enforcement, receipts);
    Ok(UploadReport {
        preflight: report,
        uploaded,
        already_present: outcomes.len() - uploaded,
        aborted_incomplete_uploads: aborted,
        receipts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{self, PlanFile, PlanInput, PlanOptions};
    use crate::store::{RetentionMode, Target, local::LocalVault};

    fn bundle(dir: &Path, files: &[(&str, &[u8])]) -> PlanInput {
        let mut planned = Vec::new();
        for (name, body) in files {
            std::fs::write(dir.join(name), body).unwrap();
            planned.push(PlanFile {
                path: name.to_string(),
                sha256: crate::hashing::sha256_hex(body),
                bytes: body.len() as u64,
            });
        }
        PlanInput {
            bundle_digest: "cd".repeat(32),
            manifest_signature: serde_json::json!({}),
            created_at: "2026-11-22T00:00:00+00:00".into(),
            signer: "test".into(),
            session_id: "s-1".into(),
            classification: None,
            retention_days: 2555,
            policy_retain_until: None,
            files: planned,
        }
    }

    /// A temporary directory holding `files` as a bundle (`bundle/`) beside a vault path
    /// (`vault/`, not created): the directory (kept alive by the caller), both paths and the
    /// bundle's plan input.
    fn bundle_in_tempdir(
        files: &[(&str, &[u8])],
    ) -> (
        tempfile::TempDir,
        std::path::PathBuf,
        std::path::PathBuf,
        PlanInput,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("bundle");
        std::fs::create_dir(&source).unwrap();
        let vault_dir = dir.path().join("vault");
        let input = bundle(&source, files);
        (dir, source, vault_dir, input)
    }

    fn make_plan(input: &PlanInput, vault: &Path) -> StoragePlan {
        plan::plan(
            input,
            &PlanOptions {
                target: Target::parse(&format!("file://{}", vault.display())).unwrap(),
                mode: RetentionMode::Compliance,
                legal_hold_case: None,
                minimum_retention_days: 2555,
                now: chrono::Utc::now(),
            },
        )
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upload_then_resume_then_conflict() {
        let (_dir, source, vault_dir, input) =
            bundle_in_tempdir(&[("a.json", b"{}"), ("b.md", b"# b\n")]);
        let plan = make_plan(&input, &vault_dir);
        let store =
            LocalVault::open(Target::parse(&format!("file://{}", vault_dir.display())).unwrap())
                .unwrap();

        let first = execute(
            &plan,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap();
        assert_eq!((first.uploaded, first.already_present), (2, 0));
        assert_eq!(first.receipts.receipts.len(), 2);
        assert!(
            first
                .receipts
                .receipts
                .iter()
                .all(|r| r.enforcement == Enforcement::Tool
                    && r.retention_mode == Some(RetentionMode::Compliance)
                    && r.sha256.is_some())
        );

        // A rerun (after a crash, say) skips what is there with the same content and lock.
        let again = execute(
            &plan,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap();
        assert_eq!((again.uploaded, again.already_present), (0, 2));

        // A different bundle content under the same key is refused, never overwritten.
        let mut other = input.clone();
        std::fs::write(source.join("a.json"), b"{\"x\":1}").unwrap();
        other.files[0].sha256 = crate::hashing::sha256_hex(b"{\"x\":1}");
        other.files[0].bytes = 7;
        let conflicting = make_plan(&other, &vault_dir);
        let error = execute(
            &conflicting,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, UploadError::Conflict { ref key, .. } if key.ends_with("a.json")),
            "{error}"
        );
        assert!(error.is_refusal());
        let stored = std::fs::read(vault_dir.join(&plan.objects[0].key)).unwrap();
        assert_eq!(stored, b"{}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_source_is_refused_before_writing() {
        let (_dir, source, vault_dir, input) = bundle_in_tempdir(&[("a.json", b"{}")]);
        let plan = make_plan(&input, &vault_dir);
        // Same size, different bytes: caught by the store's checksum check.
        std::fs::write(source.join("a.json"), b"[]").unwrap();
        let store =
            LocalVault::open(Target::parse(&format!("file://{}", vault_dir.display())).unwrap())
                .unwrap();
        let error = execute(
            &plan,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                error,
                UploadError::Store(StoreError::ChecksumMismatch { .. })
            ),
            "{error}"
        );
        assert!(!vault_dir.join(&plan.objects[0].key).exists());
        // Different size: caught before anything is sent.
        std::fs::write(source.join("a.json"), b"{ }").unwrap();
        let error = execute(
            &plan,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, UploadError::SourceChanged { .. }),
            "{error}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rerun_with_a_later_fresh_plan_resumes_but_a_short_lock_is_a_conflict() {
        let (_dir, source, vault_dir, input) = bundle_in_tempdir(&[("a.json", b"{}")]);
        let store =
            LocalVault::open(Target::parse(&format!("file://{}", vault_dir.display())).unwrap())
                .unwrap();
        let first = make_plan(&input, &vault_dir);
        execute(
            &first,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap();

        // `archive` rerun: a fresh plan, made later, asks for a later retain-until.
        let mut later = first.clone();
        for object in &mut later.objects {
            object.retain_until += chrono::TimeDelta::seconds(90);
        }
        let resumed = execute(
            &later,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap();
        assert_eq!((resumed.uploaded, resumed.already_present), (0, 1));
        // The receipt records what the store holds, not what the later plan asked for.
        assert_eq!(
            resumed.receipts.receipts[0]
                .retain_until
                .map(|t| t.timestamp()),
            Some(first.objects[0].retain_until.timestamp())
        );

        // A stored lock shorter than the bundle's retention from its creation is still a conflict.
        let mut longer = first.clone();
        longer.retention.retention_days = 3650;
        for object in &mut longer.objects {
            object.retain_until += chrono::TimeDelta::days(2000);
        }
        let error = execute(
            &longer,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, UploadError::Conflict { ref detail, .. } if detail.contains("retain_until")),
            "{error}"
        );
    }

    /// Another archive of the same bundle stored the objects without a hold; this run's plan asks
    /// for one. It must not report success with the objects unheld: the hold is set and read
    /// back (issue #15 item 13).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_already_present_object_gets_the_planned_hold() {
        let (_dir, source, vault_dir, input) =
            bundle_in_tempdir(&[("a.json", b"{}"), ("b.md", b"# b\n")]);
        let unheld = make_plan(&input, &vault_dir);
        let store =
            LocalVault::open(Target::parse(&format!("file://{}", vault_dir.display())).unwrap())
                .unwrap();
        execute(
            &unheld,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap();
        let held = plan::plan(
            &input,
            &PlanOptions {
                target: Target::parse(&format!("file://{}", vault_dir.display())).unwrap(),
                mode: RetentionMode::Compliance,
                legal_hold_case: Some("CASE-9".into()),
                minimum_retention_days: 2555,
                now: chrono::Utc::now(),
            },
        )
        .unwrap();
        let report = execute(
            &held,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap();
        assert_eq!((report.uploaded, report.already_present), (0, 2));
        for object in &held.objects {
            let stored = store.head(&object.key).await.unwrap().unwrap();
            assert_eq!(stored.legal_hold, Some(true), "{}", object.key);
        }
        assert!(
            report
                .receipts
                .receipts
                .iter()
                .all(|r| r.legal_hold == Some(true))
        );
    }

    /// A store whose HEAD reports, for every object, the digest its writer recorded
    /// ([`DigestSource::Claimed`], as Azure metadata is) — and, when `forged` is set, that digest
    /// instead of the one of the bytes held: what a writer that created the key first with other
    /// bytes and the planned `sha256` metadata leaves behind. Counts the content reads.
    struct Claiming {
        inner: LocalVault,
        forged: Option<String>,
        reads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ImmutableStore for Claiming {
        fn target(&self) -> &crate::store::Target {
            self.inner.target()
        }
        async fn preflight(
            &self,
            options: &PreflightOptions,
        ) -> Result<PreflightReport, StoreError> {
            self.inner.preflight(options).await
        }
        async fn put(
            &self,
            object: &PutObject<'_>,
            progress: crate::store::Progress<'_>,
        ) -> Result<StoredObject, StoreError> {
            self.inner.put(object, progress).await
        }
        async fn head(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
            Ok(self.inner.head(key).await?.map(|mut stored| {
                if let Some(forged) = &self.forged {
                    stored.sha256 = Some(forged.clone());
                }
                stored.sha256_source = DigestSource::Claimed;
                stored
            }))
        }
        async fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, StoreError> {
            self.inner.list(prefix).await
        }
        async fn set_legal_hold(
            &self,
            key: &str,
            version_id: Option<&str>,
            hold: bool,
        ) -> Result<StoredObject, StoreError> {
            self.inner.set_legal_hold(key, version_id, hold).await
        }
        async fn download(
            &self,
            key: &str,
            version_id: Option<&str>,
            dest: &Path,
        ) -> Result<String, StoreError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.download(key, version_id, dest).await
        }
        async fn delete(&self, key: &str, version_id: Option<&str>) -> Result<(), StoreError> {
            self.inner.delete(key, version_id).await
        }
    }

    /// Someone created the planned key first, with other bytes of the same size and the planned
    /// SHA-256 in the digest the store only records. Before, the archive took the recorded digest
    /// as the store's word and receipted the object "already present" with the planned content;
    /// now the bytes are read and hashed, the archive is refused as a conflict naming both
    /// digests, and the stored object (and its hold) is left exactly as it was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_object_stored_first_with_a_forged_digest_is_read_and_refused() {
        let (dir, source, vault_dir, input) = bundle_in_tempdir(&[("a.json", b"{}")]);
        let planned = make_plan(&input, &vault_dir);
        let target = Target::parse(&format!("file://{}", vault_dir.display())).unwrap();
        // The impostor's write: same key, lock and size, other bytes.
        let impostor = dir.path().join("impostor");
        std::fs::write(&impostor, b"[]").unwrap();
        let object = &planned.objects[0];
        let vault = LocalVault::open(target.clone()).unwrap();
        vault
            .put(
                &PutObject {
                    key: object.key.clone(),
                    source: &impostor,
                    size: 2,
                    sha256: crate::hashing::sha256_hex(b"[]"),
                    lock: object.lock(),
                    tags: object.tags.clone(),
                    metadata: object.metadata.clone(),
                    content_type: None,
                },
                &|_| {},
            )
            .await
            .unwrap();
        let store = Claiming {
            inner: vault,
            forged: Some(object.sha256.clone()),
            reads: Default::default(),
        };
        let with_hold = {
            let mut plan = planned.clone();
            plan.objects[0].legal_hold = true;
            plan
        };
        for plan in [&planned, &with_hold] {
            let error = execute(
                plan,
                &source,
                &store,
                &UploadOptions::default(),
                Arc::new(Silent),
            )
            .await
            .unwrap_err();
            let UploadError::Conflict { key, detail } = &error else {
                panic!("expected a conflict, got {error}");
            };
            assert_eq!(key, &object.key);
            assert!(
                detail.contains(&object.sha256)
                    && detail.contains(&crate::hashing::sha256_hex(b"[]")),
                "{detail}"
            );
            assert!(error.is_refusal());
        }
        assert_eq!(store.reads.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(
            std::fs::read(vault_dir.join(&object.key)).unwrap(),
            b"[]",
            "the impostor's object is left as it was"
        );
        let stored = store.inner.head(&object.key).await.unwrap().unwrap();
        assert_eq!(
            stored.legal_hold,
            Some(false),
            "no hold set on unproven bytes"
        );
    }

    /// The same resume with the right bytes behind a recorded digest: accepted after one read of
    /// each object, and the receipt's digest is the one computed from those bytes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_already_present_object_with_a_recorded_digest_is_accepted_after_one_read() {
        let (_dir, source, vault_dir, input) =
            bundle_in_tempdir(&[("a.json", b"{}"), ("b.md", b"# b\n")]);
        let plan = make_plan(&input, &vault_dir);
        let target = Target::parse(&format!("file://{}", vault_dir.display())).unwrap();
        let store = Claiming {
            inner: LocalVault::open(target).unwrap(),
            forged: None,
            reads: Default::default(),
        };
        let first = execute(
            &plan,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap();
        assert_eq!((first.uploaded, first.already_present), (2, 0));
        assert_eq!(store.reads.load(std::sync::atomic::Ordering::SeqCst), 0);
        let again = execute(
            &plan,
            &source,
            &store,
            &UploadOptions::default(),
            Arc::new(Silent),
        )
        .await
        .unwrap();
        assert_eq!((again.uploaded, again.already_present), (0, 2));
        assert_eq!(store.reads.load(std::sync::atomic::Ordering::SeqCst), 2);
        for (receipt, object) in again.receipts.receipts.iter().zip(&plan.objects) {
            assert_eq!(receipt.sha256.as_deref(), Some(object.sha256.as_str()));
        }
    }
}
