//! Prints the agent's own RAM (`size_of::<Agent<..>>()`) on this host, and the caller buffers
//! of the crate docs' example. Run: `cargo run -p ota-core --example sizes`.
//!
//! Host figures are for a 64-bit target (references are 16 bytes); `scripts/size-report.sh`
//! measures the same value on the 32-bit MCU targets (its RAM column).

use core::mem::size_of;
use ota_core::Agent;
use ota_core::verify::{ImageVerifier, P256Verifier, VerifyError};

/// A verifier with no state: the agent's own size.
struct NoVerifier;

impl ImageVerifier for NoVerifier {
    fn begin(&mut self) {}
    fn update(&mut self, _: &[u8]) {}
    fn verify(&mut self, _: &[u8], _: Option<&str>) -> Result<(), VerifyError> {
        Err(VerifyError::Mismatch)
    }
}

fn main() {
    let pointer_bits = usize::BITS;
    println!("ota-core sizes on this host ({pointer_bits}-bit pointers), in bytes:");
    println!(
        "  Agent<stateless verifier>   {:6}",
        size_of::<Agent<'static, NoVerifier>>()
    );
    println!(
        "  Agent<P256Verifier>         {:6}",
        size_of::<Agent<'static, P256Verifier<'static>>>()
    );
    println!(
        "  P256Verifier                {:6}",
        size_of::<P256Verifier<'static>>()
    );
    println!("caller buffers of the crate example (block 4096, job 4096, bitmap 128, url 2048):");
    println!(
        "  Buffers total               {:6}",
        4096 + 4096 + 128 + 2048
    );
}
