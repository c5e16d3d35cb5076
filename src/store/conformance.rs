//! The storage conformance suite: the behaviour every [`ImmutableStore`] backend must show,
//! checked against the real store (local vault, LocalStack, Azurite + stand-in). Backends' tests
//! call [`run`] and assert that no check failed.
//!
//! Each check writes under a caller-chosen unique prefix, so runs never collide.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, Utc};

use super::{ImmutableStore, LockSpec, PutObject, RetentionMode, StoreError, compare};

/// Outcome of one conformance check.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: &'static str,
    pub failure: Option<String>,
}

/// Run every check. `scratch` is a writable local directory for source and downloaded files;
/// `prefix` a unique key prefix in the store. Returns every check's result (a failing backend
/// error is a failed check, not an early return).
pub async fn run(store: &dyn ImmutableStore, scratch: &Path, prefix: &str) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let mut record = |name: &'static str, outcome: Result<(), String>| {
        results.push(CheckResult {
            name,
            failure: outcome.err(),
        });
    };

    let body = b"conformance evidence\n".repeat(1000);
    let source = scratch.join("conformance-source.bin");
    if let Err(e) = std::fs::write(&source, &body) {
        record(
            "setup",
            Err(format!("cannot write {}: {e}", source.display())),
        );
        return results;
    }
    let sha256 = crate::hashing::sha256_hex(&body);
    let retain_until = (Utc::now() + Duration::days(2)).with_nanosecond_zero();
    let key = format!("{prefix}/conformance/object.bin");
    let mut tags = BTreeMap::new();
    tags.insert("wormvault-session".to_string(), "conformance".to_string());
    let object = PutObject {
        key: key.clone(),
        source: &source,
        size: body.len() as u64,
        sha256: sha256.clone(),
        lock: LockSpec {
            mode: RetentionMode::Compliance,
            retain_until,
            legal_hold: false,
        },
        tags: tags.clone(),
        metadata: BTreeMap::from([("sha256".to_string(), sha256.clone())]),
        content_type: Some("application/octet-stream".into()),
    };

    record(
        "head_of_missing_key_is_none",
        match store.head(&format!("{prefix}/conformance/missing")).await {
            Ok(None) => Ok(()),
            Ok(Some(found)) => Err(format!("expected None, got {found:?}")),
            Err(e) => Err(e.to_string()),
        },
    );

    let put = store.put(&object, &|_| {}).await;
    let written = match put {
        Ok(stored) => {
            record("put_creates_object", Ok(()));
            Some(stored)
        }
        Err(e) => {
            record("put_creates_object", Err(e.to_string()));
            None
        }
    };
    if written.is_none() {
        return results;
    }

    record(
        "head_reports_checksum_and_lock",
        match store.head(&key).await {
            Ok(Some(found)) => check_state(&found, &sha256, body.len() as u64, retain_until, false),
            Ok(None) => Err("object missing after put".into()),
            Err(e) => Err(e.to_string()),
        },
    );

    record(
        "head_reports_tags",
        match store.head(&key).await {
            Ok(Some(found))
                if found.tags.get("wormvault-session").map(String::as_str)
                    == Some("conformance") =>
            {
                Ok(())
            }
            Ok(Some(found)) => Err(format!("tags read back as {:?}", found.tags)),
            Ok(None) => Err("object missing".into()),
            Err(e) => Err(e.to_string()),
        },
    );

    record(
        "put_is_create_only",
        match store.put(&object, &|_| {}).await {
            Err(StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(format!("expected AlreadyExists, got error {e}")),
            Ok(_) => Err("second put of the same key succeeded".into()),
        },
    );

    record(
        "list_shows_one_version",
        match store.list(&format!("{prefix}/conformance/")).await {
            Ok(list) => {
                let versions: Vec<_> = list.iter().filter(|o| o.key == key).collect();
                if versions.len() == 1 && versions[0].is_latest {
                    Ok(())
                } else {
                    Err(format!(
                        "expected exactly one latest version of {key}, found {versions:?}"
                    ))
                }
            }
            Err(e) => Err(e.to_string()),
        },
    );

    record(
        "delete_is_refused_while_retained",
        match store.delete(&key, None).await {
            Err(StoreError::Protected { .. }) => Ok(()),
            Err(e) => Err(format!("expected Protected, got error {e}")),
            Ok(()) => Err("delete of a retained object succeeded".into()),
        },
    );

    record(
        "legal_hold_set_and_read_back",
        match store.set_legal_hold(&key, None, true).await {
            Ok(state) if state.legal_hold == Some(true) => match store.head(&key).await {
                Ok(Some(found)) if found.legal_hold == Some(true) => Ok(()),
                other => Err(format!("hold not visible on head: {other:?}")),
            },
            Ok(state) => Err(format!("hold read back as {:?}", state.legal_hold)),
            Err(e) => Err(e.to_string()),
        },
    );

    record(
        "legal_hold_release",
        match store.set_legal_hold(&key, None, false).await {
            Ok(state) if state.legal_hold == Some(false) => Ok(()),
            Ok(state) => Err(format!("hold read back as {:?}", state.legal_hold)),
            Err(e) => Err(e.to_string()),
        },
    );

    let dest = scratch.join("conformance-download.bin");
    let _ = std::fs::remove_file(&dest);
    record(
        "download_round_trips",
        match store.download(&key, None, &dest).await {
            Ok(hash)
                if hash == sha256 && std::fs::read(&dest).map(|d| d == body).unwrap_or(false) =>
            {
                Ok(())
            }
            Ok(hash) => Err(format!("downloaded SHA-256 {hash}, expected {sha256}")),
            Err(e) => Err(e.to_string()),
        },
    );

    // A wrong checksum must be refused by the store, not stored.
    let bad_key = format!("{prefix}/conformance/bad-checksum.bin");
    let bad = PutObject {
        key: bad_key.clone(),
        sha256: "00".repeat(32),
        ..object.clone()
    };
    record(
        "wrong_checksum_refused",
        match store.put(&bad, &|_| {}).await {
            Err(StoreError::AlreadyExists { .. }) => Err("unexpected AlreadyExists".into()),
            Err(_) => match store.head(&bad_key).await {
                Ok(None) => Ok(()),
                Ok(Some(_)) => Err("refused put left an object behind".into()),
                Err(e) => Err(e.to_string()),
            },
            Ok(_) => Err("put with a wrong SHA-256 succeeded".into()),
        },
    );

    // Small objects written from memory (audit records, checkpoints): create-only, locked, and
    // the receipt is what the store holds; then the name listing pages them and says where the
    // listing ends.
    let small_prefix = format!("{prefix}/conformance/small/");
    let small_lock = LockSpec {
        mode: RetentionMode::Compliance,
        retain_until,
        legal_hold: false,
    };
    let mut small_keys = Vec::new();
    let mut small_failure = None;
    for n in 0..3 {
        let small_key = format!("{small_prefix}{n:04}.json");
        let bytes = format!("{{\"n\": {n}}}\n");
        let put = store
            .put_bytes(&super::PutBytes {
                key: &small_key,
                bytes: bytes.as_bytes(),
                lock: small_lock.clone(),
                metadata: BTreeMap::new(),
                content_type: Some("application/json"),
            })
            .await;
        let outcome = match put {
            Ok(stored) => {
                check_small(store, &small_key, bytes.as_bytes(), &stored, &small_lock).await
            }
            Err(e) => Err(format!("put_bytes {small_key}: {e}")),
        };
        if let Err(e) = outcome {
            small_failure = Some(e);
            break;
        }
        small_keys.push((small_key, bytes));
    }
    record(
        "put_bytes_stores_locked_bytes",
        small_failure.map_or(Ok(()), Err),
    );
    if let Some((first_key, first_bytes)) = small_keys.first() {
        record(
            "put_bytes_is_create_only",
            match store
                .put_bytes(&super::PutBytes {
                    key: first_key,
                    bytes: b"other bytes\n",
                    lock: small_lock.clone(),
                    metadata: BTreeMap::new(),
                    content_type: None,
                })
                .await
            {
                Err(StoreError::AlreadyExists { .. }) => {
                    match store.get_bytes(first_key, None, 1024).await {
                        Ok(Some(found)) if found.bytes == first_bytes.as_bytes() => Ok(()),
                        other => Err(format!("{first_key} after the refused write: {other:?}")),
                    }
                }
                Err(e) => Err(format!("expected AlreadyExists, got error {e}")),
                Ok(_) => Err(format!("a second put_bytes of {first_key} succeeded")),
            },
        );
    }
    if small_keys.len() == 3 {
        let keys: Vec<&str> = small_keys.iter().map(|(k, _)| k.as_str()).collect();
        record(
            "list_after_pages_and_ends",
            check_list_after(store, &small_prefix, &keys).await,
        );
    }

    results
}

/// A small object's receipt and read-back: the lock asked for, and the bytes written (from the
/// receipt's SHA-256 where the receipt says the store proved it, and from `get_bytes` always).
async fn check_small(
    store: &dyn ImmutableStore,
    key: &str,
    bytes: &[u8],
    stored: &super::StoredObject,
    lock: &LockSpec,
) -> Result<(), String> {
    if stored.retention_mode != Some(lock.mode)
        || stored.retain_until.is_none_or(|u| u < lock.retain_until)
    {
        return Err(format!(
            "{key}: receipt lock {:?} until {:?}, asked {} until {}",
            stored.retention_mode, stored.retain_until, lock.mode, lock.retain_until
        ));
    }
    let sha256 = crate::hashing::sha256_hex(bytes);
    if stored.sha256_source == super::DigestSource::Verified
        && stored.sha256.as_deref() != Some(sha256.as_str())
    {
        return Err(format!(
            "{key}: the receipt says the store proved the content, but it reports SHA-256 {:?}, not {sha256}",
            stored.sha256
        ));
    }
    match store
        .get_bytes(key, stored.version_id.as_deref(), 1024)
        .await
    {
        Ok(Some(found)) if found.bytes == bytes && found.retention_mode == Some(lock.mode) => {
            Ok(())
        }
        Ok(Some(found)) => Err(format!(
            "{key} read back as {:?} with lock {:?}",
            String::from_utf8_lossy(&found.bytes),
            found.retention_mode
        )),
        Ok(None) => Err(format!("{key} missing after put_bytes")),
        Err(e) => Err(format!("get_bytes {key}: {e}")),
    }
}

/// `list_after` over `keys` (sorted, the only keys under `prefix`): one key per page when asked
/// for one, never a page that claims to end the listing while keys follow, every key once in
/// order, and nothing after the last key.
async fn check_list_after(
    store: &dyn ImmutableStore,
    prefix: &str,
    keys: &[&str],
) -> Result<(), String> {
    let listed_keys = |page: &super::ListedPage| {
        let mut keys: Vec<String> = page.versions.iter().map(|v| v.key.clone()).collect();
        keys.dedup();
        keys
    };
    // Page by page, one key at a time.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..=keys.len() {
        let page = store
            .list_after(prefix, after.as_deref(), 1)
            .await
            .map_err(|e| format!("list_after({after:?}, 1): {e}"))?;
        let page_keys = listed_keys(&page);
        if page_keys.len() > 1 {
            return Err(format!("a page of at most 1 entry held keys {page_keys:?}"));
        }
        seen.extend(page_keys.iter().cloned());
        if page.complete && seen.len() < keys.len() {
            return Err(format!(
                "the page after {after:?} says the listing ends, but only {seen:?} of {keys:?} were listed"
            ));
        }
        match page.next_after() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if seen != keys {
        return Err(format!("listed one at a time: {seen:?}, expected {keys:?}"));
    }
    // All at once: every key, and if the page does not say it ends, the next page is empty.
    let page = store
        .list_after(prefix, None, 1000)
        .await
        .map_err(|e| format!("list_after(None, 1000): {e}"))?;
    if listed_keys(&page) != keys {
        return Err(format!(
            "listed at once: {:?}, expected {keys:?}",
            listed_keys(&page)
        ));
    }
    let last = keys.last().copied();
    let rest = store
        .list_after(prefix, last, 1000)
        .await
        .map_err(|e| format!("list_after({last:?}, 1000): {e}"))?;
    if !rest.versions.is_empty() {
        return Err(format!("after the last key: {:?}", listed_keys(&rest)));
    }
    Ok(())
}

fn check_state(
    found: &super::StoredObject,
    sha256: &str,
    size: u64,
    retain_until: chrono::DateTime<Utc>,
    legal_hold: bool,
) -> Result<(), String> {
    // What every backend must show right after a compliance-mode write: this content, a lock at
    // least as long as asked (whole seconds; `retain_until` has none), the hold exactly as asked,
    // and an enforcement the store or the tool confirms.
    let rules = compare::Rules {
        retain_until: compare::RetainRule::AtLeast,
        legal_hold: compare::HoldRule::Exactly,
        lock: compare::LockRule::Always,
        hex: compare::HexCase::Exact,
        require_confirmed: true,
    };
    let expected = compare::Expected {
        sha256: Some(sha256),
        bytes: Some(size),
        lock: Some(compare::ExpectedLock {
            mode: Some(RetentionMode::Compliance),
            retain_until: Some(retain_until),
            legal_hold: Some(legal_hold),
        }),
        ..compare::Expected::default()
    };
    let problems = compare::differences(&found.key, &expected, found, rules);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems
            .iter()
            .map(|m| format!("{} {} != {}", m.field, m.found, m.expected))
            .collect::<Vec<_>>()
            .join("; "))
    }
}

trait WholeSeconds {
    fn with_nanosecond_zero(self) -> Self;
}

impl WholeSeconds for chrono::DateTime<Utc> {
    /// Stores keep retain-until at second precision; compare like with like.
    fn with_nanosecond_zero(self) -> Self {
        chrono::Timelike::with_nanosecond(&self, 0).unwrap_or(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Target, local::LocalVault};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_vault_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let vault_dir = dir.path().join("vault");
        let target = Target::parse(&format!("file://{}", vault_dir.display())).unwrap();
        let vault = LocalVault::open(target).unwrap();
        let results = run(&vault, dir.path(), "run-1").await;
        let failures: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
        assert!(failures.is_empty(), "conformance failures: {failures:#?}");
        assert!(results.len() >= 10);
        // SnapLock convention on disk: read-only file, atime = retain-until.
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(vault_dir.join("run-1/conformance/object.bin")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o444);
        let atime: chrono::DateTime<Utc> = meta.accessed().unwrap().into();
        assert!(atime > Utc::now() + Duration::days(1));
    }
}
