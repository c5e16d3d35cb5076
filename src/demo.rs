//! `wormvault demo`: the whole pipeline on a built-in default that needs no cloud — keys, a
//! signed sample bundle, a signed audit log, an archive into a local WORM vault, a handoff
//! package and its offline verification — in a fresh directory, reporting each step.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::audit::{self, NewRecord, Signer};
use crate::bundle::{self, CreateOptions, Signing};
use crate::pipeline::{
    self, AnchorSettings, ArchiveRequest, AuditSettings, ExecuteRequest, Observer, PlanRequest,
    PlanSource, SessionSettings,
};
use crate::store::{self, RetentionMode, StoreError, Target};
use crate::trust::{KeyPair, RootStatus, SigningKeySource, TrustRoot, TrustRootBundle};

pub const KEY_ID: &str = "demo-evidence";

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub directory: PathBuf,
    pub steps: Vec<Step>,
    pub handoff: PathBuf,
    pub handoff_valid: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("demo step {step:?} failed: {source}")]
pub struct DemoError {
    pub step: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

fn fail<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    step: &str,
) -> impl Fn(E) -> DemoError + '_ {
    move |error| DemoError {
        step: step.into(),
        source: error.into(),
    }
}

/// Run the demo in `directory` (created; must not exist). `say` is called after each step.
pub async fn run(
    directory: &Path,
    say: &(dyn Fn(&Step) + Send + Sync),
    observer: Arc<dyn Observer>,
) -> Result<DemoReport, DemoError> {
    let mut steps = Vec::new();
    let mut record = |step: &str, detail: String| {
        let step = Step {
            step: step.into(),
            detail,
        };
        say(&step);
        steps.push(step);
    };
    if directory.exists() {
        return Err(fail("prepare")(format!(
            "{} already exists; the demo only writes into a fresh directory",
            directory.display()
        )));
    }
    let dir = std::path::absolute(directory).map_err(fail("prepare"))?;
    std::fs::create_dir_all(dir.join("keys")).map_err(fail("prepare"))?;

    // 1. Keys and trust roots.
    let key = KeyPair::generate().map_err(fail("keys"))?;
    let private_pem = key.private_pem().map_err(fail("keys"))?;
    let public_pem = key.public().spki_pem();
    let private_path = dir.join("keys/evidence-ed25519-private.pem");
    crate::trust::write_private_key(&private_path, &private_pem).map_err(fail("keys"))?;
    std::fs::write(dir.join("keys/evidence-ed25519-public.pem"), &public_pem)
        .map_err(fail("keys"))?;
    let now = chrono::Utc::now();
    let root = TrustRoot::new(
        &public_pem,
        Some(KEY_ID.into()),
        "demo release team",
        RootStatus::Active,
        Some(now - chrono::Duration::minutes(5)),
        None,
    )
    .map_err(fail("keys"))?;
    let roots = TrustRootBundle::new(vec![root], now).map_err(fail("keys"))?;
    let trust_path = dir.join("trust-roots.json");
    std::fs::write(
        &trust_path,
        serde_json::to_string_pretty(&roots).unwrap_or_default(),
    )
    .map_err(fail("keys"))?;
    record(
        "keys",
        format!(
            "Ed25519 key {KEY_ID} (fingerprint {}), private key mode 0600; trust roots in {}",
            key.public().fingerprint(),
            trust_path.display()
        ),
    );

    // 2. A signed sample bundle.
    let evidence = dir.join("evidence");
    std::fs::create_dir_all(&evidence).map_err(fail("bundle"))?;
    for (name, text) in [
        (
            "evidence.json",
            "{\"release\": \"demo-1.0.0\", \"tests\": \"passed\", \"sbom\": \"sbom.spdx.json\"}\n",
        ),
        (
            "pr-attestation.md",
            "# Pull request attestation\n\nReviewed and approved by two maintainers.\n",
        ),
        (
            "siem-event.json",
            "{\"event\": \"release.approved\", \"actor\": \"security-operator\"}\n",
        ),
    ] {
        std::fs::write(evidence.join(name), text).map_err(fail("bundle"))?;
    }
    let bundle_dir = dir.join("bundle");
    let signing_key = KeyPair::from_pkcs8_pem(&private_pem, "demo key").map_err(fail("bundle"))?;
    let created = bundle::create(
        &[evidence],
        &CreateOptions {
            output: bundle_dir.clone(),
            signer: "demo release team".into(),
            signing: Signing::Ed25519 {
                key: signing_key,
                key_id: Some(KEY_ID.into()),
            },
            retention_days: u64::from(crate::retention::MINIMUM_RETENTION_DAYS),
            classification: "regulated-sdlc".into(),
            legal_hold: false,
            session_id: Some("demo-release-1".into()),
            created_at: None,
        },
    )
    .map_err(fail("bundle"))?;
    record(
        "bundle",
        format!(
            "{} files signed with Ed25519 into {} (digest {})",
            created.files.len(),
            bundle_dir.display(),
            created.digest
        ),
    );

    // 3. An audit log with the decisions that led to the release.
    let log = dir.join("audit.jsonl");
    let audit_key = || {
        KeyPair::from_pkcs8_pem(&private_pem, "demo key").map(|k| Signer::Ed25519 {
            key: Box::new(k),
            key_id: KEY_ID.into(),
        })
    };
    for (event_type, actor, action, target, decision) in [
        (
            "runtime.decision",
            "agent:release-bot",
            "deploy",
            "release/demo-1.0.0",
            "require_approval",
        ),
        (
            "approval.decision",
            "security-operator",
            "approve",
            "release/demo-1.0.0",
            "approved",
        ),
    ] {
        let signer = audit_key().map_err(fail("audit log"))?;
        let new = NewRecord {
            event_type: event_type.into(),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            decision: decision.into(),
            evidence_refs: vec!["evidence://demo-release-1".into()],
            ..Default::default()
        };
        audit::append(&log, &new, &signer).map_err(fail("audit log"))?;
    }
    record(
        "audit log",
        format!(
            "2 Ed25519-signed, hash-chained records in {}",
            log.display()
        ),
    );

    // 4. Archive: verify, retention gate, plan, preflight, upload, read-back receipts, audit
    //    event, signed checkpoint.
    let verify_options = bundle::VerifyOptions {
        trust: Some(crate::trust::TrustStore::load(&trust_path).map_err(fail("archive"))?),
        key_id: Some(KEY_ID.into()),
        ..Default::default()
    };
    let vault = dir.join("vault");
    let target = Target::parse(&format!("file://{}", vault.display())).map_err(fail("archive"))?;
    let store = store::open(&target).await.map_err(fail("archive"))?;
    let signer = audit_key().map_err(fail("archive"))?;
    let anchor_key = KeyPair::from_pkcs8_pem(&private_pem, "demo key").map_err(fail("archive"))?;
    let receipt_key = KeyPair::from_pkcs8_pem(&private_pem, "demo key").map_err(fail("archive"))?;
    let session_dir = dir.join(".wormvault");
    let outcome = pipeline::archive(
        ArchiveRequest {
            bundle: bundle_dir.clone(),
            verify: verify_options,
            plan: PlanSource::Fresh(PlanRequest {
                target: target.clone(),
                session_id: None,
                mode: RetentionMode::Compliance,
                legal_hold_case: None,
                retention_days: None,
                minimum_retention_days: crate::retention::MINIMUM_RETENTION_DAYS,
                now: chrono::Utc::now(),
            }),
            execute: ExecuteRequest {
                concurrency: None,
                preflight: Default::default(),
                receipts_out: Some(dir.join("receipts.json")),
                receipt_key: Some((SigningKeySource::File(Box::new(receipt_key)), KEY_ID.into())),
                audit: Some(AuditSettings {
                    log: crate::audit::store::LogHandle::file(log.clone()),
                    signer,
                    actor: "wormvault-demo".into(),
                    tenant_id: None,
                    workspace_id: None,
                    anchor: Some(AnchorSettings {
                        origin: "wormvault.demo/audit-log".into(),
                        key: SigningKeySource::File(Box::new(anchor_key)),
                        output: Some(dir.join("audit-checkpoint.txt")),
                    }),
                }),
                session: Some(SessionSettings {
                    state_dir: session_dir.clone(),
                }),
                trust_roots_file: Some(trust_path.clone()),
            },
        },
        store.as_ref(),
        observer.clone(),
    )
    .await
    .map_err(fail("archive"))?;
    record(
        "archive",
        format!(
            "{} objects locked in {} until {} (enforcement: {}); receipts read back from the vault into {}",
            outcome.plan.objects.len(),
            vault.display(),
            outcome.plan.retention.retain_until.to_rfc3339(),
            outcome.upload.receipts.enforcement.described(),
            outcome.receipts_path.display()
        ),
    );
    record(
        "audit event",
        format!(
            "evidence.archived appended carrying the receipts' SHA-256 {}; checkpoint signed and stored beside the evidence",
            outcome.receipts_sha256
        ),
    );

    // 5. WORM in action: deleting an archived object is refused.
    let first = &outcome.plan.objects[0].key;
    match store.delete(first, None).await {
        Err(StoreError::Protected { detail, .. }) => record(
            "worm check",
            format!("deleting {first} was refused: {detail}"),
        ),
        Err(e) => return Err(fail("worm check")(format!("unexpected error: {e}"))),
        Ok(()) => {
            return Err(fail("worm check")(format!(
                "{first} could be deleted; the vault is not protecting it"
            )));
        }
    }

    // 6. The auditor's handoff package, verified offline.
    let plan_path = pipeline::find_session(&session_dir, &outcome.plan.session_id)
        .map_err(fail("handoff"))?
        .plan;
    let handoff_path = dir.join("handoff.tar.gz");
    let inputs = crate::handoff::HandoffInputs {
        bundle: bundle_dir.clone(),
        trust_roots: trust_path.clone(),
        plan: plan_path,
        receipts: outcome.receipts_path.clone(),
        audit_log: log.clone(),
        checkpoint: dir.join("audit-checkpoint.txt"),
        checkpoint_key: dir.join("keys/evidence-ed25519-public.pem"),
        minimum_retention_days: crate::retention::MINIMUM_RETENTION_DAYS,
    };
    crate::handoff::create(&inputs, &handoff_path).map_err(fail("handoff"))?;
    record(
        "handoff",
        format!("auditor package {}", handoff_path.display()),
    );
    // The auditor pins the trust roots they were given, not the package's copy.
    let options = crate::handoff::VerifyOptions {
        pins: crate::handoff::Pins::from_files(std::slice::from_ref(&trust_path))
            .map_err(fail("handoff verify"))?,
        minimum_retention_days: crate::retention::MINIMUM_RETENTION_DAYS,
        ..Default::default()
    };
    let (verified, html) =
        crate::handoff::verify(&handoff_path, &options).map_err(fail("handoff verify"))?;
    let html_path = dir.join("handoff-report.html");
    std::fs::write(&html_path, html).map_err(fail("handoff verify"))?;
    let passed = verified.checks.iter().filter(|c| c.passed).count();
    record(
        "handoff verify",
        format!(
            "{}: {passed}/{} checks passed offline; HTML report {}",
            if verified.valid { "VERIFIED" } else { "FAILED" },
            verified.checks.len(),
            html_path.display()
        ),
    );
    Ok(DemoReport {
        directory: dir,
        steps,
        handoff: handoff_path,
        handoff_valid: verified.valid,
    })
}
