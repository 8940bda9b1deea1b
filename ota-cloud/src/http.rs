//! The S3 stand-in: objects, presigned URLs and HTTP range GETs, without sockets.
//!
//! [`Cloud::http_get`](crate::Cloud::http_get) answers one request the way S3 answers a presigned
//! GET: `200` with the whole object, `206` with `Content-Range` for a `Range: bytes=...` header,
//! `416` with `Content-Range: bytes */<len>` when the range cannot be satisfied, `403` with an
//! XML `AccessDenied` / `SignatureDoesNotMatch` body when the URL expired or was tampered with,
//! `404` `NoSuchKey` for unknown objects. A networked server only copies status, headers and body
//! to the socket.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::time::{amz_date, parse_amz_date};

type HmacSha256 = Hmac<Sha256>;

/// The presigned-URL algorithm name (the only one accepted).
pub const AMZ_ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The largest `X-Amz-Expires` S3 accepts (7 days); [`Cloud::presign`](crate::Cloud::presign)
/// clamps to it.
pub const MAX_PRESIGN_EXPIRY_S: u64 = 604_800;
const ACCESS_KEY_ID: &str = "AKIAOTACLOUDSIMULATE";

/// One HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// Status code: 200, 206, 400, 403, 404 or 416.
    pub status: u16,
    /// Response headers in the order a server should send them (names as S3 writes them).
    pub headers: Vec<(String, String)>,
    /// The body: object bytes, or an S3 XML error document.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The S3 error code in an XML error body (`<Code>...</Code>`), if any.
    pub fn error_code(&self) -> Option<&str> {
        let text = core::str::from_utf8(&self.body).ok()?;
        let start = text.find("<Code>")? + "<Code>".len();
        let len = text.get(start..)?.find("</Code>")?;
        text.get(start..start + len)
    }
}

/// Counters of the HTTP side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Every call to `http_get`.
    pub requests: u64,
    /// `200` answers.
    pub full: u64,
    /// `206` answers.
    pub partial: u64,
    /// `416` answers.
    pub unsatisfiable: u64,
    /// `403` answers (expired, bad signature, unsigned, injected fault).
    pub forbidden: u64,
    /// `404` answers.
    pub not_found: u64,
    /// `400` answers (malformed path or presign parameters).
    pub bad_request: u64,
    /// Object bytes sent in `200` and `206` bodies.
    pub bytes_served: u64,
}

struct Object {
    bytes: Vec<u8>,
    etag: String,
}

pub(crate) struct HttpStore {
    objects: BTreeMap<String, Object>,
    secret: [u8; 32],
    pub(crate) ignore_range: bool,
    fail_countdown: Option<u64>,
    stats: HttpStats,
}

enum RangeSpec {
    /// No usable Range header: serve the whole object.
    Whole,
    /// Inclusive byte range.
    Bytes(u64, u64),
    /// `416`.
    Unsatisfiable,
}

impl HttpStore {
    pub(crate) fn new(secret: [u8; 32]) -> Self {
        Self {
            objects: BTreeMap::new(),
            secret,
            ignore_range: false,
            fail_countdown: None,
            stats: HttpStats::default(),
        }
    }

    pub(crate) fn put_object(&mut self, key: &str, bytes: Vec<u8>) {
        let key = key.trim_start_matches('/').to_owned();
        let digest = Sha256::digest(&bytes);
        let etag = format!("\"{}\"", hex(&digest[..16]));
        self.objects.insert(key, Object { bytes, etag });
    }

    pub(crate) fn object(&self, key: &str) -> Option<&[u8]> {
        self.objects
            .get(key.trim_start_matches('/'))
            .map(|o| o.bytes.as_slice())
    }

    pub(crate) fn remove_object(&mut self, key: &str) -> bool {
        self.objects.remove(key.trim_start_matches('/')).is_some()
    }

    pub(crate) fn fail_after_requests(&mut self, n: Option<u64>) {
        self.fail_countdown = n;
    }

    pub(crate) fn stats(&self) -> HttpStats {
        self.stats
    }

    fn sign(&self, canonical: &str) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.secret).ok()?;
        mac.update(canonical.as_bytes());
        Some(mac)
    }

    pub(crate) fn presign(
        &self,
        scheme: &str,
        host: &str,
        region: &str,
        now_ms: u64,
        key: &str,
        expires_in_s: u64,
    ) -> String {
        let now_s = now_ms / 1000;
        let date = amz_date(now_s);
        let day = date.get(..8).unwrap_or("19700101");
        let expires = expires_in_s.clamp(1, MAX_PRESIGN_EXPIRY_S);
        let path = encode_path(key.trim_start_matches('/'));
        let params = vec![
            ("X-Amz-Algorithm".to_owned(), AMZ_ALGORITHM.to_owned()),
            (
                "X-Amz-Credential".to_owned(),
                format!("{ACCESS_KEY_ID}/{day}/{region}/s3/aws4_request"),
            ),
            ("X-Amz-Date".to_owned(), date.clone()),
            ("X-Amz-Expires".to_owned(), expires.to_string()),
            ("X-Amz-SignedHeaders".to_owned(), "host".to_owned()),
        ];
        let query = canonical_query(params);
        let signature = self
            .sign(&canonical_request(&path, &query))
            .map(|m| hex(&m.finalize().into_bytes()))
            .unwrap_or_default();
        format!("{scheme}://{host}{path}?{query}&X-Amz-Signature={signature}")
    }

    pub(crate) fn get(
        &mut self,
        now_ms: u64,
        require_signature: bool,
        target: &str,
        range: Option<&str>,
    ) -> HttpReply {
        self.stats.requests += 1;
        let reply = self.answer(now_ms, require_signature, target, range);
        match reply.status {
            200 => self.stats.full += 1,
            206 => self.stats.partial += 1,
            416 => self.stats.unsatisfiable += 1,
            403 => self.stats.forbidden += 1,
            404 => self.stats.not_found += 1,
            _ => self.stats.bad_request += 1,
        }
        if matches!(reply.status, 200 | 206) {
            self.stats.bytes_served += reply.body.len() as u64;
        }
        reply
    }

    fn answer(
        &mut self,
        now_ms: u64,
        require_signature: bool,
        target: &str,
        range: Option<&str>,
    ) -> HttpReply {
        match self.fail_countdown {
            Some(0) => return error_reply(403, "AccessDenied", "Request has expired"),
            Some(n) => self.fail_countdown = Some(n - 1),
            None => {}
        }
        let target = strip_origin(target);
        let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        if !raw_path.starts_with('/') {
            return error_reply(400, "InvalidURI", "Couldn't parse the specified URI.");
        }
        let Some(key) = percent_decode(raw_path.trim_start_matches('/')) else {
            return error_reply(400, "InvalidURI", "Couldn't parse the specified URI.");
        };
        if require_signature && let Err(reply) = self.check_signature(now_ms, &key, raw_query) {
            return reply;
        }
        let Some(object) = self.objects.get(&key) else {
            return error_reply(404, "NoSuchKey", "The specified key does not exist.");
        };
        let len = object.bytes.len() as u64;
        let spec = match range {
            Some(header) if !self.ignore_range => parse_range(header, len),
            _ => RangeSpec::Whole,
        };
        let mut headers = vec![
            ("Accept-Ranges".to_owned(), "bytes".to_owned()),
            ("ETag".to_owned(), object.etag.clone()),
            (
                "Content-Type".to_owned(),
                "application/octet-stream".to_owned(),
            ),
        ];
        match spec {
            RangeSpec::Whole => {
                headers.push(("Content-Length".to_owned(), len.to_string()));
                HttpReply {
                    status: 200,
                    headers,
                    body: object.bytes.clone(),
                }
            }
            RangeSpec::Bytes(start, end) => {
                // start <= end < len by construction of parse_range.
                let body = usize::try_from(start)
                    .ok()
                    .zip(usize::try_from(end).ok())
                    .and_then(|(s, e)| object.bytes.get(s..=e))
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                headers.push((
                    "Content-Range".to_owned(),
                    format!("bytes {start}-{end}/{len}"),
                ));
                headers.push(("Content-Length".to_owned(), body.len().to_string()));
                HttpReply {
                    status: 206,
                    headers,
                    body,
                }
            }
            RangeSpec::Unsatisfiable => {
                let mut reply = error_reply(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                );
                reply
                    .headers
                    .push(("Content-Range".to_owned(), format!("bytes */{len}")));
                reply
            }
        }
    }

    fn check_signature(&self, now_ms: u64, key: &str, raw_query: &str) -> Result<(), HttpReply> {
        let denied = || {
            error_reply(
                403,
                "AccessDenied",
                "Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, \
                 X-Amz-Date, X-Amz-Expires and X-Amz-Signature parameters",
            )
        };
        let bad_params = |msg: &str| error_reply(400, "AuthorizationQueryParametersError", msg);
        let mut params = Vec::new();
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
                return Err(bad_params("Malformed query string"));
            };
            params.push((k, v));
        }
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let (Some(algorithm), Some(_credential), Some(date), Some(expires), Some(signature)) = (
            get("X-Amz-Algorithm"),
            get("X-Amz-Credential"),
            get("X-Amz-Date"),
            get("X-Amz-Expires"),
            get("X-Amz-Signature"),
        ) else {
            return Err(denied());
        };
        if algorithm != AMZ_ALGORITHM {
            return Err(bad_params(
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
            ));
        }
        let Some(signed_at) = parse_amz_date(date) else {
            return Err(bad_params("X-Amz-Date must be in the ISO8601 Long Format"));
        };
        let expires = match expires.parse::<u64>() {
            Ok(e) if e <= MAX_PRESIGN_EXPIRY_S => e,
            _ => {
                return Err(bad_params(
                    "X-Amz-Expires must be a number between 0 and 604800 seconds",
                ));
            }
        };
        let unsigned: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .cloned()
            .collect();
        let canonical = canonical_request(&encode_path(key), &canonical_query(unsigned));
        let provided = unhex(signature);
        let valid = match (self.sign(&canonical), provided) {
            (Some(mac), Some(sig)) => mac.verify_slice(&sig).is_ok(),
            _ => false,
        };
        if !valid {
            return Err(error_reply(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            ));
        }
        if now_ms / 1000 >= signed_at.saturating_add(expires) {
            return Err(error_reply(403, "AccessDenied", "Request has expired"));
        }
        Ok(())
    }
}

fn canonical_request(encoded_path: &str, canonical_query: &str) -> String {
    format!("GET\n{encoded_path}\n{canonical_query}")
}

fn canonical_query(mut params: Vec<(String, String)>) -> String {
    params.sort();
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn strip_origin(target: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = target.strip_prefix(scheme) {
            return rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/");
        }
    }
    target
}

fn error_reply(status: u16, code: &str, message: &str) -> HttpReply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>OTACLOUDSIM</RequestId></Error>"
    )
    .into_bytes();
    HttpReply {
        status,
        headers: vec![
            ("Content-Type".to_owned(), "application/xml".to_owned()),
            ("Content-Length".to_owned(), body.len().to_string()),
        ],
        body,
    }
}

/// Parses a `Range` header value against an object of `len` bytes (RFC 9110 §14).
///
/// A header that is not a single well-formed `bytes=` range is ignored (the whole object is
/// served), as S3 does for multi-range requests.
fn parse_range(header: &str, len: u64) -> RangeSpec {
    let header = header.trim();
    let Some(unit) = header.get(..6) else {
        return RangeSpec::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes=") {
        return RangeSpec::Whole;
    }
    let spec = header.get(6..).unwrap_or("").trim();
    if spec.contains(',') {
        return RangeSpec::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeSpec::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if first.is_empty() {
        // Suffix range: the last n bytes.
        let Some(n) = number(last) else {
            return RangeSpec::Whole;
        };
        if n == 0 || len == 0 {
            return RangeSpec::Unsatisfiable;
        }
        return RangeSpec::Bytes(len.saturating_sub(n), len - 1);
    }
    let Some(start) = number(first) else {
        return RangeSpec::Whole;
    };
    let end = if last.is_empty() {
        None
    } else {
        match number(last) {
            Some(e) if e >= start => Some(e),
            _ => return RangeSpec::Whole,
        }
    };
    if start >= len {
        return RangeSpec::Unsatisfiable;
    }
    let end = end.map_or(len - 1, |e| e.min(len - 1));
    RangeSpec::Bytes(start, end)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn encode_with(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/` + the key, percent-encoded except unreserved characters and `/`.
pub(crate) fn encode_path(key: &str) -> String {
    format!("/{}", encode_with(key, true))
}

fn encode_component(s: &str) -> String {
    encode_with(s, false)
}

/// Percent-decodes `s`; `None` on a bad escape or non-UTF-8 result.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let pair = s.get(i + 1..i + 3)?;
            let v = unhex(pair)?;
            out.extend_from_slice(&v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> HttpStore {
        let mut s = HttpStore::new([7; 32]);
        s.put_object("fw/image.bin", (0..=255u8).cycle().take(1000).collect());
        s
    }

    #[test]
    fn range_parsing() {
        let r = |h: &str, len| match parse_range(h, len) {
            RangeSpec::Whole => "whole".to_owned(),
            RangeSpec::Bytes(a, b) => format!("{a}-{b}"),
            RangeSpec::Unsatisfiable => "416".to_owned(),
        };
        assert_eq!(r("bytes=0-99", 1000), "0-99");
        assert_eq!(r("bytes=900-", 1000), "900-999");
        assert_eq!(r("bytes=-100", 1000), "900-999");
        assert_eq!(r("bytes=-5000", 1000), "0-999");
        assert_eq!(r("bytes=990-2000", 1000), "990-999");
        assert_eq!(r("BYTES=1-1", 1000), "1-1");
        assert_eq!(r("bytes=1000-", 1000), "416");
        assert_eq!(r("bytes=-0", 1000), "416");
        assert_eq!(r("bytes=0-0", 0), "416");
        assert_eq!(r("bytes=5-4", 1000), "whole");
        assert_eq!(r("bytes=0-1,5-6", 1000), "whole");
        assert_eq!(r("items=0-1", 1000), "whole");
        assert_eq!(r("bytes=x-1", 1000), "whole");
        assert_eq!(r("bytes=+1-2", 1000), "whole");
        assert_eq!(r("", 1000), "whole");
    }

    #[test]
    fn percent_coding() {
        assert_eq!(encode_path("a b/c+d"), "/a%20b/c%2Bd");
        assert_eq!(percent_decode("a%20b/c%2Bd").as_deref(), Some("a b/c+d"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(unhex("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(unhex("0"), None);
    }

    #[test]
    fn presigned_round_trip_and_tamper() {
        let mut s = store();
        let url = s.presign("http", "h:1", "us-east-1", 5_000, "fw/image.bin", 60);
        assert!(url.starts_with("http://h:1/fw/image.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
        assert!(url.contains("X-Amz-Date=19700101T000005Z"));
        assert!(url.contains(
            "X-Amz-Credential=AKIAOTACLOUDSIMULATE%2F19700101%2Fus-east-1%2Fs3%2Faws4_request"
        ));
        assert_eq!(s.get(5_000, true, &url, None).status, 200);
        assert_eq!(s.get(64_999, true, &url, None).status, 200);
        assert_eq!(s.get(65_000, true, &url, None).status, 403);
        let tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=600");
        let reply = s.get(5_000, true, &tampered, None);
        assert_eq!(reply.status, 403);
        assert_eq!(reply.error_code(), Some("SignatureDoesNotMatch"));
        let extra = format!("{url}&x=1");
        assert_eq!(s.get(5_000, true, &extra, None).status, 403);
        assert_eq!(s.get(5_000, true, "/fw/image.bin", None).status, 403);
        assert_eq!(s.get(5_000, false, "/fw/image.bin", None).status, 200);
        assert_eq!(s.get(5_000, false, "fw/image.bin", None).status, 400);
    }
}
