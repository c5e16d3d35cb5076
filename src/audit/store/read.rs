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
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        listed.extend(page);
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
    let next = page.last().map(|v| v.key.clone());
    let mut records: Vec<ListedRecord> = Vec::new();
    let mut junk = Vec::new();
    for version in page {
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
/// key order, calling `each` for every record (in order) and `junk` for stray keys. Listing the
/// next page overlaps with fetching the current one. A record in the range of a bundle in
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
) -> Result<(), StoreLogError> {
    let target = store.target();
    let (sender, receiver) = futures::channel::mpsc::channel::<ListedRecord>(4096);
    let lister = async move {
        let mut sender = sender;
        let mut after: Option<String> = None;
        let mut stray = Vec::new();
        loop {
            let (records, junk_keys, next) = list_page(store, after.as_deref()).await?;
            stray.extend(junk_keys);
            let Some(next) = next else { break };
            after = Some(next);
            for record in records {
                if futures::SinkExt::send(&mut sender, record).await.is_err() {
                    return Ok(stray);
                }
            }
        }
        Ok::<_, StoreLogError>(stray)
    };
    let fetcher = async {
        let mut started: Option<u64> = None;
        let mut fetches = receiver
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
