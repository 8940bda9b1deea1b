//! The agent: one value that owns the protocol state of one device's OTA updates.

mod queue;
mod render;

use crate::bitmap::Bitmap;
use crate::codec::cbor;
use crate::codec::job::{
    self, ExecutionStatus, JobDocument, JobError, MAX_FILES, OtaJob, SelfTestMark,
};
use crate::codec::json::{self, RawStr};
use crate::codec::status::{self, JobsErrorCode};
use crate::config::{Config, ConfigError, MAX_REQUEST_BYTES, Protocol};
use crate::resume::{self, ResumeRecord};
use crate::time::{Duration, Instant, Timer, TimerTable};
use crate::types::{
    Action, BootInfo, Command, FailReason, ImageState, Input, PalError, PlatformImageState, QoS,
    State, Statistics,
};
use crate::verify::ImageVerifier;
use core::fmt;
use queue::{Detail, Note, Pending, Queue, Slot, StatusMsg, Topic};

/// Caller-owned memory of an agent. Nothing else of size is allocated by the agent (its own
/// state is about 2.3 KB on 32-bit targets).
///
/// Sizing rules:
/// - `block`: at least the block size, and at least [`resume::max_record_len`]`(bitmap.len())`
///   (resume records are rendered into it). HTTP body chunks and flash read-backs are at most
///   this long.
/// - `job`: the largest Jobs document to accept (AWS's limit is 32 KB; `CreateOTAUpdate`
///   documents are usually 1–2 KB per file).
/// - `bitmap`: `ceil(max_file_size / block_size / 8)` bytes: 128 B for 4 MiB at 4 KB blocks.
/// - `url`: the longest presigned URL (size it 2 KB); may be empty on MQTT-only devices.
#[derive(Debug)]
pub struct Buffers<'a> {
    /// Block assembly, flash read-back and resume-record rendering.
    pub block: &'a mut [u8],
    /// The current job document.
    pub job: &'a mut [u8],
    /// The block bitmap.
    pub bitmap: &'a mut [u8],
    /// The unescaped `update_data_url` of the current file.
    pub url: &'a mut [u8],
}

/// A mistake of the caller (not of the network): the input was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UsageError {
    /// An input other than [`Input::Start`] before the agent was started.
    NotStarted,
    /// A platform result ([`Input::PlatformDone`], [`Input::FileData`]) with no platform
    /// action outstanding, or of the wrong kind.
    UnexpectedPlatformResult,
    /// An [`Input::HttpBody`] chunk longer than [`Agent::max_body_chunk`], or delivered while a
    /// write is outstanding.
    BodyChunkTooLarge,
    /// [`Input::FileData`] of another length than asked.
    WrongReadLength,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UsageError::NotStarted => "agent not started",
            UsageError::UnexpectedPlatformResult => {
                "platform result with no platform action outstanding"
            }
            UsageError::BodyChunkTooLarge => {
                "HTTP body chunk larger than max_body_chunk() or while a write is outstanding"
            }
            UsageError::WrongReadLength => "file data of another length than asked",
        })
    }
}

impl core::error::Error for UsageError {}

/// A bounded, copyable id (job id or stream name).
#[derive(Clone, Copy)]
pub(crate) struct IdBuf<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> IdBuf<N> {
    const EMPTY: Self = Self {
        len: 0,
        bytes: [0; N],
    };
    fn set(&mut self, s: &str) -> bool {
        let b = s.as_bytes();
        if b.len() > N || b.len() > u8::MAX as usize {
            return false;
        }
        self.bytes[..b.len()].copy_from_slice(b);
        self.len = b.len() as u8;
        true
    }
    pub(crate) fn as_str(&self) -> &str {
        // Only ever set from a `&str`, so the bytes are UTF-8.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

/// What the outstanding platform (flash / bootloader) action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlatformOp {
    Create,
    WriteBlock { block: u32 },
    WriteHttp { offset: u32, len: u32 },
    Read { offset: u32, len: u32 },
    Close,
    SetState(ImageState),
    Activate,
}

/// What to do once a reported status is confirmed (or given up on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Back to idle and ask for the next job.
    NextJob,
    /// Reset the device (roll back).
    Reset,
    /// Offer activation to the application.
    ActivateGate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Created, not started.
    Init,
    /// Shut down.
    Stopped,
    /// No job; waiting for notify-next.
    Idle,
    /// `$next/get` sent, waiting for the answer.
    AwaitJob,
    /// A custom job was offered to the application.
    Custom,
    /// Waiting for `FileCreate`'s result.
    Creating,
    /// Requesting and receiving blocks.
    Download,
    /// Reading the file back for the signature check.
    Verify,
    /// Finalizing a non-firmware file.
    Closing,
    /// A status is published and awaits `/update/accepted`.
    Report(After),
    /// Verified firmware waits for the application's `Activate`.
    AwaitActivate,
    /// `Activate` was emitted.
    Activating,
    /// The new image is under test; waiting for accept/reject.
    SelfTest,
    /// Waiting for the result of `SetImageState` during the self-test outcome.
    Concluding,
    /// `Reset` was emitted; the agent waits to be dropped.
    Resetting,
}

/// The active OTA job.
#[derive(Clone, Copy)]
struct ActiveJob {
    slot: Slot,
    doc_len: usize,
    protocol: Protocol,
    order: [u8; MAX_FILES],
    files: u8,
    pos: u8,
}

/// The file being downloaded.
#[derive(Clone, Copy, Default)]
struct FileCtx {
    index: u8,
    file_id: u32,
    size: u32,
    file_type: u32,
    is_firmware: bool,
    url_len: usize,
    stored: u32,
    since_persist: u32,
    /// `stored` when the last progress status went out (the final one is not sent twice).
    reported: Option<u32>,
}

/// HTTP request bookkeeping.
#[derive(Clone, Copy, Default)]
struct HttpCtx {
    in_flight: bool,
    headers_seen: bool,
    first: u32,
    last: u32,
    cursor: u32,
    /// Block being assembled from contiguous written bytes, and how many of its bytes are done.
    asm_block: u32,
    asm_done: u32,
    refreshes: u32,
}

/// The resume record found at start, until a job document confirms or discards it.
#[derive(Clone, Copy)]
struct ResumeHint {
    job_id: IdBuf<64>,
    file_pos: u8,
    file_index: u8,
    file_id: u32,
    file_size: u32,
}

/// The sans-IO AWS IoT OTA agent.
///
/// See the [crate documentation](crate) for the run-loop contract. `V` checks code signatures
/// ([`crate::verify::P256Verifier`] by default).
pub struct Agent<'a, V: ImageVerifier> {
    cfg: Config<'a>,
    verifier: V,
    block: &'a mut [u8],
    job_buf: &'a mut [u8],
    url_buf: &'a mut [u8],
    bitmap: Bitmap<'a>,
    queue: Queue,
    timers: TimerTable,
    now: Instant,
    stats: Statistics,
    phase: Phase,
    platform_state: PlatformImageState,
    image_state: ImageState,
    link_up: bool,
    user_suspended: bool,
    slots: [IdBuf<64>; 2],
    cur_slot: Slot,
    streams: [IdBuf<128>; 2],
    job: Option<ActiveJob>,
    file: FileCtx,
    http: HttpCtx,
    platform_op: Option<PlatformOp>,
    /// Data window (first block, span) of the GetStream request being served.
    window: (u32, u32),
    /// Window of the request sent ahead of it ([`Config::request_ahead`]), if any.
    ahead: Option<(u32, u32)>,
    retries: u32,
    token: u32,
    report: Option<(StatusMsg, u32)>,
    updated_by: u32,
    resume_hint: Option<ResumeHint>,
    pending_failure: Option<FailReason>,
    custom_len: usize,
    recheck_job: bool,
    subscribed_stream: bool,
    /// Rendering scratch: topic and payload of the action last polled.
    topic_buf: [u8; MAX_TOPIC_LEN],
    payload_buf: [u8; MAX_PAYLOAD_LEN],
}

const BACKOFF_SHIFT_MAX: u32 = 16;

/// Longest topic (or topic filter) in an action the agent emits: `$aws/things/` + a 128-byte
/// thing name + `/streams/` + a 128-byte stream name + `/rejected/cbor` fits. Also bounds the
/// unescaped `filepath` in [`Action::FileCreate`]. Size MQTT transmit buffers with it.
pub const MAX_TOPIC_LEN: usize = 320;
/// Longest MQTT payload the agent publishes (status updates, `$next/get`, GetStream requests).
pub const MAX_PAYLOAD_LEN: usize = 512;

impl<'a, V: ImageVerifier> Agent<'a, V> {
    /// Creates an agent in state [`State::Init`]. Nothing happens until [`Input::Start`].
    pub fn new(cfg: Config<'a>, buffers: Buffers<'a>, verifier: V) -> Result<Self, ConfigError> {
        if !job::is_topic_safe(cfg.thing_name, 128) {
            return Err(ConfigError::BadThingName);
        }
        if !(256..=MAX_REQUEST_BYTES).contains(&cfg.block_size) {
            return Err(ConfigError::BadBlockSize);
        }
        if cfg.blocks_per_request == 0
            || cfg.blocks_per_request.saturating_mul(cfg.block_size) > MAX_REQUEST_BYTES
            || cfg.http_blocks_per_request == 0
        {
            return Err(ConfigError::BadBlocksPerRequest);
        }
        if buffers.block.len() < cfg.block_size as usize
            || buffers.block.len() < resume::max_record_len(buffers.bitmap.len())
        {
            return Err(ConfigError::BlockBufferTooSmall);
        }
        if buffers.bitmap.is_empty() {
            return Err(ConfigError::BitmapTooSmall);
        }
        if buffers.job.len() < 512 {
            return Err(ConfigError::JobBufferTooSmall);
        }
        if !cfg.mqtt_enabled && !cfg.http_enabled {
            return Err(ConfigError::NoProtocol);
        }
        if cfg.request_timeout == Duration::ZERO
            || cfg.self_test_timeout == Duration::ZERO
            || cfg.custom_job_timeout == Duration::ZERO
            || cfg.max_backoff == Duration::ZERO
            || cfg.status_every == 0
            || cfg.resume_every == 0
            || cfg.status_retries == 0
        {
            return Err(ConfigError::ZeroSetting);
        }
        Ok(Self {
            cfg,
            verifier,
            block: buffers.block,
            job_buf: buffers.job,
            url_buf: buffers.url,
            bitmap: Bitmap::new(buffers.bitmap),
            queue: Queue::new(),
            timers: TimerTable::default(),
            now: Instant::ZERO,
            stats: Statistics::default(),
            phase: Phase::Init,
            platform_state: PlatformImageState::Valid,
            image_state: ImageState::Unknown,
            link_up: true,
            user_suspended: false,
            slots: [IdBuf::EMPTY; 2],
            cur_slot: 0,
            streams: [IdBuf::EMPTY; 2],
            job: None,
            file: FileCtx::default(),
            http: HttpCtx::default(),
            platform_op: None,
            window: (0, 0),
            ahead: None,
            retries: 0,
            token: 0,
            report: None,
            updated_by: 0,
            resume_hint: None,
            pending_failure: None,
            custom_len: 0,
            recheck_job: false,
            subscribed_stream: false,
            topic_buf: [0; MAX_TOPIC_LEN],
            payload_buf: [0; MAX_PAYLOAD_LEN],
        })
    }

    /// The seed's `OTA_GetState`.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Init => return State::Init,
            Phase::Stopped => return State::Stopped,
            _ => {}
        }
        if self.suspended() {
            return State::Suspended;
        }
        match self.phase {
            Phase::Idle | Phase::AwaitJob | Phase::Custom => State::WaitingForJob,
            Phase::Creating => State::CreatingFile,
            Phase::Download => {
                if self.timers.get(Timer::Request).is_some() {
                    State::WaitingForFileBlock
                } else {
                    State::RequestingFileBlock
                }
            }
            Phase::Verify | Phase::Closing => State::WaitingForFileBlock,
            _ => State::WaitingForJob,
        }
    }

    /// The seed's `OTA_GetStatistics`.
    pub fn statistics(&self) -> Statistics {
        self.stats
    }

    /// The seed's `OTA_GetImageState`: the agent's view of the running image.
    pub fn image_state(&self) -> ImageState {
        self.image_state
    }

    /// The id of the job being processed, if any.
    pub fn active_job(&self) -> Option<&str> {
        self.job.map(|j| self.slots[j.slot as usize].as_str())
    }

    /// Largest [`Input::HttpBody`] chunk accepted (the block buffer's size).
    pub fn max_body_chunk(&self) -> usize {
        self.block.len()
    }

    /// Whether the agent is suspended (by command, or because the link is down).
    pub fn suspended(&self) -> bool {
        self.user_suspended || !self.link_up
    }

    /// The next deadline, if any: call [`Agent::handle_timeout`] then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Handles every timer expired at `now`. Calling it early is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some(t) = self.timers.take_expired(self.now) {
            self.on_timer(t);
        }
    }

    /// Applies one input. Drain [`Agent::poll`] after every call.
    ///
    /// Network and platform content never makes this fail (bad input is counted, dropped, or
    /// fails the job with a reason); `Err` means the caller broke the contract and nothing was
    /// applied.
    #[inline(never)]
    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Result<(), UsageError> {
        self.advance(now);
        if matches!(self.phase, Phase::Init | Phase::Stopped) && !matches!(input, Input::Start(_)) {
            return Err(UsageError::NotStarted);
        }
        match input {
            Input::Start(boot) => self.start(boot),
            Input::Command(c) => self.command(c),
            Input::Link(up) => self.link(up),
            Input::Message { topic, payload } => self.message(topic, payload),
            Input::HttpResponse {
                status,
                content_range,
            } => {
                return self.http_response(status, content_range);
            }
            Input::HttpBody(data) => return self.http_body(data),
            Input::HttpDone => return self.http_done(),
            Input::HttpFailed => {
                if !self.http.in_flight {
                    // The answer to a request the agent already cancelled.
                    return Ok(());
                }
                self.http.in_flight = false;
                if self.phase == Phase::Download && self.platform_op.is_none() {
                    self.retry_data();
                }
            }
            Input::PlatformDone(r) => return self.platform_done(r),
            Input::FileData(r) => return self.file_data(r),
        }
        Ok(())
    }

    /// The next action, if any. Each returned action borrows the agent: finish with it before
    /// polling again.
    #[must_use]
    pub fn poll(&mut self) -> Option<Action<'_>> {
        let p = self.queue.pop()?;
        Some(self.render(p))
    }

    #[inline(never)]
    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn backoff(&self) -> Duration {
        let k = self.retries.min(BACKOFF_SHIFT_MAX);
        let d = self.cfg.request_timeout.saturating_mul(1u64 << k);
        if d > self.cfg.max_backoff && self.cfg.max_backoff >= self.cfg.request_timeout {
            self.cfg.max_backoff
        } else {
            d
        }
    }

    #[inline(never)]
    fn arm(&mut self, t: Timer, d: Duration) {
        self.timers.set(t, self.now + d);
    }

    fn next_token(&mut self) -> u32 {
        self.token = self.token.wrapping_add(1);
        self.token
    }

    fn stream_slot(&self) -> Slot {
        self.job.map_or(self.cur_slot, |j| j.slot)
    }

    fn cur_id(&self) -> &str {
        self.slots[self.cur_slot as usize].as_str()
    }

    // ---------------------------------------------------------------- start, commands, link

    fn start(&mut self, boot: BootInfo<'_>) {
        self.queue.clear();
        self.timers.clear();
        self.job = None;
        self.platform_op = None;
        self.report = None;
        self.http = HttpCtx::default();
        self.bitmap.clear();
        self.user_suspended = false;
        self.link_up = true;
        self.subscribed_stream = false;
        self.platform_state = boot.platform_state;
        self.resume_hint = None;
        if let Some(rec) = boot.resume.and_then(ResumeRecord::decode) {
            let mut id = IdBuf::EMPTY;
            if rec.block_size == self.cfg.block_size
                && id.set(rec.job_id)
                && self
                    .bitmap
                    .restore(rec.file_size.div_ceil(rec.block_size), rec.bitmap)
            {
                self.resume_hint = Some(ResumeHint {
                    job_id: id,
                    file_pos: rec.file_pos,
                    file_index: rec.file_index,
                    file_id: rec.file_id,
                    file_size: rec.file_size,
                });
            } else {
                self.bitmap.clear();
            }
        }
        if boot.platform_state == PlatformImageState::PendingCommit && self.resume_hint.is_some() {
            // A record left from before the activation: the image it describes is running.
            self.resume_hint = None;
            self.bitmap.clear();
            self.queue.push(Pending::ClearResume);
        }
        self.image_state = if boot.platform_state == PlatformImageState::PendingCommit {
            self.arm(Timer::SelfTest, self.cfg.self_test_timeout);
            ImageState::Testing
        } else {
            ImageState::Unknown
        };
        self.phase = Phase::Idle;
        self.subscribe_jobs();
        self.request_job();
    }

    fn subscribe_jobs(&mut self) {
        self.queue.push(Pending::Sub(Topic::NotifyNext));
        self.queue.push(Pending::Sub(Topic::NextGetAnswers));
        self.queue.push(Pending::Sub(Topic::UpdateAnswers));
    }

    /// Publishes `$next/get` and waits for the answer (with retries and backoff).
    fn request_job(&mut self) {
        if self.suspended() {
            return;
        }
        let t = self.next_token();
        self.queue.push(Pending::NextGet(t));
        if matches!(self.phase, Phase::Idle | Phase::Download | Phase::AwaitJob) {
            if self.phase != Phase::Download {
                self.phase = Phase::AwaitJob;
            }
            self.arm(Timer::Request, self.backoff());
        }
        if self.phase == Phase::Download {
            // A refresh during a download: the answer continues it.
            self.recheck_job = false;
            self.arm(Timer::Request, self.backoff());
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::CheckForUpdate => {
                if matches!(self.phase, Phase::Idle | Phase::AwaitJob) {
                    self.retries = 0;
                    self.request_job();
                }
            }
            Command::Suspend => {
                if !self.user_suspended {
                    self.user_suspended = true;
                    self.on_suspend();
                }
            }
            Command::Resume => {
                if self.user_suspended {
                    self.user_suspended = false;
                    self.on_resume();
                }
            }
            Command::Accept => {
                if self.phase == Phase::SelfTest {
                    self.timers.stop(Timer::SelfTest);
                    self.set_platform(ImageState::Accepted);
                    self.phase = Phase::Concluding;
                }
            }
            Command::Reject => {
                if self.phase == Phase::SelfTest {
                    self.timers.stop(Timer::SelfTest);
                    self.conclude_self_test_failure(FailReason::SelfTestRejected);
                }
            }
            Command::Abort => {
                if self.job.is_some()
                    && matches!(
                        self.phase,
                        Phase::Download | Phase::AwaitJob | Phase::AwaitActivate | Phase::Verify
                    )
                {
                    if self.platform_op.is_some() {
                        // Let the outstanding operation finish; abort then.
                        self.recheck_job = true;
                    }
                    self.fail_job(FailReason::UserAbort);
                }
            }
            Command::Activate => {
                if self.phase == Phase::AwaitActivate {
                    self.activate();
                }
            }
            Command::ClaimCustomJob => {
                if self.phase == Phase::Custom {
                    self.timers.stop(Timer::CustomJob);
                    self.phase = Phase::Idle;
                }
            }
            Command::DeclineCustomJob => {
                if self.phase == Phase::Custom {
                    self.timers.stop(Timer::CustomJob);
                    self.fail_custom();
                }
            }
            Command::Shutdown => self.shutdown(),
        }
    }

    fn shutdown(&mut self) {
        if self.http.in_flight {
            self.queue.push(Pending::HttpCancel);
        }
        self.queue.push(Pending::Unsub(Topic::NotifyNext));
        self.queue.push(Pending::Unsub(Topic::NextGetAnswers));
        self.queue.push(Pending::Unsub(Topic::UpdateAnswers));
        if self.subscribed_stream {
            self.queue
                .push(Pending::Unsub(Topic::StreamData(self.stream_slot())));
            self.queue
                .push(Pending::Unsub(Topic::StreamRejected(self.stream_slot())));
        }
        self.timers.clear();
        self.job = None;
        self.report = None;
        self.platform_op = None;
        self.http = HttpCtx::default();
        self.subscribed_stream = false;
        self.bitmap.clear();
        self.phase = Phase::Stopped;
    }

    fn link(&mut self, up: bool) {
        if up == self.link_up {
            if up {
                // A reconnect the caller reports twice: subscriptions may be fresh anyway.
                self.subscribe_jobs();
            }
            return;
        }
        let was = self.suspended();
        self.link_up = up;
        if up {
            self.subscribe_jobs();
            self.subscribed_stream = false;
            if was && !self.suspended() {
                self.on_resume();
            }
        } else if !was {
            self.on_suspend();
        }
    }

    fn on_suspend(&mut self) {
        // The self-test timer keeps running: an image that cannot reach the network must
        // still be rolled back.
        if matches!(self.phase, Phase::Download | Phase::AwaitJob) {
            self.timers.stop(Timer::Request);
            if self.http.in_flight {
                self.http.in_flight = false;
                self.queue.push(Pending::HttpCancel);
            }
        }
    }

    fn on_resume(&mut self) {
        self.retries = 0;
        match self.phase {
            // Ask again: a job may have been cancelled or replaced meanwhile; the same job
            // comes back and the download continues from its bitmap.
            Phase::Idle | Phase::AwaitJob | Phase::Download => {
                if self.platform_op.is_none() {
                    self.request_job();
                } else {
                    self.recheck_job = true;
                }
            }
            Phase::Report(_) => {
                if let Some((msg, _)) = self.report {
                    self.queue.push(Pending::Status(msg));
                    self.arm(Timer::Request, self.cfg.request_timeout);
                }
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------- timers

    fn on_timer(&mut self, t: Timer) {
        match t {
            Timer::SelfTest => {
                if matches!(self.phase, Phase::SelfTest) {
                    self.conclude_self_test_failure(FailReason::SelfTestTimeout);
                } else if self.platform_state == PlatformImageState::PendingCommit
                    && !matches!(
                        self.phase,
                        Phase::Concluding | Phase::Report(_) | Phase::Resetting
                    )
                {
                    // No self-test job ever came: roll back.
                    self.queue.push(Pending::Notify(
                        self.cur_slot,
                        Note::SelfTestFailed(FailReason::SelfTestTimeout),
                    ));
                    self.image_state = ImageState::Rejected;
                    self.set_platform(ImageState::Rejected);
                    self.phase = Phase::Concluding;
                }
            }
            Timer::CustomJob => {
                if self.phase == Phase::Custom {
                    self.fail_custom();
                }
            }
            Timer::Request => match self.phase {
                Phase::AwaitJob => {
                    self.retries = self.retries.saturating_add(1);
                    self.request_job();
                }
                Phase::Download => {
                    if self.platform_op.is_some() {
                        // A slow flash operation: look again later, it is not the link's fault.
                        self.arm(Timer::Request, self.cfg.request_timeout);
                        return;
                    }
                    self.retry_data();
                }
                Phase::Report(after) => {
                    if let Some((msg, tries)) = self.report {
                        if tries >= self.cfg.status_retries {
                            self.report = None;
                            self.after_report(after, Some(msg));
                        } else {
                            let msg = StatusMsg {
                                token: self.next_token(),
                                ..msg
                            };
                            self.report = Some((msg, tries + 1));
                            self.queue.push(Pending::Status(msg));
                            self.arm(Timer::Request, self.cfg.request_timeout);
                        }
                    }
                }
                _ => {}
            },
        }
    }

    // ---------------------------------------------------------------- MQTT messages

    fn message(&mut self, topic: &str, payload: &[u8]) {
        let Some(rest) = topic
            .strip_prefix("$aws/things/")
            .and_then(|r| r.strip_prefix(self.cfg.thing_name))
            .and_then(|r| r.strip_prefix("/"))
        else {
            return;
        };
        // Byte-wise prefix/suffix matching only: job ids and stream names cannot contain `/`,
        // and `str` pattern searching costs a kilobyte of flash.
        if let Some(jobs) = rest.strip_prefix("jobs/") {
            match jobs {
                "notify-next" | "$next/get/accepted" => self.on_job_document(payload),
                "$next/get/rejected" => {
                    if self.phase == Phase::AwaitJob {
                        // Try again after the backoff already armed.
                        self.retries = self.retries.saturating_add(1);
                    }
                }
                _ => {
                    if let Some(id) = jobs.strip_suffix("/update/accepted") {
                        self.on_update_answer(id, payload, true);
                    } else if let Some(id) = jobs.strip_suffix("/update/rejected") {
                        self.on_update_answer(id, payload, false);
                    }
                }
            }
        } else if let Some(streams) = rest.strip_prefix("streams/") {
            let Some(j) = self.job else { return };
            let stream = &self.streams[j.slot as usize];
            if stream.len == 0 {
                return;
            }
            let Some(kind) = streams
                .strip_prefix(stream.as_str())
                .and_then(|r| r.strip_prefix("/"))
            else {
                return;
            };
            match kind {
                "data/cbor" => self.on_block(payload),
                "rejected/cbor" => self.on_stream_rejected(payload),
                _ => {}
            }
        }
    }

    fn on_update_answer(&mut self, id: &str, payload: &[u8], accepted: bool) {
        let answer = status::parse_jobs_answer(payload).ok();
        if let (Phase::Report(after), Some((msg, _))) = (self.phase, self.report) {
            if id == self.slots[msg.slot as usize].as_str() {
                let token_ok = answer
                    .and_then(|a| a.client_token)
                    .is_none_or(|t| token_matches(t, msg.token));
                if token_ok {
                    self.report = None;
                    self.timers.stop(Timer::Request);
                    self.after_report(after, Some(msg));
                }
                return;
            }
        }
        // A rejected progress update: the job was cancelled or finished elsewhere.
        if !accepted
            && answer.and_then(|a| a.code) == Some(JobsErrorCode::TerminalStateReached)
            && self.active_job() == Some(id)
            && matches!(self.phase, Phase::Download | Phase::AwaitActivate)
        {
            if self.platform_op.is_some() {
                self.recheck_job = true;
            } else {
                self.drop_job_silently();
                self.phase = Phase::Idle;
                self.request_job();
            }
        }
    }

    fn on_job_document(&mut self, doc: &[u8]) {
        if self.suspended() {
            return;
        }
        match self.phase {
            Phase::Idle
            | Phase::AwaitJob
            | Phase::Download
            | Phase::AwaitActivate
            | Phase::Custom => {}
            _ => return,
        }
        if self.platform_op.is_some() {
            self.recheck_job = true;
            return;
        }
        let resp = match job::parse_job_response(doc) {
            Ok(r) => r,
            Err(e) => {
                if let Some(id) = salvage_job_id(doc) {
                    if self.active_job() != Some(id) {
                        self.reject_foreign(id, FailReason::BadJobDocument(e));
                    }
                }
                return;
            }
        };
        let Some(ex) = resp.execution else {
            self.on_no_job();
            return;
        };
        if ex.status.is_some_and(|s| s.is_terminal()) {
            return;
        }
        if self.phase == Phase::Custom {
            if ex.job_id == self.cur_id() {
                return;
            }
            self.timers.stop(Timer::CustomJob);
            self.phase = Phase::Idle;
        }
        // Self-test bookkeeping first: it decides between testing, reporting and rolling back.
        let self_test = ex.status_details.self_test.is_some();
        if self.platform_state == PlatformImageState::PendingCommit {
            if self_test {
                self.begin_self_test(
                    doc,
                    ex.job_id,
                    ex.status_details.updated_by,
                    ex.job_document,
                );
            } else {
                // The platform tests an image the cloud no longer considers under test.
                self.queue.push(Pending::Notify(
                    self.cur_slot,
                    Note::SelfTestFailed(FailReason::ImageStateMismatch),
                ));
                self.image_state = ImageState::Rejected;
                self.set_platform(ImageState::Rejected);
                self.phase = Phase::Concluding;
            }
            return;
        }
        let downloaded_here = self
            .resume_hint
            .as_ref()
            .is_some_and(|h| h.job_id.as_str() == ex.job_id);
        if self_test && self.job.is_none() && !downloaded_here {
            self.conclude_after_reboot(
                ex.job_id,
                ex.status_details.updated_by,
                ex.status_details.self_test,
            );
            return;
        }
        let Some(obj) = ex.job_document else {
            self.release_job(ex.job_id);
            self.reject_foreign(
                ex.job_id,
                FailReason::BadJobDocument(JobError::Missing("jobDocument")),
            );
            return;
        };
        let parsed = match job::parse_job_document(obj) {
            Ok(p) => p,
            Err(e) => {
                self.release_job(ex.job_id);
                self.reject_foreign(ex.job_id, FailReason::BadJobDocument(e));
                return;
            }
        };
        match parsed {
            JobDocument::Custom(obj) => {
                self.release_job(ex.job_id);
                self.offer_custom(ex.job_id, obj.source());
            }
            JobDocument::Ota(ota) => {
                if self.active_job() == Some(ex.job_id) {
                    self.refresh_job(doc, &ota);
                } else {
                    self.supersede_if_other(ex.job_id);
                    self.adopt_job(doc, ex.job_id, &ota);
                }
            }
            #[allow(unreachable_patterns)]
            _ => self.reject_foreign(ex.job_id, FailReason::CustomJobUnsupported),
        }
    }

    fn on_no_job(&mut self) {
        if self.job.is_some() {
            // Cancelled or removed under us: stop, keep the device as it is.
            self.drop_job_silently();
        }
        if self.resume_hint.take().is_some() {
            self.queue.push(Pending::ClearResume);
            self.bitmap.clear();
        }
        self.timers.stop(Timer::Request);
        self.retries = 0;
        self.phase = Phase::Idle;
        self.queue
            .push(Pending::Notify(self.cur_slot, Note::NoActiveJob));
    }

    /// Another job replaces the active one: report the old one FAILED and drop it.
    fn supersede_if_other(&mut self, new_id: &str) {
        if let Some(j) = self.job {
            if self.slots[j.slot as usize].as_str() != new_id {
                let msg = self.status_msg(
                    j.slot,
                    ExecutionStatus::Failed,
                    Detail::Failed(FailReason::Superseded),
                    QoS::AtLeastOnce,
                );
                self.queue.push(Pending::Status(msg));
                self.queue.push(Pending::Notify(
                    j.slot,
                    Note::Failed(FailReason::Superseded),
                ));
                self.drop_job_silently();
                self.phase = Phase::Idle;
            }
        }
    }

    /// Before a job id's new document is rejected or handed to the application: another active
    /// job is superseded (FAILED); the same job is stopped (its new document replaces it).
    fn release_job(&mut self, id: &str) {
        if self.active_job() == Some(id) {
            self.drop_job_silently();
            if !matches!(self.phase, Phase::Report(_)) {
                self.phase = Phase::Idle;
            }
        } else {
            self.supersede_if_other(id);
        }
    }

    /// Stops the active job without reporting (cancelled, or reported elsewhere).
    fn drop_job_silently(&mut self) {
        if self.http.in_flight {
            self.http.in_flight = false;
            self.queue.push(Pending::HttpCancel);
        }
        if self.subscribed_stream {
            self.queue
                .push(Pending::Unsub(Topic::StreamData(self.stream_slot())));
            self.queue
                .push(Pending::Unsub(Topic::StreamRejected(self.stream_slot())));
            self.subscribed_stream = false;
        }
        self.queue.push(Pending::FileAbort);
        self.queue.push(Pending::ClearResume);
        self.timers.stop(Timer::Request);
        self.bitmap.clear();
        self.job = None;
        self.resume_hint = None;
    }

    /// Uses the other id slot for a new job id, so that entries queued for the previous job
    /// still render its id.
    fn take_slot(&mut self, id: &str) -> Slot {
        let s = if self.slots[self.cur_slot as usize].as_str() == id {
            self.cur_slot
        } else {
            self.cur_slot ^ 1
        };
        self.slots[s as usize].set(id);
        self.cur_slot = s;
        s
    }

    /// Reports FAILED for a job this agent will not run, and asks for the next one.
    fn reject_foreign(&mut self, id: &str, reason: FailReason) {
        crate::log::ota_warn!("ota: refusing job {}: {:?}", id, reason);
        let slot = self.take_slot(id);
        let msg = self.status_msg(
            slot,
            ExecutionStatus::Failed,
            Detail::Failed(reason),
            QoS::AtLeastOnce,
        );
        self.queue.push(Pending::Notify(slot, Note::Failed(reason)));
        self.begin_report(msg, After::NextJob);
    }

    fn offer_custom(&mut self, id: &str, document: &[u8]) {
        let Some(dst) = self.job_buf.get_mut(..document.len()) else {
            self.reject_foreign(id, FailReason::CustomJobUnsupported);
            return;
        };
        dst.copy_from_slice(document);
        let slot = self.take_slot(id);
        self.job = None;
        self.custom_len = document.len();
        self.timers.stop(Timer::Request);
        self.phase = Phase::Custom;
        self.arm(Timer::CustomJob, self.cfg.custom_job_timeout);
        self.queue.push(Pending::Notify(slot, Note::CustomJob));
    }

    fn fail_custom(&mut self) {
        let id = self.slots[self.cur_slot as usize];
        self.reject_foreign(id.as_str(), FailReason::CustomJobUnsupported);
    }

    // ---------------------------------------------------------------- adopting a job

    fn choose_protocol(&self, ota: &OtaJob<'_>) -> Option<Protocol> {
        let mqtt = ota.protocols.mqtt && self.cfg.mqtt_enabled && ota.stream_name.is_some();
        let http = ota.protocols.http && self.cfg.http_enabled;
        match (mqtt, http) {
            (true, true) => Some(self.cfg.preferred_protocol),
            (true, false) => Some(Protocol::Mqtt),
            (false, true) => Some(Protocol::Http),
            (false, false) => None,
        }
    }

    /// Checks every file before anything is written; returns the processing order.
    fn plan(
        &self,
        ota: &OtaJob<'_>,
        protocol: Protocol,
    ) -> Result<([u8; MAX_FILES], u8), FailReason> {
        let mut order = [0u8; MAX_FILES];
        let mut n = 0usize;
        let mut firmware: Option<u8> = None;
        for i in 0..ota.file_count.min(MAX_FILES) {
            let f = ota.file(i).map_err(FailReason::BadJobDocument)?;
            let blocks = f.file_size.div_ceil(self.cfg.block_size);
            if blocks > self.bitmap.capacity() {
                return Err(FailReason::FileTooLarge);
            }
            let sig = f.signature.ok_or(FailReason::MissingSignature)?;
            if decode_signature(sig, &mut [0u8; 160]).is_none() {
                return Err(FailReason::MissingSignature);
            }
            if protocol == Protocol::Http {
                let url = f
                    .update_data_url
                    .filter(|u| !u.raw().is_empty())
                    .ok_or(FailReason::UnsupportedProtocol)?;
                if url.unescaped_len() > self.url_buf.len() {
                    return Err(FailReason::FileTooLarge);
                }
            }
            if let Some(min) = self.cfg.min_security_epoch {
                if f.attr.is_none_or(|e| e < min) {
                    return Err(FailReason::SecurityEpochTooLow);
                }
            }
            if f.file_type == self.cfg.firmware_file_type {
                if firmware.is_some() {
                    return Err(FailReason::BadJobDocument(JobError::BadFileCount));
                }
                firmware = Some(i as u8);
            } else {
                order[n] = i as u8;
                n += 1;
            }
        }
        if let Some(fw) = firmware {
            order[n] = fw;
            n += 1;
        }
        Ok((order, n as u8))
    }

    fn adopt_job(&mut self, doc: &[u8], id: &str, ota: &OtaJob<'_>) {
        crate::log::ota_info!("ota: job {} offered", id);
        let Some(protocol) = self.choose_protocol(ota) else {
            self.reject_foreign(id, FailReason::UnsupportedProtocol);
            return;
        };
        let (order, files) = match self.plan(ota, protocol) {
            Ok(p) => p,
            Err(r) => {
                self.reject_foreign(id, r);
                return;
            }
        };
        let Some(dst) = self.job_buf.get_mut(..doc.len()) else {
            self.reject_foreign(
                id,
                FailReason::BadJobDocument(JobError::WrongType("document too large")),
            );
            return;
        };
        dst.copy_from_slice(doc);
        let slot = self.take_slot(id);
        self.streams[slot as usize] = IdBuf::EMPTY;
        if let Some(s) = ota.stream_name {
            self.streams[slot as usize].set(s);
        }
        let mut pos = 0u8;
        let mut resumed = false;
        if let Some(h) = self.resume_hint.take() {
            if h.job_id.as_str() == id
                && h.file_pos < files
                && order[h.file_pos as usize] == h.file_index
                && ota
                    .file(h.file_index as usize)
                    .is_ok_and(|f| f.file_size == h.file_size && f.file_id == h.file_id)
            {
                pos = h.file_pos;
                resumed = true;
            } else {
                self.queue.push(Pending::ClearResume);
                self.bitmap.clear();
            }
        }
        self.job = Some(ActiveJob {
            slot,
            doc_len: doc.len(),
            protocol,
            order,
            files,
            pos,
        });
        self.retries = 0;
        self.timers.stop(Timer::Request);
        self.queue
            .push(Pending::Notify(slot, Note::ReceivedJob { files, resumed }));
        self.start_file(resumed);
    }

    /// The same job again (a re-delivery, a URL refresh, or the answer after a resume).
    fn refresh_job(&mut self, doc: &[u8], ota: &OtaJob<'_>) {
        let Some(j) = self.job else { return };
        let same_file = ota
            .file(self.file.index as usize)
            .is_ok_and(|f| f.file_size == self.file.size && f.file_id == self.file.file_id);
        let Some(dst) = self.job_buf.get_mut(..doc.len()) else {
            return;
        };
        if !same_file || ota.file_count != j.files as usize {
            // The job changed shape under the same id: start it over.
            self.drop_job_silently();
            let id = self.slots[j.slot as usize];
            let Ok(JobDocument::Ota(ota)) = parse_again(doc) else {
                return;
            };
            self.adopt_job(doc, id.as_str(), &ota);
            return;
        }
        dst.copy_from_slice(doc);
        if let Some(job) = self.job.as_mut() {
            job.doc_len = doc.len();
        }
        if self.phase == Phase::AwaitActivate {
            return;
        }
        if j.protocol == Protocol::Http {
            self.load_url();
            if self.file.url_len == 0 {
                // The refreshed document has no usable URL: checked as a new one would be.
                self.fail_job(FailReason::UnsupportedProtocol);
                return;
            }
        }
        self.phase = Phase::Download;
        self.retries = 0;
        self.request_data();
    }

    fn start_file(&mut self, resume: bool) {
        let Some(j) = self.job else { return };
        let index = j.order[j.pos as usize];
        let Ok(JobDocument::Ota(ota)) = parse_again(&self.job_buf[..j.doc_len]) else {
            self.fail_job(FailReason::BadJobDocument(JobError::NotAnObject));
            return;
        };
        let Ok(f) = ota.file(index as usize) else {
            self.fail_job(FailReason::BadJobDocument(JobError::Missing("files")));
            return;
        };
        let blocks = f.file_size.div_ceil(self.cfg.block_size);
        if !resume && !self.bitmap.init_all_needed(blocks) {
            self.fail_job(FailReason::FileTooLarge);
            return;
        }
        self.file = FileCtx {
            index,
            file_id: f.file_id,
            size: f.file_size,
            file_type: f.file_type,
            is_firmware: f.file_type == self.cfg.firmware_file_type,
            url_len: 0,
            stored: blocks - self.bitmap.remaining(),
            since_persist: 0,
            reported: None,
        };
        self.http = HttpCtx::default();
        if j.protocol == Protocol::Http {
            self.load_url();
        }
        self.phase = Phase::Creating;
        self.platform_op = Some(PlatformOp::Create);
        self.queue.push(Pending::FileCreate { resume });
        if !resume {
            self.queue.push(Pending::PersistResume);
        }
        let msg = self.progress_msg();
        self.queue.push(Pending::Status(msg));
    }

    fn load_url(&mut self) {
        let Some(j) = self.job else { return };
        let doc = &self.job_buf[..j.doc_len];
        let url = parse_again(doc).ok().and_then(|d| match d {
            JobDocument::Ota(o) => o
                .file(self.file.index as usize)
                .ok()
                .and_then(|f| f.update_data_url),
            _ => None,
        });
        self.file.url_len = url
            .and_then(|u| u.unescape_into(self.url_buf).ok())
            .unwrap_or(0);
    }

    // ---------------------------------------------------------------- downloading

    fn request_data(&mut self) {
        if self.suspended() || self.phase != Phase::Download || self.platform_op.is_some() {
            return;
        }
        let Some(j) = self.job else { return };
        let Some(first) = self.bitmap.next_needed(0) else {
            self.file_complete();
            return;
        };
        self.stats.requests = self.stats.requests.saturating_add(1);
        match j.protocol {
            Protocol::Mqtt => {
                if !self.subscribed_stream {
                    self.queue
                        .push(Pending::Sub(Topic::StreamData(self.stream_slot())));
                    self.queue
                        .push(Pending::Sub(Topic::StreamRejected(self.stream_slot())));
                    self.subscribed_stream = true;
                }
                let (first, span) = self.stream_window(first);
                self.window = (first, span);
                self.ahead = None;
                self.queue.push(Pending::GetStream {
                    offset: first,
                    span,
                });
            }
            Protocol::Http => {
                if self.http.in_flight {
                    self.queue.push(Pending::HttpCancel);
                }
                let bs = self.cfg.block_size;
                let mut last_block = first;
                while last_block + 1 - first < self.cfg.http_blocks_per_request
                    && self.bitmap.is_needed(last_block + 1)
                {
                    last_block += 1;
                }
                let first_byte = first * bs;
                let last_byte = ((last_block + 1) * bs).min(self.file.size) - 1;
                self.http = HttpCtx {
                    in_flight: true,
                    headers_seen: false,
                    first: first_byte,
                    last: last_byte,
                    cursor: first_byte,
                    asm_block: first,
                    asm_done: 0,
                    refreshes: self.http.refreshes,
                };
                self.queue.push(Pending::HttpGet {
                    first: first_byte,
                    last: last_byte,
                });
            }
        }
        self.arm(Timer::Request, self.backoff());
    }

    /// The window of a GetStream request starting at needed block `first`: up to
    /// `blocks_per_request` needed blocks, spanning at most 1024 blocks (so the bitmap in the
    /// request stays within 128 bytes).
    fn stream_window(&self, first: u32) -> (u32, u32) {
        let mut count = 0;
        let mut last = first;
        let mut i = first;
        while count < self.cfg.blocks_per_request {
            match self.bitmap.next_needed(i) {
                Some(k) if k - first < 1024 => {
                    last = k;
                    count += 1;
                    i = k + 1;
                }
                _ => break,
            }
        }
        (first, last - first + 1)
    }

    /// Blocks of window `(first, span)` still needed.
    fn needed_in(&self, (first, span): (u32, u32)) -> u32 {
        let end = first.saturating_add(span);
        let mut n = 0;
        let mut i = first;
        while let Some(k) = self.bitmap.next_needed(i).filter(|&k| k < end) {
            n += 1;
            i = k + 1;
        }
        n
    }

    fn retry_data(&mut self) {
        crate::log::ota_debug!("ota: data request retry {}", self.retries + 1);
        self.retries = self.retries.saturating_add(1);
        if self.retries > self.cfg.max_retries {
            self.fail_job(FailReason::RetriesExhausted);
            return;
        }
        self.stats.retries = self.stats.retries.saturating_add(1);
        self.request_data();
    }

    fn block_len(&self, i: u32) -> u32 {
        let bs = self.cfg.block_size;
        let start = i.saturating_mul(bs);
        self.file.size.saturating_sub(start).min(bs)
    }

    fn drop_block(&mut self) {
        self.stats.dropped = self.stats.dropped.saturating_add(1);
    }

    fn on_block(&mut self, payload: &[u8]) {
        self.stats.received = self.stats.received.saturating_add(1);
        let ok_phase = self.phase == Phase::Download
            && !self.suspended()
            && self.job.is_some_and(|j| j.protocol == Protocol::Mqtt);
        if !ok_phase || self.platform_op.is_some() {
            self.drop_block();
            return;
        }
        let Ok(b) = cbor::decode_data_block(payload) else {
            self.drop_block();
            return;
        };
        let expected = self.block_len(b.block_id);
        if b.file_id != self.file.file_id
            || b.block_id >= self.bitmap.blocks()
            // `l` is the size of this block (AWS) or, from some servers, the block size.
            || (b.block_size as usize != b.payload.len() && b.block_size != self.cfg.block_size)
            || b.payload.len() != expected as usize
        {
            self.drop_block();
            return;
        }
        if !self.bitmap.is_needed(b.block_id) {
            self.stats.duplicates = self.stats.duplicates.saturating_add(1);
            self.drop_block();
            return;
        }
        let Some(dst) = self.block.get_mut(..b.payload.len()) else {
            self.drop_block();
            return;
        };
        dst.copy_from_slice(b.payload);
        self.stats.queued = self.stats.queued.saturating_add(1);
        self.platform_op = Some(PlatformOp::WriteBlock { block: b.block_id });
        self.queue.push(Pending::FileWrite {
            offset: b.block_id * self.cfg.block_size,
            len: expected,
        });
        // Activity: the request is alive.
        self.arm(Timer::Request, self.backoff());
    }

    fn on_stream_rejected(&mut self, payload: &[u8]) {
        if self.phase != Phase::Download {
            return;
        }
        let transient = cbor::decode_stream_error(payload)
            .map(|e| {
                matches!(
                    e.code,
                    "Throttling" | "InternalError" | "ThrottlingException"
                )
            })
            .unwrap_or(false);
        if transient {
            return; // The request timer retries with backoff.
        }
        if self.platform_op.is_some() {
            self.recheck_job = true;
            return;
        }
        self.fail_job(FailReason::StreamRejected);
    }

    /// A block's write is durable: mark it and move on.
    fn block_stored(&mut self, block: u32) {
        if !self.bitmap.mark_done(block) {
            return;
        }
        self.stats.processed = self.stats.processed.saturating_add(1);
        self.retries = 0;
        self.file.stored = self.file.stored.saturating_add(1);
        self.file.since_persist += 1;
        let done = self.file.stored;
        if done == 1 || done.is_multiple_of(self.cfg.status_every) {
            self.file.reported = Some(done);
            let msg = self.progress_msg();
            self.queue.push(Pending::Status(msg));
            let total = self.bitmap.blocks();
            let slot = self.job.map_or(self.cur_slot, |j| j.slot);
            self.queue.push(Pending::Notify(
                slot,
                Note::Progress {
                    file: self.file.index,
                    done,
                    total,
                },
            ));
        }
        if self.file.since_persist >= self.cfg.resume_every && self.bitmap.remaining() > 0 {
            self.file.since_persist = 0;
            self.queue.push(Pending::PersistResume);
        }
    }

    fn progress_msg(&mut self) -> StatusMsg {
        let (slot, pos, files) = self
            .job
            .map_or((self.cur_slot, 0, 1), |j| (j.slot, j.pos, j.files));
        let d = Detail::Progress {
            done: self.file.stored,
            total: self.bitmap.blocks(),
            file: pos,
            files,
        };
        self.status_msg(slot, ExecutionStatus::InProgress, d, QoS::AtMostOnce)
    }

    fn status_msg(
        &mut self,
        slot: Slot,
        status: ExecutionStatus,
        detail: Detail,
        qos: QoS,
    ) -> StatusMsg {
        StatusMsg {
            slot,
            status,
            detail,
            token: self.next_token(),
            qos,
        }
    }

    fn after_write(&mut self) {
        if self.recheck_job {
            self.recheck_job = false;
            if self.suspended() {
                return;
            }
            self.request_job();
            return;
        }
        if self.bitmap.remaining() == 0 {
            self.file_complete();
            return;
        }
        let Some(j) = self.job else { return };
        match j.protocol {
            Protocol::Mqtt => {
                if self.needed_in(self.window) == 0 {
                    match self.ahead.take() {
                        // The request sent ahead becomes the one being served.
                        Some(w) if self.needed_in(w) > 0 => self.window = w,
                        _ => {
                            self.request_data();
                            return;
                        }
                    }
                }
                // Half of the window has arrived: ask for the next one now, so its first
                // blocks are on the way while this one finishes (hides the round trip).
                if self.cfg.request_ahead
                    && self.ahead.is_none()
                    && self.needed_in(self.window) * 2 <= self.cfg.blocks_per_request
                {
                    let (first, span) = self.window;
                    if let Some(next) = self.bitmap.next_needed(first.saturating_add(span)) {
                        let w = self.stream_window(next);
                        self.ahead = Some(w);
                        self.stats.requests = self.stats.requests.saturating_add(1);
                        self.queue.push(Pending::GetStream {
                            offset: w.0,
                            span: w.1,
                        });
                    }
                }
            }
            Protocol::Http => {}
        }
    }

    // ---------------------------------------------------------------- HTTP

    fn http_response(
        &mut self,
        status: u16,
        range: Option<crate::codec::http::ContentRange>,
    ) -> Result<(), UsageError> {
        if !self.http.in_flight || self.http.headers_seen {
            // A cancelled request's late answer: ignored.
            return Ok(());
        }
        self.http.headers_seen = true;
        match status {
            206 => {
                let ok = range.is_some_and(|r| {
                    r.first == self.http.first
                        && r.last == self.http.last
                        && r.complete.is_none_or(|c| c == self.file.size)
                });
                if !ok {
                    self.http_abandon();
                    self.fail_job(FailReason::HttpError(206));
                }
            }
            200 => {
                // The server ignored the range: the body is the whole file. Keep what is
                // needed, skip the rest.
                self.http.first = 0;
                self.http.cursor = 0;
                self.http.last = self.file.size.saturating_sub(1);
                self.http.asm_block = 0;
                self.http.asm_done = 0;
            }
            400 | 403 | 404 => {
                // Presigned URL expired: fetch the job document again for a fresh one.
                self.http_abandon();
                self.http.refreshes = self.http.refreshes.saturating_add(1);
                self.retries = self.retries.saturating_add(1);
                if self.retries > self.cfg.max_retries {
                    self.fail_job(FailReason::HttpError(status));
                } else {
                    self.request_job();
                }
            }
            408 | 429 | 500..=599 => {
                self.http_abandon();
                // The request timer retries with backoff.
            }
            s => {
                self.http_abandon();
                self.fail_job(FailReason::HttpError(s));
            }
        }
        Ok(())
    }

    fn http_abandon(&mut self) {
        if self.http.in_flight {
            self.http.in_flight = false;
            self.queue.push(Pending::HttpCancel);
        }
    }

    fn http_body(&mut self, data: &[u8]) -> Result<(), UsageError> {
        if !self.http.in_flight || !self.http.headers_seen {
            // Late bytes of a cancelled request are ignored.
            return Ok(());
        }
        if data.len() > self.block.len() || self.platform_op.is_some() {
            return Err(UsageError::BodyChunkTooLarge);
        }
        if data.is_empty() {
            return Ok(());
        }
        self.stats.received = self.stats.received.saturating_add(1);
        let start = self.http.cursor;
        let end = start.saturating_add(data.len() as u32);
        if end > self.http.last.saturating_add(1) {
            // More body than the range: the server misbehaves.
            self.http_abandon();
            self.drop_block();
            self.timers.stop(Timer::Request);
            self.retry_data();
            return Ok(());
        }
        self.http.cursor = end;
        self.arm(Timer::Request, self.backoff());
        // A chunk no longer than a block touches at most two blocks; the needed bytes of it
        // are contiguous. Write those.
        let bs = self.cfg.block_size;
        let mut w_start = None;
        let mut w_end = start;
        let mut b = start / bs;
        while b * bs < end {
            let lo = (b * bs).max(start);
            let hi = ((b + 1) * bs).min(end);
            if self.bitmap.is_needed(b) {
                if w_start.is_none() {
                    w_start = Some(lo);
                }
                w_end = hi;
            }
            b += 1;
        }
        let Some(ws) = w_start else {
            return Ok(());
        };
        let from = (ws - start) as usize;
        let to = (w_end - start) as usize;
        let (Some(src), Some(dst)) = (data.get(from..to), self.block.get_mut(..to - from)) else {
            return Ok(());
        };
        dst.copy_from_slice(src);
        self.stats.queued = self.stats.queued.saturating_add(1);
        self.platform_op = Some(PlatformOp::WriteHttp {
            offset: ws,
            len: w_end - ws,
        });
        self.queue.push(Pending::FileWrite {
            offset: ws,
            len: w_end - ws,
        });
        Ok(())
    }

    /// Bytes `[offset, offset+len)` are durable: complete blocks they finish.
    fn http_stored(&mut self, offset: u32, len: u32) {
        let bs = self.cfg.block_size;
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let b = pos / bs;
            let block_end = ((b + 1) * bs).min(self.file.size);
            let upto = block_end.min(end);
            if b != self.http.asm_block || self.http.asm_done != pos - b * bs {
                // A new block starts being assembled; only from its first byte does it count.
                self.http.asm_block = b;
                self.http.asm_done = if pos == b * bs { 0 } else { u32::MAX };
            }
            if self.http.asm_done != u32::MAX {
                self.http.asm_done += upto - pos;
                if self.http.asm_done == self.block_len(b) {
                    self.block_stored(b);
                    self.http.asm_block = b + 1;
                    self.http.asm_done = 0;
                }
            }
            pos = upto;
        }
    }

    fn http_done(&mut self) -> Result<(), UsageError> {
        if !self.http.in_flight {
            return Ok(());
        }
        self.http.in_flight = false;
        if !self.http.headers_seen || self.http.cursor != self.http.last.saturating_add(1) {
            // Short body: ask again (what was stored is kept).
            if self.platform_op.is_none() {
                self.retry_data();
            }
            return Ok(());
        }
        if self.platform_op.is_none() {
            self.request_data();
        }
        Ok(())
    }

    // ---------------------------------------------------------------- platform results

    fn platform_done(&mut self, r: Result<(), PalError>) -> Result<(), UsageError> {
        let Some(op) = self.platform_op else {
            return Err(UsageError::UnexpectedPlatformResult);
        };
        if matches!(op, PlatformOp::Read { .. }) {
            return Err(UsageError::UnexpectedPlatformResult);
        }
        self.platform_op = None;
        match (op, r) {
            (PlatformOp::Create, Ok(())) => {
                if self.phase != Phase::Creating {
                    return Ok(());
                }
                self.phase = Phase::Download;
                if self.recheck_job {
                    self.recheck_job = false;
                    self.request_job();
                } else {
                    self.request_data();
                }
            }
            (PlatformOp::WriteBlock { block }, Ok(())) => {
                if self.job.is_some() {
                    self.block_stored(block);
                    self.after_write();
                }
            }
            (PlatformOp::WriteHttp { offset, len }, Ok(())) => {
                if self.job.is_some() {
                    self.http_stored(offset, len);
                    if self.bitmap.remaining() == 0 || self.recheck_job {
                        self.after_write();
                    } else if !self.http.in_flight && self.phase == Phase::Download {
                        self.request_data();
                    }
                }
            }
            (PlatformOp::Close, Ok(())) => {
                let slot = self.job.map_or(self.cur_slot, |j| j.slot);
                self.queue.push(Pending::Notify(
                    slot,
                    Note::FileComplete {
                        file: self.file.index,
                        file_type: self.file.file_type,
                    },
                ));
                self.next_file();
            }
            (PlatformOp::SetState(state), r) => self.image_state_set(state, r),
            (PlatformOp::Activate, r) => {
                // The platform returned from activation: it failed.
                let e = r.err().unwrap_or(PalError::BootState);
                self.fail_job(FailReason::Platform(e));
            }
            (
                PlatformOp::Create
                | PlatformOp::WriteBlock { .. }
                | PlatformOp::WriteHttp { .. }
                | PlatformOp::Close,
                Err(e),
            ) => {
                if self.job.is_some() {
                    self.fail_job(FailReason::Platform(e));
                }
            }
            (PlatformOp::Read { .. }, _) => {}
        }
        Ok(())
    }

    fn file_data(&mut self, r: Result<&[u8], PalError>) -> Result<(), UsageError> {
        let Some(PlatformOp::Read { offset, len }) = self.platform_op else {
            return Err(UsageError::UnexpectedPlatformResult);
        };
        if let Ok(d) = r {
            if d.len() != len as usize {
                return Err(UsageError::WrongReadLength);
            }
        }
        self.platform_op = None;
        match r {
            Err(e) => self.fail_job(FailReason::Platform(e)),
            Ok(d) => {
                self.verifier.update(d);
                let next = offset + len;
                if next < self.file.size {
                    self.read_next(next);
                } else {
                    self.finish_verify();
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- verification

    fn file_complete(&mut self) {
        self.timers.stop(Timer::Request);
        if self.http.in_flight {
            self.http.in_flight = false;
            self.queue.push(Pending::HttpCancel);
        }
        if self.file.reported != Some(self.file.stored) {
            let msg = self.progress_msg();
            self.queue.push(Pending::Status(msg));
        }
        self.phase = Phase::Verify;
        self.verifier.begin();
        self.read_next(0);
    }

    fn read_next(&mut self, offset: u32) {
        let chunk = (self.block.len() as u32).min(self.file.size - offset);
        self.platform_op = Some(PlatformOp::Read { offset, len: chunk });
        self.queue.push(Pending::FileRead { offset, len: chunk });
    }

    fn finish_verify(&mut self) {
        crate::log::ota_info!(
            "ota: file {} read back ({} bytes)",
            self.file.index,
            self.file.size
        );
        let result = self.check_signature();
        if let Err(r) = result {
            self.fail_job(r);
            return;
        }
        if self.file.is_firmware {
            // The resume record stays until activation: a power cut before it lets the next
            // boot find the verified download instead of concluding "rolled back".
            let slot = self.job.map_or(self.cur_slot, |j| j.slot);
            let msg = self.status_msg(
                slot,
                ExecutionStatus::InProgress,
                Detail::SelfTestReady,
                QoS::AtLeastOnce,
            );
            self.begin_report(msg, After::ActivateGate);
        } else {
            self.phase = Phase::Closing;
            self.platform_op = Some(PlatformOp::Close);
            self.queue.push(Pending::FileClose);
        }
    }

    fn check_signature(&mut self) -> Result<(), FailReason> {
        let Some(j) = self.job else {
            return Err(FailReason::MissingSignature);
        };
        let doc = &self.job_buf[..j.doc_len];
        let Ok(JobDocument::Ota(ota)) = parse_again(doc) else {
            return Err(FailReason::MissingSignature);
        };
        let f = ota
            .file(self.file.index as usize)
            .map_err(FailReason::BadJobDocument)?;
        let mut sig_buf = [0u8; 160];
        let sig = f
            .signature
            .and_then(|s| decode_signature(s, &mut sig_buf))
            .ok_or(FailReason::MissingSignature)?;
        let mut cert_buf = [0u8; 128];
        let cert = match f.cert_file {
            None => None,
            Some(c) => {
                let n = c
                    .unescape_into(&mut cert_buf)
                    .map_err(|_| FailReason::Signature(crate::verify::VerifyError::UntrustedKey))?;
                core::str::from_utf8(&cert_buf[..n]).ok()
            }
        };
        if cfg!(fuzzing) {
            return Ok(());
        }
        self.verifier
            .verify(sig, cert)
            .map_err(FailReason::Signature)
    }

    fn next_file(&mut self) {
        let Some(j) = self.job.as_mut() else { return };
        j.pos += 1;
        if j.pos < j.files {
            self.bitmap.clear();
            self.start_file(false);
            return;
        }
        // Only non-firmware files: the job is done.
        let slot = j.slot;
        let files = j.files;
        self.queue.push(Pending::ClearResume);
        let msg = self.status_msg(
            slot,
            ExecutionStatus::Succeeded,
            Detail::FilesDone { files },
            QoS::AtLeastOnce,
        );
        self.begin_report(msg, After::NextJob);
        self.finish_job_state();
    }

    fn finish_job_state(&mut self) {
        if self.subscribed_stream {
            self.queue
                .push(Pending::Unsub(Topic::StreamData(self.stream_slot())));
            self.queue
                .push(Pending::Unsub(Topic::StreamRejected(self.stream_slot())));
            self.subscribed_stream = false;
        }
        self.bitmap.clear();
        self.job = None;
    }

    fn activate(&mut self) {
        // No `ClearResume` here: until the boot state is written, the resume record is what
        // tells the next boot that this image was verified but never activated. Dropped first,
        // a power cut before `Activate` took effect boots the old image with no record while
        // the job says "self_test: ready", and the agent concluded "rolled back". The record
        // goes once the image is on trial: the platform drops it right after writing the boot
        // state (`ota-pal-flash` does), and `start` drops it on a `PendingCommit` boot.
        self.phase = Phase::Activating;
        self.platform_op = Some(PlatformOp::Activate);
        self.queue.push(Pending::Activate);
    }

    // ---------------------------------------------------------------- failing and reporting

    /// The active job failed: stop, report FAILED with the reason, go on serving.
    fn fail_job(&mut self, reason: FailReason) {
        crate::log::ota_warn!("ota: job failed: {:?}", reason);
        let slot = self.job.map_or(self.cur_slot, |j| j.slot);
        self.drop_job_silently();
        let msg = self.status_msg(
            slot,
            ExecutionStatus::Failed,
            Detail::Failed(reason),
            QoS::AtLeastOnce,
        );
        self.queue.push(Pending::Notify(slot, Note::Failed(reason)));
        self.begin_report(msg, After::NextJob);
    }

    /// Publishes a status that must be confirmed, then continues with `after`.
    fn begin_report(&mut self, msg: StatusMsg, after: After) {
        self.timers.stop(Timer::Request);
        self.queue.push(Pending::Status(msg));
        self.report = Some((msg, 1));
        self.phase = Phase::Report(after);
        self.arm(Timer::Request, self.cfg.request_timeout);
    }

    fn after_report(&mut self, after: After, msg: Option<StatusMsg>) {
        if let Some(m) = msg {
            if matches!(
                m.status,
                ExecutionStatus::Succeeded | ExecutionStatus::Failed
            ) {
                let ok = m.status == ExecutionStatus::Succeeded;
                self.queue
                    .push(Pending::Notify(m.slot, Note::JobFinished(ok)));
            }
        }
        match after {
            After::NextJob => {
                self.phase = Phase::Idle;
                self.retries = 0;
                self.request_job();
            }
            After::Reset => {
                self.phase = Phase::Resetting;
                self.timers.clear();
                self.queue.push(Pending::Reset);
            }
            After::ActivateGate => {
                let slot = self.job.map_or(self.cur_slot, |j| j.slot);
                self.queue
                    .push(Pending::Notify(slot, Note::ReadyToActivate));
                if self.cfg.auto_activate {
                    self.activate();
                } else {
                    self.phase = Phase::AwaitActivate;
                }
            }
        }
    }

    // ---------------------------------------------------------------- self-test

    fn begin_self_test(
        &mut self,
        _doc: &[u8],
        id: &str,
        updated_by: Option<u32>,
        job_document: Option<json::Object<'_>>,
    ) {
        let slot = self.take_slot(id);
        self.updated_by = updated_by.unwrap_or(0);
        // The version rule applies to firmware files (all files of non-firmware jobs pass).
        let firmware = job_document
            .and_then(|o| job::parse_job_document(o).ok())
            .is_none_or(|d| match d {
                JobDocument::Ota(o) => (0..o.file_count).any(|i| {
                    o.file(i)
                        .is_ok_and(|f| f.file_type == self.cfg.firmware_file_type)
                }),
                _ => true,
            });
        if firmware && !self.cfg.allow_downgrade {
            let running = self.cfg.version.to_u32();
            let verdict = match updated_by {
                Some(u) if running > u => None,
                Some(u) if running == u => Some(FailReason::SameVersion),
                _ => Some(FailReason::DowngradeRefused),
            };
            if let Some(r) = verdict {
                self.conclude_self_test_failure(r);
                return;
            }
        }
        self.image_state = ImageState::Testing;
        let msg = self.status_msg(
            slot,
            ExecutionStatus::InProgress,
            Detail::SelfTestActive {
                updated_by: self.updated_by,
            },
            QoS::AtLeastOnce,
        );
        self.queue.push(Pending::Status(msg));
        self.queue.push(Pending::Notify(slot, Note::StartSelfTest));
        self.phase = Phase::SelfTest;
    }

    fn conclude_self_test_failure(&mut self, reason: FailReason) {
        crate::log::ota_warn!("ota: self-test failed: {:?}", reason);
        self.image_state = ImageState::Rejected;
        self.queue
            .push(Pending::Notify(self.cur_slot, Note::SelfTestFailed(reason)));
        self.pending_failure = Some(reason);
        self.set_platform(ImageState::Rejected);
        self.phase = Phase::Concluding;
    }

    fn set_platform(&mut self, state: ImageState) {
        self.platform_op = Some(PlatformOp::SetState(state));
        self.queue.push(Pending::SetImageState(state));
    }

    fn image_state_set(&mut self, state: ImageState, r: Result<(), PalError>) {
        let slot = self.cur_slot;
        match state {
            ImageState::Accepted => match r {
                Ok(()) => {
                    self.image_state = ImageState::Accepted;
                    self.platform_state = PlatformImageState::Valid;
                    self.timers.stop(Timer::SelfTest);
                    let msg = self.status_msg(
                        slot,
                        ExecutionStatus::Succeeded,
                        Detail::Succeeded {
                            updated_by: self.updated_by,
                        },
                        QoS::AtLeastOnce,
                    );
                    self.queue.push(Pending::Notify(slot, Note::Accepted));
                    self.begin_report(msg, After::NextJob);
                }
                Err(e) => {
                    // Not committed: the next reset rolls back. Say so, then reset.
                    self.conclude_self_test_failure(FailReason::Platform(e));
                }
            },
            ImageState::Rejected => {
                let reason = self
                    .pending_failure
                    .take()
                    .unwrap_or(FailReason::RolledBack);
                if self.slots[slot as usize].len == 0 {
                    self.after_report(After::Reset, None);
                    return;
                }
                let msg = self.status_msg(
                    slot,
                    ExecutionStatus::Failed,
                    Detail::Failed(reason),
                    QoS::AtLeastOnce,
                );
                self.begin_report(msg, After::Reset);
            }
            _ => {
                self.phase = Phase::Idle;
            }
        }
    }

    /// A self-test job seen on a committed (`Valid`) platform: the update already concluded
    /// before a reboot. A running version newer than `updatedBy` means it was accepted and
    /// committed (report SUCCEEDED again); otherwise the device rolled back (report FAILED).
    fn conclude_after_reboot(
        &mut self,
        id: &str,
        updated_by: Option<u32>,
        _mark: Option<SelfTestMark>,
    ) {
        let slot = self.take_slot(id);
        let running = self.cfg.version.to_u32();
        self.updated_by = updated_by.unwrap_or(0);
        match updated_by {
            Some(u) if running > u => {
                let msg = self.status_msg(
                    slot,
                    ExecutionStatus::Succeeded,
                    Detail::Succeeded { updated_by: u },
                    QoS::AtLeastOnce,
                );
                self.queue.push(Pending::Notify(slot, Note::Accepted));
                self.begin_report(msg, After::NextJob);
            }
            _ => {
                let msg = self.status_msg(
                    slot,
                    ExecutionStatus::Failed,
                    Detail::Failed(FailReason::RolledBack),
                    QoS::AtLeastOnce,
                );
                self.queue
                    .push(Pending::Notify(slot, Note::Failed(FailReason::RolledBack)));
                self.begin_report(msg, After::NextJob);
            }
        }
    }
}

fn token_matches(t: RawStr<'_>, token: u32) -> bool {
    let mut buf = [0u8; 16];
    let mut w = crate::wire::Writer::new(&mut buf);
    w.str("ota-").u32(token);
    let n = w.len();
    t.raw() == &buf[..n]
}

fn parse_again(doc: &[u8]) -> Result<JobDocument<'_>, JobError> {
    let resp = job::parse_job_response(doc)?;
    let obj = resp
        .execution
        .and_then(|e| e.job_document)
        .ok_or(JobError::Missing("jobDocument"))?;
    job::parse_job_document(obj)
}

/// The job id of a document that failed to parse, if it can be found and is valid.
fn salvage_job_id(doc: &[u8]) -> Option<&str> {
    let root = json::parse(doc).ok()?.as_object()?;
    let id = root
        .get("execution")?
        .as_object()?
        .get("jobId")?
        .as_raw_str()?
        .as_str()?;
    job::is_valid_job_id(id).then_some(id)
}

/// Base64 signature from the document into `out`; the decoded bytes.
fn decode_signature<'b>(sig: RawStr<'_>, out: &'b mut [u8; 160]) -> Option<&'b [u8]> {
    let mut text = [0u8; 256];
    let n = sig.unescape_into(&mut text).ok()?;
    let m = crate::codec::base64::decode(text.get(..n)?, out).ok()?;
    (m > 0).then(|| &out[..m])
}
