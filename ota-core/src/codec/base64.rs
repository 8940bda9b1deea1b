//! Strict standard base64 (RFC 4648 alphabet) decoding, with the leniencies AWS job documents
//! need: optional padding, and CR/LF line breaks between groups. Non-zero padding bits, stray
//! `=` and symbols outside the alphabet are refused.

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
        todo!()
    }
}

impl core::error::Error for Base64Error {}

/// Upper bound of the decoded length of `encoded_len` input bytes.
pub const fn decoded_len_max(encoded_len: usize) -> usize {
    encoded_len / 4 * 3 + 3
}

/// Decodes `input` into `out`, returning the number of bytes written.
pub fn decode(input: &[u8], out: &mut [u8]) -> Result<usize, Base64Error> {
    todo!()
}

/// Encodes `input` into `out` with padding, returning the length (for tools and tests).
pub fn encode(input: &[u8], out: &mut [u8]) -> Result<usize, Base64Error> {
    todo!()
}
