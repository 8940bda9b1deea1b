//! The device model of the `agent` target: a RAM flash, a bootloader state, a resume-record
//! store, an MQTT/HTTP peer that can answer plausibly (from what the agent asked for) or not,
//! and a clock. [`run`] applies an [`AgentInput`] to an [`Agent`] and checks the agent's
//! invariants after every operation (see the crate README for the list).

use crate::input::*;
use ota_core::codec::cbor::{self, DataBlock};
use ota_core::codec::http::ContentRange;
use ota_core::codec::json;
use ota_core::resume::{self, ResumeRecord};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{
    Action, Agent, BootInfo, Buffers, Command, Config, Duration, Event, ImageState, Input, Instant,
    PalError, PlatformImageState, Protocol, State, Statistics, UsageError, Version,
};
use std::sync::OnceLock;

/// The thing name of the fuzzed device.
pub const THING: &str = "fuzz-thing";
/// Bitmap buffer: 256 blocks.
const BITMAP_BYTES: usize = 32;
/// Job document buffer.
const JOB_BYTES: usize = 4096;
/// Presigned URL buffer (a URL longer than this is refused before download).
const URL_BYTES: usize = 128;
/// Most actions one input may produce (the agent's queue holds 24; reaching it would mean an
/// action may have been dropped).
pub const MAX_ACTIONS_PER_INPUT: usize = 23;
/// Upper bound of the platform answers chained by one `AnswerPlatform` (a 64 KiB read-back
/// at 256 bytes per read is 256 reads).
const MAX_CHAINED_ANSWERS: usize = 4096;

/// base64 of the public ECDSA vector's DER signature (research/vectors): a well-formed
/// signature, which is all the agent checks under `cfg(fuzzing)`.
pub const SIG_B64: &str = "MEQCIBVqaJjwTh4STMTxBSI2/bTlXYMIKvOmfTJr/4UnFJu/AiAmfV9NEqvsF9hFxj2O2I0/KCb9zjI0FwVHsvaE1Wg+Ng==";

fn keys() -> &'static [TrustedKey<'static>] {
    static KEYS: OnceLock<[TrustedKey<'static>; 1]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let sk = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).expect("valid scalar");
        [TrustedKey {
            name: None,
            key: *sk.verifying_key(),
        }]
    })
}

/// The byte at `offset` of every file the simulated cloud serves.
fn content(offset: u32) -> u8 {
    ((u64::from(offset) * 7 + 3) % 251) as u8
}

/// What the harness knows about the file the agent is writing.
#[derive(Debug, Clone, Copy)]
struct FileMeta {
    size: u32,
    firmware: bool,
}

/// Where a write came from (for the statistics checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    Mqtt,
    Http,
}

/// The platform action waiting for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outstanding {
    Create,
    Write { src: Src },
    Read { offset: u32, len: u32 },
    Close,
    SetState(ImageState),
    Activate,
}

/// The HTTP request being answered.
#[derive(Debug, Clone, Copy)]
struct HttpReq {
    first: u32,
    last: u32,
    cursor: u32,
    size: u32,
}

/// What survives a reboot: clock, flash, persisted record, bootloader, and the peer's memory of
/// topics and tokens.
struct World {
    now: u64,
    flash: Vec<u8>,
    persisted: Option<Vec<u8>>,
    boot: PlatformImageState,
    committed: bool,
    version: Version,
    prev_version: Version,
    last_update_id: String,
    last_token: String,
    stream: String,
    /// The last GetStream request: file id, first block, wanted bitmap.
    last_get: Option<(u32, u32, Vec<u8>)>,
    /// Blocks delivered since that request.
    delivered: Vec<u32>,
    verbose: bool,
    summary: Summary,
}

/// How far a run got (for the seed tests and for tracing).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// New agents created after the first (device reboots).
    pub reboots: u32,
    /// `Action::Activate` emitted.
    pub activations: u32,
    /// `SetImageState(Accepted)` emitted.
    pub commits: u32,
    /// `SetImageState(Rejected)` emitted.
    pub rejections: u32,
    /// `Event::FileComplete` (non-firmware files stored and verified).
    pub files_complete: u32,
    /// `Event::ReadyToActivate`.
    pub ready_to_activate: u32,
    /// `Event::StartSelfTest`.
    pub self_tests: u32,
    /// `Event::Accepted`.
    pub accepted: u32,
    /// `Event::Failed` with a signature reason.
    pub signature_failures: u32,
    /// `Event::Failed` for any reason.
    pub failures: u32,
    /// `Event::ReceivedJob` with `resumed`.
    pub resumed_jobs: u32,
    /// `Event::CustomJob`.
    pub custom_jobs: u32,
    /// `Event::JobFinished` with success.
    pub jobs_succeeded: u32,
}

/// What the harness tracks during one agent's life (from `Agent::new` to a reboot).
#[derive(Default)]
struct Life {
    outstanding: Option<Outstanding>,
    file: Option<FileMeta>,
    /// Bytes of the current file read back contiguously from offset 0 since its last write.
    verified_upto: u32,
    /// A `self_test: ready` status was published after a complete read-back.
    ready_published: bool,
    self_test_started: bool,
    accept_requested: bool,
    reset: bool,
    http: Option<HttpReq>,
    stats: Statistics,
    mqtt_received: u64,
    mqtt_queued: u64,
    mqtt_dropped: u64,
    mqtt_processed: u64,
    http_queued: u64,
    http_processed: u64,
    one_block_buffer: bool,
    /// A `FileWrite` was emitted by the input being drained.
    wrote: bool,
    /// The job of the current file (from `ReceivedJob`).
    job_id: String,
    /// That job was reported failed or handed to the application as a custom job.
    job_dead: bool,
}

/// Why a life ended.
enum End {
    /// The input is used up.
    Done,
    /// The device rebooted: start a new agent.
    Reboot {
        version: Version,
        state: PlatformImageState,
        resume: Option<Vec<u8>>,
    },
}

/// Which kind of input an operation handed in (for the statistics checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    HttpResponse,
    HttpBody,
    Answer(Option<Src>),
    Other,
}

struct Device<'s> {
    setup: &'s Setup,
    block_size: u32,
    strict: bool,
}

/// Runs `input` on a fresh device. Panics (with the reason) when an invariant is violated;
/// `verbose` traces every input and action on stderr.
pub fn run(input: &AgentInput, verbose: bool) -> Summary {
    let setup = &input.setup;
    let block_size = [256u32, 512, 1024, 4096][usize::from(setup.block_size % 4)];
    let dev = Device {
        setup,
        block_size,
        strict: setup.flags & 0x20 == 0,
    };
    let block_len = if setup.flags & 0x40 != 0 {
        2 * block_size as usize
    } else {
        block_size as usize
    }
    .max(resume::max_record_len(BITMAP_BYTES));
    let mut block = vec![0u8; block_len];
    let mut job = vec![0u8; JOB_BYTES];
    let mut bitmap = vec![0u8; BITMAP_BYTES];
    let mut url = vec![0u8; URL_BYTES];
    let mut world = World {
        now: 1_000,
        flash: Vec::new(),
        persisted: None,
        boot: PlatformImageState::Valid,
        committed: true,
        version: version_of(setup.version),
        prev_version: version_of(setup.version),
        last_update_id: String::new(),
        last_token: String::new(),
        stream: String::new(),
        last_get: None,
        delivered: Vec::new(),
        verbose,
        summary: Summary::default(),
    };
    let mut ops = input.ops.iter();
    let mut boot = None;
    loop {
        let buffers = Buffers {
            block: &mut block,
            job: &mut job,
            bitmap: &mut bitmap,
            url: &mut url,
        };
        match dev.life(buffers, &mut world, &mut ops, boot.take()) {
            End::Done => return world.summary,
            End::Reboot {
                version,
                state,
                resume,
            } => {
                world.version = version;
                world.summary.reboots += 1;
                boot = Some((state, resume));
            }
        }
    }
}

type FuzzAgent<'a> = Agent<'a, P256Verifier<'static>>;

impl Device<'_> {
    fn config(&self, version: Version) -> Config<'static> {
        let s = self.setup;
        let mut c = Config::new(THING, version);
        c.block_size = self.block_size;
        c.blocks_per_request = 1 + u32::from(s.blocks_per_request % 8);
        // Bit 7 of the same byte: one GetStream request at a time instead of two.
        c.request_ahead = s.blocks_per_request & 0x80 == 0;
        c.http_blocks_per_request = 1 + u32::from(s.http_blocks % 8);
        c.request_timeout = Duration::from_millis(1_000);
        c.max_backoff = Duration::from_millis(8_000);
        c.max_retries = u32::from(s.max_retries % 8);
        c.status_retries = 1 + u32::from(s.status_retries % 4);
        c.status_every = 1 + u32::from(s.status_every % 8);
        c.resume_every = 1 + u32::from(s.resume_every % 8);
        c.self_test_timeout = Duration::from_millis(30_000);
        c.custom_job_timeout = Duration::from_millis(2_000);
        let (no_mqtt, no_http) = (s.flags & 1 != 0, s.flags & 2 != 0);
        c.mqtt_enabled = !no_mqtt || no_http;
        c.http_enabled = !no_http || no_mqtt;
        c.preferred_protocol = if s.flags & 4 != 0 {
            Protocol::Http
        } else {
            Protocol::Mqtt
        };
        c.auto_activate = s.flags & 8 != 0;
        c.allow_downgrade = s.flags & 0x10 != 0;
        c.min_security_epoch = (s.flags & 0x80 != 0).then_some(2);
        c
    }

    /// One agent's life: from `Agent::new` to a reboot or the end of the input.
    fn life<'o>(
        &self,
        buffers: Buffers<'_>,
        world: &mut World,
        ops: &mut impl Iterator<Item = &'o Op>,
        boot: Option<(PlatformImageState, Option<Vec<u8>>)>,
    ) -> End {
        let cfg = self.config(world.version);
        let mut agent: FuzzAgent<'_> =
            Agent::new(cfg, buffers, P256Verifier::new(keys())).expect("valid configuration");
        let mut life = Life {
            one_block_buffer: agent.max_body_chunk() == self.block_size as usize,
            ..Life::default()
        };
        if world.verbose {
            eprintln!("== new agent, version {}", world.version);
        }
        if let Some((state, resume)) = boot {
            let input = Input::Start(BootInfo {
                platform_state: state,
                resume: resume.as_deref(),
            });
            if let Some(end) = self.step(&mut agent, world, &mut life, input, Kind::Other) {
                return end;
            }
        }
        for op in ops {
            if world.verbose {
                eprintln!("-- {op:?}");
            }
            if let Some(end) = self.apply(&mut agent, world, &mut life, op) {
                return end;
            }
            self.check_deadline(&agent, world);
        }
        End::Done
    }

    fn check_deadline(&self, agent: &FuzzAgent<'_>, world: &World) {
        if let Some(t) = agent.poll_timeout() {
            assert!(
                t.as_millis() > world.now,
                "poll_timeout {t} is not after now {} after a drained poll",
                world.now
            );
        }
    }

    fn apply(
        &self,
        agent: &mut FuzzAgent<'_>,
        world: &mut World,
        life: &mut Life,
        op: &Op,
    ) -> Option<End> {
        let network = matches!(
            op,
            Op::Link(_)
                | Op::Message(..)
                | Op::HttpResponse(..)
                | Op::HttpBody(_)
                | Op::HttpDone
                | Op::HttpFailed
        );
        if network
            && self.strict
            && let Some(end) = self.answer_all(agent, world, life)
        {
            return Some(end);
        }
        match op {
            Op::Start(state, resume) => {
                let (state, resume) = self.boot_info(world, state, resume);
                let input = Input::Start(BootInfo {
                    platform_state: state,
                    resume: resume.as_deref(),
                });
                self.step(agent, world, life, input, Kind::Other)
            }
            Op::Reboot(version, state, resume) => {
                let (state, resume) = self.boot_info(world, state, resume);
                Some(End::Reboot {
                    version: version_of(*version),
                    state,
                    resume,
                })
            }
            Op::Command(k) => {
                let cmd = [
                    Command::CheckForUpdate,
                    Command::Suspend,
                    Command::Resume,
                    Command::Accept,
                    Command::Reject,
                    Command::Abort,
                    Command::Activate,
                    Command::ClaimCustomJob,
                    Command::DeclineCustomJob,
                    Command::Shutdown,
                ][usize::from(k % 10)];
                if cmd == Command::Accept && life.self_test_started {
                    life.accept_requested = true;
                }
                self.step(agent, world, life, Input::Command(cmd), Kind::Other)
            }
            Op::Link(up) => self.step(agent, world, life, Input::Link(*up), Kind::Other),
            Op::Message(topic, payload, mutations) => {
                let topic = self.topic(agent, world, topic);
                let mut payload = self.payload(agent, world, life, payload);
                mutate(&mut payload, &mutations.0);
                let input = Input::Message {
                    topic: &topic,
                    payload: &payload,
                };
                self.step(agent, world, life, input, Kind::Message)
            }
            Op::HttpResponse(status, range) => {
                let status = if *status < 250 {
                    HTTP_STATUSES[usize::from(*status) % HTTP_STATUSES.len()]
                } else {
                    100 + u16::from(*status)
                };
                let req = life.http;
                let content_range = match (range, req) {
                    (RangeSel::Matching, Some(r)) => Some(ContentRange {
                        first: r.first,
                        last: r.last,
                        complete: Some(r.size),
                    }),
                    (RangeSel::MatchingStar, Some(r)) => Some(ContentRange {
                        first: r.first,
                        last: r.last,
                        complete: None,
                    }),
                    (RangeSel::Shifted(d), Some(r)) => Some(ContentRange {
                        first: r.first.saturating_add(u32::from(*d)),
                        last: r.last.saturating_add(u32::from(*d)),
                        complete: Some(r.size),
                    }),
                    (RangeSel::Raw(first, last, complete), _) => Some(ContentRange {
                        first: *first,
                        last: *last,
                        complete: Some(*complete),
                    }),
                    _ => None,
                };
                if let Some(r) = life.http.as_mut()
                    && status == 200
                {
                    r.first = 0;
                    r.cursor = 0;
                    r.last = r.size.saturating_sub(1);
                }
                let input = Input::HttpResponse {
                    status,
                    content_range,
                };
                self.step(agent, world, life, input, Kind::HttpResponse)
            }
            Op::HttpBody(body) => {
                let max = agent.max_body_chunk();
                let data = match body {
                    BodySel::Plausible(n) => match life.http.as_mut() {
                        Some(r) => {
                            let left = (r.last.saturating_add(1)).saturating_sub(r.cursor) as usize;
                            let want = if *n == 0 { left } else { usize::from(*n) };
                            let len = want.min(left).min(max);
                            let bytes: Vec<u8> =
                                (0..len as u32).map(|i| content(r.cursor + i)).collect();
                            r.cursor += len as u32;
                            bytes
                        }
                        None => Vec::new(),
                    },
                    BodySel::Raw(b) => {
                        let mut b = b.clone();
                        if self.strict {
                            b.truncate(max);
                        }
                        b
                    }
                };
                self.step(agent, world, life, Input::HttpBody(&data), Kind::HttpBody)
            }
            Op::HttpDone => self.step(agent, world, life, Input::HttpDone, Kind::Other),
            Op::HttpFailed => self.step(agent, world, life, Input::HttpFailed, Kind::Other),
            Op::PlatformDone(k) => {
                let r = if *k < 192 { Ok(()) } else { Err(pal_error(*k)) };
                let src = match life.outstanding {
                    Some(Outstanding::Write { src }) => Some(src),
                    _ => None,
                };
                self.step(
                    agent,
                    world,
                    life,
                    Input::PlatformDone(r),
                    Kind::Answer(src),
                )
            }
            Op::FileData(sel) => {
                let (offset, len) = match life.outstanding {
                    Some(Outstanding::Read { offset, len }) => (offset, len),
                    _ => (0, 16),
                };
                let stored = read_flash(&world.flash, offset, len);
                let input = match sel {
                    DataSel::Stored => Input::FileData(Ok(&stored)),
                    DataSel::Short => {
                        Input::FileData(Ok(&stored[..stored.len().saturating_sub(1)]))
                    }
                    DataSel::Garbage(v) => {
                        let g = vec![*v; stored.len()];
                        return self.step(
                            agent,
                            world,
                            life,
                            Input::FileData(Ok(&g)),
                            Kind::Answer(None),
                        );
                    }
                    DataSel::Error(e) => Input::FileData(Err(pal_error(*e))),
                };
                self.step(agent, world, life, input, Kind::Answer(None))
            }
            Op::Advance(t) => {
                let ms = match t {
                    TimeSel::Zero => 0,
                    TimeSel::Small(ms) => u64::from(*ms),
                    TimeSel::ToDeadline => agent
                        .poll_timeout()
                        .map_or(0, |t| t.as_millis().saturating_sub(world.now)),
                    TimeSel::Large(ms) => u64::from(*ms),
                };
                world.now += ms;
                let now = Instant::from_millis(world.now);
                let before = agent.statistics();
                agent.handle_timeout(now);
                if world.verbose {
                    eprintln!("   handle_timeout({now})");
                }
                self.after(agent, world, life, before, Kind::Other)
            }
            Op::AnswerPlatform => self.answer_all(agent, world, life),
        }
    }

    fn boot_info(
        &self,
        world: &World,
        state: &BootSel,
        resume: &ResumeSel,
    ) -> (PlatformImageState, Option<Vec<u8>>) {
        let state = match state {
            BootSel::Plausible => world.boot,
            BootSel::Valid => PlatformImageState::Valid,
            BootSel::PendingCommit => PlatformImageState::PendingCommit,
            BootSel::Invalid => PlatformImageState::Invalid,
        };
        let resume = match resume {
            ResumeSel::Nothing => None,
            ResumeSel::Persisted => world.persisted.clone(),
            ResumeSel::PersistedFlip(at, xor) => world.persisted.clone().map(|mut p| {
                if *xor == 0 {
                    p.truncate(usize::from(*at) % (p.len() + 1));
                } else if !p.is_empty() {
                    let i = usize::from(*at) % p.len();
                    p[i] ^= xor;
                }
                p
            }),
            ResumeSel::Raw(b) => Some(b.clone()),
        };
        (state, resume)
    }

    /// Answers outstanding platform actions as a working platform would, until none is left.
    fn answer_all(
        &self,
        agent: &mut FuzzAgent<'_>,
        world: &mut World,
        life: &mut Life,
    ) -> Option<End> {
        for _ in 0..MAX_CHAINED_ANSWERS {
            let out = life.outstanding?;
            let end = match out {
                Outstanding::Read { offset, len } => {
                    let data = read_flash(&world.flash, offset, len);
                    self.step(
                        agent,
                        world,
                        life,
                        Input::FileData(Ok(&data)),
                        Kind::Answer(None),
                    )
                }
                Outstanding::Activate => {
                    // The bootloader takes the new image on trial and resets into it.
                    world.prev_version = world.version;
                    world.boot = PlatformImageState::PendingCommit;
                    world.committed = false;
                    let v = world.version;
                    return Some(End::Reboot {
                        version: Version::new(v.major, v.minor.wrapping_add(1) % 4, v.build),
                        state: PlatformImageState::PendingCommit,
                        resume: world.persisted.clone(),
                    });
                }
                Outstanding::Write { src } => self.step(
                    agent,
                    world,
                    life,
                    Input::PlatformDone(Ok(())),
                    Kind::Answer(Some(src)),
                ),
                _ => self.step(
                    agent,
                    world,
                    life,
                    Input::PlatformDone(Ok(())),
                    Kind::Answer(None),
                ),
            };
            if end.is_some() {
                return end;
            }
        }
        panic!("more than {MAX_CHAINED_ANSWERS} chained platform actions");
    }

    /// Hands one input to the agent, checks the result, drains and checks the actions.
    fn step(
        &self,
        agent: &mut FuzzAgent<'_>,
        world: &mut World,
        life: &mut Life,
        input: Input<'_>,
        kind: Kind,
    ) -> Option<End> {
        let before = agent.statistics();
        let state = agent.state();
        let not_started = matches!(state, State::Init | State::Stopped);
        let outstanding = life.outstanding;
        if world.verbose {
            eprintln!("   > {}", describe(&input));
        }
        let r = agent.handle(Instant::from_millis(world.now), input);
        if world.verbose {
            eprintln!("   = {r:?} (state {})", agent.state());
        }
        // Which inputs may be refused, and how.
        match (&input, r) {
            (Input::Start(_), r) => {
                assert_eq!(r, Ok(()), "Start refused");
                life.outstanding = None;
                life.http = None;
                life.file = None;
                life.verified_upto = 0;
                life.ready_published = false;
                life.self_test_started = false;
                life.accept_requested = false;
            }
            (_, Err(UsageError::NotStarted)) => assert!(not_started, "NotStarted while {state}"),
            (_, Ok(())) if not_started => panic!("input accepted while {state}"),
            (Input::PlatformDone(_), r) => {
                let wrong = matches!(outstanding, None | Some(Outstanding::Read { .. }));
                assert_eq!(
                    r.is_err(),
                    wrong,
                    "PlatformDone with {outstanding:?} gave {r:?}"
                );
                if r.is_ok() {
                    life.outstanding = None;
                    self.platform_answered(world, outstanding);
                }
            }
            (Input::FileData(d), r) => match outstanding {
                Some(Outstanding::Read { offset, len }) => {
                    let short = matches!(d, Ok(b) if b.len() != len as usize);
                    if short {
                        assert_eq!(r, Err(UsageError::WrongReadLength));
                    } else {
                        assert_eq!(r, Ok(()), "FileData refused");
                        life.outstanding = None;
                        if d.is_ok() {
                            if offset == 0 {
                                life.verified_upto = len;
                            } else if offset == life.verified_upto {
                                life.verified_upto += len;
                            } else {
                                life.verified_upto = 0;
                            }
                        }
                    }
                }
                _ => assert_eq!(r, Err(UsageError::UnexpectedPlatformResult)),
            },
            (Input::HttpBody(b), Err(UsageError::BodyChunkTooLarge)) => assert!(
                b.len() > agent.max_body_chunk() || outstanding.is_some(),
                "a chunk of {} bytes refused with nothing outstanding",
                b.len()
            ),
            (input, r) => assert_eq!(r, Ok(()), "{} refused", describe(input)),
        }
        if let Input::Command(Command::Shutdown) = input
            && r.is_ok()
        {
            life.outstanding = None;
            life.http = None;
        }
        self.after(agent, world, life, before, kind)
    }

    fn platform_answered(&self, world: &mut World, answered: Option<Outstanding>) {
        if let Some(Outstanding::SetState(ImageState::Accepted)) = answered {
            world.boot = PlatformImageState::Valid;
            world.committed = true;
        }
    }

    /// Drains the actions of the last input and checks every invariant.
    fn after(
        &self,
        agent: &mut FuzzAgent<'_>,
        world: &mut World,
        life: &mut Life,
        before: Statistics,
        kind: Kind,
    ) -> Option<End> {
        let mut count = 0usize;
        while let Some(action) = agent.poll() {
            count += 1;
            assert!(
                count <= MAX_ACTIONS_PER_INPUT,
                "more than {MAX_ACTIONS_PER_INPUT} actions for one input"
            );
            if world.verbose {
                eprintln!("   < {}", describe_action(&action));
            }
            self.record(world, life, kind, action);
        }
        if life.wrote {
            life.wrote = false;
            // Flash is written only for the job being downloaded.
            assert!(
                agent.active_job().is_some(),
                "FileWrite while the agent has no active job (state {})",
                agent.state()
            );
        }
        let stats = agent.statistics();
        check_stats(&before, &stats, kind, life);
        life.stats = stats;
        if life.reset && self.strict {
            // The device resets: an image on trial that was not committed rolls back.
            if world.boot == PlatformImageState::PendingCommit && !world.committed {
                world.version = world.prev_version;
            }
            world.boot = PlatformImageState::Valid;
            world.committed = true;
            return Some(End::Reboot {
                version: world.version,
                state: PlatformImageState::Valid,
                resume: world.persisted.clone(),
            });
        }
        None
    }

    fn expect_idle_platform(&self, life: &Life, what: &str) {
        assert!(
            life.outstanding.is_none(),
            "{what} while {:?} is outstanding",
            life.outstanding
        );
    }

    /// Checks one action and updates the model.
    fn record(&self, world: &mut World, life: &mut Life, kind: Kind, action: Action<'_>) {
        let prefix = "$aws/things/fuzz-thing/";
        match action {
            Action::Subscribe { topic, .. } | Action::Unsubscribe { topic } => {
                assert!(topic.starts_with(prefix), "topic {topic:?}");
                if let Action::Subscribe { .. } = action
                    && let Some(rest) = topic.strip_prefix("$aws/things/fuzz-thing/streams/")
                    && let Some((s, _)) = rest.split_once('/')
                {
                    world.stream = s.to_string();
                }
            }
            Action::Publish { topic, payload, .. } => {
                assert!(topic.starts_with(prefix), "topic {topic:?}");
                assert!(!payload.is_empty(), "empty payload published on {topic}");
                if topic.ends_with("/get/cbor") {
                    let req = cbor::decode_get_stream_request(payload)
                        .expect("own GetStream request decodes");
                    assert_eq!(req.block_size, self.block_size);
                    let bitmap = req.bitmap.expect("GetStream carries a bitmap");
                    assert!(bitmap.iter().any(|&b| b != 0), "GetStream asks for nothing");
                    world.last_get = Some((req.file_id, req.block_offset, bitmap.to_vec()));
                    world.delivered.clear();
                } else {
                    let doc = json::parse(payload).expect("own Jobs request is JSON");
                    let obj = doc.as_object().expect("own Jobs request is an object");
                    if let Some(t) = obj
                        .get("clientToken")
                        .and_then(|t| t.as_raw_str())
                        .and_then(|t| t.as_str())
                    {
                        world.last_token = t.to_string();
                    }
                    if let Some(id) = topic
                        .strip_prefix("$aws/things/fuzz-thing/jobs/")
                        .and_then(|r| r.strip_suffix("/update"))
                    {
                        assert!(ota_core::codec::job::is_valid_job_id(id), "job id {id:?}");
                        world.last_update_id = id.to_string();
                        let text = core::str::from_utf8(payload).unwrap_or("");
                        if text.contains(r#""self_test":"ready""#) {
                            let f = life.file.expect("self_test ready without a file");
                            life.ready_published = f.firmware && life.verified_upto >= f.size;
                            assert!(
                                life.ready_published,
                                "self_test ready before a complete read-back ({} of {f:?})",
                                life.verified_upto
                            );
                        }
                    }
                }
            }
            Action::HttpGet { url, first, last } => {
                // Finding F1 (README), fixed in ota-core.
                assert!(!url.is_empty(), "HttpGet without a URL");
                let f = life.file.expect("HttpGet without a file");
                assert!(
                    first <= last && last < f.size,
                    "range {first}-{last} of {}",
                    f.size
                );
                assert_eq!(first % self.block_size, 0, "range not block-aligned");
                life.http = Some(HttpReq {
                    first,
                    last,
                    cursor: first,
                    size: f.size,
                });
            }
            Action::HttpCancel => {}
            Action::FileCreate(info) => {
                self.expect_idle_platform(life, "FileCreate");
                assert!(info.size > 0);
                life.outstanding = Some(Outstanding::Create);
                life.file = Some(FileMeta {
                    size: info.size,
                    firmware: info.is_firmware,
                });
                life.verified_upto = 0;
                life.ready_published = false;
                if !(info.resume && world.flash.len() == info.size as usize) {
                    world.flash = vec![0xff; info.size as usize];
                }
            }
            Action::FileWrite { offset, data } => {
                self.expect_idle_platform(life, "FileWrite");
                let f = life.file.expect("FileWrite without a file");
                // Finding F2 (README), fixed in ota-core.
                assert!(!data.is_empty(), "empty write");
                life.wrote = true;
                // Findings F3/F4 (README), fixed in ota-core.
                assert!(
                    !life.job_dead,
                    "FileWrite for job {} after it was reported failed or replaced",
                    life.job_id
                );
                let end = offset as usize + data.len();
                assert!(
                    end <= f.size as usize,
                    "write {offset}+{} past {}",
                    data.len(),
                    f.size
                );
                world.flash[offset as usize..end].copy_from_slice(data);
                let src = match kind {
                    Kind::Message => Src::Mqtt,
                    Kind::HttpBody => Src::Http,
                    other => panic!("FileWrite in answer to {other:?}"),
                };
                life.outstanding = Some(Outstanding::Write { src });
                life.verified_upto = 0;
                life.ready_published = false;
            }
            Action::FileRead { offset, len } => {
                self.expect_idle_platform(life, "FileRead");
                let f = life.file.expect("FileRead without a file");
                assert!(len > 0, "empty read");
                assert!(
                    offset.checked_add(len).is_some_and(|e| e <= f.size),
                    "read past the file"
                );
                life.outstanding = Some(Outstanding::Read { offset, len });
            }
            Action::FileClose => {
                self.expect_idle_platform(life, "FileClose");
                let f = life.file.expect("FileClose without a file");
                assert!(!f.firmware, "FileClose of the firmware image");
                assert!(
                    life.verified_upto >= f.size,
                    "FileClose before a complete read-back"
                );
                life.outstanding = Some(Outstanding::Close);
            }
            Action::FileAbort => {}
            Action::PersistResume(rec) => {
                let r = ResumeRecord::decode(rec).expect("own resume record decodes");
                assert_eq!(r.block_size, self.block_size);
                world.persisted = Some(rec.to_vec());
            }
            Action::ClearResume => world.persisted = None,
            Action::SetImageState(s) => {
                self.expect_idle_platform(life, "SetImageState");
                match s {
                    ImageState::Accepted => world.summary.commits += 1,
                    ImageState::Rejected => world.summary.rejections += 1,
                    _ => {}
                }
                if s == ImageState::Accepted {
                    assert!(
                        life.self_test_started && life.accept_requested,
                        "image committed without the application's Accept during a self-test"
                    );
                }
                life.outstanding = Some(Outstanding::SetState(s));
            }
            Action::Activate => {
                self.expect_idle_platform(life, "Activate");
                let f = life.file.expect("Activate without a downloaded file");
                assert!(f.firmware, "Activate of a file that is not firmware");
                assert!(
                    life.verified_upto >= f.size,
                    "Activate before the image was read back ({} of {})",
                    life.verified_upto,
                    f.size
                );
                assert!(
                    life.ready_published,
                    "Activate without a self_test ready status"
                );
                world.summary.activations += 1;
                life.outstanding = Some(Outstanding::Activate);
            }
            Action::Reset => life.reset = true,
            Action::Notify(e) => {
                let s = &mut world.summary;
                match e {
                    Event::StartSelfTest { .. } => {
                        life.self_test_started = true;
                        life.accept_requested = false;
                        s.self_tests += 1;
                    }
                    Event::FileComplete { .. } => s.files_complete += 1,
                    Event::ReceivedJob { job_id, .. } => {
                        life.job_id = job_id.to_string();
                        life.job_dead = false;
                        if let Event::ReceivedJob { resumed: true, .. } = e {
                            s.resumed_jobs += 1;
                        }
                    }
                    Event::CustomJob { job_id, .. } if job_id == life.job_id => {
                        life.job_dead = true;
                        s.custom_jobs += 1;
                    }
                    Event::ReadyToActivate { .. } => s.ready_to_activate += 1,
                    Event::Accepted { .. } => s.accepted += 1,
                    Event::Failed { reason, job_id } => {
                        if job_id == life.job_id {
                            life.job_dead = true;
                        }
                        s.failures += 1;
                        if matches!(reason, ota_core::FailReason::Signature(_)) {
                            s.signature_failures += 1;
                        }
                    }
                    Event::CustomJob { .. } => s.custom_jobs += 1,
                    Event::JobFinished {
                        succeeded: true, ..
                    } => s.jobs_succeeded += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn topic(&self, agent: &FuzzAgent<'_>, world: &World, t: &TopicSel) -> String {
        let base = format!("$aws/things/{THING}/");
        match t {
            TopicSel::NotifyNext => format!("{base}jobs/notify-next"),
            TopicSel::NextGetAccepted => format!("{base}jobs/$next/get/accepted"),
            TopicSel::NextGetRejected => format!("{base}jobs/$next/get/rejected"),
            TopicSel::UpdateAccepted(id) => {
                format!("{base}jobs/{}/update/accepted", job_id(agent, world, id))
            }
            TopicSel::UpdateRejected(id) => {
                format!("{base}jobs/{}/update/rejected", job_id(agent, world, id))
            }
            TopicSel::StreamData(s) => {
                format!("{base}streams/{}/data/cbor", stream_name(world, s))
            }
            TopicSel::StreamRejected(s) => {
                format!("{base}streams/{}/rejected/cbor", stream_name(world, s))
            }
            TopicSel::OtherThing => "$aws/things/other/jobs/notify-next".to_string(),
            TopicSel::Raw(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }

    fn payload(
        &self,
        agent: &FuzzAgent<'_>,
        world: &mut World,
        life: &Life,
        p: &PayloadSel,
    ) -> Vec<u8> {
        match p {
            PayloadSel::Job(spec) => job_json(agent, world, spec, self.block_size).into_bytes(),
            PayloadSel::NoJob(k) => match k % 4 {
                0 => format!(r#"{{"clientToken":"{}","timestamp":1}}"#, world.last_token),
                1 => r#"{"execution":null}"#.to_string(),
                2 => r#"{"timestamp":5,"execution":{}}"#.to_string(),
                _ => "{}".to_string(),
            }
            .into_bytes(),
            PayloadSel::Block(spec) => self.block(world, life, spec),
            PayloadSel::StreamError(k) => {
                let code = [
                    "ResourceNotFound",
                    "Throttling",
                    "InternalError",
                    "Unauthorized",
                ][usize::from(k % 4)];
                let e = cbor::StreamError {
                    code,
                    message: Some("fuzz"),
                    client_token: Some("rdy"),
                };
                let mut out = [0u8; 128];
                let n = cbor::encode_stream_error(&e, &mut out).expect("encode stream error");
                out[..n].to_vec()
            }
            PayloadSel::Answer(a) => {
                let mut s = String::from("{");
                match a.token % 4 {
                    0 => s += &format!(r#""clientToken":"{}","#, world.last_token),
                    1 => {}
                    2 => s += r#""clientToken":"ota-0","#,
                    _ => {
                        s += &format!(
                            r#""clientToken":"{}","#,
                            world.last_token.replace('-', "\\u002d")
                        )
                    }
                }
                let code = [
                    "",
                    "TerminalStateReached",
                    "VersionMismatch",
                    "InvalidRequest",
                    "Weird",
                    "InvalidStateTransition",
                ][usize::from(a.code % 6)];
                if !code.is_empty() {
                    s += &format!(r#""code":"{code}","message":"m","#);
                }
                let st = ["", "IN_PROGRESS", "SUCCEEDED", "FAILED", "CANCELED"]
                    [usize::from(a.status % 5)];
                if !st.is_empty() {
                    s += &format!(r#""executionState":{{"status":"{st}","versionNumber":2}},"#);
                }
                s += r#""timestamp":2}"#;
                s.into_bytes()
            }
            PayloadSel::Raw(b) => b.clone(),
        }
    }

    fn block(&self, world: &mut World, life: &Life, spec: &BlockSpec) -> Vec<u8> {
        let bs = self.block_size;
        let get_file = world.last_get.as_ref().map_or(0, |g| g.0);
        let file_id = match spec.file_id {
            255 => 0xdead_beef,
            v if v % 5 == 0 => get_file,
            v => u32::from(v % 5 - 1),
        };
        let index = match spec.index {
            Option16::Value(v) => u32::from(v),
            Option16::Auto => world.next_wanted(),
        };
        world.delivered.push(index);
        let size = life.file.map_or(bs, |f| f.size);
        let right = size.saturating_sub(index.saturating_mul(bs)).min(bs);
        let len = match spec.len % 8 {
            5 => right + 1,
            6 => right.saturating_sub(1),
            7 => 0,
            _ => right,
        };
        let l = match spec.block_size % 8 {
            6 => bs / 2,
            7 => bs + 1,
            _ => bs,
        };
        let start = index.saturating_mul(bs);
        let payload: Vec<u8> = (0..len).map(|i| content(start.wrapping_add(i))).collect();
        let b = DataBlock {
            file_id,
            block_id: index,
            block_size: l,
            payload: &payload,
        };
        let mut out = vec![0u8; payload.len() + 64];
        match spec.encoding % 8 {
            5 => {
                // Indefinite-length map, as the service was seen to send.
                let mut w = vec![0xbf];
                cbor_text(&mut w, "f");
                cbor_head(&mut w, 0, u64::from(file_id));
                cbor_text(&mut w, "i");
                cbor_head(&mut w, 0, u64::from(index));
                cbor_text(&mut w, "l");
                cbor_head(&mut w, 0, u64::from(l));
                cbor_text(&mut w, "p");
                cbor_head(&mut w, 2, payload.len() as u64);
                w.extend_from_slice(&payload);
                w.push(0xff);
                w
            }
            6 => {
                let mut w = vec![0xa4];
                cbor_text(&mut w, "p");
                cbor_head(&mut w, 2, payload.len() as u64);
                w.extend_from_slice(&payload);
                cbor_text(&mut w, "l");
                cbor_head(&mut w, 0, u64::from(l));
                cbor_text(&mut w, "i");
                cbor_head(&mut w, 0, u64::from(index));
                cbor_text(&mut w, "f");
                cbor_head(&mut w, 0, u64::from(file_id));
                w
            }
            7 => {
                let n = cbor::encode_data_block(&b, &mut out).expect("encode block");
                let mut w = vec![0xa5];
                w.extend_from_slice(&out[1..n]);
                cbor_text(&mut w, "x");
                w.extend_from_slice(&[0x82, 0xa1, 0x61, 0x61, 0x01, 0xf6]);
                w
            }
            _ => {
                let n = cbor::encode_data_block(&b, &mut out).expect("encode block");
                out.truncate(n);
                out
            }
        }
    }
}

impl World {
    /// The first block of the last GetStream request not delivered since; else block 0.
    fn next_wanted(&self) -> u32 {
        let Some((_, offset, bitmap)) = &self.last_get else {
            return 0;
        };
        for (i, byte) in bitmap.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    let k = offset + (i * 8 + bit) as u32;
                    if !self.delivered.contains(&k) {
                        return k;
                    }
                }
            }
        }
        *offset
    }
}

fn job_id(agent: &FuzzAgent<'_>, world: &World, id: &IdSel) -> String {
    match id {
        IdSel::LastReported if !world.last_update_id.is_empty() => world.last_update_id.clone(),
        IdSel::Active => agent.active_job().unwrap_or("jobA").to_string(),
        IdSel::Fixed(k) => JOB_IDS[usize::from(*k) % JOB_IDS.len()].to_string(),
        _ => "jobA".to_string(),
    }
}

fn stream_name(world: &World, s: &StreamSel) -> String {
    match s {
        StreamSel::Subscribed if !world.stream.is_empty() => world.stream.clone(),
        StreamSel::Fixed(k) => STREAMS[usize::from(*k) % STREAMS.len()].to_string(),
        _ => STREAMS[0].to_string(),
    }
}

/// Renders a Jobs envelope from a [`JobSpec`].
fn job_json(agent: &FuzzAgent<'_>, world: &World, spec: &JobSpec, bs: u32) -> String {
    let id = job_id(agent, world, &spec.id);
    let mut ex = format!(r#""jobId":"{id}""#);
    let status = [
        "",
        "QUEUED",
        "IN_PROGRESS",
        "SUCCEEDED",
        "CANCELED",
        "UNKNOWN_X",
        "",
        "",
    ][usize::from(spec.status % 8)];
    if !status.is_empty() {
        ex += &format!(r#","status":"{status}""#);
    }
    let updated_by = [
        "",
        r#""updatedBy":"0x01000000""#,
        r#""updatedBy":"0x01010000""#,
        r#""updatedBy":16777216"#,
        r#""updatedBy":"1.2.0""#,
        r#""updatedBy":"garbage""#,
    ][usize::from((spec.details >> 4) % 6)];
    let self_test = [
        "",
        r#""self_test":"ready""#,
        r#""self_test":"active""#,
        r#""self_test":"x""#,
        r#""receive":"1/2""#,
        "",
    ][usize::from((spec.details & 0xf) % 6)];
    let details: Vec<&str> = [self_test, updated_by]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if !details.is_empty() {
        ex += &format!(r#","statusDetails":{{{}}}"#, details.join(","));
    }
    ex += r#","versionNumber":1,"executionNumber":1"#;
    let p = spec.protocols;
    if p & 0x40 == 0 {
        let doc = if p & 0x20 != 0 {
            r#"{"custom":"reboot","delay":5}"#.to_string()
        } else {
            let mut names = Vec::new();
            if p & 4 != 0 && p & 2 != 0 {
                names.push(r#""HTTP""#);
            }
            if p & 1 != 0 {
                names.push(r#""MQTT""#);
            }
            if p & 4 == 0 && p & 2 != 0 {
                names.push(r#""HTTP""#);
            }
            if p & 8 != 0 {
                names.push(r#""CoAP""#);
            }
            let protocols = if p & 0x10 != 0 {
                r#""MQTT""#.to_string()
            } else {
                format!("[{}]", names.join(","))
            };
            let mut doc = format!(r#"{{"afr_ota":{{"protocols":{protocols}"#);
            if !spec.no_stream {
                doc += &format!(r#","streamname":"{}""#, stream_name(world, &spec.stream));
            }
            let files: Vec<String> = spec.files.0.iter().map(|f| file_json(f, bs)).collect();
            doc += &format!(r#","files":[{}]}}}}"#, files.join(","));
            doc
        };
        ex += &format!(r#","jobDocument":{doc}"#);
    }
    format!(
        r#"{{"clientToken":"{}","timestamp":1700000000,"execution":{{{ex}}}}}"#,
        world.last_token
    )
}

fn file_json(f: &FileSel, bs: u32) -> String {
    let size = match f.size {
        SizeSel::Small(n) => u32::from(n),
        SizeSel::Large(n) => n,
        SizeSel::Blocks(k, extra) => u32::from(k % 8) * bs + u32::from(extra) % bs,
    };
    let id = if f.file_id == 255 {
        0xdead_beef
    } else {
        u32::from(f.file_id % 4)
    };
    let mut s = format!(r#"{{"filesize":{size},"fileid":{id}"#);
    match f.path % 4 {
        1 => s += r#","filepath":"/fw/app.bin""#,
        2 => s += r#","filepath":"dir\/file\n""#,
        3 => s += r#","filepath":"caf\u00e9""#,
        _ => {}
    }
    match f.file_type % 6 {
        1 => s += r#","fileType":0"#,
        2 => s += r#","fileType":1"#,
        3 => s += r#","fileType":"0""#,
        4 => s += r#","fileType":"x""#,
        5 => s += r#","fileType":2"#,
        _ => {}
    }
    match f.sig % 8 {
        1 => {}
        2 => s += r#","sig-sha256-ecdsa":"""#,
        3 => s += r#","sig-sha256-ecdsa":"!!not base64""#,
        4 => s += r#","sig-sha256-ecdsa":5"#,
        _ => s += &format!(r#","sig-sha256-ecdsa":"{SIG_B64}""#),
    }
    match f.url % 8 {
        1 => {}
        2 => s += r#","update_data_url":"https:\/\/h.example\/o?X-Amz-Signature=ab\u0026c=d""#,
        3 => {
            s += &format!(
                r#","update_data_url":"https://h.example/{}""#,
                "a".repeat(200)
            )
        }
        4 => s += r#","update_data_url":7"#,
        _ => {
            s += r#","update_data_url":"https://h.example/fw.bin?X-Amz-Signature=abc","auth_scheme":"aws.s3.presigned""#
        }
    }
    match f.extras % 4 {
        1 => s += r#","certfile":"ota-signer.crt""#,
        2 => s += r#","certfile":"other.crt""#,
        3 => s += r#","certfile":"esc\u0041pe""#,
        _ => {}
    }
    match (f.extras >> 4) % 4 {
        1 => s += r#","attr":1"#,
        2 => s += r#","attr":3"#,
        3 => s += r#","attr":"str""#,
        _ => {}
    }
    s + "}"
}

fn cbor_head(w: &mut Vec<u8>, major: u8, v: u64) {
    let m = major << 5;
    if v < 24 {
        w.push(m | v as u8);
    } else if v <= 0xff {
        w.extend_from_slice(&[m | 24, v as u8]);
    } else if v <= 0xffff {
        w.push(m | 25);
        w.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= 0xffff_ffff {
        w.push(m | 26);
        w.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        w.push(m | 27);
        w.extend_from_slice(&v.to_be_bytes());
    }
}

fn cbor_text(w: &mut Vec<u8>, s: &str) {
    cbor_head(w, 3, s.len() as u64);
    w.extend_from_slice(s.as_bytes());
}

fn mutate(p: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        match *m {
            Mutation::Set(at, v) if !p.is_empty() => {
                let i = usize::from(at) % p.len();
                p[i] = v;
            }
            Mutation::Insert(at, v) => {
                let i = usize::from(at) % (p.len() + 1);
                p.insert(i, v);
            }
            Mutation::Remove(at) if !p.is_empty() => {
                let i = usize::from(at) % p.len();
                p.remove(i);
            }
            Mutation::Truncate(at) => {
                let i = usize::from(at) % (p.len() + 1);
                p.truncate(i);
            }
            _ => {}
        }
    }
}

fn pal_error(k: u8) -> PalError {
    match k % 6 {
        0 => PalError::TooLarge,
        1 => PalError::Flash,
        2 => PalError::OutOfBounds,
        3 => PalError::BootState,
        4 => PalError::Unsupported,
        _ => PalError::Other(u32::from(k)),
    }
}

fn read_flash(flash: &[u8], offset: u32, len: u32) -> Vec<u8> {
    (0..len as usize)
        .map(|i| flash.get(offset as usize + i).copied().unwrap_or(0xff))
        .collect()
}

/// The statistics invariants that hold for every input (see the README).
fn check_stats(a: &Statistics, b: &Statistics, kind: Kind, life: &mut Life) {
    let fields = |s: &Statistics| {
        [
            s.received,
            s.queued,
            s.processed,
            s.dropped,
            s.duplicates,
            s.requests,
            s.retries,
        ]
    };
    for (x, y) in fields(a).iter().zip(fields(b).iter()) {
        assert!(y >= x, "a counter went down: {a:?} -> {b:?}");
    }
    assert!(b.duplicates <= b.dropped, "duplicates > dropped: {b:?}");
    // Every received data message is queued (handed to a write), dropped, or neither (an HTTP
    // chunk with no needed byte), never both.
    assert!(
        u64::from(b.queued) + u64::from(b.dropped) <= u64::from(b.received),
        "queued + dropped > received: {b:?}"
    );
    // `processed` counts blocks, `queued` writes: one HTTP write may complete several blocks
    // when the block buffer is larger than a block. With a buffer of one block, a chunk holds
    // at most one block start, so each completed block needs a write of its own.
    if life.one_block_buffer {
        assert!(b.processed <= b.queued, "processed > queued: {b:?}");
    }
    let d = |f: fn(&Statistics) -> u32| u64::from(f(b) - f(a));
    let (received, queued, processed, dropped) = (
        d(|s| s.received),
        d(|s| s.queued),
        d(|s| s.processed),
        d(|s| s.dropped),
    );
    match kind {
        Kind::Message => {
            // A block on the active stream is counted received, then queued or dropped.
            assert!(received <= 1 && processed == 0, "{a:?} -> {b:?}");
            assert_eq!(queued + dropped, received, "message: {a:?} -> {b:?}");
            life.mqtt_received += received;
            life.mqtt_queued += queued;
            life.mqtt_dropped += dropped;
        }
        Kind::HttpResponse => {
            assert!(
                received == 0 && queued == 0 && dropped == 0 && processed == 0,
                "{a:?} -> {b:?}"
            );
        }
        Kind::HttpBody => {
            assert!(received <= 1 && processed == 0, "{a:?} -> {b:?}");
            assert!(queued + dropped <= received, "body: {a:?} -> {b:?}");
            life.http_queued += queued;
        }
        Kind::Answer(src) => {
            assert!(
                received == 0 && queued == 0 && dropped == 0,
                "{a:?} -> {b:?}"
            );
            match src {
                Some(Src::Mqtt) => {
                    assert!(
                        processed <= 1,
                        "one MQTT block write stored {processed} blocks"
                    );
                    life.mqtt_processed += processed;
                }
                Some(Src::Http) => life.http_processed += processed,
                None => assert_eq!(processed, 0, "{a:?} -> {b:?}"),
            }
        }
        Kind::Other => {
            assert!(
                received == 0 && queued == 0 && dropped == 0 && processed == 0,
                "{a:?} -> {b:?}"
            );
        }
    }
    assert!(
        life.mqtt_processed <= life.mqtt_queued,
        "MQTT: processed > queued"
    );
    assert!(
        life.mqtt_queued <= life.mqtt_received,
        "MQTT: queued > received"
    );
    assert!(
        life.mqtt_dropped <= life.mqtt_received,
        "MQTT: dropped > received"
    );
}

fn describe(input: &Input<'_>) -> String {
    match input {
        Input::Message { topic, payload } => {
            format!(
                "Message {topic} {}",
                String::from_utf8_lossy(&payload[..payload.len().min(300)])
            )
        }
        Input::HttpBody(b) => format!("HttpBody({} bytes)", b.len()),
        Input::FileData(Ok(b)) => format!("FileData(Ok({} bytes))", b.len()),
        other => format!("{other:?}"),
    }
}

fn describe_action(a: &Action<'_>) -> String {
    match a {
        Action::Publish { topic, payload, .. } => {
            format!(
                "Publish {topic} {}",
                String::from_utf8_lossy(&payload[..payload.len().min(200)])
            )
        }
        Action::FileWrite { offset, data } => format!("FileWrite({offset}, {} bytes)", data.len()),
        Action::PersistResume(r) => format!("PersistResume({} bytes)", r.len()),
        other => format!("{other:?}"),
    }
}
