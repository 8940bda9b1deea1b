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
        todo!()
    }
}

impl core::error::Error for DerError {}

/// Converts a DER ECDSA signature into `r ‖ s`, each left-padded to 32 bytes.
pub fn der_to_raw_p256(der: &[u8]) -> Result<[u8; 64], DerError> {
    todo!()
}

/// Encodes `r ‖ s` as DER into `out` (for tools and tests); returns the length (≤ 72).
pub fn raw_to_der_p256(raw: &[u8; 64], out: &mut [u8]) -> Result<usize, DerError> {
    todo!()
}
