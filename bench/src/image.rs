//! The benchmark image: deterministic bytes, its AWS-style signature, and the stream's CBOR
//! data blocks exactly as the `ota-cloud` stream service sends them.

use ota_cloud::topics::{self, StreamFormat};
use ota_cloud::{Cloud, CloudConfig, SigningKey};
use ota_core::codec::cbor::{self, GetStreamRequest};

/// The image size of every download figure: 4 MiB.
pub const IMAGE_LEN: usize = 4 << 20;

/// The signer's seed (any fixed value: the figures do not depend on it).
pub const SIGNER_SEED: u64 = 0x0b5e_d0a7;

/// The id of the stream that holds the image in every cloud the benchmarks build.
pub const STREAM: &str = "AFR_OTA-bench";

/// `len` deterministic pseudo-random bytes (xorshift64*), different for each `seed`.
pub fn image(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed ^ 0x9e37_79b9_7f4a_7c15;
    if s == 0 {
        s = 1;
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        out.extend_from_slice(&s.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The code-signing key of the benchmarks.
pub fn signer() -> SigningKey {
    SigningKey::from_seed(SIGNER_SEED)
}

/// The P-256 verifying key the device trusts (that of [`signer`]).
pub fn trusted_key() -> p256::ecdsa::VerifyingKey {
    ota_sim::verifying_key(&signer())
}

/// The data messages (payloads of `.../streams/<STREAM>/data/cbor`) that the `ota-cloud`
/// stream service publishes for the whole of `image` (file id 0) in blocks of `block_size`,
/// in block order.
///
/// # Errors
/// A message when the model refuses the stream or the requests.
pub fn stream_blocks(image: &[u8], block_size: u32) -> Result<Vec<Vec<u8>>, String> {
    let thing = "raw";
    let mut cloud = Cloud::new(CloudConfig::default());
    cloud
        .create_stream(STREAM, vec![(0, image.to_vec())])
        .map_err(|e| e.to_string())?;
    let blocks = image.len().div_ceil(block_size as usize) as u32;
    let per_request = (128 * 1024 / block_size).max(1);
    let get = topics::stream_get(thing, STREAM, StreamFormat::Cbor);
    let mut out = Vec::with_capacity(blocks as usize);
    let mut offset = 0;
    let mut buf = [0u8; 64];
    while offset < blocks {
        let n = per_request.min(blocks - offset);
        let req = GetStreamRequest {
            client_token: "raw",
            file_id: 0,
            block_size,
            block_offset: offset,
            bitmap: None,
            num_blocks: Some(n),
        };
        let len = cbor::encode_get_stream_request(&req, &mut buf).map_err(|e| e.to_string())?;
        cloud.handle_publish(0, &get, &buf[..len]);
        for m in cloud.drain() {
            if m.topic.ends_with("/data/cbor") {
                out.push(m.payload);
            } else {
                return Err(format!("stream service answered on {}", m.topic));
            }
        }
        offset += n;
    }
    if out.len() != blocks as usize {
        return Err(format!("{} blocks served, {blocks} expected", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_is_deterministic_and_seeded() {
        let a = image(1000, 1);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, image(1000, 1));
        assert_ne!(a, image(1000, 2));
        // Not constant: some spread of byte values.
        let distinct = a.iter().collect::<std::collections::BTreeSet<_>>().len();
        assert!(distinct > 200, "{distinct}");
    }

    #[test]
    fn stream_blocks_carry_the_image_in_order() {
        let img = image(10_000, 3);
        let blocks = stream_blocks(&img, 1024).unwrap();
        assert_eq!(blocks.len(), 10);
        let mut joined = Vec::new();
        for (i, b) in blocks.iter().enumerate() {
            let d = cbor::decode_data_block(b).unwrap();
            assert_eq!(d.block_id, i as u32);
            assert_eq!(d.file_id, 0);
            joined.extend_from_slice(d.payload);
        }
        assert_eq!(joined, img);
    }

    #[test]
    fn signature_verifies_with_the_trusted_key() {
        use p256::ecdsa::signature::Verifier;
        let img = image(5000, 4);
        let der = signer().sign_der(&img);
        let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
        assert!(trusted_key().verify(&img, &sig).is_ok());
    }
}
