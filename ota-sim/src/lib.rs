//! # ota-sim
//!
//! The AWS IoT OTA side on one machine, and the `ota-sim` CLI (see the README): an MQTT 5
//! endpoint ([`broker`]), the Jobs and MQTT file-streams services and a presigned-URL HTTP
//! server, all answered by the sans-IO model [`ota_cloud::Cloud`] over real sockets
//! ([`cloud`]); the simulated device ([`device`], `ota-os-std` on file-backed flash) with its
//! image format ([`image`]); and the one-command update ([`demo`]).
#![forbid(unsafe_code)]

pub mod broker;
pub mod cloud;
pub mod demo;
pub mod device;
pub mod fleet;
pub mod image;
pub mod serve;

use std::sync::Arc;

/// The HTTP backend the simulated device uses for range downloads: `ota-http-reqwless`'s
/// runner on tokio sockets ([`ota_os_std::http::ReqwlessBackend`], 4 KB body chunks, keep-alive),
/// spawned on the current tokio runtime. `None` only if it could not be started.
pub fn http_backend() -> Option<Arc<dyn ota_os_std::http::HttpBackend>> {
    match ota_os_std::http::ReqwlessBackend::new(4096) {
        Ok(b) => Some(Arc::new(b)),
        Err(e) => {
            log::warn!("no HTTP backend: {e}");
            None
        }
    }
}

/// The p256 verifying key of an `ota-cloud` signing key.
pub fn verifying_key(key: &ota_cloud::SigningKey) -> p256::ecdsa::VerifyingKey {
    let sec1 = key.verifying_key().to_sec1_bytes();
    // A key ota-cloud produced is a valid P-256 point.
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap_or_else(|_| unreachable!())
}
