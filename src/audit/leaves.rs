//! Reading a whole log's Merkle leaves (streaming) and picking out records, for inclusion
//! proofs and handoff packages.

use std::io::{BufRead, Read};
use std::path::Path;

use serde_json::Value;

use super::checkpoint::record_leaf;
use super::merkle::Hash;
use super::{AuditError, Record};

/// Every record's leaf, in order, plus the records `keep` selects. The log must start at
/// sequence 1 (proofs are over the whole tree).
pub fn read(
    log: &Path,
    keep: &dyn Fn(&Record) -> bool,
) -> Result<(Vec<Hash>, Vec<(u64, Record)>), AuditError> {
    let file = std::fs::File::open(log).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            AuditError::MissingLog {
                path: log.to_path_buf(),
            }
        } else {
            AuditError::Io {
                action: "opening",
                path: log.to_path_buf(),
                source,
            }
        }
    })?;
    let mut leaves = Vec::new();
    let mut kept = Vec::new();
    let mut reader = std::io::BufReader::with_capacity(128 * 1024, file);
    let mut line = Vec::new();
    let mut line_number = 0u64;
    loop {
        line.clear();
        // Bounded like `verify` (super::verify::MAX_LINE): a hostile multi-gigabyte line is an
        // error, not an allocation.
        let read = (&mut reader)
            .take(super::verify::MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|source| AuditError::Io {
                action: "reading",
                path: log.to_path_buf(),
                source,
            })?;
        if read == 0 {
            break;
        }
        line_number += 1;
        let bad = |problem: String| AuditError::BadLine {
            path: log.to_path_buf(),
            line: line_number,
            problem,
        };
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() as u64 > super::verify::MAX_LINE {
            return Err(bad(format!(
                "line is longer than {} bytes; run `wormvault audit verify`",
                super::verify::MAX_LINE
            )));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if super::verify::too_many_tokens(&line).is_some() {
            return Err(bad(format!(
                "line has more than {} JSON tokens; run `wormvault audit verify`",
                super::verify::MAX_TOKENS
            )));
        }
        let text = std::str::from_utf8(&line).map_err(|_| bad("not UTF-8".into()))?;
        let Value::Object(fields) = crate::canonical::parse_strict(text)
            .map_err(|e| bad(format!("not valid JSON: {e}")))?
        else {
            return Err(bad("not a JSON object".into()));
        };
        let record = Record { fields };
        if leaves.is_empty() && record.sequence() != Some(1) {
            return Err(bad(format!(
                "log starts at sequence {}; proofs need the log from sequence 1",
                record
                    .sequence()
                    .map_or("(none)".to_string(), |n| n.to_string())
            )));
        }
        if keep(&record) {
            kept.push((leaves.len() as u64, record.clone()));
        }
        leaves.push(record_leaf(&record));
    }
    Ok((leaves, kept))
}
