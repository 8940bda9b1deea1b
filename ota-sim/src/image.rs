//! The simulated firmware image: a 32-byte header, then filler.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `OTASIMG1` |
//! | 8 | 1 | version major |
//! | 9 | 1 | version minor |
//! | 10 | 2 | version build (little-endian) |
//! | 12 | 1 | behaviour: 0 `ok`, 1 `crash`, 2 `no-network`, 3 `fail-self-test` |
//! | 13 | 3 | zero |
//! | 16 | 4 | image length in bytes, header included (little-endian, ≥ 32) |
//! | 20 | 4 | CRC-32 (IEEE) of bytes 0..20 and 24..length (little-endian) |
//! | 24 | 8 | zero |
//! | 32 | … | filler (deterministic, from the version) |
//!
//! A slot whose first bytes are not such a header, whose length does not fit the slot, or
//! whose CRC does not match, is not an image: the simulated device does not start it (the
//! bootloader reverts on the next reset).

use std::fmt;

/// Header length.
pub const HEADER_LEN: usize = 32;
/// The magic.
pub const MAGIC: &[u8; 8] = b"OTASIMG1";

/// How an image behaves when booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behaviour {
    /// Starts, connects, passes its self-test.
    Ok,
    /// Never starts: the device resets at once, the bootloader reverts.
    Crash,
    /// Starts but never connects: the trial watchdog (self-test timeout) resets, the
    /// bootloader reverts.
    NoNetwork,
    /// Starts, connects, and rejects itself in its self-test.
    FailSelfTest,
}

impl Behaviour {
    /// The CLI / README name.
    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::Ok => "ok",
            Behaviour::Crash => "crash",
            Behaviour::NoNetwork => "no-network",
            Behaviour::FailSelfTest => "fail-self-test",
        }
    }
    /// From the CLI name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Behaviour::Ok,
            Behaviour::Crash,
            Behaviour::NoNetwork,
            Behaviour::FailSelfTest,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
    fn code(self) -> u8 {
        match self {
            Behaviour::Ok => 0,
            Behaviour::Crash => 1,
            Behaviour::NoNetwork => 2,
            Behaviour::FailSelfTest => 3,
        }
    }
    fn from_code(c: u8) -> Option<Self> {
        [
            Behaviour::Ok,
            Behaviour::Crash,
            Behaviour::NoNetwork,
            Behaviour::FailSelfTest,
        ]
        .into_iter()
        .find(|b| b.code() == c)
    }
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Version.
    pub version: ota_core::Version,
    /// Behaviour.
    pub behaviour: Behaviour,
    /// Length of the whole image.
    pub len: u32,
}

/// Why bytes are not an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageError {
    /// Shorter than the header or than its length field.
    Truncated,
    /// No magic.
    BadMagic,
    /// Unknown behaviour code.
    BadBehaviour(u8),
    /// Length field below the header size.
    BadLength(u32),
    /// CRC mismatch.
    BadCrc,
    /// Requested size below the header size.
    TooSmall,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Truncated => f.write_str("truncated image"),
            ImageError::BadMagic => f.write_str("not a simulated image (no OTASIMG1 magic)"),
            ImageError::BadBehaviour(b) => write!(f, "unknown behaviour code {b}"),
            ImageError::BadLength(n) => write!(f, "bad image length {n}"),
            ImageError::BadCrc => f.write_str("image CRC mismatch"),
            ImageError::TooSmall => write!(f, "an image is at least {HEADER_LEN} bytes"),
        }
    }
}

impl std::error::Error for ImageError {}

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for p in parts {
        for &b in *p {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

/// Builds an image of exactly `size` bytes.
///
/// # Errors
/// [`ImageError::TooSmall`] below [`HEADER_LEN`].
pub fn build(
    version: ota_core::Version,
    behaviour: Behaviour,
    size: usize,
) -> Result<Vec<u8>, ImageError> {
    if size < HEADER_LEN || size > u32::MAX as usize {
        return Err(ImageError::TooSmall);
    }
    let mut img = vec![0u8; size];
    img[..8].copy_from_slice(MAGIC);
    img[8] = version.major;
    img[9] = version.minor;
    img[10..12].copy_from_slice(&version.build.to_le_bytes());
    img[12] = behaviour.code();
    img[16..20].copy_from_slice(&(size as u32).to_le_bytes());
    let mut x = version.to_u32() ^ 0x9E37_79B9 ^ ((behaviour.code() as u32) << 8);
    for b in &mut img[HEADER_LEN..] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let crc = crc32(&[&img[..20], &img[24..]]);
    img[20..24].copy_from_slice(&crc.to_le_bytes());
    Ok(img)
}

/// Reads the header at the start of `bytes` (`bytes` may be longer than the image: a slot).
///
/// # Errors
/// [`ImageError`] when it is not a valid image.
pub fn parse(bytes: &[u8]) -> Result<ImageInfo, ImageError> {
    let h = bytes.get(..HEADER_LEN).ok_or(ImageError::Truncated)?;
    if &h[..8] != MAGIC {
        return Err(ImageError::BadMagic);
    }
    let behaviour = Behaviour::from_code(h[12]).ok_or(ImageError::BadBehaviour(h[12]))?;
    let len = u32::from_le_bytes([h[16], h[17], h[18], h[19]]);
    if (len as usize) < HEADER_LEN {
        return Err(ImageError::BadLength(len));
    }
    let img = bytes.get(..len as usize).ok_or(ImageError::Truncated)?;
    let crc = u32::from_le_bytes([h[20], h[21], h[22], h[23]]);
    if crc32(&[&img[..20], &img[24..]]) != crc {
        return Err(ImageError::BadCrc);
    }
    Ok(ImageInfo {
        version: ota_core::Version::new(h[8], h[9], u16::from_le_bytes([h[10], h[11]])),
        behaviour,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ota_core::Version;
    use proptest::prelude::*;

    #[test]
    fn round_trip_in_a_larger_slot() {
        let img = build(Version::new(1, 2, 300), Behaviour::FailSelfTest, 1000).unwrap();
        let mut slot = img.clone();
        slot.resize(4096, 0xff);
        let info = parse(&slot).unwrap();
        assert_eq!(info.version, Version::new(1, 2, 300));
        assert_eq!(info.behaviour, Behaviour::FailSelfTest);
        assert_eq!(info.len, 1000);
    }

    #[test]
    fn refuses_non_images() {
        assert_eq!(
            parse(b"the end is never the end is never "),
            Err(ImageError::BadMagic)
        );
        assert_eq!(parse(&[0xff; 64]), Err(ImageError::BadMagic));
        let img = build(Version::new(1, 0, 0), Behaviour::Ok, 100).unwrap();
        assert_eq!(parse(&img[..99]), Err(ImageError::Truncated));
        let mut bad = img.clone();
        bad[50] ^= 1;
        assert_eq!(parse(&bad), Err(ImageError::BadCrc));
        assert_eq!(
            build(Version::new(1, 0, 0), Behaviour::Ok, 31),
            Err(ImageError::TooSmall)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&b);
        }
        #[test]
        fn any_flip_is_detected(size in 32usize..300, at in 0usize..300, bit in 0u8..8) {
            let img = build(Version::new(0, 9, 1), Behaviour::Ok, size).unwrap();
            let mut bad = img.clone();
            let at = at % size;
            bad[at] ^= 1 << bit;
            prop_assert!(parse(&bad) != parse(&img) || bad == img);
        }
    }
}
