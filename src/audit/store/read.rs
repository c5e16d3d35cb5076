//! Reading a stored log at scale (docs/audit-store.md §5): the record keys are listed page by
//! page (every version and delete marker, so rewrites show), and the current version of each
//! record is fetched with a bounded number of reads in flight, delivered in sequence order to a
//! blocking [`Read`] that the file verifier consumes as if it were one JSONL file.

use std::io::Read;

use futures::StreamExt;

use super::{MAX_RECORD_BYTES, StoreLogError, layout};
use crate::store::{FetchedObject, ImmutableStore, ListedVersion};

/// Reads in flight while streaming records (LocalStack and S3 answer small GETs concurrently).
pub const READ_CONCURRENCY: usize = 32;

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

/// One record as fetched: its listing and its current version (`None`: no current version).
pub struct Fetched {
    pub listed: ListedRecord,
    pub object: Option<FetchedObject>,
}

/// List every record key and fetch their current versions, `READ_CONCURRENCY` at a time, in
/// key order, calling `each` for every record (in order) and `junk` for stray keys. Listing the
/// next page overlaps with fetching the current one.
pub async fn for_each_record(
    store: &dyn ImmutableStore,
    mut each: impl FnMut(Fetched) -> Result<(), StoreLogError>,
    mut junk: impl FnMut(String),
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
        let mut fetches = receiver
            .map(|listed| async move {
                let object = if listed.deleted() {
                    None
                } else {
                    store
                        .get_bytes(&listed.key, None, MAX_RECORD_BYTES)
                        .await
                        .map_err(StoreLogError::store(target))?
                };
                Ok::<_, StoreLogError>(Fetched { listed, object })
            })
            .buffered(READ_CONCURRENCY);
        while let Some(fetched) = fetches.next().await {
            each(fetched?)?;
        }
        Ok::<_, StoreLogError>(())
    };
    let (stray, fetched) = futures::join!(lister, fetcher);
    fetched?;
    for key in stray? {
        junk(key);
    }
    Ok(())
}

/// A blocking reader over chunks sent from async code (the verifier's input).
pub struct ChannelReader {
    receiver: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    current: Vec<u8>,
    offset: usize,
}

impl ChannelReader {
    pub fn new(receiver: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) -> ChannelReader {
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
