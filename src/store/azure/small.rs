//! Small objects for the audit log in the store (issue #17, docs/audit-store.md): a name listing
//! after a key (List Blobs, no per-blob property read) and size-capped reads into memory. Writes
//! go through the trait's default `put_bytes`, i.e. the create-only, locked, read-back `put` of
//! `write.rs`.
//!
//! Azure's List Blobs has no `start-after` (its continuation marker is opaque), so a listing
//! after a key walks the names under the prefix from the start: one request per 5,000 names.

use azure_storage_blob::models::BlobContainerClientListBlobsOptions;
use futures::StreamExt;

use super::{AzureStore, cloud, describe, status_of};
use crate::store::{FetchedObject, ListedVersion, StoreError, page_of, too_large};

pub(super) async fn list_after(
    store: &AzureStore,
    prefix: &str,
    start_after: Option<&str>,
    max: usize,
) -> Result<Vec<ListedVersion>, StoreError> {
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
            break;
        }
    }
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(page_of(listed, max))
}

pub(super) async fn get_bytes(
    store: &AzureStore,
    key: &str,
    version_id: Option<&str>,
    max_len: u64,
) -> Result<Option<FetchedObject>, StoreError> {
    store.check_key(key)?;
    let Some(head) = store.head_version(key, version_id).await? else {
        return Ok(None);
    };
    if head.size > max_len {
        return Err(too_large(&store.target, key, head.size, max_len));
    }
    let mut blob = store.blob(key);
    if let Some(version) = version_id {
        blob = blob
            .with_version(version)
            .map_err(|e| StoreError::Config(e.to_string()))?;
    }
    let result = match blob.download(None).await {
        Ok(result) => result,
        Err(e) if status_of(&e).0 == Some(404) => return Ok(None),
        Err(e) => return Err(cloud(&store.target, "Get Blob", Some(key), describe(&e))),
    };
    let mut bytes = Vec::with_capacity(head.size as usize);
    let mut body = result.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| cloud(&store.target, "Get Blob", Some(key), describe(&e)))?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > max_len {
            return Err(too_large(&store.target, key, bytes.len() as u64, max_len));
        }
    }
    Ok(Some(FetchedObject {
        bytes,
        version_id: head.version_id,
        retention_mode: head.retention_mode,
        retain_until: head.retain_until,
        legal_hold: head.legal_hold,
    }))
}
