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

/// Python's `json.dumps` of each double, given as its 64-bit pattern (one process for all).
fn python_reprs(bits: &[u64]) -> Vec<String> {
    const SCRIPT: &str = r#"
import json, struct, sys
data = sys.stdin.buffer.read().split()
out = [json.dumps(struct.unpack("<d", struct.pack("<Q", int(b)))[0]) for b in data]
sys.stdout.write("\n".join(out) + "\n")
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH for the differential test");
    let mut stdin = child.stdin.take().unwrap();
    let input: String = bits.iter().map(|b| format!("{b}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "python3 failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Issue #15 item 1: where two shortest digit strings are equally close to a double, Python's
/// `repr` keeps the even one. 1,000,000 random bit patterns cover every exponent; a further
/// 300,000 doubles come from [1e14, 1e16) and from epoch timestamps with sub-second digits,
/// where such ties are common.
#[test]
fn floats_match_python_repr_across_all_exponents() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut bits = Vec::with_capacity(1_300_000);
    while bits.len() < 1_000_000 {
        let candidate = next();
        if f64::from_bits(candidate).is_finite() {
            bits.push(candidate);
        }
    }
    for _ in 0..150_000 {
        let unit = (next() >> 11) as f64 / (1u64 << 53) as f64;
        bits.push((1e14 + unit * 9e15).to_bits());
        let stamp = 1.7e9 + (next() % 200_000_000) as f64 + (next() % 1_000_000) as f64 / 1e6;
        bits.push(stamp.to_bits());
    }
    for tie in [147_121_842_227_151.13_f64, 1780387041.5039062] {
        bits.push(tie.to_bits());
    }
    // Powers of two and their neighbours: there the rounding interval below is half as wide as
    // the one above, so the nearest shortest string may not round-trip.
    for exponent in 0..2047u64 {
        let power = exponent << 52;
        for bit in [power.saturating_sub(1), power, power + 1] {
            if f64::from_bits(bit).is_finite() && bit != 0 {
                bits.push(bit);
            }
        }
    }
    let expected = python_reprs(&bits);
    assert_eq!(expected.len(), bits.len());
    let mut mismatches = Vec::new();
    for (bit, python) in bits.iter().zip(&expected) {
        let ours = wormvault::canonical::python_float_repr(f64::from_bits(*bit));
        if &ours != python {
            mismatches.push(format!("{bit:#018x}: python {python}, wormvault {ours}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} doubles differ, e.g. {:?}",
        mismatches.len(),
        bits.len(),
        &mismatches[..mismatches.len().min(5)]
    );
    assert_eq!(
        wormvault::canonical::python_float_repr(147_121_842_227_151.13),
        "147121842227151.12"
    );
}

/// Issue #15 item 2: integers beyond 64 bits stay exact in both canonical variants, as Python
/// keeps them, and Python's 4300-digit int-string limit is enforced.
#[test]
fn big_integers_stay_exact_like_python() {
    let four_hundred = format!("9{}", "8".repeat(399));
    let cases = [
        "18446744073709551616".to_string(),
        "100000000000000000000".to_string(),
        "-9223372036854775809".to_string(),
        four_hundred.clone(),
        format!("-{four_hundred}"),
        "-0".to_string(),
        "9223372036854775807".to_string(),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|int| format!(r#"{{"n": {int}, "list": [{int}, 1.5, {int}], "z": {{"k": {int}}}}}"#))
        .collect();
    let mut child = Command::new("python3")
        .args(["-c", PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH");
    let mut stdin = child.stdin.take().unwrap();
    let input = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let python: Vec<&str> = text.lines().collect();
    assert_eq!(python.len(), lines.len() * 2);
    for (index, line) in lines.iter().enumerate() {
        let value = wormvault::canonical::parse_strict(line).unwrap();
        assert_eq!(
            wormvault::canonical::compact(&value),
            python[index * 2],
            "{line}"
        );
        assert_eq!(
            wormvault::canonical::spaced(&value),
            python[index * 2 + 1],
            "{line}"
        );
    }
    assert!(python[0].contains("18446744073709551616"));

    // 4300 digits are accepted (as by Python), 4301 refused with the limit named.
    let at_limit = format!(r#"{{"n": {}}}"#, "7".repeat(4300));
    let value = wormvault::canonical::parse_strict(&at_limit).unwrap();
    assert!(wormvault::canonical::compact(&value).contains(&"7".repeat(4300)));
    let over = format!(r#"{{"n": {}}}"#, "7".repeat(4301));
    let error = wormvault::canonical::parse_strict(&over)
        .unwrap_err()
        .to_string();
    assert!(error.contains("4300"), "{error}");
    let python_refuses = Command::new("python3")
        .args(["-c", "import json,sys; json.loads(sys.argv[1])", &over])
        .output()
        .unwrap();
    assert!(!python_refuses.status.success(), "Python refuses it too");
    // An overflowing float is not evidence (Python would read inf).
    assert!(wormvault::canonical::parse_strict(r#"{"n": 1e400}"#).is_err());
}
