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
        match self {
            Self::Malformed => f.write_str("content-range: malformed value"),
            Self::Inconsistent => f.write_str("content-range: inconsistent or oversized range"),
            Self::Unsatisfied { complete } => {
                write!(
                    f,
                    "content-range: range not satisfiable (length {complete})"
                )
            }
        }
    }
}

impl core::error::Error for ContentRangeError {}

/// Parses a `Content-Range` header value (case-insensitive unit, optional surrounding spaces).
///
/// Accepted: `bytes first-last/complete` and `bytes first-last/*`; `bytes */complete` gives
/// [`ContentRangeError::Unsatisfied`]. Spaces and tabs are allowed around the value and
/// between the unit and the range (at least one is required there), nowhere else. Numbers are
/// ASCII digits only (no sign); one over `u32::MAX` is [`ContentRangeError::Inconsistent`].
#[inline(never)] // smaller out of line (measured, see the README's code size)
pub fn parse_content_range(value: &[u8]) -> Result<ContentRange, ContentRangeError> {
    let v = value.trim_ascii();
    let (unit, rest) = v.split_at_checked(5).ok_or(ContentRangeError::Malformed)?;
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return Err(ContentRangeError::Malformed);
    }
    let gap = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let range = match rest.get(gap..) {
        Some(range) if gap > 0 => range,
        _ => return Err(ContentRangeError::Malformed),
    };
    let (span, complete) = split_once(range, b'/')?;
    let complete = if complete == b"*" {
        None
    } else {
        Some(number(complete)?)
    };
    if span == b"*" {
        return Err(match complete {
            Some(complete) => ContentRangeError::Unsatisfied { complete },
            None => ContentRangeError::Malformed,
        });
    }
    let (first, last) = split_once(span, b'-')?;
    let first = number(first)?;
    let last = number(last)?;
    if last < first || complete.is_some_and(|c| last >= c) {
        return Err(ContentRangeError::Inconsistent);
    }
    Ok(ContentRange {
        first,
        last,
        complete,
    })
}

fn split_once(v: &[u8], sep: u8) -> Result<(&[u8], &[u8]), ContentRangeError> {
    let i = v
        .iter()
        .position(|&b| b == sep)
        .ok_or(ContentRangeError::Malformed)?;
    Ok((&v[..i], &v[i + 1..]))
}

/// One or more ASCII digits as a `u32`.
fn number(digits: &[u8]) -> Result<u32, ContentRangeError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ContentRangeError::Malformed);
    }
    digits.iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u32::from(d - b'0')))
            .ok_or(ContentRangeError::Inconsistent)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cr(first: u32, last: u32, complete: Option<u32>) -> Result<ContentRange, ContentRangeError> {
        Ok(ContentRange {
            first,
            last,
            complete,
        })
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(
            parse_content_range(b"bytes 0-499/1234"),
            cr(0, 499, Some(1234))
        );
        assert_eq!(parse_content_range(b"bytes 0-499/*"), cr(0, 499, None));
        assert_eq!(parse_content_range(b"  BYTES 5-5/6 \t"), cr(5, 5, Some(6)));
        assert_eq!(
            parse_content_range(b"Bytes\t 1000-1999/102400"),
            cr(1000, 1999, Some(102400))
        );
        assert_eq!(
            parse_content_range(b"bytes 007-008/010"),
            cr(7, 8, Some(10))
        );
        assert_eq!(
            parse_content_range(b"bytes 0-4294967294/4294967295"),
            cr(0, u32::MAX - 1, Some(u32::MAX))
        );
        assert_eq!(
            parse_content_range(b"bytes 4294967295-4294967295/*"),
            cr(u32::MAX, u32::MAX, None)
        );
    }

    #[test]
    fn unsatisfied() {
        assert_eq!(
            parse_content_range(b"bytes */1234"),
            Err(ContentRangeError::Unsatisfied { complete: 1234 })
        );
        assert_eq!(
            parse_content_range(b"bytes */*"),
            Err(ContentRangeError::Malformed)
        );
        assert_eq!(
            parse_content_range(b"bytes */99999999999"),
            Err(ContentRangeError::Inconsistent)
        );
    }

    #[test]
    fn refused() {
        use ContentRangeError::{Inconsistent, Malformed};
        for (v, e) in [
            (&b""[..], Malformed),
            (b"bytes", Malformed),
            (b"bytes ", Malformed),
            (b"bytes0-1/2", Malformed),
            (b"items 0-1/2", Malformed),
            (b"bytes 0 -1/2", Malformed),
            (b"bytes 0-1 /2", Malformed),
            (b"bytes +0-1/2", Malformed),
            (b"bytes -1-1/2", Malformed),
            (b"bytes 0--1/2", Malformed),
            (b"bytes 0-/2", Malformed),
            (b"bytes -1/2", Malformed),
            (b"bytes 0-1", Malformed),
            (b"bytes 0-1/", Malformed),
            (b"bytes 0-1/2/3", Malformed),
            (b"bytes 0-1/2x", Malformed),
            (b"bytes\n0-1/2", Malformed),
            (b"bytes 0x1-2/3", Malformed),
            (b"bytes 2-1/3", Inconsistent),
            (b"bytes 0-3/3", Inconsistent),
            (b"bytes 0-1/0", Inconsistent),
            (b"bytes 0-4294967296/*", Inconsistent),
            (b"bytes 0-1/4294967296", Inconsistent),
        ] {
            assert_eq!(
                parse_content_range(v),
                Err(e),
                "{:?}",
                core::str::from_utf8(v)
            );
        }
    }

    #[test]
    fn display() {
        assert_eq!(
            std::format!("{}", ContentRangeError::Unsatisfied { complete: 9 }),
            "content-range: range not satisfiable (length 9)"
        );
    }
}
