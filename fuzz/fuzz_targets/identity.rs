//! Fuzz target `identity`: see `ota_fuzz::parsers::identity`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::identity(data));
