//! Fuzz target `json`: see `ota_fuzz::parsers::json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::json(data));
