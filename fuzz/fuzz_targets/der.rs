//! Fuzz target `der`: see `ota_fuzz::parsers::der`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::der(data));
