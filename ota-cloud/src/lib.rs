//! A sans-IO model of the AWS side of OTA updates.
//!
//! [`Cloud`] plays AWS IoT Jobs, MQTT-based file delivery (streams) and an S3 stand-in for
//! presigned HTTP range downloads, with no sockets, threads, clock or randomness of its own:
//! messages go in through [`Cloud::handle_publish`], what the cloud publishes comes out of
//! [`Cloud::poll`], HTTP requests are answered by [`Cloud::http_get`], and every call takes the
//! current time. The same model serves deterministic whole-system simulations (virtual clock,
//! in-memory link) and a networked emulator (real broker, real HTTP server).
//!
//! It is an independent implementation of the wire formats (JSON through `serde_json`, CBOR
//! through `ciborium`), so that it cross-checks a device's codecs. Anything that speaks the AWS
//! protocol can be served, including the FreeRTOS C agent's formats.
//!
//! The crate also builds OTA job documents as `CreateOTAUpdate` does ([`OtaJobBuilder`]) and
//! signs images as AWS Signer does ([`SigningKey`]).
//!
//! # Driving the model
//!
//! After every call that can publish (`handle_publish`, `create_job*`, `cancel_*`,
//! `time_out_execution`, `remove_execution`), drain [`Cloud::poll`] and deliver each
//! [`Outgoing`] to the thing named in its topic ([`Outgoing::thing_name`]): AWS delivers Jobs
//! replies to the requester without a subscription, and which topics a device subscribed to is
//! the broker's business. A simulation can drop, delay or reorder what it delivers; the model
//! keeps no per-connection state. Time passed in need not be monotonic, but timestamps and URL
//! expiry follow it. `Cloud` is `Send`: a networked emulator shares one behind a mutex between
//! its MQTT and HTTP sides, and copies [`HttpReply`] status, headers and body to the socket.
//!
//! See `examples/walkthrough.rs` for a whole update driven by hand.
//!
//! # Modelling choices
//!
//! * `statusDetails` given in an update replace the stored map (see [`StatusDetailsMode`]).
//! * A plain [`Cloud::cancel_job`] cancels QUEUED executions only; `force` cancels IN_PROGRESS
//!   ones too. Updates to any terminal execution are rejected with `TerminalStateReached`; an
//!   IN_PROGRESS execution cannot become REJECTED (`InvalidStateTransition`).
//! * notify-next is published when the *identity* of a thing's next pending execution changes
//!   (not when its details change), as AWS documents.
//! * A GetStream request with a bitmap `b` sends the blocks whose bits are set (LSB first,
//!   relative to `o`), at most `n` of them when `n` is given; without `b`, blocks `o..o+n`. Never
//!   more than 128 KB of blocks (`131072 / l` blocks) per request; blocks past the end of the
//!   file are not sent.
//! * Presigned-URL placeholders (`${aws:iot:s3-presigned-url:<key>}`) in job documents are
//!   replaced with fresh URLs every time the document is sent, and `&` is written `\u0026`
//!   ([`JsonEscaping`]).

mod cloud;
mod error;
mod http;
mod jobs;
mod json;
mod ota;
mod signing;
mod streams;
mod time;
pub mod topics;

pub use cloud::{Cloud, CloudConfig, Handled, Outgoing, StatusDetailsMode};
pub use error::CloudError;
pub use http::{AMZ_ALGORITHM, HttpReply, HttpStats, MAX_PRESIGN_EXPIRY_S};
pub use jobs::{
    ChangeSource, JobExecution, JobExecutionStatus, JobOptions, JobStatus, JobsErrorCode,
    MAX_CLIENT_TOKEN, MAX_JOB_DOCUMENT, MAX_JOB_ID, MAX_STATUS_DETAIL_KEY, MAX_STATUS_DETAIL_VALUE,
    MAX_STATUS_DETAILS, MAX_THING_NAME, StatusRecord,
};
pub use json::JsonEscaping;
pub use ota::{
    OtaFile, OtaJobBuilder, PRESIGNED_URL_PREFIX, Protocol, SIGNATURE_KEY_ECDSA, UpdateDataUrl,
    ota_job_id, placeholder_key, presigned_url_placeholder,
};
pub use signing::{SigningError, SigningKey, VerifyingKey};
pub use streams::{
    MAX_BITMAP_BYTES, MAX_BLOCK_BYTES, MAX_BLOCK_OFFSET, MAX_FILES_PER_STREAM, MIN_BLOCK_SIZE,
    STREAM_LOG_CAP, ServedRequest, StreamErrorCode, StreamStats,
};
pub use topics::StreamFormat;
