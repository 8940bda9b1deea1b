//! HTTP `Content-Range` (RFC 9110 §14.4) as a range download needs it.

use core::fmt;

/// A `Content-Range: bytes first-last/complete` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ContentRange {
    /// First byte position (inclusive).
    pub first: u32,
    /// Last byte position (inclusive).
    pub last: u32,
    /// Complete length, `None` for `*`.
    pub complete: Option<u32>,
}

/// Why a `Content-Range` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ContentRangeError {
    /// Not `bytes first-last/complete|*` (or the unsatisfied form `bytes */complete`).
    Malformed,
    /// `last < first`, `last >= complete`, or a number over `u32::MAX`.
    Inconsistent,
    /// The unsatisfied-range form `bytes */complete` (answers a 416).
    Unsatisfied {
        /// The complete length.
        complete: u32,
    },
}

impl fmt::Display for ContentRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!()
    }
}

impl core::error::Error for ContentRangeError {}

/// Parses a `Content-Range` header value (case-insensitive unit, optional surrounding spaces).
pub fn parse_content_range(value: &[u8]) -> Result<ContentRange, ContentRangeError> {
    todo!()
}
