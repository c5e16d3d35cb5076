//! Checking a store against receipts (`check-remote`): what is stored now versus what was
//! receipted — missing, extra, changed, retention shortened, hold state, extra versions — with
//! an optional full re-download and re-hash.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::receipt::{Receipt, ReceiptSet};
use crate::store::compare::{self, Field};
use crate::store::{ImmutableStore, StoreError, StoredObject};

/// Keys under the session prefix that wormvault itself writes beside the evidence.
pub const SIDECAR_DIR: &str = "_wormvault";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Missing,
    Extra,
    Changed,
    RetentionShortened,
    ModeChanged,
    HoldChanged,
    ExtraVersion,
    RehashMismatch,
    /// A local-vault object whose file is writable again (its read-only SnapLock commit was
    /// undone, e.g. `chmod 644`): the content still matches, but it is no longer locked.
    Writable,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub key: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemoteReport {
    pub target: String,
    pub session_prefix: String,
    pub objects_checked: usize,
    pub rehashed: usize,
    /// Objects whose digest was compared only as their writer recorded it (Azure metadata, S3
    /// metadata beside a composite checksum), not re-hashed: the store computes no digest of
    /// their bytes, so for them the check covers the lock and the recorded digest, not the bytes.
    pub digests_recorded_only: usize,
    pub ok: bool,
    pub findings: Vec<Finding>,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create a scratch directory for re-hashing: {0}")]
    Scratch(std::io::Error),
}

/// The rule for a receipt checked against the store later: a lock may have been extended, never
/// shortened or weakened; the legal hold is compared exactly (a change is reported, as
/// information); the lock is read whatever the enforcement, since the receipt states what was
/// stored then.
const RECEIPTED: compare::Rules = compare::Rules {
    retain_until: compare::RetainRule::AtLeast,
    legal_hold: compare::HoldRule::Exactly,
    lock: compare::LockRule::Always,
    hex: compare::HexCase::Exact,
    require_confirmed: false,
};

/// Findings for one receipted object whose current version the store reported. Fields the
/// receipt does not state (no version id, mode or retain-until; an etag either side lacks) are not
/// compared; a digest or hold state the receipt lacks while the store reports one is a change.
fn compare_with_receipt(receipt: &Receipt, current: &StoredObject) -> Vec<Finding> {
    let expected = compare::Expected {
        sha256: receipt.sha256.as_deref(),
        bytes: Some(receipt.bytes),
        version_id: receipt.version_id.as_deref(),
        etag: receipt.etag.as_deref().filter(|_| current.etag.is_some()),
        lock: Some(compare::ExpectedLock {
            mode: receipt.retention_mode,
            retain_until: receipt.retain_until,
            legal_hold: receipt.legal_hold,
        }),
        ..compare::Expected::default()
    };
    let mut differences = compare::differences(&receipt.key, &expected, current, RECEIPTED);
    let unstated = |field, found: Option<String>| compare::Mismatch {
        key: receipt.key.clone(),
        field,
        expected: "nothing".into(),
        found: found.unwrap_or_default(),
    };
    if receipt.sha256.is_none() && current.sha256.is_some() {
        differences.push(unstated(Field::Sha256, current.sha256.clone()));
    }
    if receipt.legal_hold.is_none() && current.legal_hold.is_some() {
        differences.push(unstated(
            Field::LegalHold,
            current.legal_hold.map(|h| h.to_string()),
        ));
    }
    let key = || receipt.key.clone();
    let mut findings = Vec::new();
    let changed: Vec<String> = differences
        .iter()
        .filter(|m| {
            matches!(
                m.field,
                Field::Sha256 | Field::Bytes | Field::VersionId | Field::Etag
            )
        })
        .map(|m| {
            let name = if m.field == Field::VersionId {
                "version".to_string()
            } else {
                m.field.to_string()
            };
            format!("{name} receipt {} store {}", m.expected, m.found)
        })
        .collect();
    if !changed.is_empty() {
        findings.push(Finding {
            kind: FindingKind::Changed,
            key: key(),
            detail: changed.join("; "),
        });
    }
    // In the order findings have always come: retention, mode, hold.
    let lock = [Field::RetainUntil, Field::RetentionMode, Field::LegalHold]
        .into_iter()
        .flat_map(|field| differences.iter().filter(move |m| m.field == field));
    for m in lock {
        let (kind, detail) = match m.field {
            Field::RetainUntil => (
                FindingKind::RetentionShortened,
                format!("receipt retain-until {}, store {}", m.expected, m.found),
            ),
            Field::RetentionMode => (
                FindingKind::ModeChanged,
                format!("receipt {}, store {}", m.expected, m.found),
            ),
            Field::LegalHold => (
                FindingKind::HoldChanged,
                format!(
                    "receipt legal hold {}, store {} (a records manager may have changed it: `wormvault hold status` names the cases holding it)",
                    m.expected, m.found
                ),
            ),
            _ => continue,
        };
        findings.push(Finding {
            kind,
            key: key(),
            detail,
        });
    }
    findings
}

/// The first 16 hex digits of a SHA-256: how a sidecar's name carries its digest.
fn short(sha256: &str) -> &str {
    &sha256[..16.min(sha256.len())]
}

/// The archive's own sidecars under `<session>/_wormvault/` (pipeline::record writes each once,
/// create-only, locked): a second version or a delete marker on any of them is a finding, as is
/// a name wormvault never writes there, and the content of every sidecar whose name states it
/// (the receipts' and plan's digests, the trust roots' and checkpoint key's SHA-256, the session
/// record's receipts, a segment's and checkpoint's record count) is read and checked against
/// the name. Not checked here: a checkpoint's signature and root (`handoff --from` and `audit
/// verify` check those), and whether the receipts given are the ones stored beside the evidence
/// (receipts copied without their signature still state what is stored).
async fn check_sidecars(
    store: &dyn ImmutableStore,
    session_prefix: &str,
    versions: &BTreeMap<&str, Vec<&StoredObject>>,
    sidecar: &str,
) -> Result<Vec<Finding>, RemoteError> {
    let mut findings = Vec::new();
    for (key, found) in versions.range(sidecar..) {
        let Some(name) = key.strip_prefix(sidecar) else {
            break;
        };
        if found.len() > 1 {
            findings.push(Finding {
                kind: FindingKind::ExtraVersion,
                key: key.to_string(),
                detail: format!(
                    "{} versions stored; wormvault writes each of its sidecars once",
                    found.len()
                ),
            });
        }
        let Some(current) = store.head(key).await? else {
            findings.push(Finding {
                kind: FindingKind::Missing,
                key: key.to_string(),
                detail: "the archive's sidecar has no current version (a delete marker hides it; its locked versions remain)".into(),
            });
            continue;
        };
        let Some(rule) = SidecarName::parse(name) else {
            findings.push(Finding {
                kind: FindingKind::Extra,
                key: key.to_string(),
                detail:
                    "stored among the archive's sidecars, but not a name wormvault writes there"
                        .into(),
            });
            continue;
        };
        let cap = crate::limits::MAX_PLAN_BYTES.max(crate::limits::MAX_RECEIPTS_BYTES);
        if current.size > cap {
            findings.push(Finding {
                kind: FindingKind::Changed,
                key: key.to_string(),
                detail: format!(
                    "{} bytes, larger than any sidecar wormvault writes ({cap} bytes at most); not read",
                    current.size
                ),
            });
            continue;
        }
        let Some(fetched) = store.get_bytes(key, None, cap).await? else {
            findings.push(Finding {
                kind: FindingKind::Missing,
                key: key.to_string(),
                detail: "the archive's sidecar has no current version (a delete marker hides it; its locked versions remain)".into(),
            });
            continue;
        };
        if let Err(detail) = rule.check(&fetched.bytes, session_prefix, sidecar) {
            findings.push(Finding {
                kind: FindingKind::Changed,
                key: key.to_string(),
                detail,
            });
        }
    }
    Ok(findings)
}

/// What a sidecar's name says about its content (the names pipeline::record gives them).
#[derive(Debug, PartialEq, Eq)]
enum SidecarName<'a> {
    /// `receipts-<sha16>.json`: a receipt set whose digest starts so.
    Receipts(&'a str),
    /// `plan-<sha16>.json`: a storage plan whose digest starts so.
    Plan(&'a str),
    /// `trust-roots-<sha16>.json`, `checkpoint-key-<fp16>.pem`: bytes whose SHA-256 starts so.
    Bytes(&'a str),
    /// `session-<sha16>.json`: the session record of the receipts `receipts-<sha16>.json`.
    Session(&'a str),
    /// `audit-segment-<N>.jsonl`: N records, one a line.
    Segment(u64),
    /// `audit-checkpoint-<N>.txt`: a checkpoint of N records.
    Checkpoint(u64),
}

impl<'a> SidecarName<'a> {
    fn parse(name: &'a str) -> Option<SidecarName<'a>> {
        let hex16 = |h: &'a str| {
            (h.len() == 16 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
                .then_some(h)
        };
        let count = |n: &str| {
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0'))
                .then(|| n.parse().ok())
                .flatten()
        };
        let between = |prefix: &str, suffix: &str| {
            name.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(suffix))
        };
        if let Some(h) = between("receipts-", ".json") {
            return hex16(h).map(SidecarName::Receipts);
        }
        if let Some(h) = between("plan-", ".json") {
            return hex16(h).map(SidecarName::Plan);
        }
        if let Some(h) = between("trust-roots-", ".json") {
            return hex16(h).map(SidecarName::Bytes);
        }
        if let Some(h) = between("checkpoint-key-", ".pem") {
            return hex16(h).map(SidecarName::Bytes);
        }
        if let Some(h) = between("session-", ".json") {
            return hex16(h).map(SidecarName::Session);
        }
        if let Some(n) = between("audit-segment-", ".jsonl") {
            return count(n).map(SidecarName::Segment);
        }
        if let Some(n) = between("audit-checkpoint-", ".txt") {
            return count(n).map(SidecarName::Checkpoint);
        }
        None
    }

    /// `Err(detail)` when `bytes` are not what the name says.
    fn check(&self, bytes: &[u8], session_prefix: &str, sidecar: &str) -> Result<(), String> {
        let text =
            || std::str::from_utf8(bytes).map_err(|_| "its content is not UTF-8 text".to_string());
        fn typed<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, String> {
            crate::canonical::parse_strict(text)
                .map_err(|e| format!("its content is not JSON: {e}"))?;
            serde_json::from_str(text).map_err(|e| format!("its content is not {what}: {e}"))
        }
        match self {
            SidecarName::Receipts(h) => {
                let set: ReceiptSet = typed(text()?, "a receipt set")?;
                let digest = set.digest();
                if short(&digest) != *h {
                    return Err(format!(
                        "the name says receipts of digest {h}…, the stored receipts' digest is {digest}"
                    ));
                }
                if set.session_prefix != session_prefix {
                    return Err(format!(
                        "the stored receipts are of session prefix {:?}, not {session_prefix:?}",
                        set.session_prefix
                    ));
                }
            }
            SidecarName::Plan(h) => {
                let plan: crate::pipeline::plan::StoragePlan = typed(text()?, "a storage plan")?;
                let digest = plan.digest();
                if short(&digest) != *h {
                    return Err(format!(
                        "the name says a plan of digest {h}…, the stored plan's digest is {digest}"
                    ));
                }
            }
            SidecarName::Bytes(h) => {
                let digest = crate::hashing::sha256_hex(bytes);
                if short(&digest) != *h {
                    return Err(format!(
                        "the name says content of SHA-256 {h}…, the stored content hashes to {digest}"
                    ));
                }
            }
            SidecarName::Session(h) => {
                let session: crate::pipeline::record::StoredSession =
                    typed(text()?, "a session record")?;
                let receipts = format!("{sidecar}receipts-{h}.json");
                if session.receipts != receipts || session.session_prefix != session_prefix {
                    return Err(format!(
                        "the session record names receipts {:?} under {:?}; its name says {receipts:?} under {session_prefix:?}",
                        session.receipts, session.session_prefix
                    ));
                }
            }
            SidecarName::Segment(n) => {
                let text = text()?;
                let records = text.split_inclusive('\n').count() as u64;
                if records != *n || !text.ends_with('\n') {
                    return Err(format!(
                        "the name says {n} records, one a line; the stored segment has {records} line(s){}",
                        if text.ends_with('\n') {
                            ""
                        } else {
                            ", the last unterminated"
                        }
                    ));
                }
            }
            SidecarName::Checkpoint(n) => {
                let text = text()?;
                let size = text
                    .split_once("\n\n")
                    .ok_or_else(|| "its content is not a signed checkpoint".to_string())
                    .and_then(|(body, _)| {
                        crate::audit::Checkpoint::parse_body(&format!("{body}\n"))
                            .map_err(|e| format!("its content is not a checkpoint: {e}"))
                    })?
                    .size;
                if size != *n {
                    return Err(format!(
                        "the name says a checkpoint of {n} records; the stored checkpoint is of {size}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Compare the store with a receipt set. `rehash` downloads every object and hashes it.
pub async fn check(
    store: &dyn ImmutableStore,
    receipts: &ReceiptSet,
    rehash: bool,
) -> Result<RemoteReport, RemoteError> {
    check_with_progress(store, receipts, rehash, None).await
}

/// [`check`], reporting each re-hashed object's receipted size to `progress` once it is
/// downloaded and hashed (a progress bar's total is the receipts' bytes).
pub async fn check_with_progress(
    store: &dyn ImmutableStore,
    receipts: &ReceiptSet,
    rehash: bool,
    progress: Option<&crate::hashing::ProgressHook>,
) -> Result<RemoteReport, RemoteError> {
    let mut findings = Vec::new();
    let listing = store.list(&format!("{}/", receipts.session_prefix)).await?;
    let mut versions: BTreeMap<&str, Vec<&StoredObject>> = BTreeMap::new();
    for object in &listing {
        versions
            .entry(object.key.as_str())
            .or_default()
            .push(object);
    }
    let sidecar = format!("{}/{SIDECAR_DIR}/", receipts.session_prefix);
    findings.extend(check_sidecars(store, &receipts.session_prefix, &versions, &sidecar).await?);
    for key in versions.keys() {
        if !key.starts_with(&sidecar) && !receipts.receipts.iter().any(|r| r.key == *key) {
            findings.push(Finding {
                kind: FindingKind::Extra,
                key: key.to_string(),
                detail: "stored but not in the receipts".into(),
            });
        }
    }
    let scratch = if rehash {
        Some(tempfile::tempdir().map_err(RemoteError::Scratch)?)
    } else {
        None
    };
    let mut rehashed = 0;
    let mut digests_recorded_only = 0;
    for receipt in &receipts.receipts {
        let key = receipt.key.as_str();
        let Some(found) = versions.get(key) else {
            findings.push(Finding {
                kind: FindingKind::Missing,
                key: key.into(),
                detail: "receipted but not stored".into(),
            });
            continue;
        };
        if found.len() > 1 {
            findings.push(Finding {
                kind: FindingKind::ExtraVersion,
                key: key.into(),
                detail: format!(
                    "{} versions stored; the receipt names one ({})",
                    found.len(),
                    receipt.version_id.as_deref().unwrap_or("no version id")
                ),
            });
        }
        let Some(current) = store.head(key).await? else {
            findings.push(Finding {
                kind: FindingKind::Missing,
                key: key.into(),
                detail: "listed but HEAD finds no current version".into(),
            });
            continue;
        };
        findings.extend(compare_with_receipt(receipt, &current));
        if scratch.is_none() && current.sha256_source == crate::store::DigestSource::Claimed {
            digests_recorded_only += 1;
        }
        if let Some(dir) = &scratch {
            let dest = dir.path().join(format!("object-{rehashed}"));
            let sha = store
                .download(key, receipt.version_id.as_deref(), Path::new(&dest))
                .await?;
            rehashed += 1;
            if let Some(progress) = progress {
                (progress.0)(receipt.bytes);
            }
            if Some(&sha) != receipt.sha256.as_ref() {
                findings.push(Finding {
                    kind: FindingKind::RehashMismatch,
                    key: key.into(),
                    detail: format!(
                        "downloaded content hashes to {sha}, receipt says {}",
                        receipt.sha256.as_deref().unwrap_or("no sha256")
                    ),
                });
            }
            let _ = std::fs::remove_file(&dest);
        }
    }
    // A local vault's lock is the file's read-only mode (SnapLock convention): read it back
    // from the filesystem for every stored object, evidence and sidecars alike.
    if let crate::store::Target::Local { .. } = store.target() {
        let vault = crate::store::local::LocalVault::open(store.target().clone())?;
        for key in versions.keys() {
            if let Some(state) = vault.lock_state(key)?
                && state.writable
            {
                findings.push(Finding {
                    kind: FindingKind::Writable,
                    key: key.to_string(),
                    detail: format!(
                        "the file {} is writable (mode {:o}); a vault object must be read-only — its WORM commit was undone, so it can be changed in place",
                        vault.root().join(key).display(),
                        state.mode
                    ),
                });
            }
        }
    }
    // A hold change alone is information, not tampering.
    let ok = findings.iter().all(|f| f.kind == FindingKind::HoldChanged);
    Ok(RemoteReport {
        target: receipts.target.clone(),
        session_prefix: receipts.session_prefix.clone(),
        objects_checked: receipts.receipts.len(),
        rehashed,
        digests_recorded_only,
        ok,
        findings,
    })
}
