//! A loopback HTTP server for tests of reads whose response body breaks off: one request per
//! connection; every response says `size` bytes and carries a version header; a GET sends the
//! body, cut off after 100 bytes for the first `cuts` GETs. It records each request's head
//! (request line and headers). [`scripted`] is the same loop with the answers left to the test.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A current-thread runtime for the store calls under test.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The body the server sends (`size` bytes of a fixed pattern).
pub(crate) fn body(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Start it; returns the endpoint (`http://127.0.0.1:PORT`) and the request heads seen.
pub(crate) fn start(
    size: usize,
    cuts: usize,
    version_header: &'static str,
    version: &'static str,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let gets = std::sync::atomic::AtomicUsize::new(0);
    scripted(move |head| {
        let headers = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n{version_header}: {version}\r\nx-ms-blob-type: BlockBlob"
        );
        if !head.starts_with("GET") {
            return (headers, Vec::new());
        }
        let sent = if gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < cuts {
            100
        } else {
            size
        };
        (headers, body(size)[..sent].to_vec())
    })
}

/// The heads of the GET requests among those seen.
pub(crate) fn gets(requests: &Mutex<Vec<String>>) -> Vec<String> {
    let seen = requests.lock().unwrap();
    seen.iter()
        .filter(|l| l.starts_with("GET"))
        .cloned()
        .collect()
}

/// A loopback server that answers every request with what `respond` makes of its head
/// (request line and headers): the response's status line and headers (without the blank line
/// that ends them; `Content-Length` is added unless they have one) and its body. A request
/// body is read (by its `Content-Length`) before the answer. Returns the endpoint and the
/// request heads seen.
pub(crate) fn scripted(
    respond: impl Fn(&str) -> (String, Vec<u8>) + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let length = text
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            let _ = stream.read_exact(&mut body);
            seen.lock().unwrap().push(text.clone());
            let (head, body) = respond(&text);
            // A HEAD answer says the object's length itself.
            let length = if head.to_ascii_lowercase().contains("content-length:") {
                String::new()
            } else {
                format!("\r\nContent-Length: {}", body.len())
            };
            let response = format!("{head}{length}\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(response.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    (endpoint, requests)
}
