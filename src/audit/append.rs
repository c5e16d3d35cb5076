//! Appending records: an exclusive file lock around "read the head, write one line, fsync", so
//! concurrent appenders serialise and a crash leaves at worst one torn last line, which later
//! appends refuse to extend.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::Value;

use super::AuditError;
use super::record::{Canonical, NewRecord, Record, Signer};

/// Bytes read per step when scanning back from the end of the log for the last line.
const TAIL_CHUNK: u64 = 64 * 1024;
/// A record line longer than this is treated as corrupt rather than scanned forever.
const MAX_LINE: u64 = 64 * 1024 * 1024;

/// The head of a log: what the next record links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Sequence of the last record (0 for an empty log).
    pub sequence: u64,
    /// `record_hash` of the last record (`None` for an empty log).
    pub record_hash: Option<String>,
    /// The key id the last record is signed under (`None` for an empty log or an unsigned record).
    pub signature_key_id: Option<String>,
}

/// Append one record to the log at `path` (created if missing) and return it as stored.
///
/// The new record's sequence is the last record's sequence + 1 and its `previous_hash` the last
/// record's stored `record_hash` (for an unpruned log that is CAVRA's "count of records + 1").
pub fn append(path: &Path, new: &NewRecord, signer: &Signer) -> Result<Record, AuditError> {
    let mut file = open_locked(path)?;
    let head = read_head(&mut file, path)?;
    let body = new.body(head.sequence + 1, head.record_hash.as_deref());
    let canonical = Canonical::of(&body);
    let record_hash = canonical.record_hash();
    let mut fields = body;
    if let Some(signature) = signer.sign(&canonical.signed_payload(&record_hash))? {
        fields.insert("signature".into(), signature);
    }
    fields.insert("record_hash".into(), Value::from(record_hash));
    let record = Record { fields };
    let line = record.to_line();
    // One write call for the whole line, then fsync: after a crash the line is either whole,
    // absent, or torn (detected by the missing newline).
    file.write_all(line.as_bytes())
        .map_err(AuditError::io("writing audit log", path))?;
    file.sync_data()
        .map_err(AuditError::io("syncing audit log", path))?;
    Ok(record)
}

/// Open the log for appending and take its exclusive lock (advisory: every wormvault writer
/// takes it; released when the file is dropped). A prune replaces the log by rename while
/// holding the lock, so after waiting for it, make sure the path still names the file we hold.
fn open_locked(path: &Path) -> Result<File, AuditError> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(AuditError::io("opening audit log", path))?;
        file.lock()
            .map_err(AuditError::io("locking audit log", path))?;
        if still_current(&file, path) {
            return Ok(file);
        }
    }
}

#[cfg(unix)]
fn still_current(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_current(_file: &File, _path: &Path) -> bool {
    true
}

/// Read the last record's sequence and hash without reading the whole file: seek back from the
/// end in chunks until the start of the last non-blank line is found.
pub fn read_head(file: &mut File, path: &Path) -> Result<Head, AuditError> {
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(AuditError::io("seeking audit log", path))?;
    if len == 0 {
        return Ok(Head {
            sequence: 0,
            record_hash: None,
            signature_key_id: None,
        });
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))
        .map_err(AuditError::io("seeking audit log", path))?;
    file.read_exact(&mut last)
        .map_err(AuditError::io("reading audit log", path))?;
    if last[0] != b'\n' {
        let start = line_start(file, path, len)?;
        return Err(AuditError::TornTail {
            path: path.to_path_buf(),
            offset: start,
        });
    }
    // Skip trailing blank lines (CAVRA skips blank lines when reading).
    let mut end = len - 1; // index of the newline ending the candidate line
    loop {
        let start = line_start(file, path, end)?;
        let mut bytes = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))
            .map_err(AuditError::io("seeking audit log", path))?;
        file.read_exact(&mut bytes)
            .map_err(AuditError::io("reading audit log", path))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            if start == 0 {
                return Ok(Head {
                    sequence: 0,
                    record_hash: None,
                    signature_key_id: None,
                });
            }
            end = start - 1;
            continue;
        }
        let corrupt = |problem: String| AuditError::CorruptTail {
            path: path.to_path_buf(),
            offset: start,
            problem,
        };
        if let Some(count) = super::verify::too_many_tokens(&bytes) {
            return Err(corrupt(format!(
                "more than {} JSON tokens ({count} counted); run `wormvault audit verify`",
                super::verify::MAX_TOKENS
            )));
        }
        let text = std::str::from_utf8(&bytes).map_err(|e| corrupt(format!("not UTF-8 ({e})")))?;
        let value = crate::canonical::parse_strict(text)
            .map_err(|e| corrupt(format!("not valid JSON ({e})")))?;
        let sequence = value
            .get("sequence")
            .and_then(Value::as_u64)
            .ok_or_else(|| corrupt("no integer sequence".into()))?;
        let record_hash = value
            .get("record_hash")
            .and_then(Value::as_str)
            .ok_or_else(|| corrupt("no record_hash".into()))?;
        let signature_key_id = value
            .pointer("/signature/key_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        return Ok(Head {
            sequence,
            record_hash: Some(record_hash.to_string()),
            signature_key_id,
        });
    }
}

/// Offset of the first byte of the line that ends just before `end` (exclusive): scan back
/// from `end` for the previous newline.
fn line_start(file: &mut File, path: &Path, end: u64) -> Result<u64, AuditError> {
    let mut position = end;
    let mut buffer = vec![0u8; TAIL_CHUNK as usize];
    while position > 0 {
        if end - position > MAX_LINE {
            return Err(AuditError::CorruptTail {
                path: path.to_path_buf(),
                offset: position,
                problem: format!("last line is longer than {MAX_LINE} bytes"),
            });
        }
        let step = TAIL_CHUNK.min(position);
        let from = position - step;
        file.seek(SeekFrom::Start(from))
            .map_err(AuditError::io("seeking audit log", path))?;
        let chunk = &mut buffer[..step as usize];
        file.read_exact(chunk)
            .map_err(AuditError::io("reading audit log", path))?;
        if let Some(index) = chunk.iter().rposition(|byte| *byte == b'\n') {
            return Ok(from + index as u64 + 1);
        }
        position = from;
    }
    Ok(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plain test record, told apart by `n` (its actor).
    pub(crate) fn event(n: u32) -> NewRecord {
        NewRecord {
            event_type: "runtime.decision".into(),
            actor: format!("agent:{n}"),
            action: "write".into(),
            target: "t".into(),
            decision: "allow".into(),
            created_at: Some("2026-07-04T00:00:01+00:00".into()),
            ..NewRecord::default()
        }
    }

    #[test]
    fn head_is_found_from_the_end_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let first = append(&path, &event(1), &Signer::Unsigned).unwrap();
        // A blank line between records is skipped, as CAVRA does.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"\n")
            .unwrap();
        let second = append(&path, &event(2), &Signer::Unsigned).unwrap();
        assert_eq!(second.sequence(), Some(2));
        assert_eq!(second.previous_hash(), first.record_hash());
        let mut file = File::open(&path).unwrap();
        let head = read_head(&mut file, &path).unwrap();
        assert_eq!(
            head,
            Head {
                sequence: 2,
                record_hash: second.record_hash().map(String::from),
                signature_key_id: None,
            }
        );
    }

    #[test]
    fn torn_tail_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        append(&path, &event(1), &Signer::Unsigned).unwrap();
        let good_len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"sequence\": 2, \"rec")
            .unwrap();
        let error = append(&path, &event(2), &Signer::Unsigned).unwrap_err();
        assert!(
            matches!(error, AuditError::TornTail { offset, .. } if offset == good_len),
            "{error}"
        );
        // Nothing was written.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len + 20);
    }

    #[test]
    fn a_last_line_of_too_many_tokens_is_refused_before_it_is_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        append(&path, &event(1), &Signer::Unsigned).unwrap();
        // Deeply nested arrays: within the line-length bound, far beyond the token bound.
        let hostile = format!("{}\n", "[".repeat(super::super::verify::MAX_TOKENS + 10));
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(hostile.as_bytes())
            .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        let error = append(&path, &event(2), &Signer::Unsigned).unwrap_err();
        assert!(
            matches!(&error, AuditError::CorruptTail { problem, .. } if problem.starts_with("more than 100000 JSON tokens")),
            "{error}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), before);
    }

    #[test]
    fn long_lines_are_scanned_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut big = event(1);
        big.metadata
            .insert("blob".into(), Value::from("x".repeat(200_000)));
        let first = append(&path, &big, &Signer::Unsigned).unwrap();
        let second = append(&path, &big, &Signer::Unsigned).unwrap();
        assert_eq!(second.previous_hash(), first.record_hash());
    }
}
