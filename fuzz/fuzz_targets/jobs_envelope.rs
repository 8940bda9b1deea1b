//! Fuzz target `jobs_envelope`: see `ota_fuzz::parsers::jobs_envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::jobs_envelope(data));
