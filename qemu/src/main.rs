//! The ota-core whole-update simulation on an emulated MCU (QEMU), with semihosting for
//! output and the exit code.
//!
//! Each scenario runs the real agent (`ota_core::Agent` with the P-256 verifier) against the
//! in-binary cloud of [`cloud`], on RAM flash and a virtual clock, and checks the image in
//! the slot and the statuses the cloud received. The stack depth of every agent call is
//! measured by stack painting ([`stack`]). Output ends with `N passed, N failed`; the exit
//! code is 0 only if every scenario passed.
#![no_std]
#![no_main]

#[cfg(not(any(target_arch = "arm", target_arch = "riscv32")))]
compile_error!("build with --target thumbv7em-none-eabihf or riscv32imc-unknown-none-elf");

mod cloud;
mod scenarios;
mod sim;
mod stack;

use scenarios::{Outcome, PAINT};
use semihosting::println;
use stack::StackMeter;

type Scenario = fn(StackMeter) -> Outcome;

const SCENARIOS: &[(&str, Scenario)] = &[
    (
        "stack_meter_measures_a_known_frame",
        scenarios::stack_meter_measures_a_known_frame,
    ),
    (
        "mqtt_update_is_committed",
        scenarios::mqtt_update_is_committed,
    ),
    (
        "lossy_stream_and_outage_still_update",
        scenarios::lossy_stream_and_outage_still_update,
    ),
    (
        "power_cut_resumes_from_the_record",
        scenarios::power_cut_resumes_from_the_record,
    ),
    ("http_ranges_update", scenarios::http_ranges_update),
    (
        "tampered_image_is_refused",
        scenarios::tampered_image_is_refused,
    ),
    (
        "failed_self_test_rolls_back",
        scenarios::failed_self_test_rolls_back,
    ),
];

#[cfg(target_arch = "arm")]
const CPU: &str = "Cortex-M4F (thumbv7em-none-eabihf, QEMU mps2-an386)";
#[cfg(target_arch = "riscv32")]
const CPU: &str = "RV32IMC (riscv32imc-unknown-none-elf, QEMU virt)";

/// Runs one scenario with a fresh stack meter, in its own frame.
#[inline(never)]
fn run_one(f: Scenario) -> Outcome {
    f(StackMeter::new(PAINT))
}

fn run() -> ! {
    println!("ota-core whole-update simulation on {CPU}");
    println!(
        "size_of Agent<P256Verifier> = {} B (+ caller buffers: block {} B, job {} B, bitmap {} B, url {} B)",
        core::mem::size_of::<scenarios::SimAgent<'static>>(),
        1024,
        2048,
        16,
        256,
    );
    let (mut passed, mut failed, mut peak) = (0u32, 0u32, 0usize);
    for (i, (name, f)) in SCENARIOS.iter().enumerate() {
        match run_one(*f) {
            Ok(r) => {
                passed += 1;
                if i > 0 {
                    // Scenario 0 checks the meter itself.
                    peak = peak.max(r.peak_stack);
                }
                println!(
                    "test {name} ... ok (agent peak stack {}{} B, {} transfers, {} ms virtual)",
                    if r.saturated { ">=" } else { "" },
                    r.peak_stack,
                    r.transfers,
                    r.virtual_ms
                );
            }
            Err(what) => {
                failed += 1;
                println!("test {name} ... FAILED: {what}");
            }
        }
    }
    println!("agent peak stack over all scenarios: {peak} B");
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        semihosting::process::exit(0)
    } else {
        semihosting::process::exit(1)
    }
}

#[cfg(target_arch = "arm")]
#[cortex_m_rt::entry]
fn main() -> ! {
    run()
}

#[cfg(target_arch = "riscv32")]
#[riscv_rt::entry]
fn main() -> ! {
    run()
}
