//! Fuzz target `base64`: see `ota_fuzz::parsers::base64`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::base64(data));
