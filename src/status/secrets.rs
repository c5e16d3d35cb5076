//! Secret detection for anything wormvault prints about a tenant's audit store: the rule CAVRA
//! applies to operating-status payloads (cavra-compat.md §6) — a key named like a credential
//! (api_key, authorization, client_secret, password, private_key, secret, signing_key, token,
//! webhook_secret), or a value that looks like a GitHub, Stripe or Slack token or a PEM private
//! key. Output is scanned before it is printed; a hit refuses the output, naming where the hit
//! is and why, never the value.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

/// Key names CAVRA treats as secrets.
pub const SECRET_KEY_NAMES: [&str; 9] = [
    "api_key",
    "authorization",
    "client_secret",
    "password",
    "private_key",
    "secret",
    "signing_key",
    "token",
    "webhook_secret",
];

/// Value shapes of well-known credentials.
static SECRET_VALUES: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    let patterns: [(&'static str, &str); 6] = [
        // Classic and fine-grained GitHub tokens (ghp_ personal, gho_ OAuth, ghu_/ghs_ app, ghr_ refresh).
        ("GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
        ("GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
        // Stripe secret and restricted keys, and webhook signing secrets.
        ("Stripe key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"),
        ("Stripe key", r"\bwhsec_[A-Za-z0-9]{16,}"),
        // Slack bot/user/app/refresh tokens and incoming-webhook URLs.
        (
            "Slack token",
            r"\bxox[abposr]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+",
        ),
        // Any PEM private key block (PKCS#8, RSA, EC, OpenSSH, encrypted).
        (
            "PEM private key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----",
        ),
    ];
    patterns
        .into_iter()
        .filter_map(|(name, pattern)| Regex::new(pattern).ok().map(|regex| (name, regex)))
        .collect()
});

/// Where a secret-looking thing is and why it looks like one (never the value itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretHit {
    /// JSON path, e.g. `$.checks[2].details.token`, or `text` for plain output.
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for SecretHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Is this key name a credential's? Case, `-`/`.`/space separators and camelCase do not matter;
/// a name matches when it is one of [`SECRET_KEY_NAMES`] or ends with one after a separator
/// (`github_token`, `X-Api-Key`, `clientSecret`), so `token_count` or `secret_ref` do not.
pub fn is_secret_key(name: &str) -> bool {
    let mut normalised = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            normalised.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        normalised.push(match c {
            '-' | '.' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        });
    }
    SECRET_KEY_NAMES
        .iter()
        .any(|secret| normalised == *secret || normalised.ends_with(&format!("_{secret}")))
}

/// The kind of credential a string looks like, if any.
pub fn secret_value_kind(text: &str) -> Option<&'static str> {
    SECRET_VALUES
        .iter()
        .find(|(_, regex)| regex.is_match(text))
        .map(|(name, _)| *name)
}

/// Every secret-looking key or value in a JSON document.
pub fn scan_value(value: &Value) -> Vec<SecretHit> {
    let mut hits = Vec::new();
    walk(value, "$".to_string(), &mut hits);
    hits
}

fn walk(value: &Value, path: String, hits: &mut Vec<SecretHit>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = format!("{path}.{key}");
                // A credential-named key with an empty value carries nothing.
                let empty =
                    matches!(child, Value::Null) || child.as_str().is_some_and(str::is_empty);
                if is_secret_key(key) && !empty {
                    hits.push(SecretHit {
                        path: child_path.clone(),
                        reason: format!("key {key:?} names a credential"),
                    });
                }
                walk(child, child_path, hits);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                walk(child, format!("{path}[{index}]"), hits);
            }
        }
        Value::String(text) => {
            if let Some(kind) = secret_value_kind(text) {
                hits.push(SecretHit {
                    path,
                    reason: format!("value looks like a {kind}"),
                });
            }
        }
        _ => {}
    }
}

/// Secret-looking values in plain text (human output).
pub fn scan_text(text: &str) -> Vec<SecretHit> {
    secret_value_kind(text)
        .map(|kind| SecretHit {
            path: "text".into(),
            reason: format!("text contains what looks like a {kind}"),
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credential_key_names_are_detected_in_any_spelling() {
        for name in [
            "api_key",
            "API_KEY",
            "x-api-key",
            "apiKey",
            "authorization",
            "Authorization",
            "client_secret",
            "clientSecret",
            "password",
            "db_password",
            "private_key",
            "secret",
            "signing_key",
            "token",
            "github_token",
            "accessToken",
            "webhook_secret",
            "slack.webhook_secret",
        ] {
            assert!(is_secret_key(name), "{name} should be a secret key name");
        }
        for name in [
            "token_count",
            "secret_ref",
            "key_id",
            "signature",
            "receipts_sha256",
            "retain_until",
            "passwords_rotated_at",
            "tokenizer",
            "name",
        ] {
            assert!(
                !is_secret_key(name),
                "{name} should not be a secret key name"
            );
        }
    }

    #[test]
    fn credential_values_are_detected() {
        let cases = [
            (format!("ghp_{}", "a1B2".repeat(9)), "GitHub token"),
            (format!("gho_{}", "Z".repeat(36)), "GitHub token"),
            (format!("github_pat_{}", "11ABCDEFG0_".repeat(4)), "GitHub token"),
            (format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc"), "Stripe key"),
            (format!("rk_test_{}", "x".repeat(24)), "Stripe key"),
            (format!("whsec_{}", "q".repeat(32)), "Stripe key"),
            (format!("xoxb-{}-{}", "123456789012", "abcdefABCDEF"), "Slack token"),
            ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX".to_string(), "Slack token"),
            ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI...\n-----END PRIVATE KEY-----\n".to_string(), "PEM private key"),
            ("-----BEGIN RSA PRIVATE KEY-----".to_string(), "PEM private key"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----".to_string(), "PEM private key"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----".to_string(), "PEM private key"),
            (format!("header then ghs_{} trailer", "k".repeat(36)), "GitHub token"),
        ];
        for (value, kind) in cases {
            assert_eq!(secret_value_kind(&value), Some(kind), "{value}");
        }
    }

    #[test]
    fn ordinary_values_are_not_secrets() {
        for value in [
            "-----BEGIN PUBLIC KEY-----",
            "ghp_short",
            "sk_live_",
            "a06d76bc8ac9461c7fd84c8f493dc5d33735393e905eb228655a2ef742692896",
            "rrM+M3+ZqWNULb7Rv80SCLRYJ6ClLdG7o1X8fLolaaA=",
            "file:///tmp/vault",
            "s3://bucket/prefix",
            "task_live_events",
            "xoxb-",
        ] {
            assert_eq!(secret_value_kind(value), None, "{value}");
        }
    }

    #[test]
    fn scan_names_paths_not_values() {
        let document = json!({
            "status": "ready",
            "checks": [
                {"name": "store_health", "details": {"token": "abc", "count": 3}},
                {"name": "x", "reason": format!("leaked sk_test_{}", "9".repeat(20))},
            ],
            "password": "",
            "secret": null,
        });
        let hits = scan_value(&document);
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert_eq!(hits[0].path, "$.checks[0].details.token");
        assert_eq!(hits[1].path, "$.checks[1].reason");
        assert!(
            hits.iter()
                .all(|h| !h.reason.contains("abc") && !h.reason.contains("9999"))
        );
        assert!(scan_value(&json!({"status": "ready", "checks": []})).is_empty());
        assert_eq!(
            scan_text(&format!("reason: xoxp-{}", "1".repeat(20))).len(),
            1
        );
        assert!(scan_text("all six checks ready").is_empty());
    }
}
