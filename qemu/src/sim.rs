//! The device side of the simulation: one agent, a RAM "flash" with NOR rules, the
//! application's answers to events, a virtual clock, and the loop that moves messages between
//! the agent and the [`Cloud`].

use crate::cloud::Cloud;
use crate::stack::StackMeter;
use ota_core::codec::http::ContentRange;
use ota_core::verify::ImageVerifier;
use ota_core::{
    Action, Agent, Command, Event, ImageState, Input, Instant, PalError, PlatformImageState,
};

/// The download slot's size.
pub const SLOT: usize = 64 * 1024;
/// Longest resume record kept.
pub const RESUME_CAP: usize = 256;
/// HTTP body chunk size (deliberately not a divisor of the block size).
pub const HTTP_CHUNK: usize = 700;

/// A RAM flash slot with NOR rules: erase sets 0xFF, a write may only clear bits.
pub struct Flash {
    /// The slot's bytes.
    pub mem: [u8; SLOT],
    /// Size of the current file.
    pub file_len: usize,
    /// Writes refused for breaking the NOR rule (must stay 0).
    pub nor_violations: u32,
}

impl Flash {
    /// An erased slot.
    pub fn new() -> Self {
        Self {
            mem: [0xff; SLOT],
            file_len: 0,
            nor_violations: 0,
        }
    }

    fn create(&mut self, size: u32, resume: bool) -> Result<(), PalError> {
        let size = size as usize;
        if size > SLOT {
            return Err(PalError::TooLarge);
        }
        if !resume {
            self.mem[..size].fill(0xff);
        }
        self.file_len = size;
        Ok(())
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), PalError> {
        let o = offset as usize;
        let dst = o
            .checked_add(data.len())
            .filter(|&e| e <= self.file_len)
            .and_then(|e| self.mem.get_mut(o..e))
            .ok_or(PalError::OutOfBounds)?;
        if dst.iter().zip(data).any(|(&old, &new)| old & new != new) {
            self.nor_violations += 1;
            return Err(PalError::Flash);
        }
        dst.copy_from_slice(data);
        Ok(())
    }

    fn read(&self, offset: u32, len: u32) -> Result<&[u8], PalError> {
        let o = offset as usize;
        o.checked_add(len as usize)
            .filter(|&e| e <= self.file_len)
            .and_then(|e| self.mem.get(o..e))
            .ok_or(PalError::OutOfBounds)
    }

    /// The current file.
    pub fn file(&self) -> &[u8] {
        &self.mem[..self.file_len]
    }
}

/// What the application did with events, in order (progress is only counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ev {
    /// `ReceivedJob { resumed }`.
    ReceivedJob(bool),
    /// `NoActiveJob`.
    NoActiveJob,
    /// `ReadyToActivate`.
    ReadyToActivate,
    /// `StartSelfTest`.
    StartSelfTest,
    /// `Accepted`.
    Accepted,
    /// `SelfTestFailed`.
    SelfTestFailed,
    /// `Failed`.
    Failed,
    /// `JobFinished { succeeded }`.
    JobFinished(bool),
    /// Anything else but progress.
    Other,
}

/// Events kept.
pub const MAX_EVENTS: usize = 32;

/// The application: answers the agent's events as a product would.
pub struct App {
    /// Activate as soon as the image is ready.
    pub activate: bool,
    /// The self-test verdict.
    pub self_test_passes: bool,
    pending: Option<Command>,
    events: [Ev; MAX_EVENTS],
    n_events: usize,
    /// Progress events seen.
    pub progress: u32,
}

impl App {
    /// An application that activates at once and passes its self-test.
    pub fn new() -> Self {
        Self {
            activate: true,
            self_test_passes: true,
            pending: None,
            events: [Ev::Other; MAX_EVENTS],
            n_events: 0,
            progress: 0,
        }
    }

    fn on_event(&mut self, e: &Event<'_>) {
        let ev = match e {
            Event::Progress { .. } => {
                self.progress += 1;
                return;
            }
            Event::ReceivedJob { resumed, .. } => Ev::ReceivedJob(*resumed),
            Event::NoActiveJob => Ev::NoActiveJob,
            Event::ReadyToActivate { .. } => {
                if self.activate {
                    self.pending = Some(Command::Activate);
                }
                Ev::ReadyToActivate
            }
            Event::StartSelfTest { .. } => {
                self.pending = Some(if self.self_test_passes {
                    Command::Accept
                } else {
                    Command::Reject
                });
                Ev::StartSelfTest
            }
            Event::Accepted { .. } => Ev::Accepted,
            Event::SelfTestFailed { .. } => Ev::SelfTestFailed,
            Event::Failed { .. } => Ev::Failed,
            Event::JobFinished { succeeded, .. } => Ev::JobFinished(*succeeded),
            _ => Ev::Other,
        };
        if self.n_events < MAX_EVENTS {
            self.events[self.n_events] = ev;
            self.n_events += 1;
        }
    }

    /// The events seen, in order.
    pub fn events(&self) -> &[Ev] {
        &self.events[..self.n_events]
    }
}

/// The bootloader's view: what the agent asked the platform to do with images.
pub struct Boot {
    /// The last `SetImageState`.
    pub image_state: Option<ImageState>,
    /// The last persisted resume record.
    pub resume: [u8; RESUME_CAP],
    /// Its length, if one is persisted.
    pub resume_len: Option<usize>,
}

impl Boot {
    /// Nothing recorded.
    pub fn new() -> Self {
        Self {
            image_state: None,
            resume: [0; RESUME_CAP],
            resume_len: None,
        }
    }

    /// The persisted resume record.
    pub fn resume(&self) -> Option<&[u8]> {
        self.resume_len.map(|n| &self.resume[..n])
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The agent activated the new image (the device reboots into it).
    Activated,
    /// The agent reset the device.
    Reset,
    /// Nothing left to do: no message, no deadline.
    Idle,
    /// The caller's condition held.
    Condition,
}

/// Why [`run`] failed: a broken contract or a runaway loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// `handle` returned a usage error.
    Usage(ota_core::UsageError),
    /// More steps than any scenario needs.
    StepLimit,
}

/// A link outage to inject.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// After this many stream blocks sent by the cloud.
    pub after_blocks: u32,
    /// For this long (virtual milliseconds).
    pub millis: u64,
}

/// Everything around the agent.
pub struct World<'c> {
    /// The cloud.
    pub cloud: Cloud<'c>,
    /// The slot.
    pub flash: Flash,
    /// The application.
    pub app: App,
    /// The bootloader.
    pub boot: Boot,
    /// Virtual time, milliseconds.
    pub now: u64,
    /// The stack meter wrapped around every agent call.
    pub meter: StackMeter,
    /// An outage to inject, once.
    pub outage: Option<Outage>,
    /// Outages that happened.
    pub outages: u32,
    http: Option<HttpServe>,
}

#[derive(Clone, Copy)]
struct HttpServe {
    first: u32,
    last: u32,
    headers_sent: bool,
    cursor: u32,
}

/// What the run loop owes the agent after an action.
enum Answer {
    Done(Result<(), PalError>),
    Read(u32, u32),
    Stop(Stop),
}

/// Step limit of one [`run`].
const MAX_STEPS: u32 = 200_000;

impl<'c> World<'c> {
    /// A world around `cloud`, measuring stack with `meter`.
    pub fn new(cloud: Cloud<'c>, meter: StackMeter) -> Self {
        Self {
            cloud,
            flash: Flash::new(),
            app: App::new(),
            boot: Boot::new(),
            now: 0,
            meter,
            outage: None,
            outages: 0,
            http: None,
        }
    }

    fn t(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    fn handle<V: ImageVerifier>(
        &mut self,
        agent: &mut Agent<'_, V>,
        input: Input<'_>,
    ) -> Result<(), SimError> {
        let now = self.t();
        self.meter
            .measure(|| agent.handle(now, input))
            .map_err(SimError::Usage)
    }

    /// Starts the agent (boot) and drains its first actions.
    pub fn start<V: ImageVerifier>(
        &mut self,
        agent: &mut Agent<'_, V>,
        platform: PlatformImageState,
        resume: Option<&[u8]>,
    ) -> Result<Option<Stop>, SimError> {
        self.handle(
            agent,
            Input::Start(ota_core::BootInfo {
                platform_state: platform,
                resume,
            }),
        )?;
        self.drain(agent)
    }

    /// Drains the agent's actions, executing each. `Some` if the device stops.
    fn drain<V: ImageVerifier>(
        &mut self,
        agent: &mut Agent<'_, V>,
    ) -> Result<Option<Stop>, SimError> {
        loop {
            let action = self.meter.measure(|| agent.poll());
            let Some(action) = action else {
                return Ok(None);
            };
            let answer = match action {
                Action::Publish { topic, payload, .. } => {
                    self.cloud.on_publish(topic, payload);
                    None
                }
                Action::HttpGet { first, last, .. } => {
                    self.http = Some(HttpServe {
                        first,
                        last,
                        headers_sent: false,
                        cursor: first,
                    });
                    None
                }
                Action::HttpCancel => {
                    self.http = None;
                    None
                }
                Action::FileCreate(f) => Some(Answer::Done(self.flash.create(f.size, f.resume))),
                Action::FileWrite { offset, data } => {
                    Some(Answer::Done(self.flash.write(offset, data)))
                }
                Action::FileRead { offset, len } => Some(Answer::Read(offset, len)),
                Action::FileClose => Some(Answer::Done(Ok(()))),
                Action::PersistResume(r) => {
                    if let Some(dst) = self.boot.resume.get_mut(..r.len()) {
                        dst.copy_from_slice(r);
                        self.boot.resume_len = Some(r.len());
                    }
                    None
                }
                Action::ClearResume => {
                    self.boot.resume_len = None;
                    None
                }
                Action::SetImageState(s) => {
                    self.boot.image_state = Some(s);
                    Some(Answer::Done(Ok(())))
                }
                Action::Activate => Some(Answer::Stop(Stop::Activated)),
                Action::Reset => Some(Answer::Stop(Stop::Reset)),
                Action::Notify(e) => {
                    self.app.on_event(&e);
                    None
                }
                // Subscriptions always succeed on the simulated broker; FileAbort needs no
                // answer.
                _ => None,
            };
            match answer {
                None => {}
                Some(Answer::Stop(s)) => return Ok(Some(s)),
                Some(Answer::Done(r)) => self.handle(agent, Input::PlatformDone(r))?,
                Some(Answer::Read(offset, len)) => {
                    let now = self.t();
                    let flash = &self.flash;
                    let r = flash.read(offset, len);
                    self.meter
                        .measure(|| agent.handle(now, Input::FileData(r)))
                        .map_err(SimError::Usage)?;
                }
            }
        }
    }

    /// Serves the next piece of the HTTP answer. `false` if none is in progress.
    fn serve_http<V: ImageVerifier>(&mut self, agent: &mut Agent<'_, V>) -> Result<bool, SimError> {
        let Some(mut h) = self.http else {
            return Ok(false);
        };
        if !h.headers_sent {
            h.headers_sent = true;
            self.http = Some(h);
            let total = self.cloud.http_request() as u32;
            let last = h.last.min(total.saturating_sub(1));
            self.http = Some(HttpServe { last, ..h });
            let cr = ContentRange {
                first: h.first,
                last,
                complete: Some(total),
            };
            self.handle(
                agent,
                Input::HttpResponse {
                    status: 206,
                    content_range: Some(cr),
                },
            )?;
            return Ok(true);
        }
        if h.cursor > h.last {
            self.http = None;
            self.handle(agent, Input::HttpDone)?;
            return Ok(true);
        }
        let last = h.last.min(h.cursor + HTTP_CHUNK as u32 - 1);
        let mut chunk = [0u8; HTTP_CHUNK];
        match self.cloud.http_range(h.cursor, last, &mut chunk) {
            Some(n) => {
                h.cursor += n as u32;
                self.http = Some(h);
                self.handle(agent, Input::HttpBody(&chunk[..n]))?;
            }
            None => {
                self.http = None;
                self.handle(agent, Input::HttpFailed)?;
            }
        }
        Ok(true)
    }

    /// Runs the device until it stops, goes idle, or `until` holds.
    pub fn run<V: ImageVerifier>(
        &mut self,
        agent: &mut Agent<'_, V>,
        until: &dyn Fn(&World<'_>) -> bool,
    ) -> Result<Stop, SimError> {
        for _ in 0..MAX_STEPS {
            if let Some(stop) = self.drain(agent)? {
                return Ok(stop);
            }
            if until(self) {
                return Ok(Stop::Condition);
            }
            if let Some(cmd) = self.app.pending.take() {
                self.handle(agent, Input::Command(cmd))?;
                continue;
            }
            if let Some(o) = self
                .outage
                .filter(|o| self.cloud.blocks_sent >= o.after_blocks)
            {
                self.outage = None;
                self.outages += 1;
                self.cloud.outbox.clear();
                self.http = None;
                self.handle(agent, Input::Link(false))?;
                self.drain(agent)?;
                self.now += o.millis;
                self.handle(agent, Input::Link(true))?;
                continue;
            }
            if self.serve_http(agent)? {
                continue;
            }
            if let Some(msg) = self.cloud.outbox.front() {
                let now = self.t();
                let (topic, payload) = (msg.topic(), msg.payload());
                let r = self
                    .meter
                    .measure(|| agent.handle(now, Input::Message { topic, payload }));
                self.cloud.outbox.pop();
                r.map_err(SimError::Usage)?;
                continue;
            }
            match agent.poll_timeout() {
                Some(at) => {
                    self.now = self.now.max(at.as_millis());
                    let now = self.t();
                    self.meter.measure(|| agent.handle_timeout(now));
                }
                None => return Ok(Stop::Idle),
            }
        }
        Err(SimError::StepLimit)
    }
}
