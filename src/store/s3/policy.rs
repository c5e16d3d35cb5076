//! Judging a bucket policy: does it deny every request made without TLS? LocalStack stores bucket
//! policies without enforcing them (emulators.md), and AWS accepts any policy, so wormvault reads
//! the policy document and checks the statement itself.
//!
//! The statement that counts (AWS S3 user guide, "Enforce encryption of data in transit";
//! IAM JSON reference for `Bool` and `aws:SecureTransport`):
//! `Effect: Deny`, `Principal: "*"` (or `{"AWS": "*"}`), `Action` `s3:*` or `*`, `Resource`
//! covering both the bucket ARN and its objects (`arn:<partition>:s3:::bucket` and `.../*`, or
//! `*`), and a `Condition` that is exactly `Bool` (or `BoolIfExists`) `aws:SecureTransport` =
//! `false`. Statements using `NotPrincipal`, `NotAction` or `NotResource`, or carrying further
//! conditions, deny less than everything and are not accepted.

use serde_json::Value;

/// Either the `Sid` (or index) of the statement that denies insecure transport, or why none does.
pub fn denies_insecure_transport(policy_json: &str, bucket: &str) -> Result<String, String> {
    let policy: Value = serde_json::from_str(policy_json)
        .map_err(|e| format!("the bucket policy is not valid JSON ({e})"))?;
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => return Err("the bucket policy has no Statement".into()),
    };
    let mut reasons = Vec::new();
    for (index, statement) in statements.iter().enumerate() {
        let name = statement
            .get("Sid")
            .and_then(Value::as_str)
            .map(|sid| format!("statement {sid:?}"))
            .unwrap_or_else(|| format!("statement #{index}"));
        match judge_statement(statement, bucket) {
            Ok(()) => return Ok(name),
            Err(StatementMiss::NotDeny) => {}
            Err(StatementMiss::Other(reason)) => reasons.push(format!("{name}: {reason}")),
        }
    }
    if reasons.is_empty() {
        Err("no Deny statement in the bucket policy".into())
    } else {
        Err(format!(
            "no Deny statement covers every non-TLS request ({})",
            reasons.join("; ")
        ))
    }
}

enum StatementMiss {
    NotDeny,
    Other(String),
}

/// A JSON string or array of strings, as IAM allows for Action, Resource and principals.
fn strings(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

fn judge_statement(statement: &Value, bucket: &str) -> Result<(), StatementMiss> {
    let other = |reason: &str| Err(StatementMiss::Other(reason.to_string()));
    if statement.get("Effect").and_then(Value::as_str) != Some("Deny") {
        return Err(StatementMiss::NotDeny);
    }
    for inverted in ["NotPrincipal", "NotAction", "NotResource"] {
        if statement.get(inverted).is_some() {
            return other(&format!(
                "uses {inverted}, which denies less than every request"
            ));
        }
    }
    let everyone = match statement.get("Principal") {
        Some(Value::String(p)) => p == "*",
        Some(Value::Object(map)) => map
            .get("AWS")
            .and_then(strings)
            .is_some_and(|p| p.contains(&"*")),
        _ => false,
    };
    if !everyone {
        return other("Principal is not \"*\"");
    }
    // IAM action names are case-insensitive.
    let all_actions = statement
        .get("Action")
        .and_then(strings)
        .is_some_and(|actions| {
            actions
                .iter()
                .any(|a| *a == "*" || a.eq_ignore_ascii_case("s3:*"))
        });
    if !all_actions {
        return other("Action is not s3:* or *");
    }
    let resources = statement
        .get("Resource")
        .and_then(strings)
        .unwrap_or_default();
    let covers = |wanted_suffix: &str| {
        resources.iter().any(|r| {
            *r == "*"
                || r.strip_prefix("arn:")
                    .and_then(|rest| rest.split_once(':'))
                    .is_some_and(|(_partition, rest)| {
                        rest == format!("s3:::{bucket}{wanted_suffix}")
                    })
        })
    };
    if !covers("") || !covers("/*") {
        return other(&format!(
            "Resource does not cover both arn:aws:s3:::{bucket} and arn:aws:s3:::{bucket}/*"
        ));
    }
    let Some(Value::Object(condition)) = statement.get("Condition") else {
        return other("no Condition on aws:SecureTransport");
    };
    if condition.len() != 1 {
        return other(
            "Condition has operators besides Bool aws:SecureTransport, which narrow the deny",
        );
    }
    let (operator, keys) = condition.iter().next().expect("one entry, checked above");
    if operator != "Bool" && operator != "BoolIfExists" {
        return other(&format!("Condition operator is {operator}, not Bool"));
    }
    let Value::Object(keys) = keys else {
        return other("Condition Bool is not an object");
    };
    if keys.len() != 1 {
        return other(
            "Condition Bool tests keys besides aws:SecureTransport, which narrow the deny",
        );
    }
    let (key, value) = keys.iter().next().expect("one entry, checked above");
    // Condition key names are case-insensitive (IAM JSON reference, "Condition").
    if !key.eq_ignore_ascii_case("aws:SecureTransport") {
        return other(&format!("Condition tests {key}, not aws:SecureTransport"));
    }
    let is_false = |v: &Value| {
        matches!(v, Value::Bool(false))
            || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("false"))
    };
    let matches_false = match value {
        Value::Array(items) => !items.is_empty() && items.iter().all(is_false),
        single => is_false(single),
    };
    if !matches_false {
        return other("Condition aws:SecureTransport is not \"false\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(statement: serde_json::Value) -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
    }

    fn tls_statement() -> serde_json::Value {
        serde_json::json!({
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::evidence", "arn:aws:s3:::evidence/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        })
    }

    #[test]
    fn accepts_the_standard_tls_deny() {
        assert_eq!(
            denies_insecure_transport(&policy(tls_statement()), "evidence").unwrap(),
            "statement \"DenyInsecureTransport\""
        );
        // Variants IAM treats the same way.
        let mut variant = tls_statement();
        variant["Principal"] = serde_json::json!({"AWS": ["*"]});
        variant["Action"] = serde_json::json!(["S3:*"]);
        variant["Resource"] = serde_json::json!("*");
        variant["Condition"] = serde_json::json!({"BoolIfExists": {"aws:securetransport": false}});
        assert!(denies_insecure_transport(&policy(variant), "evidence").is_ok());
        // A single statement object instead of an array, in another partition.
        let mut single = tls_statement();
        single["Resource"] =
            serde_json::json!(["arn:aws-cn:s3:::evidence", "arn:aws-cn:s3:::evidence/*"]);
        let doc = serde_json::json!({"Statement": single}).to_string();
        assert!(denies_insecure_transport(&doc, "evidence").is_ok());
    }

    #[test]
    fn rejects_statements_that_deny_less() {
        let cases: Vec<(&str, Box<dyn Fn(&mut serde_json::Value)>)> = vec![
            ("Allow", Box::new(|s| s["Effect"] = "Allow".into())),
            (
                "Principal",
                Box::new(|s| s["Principal"] = serde_json::json!({"AWS": "arn:aws:iam::1:root"})),
            ),
            ("Action", Box::new(|s| s["Action"] = "s3:GetObject".into())),
            (
                "objects only",
                Box::new(|s| s["Resource"] = "arn:aws:s3:::evidence/*".into()),
            ),
            (
                "other bucket",
                Box::new(|s| {
                    s["Resource"] =
                        serde_json::json!(["arn:aws:s3:::other", "arn:aws:s3:::other/*"])
                }),
            ),
            (
                "true",
                Box::new(|s| {
                    s["Condition"] = serde_json::json!({"Bool": {"aws:SecureTransport": "true"}})
                }),
            ),
            (
                "narrowed",
                Box::new(|s| {
                    s["Condition"]["StringEquals"] =
                        serde_json::json!({"aws:PrincipalAccount": "1"})
                }),
            ),
            (
                "no condition",
                Box::new(|s| {
                    s.as_object_mut().unwrap().remove("Condition");
                }),
            ),
            (
                "NotAction",
                Box::new(|s| s["NotAction"] = "s3:GetObject".into()),
            ),
        ];
        for (name, mutate) in cases {
            let mut statement = tls_statement();
            mutate(&mut statement);
            assert!(
                denies_insecure_transport(&policy(statement), "evidence").is_err(),
                "{name} should not count"
            );
        }
        assert!(
            denies_insecure_transport("{not json", "evidence")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            denies_insecure_transport("{}", "evidence")
                .unwrap_err()
                .contains("no Statement")
        );
    }
}
