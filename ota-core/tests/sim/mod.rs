//! Deterministic whole-system simulation: the `ota-core` agent on a device with RAM flash and a
//! simulated A/B bootloader, the `ota-cloud` model of AWS (Jobs, streams, presigned HTTP), a
//! seeded link that drops, duplicates, reorders and disconnects, power cuts, and a virtual clock.
#![allow(dead_code, unreachable_pub, missing_docs)]

use ota_cloud::{
    Cloud, CloudConfig, OtaFile, OtaJobBuilder, Protocol as CloudProtocol, SigningKey,
};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

pub const THING: &str = "sim-thing";
pub const JOB: &str = "AFR_OTA-sim";
pub const STREAM: &str = "AFR_OTA-stream";

/// What a simulation run does.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub image_size: usize,
    pub block_size: u32,
    pub blocks_per_request: u32,
    pub http: bool,
    /// Probability that a message (either way) is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Latency range in ms (random per message: reorders).
    pub latency: (u64, u64),
    /// Mean time between link drops (ms); 0 = never.
    pub disconnect_every: u64,
    /// Power cuts right after these block writes (counted over the whole run, from 1).
    pub power_cuts: Vec<u32>,
    /// Power cuts right after the n-th action the device executed (counted over the whole run,
    /// from 1): the action took effect (flash written, message handed to the link, its result
    /// fed back to the agent), nothing after it did (the rest of that drain, later inputs).
    pub cut_after_actions: Vec<u64>,
    /// The platform drops the resume record when `Activate` writes the boot state, as
    /// `ota-pal-flash` does (otherwise only the agent's own `ClearResume` drops it).
    pub activate_clears_record: bool,
    /// Keep a one-line label of every executed action in [`Outcome::actions`].
    pub record_actions: bool,
    /// Probability that an HTTP body is cut short.
    pub http_fail: f64,
    /// Give up after this much simulated time.
    pub max_time: u64,
    /// Print every message.
    pub verbose: bool,
}

impl SimConfig {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            image_size: 24 * 1024 + 123,
            block_size: 1024,
            blocks_per_request: 8,
            http: false,
            loss: 0.05,
            duplicate: 0.05,
            latency: (1, 40),
            disconnect_every: 20_000,
            power_cuts: Vec::new(),
            cut_after_actions: Vec::new(),
            activate_clears_record: true,
            record_actions: false,
            http_fail: 0.05,
            max_time: 3_600_000,
            verbose: false,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub final_status: Option<String>,
    pub status_history: Vec<String>,
    pub image_ok: bool,
    pub running_version: Version,
    pub sim_time_ms: u64,
    /// Block-sized writes that hit a block already written durably before (after power cuts).
    pub blocks_refetched: u32,
    pub block_writes: u32,
    pub boots: u32,
    pub messages: u64,
    pub transcript: Vec<String>,
    pub stats: Statistics,
    /// Actions the device executed, over the whole run.
    pub action_count: u64,
    /// Their labels (with [`SimConfig::record_actions`]), `actions[i]` is action `i + 1`.
    pub actions: Vec<String>,
}

/// A one-line label of an action: its kind, and for a status update its status and details.
fn action_label(a: &Action<'_>) -> String {
    match a {
        Action::Publish { topic, payload, .. } => {
            let short = topic.rsplit_once(THING).map_or(*topic, |(_, r)| r);
            format!("Publish {short} {}", String::from_utf8_lossy(payload))
        }
        Action::Subscribe { topic, .. } => format!("Subscribe {topic}"),
        Action::Unsubscribe { topic } => format!("Unsubscribe {topic}"),
        Action::FileWrite { offset, data } => format!("FileWrite {offset}+{}", data.len()),
        Action::FileRead { offset, len } => format!("FileRead {offset}+{len}"),
        Action::PersistResume(_) => "PersistResume".into(),
        Action::Notify(e) => format!("Notify {e:?}"),
        other => {
            let s = format!("{other:?}");
            s.split([' ', '(', '{']).next().unwrap_or("").to_string()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    ToDevice {
        topic: String,
        payload: Vec<u8>,
        epoch: u32,
    },
    ToCloud {
        topic: String,
        payload: Vec<u8>,
        epoch: u32,
    },
    HttpHead {
        req: u32,
        status: u16,
        range: Option<(u32, u32, u32)>,
    },
    HttpBody {
        req: u32,
        data: Vec<u8>,
    },
    HttpEnd {
        req: u32,
        ok: bool,
    },
    LinkDown,
    LinkUp,
    PowerCut,
}

type Verifier = P256Verifier<'static>;

struct Device {
    agent: Agent<'static, Verifier>,
    slot: Vec<u8>,
    /// Blocks written durably (by offset / block size) since the last erase.
    durable: BTreeMap<u32, u32>,
    written_before_cut: BTreeMap<u32, u32>,
    persisted: Option<Vec<u8>>,
    running: Vec<u8>,
    running_version: Version,
    pending: Option<(Vec<u8>, Version)>,
    committed: bool,
    subs: Vec<String>,
    link: bool,
    epoch: u32,
    http_req: u32,
}

fn leak(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

fn filter_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

pub struct Sim {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    cloud: Cloud,
    dev: Device,
    keys: &'static [TrustedKey<'static>],
    image: Vec<u8>,
    new_version: Version,
    last_to_cloud: u64,
    out: Outcome,
}

fn version_of(image: &[u8]) -> Version {
    // The simulated image carries its version in its first 4 bytes.
    Version::from_u32(u32::from_le_bytes([image[0], image[1], image[2], image[3]]))
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let signer = SigningKey::from_seed(cfg.seed ^ 0x5eed);
        let key =
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&signer.verifying_key().to_sec1_bytes())
                .unwrap();
        let keys: &'static [TrustedKey<'static>] =
            Box::leak(Box::new([TrustedKey { name: None, key }]));
        let new_version = Version::new(2, 0, 0);
        let mut image: Vec<u8> = (0..cfg.image_size).map(|_| rng.r#gen()).collect();
        image[..4].copy_from_slice(&new_version.to_u32().to_le_bytes());

        let mut cloud = Cloud::new(CloudConfig {
            seed: cfg.seed,
            ..CloudConfig::default()
        });
        let mut file = OtaFile::signed(0, &image, &signer)
            .file_path("/fw/app")
            .cert_file("signer.crt");
        let mut job = OtaJobBuilder::new();
        if cfg.http {
            cloud.put_object("fw.bin", image.clone());
            file = file.http_key("fw.bin");
            job = job.protocols(&[CloudProtocol::Http]);
        } else {
            cloud
                .create_stream(STREAM, vec![(0, image.clone())])
                .unwrap();
            job = job.protocols(&[CloudProtocol::Mqtt]).stream_name(STREAM);
        }
        let doc = job.file(file).build();
        cloud.create_job(0, JOB, [THING], doc).unwrap();
        let _ = cloud.drain(); // the device is not connected yet: notify-next is lost

        let factory = vec![0x11u8; 64];
        let dev = Device {
            agent: Self::boot_agent(&cfg, keys, Version::new(1, 0, 0)),
            slot: Vec::new(),
            durable: BTreeMap::new(),
            written_before_cut: BTreeMap::new(),
            persisted: None,
            running: factory,
            running_version: Version::new(1, 0, 0),
            pending: None,
            committed: true,
            subs: Vec::new(),
            link: true,
            epoch: 0,
            http_req: 0,
        };
        let mut sim = Self {
            cfg,
            rng,
            now: 0,
            seq: 0,
            events: BinaryHeap::new(),
            cloud,
            dev,
            keys,
            image,
            new_version,
            last_to_cloud: 0,
            out: Outcome::default(),
        };
        if sim.cfg.disconnect_every > 0 {
            let t = sim.rng.gen_range(1..sim.cfg.disconnect_every * 2);
            sim.at(t, Ev::LinkDown);
        }
        sim
    }

    fn boot_agent(
        cfg: &SimConfig,
        keys: &'static [TrustedKey<'static>],
        version: Version,
    ) -> Agent<'static, Verifier> {
        let mut c = Config::new(THING, version);
        c.block_size = cfg.block_size;
        c.blocks_per_request = cfg.blocks_per_request;
        c.request_timeout = Duration::from_secs(2);
        c.max_backoff = Duration::from_secs(16);
        c.max_retries = 50;
        c.resume_every = 4;
        c.status_every = 8;
        c.self_test_timeout = Duration::from_secs(300);
        let buffers = Buffers {
            block: leak(2048.max(cfg.block_size as usize)),
            job: leak(8192),
            bitmap: leak(256),
            url: leak(2048),
        };
        Agent::new(c, buffers, P256Verifier::new(keys)).unwrap()
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((t, self.seq, ev)));
    }

    fn log(&mut self, s: String) {
        if self.cfg.verbose {
            println!("{:>9.3}s {s}", self.now as f64 / 1000.0);
        }
        self.out
            .transcript
            .push(format!("{:>9.3}s {s}", self.now as f64 / 1000.0));
    }

    fn latency(&mut self) -> u64 {
        self.rng.gen_range(self.cfg.latency.0..=self.cfg.latency.1)
    }

    fn send(&mut self, to_device: bool, topic: String, payload: Vec<u8>) {
        self.out.messages += 1;
        if self.rng.gen_bool(self.cfg.loss) {
            return;
        }
        let copies = if self.rng.gen_bool(self.cfg.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut t = self.now + self.latency();
            if !to_device {
                // Device to cloud is one MQTT connection over TCP: order is kept (the broker and
                // the service may still reorder what they send to the device).
                t = t.max(self.last_to_cloud);
                self.last_to_cloud = t;
            }
            let epoch = self.dev.epoch;
            let ev = if to_device {
                Ev::ToDevice {
                    topic: topic.clone(),
                    payload: payload.clone(),
                    epoch,
                }
            } else {
                Ev::ToCloud {
                    topic: topic.clone(),
                    payload: payload.clone(),
                    epoch,
                }
            };
            self.at(t, ev);
        }
    }

    fn start_device(&mut self) {
        let platform = if self.dev.committed {
            PlatformImageState::Valid
        } else {
            PlatformImageState::PendingCommit
        };
        self.out.boots += 1;
        let rec = self.dev.persisted.clone();
        let now = Instant::from_millis(self.now);
        self.dev.subs.clear();
        self.dev
            .agent
            .handle(
                now,
                Input::Start(BootInfo {
                    platform_state: platform,
                    resume: rec.as_deref(),
                }),
            )
            .unwrap();
        self.drain();
    }

    /// Executes the agent's actions; platform actions are answered at once (RAM flash).
    fn drain(&mut self) {
        let now = Instant::from_millis(self.now);
        while let Some(a) = self.dev.agent.poll() {
            self.out.action_count += 1;
            let cut_here = self.cfg.cut_after_actions.contains(&self.out.action_count);
            if self.cfg.record_actions {
                self.out.actions.push(action_label(&a));
            }
            match a {
                Action::Subscribe { topic, .. } => {
                    let t = topic.to_string();
                    if !self.dev.subs.contains(&t) {
                        self.dev.subs.push(t);
                    }
                }
                Action::Unsubscribe { topic } => {
                    let t = topic.to_string();
                    self.dev.subs.retain(|s| *s != t);
                }
                Action::Publish { topic, payload, .. } => {
                    let (t, p) = (topic.to_string(), payload.to_vec());
                    if t.ends_with("/update") || t.ends_with("$next/get") {
                        self.log(format!("dev -> {t} {}", String::from_utf8_lossy(&p)));
                    }
                    if self.dev.link {
                        self.send(false, t, p);
                    }
                }
                Action::HttpGet { url, first, last } => {
                    let url = url.to_string();
                    self.dev.http_req += 1;
                    let req = self.dev.http_req;
                    self.http(req, &url, first, last);
                }
                Action::HttpCancel => {
                    self.dev.http_req += 1; // later events of the old request are stale
                }
                Action::FileCreate(f) => {
                    let r = if f.size as usize > 1 << 20 {
                        Err(PalError::TooLarge)
                    } else {
                        if !f.resume {
                            self.dev.slot = vec![0xff; f.size as usize];
                            self.dev.durable.clear();
                        } else if self.dev.slot.len() != f.size as usize {
                            self.dev.slot = vec![0xff; f.size as usize];
                        }
                        Ok(())
                    };
                    self.dev.agent.handle(now, Input::PlatformDone(r)).unwrap();
                }
                Action::FileWrite { offset, data } => {
                    let o = offset as usize;
                    self.dev.slot[o..o + data.len()].copy_from_slice(data);
                    let bs = self.cfg.block_size;
                    let first = offset / bs;
                    let last = (offset + data.len() as u32 - 1) / bs;
                    for b in first..=last {
                        *self.dev.durable.entry(b).or_default() += 1;
                        self.out.block_writes += 1;
                        if self.dev.written_before_cut.contains_key(&b) && self.dev.durable[&b] == 1
                        {
                            self.out.blocks_refetched += 1;
                        }
                    }
                    self.dev
                        .agent
                        .handle(now, Input::PlatformDone(Ok(())))
                        .unwrap();
                    if self.cfg.power_cuts.contains(&self.out.block_writes) {
                        self.at(self.now, Ev::PowerCut);
                    }
                }
                Action::FileRead { offset, len } => {
                    let o = offset as usize;
                    let d = self.dev.slot[o..o + len as usize].to_vec();
                    self.dev.agent.handle(now, Input::FileData(Ok(&d))).unwrap();
                }
                Action::FileClose => self
                    .dev
                    .agent
                    .handle(now, Input::PlatformDone(Ok(())))
                    .unwrap(),
                Action::FileAbort => {}
                Action::PersistResume(r) => self.dev.persisted = Some(r.to_vec()),
                Action::ClearResume => self.dev.persisted = None,
                Action::SetImageState(s) => {
                    match s {
                        ImageState::Accepted => self.dev.committed = true,
                        ImageState::Rejected => {}
                        _ => {}
                    }
                    self.dev
                        .agent
                        .handle(now, Input::PlatformDone(Ok(())))
                        .unwrap();
                }
                Action::Activate => {
                    self.log("dev: activate, reboot".into());
                    let v = version_of(&self.dev.slot);
                    self.dev.pending = Some((self.dev.slot.clone(), v));
                    if self.cfg.activate_clears_record {
                        self.dev.persisted = None;
                    }
                    self.reboot(true);
                    return;
                }
                Action::Reset => {
                    self.log("dev: reset".into());
                    self.reboot(false);
                    return;
                }
                Action::Notify(e) => {
                    let s = format!("{e:?}");
                    let progress = matches!(e, Event::Progress { .. });
                    let answer = match e {
                        Event::ReadyToActivate { .. } => Some(Command::Activate),
                        Event::StartSelfTest { .. } => Some(Command::Accept),
                        _ => None,
                    };
                    if !progress {
                        self.log(format!("app <- {s}"));
                    }
                    if let Some(c) = answer {
                        self.dev.agent.handle(now, Input::Command(c)).unwrap();
                    }
                }
                _ => {}
            }
            if cut_here {
                self.power_cut();
                return;
            }
        }
    }

    /// Power off and on: everything not persisted is lost; flash keeps what was written.
    fn power_cut(&mut self) {
        self.log("POWER CUT".into());
        for (b, _) in std::mem::take(&mut self.dev.durable) {
            *self.dev.written_before_cut.entry(b).or_default() += 1;
        }
        self.reboot(false);
    }

    /// A reboot: the agent is rebuilt from persisted state only.
    fn reboot(&mut self, activate: bool) {
        self.dev.epoch += 1;
        self.dev.http_req += 1;
        if activate {
            if let Some((img, v)) = self.dev.pending.take() {
                self.dev.running = img;
                self.dev.running_version = v;
                self.dev.committed = false;
            }
        } else if !self.dev.committed {
            // Not committed: the bootloader reverts.
            self.dev.running_version = Version::new(1, 0, 0);
            self.dev.committed = true;
        }
        self.dev.agent = Self::boot_agent(&self.cfg, self.keys, self.dev.running_version);
        self.start_device();
    }

    fn http(&mut self, req: u32, url: &str, first: u32, last: u32) {
        let target = url
            .splitn(4, '/')
            .nth(3)
            .map(|p| format!("/{p}"))
            .unwrap_or_default();
        let range = format!("bytes={first}-{last}");
        let reply = self.cloud.http_get(self.now, &target, Some(&range));
        let mut t = self.now + self.latency();
        let cr = reply
            .header("Content-Range")
            .and_then(|v| ota_core::codec::http::parse_content_range(v.as_bytes()).ok());
        self.at(
            t,
            Ev::HttpHead {
                req,
                status: reply.status,
                range: cr.map(|c| (c.first, c.last, c.complete.unwrap_or(0))),
            },
        );
        if !(200..300).contains(&reply.status) {
            self.at(t, Ev::HttpEnd { req, ok: true });
            return;
        }
        let fail_at = if self.rng.gen_bool(self.cfg.http_fail) {
            Some(self.rng.gen_range(0..reply.body.len().max(1)))
        } else {
            None
        };
        let mut pos = 0;
        let max = self.dev.agent.max_body_chunk();
        while pos < reply.body.len() {
            if fail_at.is_some_and(|f| pos >= f) {
                self.at(t, Ev::HttpEnd { req, ok: false });
                return;
            }
            let n = self.rng.gen_range(1..=max).min(reply.body.len() - pos);
            t += 1;
            self.at(
                t,
                Ev::HttpBody {
                    req,
                    data: reply.body[pos..pos + n].to_vec(),
                },
            );
            pos += n;
        }
        self.at(t + 1, Ev::HttpEnd { req, ok: true });
    }

    pub fn run(mut self) -> Outcome {
        self.start_device();
        loop {
            let next_ev = self.events.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self.dev.agent.poll_timeout().map(|i| i.as_millis());
            let t = match (next_ev, next_timer) {
                (None, None) => break,
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
            };
            if t > self.cfg.max_time {
                break;
            }
            self.now = self.now.max(t);
            if next_timer.is_some_and(|b| b <= t) {
                self.dev
                    .agent
                    .handle_timeout(Instant::from_millis(self.now));
                self.drain();
                continue;
            }
            let Some(Reverse((_, _, ev))) = self.events.pop() else {
                break;
            };
            self.event(ev);
            if self.done() {
                break;
            }
        }
        self.finish()
    }

    fn done(&self) -> bool {
        self.cloud
            .execution_status(THING, JOB)
            .is_some_and(|s| s.is_terminal())
            && self.dev.agent.poll_timeout().is_none()
    }

    fn event(&mut self, ev: Ev) {
        let now = Instant::from_millis(self.now);
        match ev {
            Ev::ToCloud { topic, payload, .. } => {
                self.cloud.handle_publish(self.now, &topic, &payload);
                for m in self.cloud.drain() {
                    self.send(true, m.topic, m.payload);
                }
            }
            Ev::ToDevice {
                topic,
                payload,
                epoch,
            } => {
                if epoch != self.dev.epoch
                    || !self.dev.link
                    || !self.dev.subs.iter().any(|f| filter_matches(f, &topic))
                {
                    return;
                }
                self.dev
                    .agent
                    .handle(
                        now,
                        Input::Message {
                            topic: &topic,
                            payload: &payload,
                        },
                    )
                    .unwrap();
                self.drain();
            }
            Ev::HttpHead { req, status, range } => {
                if req != self.dev.http_req {
                    return;
                }
                let content_range =
                    range.map(|(first, last, c)| ota_core::codec::http::ContentRange {
                        first,
                        last,
                        complete: Some(c),
                    });
                self.dev
                    .agent
                    .handle(
                        now,
                        Input::HttpResponse {
                            status,
                            content_range,
                        },
                    )
                    .unwrap();
                self.drain();
            }
            Ev::HttpBody { req, data } => {
                if req != self.dev.http_req {
                    return;
                }
                self.dev.agent.handle(now, Input::HttpBody(&data)).unwrap();
                self.drain();
            }
            Ev::HttpEnd { req, ok } => {
                if req != self.dev.http_req {
                    return;
                }
                self.dev
                    .agent
                    .handle(
                        now,
                        if ok {
                            Input::HttpDone
                        } else {
                            Input::HttpFailed
                        },
                    )
                    .unwrap();
                self.drain();
            }
            Ev::LinkDown => {
                self.log("link down".into());
                self.dev.link = false;
                self.dev.epoch += 1;
                self.dev.subs.clear(); // a clean session on reconnect
                self.dev.agent.handle(now, Input::Link(false)).unwrap();
                self.drain();
                let d = self.rng.gen_range(100..5_000);
                self.at(self.now + d, Ev::LinkUp);
            }
            Ev::LinkUp => {
                self.log("link up".into());
                self.dev.link = true;
                self.dev.agent.handle(now, Input::Link(true)).unwrap();
                self.drain();
                if self.cfg.disconnect_every > 0 {
                    let d = self.rng.gen_range(1..self.cfg.disconnect_every * 2);
                    self.at(self.now + d, Ev::LinkDown);
                }
            }
            Ev::PowerCut => self.power_cut(),
        }
    }

    fn finish(mut self) -> Outcome {
        let ex = self.cloud.execution(THING, JOB);
        self.out.final_status = ex.map(|e| e.status.as_str().to_string());
        self.out.status_history = self
            .cloud
            .execution_history(THING, JOB)
            .iter()
            .map(|r| format!("{} {:?}", r.status.as_str(), r.status_details))
            .collect();
        self.out.image_ok = self.dev.running == self.image && self.dev.committed;
        self.out.running_version = self.dev.running_version;
        self.out.sim_time_ms = self.now;
        self.out.stats = self.dev.agent.statistics();
        let _ = self.new_version;
        self.out
    }
}
