//! Code signing: sign then verify, PEM round trips, and the public FreeRTOS PAL vector.

mod common;

use common::{read_vector, unhex};
use ota_cloud::{OtaFile, SigningError, SigningKey, VerifyingKey};

struct PalVector {
    data: Vec<u8>,
    valid_der: Vec<u8>,
    valid_b64: String,
    invalid_der: Vec<u8>,
    certificate: String,
}

fn pal_vector() -> PalVector {
    let text = read_vector("ecdsa-p256-pal-test-vector.txt");
    let lines: Vec<&str> = text.lines().collect();
    let after = |label: &str| -> String {
        let i = lines
            .iter()
            .position(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no line starting with {label:?}"));
        lines[i + 1].trim().to_owned()
    };
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("certificate");
    let end = text
        .find("-----END CERTIFICATE-----")
        .expect("certificate end");
    PalVector {
        data: unhex(&after("Signed data (84 bytes, hex):")),
        valid_der: unhex(&after("Valid signature (ASN.1 DER, 70 bytes):")),
        valid_b64: after("Same, base64"),
        invalid_der: unhex(&after("Invalid signature (DER, 70 bytes")),
        certificate: text[begin..end + "-----END CERTIFICATE-----".len()].to_owned(),
    }
}

#[test]
fn public_pal_vector_verifies_with_the_certificate_key() {
    let v = pal_vector();
    assert_eq!(v.data.len(), 84);
    let key = VerifyingKey::from_certificate_pem(&v.certificate).expect("certificate key");
    assert_eq!(key.verify_der(&v.data, &v.valid_der), Ok(()));
    assert_eq!(key.verify(&v.data, &v.valid_b64), Ok(()));
    assert_eq!(
        key.verify_der(&v.data, &v.invalid_der),
        Err(SigningError::VerificationFailed)
    );
    let mut altered = v.data.clone();
    altered[0] ^= 1;
    assert_eq!(
        key.verify(&altered, &v.valid_b64),
        Err(SigningError::VerificationFailed)
    );
    // The same key through SPKI PEM and SEC1.
    let pem = key.to_public_key_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(VerifyingKey::from_public_key_pem(&pem).unwrap(), key);
    let sec1 = key.to_sec1_bytes();
    assert_eq!(sec1.len(), 65);
    assert_eq!(VerifyingKey::from_sec1_bytes(&sec1).unwrap(), key);
}

#[test]
fn sign_then_verify_and_pem_round_trip() {
    let key = SigningKey::from_seed(42);
    let image = b"firmware image bytes".repeat(100);
    let sig = key.sign(&image);
    let public = key.verifying_key();
    assert_eq!(public.verify(&image, &sig), Ok(()));
    // RFC 6979: deterministic.
    assert_eq!(key.sign(&image), sig);
    assert_eq!(public.verify_der(&image, &key.sign_der(&image)), Ok(()));

    let pem = key.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(back.verifying_key(), public);
    let public_pem = key.public_key_pem().unwrap();
    let public_back = VerifyingKey::from_public_key_pem(&public_pem).unwrap();
    assert_eq!(public_back.verify(&image, &sig), Ok(()));

    let other = SigningKey::generate();
    assert_ne!(other.verifying_key(), public);
    assert_eq!(
        other.verifying_key().verify(&image, &sig),
        Err(SigningError::VerificationFailed)
    );
    // Whitespace in base64 (line-wrapped signatures) is accepted.
    let wrapped = format!("{}\n{}", &sig[..20], &sig[20..]);
    assert_eq!(public.verify(&image, &wrapped), Ok(()));

    // The job document's signature field.
    let file = OtaFile::signed(0, &image, &key);
    assert_eq!(file.file_size, image.len() as u64);
    let json = file.to_json();
    assert_eq!(json["sig-sha256-ecdsa"], sig);
}

#[test]
fn bad_keys_and_certificates_are_errors() {
    assert!(matches!(
        SigningKey::from_pkcs8_pem("junk"),
        Err(SigningError::BadKey(_))
    ));
    assert!(matches!(
        VerifyingKey::from_public_key_pem("junk"),
        Err(SigningError::BadKey(_))
    ));
    assert!(VerifyingKey::from_sec1_bytes(&[4; 65]).is_err());
    assert!(matches!(
        VerifyingKey::from_certificate_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
        ),
        Err(SigningError::BadCertificate(_))
    ));
    assert!(VerifyingKey::from_certificate_der(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_err());
    let e = SigningError::VerificationFailed;
    assert!(e.to_string().contains("does not verify"));
}
