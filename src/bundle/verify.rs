//! Bundle verification. Steps, each recording findings and continuing so one run reports every
//! problem (cavra-compat.md §4, with this tool's stricter rules):
//!
//! 1. open: a directory as is; a `.tar.gz` streamed into a temp dir by [`super::archive`];
//! 2. parse `manifest.json` strictly into a [`CheckedManifest`] ([`super::manifest`]);
//! 3. files: every listed path safe, present, regular, with matching `bytes` and SHA-256 (hashed
//!    in parallel); every other file in the directory reported as unlisted;
//! 4. signature, always when present: Ed25519 against `--public-key` and/or a trust store (root
//!    chosen by key id and fingerprint; status and validity window judged at the manifest's
//!    `created_at`), HS256 against an HMAC key, SHA256 (unsigned) only with `allow_unsigned`;
//! 5. retention: `retention-policy.json` present and `retention_days` ≥ the minimum.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::archive::{self, ArchiveLimits};
use super::manifest::{CheckedManifest, json_type, parse_signature};
use super::{
    BundleError, FileEntry, Finding, FindingKind, MANIFEST_FILE, Manifest, ManifestSignature,
    MemberProblem, RESERVED_DIR, RETENTION_FILE, RETENTION_SCHEMA, RetentionPolicy, escape_name,
    is_reserved, safe_relative,
};
use crate::hashing::FileDigest;
use crate::trust::{PublicKey, RootStatus, Secret, TrustError, TrustStore};

/// What to verify against. `Default` = no key material, unsigned refused, minimum retention
/// 2555 days, default archive limits.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// `--public-key`: the key, and the fingerprint of its PEM text as given.
    pub public_key: Option<(PublicKey, String)>,
    /// `--trust-root`: a trust root or trust-root bundle.
    pub trust: Option<TrustStore>,
    /// `--key-id`: the signature must name this key id.
    pub key_id: Option<String>,
    /// HMAC key for HS256 manifests.
    pub hmac_key: Option<Secret>,
    /// Accept an unsigned (SHA256) manifest.
    pub allow_unsigned: bool,
    /// Minimum `retention_days` (None = do not check the retention policy).
    pub minimum_retention_days: Option<u64>,
    pub limits: ArchiveLimits,
    /// Called with byte counts while files are hashed (progress bars).
    pub progress: Option<crate::hashing::ProgressHook>,
    /// Leave the content of listed files of at least this many bytes unchecked for now: they
    /// are named in [`BundleReport::deferred`], the report is not final, and the caller must run
    /// [`finish_deferred`] before trusting it (`archive` and `upload --plan` do so while S3
    /// multipart parts or Azure blocks, which are not objects yet, are already being sent).
    /// `None`: hash everything now.
    pub defer_hashing_from: Option<u64>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            public_key: None,
            trust: None,
            key_id: None,
            hmac_key: None,
            allow_unsigned: false,
            minimum_retention_days: Some(super::DEFAULT_RETENTION_DAYS),
            limits: ArchiveLimits::default(),
            progress: None,
            defer_hashing_from: None,
        }
    }
}

/// The signature as found and judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureInfo {
    pub algorithm: String,
    pub key_id: Option<String>,
    /// `public_key_sha256` named by the signature (Ed25519).
    pub fingerprint: Option<String>,
    /// True only when the signature was checked and holds (never for SHA256).
    pub verified: bool,
    /// Trust root status and owner, when a trust store vouched for the key.
    pub root_status: Option<RootStatus>,
    pub root_owner: Option<String>,
}

/// A listed file as found in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    /// Absolute path of the file on this machine (inside the temp dir for an archive).
    pub source: PathBuf,
}

/// The verdict on one bundle.
#[derive(Debug, Serialize)]
pub struct BundleReport {
    /// What was asked for (directory or archive).
    pub input: PathBuf,
    /// True when there are no findings.
    pub valid: bool,
    pub findings: Vec<Finding>,
    pub manifest: Option<Manifest>,
    pub retention_policy: Option<RetentionPolicy>,
    pub signature: Option<SignatureInfo>,
    /// Listed files that are present (with their actual digests), in manifest order.
    pub files: Vec<BundleFile>,
    /// The directory the files were read from; for an archive, a temp dir kept alive by this
    /// report and deleted when it is dropped.
    pub bundle_dir: PathBuf,
    /// The bundle's identity: lowercase hex SHA-256 of the *spaced* canonical JSON
    /// ([`crate::canonical::spaced`]) of the complete parsed manifest, `signature` included.
    /// It changes when any listed file, the signature or any manifest field changes, and does
    /// not depend on manifest.json's whitespace. None when the manifest is not a JSON object.
    pub digest: Option<String>,
    /// Files whose content was not hashed yet (see [`VerifyOptions::defer_hashing_from`]); their
    /// `sha256` in `files` is the manifest's claim until [`finish_deferred`] runs. While this is
    /// not empty, `valid` covers everything except those files' content.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
    #[serde(skip)]
    _temp: Option<tempfile::TempDir>,
}

impl BundleReport {
    /// The finding kinds, in report order (handy for tests and summaries).
    pub fn kinds(&self) -> Vec<&'static str> {
        self.findings.iter().map(|f| f.kind.as_str()).collect()
    }
}

/// Verify a bundle directory or `.tar.gz`. `Err` only when the input cannot be examined at all
/// (missing path, I/O failure creating the temp dir); every problem in the bundle is a finding.
pub fn verify(path: &Path, options: &VerifyOptions) -> Result<BundleReport, BundleError> {
    let metadata = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            BundleError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            BundleError::Io {
                action: "reading",
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let (dir, temp, mut findings, digests) = if metadata.is_dir() {
        (path.to_path_buf(), None, Vec::new(), HashMap::new())
    } else if metadata.is_file() && archive::looks_like_gzip(path) {
        let extracted = archive::extract(path, &options.limits)?;
        // Over a reading limit the archive was not read whole: that is no verdict on the
        // evidence (the files not read would show as "missing"), but a check that did not run.
        let over: Vec<&str> = extracted
            .findings
            .iter()
            .filter(|f| f.kind.is_reading_limit())
            .map(|f| f.message.as_str())
            .collect();
        if !over.is_empty() {
            return Err(BundleError::OverReadingLimit {
                path: path.to_path_buf(),
                reason: over.join("; "),
            });
        }
        (
            extracted.root,
            Some(extracted.temp),
            extracted.findings,
            extracted.digests,
        )
    } else {
        return Err(BundleError::NotABundle {
            path: path.to_path_buf(),
        });
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);

    // A manifest entry the archive reader refused as too large is not "missing" as well.
    let checked = if findings
        .iter()
        .any(|f| f.kind == FindingKind::ManifestTooLarge)
    {
        None
    } else {
        CheckedManifest::parse(&dir, &mut findings)
    };
    let digest = checked.as_ref().map(CheckedManifest::digest);
    let (raw, manifest, entries, malformed_paths) = match checked {
        Some(checked) => (
            Some(checked.raw),
            checked.manifest,
            checked.entries,
            checked.malformed_paths,
        ),
        None => (None, None, Vec::new(), Vec::new()),
    };
    let mut deferred = Vec::new();
    let files = check_files(
        &dir,
        &entries,
        raw.is_some().then_some(&malformed_paths[..]),
        &digests,
        &mut findings,
        options.progress.as_ref(),
        options.defer_hashing_from.map(|min| (min, &mut deferred)),
    );
    let signature = raw
        .as_ref()
        .and_then(|raw| check_signature(raw, options, &mut findings));
    let retention_policy = match options.minimum_retention_days {
        Some(minimum) => check_retention(&dir, minimum, &mut findings),
        None => None,
    };

    Ok(BundleReport {
        input: path.to_path_buf(),
        valid: findings.is_empty(),
        findings,
        manifest,
        retention_policy,
        signature,
        files,
        bundle_dir: dir,
        digest,
        deferred,
        _temp: temp,
    })
}

/// Hash the files [`verify`] deferred, add a finding for each that does not match the manifest
/// (or cannot be read), and settle `valid`. After this the report is what a full verification
/// would have given, but for the order of findings.
pub fn finish_deferred(report: &mut BundleReport, progress: Option<&crate::hashing::ProgressHook>) {
    finish_deferred_with(report, progress, None)
}

/// The deferred files' paths as the uploader opens them (their `source`), in report order.
pub fn deferred_sources(report: &BundleReport) -> Vec<PathBuf> {
    report
        .deferred
        .iter()
        .filter_map(|path| report.files.iter().find(|f| &f.path == path))
        .map(|f| f.source.clone())
        .collect()
}

/// [`finish_deferred`], taking each file's digest from the uploader where it read the file while
/// sending it (`shared`, one hash pass: [`crate::hashing::SharedDigests`]) and hashing the rest.
pub fn finish_deferred_with(
    report: &mut BundleReport,
    progress: Option<&crate::hashing::ProgressHook>,
    shared: Option<&crate::hashing::SharedDigests>,
) {
    if report.deferred.is_empty() {
        return;
    }
    let deferred = std::mem::take(&mut report.deferred);
    // By path, the first file of that name (as a search would find it), without a search per
    // file: thousands of deferred files made this quadratic.
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (index, file) in report.files.iter().enumerate() {
        position.entry(file.path.as_str()).or_insert(index);
    }
    let indices: Vec<usize> = deferred
        .iter()
        .filter_map(|path| position.get(path.as_str()).copied())
        .collect();
    let sources: Vec<PathBuf> = indices
        .iter()
        .map(|&i| report.files[i].source.clone())
        .collect();
    let hash = |paths: &[PathBuf]| {
        crate::hashing::sha256_files(paths, &|n| {
            if let Some(hook) = progress {
                (hook.0)(n)
            }
        })
    };
    let digests = match shared {
        Some(shared) => shared.collect(&sources, &hash),
        None => hash(&sources),
    };
    let mut unreadable = Vec::new();
    for (&index, digest) in indices.iter().zip(digests) {
        let file = &mut report.files[index];
        match digest {
            Ok(digest) => {
                compare_with_manifest(
                    &file.path,
                    file.bytes,
                    &file.sha256,
                    &digest,
                    &mut report.findings,
                );
                file.sha256 = digest.sha256;
                file.bytes = digest.bytes;
            }
            Err(error) => {
                report.findings.push(Finding::new(
                    FindingKind::FileUnreadable,
                    Some(&file.path),
                    format!("cannot read {}: {error}", file.path),
                ));
                unreadable.push(index);
            }
        }
    }
    // As in a full verification, an unreadable file is not among the files found.
    for index in unreadable.into_iter().rev() {
        report.files.remove(index);
    }
    report.valid = report.findings.is_empty();
}

/// A finding for each way a file's digest differs from what the manifest lists for it.
fn compare_with_manifest(
    path: &str,
    bytes: u64,
    sha256: &str,
    digest: &FileDigest,
    findings: &mut Vec<Finding>,
) {
    if digest.bytes != bytes {
        findings.push(Finding::new(
            FindingKind::FileSizeMismatch,
            Some(path),
            format!(
                "{path} is {} bytes; the manifest says {bytes}",
                digest.bytes
            ),
        ));
    }
    if digest.sha256 != sha256 {
        findings.push(Finding::new(
            FindingKind::FileHashMismatch,
            Some(path),
            format!(
                "{path} has SHA-256 {}; the manifest says {sha256}",
                digest.sha256
            ),
        ));
    }
}

fn check_files(
    dir: &Path,
    entries: &[FileEntry],
    // `None` without a readable manifest; else the paths named by malformed entries.
    malformed_paths: Option<&[String]>,
    digests: &HashMap<PathBuf, FileDigest>,
    findings: &mut Vec<Finding>,
    progress: Option<&crate::hashing::ProgressHook>,
    defer: Option<(u64, &mut Vec<String>)>,
) -> Vec<BundleFile> {
    // Which listed files exist as regular files inside the bundle: no component of the path may
    // be a symlink (a link could point anywhere on the verifying machine) — nothing outside the
    // bundle directory is read, and the last component must be a regular file.
    let mut present = Vec::new();
    for entry in entries {
        let path = dir.join(&entry.path);
        let parts = safe_relative(&entry.path).unwrap_or_default();
        match super::check_member(dir, &parts) {
            Ok(meta) => present.push((entry, path, meta.len())),
            Err(MemberProblem::Symlink(component)) => findings.push(Finding::new(
                FindingKind::FileNotRegular,
                Some(&entry.path),
                if component == entry.path {
                    format!(
                        "{} is listed but is a symlink; bundle files must be regular files in the bundle (a link could point anywhere on this machine) — replace the link with the file",
                        entry.path
                    )
                } else {
                    format!(
                        "{} is listed but {component} in its path is a symlink; it was not read (it could point outside the bundle) — replace the link with a real directory",
                        entry.path
                    )
                },
            )),
            Err(MemberProblem::NotRegular(found)) => findings.push(Finding::new(
                FindingKind::FileNotRegular,
                Some(&entry.path),
                format!(
                    "{} is listed but is {found}, not a regular file; it was not read",
                    entry.path
                ),
            )),
            Err(MemberProblem::Missing) => findings.push(Finding::new(
                FindingKind::FileMissing,
                Some(&entry.path),
                format!(
                    "{} is listed in the manifest but missing from the bundle",
                    entry.path
                ),
            )),
            Err(MemberProblem::ParentNotDirectory(component)) => findings.push(Finding::new(
                FindingKind::FileMissing,
                Some(&entry.path),
                format!(
                    "{} is listed in the manifest but missing from the bundle ({component} is a file, not a directory)",
                    entry.path
                ),
            )),
            Err(MemberProblem::Io(error)) => findings.push(Finding::new(
                FindingKind::FileUnreadable,
                Some(&entry.path),
                format!("cannot read {}: {error}", entry.path),
            )),
        }
    }
    // Deferred files (large, of the listed size, not hashed during extraction) keep the
    // manifest's digest for now; the caller hashes them with `finish_deferred`.
    let mut claimed: HashMap<PathBuf, FileDigest> = HashMap::new();
    if let Some((min, deferred)) = defer {
        for (entry, path, len) in &present {
            if *len >= min && *len == entry.bytes && !digests.contains_key(path) {
                claimed.insert(
                    path.clone(),
                    FileDigest {
                        sha256: entry.sha256.clone(),
                        bytes: *len,
                    },
                );
                deferred.push(entry.path.clone());
            }
        }
    }
    // Hash what was not already hashed during extraction, in parallel.
    let (to_hash, sizes): (Vec<PathBuf>, Vec<u64>) = present
        .iter()
        .filter(|(_, p, _)| !digests.contains_key(p) && !claimed.contains_key(p))
        .map(|(_, p, len)| (p.clone(), *len))
        .unzip();
    let hashed: HashMap<PathBuf, std::io::Result<FileDigest>> = to_hash
        .iter()
        .cloned()
        .zip(crate::hashing::sha256_files_sized(&to_hash, &sizes, &|n| {
            if let Some(hook) = progress {
                (hook.0)(n)
            }
        }))
        .collect();
    let mut files = Vec::new();
    for (entry, path, _) in present {
        let digest = match digests.get(&path).or_else(|| claimed.get(&path)) {
            Some(digest) => digest.clone(),
            None => match hashed.get(&path) {
                Some(Ok(digest)) => digest.clone(),
                Some(Err(error)) => {
                    findings.push(Finding::new(
                        FindingKind::FileUnreadable,
                        Some(&entry.path),
                        format!("cannot read {}: {error}", entry.path),
                    ));
                    continue;
                }
                None => continue,
            },
        };
        compare_with_manifest(&entry.path, entry.bytes, &entry.sha256, &digest, findings);
        files.push(BundleFile {
            path: entry.path.clone(),
            sha256: digest.sha256,
            bytes: digest.bytes,
            source: path,
        });
    }
    // Anything else in the directory is unlisted (CAVRA does not check this; we do). Without a
    // readable manifest every file would be "unlisted", which only buries the real finding.
    let Some(malformed_paths) = malformed_paths else {
        return files;
    };
    // Listed paths are in their normal form (the manifest check refuses any other spelling),
    // so names found on disk are compared with them byte for byte.
    // A file named by a malformed entry is listed (the entry is a manifest finding already).
    let listed: BTreeSet<&str> = entries
        .iter()
        .map(|e| e.path.as_str())
        .chain(malformed_paths.iter().map(String::as_str))
        .collect();
    for item in walkdir::WalkDir::new(dir)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
    {
        let item = match item {
            Ok(item) => item,
            Err(error) => {
                // A directory that cannot be listed (unreadable, or below a path too long to
                // open) may hold unlisted files: that is not a clean bill.
                let place = error
                    .path()
                    .and_then(|p| p.strip_prefix(dir).ok())
                    .map(|p| clip(&escape_name(p.as_os_str().as_encoded_bytes())))
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| ".".to_string());
                let cause = error
                    .io_error()
                    .map_or_else(|| error.to_string(), ToString::to_string);
                findings.push(Finding::new(
                    FindingKind::WalkFailed,
                    Some(&place),
                    format!(
                        "cannot examine {place} in the bundle directory ({cause}), so files there that the manifest does not list cannot be ruled out; make it readable, or remove it if it is not evidence"
                    ),
                ));
                continue;
            }
        };
        if item.file_type().is_dir() {
            continue;
        }
        let Ok(relative) = item.path().strip_prefix(dir) else {
            continue;
        };
        let Some(relative) = relative
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join("/"))
        else {
            // No manifest can list a name that is not UTF-8; never compare a lossy spelling.
            let shown = clip(&escape_name(relative.as_os_str().as_encoded_bytes()));
            findings.push(Finding::new(
                FindingKind::FileUnlisted,
                Some(&shown),
                format!("{shown} is in the bundle but its name is not UTF-8 (shown with \\x escapes), so no manifest can list it and it is not covered by the signature; remove or rename it"),
            ));
            continue;
        };
        if relative == MANIFEST_FILE || listed.contains(relative.as_str()) {
            continue;
        }
        if safe_relative(&relative).is_ok_and(|parts| is_reserved(&parts)) {
            findings.push(Finding::new(
                FindingKind::ReservedName,
                Some(&relative),
                format!("{relative} is inside {RESERVED_DIR}/, the namespace wormvault keeps for its own receipts and anchors beside the evidence; a bundle may not hold it"),
            ));
            continue;
        }
        findings.push(Finding::new(
            FindingKind::FileUnlisted,
            Some(&relative),
            format!("{relative} is in the bundle but not listed in the manifest (not covered by the signature)"),
        ));
    }
    files
}

/// A path for a message, at most 200 characters (a path below a 4096-byte chain is not read
/// whole by anyone).
fn clip(text: &str) -> String {
    if text.chars().count() <= 200 {
        return text.to_string();
    }
    let tail: String = text
        .chars()
        .rev()
        .take(120)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{}…{tail}", text.chars().take(60).collect::<String>())
}

fn check_signature(
    raw: &Map<String, Value>,
    options: &VerifyOptions,
    findings: &mut Vec<Finding>,
) -> Option<SignatureInfo> {
    let signature = match parse_signature(raw.get("signature")) {
        Ok(signature) => signature,
        Err((kind, message)) => {
            findings.push(Finding::new(kind, Some(MANIFEST_FILE), message));
            return None;
        }
    };
    // A pinned Ed25519 key (--key-id, --public-key) means "this evidence is signed by that
    // key": an HMAC or unsigned manifest can never satisfy it, whatever other key material or
    // opt-ins came along (algorithm confusion, issue #15 item 7).
    let pinned = options.key_id.is_some() || options.public_key.is_some();
    let pin = || {
        options
            .key_id
            .as_ref()
            .map(|id| format!("--key-id {id:?}"))
            .unwrap_or_else(|| "--public-key".to_string())
    };
    let Some(signature) = signature else {
        if pinned {
            findings.push(Finding::new(
                FindingKind::AlgorithmMismatch,
                Some(MANIFEST_FILE),
                format!(
                    "the manifest has no signature, but {} pins an Ed25519 key",
                    pin()
                ),
            ));
            return None;
        }
        if !options.allow_unsigned {
            findings.push(Finding::new(
                FindingKind::SignatureMissing,
                Some(MANIFEST_FILE),
                "the manifest has no signature; pass --allow-unsigned to accept unsigned evidence",
            ));
        }
        return None;
    };
    // The signed bytes: spaced canonical JSON of the manifest without `signature` (§4).
    let mut unsigned = raw.clone();
    unsigned.remove("signature");
    let message = crate::canonical::spaced(&Value::Object(unsigned));
    let mut info = SignatureInfo {
        algorithm: String::new(),
        key_id: None,
        fingerprint: None,
        verified: false,
        root_status: None,
        root_owner: None,
    };
    let mut push = |kind: FindingKind, message: String| {
        findings.push(Finding::new(kind, Some(MANIFEST_FILE), message))
    };
    if pinned && !matches!(signature, ManifestSignature::Ed25519 { .. }) {
        let algorithm = match &signature {
            ManifestSignature::HS256 { .. } => "HS256",
            _ => "SHA256",
        };
        info.algorithm = algorithm.into();
        push(
            FindingKind::AlgorithmMismatch,
            format!(
                "the manifest is {algorithm}-signed, but {} pins an Ed25519 key; an {algorithm} manifest is not evidence signed by that key",
                pin()
            ),
        );
        return Some(info);
    }
    match signature {
        ManifestSignature::SHA256 { value } => {
            info.algorithm = "SHA256".into();
            let actual = crate::hashing::sha256_hex(message.as_bytes());
            if value != actual {
                push(
                    FindingKind::DigestMismatch,
                    format!("unsigned manifest digest is {value}; the manifest hashes to {actual}"),
                );
            }
            if !options.allow_unsigned {
                push(FindingKind::UnsignedNotAllowed, "the manifest is unsigned (SHA256 only); pass --allow-unsigned to accept unsigned evidence".into());
            }
        }
        ManifestSignature::HS256 { value } => {
            info.algorithm = "HS256".into();
            match &options.hmac_key {
                None => push(FindingKind::KeyMaterialMissing, "the manifest is HMAC-signed (HS256); pass --key-file or --key-env with the HMAC key".into()),
                Some(key) => {
                    if crate::trust::hmac::verify_hmac_sha256_b64(key.expose(), message.as_bytes(), &value) {
                        info.verified = true;
                    } else {
                        push(FindingKind::SignatureInvalid, "the HS256 signature does not match: the manifest was changed or the HMAC key is wrong".into());
                    }
                }
            }
        }
        ManifestSignature::Ed25519 {
            key_id,
            value,
            public_key_sha256,
        } => {
            info.algorithm = "Ed25519".into();
            info.key_id = Some(key_id.clone());
            info.fingerprint = public_key_sha256.clone();
            if options.public_key.is_none() && options.trust.is_none() {
                push(
                    FindingKind::KeyMaterialMissing,
                    format!(
                        "the manifest is Ed25519-signed by {key_id:?}; pass --trust-root or --public-key"
                    ),
                );
                return Some(info);
            }
            if let Some(expected) = &options.key_id
                && *expected != key_id
            {
                push(
                    FindingKind::KeyIdMismatch,
                    format!("the signature is by key id {key_id:?}, but --key-id is {expected:?}"),
                );
                return Some(info);
            }
            let mut ok = true;
            if let Some((key, text_fingerprint)) = &options.public_key {
                let matches = public_key_sha256
                    .as_ref()
                    .is_none_or(|fp| fp == text_fingerprint || *fp == key.fingerprint());
                if !matches {
                    ok = false;
                    push(
                        FindingKind::FingerprintMismatch,
                        format!(
                            "the signature names public key {}, but --public-key is {text_fingerprint}",
                            public_key_sha256.clone().unwrap_or_default()
                        ),
                    );
                } else if let Err(error) = key.verify_b64(&key_id, message.as_bytes(), &value) {
                    ok = false;
                    push(trust_kind(&error), error.to_string());
                }
            }
            if let Some(trust) = &options.trust {
                let created_at = raw
                    .get("created_at")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match crate::trust::parse_timestamp(created_at) {
                    None => {
                        ok = false;
                        push(
                            FindingKind::SignedAtInvalid,
                            format!(
                                "created_at {created_at:?} is not an ISO 8601 timestamp, so the trust root's validity cannot be judged"
                            ),
                        );
                    }
                    Some(signed_at) => match trust.verify_ed25519(
                        &key_id,
                        public_key_sha256.as_deref(),
                        message.as_bytes(),
                        &value,
                        signed_at,
                    ) {
                        Ok(verified) => {
                            info.root_status = Some(verified.status);
                            info.root_owner = Some(verified.owner);
                            info.fingerprint = Some(verified.fingerprint);
                        }
                        Err(error) => {
                            ok = false;
                            push(trust_kind(&error), error.to_string());
                        }
                    },
                }
            }
            info.verified = ok;
        }
    }
    Some(info)
}

fn trust_kind(error: &TrustError) -> FindingKind {
    match error {
        TrustError::UnknownKeyId { .. } => FindingKind::UnknownKeyId,
        TrustError::FingerprintMismatch { .. } => FindingKind::FingerprintMismatch,
        TrustError::Revoked { .. } => FindingKind::RootRevoked,
        TrustError::RetiredOutsideWindow { .. } => FindingKind::RootRetiredOutsideWindow,
        TrustError::Expired { .. } => FindingKind::RootExpired,
        TrustError::NotYetValid { .. } => FindingKind::RootNotYetValid,
        TrustError::MalformedSignature { .. } => FindingKind::SignatureMalformed,
        TrustError::BadSignature { .. } => FindingKind::SignatureInvalid,
        _ => FindingKind::RootInvalid,
    }
}

/// Why `wormvault plan` would refuse this many retention days as out of range, if it would: the
/// plan keeps days as a 32-bit count and locks objects until a date that must exist (the same
/// [`crate::retention::retain_until`] the plan calls, counted from now).
fn retention_out_of_range(days: u64, minimum: u64) -> Option<String> {
    let Ok(days) = u32::try_from(days.max(minimum)) else {
        return Some(format!("over {} days", u32::MAX));
    };
    crate::retention::retain_until(chrono::Utc::now(), days)
        .err()
        .map(|_| "no retain-until date that far in the future can be represented".to_string())
}

fn check_retention(
    dir: &Path,
    minimum: u64,
    findings: &mut Vec<Finding>,
) -> Option<RetentionPolicy> {
    let path = dir.join(RETENTION_FILE);
    let malformed = |findings: &mut Vec<Finding>, why: String| {
        findings.push(Finding::new(
            FindingKind::RetentionPolicyMalformed,
            Some(RETENTION_FILE),
            why,
        ));
    };
    let text = match crate::limits::read_member_json_capped(
        &path,
        crate::limits::MAX_RETENTION_POLICY_BYTES,
        "retention policy",
    ) {
        Ok(text) => text,
        Err(crate::limits::LimitError::NotRegular { found, .. }) => {
            // Listed, it is already reported by the file check; say it once.
            let reported = findings.iter().any(|f| {
                f.kind == FindingKind::FileNotRegular && f.path.as_deref() == Some(RETENTION_FILE)
            });
            if !reported {
                findings.push(Finding::new(
                    FindingKind::FileNotRegular,
                    Some(RETENTION_FILE),
                    format!("retention-policy.json is {found}, not a regular file, so it was not read; replace it with the file itself"),
                ));
            }
            return None;
        }
        Err(error) if error.io_kind() == Some(std::io::ErrorKind::NotFound) => {
            findings.push(Finding::new(
                FindingKind::RetentionPolicyMissing,
                Some(RETENTION_FILE),
                format!("no retention-policy.json; a minimum of {minimum} days is required"),
            ));
            return None;
        }
        Err(error) => {
            malformed(findings, format!("retention-policy.json: {error}"));
            return None;
        }
    };
    let value = match crate::canonical::parse_strict(&text) {
        Ok(value @ Value::Object(_)) => value,
        Ok(other) => {
            malformed(
                findings,
                format!(
                    "retention-policy.json must be a JSON object, found {}",
                    json_type(&other)
                ),
            );
            return None;
        }
        Err(error) => {
            malformed(
                findings,
                format!("retention-policy.json is not valid JSON: {error}"),
            );
            return None;
        }
    };
    // retention_days first, on its own, so a short retention is named even if other fields are off.
    match value.get("retention_days") {
        Some(Value::Number(days)) if days.as_u64().is_some() => {
            let days = days.as_u64().unwrap_or_default();
            if days < minimum {
                findings.push(Finding::new(
                    FindingKind::RetentionBelowMinimum,
                    Some(RETENTION_FILE),
                    format!("retention_days is {days}; at least {minimum} is required"),
                ));
            }
            if let Some(why) = retention_out_of_range(days, minimum) {
                findings.push(Finding::new(
                    FindingKind::RetentionOutOfRange,
                    Some(RETENTION_FILE),
                    format!("retention_days {days} is out of range ({why}); `wormvault plan` refuses it, so the bundle cannot be archived — re-create it with a real retention period"),
                ));
            }
        }
        other => {
            malformed(
                findings,
                format!(
                    "retention_days must be a non-negative integer, found {}",
                    other.map_or("nothing", json_type)
                ),
            );
            return None;
        }
    }
    match serde_json::from_value::<RetentionPolicy>(value) {
        Ok(policy) if policy.schema_version == RETENTION_SCHEMA => Some(policy),
        Ok(policy) => {
            malformed(
                findings,
                format!(
                    "schema_version is {:?}; expected {RETENTION_SCHEMA:?}",
                    policy.schema_version
                ),
            );
            None
        }
        Err(error) => {
            malformed(findings, format!("retention-policy.json: {error}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{CreateOptions, Signing, create, pack};
    use crate::trust::{KeyPair, parse_timestamp};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cavra");

    fn fixture_key() -> KeyPair {
        KeyPair::from_pkcs8_pem(
            include_str!("../../tests/fixtures/cavra/keys/evidence-ed25519-private.pem"),
            "fixture",
        )
        .unwrap()
    }

    fn trust_options() -> VerifyOptions {
        let store =
            TrustStore::load(&Path::new(FIXTURES).join("keys/evidence-trust-roots.json")).unwrap();
        VerifyOptions {
            trust: Some(store),
            key_id: Some("prod-evidence".into()),
            ..VerifyOptions::default()
        }
    }

    fn make(dir: &Path, signing: Signing) -> PathBuf {
        let inputs = dir.join("in");
        std::fs::create_dir_all(&inputs).unwrap();
        std::fs::write(inputs.join("evidence.json"), "{\"ok\": true}\n").unwrap();
        std::fs::write(inputs.join("notes.md"), "r\u{e8}gle\n").unwrap();
        let output = dir.join("bundle");
        create(
            &[inputs],
            &CreateOptions {
                output: output.clone(),
                signer: "platform-security".into(),
                signing,
                retention_days: 2555,
                classification: "regulated-sdlc".into(),
                legal_hold: false,
                session_id: Some("s-1".into()),
                created_at: parse_timestamp("2026-11-22T06:00:00+00:00"),
            },
        )
        .unwrap();
        output
    }

    #[test]
    fn fixtures_verify() {
        let report = verify(
            &Path::new(FIXTURES).join("bundle-ed25519"),
            &trust_options(),
        )
        .unwrap();
        assert!(report.valid, "{:?}", report.findings);
        let signature = report.signature.clone().unwrap();
        assert_eq!(
            (signature.algorithm.as_str(), signature.verified),
            ("Ed25519", true)
        );
        assert_eq!(
            signature.fingerprint.as_deref(),
            Some("06876be07c0b9b7826625aceb1f81f1bd705a0a278cc66729d0acebee5cc6567")
        );
        assert_eq!(report.files.len(), 3);
        assert_eq!(
            report.retention_policy.as_ref().unwrap().retention_days,
            2555
        );
        let raw = std::fs::read_to_string(Path::new(FIXTURES).join("bundle-ed25519/manifest.json"))
            .unwrap();
        let expected = crate::hashing::sha256_hex(
            crate::canonical::spaced(&crate::canonical::parse_strict(&raw).unwrap()).as_bytes(),
        );
        assert_eq!(report.digest.as_deref(), Some(expected.as_str()));

        let hmac = VerifyOptions {
            hmac_key: Some(Secret::new(b"bundle-secret".to_vec())),
            ..VerifyOptions::default()
        };
        let report = verify(&Path::new(FIXTURES).join("bundle-hmac"), &hmac).unwrap();
        assert!(report.valid, "{:?}", report.findings);
        let wrong = VerifyOptions {
            hmac_key: Some(Secret::new(b"bundle-secreT".to_vec())),
            ..VerifyOptions::default()
        };
        assert_eq!(
            verify(&Path::new(FIXTURES).join("bundle-hmac"), &wrong)
                .unwrap()
                .kinds(),
            ["signature_invalid"]
        );
    }

    #[test]
    fn deferred_hashing_gives_the_full_verdict_once_finished() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(
            dir.path(),
            Signing::Ed25519 {
                key: fixture_key(),
                key_id: Some("prod-evidence".into()),
            },
        );
        let full = verify(&bundle, &trust_options()).unwrap();
        assert!(full.valid && full.deferred.is_empty());
        // Defer everything of at least 1 byte: nothing is hashed yet, the claims stand in.
        let deferring = VerifyOptions {
            defer_hashing_from: Some(1),
            ..trust_options()
        };
        let mut report = verify(&bundle, &deferring).unwrap();
        assert_eq!(
            report.deferred,
            ["evidence.json", "notes.md", "retention-policy.json"]
        );
        finish_deferred(&mut report, None);
        assert!(report.valid && report.deferred.is_empty());
        assert_eq!(report.files, full.files);

        // Same size, other content: only the deferred check can see it, and it does.
        let notes = std::fs::read(bundle.join("notes.md")).unwrap();
        let mut changed = notes.clone();
        changed[0] ^= 0x20;
        std::fs::write(bundle.join("notes.md"), &changed).unwrap();
        let mut report = verify(&bundle, &deferring).unwrap();
        assert!(report.valid, "content is not judged before finish_deferred");
        finish_deferred(&mut report, None);
        assert!(!report.valid);
        assert_eq!(report.kinds(), ["file_hash_mismatch"]);
        assert_eq!(
            report.kinds(),
            verify(&bundle, &trust_options()).unwrap().kinds()
        );
        // A size change is seen at once (such a file is not deferred).
        std::fs::write(bundle.join("notes.md"), b"short").unwrap();
        let report = verify(&bundle, &deferring).unwrap();
        assert!(!report.deferred.contains(&"notes.md".to_string()));
        assert!(report.kinds().contains(&"file_size_mismatch"));
    }

    #[test]
    fn created_bundles_verify_and_tampering_is_reported_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(
            dir.path(),
            Signing::Ed25519 {
                key: fixture_key(),
                key_id: Some("prod-evidence".into()),
            },
        );
        let report = verify(&bundle, &trust_options()).unwrap();
        assert!(report.valid, "{:?}", report.findings);
        assert_eq!(
            report
                .files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>(),
            ["evidence.json", "notes.md", "retention-policy.json"]
        );
        assert!(
            report
                .files
                .iter()
                .all(|f| f.source.is_absolute() && f.source.is_file())
        );

        // Several problems at once: all reported.
        std::fs::write(bundle.join("notes.md"), "changed\n").unwrap();
        std::fs::remove_file(bundle.join("evidence.json")).unwrap();
        std::fs::write(bundle.join("extra.txt"), "x").unwrap();
        let report = verify(&bundle, &trust_options()).unwrap();
        assert!(!report.valid);
        assert_eq!(
            report.kinds(),
            [
                "file_missing",
                "file_size_mismatch",
                "file_hash_mismatch",
                "file_unlisted"
            ]
        );
    }

    #[test]
    fn reserved_names_are_refused_listed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(
            dir.path(),
            Signing::Ed25519 {
                key: fixture_key(),
                key_id: Some("prod-evidence".into()),
            },
        );
        // Present but unlisted: named as reserved, not merely unlisted.
        std::fs::create_dir_all(bundle.join("_wormvault")).unwrap();
        std::fs::write(bundle.join("_wormvault/receipts.json"), "{}").unwrap();
        let report = verify(&bundle, &trust_options()).unwrap();
        assert_eq!(report.kinds(), ["reserved_name"]);
        assert_eq!(
            report.findings[0].path.as_deref(),
            Some("_wormvault/receipts.json")
        );
    }

    #[test]
    fn hmac_and_unsigned_bundles() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(dir.path(), Signing::Hmac(Secret::new(b"k".to_vec())));
        let hmac = VerifyOptions {
            hmac_key: Some(Secret::new(b"k".to_vec())),
            ..VerifyOptions::default()
        };
        assert!(verify(&bundle, &hmac).unwrap().valid);
        // An HMAC bundle offered to a trust-root verification is not silently accepted.
        let roots_only = VerifyOptions {
            key_id: None,
            ..trust_options()
        };
        assert_eq!(
            verify(&bundle, &roots_only).unwrap().kinds(),
            ["key_material_missing"]
        );
        // Algorithm confusion: a verify that pins an Ed25519 key by --key-id (or --public-key)
        // is never satisfied by an HMAC signature, even with the right HMAC key at hand.
        assert_eq!(
            verify(&bundle, &trust_options()).unwrap().kinds(),
            ["algorithm_mismatch"]
        );
        let confused = VerifyOptions {
            hmac_key: Some(Secret::new(b"k".to_vec())),
            ..trust_options()
        };
        let report = verify(&bundle, &confused).unwrap();
        assert_eq!(report.kinds(), ["algorithm_mismatch"]);
        assert!(!report.signature.unwrap().verified);
        let by_public_key = VerifyOptions {
            hmac_key: Some(Secret::new(b"k".to_vec())),
            public_key: Some((fixture_key().public(), fixture_key().public().fingerprint())),
            ..VerifyOptions::default()
        };
        assert_eq!(
            verify(&bundle, &by_public_key).unwrap().kinds(),
            ["algorithm_mismatch"]
        );

        let dir = tempfile::tempdir().unwrap();
        let bundle = make(dir.path(), Signing::Unsigned);
        assert_eq!(
            verify(&bundle, &VerifyOptions::default()).unwrap().kinds(),
            ["unsigned_not_allowed"]
        );
        let allow = VerifyOptions {
            allow_unsigned: true,
            ..VerifyOptions::default()
        };
        assert!(verify(&bundle, &allow).unwrap().valid);
        // --allow-unsigned does not stretch to a verify that pinned a key id.
        let pinned = VerifyOptions {
            allow_unsigned: true,
            ..trust_options()
        };
        assert_eq!(
            verify(&bundle, &pinned).unwrap().kinds(),
            ["algorithm_mismatch"]
        );
    }

    #[test]
    fn packed_archives_are_deterministic_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(
            dir.path(),
            Signing::Ed25519 {
                key: fixture_key(),
                key_id: Some("prod-evidence".into()),
            },
        );
        let first = pack(&bundle, &dir.path().join("a.tar.gz")).unwrap();
        let second = pack(&bundle, &dir.path().join("b.tar.gz")).unwrap();
        assert_eq!(first.sha256, second.sha256);
        assert_eq!(
            std::fs::read(&first.output).unwrap(),
            std::fs::read(&second.output).unwrap()
        );
        assert!(matches!(
            pack(&bundle, &first.output),
            Err(BundleError::OutputExists { .. })
        ));
        let report = verify(&first.output, &trust_options()).unwrap();
        assert!(report.valid, "{:?}", report.findings);
        let directory_report = verify(&bundle, &trust_options()).unwrap();
        assert_eq!(report.digest, directory_report.digest);
        assert!(report.bundle_dir.join("manifest.json").is_file());
        let kept = report.bundle_dir.clone();
        drop(report);
        assert!(!kept.exists(), "the temp dir goes with the report");
    }

    #[test]
    fn missing_inputs_are_errors_not_findings() {
        assert!(matches!(
            verify(Path::new("/nonexistent/bundle"), &VerifyOptions::default()),
            Err(BundleError::NotFound { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, "not an archive").unwrap();
        assert!(matches!(
            verify(&plain, &VerifyOptions::default()),
            Err(BundleError::NotABundle { .. })
        ));
    }
    fn unsigned_options() -> VerifyOptions {
        VerifyOptions {
            allow_unsigned: true,
            ..VerifyOptions::default()
        }
    }

    /// Edit an unsigned bundle's manifest and re-seal its SHA256 value (no key needed).
    fn reseal(bundle: &Path, edit: impl FnOnce(&mut Map<String, Value>)) {
        let path = bundle.join(MANIFEST_FILE);
        let mut value: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let manifest = value.as_object_mut().unwrap();
        edit(manifest);
        manifest.remove("signature");
        let digest = crate::hashing::sha256_hex(
            crate::canonical::spaced(&Value::Object(manifest.clone())).as_bytes(),
        );
        manifest.insert(
            "signature".into(),
            serde_json::json!({"algorithm": "SHA256", "value": digest}),
        );
        std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    }

    fn entry_for(bundle: &Path, listed: &str, on_disk: &str) -> Value {
        let bytes = std::fs::read(bundle.join(on_disk)).unwrap();
        serde_json::json!({"path": listed, "sha256": crate::hashing::sha256_hex(&bytes), "bytes": bytes.len()})
    }

    /// Review D1/D6: a listed path that is not in its one normal form is refused as `plan`
    /// refuses it (`./x`, `x/`, `a//b`), not accepted or reported as unreadable.
    #[test]
    fn listed_paths_must_be_in_the_form_plan_accepts() {
        for listed in ["./evidence.json", "evidence.json/", "./evidence.json/."] {
            let dir = tempfile::tempdir().unwrap();
            let bundle = make(dir.path(), Signing::Unsigned);
            assert!(verify(&bundle, &unsigned_options()).unwrap().valid);
            reseal(&bundle, |manifest| {
                let files = manifest["files"].as_array_mut().unwrap();
                files[0] = entry_for(&bundle, listed, "evidence.json");
            });
            let report = verify(&bundle, &unsigned_options()).unwrap();
            assert_eq!(report.kinds(), ["unsafe_path", "file_unlisted"], "{listed}");
            assert_eq!(report.findings[0].path.as_deref(), Some(listed));
        }
    }

    /// Review 32 cav-04: `"bytes": 20.0` is the integer Python compares it equal to (CAVRA does
    /// not check `bytes`); a malformed entry is one manifest finding, and the file it names is
    /// not also called unlisted.
    #[test]
    fn integral_float_byte_counts_verify_and_malformed_entries_are_not_unlisted_files() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(dir.path(), Signing::Unsigned);
        reseal(&bundle, |manifest| {
            let files = manifest["files"].as_array_mut().unwrap();
            let bytes = files[0]["bytes"].as_u64().unwrap();
            files[0]["bytes"] = serde_json::json!(bytes as f64);
        });
        assert!(
            std::fs::read_to_string(bundle.join(MANIFEST_FILE))
                .unwrap()
                .contains(".0,")
        );
        let report = verify(&bundle, &unsigned_options()).unwrap();
        assert!(report.valid, "{:?}", report.findings);
        for bad in [
            serde_json::json!(20.5),
            serde_json::json!("20"),
            serde_json::json!(-1.0),
            serde_json::json!(1e300),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let bundle = make(dir.path(), Signing::Unsigned);
            reseal(&bundle, |manifest| {
                manifest["files"].as_array_mut().unwrap()[0]["bytes"] = bad.clone();
            });
            let report = verify(&bundle, &unsigned_options()).unwrap();
            assert_eq!(report.kinds(), ["manifest_invalid"], "{bad}");
            assert!(
                report.findings[0]
                    .message
                    .ends_with("\"bytes\" must be a non-negative integer"),
                "{}",
                report.findings[0].message
            );
        }
    }

    /// Review D2/D3/C1: symlinks anywhere in a listed path (or as manifest.json) and FIFOs are
    /// refused without being read or waited on; nothing outside the bundle is hashed.
    #[test]
    fn symlinks_and_fifos_in_bundles_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(dir.path(), Signing::Unsigned);
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), "outside the bundle\n").unwrap();
        std::os::unix::fs::symlink(&outside, bundle.join("sub")).unwrap();
        reseal(&bundle, |manifest| {
            let files = manifest["files"].as_array_mut().unwrap();
            files.push(
                serde_json::json!({"path": "sub/secret", "sha256": "0".repeat(64), "bytes": 1}),
            );
        });
        let report = verify(&bundle, &unsigned_options()).unwrap();
        assert_eq!(report.kinds(), ["file_not_regular", "file_unlisted"]);
        assert_eq!(report.findings[0].path.as_deref(), Some("sub/secret"));
        assert!(report.files.iter().all(|f| f.path != "sub/secret"));

        // manifest.json as a symlink to a valid manifest elsewhere.
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(dir.path(), Signing::Unsigned);
        std::fs::rename(bundle.join(MANIFEST_FILE), dir.path().join("real.json")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.json"), bundle.join(MANIFEST_FILE))
            .unwrap();
        let report = verify(&bundle, &unsigned_options()).unwrap();
        assert_eq!(report.kinds(), ["file_not_regular"]);
        assert_eq!(report.findings[0].path.as_deref(), Some(MANIFEST_FILE));

        // FIFOs as manifest.json and as (listed) retention-policy.json: refused at once.
        for victim in [MANIFEST_FILE, RETENTION_FILE] {
            let dir = tempfile::tempdir().unwrap();
            let bundle = make(dir.path(), Signing::Unsigned);
            std::fs::remove_file(bundle.join(victim)).unwrap();
            let status = std::process::Command::new("mkfifo")
                .arg(bundle.join(victim))
                .status()
                .unwrap();
            assert!(status.success());
            let (send, receive) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let kinds = verify(&bundle, &unsigned_options()).unwrap().kinds();
                send.send((kinds, dir)).unwrap();
            });
            let (kinds, _dir) = receive
                .recv_timeout(std::time::Duration::from_secs(20))
                .expect("verify must not block on a FIFO");
            assert_eq!(kinds, ["file_not_regular"], "{victim}");
        }
    }

    /// Review B1/B2: an unlisted file with a non-UTF-8 name is reported even when the manifest
    /// lists its U+FFFD spelling, and a directory the walk cannot enter is a finding.
    #[test]
    fn unlisted_files_are_never_hidden_by_names_or_walk_errors() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(dir.path(), Signing::Unsigned);
        std::fs::write(bundle.join("note-\u{fffd}.txt"), "signed\n").unwrap();
        std::fs::write(
            bundle.join(std::ffi::OsStr::from_bytes(b"note-\xff.txt")),
            "smuggled\n",
        )
        .unwrap();
        reseal(&bundle, |manifest| {
            let files = manifest["files"].as_array_mut().unwrap();
            files.push(entry_for(&bundle, "note-\u{fffd}.txt", "note-\u{fffd}.txt"));
        });
        let report = verify(&bundle, &unsigned_options()).unwrap();
        assert_eq!(report.kinds(), ["file_unlisted"]);
        assert_eq!(report.findings[0].path.as_deref(), Some("note-\\xff.txt"));

        // An unlisted file below a directory chain longer than PATH_MAX.
        let dir = tempfile::tempdir().unwrap();
        let bundle = make(dir.path(), Signing::Unsigned);
        // Relative chdir steps (as an attacker would); `sh`'s `cd` gives up at PATH_MAX.
        let script = "import os, sys\nos.chdir(sys.argv[1])\nfor _ in range(20):\n    os.mkdir('d' * 250)\n    os.chdir('d' * 250)\nopen('smuggled', 'w').write('x')\n";
        let status = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&bundle)
            .status()
            .unwrap();
        assert!(status.success());
        let report = verify(&bundle, &unsigned_options()).unwrap();
        assert_eq!(report.kinds(), ["walk_failed"]);
        assert!(!report.valid);
    }

    /// Review: retention_days that `plan` refuses as out of range are refused by verify too.
    #[test]
    fn retention_days_out_of_plan_range_are_findings() {
        let field = regex::Regex::new(r#""retention_days": \d+"#).unwrap();
        for (days, expected) in [
            ("4294967296", &["retention_out_of_range"][..]),
            ("18446744073709551615", &["retention_out_of_range"]),
            ("4294967295", &["retention_out_of_range"]),
            ("10000000", &[]),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let bundle = make(dir.path(), Signing::Unsigned);
            let path = bundle.join(RETENTION_FILE);
            let text = std::fs::read_to_string(&path).unwrap();
            let edited = field
                .replace(&text, format!("\"retention_days\": {days}").as_str())
                .into_owned();
            assert_ne!(edited, text);
            std::fs::write(&path, edited).unwrap();
            reseal(&bundle, |manifest| {
                for file in manifest["files"].as_array_mut().unwrap() {
                    if file["path"] == RETENTION_FILE {
                        *file = entry_for(&bundle, RETENTION_FILE, RETENTION_FILE);
                    }
                }
            });
            assert_eq!(
                verify(&bundle, &unsigned_options()).unwrap().kinds(),
                expected,
                "{days}"
            );
        }
    }
}
