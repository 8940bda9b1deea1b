//! Public test vectors (read at test time from `shared/research/vectors/`) for the CBOR,
//! base64, DER codecs and the P-256 verifier, plus property tests of every codec.

use std::path::PathBuf;

use ota_core::codec::base64::{self, Base64Error};
use ota_core::codec::cbor::{
    self, CborError, DataBlock, GetStreamRequest, StreamError, decode_data_block,
    decode_get_stream_request, decode_stream_error, encode_data_block, encode_get_stream_request,
    encode_stream_error,
};
use ota_core::codec::der::{self, DerError};
use ota_core::codec::http::{ContentRange, ContentRangeError, parse_content_range};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Vector file access

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/research/vectors")
}

fn read_vector(name: &str) -> String {
    let path = vectors_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "test vector file {} is missing or unreadable ({e}); the vectors live in \
             shared/research/vectors beside the repository",
            path.display()
        )
    })
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {s:?}")))
        .collect()
}

/// The first whitespace-separated token after `anchor` made only of hex digits (at least 8 of
/// them, an even number), ignoring punctuation around tokens.
fn hex_after(text: &str, anchor: &str) -> Vec<u8> {
    let start = text
        .find(anchor)
        .unwrap_or_else(|| panic!("anchor {anchor:?} not found in vector file"))
        + anchor.len();
    text[start..]
        .split_whitespace()
        .map(|t| t.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .find(|t| {
            t.len() >= 8 && t.len().is_multiple_of(2) && t.chars().all(|c| c.is_ascii_hexdigit())
        })
        .map(unhex)
        .unwrap_or_else(|| panic!("no hex after {anchor:?}"))
}

/// The first non-empty line after the line holding `anchor`.
fn line_after<'t>(text: &'t str, anchor: &str) -> &'t str {
    let start = text
        .find(anchor)
        .unwrap_or_else(|| panic!("anchor {anchor:?} not found in vector file"));
    text[start..]
        .lines()
        .skip(1)
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("nothing after {anchor:?}"))
}

const CBOR_FILE: &str = "cbor-mqtt-stream-vectors.txt";
const ECDSA_FILE: &str = "ecdsa-p256-pal-test-vector.txt";
const BASE64_FILE: &str = "base64-decode-vectors.json";

fn encode_req(req: &GetStreamRequest<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 64 + req.client_token.len() + req.bitmap.map_or(0, <[u8]>::len)];
    let n = encode_get_stream_request(req, &mut buf).expect("encode request");
    buf.truncate(n);
    buf
}

// ---------------------------------------------------------------------------------------------
// CBOR vectors

#[test]
fn cbor_vector1_c_sdk_request_encode_and_decode() {
    let text = read_vector(CBOR_FILE);
    let want = hex_after(&text, "Expected bytes (43 bytes):");
    assert_eq!(want.len(), 43);
    let bitmap = [0xAA; 4];
    let req = GetStreamRequest {
        client_token: "ThisIsAClientToken",
        file_id: 1,
        block_size: 4096,
        block_offset: 0,
        bitmap: Some(&bitmap),
        num_blocks: Some(4),
    };
    assert_eq!(encode_req(&req), want);
    assert_eq!(decode_get_stream_request(&want), Ok(req));
}

#[test]
fn cbor_vector4_rustot_requests_encode_and_decode() {
    let text = read_vector(CBOR_FILE);
    let cases: [(&str, u32, u32, [u8; 4]); 4] = [
        ("block 2048, offset 0  :", 2048, 0, [0xff, 0xff, 0xff, 0x7f]),
        ("block 2048, offset 88 :", 2048, 88, [0x01, 0, 0, 0]),
        ("block 512,  offset 0  :", 512, 0, [0xff, 0xff, 0xff, 0x7f]),
        ("block 512,  offset 352:", 512, 352, [0x07, 0, 0, 0]),
    ];
    for (anchor, block_size, block_offset, bitmap) in cases {
        let want = hex_after(&text, anchor);
        let req = GetStreamRequest {
            client_token: "rdy",
            file_id: 0,
            block_size,
            block_offset,
            bitmap: Some(&bitmap),
            num_blocks: None,
        };
        assert_eq!(encode_req(&req), want, "{anchor}");
        assert_eq!(decode_get_stream_request(&want), Ok(req), "{anchor}");
    }
    // The developer-guide bitmap (bits 0, 1, 4, 23) as a CBOR byte string.
    let want = hex_after(&text, "; CBOR byte string");
    let req = GetStreamRequest {
        client_token: "",
        file_id: 0,
        block_size: 0,
        block_offset: 0,
        bitmap: Some(&[0x13, 0x00, 0x80, 0x00]),
        num_blocks: None,
    };
    let enc = encode_req(&req);
    assert!(
        enc.windows(want.len()).any(|w| w == want.as_slice()),
        "bitmap bytes {want:02x?} not in {enc:02x?}"
    );
}

#[test]
fn cbor_vector2_c_sdk_data_block_and_negatives() {
    // The C SDK's createOtaStreamingMessage: definite map f, i, l, p.
    let payload: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    let block = DataBlock {
        file_id: 0,
        block_id: 3,
        block_size: 1024,
        payload: &payload,
    };
    let mut buf = vec![0u8; 1100];
    let n = encode_data_block(&block, &mut buf).unwrap();
    let mut want = vec![
        0xa4, 0x61, b'f', 0x00, 0x61, b'i', 0x03, 0x61, b'l', 0x19, 0x04, 0x00,
    ];
    want.extend_from_slice(&[0x61, b'p', 0x59, 0x04, 0x00]);
    want.extend_from_slice(&payload);
    assert_eq!(&buf[..n], want.as_slice());
    assert_eq!(decode_data_block(&buf[..n]), Ok(block));

    // Invalid variant: "f" encoded as the text "corrupt".
    let mut bad = vec![0xa4, 0x61, b'f', 0x67];
    bad.extend_from_slice(b"corrupt");
    bad.extend_from_slice(&[0x61, b'i', 0x00, 0x61, b'l', 0x01, 0x61, b'p', 0x41, 0x00]);
    assert_eq!(decode_data_block(&bad), Err(CborError::WrongType("f")));
    // A top-level array [1] instead of a map.
    assert_eq!(decode_data_block(&[0x81, 0x01]), Err(CborError::NotAMap));
}

#[test]
fn cbor_vector3_rustot_indefinite_data_block() {
    let text = read_vector(CBOR_FILE);
    let header = hex_after(&text, "header bytes:");
    assert_eq!(header, unhex("bf616600616900616c1904006170590400"));
    let first = hex_after(&text, "First 10 payload bytes:");
    assert_eq!(first.len(), 10);
    let mut msg = header.clone();
    msg.extend_from_slice(&first);
    msg.resize(header.len() + 1024, 0);
    msg.push(0xff);
    assert_eq!(msg.len(), 1042);
    let b = decode_data_block(&msg).unwrap();
    assert_eq!((b.file_id, b.block_id, b.block_size), (0, 0, 1024));
    assert_eq!(b.payload.len(), 1024);
    assert_eq!(&b.payload[..10], first.as_slice());
    assert!(b.payload[10..].iter().all(|&x| x == 0));
    // Without the break the map is unterminated; with an extra byte there is trailing data.
    assert_eq!(
        decode_data_block(&msg[..msg.len() - 1]),
        Err(CborError::UnexpectedEnd)
    );
    let mut extra = msg.clone();
    extra.push(0);
    assert_eq!(decode_data_block(&extra), Err(CborError::TrailingData));
}

#[test]
fn cbor_vector5_doc_examples() {
    let text = read_vector(CBOR_FILE);
    // Request with the unknown key "s", keys out of our order.
    let req_bytes = hex_after(&text, "GetStream request doc example");
    let bitmap = [0x13, 0x00, 0x80];
    let req = GetStreamRequest {
        client_token: "1",
        file_id: 1,
        block_size: 256,
        block_offset: 20,
        bitmap: Some(&bitmap),
        num_blocks: Some(32),
    };
    assert_eq!(decode_get_stream_request(&req_bytes), Ok(req));

    // Error response: decode and re-encode byte-exactly (keys already in o m c order).
    let err_bytes = hex_after(&text, "Error response doc example");
    let err = StreamError {
        code: "BlockSizeOutOfBounds",
        message: Some("The block size is out of bounds"),
        client_token: Some("1bb8aaa1-5c18-4d21-80c2-0b44fee10380"),
    };
    assert_eq!(decode_stream_error(&err_bytes), Ok(err));
    let mut buf = [0u8; 128];
    let n = encode_stream_error(&err, &mut buf).unwrap();
    assert_eq!(&buf[..n], err_bytes.as_slice());

    // DescribeStream response: every key is unknown to our decoders (including an array of
    // maps), so they skip it all and report the missing required key.
    let describe = hex_after(&text, "DescribeStream response doc example");
    assert_eq!(decode_stream_error(&describe), Err(CborError::Missing("o")));
    assert_eq!(decode_data_block(&describe), Err(CborError::Missing("f")));
    assert_eq!(
        decode_get_stream_request(&describe),
        Err(CborError::Missing("f"))
    );
}

// ---------------------------------------------------------------------------------------------
// base64 vectors

fn map_c_error(name: &str) -> fn(&Base64Error) -> bool {
    match name {
        "Base64InvalidPaddingSymbol" => |e| *e == Base64Error::BadPadding,
        "Base64NonZeroPadding" => |e| *e == Base64Error::NonZeroPadBits,
        // Whitespace followed by a symbol or padding: the stray space is reported; padding
        // followed by a symbol is misplaced padding.
        "Base64InvalidSymbolOrdering" => |e| {
            matches!(
                e,
                Base64Error::InvalidSymbol { .. } | Base64Error::BadPadding
            )
        },
        "Base64InvalidInputSize" => |e| *e == Base64Error::BadLength,
        "Base64InvalidSymbol" => |e| matches!(e, Base64Error::InvalidSymbol { .. }),
        "Base64InvalidBufferSize" => |e| *e == Base64Error::BufferTooSmall,
        other => panic!("unmapped C error {other}"),
    }
}

#[test]
fn base64_c_sdk_vectors() {
    let json: serde_json::Value = serde_json::from_str(&read_vector(BASE64_FILE)).unwrap();
    let valid = json["valid"].as_array().expect("valid[]");
    let invalid = json["invalid"].as_array().expect("invalid[]");
    assert_eq!((valid.len(), invalid.len()), (10, 12));
    for v in valid {
        let name = v["name"].as_str().unwrap();
        let enc = v["encoded"].as_str().unwrap();
        let want = v["decoded"].as_str().unwrap();
        let mut out = [0u8; 20]; // the C tests' buffer
        let n = base64::decode(enc.as_bytes(), &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&out[..n], want.as_bytes(), "{name}");
    }
    for v in invalid {
        let name = v["name"].as_str().unwrap();
        let enc = v["encoded"].as_str().unwrap();
        let c_err = v["expected_error"].as_str().unwrap();
        let got = base64::decode(enc.as_bytes(), &mut [0u8; 20]);
        let err = got.expect_err(name);
        assert!(map_c_error(c_err)(&err), "{name}: C {c_err}, got {err:?}");
    }
}

#[test]
fn base64_invalid_vectors_exact_errors() {
    // The precise variant for each C vector (see the module docs of `base64`).
    let cases: [(&str, Base64Error); 12] = [
        ("Zg===", Base64Error::BadPadding),
        ("Rk9PQkE===", Base64Error::BadPadding),
        ("Rk9PQkFS===", Base64Error::BadPadding),
        ("TWG=", Base64Error::NonZeroPadBits),
        ("Tf==", Base64Error::NonZeroPadBits),
        (" Rk9PQkFS", Base64Error::InvalidSymbol { at: 0 }),
        ("Rk9P QkFS", Base64Error::InvalidSymbol { at: 4 }),
        ("Rk9PQkE =", Base64Error::InvalidSymbol { at: 7 }),
        ("R", Base64Error::BadLength),
        ("Rk9PC==", Base64Error::BadLength),
        ("=Rk9PQkFS", Base64Error::BadPadding),
        ("Rk9P=QkFS", Base64Error::BadPadding),
    ];
    let json: serde_json::Value = serde_json::from_str(&read_vector(BASE64_FILE)).unwrap();
    let file_inputs: Vec<&str> = json["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["encoded"].as_str().unwrap())
        .collect();
    for (enc, want) in cases {
        assert!(file_inputs.contains(&enc), "{enc:?} not in the vector file");
        assert_eq!(
            base64::decode(enc.as_bytes(), &mut [0u8; 20]),
            Err(want),
            "{enc:?}"
        );
    }
}

#[test]
fn base64_c_sdk_other_cases() {
    // Every non-base64 byte at position 0 of "Rk9PQkFSQkFa".
    let base = b"Rk9PQkFSQkFa";
    for b in 0..=255u8 {
        let allowed =
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\n' | b'\r' | b' ');
        if allowed {
            continue;
        }
        let mut input = base.to_vec();
        input[0] = b;
        assert_eq!(
            base64::decode(&input, &mut [0u8; 20]),
            Err(Base64Error::InvalidSymbol { at: 0 }),
            "byte {b}"
        );
    }
    // Exact output buffer sizes.
    let mut out = [0u8; 9];
    assert_eq!(
        base64::decode(base, &mut out[..8]),
        Err(Base64Error::BufferTooSmall)
    );
    assert_eq!(base64::decode(base, &mut out), Ok(9));
    assert_eq!(&out, b"FOOBARBAZ");
}

// ---------------------------------------------------------------------------------------------
// ECDSA P-256 vector

/// SubjectPublicKeyInfo header of an uncompressed P-256 key; the 65-byte point follows.
const SPKI_P256_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

struct EcdsaVector {
    data: Vec<u8>,
    sha256: Vec<u8>,
    valid_der: Vec<u8>,
    valid_b64: String,
    invalid_der: Vec<u8>,
    cert_der: Vec<u8>,
}

fn ecdsa_vector() -> EcdsaVector {
    let text = read_vector(ECDSA_FILE);
    let pem_start = text.find("-----BEGIN CERTIFICATE-----").expect("PEM begin") + 27;
    let pem_end = text.find("-----END CERTIFICATE-----").expect("PEM end");
    let pem_body = &text[pem_start..pem_end];
    let mut cert_der = vec![0u8; base64::decoded_len_max(pem_body.len())];
    // The PEM body has LF line breaks, which our decoder ignores as the C one does.
    let n = base64::decode(pem_body.as_bytes(), &mut cert_der).expect("certificate base64");
    cert_der.truncate(n);
    EcdsaVector {
        data: hex_after(&text, "Signed data (84 bytes, hex):"),
        sha256: hex_after(&text, "SHA-256(data) ="),
        valid_der: hex_after(&text, "Valid signature (ASN.1 DER, 70 bytes):"),
        valid_b64: line_after(&text, "Same, base64").to_owned(),
        invalid_der: hex_after(&text, "Invalid signature (DER, 70 bytes"),
        cert_der,
    }
}

#[test]
fn ecdsa_vector_der_and_base64_forms() {
    let v = ecdsa_vector();
    assert_eq!(v.data.len(), 84);
    assert_eq!(v.sha256.len(), 32);
    // The PEM decodes to a DER certificate (SEQUENCE, two-byte length) that holds a P-256 key.
    assert_eq!(&v.cert_der[..2], &[0x30, 0x82]);
    assert_eq!(
        usize::from(u16::from_be_bytes([v.cert_der[2], v.cert_der[3]])) + 4,
        v.cert_der.len()
    );
    let prefix = unhex(SPKI_P256_PREFIX);
    assert!(
        v.cert_der
            .windows(prefix.len())
            .any(|w| w == prefix.as_slice())
    );
    assert_eq!((v.valid_der.len(), v.invalid_der.len()), (70, 70));
    // base64 form -> the DER bytes
    let mut out = [0u8; 72];
    let n = base64::decode(v.valid_b64.as_bytes(), &mut out).unwrap();
    assert_eq!(&out[..n], v.valid_der.as_slice());
    // DER -> raw -> DER is the identity on both signatures
    for der_sig in [&v.valid_der, &v.invalid_der] {
        let raw = der::der_to_raw_p256(der_sig).unwrap();
        assert_eq!(&raw[..32], &der_sig[4..36]);
        assert_eq!(&raw[32..], &der_sig[38..70]);
        let mut back = [0u8; 72];
        let n = der::raw_to_der_p256(&raw, &mut back).unwrap();
        assert_eq!(&back[..n], der_sig.as_slice());
    }
    // Trailing byte and truncation
    let mut long = v.valid_der.clone();
    long.push(0);
    assert_eq!(der::der_to_raw_p256(&long), Err(DerError::TrailingData));
    assert_eq!(
        der::der_to_raw_p256(&v.valid_der[..69]),
        Err(DerError::Malformed)
    );
    // base64 encode of the DER gives the job document's string back
    let mut enc = [0u8; 96];
    let n = base64::encode(&v.valid_der, &mut enc).unwrap();
    assert_eq!(&enc[..n], v.valid_b64.as_bytes());
}

#[cfg(feature = "p256")]
mod ecdsa {
    use super::*;
    use ota_core::verify::{ImageVerifier, P256Verifier, TrustedKey, VerifyError};
    use p256::ecdsa::VerifyingKey;
    use sha2::Digest as _;

    fn cert_key(cert: &[u8]) -> VerifyingKey {
        let prefix = unhex(SPKI_P256_PREFIX);
        let at = cert
            .windows(prefix.len())
            .position(|w| w == prefix.as_slice())
            .expect("P-256 SPKI in the certificate")
            + prefix.len();
        let point = &cert[at..at + 65];
        assert_eq!(point[0], 0x04, "uncompressed point");
        VerifyingKey::from_sec1_bytes(point).expect("valid P-256 point")
    }

    fn check(
        verifier: &mut P256Verifier<'_>,
        data: &[u8],
        sig: &[u8],
        name: Option<&str>,
    ) -> Result<(), VerifyError> {
        verifier.begin();
        // feed in uneven chunks, as the agent reads flash back
        for chunk in data.chunks(13) {
            verifier.update(chunk);
        }
        verifier.verify(sig, name)
    }

    #[test]
    fn sha256_of_the_data_matches_the_file() {
        let v = ecdsa_vector();
        assert_eq!(&sha2::Sha256::digest(&v.data)[..], v.sha256.as_slice());
    }

    #[test]
    fn pal_vector_through_p256_verifier() {
        let v = ecdsa_vector();
        let key = cert_key(&v.cert_der);
        let keys = [TrustedKey {
            name: Some("ecdsa-sha256-signer.crt.pem"),
            key,
        }];
        let mut verifier = P256Verifier::new(&keys);
        let name = Some("ecdsa-sha256-signer.crt.pem");

        assert_eq!(check(&mut verifier, &v.data, &v.valid_der, name), Ok(()));
        assert_eq!(
            check(&mut verifier, &v.data, &v.invalid_der, name),
            Err(VerifyError::Mismatch)
        );
        for bit in [0usize, 7, 300, 84 * 8 - 1] {
            let mut flipped = v.data.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                check(&mut verifier, &flipped, &v.valid_der, name),
                Err(VerifyError::Mismatch),
                "bit {bit}"
            );
        }
        // The same verifier again, for a second file: begin resets.
        assert_eq!(check(&mut verifier, &v.data, &v.valid_der, name), Ok(()));
        // Wrong key name, no default key.
        assert_eq!(
            check(&mut verifier, &v.data, &v.valid_der, Some("other.crt")),
            Err(VerifyError::UntrustedKey)
        );
        assert_eq!(
            check(&mut verifier, &v.data, &v.valid_der, None),
            Err(VerifyError::UntrustedKey)
        );
        // Not DER at all
        assert_eq!(
            check(&mut verifier, &v.data, &v.valid_der[2..], name),
            Err(VerifyError::MalformedSignature)
        );
    }

    #[test]
    fn pal_vector_with_default_key() {
        let v = ecdsa_vector();
        let other = *p256::ecdsa::SigningKey::from_slice(&[7u8; 32])
            .unwrap()
            .verifying_key();
        let keys = [
            TrustedKey {
                name: Some("other.crt"),
                key: other,
            },
            TrustedKey {
                name: None,
                key: cert_key(&v.cert_der),
            },
        ];
        let mut verifier = P256Verifier::new(&keys);
        assert_eq!(
            check(&mut verifier, &v.data, &v.valid_der, Some("unknown")),
            Ok(())
        );
        assert_eq!(check(&mut verifier, &v.data, &v.valid_der, None), Ok(()));
        assert_eq!(
            check(&mut verifier, &v.data, &v.valid_der, Some("other.crt")),
            Err(VerifyError::Mismatch)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests

/// Minimal CBOR writing for building arbitrary maps in the tests.
fn cbor_head(out: &mut Vec<u8>, major: u8, v: u64) {
    let m = major << 5;
    match v {
        0..=23 => out.push(m | v as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, v as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// An arbitrary well-formed CBOR value (bounded nesting) to insert under unknown keys.
fn arb_cbor_value() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        any::<u64>().prop_map(|v| {
            let mut o = vec![];
            cbor_head(&mut o, 0, v);
            o
        }),
        any::<u64>().prop_map(|v| {
            let mut o = vec![];
            cbor_head(&mut o, 1, v);
            o
        }),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(|b| {
            let mut o = vec![];
            cbor_head(&mut o, 2, b.len() as u64);
            o.extend_from_slice(&b);
            o
        }),
        "[a-z]{0,10}".prop_map(|s| {
            let mut o = vec![];
            cbor_text(&mut o, &s);
            o
        }),
        Just(vec![0xf5]),
        Just(vec![0xf6]),
        Just(vec![0xf9, 0x3c, 0x00]),
        Just(vec![0x5f, 0x41, 0x01, 0x40, 0xff]),
        Just(vec![0x7f, 0x61, 0x61, 0xff]),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| {
                let mut o = vec![];
                cbor_head(&mut o, 4, items.len() as u64);
                items.iter().for_each(|i| o.extend_from_slice(i));
                o
            }),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| {
                let mut o = vec![0x9f];
                items.iter().for_each(|i| o.extend_from_slice(i));
                o.push(0xff);
                o
            }),
            prop::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(|pairs| {
                let mut o = vec![];
                cbor_head(&mut o, 5, pairs.len() as u64);
                pairs.iter().for_each(|(k, v)| {
                    o.extend_from_slice(k);
                    o.extend_from_slice(v);
                });
                o
            }),
            (any::<u16>(), inner).prop_map(|(tag, item)| {
                let mut o = vec![];
                cbor_head(&mut o, 6, u64::from(tag));
                o.extend_from_slice(&item);
                o
            }),
        ]
    })
}

/// A key that none of the decoders knows.
fn arb_unknown_key() -> impl Strategy<Value = String> {
    "[a-z]{0,4}".prop_filter("known key", |k| {
        !matches!(
            k.as_str(),
            "c" | "f" | "l" | "o" | "b" | "n" | "i" | "p" | "m"
        )
    })
}

/// An integer in an arbitrary (possibly non-canonical) width.
fn cbor_uint_any_width(out: &mut Vec<u8>, v: u32, width: u8) {
    match width {
        0 if v < 24 => out.push(v as u8),
        0 | 1 if v <= 0xff => out.extend_from_slice(&[0x18, v as u8]),
        0..=2 if v <= 0xffff => {
            out.push(0x19);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        }
        0..=3 => {
            out.push(0x1a);
            out.extend_from_slice(&v.to_be_bytes());
        }
        _ => {
            out.push(0x1b);
            out.extend_from_slice(&u64::from(v).to_be_bytes());
        }
    }
}

fn arb_token() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9-]{0,64}",
        any::<String>().prop_map(|s| s.chars().take(40).collect())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cbor_decoders_never_panic(input in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_data_block(&input);
        let _ = decode_get_stream_request(&input);
        let _ = decode_stream_error(&input);
    }

    #[test]
    fn cbor_decoders_never_panic_on_map_like_input(
        head in prop::sample::select(vec![0xa0u8, 0xa1, 0xa2, 0xa4, 0xa6, 0xbf]),
        body in prop::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                1 => prop::sample::select(vec![0x61u8, b'f', b'p', b'o', 0xff, 0x9f, 0xbf, 0x5f]),
            ],
            0..128,
        ),
    ) {
        let mut input = vec![head];
        input.extend_from_slice(&body);
        let _ = decode_data_block(&input);
        let _ = decode_get_stream_request(&input);
        let _ = decode_stream_error(&input);
    }

    #[test]
    fn other_decoders_never_panic(input in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = base64::decode(&input, &mut [0u8; 96]);
        let _ = base64::decode(&input, &mut [0u8; 3]);
        let _ = der::der_to_raw_p256(&input);
        let _ = parse_content_range(&input);
    }

    #[test]
    fn der_decoder_never_panics_on_der_like_input(
        r_len in 0u8..40, s_len in 0u8..40,
        r in prop::collection::vec(any::<u8>(), 0..40),
        s in prop::collection::vec(any::<u8>(), 0..40),
        seq_delta in -2i16..3,
    ) {
        let mut body = vec![0x02, r_len];
        body.extend_from_slice(&r);
        body.extend_from_slice(&[0x02, s_len]);
        body.extend_from_slice(&s);
        let seq_len = (body.len() as i16 + seq_delta).clamp(0, 127) as u8;
        let mut input = vec![0x30, seq_len];
        input.extend_from_slice(&body);
        if let Ok(raw) = der::der_to_raw_p256(&input) {
            let mut back = [0u8; 72];
            let n = der::raw_to_der_p256(&raw, &mut back).unwrap();
            // strict DER: an accepted encoding is the canonical one
            prop_assert_eq!(&back[..n], input.as_slice());
        }
    }

    #[test]
    fn get_stream_request_round_trip(
        token in arb_token(),
        file_id in any::<u32>(),
        block_size in any::<u32>(),
        block_offset in any::<u32>(),
        bitmap in prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
        num_blocks in prop::option::of(any::<u32>()),
    ) {
        let req = GetStreamRequest {
            client_token: &token,
            file_id,
            block_size,
            block_offset,
            bitmap: bitmap.as_deref(),
            num_blocks,
        };
        let enc = encode_req(&req);
        prop_assert_eq!(decode_get_stream_request(&enc), Ok(req));
        // too small by one byte
        let mut short = vec![0u8; enc.len() - 1];
        prop_assert_eq!(
            encode_get_stream_request(&req, &mut short),
            Err(CborError::BufferTooSmall)
        );
    }

    #[test]
    fn data_block_round_trip(
        file_id in any::<u32>(),
        block_id in any::<u32>(),
        block_size in any::<u32>(),
        payload in prop::collection::vec(any::<u8>(), 0..=4096),
    ) {
        let block = DataBlock { file_id, block_id, block_size, payload: &payload };
        let mut buf = vec![0u8; payload.len() + 32];
        let n = encode_data_block(&block, &mut buf).unwrap();
        prop_assert_eq!(decode_data_block(&buf[..n]), Ok(block));
        prop_assert_eq!(
            encode_data_block(&block, &mut buf[..n - 1]),
            Err(CborError::BufferTooSmall)
        );
    }

    #[test]
    fn stream_error_round_trip(
        code in arb_token(),
        message in prop::option::of(any::<String>()),
        client_token in prop::option::of(arb_token()),
    ) {
        let err = StreamError {
            code: &code,
            message: message.as_deref(),
            client_token: client_token.as_deref(),
        };
        let mut buf = vec![0u8; 64 + code.len() + message.as_ref().map_or(0, String::len)
            + client_token.as_ref().map_or(0, String::len)];
        let n = encode_stream_error(&err, &mut buf).unwrap();
        prop_assert_eq!(decode_stream_error(&buf[..n]), Ok(err));
    }

    #[test]
    fn data_block_keys_shuffled_with_unknown_keys(
        file_id in any::<u32>(),
        block_id in any::<u32>(),
        block_size in any::<u32>(),
        widths in prop::array::uniform3(0u8..5),
        payload in prop::collection::vec(any::<u8>(), 0..=4096),
        order in Just([0usize, 1, 2, 3]).prop_shuffle(),
        unknown in prop::collection::vec((arb_unknown_key(), arb_cbor_value()), 0..5),
        positions in prop::collection::vec(0usize..5, 5),
        indefinite in any::<bool>(),
    ) {
        let mut known: Vec<Vec<u8>> = Vec::new();
        for (k, v, w) in [("f", file_id, widths[0]), ("i", block_id, widths[1]), ("l", block_size, widths[2])] {
            let mut e = vec![];
            cbor_text(&mut e, k);
            cbor_uint_any_width(&mut e, v, w);
            known.push(e);
        }
        let mut p = vec![];
        cbor_text(&mut p, "p");
        cbor_head(&mut p, 2, payload.len() as u64);
        p.extend_from_slice(&payload);
        known.push(p);

        let mut entries: Vec<Vec<u8>> = order.iter().map(|&i| known[i].clone()).collect();
        for ((k, v), pos) in unknown.iter().zip(&positions) {
            let mut e = vec![];
            cbor_text(&mut e, k);
            e.extend_from_slice(v);
            entries.insert((*pos).min(entries.len()), e);
        }
        let mut msg = vec![];
        if indefinite {
            msg.push(0xbf);
        } else {
            cbor_head(&mut msg, 5, entries.len() as u64);
        }
        entries.iter().for_each(|e| msg.extend_from_slice(e));
        if indefinite {
            msg.push(0xff);
        }
        let want = DataBlock { file_id, block_id, block_size, payload: &payload };
        prop_assert_eq!(decode_data_block(&msg), Ok(want));
    }

    #[test]
    fn base64_round_trip(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut enc = vec![0u8; data.len().div_ceil(3) * 4];
        let n = base64::encode(&data, &mut enc).unwrap();
        prop_assert_eq!(n, enc.len());
        let mut dec = vec![0u8; base64::decoded_len_max(n)];
        let m = base64::decode(&enc, &mut dec).unwrap();
        prop_assert_eq!(&dec[..m], data.as_slice());
        // padding stripped, and CRLF every 64 symbols (PEM style): same bytes
        let stripped: Vec<u8> = enc.iter().copied().filter(|&b| b != b'=').collect();
        let m = base64::decode(&stripped, &mut dec).unwrap();
        prop_assert_eq!(&dec[..m], data.as_slice());
        let pem: Vec<u8> = enc.chunks(64).flat_map(|c| c.iter().copied().chain(*b"\r\n")).collect();
        let m = base64::decode(&pem, &mut dec).unwrap();
        prop_assert_eq!(&dec[..m], data.as_slice());
        // exact output size is enough, one less is not
        if !data.is_empty() {
            prop_assert_eq!(base64::decode(&enc, &mut dec[..data.len()]), Ok(data.len()));
            prop_assert_eq!(
                base64::decode(&enc, &mut dec[..data.len() - 1]),
                Err(Base64Error::BufferTooSmall)
            );
        }
    }

    #[test]
    fn der_round_trip(mut raw in prop::array::uniform32(any::<u8>()).prop_flat_map(|r| {
        (Just(r), prop::array::uniform32(any::<u8>()), 0usize..32, 0usize..32)
    }).prop_map(|(r, s, zr, zs)| {
        // leading zero bytes of varying length exercise short integers
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&r);
        raw[32..].copy_from_slice(&s);
        raw[..zr].fill(0);
        raw[32..32 + zs].fill(0);
        raw
    })) {
        if raw[..32].iter().all(|&b| b == 0) { raw[31] = 1; }
        if raw[32..].iter().all(|&b| b == 0) { raw[63] = 1; }
        let mut der_buf = [0u8; 72];
        let n = der::raw_to_der_p256(&raw, &mut der_buf).unwrap();
        prop_assert!(n <= 72);
        prop_assert_eq!(der::der_to_raw_p256(&der_buf[..n]), Ok(raw));
    }

    #[test]
    fn content_range_of_formatted_triples(
        first in any::<u32>(),
        len in any::<u32>(),
        extra in any::<u32>(),
        star in any::<bool>(),
        unit in prop::sample::select(vec!["bytes", "BYTES", "Bytes"]),
        pad in prop::sample::select(vec!["", " ", "\t", "  "]),
    ) {
        let last = first.saturating_add(len);
        let complete = last.checked_add(1).map(|c| c.saturating_add(extra));
        let tail = match (star, complete) {
            (false, Some(c)) => c.to_string(),
            _ => "*".to_string(),
        };
        let s = format!("{pad}{unit} {first}-{last}/{tail}{pad}");
        let want = ContentRange {
            first,
            last,
            complete: if tail == "*" { None } else { complete },
        };
        prop_assert_eq!(parse_content_range(s.as_bytes()), Ok(want));
        // unsatisfied form
        if let Some(c) = complete {
            let s = format!("{unit} */{c}");
            prop_assert_eq!(
                parse_content_range(s.as_bytes()),
                Err(ContentRangeError::Unsatisfied { complete: c })
            );
        }
        // last beyond complete, and reversed ranges
        if let Some(c) = complete.filter(|_| !star) {
            let s = format!("bytes {first}-{c}/{c}");
            prop_assert_eq!(parse_content_range(s.as_bytes()), Err(ContentRangeError::Inconsistent));
        }
        if last > first {
            let s = format!("bytes {last}-{first}/*");
            prop_assert_eq!(parse_content_range(s.as_bytes()), Err(ContentRangeError::Inconsistent));
        }
        // over u32::MAX
        let big = u64::from(last) + u64::from(u32::MAX) + 1;
        let s = format!("bytes {first}-{big}/*");
        prop_assert_eq!(parse_content_range(s.as_bytes()), Err(ContentRangeError::Inconsistent));
    }
}

#[test]
fn cbor_module_is_reachable() {
    // The skip bound is part of the documented behaviour.
    assert_eq!(cbor::MAX_SKIP_DEPTH, 8);
}
