//! Jobs requests the agent publishes (`$next/get`, `<jobId>/update`) and the service's answers
//! on `.../accepted` and `.../rejected`.

use super::job::{ExecutionStatus, JobError, members};
use super::json::{self, RawStr, Value};
use core::fmt;

/// Most `statusDetails` entries the service accepts.
pub const MAX_STATUS_DETAILS: usize = 10;
/// Longest `statusDetails` value the service accepts.
pub const MAX_STATUS_VALUE_LEN: usize = 1024;
/// Longest `statusDetails` key the service accepts.
pub const MAX_STATUS_KEY_LEN: usize = 128;
/// Longest client token the service accepts.
pub const MAX_CLIENT_TOKEN_LEN: usize = 64;

/// Why a request could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// More than [`MAX_STATUS_DETAILS`] entries.
    TooManyDetails,
    /// A key is empty, too long or has characters outside `[a-zA-Z0-9:_-]`.
    BadDetailKey,
    /// A value is empty, too long, or has control characters.
    BadDetailValue,
    /// The client token is empty, too long or not printable ASCII (or holds `"` or `\`).
    BadClientToken,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("jobs request: ")?;
        match self {
            Self::BufferTooSmall => f.write_str("output buffer too small"),
            Self::TooManyDetails => {
                write!(f, "more than {MAX_STATUS_DETAILS} statusDetails entries")
            }
            Self::BadDetailKey => {
                f.write_str("statusDetails key is empty, too long, repeated or not [a-zA-Z0-9:_-]")
            }
            Self::BadDetailValue => {
                f.write_str("statusDetails value is empty, too long or has control characters")
            }
            Self::BadClientToken => {
                f.write_str("client token is empty, too long or not printable ascii")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

/// Writes `{"clientToken":"<token>"}` (the `$next/get` request) into `out`.
///
/// # Errors
///
/// [`EncodeError::BadClientToken`] unless the token is 1..=[`MAX_CLIENT_TOKEN_LEN`] bytes of
/// printable ASCII (space included) without `"` or `\`; [`EncodeError::BufferTooSmall`]
/// (with `out` untouched) when the request does not fit.
pub fn encode_next_get(client_token: &str, out: &mut [u8]) -> Result<usize, EncodeError> {
    check_client_token(client_token)?;
    encode_with(out, &|w| {
        w.bytes(b"{\"clientToken\":")?;
        w.json_str(client_token)?;
        w.bytes(b"}")
    })
}

fn check_client_token(token: &str) -> Result<(), EncodeError> {
    let ok = (1..=MAX_CLIENT_TOKEN_LEN).contains(&token.len())
        && token
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(EncodeError::BadClientToken)
    }
}

fn check_details(details: &[(&str, &str)]) -> Result<(), EncodeError> {
    if details.len() > MAX_STATUS_DETAILS {
        return Err(EncodeError::TooManyDetails);
    }
    for (i, (key, value)) in details.iter().enumerate() {
        let key_ok = (1..=MAX_STATUS_KEY_LEN).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
        let repeated = details
            .get(..i)
            .is_some_and(|before| before.iter().any(|(k, _)| k == key));
        if !key_ok || repeated {
            return Err(EncodeError::BadDetailKey);
        }
        let value_ok =
            !value.is_empty() && char_count(value) <= MAX_STATUS_VALUE_LEN && !has_control(value);
        if !value_ok {
            return Err(EncodeError::BadDetailValue);
        }
    }
    Ok(())
}

/// `s.chars().count()`, on bytes: every byte but a UTF-8 continuation byte starts a character
/// (no `core::str` counting or decoding machinery in flash).
fn char_count(s: &str) -> usize {
    s.bytes().filter(|&b| !(0x80..0xc0).contains(&b)).count()
}

/// `s.chars().any(char::is_control)`, on bytes: the control characters (`Cc`) are U+0000–U+001F
/// and U+007F (one byte each) and U+0080–U+009F (`C2 80`–`C2 9F`).
fn has_control(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().any(|&c| c < 0x20 || c == 0x7f)
        || b.windows(2).any(|w| matches!(w, [0xc2, 0x80..=0x9f]))
}

/// Runs `write` once to measure, then again into `out` if it fits, so that `out` is left
/// untouched on [`EncodeError::BufferTooSmall`].
fn encode_with(
    out: &mut [u8],
    write: &dyn Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    let mut measure = Writer { out: None, len: 0 };
    write(&mut measure)?;
    if measure.len > out.len() {
        return Err(EncodeError::BufferTooSmall);
    }
    let mut w = Writer {
        out: Some(out),
        len: 0,
    };
    write(&mut w)?;
    Ok(w.len)
}

/// Appends to an output buffer; with no buffer, only counts.
struct Writer<'o> {
    out: Option<&'o mut [u8]>,
    len: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .len
            .checked_add(b.len())
            .ok_or(EncodeError::BufferTooSmall)?;
        if let Some(out) = self.out.as_deref_mut() {
            out.get_mut(self.len..end)
                .ok_or(EncodeError::BufferTooSmall)?
                .copy_from_slice(b);
        }
        self.len = end;
        Ok(())
    }

    /// `s` as a JSON string: quotes added, `"` and `\` escaped, control characters as
    /// `\u00XX`.
    fn json_str(&mut self, s: &str) -> Result<(), EncodeError> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.bytes(b"\"")?;
        let mut run_start = 0;
        for (i, &b) in s.as_bytes().iter().enumerate() {
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                0x00..=0x1f => &[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ],
                _ => continue,
            };
            self.bytes(s.as_bytes().get(run_start..i).unwrap_or(&[]))?;
            self.bytes(escape)?;
            run_start = i + 1;
        }
        self.bytes(s.as_bytes().get(run_start..).unwrap_or(&[]))?;
        self.bytes(b"\"")
    }

    fn decimal(&mut self, v: u32) -> Result<(), EncodeError> {
        let mut buf = [0u8; 10];
        let mut rest = v;
        let mut start = buf.len();
        for slot in buf.iter_mut().rev() {
            // `rest % 10` is one digit
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
            start -= 1;
            if rest == 0 {
                break;
            }
        }
        self.bytes(buf.get(start..).unwrap_or(&[]))
    }
}

/// A job execution update (`UpdateJobExecution`) request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusUpdate<'a> {
    /// The new status.
    pub status: ExecutionStatus,
    /// `statusDetails` entries, in order (checked against the service's limits).
    pub details: &'a [(&'a str, &'a str)],
    /// `clientToken`, echoed by the service in its answer.
    pub client_token: Option<&'a str>,
    /// `expectedVersion`, if the caller wants optimistic locking.
    pub expected_version: Option<u32>,
}

/// Writes the update's JSON into `out`:
/// `{"status":"IN_PROGRESS","statusDetails":{"receive":"1/8"},"clientToken":"..."}`.
/// Values are JSON-escaped; the service's limits on `statusDetails` are enforced.
///
/// Members are written in the order `status`, `statusDetails` (omitted when `details` is
/// empty: the service then keeps the execution's current details), `expectedVersion`,
/// `clientToken`, with no whitespace.
///
/// # Errors
///
/// - [`EncodeError::TooManyDetails`]: more than [`MAX_STATUS_DETAILS`] entries;
/// - [`EncodeError::BadDetailKey`]: a key that is not 1..=[`MAX_STATUS_KEY_LEN`] characters of
///   `[a-zA-Z0-9:_-]`, or that appears twice;
/// - [`EncodeError::BadDetailValue`]: a value that is empty, longer than
///   [`MAX_STATUS_VALUE_LEN`] characters, or has a control character (`char::is_control`);
/// - [`EncodeError::BadClientToken`]: see [`encode_next_get`];
/// - [`EncodeError::BufferTooSmall`]: the request does not fit (`out` is left untouched).
pub fn encode_status_update(
    update: &StatusUpdate<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    check_details(update.details)?;
    if let Some(token) = update.client_token {
        check_client_token(token)?;
    }
    encode_with(out, &|w| {
        w.bytes(b"{\"status\":")?;
        w.json_str(update.status.as_str())?;
        if !update.details.is_empty() {
            w.bytes(b",\"statusDetails\":{")?;
            for (i, (key, value)) in update.details.iter().enumerate() {
                if i > 0 {
                    w.bytes(b",")?;
                }
                w.json_str(key)?;
                w.bytes(b":")?;
                w.json_str(value)?;
            }
            w.bytes(b"}")?;
        }
        if let Some(version) = update.expected_version {
            w.bytes(b",\"expectedVersion\":")?;
            w.decimal(version)?;
        }
        if let Some(token) = update.client_token {
            w.bytes(b",\"clientToken\":")?;
            w.json_str(token)?;
        }
        w.bytes(b"}")
    })
}

/// The `code` of a Jobs `ErrorResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JobsErrorCode {
    /// `InvalidTopic`
    InvalidTopic,
    /// `InvalidJson`
    InvalidJson,
    /// `InvalidRequest`
    InvalidRequest,
    /// `InvalidStateTransition`
    InvalidStateTransition,
    /// `ResourceNotFound`
    ResourceNotFound,
    /// `VersionMismatch`
    VersionMismatch,
    /// `InternalError`
    InternalError,
    /// `RequestThrottled`
    RequestThrottled,
    /// `TerminalStateReached`
    TerminalStateReached,
    /// Any other code.
    Other,
}

/// An answer on `.../accepted` or `.../rejected` to a Jobs request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobsAnswer<'a> {
    /// `clientToken`, echoed from the request.
    pub client_token: Option<RawStr<'a>>,
    /// `code` (rejected answers only).
    pub code: Option<JobsErrorCode>,
    /// `message` (rejected answers only).
    pub message: Option<RawStr<'a>>,
    /// `executionState.status`, when the service includes it.
    pub execution_status: Option<ExecutionStatus>,
}

impl JobsErrorCode {
    const ALL: [(Self, &'static str); 9] = [
        (Self::InvalidTopic, "InvalidTopic"),
        (Self::InvalidJson, "InvalidJson"),
        (Self::InvalidRequest, "InvalidRequest"),
        (Self::InvalidStateTransition, "InvalidStateTransition"),
        (Self::ResourceNotFound, "ResourceNotFound"),
        (Self::VersionMismatch, "VersionMismatch"),
        (Self::InternalError, "InternalError"),
        (Self::RequestThrottled, "RequestThrottled"),
        (Self::TerminalStateReached, "TerminalStateReached"),
    ];

    /// The wire name (`"VersionMismatch"`, ...); `"Other"` for [`JobsErrorCode::Other`].
    pub fn as_str(&self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(code, _)| code == self)
            .map_or("Other", |(_, name)| name)
    }

    /// The code a JSON string names, compared after unescaping; unknown names are `Other`.
    fn from_raw(raw: RawStr<'_>) -> Self {
        Self::ALL
            .iter()
            .find(|(_, name)| raw.eq_str(name))
            .map_or(Self::Other, |(code, _)| *code)
    }
}

/// Reads an `/update/accepted`, `/update/rejected` or `$next/get/rejected` payload.
///
/// Unknown members are ignored; an unknown `code` is [`JobsErrorCode::Other`], an unknown
/// `executionState.status` is `None`.
///
/// # Errors
///
/// [`JobError::Json`] / [`JobError::NotAnObject`] when the payload is not a JSON object;
/// [`JobError::WrongType`] when `clientToken`, `code`, `message`, `executionState` or its
/// `status` is present with the wrong JSON type (`null` counts as absent).
pub fn parse_jobs_answer(doc: &[u8]) -> Result<JobsAnswer<'_>, JobError> {
    let root = json::parse(doc)?.as_object().ok_or(JobError::NotAnObject)?;
    let mut answer = JobsAnswer {
        client_token: None,
        code: None,
        message: None,
        execution_status: None,
    };
    members(
        root,
        &["clientToken", "code", "message", "executionState"],
        &mut |i, name, value| {
            match i {
                0 => answer.client_token = optional_string(value, name)?,
                1 => answer.code = optional_string(value, name)?.map(JobsErrorCode::from_raw),
                2 => answer.message = optional_string(value, name)?,
                _ => {
                    let state = match value {
                        Value::Null => return Ok(()),
                        Value::Object(state) => state,
                        _ => return Err(JobError::WrongType(name)),
                    };
                    members(state, &["status"], &mut |_, name, status| {
                        answer.execution_status =
                            optional_string(status, name)?.and_then(ExecutionStatus::from_raw);
                        Ok(())
                    })?;
                }
            }
            Ok(())
        },
    )?;
    Ok(answer)
}

fn optional_string<'a>(
    value: Value<'a>,
    field: &'static str,
) -> Result<Option<RawStr<'a>>, JobError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(JobError::WrongType(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn byte_wise_checks_match_char_iteration(s in "(\\PC|\\p{Cc}|[\u{80}-\u{9f}\u{a0}-\u{ff}\u{100}]){0,40}") {
            proptest::prop_assert_eq!(char_count(&s), s.chars().count());
            proptest::prop_assert_eq!(has_control(&s), s.chars().any(char::is_control));
        }
    }
    use std::string::{String, ToString};

    fn update<'a>(details: &'a [(&'a str, &'a str)]) -> StatusUpdate<'a> {
        StatusUpdate {
            status: ExecutionStatus::InProgress,
            details,
            client_token: None,
            expected_version: None,
        }
    }

    fn encode(u: &StatusUpdate<'_>) -> Result<String, EncodeError> {
        let mut buf = [0u8; 16 * 1024];
        let n = encode_status_update(u, &mut buf)?;
        Ok(String::from_utf8(buf[..n].to_vec()).expect("utf-8"))
    }

    #[test]
    fn next_get() {
        let mut buf = [0u8; 128];
        let n = encode_next_get("7:my-thing", &mut buf).expect("encode");
        assert_eq!(&buf[..n], br#"{"clientToken":"7:my-thing"}"#);
        let token = "t".repeat(MAX_CLIENT_TOKEN_LEN);
        let n = encode_next_get(&token, &mut buf).expect("longest token");
        assert_eq!(n, 18 + MAX_CLIENT_TOKEN_LEN);
        assert_eq!(
            encode_next_get("a b~", &mut buf).map(|n| buf[..n].to_vec()),
            Ok(br#"{"clientToken":"a b~"}"#.to_vec())
        );
    }

    #[test]
    fn client_token_rules() {
        let mut buf = [0u8; 256];
        let long = "t".repeat(MAX_CLIENT_TOKEN_LEN + 1);
        for bad in ["", long.as_str(), "a\"b", "a\\b", "a\nb", "a\u{7f}", "é"] {
            assert_eq!(
                encode_next_get(bad, &mut buf),
                Err(EncodeError::BadClientToken),
                "{bad:?}"
            );
            let u = StatusUpdate {
                client_token: Some(bad),
                ..update(&[])
            };
            assert_eq!(
                encode_status_update(&u, &mut buf),
                Err(EncodeError::BadClientToken),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn buffer_too_small_leaves_buffer_untouched() {
        let expected = br#"{"clientToken":"abc"}"#;
        let mut buf = [0xAAu8; 64];
        assert_eq!(
            encode_next_get("abc", &mut buf[..expected.len() - 1]),
            Err(EncodeError::BufferTooSmall)
        );
        assert!(buf.iter().all(|&b| b == 0xAA));
        assert_eq!(
            encode_next_get("abc", &mut buf[..expected.len()]),
            Ok(expected.len())
        );
        let u = StatusUpdate {
            client_token: Some("tok"),
            expected_version: Some(9),
            ..update(&[("receive", "1/8")])
        };
        let full = encode(&u).expect("encode");
        let mut buf = [0xAAu8; 256];
        assert_eq!(
            encode_status_update(&u, &mut buf[..full.len() - 1]),
            Err(EncodeError::BufferTooSmall)
        );
        assert!(buf.iter().all(|&b| b == 0xAA));
        assert_eq!(
            encode_status_update(&u, &mut buf[..full.len()]),
            Ok(full.len())
        );
        assert_eq!(
            encode_status_update(&u, &mut []),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn status_update_shapes() {
        assert_eq!(
            encode(&update(&[])).as_deref(),
            Ok(r#"{"status":"IN_PROGRESS"}"#)
        );
        assert_eq!(
            encode(&update(&[("receive", "1/8")])).as_deref(),
            Ok(r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"1/8"}}"#)
        );
        let u = StatusUpdate {
            status: ExecutionStatus::Succeeded,
            details: &[("reason", "accepted v1.0.1"), ("updatedBy", "0x01000000")],
            client_token: Some("3:thing"),
            expected_version: Some(4_294_967_295),
        };
        assert_eq!(
            encode(&u).as_deref(),
            Ok(
                r#"{"status":"SUCCEEDED","statusDetails":{"reason":"accepted v1.0.1","updatedBy":"0x01000000"},"expectedVersion":4294967295,"clientToken":"3:thing"}"#
            )
        );
        let zero = StatusUpdate {
            expected_version: Some(0),
            ..update(&[])
        };
        assert_eq!(
            encode(&zero).as_deref(),
            Ok(r#"{"status":"IN_PROGRESS","expectedVersion":0}"#)
        );
        let failed = StatusUpdate {
            status: ExecutionStatus::Failed,
            ..update(&[("reason", "0x0000000c: 0x00000004")])
        };
        assert_eq!(
            encode(&failed).as_deref(),
            Ok(r#"{"status":"FAILED","statusDetails":{"reason":"0x0000000c: 0x00000004"}}"#)
        );
    }

    #[test]
    fn values_are_escaped() {
        let out = encode(&update(&[
            ("reason", r#"say "hi" \ bye"#),
            ("uni", "é😀 /"),
        ]))
        .expect("encode");
        assert_eq!(
            out,
            r#"{"status":"IN_PROGRESS","statusDetails":{"reason":"say \"hi\" \\ bye","uni":"é😀 /"}}"#
        );
        let root = json::parse(out.as_bytes())
            .expect("re-parses")
            .as_object()
            .expect("object");
        let details = root
            .get("statusDetails")
            .and_then(|d| d.as_object())
            .expect("details");
        assert!(
            details
                .get("reason")
                .and_then(|v| v.as_raw_str())
                .is_some_and(|v| v.eq_str(r#"say "hi" \ bye"#))
        );
        // the escaper itself handles control characters (values never carry them: refused first)
        let mut buf = [0u8; 32];
        let n = encode_with(&mut buf, &|w| w.json_str("a\u{1}\n\u{1f}")).expect("escape");
        assert_eq!(&buf[..n], br#""a\u0001\u000a\u001f""#);
    }

    #[test]
    fn detail_limits() {
        let ten: std::vec::Vec<(String, String)> = (0..MAX_STATUS_DETAILS)
            .map(|i| (std::format!("k{i}"), "v".into()))
            .collect();
        let ten: std::vec::Vec<(&str, &str)> =
            ten.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(encode(&update(&ten)).is_ok());
        let mut eleven = ten.clone();
        eleven.push(("k10", "v"));
        assert_eq!(encode(&update(&eleven)), Err(EncodeError::TooManyDetails));

        let key128 = "k".repeat(MAX_STATUS_KEY_LEN);
        let key129 = "k".repeat(MAX_STATUS_KEY_LEN + 1);
        assert!(encode(&update(&[(&key128, "v")])).is_ok());
        assert!(encode(&update(&[("aZ09:_-", "v")])).is_ok());
        for bad in ["", key129.as_str(), "a b", "a.b", "a/b", "é", "a\"", "a\\"] {
            assert_eq!(
                encode(&update(&[(bad, "v")])),
                Err(EncodeError::BadDetailKey),
                "{bad:?}"
            );
        }
        assert_eq!(
            encode(&update(&[("a", "1"), ("b", "2"), ("a", "3")])),
            Err(EncodeError::BadDetailKey)
        );

        let v1024 = "é".repeat(MAX_STATUS_VALUE_LEN); // 1024 characters, 2048 bytes
        let v1025 = "v".repeat(MAX_STATUS_VALUE_LEN + 1);
        assert!(encode(&update(&[("k", &v1024)])).is_ok());
        for bad in ["", v1025.as_str(), "a\nb", "\t", "\0", "a\u{7f}", "a\u{85}"] {
            assert_eq!(
                encode(&update(&[("k", bad)])),
                Err(EncodeError::BadDetailValue),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn answers() {
        let accepted = br#"{"executionState":{"status":"IN_PROGRESS","statusDetails":{"receive":"1/8"},"versionNumber":2},"timestamp":1602795143,"clientToken":"5:thing"}"#;
        let a = parse_jobs_answer(accepted).expect("accepted");
        assert!(a.client_token.is_some_and(|t| t.eq_str("5:thing")));
        assert_eq!(a.code, None);
        assert_eq!(a.message, None);
        assert_eq!(a.execution_status, Some(ExecutionStatus::InProgress));

        let rejected = br#"{"clientToken":"6:thing","timestamp":1,"code":"TerminalStateReached","message":"Job is in \"SUCCEEDED\" state","executionState":{"status":"SUCCEEDED","versionNumber":3}}"#;
        let r = parse_jobs_answer(rejected).expect("rejected");
        assert_eq!(r.code, Some(JobsErrorCode::TerminalStateReached));
        assert!(
            r.message
                .is_some_and(|m| m.eq_str("Job is in \"SUCCEEDED\" state"))
        );
        assert_eq!(r.execution_status, Some(ExecutionStatus::Succeeded));

        let next_rejected = br#"{"code":"InvalidRequest","message":"bad","timestamp":1}"#;
        let n = parse_jobs_answer(next_rejected).expect("next rejected");
        assert_eq!(
            (n.client_token, n.code, n.execution_status),
            (None, Some(JobsErrorCode::InvalidRequest), None)
        );

        for (code, expected) in JobsErrorCode::ALL {
            let doc = std::format!(r#"{{"code":"{expected}"}}"#);
            assert_eq!(
                parse_jobs_answer(doc.as_bytes()).map(|a| a.code),
                Ok(Some(code))
            );
            assert_eq!(code.as_str(), expected);
        }
        assert_eq!(
            parse_jobs_answer(br#"{"code":"SomethingNew"}"#).map(|a| a.code),
            Ok(Some(JobsErrorCode::Other))
        );
        assert_eq!(JobsErrorCode::Other.as_str(), "Other");
        assert_eq!(
            parse_jobs_answer(br#"{"executionState":{"status":"WEIRD"}}"#)
                .map(|a| a.execution_status),
            Ok(None)
        );
        assert_eq!(
            parse_jobs_answer(br#"{"executionState":null,"code":null}"#)
                .map(|a| (a.code, a.execution_status)),
            Ok((None, None))
        );
        assert!(parse_jobs_answer(br#"{}"#).is_ok());
    }

    #[test]
    fn answer_errors() {
        let cases: &[(&[u8], JobError)] = &[
            (b"", JobError::Json(json::JsonError::UnexpectedEnd)),
            (b"\"x\"", JobError::NotAnObject),
            (br#"{"code":1}"#, JobError::WrongType("code")),
            (br#"{"clientToken":[]}"#, JobError::WrongType("clientToken")),
            (br#"{"message":false}"#, JobError::WrongType("message")),
            (
                br#"{"executionState":"x"}"#,
                JobError::WrongType("executionState"),
            ),
            (
                br#"{"executionState":{"status":3}}"#,
                JobError::WrongType("status"),
            ),
            (
                br#"{"code":"a","code":"b"}"#,
                JobError::Json(json::JsonError::DuplicateKey),
            ),
        ];
        for (doc, expected) in cases {
            assert_eq!(
                parse_jobs_answer(doc),
                Err(*expected),
                "{:?}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn repeated_members_are_refused_beyond_the_json_budget() {
        let padding: String = (0..json::DUPLICATE_CHECK_KEYS)
            .map(|i| std::format!(r#""pad{i}":0,"#))
            .collect();
        let doc = std::format!(r#"{{{padding}"code":"InvalidRequest","code":"VersionMismatch"}}"#);
        assert!(json::parse(doc.as_bytes()).is_ok());
        assert_eq!(
            parse_jobs_answer(doc.as_bytes()),
            Err(JobError::Json(json::JsonError::DuplicateKey))
        );
    }

    #[test]
    fn display_messages() {
        for e in [
            EncodeError::BufferTooSmall,
            EncodeError::TooManyDetails,
            EncodeError::BadDetailKey,
            EncodeError::BadDetailValue,
            EncodeError::BadClientToken,
        ] {
            let s = e.to_string();
            assert!(s.starts_with("jobs request: ") && s.len() < 100, "{s}");
        }
        assert_eq!(
            EncodeError::TooManyDetails.to_string(),
            "jobs request: more than 10 statusDetails entries"
        );
    }
}
