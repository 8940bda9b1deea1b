//! Fuzz target `tls_chain`: see `ota_fuzz::parsers::tls_chain`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ota_fuzz::parsers::tls_chain(data);
});
