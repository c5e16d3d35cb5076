//! The auditor handoff package: one deterministic `.tar.gz` with everything needed to check an
//! archived session offline — the bundle (manifest, signature, files), the trust roots, the
//! audit-log segment with its signed checkpoint and inclusion proofs for the session's
//! `evidence.archived` events, the storage plan, the receipts, a machine-readable verification
//! report and an HTML report for people.
//!
//! `verify` recomputes every check from the package's own contents; the reports inside are what
//! the packager saw, kept for the record, and are never trusted by `verify`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit::{self, Checkpoint, CheckpointKey, InclusionProof, Record};
use crate::bundle::{self, ArchiveLimits};
use crate::handoff_html::{self, ReportCheck, ReportObject, ReportView};
use crate::plan::StoragePlan;
use crate::receipt::ReceiptSet;
use crate::trust::TrustStore;

pub const HANDOFF_SCHEMA: &str = "wormvault.handoff.v1";
pub const REPORT_SCHEMA: &str = "wormvault.handoff-report.v1";

// Package layout.
const INDEX: &str = "handoff.json";
const BUNDLE_DIR: &str = "bundle";
const TRUST_ROOTS: &str = "trust-roots.json";
const SEGMENT: &str = "audit/segment.jsonl";
const CHECKPOINT: &str = "audit/checkpoint.txt";
const CHECKPOINT_KEY: &str = "audit/checkpoint-key.pem";
const PROOFS: &str = "audit/archive-event-proofs.json";
const PLAN: &str = "plan.json";
const RECEIPTS: &str = "receipts.json";
const REPORT_JSON: &str = "report/verification.json";
const REPORT_HTML: &str = "report/report.html";

/// What goes into a package.
#[derive(Debug, Clone)]
pub struct HandoffInputs {
    pub bundle: PathBuf,
    pub trust_roots: PathBuf,
    pub plan: PathBuf,
    pub receipts: PathBuf,
    pub audit_log: PathBuf,
    /// The signed checkpoint (C2SP note) of the audit log taken after the archive event.
    pub checkpoint: PathBuf,
    /// SPKI PEM public key of the checkpoint signer (must be one of the trust roots).
    pub checkpoint_key: PathBuf,
    pub minimum_retention_days: u32,
}

/// The package index: every file with its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoffIndex {
    pub schema_version: String,
    pub product: String,
    pub created_at: String,
    pub session_id: String,
    pub target: String,
    pub bundle_digest: String,
    pub files: BTreeMap<String, String>,
}

/// The machine-readable verification report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoffReport {
    pub schema_version: String,
    pub verified_at: String,
    pub valid: bool,
    pub session_id: String,
    pub target: String,
    pub bundle_digest: String,
    pub checks: Vec<ReportCheck>,
    pub objects: Vec<ReportObject>,
    pub signer: String,
    pub signing_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("{0}")]
    Io(String),
    #[error("handoff package {path} is unsafe or corrupt: {detail}")]
    UnsafePackage { path: PathBuf, detail: String },
}

fn io_error(action: &str, path: &Path, error: impl std::fmt::Display) -> HandoffError {
    HandoffError::Io(format!("{action} {}: {error}", path.display()))
}

fn copy_into(root: &Path, name: &str, source: &Path) -> Result<(), HandoffError> {
    let dest = root.join(name);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error("creating", parent, e))?;
    }
    std::fs::copy(source, &dest).map_err(|e| HandoffError::Input {
        path: source.to_path_buf(),
        message: format!("cannot copy into the package: {e}"),
    })?;
    Ok(())
}

fn write_into(root: &Path, name: &str, bytes: &[u8]) -> Result<(), HandoffError> {
    let dest = root.join(name);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error("creating", parent, e))?;
    }
    std::fs::write(&dest, bytes).map_err(|e| io_error("writing", &dest, e))
}

fn read_text(path: &Path) -> Result<String, HandoffError> {
    std::fs::read_to_string(path).map_err(|e| HandoffError::Input {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Build the package at `output` (never overwritten). Returns the report made while packaging.
pub fn create(inputs: &HandoffInputs, output: &Path) -> Result<HandoffReport, HandoffError> {
    if output.exists() {
        return Err(HandoffError::Io(format!(
            "{} already exists; handoff packages are never overwritten",
            output.display()
        )));
    }
    let receipts = ReceiptSet::load(&inputs.receipts).map_err(|message| HandoffError::Input {
        path: inputs.receipts.clone(),
        message,
    })?;
    let note = read_text(&inputs.checkpoint)?;
    let key_pem = read_text(&inputs.checkpoint_key)?;
    let checkpoint = Checkpoint::parse_body(&format!(
        "{}\n",
        note.split("\n\n").next().unwrap_or_default()
    ))
    .map_err(|e| HandoffError::Input {
        path: inputs.checkpoint.clone(),
        message: e.to_string(),
    })?;

    let staging = tempfile::Builder::new()
        .prefix("wormvault-handoff-")
        .tempdir()
        .map_err(|e| HandoffError::Io(format!("creating a staging directory: {e}")))?;
    let root = staging.path();

    // The bundle, as verified (a .tar.gz is extracted safely first).
    let extracted = bundle::verify(
        &inputs.bundle,
        &bundle::VerifyOptions {
            minimum_retention_days: None,
            allow_unsigned: true,
            ..Default::default()
        },
    )
    .map_err(|e| HandoffError::Input {
        path: inputs.bundle.clone(),
        message: e.to_string(),
    })?;
    for entry in std::fs::read_dir(&extracted.bundle_dir)
        .map_err(|e| io_error("listing", &extracted.bundle_dir, e))?
    {
        let entry = entry.map_err(|e| io_error("listing", &extracted.bundle_dir, e))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            let name = entry.file_name().to_string_lossy().into_owned();
            copy_into(root, &format!("{BUNDLE_DIR}/{name}"), &entry.path())?;
        }
    }
    copy_into(root, TRUST_ROOTS, &inputs.trust_roots)?;
    copy_into(root, PLAN, &inputs.plan)?;
    copy_into(root, RECEIPTS, &inputs.receipts)?;
    write_into(root, CHECKPOINT, note.as_bytes())?;
    write_into(root, CHECKPOINT_KEY, key_pem.as_bytes())?;

    // The audit segment up to the checkpoint, and proofs for this session's archive events.
    let receipts_sha256 = receipts.digest();
    let is_archive_event = |record: &Record| {
        record.fields.get("event_type").and_then(|v| v.as_str()) == Some("evidence.archived")
            && record
                .fields
                .get("metadata")
                .and_then(|m| m.get("receipts_sha256"))
                .and_then(|v| v.as_str())
                == Some(receipts_sha256.as_str())
    };
    let (leaves, events) =
        audit::leaves::read(&inputs.audit_log, &is_archive_event).map_err(|e| {
            HandoffError::Input {
                path: inputs.audit_log.clone(),
                message: e.to_string(),
            }
        })?;
    let size = checkpoint.size as usize;
    if size > leaves.len() {
        return Err(HandoffError::Input {
            path: inputs.checkpoint.clone(),
            message: format!(
                "checkpoint commits to {size} records but {} has {}: the log was truncated",
                inputs.audit_log.display(),
                leaves.len()
            ),
        });
    }
    let mut segment = String::new();
    let (_, all) =
        audit::leaves::read(&inputs.audit_log, &|_| true).map_err(|e| HandoffError::Input {
            path: inputs.audit_log.clone(),
            message: e.to_string(),
        })?;
    for (_, record) in all.iter().take(size) {
        segment.push_str(&record.to_line());
    }
    write_into(root, SEGMENT, segment.as_bytes())?;
    let mut proofs = Vec::new();
    for (index, record) in events.iter().filter(|(index, _)| (*index as usize) < size) {
        let proof = InclusionProof::new(record, *index, &leaves[..size], Some(note.clone()))
            .map_err(|e| HandoffError::Io(e.to_string()))?;
        proofs.push(proof);
    }
    if proofs.is_empty() {
        return Err(HandoffError::Input {
            path: inputs.audit_log.clone(),
            message: format!(
                "no evidence.archived event for receipts {receipts_sha256} within the checkpoint's {size} records; archive with --audit-log and --checkpoint-key"
            ),
        });
    }
    write_into(
        root,
        PROOFS,
        serde_json::to_string_pretty(&proofs)
            .unwrap_or_default()
            .as_bytes(),
    )?;

    // Index the evidence, check the package as an auditor would, write the reports, then index
    // again so the reports are covered too (tampering with them is caught like any other file).
    let index = make_index(root, &receipts)?;
    write_into(
        root,
        INDEX,
        serde_json::to_string_pretty(&index)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let report = check_package(root, inputs.minimum_retention_days, None);
    write_into(
        root,
        REPORT_JSON,
        serde_json::to_string_pretty(&report)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    write_into(
        root,
        REPORT_HTML,
        handoff_html::render(&view(&report)).as_bytes(),
    )?;
    let index = make_index(root, &receipts)?;
    write_into(
        root,
        INDEX,
        serde_json::to_string_pretty(&index)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    pack_dir(root, output)?;
    Ok(report)
}

fn list_files(root: &Path) -> Result<Vec<String>, HandoffError> {
    let mut names = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| HandoffError::Io(e.to_string()))?;
        if entry.file_type().is_file() {
            let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
            names.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(names)
}

fn make_index(root: &Path, receipts: &ReceiptSet) -> Result<HandoffIndex, HandoffError> {
    let mut files = BTreeMap::new();
    for name in list_files(root)? {
        if name == INDEX {
            continue;
        }
        let digest = crate::hashing::sha256_file(&root.join(&name), &|_| {})
            .map_err(|e| io_error("hashing", &root.join(&name), e))?;
        files.insert(name, digest.sha256);
    }
    Ok(HandoffIndex {
        schema_version: HANDOFF_SCHEMA.into(),
        product: "wormvault".into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        session_id: receipts.session_id.clone(),
        target: receipts.target.clone(),
        bundle_digest: receipts.bundle_digest.clone(),
        files,
    })
}

/// Deterministic tar.gz of a directory: sorted entries, fixed mtime/owner/mode.
fn pack_dir(root: &Path, output: &Path) -> Result<(), HandoffError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(output)
        .map_err(|e| io_error("creating", output, e))?;
    let result = (|| -> std::io::Result<()> {
        let gzip = flate2::GzBuilder::new()
            .mtime(0)
            .write(std::io::BufWriter::new(file), flate2::Compression::new(6));
        let mut builder = tar::Builder::new(gzip);
        builder.mode(tar::HeaderMode::Deterministic);
        builder.follow_symlinks(false);
        for name in list_files(root).map_err(std::io::Error::other)? {
            builder.append_path_with_name(root.join(&name), &name)?;
        }
        let gzip = builder.into_inner()?;
        let mut writer = gzip.finish()?;
        std::io::Write::flush(&mut writer)?;
        writer.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(output);
        return Err(io_error("writing", output, e));
    }
    Ok(())
}

/// Verify a package offline (and, with `online`, against the store too via `check-remote`).
pub fn verify(
    package: &Path,
    minimum_retention_days: u32,
    online: Option<&dyn Fn(&ReceiptSet) -> Result<(bool, String), String>>,
) -> Result<(HandoffReport, String), HandoffError> {
    let limits = ArchiveLimits::default();
    let extracted =
        bundle::archive::extract(package, &limits).map_err(|e| HandoffError::UnsafePackage {
            path: package.to_path_buf(),
            detail: e.to_string(),
        })?;
    if !extracted.findings.is_empty() {
        let detail = extracted
            .findings
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(HandoffError::UnsafePackage {
            path: package.to_path_buf(),
            detail,
        });
    }
    let report = check_package(
        &extracted.temp.path().to_path_buf(),
        minimum_retention_days,
        online,
    );
    let html = handoff_html::render(&view(&report));
    Ok((report, html))
}

struct Checks(Vec<ReportCheck>);

impl Checks {
    fn add(&mut self, name: &str, result: Result<String, String>) {
        let (passed, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        self.0.push(ReportCheck {
            name: name.into(),
            passed,
            detail,
        });
    }
}

fn load_json<T: serde::de::DeserializeOwned>(root: &Path, name: &str) -> Result<T, String> {
    let path = root.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{name}: {e}"))?;
    let value = crate::canonical::parse_strict(&text)
        .map_err(|e| format!("{name}: not valid JSON: {e}"))?;
    serde_json::from_value(value).map_err(|e| format!("{name}: {e}"))
}

/// Every check, recomputed from the package directory. Never returns early: each check records
/// its own failure.
fn check_package(
    root: &Path,
    minimum_retention_days: u32,
    online: Option<&dyn Fn(&ReceiptSet) -> Result<(bool, String), String>>,
) -> HandoffReport {
    let mut checks = Checks(Vec::new());
    let index: Result<HandoffIndex, String> = load_json(root, INDEX);
    let plan: Result<StoragePlan, String> = load_json(root, PLAN);
    let receipts = ReceiptSet::load(&root.join(RECEIPTS));
    let trust = TrustStore::load(&root.join(TRUST_ROOTS)).map_err(|e| e.to_string());

    // 1. Package contents match the index, nothing extra.
    checks.add(
        "package_contents",
        (|| {
            let index = index.as_ref().map_err(Clone::clone)?;
            if index.schema_version != HANDOFF_SCHEMA {
                return Err(format!("{INDEX} has schema {:?}", index.schema_version));
            }
            let files = list_files(root).map_err(|e| e.to_string())?;
            for name in &files {
                if name != INDEX && !index.files.contains_key(name) {
                    return Err(format!("{name} is in the package but not in {INDEX}"));
                }
            }
            for (name, sha) in &index.files {
                let digest = crate::hashing::sha256_file(&root.join(name), &|_| {})
                    .map_err(|e| format!("{name}: {e}"))?;
                if &digest.sha256 != sha {
                    return Err(format!(
                        "{name} has SHA-256 {}, the index says {sha}",
                        digest.sha256
                    ));
                }
            }
            Ok(format!("{} files match {INDEX}", index.files.len()))
        })(),
    );

    // 2. The bundle verifies against the included trust roots.
    let mut signer = String::from("unknown");
    let mut signing_key = String::from("unknown");
    let bundle_report = trust.as_ref().ok().and_then(|trust| {
        bundle::verify(
            &root.join(BUNDLE_DIR),
            &bundle::VerifyOptions {
                trust: Some(trust.clone()),
                minimum_retention_days: Some(u64::from(minimum_retention_days)),
                ..Default::default()
            },
        )
        .ok()
    });
    checks.add(
        "bundle_signature_and_files",
        match (&trust, &bundle_report) {
            (Err(e), _) => Err(format!("trust roots: {e}")),
            (_, None) => Err("the bundle in the package cannot be read".into()),
            (_, Some(report)) if report.valid => {
                if let Some(manifest) = &report.manifest {
                    signer = manifest.signer.clone();
                }
                if let Some(sig) = &report.signature {
                    signing_key = format!(
                        "{} key {} (fingerprint {})",
                        sig.algorithm,
                        sig.key_id.clone().unwrap_or_default(),
                        sig.fingerprint.clone().unwrap_or_default()
                    );
                }
                Ok(format!(
                    "{} files match the manifest; signature verified against the trust roots",
                    report.files.len()
                ))
            }
            (_, Some(report)) => Err(report
                .findings
                .iter()
                .map(|f| format!("[{}] {}", f.kind, f.message))
                .collect::<Vec<_>>()
                .join("; ")),
        },
    );

    // 3. The plan was made from this bundle.
    checks.add(
        "plan_matches_bundle",
        (|| {
            let plan = plan.as_ref().map_err(Clone::clone)?;
            let report = bundle_report.as_ref().ok_or("no readable bundle")?;
            let digest = report.digest.clone().unwrap_or_default();
            if plan.bundle_digest != digest {
                return Err(format!(
                    "plan is for bundle {}, the package's bundle is {digest}",
                    plan.bundle_digest
                ));
            }
            for object in &plan.objects {
                let path = root.join(BUNDLE_DIR).join(&object.path);
                let sha = crate::hashing::sha256_file(&path, &|_| {})
                    .map_err(|e| format!("{}: {e}", object.path))?;
                if sha.sha256 != object.sha256 {
                    return Err(format!(
                        "{}: plan says {}, bundle file is {}",
                        object.path, object.sha256, sha.sha256
                    ));
                }
            }
            Ok(format!(
                "{} planned objects match the bundle files",
                plan.objects.len()
            ))
        })(),
    );

    // 4. Receipts cover the plan, as the store reported it.
    checks.add(
        "receipts_match_plan",
        (|| {
            let plan = plan.as_ref().map_err(Clone::clone)?;
            let receipts = receipts.as_ref().map_err(Clone::clone)?;
            if receipts.plan_sha256 != plan.digest() {
                return Err(format!(
                    "receipts are for plan {}, the package's plan is {}",
                    receipts.plan_sha256,
                    plan.digest()
                ));
            }
            let mut problems = Vec::new();
            for object in &plan.objects {
                match receipts.receipts.iter().find(|r| r.key == object.key) {
                    None => problems.push(format!("{}: no receipt", object.key)),
                    Some(receipt) => {
                        if receipt.sha256.as_deref() != Some(object.sha256.as_str()) {
                            problems.push(format!(
                                "{}: store reported SHA-256 {:?}",
                                object.key, receipt.sha256
                            ));
                        }
                        if receipt.enforcement != crate::store::Enforcement::Unconfirmed {
                            if receipt.retention_mode != Some(object.retention_mode) {
                                problems.push(format!(
                                    "{}: store reported mode {:?}",
                                    object.key, receipt.retention_mode
                                ));
                            }
                            if receipt.retain_until.map(|u| u.timestamp())
                                < Some(object.retain_until.timestamp())
                            {
                                problems.push(format!(
                                    "{}: store reported retain-until {:?}",
                                    object.key, receipt.retain_until
                                ));
                            }
                        }
                    }
                }
            }
            if problems.is_empty() {
                Ok(format!(
                    "{} receipts match the plan",
                    receipts.receipts.len()
                ))
            } else {
                Err(problems.join("; "))
            }
        })(),
    );

    // 5. Receipts signature, when signed.
    checks.add("receipts_signature", match (&receipts, &trust) {
        (Err(e), _) => Err(e.clone()),
        (Ok(r), _) if r.signature.is_none() => Ok("receipts are not signed (read-back values are covered by the audit event's receipts hash)".into()),
        (Ok(_), Err(e)) => Err(format!("trust roots: {e}")),
        (Ok(r), Ok(trust)) => r.verify_signature(trust).map(|key| format!("signed by {} ({})", key.key_id, key.fingerprint)),
    });

    // 6. Retention at or above the minimum, as the store reported it.
    checks.add(
        "retention_minimum",
        (|| {
            let receipts = receipts.as_ref().map_err(Clone::clone)?;
            let created = crate::trust::parse_timestamp(&receipts.created_at)
                .ok_or("receipts created_at is not a timestamp")?;
            if receipts.enforcement == crate::store::Enforcement::Unconfirmed {
                return Err(
                    "the store could not confirm immutability (enforcement: unconfirmed)".into(),
                );
            }
            let required = created + chrono::Duration::days(i64::from(minimum_retention_days));
            let short: Vec<_> = receipts
                .receipts
                .iter()
                .filter(|r| {
                    r.retain_until
                        .map(|u| u.timestamp() < required.timestamp())
                        .unwrap_or(true)
                })
                .map(|r| r.key.clone())
                .collect();
            if short.is_empty() {
                Ok(format!(
                    "every object locked until at least {} ({minimum_retention_days} days)",
                    required.to_rfc3339()
                ))
            } else {
                Err(format!(
                    "locked for less than {minimum_retention_days} days: {}",
                    short.join(", ")
                ))
            }
        })(),
    );

    // 7. The audit segment's chain, 8. the checkpoint, 9. the archive-event proofs.
    // Ed25519-signed records are checked against the trust roots; HMAC signatures cannot be
    // checked offline without the shared secret, so only the chain is checked then (and said).
    let ed25519 = first_signature_algorithm(&root.join(SEGMENT)).as_deref() == Some("Ed25519");
    let signatures = match (&trust, ed25519) {
        (Ok(trust), true) => audit::SignatureCheck::Ed25519 {
            trust: trust.clone(),
        },
        _ => audit::SignatureCheck::None,
    };
    let segment = audit::verify(
        &root.join(SEGMENT),
        &audit::VerifyOptions {
            signatures,
            ..Default::default()
        },
    );
    checks.add("audit_chain", match &segment {
        Ok(report) if report.valid && ed25519 => Ok(format!("{} records, chain intact, Ed25519 signatures verified against the trust roots", report.record_count)),
        Ok(report) if report.valid => Ok(format!("{} records, chain intact (records are not Ed25519-signed: signatures not checkable offline)", report.record_count)),
        Ok(report) => Err(report.errors.join("; ")),
        Err(e) => Err(e.to_string()),
    });
    let note = std::fs::read_to_string(root.join(CHECKPOINT)).map_err(|e| e.to_string());
    let key = (|| -> Result<CheckpointKey, String> {
        let pem = std::fs::read_to_string(root.join(CHECKPOINT_KEY))
            .map_err(|e| format!("{CHECKPOINT_KEY}: {e}"))?;
        let fingerprint = crate::trust::fingerprint(&pem);
        let trust = trust.as_ref().map_err(|e| format!("trust roots: {e}"))?;
        let root = trust
            .roots()
            .iter()
            .find(|r| r.public_key_sha256 == fingerprint)
            .ok_or_else(|| format!("checkpoint key {fingerprint} is not one of the trust roots"))?;
        if root.status == crate::trust::RootStatus::Revoked {
            return Err(format!("checkpoint key {} is revoked", root.key_id));
        }
        let public = crate::trust::PublicKey::from_spki_pem(&pem, CHECKPOINT_KEY)
            .map_err(|e| e.to_string())?;
        let name = note
            .as_ref()
            .map(|n| n.lines().next().unwrap_or_default().to_string())
            .unwrap_or_default();
        Ok(CheckpointKey {
            name,
            key: public.verifying_key(),
        })
    })();
    let opened = match (&note, &key) {
        (Ok(note), Ok(key)) => Checkpoint::open(note, key).map_err(|e| e.to_string()),
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
    };
    checks.add(
        "checkpoint_signature",
        opened
            .as_ref()
            .map(|c| format!("{} records signed by a trust-root key", c.size))
            .map_err(Clone::clone),
    );
    checks.add("checkpoint_matches_log", match (&opened, &segment) {
        (Ok(checkpoint), Ok(report)) => {
            use base64::Engine;
            let root = base64::engine::general_purpose::STANDARD.encode(checkpoint.root);
            if checkpoint.size == report.tree_size && root == report.merkle_root {
                Ok(format!("segment of {} records has the checkpoint's Merkle root", report.tree_size))
            } else {
                Err(format!("checkpoint commits to {} records root {root}, the segment has {} records root {}", checkpoint.size, report.tree_size, report.merkle_root))
            }
        }
        (Err(e), _) => Err(e.clone()),
        (_, Err(e)) => Err(e.to_string()),
    });
    checks.add("archive_event_proofs", (|| {
        let proofs: Vec<InclusionProof> = load_json(root, PROOFS)?;
        let key = key.as_ref().map_err(Clone::clone)?;
        let receipts = receipts.as_ref().map_err(Clone::clone)?;
        let digest = receipts.digest();
        if proofs.is_empty() {
            return Err("no inclusion proofs for the archive event".into());
        }
        for proof in &proofs {
            let checked = proof.check(Some(key)).map_err(|e| e.to_string())?;
            if !checked.valid {
                return Err(format!("proof for record {}: {}", proof.sequence, checked.errors.join("; ")));
            }
            let event = proof.record.get("event_type").and_then(|v| v.as_str());
            let carried = proof.record.get("metadata").and_then(|m| m.get("receipts_sha256")).and_then(|v| v.as_str());
            if event != Some("evidence.archived") || carried != Some(digest.as_str()) {
                return Err(format!("record {} is {event:?} carrying receipts {carried:?}, expected evidence.archived with {digest}", proof.sequence));
            }
        }
        Ok(format!("{} archive event(s) proved included in the signed checkpoint, carrying the receipts' hash", proofs.len()))
    })());

    if let (Some(online), Ok(receipts)) = (online, &receipts) {
        checks.add(
            "store_matches_receipts",
            match online(receipts) {
                Ok((true, detail)) => Ok(detail),
                Ok((false, detail)) => Err(detail),
                Err(e) => Err(e),
            },
        );
    }

    let objects = match (&receipts, &plan) {
        (Ok(receipts), _) => receipts
            .receipts
            .iter()
            .map(|r| ReportObject {
                path: r.path.clone(),
                location: format!("{} {}", receipts.target.trim_end_matches('/'), r.key),
                version_id: r.version_id.clone(),
                sha256: r.sha256.clone().unwrap_or_default(),
                bytes: r.bytes,
                retention_mode: r
                    .retention_mode
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "none reported".into()),
                retain_until: r
                    .retain_until
                    .map(|u| u.to_rfc3339())
                    .unwrap_or_else(|| "none reported".into()),
                legal_hold: r
                    .legal_hold
                    .map(|h| if h { "on" } else { "off" }.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                enforcement: r.enforcement.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let valid = checks.0.iter().all(|c| c.passed);
    let (session_id, target, bundle_digest) = match &receipts {
        Ok(r) => (
            r.session_id.clone(),
            r.target.clone(),
            r.bundle_digest.clone(),
        ),
        Err(_) => ("unknown".into(), "unknown".into(), "unknown".into()),
    };
    HandoffReport {
        schema_version: REPORT_SCHEMA.into(),
        verified_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        valid,
        session_id,
        target,
        bundle_digest,
        checks: checks.0,
        objects,
        signer,
        signing_key,
    }
}

pub fn view(report: &HandoffReport) -> ReportView {
    ReportView {
        session_id: report.session_id.clone(),
        target: report.target.clone(),
        bundle_digest: report.bundle_digest.clone(),
        verified_at: report.verified_at.clone(),
        signer: report.signer.clone(),
        signing_key: report.signing_key.clone(),
        valid: report.valid,
        checks: report.checks.clone(),
        objects: report.objects.clone(),
    }
}

/// The signature algorithm of the first record of a log, if any.
fn first_signature_algorithm(log: &Path) -> Option<String> {
    use std::io::BufRead;
    let file = std::fs::File::open(log).ok()?;
    let line = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find(|l| !l.trim().is_empty())?;
    let value = crate::canonical::parse_strict(&line).ok()?;
    value
        .get("signature")?
        .get("algorithm")?
        .as_str()
        .map(str::to_string)
}
