//! A small, strict, allocation-free JSON reader (RFC 8259).
//!
//! [`parse`] validates a whole document once (nesting depth bounded by [`MAX_DEPTH`]) and returns the
//! root [`Value`]; values borrow from the document. Strings are kept raw ([`RawStr`]: the bytes
//! between the quotes, escapes intact) and unescaped on demand into caller memory.

use core::fmt;

/// Deepest nesting of arrays/objects accepted by [`parse`].
pub const MAX_DEPTH: usize = 16;

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
    /// A string contains invalid UTF-8, a bad escape or an unpaired surrogate.
    BadString,
    /// An object has the same key twice (refused: it makes documents ambiguous).
    DuplicateKey,
    /// A caller buffer is too small for the unescaped string.
    BufferTooSmall,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!()
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
        todo!()
    }
    /// Length in bytes once unescaped (UTF-8).
    pub fn unescaped_len(&self) -> usize {
        todo!()
    }
    /// Unescapes into `out`, returning the number of bytes written (valid UTF-8).
    pub fn unescape_into(&self, out: &mut [u8]) -> Result<usize, JsonError> {
        todo!()
    }
    /// Whether the unescaped string equals `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        todo!()
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
    pub fn as_u32(&self) -> Option<u32> {
        todo!()
    }
    /// The object, if this is one.
    pub fn as_object(&self) -> Option<Object<'a>> {
        todo!()
    }
    /// The array, if this is one.
    pub fn as_array(&self) -> Option<Array<'a>> {
        todo!()
    }
    /// The string, if this is one.
    pub fn as_raw_str(&self) -> Option<RawStr<'a>> {
        todo!()
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
    /// The value of `key` (compared after unescaping), or `None`.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        todo!()
    }
    /// The members in document order.
    pub fn iter(&self) -> ObjectIter<'a> {
        todo!()
    }
    /// Number of members.
    pub fn len(&self) -> usize {
        todo!()
    }
    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        todo!()
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
    pub fn iter(&self) -> ArrayIter<'a> {
        todo!()
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        todo!()
    }
    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    /// The element at `index`.
    pub fn get(&self, index: usize) -> Option<Value<'a>> {
        todo!()
    }
}

/// Iterator over an object's members.
#[derive(Debug, Clone)]
pub struct ObjectIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ObjectIter<'a> {
    type Item = (RawStr<'a>, Value<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        todo!()
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
        todo!()
    }
}

/// Validates `doc` as one JSON value (surrounding whitespace allowed) and returns it.
pub fn parse(doc: &[u8]) -> Result<Value<'_>, JsonError> {
    todo!()
}
