//! What the online tests share: a device (the agent task over a mock-flash platform) driven
//! over any [`Connect`] until it exits, with an application that activates what it is offered.
#![allow(dead_code, unreachable_pub, missing_docs)]

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::Duration;
use embedded_io_adapters::tokio_1::FromTokio;
use ota_cloud::{JobExecutionStatus, Protocol, SigningKey};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{Buffers, Config, Version};
use ota_http_reqwless::{HttpBuffers, HttpRunner};
use ota_os_embassy::{
    AgentSetup, AppCommand, Connect, Exit, HttpExec, Notification, OtaChannels, OtaTask,
    TaskBuffers, TaskConfig,
};
use ota_os_std::http::TokioStack;
use ota_pal_flash::boot::sim::{SimBoot, SimBootloader};
use ota_pal_flash::mock::MockFlash;
use ota_sim::cloud::{self, JobSpec, LinkCounters, Signature};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

pub const THING: &str = "embassy-dev-1";
pub const BLOCK: u32 = 1024;

pub type Channels = OtaChannels<CriticalSectionRawMutex, 4, 64>;
pub type Pal = ota_pal_flash::Platform<MockFlash, MockFlash, SimBoot<MockFlash>>;

/// TCP to the broker through tokio, as an embedded-io-async stream.
pub struct TokioTcp(pub SocketAddr);

impl Connect for TokioTcp {
    type Io<'c>
        = FromTokio<TcpStream>
    where
        Self: 'c;
    type Error = std::io::Error;

    async fn connect(&mut self) -> Result<FromTokio<TcpStream>, std::io::Error> {
        let s = TcpStream::connect(self.0).await?;
        s.set_nodelay(true)?;
        Ok(FromTokio::new(s))
    }
}

pub fn image(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| i.wrapping_mul(2_654_435_761) as u8 ^ (i >> 8) as u8)
        .collect()
}

pub fn leak(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

pub fn platform() -> Pal {
    let mut otadata = MockFlash::new(8192);
    let booted = SimBootloader::default()
        .boot(&mut otadata)
        .expect("sim boot");
    let boot = SimBoot::new(otadata, booted.slot);
    ota_pal_flash::Platform::new(
        MockFlash::new(128 * 1024),
        MockFlash::new(16 * 1024),
        boot,
        ota_pal_flash::Config::new(),
    )
    .expect("platform")
}

pub struct Outcome {
    pub exit: Exit,
    pub notes: Vec<Notification>,
    pub connects: u32,
    pub disconnects: u32,
    /// The HTTP runner's counters (HTTP runs).
    pub http: Option<ota_http_reqwless::HttpStats>,
}

/// Runs one device over `connector` until it exits (or 60 s pass). With `kick_after`,
/// `kick` (which must drop the device's connection) runs once that many progress notes
/// were seen.
pub async fn run_device<C: Connect>(
    connector: C,
    kick: &dyn Fn(),
    key: &SigningKey,
    platform: &mut Pal,
    kick_after: Option<u32>,
    http: bool,
) -> Outcome {
    let channels: &'static Channels = Box::leak(Box::new(OtaChannels::new()));
    let verifying = ota_sim::verifying_key(key);
    let keys: &'static [TrustedKey<'static>] = Box::leak(Box::new([TrustedKey {
        name: None,
        key: verifying,
    }]));
    let mut config = Config::new(THING, Version::new(1, 0, 0));
    config.block_size = BLOCK;
    config.blocks_per_request = 8;
    config.status_every = 8;
    config.request_timeout = ota_core::Duration::from_secs(2);
    config.http_enabled = http;
    config.http_blocks_per_request = 8;
    let agent = AgentSetup {
        config,
        buffers: Buffers {
            block: leak(BLOCK as usize),
            job: leak(4096),
            bitmap: leak(64),
            url: leak(2048),
        },
        verifier: P256Verifier::new(keys),
    };
    let mut task_config = TaskConfig::new(3);
    task_config.backoff_min = Duration::from_millis(50);
    task_config.backoff_max = Duration::from_millis(200);
    task_config.connect_timeout = Duration::from_secs(5);
    let task = OtaTask::new(
        agent,
        platform,
        connector,
        channels,
        TaskBuffers {
            mqtt_rx: leak(8 * 1024),
            mqtt_tx: leak(4 * 1024),
            read: leak(BLOCK as usize),
        },
        task_config,
    )
    .expect("valid setup");
    if http {
        let stack: &'static TokioStack = Box::leak(Box::new(TokioStack));
        let mut runner = HttpRunner::new(
            stack,
            stack,
            HttpBuffers {
                url: leak(2048),
                header: leak(2048),
                chunk: leak(BLOCK as usize),
            },
        );
        let mut out = drive(task.with_http(&mut runner), channels, kick, kick_after).await;
        out.http = Some(runner.stats());
        out
    } else {
        drive(task, channels, kick, kick_after).await
    }
}

async fn drive<C: Connect, H: HttpExec>(
    mut task: OtaTask<'_, P256Verifier<'static>, &mut Pal, C, CriticalSectionRawMutex, 4, 64, H>,
    channels: &'static Channels,
    kick: &dyn Fn(),
    kick_after: Option<u32>,
) -> Outcome {
    let mut notes = Vec::new();
    let app = async {
        let mut progress = 0u32;
        loop {
            let n = channels.notification().await;
            match &n {
                Notification::ReadyToActivate { .. } => {
                    channels.command(AppCommand::Activate).await;
                }
                Notification::Progress { .. } => {
                    progress += 1;
                    if kick_after == Some(progress) {
                        kick();
                    }
                }
                _ => {}
            }
            notes.push(n);
        }
    };
    let run = tokio::time::timeout(std::time::Duration::from_secs(60), task.run());
    let exit = match select(run, app).await {
        Either::First(r) => r.expect("the update finishes within 60 s"),
        Either::Second(()) => unreachable!("the application loop never ends"),
    };
    let stats = task.statistics();
    drop(task);
    Outcome {
        exit,
        notes,
        connects: stats.connects,
        disconnects: stats.disconnects,
        http: None,
    }
}

pub fn check_update(platform: &mut Pal, data: &[u8], cloud: &cloud::SharedCloud, job_id: &str) {
    let mut stored = vec![0u8; data.len()];
    platform.read_file(0, &mut stored).expect("read the slot");
    assert!(stored == data, "the slot holds the image, byte for byte");
    let c = cloud::lock(cloud);
    let ex = c.execution(THING, job_id).expect("execution");
    assert_eq!(ex.status, JobExecutionStatus::InProgress);
    assert_eq!(
        ex.status_details.get("self_test").map(String::as_str),
        Some("ready"),
        "the device reported the image ready for its self-test"
    );
}

/// The AWS model with one job for `THING`: its presigned-URL server on loopback and its MQTT
/// side as a client of the broker at `127.0.0.1:broker_port`, subscribed when this returns.
pub async fn start_cloud(
    broker_port: u16,
    job_id: &str,
    data: &[u8],
    key: &SigningKey,
    protocol: Protocol,
) -> cloud::SharedCloud {
    // The presigned-URL server of the model (S3 stand-in), on loopback.
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("http listener");
    let cloud = cloud::new_cloud(Some(http.local_addr().expect("addr")), 7);
    cloud::spawn_http(http, cloud::http_router(cloud.clone()));
    cloud::create_job(
        &mut cloud::lock(&cloud),
        &JobSpec {
            job_id: job_id.into(),
            targets: vec![THING.into()],
            image: data.to_vec(),
            protocols: vec![protocol],
            signature: Signature::Key(key.clone()),
            certfile: None,
            presign_expiry_s: None,
        },
    )
    .expect("job");
    let (kick_tx, kick_rx) = tokio::sync::mpsc::unbounded_channel();
    // The cloud's link ends when its kick channel closes: keep the sender for the test.
    Box::leak(Box::new(kick_tx));
    let ready = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(cloud::run_mqtt(
        "127.0.0.1".into(),
        broker_port,
        cloud.clone(),
        kick_rx,
        Arc::new(LinkCounters::default()),
        Some(ready.clone()),
    ));
    ready.notified().await;
    cloud
}
