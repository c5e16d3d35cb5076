//! Reading a bundle `.tar.gz` safely: the archive is streamed once, each entry is checked
//! before anything is written, and only regular files with safe relative names are written —
//! with create-only opens, inside a fresh temporary directory — while being hashed (so the
//! verifier does not read them twice). Absolute paths, `..`, symlinks, hard links, devices,
//! FIFOs, duplicate names, oversize entries and too many entries are findings, never writes.
//!
//! The archive is read the way other extractors read it, and anything they could read
//! differently is refused (issue #15 item 9): the gzip member is read to its end so its CRC32
//! and ISIZE trailer are checked (a missing trailer or a mismatch is `archive_gzip_integrity`);
//! after the tar end-of-archive only zero padding may follow (`archive_trailing_data`); and no
//! byte may follow the gzip member — GNU tar decompresses a second member (`gzip -d` reads
//! them all) and would unpack files this reader never saw. A PAX global header (`g`, what
//! `git archive` writes) is skipped as tar skips it, unless it carries keywords that change
//! what the following entries are (path, linkpath, size). A `manifest.json` or
//! `retention-policy.json` entry over its document limit (src/limits.rs) is never extracted
//! and stops the read at once, so a small archive that inflates to gigabytes costs neither
//! memory nor disk.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{
    BundleError, Finding, FindingKind, MANIFEST_FILE, RETENTION_FILE, path_too_long, safe_relative,
};
use crate::hashing::{FileDigest, READ_SIZE};

/// Bounds on what an archive may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Most entries (of any type) read before giving up.
    pub max_entries: usize,
    /// Largest single entry, in bytes.
    pub max_entry_bytes: u64,
    /// Largest total of all written entries, in bytes.
    pub max_total_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_entry_bytes: 64 << 30,
            max_total_bytes: 256 << 30,
        }
    }
}

/// Zero padding accepted after the tar end-of-archive (GNU tar pads to its 10 KiB record; the
/// largest blocking factor in use is far below this).
pub const MAX_TAR_PADDING: u64 = 1 << 20;
/// Largest PAX global header read (git archive writes one 52-byte `comment` record).
const MAX_GLOBAL_HEADER_BYTES: u64 = 64 << 10;
/// PAX keywords that, in a global header, would change the names, links or sizes of the
/// entries after it for an extractor that applies them.
const GLOBAL_KEYWORDS_REFUSED: [&str; 4] = ["path", "linkpath", "size", "GNU.sparse"];

/// What extraction produced.
#[derive(Debug)]
pub struct Extracted {
    pub temp: tempfile::TempDir,
    /// The bundle root inside `temp` (the temp dir itself, or its single top-level directory).
    pub root: PathBuf,
    pub findings: Vec<Finding>,
    /// Digests computed while writing, by absolute extracted path.
    pub digests: HashMap<PathBuf, FileDigest>,
}

/// Is this path a gzip file (by its magic bytes)?
pub fn looks_like_gzip(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok()
        && magic == [0x1f, 0x8b]
}

/// Stream `archive` into a new temporary directory, checking every entry.
pub fn extract(archive: &Path, limits: &ArchiveLimits) -> Result<Extracted, BundleError> {
    let temp = tempfile::Builder::new()
        .prefix("wormvault-bundle-")
        .tempdir()
        .map_err(|source| BundleError::Io {
            action: "creating a temporary directory for",
            path: archive.to_path_buf(),
            source,
        })?;
    let file = File::open(archive).map_err(|source| BundleError::Io {
        action: "opening",
        path: archive.to_path_buf(),
        source,
    })?;
    // bufread::GzDecoder over our own BufReader: after the member ends, the bytes that follow
    // it are still in that BufReader to be checked (read::GzDecoder would hide them).
    let mut reader = tar::Archive::new(flate2::bufread::GzDecoder::new(BufReader::with_capacity(
        READ_SIZE, file,
    )));
    // True until a finding stops the read early; then the end of the stream is not examined
    // (the archive is already rejected).
    let mut read_to_end = true;
    let mut findings = Vec::new();
    let mut digests = HashMap::new();
    let mut seen = BTreeSet::new();
    let mut names = FoldedNames::default();
    let mut count = 0usize;
    let mut total = 0u64;
    let corrupt = |error: &dyn std::fmt::Display| {
        Finding::new(
            FindingKind::ArchiveCorrupt,
            None,
            format!("cannot read the archive: {error}; re-create it with `wormvault bundle pack`"),
        )
    };
    match reader.entries() {
        Err(error) => {
            read_to_end = false;
            findings.push(corrupt(&error));
        }
        Ok(entries) => {
            for entry in entries {
                let mut entry = match entry {
                    Ok(entry) => entry,
                    Err(error) => {
                        read_to_end = false;
                        findings.push(read_failure(&error));
                        break;
                    }
                };
                count += 1;
                if count > limits.max_entries {
                    findings.push(Finding::new(
                        FindingKind::ArchiveTooManyEntries,
                        None,
                        format!(
                            "the archive has more than {} entries; refusing to read further",
                            limits.max_entries
                        ),
                    ));
                    read_to_end = false;
                    break;
                }
                if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
                    if let Some(finding) = global_header(&mut entry) {
                        findings.push(finding);
                    }
                    continue;
                }
                let raw = entry.path_bytes().into_owned();
                let name = String::from_utf8_lossy(&raw).into_owned();
                if let Some(why) = ambiguity(&mut entry, &raw) {
                    findings.push(Finding::new(
                        FindingKind::ArchiveAmbiguousEntry,
                        Some(&name),
                        format!(
                            "archive entry {name:?} {why}; GNU tar or Python's tarfile could read it differently from this verifier, so it was not extracted and the archive is rejected — re-create it with `wormvault bundle pack`"
                        ),
                    ));
                    continue;
                }
                let parts = match std::str::from_utf8(&raw)
                    .map_err(|_| "name is not UTF-8".to_string())
                    .and_then(safe_relative)
                {
                    Ok(parts) => parts,
                    Err(reason) => {
                        findings.push(Finding::new(
                            FindingKind::ArchiveUnsafePath,
                            Some(&name),
                            format!(
                                "archive entry {name:?} is unsafe ({reason}); it was not extracted"
                            ),
                        ));
                        continue;
                    }
                };
                let kind = entry.header().entry_type();
                if kind.is_symlink() || kind.is_hard_link() {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    findings.push(Finding::new(
                        FindingKind::ArchiveLink,
                        Some(&name),
                        format!("archive entry {name:?} is a link to {target:?}; bundles hold regular files only"),
                    ));
                    continue;
                }
                if parts.is_empty() {
                    if kind.is_dir() {
                        continue; // "./": the archive root itself.
                    }
                    findings.push(Finding::new(
                        FindingKind::ArchiveAmbiguousEntry,
                        Some(&name),
                        format!("archive entry {name:?} is a file whose name names no file (only a directory may be the archive root); it was not extracted and the archive is rejected"),
                    ));
                    continue;
                }
                let key = parts.join("/");
                if let Some(why) = path_too_long(&key) {
                    findings.push(Finding::new(
                        FindingKind::PathTooLong,
                        Some(&name),
                        format!(
                            "archive entry {:?}… is too long ({why}); it was not extracted",
                            clip(&name)
                        ),
                    ));
                    continue;
                }
                if let Some(earlier) = names.collides(&parts) {
                    findings.push(Finding::new(
                        FindingKind::ArchiveNameCollision,
                        Some(&name),
                        format!("archive entry {name:?} and the earlier {earlier:?} differ only in letter case or Unicode normalisation; macOS and Windows extract them as one file, so it was not extracted and the archive is rejected — rename one of them"),
                    ));
                    continue;
                }
                let relative: PathBuf = parts.iter().collect();
                if kind.is_dir() {
                    if !seen.insert(key.clone()) {
                        findings.push(duplicate(&name));
                        continue;
                    }
                    if std::fs::create_dir_all(temp.path().join(&relative)).is_err() {
                        findings.push(conflict(&name));
                    }
                    continue;
                }
                if !(kind.is_file() || kind.is_contiguous()) {
                    findings.push(Finding::new(
                        FindingKind::ArchiveSpecialEntry,
                        Some(&name),
                        format!("archive entry {name:?} has tar type flag {:?} (a device, FIFO or unknown type); it was not extracted", char::from(kind.as_byte())),
                    ));
                    continue;
                }
                if !seen.insert(key) {
                    findings.push(duplicate(&name));
                    continue;
                }
                let size = entry.size();
                // The bundle's own JSON documents, at the root or in the single top-level
                // directory: over their limit they are refused unread, and reading stops.
                let document = (parts.len() <= 2)
                    .then(|| parts.last().map(String::as_str))
                    .flatten();
                let document_limit = match document {
                    Some(MANIFEST_FILE) => Some(crate::limits::MAX_MANIFEST_BYTES),
                    Some(RETENTION_FILE) => Some(crate::limits::MAX_RETENTION_POLICY_BYTES),
                    _ => None,
                };
                if let Some(limit) = document_limit
                    && size > limit
                {
                    findings.push(if document == Some(MANIFEST_FILE) {
                        super::manifest::manifest_too_large(size, limit)
                    } else {
                        Finding::new(
                            FindingKind::RetentionPolicyMalformed,
                            Some(RETENTION_FILE),
                            format!("archive entry {name:?} is {size} bytes, over the {limit}-byte retention policy limit; it was not extracted"),
                        )
                    });
                    read_to_end = false;
                    break;
                }
                if size > limits.max_entry_bytes {
                    findings.push(Finding::new(
                        FindingKind::ArchiveEntryTooLarge,
                        Some(&name),
                        format!("archive entry {name:?} is {size} bytes, over the {}-byte limit; it was not extracted", limits.max_entry_bytes),
                    ));
                    continue;
                }
                total = total.saturating_add(size);
                if total > limits.max_total_bytes {
                    findings.push(Finding::new(
                        FindingKind::ArchiveEntryTooLarge,
                        Some(&name),
                        format!("the archive's files exceed the {}-byte total limit at entry {name:?}; refusing to read further", limits.max_total_bytes),
                    ));
                    read_to_end = false;
                    break;
                }
                let destination = temp.path().join(&relative);
                // Nothing but our own directories and files exist under `temp`, so a failure
                // here means the names conflict (a file where a directory should be, or the
                // reverse): a finding about the archive, not an I/O error of this machine.
                let parent_ok = destination
                    .parent()
                    .is_none_or(|parent| std::fs::create_dir_all(parent).is_ok());
                if !parent_ok || destination.exists() {
                    findings.push(conflict(&name));
                    continue;
                }
                match write_hashed(&mut entry, &destination) {
                    Ok(digest) => {
                        digests.insert(destination, digest);
                    }
                    Err(WriteError::Read(error)) => {
                        findings.push(read_failure(&error));
                        read_to_end = false;
                        break;
                    }
                    Err(WriteError::Write(source)) => {
                        return Err(BundleError::Io {
                            action: "writing",
                            path: destination,
                            source,
                        });
                    }
                }
            }
        }
    }
    if read_to_end {
        findings.extend(check_end(reader.into_inner()));
    }
    let root = bundle_root(temp.path());
    Ok(Extracted {
        temp,
        root,
        findings,
        digests,
    })
}

/// After the last tar entry: the rest of the gzip member must be zero padding, the member's
/// trailer must match (read to its end, the decoder checks CRC32 and ISIZE), and nothing may
/// follow the member.
fn check_end(mut gzip: flate2::bufread::GzDecoder<BufReader<File>>) -> Vec<Finding> {
    let mut buffer = vec![0u8; 64 << 10];
    let mut padding = 0u64;
    loop {
        match gzip.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                padding += n as u64;
                if buffer[..n].iter().any(|&b| b != 0) || padding > MAX_TAR_PADDING {
                    return vec![Finding::new(
                        FindingKind::ArchiveTrailingData,
                        None,
                        "the archive has data after the tar end-of-archive marker; another extractor (tar --ignore-zeros) could unpack files this verification never saw, so the archive is rejected",
                    )];
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return vec![read_failure(&error)],
        }
    }
    let mut rest = gzip.into_inner();
    match rest.fill_buf() {
        Ok([]) => Vec::new(),
        Ok(_) => vec![Finding::new(
            FindingKind::ArchiveTrailingData,
            None,
            "bytes follow the end of the gzip stream (a second gzip member or appended data); gzip -d and GNU tar would unpack them as well, so the archive is rejected — re-create it with `wormvault bundle pack`",
        )],
        Err(error) => vec![read_failure(&error)],
    }
}

/// A read error from the gzip/tar stream: a failed gzip trailer check (CRC32, ISIZE, missing
/// trailer) is named as such; anything else is a corrupt archive.
fn read_failure(error: &std::io::Error) -> Finding {
    let text = error.to_string();
    if error.kind() == std::io::ErrorKind::UnexpectedEof || text.contains("checksum") {
        Finding::new(
            FindingKind::ArchiveGzipIntegrity,
            None,
            format!(
                "the gzip stream fails its integrity check ({}): its CRC32/size trailer is missing or does not match the content; the archive is truncated or altered",
                if error.kind() == std::io::ErrorKind::UnexpectedEof {
                    "truncated".to_string()
                } else {
                    text
                }
            ),
        )
    } else {
        Finding::new(
            FindingKind::ArchiveCorrupt,
            None,
            format!("cannot read the archive: {error}; re-create it with `wormvault bundle pack`"),
        )
    }
}

/// A PAX global header: ignored as tar ignores it, unless it is oversized or carries keywords
/// that would change the entries after it for an extractor that applies them.
fn global_header<R: Read>(entry: &mut tar::Entry<'_, R>) -> Option<Finding> {
    let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let size = entry.size();
    let refuse = |why: String| {
        Some(Finding::new(
            FindingKind::ArchiveSpecialEntry,
            Some(&name),
            format!(
                "PAX global header {name:?} {why}; another extractor would apply it to the entries after it, so the archive is rejected"
            ),
        ))
    };
    if size > MAX_GLOBAL_HEADER_BYTES {
        return refuse(format!(
            "is {size} bytes, over the {MAX_GLOBAL_HEADER_BYTES}-byte limit"
        ));
    }
    let extensions = match entry.pax_extensions() {
        Ok(Some(extensions)) => extensions,
        Ok(None) => return None,
        Err(error) => return refuse(format!("cannot be read ({error})")),
    };
    for extension in extensions {
        let Ok(extension) = extension else {
            return refuse("has a malformed record".into());
        };
        let key = String::from_utf8_lossy(extension.key_bytes()).into_owned();
        if GLOBAL_KEYWORDS_REFUSED
            .iter()
            .any(|refused| key == *refused || key.starts_with(&format!("{refused}.")))
        {
            return refuse(format!("sets {key:?}"));
        }
    }
    None
}

/// PAX keywords an entry's own extended header may carry: the name, link and size (which this
/// reader applies as GNU tar and Python do, and which are checked below) and attributes that
/// change nothing about which bytes land under which name. Anything else (`GNU.sparse.*`, which
/// renames and reshapes the data for GNU tar; unknown keywords) is refused rather than guessed.
const LOCAL_KEYWORDS_ALLOWED: [&str; 12] = [
    "path", "linkpath", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname",
    "comment", "charset",
];
const LOCAL_KEYWORD_PREFIXES_ALLOWED: [&str; 3] =
    ["SCHILY.xattr.", "LIBARCHIVE.xattr.", "SCHILY.acl."];

/// Why other extractors could read this entry differently from the tar crate, if they could:
/// - data carried by an entry that is not a regular file (a directory "with data": the tar
///   crate skips it, Python's tarfile and GNU tar read it as further members);
/// - a regular file whose name ends in `/` (GNU tar and Python extract it as a directory);
/// - a PAX `path`/`linkpath` that differs from the name the tar crate uses (it prefers a GNU
///   LongName/LongLink; Python and GNU tar, depending on the order, the PAX record);
/// - a malformed PAX record, a keyword given twice, or a keyword outside the allowed set;
/// - a GNU or pre-POSIX header with bytes in the ustar `prefix` field (the tar crate ignores
///   them there; Python prepends them to the name).
fn ambiguity<R: Read>(entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Option<String> {
    let kind = entry.header().entry_type();
    let regular = kind.is_file() || kind.is_contiguous();
    let declared = entry.header().entry_size().unwrap_or(u64::MAX);
    if !regular && (entry.size() != 0 || declared != 0) {
        return Some(format!(
            "is not a regular file (tar type flag {:?}) but carries {} bytes of data",
            char::from(kind.as_byte()),
            entry.size().max(declared)
        ));
    }
    if regular && name.ends_with(b"/") {
        return Some(
            "is a regular file whose name ends in `/` (other extractors make it a directory)"
                .to_string(),
        );
    }
    let header = entry.header();
    if header.as_ustar().is_none() && header.as_bytes()[345] != 0 {
        return Some(
            "has a non-ustar header with bytes in the name prefix field (Python prepends them to the name)"
                .to_string(),
        );
    }
    let link = entry.link_name_bytes().map(|l| l.into_owned());
    let extensions = match entry.pax_extensions() {
        Ok(None) => return None,
        Ok(Some(extensions)) => extensions,
        Err(error) => return Some(format!("has an unreadable PAX header ({error})")),
    };
    let mut keys = BTreeSet::new();
    for extension in extensions {
        let Ok(extension) = extension else {
            return Some("has a malformed PAX record".to_string());
        };
        let key = String::from_utf8_lossy(extension.key_bytes()).into_owned();
        if !keys.insert(key.clone()) {
            return Some(format!(
                "gives the PAX keyword {key:?} twice (extractors differ on which counts)"
            ));
        }
        let allowed = LOCAL_KEYWORDS_ALLOWED.contains(&key.as_str())
            || LOCAL_KEYWORD_PREFIXES_ALLOWED
                .iter()
                .any(|prefix| key.starts_with(prefix));
        if !allowed {
            return Some(format!(
                "has the PAX keyword {key:?} (sparse files and unknown keywords are not accepted)"
            ));
        }
        let value = extension.value_bytes();
        if key == "path" && value != name {
            return Some(format!(
                "has a PAX path {:?} that differs from its GNU long name or header name",
                String::from_utf8_lossy(value)
            ));
        }
        if key == "linkpath" && link.as_deref() != Some(value) {
            return Some(format!(
                "has a PAX linkpath {:?} that differs from its GNU long link or header link",
                String::from_utf8_lossy(value)
            ));
        }
    }
    None
}

/// Every name (and every directory above one) seen so far, by a folded form that is the same
/// for names macOS or Windows would treat as one file: Unicode NFC (macOS stores NFD), then
/// case-folded (upper then lower case, so `ß`/`SS` and `ſ`/`s` meet too).
#[derive(Default)]
struct FoldedNames {
    seen: HashMap<String, String>,
}

impl FoldedNames {
    /// The earlier name that `parts` (or a directory above it) collides with, if any; else
    /// record them.
    fn collides(&mut self, parts: &[String]) -> Option<String> {
        let normaliser = icu_normalizer::ComposingNormalizerBorrowed::new_nfc();
        let fold = |text: &str| {
            let folded = normaliser.normalize(text).to_uppercase().to_lowercase();
            normaliser.normalize(&folded).into_owned()
        };
        let prefixes: Vec<String> = (1..=parts.len()).map(|n| parts[..n].join("/")).collect();
        for prefix in &prefixes {
            if let Some(earlier) = self.seen.get(&fold(prefix))
                && earlier != prefix
            {
                return Some(earlier.clone());
            }
        }
        for prefix in prefixes {
            self.seen.entry(fold(&prefix)).or_insert(prefix);
        }
        None
    }
}

fn clip(name: &str) -> String {
    name.chars().take(80).collect()
}

fn duplicate(name: &str) -> Finding {
    Finding::new(
        FindingKind::ArchiveDuplicateEntry,
        Some(name),
        format!(
            "archive entry {name:?} appears more than once; the later copy was ignored and the archive is rejected"
        ),
    )
}

fn conflict(name: &str) -> Finding {
    Finding::new(
        FindingKind::ArchiveUnsafePath,
        Some(name),
        format!(
            "archive entry {name:?} conflicts with an earlier entry (file versus directory); it was not extracted"
        ),
    )
}

enum WriteError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copy an entry into a new file (create-only), hashing as it goes.
fn write_hashed(reader: &mut dyn Read, destination: &Path) -> Result<FileDigest, WriteError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(destination)
        .map_err(WriteError::Write)?;
    let mut hasher = Sha256::new();
    let mut buffer = crate::readbuf::ReadBuffer::new(READ_SIZE);
    let mut bytes = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WriteError::Read(e)),
        };
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read]).map_err(WriteError::Write)?;
        bytes += read as u64;
    }
    Ok(FileDigest {
        sha256: hex::encode(hasher.finalize()),
        bytes,
    })
}

/// The manifest is at the archive root, or inside its only top-level directory (an archive of
/// the bundle directory itself).
fn bundle_root(temp: &Path) -> PathBuf {
    if temp.join(MANIFEST_FILE).is_file() {
        return temp.to_path_buf();
    }
    let entries: Vec<_> = match std::fs::read_dir(temp) {
        Ok(entries) => entries.filter_map(Result::ok).collect(),
        Err(_) => return temp.to_path_buf(),
    };
    if let [only] = entries.as_slice() {
        let path = only.path();
        if path.is_dir() && path.join(MANIFEST_FILE).is_file() {
            return path;
        }
    }
    temp.to_path_buf()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use crate::test_support::raw_tar_gz;

    fn kinds(bytes: Vec<u8>, limits: ArchiveLimits) -> (Vec<&'static str>, Extracted) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        std::fs::write(&path, bytes).unwrap();
        let extracted = extract(&path, &limits).unwrap();
        (
            extracted.findings.iter().map(|f| f.kind.as_str()).collect(),
            extracted,
        )
    }

    #[test]
    fn unsafe_entries_are_findings_and_never_written() {
        use tar::EntryType::*;
        let outside = tempfile::tempdir().unwrap();
        let escape = format!("{}/escaped", outside.path().display());
        let limits = ArchiveLimits {
            max_entry_bytes: 10,
            ..ArchiveLimits::default()
        };
        let (found, extracted) = kinds(
            raw_tar_gz(&[
                ("ok.txt", Regular, b"fine", ""),
                (&escape, Regular, b"x", ""),
                ("../up", Regular, b"x", ""),
                ("link", Symlink, b"", "/etc/passwd"),
                ("hard", Link, b"", "ok.txt"),
                ("dev", Char, b"", ""),
                ("ok.txt", Regular, b"again", ""),
                ("big", Regular, b"0123456789abc", ""),
            ]),
            limits,
        );
        assert_eq!(
            found,
            [
                "archive_unsafe_path",
                "archive_unsafe_path",
                "archive_link",
                "archive_link",
                "archive_special_entry",
                "archive_duplicate_entry",
                "archive_entry_too_large"
            ]
        );
        assert!(!outside.path().join("escaped").exists());
        assert_eq!(
            std::fs::read(extracted.temp.path().join("ok.txt")).unwrap(),
            b"fine"
        );
        let written: Vec<_> = std::fs::read_dir(extracted.temp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(written, ["ok.txt"]);
        let digest = &extracted.digests[&extracted.temp.path().join("ok.txt")];
        assert_eq!(digest.sha256, crate::hashing::sha256_hex(b"fine"));
    }

    #[test]
    fn file_and_directory_name_conflicts_are_findings() {
        use tar::EntryType::*;
        let (found, _) = kinds(
            raw_tar_gz(&[
                ("a", Regular, b"x", ""),
                ("a/b", Regular, b"y", ""),
                ("c/d", Regular, b"z", ""),
                ("c", Directory, b"", ""),
            ]),
            ArchiveLimits::default(),
        );
        assert_eq!(found, ["archive_unsafe_path"]);
    }

    #[test]
    fn entry_count_limit_and_corrupt_archives() {
        use tar::EntryType::*;
        let limits = ArchiveLimits {
            max_entries: 2,
            ..ArchiveLimits::default()
        };
        let (found, _) = kinds(
            raw_tar_gz(&[
                ("a", Regular, b"", ""),
                ("b", Regular, b"", ""),
                ("c", Regular, b"", ""),
            ]),
            limits,
        );
        assert_eq!(found, ["archive_too_many_entries"]);
        let mut bytes = raw_tar_gz(&[("a", Regular, &[7u8; 4000], "")]);
        bytes.truncate(bytes.len() / 2);
        let (found, _) = kinds(bytes, ArchiveLimits::default());
        assert!(found.contains(&"archive_gzip_integrity"), "{found:?}");
    }

    /// A plain tar (no gzip) of `entries`, for the gzip-level tests to wrap as they need.
    fn plain_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_path(name).unwrap();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_trailer_crc_and_size_are_checked() {
        let good = gzip(&plain_tar(&[("a.txt", b"hello")]));
        let (found, _) = kinds(good.clone(), ArchiveLimits::default());
        assert!(found.is_empty(), "{found:?}");
        let n = good.len();
        // CRC32 is the first four trailer bytes, ISIZE the last four.
        for index in [n - 8, n - 1] {
            let mut bad = good.clone();
            bad[index] ^= 0x01;
            let (found, _) = kinds(bad, ArchiveLimits::default());
            assert_eq!(found, ["archive_gzip_integrity"], "byte {index}");
        }
        for cut in [4, 8] {
            let (found, _) = kinds(good[..n - cut].to_vec(), ArchiveLimits::default());
            assert_eq!(found, ["archive_gzip_integrity"], "cut {cut}");
        }
    }

    #[test]
    fn data_after_the_archive_is_refused() {
        let first = gzip(&plain_tar(&[("a.txt", b"hello")]));
        // A second gzip member that replaces a.txt and adds b.txt: gzip -d | tar -x would
        // unpack it (with --ignore-zeros, or after the first tar's padding).
        let mut two = first.clone();
        two.extend(gzip(&plain_tar(&[("a.txt", b"EVIL!"), ("b.txt", b"x")])));
        let (found, _) = kinds(two, ArchiveLimits::default());
        assert_eq!(found, ["archive_trailing_data"]);
        // Raw bytes after the member.
        let mut appended = first.clone();
        appended.extend(b"junk");
        assert_eq!(
            kinds(appended, ArchiveLimits::default()).0,
            ["archive_trailing_data"]
        );
        // A second tar inside the same member, after the end-of-archive blocks.
        let mut tars = plain_tar(&[("a.txt", b"hello")]);
        tars.extend(plain_tar(&[("b.txt", b"x")]));
        assert_eq!(
            kinds(gzip(&tars), ArchiveLimits::default()).0,
            ["archive_trailing_data"]
        );
        // Extra zero padding (as GNU tar writes) is fine.
        let mut padded = plain_tar(&[("a.txt", b"hello")]);
        padded.extend([0u8; 20480]);
        assert!(kinds(gzip(&padded), ArchiveLimits::default()).0.is_empty());
    }

    fn with_global_header(records: &str) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_path("pax_global_header").unwrap();
        header.set_entry_type(tar::EntryType::XGlobalHeader);
        header.set_size(records.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, records.as_bytes()).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_path("a.txt").unwrap();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, &b"hello"[..]).unwrap();
        gzip(&builder.into_inner().unwrap())
    }

    #[test]
    fn pax_global_headers_are_skipped_unless_they_rename() {
        // What `git archive` writes: a comment with the commit id.
        let comment = "52 comment=0123456789abcdef0123456789abcdef01234567\n";
        let (found, extracted) = kinds(with_global_header(comment), ArchiveLimits::default());
        assert!(found.is_empty(), "{found:?}");
        let written: Vec<_> = std::fs::read_dir(extracted.temp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(written, ["a.txt"]);
        let (found, _) = kinds(
            with_global_header("16 path=evil.sh\n"),
            ArchiveLimits::default(),
        );
        assert_eq!(found, ["archive_special_entry"]);
    }

    #[test]
    fn oversized_documents_and_long_names_are_never_extracted() {
        use tar::EntryType::*;
        let long = vec!["d"; 600].join("/");
        let (found, extracted) = kinds(
            raw_tar_gz(&[("ok.txt", Regular, b"fine", "")]),
            ArchiveLimits::default(),
        );
        assert!(found.is_empty());
        drop(extracted);
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        builder.append_data(&mut header, &long, &b"x"[..]).unwrap();
        let (found, extracted) = kinds(
            gzip(&builder.into_inner().unwrap()),
            ArchiveLimits::default(),
        );
        assert_eq!(found, ["path_too_long"]);
        assert!(
            std::fs::read_dir(extracted.temp.path())
                .unwrap()
                .next()
                .is_none()
        );
        // A manifest entry declaring more than the manifest limit: refused from its header,
        // reading stops (the data is not even there).
        let mut header = tar::Header::new_gnu();
        header.set_path("manifest.json").unwrap();
        header.set_size(crate::limits::MAX_MANIFEST_BYTES + 1);
        header.set_mode(0o644);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend([b' '; 4096]);
        let (found, extracted) = kinds(gzip(&bytes), ArchiveLimits::default());
        assert_eq!(found, ["manifest_too_large"]);
        assert!(!extracted.temp.path().join("manifest.json").exists());

        // The same size declared in a PAX `x` header (which overrides the ustar size field, as
        // every PAX reader applies it) while the ustar header says 0: the effective size counts.
        let record = format!("size={}\n", crate::limits::MAX_MANIFEST_BYTES + 1);
        let record = format!("{} {record}", record.len() + 3);
        let mut pax = tar::Header::new_ustar();
        pax.set_path("PaxHeader/manifest.json").unwrap();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(record.len() as u64);
        pax.set_mode(0o644);
        pax.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&pax, record.as_bytes()).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_path("manifest.json").unwrap();
        header.set_size(0);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, &b""[..]).unwrap();
        let (found, _) = kinds(
            gzip(&builder.into_inner().unwrap()),
            ArchiveLimits::default(),
        );
        assert_eq!(found, ["manifest_too_large"]);
        // ... and the per-entry limit likewise.
        let limits = ArchiveLimits {
            max_entry_bytes: 10,
            ..ArchiveLimits::default()
        };
        let record = "12 size=100\n";
        let mut builder = tar::Builder::new(Vec::new());
        let mut pax = tar::Header::new_ustar();
        pax.set_path("PaxHeader/big").unwrap();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(record.len() as u64);
        pax.set_mode(0o644);
        pax.set_cksum();
        builder.append(&pax, record.as_bytes()).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_path("big").unwrap();
        header.set_size(0);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, &[0u8; 512][..]).unwrap();
        let (found, _) = kinds(gzip(&builder.into_inner().unwrap()), limits);
        assert_eq!(found[0], "archive_entry_too_large", "{found:?}");
    }
    /// A header of `kind` named `name` declaring `data`, appended raw (no long-name handling).
    fn raw_member(
        builder: &mut tar::Builder<Vec<u8>>,
        name: &[u8],
        kind: tar::EntryType,
        data: &[u8],
    ) {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }

    fn pax_records(records: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in records {
            let body = format!(" {key}={value}\n");
            let mut n = body.len() + 1;
            while n.to_string().len() + body.len() != n {
                n += 1;
            }
            out.extend(format!("{n}{body}").as_bytes());
        }
        out
    }

    fn written(extracted: &Extracted) -> Vec<String> {
        let mut names: Vec<String> = walkdir::WalkDir::new(extracted.temp.path())
            .min_depth(1)
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                e.path()
                    .strip_prefix(extracted.temp.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Review A1/A3: a directory entry carrying a complete hidden member (GNU tar and Python
    /// read it as `evidence.json`), an old-style regular entry named like a directory, and a
    /// regular entry named `./` are refused, and nothing of them is written.
    #[test]
    fn directory_entries_with_data_and_files_named_as_directories_are_refused() {
        use tar::EntryType::*;
        let mut hidden = tar::Builder::new(Vec::new());
        raw_member(
            &mut hidden,
            b"evidence.json",
            Regular,
            b"{\"evil\": true}\n",
        );
        let hidden = hidden.into_inner().unwrap();
        for (name, kind, data) in [
            (&b"zz-pad/"[..], Directory, hidden.as_slice()),
            (b"zz-pad", Directory, b"x"),
            (b"link", Symlink, b"data"),
        ] {
            let mut builder = tar::Builder::new(Vec::new());
            raw_member(&mut builder, b"evidence.json", Regular, b"{}\n");
            raw_member(&mut builder, name, kind, data);
            let (found, extracted) = kinds(
                gzip(&builder.into_inner().unwrap()),
                ArchiveLimits::default(),
            );
            assert_eq!(found, ["archive_ambiguous_entry"], "{name:?}");
            assert_eq!(written(&extracted), ["evidence.json"]);
            assert_eq!(
                std::fs::read(extracted.temp.path().join("evidence.json")).unwrap(),
                b"{}\n"
            );
        }
        // Type '\0' (old-style regular) and '0' named with a trailing slash: a directory to
        // GNU tar and Python.
        for kind in [b'\0', b'0'] {
            let mut builder = tar::Builder::new(Vec::new());
            raw_member(&mut builder, b"a/", tar::EntryType::new(kind), b"");
            let (found, extracted) = kinds(
                gzip(&builder.into_inner().unwrap()),
                ArchiveLimits::default(),
            );
            assert_eq!(found, ["archive_ambiguous_entry"], "type {kind}");
            assert!(written(&extracted).is_empty());
        }
        // A regular file named "." (normalises to nothing): only a directory may be the root.
        let mut builder = tar::Builder::new(Vec::new());
        raw_member(&mut builder, b".", Regular, b"x");
        let (found, _) = kinds(
            gzip(&builder.into_inner().unwrap()),
            ArchiveLimits::default(),
        );
        assert_eq!(found, ["archive_ambiguous_entry"]);
        // The root directory entry itself ("./", no data) is still fine.
        let mut builder = tar::Builder::new(Vec::new());
        raw_member(&mut builder, b"./", Directory, b"");
        raw_member(&mut builder, b"./a.txt", Regular, b"x");
        let (found, extracted) = kinds(
            gzip(&builder.into_inner().unwrap()),
            ArchiveLimits::default(),
        );
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(written(&extracted), ["a.txt"]);
    }

    /// Review A2: a PAX `path` and a GNU LongName naming different files (the tar crate takes
    /// the LongName, Python and GNU tar the PAX path), in either order; duplicate, sparse and
    /// unknown PAX keywords; a PAX `path` that agrees is accepted.
    #[test]
    fn pax_names_that_disagree_and_exotic_pax_records_are_refused() {
        use tar::EntryType::*;
        let build = |pax: Option<&[(&str, &str)]>, long: Option<&[u8]>, pax_first: bool| {
            let mut builder = tar::Builder::new(Vec::new());
            let pax_member = |builder: &mut tar::Builder<Vec<u8>>| {
                if let Some(records) = pax {
                    raw_member(builder, b"././@PaxHeader", XHeader, &pax_records(records));
                }
            };
            let long_member = |builder: &mut tar::Builder<Vec<u8>>| {
                if let Some(long) = long {
                    raw_member(builder, b"././@LongLink", GNULongName, long);
                }
            };
            if pax_first {
                pax_member(&mut builder);
                long_member(&mut builder);
            } else {
                long_member(&mut builder);
                pax_member(&mut builder);
            }
            raw_member(&mut builder, b"x", Regular, b"content");
            gzip(&builder.into_inner().unwrap())
        };
        let limits = ArchiveLimits::default();
        for pax_first in [true, false] {
            let (found, extracted) = kinds(
                build(
                    Some(&[("path", "pr-attestation.md")]),
                    Some(b"evidence.json\0"),
                    pax_first,
                ),
                limits,
            );
            assert_eq!(found, ["archive_ambiguous_entry"], "pax first: {pax_first}");
            assert!(written(&extracted).is_empty());
        }
        // A regular file named "./" by its LongName and "evidence.json" by PAX (review f4b).
        let (found, extracted) = kinds(
            build(Some(&[("path", "evidence.json")]), Some(b"./\0"), true),
            limits,
        );
        assert_eq!(found, ["archive_ambiguous_entry"]);
        assert!(written(&extracted).is_empty());
        // PAX path against the plain header name (no LongName) agrees for every reader: fine,
        // and so does a LongName equal to the PAX path.
        let (found, extracted) = kinds(
            build(
                Some(&[("path", "evidence.json"), ("mtime", "0")]),
                None,
                true,
            ),
            limits,
        );
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(written(&extracted), ["evidence.json"]);
        let (found, _) = kinds(
            build(
                Some(&[("path", "evidence.json")]),
                Some(b"evidence.json\0"),
                true,
            ),
            limits,
        );
        assert!(found.is_empty(), "{found:?}");
        for records in [
            &[("path", "a.txt"), ("path", "b.txt")][..],
            &[("GNU.sparse.name", "evidence.json")],
            &[("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0")],
            &[("SCHILY.filetype", "directory")],
        ] {
            let (found, extracted) = kinds(build(Some(records), None, true), limits);
            assert_eq!(found, ["archive_ambiguous_entry"], "{records:?}");
            assert!(written(&extracted).is_empty());
        }
        // Extended attributes change no name or content.
        let (found, _) = kinds(
            build(Some(&[("SCHILY.xattr.user.x", "1")]), None, true),
            limits,
        );
        assert!(found.is_empty(), "{found:?}");
        // A GNU sparse member ('S') is refused, never expanded (this one, with no sparse map,
        // the tar crate cannot even read).
        let mut builder = tar::Builder::new(Vec::new());
        raw_member(&mut builder, b"sparse", GNUSparse, b"");
        let (found, extracted) = kinds(gzip(&builder.into_inner().unwrap()), limits);
        assert_eq!(found, ["archive_corrupt"]);
        assert!(written(&extracted).is_empty());
    }

    /// Names one file on macOS or Windows (case, NFC/NFD, and a directory against a file
    /// below a differently cased directory) are refused; the second is never written.
    #[test]
    fn names_colliding_by_case_or_unicode_normalisation_are_refused() {
        use tar::EntryType::*;
        for (first, second) in [
            ("report/report.html", "report/REPORT.html"),
            ("caf\u{e9}.txt", "cafe\u{301}.txt"),
            ("Report/a.html", "report/b.html"),
            ("stra\u{df}e.txt", "STRASSE.txt"),
        ] {
            let (found, extracted) = kinds(
                raw_tar_gz(&[(first, Regular, b"one", ""), (second, Regular, b"two", "")]),
                ArchiveLimits::default(),
            );
            assert_eq!(found, ["archive_name_collision"], "{first} / {second}");
            assert_eq!(extracted.findings[0].path.as_deref(), Some(second));
            assert!(!written(&extracted).contains(&second.to_string()));
        }
        let (found, _) = kinds(
            raw_tar_gz(&[
                ("report/a.html", Regular, b"one", ""),
                ("report/b.html", Regular, b"two", ""),
                ("caf\u{e9}.txt", Regular, b"x", ""),
            ]),
            ArchiveLimits::default(),
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
