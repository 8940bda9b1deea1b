//! Fuzz target `job_document`: see `ota_fuzz::parsers::job_document`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::job_document(data));
