//! Mutual TLS to the broker with rustls (AWS IoT Core's way): the broker's CA, the device's
//! certificate chain and its private key, all PEM.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// The three PEM files of a mutual-TLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) that sign the broker's certificate.
    pub ca: PathBuf,
    /// The device's certificate (chain), presented to the broker.
    pub cert: PathBuf,
    /// The device's private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

/// Why a TLS configuration could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the certificates or key.
    Rustls(rustls::Error),
    /// The broker host is not a valid DNS name or IP address.
    BadServerName(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem { path, reason } => write!(f, "{}: {reason}", path.display()),
            TlsError::Rustls(e) => write!(f, "TLS configuration: {e}"),
            TlsError::BadServerName(h) => write!(f, "not a valid TLS server name: {h}"),
        }
    }
}

impl std::error::Error for TlsError {}

fn pem_err(path: &Path, reason: impl fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads every certificate of a PEM file.
///
/// # Errors
/// [`TlsError::Pem`] when the file cannot be read or holds no certificate.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect();
    let certs = certs.map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
///
/// # Errors
/// [`TlsError::Pem`] when the file cannot be read or holds no key.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_err(path, e))
}

/// A rustls client configuration (ring provider) trusting `files.ca` and authenticating with
/// `files.cert` / `files.key`.
///
/// # Errors
/// [`TlsError`] for unreadable files or certificates rustls refuses.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(&files.ca)? {
        roots.add(c).map_err(TlsError::Rustls)?;
    }
    let chain = load_certs(&files.cert)?;
    let key = load_key(&files.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(TlsError::Rustls)?;
    Ok(Arc::new(config))
}

/// A connector and the server name to check the broker's certificate against.
#[derive(Clone)]
pub struct Tls {
    pub(crate) connector: TlsConnector,
    pub(crate) server_name: ServerName<'static>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Mutual TLS with `files`, checking the broker's certificate against `host` (a DNS name
    /// or an IP address).
    ///
    /// # Errors
    /// [`TlsError`] for bad files or a bad host name.
    pub fn new(files: &TlsFiles, host: &str) -> Result<Self, TlsError> {
        let config = client_config(files)?;
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| TlsError::BadServerName(host.to_string()))?;
        Ok(Self {
            connector: TlsConnector::from(config),
            server_name,
        })
    }
}
