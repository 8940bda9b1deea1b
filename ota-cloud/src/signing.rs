//! Code signing as AWS Signer does it for FreeRTOS OTA: ECDSA P-256 over SHA-256 of the file,
//! the ASN.1 DER signature base64-encoded into the job document's `sig-sha256-ecdsa`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, SeedableRng};

/// Why a key or signature could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningError {
    /// The PEM text or DER bytes are not a P-256 key of the expected kind.
    BadKey(String),
    /// The certificate could not be parsed down to its SubjectPublicKeyInfo.
    BadCertificate(&'static str),
    /// The signature is not valid base64.
    BadBase64,
    /// The signature is not an ASN.1 DER ECDSA signature.
    BadSignatureEncoding,
    /// The signature does not verify over the data with this key.
    VerificationFailed,
}

impl core::fmt::Display for SigningError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadKey(why) => write!(f, "not a usable P-256 key: {why}"),
            Self::BadCertificate(why) => write!(f, "cannot read the certificate: {why}"),
            Self::BadBase64 => f.write_str("the signature is not valid base64"),
            Self::BadSignatureEncoding => f.write_str("the signature is not ASN.1 DER ECDSA"),
            Self::VerificationFailed => f.write_str("the signature does not verify"),
        }
    }
}

impl std::error::Error for SigningError {}

/// An ECDSA P-256 code-signing key (the private half).
#[derive(Clone)]
pub struct SigningKey {
    inner: p256::ecdsa::SigningKey,
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.verifying_key())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key derived deterministically from `seed` (ChaCha20 seeded with it): the same seed
    /// always gives the same key. For tests and reproducible demos only.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        Self {
            inner: p256::ecdsa::SigningKey::random(&mut rng),
        }
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Self {
        Self {
            inner: p256::ecdsa::SigningKey::random(&mut OsRng),
        }
    }

    /// Reads a PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, SigningError> {
        p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
            .map(|inner| Self { inner })
            .map_err(|e| SigningError::BadKey(e.to_string()))
    }

    /// Writes the key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, LF line endings).
    pub fn to_pkcs8_pem(&self) -> Result<String, SigningError> {
        self.inner
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| SigningError::BadKey(e.to_string()))
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            inner: *self.inner.verifying_key(),
        }
    }

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_key_pem(&self) -> Result<String, SigningError> {
        self.verifying_key().to_public_key_pem()
    }

    /// Signs `data` (ECDSA P-256 over SHA-256 of `data`, RFC 6979 deterministic nonce) and returns
    /// the ASN.1 DER signature.
    pub fn sign_der(&self, data: &[u8]) -> Vec<u8> {
        let signature: Signature = self.inner.sign(data);
        signature.to_der().as_bytes().to_vec()
    }

    /// Signs `data` and returns the base64 of the DER signature: the value AWS writes into
    /// `sig-sha256-ecdsa`.
    pub fn sign(&self, data: &[u8]) -> String {
        STANDARD.encode(self.sign_der(data))
    }
}

/// An ECDSA P-256 public key, for checking what [`SigningKey::sign`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey {
    inner: p256::ecdsa::VerifyingKey,
}

impl VerifyingKey {
    /// Reads an SPKI public key (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, SigningError> {
        p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .map(|inner| Self { inner })
            .map_err(|e| SigningError::BadKey(e.to_string()))
    }

    /// Reads a DER SubjectPublicKeyInfo.
    pub fn from_public_key_der(der: &[u8]) -> Result<Self, SigningError> {
        p256::ecdsa::VerifyingKey::from_public_key_der(der)
            .map(|inner| Self { inner })
            .map_err(|e| SigningError::BadKey(e.to_string()))
    }

    /// Reads a SEC1 point (`04 || X || Y`, or compressed).
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, SigningError> {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
            .map(|inner| Self { inner })
            .map_err(|e| SigningError::BadKey(e.to_string()))
    }

    /// The public key of an X.509 certificate in PEM (`-----BEGIN CERTIFICATE-----`), as the
    /// OTA PAL loads the signer certificate named by the job's `certfile`. Validity dates and the
    /// issuer's signature are not checked.
    pub fn from_certificate_pem(pem: &str) -> Result<Self, SigningError> {
        let der = pem_body(pem, "CERTIFICATE")?;
        Self::from_certificate_der(&der)
    }

    /// The public key of a DER X.509 certificate (see [`VerifyingKey::from_certificate_pem`]).
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, SigningError> {
        let spki = certificate_spki(der)?;
        Self::from_public_key_der(spki)
    }

    /// The key as SPKI PEM.
    pub fn to_public_key_pem(&self) -> Result<String, SigningError> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| SigningError::BadKey(e.to_string()))
    }

    /// The key as an uncompressed SEC1 point (65 bytes, `04 || X || Y`).
    pub fn to_sec1_bytes(&self) -> Vec<u8> {
        self.inner.to_encoded_point(false).as_bytes().to_vec()
    }

    /// Checks a DER signature over `data`.
    pub fn verify_der(&self, data: &[u8], der: &[u8]) -> Result<(), SigningError> {
        let signature =
            DerSignature::from_bytes(der).map_err(|_| SigningError::BadSignatureEncoding)?;
        let signature =
            Signature::try_from(signature).map_err(|_| SigningError::BadSignatureEncoding)?;
        self.inner
            .verify(data, &signature)
            .map_err(|_| SigningError::VerificationFailed)
    }

    /// Checks a base64 DER signature (the job document's `sig-sha256-ecdsa`) over `data`.
    /// ASCII whitespace in the base64 text is skipped.
    pub fn verify(&self, data: &[u8], signature_b64: &str) -> Result<(), SigningError> {
        let der = decode_base64(signature_b64)?;
        self.verify_der(data, &der)
    }
}

fn decode_base64(text: &str) -> Result<Vec<u8>, SigningError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|_| SigningError::BadBase64)
}

/// The base64 body of the first PEM block labelled `label`, decoded.
fn pem_body(pem: &str, label: &str) -> Result<Vec<u8>, SigningError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .ok_or(SigningError::BadCertificate("no BEGIN line"))?
        + begin.len();
    let len = pem
        .get(start..)
        .and_then(|rest| rest.find(&end))
        .ok_or(SigningError::BadCertificate("no END line"))?;
    let body = pem.get(start..start + len).unwrap_or("");
    decode_base64(body).map_err(|_| SigningError::BadCertificate("bad base64"))
}

/// One DER TLV: (tag, contents, rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), SigningError> {
    let bad = SigningError::BadCertificate("malformed DER");
    let (&tag, rest) = input.split_first().ok_or(bad.clone())?;
    let (&first, mut rest) = rest.split_first().ok_or(bad.clone())?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad);
        }
        let (len_bytes, after) = rest.split_at_checked(n).ok_or(bad.clone())?;
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (contents, rest) = rest.split_at_checked(len).ok_or(bad)?;
    Ok((tag, contents, rest))
}

/// The SubjectPublicKeyInfo TLV (tag and length included) of a DER certificate.
fn certificate_spki(der: &[u8]) -> Result<&[u8], SigningError> {
    const SEQUENCE: u8 = 0x30;
    let (tag, certificate, _) = tlv(der)?;
    if tag != SEQUENCE {
        return Err(SigningError::BadCertificate("not a SEQUENCE"));
    }
    let (tag, tbs, _) = tlv(certificate)?;
    if tag != SEQUENCE {
        return Err(SigningError::BadCertificate("no tbsCertificate"));
    }
    let mut rest = tbs;
    // Optional [0] EXPLICIT version.
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        let (_, _, after) = tlv(rest)?;
        rest = after;
    }
    let (tag, _, after) = tlv(rest)?;
    if tag != SEQUENCE {
        return Err(SigningError::BadCertificate("no SubjectPublicKeyInfo"));
    }
    let len = rest.len() - after.len();
    rest.get(..len)
        .ok_or(SigningError::BadCertificate("malformed DER"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_keys_are_deterministic_and_sign_verifies() {
        let a = SigningKey::from_seed(1);
        let b = SigningKey::from_seed(1);
        let c = SigningKey::from_seed(2);
        assert_eq!(a.verifying_key(), b.verifying_key());
        assert_ne!(a.verifying_key(), c.verifying_key());
        let sig = a.sign(b"image");
        assert!(sig.starts_with("ME"), "DER SEQUENCE in base64: {sig}");
        assert_eq!(a.verifying_key().verify(b"image", &sig), Ok(()));
        assert_eq!(
            a.verifying_key().verify(b"imagf", &sig),
            Err(SigningError::VerificationFailed)
        );
        assert_eq!(
            c.verifying_key().verify(b"image", &sig),
            Err(SigningError::VerificationFailed)
        );
        assert_eq!(
            a.verifying_key().verify(b"image", "!!"),
            Err(SigningError::BadBase64)
        );
        assert_eq!(
            a.verifying_key().verify(b"image", "AAAA"),
            Err(SigningError::BadSignatureEncoding)
        );
    }

    #[test]
    fn tlv_rejects_truncation() {
        assert!(tlv(&[]).is_err());
        assert!(tlv(&[0x30]).is_err());
        assert!(tlv(&[0x30, 0x05, 0x00]).is_err());
        assert!(tlv(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_err());
        assert!(tlv(&[0x30, 0x80]).is_err());
        assert!(certificate_spki(&[0x30, 0x00]).is_err());
        assert!(VerifyingKey::from_certificate_pem("nothing").is_err());
    }
}
