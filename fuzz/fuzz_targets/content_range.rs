//! Fuzz target `content_range`: see `ota_fuzz::parsers::content_range`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::content_range(data));
