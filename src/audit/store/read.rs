//! Reading a stored log at scale (docs/audit-store.md §5): the record keys are listed page by
//! page (every version and delete marker, so rewrites show), and the current version of each
//! record is fetched with a bounded number of reads in flight, delivered in sequence order to a
//! blocking [`Read`] that the file verifier consumes as if it were one JSONL file.

use std::collections::BTreeMap;
use std::io::Read;

use futures::StreamExt;

use super::{MAX_BUNDLE_BYTES, MAX_RECORD_BYTES, StoreLogError, layout};
use crate::store::{FetchedObject, ImmutableStore, ListedVersion};

/// Reads in flight while streaming records (LocalStack and S3 answer small GETs concurrently).
pub const READ_CONCURRENCY: usize = 32;
/// Record keys per listing range, and ranges listed at once: the key space of `records/` up to a
/// known size (the largest stored checkpoint) is split at record keys (20-digit sequence numbers
/// sort numerically) into ranges listed in parallel, each from its start with KeyMarker; what
/// lies after that size (and any stray key) is listed by the last, open-ended range. At most
/// `2 × LIST_RANGES_IN_FLIGHT` ranges' listings are held at once.
///
/// A range is 5 full listing pages: a page holds 1000 versions, and a truncated page leaves its
/// last key to the next page (its versions may continue there), so a page brings 999 records.
/// Ranges of 4995 need no extra page at their end (LocalStack answers a page in ~0.4 s).
pub const LIST_RANGE_RECORDS: u64 = 4995;
pub const LIST_RANGES_IN_FLIGHT: usize = 8;

/// Record chunks queued for the verifier thread at most: when it falls behind, fetching waits
/// (backpressure), so memory stays flat whatever the log's length.
pub const VERIFIER_QUEUE: usize = 4096;

/// What the listing of one record key shows.
#[derive(Debug, Clone)]
pub struct ListedRecord {
    pub sequence: u64,
    pub key: String,
    /// Every version and delete marker, oldest first.
    pub versions: Vec<ListedVersion>,
}

impl ListedRecord {
    /// The current version is a delete marker (the key looks deleted).
    pub fn deleted(&self) -> bool {
        self.versions.iter().any(|v| v.is_latest && v.delete_marker)
    }
}

/// Every version of every key under `prefix`, all pages, in key order (checkpoints, bundles and
/// tiles are few; records are streamed page by page instead, by [`for_each_record`]).
pub(super) async fn list_all(
    store: &dyn ImmutableStore,
    prefix: &str,
) -> Result<Vec<ListedVersion>, StoreLogError> {
    let target = store.target();
    let mut after: Option<String> = None;
    let mut listed = Vec::new();
    loop {
        let page = store
            .list_after(prefix, after.as_deref(), 1000)
            .await
            .map_err(StoreLogError::store(target))?;
        let next = page.next_after();
        listed.extend(page.versions);
        let Some(next) = next else { break };
        after = Some(next);
    }
    Ok(listed)
}

/// One page of the listing, grouped by key: record keys, and keys under `records/` that are not
/// record keys (reported by verify).
pub(super) async fn list_page(
    store: &dyn ImmutableStore,
    after: Option<&str>,
) -> Result<(Vec<ListedRecord>, Vec<String>, Option<String>), StoreLogError> {
    let target = store.target();
    let page = store
        .list_after(&layout::records_prefix(target), after, 1000)
        .await
        .map_err(StoreLogError::store(target))?;
    let next = page.next_after();
    let mut records: Vec<ListedRecord> = Vec::new();
    let mut junk = Vec::new();
    for version in page.versions {
        match layout::record_sequence(target, &version.key) {
            Some(sequence) => match records.last_mut() {
                Some(last) if last.key == version.key => last.versions.push(version),
                _ => records.push(ListedRecord {
                    sequence,
                    key: version.key.clone(),
                    versions: vec![version],
                }),
            },
            None => {
                if junk.last() != Some(&version.key) {
                    junk.push(version.key);
                }
            }
        }
    }
    Ok((records, junk, next))
}

/// Ranges `(after, up to and including)` covering every key under `records/`: split at record
/// keys below `hint`, then one open-ended range.
fn key_ranges(target: &crate::store::Target, hint: u64) -> Vec<(Option<String>, Option<String>)> {
    let mut starts = vec![None];
    let mut n = LIST_RANGE_RECORDS;
    while n < hint {
        starts.push(Some(layout::record_key(target, n)));
        n += LIST_RANGE_RECORDS;
    }
    if hint > 0 {
        starts.push(Some(layout::record_key(target, hint)));
    }
    let ends = starts.iter().skip(1).cloned().chain([None]);
    starts.iter().cloned().zip(ends).collect()
}

/// The records and stray keys in one range of [`key_ranges`], page by page.
async fn list_range(
    store: &dyn ImmutableStore,
    after: Option<String>,
    end: Option<String>,
) -> Result<(Vec<ListedRecord>, Vec<String>), StoreLogError> {
    let beyond = |key: &str| end.as_deref().is_some_and(|end| key > end);
    let (mut records, mut junk) = (Vec::new(), Vec::new());
    let mut after = after;
    loop {
        let (page, page_junk, next) = list_page(store, after.as_deref()).await?;
        records.extend(page.into_iter().filter(|r| !beyond(&r.key)));
        junk.extend(page_junk.into_iter().filter(|k| !beyond(k)));
        let Some(next) = next else { break };
        // `next` is the page's last key, every version of it included: at the range's end,
        // everything up to the end has been seen.
        if end.as_deref().is_some_and(|end| next.as_str() >= end) {
            break;
        }
        after = Some(next);
    }
    Ok((records, junk))
}

/// One record as fetched: its listing and its current version (`None`: no current version),
/// read from its own object or from its record bundle; `problem` says what went wrong reading a
/// bundle.
pub struct Fetched {
    pub listed: ListedRecord,
    pub object: Option<FetchedObject>,
    pub from_bundle: bool,
    pub problem: Option<String>,
}

enum Source {
    Record(Option<FetchedObject>),
    /// The first listed record of a bundle: the bundle's object.
    BundleStart(u64, Option<FetchedObject>),
    /// A later record of a bundle already fetched.
    Covered,
}

/// A bundle's lines, kept while its records pass.
struct OpenBundle {
    first: u64,
    lines: Vec<Vec<u8>>,
    object: FetchedObject,
}

/// List every record key and fetch their current versions, `READ_CONCURRENCY` at a time, in
/// key order, calling `each` for every record (in order) and `junk` for stray keys. Listing
/// runs ahead of fetching, in parallel key ranges up to `hint` (a size the log is known to
/// have reached: the caller passes a checkpoint size signed with the user's key, never an
/// unchecked key name; 0: one range). A record in the range of a bundle in
/// `bundles` (first sequence → key; the caller decides which are trusted) is read from that
/// bundle, one GET for 256 records; its own listing is still checked.
///
/// What `each` returns is sent to `output` (the verifier's [`ChannelReader`]), waiting while
/// the bounded queue is full: listing and fetching slow down to the verifier's pace instead of
/// buffering the log in memory. A closed `output` (the verifier stopped) is not an error here;
/// the verifier's own result says why it stopped.
pub async fn for_each_record(
    store: &dyn ImmutableStore,
    bundles: &BTreeMap<u64, String>,
    mut each: impl FnMut(Fetched) -> Result<Option<Vec<u8>>, StoreLogError>,
    mut junk: impl FnMut(String),
    output: tokio::sync::mpsc::Sender<Vec<u8>>,
    hint: u64,
) -> Result<(), StoreLogError> {
    let target = store.target();
    let (sender, receiver) =
        futures::channel::mpsc::channel::<Vec<ListedRecord>>(LIST_RANGES_IN_FLIGHT);
    let lister = async move {
        let mut sender = sender;
        let mut stray = Vec::new();
        let mut ranges = futures::stream::iter(key_ranges(target, hint))
            .map(|(after, end)| list_range(store, after, end))
            .buffered(LIST_RANGES_IN_FLIGHT);
        while let Some(range) = ranges.next().await {
            let (records, junk_keys) = range?;
            stray.extend(junk_keys);
            if futures::SinkExt::send(&mut sender, records).await.is_err() {
                break;
            }
        }
        Ok::<_, StoreLogError>(stray)
    };
    let fetcher = async {
        let mut started: Option<u64> = None;
        let mut fetches = receiver
            .flat_map(futures::stream::iter)
            .map(|listed| {
                let first = layout::bundle_first(listed.sequence);
                let bundle = bundles.get(&first).cloned();
                let start = bundle.is_some() && started != Some(first);
                if start {
                    started = Some(first);
                }
                async move {
                    let source = match bundle {
                        Some(key) if start => Source::BundleStart(
                            first,
                            store
                                .get_bytes(&key, None, MAX_BUNDLE_BYTES)
                                .await
                                .map_err(StoreLogError::store(target))?,
                        ),
                        Some(_) => Source::Covered,
                        None if listed.deleted() => Source::Record(None),
                        None => Source::Record(
                            store
                                .get_bytes(&listed.key, None, MAX_RECORD_BYTES)
                                .await
                                .map_err(StoreLogError::store(target))?,
                        ),
                    };
                    Ok::<_, StoreLogError>((listed, source))
                }
            })
            .buffered(READ_CONCURRENCY);
        let mut open: Option<OpenBundle> = None;
        while let Some(fetched) = fetches.next().await {
            let (listed, source) = fetched?;
            let fetched = match source {
                Source::Record(object) => Fetched {
                    listed,
                    object,
                    from_bundle: false,
                    problem: None,
                },
                Source::BundleStart(first, object) => {
                    open = object.map(|object| OpenBundle {
                        first,
                        lines: object
                            .bytes
                            .split_inclusive(|b| *b == b'\n')
                            .map(<[u8]>::to_vec)
                            .collect(),
                        object,
                    });
                    from_open(&open, listed)
                }
                Source::Covered => from_open(&open, listed),
            };
            if let Some(chunk) = each(fetched)? {
                let _ = output.send(chunk).await;
            }
        }
        drop(output);
        Ok::<_, StoreLogError>(())
    };
    let (stray, fetched) = futures::join!(lister, fetcher);
    fetched?;
    for key in stray? {
        junk(key);
    }
    Ok(())
}

/// A record's line from the open bundle, checked against the record's own listing (size).
fn from_open(open: &Option<OpenBundle>, listed: ListedRecord) -> Fetched {
    let line = open
        .as_ref()
        .filter(|b| b.first == layout::bundle_first(listed.sequence))
        .and_then(|b| {
            let index = usize::try_from(listed.sequence - b.first).ok()?;
            Some((b, b.lines.get(index)?))
        });
    let Some((bundle, line)) = line else {
        return Fetched {
            listed,
            object: None,
            from_bundle: true,
            problem: Some("its record bundle is missing or has too few lines".into()),
        };
    };
    let own_size = listed
        .versions
        .iter()
        .rfind(|v| v.is_latest)
        .map(|v| v.size);
    let problem = (own_size != Some(line.len() as u64) && !listed.deleted()).then(|| {
        format!(
            "its object ({} bytes) differs from its line in the record bundle ({} bytes)",
            own_size.unwrap_or(0),
            line.len()
        )
    });
    Fetched {
        object: Some(FetchedObject {
            bytes: line.clone(),
            version_id: None,
            retention_mode: bundle.object.retention_mode,
            retain_until: bundle.object.retain_until,
            legal_hold: bundle.object.legal_hold,
        }),
        listed,
        from_bundle: true,
        problem,
    }
}

/// A blocking reader over chunks sent from async code (the verifier's input), through a
/// bounded channel ([`VERIFIER_QUEUE`]).
pub struct ChannelReader {
    receiver: tokio::sync::mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    offset: usize,
}

impl ChannelReader {
    pub fn new(receiver: tokio::sync::mpsc::Receiver<Vec<u8>>) -> ChannelReader {
        ChannelReader {
            receiver,
            current: Vec::new(),
            offset: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.offset >= self.current.len() {
            match self.receiver.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk;
                    self.offset = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.offset);
        buf[..n].copy_from_slice(&self.current[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges_cover_every_key_once_split_at_record_keys() {
        let target = crate::store::Target::parse("s3://bucket/log").unwrap();
        assert_eq!(key_ranges(&target, 0), vec![(None, None)]);
        let ranges = key_ranges(&target, 12_000);
        let key = |n| Some(layout::record_key(&target, n));
        assert_eq!(
            ranges,
            vec![
                (None, key(4995)),
                (key(4995), key(9990)),
                (key(9990), key(12_000)),
                (key(12_000), None),
            ]
        );
        // A size on a boundary gives no empty range.
        assert_eq!(key_ranges(&target, 9990).len(), 3);
    }
}
