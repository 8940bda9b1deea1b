#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub(crate) mod fmt;

pub mod backoff;
pub mod channel;
pub mod http;
pub mod identity;
pub mod net;
pub mod platform;
#[cfg(feature = "mqtt-minimq")]
mod task;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;

pub use backoff::Backoff;
pub use channel::{AppCommand, JobId, Notification, OtaChannels, Report, TaskStatistics};
pub use http::{HttpExec, NoHttp};
pub use net::Connect;
pub use platform::OtaPlatform;
#[cfg(feature = "mqtt-minimq")]
pub use task::{AgentSetup, Exit, OtaTask, SetupError, TaskBuffers, TaskConfig};

pub use ota_core;
#[cfg(feature = "http-reqwless")]
pub use ota_http_reqwless;
#[cfg(feature = "mqtt-minimq")]
pub use ota_mqtt_minimq;
pub use ota_pal_flash;
