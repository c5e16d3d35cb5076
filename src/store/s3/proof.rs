//! Proving what an object already in the bucket holds, without downloading it where S3 can.
//!
//! A multipart object's only store-computed digest is a composite: the SHA-256 of its parts'
//! SHA-256s. The whole object's SHA-256 beside it (`x-amz-meta-sha256`) is whatever its writer
//! sent. But S3 also reports each part's size and SHA-256 (GetObjectAttributes, `ObjectParts`),
//! which it checked as each part arrived. If a local file cut at those sizes has the same part
//! digests, and they give the same composite, the object holds exactly the file's bytes: the
//! file's SHA-256 is then the object's, proven by the store's digests with one local read instead
//! of a download. Anything else (no part checksums, a store without the API, any difference) falls
//! back to downloading and hashing the object.

use std::io::Read;
use std::path::Path;

use aws_sdk_s3::types::ObjectAttributes;
use sha2::{Digest, Sha256};

use super::S3Store;
use super::checksum::{StoreChecksum, composite_checksum, digest_to_base64, parse_store_checksum};
use crate::store::StoreError;

/// S3's limit on parts per object.
const MAX_PARTS: usize = 10_000;

/// The proven SHA-256 (hex) of one object version: by its parts when they match `local`, else by
/// downloading it.
pub(super) async fn content_sha256(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
    local: Option<&Path>,
) -> Result<String, StoreError> {
    if let Some(local) = local {
        if let Some(sha256) = by_parts(store, key, version_id, local).await? {
            return Ok(sha256);
        }
        tracing::info!(key, "not proven by S3's part checksums; downloading");
    }
    crate::store::downloaded_sha256(store, key, version_id).await
}

/// `Some(SHA-256 hex of local)` when S3 reports part checksums for the version and the local
/// file has exactly those parts (so the object holds the file's bytes); `None` when it does not
/// or S3 reports no part checksums.
pub(super) async fn by_parts(
    store: &S3Store,
    key: &str,
    version_id: Option<&str>,
    local: &Path,
) -> Result<Option<String>, StoreError> {
    let Some(parts) = parts(store, key, version_id).await else {
        return Ok(None);
    };
    let local = local.to_path_buf();
    tokio::task::spawn_blocking(move || matches_parts(&local, &parts))
        .await
        .map_err(|e| StoreError::Config(format!("hashing task failed: {e}")))?
        .map_err(|(path, source)| StoreError::Io { path, source })
}

/// What S3 reports of a multipart object's parts: the composite checksum and each part's size
/// and SHA-256 (base64), in part order.
#[derive(Debug)]
struct StoredParts {
    composite: String,
    object_size: u64,
    parts: Vec<(u64, String)>,
}

/// GetObjectAttributes, every page. `None` when S3 does not report all of it (no composite
/// SHA-256, a part without a size or checksum, parts out of order, the request refused): the
/// caller then downloads instead.
async fn parts(store: &S3Store, key: &str, version_id: Option<&str>) -> Option<StoredParts> {
    let mut marker: Option<String> = None;
    let mut found = StoredParts {
        composite: String::new(),
        object_size: 0,
        parts: Vec::new(),
    };
    loop {
        let reply = store
            .client
            .get_object_attributes()
            .bucket(&store.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_string))
            .object_attributes(ObjectAttributes::Checksum)
            .object_attributes(ObjectAttributes::ObjectParts)
            .object_attributes(ObjectAttributes::ObjectSize)
            .max_parts(1000)
            .set_part_number_marker(marker.take())
            .send()
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => {
                tracing::debug!(key, error = %super::describe(&error), "GetObjectAttributes");
                return None;
            }
        };
        found.composite = reply.checksum()?.checksum_sha256()?.to_string();
        found.object_size = u64::try_from(reply.object_size()?).ok()?;
        let listed = reply.object_parts()?;
        for part in listed.parts() {
            let number = usize::try_from(part.part_number()?).ok()?;
            if number != found.parts.len() + 1 || number > MAX_PARTS {
                return None;
            }
            let size = u64::try_from(part.size()?).ok()?;
            found
                .parts
                .push((size, part.checksum_sha256()?.to_string()));
        }
        if listed.is_truncated() != Some(true) {
            break;
        }
        marker = Some(listed.next_part_number_marker()?.to_string());
    }
    // HeadObject writes a composite as `<base64>-<parts>`; GetObjectAttributes reports the
    // digest alone (with `ChecksumType: COMPOSITE`). Either way the count must be the parts'.
    match parse_store_checksum(&found.composite) {
        Ok(StoreChecksum::Composite { parts, .. }) if parts as usize == found.parts.len() => {}
        Ok(StoreChecksum::FullObject(_)) if !found.parts.is_empty() => {
            found.composite = format!("{}-{}", found.composite.trim(), found.parts.len());
        }
        _ => return None,
    }
    let total: u64 = found.parts.iter().map(|(size, _)| size).sum();
    (total == found.object_size && !found.parts.is_empty()).then_some(found)
}

/// Read `local` once, cut at the stored part sizes: `Some(sha256 hex of the file)` when its size,
/// every part's SHA-256 and the composite of them are the stored ones; `None` on any difference.
fn matches_parts(
    local: &Path,
    stored: &StoredParts,
) -> Result<Option<String>, (String, std::io::Error)> {
    let io = |source| (local.display().to_string(), source);
    let mut file = std::fs::File::open(local).map_err(io)?;
    if file.metadata().map_err(io)?.len() != stored.object_size {
        return Ok(None);
    }
    let mut whole = Sha256::new();
    let mut digests = Vec::with_capacity(stored.parts.len());
    let mut buffer = vec![0u8; 1 << 20];
    for (size, checksum) in &stored.parts {
        let mut part = Sha256::new();
        let mut left = *size;
        while left > 0 {
            let want = left.min(buffer.len() as u64) as usize;
            let read = file.read(&mut buffer[..want]).map_err(io)?;
            if read == 0 {
                return Ok(None);
            }
            part.update(&buffer[..read]);
            whole.update(&buffer[..read]);
            left -= read as u64;
        }
        let digest: [u8; 32] = part.finalize().into();
        if digest_to_base64(&digest) != *checksum {
            return Ok(None);
        }
        digests.push(digest);
    }
    if composite_checksum(&digests) != stored.composite {
        return Ok(None);
    }
    Ok(Some(hex::encode(whole.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored_for(data: &[u8], part: usize) -> StoredParts {
        let digests: Vec<[u8; 32]> = data
            .chunks(part)
            .map(|c| Sha256::digest(c).into())
            .collect();
        StoredParts {
            composite: composite_checksum(&digests),
            object_size: data.len() as u64,
            parts: data
                .chunks(part)
                .zip(&digests)
                .map(|(c, d)| (c.len() as u64, digest_to_base64(d)))
                .collect(),
        }
    }

    #[test]
    fn a_file_with_the_stored_parts_is_proven_and_any_difference_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_001u32).map(|i| (i * 31 % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let stored = stored_for(&data, 1 << 20);
        assert_eq!(stored.parts.len(), 3);
        assert_eq!(
            matches_parts(&path, &stored).unwrap(),
            Some(crate::hashing::sha256_hex(&data))
        );
        // One byte changed in the last part.
        let mut other = data.clone();
        *other.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &other).unwrap();
        assert_eq!(matches_parts(&path, &stored).unwrap(), None);
        // Same bytes, other part boundaries than the stored ones: the sizes are what S3
        // reported, so the file is cut there and the digests differ only if the bytes do.
        std::fs::write(&path, &data).unwrap();
        let mut moved = stored_for(&data, 1 << 20);
        moved.parts[0].0 -= 1;
        moved.parts[1].0 += 1;
        assert_eq!(matches_parts(&path, &moved).unwrap(), None);
        // Parts that match but a composite that does not (a different object's checksum).
        let mut composite = stored_for(&data, 1 << 20);
        composite.composite = stored_for(&other, 1 << 20).composite;
        assert_eq!(matches_parts(&path, &composite).unwrap(), None);
        // A shorter file.
        std::fs::write(&path, &data[..data.len() - 1]).unwrap();
        assert_eq!(matches_parts(&path, &stored).unwrap(), None);
    }
}
