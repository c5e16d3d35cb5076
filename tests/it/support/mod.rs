//! Shared emulator harness for integration tests: endpoints from the environment, "is the
//! emulator there?" checks that skip with a printed reason outside CI and fail inside CI, an S3
//! client for LocalStack, and per-test Object Lock buckets so tests can run in parallel.
//!
//! Declared once in `tests/it/main.rs`; test modules `use crate::support`. `scripts/test.sh` starts the emulators
//! and exports the variables read here; the defaults match it, so a plain `cargo test` works
//! while the emulators run (see localstack/README.md, azurite/README.md).
#![allow(dead_code)] // helpers only some emulator configurations reach

pub mod cli;
pub mod s3;

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

// ---------------------------------------------------------------------------------------------
// Azure hook: the Azure helpers (Azurite + WORM stand-in clients, fresh containers, ...) live in
// tests/it/support/azure.rs, owned by the Azure work, which adds its `pub mod azure;` line HERE.
// They can build on `require_emulator`, `ci_requires_emulators`, `unique_name` below.
// ---------------------------------------------------------------------------------------------
pub mod azure;

/// LocalStack gateway (S3, KMS, CloudFormation, STS, IAM).
pub const S3_ENDPOINT_VAR: &str = "WORMVAULT_S3_ENDPOINT";
/// Plain Azurite blob endpoint, account path included, no trailing slash.
pub const AZURITE_ENDPOINT_VAR: &str = "WORMVAULT_AZURITE_ENDPOINT";
/// Azure WORM stand-in in front of Azurite (azurite/standin/), account path included.
pub const AZURE_WORM_ENDPOINT_VAR: &str = "WORMVAULT_AZURE_WORM_ENDPOINT";

/// Region, credentials and account LocalStack accepts (any credentials work; emulators.md).
pub const S3_REGION: &str = "us-east-1";
pub const S3_ACCESS_KEY: &str = "test";
pub const S3_SECRET_KEY: &str = "test";

fn endpoint_from_env(var: &str, default: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => value.trim().trim_end_matches('/').to_string(),
        _ => default.to_string(),
    }
}

pub fn s3_endpoint() -> String {
    endpoint_from_env(S3_ENDPOINT_VAR, "http://127.0.0.1:4566")
}

pub fn azurite_endpoint() -> String {
    endpoint_from_env(
        AZURITE_ENDPOINT_VAR,
        "http://127.0.0.1:10000/devstoreaccount1",
    )
}

pub fn azure_worm_endpoint() -> String {
    endpoint_from_env(
        AZURE_WORM_ENDPOINT_VAR,
        "http://127.0.0.1:10001/devstoreaccount1",
    )
}

/// `CI=true` means every emulator test must run: an unreachable emulator is a failure.
pub fn ci_requires_emulators() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// A minimal HTTP/1.1 response: status code and body (as text, lossily decoded).
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
}

/// One plain-HTTP GET with short timeouts, enough to probe an emulator without pulling an HTTP
/// client into every test binary. `url` must be `http://host:port/...`.
pub fn http_get(url: &str) -> Result<HttpReply, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!("{url}: only http:// is probed"));
    }
    let host = parsed.host_str().ok_or_else(|| format!("{url}: no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let address = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}:{port} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .map_err(|e| format!("TCP connect to {address} failed: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut target = parsed.path().to_string();
    if let Some(query) = parsed.query() {
        target.push('?');
        target.push_str(query);
    }
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write to {address}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read from {address}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let status_line = text.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("{url}: not an HTTP response (first line {status_line:?})"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok(HttpReply { status, body })
}

/// Decide whether a test that needs emulator `name` runs. `probe` returns `Err(reason)` when
/// the emulator is not usable. Outside CI: print why and return false (the caller returns early,
/// i.e. skips). With `CI=true`: panic, so the run fails instead of silently skipping.
pub fn require_emulator(
    name: &str,
    endpoint: &str,
    hint: &str,
    probe: impl FnOnce() -> Result<(), String>,
) -> bool {
    match probe() {
        Ok(()) => true,
        Err(reason) if ci_requires_emulators() => {
            panic!("{name} is required (CI=true) but not usable at {endpoint}: {reason}. {hint}")
        }
        Err(reason) => {
            eprintln!(
                "SKIPPED: {name} not usable at {endpoint}: {reason}. {hint} (with CI=true this fails)"
            );
            false
        }
    }
}

/// A reachable LocalStack S3 and a client configured for it.
pub struct S3Env {
    pub endpoint: String,
    pub client: Client,
}

/// LocalStack's health endpoint must list S3 as available (a bare open port is not enough: the
/// gateway answers before its services are loaded).
fn probe_localstack_s3(endpoint: &str) -> Result<(), String> {
    let reply = http_get(&format!("{endpoint}/_localstack/health"))?;
    if reply.status != 200 {
        return Err(format!(
            "/_localstack/health answered HTTP {}",
            reply.status
        ));
    }
    let health: serde_json::Value = serde_json::from_str(&reply.body)
        .map_err(|e| format!("/_localstack/health is not JSON ({e})"))?;
    match health.pointer("/services/s3").and_then(|v| v.as_str()) {
        Some("available" | "running") => Ok(()),
        other => Err(format!("/_localstack/health reports s3 as {other:?}")),
    }
}

/// LocalStack S3 for this test, or `None` (after printing why) when it is unreachable outside
/// CI. Panics when `CI=true` and LocalStack is unreachable.
pub fn require_s3() -> Option<S3Env> {
    let endpoint = s3_endpoint();
    let usable = require_emulator(
        "LocalStack S3",
        &endpoint,
        "Start it with `bash localstack/start.sh` or run everything with `bash scripts/test.sh`",
        || probe_localstack_s3(&endpoint),
    );
    usable.then(|| S3Env {
        client: s3_client(&endpoint),
        endpoint,
    })
}

/// An S3 client for LocalStack: explicit endpoint, path-style addressing (no bucket DNS on
/// 127.0.0.1), us-east-1 and the emulator's test/test credentials — nothing read from profiles.
pub fn s3_client(endpoint: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(S3_REGION))
        .credentials_provider(Credentials::new(
            S3_ACCESS_KEY,
            S3_SECRET_KEY,
            None,
            None,
            "wormvault-tests",
        ))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

static NAME_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test (thread or process, now or in an earlier run against the same
/// emulator) uses: `<prefix>-<pid>-<counter>-<time>`, lowercase letters, digits and hyphens only,
/// at most 63 characters (valid as an S3 bucket and an Azure container name).
pub fn unique_name(prefix: &str) -> String {
    let clean: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .take(24)
        .collect();
    let clean = clean.trim_matches('-');
    let prefix = if clean.is_empty() { "wv" } else { clean };
    let counter = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    // Base-36 keeps the time part short (13 chars cover nanoseconds until far in the future).
    let mut time = String::new();
    let mut rest = nanos;
    while rest > 0 {
        let digit = (rest % 36) as u32;
        time.insert(0, char::from_digit(digit, 36).unwrap_or('0'));
        rest /= 36;
    }
    let name = format!("{prefix}-{}-{counter}-{time}", std::process::id());
    name.chars().take(63).collect()
}

/// Create a fresh, uniquely named bucket with Object Lock enabled (which also turns versioning
/// on) and return its name. Panics with the service's error if the bucket cannot be created or
/// does not report Object Lock enabled afterwards.
pub async fn fresh_lock_bucket(client: &Client) -> String {
    fresh_lock_bucket_with_prefix(client, "wv-test").await
}

pub async fn fresh_lock_bucket_with_prefix(client: &Client, prefix: &str) -> String {
    let bucket = unique_name(prefix);
    client
        .create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create Object Lock bucket {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        });
    let lock = client
        .get_object_lock_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "read Object Lock configuration of {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        });
    let enabled = lock
        .object_lock_configuration()
        .and_then(|c| c.object_lock_enabled())
        .map(|e| e.as_str() == "Enabled");
    assert_eq!(
        enabled,
        Some(true),
        "bucket {bucket} was created without Object Lock"
    );
    bucket
}
