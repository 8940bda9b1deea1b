//! The run loop and connection manager on real loopback sockets: `ota_os_std::run` on
//! `ota-pal-flash`'s file-backed flash against ota-sim's MQTT endpoint and AWS model, through
//! a TCP proxy the test takes down and brings back (the broker going away).
//!
//! - reconnect with exponential backoff and jitter while the broker is away, backoff reset after
//!   a connection, the download resumed (Link(false)/Link(true) observed, the update completes,
//!   no restart from block 0);
//! - statistics once a second (the default interval), and at a custom interval during a
//!   download with the counters moving;
//! - an agent that stops is started again after the restart delay, and still updates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ota_cloud::{JobExecutionStatus, Protocol, SigningKey};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{Command, Event, State, Statistics, Version};
use ota_os_std::{Application, Broker, ConnectError, Exit, LinkStats, Settings};
use ota_pal_flash::host::{SimDevice, SimDeviceConfig};
use ota_sim::cloud::{self, JobSpec, SharedCloud, Signature};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const BLOCK: u32 = 1024;
const THING: &str = "loop-dev";

/// A TCP proxy to the broker that can go away (listener closed, every connection cut) and
/// come back on the same port.
struct Proxy {
    port: u16,
    upstream: SocketAddr,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    outages: AtomicU32,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Arc<Self> {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p = Arc::new(Self {
            port: l.local_addr().unwrap().port(),
            upstream,
            tasks: Mutex::new(Vec::new()),
            conns: Arc::new(Mutex::new(Vec::new())),
            outages: AtomicU32::new(0),
        });
        p.serve(l);
        p
    }

    fn serve(&self, l: TcpListener) {
        let (upstream, conns) = (self.upstream, self.conns.clone());
        let t = tokio::spawn(async move {
            while let Ok((mut a, _)) = l.accept().await {
                let c = tokio::spawn(async move {
                    if let Ok(mut b) = TcpStream::connect(upstream).await {
                        let _ = a.set_nodelay(true);
                        let _ = b.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                    }
                });
                conns.lock().unwrap().push(c);
            }
        });
        self.tasks.lock().unwrap().push(t);
    }

    /// The broker goes away: no listener, every connection closed.
    fn down(&self) {
        self.outages.fetch_add(1, Relaxed);
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// The broker comes back on the same port.
    async fn up(&self) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(l);
    }
}

/// The AWS side: ota-sim's endpoint and the ota-cloud model as its MQTT client.
struct Aws {
    broker: ota_sim::broker::Broker,
    cloud: SharedCloud,
    kick: tokio::sync::mpsc::UnboundedSender<()>,
    key: SigningKey,
}

impl Aws {
    async fn start() -> Self {
        let broker = ota_sim::broker::Broker::start(([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let cloud = cloud::new_cloud(None, 5);
        let (kick, kick_rx) = tokio::sync::mpsc::unbounded_channel();
        let ready = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(cloud::run_mqtt(
            "127.0.0.1".into(),
            broker.addr().port(),
            cloud.clone(),
            kick_rx,
            Arc::new(cloud::LinkCounters::default()),
            Some(ready.clone()),
        ));
        tokio::time::timeout(Duration::from_secs(10), ready.notified())
            .await
            .expect("the cloud connects");
        Self {
            broker,
            cloud,
            kick,
            key: SigningKey::from_seed(77),
        }
    }

    fn job(&self, id: &str, image: Vec<u8>) {
        let spec = JobSpec {
            job_id: id.into(),
            targets: vec![THING.into()],
            image,
            protocols: vec![Protocol::Mqtt],
            signature: Signature::Key(self.key.clone()),
            certfile: None,
            presign_expiry_s: None,
        };
        cloud::create_job(&mut cloud::lock(&self.cloud), &spec).unwrap();
        let _ = self.kick.send(());
    }

    fn status(&self, job: &str) -> Option<JobExecutionStatus> {
        cloud::lock(&self.cloud).execution_status(THING, job)
    }

    fn blocks_served(&self) -> usize {
        cloud::lock(&self.cloud)
            .stream_log()
            .iter()
            .map(|r| r.blocks.len())
            .sum()
    }

    async fn wait_status(&self, job: &str, want: JobExecutionStatus, secs: u64) {
        let t0 = Instant::now();
        while self.status(job) != Some(want) {
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "job {job}: {:?}, expected {want:?}",
                self.status(job)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// What the application saw.
#[derive(Default)]
struct Seen {
    links: Vec<(Instant, bool)>,
    failures: Vec<Duration>,
    stats: Vec<(Instant, State, Statistics)>,
    link_stats: Vec<LinkStats>,
    no_job: Vec<Instant>,
    progress: u32,
    accepted: bool,
    exits: Vec<Exit>,
}

type OnProgress = Box<dyn FnMut(u32) + Send>;

struct App {
    seen: Arc<Mutex<Seen>>,
    /// Shut the agent down at the first NoActiveJob.
    stop_once: bool,
    on_progress: Option<OnProgress>,
}

impl Application for App {
    fn event(&mut self, event: &Event<'_>) -> Option<Command> {
        let mut s = self.seen.lock().unwrap();
        match event {
            Event::StartSelfTest { .. } => return Some(Command::Accept),
            Event::ReadyToActivate { .. } => return Some(Command::Activate),
            Event::Accepted { .. } => s.accepted = true,
            Event::Progress { blocks_done, .. } => {
                s.progress = *blocks_done;
                drop(s);
                if let Some(f) = self.on_progress.as_mut() {
                    f(*blocks_done);
                }
            }
            Event::NoActiveJob => {
                s.no_job.push(Instant::now());
                if std::mem::take(&mut self.stop_once) {
                    return Some(Command::Shutdown);
                }
            }
            _ => {}
        }
        None
    }
    fn statistics(&mut self, state: State, stats: &Statistics) {
        self.seen
            .lock()
            .unwrap()
            .stats
            .push((Instant::now(), state, *stats));
    }
    fn link_statistics(&mut self, stats: &LinkStats) {
        self.seen.lock().unwrap().link_stats.push(*stats);
    }
    fn link(&mut self, up: bool) {
        self.seen.lock().unwrap().links.push((Instant::now(), up));
    }
    fn connect_failed(&mut self, _error: &ConnectError, retry_in: Duration) {
        self.seen.lock().unwrap().failures.push(retry_in);
    }
}

fn state_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ota-os-std-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The device: power on, run one boot with the version of the image it runs, power-cycle on
/// every exit; runs until the task is aborted.
fn spawn_device(
    dir: PathBuf,
    settings: Settings,
    key: p256::ecdsa::VerifyingKey,
    mut app: App,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let dev = SimDevice::open(&dir, SimDeviceConfig::new(64 << 10, 16 << 10)).unwrap();
        dev.install_factory(&[0x11; 4096]).unwrap();
        let keys = [TrustedKey { name: None, key }];
        let mut version = Version::new(1, 0, 0);
        loop {
            let (_booted, mut platform) = dev.power_on().unwrap();
            let mut config = ota_core::Config::new(THING, version);
            config.block_size = BLOCK;
            config.blocks_per_request = 1;
            config.status_every = 8;
            config.request_timeout = ota_core::Duration::from_millis(1000);
            let exit = ota_os_std::run(
                &settings,
                config,
                P256Verifier::new(&keys),
                &mut platform,
                None,
                &mut app,
            )
            .await
            .unwrap();
            app.seen.lock().unwrap().exits.push(exit);
            // The new image runs after the first reset (the test's jobs carry 1.1.0).
            version = Version::new(1, 1, 0);
        }
    })
}

fn settings(port: u16) -> Settings {
    let mut s = Settings::new(Broker::tcp("127.0.0.1", port));
    s.backoff_initial = Duration::from_millis(50);
    s.backoff_max = Duration::from_millis(400);
    s.connect_timeout = Duration::from_secs(2);
    s
}

/// An image with a 1.1.0 header the way ota-sim builds them (any bytes would do here).
fn image(blocks: usize) -> Vec<u8> {
    ota_sim::image::build(
        Version::new(1, 1, 0),
        ota_sim::image::Behaviour::Ok,
        blocks * BLOCK as usize,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_with_backoff_when_the_broker_goes_away_and_resumes_the_download() {
    let aws = Aws::start().await;
    let proxy = Proxy::start(aws.broker.addr()).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    // The broker goes away twice mid-download (after blocks 8 and 24), for 400 ms each.
    let p = proxy.clone();
    let on_progress: OnProgress = Box::new(move |done| {
        if done == 8 || done == 24 {
            p.down();
            let p = p.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(400)).await;
                p.up().await;
            });
        }
    });
    let app = App {
        seen: seen.clone(),
        stop_once: false,
        on_progress: Some(on_progress),
    };
    let total = 48;
    aws.job("j1", image(total));
    let mut s = settings(proxy.port);
    s.stats_interval = Duration::from_millis(20);
    let dev = spawn_device(
        state_dir("reconnect"),
        s,
        ota_sim::verifying_key(&aws.key),
        app,
    );
    aws.wait_status("j1", JobExecutionStatus::Succeeded, 30)
        .await;
    dev.abort();

    assert_eq!(proxy.outages.load(Relaxed), 2);
    let s = seen.lock().unwrap();
    assert!(s.accepted);
    assert_eq!(s.exits, [Exit::Reset], "one reset: the activation");
    // Link(true), then per outage Link(false) and Link(true) again, then the reboot's.
    let ups: Vec<bool> = s.links.iter().map(|(_, up)| *up).collect();
    assert_eq!(
        ups,
        [true, false, true, false, true, true],
        "link changes: {ups:?}"
    );
    // Backoff: after a loss the loop waits ~50 ms, then each failed attempt doubles the
    // nominal delay (100, 200, 400 capped) with jitter in [d/2, d]; a connection resets it,
    // so both outages start again at 100 ms.
    assert!(s.failures.len() >= 4, "failed attempts: {:?}", s.failures);
    let mut nominal = 100u64;
    let mut runs = 0;
    for d in &s.failures {
        let ms = d.as_secs_f64() * 1000.0;
        if ms <= 100.0 && nominal > 100 {
            nominal = 100; // the next outage
        }
        if nominal == 100 {
            runs += 1;
        }
        assert!(
            ms >= nominal as f64 / 2.0 - 1.0 && ms <= nominal as f64 + 1.0,
            "delay {ms:.1} ms outside [{}/2, {}]: {:?}",
            nominal,
            nominal,
            s.failures
        );
        nominal = (nominal * 2).min(400);
    }
    assert_eq!(runs, 2, "backoff reset between outages: {:?}", s.failures);
    // Both outages happened while the download was running, each lasted ≥ 400 ms.
    let downs: Vec<Instant> = s
        .links
        .iter()
        .filter(|(_, up)| !*up)
        .map(|(t, _)| *t)
        .collect();
    for d in &downs {
        let back = s.links.iter().find(|(t, up)| *up && t > d).unwrap().0;
        assert!(back - *d >= Duration::from_millis(380), "{:?}", back - *d);
    }
    // Resumed, not restarted: every block once, plus at most a request in flight per outage.
    let served = aws.blocks_served();
    assert!(
        (total..=total + 2 * 2).contains(&served),
        "{served} blocks served for {total}"
    );
    // The loop's own counters, reported with the statistics: after the first outage, two
    // connections, one loss and the failed attempts.
    assert!(
        s.link_stats
            .iter()
            .any(|l| l.connects >= 2 && l.losses >= 1 && l.failed_attempts >= 2),
        "{:?}",
        s.link_stats
    );
    // Statistics during the download (every 20 ms): the processed counter moves up, never
    // past the file.
    let processed: Vec<u32> = s.stats.iter().map(|(_, _, st)| st.processed).collect();
    let mut distinct = processed.clone();
    distinct.dedup();
    assert!(
        distinct.iter().filter(|p| **p > 0).count() >= 2,
        "processed over time: {processed:?}"
    );
    assert!(processed.iter().all(|p| *p <= total as u32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_are_reported_once_a_second() {
    let aws = Aws::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = App {
        seen: seen.clone(),
        stop_once: false,
        on_progress: None,
    };
    let s = settings(aws.broker.addr().port());
    assert_eq!(s.stats_interval, Duration::from_secs(1), "the default");
    let t0 = Instant::now();
    let dev = spawn_device(state_dir("stats"), s, ota_sim::verifying_key(&aws.key), app);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    dev.abort();
    let s = seen.lock().unwrap();
    let times: Vec<Duration> = s.stats.iter().map(|(t, ..)| *t - t0).collect();
    assert!(
        (2..=3).contains(&times.len()),
        "about three reports in 3.5 s: {times:?}"
    );
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(950) && gap <= Duration::from_millis(1300),
            "{times:?}"
        );
    }
    // Idle with no job: waiting, nothing downloaded.
    let (_, state, st) = s.stats.last().unwrap();
    assert_eq!(*state, State::WaitingForJob);
    assert_eq!((st.received, st.processed), (0, 0), "{st:?}");
    let ls = s.link_stats.last().unwrap();
    assert_eq!((ls.connects, ls.losses, ls.failed_attempts), (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_agent_is_started_again_after_the_restart_delay() {
    let aws = Aws::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = App {
        seen: seen.clone(),
        stop_once: true,
        on_progress: None,
    };
    let mut s = settings(aws.broker.addr().port());
    s.restart_delay = Duration::from_millis(300);
    s.stats_interval = Duration::from_millis(50);
    let dev = spawn_device(
        state_dir("restart"),
        s,
        ota_sim::verifying_key(&aws.key),
        app,
    );
    let t0 = Instant::now();
    while seen.lock().unwrap().no_job.len() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(10), "no restart");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    {
        let s = seen.lock().unwrap();
        let gap = s.no_job[1] - s.no_job[0];
        assert!(
            gap >= Duration::from_millis(300) && gap < Duration::from_secs(2),
            "restarted after {gap:?}"
        );
        assert!(
            s.stats.iter().any(|(_, st, _)| *st == State::Stopped),
            "the agent was seen stopped"
        );
        assert_eq!(s.links.len(), 1, "the connection stayed up");
    }
    // The restarted agent takes an update.
    aws.job("j1", image(8));
    aws.wait_status("j1", JobExecutionStatus::Succeeded, 20)
        .await;
    dev.abort();
    assert!(seen.lock().unwrap().accepted);
}
