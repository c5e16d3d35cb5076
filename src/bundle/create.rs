//! Bundle creation: copy the inputs into a new flat directory, write `retention-policy.json`,
//! hash everything in parallel, and write `manifest.json` signed over the spaced canonical JSON
//! of the manifest without its signature (cavra-compat.md §4) — byte-compatible with CAVRA.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::json::python_indented;
use super::{
    BUNDLE_SCHEMA, BundleError, FileEntry, MANIFEST_FILE, RETENTION_FILE, RETENTION_SCHEMA,
    RetentionPolicy,
};
use crate::trust::{KeyPair, Secret, format_timestamp};

/// How the manifest is signed. (One value per command, so the large Ed25519 variant is fine.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Signing {
    /// Ed25519; key id defaults to the first 16 hex characters of the public key fingerprint.
    Ed25519 {
        key: KeyPair,
        key_id: Option<String>,
    },
    /// HS256 (HMAC-SHA256); CAVRA writes no key id for it.
    Hmac(Secret),
    /// SHA256 only: verifiers refuse it unless told `--allow-unsigned`.
    Unsigned,
}

#[derive(Debug)]
pub struct CreateOptions {
    pub output: PathBuf,
    pub signer: String,
    pub signing: Signing,
    pub retention_days: u64,
    pub classification: String,
    pub legal_hold: bool,
    /// Defaults to `bundle-<created_at as YYYYMMDDTHHMMSSZ>`.
    pub session_id: Option<String>,
    /// Defaults to now (UTC).
    pub created_at: Option<DateTime<Utc>>,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub output: PathBuf,
    pub created_at: String,
    pub session_id: String,
    pub algorithm: &'static str,
    pub key_id: Option<String>,
    pub public_key_sha256: Option<String>,
    pub files: Vec<FileEntry>,
    /// Same definition as [`super::BundleReport::digest`].
    pub digest: String,
}

/// Create a bundle in `options.output` (which must not exist, or be an empty directory) from
/// files and/or directories (a directory contributes its top-level regular files).
pub fn create(inputs: &[PathBuf], options: &CreateOptions) -> Result<Created, BundleError> {
    create_with_progress(inputs, options, &|_| {})
}

/// [`create`], telling `progress` the bytes hashed as the bundle's copies are hashed (a
/// progress bar's total is the inputs' size).
pub fn create_with_progress(
    inputs: &[PathBuf],
    options: &CreateOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Created, BundleError> {
    let sources = collect_inputs(inputs)?;
    refuse_key_material(&sources, &options.signing)?;
    prepare_output(&options.output)?;
    let created = options.created_at.unwrap_or_else(Utc::now);
    let created_at = format_timestamp(created);
    let session_id = options
        .session_id
        .clone()
        .unwrap_or_else(|| format!("bundle-{}", created.format("%Y%m%dT%H%M%SZ")));

    let mut written = Vec::new();
    for (name, source) in &sources {
        let destination = options.output.join(name);
        copy_new(source, &destination)?;
        written.push((name.clone(), destination));
    }
    let retain_until = created
        + chrono::Duration::days(
            i64::try_from(options.retention_days)
                .unwrap_or(i64::MAX / 86_400_000)
                .min(3_650_000),
        );
    let policy = RetentionPolicy {
        schema_version: RETENTION_SCHEMA.into(),
        product: "CAVRA".into(),
        session_id: session_id.clone(),
        classification: options.classification.clone(),
        created_at: created_at.clone(),
        retention_days: options.retention_days,
        retain_until: format_timestamp(retain_until),
        legal_hold: options.legal_hold,
        delete_protection: true,
        disposition: "eligible_for_review_after_retain_until".into(),
    };
    let policy_path = options.output.join(RETENTION_FILE);
    let policy_value = serde_json::to_value(&policy).unwrap_or(Value::Null);
    write_new(&policy_path, python_indented(&policy_value).as_bytes())?;
    written.push((RETENTION_FILE.to_string(), policy_path));

    // Hash the copies (what the bundle holds), in parallel.
    let paths: Vec<PathBuf> = written.iter().map(|(_, path)| path.clone()).collect();
    let digests = crate::hashing::sha256_files(&paths, progress);
    let mut files = Vec::new();
    for ((name, path), digest) in written.iter().zip(digests) {
        let digest = digest.map_err(|source| BundleError::Io {
            action: "hashing",
            path: path.clone(),
            source,
        })?;
        files.push(FileEntry {
            path: name.clone(),
            sha256: digest.sha256,
            bytes: digest.bytes,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let mut manifest = json!({
        "schema_version": BUNDLE_SCHEMA,
        // CAVRA verifiers expect their own product name in bundles they read.
        "product": "CAVRA",
        "created_at": created_at,
        "signer": options.signer,
        "files": serde_json::to_value(&files).unwrap_or(Value::Null),
    });
    let message = crate::canonical::spaced(&manifest);
    let (algorithm, key_id, fingerprint, signature) = match &options.signing {
        Signing::Ed25519 { key, key_id } => {
            let fingerprint = key.public().fingerprint();
            let key_id = key_id
                .clone()
                .unwrap_or_else(|| crate::trust::default_key_id(&fingerprint));
            let signature = json!({
                "algorithm": "Ed25519",
                "key_id": key_id,
                "value": key.sign_b64(message.as_bytes()),
                "public_key_sha256": fingerprint,
            });
            ("Ed25519", Some(key_id), Some(fingerprint), signature)
        }
        Signing::Hmac(secret) => {
            let value = crate::trust::hmac::hmac_sha256_b64(secret.expose(), message.as_bytes());
            (
                "HS256",
                None,
                None,
                json!({"algorithm": "HS256", "value": value}),
            )
        }
        Signing::Unsigned => {
            let value = crate::hashing::sha256_hex(message.as_bytes());
            (
                "SHA256",
                None,
                None,
                json!({"algorithm": "SHA256", "value": value}),
            )
        }
    };
    if let Value::Object(map) = &mut manifest {
        map.insert("signature".into(), signature);
    }
    write_new(
        &options.output.join(MANIFEST_FILE),
        python_indented(&manifest).as_bytes(),
    )?;
    let digest = crate::hashing::sha256_hex(crate::canonical::spaced(&manifest).as_bytes());
    Ok(Created {
        output: options.output.clone(),
        created_at,
        session_id,
        algorithm,
        key_id,
        public_key_sha256: fingerprint,
        files,
        digest,
    })
}

/// Inputs small enough to be a key file (1 MiB) are read whole and refused when they hold a PEM
/// private key (`-----BEGIN … PRIVATE KEY-----`: PKCS#8, encrypted, RSA, EC, OpenSSH) or are the
/// HMAC key the bundle is signed with (as the key file reads, with or without a line ending): a
/// signing key in the input directory would otherwise be packed, signed and locked in WORM
/// storage beside the evidence.
fn refuse_key_material(
    sources: &BTreeMap<String, PathBuf>,
    signing: &Signing,
) -> Result<(), BundleError> {
    const KEY_FILE_MAX: u64 = 1024 * 1024;
    for path in sources.values() {
        let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= KEY_FILE_MAX);
        if !small {
            continue;
        }
        let bytes = std::fs::read(path).map_err(|source| BundleError::Io {
            action: "reading",
            path: path.clone(),
            source,
        })?;
        if holds_pem_private_key(&bytes) {
            return Err(BundleError::KeyMaterial {
                path: path.clone(),
                what: "a PEM private key",
            });
        }
        if let Signing::Hmac(secret) = signing {
            let key = secret.expose();
            let trimmed = bytes
                .strip_suffix(b"\n")
                .map(|b| b.strip_suffix(b"\r").unwrap_or(b));
            if !key.is_empty() && (bytes == key || trimmed == Some(key)) {
                return Err(BundleError::KeyMaterial {
                    path: path.clone(),
                    what: "the HMAC key this bundle is signed with",
                });
            }
        }
    }
    Ok(())
}

/// Whether `bytes` hold a PEM private-key block: a `-----BEGIN ` line whose label ends in
/// `PRIVATE KEY-----`.
fn holds_pem_private_key(bytes: &[u8]) -> bool {
    memchr::memmem::find_iter(bytes, b"-----BEGIN ").any(|at| {
        let rest = &bytes[at + 11..];
        let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
        line.len() <= 64 && line.trim_ascii_end().ends_with(b"PRIVATE KEY-----")
    })
}

/// Inputs → bundle file name → source path, checking names are unique and not reserved.
fn collect_inputs(inputs: &[PathBuf]) -> Result<BTreeMap<String, PathBuf>, BundleError> {
    let mut sources = BTreeMap::new();
    let mut add = |path: PathBuf| -> Result<(), BundleError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                BundleError::InvalidOption(format!("{} has no UTF-8 file name", path.display()))
            })?
            .to_string();
        if name == MANIFEST_FILE || name == RETENTION_FILE {
            return Err(BundleError::ReservedName { name });
        }
        // The same rules `verify` applies, so every bundle created here verifies.
        if super::is_reserved(std::slice::from_ref(&name)) {
            return Err(BundleError::ReservedNamespace { name });
        }
        if let Some(why) = super::path_too_long(&name) {
            return Err(BundleError::InvalidOption(format!(
                "{}: {why}",
                path.display()
            )));
        }
        if sources.insert(name.clone(), path).is_some() {
            return Err(BundleError::DuplicateName { name });
        }
        Ok(())
    };
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                BundleError::NotFound {
                    path: input.clone(),
                }
            } else {
                BundleError::Io {
                    action: "reading",
                    path: input.clone(),
                    source,
                }
            }
        })?;
        if meta.is_file() {
            add(input.clone())?;
        } else if meta.is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|source| BundleError::Io {
                    action: "listing",
                    path: input.clone(),
                    source,
                })?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(|source| BundleError::Io {
                    action: "listing",
                    path: input.clone(),
                    source,
                })?;
            children.sort();
            for child in children {
                let meta = std::fs::metadata(&child).map_err(|source| BundleError::Io {
                    action: "reading",
                    path: child.clone(),
                    source,
                })?;
                if meta.is_dir() {
                    return Err(BundleError::NestedDirectory { path: child });
                }
                if !meta.is_file() {
                    return Err(BundleError::NotRegular { path: child });
                }
                add(child)?;
            }
        } else {
            return Err(BundleError::NotRegular {
                path: input.clone(),
            });
        }
    }
    if sources.is_empty() {
        return Err(BundleError::NoInputs);
    }
    Ok(sources)
}

fn prepare_output(output: &Path) -> Result<(), BundleError> {
    match std::fs::read_dir(output) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BundleError::OutputExists {
                    path: output.to_path_buf(),
                });
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(output).map_err(|source| BundleError::Io {
                action: "creating",
                path: output.to_path_buf(),
                source,
            })
        }
        Err(_) if output.exists() => Err(BundleError::OutputExists {
            path: output.to_path_buf(),
        }),
        Err(source) => Err(BundleError::Io {
            action: "reading",
            path: output.to_path_buf(),
            source,
        }),
    }
}

fn copy_new(source: &Path, destination: &Path) -> Result<(), BundleError> {
    let mut input = std::fs::File::open(source).map_err(|e| BundleError::Io {
        action: "opening",
        path: source.to_path_buf(),
        source: e,
    })?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(destination)
        .map_err(|e| BundleError::Io {
            action: "creating",
            path: destination.to_path_buf(),
            source: e,
        })?;
    // std::io::copy uses copy_file_range/sendfile where available (no userspace buffer).
    std::io::copy(&mut input, &mut output).map_err(|e| BundleError::Io {
        action: "copying to",
        path: destination.to_path_buf(),
        source: e,
    })?;
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    crate::fs::write_new(path, bytes).map_err(|error| match error {
        crate::fs::WriteError::Exists { path } => BundleError::Io {
            action: "creating",
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            path,
        },
        crate::fs::WriteError::Io { path, source } => BundleError::Io {
            action: "writing",
            path,
            source,
        },
    })
}
