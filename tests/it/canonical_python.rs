//! Differential test: random JSON values serialised by `wormvault::canonical` and by Python's
//! `json.dumps` must be byte-identical, in both variants (cavra-compat.md §1).

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::Value;

fn json_string() -> impl Strategy<Value = String> {
    // Mix ASCII, control characters, Latin-1, BMP and astral characters.
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>().prop_filter("printable ascii", |c| c.is_ascii()),
            1 => prop::char::range('\u{80}', '\u{7ff}'),
            1 => prop::char::range('\u{800}', '\u{ffff}'),
            1 => prop::char::range('\u{10000}', '\u{10ffff}'),
            1 => Just('"'), 1 => Just('\\'), 1 => Just('\n'), 1 => Just('\u{7f}'),
        ],
        0..12,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap()),
        (-1000i32..1000, -30i32..30).prop_map(|(m, e)| {
            let f = m as f64 * 10f64.powi(e);
            serde_json::Number::from_f64(f).map(Value::Number).unwrap()
        }),
        Just(serde_json::json!(2.0)),
        Just(serde_json::json!(1e16)),
        Just(serde_json::json!(1.5e-7)),
        Just(serde_json::json!(-0.0)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const PYTHON: &str = r#"
import json, sys
for line in sys.stdin:
    value = json.loads(line)
    print(json.dumps(value, sort_keys=True, separators=(",", ":")))
    print(json.dumps(value, sort_keys=True))
"#;

#[test]
fn canonical_json_matches_python_json_dumps() {
    let mut runner = TestRunner::deterministic();
    let strategy = json_value();
    let values: Vec<Value> = (0..2000)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect();

    let mut child = Command::new("python3")
        .args(["-c", PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH for the differential test");
    // Feed stdin from a thread: Python answers line by line, so writing everything before
    // reading would deadlock once both pipe buffers fill.
    let mut stdin = child.stdin.take().unwrap();
    let input: Vec<String> = values
        .iter()
        .map(|v| serde_json::to_string(v).unwrap())
        .collect();
    let writer = std::thread::spawn(move || {
        for line in input {
            // serde_json writes floats with round-trip precision, so Python parses the same f64.
            writeln!(stdin, "{line}").unwrap();
        }
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "python3 failed");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), values.len() * 2);
    for (index, value) in values.iter().enumerate() {
        assert_eq!(
            wormvault::canonical::compact(value),
            lines[index * 2],
            "compact, value #{index}: {value:?}"
        );
        assert_eq!(
            wormvault::canonical::spaced(value),
            lines[index * 2 + 1],
            "spaced, value #{index}: {value:?}"
        );
    }
}

#[test]
fn spec_vector_audit_record_hash() {
    // cavra-compat.md §2, record 1: the compact canonical JSON hashes to the published value.
    let record = serde_json::json!({
        "schema_version": "cavra.audit-log.event.v1", "sequence": 1,
        "created_at": "2026-07-04T00:00:01+00:00", "event_type": "runtime.decision",
        "actor": "agent:claude-code", "action": "write_file", "target": "iam/admin-role.tf",
        "decision": "require_approval", "tenant_id": "tenant-a", "workspace_id": "workspace-prod",
        "evidence_refs": ["evidence://session-1"], "metadata": {}, "previous_hash": null
    });
    assert_eq!(
        wormvault::hashing::sha256_hex(wormvault::canonical::compact(&record).as_bytes()),
        "95d1c19d96c2828e39829f4e0ca1536db8bc6cce4795dce1acb657084cdb8034"
    );
}
