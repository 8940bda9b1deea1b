//! The agent's public vocabulary: versions, states, statistics, inputs, actions and events.

use crate::codec::http::ContentRange;
use crate::verify::VerifyError;
use core::fmt;

/// A firmware version, packed like the seed's `AppVersion32_t`
/// (`major << 24 | minor << 16 | build`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Version {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Build.
    pub build: u16,
}

impl Version {
    /// `major.minor.build`.
    pub const fn new(major: u8, minor: u8, build: u16) -> Self {
        Self {
            major,
            minor,
            build,
        }
    }
    /// The packed form used on the wire (`updatedBy`).
    pub const fn to_u32(self) -> u32 {
        ((self.major as u32) << 24) | ((self.minor as u32) << 16) | self.build as u32
    }
    /// From the packed form.
    pub const fn from_u32(v: u32) -> Self {
        Self {
            major: (v >> 24) as u8,
            minor: (v >> 16) as u8,
            build: v as u16,
        }
    }
    /// Parses `X.Y.Z` (decimal, no sign, no spaces).
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let build = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        Some(Self {
            major,
            minor,
            build,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// MQTT quality of service asked for by an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum QoS {
    /// At most once.
    AtMostOnce,
    /// At least once.
    AtLeastOnce,
}

/// The agent's state, as the seed's `OTA_GetState` reports it (`OtaState_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum State {
    /// `OtaAgentStateInit`: created, not started.
    Init,
    /// `OtaAgentStateReady`: started, nothing asked yet (transient).
    Ready,
    /// `OtaAgentStateRequestingJob`: about to ask for the next job.
    RequestingJob,
    /// `OtaAgentStateWaitingForJob`: waiting for a job document (or idle with no job).
    WaitingForJob,
    /// `OtaAgentStateCreatingFile`: the platform is preparing the download slot.
    CreatingFile,
    /// `OtaAgentStateRequestingFileBlock`: about to request blocks.
    RequestingFileBlock,
    /// `OtaAgentStateWaitingForFileBlock`: blocks requested, receiving, writing or verifying.
    WaitingForFileBlock,
    /// `OtaAgentStateSuspended`: by command or because the link is down.
    Suspended,
    /// `OtaAgentStateShuttingDown`: shutting down (unsubscribing).
    ShuttingDown,
    /// `OtaAgentStateStopped`: shut down; `Start` brings it back.
    Stopped,
}

impl State {
    /// The seed's name without prefix (`"WaitingForJob"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Init => "Init",
            State::Ready => "Ready",
            State::RequestingJob => "RequestingJob",
            State::WaitingForJob => "WaitingForJob",
            State::CreatingFile => "CreatingFile",
            State::RequestingFileBlock => "RequestingFileBlock",
            State::WaitingForFileBlock => "WaitingForFileBlock",
            State::Suspended => "Suspended",
            State::ShuttingDown => "ShuttingDown",
            State::Stopped => "Stopped",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seed's `OTA_GetStatistics` counters, plus a few more. Counters saturate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Statistics {
    /// `otaPacketsReceived`: data messages received (MQTT block messages, HTTP body chunks).
    pub received: u32,
    /// `otaPacketsQueued`: received data accepted for processing (handed to a file write).
    pub queued: u32,
    /// `otaPacketsProcessed`: blocks written to flash and marked in the bitmap.
    pub processed: u32,
    /// `otaPacketsDropped`: blocks dropped (malformed, wrong file, out of range, duplicate, busy).
    pub dropped: u32,
    /// Of `dropped`: duplicates of blocks already stored.
    pub duplicates: u32,
    /// Block / range requests sent (first tries and retries).
    pub requests: u32,
    /// Requests re-sent after a timeout.
    pub retries: u32,
}

/// The application's view of the image (`OtaImageState_t`), set through commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ImageState {
    /// `OtaImageStateUnknown`
    Unknown,
    /// `OtaImageStateTesting`: booted into a new image, self-test running.
    Testing,
    /// `OtaImageStateAccepted`: the new image is committed.
    Accepted,
    /// `OtaImageStateRejected`: the new image is refused; roll back.
    Rejected,
    /// `OtaImageStateAborted`: the download was abandoned.
    Aborted,
}

/// The bootloader's view of the running image (`OtaPalImageState_t`), reported at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PlatformImageState {
    /// `OtaPalImageStatePendingCommit`: a new image runs on trial; the bootloader reverts it
    /// on the next reset unless it is committed.
    PendingCommit,
    /// `OtaPalImageStateValid`: the running image is committed (or the factory image).
    Valid,
    /// `OtaPalImageStateInvalid`: the running image is marked bad.
    Invalid,
}

/// What the platform tells the agent when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootInfo<'a> {
    /// The running image's state.
    pub platform_state: PlatformImageState,
    /// The last resume record the platform persisted (see [`crate::resume`]), if any.
    pub resume: Option<&'a [u8]>,
}

/// A platform-layer failure, reduced to a kind (as embassy-boot does) so that it can be
/// reported in a job status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PalError {
    /// The file does not fit the slot / partition.
    TooLarge,
    /// A flash read, write or erase failed.
    Flash,
    /// An address or length is out of bounds or misaligned.
    OutOfBounds,
    /// The bootloader state could not be read or written.
    BootState,
    /// The platform does not handle this file type or path.
    Unsupported,
    /// Anything else, with a platform-specific code.
    Other(u32),
}

impl PalError {
    /// A stable numeric code for job statuses (the seed's PAL status range `0xe0..`).
    pub fn code(&self) -> u32 {
        match self {
            PalError::TooLarge => 0xe5,
            PalError::Flash => 0xe4,
            PalError::OutOfBounds => 0xe2,
            PalError::BootState => 0xe6,
            PalError::Unsupported => 0xe8,
            PalError::Other(c) => *c,
        }
    }
}

impl fmt::Display for PalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PalError::TooLarge => f.write_str("file larger than the download slot"),
            PalError::Flash => f.write_str("flash operation failed"),
            PalError::OutOfBounds => f.write_str("flash access out of bounds"),
            PalError::BootState => f.write_str("bootloader state unreadable or unwritable"),
            PalError::Unsupported => f.write_str("file not supported by the platform"),
            PalError::Other(c) => write!(f, "platform error {c:#x}"),
        }
    }
}

impl core::error::Error for PalError {}

/// A command from the application (the seed's API calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Command {
    /// `OTA_CheckForUpdate`: ask the Jobs service for the next job now.
    CheckForUpdate,
    /// `OTA_Suspend`: stop requesting; keep the download's progress.
    Suspend,
    /// `OTA_Resume`: continue after [`Command::Suspend`].
    Resume,
    /// `OTA_SetImageState(Accepted)`: the self-test passed; commit the new image.
    Accept,
    /// `OTA_SetImageState(Rejected)`: the self-test failed; roll back.
    Reject,
    /// `OTA_SetImageState(Aborted)`: abandon the current job (reported FAILED).
    Abort,
    /// `OTA_ActivateNewImage`: reboot into the verified image now.
    Activate,
    /// The application takes over the custom job it was offered ([`Event::CustomJob`]).
    ClaimCustomJob,
    /// The application does not handle the custom job it was offered: report it FAILED.
    DeclineCustomJob,
    /// `OTA_Shutdown`: unsubscribe and stop. A later [`Input::Start`] starts again.
    Shutdown,
}

/// Why the agent failed a job: the reason reported to the Jobs service and to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FailReason {
    /// The job document is malformed or asks for something impossible.
    BadJobDocument(crate::codec::job::JobError),
    /// No data protocol in the job is enabled in this agent (or the MQTT job lacks a stream).
    UnsupportedProtocol,
    /// A file is larger than the bitmap, the slot or the configured maximum.
    FileTooLarge,
    /// The file has no `sig-sha256-ecdsa`, or it is not valid base64.
    MissingSignature,
    /// The signature check failed.
    Signature(VerifyError),
    /// A platform (flash / bootloader) operation failed.
    Platform(PalError),
    /// The data source stopped answering: retries exhausted.
    RetriesExhausted,
    /// The stream service rejected the request (unknown stream, unauthorized...).
    StreamRejected,
    /// The HTTP server answered with something other than the requested range.
    HttpError(u16),
    /// The application aborted the job.
    UserAbort,
    /// The application rejected the new image during its self-test.
    SelfTestRejected,
    /// Nobody accepted the new image before the self-test timer expired.
    SelfTestTimeout,
    /// The running version is not newer than the one that performed the update.
    DowngradeRefused,
    /// The running version equals the one that performed the update (the new image did not boot).
    SameVersion,
    /// The device booted back into its previous image (rolled back).
    RolledBack,
    /// The image's security epoch is below the device's minimum.
    SecurityEpochTooLow,
    /// A self-test job arrived while the platform is not testing an image.
    ImageStateMismatch,
    /// The application did not claim a custom job.
    CustomJobUnsupported,
    /// A newer job replaced this one.
    Superseded,
}

impl FailReason {
    /// A stable numeric code, in the seed's numbering where one exists.
    pub fn code(&self) -> u32 {
        match self {
            FailReason::BadJobDocument(_) => 0x0c,
            FailReason::UnsupportedProtocol => 0x0d,
            FailReason::FileTooLarge => 0x17,
            FailReason::MissingSignature => 0xe7,
            FailReason::Signature(_) => 0xe3,
            FailReason::Platform(e) => e.code(),
            FailReason::RetriesExhausted => 0x0e,
            FailReason::StreamRejected => 0x07,
            FailReason::HttpError(s) => 0x1000 + *s as u32,
            FailReason::UserAbort => 0x13,
            FailReason::SelfTestRejected => 0x20,
            FailReason::SelfTestTimeout => 0x21,
            FailReason::DowngradeRefused => 0x0f,
            FailReason::SameVersion => 0x10,
            FailReason::RolledBack => 0x22,
            FailReason::SecurityEpochTooLow => 0x23,
            FailReason::ImageStateMismatch => 0x11,
            FailReason::CustomJobUnsupported => 0x24,
            FailReason::Superseded => 0x25,
        }
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::BadJobDocument(e) => write!(f, "bad job document: {e}"),
            FailReason::UnsupportedProtocol => f.write_str("no supported data protocol"),
            FailReason::FileTooLarge => f.write_str("file too large"),
            FailReason::MissingSignature => f.write_str("missing or undecodable signature"),
            FailReason::Signature(e) => write!(f, "signature check failed: {e}"),
            FailReason::Platform(e) => write!(f, "platform error: {e}"),
            FailReason::RetriesExhausted => {
                f.write_str("data source not answering, retries exhausted")
            }
            FailReason::StreamRejected => f.write_str("stream request rejected"),
            FailReason::HttpError(s) => write!(f, "unexpected HTTP status {s}"),
            FailReason::UserAbort => f.write_str("aborted by the application"),
            FailReason::SelfTestRejected => f.write_str("self-test failed"),
            FailReason::SelfTestTimeout => f.write_str("self-test timed out"),
            FailReason::DowngradeRefused => f.write_str("downgrade refused"),
            FailReason::SameVersion => f.write_str("same firmware version"),
            FailReason::RolledBack => f.write_str("rolled back to the previous image"),
            FailReason::SecurityEpochTooLow => {
                f.write_str("security epoch below the device minimum")
            }
            FailReason::ImageStateMismatch => f.write_str("self-test job but no image under test"),
            FailReason::CustomJobUnsupported => f.write_str("job document not supported"),
            FailReason::Superseded => f.write_str("superseded by another job"),
        }
    }
}

/// Everything the outside world tells the agent, through [`crate::Agent::handle`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Input<'a> {
    /// Start (or restart after shutdown) with what the platform knows about the boot.
    Start(BootInfo<'a>),
    /// An application command.
    Command(Command),
    /// The MQTT link went down (`false`) or came back with a possibly fresh session (`true`).
    /// While down the agent is suspended; on return it re-subscribes and resumes.
    Link(bool),
    /// An MQTT message on any topic; the agent ignores topics that are not its own.
    Message {
        /// The topic.
        topic: &'a str,
        /// The payload.
        payload: &'a [u8],
    },
    /// The status line and `Content-Range` of the answer to the last [`Action::HttpGet`].
    HttpResponse {
        /// HTTP status code.
        status: u16,
        /// The parsed `Content-Range` header, if present.
        content_range: Option<ContentRange>,
    },
    /// The next bytes of the answer's body: at most [`crate::Agent::max_body_chunk`] bytes.
    HttpBody(&'a [u8]),
    /// The body ended (the connection may stay open for the next range).
    HttpDone,
    /// The request failed below HTTP (connect, TLS, reset, short body).
    HttpFailed,
    /// Result of the last file or image action ([`Action::FileCreate`], [`Action::FileWrite`],
    /// [`Action::FileClose`], [`Action::SetImageState`], [`Action::Activate`]).
    PlatformDone(Result<(), PalError>),
    /// Result of the last [`Action::FileRead`]: the bytes read (exactly the length asked).
    FileData(Result<&'a [u8], PalError>),
}

/// A file of the job, as the platform sees it in [`Action::FileCreate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo<'a> {
    /// Index in the job's `files` array.
    pub index: u8,
    /// `fileType` (0 = firmware by default).
    pub file_type: u32,
    /// Whether this file is the firmware image (activated by the bootloader).
    pub is_firmware: bool,
    /// `filesize`.
    pub size: u32,
    /// `filepath`, unescaped (empty if absent).
    pub path: &'a str,
    /// `true` when resuming a download recorded in a resume record: keep what is stored
    /// (do not erase); `false` for a fresh file.
    pub resume: bool,
}

/// Something the agent wants done, from [`crate::Agent::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action<'a> {
    /// Subscribe to an MQTT topic filter.
    Subscribe {
        /// Topic filter.
        topic: &'a str,
        /// Maximum QoS.
        qos: QoS,
    },
    /// Unsubscribe from an MQTT topic filter.
    Unsubscribe {
        /// Topic filter.
        topic: &'a str,
    },
    /// Publish an MQTT message.
    Publish {
        /// Topic.
        topic: &'a str,
        /// Payload.
        payload: &'a [u8],
        /// QoS.
        qos: QoS,
    },
    /// GET `url` with `Range: bytes=first-last`; answer with [`Input::HttpResponse`], the body
    /// as [`Input::HttpBody`] chunks, then [`Input::HttpDone`] (or [`Input::HttpFailed`]).
    HttpGet {
        /// The presigned URL.
        url: &'a str,
        /// First byte (inclusive).
        first: u32,
        /// Last byte (inclusive).
        last: u32,
    },
    /// Abandon the HTTP request in flight (its remaining body is no longer wanted).
    HttpCancel,
    /// Prepare storage for a file (seed: `createFile`); answer with [`Input::PlatformDone`].
    /// The platform refuses a file larger than its slot with [`PalError::TooLarge`].
    FileCreate(FileInfo<'a>),
    /// Write `data` at `offset` of the current file; answer with [`Input::PlatformDone`].
    /// Done means durable: the agent marks blocks received only after it.
    FileWrite {
        /// Byte offset in the file.
        offset: u32,
        /// The bytes.
        data: &'a [u8],
    },
    /// Read `len` bytes at `offset` of the current file (signature check); answer with
    /// [`Input::FileData`].
    FileRead {
        /// Byte offset in the file.
        offset: u32,
        /// Length, at most the block buffer's size.
        len: u32,
    },
    /// The current (non-firmware) file is complete and verified: finalize it; answer with
    /// [`Input::PlatformDone`].
    FileClose,
    /// Abandon the current file (seed: `abort`). No answer expected.
    FileAbort,
    /// Persist this resume record (power-fail safely, replacing the previous one). No answer
    /// expected; the platform may coalesce writes.
    PersistResume(&'a [u8]),
    /// Forget the resume record. No answer expected.
    ClearResume,
    /// Set the platform image state (seed: `setPlatformImageState`): `Accepted` commits the
    /// running image, `Rejected` marks it for rollback, `Aborted` discards a partial download;
    /// answer with [`Input::PlatformDone`].
    SetImageState(ImageState),
    /// Make the verified firmware image the next to boot (on trial) and reset (seed: `activate`).
    /// If the platform returns, answer with [`Input::PlatformDone`].
    ///
    /// The agent keeps the resume record up to here, so a power cut before the boot-state
    /// write resumes (re-checks the image and activates it again). The platform must drop the
    /// record **right after** the boot-state write, before the reset: if the new image dies
    /// before its agent starts, the bootloader reverts, and the old image must not find the
    /// record and activate the same image again (the agent also drops it on the trial boot's
    /// `Start`, as a fallback). `ota-pal-flash`'s `Platform` does this.
    Activate,
    /// Reset the device (seed: `reset`), which rolls back an image that is not committed.
    Reset,
    /// Tell the application something.
    Notify(Event<'a>),
}

/// Application notifications (the seed's `OtaJobEvent_t`, plus progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// `OtaJobEventReceivedJob`: an OTA job was accepted and its download starts (or resumes).
    ReceivedJob {
        /// Job id.
        job_id: &'a str,
        /// Number of files.
        files: u8,
        /// Whether progress from a previous session is reused.
        resumed: bool,
    },
    /// `OtaJobEventNoActiveJob`: the service has no job for this device.
    NoActiveJob,
    /// `OtaJobEventParseCustomJob`: a job that is not an OTA job. Answer with
    /// [`Command::ClaimCustomJob`] or [`Command::DeclineCustomJob`] before the configured
    /// timeout, or the agent reports it FAILED.
    CustomJob {
        /// Job id.
        job_id: &'a str,
        /// The `jobDocument` JSON.
        document: &'a [u8],
    },
    /// Download progress of the current file.
    Progress {
        /// File index.
        file: u8,
        /// Blocks stored.
        blocks_done: u32,
        /// Blocks in the file.
        blocks_total: u32,
    },
    /// `OtaJobEventUpdateComplete`: a non-firmware file was stored and verified.
    FileComplete {
        /// Job id.
        job_id: &'a str,
        /// File index.
        file: u8,
        /// `fileType`.
        file_type: u32,
    },
    /// `OtaJobEventActivate`: the firmware image is verified. Send [`Command::Activate`] when
    /// the application is ready to reboot (or it happens at once with
    /// [`crate::Config::auto_activate`]).
    ReadyToActivate {
        /// Job id.
        job_id: &'a str,
    },
    /// `OtaJobEventStartTest`: running a new image under test: run the self-test, then send
    /// [`Command::Accept`] or [`Command::Reject`] before the self-test timeout.
    StartSelfTest {
        /// Job id.
        job_id: &'a str,
    },
    /// The new image was accepted and committed; the job is SUCCEEDED.
    Accepted {
        /// Job id.
        job_id: &'a str,
    },
    /// `OtaJobEventSelfTestFailed`: the image under test is refused; the agent resets to roll
    /// back once the FAILED status is confirmed.
    SelfTestFailed {
        /// Job id.
        job_id: &'a str,
        /// Why.
        reason: FailReason,
    },
    /// `OtaJobEventFail`: the job failed and was reported FAILED. The device keeps running
    /// its current image.
    Failed {
        /// Job id.
        job_id: &'a str,
        /// Why.
        reason: FailReason,
    },
    /// The job's terminal status was confirmed by the service (`/update/accepted`), or it was
    /// given up after the configured retries.
    JobFinished {
        /// Job id.
        job_id: &'a str,
        /// `true` for SUCCEEDED.
        succeeded: bool,
    },
}
