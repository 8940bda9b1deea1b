//! RAM probe: one agent in a `static`, so `.bss` of this binary is `size_of::<Agent<..>>()` on
//! the target (the caller's `Buffers` are not included). Its flash is not meaningful.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::mem::MaybeUninit;
use size_probe as _; // the panic handler

#[cfg(not(feature = "p256"))]
type Verifier = size_probe::Refuse;
#[cfg(feature = "p256")]
type Verifier = ota_core::verify::P256Verifier<'static>;

static mut AGENT: MaybeUninit<ota_core::Agent<'static, Verifier>> = MaybeUninit::uninit();

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    black_box(&raw const AGENT);
    loop {}
}
