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
        let boxed = |e: StoreLogError| match e {
            StoreLogError::Audit(inner) => inner,
            other => AuditError::StoredLog(Box::new(other)),
        };
        on_own_runtime(async {
            let store = super::open(&mirror.target).await?;
            let record = super::append::append(store.as_ref(), new, signer, &mirror.write).await?;
            catch_up(store.as_ref(), &self.path, &record).await?;
            Ok::<_, StoreLogError>(record)
        })
        .map_err(boxed)?
        .map_err(boxed)
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

/// Copy into the local file every stored record after its last one, up to and including
/// `written`, checking that each links to the one before (sequence and previous_hash), so the
/// copy stays a prefix of the stored log.
async fn catch_up(
    store: &dyn crate::store::ImmutableStore,
    path: &Path,
    written: &Record,
) -> Result<(), StoreLogError> {
    use std::io::Write;
    let target = store.target();
    let head = {
        let mut file = std::fs::File::open(path).map_err(AuditError::io("opening", path))?;
        crate::audit::append::read_head(&mut file, path)?
    };
    let last = written.sequence().unwrap_or(0);
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
    if previous.as_deref() != written.fields.get("record_hash").and_then(Value::as_str) {
        return Err(StoreLogError::Corrupt {
            log: target.to_string(),
            key: layout::record_key(target, last),
            problem: "the stored record is not the one this append wrote".into(),
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
