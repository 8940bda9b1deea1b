#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod url;

pub use reqwless;
pub use url::{HOST_MAX, ORIGIN_MAX, Scheme, URL_CAPACITY, Url, UrlError};

use embassy_futures::select::{Either, select};
use embedded_io_async::{Read, Write};
use embedded_nal_async::{Dns, TcpConnect};
use ota_core::Input;
use ota_core::codec::http::parse_content_range;
use reqwless::client::{HttpClient, HttpResource};
use reqwless::request::RequestBuilder;

/// Recommended size of the response-header buffer (S3 answers carry about 600 bytes of headers).
pub const HEADER_BUFFER: usize = 2048;

/// One range request of the agent (`Action::HttpGet`), its URL copied into the runner's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RangeRequest {
    /// Length of the URL written into the buffer given to [`RangeLink::next_request`].
    pub url_len: usize,
    /// First byte (inclusive).
    pub first: u32,
    /// Last byte (inclusive).
    pub last: u32,
}

/// Whether the agent still wants the request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Flow {
    /// Keep going.
    Continue,
    /// The agent cancelled the request (`Action::HttpCancel`): stop feeding it.
    Cancel,
}

/// The runtime's side of [`HttpRunner::run`]: it owns the agent and passes requests and
/// inputs across. Implement it with channels/signals between the runner's task and the task
/// that owns the agent (embassy-sync or tokio), or directly when one task does both.
///
/// Contract:
/// - [`next_request`](Self::next_request) waits for the agent's next `Action::HttpGet`, copies
///   its URL into `url` (refuse a longer URL by answering its request with `HttpFailed`) and
///   returns the range; `None` ends [`HttpRunner::run`].
/// - [`input`](Self::input) feeds one input of the current request to the agent
///   (`HttpResponse`, then `HttpBody` chunks, then `HttpDone` or `HttpFailed`) and returns once
///   the agent has consumed it, that is, after the `FileWrite` it caused is done (the agent
///   takes no further body while a write is outstanding). If the agent has cancelled the
///   request, do not feed it: return [`Flow::Cancel`].
/// - [`cancelled`](Self::cancelled) resolves when the agent cancels the current request (the
///   one [`next_request`](Self::next_request) returned last) with `Action::HttpCancel`, e.g.
///   after its request timer or a link loss; a cancel of an earlier request must not count. It
///   must be cancel-safe: the runner drops it whenever the network wins the race.
#[allow(async_fn_in_trait)]
#[cfg_attr(test, mockall::automock)]
pub trait RangeLink {
    /// Waits for the next range request; `None` ends the runner.
    async fn next_request(&mut self, url: &mut [u8]) -> Option<RangeRequest>;
    /// Feeds one input of the current request to the agent; waits until it is consumed.
    async fn input<'i>(&mut self, input: Input<'i>) -> Flow;
    /// Resolves when the agent cancels the current request.
    async fn cancelled(&mut self);
}

/// The runner's memory.
#[derive(Debug)]
pub struct HttpBuffers<'a> {
    /// The request URL ([`URL_CAPACITY`], 2 KB: presigned URLs are ≥ 1.5 KB).
    pub url: &'a mut [u8],
    /// Response headers ([`HEADER_BUFFER`]); a response whose headers do not fit fails.
    pub header: &'a mut [u8],
    /// One body chunk: at most `agent.max_body_chunk()` (the agent's block buffer); each chunk
    /// becomes one flash write, so the block size is a good choice.
    pub chunk: &'a mut [u8],
}

/// How the server is authenticated over HTTPS.
#[cfg(feature = "tls")]
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Verify<'a> {
    /// Check the server's certificate against this CA certificate (DER).
    Ca(&'a [u8]),
    /// No check at all: for tests on loopback only.
    Insecure,
}

/// HTTPS through reqwless's `embedded-tls` (TLS 1.3, `TLS_AES_128_GCM_SHA256`).
#[cfg(feature = "tls")]
pub struct TlsSettings<'a> {
    /// TLS record read buffer: 16 640 bytes hold any TLS record.
    pub read_buffer: &'a mut [u8],
    /// TLS record write buffer (also buffers plain-HTTP requests): at least 4 KB, so that a
    /// 2 KB URL request fits one record.
    pub write_buffer: &'a mut [u8],
    /// Server authentication.
    pub verify: Verify<'a>,
    /// A fresh random seed for each connection's TLS randomness (a hardware RNG on devices,
    /// `getrandom` on the host).
    pub seed: &'a mut dyn FnMut() -> u64,
}

#[cfg(feature = "tls")]
impl core::fmt::Debug for TlsSettings<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("read_buffer", &self.read_buffer.len())
            .field("write_buffer", &self.write_buffer.len())
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

/// Counters of the runner (keep-alive shows as `requests > connects`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct HttpStats {
    /// Connections opened.
    pub connects: u32,
    /// Requests sent.
    pub requests: u32,
    /// Requests retried on a fresh connection because the kept-alive one had been closed.
    pub stale_retries: u32,
    /// Requests answered with `HttpFailed`.
    pub failures: u32,
}

/// Executes the agent's range requests with reqwless, one at a time, keeping the connection
/// alive across ranges of the same origin.
pub struct HttpRunner<'a, T: TcpConnect + 'a, D: Dns + 'a> {
    tcp: &'a T,
    dns: &'a D,
    buffers: HttpBuffers<'a>,
    #[cfg(feature = "tls")]
    tls: Option<TlsSettings<'a>>,
    stats: HttpStats,
}

/// How one exchange ended.
enum End {
    /// Body complete; the connection can serve the next request.
    KeepOpen,
    /// Done or abandoned; close the connection.
    Close,
    /// The connection failed before any response byte: retry once on a fresh connection.
    Stale,
}

impl<'a, T: TcpConnect + 'a, D: Dns + 'a> HttpRunner<'a, T, D> {
    /// A plain-HTTP runner over `tcp` and `dns` (an `https://` URL fails with `HttpFailed`).
    pub fn new(tcp: &'a T, dns: &'a D, buffers: HttpBuffers<'a>) -> Self {
        Self {
            tcp,
            dns,
            buffers,
            #[cfg(feature = "tls")]
            tls: None,
            stats: HttpStats::default(),
        }
    }

    /// A runner that also speaks HTTPS.
    #[cfg(feature = "tls")]
    pub fn with_tls(
        tcp: &'a T,
        dns: &'a D,
        buffers: HttpBuffers<'a>,
        tls: TlsSettings<'a>,
    ) -> Self {
        let mut r = Self::new(tcp, dns, buffers);
        r.tls = Some(tls);
        r
    }

    /// The counters so far.
    pub fn stats(&self) -> HttpStats {
        self.stats
    }

    /// Serves range requests from `link` until [`RangeLink::next_request`] returns `None`.
    ///
    /// Transport failures (DNS, connect, TLS, reset, short body) reach the agent as
    /// `HttpFailed`; every HTTP answer (206, a 200 that ignores the range, 3xx, 403, 416, 5xx)
    /// reaches it as `HttpResponse` with its status and parsed `Content-Range`, then its body.
    pub async fn run<L: RangeLink>(&mut self, link: &mut L) {
        let tcp = self.tcp;
        let dns = self.dns;
        let HttpBuffers { url, header, chunk } = &mut self.buffers;
        let stats = &mut self.stats;
        #[cfg(feature = "tls")]
        let tls = &mut self.tls;
        let mut pending: Option<RangeRequest> = None;
        loop {
            let req = match pending.take() {
                Some(r) => r,
                None => match link.next_request(url).await {
                    Some(r) => r,
                    None => return,
                },
            };
            let mut origin_buf = [0u8; ORIGIN_MAX];
            let Some((origin, _)) = origin_of(url, req, &mut origin_buf) else {
                stats.failures += 1;
                link.input(Input::HttpFailed).await;
                continue;
            };
            #[cfg(feature = "tls")]
            let mut client = match tls.as_mut() {
                Some(t) => HttpClient::new_with_tls(
                    tcp,
                    dns,
                    reqwless::client::TlsConfig::new(
                        (t.seed)(),
                        &mut *t.read_buffer,
                        &mut *t.write_buffer,
                        match t.verify {
                            Verify::Ca(ca) => reqwless::client::TlsVerify::Certificate {
                                ca,
                                cert: None,
                                key: None,
                            },
                            Verify::Insecure => reqwless::client::TlsVerify::None,
                        },
                    ),
                ),
                None => HttpClient::new(tcp, dns),
            };
            #[cfg(not(feature = "tls"))]
            let mut client = HttpClient::new(tcp, dns);
            let connected = match select(client.resource(origin), link.cancelled()).await {
                Either::First(r) => r,
                Either::Second(()) => continue,
            };
            let mut res = match connected {
                Ok(res) => res,
                Err(_) => {
                    stats.failures += 1;
                    link.input(Input::HttpFailed).await;
                    continue;
                }
            };
            stats.connects += 1;
            let mut req = req;
            let mut reused = false;
            loop {
                stats.requests += 1;
                match exchange(&mut res, url, req, header, chunk, link, stats).await {
                    End::KeepOpen => {}
                    End::Close => break,
                    End::Stale if reused => {
                        stats.stale_retries += 1;
                        pending = Some(req);
                        break;
                    }
                    End::Stale => {
                        stats.failures += 1;
                        link.input(Input::HttpFailed).await;
                        break;
                    }
                }
                reused = true;
                let Some(next) = link.next_request(url).await else {
                    return;
                };
                let mut o = [0u8; ORIGIN_MAX];
                match origin_of(url, next, &mut o) {
                    Some((other, _)) if other == origin => req = next,
                    _ => {
                        pending = Some(next);
                        break;
                    }
                }
            }
        }
    }
}

/// The origin of the URL in `url[..req.url_len]` and its scheme.
fn origin_of<'o>(url: &[u8], req: RangeRequest, out: &'o mut [u8]) -> Option<(&'o str, Scheme)> {
    let text = core::str::from_utf8(url.get(..req.url_len)?).ok()?;
    let u = Url::parse(text).ok()?;
    #[cfg(not(feature = "tls"))]
    if u.scheme == Scheme::Https {
        return None;
    }
    Some((u.origin(out)?, u.scheme))
}

/// Bodies this short are read to the end after a cancel, to keep the connection.
const DRAIN_LIMIT: usize = 8 * 1024;

/// One request/response on an open connection.
async fn exchange<C: Read + Write, L: RangeLink>(
    res: &mut HttpResource<'_, C>,
    url: &[u8],
    req: RangeRequest,
    header: &mut [u8],
    chunk: &mut [u8],
    link: &mut L,
    stats: &mut HttpStats,
) -> End {
    let Some(target) = url
        .get(..req.url_len)
        .and_then(|b| core::str::from_utf8(b).ok())
        .and_then(|s| Url::parse(s).ok())
        .map(|u| u.target)
    else {
        return End::Stale;
    };
    let mut range_buf = [0u8; 32];
    let Some(range) = url::range_value(req.first, req.last, &mut range_buf) else {
        return End::Stale;
    };
    let headers = [("Range", range)];
    let sent = select(
        res.get(target).headers(&headers).send(header),
        link.cancelled(),
    )
    .await;
    let resp = match sent {
        Either::First(Ok(r)) => r,
        Either::First(Err(_)) => return End::Stale,
        Either::Second(()) => return End::Close,
    };
    let status = resp.status.0;
    let mut content_range = None;
    let mut close = false;
    for (name, value) in resp.headers() {
        if name.eq_ignore_ascii_case("content-range") {
            content_range = parse_content_range(value).ok();
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case(b"close") {
            close = true;
        }
    }
    let length = resp.content_length;
    // Without a length (and not chunked) the body runs to the end of the connection.
    let to_end = length.is_none()
        && !resp
            .transfer_encoding
            .contains(&reqwless::headers::TransferEncoding::Chunked);
    let flow = link
        .input(Input::HttpResponse {
            status,
            content_range,
        })
        .await;
    let mut reader = resp.body().reader();
    let mut remaining = length;
    if flow == Flow::Cancel {
        // Keep the connection if the rest is short (an error document), else drop it.
        return match remaining {
            Some(mut r) if r <= DRAIN_LIMIT && !close => {
                while r > 0 {
                    let n = r.min(chunk.len());
                    match reader.read(&mut chunk[..n]).await {
                        Ok(0) | Err(_) => return End::Close,
                        Ok(k) => r -= k,
                    }
                }
                End::KeepOpen
            }
            _ => End::Close,
        };
    }
    loop {
        let limit = remaining.map_or(chunk.len(), |r| r.min(chunk.len()));
        if limit == 0 {
            break;
        }
        let read = select(reader.read(&mut chunk[..limit]), link.cancelled()).await;
        let n = match read {
            Either::First(Ok(n)) => n,
            Either::First(Err(_)) => {
                stats.failures += 1;
                link.input(Input::HttpFailed).await;
                return End::Close;
            }
            Either::Second(()) => return End::Close,
        };
        if n == 0 {
            if remaining.is_some_and(|r| r > 0) {
                // Short body: the server closed early.
                stats.failures += 1;
                link.input(Input::HttpFailed).await;
                return End::Close;
            }
            break;
        }
        if let Some(r) = remaining.as_mut() {
            *r -= n.min(*r);
        }
        if link.input(Input::HttpBody(&chunk[..n])).await == Flow::Cancel {
            return End::Close;
        }
    }
    link.input(Input::HttpDone).await;
    if close || to_end {
        End::Close
    } else {
        End::KeepOpen
    }
}

#[cfg(test)]
mod tests;
