//! One check per wire parser of ota-core. Each function takes the fuzzer's bytes, runs the
//! parser (which must not panic), and asserts what holds for every value that decodes:
//! documented guarantees of the parser, and `decode(encode(x)) == x` where an encoder exists.

use ota_core::codec::job::{self, JobDocument, MAX_FILES};
use ota_core::codec::json::{self, JsonError, RawStr, Value};
use ota_core::codec::{base64, cbor, der, http, status};
use ota_core::resume::{self, ResumeRecord};

// ------------------------------------------------------------------------------------ JSON

/// Unescapes `s` through every route the API offers and checks they agree.
fn check_raw_str(s: RawStr<'_>) -> String {
    let n = s.unescaped_len();
    let mut buf = vec![0u8; n];
    let written = s
        .unescape_into(&mut buf)
        .expect("unescape into a buffer of unescaped_len");
    assert_eq!(
        written, n,
        "unescape_into wrote another length than unescaped_len"
    );
    let text = String::from_utf8(buf).expect("unescaped strings are UTF-8");
    assert!(s.eq_str(&text), "eq_str refuses its own unescaped text");
    if let Some(plain) = s.as_str() {
        assert_eq!(plain, text, "as_str differs from the unescaped text");
    }
    if n > 0 {
        let mut short = vec![0u8; n - 1];
        assert_eq!(
            s.unescape_into(&mut short),
            Err(JsonError::BufferTooSmall),
            "a buffer one byte short must be refused"
        );
    }
    text
}

/// Walks `v` completely, checks the accessors against each other, and writes it back out as
/// compact JSON (strings and numbers as their source text).
fn walk(v: Value<'_>, depth: usize, out: &mut Vec<u8>) {
    assert!(
        depth <= json::MAX_DEPTH,
        "a value nested deeper than MAX_DEPTH was accepted"
    );
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Number(text) => {
            if let Some(n) = v.as_u64() {
                assert_eq!(n.to_string(), text, "as_u64 of a non-canonical integer");
            }
            if let Some(n) = v.as_u32() {
                assert_eq!(v.as_u64(), Some(u64::from(n)));
            }
            out.extend_from_slice(text.as_bytes());
        }
        Value::String(s) => {
            check_raw_str(s);
            if let Some(n) = v.as_u64() {
                // Digits or 0x-hex, no escapes: the text is plain.
                assert!(
                    s.as_str().is_some(),
                    "a number read from an escaped string: {n}"
                );
            }
            out.push(b'"');
            out.extend_from_slice(s.raw());
            out.push(b'"');
        }
        Value::Array(a) => {
            let items: Vec<_> = a.iter().collect();
            assert_eq!(a.len(), items.len());
            assert_eq!(a.is_empty(), items.is_empty());
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                assert_eq!(a.get(i), Some(*item), "Array::get disagrees with iter");
                if i > 0 {
                    out.push(b',');
                }
                walk(*item, depth + 1, out);
            }
            assert_eq!(a.get(items.len()), None);
            out.push(b']');
            check_source(a.source());
        }
        Value::Object(o) => {
            let members: Vec<_> = o.iter().collect();
            assert_eq!(o.len(), members.len());
            assert_eq!(o.is_empty(), members.is_empty());
            out.push(b'{');
            for (i, (k, value)) in members.iter().enumerate() {
                let key = check_raw_str(*k);
                let found = o
                    .get(&key)
                    .expect("Object::get misses a member iter yields");
                let first = members
                    .iter()
                    .find(|(k2, _)| k2.eq_str(&key))
                    .map(|(_, v)| *v);
                assert_eq!(Some(found), first, "Object::get is not the first member");
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                out.extend_from_slice(k.raw());
                out.extend_from_slice(b"\":");
                walk(*value, depth + 1, out);
            }
            out.push(b'}');
            check_source(o.source());
        }
        _ => {}
    }
}

/// A nested container's source is itself a JSON document (shallower, with fewer keys to track:
/// only the duplicate check can decide differently, once the whole document's key budget is
/// spent).
fn check_source(src: &[u8]) {
    match json::parse(src) {
        Ok(_) | Err(JsonError::DuplicateKey) => {}
        Err(e) => panic!("a nested value's source does not parse alone: {e}"),
    }
}

/// `json` target: validate, walk every value, re-serialize compactly and parse again.
pub fn json(data: &[u8]) {
    let Ok(root) = json::parse(data) else { return };
    let mut compact = Vec::new();
    walk(root, 0, &mut compact);
    let again = json::parse(&compact).expect("the compact form of a valid document parses");
    let mut compact2 = Vec::new();
    walk(again, 0, &mut compact2);
    assert_eq!(compact, compact2, "compact form is not stable");
}

// ------------------------------------------------------------------------------------ Jobs

fn check_opt_str(s: Option<RawStr<'_>>) {
    if let Some(s) = s {
        check_raw_str(s);
    }
}

/// What holds for every job document `parse_job_document` accepts.
fn check_job_document(doc: &JobDocument<'_>) {
    match doc {
        JobDocument::Ota(ota) => {
            assert!(
                (1..=MAX_FILES).contains(&ota.file_count),
                "file count {}",
                ota.file_count
            );
            let p = ota.protocols;
            assert!(p.mqtt || p.http, "no protocol");
            assert!(
                !p.http_first || (p.http && p.mqtt),
                "http_first without both"
            );
            if let Some(s) = ota.stream_name {
                assert!(
                    job::is_topic_safe(s, job::MAX_STREAM_NAME_LEN),
                    "stream {s:?}"
                );
            }
            for i in 0..ota.file_count {
                let f = ota
                    .file(i)
                    .expect("OtaJob::file fails on an accepted document");
                assert_ne!(f.file_size, 0);
                check_opt_str(f.file_path);
                check_opt_str(f.cert_file);
                check_opt_str(f.update_data_url);
                check_opt_str(f.auth_scheme);
                check_opt_str(f.signature);
            }
            assert!(ota.file(ota.file_count).is_err());
            assert!(ota.file(usize::MAX).is_err());
        }
        JobDocument::Custom(obj) => {
            assert!(
                obj.get("afr_ota").is_none(),
                "an afr_ota document came back custom"
            );
        }
        _ => {}
    }
}

/// `jobs_envelope` target: a `$next/get/accepted` / `notify-next` payload, and its job document.
pub fn jobs_envelope(data: &[u8]) {
    let Ok(resp) = job::parse_job_response(data) else {
        return;
    };
    check_opt_str(resp.client_token);
    let Some(ex) = resp.execution else { return };
    assert!(job::is_valid_job_id(ex.job_id), "job id {:?}", ex.job_id);
    if let Some(s) = ex.status {
        assert_eq!(job::ExecutionStatus::from_name(s.as_str()), Some(s));
    }
    let Some(obj) = ex.job_document else { return };
    if let Ok(doc) = job::parse_job_document(obj) {
        check_job_document(&doc);
    }
}

/// `job_document` target: the `jobDocument` object alone, and the same object inside a Jobs
/// envelope, which must give the same document.
pub fn job_document(data: &[u8]) {
    let Ok(root) = json::parse(data) else { return };
    let Some(obj) = root.as_object() else { return };
    let direct = job::parse_job_document(obj);
    if let Ok(doc) = &direct {
        check_job_document(doc);
    }
    let mut wrapped = br#"{"execution":{"jobId":"fuzz-job","jobDocument":"#.to_vec();
    wrapped.extend_from_slice(data);
    wrapped.extend_from_slice(b"}}");
    // Two more levels and two more keys: depth and the duplicate-key budget may differ.
    let Ok(resp) = job::parse_job_response(&wrapped) else {
        return;
    };
    let ex = resp.execution.expect("the wrapper has an execution");
    assert_eq!(ex.job_id, "fuzz-job");
    let inner = ex.job_document.expect("the wrapper has a job document");
    assert_eq!(inner.source(), obj.source());
    assert_eq!(
        job::parse_job_document(inner),
        direct,
        "wrapped document parses differently"
    );
}

/// `jobs_answer` target: an `/update/accepted|rejected` or `$next/get/rejected` payload; the
/// requests the agent encodes round-trip through the same parser.
pub fn jobs_answer(data: &[u8]) {
    let Ok(answer) = status::parse_jobs_answer(data) else {
        return;
    };
    check_opt_str(answer.client_token);
    check_opt_str(answer.message);
    if let Some(code) = answer.code {
        let name = code.as_str();
        assert!(!name.is_empty());
    }
    let mut out = [0u8; 4096];
    // `$next/get` with the answer's token: the token comes back unchanged.
    let token = answer.client_token.and_then(|t| t.as_str());
    if let Some(token) = token
        && let Ok(n) = status::encode_next_get(token, &mut out)
    {
        let back = status::parse_jobs_answer(&out[..n]).expect("own request parses");
        assert_eq!(back.client_token.and_then(|t| t.as_str()), Some(token));
    }
    // A status update carrying the answer's message as a detail value (escaped by the encoder).
    let message = answer.message.map(check_raw_str);
    let details = [("reason", message.as_deref().unwrap_or("none"))];
    let update = status::StatusUpdate {
        status: answer
            .execution_status
            .unwrap_or(job::ExecutionStatus::InProgress),
        details: &details,
        client_token: token,
        expected_version: Some(7),
    };
    if let Ok(n) = status::encode_status_update(&update, &mut out) {
        let text = &out[..n];
        let root = json::parse(text).expect("own status update is JSON");
        let obj = root.as_object().expect("own status update is an object");
        let got = obj
            .get("statusDetails")
            .and_then(|d| d.as_object())
            .and_then(|d| d.get("reason"))
            .and_then(|v| v.as_raw_str())
            .map(check_raw_str);
        assert_eq!(
            got.as_deref(),
            Some(details[0].1),
            "detail value does not round-trip"
        );
        let st = obj
            .get("status")
            .and_then(|s| s.as_raw_str())
            .map(check_raw_str);
        assert_eq!(st.as_deref(), Some(update.status.as_str()));
        let back = status::parse_jobs_answer(text).expect("own update parses as an answer");
        assert_eq!(back.client_token.and_then(|t| t.as_str()), token);
    }
}

// ------------------------------------------------------------------------------------ CBOR

/// `cbor_block` target: a stream data block; canonical re-encoding round-trips.
pub fn cbor_block(data: &[u8]) {
    let Ok(b) = cbor::decode_data_block(data) else {
        return;
    };
    let mut out = vec![0u8; data.len() + 32];
    let n = cbor::encode_data_block(&b, &mut out).expect("a decoded block re-encodes");
    assert!(n <= data.len(), "canonical form longer than the input");
    let back = cbor::decode_data_block(&out[..n]).expect("own encoding decodes");
    assert_eq!(back, b);
    let mut out2 = vec![0u8; n];
    let n2 = cbor::encode_data_block(&back, &mut out2).expect("re-encode");
    assert_eq!(out[..n], out2[..n2], "canonical encoding is not stable");
    if n > 0 {
        assert!(cbor::encode_data_block(&b, &mut out2[..n - 1]).is_err());
    }
}

/// `cbor_stream_error` target: a rejected stream request; canonical re-encoding round-trips.
pub fn cbor_stream_error(data: &[u8]) {
    let Ok(e) = cbor::decode_stream_error(data) else {
        return;
    };
    let mut out = vec![0u8; data.len() + 32];
    let n = cbor::encode_stream_error(&e, &mut out).expect("a decoded error re-encodes");
    assert!(n <= data.len(), "canonical form longer than the input");
    let back = cbor::decode_stream_error(&out[..n]).expect("own encoding decodes");
    assert_eq!(back, e);
}

/// `cbor_get_stream` target: a GetStream request (the cloud side's parser).
pub fn cbor_get_stream(data: &[u8]) {
    let Ok(r) = cbor::decode_get_stream_request(data) else {
        return;
    };
    // A missing `c` / `o` decodes as "" / 0 and is then written out: the canonical form may be
    // a few bytes longer than the input.
    let mut out = vec![0u8; data.len() + 32];
    let n = cbor::encode_get_stream_request(&r, &mut out).expect("a decoded request re-encodes");
    let back = cbor::decode_get_stream_request(&out[..n]).expect("own encoding decodes");
    assert_eq!(back, r);
}

// ------------------------------------------------------------------------------------ signature

/// `base64` target: decode the input; re-encode what decoded; and encode the input as bytes.
pub fn base64(data: &[u8]) {
    let mut out = vec![0u8; base64::decoded_len_max(data.len())];
    if let Ok(n) = base64::decode(data, &mut out) {
        let decoded = &out[..n];
        let mut enc = vec![0u8; n.div_ceil(3) * 4];
        let m = base64::encode(decoded, &mut enc).expect("encode into its documented size");
        assert_eq!(m, enc.len());
        // The canonical text has no more symbols than the input (which may omit padding but
        // then has the same symbols).
        let mut back = vec![0u8; n];
        let k = base64::decode(&enc[..m], &mut back).expect("own encoding decodes");
        assert_eq!(&back[..k], decoded, "base64 round trip");
        if n > 0 {
            let mut short = vec![0u8; n - 1];
            assert_eq!(
                base64::decode(data, &mut short),
                Err(base64::Base64Error::BufferTooSmall),
                "valid input into a short buffer"
            );
        }
    }
    // Any bytes survive encode then decode.
    let mut enc = vec![0u8; data.len().div_ceil(3) * 4];
    let m = base64::encode(data, &mut enc).expect("encode");
    let mut back = vec![0u8; data.len()];
    let k = base64::decode(&enc[..m], &mut back).expect("decode own encoding");
    assert_eq!(&back[..k], data);
}

/// `der` target: strict DER is canonical, so a signature that decodes re-encodes to the very
/// same bytes; and any 64 bytes that encode decode back.
pub fn der(data: &[u8]) {
    if let Ok(raw) = der::der_to_raw_p256(data) {
        let mut out = [0u8; 72];
        let n = der::raw_to_der_p256(&raw, &mut out).expect("a decoded signature re-encodes");
        assert_eq!(&out[..n], data, "strict DER is not canonical");
    }
    if let Some(raw) = data.get(..64).and_then(|r| <&[u8; 64]>::try_from(r).ok()) {
        let mut out = [0u8; 72];
        if let Ok(n) = der::raw_to_der_p256(raw, &mut out) {
            assert!(n <= 72);
            assert_eq!(
                der::der_to_raw_p256(&out[..n]),
                Ok(*raw),
                "raw -> DER -> raw"
            );
        } else {
            assert!(raw[..32].iter().all(|&b| b == 0) || raw[32..].iter().all(|&b| b == 0));
        }
    }
}

// ------------------------------------------------------------------------------------ HTTP

/// `content_range` target: accepted ranges are consistent and survive formatting.
pub fn content_range(data: &[u8]) {
    match http::parse_content_range(data) {
        Ok(r) => {
            assert!(r.first <= r.last);
            if let Some(c) = r.complete {
                assert!(r.last < c);
            }
            let text = match r.complete {
                Some(c) => format!("bytes {}-{}/{}", r.first, r.last, c),
                None => format!("bytes {}-{}/*", r.first, r.last),
            };
            assert_eq!(http::parse_content_range(text.as_bytes()), Ok(r));
        }
        Err(http::ContentRangeError::Unsatisfied { complete }) => {
            let text = format!("BYTES */{complete}");
            assert_eq!(
                http::parse_content_range(text.as_bytes()),
                Err(http::ContentRangeError::Unsatisfied { complete })
            );
        }
        Err(_) => {}
    }
}

// ------------------------------------------------------------------------------------ resume

fn check_record(bytes: &[u8], rec: &ResumeRecord<'_>) {
    assert!(job::is_valid_job_id(rec.job_id));
    assert!(rec.block_size > 0 && rec.file_size > 0);
    let blocks = rec.file_size.div_ceil(rec.block_size);
    assert_eq!(
        rec.bitmap.len(),
        ota_core::bitmap::Bitmap::bytes_for(blocks)
    );
    let mut out = vec![0u8; resume::max_record_len(rec.bitmap.len())];
    let n = rec.encode(&mut out).expect("a decoded record re-encodes");
    assert_eq!(&out[..n], bytes, "the record format is not canonical");
}

/// `resume` target: the input as a record, and the input with a correct CRC appended (so the
/// fuzzer reaches the field checks).
pub fn resume(data: &[u8]) {
    if let Some(rec) = ResumeRecord::decode(data) {
        check_record(data, &rec);
    }
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(&crate::crc32(data).to_le_bytes());
    if let Some(rec) = ResumeRecord::decode(&sealed) {
        check_record(&sealed, &rec);
    }
}

// ------------------------------------------------------------------------------------- TLS

/// Host names the `tls_chain` target checks chains against (selected by the first byte).
const TLS_HOSTS: [&str; 6] = [
    "a1-ats.iot.test",
    "iot.test",
    "192.168.1.20",
    "broker.lan",
    "*.iot.test",
    "",
];

/// `tls_chain` target: ota-os-embassy's X.509 chain verifier (the broker's certificates are
/// hostile input). Input: a selector byte (host name; bit 7 sets a clock), then
/// length-prefixed (u16 big-endian) DER blobs: the trust anchor, then the server's chain.
/// Never panics; the verdict is deterministic and the reported failure is the verdict's.
pub fn tls_chain(data: &[u8]) -> Option<Result<(), ota_os_embassy::tls::CertError>> {
    use ota_os_embassy::tls::{ChainVerifier, host_matches};
    let (&sel, mut rest) = data.split_first()?;
    let mut parts: Vec<&[u8]> = Vec::new();
    while rest.len() >= 2 && parts.len() < 8 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        parts.push(&rest[2..2 + n]);
        rest = &rest[2 + n..];
    }
    let (anchor, chain) = parts.split_first()?;
    let host = TLS_HOSTS[usize::from(sel & 0x7F) % TLS_HOSTS.len()];
    let now = (sel & 0x80 != 0).then_some(1_800_000_000);
    let mut v = ChainVerifier::new(anchor, host, now);
    let verdict = v.verify_chain(chain.iter().copied());
    assert_eq!(v.failure(), verdict.err(), "failure() reports the verdict");
    let again = ChainVerifier::new(anchor, host, now).verify_chain(chain.iter().copied());
    assert_eq!(verdict, again, "the verdict is deterministic");
    let _ = host_matches(anchor, host.as_bytes());
    Some(verdict)
}

#[cfg(test)]
mod tls_tests {
    use super::tls_chain;

    fn seed(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/corpus/tls_chain/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_seed_chains_verify_and_their_mutations_do_not() {
        assert_eq!(tls_chain(&seed("chain-ok")), Some(Ok(())));
        assert_eq!(tls_chain(&seed("chain-ip-clock")), Some(Ok(())));
        assert_eq!(tls_chain(&seed("chain-reversed")), Some(Ok(())));
        let mut bad = seed("chain-ok");
        let n = bad.len();
        bad[n - 40] ^= 1; // inside the intermediate's signature
        assert!(matches!(tls_chain(&bad), Some(Err(_))));
    }
}

/// `identity` target: the board's identity blob read from flash (`ota_os_embassy::identity`).
/// What parses re-encodes to the same bytes; nothing panics.
pub fn identity(data: &[u8]) {
    use ota_os_embassy::identity::{Identity, MAX_BLOB, encode};
    if let Ok(id) = Identity::parse(data) {
        let mut out = vec![0u8; MAX_BLOB];
        let n = encode(&id, &mut out).expect("a parsed identity re-encodes");
        assert_eq!(&out[..n], &data[..n], "re-encoding is identical");
        assert_eq!(Identity::parse(&out[..n]), Ok(id));
    }
}

#[cfg(test)]
mod identity_tests {
    #[test]
    fn the_seeds_parse_or_are_refused_as_expected() {
        use ota_os_embassy::identity::{Identity, IdentityError};
        let seed = |n: &str| {
            std::fs::read(format!(
                "{}/corpus/identity/{n}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        assert!(Identity::parse(&seed("plain")).is_ok());
        assert!(Identity::parse(&seed("tls")).unwrap().has_tls());
        assert_eq!(Identity::parse(&seed("erased")), Err(IdentityError::Erased));
        super::identity(&seed("tls"));
    }
}
