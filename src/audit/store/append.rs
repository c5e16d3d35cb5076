//! Appending to a log in a store: the claim protocol of docs/audit-store.md §3. The store's
//! create-only write of `records/<n>` is the only arbiter of who gets sequence *n*: a loser
//! (AlreadyExists) re-reads the head and retries after a jittered backoff, a bounded number of
//! times. Success is returned only after the record is stored, locked and read back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{MAX_RECORD_BYTES, StoreLogError, WriteOptions, layout};
use crate::audit::append::Head;
use crate::audit::record::{Canonical, NewRecord, Record, Signer};
use crate::store::{ImmutableStore, PutBytes, StoredObject, Target};

/// The head as found in the store, with the key it came from.
#[derive(Debug, Clone)]
pub struct StoreHead {
    pub head: Head,
    pub key: Option<String>,
    /// The newest record carries a lock (false: its writer may still be locking it — on a store
    /// that applies the lock after the write — or it never will be).
    pub locked: bool,
}

/// Does record `n` exist (its key holds a current version)?
async fn exists(store: &dyn ImmutableStore, n: u64) -> Result<bool, StoreLogError> {
    let target = store.target();
    let key = layout::record_key(target, n);
    // Azure's List Blobs has no start-after: a listing from the prefix's start would return
    // every record before `n` on each probe. One Get Blob Properties answers instead. (A probe
    // that misses a deleted record is harmless: `find_head` ends with a listing of everything
    // after its estimate, delete markers included.)
    if matches!(target, Target::Azure { .. }) {
        return Ok(store
            .head_untagged(&key)
            .await
            .map_err(StoreLogError::store(target))?
            .is_some());
    }
    let listed = store
        .list_after(
            &layout::records_prefix(target),
            Some(&layout::record_key(target, n - 1)),
            1,
        )
        .await
        .map_err(StoreLogError::store(target))?;
    Ok(listed.versions.first().is_some_and(|v| v.key == key))
}

/// Listing page size, and how close the search below gets before listing.
const PAGE: u64 = 1000;
/// How close the search gets on Azure before listing: below 100, the listing bucket, so the
/// records left are in one or two bucket listings; as large as that allows, since every halving
/// of the span costs a probe (a Get Blob Properties) in the galloping and one in the bisection.
/// A record missing in the middle of a locked Azure container cannot happen (deletes are
/// refused); `audit verify` lists every record and reports gaps.
const AZURE_SPAN: u64 = 64;

/// Find the newest record: a galloping search over "record n exists" (n = 1000, 2000, 4000, …,
/// then bisecting) gets within one listing page of the head in O(log(n / 1000)) one-key
/// listings, then a listing after that point gives the largest record key present (delete
/// markers included, so a "deleted" newest record is found and refused, never re-claimed).
pub async fn find_head(store: &dyn ImmutableStore) -> Result<StoreHead, StoreLogError> {
    find_head_from(store, 0).await
}

/// [`find_head`] knowing that record `known` exists (0: nothing known): a writer that just lost
/// sequence `known` to another starts its search there, so a retry costs one short listing (on
/// Azure a probe or two first) instead of a search from the start.
async fn find_head_from(
    store: &dyn ImmutableStore,
    known: u64,
) -> Result<StoreHead, StoreLogError> {
    let target = store.target();
    // Azure lists only by prefix (no start-after), so there the search narrows to AZURE_SPAN
    // records and lists just the one or two 100-record prefix buckets holding them.
    let azure = matches!(target, Target::Azure { .. });
    let span = if azure { AZURE_SPAN } else { PAGE };
    let mut low = known; // known to exist (0 = nothing known)
    let mut step = span;
    let mut high = known.saturating_add(step);
    // A writer that just lost `known` lists from there at once: the head is a record or two
    // further, and the listing below reads on to the end however far it is. (Azure's listing
    // covers only the buckets up to `high`, so there the probe stays.)
    let probe = known == 0 || azure;
    while probe && exists(store, high).await? {
        low = high;
        step = step.saturating_mul(2);
        high = low.saturating_add(step);
    }
    while high - low > span {
        let mid = low + (high - low) / 2;
        if exists(store, mid).await? {
            low = mid;
        } else {
            high = mid;
        }
    }
    let prefix = layout::records_prefix(target);
    let first = low.max(1);
    let mut prefixes = vec![(
        prefix.clone(),
        (low > 0).then(|| layout::record_key(target, low - 1)),
    )];
    if azure {
        // Records first..high-1 share one of at most two 100-record buckets (span < 100).
        let bucket = |n: u64| format!("{prefix}{:018}", n / 100);
        prefixes = vec![(bucket(first), None)];
        if bucket(high - 1) != bucket(first) {
            prefixes.push((bucket(high - 1), None));
        }
    }
    let mut newest: Option<(u64, String, bool)> = None;
    for (list_prefix, start) in prefixes {
        let mut after = start;
        loop {
            let page = store
                .list_after(&list_prefix, after.as_deref(), 1000)
                .await
                .map_err(StoreLogError::store(target))?;
            let next = page.next_after();
            for version in &page.versions {
                if let Some(n) = layout::record_sequence(target, &version.key)
                    && newest.as_ref().is_none_or(|(m, _, _)| n >= *m)
                {
                    let deleted = version.is_latest && version.delete_marker;
                    newest = Some((n, version.key.clone(), deleted));
                }
            }
            let Some(next) = next else { break };
            after = Some(next);
        }
    }
    let Some((sequence, key, deleted)) = newest else {
        return Ok(StoreHead {
            head: Head {
                sequence: 0,
                record_hash: None,
                signature_key_id: None,
            },
            key: None,
            locked: true,
        });
    };
    let corrupt = |problem: String| StoreLogError::Corrupt {
        log: target.to_string(),
        key: key.clone(),
        problem,
    };
    if deleted {
        return Err(corrupt(
            "the newest record has a delete marker (it was deleted behind the log's back); refusing to append. Run `wormvault audit verify --log` on the log".into(),
        ));
    }
    let fetched = store
        .get_bytes(&key, None, MAX_RECORD_BYTES)
        .await
        .map_err(StoreLogError::store(target))?
        .ok_or_else(|| corrupt("listed but not readable (no current version)".into()))?;
    let (value, record_hash) = parse_record_object(&fetched.bytes, sequence)
        .map_err(|problem| corrupt(format!("{problem}; refusing to append")))?;
    Ok(StoreHead {
        head: Head {
            sequence,
            record_hash: Some(record_hash.to_string()),
            signature_key_id: value
                .pointer("/signature/key_id")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        key: Some(key),
        locked: fetched.retention_mode.is_some(),
    })
}

/// Refuse to append after `records` when a stored checkpoint is larger: the log was cut back
/// behind the tool's back, and a record appended now would take the place of a cut one and
/// bury the cut (docs/audit-store.md §4, "truncation"). One short listing of `checkpoints/`
/// after the checkpoint key of `records`; no key needed (the size is in the key name). A
/// checkpoint shadowed by a delete marker still counts: its locked version is still there.
pub(super) async fn refuse_if_cut_back(
    store: &dyn ImmutableStore,
    records: u64,
) -> Result<(), StoreLogError> {
    let target = store.target();
    let listed = store
        .list_after(
            &layout::checkpoints_prefix(target),
            Some(&layout::checkpoint_key(target, records)),
            1000,
        )
        .await
        .map_err(StoreLogError::store(target))?;
    let larger = listed
        .versions
        .iter()
        .filter_map(|v| Some((layout::checkpoint_size(target, &v.key)?, &v.key)))
        .filter(|(size, _)| *size > records)
        .max_by_key(|(size, _)| *size);
    match larger {
        Some((size, key)) => Err(StoreLogError::Corrupt {
            log: target.to_string(),
            key: key.clone(),
            problem: format!(
                "{}; nothing was written",
                super::verify::truncation_problem(size, records)
            ),
        }),
        None => Ok(()),
    }
}

/// A stored record object as the log needs it: exactly one JSONL line, strict JSON, whose
/// `sequence` is the one its key names, with a `record_hash`. Returns the record and its hash.
pub(super) fn parse_record_object(bytes: &[u8], sequence: u64) -> Result<(Value, String), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 ({e})"))?;
    let line = text
        .strip_suffix('\n')
        .filter(|line| !line.contains('\n'))
        .ok_or("not exactly one JSONL line")?;
    let value =
        crate::canonical::parse_strict(line).map_err(|e| format!("not valid JSON ({e})"))?;
    if value.get("sequence").and_then(Value::as_u64) != Some(sequence) {
        return Err(format!("its sequence field is not {sequence}"));
    }
    let record_hash = value
        .get("record_hash")
        .and_then(Value::as_str)
        .ok_or("no record_hash")?
        .to_string();
    Ok((value, record_hash))
}

/// The pause after a lost claim: "full jitter" exponential backoff, drawn uniformly from
/// [0, ceiling) with ceiling = the lost attempt's own duration (head read to refused write) ×
/// 2^attempt, between 10 ms and 2 s.
///
/// Writers that lost sequence *n* all want *n + 1* next. A pause much shorter than an attempt
/// (the old fixed 10 ms × 2^attempt) sends them back in lockstep, so they collide again and each
/// collision costs a head read and a refused write. A pause on the scale of one attempt, spread
/// over [0, ceiling), lets one of them win while the others are still waiting. Scaling by the
/// measured attempt adapts to the store: milliseconds on a local vault, tens to hundreds on a
/// cloud store or a busy emulator.
fn backoff(attempt: u32, lost_attempt: Duration) -> Duration {
    const FLOOR: Duration = Duration::from_millis(10);
    const CAP: Duration = Duration::from_secs(2);
    let ceiling = lost_attempt
        .max(FLOOR)
        .saturating_mul(1u32 << attempt.min(8))
        .min(CAP);
    ceiling.mul_f64(unit_random())
}

/// `base` times a random factor in [0.5, 1.5).
fn jitter(base: Duration) -> Duration {
    base.mul_f64(0.5 + unit_random())
}

/// A random number in [0, 1).
fn unit_random() -> f64 {
    let mut random = [0u8; 2];
    let _ = getrandom::fill(&mut random);
    f64::from(u16::from_le_bytes(random)) / 65536.0
}

/// How often an appender looks again at a newest record that is not locked yet, and for how
/// long before it refuses to extend it.
const UNLOCKED_POLL: Duration = Duration::from_millis(20);
const UNLOCKED_WAIT: Duration = Duration::from_secs(15);

/// Append one record to the log in `store` (see the module docs).
pub async fn append(
    store: &dyn ImmutableStore,
    new: &NewRecord,
    signer: &Signer,
    options: &WriteOptions,
) -> Result<Record, StoreLogError> {
    let target = store.target();
    let mut unlocked_head: Option<String> = None;
    // The newest sequence this writer knows to exist (one it lost to another writer).
    let mut known = 0u64;
    let mut attempt = 0u32;
    let mut waited = Duration::ZERO;
    while attempt < options.max_attempts.max(1) {
        let started = std::time::Instant::now();
        let found = find_head_from(store, known).await?;
        if !found.locked {
            // Its writer may be setting the lock right now (a store that locks after the
            // write): poll that record's lock briefly (one HEAD each), without counting it as
            // a lost claim. Extending a record that stays unlocked for UNLOCKED_WAIT is refused.
            let key = found.key.clone().unwrap_or_default();
            unlocked_head = found.key;
            if waited >= UNLOCKED_WAIT {
                break;
            }
            loop {
                let pause = jitter(UNLOCKED_POLL);
                tokio::time::sleep(pause).await;
                waited += pause;
                let locked = store
                    .head_untagged(&key)
                    .await
                    .map_err(StoreLogError::store(target))?
                    .is_some_and(|o| o.retention_mode.is_some());
                if locked || waited >= UNLOCKED_WAIT {
                    break;
                }
            }
            known = found.head.sequence;
            continue;
        }
        attempt += 1;
        unlocked_head = None;
        let head = found.head;
        refuse_if_cut_back(store, head.sequence).await?;
        let sequence = head.sequence + 1;
        let body = new.body(sequence, head.record_hash.as_deref());
        let canonical = Canonical::of(&body);
        let record_hash = canonical.record_hash();
        let mut fields = body;
        if let Some(signature) = signer
            .sign(&canonical.signed_payload(&record_hash))
            .map_err(|e| StoreLogError::Audit(e.into()))?
        {
            fields.insert("signature".into(), signature);
        }
        fields.insert("record_hash".into(), Value::from(record_hash.clone()));
        let record = Record { fields };
        let line = record.to_line();
        let key = layout::record_key(target, sequence);
        match store_record(store, &key, line.as_bytes(), &record_hash, options).await {
            Ok(()) => return Ok(record),
            Err(error) if error.is_already_exists() => {
                known = sequence;
                tokio::time::sleep(backoff(attempt - 1, started.elapsed())).await;
            }
            Err(other) => return Err(other),
        }
    }
    if let Some(key) = unlocked_head {
        return Err(StoreLogError::Corrupt {
            log: target.to_string(),
            key,
            problem: format!(
                "the newest record is still not locked after {} s (its writer died between writing and locking it — a store that ignores the lock headers on write, like the Azure WORM stand-in, locks right after — or something else wrote it); refusing to extend it. Check it with `wormvault audit verify --log {target}` (it must be the only finding), lock that object with the log's retention ({} days; on Azure a Locked immutability policy on the blob), then append again",
                UNLOCKED_WAIT.as_secs(),
                super::MIN_RETENTION_DAYS
            ),
        });
    }
    Err(StoreLogError::Contended {
        log: target.to_string(),
        attempts: options.max_attempts.max(1),
    })
}

/// Create-only, locked write of one record object, then read it back: the bytes must be the
/// line and the lock what was asked. AlreadyExists is passed on for the caller to decide.
pub async fn store_record(
    store: &dyn ImmutableStore,
    key: &str,
    line: &[u8],
    record_hash: &str,
    options: &WriteOptions,
) -> Result<(), StoreLogError> {
    let lock = options.lock();
    let stored = put_record(store, key, line, record_hash, &lock).await?;
    read_back(store, store.target(), key, line, &stored, &lock).await
}

/// The create-only, locked write of [`store_record`] without its read-back (the caller reads
/// back later, with the returned receipt). AlreadyExists is passed on.
pub async fn put_record(
    store: &dyn ImmutableStore,
    key: &str,
    line: &[u8],
    record_hash: &str,
    lock: &crate::store::LockSpec,
) -> Result<StoredObject, StoreLogError> {
    let mut metadata = BTreeMap::new();
    metadata.insert("record-hash".to_string(), record_hash.to_string());
    let stored = store
        .put_bytes(&PutBytes {
            key,
            bytes: line,
            lock: lock.clone(),
            metadata,
            content_type: Some("application/x-ndjson"),
        })
        .await
        .map_err(StoreLogError::store(store.target()))?;
    Ok(stored)
}

/// Check one just-written object against what was written: its bytes and its lock. `stored` is
/// the store's receipt for the write ([`ImmutableStore::put_bytes`]). Where that receipt proves
/// the bytes ([`DigestSource::Verified`](crate::store::DigestSource): S3's own checksum of what it holds,
/// read back after the write) and names exactly these bytes, the receipt is the read-back;
/// otherwise the version is read again and compared byte for byte. The lock is checked either
/// way.
pub async fn read_back(
    store: &dyn ImmutableStore,
    target: &Target,
    key: &str,
    expected: &[u8],
    stored: &StoredObject,
    lock: &crate::store::LockSpec,
) -> Result<(), StoreLogError> {
    let fail = |problem: String| StoreLogError::ReadBack {
        log: target.to_string(),
        key: key.to_string(),
        problem,
    };
    let proven = stored.sha256_source == crate::store::DigestSource::Verified
        && stored.size == expected.len() as u64
        && stored.sha256.as_deref() == Some(crate::hashing::sha256_hex(expected).as_str());
    // The lock as the store reports it: from the receipt, or from the read that checked the bytes.
    let (retention_mode, retain_until, legal_hold) = if proven {
        (
            stored.retention_mode,
            stored.retain_until,
            stored.legal_hold,
        )
    } else {
        let fetched = store
            .get_bytes(
                key,
                stored.version_id.as_deref(),
                MAX_RECORD_BYTES.max(expected.len() as u64),
            )
            .await
            .map_err(StoreLogError::store(target))?
            .ok_or_else(|| fail("the object is not there".into()))?;
        if fetched.bytes != expected {
            return Err(fail("the stored bytes differ from what was written".into()));
        }
        (
            fetched.retention_mode,
            fetched.retain_until,
            fetched.legal_hold,
        )
    };
    if retention_mode != Some(lock.mode) {
        return Err(fail(format!(
            "the store reports lock mode {}, not {}",
            retention_mode.map_or("none".to_string(), |m| m.to_string()),
            lock.mode
        )));
    }
    // Stores round retain-until to whole seconds.
    let wanted = lock.retain_until - chrono::Duration::seconds(1);
    if retain_until.is_none_or(|until| until < wanted) {
        return Err(fail(format!(
            "the store reports retain-until {}, earlier than {}",
            retain_until.map_or("none".to_string(), |t| t.to_rfc3339()),
            lock.retain_until
        )));
    }
    if lock.legal_hold && legal_hold != Some(true) {
        return Err(fail("the legal hold asked for is not set".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        Enforcement, FetchedObject, LockSpec, PreflightOptions, PreflightReport, Progress,
        PutObject, RetentionMode, StoreError,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A store that holds one object and counts the reads of it.
    struct Receipts {
        target: Target,
        held: FetchedObject,
        gets: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ImmutableStore for Receipts {
        fn target(&self) -> &Target {
            &self.target
        }
        async fn preflight(&self, _: &PreflightOptions) -> Result<PreflightReport, StoreError> {
            unimplemented!()
        }
        async fn put(
            &self,
            _: &PutObject<'_>,
            _: Progress<'_>,
        ) -> Result<StoredObject, StoreError> {
            unimplemented!()
        }
        async fn head(&self, _: &str) -> Result<Option<StoredObject>, StoreError> {
            unimplemented!()
        }
        async fn list(&self, _: &str) -> Result<Vec<StoredObject>, StoreError> {
            unimplemented!()
        }
        async fn set_legal_hold(
            &self,
            _: &str,
            _: Option<&str>,
            _: bool,
        ) -> Result<StoredObject, StoreError> {
            unimplemented!()
        }
        async fn download(
            &self,
            _: &str,
            _: Option<&str>,
            _: &std::path::Path,
        ) -> Result<String, StoreError> {
            unimplemented!()
        }
        async fn delete(&self, _: &str, _: Option<&str>) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn get_bytes(
            &self,
            _: &str,
            _: Option<&str>,
            _: u64,
        ) -> Result<Option<FetchedObject>, StoreError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            Ok(Some(self.held.clone()))
        }
    }

    const LINE: &[u8] = b"{\"sequence\": 7}\n";

    fn lock() -> LockSpec {
        LockSpec {
            mode: RetentionMode::Compliance,
            retain_until: chrono::Utc::now() + chrono::Duration::days(2555),
            legal_hold: false,
        }
    }

    fn store(held: &[u8]) -> Receipts {
        let lock = lock();
        Receipts {
            target: Target::parse("s3://bucket/audit").unwrap(),
            held: FetchedObject {
                bytes: held.to_vec(),
                version_id: Some("v1".into()),
                retention_mode: Some(lock.mode),
                retain_until: Some(lock.retain_until),
                legal_hold: Some(false),
            },
            gets: AtomicUsize::new(0),
        }
    }

    /// The receipt a write of `bytes` gets, with `mode` as its lock and a digest that proves the
    /// bytes (`proves`: the store's own) or is only the writer's record.
    fn receipt(bytes: &[u8], mode: RetentionMode, proves: bool) -> StoredObject {
        StoredObject {
            key: "audit/records/7.json".into(),
            version_id: Some("v1".into()),
            etag: None,
            size: bytes.len() as u64,
            sha256: Some(crate::hashing::sha256_hex(bytes)),
            sha256_source: if proves {
                crate::store::DigestSource::Verified
            } else {
                crate::store::DigestSource::Claimed
            },
            md5: None,
            retention_mode: Some(mode),
            retain_until: Some(lock().retain_until),
            legal_hold: Some(false),
            tags: Default::default(),
            last_modified: None,
            request_id: None,
            enforcement: Enforcement::Store,
            is_latest: true,
        }
    }

    async fn check(store: &Receipts, stored: &StoredObject) -> Result<(), StoreLogError> {
        read_back(store, store.target(), "k", LINE, stored, &lock()).await
    }

    #[tokio::test]
    async fn a_receipt_that_proves_the_bytes_is_the_read_back() {
        // The store's own checksum names exactly these bytes: no second read.
        let held = store(LINE);
        check(&held, &receipt(LINE, RetentionMode::Compliance, true))
            .await
            .unwrap();
        assert_eq!(held.gets.load(Ordering::SeqCst), 0);

        // A proven receipt for other bytes proves nothing: the object is read, and it differs.
        let other = store(b"other\n");
        let error = check(
            &other,
            &receipt(b"other\n", RetentionMode::Compliance, true),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&error, StoreLogError::ReadBack { problem, .. } if problem.contains("differ")),
            "{error}"
        );
        assert_eq!(other.gets.load(Ordering::SeqCst), 1);

        // A receipt carrying the writer's own digest is always read back.
        let held = store(LINE);
        check(&held, &receipt(LINE, RetentionMode::Compliance, false))
            .await
            .unwrap();
        assert_eq!(held.gets.load(Ordering::SeqCst), 1);
        let tampered = store(b"tampered\n");
        assert!(
            check(&tampered, &receipt(LINE, RetentionMode::Compliance, false))
                .await
                .is_err()
        );
        assert_eq!(tampered.gets.load(Ordering::SeqCst), 1);

        // The lock is checked from the receipt too: the wrong mode fails without a read.
        let held = store(LINE);
        let error = check(&held, &receipt(LINE, RetentionMode::Governance, true))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, StoreLogError::ReadBack { problem, .. } if problem.contains("lock mode")),
            "{error}"
        );
        assert_eq!(held.gets.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn backoff_is_spread_over_the_lost_attempts_scale_and_bounded() {
        for (attempt, lost_ms, ceiling_ms) in [
            (0, 0, 10),    // a lost attempt faster than the floor waits up to the floor
            (0, 150, 150), // one attempt's duration
            (1, 150, 300), // doubled per loss
            (3, 150, 1200),
            (4, 150, 2000),  // capped at 2 s
            (30, 150, 2000), // a huge attempt count neither overflows nor exceeds the cap
            (0, 60_000, 2000),
        ] {
            let ceiling = Duration::from_millis(ceiling_ms);
            let pauses: Vec<Duration> = (0..400)
                .map(|_| backoff(attempt, Duration::from_millis(lost_ms)))
                .collect();
            assert!(
                pauses.iter().all(|p| *p < ceiling),
                "attempt {attempt}, lost {lost_ms} ms: a pause reached {ceiling_ms} ms"
            );
            // Spread over the whole range, not bunched at one end (full jitter): some pauses
            // in the lowest quarter and some in the highest, with overwhelming probability.
            assert!(
                pauses.iter().any(|p| *p < ceiling / 4),
                "{attempt}/{lost_ms}"
            );
            assert!(
                pauses.iter().any(|p| *p > ceiling * 3 / 4),
                "{attempt}/{lost_ms}"
            );
        }
    }
}
