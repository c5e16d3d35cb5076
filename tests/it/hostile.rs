//! Hostile input matrix: one table of crafted bad inputs — bundles, tar archives, audit logs,
//! plans, readiness packets, targets and command-line arguments — each run through the real
//! `wormvault` binary with its expected exit code (1 = verification/policy, 2 = usage/IO), a
//! message fragment that names the file, record or argument at fault, no panic, bounded time
//! (killed after `TIME_LIMIT`) and bounded memory (peak RSS from GNU `time`, under `RSS_LIMIT_KIB`).
//!
//! Memory is measured with `/usr/bin/time -f %M` (peak resident set) rather than an address-space
//! cap (`prlimit --as`): tokio, rayon and glibc's per-thread malloc arenas reserve gigabytes of
//! virtual address space they never touch, so an address-space cap fails healthy runs at random,
//! while peak RSS is exactly "how much memory did this input make us use". Without GNU time the
//! suite still runs every case and checks everything else, and says that memory went unchecked.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wormvault::test_support::raw_tar_gz_declaring;

/// Any single case must finish in this long (debug build, shared CI cores).
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// Peak resident memory any case may reach. A debug wormvault verifying a small bundle peaks
/// around 20–40 MiB; the largest legitimate buffer is one 64 MiB audit line.
const RSS_LIMIT_KIB: u64 = 256 * 1024;
const GNU_TIME: &str = "/usr/bin/time";

const BUNDLE_KEY: &str = "bundle-secret";
const AUDIT_KEY: &str = "secret";

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cavra")
        .join(path)
}

/// One hostile input: `setup` writes whatever it needs into a fresh directory (the working
/// directory of the run) and returns the arguments.
struct Case {
    name: &'static str,
    setup: Box<dyn Fn(&Path) -> Vec<OsString>>,
    env: Vec<(&'static str, &'static str)>,
    exit: i32,
    /// Each must appear in stdout or stderr.
    fragments: Vec<&'static str>,
}

fn case(
    name: &'static str,
    exit: i32,
    fragments: &[&'static str],
    setup: impl Fn(&Path) -> Vec<OsString> + 'static,
) -> Case {
    Case {
        name,
        setup: Box::new(setup),
        env: Vec::new(),
        exit,
        fragments: fragments.to_vec(),
    }
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn p(path: &Path) -> OsString {
    path.as_os_str().to_owned()
}

// ----- builders ---------------------------------------------------------------------------------

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn write_key(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    set_mode(&path, 0o600);
    path
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The HMAC fixture bundle copied to `dir/bundle`, edited by `edit`; args to verify it.
fn bundle_with(dir: &Path, edit: impl FnOnce(&Path)) -> Vec<OsString> {
    let bundle = dir.join("bundle");
    copy_dir(&fixture("bundle-hmac"), &bundle);
    edit(&bundle);
    let key = write_key(dir, "bundle.key", BUNDLE_KEY);
    vec![
        "bundle".into(),
        "verify".into(),
        p(&bundle),
        "--hmac-key-file".into(),
        p(&key),
    ]
}

/// Replace manifest.json with raw bytes.
fn raw_manifest(bytes: Vec<u8>) -> impl Fn(&Path) -> Vec<OsString> {
    move |dir| {
        bundle_with(dir, |b| {
            std::fs::write(b.join("manifest.json"), &bytes).unwrap()
        })
    }
}

/// Edit the manifest as JSON (the signature no longer matches either: both are findings).
fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<OsString> {
    bundle_with(dir, |b| {
        let path = b.join("manifest.json");
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut value);
        std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    })
}

type TarEntry = (Vec<u8>, tar::EntryType, Vec<u8>, &'static str);

/// A gzip'd tar written with raw GNU headers (so unsafe names can be written at all), after the
/// real fixture bundle's files; `declared` overrides an empty regular entry's header size.
fn tar_gz(path: &Path, extra: Vec<TarEntry>, declared: Option<u64>) {
    let mut entries: Vec<TarEntry> = Vec::new();
    for name in [
        "evidence.json",
        "manifest.json",
        "pr-attestation.md",
        "retention-policy.json",
    ] {
        entries.push((
            name.as_bytes().to_vec(),
            tar::EntryType::Regular,
            std::fs::read(fixture("bundle-hmac").join(name)).unwrap(),
            "",
        ));
    }
    entries.extend(extra);
    let entries: Vec<_> = entries
        .iter()
        .map(|(name, kind, data, link)| (name.as_slice(), *kind, data.as_slice(), *link))
        .collect();
    std::fs::write(path, raw_tar_gz_declaring(&entries, declared)).unwrap();
}

fn verify_tar(dir: &Path, extra: Vec<TarEntry>, more: &[&str]) -> Vec<OsString> {
    let archive = dir.join("bundle.tar.gz");
    tar_gz(&archive, extra, None);
    let key = write_key(dir, "bundle.key", BUNDLE_KEY);
    let mut out = vec![
        "bundle".into(),
        "verify".into(),
        p(&archive),
        "--hmac-key-file".into(),
        p(&key),
    ];
    out.extend(more.iter().map(OsString::from));
    out
}

fn entry(name: &str, kind: tar::EntryType, data: &[u8], link: &'static str) -> TarEntry {
    (name.as_bytes().to_vec(), kind, data.to_vec(), link)
}

/// A tar.gz whose one extra entry is `size` bytes of zeros: a few hundred KiB of gzip that
/// inflates a thousandfold. Written by streaming, so the test itself stays small.
fn gzip_bomb(path: &Path, name: &str, size: u64) {
    let file = std::fs::File::create(path).unwrap();
    let gzip =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::best());
    let mut builder = tar::Builder::new(gzip);
    for file in [
        "evidence.json",
        "manifest.json",
        "pr-attestation.md",
        "retention-policy.json",
    ] {
        builder
            .append_path_with_name(fixture("bundle-hmac").join(file), file)
            .unwrap();
    }
    let mut header = tar::Header::new_gnu();
    header.set_path(name).unwrap();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append(&header, std::io::Read::take(std::io::repeat(0), size))
        .unwrap();
    builder
        .into_inner()
        .unwrap()
        .finish()
        .unwrap()
        .flush()
        .unwrap();
}

/// The 25-record HMAC audit fixture with `edit` applied to its text; args to verify it.
fn audit_with(dir: &Path, edit: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Vec<OsString> {
    let log = dir.join("audit.jsonl");
    std::fs::write(
        &log,
        edit(std::fs::read(fixture("audit-hmac.jsonl")).unwrap()),
    )
    .unwrap();
    let key = write_key(dir, "audit.key", AUDIT_KEY);
    vec![
        "audit".into(),
        "verify".into(),
        "--log".into(),
        p(&log),
        "--key-file".into(),
        p(&key),
        "--key-id".into(),
        "audit-key-1".into(),
    ]
}

/// A log holding exactly `line` (plus a newline when `newline`).
fn audit_line(line: Vec<u8>, newline: bool) -> impl Fn(&Path) -> Vec<OsString> {
    move |dir| {
        let log = dir.join("audit.jsonl");
        let mut bytes = line.clone();
        if newline {
            bytes.push(b'\n');
        }
        std::fs::write(&log, bytes).unwrap();
        vec!["audit".into(), "verify".into(), "--log".into(), p(&log)]
    }
}

/// A reviewed plan for the HMAC fixture bundle into a local vault, edited as JSON, then
/// `upload --plan` of it.
fn tampered_plan(
    edit: impl Fn(&mut serde_json::Value) + 'static,
) -> impl Fn(&Path) -> Vec<OsString> {
    move |dir| {
        let key = write_key(dir, "bundle.key", BUNDLE_KEY);
        let plan = dir.join("plan.json");
        let vault = format!("file://{}", dir.join("vault").display());
        let made = Command::new(env!("CARGO_BIN_EXE_wormvault"))
            .current_dir(dir)
            .args(["-q", "plan"])
            .arg(fixture("bundle-hmac"))
            .arg("--hmac-key-file")
            .arg(&key)
            .args(["--to", &vault, "--output"])
            .arg(&plan)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "plan: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        edit(&mut value);
        std::fs::write(&plan, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
        vec![
            "upload".into(),
            "--plan".into(),
            p(&plan),
            p(&fixture("bundle-hmac")),
            "--hmac-key-file".into(),
            p(&key),
            "--receipts-out".into(),
            p(&dir.join("receipts.json")),
        ]
    }
}

/// Archive the HMAC fixture bundle into a local vault, edit the receipts, and `check-remote
/// --rehash` them against the vault.
fn archived_receipts(
    edit: impl Fn(&mut serde_json::Value) + 'static,
) -> impl Fn(&Path) -> Vec<OsString> {
    move |dir| {
        let key = write_key(dir, "bundle.key", BUNDLE_KEY);
        let receipts = dir.join("receipts.json");
        let vault = format!("file://{}", dir.join("vault").display());
        let made = Command::new(env!("CARGO_BIN_EXE_wormvault"))
            .current_dir(dir)
            .args(["-q", "archive"])
            .arg(fixture("bundle-hmac"))
            .arg("--hmac-key-file")
            .arg(&key)
            .args(["--to", &vault, "--receipts-out"])
            .arg(&receipts)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "archive: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&receipts).unwrap()).unwrap();
        edit(&mut value);
        std::fs::write(&receipts, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
        vec![
            "check-remote".into(),
            "--receipts".into(),
            p(&receipts),
            "--rehash".into(),
            vault.into(),
        ]
    }
}

fn packet(bytes: &'static [u8]) -> impl Fn(&Path) -> Vec<OsString> {
    move |dir| {
        let path = dir.join("packet.json");
        std::fs::write(&path, bytes).unwrap();
        vec![
            "readiness".into(),
            "validate".into(),
            "--packet".into(),
            p(&path),
        ]
    }
}

fn packet_edit(edit: impl Fn(&mut serde_json::Value) + 'static) -> impl Fn(&Path) -> Vec<OsString> {
    move |dir| {
        let mut value: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixture("enterprise-audit-log.sample.json")).unwrap(),
        )
        .unwrap();
        edit(&mut value);
        let path = dir.join("packet.json");
        std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
        vec![
            "readiness".into(),
            "validate".into(),
            "--packet".into(),
            p(&path),
        ]
    }
}

fn deep(depth: usize) -> Vec<u8> {
    let mut out = b"{\"a\":".to_vec();
    out.extend(std::iter::repeat_n(b'[', depth));
    out.extend(std::iter::repeat_n(b']', depth));
    out.push(b'}');
    out
}

fn append_args(dir: &Path, log: &Path, extra: &[&str]) -> Vec<OsString> {
    let key = write_key(dir, "audit.key", AUDIT_KEY);
    let mut out = args(&[
        "audit",
        "append",
        "--event-type",
        "e",
        "--actor",
        "a",
        "--action",
        "b",
        "--target",
        "t",
        "--decision",
        "d",
    ]);
    out.extend([
        OsString::from("--log"),
        p(log),
        "--key-file".into(),
        p(&key),
    ]);
    out.extend(extra.iter().map(OsString::from));
    out
}

/// A real gzip bomb whose `manifest.json` entry (first in the archive, before the fixture's
/// other files) inflates to `size` bytes of zeros: valid gzip (CRC32 and ISIZE right), so any
/// extractor would inflate it all. Built fast: one 1 MiB block of zeros is deflated once with
/// a full flush (which resets the compressor) and its bytes repeated.
fn manifest_bomb(path: &Path, size: u64) {
    use flate2::{Compress, Compression, FlushCompress};
    fn deflate(compress: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() / 2 + 1024);
        let start = compress.total_in();
        loop {
            let consumed = (compress.total_in() - start) as usize;
            if out.capacity() - out.len() < 1024 {
                out.reserve(64 << 10);
            }
            compress
                .compress_vec(&input[consumed..], &mut out, flush)
                .unwrap();
            let done = (compress.total_in() - start) as usize == input.len();
            if done && out.capacity() - out.len() >= 1024 {
                break;
            }
        }
        out
    }
    assert_eq!(size % (1 << 20), 0);
    let mut header = tar::Header::new_gnu();
    header.set_path("manifest.json").unwrap();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    let mut rest = tar::Builder::new(Vec::new());
    for file in [
        "evidence.json",
        "pr-attestation.md",
        "retention-policy.json",
    ] {
        rest.append_path_with_name(fixture("bundle-hmac").join(file), file)
            .unwrap();
    }
    let rest = rest.into_inner().unwrap();

    let mut compress = Compress::new(Compression::best(), false);
    let mut crc = flate2::Crc::new();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend(deflate(
        &mut compress,
        header.as_bytes(),
        FlushCompress::Full,
    ));
    crc.update(header.as_bytes());
    let zeros = vec![0u8; 1 << 20];
    let block = deflate(&mut compress, &zeros, FlushCompress::Full);
    for _ in 0..size >> 20 {
        out.extend_from_slice(&block);
        crc.update(&zeros);
    }
    out.extend(deflate(&mut compress, &rest, FlushCompress::Finish));
    crc.update(&rest);
    out.extend(crc.sum().to_le_bytes());
    out.extend(crc.amount().to_le_bytes());
    std::fs::write(path, out).unwrap();
}

/// The HMAC fixture bundle as a `.tar.gz` (optionally after a raw tar `prefix` entry list), with
/// `edit` applied to the finished gzip bytes; args to verify it.
fn gzip_edited(
    extra: Vec<TarEntry>,
    edit: impl Fn(Vec<u8>) -> Vec<u8> + 'static,
) -> impl Fn(&Path) -> Vec<OsString> {
    move |dir| {
        let out = verify_tar(dir, extra.clone(), &[]);
        let archive = dir.join("bundle.tar.gz");
        let bytes = std::fs::read(&archive).unwrap();
        std::fs::write(&archive, edit(bytes)).unwrap();
        out
    }
}

fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// The HMAC fixture bundle with one more listed file at `name` (manifest edited; the signature
/// then fails too, which the case does not depend on).
fn listed_extra(dir: &Path, name: &str) -> Vec<OsString> {
    let name = name.to_string();
    bundle_with(dir, move |b| {
        let path = b.join("manifest.json");
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        value["files"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "path": name,
                "sha256": "0".repeat(64),
                "bytes": 0,
            }));
        std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    })
}

// ----- the table --------------------------------------------------------------------------------

fn cases() -> Vec<Case> {
    use tar::EntryType::{Block, Char, Fifo, Link, Regular, Symlink};
    vec![
        // --- bundles (directories) -------------------------------------------------------------
        case(
            "bundle: manifest is not JSON",
            1,
            &["manifest_malformed_json", "manifest.json"],
            raw_manifest(b"{\"files\": [".to_vec()),
        ),
        case(
            "bundle: manifest is invalid UTF-8",
            1,
            &["manifest.json"],
            raw_manifest(b"{\"product\": \"\xff\xfe\"}".to_vec()),
        ),
        case(
            "bundle: manifest has NaN",
            1,
            &["manifest.json"],
            raw_manifest(b"{\"files\": [], \"bytes\": NaN}".to_vec()),
        ),
        case(
            "bundle: manifest has duplicate keys",
            1,
            &["manifest.json", "duplicate"],
            raw_manifest(b"{\"files\": [], \"files\": []}".to_vec()),
        ),
        case(
            "bundle: manifest nested 100k deep",
            1,
            &["manifest.json"],
            raw_manifest(deep(100_000)),
        ),
        case("bundle: manifest missing", 1, &["manifest_missing"], |d| {
            bundle_with(d, |b| {
                std::fs::remove_file(b.join("manifest.json")).unwrap()
            })
        }),
        case(
            "bundle: manifest lists ../../etc/passwd",
            1,
            &["../../etc/passwd"],
            |d| edit_manifest(d, |m| m["files"][0]["path"] = "../../etc/passwd".into()),
        ),
        case(
            "bundle: manifest lists an absolute path",
            1,
            &["/etc/passwd"],
            |d| edit_manifest(d, |m| m["files"][0]["path"] = "/etc/passwd".into()),
        ),
        case(
            "bundle: manifest bytes is 1e30",
            1,
            &["manifest_invalid", "files[0]"],
            |d| edit_manifest(d, |m| m["files"][0]["bytes"] = serde_json::json!(1e30)),
        ),
        case("bundle: listed file altered", 1, &["evidence.json"], |d| {
            bundle_with(d, |b| {
                std::fs::write(b.join("evidence.json"), b"{\"tampered\": true}\n").unwrap()
            })
        }),
        case(
            "bundle: listed file is a symlink to /etc/passwd",
            1,
            &["evidence.json"],
            |d| {
                bundle_with(d, |b| {
                    std::fs::remove_file(b.join("evidence.json")).unwrap();
                    std::os::unix::fs::symlink("/etc/passwd", b.join("evidence.json")).unwrap();
                })
            },
        ),
        case(
            "bundle: signature value is not base64",
            1,
            &["signature"],
            |d| edit_manifest(d, |m| m["signature"]["value"] = "%%%not base64%%%".into()),
        ),
        case(
            "bundle: retention_days is a string",
            1,
            &["retention"],
            |d| {
                bundle_with(d, |b| {
                    let path = b.join("retention-policy.json");
                    let mut v: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                    v["retention_days"] = "forever".into();
                    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
                })
            },
        ),
        case(
            "bundle: path does not exist",
            2,
            &["/nonexistent-wormvault-bundle", "does not exist"],
            |_| {
                args(&[
                    "bundle",
                    "verify",
                    "/nonexistent-wormvault-bundle",
                    "--allow-unsigned",
                ])
            },
        ),
        // --- tar archives ----------------------------------------------------------------------
        case(
            "tar: path traversal ../evil",
            1,
            &["archive_unsafe_path", "../evil"],
            |d| verify_tar(d, vec![entry("../evil", Regular, b"x", "")], &[]),
        ),
        case(
            "tar: absolute path",
            1,
            &["archive_unsafe_path", "/tmp/wormvault-hostile-abs"],
            |d| {
                verify_tar(
                    d,
                    vec![entry("/tmp/wormvault-hostile-abs", Regular, b"x", "")],
                    &[],
                )
            },
        ),
        case(
            "tar: nested traversal a/../../evil",
            1,
            &["archive_unsafe_path", "a/../../evil"],
            |d| verify_tar(d, vec![entry("a/../../evil", Regular, b"x", "")], &[]),
        ),
        case(
            "tar: symlink to /etc/passwd",
            1,
            &["archive_link", "/etc/passwd"],
            |d| verify_tar(d, vec![entry("link", Symlink, b"", "/etc/passwd")], &[]),
        ),
        case("tar: hard link", 1, &["archive_link", "hard"], |d| {
            verify_tar(d, vec![entry("hard", Link, b"", "evidence.json")], &[])
        }),
        case(
            "tar: character device",
            1,
            &["archive_special_entry", "tty"],
            |d| verify_tar(d, vec![entry("tty", Char, b"", "")], &[]),
        ),
        case(
            "tar: block device",
            1,
            &["archive_special_entry", "sda"],
            |d| verify_tar(d, vec![entry("sda", Block, b"", "")], &[]),
        ),
        case("tar: FIFO", 1, &["archive_special_entry", "pipe"], |d| {
            verify_tar(d, vec![entry("pipe", Fifo, b"", "")], &[])
        }),
        case(
            "tar: duplicate name",
            1,
            &["archive_duplicate_entry", "evidence.json"],
            |d| {
                verify_tar(
                    d,
                    vec![entry("evidence.json", Regular, b"{\"second\": true}", "")],
                    &[],
                )
            },
        ),
        case("tar: non-UTF-8 name", 1, &["archive_unsafe_path"], |d| {
            verify_tar(
                d,
                vec![(b"bad-\xff-name".to_vec(), Regular, b"x".to_vec(), "")],
                &[],
            )
        }),
        case(
            "tar: file then a file below it (a/b)",
            1,
            &[
                "archive_unsafe_path",
                "\"a/b\" conflicts with an earlier entry",
            ],
            |d| {
                verify_tar(
                    d,
                    vec![
                        entry("a", Regular, b"x", ""),
                        entry("a/b", Regular, b"y", ""),
                    ],
                    &[],
                )
            },
        ),
        case(
            "tar: entry declares 1 TiB",
            2,
            &["was NOT verified", "over the", "huge.bin"],
            |d| {
                let archive = d.join("bundle.tar.gz");
                tar_gz(
                    &archive,
                    vec![entry("huge.bin", Regular, b"", "")],
                    Some(1 << 40),
                );
                vec![
                    "bundle".into(),
                    "verify".into(),
                    p(&archive),
                    "--allow-unsigned".into(),
                ]
            },
        ),
        case(
            "tar: more entries than --max-entries",
            2,
            &["was NOT verified", "more than 10 entries"],
            |d| {
                let extra = (0..20)
                    .map(|i| entry(&format!("f{i}"), Regular, b"x", ""))
                    .collect();
                verify_tar(d, extra, &["--max-entries", "10"])
            },
        ),
        case(
            "tar: gzip bomb (4 GiB of zeros) over --max-entry-bytes",
            2,
            &["was NOT verified", "over the", "bomb.bin"],
            |d| {
                // Compressing 4 GiB would take too long; the header's declared size is what the
                // limit checks, before a byte is inflated, so a short body with a 4 GiB header
                // is the same attack as far as the reader is concerned.
                let archive = d.join("bomb.tar.gz");
                tar_gz(
                    &archive,
                    vec![entry("bomb.bin", Regular, b"", "")],
                    Some(4 << 30),
                );
                vec![
                    "bundle".into(),
                    "verify".into(),
                    p(&archive),
                    "--allow-unsigned".into(),
                    "--max-entry-bytes".into(),
                    "1048576".into(),
                ]
            },
        ),
        case(
            "tar: gzip bomb (256 MiB of zeros from ~250 KiB) streams in bounded memory",
            1,
            &["file_unlisted", "bomb.bin"],
            |d| {
                let archive = d.join("bomb.tar.gz");
                gzip_bomb(&archive, "bomb.bin", 256 << 20);
                assert!(
                    std::fs::metadata(&archive).unwrap().len() < 2 << 20,
                    "the bomb should be small"
                );
                let key = write_key(d, "bundle.key", BUNDLE_KEY);
                vec![
                    "bundle".into(),
                    "verify".into(),
                    p(&archive),
                    "--hmac-key-file".into(),
                    p(&key),
                ]
            },
        ),
        case("tar: truncated gzip", 1, &["archive_gzip_integrity"], |d| {
            let archive = d.join("bundle.tar.gz");
            tar_gz(
                &archive,
                vec![entry("pad.bin", Regular, &[7u8; 50_000], "")],
                None,
            );
            let bytes = std::fs::read(&archive).unwrap();
            std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
            vec![
                "bundle".into(),
                "verify".into(),
                p(&archive),
                "--allow-unsigned".into(),
            ]
        }),
        case("tar: gzip of garbage", 1, &["archive_corrupt"], |d| {
            let archive = d.join("bundle.tar.gz");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&[0xA5; 3000]).unwrap();
            std::fs::write(&archive, gz.finish().unwrap()).unwrap();
            vec![
                "bundle".into(),
                "verify".into(),
                p(&archive),
                "--allow-unsigned".into(),
            ]
        }),
        case(
            "tar: not gzip at all",
            2,
            &["junk.tar.gz", "not a bundle directory"],
            |d| {
                std::fs::write(d.join("junk.tar.gz"), b"\xff\xfe not gzip").unwrap();
                args(&["bundle", "verify", "junk.tar.gz", "--allow-unsigned"])
            },
        ),
        // --- audit logs ------------------------------------------------------------------------
        case(
            "audit: one 65 MiB line",
            1,
            &["audit.jsonl line 1", "longer than"],
            |d| {
                let mut line = b"{\"a\":\"".to_vec();
                line.resize(65 << 20, b'x');
                line.extend_from_slice(b"\"}");
                audit_line(line, true)(d)
            },
        ),
        case(
            "audit: prove over a 65 MiB line",
            2,
            &["audit.jsonl line 1", "longer than"],
            |d| {
                let mut line = b"{\"a\":\"".to_vec();
                line.resize(65 << 20, b'x');
                line.extend_from_slice(b"\"}\n");
                std::fs::write(d.join("audit.jsonl"), line).unwrap();
                args(&["audit", "prove", "--log", "audit.jsonl", "--seq", "1"])
            },
        ),
        case(
            "audit: invalid UTF-8",
            1,
            &["audit.jsonl line 1", "UTF-8"],
            audit_line(b"{\"actor\": \"\xff\xfe\"}".to_vec(), true),
        ),
        case(
            "audit: NaN",
            1,
            &["audit.jsonl line 1", "not valid JSON"],
            audit_line(b"{\"sequence\": NaN}".to_vec(), true),
        ),
        case(
            "audit: Infinity",
            1,
            &["audit.jsonl line 1", "not valid JSON"],
            audit_line(b"{\"sequence\": Infinity}".to_vec(), true),
        ),
        case(
            "audit: -Infinity in metadata",
            1,
            &["audit.jsonl line 1", "not valid JSON"],
            audit_line(b"{\"metadata\": {\"x\": -Infinity}}".to_vec(), true),
        ),
        case(
            "audit: 1e400 overflows",
            1,
            &["audit.jsonl line 1", "not valid JSON"],
            audit_line(b"{\"metadata\": {\"x\": 1e400}}".to_vec(), true),
        ),
        case(
            "audit: duplicate keys",
            1,
            &["audit.jsonl line 1", "duplicate"],
            audit_line(b"{\"sequence\": 1, \"sequence\": 2}".to_vec(), true),
        ),
        case(
            "audit: nesting 50k deep",
            1,
            &["audit.jsonl line 1", "recursion limit"],
            audit_line(deep(50_000), true),
        ),
        case(
            "audit: lone surrogate escape",
            1,
            &["audit.jsonl line 1"],
            audit_line(b"{\"actor\": \"\\ud800\"}".to_vec(), true),
        ),
        case(
            "audit: sequence beyond u64",
            1,
            &["record 1", "sequence"],
            audit_line(b"{\"sequence\": 18446744073709551616}".to_vec(), true),
        ),
        case(
            "audit: integer of 4301 digits (past Python's limit)",
            1,
            &["audit.jsonl line 1", "4300"],
            audit_line(
                format!("{{\"metadata\": {{\"n\": {}}}}}", "7".repeat(4301)).into_bytes(),
                true,
            ),
        ),
        case(
            "audit: wrong key id is a key mismatch, not tampering",
            1,
            &[
                "key_mismatch",
                "records say key id \"audit-key-1\"",
                "audit_key_mismatch",
            ],
            |d| {
                let mut args = audit_with(d, |text| text);
                *args.last_mut().unwrap() = "audit-key-2".into();
                args
            },
        ),
        case(
            "audit: missing key file is a usage error",
            2,
            &["audit_usage_error"],
            |d| {
                let mut args = audit_with(d, |text| text);
                args[5] = p(&d.join("no-such.key"));
                args
            },
        ),
        case(
            "audit: JSON array instead of record",
            1,
            &["audit.jsonl line 1", "not a JSON object"],
            audit_line(b"[1, 2, 3]".to_vec(), true),
        ),
        case("audit: torn last line", 1, &["line 25", "torn"], |d| {
            audit_with(d, |mut text| {
                text.truncate(text.len() - 20);
                text
            })
        }),
        case("audit: record 7 edited", 1, &["record 7"], |d| {
            audit_with(d, |text| {
                let text = String::from_utf8(text).unwrap();
                let mut lines: Vec<String> = text.lines().map(String::from).collect();
                lines[6] = lines[6].replacen("\"decision\": \"", "\"decision\": \"x", 1);
                (lines.join("\n") + "\n").into_bytes()
            })
        }),
        case("audit: record 12 deleted", 1, &["record 12"], |d| {
            audit_with(d, |text| {
                let text = String::from_utf8(text).unwrap();
                let mut lines: Vec<&str> = text.lines().collect();
                lines.remove(11);
                (lines.join("\n") + "\n").into_bytes()
            })
        }),
        case(
            "audit: append to a torn log",
            1,
            &["audit.jsonl", "torn"],
            |d| {
                let log = d.join("audit.jsonl");
                let mut text = std::fs::read(fixture("audit-hmac.jsonl")).unwrap();
                text.truncate(text.len() - 20);
                std::fs::write(&log, text).unwrap();
                append_args(d, &log, &["--key-id", "audit-key-1"])
            },
        ),
        case(
            "audit: log does not exist",
            2,
            &["missing.jsonl", "does not exist"],
            |_| args(&["audit", "verify", "--log", "missing.jsonl"]),
        ),
        case("audit: verify-proof of garbage", 2, &["proof.json"], |d| {
            std::fs::write(
                d.join("proof.json"),
                b"{\"leaf_index\": -1, \"path\": [\"zz\"]}",
            )
            .unwrap();
            args(&["audit", "verify-proof", "--proof", "proof.json"])
        }),
        case(
            "audit: verify against a garbage checkpoint",
            2,
            &["checkpoint.txt"],
            |d| {
                std::fs::write(d.join("checkpoint.txt"), b"not a\nsigned note\n\xff\n").unwrap();
                let mut out = audit_with(d, |t| t);
                out.extend(args(&[
                    "--checkpoint",
                    "checkpoint.txt",
                    "--checkpoint-key",
                    "/dev/null",
                ]));
                out
            },
        ),
        // --- plans (upload --plan) -------------------------------------------------------------
        case(
            "plan: object key escapes the session (../../escape)",
            2,
            &[
                "plan.json",
                "../../escape.json",
                "outside the session prefix",
            ],
            tampered_plan(|v| v["objects"][0]["key"] = "../../escape.json".into()),
        ),
        case(
            "plan: absolute object key",
            2,
            &["plan.json", "outside the session prefix"],
            tampered_plan(|v| v["objects"][0]["key"] = "/tmp/abs.json".into()),
        ),
        case(
            "plan: object path ../../etc/passwd",
            2,
            &["plan.json", "outside the session prefix"],
            tampered_plan(|v| v["objects"][0]["path"] = "../../etc/passwd".into()),
        ),
        case(
            "plan: retain_until shortened to 2020",
            1,
            &["evidence.json", "signed retention policy"],
            tampered_plan(|v| v["objects"][0]["retain_until"] = "2020-01-01T00:00:00Z".into()),
        ),
        case(
            "plan: retention_days lowered to 1",
            1,
            &["session release-2026-11-22", "below the regulated minimum"],
            tampered_plan(|v| v["retention"]["retention_days"] = 1.into()),
        ),
        case(
            "plan: bundle.created_at backdated",
            1,
            &["bundle.created_at", "edited after review"],
            tampered_plan(|v| v["bundle"]["created_at"] = "2000-01-01T00:00:00+00:00".into()),
        ),
        case(
            "plan: object sha256 swapped",
            1,
            &["evidence.json", "does not match the verified bundle"],
            tampered_plan(|v| v["objects"][0]["sha256"] = "0".repeat(64).into()),
        ),
        case(
            "plan: bundle digest swapped",
            1,
            &["plan.json", "bundle changed after review"],
            tampered_plan(|v| v["bundle_digest"] = "f".repeat(64).into()),
        ),
        // Edits that keep the plan well-formed: it must still be the plan the bundle and its own
        // choices give (pipeline::reviewed::check_derived), so every one is refused, exit 1.
        case(
            "plan: hold flag set on objects without a case",
            1,
            &["edited after review", "legal_hold"],
            tampered_plan(|v| {
                for o in v["objects"].as_array_mut().unwrap() {
                    o["legal_hold"] = true.into();
                }
            }),
        ),
        case(
            "plan: retain_until pushed to 9999 everywhere",
            1,
            &["edited after review", "retain_until", "9999-12-31"],
            tampered_plan(|v| {
                v["retention"]["retain_until"] = "9999-12-31T00:00:00Z".into();
                for o in v["objects"].as_array_mut().unwrap() {
                    o["retain_until"] = "9999-12-31T00:00:00Z".into();
                }
            }),
        ),
        case(
            "plan: key moved into the store's _wormvault namespace",
            1,
            &["edited after review", "objects[0].key", "_wormvault/holds"],
            tampered_plan(|v| {
                v["objects"][0]["key"] = format!(
                    "{}/../_wormvault/holds/x.txt",
                    v["session_prefix"].as_str().unwrap()
                )
                .into();
            }),
        ),
        case(
            "plan: session prefix and keys rewritten consistently",
            1,
            &["edited after review", "other-session"],
            tampered_plan(|v| {
                v["session_prefix"] = "other-session".into();
                for o in v["objects"].as_array_mut().unwrap() {
                    o["key"] = format!("other-session/{}", o["path"].as_str().unwrap()).into();
                }
            }),
        ),
        case(
            "plan: sha256 metadata and session tag forged",
            1,
            &["edited after review", "metadata.sha256"],
            tampered_plan(|v| {
                v["objects"][0]["metadata"]["sha256"] = "0".repeat(64).into();
                v["objects"][0]["tags"]["wormvault-session"] = "forged".into();
            }),
        ),
        case(
            "plan: created_at moved into the future",
            1,
            &["edited after review", "in the future"],
            tampered_plan(|v| v["created_at"] = "2999-01-01T00:00:00+00:00".into()),
        ),
        case(
            "plan: GOVERNANCE written into the file (not restated at upload)",
            1,
            &["GOVERNANCE", "--governance"],
            tampered_plan(|v| {
                v["retention"]["mode"] = "governance".into();
                for o in v["objects"].as_array_mut().unwrap() {
                    o["retention_mode"] = "governance".into();
                }
            }),
        ),
        case(
            "plan: wrong format",
            2,
            &["plan.json", "format"],
            tampered_plan(|v| v["format"] = "wormvault.storage-plan.v0".into()),
        ),
        case(
            "plan: negative size",
            2,
            &["plan.json", "-1"],
            tampered_plan(|v| v["objects"][0]["bytes"] = (-1).into()),
        ),
        case(
            "plan: malformed JSON",
            2,
            &["plan.json", "cannot read plan"],
            |d| {
                let out = tampered_plan(|_| {})(d);
                std::fs::write(d.join("plan.json"), b"{\"objects\": [").unwrap();
                out
            },
        ),
        // --- receipts (check-remote against a local vault) ----------------------------------
        case(
            "receipts: key ../../../../etc/passwd is never read",
            1,
            &["missing: ../../../../etc/passwd"],
            archived_receipts(|v| v["receipts"][0]["key"] = "../../../../etc/passwd".into()),
        ),
        case(
            "receipts: session prefix ../../..",
            1,
            &["../../..", "STORE DIFFERS"],
            archived_receipts(|v| {
                v["session_prefix"] = "../../..".into();
                v["receipts"][0]["key"] = "../../../etc/passwd".into();
            }),
        ),
        case(
            "receipts: every object removed (nothing would be compared)",
            2,
            &["receipts.json", "list no objects"],
            archived_receipts(|v| {
                v["receipts"] = serde_json::json!([]);
                v["session_prefix"] = "nothing-here".into();
            }),
        ),
        case(
            "receipts: not JSON",
            2,
            &["receipts.json", "not valid JSON"],
            |d| {
                let out = archived_receipts(|_| {})(d);
                std::fs::write(d.join("receipts.json"), b"{\"receipts\": [").unwrap();
                out
            },
        ),
        // --- handoff packages ----------------------------------------------------------------
        case(
            "handoff: package with ../, absolute and symlink entries",
            1,
            &["FAILED", "package_archive", "\"../evil\"", "/etc/passwd"],
            |d| {
                let archive = d.join("evil.tar.gz");
                tar_gz(
                    &archive,
                    vec![
                        entry("../evil", Regular, b"x", ""),
                        entry("/abs", Regular, b"x", ""),
                        entry("link", Symlink, b"", "/etc/passwd"),
                    ],
                    None,
                );
                args(&["handoff", "verify", "evil.tar.gz"])
            },
        ),
        case("handoff: not gzip", 2, &["junk.tar.gz"], |d| {
            std::fs::write(d.join("junk.tar.gz"), b"\xff\xfe not gzip").unwrap();
            args(&["handoff", "verify", "junk.tar.gz"])
        }),
        case(
            "handoff: a bundle archive is not a handoff package",
            1,
            &["package_contents", "handoff.json"],
            |d| {
                let archive = d.join("bundle.tar.gz");
                tar_gz(&archive, vec![], None);
                args(&["handoff", "verify", "bundle.tar.gz"])
            },
        ),
        // --- readiness packets -----------------------------------------------------------------
        case(
            "packet: JSON array",
            1,
            &["schema_version", "not an object"],
            packet(b"[1, 2]"),
        ),
        case(
            "packet: invalid UTF-8",
            1,
            &["schema_version", "not UTF-8"],
            packet(b"{\"evidence_mode\": \"\xff\"}"),
        ),
        case(
            "packet: NaN retention",
            1,
            &["not valid JSON"],
            packet(b"{\"retention\": {\"retention_days\": NaN}}"),
        ),
        case("packet: nesting 100k deep", 1, &["not valid JSON"], |d| {
            std::fs::write(d.join("packet.json"), deep(100_000)).unwrap();
            args(&["readiness", "validate", "--packet", "packet.json"])
        }),
        case(
            "packet: retention_days is a boolean",
            1,
            &["retention.retention_days", "boolean"],
            packet_edit(|v| v["retention"]["retention_days"] = true.into()),
        ),
        case(
            // (A positive one passes, as Python's int takes it: readiness::tests.)
            "packet: retention_days below i64",
            1,
            &["retention.retention_days"],
            packet_edit(|v| v["retention"]["retention_days"] = "-99999999999999999999999".into()),
        ),
        case(
            "packet: storage is a string",
            1,
            &["storage must be an object"],
            packet_edit(|v| v["storage"] = "s3".into()),
        ),
        case(
            "packet: alerts is an object",
            1,
            &["monitoring"],
            packet_edit(|v| v["monitoring"]["alerts"] = serde_json::json!({"a": 1})),
        ),
        case("packet: file missing", 2, &["nope.json"], |_| {
            args(&["readiness", "validate", "--packet", "nope.json"])
        }),
        // --- targets ---------------------------------------------------------------------------
        case(
            "target: s3:// without bucket",
            2,
            &["\"s3://\"", "bucket names"],
            |_| args(&["target", "check", "s3://"]),
        ),
        case(
            "target: unknown scheme",
            2,
            &["ftp://x/y", "unknown scheme"],
            |_| args(&["target", "check", "ftp://x/y"]),
        ),
        case(
            "target: relative file path",
            2,
            &["file://relative", "absolute path"],
            |_| args(&["target", "check", "file://relative"]),
        ),
        case(
            "target: s3 prefix with ..",
            2,
            &["s3://bucket-a/../x", "'..'"],
            |_| args(&["target", "check", "s3://bucket-a/../x"]),
        ),
        case(
            "target: azure prefix with ..",
            2,
            &["azure://acct/c/../x", "'..'"],
            |_| args(&["target", "check", "azure://acct/c/../x"]),
        ),
        case(
            "target: azure+http port 99999",
            2,
            &["azure+http://h:99999/a/c", "host:port"],
            |_| args(&["target", "check", "azure+http://h:99999/a/c"]),
        ),
        case("target: empty", 2, &["invalid target \"\""], |_| {
            args(&["target", "check", ""])
        }),
        // --- command-line arguments ------------------------------------------------------------
        case("cli: unknown subcommand", 2, &["nosuch"], |_| {
            args(&["nosuch"])
        }),
        case(
            "cli: negative --minimum-retention-days",
            2,
            &["'-5'"],
            |_| args(&["bundle", "verify", ".", "--minimum-retention-days", "-5"]),
        ),
        case(
            "cli: --minimum-retention-days beyond u64",
            2,
            &[
                "--minimum-retention-days",
                "days is out of range: at most 365000",
            ],
            |_| {
                args(&[
                    "bundle",
                    "verify",
                    ".",
                    "--minimum-retention-days",
                    "99999999999999999999999",
                ])
            },
        ),
        case(
            "cli: --hmac-key-file and --hmac-key-env together",
            2,
            &["--hmac-key-file", "--hmac-key-env"],
            |_| {
                args(&[
                    "bundle",
                    "verify",
                    ".",
                    "--hmac-key-file",
                    "k",
                    "--hmac-key-env",
                    "K",
                ])
            },
        ),
        case(
            "cli: --hmac-key-env names an unset variable",
            2,
            &["WORMVAULT_HOSTILE_UNSET", "not set"],
            |_| {
                args(&[
                    "bundle",
                    "verify",
                    ".",
                    "--hmac-key-env",
                    "WORMVAULT_HOSTILE_UNSET",
                ])
            },
        ),
        case(
            "cli: --hmac-key-file missing",
            2,
            &["no-such-key-file"],
            |_| {
                args(&[
                    "bundle",
                    "verify",
                    ".",
                    "--hmac-key-file",
                    "no-such-key-file",
                ])
            },
        ),
        case(
            "cli: --created-at yesterday",
            2,
            &["--created-at", "yesterday"],
            |d| append_args(d, &d.join("new.jsonl"), &["--created-at", "yesterday"]),
        ),
        case(
            "cli: --metadata is an array",
            2,
            &["--metadata", "JSON object"],
            |d| append_args(d, &d.join("new.jsonl"), &["--metadata", "[1]"]),
        ),
        case(
            "cli: --metadata with NaN",
            2,
            &["--metadata", "not valid JSON"],
            |d| append_args(d, &d.join("new.jsonl"), &["--metadata", "{\"a\": NaN}"]),
        ),
        case(
            "cli: --session-id ../../x",
            1,
            &["session id \"../../x\""],
            |d| {
                let key = write_key(d, "bundle.key", BUNDLE_KEY);
                let vault = format!("file://{}", d.join("vault").display());
                let mut out = args(&["archive"]);
                out.extend([
                    p(&fixture("bundle-hmac")),
                    "--hmac-key-file".into(),
                    p(&key),
                ]);
                out.extend(args(&[
                    "--to",
                    &vault,
                    "--session-id",
                    "../../x",
                    "--dry-run",
                ]));
                out
            },
        ),
        case("cli: non-UTF-8 argument", 2, &["wormvault"], |_| {
            vec![OsString::from_vec(b"bundle\xff".to_vec())]
        }),
        case(
            "cli: audit prove --seq 0",
            2,
            &["audit-hmac.jsonl", "sequence 0"],
            |_| {
                let mut out = args(&["audit", "prove", "--log"]);
                out.push(p(&fixture("audit-hmac.jsonl")));
                out.extend(args(&["--seq", "0"]));
                out
            },
        ),
        // --- issue #15 items 7, 8, 9, 10, 12, 13, 14 (bundles, archives, vault, keys) ---------
        case(
            "tar: manifest.json inflating to 2 GiB from a ~2 MiB .tar.gz",
            1,
            &["manifest_too_large", "16777216"],
            |d| {
                let archive = d.join("bomb.tar.gz");
                manifest_bomb(&archive, 2 << 30);
                let len = std::fs::metadata(&archive).unwrap().len();
                assert!(len < 3 << 20, "the bomb should be about 2 MiB, is {len}");
                let key = write_key(d, "bundle.key", BUNDLE_KEY);
                vec![
                    "bundle".into(),
                    "verify".into(),
                    p(&archive),
                    "--hmac-key-file".into(),
                    p(&key),
                ]
            },
        ),
        case(
            "tar: manifest.json sized 2 GiB by a PAX header (ustar size 0)",
            1,
            &["manifest_too_large"],
            |d| {
                let record = "19 size=2147483648\n";
                let mut builder = tar::Builder::new(Vec::new());
                let mut pax = tar::Header::new_ustar();
                pax.set_path("PaxHeader/manifest.json").unwrap();
                pax.set_entry_type(tar::EntryType::XHeader);
                pax.set_size(record.len() as u64);
                pax.set_mode(0o644);
                pax.set_cksum();
                builder.append(&pax, record.as_bytes()).unwrap();
                let mut header = tar::Header::new_ustar();
                header.set_path("manifest.json").unwrap();
                header.set_size(0);
                header.set_mode(0o644);
                header.set_cksum();
                builder.append(&header, &b""[..]).unwrap();
                let archive = d.join("bundle.tar.gz");
                std::fs::write(&archive, gzip_bytes(&builder.into_inner().unwrap())).unwrap();
                let key = write_key(d, "bundle.key", BUNDLE_KEY);
                vec![
                    "bundle".into(),
                    "verify".into(),
                    p(&archive),
                    "--hmac-key-file".into(),
                    p(&key),
                ]
            },
        ),
        case(
            "bundle: 2 GiB (sparse) manifest.json in a directory",
            1,
            &["manifest_too_large"],
            |d| {
                bundle_with(d, |b| {
                    let file = std::fs::File::create(b.join("manifest.json")).unwrap();
                    file.set_len(2 << 30).unwrap();
                })
            },
        ),
        case(
            "tar: wrong gzip CRC32",
            1,
            &["archive_gzip_integrity"],
            gzip_edited(vec![], |mut bytes| {
                let n = bytes.len();
                bytes[n - 8] ^= 0xff;
                bytes
            }),
        ),
        case(
            "tar: wrong gzip ISIZE",
            1,
            &["archive_gzip_integrity"],
            gzip_edited(vec![], |mut bytes| {
                let n = bytes.len();
                bytes[n - 4] ^= 0x01;
                bytes
            }),
        ),
        case(
            "tar: gzip trailer missing",
            1,
            &["archive_gzip_integrity"],
            gzip_edited(vec![], |mut bytes| {
                bytes.truncate(bytes.len() - 8);
                bytes
            }),
        ),
        case(
            "tar: second gzip member replacing a file",
            1,
            &["archive_trailing_data"],
            gzip_edited(vec![], |mut bytes| {
                let mut builder = tar::Builder::new(Vec::new());
                let mut header = tar::Header::new_gnu();
                header.set_size(6);
                header.set_mode(0o644);
                builder
                    .append_data(&mut header, "evidence.json", &b"forged"[..])
                    .unwrap();
                bytes.extend(gzip_bytes(&builder.into_inner().unwrap()));
                bytes
            }),
        ),
        case(
            "tar: bytes appended after the gzip stream",
            1,
            &["archive_trailing_data"],
            gzip_edited(vec![], |mut bytes| {
                bytes.extend(b"appended");
                bytes
            }),
        ),
        case(
            "tar: PAX global header (git archive) is accepted",
            0,
            &["VALID"],
            |d| {
                let comment = b"52 comment=0123456789abcdef0123456789abcdef01234567\n";
                verify_tar(
                    d,
                    vec![entry(
                        "pax_global_header",
                        tar::EntryType::XGlobalHeader,
                        comment,
                        "",
                    )],
                    &[],
                )
            },
        ),
        case(
            "tar: PAX global header that renames entries",
            1,
            &["archive_special_entry", "\"path\""],
            |d| {
                verify_tar(
                    d,
                    vec![entry(
                        "pax_global_header",
                        tar::EntryType::XGlobalHeader,
                        b"20 path=evidence.sh\n",
                        "",
                    )],
                    &[],
                )
            },
        ),
        case(
            "tar: entry name longer than PATH_MAX",
            1,
            &["path_too_long"],
            |d| {
                let archive = d.join("bundle.tar.gz");
                let mut builder = tar::Builder::new(Vec::new());
                for name in [
                    "evidence.json",
                    "manifest.json",
                    "pr-attestation.md",
                    "retention-policy.json",
                ] {
                    builder
                        .append_path_with_name(fixture("bundle-hmac").join(name), name)
                        .unwrap();
                }
                let mut header = tar::Header::new_gnu();
                header.set_size(1);
                header.set_mode(0o644);
                builder
                    .append_data(&mut header, vec!["d"; 2100].join("/"), &b"x"[..])
                    .unwrap();
                std::fs::write(&archive, gzip_bytes(&builder.into_inner().unwrap())).unwrap();
                let key = write_key(d, "bundle.key", BUNDLE_KEY);
                vec![
                    "bundle".into(),
                    "verify".into(),
                    p(&archive),
                    "--hmac-key-file".into(),
                    p(&key),
                ]
            },
        ),
        case(
            "bundle: listed path longer than PATH_MAX",
            1,
            &["path_too_long"],
            |d| listed_extra(d, &vec!["d"; 2100].join("/")),
        ),
        case(
            "bundle: listed file in the reserved _wormvault/ namespace",
            1,
            &["reserved_name", "_wormvault/receipts.json"],
            |d| listed_extra(d, "_wormvault/receipts.json"),
        ),
        case(
            "bundle create: input named _wormvault",
            2,
            &["_wormvault", "reserved namespace"],
            |d| {
                std::fs::create_dir_all(d.join("in")).unwrap();
                std::fs::write(d.join("in/_wormvault"), "x").unwrap();
                args(&["bundle", "create", "in", "--output", "out", "--unsigned"])
            },
        ),
        case(
            "bundle: HS256 bundle against a pinned Ed25519 --key-id",
            1,
            &["algorithm_mismatch"],
            |d| {
                let mut out = bundle_with(d, |_| {});
                out.extend([
                    "--trust-root".into(),
                    p(&fixture("keys/evidence-trust-roots.json")),
                    "--key-id".into(),
                    "prod-evidence".into(),
                ]);
                out
            },
        ),
        case(
            "bundle: --allow-unsigned with --key-id",
            2,
            &["--allow-unsigned", "--key-id"],
            |_| {
                let mut out = args(&["bundle", "verify"]);
                out.push(p(&fixture("bundle-ed25519")));
                out.extend(args(&["--allow-unsigned", "--key-id", "prod-evidence"]));
                out
            },
        ),
        case(
            "trust roots: 8 MiB trust-root file",
            2,
            &["roots.json", "4194304"],
            |d| {
                let file = std::fs::File::create(d.join("roots.json")).unwrap();
                file.set_len(8 << 20).unwrap();
                let mut out = args(&["bundle", "verify"]);
                out.push(p(&fixture("bundle-ed25519")));
                out.extend(args(&["--trust-root", "roots.json"]));
                out
            },
        ),
        case(
            "readiness: 64 MiB packet",
            2,
            &["packet.json", "16777216"],
            |d| {
                let file = std::fs::File::create(d.join("packet.json")).unwrap();
                file.set_len(64 << 20).unwrap();
                args(&["readiness", "validate", "--packet", "packet.json"])
            },
        ),
        case(
            "keys: private key readable by others",
            2,
            &["evidence-ed25519-private.pem", "chmod 600"],
            |d| {
                std::fs::create_dir_all(d.join("in")).unwrap();
                std::fs::write(d.join("in/a.txt"), "x").unwrap();
                let private = d.join("evidence-ed25519-private.pem");
                std::fs::copy(fixture("keys/evidence-ed25519-private.pem"), &private).unwrap();
                set_mode(&private, 0o644);
                let mut out = args(&["bundle", "create", "in", "--output", "out"]);
                out.extend(["--private-key".into(), p(&private)]);
                out
            },
        ),
        case(
            "keys: empty HMAC key file",
            2,
            &["empty.key", "is empty"],
            |d| {
                std::fs::create_dir_all(d.join("in")).unwrap();
                std::fs::write(d.join("in/a.txt"), "x").unwrap();
                write_key(d, "empty.key", "\n");
                args(&[
                    "bundle",
                    "create",
                    "in",
                    "--output",
                    "out",
                    "--key-file",
                    "empty.key",
                ])
            },
        ),
        case(
            "keys generate: unusable --key-id",
            2,
            &["--key-id", "../evil"],
            |_| {
                args(&[
                    "keys",
                    "generate",
                    "--output-dir",
                    "k",
                    "--key-id",
                    "../evil",
                ])
            },
        ),
        case(
            "target: file:// with ..",
            2,
            &["invalid target", "'..'"],
            |_| args(&["target", "check", "file:///srv/vault/../etc"]),
        ),
        case(
            "target: file:// with %2e%2e",
            2,
            &["invalid target", "'%'"],
            |_| args(&["target", "check", "file:///srv/%2e%2e/etc"]),
        ),
        case(
            "target: file:// with ?",
            2,
            &["invalid target", "'?'"],
            |_| args(&["target", "check", "file:///srv/vault?x=1"]),
        ),
        case(
            "target: file:// with #",
            2,
            &["invalid target", "'#'"],
            |_| args(&["target", "check", "file:///srv/vault#x"]),
        ),
        case(
            "check-remote: vault object made writable again (chmod 644)",
            1,
            &["writable", "644"],
            |d| {
                let out = archived_receipts(|_| {})(d);
                let receipts: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(d.join("receipts.json")).unwrap())
                        .unwrap();
                let key = receipts["receipts"][0]["key"].as_str().unwrap();
                set_mode(&d.join("vault").join(key), 0o644);
                out
            },
        ),
        // --- inputs that are not regular files: refused at once (exit 2), never read ------------
        // A pipe read twice (verify, then use) would be judged on a drained stream — a genuine
        // package "tampered with", an export of nothing, a drill "NOT CAUGHT" — and a device or
        // a FIFO with no writer never ends.
        case(
            "input: handoff verify of a FIFO package",
            2,
            &[
                "handoff package",
                "pkg.tar.gz is a FIFO, not a regular file",
            ],
            |d| {
                fifo(&d.join("pkg.tar.gz"));
                let roots = fixture("keys/evidence-trust-roots.json");
                let mut out = args(&["handoff", "verify", "pkg.tar.gz", "--trust-root"]);
                out.push(p(&roots));
                out
            },
        ),
        case(
            "input: audit verify --log /dev/zero",
            2,
            &[
                "audit log /dev/zero",
                "a character device, not a regular file",
            ],
            |d| {
                let key = write_key(d, "audit.key", AUDIT_KEY);
                let mut out = args(&["audit", "verify", "--log", "/dev/zero", "--key-file"]);
                out.push(p(&key));
                out
            },
        ),
        case(
            "input: audit export --log /dev/zero",
            2,
            &[
                "audit log /dev/zero",
                "a character device, not a regular file",
            ],
            |_| args(&["audit", "export", "--log", "/dev/zero", "--format", "jsonl"]),
        ),
        case(
            "input: audit verify --log FIFO",
            2,
            &["audit.jsonl", "a FIFO, not a regular file"],
            |d| {
                fifo(&d.join("audit.jsonl"));
                args(&["audit", "verify", "--log", "audit.jsonl"])
            },
        ),
        case(
            "input: audit export --log FIFO",
            2,
            // A usage error, not a failed export for the SIEM to page on.
            &[
                "audit.jsonl",
                "a FIFO, not a regular file",
                "\"alert\":\"audit_usage_error\"",
            ],
            |d| {
                fifo(&d.join("audit.jsonl"));
                args(&[
                    "audit",
                    "export",
                    "--log",
                    "audit.jsonl",
                    "--format",
                    "jsonl",
                ])
            },
        ),
        case(
            "input: audit verify --checkpoint FIFO",
            2,
            &["--checkpoint", "cp.txt is a FIFO, not a regular file"],
            |d| {
                fifo(&d.join("cp.txt"));
                let mut out = audit_with(d, |t| t);
                out.extend(args(&["--checkpoint", "cp.txt"]));
                out
            },
        ),
        case(
            "input: audit verify --public-key /dev/zero",
            2,
            &["--public-key", "/dev/zero is a character device"],
            |d| {
                std::fs::copy(fixture("audit-hmac.jsonl"), d.join("audit.jsonl")).unwrap();
                args(&[
                    "audit",
                    "verify",
                    "--log",
                    "audit.jsonl",
                    "--public-key",
                    "/dev/zero",
                ])
            },
        ),
        case(
            "input: audit verify --key-file /dev/zero (bounded, pipes still read)",
            2,
            &["/dev/zero", "over the", "key file"],
            |d| {
                std::fs::copy(fixture("audit-hmac.jsonl"), d.join("audit.jsonl")).unwrap();
                args(&[
                    "audit",
                    "verify",
                    "--log",
                    "audit.jsonl",
                    "--key-file",
                    "/dev/zero",
                ])
            },
        ),
        case(
            "input: bundle create --private-key of 1 MiB",
            2,
            &["big.pem", "more than 65536 bytes: not a key file"],
            |d| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::create_dir_all(d.join("files")).unwrap();
                std::fs::write(d.join("files/e.json"), "{}").unwrap();
                std::fs::write(d.join("big.pem"), vec![b'A'; 1 << 20]).unwrap();
                std::fs::set_permissions(d.join("big.pem"), std::fs::Permissions::from_mode(0o600))
                    .unwrap();
                args(&[
                    "bundle",
                    "create",
                    "files",
                    "--output",
                    "out",
                    "--private-key",
                    "big.pem",
                ])
            },
        ),
        case(
            "input: audit verify-proof --proof FIFO",
            2,
            &["--proof", "proof.json is a FIFO, not a regular file"],
            |d| {
                fifo(&d.join("proof.json"));
                args(&["audit", "verify-proof", "--proof", "proof.json"])
            },
        ),
        case(
            "input: canonical of a FIFO",
            2,
            &["doc.json is a FIFO, not a regular file"],
            |d| {
                fifo(&d.join("doc.json"));
                args(&["canonical", "doc.json"])
            },
        ),
        case(
            "input: drill tamper --log FIFO",
            2,
            &["audit.jsonl is a FIFO, not a regular file"],
            |d| {
                fifo(&d.join("audit.jsonl"));
                let mut out = args(&["drill", "tamper", "--log", "audit.jsonl", "--bundle"]);
                out.push(p(&fixture("bundle-hmac")));
                out.extend(args(&["--output", "drill.json"]));
                out
            },
        ),
        case(
            "input: drill tamper on a log with a 70 MiB line",
            2,
            &["audit.jsonl line 2", "line limit"],
            |d| {
                // Sparse: one short line, then 70 MiB of zero bytes and no newline.
                let log = d.join("audit.jsonl");
                std::fs::write(&log, b"{}\n").unwrap();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&log)
                    .unwrap()
                    .set_len(70 << 20)
                    .unwrap();
                let mut out = args(&["drill", "tamper", "--log", "audit.jsonl", "--bundle"]);
                out.push(p(&fixture("bundle-hmac")));
                out.extend(args(&["--output", "drill.json"]));
                out
            },
        ),
    ]
}

/// A FIFO nobody writes to: opening it for reading would block forever.
fn fifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

// ----- the runner -------------------------------------------------------------------------------

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    peak_rss_kib: Option<u64>,
    timed_out: bool,
}

fn run(dir: &Path, argv: &[OsString], env: &[(&str, &str)]) -> Outcome {
    let binary = env!("CARGO_BIN_EXE_wormvault");
    let measure = Path::new(GNU_TIME).exists();
    let rss_file = dir.join(".peak-rss");
    let mut command = if measure {
        let mut command = Command::new(GNU_TIME);
        command
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss_file)
            .arg(binary);
        command
    } else {
        Command::new(binary)
    };
    command
        .args(argv)
        .current_dir(dir)
        .env_remove("WORMVAULT_HOSTILE_UNSET")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(".stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join(".stderr")).unwrap())
        // Own process group, so a timeout kills wormvault and not just `time`.
        .process_group(0);
    for (name, value) in env {
        command.env(name, value);
    }
    let start = Instant::now();
    let mut child = command.spawn().expect("spawn wormvault");
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > TIME_LIMIT {
            timed_out = true;
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let peak_rss_kib = if measure {
        std::fs::read_to_string(&rss_file).ok().and_then(|text| {
            text.lines()
                .filter_map(|l| l.trim().parse().ok())
                .next_back()
        })
    } else {
        None
    };
    Outcome {
        code: status.and_then(|s| s.code()),
        stdout: String::from_utf8_lossy(&std::fs::read(dir.join(".stdout")).unwrap_or_default())
            .into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(dir.join(".stderr")).unwrap_or_default())
            .into_owned(),
        elapsed,
        peak_rss_kib,
        timed_out,
    }
}

fn clip(text: &str) -> String {
    let text: String = text.chars().take(1500).collect();
    text.replace('\n', "\n      ")
}

#[test]
fn hostile_input_matrix() {
    let cases = cases();
    assert!(
        cases.len() >= 40,
        "the matrix must hold at least 40 hostile inputs, has {}",
        cases.len()
    );
    let root = tempfile::tempdir().unwrap();
    let measured = Path::new(GNU_TIME).exists();
    if !measured {
        eprintln!("NOTE: {GNU_TIME} not found: peak memory is not checked in this run");
    }
    let mut failures = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let dir = root.path().join(format!("case-{index:03}"));
        std::fs::create_dir(&dir).unwrap();
        let argv = (case.setup)(&dir);
        let outcome = run(&dir, &argv, &case.env);
        let both = format!("{}\n{}", outcome.stdout, outcome.stderr);
        let mut problems = Vec::new();
        if outcome.timed_out {
            problems.push(format!("did not finish within {TIME_LIMIT:?} (killed)"));
        }
        if outcome.code != Some(case.exit) {
            problems.push(format!(
                "exit code {:?}, expected {}",
                outcome.code, case.exit
            ));
        }
        if both.contains("panicked") || both.contains("RUST_BACKTRACE") {
            problems.push("panicked".into());
        }
        for fragment in &case.fragments {
            if !both.contains(fragment) {
                problems.push(format!("output lacks {fragment:?}"));
            }
        }
        match outcome.peak_rss_kib {
            Some(kib) if kib > RSS_LIMIT_KIB => problems.push(format!(
                "peak RSS {kib} KiB over the {RSS_LIMIT_KIB} KiB limit"
            )),
            None if measured && !outcome.timed_out => {
                problems.push("GNU time reported no peak RSS".into())
            }
            _ => {}
        }
        eprintln!(
            "{:<3} {:<70} exit {:?} in {:>6.2}s, peak RSS {} KiB{}",
            index,
            case.name,
            outcome.code,
            outcome.elapsed.as_secs_f64(),
            outcome.peak_rss_kib.map_or("?".into(), |k| k.to_string()),
            if problems.is_empty() {
                ""
            } else {
                "  <-- FAIL"
            }
        );
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({}):\n    {}\n    stdout: {}\n    stderr: {}",
                case.name,
                argv.iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                problems.join("; "),
                clip(&outcome.stdout),
                clip(&outcome.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile inputs misbehaved:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
