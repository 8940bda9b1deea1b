//! The agent's run loop and connection manager: one boot of the device, from power-on to the
//! reset the agent (or the trial watchdog) asks for.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use minimq::{ConfigBuilder, Session};
use ota_core::verify::ImageVerifier;
use ota_core::{
    Action, Agent, BootInfo, Buffers, Command, ConfigError, Event, ImageState, Input, Instant,
    PalError, PlatformImageState, State, Statistics, UsageError,
};
use ota_mqtt_minimq::{ClientError, OtaMqtt, Received, SizingError};
use ota_pal_flash::Outcome;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::http::{HttpBackend, HttpMsg, HttpRequest};
use crate::tls::Tls;

/// The platform (flash and bootloader) the agent's file and image actions run on:
/// implemented for `ota_pal_flash::Platform`.
pub trait Pal {
    /// [`ota_pal_flash::Platform::boot_info`].
    fn boot_info<'b>(&mut self, record_buf: &'b mut [u8]) -> Result<BootInfo<'b>, PalError>;
    /// [`ota_pal_flash::Platform::execute`].
    fn execute<'b>(&mut self, action: &Action<'_>, read_buf: &'b mut [u8]) -> Outcome<'b>;
    /// Bytes of the download slot.
    fn slot_capacity(&self) -> u32;
    /// The largest resume record the platform stores.
    fn max_record_len(&self) -> usize;
}

impl<S, J, B, const SW: usize, const JN: usize> Pal for ota_pal_flash::Platform<S, J, B, SW, JN>
where
    S: embedded_storage::nor_flash::NorFlash,
    J: embedded_storage::nor_flash::NorFlash,
    B: ota_pal_flash::BootControl,
{
    fn boot_info<'b>(&mut self, record_buf: &'b mut [u8]) -> Result<BootInfo<'b>, PalError> {
        ota_pal_flash::Platform::boot_info(self, record_buf)
    }
    fn execute<'b>(&mut self, action: &Action<'_>, read_buf: &'b mut [u8]) -> Outcome<'b> {
        ota_pal_flash::Platform::execute(self, action, read_buf)
    }
    fn slot_capacity(&self) -> u32 {
        ota_pal_flash::Platform::slot_capacity(self)
    }
    fn max_record_len(&self) -> usize {
        ota_pal_flash::Platform::max_record_len(self)
    }
}

/// The application around the agent: answers its events, sees its statistics.
///
/// The defaults accept a new image as soon as its self-test starts (the application has
/// nothing else to test) and ignore everything else.
pub trait Application {
    /// An event of the agent; the command returned is handed to the agent right after.
    fn event(&mut self, event: &Event<'_>) -> Option<Command> {
        match event {
            Event::StartSelfTest { .. } => Some(Command::Accept),
            _ => None,
        }
    }
    /// Called every [`Settings::stats_interval`] with the agent's state and counters.
    fn statistics(&mut self, state: State, stats: &Statistics) {
        let _ = (state, stats);
    }
    /// Called with [`Application::statistics`]: the run loop's connection counters.
    fn link_statistics(&mut self, stats: &LinkStats) {
        let _ = stats;
    }
    /// The MQTT connection came up (`true`) or went down (`false`).
    fn link(&mut self, up: bool) {
        let _ = up;
    }
    /// A connection attempt failed; the next one starts after `retry_in`.
    fn connect_failed(&mut self, error: &ConnectError, retry_in: Duration) {
        let _ = (error, retry_in);
    }
}

/// Why an attempt to connect to the broker failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// TCP connect or TLS handshake (a refused or unknown certificate shows here or, with
    /// TLS 1.3, as an alert during the MQTT CONNECT).
    Transport(std::io::Error),
    /// The MQTT CONNECT failed: refused by the broker, or the connection broke during it.
    Mqtt(String),
    /// No CONNACK within [`Settings::connect_timeout`].
    Timeout,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Transport(e) => write!(f, "transport: {e}"),
            ConnectError::Mqtt(e) => write!(f, "MQTT CONNECT: {e}"),
            ConnectError::Timeout => f.write_str("no CONNACK in time"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// The default [`Application`]: accept on self-test, log statistics.
#[derive(Debug, Default, Clone, Copy)]
pub struct AutoAccept;

impl Application for AutoAccept {
    fn connect_failed(&mut self, error: &ConnectError, retry_in: Duration) {
        log::warn!("connecting to the broker: {error}; retrying in {retry_in:?}");
    }
    fn statistics(&mut self, state: State, s: &Statistics) {
        log::info!(
            "state {state}: received {} queued {} processed {} dropped {}",
            s.received,
            s.queued,
            s.processed,
            s.dropped
        );
    }
}

/// Where the broker is.
#[derive(Debug, Clone)]
pub struct Broker {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Mutual TLS, or plain TCP when `None`.
    pub tls: Option<Tls>,
}

impl Broker {
    /// A plain-TCP broker.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            tls: None,
        }
    }
}

/// Settings of the run loop (the agent's own are its [`ota_core::Config`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// The broker.
    pub broker: Broker,
    /// MQTT client id; the thing name when `None` (AWS IoT's policy default).
    pub client_id: Option<String>,
    /// MQTT keep-alive in seconds (0: none).
    pub keepalive_s: u16,
    /// Time allowed for TCP + TLS + MQTT CONNECT.
    pub connect_timeout: Duration,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// How often [`Application::statistics`] is called.
    pub stats_interval: Duration,
    /// Wait before starting the agent again after it stopped.
    pub restart_delay: Duration,
    /// When the device boots an image on trial (`PendingCommit`) and it is not committed
    /// within this time, connected or not, the run ends with [`Exit::TrialWatchdog`]: reset,
    /// and the bootloader reverts. `None`: only the agent's own self-test timer applies (it
    /// needs the network).
    pub trial_watchdog: Option<Duration>,
    /// Size of the job-document buffer (AWS allows 32 KB; OTA documents are ~1–2 KB a file).
    pub job_buffer: usize,
    /// Size of the presigned-URL buffer.
    pub url_buffer: usize,
}

impl Settings {
    /// Defaults for `broker`: keep-alive 30 s, connect timeout 10 s, backoff 0.5 s … 30 s,
    /// statistics every second, restart after 5 s, no trial watchdog, 8 KB job buffer.
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            client_id: None,
            keepalive_s: 30,
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            stats_interval: Duration::from_secs(1),
            restart_delay: Duration::from_secs(5),
            trial_watchdog: None,
            job_buffer: 8 * 1024,
            url_buffer: 2048,
        }
    }
}

/// Why a boot ended: in both cases the device resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// The agent asked for it (`Activate` or `Reset`).
    Reset,
    /// The image on trial was not committed in time ([`Settings::trial_watchdog`]).
    TrialWatchdog,
}

/// What stops the run loop before a reset: configuration mistakes and broken platforms.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The agent refused its configuration or buffers.
    Config(ConfigError),
    /// The MQTT buffers do not fit the agent's block size.
    Sizing(SizingError),
    /// The MQTT client id is not usable.
    ClientId,
    /// The platform could not report the boot state.
    Platform(PalError),
    /// The loop broke the agent's contract (a bug).
    Usage(UsageError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Config(e) => write!(f, "agent configuration: {e}"),
            RunError::Sizing(e) => write!(f, "MQTT buffer sizing: {e:?}"),
            RunError::ClientId => f.write_str("MQTT client id too long or invalid"),
            RunError::Platform(e) => write!(f, "platform: {e}"),
            RunError::Usage(e) => write!(f, "agent usage: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<UsageError> for RunError {
    fn from(e: UsageError) -> Self {
        RunError::Usage(e)
    }
}

/// A byte stream to the broker (TCP or TLS).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

type Io = FromTokio<Box<dyn Stream>>;

/// Opens the transport to the broker: TCP (no Nagle) and, when configured, TLS.
///
/// # Errors
/// I/O and TLS handshake errors.
pub async fn open_stream(broker: &Broker) -> std::io::Result<Box<dyn Stream>> {
    let tcp = TcpStream::connect((broker.host.as_str(), broker.port)).await?;
    tcp.set_nodelay(true)?;
    Ok(match &broker.tls {
        None => Box::new(tcp),
        Some(tls) => Box::new(tls.connector.connect(tls.server_name.clone(), tcp).await?),
    })
}

/// Counters of the run loop itself.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Successful MQTT connections.
    pub connects: u32,
    /// Failed connection attempts.
    pub failed_attempts: u32,
    /// Connections lost.
    pub losses: u32,
}

struct Loop<'x, P: Pal, A: Application> {
    pal: &'x mut P,
    app: &'x mut A,
    http: Option<Arc<dyn HttpBackend>>,
    http_tx: mpsc::Sender<HttpMsg>,
    http_task: Option<(u64, tokio::task::JoinHandle<()>)>,
    http_seq: u64,
    commands: Vec<Command>,
    read_buf: Vec<u8>,
    exit: Option<Exit>,
    committed: bool,
    t0: std::time::Instant,
    stats: LinkStats,
}

impl<P: Pal, A: Application> Loop<'_, P, A> {
    fn now(&self) -> Instant {
        Instant::from_millis(self.t0.elapsed().as_millis() as u64)
    }

    fn cancel_http(&mut self) {
        if let Some((_, task)) = self.http_task.take() {
            task.abort();
        }
    }

    /// Drains the agent, executing every action. MQTT actions go to `conn` (dropped while
    /// there is none). Returns `Err` when the connection broke.
    async fn drain<V: ImageVerifier, C: ota_mqtt_minimq::MqttClient>(
        &mut self,
        agent: &mut Agent<'_, V>,
        ota: &mut OtaMqtt<'_>,
        mut conn: Option<&mut C>,
    ) -> Result<(), RunError> {
        let mut lost = false;
        let max_chunk = agent.max_body_chunk();
        loop {
            while let Some(action) = agent.poll() {
                match action {
                    Action::Subscribe { .. }
                    | Action::Unsubscribe { .. }
                    | Action::Publish { .. } => {
                        if let Some(c) = conn.as_mut().filter(|_| !lost)
                            && let Err(ClientError::Disconnected) =
                                ota.execute(&mut **c, &action).await
                        {
                            lost = true;
                        }
                    }
                    Action::HttpGet { url, first, last } => {
                        self.cancel_http();
                        self.http_seq += 1;
                        let req = HttpRequest {
                            id: self.http_seq,
                            url: url.to_string(),
                            first,
                            last,
                            max_chunk,
                        };
                        match &self.http {
                            Some(h) => {
                                let fut = h.fetch(req, self.http_tx.clone());
                                self.http_task = Some((self.http_seq, tokio::spawn(fut)));
                            }
                            None => {
                                let _ = self.http_tx.try_send(HttpMsg::Failed { id: req.id });
                                self.http_task = Some((self.http_seq, tokio::spawn(async {})));
                            }
                        }
                    }
                    Action::HttpCancel => self.cancel_http(),
                    Action::Notify(event) => {
                        if let Event::Accepted { .. } = event {
                            self.committed = true;
                        }
                        if let Some(c) = self.app.event(&event) {
                            self.commands.push(c);
                        }
                    }
                    other => {
                        if let Action::SetImageState(ImageState::Accepted) = other {
                            self.committed = true;
                        }
                        let outcome = self.pal.execute(&other, &mut self.read_buf);
                        match outcome {
                            Outcome::Reset => {
                                self.exit = Some(Exit::Reset);
                                return Ok(());
                            }
                            o => {
                                if let Some(input) = o.input() {
                                    let now =
                                        Instant::from_millis(self.t0.elapsed().as_millis() as u64);
                                    agent.handle(now, input)?;
                                }
                            }
                        }
                    }
                }
            }
            if self.commands.is_empty() {
                break;
            }
            let now = self.now();
            for c in std::mem::take(&mut self.commands) {
                agent.handle(now, Input::Command(c))?;
            }
        }
        // A lost connection shows in its own state (`is_connected`); the agent retries what
        // was not sent once the link is back.
        Ok(())
    }
}

/// Runs one boot of the device: connects to the broker (reconnecting with backoff and
/// jitter), starts the agent with what `pal` reports about the boot, and executes its actions
/// until it asks for a reset (or the trial watchdog fires). Cancel the future to stop.
///
/// `config` is the agent's configuration (its version is the running image's); `verifier`
/// checks signatures; `http` executes range requests (without one, HTTP jobs fail).
///
/// # Errors
/// [`RunError`] for configuration mistakes and an unreadable boot state; network and update
/// failures are not errors (the loop reconnects, the agent reports failed jobs).
pub async fn run<P: Pal, V: ImageVerifier, A: Application>(
    settings: &Settings,
    config: ota_core::Config<'_>,
    verifier: V,
    pal: &mut P,
    http: Option<Arc<dyn HttpBackend>>,
    app: &mut A,
) -> Result<Exit, RunError> {
    let t0 = std::time::Instant::now();
    let block_size = config.block_size as usize;
    let blocks = pal.slot_capacity().div_ceil(config.block_size.max(1));
    let bitmap_len = (blocks as usize).div_ceil(8).max(1);
    let record_len = ota_core::resume::max_record_len(bitmap_len).max(pal.max_record_len());
    let mut block = vec![0u8; block_size.max(record_len)];
    let mut job = vec![0u8; settings.job_buffer.max(512)];
    let mut bitmap = vec![0u8; bitmap_len];
    let mut url = vec![0u8; settings.url_buffer];
    let buffers = Buffers {
        block: &mut block,
        job: &mut job,
        bitmap: &mut bitmap,
        url: &mut url,
    };
    let mut agent = Agent::new(config, buffers, verifier).map_err(RunError::Config)?;

    let rx_len = (block_size + 1024).max(settings.job_buffer + 4096);
    let (mut rx, mut tx) = (vec![0u8; rx_len], vec![0u8; 8 * 1024]);
    let client_id = settings.client_id.as_deref().unwrap_or(config.thing_name);
    let mqtt_config = ConfigBuilder::new(minimq::Buffers::new(&mut rx, &mut tx))
        .client_id(client_id)
        .map_err(|_| RunError::ClientId)?
        .keepalive_interval(settings.keepalive_s);
    let mut session = Session::new(mqtt_config);
    let mut ota =
        OtaMqtt::for_session(&config, settings.job_buffer, &session).map_err(RunError::Sizing)?;

    let (http_tx, mut http_rx) = mpsc::channel::<HttpMsg>(64);
    let mut lp = Loop {
        pal,
        app,
        http,
        http_tx,
        http_task: None,
        http_seq: 0,
        commands: Vec::new(),
        read_buf: vec![0u8; block_size.max(4096)],
        exit: None,
        committed: false,
        t0,
        stats: LinkStats::default(),
    };

    // The boot state, read once; the record is kept for restarts of a stopped agent.
    let mut record = vec![0u8; record_len.max(64)];
    let (platform_state, resume) = {
        let info = lp.pal.boot_info(&mut record).map_err(RunError::Platform)?;
        (info.platform_state, info.resume.map(<[u8]>::to_vec))
    };
    let watchdog = match (platform_state, settings.trial_watchdog) {
        (PlatformImageState::PendingCommit, Some(d)) => Some(tokio::time::Instant::now() + d),
        _ => None,
    };
    let mut started = false;
    let mut restart_at: Option<tokio::time::Instant> = None;
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    let mut next_stats = tokio::time::Instant::now() + settings.stats_interval;
    let watchdog_due = |lp: &Loop<'_, P, A>| {
        !lp.committed && watchdog.is_some_and(|w| tokio::time::Instant::now() >= w)
    };

    loop {
        // Connect.
        let attempt = async {
            let stream = open_stream(&settings.broker)
                .await
                .map_err(ConnectError::Transport)?;
            session
                .connect(FromTokio::new(stream))
                .await
                .map_err(|e| ConnectError::Mqtt(e.to_string()))
        };
        let conn = tokio::select! {
            c = tokio::time::timeout(settings.connect_timeout, attempt) => {
                c.unwrap_or(Err(ConnectError::Timeout)).map_err(Some)
            }
            _ = sleep_until_opt(watchdog.filter(|_| !lp.committed)) => Err(None),
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(error) => {
                if watchdog_due(&lp) {
                    lp.cancel_http();
                    return Ok(Exit::TrialWatchdog);
                }
                let delay = backoff.next_delay();
                if let Some(e) = &error {
                    log::debug!("connect failed: {e}; retrying in {delay:?}");
                    lp.stats.failed_attempts = lp.stats.failed_attempts.saturating_add(1);
                    lp.app.connect_failed(e, delay);
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = sleep_until_opt(watchdog.filter(|_| !lp.committed)) => {}
                }
                continue;
            }
        };
        let _: &mut minimq::Connection<'_, '_, Io> = &mut conn;
        backoff.reset();
        lp.stats.connects = lp.stats.connects.saturating_add(1);
        lp.app.link(true);
        if !started {
            started = true;
            let boot = BootInfo {
                platform_state,
                resume: resume.as_deref(),
            };
            agent.handle(lp.now(), Input::Start(boot))?;
        } else if let Some(up) = ota.connected() {
            agent.handle(lp.now(), up)?;
        }

        // Serve the connection.
        'connected: loop {
            lp.drain(&mut agent, &mut ota, Some(&mut conn)).await?;
            if let Some(exit) = lp.exit {
                lp.cancel_http();
                return Ok(exit);
            }
            if !conn.is_connected() {
                break 'connected;
            }
            if agent.state() == State::Stopped && restart_at.is_none() {
                restart_at = Some(tokio::time::Instant::now() + settings.restart_delay);
            }
            let now_t = tokio::time::Instant::now();
            let mut wake = next_stats;
            if let Some(t) = agent.poll_timeout() {
                let ms = t.as_millis().saturating_sub(lp.now().as_millis());
                wake = wake.min(now_t + Duration::from_millis(ms));
            }
            if let Some(r) = restart_at {
                wake = wake.min(r);
            }
            if let Some(w) = watchdog.filter(|_| !lp.committed) {
                wake = wake.min(w);
            }
            tokio::select! {
                r = ota.recv(&mut conn) => match r {
                    Ok(Received::Ota(input)) => agent.handle(lp.now(), input)?,
                    Ok(_) => {}
                    Err(_) => break 'connected,
                },
                Some(msg) = http_rx.recv() => {
                    feed_http(&mut agent, &lp, msg)?;
                    // The chunks already waiting go in now, each after the previous one's
                    // write, without a turn through `select!` (which re-creates the MQTT
                    // read and its keep-alive deadline) per chunk.
                    while lp.exit.is_none() && conn.is_connected() {
                        lp.drain(&mut agent, &mut ota, Some(&mut conn)).await?;
                        match http_rx.try_recv() {
                            Ok(msg) => feed_http(&mut agent, &lp, msg)?,
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            agent.handle_timeout(lp.now());
            let now_t = tokio::time::Instant::now();
            if now_t >= next_stats {
                next_stats = now_t + settings.stats_interval;
                lp.app.statistics(agent.state(), &agent.statistics());
                lp.app.link_statistics(&lp.stats);
            }
            if restart_at.is_some_and(|r| now_t >= r) {
                restart_at = None;
                if agent.state() == State::Stopped {
                    let boot = BootInfo {
                        platform_state,
                        resume: resume.as_deref(),
                    };
                    agent.handle(lp.now(), Input::Start(boot))?;
                }
            }
            if watchdog_due(&lp) {
                lp.cancel_http();
                return Ok(Exit::TrialWatchdog);
            }
        }
        drop(conn);
        lp.stats.losses = lp.stats.losses.saturating_add(1);
        lp.app.link(false);
        if let Some(down) = ota.disconnected() {
            agent.handle(lp.now(), down)?;
            lp.drain::<V, minimq::Connection<'_, '_, Io>>(&mut agent, &mut ota, None)
                .await?;
            if let Some(exit) = lp.exit {
                lp.cancel_http();
                return Ok(exit);
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = sleep_until_opt(watchdog.filter(|_| !lp.committed)) => {}
        }
        if watchdog_due(&lp) {
            lp.cancel_http();
            return Ok(Exit::TrialWatchdog);
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn feed_http<V: ImageVerifier, P: Pal, A: Application>(
    agent: &mut Agent<'_, V>,
    lp: &Loop<'_, P, A>,
    msg: HttpMsg,
) -> Result<(), RunError> {
    if lp.http_task.as_ref().map(|(id, _)| *id) != Some(msg.id()) {
        return Ok(()); // a cancelled request's leftovers
    }
    let now = lp.now();
    match msg {
        HttpMsg::Response {
            status,
            content_range,
            ..
        } => agent.handle(
            now,
            Input::HttpResponse {
                status,
                content_range,
            },
        )?,
        HttpMsg::Body { data, .. } => agent.handle(now, Input::HttpBody(&data))?,
        HttpMsg::Done { .. } => agent.handle(now, Input::HttpDone)?,
        HttpMsg::Failed { .. } => agent.handle(now, Input::HttpFailed)?,
    }
    Ok(())
}
