//! The local WORM vault (`file:///path`): the built-in default for the quickstart and for
//! on-premises WORM filesystems.
//!
//! It follows the NetApp SnapLock convention for committing a file to WORM: the file's
//! last-access time is set to the retain-until date and its write permissions are removed. On a
//! SnapLock volume the filesystem then enforces retention; on a plain filesystem only wormvault
//! does (it refuses to overwrite or delete before retain-until), which receipts state as
//! `enforcement: tool`. A record beside each object (`.wormvault/objects/<key>.json`) keeps the
//! SHA-256, lock mode, retain-until, legal hold and tags, since a plain filesystem has no place
//! for them.
//!
//! Writes are create-only: the object is written to a temporary file, synced, and then
//! hard-linked into place, which fails atomically if the name exists.

use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    CheckStatus, DigestSource, Enforcement, ImmutableStore, Key, PreflightCheck, PreflightOptions,
    PreflightReport, Progress, PutObject, RetentionMode, StoreError, StoredObject, Target,
};

const RECORD_DIR: &str = ".wormvault/objects";
/// Written by the vault when it stores its first object: marks a directory as a vault root
/// (a bare `.wormvault` directory may be a state directory, which is not a vault).
pub const VAULT_MARKER: &str = ".wormvault/vault.json";

/// Is `dir` a vault root: it has [`VAULT_MARKER`], or (vaults written before the marker) a
/// record directory.
fn is_vault(dir: &Path) -> bool {
    dir.join(VAULT_MARKER).is_file() || dir.join(RECORD_DIR).is_dir()
}

/// What the vault records beside each object.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ObjectRecord {
    key: String,
    sha256: String,
    size: u64,
    retention_mode: RetentionMode,
    retain_until: DateTime<Utc>,
    legal_hold: bool,
    tags: BTreeMap<String, String>,
    metadata: BTreeMap<String, String>,
    created_at: DateTime<Utc>,
}

pub struct LocalVault {
    target: Target,
    root: PathBuf,
}

/// The SnapLock commit state of one vault object as the filesystem shows it now (what `head`
/// cannot carry in a [`StoredObject`]): `check-remote` reports a writable object, and `status`
/// can call [`LocalVault::lock_state`] for the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalLockState {
    pub key: String,
    /// Permission bits of the object file.
    pub mode: u32,
    /// True when any write bit is set: the read-only commit was undone (e.g. `chmod 644`), so
    /// anyone with filesystem access can change the object without wormvault noticing at once.
    pub writable: bool,
}

impl LocalVault {
    /// Open the vault a `file://` target names. The vault root is exactly the path in the
    /// target URL (issue #15 item 12): no directory above it is consulted, so a `.wormvault`
    /// state directory in a parent (the default `--state-dir`) can never move where objects
    /// are written. One case reads a parent: a path *inside* an existing vault (one with
    /// [`VAULT_MARKER`], which only the vault writes) names a prefix of that vault, as
    /// `s3://bucket/prefix` does — for `hold` and listings; writing through such a target is
    /// refused (preflight fails and `put` refuses), because the object keys of a plan are
    /// relative to the path the user named.
    pub fn open(target: Target) -> Result<LocalVault, StoreError> {
        let Target::Local { root, prefix } = &target else {
            return Err(StoreError::Config(format!(
                "{target} is not a file:// target"
            )));
        };
        if !prefix.is_empty() || is_vault(root) {
            let root = root.clone();
            return Ok(LocalVault { target, root });
        }
        let enclosing = root
            .ancestors()
            .skip(1)
            .find(|dir| is_vault(dir))
            .map(Path::to_path_buf);
        let (root, prefix) = match enclosing {
            Some(found) => {
                let prefix = root
                    .strip_prefix(&found)
                    .unwrap_or(Path::new(""))
                    .to_string_lossy()
                    .trim_matches('/')
                    .to_string();
                (found, prefix)
            }
            None => (root.clone(), String::new()),
        };
        let target = Target::Local {
            root: root.clone(),
            prefix,
        };
        Ok(LocalVault { target, root })
    }

    /// The vault's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// When this target names a prefix inside an enclosing vault rather than a vault root,
    /// the refusal to write through it.
    fn nested_refusal(&self) -> Option<String> {
        let prefix = self.target.prefix();
        (!prefix.is_empty()).then(|| {
            format!(
                "{}/{prefix} is inside the local vault file://{}; writes go only to a vault root named exactly — use file://{} as the target (objects go under <root>/<session>/<digest>/)",
                self.root.display(),
                self.root.display(),
                self.root.display()
            )
        })
    }

    /// The SnapLock commit state of `key` read from the filesystem now: `None` when the
    /// object does not exist. (`status` can use this; `check-remote` does.)
    pub fn lock_state(&self, key: &str) -> Result<Option<LocalLockState>, StoreError> {
        let key = self.checked_key(key)?;
        let path = self.object_path(key);
        match fs::symlink_metadata(&path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o7777;
                Ok(Some(LocalLockState {
                    key: key.to_string(),
                    mode,
                    writable: mode & 0o222 != 0 || !meta.file_type().is_file(),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    fn name(&self) -> String {
        self.target.to_string()
    }

    fn io(&self, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Keys follow the one key rule ([`Key::parse`]: no escaping the vault) and, stricter here,
    /// have no `.wormvault` segment: that name holds the vault's own bookkeeping.
    fn checked_key<'k>(&self, key: &'k str) -> Result<&'k str, StoreError> {
        let ok = Key::parse(key).is_ok_and(|key| key.segments().all(|p| p != ".wormvault"));
        if ok {
            Ok(key)
        } else {
            Err(StoreError::Config(format!(
                "object key {key:?} is not a safe relative path in the vault"
            )))
        }
    }

    fn object_path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn record_path(&self, key: &str) -> PathBuf {
        self.root.join(RECORD_DIR).join(format!("{key}.json"))
    }

    fn read_record(&self, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        let path = self.record_path(key);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| StoreError::Cloud {
                    target: self.name(),
                    operation: "read vault record".into(),
                    key: Some(key.to_string()),
                    message: format!("{} is corrupt: {e}", path.display()),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    /// Replace a record atomically (temp file + fsync + rename + directory fsync).
    fn write_record(&self, record: &ObjectRecord) -> Result<(), StoreError> {
        let path = self.record_path(&record.key);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        let mut temp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| self.io(&dir, e))?;
        let text =
            serde_json::to_string_pretty(record).map_err(|e| StoreError::Config(e.to_string()))?;
        temp.write_all(text.as_bytes())
            .map_err(|e| self.io(&path, e))?;
        temp.as_file().sync_all().map_err(|e| self.io(&path, e))?;
        temp.persist(&path).map_err(|e| self.io(&path, e.error))?;
        sync_dir(&dir).map_err(|e| self.io(&dir, e))
    }

    /// Mark the root as a vault (once; create-only, so a concurrent writer's marker stands).
    fn write_marker(&self) -> Result<(), StoreError> {
        let path = self.root.join(VAULT_MARKER);
        if path.is_file() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        let text = "{\"format\": \"wormvault.local-vault.v1\"}\n";
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => file
                .write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| self.io(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    fn stored(
        &self,
        record: &ObjectRecord,
        size: u64,
        sha256: String,
        sha256_source: DigestSource,
    ) -> StoredObject {
        StoredObject {
            key: record.key.clone(),
            version_id: None,
            etag: None,
            size,
            sha256: Some(sha256),
            sha256_source,
            md5: None,
            retention_mode: Some(record.retention_mode),
            retain_until: Some(record.retain_until),
            legal_hold: Some(record.legal_hold),
            tags: record.tags.clone(),
            last_modified: Some(record.created_at),
            request_id: None,
            enforcement: Enforcement::Tool,
            is_latest: true,
        }
    }

    fn head_blocking(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let key = self.checked_key(key)?;
        let path = self.object_path(key);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&path, e)),
        };
        let Some(record) = self.read_record(key)? else {
            return Err(StoreError::Cloud {
                target: self.name(),
                operation: "head".into(),
                key: Some(key.to_string()),
                message: format!(
                    "{} has no vault record; it was not written by wormvault",
                    path.display()
                ),
            });
        };
        // Read back what is really on disk, not what the record claims.
        let digest =
            crate::hashing::sha256_reader(&mut file, &|_| {}).map_err(|e| self.io(&path, e))?;
        Ok(Some(self.stored(
            &record,
            digest.bytes,
            digest.sha256,
            DigestSource::Verified,
        )))
    }

    fn put_blocking(
        &self,
        object: &PutObject<'_>,
        progress: Progress<'_>,
    ) -> Result<StoredObject, StoreError> {
        let key = self.checked_key(&object.key)?;
        // Keys in the tool's own namespace at the vault root (`_wormvault/holds/…`, the hold
        // registry's anchors) are store-absolute, as at an S3 bucket's root: a hold command
        // addressing a session prefix inside the vault writes them there.
        let tool_namespace = key.starts_with(&format!("{}/", crate::remote::SIDECAR_DIR));
        if let Some(refusal) = self.nested_refusal().filter(|_| !tool_namespace) {
            return Err(StoreError::Config(refusal));
        }
        let dest = self.object_path(key);
        if dest.symlink_metadata().is_ok() {
            return Err(StoreError::AlreadyExists {
                target: self.name(),
                key: key.to_string(),
            });
        }
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;

        // Copy into a temporary file beside the destination, hashing as we go.
        let mut source = File::open(object.source).map_err(|e| self.io(object.source, e))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".wormvault-incoming-")
            .tempfile_in(&dir)
            .map_err(|e| self.io(&dir, e))?;
        let mut hasher = Sha256::new();
        let mut buffer = crate::readbuf::ReadBuffer::new(crate::hashing::READ_SIZE);
        let mut size = 0u64;
        loop {
            let read = source
                .read(&mut buffer)
                .map_err(|e| self.io(object.source, e))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            temp.write_all(&buffer[..read])
                .map_err(|e| self.io(temp.path(), e))?;
            size += read as u64;
            progress(read as u64);
        }
        let sha256 = hex::encode(hasher.finalize());
        if sha256 != object.sha256 || size != object.size {
            return Err(StoreError::ChecksumMismatch {
                target: self.name(),
                key: key.to_string(),
                expected: format!("{} ({} bytes)", object.sha256, object.size),
                found: format!(
                    "{sha256} ({size} bytes) read from {}",
                    object.source.display()
                ),
            });
        }
        temp.as_file()
            .sync_all()
            .map_err(|e| self.io(temp.path(), e))?;

        self.write_marker()?;
        // Two writers of the same key (two archives of one bundle at once) must not interleave
        // "record, then link": the loser would replace the winner's record — its lock and legal
        // hold — after the winner read it back. Under the vault's put lock the key is checked
        // again, and the loser leaves before touching the record (issue #15 item 13).
        let lock_path = self.root.join(".wormvault/put.lock");
        if let Some(parent) = lock_path.parent() {
            fs::create_dir_all(parent).map_err(|e| self.io(parent, e))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.io(&lock_path, e))?;
        lock.lock().map_err(|e| self.io(&lock_path, e))?;
        if dest.symlink_metadata().is_ok() {
            return Err(StoreError::AlreadyExists {
                target: self.name(),
                key: key.to_string(),
            });
        }
        // Record first, then the object: a crash in between leaves a record without an object,
        // which a rerun simply replaces (head reports the key as absent).
        let now = Utc::now();
        let record = ObjectRecord {
            key: key.to_string(),
            sha256: sha256.clone(),
            size,
            retention_mode: object.lock.mode,
            retain_until: object.lock.retain_until,
            legal_hold: object.lock.legal_hold,
            tags: object.tags.clone(),
            metadata: object.metadata.clone(),
            created_at: now,
        };
        self.write_record(&record)?;
        // SnapLock commit: read-only, last-access time = retain-until.
        let file = temp.as_file();
        file.set_permissions(fs::Permissions::from_mode(0o444))
            .map_err(|e| self.io(temp.path(), e))?;
        let retain: SystemTime = object.lock.retain_until.into();
        file.set_times(
            FileTimes::new()
                .set_accessed(retain)
                .set_modified(now.into()),
        )
        .map_err(|e| self.io(temp.path(), e))?;
        match fs::hard_link(temp.path(), &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists {
                    target: self.name(),
                    key: key.to_string(),
                });
            }
            Err(e) => return Err(self.io(&dest, e)),
        }
        drop(temp); // removes the temporary name; the linked object stays
        sync_dir(&dir).map_err(|e| self.io(&dir, e))?;
        self.head_blocking(key)?
            .ok_or_else(|| StoreError::NotHonoured {
                target: self.name(),
                key: key.to_string(),
                detail: "object missing right after it was written".into(),
            })
    }

    fn list_blocking(&self, prefix: &str) -> Result<Vec<StoredObject>, StoreError> {
        let records = self.root.join(RECORD_DIR);
        if !records.exists() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(&records).sort_by_file_name() {
            let entry = entry.map_err(|e| StoreError::Cloud {
                target: self.name(),
                operation: "list".into(),
                key: None,
                message: e.to_string(),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(&records).unwrap_or(entry.path());
            let Some(key) = relative.to_str().and_then(|k| k.strip_suffix(".json")) else {
                continue;
            };
            if !key.starts_with(prefix) {
                continue;
            }
            let Some(record) = self.read_record(key)? else {
                continue;
            };
            let path = self.object_path(key);
            match fs::metadata(&path) {
                Ok(meta) => out.push(self.stored(
                    &record,
                    meta.len(),
                    record.sha256.clone(),
                    DigestSource::Claimed,
                )),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {} // interrupted put
                Err(e) => return Err(self.io(&path, e)),
            }
        }
        // Objects written here without a record are reported too (as unknown state).
        Ok(out)
    }

    fn set_hold_blocking(&self, key: &str, hold: bool) -> Result<StoredObject, StoreError> {
        let key = self.checked_key(key)?;
        let mut record = self.read_record(key)?.ok_or_else(|| StoreError::NotFound {
            target: self.name(),
            key: key.to_string(),
        })?;
        if !self.object_path(key).exists() {
            return Err(StoreError::NotFound {
                target: self.name(),
                key: key.to_string(),
            });
        }
        record.legal_hold = hold;
        self.write_record(&record)?;
        self.head_blocking(key)?
            .ok_or_else(|| StoreError::NotFound {
                target: self.name(),
                key: key.to_string(),
            })
    }

    fn download_blocking(&self, key: &str, dest: &Path) -> Result<String, StoreError> {
        let key = self.checked_key(key)?;
        let path = self.object_path(key);
        let mut source = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound {
                target: self.name(),
                key: key.to_string(),
            },
            _ => self.io(&path, e),
        })?;
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
            .map_err(|e| self.io(dest, e))?;
        let mut hasher = Sha256::new();
        let mut buffer = crate::readbuf::ReadBuffer::new(crate::hashing::READ_SIZE);
        loop {
            let read = source.read(&mut buffer).map_err(|e| self.io(&path, e))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            out.write_all(&buffer[..read])
                .map_err(|e| self.io(dest, e))?;
        }
        out.sync_all().map_err(|e| self.io(dest, e))?;
        Ok(hex::encode(hasher.finalize()))
    }

    fn delete_blocking(&self, key: &str) -> Result<(), StoreError> {
        let key = self.checked_key(key)?;
        let record = self.read_record(key)?;
        let path = self.object_path(key);
        if !path.exists() {
            return Err(StoreError::NotFound {
                target: self.name(),
                key: key.to_string(),
            });
        }
        let Some(record) = record else {
            return Err(StoreError::Protected {
                target: self.name(),
                key: key.to_string(),
                detail: "no vault record; refusing to delete an object of unknown retention".into(),
            });
        };
        if record.legal_hold {
            return Err(StoreError::Protected {
                target: self.name(),
                key: key.to_string(),
                detail: "under legal hold".into(),
            });
        }
        if record.retain_until > Utc::now() {
            return Err(StoreError::Protected {
                target: self.name(),
                key: key.to_string(),
                detail: format!(
                    "{} retention until {}",
                    record.retention_mode,
                    record.retain_until.to_rfc3339()
                ),
            });
        }
        fs::remove_file(&path).map_err(|e| self.io(&path, e))?;
        let record_path = self.record_path(key);
        fs::remove_file(&record_path).map_err(|e| self.io(&record_path, e))
    }

    fn preflight_blocking(&self) -> PreflightReport {
        let mut checks = Vec::new();
        if let Some(refusal) = self.nested_refusal() {
            checks.push(PreflightCheck {
                name: "vault_directory".into(),
                status: CheckStatus::Fail,
                detail: refusal,
            });
            return PreflightReport {
                target: self.name(),
                checks,
                enforcement: Enforcement::Tool,
            };
        }
        let existing = self
            .root
            .ancestors()
            .find(|p| p.exists())
            .map(Path::to_path_buf);
        let (status, detail) = match &existing {
            Some(dir) if dir == &self.root && !self.root.is_dir() => (
                CheckStatus::Fail,
                format!("{} exists and is not a directory", self.root.display()),
            ),
            Some(dir) => match fs::metadata(dir) {
                Ok(meta) if meta.permissions().readonly() => (
                    CheckStatus::Fail,
                    format!("{} is not writable", dir.display()),
                ),
                Ok(_) if dir == &self.root => (
                    CheckStatus::Pass,
                    format!("{} is a directory", dir.display()),
                ),
                Ok(_) => (
                    CheckStatus::Pass,
                    format!(
                        "{} will be created under {}",
                        self.root.display(),
                        dir.display()
                    ),
                ),
                Err(e) => (
                    CheckStatus::Fail,
                    format!("cannot inspect {}: {e}", dir.display()),
                ),
            },
            None => (
                CheckStatus::Fail,
                format!("no existing parent directory for {}", self.root.display()),
            ),
        };
        checks.push(PreflightCheck {
            name: "vault_directory".into(),
            status,
            detail,
        });
        checks.push(PreflightCheck {
            name: "worm_enforcement".into(),
            status: CheckStatus::Warn,
            detail: "plain filesystem: files are committed SnapLock-style (read-only, last-access \
                     time = retain-until) and wormvault refuses to overwrite or delete them before \
                     retain-until, but the filesystem itself does not enforce it; receipts say \
                     enforcement: tool. Use a SnapLock/WORM volume for store-enforced retention."
                .into(),
        });
        PreflightReport {
            target: self.name(),
            checks,
            enforcement: Enforcement::Tool,
        }
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Run blocking filesystem work off the async runtime's worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Config(format!("vault worker failed: {e}")))?
}

impl LocalVault {
    /// Read one object into memory (at most `max_len` bytes), with the lock its vault record
    /// states. An object without a record was not written by wormvault: an error naming it.
    fn get_bytes_blocking(
        &self,
        key: &str,
        max_len: u64,
    ) -> Result<Option<super::FetchedObject>, StoreError> {
        let key = self.checked_key(key)?;
        let path = self.object_path(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&path, e)),
        };
        let mut bytes = Vec::new();
        file.take(max_len.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| self.io(&path, e))?;
        if bytes.len() as u64 > max_len {
            return Err(super::too_large(
                &self.target,
                key,
                bytes.len() as u64,
                max_len,
            ));
        }
        let record = self.read_record(key)?.ok_or_else(|| StoreError::Cloud {
            target: self.name(),
            operation: "read".into(),
            key: Some(key.to_string()),
            message: format!(
                "{} has no vault record; it was not written by wormvault",
                path.display()
            ),
        })?;
        Ok(Some(super::FetchedObject {
            bytes,
            version_id: None,
            retention_mode: Some(record.retention_mode),
            retain_until: Some(record.retain_until),
            legal_hold: Some(record.legal_hold),
        }))
    }

    /// The files directly in the directory `prefix` names (up to its last `/`) whose key sorts
    /// after `start_after`; temporary names (a leading `.`) are not objects.
    fn list_after_blocking(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<super::ListedPage, StoreError> {
        let (dir_key, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let dir = if dir_key.is_empty() {
            self.root.clone()
        } else {
            self.object_path(self.checked_key(dir_key)?)
        };
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(super::ListedPage {
                    versions: Vec::new(),
                    complete: true,
                });
            }
            Err(e) => return Err(self.io(&dir, e)),
        };
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io(&dir, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let key = if dir_key.is_empty() {
                name.clone()
            } else {
                format!("{dir_key}/{name}")
            };
            if name.starts_with('.')
                || !key.starts_with(prefix)
                || start_after.is_some_and(|after| key.as_str() <= after)
            {
                continue;
            }
            let meta = entry.metadata().map_err(|e| self.io(&entry.path(), e))?;
            if !meta.is_file() {
                continue;
            }
            listed.push(super::ListedVersion {
                key,
                version_id: None,
                is_latest: true,
                delete_marker: false,
                size: meta.len(),
            });
        }
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(super::page_of(listed, max.max(1)))
    }

    pub(crate) fn clone_handle(&self) -> LocalVault {
        LocalVault {
            target: self.target.clone(),
            root: self.root.clone(),
        }
    }
}

#[async_trait::async_trait]
impl ImmutableStore for LocalVault {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn preflight(&self, _options: &PreflightOptions) -> Result<PreflightReport, StoreError> {
        let vault = self.clone_handle();
        blocking(move || Ok(vault.preflight_blocking())).await
    }

    async fn put(
        &self,
        object: &PutObject<'_>,
        progress: Progress<'_>,
    ) -> Result<StoredObject, StoreError> {
        // The progress callback borrows from the caller, so this runs inline rather than on a
        // detached blocking thread: in a block_in_place section on a multi-threaded runtime,
        // directly on a current-thread one (block_in_place panics there; such a runtime is the
        // audit log handle's own, made for this one write — `audit::store::handle`).
        match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::CurrentThread) | Err(_) => {
                self.put_blocking(object, progress)
            }
            Ok(_) => tokio::task::block_in_place(|| self.put_blocking(object, progress)),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let vault = self.clone_handle();
        let key = key.to_string();
        blocking(move || vault.head_blocking(&key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, StoreError> {
        let vault = self.clone_handle();
        let prefix = prefix.to_string();
        blocking(move || vault.list_blocking(&prefix)).await
    }

    async fn set_legal_hold(
        &self,
        key: &str,
        _version_id: Option<&str>,
        hold: bool,
    ) -> Result<StoredObject, StoreError> {
        let vault = self.clone_handle();
        let key = key.to_string();
        blocking(move || vault.set_hold_blocking(&key, hold)).await
    }

    async fn download(
        &self,
        key: &str,
        _version_id: Option<&str>,
        dest: &Path,
    ) -> Result<String, StoreError> {
        let vault = self.clone_handle();
        let key = key.to_string();
        let dest = dest.to_path_buf();
        blocking(move || vault.download_blocking(&key, &dest)).await
    }

    async fn delete(&self, key: &str, _version_id: Option<&str>) -> Result<(), StoreError> {
        let vault = self.clone_handle();
        let key = key.to_string();
        blocking(move || vault.delete_blocking(&key)).await
    }

    async fn get_bytes(
        &self,
        key: &str,
        _version_id: Option<&str>,
        max_len: u64,
    ) -> Result<Option<super::FetchedObject>, StoreError> {
        let vault = self.clone_handle();
        let key = key.to_string();
        blocking(move || vault.get_bytes_blocking(&key, max_len)).await
    }

    async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<super::ListedPage, StoreError> {
        let vault = self.clone_handle();
        let prefix = prefix.to_string();
        let start_after = start_after.map(str::to_string);
        blocking(move || vault.list_after_blocking(&prefix, start_after.as_deref(), max)).await
    }
}
