//! Fuzz target `cbor_stream_error`: see `ota_fuzz::parsers::cbor_stream_error`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::cbor_stream_error(data));
