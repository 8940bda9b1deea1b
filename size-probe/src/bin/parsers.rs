//! Parsers probe: only the codec entry points the agent itself calls (JSON, Jobs documents and
//! answers, CBOR, base64, Content-Range), each on opaque input, with every result kept.
//! `size-probe` minus this binary is the agent's own logic, the figure comparable to the C
//! agent's 11.6 KB (which excludes coreJSON and tinycbor).
//!
//! Keep this list in step with what `ota-core/src/agent` calls: a codec the agent stops using
//! must leave this probe too, or the subtraction credits the agent with it. The agent writes
//! its Jobs requests itself (`agent/render.rs`), so `codec::status`'s encoders are not here.
#![no_std]
#![no_main]

use core::hint::black_box;
use ota_core::codec::{base64, cbor, http, job, json, status};
use size_probe as _; // the panic handler

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    loop {
        let input: &[u8] = black_box(&[]);
        let mut out = [0u8; 512];
        match black_box(0u8) {
            0 => {
                // $next/get/accepted, notify-next: envelope, document, files, strings.
                if let Ok(r) = job::parse_job_response(input) {
                    let _ = black_box(&r);
                    if let Some(doc) = r.execution.and_then(|e| e.job_document) {
                        if let Ok(d) = job::parse_job_document(doc) {
                            let _ = black_box(&d);
                            if let job::JobDocument::Ota(o) = d {
                                if let Ok(f) = o.file(black_box(0)) {
                                    let _ = black_box(&f);
                                    if let Some(s) = f.signature {
                                        let _ = black_box(s.unescape_into(&mut out));
                                        let _ = black_box(s.unescaped_len());
                                        let _ = black_box(s.raw());
                                    }
                                }
                            }
                        }
                    }
                }
            }
            1 => {
                // A malformed document's job id (salvage).
                let id = json::parse(input)
                    .ok()
                    .and_then(|v| v.as_object())
                    .and_then(|o| o.get(black_box("execution")))
                    .and_then(|v| v.as_object())
                    .and_then(|o| o.get(black_box("jobId")))
                    .and_then(|v| v.as_raw_str())
                    .and_then(|s| s.as_str());
                let _ = black_box(id.map(job::is_valid_job_id));
            }
            2 => {
                let _ = black_box(&status::parse_jobs_answer(input));
            }
            4 => {
                let _ = black_box(&cbor::decode_data_block(input));
            }
            5 => {
                let _ = black_box(&cbor::decode_stream_error(input));
            }
            6 => {
                let req = cbor::GetStreamRequest {
                    client_token: black_box("rdy"),
                    file_id: black_box(0),
                    block_size: black_box(4096),
                    block_offset: black_box(0),
                    bitmap: Some(input),
                    num_blocks: None,
                };
                let _ = black_box(cbor::encode_get_stream_request(&req, &mut out));
            }
            7 => {
                let _ = black_box(base64::decode(input, &mut out));
            }
            8 => {
                let _ = black_box(&http::parse_content_range(input));
            }
            _ => {
                let _ = black_box(job::is_topic_safe(black_box("thing"), 128));
            }
        }
        let _ = black_box(&out);
    }
}
