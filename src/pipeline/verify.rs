//! Stage 1, **verify**: everything the archive vouches for, checked before anything is written.
//!
//! - the bundle ([`bundle`]): files, signature, trust root. Its retention-policy findings are
//!   reported by the **retention** stage, not as a verification failure (issue #14 item 3: "a
//!   retention failure must say `retention`");
//! - what else the archive will sign or anchor ([`vouch`]): the audit log verifies in full
//!   (chain and every record signature) under the key the event will be signed with, and every
//!   Ed25519 key that will sign — receipts, audit event, checkpoint — is a trust root (matched by
//!   fingerprint, admitted now), so the handoff of a successful archive verifies against the
//!   same roots (house rule: trust comes from keys the user pins);
//! - the content of files big enough to be staged invisibly, checked while they upload
//!   ([`Deferred`]): no object is committed before it passes.
//!
//! HMAC audit keys have no public half to pin by fingerprint. The decision (README "The
//! pipeline"): the log must verify with that exact key — every existing record's HS256 signature
//! and key id — so a wrong or foreign secret, or one forged record, is refused before upload.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::audit::{self, AuditError, SignatureCheck, Signer};
use crate::bundle::{self, BundleReport, FindingKind};
use crate::store::WriteGate;
use crate::trust::{PublicKey, TrustStore};

use super::upload::{Event, Observer};
use super::{ArchiveError, ExecuteRequest, Stage, StageError, stage_event};

/// Why the archive refuses to vouch for its own signatures or the audit log.
#[derive(Debug, thiserror::Error)]
pub enum VouchError {
    #[error(
        "audit log {} does not verify ({} error(s)): {}; nothing was stored — investigate the log before archiving",
        log.display(),
        errors.len(),
        errors.join("; ")
    )]
    LogInvalid { log: PathBuf, errors: Vec<String> },
    #[error(
        "audit log {} has signed records, but the archive was given no key to check them (and would append an unsigned event); pass the log's key (--audit-hmac-key-file/--audit-hmac-key-env, or --audit-signing-key with the log's signers in --trust-root); nothing was stored",
        log.display()
    )]
    LogUnchecked { log: PathBuf },
    #[error(
        "the {role} key (fingerprint {fingerprint}) is not a usable trust root in --trust-root: {reason}; add it (`wormvault keys trust-root --public-key … --key-id {key_id}`, then `keys trust-bundle`), or the handoff of this archive could not be verified; nothing was stored"
    )]
    KeyNotPinned {
        role: &'static str,
        key_id: String,
        fingerprint: String,
        reason: String,
    },
    #[error(
        "the {role} is signed with an Ed25519 key, but no --trust-root was given to pin it; nothing was stored"
    )]
    NoTrustRoot { role: &'static str },
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("reading audit log {}: {source}", log.display())]
    Read {
        log: PathBuf,
        source: std::io::Error,
    },
}

impl VouchError {
    pub fn is_refusal(&self) -> bool {
        !matches!(self, VouchError::Audit(_) | VouchError::Read { .. })
    }
}

fn is_retention_finding(kind: FindingKind) -> bool {
    matches!(
        kind,
        FindingKind::RetentionPolicyMissing
            | FindingKind::RetentionPolicyMalformed
            | FindingKind::RetentionBelowMinimum
    )
}

/// Verify the bundle (hashing files of `defer` bytes or more later, see [`Deferred`]). A bundle
/// whose only findings are about its retention policy is refused by the retention stage.
pub fn bundle(
    path: &Path,
    mut options: bundle::VerifyOptions,
    defer: Option<u64>,
    minimum_retention_days: u32,
    observer: &dyn Observer,
) -> Result<BundleReport, ArchiveError> {
    stage_event(
        observer,
        Stage::Verify,
        "started",
        path.display().to_string(),
    );
    options.defer_hashing_from = defer;
    options.minimum_retention_days = Some(u64::from(minimum_retention_days));
    let report = bundle::verify(path, &options).map_err(|e| ArchiveError::new(Stage::Verify, e))?;
    if !report.valid {
        let stage = if report.findings.iter().all(|f| is_retention_finding(f.kind)) {
            Stage::Retention
        } else {
            Stage::Verify
        };
        return Err(ArchiveError::new(
            stage,
            StageError::NotVerified {
                input: report.input.clone(),
                findings: report.findings.clone(),
                nothing_committed: false,
            },
        ));
    }
    let deferred = if report.deferred.is_empty() {
        String::new()
    } else {
        format!(
            "; the content of {} large file(s) is checked while they upload, and nothing is committed before it passes",
            report.deferred.len()
        )
    };
    stage_event(
        observer,
        Stage::Verify,
        "passed",
        format!(
            "{} files, digest {}{deferred}",
            report.files.len(),
            report.digest.clone().unwrap_or_default()
        ),
    );
    Ok(report)
}

/// Is `key` a trust root (by fingerprint, and under `key_id` when the signature will name one)
/// whose status and window admit a signature made now?
fn pinned(
    trust: Option<&TrustStore>,
    role: &'static str,
    key: &PublicKey,
    key_id: Option<&str>,
) -> Result<(), VouchError> {
    let trust = trust.ok_or(VouchError::NoTrustRoot { role })?;
    let fingerprint = key.fingerprint();
    let refuse = |reason: String| VouchError::KeyNotPinned {
        role,
        key_id: key_id.unwrap_or("ID").to_string(),
        fingerprint: fingerprint.clone(),
        reason,
    };
    let roots: Vec<_> = trust
        .roots()
        .iter()
        .filter(|root| root.public_key_sha256 == fingerprint)
        .collect();
    if roots.is_empty() {
        return Err(refuse("no root has this fingerprint".into()));
    }
    let root = match key_id {
        Some(id) => roots.iter().find(|r| r.key_id == id).ok_or_else(|| {
            refuse(format!(
                "the signature will name key id {id:?}, but the roots list this key as {}",
                roots
                    .iter()
                    .map(|r| format!("{:?}", r.key_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
        None => roots[0],
    };
    root.check().map_err(|e| refuse(e.to_string()))?;
    root.admits(chrono::Utc::now())
        .map_err(|e| refuse(e.to_string()))
}

/// Does any record of the log carry a signature? (Only asked when no key was given.)
fn has_signed_records(log: &Path) -> Result<bool, VouchError> {
    let read = |source| VouchError::Read {
        log: log.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(log) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(read(e)),
    };
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(read)?;
        // A line that does not parse is the verifier's to report.
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(&line)
            && fields.get("signature").is_some_and(|s| !s.is_null())
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The signature check the audit log must pass: the key the new event will be signed with.
pub(crate) fn log_check(
    log: &Path,
    signer: &Signer,
    trust: Option<&TrustStore>,
) -> Result<SignatureCheck, VouchError> {
    Ok(match signer {
        Signer::Hmac { key, key_id } => SignatureCheck::Hmac {
            key: key.clone(),
            key_id: key_id.clone(),
        },
        Signer::Ed25519 { .. } | Signer::Kms { .. } => SignatureCheck::Ed25519 {
            trust: trust.cloned().ok_or(VouchError::NoTrustRoot {
                role: "audit event",
            })?,
        },
        Signer::Unsigned => {
            if has_signed_records(log)? {
                return Err(VouchError::LogUnchecked {
                    log: log.to_path_buf(),
                });
            }
            SignatureCheck::None
        }
    })
}

/// Check everything the archive will sign or anchor, before anything is written; returns the
/// warnings to show (also sent to the observer).
pub fn vouch(
    report: &BundleReport,
    execute: &ExecuteRequest,
    trust: Option<&TrustStore>,
    observer: &dyn Observer,
) -> Result<Vec<String>, ArchiveError> {
    let refuse = |e: VouchError| ArchiveError::new(Stage::Verify, e);
    if let Some((key, key_id)) = &execute.receipt_key {
        pinned(trust, "receipts", &key.public(), Some(key_id)).map_err(refuse)?;
    }
    if let Some(audit) = &execute.audit {
        if let Some((public, key_id)) = audit.signer.ed25519_public() {
            pinned(trust, "audit event", &public, Some(key_id)).map_err(refuse)?;
        }
        if let Some(anchor) = &audit.anchor {
            pinned(trust, "checkpoint", &anchor.key.public(), None).map_err(refuse)?;
        }
        let check = log_check(audit.log.path(), &audit.signer, trust).map_err(refuse)?;
        let checked = check.is_enabled();
        match audit::verify(
            audit.log.path(),
            &audit::VerifyOptions {
                signatures: check,
                ..Default::default()
            },
        ) {
            Ok(verified) if verified.valid => stage_event(
                observer,
                Stage::Verify,
                "passed",
                format!(
                    "audit log {}: {} record(s), chain {}",
                    audit.log.name(),
                    verified.record_count,
                    if checked {
                        "and every signature verified"
                    } else {
                        "verified (unsigned log)"
                    }
                ),
            ),
            Ok(verified) => {
                return Err(refuse(VouchError::LogInvalid {
                    log: PathBuf::from(audit.log.name()),
                    errors: verified.errors,
                }));
            }
            // A log that does not exist yet is created by the event; nothing to vouch for.
            Err(AuditError::MissingLog { .. }) => {}
            Err(e) => return Err(refuse(e.into())),
        }
    }
    let mut warnings = Vec::new();
    if let Some(signature) = &report.signature
        && signature.algorithm == "HS256"
    {
        warnings.push(format!(
            "the bundle is HMAC-signed (HS256, key id {}): its signature can only be checked with the shared secret, so the auditor's handoff package will need that secret (`handoff verify --bundle-key-file`) — without it the bundle signature is reported as unchecked; an Ed25519 signature (`bundle create --private-key`) verifies from the trust roots alone",
            signature.key_id.as_deref().unwrap_or("unnamed")
        ));
    }
    for warning in &warnings {
        observer.event(&Event::Warning {
            message: warning.clone(),
        });
    }
    Ok(warnings)
}

/// The content check of deferred files, running on a blocking thread while the upload goes:
/// writes wait on [`Deferred::gate`] and are committed only when it opens.
pub(crate) struct Deferred {
    bundle_dir: PathBuf,
    gate: Option<WriteGate>,
    /// The uploader's digests of what it sent, so each deferred file is hashed once; the upload
    /// stage is declared over when this is dropped (also if `finish` is never reached), so the
    /// check never waits for an uploader that is gone.
    digests: Option<UploadStage>,
    count: usize,
    /// Kept alive until the end: a `.tar.gz` bundle's files live in the report's temp dir.
    state: DeferredState,
}

/// Ends the upload stage of a [`crate::hashing::SharedDigests`] when dropped.
struct UploadStage(crate::hashing::SharedDigests);

impl Drop for UploadStage {
    fn drop(&mut self) {
        self.0.end();
    }
}

enum DeferredState {
    /// Held only to keep the report's temp dir (a `.tar.gz` bundle's files) alive.
    Done {
        _report: Box<BundleReport>,
    },
    Running(tokio::task::JoinHandle<BundleReport>),
}

impl Deferred {
    pub(crate) fn start(mut report: BundleReport) -> Deferred {
        let bundle_dir = report.bundle_dir.clone();
        let count = report.deferred.len();
        if count == 0 {
            return Deferred {
                bundle_dir,
                gate: None,
                digests: None,
                count,
                state: DeferredState::Done {
                    _report: Box::new(report),
                },
            };
        }
        let digests =
            crate::hashing::SharedDigests::new(&bundle::verify::deferred_sources(&report));
        let (keeper, gate) = WriteGate::sharing(digests.clone());
        let shared = digests.clone();
        let handle = tokio::task::spawn_blocking(move || {
            bundle::verify::finish_deferred_with(&mut report, None, Some(&shared));
            if report.valid {
                keeper.open();
            } else {
                keeper.close("the bundle did not verify");
            }
            report
        });
        Deferred {
            bundle_dir,
            gate: Some(gate),
            digests: Some(UploadStage(digests)),
            count,
            state: DeferredState::Running(handle),
        }
    }

    pub(crate) fn gate(&self) -> Option<WriteGate> {
        self.gate.clone()
    }

    pub(crate) fn bundle_dir(&self) -> &Path {
        &self.bundle_dir
    }

    /// Wait for the check; a failure is the verify stage's refusal (nothing was committed).
    pub(crate) async fn finish(self, observer: &dyn Observer) -> Result<(), ArchiveError> {
        // The upload stage is over: whatever the uploader did not read, the check hashes now.
        let shared = self.digests.as_ref().map(|stage| stage.0.clone());
        drop(self.digests);
        let report = match self.state {
            DeferredState::Done { .. } => return Ok(()),
            DeferredState::Running(handle) => handle
                .await
                .map_err(|_| ArchiveError::new(Stage::Verify, StageError::VerifierStopped))?,
        };
        if !report.valid {
            return Err(ArchiveError::new(
                Stage::Verify,
                StageError::NotVerified {
                    input: report.input.clone(),
                    findings: report.findings.clone(),
                    nothing_committed: true,
                },
            ));
        }
        stage_event(
            observer,
            Stage::Verify,
            "passed",
            format!(
                "content of {} large file(s) matched the manifest before their upload was committed ({} of them read and hashed once, as sent)",
                self.count,
                shared.map_or(0, |s| s.from_uploader())
            ),
        );
        Ok(())
    }
}
