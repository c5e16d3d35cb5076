//! Small objects for the audit log in the store (issue #17, docs/audit-store.md): a name listing
//! after a key (List Blobs, no per-blob property read), size-capped reads into memory (one Get
//! Blob: its headers carry the lock state), and
//! create-only writes in ONE Put Blob request that carries the immutability policy and legal
//! hold with the content.
//!
//! Why not `put` (write.rs): it stages blocks and commits a block list. Uncommitted blocks belong
//! to the blob name, so two writers racing for the same new name (the audit log's claim of a
//! sequence number) stage into one list, and the winner's commit can commit the loser's bytes
//! (seen on the stand-in: a read-back found other bytes). It also locks after the commit, so a
//! writer killed in between leaves an unlocked blob. Put Blob with `If-None-Match: *` and the
//! `x-ms-immutability-policy-*` / `x-ms-legal-hold` headers is atomic: the blob exists complete
//! and locked, or not at all.
//!
//! Azure's List Blobs has no `start-after` (its continuation marker is opaque), so a listing
//! after a key walks the names under the prefix from the start: one request per 5,000 names.

use std::collections::HashMap;

use azure_core::http::{Etag, RequestContent};
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobClientUploadOptions, BlobContainerClientListBlobsOptions,
    ImmutabilityPolicyMode,
};
use futures::StreamExt;

use super::write::ceil_second;
use super::{
    AzureStore, SHA256_METADATA, cloud, describe, metadata_name, status_of, to_offset,
    valid_metadata_name,
};
use crate::store::{
    FetchedObject, ListedPage, ListedVersion, PutBytes, RetentionMode, StoreError, StoredObject,
    page_of, too_large,
};

pub(super) async fn put_bytes(
    store: &AzureStore,
    object: &PutBytes<'_>,
) -> Result<StoredObject, StoreError> {
    let key = object.key;
    store.check_key(key)?;
    let mut metadata = HashMap::new();
    for (name, value) in &object.metadata {
        let name = metadata_name(name);
        if !valid_metadata_name(&name) || name.eq_ignore_ascii_case(SHA256_METADATA) {
            return Err(StoreError::Config(format!(
                "metadata name {name:?} for {key} is not allowed on Azure"
            )));
        }
        metadata.insert(name, value.clone());
    }
    let sha256 = crate::hashing::sha256_hex(object.bytes);
    metadata.insert(SHA256_METADATA.to_string(), sha256.clone());
    let until = ceil_second(object.lock.retain_until);
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    crc.update(object.bytes);
    let options = BlobClientUploadOptions {
        if_none_match: Some(Etag::from("*")),
        blob_content_type: object.content_type.map(str::to_string),
        metadata: Some(metadata),
        immutability_policy_expiry: Some(to_offset(until).map_err(StoreError::Config)?),
        immutability_policy_mode: options_mode(object.lock.mode),
        legal_hold: object.lock.legal_hold.then_some(true),
        // The service checks the bytes it receives against this CRC64 (x-ms-content-crc64).
        method_options: azure_core::http::ClientMethodOptions {
            context: azure_core::http::Context::new()
                .with_value(super::ContentCrc64(crc.finalize())),
        },
        ..Default::default()
    };
    let content: RequestContent<bytes::Bytes, azure_core::http::NoFormat> =
        bytes::Bytes::copy_from_slice(object.bytes).into();
    if let Err(e) = store.blob(key).upload(content, Some(options)).await {
        return Err(match status_of(&e) {
            (Some(409), _) | (Some(412), _) => StoreError::AlreadyExists {
                target: store.target.to_string(),
                key: key.to_string(),
            },
            _ => cloud(&store.target, "Put Blob", Some(key), describe(&e)),
        });
    }
    let missing = || StoreError::NotHonoured {
        target: store.target.to_string(),
        key: key.to_string(),
        detail: "the blob is missing right after it was written".into(),
    };
    // A put_bytes object has no tags: properties alone (one request, not two).
    let mut stored = store
        .properties(key, None, false)
        .await?
        .ok_or_else(missing)?;
    // A store that ignored the lock headers (the Azurite-based stand-in does; Azure applies
    // them): set the policy and hold explicitly, then read again. Only then is there a moment
    // where the blob exists unlocked, as with `put`.
    let locked = stored.retention_mode == Some(object.lock.mode)
        && stored.retain_until.is_some_and(|u| u >= until);
    if !locked {
        let options = azure_storage_blob::models::BlobClientSetImmutabilityPolicyOptions {
            immutability_policy_mode: options_mode(object.lock.mode),
            ..Default::default()
        };
        let expiry = to_offset(until).map_err(StoreError::Config)?;
        store
            .blob(key)
            .set_immutability_policy(&expiry, Some(options))
            .await
            .map_err(|e| {
                cloud(
                    &store.target,
                    "Set Blob Immutability Policy",
                    Some(key),
                    describe(&e),
                )
            })?;
    }
    if object.lock.legal_hold && stored.legal_hold != Some(true) {
        store
            .blob(key)
            .set_legal_hold(true, None)
            .await
            .map_err(|e| {
                cloud(
                    &store.target,
                    "Set Blob Legal Hold",
                    Some(key),
                    describe(&e),
                )
            })?;
    }
    if !locked || (object.lock.legal_hold && stored.legal_hold != Some(true)) {
        stored = store
            .properties(key, None, false)
            .await?
            .ok_or_else(missing)?;
    }
    let mut problems = Vec::new();
    if stored.sha256.as_deref() != Some(sha256.as_str()) || stored.size != object.bytes.len() as u64
    {
        problems.push("content".to_string());
    }
    if stored.retention_mode != Some(object.lock.mode) {
        problems.push(format!("lock mode {:?}", stored.retention_mode));
    }
    if stored.retain_until.is_none_or(|u| u < until) {
        problems.push(format!("retain-until {:?}", stored.retain_until));
    }
    if object.lock.legal_hold && stored.legal_hold != Some(true) {
        problems.push("legal hold not set".into());
    }
    if !problems.is_empty() {
        return Err(StoreError::NotHonoured {
            target: store.target.to_string(),
            key: key.to_string(),
            detail: format!(
                "the blob was written but the store reports a different {}",
                problems.join(", ")
            ),
        });
    }
    // Locked at the first read (the write carried the lock and the store applied it): the blob
    // this create-only write made, checked on arrival against its CRC64, is the one read here and
    // can never have held other bytes. A blob that existed unlocked, however briefly, is only as
    // good as its metadata until its bytes are read (the caller does).
    if locked {
        stored.sha256_source = crate::store::DigestSource::Verified;
    }
    Ok(stored)
}

pub(super) async fn list_after(
    store: &AzureStore,
    prefix: &str,
    start_after: Option<&str>,
    max: usize,
) -> Result<ListedPage, StoreError> {
    let options = BlobContainerClientListBlobsOptions {
        prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
        ..Default::default()
    };
    let mut pages = store
        .container
        .list_blobs(Some(options))
        .map_err(|e| cloud(&store.target, "List Blobs", Some(prefix), describe(&e)))?
        .into_pages();
    let mut listed = Vec::new();
    // Every page of the prefix was read (none left unread): then `page_of` knows whether the
    // page it returns is the end.
    let mut exhausted = true;
    while let Some(page) = pages.next().await {
        let page = page
            .and_then(|p| p.into_model())
            .map_err(|e| cloud(&store.target, "List Blobs", Some(prefix), describe(&e)))?;
        for item in page.blob_items {
            let Some(name) = item.name else { continue };
            if start_after.is_some_and(|after| name.as_str() <= after) {
                continue;
            }
            listed.push(ListedVersion {
                key: name,
                version_id: item.version_id,
                is_latest: item.is_current_version.unwrap_or(true),
                delete_marker: false,
                size: item
                    .properties
                    .as_ref()
                    .and_then(|p| p.content_length)
                    .unwrap_or(0),
            });
        }
        if listed.len() > max {
            exhausted = false;
            break;
        }
    }
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    let mut page = page_of(listed, max);
    page.complete &= exhausted;
    Ok(page)
}

/// One Get Blob: its headers carry the blob's size, version and lock state as Get Blob Properties
/// would (no second request), and at most `max_len + 1` bytes are asked for (a range), so a larger
/// blob is refused after at most that many.
///
/// A body that breaks off mid-transfer is read again from the start (the SDK retries a request
/// that fails before its response, not a body cut short), up to
/// [`crate::store::BODY_ATTEMPTS`] times, each retry naming the version the first response
/// named, so every attempt reads the same bytes.
pub(super) async fn get_bytes(
    store: &AzureStore,
    key: &str,
    version_id: Option<&str>,
    max_len: u64,
) -> Result<Option<FetchedObject>, StoreError> {
    store.check_key(key)?;
    let mut pinned = version_id.map(str::to_string);
    let mut retries = crate::store::BodyRetries::default();
    loop {
        let mut blob = store.blob(key);
        if let Some(version) = pinned.as_deref() {
            blob = blob
                .with_version(version)
                .map_err(|e| StoreError::Config(e.to_string()))?;
        }
        let options = BlobClientDownloadOptions {
            range: Some((0..max_len.saturating_add(1)).into()),
            ..Default::default()
        };
        let result = match blob.download(Some(options)).await {
            Ok(result) => result,
            Err(e) if status_of(&e).0 == Some(404) => return Ok(None),
            Err(e) => return Err(cloud(&store.target, "Get Blob", Some(key), describe(&e))),
        };
        let head = store.stored_from_headers(key, &result.headers);
        // A ranged response's Content-Length is the range's; the blob's size is after the `/`
        // of its Content-Range.
        let size = result
            .headers
            .get_optional_str(&azure_core::http::headers::HeaderName::from_static(
                "content-range",
            ))
            .and_then(|range| range.rsplit_once('/'))
            .and_then(|(_, total)| total.trim().parse::<u64>().ok())
            .unwrap_or(head.size);
        if size > max_len {
            return Err(too_large(&store.target, key, size, max_len));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        let mut body = result.body;
        let mut broke = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(e) => {
                    broke = Some(describe(&e));
                    break;
                }
            }
            if bytes.len() as u64 > max_len {
                return Err(too_large(&store.target, key, bytes.len() as u64, max_len));
            }
        }
        match broke {
            None => {
                return Ok(Some(FetchedObject {
                    bytes,
                    version_id: head.version_id,
                    retention_mode: head.retention_mode,
                    retain_until: head.retain_until,
                    legal_hold: head.legal_hold,
                }));
            }
            Some(message) => {
                retries
                    .after_break(&store.target, "Get Blob", key, &message)
                    .await?;
                if pinned.is_none() {
                    pinned = head.version_id;
                }
            }
        }
    }
}

fn options_mode(mode: RetentionMode) -> Option<ImmutabilityPolicyMode> {
    Some(match mode {
        RetentionMode::Compliance => ImmutabilityPolicyMode::Locked,
        RetentionMode::Governance => ImmutabilityPolicyMode::Unlocked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::azure::{AzureAuth, AzureOptions, auth};
    use crate::store::{Target, cutting_server};

    const VERSION: &str = "2026-01-01T00:00:00.0000000Z";

    fn store(endpoint: &str) -> AzureStore {
        let target = Target::parse(&format!("azure+{endpoint}/devstoreaccount1/evidence")).unwrap();
        let sas = AzureAuth::Sas(auth::SecretString::new("sig=x".into()));
        AzureStore::new(target, sas, AzureOptions::default()).unwrap()
    }

    /// A Get Blob body cut short is read again, naming the version the properties gave, and the
    /// whole blob is returned; a body that keeps breaking off is an error naming the blob and the
    /// attempts, after exactly BODY_ATTEMPTS downloads.
    #[test]
    fn a_body_cut_short_is_read_again() {
        let runtime = cutting_server::runtime();
        let (endpoint, requests) = cutting_server::start(5000, 1, "x-ms-version-id", VERSION);
        let found = runtime
            .block_on(get_bytes(&store(&endpoint), "k", None, 1 << 20))
            .unwrap()
            .unwrap();
        assert_eq!(found.bytes, cutting_server::body(5000));
        assert_eq!(found.version_id.as_deref(), Some(VERSION));
        let gets = cutting_server::gets(&requests);
        assert_eq!(gets.len(), 2, "{gets:?}");
        // One Get Blob per attempt, no Get Blob Properties: the lock state comes with the body.
        assert_eq!(requests.lock().unwrap().len(), 2, "{gets:?}");
        // At most max_len + 1 bytes are asked for.
        assert!(
            gets[0]
                .to_ascii_lowercase()
                .contains("range: bytes=0-1048576"),
            "{gets:?}"
        );
        assert!(!gets[0].contains("versionid"), "{gets:?}");
        assert!(
            gets[1].lines().next().unwrap().contains("versionid="),
            "{gets:?}"
        );

        let (endpoint, requests) =
            cutting_server::start(5000, usize::MAX, "x-ms-version-id", VERSION);
        let error = runtime
            .block_on(get_bytes(&store(&endpoint), "k", None, 1 << 20))
            .unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, StoreError::Cloud { .. }), "{text}");
        assert!(text.contains("broke off 3 times"), "{text}");
        assert_eq!(
            cutting_server::gets(&requests).len(),
            crate::store::BODY_ATTEMPTS as usize
        );
    }

    /// A blob larger than the cap is refused with its real size, in one request, without its
    /// body being kept.
    #[test]
    fn a_blob_over_the_cap_is_refused_with_its_size() {
        let runtime = cutting_server::runtime();
        let (endpoint, requests) = cutting_server::start(5000, 0, "x-ms-version-id", VERSION);
        let error = runtime
            .block_on(get_bytes(&store(&endpoint), "k", None, 1000))
            .unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, StoreError::Config(_)), "{text}");
        assert!(
            text.contains("5000 bytes") && text.contains("1000"),
            "{text}"
        );
        assert_eq!(requests.lock().unwrap().len(), 1);
    }
}
