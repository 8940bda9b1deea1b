//! Strict standard base64 (RFC 4648 alphabet) decoding, with the leniencies AWS job documents
//! need, as the C SDK's decoder (`ota_base64.c`) has them:
//! - padding is optional (`Rk9PQg` and `Rk9PQg==` both decode to `FOOB`);
//! - CR and LF are ignored anywhere (PEM-style line breaks);
//! - spaces are allowed only at the very end (after the padding, if any).
//!
//! Refused: symbols outside the alphabet, a space or `=` followed by a symbol, more than two
//! `=`, non-zero unused bits in the last symbol, and one symbol left over. Stricter than the C
//! decoder: padding, when present, must complete the last group (`Rk9PQkFS=` is refused).
//! Empty input (no symbols at all) decodes to zero bytes.

use core::fmt;

/// Why base64 input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Base64Error {
    /// A byte outside the alphabet (and not allowed whitespace).
    InvalidSymbol {
        /// Offset of the byte.
        at: usize,
    },
    /// Padding in the wrong place, or too much of it.
    BadPadding,
    /// The unused bits of the last symbol are not zero.
    NonZeroPadBits,
    /// The number of symbols cannot encode whole bytes (one symbol left over).
    BadLength,
    /// `out` is too small.
    BufferTooSmall,
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSymbol { at } => write!(f, "base64: invalid symbol at offset {at}"),
            Self::BadPadding => f.write_str("base64: misplaced or excess padding"),
            Self::NonZeroPadBits => f.write_str("base64: non-zero padding bits"),
            Self::BadLength => f.write_str("base64: truncated input (one symbol left over)"),
            Self::BufferTooSmall => f.write_str("base64: output buffer too small"),
        }
    }
}

impl core::error::Error for Base64Error {}

/// Upper bound of the decoded length of `encoded_len` input bytes.
pub const fn decoded_len_max(encoded_len: usize) -> usize {
    encoded_len / 4 * 3 + 3
}

/// Decodes `input` into `out`, returning the number of bytes written.
///
/// `out` needs room for the decoded bytes only (at most [`decoded_len_max`]); a shorter one
/// gives [`Base64Error::BufferTooSmall`]. On error, `out` may hold partial output.
pub fn decode(input: &[u8], out: &mut [u8]) -> Result<usize, Base64Error> {
    let mut acc: u32 = 0;
    let mut symbols = 0u8; // symbols in the current group, 0..=3
    let mut pads = 0u8;
    let mut space_at: Option<usize> = None;
    let mut w = Out { out, len: 0 };
    for (at, &b) in input.iter().enumerate() {
        match b {
            b'\r' | b'\n' => {}
            b' ' => {
                space_at.get_or_insert(at);
            }
            b'=' => {
                if let Some(at) = space_at {
                    return Err(Base64Error::InvalidSymbol { at });
                }
                pads += 1;
                if pads > 2 {
                    return Err(Base64Error::BadPadding);
                }
            }
            _ => {
                let v = sextet(b).ok_or(Base64Error::InvalidSymbol { at })?;
                if let Some(at) = space_at {
                    return Err(Base64Error::InvalidSymbol { at });
                }
                if pads > 0 {
                    return Err(Base64Error::BadPadding);
                }
                acc = (acc << 6) | u32::from(v);
                symbols += 1;
                if symbols == 4 {
                    let [_, a, b, c] = acc.to_be_bytes();
                    w.push(&[a, b, c])?;
                    acc = 0;
                    symbols = 0;
                }
            }
        }
    }
    match (symbols, pads) {
        (0, 0) => {}
        (1, _) => return Err(Base64Error::BadLength),
        (2, 0 | 2) => {
            if acc & 0xF != 0 {
                return Err(Base64Error::NonZeroPadBits);
            }
            let [_, _, _, a] = (acc >> 4).to_be_bytes();
            w.push(&[a])?;
        }
        (3, 0 | 1) => {
            if acc & 0x3 != 0 {
                return Err(Base64Error::NonZeroPadBits);
            }
            let [_, _, a, b] = (acc >> 2).to_be_bytes();
            w.push(&[a, b])?;
        }
        _ => return Err(Base64Error::BadPadding),
    }
    Ok(w.len)
}

/// Encodes `input` into `out` with padding, returning the length (for tools and tests).
///
/// `out` needs `4 * ceil(input.len() / 3)` bytes, else [`Base64Error::BufferTooSmall`] (and
/// nothing is written).
pub fn encode(input: &[u8], out: &mut [u8]) -> Result<usize, Base64Error> {
    let need = input
        .len()
        .div_ceil(3)
        .checked_mul(4)
        .ok_or(Base64Error::BufferTooSmall)?;
    let out = out.get_mut(..need).ok_or(Base64Error::BufferTooSmall)?;
    for (chunk, dst) in input.chunks(3).zip(out.chunks_exact_mut(4)) {
        let mut group = [0u8; 3];
        let n = chunk.len();
        group[..n].copy_from_slice(chunk);
        let v = u32::from_be_bytes([0, group[0], group[1], group[2]]);
        for (i, d) in dst.iter_mut().enumerate() {
            *d = if i <= n {
                ALPHABET[((v >> (18 - 6 * i)) & 0x3F) as usize]
            } else {
                b'='
            };
        }
    }
    Ok(need)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The value of a base64 symbol.
const fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Bounded output.
struct Out<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl Out<'_> {
    fn push(&mut self, bytes: &[u8]) -> Result<(), Base64Error> {
        let end = self.len + bytes.len();
        self.out
            .get_mut(self.len..end)
            .ok_or(Base64Error::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Result<std::vec::Vec<u8>, Base64Error> {
        let mut out = [0u8; 64];
        let n = decode(s.as_bytes(), &mut out)?;
        Ok(out[..n].to_vec())
    }

    #[test]
    fn rfc4648_vectors_both_ways() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        let mut buf = [0u8; 16];
        for (plain, enc) in cases {
            let n = encode(plain.as_bytes(), &mut buf).unwrap();
            assert_eq!(&buf[..n], enc.as_bytes());
            assert_eq!(dec(enc).unwrap(), plain.as_bytes());
        }
        let n = encode(&[0xfb, 0xff, 0xbf], &mut buf).unwrap();
        assert_eq!(&buf[..n], b"+/+/");
    }

    #[test]
    fn lenient_forms() {
        assert_eq!(dec("Zm9vYg").unwrap(), b"foob");
        assert_eq!(dec("Z\r\nm9\nvYg=\n=").unwrap(), b"foob");
        assert_eq!(dec("Zm9v  \r\n ").unwrap(), b"foo");
        assert_eq!(dec("\n\r\n").unwrap(), b"");
    }

    #[test]
    fn refusals() {
        assert_eq!(dec("Zm9v\tYg"), Err(Base64Error::InvalidSymbol { at: 4 }));
        assert_eq!(dec("Zm9v-Yg"), Err(Base64Error::InvalidSymbol { at: 4 }));
        assert_eq!(dec("Zm 9v"), Err(Base64Error::InvalidSymbol { at: 2 }));
        assert_eq!(dec("Zm9vYg =="), Err(Base64Error::InvalidSymbol { at: 6 }));
        assert_eq!(dec("Zm9v="), Err(Base64Error::BadPadding));
        assert_eq!(dec("Zm9=v"), Err(Base64Error::BadPadding));
        assert_eq!(dec("Zm8=="), Err(Base64Error::BadPadding));
        assert_eq!(dec("Zg="), Err(Base64Error::BadPadding));
        assert_eq!(dec("Zm9vY"), Err(Base64Error::BadLength));
        assert_eq!(dec("Zh=="), Err(Base64Error::NonZeroPadBits));
        assert_eq!(dec("Zm9"), Err(Base64Error::NonZeroPadBits));
        // non-ASCII and NUL bytes
        assert_eq!(
            decode(&[b'Z', 0xC3, 0xA9], &mut [0u8; 4]),
            Err(Base64Error::InvalidSymbol { at: 1 })
        );
        assert_eq!(
            decode(&[0], &mut [0u8; 4]),
            Err(Base64Error::InvalidSymbol { at: 0 })
        );
    }

    #[test]
    fn buffer_sizes() {
        let mut out = [0u8; 9];
        assert_eq!(decode(b"Rk9PQkFSQkFa", &mut out), Ok(9));
        assert_eq!(
            decode(b"Rk9PQkFSQkFa", &mut out[..8]),
            Err(Base64Error::BufferTooSmall)
        );
        assert_eq!(
            decode(b"Rk9PQkE", &mut out[..4]),
            Err(Base64Error::BufferTooSmall)
        );
        assert_eq!(decode(b"Rk9PQkE", &mut out[..5]), Ok(5));
        let mut enc = [0u8; 8];
        assert_eq!(
            encode(b"fooba", &mut enc[..7]),
            Err(Base64Error::BufferTooSmall)
        );
        assert_eq!(encode(b"fooba", &mut enc), Ok(8));
        assert!(decoded_len_max(8) >= 6);
    }

    #[test]
    fn display() {
        assert_eq!(
            std::format!("{}", Base64Error::InvalidSymbol { at: 3 }),
            "base64: invalid symbol at offset 3"
        );
    }
}
