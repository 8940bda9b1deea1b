//! HTTP range downloads for the agent's [`ota_core::Action::HttpGet`]: a pluggable backend that
//! runs each request in its own task and streams the answer back as messages, so the agent's
//! loop keeps servicing MQTT (keep-alive, job notifications) while a range downloads.

use std::future::Future;
use std::pin::Pin;

use ota_core::codec::http::ContentRange;
use tokio::sync::mpsc;

/// One range request of the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Sequence number: messages of a cancelled request are recognised and dropped.
    pub id: u64,
    /// The presigned URL.
    pub url: String,
    /// First byte (inclusive).
    pub first: u32,
    /// Last byte (inclusive).
    pub last: u32,
    /// Largest body chunk the agent takes at once ([`ota_core::Agent::max_body_chunk`]).
    pub max_chunk: usize,
}

/// What a backend reports about a request, in order: one `Response`, zero or more `Body`
/// chunks (each at most `max_chunk` bytes), then `Done`; or `Failed` at any point.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpMsg {
    /// Status line and `Content-Range`.
    Response {
        /// Request id.
        id: u64,
        /// HTTP status.
        status: u16,
        /// The parsed `Content-Range`, if any.
        content_range: Option<ContentRange>,
    },
    /// Body bytes.
    Body {
        /// Request id.
        id: u64,
        /// At most `max_chunk` bytes.
        data: Vec<u8>,
    },
    /// The body ended.
    Done {
        /// Request id.
        id: u64,
    },
    /// The request failed below HTTP.
    Failed {
        /// Request id.
        id: u64,
    },
}

impl HttpMsg {
    /// The request the message belongs to.
    pub fn id(&self) -> u64 {
        match self {
            HttpMsg::Response { id, .. }
            | HttpMsg::Body { id, .. }
            | HttpMsg::Done { id }
            | HttpMsg::Failed { id } => *id,
        }
    }
}

/// A boxed, sendable future.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Executes range requests. [`crate::run`] spawns the returned future on the tokio runtime
/// and aborts it on [`ota_core::Action::HttpCancel`] or a newer request.
pub trait HttpBackend: Send + Sync + 'static {
    /// Performs `req`, sending its [`HttpMsg`]s to `out` (a closed channel means nobody waits
    /// any more: stop).
    fn fetch(&self, req: HttpRequest, out: mpsc::Sender<HttpMsg>) -> BoxFuture;
}

#[cfg(feature = "http-reqwless")]
mod reqwless;
#[cfg(feature = "http-reqwless")]
pub use self::reqwless::{ReqwlessBackend, TokioStack, URL_BUFFER};

#[cfg(feature = "https")]
mod hyper;
#[cfg(feature = "https")]
pub use self::hyper::{ByScheme, HyperBackend};
