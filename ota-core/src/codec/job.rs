//! AWS IoT Jobs responses (`$next/get/accepted`, `notify-next`) and the `afr_ota` job document
//! written by `CreateOTAUpdate`.
//!
//! Parsing is two-step, so that a re-delivered or malformed document never touches the live
//! job: [`parse_job_response`] reads the Jobs envelope, [`parse_job_document`] reads the
//! `jobDocument` object into an [`OtaJob`] (or hands it back as a custom job).

use super::json::{self, Array, JsonError, Object, RawStr, Value};
use core::fmt;

/// Longest job id AWS IoT accepts (characters of `[a-zA-Z0-9_-]`).
pub const MAX_JOB_ID_LEN: usize = 64;
/// Longest stream name accepted (AWS stream ids are at most 128 characters of `[a-zA-Z0-9_-]`).
pub const MAX_STREAM_NAME_LEN: usize = 128;
/// Most files one `afr_ota` document may list.
pub const MAX_FILES: usize = 8;

/// Why a Jobs response or job document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JobError {
    /// The payload is not JSON.
    Json(JsonError),
    /// The root is not an object.
    NotAnObject,
    /// A field has the wrong JSON type.
    WrongType(&'static str),
    /// A required field is missing.
    Missing(&'static str),
    /// `jobId` is empty, longer than [`MAX_JOB_ID_LEN`] or has characters outside `[a-zA-Z0-9_-]`.
    BadJobId,
    /// `streamname` is empty, too long, or would inject into an MQTT topic.
    BadStreamName,
    /// `protocols` names no protocol this agent knows (`MQTT`, `HTTP`).
    NoKnownProtocol,
    /// `files` is empty or has more than [`MAX_FILES`] entries.
    BadFileCount,
    /// `filesize` is zero.
    ZeroFileSize,
    /// A number is not an unsigned 32-bit integer.
    BadNumber(&'static str),
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("job document: ")?;
        match self {
            Self::Json(e) => write!(f, "{e}"),
            Self::NotAnObject => f.write_str("not a json object"),
            Self::WrongType(field) => write!(f, "field `{field}` has the wrong type"),
            Self::Missing(field) => write!(f, "missing field `{field}`"),
            Self::BadJobId => write!(
                f,
                "job id is not 1-{MAX_JOB_ID_LEN} characters of [a-zA-Z0-9_-]"
            ),
            Self::BadStreamName => f.write_str("stream name is empty, too long or not topic-safe"),
            Self::NoKnownProtocol => f.write_str("no known protocol (MQTT, HTTP) in `protocols`"),
            Self::BadFileCount => write!(f, "`files` must list 1 to {MAX_FILES} files"),
            Self::ZeroFileSize => f.write_str("`filesize` is zero"),
            Self::BadNumber(field) => write!(f, "field `{field}` is not a valid unsigned integer"),
        }
    }
}

impl core::error::Error for JobError {}

impl From<JsonError> for JobError {
    fn from(e: JsonError) -> Self {
        Self::Json(e)
    }
}

/// A job execution's status as the Jobs service reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExecutionStatus {
    /// `QUEUED`
    Queued,
    /// `IN_PROGRESS`
    InProgress,
    /// `SUCCEEDED`
    Succeeded,
    /// `FAILED`
    Failed,
    /// `REJECTED`
    Rejected,
    /// `CANCELED`
    Canceled,
    /// `REMOVED`
    Removed,
    /// `TIMED_OUT`
    TimedOut,
}

impl ExecutionStatus {
    const ALL: [Self; 8] = [
        Self::Queued,
        Self::InProgress,
        Self::Succeeded,
        Self::Failed,
        Self::Rejected,
        Self::Canceled,
        Self::Removed,
        Self::TimedOut,
    ];

    /// The wire name (`"IN_PROGRESS"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Rejected => "REJECTED",
            Self::Canceled => "CANCELED",
            Self::Removed => "REMOVED",
            Self::TimedOut => "TIMED_OUT",
        }
    }
    /// Whether the status is terminal (no further update accepted by the service).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Self::Queued | Self::InProgress)
    }
    /// The status named `name` (the exact wire name, e.g. `"IN_PROGRESS"`), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
    /// The status a JSON string names, compared after unescaping.
    pub(crate) fn from_raw(raw: RawStr<'_>) -> Option<Self> {
        Self::ALL.into_iter().find(|s| raw.eq_str(s.as_str()))
    }
}

/// `statusDetails.self_test` as written by an agent before activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SelfTestMark {
    /// `"ready"`: the image was verified and is about to be activated.
    Ready,
    /// `"active"`: the new image booted and is under test.
    Active,
    /// Any other value (the key's presence still marks a self-test job).
    Other,
}

/// The `statusDetails` fields the agent reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusDetails {
    /// `self_test`, if present.
    pub self_test: Option<SelfTestMark>,
    /// `updatedBy`: the packed version (see [`crate::Version::to_u32`]) of the firmware that
    /// performed the update. Accepts a JSON number, `"0x..."`, a decimal string or `"X.Y.Z"`.
    pub updated_by: Option<u32>,
}

/// The `execution` object of a Jobs response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Execution<'a> {
    /// `jobId`, validated (1–64 characters of `[a-zA-Z0-9_-]`).
    pub job_id: &'a str,
    /// `status`, if present and known.
    pub status: Option<ExecutionStatus>,
    /// `statusDetails`.
    pub status_details: StatusDetails,
    /// `versionNumber`, if present.
    pub version_number: Option<u32>,
    /// `executionNumber`, if present.
    pub execution_number: Option<u32>,
    /// `jobDocument`; `None` when the execution carries no document.
    pub job_document: Option<Object<'a>>,
}

/// A `$next/get/accepted` or `notify-next` payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobResponse<'a> {
    /// `clientToken` (absent on notify-next).
    pub client_token: Option<RawStr<'a>>,
    /// `timestamp`, if present.
    pub timestamp: Option<u64>,
    /// `execution`; `None` means there is no pending job.
    pub execution: Option<Execution<'a>>,
}

/// Reads a Jobs response (`$next/get/accepted` or `notify-next`).
///
/// A document with no `execution` (or an empty one, or `null`) is `Ok` with `execution: None`:
/// the service's way of saying "no job". A present but malformed `execution` is an error.
///
/// # Errors
///
/// - [`JobError::Json`] / [`JobError::NotAnObject`]: not a JSON object;
/// - [`JobError::Missing`]`("jobId")`: a non-empty `execution` without `jobId`;
/// - [`JobError::BadJobId`]: `jobId` is not a string, holds an escape sequence, or is not a
///   valid job id ([`is_valid_job_id`]);
/// - [`JobError::WrongType`]: `clientToken`, `execution`, `status`, `statusDetails` or
///   `jobDocument` has the wrong JSON type (`null` counts as absent for the objects);
/// - [`JobError::BadNumber`]: `timestamp`, `versionNumber`, `executionNumber` or
///   `statusDetails.updatedBy` is present but not an unsigned integer (`updatedBy` may also be
///   `"X.Y.Z"`, see [`StatusDetails::updated_by`]).
///
/// An unknown `status` string gives `status: None`; unknown keys are ignored everywhere.
pub fn parse_job_response(doc: &[u8]) -> Result<JobResponse<'_>, JobError> {
    let root = json::parse(doc)?.as_object().ok_or(JobError::NotAnObject)?;
    let mut response = JobResponse {
        client_token: None,
        timestamp: None,
        execution: None,
    };
    members(
        root,
        &["clientToken", "timestamp", "execution"],
        &mut |i, name, value| {
            match i {
                0 => response.client_token = Some(string(value, name)?),
                1 => response.timestamp = Some(value.as_u64().ok_or(JobError::BadNumber(name))?),
                _ => {
                    response.execution = match optional_object(value, name)? {
                        Some(execution) if !execution.is_empty() => {
                            Some(parse_execution(execution)?)
                        }
                        _ => None,
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(response)
}

/// Walks `obj`'s members in document order and hands each one named in `names` to
/// `member(index in names, name, value)`; other members are ignored.
///
/// A member the parsers read must appear once. [`json::parse`] refuses duplicate keys only
/// within its budget ([`json::DUPLICATE_CHECK_KEYS`]); past it, a reader that kept the last
/// copy would disagree with [`Object::get`], which returns the first. So a repeated member
/// that is read is refused with [`JsonError::DuplicateKey`], whatever the object's size.
///
/// One non-generic walker (and a name table per reader) serves every Jobs reader: smaller in
/// flash than a chain of comparisons per reader. `names` has at most 16 entries.
pub(crate) fn members<'a>(
    obj: Object<'a>,
    names: &[&'static str],
    member: &mut dyn FnMut(usize, &'static str, Value<'a>) -> Result<(), JobError>,
) -> Result<(), JobError> {
    let mut taken = 0u16;
    for (key, value) in obj.iter() {
        if let Some((i, name)) = names.iter().enumerate().find(|(_, n)| key.eq_str(n)) {
            let bit = 1u16 << (i & 15);
            if taken & bit != 0 {
                return Err(JobError::Json(JsonError::DuplicateKey));
            }
            taken |= bit;
            member(i, name, value)?;
        }
    }
    Ok(())
}

/// `Some(object)`, `None` for `null`, or a type error naming `field`.
fn optional_object<'a>(
    value: Value<'a>,
    field: &'static str,
) -> Result<Option<Object<'a>>, JobError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(o) => Ok(Some(o)),
        _ => Err(JobError::WrongType(field)),
    }
}

fn parse_execution(execution: Object<'_>) -> Result<Execution<'_>, JobError> {
    let mut job_id = None;
    let mut status = None;
    let mut status_details = StatusDetails::default();
    let mut numbers = [None; 2];
    let mut job_document = None;
    members(
        execution,
        &[
            "jobId",
            "status",
            "statusDetails",
            "versionNumber",
            "executionNumber",
            "jobDocument",
        ],
        &mut |i, name, value| {
            match i {
                0 => {
                    let id = value
                        .as_raw_str()
                        .and_then(|s| s.as_str())
                        .ok_or(JobError::BadJobId)?;
                    if !is_valid_job_id(id) {
                        return Err(JobError::BadJobId);
                    }
                    job_id = Some(id);
                }
                1 => status = ExecutionStatus::from_raw(string(value, name)?),
                2 => {
                    if let Some(details) = optional_object(value, name)? {
                        status_details = parse_status_details(details)?;
                    }
                }
                3 | 4 => {
                    if let Some(slot) = numbers.get_mut(i - 3) {
                        *slot = Some(value.as_u32().ok_or(JobError::BadNumber(name))?);
                    }
                }
                _ => job_document = optional_object(value, name)?,
            }
            Ok(())
        },
    )?;
    let job_id = job_id.ok_or(JobError::Missing("jobId"))?;
    let [version_number, execution_number] = numbers;
    Ok(Execution {
        job_id,
        status,
        status_details,
        version_number,
        execution_number,
        job_document,
    })
}

fn parse_status_details(details: Object<'_>) -> Result<StatusDetails, JobError> {
    let mut out = StatusDetails::default();
    members(
        details,
        &["self_test", "updatedBy"],
        &mut |i, name, value| {
            if i == 0 {
                out.self_test = Some(match value.as_raw_str() {
                    Some(s) if s.eq_str("ready") => SelfTestMark::Ready,
                    Some(s) if s.eq_str("active") => SelfTestMark::Active,
                    _ => SelfTestMark::Other,
                });
            } else {
                out.updated_by = Some(parse_updated_by(value).ok_or(JobError::BadNumber(name))?);
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// `updatedBy`: a number, `"0x..."`, a decimal string, or `"X.Y.Z"` (optionally written as the
/// C agent writes it in its SUCCEEDED status, `"  vX.Y.Z"`), packed as
/// `major << 24 | minor << 16 | build`.
fn parse_updated_by(value: Value<'_>) -> Option<u32> {
    if let Some(v) = value.as_u32() {
        return Some(v);
    }
    // Byte-wise (no `str` pattern machinery): an escape or a non-ASCII byte is not a digit,
    // so the raw text serves.
    let mut text = value.as_raw_str()?.raw();
    while let [b' ', rest @ ..] = text {
        text = rest;
    }
    if let [b'v', rest @ ..] = text {
        text = rest;
    }
    let mut parts = [0u32; 3];
    let mut part = 0usize;
    let mut digits = false;
    for &b in text {
        if b == b'.' {
            if !digits || part == 2 {
                return None;
            }
            part += 1;
            digits = false;
            continue;
        }
        let d = char::from(b).to_digit(10)?;
        let p = parts.get_mut(part)?;
        *p = p.checked_mul(10)?.checked_add(d)?;
        digits = true;
    }
    let [major, minor, build] = parts;
    if !digits || part != 2 || major > 0xff || minor > 0xff || build > 0xffff {
        return None;
    }
    Some(major << 24 | minor << 16 | build)
}

/// The data protocols a job offers, in the job's order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protocols {
    /// `"MQTT"` is listed.
    pub mqtt: bool,
    /// `"HTTP"` is listed.
    pub http: bool,
    /// `"HTTP"` comes before `"MQTT"` in the list (`false` unless both are listed).
    pub http_first: bool,
}

/// One entry of `afr_ota.files`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileSpec<'a> {
    /// `filepath`.
    pub file_path: Option<RawStr<'a>>,
    /// `filesize` (never zero).
    pub file_size: u32,
    /// `fileid`: the stream's file id, `f` in GetStream requests.
    pub file_id: u32,
    /// `certfile`: names the signer key the device should use.
    pub cert_file: Option<RawStr<'a>>,
    /// `update_data_url`: presigned HTTP URL.
    pub update_data_url: Option<RawStr<'a>>,
    /// `auth_scheme`.
    pub auth_scheme: Option<RawStr<'a>>,
    /// `sig-sha256-ecdsa`: base64 of the DER signature, undecoded.
    pub signature: Option<RawStr<'a>>,
    /// `fileType` (0 when absent).
    pub file_type: u32,
    /// `attr`, when it is a number.
    pub attr: Option<u32>,
}

/// A parsed `afr_ota` job document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OtaJob<'a> {
    /// `protocols`.
    pub protocols: Protocols,
    /// `streamname`, validated as topic-safe; required for MQTT delivery.
    pub stream_name: Option<&'a str>,
    /// Number of entries in `files` (1..=[`MAX_FILES`]).
    pub file_count: usize,
    files: Array<'a>,
}

impl<'a> OtaJob<'a> {
    /// The file at `index` (`index < file_count`), parsed and validated.
    ///
    /// # Errors
    ///
    /// [`JobError::BadFileCount`] when `index >= file_count`; never fails otherwise (every file
    /// was validated by [`parse_job_document`]).
    pub fn file(&self, index: usize) -> Result<FileSpec<'a>, JobError> {
        if index >= self.file_count {
            return Err(JobError::BadFileCount);
        }
        parse_file(self.files.get(index).ok_or(JobError::BadFileCount)?)
    }
}

fn string<'a>(value: Value<'a>, field: &'static str) -> Result<RawStr<'a>, JobError> {
    value.as_raw_str().ok_or(JobError::WrongType(field))
}

/// Reads and validates one `files[]` entry.
fn parse_file(entry: Value<'_>) -> Result<FileSpec<'_>, JobError> {
    let entry = entry.as_object().ok_or(JobError::WrongType("files"))?;
    let mut file_size = None;
    let mut file_id = None;
    let mut spec = FileSpec {
        file_path: None,
        file_size: 0,
        file_id: 0,
        cert_file: None,
        update_data_url: None,
        auth_scheme: None,
        signature: None,
        file_type: 0,
        attr: None,
    };
    members(
        entry,
        &[
            "filesize",
            "fileid",
            "filepath",
            "certfile",
            "update_data_url",
            "auth_scheme",
            "sig-sha256-ecdsa",
            "fileType",
            "attr",
        ],
        &mut |i, name, value| {
            match i {
                0 => file_size = Some(value),
                1 => file_id = Some(value),
                2..=6 => {
                    let s = Some(string(value, name)?);
                    match i {
                        2 => spec.file_path = s,
                        3 => spec.cert_file = s,
                        4 => spec.update_data_url = s,
                        5 => spec.auth_scheme = s,
                        _ => spec.signature = s,
                    }
                }
                7 => spec.file_type = value.as_u32().ok_or(JobError::BadNumber(name))?,
                _ => spec.attr = value.as_u32(),
            }
            Ok(())
        },
    )?;
    let file_size = file_size.ok_or(JobError::Missing("filesize"))?;
    spec.file_size = file_size.as_u32().ok_or(JobError::BadNumber("filesize"))?;
    if spec.file_size == 0 {
        return Err(JobError::ZeroFileSize);
    }
    let file_id = file_id.ok_or(JobError::Missing("fileid"))?;
    spec.file_id = file_id.as_u32().ok_or(JobError::BadNumber("fileid"))?;
    Ok(spec)
}

/// What a job document is.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum JobDocument<'a> {
    /// An OTA job (`afr_ota`), every file already validated.
    Ota(OtaJob<'a>),
    /// Any other document: for the application to claim.
    Custom(Object<'a>),
}

/// Reads `execution.jobDocument`. Every file entry is validated here, so that
/// [`OtaJob::file`] cannot fail on a document this function accepted.
///
/// A document without an `afr_ota` member is [`JobDocument::Custom`]. For an `afr_ota`
/// document the checks run in this order, and the first failure is returned:
///
/// 1. `afr_ota` is an object ([`JobError::WrongType`]);
/// 2. `protocols` is present ([`JobError::Missing`]), an array of strings
///    ([`JobError::WrongType`]) naming `MQTT` and/or `HTTP` ([`JobError::NoKnownProtocol`];
///    other names are ignored);
/// 3. `streamname`, when present, is an escape-free string ([`JobError::WrongType`] if not a
///    string) that [`is_topic_safe`] accepts with [`MAX_STREAM_NAME_LEN`]
///    ([`JobError::BadStreamName`]); whether MQTT delivery has one is the agent's check;
/// 4. `files` is present, an array of 1..=[`MAX_FILES`] objects ([`JobError::BadFileCount`]);
/// 5. each file, in order: required `filesize` (non-zero, [`JobError::ZeroFileSize`]) and
///    `fileid`; optional strings `filepath`, `certfile`, `update_data_url`, `auth_scheme`,
///    `sig-sha256-ecdsa`; optional `fileType` (default 0); `attr` is kept only when it is an
///    integer. Numbers may be JSON integers or strings ([`Value::as_u32`]); one that is not
///    gives [`JobError::BadNumber`].
pub fn parse_job_document(doc: Object<'_>) -> Result<JobDocument<'_>, JobError> {
    let mut afr_ota = None;
    members(doc, &["afr_ota"], &mut |_, _, value| {
        afr_ota = Some(value);
        Ok(())
    })?;
    let Some(afr_ota) = afr_ota else {
        return Ok(JobDocument::Custom(doc));
    };
    let afr_ota = afr_ota.as_object().ok_or(JobError::WrongType("afr_ota"))?;
    let mut found = [None; 3];
    members(
        afr_ota,
        &["protocols", "streamname", "files"],
        &mut |i, _, value| {
            if let Some(slot) = found.get_mut(i) {
                *slot = Some(value);
            }
            Ok(())
        },
    )?;
    let [protocols, stream_name, files] = found;

    let protocols = parse_protocols(protocols.ok_or(JobError::Missing("protocols"))?)?;

    let stream_name = match stream_name {
        None => None,
        Some(value) => {
            let raw = value
                .as_raw_str()
                .ok_or(JobError::WrongType("streamname"))?;
            let name = raw.as_str().ok_or(JobError::BadStreamName)?;
            if !is_topic_safe(name, MAX_STREAM_NAME_LEN) {
                return Err(JobError::BadStreamName);
            }
            Some(name)
        }
    };

    let files = files.ok_or(JobError::Missing("files"))?;
    let files = files.as_array().ok_or(JobError::WrongType("files"))?;
    let file_count = files.iter().take(MAX_FILES + 1).count();
    if !(1..=MAX_FILES).contains(&file_count) {
        return Err(JobError::BadFileCount);
    }
    for entry in files.iter() {
        parse_file(entry)?;
    }

    Ok(JobDocument::Ota(OtaJob {
        protocols,
        stream_name,
        file_count,
        files,
    }))
}

fn parse_protocols(value: Value<'_>) -> Result<Protocols, JobError> {
    let list = value.as_array().ok_or(JobError::WrongType("protocols"))?;
    let mut protocols = Protocols::default();
    for item in list.iter() {
        let name = item.as_raw_str().ok_or(JobError::WrongType("protocols"))?;
        if name.eq_str("MQTT") {
            protocols.mqtt = true;
        } else if name.eq_str("HTTP") {
            if !protocols.mqtt {
                protocols.http_first = true;
            }
            protocols.http = true;
        }
    }
    if !protocols.mqtt && !protocols.http {
        return Err(JobError::NoKnownProtocol);
    }
    if !protocols.mqtt {
        protocols.http_first = false;
    }
    Ok(protocols)
}

/// Whether `s` is a valid job id (1–64 characters of `[a-zA-Z0-9_-]`).
pub fn is_valid_job_id(s: &str) -> bool {
    (1..=MAX_JOB_ID_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `s` may be placed in an MQTT topic level: 1..=`max` bytes, printable ASCII, none of
/// `/ + #`, no control characters or spaces.
pub fn is_topic_safe(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'+' | b'#'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};

    const FILE: &str = r#"{"filepath":"/f","filesize":1024,"fileid":0,"certfile":"c.crt","sig-sha256-ecdsa":"MEQ="}"#;

    fn envelope(execution: &str) -> String {
        std::format!(
            r#"{{"clientToken":"0:thing","timestamp":1602795143,"execution":{execution}}}"#
        )
    }

    fn ota_doc(afr_ota_members: &str) -> String {
        std::format!(r#"{{"afr_ota":{{{afr_ota_members}}}}}"#)
    }

    fn doc_result(doc: &str) -> Result<JobDocument<'_>, JobError> {
        let obj = json::parse(doc.as_bytes())
            .expect("valid json")
            .as_object()
            .expect("object");
        parse_job_document(obj)
    }

    fn ota(doc: &str) -> OtaJob<'_> {
        match doc_result(doc) {
            Ok(JobDocument::Ota(o)) => o,
            other => panic!("{doc}: {other:?}"),
        }
    }

    fn file_result(file: &str) -> Result<FileSpec<'static>, JobError> {
        let doc: &'static str = std::boxed::Box::leak(
            ota_doc(&std::format!(
                r#""protocols":["MQTT"],"streamname":"s","files":[{file}]"#
            ))
            .into_boxed_str(),
        );
        match doc_result(doc)? {
            JobDocument::Ota(o) => o.file(0),
            JobDocument::Custom(_) => panic!("custom"),
        }
    }

    #[test]
    fn execution_status_names() {
        for s in ExecutionStatus::ALL {
            assert_eq!(ExecutionStatus::from_name(s.as_str()), Some(s));
        }
        assert_eq!(ExecutionStatus::InProgress.as_str(), "IN_PROGRESS");
        assert_eq!(ExecutionStatus::TimedOut.as_str(), "TIMED_OUT");
        assert_eq!(ExecutionStatus::from_name("in_progress"), None);
        assert!(!ExecutionStatus::Queued.is_terminal());
        assert!(!ExecutionStatus::InProgress.is_terminal());
        for s in [
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
            ExecutionStatus::Rejected,
            ExecutionStatus::Canceled,
            ExecutionStatus::Removed,
            ExecutionStatus::TimedOut,
        ] {
            assert!(s.is_terminal(), "{s:?}");
        }
    }

    #[test]
    fn job_id_rules() {
        assert!(is_valid_job_id("a"));
        assert!(is_valid_job_id("AFR_OTA-test_job-20"));
        assert!(is_valid_job_id(&"x".repeat(64)));
        assert!(!is_valid_job_id(&"x".repeat(65)));
        assert!(!is_valid_job_id(""));
        for bad in ["a b", "a/b", "a+b", "a#b", "a.b", "é", "a\"b", "a:b"] {
            assert!(!is_valid_job_id(bad), "{bad}");
        }
    }

    #[test]
    fn topic_safety() {
        assert!(is_topic_safe("AFR_OTA-XYZ", 128));
        assert!(is_topic_safe("a.b:c$d~", 8));
        assert!(!is_topic_safe("abc", 2));
        assert!(is_topic_safe("ab", 2));
        assert!(!is_topic_safe("", 10));
        for bad in ["a/b", "a+", "#", "a b", "a\tb", "a\u{7f}", "é", "a\0"] {
            assert!(!is_topic_safe(bad, 128), "{bad:?}");
        }
    }

    #[test]
    fn envelope_without_execution_is_no_job() {
        for doc in [
            r#"{"clientToken":"0:t","timestamp":1}"#.to_string(),
            envelope("{}"),
            envelope("null"),
            r#"{}"#.to_string(),
        ] {
            let r = parse_job_response(doc.as_bytes()).unwrap_or_else(|e| panic!("{doc}: {e}"));
            assert_eq!(r.execution, None, "{doc}");
        }
        let r =
            parse_job_response(br#"{"clientToken":"0:t","timestamp":1602795143}"#).expect("empty");
        assert!(r.client_token.is_some_and(|t| t.eq_str("0:t")));
        assert_eq!(r.timestamp, Some(1_602_795_143));
    }

    #[test]
    fn notify_next_has_no_client_token() {
        let doc = br#"{"timestamp":1,"execution":{"jobId":"j1","status":"QUEUED","versionNumber":"2","executionNumber":3,"jobDocument":{"x":1}}}"#;
        let r = parse_job_response(doc).expect("notify-next");
        assert_eq!(r.client_token, None);
        let ex = r.execution.expect("execution");
        assert_eq!(ex.job_id, "j1");
        assert_eq!(ex.status, Some(ExecutionStatus::Queued));
        assert_eq!(ex.version_number, Some(2));
        assert_eq!(ex.execution_number, Some(3));
        assert_eq!(ex.status_details, StatusDetails::default());
        assert!(matches!(
            ex.job_document.map(parse_job_document),
            Some(Ok(JobDocument::Custom(_)))
        ));
    }

    #[test]
    fn envelope_errors() {
        let cases: &[(&str, JobError)] = &[
            ("not json", JobError::Json(JsonError::Syntax { at: 1 })),
            ("[1]", JobError::NotAnObject),
            (
                r#"{"execution":{"status":"QUEUED"}}"#,
                JobError::Missing("jobId"),
            ),
            (r#"{"execution":{"jobId":""}}"#, JobError::BadJobId),
            (r#"{"execution":{"jobId":"a/b"}}"#, JobError::BadJobId),
            (r#"{"execution":{"jobId":12}}"#, JobError::BadJobId),
            (r#"{"execution":{"jobId":"\u0041"}}"#, JobError::BadJobId),
            (r#"{"execution":[]}"#, JobError::WrongType("execution")),
            (r#"{"execution":"x"}"#, JobError::WrongType("execution")),
            (r#"{"clientToken":1}"#, JobError::WrongType("clientToken")),
            (r#"{"timestamp":-1}"#, JobError::BadNumber("timestamp")),
            (r#"{"timestamp":1.5}"#, JobError::BadNumber("timestamp")),
            (
                r#"{"execution":{"jobId":"j","status":1}}"#,
                JobError::WrongType("status"),
            ),
            (
                r#"{"execution":{"jobId":"j","statusDetails":"x"}}"#,
                JobError::WrongType("statusDetails"),
            ),
            (
                r#"{"execution":{"jobId":"j","jobDocument":"document"}}"#,
                JobError::WrongType("jobDocument"),
            ),
            (
                r#"{"execution":{"jobId":"j","versionNumber":-1}}"#,
                JobError::BadNumber("versionNumber"),
            ),
            (
                r#"{"execution":{"jobId":"j","executionNumber":"x"}}"#,
                JobError::BadNumber("executionNumber"),
            ),
            (
                r#"{"execution":{"jobId":"j","statusDetails":{"updatedBy":"1.2"}}}"#,
                JobError::BadNumber("updatedBy"),
            ),
            (
                r#"{"execution":{"jobId":"j","jobId":"k"}}"#,
                JobError::Json(JsonError::DuplicateKey),
            ),
            (
                r#"{"execution":{"jobId":"j""#,
                JobError::Json(JsonError::UnexpectedEnd),
            ),
        ];
        for (doc, expected) in cases {
            assert_eq!(parse_job_response(doc.as_bytes()), Err(*expected), "{doc}");
        }
    }

    #[test]
    fn envelope_leniencies() {
        let doc = br#"{"execution":{"jobId":"j","status":"SOMETHING_NEW","statusDetails":null,"jobDocument":null,"queuedAt":1,"extra":{"a":[1,2]}}}"#;
        let ex = parse_job_response(doc)
            .expect("lenient")
            .execution
            .expect("execution");
        assert_eq!(ex.status, None);
        assert_eq!(ex.job_document, None);
        assert_eq!(ex.version_number, None);
    }

    fn updated_by(value: &str) -> Result<Option<u32>, JobError> {
        let doc = std::format!(
            r#"{{"execution":{{"jobId":"j","statusDetails":{{"updatedBy":{value}}}}}}}"#
        );
        let r = parse_job_response(doc.as_bytes())?;
        Ok(r.execution.expect("execution").status_details.updated_by)
    }

    #[test]
    fn updated_by_forms() {
        assert_eq!(updated_by("16777216"), Ok(Some(0x0100_0000)));
        assert_eq!(updated_by(r#""0x1000000""#), Ok(Some(0x0100_0000)));
        assert_eq!(updated_by(r#""0x01000001""#), Ok(Some(0x0100_0001)));
        assert_eq!(updated_by(r#""16777217""#), Ok(Some(0x0100_0001)));
        assert_eq!(updated_by(r#""1.0.1""#), Ok(Some(0x0100_0001)));
        assert_eq!(updated_by(r#""255.255.65535""#), Ok(Some(0xffff_ffff)));
        assert_eq!(updated_by(r#""2.3.400""#), Ok(Some(0x0203_0190)));
        assert_eq!(
            updated_by(r#""  v1.0.1""#),
            Ok(Some(0x0100_0001)),
            "C agent's SUCCEEDED format"
        );
        assert_eq!(updated_by(r#""v0.0.2""#), Ok(Some(2)));
        let bad = Err(JobError::BadNumber("updatedBy"));
        for v in [
            r#""256.0.0""#,
            r#""0.256.0""#,
            r#""0.0.65536""#,
            r#""1.2""#,
            r#""1.2.3.4""#,
            r#""1..3""#,
            r#""+1.2.3""#,
            r#""1.-2.3""#,
            r#""1.2.3 ""#,
            r#""0x""#,
            r#""0x100000000""#,
            r#""""#,
            "4294967296",
            "-1",
            "1.5",
            "true",
            "null",
            "{}",
            r#""1.2.3.""#,
            r#"".1.2.3""#,
            r#""vv1.2.3""#,
            r#""v 1.2.3""#,
            r#""1.2. 3""#,
            r#""99999999999.0.0""#,
            r#""\u0031.2.3""#,
            r#""1.2.3\u0000""#,
            r#""١.2.3""#,
        ] {
            assert_eq!(updated_by(v), bad, "{v}");
        }
        assert_eq!(updated_by(r#"" 1.2.3""#), Ok(Some(0x0102_0003)));
        assert_eq!(updated_by(r#""001.002.00003""#), Ok(Some(0x0102_0003)));
    }

    /// `updatedBy` as the reader first implemented it, on `str` patterns: the byte-wise
    /// reader must agree with it on every text.
    fn updated_by_reference(text: &str) -> Option<u32> {
        if let Some(v) = json::parse_uint_text(text.as_bytes()).and_then(|v| u32::try_from(v).ok())
        {
            return Some(v);
        }
        let text = text.trim_start_matches(' ');
        let text = text.strip_prefix('v').unwrap_or(text);
        let mut parts = text.split('.');
        let mut part = |max: u32| -> Option<u32> {
            let p = parts.next()?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            u32::try_from(json::parse_uint_text(p.as_bytes())?)
                .ok()
                .filter(|&v| v <= max)
        };
        let major = part(0xff)?;
        let minor = part(0xff)?;
        let build = part(0xffff)?;
        if parts.next().is_some() {
            return None;
        }
        Some(major << 24 | minor << 16 | build)
    }

    proptest::proptest! {
        #[test]
        fn updated_by_matches_the_reference(text in "[ v.0-9x+a-]{0,14}") {
            let got = updated_by(&std::format!("\"{text}\""));
            let want = updated_by_reference(&text).ok_or(JobError::BadNumber("updatedBy"));
            proptest::prop_assert_eq!(got, want.map(Some), "{:?}", text);
        }

        #[test]
        fn version_like_updated_by_matches_the_reference(
            text in " {0,2}v?[0-9]{0,4}(\\.[0-9]{0,6}){0,3}[ .x]?"
        ) {
            let got = updated_by(&std::format!("\"{text}\""));
            let want = updated_by_reference(&text).ok_or(JobError::BadNumber("updatedBy"));
            proptest::prop_assert_eq!(got, want.map(Some), "{:?}", text);
        }
    }

    #[test]
    fn self_test_marks() {
        let mark = |v: &str| {
            let doc = std::format!(
                r#"{{"execution":{{"jobId":"j","statusDetails":{{"self_test":{v},"other":5}}}}}}"#
            );
            parse_job_response(doc.as_bytes())
                .expect("doc")
                .execution
                .expect("execution")
                .status_details
                .self_test
        };
        assert_eq!(mark(r#""ready""#), Some(SelfTestMark::Ready));
        assert_eq!(mark(r#""active""#), Some(SelfTestMark::Active));
        assert_eq!(mark(r#""\u0061ctive""#), Some(SelfTestMark::Active));
        assert_eq!(mark(r#""READY""#), Some(SelfTestMark::Other));
        assert_eq!(mark("1"), Some(SelfTestMark::Other));
        assert_eq!(mark("null"), Some(SelfTestMark::Other));
    }

    #[test]
    fn protocols() {
        let p = |list: &str| {
            let doc = ota_doc(&std::format!(
                r#""protocols":{list},"streamname":"s","files":[{FILE}]"#
            ));
            doc_result(&doc).map(|d| match d {
                JobDocument::Ota(o) => o.protocols,
                JobDocument::Custom(_) => panic!("custom"),
            })
        };
        let mqtt = Protocols {
            mqtt: true,
            http: false,
            http_first: false,
        };
        let http = Protocols {
            mqtt: false,
            http: true,
            http_first: false,
        };
        assert_eq!(p(r#"["MQTT"]"#), Ok(mqtt));
        assert_eq!(p(r#"["HTTP"]"#), Ok(http));
        assert_eq!(
            p(r#"["MQTT","HTTP"]"#),
            Ok(Protocols {
                mqtt: true,
                http: true,
                http_first: false
            })
        );
        assert_eq!(
            p(r#"["HTTP","MQTT"]"#),
            Ok(Protocols {
                mqtt: true,
                http: true,
                http_first: true
            })
        );
        assert_eq!(
            p(r#"["XYZ","HTTP","junk","MQTT"]"#),
            Ok(Protocols {
                mqtt: true,
                http: true,
                http_first: true
            })
        );
        assert_eq!(p(r#"["MQTT","MQTT"]"#), Ok(mqtt));
        assert_eq!(p(r#"["M\u0051TT"]"#), Ok(mqtt));
        assert_eq!(p(r#"[]"#), Err(JobError::NoKnownProtocol));
        assert_eq!(p(r#"["XYZ"]"#), Err(JobError::NoKnownProtocol));
        assert_eq!(
            p(r#"["mqtt","junkMQTT","HTTPjunk"]"#),
            Err(JobError::NoKnownProtocol)
        );
        assert_eq!(p(r#""MQTT""#), Err(JobError::WrongType("protocols")));
        assert_eq!(p(r#"["MQTT",1]"#), Err(JobError::WrongType("protocols")));
        let missing = ota_doc(&std::format!(r#""streamname":"s","files":[{FILE}]"#));
        assert_eq!(doc_result(&missing), Err(JobError::Missing("protocols")));
    }

    #[test]
    fn stream_names() {
        let s = |name: &str| {
            let doc = ota_doc(&std::format!(
                r#""protocols":["MQTT"],"streamname":{name},"files":[{FILE}]"#
            ));
            doc_result(&doc).map(|d| match d {
                JobDocument::Ota(o) => o.stream_name.map(String::from),
                JobDocument::Custom(_) => panic!("custom"),
            })
        };
        assert_eq!(s(r#""AFR_OTA-XYZ""#), Ok(Some("AFR_OTA-XYZ".into())));
        let longest = "s".repeat(MAX_STREAM_NAME_LEN);
        assert_eq!(s(&std::format!("\"{longest}\"")), Ok(Some(longest.clone())));
        assert_eq!(
            s(&std::format!("\"{longest}s\"")),
            Err(JobError::BadStreamName)
        );
        for bad in [
            r#""""#,
            r#""a/b""#,
            r#""a+""#,
            r##""#""##,
            r#""a b""#,
            r#""\u0041""#,
            r#""a\/b""#,
            r#""é""#,
        ] {
            assert_eq!(s(bad), Err(JobError::BadStreamName), "{bad}");
        }
        assert_eq!(s("7"), Err(JobError::WrongType("streamname")));
        // no streamname at all is fine for the parser (HTTP-only jobs have none)
        let doc = ota_doc(&std::format!(r#""protocols":["HTTP"],"files":[{FILE}]"#));
        assert_eq!(ota(&doc).stream_name, None);
    }

    #[test]
    fn file_fields() {
        let f = file_result(
            r#"{"filepath":"/a\/b","filesize":"0x400","fileid":"7","certfile":"c","update_data_url":"https://x/y?z=1&w=2","auth_scheme":"aws.s3.presigned","sig-sha256-ecdsa":"MEQ=","fileType":"2","attr":"3","unknown":[1]}"#,
        )
        .expect("file");
        assert_eq!(f.file_size, 1024);
        assert_eq!(f.file_id, 7);
        assert_eq!(f.file_type, 2);
        assert_eq!(f.attr, Some(3));
        assert!(f.file_path.is_some_and(|p| p.eq_str("/a/b")));
        assert!(f.cert_file.is_some_and(|p| p.eq_str("c")));
        assert!(
            f.update_data_url
                .is_some_and(|p| p.eq_str("https://x/y?z=1&w=2"))
        );
        assert!(f.auth_scheme.is_some_and(|p| p.eq_str("aws.s3.presigned")));
        assert!(f.signature.is_some_and(|p| p.eq_str("MEQ=")));

        let minimal = file_result(r#"{"filesize":1,"fileid":0}"#).expect("minimal");
        assert_eq!(
            minimal,
            FileSpec {
                file_path: None,
                file_size: 1,
                file_id: 0,
                cert_file: None,
                update_data_url: None,
                auth_scheme: None,
                signature: None,
                file_type: 0,
                attr: None,
            }
        );
        assert_eq!(
            file_result(r#"{"filesize":4294967295,"fileid":4294967295}"#)
                .map(|f| (f.file_size, f.file_id)),
            Ok((u32::MAX, u32::MAX))
        );
        // attr that is not an integer is simply absent
        for attr in ["-1", "1.5", "\"x\"", "null", "[]"] {
            let f = file_result(&std::format!(
                r#"{{"filesize":1,"fileid":0,"attr":{attr}}}"#
            ))
            .expect("attr");
            assert_eq!(f.attr, None, "{attr}");
        }
    }

    #[test]
    fn file_errors() {
        let cases: &[(&str, JobError)] = &[
            (r#"{"fileid":0}"#, JobError::Missing("filesize")),
            (r#"{"filesize":1}"#, JobError::Missing("fileid")),
            (r#"{"filesize":0,"fileid":0}"#, JobError::ZeroFileSize),
            (r#"{"filesize":"0","fileid":0}"#, JobError::ZeroFileSize),
            (
                r#"{"filesize":-5,"fileid":0}"#,
                JobError::BadNumber("filesize"),
            ),
            (
                r#"{"filesize":4294967296,"fileid":0}"#,
                JobError::BadNumber("filesize"),
            ),
            (
                r#"{"filesize":1e3,"fileid":0}"#,
                JobError::BadNumber("filesize"),
            ),
            (
                r#"{"filesize":"","fileid":0}"#,
                JobError::BadNumber("filesize"),
            ),
            (
                r#"{"filesize":"NaN","fileid":"NaN"}"#,
                JobError::BadNumber("filesize"),
            ),
            (
                r#"{"filesize":null,"fileid":0}"#,
                JobError::BadNumber("filesize"),
            ),
            (
                r#"{"filesize":1,"fileid":-1}"#,
                JobError::BadNumber("fileid"),
            ),
            (
                r#"{"filesize":1,"fileid":0,"fileType":"badParameter"}"#,
                JobError::BadNumber("fileType"),
            ),
            (
                r#"{"filesize":1,"fileid":0,"filepath":1}"#,
                JobError::WrongType("filepath"),
            ),
            (
                r#"{"filesize":1,"fileid":0,"certfile":[]}"#,
                JobError::WrongType("certfile"),
            ),
            (
                r#"{"filesize":1,"fileid":0,"update_data_url":null}"#,
                JobError::WrongType("update_data_url"),
            ),
            (
                r#"{"filesize":1,"fileid":0,"auth_scheme":{}}"#,
                JobError::WrongType("auth_scheme"),
            ),
            (
                r#"{"filesize":1,"fileid":0,"sig-sha256-ecdsa":true}"#,
                JobError::WrongType("sig-sha256-ecdsa"),
            ),
            (r#""file""#, JobError::WrongType("files")),
        ];
        for (file, expected) in cases {
            assert_eq!(file_result(file), Err(*expected), "{file}");
        }
    }

    #[test]
    fn file_lists() {
        let with_files =
            |files: &str| ota_doc(&std::format!(r#""protocols":["HTTP"],"files":{files}"#));
        assert_eq!(doc_result(&with_files("[]")), Err(JobError::BadFileCount));
        assert_eq!(
            doc_result(&with_files("{}")),
            Err(JobError::WrongType("files"))
        );
        assert_eq!(
            doc_result(&ota_doc(r#""protocols":["HTTP"]"#)),
            Err(JobError::Missing("files"))
        );
        let many = |n: usize| {
            let list: std::vec::Vec<String> = (1..=n)
                .map(|i| std::format!(r#"{{"filesize":{i},"fileid":{i}}}"#))
                .collect();
            with_files(&std::format!("[{}]", list.join(",")))
        };
        let max = many(MAX_FILES);
        let job = ota(&max);
        assert_eq!(job.file_count, MAX_FILES);
        for i in 0..MAX_FILES {
            let f = job.file(i).expect("file");
            assert_eq!((f.file_size, f.file_id), (i as u32 + 1, i as u32 + 1));
        }
        assert_eq!(job.file(MAX_FILES), Err(JobError::BadFileCount));
        assert_eq!(job.file(usize::MAX), Err(JobError::BadFileCount));
        assert_eq!(
            doc_result(&many(MAX_FILES + 1)),
            Err(JobError::BadFileCount)
        );
        // a bad file anywhere refuses the whole document
        let second_bad = with_files(r#"[{"filesize":1,"fileid":0},{"filesize":0,"fileid":1}]"#);
        assert_eq!(doc_result(&second_bad), Err(JobError::ZeroFileSize));
        let not_object = with_files(r#"[{"filesize":1,"fileid":0},7]"#);
        assert_eq!(doc_result(&not_object), Err(JobError::WrongType("files")));
    }

    #[test]
    fn custom_and_malformed_afr_ota() {
        assert!(
            matches!(doc_result(r#"{"custom_job":"test"}"#), Ok(JobDocument::Custom(o)) if o.len() == 1)
        );
        assert!(matches!(doc_result(r#"{}"#), Ok(JobDocument::Custom(_))));
        assert_eq!(
            doc_result(r#"{"afr_ota":"x"}"#),
            Err(JobError::WrongType("afr_ota"))
        );
        assert_eq!(
            doc_result(r#"{"afr_ota":null}"#),
            Err(JobError::WrongType("afr_ota"))
        );
        assert_eq!(
            doc_result(r#"{"afr_ota":{}}"#),
            Err(JobError::Missing("protocols"))
        );
        // the key is compared after unescaping
        assert_eq!(
            doc_result(r#"{"afr\u005fota":{}}"#),
            Err(JobError::Missing("protocols"))
        );
    }

    #[test]
    fn whole_response_then_document() {
        let doc = envelope(&std::format!(
            r#"{{"jobId":"AFR_OTA-j","status":"IN_PROGRESS","statusDetails":{{"self_test":"active","updatedBy":"0x1000000"}},"versionNumber":4,"jobDocument":{}}}"#,
            ota_doc(&std::format!(
                r#""protocols":["MQTT"],"streamname":"AFR_OTA-s","files":[{FILE}]"#
            ))
        ));
        let r = parse_job_response(doc.as_bytes()).expect("response");
        let ex = r.execution.expect("execution");
        assert_eq!(ex.job_id, "AFR_OTA-j");
        assert_eq!(ex.status, Some(ExecutionStatus::InProgress));
        assert_eq!(
            ex.status_details,
            StatusDetails {
                self_test: Some(SelfTestMark::Active),
                updated_by: Some(0x0100_0000)
            }
        );
        assert_eq!(ex.version_number, Some(4));
        let job = match parse_job_document(ex.job_document.expect("doc")) {
            Ok(JobDocument::Ota(o)) => o,
            other => panic!("{other:?}"),
        };
        assert_eq!(job.stream_name, Some("AFR_OTA-s"));
        assert_eq!(job.file_count, 1);
        assert_eq!(job.file(0).map(|f| f.file_size), Ok(1024));
    }

    #[test]
    fn repeated_members_are_refused_beyond_the_json_budget() {
        let padding: String = (0..json::DUPLICATE_CHECK_KEYS)
            .map(|i| std::format!(r#""pad{i}":0,"#))
            .collect();
        let dup = JobError::Json(JsonError::DuplicateKey);
        // json::parse has spent its budget on the padding, the readers still see the repeat
        let execution = std::format!(r#"{{"execution":{{{padding}"jobId":"a","jobId":"b"}}}}"#);
        assert!(json::parse(execution.as_bytes()).is_ok());
        assert_eq!(parse_job_response(execution.as_bytes()), Err(dup));
        let root = std::format!(r#"{{{padding}"timestamp":1,"timestamp":2}}"#);
        assert!(json::parse(root.as_bytes()).is_ok());
        assert_eq!(parse_job_response(root.as_bytes()), Err(dup));
        let file = std::format!(
            r#"{{"afr_ota":{{"protocols":["MQTT"],"files":[{{{padding}"filesize":1,"fileid":0,"filesize":2}}]}}}}"#
        );
        assert_eq!(doc_result(&file), Err(dup));
        let afr = std::format!(r#"{{{padding}"afr_ota":{{}},"afr_ota":{{}}}}"#);
        assert_eq!(doc_result(&afr), Err(dup));
        // unread members may repeat there (json::parse no longer checks them)
        let unread = std::format!(r#"{{"execution":{{{padding}"jobId":"a","x":1,"x":2}}}}"#);
        assert_eq!(
            parse_job_response(unread.as_bytes()).map(|r| r.execution.map(|e| e.job_id)),
            Ok(Some("a"))
        );
    }

    #[test]
    fn display_messages() {
        assert_eq!(
            JobError::Missing("filesize").to_string(),
            "job document: missing field `filesize`"
        );
        assert_eq!(
            JobError::Json(JsonError::Syntax { at: 0 }).to_string(),
            "job document: json syntax error at byte 0"
        );
        for e in [
            JobError::NotAnObject,
            JobError::WrongType("files"),
            JobError::BadJobId,
            JobError::BadStreamName,
            JobError::NoKnownProtocol,
            JobError::BadFileCount,
            JobError::ZeroFileSize,
            JobError::BadNumber("fileid"),
        ] {
            let s = e.to_string();
            assert!(s.starts_with("job document: ") && s.len() < 80, "{s}");
        }
    }
}
