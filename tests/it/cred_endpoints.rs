//! Credentials go only to endpoints the user named, never over plain HTTP except to a loopback
//! emulator: the KMS endpoint as the SDK resolves it (AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL,
//! the profile), and the STS endpoint the credentials chain would use (web identity, assume-role
//! profiles), are refused before any request, with exit 2 and a message naming the setting.
//!
//! Each test points the refused endpoint at a listener on a non-loopback address of this
//! machine when it has one (and asserts it received no connection), else at 192.0.2.1
//! (TEST-NET-1, documentation only: a request there would hang until a timeout, so the quick
//! refusal shows none was attempted; no duration is asserted).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

const ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555";

/// A listener on a non-loopback address of this machine, and the http:// URL reaching it; or
/// no listener and a documentation address.
fn trap() -> (Option<TcpListener>, String) {
    let ip = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    match ip.and_then(|ip| TcpListener::bind((ip, 0)).ok()) {
        Some(listener) => {
            listener.set_nonblocking(true).unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            (Some(listener), url)
        }
        None => (None, "http://192.0.2.1:9".to_string()),
    }
}

/// wormvault with no AWS_* variables from the test's environment, config files in `dir`.
fn wormvault(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wormvault"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AWS_") || name.starts_with("WORMVAULT_") {
            command.env_remove(&name);
        }
    }
    command
        .current_dir(dir)
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1");
    command
}

/// Run `command`, failing at once if the trap is contacted; assert exit 2 and that stderr names
/// `setting` and says plain HTTP. Returns stderr.
fn refused(
    how: &str,
    mut command: Command,
    listener: &Option<TcpListener>,
    setting: &str,
) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wormvault");
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait for wormvault").is_some() {
            break;
        }
        if let Some(listener) = listener
            && let Ok((_, from)) = listener.accept()
        {
            let _ = child.kill();
            panic!("{how}: the refused endpoint got a connection from {from}");
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("{how}: wormvault did not finish (was a request attempted?)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("collect wormvault output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{how}: {stderr}");
    assert!(stderr.contains(setting), "{how}: names {setting}: {stderr}");
    assert!(stderr.contains("plain HTTP"), "{how}: {stderr}");
    for secret in ["wv-secret-key", "wv-oidc-token", "wv-session-token"] {
        assert!(
            !stderr.contains(secret),
            "{how}: a secret in the output: {stderr}"
        );
    }
    if let Some(listener) = listener {
        assert!(
            listener.accept().is_err(),
            "{how}: the refused endpoint got a connection"
        );
    }
    stderr
}

fn static_keys(command: &mut Command) {
    command
        .env("AWS_ACCESS_KEY_ID", "AKIDWORMVAULTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "wv-secret-key")
        .env("AWS_SESSION_TOKEN", "wv-session-token");
}

/// Finding 1: `keys trust-root --kms` (and so every awskms: signer) refuses a plain-HTTP KMS
/// endpoint from AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL or the profile, and writes no root.
#[test]
fn kms_endpoint_from_the_sdk_chain_is_refused_before_any_request() {
    let (listener, url) = trap();
    let ways: [(&str, &str, &str); 4] = [
        ("AWS_ENDPOINT_URL_KMS", "", "AWS_ENDPOINT_URL_KMS"),
        ("AWS_ENDPOINT_URL", "", "AWS_ENDPOINT_URL"),
        (
            "",
            "endpoint_url = {url}\n",
            "endpoint_url in AWS profile `wv`",
        ),
        (
            "",
            "services = wvs\n[services wvs]\nkms =\n  endpoint_url = {url}\n",
            "services section of AWS profile `wv`",
        ),
    ];
    for (variable, profile, setting) in ways {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("config"),
            format!("[profile wv]\n{}", profile.replace("{url}", &url)),
        )
        .unwrap();
        let mut command = wormvault(d);
        static_keys(&mut command);
        command.env("AWS_PROFILE", "wv");
        if !variable.is_empty() {
            command.env(variable, &url);
        }
        command.args(["keys", "trust-root", "--kms", ARN, "--output", "root.json"]);
        refused(setting, command, &listener, setting);
        assert!(
            !d.join("root.json").exists(),
            "{setting}: a root was written"
        );
    }
}

/// Finding 1, the signing commands: `audit append --private-key awskms:` refuses too.
#[test]
fn kms_signing_key_refuses_a_plain_http_kms_endpoint() {
    let (listener, url) = trap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut command = wormvault(d);
    static_keys(&mut command);
    let key = format!("awskms:{ARN}");
    command.env("AWS_ENDPOINT_URL", &url).args([
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
        "release-1",
        "--decision",
        "allowed",
        "--private-key",
        &key,
        "--key-id",
        "ci-audit",
    ]);
    refused("audit append", command, &listener, "AWS_ENDPOINT_URL");
}

/// Finding 2: with web identity credentials, the STS endpoint from AWS_ENDPOINT_URL_STS,
/// AWS_ENDPOINT_URL or an assume-role profile's `services` section is checked before the chain
/// is built: the OIDC token never goes over plain HTTP. Both for S3 and for KMS.
#[test]
fn sts_endpoint_of_the_credential_chain_is_refused_before_any_request() {
    let (listener, url) = trap();
    for command_kind in ["s3", "kms"] {
        for (variable, profile, setting) in [
            ("AWS_ENDPOINT_URL_STS", "", "AWS_ENDPOINT_URL_STS"),
            ("AWS_ENDPOINT_URL", "", "AWS_ENDPOINT_URL"),
            (
                "",
                "role_arn = arn:aws:iam::000000000000:role/wv\nsource_profile = base\nservices = wvs\n[profile base]\naws_access_key_id = AKIDWORMVAULTTEST\naws_secret_access_key = wv-secret-key\n[services wvs]\nsts =\n  endpoint_url = {url}\n",
                "services section of AWS profile `wv`",
            ),
        ] {
            let how = format!("{command_kind} {setting}");
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            std::fs::write(d.join("token"), "wv-oidc-token").unwrap();
            std::fs::write(
                d.join("config"),
                format!("[profile wv]\n{}", profile.replace("{url}", &url)),
            )
            .unwrap();
            let mut command = wormvault(d);
            command.env("AWS_PROFILE", "wv");
            if variable.is_empty() {
                // The assume-role profile: its source keys sign the AssumeRole.
            } else {
                command
                    .env("AWS_WEB_IDENTITY_TOKEN_FILE", d.join("token"))
                    .env("AWS_ROLE_ARN", "arn:aws:iam::000000000000:role/wv")
                    .env(variable, &url);
            }
            match command_kind {
                "s3" => {
                    // The S3 endpoint itself is a (closed) loopback one: only STS is at fault.
                    command
                        .env("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
                        .args(["target", "check", "s3://wv-sts-test/evidence"]);
                }
                _ => {
                    command
                        .env("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
                        .args(["keys", "trust-root", "--kms", ARN, "--output", "root.json"]);
                }
            }
            let stderr = refused(&how, command, &listener, setting);
            assert!(stderr.contains("STS"), "{how}: {stderr}");
        }
    }
}

/// A plain-HTTP endpoint on loopback is still allowed (emulators): the refusal is not
/// over-broad. The KMS "emulator" here is closed, so the command fails on the connection (exit
/// 2), not on the endpoint check.
#[test]
fn loopback_kms_endpoint_from_the_environment_is_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut command = wormvault(d);
    static_keys(&mut command);
    let out = command
        .env("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
        .args(["keys", "trust-root", "--kms", ARN, "--output", "root.json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("refusing"), "{stderr}");
}

/// Finding 3: a managed identity endpoint (IDENTITY_ENDPOINT) over plain HTTP off loopback and
/// link-local is refused before the credential is built: the identity header never leaves.
#[test]
fn azure_managed_identity_endpoint_off_loopback_is_refused_before_any_request() {
    let (listener, url) = trap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut command = wormvault(d);
    for name in [
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "MSI_ENDPOINT",
    ] {
        command.env_remove(name);
    }
    command
        .env("IDENTITY_ENDPOINT", format!("{url}/msi/token"))
        .env("IDENTITY_HEADER", "wv-secret-key")
        .args([
            "target",
            "check",
            "azure+http://127.0.0.1:9/wvacct/evidence/releases",
        ]);
    refused("IDENTITY_ENDPOINT", command, &listener, "IDENTITY_ENDPOINT");
}
