//! `audit anchor`: store a signed C2SP checkpoint of the stored log at
//! `<prefix>/checkpoints/<size, 20 digits>`, create-only and locked, after the stored log
//! verified. An anchor of a size already stored with the same bytes is success (Ed25519 notes
//! are deterministic, so a rerun produces the same object); different bytes are a refusal.
//!
//! Differs from docs/audit-store.md §2: the rewritable `<prefix>/checkpoint` pointer is not
//! written, because every store here is create-only for wormvault (a locked Azure blob and a
//! `file://` vault object cannot be replaced); readers take the largest `checkpoints/` key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;

use super::append::read_back;
use super::verify::{Checkpoints, StoreVerifyReport};
use super::{MAX_CHECKPOINT_BYTES, StoreLogError, WriteOptions, layout};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::{AuditError, VerifyOptions};
use crate::store::{ImmutableStore, PutBytes, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct AnchorOutcome {
    pub log: String,
    pub key: String,
    pub tree_size: u64,
    pub root: String,
    pub checkpoint: String,
    /// The same checkpoint was already stored (a rerun).
    pub already_stored: bool,
    /// Record bundles (256 records each, `<prefix>/bundles/<first>`) written by this run.
    pub bundles_written: u64,
    /// C2SP tlog-tiles objects (hash tiles and entry bundles under `<prefix>/tile/`) written by
    /// this run; written before the checkpoint, so a stored checkpoint's tiles exist.
    pub tiles_written: u64,
}

pub struct AnchorRequest<'a> {
    pub verify: &'a VerifyOptions,
    pub checkpoints: &'a Checkpoints,
    pub origin: &'a str,
    pub key_name: &'a str,
    pub signing_key: &'a dyn crate::trust::kms::Ed25519Sign,
    pub write: &'a WriteOptions,
}

/// Verify the stored log, then store a signed checkpoint of it.
pub async fn anchor(
    store: &dyn ImmutableStore,
    request: &AnchorRequest<'_>,
) -> Result<(AnchorOutcome, StoreVerifyReport), StoreLogError> {
    let target = store.target();
    let dir = tempfile::tempdir().map_err(AuditError::io("creating", "a temporary directory"))?;
    let copy = dir.path().join("log.jsonl");
    let report =
        super::verify::verify(store, request.verify, request.checkpoints, Some(&copy)).await?;
    if !report.valid() {
        return Err(AuditError::LogInvalid {
            path: target.to_string().into(),
            count: report.problem_count(),
            first: report.first_problem().unwrap_or_default(),
            action: "anchor it",
        }
        .into());
    }
    report.chain.require_signatures_checked()?;
    if report.chain.tree_size == 0 {
        return Err(AuditError::Invalid {
            what: target.to_string(),
            problem: "the log has no records; nothing to anchor".into(),
        }
        .into());
    }
    let root: [u8; 32] = BASE64
        .decode(&report.chain.merkle_root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AuditError::Invalid {
            what: target.to_string(),
            problem: "the verifier returned no Merkle root".into(),
        })?;
    let checkpoint = Checkpoint {
        origin: request.origin.to_string(),
        size: report.chain.tree_size,
        root,
    };
    let note = checkpoint
        .sign(request.key_name, request.signing_key)
        .map_err(AuditError::from)?;
    let bundles_written = write_bundles(store, &copy, checkpoint.size, request.write).await?;
    let tiles_written = write_tiles(store, &copy, checkpoint.size, request.write).await?;
    let key = layout::checkpoint_key(target, checkpoint.size);
    let lock = request.write.lock();
    let put = store
        .put_bytes(&PutBytes {
            key: &key,
            bytes: note.as_bytes(),
            lock: lock.clone(),
            metadata: Default::default(),
            content_type: Some("text/plain; charset=utf-8"),
        })
        .await;
    let already_stored = match put {
        Ok(stored) => {
            read_back(
                store,
                target,
                &key,
                note.as_bytes(),
                stored.version_id.as_deref(),
                &lock,
            )
            .await?;
            false
        }
        Err(StoreError::AlreadyExists { .. }) => {
            let existing = store
                .get_bytes(&key, None, MAX_CHECKPOINT_BYTES)
                .await
                .map_err(StoreLogError::store(target))?;
            if existing.is_none_or(|e| e.bytes != note.as_bytes()) {
                return Err(StoreLogError::Corrupt {
                    log: target.to_string(),
                    key,
                    problem: "a different checkpoint of this size is already stored (another origin or key, or a forked log)".into(),
                });
            }
            true
        }
        Err(other) => return Err(StoreLogError::store(target)(other)),
    };
    Ok((
        AnchorOutcome {
            log: target.to_string(),
            key,
            tree_size: checkpoint.size,
            root: report.chain.merkle_root.clone(),
            checkpoint: note,
            already_stored,
            bundles_written,
            tiles_written,
        },
        report,
    ))
}

/// Store the record bundle of every full group of 256 records up to `size` that is not stored
/// yet (create-only, locked, read back), from the verified copy of the log. A bundle already
/// stored must hold the same bytes.
async fn write_bundles(
    store: &dyn ImmutableStore,
    copy: &std::path::Path,
    size: u64,
    write: &WriteOptions,
) -> Result<u64, StoreLogError> {
    let target = store.target();
    let prefix = layout::bundles_prefix(target);
    let mut existing = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_after(&prefix, after.as_deref(), 1000)
            .await
            .map_err(StoreLogError::store(target))?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        existing.extend(page.into_iter().map(|v| v.key));
    }
    let text = std::fs::read(copy).map_err(AuditError::io("reading", copy))?;
    let lines: Vec<&[u8]> = text
        .split_inclusive(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .collect();
    let mut written = 0;
    let mut first = 1u64;
    while first + layout::BUNDLE_SIZE - 1 <= size.min(lines.len() as u64) {
        let key = layout::bundle_key(target, first);
        if !existing.contains(&key) {
            let start = (first - 1) as usize;
            let bytes: Vec<u8> = lines[start..start + layout::BUNDLE_SIZE as usize].concat();
            let lock = write.lock();
            match store
                .put_bytes(&PutBytes {
                    key: &key,
                    bytes: &bytes,
                    lock: lock.clone(),
                    metadata: Default::default(),
                    content_type: Some("application/x-ndjson"),
                })
                .await
            {
                Ok(stored) => {
                    read_back(
                        store,
                        target,
                        &key,
                        &bytes,
                        stored.version_id.as_deref(),
                        &lock,
                    )
                    .await?;
                    written += 1;
                }
                Err(StoreError::AlreadyExists { .. }) => {
                    let found = store
                        .get_bytes(&key, None, super::MAX_BUNDLE_BYTES)
                        .await
                        .map_err(StoreLogError::store(target))?;
                    if found.is_none_or(|f| f.bytes != bytes) {
                        return Err(StoreLogError::Corrupt {
                            log: target.to_string(),
                            key,
                            problem: "a record bundle with other bytes than the verified records is already stored".into(),
                        });
                    }
                }
                Err(other) => return Err(StoreLogError::store(target)(other)),
            }
        }
        first += layout::BUNDLE_SIZE;
    }
    Ok(written)
}

/// The raw 32-byte `record_hash` of the first `size` records of the verified copy (the entries
/// of the tlog-tiles tree, docs/audit-store.md §2).
fn record_hashes(copy: &std::path::Path, size: u64) -> Result<Vec<[u8; 32]>, StoreLogError> {
    let text = std::fs::read(copy).map_err(AuditError::io("reading", copy))?;
    let mut hashes = Vec::with_capacity(size as usize);
    for (index, line) in text
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .take(size as usize)
        .enumerate()
    {
        let bad = || AuditError::BadLine {
            path: copy.to_path_buf(),
            line: index as u64 + 1,
            problem: "no 64-hex-digit record_hash".into(),
        };
        let value: serde_json::Value = serde_json::from_slice(line).map_err(|_| bad())?;
        let hash = value
            .get("record_hash")
            .and_then(serde_json::Value::as_str)
            .and_then(|h| hex::decode(h).ok())
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or_else(bad)?;
        hashes.push(hash);
    }
    Ok(hashes)
}

/// Write the C2SP tlog-tiles objects of a tree of `size` (hash tiles and entry bundles, partial
/// ones included) that are not stored yet, create-only and locked like the records. One already
/// stored with the same bytes is fine (a rerun, or another anchor of a size sharing full
/// tiles); different bytes are a refusal naming the tile.
async fn write_tiles(
    store: &dyn ImmutableStore,
    copy: &std::path::Path,
    size: u64,
    write: &WriteOptions,
) -> Result<u64, StoreLogError> {
    let target = store.target();
    let hashes = record_hashes(copy, size)?;
    let mut existing = std::collections::BTreeSet::new();
    let prefix = format!("{}/", target.key("tile"));
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_after(&prefix, after.as_deref(), 1000)
            .await
            .map_err(StoreLogError::store(target))?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        existing.extend(page.into_iter().map(|v| v.key));
    }
    let mut written = 0;
    for (path, bytes) in crate::audit::tiles::tiles_for(&hashes, 0) {
        let key = target.key(&path);
        if existing.contains(&key) {
            let found = store
                .get_bytes(&key, None, bytes.len() as u64)
                .await
                .map_err(StoreLogError::store(target))?;
            if found.is_none_or(|f| f.bytes != bytes) {
                return Err(StoreLogError::Corrupt {
                    log: target.to_string(),
                    key,
                    problem: "a tile of this tree is already stored with other bytes (rewritten, or a forked log)".into(),
                });
            }
            continue;
        }
        let lock = write.lock();
        let put = store
            .put_bytes(&PutBytes {
                key: &key,
                bytes: &bytes,
                lock: lock.clone(),
                metadata: Default::default(),
                content_type: Some("application/octet-stream"),
            })
            .await;
        let stored = match put {
            Ok(stored) => stored,
            // Another anchor stored it since the listing: the same bytes are fine.
            Err(StoreError::AlreadyExists { .. }) => {
                let found = store
                    .get_bytes(&key, None, bytes.len() as u64)
                    .await
                    .map_err(StoreLogError::store(target))?;
                if found.is_none_or(|f| f.bytes != bytes) {
                    return Err(StoreLogError::Corrupt {
                        log: target.to_string(),
                        key,
                        problem: "a tile of this tree is already stored with other bytes (rewritten, or a forked log)".into(),
                    });
                }
                continue;
            }
            Err(other) => return Err(StoreLogError::store(target)(other)),
        };
        read_back(
            store,
            target,
            &key,
            &bytes,
            stored.version_id.as_deref(),
            &lock,
        )
        .await?;
        written += 1;
    }
    Ok(written)
}
