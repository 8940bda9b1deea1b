//! HTTP range downloads (presigned S3 URLs) for [`crate::OtaTask`].
//!
//! With feature `http-reqwless`, give the task an `ota_http_reqwless::HttpRunner` with
//! [`crate::OtaTask::with_http`]: when the agent asks for a range (`Action::HttpGet`) the task
//! copies the URL, runs one exchange through the runner, and feeds the response, the body
//! chunks and the end to the agent, draining its actions (flash writes, statuses) after each
//! input, exactly as for MQTT messages. An exchange is bounded by the agent's own deadline
//! (its request timeout, re-armed by every body chunk): when it passes, the exchange is
//! abandoned and the agent's timer logic retries. Without an executor ([`NoHttp`], the
//! default) every request fails at once; configure such devices with `http_enabled = false`.

/// Executes HTTP range requests for the task.
#[allow(async_fn_in_trait)]
pub trait HttpExec {
    /// Serves the requests `link` hands out until it returns `None`.
    #[cfg(feature = "http-reqwless")]
    async fn serve<L: ota_http_reqwless::RangeLink>(&mut self, link: &mut L);
}

/// No HTTP: requests fail at once (`Input::HttpFailed`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHttp;

impl HttpExec for NoHttp {
    #[cfg(feature = "http-reqwless")]
    async fn serve<L: ota_http_reqwless::RangeLink>(&mut self, link: &mut L) {
        // A zero-length URL buffer: the link answers the request with `HttpFailed`.
        let _ = link.next_request(&mut []).await;
    }
}

impl<H: HttpExec> HttpExec for &mut H {
    #[cfg(feature = "http-reqwless")]
    async fn serve<L: ota_http_reqwless::RangeLink>(&mut self, link: &mut L) {
        (**self).serve(link).await;
    }
}

#[cfg(feature = "http-reqwless")]
impl<'a, T, D> HttpExec for ota_http_reqwless::HttpRunner<'a, T, D>
where
    T: embedded_nal_async::TcpConnect + 'a,
    D: embedded_nal_async::Dns + 'a,
{
    async fn serve<L: ota_http_reqwless::RangeLink>(&mut self, link: &mut L) {
        self.run(link).await;
    }
}

/// The request the agent asked for, waiting for the executor.
#[cfg(feature = "http-reqwless")]
pub(crate) struct HttpState {
    pub(crate) url: heapless::Vec<u8, { ota_http_reqwless::URL_CAPACITY }>,
    pub(crate) req: Option<(u32, u32)>,
    /// The agent cancelled the exchange in progress.
    pub(crate) cancelled: bool,
}

#[cfg(feature = "http-reqwless")]
impl HttpState {
    pub(crate) const fn new() -> Self {
        Self {
            url: heapless::Vec::new(),
            req: None,
            cancelled: false,
        }
    }

    /// Copies a request; `false` if the URL is too long (the agent gets `HttpFailed`).
    pub(crate) fn stage(&mut self, url: &str, first: u32, last: u32) -> bool {
        self.url.clear();
        if self.url.extend_from_slice(url.as_bytes()).is_err() {
            self.req = None;
            return false;
        }
        self.req = Some((first, last));
        true
    }

    pub(crate) fn cancel(&mut self) {
        self.req = None;
        self.cancelled = true;
    }
}
