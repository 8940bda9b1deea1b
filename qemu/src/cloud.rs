//! A minimal AWS side inside the binary: IoT Jobs (`$next/get`, execution updates), MQTT file
//! streams (CBOR GetStream) and presigned HTTP range downloads, for one job.
//!
//! It answers what the agent publishes with owned copies of messages in a fixed outbox, the
//! way the real service answers over MQTT, and records every execution status the agent
//! reports. It uses ota-core's own codecs to read requests and encode blocks, so the agent's
//! encoders and decoders meet each other here (the host tests check both against AWS's
//! formats).

use core::fmt::Write as _;
use ota_core::codec::{cbor, json};

/// Longest topic in the outbox.
pub const TOPIC_CAP: usize = 160;
/// Longest payload in the outbox (a job document, or a CBOR block of 1 KiB).
pub const PAYLOAD_CAP: usize = 1400;
/// Messages the outbox holds (a GetStream window plus answers).
pub const OUTBOX: usize = 24;
/// Statuses recorded.
pub const MAX_STATUSES: usize = 96;

/// A message from the cloud to the device.
pub struct Msg {
    topic: [u8; TOPIC_CAP],
    tlen: usize,
    payload: [u8; PAYLOAD_CAP],
    plen: usize,
}

impl Msg {
    const EMPTY: Msg = Msg {
        topic: [0; TOPIC_CAP],
        tlen: 0,
        payload: [0; PAYLOAD_CAP],
        plen: 0,
    };
    /// The topic.
    pub fn topic(&self) -> &str {
        core::str::from_utf8(&self.topic[..self.tlen]).unwrap_or("")
    }
    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload[..self.plen]
    }
}

/// A bounded text writer over a byte buffer; overflow is an error.
pub struct Text<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Text<'b> {
    /// Writes into `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, len: 0 }
    }
    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl core::fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A FIFO of messages to the device.
pub struct Outbox {
    msgs: [Msg; OUTBOX],
    head: usize,
    len: usize,
    /// Messages refused because the outbox was full (a harness sizing error).
    pub overflow: u32,
}

impl Outbox {
    fn new() -> Self {
        Self {
            msgs: [const { Msg::EMPTY }; OUTBOX],
            head: 0,
            len: 0,
            overflow: 0,
        }
    }

    /// Queues a message built by `fill(topic, payload) -> (topic_len, payload_len)`.
    fn push(&mut self, fill: impl FnOnce(&mut [u8], &mut [u8]) -> Option<(usize, usize)>) {
        if self.len == OUTBOX {
            self.overflow += 1;
            return;
        }
        let i = (self.head + self.len) % OUTBOX;
        let m = &mut self.msgs[i];
        match fill(&mut m.topic, &mut m.payload) {
            Some((t, p)) => {
                m.tlen = t;
                m.plen = p;
                self.len += 1;
            }
            None => self.overflow += 1,
        }
    }

    /// The oldest message, if any; [`Outbox::pop`] removes it.
    pub fn front(&self) -> Option<&Msg> {
        (self.len > 0).then(|| &self.msgs[self.head])
    }

    /// Removes the oldest message.
    pub fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % OUTBOX;
            self.len -= 1;
        }
    }

    /// Drops everything (the connection was lost).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// An execution status the device reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// IN_PROGRESS (download progress).
    InProgress,
    /// IN_PROGRESS with `self_test: ready`: downloaded and verified, about to reboot.
    SelfTestReady,
    /// IN_PROGRESS with `self_test: active`: the new image runs its self-test.
    SelfTestActive,
    /// SUCCEEDED.
    Succeeded,
    /// FAILED.
    Failed,
    /// Anything else.
    Other,
}

/// How the job delivers its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// MQTT streams (CBOR blocks).
    Mqtt,
    /// A presigned HTTP URL (range requests).
    Http,
}

/// The one job the cloud holds.
pub struct Job<'a> {
    /// Job id.
    pub id: &'a str,
    /// Stream name (MQTT delivery).
    pub stream: &'a str,
    /// Delivery.
    pub delivery: Delivery,
    /// The file as uploaded (what the signature covers).
    pub image: &'a [u8],
    /// `sig-sha256-ecdsa`.
    pub signature: &'a str,
    /// Flip a bit of this byte whenever it is served (a corrupted transfer or a forged image).
    pub tamper_at: Option<usize>,
}

const URL: &str = "https://ota-sim.invalid/fw.bin?X-Amz-Signature=00";

/// The cloud.
pub struct Cloud<'a> {
    thing: &'a str,
    job: Job<'a>,
    terminal: bool,
    details: [u8; 512],
    details_len: usize,
    statuses: [Status; MAX_STATUSES],
    n_statuses: usize,
    /// Messages to deliver to the device.
    pub outbox: Outbox,
    /// Percentage of stream blocks lost on the way.
    pub loss_percent: u32,
    rng: u32,
    /// Stream blocks sent (lost ones excluded).
    pub blocks_sent: u32,
    /// GetStream requests received.
    pub stream_requests: u32,
    /// HTTP range requests received.
    pub http_requests: u32,
    /// Requests the cloud could not parse (must stay 0).
    pub malformed: u32,
    /// `$next/get` requests received.
    pub job_requests: u32,
}

impl<'a> Cloud<'a> {
    /// A cloud holding `job` (QUEUED) for `thing`.
    pub fn new(thing: &'a str, job: Job<'a>) -> Self {
        Self {
            thing,
            job,
            terminal: false,
            details: [0; 512],
            details_len: 0,
            statuses: [Status::Other; MAX_STATUSES],
            n_statuses: 0,
            outbox: Outbox::new(),
            loss_percent: 0,
            rng: 0x9E37_79B9,
            blocks_sent: 0,
            stream_requests: 0,
            http_requests: 0,
            malformed: 0,
            job_requests: 0,
        }
    }

    /// The statuses reported so far, in order.
    pub fn statuses(&self) -> &[Status] {
        &self.statuses[..self.n_statuses]
    }

    fn random_percent(&mut self) -> u32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        self.rng % 100
    }

    /// A message the device published.
    pub fn on_publish(&mut self, topic: &str, payload: &[u8]) {
        let Some(rest) = topic
            .strip_prefix("$aws/things/")
            .and_then(|r| r.strip_prefix(self.thing))
            .and_then(|r| r.strip_prefix('/'))
        else {
            return;
        };
        if rest == "jobs/$next/get" {
            self.next_get(payload);
        } else if let Some(id) = rest
            .strip_prefix("jobs/")
            .and_then(|r| r.strip_suffix("/update"))
        {
            self.update(id, payload);
        } else if let Some(name) = rest
            .strip_prefix("streams/")
            .and_then(|r| r.strip_suffix("/get/cbor"))
        {
            self.get_stream(name, payload);
        }
    }

    fn client_token(payload: &[u8]) -> Option<json::RawStr<'_>> {
        json::parse(payload)
            .ok()?
            .as_object()?
            .get("clientToken")?
            .as_raw_str()
    }

    fn next_get(&mut self, payload: &[u8]) {
        self.job_requests += 1;
        let Some(token) = Self::client_token(payload).and_then(|t| t.as_str()) else {
            self.malformed += 1;
            return;
        };
        let thing = self.thing;
        let job = &self.job;
        let terminal = self.terminal;
        let details = &self.details[..self.details_len];
        self.outbox.push(|t, p| {
            let mut tw = Text::new(t);
            write!(tw, "$aws/things/{thing}/jobs/$next/get/accepted").ok()?;
            let mut w = Text::new(p);
            write!(w, r#"{{"clientToken":"{token}","timestamp":1"#).ok()?;
            if !terminal {
                let status = if details.is_empty() {
                    "QUEUED"
                } else {
                    "IN_PROGRESS"
                };
                write!(
                    w,
                    r#","execution":{{"jobId":"{}","status":"{status}","queuedAt":1,"lastUpdatedAt":2,"versionNumber":1,"executionNumber":1"#,
                    job.id
                )
                .ok()?;
                if !details.is_empty() {
                    w.write_str(r#","statusDetails":"#).ok()?;
                    w.write_str(core::str::from_utf8(details).ok()?).ok()?;
                }
                let protocol = match job.delivery {
                    Delivery::Mqtt => "MQTT",
                    Delivery::Http => "HTTP",
                };
                write!(
                    w,
                    r#","jobDocument":{{"afr_ota":{{"protocols":["{protocol}"],"streamname":"{}","files":[{{"filepath":"/fw/app.bin","filesize":{},"fileid":0,"certfile":"codesign.crt","fileType":0,"sig-sha256-ecdsa":"{}""#,
                    job.stream,
                    job.image.len(),
                    job.signature
                )
                .ok()?;
                if job.delivery == Delivery::Http {
                    write!(
                        w,
                        r#","update_data_url":"{URL}","auth_scheme":"aws.s3.presigned""#
                    )
                    .ok()?;
                }
                w.write_str("}]}}}").ok()?;
            }
            w.write_str("}").ok()?;
            Some((tw.len(), w.len()))
        });
    }

    fn update(&mut self, id: &str, payload: &[u8]) {
        let Some(obj) = json::parse(payload).ok().and_then(|v| v.as_object()) else {
            self.malformed += 1;
            return;
        };
        let token = obj
            .get("clientToken")
            .and_then(|v| v.as_raw_str())
            .and_then(|s| s.as_str())
            .unwrap_or("");
        let status = obj.get("status").and_then(|v| v.as_raw_str());
        let details = obj.get("statusDetails").and_then(|v| v.as_object());
        let self_test = details
            .and_then(|d| d.get("self_test"))
            .and_then(|v| v.as_raw_str());
        let kind = match status {
            Some(s) if s.eq_str("IN_PROGRESS") => match self_test {
                Some(t) if t.eq_str("ready") => Status::SelfTestReady,
                Some(t) if t.eq_str("active") => Status::SelfTestActive,
                _ => Status::InProgress,
            },
            Some(s) if s.eq_str("SUCCEEDED") => Status::Succeeded,
            Some(s) if s.eq_str("FAILED") => Status::Failed,
            _ => Status::Other,
        };
        let thing = self.thing;
        if id != self.job.id || self.terminal {
            self.outbox.push(|t, p| {
                let mut tw = Text::new(t);
                write!(tw, "$aws/things/{thing}/jobs/{id}/update/rejected").ok()?;
                let mut w = Text::new(p);
                write!(
                    w,
                    r#"{{"clientToken":"{token}","timestamp":1,"code":"TerminalStateReached","message":"terminal"}}"#
                )
                .ok()?;
                Some((tw.len(), w.len()))
            });
            return;
        }
        if self.n_statuses < MAX_STATUSES {
            self.statuses[self.n_statuses] = kind;
            self.n_statuses += 1;
        }
        // The service keeps the last statusDetails and hands them back with the job.
        if let Some(d) = details {
            let src = d.source();
            if src.len() <= self.details.len() {
                self.details[..src.len()].copy_from_slice(src);
                self.details_len = src.len();
            }
        }
        if matches!(kind, Status::Succeeded | Status::Failed) {
            self.terminal = true;
        }
        self.outbox.push(|t, p| {
            let mut tw = Text::new(t);
            write!(tw, "$aws/things/{thing}/jobs/{id}/update/accepted").ok()?;
            let mut w = Text::new(p);
            write!(w, r#"{{"clientToken":"{token}","timestamp":2}}"#).ok()?;
            Some((tw.len(), w.len()))
        });
    }

    fn get_stream(&mut self, name: &str, payload: &[u8]) {
        self.stream_requests += 1;
        let Ok(req) = cbor::decode_get_stream_request(payload) else {
            self.malformed += 1;
            return;
        };
        if name != self.job.stream || req.file_id != 0 || req.block_size == 0 {
            self.malformed += 1;
            return;
        }
        let bs = req.block_size as usize;
        let blocks = self.job.image.len().div_ceil(bs) as u32;
        let bitmap = req.bitmap.unwrap_or(&[]);
        let wanted = req.num_blocks.unwrap_or(bitmap.len() as u32 * 8);
        for j in 0..wanted {
            let selected = match req.bitmap {
                Some(b) => b
                    .get((j / 8) as usize)
                    .is_some_and(|byte| byte & (1 << (j % 8)) != 0),
                None => true,
            };
            let id = req.block_offset + j;
            if !selected || id >= blocks {
                continue;
            }
            if self.random_percent() < self.loss_percent {
                continue;
            }
            self.send_block(name, id, bs);
        }
    }

    fn send_block(&mut self, stream: &str, id: u32, bs: usize) {
        let start = id as usize * bs;
        let end = (start + bs).min(self.job.image.len());
        let mut scratch = [0u8; 1024];
        let Some(data) = scratch.get_mut(..end - start) else {
            self.malformed += 1;
            return;
        };
        data.copy_from_slice(&self.job.image[start..end]);
        if let Some(at) = self.job.tamper_at.filter(|at| (start..end).contains(at)) {
            data[at - start] ^= 0x01;
        }
        let thing = self.thing;
        let block = cbor::DataBlock {
            file_id: 0,
            block_id: id,
            block_size: bs as u32,
            payload: data,
        };
        self.outbox.push(|t, p| {
            let mut tw = Text::new(t);
            write!(tw, "$aws/things/{thing}/streams/{stream}/data/cbor").ok()?;
            let n = cbor::encode_data_block(&block, p).ok()?;
            Some((tw.len(), n))
        });
        self.blocks_sent += 1;
    }

    /// An HTTP range request: the bytes to answer with (clamped to the file), tampered if
    /// configured. `None` for a range outside the file.
    pub fn http_range(&mut self, first: u32, last: u32, out: &mut [u8]) -> Option<usize> {
        let len = self.job.image.len();
        let first = first as usize;
        let end = (last as usize).saturating_add(1).min(len);
        if first >= end || end - first > out.len() {
            return None;
        }
        let n = end - first;
        out[..n].copy_from_slice(&self.job.image[first..end]);
        if let Some(at) = self.job.tamper_at.filter(|at| (first..end).contains(at)) {
            out[at - first] ^= 0x01;
        }
        Some(n)
    }

    /// A new HTTP range request arrived: the file size, for `Content-Range`.
    pub fn http_request(&mut self) -> usize {
        self.http_requests += 1;
        self.job.image.len()
    }
}
