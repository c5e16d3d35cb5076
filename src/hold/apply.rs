//! Setting store flags at scale: bounded concurrency, retries with jittered exponential backoff
//! on throttling and transient errors, every flag read back, progress with total and ETA.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use super::registry::VersionRef;
use crate::store::{ImmutableStore, StoreError};

/// Default number of flag requests in flight.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// Attempts per object before giving up on a retryable error.
const MAX_ATTEMPTS: u32 = 8;
/// First backoff; doubled per attempt up to [`MAX_BACKOFF`], with full jitter.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One flag to make true in the store.
#[derive(Debug, Clone)]
pub struct FlagChange {
    pub version: VersionRef,
    pub hold: bool,
    /// The flag as listed just before; when it already matches no request is sent (the listing
    /// is the store's own report, read moments ago).
    pub listed: Option<bool>,
}

/// The result for one object version.
#[derive(Debug, Clone, Serialize)]
pub struct FlagOutcome {
    pub key: String,
    pub version_id: Option<String>,
    /// The flag as read back from the store (`None` when the request failed).
    pub legal_hold: Option<bool>,
    pub wanted: bool,
    /// A request was sent (false: the listed flag already matched).
    pub changed: bool,
    pub attempts: u32,
    pub ok: bool,
    pub error: Option<String>,
}

/// Progress of a run: `done` of `total` object versions, and the estimated time left.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Tick {
    pub done: usize,
    pub total: usize,
    pub eta_seconds: Option<f64>,
    pub per_second: f64,
}

/// Is this error worth retrying (throttling, timeouts, 5xx)? Refusals and not-found are not.
pub fn retryable(error: &StoreError) -> bool {
    let text = match error {
        StoreError::Cloud { message, .. } => message.as_str(),
        StoreError::NotHonoured { detail, .. } => detail.as_str(),
        StoreError::Io { source, .. } => {
            return matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut
            );
        }
        _ => return false,
    };
    const MARKERS: [&str; 14] = [
        "SlowDown",
        "Throttl",
        "TooManyRequests",
        "RequestLimitExceeded",
        "ServerBusy",
        "OperationTimedOut",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "429",
        "500",
        "timed out",
        "timeout",
        "dispatch failure",
    ];
    MARKERS.iter().any(|m| text.contains(m))
}

fn backoff(attempt: u32) -> Duration {
    let cap = BASE_BACKOFF
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    // Full jitter (AWS architecture blog, "Exponential Backoff and Jitter").
    let nanos = cap.as_nanos() as u64;
    let seed = Instant::now().elapsed().as_nanos() as u64
        ^ (std::process::id() as u64).rotate_left(17)
        ^ (attempt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mixed = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (seed >> 29);
    Duration::from_nanos(if nanos == 0 { 0 } else { mixed % nanos })
}

async fn one(store: &dyn ImmutableStore, change: FlagChange) -> FlagOutcome {
    let FlagChange {
        version,
        hold,
        listed,
    } = change;
    let mut outcome = FlagOutcome {
        key: version.key.clone(),
        version_id: version.version_id.clone(),
        legal_hold: None,
        wanted: hold,
        changed: false,
        attempts: 0,
        ok: false,
        error: None,
    };
    if listed == Some(hold) {
        outcome.legal_hold = listed;
        outcome.ok = true;
        return outcome;
    }
    outcome.changed = true;
    loop {
        outcome.attempts += 1;
        match store
            .set_legal_hold(&version.key, version.version_id.as_deref(), hold)
            .await
        {
            Ok(state) if state.legal_hold == Some(hold) => {
                outcome.legal_hold = state.legal_hold;
                outcome.ok = true;
                outcome.error = None;
                return outcome;
            }
            Ok(state) => {
                outcome.legal_hold = state.legal_hold;
                outcome.error = Some(format!(
                    "the store reports legal hold {} after the request",
                    match state.legal_hold {
                        Some(true) => "on",
                        Some(false) => "off",
                        None => "not reported",
                    }
                ));
                return outcome;
            }
            // Releasing a version that is gone: there is no flag left to clear.
            Err(StoreError::NotFound { .. }) if !hold => {
                outcome.ok = true;
                outcome.error = None;
                return outcome;
            }
            Err(error) if retryable(&error) && outcome.attempts < MAX_ATTEMPTS => {
                tokio::time::sleep(backoff(outcome.attempts)).await;
            }
            Err(error) => {
                outcome.error = Some(error.to_string());
                return outcome;
            }
        }
    }
}

/// Apply every change with at most `concurrency` requests in flight. `progress` is called after
/// each object version with the running totals.
pub async fn apply(
    store: &dyn ImmutableStore,
    changes: Vec<FlagChange>,
    concurrency: usize,
    progress: &(dyn Fn(Tick) + Send + Sync),
) -> Vec<FlagOutcome> {
    let total = changes.len();
    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let mut outcomes: Vec<FlagOutcome> = futures::stream::iter(changes)
        .map(|change| {
            let done = done.clone();
            async move {
                let outcome = one(store, change).await;
                let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
                let elapsed = started.elapsed().as_secs_f64();
                let per_second = if elapsed > 0.0 {
                    finished as f64 / elapsed
                } else {
                    0.0
                };
                progress(Tick {
                    done: finished,
                    total,
                    eta_seconds: (per_second > 0.0).then(|| (total - finished) as f64 / per_second),
                    per_second,
                });
                outcome
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    outcomes.sort_by(|a, b| (&a.key, &a.version_id).cmp(&(&b.key, &b.version_id)));
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        Enforcement, PreflightOptions, PreflightReport, Progress, PutObject, StoredObject, Target,
    };
    use std::path::Path;
    use std::sync::Mutex;

    /// A store that throttles the first two hold requests per key and counts requests in flight.
    struct Throttling {
        target: Target,
        attempts: Mutex<std::collections::HashMap<String, u32>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ImmutableStore for Throttling {
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
            key: &str,
            version_id: Option<&str>,
            hold: bool,
        ) -> Result<StoredObject, StoreError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let attempt = {
                let mut attempts = self.attempts.lock().unwrap();
                let n = attempts.entry(key.to_string()).or_default();
                *n += 1;
                *n
            };
            if attempt <= 2 {
                return Err(StoreError::Cloud {
                    target: "s3://b/".into(),
                    operation: "PutObjectLegalHold".into(),
                    key: Some(key.into()),
                    message: "SlowDown: Please reduce your request rate.".into(),
                });
            }
            Ok(StoredObject {
                key: key.into(),
                version_id: version_id.map(str::to_string),
                etag: None,
                size: 0,
                sha256: None,
                sha256_source: crate::store::DigestSource::Claimed,
                md5: None,
                retention_mode: None,
                retain_until: None,
                legal_hold: Some(hold),
                tags: Default::default(),
                last_modified: None,
                request_id: None,
                enforcement: Enforcement::Store,
                is_latest: true,
            })
        }
        async fn download(&self, _: &str, _: Option<&str>, _: &Path) -> Result<String, StoreError> {
            unimplemented!()
        }
        async fn delete(&self, _: &str, _: Option<&str>) -> Result<(), StoreError> {
            unimplemented!()
        }
    }

    #[tokio::test]
    async fn throttled_requests_are_retried_within_the_concurrency_bound() {
        let store = Throttling {
            target: Target::parse("s3://bucket/p").unwrap(),
            attempts: Default::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        };
        let changes: Vec<FlagChange> = (0..40)
            .map(|i| FlagChange {
                version: VersionRef {
                    key: format!("p/{i}"),
                    version_id: Some("v".into()),
                },
                hold: true,
                listed: Some(false),
            })
            .collect();
        let ticks = AtomicUsize::new(0);
        let outcomes = apply(&store, changes, 4, &|t| {
            assert_eq!(t.total, 40);
            ticks.fetch_add(1, Ordering::SeqCst);
        })
        .await;
        assert_eq!(outcomes.len(), 40);
        assert!(
            outcomes
                .iter()
                .all(|o| o.ok && o.attempts == 3 && o.legal_hold == Some(true))
        );
        assert!(store.max_in_flight.load(Ordering::SeqCst) <= 4);
        assert_eq!(ticks.load(Ordering::SeqCst), 40);
    }

    #[test]
    fn throttling_is_retried_refusals_are_not() {
        let cloud = |message: &str| StoreError::Cloud {
            target: "s3://b/p".into(),
            operation: "PutObjectLegalHold".into(),
            key: Some("k".into()),
            message: message.into(),
        };
        assert!(retryable(&cloud(
            "SlowDown: Please reduce your request rate"
        )));
        assert!(retryable(&cloud("service error: 503 Service Unavailable")));
        assert!(!retryable(&cloud("AccessDenied")));
        assert!(!retryable(&StoreError::NotFound {
            target: "t".into(),
            key: "k".into()
        }));
        for attempt in 0..20 {
            assert!(backoff(attempt) <= MAX_BACKOFF);
        }
    }
}
