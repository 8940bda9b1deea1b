//! The device's identity, provisioned once into a flash area of its own instead of compiled
//! into the firmware: the thing name, the broker endpoint, and (for AWS IoT Core) the trust
//! anchor, the device certificate and its private key.
//!
//! Keeping these out of the image is what lets one OTA image serve a whole fleet, and keeps
//! the private key out of the copy uploaded to S3. The board reads the area at boot and
//! [`Identity::parse`]s it (flash is hostile input: every field is checked, nothing panics);
//! `ota-sim provision` writes the blob on the host ([`encode`] is the same code).
//!
//! # Format (version 1), little-endian
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `OTAI` |
//! | 1 | version, 1 |
//! | 1 | flags, 0 (reserved) |
//! | 2 | total length `n` of the blob, CRC included |
//! | 5 × 2 | lengths of: thing name, endpoint, anchor, certificate, key |
//! | … | the five fields, in that order, back to back |
//! | 4 | CRC-32 (IEEE, as zlib) of bytes `0 .. n-4` |
//!
//! Thing name: 1–128 bytes, MQTT-topic-safe. Endpoint: `host:port`, 1–253 + 6 bytes, ASCII.
//! The anchor, certificate and key are DER and may be empty (a plain-MQTT device on a LAN). An
//! erased area (all `0xFF`) is [`IdentityError::Erased`]: not provisioned yet.

/// Largest blob [`Identity::parse`] accepts (one 4 KiB flash sector).
pub const MAX_BLOB: usize = 4096;

const MAGIC: &[u8; 4] = b"OTAI";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 1 + 2 + 5 * 2;

/// Why an identity blob was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IdentityError {
    /// The area is erased: the device was never provisioned.
    Erased,
    /// No `OTAI` magic: the area holds something else.
    NotAnIdentity,
    /// A version this firmware does not read.
    Version(u8),
    /// A length points outside the blob, or the blob is longer than [`MAX_BLOB`].
    Truncated,
    /// The checksum does not match: a torn or corrupted write.
    Checksum,
    /// The thing name is empty, longer than 128 bytes or not topic-safe.
    ThingName,
    /// The endpoint is not `host:port`.
    Endpoint,
    /// The output buffer is too small ([`encode`]).
    BufferTooSmall,
}

impl core::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IdentityError::Erased => f.write_str("identity area erased: device not provisioned"),
            IdentityError::NotAnIdentity => f.write_str("identity area holds no identity"),
            IdentityError::Version(v) => write!(f, "identity version {v} not supported"),
            IdentityError::Truncated => f.write_str("identity blob truncated"),
            IdentityError::Checksum => f.write_str("identity blob checksum mismatch"),
            IdentityError::ThingName => f.write_str("identity thing name invalid"),
            IdentityError::Endpoint => f.write_str("identity endpoint is not host:port"),
            IdentityError::BufferTooSmall => f.write_str("buffer too small for the identity"),
        }
    }
}

impl core::error::Error for IdentityError {}

/// A parsed identity, borrowing the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The AWS IoT thing name (the MQTT client id).
    pub thing_name: &'a str,
    /// The broker's host name or address.
    pub host: &'a str,
    /// The broker's port.
    pub port: u16,
    /// Trust anchor, DER (empty: no TLS).
    pub anchor: &'a [u8],
    /// Device certificate, DER.
    pub cert: &'a [u8],
    /// Device private key, DER (SEC1 or PKCS#8, P-256).
    pub key: &'a [u8],
}

impl<'a> Identity<'a> {
    /// Reads an identity from the start of `area` (bytes after the blob are ignored).
    ///
    /// # Errors
    /// An [`IdentityError`] for an erased, foreign, truncated, corrupted or invalid blob.
    pub fn parse(area: &'a [u8]) -> Result<Self, IdentityError> {
        let head = area.get(..HEADER).ok_or(IdentityError::Truncated)?;
        if head.iter().all(|&b| b == 0xFF) {
            return Err(IdentityError::Erased);
        }
        if &head[..4] != MAGIC {
            return Err(IdentityError::NotAnIdentity);
        }
        if head[4] != VERSION {
            return Err(IdentityError::Version(head[4]));
        }
        let u16_at = |i: usize| usize::from(u16::from_le_bytes([head[i], head[i + 1]]));
        let total = u16_at(6);
        if !(HEADER + 4..=MAX_BLOB).contains(&total) {
            return Err(IdentityError::Truncated);
        }
        let blob = area.get(..total).ok_or(IdentityError::Truncated)?;
        let (body, crc) = blob.split_at(total - 4);
        if crc32(body).to_le_bytes() != crc {
            return Err(IdentityError::Checksum);
        }
        let mut fields = [&[][..]; 5];
        let mut at = HEADER;
        for (i, field) in fields.iter_mut().enumerate() {
            let len = u16_at(8 + 2 * i);
            *field = body.get(at..at + len).ok_or(IdentityError::Truncated)?;
            at += len;
        }
        if at != body.len() {
            return Err(IdentityError::Truncated);
        }
        let [thing, endpoint, anchor, cert, key] = fields;
        let thing_name = core::str::from_utf8(thing).map_err(|_| IdentityError::ThingName)?;
        if !valid_thing_name(thing_name) {
            return Err(IdentityError::ThingName);
        }
        let (host, port) = split_endpoint(endpoint).ok_or(IdentityError::Endpoint)?;
        Ok(Self {
            thing_name,
            host,
            port,
            anchor,
            cert,
            key,
        })
    }

    /// Whether the identity carries TLS credentials (all three of anchor, certificate, key).
    pub fn has_tls(&self) -> bool {
        !self.anchor.is_empty() && !self.cert.is_empty() && !self.key.is_empty()
    }
}

/// AWS IoT thing names: 1–128 of `[a-zA-Z0-9:_-]`.
fn valid_thing_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// `host:port` with an ASCII LDH (or IPv4) host of 1–253 bytes and a port 1–65535.
fn split_endpoint(b: &[u8]) -> Option<(&str, u16)> {
    let s = core::str::from_utf8(b).ok()?;
    let (host, port) = s.rsplit_once(':')?;
    let host_ok = (1..=253).contains(&host.len())
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.');
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    host_ok.then_some((host, port))
}

/// Writes the blob of `id` into `out`; returns its length.
///
/// # Errors
/// [`IdentityError::ThingName`] / [`IdentityError::Endpoint`] for invalid fields,
/// [`IdentityError::Truncated`] when the blob would exceed [`MAX_BLOB`],
/// [`IdentityError::BufferTooSmall`] when `out` is too short.
pub fn encode(id: &Identity<'_>, out: &mut [u8]) -> Result<usize, IdentityError> {
    if !valid_thing_name(id.thing_name) {
        return Err(IdentityError::ThingName);
    }
    let mut endpoint: heapless::String<260> = heapless::String::new();
    core::fmt::write(&mut endpoint, format_args!("{}:{}", id.host, id.port))
        .map_err(|_| IdentityError::Endpoint)?;
    if split_endpoint(endpoint.as_bytes()).is_none_or(|(h, p)| h != id.host || p != id.port) {
        return Err(IdentityError::Endpoint);
    }
    let fields: [&[u8]; 5] = [
        id.thing_name.as_bytes(),
        endpoint.as_bytes(),
        id.anchor,
        id.cert,
        id.key,
    ];
    let total = HEADER + fields.iter().map(|f| f.len()).sum::<usize>() + 4;
    if total > MAX_BLOB {
        return Err(IdentityError::Truncated);
    }
    let out = out.get_mut(..total).ok_or(IdentityError::BufferTooSmall)?;
    out[..4].copy_from_slice(MAGIC);
    out[4] = VERSION;
    out[5] = 0;
    // total ≤ MAX_BLOB and each field ≤ total: the casts are lossless.
    out[6..8].copy_from_slice(&(total as u16).to_le_bytes());
    let mut at = HEADER;
    for (i, f) in fields.iter().enumerate() {
        out[8 + 2 * i..10 + 2 * i].copy_from_slice(&(f.len() as u16).to_le_bytes());
        out[at..at + f.len()].copy_from_slice(f);
        at += f.len();
    }
    let crc = crc32(&out[..at]);
    out[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(total)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`), bitwise: the blob is read once per boot.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample<'a>() -> Identity<'a> {
        Identity {
            thing_name: "esp32c3-0042",
            host: "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com",
            port: 8883,
            anchor: b"anchor-der",
            cert: b"certificate-der",
            key: b"key-der",
        }
    }

    #[test]
    fn crc_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn round_trip_and_layout() {
        let mut buf = [0xFFu8; 512];
        let n = encode(&sample(), &mut buf).unwrap();
        assert_eq!(&buf[..5], b"OTAI\x01");
        assert_eq!(usize::from(u16::from_le_bytes([buf[6], buf[7]])), n);
        let id = Identity::parse(&buf).unwrap();
        assert_eq!(id, sample());
        assert!(id.has_tls());
        // Bytes after the blob (the rest of the erased sector) are ignored.
        assert_eq!(Identity::parse(&buf[..n]), Ok(sample()));
        assert_eq!(
            Identity::parse(&buf[..n - 1]),
            Err(IdentityError::Truncated)
        );
    }

    #[test]
    fn plain_identities_have_no_tls() {
        let id = Identity {
            anchor: &[],
            cert: &[],
            key: &[],
            host: "192.168.1.20",
            port: 1883,
            ..sample()
        };
        let mut buf = [0u8; 128];
        let n = encode(&id, &mut buf).unwrap();
        let back = Identity::parse(&buf[..n]).unwrap();
        assert_eq!(back, id);
        assert!(!back.has_tls());
    }

    #[test]
    fn what_is_refused() {
        assert_eq!(Identity::parse(&[0xFF; 64]), Err(IdentityError::Erased));
        assert_eq!(
            Identity::parse(&[0x00; 64]),
            Err(IdentityError::NotAnIdentity)
        );
        assert_eq!(Identity::parse(&[0xFF; 4]), Err(IdentityError::Truncated));
        let mut buf = [0u8; 512];
        let n = encode(&sample(), &mut buf).unwrap();
        let mut v2 = buf;
        v2[4] = 2;
        assert_eq!(Identity::parse(&v2), Err(IdentityError::Version(2)));
        let mut torn = buf;
        torn[n - 10] ^= 0x40;
        assert_eq!(Identity::parse(&torn), Err(IdentityError::Checksum));
        for (thing, host, port, want) in [
            ("", "h", 1, IdentityError::ThingName),
            ("a/b", "h", 1, IdentityError::ThingName),
            ("dev", "", 1, IdentityError::Endpoint),
            ("dev", "h", 0, IdentityError::Endpoint),
            ("dev", "h:1", 2, IdentityError::Endpoint),
            ("dev", "exa mple.com", 8883, IdentityError::Endpoint),
        ] {
            let id = Identity {
                thing_name: thing,
                host,
                port,
                ..sample()
            };
            assert_eq!(encode(&id, &mut buf), Err(want), "{thing} {host}:{port}");
        }
        assert_eq!(
            encode(&sample(), &mut [0u8; 40]),
            Err(IdentityError::BufferTooSmall)
        );
        let big = [0u8; MAX_BLOB];
        let id = Identity {
            cert: &big,
            ..sample()
        };
        assert_eq!(
            encode(&id, &mut [0u8; 2 * MAX_BLOB]),
            Err(IdentityError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(id) = Identity::parse(&data) {
                // What parses re-encodes to the same blob.
                let mut out = [0u8; MAX_BLOB];
                let n = encode(&id, &mut out).unwrap();
                prop_assert_eq!(&out[..n], &data[..n]);
            }
        }

        #[test]
        fn one_flipped_bit_is_always_caught(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut buf = [0u8; 512];
            let n = encode(&sample(), &mut buf).unwrap();
            let i = pos.index(n);
            buf[i] ^= 1 << bit;
            prop_assert!(Identity::parse(&buf[..n]).is_err());
        }
    }
}
