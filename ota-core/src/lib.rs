//! # ota-core
//!
//! A **sans-IO**, `no_std`, allocation-free implementation of the AWS IoT OTA agent (the
//! FreeRTOS "OTA Agent": `OTA_Init`, `OTA_SignalEvent`, `OTA_GetState`, `OTA_GetStatistics`,
//! `OTA_SetImageState`, ...), wire-compatible with AWS IoT Jobs, MQTT-based file delivery (CBOR)
//! and presigned HTTP range downloads.
//!
//! The agent does no I/O and reads no clock. It consumes [`Input`]s (MQTT messages, HTTP
//! responses and body chunks, platform results, application commands) at instants the caller
//! passes in, and emits [`Action`]s (subscribe, publish, HTTP range request, file create/write/
//! read, set image state, activate, reset, notify the application). Runtimes bind it to real
//! transports and flash: `ota-os-std` (tokio), `ota-os-embassy` (embassy), with the adapters
//! `ota-mqtt-minimq`, `ota-http-reqwless` and the platform layer `ota-pal-flash`.
//!
//! ## The run-loop contract
//!
//! 1. Create the agent with [`Agent::new`]: a [`Config`], caller-owned [`Buffers`] (see its
//!    sizing rules) and an [`verify::ImageVerifier`] ([`verify::P256Verifier`] by default).
//! 2. Once the MQTT session is up, [`Agent::handle`] an [`Input::Start`] with the platform's
//!    [`BootInfo`] (image state, last resume record).
//! 3. **After every `handle` or `handle_timeout`, drain [`Agent::poll`] until it returns
//!    `None`**, executing each action before polling the next one (an action borrows the agent).
//!    Actions that have an answer ([`Action::FileCreate`], [`Action::FileWrite`],
//!    [`Action::FileRead`], [`Action::FileClose`], [`Action::SetImageState`],
//!    [`Action::Activate`]) are answered with [`Input::PlatformDone`] / [`Input::FileData`]
//!    before the next network input is handed in; at most one is outstanding at a time.
//! 4. Sleep until [`Agent::poll_timeout`] or the next input, whichever comes first; at the
//!    deadline call [`Agent::handle_timeout`]. An early or repeated call is a no-op. After
//!    `handle_timeout(now)` and a drained `poll`, `poll_timeout` is `None` or later than `now`.
//! 5. Route every MQTT message to [`Input::Message`] (other topics are ignored, so the
//!    application can share the connection), report link loss and recovery with
//!    [`Input::Link`], and execute HTTP requests as the [`Action::HttpGet`] docs describe.
//!
//! Time is an [`Instant`] in milliseconds from any epoch; it must not go backwards (an older
//! `now` is treated as the newest seen). Update failures are outcomes, not errors: they come out
//! as a FAILED job status with a reason and an [`Event::Failed`]. `Err` from `handle` means the
//! caller broke this contract ([`UsageError`]).
//!
//! ```
//! use ota_core::{Agent, Buffers, Config, Version, Input, Action, BootInfo,
//!                PlatformImageState, Instant, Event};
//! use ota_core::verify::{P256Verifier, TrustedKey};
//!
//! // The code-signing public key the application trusts (SEC1, uncompressed).
//! let signer = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
//! let keys = [TrustedKey { name: None, key: *signer.verifying_key() }];
//!
//! let (mut block, mut job, mut bitmap, mut url) = ([0u8; 4096], [0u8; 4096], [0u8; 128], [0u8; 2048]);
//! let buffers = Buffers { block: &mut block, job: &mut job, bitmap: &mut bitmap, url: &mut url };
//! let config = Config::new("my-thing", Version::new(1, 0, 0));
//! let mut agent = Agent::new(config, buffers, P256Verifier::new(&keys)).unwrap();
//!
//! let boot = BootInfo { platform_state: PlatformImageState::Valid, resume: None };
//! agent.handle(Instant::from_millis(0), Input::Start(boot)).unwrap();
//! while let Some(action) = agent.poll() {
//!     match action {
//!         Action::Subscribe { topic, .. } => println!("subscribe {topic}"),
//!         Action::Publish { topic, payload, .. } => {
//!             println!("publish {topic} {}", core::str::from_utf8(payload).unwrap())
//!         }
//!         Action::Notify(Event::NoActiveJob) => {}
//!         other => println!("{other:?}"),
//!     }
//! }
//! // ... then: feed messages with Input::Message, answer platform actions, and call
//! // handle_timeout at agent.poll_timeout().
//! assert!(agent.poll_timeout().is_some()); // the `$next/get` answer is awaited
//! ```
//!
//! ## The seed's API, mapped
//!
//! | seed (C) | here |
//! |---|---|
//! | `OTA_Init` | [`Agent::new`] + [`Input::Start`] |
//! | `OTA_SignalEvent` (job document, file block) | [`Input::Message`], [`Input::HttpBody`] |
//! | `OTA_EventProcessingTask` / `OTA_EventProcess` | the caller's loop: `handle` + `poll` + `handle_timeout` |
//! | `OTA_GetState` | [`Agent::state`] ([`State`]: `Init` … `Stopped`, the seed's names) |
//! | `OTA_GetStatistics` | [`Agent::statistics`] (received, queued, processed, dropped) |
//! | `OTA_CheckForUpdate` | [`Command::CheckForUpdate`] |
//! | `OTA_Suspend` / `OTA_Resume` | [`Command::Suspend`] / [`Command::Resume`] (and [`Input::Link`]) |
//! | `OTA_SetImageState(Accepted / Rejected / Aborted)` | [`Command::Accept`] / [`Command::Reject`] / [`Command::Abort`] |
//! | `OTA_ActivateNewImage` | [`Command::Activate`] → [`Action::Activate`] |
//! | `OTA_Shutdown` | [`Command::Shutdown`] |
//! | `OTA_GetImageState` | [`Agent::image_state`] ([`ImageState`]) |
//! | PAL `createFile` / `writeBlock` / `closeFile` / `abort` | [`Action::FileCreate`] / [`Action::FileWrite`] / [`Action::FileClose`] (+ the signature check in the core) / [`Action::FileAbort`] |
//! | PAL `activate` / `reset` / `setPlatformImageState` | [`Action::Activate`] / [`Action::Reset`] / [`Action::SetImageState`] |
//! | PAL `getPlatformImageState` | [`BootInfo::platform_state`] ([`PlatformImageState`]) |
//! | callback `OtaJobEventActivate` | [`Event::ReadyToActivate`] |
//! | callback `OtaJobEventFail` | [`Event::Failed`] |
//! | callback `OtaJobEventStartTest` | [`Event::StartSelfTest`] |
//! | callback `OtaJobEventProcessed` | not needed: inputs are borrowed and released when `handle` returns |
//! | callback `OtaJobEventSelfTestFailed` | [`Event::SelfTestFailed`] |
//! | callback `OtaJobEventParseCustomJob` | [`Event::CustomJob`] + [`Command::ClaimCustomJob`] / [`Command::DeclineCustomJob`] |
//! | callback `OtaJobEventReceivedJob` | [`Event::ReceivedJob`] |
//! | callback `OtaJobEventUpdateComplete` | [`Event::FileComplete`] |
//! | callback `OtaJobEventNoActiveJob` | [`Event::NoActiveJob`] |
//!
//! ## Where it departs from the C agent
//!
//! - Blocks are checked (file id, index, `l` and the payload's real length); a bad, duplicate or
//!   unexpected block is dropped and counted, never fatal.
//! - The `$next/get` request has its own timeout and retries with exponential backoff.
//! - The same job delivered again keeps its bitmap; a different job fails the current one
//!   (FAILED, "superseded") and starts.
//! - Running out of retries fails the job, not the agent.
//! - Every job the agent cannot run is reported FAILED with a reason (bad document, unsigned,
//!   too large, unsupported protocol, unclaimed custom job).
//! - Statuses that end a step (self-test ready, SUCCEEDED, FAILED) are QoS 1 and awaited on
//!   `/update/accepted` (with retries) before the agent goes on or resets.
//! - The image is committed before SUCCEEDED is reported; a self-test job seen again on a
//!   committed platform is answered from the running version (newer than `updatedBy`:
//!   SUCCEEDED; otherwise: rolled back, FAILED) instead of the C agent's "image state mismatch".
//! - Several files per job (non-firmware files first, the firmware image last), HTTP ranges of
//!   several blocks driven by the bitmap, presigned-URL refresh on 400/403/404, and resume
//!   after reboot from a persisted [`resume`] record.
//!
//! ## Memory
//!
//! The agent's own state is about 2.3 KB on 32-bit targets (topic and payload scratch included); all large
//! memory is the caller's [`Buffers`]. No allocation, no `unsafe`, no panics on any input
//! (parsers return typed errors; see [`codec`]).
//!
//! ## Features
//!
//! - `p256` (default): [`verify::P256Verifier`], ECDSA P-256 / SHA-256 on RustCrypto.
//! - `defmt`: `defmt::Format` on public types. `log`: logging through `log`.
//!
//! ## Fuzzing
//!
//! Under `cfg(fuzzing)` the agent skips the final signature comparison (it still decodes the
//! signature and hashes the file), so fuzzers can reach the states after verification.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

#[macro_use]
mod log;
mod agent;
pub mod bitmap;
pub mod codec;
pub mod config;
pub mod resume;
pub mod time;
mod types;
pub mod verify;
mod wire;

pub use agent::{Agent, Buffers, MAX_PAYLOAD_LEN, MAX_TOPIC_LEN, UsageError};
pub use config::{Config, ConfigError, Protocol};
pub use time::{Duration, Instant};
pub use types::*;
