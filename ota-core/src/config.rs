//! Agent configuration: plain data with defaults close to the seed's, and checks at construction.

use crate::time::Duration;
use crate::types::Version;
use core::fmt;

/// A data protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Protocol {
    /// MQTT-based file delivery (CBOR GetStream).
    Mqtt,
    /// HTTP range requests on the job's presigned URL.
    Http,
}

/// Configuration of an [`crate::Agent`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Config<'a> {
    /// The AWS IoT thing name (1–128 characters, topic-safe).
    pub thing_name: &'a str,
    /// The running firmware's version (reported as `updatedBy`, checked in self-test).
    pub version: Version,
    /// Block size for MQTT streams and the unit of the bitmap for HTTP (256 B – 128 KB).
    /// Seed: `otaconfigLOG2_FILE_BLOCK_SIZE` (4 KB).
    pub block_size: u32,
    /// Blocks asked for in one GetStream request; `block_size * blocks_per_request` must be at
    /// most 128 KB (the service limit). Seed: `otaconfigMAX_NUM_BLOCKS_REQUEST`.
    pub blocks_per_request: u32,
    /// Keep a second GetStream request in flight: when half of the current window has been
    /// stored, ask for the next one, so the service's round trip overlaps the download
    /// (1.4x faster over loopback in BENCHMARKS.md's side-by-side run). At most two requests are
    /// outstanding. `false`: one at a time, as the AWS C agent does.
    pub request_ahead: bool,
    /// Blocks per HTTP range request (contiguous missing blocks are merged up to this).
    pub http_blocks_per_request: u32,
    /// Time to wait for data after a request before asking again. Seed:
    /// `otaconfigFILE_REQUEST_WAIT_MS`.
    pub request_timeout: Duration,
    /// Upper bound of the exponential backoff between retries.
    pub max_backoff: Duration,
    /// Consecutive data requests without progress before the job fails (seed's momentum,
    /// `otaconfigMAX_NUM_REQUEST_MOMENTUM`).
    pub max_retries: u32,
    /// Tries for a status that must be confirmed by `/update/accepted` before going on anyway.
    pub status_retries: u32,
    /// Progress status every this many blocks (and at the first). Seed:
    /// `otaconfigOTA_UPDATE_STATUS_FREQUENCY`.
    pub status_every: u32,
    /// Persist a resume record every this many stored blocks (the journal granularity: at
    /// most this many blocks are fetched twice after a power cut).
    pub resume_every: u32,
    /// Deadline for the application to accept or reject a new image after boot. Seed:
    /// `otaconfigSELF_TEST_RESPONSE_WAIT_MS`.
    pub self_test_timeout: Duration,
    /// Time the application has to claim a custom job.
    pub custom_job_timeout: Duration,
    /// Accept an image whose version is not newer (seed: `otaconfigAllowDowngrade`).
    pub allow_downgrade: bool,
    /// Minimum security epoch: when set, each file must carry its image's epoch in `attr`, and
    /// files below this are refused before download.
    pub min_security_epoch: Option<u32>,
    /// Data protocols this device enables.
    pub mqtt_enabled: bool,
    /// See [`Config::mqtt_enabled`].
    pub http_enabled: bool,
    /// The protocol to use when a job offers both.
    pub preferred_protocol: Protocol,
    /// `fileType` of firmware images (seed: `configOTA_FIRMWARE_UPDATE_FILE_TYPE_ID`).
    pub firmware_file_type: u32,
    /// Activate as soon as the image is verified, without waiting for [`crate::Command::Activate`].
    pub auto_activate: bool,
}

impl<'a> Config<'a> {
    /// Defaults for `thing_name` running `version`.
    pub const fn new(thing_name: &'a str, version: Version) -> Self {
        Self {
            thing_name,
            version,
            block_size: 4096,
            blocks_per_request: 32,
            request_ahead: true,
            http_blocks_per_request: 16,
            request_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
            max_retries: 8,
            status_retries: 5,
            status_every: 64,
            resume_every: 8,
            self_test_timeout: Duration::from_secs(120),
            custom_job_timeout: Duration::from_secs(5),
            allow_downgrade: false,
            min_security_epoch: None,
            mqtt_enabled: true,
            http_enabled: true,
            preferred_protocol: Protocol::Mqtt,
            firmware_file_type: 0,
            auto_activate: false,
        }
    }
}

/// A configuration or buffer mistake found by [`crate::Agent::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// Thing name empty, longer than 128, or not topic-safe.
    BadThingName,
    /// Block size outside 256 B – 128 KB.
    BadBlockSize,
    /// `blocks_per_request` is zero or asks for more than 128 KB per request.
    BadBlocksPerRequest,
    /// The block buffer is smaller than the block size, or than a resume record.
    BlockBufferTooSmall,
    /// The bitmap buffer is empty.
    BitmapTooSmall,
    /// The job-document buffer is smaller than 512 bytes.
    JobBufferTooSmall,
    /// No data protocol enabled.
    NoProtocol,
    /// A counter or timeout is zero.
    ZeroSetting,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::BadThingName => "thing name must be 1-128 topic-safe characters",
            ConfigError::BadBlockSize => "block size must be 256 B to 128 KB",
            ConfigError::BadBlocksPerRequest => {
                "blocks per request must be 1..=128 KB / block size"
            }
            ConfigError::BlockBufferTooSmall => {
                "block buffer smaller than the block size or a resume record"
            }
            ConfigError::BitmapTooSmall => "bitmap buffer is empty",
            ConfigError::JobBufferTooSmall => "job document buffer smaller than 512 bytes",
            ConfigError::NoProtocol => "no data protocol enabled",
            ConfigError::ZeroSetting => "a counter or timeout is zero",
        })
    }
}

impl core::error::Error for ConfigError {}

/// The service's limit on the data of one GetStream request.
pub const MAX_REQUEST_BYTES: u32 = 128 * 1024;
