//! Pruning: move the records before a sequence into an archive segment and leave the retained
//! suffix verifiable on its own through a signed [`SegmentAnchor`] (plan, then execute: the log
//! is verified first, the archive and anchor are written and fsynced, and only then is the log
//! replaced atomically by temp file + rename).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::AuditError;
use super::checkpoint::{Checkpoint, SegmentAnchor};
use super::merkle::{self, Frontier};
use super::verify::{self, VerifyOptions};

/// What to prune and how to sign the anchor.
pub struct PruneRequest<'a> {
    pub log: &'a Path,
    /// Records with sequence < this move to the archive; at least one record must remain.
    pub before_sequence: u64,
    /// Created; an existing file is never overwritten.
    pub archive: &'a Path,
    /// Where the anchor JSON goes (created; never overwritten).
    pub anchor_out: &'a Path,
    pub origin: &'a str,
    pub key_name: &'a str,
    pub signing_key: &'a dyn crate::trust::Ed25519Sign,
    /// How the log is verified before anything is touched (signatures, existing anchor).
    pub verify: &'a VerifyOptions,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneOutcome {
    pub log: PathBuf,
    pub archive: PathBuf,
    pub anchor: PathBuf,
    pub archived_records: u64,
    pub retained_records: u64,
    pub first_retained_sequence: u64,
    /// The signed checkpoint of the pruned head (also inside the anchor).
    pub checkpoint: String,
}

pub fn prune(request: &PruneRequest) -> Result<PruneOutcome, AuditError> {
    let log = request.log;
    let invalid = |problem: String| AuditError::Invalid {
        what: format!("pruning {}", log.display()),
        problem,
    };
    // Hold the log's lock for the whole operation so no append lands in the old file.
    let lock = OpenOptions::new()
        .read(true)
        .append(true)
        .open(log)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                AuditError::MissingLog {
                    path: log.to_path_buf(),
                }
            } else {
                AuditError::Io {
                    action: "opening audit log",
                    path: log.to_path_buf(),
                    source: e,
                }
            }
        })?;
    lock.lock()
        .map_err(AuditError::io("locking audit log", log))?;

    let report = verify::verify(log, request.verify)?;
    // The anchor is a signed checkpoint: the same rule as `prove::create`.
    report.require_signable(log, "prune it")?;
    let first = report
        .first_sequence
        .unwrap_or(request.verify.start.first_sequence);
    let last = report.last_sequence.unwrap_or(0);
    if request.before_sequence <= first || request.before_sequence > last {
        return Err(invalid(format!(
            "--before-seq {} must be in {}..={} (records {first}..={last}; at least one record is archived and one retained)",
            request.before_sequence,
            first + 1,
            last
        )));
    }

    let directory = log
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut archive = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(request.archive)
        .map_err(AuditError::io(
            "creating archive segment (it must not exist yet)",
            request.archive,
        ))?;
    let mut retained = tempfile::NamedTempFile::new_in(directory)
        .map_err(AuditError::io("creating temporary log in", directory))?;

    let reader = BufReader::with_capacity(
        128 * 1024,
        File::open(log).map_err(AuditError::io("opening audit log", log))?,
    );
    let mut frontier: Frontier = request.verify.start.frontier.clone();
    let mut before_previous: Option<Frontier> = None;
    let mut previous_hash = String::new();
    let (mut archived, mut kept) = (0u64, 0u64);
    for (index, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(AuditError::io("reading audit log", log))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |problem: String| AuditError::BadLine {
            path: log.to_path_buf(),
            line: index as u64 + 1,
            problem,
        };
        let text = std::str::from_utf8(&line).map_err(|e| bad(e.to_string()))?;
        let value = crate::canonical::parse_strict(text).map_err(|e| bad(e.to_string()))?;
        let sequence = value
            .get("sequence")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("no sequence".into()))?;
        let hash_text = value
            .get("record_hash")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no record_hash".into()))?;
        let hash: merkle::Hash = hex::decode(hash_text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("record_hash is not hex".into()))?;
        if sequence < request.before_sequence {
            if sequence + 1 == request.before_sequence {
                before_previous = Some(frontier.clone());
                previous_hash = hash_text.to_string();
            }
            archive
                .write_all(&line)
                .and_then(|()| archive.write_all(b"\n"))
                .map_err(AuditError::io("writing archive segment", request.archive))?;
            archived += 1;
        } else {
            retained
                .write_all(&line)
                .and_then(|()| retained.write_all(b"\n"))
                .map_err(AuditError::io("writing temporary log", directory))?;
            kept += 1;
        }
        frontier.push(merkle::leaf_hash(&hash));
    }
    let before_previous = before_previous
        .ok_or_else(|| invalid("the record before --before-seq was not found".into()))?;
    let mut head = before_previous.clone();
    let previous: merkle::Hash = hex::decode(&previous_hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; 32]);
    head.push(merkle::leaf_hash(&previous));
    let checkpoint = Checkpoint {
        origin: request.origin.to_string(),
        size: head.size(),
        root: head.root(),
    };
    let note = checkpoint.sign(request.key_name, request.signing_key)?;
    let anchor = SegmentAnchor::new(&before_previous, &previous_hash, note.clone());

    // Durable order: archive, anchor, then the log swap.
    archive
        .sync_all()
        .map_err(AuditError::io("syncing archive segment", request.archive))?;
    let anchor_text =
        serde_json::to_string_pretty(&anchor).map_err(|e| invalid(e.to_string()))? + "\n";
    let mut anchor_file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(request.anchor_out)
        .map_err(AuditError::io(
            "creating segment anchor (it must not exist yet)",
            request.anchor_out,
        ))?;
    anchor_file
        .write_all(anchor_text.as_bytes())
        .map_err(AuditError::io("writing segment anchor", request.anchor_out))?;
    anchor_file
        .sync_all()
        .map_err(AuditError::io("syncing segment anchor", request.anchor_out))?;
    retained
        .as_file()
        .sync_all()
        .map_err(AuditError::io("syncing temporary log", directory))?;
    retained.persist(log).map_err(|e| AuditError::Io {
        action: "replacing audit log",
        path: log.to_path_buf(),
        source: e.error,
    })?;
    if let Ok(dir) = File::open(directory) {
        let _ = dir.sync_all();
    }
    drop(lock);
    Ok(PruneOutcome {
        log: log.to_path_buf(),
        archive: request.archive.to_path_buf(),
        anchor: request.anchor_out.to_path_buf(),
        archived_records: archived,
        retained_records: kept,
        first_retained_sequence: request.before_sequence,
        checkpoint: note,
    })
}
