//! The [`Cloud`]: one object holding Jobs, streams and the S3 stand-in, driven by messages and
//! time passed in.

use std::collections::VecDeque;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::CloudError;
use crate::http::{HttpReply, HttpStats, HttpStore};
use crate::jobs::{
    Ctx, JobExecution, JobExecutionStatus, JobOptions, JobStatus, Jobs, StatusRecord,
};
use crate::json::JsonEscaping;
use crate::streams::{
    BlockEncoding, MAX_FILES_PER_STREAM, ServedRequest, StreamErrorCode, StreamStats, Streams,
};
use crate::topics::{self, Parsed, StreamOp};

/// A message the cloud publishes. The harness or broker delivers it to the subscribers of
/// `topic` (in AWS, Jobs replies reach the requesting client even without a subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The MQTT topic, e.g. `$aws/things/dev1/jobs/notify-next`.
    pub topic: String,
    /// The payload: JSON text for Jobs and `/json` streams, CBOR for `/cbor` streams.
    pub payload: Vec<u8>,
}

impl Outgoing {
    /// The thing name in the topic (every topic the cloud publishes has one).
    pub fn thing_name(&self) -> Option<&str> {
        topics::thing_of(&self.topic)
    }

    /// The payload parsed as JSON (`None` for CBOR payloads or invalid JSON).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok()
    }
}

/// What [`Cloud::handle_publish`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Handled {
    /// A Jobs request: answered (accepted or rejected).
    Jobs,
    /// A stream request: answered (blocks, description or rejected).
    Stream,
    /// Not a request for the cloud (another topic, or one of the cloud's own output topics).
    Ignored,
}

/// How an accepted update's `statusDetails` combine with the stored ones.
///
/// The AWS API reference only says "If not specified, the statusDetails are unchanged"; it does
/// not say that given details are merged key by key. The model therefore defaults to
/// [`Replace`](Self::Replace): a given map becomes the execution's `statusDetails` as a whole
/// (which is what the FreeRTOS agent's progress, `self_test` and `reason` updates rely on either
/// way, since each carries every key it needs). [`Merge`](Self::Merge) is there to test a device
/// against the other reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StatusDetailsMode {
    /// A given `statusDetails` replaces the stored map (default).
    #[default]
    Replace,
    /// A given `statusDetails` is merged into the stored map, key by key.
    Merge,
}

/// Settings of the model. Every field has a default (see [`CloudConfig::default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudConfig {
    /// Seeds everything that would be random (the presigned-URL secret). Default 0.
    pub seed: u64,
    /// Host (and port) written into presigned URLs. Default `"localhost:8080"`.
    pub http_host: String,
    /// Scheme of presigned URLs. Default `"http"`.
    pub http_scheme: String,
    /// Region written into the presign credential. Default `"us-east-1"`.
    pub region: String,
    /// Lifetime of presigned URLs substituted into job documents, unless the job sets its own
    /// ([`JobOptions`]). Default 1800 s (the AWS default; AWS allows 60–3600).
    pub presign_expiry_s: u64,
    /// Escaping of the Jobs JSON the cloud publishes. Default [`JsonEscaping::Ampersand`].
    pub json_escaping: JsonEscaping,
    /// Replace or merge `statusDetails`. Default [`StatusDetailsMode::Replace`].
    pub status_details_mode: StatusDetailsMode,
    /// Also publish `$aws/things/<thing>/jobs/notify` (pending list changed). Default false: a
    /// harness that delivers every outgoing message to the device would otherwise deliver a
    /// topic the device never subscribed to.
    pub publish_notify: bool,
    /// Encode CBOR data blocks as indefinite-length maps (`bf ... ff`), as seen from the service
    /// in the wild. Default false (definite maps).
    pub indefinite_length_blocks: bool,
    /// Echo the request's client token as `c` in every data block. Default false (the captured
    /// service responses carry only `f`, `i`, `l`, `p`).
    pub echo_client_token_in_blocks: bool,
    /// Require a valid presigned query on HTTP GETs. Default true; false serves any path.
    pub require_presigned: bool,
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            http_host: "localhost:8080".to_owned(),
            http_scheme: "http".to_owned(),
            region: "us-east-1".to_owned(),
            presign_expiry_s: 1800,
            json_escaping: JsonEscaping::Ampersand,
            status_details_mode: StatusDetailsMode::Replace,
            publish_notify: false,
            indefinite_length_blocks: false,
            echo_client_token_in_blocks: false,
            require_presigned: true,
        }
    }
}

/// The AWS side of OTA as a sans-IO state machine: IoT Jobs, MQTT-based file delivery and an
/// S3 stand-in for presigned HTTP downloads.
///
/// Feed every message a device publishes to [`handle_publish`](Self::handle_publish), then drain
/// [`poll`](Self::poll) and deliver what comes out. Control-plane calls (creating jobs, streams,
/// objects; canceling) queue their notifications the same way. Time is only what callers pass
/// in (`now_ms`, read as milliseconds since the Unix epoch); nothing is random except through
/// [`CloudConfig::seed`]. Any number of things can be served at once.
///
/// ```
/// use ota_cloud::{Cloud, CloudConfig, OtaFile, OtaJobBuilder, topics};
///
/// let mut cloud = Cloud::new(CloudConfig::default());
/// cloud.create_stream("s1", vec![(0, vec![7; 1000])]).unwrap();
/// let doc = OtaJobBuilder::new().stream_name("s1").file(OtaFile::new(0, 1000)).build();
/// cloud.create_job(0, "job1", ["dev1"], doc).unwrap();
/// let notify = cloud.poll().unwrap();
/// assert_eq!(notify.topic, topics::notify_next("dev1"));
///
/// cloud.handle_publish(1000, &topics::job_update("dev1", "job1"), br#"{"status":"IN_PROGRESS"}"#);
/// assert_eq!(cloud.poll().unwrap().topic, "$aws/things/dev1/jobs/job1/update/accepted");
/// ```
pub struct Cloud {
    config: CloudConfig,
    jobs: Jobs,
    streams: Streams,
    http: HttpStore,
    out: VecDeque<Outgoing>,
}

impl core::fmt::Debug for Cloud {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cloud")
            .field("config", &self.config)
            .field("pending_outgoing", &self.out.len())
            .finish_non_exhaustive()
    }
}

fn valid_stream_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Cloud {
    /// A cloud with no jobs, streams or objects.
    pub fn new(config: CloudConfig) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"ota-cloud presign secret");
        hasher.update(config.seed.to_le_bytes());
        let secret: [u8; 32] = hasher.finalize().into();
        Self {
            config,
            jobs: Jobs::new(),
            streams: Streams::new(),
            http: HttpStore::new(secret),
            out: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    /// The settings, to change between calls (e.g. the HTTP host once a server has bound).
    /// Changing `seed` has no effect after [`Cloud::new`].
    pub fn config_mut(&mut self) -> &mut CloudConfig {
        &mut self.config
    }

    fn ctx(&mut self, now_ms: u64) -> (&mut Jobs, Ctx<'_>) {
        (
            &mut self.jobs,
            Ctx {
                now_ms,
                config: &self.config,
                http: &mut self.http,
                out: &mut self.out,
            },
        )
    }

    // ---- MQTT ---------------------------------------------------------------------------

    /// Handles one message a device published on `topic`.
    ///
    /// Jobs requests (`$aws/things/<thing>/jobs/...`: `$next/get`, `<jobId>/get`, `get`,
    /// `start-next`, `<jobId>/update`) are answered on `<topic>/accepted` or `<topic>/rejected`;
    /// stream requests (`$aws/things/<thing>/streams/<id>/get/{cbor,json}` and
    /// `.../describe/{cbor,json}`) on `.../data/<fmt>`, `.../description/<fmt>` or
    /// `.../rejected/<fmt>`. Topics in those namespaces that map to no API get an `InvalidTopic`
    /// error on `<topic>/rejected`. Everything else is [`Handled::Ignored`].
    pub fn handle_publish(&mut self, now_ms: u64, topic: &str, payload: &[u8]) -> Handled {
        match topics::parse(topic) {
            Parsed::Jobs { thing, rest } => {
                let (jobs, mut ctx) = self.ctx(now_ms);
                if jobs.handle(thing, rest, topic, payload, &mut ctx) {
                    Handled::Jobs
                } else {
                    Handled::Ignored
                }
            }
            Parsed::Stream {
                thing,
                stream,
                op,
                format,
            } => {
                let encoding = BlockEncoding {
                    indefinite_maps: self.config.indefinite_length_blocks,
                    echo_client_token: self.config.echo_client_token_in_blocks,
                };
                match op {
                    StreamOp::Get => self.streams.handle_get(
                        now_ms,
                        thing,
                        stream,
                        format,
                        payload,
                        encoding,
                        &mut self.out,
                    ),
                    StreamOp::Describe => {
                        self.streams
                            .handle_describe(thing, stream, format, payload, &mut self.out);
                    }
                    StreamOp::Output => return Handled::Ignored,
                }
                Handled::Stream
            }
            Parsed::BadStream { .. } => {
                if topic.ends_with("/rejected") {
                    return Handled::Ignored;
                }
                self.streams.handle_invalid_topic(topic, &mut self.out);
                Handled::Stream
            }
            Parsed::Other => Handled::Ignored,
        }
    }

    /// The next message the cloud publishes, oldest first.
    #[must_use]
    pub fn poll(&mut self) -> Option<Outgoing> {
        self.out.pop_front()
    }

    /// Every queued message, oldest first.
    #[must_use]
    pub fn drain(&mut self) -> Vec<Outgoing> {
        self.out.drain(..).collect()
    }

    /// How many messages are queued.
    pub fn pending_outgoing(&self) -> usize {
        self.out.len()
    }

    // ---- Jobs control plane ---------------------------------------------------------------

    /// Creates a job with one execution (QUEUED) per target thing, and publishes notify-next to
    /// every target whose next pending execution changed (one with no other pending job).
    pub fn create_job<I, S>(
        &mut self,
        now_ms: u64,
        job_id: &str,
        targets: I,
        document: Value,
    ) -> Result<(), CloudError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.create_job_with_options(now_ms, job_id, targets, document, JobOptions::default())
    }

    /// [`create_job`](Self::create_job) with per-job options (presigned-URL lifetime).
    pub fn create_job_with_options<I, S>(
        &mut self,
        now_ms: u64,
        job_id: &str,
        targets: I,
        document: Value,
        options: JobOptions,
    ) -> Result<(), CloudError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let targets = targets.into_iter().map(Into::into).collect();
        let (jobs, mut ctx) = self.ctx(now_ms);
        jobs.create_job(job_id, targets, document, options, &mut ctx)
    }

    /// Cancels a job (AWS CancelJob). Without `force` only QUEUED executions become CANCELED;
    /// IN_PROGRESS ones continue and may still reach SUCCEEDED or FAILED. With `force`,
    /// IN_PROGRESS executions become CANCELED too, and the device's later updates are rejected
    /// with `TerminalStateReached`. Each thing whose next pending execution changed gets a
    /// notify-next. Calling it again (e.g. with `force` after a plain cancel) is allowed.
    /// Returns how many executions were canceled.
    pub fn cancel_job(
        &mut self,
        now_ms: u64,
        job_id: &str,
        force: bool,
    ) -> Result<usize, CloudError> {
        let (jobs, mut ctx) = self.ctx(now_ms);
        jobs.cancel_job(job_id, force, &mut ctx)
    }

    /// Cancels one execution (AWS CancelJobExecution): QUEUED always, IN_PROGRESS only with
    /// `force` (else [`CloudError::InvalidStateTransition`]), terminal ones never.
    pub fn cancel_job_execution(
        &mut self,
        now_ms: u64,
        thing: &str,
        job_id: &str,
        force: bool,
    ) -> Result<(), CloudError> {
        let (jobs, mut ctx) = self.ctx(now_ms);
        jobs.service_set(thing, job_id, JobExecutionStatus::Canceled, force, &mut ctx)
    }

    /// Times an execution out (what a step or in-progress timeout does): QUEUED or IN_PROGRESS
    /// to TIMED_OUT.
    pub fn time_out_execution(
        &mut self,
        now_ms: u64,
        thing: &str,
        job_id: &str,
    ) -> Result<(), CloudError> {
        let (jobs, mut ctx) = self.ctx(now_ms);
        jobs.service_set(thing, job_id, JobExecutionStatus::TimedOut, true, &mut ctx)
    }

    /// Removes an execution (the thing left the job's target group): to REMOVED.
    pub fn remove_execution(
        &mut self,
        now_ms: u64,
        thing: &str,
        job_id: &str,
    ) -> Result<(), CloudError> {
        let (jobs, mut ctx) = self.ctx(now_ms);
        jobs.service_set(thing, job_id, JobExecutionStatus::Removed, true, &mut ctx)
    }

    /// One execution, with its history.
    pub fn execution(&self, thing: &str, job_id: &str) -> Option<&JobExecution> {
        self.jobs.execution(thing, job_id)
    }

    /// The current status of one execution.
    pub fn execution_status(&self, thing: &str, job_id: &str) -> Option<JobExecutionStatus> {
        self.jobs.execution(thing, job_id).map(|e| e.status)
    }

    /// Every accepted change of one execution, oldest first (empty if there is no such execution).
    pub fn execution_history(&self, thing: &str, job_id: &str) -> &[StatusRecord] {
        self.jobs
            .execution(thing, job_id)
            .map_or(&[], |e| e.history.as_slice())
    }

    /// Every execution of a thing, in creation order.
    pub fn executions_of(&self, thing: &str) -> Vec<&JobExecution> {
        self.jobs.executions_of(thing)
    }

    /// The job id `$next/get` would answer with for this thing now.
    pub fn next_pending_job(&self, thing: &str) -> Option<&str> {
        self.jobs.next_pending_job(thing)
    }

    /// The status of a job as a whole.
    pub fn job_status(&self, job_id: &str) -> Option<JobStatus> {
        self.jobs.job_status(job_id)
    }

    /// The job document as stored (with presigned-URL placeholders).
    pub fn job_document(&self, job_id: &str) -> Option<&Value> {
        self.jobs.job_document(job_id)
    }

    /// The job document as it would be sent at `now_ms` (placeholders replaced by presigned URLs;
    /// no JSON escaping applied).
    pub fn rendered_job_document(&mut self, now_ms: u64, job_id: &str) -> Option<Value> {
        let mut scratch = VecDeque::new();
        let mut ctx = Ctx {
            now_ms,
            config: &self.config,
            http: &mut self.http,
            out: &mut scratch,
        };
        self.jobs.rendered_document(job_id, &mut ctx)
    }

    // ---- streams ----------------------------------------------------------------------------

    /// Creates (or replaces, bumping its version) a stream of `(file id, bytes)` files, as
    /// CreateStream does. Ids are 1–128 characters of `[a-zA-Z0-9_-]`; 1–50 files with unique ids
    /// 0–255. Returns the stream version (1 for a new stream).
    pub fn create_stream(
        &mut self,
        stream_id: &str,
        files: Vec<(u32, Vec<u8>)>,
    ) -> Result<u64, CloudError> {
        if !valid_stream_id(stream_id) {
            return Err(CloudError::InvalidStreamId(stream_id.to_owned()));
        }
        if files.is_empty() || files.len() > MAX_FILES_PER_STREAM {
            return Err(CloudError::BadFileCount(files.len()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (id, _) in &files {
            if *id > 255 || !seen.insert(*id) {
                return Err(CloudError::BadFileId(*id));
            }
        }
        Ok(self.streams.create(stream_id, files))
    }

    /// Sets the description DescribeStream returns (`d`).
    pub fn set_stream_description(
        &mut self,
        stream_id: &str,
        description: &str,
    ) -> Result<(), CloudError> {
        if self.streams.set_description(stream_id, description) {
            Ok(())
        } else {
            Err(CloudError::UnknownStream(stream_id.to_owned()))
        }
    }

    /// Deletes a stream; later requests get `ResourceNotFound`. Returns whether it existed.
    pub fn delete_stream(&mut self, stream_id: &str) -> bool {
        self.streams.delete(stream_id)
    }

    /// Whether the stream exists.
    pub fn has_stream(&self, stream_id: &str) -> bool {
        self.streams.contains(stream_id)
    }

    /// The stream's version (`s`).
    pub fn stream_version(&self, stream_id: &str) -> Option<u64> {
        self.streams.version(stream_id)
    }

    /// Stream counters.
    pub fn stream_stats(&self) -> StreamStats {
        self.streams.stats()
    }

    /// The GetStream requests so far (at most [`STREAM_LOG_CAP`](crate::STREAM_LOG_CAP) of the
    /// latest), with the blocks sent or the error.
    pub fn stream_log(&self) -> &[ServedRequest] {
        self.streams.log()
    }

    /// Takes and clears the GetStream log.
    pub fn take_stream_log(&mut self) -> Vec<ServedRequest> {
        self.streams.take_log()
    }

    /// Rejects the next `count` well-formed GetStream requests with `code` (fault injection).
    pub fn inject_stream_errors(&mut self, code: StreamErrorCode, count: usize) {
        self.streams.inject(code, count);
    }

    // ---- HTTP / S3 --------------------------------------------------------------------------

    /// Stores (or replaces) an object. A leading `/` in `key` is ignored.
    pub fn put_object(&mut self, key: &str, bytes: Vec<u8>) {
        self.http.put_object(key, bytes);
    }

    /// An object's bytes.
    pub fn object(&self, key: &str) -> Option<&[u8]> {
        self.http.object(key)
    }

    /// Deletes an object; returns whether it existed.
    pub fn remove_object(&mut self, key: &str) -> bool {
        self.http.remove_object(key)
    }

    /// A presigned GET URL for `key`, valid from `now_ms` for `expires_in_s` seconds (clamped to
    /// 1..=604800), of the form
    /// `<scheme>://<host>/<key>?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...&X-Amz-Date=...&X-Amz-Expires=N&X-Amz-SignedHeaders=host&X-Amz-Signature=<hex>`.
    /// The signature is an HMAC-SHA256 (keyed by a secret derived from the seed) over the path and
    /// every other query parameter, so changing any of them is detected. The object need not
    /// exist yet.
    pub fn presign(&self, now_ms: u64, key: &str, expires_in_s: u64) -> String {
        self.http.presign(
            &self.config.http_scheme,
            &self.config.http_host,
            &self.config.region,
            now_ms,
            key,
            expires_in_s,
        )
    }

    /// Answers one GET. `target` is the request target (`/key?query`) or a whole URL; `range` is
    /// the `Range` header value if any. See [`HttpReply`] and the `http` module docs for the
    /// statuses.
    pub fn http_get(&mut self, now_ms: u64, target: &str, range: Option<&str>) -> HttpReply {
        self.http
            .get(now_ms, self.config.require_presigned, target, range)
    }

    /// When true, `Range` headers are ignored and every GET is a `200` with the whole object
    /// (a server without range support).
    pub fn set_ignore_range(&mut self, ignore: bool) {
        self.http.ignore_range = ignore;
    }

    /// Serves the next `n` GETs normally, then answers every GET with `403 AccessDenied`
    /// ("Request has expired") until [`clear_http_faults`](Self::clear_http_faults).
    pub fn fail_after_requests(&mut self, n: u64) {
        self.http.fail_after_requests(Some(n));
    }

    /// Ends [`fail_after_requests`](Self::fail_after_requests).
    pub fn clear_http_faults(&mut self) {
        self.http.fail_after_requests(None);
    }

    /// HTTP counters.
    pub fn http_stats(&self) -> HttpStats {
        self.http.stats()
    }
}
