//! AWS IoT MQTT-based file delivery in CBOR: the GetStream request (`c f l o b n`), the data
//! block (`f i l p`) and the rejected-request error (`o m c`).
//!
//! A small hand-written subset of CBOR (RFC 8949), with no external crate and no allocation.
//!
//! Decoders:
//! - accept a definite or indefinite-length top-level map, with text keys in any order;
//! - skip unknown keys and their values, whatever their type: nested arrays, maps and tags
//!   (up to [`MAX_SKIP_DEPTH`] nested containers, checked without recursion), indefinite
//!   strings, floats and simple values; a non-text key is skipped like an unknown key;
//! - read integers in every width (additional info 0–27, canonical or not); a known integer
//!   key must hold an unsigned integer that fits `u32` ([`CborError::IntegerRange`] otherwise,
//!   also for a negative integer);
//! - borrow byte and text strings from the input, so a known key's string must be
//!   definite-length: an indefinite (chunked) string under a known key is refused with
//!   [`CborError::WrongType`]; text must be valid UTF-8 ([`CborError::Malformed`] otherwise);
//! - refuse a duplicate known key ([`CborError::DuplicateKey`]) and bytes after the map
//!   ([`CborError::TrailingData`]).
//!
//! Encoders write definite-length maps with the keys in the order AWS documents, every
//! integer and length in its smallest (canonical) encoding, and omit `None` fields.

use core::fmt;

/// Why CBOR could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CborError {
    /// The input ended inside an item.
    UnexpectedEnd,
    /// The top-level item is not a map.
    NotAMap,
    /// A known key holds the wrong CBOR type.
    WrongType(&'static str),
    /// A required key is missing.
    Missing(&'static str),
    /// A known key appears twice.
    DuplicateKey(&'static str),
    /// An integer does not fit in `u32`, or is negative.
    IntegerRange(&'static str),
    /// Malformed CBOR (reserved additional info, bad break, nesting too deep, bad UTF-8).
    Malformed,
    /// Bytes after the top-level item.
    TrailingData,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for CborError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd => f.write_str("cbor: unexpected end of input"),
            Self::NotAMap => f.write_str("cbor: top-level item is not a map"),
            Self::WrongType(k) => write!(f, "cbor: wrong type for key `{k}`"),
            Self::Missing(k) => write!(f, "cbor: missing key `{k}`"),
            Self::DuplicateKey(k) => write!(f, "cbor: duplicate key `{k}`"),
            Self::IntegerRange(k) => write!(f, "cbor: integer out of range for key `{k}`"),
            Self::Malformed => f.write_str("cbor: malformed input"),
            Self::TrailingData => f.write_str("cbor: trailing data after the map"),
            Self::BufferTooSmall => f.write_str("cbor: output buffer too small"),
        }
    }
}

impl core::error::Error for CborError {}

/// How many arrays/maps may nest inside a skipped (unknown) value.
pub const MAX_SKIP_DEPTH: usize = 8;

/// A GetStream request, published on `$aws/things/<thing>/streams/<stream>/get/cbor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetStreamRequest<'a> {
    /// `c`: client token (echoed in errors).
    pub client_token: &'a str,
    /// `f`: file id.
    pub file_id: u32,
    /// `l`: block size in bytes.
    pub block_size: u32,
    /// `o`: block offset: index of the block that bit 0 of `b` stands for.
    pub block_offset: u32,
    /// `b`: block bitmap, LSB-first, 1 = wanted; `None` to omit.
    pub bitmap: Option<&'a [u8]>,
    /// `n`: number of blocks; `None` to omit.
    pub num_blocks: Option<u32>,
}

/// Encodes `req` into `out`, returning the length. Keys in the order `c f l o b n`.
pub fn encode_get_stream_request(
    req: &GetStreamRequest<'_>,
    out: &mut [u8],
) -> Result<usize, CborError> {
    let pairs = 4 + u64::from(req.bitmap.is_some()) + u64::from(req.num_blocks.is_some());
    let mut w = Writer::new(out);
    w.head(MAJOR_MAP, pairs)?;
    w.text("c")?;
    w.text(req.client_token)?;
    w.text("f")?;
    w.uint(req.file_id)?;
    w.text("l")?;
    w.uint(req.block_size)?;
    w.text("o")?;
    w.uint(req.block_offset)?;
    if let Some(b) = req.bitmap {
        w.text("b")?;
        w.bytes(b)?;
    }
    if let Some(n) = req.num_blocks {
        w.text("n")?;
        w.uint(n)?;
    }
    Ok(w.len)
}

/// Decodes a GetStream request (the cloud side of the protocol, and tests).
///
/// `f` and `l` are required; AWS documents `c` and `o` as optional, so a missing `c` decodes
/// as `""` and a missing `o` as `0`. Other keys (such as the stream version `s`) are skipped.
pub fn decode_get_stream_request(input: &[u8]) -> Result<GetStreamRequest<'_>, CborError> {
    const KEYS: [(&str, Kind); 6] = [
        ("c", Kind::Text),
        ("f", Kind::Uint),
        ("l", Kind::Uint),
        ("o", Kind::Uint),
        ("b", Kind::Bytes),
        ("n", Kind::Uint),
    ];
    let mut v = [Field::Absent; 6];
    decode_map(input, &KEYS, &mut v)?;
    let [c, f, l, o, b, n] = v;
    Ok(GetStreamRequest {
        client_token: c.text().unwrap_or(""),
        file_id: f.uint().ok_or(CborError::Missing("f"))?,
        block_size: l.uint().ok_or(CborError::Missing("l"))?,
        block_offset: o.uint().unwrap_or(0),
        bitmap: b.bytes(),
        num_blocks: n.uint(),
    })
}

/// A data block, received on `$aws/things/<thing>/streams/<stream>/data/cbor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataBlock<'a> {
    /// `f`: file id.
    pub file_id: u32,
    /// `i`: block index.
    pub block_id: u32,
    /// `l`: block size claimed by the sender (checked by the agent against `p`).
    pub block_size: u32,
    /// `p`: the payload.
    pub payload: &'a [u8],
}

/// Decodes a data block. All four keys are required.
pub fn decode_data_block(input: &[u8]) -> Result<DataBlock<'_>, CborError> {
    const KEYS: [(&str, Kind); 4] = [
        ("f", Kind::Uint),
        ("i", Kind::Uint),
        ("l", Kind::Uint),
        ("p", Kind::Bytes),
    ];
    let mut v = [Field::Absent; 4];
    decode_map(input, &KEYS, &mut v)?;
    let [f, i, l, p] = v;
    Ok(DataBlock {
        file_id: f.uint().ok_or(CborError::Missing("f"))?,
        block_id: i.uint().ok_or(CborError::Missing("i"))?,
        block_size: l.uint().ok_or(CborError::Missing("l"))?,
        payload: p.bytes().ok_or(CborError::Missing("p"))?,
    })
}

/// Encodes a data block (keys `f i l p`), for the cloud side and tests.
pub fn encode_data_block(block: &DataBlock<'_>, out: &mut [u8]) -> Result<usize, CborError> {
    let mut w = Writer::new(out);
    w.head(MAJOR_MAP, 4)?;
    w.text("f")?;
    w.uint(block.file_id)?;
    w.text("i")?;
    w.uint(block.block_id)?;
    w.text("l")?;
    w.uint(block.block_size)?;
    w.text("p")?;
    w.bytes(block.payload)?;
    Ok(w.len)
}

/// A rejected stream request, received on `.../streams/<stream>/rejected/cbor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamError<'a> {
    /// `o`: the error code, e.g. `"ResourceNotFound"`, `"InvalidRequest"`, `"Unauthorized"`.
    pub code: &'a str,
    /// `m`: message, if present.
    pub message: Option<&'a str>,
    /// `c`: the client token of the request, if present.
    pub client_token: Option<&'a str>,
}

/// Decodes a rejected-request error. Only `o` is required.
pub fn decode_stream_error(input: &[u8]) -> Result<StreamError<'_>, CborError> {
    const KEYS: [(&str, Kind); 3] = [("o", Kind::Text), ("m", Kind::Text), ("c", Kind::Text)];
    let mut v = [Field::Absent; 3];
    decode_map(input, &KEYS, &mut v)?;
    let [o, m, c] = v;
    Ok(StreamError {
        code: o.text().ok_or(CborError::Missing("o"))?,
        message: m.text(),
        client_token: c.text(),
    })
}

/// Encodes a rejected-request error (keys `o m c`), for the cloud side and tests.
pub fn encode_stream_error(err: &StreamError<'_>, out: &mut [u8]) -> Result<usize, CborError> {
    let pairs = 1 + u64::from(err.message.is_some()) + u64::from(err.client_token.is_some());
    let mut w = Writer::new(out);
    w.head(MAJOR_MAP, pairs)?;
    w.text("o")?;
    w.text(err.code)?;
    if let Some(m) = err.message {
        w.text("m")?;
        w.text(m)?;
    }
    if let Some(c) = err.client_token {
        w.text("c")?;
        w.text(c)?;
    }
    Ok(w.len)
}

// ---------------------------------------------------------------------------------------------
// Reader

const MAJOR_UINT: u8 = 0;
const MAJOR_NINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;
const BREAK: u8 = 0xFF;

/// An item's initial byte and argument; `arg == None` is "indefinite" (or, for major 7, break).
#[derive(Clone, Copy)]
struct Head {
    major: u8,
    arg: Option<u64>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// One open container while skipping.
#[derive(Clone, Copy)]
struct Frame {
    /// Items still expected (definite containers).
    left: u64,
    indefinite: bool,
    map: bool,
    /// An indefinite map holds a key without its value yet.
    odd: bool,
}

const NO_FRAME: Frame = Frame {
    left: 0,
    indefinite: false,
    map: false,
    odd: false,
};

impl<'a> Reader<'a> {
    fn peek(&self) -> Result<u8, CborError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(CborError::UnexpectedEnd)
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    #[inline(never)] // smaller out of line (measured, see the README's code size)
    fn take(&mut self, n: u64) -> Result<&'a [u8], CborError> {
        let n = usize::try_from(n).map_err(|_| CborError::UnexpectedEnd)?;
        let end = self.pos.checked_add(n).ok_or(CborError::UnexpectedEnd)?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(CborError::UnexpectedEnd)?;
        self.pos = end;
        Ok(s)
    }

    fn head(&mut self) -> Result<Head, CborError> {
        let ib = self.byte()?;
        let major = ib >> 5;
        let ai = ib & 0x1F;
        let arg = match ai {
            0..=23 => Some(u64::from(ai)),
            24 => {
                let v = self.byte()?;
                // RFC 8949 §3.3: simple values below 32 in two bytes are not well-formed.
                if major == MAJOR_SIMPLE && v < 32 {
                    return Err(CborError::Malformed);
                }
                Some(u64::from(v))
            }
            25..=27 => {
                let bytes = self.take(1 << (ai - 24))?;
                Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
            }
            31 if matches!(
                major,
                MAJOR_BYTES | MAJOR_TEXT | MAJOR_ARRAY | MAJOR_MAP | MAJOR_SIMPLE
            ) =>
            {
                None
            }
            _ => return Err(CborError::Malformed),
        };
        Ok(Head { major, arg })
    }

    /// A known key's unsigned integer.
    fn uint(&mut self, key: &'static str) -> Result<u32, CborError> {
        match self.head()? {
            Head {
                major: MAJOR_UINT,
                arg: Some(v),
            } => u32::try_from(v).map_err(|_| CborError::IntegerRange(key)),
            Head {
                major: MAJOR_NINT, ..
            } => Err(CborError::IntegerRange(key)),
            _ => Err(CborError::WrongType(key)),
        }
    }

    /// A known key's definite-length byte string.
    fn bytes(&mut self, key: &'static str) -> Result<&'a [u8], CborError> {
        match self.head()? {
            Head {
                major: MAJOR_BYTES,
                arg: Some(n),
            } => self.take(n),
            _ => Err(CborError::WrongType(key)),
        }
    }

    /// A known key's definite-length UTF-8 text string.
    fn text(&mut self, key: &'static str) -> Result<&'a str, CborError> {
        match self.head()? {
            Head {
                major: MAJOR_TEXT,
                arg: Some(n),
            } => core::str::from_utf8(self.take(n)?).map_err(|_| CborError::Malformed),
            _ => Err(CborError::WrongType(key)),
        }
    }

    /// Skips the chunks of an indefinite string of `major` up to and including its break.
    fn skip_chunks(&mut self, major: u8) -> Result<(), CborError> {
        loop {
            if self.peek()? == BREAK {
                self.pos += 1;
                return Ok(());
            }
            match self.head()? {
                Head {
                    major: m,
                    arg: Some(n),
                } if m == major => {
                    self.take(n)?;
                }
                _ => return Err(CborError::Malformed),
            }
        }
    }

    /// Skips one complete item of any type, iteratively, with at most [`MAX_SKIP_DEPTH`]
    /// nested containers.
    fn skip_item(&mut self) -> Result<(), CborError> {
        let mut stack = [NO_FRAME; MAX_SKIP_DEPTH];
        let mut depth = 0usize;
        // A tag was read and its content is still due.
        let mut tagged = false;
        loop {
            let h = self.head()?;
            let complete = match (h.major, h.arg) {
                (MAJOR_SIMPLE, None) => {
                    // A break closes the innermost indefinite container.
                    let top = depth.checked_sub(1).ok_or(CborError::Malformed)?;
                    let f = stack.get(top).ok_or(CborError::Malformed)?;
                    if tagged || !f.indefinite || f.odd {
                        return Err(CborError::Malformed);
                    }
                    depth = top;
                    true
                }
                (MAJOR_TAG, _) => {
                    tagged = true;
                    false
                }
                (MAJOR_BYTES | MAJOR_TEXT, Some(n)) => {
                    self.take(n)?;
                    true
                }
                (major @ (MAJOR_BYTES | MAJOR_TEXT), None) => {
                    self.skip_chunks(major)?;
                    true
                }
                (major @ (MAJOR_ARRAY | MAJOR_MAP), arg) => {
                    let map = major == MAJOR_MAP;
                    let left = match arg {
                        Some(n) if map => n.saturating_mul(2),
                        Some(n) => n,
                        None => 0,
                    };
                    if arg.is_some() && left == 0 {
                        true
                    } else {
                        let slot = stack.get_mut(depth).ok_or(CborError::Malformed)?;
                        *slot = Frame {
                            left,
                            indefinite: arg.is_none(),
                            map,
                            odd: false,
                        };
                        depth += 1;
                        false
                    }
                }
                _ => true, // integers, simple values, floats
            };
            if h.major != MAJOR_TAG {
                tagged = false;
            }
            if !complete {
                continue;
            }
            // An item is complete: count it in the enclosing containers, closing the full ones.
            loop {
                let Some(top) = depth.checked_sub(1) else {
                    return Ok(());
                };
                let f = stack.get_mut(top).ok_or(CborError::Malformed)?;
                if f.indefinite {
                    f.odd = f.map && !f.odd;
                    break;
                }
                f.left = f.left.saturating_sub(1);
                if f.left > 0 {
                    break;
                }
                depth = top;
            }
        }
    }
}

/// The CBOR type a known key must hold.
#[derive(Clone, Copy)]
enum Kind {
    Uint,
    Bytes,
    Text,
}

/// A known key's value, once read.
#[derive(Clone, Copy)]
enum Field<'a> {
    Absent,
    Uint(u32),
    Bytes(&'a [u8]),
    Text(&'a str),
}

impl<'a> Field<'a> {
    fn uint(self) -> Option<u32> {
        match self {
            Self::Uint(v) => Some(v),
            _ => None,
        }
    }
    fn bytes(self) -> Option<&'a [u8]> {
        match self {
            Self::Bytes(b) => Some(b),
            _ => None,
        }
    }
    fn text(self) -> Option<&'a str> {
        match self {
            Self::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// Walks the top-level map of `input`, reading the value of each definite text key named in
/// `keys` (as its [`Kind`], into the same index of `out`) and skipping every other entry. A
/// known key's value is read before its repetition is refused, in document order. One
/// non-generic walker serves every decoder (no per-message copy of it in flash).
fn decode_map<'a>(
    input: &'a [u8],
    keys: &[(&'static str, Kind)],
    out: &mut [Field<'a>],
) -> Result<(), CborError> {
    let mut r = Reader { buf: input, pos: 0 };
    let h = r.head()?;
    if h.major != MAJOR_MAP {
        return Err(CborError::NotAMap);
    }
    let mut left = h.arg;
    loop {
        match left.as_mut() {
            Some(0) => break,
            Some(n) => *n -= 1,
            None => {
                if r.peek()? == BREAK {
                    r.pos += 1;
                    break;
                }
            }
        }
        let key_start = r.pos;
        let known = match r.head()? {
            Head {
                major: MAJOR_TEXT,
                arg: Some(n),
            } => {
                let key = r.take(n)?;
                keys.iter()
                    .zip(out.iter_mut())
                    .find(|((name, _), _)| name.as_bytes() == key)
            }
            _ => {
                r.pos = key_start;
                r.skip_item()?;
                None
            }
        };
        match known {
            Some((&(name, kind), slot)) => {
                let value = match kind {
                    Kind::Uint => Field::Uint(r.uint(name)?),
                    Kind::Bytes => Field::Bytes(r.bytes(name)?),
                    Kind::Text => Field::Text(r.text(name)?),
                };
                if !matches!(slot, Field::Absent) {
                    return Err(CborError::DuplicateKey(name));
                }
                *slot = value;
            }
            None => r.skip_item()?,
        }
    }
    if r.pos == input.len() {
        Ok(())
    } else {
        Err(CborError::TrailingData)
    }
}

// ---------------------------------------------------------------------------------------------
// Writer

struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl<'o> Writer<'o> {
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    fn new(out: &'o mut [u8]) -> Self {
        Self { out, len: 0 }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), CborError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(CborError::BufferTooSmall)?;
        self.out
            .get_mut(self.len..end)
            .ok_or(CborError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// An initial byte with `v` in its smallest encoding.
    fn head(&mut self, major: u8, v: u64) -> Result<(), CborError> {
        let m = major << 5;
        let be = v.to_be_bytes();
        match v {
            0..=23 => self.push(&[m | be[7]]),
            24..=0xFF => self.push(&[m | 24, be[7]]),
            0x100..=0xFFFF => {
                self.push(&[m | 25])?;
                self.push(&be[6..])
            }
            0x1_0000..=0xFFFF_FFFF => {
                self.push(&[m | 26])?;
                self.push(&be[4..])
            }
            _ => {
                self.push(&[m | 27])?;
                self.push(&be)
            }
        }
    }

    fn uint(&mut self, v: u32) -> Result<(), CborError> {
        self.head(MAJOR_UINT, u64::from(v))
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), CborError> {
        self.head(MAJOR_BYTES, b.len() as u64)?;
        self.push(b)
    }

    fn text(&mut self, s: &str) -> Result<(), CborError> {
        self.head(MAJOR_TEXT, s.len() as u64)?;
        self.push(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> std::vec::Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn skip(input: &[u8]) -> Result<usize, CborError> {
        let mut r = Reader { buf: input, pos: 0 };
        r.skip_item().map(|()| r.pos)
    }

    #[test]
    fn canonical_integer_widths() {
        let mut buf = [0u8; 16];
        let cases: &[(u64, &str)] = &[
            (0, "00"),
            (23, "17"),
            (24, "1818"),
            (255, "18ff"),
            (256, "190100"),
            (65535, "19ffff"),
            (65536, "1a00010000"),
            (u64::from(u32::MAX), "1affffffff"),
            (1 << 32, "1b0000000100000000"),
        ];
        for &(v, want) in cases {
            let mut w = Writer::new(&mut buf);
            w.head(MAJOR_UINT, v).unwrap();
            let n = w.len;
            assert_eq!(&buf[..n], hex(want).as_slice(), "{v}");
        }
    }

    #[test]
    fn integers_in_every_width_decode() {
        // {"f": 5, "i": 5, "l": 5, "p": h''} with f in 1, 2, 3, 5 and 9 byte forms.
        for f in ["05", "1805", "190005", "1a00000005", "1b0000000000000005"] {
            let msg = hex(&std::format!("a46166{f}616905616c05617040"));
            let b = decode_data_block(&msg).unwrap();
            assert_eq!((b.file_id, b.block_id, b.block_size), (5, 5, 5));
        }
    }

    #[test]
    fn integer_range_and_sign() {
        let over = hex("a461661b000000010000000061690061 6c006170 40"
            .replace(' ', "")
            .as_str());
        assert_eq!(decode_data_block(&over), Err(CborError::IntegerRange("f")));
        let neg = hex("a4616600616920616c00617040");
        assert_eq!(decode_data_block(&neg), Err(CborError::IntegerRange("i")));
        let max = hex("a461661affffffff616900616c00617040");
        assert_eq!(decode_data_block(&max).unwrap().file_id, u32::MAX);
    }

    #[test]
    fn wrong_types_and_missing_keys() {
        // "p" as text
        let m = hex("a4616600616900616c0061706161");
        assert_eq!(decode_data_block(&m), Err(CborError::WrongType("p")));
        // "l" as a float
        let m = hex("a4616600616900616cf93c00617040");
        assert_eq!(decode_data_block(&m), Err(CborError::WrongType("l")));
        // no "p"
        let m = hex("a3616600616900616c00");
        assert_eq!(decode_data_block(&m), Err(CborError::Missing("p")));
        // duplicate "f"
        let m = hex("a5616600616601616900616c00617040");
        assert_eq!(decode_data_block(&m), Err(CborError::DuplicateKey("f")));
        // indefinite chunked byte string for "p" is refused
        let m = hex("a4616600616900616c006170 5f4101ff"
            .replace(' ', "")
            .as_str());
        assert_eq!(decode_data_block(&m), Err(CborError::WrongType("p")));
        // invalid UTF-8 in a known text key
        let m = hex("a1616f62c328");
        assert_eq!(decode_stream_error(&m), Err(CborError::Malformed));
    }

    #[test]
    fn not_a_map_and_ends() {
        assert_eq!(decode_data_block(&[]), Err(CborError::UnexpectedEnd));
        assert_eq!(decode_data_block(&[0x81, 0x01]), Err(CborError::NotAMap));
        assert_eq!(
            decode_data_block(&[0xa4, 0x61]),
            Err(CborError::UnexpectedEnd)
        );
        // indefinite map never closed
        assert_eq!(
            decode_stream_error(&hex("bf616f6178")),
            Err(CborError::UnexpectedEnd)
        );
        // length beyond the input
        assert_eq!(
            decode_stream_error(&hex("a1616f7b00000000ffffffff")),
            Err(CborError::UnexpectedEnd)
        );
        let mut m = hex("a1616f6178");
        m.push(0);
        assert_eq!(decode_stream_error(&m), Err(CborError::TrailingData));
        // reserved additional info
        assert_eq!(decode_stream_error(&[0xbc]), Err(CborError::Malformed));
        // lone break as a key in a definite map
        assert_eq!(decode_stream_error(&hex("a1ff")), Err(CborError::Malformed));
    }

    #[test]
    fn skips_unknown_values_of_every_type() {
        let values = [
            "00",
            "3863",               // -100
            "f5",                 // true
            "f93c00",             // half float
            "fb3ff0000000000000", // double
            "f820",               // simple(32)
            "4401020304",         // bytes
            "5f42010243030405ff", // indefinite bytes
            "7f6161626262ff",     // indefinite text
            "83010203",           // array
            "9f0102ff",           // indefinite array
            "a2616101616202",     // map
            "bf6161018080ff",     // indefinite map with an empty-array key and value
            "c11a514b67b0",       // tag 1 + int
            "d8208301a0bfff",     // tag 32 + array with an empty map and indefinite map
            "8181818181818100",   // 7 nested arrays
        ];
        for v in values {
            let msg = hex(&std::format!("a2617a{v}616f6178"));
            assert_eq!(
                decode_stream_error(&msg).map(|e| e.code),
                Ok("x"),
                "value {v}"
            );
            let msg = hex(&std::format!("bf617a{v}616f6178ff"));
            assert_eq!(
                decode_stream_error(&msg).map(|e| e.code),
                Ok("x"),
                "value {v}"
            );
        }
        // a non-text key is skipped with its value
        let msg = hex("a201f5616f6178");
        assert_eq!(decode_stream_error(&msg).unwrap().code, "x");
    }

    #[test]
    fn skip_depth_bound() {
        // 8 nested arrays are fine, 9 are refused.
        let ok = hex("818181818181818100");
        assert_eq!(skip(&ok), Ok(ok.len()));
        let deep = hex("81818181818181818100");
        assert_eq!(skip(&deep), Err(CborError::Malformed));
        let deep_indef = hex("9f9f9f9f9f9f9f9f9fffffffffffffffffff");
        assert_eq!(skip(&deep_indef), Err(CborError::Malformed));
        // a huge declared array just runs out of input
        assert_eq!(
            skip(&hex("9bffffffffffffffff")),
            Err(CborError::UnexpectedEnd)
        );
        assert_eq!(
            skip(&hex("bbffffffffffffffff00")),
            Err(CborError::UnexpectedEnd)
        );
    }

    #[test]
    fn skip_malformed() {
        for m in [
            "ff",         // break outside a container
            "c0ff",       // tag without content
            "9fc0ff",     // tag without content before break
            "bf01ff",     // indefinite map with a key and no value
            "5f6161ff",   // text chunk in a byte string
            "5f5f40ffff", // nested indefinite chunk
            "1f",         // indefinite integer
            "df",         // indefinite tag
            "f801",       // two-byte simple value below 32
            "1c",         // reserved
        ] {
            assert_eq!(skip(&hex(m)), Err(CborError::Malformed), "{m}");
        }
    }

    #[test]
    fn encoders_report_small_buffers() {
        let req = GetStreamRequest {
            client_token: "rdy",
            file_id: 0,
            block_size: 2048,
            block_offset: 0,
            bitmap: Some(&[0xff, 0xff, 0xff, 0x7f]),
            num_blocks: None,
        };
        let mut buf = [0u8; 64];
        let n = encode_get_stream_request(&req, &mut buf).unwrap();
        for short in 0..n {
            assert_eq!(
                encode_get_stream_request(&req, &mut buf[..short]),
                Err(CborError::BufferTooSmall)
            );
        }
        let e = StreamError {
            code: "InvalidRequest",
            message: None,
            client_token: Some("t"),
        };
        let n = encode_stream_error(&e, &mut buf).unwrap();
        assert_eq!(decode_stream_error(&buf[..n]), Ok(e));
        assert_eq!(
            encode_stream_error(&e, &mut buf[..n - 1]),
            Err(CborError::BufferTooSmall)
        );
        let b = DataBlock {
            file_id: 1,
            block_id: 2,
            block_size: 3,
            payload: &[1, 2, 3],
        };
        assert_eq!(
            encode_data_block(&b, &mut buf[..5]),
            Err(CborError::BufferTooSmall)
        );
    }

    #[test]
    fn request_optional_keys() {
        // {"f":1,"l":256}: c defaults to "", o to 0.
        let msg = hex("a2616601616c190100");
        let r = decode_get_stream_request(&msg).unwrap();
        assert_eq!(
            (r.client_token, r.block_offset, r.bitmap, r.num_blocks),
            ("", 0, None, None)
        );
        assert_eq!(
            decode_get_stream_request(&hex("a1616601")),
            Err(CborError::Missing("l"))
        );
    }

    #[test]
    fn display_messages() {
        assert_eq!(
            std::format!("{}", CborError::Missing("p")),
            "cbor: missing key `p`"
        );
        assert_eq!(
            std::format!("{}", CborError::WrongType("f")),
            "cbor: wrong type for key `f`"
        );
        assert_eq!(
            std::format!("{}", CborError::TrailingData),
            "cbor: trailing data after the map"
        );
    }
}
