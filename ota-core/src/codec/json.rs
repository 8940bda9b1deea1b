//! A small, strict, allocation-free JSON reader (RFC 8259).
//!
//! [`parse`] validates a whole document once (nesting depth bounded by [`MAX_DEPTH`]) and returns the
//! root [`Value`]; values borrow from the document. Strings are kept raw ([`RawStr`]: the bytes
//! between the quotes, escapes intact) and unescaped on demand into caller memory.
//!
//! # What is checked
//!
//! - the RFC 8259 grammar, numbers included (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`);
//! - strings: valid UTF-8, no raw control character (`< 0x20`), only the RFC's escapes, and
//!   `\uXXXX` surrogates correctly paired;
//! - nesting: at most [`MAX_DEPTH`] arrays/objects deep;
//! - duplicate keys in one object, compared after unescaping (`"a"` and `"\u0061"` are the same
//!   key). The check tracks the keys of the object being read together with those of its
//!   enclosing objects, at most [`DUPLICATE_CHECK_KEYS`] keys in all (a fixed 512-byte table,
//!   so `parse` stays linear and its stack use fixed); keys beyond that budget are not checked.
//!   Job documents come nowhere near it (their deepest chain of objects holds about 25 keys),
//!   and the Jobs readers ([`super::job`], [`super::status`]) refuse a repeated member they
//!   read whatever the object's size.
//!
//! # Cost
//!
//! [`parse`] is one linear pass, plus at most [`DUPLICATE_CHECK_KEYS`] hash comparisons per key.
//! Reading values afterwards ([`Object::get`], the iterators) walks the validated bytes again:
//! each call is linear in the size of the object or array it walks.

use core::fmt;

/// Deepest nesting of arrays/objects accepted by [`parse`].
pub const MAX_DEPTH: usize = 16;

/// How many keys [`parse`] tracks at once (the object being read and its enclosing objects
/// together) to refuse duplicate keys. Keys beyond this budget are not checked for duplicates.
pub const DUPLICATE_CHECK_KEYS: usize = 64;

/// Why a document is not acceptable JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JsonError {
    /// Syntax error at this byte offset.
    Syntax {
        /// Byte offset into the document.
        at: usize,
    },
    /// The document ended inside a value.
    UnexpectedEnd,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Bytes after the root value.
    TrailingData,
    /// A string contains invalid UTF-8, a raw control character, a bad escape or an unpaired
    /// surrogate.
    BadString,
    /// An object has the same key twice (refused: it makes documents ambiguous).
    DuplicateKey,
    /// A caller buffer is too small for the unescaped string.
    BufferTooSmall,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { at } => write!(f, "json syntax error at byte {at}"),
            Self::UnexpectedEnd => f.write_str("json ends inside a value"),
            Self::TooDeep => write!(f, "json nested deeper than {MAX_DEPTH} levels"),
            Self::TrailingData => f.write_str("json has data after the root value"),
            Self::BadString => f.write_str("json string has invalid utf-8, a control character, a bad escape or an unpaired surrogate"),
            Self::DuplicateKey => f.write_str("json object has a duplicate key"),
            Self::BufferTooSmall => f.write_str("buffer too small for the unescaped string"),
        }
    }
}

impl core::error::Error for JsonError {}

/// A JSON string as it appears in the document: the bytes between the quotes, escapes intact.
/// Only produced by [`parse`], so its escapes and UTF-8 are known to be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStr<'a>(&'a [u8]);

impl<'a> RawStr<'a> {
    /// The raw bytes between the quotes.
    pub fn raw(&self) -> &'a [u8] {
        self.0
    }
    /// The string itself when it contains no escape sequence, `None` otherwise.
    pub fn as_str(&self) -> Option<&'a str> {
        if self.0.contains(&b'\\') {
            return None;
        }
        core::str::from_utf8(self.0).ok()
    }
    /// Length in bytes once unescaped (UTF-8).
    pub fn unescaped_len(&self) -> usize {
        if !self.0.contains(&b'\\') {
            return self.0.len();
        }
        Unescaped::new(self.0).count()
    }
    /// Unescapes into `out`, returning the number of bytes written (valid UTF-8).
    ///
    /// # Errors
    ///
    /// [`JsonError::BufferTooSmall`] when `out` is shorter than [`RawStr::unescaped_len`]
    /// (`out` is then left untouched).
    pub fn unescape_into(&self, out: &mut [u8]) -> Result<usize, JsonError> {
        if self.unescaped_len() > out.len() {
            return Err(JsonError::BufferTooSmall);
        }
        let mut it = Unescaped::new(self.0);
        let mut n = 0;
        for (slot, b) in out.iter_mut().zip(&mut it) {
            *slot = b;
            n += 1;
        }
        if it.bad {
            return Err(JsonError::BadString);
        }
        Ok(n)
    }
    /// Whether the unescaped string equals `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        if !self.0.contains(&b'\\') {
            return self.0 == s.as_bytes();
        }
        let mut it = Unescaped::new(self.0);
        s.bytes().all(|b| it.next() == Some(b)) && it.next().is_none()
    }
}

/// A JSON value borrowed from a validated document.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as its source text (validated JSON number syntax).
    Number(&'a str),
    /// A string.
    String(RawStr<'a>),
    /// An array.
    Array(Array<'a>),
    /// An object.
    Object(Object<'a>),
}

impl<'a> Value<'a> {
    /// The value as an unsigned 32-bit integer: a JSON integer, or a string holding a decimal
    /// or `0x` hexadecimal integer (AWS sends both). `None` for anything else, fractions,
    /// negatives or values over `u32::MAX`.
    ///
    /// Strings must hold only the digits (no sign, no spaces, no escapes); leading zeros are
    /// allowed in strings (`"007"`), as `strtoul` allows them.
    pub fn as_u32(&self) -> Option<u32> {
        self.as_u64().and_then(|v| u32::try_from(v).ok())
    }
    /// As [`Value::as_u32`], for values up to `u64::MAX` (Jobs timestamps).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Number(s) => parse_digits(s.as_bytes(), 10),
            // An escape or a non-ASCII byte is not a digit: the raw text serves.
            Self::String(r) => parse_uint_text(r.raw()),
            _ => None,
        }
    }
    /// The object, if this is one.
    pub fn as_object(&self) -> Option<Object<'a>> {
        match self {
            Self::Object(o) => Some(*o),
            _ => None,
        }
    }
    /// The array, if this is one.
    pub fn as_array(&self) -> Option<Array<'a>> {
        match self {
            Self::Array(a) => Some(*a),
            _ => None,
        }
    }
    /// The string, if this is one.
    pub fn as_raw_str(&self) -> Option<RawStr<'a>> {
        match self {
            Self::String(s) => Some(*s),
            _ => None,
        }
    }
}

/// A validated JSON object (the bytes from `{` to `}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<'a>(&'a [u8]);

impl<'a> Object<'a> {
    /// The object's source text, braces included.
    pub fn source(&self) -> &'a [u8] {
        self.0
    }
    /// The value of `key` (compared after unescaping), or `None`. Should the key appear more
    /// than once (possible only past [`DUPLICATE_CHECK_KEYS`]), the first one.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.iter().find(|(k, _)| k.eq_str(key)).map(|(_, v)| v)
    }
    /// The members in document order.
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    pub fn iter(&self) -> ObjectIter<'a> {
        ObjectIter {
            rest: self.0.get(1..).unwrap_or(&[]),
        }
    }
    /// Number of members.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// A validated JSON array (the bytes from `[` to `]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Array<'a>(&'a [u8]);

impl<'a> Array<'a> {
    /// The array's source text, brackets included.
    pub fn source(&self) -> &'a [u8] {
        self.0
    }
    /// The elements in order.
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            rest: self.0.get(1..).unwrap_or(&[]),
        }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
    /// The element at `index`.
    pub fn get(&self, index: usize) -> Option<Value<'a>> {
        self.iter().nth(index)
    }
}

/// Iterator over an object's members.
#[derive(Debug, Clone)]
pub struct ObjectIter<'a> {
    rest: &'a [u8],
}

impl<'a> ObjectIter<'a> {
    fn step(&mut self) -> Option<(RawStr<'a>, Value<'a>)> {
        let r = skip_ws_commas(self.rest);
        if r.first() != Some(&b'"') {
            return None;
        }
        let key_end = string_end(r, 1)?;
        let key = RawStr(r.get(1..key_end)?);
        let r = skip_ws(r.get(key_end + 1..)?);
        if r.first() != Some(&b':') {
            return None;
        }
        let r = skip_ws(r.get(1..)?);
        let (value, len) = read_value(r)?;
        self.rest = r.get(len..)?;
        Some((key, value))
    }
}

impl<'a> Iterator for ObjectIter<'a> {
    type Item = (RawStr<'a>, Value<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.step();
        if item.is_none() {
            self.rest = &[];
        }
        item
    }
}

/// Iterator over an array's elements.
#[derive(Debug, Clone)]
pub struct ArrayIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        let r = skip_ws_commas(self.rest);
        let item = read_value(r).and_then(|(v, len)| Some((v, r.get(len..)?)));
        match item {
            Some((v, rest)) => {
                self.rest = rest;
                Some(v)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

/// Validates `doc` as one JSON value (surrounding whitespace allowed) and returns it.
///
/// # Errors
///
/// The first problem found, as a [`JsonError`].
pub fn parse(doc: &[u8]) -> Result<Value<'_>, JsonError> {
    let mut v = Validator::new(doc);
    v.skip_ws();
    let start = v.pos;
    v.run()?;
    let end = v.pos;
    v.skip_ws();
    if v.pos != doc.len() {
        return Err(JsonError::TrailingData);
    }
    doc.get(start..end)
        .and_then(read_value)
        .map(|(value, _)| value)
        .ok_or(JsonError::Syntax { at: start })
}

// ---------------------------------------------------------------------------------------------
// Numbers as text

/// Digits of `radix` only (at least one), no overflow.
fn parse_digits(b: &[u8], radix: u32) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &c| {
        let d = char::from(c).to_digit(radix)?;
        acc.checked_mul(u64::from(radix))?.checked_add(u64::from(d))
    })
}

/// `0x`/`0X` + hex digits, or decimal digits: the text of a number sent as a JSON string.
pub(crate) fn parse_uint_text(b: &[u8]) -> Option<u64> {
    match b {
        [b'0', b'x' | b'X', hex @ ..] => parse_digits(hex, 16),
        _ => parse_digits(b, 10),
    }
}

// ---------------------------------------------------------------------------------------------
// Walking validated bytes (never panics; gives up with `None` on anything unexpected)

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| is_ws(c)).count();
    b.get(n..).unwrap_or(&[])
}

fn skip_ws_commas(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| is_ws(c) || c == b',').count();
    b.get(n..).unwrap_or(&[])
}

/// Index of the closing quote of a string whose content starts at `from`.
fn string_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        match *b.get(i)? {
            b'"' => return Some(i),
            b'\\' => i = i.checked_add(2)?,
            _ => i += 1,
        }
    }
}

/// Length of the array/object starting at `b[0]`, closing bracket included.
fn container_len(b: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    loop {
        match *b.get(i)? {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' => i = string_end(b, i + 1)?,
            _ => {}
        }
        i += 1;
    }
}

/// The value starting at `b[0]` and the number of bytes it spans.
fn read_value(b: &[u8]) -> Option<(Value<'_>, usize)> {
    match *b.first()? {
        b'{' => {
            let n = container_len(b)?;
            Some((Value::Object(Object(b.get(..n)?)), n))
        }
        b'[' => {
            let n = container_len(b)?;
            Some((Value::Array(Array(b.get(..n)?)), n))
        }
        b'"' => {
            let end = string_end(b, 1)?;
            Some((Value::String(RawStr(b.get(1..end)?)), end + 1))
        }
        b't' if b.starts_with(b"true") => Some((Value::Bool(true), 4)),
        b'f' if b.starts_with(b"false") => Some((Value::Bool(false), 5)),
        b'n' if b.starts_with(b"null") => Some((Value::Null, 4)),
        b'-' | b'0'..=b'9' => {
            let n = b
                .iter()
                .take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .count();
            let text = core::str::from_utf8(b.get(..n)?).ok()?;
            Some((Value::Number(text), n))
        }
        _ => None,
    }
}

/// Four hex digits at `at`, or `None` when missing or not hex.
fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at.checked_add(4)?)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &c| Some(acc * 16 + char::from(c).to_digit(16)?))
}

const HIGH_SURROGATES: core::ops::Range<u32> = 0xD800..0xDC00;
const LOW_SURROGATES: core::ops::Range<u32> = 0xDC00..0xE000;

fn simple_escape(e: u8) -> Option<u8> {
    Some(match e {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        _ => return None,
    })
}

/// The unescaped bytes (UTF-8) of a validated raw string. Stops, with `bad` set, on anything
/// a validated string cannot contain.
struct Unescaped<'a> {
    raw: &'a [u8],
    pos: usize,
    pending: [u8; 4],
    pending_pos: usize,
    pending_len: usize,
    bad: bool,
}

impl<'a> Unescaped<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Self {
            raw,
            pos: 0,
            pending: [0; 4],
            pending_pos: 0,
            pending_len: 0,
            bad: false,
        }
    }

    fn fail(&mut self) -> Option<u8> {
        self.bad = true;
        self.pos = self.raw.len();
        None
    }

    /// The code point of the `\u` escape at `self.pos` (pairs combined), advancing past it.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = hex4(self.raw, self.pos + 2)?;
        self.pos += 6;
        let cp = if HIGH_SURROGATES.contains(&hi) {
            if self.raw.get(self.pos..self.pos + 2)? != b"\\u" {
                return None;
            }
            let lo = hex4(self.raw, self.pos + 2)?;
            if !LOW_SURROGATES.contains(&lo) {
                return None;
            }
            self.pos += 6;
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(cp)
    }
}

impl Iterator for Unescaped<'_> {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        if self.pending_pos < self.pending_len {
            let b = self.pending.get(self.pending_pos).copied();
            self.pending_pos += 1;
            return b;
        }
        let b = *self.raw.get(self.pos)?;
        if b != b'\\' {
            self.pos += 1;
            return Some(b);
        }
        let Some(&e) = self.raw.get(self.pos + 1) else {
            return self.fail();
        };
        if let Some(c) = simple_escape(e) {
            self.pos += 2;
            return Some(c);
        }
        if e != b'u' {
            return self.fail();
        }
        let Some(c) = self.unicode_escape() else {
            return self.fail();
        };
        let len = c.encode_utf8(&mut self.pending).len();
        self.pending_len = len;
        self.pending_pos = 1;
        self.pending.first().copied()
    }
}

/// Whether two validated raw strings are equal once unescaped.
fn unescaped_eq(a: &[u8], b: &[u8]) -> bool {
    if !a.contains(&b'\\') && !b.contains(&b'\\') {
        return a == b;
    }
    Unescaped::new(a).eq(Unescaped::new(b))
}

// ---------------------------------------------------------------------------------------------
// The validator

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

fn fnv(hash: u32, b: u8) -> u32 {
    (hash ^ u32::from(b)).wrapping_mul(FNV_PRIME)
}

/// A key remembered for the duplicate check: offset of its content and hash of its unescaped
/// bytes.
#[derive(Clone, Copy)]
struct TrackedKey {
    start: u32,
    hash: u32,
}

struct Validator<'a> {
    doc: &'a [u8],
    pos: usize,
    depth: usize,
    /// `true` for an object, `false` for an array, per open container.
    is_object: [bool; MAX_DEPTH],
    /// Where each open object's keys start in `keys`.
    key_base: [usize; MAX_DEPTH],
    keys: [TrackedKey; DUPLICATE_CHECK_KEYS],
    key_count: usize,
}

impl<'a> Validator<'a> {
    fn new(doc: &'a [u8]) -> Self {
        Self {
            doc,
            pos: 0,
            depth: 0,
            is_object: [false; MAX_DEPTH],
            key_base: [0; MAX_DEPTH],
            keys: [TrackedKey { start: 0, hash: 0 }; DUPLICATE_CHECK_KEYS],
            key_count: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.doc.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// The error for "expected something else here".
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    fn unexpected(&self) -> JsonError {
        if self.pos >= self.doc.len() {
            JsonError::UnexpectedEnd
        } else {
            JsonError::Syntax { at: self.pos }
        }
    }

    fn push(&mut self, is_object: bool) -> Result<(), JsonError> {
        let slot = self
            .is_object
            .get_mut(self.depth)
            .ok_or(JsonError::TooDeep)?;
        *slot = is_object;
        if let Some(base) = self.key_base.get_mut(self.depth) {
            *base = self.key_count;
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        if self.is_object.get(self.depth) == Some(&true) {
            self.key_count = self.key_base.get(self.depth).copied().unwrap_or(0);
        }
        self.pos += 1;
    }

    /// Validates the whole value at `pos` (leading whitespace already skipped).
    fn run(&mut self) -> Result<(), JsonError> {
        'value: loop {
            match self.peek() {
                None => return Err(JsonError::UnexpectedEnd),
                Some(b'{') => {
                    self.push(true)?;
                    self.skip_ws();
                    match self.peek() {
                        Some(b'}') => self.pop(),
                        Some(b'"') => {
                            self.member_key()?;
                            continue 'value;
                        }
                        _ => return Err(self.unexpected()),
                    }
                }
                Some(b'[') => {
                    self.push(false)?;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pop();
                    } else {
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(_) => return Err(self.unexpected()),
            }
            // After a complete value: close containers or move to the next element.
            loop {
                if self.depth == 0 {
                    return Ok(());
                }
                self.skip_ws();
                let in_object = self.is_object.get(self.depth - 1) == Some(&true);
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                        if in_object {
                            if self.peek() != Some(b'"') {
                                return Err(self.unexpected());
                            }
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if in_object => self.pop(),
                    Some(b']') if !in_object => self.pop(),
                    _ => return Err(self.unexpected()),
                }
            }
        }
    }

    /// A member's key (at `pos`, a quote), the duplicate check, and the `:`.
    fn member_key(&mut self) -> Result<(), JsonError> {
        let (start, hash) = self.string()?;
        self.check_duplicate(start, hash)?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.unexpected());
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn check_duplicate(&mut self, start: usize, hash: u32) -> Result<(), JsonError> {
        let base = self
            .depth
            .checked_sub(1)
            .and_then(|d| self.key_base.get(d))
            .copied()
            .unwrap_or(0);
        let key = self
            .doc
            .get(start..)
            .and_then(|b| b.get(..string_end(b, 0)?))
            .unwrap_or(&[]);
        for seen in self.keys.get(base..self.key_count).unwrap_or(&[]) {
            if seen.hash != hash {
                continue;
            }
            let other = self
                .doc
                .get(seen.start as usize..)
                .and_then(|b| b.get(..string_end(b, 0)?))
                .unwrap_or(&[]);
            if unescaped_eq(key, other) {
                return Err(JsonError::DuplicateKey);
            }
        }
        if let (Some(slot), Ok(start)) = (self.keys.get_mut(self.key_count), u32::try_from(start)) {
            *slot = TrackedKey { start, hash };
            self.key_count += 1;
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        for &expected in word {
            match self.peek() {
                Some(b) if b == expected => self.pos += 1,
                _ => return Err(self.unexpected()),
            }
        }
        Ok(())
    }

    fn digits(&mut self) -> Result<(), JsonError> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(self.unexpected());
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        Ok(())
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits()?,
            _ => return Err(self.unexpected()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        Ok(())
    }

    /// Four hex digits at `at` for a `\u` escape.
    fn escape_hex(&self, at: usize) -> Result<u32, JsonError> {
        hex4(self.doc, at).ok_or_else(|| {
            let available = self.doc.get(at..).unwrap_or(&[]);
            let shown = available.get(..4).unwrap_or(available);
            if shown.len() < 4 && shown.iter().all(u8::is_ascii_hexdigit) {
                JsonError::UnexpectedEnd
            } else {
                JsonError::BadString
            }
        })
    }

    /// A string at `pos` (an opening quote); returns its content's offset and the hash of its
    /// unescaped bytes, and leaves `pos` after the closing quote.
    fn string(&mut self) -> Result<(usize, u32), JsonError> {
        self.pos += 1;
        let start = self.pos;
        let mut hash = FNV_OFFSET;
        let mut non_ascii = false;
        loop {
            let b = self.peek().ok_or(JsonError::UnexpectedEnd)?;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self
                        .doc
                        .get(self.pos + 1)
                        .copied()
                        .ok_or(JsonError::UnexpectedEnd)?;
                    if let Some(c) = simple_escape(e) {
                        hash = fnv(hash, c);
                        self.pos += 2;
                        continue;
                    }
                    if e != b'u' {
                        return Err(JsonError::BadString);
                    }
                    let hi = self.escape_hex(self.pos + 2)?;
                    self.pos += 6;
                    let cp = if HIGH_SURROGATES.contains(&hi) {
                        match self.doc.get(self.pos..self.pos + 2) {
                            Some(b"\\u") => {}
                            Some(_) => return Err(JsonError::BadString),
                            None if self.doc.get(self.pos).is_none_or(|&c| c == b'\\') => {
                                return Err(JsonError::UnexpectedEnd);
                            }
                            None => return Err(JsonError::BadString),
                        }
                        let lo = self.escape_hex(self.pos + 2)?;
                        if !LOW_SURROGATES.contains(&lo) {
                            return Err(JsonError::BadString);
                        }
                        self.pos += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else if LOW_SURROGATES.contains(&hi) {
                        return Err(JsonError::BadString);
                    } else {
                        hi
                    };
                    let c = char::from_u32(cp).ok_or(JsonError::BadString)?;
                    let mut buf = [0u8; 4];
                    for &u in c.encode_utf8(&mut buf).as_bytes() {
                        hash = fnv(hash, u);
                    }
                }
                0x00..=0x1f => return Err(JsonError::BadString),
                _ => {
                    non_ascii |= b >= 0x80;
                    hash = fnv(hash, b);
                    self.pos += 1;
                }
            }
        }
        if non_ascii {
            let content = self.doc.get(start..self.pos).ok_or(JsonError::BadString)?;
            core::str::from_utf8(content).map_err(|_| JsonError::BadString)?;
        }
        self.pos += 1;
        Ok((start, hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(doc: &str) -> JsonError {
        parse(doc.as_bytes()).expect_err(doc)
    }

    fn ok(doc: &str) -> Value<'_> {
        parse(doc.as_bytes()).unwrap_or_else(|e| panic!("{doc:?}: {e}"))
    }

    fn unescape(doc: &str) -> std::string::String {
        let v = ok(doc).as_raw_str().expect("string");
        let mut buf = [0u8; 256];
        let n = v.unescape_into(&mut buf).expect("unescape");
        assert_eq!(n, v.unescaped_len());
        std::string::String::from_utf8(buf[..n].to_vec()).expect("utf-8")
    }

    #[test]
    fn scalars() {
        assert_eq!(ok("null"), Value::Null);
        assert_eq!(ok(" true "), Value::Bool(true));
        assert_eq!(ok("\tfalse\r\n"), Value::Bool(false));
        assert_eq!(ok("-12.5e+3"), Value::Number("-12.5e+3"));
        assert_eq!(ok("0"), Value::Number("0"));
        assert_eq!(
            ok("\"hi\"").as_raw_str().and_then(|s| s.as_str()),
            Some("hi")
        );
    }

    #[test]
    fn number_grammar() {
        for good in [
            "0",
            "-0",
            "1",
            "10",
            "1.5",
            "0.0",
            "1e9",
            "1E+9",
            "1e-9",
            "-0.5E10",
            "123456789012345678901234567890",
        ] {
            assert!(matches!(ok(good), Value::Number(n) if n == good), "{good}");
        }
        assert_eq!(err("01"), JsonError::TrailingData);
        assert_eq!(err("-"), JsonError::UnexpectedEnd);
        assert_eq!(err("1."), JsonError::UnexpectedEnd);
        assert_eq!(err("1.e5"), JsonError::Syntax { at: 2 });
        assert_eq!(err("1e"), JsonError::UnexpectedEnd);
        assert_eq!(err("1e+"), JsonError::UnexpectedEnd);
        assert_eq!(err("+1"), JsonError::Syntax { at: 0 });
        assert_eq!(err(".5"), JsonError::Syntax { at: 0 });
        assert_eq!(err("-a"), JsonError::Syntax { at: 1 });
        assert_eq!(err("[01]"), JsonError::Syntax { at: 2 });
        assert_eq!(err("[1 2]"), JsonError::Syntax { at: 3 });
        assert_eq!(err("NaN"), JsonError::Syntax { at: 0 });
        assert_eq!(err("Infinity"), JsonError::Syntax { at: 0 });
    }

    #[test]
    fn literals_and_structure() {
        assert_eq!(err(""), JsonError::UnexpectedEnd);
        assert_eq!(err("   "), JsonError::UnexpectedEnd);
        assert_eq!(err("tru"), JsonError::UnexpectedEnd);
        assert_eq!(err("trux"), JsonError::Syntax { at: 3 });
        assert_eq!(err("nul1"), JsonError::Syntax { at: 3 });
        assert_eq!(err("true false"), JsonError::TrailingData);
        assert_eq!(err("{}}"), JsonError::TrailingData);
        assert_eq!(err("{"), JsonError::UnexpectedEnd);
        assert_eq!(err("{\"a\""), JsonError::UnexpectedEnd);
        assert_eq!(err("{\"a\":"), JsonError::UnexpectedEnd);
        assert_eq!(err("{\"a\":1"), JsonError::UnexpectedEnd);
        assert_eq!(err("{\"a\":1,"), JsonError::UnexpectedEnd);
        assert_eq!(err("[1,"), JsonError::UnexpectedEnd);
        assert_eq!(err("{\"a\" 1}"), JsonError::Syntax { at: 5 });
        assert_eq!(err("{\"a\":1,}"), JsonError::Syntax { at: 7 });
        assert_eq!(err("{a:1}"), JsonError::Syntax { at: 1 });
        assert_eq!(err("{,}"), JsonError::Syntax { at: 1 });
        assert_eq!(err("[1,]"), JsonError::Syntax { at: 3 });
        assert_eq!(err("[,1]"), JsonError::Syntax { at: 1 });
        assert_eq!(err("[1}"), JsonError::Syntax { at: 2 });
        assert_eq!(err("{\"a\":1]"), JsonError::Syntax { at: 6 });
        assert_eq!(err("'a'"), JsonError::Syntax { at: 0 });
        assert_eq!(err("\u{feff}1"), JsonError::Syntax { at: 0 });
        assert_eq!(err("[1]\0"), JsonError::TrailingData);
        // \v and \f are not JSON whitespace
        assert_eq!(err("\u{b}1"), JsonError::Syntax { at: 0 });
    }

    #[test]
    fn escapes_and_surrogates() {
        assert_eq!(
            unescape(r#""a\"b\\c\/d\b\f\n\r\t""#),
            "a\"b\\c/d\u{8}\u{c}\n\r\t"
        );
        assert_eq!(unescape(r#""\u0041\u00e9\u20AC""#), "Aé€");
        assert_eq!(unescape(r#""\ud83d\ude00!""#), "😀!");
        assert_eq!(unescape(r#""\uD834\uDD1E""#), "𝄞");
        assert_eq!(unescape("\"é😀\""), "é😀");
        assert_eq!(unescape(r#""\u0000""#), "\0");
        assert_eq!(err(r#""\x""#), JsonError::BadString);
        assert_eq!(err(r#""\U0041""#), JsonError::BadString);
        assert_eq!(err(r#""\u00g1""#), JsonError::BadString);
        assert_eq!(err(r#""\u00""#), JsonError::BadString);
        assert_eq!(err(r#""\u00"#), JsonError::UnexpectedEnd);
        assert_eq!(err(r#""\"#), JsonError::UnexpectedEnd);
        assert_eq!(err(r#""abc"#), JsonError::UnexpectedEnd);
        // unpaired surrogates
        assert_eq!(err(r#""\ud800""#), JsonError::BadString);
        assert_eq!(err(r#""\ud800x""#), JsonError::BadString);
        assert_eq!(err(r#""\ud800\n""#), JsonError::BadString);
        assert_eq!(err(r#""\ud800\u0041""#), JsonError::BadString);
        assert_eq!(err(r#""\ud800\ud800""#), JsonError::BadString);
        assert_eq!(err(r#""\udc00""#), JsonError::BadString);
        assert_eq!(err(r#""\ude00\ud83d""#), JsonError::BadString);
        assert_eq!(err(r#""\ud800"#), JsonError::UnexpectedEnd);
        assert_eq!(err(r#""\ud800\"#), JsonError::UnexpectedEnd);
        assert_eq!(err(r#""\ud800\udc0"#), JsonError::UnexpectedEnd);
    }

    #[test]
    fn control_chars_and_utf8() {
        assert_eq!(err("\"a\nb\""), JsonError::BadString);
        assert_eq!(err("\"\t\""), JsonError::BadString);
        assert_eq!(err("\"\u{1f}\""), JsonError::BadString);
        // DEL and C1 controls are allowed raw by the RFC
        assert_eq!(unescape("\"\u{7f}\u{85}\""), "\u{7f}\u{85}");
        for bad in [
            &b"\"\xff\""[..],
            b"\"\xc3\"",
            b"\"\xc0\x80\"",         // overlong NUL
            b"\"\xed\xa0\x80\"",     // UTF-8 encoded surrogate
            b"\"\xf4\x90\x80\x80\"", // above U+10FFFF
            b"\"\x80\"",
            b"{\"\xe2\x82\":1}",
        ] {
            assert_eq!(parse(bad), Err(JsonError::BadString), "{bad:?}");
        }
        // invalid UTF-8 outside strings is a syntax error
        assert_eq!(parse(b"\xc3\xa9"), Err(JsonError::Syntax { at: 0 }));
    }

    #[test]
    fn depth_limit() {
        let mut doc = std::string::String::new();
        for _ in 0..MAX_DEPTH {
            doc.push('[');
        }
        for _ in 0..MAX_DEPTH {
            doc.push(']');
        }
        assert!(parse(doc.as_bytes()).is_ok());
        let deeper = std::format!("[{doc}]");
        assert_eq!(parse(deeper.as_bytes()), Err(JsonError::TooDeep));
        let objects = std::format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert!(parse(objects.as_bytes()).is_ok());
        let objects = std::format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(parse(objects.as_bytes()), Err(JsonError::TooDeep));
        // no stack blow-up on absurd nesting
        let huge = "[".repeat(100_000);
        assert_eq!(parse(huge.as_bytes()), Err(JsonError::TooDeep));
    }

    #[test]
    fn duplicate_keys() {
        assert_eq!(err(r#"{"a":1,"a":2}"#), JsonError::DuplicateKey);
        assert_eq!(err(r#"{"a":1,"b":{},"a":2}"#), JsonError::DuplicateKey);
        assert_eq!(err(r#"{"a":1,"\u0061":2}"#), JsonError::DuplicateKey);
        assert_eq!(err(r#"{"é":1,"\u00e9":2}"#), JsonError::DuplicateKey);
        assert_eq!(err(r#"{"x":{"k":1,"k":1}}"#), JsonError::DuplicateKey);
        assert_eq!(err(r#"[{"k":1},{"k":1,"k":2}]"#), JsonError::DuplicateKey);
        assert_eq!(err(r#"{"":1,"":2}"#), JsonError::DuplicateKey);
        // the same key in sibling or nested objects is fine
        assert!(parse(br#"{"k":{"k":{"k":1}},"j":{"k":2}}"#).is_ok());
        assert!(parse(br#"[{"k":1},{"k":2}]"#).is_ok());
        assert!(parse(br#"{"a":1,"A":2,"a ":3,"\u0062":4}"#).is_ok());
        // keys of a closed child object are forgotten: no false positive afterwards
        assert!(parse(br#"{"o":{"a":1,"b":2},"a":3,"b":4}"#).is_ok());
    }

    #[test]
    fn duplicate_check_budget() {
        // within the budget: detected however far apart
        let mut doc = std::string::String::from("{");
        for i in 0..DUPLICATE_CHECK_KEYS {
            doc.push_str(&std::format!("\"k{i}\":{i},"));
        }
        let dup = std::format!("{}\"k0\":0}}", doc);
        assert_eq!(parse(dup.as_bytes()), Err(JsonError::DuplicateKey));
        let last = std::format!("{}\"k{}\":0}}", doc, DUPLICATE_CHECK_KEYS - 1);
        assert_eq!(parse(last.as_bytes()), Err(JsonError::DuplicateKey));
        // a large object (beyond the budget) still parses, and is read correctly
        let mut big = std::string::String::from("{");
        for i in 0..1000 {
            big.push_str(&std::format!("\"key{i}\":{i},"));
        }
        big.push_str("\"end\":true}");
        let v = parse(big.as_bytes()).expect("big object");
        let o = v.as_object().expect("object");
        assert_eq!(o.len(), 1001);
        assert_eq!(o.get("key999").and_then(|v| v.as_u32()), Some(999));
        assert_eq!(o.get("end"), Some(Value::Bool(true)));
    }

    #[test]
    fn object_and_array_access() {
        let doc = br#" { "a" : [ 1 , "two" , { "x" : null } , [ ] , true ] , "b\"q" : { } , "c" : -1.5e3 } "#;
        let root = parse(doc).expect("doc").as_object().expect("object");
        assert_eq!(root.len(), 3);
        assert!(!root.is_empty());
        let a = root.get("a").and_then(|v| v.as_array()).expect("a");
        assert_eq!(a.len(), 5);
        assert_eq!(a.get(0), Some(Value::Number("1")));
        assert!(
            a.get(1)
                .and_then(|v| v.as_raw_str())
                .is_some_and(|s| s.eq_str("two"))
        );
        let x = a.get(2).and_then(|v| v.as_object()).expect("x");
        assert_eq!(x.get("x"), Some(Value::Null));
        assert_eq!(x.source(), br#"{ "x" : null }"#);
        assert!(
            a.get(3)
                .and_then(|v| v.as_array())
                .is_some_and(|a| a.is_empty() && a.iter().count() == 0)
        );
        assert_eq!(a.get(4), Some(Value::Bool(true)));
        assert_eq!(a.get(5), None);
        let bq = root.get("b\"q").and_then(|v| v.as_object()).expect("b\"q");
        assert!(bq.is_empty());
        assert_eq!(bq.iter().count(), 0);
        assert_eq!(root.get("c"), Some(Value::Number("-1.5e3")));
        assert_eq!(root.get("d"), None);
        let keys: std::vec::Vec<_> = root.iter().map(|(k, _)| k.raw()).collect();
        assert_eq!(keys, [&b"a"[..], br#"b\"q"#, b"c"]);
        // iterators are fused
        let mut it = a.iter();
        for _ in 0..5 {
            assert!(it.next().is_some());
        }
        assert!(it.next().is_none() && it.next().is_none());
        // brackets inside strings do not confuse value skipping
        let tricky = parse(br#"{"s":"]}[{\"\\","t":["}",{"u":"]"}],"v":1}"#).expect("tricky");
        let tricky = tricky.as_object().expect("object");
        assert_eq!(tricky.get("v"), Some(Value::Number("1")));
        assert_eq!(
            tricky.get("t").and_then(|t| t.as_array()).map(|t| t.len()),
            Some(2)
        );
    }

    #[test]
    fn raw_str_helpers() {
        let plain = ok(r#""plain""#).as_raw_str().expect("s");
        assert_eq!(plain.as_str(), Some("plain"));
        assert_eq!(plain.raw(), b"plain");
        assert!(plain.eq_str("plain"));
        assert!(!plain.eq_str("plai"));
        assert!(!plain.eq_str("plainx"));
        let esc = ok(r#""a\u0062c\n""#).as_raw_str().expect("s");
        assert_eq!(esc.as_str(), None);
        assert_eq!(esc.unescaped_len(), 4);
        assert!(esc.eq_str("abc\n"));
        assert!(!esc.eq_str("abc"));
        assert!(!esc.eq_str("abc\nd"));
        let mut small = [0xAAu8; 3];
        assert_eq!(
            esc.unescape_into(&mut small),
            Err(JsonError::BufferTooSmall)
        );
        assert_eq!(small, [0xAA; 3], "buffer untouched on error");
        let mut exact = [0u8; 4];
        assert_eq!(esc.unescape_into(&mut exact), Ok(4));
        assert_eq!(&exact, b"abc\n");
        let empty = ok(r#""""#).as_raw_str().expect("s");
        assert_eq!(empty.unescape_into(&mut []), Ok(0));
        assert!(empty.eq_str(""));
    }

    #[test]
    fn numbers_as_u32() {
        let n = |doc: &str| ok(doc).as_u32();
        assert_eq!(n("0"), Some(0));
        assert_eq!(n("4294967295"), Some(u32::MAX));
        assert_eq!(n("4294967296"), None);
        assert_eq!(n("99999999999999999999999"), None);
        assert_eq!(n("-1"), None);
        assert_eq!(n("-0"), None);
        assert_eq!(n("1.0"), None);
        assert_eq!(n("1e3"), None);
        assert_eq!(n("\"1024\""), Some(1024));
        assert_eq!(n("\"007\""), Some(7));
        assert_eq!(n("\"0x1000000\""), Some(0x0100_0000));
        assert_eq!(n("\"0XfF\""), Some(255));
        assert_eq!(n("\"0xffffffff\""), Some(u32::MAX));
        assert_eq!(n("\"0x100000000\""), None);
        assert_eq!(n("\"4294967296\""), None);
        assert_eq!(n("\"0x\""), None);
        assert_eq!(n("\"\""), None);
        assert_eq!(n("\"NaN\""), None);
        assert_eq!(n("\"-1\""), None);
        assert_eq!(n("\"+1\""), None);
        assert_eq!(n("\" 1\""), None);
        assert_eq!(n("\"1 \""), None);
        assert_eq!(n("\"1.5\""), None);
        assert_eq!(n("\"\\u0031\""), None);
        assert_eq!(n("true"), None);
        assert_eq!(n("null"), None);
        assert_eq!(n("[1]"), None);
        assert_eq!(ok("18446744073709551615").as_u64(), Some(u64::MAX));
        assert_eq!(ok("18446744073709551616").as_u64(), None);
        assert_eq!(ok("1602795143").as_u64(), Some(1_602_795_143));
    }

    #[test]
    fn accessors_on_wrong_types() {
        assert_eq!(ok("1").as_object(), None);
        assert_eq!(ok("{}").as_array(), None);
        assert_eq!(ok("[]").as_raw_str(), None);
        assert!(ok("{}").as_object().is_some());
        assert!(ok("[]").as_array().is_some());
    }

    #[test]
    fn display_is_short_and_lowercase() {
        use std::string::ToString;
        assert_eq!(
            JsonError::Syntax { at: 3 }.to_string(),
            "json syntax error at byte 3"
        );
        assert_eq!(
            JsonError::DuplicateKey.to_string(),
            "json object has a duplicate key"
        );
        for e in [
            JsonError::UnexpectedEnd,
            JsonError::TooDeep,
            JsonError::TrailingData,
            JsonError::BadString,
            JsonError::BufferTooSmall,
        ] {
            let s = e.to_string();
            assert!(
                !s.is_empty() && s.chars().next().is_some_and(|c| c.is_lowercase()),
                "{s}"
            );
        }
    }

    #[test]
    fn large_document_is_linear() {
        // ~32 KB of nested job-like objects parses and is walked quickly.
        let mut doc = std::string::String::from("{\"files\":[");
        let mut i = 0;
        while doc.len() < 32 * 1024 - 200 {
            if i > 0 {
                doc.push(',');
            }
            doc.push_str(&std::format!(
                "{{\"filepath\":\"/f{i}\",\"filesize\":{i},\"s\":\"\\u00e9\\n\"}}"
            ));
            i += 1;
        }
        doc.push_str("]}");
        let start = std::time::Instant::now();
        for _ in 0..20 {
            let v = parse(doc.as_bytes()).expect("doc");
            let files = v
                .as_object()
                .and_then(|o| o.get("files"))
                .and_then(|f| f.as_array())
                .expect("files");
            assert_eq!(files.len(), i);
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
