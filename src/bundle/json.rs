//! The on-disk JSON form CAVRA writes for bundle files, trust roots and policies: Python's
//! `json.dumps(value, indent=2, sort_keys=True)` plus a trailing newline. Scalars are rendered
//! by [`crate::canonical`] so escaping (`\uXXXX`, surrogate pairs) and float repr match Python.

use serde_json::Value;

/// `json.dumps(value, indent=2, sort_keys=True) + "\n"`.
pub fn python_indented(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, 0);
    out.push('\n');
    out
}

fn write(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                out.push_str(if index == 0 { "\n" } else { ",\n" });
                indent(out, depth + 1);
                write(out, item, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                out.push_str(if index == 0 { "\n" } else { ",\n" });
                indent(out, depth + 1);
                out.push_str(&crate::canonical::compact(&Value::String(key.clone())));
                out.push_str(": ");
                write(out, item, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
        // Scalars and empty containers (`[]`, `{}`) are the same in every variant.
        other => out.push_str(&crate::canonical::compact(other)),
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_files_are_reproduced_byte_for_byte() {
        for text in [
            include_str!("../../tests/fixtures/cavra/bundle-ed25519/manifest.json"),
            include_str!("../../tests/fixtures/cavra/bundle-ed25519/evidence.json"),
            include_str!("../../tests/fixtures/cavra/bundle-ed25519/retention-policy.json"),
            include_str!("../../tests/fixtures/cavra/keys/evidence-trust-roots.json"),
        ] {
            let value = crate::canonical::parse_strict(text).unwrap();
            assert_eq!(python_indented(&value), text);
        }
    }

    #[test]
    fn empty_containers_and_nesting() {
        let value = serde_json::json!({"b": [], "a": {}, "c": [1, {"z": 0.5, "y": "é"}]});
        assert_eq!(
            python_indented(&value),
            "{\n  \"a\": {},\n  \"b\": [],\n  \"c\": [\n    1,\n    {\n      \"y\": \"\\u00e9\",\n      \"z\": 0.5\n    }\n  ]\n}\n"
        );
    }
}
