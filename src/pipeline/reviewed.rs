//! A reviewed plan (`upload --plan`) checked against the bundle verified now. The plan is a file
//! anyone could edit between review and upload, so it must still describe exactly this bundle:
//! the same digest, every file of the verified manifest (plus `manifest.json`) exactly once with
//! its digest, and retain-until dates no shorter than the signed retention policy and the
//! minimum counted from the bundle's creation.

use chrono::{DateTime, Utc};

use crate::bundle::BundleReport;
use crate::retention::RetentionError;

use super::plan::StoragePlan;
use super::{ArchiveError, Stage};

#[derive(Debug, thiserror::Error)]
pub enum ReviewedPlanError {
    #[error(
        "the bundle has digest {found}, but the plan for session {session} was made for {planned}; the bundle changed after review — make and review a new plan"
    )]
    DigestChanged {
        session: String,
        planned: String,
        found: String,
    },
    #[error(
        "plan object {key} does not match the verified bundle file {path}; the plan was edited after review — make and review a new plan"
    )]
    ObjectMismatch { key: String, path: String },
    #[error(
        "the plan for session {session} does not cover {} file(s) of the verified manifest ({}); uploading it would leave the archive incomplete — make and review a new plan",
        missing.len(),
        missing.join(", ")
    )]
    NotCovered {
        session: String,
        missing: Vec<String>,
    },
    #[error(
        "the plan for session {session} lists bundle file {path} {count} times — make and review a new plan"
    )]
    Duplicate {
        session: String,
        path: String,
        count: usize,
    },
    #[error(
        "plan for session {session}: bundle.created_at is {planned:?}, but the verified manifest says {found:?}; the plan was edited after review — make and review a new plan"
    )]
    CreatedAtChanged {
        session: String,
        planned: String,
        found: String,
    },
    #[error(
        "plan for session {session}: {what} retains until {retain_until}, before the bundle's signed retention policy ({policy}); the plan was edited after review — make and review a new plan"
    )]
    BeforePolicy {
        session: String,
        what: String,
        retain_until: DateTime<Utc>,
        policy: DateTime<Utc>,
    },
    #[error("plan for session {session}: {what}: {source}; make and review a new plan")]
    Retention {
        session: String,
        what: String,
        source: RetentionError,
    },
}

/// Check a reviewed plan against the verified bundle. Digest, coverage and object mismatches
/// are the plan stage's refusals; shortened retention is the retention stage's.
pub fn check(
    plan: &StoragePlan,
    report: &BundleReport,
    minimum_days: u32,
) -> Result<(), ArchiveError> {
    let session = || plan.session_id.clone();
    let refuse = |stage, e: ReviewedPlanError| ArchiveError::new(stage, e);
    let digest = report.digest.clone().unwrap_or_default();
    if digest != plan.bundle_digest {
        return Err(refuse(
            Stage::Plan,
            ReviewedPlanError::DigestChanged {
                session: session(),
                planned: plan.bundle_digest.clone(),
                found: digest,
            },
        ));
    }
    // Every planned object must be a file of the verified bundle with the same digest. For a
    // deferred file that digest is still the manifest's claim, which the bundle digest above ties
    // to the reviewed plan; its content is checked against it before anything is committed.
    for object in &plan.objects {
        let verified = report
            .files
            .iter()
            .find(|f| f.path == object.path)
            .map(|f| f.sha256.as_str());
        let ok = match verified {
            Some(sha) => sha == object.sha256,
            None => object.path == "manifest.json",
        };
        if !ok {
            return Err(refuse(
                Stage::Plan,
                ReviewedPlanError::ObjectMismatch {
                    key: object.key.clone(),
                    path: object.path.clone(),
                },
            ));
        }
    }
    // ... and every file of the verified manifest, and the manifest itself, must be planned
    // exactly once: a plan with a file removed would otherwise upload the rest and report
    // success (issue #14 item 8).
    let wanted = report
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain(std::iter::once("manifest.json"));
    let mut missing = Vec::new();
    for path in wanted {
        match plan.objects.iter().filter(|o| o.path == path).count() {
            0 => missing.push(path.to_string()),
            1 => {}
            count => {
                return Err(refuse(
                    Stage::Plan,
                    ReviewedPlanError::Duplicate {
                        session: session(),
                        path: path.to_string(),
                        count,
                    },
                ));
            }
        }
    }
    if !missing.is_empty() {
        return Err(refuse(
            Stage::Plan,
            ReviewedPlanError::NotCovered {
                session: session(),
                missing,
            },
        ));
    }
    check_retention(plan, report, minimum_days).map_err(|e| refuse(Stage::Retention, e))
}

/// Retain-until dates must not be shorter than the signed retention policy says, nor than the
/// minimum counted from the bundle's creation (a plan uploaded days after review still passes; a
/// shortened one does not).
fn check_retention(
    plan: &StoragePlan,
    report: &BundleReport,
    minimum: u32,
) -> Result<(), ReviewedPlanError> {
    let session = || plan.session_id.clone();
    // The resume tolerance counts retention from the plan's bundle.created_at: it must be the
    // verified manifest's.
    if let Some(manifest) = &report.manifest
        && manifest.created_at != plan.bundle.created_at
    {
        return Err(ReviewedPlanError::CreatedAtChanged {
            session: session(),
            planned: plan.bundle.created_at.clone(),
            found: manifest.created_at.clone(),
        });
    }
    let created = report
        .manifest
        .as_ref()
        .and_then(|m| crate::trust::parse_timestamp(&m.created_at));
    let policy_until = report
        .retention_policy
        .as_ref()
        .and_then(|p| crate::trust::parse_timestamp(&p.retain_until));
    crate::retention::check_minimum(i64::from(plan.retention.retention_days), minimum).map_err(
        |source| ReviewedPlanError::Retention {
            session: session(),
            what: "retention_days".into(),
            source,
        },
    )?;
    let dates = std::iter::once(("the plan's retention", plan.retention.retain_until)).chain(
        plan.objects
            .iter()
            .map(|o| (o.key.as_str(), o.retain_until)),
    );
    for (what, retain_until) in dates {
        if let Some(policy) = policy_until.filter(|until| retain_until < *until) {
            return Err(ReviewedPlanError::BeforePolicy {
                session: session(),
                what: what.to_string(),
                retain_until,
                policy,
            });
        }
        if let Some(created) = created {
            crate::retention::check_retain_until(retain_until, created, minimum).map_err(
                |source| ReviewedPlanError::Retention {
                    session: session(),
                    what: what.to_string(),
                    source,
                },
            )?;
        }
    }
    Ok(())
}
