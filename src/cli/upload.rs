//! `wormvault upload --plan F BUNDLE`: execute a reviewed plan; refuses if the bundle no longer
//! matches the digest the plan was made from.

use std::path::PathBuf;

use crate::cli::Output;
use crate::cli::archive::{ExecuteArgs, render_outcome};
use crate::cli::bundle::EvidenceArgs;
use crate::cli::common::CliObserver;
use crate::exit::{Exit, Refusal};
use crate::plan::StoragePlan;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle the plan was made from (directory or .tar.gz); it is verified again.
    pub bundle: PathBuf,
    /// The reviewed plan (from `wormvault plan --output`).
    #[arg(long)]
    pub plan: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub execute: ExecuteArgs,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let plan = StoragePlan::load(&args.plan)?;
    let observer = CliObserver::lines(*output);
    // As in `archive`: on S3 the content of multipart-sized files is checked while they upload,
    // and nothing is committed before the check passes. A target that does not parse is left
    // to the upload step, which reports it.
    let defer = match crate::store::Target::parse(&plan.target) {
        Ok(target) => crate::cli::archive::deferral_for(&target)?,
        Err(_) => None,
    };
    let report = crate::cli::archive::verify_with_progress(
        &args.bundle,
        &args.evidence,
        observer.as_ref(),
        output,
        defer,
    )?;
    let digest = report.digest.clone().unwrap_or_default();
    if digest != plan.bundle_digest {
        return Err(anyhow::Error::new(Refusal(format!(
            "bundle {} has digest {digest}, but the plan {} was made for {}; the bundle changed after review — make and review a new plan",
            args.bundle.display(),
            args.plan.display(),
            plan.bundle_digest
        ))));
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
            return Err(anyhow::Error::new(Refusal(format!(
                "plan object {} does not match the verified bundle file {}",
                object.key, object.path
            ))));
        }
    }
    check_plan_retention(&plan, &report, args.evidence.minimum_retention_days)?;
    let request = args.execute.request(&plan, output)?;
    let outcome =
        crate::cli::archive::execute_verifying(&plan, report, request, observer.as_ref(), output)?;
    crate::cli::archive::record_session(
        &args.execute,
        &args.evidence,
        &args.bundle,
        &outcome,
        output,
    )?;
    output.result(&outcome, || render_outcome(&outcome));
    Ok(Exit::Ok)
}

/// A reviewed plan is still a file anyone could edit: its retain-until dates must not be shorter
/// than the signed retention policy says, nor than the minimum counted from the bundle's creation
/// (a plan uploaded days after review still passes; a shortened one does not).
fn check_plan_retention(
    plan: &StoragePlan,
    report: &crate::bundle::BundleReport,
    minimum_days: u64,
) -> anyhow::Result<()> {
    let minimum = u32::try_from(minimum_days).unwrap_or(u32::MAX);
    // The resume tolerance counts retention from the plan's bundle.created_at: it must be the
    // verified manifest's.
    if let Some(manifest) = &report.manifest {
        if manifest.created_at != plan.bundle.created_at {
            return Err(anyhow::Error::new(Refusal(format!(
                "plan {}: bundle.created_at is {:?}, but the verified manifest says {:?}; the plan was edited after review — make and review a new plan",
                plan_path_hint(plan),
                plan.bundle.created_at,
                manifest.created_at
            ))));
        }
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
        |e| {
            anyhow::Error::new(Refusal(format!(
                "plan {}: {e}; make and review a new plan",
                plan_path_hint(plan)
            )))
        },
    )?;
    let dates = std::iter::once(("the plan's retention", plan.retention.retain_until)).chain(
        plan.objects
            .iter()
            .map(|o| (o.key.as_str(), o.retain_until)),
    );
    for (what, retain_until) in dates {
        if let Some(until) = policy_until.filter(|until| retain_until < *until) {
            return Err(anyhow::Error::new(Refusal(format!(
                "plan {}: {what} retains until {retain_until}, before the bundle's signed retention policy ({until}); the plan was edited after review — make and review a new plan",
                plan_path_hint(plan)
            ))));
        }
        if let Some(created) = created {
            crate::retention::check_retain_until(retain_until, created, minimum).map_err(|e| {
                anyhow::Error::new(Refusal(format!(
                    "plan {}: {what}: {e}; make and review a new plan",
                    plan_path_hint(plan)
                )))
            })?;
        }
    }
    Ok(())
}

fn plan_path_hint(plan: &StoragePlan) -> String {
    format!("for session {}", plan.session_id)
}
