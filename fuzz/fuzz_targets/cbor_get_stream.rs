//! Fuzz target `cbor_get_stream`: see `ota_fuzz::parsers::cbor_get_stream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::cbor_get_stream(data));
