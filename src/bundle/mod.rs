//! CAVRA evidence bundles (`cavra.evidence.bundle.v1`, cavra-compat.md §4): the model, and
//! [`create`], [`verify`] (the steps; [`manifest`] reads and checks `manifest.json` for them)
//! and [`pack`]. A bundle is a flat directory of files plus `retention-policy.json` and a signed
//! `manifest.json` that lists every file but itself; it may travel as a deterministic `.tar.gz`.

pub mod archive;
pub mod create;
pub mod json;
pub mod manifest;
pub mod pack;
pub mod verify;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::store::{Key, KeyError};

pub use archive::ArchiveLimits;
pub use create::{CreateOptions, Created, Signing, create, create_with_progress};
pub use pack::{Packed, pack};
pub use verify::{BundleFile, BundleReport, SignatureInfo, VerifyOptions, finish_deferred, verify};

pub const BUNDLE_SCHEMA: &str = "cavra.evidence.bundle.v1";
pub const RETENTION_SCHEMA: &str = "cavra.evidence.retention.v1";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const RETENTION_FILE: &str = "retention-policy.json";
/// The reserved namespace: wormvault stores its own objects (receipts, anchors, …) under
/// `<session>/<digest>/_wormvault/` beside the evidence ([`crate::remote::SIDECAR_DIR`]), so no
/// bundle file may be named into it (compared ignoring ASCII case, for case-insensitive stores).
pub const RESERVED_DIR: &str = crate::remote::SIDECAR_DIR;
/// Longest bundle-relative path accepted (bytes). Far below Linux's PATH_MAX (4096) so a bundle
/// that verifies in one directory still opens from a deeper one; `create` and `verify` apply the
/// same limit, so a bundle this tool creates always verifies.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest single path component (Linux NAME_MAX).
pub const MAX_NAME_BYTES: usize = 255;
/// CAVRA's default and minimum retention: seven years.
pub const DEFAULT_RETENTION_DAYS: u64 = crate::retention::MINIMUM_RETENTION_DAYS as u64;

/// One file the manifest lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The manifest's `signature` object, by algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "algorithm")]
pub enum ManifestSignature {
    Ed25519 {
        key_id: String,
        value: String,
        public_key_sha256: Option<String>,
    },
    HS256 {
        value: String,
    },
    /// Unsigned: only the SHA-256 of the signed bytes.
    SHA256 {
        value: String,
    },
}

/// A checked manifest: every CAVRA field present with the right type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub schema_version: String,
    pub product: String,
    pub created_at: String,
    pub signer: String,
    pub files: Vec<FileEntry>,
    pub signature: Option<ManifestSignature>,
}

/// `retention-policy.json` (`cavra.evidence.retention.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub schema_version: String,
    pub product: String,
    pub session_id: String,
    pub classification: String,
    pub created_at: String,
    pub retention_days: u64,
    pub retain_until: String,
    pub legal_hold: bool,
    pub delete_protection: bool,
    pub disposition: String,
}

/// Errors that stop a bundle command before any verdict (exit 2). Problems *inside* a bundle
/// are never errors: they are [`Finding`]s in the report (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path} does not exist; pass a bundle directory or a .tar.gz")]
    NotFound { path: PathBuf },
    #[error("{path} is not a bundle directory or a .tar.gz archive")]
    NotABundle { path: PathBuf },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} already exists and is not empty; choose a new --output")]
    OutputExists { path: PathBuf },
    #[error(
        "{path} is a directory inside a bundle input; CAVRA bundles are flat, so pass its files instead"
    )]
    NestedDirectory { path: PathBuf },
    #[error(
        "{path} is not a regular file (symlink, device or socket); bundles hold regular files only"
    )]
    NotRegular { path: PathBuf },
    #[error("two inputs are both named {name:?}; bundle file names must be unique")]
    DuplicateName { name: String },
    #[error("input {name:?} would overwrite the bundle's own {name}; rename it")]
    ReservedName { name: String },
    #[error(
        "input {name:?} is in wormvault's reserved namespace ({RESERVED_DIR}/ holds the receipts and anchors stored beside the evidence); rename it"
    )]
    ReservedNamespace { name: String },
    #[error("no input files given; pass files or a directory")]
    NoInputs,
    #[error("{path} has no manifest.json; it is not a bundle")]
    NoManifest { path: PathBuf },
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error(
        "{} was NOT verified: {reason}; a verdict needs every entry read — if you trust where the archive came from, raise --max-entries / --max-entry-bytes",
        path.display()
    )]
    OverReadingLimit { path: PathBuf, reason: String },
    #[error(
        "{} holds {what}: a bundle is kept in WORM storage for years and nothing in it can be deleted, so key material is never packed — move it out of the inputs",
        path.display()
    )]
    KeyMaterial { path: PathBuf, what: &'static str },
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustError),
}

macro_rules! finding_kinds {
    ($($variant:ident => $name:literal: $doc:literal,)*) => {
        /// What a finding is about. The `as_str` names are stable: scripts and tests match them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FindingKind { $(#[doc = $doc] $variant,)* }

        impl FindingKind {
            pub fn as_str(self) -> &'static str {
                match self { $(FindingKind::$variant => $name,)* }
            }
        }
    };
}

finding_kinds! {
    ManifestMissing => "manifest_missing": "No manifest.json in the bundle.",
    ManifestUnreadable => "manifest_unreadable": "manifest.json could not be read.",
    ManifestMalformedJson => "manifest_malformed_json": "manifest.json is not JSON.",
    ManifestNotObject => "manifest_not_object": "manifest.json is JSON but not an object.",
    ManifestInvalid => "manifest_invalid": "A manifest field is missing or has the wrong type.",
    UnsupportedSchema => "unsupported_schema": "schema_version is not cavra.evidence.bundle.v1.",
    UnsafePath => "unsafe_path": "The manifest lists an absolute path, `..`, or manifest.json itself.",
    DuplicateListing => "duplicate_listing": "The manifest lists the same path twice.",
    FileMissing => "file_missing": "A listed file is not in the bundle.",
    FileNotRegular => "file_not_regular": "A listed path is a symlink, directory or device.",
    FileUnreadable => "file_unreadable": "A listed file could not be read.",
    FileSizeMismatch => "file_size_mismatch": "A file's size differs from the manifest's `bytes`.",
    FileHashMismatch => "file_hash_mismatch": "A file's SHA-256 differs from the manifest.",
    FileUnlisted => "file_unlisted": "A file is in the bundle but not in the manifest.",
    SignatureMissing => "signature_missing": "The manifest has no signature.",
    SignatureMalformed => "signature_malformed": "The signature object is malformed.",
    UnsupportedAlgorithm => "unsupported_algorithm": "The signature algorithm is unknown.",
    UnsignedNotAllowed => "unsigned_not_allowed": "Unsigned (SHA256) bundle without --allow-unsigned.",
    DigestMismatch => "digest_mismatch": "An unsigned bundle's SHA256 value does not match the manifest.",
    KeyMaterialMissing => "key_material_missing": "No key given that can check this signature.",
    KeyIdMismatch => "key_id_mismatch": "The signature's key id differs from --key-id.",
    UnknownKeyId => "unknown_key_id": "No trust root has the signature's key id.",
    FingerprintMismatch => "fingerprint_mismatch": "The signature's public_key_sha256 differs from the key given.",
    SignatureInvalid => "signature_invalid": "The signature does not verify.",
    RootRevoked => "root_revoked": "The trust root is revoked.",
    RootRetiredOutsideWindow => "root_retired_outside_window": "A retired root used outside its validity window.",
    RootExpired => "root_expired": "Signed after the trust root's valid_until.",
    RootNotYetValid => "root_not_yet_valid": "Signed before the trust root's valid_from.",
    RootInvalid => "root_invalid": "The trust root itself is inconsistent.",
    SignedAtInvalid => "signed_at_invalid": "The manifest's created_at is not a timestamp.",
    RetentionPolicyMissing => "retention_policy_missing": "No retention-policy.json.",
    RetentionPolicyMalformed => "retention_policy_malformed": "retention-policy.json is not a valid policy.",
    RetentionBelowMinimum => "retention_below_minimum": "retention_days is below the minimum.",
    ArchiveUnsafePath => "archive_unsafe_path": "An archive entry has an absolute path or `..`.",
    ArchiveLink => "archive_link": "An archive entry is a symlink or hard link.",
    ArchiveSpecialEntry => "archive_special_entry": "An archive entry is a device, FIFO or unknown type.",
    ArchiveDuplicateEntry => "archive_duplicate_entry": "Two archive entries have the same name.",
    ArchiveEntryTooLarge => "archive_entry_too_large": "An archive entry exceeds the size limit.",
    ArchiveTooManyEntries => "archive_too_many_entries": "The archive exceeds the entry-count limit.",
    ArchiveCorrupt => "archive_corrupt": "The archive is not a readable gzip tar.",
    ArchiveTrailingData => "archive_trailing_data": "Data after the tar end-of-archive or the gzip member (another extractor could unpack different content).",
    ArchiveGzipIntegrity => "archive_gzip_integrity": "The gzip trailer is missing, or its CRC32 or ISIZE does not match the content.",
    ManifestTooLarge => "manifest_too_large": "manifest.json is over its size limit (src/limits.rs).",
    PathTooLong => "path_too_long": "A listed path or archive entry name is over the path length limits (MAX_PATH_BYTES, MAX_NAME_BYTES).",
    ReservedName => "reserved_name": "A bundle file lies in wormvault's reserved namespace (`_wormvault/`).",
    AlgorithmMismatch => "algorithm_mismatch": "The signature's algorithm is not the one the pinned key (--key-id, --public-key) uses.",
    ArchiveAmbiguousEntry => "archive_ambiguous_entry": "An archive entry other extractors (GNU tar, Python tarfile) could read differently: data in a directory or link entry, a file named like a directory, conflicting PAX/GNU names, sparse or unknown PAX records.",
    ArchiveNameCollision => "archive_name_collision": "Two archive entries whose names differ only by letter case or Unicode normalisation (one file on macOS/Windows).",
    RetentionOutOfRange => "retention_out_of_range": "retention_days is too large for a retain-until date (`wormvault plan` refuses it).",
    WalkFailed => "walk_failed": "Part of the bundle directory could not be examined, so unlisted files there cannot be ruled out.",
}

impl FindingKind {
    /// An archive over a reading limit (entry count, entry or total size): it was not read
    /// whole, so what it holds is not known — not a finding about the evidence.
    pub fn is_reading_limit(self) -> bool {
        matches!(
            self,
            FindingKind::ArchiveTooManyEntries | FindingKind::ArchiveEntryTooLarge
        )
    }
}

impl Serialize for FindingKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a bundle: its kind, the file it concerns (bundle-relative, or the
/// archive entry name), and a message saying what was expected and found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(kind: FindingKind, path: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            kind,
            path: path.map(str::to_string),
            message: message.into(),
        }
    }
}

/// Check a bundle-relative path (manifest entry or archive entry name) and return its normal
/// components. `.` components and repeated slashes are dropped (bundle paths may be written
/// `./dir//b`); what remains must pass the one key rule ([`crate::store::Key::parse`]: no
/// absolute path, `..`, backslash or NUL), and, stricter for bundles, the first component must
/// not be a drive-letter prefix (`C:`), which would be absolute when extracted on Windows.
pub fn safe_relative(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.starts_with('/') {
        return Err("absolute path".into());
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let key = Key::parse(&parts.join("/"));
    // Same precedence as always: backslash/NUL anywhere, then a drive prefix, then `..`.
    if let Err(KeyError::Backslash | KeyError::Nul) = key {
        return Err("backslash or NUL in path".into());
    }
    if parts[0].len() >= 2 && parts[0].as_bytes()[1] == b':' {
        return Err("drive-letter prefix".into());
    }
    match key {
        Ok(key) => Ok(key.segments().map(str::to_string).collect()),
        Err(KeyError::DotSegment(_)) => Err("`..` component".into()),
        // Unreachable after the normalisation above; reported in the key rule's words.
        Err(error) => Err(error.to_string()),
    }
}

/// Why a listed bundle member cannot be read as a regular file inside the bundle.
#[derive(Debug)]
pub(crate) enum MemberProblem {
    /// No such file (or a component before the last is missing).
    Missing,
    /// This component (bundle-relative, `a/b`) is a symlink.
    Symlink(String),
    /// This component before the last is not a directory.
    ParentNotDirectory(String),
    /// The member itself is this ("a FIFO", "a directory", …), not a regular file.
    NotRegular(&'static str),
    Io(std::io::Error),
}

/// Check a bundle member by its normal components under `root`, one component at a time and
/// never following a symlink: every component before the last must be a real directory and the
/// last a regular file, so nothing outside `root` is ever read through a link (issue: a listed
/// `sub/hostname` with `sub -> /etc`).
pub(crate) fn check_member(
    root: &std::path::Path,
    parts: &[String],
) -> Result<std::fs::Metadata, MemberProblem> {
    let mut path = root.to_path_buf();
    for (index, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(MemberProblem::Missing);
            }
            Err(error) => return Err(MemberProblem::Io(error)),
        };
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            return Err(MemberProblem::Symlink(parts[..=index].join("/")));
        }
        if index + 1 == parts.len() {
            return if file_type.is_file() {
                Ok(meta)
            } else {
                Err(MemberProblem::NotRegular(crate::limits::describe_type(
                    file_type,
                )))
            };
        }
        if !file_type.is_dir() {
            return Err(MemberProblem::ParentNotDirectory(parts[..=index].join("/")));
        }
    }
    Err(MemberProblem::Missing)
}

/// A file name's bytes for a message: UTF-8 as is, every other byte as `\xNN` (so a non-UTF-8
/// name is never shown as the U+FFFD spelling of another, listed, name).
pub fn escape_name(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02x}"));
        }
    }
    text
}

/// Is this bundle-relative path (its normal components) in the reserved namespace?
pub fn is_reserved(parts: &[String]) -> bool {
    parts
        .first()
        .is_some_and(|first| first.eq_ignore_ascii_case(RESERVED_DIR))
}

/// Why a bundle-relative path is too long to be opened reliably, if it is.
pub fn path_too_long(path: &str) -> Option<String> {
    if path.len() > MAX_PATH_BYTES {
        return Some(format!(
            "the path is {} bytes, over the {MAX_PATH_BYTES}-byte limit for bundle paths",
            path.len()
        ));
    }
    path.split('/')
        .find(|part| part.len() > MAX_NAME_BYTES)
        .map(|part| {
            format!(
                "a path component is {} bytes, over the {MAX_NAME_BYTES}-byte file-name limit",
                part.len()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_and_path_lengths() {
        assert!(is_reserved(
            &safe_relative("_wormvault/receipts.json").unwrap()
        ));
        assert!(is_reserved(&safe_relative("./_WormVault").unwrap()));
        assert!(!is_reserved(&safe_relative("a/_wormvault").unwrap()));
        assert!(!is_reserved(&safe_relative("_wormvault2").unwrap()));
        assert!(path_too_long(&"a".repeat(255)).is_none());
        assert!(path_too_long(&"a".repeat(256)).is_some());
        assert!(path_too_long(&vec!["d"; 512].join("/")).is_none());
        assert!(path_too_long(&vec!["d"; 513].join("/")).is_some());
    }

    #[test]
    fn safe_relative_paths() {
        assert_eq!(safe_relative("a.json").unwrap(), ["a.json"]);
        assert_eq!(safe_relative("./dir//b").unwrap(), ["dir", "b"]);
        assert!(safe_relative("/etc/passwd").is_err());
        assert!(safe_relative("../x").is_err());
        assert!(safe_relative("a/../../x").is_err());
        assert!(safe_relative("a\\b").is_err());
        assert!(safe_relative("C:evil").is_err());
        assert!(safe_relative("").is_err());
        assert_eq!(safe_relative("./").unwrap(), Vec::<String>::new());
        // The first reason stays the same whatever the order inside the shared key rule.
        assert_eq!(
            safe_relative("C:\\x").unwrap_err(),
            "backslash or NUL in path"
        );
        assert_eq!(safe_relative("C:/../x").unwrap_err(), "drive-letter prefix");
        assert_eq!(safe_relative("../C:").unwrap_err(), "`..` component");
        assert_eq!(safe_relative("a/./b//c").unwrap(), ["a", "b", "c"]);
    }

    #[test]
    fn member_checks_refuse_symlinks_in_any_component() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), "x").unwrap();
        std::fs::write(root.join("plain"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("sub")).unwrap();
        std::os::unix::fs::symlink("plain", root.join("link")).unwrap();
        let parts = |p: &str| safe_relative(p).unwrap();
        assert!(check_member(root, &parts("d/f")).unwrap().is_file());
        assert!(matches!(
            check_member(root, &parts("sub/hostname")),
            Err(MemberProblem::Symlink(c)) if c == "sub"
        ));
        assert!(matches!(
            check_member(root, &parts("link")),
            Err(MemberProblem::Symlink(c)) if c == "link"
        ));
        assert!(matches!(
            check_member(root, &parts("plain/x")),
            Err(MemberProblem::ParentNotDirectory(c)) if c == "plain"
        ));
        assert!(matches!(
            check_member(root, &parts("d")),
            Err(MemberProblem::NotRegular("a directory"))
        ));
        assert!(matches!(
            check_member(root, &parts("none/x")),
            Err(MemberProblem::Missing)
        ));
        assert_eq!(escape_name(b"note-\xff.txt"), "note-\\xff.txt");
        assert_eq!(escape_name("r\u{e8}gle".as_bytes()), "r\u{e8}gle");
    }

    #[test]
    fn finding_kinds_serialise_as_stable_names() {
        let finding = Finding::new(FindingKind::FileHashMismatch, Some("a"), "m");
        let value = serde_json::to_value(&finding).unwrap();
        assert_eq!(value["kind"], "file_hash_mismatch");
        assert_eq!(value["path"], "a");
    }
}
