//! Key names of a log in a store (docs/audit-store.md §2): `<prefix>/records/<seq, 20 digits>.json`
//! and `<prefix>/checkpoints/<size, 20 digits>`. Twenty digits sort numerically in byte order,
//! which is how every store lists keys.

use crate::store::Target;

const RECORDS: &str = "records";
const CHECKPOINTS: &str = "checkpoints";
const BUNDLES: &str = "bundles";

/// Records per record bundle (as a tlog-tiles entry bundle holds 256 entries).
pub const BUNDLE_SIZE: u64 = 256;

/// `<prefix>/<dir>/` (no leading slash when the prefix is empty).
fn dir(target: &Target, dir: &str) -> String {
    format!("{}/", target.key(dir))
}

pub fn records_prefix(target: &Target) -> String {
    dir(target, RECORDS)
}

pub fn checkpoints_prefix(target: &Target) -> String {
    dir(target, CHECKPOINTS)
}

pub fn record_key(target: &Target, sequence: u64) -> String {
    format!("{}{sequence:020}.json", records_prefix(target))
}

pub fn checkpoint_key(target: &Target, size: u64) -> String {
    format!("{}{size:020}", checkpoints_prefix(target))
}

pub fn bundles_prefix(target: &Target) -> String {
    dir(target, BUNDLES)
}

/// The bundle of records `first..first + 255` (`first` = 256·k + 1).
pub fn bundle_key(target: &Target, first: u64) -> String {
    format!("{}{first:020}", bundles_prefix(target))
}

/// The first record of the bundle holding record `sequence`.
pub fn bundle_first(sequence: u64) -> u64 {
    (sequence.max(1) - 1) / BUNDLE_SIZE * BUNDLE_SIZE + 1
}

/// The first sequence a bundle key names, if it is exactly a bundle key of this log.
pub fn bundle_start(target: &Target, key: &str) -> Option<u64> {
    number(key.strip_prefix(&bundles_prefix(target))?)
        .filter(|first| bundle_first(*first) == *first)
}

/// The sequence a record key names, if it is exactly a record key of this log.
pub fn record_sequence(target: &Target, key: &str) -> Option<u64> {
    let digits = key
        .strip_prefix(&records_prefix(target))?
        .strip_suffix(".json")?;
    number(digits)
}

/// The tree size a checkpoint key names, if it is exactly a checkpoint key of this log.
pub fn checkpoint_size(target: &Target, key: &str) -> Option<u64> {
    number(key.strip_prefix(&checkpoints_prefix(target))?)
}

fn number(digits: &str) -> Option<u64> {
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sort_numerically() {
        let target = Target::parse("s3://bucket/logs/release").unwrap();
        let key = record_key(&target, 42);
        assert_eq!(key, "logs/release/records/00000000000000000042.json");
        assert_eq!(record_sequence(&target, &key), Some(42));
        assert!(record_key(&target, 9) < record_key(&target, 10));
        assert_eq!(
            record_sequence(&target, "logs/release/records/42.json"),
            None
        );
        assert_eq!(
            record_sequence(&target, "other/records/00000000000000000042.json"),
            None
        );
        let bare = Target::parse("s3://bucket").unwrap();
        assert_eq!(checkpoint_key(&bare, 7), "checkpoints/00000000000000000007");
        assert_eq!(
            checkpoint_size(&bare, "checkpoints/00000000000000000007"),
            Some(7)
        );
    }
}
