//! Fuzz target `resume`: see `ota_fuzz::parsers::resume`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::resume(data));
