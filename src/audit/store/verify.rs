//! Verifying a log in a store: the records, streamed in sequence order through the file
//! verifier (`audit::verify_readers`, so the chain, signature and Merkle checks and the report
//! are the same as for a file), plus what only the store shows (docs/audit-store.md §4):
//! a record key with more than one version or a delete marker (rewritten or "deleted" behind the
//! log's back), a record object that is not exactly one line, stray keys, a record that is not
//! locked, and the stored checkpoints — checked against the key the USER gives, never one kept
//! in the log. Without a key they are counted as not checked, and nothing says they passed.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::read::{ChannelReader, Fetched, VERIFIER_QUEUE, for_each_record};
use super::{MAX_CHECKPOINT_BYTES, StoreLogError, layout};
use crate::audit::checkpoint::{Checkpoint, CheckpointKey};
use crate::audit::{AuditError, VerifyOptions, VerifyReport};
use crate::store::{ImmutableStore, RetentionMode};

/// The checkpoint key the user pins (`--checkpoint-key`, `--key-name`).
#[derive(Debug, Clone, Default)]
pub struct Checkpoints {
    pub key: Option<ed25519_dalek::VerifyingKey>,
    /// Signed-note key name; default: each checkpoint's origin line.
    pub key_name: Option<String>,
    /// Read every record from its own object even where a trusted record bundle exists.
    pub ignore_bundles: bool,
}

/// One thing the store shows that a file would not.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoreFinding {
    pub key: String,
    /// The record (sequence) the key belongs to, when it is a record key.
    pub record: Option<u64>,
    pub problem: String,
}

/// The file verifier's report (CAVRA's shape; `valid` and `errors` include the store findings)
/// plus what was read from the store.
#[derive(Debug, Clone, Serialize)]
pub struct StoreVerifyReport {
    #[serde(flatten)]
    pub chain: VerifyReport,
    pub log: String,
    pub store_findings: Vec<StoreFinding>,
    pub record_objects: u64,
    pub stored_checkpoints: u64,
    /// Stored checkpoints whose signature verified under the given key (and whose tree the
    /// records were compared with).
    pub checkpoints_verified: u64,
    /// Stored checkpoints not checked: no `--checkpoint-key` was given.
    pub checkpoints_unchecked: u64,
    /// Records read from record bundles (256 per GET) instead of their own objects: only bundles
    /// wholly inside a stored checkpoint verified with the user's key are used, so the
    /// checkpoint's Merkle root binds their content; every record's own listing (versions,
    /// delete markers, size) is still checked.
    pub records_from_bundles: u64,
    /// Records locked only in GOVERNANCE mode (removable by a privileged user).
    pub governance_locked_records: u64,
    /// The C2SP tlog-tiles check: the hash tiles a generic client reads for the newest
    /// checkpoint verified with the user's key must give that checkpoint's root (a rewritten or
    /// missing tile is a finding). Says plainly when no checkpoint could be used.
    pub tiles: String,
}

impl StoreVerifyReport {
    pub fn valid(&self) -> bool {
        self.chain.valid
    }

    pub fn problem_count(&self) -> usize {
        self.chain.error_count
    }

    pub fn first_problem(&self) -> Option<String> {
        self.chain.errors.first().cloned()
    }
}

/// Verify the log in `store`; with `copy_to`, also write the records as one JSONL file there
/// (created new) while streaming.
pub async fn verify(
    store: &dyn ImmutableStore,
    options: &VerifyOptions,
    checkpoints: &Checkpoints,
    copy_to: Option<&Path>,
) -> Result<StoreVerifyReport, StoreLogError> {
    let target = store.target().clone();
    let log = target.to_string();
    let mut findings: Vec<StoreFinding> = Vec::new();

    // 1. Stored checkpoints (few): read and check them before the records, because the
    //    verifier compares the records with every checkpoint it is given.
    let mut options = options.clone();
    let (stored_checkpoints, verified, unchecked, largest) =
        read_checkpoints(store, checkpoints, &mut options, &mut findings).await?;
    let trusted_size = options
        .checkpoints
        .iter()
        .map(|c| c.size)
        .max()
        .unwrap_or(0);
    let bundles = if checkpoints.ignore_bundles || trusted_size < layout::BUNDLE_SIZE {
        Default::default()
    } else {
        trusted_bundles(store, trusted_size, &mut findings).await?
    };
    let mut from_bundles = 0u64;
    let newest = options.checkpoints.iter().max_by_key(|c| c.size).cloned();
    let tiles = match &newest {
        Some(checkpoint) => check_tiles(store, checkpoint, &mut findings).await?,
        None => "not checked: no stored checkpoint was verified with your --checkpoint-key".into(),
    };

    // 2. Records, streamed in order into the file verifier on its own thread.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(VERIFIER_QUEUE);
    let names = vec![PathBuf::from(&log)];
    let verifier_options = options.clone();
    let verifier = std::thread::spawn(move || {
        crate::audit::verify_readers(
            &names,
            vec![Box::new(ChannelReader::new(receiver))],
            &verifier_options,
        )
    });
    let mut copy = match copy_to {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(AuditError::io("creating", path))?,
        )),
        None => None,
    };
    let mut lines = LineMap::default();
    let mut strays: Vec<String> = Vec::new();
    let mut record_objects = 0u64;
    let mut governance = 0u64;
    let mut expected = 1u64;
    let now = chrono::Utc::now();
    let streamed = for_each_record(
        store,
        &bundles,
        |fetched: Fetched| {
            let Fetched {
                listed,
                object,
                from_bundle,
                problem,
            } = fetched;
            let finding = |problem: String| StoreFinding {
                key: listed.key.clone(),
                record: Some(listed.sequence),
                problem,
            };
            record_objects += 1;
            if let Some(problem) = problem {
                findings.push(finding(problem));
            }
            if from_bundle && object.is_some() {
                from_bundles += 1;
            }
            if listed.sequence > expected {
                findings.push(StoreFinding {
                    key: layout::record_key(&target, expected),
                    record: Some(expected),
                    problem: format!(
                        "records {expected}..{} are missing from the store (a gap)",
                        listed.sequence - 1
                    ),
                });
            }
            expected = listed.sequence + 1;
            let versions = listed.versions.iter().filter(|v| !v.delete_marker).count();
            if listed.deleted() {
                findings.push(finding(
                    "the record's current version is a delete marker: it was deleted behind the log's back (its locked version remains)".into(),
                ));
            } else if versions > 1 || listed.versions.iter().any(|v| v.delete_marker) {
                findings.push(finding(format!(
                    "the key has {} versions: the record was rewritten behind the log's back",
                    listed.versions.len()
                )));
            }
            let Some(object) = object else {
                if !listed.deleted() {
                    findings.push(finding("listed but has no readable current version".into()));
                }
                return Ok(None);
            };
            match object.retention_mode {
                None => findings.push(finding(
                    "the record object is not locked (a writer killed between writing and locking it on a store that locks after the write leaves this; if the chain is otherwise intact, lock the object with the log's retention)".into(),
                )),
                Some(RetentionMode::Governance) => governance += 1,
                Some(RetentionMode::Compliance) => {}
            }
            if object.retain_until.is_some_and(|until| until < now) {
                findings.push(finding("the record's lock has expired".into()));
            }
            let one_line = object.bytes.last() == Some(&b'\n')
                && !object.bytes[..object.bytes.len() - 1].contains(&b'\n');
            if !one_line {
                findings.push(finding(
                    "the record object is not exactly one JSONL line ending in a newline".into(),
                ));
            }
            if let Some(copy) = copy.as_mut() {
                copy.write_all(&object.bytes)
                    .map_err(AuditError::io("writing", copy_to.unwrap_or(Path::new(""))))?;
            }
            let count = object.bytes.iter().filter(|b| **b == b'\n').count().max(1);
            lines.add(count as u64, listed.sequence);
            Ok(Some(object.bytes))
        },
        |stray| strays.push(stray),
        sender,
        // Parallel listing only up to a size signed with the user's key: a checkpoint key name
        // alone is anyone's to write, and a huge one would make the listing walk empty ranges.
        trusted_size,
    )
    .await;
    // Truncation, seen without any key: a stored checkpoint (create-only, locked) says the log
    // once had at least its size in records. Fewer now means records were cut off behind the
    // log's back; an append would write after the cut and bury it.
    let stored_records = expected - 1;
    if let Some((size, key)) = largest
        && size > stored_records
    {
        findings.push(StoreFinding {
            key,
            record: Some(stored_records + 1),
            problem: truncation_problem(size, stored_records),
        });
    }
    findings.extend(strays.into_iter().map(|key| StoreFinding {
        key,
        record: None,
        problem: "a key under records/ that is not a record of this log".into(),
    }));
    let chain = verifier.join().map_err(|_| AuditError::Invalid {
        what: "audit log verifier".into(),
        problem: "verifier thread panicked".into(),
    })?;
    streamed?;
    let mut chain = chain?;
    if let Some(copy) = copy {
        let path = copy_to.unwrap_or(Path::new(""));
        let file = copy
            .into_inner()
            .map_err(|e| AuditError::io("writing", path)(e.into_error()))?;
        file.sync_all().map_err(AuditError::io("syncing", path))?;
    }
    // Name the stored object in the first bad record, not the stream.
    if let Some(bad) = chain.first_bad_record.as_mut()
        && let Some(sequence) = lines.sequence_of(bad.line)
    {
        // `log` already ends in the target's prefix; the record key starts with it.
        let key = layout::record_key(&target, sequence);
        let relative = key
            .strip_prefix(target.prefix())
            .unwrap_or(&key)
            .trim_start_matches('/');
        bad.path = format!("{}/{relative}", log.trim_end_matches('/'));
    }
    for finding in &findings {
        chain
            .errors
            .push(format!("{}: {}", finding.key, finding.problem));
    }
    chain.error_count += findings.len();
    chain.valid = chain.valid && findings.is_empty();
    Ok(StoreVerifyReport {
        chain,
        log,
        store_findings: findings,
        record_objects,
        stored_checkpoints,
        checkpoints_verified: verified,
        checkpoints_unchecked: unchecked,
        records_from_bundles: from_bundles,
        governance_locked_records: governance,
        tiles,
    })
}

/// Which record object each line of the stream came from, in memory proportional to the
/// irregularities (gaps, objects that are not one line), not to the log's length: a run says
/// "from stream line `line`, line *l* is record `sequence + (l - line)`", a multi-line run
/// "every line from `line` to the next run is record `sequence`".
#[derive(Debug, Default)]
struct LineMap {
    runs: Vec<Run>,
    /// The next stream line (1-based).
    next: u64,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    line: u64,
    sequence: u64,
    multi: bool,
}

impl LineMap {
    /// Record `sequence`'s object gave `count` lines.
    fn add(&mut self, count: u64, sequence: u64) {
        let line = self.next.max(1);
        let continues = self.runs.last().is_some_and(|run| {
            count == 1 && !run.multi && run.sequence + (line - run.line) == sequence
        });
        if !continues {
            self.runs.push(Run {
                line,
                sequence,
                multi: count != 1,
            });
        }
        self.next = line + count;
    }

    /// The record whose object holds stream line `line`.
    fn sequence_of(&self, line: u64) -> Option<u64> {
        if line == 0 || line >= self.next {
            return None;
        }
        let index = self
            .runs
            .partition_point(|run| run.line <= line)
            .checked_sub(1)?;
        let run = self.runs[index];
        Some(if run.multi {
            run.sequence
        } else {
            run.sequence + (line - run.line)
        })
    }
}

/// What a stored checkpoint larger than the stored records means, and what to do.
pub(super) fn truncation_problem(size: u64, records: u64) -> String {
    format!(
        "a stored checkpoint covers {size} records but the log holds only {records}: records {}..{size} were cut off behind the log's back (deleted under a GOVERNANCE bypass, or removed from a file:// vault). Do not append to this log: restore the missing records from a copy of the log (`wormvault audit push --log COPY --to LOG`, which stores only identical bytes) and treat the cut as tampering",
        records + 1
    )
}

/// Read every stored checkpoint; with the user's key, open it (a bad signature is a finding)
/// and add it to the trees the records must match. Returns (stored, verified, unchecked, the
/// largest stored checkpoint's size and key — by its key name, signature checked or not).
async fn read_checkpoints(
    store: &dyn ImmutableStore,
    checkpoints: &Checkpoints,
    options: &mut VerifyOptions,
    findings: &mut Vec<StoreFinding>,
) -> Result<(u64, u64, u64, Option<(u64, String)>), StoreLogError> {
    let target = store.target();
    let prefix = layout::checkpoints_prefix(target);
    let listed = super::read::list_all(store, &prefix).await?;
    let (mut stored, mut verified, mut unchecked) = (0, 0, 0);
    let mut largest: Option<(u64, String)> = None;
    let mut index = 0;
    while index < listed.len() {
        let key = listed[index].key.clone();
        let versions = listed[index..].iter().take_while(|v| v.key == key).count();
        index += versions;
        let finding = |problem: String| StoreFinding {
            key: key.clone(),
            record: None,
            problem,
        };
        let Some(size) = layout::checkpoint_size(target, &key) else {
            findings.push(finding(
                "a key under checkpoints/ that is not a checkpoint of this log".into(),
            ));
            continue;
        };
        stored += 1;
        if versions > 1 {
            findings.push(finding(format!(
                "the checkpoint key has {versions} versions: rewritten behind the log's back"
            )));
        }
        let Some(object) = store
            .get_bytes(&key, None, MAX_CHECKPOINT_BYTES)
            .await
            .map_err(StoreLogError::store(target))?
        else {
            findings.push(finding(
                "listed but has no current version (deleted)".into(),
            ));
            continue;
        };
        if largest.as_ref().is_none_or(|(s, _)| size > *s) {
            largest = Some((size, key.clone()));
        }
        let Some(key_bytes) = checkpoints.key else {
            unchecked += 1;
            continue;
        };
        let note = match String::from_utf8(object.bytes) {
            Ok(note) => note,
            Err(_) => {
                findings.push(finding("not UTF-8 text".into()));
                continue;
            }
        };
        let name = checkpoints
            .key_name
            .clone()
            .unwrap_or_else(|| note.lines().next().unwrap_or_default().to_string());
        let checkpoint_key = CheckpointKey {
            name,
            key: key_bytes,
        };
        match Checkpoint::open(&note, &checkpoint_key) {
            Ok(checkpoint) if checkpoint.size == size => {
                verified += 1;
                options.checkpoints.push(checkpoint);
            }
            Ok(checkpoint) => findings.push(finding(format!(
                "the signed checkpoint is of size {}, not the {size} its key names",
                checkpoint.size
            ))),
            Err(error) => findings.push(finding(format!("{error}"))),
        }
    }
    Ok((stored, verified, unchecked, largest))
}

/// The record bundles wholly inside `trusted_size` (a stored checkpoint verified with the
/// user's key): first sequence → key. A bundle key with more than one version is a finding and
/// not used.
async fn trusted_bundles(
    store: &dyn ImmutableStore,
    trusted_size: u64,
    findings: &mut Vec<StoreFinding>,
) -> Result<std::collections::BTreeMap<u64, String>, StoreLogError> {
    let target = store.target();
    let prefix = layout::bundles_prefix(target);
    let listed = super::read::list_all(store, &prefix).await?;
    let mut bundles = std::collections::BTreeMap::new();
    let mut index = 0;
    while index < listed.len() {
        let key = listed[index].key.clone();
        let versions =
            &listed[index..][..listed[index..].iter().take_while(|v| v.key == key).count()];
        index += versions.len();
        let Some(first) = layout::bundle_start(target, &key) else {
            findings.push(StoreFinding {
                key,
                record: None,
                problem: "a key under bundles/ that is not a record bundle of this log".into(),
            });
            continue;
        };
        if versions.len() > 1 || versions.iter().any(|v| v.delete_marker) {
            findings.push(StoreFinding {
                key,
                record: Some(first),
                problem: format!(
                    "the record bundle key has {} versions: rewritten behind the log's back",
                    versions.len()
                ),
            });
            continue;
        }
        if first + layout::BUNDLE_SIZE - 1 <= trusted_size {
            bundles.insert(first, key);
        }
    }
    Ok(bundles)
}

/// Check the stored hash tiles of `checkpoint`'s tree against its (signature-checked) root: the
/// tiles a generic tlog-tiles client reads to prove inclusion. A missing or rewritten tile is a
/// finding naming it. Returns what was checked, in words.
async fn check_tiles(
    store: &dyn ImmutableStore,
    checkpoint: &Checkpoint,
    findings: &mut Vec<StoreFinding>,
) -> Result<String, StoreLogError> {
    use crate::audit::tiles::{self, TileError};
    let target = store.target();
    // Every tile object of a tree of this size (the set depends on the size alone): read them
    // all, a few at a time, each capped at its exact length.
    if checkpoint.size > tiles::MAX_TREE_SIZE {
        return Ok(format!(
            "not checked: the checkpoint's size {} is beyond the tile reader's bound",
            checkpoint.size
        ));
    }
    let wanted: Vec<(String, usize)> =
        tiles::tiles_for(&vec![[0u8; 32]; checkpoint.size as usize], 0)
            .into_iter()
            .map(|(path, bytes)| (path, bytes.len()))
            .collect();
    let jobs: Vec<(String, String, u64)> = wanted
        .iter()
        .map(|(path, len)| (path.clone(), target.key(path), *len as u64))
        .collect();
    let reads = futures::stream::iter(jobs.into_iter().map(|(path, key, len)| async move {
        {
            let object = store
                .get_bytes(&key, None, len)
                .await
                .map_err(StoreLogError::store(target))?;
            Ok::<_, StoreLogError>((path, key, object))
        }
    }));
    let mut reads = futures::StreamExt::buffered(reads, 16);
    let mut fetched = std::collections::HashMap::new();
    while let Some(read) = futures::StreamExt::next(&mut reads).await {
        let (path, key, object) = read?;
        match object {
            Some(object) => {
                fetched.insert(path, object.bytes);
            }
            None => findings.push(StoreFinding {
                key,
                record: None,
                problem: format!(
                    "the tile is missing for the checkpoint of size {}: a tlog-tiles client cannot prove inclusion",
                    checkpoint.size
                ),
            }),
        }
    }
    if fetched.len() < wanted.len() {
        return Ok(format!(
            "FAILED: {} of {} tiles of the checkpoint of size {} are missing",
            wanted.len() - fetched.len(),
            wanted.len(),
            checkpoint.size
        ));
    }
    let mut read = |path: &str, _len: usize| {
        fetched.get(path).cloned().ok_or_else(|| TileError::Read {
            path: path.to_string(),
            problem: "not fetched".into(),
        })
    };
    // The root from the tiles must be the signed one, and every tile must agree with the ones
    // above it and its entry bundle: together they bind every stored tile to the checkpoint.
    let checked = tiles::check_root(checkpoint.size, &checkpoint.root, &mut read)
        .and_then(|()| tiles::entries_from_tiles(checkpoint.size, &mut read).map(|_| ()));
    Ok(match checked {
        Ok(()) => format!(
            "checked: the {} tile object(s) of the checkpoint of size {} agree with each other and give its signed root",
            wanted.len(),
            checkpoint.size
        ),
        Err(error) => {
            findings.push(StoreFinding {
                key: format!("{}/", target.key("tile")),
                record: None,
                problem: error.to_string(),
            });
            format!("FAILED: {error}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::LineMap;

    #[test]
    fn line_map_names_the_record_of_every_line_with_few_runs() {
        let mut map = LineMap::default();
        for sequence in 1..=1000 {
            map.add(1, sequence);
        }
        // A gap (1001..1004 missing), then a three-line object, then one-line records again.
        map.add(1, 1005);
        map.add(3, 1006);
        map.add(1, 1007);
        map.add(1, 1008);
        assert_eq!(map.runs.len(), 4, "{:?}", map.runs);
        assert_eq!(map.sequence_of(1), Some(1));
        assert_eq!(map.sequence_of(1000), Some(1000));
        assert_eq!(map.sequence_of(1001), Some(1005));
        assert_eq!(map.sequence_of(1002), Some(1006));
        assert_eq!(map.sequence_of(1004), Some(1006));
        assert_eq!(map.sequence_of(1005), Some(1007));
        assert_eq!(map.sequence_of(1006), Some(1008));
        assert_eq!(map.sequence_of(1007), None);
        assert_eq!(map.sequence_of(0), None);
    }
}
