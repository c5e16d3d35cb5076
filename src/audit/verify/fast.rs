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
//! line, and the fields the verifier looks at are returned as slices of those buffers.
//!
//! How it stays fast (issue #19 item 4):
//! - Before parsing, one vector pass marks every byte that is special inside a string (a quote,
//!   backslash, control character, DEL or non-ASCII byte) in a bitmap, so the end of a string or
//!   key is found with one lookup instead of a scan per string.
//! - Output is written lazily: bytes the same in both forms stay pending in the line and are
//!   copied in runs when something differs — whitespace to drop, or a token to rewrite. A record
//!   as Python's `json.dumps(sort_keys=True)` writes it differs only in the space after each `,`
//!   and `:` (recognised as `", "` and `": "` in one test), so it is copied in a few dozen runs
//!   rather than token by token.
//! - An escape already in Python's form (`\n`, `\u00e9` with lowercase digits, a surrogate
//!   pair, …) is checked and left pending; any other (`\/`, `\u0041`, uppercase digits, raw
//!   non-ASCII) is decoded and written re-escaped.
//! - A record's `record_hash` and `signature` are written to the payload buffer, then moved to
//!   the side buffer.

use std::borrow::Cow;
use std::ops::Range;

use super::hexdigits::LOWER_HEX;
use crate::canonical::python_float_repr;

/// The deepest container the tree path accepts: serde_json's recursion limit (128) refuses the
/// 128th container nested in the others, the record's own object being the first.
const MAX_DEPTH: usize = 127;

/// An output buffer written through a cursor: `buf[..len]` is the output, the bytes after it
/// are scratch space that a short run is copied into 32 bytes at a time before the cursor moves
/// by the run's length. It grows (never shrinks) when a write needs room.
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
    /// Bit `i` of word `i / 64` is set when byte `i` of the line is special inside a string.
    specials: Vec<u64>,
}

impl Scratch {
    /// Give back the memory a very long line made these buffers grow to (they never shrink
    /// while they are reused line to line): when the payload buffer holds more than `bytes`.
    pub fn release_over(&mut self, bytes: usize) {
        if self.payload.buf.len() > bytes {
            *self = Scratch::default();
        }
    }
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

/// The bytes of a sixteen-byte chunk that are special inside a string (SSE2 on x86-64, through
/// the `wide` crate's safe vectors): bit `i` of the result is set exactly when byte `i` is not
/// copied as it is inside a string in both forms — below 0x20 or at or above 0x80 (negative as
/// `i8`), `"`, `\` or DEL; every printable ASCII byte but `"` and `\` is plain.
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

/// Re-serialise a record line, or `None` to take the tree path. The line need not be checked
/// for UTF-8 first: every byte is either ASCII the grammar expects, or part of a string whose
/// non-ASCII characters are decoded (so validated) one by one, or of a key validated before it
/// is written; a line that is not UTF-8 is declined.
pub fn canonical_record<'s>(line: &[u8], scratch: &'s mut Scratch) -> Option<CanonicalRecord<'s>> {
    let Scratch {
        payload,
        side,
        specials,
    } = scratch;
    payload.reset(line.len() + 64);
    side.clear();
    mark_specials(line, specials);
    let mut p = Parser {
        input: line,
        specials,
        pos: 0,
        from: 0,
        out: payload,
    };
    let fields = p.record(side)?;
    let (out, side) = (scratch.payload.bytes(), &scratch.side[..]);
    Some(CanonicalRecord {
        payload: out,
        insert_at: fields.insert_at,
        members_before: fields.members_before,
        members_after: fields.members - fields.members_before,
        schema_version: fields.schema_version.map(|r| &out[r]),
        sequence: fields.sequence.map(|r| &out[r]),
        previous_hash: fields.previous_hash.map(|r| &out[r]),
        record_hash: fields.record_hash.map(|r| &side[r]),
        signature: fields.signature.map(|r| &side[r]),
    })
}

/// Where the top-level fields the verifier looks at ended up.
#[derive(Default)]
struct Fields {
    insert_at: usize,
    members_before: usize,
    members: usize,
    schema_version: Option<Range<usize>>,
    sequence: Option<Range<usize>>,
    previous_hash: Option<Range<usize>>,
    record_hash: Option<Range<usize>>,
    signature: Option<Range<usize>>,
}

/// Mark the bytes of `line` that are special inside a string ([`special16`]) in `specials`,
/// sixteen at a time; the last word's bits past the line's end are set (the zeros it is padded
/// with are special), and [`next_special`] caps what it finds at the line's length.
fn mark_specials(line: &[u8], specials: &mut Vec<u64>) {
    specials.clear();
    let mut blocks = line.chunks_exact(64);
    for block in &mut blocks {
        specials.push(block_specials(block));
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut block = [0u8; 64];
        block[..rest.len()].copy_from_slice(rest);
        specials.push(block_specials(&block));
    }
}

/// The special bytes of a block of 64 as the bits of a word.
#[inline(always)]
fn block_specials(block: &[u8]) -> u64 {
    let mut word = 0u64;
    for (i, chunk) in block.chunks_exact(16).enumerate() {
        let chunk: [u8; 16] = chunk
            .try_into()
            .unwrap_or_else(|_| unreachable!("sixteen bytes"));
        word |= u64::from(special16(chunk)) << (16 * i);
    }
    word
}

/// The first position at or after `p` of a byte that is special inside a string, or the
/// line's length when there is none (from the marks [`mark_specials`] made).
#[inline(always)]
fn next_special(specials: &[u64], len: usize, p: usize) -> usize {
    let mut index = p / 64;
    let mut word = match specials.get(index) {
        Some(word) => word >> (p % 64),
        None => return len,
    };
    if word != 0 {
        return (p + word.trailing_zeros() as usize).min(len);
    }
    loop {
        index += 1;
        word = match specials.get(index) {
            Some(&word) => word,
            None => return len,
        };
        if word != 0 {
            return (index * 64 + word.trailing_zeros() as usize).min(len);
        }
    }
}

/// The position after the whitespace that starts at `p`.
#[inline(always)]
fn ws_end(input: &[u8], mut p: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = input.get(p) {
        p += 1;
    }
    p
}

/// The code unit of `\uXXXX` whose four digits are at `input[at..at + 4]` when they are all
/// lowercase hex (so the escape may already be canonical); `None` otherwise.
#[inline(always)]
fn lower_hex4(input: &[u8], at: usize) -> Option<u16> {
    let digits = input.get(at..at + 4)?;
    let mut unit = 0u16;
    let mut bad = 0u8;
    for &digit in digits {
        let value = LOWER_HEX[usize::from(digit)];
        bad |= value;
        unit = (unit << 4) | u16::from(value & 0x0f);
    }
    (bad & 0x10 == 0).then_some(unit)
}

/// The parser: `input[..pos]` is read; its canonical form is `out` followed by
/// `input[from..pos]`, bytes that are the same in both forms and are written when something
/// that differs comes (whitespace to drop, or a token to rewrite) — so the common record, which
/// differs from its canonical form only in the spaces after `,` and `:`, is copied in a few
/// runs rather than token by token.
struct Parser<'a, 'o> {
    input: &'a [u8],
    specials: &'a [u64],
    pos: usize,
    from: usize,
    out: &'o mut Out,
}

impl<'a> Parser<'a, '_> {
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

    /// The position in the output that `pos` stands for.
    #[inline(always)]
    fn at(&self) -> usize {
        self.out.len + (self.pos - self.from)
    }

    /// Write the pending bytes `input[from..upto]` (short runs without a call to `memcpy`).
    #[inline(always)]
    fn flush(&mut self, upto: usize) {
        let from = self.from;
        let n = upto - from;
        let len = self.out.len;
        if n <= 32
            && let Some(source) = self.input.get(from..from + 32)
            && let Some(target) = self.out.buf.get_mut(len..len + 32)
        {
            target.copy_from_slice(source);
            self.out.len = len + n;
        } else {
            self.out.extend(&self.input[from..upto]);
        }
        self.from = upto;
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        if let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.skip_ws_run();
        }
    }

    /// Write what is pending and drop the whitespace that starts at `pos`.
    #[inline(always)]
    fn skip_ws_run(&mut self) {
        self.flush(self.pos);
        self.pos = ws_end(self.input, self.pos + 1);
        self.from = self.pos;
    }

    /// Python's separator `pair` (`", "` or `": "`) at `pos`: keep its first byte, drop the
    /// space after it.
    #[inline(always)]
    fn spaced(&mut self, pair: &[u8; 2]) -> bool {
        if self.input.get(self.pos..self.pos + 2) != Some(pair) {
            return false;
        }
        self.flush(self.pos + 1);
        self.pos += 2;
        self.from = self.pos;
        true
    }

    /// After a key: `:` and the whitespace around it (Python's `": "` in one test).
    #[inline(always)]
    fn colon(&mut self) -> Option<()> {
        if self.spaced(b": ") {
            return Some(());
        }
        self.skip_ws();
        self.expect(b':')?;
        self.skip_ws();
        Some(())
    }

    /// After a member or element: `true` for `,` (with the whitespace around it: Python's
    /// `", "` in one test), `false` for `close`.
    #[inline(always)]
    fn comma_or(&mut self, close: u8) -> Option<bool> {
        if self.spaced(b", ") {
            return Some(true);
        }
        self.skip_ws();
        match self.next()? {
            b',' => {
                self.skip_ws();
                Some(true)
            }
            byte if byte == close => Some(false),
            _ => None,
        }
    }

    /// Replace `input[start..pos]` (all read, none written) with `text` in the output.
    #[inline(always)]
    fn rewrite(&mut self, start: usize, text: &[u8]) {
        self.flush(start);
        self.out.extend(text);
        self.from = self.pos;
    }

    /// The top-level object (see [`canonical_record`]); `record_hash` and `signature` go to
    /// `side`, the rest to the payload.
    fn record(&mut self, side: &mut Vec<u8>) -> Option<Fields> {
        let mut fields = Fields::default();
        let mut insert_at = None;
        self.skip_ws();
        self.expect(b'{')?;
        // Where the output stands after the last member kept (before the comma that follows
        // it), and whether the comma after the member just dropped must go too (no member was
        // kept before it).
        let mut kept_end = self.at();
        let mut drop_comma = false;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            let mut previous_key: Option<Cow<'a, [u8]>> = None;
            loop {
                let key = self.key()?;
                if previous_key
                    .as_deref()
                    .is_some_and(|previous| !bytes_less(previous, &key))
                {
                    return None;
                }
                self.colon()?;
                let field = field_of(&key);
                if matches!(field, Field::RecordHash | Field::Signature) {
                    // Leaves the payload with its comma: its canonical text goes to `side`.
                    self.flush(self.pos);
                    let start = self.out.len;
                    self.value(1)?;
                    self.flush(self.pos);
                    let side_start = side.len();
                    side.extend_from_slice(&self.out.buf[start..self.out.len]);
                    self.out.len = kept_end;
                    drop_comma = fields.members == 0;
                    let range = Some(side_start..side.len());
                    if field == Field::RecordHash {
                        fields.record_hash = range;
                    } else {
                        fields.signature = range;
                    }
                } else {
                    if insert_at.is_none() && bytes_less(b"record_hash", &key) {
                        insert_at = Some((kept_end, fields.members));
                    }
                    let start = self.at();
                    self.value(1)?;
                    fields.members += 1;
                    kept_end = self.at();
                    let range = Some(start..kept_end);
                    match field {
                        Field::SchemaVersion => fields.schema_version = range,
                        Field::Sequence => fields.sequence = range,
                        Field::PreviousHash => fields.previous_hash = range,
                        _ => {}
                    }
                }
                previous_key = Some(key);
                if !self.comma_or(b'}')? {
                    break;
                }
                if drop_comma {
                    self.flush(self.pos);
                    self.out.len = kept_end;
                    drop_comma = false;
                }
            }
        }
        // The closing brace is pending; whatever follows it may only be whitespace.
        self.flush(self.pos);
        (fields.insert_at, fields.members_before) = insert_at.unwrap_or((kept_end, fields.members));
        self.skip_ws();
        (self.pos == self.input.len()).then_some(fields)
    }

    #[inline(always)]
    fn literal(&mut self, text: &'static [u8]) -> Option<()> {
        if self.input.get(self.pos..self.pos + text.len())? == text {
            self.pos += text.len();
            Some(())
        } else {
            None
        }
    }

    #[inline(always)]
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            b' ' | b'\t' | b'\n' | b'\r' => {
                self.skip_ws_run();
                self.value(depth)
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(());
        }
        let mut previous: Option<Cow<'a, [u8]>> = None;
        loop {
            let key = self.key()?;
            if let Some(previous) = &previous
                && !bytes_less(previous, &key)
            {
                return None;
            }
            self.colon()?;
            self.value(depth)?;
            previous = Some(key);
            if !self.comma_or(b'}')? {
                return Some(());
            }
        }
    }

    #[inline(never)]
    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            if !self.comma_or(b']')? {
                return Some(());
            }
        }
    }

    #[inline(always)]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// JSON number grammar; integers are kept as they are (already canonical, any size, as
    /// Python's `int`; `-0` is `0`), floats become Python's repr of the correctly rounded double.
    #[inline(always)]
    fn number(&mut self) -> Option<()> {
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
            return self.float(start);
        }
        // Integers of any size are kept exact, as Python keeps them (`-0` is `0`, the one
        // integer literal Python writes otherwise); past Python's int-string limit the tree
        // path refuses the line.
        if self.pos - digits_start > crate::canonical::MAX_INT_DIGITS {
            return None;
        }
        if &self.input[start..self.pos] == b"-0" {
            self.rewrite(start, b"0");
        }
        Some(())
    }

    /// The rest of a number with a fraction or an exponent, from its start (the integer part
    /// is read), as Python's repr of the correctly rounded double.
    #[inline(never)]
    fn float(&mut self, start: usize) -> Option<()> {
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
        if !already_python_repr(text) {
            let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
            if !value.is_finite() {
                return None;
            }
            self.rewrite(start, python_float_repr(value).as_bytes());
        }
        Some(())
    }

    /// A string value from its opening quote. Plain bytes and escapes already in Python's form
    /// stay pending; anything else is decoded and written re-escaped.
    #[inline(always)]
    fn string(&mut self) -> Option<()> {
        let mut p = self.pos + 1;
        loop {
            p = next_special(self.specials, self.input.len(), p);
            match *self.input.get(p)? {
                b'"' => {
                    self.pos = p + 1;
                    return Some(());
                }
                byte => p = self.special(p, byte)?,
            }
        }
    }

    /// The escape or character at `at` inside a string (`byte` is its first byte), left as it
    /// is when Python writes it so, else written re-escaped; the position after it.
    #[inline(never)]
    fn special(&mut self, at: usize, byte: u8) -> Option<usize> {
        if byte == b'\\' {
            if let Some(end) = self.canonical_escape(at) {
                return Some(end);
            }
            self.pos = at + 1;
            let ch = self.escape()?;
            self.flush(at);
            write_char(self.out, ch);
        } else if byte < 0x20 {
            return None;
        } else {
            self.pos = at;
            let ch = self.non_ascii()?;
            self.flush(at);
            write_char(self.out, ch);
        }
        self.from = self.pos;
        Some(self.pos)
    }

    /// The end of the escape at `at` when it is exactly what Python writes for its character
    /// (`\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, or `\u` with lowercase digits for a control
    /// character without a short form, DEL, a non-ASCII BMP character or a surrogate pair).
    #[inline(always)]
    fn canonical_escape(&self, at: usize) -> Option<usize> {
        match *self.input.get(at + 1)? {
            b'"' | b'\\' | b'n' | b'r' | b't' | b'b' | b'f' => Some(at + 2),
            b'u' => {
                let unit = lower_hex4(self.input, at + 2)?;
                match unit {
                    0x08 | 0x09 | 0x0a | 0x0c | 0x0d => None,
                    0x00..=0x1f | 0x7f..=0xd7ff | 0xe000..=0xffff => Some(at + 6),
                    0xd800..=0xdbff => {
                        if self.input.get(at + 6..at + 8)? != b"\\u" {
                            return None;
                        }
                        let low = lower_hex4(self.input, at + 8)?;
                        (0xdc00..=0xdfff).contains(&low).then_some(at + 12)
                    }
                    _ => None,
                }
            }
            _ => None,
        }
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

    /// Parse an object key and return its decoded bytes (keys are compared decoded): where they
    /// lie in the line when the key is one plain run (and so stays pending), else a decoded
    /// copy, and the key is written re-escaped.
    #[inline(always)]
    fn key(&mut self) -> Option<Cow<'a, [u8]>> {
        if self.peek()? != b'"' {
            self.skip_ws();
            if self.peek()? != b'"' {
                return None;
            }
        }
        let start = self.pos + 1;
        let end = next_special(self.specials, self.input.len(), start);
        if self.input.get(end) == Some(&b'"') {
            self.pos = end + 1;
            return Some(Cow::Borrowed(&self.input[start..end]));
        }
        self.key_slow(start, end)
    }

    #[inline(never)]
    fn key_slow(&mut self, start: usize, plain_end: usize) -> Option<Cow<'a, [u8]>> {
        let mut decoded = self.input[start..plain_end].to_vec();
        self.pos = plain_end;
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
        self.flush(start - 1);
        self.out.push(b'"');
        for ch in std::str::from_utf8(&decoded).ok()?.chars() {
            write_char(self.out, ch);
        }
        self.out.push(b'"');
        self.from = self.pos;
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

    /// Bytes copied as they are inside a string in both the input and the canonical form:
    /// printable ASCII except `"` and `\\` (the reference the vector tests are held to).
    const PLAIN: [bool; 256] = {
        let mut table = [false; 256];
        let mut byte = b' ';
        while byte <= b'~' {
            table[byte as usize] = byte != b'"' && byte != b'\\';
            byte += 1;
        }
        table
    };

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

    /// The bitmap marks exactly the special bytes of a line, and the search from every position
    /// finds the first one at or after it (or the line's end), across word boundaries.
    #[test]
    fn bitmap_finds_exactly_the_next_special_byte() {
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut specials = Vec::new();
        for round in 0..3_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let len = (rng % 300) as usize;
            // Sparse or dense special bytes, of every value.
            let density = [2u64, 16, 200][round % 3];
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    if rng.is_multiple_of(density) {
                        (rng >> 16) as u8
                    } else {
                        b' ' + ((rng >> 16) % 95) as u8
                    }
                })
                .collect();
            mark_specials(&line, &mut specials);
            for (i, &byte) in line.iter().enumerate() {
                let marked = specials[i / 64] >> (i % 64) & 1 == 1;
                assert_eq!(
                    marked,
                    !PLAIN[usize::from(byte)],
                    "{byte:#x} at {i} of {len}"
                );
            }
            for p in 0..len + 3 {
                let expected = (p..len)
                    .find(|&i| !PLAIN[usize::from(line[i])])
                    .unwrap_or(len);
                assert_eq!(
                    next_special(&specials, len, p),
                    expected,
                    "from {p} of {len}"
                );
            }
        }
    }

    /// Strings whose escapes and raw bytes sit on either side of the bitmap's 64-byte words.
    #[test]
    fn strings_across_bitmap_words_match_the_tree_path() {
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
        for pad in 0..140 {
            for special in [
                "\\u00e9",
                "\\u00E9",
                "é",
                "\\\"",
                "\\/",
                "\\ud83d\\ude00",
                "\u{7f}",
            ] {
                let filler = "x".repeat(pad);
                let line =
                    format!(r#"{{"k{filler}": "{filler}{special}{filler}", "z": "{special}"}}"#);
                assert!(
                    canonical_record(line.as_bytes(), &mut scratch).is_some(),
                    "{line}"
                );
                assert_matches_tree(&line);
            }
        }
    }

    /// Escapes already in Python's form are kept, others are written as Python writes them.
    #[test]
    fn escapes_are_kept_or_rewritten_as_python_writes_them() {
        let mut scratch = Scratch::default();
        for (input, canonical) in [
            (r#"\u00e9"#, r#"\u00e9"#),
            (r#"\u00E9"#, r#"\u00e9"#),
            (r#"\u00c9\u00C9"#, r#"\u00c9\u00c9"#),
            (r#"\u0041"#, "A"),
            (r#"\u0022"#, r#"\""#),
            (r#"\u005c"#, r#"\\"#),
            (r#"\/"#, "/"),
            (r#"\u002f"#, "/"),
            (r#"\u0008\u0009\u000a\u000c\u000d"#, r#"\b\t\n\f\r"#),
            (r#"\u000A"#, r#"\n"#),
            (r#"\b\t\n\f\r\"\\"#, r#"\b\t\n\f\r\"\\"#),
            (r#"\u0000\u001f\u001F"#, r#"\u0000\u001f\u001f"#),
            (r#"\u007f"#, r#"\u007f"#),
            ("\u{7f}", r#"\u007f"#),
            ("é✓", r#"\u00e9\u2713"#),
            (r#"\ud83d\ude00"#, r#"\ud83d\ude00"#),
            (r#"\uD83D\uDE00"#, r#"\ud83d\ude00"#),
            (r#"\ud83d\uDE00"#, r#"\ud83d\ude00"#),
            ("😀", r#"\ud83d\ude00"#),
            (r#"\uffff\ue000\ud7ff"#, r#"\uffff\ue000\ud7ff"#),
        ] {
            for line in [
                format!(r#"{{"a": "{input}"}}"#),
                format!(r#"{{"{input}": 1}}"#),
                format!(r#"{{"a": ["x{input}y", {{"{input}": "{input}"}}]}}"#),
            ] {
                let record = canonical_record(line.as_bytes(), &mut scratch)
                    .unwrap_or_else(|| panic!("declined {line}"));
                let expected = line
                    .replace(input, canonical)
                    .replace(": ", ":")
                    .replace(", ", ",");
                assert_eq!(
                    String::from_utf8(record.payload.to_vec()).unwrap(),
                    expected,
                    "{line}"
                );
                assert_matches_tree(&line);
            }
        }
        // Lone surrogates, escapes that are not JSON, raw control characters: declined (the
        // tree path reports them).
        for input in [
            r#"\ud83d"#,
            r#"\ude00"#,
            r#"\ud83dx"#,
            r#"\ud83d\u0041"#,
            r#"\x41"#,
            r#"\u00g1"#,
            r#"\u00e"#,
            "\u{1}",
            "\t",
        ] {
            let line = format!(r#"{{"a": "{input}"}}"#);
            assert!(
                canonical_record(line.as_bytes(), &mut scratch).is_none(),
                "{line}"
            );
            assert_matches_tree(&line);
        }
    }

    /// Lines as a hostile or merely unusual writer might spell them — every escape spelled
    /// several ways, raw non-ASCII and DEL, odd whitespace, non-canonical numbers, unsorted and
    /// duplicate keys, bad literals — give exactly the tree path's result or are declined.
    #[test]
    fn random_hostile_lines_match_the_tree_path() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut scratch = Scratch::default();
        let (mut taken, total) = (0, 20_000);
        for _ in 0..total {
            let mut line = String::new();
            if rng.chance(8) {
                line.push(' ');
            }
            rng.object(&mut line, 0, true);
            if rng.chance(8) {
                line.push(' ');
            }
            if canonical_record(line.as_bytes(), &mut scratch).is_some() {
                taken += 1;
            }
            assert_matches_tree(&line);
        }
        // Both outcomes are exercised: most lines take the fast path, some are declined.
        assert!(
            taken > total / 5 && taken < total,
            "{taken} of {total} taken"
        );
    }

    /// A small generator of record lines for [`random_hostile_lines_match_the_tree_path`].
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn chance(&mut self, n: u64) -> bool {
            self.below(n) == 0
        }

        fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
            options[self.below(options.len() as u64) as usize]
        }

        fn ws(&mut self, s: &mut String) {
            let ws = ["", "", "", "", "", "", " ", "  ", "\t", "\n ", "\r", " "];
            s.push_str(self.pick(&ws));
        }

        fn escape(&mut self, s: &mut String, unit: u32) {
            if self.chance(3) {
                s.push_str(&format!("\\u{unit:04X}"));
            } else {
                s.push_str(&format!("\\u{unit:04x}"));
            }
        }

        fn string(&mut self, s: &mut String) {
            s.push('"');
            for _ in 0..self.below(30) {
                match self.below(40) {
                    0..=7 => {
                        let short = [
                            r#"\""#, r#"\\"#, r#"\/"#, r#"\n"#, r#"\t"#, r#"\b"#, r#"\f"#, r#"\r"#,
                        ];
                        s.push_str(self.pick(&short));
                    }
                    8 => {
                        let units = [
                            0u32, 1, 8, 9, 10, 12, 13, 0x1f, 0x20, 0x22, 0x2f, 0x41, 0x5c, 0x7e,
                            0x7f, 0x80, 0xe9, 0x2713, 0xd7ff, 0xe000, 0xfffe, 0xffff,
                        ];
                        let unit = units[self.below(units.len() as u64) as usize];
                        self.escape(s, unit);
                    }
                    9 => {
                        self.escape(s, 0xd83d);
                        self.escape(s, 0xde00);
                    }
                    10 if self.chance(20) => {
                        // A lone surrogate.
                        let unit = [0xd83d, 0xde00][self.below(2) as usize];
                        self.escape(s, unit);
                    }
                    11 => s.push('é'),
                    12 => s.push('✓'),
                    13 => s.push('😀'),
                    14 => s.push('\u{7f}'),
                    15 => s.push(if self.chance(20) { '\u{1}' } else { '\u{80}' }),
                    16 if self.chance(30) => s.push_str(r#"\x"#),
                    _ => s.push(char::from(b'a' + self.below(26) as u8)),
                }
            }
            s.push('"');
        }

        fn number(&mut self, s: &mut String) {
            if self.chance(40) {
                let bad = ["01", "1.", ".5", "-", "1e", "1e400", "-1e-400", "+1", "NaN"];
                s.push_str(self.pick(&bad));
                return;
            }
            let numbers = [
                "0",
                "-0",
                "1",
                "-1",
                "123456789012345678901234567890",
                "0.5",
                "2.50",
                "1e5",
                "1E+5",
                "1.0",
                "-0.0",
                "0.0001",
                "0.00001",
                "1e16",
                "123456789012345.0",
                "1234567890123456.0",
                "3.75e-1",
                "0.125",
                "1e-7",
                "123.456e2",
                "-0.000123",
                "5e-324",
                "1.7976931348623157e308",
            ];
            s.push_str(self.pick(&numbers));
        }

        fn value(&mut self, s: &mut String, depth: u32) {
            match self.below(if depth > 3 { 5 } else { 8 }) {
                0 | 1 => self.string(s),
                2 | 4 => self.number(s),
                3 => {
                    let literal = if self.chance(40) {
                        self.pick(&["nul", "True"])
                    } else {
                        self.pick(&["true", "false", "null"])
                    };
                    s.push_str(literal);
                }
                5 | 6 => self.object(s, depth + 1, false),
                _ => {
                    s.push('[');
                    self.ws(s);
                    for i in 0..self.below(4) {
                        if i > 0 {
                            self.ws(s);
                            s.push(',');
                            self.ws(s);
                        }
                        self.value(s, depth + 1);
                    }
                    self.ws(s);
                    s.push(']');
                }
            }
        }

        fn object(&mut self, s: &mut String, depth: u32, top: bool) {
            // Keys in sorted order of their decoded text, each spelled one of several ways.
            let spellings: &[&[&str]] = if top {
                &[
                    &["action"],
                    &["actor"],
                    &["metadata"],
                    &["previous_hash"],
                    &["record_hash", r#"record_h\u0061sh"#],
                    &["schema_version"],
                    &["sequence"],
                    &["signature"],
                    &["target"],
                    &["zeta"],
                ]
            } else {
                &[
                    &["a"],
                    &[r#"a\/b"#, "a/b"],
                    &["ab", r#"\u0061b"#],
                    &["b"],
                    &[r#"c\n"#, r#"c\u000a"#],
                    &["z"],
                    &["é", r#"\u00e9"#, r#"\u00E9"#],
                ]
            };
            let mut keys: Vec<&str> = Vec::new();
            for options in spellings {
                if !self.chance(3) {
                    keys.push(self.pick(options));
                }
            }
            if keys.len() > 1 && self.chance(60) {
                keys.swap(0, 1);
            }
            if !keys.is_empty() && self.chance(60) {
                keys.insert(0, keys[0]);
            }
            s.push('{');
            self.ws(s);
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    self.ws(s);
                    s.push(',');
                    if self.chance(2) {
                        s.push(' ');
                    } else {
                        self.ws(s);
                    }
                }
                s.push('"');
                s.push_str(key);
                s.push('"');
                self.ws(s);
                s.push(':');
                if self.chance(2) {
                    s.push(' ');
                } else {
                    self.ws(s);
                }
                if top && key.starts_with("record_h") && self.chance(2) {
                    s.push_str(
                        r#""751c296ecb948a2590b709bf01f4b09a2b6f56b1fe031d0afe0836a4cbd186d4""#,
                    );
                } else {
                    self.value(s, depth);
                }
            }
            self.ws(s);
            s.push('}');
        }
    }

    #[test]
    fn a_long_line_leaves_no_large_buffers_behind() {
        let mut scratch = Scratch::default();
        let long = format!(r#"{{"a": "{}"}}"#, "x".repeat(1 << 20));
        assert!(canonical_record(long.as_bytes(), &mut scratch).is_some());
        scratch.release_over(1 << 21);
        assert!(scratch.payload.buf.len() > 1 << 20, "kept below the limit");
        scratch.release_over(1 << 16);
        assert_eq!(scratch.payload.buf.len(), 0);
        assert_eq!(scratch.specials.capacity(), 0);
        // Still usable afterwards.
        let record = canonical_record(br#"{"a": 1}"#, &mut scratch).unwrap();
        assert_eq!(record.payload, br#"{"a":1}"#);
    }

    #[test]
    fn signed_parts_commas() {
        let mut scratch = Scratch::default();
        for (line, expected) in [
            (r#"{"a": 1}"#, r#"{"a":1,"record_hash":"H"}"#),
            (r#"{"z": 1}"#, r#"{"record_hash":"H","z":1}"#),
            (r#"{"a": 1, "z": 2}"#, r#"{"a":1,"record_hash":"H","z":2}"#),
            (r#"{}"#, r#"{"record_hash":"H"}"#),
            (" { \n }\t", r#"{"record_hash":"H"}"#),
            (
                r#"{"record_hash": "x", "signature": 1}"#,
                r#"{"record_hash":"H"}"#,
            ),
            // The members that leave the payload take a comma with them, before or after.
            (
                r#"{"record_hash": "x", "z": 1}"#,
                r#"{"record_hash":"H","z":1}"#,
            ),
            (
                r#"{"record_hash": "x", "signature": 1, "z": 2}"#,
                r#"{"record_hash":"H","z":2}"#,
            ),
            (
                r#"{"a": 1, "record_hash": "x", "signature": {"k": [1, 2]}}"#,
                r#"{"a":1,"record_hash":"H"}"#,
            ),
            (
                r#"{ "a" : 1 ,"record_hash":"x" , "s": 2,"signature" : 1 ,"z":3 }"#,
                r#"{"a":1,"record_hash":"H","s":2,"z":3}"#,
            ),
        ] {
            let record = canonical_record(line.as_bytes(), &mut scratch).unwrap();
            assert_eq!(signed(&record, "H"), expected, "{line}");
            assert_matches_tree(line);
        }
    }
}
