//! Mutual TLS for the broker connection (feature `tls`): what AWS IoT Core requires on port
//! 8883 (or 443 with ALPN `x-amzn-mqtt-ca`).
//!
//! [`TlsConnector`] wraps any [`Connect`] (an embassy-net [`TcpConnector`](crate::net) on a
//! board) in a TLS 1.3 session of [embedded-tls](https://docs.rs/embedded-tls) 0.19
//! (`TLS_AES_128_GCM_SHA256`, key exchange secp256r1), authenticates the device with its
//! certificate and P-256 key, and checks the server with [`ChainVerifier`], our own verifier:
//!
//! * the chain is walked **from the server's certificate up** to the configured trust
//!   anchor, using the certificates the server sent as intermediates (in any order). AWS IoT
//!   Core and S3 append cross-signed roots (`Amazon Root CA 3` signed by Starfield) after the
//!   intermediate; a verifier that starts from the last certificate (embedded-tls's own
//!   `CertVerifier`) fails on those chains, ours stops as soon as it reaches the anchor;
//! * ECDSA P-256 with SHA-256 signatures (AWS IoT's ECC chain: `Amazon Root CA 3` →
//!   `Amazon ECDSA 256 M0x` → `*.iot.<region>.amazonaws.com`); intermediates must be CAs;
//! * the host name against the subject alternative names (RFC 6125 wildcards:
//!   `*.iot.eu-west-1.amazonaws.com`), IPv4 addresses too, the common name only when the
//!   certificate has no SAN;
//! * validity dates when the device knows the time ([`TlsCredentials::clock`]); a device
//!   without a clock skips them (there is nothing to compare with before the first NTP/MQTT
//!   round trip) — a documented weakness, as in most MCU TLS stacks.
//!
//! # RAM
//!
//! The connector holds the record buffers the caller gives it: the read buffer must hold one
//! TLS record of the largest size the server sends (16,640 bytes unless the server honours
//! a maximum fragment length; AWS IoT Core sends full-size records), the write buffer one
//! record of the largest MQTT packet the device sends plus [`TLS_RECORD_OVERHEAD`] bytes
//! (the CONNECT or a status update: 2 KiB is plenty; it must also hold the client
//! certificate message during the handshake: certificate length + 256). The handshake runs
//! inside the task's `run()` future, so its state is part of the task's static size (the
//! board READMEs' size tables measure it); no heap.
//!
//! # Credentials
//!
//! DER everywhere (a board's `build.rs` converts the PEM files): the trust anchor (for AWS
//! IoT Core with this verifier `AmazonRootCA3.pem`), the device certificate, and its private
//! key, P-256, as SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`). Register an ECC device
//! certificate with AWS IoT (`aws iot create-certificate-from-csr` with a P-256 CSR); the
//! RSA keys `create-keys-and-certificate` makes are not supported.

mod x509;

use crate::net::Connect;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CertificateRef, CertificateVerifyRef, CryptoProvider,
    CryptoRngCore, SignatureScheme, TlsCipherSuite, TlsConfig, TlsConnection, TlsContext, TlsError,
    TlsVerifier,
};
use p256::ecdsa::{DerSignature, SigningKey};
use sha2::Digest;

pub use embedded_tls::TLS_RECORD_OVERHEAD;
pub use x509::host_matches;

/// The largest TLS 1.3 record (2^14 bytes of data plus 256 of expansion): the read buffer
/// for a server that does not limit its fragments.
pub const MAX_RECORD: usize = 16_640;

/// ALPN protocol for MQTT on port 443 of AWS IoT Core.
pub const ALPN_AWS_MQTT: &[u8] = b"x-amzn-mqtt-ca";

/// Why a server certificate chain was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CertError {
    /// A certificate (or the trust anchor) is not valid DER X.509.
    Malformed,
    /// The server sent no certificate.
    Empty,
    /// The chain does not lead to the trust anchor.
    UnknownIssuer,
    /// A certificate's signature does not verify with its issuer's key.
    BadSignature,
    /// A signature or key type other than ECDSA P-256 / SHA-256.
    UnsupportedAlgorithm,
    /// An intermediate certificate is not a CA.
    NotCa,
    /// The chain is longer than the verifier follows.
    ChainTooLong,
    /// The server's certificate does not name the host the device connected to.
    HostnameMismatch,
    /// A certificate's validity ended before the device's current time.
    Expired,
    /// A certificate's validity starts after the device's current time.
    NotYetValid,
}

impl core::fmt::Display for CertError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CertError::Malformed => "malformed certificate",
            CertError::Empty => "the server sent no certificate",
            CertError::UnknownIssuer => "certificate chain does not lead to the trust anchor",
            CertError::BadSignature => "certificate signature does not verify",
            CertError::UnsupportedAlgorithm => {
                "certificate algorithm is not ECDSA P-256 with SHA-256"
            }
            CertError::NotCa => "an intermediate certificate is not a CA",
            CertError::ChainTooLong => "certificate chain too long",
            CertError::HostnameMismatch => "server certificate does not match the host name",
            CertError::Expired => "certificate expired",
            CertError::NotYetValid => "certificate not yet valid",
        })
    }
}

impl core::error::Error for CertError {}

/// Intermediates followed at most between the server's certificate and the anchor.
const MAX_DEPTH: usize = 6;

/// Verifies the server's chain and its handshake signature (see the [module](self) docs).
///
/// After a failed handshake, [`ChainVerifier::failure`] says what was wrong with the chain.
pub struct ChainVerifier<'a> {
    anchor: &'a [u8],
    host: &'a str,
    now: Option<u64>,
    /// The server's key (SEC1 point), once its chain verified.
    server_key: Option<[u8; 65]>,
    /// The transcript hash up to the server's Certificate message.
    transcript: heapless::Vec<u8, 48>,
    failure: Option<CertError>,
}

impl<'a> ChainVerifier<'a> {
    /// A verifier accepting chains that lead to `anchor` (DER certificate) and name `host`;
    /// `now` in Unix seconds enables the validity checks.
    pub fn new(anchor: &'a [u8], host: &'a str, now: Option<u64>) -> Self {
        Self {
            anchor,
            host,
            now,
            server_key: None,
            transcript: heapless::Vec::new(),
            failure: None,
        }
    }

    /// Why the last chain was refused, if it was.
    pub fn failure(&self) -> Option<CertError> {
        self.failure
    }

    /// Verifies a chain given as DER certificates, the server's first.
    ///
    /// # Errors
    /// The [`CertError`] of the first check that fails.
    pub fn verify_chain<'c>(
        &mut self,
        chain: impl Iterator<Item = &'c [u8]> + Clone,
    ) -> Result<(), CertError> {
        let result = self.walk(chain);
        self.failure = result.err();
        result
    }

    fn walk<'c>(&mut self, chain: impl Iterator<Item = &'c [u8]> + Clone) -> Result<(), CertError> {
        let anchor = x509::Cert::parse(self.anchor)?;
        let mut certs = chain.clone();
        let leaf = x509::Cert::parse(certs.next().ok_or(CertError::Empty)?)?;
        leaf.check_host(self.host)?;
        let point = leaf.p256_key().ok_or(CertError::UnsupportedAlgorithm)?;
        let server_key: [u8; 65] = point.try_into().map_err(|_| CertError::Malformed)?;
        let mut cur = leaf;
        for _ in 0..=MAX_DEPTH {
            if let Some(now) = self.now {
                cur.check_validity(now)?;
            }
            if cur.issuer == anchor.subject {
                cur.check_signed_by(&anchor)?;
                self.server_key = Some(server_key);
                return Ok(());
            }
            // The issuer among the other certificates the server sent.
            let mut issuer = None;
            for der in chain.clone().skip(1) {
                let c = x509::Cert::parse(der)?;
                if c.subject == cur.issuer && c.subject != cur.subject {
                    issuer = Some(c);
                    break;
                }
            }
            let issuer = issuer.ok_or(CertError::UnknownIssuer)?;
            if !issuer.is_ca()? {
                return Err(CertError::NotCa);
            }
            cur.check_signed_by(&issuer)?;
            cur = issuer;
        }
        Err(CertError::ChainTooLong)
    }

    /// Verifies the server's `CertificateVerify` signature over `message` (TLS 1.3 §4.4.3).
    fn verify_handshake(&self, scheme: SignatureScheme, signature: &[u8]) -> Result<(), TlsError> {
        use p256::ecdsa::signature::Verifier;
        use p256::ecdsa::{Signature, VerifyingKey};
        if scheme != SignatureScheme::EcdsaSecp256r1Sha256 {
            return Err(TlsError::InvalidSignatureScheme);
        }
        let point = self.server_key.ok_or(TlsError::InvalidCertificate)?;
        let key = VerifyingKey::from_sec1_bytes(&point).map_err(|_| TlsError::DecodeError)?;
        let sig = Signature::from_der(signature).map_err(|_| TlsError::DecodeError)?;
        let mut msg: heapless::Vec<u8, 146> = heapless::Vec::new();
        msg.resize(64, 0x20).map_err(|_| TlsError::EncodeError)?;
        msg.extend_from_slice(b"TLS 1.3, server CertificateVerify\x00")
            .map_err(|_| TlsError::EncodeError)?;
        msg.extend_from_slice(&self.transcript)
            .map_err(|_| TlsError::EncodeError)?;
        key.verify(&msg, &sig)
            .map_err(|_| TlsError::InvalidSignature)
    }
}

impl<CS: TlsCipherSuite> TlsVerifier<CS> for ChainVerifier<'_> {
    fn set_hostname_verification(&mut self, _hostname: &str) -> Result<(), TlsError> {
        // The host name is the connector's server name, given at construction.
        Ok(())
    }

    fn verify_certificate(
        &mut self,
        transcript: &CS::Hash,
        cert: CertificateRef<'_>,
    ) -> Result<(), TlsError> {
        let mut ders: heapless::Vec<&[u8], 16> = heapless::Vec::new();
        for entry in &cert.entries {
            match entry {
                embedded_tls::CertificateEntryRef::X509(der) => {
                    ders.push(der).map_err(|_| TlsError::InvalidCertificate)?
                }
                embedded_tls::CertificateEntryRef::RawPublicKey(_) => {
                    self.failure = Some(CertError::UnsupportedAlgorithm);
                    return Err(TlsError::InvalidCertificate);
                }
            }
        }
        self.verify_chain(ders.iter().copied())
            .map_err(|_| TlsError::InvalidCertificate)?;
        self.transcript.clear();
        self.transcript
            .extend_from_slice(&transcript.clone().finalize())
            .map_err(|_| TlsError::InternalError)?;
        Ok(())
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        let r = self.verify_handshake(verify.signature_scheme, verify.signature);
        if r.is_err() {
            self.failure = Some(CertError::BadSignature);
        }
        r
    }
}

/// Why [`TlsCredentials::new`] refused the device's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum KeyError {
    /// Neither a SEC1 nor a PKCS#8 DER P-256 private key.
    NotP256,
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("device key is not a P-256 private key (SEC1 or PKCS#8 DER)")
    }
}

impl core::error::Error for KeyError {}

/// What the device proves and trusts.
#[derive(Clone)]
pub struct TlsCredentials<'a> {
    /// The broker's host name: sent as SNI and checked against its certificate.
    pub server_name: &'a str,
    /// The trust anchor, DER (AWS IoT Core: `AmazonRootCA3`).
    pub anchor: &'a [u8],
    /// The device certificate, DER.
    pub client_cert: &'a [u8],
    key: SigningKey,
    /// ALPN protocols to offer (`&[ALPN_AWS_MQTT]` for AWS IoT Core on port 443).
    pub alpn: Option<&'a [&'a [u8]]>,
    /// The current time in Unix seconds, when the device knows it: enables the validity
    /// checks. `None` (the default) skips them.
    pub clock: fn() -> Option<u64>,
}

impl core::fmt::Debug for TlsCredentials<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsCredentials")
            .field("server_name", &self.server_name)
            .field("anchor", &self.anchor.len())
            .field("client_cert", &self.client_cert.len())
            .finish_non_exhaustive()
    }
}

fn no_clock() -> Option<u64> {
    None
}

impl<'a> TlsCredentials<'a> {
    /// Credentials from DER: the trust anchor, the device certificate and its P-256 key
    /// (SEC1 or PKCS#8).
    ///
    /// # Errors
    /// [`KeyError::NotP256`] when the key is neither.
    pub fn new(
        server_name: &'a str,
        anchor: &'a [u8],
        client_cert: &'a [u8],
        client_key: &[u8],
    ) -> Result<Self, KeyError> {
        let secret = secret_key(client_key)?;
        Ok(Self {
            server_name,
            anchor,
            client_cert,
            key: SigningKey::from(&secret),
            alpn: None,
            clock: no_clock,
        })
    }
}

/// Why a set of TLS credentials cannot work ([`check_credentials`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CredentialError {
    /// The trust anchor is not a certificate.
    Anchor(CertError),
    /// The trust anchor's key is not P-256 (this verifier checks P-256 chains only: for AWS
    /// IoT Core use `AmazonRootCA3`, not the RSA `AmazonRootCA1`).
    AnchorNotP256,
    /// The device certificate is not a certificate.
    Certificate(CertError),
    /// The device certificate's key is not P-256.
    CertificateNotP256,
    /// The private key.
    Key(KeyError),
    /// The private key does not belong to the device certificate.
    KeyMismatch,
    /// The identity holds some of the anchor, certificate and key but not all three.
    Incomplete,
    /// The device certificate does not fit the TLS write buffer (certificate + 256 bytes).
    CertificateTooLarge {
        /// Certificate length.
        len: usize,
        /// Largest certificate the write buffer takes.
        max: usize,
    },
}

impl core::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CredentialError::Anchor(e) => write!(f, "trust anchor: {e}"),
            CredentialError::AnchorNotP256 => {
                f.write_str("trust anchor key is not P-256 (AWS IoT Core: use AmazonRootCA3)")
            }
            CredentialError::Certificate(e) => write!(f, "device certificate: {e}"),
            CredentialError::CertificateNotP256 => {
                f.write_str("device certificate key is not P-256")
            }
            CredentialError::Key(e) => write!(f, "{e}"),
            CredentialError::Incomplete => f.write_str(
                "the identity holds only part of the TLS credentials (anchor, certificate, key)",
            ),
            CredentialError::KeyMismatch => {
                f.write_str("the private key does not belong to the device certificate")
            }
            CredentialError::CertificateTooLarge { len, max } => write!(
                f,
                "device certificate of {len} bytes does not fit the TLS write buffer (max {max})"
            ),
        }
    }
}

impl core::error::Error for CredentialError {}

/// Checks that `anchor`, `cert` and `key` (DER) can work together with a TLS write buffer of
/// `write_buffer` bytes: what a provisioning tool or a board checks before the first
/// handshake fails in the field.
///
/// # Errors
/// The first [`CredentialError`] found.
pub fn check_credentials(
    anchor: &[u8],
    cert: &[u8],
    key: &[u8],
    write_buffer: usize,
) -> Result<(), CredentialError> {
    let a = x509::Cert::parse(anchor).map_err(CredentialError::Anchor)?;
    a.p256_key().ok_or(CredentialError::AnchorNotP256)?;
    let c = x509::Cert::parse(cert).map_err(CredentialError::Certificate)?;
    let point = c.p256_key().ok_or(CredentialError::CertificateNotP256)?;
    let secret = secret_key(key).map_err(CredentialError::Key)?;
    let public = p256::EncodedPoint::from(secret.public_key());
    if public.as_bytes() != point {
        return Err(CredentialError::KeyMismatch);
    }
    let max = write_buffer.saturating_sub(256);
    if cert.len() > max {
        return Err(CredentialError::CertificateTooLarge {
            len: cert.len(),
            max,
        });
    }
    Ok(())
}

/// A P-256 private key from SEC1 or PKCS#8 DER.
fn secret_key(der: &[u8]) -> Result<p256::SecretKey, KeyError> {
    use p256::pkcs8::DecodePrivateKey;
    p256::SecretKey::from_sec1_der(der)
        .or_else(|_| p256::SecretKey::from_pkcs8_der(der))
        .map_err(|_| KeyError::NotP256)
}

impl<'a> TlsCredentials<'a> {
    /// The credentials of a provisioned [`Identity`](crate::identity::Identity): `None` for a
    /// plain identity (no anchor, certificate or key), ALPN [`ALPN_AWS_MQTT`] on port 443.
    ///
    /// # Errors
    /// [`CredentialError::Incomplete`] when only some of the three are there,
    /// [`CredentialError::CertificateTooLarge`] when the certificate does not fit a write buffer
    /// of `write_buffer` bytes, [`CredentialError::Key`] when the key is not P-256.
    pub fn from_identity(
        id: &crate::identity::Identity<'a>,
        write_buffer: usize,
    ) -> Result<Option<Self>, CredentialError> {
        if id.anchor.is_empty() && id.cert.is_empty() && id.key.is_empty() {
            return Ok(None);
        }
        if !id.has_tls() {
            return Err(CredentialError::Incomplete);
        }
        let max = write_buffer.saturating_sub(256);
        if id.cert.len() > max {
            return Err(CredentialError::CertificateTooLarge {
                len: id.cert.len(),
                max,
            });
        }
        let mut creds =
            Self::new(id.host, id.anchor, id.cert, id.key).map_err(CredentialError::Key)?;
        if id.port == 443 {
            creds.alpn = Some(&[ALPN_AWS_MQTT]);
        }
        Ok(Some(creds))
    }
}

/// The crypto provider handed to embedded-tls for one handshake.
struct Provider<'p, 'a, R> {
    rng: &'p mut R,
    verifier: &'p mut ChainVerifier<'a>,
    key: &'p SigningKey,
    cert: &'a [u8],
}

impl<R: CryptoRngCore> CryptoProvider for Provider<'_, '_, R> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = DerSignature;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut *self.verifier)
    }

    fn signer(
        &mut self,
    ) -> Result<
        (
            impl p256::ecdsa::signature::SignerMut<DerSignature>,
            SignatureScheme,
        ),
        TlsError,
    > {
        Ok((self.key.clone(), SignatureScheme::EcdsaSecp256r1Sha256))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        Some(Certificate::X509(self.cert))
    }
}

/// Why [`TlsConnector::connect`] failed.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TlsConnectError<E> {
    /// The transport underneath did not connect.
    Connect(E),
    /// The server's certificate chain was refused.
    Certificate(CertError),
    /// The handshake failed otherwise (alert from the server, e.g. the device certificate
    /// was refused; I/O error; protocol error).
    Handshake(TlsError),
}

impl<E: core::fmt::Display> core::fmt::Display for TlsConnectError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TlsConnectError::Connect(e) => write!(f, "connect: {e}"),
            TlsConnectError::Certificate(e) => write!(f, "TLS server certificate: {e}"),
            TlsConnectError::Handshake(e) => write!(f, "TLS handshake: {e:?}"),
        }
    }
}

impl<E: core::fmt::Debug + core::fmt::Display> core::error::Error for TlsConnectError<E> {}

/// A [`Connect`] that opens `inner` and runs a mutual-TLS handshake over it.
///
/// `rng` must be a cryptographic RNG (the chip's TRNG); the record buffers are sized as the
/// [module](self) docs say.
pub struct TlsConnector<'a, C, R> {
    inner: C,
    creds: TlsCredentials<'a>,
    rng: R,
    read: &'a mut [u8],
    write: &'a mut [u8],
}

impl<'a, C: Connect, R: CryptoRngCore> TlsConnector<'a, C, R> {
    /// TLS over `inner` with `creds`, record buffers `read` and `write`.
    pub fn new(
        inner: C,
        creds: TlsCredentials<'a>,
        rng: R,
        read: &'a mut [u8],
        write: &'a mut [u8],
    ) -> Self {
        Self {
            inner,
            creds,
            rng,
            read,
            write,
        }
    }
}

impl<C: Connect, R: CryptoRngCore> Connect for TlsConnector<'_, C, R> {
    type Io<'c>
        = TlsConnection<'c, C::Io<'c>, Aes128GcmSha256>
    where
        Self: 'c;
    type Error = TlsConnectError<C::Error>;

    async fn connect(&mut self) -> Result<Self::Io<'_>, Self::Error> {
        let io = self
            .inner
            .connect()
            .await
            .map_err(TlsConnectError::Connect)?;
        let mut tls = TlsConnection::new(io, self.read, self.write);
        // SNI carries host names only (RFC 6066 §3): a broker given by address gets none; the
        // verifier checks the address against the certificate's IP SANs either way.
        let mut config = TlsConfig::new();
        if x509::parse_ipv4(self.creds.server_name).is_none() {
            config = config.with_server_name(self.creds.server_name);
        }
        if let Some(alpn) = self.creds.alpn {
            config = config.with_alpn(alpn);
        }
        let mut verifier = ChainVerifier::new(
            self.creds.anchor,
            self.creds.server_name,
            (self.creds.clock)(),
        );
        let provider = Provider {
            rng: &mut self.rng,
            verifier: &mut verifier,
            key: &self.creds.key,
            cert: self.creds.client_cert,
        };
        match tls.open(TlsContext::new(&config, provider)).await {
            Ok(()) => Ok(tls),
            Err(e) => Err(match verifier.failure() {
                Some(c) => TlsConnectError::Certificate(c),
                None => TlsConnectError::Handshake(e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    struct Ca {
        issuer: Issuer<'static, KeyPair>,
        der: Vec<u8>,
    }

    fn ca(cn: &str, by: Option<&Ca>, is_ca: bool) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        if is_ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        p.distinguished_name.push(DnType::CommonName, cn);
        let cert = match by {
            Some(by) => p.signed_by(&key, &by.issuer).unwrap(),
            None => p.self_signed(&key).unwrap(),
        };
        Ca {
            der: cert.der().to_vec(),
            issuer: Issuer::new(p, key),
        }
    }

    fn leaf_with(by: &Ca, sans: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, "server");
        edit(&mut p);
        p.signed_by(&key, &by.issuer).unwrap().der().to_vec()
    }

    fn leaf(by: &Ca, sans: &[&str]) -> Vec<u8> {
        leaf_with(by, sans, |_| {})
    }

    fn check(anchor: &Ca, host: &str, now: Option<u64>, chain: &[&[u8]]) -> Result<(), CertError> {
        let mut v = ChainVerifier::new(&anchor.der, host, now);
        let r = v.verify_chain(chain.iter().copied());
        assert_eq!(v.failure(), r.err());
        r
    }

    #[test]
    fn chains_are_walked_from_the_leaf_to_the_anchor_in_any_order() {
        let root = ca("Root 3", None, true);
        let older = ca("Older Root", None, true);
        let inter = ca("ECDSA M02", Some(&root), true);
        // The anchor's name and key, signed by the older root: what AWS appends.
        let cross = {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, "Root 3");
            p.signed_by(root.issuer.key(), &older.issuer)
                .unwrap()
                .der()
                .to_vec()
        };
        let srv = leaf(&inter, &["*.iot.test"]);
        let h = "abc-ats.iot.test";
        assert_eq!(check(&root, h, None, &[&srv, &inter.der]), Ok(()));
        assert_eq!(
            check(&root, h, None, &[&srv, &inter.der, &cross, &older.der]),
            Ok(())
        );
        assert_eq!(
            check(&root, h, None, &[&srv, &older.der, &cross, &inter.der]),
            Ok(())
        );
        // Trusting the older root instead works through the cross-signed certificate.
        assert_eq!(check(&older, h, None, &[&srv, &inter.der, &cross]), Ok(()));
        // The intermediate missing, or another anchor.
        assert_eq!(
            check(&root, h, None, &[&srv]),
            Err(CertError::UnknownIssuer)
        );
        let stranger = ca("Root 3", None, true); // same name, other key
        assert_eq!(
            check(&stranger, h, None, &[&srv, &inter.der]),
            Err(CertError::BadSignature)
        );
        assert_eq!(check(&root, h, None, &[]), Err(CertError::Empty));
        // The leaf directly under the anchor.
        let direct = leaf(&root, &["broker.lan", "192.168.1.20"]);
        assert_eq!(check(&root, "broker.lan", None, &[&direct]), Ok(()));
        assert_eq!(check(&root, "192.168.1.20", None, &[&direct]), Ok(()));
        assert_eq!(
            check(&root, "192.168.1.21", None, &[&direct]),
            Err(CertError::HostnameMismatch)
        );
    }

    #[test]
    fn intermediates_must_be_cas() {
        let root = ca("Root", None, true);
        let not_ca = ca("Just a leaf", Some(&root), false);
        let srv = leaf(&not_ca, &["broker.lan"]);
        assert_eq!(
            check(&root, "broker.lan", None, &[&srv, &not_ca.der]),
            Err(CertError::NotCa)
        );
    }

    #[test]
    fn the_common_name_counts_only_without_alternative_names() {
        let root = ca("Root", None, true);
        let cn_only = leaf_with(&root, &[], |p| {
            p.distinguished_name = rcgen::DistinguishedName::new();
            p.distinguished_name.push(DnType::CommonName, "broker.lan");
        });
        assert_eq!(check(&root, "broker.lan", None, &[&cn_only]), Ok(()));
        let both = leaf_with(&root, &["other.lan"], |p| {
            p.distinguished_name = rcgen::DistinguishedName::new();
            p.distinguished_name.push(DnType::CommonName, "broker.lan");
        });
        assert_eq!(
            check(&root, "broker.lan", None, &[&both]),
            Err(CertError::HostnameMismatch)
        );
    }

    #[test]
    fn validity_is_checked_when_the_time_is_known() {
        let root = ca("Root", None, true);
        let old = leaf_with(&root, &["broker.lan"], |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        });
        let jan_2026 = 1_767_225_600;
        let mid_2020 = 1_593_561_600;
        let y_2019 = 1_546_300_800;
        assert_eq!(check(&root, "broker.lan", None, &[&old]), Ok(()));
        assert_eq!(check(&root, "broker.lan", Some(mid_2020), &[&old]), Ok(()));
        assert_eq!(
            check(&root, "broker.lan", Some(jan_2026), &[&old]),
            Err(CertError::Expired)
        );
        assert_eq!(
            check(&root, "broker.lan", Some(y_2019), &[&old]),
            Err(CertError::NotYetValid)
        );
    }

    #[test]
    fn a_malformed_anchor_is_reported() {
        let root = ca("Root", None, true);
        let srv = leaf(&root, &["broker.lan"]);
        let mut v = ChainVerifier::new(&[0x30, 0x00], "broker.lan", None);
        assert_eq!(
            v.verify_chain([&srv[..]].into_iter()),
            Err(CertError::Malformed)
        );
    }

    #[test]
    fn credentials_are_checked_together() {
        let root = ca("Root", None, true);
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, "dev-1");
        let cert = p.signed_by(&key, &root.issuer).unwrap().der().to_vec();
        let k = key.serialize_der();
        assert_eq!(check_credentials(&root.der, &cert, &k, 4096), Ok(()));
        let other = KeyPair::generate().unwrap().serialize_der();
        assert_eq!(
            check_credentials(&root.der, &cert, &other, 4096),
            Err(CredentialError::KeyMismatch)
        );
        assert_eq!(
            check_credentials(&root.der, &cert, &k, cert.len() + 255),
            Err(CredentialError::CertificateTooLarge {
                len: cert.len(),
                max: cert.len() - 1
            })
        );
        assert_eq!(
            check_credentials(&cert[..10], &cert, &k, 4096),
            Err(CredentialError::Anchor(CertError::Malformed))
        );
        assert_eq!(
            check_credentials(&root.der, &root.der, &k, 4096),
            Err(CredentialError::KeyMismatch)
        );
        assert_eq!(
            check_credentials(&root.der, &cert, b"not a key", 4096),
            Err(CredentialError::Key(KeyError::NotP256))
        );
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let ed_root = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&ed)
            .unwrap();
        assert_eq!(
            check_credentials(ed_root.der(), &cert, &k, 4096),
            Err(CredentialError::AnchorNotP256)
        );
    }

    #[test]
    fn credentials_from_an_identity() {
        use crate::identity::Identity;
        let root = ca("Root", None, true);
        let key = KeyPair::generate().unwrap().serialize_der();
        let id = Identity {
            thing_name: "dev-1",
            host: "a1-ats.iot.eu-west-1.amazonaws.com",
            port: 443,
            anchor: &root.der,
            cert: &root.der,
            key: &key,
        };
        let c = TlsCredentials::from_identity(&id, 4096).unwrap().unwrap();
        assert_eq!(c.server_name, id.host);
        assert_eq!(c.alpn, Some(&[ALPN_AWS_MQTT][..]));
        let plain = Identity {
            anchor: &[],
            cert: &[],
            key: &[],
            ..id
        };
        assert!(
            TlsCredentials::from_identity(&plain, 4096)
                .unwrap()
                .is_none()
        );
        let partial = Identity { key: &[], ..id };
        assert_eq!(
            TlsCredentials::from_identity(&partial, 4096).err(),
            Some(CredentialError::Incomplete)
        );
        assert_eq!(
            TlsCredentials::from_identity(&id, root.der.len() + 255).err(),
            Some(CredentialError::CertificateTooLarge {
                len: root.der.len(),
                max: root.der.len() - 1
            })
        );
        let bad_key = Identity { key: b"nope", ..id };
        assert_eq!(
            TlsCredentials::from_identity(&bad_key, 4096).err(),
            Some(CredentialError::Key(KeyError::NotP256))
        );
        let on_8883 = Identity { port: 8883, ..id };
        assert_eq!(
            TlsCredentials::from_identity(&on_8883, 4096)
                .unwrap()
                .unwrap()
                .alpn,
            None
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// No byte of a signed leaf can change without the chain being refused, and no
        /// change panics.
        #[test]
        fn a_tampered_leaf_never_verifies(pos in any::<prop::sample::Index>(), x in 1u8..=255) {
            thread_local! {
                static FIXTURE: (Ca, Vec<u8>) = {
                    let root = ca("Root", None, true);
                    let srv = leaf(&root, &["broker.lan"]);
                    (root, srv)
                };
            }
            FIXTURE.with(|(root, srv)| {
                let mut bad = srv.clone();
                let i = pos.index(bad.len());
                bad[i] ^= x;
                let mut v = ChainVerifier::new(&root.der, "broker.lan", None);
                prop_assert!(v.verify_chain([&bad[..]].into_iter()).is_err());
                Ok(())
            })?;
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            anchor in prop::collection::vec(any::<u8>(), 0..300),
            chain in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..4),
            host in "[a-z0-9.*-]{0,20}",
        ) {
            let mut v = ChainVerifier::new(&anchor, &host, Some(1_700_000_000));
            let _ = v.verify_chain(chain.iter().map(Vec::as_slice));
            for c in &chain {
                if let Ok(c) = x509::Cert::parse(c) {
                    let _ = c.check_host(&host);
                    let _ = c.is_ca();
                    let _ = c.check_validity(0);
                }
            }
        }
    }
}
