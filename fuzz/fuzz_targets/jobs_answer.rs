//! Fuzz target `jobs_answer`: see `ota_fuzz::parsers::jobs_answer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ota_fuzz::parsers::jobs_answer(data));
