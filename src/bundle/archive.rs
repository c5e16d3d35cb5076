//! Reading a bundle `.tar.gz` safely: the archive is streamed once, each entry is checked
//! before anything is written, and only regular files with safe relative names are written —
//! with create-only opens, inside a fresh temporary directory — while being hashed (so the
//! verifier does not read them twice). Absolute paths, `..`, symlinks, hard links, devices,
//! FIFOs, duplicate names, oversize entries and too many entries are findings, never writes.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{BundleError, Finding, FindingKind, MANIFEST_FILE, safe_relative};
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
    let mut reader = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::with_capacity(
        READ_SIZE, file,
    )));
    let mut findings = Vec::new();
    let mut digests = HashMap::new();
    let mut seen = BTreeSet::new();
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
        Err(error) => findings.push(corrupt(&error)),
        Ok(entries) => {
            for entry in entries {
                let mut entry = match entry {
                    Ok(entry) => entry,
                    Err(error) => {
                        findings.push(corrupt(&error));
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
                    break;
                }
                let raw = entry.path_bytes().into_owned();
                let name = String::from_utf8_lossy(&raw).into_owned();
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
                    continue; // "./": the archive root itself.
                }
                let relative: PathBuf = parts.iter().collect();
                let key = parts.join("/");
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
                        format!("archive entry {name:?} is a {kind:?} entry (device, FIFO or unknown type); it was not extracted"),
                    ));
                    continue;
                }
                if !seen.insert(key) {
                    findings.push(duplicate(&name));
                    continue;
                }
                let size = entry.header().size().unwrap_or(u64::MAX);
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
                        findings.push(corrupt(&error));
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
    let root = bundle_root(temp.path());
    Ok(Extracted {
        temp,
        root,
        findings,
        digests,
    })
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
    let mut buffer = vec![0u8; READ_SIZE];
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

    /// Build a gzip'd tar with raw header names (so unsafe names can be written at all).
    pub(crate) fn raw_tar(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gzip);
        for (name, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

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
            raw_tar(&[
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
            raw_tar(&[
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
            raw_tar(&[
                ("a", Regular, b"", ""),
                ("b", Regular, b"", ""),
                ("c", Regular, b"", ""),
            ]),
            limits,
        );
        assert_eq!(found, ["archive_too_many_entries"]);
        let mut bytes = raw_tar(&[("a", Regular, &[7u8; 4000], "")]);
        bytes.truncate(bytes.len() / 2);
        let (found, _) = kinds(bytes, ArchiveLimits::default());
        assert!(found.contains(&"archive_corrupt"), "{found:?}");
    }
}
