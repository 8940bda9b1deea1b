//! ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }` (an ECDSA signature, as AWS code signing
//! emits it) to the fixed-size `r ‖ s` form of a curve with 32-byte scalars (P-256).

use core::fmt;

/// Why a DER signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DerError {
    /// Not a SEQUENCE of exactly two INTEGERs with definite, minimal lengths.
    Malformed,
    /// An integer is negative, zero, not minimally encoded, or longer than 32 bytes.
    BadInteger,
    /// Bytes after the SEQUENCE.
    TrailingData,
}

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "der: not a sequence of two integers",
            Self::BadInteger => "der: bad integer (negative, zero, non-minimal or too long)",
            Self::TrailingData => "der: trailing data after the sequence",
        })
    }
}

impl core::error::Error for DerError {}

/// Scalar size of P-256.
const SCALAR: usize = 32;
const TAG_INTEGER: u8 = 0x02;
const TAG_SEQUENCE: u8 = 0x30;

/// Converts a DER ECDSA signature into `r ‖ s`, each left-padded to 32 bytes.
///
/// Strict DER: definite minimal lengths (short form below 128, long form only above), and
/// each integer positive and minimal (a leading `0x00` only before a byte with its high bit
/// set). Range checks against the curve order are left to the signature library.
pub fn der_to_raw_p256(der: &[u8]) -> Result<[u8; 64], DerError> {
    let (tag, body, rest) = tlv(der)?;
    if tag != TAG_SEQUENCE {
        return Err(DerError::Malformed);
    }
    if !rest.is_empty() {
        return Err(DerError::TrailingData);
    }
    let mut raw = [0u8; 2 * SCALAR];
    let (r_half, s_half) = raw.split_at_mut(SCALAR);
    let rest = integer(body, r_half)?;
    let rest = integer(rest, s_half)?;
    if !rest.is_empty() {
        return Err(DerError::Malformed);
    }
    Ok(raw)
}

/// Encodes `r ‖ s` as DER into `out` (for tools and tests); returns the length (≤ 72).
///
/// A zero `r` or `s` gives [`DerError::BadInteger`]; an `out` too small for the encoding
/// gives [`DerError::Malformed`] (72 bytes always suffice).
pub fn raw_to_der_p256(raw: &[u8; 64], out: &mut [u8]) -> Result<usize, DerError> {
    let (r, s) = raw.split_at(SCALAR);
    let (r, r_pad) = minimal(r)?;
    let (s, s_pad) = minimal(s)?;
    let r_len = r.len() + usize::from(r_pad);
    let s_len = s.len() + usize::from(s_pad);
    let body = 2 + r_len + 2 + s_len; // at most 70: short form
    let total = 2 + body;
    let out = out.get_mut(..total).ok_or(DerError::Malformed)?;
    let mut pos = 0;
    for b in [TAG_SEQUENCE, body as u8] {
        out[pos] = b;
        pos += 1;
    }
    for (v, pad, len) in [(r, r_pad, r_len), (s, s_pad, s_len)] {
        out[pos] = TAG_INTEGER;
        out[pos + 1] = len as u8;
        pos += 2;
        if pad {
            out[pos] = 0;
            pos += 1;
        }
        out[pos..pos + v.len()].copy_from_slice(v);
        pos += v.len();
    }
    Ok(total)
}

/// Strips leading zeros of a big-endian unsigned scalar; `true` if a `0x00` must precede it.
fn minimal(v: &[u8]) -> Result<(&[u8], bool), DerError> {
    let first = v.iter().position(|&b| b != 0).ok_or(DerError::BadInteger)?;
    let v = &v[first..];
    Ok((v, v[0] & 0x80 != 0))
}

/// Splits one TLV off `input`: `(tag, value, rest)`.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError::Malformed)?;
    let (&first, mut rest) = rest.split_first().ok_or(DerError::Malformed)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        // Long form: 0x81..=0x84 length bytes; 0x80 (indefinite) is not DER.
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return Err(DerError::Malformed);
        }
        let (bytes, after) = rest.split_at_checked(n).ok_or(DerError::Malformed)?;
        rest = after;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        // Minimal: no leading zero byte, and the short form where it fits.
        if bytes.first() == Some(&0) || len < 0x80 {
            return Err(DerError::Malformed);
        }
        len
    };
    let (value, rest) = rest.split_at_checked(len).ok_or(DerError::Malformed)?;
    Ok((tag, value, rest))
}

/// Reads one positive minimal INTEGER of at most 32 bytes into `dst` (left-padded); returns
/// the input after it.
fn integer<'a>(input: &'a [u8], dst: &mut [u8]) -> Result<&'a [u8], DerError> {
    let (tag, v, rest) = tlv(input)?;
    if tag != TAG_INTEGER {
        return Err(DerError::Malformed);
    }
    let v = match v {
        // empty, negative
        [] | [0x80..=0xFF, ..] => return Err(DerError::BadInteger),
        // zero, or a 0x00 that is not needed
        [0] | [0, 0..=0x7F, ..] => return Err(DerError::BadInteger),
        [0, tail @ ..] => tail,
        _ => v,
    };
    let start = dst.len().checked_sub(v.len()).ok_or(DerError::BadInteger)?;
    dst.get_mut(start..)
        .ok_or(DerError::BadInteger)?
        .copy_from_slice(v);
    Ok(rest)
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

    #[test]
    fn short_integers_are_left_padded() {
        let raw = der_to_raw_p256(&hex("3007020101020200ff")).unwrap();
        let mut want = [0u8; 64];
        want[31] = 1;
        want[63] = 0xff;
        assert_eq!(raw, want);
        let mut out = [0u8; 72];
        let n = raw_to_der_p256(&raw, &mut out).unwrap();
        assert_eq!(&out[..n], hex("3007020101020200ff").as_slice());
    }

    #[test]
    fn full_width_with_high_bits_uses_long_form() {
        // r and s both 0x80.. -> 33-byte integers, body 70 bytes (short form), total 72.
        let mut raw = [0x80u8; 64];
        raw[0] = 0xff;
        let mut out = [0u8; 72];
        let n = raw_to_der_p256(&raw, &mut out).unwrap();
        assert_eq!(n, 72);
        assert_eq!(&out[..5], &[0x30, 70, 0x02, 33, 0x00]);
        assert_eq!(der_to_raw_p256(&out[..n]), Ok(raw));
        assert_eq!(
            raw_to_der_p256(&raw, &mut out[..71]),
            Err(DerError::Malformed)
        );
        // The same signature with a (non-minimal) long-form sequence length is refused.
        let mut long = std::vec![0x30, 0x81, 70];
        long.extend_from_slice(&out[2..n]);
        assert_eq!(der_to_raw_p256(&long), Err(DerError::Malformed));
    }

    #[test]
    fn long_form_length_accepted_when_needed() {
        // An 0x81 length >= 128 is minimal; here it overruns the input -> Malformed.
        assert_eq!(der_to_raw_p256(&hex("308180")), Err(DerError::Malformed));
        assert_eq!(der_to_raw_p256(&hex("30820080")), Err(DerError::Malformed));
        assert_eq!(
            der_to_raw_p256(&hex("3080020101020101 0000".replace(' ', "").as_str())),
            Err(DerError::Malformed)
        );
        assert_eq!(der_to_raw_p256(&hex("3085")), Err(DerError::Malformed));
    }

    #[test]
    fn bad_integers() {
        for (der, err) in [
            ("3006020100020101", DerError::BadInteger),      // r = 0
            ("30050200020101", DerError::BadInteger),        // empty r
            ("3006020181020101", DerError::BadInteger),      // negative r
            ("300702020001020101", DerError::BadInteger),    // non-minimal r
            ("3006020101020100", DerError::BadInteger),      // s = 0
            ("3006020101030101", DerError::Malformed),       // s not an INTEGER
            ("3103020101", DerError::Malformed),             // not a sequence
            ("3003020101", DerError::Malformed),             // one integer
            ("3009020101020101020101", DerError::Malformed), // three integers
            ("3007020101020101", DerError::Malformed),       // sequence overruns
            ("300602010102010100", DerError::TrailingData),
            ("", DerError::Malformed),
            ("30", DerError::Malformed),
        ] {
            assert_eq!(der_to_raw_p256(&hex(der)), Err(err), "{der}");
        }
        // 33 significant bytes
        let mut big = std::vec![0x30, 39, 0x02, 34, 0x00];
        big.extend_from_slice(&[0x80; 33]);
        big.extend_from_slice(&[0x02, 0x01, 0x01]);
        assert_eq!(der_to_raw_p256(&big), Err(DerError::BadInteger));
        assert_eq!(
            raw_to_der_p256(&[0; 64], &mut [0; 72]),
            Err(DerError::BadInteger)
        );
        let mut r_only = [0u8; 64];
        r_only[0] = 1;
        assert_eq!(
            raw_to_der_p256(&r_only, &mut [0; 72]),
            Err(DerError::BadInteger)
        );
    }

    #[test]
    fn display() {
        assert_eq!(
            std::format!("{}", DerError::TrailingData),
            "der: trailing data after the sequence"
        );
    }
}
