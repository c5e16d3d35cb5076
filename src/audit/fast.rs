//! The verification fast path: re-serialise one record line into CAVRA's compact canonical JSON
//! in a single pass over its bytes, without building a JSON tree (cavra-compat.md §1–2).
//!
//! It *is* a re-serialisation — every string is decoded and re-escaped, every number re-written,
//! whitespace dropped — so it never trusts the stored bytes. It declines (returns `None`) whenever
//! doing the same as `canonical::compact(parse_strict(line))` would need more than one pass: keys
//! not in strictly increasing order (CAVRA always writes them sorted; unsorted keys or duplicates
//! go to the tree path, which reports duplicates), integers longer than 18 digits, `-0`, lone
//! surrogates, invalid JSON. The caller then takes the tree path, so results are identical;
//! `tests::matches_tree_path` checks that differentially.

use crate::canonical::python_float_repr;

/// serde_json's default recursion limit.
const MAX_DEPTH: usize = 128;

/// The canonical pieces of one record, as the verifier needs them.
#[derive(Debug, Default)]
pub struct CanonicalRecord {
    /// Compact canonical JSON of the record without `record_hash` and `signature`.
    pub payload: Vec<u8>,
    /// Byte offset in `payload` where `"record_hash":…` goes for the signed payload.
    pub insert_at: usize,
    /// Members before / after that offset (decides the commas around the insertion).
    pub members_before: usize,
    pub members_after: usize,
    /// Canonical texts of the top-level fields the checks look at (`None` = absent).
    pub schema_version: Option<String>,
    pub sequence: Option<String>,
    pub previous_hash: Option<String>,
    pub record_hash: Option<String>,
    pub signature: Option<String>,
}

impl CanonicalRecord {
    /// The three pieces of the signed payload: prefix, the inserted member, suffix.
    pub fn signed_parts<'a>(&'a self, record_hash: &str) -> (&'a [u8], String, &'a [u8]) {
        let member = format!("\"record_hash\":\"{record_hash}\"");
        let inserted = if self.members_before > 0 {
            format!(",{member}")
        } else if self.members_after > 0 {
            format!("{member},")
        } else {
            member
        };
        (&self.payload[..self.insert_at], inserted, &self.payload[self.insert_at..])
    }
}

/// Re-serialise a record line, or `None` to take the tree path.
pub fn canonical_record(line: &str, scratch: &mut Vec<u8>) -> Option<CanonicalRecord> {
    let mut parser = Parser { input: line.as_bytes(), pos: 0 };
    let mut record = CanonicalRecord::default();
    let out = &mut record.payload;
    out.reserve(line.len());
    parser.skip_ws();
    parser.expect(b'{')?;
    out.push(b'{');
    parser.skip_ws();
    let mut previous_key: Vec<u8> = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut members = 0usize;
    let mut seen_any = false;
    let mut inserted = false;
    if parser.peek() == Some(b'}') {
        parser.pos += 1;
    } else {
        loop {
            parser.skip_ws();
            key.clear();
            parser.string_decoded(&mut key)?;
            if seen_any && key <= previous_key {
                return None;
            }
            seen_any = true;
            parser.skip_ws();
            parser.expect(b':')?;
            parser.skip_ws();
            let name = key.as_slice();
            if name == b"record_hash" || name == b"signature" {
                scratch.clear();
                parser.value(scratch, 1)?;
                let text = String::from_utf8(scratch.clone()).ok()?;
                if name == b"record_hash" {
                    record.record_hash = Some(text);
                } else {
                    record.signature = Some(text);
                }
            } else {
                if !inserted && name > b"record_hash".as_slice() {
                    record.insert_at = out.len();
                    record.members_before = members;
                    inserted = true;
                }
                if members > 0 {
                    out.push(b',');
                }
                write_string(out, std::str::from_utf8(name).ok()?);
                out.push(b':');
                let start = out.len();
                parser.value(out, 1)?;
                members += 1;
                let capture = match name {
                    b"schema_version" => Some(&mut record.schema_version),
                    b"sequence" => Some(&mut record.sequence),
                    b"previous_hash" => Some(&mut record.previous_hash),
                    _ => None,
                };
                if let Some(slot) = capture {
                    *slot = Some(String::from_utf8(out[start..].to_vec()).ok()?);
                }
            }
            std::mem::swap(&mut previous_key, &mut key);
            parser.skip_ws();
            match parser.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    if !inserted {
        record.insert_at = out.len();
        record.members_before = members;
    }
    record.members_after = members - record.members_before;
    out.push(b'}');
    parser.skip_ws();
    (parser.pos == parser.input.len()).then_some(record)
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn literal(&mut self, text: &[u8], out: &mut Vec<u8>) -> Option<()> {
        if self.input.get(self.pos..self.pos + text.len())? == text {
            self.pos += text.len();
            out.extend_from_slice(text);
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(out, depth + 1),
            b'[' => self.array(out, depth + 1),
            b'"' => {
                let mut decoded = Vec::new();
                self.string_decoded(&mut decoded)?;
                write_string(out, std::str::from_utf8(&decoded).ok()?);
                Some(())
            }
            b't' => self.literal(b"true", out),
            b'f' => self.literal(b"false", out),
            b'n' => self.literal(b"null", out),
            b'-' | b'0'..=b'9' => self.number(out),
            _ => None,
        }
    }

    fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        self.expect(b'{')?;
        out.push(b'{');
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            out.push(b'}');
            return Some(());
        }
        let mut previous: Vec<u8> = Vec::new();
        let mut key: Vec<u8> = Vec::new();
        let mut first = true;
        loop {
            self.skip_ws();
            key.clear();
            self.string_decoded(&mut key)?;
            if !first && key <= previous {
                return None;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_string(out, std::str::from_utf8(&key).ok()?);
            self.skip_ws();
            self.expect(b':')?;
            out.push(b':');
            self.skip_ws();
            self.value(out, depth)?;
            std::mem::swap(&mut previous, &mut key);
            self.skip_ws();
            match self.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        out.push(b'}');
        Some(())
    }

    fn array(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        self.expect(b'[')?;
        out.push(b'[');
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            out.push(b']');
            return Some(());
        }
        let mut first = true;
        loop {
            self.skip_ws();
            if !first {
                out.push(b',');
            }
            first = false;
            self.value(out, depth)?;
            self.skip_ws();
            match self.next()? {
                b',' => continue,
                b']' => break,
                _ => return None,
            }
        }
        out.push(b']');
        Some(())
    }

    /// JSON number grammar; integers of up to 18 digits are written as they are (already
    /// canonical), floats as Python's repr of the correctly rounded double.
    fn number(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return None,
        }
        let int_digits = self.pos - digits_start;
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.pos += 1;
            let frac_start = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            if self.pos == frac_start {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let exp_start = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            if self.pos == exp_start {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.input[start..self.pos]).ok()?;
        if float {
            let value: f64 = text.parse().ok()?;
            if !value.is_finite() {
                return None;
            }
            out.extend_from_slice(python_float_repr(value).as_bytes());
        } else {
            if int_digits > 18 || text == "-0" {
                return None;
            }
            out.extend_from_slice(text.as_bytes());
        }
        Some(())
    }

    /// Parse a JSON string, appending its decoded UTF-8 bytes.
    fn string_decoded(&mut self, decoded: &mut Vec<u8>) -> Option<()> {
        self.expect(b'"')?;
        loop {
            let byte = self.next()?;
            match byte {
                b'"' => return Some(()),
                b'\\' => {
                    let escaped = self.next()?;
                    let ch = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{08}',
                        b'f' => '\u{0c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let unit = self.hex4()?;
                            if (0xD800..0xDC00).contains(&unit) {
                                self.expect(b'\\')?;
                                self.expect(b'u')?;
                                let low = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00))?
                            } else {
                                char::from_u32(u32::from(unit))?
                            }
                        }
                        _ => return None,
                    };
                    let mut buffer = [0u8; 4];
                    decoded.extend_from_slice(ch.encode_utf8(&mut buffer).as_bytes());
                }
                // Raw control characters are not allowed in JSON strings.
                0x00..=0x1f => return None,
                _ => decoded.push(byte),
            }
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let text = self.input.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        let text = std::str::from_utf8(text).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u16::from_str_radix(text, 16).ok()
    }
}

/// Python `ensure_ascii` string escaping (the same rules as `canonical::write_string`).
fn write_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for ch in text.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(ch as u8),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.extend_from_slice(b"\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[usize::from((*unit >> shift) & 0xf)]);
                    }
                }
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Canonical;
    use crate::canonical;
    use proptest::prelude::*;
    use serde_json::Value;

    /// The fast path must give exactly what the tree path gives, or decline.
    fn assert_matches_tree(line: &str) {
        let mut scratch = Vec::new();
        let Some(fast) = canonical_record(line, &mut scratch) else { return };
        let Ok(Value::Object(fields)) = canonical::parse_strict(line) else {
            panic!("fast path accepted what the tree path rejects: {line}");
        };
        let tree = Canonical::of(&fields);
        assert_eq!(String::from_utf8(fast.payload.clone()).unwrap(), tree.hash_payload(), "{line}");
        let (prefix, inserted, suffix) = fast.signed_parts("abc");
        let signed = format!("{}{}{}", String::from_utf8_lossy(prefix), inserted, String::from_utf8_lossy(suffix));
        assert_eq!(signed, tree.signed_payload("abc"), "{line}");
        let text = |key: &str| fields.get(key).map(canonical::compact);
        assert_eq!(fast.schema_version, text("schema_version"));
        assert_eq!(fast.sequence, text("sequence"));
        assert_eq!(fast.previous_hash, text("previous_hash"));
        assert_eq!(fast.record_hash, text("record_hash"));
        assert_eq!(fast.signature, text("signature"));
    }

    #[test]
    fn matches_tree_path_on_fixture_lines() {
        let fixture = include_str!("../../tests/fixtures/cavra/audit-hmac.jsonl");
        let mut scratch = Vec::new();
        for line in fixture.lines() {
            assert!(canonical_record(line, &mut scratch).is_some(), "fixture line should take the fast path: {line}");
            assert_matches_tree(line);
        }
    }

    #[test]
    fn matches_tree_path_on_edge_cases() {
        let cases = [
            r#"{"a": "\u00e9\ud83d\ude00 \" \\ \/ \b\f\n\r\t \u0001 \u007f caf\u00e9", "b": [1, -2, 0.5, 1e+16, 1.5e-07, 2.0, 1E2, 0.1e1, -0.0], "c": {}, "d": [], "e": null, "f": true, "g": false}"#,
            "{\"a\": \"raw é and 😀\"}",
            r#"{ "a" : 1 ,"b":[ 1 , { "x" : [ ] } ] }"#,
            r#"{"z": 1, "a": 2}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": 123456789012345678901}"#,
            r#"{"a": -0}"#,
            r#"{"a": "\ud800"}"#,
            r#"{"a": 01}"#,
            r#"{"a": 1} x"#,
            r#"{"a": NaN}"#,
            r#"{"previous_hash": null, "record_hash": "h", "schema_version": "s", "sequence": 1, "signature": {"value": "v"}}"#,
            r#"{"record_hash": "h"}"#,
            r#"{"zz": 1}"#,
            r#"{}"#,
            "[1]",
        ];
        for line in cases {
            assert_matches_tree(line);
        }
        let mut scratch = Vec::new();
        assert!(canonical_record(r#"{"z": 1, "a": 2}"#, &mut scratch).is_none());
        assert!(canonical_record(r#"{"a": 1, "a": 2}"#, &mut scratch).is_none());
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "\\PC{0,10}".prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn matches_tree_path(fields in prop::collection::btree_map("[a-z_]{1,14}|\\PC{1,6}", arbitrary_json(), 0..8), spaced in any::<bool>()) {
            let value = Value::Object(fields.into_iter().collect());
            let line = if spaced { canonical::spaced(&value) } else { serde_json::to_string(&value).unwrap() };
            assert_matches_tree(&line);
            // Canonical spaced lines (what CAVRA writes) always take the fast path.
            if spaced {
                prop_assert!(canonical_record(&line, &mut Vec::new()).is_some() || has_long_int(&value), "{}", line);
            }
        }
    }

    fn has_long_int(value: &Value) -> bool {
        match value {
            Value::Number(n) => n.is_i64() && n.to_string().trim_start_matches('-').len() > 18,
            Value::Array(items) => items.iter().any(has_long_int),
            Value::Object(map) => map.values().any(has_long_int),
            _ => false,
        }
    }

    #[test]
    fn signed_parts_commas() {
        let mut scratch = Vec::new();
        for (line, expected) in [
            (r#"{"a": 1}"#, r#"{"a":1,"record_hash":"H"}"#),
            (r#"{"z": 1}"#, r#"{"record_hash":"H","z":1}"#),
            (r#"{"a": 1, "z": 2}"#, r#"{"a":1,"record_hash":"H","z":2}"#),
            (r#"{}"#, r#"{"record_hash":"H"}"#),
            (r#"{"record_hash": "x", "signature": 1}"#, r#"{"record_hash":"H"}"#),
        ] {
            let record = canonical_record(line, &mut scratch).unwrap();
            let (a, b, c) = record.signed_parts("H");
            assert_eq!(format!("{}{b}{}", String::from_utf8_lossy(a), String::from_utf8_lossy(c)), expected);
        }
    }
}
