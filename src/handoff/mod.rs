//! The auditor handoff package: one deterministic `.tar.gz` with everything needed to check an
//! archived session offline — the bundle (manifest, signature, files), the trust roots, the
//! audit-log segment with its signed checkpoint and inclusion proofs for the session's
//! `evidence.archived` events (and every later event about its objects, such as legal holds),
//! the storage plan, the receipts, a machine-readable verification report and an HTML report.
//!
//! This module owns building the package ([`create`]) and reading one back safely
//! ([`verify`]: extraction bounded by what the index declares). The checks themselves live in
//! [`checks`]; the trust roots inside a package are information, never authority — `verify`
//! checks every signature against keys the auditor pins (issue #14 item 1).

pub mod checks;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit::{self, Checkpoint, InclusionProof, Record};
use crate::bundle::{self, ArchiveLimits};
use crate::handoff_html::{self, ReportView};
use crate::receipt::ReceiptSet;

pub use checks::{
    Finding, FoundKey, HandoffReport, HoldEvent, OnlineCheck, OnlineResult, Pins, Verdict,
    VerifyOptions,
};

pub const HANDOFF_SCHEMA: &str = "wormvault.handoff.v1";
/// v2: verdict, findings, pinning, archive time, hold history (issue #14).
pub const REPORT_SCHEMA: &str = "wormvault.handoff-report.v2";

// Package layout.
pub(crate) const INDEX: &str = "handoff.json";
pub(crate) const BUNDLE_DIR: &str = "bundle";
pub(crate) const TRUST_ROOTS: &str = "trust-roots.json";
pub(crate) const SEGMENT: &str = "audit/segment.jsonl";
pub(crate) const CHECKPOINT: &str = "audit/checkpoint.txt";
pub(crate) const CHECKPOINT_KEY: &str = "audit/checkpoint-key.pem";
pub(crate) const PROOFS: &str = "audit/archive-event-proofs.json";
pub(crate) const PLAN: &str = "plan.json";
pub(crate) const RECEIPTS: &str = "receipts.json";
pub(crate) const REPORT_JSON: &str = "report/verification.json";
pub(crate) const REPORT_HTML: &str = "report/report.html";

/// Largest `handoff.json` read while looking for it (it lists one line per file).
pub const MAX_INDEX_BYTES: u64 = 4 << 20;
/// Directory entries other packers add beside the files the index lists.
const EXTRA_ENTRIES: usize = 64;
/// A package whose index does not declare file sizes (or has none) is extracted up to this
/// many times its own size, plus [`LEGACY_ALLOWANCE`] (so a 1 MiB package writes < 165 MiB).
pub const LEGACY_EXPANSION: u64 = 100;
pub const LEGACY_ALLOWANCE: u64 = 64 << 20;

/// What goes into a package.
#[derive(Debug, Clone)]
pub struct HandoffInputs {
    pub bundle: PathBuf,
    pub trust_roots: PathBuf,
    pub plan: PathBuf,
    pub receipts: PathBuf,
    pub audit_log: PathBuf,
    /// The newest signed checkpoint (C2SP note) of the audit log: it must cover the archive
    /// event and every later event about the session's objects (holds) in the log.
    pub checkpoint: PathBuf,
    /// SPKI PEM public key of the checkpoint signer (must be one of the trust roots).
    pub checkpoint_key: PathBuf,
    pub minimum_retention_days: u32,
}

/// The package index: every file with its SHA-256 and size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoffIndex {
    pub schema_version: String,
    pub product: String,
    pub created_at: String,
    pub session_id: String,
    pub target: String,
    pub bundle_digest: String,
    pub files: BTreeMap<String, String>,
    /// Size of every file in bytes: bounds extraction (issue #15 item 14).
    #[serde(default)]
    pub bytes: BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("{0}")]
    Io(String),
    #[error("handoff package {path} is unsafe or corrupt: {detail}")]
    UnsafePackage { path: PathBuf, detail: String },
    #[error("{0}")]
    Usage(String),
    #[error(
        "refusing to write the handoff package: the package as built does not verify ({}); nothing was written",
        .findings.join("; ")
    )]
    Refused { findings: Vec<String> },
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

/// A small text input (checkpoint, checkpoint key): a regular file of at most
/// [`crate::limits::MAX_NOTE_BYTES`], refused otherwise without blocking.
fn read_text(path: &Path, what: &'static str) -> Result<String, HandoffError> {
    crate::limits::read_json_capped(path, crate::limits::MAX_NOTE_BYTES, what).map_err(|e| {
        HandoffError::Input {
            path: path.to_path_buf(),
            message: match e {
                crate::limits::LimitError::Io { source, .. } => source.to_string(),
                other => other.to_string(),
            },
        }
    })
}

fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .into_bytes()
}

/// Is this audit record about the session under `prefix` of `target`? Its `target` names the
/// session prefix, or one of its `metadata.objects[*].key` lies under it (hold events).
pub fn is_about_session(record: &serde_json::Value, target: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    let event_target = record
        .get("target")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if let Some((store, path)) = event_target.split_once('#') {
        let path = path.trim_end_matches('/');
        if store.trim_end_matches('/') == target.trim_end_matches('/')
            && (path == prefix || path.starts_with(&format!("{prefix}/")))
        {
            return true;
        }
    }
    record
        .get("metadata")
        .and_then(|m| m.get("objects"))
        .and_then(|o| o.as_array())
        .is_some_and(|objects| {
            objects.iter().any(|o| {
                let key = o
                    .get("key")
                    .and_then(|k| k.as_str())
                    .or_else(|| o.as_str())
                    .unwrap_or_default();
                key.starts_with(&format!("{prefix}/"))
            })
        })
}

/// Build the package at `output` (never overwritten). The package is checked as an auditor
/// would, pinned to the trust roots it carries; when that check fails nothing is written.
/// Returns the report made while packaging.
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
    let note = read_text(&inputs.checkpoint, "--checkpoint")?;
    let key_pem = read_text(&inputs.checkpoint_key, "--checkpoint-key")?;
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
    let (leaves, all) =
        audit::leaves::read(&inputs.audit_log, &|_| true).map_err(|e| HandoffError::Input {
            path: inputs.audit_log.clone(),
            message: e.to_string(),
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
    // Every event about the session's objects up to packaging time must be covered (hold
    // history, issue #14 item 5): a checkpoint older than the last of them is refused.
    let about = |record: &Record| {
        is_about_session(
            &serde_json::Value::Object(record.fields.clone()),
            &receipts.target,
            &receipts.session_prefix,
        )
    };
    if let Some((index, record)) = all.iter().rev().find(|(_, record)| about(record))
        && (*index as usize) >= size
    {
        return Err(HandoffError::Input {
            path: inputs.checkpoint.clone(),
            message: format!(
                "the checkpoint covers {size} records but record {} ({}) about this session comes after it; take a newer checkpoint (`wormvault audit checkpoint`) and pass it with --checkpoint",
                record.sequence().unwrap_or(*index + 1),
                record
                    .fields
                    .get("event_type")
                    .and_then(|v| v.as_str())
                    .unwrap_or("event")
            ),
        });
    }
    let mut segment = String::new();
    for (_, record) in all.iter().take(size) {
        segment.push_str(&record.to_line());
    }
    write_into(root, SEGMENT, segment.as_bytes())?;
    let mut proofs = Vec::new();
    for (index, record) in all
        .iter()
        .filter(|(index, record)| (*index as usize) < size && is_archive_event(record))
    {
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
    write_into(root, PROOFS, &pretty(&proofs))?;

    // Index the evidence, check the package as an auditor would (pinned to the trust roots it
    // carries: the ones the archive verified against), write the reports, then index again so
    // the reports are covered too.
    write_into(root, INDEX, &pretty(&make_index(root, &receipts)?))?;
    let pins = Pins::from_files(std::slice::from_ref(&inputs.trust_roots))?;
    let options = VerifyOptions {
        pins,
        minimum_retention_days: inputs.minimum_retention_days,
        ..Default::default()
    };
    let report = checks::check_package(root, &options, true);
    if report.verdict == Verdict::Failed {
        return Err(HandoffError::Refused {
            findings: report
                .findings
                .iter()
                .map(|f| format!("[{}] {}", f.kind, f.detail))
                .collect(),
        });
    }
    write_into(root, REPORT_JSON, &pretty(&report))?;
    write_into(
        root,
        REPORT_HTML,
        handoff_html::render(&view(&report)).as_bytes(),
    )?;
    write_into(root, INDEX, &pretty(&make_index(root, &receipts)?))?;
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
    let mut bytes = BTreeMap::new();
    for name in list_files(root)? {
        if name == INDEX {
            continue;
        }
        let digest = crate::hashing::sha256_file(&root.join(&name), &|_| {})
            .map_err(|e| io_error("hashing", &root.join(&name), e))?;
        files.insert(name.clone(), digest.sha256);
        bytes.insert(name, digest.bytes);
    }
    Ok(HandoffIndex {
        schema_version: HANDOFF_SCHEMA.into(),
        product: "wormvault".into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        session_id: receipts.session_id.clone(),
        target: receipts.target.clone(),
        bundle_digest: receipts.bundle_digest.clone(),
        files,
        bytes,
    })
}

/// Deterministic tar.gz of a directory: the index first (so a verifier learns the declared
/// sizes before extracting anything), then sorted entries, fixed mtime/owner/mode. Written to a
/// temporary file beside `output` and moved into place only when complete (never over a file).
fn pack_dir(root: &Path, output: &Path) -> Result<(), HandoffError> {
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".wormvault-handoff-")
        .tempfile_in(parent)
        .map_err(|e| io_error("creating a temporary file in", parent, e))?;
    let result = (|| -> std::io::Result<()> {
        let file = temp.as_file().try_clone()?;
        let gzip = flate2::GzBuilder::new()
            .mtime(0)
            .write(std::io::BufWriter::new(file), flate2::Compression::new(6));
        let mut builder = tar::Builder::new(gzip);
        builder.mode(tar::HeaderMode::Deterministic);
        builder.follow_symlinks(false);
        let mut names = list_files(root).map_err(std::io::Error::other)?;
        names.sort_by_key(|name| name != INDEX);
        for name in names {
            builder.append_path_with_name(root.join(&name), &name)?;
        }
        let gzip = builder.into_inner()?;
        let mut writer = gzip.finish()?;
        std::io::Write::flush(&mut writer)?;
        writer.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    result.map_err(|e| io_error("writing", output, e))?;
    temp.persist_noclobber(output)
        .map_err(|e| io_error("moving the finished package to", output, e.error))?;
    Ok(())
}

/// The most bytes extraction writes for `package` whatever its index declares:
/// [`LEGACY_EXPANSION`] × its own size plus [`LEGACY_ALLOWANCE`], or the auditor's
/// `--max-extract-bytes` when given. The index is unsigned: it may only lower this.
pub fn extraction_ceiling(package_bytes: u64, max_extract_bytes: Option<u64>) -> u64 {
    max_extract_bytes.unwrap_or_else(|| {
        package_bytes
            .saturating_mul(LEGACY_EXPANSION)
            .saturating_add(LEGACY_ALLOWANCE)
    })
}

/// Most entries extracted, whatever the index lists.
pub const MAX_PACKAGE_ENTRIES: usize = 100_000;

/// Extraction limits for `package`: proportionate to what its index declares (as many entries
/// as files listed, plus directory entries; no entry larger than the largest declared file; no
/// more in total than the declared sizes), and never above [`extraction_ceiling`] — the index
/// is not signed, so what it declares can lower the limits but never raise them (a small
/// package declaring a 2 GiB file is refused, not extracted). The index is found by streaming
/// the archive without writing anything (wormvault puts it first); a package whose index
/// declares no sizes gets the ceiling.
pub fn extraction_limits(
    package: &Path,
    max_extract_bytes: Option<u64>,
) -> Result<ArchiveLimits, HandoffError> {
    let corrupt = |detail: String| HandoffError::UnsafePackage {
        path: package.to_path_buf(),
        detail,
    };
    // A regular file only: the package is read twice (here, then extracted), which a pipe
    // cannot do — its second read would find it drained and call a genuine package truncated.
    let file = crate::limits::open_input(package, "handoff package").map_err(|e| match e {
        crate::limits::LimitError::Io { source, .. } => io_error("opening", package, source),
        refused => HandoffError::Io(refused.to_string()),
    })?;
    let size = file
        .metadata()
        .map_err(|e| io_error("reading", package, e))?
        .len();
    let ceiling = extraction_ceiling(size, max_extract_bytes);
    let legacy = ArchiveLimits {
        max_entries: 10_000,
        max_entry_bytes: ceiling,
        max_total_bytes: ceiling,
    };
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let entries = archive
        .entries()
        .map_err(|e| corrupt(format!("cannot read the archive: {e}")))?;
    let mut skipped = 0u64;
    for entry in entries {
        let Ok(mut entry) = entry else {
            // Extraction reports the corruption with its finding.
            return Ok(legacy);
        };
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let entry_size = entry.header().size().unwrap_or(u64::MAX);
        if name.trim_start_matches("./") != INDEX {
            skipped = skipped.saturating_add(entry_size);
            if skipped > ceiling {
                return Ok(legacy);
            }
            continue;
        }
        if entry_size > MAX_INDEX_BYTES {
            return Err(corrupt(format!(
                "{INDEX} is {entry_size} bytes, over the {MAX_INDEX_BYTES}-byte limit"
            )));
        }
        let mut text = String::new();
        entry
            .by_ref()
            .take(MAX_INDEX_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| corrupt(format!("cannot read {INDEX}: {e}")))?;
        let Ok(index) = serde_json::from_str::<HandoffIndex>(&text) else {
            return Ok(legacy);
        };
        if index.bytes.is_empty() {
            return Ok(legacy);
        }
        let largest = index.bytes.values().copied().max().unwrap_or(0);
        let total = index
            .bytes
            .values()
            .fold(entry_size, |sum, b| sum.saturating_add(*b));
        return Ok(ArchiveLimits {
            max_entries: (index.files.len() + 1 + EXTRA_ENTRIES).min(MAX_PACKAGE_ENTRIES),
            max_entry_bytes: largest.max(entry_size).min(ceiling),
            max_total_bytes: total.min(ceiling),
        });
    }
    Ok(legacy)
}

/// Is this extraction finding about the package's size or readability (the package cannot be
/// checked: exit 2), rather than tampering with its entries (a verification failure)?
fn is_resource_or_unreadable(kind: bundle::FindingKind) -> bool {
    kind.is_reading_limit() || kind == bundle::FindingKind::ArchiveCorrupt
}

/// Verify a package: extract it within [`extraction_limits`], then run every check of
/// [`checks::check_package`]. Returns the recomputed report and the HTML made from it.
///
/// A package whose entries were tampered with (`..` or absolute names, links, devices,
/// duplicate or conflicting entries, data after the archive, a failed gzip trailer) is a
/// verification failure: a `FAILED` report whose `package_archive` check names each entry.
/// A package over the extraction limits or not a gzip tar at all is an error (exit 2): it
/// could not be checked.
pub fn verify(
    package: &Path,
    options: &VerifyOptions,
) -> Result<(HandoffReport, String), HandoffError> {
    let limits = extraction_limits(package, options.max_extract_bytes)?;
    let extracted =
        bundle::archive::extract(package, &limits).map_err(|e| HandoffError::UnsafePackage {
            path: package.to_path_buf(),
            detail: e.to_string(),
        })?;
    if !extracted.findings.is_empty() {
        let tampered = extracted
            .findings
            .iter()
            .any(|f| !is_resource_or_unreadable(f.kind));
        if tampered {
            let report = checks::archive_refused(&extracted.findings);
            let html = handoff_html::render(&view(&report));
            return Ok((report, html));
        }
        let mut detail = extracted
            .findings
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        if extracted
            .findings
            .iter()
            .any(|f| f.kind == bundle::FindingKind::ArchiveEntryTooLarge)
        {
            detail.push_str(&format!(
                " (extraction writes at most {} bytes for this package — {LEGACY_EXPANSION} × its size plus {} MiB, or --max-extract-bytes — and never more than its index declares; if the package is genuine, pass --max-extract-bytes BYTES to raise the limit)",
                limits.max_total_bytes.max(extraction_ceiling(
                    std::fs::metadata(package).map(|m| m.len()).unwrap_or(0),
                    options.max_extract_bytes
                )),
                LEGACY_ALLOWANCE >> 20
            ));
        }
        return Err(HandoffError::UnsafePackage {
            path: package.to_path_buf(),
            detail,
        });
    }
    let report = checks::check_package(&extracted.root, options, false);
    let html = handoff_html::render(&view(&report));
    Ok((report, html))
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
        verdict: report.verdict.as_str().into(),
        enforcement: report.enforcement.clone(),
        archived_at: report.archived_at.clone(),
        checks: report.checks.clone(),
        objects: report.objects.clone(),
        holds: report
            .hold_events
            .iter()
            .map(|h| crate::handoff_html::ReportHold {
                sequence: h.sequence,
                created_at: h.created_at.clone(),
                event: h.event_type.clone(),
                case: h.case.clone().unwrap_or_default(),
                actor: h.actor.clone(),
                reason: h.reason.clone().unwrap_or_default(),
                objects: h.objects.len(),
            })
            .collect(),
        hold_state_source: report.hold_state_source.clone(),
        checkpoint: report
            .checkpoint
            .as_ref()
            .map(|c| crate::handoff_html::ReportCheckpoint {
                records: c.records,
                last_record_at: c.last_record_at.clone(),
            }),
        findings: report
            .findings
            .iter()
            .map(|f| (f.kind.clone(), f.detail.clone()))
            .collect(),
    }
}
