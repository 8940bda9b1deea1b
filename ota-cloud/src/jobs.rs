//! AWS IoT Jobs, device side of the MQTT API: executions, their states, and the request handlers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use crate::cloud::{CloudConfig, Outgoing, StatusDetailsMode};
use crate::error::CloudError;
use crate::http::HttpStore;
use crate::json::{ObjWriter, quote};
use crate::ota::substitute_placeholders;
use crate::topics;

/// Most entries in `statusDetails`.
pub const MAX_STATUS_DETAILS: usize = 10;
/// Longest `statusDetails` key, in characters.
pub const MAX_STATUS_DETAIL_KEY: usize = 128;
/// Longest `statusDetails` value, in characters.
pub const MAX_STATUS_DETAIL_VALUE: usize = 1024;
/// Longest `clientToken`, in characters.
pub const MAX_CLIENT_TOKEN: usize = 64;
/// Longest job id.
pub const MAX_JOB_ID: usize = 64;
/// Longest thing name.
pub const MAX_THING_NAME: usize = 128;
/// Largest job document, in bytes of JSON.
pub const MAX_JOB_DOCUMENT: usize = 32 * 1024;

/// The status of one job execution (one job on one thing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum JobExecutionStatus {
    /// Created, not started by the device.
    Queued,
    /// The device reported progress.
    InProgress,
    /// Terminal: the device reported success.
    Succeeded,
    /// Terminal: the device reported failure.
    Failed,
    /// Terminal: the service timed the execution out.
    TimedOut,
    /// Terminal: the device rejected the job.
    Rejected,
    /// Terminal: the thing was removed from the job's targets.
    Removed,
    /// Terminal: the job or the execution was canceled.
    Canceled,
}

impl JobExecutionStatus {
    /// Every status, in declaration order.
    pub const ALL: [Self; 8] = [
        Self::Queued,
        Self::InProgress,
        Self::Succeeded,
        Self::Failed,
        Self::TimedOut,
        Self::Rejected,
        Self::Removed,
        Self::Canceled,
    ];

    /// The wire name, e.g. `"IN_PROGRESS"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Rejected => "REJECTED",
            Self::Removed => "REMOVED",
            Self::Canceled => "CANCELED",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether no further update is accepted.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::InProgress)
    }

    /// Whether a device may set this status with UpdateJobExecution.
    pub fn is_device_settable(self) -> bool {
        matches!(
            self,
            Self::InProgress | Self::Succeeded | Self::Failed | Self::Rejected
        )
    }
}

impl core::fmt::Display for JobExecutionStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a job as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobStatus {
    /// Some execution is not terminal.
    InProgress,
    /// [`Cloud::cancel_job`](crate::Cloud::cancel_job) was called.
    Canceled,
    /// Every execution is terminal.
    Completed,
}

/// An error code of the Jobs MQTT API (the `code` of an ErrorResponse on `.../rejected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobsErrorCode {
    /// The topic is in the Jobs namespace but maps to no API.
    InvalidTopic,
    /// The payload is not JSON.
    InvalidJson,
    /// A field is missing or invalid (including `statusDetails` limits and the client token).
    InvalidRequest,
    /// The status change is not allowed from the current status (e.g. IN_PROGRESS to REJECTED).
    InvalidStateTransition,
    /// No such job, or no execution of it on this thing.
    ResourceNotFound,
    /// `expectedVersion` does not match.
    VersionMismatch,
    /// Internal error (not produced by this model).
    InternalError,
    /// Throttled (not produced by this model).
    RequestThrottled,
    /// The execution is already terminal.
    TerminalStateReached,
}

impl JobsErrorCode {
    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidTopic => "InvalidTopic",
            Self::InvalidJson => "InvalidJson",
            Self::InvalidRequest => "InvalidRequest",
            Self::InvalidStateTransition => "InvalidStateTransition",
            Self::ResourceNotFound => "ResourceNotFound",
            Self::VersionMismatch => "VersionMismatch",
            Self::InternalError => "InternalError",
            Self::RequestThrottled => "RequestThrottled",
            Self::TerminalStateReached => "TerminalStateReached",
        }
    }
}

impl core::fmt::Display for JobsErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who changed an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeSource {
    /// An accepted UpdateJobExecution or StartNextPendingJobExecution from the device.
    Device,
    /// The service: cancel, time-out or removal.
    Service,
}

/// One accepted change of an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    /// When it was accepted (the `now_ms` of the call).
    pub at_ms: u64,
    /// The status after the change.
    pub status: JobExecutionStatus,
    /// The whole `statusDetails` after the change.
    pub status_details: BTreeMap<String, String>,
    /// The details exactly as the request carried them (`None` if absent or a service change).
    pub requested_details: Option<BTreeMap<String, String>>,
    /// `versionNumber` after the change.
    pub version_number: u64,
    /// Device or service.
    pub source: ChangeSource,
}

/// One job's execution on one thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobExecution {
    /// The job.
    pub job_id: String,
    /// The thing.
    pub thing_name: String,
    /// Current status.
    pub status: JobExecutionStatus,
    /// Current `statusDetails`.
    pub status_details: BTreeMap<String, String>,
    /// `queuedAt`, seconds.
    pub queued_at: u64,
    /// `startedAt`, seconds: set when it first went IN_PROGRESS.
    pub started_at: Option<u64>,
    /// `lastUpdatedAt`, seconds.
    pub last_updated_at: u64,
    /// `versionNumber`: 1 when queued, +1 on every change.
    pub version_number: u64,
    /// `executionNumber` (always 1: retries are not modelled).
    pub execution_number: u64,
    /// Every accepted change, oldest first (creation is not a record).
    pub history: Vec<StatusRecord>,
    seq: u64,
}

/// Per-job options (the parts of CreateJob / CreateOTAUpdate that the model uses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobOptions {
    /// Lifetime of the presigned URLs substituted into this job's document
    /// (`awsJobPresignedUrlConfig.expiresInSec`); `None` uses
    /// [`CloudConfig::presign_expiry_s`].
    pub presigned_url_expires_in_s: Option<u64>,
}

struct Job {
    document: Value,
    options: JobOptions,
    canceled: bool,
    targets: Vec<String>,
}

/// Everything a handler needs besides the jobs state.
pub(crate) struct Ctx<'a> {
    pub(crate) now_ms: u64,
    pub(crate) config: &'a CloudConfig,
    pub(crate) http: &'a mut HttpStore,
    pub(crate) out: &'a mut VecDeque<Outgoing>,
}

impl Ctx<'_> {
    fn now_s(&self) -> u64 {
        self.now_ms / 1000
    }

    fn publish(&mut self, topic: String, json: &str) {
        let payload = self.config.json_escaping.apply(json).into_bytes();
        self.out.push_back(Outgoing { topic, payload });
    }
}

struct Rejection {
    code: JobsErrorCode,
    message: String,
    token: Option<String>,
    state: bool,
}

fn rejection(code: JobsErrorCode, message: impl Into<String>, token: Option<&str>) -> Rejection {
    Rejection {
        code,
        message: message.into(),
        token: token.map(str::to_owned),
        state: false,
    }
}

pub(crate) fn valid_job_id(id: &str) -> bool {
    (1..=MAX_JOB_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(crate) fn valid_thing_name(name: &str) -> bool {
    (1..=MAX_THING_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// Whether `c` is in Unicode general category C as far as can be told without tables: control,
/// common format characters, surrogates (impossible in `char`) and private use.
fn is_other_category(c: char) -> bool {
    let u = u32::from(c);
    c.is_control()
        || matches!(
            u,
            0xAD | 0x600..=0x605
                | 0x61C
                | 0x6DD
                | 0x70F
                | 0x180E
                | 0x200B..=0x200F
                | 0x202A..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x206F
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0xE000..=0xF8FF
                | 0xF0000..=0x10FFFF
        )
}

/// Validates a `statusDetails` object against the service limits.
pub(crate) fn validate_status_details(value: &Value) -> Result<BTreeMap<String, String>, String> {
    let Value::Object(map) = value else {
        return Err("statusDetails must be an object".into());
    };
    if map.len() > MAX_STATUS_DETAILS {
        return Err(format!(
            "statusDetails has {} entries; at most {MAX_STATUS_DETAILS} are allowed",
            map.len()
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let key_len = k.chars().count();
        if !(1..=MAX_STATUS_DETAIL_KEY).contains(&key_len)
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
        {
            return Err(format!(
                "statusDetails key {} must be 1-{MAX_STATUS_DETAIL_KEY} characters of [a-zA-Z0-9:_-]",
                quote(k)
            ));
        }
        let Value::String(s) = v else {
            return Err(format!(
                "statusDetails value of {} must be a string",
                quote(k)
            ));
        };
        let len = s.chars().count();
        if !(1..=MAX_STATUS_DETAIL_VALUE).contains(&len) {
            return Err(format!(
                "statusDetails value of {} must be 1-{MAX_STATUS_DETAIL_VALUE} characters",
                quote(k)
            ));
        }
        if s.chars().any(is_other_category) {
            return Err(format!(
                "statusDetails value of {} contains a control character",
                quote(k)
            ));
        }
        out.insert(k.clone(), s.clone());
    }
    Ok(out)
}

fn parse_object(payload: &[u8]) -> Result<Map<String, Value>, Rejection> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(rejection(
            JobsErrorCode::InvalidRequest,
            "The request must be a JSON object",
            None,
        )),
        Err(e) => Err(rejection(
            JobsErrorCode::InvalidJson,
            format!("The request is not valid JSON: {e}"),
            None,
        )),
    }
}

fn client_token(req: &Map<String, Value>) -> Result<Option<String>, Rejection> {
    match req.get("clientToken") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) if (1..=MAX_CLIENT_TOKEN).contains(&t.chars().count()) => {
            Ok(Some(t.clone()))
        }
        Some(_) => Err(rejection(
            JobsErrorCode::InvalidRequest,
            "clientToken must be a string of 1-64 characters",
            None,
        )),
    }
}

fn opt_u64(
    req: &Map<String, Value>,
    key: &str,
    tok: Option<&str>,
) -> Result<Option<u64>, Rejection> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            rejection(
                JobsErrorCode::InvalidRequest,
                format!("{key} must be a non-negative integer"),
                tok,
            )
        }),
    }
}

fn opt_i64(
    req: &Map<String, Value>,
    key: &str,
    tok: Option<&str>,
) -> Result<Option<i64>, Rejection> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            rejection(
                JobsErrorCode::InvalidRequest,
                format!("{key} must be an integer"),
                tok,
            )
        }),
    }
}

fn opt_bool(
    req: &Map<String, Value>,
    key: &str,
    tok: Option<&str>,
) -> Result<Option<bool>, Rejection> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(rejection(
            JobsErrorCode::InvalidRequest,
            format!("{key} must be a boolean"),
            tok,
        )),
    }
}

fn opt_details(
    req: &Map<String, Value>,
    tok: Option<&str>,
) -> Result<Option<BTreeMap<String, String>>, Rejection> {
    match req.get("statusDetails") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => validate_status_details(v)
            .map(Some)
            .map_err(|m| rejection(JobsErrorCode::InvalidRequest, m, tok)),
    }
}

fn details_json(details: &BTreeMap<String, String>) -> String {
    serde_json::to_string(details).unwrap_or_else(|_| "{}".to_owned())
}

fn execution_state_json(exec: &JobExecution) -> String {
    let mut w = ObjWriter::new();
    w.str("status", exec.status.as_str());
    if !exec.status_details.is_empty() {
        w.raw("statusDetails", &details_json(&exec.status_details));
    }
    w.u64("versionNumber", exec.version_number);
    w.finish()
}

fn summary_json(exec: &JobExecution) -> String {
    let mut w = ObjWriter::new();
    w.str("jobId", &exec.job_id).u64("queuedAt", exec.queued_at);
    if let Some(s) = exec.started_at {
        w.u64("startedAt", s);
    }
    w.u64("lastUpdatedAt", exec.last_updated_at)
        .u64("versionNumber", exec.version_number)
        .u64("executionNumber", exec.execution_number);
    w.finish()
}

fn apply_details(
    mode: StatusDetailsMode,
    current: &BTreeMap<String, String>,
    requested: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    match (requested, mode) {
        (None, _) => current.clone(),
        (Some(new), StatusDetailsMode::Replace) => new.clone(),
        (Some(new), StatusDetailsMode::Merge) => {
            let mut merged = current.clone();
            merged.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
            merged
        }
    }
}

pub(crate) struct Jobs {
    jobs: BTreeMap<String, Job>,
    executions: BTreeMap<(String, String), JobExecution>,
    seq: u64,
}

/// What a thing's pending state looks like, to decide on notifications.
#[derive(PartialEq, Eq)]
struct PendingSnapshot {
    next: Option<String>,
    pending: BTreeSet<String>,
}

impl Jobs {
    pub(crate) fn new() -> Self {
        Self {
            jobs: BTreeMap::new(),
            executions: BTreeMap::new(),
            seq: 0,
        }
    }

    fn thing_executions<'a>(
        &'a self,
        thing: &str,
    ) -> impl Iterator<Item = &'a JobExecution> + use<'a> {
        let thing = thing.to_owned();
        self.executions
            .range((thing.clone(), String::new())..)
            .take_while(move |((t, _), _)| *t == thing)
            .map(|(_, e)| e)
    }

    /// IN_PROGRESS first (oldest first), else the oldest QUEUED.
    fn next_pending(&self, thing: &str) -> Option<&JobExecution> {
        let mut in_progress: Option<&JobExecution> = None;
        let mut queued: Option<&JobExecution> = None;
        for e in self.thing_executions(thing) {
            let slot = match e.status {
                JobExecutionStatus::InProgress => &mut in_progress,
                JobExecutionStatus::Queued => &mut queued,
                _ => continue,
            };
            if slot.is_none_or(|s| e.seq < s.seq) {
                *slot = Some(e);
            }
        }
        in_progress.or(queued)
    }

    fn snapshot(&self, thing: &str) -> PendingSnapshot {
        PendingSnapshot {
            next: self.next_pending(thing).map(|e| e.job_id.clone()),
            pending: self
                .thing_executions(thing)
                .filter(|e| !e.status.is_terminal())
                .map(|e| e.job_id.clone())
                .collect(),
        }
    }

    fn snapshots(&self, things: &[String]) -> Vec<PendingSnapshot> {
        things.iter().map(|t| self.snapshot(t)).collect()
    }

    /// Publishes notify-next (and notify when enabled) for every thing whose state changed.
    fn notify_changes(&self, things: &[String], before: &[PendingSnapshot], ctx: &mut Ctx<'_>) {
        for (thing, old) in things.iter().zip(before) {
            let new = self.snapshot(thing);
            if new.next != old.next {
                let mut w = ObjWriter::new();
                w.u64("timestamp", ctx.now_s());
                if let Some(exec) = self.next_pending(thing) {
                    let exec_json = self.execution_json(exec, false, true, ctx);
                    w.raw("execution", &exec_json);
                }
                ctx.publish(topics::notify_next(thing), &w.finish());
            }
            if ctx.config.publish_notify && new.pending != old.pending {
                let json = self.pending_lists_json(thing, ctx.now_s());
                ctx.publish(topics::notify(thing), &json);
            }
        }
    }

    fn pending_lists_json(&self, thing: &str, now_s: u64) -> String {
        let (in_progress, queued) = self.pending_lists(thing);
        let mut jobs = ObjWriter::new();
        if !in_progress.is_empty() {
            jobs.raw("IN_PROGRESS", &format!("[{}]", in_progress.join(",")));
        }
        if !queued.is_empty() {
            jobs.raw("QUEUED", &format!("[{}]", queued.join(",")));
        }
        let mut w = ObjWriter::new();
        w.u64("timestamp", now_s).raw("jobs", &jobs.finish());
        w.finish()
    }

    fn pending_lists(&self, thing: &str) -> (Vec<String>, Vec<String>) {
        let mut execs: Vec<&JobExecution> = self
            .thing_executions(thing)
            .filter(|e| !e.status.is_terminal())
            .collect();
        execs.sort_by_key(|e| e.seq);
        let in_progress = execs
            .iter()
            .filter(|e| e.status == JobExecutionStatus::InProgress)
            .map(|e| summary_json(e))
            .collect();
        let queued = execs
            .iter()
            .filter(|e| e.status == JobExecutionStatus::Queued)
            .map(|e| summary_json(e))
            .collect();
        (in_progress, queued)
    }

    /// The job document as sent now: placeholders replaced with fresh presigned URLs.
    pub(crate) fn rendered_document(&self, job_id: &str, ctx: &mut Ctx<'_>) -> Option<Value> {
        let job = self.jobs.get(job_id)?;
        let expiry = job
            .options
            .presigned_url_expires_in_s
            .unwrap_or(ctx.config.presign_expiry_s);
        let (config, http, now_ms) = (ctx.config, &mut *ctx.http, ctx.now_ms);
        Some(substitute_placeholders(&job.document, &mut |key| {
            http.presign(
                &config.http_scheme,
                &config.http_host,
                &config.region,
                now_ms,
                key,
                expiry,
            )
        }))
    }

    fn execution_json(
        &self,
        exec: &JobExecution,
        include_thing: bool,
        include_document: bool,
        ctx: &mut Ctx<'_>,
    ) -> String {
        let mut w = ObjWriter::new();
        w.str("jobId", &exec.job_id);
        if include_thing {
            w.str("thingName", &exec.thing_name);
        }
        w.str("status", exec.status.as_str());
        if !exec.status_details.is_empty() {
            w.raw("statusDetails", &details_json(&exec.status_details));
        }
        w.u64("queuedAt", exec.queued_at);
        if let Some(s) = exec.started_at {
            w.u64("startedAt", s);
        }
        w.u64("lastUpdatedAt", exec.last_updated_at)
            .u64("versionNumber", exec.version_number)
            .u64("executionNumber", exec.execution_number);
        if include_document && let Some(doc) = self.rendered_document(&exec.job_id, ctx) {
            w.value("jobDocument", &doc);
        }
        w.finish()
    }

    fn send_rejection(
        &self,
        request_topic: &str,
        r: Rejection,
        exec: Option<&JobExecution>,
        ctx: &mut Ctx<'_>,
    ) {
        let mut w = ObjWriter::new();
        w.str("code", r.code.as_str())
            .str("message", &r.message)
            .opt_str("clientToken", r.token.as_deref())
            .u64("timestamp", ctx.now_s());
        if r.state
            && let Some(exec) = exec
        {
            w.raw("executionState", &execution_state_json(exec));
        }
        ctx.publish(topics::rejected(request_topic), &w.finish());
    }

    // ---- device requests -------------------------------------------------------------------

    /// Handles a publish on `$aws/things/<thing>/jobs/<rest>`. Returns false for topics that are
    /// the cloud's own outputs (ignored).
    pub(crate) fn handle(
        &mut self,
        thing: &str,
        rest: &str,
        topic: &str,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> bool {
        if rest.ends_with("/accepted")
            || rest.ends_with("/rejected")
            || rest == "notify"
            || rest == "notify-next"
        {
            return false;
        }
        let levels: Vec<&str> = rest.split('/').collect();
        match levels.as_slice() {
            ["get"] => self.get_pending(thing, topic, payload, ctx),
            ["start-next"] => self.start_next(thing, topic, payload, ctx),
            ["$next", "get"] => self.describe(thing, None, topic, payload, ctx),
            [job, "get"] if !job.is_empty() => self.describe(thing, Some(job), topic, payload, ctx),
            [job, "update"] if !job.is_empty() && *job != "$next" => {
                self.update(thing, job, topic, payload, ctx);
            }
            _ => {
                let token = parse_object(payload)
                    .ok()
                    .and_then(|m| client_token(&m).ok().flatten());
                let r = rejection(
                    JobsErrorCode::InvalidTopic,
                    format!("The topic {topic} does not map to a Jobs API"),
                    token.as_deref(),
                );
                self.send_rejection(topic, r, None, ctx);
            }
        }
        true
    }

    fn get_pending(&self, thing: &str, topic: &str, payload: &[u8], ctx: &mut Ctx<'_>) {
        let token = match parse_object(payload).and_then(|req| client_token(&req)) {
            Ok(t) => t,
            Err(r) => return self.send_rejection(topic, r, None, ctx),
        };
        let (in_progress, queued) = self.pending_lists(thing);
        let mut w = ObjWriter::new();
        w.opt_str("clientToken", token.as_deref())
            .u64("timestamp", ctx.now_s())
            .raw("inProgressJobs", &format!("[{}]", in_progress.join(",")))
            .raw("queuedJobs", &format!("[{}]", queued.join(",")));
        ctx.publish(topics::accepted(topic), &w.finish());
    }

    fn describe(
        &self,
        thing: &str,
        job_id: Option<&str>,
        topic: &str,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) {
        let parsed = parse_object(payload).and_then(|req| {
            let token = client_token(&req)?;
            let tok = token.as_deref();
            let execution_number = opt_u64(&req, "executionNumber", tok)?;
            let include_doc = opt_bool(&req, "includeJobDocument", tok)?.unwrap_or(true);
            Ok((token, execution_number, include_doc))
        });
        let (token, execution_number, include_doc) = match parsed {
            Ok(p) => p,
            Err(r) => return self.send_rejection(topic, r, None, ctx),
        };
        let tok = token.as_deref();
        let exec = match job_id {
            None => self.next_pending(thing),
            Some(job) => {
                let found = self
                    .executions
                    .get(&(thing.to_owned(), (*job).to_owned()))
                    .filter(|e| execution_number.is_none_or(|n| n == e.execution_number));
                let Some(exec) = found else {
                    let r = rejection(
                        JobsErrorCode::ResourceNotFound,
                        format!("No job execution of {job} for thing {thing}"),
                        tok,
                    );
                    return self.send_rejection(topic, r, None, ctx);
                };
                if exec.status.is_terminal() {
                    let r = rejection(
                        JobsErrorCode::TerminalStateReached,
                        format!("The job execution is in terminal state {}", exec.status),
                        tok,
                    );
                    return self.send_rejection(topic, r, Some(exec), ctx);
                }
                Some(exec)
            }
        };
        let mut w = ObjWriter::new();
        w.opt_str("clientToken", tok).u64("timestamp", ctx.now_s());
        if let Some(exec) = exec {
            let json = self.execution_json(exec, true, include_doc, ctx);
            w.raw("execution", &json);
        }
        ctx.publish(topics::accepted(topic), &w.finish());
    }

    fn start_next(&mut self, thing: &str, topic: &str, payload: &[u8], ctx: &mut Ctx<'_>) {
        let parsed = parse_object(payload).and_then(|req| {
            let token = client_token(&req)?;
            let tok = token.as_deref();
            let details = opt_details(&req, tok)?;
            opt_i64(&req, "stepTimeoutInMinutes", tok)?;
            Ok((token, details))
        });
        let (token, details) = match parsed {
            Ok(p) => p,
            Err(r) => return self.send_rejection(topic, r, None, ctx),
        };
        let things = [thing.to_owned()];
        let before = self.snapshots(&things);
        let key = self
            .next_pending(thing)
            .map(|e| (thing.to_owned(), e.job_id.clone()));
        if let Some(key) = &key
            && let Some(exec) = self.executions.get_mut(key)
            && exec.status == JobExecutionStatus::Queued
        {
            let merged = apply_details(
                ctx.config.status_details_mode,
                &exec.status_details,
                details.as_ref(),
            );
            if merged.len() > MAX_STATUS_DETAILS {
                let r = rejection(
                    JobsErrorCode::InvalidRequest,
                    "statusDetails would exceed 10 entries",
                    token.as_deref(),
                );
                return self.send_rejection(topic, r, None, ctx);
            }
            let now_s = ctx.now_s();
            exec.status = JobExecutionStatus::InProgress;
            exec.status_details = merged;
            exec.started_at.get_or_insert(now_s);
            exec.last_updated_at = now_s;
            exec.version_number += 1;
            exec.history.push(StatusRecord {
                at_ms: ctx.now_ms,
                status: exec.status,
                status_details: exec.status_details.clone(),
                requested_details: details.clone(),
                version_number: exec.version_number,
                source: ChangeSource::Device,
            });
        }
        let mut w = ObjWriter::new();
        w.opt_str("clientToken", token.as_deref())
            .u64("timestamp", ctx.now_s());
        if let Some(exec) = key.as_ref().and_then(|k| self.executions.get(k)) {
            let json = self.execution_json(exec, true, true, ctx);
            w.raw("execution", &json);
        }
        ctx.publish(topics::accepted(topic), &w.finish());
        self.notify_changes(&things, &before, ctx);
    }

    fn update(
        &mut self,
        thing: &str,
        job_id: &str,
        topic: &str,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) {
        let key = (thing.to_owned(), job_id.to_owned());
        let things = [thing.to_owned()];
        let before = self.snapshots(&things);
        match self.try_update(&key, payload, ctx) {
            Ok((token, include_state, include_doc)) => {
                let mut w = ObjWriter::new();
                if let Some(exec) = self.executions.get(&key) {
                    if include_state {
                        w.raw("executionState", &execution_state_json(exec));
                    }
                    if include_doc && let Some(doc) = self.rendered_document(job_id, ctx) {
                        w.value("jobDocument", &doc);
                    }
                }
                w.u64("timestamp", ctx.now_s())
                    .opt_str("clientToken", token.as_deref());
                ctx.publish(topics::accepted(topic), &w.finish());
                self.notify_changes(&things, &before, ctx);
            }
            Err(r) => {
                let exec = self.executions.get(&key);
                self.send_rejection(topic, r, exec, ctx);
            }
        }
    }

    /// Validates and applies an UpdateJobExecution; returns (token, includeJobExecutionState,
    /// includeJobDocument).
    fn try_update(
        &mut self,
        key: &(String, String),
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<(Option<String>, bool, bool), Rejection> {
        use JobsErrorCode as E;
        let req = parse_object(payload)?;
        let token = client_token(&req)?;
        let tok = token.as_deref();
        let status = match req.get("status") {
            Some(Value::String(s)) => JobExecutionStatus::parse(s).ok_or_else(|| {
                rejection(
                    E::InvalidRequest,
                    format!("Unknown status {}", quote(s)),
                    tok,
                )
            })?,
            Some(_) => return Err(rejection(E::InvalidRequest, "status must be a string", tok)),
            None => return Err(rejection(E::InvalidRequest, "status is required", tok)),
        };
        if !status.is_device_settable() {
            return Err(rejection(
                E::InvalidRequest,
                format!("A device cannot set status {status}"),
                tok,
            ));
        }
        let details = opt_details(&req, tok)?;
        let expected_version = opt_u64(&req, "expectedVersion", tok)?;
        let execution_number = opt_u64(&req, "executionNumber", tok)?;
        let include_state = opt_bool(&req, "includeJobExecutionState", tok)?.unwrap_or(false);
        let include_doc = opt_bool(&req, "includeJobDocument", tok)?.unwrap_or(false);
        opt_i64(&req, "stepTimeoutInMinutes", tok)?;

        let (thing, job_id) = key;
        let not_found = || {
            rejection(
                E::ResourceNotFound,
                format!("No job execution of {job_id} for thing {thing}"),
                tok,
            )
        };
        let exec = self.executions.get_mut(key).ok_or_else(not_found)?;
        if execution_number.is_some_and(|n| n != exec.execution_number) {
            return Err(not_found());
        }
        if exec.status.is_terminal() {
            return Err(rejection(
                E::TerminalStateReached,
                format!("The job execution is in terminal state {}", exec.status),
                tok,
            ));
        }
        if let Some(v) = expected_version
            && v != exec.version_number
        {
            return Err(Rejection {
                state: true,
                ..rejection(
                    E::VersionMismatch,
                    format!("expectedVersion {v} does not match {}", exec.version_number),
                    tok,
                )
            });
        }
        if exec.status == JobExecutionStatus::InProgress && status == JobExecutionStatus::Rejected {
            return Err(Rejection {
                state: true,
                ..rejection(
                    E::InvalidStateTransition,
                    "An IN_PROGRESS job execution cannot be REJECTED",
                    tok,
                )
            });
        }
        let merged = apply_details(
            ctx.config.status_details_mode,
            &exec.status_details,
            details.as_ref(),
        );
        if merged.len() > MAX_STATUS_DETAILS {
            return Err(rejection(
                E::InvalidRequest,
                "statusDetails would exceed 10 entries",
                tok,
            ));
        }
        let now_s = ctx.now_s();
        exec.status = status;
        exec.status_details = merged;
        if status == JobExecutionStatus::InProgress {
            exec.started_at.get_or_insert(now_s);
        }
        exec.last_updated_at = now_s;
        exec.version_number += 1;
        exec.history.push(StatusRecord {
            at_ms: ctx.now_ms,
            status,
            status_details: exec.status_details.clone(),
            requested_details: details,
            version_number: exec.version_number,
            source: ChangeSource::Device,
        });
        Ok((token, include_state, include_doc))
    }

    // ---- control plane -----------------------------------------------------------------------

    pub(crate) fn create_job(
        &mut self,
        job_id: &str,
        targets: Vec<String>,
        document: Value,
        options: JobOptions,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), CloudError> {
        if !valid_job_id(job_id) {
            return Err(CloudError::InvalidJobId(job_id.to_owned()));
        }
        if self.jobs.contains_key(job_id) {
            return Err(CloudError::JobExists(job_id.to_owned()));
        }
        if !document.is_object() {
            return Err(CloudError::InvalidDocument(
                "the job document must be a JSON object",
            ));
        }
        let size = document.to_string().len();
        if size > MAX_JOB_DOCUMENT {
            return Err(CloudError::DocumentTooLarge(size));
        }
        let mut things: Vec<String> = Vec::new();
        for t in targets {
            if !valid_thing_name(&t) {
                return Err(CloudError::InvalidThingName(t));
            }
            if !things.contains(&t) {
                things.push(t);
            }
        }
        if things.is_empty() {
            return Err(CloudError::NoTargets);
        }
        let before = self.snapshots(&things);
        let now_s = ctx.now_s();
        for thing in &things {
            self.seq += 1;
            self.executions.insert(
                (thing.clone(), job_id.to_owned()),
                JobExecution {
                    job_id: job_id.to_owned(),
                    thing_name: thing.clone(),
                    status: JobExecutionStatus::Queued,
                    status_details: BTreeMap::new(),
                    queued_at: now_s,
                    started_at: None,
                    last_updated_at: now_s,
                    version_number: 1,
                    execution_number: 1,
                    history: Vec::new(),
                    seq: self.seq,
                },
            );
        }
        self.jobs.insert(
            job_id.to_owned(),
            Job {
                document,
                options,
                canceled: false,
                targets: things.clone(),
            },
        );
        self.notify_changes(&things, &before, ctx);
        Ok(())
    }

    fn service_change(exec: &mut JobExecution, status: JobExecutionStatus, now_ms: u64) {
        exec.status = status;
        exec.last_updated_at = now_ms / 1000;
        exec.version_number += 1;
        exec.history.push(StatusRecord {
            at_ms: now_ms,
            status,
            status_details: exec.status_details.clone(),
            requested_details: None,
            version_number: exec.version_number,
            source: ChangeSource::Service,
        });
    }

    pub(crate) fn cancel_job(
        &mut self,
        job_id: &str,
        force: bool,
        ctx: &mut Ctx<'_>,
    ) -> Result<usize, CloudError> {
        let job = self
            .jobs
            .get_mut(job_id)
            .ok_or_else(|| CloudError::UnknownJob(job_id.to_owned()))?;
        job.canceled = true;
        let things = job.targets.clone();
        let before = self.snapshots(&things);
        let mut canceled = 0;
        for thing in &things {
            if let Some(exec) = self.executions.get_mut(&(thing.clone(), job_id.to_owned())) {
                let cancel = match exec.status {
                    JobExecutionStatus::Queued => true,
                    JobExecutionStatus::InProgress => force,
                    _ => false,
                };
                if cancel {
                    Self::service_change(exec, JobExecutionStatus::Canceled, ctx.now_ms);
                    canceled += 1;
                }
            }
        }
        self.notify_changes(&things, &before, ctx);
        Ok(canceled)
    }

    pub(crate) fn service_set(
        &mut self,
        thing: &str,
        job_id: &str,
        status: JobExecutionStatus,
        force: bool,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), CloudError> {
        let key = (thing.to_owned(), job_id.to_owned());
        let things = [thing.to_owned()];
        let before = self.snapshots(&things);
        let exec = self
            .executions
            .get_mut(&key)
            .ok_or_else(|| CloudError::UnknownExecution {
                thing: thing.to_owned(),
                job_id: job_id.to_owned(),
            })?;
        let allowed = match exec.status {
            JobExecutionStatus::Queued => true,
            JobExecutionStatus::InProgress => force || status != JobExecutionStatus::Canceled,
            _ => false,
        };
        if !allowed {
            return Err(CloudError::InvalidStateTransition {
                from: exec.status,
                to: status,
            });
        }
        Self::service_change(exec, status, ctx.now_ms);
        self.notify_changes(&things, &before, ctx);
        Ok(())
    }

    // ---- accessors -----------------------------------------------------------------------

    pub(crate) fn execution(&self, thing: &str, job_id: &str) -> Option<&JobExecution> {
        self.executions.get(&(thing.to_owned(), job_id.to_owned()))
    }

    pub(crate) fn executions_of(&self, thing: &str) -> Vec<&JobExecution> {
        let mut v: Vec<&JobExecution> = self.thing_executions(thing).collect();
        v.sort_by_key(|e| e.seq);
        v
    }

    pub(crate) fn next_pending_job(&self, thing: &str) -> Option<&str> {
        self.next_pending(thing).map(|e| e.job_id.as_str())
    }

    pub(crate) fn job_document(&self, job_id: &str) -> Option<&Value> {
        self.jobs.get(job_id).map(|j| &j.document)
    }

    pub(crate) fn job_status(&self, job_id: &str) -> Option<JobStatus> {
        let job = self.jobs.get(job_id)?;
        if job.canceled {
            return Some(JobStatus::Canceled);
        }
        let all_terminal = job.targets.iter().all(|t| {
            self.executions
                .get(&(t.clone(), job_id.to_owned()))
                .is_none_or(|e| e.status.is_terminal())
        });
        Some(if all_terminal {
            JobStatus::Completed
        } else {
            JobStatus::InProgress
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_names_round_trip() {
        for s in JobExecutionStatus::ALL {
            assert_eq!(JobExecutionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobExecutionStatus::parse("DONE"), None);
        assert!(!JobExecutionStatus::Queued.is_terminal());
        assert!(JobExecutionStatus::Canceled.is_terminal());
    }

    #[test]
    fn status_details_limits() {
        assert!(validate_status_details(&json!({"a": "b"})).is_ok());
        assert!(validate_status_details(&json!({})).is_ok());
        assert!(validate_status_details(&json!([])).is_err());
        assert!(validate_status_details(&json!({"": "b"})).is_err());
        assert!(validate_status_details(&json!({"a b": "b"})).is_err());
        assert!(validate_status_details(&json!({"a:_-Z9": "b"})).is_ok());
        assert!(validate_status_details(&json!({"a": ""})).is_err());
        assert!(validate_status_details(&json!({"a": 1})).is_err());
        assert!(validate_status_details(&json!({"a": "x\ny"})).is_err());
        assert!(validate_status_details(&json!({"a": "x\u{200b}y"})).is_err());
        assert!(validate_status_details(&json!({"a": "accepted  v1.2.3"})).is_ok());
        let k128 = "k".repeat(128);
        let v1024 = "é".repeat(1024);
        assert!(validate_status_details(&json!({ k128.clone(): v1024.clone() })).is_ok());
        assert!(validate_status_details(&json!({ format!("{k128}k"): "v" })).is_err());
        assert!(validate_status_details(&json!({ "k": format!("{v1024}e") })).is_err());
        let ten: Map<String, Value> = (0..10).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(validate_status_details(&Value::Object(ten.clone())).is_ok());
        let mut eleven = ten;
        eleven.insert("k10".into(), json!("v"));
        assert!(validate_status_details(&Value::Object(eleven)).is_err());
    }

    #[test]
    fn ids() {
        assert!(valid_job_id("AFR_OTA-1"));
        assert!(!valid_job_id("a:b"));
        assert!(!valid_job_id(""));
        assert!(!valid_job_id(&"a".repeat(65)));
        assert!(valid_thing_name("thing:1_a-b"));
        assert!(!valid_thing_name("thing/1"));
    }
}
