//! Test support: an agent over leaked buffers, owned copies of actions, job-document and block
//! builders, and an automatic RAM platform.
#![allow(dead_code, unreachable_pub, missing_docs)]

use ota_core::codec::cbor::{self, DataBlock};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::*;
use p256::ecdsa::{SigningKey, signature::Signer};

pub const THING: &str = "dev1";
pub const BS: u32 = 1024;

pub fn signing_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).unwrap()
}

pub fn other_key() -> SigningKey {
    SigningKey::from_slice(&[0x17; 32]).unwrap()
}

/// base64 of the DER ECDSA P-256/SHA-256 signature of `data`.
pub fn sign_b64(key: &SigningKey, data: &[u8]) -> String {
    let sig: p256::ecdsa::Signature = key.sign(data);
    let der = sig.to_der();
    let mut out = vec![0u8; 200];
    let n = ota_core::codec::base64::encode(der.as_bytes(), &mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

pub fn image(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2654435761)
                .wrapping_add(seed as u32) as u8
                ^ (i >> 8) as u8
        })
        .collect()
}

/// An owned copy of an action, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    Sub(String),
    Unsub(String),
    Pub {
        topic: String,
        payload: Vec<u8>,
        qos1: bool,
    },
    Http {
        url: String,
        first: u32,
        last: u32,
    },
    HttpCancel,
    Create {
        index: u8,
        size: u32,
        resume: bool,
        firmware: bool,
        path: String,
    },
    Write {
        offset: u32,
        data: Vec<u8>,
    },
    Read {
        offset: u32,
        len: u32,
    },
    Close,
    Abort,
    Persist(Vec<u8>),
    ClearResume,
    SetState(ImageState),
    Activate,
    Reset,
    Note(String),
}

impl Act {
    pub fn json(&self) -> serde_json::Value {
        match self {
            Act::Pub { payload, .. } => serde_json::from_slice(payload).expect("json payload"),
            _ => panic!("not a publish: {self:?}"),
        }
    }
    pub fn is_pub_to(&self, suffix: &str) -> bool {
        matches!(self, Act::Pub { topic, .. } if topic.ends_with(suffix))
    }
}

fn own(a: Action<'_>) -> Act {
    match a {
        Action::Subscribe { topic, .. } => Act::Sub(topic.into()),
        Action::Unsubscribe { topic } => Act::Unsub(topic.into()),
        Action::Publish {
            topic,
            payload,
            qos,
        } => Act::Pub {
            topic: topic.into(),
            payload: payload.to_vec(),
            qos1: qos == QoS::AtLeastOnce,
        },
        Action::HttpGet { url, first, last } => Act::Http {
            url: url.into(),
            first,
            last,
        },
        Action::HttpCancel => Act::HttpCancel,
        Action::FileCreate(f) => Act::Create {
            index: f.index,
            size: f.size,
            resume: f.resume,
            firmware: f.is_firmware,
            path: f.path.into(),
        },
        Action::FileWrite { offset, data } => Act::Write {
            offset,
            data: data.to_vec(),
        },
        Action::FileRead { offset, len } => Act::Read { offset, len },
        Action::FileClose => Act::Close,
        Action::FileAbort => Act::Abort,
        Action::PersistResume(r) => Act::Persist(r.to_vec()),
        Action::ClearResume => Act::ClearResume,
        Action::SetImageState(s) => Act::SetState(s),
        Action::Activate => Act::Activate,
        Action::Reset => Act::Reset,
        Action::Notify(e) => Act::Note(note(&e)),
        other => panic!("unknown action {other:?}"),
    }
}

/// Events as short strings: `ReceivedJob(j1,1,false)`, `Failed(j1,signature check failed: ...)`.
pub fn note(e: &Event<'_>) -> String {
    match e {
        Event::ReceivedJob {
            job_id,
            files,
            resumed,
        } => format!("ReceivedJob({job_id},{files},{resumed})"),
        Event::NoActiveJob => "NoActiveJob".into(),
        Event::CustomJob { job_id, document } => {
            format!("CustomJob({job_id},{})", String::from_utf8_lossy(document))
        }
        Event::Progress {
            file,
            blocks_done,
            blocks_total,
        } => format!("Progress({file},{blocks_done}/{blocks_total})"),
        Event::FileComplete {
            job_id,
            file,
            file_type,
        } => format!("FileComplete({job_id},{file},{file_type})"),
        Event::ReadyToActivate { job_id } => format!("ReadyToActivate({job_id})"),
        Event::StartSelfTest { job_id } => format!("StartSelfTest({job_id})"),
        Event::Accepted { job_id } => format!("Accepted({job_id})"),
        Event::SelfTestFailed { job_id, reason } => format!("SelfTestFailed({job_id},{reason})"),
        Event::Failed { job_id, reason } => format!("Failed({job_id},{reason})"),
        Event::JobFinished { job_id, succeeded } => format!("JobFinished({job_id},{succeeded})"),
        other => format!("{other:?}"),
    }
}

pub type TestAgent = Agent<'static, P256Verifier<'static>>;

pub struct Dev {
    pub agent: TestAgent,
    pub now: u64,
    /// The RAM "flash" of the current file, when `auto_platform` is on.
    pub file: Vec<u8>,
    pub files_done: Vec<Vec<u8>>,
    pub auto_platform: bool,
    pub persisted: Option<Vec<u8>>,
    pub log: Vec<Act>,
}

pub fn leak<const N: usize>() -> &'static mut [u8] {
    Box::leak(Box::new([0u8; N]))
}

pub fn config() -> Config<'static> {
    let mut c = Config::new(THING, Version::new(1, 0, 0));
    c.block_size = BS;
    c.blocks_per_request = 4;
    c.status_every = 4;
    c.resume_every = 2;
    c.max_retries = 3;
    c
}

impl Dev {
    pub fn new(cfg: Config<'static>) -> Self {
        let keys: &'static [TrustedKey<'static>] = Box::leak(Box::new([
            TrustedKey {
                name: None,
                key: *signing_key().verifying_key(),
            },
            TrustedKey {
                name: Some("other.crt"),
                key: *other_key().verifying_key(),
            },
        ]));
        let buffers = Buffers {
            block: leak::<2048>(),
            job: leak::<8192>(),
            bitmap: leak::<64>(),
            url: leak::<2048>(),
        };
        let agent = Agent::new(cfg, buffers, P256Verifier::new(keys)).unwrap();
        Self {
            agent,
            now: 0,
            file: Vec::new(),
            files_done: Vec::new(),
            auto_platform: false,
            persisted: None,
            log: Vec::new(),
        }
    }

    pub fn auto() -> Self {
        let mut d = Self::new(config());
        d.auto_platform = true;
        d
    }

    pub fn t(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// Drains actions; with `auto_platform`, answers platform actions from a RAM file.
    pub fn drain(&mut self) -> Vec<Act> {
        let mut out = Vec::new();
        while let Some(a) = self.agent.poll() {
            let act = own(a);
            out.push(act.clone());
            self.log.push(act.clone());
            if !self.auto_platform {
                continue;
            }
            let now = self.t();
            match act {
                Act::Create { size, resume, .. } => {
                    if !resume || self.file.len() != size as usize {
                        self.file = vec![0xff; size as usize];
                    }
                    self.agent.handle(now, Input::PlatformDone(Ok(()))).unwrap();
                }
                Act::Write { offset, data } => {
                    let o = offset as usize;
                    self.file[o..o + data.len()].copy_from_slice(&data);
                    self.agent.handle(now, Input::PlatformDone(Ok(()))).unwrap();
                }
                Act::Read { offset, len } => {
                    let o = offset as usize;
                    let d = self.file[o..o + len as usize].to_vec();
                    self.agent.handle(now, Input::FileData(Ok(&d))).unwrap();
                }
                Act::Close => {
                    self.files_done.push(self.file.clone());
                    self.agent.handle(now, Input::PlatformDone(Ok(()))).unwrap();
                }
                Act::SetState(_) => self.agent.handle(now, Input::PlatformDone(Ok(()))).unwrap(),
                Act::Persist(r) => self.persisted = Some(r),
                Act::ClearResume => self.persisted = None,
                _ => {}
            }
        }
        out
    }

    pub fn input(&mut self, i: Input<'_>) -> Vec<Act> {
        self.agent.handle(self.t(), i).unwrap();
        self.drain()
    }

    pub fn start(&mut self, platform: PlatformImageState) -> Vec<Act> {
        let resume = self.persisted.clone();
        self.agent
            .handle(
                self.t(),
                Input::Start(BootInfo {
                    platform_state: platform,
                    resume: resume.as_deref(),
                }),
            )
            .unwrap();
        self.drain()
    }

    pub fn msg(&mut self, topic: &str, payload: &[u8]) -> Vec<Act> {
        self.input(Input::Message { topic, payload })
    }

    pub fn jobs(&mut self, tail: &str, payload: &[u8]) -> Vec<Act> {
        let t = format!("$aws/things/{THING}/jobs/{tail}");
        self.msg(&t, payload)
    }

    pub fn cmd(&mut self, c: Command) -> Vec<Act> {
        self.input(Input::Command(c))
    }

    pub fn done(&mut self) -> Vec<Act> {
        self.input(Input::PlatformDone(Ok(())))
    }

    /// Advances virtual time to the next deadline and fires it.
    pub fn fire(&mut self) -> Vec<Act> {
        let at = self.agent.poll_timeout().expect("a deadline");
        self.now = self.now.max(at.as_millis());
        self.agent.handle_timeout(self.t());
        self.drain()
    }

    pub fn advance(&mut self, ms: u64) -> Vec<Act> {
        self.now += ms;
        self.agent.handle_timeout(self.t());
        self.drain()
    }

    /// Confirms the last QoS1 status update published in `acts` (echoing its client token).
    pub fn confirm(&mut self, acts: &[Act]) -> Vec<Act> {
        let (topic, token) = acts
            .iter()
            .rev()
            .find_map(|a| match a {
                Act::Pub {
                    topic,
                    payload,
                    qos1: true,
                } if topic.ends_with("/update") => {
                    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
                    Some((
                        topic.clone(),
                        v["clientToken"].as_str().unwrap().to_string(),
                    ))
                }
                _ => None,
            })
            .expect("a QoS1 status update to confirm");
        let body = format!(r#"{{"clientToken":"{token}","timestamp":1}}"#);
        self.msg(&format!("{topic}/accepted"), body.as_bytes())
    }

    pub fn block(&mut self, stream: &str, file_id: u32, i: u32, data: &[u8]) -> Vec<Act> {
        let bs = BS as usize;
        let start = i as usize * bs;
        let end = (start + bs).min(data.len());
        let payload = encode_block(file_id, i, BS, &data[start..end]);
        self.msg(
            &format!("$aws/things/{THING}/streams/{stream}/data/cbor"),
            &payload,
        )
    }
}

pub fn encode_block(file_id: u32, i: u32, l: u32, p: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; p.len() + 64];
    let n = cbor::encode_data_block(
        &DataBlock {
            file_id,
            block_id: i,
            block_size: l,
            payload: p,
        },
        &mut out,
    )
    .unwrap();
    out.truncate(n);
    out
}

/// One file of a job document.
#[derive(Clone)]
pub struct FileSpec {
    pub size: usize,
    pub file_id: u32,
    pub file_type: u32,
    pub sig: Option<String>,
    pub url: Option<String>,
    pub cert: Option<String>,
}

impl FileSpec {
    pub fn signed(data: &[u8]) -> Self {
        Self {
            size: data.len(),
            file_id: 0,
            file_type: 0,
            sig: Some(sign_b64(&signing_key(), data)),
            url: None,
            cert: None,
        }
    }
}

pub fn job_doc(
    job_id: &str,
    protocols: &[&str],
    stream: &str,
    files: &[FileSpec],
    details: Option<&str>,
) -> Vec<u8> {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            let mut o = serde_json::json!({
                "filepath": format!("/fw/{}", f.file_id),
                "filesize": f.size,
                "fileid": f.file_id,
                "fileType": f.file_type,
            });
            if let Some(s) = &f.sig {
                o["sig-sha256-ecdsa"] = s.clone().into();
            }
            if let Some(u) = &f.url {
                o["update_data_url"] = u.clone().into();
                o["auth_scheme"] = "aws.s3.presigned".into();
            }
            if let Some(c) = &f.cert {
                o["certfile"] = c.clone().into();
            }
            o
        })
        .collect();
    let mut ex = serde_json::json!({
        "jobId": job_id,
        "status": if details.is_some() { "IN_PROGRESS" } else { "QUEUED" },
        "queuedAt": 1, "lastUpdatedAt": 1, "versionNumber": 1, "executionNumber": 1,
        "jobDocument": {"afr_ota": {"protocols": protocols, "streamname": stream, "files": files}}
    });
    if stream.is_empty() {
        ex["jobDocument"]["afr_ota"]
            .as_object_mut()
            .unwrap()
            .remove("streamname");
    }
    if let Some(d) = details {
        ex["statusDetails"] = serde_json::from_str(d).unwrap();
    }
    serde_json::to_vec(
        &serde_json::json!({"clientToken": "ota-1", "timestamp": 1, "execution": ex}),
    )
    .unwrap()
}

pub fn no_job() -> Vec<u8> {
    br#"{"clientToken":"ota-1","timestamp":1}"#.to_vec()
}

pub fn notes(acts: &[Act]) -> Vec<String> {
    acts.iter()
        .filter_map(|a| {
            if let Act::Note(n) = a {
                Some(n.clone())
            } else {
                None
            }
        })
        .collect()
}

pub fn pubs<'a>(acts: &'a [Act], suffix: &str) -> Vec<&'a Act> {
    acts.iter().filter(|a| a.is_pub_to(suffix)).collect()
}

/// Decodes the GetStream requests in `acts`: (offset, wanted block ids).
pub fn stream_requests(acts: &[Act]) -> Vec<(u32, Vec<u32>)> {
    acts.iter()
        .filter_map(|a| match a {
            Act::Pub { topic, payload, .. } if topic.ends_with("/get/cbor") => {
                let r = cbor::decode_get_stream_request(payload).unwrap();
                let bits = r.bitmap.unwrap_or(&[]);
                let ids = (0..bits.len() as u32 * 8)
                    .filter(|j| bits[(j / 8) as usize] & (1 << (j % 8)) != 0)
                    .map(|j| r.block_offset + j)
                    .collect();
                Some((r.block_offset, ids))
            }
            _ => None,
        })
        .collect()
}
