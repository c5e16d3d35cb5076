//! Python-compatible canonical JSON: byte-for-byte what `json.dumps(value, sort_keys=True)`
//! writes, in CAVRA's two variants (cavra-compat.md §1).
//!
//! * [`compact`] — separators `,` and `:` (audit-record hashes and HMACs);
//! * [`spaced`] — separators `, ` and `: ` (manifest signatures, stored audit lines).
//!
//! Both sort object keys recursively by code point (Rust's byte order on UTF-8 strings is the
//! same order), escape every character outside printable ASCII as `\uXXXX` with lowercase hex
//! (UTF-16 surrogate pairs above U+FFFF, as Python's default `ensure_ascii=True` does), write
//! floats as Python's `repr` does (shortest round-trip digits, ties to the even one), and keep
//! integers of any size exact as Python's `int` does (serde_json's `arbitrary_precision` keeps
//! the literal text; Python's 4300-digit limit is enforced by [`parse_strict`]). serde_json does
//! neither the escaping nor the float repr that way, so this module writes the text itself.

use serde_json::Value;

/// `json.dumps(value, sort_keys=True, separators=(",", ":"))`.
pub fn compact(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, ",", ":");
    out
}

/// `json.dumps(value, sort_keys=True)` (default separators `", "` and `": "`).
pub fn spaced(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, ", ", ": ");
    out
}

fn write_value(out: &mut String, value: &Value, item_sep: &str, key_sep: &str) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(item_sep);
                }
                write_value(out, item, item_sep, key_sep);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's Map is a BTreeMap here (no `preserve_order`), but sort explicitly so
            // a feature flag elsewhere in the dependency graph can never change the bytes.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push_str(item_sep);
                }
                write_string(out, key);
                out.push_str(key_sep);
                write_value(out, item, item_sep, key_sep);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, number: &serde_json::Number) {
    // With serde_json's `arbitrary_precision` (enabled in Cargo.toml) a parsed number keeps its
    // literal text, so integers of any size reach here exact; numbers built in Rust print as
    // itoa / ryu text. Either way the text tells an integer (Python `int`) from a float.
    let text = number.to_string();
    if is_float_text(&text) {
        match text.parse::<f64>() {
            Ok(float) => out.push_str(&python_float_repr(float)),
            // Not reachable: every Number holds valid JSON number text.
            Err(_) => out.push_str(&text),
        }
    } else {
        out.push_str(python_int_text(&text));
    }
}

/// Whether JSON number text is a float for Python's `json` (a fraction or an exponent).
pub(crate) fn is_float_text(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// `repr(int(text))` for JSON integer text: the digits as given (JSON allows no leading zeros),
/// except that `-0` is `0`.
pub(crate) fn python_int_text(text: &str) -> &str {
    if text
        .strip_prefix('-')
        .is_some_and(|digits| digits.bytes().all(|b| b == b'0'))
    {
        "0"
    } else {
        text
    }
}

/// Python's default limit on the digits of an integer read from text (`sys.int_info.
/// default_max_str_digits`): `json.loads` refuses a longer integer literal, so CAVRA cannot
/// have written or verified one, and wormvault refuses it too.
pub const MAX_INT_DIGITS: usize = 4300;

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed notation when the
/// decimal exponent is in -4 < e < 16 (always with a `.0` for integral values), otherwise in
/// scientific notation with a sign and at least two exponent digits (`1e+16`, `1.5e-07`).
/// Non-finite values are written as Python's `json.dumps` does (`NaN`, `Infinity`).
pub fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    let magnitude = value.abs();
    if magnitude == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, exponent) = shortest_digits(magnitude);
    // Python's decpt: value = 0.d1d2... * 10^decpt.
    let decpt = exponent + 1;
    let count = digits.len() as i32;
    let body = if decpt > -4 && decpt <= 16 {
        if decpt <= 0 {
            format!("0.{}{}", "0".repeat((-decpt) as usize), digits)
        } else if decpt >= count {
            format!("{}{}.0", digits, "0".repeat((decpt - count) as usize))
        } else {
            let (int_part, frac_part) = digits.split_at(decpt as usize);
            format!("{int_part}.{frac_part}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{first}{fraction}e{exp_sign}{:02}", exponent.abs())
    };
    format!("{sign}{body}")
}

/// The shortest decimal digits that round-trip to `magnitude` (finite, > 0) and the decimal
/// exponent of the first digit, chosen as Python's `repr` (David Gay's `dtoa` mode 0) chooses:
/// of the shortest digit strings that read back as the same double, the one nearest the exact
/// binary value, ties to an even last digit.
///
/// Rust's `{:e}` gives the right *length* but, when two strings of that length are equally close
/// (147121842227151.125 lies exactly between …151.12 and …151.13), it may pick the upper one.
/// Rust's fixed-precision `{:.N$e}` rounds the exact binary value half to even, so formatting
/// with the shortest length and keeping that result when it round-trips gives Python's choice;
/// when it does not round-trip (at a power of two the interval below is half as wide), the
/// nearest digits are not admissible and the shortest-mode digits are the only candidate.
fn shortest_digits(magnitude: f64) -> (String, i32) {
    fn split(scientific: &str) -> (String, i32) {
        let (mantissa, exponent) = scientific
            .split_once('e')
            .unwrap_or_else(|| unreachable!("Rust's {{:e}} float format always contains 'e'"));
        let exponent: i32 = exponent
            .parse()
            .unwrap_or_else(|_| unreachable!("Rust's {{:e}} exponent is an integer"));
        (mantissa.chars().filter(|c| *c != '.').collect(), exponent)
    }
    let shortest = format!("{magnitude:e}");
    let (digits, exponent) = split(&shortest);
    if digits.len() < 2 {
        return (digits, exponent);
    }
    let nearest = format!("{magnitude:.*e}", digits.len() - 1);
    if nearest != shortest && nearest.parse::<f64>() == Ok(magnitude) {
        let (mut nearest_digits, nearest_exponent) = split(&nearest);
        // A round-tripping string of this length cannot end in 0 (a shorter one would then
        // round-trip too); trimming is only a guard.
        while nearest_digits.len() > 1 && nearest_digits.ends_with('0') {
            nearest_digits.pop();
        }
        return (nearest_digits, nearest_exponent);
    }
    (digits, exponent)
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            // Python's ESCAPE_ASCII keeps exactly ' '..='~' literal.
            ' '..='~' => out.push(ch),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Parse JSON text strictly for evidence: rejects duplicate object keys (Python would silently
/// keep the last one, which lets two readers see different records), and `NaN`/`Infinity`
/// (not JSON). Nesting depth is bounded by serde_json's recursion limit (128).
pub fn parse_strict(text: &str) -> Result<Value, serde_json::Error> {
    use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct Strict(Value);

    impl<'de> Deserialize<'de> for Strict {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(StrictVisitor)
        }
    }

    struct StrictVisitor;

    impl<'de> Visitor<'de> for StrictVisitor {
        type Value = Strict;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
            Ok(Strict(Value::Bool(v)))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
            Ok(Strict(Value::from(v)))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
            Ok(Strict(Value::from(v)))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Strict, E> {
            serde_json::Number::from_f64(v)
                .map(|n| Strict(Value::Number(n)))
                .ok_or_else(|| E::custom("non-finite number"))
        }
        fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
            Ok(Strict(Value::String(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Strict, E> {
            Ok(Strict(Value::String(v)))
        }
        fn visit_unit<E>(self) -> Result<Strict, E> {
            Ok(Strict(Value::Null))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
            let mut items = Vec::new();
            while let Some(Strict(item)) = seq.next_element()? {
                items.push(item);
            }
            Ok(Strict(Value::Array(items)))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
            let mut object = serde_json::Map::new();
            let mut first = true;
            while let Some(key) = map.next_key::<String>()? {
                if first && key == NUMBER_TOKEN {
                    // serde_json's `arbitrary_precision` hands every number to `visit_map` as
                    // this one-entry map holding the literal text.
                    let text: String = map.next_value()?;
                    return number_from_text(&text)
                        .map(Strict)
                        .map_err(A::Error::custom);
                }
                first = false;
                if object.contains_key(&key) {
                    return Err(A::Error::custom(format!("duplicate object key {key:?}")));
                }
                let Strict(value) = map.next_value()?;
                object.insert(key, value);
            }
            Ok(Strict(Value::Object(object)))
        }
    }

    /// serde_json's private marker for a number under `arbitrary_precision`.
    const NUMBER_TOKEN: &str = "$serde_json::private::Number";

    fn number_from_text(text: &str) -> Result<Value, String> {
        if is_float_text(text) {
            // Python reads an overflowing literal as inf, which is not JSON evidence.
            if !text.parse::<f64>().is_ok_and(f64::is_finite) {
                return Err(format!("number {text} is out of range for a double"));
            }
        } else {
            let digits = text.trim_start_matches('-').len();
            if digits > MAX_INT_DIGITS {
                return Err(format!(
                    "integer literal of {digits} digits exceeds the limit of {MAX_INT_DIGITS} digits (Python's int-string limit)"
                ));
            }
        }
        serde_json::from_str::<serde_json::Number>(text)
            .map(Value::Number)
            .map_err(|e| format!("number {text}: {e}"))
    }

    let mut deserializer = serde_json::Deserializer::from_str(text);
    let Strict(value) = Strict::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    // The literals are test vectors of Python's repr, digits as written on purpose (3.14 is not
    // π, and the tie cases carry more digits than a double holds).
    #[allow(clippy::approx_constant, clippy::excessive_precision)]
    fn floats_match_python_repr() {
        let cases = [
            (0.5, "0.5"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (2.0, "2.0"),
            (-0.0, "-0.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e15, "1000000000000000.0"),
            (123456789.125, "123456789.125"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-2.5e22, "-2.5e+22"),
            (3.14, "3.14"),
            // Ties between two shortest strings: Python keeps the even last digit.
            (147_121_842_227_151.13, "147121842227151.12"),
            (1780387041.5039062, "1780387041.5039062"),
            (-147_121_842_227_151.13, "-147121842227151.12"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float_repr(value), expected, "repr of {value:e}");
        }
    }

    #[test]
    fn strings_escape_like_ensure_ascii() {
        let value = json!({"k": "é\u{1F600}\"\\/\n\r\t\u{08}\u{0c}\u{01}\u{7f}~"});
        assert_eq!(
            compact(&value),
            r#"{"k":"\u00e9\ud83d\ude00\"\\/\n\r\t\b\f\u0001\u007f~"}"#
        );
    }

    #[test]
    fn keys_sorted_recursively_and_separators() {
        let value = json!({"b": [1, {"z": null, "a": true}], "a": {}, "é": [], "Z": 1.0});
        assert_eq!(
            compact(&value),
            r#"{"Z":1.0,"a":{},"b":[1,{"a":true,"z":null}],"\u00e9":[]}"#
        );
        assert_eq!(
            spaced(&value),
            r#"{"Z": 1.0, "a": {}, "b": [1, {"a": true, "z": null}], "\u00e9": []}"#
        );
    }

    #[test]
    fn keys_sort_by_code_point_not_utf16() {
        // Python compares code points, so U+FF5E < U+1F600; UTF-16 order would put the
        // surrogate pair (0xD83D...) first.
        let value = json!({"\u{1F600}": 1, "\u{FF5E}": 2});
        assert_eq!(compact(&value), r#"{"\uff5e":2,"\ud83d\ude00":1}"#);
    }

    #[test]
    fn strict_parse_rejects_duplicates_and_trailing() {
        assert!(
            parse_strict(r#"{"a":1,"a":2}"#)
                .unwrap_err()
                .to_string()
                .contains("duplicate")
        );
        assert!(parse_strict(r#"{"a":1} x"#).is_err());
        assert!(parse_strict("NaN").is_err());
        assert_eq!(
            parse_strict(r#"{"a":[1,2.5]}"#).unwrap(),
            json!({"a":[1,2.5]})
        );
    }
}
