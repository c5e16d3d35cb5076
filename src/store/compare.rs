//! One typed "expected vs stored" comparison (architecture-2 §2.5). Every place that checks what
//! a store reports against what was asked — receipts against the plan, upload's resume check,
//! the S3 and Azure read-back after a write, `remote check`, the handoff's receipts-vs-plan
//! check and the conformance suite — calls [`differences`] and states its [`Rules`] where it
//! chooses them, instead of writing the comparison by hand. Before, six hand-written copies
//! differed (retain-until `>=` in receipts, `==` in the S3 read-back) and the rule could only be
//! found by reading both.
//!
//! The result is a list of typed [`Mismatch`]es: callers filter by [`Field`] (never by string
//! prefix) and word their own messages.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::{Enforcement, RetentionMode, StoredObject};

/// What one mismatch is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The object is not there at all.
    Presence,
    Sha256,
    Bytes,
    Md5,
    RetentionMode,
    RetainUntil,
    LegalHold,
    Enforcement,
    VersionId,
    Etag,
    /// One tag (its name is in the mismatch's `expected`, as `name=value`).
    Tag,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Presence => "presence",
            Field::Sha256 => "sha256",
            Field::Bytes => "bytes",
            Field::Md5 => "md5",
            Field::RetentionMode => "retention_mode",
            Field::RetainUntil => "retain_until",
            Field::LegalHold => "legal_hold",
            Field::Enforcement => "enforcement",
            Field::VersionId => "version_id",
            Field::Etag => "etag",
            Field::Tag => "tag",
        }
    }

    /// Content fields: a difference here means other bytes, not a different lock.
    pub fn is_content(self) -> bool {
        matches!(self, Field::Sha256 | Field::Bytes | Field::Md5)
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One way the store's answer differs from what was expected. `expected` and `found` are
/// rendered for people ("nothing" where the store reports no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub key: String,
    pub field: Field,
    pub expected: String,
    pub found: String,
}

impl Mismatch {
    /// The object is missing.
    pub fn absent(key: &str) -> Mismatch {
        Mismatch {
            key: key.to_string(),
            field: Field::Presence,
            expected: "object present".into(),
            found: "no object".into(),
        }
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} expected {}, store reports {}",
            self.key, self.field, self.expected, self.found
        )
    }
}

/// The lock expected on an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedLock {
    /// `None`: the mode is not compared.
    pub mode: Option<RetentionMode>,
    /// `None`: retain-until is not compared.
    pub retain_until: Option<DateTime<Utc>>,
    /// `None`: the legal hold is not compared.
    pub legal_hold: Option<bool>,
}

/// What the store should report. A field left `None` is not compared.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected<'a> {
    pub sha256: Option<&'a str>,
    pub bytes: Option<u64>,
    pub md5: Option<&'a str>,
    pub lock: Option<ExpectedLock>,
    pub version_id: Option<&'a str>,
    pub etag: Option<&'a str>,
    /// Each of these tags must be present with this value (other tags may exist).
    pub tags: Option<&'a BTreeMap<String, String>>,
}

/// How retain-until is compared. Both compare whole seconds: stores keep it to the second (S3,
/// RFC 1123 dates on Azure) or finer, and the plan's date may carry a fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainRule {
    /// The store's date may be later than expected (never earlier): a lock may be extended.
    AtLeast,
    /// The store's date is exactly the expected second (a write that set it just now).
    Exactly,
}

/// How the legal hold is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldRule {
    /// The store reports exactly this value; a store reporting nothing differs.
    Exactly,
    /// As `Exactly`, but a store reporting nothing means "off".
    AbsentIsOff,
    /// Only a requested hold is checked: expected `true` needs the store to report `true`.
    WhenRequested,
}

/// When the lock is compared at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockRule {
    Always,
    /// Not when the store reports `enforcement: unconfirmed`: the user explicitly accepted a store
    /// that cannot confirm immutability, and receipts say so instead.
    UnlessUnconfirmed,
}

/// How SHA-256 and MD5 hex strings are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexCase {
    Exact,
    /// Case-insensitive (Azure metadata is written by other tools too).
    Insensitive,
}

/// The comparison rules a caller chooses; each caller names them where it calls [`differences`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub retain_until: RetainRule,
    pub legal_hold: HoldRule,
    pub lock: LockRule,
    pub hex: HexCase,
    /// Report [`Field::Enforcement`] when the store says `unconfirmed`.
    pub require_confirmed: bool,
}

impl Rules {
    /// A plan checked against a store's answer after the write or on resume (receipts, handoff):
    /// a lock may be longer than planned, never shorter.
    pub const PLAN: Rules = Rules {
        retain_until: RetainRule::AtLeast,
        legal_hold: HoldRule::Exactly,
        lock: LockRule::UnlessUnconfirmed,
        hex: HexCase::Exact,
        require_confirmed: false,
    };
}

fn show<T: std::fmt::Display>(value: Option<T>) -> String {
    value
        .map(|v| v.to_string())
        .unwrap_or_else(|| "nothing".into())
}

/// Retain-until as every comparison message shows it.
pub fn show_time(value: Option<DateTime<Utc>>) -> String {
    value
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "nothing".into())
}

fn hex_eq(found: Option<&str>, expected: &str, case: HexCase) -> bool {
    match (found, case) {
        (Some(found), HexCase::Exact) => found == expected,
        (Some(found), HexCase::Insensitive) => found.eq_ignore_ascii_case(expected),
        (None, _) => false,
    }
}

/// Every way `found` differs from `expected` under `rules`, in a fixed field order (content,
/// identity, tags, enforcement, lock).
pub fn differences(
    key: &str,
    expected: &Expected<'_>,
    found: &StoredObject,
    rules: Rules,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut push = |field: Field, expected: String, found: String| {
        out.push(Mismatch {
            key: key.to_string(),
            field,
            expected,
            found,
        });
    };
    if let Some(sha256) = expected.sha256
        && !hex_eq(found.sha256.as_deref(), sha256, rules.hex)
    {
        push(Field::Sha256, sha256.into(), show(found.sha256.as_deref()));
    }
    if let Some(bytes) = expected.bytes
        && found.size != bytes
    {
        push(Field::Bytes, bytes.to_string(), found.size.to_string());
    }
    if let Some(md5) = expected.md5
        && !hex_eq(found.md5.as_deref(), md5, rules.hex)
    {
        push(Field::Md5, md5.into(), show(found.md5.as_deref()));
    }
    if let Some(version) = expected.version_id
        && found.version_id.as_deref() != Some(version)
    {
        push(
            Field::VersionId,
            version.into(),
            show(found.version_id.as_deref()),
        );
    }
    if let Some(etag) = expected.etag
        && found.etag.as_deref() != Some(etag)
    {
        push(Field::Etag, etag.into(), show(found.etag.as_deref()));
    }
    for (name, value) in expected.tags.into_iter().flatten() {
        if found.tags.get(name) != Some(value) {
            push(
                Field::Tag,
                format!("{name}={value}"),
                show(found.tags.get(name).map(|v| format!("{name}={v}"))),
            );
        }
    }
    if rules.require_confirmed && found.enforcement == Enforcement::Unconfirmed {
        push(
            Field::Enforcement,
            "store or tool".into(),
            found.enforcement.to_string(),
        );
    }
    let Some(lock) = expected.lock else {
        return out;
    };
    if rules.lock == LockRule::UnlessUnconfirmed && found.enforcement == Enforcement::Unconfirmed {
        return out;
    }
    if let Some(mode) = lock.mode
        && found.retention_mode != Some(mode)
    {
        push(
            Field::RetentionMode,
            mode.to_string(),
            show(found.retention_mode),
        );
    }
    if let Some(until) = lock.retain_until {
        let wanted = until.timestamp();
        let ok = match (found.retain_until, rules.retain_until) {
            (Some(stored), RetainRule::AtLeast) => stored.timestamp() >= wanted,
            (Some(stored), RetainRule::Exactly) => stored.timestamp() == wanted,
            (None, _) => false,
        };
        if !ok {
            push(
                Field::RetainUntil,
                show_time(Some(until)),
                show_time(found.retain_until),
            );
        }
    }
    if let Some(hold) = lock.legal_hold {
        let ok = match rules.legal_hold {
            HoldRule::Exactly => found.legal_hold == Some(hold),
            HoldRule::AbsentIsOff => found.legal_hold.unwrap_or(false) == hold,
            HoldRule::WhenRequested => !hold || found.legal_hold == Some(true),
        };
        if !ok {
            push(Field::LegalHold, hold.to_string(), show(found.legal_hold));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn until() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2033, 11, 20, 5, 51, 34).unwrap()
    }

    fn stored() -> StoredObject {
        StoredObject {
            key: "k".into(),
            version_id: Some("v1".into()),
            etag: Some("e1".into()),
            size: 10,
            sha256: Some("ab".repeat(32)),
            sha256_source: crate::store::DigestSource::Claimed,
            md5: Some("cd".repeat(16)),
            retention_mode: Some(RetentionMode::Compliance),
            retain_until: Some(until()),
            legal_hold: Some(false),
            tags: BTreeMap::from([("case".to_string(), "c-1".to_string())]),
            last_modified: None,
            request_id: None,
            enforcement: Enforcement::Store,
            is_latest: true,
        }
    }

    fn full<'a>(sha: &'a str, md5: &'a str, tags: &'a BTreeMap<String, String>) -> Expected<'a> {
        Expected {
            sha256: Some(sha),
            bytes: Some(10),
            md5: Some(md5),
            lock: Some(ExpectedLock {
                mode: Some(RetentionMode::Compliance),
                retain_until: Some(until()),
                legal_hold: Some(false),
            }),
            version_id: Some("v1"),
            etag: Some("e1"),
            tags: Some(tags),
        }
    }

    fn fields(found: &[Mismatch]) -> Vec<Field> {
        found.iter().map(|m| m.field).collect()
    }

    #[test]
    fn equal_objects_have_no_differences() {
        let (sha, md5) = ("ab".repeat(32), "cd".repeat(16));
        let tags = BTreeMap::from([("case".to_string(), "c-1".to_string())]);
        assert!(differences("k", &full(&sha, &md5, &tags), &stored(), Rules::PLAN).is_empty());
        // Nothing expected: nothing compared.
        assert!(differences("k", &Expected::default(), &stored(), Rules::PLAN).is_empty());
    }

    #[test]
    fn each_field_is_named() {
        let (sha, md5) = ("ab".repeat(32), "cd".repeat(16));
        let tags = BTreeMap::from([("case".to_string(), "c-1".to_string())]);
        let expected = full(&sha, &md5, &tags);
        type Edit = fn(&mut StoredObject);
        let cases: [(Edit, Field, &str); 10] = [
            (|s| s.sha256 = None, Field::Sha256, "nothing"),
            (|s| s.size = 11, Field::Bytes, "11"),
            (|s| s.md5 = Some("00".repeat(16)), Field::Md5, "0000"),
            (|s| s.version_id = Some("v2".into()), Field::VersionId, "v2"),
            (|s| s.etag = None, Field::Etag, "nothing"),
            (|s| s.tags.clear(), Field::Tag, "nothing"),
            (
                |s| s.retention_mode = Some(RetentionMode::Governance),
                Field::RetentionMode,
                "governance",
            ),
            (|s| s.retain_until = None, Field::RetainUntil, "nothing"),
            (|s| s.legal_hold = Some(true), Field::LegalHold, "true"),
            (|s| s.legal_hold = None, Field::LegalHold, "nothing"),
        ];
        for (edit, field, found) in cases {
            let mut object = stored();
            edit(&mut object);
            let result = differences("k", &expected, &object, Rules::PLAN);
            assert_eq!(fields(&result), vec![field], "{result:?}");
            assert!(result[0].found.starts_with(found), "{result:?}");
            assert_eq!(result[0].key, "k");
        }
        let mut object = stored();
        object.tags.insert("case".into(), "c-2".into());
        let result = differences("k", &expected, &object, Rules::PLAN);
        assert_eq!(
            (result[0].expected.as_str(), result[0].found.as_str()),
            ("case=c-1", "case=c-2")
        );
    }

    #[test]
    fn retain_until_rules() {
        let expected = Expected {
            lock: Some(ExpectedLock {
                mode: None,
                retain_until: Some(until()),
                legal_hold: None,
            }),
            ..Expected::default()
        };
        let exactly = Rules {
            retain_until: RetainRule::Exactly,
            ..Rules::PLAN
        };
        let mut later = stored();
        later.retain_until = Some(until() + chrono::Duration::days(1));
        let mut earlier = stored();
        earlier.retain_until = Some(until() - chrono::Duration::seconds(1));
        // A fraction of a second is not a difference: stores keep whole seconds.
        let mut fraction = stored();
        fraction.retain_until = Some(until() + chrono::Duration::milliseconds(400));
        assert!(differences("k", &expected, &later, Rules::PLAN).is_empty());
        assert_eq!(
            fields(&differences("k", &expected, &later, exactly)),
            [Field::RetainUntil]
        );
        for rules in [Rules::PLAN, exactly] {
            assert_eq!(
                fields(&differences("k", &expected, &earlier, rules)),
                [Field::RetainUntil]
            );
            assert!(differences("k", &expected, &fraction, rules).is_empty());
            assert!(differences("k", &expected, &stored(), rules).is_empty());
        }
        let shown = &differences("k", &expected, &earlier, Rules::PLAN)[0];
        assert_eq!(shown.expected, "2033-11-20T05:51:34Z");
        assert_eq!(shown.found, "2033-11-20T05:51:33Z");
    }

    #[test]
    fn legal_hold_rules() {
        let expect = |hold| Expected {
            lock: Some(ExpectedLock {
                mode: None,
                retain_until: None,
                legal_hold: Some(hold),
            }),
            ..Expected::default()
        };
        let rule = |legal_hold| Rules {
            legal_hold,
            ..Rules::PLAN
        };
        let with = |hold: Option<bool>| StoredObject {
            legal_hold: hold,
            ..stored()
        };
        let differs =
            |hold, found, r| !differences("k", &expect(hold), &with(found), rule(r)).is_empty();
        // Exactly: absent differs from off.
        assert!(differs(false, None, HoldRule::Exactly));
        assert!(differs(false, Some(true), HoldRule::Exactly));
        assert!(!differs(true, Some(true), HoldRule::Exactly));
        // AbsentIsOff: absent is off.
        assert!(!differs(false, None, HoldRule::AbsentIsOff));
        assert!(differs(true, None, HoldRule::AbsentIsOff));
        assert!(differs(false, Some(true), HoldRule::AbsentIsOff));
        // WhenRequested: an unrequested hold is not checked; a requested one must be there.
        assert!(!differs(false, Some(true), HoldRule::WhenRequested));
        assert!(!differs(false, None, HoldRule::WhenRequested));
        assert!(differs(true, Some(false), HoldRule::WhenRequested));
        assert!(differs(true, None, HoldRule::WhenRequested));
    }

    #[test]
    fn lock_and_enforcement_rules() {
        let (sha, md5) = ("ab".repeat(32), "cd".repeat(16));
        let tags = BTreeMap::new();
        let expected = full(&sha, &md5, &tags);
        let mut unconfirmed = stored();
        unconfirmed.enforcement = Enforcement::Unconfirmed;
        unconfirmed.retention_mode = None;
        unconfirmed.retain_until = None;
        // The lock is skipped for an unconfirmed store only when the rule says so.
        assert!(differences("k", &expected, &unconfirmed, Rules::PLAN).is_empty());
        let always = Rules {
            lock: LockRule::Always,
            ..Rules::PLAN
        };
        assert_eq!(
            fields(&differences("k", &expected, &unconfirmed, always)),
            [Field::RetentionMode, Field::RetainUntil]
        );
        let confirmed = Rules {
            require_confirmed: true,
            ..Rules::PLAN
        };
        assert_eq!(
            fields(&differences("k", &expected, &unconfirmed, confirmed)),
            [Field::Enforcement]
        );
        assert!(differences("k", &expected, &stored(), confirmed).is_empty());
    }

    #[test]
    fn hex_case_rule() {
        let upper = "AB".repeat(32);
        let expected = Expected {
            sha256: Some(&upper),
            ..Expected::default()
        };
        assert_eq!(
            fields(&differences("k", &expected, &stored(), Rules::PLAN)),
            [Field::Sha256]
        );
        let insensitive = Rules {
            hex: HexCase::Insensitive,
            ..Rules::PLAN
        };
        assert!(differences("k", &expected, &stored(), insensitive).is_empty());
    }

    #[test]
    fn field_names_are_the_serialised_names() {
        for field in [
            Field::Presence,
            Field::Sha256,
            Field::RetentionMode,
            Field::RetainUntil,
            Field::LegalHold,
            Field::VersionId,
        ] {
            assert_eq!(
                serde_json::to_value(field).unwrap(),
                serde_json::Value::String(field.to_string())
            );
        }
        assert_eq!(Mismatch::absent("k").field, Field::Presence);
    }
}
