//! # ota-os-std
//!
//! Runs the [`ota_core`] OTA agent on a hosted OS (Linux gateways, host tests, the `ota-sim`
//! device) with tokio, using the same adapters as a microcontroller:
//!
//! - MQTT: [`ota_mqtt_minimq`] (minimq 0.13, MQTT 5) over a tokio TCP stream, or a rustls
//!   mutual-TLS stream ([`tls`]), as AWS IoT Core requires;
//! - flash: [`ota_pal_flash`]'s platform over file-backed NOR flash with the simulated A/B
//!   bootloader (`ota_pal_flash::host::SimDevice`), or any other [`Pal`];
//! - HTTP: [`ota_http_reqwless`]'s runner on tokio sockets ([`http::ReqwlessBackend`], feature
//!   `http-reqwless`), or any other [`http::HttpBackend`]; answers stream back to the loop.
//!
//! [`run`] is the seed demo's flow as a reusable connection manager: connect; start the agent;
//! on a lost connection hand it `Input::Link(false)` (it suspends); reconnect with exponential
//! backoff plus jitter up to a maximum delay ([`Backoff`]); hand it `Input::Link(true)` (it
//! re-subscribes and resumes from its bitmap); report statistics (received / queued /
//! processed / dropped) once a second ([`Application::statistics`]); if the agent stops,
//! wait and start it again. One call is one boot: it returns when the agent asks for a reset
//! (after activating a new image, or to roll back), and the caller powers the device on again
//! (with `SimDevice`: drop the platform, `power_on`, call [`run`] again).
//!
//! ```no_run
//! use ota_core::verify::{P256Verifier, TrustedKey};
//! use ota_core::{Config, Version};
//! use ota_os_std::{AutoAccept, Broker, Exit, Settings};
//! use ota_pal_flash::host::{SimDevice, SimDeviceConfig};
//!
//! # async fn demo(key: p256::ecdsa::VerifyingKey) -> Result<(), Box<dyn std::error::Error>> {
//! let device = SimDevice::open("state/dev1", SimDeviceConfig::default())?;
//! let keys = [TrustedKey { name: None, key }];
//! let settings = Settings::new(Broker::tcp("127.0.0.1", 1883));
//! loop {
//!     let (_booted, mut platform) = device.power_on()?;
//!     let config = Config::new("dev1", Version::new(1, 0, 0));
//!     let exit = ota_os_std::run(&settings, config, P256Verifier::new(&keys), &mut platform,
//!                                None, &mut AutoAccept).await?;
//!     assert!(matches!(exit, Exit::Reset | Exit::TrialWatchdog)); // power-cycle
//! }
//! # }
//! ```
//!
//! ## Features
//!
//! - `mqtt-minimq` (default): MQTT through `ota-mqtt-minimq`.
//! - `std-flash` (default): `ota-pal-flash`'s file-backed flash and simulated bootloader.
//! - `http-reqwless` (default): [`http::ReqwlessBackend`], HTTP range downloads through
//!   `ota-http-reqwless` (reqwless 0.14); without it an MQTT-only build pays nothing for HTTP.
//! - `https` (default): [`http::HyperBackend`], `https://` presigned URLs (S3's RSA chains,
//!   checked by rustls against the system roots) over hyper's HTTP/1.1 client, and
//!   [`http::ByScheme`] to send `http://` to one backend and `https://` to another.
//!
//! minimq's timers use `embassy-time` with its `std` driver and `generic-queue-8`: with
//! many devices in one process, give them keep-alive 0 ([`Settings::keepalive_s`]) or the
//! eight-entry queue turns into spurious wake-ups.
#![forbid(unsafe_code)]

mod backoff;
pub mod http;
mod runner;
pub mod tls;

pub use backoff::Backoff;
pub use runner::{
    Application, AutoAccept, Broker, ConnectError, Exit, LinkStats, Pal, RunError, Settings,
    Stream, open_stream, run,
};

pub use ota_core;
#[cfg(feature = "http-reqwless")]
pub use ota_http_reqwless;
pub use ota_mqtt_minimq;
pub use ota_pal_flash;
