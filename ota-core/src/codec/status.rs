//! Jobs requests the agent publishes (`$next/get`, `<jobId>/update`) and the service's answers
//! on `.../accepted` and `.../rejected`.

use super::job::{ExecutionStatus, JobError};
use super::json::RawStr;
use core::fmt;

/// Most `statusDetails` entries the service accepts.
pub const MAX_STATUS_DETAILS: usize = 10;
/// Longest `statusDetails` value the service accepts.
pub const MAX_STATUS_VALUE_LEN: usize = 1024;
/// Longest `statusDetails` key the service accepts.
pub const MAX_STATUS_KEY_LEN: usize = 128;
/// Longest client token the service accepts.
pub const MAX_CLIENT_TOKEN_LEN: usize = 64;

/// Why a request could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// More than [`MAX_STATUS_DETAILS`] entries.
    TooManyDetails,
    /// A key is empty, too long or has characters outside `[a-zA-Z0-9:_-]`.
    BadDetailKey,
    /// A value is empty, too long, or has control characters.
    BadDetailValue,
    /// The client token is empty, too long or not printable ASCII.
    BadClientToken,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!()
    }
}

impl core::error::Error for EncodeError {}

/// Writes `{"clientToken":"<token>"}` (the `$next/get` request) into `out`.
pub fn encode_next_get(client_token: &str, out: &mut [u8]) -> Result<usize, EncodeError> {
    todo!()
}

/// A job execution update (`UpdateJobExecution`) request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusUpdate<'a> {
    /// The new status.
    pub status: ExecutionStatus,
    /// `statusDetails` entries, in order (checked against the service's limits).
    pub details: &'a [(&'a str, &'a str)],
    /// `clientToken`, echoed by the service in its answer.
    pub client_token: Option<&'a str>,
    /// `expectedVersion`, if the caller wants optimistic locking.
    pub expected_version: Option<u32>,
}

/// Writes the update's JSON into `out`:
/// `{"status":"IN_PROGRESS","statusDetails":{"receive":"1/8"},"clientToken":"..."}`.
/// Values are JSON-escaped; the service's limits on `statusDetails` are enforced.
pub fn encode_status_update(update: &StatusUpdate<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    todo!()
}

/// The `code` of a Jobs `ErrorResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JobsErrorCode {
    /// `InvalidTopic`
    InvalidTopic,
    /// `InvalidJson`
    InvalidJson,
    /// `InvalidRequest`
    InvalidRequest,
    /// `InvalidStateTransition`
    InvalidStateTransition,
    /// `ResourceNotFound`
    ResourceNotFound,
    /// `VersionMismatch`
    VersionMismatch,
    /// `InternalError`
    InternalError,
    /// `RequestThrottled`
    RequestThrottled,
    /// `TerminalStateReached`
    TerminalStateReached,
    /// Any other code.
    Other,
}

/// An answer on `.../accepted` or `.../rejected` to a Jobs request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobsAnswer<'a> {
    /// `clientToken`, echoed from the request.
    pub client_token: Option<RawStr<'a>>,
    /// `code` (rejected answers only).
    pub code: Option<JobsErrorCode>,
    /// `message` (rejected answers only).
    pub message: Option<RawStr<'a>>,
    /// `executionState.status`, when the service includes it.
    pub execution_status: Option<ExecutionStatus>,
}

/// Reads an `/update/accepted`, `/update/rejected` or `$next/get/rejected` payload.
pub fn parse_jobs_answer(doc: &[u8]) -> Result<JobsAnswer<'_>, JobError> {
    todo!()
}
