//! [`HttpBackend`] for `https://` (and `http://`) presigned URLs on hosts: hyper 1's HTTP/1.1
//! client over tokio-rustls, so a Linux gateway downloads from S3 itself.
//!
//! S3 serves RSA certificate chains that embedded-tls (inside reqwless) cannot check without a
//! heap; on a host rustls (webpki) checks them, against the system's roots
//! ([`HyperBackend::system_roots`], what S3 needs) or a CA of your own
//! ([`HyperBackend::with_roots`]). One connection per origin is kept alive between ranges;
//! a cancelled request (its fetch future dropped) drops its connection.

use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_RANGE, HOST, RANGE};
use hyper_util::rt::TokioIo;
use ota_core::codec::http::parse_content_range;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::{BoxFuture, HttpBackend, HttpMsg, HttpRequest};

/// Scheme, host and port of a URL: what a kept-alive connection is reused for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

type Sender = SendRequest<Empty<Bytes>>;

/// Range downloads over hyper (HTTP/1.1) and rustls. See the [module](self) docs.
///
/// ```no_run
/// # fn f() -> std::io::Result<()> {
/// use std::sync::Arc;
/// let http: Arc<dyn ota_os_std::http::HttpBackend> =
///     Arc::new(ota_os_std::http::HyperBackend::system_roots()?);
/// # Ok(()) }
/// ```
pub struct HyperBackend {
    tls: TlsConnector,
    idle: Arc<Mutex<Option<(Origin, Sender)>>>,
}

impl std::fmt::Debug for HyperBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperBackend").finish_non_exhaustive()
    }
}

impl HyperBackend {
    /// Trusts the certificates in `roots`.
    pub fn with_roots(roots: RootCertStore) -> Self {
        let mut config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            tls: TlsConnector::from(Arc::new(config)),
            idle: Arc::new(Mutex::new(None)),
        }
    }

    /// Trusts the operating system's roots (`/etc/ssl/certs` on Debian; `SSL_CERT_FILE`
    /// overrides), which hold the Amazon roots S3 chains to.
    ///
    /// # Errors
    /// No root could be loaded.
    pub fn system_roots() -> std::io::Result<Self> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no usable system root certificate ({:?})", found.errors),
            ));
        }
        Ok(Self::with_roots(roots))
    }

    /// Trusts the system's roots and the PEM certificates in `ca_pem` (a test CA, a proxy's).
    ///
    /// # Errors
    /// A certificate in `ca_pem` does not parse, or no root is left.
    pub fn with_extra_ca_pem(ca_pem: &[u8]) -> std::io::Result<Self> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let mut roots = RootCertStore::empty();
        let (_, _) =
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("CA PEM: {e}"))
            })?;
            roots
                .add(cert)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
        if roots.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no root certificate",
            ));
        }
        Ok(Self::with_roots(roots))
    }
}

/// Why a request could not be made (reported to the agent as [`HttpMsg::Failed`]).
#[derive(Debug)]
enum FetchError {
    Url,
    Io(std::io::Error),
    Http(hyper::Error),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Url => f.write_str("not an absolute http(s) URL"),
            FetchError::Io(e) => write!(f, "connection: {e}"),
            FetchError::Http(e) => write!(f, "HTTP: {e}"),
        }
    }
}

impl From<std::io::Error> for FetchError {
    fn from(e: std::io::Error) -> Self {
        FetchError::Io(e)
    }
}

impl From<hyper::Error> for FetchError {
    fn from(e: hyper::Error) -> Self {
        FetchError::Http(e)
    }
}

/// Splits an absolute `http(s)://` URL into its origin and its path with query.
fn split_url(url: &str) -> Result<(Origin, hyper::Uri), FetchError> {
    let uri: hyper::Uri = url.parse().map_err(|_| FetchError::Url)?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(FetchError::Url),
    };
    let host = uri.host().ok_or(FetchError::Url)?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    // An authority ending in ':' and digits that do not fit a port is not a default port.
    let authority = uri.authority().ok_or(FetchError::Url)?.as_str();
    let explicit = authority.rsplit_once(':').is_some_and(|(h, p)| {
        !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty()
    });
    let port = match uri.port_u16() {
        Some(p) if p != 0 => p,
        Some(_) => return Err(FetchError::Url),
        None if explicit => return Err(FetchError::Url),
        None => {
            if tls {
                443
            } else {
                80
            }
        }
    };
    let path = uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|_| FetchError::Url)?;
    Ok((Origin { tls, host, port }, path))
}

impl HyperBackend {
    async fn connect(&self, origin: &Origin) -> Result<Sender, FetchError> {
        let tcp = TcpStream::connect((origin.host.as_str(), origin.port)).await?;
        tcp.set_nodelay(true)?;
        let sender = if origin.tls {
            let name = ServerName::try_from(origin.host.clone()).map_err(|_| FetchError::Url)?;
            let stream = self.tls.connect(name, tcp).await?;
            let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            sender
        } else {
            let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            sender
        };
        Ok(sender)
    }

    /// Runs `req`, streaming its answer to `out`; a connection whose body was read to the end
    /// goes back to the idle slot for the next range.
    async fn exchange(
        &self,
        req: &HttpRequest,
        out: &mpsc::Sender<HttpMsg>,
    ) -> Result<(), FetchError> {
        let (origin, path) = split_url(&req.url)?;
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            match idle.take() {
                Some((o, s)) if o == origin && !s.is_closed() => Some(s),
                _ => None,
            }
        };
        let mut sender = match reused {
            Some(s) => s,
            None => self.connect(&origin).await?,
        };
        sender.ready().await?;
        let host = if origin.port == if origin.tls { 443 } else { 80 } {
            origin.host.clone()
        } else {
            format!("{}:{}", origin.host, origin.port)
        };
        let request = hyper::Request::get(path)
            .header(HOST, host)
            .header(RANGE, format!("bytes={}-{}", req.first, req.last))
            .body(Empty::<Bytes>::new())
            .map_err(|_| FetchError::Url)?;
        let resp = sender.send_request(request).await?;
        let id = req.id;
        let content_range = resp
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| parse_content_range(v.as_bytes()).ok());
        let status = resp.status().as_u16();
        if out
            .send(HttpMsg::Response {
                id,
                status,
                content_range,
            })
            .await
            .is_err()
        {
            return Ok(());
        }
        let mut body = resp.into_body();
        let max = req.max_chunk.max(1);
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue; // trailers
            };
            for part in data.chunks(max) {
                let msg = HttpMsg::Body {
                    id,
                    data: part.to_vec(),
                };
                if out.send(msg).await.is_err() {
                    return Ok(());
                }
            }
        }
        let _ = out.send(HttpMsg::Done { id }).await;
        // The whole body was read: the connection can serve the next range.
        *self.idle.lock().unwrap_or_else(|p| p.into_inner()) = Some((origin, sender));
        Ok(())
    }
}

impl HttpBackend for HyperBackend {
    fn fetch(&self, req: HttpRequest, out: mpsc::Sender<HttpMsg>) -> BoxFuture {
        let this = HyperBackend {
            tls: self.tls.clone(),
            idle: self.idle.clone(),
        };
        Box::pin(async move {
            if let Err(e) = this.exchange(&req, &out).await {
                log::warn!("HTTP range {}-{}: {e}", req.first, req.last);
                let _ = out.send(HttpMsg::Failed { id: req.id }).await;
            }
        })
    }
}

/// Sends each request to the backend for its URL's scheme: `http://` to one (the reqwless
/// runner, as on the boards), `https://` to another ([`HyperBackend`]).
#[derive(Clone)]
pub struct ByScheme {
    /// For `http://` URLs.
    pub http: Arc<dyn HttpBackend>,
    /// For `https://` URLs.
    pub https: Arc<dyn HttpBackend>,
}

impl std::fmt::Debug for ByScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByScheme").finish_non_exhaustive()
    }
}

impl HttpBackend for ByScheme {
    fn fetch(&self, req: HttpRequest, out: mpsc::Sender<HttpMsg>) -> BoxFuture {
        let https = req
            .url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        if https {
            self.https.fetch(req, out)
        } else {
            self.http.fetch(req, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_origin_and_path() {
        let (o, p) =
            split_url("https://b.s3.eu-west-1.amazonaws.com/fw.bin?X-Amz-Signature=ab%2Fc")
                .unwrap();
        assert_eq!(
            o,
            Origin {
                tls: true,
                host: "b.s3.eu-west-1.amazonaws.com".into(),
                port: 443
            }
        );
        assert_eq!(p, "/fw.bin?X-Amz-Signature=ab%2Fc");
        let (o, p) = split_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (o.tls, o.port, p.to_string()),
            (false, 8080, "/".to_string())
        );
        let (o, _) = split_url("http://[::1]:81/x").unwrap();
        assert_eq!(o.host, "::1");
        for bad in [
            "ftp://h/x",
            "/relative",
            "https://",
            "",
            "http://h:99999/",
            "http://h:0/",
        ] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }
}
