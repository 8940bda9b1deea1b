//! Rendering queued entries into actions: topics and payloads are written into the agent's
//! scratch buffers when polled, so queue entries stay small.

use super::queue::{Detail, Note, Pending, StatusMsg, Topic};
use super::{Agent, Phase};
use crate::codec::cbor::{self, GetStreamRequest};
use crate::types::{Action, Event, FileInfo, QoS};
use crate::verify::ImageVerifier;
use crate::wire::Writer;

/// Client token of GetStream requests.
const STREAM_TOKEN: &str = "rdy";

impl<'a, V: ImageVerifier> Agent<'a, V> {
    #[inline(never)] // smaller out of line (measured, see the README's code size)
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
                // `{"clientToken":"ota-<n>"}`, as `codec::status::encode_next_get` writes it.
                let mut w = Writer::new(&mut self.payload_buf);
                w.str("{\"clientToken\":\"");
                token_into(&mut w, token);
                w.str("\"}");
                let m = w.finish().unwrap_or(0);
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

    /// `$aws/things/<thing>/jobs/[<jobId>/]<tail>` into the topic scratch; its length.
    fn jobs_topic(&mut self, tail: &str, job: Option<u8>) -> usize {
        let id = job.map(|s| self.slots[s as usize].as_str());
        thing_topic(&mut self.topic_buf, self.cfg.thing_name, "/jobs/", id, tail)
    }

    /// `$aws/things/<thing>/streams/<stream>/<tail>` into the topic scratch; its length.
    fn stream_topic(&mut self, slot: u8, tail: &str) -> usize {
        let stream = self.streams[slot as usize].as_str();
        thing_topic(
            &mut self.topic_buf,
            self.cfg.thing_name,
            "/streams/",
            Some(stream),
            tail,
        )
    }

    /// `<jobId>/update`: `{"status":"..","statusDetails":{..},"clientToken":"ota-<n>"}`,
    /// written directly (every key and value the agent sends is plain ASCII that needs no
    /// escaping and is within the service's limits; `codec::status::encode_status_update`
    /// writes the same bytes, as the tests check).
    fn render_status(&mut self, msg: StatusMsg) -> Action<'_> {
        let n = self.jobs_topic("update", Some(msg.slot));
        let version = self.cfg.version;
        let mut w = Writer::new(&mut self.payload_buf);
        w.str("{\"status\":\"")
            .str(msg.status.as_str())
            .str("\",\"statusDetails\":{\"");
        let updated_by = match msg.detail {
            Detail::Progress {
                done,
                total,
                file,
                files,
            } => {
                w.str("receive\":\"").u32(done).str("/").u32(total);
                if files > 1 {
                    w.str("\",\"file\":\"")
                        .u32(file as u32 + 1)
                        .str("/")
                        .u32(files as u32);
                }
                None
            }
            Detail::SelfTestReady => {
                w.str("self_test\":\"ready");
                Some(version.to_u32())
            }
            Detail::SelfTestActive { updated_by } => {
                w.str("self_test\":\"active");
                Some(updated_by)
            }
            Detail::Succeeded { updated_by } => {
                w.str("reason\":\"accepted v")
                    .u32(version.major as u32)
                    .str(".")
                    .u32(version.minor as u32)
                    .str(".")
                    .u32(version.build as u32);
                Some(updated_by)
            }
            Detail::FilesDone { files } => {
                w.str("reason\":\"accepted ")
                    .u32(files as u32)
                    .str(" file(s)");
                None
            }
            Detail::Failed(reason) => {
                w.str("reason\":\"")
                    .str(reason_text(&reason))
                    .str(": ")
                    .hex32(reason.code());
                None
            }
        };
        if let Some(v) = updated_by {
            w.str("\",\"updatedBy\":\"").hex32(v);
        }
        w.str("\"},\"clientToken\":\"");
        token_into(&mut w, msg.token);
        w.str("\"}");
        let m = w.finish().unwrap_or(0);
        Action::Publish {
            topic: str_of(&self.topic_buf[..n]),
            payload: &self.payload_buf[..m],
            qos: msg.qos,
        }
    }

    /// Writes the current file's unescaped `filepath` into the topic scratch; its length.
    #[inline(never)] // smaller out of line (measured, see the README's code size)
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

/// `$aws/things/<thing><kind>[<id>/]<tail>` into `out`; its length (0 if it does not fit).
/// One writer for every topic (the ids are borrowed, not copied).
fn thing_topic(out: &mut [u8], thing: &str, kind: &str, id: Option<&str>, tail: &str) -> usize {
    let mut w = Writer::new(out);
    w.str("$aws/things/").str(thing).str(kind);
    if let Some(id) = id {
        w.str(id).str("/");
    }
    w.str(tail);
    w.finish().unwrap_or(0)
}

fn topic_qos(t: Topic) -> QoS {
    match t {
        Topic::StreamData(_) | Topic::StreamRejected(_) => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}

/// `ota-<n>`: the client token of Jobs requests.
fn token_into(w: &mut Writer<'_>, token: u32) {
    w.str("ota-").u32(token);
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

#[cfg(test)]
mod tests {
    use super::super::queue::{Detail, Pending, StatusMsg};
    use super::super::{Agent, Buffers};
    use super::{reason_text, token_into};
    use crate::codec::job::{ExecutionStatus, JobError};
    use crate::codec::status::{self, StatusUpdate};
    use crate::config::Config;
    use crate::types::{Action, FailReason, PalError, QoS, Version};
    use crate::verify::{ImageVerifier, VerifyError};
    use crate::wire::Writer;
    use std::string::String;
    use std::vec::Vec;

    struct NoVerifier;
    impl ImageVerifier for NoVerifier {
        fn begin(&mut self) {}
        fn update(&mut self, _: &[u8]) {}
        fn verify(&mut self, _: &[u8], _: Option<&str>) -> Result<(), VerifyError> {
            Err(VerifyError::Mismatch)
        }
    }

    /// The status as `codec::status::encode_status_update` writes it from the details the
    /// agent reports: the reference the direct writer must match byte for byte.
    fn reference(msg: &StatusMsg, version: Version) -> Vec<u8> {
        let text = |f: &dyn Fn(&mut Writer<'_>)| {
            let mut b = [0u8; 96];
            let mut w = Writer::new(&mut b);
            f(&mut w);
            let n = w.finish().expect("fits");
            String::from_utf8(b[..n].to_vec()).expect("utf-8")
        };
        let hex = |v: u32| {
            text(&|w| {
                w.hex32(v);
            })
        };
        let pairs: Vec<(&str, String)> = match msg.detail {
            Detail::Progress {
                done,
                total,
                file,
                files,
            } => {
                let mut p = std::vec![(
                    "receive",
                    text(&|w| {
                        w.u32(done).str("/").u32(total);
                    })
                )];
                if files > 1 {
                    let f = text(&|w| {
                        w.u32(file as u32 + 1).str("/").u32(files as u32);
                    });
                    p.push(("file", f));
                }
                p
            }
            Detail::SelfTestReady => std::vec![
                ("self_test", "ready".into()),
                ("updatedBy", hex(version.to_u32()))
            ],
            Detail::SelfTestActive { updated_by } => std::vec![
                ("self_test", "active".into()),
                ("updatedBy", hex(updated_by))
            ],
            Detail::Succeeded { updated_by } => std::vec![
                ("reason", std::format!("accepted v{version}")),
                ("updatedBy", hex(updated_by))
            ],
            Detail::FilesDone { files } => {
                std::vec![("reason", std::format!("accepted {files} file(s)"))]
            }
            Detail::Failed(r) => std::vec![(
                "reason",
                std::format!("{}: {}", reason_text(&r), hex(r.code()))
            )],
        };
        let details: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let token = text(&|w| token_into(w, msg.token));
        let update = StatusUpdate {
            status: msg.status,
            details: &details,
            client_token: Some(&token),
            expected_version: None,
        };
        let mut out = [0u8; 512];
        let n = status::encode_status_update(&update, &mut out).expect("valid update");
        out[..n].to_vec()
    }

    #[test]
    fn statuses_match_the_codec() {
        let version = Version::new(255, 7, 65535);
        let (mut block, mut job, mut bitmap, mut url) =
            ([0u8; 4096], [0u8; 4096], [0u8; 16], [0u8; 64]);
        let buffers = Buffers {
            block: &mut block,
            job: &mut job,
            bitmap: &mut bitmap,
            url: &mut url,
        };
        let mut agent =
            Agent::new(Config::new("thing", version), buffers, NoVerifier).expect("agent");
        agent.slots[1].set("job-1_A");
        let mut details = std::vec![
            Detail::Progress {
                done: 0,
                total: 1,
                file: 0,
                files: 1
            },
            Detail::Progress {
                done: u32::MAX,
                total: u32::MAX,
                file: 254,
                files: 255
            },
            Detail::Progress {
                done: 7,
                total: 9,
                file: 1,
                files: 2
            },
            Detail::SelfTestReady,
            Detail::SelfTestActive { updated_by: 0 },
            Detail::SelfTestActive {
                updated_by: u32::MAX
            },
            Detail::Succeeded {
                updated_by: 0x0102_0003
            },
            Detail::FilesDone { files: 3 },
        ];
        for r in [
            FailReason::BadJobDocument(JobError::Missing("files")),
            FailReason::UnsupportedProtocol,
            FailReason::FileTooLarge,
            FailReason::MissingSignature,
            FailReason::Signature(VerifyError::Mismatch),
            FailReason::Platform(PalError::Other(u32::MAX)),
            FailReason::Platform(PalError::Flash),
            FailReason::RetriesExhausted,
            FailReason::StreamRejected,
            FailReason::HttpError(u16::MAX),
            FailReason::UserAbort,
            FailReason::SelfTestRejected,
            FailReason::SelfTestTimeout,
            FailReason::DowngradeRefused,
            FailReason::SameVersion,
            FailReason::RolledBack,
            FailReason::SecurityEpochTooLow,
            FailReason::ImageStateMismatch,
            FailReason::CustomJobUnsupported,
            FailReason::Superseded,
        ] {
            details.push(Detail::Failed(r));
        }
        let statuses = [
            ExecutionStatus::InProgress,
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
        ];
        for (i, detail) in details.into_iter().enumerate() {
            for (k, status) in statuses.into_iter().enumerate() {
                let token = [0, 1, 42, u32::MAX][(i + k) % 4];
                let msg = StatusMsg {
                    slot: 1,
                    status,
                    detail,
                    token,
                    qos: QoS::AtLeastOnce,
                };
                let expected = reference(&msg, version);
                match agent.render(Pending::Status(msg)) {
                    Action::Publish {
                        topic,
                        payload,
                        qos,
                    } => {
                        assert_eq!(topic, "$aws/things/thing/jobs/job-1_A/update");
                        assert_eq!(
                            payload,
                            &expected[..],
                            "{:?}",
                            String::from_utf8_lossy(&expected)
                        );
                        assert_eq!(qos, QoS::AtLeastOnce);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn next_get_matches_the_codec() {
        let (mut block, mut job, mut bitmap, mut url) =
            ([0u8; 4096], [0u8; 4096], [0u8; 16], [0u8; 64]);
        let buffers = Buffers {
            block: &mut block,
            job: &mut job,
            bitmap: &mut bitmap,
            url: &mut url,
        };
        let mut agent = Agent::new(
            Config::new("thing", Version::new(1, 0, 0)),
            buffers,
            NoVerifier,
        )
        .expect("agent");
        for token in [0, 9, 10, u32::MAX] {
            let mut out = [0u8; 64];
            let text = std::format!("ota-{token}");
            let n = status::encode_next_get(&text, &mut out).expect("valid");
            match agent.render(Pending::NextGet(token)) {
                Action::Publish {
                    topic,
                    payload,
                    qos,
                } => {
                    assert_eq!(topic, "$aws/things/thing/jobs/$next/get");
                    assert_eq!(payload, &out[..n]);
                    assert_eq!(qos, QoS::AtLeastOnce);
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
