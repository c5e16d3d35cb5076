//! A reviewed plan (`upload --plan`) checked against the bundle verified now. The plan is a file
//! anyone could edit between review and upload, so it must still describe exactly this bundle:
//! the same digest, every file of the verified manifest (plus `manifest.json`) exactly once with
//! its digest, and retain-until dates no shorter than the signed retention policy and the
//! minimum counted from the bundle's creation.
//!
//! And it must be exactly the plan `wormvault plan` makes from this bundle with the choices the
//! plan records (target, session id, mode, legal-hold case, retention days, when it was made):
//! every key, the session prefix, every lock, hold flag, tag and metadata value is derived, so
//! any of them edited — a key outside the session prefix or in the tool's `_wormvault/`
//! namespace, a hold flag dropped, a forged `sha256` metadata value, a retain-until moved — is
//! refused. The choices themselves are the reviewer's; a consistent edit of one of them (another
//! case, GOVERNANCE) makes a different but well-formed plan, which only pinning the reviewed
//! file's digest (`upload --plan-digest`, the digest `plan` prints) catches — and a weaker lock (GOVERNANCE) is never taken
//! from the file alone: the upload must say `--governance` too.

use chrono::{DateTime, Utc};

use crate::bundle::BundleReport;
use crate::retention::RetentionError;
use crate::store::{RetentionMode, Target};

use super::plan::StoragePlan;
use super::{ArchiveError, PlanRequest, Stage};

/// How far in the future a plan's `created_at` may lie (clock skew between the reviewing and
/// the uploading machine); later means it was edited, to push retain-until out.
const CLOCK_SKEW_MINUTES: i64 = 5;

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
    #[error(
        "plan for session {session}: {field} is {found}, but the plan made from the verified bundle with this plan's own choices (target, session, mode, hold case, retention) has {expected}; the plan was edited after review — make and review a new plan"
    )]
    Edited {
        session: String,
        field: String,
        found: String,
        expected: String,
    },
    #[error(
        "plan for session {session}: {problem}; the plan was edited after review — make and review a new plan"
    )]
    Invalid { session: String, problem: String },
    #[error(
        "the plan has digest {found}, not the {pinned} pinned with --plan-digest: it is not the plan that was reviewed — review this one, or find the reviewed file"
    )]
    NotPinned { pinned: String, found: String },
    #[error(
        "plan for session {session} asks for GOVERNANCE retention (shortenable by privileged principals); a weaker lock is never taken from the plan file alone — pass --governance to upload as well, or make a COMPLIANCE plan"
    )]
    GovernanceNotRestated { session: String },
}

/// What the person running `upload --plan` restates or pins, outside the plan file.
#[derive(Debug, Clone, Default)]
pub struct Restated {
    /// The digest of the reviewed plan (`--plan-digest`, as `plan` printed it).
    pub pinned_digest: Option<String>,
    /// `--governance` given to upload.
    pub governance: bool,
}

/// The choices a reviewed plan records, checked against what the upload restates and pins.
pub fn check_restated(plan: &StoragePlan, restated: &Restated) -> Result<(), ArchiveError> {
    if let Some(pinned) = &restated.pinned_digest {
        let found = plan.digest();
        if !pinned.trim().eq_ignore_ascii_case(&found) {
            return Err(ArchiveError::new(
                Stage::Plan,
                ReviewedPlanError::NotPinned {
                    pinned: pinned.clone(),
                    found,
                },
            ));
        }
    }
    if plan.retention.mode == RetentionMode::Governance && !restated.governance {
        return Err(ArchiveError::new(
            Stage::Plan,
            ReviewedPlanError::GovernanceNotRestated {
                session: plan.session_id.clone(),
            },
        ));
    }
    Ok(())
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
    check_retention(plan, report, minimum_days).map_err(|e| refuse(Stage::Retention, e))?;
    check_derived(plan, report, minimum_days, Utc::now())
}

/// The reviewed plan must be the one `plan` makes from the verified bundle with the choices the
/// plan records, made at its `created_at`. Retain-until may be one second later than that
/// re-derivation gives (the original was counted from a time with sub-second digits and
/// rounded up; `created_at` keeps whole seconds).
fn check_derived(
    plan: &StoragePlan,
    report: &BundleReport,
    minimum_days: u32,
    now: DateTime<Utc>,
) -> Result<(), ArchiveError> {
    let session = || plan.session_id.clone();
    let invalid = |problem: String| {
        ArchiveError::new(
            Stage::Plan,
            ReviewedPlanError::Invalid {
                session: session(),
                problem,
            },
        )
    };
    let made = DateTime::parse_from_rfc3339(&plan.created_at)
        .map_err(|e| {
            invalid(format!(
                "created_at {:?} is not a time ({e})",
                plan.created_at
            ))
        })?
        .with_timezone(&Utc);
    if made > now + chrono::Duration::minutes(CLOCK_SKEW_MINUTES) {
        return Err(invalid(format!(
            "created_at {} is in the future (now {})",
            plan.created_at,
            now.to_rfc3339()
        )));
    }
    let target = Target::parse(&plan.target)
        .map_err(|e| invalid(format!("target {:?}: {e}", plan.target)))?;
    let request = PlanRequest {
        target,
        session_id: Some(plan.session_id.clone()),
        mode: plan.retention.mode,
        legal_hold_case: plan.retention.legal_hold_case.clone(),
        retention_days: Some(plan.retention.retention_days),
        minimum_retention_days: minimum_days,
        now: made,
    };
    let mut expected = super::plan_bundle(report, &request, &super::upload::Silent)?;
    let rounded = expected.retention.retain_until + chrono::Duration::seconds(1);
    if plan.retention.retain_until == rounded {
        expected.retention.retain_until = rounded;
        for object in &mut expected.objects {
            object.retain_until = rounded;
        }
    }
    if expected == *plan {
        return Ok(());
    }
    let found = serde_json::to_value(plan).unwrap_or_default();
    let wanted = serde_json::to_value(&expected).unwrap_or_default();
    let (field, found, expected) = first_difference(&found, &wanted, String::new())
        .unwrap_or_else(|| ("the plan".into(), "different".into(), "another plan".into()));
    Err(ArchiveError::new(
        Stage::Plan,
        ReviewedPlanError::Edited {
            session: session(),
            field,
            found,
            expected,
        },
    ))
}

/// The first place two JSON documents differ: its path (`objects[2].key`), and both values
/// (shortened), in document order.
fn first_difference(
    found: &serde_json::Value,
    expected: &serde_json::Value,
    path: String,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    let short = |v: &Value| {
        let text = v.to_string();
        if text.chars().count() > 120 {
            format!("{}…", text.chars().take(120).collect::<String>())
        } else {
            text
        }
    };
    let here = |p: &str| {
        if p.is_empty() {
            "the plan".to_string()
        } else {
            p.to_string()
        }
    };
    match (found, expected) {
        // Struct fields are the same on both sides (absent options are `null`), but the maps
        // (an object's `tags` and `metadata`) can hold a key only one side has.
        (Value::Object(a), Value::Object(b)) => b
            .iter()
            .find_map(|(name, value)| {
                let inner = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                match a.get(name) {
                    Some(other) => first_difference(other, value, inner),
                    None => Some((inner, "absent".into(), short(value))),
                }
            })
            .or_else(|| {
                a.iter()
                    .find(|(name, _)| !b.contains_key(*name))
                    .map(|(name, value)| {
                        (
                            format!("{}.{name}", here(&path)),
                            short(value),
                            "absent".into(),
                        )
                    })
            }),
        (Value::Array(a), Value::Array(b)) => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                if let Some(d) = first_difference(x, y, format!("{path}[{index}]")) {
                    return Some(d);
                }
            }
            (a.len() != b.len()).then(|| {
                (
                    format!("{} (length)", here(&path)),
                    a.len().to_string(),
                    b.len().to_string(),
                )
            })
        }
        (a, b) => (a != b).then(|| (here(&path), short(a), short(b))),
    }
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

#[cfg(test)]
mod tests {
    use super::first_difference;
    use serde_json::json;

    #[test]
    fn a_map_key_only_the_reviewed_plan_has_is_named() {
        let derived = json!({"objects": [{"metadata": {"sha256": "ab"}, "tags": {}}]});
        let mut reviewed = derived.clone();
        reviewed["objects"][0]["metadata"]["x-extra"] = json!("planted");
        assert_eq!(
            first_difference(&reviewed, &derived, String::new()),
            Some((
                "objects[0].metadata.x-extra".into(),
                "\"planted\"".into(),
                "absent".into()
            ))
        );
        // And one only the derived plan has.
        assert_eq!(
            first_difference(&derived, &reviewed, String::new()),
            Some((
                "objects[0].metadata.x-extra".into(),
                "absent".into(),
                "\"planted\"".into()
            ))
        );
        assert_eq!(first_difference(&derived, &derived, String::new()), None);
    }
}
