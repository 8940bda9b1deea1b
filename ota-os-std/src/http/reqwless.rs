//! [`HttpBackend`] over `ota-http-reqwless` (reqwless 0.14) on tokio sockets.
//!
//! One [`HttpRunner`] per backend runs as a long-lived task and keeps its connection alive
//! across the ranges of one origin. [`HttpBackend::fetch`] hands it a request through a
//! channel; the runner's [`RangeLink`] streams the answer back as [`HttpMsg`]s, and the fetch
//! future waits until the runner lets go of the request. Dropping (aborting) the fetch future
//! is the cancel signal: the runner stops reading that answer and, unless its rest is a short
//! error document, closes the connection.
//!
//! The runner is a `Send` future (checked at compile time below): it is spawned on the tokio
//! runtime that creates the backend, or, outside any runtime, on a thread of its own with a
//! current-thread runtime. It ends when the backend is dropped.

use std::net::{IpAddr, SocketAddr};

use embedded_io_adapters::tokio_1::FromTokio;
use embedded_nal_async::{AddrType, Dns, TcpConnect};
use ota_core::Input;
use ota_http_reqwless::{Flow, HEADER_BUFFER, HttpBuffers, HttpRunner, RangeLink, RangeRequest};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::{BoxFuture, HttpBackend, HttpMsg, HttpRequest};

/// `embedded-nal-async` TCP and DNS on tokio: what [`HttpRunner`] connects with on a host.
/// Connections have `TCP_NODELAY` set; DNS goes through the system resolver
/// ([`tokio::net::lookup_host`]); reverse lookups are not supported.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioStack;

impl TcpConnect for TokioStack {
    type Error = std::io::Error;
    type Connection<'a> = FromTokio<TcpStream>;

    async fn connect<'a>(
        &'a self,
        remote: SocketAddr,
    ) -> Result<Self::Connection<'a>, Self::Error> {
        let s = TcpStream::connect(remote).await?;
        s.set_nodelay(true)?;
        Ok(FromTokio::new(s))
    }
}

impl Dns for TokioStack {
    type Error = std::io::Error;

    async fn get_host_by_name(
        &self,
        host: &str,
        addr_type: AddrType,
    ) -> Result<IpAddr, Self::Error> {
        let wanted = |ip: &IpAddr| match addr_type {
            AddrType::IPv4 => ip.is_ipv4(),
            AddrType::IPv6 => ip.is_ipv6(),
            AddrType::Either => true,
        };
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            if wanted(&ip) {
                return Ok(ip);
            }
        }
        tokio::net::lookup_host((host, 0))
            .await?
            .map(|a| a.ip())
            .find(wanted)
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host}: no address"))
            })
    }

    async fn get_host_by_address(
        &self,
        _addr: IpAddr,
        _result: &mut [u8],
    ) -> Result<usize, Self::Error> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "reverse DNS is not supported",
        ))
    }
}

/// One request handed to the runner.
struct Job {
    req: HttpRequest,
    out: mpsc::Sender<HttpMsg>,
    /// Closed when the fetch future is dropped: the agent no longer wants the answer.
    cancel: oneshot::Receiver<()>,
    /// Dropped when the runner lets go of the request: the fetch future returns.
    _done: oneshot::Sender<()>,
}

/// The request the runner is serving.
struct Current {
    id: u64,
    max_chunk: usize,
    out: mpsc::Sender<HttpMsg>,
    cancel: oneshot::Receiver<()>,
    cancelled: bool,
    _done: oneshot::Sender<()>,
}

impl Current {
    fn is_cancelled(&mut self) -> bool {
        if !self.cancelled
            && !matches!(
                self.cancel.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            )
        {
            self.cancelled = true;
        }
        self.cancelled
    }

    /// Sends `msg` unless the request is cancelled first.
    async fn send(&mut self, msg: HttpMsg) -> Flow {
        if self.is_cancelled() {
            return Flow::Cancel;
        }
        tokio::select! {
            r = self.out.send(msg) => match r {
                Ok(()) => Flow::Continue,
                // Nobody listens any more: as good as cancelled.
                Err(_) => { self.cancelled = true; Flow::Cancel }
            },
            _ = &mut self.cancel => { self.cancelled = true; Flow::Cancel }
        }
    }
}

/// The runner's view of the agent: requests from `jobs`, answers to each request's channel.
struct ChannelLink {
    jobs: mpsc::UnboundedReceiver<Job>,
    current: Option<Current>,
}

impl RangeLink for ChannelLink {
    async fn next_request(&mut self, url: &mut [u8]) -> Option<RangeRequest> {
        // Letting go of the previous request completes its fetch future.
        self.current = None;
        loop {
            let job = self.jobs.recv().await?;
            let mut cur = Current {
                id: job.req.id,
                max_chunk: job.req.max_chunk.max(1),
                out: job.out,
                cancel: job.cancel,
                cancelled: false,
                _done: job._done,
            };
            if cur.is_cancelled() {
                continue;
            }
            let bytes = job.req.url.as_bytes();
            let Some(dst) = url.get_mut(..bytes.len()) else {
                // Longer than the runner's URL buffer: refuse it.
                let id = cur.id;
                let _ = cur.send(HttpMsg::Failed { id }).await;
                continue;
            };
            dst.copy_from_slice(bytes);
            let req = RangeRequest {
                url_len: bytes.len(),
                first: job.req.first,
                last: job.req.last,
            };
            self.current = Some(cur);
            return Some(req);
        }
    }

    async fn input<'i>(&mut self, input: Input<'i>) -> Flow {
        let Some(cur) = self.current.as_mut() else {
            return Flow::Cancel;
        };
        let id = cur.id;
        match input {
            Input::HttpResponse {
                status,
                content_range,
            } => {
                cur.send(HttpMsg::Response {
                    id,
                    status,
                    content_range,
                })
                .await
            }
            Input::HttpBody(data) => {
                for part in data.chunks(cur.max_chunk) {
                    let msg = HttpMsg::Body {
                        id,
                        data: part.to_vec(),
                    };
                    if cur.send(msg).await == Flow::Cancel {
                        return Flow::Cancel;
                    }
                }
                Flow::Continue
            }
            Input::HttpDone => cur.send(HttpMsg::Done { id }).await,
            Input::HttpFailed => cur.send(HttpMsg::Failed { id }).await,
            _ => Flow::Continue,
        }
    }

    async fn cancelled(&mut self) {
        match self.current.as_mut() {
            Some(cur) if !cur.cancelled => {
                let _ = (&mut cur.cancel).await;
                cur.cancelled = true;
            }
            Some(_) => {}
            None => std::future::pending::<()>().await,
        }
    }
}

/// Range downloads with reqwless over tokio sockets (plain HTTP), with keep-alive.
///
/// ```no_run
/// # fn f() -> std::io::Result<()> {
/// use std::sync::Arc;
/// let http: Arc<dyn ota_os_std::http::HttpBackend> =
///     Arc::new(ota_os_std::http::ReqwlessBackend::new(4096)?);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ReqwlessBackend {
    jobs: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("req", &self.req)
            .finish_non_exhaustive()
    }
}

/// Largest URL the runner takes (presigned S3 URLs are 1.5 KB and more).
pub const URL_BUFFER: usize = 4096;

impl ReqwlessBackend {
    /// A backend whose runner reads bodies in chunks of up to `chunk` bytes (chunks are split
    /// further to the agent's `max_body_chunk`). The runner is a task of the current tokio
    /// runtime; called outside one, it gets a thread of its own.
    ///
    /// # Errors
    /// Outside a runtime: the thread or its runtime could not be started.
    pub fn new(chunk: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let runner = serve(rx, chunk.max(1));
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(runner);
            }
            Err(_) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                std::thread::Builder::new()
                    .name("ota-http".into())
                    .spawn(move || rt.block_on(runner))?;
            }
        }
        Ok(Self { jobs: tx })
    }
}

async fn serve(jobs: mpsc::UnboundedReceiver<Job>, chunk: usize) {
    let mut url = vec![0u8; URL_BUFFER];
    let mut header = vec![0u8; HEADER_BUFFER];
    let mut body = vec![0u8; chunk];
    let buffers = HttpBuffers {
        url: &mut url,
        header: &mut header,
        chunk: &mut body,
    };
    let stack = TokioStack;
    let mut runner = HttpRunner::new(&stack, &stack, buffers);
    let mut link = ChannelLink {
        jobs,
        current: None,
    };
    runner.run(&mut link).await;
    log::debug!("HTTP runner ends: {:?}", runner.stats());
}

impl HttpBackend for ReqwlessBackend {
    fn fetch(&self, req: HttpRequest, out: mpsc::Sender<HttpMsg>) -> BoxFuture {
        let (cancel_tx, cancel) = oneshot::channel();
        let (done, done_rx) = oneshot::channel();
        let id = req.id;
        let sent = self.jobs.send(Job {
            req,
            out,
            cancel,
            _done: done,
        });
        Box::pin(async move {
            // Held until the runner is done with the request; dropping it cancels.
            let _cancel = cancel_tx;
            match sent {
                Ok(()) => {
                    let _ = done_rx.await;
                }
                Err(mpsc::error::SendError(job)) => {
                    // The runner is gone.
                    let _ = job.out.send(HttpMsg::Failed { id }).await;
                }
            }
        })
    }
}

// The runner future must stay `Send` to be spawned on a multi-threaded runtime.
const _: fn() = || {
    fn is_send<T: Send>(_: &T) {}
    let (_tx, rx) = mpsc::unbounded_channel::<Job>();
    is_send(&serve(rx, 1));
};
