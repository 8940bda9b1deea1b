//! The scenarios: whole updates through the real agent against the in-binary cloud.

use crate::cloud::{Cloud, Delivery, Job, Status};
use crate::sim::{Ev, Outage, Stop, World};
use crate::stack::StackMeter;
use ota_core::resume::ResumeRecord;
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{Agent, Buffers, Config, ImageState, PlatformImageState, Version};

/// The image the cloud serves (generated and signed by build.rs).
pub static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/image.bin"));
/// Its `sig-sha256-ecdsa` (base64 of DER).
pub static SIGNATURE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/image.sig"));
/// The code-signing public key (SEC1, uncompressed).
pub static PUBLIC_KEY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/key.pub"));

const THING: &str = "qemu-dev";
const STREAM: &str = "AFR_OTA-qemu";
const JOB: &str = "ota-job-1";
const BLOCK: usize = 1024;

/// Bytes painted below the scenario's stack pointer for measurement.
pub const PAINT: usize = 48 * 1024;

/// A scenario's result: `Err` names the first check that failed.
pub type Outcome = Result<Report, &'static str>;

/// What a passing scenario measured.
pub struct Report {
    /// Deepest agent call (bytes of stack).
    pub peak_stack: usize,
    /// Whether that is only a lower bound.
    pub saturated: bool,
    /// Virtual time at the end (ms).
    pub virtual_ms: u64,
    /// Stream blocks or HTTP ranges the cloud sent.
    pub transfers: u32,
}

/// Checks a condition.
fn check(ok: bool, what: &'static str) -> Result<(), &'static str> {
    if ok { Ok(()) } else { Err(what) }
}

fn signature() -> &'static str {
    core::str::from_utf8(SIGNATURE).unwrap_or("")
}

fn job(delivery: Delivery, tamper_at: Option<usize>) -> Job<'static> {
    Job {
        id: JOB,
        stream: STREAM,
        delivery,
        image: IMAGE,
        signature: signature(),
        tamper_at,
    }
}

/// The agent's caller-owned memory.
pub struct Memory {
    block: [u8; BLOCK],
    job: [u8; 2048],
    bitmap: [u8; 16],
    url: [u8; 256],
}

impl Memory {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Self {
            block: [0; BLOCK],
            job: [0; 2048],
            bitmap: [0; 16],
            url: [0; 256],
        }
    }
}

/// The agent type used here.
pub type SimAgent<'a> = Agent<'a, P256Verifier<'a>>;

fn config(version: Version) -> Config<'static> {
    let mut c = Config::new(THING, version);
    c.block_size = BLOCK as u32;
    c.blocks_per_request = 8;
    c.http_blocks_per_request = 8;
    c.status_every = 16;
    c.resume_every = 4;
    c
}

fn agent<'a>(mem: &'a mut Memory, keys: &'a [TrustedKey<'a>], version: Version) -> SimAgent<'a> {
    let buffers = Buffers {
        block: &mut mem.block,
        job: &mut mem.job,
        bitmap: &mut mem.bitmap,
        url: &mut mem.url,
    };
    // The configuration and buffers above are valid; a refusal is a bug in this harness.
    match Agent::new(config(version), buffers, P256Verifier::new(keys)) {
        Ok(a) => a,
        Err(e) => panic!("agent config: {e}"),
    }
}

fn keys() -> Result<[TrustedKey<'static>; 1], &'static str> {
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(PUBLIC_KEY).map_err(|_| "public key")?;
    Ok([TrustedKey { name: None, key }])
}

/// Removes consecutive repeats (progress statuses).
fn squeeze(s: &[Status], out: &mut [Status; 16]) -> usize {
    let mut n = 0;
    for &x in s {
        if n > 0 && out[n - 1] == x {
            continue;
        }
        if n == out.len() {
            break;
        }
        out[n] = x;
        n += 1;
    }
    n
}

fn statuses_are(w: &World<'_>, expected: &[Status]) -> bool {
    let mut buf = [Status::Other; 16];
    let n = squeeze(w.cloud.statuses(), &mut buf);
    &buf[..n] == expected
}

fn report(w: &World<'_>) -> Report {
    Report {
        peak_stack: w.meter.peak(),
        saturated: w.meter.saturated(),
        virtual_ms: w.now,
        transfers: w.cloud.blocks_sent + w.cloud.http_requests,
    }
}

fn sim_err(_: crate::sim::SimError) -> &'static str {
    "harness: usage error or step limit"
}

/// Download with v1.0.0, activate, reboot into v1.0.1 on trial, self-test, accept.
fn download_and_activate(w: &mut World<'_>, mem: &mut Memory) -> Result<(), &'static str> {
    let keys = keys()?;
    let mut a = agent(mem, &keys, Version::new(1, 0, 0));
    w.start(&mut a, PlatformImageState::Valid, None)
        .map_err(sim_err)?;
    let stop = w.run(&mut a, &|_| false).map_err(sim_err)?;
    check(stop == Stop::Activated, "the new image is activated")?;
    check(
        w.flash.file() == IMAGE,
        "the slot holds the image, byte for byte",
    )?;
    check(
        a.statistics().processed as usize == IMAGE.len().div_ceil(BLOCK),
        "every block processed once",
    )?;
    Ok(())
}

fn reboot_and_self_test(
    w: &mut World<'_>,
    mem: &mut Memory,
    passes: bool,
) -> Result<Stop, &'static str> {
    let keys = keys()?;
    let mut a = agent(mem, &keys, Version::new(1, 0, 1));
    w.app.self_test_passes = passes;
    w.start(&mut a, PlatformImageState::PendingCommit, None)
        .map_err(sim_err)?;
    let stop = w.run(&mut a, &|_| false).map_err(sim_err)?;
    if passes {
        check(
            a.image_state() == ImageState::Accepted,
            "agent reports the image accepted",
        )?;
    }
    Ok(stop)
}

/// A frame of known size: checks the meter before trusting its figures.
#[inline(never)]
fn known_frame() -> u32 {
    let mut a = [0u32; 512];
    for (i, x) in a.iter_mut().enumerate() {
        // SAFETY: a valid, aligned, exclusive reference; volatile keeps the array in memory.
        unsafe { core::ptr::write_volatile(x, i as u32) };
    }
    // SAFETY: as above, a read.
    a.iter()
        .map(|x| unsafe { core::ptr::read_volatile(x) })
        .sum()
}

/// The stack meter sees a 2 KiB frame, and a shallow call as shallow.
pub fn stack_meter_measures_a_known_frame(mut meter: StackMeter) -> Outcome {
    let sum = meter.measure(known_frame);
    check(sum == 511 * 512 / 2, "the frame ran")?;
    let deep = meter.peak();
    check(
        (2048..2048 + 512).contains(&deep),
        "a 2 KiB frame measures 2-2.5 KiB",
    )?;
    let mut meter2 = StackMeter::new(PAINT);
    meter2.measure(|| core::hint::black_box(1u32) + 1);
    check(meter2.peak() < 256, "a leaf call measures under 256 B")?;
    Ok(Report {
        peak_stack: deep,
        saturated: meter.saturated(),
        virtual_ms: 0,
        transfers: 0,
    })
}

/// The whole MQTT update: job, stream, verify, activate, self-test, accept, SUCCEEDED.
pub fn mqtt_update_is_committed(meter: StackMeter) -> Outcome {
    let mut w = World::new(Cloud::new(THING, job(Delivery::Mqtt, None)), meter);
    let mut mem = Memory::new();
    download_and_activate(&mut w, &mut mem)?;
    let stop = reboot_and_self_test(&mut w, &mut mem, true)?;
    check(stop == Stop::Idle, "idle after the update")?;
    check(
        w.boot.image_state == Some(ImageState::Accepted),
        "platform commit",
    )?;
    check(
        statuses_are(
            &w,
            &[
                Status::InProgress,
                Status::SelfTestReady,
                Status::SelfTestActive,
                Status::Succeeded,
            ],
        ),
        "status sequence IN_PROGRESS, self_test ready, self_test active, SUCCEEDED",
    )?;
    check(
        w.app.events()
            == [
                Ev::ReceivedJob(false),
                Ev::ReadyToActivate,
                Ev::StartSelfTest,
                Ev::Accepted,
                Ev::JobFinished(true),
                Ev::NoActiveJob,
            ],
        "application events",
    )?;
    check(
        w.cloud.malformed == 0 && w.cloud.outbox.overflow == 0,
        "clean exchange",
    )?;
    check(w.app.progress > 0, "progress events")?;
    Ok(report(&w))
}

/// 15 % of blocks lost and a link outage mid-download: retries and resume, same image.
pub fn lossy_stream_and_outage_still_update(meter: StackMeter) -> Outcome {
    let mut w = World::new(Cloud::new(THING, job(Delivery::Mqtt, None)), meter);
    w.cloud.loss_percent = 15;
    w.outage = Some(Outage {
        after_blocks: 20,
        millis: 5_000,
    });
    let mut mem = Memory::new();
    download_and_activate(&mut w, &mut mem)?;
    check(w.outages == 1, "the outage happened")?;
    check(
        w.now >= 10_000,
        "lost blocks cost request timeouts (virtual time)",
    )?;
    check(
        w.cloud.stream_requests > 7,
        "lost blocks were asked for again",
    )?;
    let stop = reboot_and_self_test(&mut w, &mut mem, true)?;
    check(stop == Stop::Idle, "idle after the update")?;
    check(
        w.cloud.statuses().last() == Some(&Status::Succeeded),
        "SUCCEEDED reported",
    )?;
    Ok(report(&w))
}

/// Power cut mid-download: the rebooted agent resumes from the persisted record and asks
/// only for the blocks it lacks.
pub fn power_cut_resumes_from_the_record(meter: StackMeter) -> Outcome {
    let mut w = World::new(Cloud::new(THING, job(Delivery::Mqtt, None)), meter);
    let mut mem = Memory::new();
    let keys = keys()?;
    {
        let mut a = agent(&mut mem, &keys, Version::new(1, 0, 0));
        w.start(&mut a, PlatformImageState::Valid, None)
            .map_err(sim_err)?;
        let stop = w
            .run(&mut a, &|w| w.cloud.blocks_sent >= 21)
            .map_err(sim_err)?;
        check(stop == Stop::Condition, "cut after 21 blocks")?;
    }
    // The power is cut: messages in flight are lost, flash and the record survive.
    w.cloud.outbox.clear();
    let mut record = [0u8; crate::sim::RESUME_CAP];
    let n = w
        .boot
        .resume()
        .map(|r| r.len())
        .ok_or("a resume record was persisted")?;
    record[..n].copy_from_slice(w.boot.resume.get(..n).ok_or("record")?);
    let rec = ResumeRecord::decode(&record[..n]).ok_or("the record decodes")?;
    let total = IMAGE.len().div_ceil(BLOCK) as u32;
    let missing = (0..total)
        .filter(|&b| {
            rec.bitmap
                .get((b / 8) as usize)
                .is_some_and(|x| x & (1 << (b % 8)) != 0)
        })
        .count() as u32;
    // 21 blocks were sent; up to two windows (8 each, request ahead) may still have been in
    // flight and the record lags by up to `resume_every` (4): at least 8 are kept.
    check(total - missing >= 8, "the record keeps the stored blocks")?;
    let sent_before = w.cloud.blocks_sent;
    {
        let mut a = agent(&mut mem, &keys, Version::new(1, 0, 0));
        w.start(&mut a, PlatformImageState::Valid, Some(&record[..n]))
            .map_err(sim_err)?;
        let stop = w.run(&mut a, &|_| false).map_err(sim_err)?;
        check(stop == Stop::Activated, "the resumed download completes")?;
    }
    check(
        w.flash.file() == IMAGE,
        "the slot holds the image, byte for byte",
    )?;
    check(
        w.cloud.blocks_sent - sent_before == missing,
        "only the missing blocks were fetched again",
    )?;
    check(
        w.app.events().contains(&Ev::ReceivedJob(true)),
        "the job is announced as resumed",
    )?;
    Ok(report(&w))
}

/// HTTP delivery: multi-block ranges, odd body chunks, same image, then commit.
pub fn http_ranges_update(meter: StackMeter) -> Outcome {
    let mut w = World::new(Cloud::new(THING, job(Delivery::Http, None)), meter);
    let mut mem = Memory::new();
    download_and_activate(&mut w, &mut mem)?;
    check(w.cloud.http_requests == 7, "50 blocks in 7 ranges of 8")?;
    check(w.cloud.blocks_sent == 0, "nothing streamed over MQTT")?;
    let stop = reboot_and_self_test(&mut w, &mut mem, true)?;
    check(stop == Stop::Idle, "idle after the update")?;
    check(
        statuses_are(
            &w,
            &[
                Status::InProgress,
                Status::SelfTestReady,
                Status::SelfTestActive,
                Status::Succeeded,
            ],
        ),
        "status sequence",
    )?;
    Ok(report(&w))
}

/// A corrupted image fails the signature check: FAILED, no activation, agent still serving.
pub fn tampered_image_is_refused(meter: StackMeter) -> Outcome {
    let mut w = World::new(
        Cloud::new(THING, job(Delivery::Mqtt, Some(IMAGE.len() / 2))),
        meter,
    );
    let mut mem = Memory::new();
    let keys = keys()?;
    let mut a = agent(&mut mem, &keys, Version::new(1, 0, 0));
    w.start(&mut a, PlatformImageState::Valid, None)
        .map_err(sim_err)?;
    let stop = w.run(&mut a, &|_| false).map_err(sim_err)?;
    check(stop == Stop::Idle, "no activation")?;
    check(
        statuses_are(&w, &[Status::InProgress, Status::Failed]),
        "status sequence IN_PROGRESS, FAILED",
    )?;
    check(
        w.app.events()
            == [
                Ev::ReceivedJob(false),
                Ev::Failed,
                Ev::JobFinished(false),
                Ev::NoActiveJob,
            ],
        "application events",
    )?;
    check(w.flash.file() != IMAGE, "the slot holds the corrupted copy")?;
    Ok(report(&w))
}

/// The new image fails its self-test: FAILED is confirmed, then the device resets (rollback).
pub fn failed_self_test_rolls_back(meter: StackMeter) -> Outcome {
    let mut w = World::new(Cloud::new(THING, job(Delivery::Mqtt, None)), meter);
    let mut mem = Memory::new();
    download_and_activate(&mut w, &mut mem)?;
    let stop = reboot_and_self_test(&mut w, &mut mem, false)?;
    check(stop == Stop::Reset, "reset to roll back")?;
    check(
        w.boot.image_state == Some(ImageState::Rejected),
        "image marked rejected",
    )?;
    check(
        statuses_are(
            &w,
            &[
                Status::InProgress,
                Status::SelfTestReady,
                Status::SelfTestActive,
                Status::Failed,
            ],
        ),
        "status sequence ends FAILED",
    )?;
    Ok(report(&w))
}
