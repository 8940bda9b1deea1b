//! Rendering queued entries into actions: topics and payloads are written into the agent's
//! scratch buffers when polled, so queue entries stay small.

use super::queue::{Detail, Note, Pending, StatusMsg, Topic};
use super::{Agent, Phase};
use crate::codec::cbor::{self, GetStreamRequest};
use crate::codec::status::{self, StatusUpdate};
use crate::types::{Action, Event, FileInfo, QoS};
use crate::verify::ImageVerifier;
use crate::wire::Writer;

/// Client token of GetStream requests.
const STREAM_TOKEN: &str = "rdy";

impl<'a, V: ImageVerifier> Agent<'a, V> {
    pub(super) fn render(&mut self, p: Pending) -> Action<'_> {
        match p {
            Pending::Sub(t) => {
                let n = self.topic(t);
                Action::Subscribe {
                    topic: str_of(&self.topic_buf[..n]),
                    qos: topic_qos(t),
                }
            }
            Pending::Unsub(t) => {
                let n = self.topic(t);
                Action::Unsubscribe {
                    topic: str_of(&self.topic_buf[..n]),
                }
            }
            Pending::NextGet(token) => {
                let n = self.jobs_topic("$next/get", None);
                let mut tok = [0u8; 16];
                let tl = token_text(token, &mut tok);
                let m =
                    status::encode_next_get(str_of(&tok[..tl]), &mut self.payload_buf).unwrap_or(0);
                Action::Publish {
                    topic: str_of(&self.topic_buf[..n]),
                    payload: &self.payload_buf[..m],
                    qos: QoS::AtLeastOnce,
                }
            }
            Pending::Status(msg) => self.render_status(msg),
            Pending::GetStream { offset, span } => {
                let n = self.stream_topic(self.stream_slot(), "get/cbor");
                let mut window = [0u8; 128];
                let bytes = (span as usize).div_ceil(8).min(window.len());
                for j in 0..span.min(1024) {
                    if self.bitmap.is_needed(offset + j) {
                        window[(j / 8) as usize] |= 1 << (j % 8);
                    }
                }
                let req = GetStreamRequest {
                    client_token: STREAM_TOKEN,
                    file_id: self.file.file_id,
                    block_size: self.cfg.block_size,
                    block_offset: offset,
                    bitmap: Some(&window[..bytes]),
                    num_blocks: None,
                };
                let m = cbor::encode_get_stream_request(&req, &mut self.payload_buf).unwrap_or(0);
                Action::Publish {
                    topic: str_of(&self.topic_buf[..n]),
                    payload: &self.payload_buf[..m],
                    qos: QoS::AtMostOnce,
                }
            }
            Pending::HttpGet { first, last } => Action::HttpGet {
                url: str_of(self.url_buf.get(..self.file.url_len).unwrap_or(&[])),
                first,
                last,
            },
            Pending::HttpCancel => Action::HttpCancel,
            Pending::FileCreate { resume } => {
                let path = self.file_path_len();
                Action::FileCreate(FileInfo {
                    index: self.file.index,
                    file_type: self.file.file_type,
                    is_firmware: self.file.is_firmware,
                    size: self.file.size,
                    path: str_of(&self.topic_buf[..path]),
                    resume,
                })
            }
            Pending::FileWrite { offset, len } => Action::FileWrite {
                offset,
                data: self.block.get(..len as usize).unwrap_or(&[]),
            },
            Pending::FileRead { offset, len } => Action::FileRead { offset, len },
            Pending::FileClose => Action::FileClose,
            Pending::FileAbort => Action::FileAbort,
            Pending::PersistResume => {
                let n = self.resume_record();
                match n {
                    Some(n) => Action::PersistResume(&self.block[..n]),
                    None => Action::ClearResume,
                }
            }
            Pending::ClearResume => Action::ClearResume,
            Pending::SetImageState(s) => Action::SetImageState(s),
            Pending::Activate => Action::Activate,
            Pending::Reset => Action::Reset,
            Pending::Notify(slot, note) => {
                let job_id = self.slots[slot as usize].as_str();
                Action::Notify(match note {
                    Note::ReceivedJob { files, resumed } => Event::ReceivedJob {
                        job_id,
                        files,
                        resumed,
                    },
                    Note::NoActiveJob => Event::NoActiveJob,
                    Note::CustomJob => Event::CustomJob {
                        job_id,
                        document: self.job_buf.get(..self.custom_len).unwrap_or(&[]),
                    },
                    Note::Progress { file, done, total } => Event::Progress {
                        file,
                        blocks_done: done,
                        blocks_total: total,
                    },
                    Note::FileComplete { file, file_type } => Event::FileComplete {
                        job_id,
                        file,
                        file_type,
                    },
                    Note::ReadyToActivate => Event::ReadyToActivate { job_id },
                    Note::StartSelfTest => Event::StartSelfTest { job_id },
                    Note::Accepted => Event::Accepted { job_id },
                    Note::SelfTestFailed(reason) => Event::SelfTestFailed { job_id, reason },
                    Note::Failed(reason) => Event::Failed { job_id, reason },
                    Note::JobFinished(succeeded) => Event::JobFinished { job_id, succeeded },
                })
            }
        }
    }

    fn topic(&mut self, t: Topic) -> usize {
        match t {
            Topic::NotifyNext => self.jobs_topic("notify-next", None),
            Topic::NextGetAnswers => self.jobs_topic("$next/get/+", None),
            Topic::UpdateAnswers => self.jobs_topic("+/update/+", None),
            Topic::StreamData(slot) => self.stream_topic(slot, "data/cbor"),
            Topic::StreamRejected(slot) => self.stream_topic(slot, "rejected/cbor"),
        }
    }

    fn jobs_topic(&mut self, tail: &str, job: Option<u8>) -> usize {
        let id = job.map(|s| self.slots[s as usize]);
        let thing = self.cfg.thing_name;
        let mut w = Writer::new(&mut self.topic_buf);
        w.str("$aws/things/").str(thing).str("/jobs/");
        if let Some(id) = id.as_ref() {
            w.str(id.as_str()).str("/");
        }
        w.str(tail);
        w.finish().unwrap_or(0)
    }

    fn stream_topic(&mut self, slot: u8, tail: &str) -> usize {
        let stream = self.streams[slot as usize];
        let thing = self.cfg.thing_name;
        let mut w = Writer::new(&mut self.topic_buf);
        w.str("$aws/things/")
            .str(thing)
            .str("/streams/")
            .str(stream.as_str())
            .str("/")
            .str(tail);
        w.finish().unwrap_or(0)
    }

    fn render_status(&mut self, msg: StatusMsg) -> Action<'_> {
        let n = self.jobs_topic("update", Some(msg.slot));
        let mut v1 = [0u8; 96];
        let mut v2 = [0u8; 32];
        let mut tok = [0u8; 16];
        let tl = token_text(msg.token, &mut tok);
        let mut details: [(&str, &str); 2] = [("", ""); 2];
        let count;
        match msg.detail {
            Detail::Progress {
                done,
                total,
                file,
                files,
            } => {
                let mut w = Writer::new(&mut v1);
                w.u32(done).str("/").u32(total);
                let l1 = w.finish().unwrap_or(0);
                let mut w = Writer::new(&mut v2);
                w.u32(file as u32 + 1).str("/").u32(files as u32);
                let l2 = w.finish().unwrap_or(0);
                details[0] = ("receive", str_of(&v1[..l1]));
                details[1] = ("file", str_of(&v2[..l2]));
                count = if files > 1 { 2 } else { 1 };
            }
            Detail::SelfTestReady => {
                let mut w = Writer::new(&mut v2);
                w.hex32(self.cfg.version.to_u32());
                let l2 = w.finish().unwrap_or(0);
                details[0] = ("self_test", "ready");
                details[1] = ("updatedBy", str_of(&v2[..l2]));
                count = 2;
            }
            Detail::SelfTestActive { updated_by } => {
                let mut w = Writer::new(&mut v2);
                w.hex32(updated_by);
                let l2 = w.finish().unwrap_or(0);
                details[0] = ("self_test", "active");
                details[1] = ("updatedBy", str_of(&v2[..l2]));
                count = 2;
            }
            Detail::Succeeded { updated_by } => {
                let v = self.cfg.version;
                let mut w = Writer::new(&mut v1);
                w.str("accepted v")
                    .u32(v.major as u32)
                    .str(".")
                    .u32(v.minor as u32)
                    .str(".")
                    .u32(v.build as u32);
                let l1 = w.finish().unwrap_or(0);
                let mut w = Writer::new(&mut v2);
                w.hex32(updated_by);
                let l2 = w.finish().unwrap_or(0);
                details[0] = ("reason", str_of(&v1[..l1]));
                details[1] = ("updatedBy", str_of(&v2[..l2]));
                count = 2;
            }
            Detail::FilesDone { files } => {
                let mut w = Writer::new(&mut v1);
                w.str("accepted ").u32(files as u32).str(" file(s)");
                let l1 = w.finish().unwrap_or(0);
                details[0] = ("reason", str_of(&v1[..l1]));
                count = 1;
            }
            Detail::Failed(reason) => {
                let mut w = Writer::new(&mut v1);
                w.str(reason_text(&reason)).str(": ").hex32(reason.code());
                let l1 = w.finish().unwrap_or(0);
                details[0] = ("reason", str_of(&v1[..l1]));
                count = 1;
            }
        }
        let update = StatusUpdate {
            status: msg.status,
            details: &details[..count],
            client_token: Some(str_of(&tok[..tl])),
            expected_version: None,
        };
        let m = status::encode_status_update(&update, &mut self.payload_buf).unwrap_or(0);
        Action::Publish {
            topic: str_of(&self.topic_buf[..n]),
            payload: &self.payload_buf[..m],
            qos: msg.qos,
        }
    }

    /// Writes the current file's unescaped `filepath` into the topic scratch; its length.
    fn file_path_len(&mut self) -> usize {
        let Some(j) = self.job else { return 0 };
        let doc = self.job_buf.get(..j.doc_len).unwrap_or(&[]);
        let path = super::parse_again(doc).ok().and_then(|d| match d {
            crate::codec::job::JobDocument::Ota(o) => o
                .file(self.file.index as usize)
                .ok()
                .and_then(|f| f.file_path),
            _ => None,
        });
        path.and_then(|p| p.unescape_into(&mut self.topic_buf).ok())
            .unwrap_or(0)
    }

    /// Renders the resume record into the block buffer.
    fn resume_record(&mut self) -> Option<usize> {
        let j = self.job?;
        if matches!(self.phase, Phase::Idle) || self.bitmap.blocks() == 0 {
            return None;
        }
        let rec = crate::resume::ResumeRecord {
            job_id: self.slots[j.slot as usize].as_str(),
            file_pos: j.pos,
            file_index: self.file.index,
            file_id: self.file.file_id,
            file_size: self.file.size,
            block_size: self.cfg.block_size,
            bitmap: self.bitmap.as_bytes(),
        };
        rec.encode(self.block)
    }
}

fn topic_qos(t: Topic) -> QoS {
    match t {
        Topic::StreamData(_) | Topic::StreamRejected(_) => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}

/// `ota-<n>`: the client token of Jobs requests.
pub(super) fn token_text(token: u32, out: &mut [u8; 16]) -> usize {
    let mut w = Writer::new(out);
    w.str("ota-").u32(token);
    w.finish().unwrap_or(0)
}

fn str_of(b: &[u8]) -> &str {
    core::str::from_utf8(b).unwrap_or("")
}

/// Short, stable reason texts for job statuses (no `core::fmt`).
pub(crate) fn reason_text(r: &crate::types::FailReason) -> &'static str {
    use crate::types::FailReason as F;
    match r {
        F::BadJobDocument(_) => "bad job document",
        F::UnsupportedProtocol => "unsupported protocol",
        F::FileTooLarge => "file too large",
        F::MissingSignature => "missing signature",
        F::Signature(_) => "signature check failed",
        F::Platform(_) => "platform error",
        F::RetriesExhausted => "retries exhausted",
        F::StreamRejected => "stream request rejected",
        F::HttpError(_) => "http error",
        F::UserAbort => "aborted",
        F::SelfTestRejected => "rejected",
        F::SelfTestTimeout => "self-test timeout",
        F::DowngradeRefused => "downgrade refused",
        F::SameVersion => "same version",
        F::RolledBack => "rolled back",
        F::SecurityEpochTooLow => "security epoch too low",
        F::ImageStateMismatch => "image state mismatch",
        F::CustomJobUnsupported => "unsupported job",
        F::Superseded => "superseded",
    }
}
