//! Azure test helpers: Azurite / WORM stand-in availability (skip outside CI, fail with CI=true),
//! fresh containers, an `AzureStore` on the dev account, and a minimal Shared Key–signed REST
//! client over std TCP for reading blobs back *without* wormvault's store code.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use wormvault::store::Target;
use wormvault::store::azure::auth::{self, AZURITE_DEV_KEY, AzureAuth, SecretKey};
use wormvault::store::azure::{API_VERSION, AzureOptions, AzureStore};

use super::{azure_worm_endpoint, azurite_endpoint, require_emulator, unique_name};

pub const ACCOUNT: &str = "devstoreaccount1";

/// One REST response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Lowercased header names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn error_code(&self) -> Option<&str> {
        self.header("x-ms-error-code")
    }
}

/// Shared Key–signed request to `endpoint` (`http://host:port/<account>`), `path` relative to
/// the account (`/<container>/<blob>`), `query` raw (`comp=tags`). Uses the same string-to-sign
/// as the store, which is itself checked against the Python SDK's signature in unit tests.
pub fn rest(
    endpoint: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Reply, String> {
    let url = url::Url::parse(&format!(
        "{endpoint}{path}{}",
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    ))
    .map_err(|e| e.to_string())?;
    let host = url.host_str().ok_or("no host")?.to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !all
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("x-ms-version"))
    {
        all.push(("x-ms-version".into(), API_VERSION.into()));
    }
    all.push(("x-ms-date".into(), auth::rfc1123_now()));
    all.push(("Content-Length".into(), body.len().to_string()));
    let query_pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let text = auth::string_to_sign(method, ACCOUNT, url.path(), &query_pairs, &all);
    let key = SecretKey::from_base64(AZURITE_DEV_KEY).map_err(|e| e.to_string())?;
    all.push((
        "Authorization".into(),
        format!("SharedKey {ACCOUNT}:{}", auth::sign(&key, &text)),
    ));

    let address = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))
        .map_err(|e| format!("connect {address}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n");
    for (k, v) in &all {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    stream.write_all(body).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .map_err(|e| e.to_string())?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(format!("bad status line {status_line:?}"))?;
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if method != "HEAD" {
        if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).map_err(|e| e.to_string())?;
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                let mut chunk = vec![0; n];
                reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
                body.extend_from_slice(&chunk);
                let mut crlf = String::new();
                reader.read_line(&mut crlf).map_err(|e| e.to_string())?;
            }
        } else if let Some(len) = headers
            .get("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            body = vec![0; len];
            reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        } else {
            reader.read_to_end(&mut body).map_err(|e| e.to_string())?;
        }
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn probe(endpoint: &str) -> Result<(), String> {
    let reply = rest(
        endpoint,
        "GET",
        "",
        "comp=properties&restype=service",
        &[],
        b"",
    )?;
    if reply.status == 200 {
        Ok(())
    } else {
        Err(format!(
            "Get Blob Service Properties answered HTTP {}",
            reply.status
        ))
    }
}

/// Bare Azurite (no immutability), or None after printing why (outside CI).
pub fn require_azurite() -> Option<String> {
    let endpoint = azurite_endpoint();
    require_emulator(
        "Azurite",
        &endpoint,
        "Start it with `bash azurite/start.sh` or run `bash scripts/test.sh`",
        || probe(&endpoint),
    )
    .then_some(endpoint)
}

/// Azurite behind the WORM stand-in, or None after printing why (outside CI).
pub fn require_worm_standin() -> Option<String> {
    let endpoint = azure_worm_endpoint();
    require_emulator(
        "Azure WORM stand-in",
        &endpoint,
        "Start Azurite, then `bash azurite/standin/start.sh`, or run `bash scripts/test.sh`",
        || {
            probe(&endpoint)?;
            // The stand-in, not a bare Azurite on the same port: it answers the flag.
            let c = fresh_container(&endpoint, "probe")?;
            let reply = rest(
                &endpoint,
                "HEAD",
                &format!("/{c}"),
                "restype=container",
                &[],
                b"",
            )?;
            match reply.header("x-ms-immutable-storage-with-versioning-enabled") {
                Some("true") => Ok(()),
                other => Err(format!(
                    "{endpoint} is not the WORM stand-in (immutability flag {other:?})"
                )),
            }
        },
    )
    .then_some(endpoint)
}

/// Create a uniquely named container and return its name.
pub fn fresh_container(endpoint: &str, prefix: &str) -> Result<String, String> {
    let name = unique_name(prefix);
    let reply = rest(
        endpoint,
        "PUT",
        &format!("/{name}"),
        "restype=container",
        &[],
        b"",
    )?;
    if reply.status != 201 {
        return Err(format!(
            "create container {name}: HTTP {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ));
    }
    Ok(name)
}

/// The `azure+http://` target for a container on an emulator endpoint.
pub fn target(endpoint: &str, container: &str, prefix: &str) -> Target {
    let rest = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    Target::parse(&format!("azure+http://{rest}/{container}/{prefix}"))
        .expect("emulator target parses")
}

/// An AzureStore with the public Azurite dev key (Shared Key).
pub fn store(endpoint: &str, container: &str, options: AzureOptions) -> AzureStore {
    let key = SecretKey::from_base64(AZURITE_DEV_KEY).expect("dev key");
    AzureStore::new(
        target(endpoint, container, ""),
        AzureAuth::SharedKey {
            account: ACCOUNT.into(),
            key,
        },
        options,
    )
    .expect("store")
}

/// Blob index tags of a blob, via Get Blob Tags (XML parsed minimally).
pub fn tags(
    endpoint: &str,
    container: &str,
    blob: &str,
) -> Result<BTreeMap<String, String>, String> {
    let reply = rest(
        endpoint,
        "GET",
        &format!("/{container}/{blob}"),
        "comp=tags",
        &[],
        b"",
    )?;
    if reply.status != 200 {
        return Err(format!("Get Blob Tags: HTTP {}", reply.status));
    }
    let xml = String::from_utf8_lossy(&reply.body);
    let mut out = BTreeMap::new();
    for tag in xml.split("<Tag>").skip(1) {
        let field = |name: &str| {
            tag.split(&format!("<{name}>"))
                .nth(1)
                .and_then(|rest| rest.split(&format!("</{name}>")).next())
                .map(str::to_string)
        };
        if let (Some(k), Some(v)) = (field("Key"), field("Value")) {
            out.insert(k, v);
        }
    }
    Ok(out)
}
