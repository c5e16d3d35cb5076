//! The verification fast path: re-serialise one record line into CAVRA's compact canonical JSON
//! in a single pass over its bytes, without building a JSON tree (cavra-compat.md §1–2).
//!
//! It *is* a re-serialisation — every string is decoded and re-escaped, every number re-written,
//! whitespace dropped — so it never trusts the stored bytes. It declines (returns `None`) whenever
//! doing the same as `canonical::compact(parse_strict(line))` would need more than one pass: keys
//! not in strictly increasing order (CAVRA always writes them sorted; unsorted keys or duplicates
//! go to the tree path, which reports duplicates), integers beyond Python's int-string limit, lone
//! surrogates, invalid JSON. The caller then takes the tree path, so results are identical;
//! `tests::matches_tree_path` checks that differentially.
//!
//! Nothing is allocated per record in the common case: the output goes into per-thread
//! [`Scratch`] buffers that are reused, keys without escapes are compared where they lie in the
//! line, and the fields the verifier looks at are returned as slices of those buffers. Bytes that
//! are the same in both forms are copied sixteen or eight at a time into the room after the
//! output before the scan knows how many of them belong to it (no call to `memcpy` for a short
//! key or value); a record's `record_hash` and `signature` are written there too, then moved to
//! the side buffer.

use std::borrow::Cow;
use std::ops::Range;

use crate::canonical::python_float_repr;

/// The deepest container the tree path accepts: serde_json's recursion limit (128) refuses the
/// 128th container nested in the others, the record's own object being the first.
const MAX_DEPTH: usize = 127;

/// An output buffer written through a cursor: `buf[..len]` is the output, the bytes after it
/// are scratch space that the scanners below write eight or sixteen bytes at a time before they
/// know how many of them belong to the output. It grows (never shrinks) when a write needs room.
#[derive(Debug, Default)]
struct Out {
    buf: Vec<u8>,
    len: usize,
}

impl Out {
    fn reset(&mut self, room: usize) {
        if self.buf.len() < room {
            self.buf.resize(room, 0);
        }
        self.len = 0;
    }

    /// The `n` bytes after the output, growing the buffer when they are not there.
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut [u8] {
        let end = self.len + n;
        if end > self.buf.len() {
            self.grow(end);
        }
        &mut self.buf[self.len..end]
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, end: usize) {
        let size = end.max(self.buf.len() * 2).max(64);
        self.buf.resize(size, 0);
    }

    #[inline(always)]
    fn push(&mut self, byte: u8) {
        self.room(1)[0] = byte;
        self.len += 1;
    }

    #[inline(always)]
    fn extend(&mut self, bytes: &[u8]) {
        self.room(bytes.len()).copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Reusable output buffers (one per worker thread).
#[derive(Debug, Default)]
pub struct Scratch {
    payload: Out,
    /// Canonical texts of `record_hash` and `signature`, which are not part of the payload.
    side: Vec<u8>,
}

/// The canonical pieces of one record, as the verifier needs them (borrowed from a [`Scratch`]).
#[derive(Debug)]
pub struct CanonicalRecord<'s> {
    /// Compact canonical JSON of the record without `record_hash` and `signature`.
    pub payload: &'s [u8],
    /// Byte offset in `payload` where `"record_hash":…` goes for the signed payload.
    pub insert_at: usize,
    /// Members before / after that offset (decides the commas around the insertion).
    pub members_before: usize,
    pub members_after: usize,
    /// Canonical texts of the top-level fields the checks look at (`None` = absent).
    pub schema_version: Option<&'s [u8]>,
    pub sequence: Option<&'s [u8]>,
    pub previous_hash: Option<&'s [u8]>,
    pub record_hash: Option<&'s [u8]>,
    pub signature: Option<&'s [u8]>,
}

impl CanonicalRecord<'_> {
    /// Feed the signed payload — the payload with `"record_hash":"<hex>"` inserted in key order —
    /// to `sink` in pieces, without assembling it.
    pub fn signed_payload(&self, record_hash_hex: &[u8], mut sink: impl FnMut(&[u8])) {
        sink(&self.payload[..self.insert_at]);
        if self.members_before > 0 {
            sink(b",");
        }
        sink(b"\"record_hash\":\"");
        sink(record_hash_hex);
        sink(b"\"");
        if self.members_before == 0 && self.members_after > 0 {
            sink(b",");
        }
        sink(&self.payload[self.insert_at..]);
    }
}

/// Which top-level field a key names (the ones the verifier looks at).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Other,
    SchemaVersion,
    Sequence,
    PreviousHash,
    RecordHash,
    Signature,
}

#[inline(always)]
fn field_of(name: &[u8]) -> Field {
    match name {
        b"schema_version" => Field::SchemaVersion,
        b"sequence" => Field::Sequence,
        b"previous_hash" => Field::PreviousHash,
        b"record_hash" => Field::RecordHash,
        b"signature" => Field::Signature,
        _ => Field::Other,
    }
}

/// Re-serialise a record line, or `None` to take the tree path. The line need not be checked
/// for UTF-8 first: every byte is either ASCII the grammar expects, or part of a string whose
/// non-ASCII characters are decoded (so validated) one by one, or of a key validated before it
/// is written; a line that is not UTF-8 is declined.
pub fn canonical_record<'s>(line: &[u8], scratch: &'s mut Scratch) -> Option<CanonicalRecord<'s>> {
    let mut parser = Parser {
        input: line,
        pos: 0,
    };
    let Scratch { payload: out, side } = scratch;
    out.reset(line.len() + 64);
    side.clear();
    let mut insert_at = None;
    let mut members = 0usize;
    let (mut schema_version, mut sequence, mut previous_hash): (
        Option<Range<usize>>,
        Option<Range<usize>>,
        Option<Range<usize>>,
    ) = (None, None, None);
    let (mut record_hash, mut signature): (Option<Range<usize>>, Option<Range<usize>>) =
        (None, None);
    parser.skip_ws();
    parser.expect(b'{')?;
    out.push(b'{');
    parser.skip_ws();
    if parser.peek() == Some(b'}') {
        parser.pos += 1;
    } else {
        let mut previous_key: Option<Cow<'_, [u8]>> = None;
        loop {
            parser.skip_ws();
            let mark = out.len;
            if members > 0 {
                out.push(b',');
            }
            let key = parser.key(out)?;
            if previous_key
                .as_deref()
                .is_some_and(|previous| !bytes_less(previous, &key))
            {
                return None;
            }
            parser.skip_ws();
            parser.expect(b':')?;
            parser.skip_ws();
            let field = field_of(&key);
            if matches!(field, Field::RecordHash | Field::Signature) {
                out.len = mark;
                parser.value(out, 1)?;
                let start = side.len();
                side.extend_from_slice(&out.buf[mark..out.len]);
                out.len = mark;
                let range = Some(start..side.len());
                if field == Field::RecordHash {
                    record_hash = range;
                } else {
                    signature = range;
                }
            } else {
                if insert_at.is_none() && bytes_less(b"record_hash", &key) {
                    insert_at = Some((mark, members));
                }
                out.push(b':');
                let start = out.len;
                parser.value(out, 1)?;
                members += 1;
                let range = Some(start..out.len);
                match field {
                    Field::SchemaVersion => schema_version = range,
                    Field::Sequence => sequence = range,
                    Field::PreviousHash => previous_hash = range,
                    _ => {}
                }
            }
            previous_key = Some(key);
            parser.skip_ws();
            match parser.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    let (insert_at, members_before) = insert_at.unwrap_or((out.len, members));
    out.push(b'}');
    parser.skip_ws();
    if parser.pos != parser.input.len() {
        return None;
    }
    let (out, side) = (scratch.payload.bytes(), &scratch.side[..]);
    Some(CanonicalRecord {
        payload: out,
        insert_at,
        members_before,
        members_after: members - members_before,
        schema_version: schema_version.map(|r| &out[r]),
        sequence: sequence.map(|r| &out[r]),
        previous_hash: previous_hash.map(|r| &out[r]),
        record_hash: record_hash.map(|r| &side[r]),
        signature: signature.map(|r| &side[r]),
    })
}

/// The bytes of `word` (little-endian) outside [`PLAIN`] — control characters, `"`, `\`, DEL and
/// non-ASCII — as a mask with the high bit of each such byte set. Zero exactly when every byte is
/// plain, and the lowest set bit is exactly the first special byte: each test below can flag a
/// plain byte only above (after) a byte it flags rightly, through a borrow or carry that only a
/// flagged byte produces. So `trailing_zeros() / 8` is how many plain bytes the word starts with.
#[inline(always)]
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    // A byte ≥ 0x7f has its high bit set after adding 1 (0x7f) or before (≥ 0x80).
    let high = (word | word.wrapping_add(ONES)) & HIGH;
    below_space | quote | backslash | high
}

/// [`special_bytes`] for sixteen bytes at once (SSE2 on x86-64, through the `wide` crate's safe
/// vectors): bit `i` of the result is set exactly when byte `i` is outside [`PLAIN`] — below
/// 0x20 or at or above 0x80 (negative as `i8`), `"`, `\` or DEL.
#[inline(always)]
fn special16(chunk: [u8; 16]) -> u32 {
    use wide::{CmpEq, CmpLt, i8x16};
    let v: i8x16 = bytemuck::cast(chunk);
    let m = v.cmp_lt(i8x16::splat(0x20))
        | v.cmp_eq(i8x16::splat(b'"' as i8))
        | v.cmp_eq(i8x16::splat(b'\\' as i8))
        | v.cmp_eq(i8x16::splat(0x7f));
    m.move_mask() as u32
}

/// `a < b` bytewise (keys are short: a loop beats a call to `memcmp`).
#[inline]
fn bytes_less(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// Whether a JSON float literal is already what Python's `repr` prints for its value, so it can
/// be copied instead of parsed and re-formatted: plain decimal notation (no exponent) with at
/// most 15 significant digits, no trailing zero after the point other than a lone `.0`, and a
/// magnitude in Python's decimal-notation range (zero, or ≥ 1e-4; < 1e15 here).
///
/// Why that suffices: any decimal of ≤ 15 significant digits survives the round trip through a
/// double (DBL_DIG = 15), so no shorter digit string maps to the same double, and `repr` prints
/// exactly those digits in decimal notation for 1e-4 ≤ |x| < 1e16, adding `.0` to integers.
/// `tests::float_copy_matches_repr` checks it against `python_float_repr`.
fn already_python_repr(text: &[u8]) -> bool {
    let unsigned = text.strip_prefix(b"-").unwrap_or(text);
    let Some(point) = unsigned.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (int, frac) = (&unsigned[..point], &unsigned[point + 1..]);
    if frac.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return false;
    }
    if frac.len() > 1 && frac.ends_with(b"0") {
        return false;
    }
    let frac: &[u8] = if frac == b"0" { b"" } else { frac };
    if int == b"0" && frac.iter().take_while(|&&b| b == b'0').count() > 3 {
        return false;
    }
    let digits = int.len() + frac.len();
    let leading_zeros = int.iter().chain(frac).take_while(|&&b| b == b'0').count();
    digits - leading_zeros <= 15 && int.len() <= 15
}

/// Bytes copied as they are inside a string in both the input and the canonical form: printable
/// ASCII except `"` and `\`.
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = b' ';
    while byte <= b'~' {
        table[byte as usize] = byte != b'"' && byte != b'\\';
        byte += 1;
    }
    table
};

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    #[inline(always)]
    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Copy the bytes that are literal inside a string in both forms to `out`, up to the first
    /// that is not (or the end of the line). Sixteen bytes (eight near the end of the line) are
    /// copied at a time before they are tested; the first special byte is found exactly from
    /// the mask.
    #[inline(always)]
    fn copy_plain(&mut self, out: &mut Out) {
        while let Some(chunk) = self.input.get(self.pos..self.pos + 16) {
            let chunk: [u8; 16] = chunk
                .try_into()
                .unwrap_or_else(|_| unreachable!("sixteen bytes"));
            out.room(16).copy_from_slice(&chunk);
            let special = special16(chunk);
            if special != 0 {
                let plain = special.trailing_zeros() as usize;
                self.pos += plain;
                out.len += plain;
                return;
            }
            self.pos += 16;
            out.len += 16;
        }
        while let Some(chunk) = self.input.get(self.pos..self.pos + 8) {
            let chunk: [u8; 8] = chunk
                .try_into()
                .unwrap_or_else(|_| unreachable!("eight bytes"));
            out.room(8).copy_from_slice(&chunk);
            let special = special_bytes(u64::from_le_bytes(chunk));
            if special != 0 {
                let plain = (special.trailing_zeros() / 8) as usize;
                self.pos += plain;
                out.len += plain;
                return;
            }
            self.pos += 8;
            out.len += 8;
        }
        while let Some(&byte) = self.input.get(self.pos) {
            if !PLAIN[usize::from(byte)] {
                return;
            }
            out.push(byte);
            self.pos += 1;
        }
    }

    /// Copy `input[start..end]` (short spans without a call to `memcpy`).
    #[inline(always)]
    fn copy_span(&self, out: &mut Out, start: usize, end: usize) {
        let n = end - start;
        if n <= 16
            && let Some(source) = self.input.get(start..start + 16)
        {
            out.room(16).copy_from_slice(source);
            out.len += n;
            return;
        }
        out.extend(&self.input[start..end]);
    }

    #[inline(always)]
    fn literal(&mut self, text: &'static [u8], out: &mut Out) -> Option<()> {
        if self.input.get(self.pos..self.pos + text.len())? == text {
            self.pos += text.len();
            out.extend(text);
            Some(())
        } else {
            None
        }
    }

    #[inline(always)]
    fn value(&mut self, out: &mut Out, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                out.push(b'"');
                self.string_rest(out)
            }
            b'{' => self.object(out, depth + 1),
            b'[' => self.array(out, depth + 1),
            b't' => self.literal(b"true", out),
            b'f' => self.literal(b"false", out),
            b'n' => self.literal(b"null", out),
            b'-' | b'0'..=b'9' => self.number(out),
            _ => None,
        }
    }

    #[inline(never)]
    fn object(&mut self, out: &mut Out, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        out.push(b'{');
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            out.push(b'}');
            return Some(());
        }
        let mut previous: Option<Cow<'a, [u8]>> = None;
        loop {
            self.skip_ws();
            let key = self.key(out)?;
            if let Some(previous) = &previous
                && !bytes_less(previous, &key)
            {
                return None;
            }
            self.skip_ws();
            self.expect(b':')?;
            out.push(b':');
            self.skip_ws();
            self.value(out, depth)?;
            previous = Some(key);
            self.skip_ws();
            match self.next()? {
                b',' => out.push(b','),
                b'}' => break,
                _ => return None,
            }
        }
        out.push(b'}');
        Some(())
    }

    #[inline(never)]
    fn array(&mut self, out: &mut Out, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        out.push(b'[');
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            out.push(b']');
            return Some(());
        }
        loop {
            self.skip_ws();
            self.value(out, depth)?;
            self.skip_ws();
            match self.next()? {
                b',' => out.push(b','),
                b']' => break,
                _ => return None,
            }
        }
        out.push(b']');
        Some(())
    }

    #[inline(always)]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// JSON number grammar; integers are written as they are (already canonical, any size, as
    /// Python's `int`; `-0` is `0`), floats as Python's repr of the correctly rounded double.
    #[inline(always)]
    fn number(&mut self, out: &mut Out) -> Option<()> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return self.float(out, start);
        }
        // Integers of any size are kept exact, as Python keeps them (`-0` is `0`, the one
        // integer literal Python writes otherwise); past Python's int-string limit the tree
        // path refuses the line.
        if self.pos - digits_start > crate::canonical::MAX_INT_DIGITS {
            return None;
        }
        if &self.input[start..self.pos] == b"-0" {
            out.push(b'0');
        } else {
            self.copy_span(out, start, self.pos);
        }
        Some(())
    }

    /// The rest of a number with a fraction or an exponent, from its start (the integer part
    /// is read), written as Python's repr of the correctly rounded double.
    #[inline(never)]
    fn float(&mut self, out: &mut Out, start: usize) -> Option<()> {
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let frac_start = self.pos;
            self.digits();
            if self.pos == frac_start {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            let exp_start = self.pos;
            self.digits();
            if self.pos == exp_start {
                return None;
            }
        }
        let text = &self.input[start..self.pos];
        if already_python_repr(text) {
            self.copy_span(out, start, self.pos);
        } else {
            let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
            if !value.is_finite() {
                return None;
            }
            out.extend(python_float_repr(value).as_bytes());
        }
        Some(())
    }

    /// The rest of a string value after its opening quote, written re-escaped.
    #[inline(always)]
    fn string_rest(&mut self, out: &mut Out) -> Option<()> {
        loop {
            self.copy_plain(out);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    out.push(b'"');
                    return Some(());
                }
                _ => self.special(out)?,
            }
        }
    }

    /// A backslash escape or a non-ASCII character inside a string, decoded and re-escaped.
    #[inline(never)]
    fn special(&mut self, out: &mut Out) -> Option<()> {
        let ch = match self.peek()? {
            b'\\' => {
                self.pos += 1;
                self.escape()?
            }
            0x00..=0x1f => return None,
            _ => self.non_ascii()?,
        };
        write_char(out, ch);
        Some(())
    }

    /// A character at or above DEL, decoded (and so validated) from its own bytes.
    fn non_ascii(&mut self) -> Option<char> {
        let width = match self.peek()? {
            0x00..=0x7f => 1,
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return None,
        };
        let bytes = self.input.get(self.pos..self.pos + width)?;
        let ch = std::str::from_utf8(bytes).ok()?.chars().next()?;
        self.pos += width;
        Some(ch)
    }

    /// Decode the escape after a backslash (surrogate pairs combined; lone surrogates decline).
    fn escape(&mut self) -> Option<char> {
        let escaped = self.next()?;
        Some(match escaped {
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
                    char::from_u32(
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00),
                    )?
                } else {
                    char::from_u32(u32::from(unit))?
                }
            }
            _ => return None,
        })
    }

    /// Parse an object key, write it as a canonical string (at `out`'s end) and return its
    /// decoded bytes (keys are compared decoded): where they lie in the line when the key is one
    /// plain run, else a decoded copy.
    #[inline(always)]
    fn key(&mut self, out: &mut Out) -> Option<Cow<'a, [u8]>> {
        self.expect(b'"')?;
        let mark = out.len;
        out.push(b'"');
        let start = self.pos;
        self.copy_plain(out);
        if self.peek()? == b'"' {
            let key = &self.input[start..self.pos];
            self.pos += 1;
            out.push(b'"');
            return Some(Cow::Borrowed(key));
        }
        self.key_slow(out, mark, start)
    }

    #[inline(never)]
    fn key_slow(&mut self, out: &mut Out, mark: usize, start: usize) -> Option<Cow<'a, [u8]>> {
        let mut decoded = self.input[start..self.pos].to_vec();
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let ch = self.escape()?;
                    let mut buffer = [0u8; 4];
                    decoded.extend_from_slice(ch.encode_utf8(&mut buffer).as_bytes());
                }
                // Raw control characters are not allowed in JSON strings.
                0x00..=0x1f => return None,
                byte => decoded.push(byte),
            }
        }
        out.len = mark;
        out.push(b'"');
        for ch in std::str::from_utf8(&decoded).ok()?.chars() {
            write_char(out, ch);
        }
        out.push(b'"');
        Some(Cow::Owned(decoded))
    }

    fn hex4(&mut self) -> Option<u16> {
        let text = self.input.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        let mut unit = 0u16;
        for &byte in text {
            let digit = char::from(byte).to_digit(16)?;
            unit = (unit << 4) | digit as u16;
        }
        Some(unit)
    }
}

/// One character, escaped as Python's `ensure_ascii` escapes it (the same rules as
/// `canonical::write_string`).
fn write_char(out: &mut Out, ch: char) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ch {
        '"' => out.extend(b"\\\""),
        '\\' => out.extend(b"\\\\"),
        '\n' => out.extend(b"\\n"),
        '\r' => out.extend(b"\\r"),
        '\t' => out.extend(b"\\t"),
        '\u{08}' => out.extend(b"\\b"),
        '\u{0c}' => out.extend(b"\\f"),
        ' '..='~' => out.push(ch as u8),
        _ => {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                let mut escaped = *b"\\u0000";
                for (slot, shift) in escaped[2..].iter_mut().zip([12, 8, 4, 0]) {
                    *slot = HEX[usize::from((*unit >> shift) & 0xf)];
                }
                out.extend(&escaped);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Canonical;
    use crate::canonical;
    use proptest::prelude::*;
    use serde_json::Value;

    fn signed(record: &CanonicalRecord<'_>, record_hash: &str) -> String {
        let mut out = Vec::new();
        record.signed_payload(record_hash.as_bytes(), |piece| out.extend_from_slice(piece));
        String::from_utf8(out).unwrap()
    }

    /// The fast path must give exactly what the tree path gives, or decline.
    fn assert_matches_tree(line: &str) {
        let mut scratch = Scratch::default();
        let Some(fast) = canonical_record(line.as_bytes(), &mut scratch) else {
            return;
        };
        let Ok(Value::Object(fields)) = canonical::parse_strict(line) else {
            panic!("fast path accepted what the tree path rejects: {line}");
        };
        let tree = Canonical::of(&fields);
        assert_eq!(
            String::from_utf8(fast.payload.to_vec()).unwrap(),
            tree.hash_payload(),
            "{line}"
        );
        assert_eq!(signed(&fast, "abc"), tree.signed_payload("abc"), "{line}");
        let text = |key: &str| fields.get(key).map(canonical::compact);
        let fast_text =
            |slice: Option<&[u8]>| slice.map(|s| String::from_utf8(s.to_vec()).unwrap());
        assert_eq!(fast_text(fast.schema_version), text("schema_version"));
        assert_eq!(fast_text(fast.sequence), text("sequence"));
        assert_eq!(fast_text(fast.previous_hash), text("previous_hash"));
        assert_eq!(fast_text(fast.record_hash), text("record_hash"));
        assert_eq!(fast_text(fast.signature), text("signature"));
    }

    #[test]
    fn matches_tree_path_on_fixture_lines() {
        let fixture = include_str!("../../../tests/fixtures/cavra/audit-hmac.jsonl");
        let mut scratch = Scratch::default();
        for line in fixture.lines() {
            assert!(
                canonical_record(line.as_bytes(), &mut scratch).is_some(),
                "fixture line should take the fast path: {line}"
            );
            assert_matches_tree(line);
        }
    }

    #[test]
    fn matches_tree_path_on_edge_cases() {
        let cases = [
            r#"{"a": "\u00e9\ud83d\ude00 \" \\ \/ \b\f\n\r\t \u0001 \u007f caf\u00e9", "b": [1, -2, 0.5, 1e+16, 1.5e-07, 2.0, 1E2, 0.1e1, -0.0], "c": {}, "d": [], "e": null, "f": true, "g": false}"#,
            "{\"a\": \"raw é and 😀\"}",
            r#"{"a\u00e9": 1, "b": {"\u0041": 1, "B": 2, "\u00e9": [0.5, 2.50, 100.0, 1e-05]}}"#,
            r#"{"b": {"\u0042": 1, "B": 2}}"#,
            r#"{"z\"q": 2, "é": 1, "\u00e9x": 3}"#,
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
            r#"{"a": [1e400, -1e400]}"#,
            r#"{"a": [1e-400, -1e-400, 0e0, -0.0e5, 5e-324, 1.7976931348623157e308]}"#,
            r#"{"a": [0.1, 0.30000000000000004, 100000000000000000000.0, 1e16, 1e15, 123456789012345.6]}"#,
        ];
        for line in cases {
            assert_matches_tree(line);
        }
        // Integers at Python's int-string limit (4,300 digits, the sign not counted) and past it.
        for digits in [4299, 4300, 4301] {
            for sign in ["", "-"] {
                assert_matches_tree(&format!(r#"{{"a": {sign}{}}}"#, "7".repeat(digits)));
            }
        }
        let mut scratch = Scratch::default();
        assert!(canonical_record(br#"{"z": 1, "a": 2}"#, &mut scratch).is_none());
        assert!(canonical_record(br#"{"a": 1, "a": 2}"#, &mut scratch).is_none());
    }

    /// The output is written into room after it that starts at the line's length: floats that
    /// Python writes longer (`1e15` is `1000000000000000.0`) and raw non-ASCII characters
    /// (escaped as six or twelve bytes) must grow it, in the payload and in the side texts, and
    /// a buffer grown by one line must serve the next ones.
    #[test]
    fn matches_tree_path_when_the_output_outgrows_the_line() {
        let floats = vec!["1e15"; 300].join(",");
        let emoji = "😀".repeat(200);
        let lines = [
            format!(r#"{{"a": [{floats}], "b": "{emoji}"}}"#),
            format!(r#"{{"record_hash": "{emoji}", "sequence": 1, "signature": [{floats}]}}"#),
            format!(r#"{{"a": {{"{emoji}": [{floats}]}}, "previous_hash": "é{emoji}"}}"#),
            r#"{"a": 1, "record_hash": "h"}"#.to_string(),
        ];
        let mut scratch = Scratch::default();
        for line in lines.iter().chain(lines.iter().rev()) {
            assert_matches_tree(line);
            let fresh = canonical_record(line.as_bytes(), &mut Scratch::default()).map(|r| {
                (
                    r.payload.to_vec(),
                    r.record_hash.map(<[u8]>::to_vec),
                    r.signature.map(<[u8]>::to_vec),
                )
            });
            let reused = canonical_record(line.as_bytes(), &mut scratch).map(|r| {
                (
                    r.payload.to_vec(),
                    r.record_hash.map(<[u8]>::to_vec),
                    r.signature.map(<[u8]>::to_vec),
                )
            });
            assert!(fresh.is_some(), "{line}");
            assert_eq!(fresh, reused, "{line}");
        }
    }

    /// Nesting around serde_json's recursion limit, with and without members at the deepest
    /// level: the fast path accepts only what the tree path accepts, and gives what it gives.
    #[test]
    fn nesting_at_the_depth_limit_matches_the_tree_path() {
        for depth in 125..=131 {
            for inner in ["", "1", "{}", "[]", "\"x\""] {
                let arrays = format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth));
                assert_matches_tree(&format!(r#"{{"a": {arrays}}}"#));
                let objects = format!(
                    "{}{inner}{}",
                    r#"{"k": ["#.repeat(depth / 2),
                    "]}".repeat(depth / 2)
                );
                assert_matches_tree(&format!(r#"{{"a": {objects}}}"#));
            }
        }
        // 126 containers in all (the record's object, 124 arrays and one more) take the fast
        // path; serde_json refuses the 128th nested container, and so does the fast path.
        let line = |arrays: usize| {
            format!(
                r#"{{"a": {}{{}}{}}}"#,
                "[".repeat(arrays),
                "]".repeat(arrays)
            )
        };
        let mut scratch = Scratch::default();
        assert!(canonical_record(line(124).as_bytes(), &mut scratch).is_some());
        assert!(canonical_record(line(125).as_bytes(), &mut scratch).is_some());
        assert!(canonical_record(line(126).as_bytes(), &mut scratch).is_none());
        assert!(canonical::parse_strict(&line(125)).is_ok());
        assert!(canonical::parse_strict(&line(126)).is_err());
    }

    thread_local! {
        static REUSED: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,10}".prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
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
                prop_assert!(canonical_record(line.as_bytes(), &mut Scratch::default()).is_some(), "{}", line);
            }
            // A worker's scratch serves line after line: what earlier (longer, shorter) lines
            // left in its buffers must not change the result.
            let fresh = canonical_record(line.as_bytes(), &mut Scratch::default()).map(|r| format!("{r:?}"));
            let reused = REUSED.with(|scratch| {
                canonical_record(line.as_bytes(), &mut scratch.borrow_mut()).map(|r| format!("{r:?}"))
            });
            prop_assert_eq!(fresh, reused);
        }
    }

    #[test]
    fn lines_that_are_not_utf8_are_declined() {
        let mut scratch = Scratch::default();
        let good = "{\"a\": \"é😀\", \"é\": 1}".as_bytes().to_vec();
        assert!(canonical_record(&good, &mut scratch).is_some());
        for (index, byte) in good.iter().enumerate() {
            if *byte < 0x80 {
                continue;
            }
            for bad in [0x80u8, 0xbf, 0xc0, 0xc1, 0xf5, 0xff, b'a'] {
                let mut line = good.clone();
                line[index] = bad;
                if std::str::from_utf8(&line).is_err() {
                    assert!(
                        canonical_record(&line, &mut scratch).is_none(),
                        "accepted invalid UTF-8 at {index}: {line:?}"
                    );
                }
            }
            let truncated = &good[..=index];
            if std::str::from_utf8(truncated).is_err() {
                assert!(canonical_record(truncated, &mut scratch).is_none());
            }
        }
        // Overlong encodings and surrogates in raw UTF-8 are not UTF-8 either.
        for raw in [
            &b"{\"a\": \"\xc0\xaf\"}"[..],
            b"{\"a\": \"\xed\xa0\x80\"}",
            b"{\"\xed\xa0\x80\": 1}",
            b"{\"\xff\": 1}",
        ] {
            assert!(canonical_record(raw, &mut scratch).is_none(), "{raw:?}");
        }
    }

    #[test]
    fn float_copy_matches_repr() {
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut copied = 0;
        for _ in 0..200_000 {
            let int_len = (next() % 17) as usize;
            let frac_len = 1 + (next() % 17) as usize;
            let digit = |n: u64| char::from(b'0' + (n % 10) as u8);
            let mut int: String = (0..int_len).map(|_| digit(next())).collect();
            let int_trimmed = int.trim_start_matches('0');
            int = if int_trimmed.is_empty() {
                "0".into()
            } else {
                int_trimmed.into()
            };
            let mut frac: String = (0..frac_len).map(|_| digit(next())).collect();
            if next() % 4 == 0 {
                frac = format!("{}{}", "0".repeat((next() % 6) as usize), &frac[..1]);
            }
            let sign = if next() % 3 == 0 { "-" } else { "" };
            let text = format!("{sign}{int}.{frac}");
            if already_python_repr(text.as_bytes()) {
                copied += 1;
                let value: f64 = text.parse().unwrap();
                assert_eq!(python_float_repr(value), text);
            }
        }
        assert!(
            copied > 20_000,
            "the copy path should cover common literals ({copied})"
        );
        for (text, copy) in [
            ("2.5", true),
            ("2.0", true),
            ("0.0", true),
            ("-0.0", true),
            ("0.0001", true),
            ("0.125", true),
            ("2.50", false),
            ("0.00001", false),
            ("1e5", false),
            ("1.5e-07", false),
            ("1234567890123456.0", false),
            ("0.1234567890123456", false),
            ("123456789012345.0", true),
            ("0.30000000000000004", false),
        ] {
            assert_eq!(already_python_repr(text.as_bytes()), copy, "{text}");
            if copy {
                assert_eq!(python_float_repr(text.parse().unwrap()), text);
            }
        }
    }

    /// The first special byte of a word, by the byte table.
    fn first_special(bytes: [u8; 8]) -> u32 {
        bytes
            .iter()
            .position(|b| !PLAIN[usize::from(*b)])
            .map_or(64, |i| i as u32 * 8 + 7)
    }

    /// The sixteen-byte test flags exactly the bytes outside [`PLAIN`]: every byte value in
    /// every position among plain fillers, and random mixes.
    #[test]
    fn vector_test_flags_exactly_the_special_bytes() {
        for byte in 0u8..=0xff {
            for position in 0..16 {
                for filler in [b'a', b' ', b'~', b'!'] {
                    let mut chunk = [filler; 16];
                    chunk[position] = byte;
                    let expected = if PLAIN[usize::from(byte)] {
                        0
                    } else {
                        1 << position
                    };
                    assert_eq!(special16(chunk), expected, "{byte:#x} at {position}");
                }
            }
        }
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            let mut chunk = [0u8; 16];
            for byte in &mut chunk {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                *byte = if rng & 3 == 0 {
                    (rng >> 8) as u8
                } else {
                    b' ' + (rng >> 8) as u8 % 95
                };
            }
            let expected = chunk
                .iter()
                .enumerate()
                .filter(|(_, b)| !PLAIN[usize::from(**b)])
                .fold(0u32, |mask, (i, _)| mask | 1 << i);
            assert_eq!(special16(chunk), expected, "{chunk:?}");
        }
    }

    #[test]
    fn word_test_finds_exactly_the_first_special_byte() {
        for special in (0u8..=0xff).filter(|b| !PLAIN[usize::from(*b)]) {
            for position in 0..8 {
                for filler in [b'a', b' ', b'~', b'!', b'0'] {
                    let mut bytes = [filler; 8];
                    bytes[position] = special;
                    let mask = special_bytes(u64::from_le_bytes(bytes));
                    assert_eq!(
                        mask.trailing_zeros(),
                        position as u32 * 8 + 7,
                        "{special:#x} at {position}"
                    );
                }
            }
        }
        assert_eq!(special_bytes(u64::from_le_bytes(*b"abc 123~")), 0);
        // Every byte value in every position, over random words: the lowest flagged byte is the
        // first special one (borrows and carries only flag bytes after it), and no special byte
        // is ever missed.
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let interesting: Vec<u8> = (0u8..=0xff).collect();
        for _ in 0..300_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut bytes = rng.to_le_bytes();
            // Mostly plain bytes, with a few of every kind (0x00, 0x01, 0x1f, 0x20, 0x7e, 0x7f,
            // 0x80, 0xff, quote and backslash included).
            for (i, byte) in bytes.iter_mut().enumerate() {
                if (rng >> (i * 3)) & 3 != 0 {
                    *byte = b' ' + (*byte % 95);
                } else {
                    *byte = interesting[usize::from(*byte)];
                }
            }
            let mask = special_bytes(u64::from_le_bytes(bytes));
            let expected = first_special(bytes);
            assert_eq!(mask.trailing_zeros().min(64), expected.min(64), "{bytes:?}");
            for (i, byte) in bytes.iter().enumerate() {
                if !PLAIN[usize::from(*byte)] {
                    assert_ne!(
                        mask & (0x80 << (i * 8)),
                        0,
                        "missed {byte:#x} at {i}: {bytes:?}"
                    );
                }
            }
        }
        let mut scratch = Scratch::default();
        let record = canonical_record(
            r#"{"a": "0123456789abcdef\"0123456789é01234567\u0041\n"}"#.as_bytes(),
            &mut scratch,
        )
        .unwrap();
        assert_eq!(
            record.payload,
            br#"{"a":"0123456789abcdef\"0123456789\u00e901234567A\n"}"#
        );
    }

    #[test]
    fn signed_parts_commas() {
        let mut scratch = Scratch::default();
        for (line, expected) in [
            (r#"{"a": 1}"#, r#"{"a":1,"record_hash":"H"}"#),
            (r#"{"z": 1}"#, r#"{"record_hash":"H","z":1}"#),
            (r#"{"a": 1, "z": 2}"#, r#"{"a":1,"record_hash":"H","z":2}"#),
            (r#"{}"#, r#"{"record_hash":"H"}"#),
            (
                r#"{"record_hash": "x", "signature": 1}"#,
                r#"{"record_hash":"H"}"#,
            ),
        ] {
            let record = canonical_record(line.as_bytes(), &mut scratch).unwrap();
            assert_eq!(signed(&record, "H"), expected);
        }
    }
}
