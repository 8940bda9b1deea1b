//! `ota-sim demo`: the whole update on one machine.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ota_cloud::{JobExecutionStatus, Protocol, SigningKey};
use ota_core::{Event, Version};
use tokio::sync::mpsc;

use crate::broker::Broker;
use crate::cloud::{self, JobSpec, Signature};
use crate::device::{self, DeviceOptions, Observer, Trust};
use crate::image::{self, Behaviour};

/// `ota-sim demo` options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DemoOptions {
    /// Data protocol of the job.
    pub protocol: Protocol,
    /// Image size.
    pub size: usize,
    /// Blocks per MQTT request.
    pub blocks_per_request: u32,
    /// Block size.
    pub block_size: u32,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            protocol: Protocol::Mqtt,
            size: 1 << 20,
            blocks_per_request: 32,
            block_size: 4096,
            timeout: Duration::from_secs(50),
        }
    }
}

/// What the demo measured.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DemoReport {
    /// Whether the job SUCCEEDED and the device runs the new version.
    pub ok: bool,
    /// Seconds from job creation to SUCCEEDED.
    pub seconds: f64,
    /// Download seconds (first to last block).
    pub download_seconds: f64,
}

#[derive(Default)]
struct Shared {
    done: u32,
    total: u32,
    first_block: Option<Instant>,
    last_block: Option<Instant>,
    boots: Vec<String>,
}

struct DemoObserver {
    shared: Arc<Mutex<Shared>>,
    bar: Option<indicatif::ProgressBar>,
    last_pct: u32,
}

impl Observer for DemoObserver {
    fn boot(&mut self, version: Option<Version>, reverted: bool) {
        let v = version.map_or_else(|| "no image".to_string(), |v| v.to_string());
        let line = format!(
            "device boots {v}{}",
            if reverted { " (reverted)" } else { "" }
        );
        if let Ok(mut s) = self.shared.lock() {
            s.boots.push(v);
        }
        match &self.bar {
            Some(b) => b.println(line),
            None => println!("{line}"),
        }
    }
    fn event(&mut self, event: &Event<'_>) {
        let line = match event {
            Event::Progress {
                blocks_done,
                blocks_total,
                ..
            } => {
                if let Ok(mut s) = self.shared.lock() {
                    s.done = *blocks_done;
                    s.total = *blocks_total;
                    let now = Instant::now();
                    s.first_block.get_or_insert(now);
                    s.last_block = Some(now);
                }
                match &self.bar {
                    Some(b) => {
                        b.set_length(u64::from(*blocks_total));
                        b.set_position(u64::from(*blocks_done));
                    }
                    None => {
                        let pct = blocks_done * 100 / (*blocks_total).max(1);
                        if pct >= self.last_pct + 10 || *blocks_done == *blocks_total {
                            self.last_pct = pct - pct % 10;
                            println!("download {pct:3}% ({blocks_done}/{blocks_total} blocks)");
                        }
                    }
                }
                return;
            }
            Event::ReceivedJob { job_id, .. } => format!("device: job {job_id} received"),
            Event::ReadyToActivate { .. } => {
                if let Some(b) = &self.bar {
                    b.finish();
                }
                "device: signature verified, activating (reboot)".into()
            }
            Event::StartSelfTest { .. } => "device: new image under test, self-test passes".into(),
            Event::Accepted { .. } => "device: image accepted and committed".into(),
            other => format!("device: {other:?}"),
        };
        match &self.bar {
            Some(b) => b.println(line),
            None => println!("{line}"),
        }
    }
}

async fn start_cloud(
    broker: &Broker,
) -> Result<
    (
        cloud::SharedCloud,
        mpsc::UnboundedSender<()>,
        SocketAddr,
        Arc<cloud::LinkCounters>,
    ),
    String,
> {
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    let cloud = cloud::new_cloud(Some(http_addr), rand::random());
    cloud::spawn_http(http, cloud::http_router(cloud.clone()));
    let (kick, kick_rx) = mpsc::unbounded_channel();
    let counters = Arc::new(cloud::LinkCounters::default());
    let ready = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(cloud::run_mqtt(
        broker.addr().ip().to_string(),
        broker.addr().port(),
        cloud.clone(),
        kick_rx,
        counters.clone(),
        Some(ready.clone()),
    ));
    tokio::time::timeout(Duration::from_secs(10), ready.notified())
        .await
        .map_err(|_| "the cloud did not connect to the embedded broker".to_string())?;
    Ok((cloud, kick, http_addr, counters))
}

/// Runs the demo; prints as it goes.
///
/// # Errors
/// Setup failures (ports, files).
pub async fn run(opts: &DemoOptions) -> Result<DemoReport, String> {
    let dir = std::env::temp_dir().join(format!("ota-sim-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let key = SigningKey::generate();
    let pub_pem = dir.join("signer.pub.pem");
    std::fs::write(&pub_pem, key.public_key_pem().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let from = Version::new(1, 0, 0);
    let to = Version::new(1, 1, 0);
    let img = image::build(to, Behaviour::Ok, opts.size.max(image::HEADER_LEN))
        .map_err(|e| e.to_string())?;
    println!(
        "ota-sim demo: {} update {from} -> {to}, {} bytes, signed with a fresh P-256 key ({})",
        match opts.protocol {
            Protocol::Http => "HTTP",
            _ => "MQTT",
        },
        img.len(),
        dir.display()
    );

    let broker = Broker::start(([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| e.to_string())?;
    let (cloud, kick, _, counters) = start_cloud(&broker).await?;
    println!(
        "embedded MQTT endpoint on {}, Jobs + streams + HTTP from ota-cloud",
        broker.url()
    );

    let thing = "demo-device";
    let mut dev = DeviceOptions::new(
        thing,
        ota_os_std::Broker::tcp("127.0.0.1", broker.addr().port()),
        dir.join("device"),
    );
    dev.trust = vec![Trust {
        name: None,
        key: crate::verifying_key(&key),
    }];
    dev.factory_version = from;
    dev.block_size = opts.block_size;
    dev.blocks_per_request = opts.blocks_per_request;
    dev.slot_len = (img.len() as u32).div_ceil(4096).max(4) * 4096 + 4096;
    dev.self_test_timeout = Duration::from_secs(20);

    let shared = Arc::new(Mutex::new(Shared::default()));
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(1);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "download [{bar:40}] {pos}/{len} blocks {percent}% {elapsed_precise}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    });
    let mut observer = DemoObserver {
        shared: shared.clone(),
        bar,
        last_pct: 0,
    };
    let device = tokio::spawn(async move { device::run(&dev, &mut observer).await });
    // Let the device boot and ask for jobs before the job exists (notify-next path).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let job_id = "demo-update-1";
    let spec = JobSpec {
        job_id: job_id.into(),
        targets: vec![thing.into()],
        image: img,
        protocols: vec![opts.protocol],
        signature: Signature::Key(key),
        certfile: None,
        presign_expiry_s: None,
    };
    let t0 = Instant::now();
    cloud::create_job(&mut cloud::lock(&cloud), &spec)?;
    let _ = kick.send(());
    println!("job {job_id} created for {thing}");

    let deadline = t0 + opts.timeout;
    let mut final_status = None;
    while Instant::now() < deadline {
        if device.is_finished() {
            break;
        }
        let st = cloud::lock(&cloud).execution_status(thing, job_id);
        if let Some(s) = st.filter(|s| s.is_terminal()) {
            final_status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = t0.elapsed().as_secs_f64();
    // The device reports SUCCEEDED after it committed; give its status file a moment.
    let mut running = None;
    for _ in 0..50 {
        running = device::status(&dir.join("device"))
            .ok()
            .and_then(|s| s.running_version);
        if running.as_deref() == Some(&to.to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    device.abort();

    println!("\njob status history ({thing}, {job_id}):");
    for r in cloud::lock(&cloud).execution_history(thing, job_id) {
        let details: Vec<String> = r
            .status_details
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "  v{:<3} {:<12} {}",
            r.version_number,
            r.status.as_str(),
            details.join(" ")
        );
    }
    let s = shared
        .lock()
        .map(|s| (s.first_block, s.last_block))
        .unwrap_or((None, None));
    let download_seconds = match s {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let ok = final_status == Some(JobExecutionStatus::Succeeded)
        && running.as_deref() == Some(&to.to_string());
    println!(
        "\nresult: job {}, device runs {}; {:.2} s from job creation to SUCCEEDED, download {:.2} s ({:.1} MiB/s); cloud handled {} requests, published {} messages",
        final_status.map_or("not finished", |s| s.as_str()),
        running.as_deref().unwrap_or("?"),
        seconds,
        download_seconds,
        if download_seconds > 0.0 {
            opts.size as f64 / download_seconds / 1048576.0
        } else {
            0.0
        },
        counters.received.load(Relaxed),
        counters.published.load(Relaxed),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(DemoReport {
        ok,
        seconds,
        download_seconds,
    })
}
