//! `ota-sim fleet`: N simulated devices in one process updating from one endpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use ota_cloud::{JobExecutionStatus, Protocol, SigningKey};
use ota_core::Version;

use crate::broker::Broker;
use crate::cloud::{self, JobSpec, Signature};
use crate::device::{self, DeviceOptions, Observer, Trust};
use crate::image::{self, Behaviour};

/// `ota-sim fleet` options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FleetOptions {
    /// Devices.
    pub devices: usize,
    /// Image size.
    pub size: usize,
    /// Data protocol.
    pub protocol: Protocol,
    /// Give up after this long.
    pub timeout: Duration,
    /// Where the devices' state directories go (a fresh subdirectory, removed at the end);
    /// `None`: `/dev/shm` when it exists (tmpfs), else the temporary directory.
    pub state_dir: Option<PathBuf>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            devices: 100,
            size: 64 * 1024,
            protocol: Protocol::Mqtt,
            timeout: Duration::from_secs(600),
            state_dir: None,
        }
    }
}

/// Counts the devices that asked for a job and were told there is none (they are online).
struct Online(Arc<AtomicUsize>, bool);

impl Observer for Online {
    fn event(&mut self, event: &ota_core::Event<'_>) {
        if !self.1 && matches!(event, ota_core::Event::NoActiveJob) {
            self.1 = true;
            self.0.fetch_add(1, Relaxed);
        }
    }
}

/// The default parent of the fleet's state: tmpfs when there is one. Thousands of flash files
/// are created and deleted; on a disk file system mounted with `discard` that alone takes
/// seconds.
fn default_state_parent() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Peak resident memory of this process (VmHWM), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs the fleet; prints the figures; `Ok(true)` when every device SUCCEEDED.
///
/// The devices start first; the job is created once every one of them is online and has been
/// told there is no job (or after 60 s), so the time measured is the update's, from job
/// creation to the last SUCCEEDED.
///
/// # Errors
/// Setup failures.
pub async fn run(opts: &FleetOptions) -> Result<bool, String> {
    let parent = opts.state_dir.clone().unwrap_or_else(default_state_parent);
    let dir = parent.join(format!("ota-sim-fleet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let broker = Broker::start(([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| e.to_string())?;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    let cloud = cloud::new_cloud(Some(http_addr), 7);
    cloud::spawn_http(http, cloud::http_router(cloud.clone()));
    let (kick, kick_rx) = tokio::sync::mpsc::unbounded_channel();
    let ready = Arc::new(tokio::sync::Notify::new());
    let counters = Arc::new(cloud::LinkCounters::default());
    tokio::spawn(cloud::run_mqtt(
        "127.0.0.1".into(),
        broker.addr().port(),
        cloud.clone(),
        kick_rx,
        counters.clone(),
        Some(ready.clone()),
    ));
    tokio::time::timeout(Duration::from_secs(10), ready.notified())
        .await
        .map_err(|_| "cloud did not connect".to_string())?;
    let key = SigningKey::generate();
    let img = image::build(Version::new(1, 1, 0), Behaviour::Ok, opts.size.max(64))
        .map_err(|e| e.to_string())?;
    let things: Vec<String> = (0..opts.devices).map(|i| format!("fleet-{i:05}")).collect();
    let mut tasks = Vec::new();
    let online = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    for t in &things {
        let mut d = DeviceOptions::new(
            t.clone(),
            ota_os_std::Broker::tcp("127.0.0.1", broker.addr().port()),
            dir.join(t),
        );
        d.trust = vec![Trust {
            name: None,
            key: crate::verifying_key(&key),
        }];
        d.keepalive_s = 0;
        d.factory_size = 4096;
        d.slot_len = (img.len() as u32).div_ceil(4096) * 4096 + 4096;
        d.request_timeout = Duration::from_secs(20);
        d.self_test_timeout = Duration::from_secs(120);
        d.backoff_initial = Duration::from_millis(500);
        let mut obs = Online(online.clone(), false);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = device::run(&d, &mut obs).await {
                eprintln!("{}: {e}", d.thing);
            }
        }));
    }
    while online.load(Relaxed) < things.len() && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "fleet: {}/{} devices online in {:.2} s",
        online.load(Relaxed),
        things.len(),
        started.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let spec = JobSpec {
        job_id: "fleet-update-1".into(),
        targets: things.clone(),
        image: img,
        protocols: vec![opts.protocol],
        signature: Signature::Key(key),
        certfile: None,
        presign_expiry_s: None,
    };
    cloud::create_job(&mut cloud::lock(&cloud), &spec)?;
    let _ = kick.send(());
    let mut done = 0;
    while t0.elapsed() < opts.timeout {
        done = {
            let c = cloud::lock(&cloud);
            things
                .iter()
                .filter(|t| {
                    c.execution_status(t, &spec.job_id) == Some(JobExecutionStatus::Succeeded)
                })
                .count()
        };
        if done == things.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    for t in tasks {
        t.abort();
    }
    let s = broker.stats();
    println!(
        "fleet: {done}/{} devices SUCCEEDED in {secs:.2} s ({} bytes image over {}); MQTT messages: {} published to the endpoint, {} delivered; cloud: {} requests, {} messages; peak memory {} MiB",
        things.len(),
        opts.size,
        match opts.protocol {
            Protocol::Http => "HTTP",
            _ => "MQTT",
        },
        s.published.load(Relaxed),
        s.delivered.load(Relaxed),
        counters.received.load(Relaxed),
        counters.published.load(Relaxed),
        peak_rss_kib().map_or_else(|| "?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(done == things.len())
}
