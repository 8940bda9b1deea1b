//! Fuzz target `cbor_block`: see `ota_fuzz::parsers::cbor_block`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::cbor_block(data));
