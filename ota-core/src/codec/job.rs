//! AWS IoT Jobs responses (`$next/get/accepted`, `notify-next`) and the `afr_ota` job document
//! written by `CreateOTAUpdate`.
//!
//! Parsing is two-step, so that a re-delivered or malformed document never touches the live
//! job: [`parse_job_response`] reads the Jobs envelope, [`parse_job_document`] reads the
//! `jobDocument` object into an [`OtaJob`] (or hands it back as a custom job).

use super::json::{Array, JsonError, Object, RawStr};
use core::fmt;

/// Longest job id AWS IoT accepts (characters of `[a-zA-Z0-9_-]`).
pub const MAX_JOB_ID_LEN: usize = 64;
/// Longest stream name accepted (AWS stream ids are at most 128 characters of `[a-zA-Z0-9_-]`).
pub const MAX_STREAM_NAME_LEN: usize = 128;
/// Most files one `afr_ota` document may list.
pub const MAX_FILES: usize = 8;

/// Why a Jobs response or job document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JobError {
    /// The payload is not JSON.
    Json(JsonError),
    /// The root is not an object.
    NotAnObject,
    /// A field has the wrong JSON type.
    WrongType(&'static str),
    /// A required field is missing.
    Missing(&'static str),
    /// `jobId` is empty, longer than [`MAX_JOB_ID_LEN`] or has characters outside `[a-zA-Z0-9_-]`.
    BadJobId,
    /// `streamname` is empty, too long, or would inject into an MQTT topic.
    BadStreamName,
    /// `protocols` names no protocol this agent knows (`MQTT`, `HTTP`).
    NoKnownProtocol,
    /// `files` is empty or has more than [`MAX_FILES`] entries.
    BadFileCount,
    /// `filesize` is zero.
    ZeroFileSize,
    /// A number is not an unsigned 32-bit integer.
    BadNumber(&'static str),
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!()
    }
}

impl core::error::Error for JobError {}

impl From<JsonError> for JobError {
    fn from(e: JsonError) -> Self {
        Self::Json(e)
    }
}

/// A job execution's status as the Jobs service reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExecutionStatus {
    /// `QUEUED`
    Queued,
    /// `IN_PROGRESS`
    InProgress,
    /// `SUCCEEDED`
    Succeeded,
    /// `FAILED`
    Failed,
    /// `REJECTED`
    Rejected,
    /// `CANCELED`
    Canceled,
    /// `REMOVED`
    Removed,
    /// `TIMED_OUT`
    TimedOut,
}

impl ExecutionStatus {
    /// The wire name (`"IN_PROGRESS"`, ...).
    pub fn as_str(&self) -> &'static str {
        todo!()
    }
    /// Whether the status is terminal (no further update accepted by the service).
    pub fn is_terminal(&self) -> bool {
        todo!()
    }
}

/// `statusDetails.self_test` as written by an agent before activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SelfTestMark {
    /// `"ready"`: the image was verified and is about to be activated.
    Ready,
    /// `"active"`: the new image booted and is under test.
    Active,
    /// Any other value (the key's presence still marks a self-test job).
    Other,
}

/// The `statusDetails` fields the agent reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusDetails {
    /// `self_test`, if present.
    pub self_test: Option<SelfTestMark>,
    /// `updatedBy`: the packed version (see [`crate::Version::to_u32`]) of the firmware that
    /// performed the update. Accepts a JSON number, `"0x..."`, a decimal string or `"X.Y.Z"`.
    pub updated_by: Option<u32>,
}

/// The `execution` object of a Jobs response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Execution<'a> {
    /// `jobId`, validated (1–64 characters of `[a-zA-Z0-9_-]`).
    pub job_id: &'a str,
    /// `status`, if present and known.
    pub status: Option<ExecutionStatus>,
    /// `statusDetails`.
    pub status_details: StatusDetails,
    /// `versionNumber`, if present.
    pub version_number: Option<u32>,
    /// `executionNumber`, if present.
    pub execution_number: Option<u32>,
    /// `jobDocument`; `None` when the execution carries no document.
    pub job_document: Option<Object<'a>>,
}

/// A `$next/get/accepted` or `notify-next` payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobResponse<'a> {
    /// `clientToken` (absent on notify-next).
    pub client_token: Option<RawStr<'a>>,
    /// `timestamp`, if present.
    pub timestamp: Option<u64>,
    /// `execution`; `None` means there is no pending job.
    pub execution: Option<Execution<'a>>,
}

/// Reads a Jobs response (`$next/get/accepted` or `notify-next`).
///
/// A document with no `execution` (or an empty one) is `Ok` with `execution: None`: the
/// service's way of saying "no job". A present but malformed `execution` is an error.
pub fn parse_job_response(doc: &[u8]) -> Result<JobResponse<'_>, JobError> {
    todo!()
}

/// The data protocols a job offers, in the job's order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protocols {
    /// `"MQTT"` is listed.
    pub mqtt: bool,
    /// `"HTTP"` is listed.
    pub http: bool,
    /// `"HTTP"` comes before `"MQTT"` in the list.
    pub http_first: bool,
}

/// One entry of `afr_ota.files`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileSpec<'a> {
    /// `filepath`.
    pub file_path: Option<RawStr<'a>>,
    /// `filesize` (never zero).
    pub file_size: u32,
    /// `fileid`: the stream's file id, `f` in GetStream requests.
    pub file_id: u32,
    /// `certfile`: names the signer key the device should use.
    pub cert_file: Option<RawStr<'a>>,
    /// `update_data_url`: presigned HTTP URL.
    pub update_data_url: Option<RawStr<'a>>,
    /// `auth_scheme`.
    pub auth_scheme: Option<RawStr<'a>>,
    /// `sig-sha256-ecdsa`: base64 of the DER signature, undecoded.
    pub signature: Option<RawStr<'a>>,
    /// `fileType` (0 when absent).
    pub file_type: u32,
    /// `attr`, when it is a number.
    pub attr: Option<u32>,
}

/// A parsed `afr_ota` job document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OtaJob<'a> {
    /// `protocols`.
    pub protocols: Protocols,
    /// `streamname`, validated as topic-safe; required for MQTT delivery.
    pub stream_name: Option<&'a str>,
    /// Number of entries in `files` (1..=[`MAX_FILES`]).
    pub file_count: usize,
    files: Array<'a>,
}

impl<'a> OtaJob<'a> {
    /// The file at `index` (`index < file_count`), parsed and validated.
    pub fn file(&self, index: usize) -> Result<FileSpec<'a>, JobError> {
        todo!()
    }
}

/// What a job document is.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum JobDocument<'a> {
    /// An OTA job (`afr_ota`), every file already validated.
    Ota(OtaJob<'a>),
    /// Any other document: for the application to claim.
    Custom(Object<'a>),
}

/// Reads `execution.jobDocument`. Every file entry is validated here, so that
/// [`OtaJob::file`] cannot fail on a document this function accepted.
pub fn parse_job_document(doc: Object<'_>) -> Result<JobDocument<'_>, JobError> {
    todo!()
}

/// Whether `s` is a valid job id (1–64 characters of `[a-zA-Z0-9_-]`).
pub fn is_valid_job_id(s: &str) -> bool {
    todo!()
}

/// Whether `s` may be placed in an MQTT topic level: 1..=`max` bytes, printable ASCII, none of
/// `/ + #`, no control characters or spaces.
pub fn is_topic_safe(s: &str, max: usize) -> bool {
    todo!()
}
