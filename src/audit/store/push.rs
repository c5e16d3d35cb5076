//! Moving a local log (archive segments first, then the live log) into a store
//! (docs/audit-store.md §5): record by record under the same create-only, locked keys as
//! appends, strictly in sequence (see [`push`] for why not in parallel). Idempotent and resumable: a record already stored with
//! identical bytes is skipped; one stored with different bytes is a refusal naming it.

use std::io::BufRead;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::append::{put_record, read_back};
use super::{MAX_RECORD_BYTES, StoreLogError, WriteOptions, layout};
use crate::audit::AuditError;
use crate::store::ImmutableStore;

#[derive(Debug, Clone, Serialize)]
pub struct PushSummary {
    pub log: String,
    pub records: u64,
    /// Records written by this run.
    pub stored: u64,
    /// Records that were already stored with identical bytes (an earlier or concurrent run).
    pub already_stored: u64,
}

struct Line {
    sequence: u64,
    bytes: Vec<u8>,
    record_hash: String,
    file: PathBuf,
    line: u64,
}

/// Read the segments' lines (blank lines skipped, as CAVRA does); each must be a record whose
/// sequence follows the previous one, starting at 1.
fn read_lines(files: &[PathBuf]) -> Result<Vec<Line>, StoreLogError> {
    let mut lines = Vec::new();
    let mut expected = 1u64;
    for path in files {
        let file = std::fs::File::open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                AuditError::MissingLog { path: path.clone() }
            } else {
                AuditError::io("opening audit log", path)(e)
            }
        })?;
        let mut reader = std::io::BufReader::new(file);
        let mut number = 0u64;
        loop {
            let mut bytes = Vec::new();
            let read = reader
                .read_until(b'\n', &mut bytes)
                .map_err(AuditError::io("reading audit log", path))?;
            if read == 0 {
                break;
            }
            number += 1;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let bad = |problem: String| AuditError::BadLine {
                path: path.clone(),
                line: number,
                problem,
            };
            if bytes.last() != Some(&b'\n') {
                return Err(
                    bad("torn last line (no newline); run `wormvault audit verify`".into()).into(),
                );
            }
            let text = std::str::from_utf8(&bytes).map_err(|e| bad(format!("not UTF-8 ({e})")))?;
            let value = crate::canonical::parse_strict(text.trim_end_matches('\n'))
                .map_err(|e| bad(format!("not valid JSON ({e})")))?;
            let sequence = value.get("sequence").and_then(Value::as_u64);
            if sequence != Some(expected) {
                return Err(bad(format!(
                    "sequence {sequence:?} where {expected} was expected: push the archive segments first, then the live log, as one chain from record 1"
                ))
                .into());
            }
            let record_hash = value
                .get("record_hash")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("no record_hash".into()))?
                .to_string();
            lines.push(Line {
                sequence: expected,
                bytes,
                record_hash,
                file: path.clone(),
                line: number,
            });
            expected += 1;
        }
    }
    Ok(lines)
}

/// Push `files` (one chain, oldest segment first) into the log in `store`. The caller verifies
/// the files first (refuse before writing).
///
/// Strictly in sequence: record k+1 is written only after record k's create-only write
/// succeeded (or found k already stored with identical bytes). A parallel push could leave a
/// gap at k while k+1 is already stored and locked; a concurrent appender would then claim k
/// with its own record, and the pushed k+1 — naming the pushed k as its predecessor — would
/// fork the chain in storage that cannot be repaired. Only the read-back of record k (bytes
/// and lock) overlaps with the write of k+1, which is safe: k is already ours by then.
pub async fn push(
    store: &dyn ImmutableStore,
    files: &[PathBuf],
    options: &WriteOptions,
) -> Result<PushSummary, StoreLogError> {
    let target = store.target();
    let lines = read_lines(files)?;
    let mut summary = PushSummary {
        log: target.to_string(),
        records: lines.len() as u64,
        stored: 0,
        already_stored: 0,
    };
    let lock = options.lock();
    // The read-back of the record written last, running while the next one is written.
    let mut checking: Option<futures::future::BoxFuture<'_, Result<(), StoreLogError>>> = None;
    for line in &lines {
        let key = layout::record_key(target, line.sequence);
        let write = async {
            // Create first (one request on a fresh push); an existing key is compared.
            match put_record(store, &key, &line.bytes, &line.record_hash, &lock).await {
                Ok(stored) => Ok(Some(stored)),
                Err(error) if error.is_already_exists() => {
                    // Stored before (an earlier run, or another writer): fine only with the
                    // same bytes; anything else stops the push before the next record.
                    let existing = store
                        .get_bytes(&key, None, MAX_RECORD_BYTES)
                        .await
                        .map_err(StoreLogError::store(target))?;
                    match existing {
                        Some(existing) if existing.bytes == line.bytes => Ok(None),
                        _ => Err(StoreLogError::Differs {
                            log: target.to_string(),
                            key: key.clone(),
                            sequence: line.sequence,
                            file: line.file.clone(),
                            line: line.line,
                        }),
                    }
                }
                Err(other) => Err(other),
            }
        };
        let previous = async {
            match checking.take() {
                Some(check) => check.await,
                None => Ok(()),
            }
        };
        let (written, checked) = futures::join!(write, previous);
        checked?;
        match written? {
            Some(stored) => {
                summary.stored += 1;
                let (key, bytes, lock) = (key.clone(), &line.bytes, &lock);
                checking = Some(Box::pin(async move {
                    read_back(store, target, &key, bytes, &stored, lock).await
                }));
            }
            None => summary.already_stored += 1,
        }
    }
    if let Some(check) = checking {
        check.await?;
    }
    Ok(summary)
}
