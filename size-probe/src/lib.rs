//! Shared pieces of the size probes (see `scripts/size-report.sh`):
//!
//! - `size-probe` (src/main.rs): the whole agent, every entry point reachable with opaque inputs;
//! - `parsers` (src/bin/parsers.rs): only the codec entry points the agent calls, so that
//!   `size-probe - parsers` is the agent's own logic;
//! - `ram` (src/bin/ram.rs): one `Agent` in a `static`, so that the binary's `.bss` is the
//!   agent's own RAM on the target (caller buffers excluded).
#![no_std]

use core::hint::black_box;
use ota_core::verify::{ImageVerifier, VerifyError};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// A verifier that refuses everything: measures the agent without crypto.
pub struct Refuse;

impl ImageVerifier for Refuse {
    fn begin(&mut self) {}
    fn update(&mut self, data: &[u8]) {
        black_box(data);
    }
    fn verify(&mut self, _: &[u8], _: Option<&str>) -> Result<(), VerifyError> {
        Err(VerifyError::Mismatch)
    }
}
