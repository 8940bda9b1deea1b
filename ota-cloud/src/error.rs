//! Errors of the control-plane calls (creating jobs and streams, canceling).

use crate::jobs::JobExecutionStatus;

/// Why a control-plane call on [`Cloud`](crate::Cloud) was refused. Device requests never produce
/// this: they are answered on `.../rejected` topics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloudError {
    /// A job id must be 1–64 characters of `[a-zA-Z0-9_-]`.
    InvalidJobId(String),
    /// A job with this id exists already.
    JobExists(String),
    /// No job with this id.
    UnknownJob(String),
    /// A thing name must be 1–128 characters of `[a-zA-Z0-9:_-]`.
    InvalidThingName(String),
    /// A job needs at least one target.
    NoTargets,
    /// The job document is not acceptable.
    InvalidDocument(&'static str),
    /// The job document is larger than 32 KB (the size in bytes).
    DocumentTooLarge(usize),
    /// This thing has no execution of this job.
    UnknownExecution {
        /// The thing.
        thing: String,
        /// The job.
        job_id: String,
    },
    /// The execution cannot move to that status (e.g. canceling an IN_PROGRESS execution
    /// without `force`, or anything from a terminal status).
    InvalidStateTransition {
        /// The current status.
        from: JobExecutionStatus,
        /// The requested status.
        to: JobExecutionStatus,
    },
    /// A stream id must be 1–128 characters of `[a-zA-Z0-9_-]`.
    InvalidStreamId(String),
    /// No stream with this id.
    UnknownStream(String),
    /// A stream holds 1–50 files (the number given).
    BadFileCount(usize),
    /// Stream file ids are 0–255 and unique (the offending id).
    BadFileId(u32),
}

impl core::fmt::Display for CloudError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidJobId(id) => write!(
                f,
                "invalid job id {id:?}: 1-64 characters of [a-zA-Z0-9_-] expected"
            ),
            Self::JobExists(id) => write!(f, "job {id:?} exists already"),
            Self::UnknownJob(id) => write!(f, "no job {id:?}"),
            Self::InvalidThingName(name) => write!(
                f,
                "invalid thing name {name:?}: 1-128 characters of [a-zA-Z0-9:_-] expected"
            ),
            Self::NoTargets => f.write_str("a job needs at least one target"),
            Self::InvalidDocument(why) => write!(f, "invalid job document: {why}"),
            Self::DocumentTooLarge(size) => {
                write!(f, "job document of {size} bytes exceeds 32768")
            }
            Self::UnknownExecution { thing, job_id } => {
                write!(f, "thing {thing:?} has no execution of job {job_id:?}")
            }
            Self::InvalidStateTransition { from, to } => {
                write!(f, "cannot change a {from} job execution to {to}")
            }
            Self::InvalidStreamId(id) => write!(
                f,
                "invalid stream id {id:?}: 1-128 characters of [a-zA-Z0-9_-] expected"
            ),
            Self::UnknownStream(id) => write!(f, "no stream {id:?}"),
            Self::BadFileCount(n) => write!(f, "a stream holds 1-50 files, not {n}"),
            Self::BadFileId(id) => {
                write!(f, "stream file id {id} is out of 0-255 or used twice")
            }
        }
    }
}

impl std::error::Error for CloudError {}
