//! Deterministic bundle archives: a gzip'd tar of the bundle's files with entries sorted by
//! name, every header normalised (mode 0644, uid/gid 0, empty owner names, mtime 0, GNU
//! format) and a gzip header without name or time — the same bundle always gives the same bytes,
//! so the archive's SHA-256 can be recorded and compared.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{BundleError, MANIFEST_FILE};

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Packed {
    pub output: PathBuf,
    pub entries: Vec<String>,
    pub bytes: u64,
    pub sha256: String,
}

/// Pack the flat bundle directory `bundle` into a new `output` file (never overwritten).
pub fn pack(bundle: &Path, output: &Path) -> Result<Packed, BundleError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Io {
            action,
            path,
            source,
        }
    };
    if !bundle.is_dir() {
        return Err(if bundle.exists() {
            BundleError::NotABundle {
                path: bundle.to_path_buf(),
            }
        } else {
            BundleError::NotFound {
                path: bundle.to_path_buf(),
            }
        });
    }
    if !bundle.join(MANIFEST_FILE).is_file() {
        return Err(BundleError::NoManifest {
            path: bundle.to_path_buf(),
        });
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(bundle).map_err(io("listing", bundle))? {
        let entry = entry.map_err(io("listing", bundle))?;
        let kind = entry.file_type().map_err(io("reading", &entry.path()))?;
        if kind.is_dir() {
            return Err(BundleError::NestedDirectory { path: entry.path() });
        }
        if !kind.is_file() {
            return Err(BundleError::NotRegular { path: entry.path() });
        }
        let name = entry.file_name().into_string().map_err(|_| {
            BundleError::InvalidOption(format!("{} has a non-UTF-8 name", entry.path().display()))
        })?;
        names.push(name);
    }
    names.sort();

    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(output)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                BundleError::OutputExists {
                    path: output.to_path_buf(),
                }
            } else {
                BundleError::Io {
                    action: "creating",
                    path: output.to_path_buf(),
                    source,
                }
            }
        })?;
    let result = write_archive(bundle, &names, file, output);
    if result.is_err() {
        // Do not leave a half-written archive that looks like a real one.
        let _ = std::fs::remove_file(output);
    }
    result?;
    let digest = crate::hashing::sha256_file(output, &|_| {}).map_err(io("hashing", output))?;
    Ok(Packed {
        output: output.to_path_buf(),
        entries: names,
        bytes: digest.bytes,
        sha256: digest.sha256,
    })
}

fn write_archive(
    bundle: &Path,
    names: &[String],
    file: File,
    output: &Path,
) -> Result<(), BundleError> {
    let io = |action: &'static str, path: PathBuf| {
        move |source| BundleError::Io {
            action,
            path,
            source,
        }
    };
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(BufWriter::new(file), flate2::Compression::new(6));
    let mut builder = tar::Builder::new(gzip);
    builder.mode(tar::HeaderMode::Deterministic);
    for name in names {
        let path = bundle.join(name);
        let source = File::open(&path).map_err(io("opening", path.clone()))?;
        let size = source
            .metadata()
            .map_err(io("reading", path.clone()))?
            .len();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header
            .set_username("")
            .map_err(io("packing", path.clone()))?;
        header
            .set_groupname("")
            .map_err(io("packing", path.clone()))?;
        // append_data writes the name (with a GNU long-name entry if needed) and the checksum.
        builder
            .append_data(&mut header, name, std::io::Read::take(source, size))
            .map_err(io("packing", path.clone()))?;
    }
    let gzip = builder
        .into_inner()
        .map_err(io("finishing", output.to_path_buf()))?;
    let mut writer = gzip
        .finish()
        .map_err(io("finishing", output.to_path_buf()))?;
    writer
        .flush()
        .map_err(io("finishing", output.to_path_buf()))?;
    let file = writer.into_inner().map_err(|e| BundleError::Io {
        action: "finishing",
        path: output.to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all()
        .map_err(io("finishing", output.to_path_buf()))
}
