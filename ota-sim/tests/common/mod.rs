//! Test support: the AWS side in the test process (embedded endpoint + ota-cloud over sockets)
//! and devices as real `ota-sim device` processes, killed on drop; the IDT cases themselves
//! ([`cases`]), run over MQTT by `idt_mqtt.rs` and over HTTP by `idt_http.rs`.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod cases;
pub mod mosquitto;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ota_cloud::{JobExecutionStatus, Protocol, SigningKey};
use ota_core::Version;
use ota_sim::broker::Broker;
use ota_sim::cloud::{self, HttpTap, JobSpec, SharedCloud, Signature};
use ota_sim::image::{self, Behaviour};

pub const BLOCK: u32 = 1024;
pub const SIZE: usize = 24 * 1024;

pub struct Env {
    pub broker: Option<Broker>,
    pub port: u16,
    pub cloud: SharedCloud,
    /// The data-plane HTTP server's log and delay.
    pub tap: Arc<HttpTap>,
    /// Milliseconds each GetStream request is held back.
    pub stream_delay: Arc<AtomicU64>,
    pub kick: tokio::sync::mpsc::UnboundedSender<()>,
    pub key: SigningKey,
    pub dir: PathBuf,
    pub pub_pem: PathBuf,
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Env {
    /// Embedded endpoint.
    pub async fn new() -> Self {
        let broker = Broker::start(([127, 0, 0, 1], 0).into()).await.unwrap();
        let port = broker.addr().port();
        Self::with_broker(Some(broker), port).await
    }

    /// The cloud as a client of the broker on `port`.
    pub async fn with_broker(broker: Option<Broker>, port: u16) -> Self {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ota-sim-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cloud = cloud::new_cloud(Some(http.local_addr().unwrap()), n as u64);
        let tap = Arc::new(HttpTap::default());
        cloud::spawn_http(http, cloud::http_router_tapped(cloud.clone(), tap.clone()));
        let (kick, kick_rx) = tokio::sync::mpsc::unbounded_channel();
        let ready = Arc::new(tokio::sync::Notify::new());
        let stream_delay = Arc::new(AtomicU64::new(0));
        tokio::spawn(cloud::run_mqtt_slowed(
            "127.0.0.1".into(),
            port,
            cloud.clone(),
            kick_rx,
            Arc::new(cloud::LinkCounters::default()),
            Some(ready.clone()),
            stream_delay.clone(),
        ));
        tokio::time::timeout(Duration::from_secs(10), ready.notified())
            .await
            .expect("cloud connects");
        let key = SigningKey::from_seed(1000 + n as u64);
        let pub_pem = dir.join("signer.pub.pem");
        std::fs::write(&pub_pem, key.public_key_pem().unwrap()).unwrap();
        Self {
            broker,
            port,
            cloud,
            tap,
            stream_delay,
            kick,
            key,
            dir,
            pub_pem,
        }
    }

    pub fn broker_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn state(&self, thing: &str) -> PathBuf {
        self.dir.join(thing)
    }

    /// Starts `ota-sim device` for `thing` (factory 1.0.0, 1 KiB blocks, short timeouts).
    pub fn device(&self, thing: &str, extra: &[&str]) -> Device {
        Device::spawn(&self.device_args(thing, &self.broker_url(), extra), None)
    }

    /// [`Env::device`] on another broker URL, its stderr written to a file (returned).
    pub fn device_logged(&self, thing: &str, broker: &str, extra: &[&str]) -> (Device, PathBuf) {
        let log = self.dir.join(format!("{thing}.log"));
        let d = Device::spawn(&self.device_args(thing, broker, extra), Some(&log));
        (d, log)
    }

    fn device_args(&self, thing: &str, broker: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "device".into(),
            "--broker".into(),
            broker.into(),
            "--thing".into(),
            thing.into(),
            "--state".into(),
            self.state(thing).display().to_string(),
            "--trust".into(),
            self.pub_pem.display().to_string(),
            "--version".into(),
            "1.0.0".into(),
            "--block-size".into(),
            BLOCK.to_string(),
            "--self-test-timeout".into(),
            "3".into(),
            "--request-timeout".into(),
            "1".into(),
        ];
        if !extra.contains(&"--blocks-per-request") {
            args.extend(["--blocks-per-request".into(), "8".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    pub fn job(
        &self,
        job_id: &str,
        thing: &str,
        image: Vec<u8>,
        protocol: Protocol,
        sig: Signature,
    ) {
        self.create(&spec(job_id, thing, image, protocol, sig));
    }

    pub fn create(&self, spec: &JobSpec) {
        cloud::create_job(&mut cloud::lock(&self.cloud), spec).unwrap();
        let _ = self.kick.send(());
    }

    pub fn signed(&self) -> Signature {
        Signature::Key(self.key.clone())
    }

    pub fn status(&self, thing: &str, job: &str) -> Option<JobExecutionStatus> {
        cloud::lock(&self.cloud).execution_status(thing, job)
    }

    /// Waits for a terminal status.
    pub async fn wait_terminal(&self, thing: &str, job: &str, secs: u64) -> JobExecutionStatus {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.status(thing, job).filter(|s| s.is_terminal()) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "job {job} on {thing} not terminal after {secs} s: {:?}\n{}",
                self.status(thing, job),
                self.history(thing, job)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until `f` holds.
    pub async fn wait_for(&self, what: &str, secs: u64, mut f: impl FnMut(&Self) -> bool) {
        let t0 = Instant::now();
        while !f(self) {
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn history(&self, thing: &str, job: &str) -> String {
        cloud::lock(&self.cloud)
            .execution_history(thing, job)
            .iter()
            .map(|r| format!("{} {:?}", r.status.as_str(), r.status_details))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn cancel(&self, job: &str, force: bool) {
        cloud::lock(&self.cloud)
            .cancel_job(cloud::now_ms(), job, force)
            .unwrap();
        let _ = self.kick.send(());
    }

    /// Blocks served so far: by the stream service, and in HTTP answers (blocks a `200`/`206`
    /// body touched).
    pub fn blocks_served(&self) -> usize {
        let mqtt: usize = cloud::lock(&self.cloud)
            .stream_log()
            .iter()
            .map(|r| r.blocks.len())
            .sum();
        mqtt + self.http_blocks().len()
    }

    /// Every block index an HTTP answer carried, once per answer.
    pub fn http_blocks(&self) -> Vec<u64> {
        let b = u64::from(BLOCK);
        self.tap
            .served()
            .iter()
            .filter_map(|s| s.bytes)
            .flat_map(|(first, last)| first / b..=last / b)
            .collect()
    }

    /// HTTP answers with this status so far.
    pub fn http_answers(&self, status: u16) -> usize {
        self.tap
            .served()
            .iter()
            .filter(|s| s.status == status)
            .count()
    }

    /// Holds every HTTP answer back by `ms` (a slow link).
    pub fn set_http_delay(&self, ms: u64) {
        self.tap.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Holds every GetStream request back by `ms` (a slow link).
    pub fn set_stream_delay(&self, ms: u64) {
        self.stream_delay.store(ms, Ordering::Relaxed);
    }

    /// The device's status, through the CLI (`ota-sim device-status`).
    pub fn device_status(&self, thing: &str) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_ota-sim"))
            .args(["device-status", "--state"])
            .arg(self.state(thing))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub async fn wait_version(&self, thing: &str, v: &str, secs: u64) {
        let state = self.state(thing);
        let t0 = Instant::now();
        loop {
            let cur = ota_sim::device::status(&state)
                .ok()
                .and_then(|s| s.running_version);
            if cur.as_deref() == Some(v) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "{thing} runs {cur:?}, expected {v}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A one-file job for one thing over one protocol.
pub fn spec(
    job_id: &str,
    thing: &str,
    image: Vec<u8>,
    protocol: Protocol,
    sig: Signature,
) -> JobSpec {
    JobSpec {
        job_id: job_id.into(),
        targets: vec![thing.into()],
        image,
        protocols: vec![protocol],
        signature: sig,
        certfile: None,
        presign_expiry_s: None,
    }
}

pub fn img(v: &str) -> Vec<u8> {
    image::build(Version::parse(v).unwrap(), Behaviour::Ok, SIZE).unwrap()
}

pub fn img_with(v: &str, b: Behaviour) -> Vec<u8> {
    image::build(Version::parse(v).unwrap(), b, SIZE).unwrap()
}

/// A device process, SIGKILLed on drop.
pub struct Device {
    pub child: Child,
}

impl Device {
    /// Starts `ota-sim ARGS`; stderr goes to `log` if given, else to the test's stderr with
    /// `OTA_SIM_TEST_LOG` set, else nowhere.
    pub fn spawn(args: &[String], log: Option<&Path>) -> Self {
        let stderr = match log {
            Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
            None if std::env::var_os("OTA_SIM_TEST_LOG").is_some() => Stdio::inherit(),
            None => Stdio::null(),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_ota-sim"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start ota-sim device");
        Self { child }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
