//! The end of an update, cut inside every flash operation: the real `ota-core` agent drives the
//! [`Platform`] on one mock NOR chip booted by the simulated A/B bootloader, against a small
//! in-test Jobs + streams service (lossless, in order). A reference run records the flash
//! operations; then the power is cut inside each operation from the last data block's write to
//! the end (journal items, the boot-state writes of `Activate`, of the trial boot and of the
//! commit), keeping nothing, half, or all but the last byte of it, and the device boots again
//! from the chip alone.
//!
//! Every cut must end with the job SUCCEEDED and the new image running committed with no resume
//! record left, except a cut inside the commit's own boot-state write (which decides between the
//! two) and a cut after the trial boot started and before the commit: there the bootloader
//! reverts, and the job ends FAILED "rolled back" with the old image running committed. Never a
//! rollback for a cut before the trial boot, never a stuck device.
#![allow(missing_docs)]

mod support;

use std::collections::VecDeque;

use ota_core::codec::cbor::{self, DataBlock};
use ota_core::codec::json;
use ota_core::verify::{ImageVerifier, VerifyError};
use ota_core::{
    Action, Agent, Buffers, Command, Config, Event, Input, Instant, PlatformImageState, Version,
};
use ota_pal_flash::Outcome;
use ota_pal_flash::mock::{Keep, MockConfig};
use sha2::{Digest, Sha256};
use support::{Rig, SimRig};

const THING: &str = "kw-thing";
const JOB: &str = "AFR_OTA-kw";
const STREAM: &str = "kw-stream";
const BLOCK: u32 = 512;
const OLD: Version = Version::new(1, 0, 0);
const NEW: Version = Version::new(2, 0, 0);

type Chip = SimRig<4, 1024, 1>;

fn rig() -> Chip {
    let rig = Chip::new(
        16 * 1024,
        4 * 1024,
        MockConfig {
            max_programs: 2,
            ..MockConfig::default()
        },
    );
    rig.install(&image(5000, OLD, 1));
    rig
}

/// An image carrying its version in its first 4 bytes.
fn image(len: usize, v: Version, seed: u64) -> Vec<u8> {
    let mut img = support::image(len, seed);
    img[..4].copy_from_slice(&v.to_u32().to_le_bytes());
    img
}

/// Accepts a file whose SHA-256 is the "signature" (the platform is under test, not ECDSA).
#[derive(Default)]
struct DigestVerifier(Sha256);

impl ImageVerifier for DigestVerifier {
    fn begin(&mut self) {
        self.0 = Sha256::new();
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn verify(&mut self, signature: &[u8], _key: Option<&str>) -> Result<(), VerifyError> {
        let digest = std::mem::take(&mut self.0).finalize();
        if digest[..] == *signature {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

/// The Jobs and streams service for one job (state survives the device's power cuts).
struct Cloud {
    image: Vec<u8>,
    sig_b64: String,
    status: String,
    details: Option<String>,
    version: u32,
    history: Vec<String>,
}

type Inbox = VecDeque<(String, Vec<u8>)>;

fn str_field<'a>(o: &json::Object<'a>, key: &str) -> Option<&'a str> {
    o.get(key)?.as_raw_str()?.as_str()
}

impl Cloud {
    fn new(image: Vec<u8>) -> Self {
        let digest = Sha256::digest(&image);
        let mut b64 = [0u8; 64];
        let n = ota_core::codec::base64::encode(&digest, &mut b64).expect("base64");
        Self {
            image,
            sig_b64: String::from_utf8(b64[..n].to_vec()).expect("ascii"),
            status: "QUEUED".into(),
            details: None,
            version: 1,
            history: Vec::new(),
        }
    }

    fn terminal(&self) -> bool {
        !matches!(self.status.as_str(), "QUEUED" | "IN_PROGRESS")
    }

    fn last(&self) -> &str {
        self.history.last().map_or("", String::as_str)
    }

    fn publish(&mut self, topic: &str, payload: &[u8], inbox: &mut Inbox) {
        let jobs = format!("$aws/things/{THING}/jobs/");
        let stream = format!("$aws/things/{THING}/streams/{STREAM}/");
        if let Some(rest) = topic.strip_prefix(&jobs) {
            let doc = json::parse(payload).ok().and_then(|v| v.as_object());
            let Some(doc) = doc else { return };
            let token = str_field(&doc, "clientToken").unwrap_or("");
            if rest == "$next/get" {
                let body = if self.terminal() {
                    format!(r#"{{"clientToken":"{token}","timestamp":1}}"#)
                } else {
                    format!(
                        r#"{{"clientToken":"{token}","timestamp":1,"execution":{}}}"#,
                        self.execution()
                    )
                };
                inbox.push_back((format!("{jobs}$next/get/accepted"), body.into_bytes()));
            } else if rest == format!("{JOB}/update") {
                if self.terminal() {
                    let body = format!(
                        r#"{{"code":"TerminalStateReached","message":"terminal","clientToken":"{token}"}}"#
                    );
                    inbox.push_back((format!("{jobs}{JOB}/update/rejected"), body.into_bytes()));
                    return;
                }
                self.status = str_field(&doc, "status").unwrap_or("").to_string();
                if let Some(d) = doc.get("statusDetails").and_then(|v| v.as_object()) {
                    self.details = Some(String::from_utf8_lossy(d.source()).into_owned());
                }
                self.version += 1;
                self.history.push(format!(
                    "{} {}",
                    self.status,
                    self.details.as_deref().unwrap_or("")
                ));
                let body = format!(r#"{{"clientToken":"{token}","timestamp":1}}"#);
                inbox.push_back((format!("{jobs}{JOB}/update/accepted"), body.into_bytes()));
            }
        } else if topic == format!("{stream}get/cbor") {
            let Ok(req) = cbor::decode_get_stream_request(payload) else {
                return;
            };
            let blocks = (self.image.len() as u32).div_ceil(BLOCK);
            let wanted: Vec<u32> = match req.bitmap {
                Some(b) => (0..b.len() as u32 * 8)
                    .filter(|i| b[(i / 8) as usize] & (1 << (i % 8)) != 0)
                    .map(|i| req.block_offset + i)
                    .collect(),
                None => {
                    (req.block_offset..req.block_offset + req.num_blocks.unwrap_or(1)).collect()
                }
            };
            for i in wanted.into_iter().filter(|i| *i < blocks) {
                let start = (i * BLOCK) as usize;
                let end = (start + BLOCK as usize).min(self.image.len());
                let block = DataBlock {
                    file_id: 0,
                    block_id: i,
                    block_size: (end - start) as u32,
                    payload: &self.image[start..end],
                };
                let mut out = vec![0u8; BLOCK as usize + 64];
                let n = cbor::encode_data_block(&block, &mut out).expect("encode");
                out.truncate(n);
                inbox.push_back((format!("{stream}data/cbor"), out));
            }
        }
    }

    fn execution(&self) -> String {
        let details = self
            .details
            .as_ref()
            .map_or(String::new(), |d| format!(r#","statusDetails":{d}"#));
        format!(
            concat!(
                r#"{{"jobId":"{job}","status":"{status}"{details},"queuedAt":1,"#,
                r#""lastUpdatedAt":1,"versionNumber":{version},"executionNumber":1,"#,
                r#""jobDocument":{{"afr_ota":{{"protocols":["MQTT"],"streamname":"{stream}","#,
                r#""files":[{{"filepath":"/fw/app","filesize":{size},"fileid":0,"fileType":0,"#,
                r#""certfile":"signer.crt","sig-sha256-ecdsa":"{sig}"}}]}}}}}}"#
            ),
            job = JOB,
            status = self.status,
            details = details,
            version = self.version,
            stream = STREAM,
            size = self.image.len(),
            sig = self.sig_b64,
        )
    }
}

/// One executed action: the flash operations before it, its label, the boot it ran in.
#[derive(Debug, Clone)]
struct Step {
    ops_before: u64,
    ops_after: u64,
    bytes_before: u64,
    bytes_after: u64,
    label: String,
    boot: u32,
}

#[derive(Debug, Default)]
struct Run {
    steps: Vec<Step>,
    /// Flash operations and bytes touched when each boot's bootloader had run.
    boot_ops: Vec<(u64, u64)>,
    boots: u32,
    status: String,
    last: String,
    /// After a last, uncut power-on: the running image is the new one, committed, no record.
    new_committed: bool,
    old_committed: bool,
}

enum End {
    Reset,
    PowerLost,
    Idle,
}

fn label(a: &Action<'_>) -> String {
    match a {
        Action::Publish { topic, payload, .. } if topic.ends_with("/update") => {
            format!("Publish update {}", String::from_utf8_lossy(payload))
        }
        Action::Publish { topic, .. } => format!("Publish {topic}"),
        Action::FileWrite { offset, data } => format!("FileWrite {offset}+{}", data.len()),
        Action::FileRead { .. } => "FileRead".into(),
        Action::PersistResume(_) => "PersistResume".into(),
        Action::Notify(e) => format!("Notify {e:?}"),
        other => {
            let s = format!("{other:?}");
            s.split([' ', '(', '{']).next().unwrap_or("").to_string()
        }
    }
}

/// One power-on of the device until it resets, loses power, or has nothing left to do.
fn boot(rig: &Chip, cloud: &mut Cloud, run: &mut Run) -> End {
    run.boots += 1;
    let (running, mut p) = match rig.power_on() {
        Ok(x) => x,
        Err(_) if rig.is_off() => return End::PowerLost,
        Err(e) => panic!("power on: {e}"),
    };
    run.boot_ops.push((rig.ops(), rig.bytes_touched()));
    let version = Version::from_u32(u32::from_le_bytes([
        running[0], running[1], running[2], running[3],
    ]));
    let mut rec = vec![0u8; 1024];
    let info = match p.boot_info(&mut rec) {
        Ok(i) => i,
        Err(_) if rig.is_off() => return End::PowerLost,
        Err(e) => panic!("boot_info: {e}"),
    };
    let mut cfg = Config::new(THING, version);
    cfg.block_size = BLOCK;
    cfg.blocks_per_request = 4;
    cfg.resume_every = 3;
    cfg.status_every = 4;
    cfg.http_enabled = false;
    let (mut block, mut job, mut bitmap) = (vec![0u8; 1024], vec![0u8; 4096], vec![0u8; 16]);
    let buffers = Buffers {
        block: &mut block,
        job: &mut job,
        bitmap: &mut bitmap,
        url: &mut [],
    };
    let mut agent = Agent::new(cfg, buffers, DigestVerifier::default()).expect("agent");
    let mut now = Instant::from_millis(0);
    let mut inbox = Inbox::new();
    let mut commands = VecDeque::new();
    agent.handle(now, Input::Start(info)).expect("start");
    let mut timeouts = 0;
    loop {
        while let Some(a) = agent.poll() {
            let (ops_before, bytes_before) = (rig.ops(), rig.bytes_touched());
            let name = label(&a);
            let mut buf = [0u8; 1024];
            let outcome = p.execute(&a, &mut buf);
            run.steps.push(Step {
                ops_before,
                ops_after: rig.ops(),
                bytes_before,
                bytes_after: rig.bytes_touched(),
                label: name,
                boot: run.boots,
            });
            if rig.is_off() {
                return End::PowerLost;
            }
            match outcome {
                Outcome::NotPlatform => match a {
                    Action::Publish { topic, payload, .. } => {
                        let (t, m) = (topic.to_string(), payload.to_vec());
                        cloud.publish(&t, &m, &mut inbox);
                    }
                    Action::Notify(Event::ReadyToActivate { .. }) => {
                        commands.push_back(Command::Activate);
                    }
                    Action::Notify(Event::StartSelfTest { .. }) => {
                        commands.push_back(Command::Accept);
                    }
                    _ => {}
                },
                Outcome::Reset => return End::Reset,
                o => {
                    if let Some(input) = o.input() {
                        agent.handle(now, input).expect("platform result");
                    }
                }
            }
        }
        now = Instant::from_millis(now.as_millis() + 1);
        if let Some(c) = commands.pop_front() {
            agent.handle(now, Input::Command(c)).expect("command");
        } else if let Some((topic, payload)) = inbox.pop_front() {
            let input = Input::Message {
                topic: &topic,
                payload: &payload,
            };
            agent.handle(now, input).expect("message");
        } else if let Some(t) = agent.poll_timeout().filter(|_| !cloud.terminal()) {
            timeouts += 1;
            assert!(timeouts < 200, "the device is stuck: {}", cloud.last());
            now = now.max(t);
            agent.handle_timeout(now);
        } else {
            return End::Idle;
        }
    }
}

/// The whole update from the factory state, with at most one cut (already armed on `rig`).
fn update(rig: &Chip, new: &[u8]) -> Run {
    let mut cloud = Cloud::new(new.to_vec());
    let mut run = Run::default();
    loop {
        assert!(run.boots < 12, "too many boots: {:#?}", cloud.history);
        if rig.is_off() {
            rig.power_cycle();
        }
        match boot(rig, &mut cloud, &mut run) {
            End::Reset | End::PowerLost => {}
            End::Idle => break,
        }
    }
    run.status = cloud.status.clone();
    run.last = cloud.last().to_string();
    // One more power-on, uncut: what runs, in which state, with which record.
    let (running, mut p) = rig.power_on().expect("final power on");
    let mut rec = vec![0u8; 1024];
    let info = p.boot_info(&mut rec).expect("boot info");
    let valid = info.platform_state == PlatformImageState::Valid && info.resume.is_none();
    run.new_committed = valid && running[..new.len()] == new[..];
    run.old_committed = valid && running[..5000] == image(5000, OLD, 1)[..];
    run
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Succeeded,
    RolledBack,
    Either,
}

fn judge(run: &Run, expect: Expect) -> Result<(), String> {
    let succeeded = run.status == "SUCCEEDED" && run.new_committed;
    let rolled_back =
        run.status == "FAILED" && run.last.contains("rolled back") && run.old_committed;
    let ok = match expect {
        Expect::Succeeded => succeeded,
        Expect::RolledBack => rolled_back,
        Expect::Either => succeeded || rolled_back,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected {expect:?}, ended {} ({}), new committed {}, old committed {}",
            run.status, run.last, run.new_committed, run.old_committed
        ))
    }
}

/// A stretch of the reference run, in flash operations or in bytes touched.
#[derive(Debug)]
struct Window {
    /// Start of the last data block's write.
    first: u64,
    /// End of the reference run.
    end: u64,
    /// The commit's boot-state write.
    commit: (u64, u64),
    /// End of the trial boot's bootloader.
    trial: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Ops,
    Bytes,
}

fn window(reference: &Run, unit: Unit) -> Window {
    let span = |s: &Step| match unit {
        Unit::Ops => (s.ops_before, s.ops_after),
        Unit::Bytes => (s.bytes_before, s.bytes_after),
    };
    let at_boot = |b: (u64, u64)| match unit {
        Unit::Ops => b.0,
        Unit::Bytes => b.1,
    };
    let last_write = reference
        .steps
        .iter()
        .rfind(|s| s.label.starts_with("FileWrite"))
        .expect("a write");
    let commit = reference
        .steps
        .iter()
        .find(|s| s.label == "SetImageState")
        .expect("a commit");
    Window {
        first: span(last_write).0,
        end: reference.steps.last().map_or(0, |s| span(s).1),
        commit: span(commit),
        trial: at_boot(reference.boot_ops[commit.boot as usize - 1]),
    }
}

fn expected(w: &Window, at: u64) -> Expect {
    if at >= w.commit.0 && at < w.commit.1 {
        Expect::Either
    } else if at >= w.trial && at < w.commit.0 {
        Expect::RolledBack
    } else {
        Expect::Succeeded
    }
}

fn reference(new: &[u8]) -> Run {
    let r = rig();
    let run = update(&r, new);
    assert_eq!(judge(&run, Expect::Succeeded), Ok(()));
    assert_eq!(run.boots, 2, "factory boot, then the new image on trial");
    run
}

#[test]
fn cut_inside_every_flash_operation_from_the_last_block_to_the_commit() {
    let new = image(6000, NEW, 2);
    let reference = reference(&new);
    let w = window(&reference, Unit::Ops);
    if std::env::var_os("KILL_WINDOW_LIST").is_some() {
        for s in reference.steps.iter().filter(|s| s.ops_after >= w.first) {
            println!(
                "boot {} ops {}..{} bytes {}..{} {}",
                s.boot, s.ops_before, s.ops_after, s.bytes_before, s.bytes_after, s.label
            );
        }
        println!("boots at (ops, bytes) {:?}", reference.boot_ops);
    }
    let mut failures = Vec::new();
    let mut points = 0;
    let mut outcomes = [0u32; 2];
    for op in w.first..w.end {
        for keep in [Keep::Nothing, Keep::Half, Keep::AllButLast] {
            let r = rig();
            r.cut_at(op, keep);
            let run = update(&r, &new);
            points += 1;
            outcomes[usize::from(run.status != "SUCCEEDED")] += 1;
            if let Err(e) = judge(&run, expected(&w, op)) {
                let at = reference
                    .steps
                    .iter()
                    .find(|s| s.ops_before <= op && op < s.ops_after)
                    .map_or("the bootloader", |s| s.label.as_str());
                failures.push(format!("op {op} ({at}) {keep:?}: {e}"));
            }
        }
    }
    println!(
        "{points} cut points over flash ops {}..{} (commit {:?}): {} SUCCEEDED, {} rolled back",
        w.first, w.end, w.commit, outcomes[0], outcomes[1]
    );
    assert!(
        failures.is_empty(),
        "{} of {points} cuts:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn cut_after_every_third_byte_from_the_last_block_to_the_commit() {
    // Finer than whole operations: after every third byte erased or programmed (every offset
    // in a 4-byte word over three words), inside the last block's write, `Activate` (the
    // slot's last word, the boot-state entry, the journal item that drops the record), the
    // trial boot's boot-state write and the commit's.
    let new = image(6000, NEW, 2);
    let reference = reference(&new);
    let w = window(&reference, Unit::Bytes);
    let mut failures = Vec::new();
    let mut outcomes = [0u32; 2];
    let mut points = 0;
    for n in (w.first..=w.end).step_by(3) {
        points += 1;
        let r = rig();
        r.cut_after_bytes(n);
        let run = update(&r, &new);
        outcomes[usize::from(run.status != "SUCCEEDED")] += 1;
        if let Err(e) = judge(&run, expected(&w, n)) {
            failures.push(format!("byte {n}: {e}"));
        }
    }
    println!(
        "{points} byte cut points over bytes {}..={} (commit {:?}): {} SUCCEEDED, {} rolled back",
        w.first, w.end, w.commit, outcomes[0], outcomes[1]
    );
    assert!(
        failures.is_empty(),
        "{} cuts:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}

/// The ordering inside `Activate`: the boot state is written before the record is dropped, and
/// the record is dropped before the reset, so that a revert before the trial boot's agent runs
/// (an image that dies at once) does not find it and activate the image again.
#[test]
fn activate_drops_the_record_after_the_boot_state_write() {
    let new = image(6000, NEW, 2);
    let reference = reference(&new);
    let activate = reference
        .steps
        .iter()
        .find(|s| s.label == "Activate")
        .expect("activate");
    // A cut at the last operation of `Activate`: the boot state is written already.
    for keep in [Keep::Nothing, Keep::AllButLast] {
        let r = rig();
        r.cut_at(activate.ops_after - 1, keep);
        let run = update(&r, &new);
        assert_eq!(judge(&run, Expect::Succeeded), Ok(()), "{keep:?}");
    }
    // Activate, then the new image dies on its trial boot before its agent starts: the next
    // power-on reverts to the old image.
    let r = rig();
    let mut cloud = Cloud::new(new.clone());
    let mut run = Run::default();
    assert!(matches!(boot(&r, &mut cloud, &mut run), End::Reset));
    {
        let (running, _platform) = r.power_on().expect("trial boot");
        assert!(running[..new.len()] == new[..]);
    }
    {
        let (running, mut p) = r.power_on().expect("reverted boot");
        assert!(running[..5000] == image(5000, OLD, 1)[..], "reverted");
        let mut rec = vec![0u8; 1024];
        let info = p.boot_info(&mut rec).expect("boot info");
        assert_eq!(info.platform_state, PlatformImageState::Valid);
        assert_eq!(info.resume, None, "the record went with the activation");
    }
    // The agent on the old image then concludes "rolled back" (no second activation).
    let mut run = Run::default();
    assert!(matches!(boot(&r, &mut cloud, &mut run), End::Idle));
    assert_eq!(cloud.status, "FAILED");
    assert!(cloud.last().contains("rolled back"), "{}", cloud.last());
    assert!(!run.steps.iter().any(|s| s.label == "Activate"));
}
