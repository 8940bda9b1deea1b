//! Wire codecs: every parser borrows from its input, allocates nothing, and returns a typed
//! error on malformed input; none of them panics on any input.
//!
//! | module | format | direction |
//! |---|---|---|
//! | [`json`] | JSON tokenizer/validator (borrowed values) | parse |
//! | [`job`] | AWS IoT Jobs responses and the `afr_ota` job document | parse |
//! | [`status`] | Jobs requests (`$next/get`, `<jobId>/update`) and their responses | encode + parse |
//! | [`cbor`] | MQTT file delivery: GetStream request, data block, rejected error | encode + parse |
//! | [`base64`] | the `sig-sha256-ecdsa` value | decode |
//! | [`der`] | ASN.1 DER ECDSA signature to raw `r ‖ s` | decode |
//! | [`http`] | HTTP `Content-Range` | parse |

pub mod base64;
pub mod cbor;
pub mod der;
pub mod http;
pub mod job;
pub mod json;
pub mod status;
