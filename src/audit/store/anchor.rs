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
        .decode(report.chain.merkle_root.as_deref().unwrap_or_default())
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
    let text = std::fs::read(&copy).map_err(AuditError::io("reading", &copy))?;
    let lines: Vec<&[u8]> = text
        .split_inclusive(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .collect();
    let bundles_written = write_bundles(store, &lines, checkpoint.size, request.write).await?;
    let tiles_written = write_tiles(store, &lines, &copy, checkpoint.size, request.write).await?;
    let key = layout::checkpoint_key(target, checkpoint.size);
    let already_stored = !put_derived(
        store,
        &key,
        note.as_bytes(),
        "text/plain; charset=utf-8",
        request.write,
        MAX_CHECKPOINT_BYTES,
        "a different checkpoint of this size is already stored (another origin or key, or a forked log)",
    )
    .await?;
    Ok((
        AnchorOutcome {
            log: target.to_string(),
            key,
            tree_size: checkpoint.size,
            root: BASE64.encode(root),
            checkpoint: note,
            already_stored,
            bundles_written,
            tiles_written,
        },
        report,
    ))
}

/// Create-only, locked write of one derived object (record bundle, tile, checkpoint), read back
/// (bytes and lock). An object already stored under the key — a rerun, or another anchor — must
/// hold the same bytes, else the refusal says `different`. Returns whether this call wrote it.
async fn put_derived(
    store: &dyn ImmutableStore,
    key: &str,
    bytes: &[u8],
    content_type: &str,
    write: &WriteOptions,
    max_len: u64,
    different: &str,
) -> Result<bool, StoreLogError> {
    let target = store.target();
    let lock = write.lock();
    let put = store
        .put_bytes(&PutBytes {
            key,
            bytes,
            lock: lock.clone(),
            metadata: Default::default(),
            content_type: Some(content_type),
        })
        .await;
    match put {
        Ok(stored) => {
            read_back(store, target, key, bytes, &stored, &lock).await?;
            Ok(true)
        }
        Err(StoreError::AlreadyExists { .. }) => {
            same_bytes(store, key, bytes, max_len, different).await?;
            Ok(false)
        }
        Err(other) => Err(StoreLogError::store(target)(other)),
    }
}

/// The object stored under `key` holds exactly `bytes`, else a refusal saying `different`.
async fn same_bytes(
    store: &dyn ImmutableStore,
    key: &str,
    bytes: &[u8],
    max_len: u64,
    different: &str,
) -> Result<(), StoreLogError> {
    let target = store.target();
    let found = store
        .get_bytes(key, None, max_len)
        .await
        .map_err(StoreLogError::store(target))?;
    if found.is_none_or(|f| f.bytes != bytes) {
        return Err(StoreLogError::Corrupt {
            log: target.to_string(),
            key: key.to_string(),
            problem: different.to_string(),
        });
    }
    Ok(())
}

/// Store the record bundle of every full group of 256 records up to `size` that is not stored
/// yet, from the lines of the verified copy of the log. A bundle that turns out to be stored
/// already (another anchor, since the listing) must hold the same bytes.
async fn write_bundles(
    store: &dyn ImmutableStore,
    lines: &[&[u8]],
    size: u64,
    write: &WriteOptions,
) -> Result<u64, StoreLogError> {
    let target = store.target();
    let existing: std::collections::BTreeSet<String> =
        super::read::list_all(store, &layout::bundles_prefix(target))
            .await?
            .into_iter()
            .map(|v| v.key)
            .collect();
    let mut written = 0;
    let mut first = 1u64;
    while first + layout::BUNDLE_SIZE - 1 <= size.min(lines.len() as u64) {
        let key = layout::bundle_key(target, first);
        if !existing.contains(&key) {
            let start = (first - 1) as usize;
            let bytes: Vec<u8> = lines[start..start + layout::BUNDLE_SIZE as usize].concat();
            if put_derived(
                store,
                &key,
                &bytes,
                "application/x-ndjson",
                write,
                super::MAX_BUNDLE_BYTES,
                "a record bundle with other bytes than the verified records is already stored",
            )
            .await?
            {
                written += 1;
            }
        }
        first += layout::BUNDLE_SIZE;
    }
    Ok(written)
}

/// The raw 32-byte `record_hash` of the first `size` lines of the verified copy `copy` (the
/// entries of the tlog-tiles tree, docs/audit-store.md §2).
fn record_hashes(
    lines: &[&[u8]],
    copy: &std::path::Path,
    size: u64,
) -> Result<Vec<[u8; 32]>, StoreLogError> {
    let mut hashes = Vec::with_capacity(size as usize);
    for (index, line) in lines.iter().take(size as usize).enumerate() {
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
    lines: &[&[u8]],
    copy: &std::path::Path,
    size: u64,
    write: &WriteOptions,
) -> Result<u64, StoreLogError> {
    const DIFFERENT: &str =
        "a tile of this tree is already stored with other bytes (rewritten, or a forked log)";
    let target = store.target();
    let hashes = record_hashes(lines, copy, size)?;
    let existing: std::collections::BTreeSet<String> =
        super::read::list_all(store, &format!("{}/", target.key("tile")))
            .await?
            .into_iter()
            .map(|v| v.key)
            .collect();
    let mut written = 0;
    for (path, bytes) in crate::audit::tiles::tiles_for(&hashes, 0) {
        let key = target.key(&path);
        let max_len = bytes.len() as u64;
        if existing.contains(&key) {
            same_bytes(store, &key, &bytes, max_len, DIFFERENT).await?;
        } else if put_derived(
            store,
            &key,
            &bytes,
            "application/octet-stream",
            write,
            max_len,
            DIFFERENT,
        )
        .await?
        {
            written += 1;
        }
    }
    Ok(written)
}
