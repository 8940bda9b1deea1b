//! # ota-core
//!
//! A sans-IO, `no_std`, allocation-free AWS IoT OTA agent (crate docs are completed with the agent).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(test)]
extern crate std;

pub mod codec;
pub mod verify;

mod agent;
pub mod bitmap;
pub mod config;
pub mod resume;
pub mod time;
mod types;
mod wire;

pub use agent::{Agent, Buffers, UsageError};
pub use config::{Config, ConfigError, Protocol};
pub use time::{Duration, Instant};
pub use types::*;
