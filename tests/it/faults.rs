//! Fault injection against LocalStack: `wormvault archive … --to s3://…` runs through a test-only
//! TCP proxy that cuts requests, truncates or stalls responses, throttles, or goes dark; and the
//! uploader is killed with SIGKILL at random points. After every run: either it completed with
//! every object read back and receipted, or it failed with a clear message (exit 2) and a rerun
//! without faults completes. Always: no receipt for an object that is not there, exactly one
//! version per key (no duplicate, no overwrite), every stored object byte-identical to its source.
//!
//! "Emulator stopped mid-run" is simulated by the proxy going dark (closing every open connection
//! and its listening socket, so new connections are refused) rather than by stopping LocalStack:
//! the emulator is shared by every test binary and every agent on the machine, and LocalStack's
//! free edition loses all state on restart. To wormvault the two are indistinguishable — the
//! endpoint it was given stops answering and refuses connections.
//!
//! With `CI=true` an unreachable LocalStack fails these tests (support::require_s3).

use crate::support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;
/// Any single wormvault run is killed after this long (a hang is a failure, not a wait).
const RUN_LIMIT: Duration = Duration::from_secs(90);

// ----- the proxy --------------------------------------------------------------------------------

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Close a connection once more than `after` request bytes went through it.
    CutRequest { after: usize },
    /// On a connection that carried more than `min_request` request bytes (an upload), forward
    /// only `after` bytes of the response, then close: the server stored the object, the client
    /// never heard.
    CutResponse { after: usize, min_request: usize },
    /// Hold the first response bytes of a connection that carried more than `min_request`
    /// request bytes for this long.
    StallResponse { millis: u64, min_request: usize },
    /// Limit each direction to this many bytes per second (so kills land mid-upload).
    Throttle { bytes_per_second: usize },
    /// After `after` request bytes in total: close every connection and the listening socket.
    DarkAfter { after: usize },
}

struct ProxyState {
    fault: Fault,
    /// Faults still to inject (`CutRequest`, `CutResponse`, `StallResponse`); `usize::MAX` = always.
    remaining: usize,
    injected: usize,
    open: Vec<TcpStream>,
}

struct Proxy {
    address: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    dark: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: SocketAddr, fault: Fault, remaining: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ProxyState {
            fault,
            remaining,
            injected: 0,
            open: Vec::new(),
        }));
        let dark = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let total_request = Arc::new(AtomicUsize::new(0));
        let proxy = Proxy {
            address,
            state: state.clone(),
            dark: dark.clone(),
            stop: stop.clone(),
        };
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !stop.load(Ordering::SeqCst) {
                if dark.load(Ordering::SeqCst) {
                    // Dropping the socket makes every new connection attempt "connection refused".
                    listener = None;
                }
                let Some(socket) = &listener else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                match socket.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(upstream) else {
                            continue;
                        };
                        let connection = Connection {
                            state: state.clone(),
                            dark: dark.clone(),
                            total_request: total_request.clone(),
                            request_bytes: Arc::new(AtomicUsize::new(0)),
                        };
                        connection.run(client, server);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        proxy
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn injected(&self) -> usize {
        self.state.lock().unwrap().injected
    }

    fn is_dark(&self) -> bool {
        self.dark.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in self.state.lock().unwrap().open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// The faults are placed by byte counts on a connection (the first response of an upload, the
/// n-th request byte), which assumes one request per connection. wormvault asks custom endpoints
/// for keep-alive; the proxy turns that into `close` (same length, so no byte count moves), and
/// LocalStack then closes each connection after its response, as it does for clients that do
/// not ask.
fn one_request_per_connection(chunk: &mut [u8]) {
    const ASK: &[u8] = b"connection: keep-alive\r\n";
    const CLOSE: &[u8] = b"connection: close     \r\n";
    let mut at = 0;
    while let Some(offset) = chunk[at..]
        .windows(ASK.len())
        .position(|w| w.eq_ignore_ascii_case(ASK))
    {
        let start = at + offset;
        chunk[start..start + ASK.len()].copy_from_slice(CLOSE);
        at = start + ASK.len();
    }
}

#[derive(Clone)]
struct Connection {
    state: Arc<Mutex<ProxyState>>,
    dark: Arc<AtomicBool>,
    total_request: Arc<AtomicUsize>,
    request_bytes: Arc<AtomicUsize>,
}

impl Connection {
    fn run(self, client: TcpStream, server: TcpStream) {
        {
            let mut state = self.state.lock().unwrap();
            state.open.push(client.try_clone().unwrap());
            state.open.push(server.try_clone().unwrap());
        }
        let (c_read, s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let upstream = self.clone();
        std::thread::spawn(move || upstream.pump(c_read, s_write, true));
        std::thread::spawn(move || self.pump(server, client, false));
    }

    /// Take one fault if any are left.
    fn take(&self) -> bool {
        let mut state = self.state.lock().unwrap();
        if state.remaining == 0 {
            return false;
        }
        if state.remaining != usize::MAX {
            state.remaining -= 1;
        }
        state.injected += 1;
        true
    }

    fn go_dark(&self) {
        if !self.dark.swap(true, Ordering::SeqCst) {
            let mut state = self.state.lock().unwrap();
            state.injected += 1;
            for stream in state.open.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    fn pump(&self, mut from: TcpStream, mut to: TcpStream, request: bool) {
        let mut buffer = vec![0u8; 16 * 1024];
        let mut response_bytes = 0usize;
        let close = |a: &TcpStream, b: &TcpStream| {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        };
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if self.dark.load(Ordering::SeqCst) {
                break;
            }
            let fault = self.state.lock().unwrap().fault;
            if request {
                one_request_per_connection(&mut buffer[..n]);
            }
            let chunk = &buffer[..n];
            if request {
                let before = self.request_bytes.fetch_add(n, Ordering::SeqCst);
                let total = self.total_request.fetch_add(n, Ordering::SeqCst) + n;
                match fault {
                    Fault::CutRequest { after } if before + n > after && self.take() => {
                        let keep = after.saturating_sub(before).min(n);
                        let _ = to.write_all(&chunk[..keep]);
                        close(&from, &to);
                        return;
                    }
                    Fault::DarkAfter { after } if total > after => {
                        self.go_dark();
                        return;
                    }
                    _ => {}
                }
            } else {
                match fault {
                    Fault::CutResponse { after, min_request }
                        if self.request_bytes.load(Ordering::SeqCst) > min_request
                            && response_bytes + n > after
                            && self.take() =>
                    {
                        let keep = after.saturating_sub(response_bytes).min(n);
                        let _ = to.write_all(&chunk[..keep]);
                        close(&from, &to);
                        return;
                    }
                    Fault::StallResponse {
                        millis,
                        min_request,
                    } if response_bytes == 0
                        && self.request_bytes.load(Ordering::SeqCst) > min_request
                        && self.take() =>
                    {
                        std::thread::sleep(Duration::from_millis(millis));
                    }
                    _ => {}
                }
                response_bytes += n;
            }
            if let Fault::Throttle { bytes_per_second } = fault {
                std::thread::sleep(Duration::from_secs_f64(n as f64 / bytes_per_second as f64));
            }
            if to.write_all(chunk).is_err() {
                break;
            }
        }
        close(&from, &to);
    }
}

// ----- bucket, bundle, runs ---------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh Object Lock bucket configured so wormvault's preflight passes (the shared set-up).
async fn worm_bucket(client: &Client) -> String {
    support::s3::bucket_with(client, support::s3::FULL).await
}

struct Bundle {
    dir: PathBuf,
    key_file: PathBuf,
    /// File name → SHA-256 of the source bytes.
    sources: BTreeMap<String, String>,
}

fn pseudo_random(path: &Path, size: usize, seed: u64) -> String {
    let mut state = seed | 1;
    let mut data = vec![0u8; size];
    for chunk in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = chunk.len();
        chunk.copy_from_slice(&state.to_le_bytes()[..len]);
    }
    std::fs::write(path, &data).unwrap();
    hex::encode(Sha256::digest(&data))
}

/// A signed (HMAC) bundle of three small files and one `big` MiB file.
fn make_bundle(root: &Path, session: &str, big: usize) -> Bundle {
    let input = root.join(format!("{session}-input"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("evidence.json"),
        format!("{{\"session\": \"{session}\"}}\n"),
    )
    .unwrap();
    std::fs::write(input.join("pr-attestation.md"), b"# PR\napproved\n").unwrap();
    std::fs::write(input.join("siem-event.json"), b"{\"event\": \"release\"}\n").unwrap();
    pseudo_random(
        &input.join("build-log.bin"),
        big * MIB,
        session.len() as u64 * 7919,
    );
    let key_file = root.join("bundle.key");
    if !key_file.exists() {
        std::fs::write(&key_file, "fault-injection-bundle-key").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let dir = root.join(session);
    let out = Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .args(["-q", "bundle", "create"])
        .arg(&input)
        .arg("--output")
        .arg(&dir)
        .arg("--hmac-key-file")
        .arg(&key_file)
        .args(["--session-id", session])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bundle create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        sources.insert(
            entry.file_name().to_string_lossy().into_owned(),
            hex::encode(Sha256::digest(&bytes)),
        );
    }
    Bundle {
        dir,
        key_file,
        sources,
    }
}

struct RunOutcome {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
    killed: bool,
}

/// `wormvault archive` of `bundle` to `s3://bucket/prefix` via `endpoint`; SIGKILL after
/// `kill_after` if given (and always after RUN_LIMIT).
fn archive(
    bundle: &Bundle,
    bucket: &str,
    prefix: &str,
    endpoint: &str,
    receipts: &Path,
    kill_after: Option<Duration>,
) -> RunOutcome {
    archive_with(bundle, bucket, prefix, endpoint, receipts, kill_after, &[])
}

fn archive_with(
    bundle: &Bundle,
    bucket: &str,
    prefix: &str,
    endpoint: &str,
    receipts: &Path,
    kill_after: Option<Duration>,
    env: &[(&str, &str)],
) -> RunOutcome {
    let stderr_path = receipts.with_extension("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .arg("archive")
        .arg(&bundle.dir)
        .arg("--hmac-key-file")
        .arg(&bundle.key_file)
        .args(["--to", &format!("s3://{bucket}/{prefix}")])
        .arg("--receipts-out")
        .arg(receipts)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", support::S3_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", support::S3_SECRET_KEY)
        .env("AWS_REGION", support::S3_REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .envs(env.iter().copied())
        // archive records its session under ./.wormvault: keep that out of the repository.
        .current_dir(receipts.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let limit = kill_after.unwrap_or(RUN_LIMIT).min(RUN_LIMIT);
        if start.elapsed() >= limit {
            child.kill().unwrap(); // SIGKILL
            killed = true;
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if killed && kill_after.is_none() {
        panic!(
            "wormvault archive hung for {RUN_LIMIT:?} (killed): {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
    }
    RunOutcome {
        code: status.code(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
        elapsed: start.elapsed(),
        killed,
    }
}

/// The invariants, checked against what LocalStack holds under `prefix`:
/// - exactly one version per key and no delete markers (no duplicate version, no overwrite);
/// - every stored evidence object is byte-identical to its source;
/// - every receipt in each given receipts file names an object that is there, with the receipted
///   version id and SHA-256.
///
/// Returns the number of evidence objects stored.
async fn check_store(
    client: &Client,
    bucket: &str,
    prefix: &str,
    bundle: &Bundle,
    receipts: &[&Path],
) -> usize {
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut marker: Option<(String, String)> = None;
    loop {
        let mut request = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(format!("{prefix}/"));
        if let Some((key, version)) = &marker {
            request = request.key_marker(key).version_id_marker(version);
        }
        let listed = request.send().await.expect("list object versions");
        assert!(
            listed.delete_markers().is_empty(),
            "delete markers under {prefix}: {:?}",
            listed.delete_markers()
        );
        for version in listed.versions() {
            versions
                .entry(version.key().unwrap().to_string())
                .or_default()
                .push(version.version_id().unwrap_or("null").to_string());
        }
        if listed.is_truncated() == Some(true) {
            marker = Some((
                listed.next_key_marker().unwrap().to_string(),
                listed
                    .next_version_id_marker()
                    .unwrap_or_default()
                    .to_string(),
            ));
        } else {
            break;
        }
    }
    for (key, list) in &versions {
        assert_eq!(
            list.len(),
            1,
            "{key} has {} versions: {list:?} (duplicate or overwritten)",
            list.len()
        );
    }
    let mut evidence = 0;
    for key in versions.keys() {
        let name = key.rsplit('/').next().unwrap();
        if key.contains("/_wormvault/") {
            continue;
        }
        let expected = bundle
            .sources
            .get(name)
            .unwrap_or_else(|| panic!("unexpected object {key}"));
        let body = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(
            &hex::encode(Sha256::digest(&body)),
            expected,
            "{key} differs from its source"
        );
        evidence += 1;
    }
    for path in receipts {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let set: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("receipts {} are not JSON ({e}): torn?", path.display()));
        let list = set["receipts"].as_array().expect("receipts array");
        assert!(!list.is_empty(), "{}: no receipts", path.display());
        for receipt in list {
            let key = receipt["key"].as_str().unwrap();
            let stored = versions.get(key).unwrap_or_else(|| {
                panic!(
                    "{}: receipt for {key}, which is not in the store",
                    path.display()
                )
            });
            assert_eq!(
                Some(stored[0].as_str()),
                receipt["version_id"].as_str(),
                "{key}: receipted version is not the stored one"
            );
            let name = key.rsplit('/').next().unwrap();
            assert_eq!(
                receipt["sha256"].as_str(),
                bundle.sources.get(name).map(String::as_str),
                "{key}: receipted sha256"
            );
        }
    }
    evidence
}

fn upstream(endpoint: &str) -> SocketAddr {
    let url = url::Url::parse(endpoint).unwrap();
    let host = url.host_str().unwrap();
    let port = url.port_or_known_default().unwrap();
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .unwrap()
        .next()
        .unwrap()
}

/// A failed run must say what failed, on which target, clearly, with exit 2.
fn assert_clear_failure(outcome: &RunOutcome, what: &str, bucket: &str) {
    assert_eq!(
        outcome.code,
        Some(2),
        "{what}: expected exit 2, got {:?}:\n{}",
        outcome.code,
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("error:"),
        "{what}: no error line:\n{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains(bucket),
        "{what}: the error does not name the bucket {bucket}:\n{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("panicked"),
        "{what}: panicked:\n{}",
        outcome.stderr
    );
}

// ----- the tests --------------------------------------------------------------------------------

/// Proxy faults: each scenario runs `archive` through the proxy, then judges the outcome, reruns
/// without faults when it failed, and checks the store.
#[test]
fn archive_through_network_faults() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let rt = runtime();
    let bucket = rt.block_on(worm_bucket(&s3.client));
    let root = tempfile::tempdir().unwrap();
    let upstream = upstream(&s3.endpoint);
    // (name, fault, how many times, must the faulted run still succeed?)
    let scenarios: Vec<(&str, Fault, usize, Option<bool>)> = vec![
        // Transient: the SDK's retries must absorb them.
        (
            "request cut after 256 KiB, twice",
            Fault::CutRequest { after: 256 * 1024 },
            2,
            Some(true),
        ),
        (
            "upload response truncated after 20 bytes, once",
            Fault::CutResponse {
                after: 20,
                min_request: MIB,
            },
            1,
            None,
        ),
        (
            "upload response dropped before any byte, twice",
            Fault::CutResponse {
                after: 0,
                min_request: MIB,
            },
            2,
            None,
        ),
        (
            "first response stalled 3 s",
            Fault::StallResponse {
                millis: 3000,
                min_request: 0,
            },
            1,
            Some(true),
        ),
        // Persistent: every upload of the big file is cut; the run must fail clearly.
        (
            "every request cut after 1 MiB",
            Fault::CutRequest { after: MIB },
            usize::MAX,
            Some(false),
        ),
    ];
    for (index, (name, fault, times, must_succeed)) in scenarios.into_iter().enumerate() {
        let session = format!("net-{index}");
        let bundle = make_bundle(root.path(), &session, 3);
        let prefix = format!("faults-{index}");
        let proxy = Proxy::start(upstream, fault, times);
        let first_receipts = root.path().join(format!("{session}-faulted.json"));
        let outcome = archive(
            &bundle,
            &bucket,
            &prefix,
            &proxy.endpoint(),
            &first_receipts,
            None,
        );
        let injected = proxy.injected();
        drop(proxy);
        eprintln!(
            "{name}: exit {:?} in {:.1}s, {injected} fault(s) injected",
            outcome.code,
            outcome.elapsed.as_secs_f64()
        );
        assert!(injected > 0, "{name}: the proxy never injected its fault");
        match must_succeed {
            Some(true) => assert_eq!(
                outcome.code,
                Some(0),
                "{name}: should have been absorbed by retries:\n{}",
                outcome.stderr
            ),
            Some(false) => assert_clear_failure(&outcome, name, &bucket),
            None => assert!(
                outcome.code == Some(0) || outcome.code == Some(2),
                "{name}: exit {:?}:\n{}",
                outcome.code,
                outcome.stderr
            ),
        }
        let mut receipts: Vec<&Path> = vec![&first_receipts];
        let rerun_receipts = root.path().join(format!("{session}-rerun.json"));
        if outcome.code != Some(0) {
            assert!(
                !first_receipts.exists(),
                "{name}: a failed run wrote receipts"
            );
            let rerun = archive(
                &bundle,
                &bucket,
                &prefix,
                &s3.endpoint,
                &rerun_receipts,
                None,
            );
            assert_eq!(
                rerun.code,
                Some(0),
                "{name}: the rerun without faults failed:\n{}",
                rerun.stderr
            );
            receipts.push(&rerun_receipts);
        }
        let stored = rt.block_on(check_store(
            &s3.client, &bucket, &prefix, &bundle, &receipts,
        ));
        assert_eq!(
            stored,
            bundle.sources.len(),
            "{name}: not every evidence object was stored"
        );
    }
}

/// SIGKILL of the uploader at random points (throttled, so kills land mid-upload), each
/// followed by a rerun that must complete; the store is checked after every trial.
#[test]
fn kill_9_at_random_points_then_rerun() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let rt = runtime();
    let bucket = rt.block_on(worm_bucket(&s3.client));
    let root = tempfile::tempdir().unwrap();
    let upstream = upstream(&s3.endpoint);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill trials seed {seed}");
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut outcomes = Vec::new();
    for trial in 0..10 {
        let session = format!("kill-{trial}");
        let bundle = make_bundle(root.path(), &session, 4);
        let prefix = format!("kill-{trial}");
        // 4 MiB at ~1.5 MiB/s through the proxy: the upload takes ~3 s; kill anywhere in its first 2 s.
        let proxy = Proxy::start(
            upstream,
            Fault::Throttle {
                bytes_per_second: 3 * MIB / 2,
            },
            0,
        );
        let kill_at = Duration::from_millis(100 + next() % 1900);
        let first_receipts = root.path().join(format!("{session}-killed.json"));
        let killed = archive(
            &bundle,
            &bucket,
            &prefix,
            &proxy.endpoint(),
            &first_receipts,
            Some(kill_at),
        );
        drop(proxy);
        let before = rt.block_on(async {
            let listed = s3
                .client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(format!("{prefix}/"))
                .send()
                .await
                .unwrap();
            listed.contents().len()
        });
        let rerun_receipts = root.path().join(format!("{session}-rerun.json"));
        let rerun = archive(
            &bundle,
            &bucket,
            &prefix,
            &s3.endpoint,
            &rerun_receipts,
            None,
        );
        assert_eq!(
            rerun.code,
            Some(0),
            "trial {trial} (killed at {kill_at:?}): the rerun failed:\n{}",
            rerun.stderr
        );
        let receipts: Vec<&Path> = vec![&first_receipts, &rerun_receipts];
        let stored = rt.block_on(check_store(
            &s3.client, &bucket, &prefix, &bundle, &receipts,
        ));
        assert_eq!(
            stored,
            bundle.sources.len(),
            "trial {trial}: not every evidence object was stored"
        );
        eprintln!(
            "trial {trial}: killed at {:?} ({}), {before} object(s) stored before the rerun",
            kill_at,
            if killed.killed {
                "mid-run"
            } else {
                "after it finished"
            }
        );
        outcomes.push((killed.killed, before, bundle.sources.len()));
    }
    let mid_upload = outcomes
        .iter()
        .filter(|(killed, before, total)| *killed && before < total)
        .count();
    assert!(
        mid_upload >= 3,
        "too few kills landed before the upload finished ({outcomes:?}); slow the proxy down"
    );
}

/// The endpoint vanishes mid-upload (stand-in for "emulator stopped", see the module docs):
/// the run fails with exit 2 and a message naming the bucket, writes no receipts, and a rerun
/// against the live endpoint completes.
#[test]
fn endpoint_goes_dark_mid_run_then_rerun() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let rt = runtime();
    let bucket = rt.block_on(worm_bucket(&s3.client));
    let root = tempfile::tempdir().unwrap();
    let bundle = make_bundle(root.path(), "dark", 4);
    let prefix = "dark";
    // Dark after 2 MiB of requests: preflight and the small files pass, the big file is cut.
    let proxy = Proxy::start(
        upstream(&s3.endpoint),
        Fault::DarkAfter { after: 2 * MIB },
        usize::MAX,
    );
    let first_receipts = root.path().join("dark-faulted.json");
    let outcome = archive(
        &bundle,
        &bucket,
        prefix,
        &proxy.endpoint(),
        &first_receipts,
        None,
    );
    assert!(proxy.is_dark(), "the proxy never went dark");
    // Now refused outright: nothing listens on the port any more.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        TcpStream::connect_timeout(&proxy.address, Duration::from_secs(1)).is_err(),
        "the dark endpoint still accepts connections"
    );
    eprintln!(
        "dark: exit {:?} in {:.1}s:\n{}",
        outcome.code,
        outcome.elapsed.as_secs_f64(),
        outcome.stderr
    );
    assert_clear_failure(&outcome, "endpoint gone dark", &bucket);
    assert!(!first_receipts.exists(), "a failed run wrote receipts");
    drop(proxy);
    let rerun_receipts = root.path().join("dark-rerun.json");
    let rerun = archive(
        &bundle,
        &bucket,
        prefix,
        &s3.endpoint,
        &rerun_receipts,
        None,
    );
    assert_eq!(rerun.code, Some(0), "the rerun failed:\n{}", rerun.stderr);
    let stored = rt.block_on(check_store(
        &s3.client,
        &bucket,
        prefix,
        &bundle,
        &[&first_receipts, &rerun_receipts],
    ));
    assert_eq!(stored, bundle.sources.len());
}

/// A server that accepts an upload and then never answers: without a read timeout the uploader
/// would wait forever. With `WORMVAULT_S3_READ_TIMEOUT_SECS=3` the attempts time out well before
/// the stall would end: the run either fails clearly or completes through the create-only retry;
/// a rerun completes either way.
#[test]
fn stalled_upload_responses_time_out_instead_of_hanging() {
    let Some(s3) = support::require_s3() else {
        return;
    };
    let rt = runtime();
    let bucket = rt.block_on(worm_bucket(&s3.client));
    let root = tempfile::tempdir().unwrap();
    let bundle = make_bundle(root.path(), "stall", 2);
    let prefix = "stall";
    let stall = Fault::StallResponse {
        millis: 60_000,
        min_request: MIB,
    };
    let proxy = Proxy::start(upstream(&s3.endpoint), stall, usize::MAX);
    let first_receipts = root.path().join("stall-faulted.json");
    let outcome = archive_with(
        &bundle,
        &bucket,
        prefix,
        &proxy.endpoint(),
        &first_receipts,
        None,
        &[("WORMVAULT_S3_READ_TIMEOUT_SECS", "3")],
    );
    eprintln!(
        "stall: exit {:?} in {:.1}s:\n{}",
        outcome.code,
        outcome.elapsed.as_secs_f64(),
        outcome.stderr
    );
    assert!(proxy.injected() > 0, "the proxy never stalled a response");
    drop(proxy);
    assert!(
        outcome.elapsed < Duration::from_secs(50),
        "the run waited out the stall ({:?}) instead of timing out",
        outcome.elapsed
    );
    // Two correct outcomes, depending on timing: every attempt times out and the run fails
    // clearly; or LocalStack had already stored the object when the attempt timed out, and the
    // retried create-only PUT finds it (AlreadyPresent, read back, receipted).
    let rerun_receipts = root.path().join("stall-rerun.json");
    if outcome.code != Some(0) {
        assert_clear_failure(&outcome, "stalled responses", &bucket);
        assert!(
            outcome.stderr.contains("build-log.bin"),
            "the error does not name the stalled object:\n{}",
            outcome.stderr
        );
        assert!(!first_receipts.exists(), "a failed run wrote receipts");
    }
    let rerun = archive(
        &bundle,
        &bucket,
        prefix,
        &s3.endpoint,
        &rerun_receipts,
        None,
    );
    assert_eq!(rerun.code, Some(0), "the rerun failed:\n{}", rerun.stderr);
    let stored = rt.block_on(check_store(
        &s3.client,
        &bucket,
        prefix,
        &bundle,
        &[&first_receipts, &rerun_receipts],
    ));
    assert_eq!(stored, bundle.sources.len());
}
