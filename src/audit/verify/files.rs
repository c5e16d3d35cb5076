//! Verifying log *files* without a reader thread: each worker claims the next chunk of the
//! segments (an atomic counter), reads it with `pread` into its own reused buffer and checks its
//! lines at once, while the bytes are still in that core's cache; the results are walked in chunk
//! order by whichever worker completes the next chunk due. Compared with a reader thread filling
//! batch buffers for the others, the copy out of the page cache lands in a cache-resident buffer
//! and is consumed by the core that made it (issue #19 item 4).
//!
//! The cut is the one [`super::reader`] makes, chunk by chunk: a line belongs to the chunk in
//! which it starts, and the last line of a chunk is completed by reading on. Blank lines are
//! skipped (but counted), a line longer than `max_line` is marked oversize without being buffered
//! (reading on only to find whether it ends), the last line of a segment without a newline is
//! torn, and line numbers are fixed up in the walk by a running count of line starts.
//! `tests::chunks_cut_like_the_reader` and `tests::reports_match_the_reader_path` hold the two
//! paths to the same output.
//!
//! Each segment's length is taken when verification starts: bytes appended later are not read,
//! and a file that shrinks under the verifier is an I/O error, not a verdict.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use super::AuditError;
use super::VerifyOptions;
use super::chain::State;
use super::fast;
use super::reader::{Line, MAX_LINE};
use super::record::{Checked, FastCheck, check_line};
use crate::readbuf::{self, COPY_ALIGN};

/// How the segments are cut (constants in production; small in tests).
#[derive(Debug, Clone, Copy)]
pub(super) struct ChunkLimits {
    /// Bytes of line starts per chunk (and the size of each read: reads under 128 KiB are
    /// markedly slower per byte here, and a chunk should stay well inside one core's L2).
    pub(super) chunk: usize,
    pub(super) max_line: usize,
}

pub(super) const CHUNK_LIMITS: ChunkLimits = ChunkLimits {
    chunk: 512 * 1024,
    max_line: MAX_LINE as usize,
};

/// Bytes read past a chunk's end with it (most lines are far shorter), and the first piece read
/// on when its last line is longer.
const TAIL_GUESS: u64 = 16 * 1024;
/// The largest piece read on at once (the pieces double up to it).
const MAX_PIECE: u64 = 4 * 1024 * 1024;

/// Chunks that may be checked ahead of the walk (per worker): bounds the results held at once.
const AHEAD_PER_WORKER: usize = 4;

/// One open segment and its length when verification started.
pub(super) struct Segment {
    pub(super) file: File,
    pub(super) len: u64,
    pub(super) path: PathBuf,
}

/// The lines of one chunk: `lines` (numbered from 1 within the chunk, blank ones left out) cut
/// from `buffer`, and how many lines start in the chunk (blank ones included).
#[derive(Default)]
pub(super) struct ChunkLines {
    /// The bytes read are `buffer[..filled]`; the rest is kept allocated (and initialised) for
    /// the next chunk, so reads land in memory that is neither zeroed again nor faulted in.
    pub(super) buffer: Vec<u8>,
    pub(super) filled: usize,
    pub(super) lines: Vec<Line>,
    pub(super) starts: u64,
}

/// Read `file[from..to]` (`to` ≤ the segment length taken at the start) into
/// `buffer[*filled..]`, growing it if needed; a file that has become shorter is an error.
fn read_range(
    file: &File,
    from: u64,
    to: u64,
    buffer: &mut Vec<u8>,
    filled: &mut usize,
) -> std::io::Result<()> {
    let want = usize::try_from(to - from).map_err(std::io::Error::other)?;
    let end = *filled + want;
    if buffer.len() < end {
        buffer.resize(end, 0);
    }
    let result = file.read_exact_at(&mut buffer[*filled..end], from);
    if result.is_ok() {
        *filled = end;
    }
    result.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            std::io::Error::new(
                e.kind(),
                "the file became shorter while it was being verified",
            )
        } else {
            e
        }
    })
}

/// Cut the lines that start in `[start, start + chunk)` of `segment` (see the module doc).
pub(super) fn cut_chunk(
    segment_index: usize,
    segment: &Segment,
    start: u64,
    limits: ChunkLimits,
    out: &mut ChunkLines,
) -> std::io::Result<()> {
    out.filled = 0;
    out.lines.clear();
    out.starts = 0;
    let len = segment.len;
    let end = (start + limits.chunk as u64).min(len);
    // Read from the byte before the chunk: whether it is a newline says if a line starts here.
    let base = start.saturating_sub(1);
    // A little past the end too: the chunk's last line usually ends there (no second read).
    let max_line = limits.max_line as u64;
    let mut buffered = (end + TAIL_GUESS.min(max_line + 1)).min(len);
    // Land the read where the kernel's copy out of the page cache is fast (`crate::readbuf`):
    // byte `at` of the file goes to `buffer[index(at)]`.
    let room = (buffered - base) as usize + COPY_ALIGN;
    if out.buffer.len() < room {
        out.buffer.resize(room, 0);
    }
    let pad = readbuf::start_for(&out.buffer, base);
    let index = |at: u64| (at - base) as usize + pad;
    out.filled = pad;
    read_range(
        &segment.file,
        base,
        buffered,
        &mut out.buffer,
        &mut out.filled,
    )?;
    let mut line_start = if start == 0 {
        0
    } else {
        match memchr::memchr(b'\n', &out.buffer[pad..out.filled]) {
            Some(offset) => base + offset as u64 + 1,
            None => return Ok(()),
        }
    };
    while line_start < end {
        let from = index(line_start);
        out.starts += 1;
        let number = out.starts;
        let found = match memchr::memchr(b'\n', &out.buffer[from..out.filled]) {
            Some(offset) => Some(line_start + offset as u64),
            None => {
                // The chunk's last line runs past what was read: read on in growing pieces, up
                // to one byte past the longest line allowed (which decides oversize), or the
                // end of the segment.
                let until = (line_start + max_line + 1).min(len);
                let mut piece = TAIL_GUESS;
                let mut found = None;
                while buffered < until {
                    let (scanned, at) = (out.filled, buffered);
                    buffered = (buffered + piece).min(until);
                    read_range(
                        &segment.file,
                        at,
                        buffered,
                        &mut out.buffer,
                        &mut out.filled,
                    )?;
                    if let Some(offset) = memchr::memchr(b'\n', &out.buffer[scanned..out.filled]) {
                        found = Some(at + offset as u64);
                        break;
                    }
                    piece = (piece * 2).min(MAX_PIECE);
                }
                found
            }
        };
        let line = |start: u64, end: u64, torn: bool, oversize: bool| Line {
            segment: segment_index,
            number,
            start: index(start),
            end: index(end),
            torn,
            oversize,
        };
        match found {
            Some(newline) if newline - line_start > max_line => {
                out.lines.push(line(line_start, line_start, false, true));
                line_start = newline + 1;
            }
            Some(newline) => {
                let bytes = &out.buffer[from..index(newline)];
                if !bytes.iter().all(u8::is_ascii_whitespace) {
                    // CAVRA skips blank lines.
                    out.lines.push(line(line_start, newline, false, false));
                }
                line_start = newline + 1;
            }
            None if buffered - line_start > max_line => {
                // Oversize: drop what was read of it and only look for its end (is it torn?).
                out.filled = from;
                let torn = !newline_after(&segment.file, buffered, len, limits.chunk)?;
                out.lines.push(line(line_start, line_start, torn, true));
                break;
            }
            None => {
                // The segment ends inside this line: a torn write.
                out.lines.push(line(line_start, len, true, false));
                break;
            }
        }
    }
    Ok(())
}

/// Whether `file[from..len]` holds a newline, read in pieces without keeping them.
fn newline_after(file: &File, mut from: u64, len: u64, piece: usize) -> std::io::Result<bool> {
    let mut buffer = vec![0; piece.max(128 * 1024)];
    while from < len {
        let to = (from + buffer.len() as u64).min(len);
        let mut filled = 0;
        read_range(file, from, to, &mut buffer, &mut filled)?;
        if memchr::memchr(b'\n', &buffer[..filled]).is_some() {
            return Ok(true);
        }
        from = to;
    }
    Ok(false)
}

/// A chunk's checked lines, waiting for the walk.
struct Done {
    segment: usize,
    starts: u64,
    results: Vec<Checked>,
}

/// The in-order walk, shared by the workers.
struct Walk<'a> {
    state: State<'a>,
    /// The next chunk due.
    next: usize,
    ready: BTreeMap<usize, Done>,
    /// Line starts in the current segment's chunks walked so far.
    segment: usize,
    line_base: u64,
    /// Emptied result vectors, reused by the workers.
    spare: Vec<Vec<Checked>>,
    error: Option<(usize, AuditError)>,
}

impl Walk<'_> {
    fn walk(&mut self, done: Done) {
        if done.segment != self.segment {
            self.segment = done.segment;
            self.line_base = 0;
        }
        let base = self.line_base;
        let mut results = done.results;
        for item in &mut results {
            match item {
                Checked::Record { line, .. } | Checked::Unreadable { line, .. } => *line += base,
            }
            self.state.observe(item);
        }
        results.clear();
        self.spare.push(results);
        self.line_base += done.starts;
    }
}

/// Verify whole files: `segments` in order, cut into chunks of `limits.chunk` bytes.
pub(super) fn verify_files(
    names: &[PathBuf],
    segments: &[Segment],
    options: &VerifyOptions,
    limits: ChunkLimits,
) -> Result<super::VerifyReport, AuditError> {
    let chunks: Vec<(usize, u64)> = segments
        .iter()
        .enumerate()
        .flat_map(|(index, segment)| {
            (0..segment.len.div_ceil(limits.chunk as u64))
                .map(move |chunk| (index, chunk * limits.chunk as u64))
        })
        .collect();
    let workers = rayon::current_num_threads().clamp(1, chunks.len().max(1));
    let ahead = workers * AHEAD_PER_WORKER;
    let fast_check = FastCheck::new(options);
    let claimed = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let walk = Mutex::new(Walk {
        state: State::new(names, options),
        next: 0,
        ready: BTreeMap::new(),
        segment: 0,
        line_base: 0,
        spare: Vec::new(),
        error: None,
    });
    let walked = Condvar::new();
    let lock = || {
        walk.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let work = || {
        let mut cut = ChunkLines::default();
        let mut scratch = fast::Scratch::default();
        let mut results: Vec<Checked> = Vec::new();
        loop {
            let index = claimed.fetch_add(1, Ordering::Relaxed);
            if index >= chunks.len() || stop.load(Ordering::Relaxed) {
                return;
            }
            {
                // Stay at most `ahead` chunks in front of the walk (memory stays bounded).
                let mut guard = lock();
                while index >= guard.next + ahead && !stop.load(Ordering::Relaxed) {
                    guard = walked
                        .wait(guard)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                if stop.load(Ordering::Relaxed) {
                    return;
                }
            }
            let (segment, start) = chunks[index];
            if let Err(source) = cut_chunk(segment, &segments[segment], start, limits, &mut cut) {
                let mut guard = lock();
                if guard.error.as_ref().is_none_or(|(first, _)| index < *first) {
                    guard.error = Some((
                        index,
                        AuditError::Io {
                            action: "reading audit log",
                            path: segments[segment].path.clone(),
                            source,
                        },
                    ));
                }
                stop.store(true, Ordering::Relaxed);
                walked.notify_all();
                return;
            }
            results.clear();
            results.extend(cut.lines.iter().map(|line| {
                check_line(
                    line,
                    &cut.buffer,
                    options,
                    fast_check.as_ref(),
                    &mut scratch,
                )
            }));
            if cut.buffer.len() > 4 * (limits.chunk + 1) {
                // A long line grew the buffer: give the memory back (and the parser's).
                cut.buffer = Vec::new();
            }
            scratch.release_over(4 * (limits.chunk + 1));
            let mut guard = lock();
            let spare = guard.spare.pop().unwrap_or_default();
            let done = Done {
                segment,
                starts: cut.starts,
                results: std::mem::replace(&mut results, spare),
            };
            guard.ready.insert(index, done);
            let before = guard.next;
            let walk = &mut *guard;
            while let Some(done) = walk.ready.remove(&walk.next) {
                walk.walk(done);
                walk.next += 1;
            }
            if guard.next != before {
                walked.notify_all();
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..workers {
            scope.spawn(work);
        }
        work();
    });
    let walk = walk
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, error)) = walk.error {
        return Err(error);
    }
    debug_assert_eq!(walk.next, chunks.len());
    Ok(walk.state.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify::reader::{LIMITS, Limits, read_batches};
    use std::io::Read;
    use std::path::Path;
    use std::sync::mpsc;

    type Cut = Vec<(usize, u64, Option<Vec<u8>>, bool)>;

    /// Write each segment to `dir/<name>-<index>.jsonl`.
    fn write_segments(dir: &Path, name: &str, segments: &[impl AsRef<[u8]>]) -> Vec<PathBuf> {
        segments
            .iter()
            .enumerate()
            .map(|(index, bytes)| {
                let path = dir.join(format!("{name}-{index}.jsonl"));
                std::fs::write(&path, bytes).unwrap();
                path
            })
            .collect()
    }

    /// The segments as readers, the reader thread's input.
    fn readers(paths: &[PathBuf]) -> Vec<Box<dyn Read + Send>> {
        paths
            .iter()
            .map(|path| Box::new(File::open(path).unwrap()) as Box<dyn Read + Send>)
            .collect()
    }

    /// The reader thread's cut (the reference).
    fn reader_cut(paths: &[PathBuf], max_line: usize) -> Cut {
        let files = readers(paths);
        let (sender, receiver) = mpsc::sync_channel(2);
        let (_recycle, recycled) = mpsc::channel();
        let limits = Limits { max_line, ..LIMITS };
        let paths = paths.to_vec();
        let reader =
            std::thread::spawn(move || read_batches(files, paths, limits, sender, recycled));
        let mut out = Vec::new();
        for batch in receiver {
            let batch = batch.unwrap();
            for line in &batch.lines {
                let text = (!line.oversize).then(|| batch.data[line.start..line.end].to_vec());
                out.push((line.segment, line.number, text, line.torn));
            }
        }
        reader.join().unwrap();
        out
    }

    fn open(paths: &[PathBuf]) -> Vec<Segment> {
        paths
            .iter()
            .map(|path| {
                let file = File::open(path).unwrap();
                let len = file.metadata().unwrap().len();
                Segment {
                    file,
                    len,
                    path: path.clone(),
                }
            })
            .collect()
    }

    /// The chunked cut, chunk after chunk, renumbered as the walk does.
    fn chunk_cut(paths: &[PathBuf], limits: ChunkLimits) -> Cut {
        let mut out = Vec::new();
        let mut cut = ChunkLines::default();
        for (index, segment) in open(paths).iter().enumerate() {
            let mut base = 0;
            let mut start = 0;
            while start < segment.len {
                cut_chunk(index, segment, start, limits, &mut cut).unwrap();
                assert!(
                    cut.filled <= limits.chunk + limits.max_line + 2 + COPY_ALIGN,
                    "buffer bound"
                );
                for line in &cut.lines {
                    let text = (!line.oversize).then(|| cut.buffer[line.start..line.end].to_vec());
                    out.push((line.segment, base + line.number, text, line.torn));
                }
                base += cut.starts;
                start += limits.chunk as u64;
            }
        }
        out
    }

    /// Every line lands in the buffer at an address congruent to its file offset modulo
    /// `COPY_ALIGN` (where the kernel's copy out of the page cache is fast), in every chunk
    /// and for lines completed by reading on past a chunk's end.
    #[test]
    fn lines_land_where_the_copy_is_fast() {
        let dir = tempfile::tempdir().unwrap();
        // Lines of 1..=150 bytes, so chunk starts and line starts fall at every offset.
        let mut text = Vec::new();
        let mut offsets = Vec::new();
        for i in 0..400usize {
            offsets.push(text.len() as u64);
            text.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, 1 + i % 150));
            text.push(b'\n');
        }
        let paths = write_segments(dir.path(), "log", &[text]);
        let segment = &open(&paths)[0];
        for chunk in [100, 997, 4096] {
            let limits = ChunkLimits {
                chunk,
                max_line: 1000,
            };
            let mut cut = ChunkLines::default();
            let (mut start, mut seen) = (0, 0);
            while start < segment.len {
                cut_chunk(0, segment, start, limits, &mut cut).unwrap();
                for line in &cut.lines {
                    let offset = offsets[seen];
                    seen += 1;
                    let address = cut.buffer[line.start..].as_ptr().addr();
                    assert_eq!(
                        address % COPY_ALIGN,
                        (offset % COPY_ALIGN as u64) as usize,
                        "chunk {chunk}, line at {offset}"
                    );
                }
                start += chunk as u64;
            }
            assert_eq!(seen, offsets.len());
        }
    }

    #[test]
    fn chunks_cut_like_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let cases = super::super::test_logs::hostile_segments(11);
        for (case, segments) in cases.iter().enumerate() {
            let paths = write_segments(dir.path(), &case.to_string(), segments);
            for max_line in [5, 30, 1000] {
                let expected = reader_cut(&paths, max_line);
                for chunk in (1..=12).chain([17, 64, 200, 4096]) {
                    let limits = ChunkLimits { chunk, max_line };
                    assert_eq!(
                        chunk_cut(&paths, limits),
                        expected,
                        "{limits:?} on case {case}: {segments:?}"
                    );
                }
            }
        }
    }

    /// A signed log with hostile damage; the whole report from the chunked path must equal the
    /// reader path's, field for field, at every chunk size.
    #[test]
    fn reports_match_the_reader_path() {
        use crate::audit::record::SignatureCheck;
        let dir = tempfile::tempdir().unwrap();
        let clean = dir.path().join("clean.jsonl");
        super::super::test_logs::append_signed(&clean, 12);
        let text = std::fs::read_to_string(&clean).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let joined = |lines: &[&str]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let mut variants: Vec<Vec<String>> = vec![vec![text.clone()]];
        variants.push(vec![format!(
            "{}\n\n  \n{}",
            joined(&lines[..4]),
            joined(&lines[4..])
        )]);
        variants.push(vec![text.replace('\n', "\r\n")]);
        variants.push(vec![text.trim_end().to_string()]);
        variants.push(vec![joined(&lines[..5]), joined(&lines[5..])]);
        variants.push(vec![
            joined(&lines[..5]),
            String::new(),
            joined(&lines[5..]),
        ]);
        variants.push(vec![format!(
            "{}{}\n{}",
            joined(&lines[..3]),
            "z".repeat(3000),
            joined(&lines[3..])
        )]);
        variants.push(vec![format!("{}{}", joined(&lines[..6]), "w".repeat(3000))]);
        variants.push(vec![text.replace("\"a7\"", "\"evil\"")]);
        variants.push(vec![format!(
            "{}{{not json\n{}",
            joined(&lines[..2]),
            joined(&lines[2..])
        )]);
        variants.push(vec![joined(&lines[..2]), joined(&lines[..2])]);
        let options = VerifyOptions {
            signatures: SignatureCheck::Hmac {
                key: b"k".to_vec(),
                key_id: "kid".into(),
            },
            ..Default::default()
        };
        let max_line = 2048;
        for (case, segments) in variants.iter().enumerate() {
            let paths = write_segments(dir.path(), &format!("v{case}"), segments);
            let reference = super::super::verify_readers_with(
                &paths,
                readers(&paths),
                &options,
                Limits { max_line, ..LIMITS },
            )
            .unwrap();
            let reference = serde_json::to_value(&reference).unwrap();
            for chunk in [1, 2, 3, 7, 100, 331, 700, 4096, 1 << 20] {
                let report = verify_files(
                    &paths,
                    &open(&paths),
                    &options,
                    ChunkLimits { chunk, max_line },
                )
                .unwrap();
                assert_eq!(
                    serde_json::to_value(&report).unwrap(),
                    reference,
                    "case {case}, chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn a_file_that_shrinks_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        let mut segments = open(std::slice::from_ref(&path));
        segments[0].len = 100;
        let error = verify_files(
            std::slice::from_ref(&path),
            &segments,
            &VerifyOptions::default(),
            ChunkLimits {
                chunk: 4,
                max_line: 64,
            },
        )
        .unwrap_err();
        assert!(matches!(error, AuditError::Io { .. }), "{error:?}");
    }
}
