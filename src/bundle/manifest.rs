//! The bundle manifest, read and checked before any file or signature is looked at (step 2 of
//! [`super::verify`]): `manifest.json` read under its size cap, parsed strictly, every field
//! typed, every listed path judged safe, unreserved and unique. Structurally bad input becomes
//! findings here, so the later steps work on a [`CheckedManifest`] only (the shape of
//! sigstore-rs's `CheckedBundle`, architecture-2.md §2.4).
//!
//! Findings are pushed onto the caller's list rather than returned: a `.tar.gz` bundle arrives
//! with the archive reader's findings already in it, and one run reports every finding in step
//! order.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value};

use super::{
    BUNDLE_SCHEMA, FileEntry, Finding, FindingKind, MANIFEST_FILE, Manifest, ManifestSignature,
    RESERVED_DIR, is_reserved, path_too_long, safe_relative,
};

/// A manifest that was read and parsed as a JSON object, with what could be checked of it.
#[derive(Debug)]
pub(crate) struct CheckedManifest {
    /// The parsed object: the signature step checks its exact fields, and its canonical text is
    /// what the bundle digest is taken over.
    pub(crate) raw: Map<String, Value>,
    /// The typed manifest, when every field is well-formed.
    pub(crate) manifest: Option<Manifest>,
    /// The file entries that are well-formed, safe and listed once — even when other fields
    /// are not, so the files are still checked.
    pub(crate) entries: Vec<FileEntry>,
    /// Paths named by `files` entries that are malformed in another field (a manifest finding
    /// already): the file is listed, so it is not also reported as unlisted.
    pub(crate) malformed_paths: Vec<String>,
}

impl CheckedManifest {
    /// Read `manifest.json` in `dir` and check it, adding a finding for each problem. `None`
    /// when there is no JSON object to check (missing, over the cap, unreadable, not JSON).
    pub(crate) fn parse(dir: &Path, findings: &mut Vec<Finding>) -> Option<CheckedManifest> {
        let raw = read_manifest(dir, findings)?;
        let (manifest, entries, malformed_paths) = check_manifest(&raw, findings);
        Some(CheckedManifest {
            raw,
            manifest,
            entries,
            malformed_paths,
        })
    }

    /// SHA-256 of the manifest's canonical (spaced) JSON: the bundle digest.
    pub(crate) fn digest(&self) -> String {
        crate::hashing::sha256_hex(
            crate::canonical::spaced(&Value::Object(self.raw.clone())).as_bytes(),
        )
    }
}

fn read_manifest(dir: &Path, findings: &mut Vec<Finding>) -> Option<Map<String, Value>> {
    let path = dir.join(MANIFEST_FILE);
    // Capped before reading (src/limits.rs): a huge manifest costs a stat, not its size in RAM.
    // As a bundle member: a regular file, not a symlink (to anywhere) or a FIFO (never waited on).
    let text = match crate::limits::read_member_json_capped(
        &path,
        crate::limits::MAX_MANIFEST_BYTES,
        "manifest",
    ) {
        Ok(text) => text,
        Err(crate::limits::LimitError::NotRegular { found, .. }) => {
            findings.push(Finding::new(
                    FindingKind::FileNotRegular,
                    Some(MANIFEST_FILE),
                    format!(
                        "manifest.json is {found}, not a regular file, so it was not read; a bundle's manifest must be a regular file in the bundle directory (replace it with the file itself)"
                    ),
                ));
            return None;
        }
        Err(error) if error.io_kind() == Some(std::io::ErrorKind::NotFound) => {
            findings.push(Finding::new(
                FindingKind::ManifestMissing,
                Some(MANIFEST_FILE),
                "the bundle has no manifest.json; it cannot be verified",
            ));
            return None;
        }
        Err(crate::limits::LimitError::TooLarge { size, limit, .. }) => {
            findings.push(manifest_too_large(size, limit));
            return None;
        }
        Err(crate::limits::LimitError::NotUtf8 { .. }) => {
            findings.push(Finding::new(
                FindingKind::ManifestMalformedJson,
                Some(MANIFEST_FILE),
                "manifest.json is not UTF-8 text",
            ));
            return None;
        }
        Err(error) => {
            findings.push(Finding::new(
                FindingKind::ManifestUnreadable,
                Some(MANIFEST_FILE),
                format!("cannot read manifest.json: {error}"),
            ));
            return None;
        }
    };
    match crate::canonical::parse_strict(&text) {
        Ok(Value::Object(map)) => Some(map),
        Ok(other) => {
            findings.push(Finding::new(
                FindingKind::ManifestNotObject,
                Some(MANIFEST_FILE),
                format!(
                    "manifest.json must be a JSON object, found {}",
                    json_type(&other)
                ),
            ));
            None
        }
        Err(error) => {
            findings.push(Finding::new(
                FindingKind::ManifestMalformedJson,
                Some(MANIFEST_FILE),
                format!("manifest.json is not valid JSON: {error}"),
            ));
            None
        }
    }
}

/// The finding for a manifest over [`crate::limits::MAX_MANIFEST_BYTES`] (also raised by the
/// archive reader, which does not extract such an entry at all).
pub(crate) fn manifest_too_large(size: u64, limit: u64) -> Finding {
    Finding::new(
        FindingKind::ManifestTooLarge,
        Some(MANIFEST_FILE),
        format!(
            "manifest.json is {size} bytes, over the {limit}-byte manifest limit; it was not read"
        ),
    )
}

pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_field(
    raw: &Map<String, Value>,
    field: &str,
    findings: &mut Vec<Finding>,
) -> Option<String> {
    match raw.get(field) {
        Some(Value::String(text)) => Some(text.clone()),
        other => {
            let found = other.map_or("nothing", json_type);
            findings.push(Finding::new(
                FindingKind::ManifestInvalid,
                Some(MANIFEST_FILE),
                format!("manifest field {field:?} must be a string, found {found}"),
            ));
            None
        }
    }
}

/// Check the manifest's fields; return the typed manifest (when complete), the file entries
/// that are well-formed (even when other fields are not, so files are still checked), and the
/// paths named by entries malformed in another field.
fn check_manifest(
    raw: &Map<String, Value>,
    findings: &mut Vec<Finding>,
) -> (Option<Manifest>, Vec<FileEntry>, Vec<String>) {
    let schema_version = string_field(raw, "schema_version", findings);
    if let Some(schema) = &schema_version
        && schema != BUNDLE_SCHEMA
    {
        findings.push(Finding::new(
            FindingKind::UnsupportedSchema,
            Some(MANIFEST_FILE),
            format!("schema_version is {schema:?}; expected {BUNDLE_SCHEMA:?}"),
        ));
    }
    let product = string_field(raw, "product", findings);
    let created_at = string_field(raw, "created_at", findings);
    let signer = string_field(raw, "signer", findings);
    let mut entries = Vec::new();
    let mut malformed_paths = Vec::new();
    let mut complete = true;
    match raw.get("files") {
        Some(Value::Array(items)) => {
            let mut seen = BTreeSet::new();
            for (index, item) in items.iter().enumerate() {
                match parse_entry(item) {
                    Ok(entry) => match safe_relative(&entry.path) {
                        Err(reason) => {
                            findings.push(Finding::new(
                                FindingKind::UnsafePath,
                                Some(&entry.path),
                                format!("manifest lists {:?}: {reason}", entry.path),
                            ));
                        }
                        Ok(parts) if parts.is_empty() || parts.join("/") == MANIFEST_FILE => {
                            findings.push(Finding::new(
                                FindingKind::UnsafePath,
                                Some(&entry.path),
                                format!(
                                    "manifest lists {:?}, which cannot be a bundle file",
                                    entry.path
                                ),
                            ));
                        }
                        Ok(parts) if parts.join("/") != entry.path => {
                            // The same rule as `wormvault plan` (and the store keys it makes):
                            // a listed path is written in its one normal form, so the file the
                            // verifier checked is the object the plan names.
                            findings.push(Finding::new(
                                FindingKind::UnsafePath,
                                Some(&entry.path),
                                format!(
                                    "manifest lists {:?}, which is not a plain relative path (no `./`, empty components or trailing `/`); `wormvault plan` refuses it — list it as {:?}",
                                    entry.path,
                                    parts.join("/")
                                ),
                            ));
                        }
                        Ok(parts) if is_reserved(&parts) => {
                            findings.push(Finding::new(
                                FindingKind::ReservedName,
                                Some(&entry.path),
                                format!(
                                    "manifest lists {:?}, inside {RESERVED_DIR}/, the namespace wormvault keeps for its own receipts and anchors beside the evidence; rename the file",
                                    entry.path
                                ),
                            ));
                        }
                        Ok(_) if path_too_long(&entry.path).is_some() => {
                            let why = path_too_long(&entry.path).unwrap_or_default();
                            findings.push(Finding::new(
                                FindingKind::PathTooLong,
                                Some(&entry.path),
                                format!(
                                    "manifest lists a path of {} bytes: {why}; `wormvault bundle create` never makes such a path",
                                    entry.path.len()
                                ),
                            ));
                        }
                        Ok(parts) => {
                            if seen.insert(parts.join("/")) {
                                entries.push(entry);
                            } else {
                                findings.push(Finding::new(
                                    FindingKind::DuplicateListing,
                                    Some(&entry.path),
                                    format!("manifest lists {:?} more than once", entry.path),
                                ));
                            }
                        }
                    },
                    Err(reason) => {
                        complete = false;
                        if let Some(path) = item.get("path").and_then(Value::as_str) {
                            malformed_paths.push(path.to_string());
                        }
                        findings.push(Finding::new(
                            FindingKind::ManifestInvalid,
                            Some(MANIFEST_FILE),
                            format!("manifest files[{index}]: {reason}"),
                        ));
                    }
                }
            }
        }
        other => {
            complete = false;
            let found = other.map_or("nothing", json_type);
            findings.push(Finding::new(
                FindingKind::ManifestInvalid,
                Some(MANIFEST_FILE),
                format!("manifest field \"files\" must be an array, found {found}"),
            ));
        }
    }
    let signature = parse_signature(raw.get("signature")).ok().flatten();
    let manifest = match (schema_version, product, created_at, signer) {
        (Some(schema_version), Some(product), Some(created_at), Some(signer)) if complete => {
            Some(Manifest {
                schema_version,
                product,
                created_at,
                signer,
                files: entries.clone(),
                signature,
            })
        }
        _ => None,
    };
    (manifest, entries, malformed_paths)
}

fn parse_entry(item: &Value) -> Result<FileEntry, String> {
    let object = item
        .as_object()
        .ok_or_else(|| format!("must be an object, found {}", json_type(item)))?;
    let path = object
        .get("path")
        .and_then(Value::as_str)
        .ok_or("\"path\" must be a string")?;
    let sha256 = object
        .get("sha256")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{path:?}: \"sha256\" must be a string"))?;
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "{path:?}: \"sha256\" must be 64 lowercase hex characters"
        ));
    }
    let bytes = object
        .get("bytes")
        .and_then(byte_count)
        .ok_or_else(|| format!("{path:?}: \"bytes\" must be a non-negative integer"))?;
    Ok(FileEntry {
        path: path.to_string(),
        sha256: sha256.to_string(),
        bytes,
    })
}

/// A file's `bytes`: a non-negative integer, or a float Python compares equal to one (`20.0`, as
/// a CAVRA manifest written from a float may carry; CAVRA itself does not check `bytes`) below
/// 2^53, where every integer is exact.
fn byte_count(value: &Value) -> Option<u64> {
    if let Some(bytes) = value.as_u64() {
        return Some(bytes);
    }
    let float = value.as_f64()?;
    (float >= 0.0 && float.fract() == 0.0 && float < 9_007_199_254_740_992.0)
        .then_some(float as u64)
}

/// `Ok(None)` = no signature; `Err` = malformed.
pub(super) fn parse_signature(
    value: Option<&Value>,
) -> Result<Option<ManifestSignature>, (FindingKind, String)> {
    let object = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(object)) => object,
        Some(other) => {
            return Err((
                FindingKind::SignatureMalformed,
                format!("signature must be an object, found {}", json_type(other)),
            ));
        }
    };
    let text = |field: &str| {
        object
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let value = text("value").ok_or((
        FindingKind::SignatureMalformed,
        "signature.value must be a string".to_string(),
    ))?;
    match object.get("algorithm").and_then(Value::as_str) {
        Some("Ed25519") => {
            let key_id = text("key_id").ok_or((
                FindingKind::SignatureMalformed,
                "Ed25519 signature.key_id must be a string".to_string(),
            ))?;
            let public_key_sha256 = match object.get("public_key_sha256") {
                None | Some(Value::Null) => None,
                Some(Value::String(fp)) => Some(fp.clone()),
                Some(_) => {
                    return Err((
                        FindingKind::SignatureMalformed,
                        "signature.public_key_sha256 must be a string".to_string(),
                    ));
                }
            };
            Ok(Some(ManifestSignature::Ed25519 {
                key_id,
                value,
                public_key_sha256,
            }))
        }
        Some("HS256") => Ok(Some(ManifestSignature::HS256 { value })),
        Some("SHA256") => Ok(Some(ManifestSignature::SHA256 { value })),
        Some(other) => Err((
            FindingKind::UnsupportedAlgorithm,
            format!("signature algorithm {other:?} is not Ed25519, HS256 or SHA256"),
        )),
        None => Err((
            FindingKind::SignatureMalformed,
            "signature.algorithm must be a string".to_string(),
        )),
    }
}
