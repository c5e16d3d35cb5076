//! The newest anchor of a store log (issue #17 item 6): the signed checkpoint with the largest
//! tree size under `<prefix>/checkpoints/` (docs/audit-store.md §2), its age as the store reports
//! it (a C2SP checkpoint carries no time of its own), and its signature checked against the
//! checkpoint key the user pins. `status --max-anchor-age` folds the result into
//! `evidence_freshness`: the anchor cadence bounds how long a rewrite of the log can go unseen.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::audit::Checkpoint;
use crate::store::{self, ImmutableStore, StoredObject, Target};

use super::State;

/// Largest checkpoint note read back (a note with a few signatures is a few hundred bytes).
pub const MAX_NOTE_BYTES: u64 = 64 * 1024;
/// Digits of the size in a `checkpoints/<size>` key.
const SIZE_DIGITS: usize = 20;

/// What the user asked: the store log, the oldest acceptable anchor, the pinned key.
#[derive(Debug, Clone)]
pub struct AnchorPolicy {
    /// The store log (`s3://bucket/prefix`, `azure://…`, `file:///vault/prefix`).
    pub log: Target,
    pub max_age: TimeDelta,
    /// The checkpoint key the user pins; without it the anchor's signature is not checked
    /// (and the check cannot be ready: an unchecked note proves nothing).
    pub key: Option<AnchorKey>,
    /// The log's origin (`--origin`): an anchor for another origin is a checkpoint of another
    /// log, whoever signed it. Without it the anchor's root is still held against the records
    /// (by the caller, [`AnchorVerdict::checkpoint`]).
    pub origin: Option<String>,
}

/// The pinned checkpoint key and its signed-note name (default: the checkpoint's origin line,
/// as `audit verify --checkpoint` does; the key hash binds name and key either way).
#[derive(Debug, Clone)]
pub struct AnchorKey {
    pub key: ed25519_dalek::VerifyingKey,
    pub name: Option<String>,
}

/// The verdict on the newest anchor: a state, a reason and the measured details.
#[derive(Debug, Clone)]
pub struct AnchorVerdict {
    pub state: State,
    pub reason: String,
    pub details: Value,
    /// The newest anchor, once its signature verified under the pinned key (and its origin is
    /// the log's, when known): the caller must still hold its root against the log's records
    /// at its size — a signature and a size alone do not make it this log's checkpoint.
    pub checkpoint: Option<Checkpoint>,
}

/// `<prefix>/checkpoints/`: where a store log keeps its signed checkpoints.
pub fn checkpoints_prefix(log: &Target) -> String {
    let prefix = log.prefix();
    if prefix.is_empty() {
        "checkpoints/".to_string()
    } else {
        format!("{}/checkpoints/", prefix.trim_end_matches('/'))
    }
}

/// The tree size a `checkpoints/<20 digits>` key names, or `None` for any other key.
fn size_of(key: &str, prefix: &str) -> Option<u64> {
    let name = key.strip_prefix(prefix)?;
    (name.len() == SIZE_DIGITS && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// The newest anchor: the largest size; among versions of that key the latest.
fn newest<'a>(objects: &'a [StoredObject], prefix: &str) -> Option<(u64, &'a StoredObject)> {
    objects
        .iter()
        .filter_map(|o| size_of(&o.key, prefix).map(|size| (size, o)))
        .max_by(|(a, x), (b, y)| {
            a.cmp(b)
                .then(x.is_latest.cmp(&y.is_latest))
                .then(x.last_modified.cmp(&y.last_modified))
        })
}

/// Judge the newest anchor of `policy.log` at `now`. Never fails: what cannot be checked is a
/// non-ready state with the reason.
pub async fn judge(policy: &AnchorPolicy, now: DateTime<Utc>) -> AnchorVerdict {
    match store::open(&policy.log).await {
        Ok(store) => judge_in(store.as_ref(), policy, now).await,
        Err(e) => AnchorVerdict {
            state: State::Unknown,
            reason: format!("anchors of {} cannot be read: {e}", policy.log),
            details: json!({"log": policy.log.to_string()}),
            checkpoint: None,
        },
    }
}

/// [`judge`] with the log's store already open: `store` must be opened on the log's target
/// (its prefix, as the store resolved it, is where `checkpoints/` is listed).
pub async fn judge_in(
    store: &dyn ImmutableStore,
    policy: &AnchorPolicy,
    now: DateTime<Utc>,
) -> AnchorVerdict {
    let max_age = policy
        .max_age
        .to_std()
        .map(|d| humantime::format_duration(d).to_string())
        .unwrap_or_else(|_| format!("{}s", policy.max_age.num_seconds()));
    let mut details = json!({"log": policy.log.to_string(), "max_anchor_age_seconds": policy.max_age.num_seconds()});
    let prefix = checkpoints_prefix(store.target());
    let verdict = |state, reason: String, details: Value| AnchorVerdict {
        state,
        reason,
        details,
        checkpoint: None,
    };
    let objects = match store.list(&prefix).await {
        Ok(objects) => objects,
        Err(e) => {
            return verdict(
                State::Unknown,
                format!("listing the anchors under {prefix} failed: {e}"),
                details,
            );
        }
    };
    let Some((size, object)) = newest(&objects, &prefix) else {
        return verdict(
            State::Degraded,
            format!(
                "no anchor under {}/{prefix}: the log has never been anchored (run `wormvault audit anchor --log {}`)",
                policy.log.to_string().trim_end_matches('/'),
                policy.log
            ),
            details,
        );
    };
    details["anchor_key"] = json!(object.key);
    details["anchor_size"] = json!(size);
    // Anchors are written create-only and locked: a second version of one is a rewrite behind
    // the tool's back (docs/audit-store.md §4), whatever the newest version says.
    let versions = objects.iter().filter(|o| o.key == object.key).count();
    if versions > 1 {
        details["anchor_versions"] = json!(versions);
        return verdict(
            State::Blocked,
            format!(
                "anchor {} has {versions} versions; anchors are create-only, so it was rewritten",
                object.key
            ),
            details,
        );
    }
    let Some(stored_at) = object.last_modified else {
        return verdict(
            State::Unknown,
            format!(
                "the store reports no time for anchor {}: its age is unknown",
                object.key
            ),
            details,
        );
    };
    let age = now - stored_at;
    details["anchored_at"] = json!(stored_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    details["anchor_age_seconds"] = json!(age.num_seconds());

    // The signature, against the pinned key only (never a key found in the log).
    let signature = match &policy.key {
        None => Err(
            "its signature was not checked (give --checkpoint-key, the anchor key's public half); an unchecked anchor proves nothing"
                .to_string(),
        ),
        Some(key) => match read_note(store, object).await {
            Err(e) => {
                return verdict(
                    State::Blocked,
                    format!("anchor {} cannot be read: {e}", object.key),
                    details,
                );
            }
            Ok(note) => match crate::hold::registry::open_checkpoint(
                &note,
                &key.key,
                key.name.as_deref(),
            ) {
                Err(e) => {
                    return verdict(
                        State::Blocked,
                        format!("anchor {} does not verify: {e}", object.key),
                        details,
                    );
                }
                Ok(checkpoint) if checkpoint.size != size => {
                    return verdict(
                        State::Blocked,
                        format!(
                            "anchor {} signs tree size {}, not the {size} its name says",
                            object.key, checkpoint.size
                        ),
                        details,
                    );
                }
                Ok(checkpoint) => match &policy.origin {
                    Some(origin) if &checkpoint.origin != origin => {
                        details["anchor_origin"] = json!(checkpoint.origin);
                        return verdict(
                            State::Blocked,
                            format!(
                                "anchor {} is for origin {:?}, not this log's {origin:?}: it is a checkpoint of another log",
                                object.key, checkpoint.origin
                            ),
                            details,
                        );
                    }
                    _ => Ok(checkpoint),
                },
            },
        },
    };
    details["anchor_signature_checked"] = json!(signature.is_ok());
    if let Ok(checkpoint) = &signature {
        details["anchor_origin"] = json!(checkpoint.origin);
    }
    let age_text = super::human_age(age);
    if age > policy.max_age {
        return AnchorVerdict {
            checkpoint: signature.ok(),
            ..verdict(
                State::Degraded,
                format!(
                    "newest anchor {} (size {size}) is {age_text} old, older than --max-anchor-age ({max_age})",
                    object.key
                ),
                details,
            )
        };
    }
    match signature {
        Ok(checkpoint) => AnchorVerdict {
            checkpoint: Some(checkpoint),
            ..verdict(
                State::Ready,
                format!(
                    "newest anchor {} (size {size}) is {age_text} old, within {max_age}, signature verified",
                    object.key
                ),
                details,
            )
        },
        Err(unchecked) => verdict(
            State::Degraded,
            format!(
                "newest anchor {} (size {size}) is {age_text} old, but {unchecked}",
                object.key
            ),
            details,
        ),
    }
}

/// Download one note (bounded) and return its text.
async fn read_note(store: &dyn ImmutableStore, object: &StoredObject) -> Result<String, String> {
    if object.size > MAX_NOTE_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_NOTE_BYTES} a checkpoint note may have",
            object.size
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))?;
    let dest = dir.path().join("checkpoint");
    store
        .download(&object.key, object.version_id.as_deref(), &dest)
        .await
        .map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&dest).map_err(|e| format!("reading the download: {e}"))?;
    if bytes.len() as u64 > MAX_NOTE_BYTES {
        return Err(format!("more than {MAX_NOTE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_twenty_digit_names_are_anchors() {
        let prefix = "logs/a/checkpoints/";
        assert_eq!(
            size_of("logs/a/checkpoints/00000000000000000042", prefix),
            Some(42)
        );
        assert_eq!(size_of("logs/a/checkpoints/42", prefix), None);
        assert_eq!(
            size_of("logs/a/checkpoints/0000000000000000004x", prefix),
            None
        );
        assert_eq!(size_of("logs/a/checkpoint", prefix), None);
        assert_eq!(
            size_of("logs/b/checkpoints/00000000000000000042", prefix),
            None
        );
    }
}
