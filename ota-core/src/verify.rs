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
        todo!()
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
        todo!()
    }
}

#[cfg(feature = "p256")]
impl ImageVerifier for P256Verifier<'_> {
    fn begin(&mut self) {
        todo!()
    }
    fn update(&mut self, data: &[u8]) {
        todo!()
    }
    fn verify(&mut self, signature: &[u8], key_name: Option<&str>) -> Result<(), VerifyError> {
        todo!()
    }
}
