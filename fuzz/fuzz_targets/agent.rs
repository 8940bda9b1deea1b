//! Fuzz target `agent`: the whole agent driven by an arbitrary sequence of inputs and time
//! steps (see `ota_fuzz::harness`). Set `OTA_FUZZ_TRACE=1` to trace a reproducer.
#![no_main]

use ota_fuzz::input::AgentInput;
use std::sync::OnceLock;

fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("OTA_FUZZ_TRACE").is_some())
}

libfuzzer_sys::fuzz_target!(|input: AgentInput| {
    ota_fuzz::harness::run(&input, verbose());
});
