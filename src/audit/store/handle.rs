//! [`LogHandle`]: the audit log as the commands that read it *and* add to it see it (`archive`,
//! `hold`). The file-based code (verify, case registry, checkpoints, segments) reads a local
//! JSONL file; where the log lives in a store, that file is a verified copy, every append goes
//! to the store first (claimed create-only, locked, read back — [`super::append`]) and is then
//! copied into the local file together with any records other writers stored in between, so the
//! local copy stays a prefix of the stored log, byte for byte.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::{LogLocation, MAX_RECORD_BYTES, StoreLogError, WriteOptions, layout};
use crate::audit::{AuditError, NewRecord, Record, Signer, VerifyOptions};
use crate::store::Target;

/// The local file the code reads, and where appends go.
#[derive(Debug, Clone)]
pub struct LogHandle {
    path: PathBuf,
    store: Option<Arc<StoreMirror>>,
}

#[derive(Debug)]
struct StoreMirror {
    target: Target,
    write: WriteOptions,
    /// Keeps the directory of the local copy alive as long as the handle.
    _dir: tempfile::TempDir,
}

impl LogHandle {
    /// A local JSONL log, appended under its file lock.
    pub fn file(path: impl Into<PathBuf>) -> LogHandle {
        LogHandle {
            path: path.into(),
            store: None,
        }
    }

    /// Open a `--log`/`--audit-log` value: a local file as it is; a log in a store copied into
    /// a temporary directory after its stored form verified under `verify` (chain and store
    /// findings always; callers that check record signatures on the copy with their own keys
    /// pass `VerifyOptions::default()`). The stored checkpoints are always compared with the
    /// stored records by size (a log cut back behind the tool's back is refused before anything
    /// is appended); with a key in `checkpoints` their signatures and trees are checked too.
    pub async fn open(
        location: &LogLocation,
        verify: &VerifyOptions,
        checkpoints: &super::verify::Checkpoints,
        write: WriteOptions,
    ) -> Result<LogHandle, StoreLogError> {
        match location {
            LogLocation::File(path) => Ok(LogHandle::file(path.clone())),
            LogLocation::Store(target) => {
                let dir = tempfile::tempdir()
                    .map_err(AuditError::io("creating", "a temporary directory"))?;
                // The copy is created before the first record is read: an empty stored log gives
                // an empty file.
                let path = location
                    .materialize(dir.path(), verify, checkpoints)
                    .await?;
                Ok(LogHandle {
                    path,
                    store: Some(Arc::new(StoreMirror {
                        target: target.clone(),
                        write,
                        _dir: dir,
                    })),
                })
            }
        }
    }

    /// [`LogHandle::open`] from synchronous code (its own thread and runtime).
    pub fn open_blocking(
        location: &LogLocation,
        verify: &VerifyOptions,
        checkpoints: &super::verify::Checkpoints,
        write: WriteOptions,
    ) -> Result<LogHandle, StoreLogError> {
        on_own_runtime(LogHandle::open(location, verify, checkpoints, write))?
    }

    /// The local JSONL file to read (the log itself, or the copy of the stored log).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What to call the log in messages and records: the file's path or the store URL.
    pub fn name(&self) -> String {
        match &self.store {
            Some(mirror) => mirror.target.to_string(),
            None => self.path.display().to_string(),
        }
    }

    /// The store the log lives in, if it is not a local file.
    pub fn target(&self) -> Option<&Target> {
        self.store.as_ref().map(|m| &m.target)
    }

    /// Append one record: to the file under its lock, or to the store (success only once it is
    /// stored, locked and read back) and then into the local copy. Synchronous: the store's
    /// calls run on a thread of their own, so this works from async and sync callers alike.
    pub fn append(&self, new: &NewRecord, signer: &Signer) -> Result<Record, AuditError> {
        let Some(mirror) = &self.store else {
            return crate::audit::append(&self.path, new, signer);
        };
        on_own_runtime(async {
            let store = super::open(&mirror.target).await?;
            let record = super::append::append(store.as_ref(), new, signer, &mirror.write).await?;
            let written = record.fields.get("record_hash").and_then(Value::as_str);
            catch_up(
                store.as_ref(),
                &self.path,
                record.sequence().unwrap_or(0),
                written,
            )
            .await?;
            Ok::<_, StoreLogError>(record)
        })
        .map_err(into_audit)?
        .map_err(into_audit)
    }

    /// Bring the local copy up to the store's current head (records appended by other writers
    /// since it was made or last appended to), each checked to link to the one before. A local
    /// file needs nothing: it is the log. Readers that must see every record written so far —
    /// the legal-hold registry checking its flags after applying them — call this first.
    pub fn refresh(&self) -> Result<(), AuditError> {
        let Some(mirror) = &self.store else {
            return Ok(());
        };
        on_own_runtime(async {
            let store = super::open(&mirror.target).await?;
            let head = super::append::find_head(store.as_ref()).await?.head;
            catch_up(
                store.as_ref(),
                &self.path,
                head.sequence,
                head.record_hash.as_deref(),
            )
            .await
        })
        .map_err(into_audit)?
        .map_err(into_audit)
    }
}

/// A stored log's error as the audit error the file-log paths return.
fn into_audit(error: StoreLogError) -> AuditError {
    match error {
        StoreLogError::Audit(inner) => inner,
        other => AuditError::StoredLog(Box::new(other)),
    }
}

/// Run a future to completion on a fresh current-thread runtime on its own thread (never
/// nested inside the caller's runtime).
fn on_own_runtime<F>(future: F) -> Result<F::Output, StoreLogError>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|runtime| runtime.block_on(future))
            })
            .join()
    })
    .map_err(|_| {
        StoreLogError::Audit(AuditError::Invalid {
            what: "audit log".into(),
            problem: "the thread writing to the store stopped unexpectedly".into(),
        })
    })?
    .map_err(|e| StoreLogError::Audit(AuditError::io("starting", "an async runtime")(e)))
}

/// Copy into the local file every stored record after its last one, up to and including record
/// `last`, checking that each links to the one before (sequence and previous_hash) and that
/// record `last` has the `record_hash` `expected` (the one just written, or the head found), so
/// the copy stays a prefix of the stored log.
async fn catch_up(
    store: &dyn crate::store::ImmutableStore,
    path: &Path,
    last: u64,
    expected: Option<&str>,
) -> Result<(), StoreLogError> {
    use std::io::Write;
    let target = store.target();
    let head = {
        let mut file = std::fs::File::open(path).map_err(AuditError::io("opening", path))?;
        crate::audit::append::read_head(&mut file, path)?
    };
    let mut previous = head.record_hash.clone();
    let mut lines = Vec::new();
    for sequence in head.sequence + 1..=last {
        let key = layout::record_key(target, sequence);
        let corrupt = |problem: String| StoreLogError::Corrupt {
            log: target.to_string(),
            key: key.clone(),
            problem,
        };
        let object = store
            .get_bytes(&key, None, MAX_RECORD_BYTES)
            .await
            .map_err(StoreLogError::store(target))?
            .ok_or_else(|| corrupt("missing while copying the log after an append".into()))?;
        let (value, record_hash) =
            super::append::parse_record_object(&object.bytes, sequence).map_err(corrupt)?;
        if value.get("previous_hash").and_then(Value::as_str) != previous.as_deref() {
            return Err(corrupt(format!(
                "does not follow record {} of the verified copy (previous_hash)",
                sequence - 1
            )));
        }
        previous = Some(record_hash);
        lines.push(object.bytes);
    }
    if previous.as_deref() != expected {
        return Err(StoreLogError::Corrupt {
            log: target.to_string(),
            key: layout::record_key(target, last),
            problem: "the stored record is not the one the verified copy leads to (the log was cut back or replaced)".into(),
        });
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(AuditError::io("opening", path))?;
    for line in lines {
        file.write_all(&line)
            .map_err(AuditError::io("writing the log copy", path))?;
    }
    file.sync_data()
        .map_err(AuditError::io("syncing the log copy", path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::audit::append::tests::event as record;

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// A copy brought up to the store's head holds, in order, the records other writers
    /// appended since it was made; a second refresh changes nothing; a copy ahead of the store
    /// (a log cut back, or another log) is refused, not silently kept.
    #[test]
    fn refresh_copies_other_writers_records_and_refuses_a_copy_the_store_does_not_lead_to() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        std::fs::create_dir_all(&vault).unwrap();
        let target = Target::parse(&format!("file://{}/log", vault.display())).unwrap();
        let location = LogLocation::Store(target);
        let open = || {
            LogHandle::open_blocking(
                &location,
                &VerifyOptions::default(),
                &super::super::verify::Checkpoints::default(),
                WriteOptions::default(),
            )
            .unwrap()
        };
        let first = open();
        first.append(&record(1), &Signer::Unsigned).unwrap();
        let second = open();
        second.append(&record(2), &Signer::Unsigned).unwrap();
        second.append(&record(3), &Signer::Unsigned).unwrap();
        assert_eq!(lines(first.path()).len(), 1);

        first.refresh().unwrap();
        assert_eq!(lines(first.path()), lines(second.path()));
        assert_eq!(lines(first.path()).len(), 3);
        first.refresh().unwrap();
        assert_eq!(lines(first.path()).len(), 3);

        // A copy with a record the store does not have.
        let mut extra = lines(second.path());
        let mut fourth: Value = serde_json::from_str(&extra[2]).unwrap();
        fourth["previous_hash"] = fourth["record_hash"].clone();
        fourth["record_hash"] = Value::from("f".repeat(64));
        fourth["sequence"] = Value::from(4);
        extra.push(fourth.to_string());
        std::fs::write(second.path(), extra.join("\n") + "\n").unwrap();
        let error = second.refresh().unwrap_err().to_string();
        assert!(error.contains("cut back or replaced"), "{error}");
    }
}
