//! Reading Azure blobs back as the store reports them: Get Blob Properties (lock, legal hold,
//! Content-MD5, the SHA-256 metadata) and tags, listing, legal holds, download and delete.

use std::collections::BTreeMap;
use std::path::Path;

use azure_storage_blob::models::{
    BlobClientDeleteOptions, BlobClientGetPropertiesOptions, BlobClientGetTagsOptions,
    BlobClientSetLegalHoldOptions, BlobContainerClientListBlobsOptions,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use md5::Digest as _;
use sha2::Sha256;

use super::{AzureStore, SHA256_METADATA, cloud, describe, status_of};
use crate::store::{RetentionMode, StoreError, StoredObject};

impl AzureStore {
    /// Get Blob Properties and Get Blob Tags: the blob as the store reports it (`None`: absent).
    pub(super) async fn head_version(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<StoredObject>, StoreError> {
        self.properties(key, version_id, true).await
    }

    /// Get Blob Properties, and Get Blob Tags only when `with_tags` (one request instead of two
    /// where the tags are not looked at: the existence check before a write and the lock check
    /// after the commit; the read-back that is compared and becomes the receipt has them).
    /// Without tags, the returned [`StoredObject::tags`] is empty.
    pub(super) async fn properties(
        &self,
        key: &str,
        version_id: Option<&str>,
        with_tags: bool,
    ) -> Result<Option<StoredObject>, StoreError> {
        self.check_key(key)?;
        let blob = self.blob(key);
        let options = BlobClientGetPropertiesOptions {
            version_id: version_id.map(str::to_string),
            ..Default::default()
        };
        let response = match blob.get_properties(Some(options)).await {
            Ok(r) => r,
            Err(e) if status_of(&e).0 == Some(404) => return Ok(None),
            Err(e) => {
                return Err(cloud(
                    &self.target,
                    "Get Blob Properties",
                    Some(key),
                    describe(&e),
                ));
            }
        };
        let mut stored = self.stored_from_headers(key, response.headers());
        if with_tags {
            stored.tags = self.tags(key, version_id).await?;
        }
        Ok(Some(stored))
    }

    /// The blob as a response's headers describe it (Get Blob Properties, or Get Blob, whose
    /// headers carry the same fields), without tags.
    pub(super) fn stored_from_headers(
        &self,
        key: &str,
        headers: &azure_core::http::headers::Headers,
    ) -> StoredObject {
        let header = |name: &'static str| {
            headers
                .get_optional_str(&azure_core::http::headers::HeaderName::from_static(name))
                .map(str::to_string)
        };
        let size = header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let md5 = header("content-md5")
            .and_then(|v| B64.decode(v).ok())
            .map(hex::encode);
        let mut metadata = BTreeMap::new();
        for (name, value) in headers.iter() {
            if let Some(meta) = name.as_str().strip_prefix("x-ms-meta-") {
                metadata.insert(meta.to_string(), value.as_str().to_string());
            }
        }
        let retain_until = header("x-ms-immutability-policy-until-date")
            .and_then(|v| DateTime::parse_from_rfc2822(&v).ok())
            .map(|d| d.with_timezone(&Utc));
        let retention_mode = match header("x-ms-immutability-policy-mode")
            .map(|m| m.to_ascii_lowercase())
            .as_deref()
        {
            Some("locked") => Some(RetentionMode::Compliance),
            Some("unlocked") => Some(RetentionMode::Governance),
            _ => None,
        };
        // Azure reports x-ms-legal-hold on blobs of version-level-immutable containers; a blob
        // that carries a policy but no hold header has no hold.
        let legal_hold = header("x-ms-legal-hold")
            .map(|v| v.eq_ignore_ascii_case("true"))
            .or_else(|| header("x-ms-immutability-policy-until-date").map(|_| false));
        let last_modified = header("last-modified")
            .and_then(|v| DateTime::parse_from_rfc2822(&v).ok())
            .map(|d| d.with_timezone(&Utc));
        let is_latest = header("x-ms-is-current-version")
            .map(|v| v.eq_ignore_ascii_case("true"))
            .unwrap_or(true);
        StoredObject {
            key: key.to_string(),
            version_id: header("x-ms-version-id"),
            etag: header("etag"),
            size,
            sha256: metadata.get(SHA256_METADATA).cloned(),
            // Blob metadata is whatever the blob's writer put there.
            sha256_source: crate::store::DigestSource::Claimed,
            md5,
            retention_mode: if retain_until.is_some() {
                retention_mode
            } else {
                None
            },
            retain_until,
            legal_hold,
            tags: BTreeMap::new(),
            last_modified,
            request_id: header("x-ms-request-id"),
            enforcement: self.enforcement(),
            is_latest,
        }
    }

    pub(super) async fn tags(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let options = BlobClientGetTagsOptions {
            version_id: version_id.map(str::to_string),
            ..Default::default()
        };
        let tags = self
            .blob(key)
            .get_tags(Some(options))
            .await
            .and_then(|r| r.into_model())
            .map_err(|e| cloud(&self.target, "Get Blob Tags", Some(key), describe(&e)))?;
        Ok(tags
            .blob_tag_set
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
            .collect())
    }
}

/// Current blobs under `prefix`, each read with Get Blob Properties (so policy and hold come
/// from the store). Versions are not listed: the emulators have none (see README).
pub(super) async fn list(
    store: &AzureStore,
    prefix: &str,
) -> Result<Vec<StoredObject>, StoreError> {
    let options = BlobContainerClientListBlobsOptions {
        prefix: if prefix.is_empty() {
            None
        } else {
            Some(prefix.to_string())
        },
        ..Default::default()
    };
    let mut pages = store
        .container
        .list_blobs(Some(options))
        .map_err(|e| cloud(&store.target, "List Blobs", None, describe(&e)))?
        .into_pages();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page
            .and_then(|p| p.into_model())
            .map_err(|e| cloud(&store.target, "List Blobs", None, describe(&e)))?;
        names.extend(page.blob_items.into_iter().filter_map(|b| b.name));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if let Some(stored) = store.head_version(&name, None).await? {
            out.push(stored);
        }
    }
    Ok(out)
}

pub(super) async fn set_legal_hold(
    store: &AzureStore,
    key: &str,
    version_id: Option<&str>,
    hold: bool,
) -> Result<StoredObject, StoreError> {
    store.check_key(key)?;
    let options = BlobClientSetLegalHoldOptions {
        version_id: version_id.map(str::to_string),
        ..Default::default()
    };
    if let Err(e) = store.blob(key).set_legal_hold(hold, Some(options)).await {
        return Err(match status_of(&e) {
            (Some(404), _) => StoreError::NotFound {
                target: store.target.to_string(),
                key: key.to_string(),
            },
            _ => StoreError::NotHonoured {
                target: store.target.to_string(),
                key: key.to_string(),
                detail: format!("Set Blob Legal Hold to {hold} failed: {}", describe(&e)),
            },
        });
    }
    let stored =
        store
            .head_version(key, version_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                target: store.target.to_string(),
                key: key.to_string(),
            })?;
    if stored.legal_hold != Some(hold) {
        return Err(StoreError::NotHonoured {
            target: store.target.to_string(),
            key: key.to_string(),
            detail: format!(
                "legal hold read back as {} after setting it to {hold}",
                match stored.legal_hold {
                    Some(true) => "true",
                    Some(false) => "false",
                    None => "not reported",
                }
            ),
        });
    }
    Ok(stored)
}

pub(super) async fn download(
    store: &AzureStore,
    key: &str,
    version_id: Option<&str>,
    dest: &Path,
) -> Result<String, StoreError> {
    use tokio::io::AsyncWriteExt;
    store.check_key(key)?;
    let mut blob = store.blob(key);
    if let Some(version) = version_id {
        blob = blob
            .with_version(version)
            .map_err(|e| StoreError::Config(e.to_string()))?;
    }
    let result = match blob.download(None).await {
        Ok(r) => r,
        Err(e) if status_of(&e).0 == Some(404) => {
            return Err(StoreError::NotFound {
                target: store.target.to_string(),
                key: key.to_string(),
            });
        }
        Err(e) => return Err(cloud(&store.target, "Get Blob", Some(key), describe(&e))),
    };
    let io = |source| StoreError::Io {
        path: dest.display().to_string(),
        source,
    };
    let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
    let mut sha = Sha256::new();
    let mut body = result.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| cloud(&store.target, "Get Blob", Some(key), describe(&e)))?;
        sha.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(hex::encode(sha.finalize()))
}

pub(super) async fn delete(
    store: &AzureStore,
    key: &str,
    version_id: Option<&str>,
) -> Result<(), StoreError> {
    store.check_key(key)?;
    let options = BlobClientDeleteOptions {
        version_id: version_id.map(str::to_string),
        ..Default::default()
    };
    match store.blob(key).delete(Some(options)).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match status_of(&e) {
            (Some(404), _) => StoreError::NotFound {
                target: store.target.to_string(),
                key: key.to_string(),
            },
            (Some(409), Some(code))
                if code.starts_with("BlobImmutable")
                    || code.contains("LegalHold")
                    || code.contains("Immutab") =>
            {
                StoreError::Protected {
                    target: store.target.to_string(),
                    key: key.to_string(),
                    detail: code,
                }
            }
            _ => cloud(&store.target, "Delete Blob", Some(key), describe(&e)),
        }),
    }
}
