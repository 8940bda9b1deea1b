//! Writes the seed corpora under `fuzz/corpus/<target>/` from the public vectors in
//! `shared/research/vectors/` and from the scenarios in `ota_fuzz::seeds`.
//!
//! ```text
//! cd fuzz && cargo run --example gen-corpus [-- <vectors dir>]
//! ```
//!
//! The output is deterministic; existing files of the same name are overwritten, others are
//! left alone (libFuzzer's own finds are never written there: see the README).

use ota_core::codec::{cbor, job, json};
use ota_core::resume::ResumeRecord;
use ota_fuzz::seeds;
use std::path::{Path, PathBuf};

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(60)
        .collect()
}

struct Out {
    root: PathBuf,
    written: usize,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        std::fs::write(dir.join(sanitize(name)), bytes).expect("write seed");
        self.written += 1;
    }
}

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vectors = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../shared/research/vectors"));
    let mut out = Out {
        root: manifest.join("corpus"),
        written: 0,
    };

    // ---- agent
    for (name, input) in seeds::agent_scenarios() {
        out.put("agent", name, &input.to_bytes());
    }
    for (name, input) in seeds::findings() {
        out.put("agent", &format!("regression-{name}"), &input.to_bytes());
    }
    for (name, input) in seeds::agent_vector_scenarios(&vectors) {
        out.put("agent", &name, &input.to_bytes());
    }

    // ---- Jobs documents and JSON
    let envelopes = seeds::envelopes(&vectors);
    let documents = seeds::afr_ota_documents(&vectors);
    for (name, doc) in &envelopes {
        out.put("jobs_envelope", name, doc);
        out.put("json", &format!("envelope-{name}"), doc);
        let inner = job::parse_job_response(doc)
            .ok()
            .and_then(|r| r.execution)
            .and_then(|e| e.job_document);
        if let Some(obj) = inner {
            out.put("job_document", &format!("from-{name}"), obj.source());
        }
    }
    for (i, (name, doc)) in documents.iter().enumerate() {
        let name = format!("{i:02}-{name}");
        out.put("job_document", &name, doc);
        out.put("json", &format!("doc-{name}"), doc);
        if json::parse(doc).is_ok_and(|v| v.as_object().is_some()) {
            let mut env = br#"{"clientToken":"ota-1","timestamp":1,"execution":{"jobId":"AFR_OTA-j1","status":"QUEUED","statusDetails":{"self_test":"ready","updatedBy":"0x01000000"},"versionNumber":1,"executionNumber":1,"jobDocument":"#.to_vec();
            env.extend_from_slice(doc);
            env.extend_from_slice(b"}}");
            out.put("jobs_envelope", &format!("wrapped-{name}"), &env);
        }
    }

    // ---- /update/accepted|rejected answers (shapes of the AWS IoT Jobs MQTT API)
    let answers: &[(&str, &str)] = &[
        (
            "accepted",
            r#"{"timestamp":1700000000,"clientToken":"ota-7"}"#,
        ),
        (
            "accepted-state",
            r#"{"executionState":{"status":"IN_PROGRESS","statusDetails":{"receive":"1/4"},"versionNumber":3},"timestamp":1,"clientToken":"ota-3"}"#,
        ),
        (
            "rejected-terminal",
            r#"{"code":"TerminalStateReached","message":"Job execution is already in a terminal state","timestamp":1,"clientToken":"ota-9","executionState":{"status":"CANCELED","versionNumber":4}}"#,
        ),
        (
            "rejected-version",
            r#"{"code":"VersionMismatch","message":"expected 2","clientToken":"ota-1","executionState":null}"#,
        ),
        (
            "rejected-escaped",
            "{\"code\":\"Invalid\\u0052equest\",\"message\":\"a \\\"quoted\\\" \\\\ value\\n\",\"clientToken\":\"ota\\u002d5\"}",
        ),
        (
            "next-get-rejected",
            r#"{"code":"InternalError","message":"try again","clientToken":"ota-2","timestamp":5}"#,
        ),
    ];
    for (name, text) in answers {
        out.put("jobs_answer", name, text.as_bytes());
        out.put("json", &format!("answer-{name}"), text.as_bytes());
    }

    // ---- CBOR (stream blocks, requests, errors)
    let hex = seeds::hex_tokens(&vectors, "cbor-mqtt-stream-vectors.txt");
    for (i, bytes) in hex.iter().enumerate() {
        let name = format!("vector-{i:02}");
        let mut placed = false;
        if cbor::decode_get_stream_request(bytes).is_ok() {
            out.put("cbor_get_stream", &name, bytes);
            placed = true;
        }
        if cbor::decode_stream_error(bytes).is_ok() {
            out.put("cbor_stream_error", &name, bytes);
            placed = true;
        }
        if cbor::decode_data_block(bytes).is_ok() {
            out.put("cbor_block", &name, bytes);
            placed = true;
        }
        if !placed {
            // Prefixes and other maps: still good material for every CBOR decoder.
            for t in ["cbor_block", "cbor_get_stream", "cbor_stream_error"] {
                out.put(t, &format!("other-{name}"), bytes);
            }
        }
    }
    // The indefinite-length GetStream response captured from the service (vectors §3):
    // {_ "f":0, "i":0, "l":1024, "p": h'8d3e1cf650c102000002' + 1014 zero bytes }.
    let mut indefinite = vec![
        0xbf, 0x61, 0x66, 0x00, 0x61, 0x69, 0x00, 0x61, 0x6c, 0x19, 0x04, 0x00, 0x61, 0x70, 0x59,
        0x04, 0x00,
    ];
    let mut payload = vec![0u8; 1024];
    payload[..10].copy_from_slice(&[0x8d, 0x3e, 0x1c, 0xf6, 0x50, 0xc1, 0x02, 0x00, 0x00, 0x02]);
    indefinite.extend_from_slice(&payload);
    indefinite.push(0xff);
    assert!(cbor::decode_data_block(&indefinite).is_ok());
    out.put("cbor_block", "service-indefinite-1024", &indefinite);
    for (name, file_id, block_id, len) in [
        ("small", 0u32, 0u32, 16usize),
        ("wide-ints", 70_000, 300, 256),
    ] {
        let p: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let b = cbor::DataBlock {
            file_id,
            block_id,
            block_size: 256,
            payload: &p,
        };
        let mut buf = vec![0u8; len + 64];
        let n = cbor::encode_data_block(&b, &mut buf).expect("encode");
        out.put("cbor_block", name, &buf[..n]);
    }
    for (name, code, message, token) in [
        (
            "not-found",
            "ResourceNotFound",
            Some("No stream"),
            Some("rdy"),
        ),
        ("throttled", "Throttling", None, None),
    ] {
        let e = cbor::StreamError {
            code,
            message,
            client_token: token,
        };
        let mut buf = [0u8; 128];
        let n = cbor::encode_stream_error(&e, &mut buf).expect("encode");
        out.put("cbor_stream_error", name, &buf[..n]);
    }

    // ---- signature: base64 and DER (vectors: base64 cases, the ECDSA P-256 code-signing vector)
    for (i, s) in seeds::base64_strings(&vectors).iter().enumerate() {
        out.put("base64", &format!("vector-{i:02}"), s);
    }
    for (i, s) in seeds::base64_tokens(&vectors, "ecdsa-p256-pal-test-vector.txt")
        .iter()
        .enumerate()
    {
        out.put("base64", &format!("signature-{i}"), s);
    }
    for (i, der) in seeds::hex_tokens(&vectors, "ecdsa-p256-pal-test-vector.txt")
        .iter()
        .enumerate()
    {
        let kind = if ota_core::codec::der::der_to_raw_p256(der).is_ok() {
            "der"
        } else {
            "other"
        };
        out.put("der", &format!("vector-{kind}-{i}"), der);
    }

    // ---- Content-Range (RFC 9110 §14.4 forms)
    for (i, v) in [
        "bytes 0-4095/1048576",
        "bytes 4096-8191/*",
        "bytes */1048576",
        "Bytes\t0-0/1",
        " bytes 42-1233/1234 ",
        "bytes 4294967294-4294967294/4294967295",
    ]
    .iter()
    .enumerate()
    {
        out.put("content_range", &format!("form-{i}"), v.as_bytes());
    }

    // ---- resume records
    for (name, job_id, size, bs, bitmap) in [
        ("one-block", "jobA", 100u32, 256u32, vec![0x01u8]),
        ("half-done", "AFR_OTA-job-3", 6 * 256, 256, vec![0x38]),
        ("large", "j-large", 1 << 20, 4096, vec![0xaa; 32]),
    ] {
        let rec = ResumeRecord {
            job_id,
            file_pos: 0,
            file_index: 0,
            file_id: 1,
            file_size: size,
            block_size: bs,
            bitmap: &bitmap,
        };
        let mut buf = vec![0u8; ota_core::resume::max_record_len(bitmap.len())];
        let n = rec.encode(&mut buf).expect("encode record");
        out.put("resume", name, &buf[..n]);
        // Without its CRC: the target appends one.
        out.put("resume", &format!("{name}-body"), &buf[..n - 4]);
    }

    println!(
        "wrote {} seed files under {}",
        out.written,
        out.root.display()
    );
}
