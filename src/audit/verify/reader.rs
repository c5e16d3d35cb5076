//! Reading an audit log for verification: the segments are read in large chunks straight into
//! batch buffers and cut into lines where they lie (no per-line copy), with torn and oversize
//! lines marked rather than buffered. Memory stays bounded whatever the log size.

use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc;

use super::AuditError;

/// Lines per parallel batch (about 3 MiB of ~740-byte records: a few batches are in flight at
/// once — being read, queued, checked, and their results walked — so this sets peak memory).
const BATCH_LINES: usize = 4096;
/// A record line longer than this is reported as malformed and skipped without being buffered
/// (the same bound `append` uses for the tail line): a hostile multi-gigabyte line must not be
/// read into memory whole.
pub(crate) const MAX_LINE: u64 = 64 * 1024 * 1024;
/// A record line with more JSON tokens than this (values, object keys and separators: the
/// characters `{`, `[`, `,` and `:` outside strings, plus one) is reported as unreadable and not
/// parsed. A record whose line takes the JSON-tree path (Ed25519 keys, `--allow-redacted`, keys
/// out of order) costs tens of bytes per token in the tree — a 63 MiB line of 30 million array
/// elements took 1.6 GB — so this bounds that tree to a few tens of MiB per worker whatever the
/// line. Real CAVRA records have tens to hundreds of tokens (the 25-record fixture: under 100
/// each), and a large record made of long strings (an embedded document) has few. Both paths
/// apply the same bound, so they give the same verdict.
pub(crate) const MAX_TOKENS: usize = 100_000;

/// `Some(count)` when `line` has more than [`MAX_TOKENS`] JSON tokens (counted up to just past
/// the limit). A token needs at least one byte, so a line of at most `MAX_TOKENS` bytes is not
/// scanned: the check costs nothing on ordinary records.
pub(crate) fn too_many_tokens(line: &[u8]) -> Option<usize> {
    if line.len() <= MAX_TOKENS {
        return None;
    }
    let mut count = 1usize;
    let (mut in_string, mut escaped) = (false, false);
    for &byte in line {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' | b',' | b':' => {
                    count += 1;
                    if count > MAX_TOKENS {
                        return Some(count);
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// Bytes of line data per parallel batch, besides the line count bound: a batch of long lines
/// must not hold BATCH_LINES × MAX_LINE bytes at once.
const BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Bytes read from the log at a time.
const READ_CHUNK: usize = 1024 * 1024;

/// One line of a batch: its bytes are `data[start..end]` of the batch.
pub(super) struct Line {
    pub(super) segment: usize,
    pub(super) number: u64,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) torn: bool,
    /// Longer than `MAX_LINE`: skipped unread, nothing of it is in the batch buffer.
    pub(super) oversize: bool,
}

/// A run of lines sharing one buffer (no allocation per line).
pub(super) struct Batch {
    pub(super) data: Vec<u8>,
    pub(super) lines: Vec<Line>,
}

impl Batch {
    pub(super) fn new() -> Batch {
        Batch {
            data: Vec::with_capacity(READ_CHUNK * 2),
            lines: Vec::with_capacity(BATCH_LINES),
        }
    }
}

/// How the reader cuts the file (constants in production; small in tests).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_line: usize,
    pub(super) batch_lines: usize,
    pub(super) batch_bytes: usize,
    /// Bytes read from the file at a time, straight into the batch buffer.
    pub(super) chunk: usize,
}

pub(super) const LIMITS: Limits = Limits {
    max_line: MAX_LINE as usize,
    batch_lines: BATCH_LINES,
    batch_bytes: BATCH_BYTES,
    chunk: READ_CHUNK,
};

/// Read the segments in large chunks straight into batch buffers and cut them into lines where
/// they lie (no per-line copy). A line that has not ended by the time a batch is full moves to
/// the next batch; a line longer than `max_line` is dropped as soon as it is seen to be, and the
/// rest of it is skipped unread, so memory stays bounded by `batch_bytes + max_line + chunk`.
pub(super) fn read_batches(
    files: Vec<Box<dyn Read + Send>>,
    paths: Vec<PathBuf>,
    limits: Limits,
    sender: mpsc::SyncSender<Result<Batch, AuditError>>,
    recycled: mpsc::Receiver<Batch>,
) {
    let fresh = || match recycled.try_recv() {
        Ok(mut batch) => {
            batch.data.clear();
            batch.lines.clear();
            batch
        }
        Err(_) => Batch::new(),
    };
    let mut batch = fresh();
    for (segment, mut file) in files.into_iter().enumerate() {
        let fail = |source: std::io::Error| AuditError::Io {
            action: "reading audit log",
            path: paths[segment].clone(),
            source,
        };
        let mut number = 0u64;
        // Start of the line being read, and how far it has been searched for a newline.
        let mut line_start = batch.data.len();
        let mut scanned = line_start;
        // Inside an oversize line whose bytes are being discarded.
        let mut skipping = false;
        loop {
            let read = match (&mut file)
                .take(limits.chunk as u64)
                .read_to_end(&mut batch.data)
            {
                Ok(read) => read,
                Err(source) => {
                    let _ = sender.send(Err(fail(source)));
                    return;
                }
            };
            if read == 0 {
                break;
            }
            while let Some(offset) = memchr::memchr(b'\n', &batch.data[scanned..]) {
                let end = scanned + offset;
                scanned = end + 1;
                number += 1;
                if skipping {
                    // The newline that ends an oversize line: drop what was read of it.
                    skipping = false;
                    batch.data.drain(line_start..scanned);
                    scanned = line_start;
                    batch.lines.push(Line {
                        segment,
                        number,
                        start: line_start,
                        end: line_start,
                        torn: false,
                        oversize: true,
                    });
                } else if end - line_start > limits.max_line {
                    batch.data.drain(line_start..scanned);
                    scanned = line_start;
                    batch.lines.push(Line {
                        segment,
                        number,
                        start: line_start,
                        end: line_start,
                        torn: false,
                        oversize: true,
                    });
                } else if batch.data[line_start..end]
                    .iter()
                    .all(u8::is_ascii_whitespace)
                {
                    // CAVRA skips blank lines.
                } else {
                    batch.lines.push(Line {
                        segment,
                        number,
                        start: line_start,
                        end,
                        torn: false,
                        oversize: false,
                    });
                }
                line_start = scanned;
                if batch.lines.len() >= limits.batch_lines || line_start >= limits.batch_bytes {
                    // Hand over the complete lines; the unfinished one moves to the next batch.
                    let mut next = fresh();
                    next.data.extend_from_slice(&batch.data[line_start..]);
                    batch.data.truncate(line_start);
                    if sender
                        .send(Ok(std::mem::replace(&mut batch, next)))
                        .is_err()
                    {
                        return;
                    }
                    line_start = 0;
                    scanned = 0;
                }
            }
            scanned = batch.data.len();
            if skipping || batch.data.len() - line_start > limits.max_line {
                // Keep nothing of an oversize line; remember to skip to its end.
                skipping = true;
                batch.data.truncate(line_start);
                scanned = line_start;
            }
        }
        if skipping || batch.data.len() > line_start {
            // The file ends inside a line: a torn write (oversize or not).
            number += 1;
            let oversize = skipping;
            let end = if oversize {
                line_start
            } else {
                batch.data.len()
            };
            batch.lines.push(Line {
                segment,
                number,
                start: line_start,
                end,
                torn: true,
                oversize,
            });
        }
    }
    if !batch.lines.is_empty() {
        let _ = sender.send(Ok(batch));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    /// Tokens are counted outside strings only (escaped quotes included), exactly at the limit.
    #[test]
    fn too_many_tokens_counts_structure_outside_strings() {
        let at_limit = format!("[{}]", vec!["1"; MAX_TOKENS - 1].join(","));
        assert_eq!(too_many_tokens(at_limit.as_bytes()), None);
        let over = format!("[{}]", vec!["1"; MAX_TOKENS].join(","));
        assert_eq!(too_many_tokens(over.as_bytes()), Some(MAX_TOKENS + 1));
        let in_strings = format!(
            "{{\"k\": \"{}\\\"{}\"}}",
            ",".repeat(MAX_TOKENS),
            ":".repeat(10)
        );
        assert_eq!(too_many_tokens(in_strings.as_bytes()), None);
        let after_escape = format!("[\"\\\\\", {}]", vec!["1"; MAX_TOKENS].join(","));
        assert_eq!(
            too_many_tokens(after_escape.as_bytes()),
            Some(MAX_TOKENS + 1)
        );
    }

    /// What the reader should produce, from a naive split: (segment, line number, text or None
    /// when oversize, torn).
    fn expected_lines(
        segments: &[&[u8]],
        max_line: usize,
    ) -> Vec<(usize, u64, Option<Vec<u8>>, bool)> {
        let mut out = Vec::new();
        for (segment, bytes) in segments.iter().enumerate() {
            let mut pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            let tail = pieces.pop().unwrap_or_default();
            for (index, piece) in pieces.iter().enumerate() {
                if piece.len() > max_line {
                    out.push((segment, index as u64 + 1, None, false));
                } else if !piece.iter().all(u8::is_ascii_whitespace) {
                    out.push((segment, index as u64 + 1, Some(piece.to_vec()), false));
                }
            }
            if !tail.is_empty() {
                let oversize = tail.len() > max_line;
                out.push((
                    segment,
                    pieces.len() as u64 + 1,
                    (!oversize).then(|| tail.to_vec()),
                    true,
                ));
            }
        }
        out
    }

    fn read_all(segments: &[&[u8]], limits: Limits) -> Vec<(usize, u64, Option<Vec<u8>>, bool)> {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let mut paths = Vec::new();
        for (index, bytes) in segments.iter().enumerate() {
            let path = dir.path().join(format!("{index}.jsonl"));
            std::fs::write(&path, bytes).unwrap();
            files.push(Box::new(File::open(&path).unwrap()) as Box<dyn Read + Send>);
            paths.push(path);
        }
        let (sender, receiver) = mpsc::sync_channel(2);
        let (recycle, recycled) = mpsc::channel();
        let reader =
            std::thread::spawn(move || read_batches(files, paths, limits, sender, recycled));
        let mut out = Vec::new();
        for batch in receiver {
            let batch = batch.unwrap();
            assert!(
                batch.data.len() <= limits.batch_bytes + limits.max_line + limits.chunk,
                "batch buffer bound"
            );
            for line in &batch.lines {
                let text = (!line.oversize).then(|| batch.data[line.start..line.end].to_vec());
                out.push((line.segment, line.number, text, line.torn));
            }
            let _ = recycle.send(batch);
        }
        reader.join().unwrap();
        out
    }

    #[test]
    fn reader_cuts_lines_like_a_naive_split() {
        let cases = super::super::test_logs::hostile_segments(7);
        for segments in &cases {
            let slices: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
            for (max_line, batch_lines, batch_bytes, chunk) in [
                (30, 2, 16, 1),
                (30, 3, 64, 7),
                (30, 1000, 1000, 4096),
                (1000, 1, 1, 3),
            ] {
                let limits = Limits {
                    max_line,
                    batch_lines,
                    batch_bytes,
                    chunk,
                };
                assert_eq!(
                    read_all(&slices, limits),
                    expected_lines(&slices, max_line),
                    "{limits:?} on {segments:?}"
                );
            }
        }
    }
}
