//! S3 Batch Operations hand-off for holds beyond one machine: a CSV manifest (one row per object
//! version: bucket, URL-encoded key, version id; no header — format
//! `S3BatchOperations_CSV_20180820`, fields `Bucket, Key, VersionId`) and a `CreateJob` request
//! for the `S3PutObjectLegalHold` operation, ready for
//! `aws s3control create-job --cli-input-json file://JOB.json` once the manifest is uploaded to
//! the object the job names. AWS applies the flags; the registry event records every version,
//! and `hold set` without `--batch-manifest` (or `hold status`) confirms them afterwards.

use std::path::{Path, PathBuf};

use md5::Digest as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::registry::VersionRef;

/// Everything but unreserved characters (RFC 3986) and `/` is percent-encoded: AWS requires
/// manifest keys URL-encoded, and a comma or newline in a key must not split a row.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Where the job will find its manifest and write its report, and who runs it.
#[derive(Debug, Clone)]
pub struct BatchJob {
    pub account_id: String,
    pub role_arn: String,
    /// `s3://bucket/key` the manifest will be uploaded to (single PUT, so its ETag is the MD5
    /// this module writes into the job).
    pub manifest_location: String,
    /// `s3://bucket/prefix` for the completion report.
    pub report_location: String,
    pub hold: bool,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{what} {value:?} is not an s3://bucket/key location")]
    Location { what: &'static str, value: String },
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} already exists; a manifest is never overwritten")]
    Exists { path: PathBuf },
}

/// One manifest row.
pub fn manifest_row(bucket: &str, version: &VersionRef) -> String {
    format!(
        "{bucket},{},{}\n",
        utf8_percent_encode(&version.key, KEY),
        version.version_id.as_deref().unwrap_or("")
    )
}

fn split_s3(what: &'static str, value: &str) -> Result<(String, String), BatchError> {
    value
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, _)| !bucket.is_empty())
        .map(|(b, k)| (b.to_string(), k.trim_end_matches('/').to_string()))
        .ok_or_else(|| BatchError::Location {
            what,
            value: value.to_string(),
        })
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), BatchError> {
    crate::fs::write_new(path, bytes).map_err(|error| match error {
        crate::fs::WriteError::Exists { path } => BatchError::Exists { path },
        crate::fs::WriteError::Io { path, source } => BatchError::Io { path, source },
    })
}

/// Write the manifest to `manifest` and the job request next to it (`<manifest>.job.json`).
/// Returns the job path.
pub fn write(
    manifest: &Path,
    bucket: &str,
    versions: &[VersionRef],
    job: &BatchJob,
) -> Result<PathBuf, BatchError> {
    let (manifest_bucket, manifest_key) =
        split_s3("--batch-manifest-location", &job.manifest_location)?;
    let (report_bucket, report_prefix) = split_s3("--batch-report-location", &job.report_location)?;
    let mut csv = String::with_capacity(versions.len() * 96);
    for version in versions {
        csv.push_str(&manifest_row(bucket, version));
    }
    let etag = hex::encode(md5::Md5::digest(csv.as_bytes()));
    let request = serde_json::json!({
        "AccountId": job.account_id,
        "ConfirmationRequired": true,
        "Operation": {
            "S3PutObjectLegalHold": {
                "LegalHold": {"Status": if job.hold { "ON" } else { "OFF" }}
            }
        },
        "Manifest": {
            "Spec": {
                "Format": "S3BatchOperations_CSV_20180820",
                "Fields": ["Bucket", "Key", "VersionId"]
            },
            "Location": {
                "ObjectArn": format!("arn:aws:s3:::{manifest_bucket}/{manifest_key}"),
                "ETag": etag
            }
        },
        "Report": {
            "Bucket": format!("arn:aws:s3:::{report_bucket}"),
            "Prefix": report_prefix,
            "Format": "Report_CSV_20180820",
            "Enabled": true,
            "ReportScope": "AllTasks"
        },
        "Priority": 10,
        "RoleArn": job.role_arn,
        "Description": job.description,
        "ClientRequestToken": etag,
    });
    let job_path = PathBuf::from(format!("{}.job.json", manifest.display()));
    write_new(manifest, csv.as_bytes())?;
    let text = serde_json::to_string_pretty(&request).unwrap_or_default();
    write_new(&job_path, format!("{text}\n").as_bytes())?;
    Ok(job_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_encoded_and_rows_cannot_split() {
        let row = manifest_row(
            "evidence",
            &VersionRef {
                key: "rel/a b,c\nd+é.txt".into(),
                version_id: Some("v1".into()),
            },
        );
        assert_eq!(row, "evidence,rel/a%20b%2Cc%0Ad%2B%C3%A9.txt,v1\n");
    }
}
