//! Keys that never leave a KMS (issue #17 item 5).
//!
//! LocalStack's KMS refuses key spec ECC_NIST_EDWARDS25519 (ValidationException), so the
//! Ed25519 path runs end to end against a KMS **stand-in**: a small loopback HTTP server in this
//! file that speaks the KMS JSON protocol (`TrentService.GetPublicKey`, `TrentService.Sign`,
//! `application/x-amz-json-1.1`), holds a real Ed25519 key and makes real signatures. It is not
//! AWS KMS; it checks what the real service requires of a pure Ed25519 signature request
//! (ED25519_SHA_512, MessageType RAW, at most 4096 bytes) and records every request. Against
//! LocalStack itself the GetPublicKey/Sign plumbing is exercised with an ECC_NIST_P256 key, which
//! wormvault must refuse (exit 2, naming the key spec) before signing anything.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use ed25519_dalek::pkcs8::EncodePublicKey;
use serde_json::{Value, json};
use wormvault::trust::{Ed25519Sign, KmsKey, KmsSettings, SignError};

use crate::support;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Stand-in mode: an Ed25519 key whose Sign answers with another key's signature.
const LYING: &str = "LYING";
const ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/0b5e7a11-standin-ed25519";

/// The KMS stand-in (see the module docs). `key_spec` is what GetPublicKey reports.
struct StandIn {
    endpoint: String,
    signing: ed25519_dalek::SigningKey,
    /// (operation, request body) of every request, in order.
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl StandIn {
    fn start(key_spec: &'static str) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let signing = ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (key, log) = (signing.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (key, log) = (key.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &key, key_spec, &log));
            }
        });
        StandIn {
            endpoint,
            signing,
            requests,
        }
    }

    fn public_pem(&self) -> String {
        self.signing
            .verifying_key()
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap()
    }

    fn operations(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(op, _)| op.clone())
            .collect()
    }
}

/// One keep-alive connection: read requests until the client closes it.
fn serve(
    stream: std::net::TcpStream,
    key: &ed25519_dalek::SigningKey,
    key_spec: &str,
    log: &Mutex<Vec<(String, Value)>>,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut target = String::new();
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':').unwrap_or((trimmed, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "x-amz-target" => target = value.trim().to_string(),
                _ => {}
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let operation = target.rsplit('.').next().unwrap_or_default().to_string();
        log.lock()
            .unwrap()
            .push((operation.clone(), request.clone()));
        let (status, reply) = answer(&operation, &request, key, key_spec);
        let text = reply.to_string();
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nx-amzn-requestid: standin\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(
    operation: &str,
    request: &Value,
    key: &ed25519_dalek::SigningKey,
    key_spec: &str,
) -> (&'static str, Value) {
    let invalid = |message: &str| {
        (
            "400 Bad Request",
            json!({"__type": "ValidationException", "message": message}),
        )
    };
    if request["KeyId"] != ARN {
        return (
            "400 Bad Request",
            json!({"__type": "NotFoundException", "message": "no such key"}),
        );
    }
    match operation {
        "GetPublicKey" => {
            let der = key.verifying_key().to_public_key_der().unwrap();
            (
                "200 OK",
                json!({
                    "KeyId": ARN,
                    "PublicKey": B64.encode(der.as_bytes()),
                    "KeySpec": if key_spec == LYING { "ECC_NIST_EDWARDS25519" } else { key_spec },
                    "KeyUsage": "SIGN_VERIFY",
                    "SigningAlgorithms": ["ED25519_SHA_512", "ED25519_PH_SHA_512"],
                }),
            )
        }
        "Sign" => {
            if request["SigningAlgorithm"] != "ED25519_SHA_512" {
                return invalid("this stand-in signs plain Ed25519 only");
            }
            if request["MessageType"] != "RAW" {
                return invalid("ED25519_SHA_512 requires MessageType RAW");
            }
            let Some(message) = request["Message"].as_str().and_then(|m| B64.decode(m).ok()) else {
                return invalid("Message is not base64");
            };
            if message.is_empty() || message.len() > 4096 {
                return invalid("Message must be 1 to 4096 bytes");
            }
            // "LYING": a KMS that answers with another key's signature.
            let other = ed25519_dalek::SigningKey::from_bytes(&[43u8; 32]);
            let signer = if key_spec == LYING { &other } else { key };
            let signature = ed25519_dalek::Signer::sign(signer, &message);
            (
                "200 OK",
                json!({
                    "KeyId": ARN,
                    "Signature": B64.encode(signature.to_bytes()),
                    "SigningAlgorithm": "ED25519_SHA_512",
                }),
            )
        }
        _ => invalid("unsupported operation"),
    }
}

fn settings(endpoint: &str) -> KmsSettings {
    KmsSettings {
        endpoint: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        credentials: Some(("test".into(), "test".into())),
    }
}

fn verify(pem: &str, message: &[u8], signature: &[u8; 64]) {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem).unwrap();
    ed25519_dalek::Verifier::verify(
        &key,
        message,
        &ed25519_dalek::Signature::from_bytes(signature),
    )
    .expect("a real Ed25519 signature by the KMS key");
}

#[test]
fn kms_key_signs_from_sync_code() {
    let kms = StandIn::start("ECC_NIST_EDWARDS25519");
    let key = KmsKey::connect(ARN, &settings(&kms.endpoint)).unwrap();
    assert_eq!(key.public_key().spki_pem(), kms.public_pem());
    let signature = key.sign(b"checkpoint body\n").unwrap();
    verify(&kms.public_pem(), b"checkpoint body\n", &signature);
    assert_eq!(kms.operations(), ["GetPublicKey", "Sign"]);
    let sign = &kms.requests.lock().unwrap()[1].1;
    assert_eq!(
        (&sign["SigningAlgorithm"], &sign["MessageType"]),
        (&json!("ED25519_SHA_512"), &json!("RAW"))
    );
}

#[test]
fn kms_key_signs_from_inside_an_async_runtime() {
    let kms = StandIn::start("ECC_NIST_EDWARDS25519");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let endpoint = kms.endpoint.clone();
    let signature = runtime.block_on(async move {
        // Connected and used on a runtime worker thread: no nested runtime, no panic.
        let key = KmsKey::connect(ARN, &settings(&endpoint)).unwrap();
        let first = key.sign(b"one").unwrap();
        let task = tokio::task::spawn_blocking(move || key.sign(b"two").unwrap());
        (first, task.await.unwrap())
    });
    verify(&kms.public_pem(), b"one", &signature.0);
    verify(&kms.public_pem(), b"two", &signature.1);
    // And from a current-thread runtime.
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let endpoint = kms.endpoint.clone();
    let third = current.block_on(async move {
        KmsKey::connect(ARN, &settings(&endpoint))
            .unwrap()
            .sign(b"three")
            .unwrap()
    });
    verify(&kms.public_pem(), b"three", &third);
}

#[test]
fn a_kms_key_that_is_not_ed25519_is_refused_before_signing() {
    let kms = StandIn::start("ECC_NIST_P256");
    let err = KmsKey::connect(ARN, &settings(&kms.endpoint)).unwrap_err();
    assert!(
        matches!(&err, SignError::WrongKeySpec { found, .. } if found == "ECC_NIST_P256"),
        "{err}"
    );
    assert_eq!(kms.operations(), ["GetPublicKey"], "nothing was signed");
}

#[test]
fn a_signature_that_does_not_verify_under_the_kms_public_key_is_never_used() {
    let kms = StandIn::start(LYING);
    let key = KmsKey::connect(ARN, &settings(&kms.endpoint)).unwrap();
    let err = key.sign(b"record").unwrap_err();
    assert!(
        matches!(&err, SignError::Invalid { problem, .. } if problem.contains("does not verify")),
        "{err}"
    );
}

#[test]
fn a_message_longer_than_kms_signs_is_refused_not_prehashed() {
    let kms = StandIn::start("ECC_NIST_EDWARDS25519");
    let key = KmsKey::connect(ARN, &settings(&kms.endpoint)).unwrap();
    let err = key.sign(&[b'x'; 4097]).unwrap_err();
    assert!(
        matches!(err, SignError::MessageTooLong { len: 4097 }),
        "{err}"
    );
    assert!(key.sign(&[b'x'; 4096]).is_ok());
    assert_eq!(kms.operations(), ["GetPublicKey", "Sign"]);
}

// ---- End to end through the CLI ------------------------------------------------------------

fn wormvault(dir: &Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("wormvault")
        .unwrap()
        .current_dir(dir)
        .env("WORMVAULT_KMS_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn trust_root_from_kms_and_a_refused_p256_key() {
    let kms = StandIn::start("ECC_NIST_EDWARDS25519");
    let dir = tempfile::tempdir().unwrap();
    let kms_arg = format!("awskms:{ARN}");
    let out = wormvault(
        dir.path(),
        &kms.endpoint,
        &[
            "keys",
            "trust-root",
            "--kms",
            ARN,
            "--key-id",
            "kms-audit",
            "--output",
            "root.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let root: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("root.json")).unwrap())
            .unwrap();
    assert_eq!(root["key_id"], "kms-audit");
    assert_eq!(root["public_key_pem"], kms.public_pem());
    let _ = kms_arg;

    let p256 = StandIn::start("ECC_NIST_P256");
    let out = wormvault(
        dir.path(),
        &p256.endpoint,
        &["keys", "trust-root", "--kms", ARN, "--output", "p256.json"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("ECC_NIST_P256"), "{}", text(&out));
    assert!(!dir.path().join("p256.json").exists());
}

/// LocalStack's KMS: a real ECC_NIST_P256 key goes through GetPublicKey and is refused with
/// the key spec named (LocalStack cannot create ECC_NIST_EDWARDS25519 keys).
#[test]
fn localstack_p256_key_is_refused_with_its_key_spec() {
    let Some(env) = support::require_s3() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let arn = runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&env.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await;
        let client = aws_sdk_kms::Client::new(&config);
        let key = client
            .create_key()
            .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
            .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
            .send()
            .await
            .expect("LocalStack creates an ECC_NIST_P256 key");
        key.key_metadata().unwrap().arn().unwrap().to_string()
    });
    let dir = tempfile::tempdir().unwrap();
    let out = wormvault(
        dir.path(),
        &env.endpoint,
        &["keys", "trust-root", "--kms", &arn, "--output", "root.json"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("ECC_NIST_P256") && said.contains("ECC_NIST_EDWARDS25519"),
        "{said}"
    );
    assert!(!dir.path().join("root.json").exists());
}

/// Records, a checkpoint and receipts signed by `awskms:` (the stand-in) during `archive`, then
/// verified with the trust root `keys trust-root --kms` made — and by `signed_note`.
#[test]
fn archive_signs_records_checkpoint_and_receipts_with_kms_and_they_verify() {
    let kms = StandIn::start("ECC_NIST_EDWARDS25519");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = wormvault(d, &kms.endpoint, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}:\n{}", text(&out));
        out
    };
    run(&["-q", "keys", "generate", "--output-dir", "keys"]);
    run(&[
        "-q",
        "keys",
        "trust-root",
        "--public-key",
        "keys/evidence-ed25519-public.pem",
        "--output",
        "release-root.json",
        "--key-id",
        "release-key",
    ]);
    run(&[
        "-q",
        "keys",
        "trust-root",
        "--kms",
        ARN,
        "--key-id",
        "kms-audit",
        "--output",
        "kms-root.json",
    ]);
    run(&[
        "-q",
        "keys",
        "trust-bundle",
        "release-root.json",
        "kms-root.json",
        "--output",
        "trust.json",
    ]);
    std::fs::create_dir_all(d.join("files")).unwrap();
    std::fs::write(d.join("files/evidence.json"), "{\"release\": \"3.0.0\"}\n").unwrap();
    run(&[
        "-q",
        "bundle",
        "create",
        "files",
        "--output",
        "bundle",
        "--private-key",
        "keys/evidence-ed25519-private.pem",
        "--key-id",
        "release-key",
        "--session-id",
        "kms-1",
    ]);
    let kms_key = format!("awskms:{ARN}");
    let vault = format!("file://{}/vault", d.display());
    run(&[
        "archive",
        "bundle",
        "--trust-root",
        "trust.json",
        "--key-id",
        "release-key",
        "--to",
        &vault,
        "--audit-log",
        "audit.jsonl",
        "--audit-signing-key",
        &kms_key,
        "--audit-key-id",
        "kms-audit",
        "--checkpoint-key",
        &kms_key,
        "--checkpoint-out",
        "checkpoint.txt",
        "--receipts-key",
        &kms_key,
        "--receipts-key-id",
        "kms-audit",
        "--receipts-out",
        "receipts.json",
    ]);
    let signs = kms.operations().iter().filter(|op| *op == "Sign").count();
    assert!(
        signs >= 3,
        "record, checkpoint and receipts signed by KMS: {signs}"
    );

    // The records verify against the pinned trust root only.
    let root: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("kms-root.json")).unwrap()).unwrap();
    std::fs::write(
        d.join("kms-public.pem"),
        root["public_key_pem"].as_str().unwrap(),
    )
    .unwrap();
    run(&[
        "audit",
        "verify",
        "--log",
        "audit.jsonl",
        "--trust-root",
        "trust.json",
        "--checkpoint",
        "checkpoint.txt",
        "--checkpoint-key",
        "kms-public.pem",
    ]);
    let log = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    let record: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(record["signature"]["algorithm"], "Ed25519");
    assert_eq!(record["signature"]["key_id"], "kms-audit");

    // The checkpoint is a C2SP note the independent signed_note crate verifies.
    use ed25519_dalek::pkcs8::DecodePublicKey;
    let public = ed25519_dalek::VerifyingKey::from_public_key_pem(&kms.public_pem()).unwrap();
    let note_text = std::fs::read_to_string(d.join("checkpoint.txt")).unwrap();
    let origin = note_text.lines().next().unwrap().to_string();
    let verifier = signed_note::StandardVerifier::new(
        &wormvault::audit::checkpoint::verifier_key_string(&origin, &public),
    )
    .unwrap();
    let note = signed_note::Note::from_bytes(note_text.as_bytes()).unwrap();
    let (verified, _) = note
        .verify(&signed_note::VerifierList::new(vec![Box::new(verifier)]))
        .expect("signed_note verifies the KMS-signed checkpoint");
    assert_eq!(verified.len(), 1);

    // The receipts' signature verifies against the trust bundle, under the KMS key's id.
    let receipts = wormvault::receipt::ReceiptSet::load(&d.join("receipts.json")).unwrap();
    let trust = wormvault::trust::TrustStore::load(&d.join("trust.json")).unwrap();
    let verified = receipts.verify_signature(&trust).expect("receipts verify");
    assert_eq!(verified.key_id, "kms-audit");

    // The auditor's package built from this session verifies offline against the same roots.
    run(&[
        "-q",
        "handoff",
        "--session",
        "kms-1",
        "--output",
        "handoff.tar.gz",
    ]);
    let out = run(&[
        "--json",
        "handoff",
        "verify",
        "handoff.tar.gz",
        "--trust-root",
        "trust.json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "VERIFIED", "{report}");
}

/// A KMS key the trust root does not pin is refused before anything is written.
#[test]
fn archive_refuses_a_kms_key_the_trust_root_does_not_pin() {
    let kms = StandIn::start("ECC_NIST_EDWARDS25519");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| wormvault(d, &kms.endpoint, args);
    for args in [
        &["-q", "keys", "generate", "--output-dir", "keys"][..],
        &[
            "-q",
            "keys",
            "trust-root",
            "--public-key",
            "keys/evidence-ed25519-public.pem",
            "--output",
            "trust.json",
            "--key-id",
            "release-key",
        ],
    ] {
        assert_eq!(run(args).status.code(), Some(0));
    }
    std::fs::create_dir_all(d.join("files")).unwrap();
    std::fs::write(d.join("files/evidence.json"), "{}\n").unwrap();
    assert_eq!(
        run(&[
            "-q",
            "bundle",
            "create",
            "files",
            "--output",
            "bundle",
            "--private-key",
            "keys/evidence-ed25519-private.pem",
            "--key-id",
            "release-key",
            "--session-id",
            "k2",
        ])
        .status
        .code(),
        Some(0)
    );
    let kms_key = format!("awskms:{ARN}");
    let vault = format!("file://{}/vault", d.display());
    let out = run(&[
        "archive",
        "bundle",
        "--trust-root",
        "trust.json",
        "--key-id",
        "release-key",
        "--to",
        &vault,
        "--audit-log",
        "audit.jsonl",
        "--audit-signing-key",
        &kms_key,
        "--receipts-out",
        "receipts.json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not pinned") || text(&out).contains("trust root"),
        "{}",
        text(&out)
    );
    assert!(
        !d.join("audit.jsonl").exists() || std::fs::read(d.join("audit.jsonl")).unwrap().is_empty()
    );
    assert!(!d.join("receipts.json").exists());
    assert!(
        !kms.operations().iter().any(|op| op == "Sign"),
        "nothing was signed: {:?}",
        kms.operations()
    );
}

/// `audit append --private-key awskms:…` and `audit checkpoint --signing-key awskms:…`: records
/// and a checkpoint signed in KMS verify against the trust root from `keys trust-root --kms`; a
/// record too long for KMS's plain Ed25519 is refused and the log is left as it was.
#[test]
fn audit_append_and_checkpoint_sign_with_kms() {
    let kms = StandIn::start("ECC_NIST_EDWARDS25519");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| wormvault(d, &kms.endpoint, args);
    let kms_key = format!("awskms:{ARN}");
    let ok = |args: &[&str]| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}:\n{}", text(&out));
    };
    ok(&[
        "-q",
        "keys",
        "trust-root",
        "--kms",
        ARN,
        "--key-id",
        "ci-audit",
        "--output",
        "root.json",
    ]);
    for n in 0..3 {
        let target = format!("release-{n}");
        ok(&[
            "audit",
            "append",
            "--log",
            "audit.jsonl",
            "--event-type",
            "evidence.archived",
            "--actor",
            "ci",
            "--action",
            "archive",
            "--target",
            &target,
            "--decision",
            "allowed",
            "--private-key",
            &kms_key,
            "--key-id",
            "ci-audit",
        ]);
    }
    ok(&[
        "audit",
        "checkpoint",
        "--log",
        "audit.jsonl",
        "--origin",
        "example.com/ci-audit",
        "--signing-key",
        &kms_key,
        "--output",
        "cp.txt",
        "--trust-root",
        "root.json",
    ]);
    let root: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("root.json")).unwrap()).unwrap();
    std::fs::write(d.join("kms.pem"), root["public_key_pem"].as_str().unwrap()).unwrap();
    ok(&[
        "audit",
        "verify",
        "--log",
        "audit.jsonl",
        "--trust-root",
        "root.json",
        "--checkpoint",
        "cp.txt",
        "--checkpoint-key",
        "kms.pem",
    ]);
    // Another key's trust root does not verify these records.
    ok(&["-q", "keys", "generate", "--output-dir", "other"]);
    ok(&[
        "-q",
        "keys",
        "trust-root",
        "--public-key",
        "other/evidence-ed25519-public.pem",
        "--key-id",
        "ci-audit",
        "--output",
        "other-root.json",
    ]);
    let out = run(&[
        "audit",
        "verify",
        "--log",
        "audit.jsonl",
        "--trust-root",
        "other-root.json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Too long for KMS RAW signing: refused (exit 2) before the log is touched.
    let before = std::fs::read(d.join("audit.jsonl")).unwrap();
    let metadata = format!("{{\"note\": \"{}\"}}", "x".repeat(5000));
    let out = run(&[
        "audit",
        "append",
        "--log",
        "audit.jsonl",
        "--event-type",
        "evidence.archived",
        "--actor",
        "ci",
        "--action",
        "archive",
        "--target",
        "big",
        "--decision",
        "allowed",
        "--metadata",
        &metadata,
        "--private-key",
        &kms_key,
        "--key-id",
        "ci-audit",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("4096"), "{}", text(&out));
    assert_eq!(std::fs::read(d.join("audit.jsonl")).unwrap(), before);
}

/// `hold set --checkpoint-key awskms:ARN`: the hold checkpoint stored in the target is signed in
/// the KMS, and `hold status` checks it against the KMS key's public half.
#[test]
fn hold_checkpoints_sign_with_kms() {
    let kms = StandIn::start("ECC_NIST_EDWARDS25519");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| wormvault(d, &kms.endpoint, args);
    let ok = |args: &[&str]| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}:\n{}", text(&out));
        out
    };
    ok(&["-q", "demo", "--dir", "demo"]);
    std::fs::write(d.join("kms.pem"), kms.public_pem()).unwrap();
    let prefix = format!("file://{}/demo/vault/demo-release-1/", d.display());
    let kms_key = format!("awskms:{ARN}");
    let keys = [
        "--audit-log",
        "demo/audit.jsonl",
        "--audit-signing-key",
        "demo/keys/evidence-ed25519-private.pem",
    ];
    let set = ok(&[
        &[
            "--json",
            "hold",
            "set",
            &prefix,
            "--case",
            "CASE-K",
            "--reason",
            "litigation",
            "--actor",
            "rm",
            "--checkpoint-key",
            &kms_key,
        ][..],
        &keys,
    ]
    .concat());
    let report: Value = serde_json::from_slice(&set.stdout).unwrap();
    assert!(
        report["anchor"].is_object(),
        "a checkpoint was stored: {report}"
    );
    assert!(
        kms.operations().iter().any(|op| op.ends_with("Sign")),
        "the checkpoint was signed in the KMS: {:?}",
        kms.operations()
    );
    // The stored checkpoint verifies under the KMS key's public half, and not under another key.
    ok(&[
        &["hold", "status", &prefix, "--checkpoint-key", "kms.pem"][..],
        &keys,
    ]
    .concat());
    let other = run(&[
        &[
            "hold",
            "status",
            &prefix,
            "--checkpoint-key",
            "demo/keys/evidence-ed25519-public.pem",
        ][..],
        &keys,
    ]
    .concat());
    assert_ne!(other.status.code(), Some(0), "{}", text(&other));
}
