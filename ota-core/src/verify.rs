//! Code-signature verification: SHA-256 over the file as stored in flash (fed in the order the
//! agent reads it back), then a signature check against one of the application's trusted keys.
//!
//! The agent is generic over [`ImageVerifier`]; [`P256Verifier`] (feature `p256`, on by default)
//! verifies AWS's `sig-sha256-ecdsa` (ECDSA P-256 over SHA-256) with RustCrypto's `p256` through
//! the `signature` crate's traits.

use core::fmt;

/// Why a file's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum VerifyError {
    /// No trusted key answers to the job's `certfile` (and there is no default key).
    UntrustedKey,
    /// The signature bytes are not a well-formed signature for this algorithm.
    MalformedSignature,
    /// The signature does not match the file.
    Mismatch,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UntrustedKey => "verify: no trusted key for this certfile",
            Self::MalformedSignature => "verify: malformed signature",
            Self::Mismatch => "verify: signature does not match the file",
        })
    }
}

impl core::error::Error for VerifyError {}

/// Streaming verifier of one file at a time.
pub trait ImageVerifier {
    /// Starts a new file (discards any previous state).
    fn begin(&mut self);
    /// Feeds the next bytes of the file, in order.
    fn update(&mut self, data: &[u8]);
    /// Checks `signature` (the decoded `sig-sha256-ecdsa` bytes: DER for ECDSA) over everything
    /// fed since [`begin`](Self::begin). `key_name` is the job's `certfile`, which names the key.
    fn verify(&mut self, signature: &[u8], key_name: Option<&str>) -> Result<(), VerifyError>;
}

/// A trusted P-256 public key, optionally answering to a `certfile` name.
#[cfg(feature = "p256")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedKey<'k> {
    /// The `certfile` value this key answers to; `None` = the default key, used when the job's
    /// `certfile` names no other key.
    pub name: Option<&'k str>,
    /// The key.
    pub key: p256::ecdsa::VerifyingKey,
}

/// ECDSA P-256 / SHA-256 verifier over a caller-owned list of trusted keys.
#[cfg(feature = "p256")]
#[derive(Clone)]
pub struct P256Verifier<'k> {
    keys: &'k [TrustedKey<'k>],
    hasher: sha2::Sha256,
}

#[cfg(feature = "p256")]
impl<'k> P256Verifier<'k> {
    /// A verifier trusting `keys`.
    pub fn new(keys: &'k [TrustedKey<'k>]) -> Self {
        use sha2::Digest as _;
        Self {
            keys,
            hasher: sha2::Sha256::new(),
        }
    }

    /// The key answering to `name`: the one named so, else the default key.
    fn key(&self, name: Option<&str>) -> Result<&'k p256::ecdsa::VerifyingKey, VerifyError> {
        let keys = self.keys;
        name.and_then(|n| keys.iter().find(|k| k.name == Some(n)))
            .or_else(|| keys.iter().find(|k| k.name.is_none()))
            .map(|k| &k.key)
            .ok_or(VerifyError::UntrustedKey)
    }
}

#[cfg(feature = "p256")]
impl fmt::Debug for P256Verifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("P256Verifier")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Key selection: the key whose `name` equals the job's `certfile`, else the default key
/// (`name == None`), else [`VerifyError::UntrustedKey`]. The signature is DER (as AWS code
/// signing emits it), converted with [`der_to_raw_p256`](crate::codec::der::der_to_raw_p256);
/// a signature that is not strict DER or whose `r`/`s` is out of range is
/// [`VerifyError::MalformedSignature`]. Both high-S and low-S signatures are accepted.
/// `verify` ends the file: the hash restarts empty afterwards, whatever the result.
#[cfg(feature = "p256")]
impl ImageVerifier for P256Verifier<'_> {
    fn begin(&mut self) {
        sha2::Digest::reset(&mut self.hasher);
    }

    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.hasher, data);
    }

    fn verify(&mut self, signature: &[u8], key_name: Option<&str>) -> Result<(), VerifyError> {
        use signature::hazmat::PrehashVerifier as _;
        let digest = sha2::Digest::finalize_reset(&mut self.hasher);
        let key = self.key(key_name)?;
        let raw = crate::codec::der::der_to_raw_p256(signature)
            .map_err(|_| VerifyError::MalformedSignature)?;
        let sig = p256::ecdsa::Signature::from_slice(&raw)
            .map_err(|_| VerifyError::MalformedSignature)?;
        key.verify_prehash(&digest, &sig)
            .map_err(|_| VerifyError::Mismatch)
    }
}

#[cfg(all(test, feature = "p256"))]
mod tests {
    use super::*;
    use p256::ecdsa::{SigningKey, signature::hazmat::PrehashSigner};
    use sha2::Digest as _;

    fn signer(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn der_sig(key: &SigningKey, data: &[u8]) -> ([u8; 72], usize) {
        let digest = sha2::Sha256::digest(data);
        let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
        let raw: [u8; 64] = sig.to_bytes().into();
        let mut der = [0u8; 72];
        let n = crate::codec::der::raw_to_der_p256(&raw, &mut der).unwrap();
        (der, n)
    }

    #[test]
    fn key_selection_and_sequence_of_files() {
        let default = signer(1);
        let named = signer(2);
        let keys = [
            TrustedKey {
                name: None,
                key: *default.verifying_key(),
            },
            TrustedKey {
                name: Some("signer.crt"),
                key: *named.verifying_key(),
            },
        ];
        let mut v = P256Verifier::new(&keys);
        let (sig_d, nd) = der_sig(&default, b"first file");
        let (sig_n, nn) = der_sig(&named, b"second file");

        v.begin();
        v.update(b"first ");
        v.update(b"file");
        assert_eq!(v.verify(&sig_d[..nd], None), Ok(()));
        v.begin();
        v.update(b"first file");
        // unknown name falls back to the default key
        assert_eq!(v.verify(&sig_d[..nd], Some("other.crt")), Ok(()));
        v.begin();
        v.update(b"first file");
        // the named key is not the default key
        assert_eq!(
            v.verify(&sig_d[..nd], Some("signer.crt")),
            Err(VerifyError::Mismatch)
        );

        v.begin();
        v.update(b"stale data from an aborted file");
        v.begin();
        v.update(b"second file");
        assert_eq!(v.verify(&sig_n[..nn], Some("signer.crt")), Ok(()));
        v.begin();
        v.update(b"second file");
        assert_eq!(v.verify(&sig_n[..nn], None), Err(VerifyError::Mismatch));
    }

    #[test]
    fn untrusted_and_malformed() {
        let k = signer(3);
        let keys = [TrustedKey {
            name: Some("a"),
            key: *k.verifying_key(),
        }];
        let mut v = P256Verifier::new(&keys);
        let (sig, n) = der_sig(&k, b"x");
        v.begin();
        v.update(b"x");
        assert_eq!(
            v.verify(&sig[..n], Some("b")),
            Err(VerifyError::UntrustedKey)
        );
        assert_eq!(v.verify(&sig[..n], None), Err(VerifyError::UntrustedKey));
        // after a failed verify the hash restarted: verifying "x" needs it fed again
        v.update(b"x");
        assert_eq!(v.verify(&sig[..n], Some("a")), Ok(()));
        assert_eq!(
            v.verify(&sig[..n - 1], Some("a")),
            Err(VerifyError::MalformedSignature)
        );
        // r = n (the group order) is well-formed DER but out of range
        let order = [
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2,
            0xfc, 0x63, 0x25, 0x51,
        ];
        let mut raw = [1u8; 64];
        raw[..32].copy_from_slice(&order);
        let mut der = [0u8; 72];
        let len = crate::codec::der::raw_to_der_p256(&raw, &mut der).unwrap();
        assert_eq!(
            v.verify(&der[..len], Some("a")),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            std::format!("{}", VerifyError::Mismatch),
            "verify: signature does not match the file"
        );
    }
}
