//! Shared code of the ota-core fuzz targets.
//!
//! - [`parsers`]: one check function per wire parser (never panics, and every value that
//!   decodes survives a round trip through the matching encoder, where one exists);
//! - [`input`]: the structured input of the `agent` target (a [`arbitrary::Arbitrary`] type
//!   with a matching encoder, so that seed corpora can be written as scenarios);
//! - [`harness`]: the device model that runs an [`ota_core::Agent`] through such an input and
//!   asserts the agent's invariants after every step.
//!
//! - [`seeds`]: seed scenarios and the public vectors, which the `gen-corpus` example writes
//!   under `corpus/`.
//!
//! The targets in `fuzz_targets/` are thin wrappers around these functions.

pub mod harness;
pub mod input;
pub mod parsers;
pub mod seeds;

/// CRC-32 (IEEE 802.3, reflected, as zlib): the resume record's checksum, recomputed here so
/// that the `resume` target can get past it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }
}
