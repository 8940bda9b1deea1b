//! The agent task: one `async fn run` that owns the agent and drives it over MQTT, the
//! platform, the clock and the application's channels.

use crate::backoff::Backoff;
use crate::channel::{AppCommand, Notification, OtaChannels, Report, TaskStatistics};
use crate::fmt::{log_info, log_warn};
use crate::http::{HttpExec, NoHttp};
use crate::net::Connect;
use crate::platform::OtaPlatform;
use crate::time::{now, to_embassy};
use embassy_futures::select::{Either, Either3, select, select3};
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_time::{Duration, Instant, Timer, with_timeout};
use minimq::{Buffers as MqttBuffers, ConfigBuilder, Connection, Session};
use ota_core::verify::ImageVerifier;
use ota_core::{Action, Agent, Buffers, Config, ConfigError, Input, State};
use ota_mqtt_minimq::{ClientError, OtaMqtt, Received, SizingError};
use ota_pal_flash::Outcome;

/// Logs why a connection attempt failed (a refused TLS certificate says which check failed).
fn log_connect_error<E: core::fmt::Debug>(what: &str, e: &E) {
    #[cfg(feature = "defmt")]
    defmt::warn!("{} failed: {}", what, defmt::Debug2Format(e));
    #[cfg(feature = "log")]
    log::warn!("{what} failed: {e:?}");
    #[cfg(not(any(feature = "defmt", feature = "log")))]
    let _ = (what, e);
}

/// Settings of the task itself (the agent's are its [`Config`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TaskConfig {
    /// First reconnect delay (then doubling, jittered).
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Seed of the backoff jitter: give every device its own (hardware RNG, chip id).
    pub jitter_seed: u64,
    /// Time allowed for one connection attempt (DNS + TCP + MQTT handshake). The agent's
    /// timers wait at most this long while an attempt is in progress.
    pub connect_timeout: Duration,
    /// MQTT keep-alive, seconds.
    pub keepalive_secs: u16,
    /// Period of the [`Report`] (the seed's statistics), 1 s by default.
    pub report_period: Duration,
}

impl TaskConfig {
    /// Defaults: reconnect after 1 s doubling to 60 s, 20 s per attempt, keep-alive 60 s,
    /// a report every second; jitter seeded with `jitter_seed`.
    pub const fn new(jitter_seed: u64) -> Self {
        Self {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            jitter_seed,
            connect_timeout: Duration::from_secs(20),
            keepalive_secs: 60,
            report_period: Duration::from_secs(1),
        }
    }
}

/// Why [`OtaTask::new`] refused its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SetupError {
    /// The agent's configuration or buffers.
    Agent(ConfigError),
    /// The MQTT buffers are too small for the agent's block size and job buffer.
    MqttBuffers(SizingError),
    /// The thing name is not a valid MQTT client id for minimq (too long).
    ClientId,
    /// The read buffer is smaller than the agent's block size.
    ReadBuffer,
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::Agent(e) => write!(f, "agent: {e}"),
            SetupError::MqttBuffers(e) => write!(f, "MQTT buffers: {e}"),
            SetupError::ClientId => f.write_str("thing name is not a valid MQTT client id"),
            SetupError::ReadBuffer => f.write_str("read buffer smaller than the block size"),
        }
    }
}

impl core::error::Error for SetupError {}

/// How [`OtaTask::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Exit {
    /// Reset the device now: a new image was activated, or the image on trial was rejected
    /// (the bootloader rolls back).
    Reset,
    /// The application sent [`AppCommand::Shutdown`].
    Shutdown,
    /// The bootloader state could not be read at start: the agent cannot run safely.
    BootState,
}

/// What the agent is built from (see [`ota_core::Agent::new`]).
pub struct AgentSetup<'a, V> {
    /// The agent's configuration (thing name, version, block size, timeouts...).
    pub config: Config<'a>,
    /// The agent's caller-owned memory (sizing rules on [`Buffers`]).
    pub buffers: Buffers<'a>,
    /// The code-signature verifier (`ota_core::verify::P256Verifier` for AWS signing).
    pub verifier: V,
}

/// The task's caller-owned memory besides the agent's [`Buffers`].
pub struct TaskBuffers<'a> {
    /// minimq's receive buffer: one inbound packet (a block message or a job document).
    pub mqtt_rx: &'a mut [u8],
    /// minimq's transmit buffer: unacknowledged QoS 1 packets and the CONNECT.
    pub mqtt_tx: &'a mut [u8],
    /// Flash read-back (`FileRead`): at least the block size. At start it also receives the
    /// resume record, so it must hold the platform's largest record too.
    pub read: &'a mut [u8],
}

/// The agent task. Build it once (in the task or from `static`s), then `run` it.
///
/// See the [crate documentation](crate) for the loop and the RAM budget.
pub struct OtaTask<'a, V, P, C, M, const NC: usize, const NN: usize, H = NoHttp>
where
    V: ImageVerifier,
    P: OtaPlatform,
    C: Connect,
    M: RawMutex,
    H: HttpExec,
{
    core: Core<'a, V, P, M, NC, NN>,
    connector: C,
    http: H,
    session: Session<'a>,
    ota: OtaMqtt<'a>,
    backoff: Backoff,
    cfg: TaskConfig,
}

/// Everything but the transport, so the connection (borrowing the connector and the session)
/// and the agent can be used side by side.
struct Core<'a, V: ImageVerifier, P: OtaPlatform, M: RawMutex, const NC: usize, const NN: usize> {
    agent: Agent<'a, V>,
    platform: P,
    channels: &'a OtaChannels<M, NC, NN>,
    read: &'a mut [u8],
    stats: TaskStatistics,
    link_up: bool,
    activate_at: Option<Instant>,
    report_at: Instant,
    report_period: Duration,
    #[cfg(feature = "http-reqwless")]
    http: crate::http::HttpState,
}

/// The transport type of a drain without a connection (never constructed).
enum Offline {}

impl embedded_io_async::ErrorType for Offline {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for Offline {
    async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> {
        match *self {}
    }
}

impl embedded_io_async::Write for Offline {
    async fn write(&mut self, _: &[u8]) -> Result<usize, Self::Error> {
        match *self {}
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        match *self {}
    }
}

/// What draining the agent's actions asked for.
#[derive(Clone, Copy)]
enum Drained {
    /// All done; the connection (if any) is fine.
    Idle,
    /// The connection broke during an MQTT action.
    Disconnected,
    /// The task must end.
    Exit(Exit),
}

impl<'a, V, P, C, M, const NC: usize, const NN: usize> OtaTask<'a, V, P, C, M, NC, NN, NoHttp>
where
    V: ImageVerifier,
    P: OtaPlatform,
    C: Connect,
    M: RawMutex,
{
    /// Builds the agent, the MQTT session and the task.
    ///
    /// # Errors
    /// [`SetupError`] when the agent refuses its configuration or buffers, when the MQTT
    /// buffers break the sizing rule (`ota_mqtt_minimq::sizing`), or when `read` is smaller
    /// than the block size.
    pub fn new(
        agent: AgentSetup<'a, V>,
        platform: P,
        connector: C,
        channels: &'a OtaChannels<M, NC, NN>,
        task_buffers: TaskBuffers<'a>,
        task_config: TaskConfig,
    ) -> Result<Self, SetupError> {
        let AgentSetup {
            config,
            buffers,
            verifier,
        } = agent;
        let job_len = buffers.job.len();
        if task_buffers.read.len() < config.block_size as usize {
            return Err(SetupError::ReadBuffer);
        }
        let agent = Agent::new(config, buffers, verifier).map_err(SetupError::Agent)?;
        let mqtt_config =
            ConfigBuilder::new(MqttBuffers::new(task_buffers.mqtt_rx, task_buffers.mqtt_tx))
                .client_id(config.thing_name)
                .map_err(|_| SetupError::ClientId)?
                .keepalive_interval(task_config.keepalive_secs);
        let session = Session::new(mqtt_config);
        let ota =
            OtaMqtt::for_session(&config, job_len, &session).map_err(SetupError::MqttBuffers)?;
        Ok(Self {
            core: Core {
                agent,
                platform,
                channels,
                read: task_buffers.read,
                stats: TaskStatistics::default(),
                link_up: false,
                activate_at: None,
                report_at: Instant::now() + task_config.report_period,
                report_period: task_config.report_period,
                #[cfg(feature = "http-reqwless")]
                http: crate::http::HttpState::new(),
            },
            connector,
            http: NoHttp,
            session,
            ota,
            backoff: Backoff::new(
                task_config.backoff_min,
                task_config.backoff_max,
                task_config.jitter_seed,
            ),
            cfg: task_config,
        })
    }

    /// Gives the task an HTTP executor (feature `http-reqwless`: an
    /// `ota_http_reqwless::HttpRunner`) for jobs that deliver over HTTP.
    pub fn with_http<H: HttpExec>(self, http: H) -> OtaTask<'a, V, P, C, M, NC, NN, H> {
        OtaTask {
            core: self.core,
            connector: self.connector,
            http,
            session: self.session,
            ota: self.ota,
            backoff: self.backoff,
            cfg: self.cfg,
        }
    }
}

impl<'a, V, P, C, M, const NC: usize, const NN: usize, H> OtaTask<'a, V, P, C, M, NC, NN, H>
where
    V: ImageVerifier,
    P: OtaPlatform,
    C: Connect,
    M: RawMutex,
    H: HttpExec,
{
    /// The agent's state (`OTA_GetState`).
    pub fn state(&self) -> State {
        self.core.agent.state()
    }

    /// The task's counters.
    pub fn statistics(&self) -> TaskStatistics {
        self.core.stats
    }

    /// Runs the agent until the device must reset, the application shuts it down, or the
    /// bootloader state is unreadable.
    ///
    /// 1. Reads the boot state and resume record, starts the agent, marks the link down
    ///    (the agent runs its timers, e.g. the self-test deadline, without a network).
    /// 2. Connects (DNS, TCP, MQTT) with exponential backoff and jitter between attempts,
    ///    serving commands and the agent's deadlines while it waits.
    /// 3. Connected: feeds `Input::Link(true)` (the agent re-subscribes and resumes), then
    ///    loops: drain the agent's actions (MQTT, flash, notifications), wait for a message, a
    ///    command or the next deadline. On a lost connection: `Input::Link(false)` (the agent
    ///    suspends) and back to 2.
    pub async fn run(&mut self) -> Exit {
        let Self {
            core,
            connector,
            http,
            session,
            ota,
            backoff,
            cfg,
        } = self;
        if let Err(e) = core.start(ota).await {
            return e;
        }
        loop {
            // Offline: one attempt, bounded in time.
            let attempt = with_timeout(cfg.connect_timeout, async {
                let io = match connector.connect().await {
                    Ok(io) => io,
                    Err(e) => {
                        log_connect_error("connection", &e);
                        return None;
                    }
                };
                match session.connect(io).await {
                    Ok(conn) => Some(conn),
                    Err(e) => {
                        log_connect_error("MQTT session", &e);
                        None
                    }
                }
            })
            .await;
            let mut conn = match attempt {
                Ok(Some(conn)) => conn,
                _ => {
                    core.stats.connect_failures = core.stats.connect_failures.saturating_add(1);
                    let delay = backoff.next_delay();
                    log_warn!(
                        "broker unreachable, next attempt in {} ms",
                        delay.as_millis()
                    );
                    if let Some(exit) = core.serve_offline(ota, Instant::now() + delay).await {
                        return exit;
                    }
                    continue;
                }
            };
            backoff.reset();
            core.stats.connects = core.stats.connects.saturating_add(1);
            log_info!("MQTT connected");
            if let Some(exit) = core.serve_online(ota, &mut conn, http).await {
                return exit;
            }
            // Lost: suspend the agent and reconnect.
            drop(conn);
            core.stats.disconnects = core.stats.disconnects.saturating_add(1);
            log_warn!("MQTT connection lost");
            if let Some(exit) = core.link_down(ota).await {
                return exit;
            }
        }
    }
}

impl<'a, V: ImageVerifier, P: OtaPlatform, M: RawMutex, const NC: usize, const NN: usize>
    Core<'a, V, P, M, NC, NN>
{
    /// Counts an MQTT message that is not the agent's.
    fn count_foreign(&mut self) {
        self.stats.foreign_messages = self.stats.foreign_messages.saturating_add(1);
    }

    fn handle(&mut self, input: Input<'_>) {
        if self.agent.handle(now(), input).is_err() {
            self.stats.usage_errors = self.stats.usage_errors.saturating_add(1);
            log_warn!("agent refused an input (task bug)");
        }
    }

    async fn start(&mut self, ota: &mut OtaMqtt<'a>) -> Result<(), Exit> {
        // The resume record is read into `read`; `Start` copies what it needs.
        let Ok(boot) = self.platform.boot_info(self.read).await else {
            log_warn!("bootloader state unreadable");
            return Err(Exit::BootState);
        };
        let r = self.agent.handle(now(), Input::Start(boot));
        if r.is_err() {
            self.stats.usage_errors = self.stats.usage_errors.saturating_add(1);
        }
        // Not connected yet: the agent suspends its requests until `Link(true)`.
        if let Some(down) = ota.disconnected() {
            self.handle(down);
        }
        match self.drain::<Offline>(ota, None).await {
            Drained::Exit(e) => Err(e),
            _ => Ok(()),
        }
    }

    async fn link_down(&mut self, ota: &mut OtaMqtt<'a>) -> Option<Exit> {
        self.link_up = false;
        self.notify(Notification::Link(false));
        if let Some(down) = ota.disconnected() {
            self.handle(down);
        }
        match self.drain::<Offline>(ota, None).await {
            Drained::Exit(e) => Some(e),
            _ => None,
        }
    }

    fn notify(&mut self, n: Notification) {
        if self.channels.notifications.try_send(n).is_err() {
            self.stats.notifications_dropped = self.stats.notifications_dropped.saturating_add(1);
        }
    }

    /// When the task must wake next: the agent's deadline, the report, a delayed activation.
    fn next_wake(&self) -> Instant {
        let mut at = self.report_at;
        if let Some(t) = self.agent.poll_timeout() {
            at = at.min(to_embassy(t));
        }
        if let Some(t) = self.activate_at {
            at = at.min(t);
        }
        at
    }

    /// Runs whatever is due at `Instant::now()`.
    fn on_wake(&mut self) {
        let t = Instant::now();
        if self.activate_at.is_some_and(|a| a <= t) {
            self.activate_at = None;
            self.handle(Input::Command(ota_core::Command::Activate));
        }
        if self
            .agent
            .poll_timeout()
            .is_some_and(|d| to_embassy(d) <= t)
        {
            self.agent.handle_timeout(now());
        }
        if self.report_at <= t {
            self.report_at = t + self.report_period;
            self.channels.report.signal(Report {
                uptime_ms: t.as_millis(),
                state: self.agent.state(),
                agent: self.agent.statistics(),
                task: self.stats,
                link_up: self.link_up,
            });
        }
    }

    /// Applies a command; `true` if it was `Shutdown`.
    fn command(&mut self, c: AppCommand) -> bool {
        match c {
            AppCommand::ActivateAfter(d) => {
                self.activate_at = Some(Instant::now() + d);
                false
            }
            other => {
                if other == AppCommand::Activate {
                    self.activate_at = None;
                }
                if let Some(core_cmd) = other.to_core() {
                    self.handle(Input::Command(core_cmd));
                }
                other == AppCommand::Shutdown
            }
        }
    }

    /// Serves commands and deadlines without a connection until `until`.
    async fn serve_offline(&mut self, ota: &mut OtaMqtt<'a>, until: Instant) -> Option<Exit> {
        loop {
            if let Drained::Exit(e) = self.drain::<Offline>(ota, None).await {
                return Some(e);
            }
            let wake = self.next_wake().min(until);
            match select(self.channels.commands.receive(), Timer::at(wake)).await {
                Either::First(c) => {
                    if self.command(c) {
                        let _ = self.drain::<Offline>(ota, None).await;
                        return Some(Exit::Shutdown);
                    }
                }
                Either::Second(()) => {
                    self.on_wake();
                    if Instant::now() >= until {
                        return None;
                    }
                }
            }
        }
    }

    /// Serves the connection until it breaks (`None`) or the task must end.
    async fn serve_online<IO, H: HttpExec>(
        &mut self,
        ota: &mut OtaMqtt<'a>,
        conn: &mut Connection<'_, '_, IO>,
        #[allow(unused_variables)] http: &mut H,
    ) -> Option<Exit>
    where
        IO: embedded_io_async::Read + embedded_io_async::Write,
    {
        self.link_up = true;
        self.notify(Notification::Link(true));
        if let Some(up) = ota.connected() {
            self.handle(up);
        }
        loop {
            match self.drain(ota, Some(conn)).await {
                Drained::Idle => {}
                Drained::Disconnected => return None,
                Drained::Exit(e) => return Some(e),
            }
            #[cfg(feature = "http-reqwless")]
            if let Some(req) = self.http.req.take() {
                self.http.cancelled = false;
                let mut link = http_link::CoreLink {
                    core: &mut *self,
                    ota: &mut *ota,
                    conn: &mut *conn,
                    req: Some(req),
                    end: None,
                };
                http.serve(&mut link).await;
                match link.end {
                    Some(Drained::Disconnected) => return None,
                    Some(Drained::Exit(e)) => return Some(e),
                    _ => continue,
                }
            }
            let wake = self.next_wake();
            let event = select3(
                ota.recv(conn),
                self.channels.commands.receive(),
                Timer::at(wake),
            )
            .await;
            match event {
                Either3::First(Ok(Received::Ota(input))) => {
                    if self.agent.handle(now(), input).is_err() {
                        self.stats.usage_errors = self.stats.usage_errors.saturating_add(1);
                    }
                }
                Either3::First(Ok(_)) => self.count_foreign(),
                Either3::First(Err(_)) => return None,
                Either3::Second(c) => {
                    if self.command(c) {
                        let _ = self.drain(ota, Some(conn)).await;
                        return Some(Exit::Shutdown);
                    }
                }
                Either3::Third(()) => self.on_wake(),
            }
        }
    }

    /// Executes every action the agent has, feeding answers back, until it has none.
    async fn drain<IO>(
        &mut self,
        ota: &mut OtaMqtt<'a>,
        mut conn: Option<&mut Connection<'_, '_, IO>>,
    ) -> Drained
    where
        IO: embedded_io_async::Read + embedded_io_async::Write,
    {
        let mut result = Drained::Idle;
        loop {
            let Self {
                agent,
                platform,
                read,
                stats,
                channels,
                #[cfg(feature = "http-reqwless")]
                http,
                ..
            } = self;
            let Some(action) = agent.poll() else {
                return result;
            };
            let outcome = match action {
                Action::Subscribe { .. } | Action::Unsubscribe { .. } | Action::Publish { .. } => {
                    match conn.as_deref_mut() {
                        Some(c) => match ota.execute(c, &action).await {
                            Ok(_) => {}
                            Err(ClientError::Disconnected) => {
                                stats.dropped_offline = stats.dropped_offline.saturating_add(1);
                                conn = None;
                                result = Drained::Disconnected;
                            }
                            Err(_) => stats.mqtt_errors = stats.mqtt_errors.saturating_add(1),
                        },
                        None => stats.dropped_offline = stats.dropped_offline.saturating_add(1),
                    }
                    continue;
                }
                Action::Notify(e) => {
                    let dropped = Notification::from_event(&e)
                        .is_some_and(|n| channels.notifications.try_send(n).is_err());
                    if dropped {
                        stats.notifications_dropped = stats.notifications_dropped.saturating_add(1);
                    }
                    continue;
                }
                #[cfg(feature = "http-reqwless")]
                Action::HttpGet { url, first, last } if http.stage(url, first, last) => {
                    // Served by the HTTP executor once the drain is done.
                    continue;
                }
                Action::HttpGet { .. } => {
                    // No HTTP executor (or a URL too long for it): the request fails; the
                    // agent retries and, after its retries, fails the job with a reason.
                    Outcome::NotPlatform
                }
                Action::HttpCancel => {
                    #[cfg(feature = "http-reqwless")]
                    http.cancel();
                    continue;
                }
                other => platform.execute(&other, read).await,
            };
            match outcome {
                Outcome::Reset => return Drained::Exit(Exit::Reset),
                Outcome::NotPlatform => {
                    let r = agent.handle(now(), Input::HttpFailed);
                    if r.is_err() {
                        stats.usage_errors = stats.usage_errors.saturating_add(1);
                    }
                }
                o => {
                    let refused = o.input().is_some_and(|i| agent.handle(now(), i).is_err());
                    if refused {
                        stats.usage_errors = stats.usage_errors.saturating_add(1);
                    }
                }
            }
        }
    }
}

/// The agent's side of an HTTP exchange: the request the agent staged, and every input fed
/// back through the task's usual drain.
#[cfg(feature = "http-reqwless")]
mod http_link {
    use super::{Core, Drained};
    use crate::platform::OtaPlatform;
    use crate::time::to_embassy;
    use embassy_futures::select::{Either, select};
    use embassy_sync::blocking_mutex::raw::RawMutex;
    use embassy_time::Timer;
    use minimq::Connection;
    use ota_core::Input;
    use ota_core::verify::ImageVerifier;
    use ota_http_reqwless::{Flow, RangeLink, RangeRequest};
    use ota_mqtt_minimq::{OtaMqtt, Received};

    pub(super) struct CoreLink<'c, 'a, 'x, 'y, V, P, M, IO, const NC: usize, const NN: usize>
    where
        V: ImageVerifier,
        P: OtaPlatform,
        M: RawMutex,
    {
        pub(super) core: &'c mut Core<'a, V, P, M, NC, NN>,
        pub(super) ota: &'c mut OtaMqtt<'a>,
        pub(super) conn: &'c mut Connection<'x, 'y, IO>,
        /// The one request this exchange serves.
        pub(super) req: Option<(u32, u32)>,
        /// How a drain during the exchange ended, when not idle.
        pub(super) end: Option<Drained>,
    }

    impl<V, P, M, IO, const NC: usize, const NN: usize> CoreLink<'_, '_, '_, '_, V, P, M, IO, NC, NN>
    where
        V: ImageVerifier,
        P: OtaPlatform,
        M: RawMutex,
        IO: embedded_io_async::Read + embedded_io_async::Write,
    {
        /// Handles what MQTT has ready now (without waiting for more); `false` when the link
        /// or the task ended meanwhile (`end` says how).
        async fn service_mqtt(&mut self) -> bool {
            loop {
                let ready = Timer::at(embassy_time::Instant::MIN);
                match select(self.ota.recv(self.conn), ready).await {
                    Either::First(Ok(Received::Ota(input))) => {
                        self.core.handle(input);
                        match self.core.drain(self.ota, Some(&mut *self.conn)).await {
                            Drained::Idle => {}
                            other => {
                                self.end = Some(other);
                                return false;
                            }
                        }
                    }
                    Either::First(Ok(_)) => self.core.count_foreign(),
                    Either::First(Err(_)) => {
                        self.end = Some(Drained::Disconnected);
                        return false;
                    }
                    Either::Second(()) => return true,
                }
            }
        }
    }

    impl<V, P, M, IO, const NC: usize, const NN: usize> RangeLink
        for CoreLink<'_, '_, '_, '_, V, P, M, IO, NC, NN>
    where
        V: ImageVerifier,
        P: OtaPlatform,
        M: RawMutex,
        IO: embedded_io_async::Read + embedded_io_async::Write,
    {
        async fn next_request(&mut self, url: &mut [u8]) -> Option<RangeRequest> {
            let (first, last) = match self.req.take() {
                Some(r) => r,
                // Keep-alive: the agent asks for its next range while it handles the end of
                // the previous one; serve it on the same connection, after MQTT had its turn
                // (keep-alive pings, a cancelled job). Nothing staged: the runner returns.
                None => {
                    if self.end.is_some() || !self.service_mqtt().await {
                        return None;
                    }
                    let r = self.core.http.req.take()?;
                    self.core.http.cancelled = false;
                    r
                }
            };
            let src = &self.core.http.url;
            match url.get_mut(..src.len()) {
                Some(dst) => {
                    dst.copy_from_slice(src);
                    Some(RangeRequest {
                        url_len: src.len(),
                        first,
                        last,
                    })
                }
                None => {
                    let _ = self.input(Input::HttpFailed).await;
                    None
                }
            }
        }

        async fn input<'i>(&mut self, input: Input<'i>) -> Flow {
            if self.end.is_some() || self.core.http.cancelled {
                return Flow::Cancel;
            }
            self.core.handle(input);
            match self.core.drain(self.ota, Some(&mut *self.conn)).await {
                Drained::Idle => {}
                other => {
                    self.end = Some(other);
                    return Flow::Cancel;
                }
            }
            if self.core.http.cancelled {
                Flow::Cancel
            } else {
                Flow::Continue
            }
        }

        async fn cancelled(&mut self) {
            if self.core.http.cancelled || self.end.is_some() {
                return;
            }
            // The agent's deadline (its request timeout, re-armed by every chunk) bounds the
            // exchange; the task handles the timeout once the runner has returned.
            match self.core.agent.poll_timeout() {
                Some(t) => Timer::at(to_embassy(t)).await,
                None => core::future::pending::<()>().await,
            }
        }
    }
}
