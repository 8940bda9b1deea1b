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

/// The HTTP backend the simulated device uses for range downloads: `http://` URLs go to
/// `ota-http-reqwless`'s runner on tokio sockets ([`ota_os_std::http::ReqwlessBackend`], 4 KB
/// body chunks, keep-alive, the code the boards run), `https://` URLs (S3's presigned URLs) to
/// [`ota_os_std::http::HyperBackend`] with the system's roots, plus the PEM CA file named by
/// the environment variable `OTA_HTTP_CA` if set. `None` only if neither could be started.
pub fn http_backend() -> Option<Arc<dyn ota_os_std::http::HttpBackend>> {
    use ota_os_std::http::{ByScheme, HyperBackend, ReqwlessBackend};
    let plain: Arc<dyn ota_os_std::http::HttpBackend> = match ReqwlessBackend::new(4096) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            log::warn!("no HTTP backend: {e}");
            return None;
        }
    };
    let https = match std::env::var_os("OTA_HTTP_CA") {
        Some(path) => std::fs::read(&path)
            .and_then(|pem| HyperBackend::with_extra_ca_pem(&pem))
            .map_err(|e| format!("OTA_HTTP_CA {}: {e}", path.to_string_lossy())),
        None => HyperBackend::system_roots().map_err(|e| e.to_string()),
    };
    match https {
        Ok(h) => Some(Arc::new(ByScheme {
            http: plain,
            https: Arc::new(h),
        })),
        Err(e) => {
            log::warn!("no HTTPS backend (https:// URLs will fail): {e}");
            Some(plain)
        }
    }
}

/// The p256 verifying key of an `ota-cloud` signing key.
pub fn verifying_key(key: &ota_cloud::SigningKey) -> p256::ecdsa::VerifyingKey {
    let sec1 = key.verifying_key().to_sec1_bytes();
    // A key ota-cloud produced is a valid P-256 point.
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap_or_else(|_| unreachable!())
}
