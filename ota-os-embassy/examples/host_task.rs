//! The embassy agent task ([`OtaTask`]) run the way a firmware runs it, but on the host.
//!
//! ```sh
//! cargo run -p ota-os-embassy --example host_task
//! ```
//!
//! Everything the device talks to is simulated in this process, on loopback:
//!
//! - **The cloud**: `ota-sim`'s MQTT 5 broker and its model of AWS IoT Jobs and MQTT-based
//!   file streams, with one job offering an image signed with a P-256 code-signing key.
//! - **The device**: the agent task over `ota-pal-flash`'s platform on mock NOR flash (a
//!   download slot and a journal) with the simulated A/B boot control (ESP-IDF otadata
//!   scheme), and an application that talks to the task through [`OtaChannels`].
//!
//! The task connects, takes the job, downloads and verifies the image, reports it ready for
//! its self-test and returns [`Exit::Reset`] once the application activates it. The example
//! then boots the simulated bootloader to show the new image starting on trial, and checks
//! the slot and the cloud's view of the job. It exits 0 on success, 1 otherwise.
//!
//! What a firmware does differently:
//!
//! - **Transport**: instead of the tokio `TcpStream` below, `net::TcpConnector` (feature
//!   `embassy-net`) over the board's embassy-net stack, wrapped in a `tls::TlsConnector`
//!   built from the device's provisioned identity (AWS IoT Core requires mutual TLS);
//!   `net::MaybeTls` picks plain or TLS at run time from that identity.
//! - **Flash**: the board's flash (nRF52840 NVMC with embassy-boot, ESP32-C3 esp-storage with
//!   otadata) instead of `MockFlash`, and a real reset (`Exit::Reset` → reset the chip)
//!   instead of booting the simulated bootloader.
//! - **Memory and executor**: the buffers are `static`s and the task is spawned on
//!   `embassy_executor`; the application runs in its own task, sharing the `static`
//!   [`OtaChannels`] as here.
//! - **Keys and seeds**: the code-signing key is compiled in or provisioned, and the backoff
//!   jitter is seeded from the hardware RNG.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::Duration;
use embedded_io_adapters::tokio_1::FromTokio;
use ota_cloud::{JobExecutionStatus, Protocol, SigningKey};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{Buffers, Config, Version};
use ota_os_embassy::{
    AgentSetup, AppCommand, Connect, Exit, Notification, OtaChannels, OtaTask, TaskBuffers,
    TaskConfig,
};
use ota_pal_flash::boot::sim::{SimBoot, SimBootloader};
use ota_pal_flash::mock::MockFlash;
use ota_sim::broker::Broker;
use ota_sim::cloud::{self, JobSpec, LinkCounters, Signature};
use tokio::net::TcpStream;

/// The device's thing name (its MQTT client id).
const THING: &str = "embassy-host-1";
/// The job the cloud offers it.
const JOB_ID: &str = "host-task-demo";
/// Download block size: 1 KiB blocks over the MQTT stream.
const BLOCK: u32 = 1024;

type Error = Box<dyn std::error::Error>;

/// The platform: `ota-pal-flash` on mock NOR flash (download slot, journal) with the simulated
/// A/B boot control on a mock otadata partition; a firmware names its board's flash here.
type Pal = ota_pal_flash::Platform<MockFlash, MockFlash, SimBoot<MockFlash>>;

/// Application ↔ task channels: 4 commands and 64 notifications deep. A firmware keeps them in
/// a `static` too, shared by the OTA task and the application task.
static CHANNELS: OtaChannels<CriticalSectionRawMutex, 4, 64> = OtaChannels::new();

/// TCP to the broker through tokio, as an `embedded-io-async` stream. This is the piece a
/// firmware replaces with `net::TcpConnector` (and `tls::TlsConnector` around it).
struct TokioTcp(std::net::SocketAddr);

impl Connect for TokioTcp {
    type Io<'c>
        = FromTokio<TcpStream>
    where
        Self: 'c;
    type Error = std::io::Error;

    async fn connect(&mut self) -> Result<FromTokio<TcpStream>, std::io::Error> {
        let stream = TcpStream::connect(self.0).await?;
        stream.set_nodelay(true)?;
        Ok(FromTokio::new(stream))
    }
}

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The whole update must finish well within this; a hang is a failure.
    match rt.block_on(async { tokio::time::timeout(StdDuration::from_secs(30), run()).await }) {
        Ok(Ok(())) => {
            println!("done: the update went through");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("FAILED: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("FAILED: no result within 30 s");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    // ---- The cloud side (what AWS IoT Core and CreateOTAUpdate do) ----

    // The firmware image and the key it is signed with (AWS Signer in the real service).
    let signing_key = SigningKey::from_seed(42);
    let image: Vec<u8> = (0..40 * 1024 + 321u32)
        .map(|i| i.wrapping_mul(2_654_435_761) as u8 ^ (i >> 8) as u8)
        .collect();

    // The MQTT broker, on an ephemeral loopback port.
    let broker = Broker::start("127.0.0.1:0".parse()?).await?;
    println!("cloud: MQTT broker on {}", broker.addr());

    // The AWS model: a job for our thing, its image served as an MQTT stream.
    let cloud = cloud::new_cloud(None, 7);
    cloud::create_job(
        &mut cloud::lock(&cloud),
        &JobSpec {
            job_id: JOB_ID.into(),
            targets: vec![THING.into()],
            image: image.clone(),
            protocols: vec![Protocol::Mqtt],
            signature: Signature::Key(signing_key.clone()),
            certfile: None,
            presign_expiry_s: None,
        },
    )?;
    // The model's MQTT side is a client of the broker; it runs until its kick channel closes,
    // so the sender is kept alive until the end of `run`.
    let (_kick_tx, kick_rx) = tokio::sync::mpsc::unbounded_channel();
    let ready = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(cloud::run_mqtt(
        "127.0.0.1".into(),
        broker.addr().port(),
        cloud.clone(),
        kick_rx,
        Arc::new(LinkCounters::default()),
        Some(ready.clone()),
    ));
    ready.notified().await;
    println!(
        "cloud: job {JOB_ID} for {THING}: {} bytes, signed",
        image.len()
    );

    // ---- The device: platform (flash + boot control) ----

    // Power on: the simulated bootloader picks a slot from otadata (blank: slot 0, factory).
    let mut otadata: MockFlash = MockFlash::new(8192);
    let booted = SimBootloader::default().boot(&mut otadata)?;
    println!("device: booted slot {} ({:?})", booted.slot, booted.state);
    // A 128 KiB download slot and a 16 KiB journal (the resume record) on mock NOR flash.
    let mut platform: Pal = ota_pal_flash::Platform::new(
        MockFlash::new(128 * 1024),
        MockFlash::new(16 * 1024),
        SimBoot::new(otadata, booted.slot),
        ota_pal_flash::Config::new(),
    )?;

    // ---- The device: agent and task configuration ----

    // The code-signing public key the device trusts (compiled in on a firmware).
    let keys = [TrustedKey {
        name: None,
        key: ota_sim::verifying_key(&signing_key),
    }];
    let mut config = Config::new(THING, Version::new(1, 0, 0));
    config.block_size = BLOCK;
    config.blocks_per_request = 8;
    config.request_timeout = ota_core::Duration::from_secs(2);
    // Report progress to the service (and to the application) every 8 blocks.
    config.status_every = 8;
    config.http_enabled = false;

    // Caller-owned memory: `static`s on a firmware, plain vectors here.
    let mut block = vec![0u8; BLOCK as usize];
    let mut job = vec![0u8; 4096];
    let mut bitmap = vec![0u8; 64];
    let mut url = vec![0u8; 2048];
    let mut mqtt_rx = vec![0u8; 8 * 1024];
    let mut mqtt_tx = vec![0u8; 4 * 1024];
    let mut read = vec![0u8; BLOCK as usize];

    // Reconnect quickly on the host; a firmware keeps the defaults (1 s doubling to 60 s)
    // and seeds the jitter from its RNG.
    let mut task_config = TaskConfig::new(0x5eed);
    task_config.backoff_min = Duration::from_millis(50);
    task_config.backoff_max = Duration::from_millis(500);
    task_config.connect_timeout = Duration::from_secs(5);
    // The report comes once a second by default; the whole update takes a few tens of
    // milliseconds on loopback, so report every 5 ms to see some.
    task_config.report_period = Duration::from_millis(5);

    let mut task = OtaTask::new(
        AgentSetup {
            config,
            buffers: Buffers {
                block: &mut block,
                job: &mut job,
                bitmap: &mut bitmap,
                url: &mut url,
            },
            verifier: P256Verifier::new(&keys),
        },
        &mut platform,
        TokioTcp(broker.addr()),
        &CHANNELS,
        TaskBuffers {
            mqtt_rx: &mut mqtt_rx,
            mqtt_tx: &mut mqtt_tx,
            read: &mut read,
        },
        task_config,
    )?;

    // ---- The application: notifications and reports in, commands out ----

    // On a firmware this is another embassy task; it never ends.
    let app = async {
        loop {
            match select(CHANNELS.notification(), CHANNELS.report.wait()).await {
                Either::First(note) => {
                    match &note {
                        Notification::Progress {
                            blocks_done,
                            blocks_total,
                            ..
                        } => println!("app: progress {blocks_done}/{blocks_total} blocks"),
                        other => println!("app: {other:?}"),
                    }
                    // The image is verified: this application may reboot at any time, so it
                    // activates at once (`ActivateAfter` would wait for a quiet moment).
                    if let Notification::ReadyToActivate { job_id } = &note {
                        println!("app: activating the image of {job_id}");
                        CHANNELS.command(AppCommand::Activate).await;
                    }
                }
                Either::Second(report) => println!(
                    "report: {:>5} ms, state {}, link {}, {} blocks stored, {} requests, \
                     connects {}",
                    report.uptime_ms,
                    report.state,
                    if report.link_up { "up" } else { "down" },
                    report.agent.processed,
                    report.agent.requests,
                    report.task.connects,
                ),
            }
        }
    };

    // ---- Run the task until it asks for a reset ----

    let exit = match select(task.run(), app).await {
        Either::First(exit) => exit,
        Either::Second(()) => return Err("the application loop ended".into()),
    };
    let stats = task.statistics();
    drop(task);
    println!(
        "device: task exited with {exit:?} (connects {}, disconnects {})",
        stats.connects, stats.disconnects
    );
    if exit != Exit::Reset {
        return Err(format!("expected Exit::Reset, got {exit:?}").into());
    }

    // ---- What the reset shows ----

    // The download slot holds the image, byte for byte.
    let mut stored = vec![0u8; image.len()];
    platform.read_file(0, &mut stored)?;
    if stored != image {
        return Err("the download slot does not hold the image".into());
    }
    println!("device: the download slot holds the {} bytes", image.len());

    // "Reset the chip": the simulated bootloader now starts the new image on trial. The
    // firmware's next boot would see `StartSelfTest` and send `Accept` or `Reject`.
    let (_, _, boot) = platform.into_parts();
    let mut otadata = boot.into_inner();
    let booted = SimBootloader::default().boot(&mut otadata)?;
    println!(
        "device: reset, booted slot {} ({:?}, trial boot {})",
        booted.slot, booted.state, booted.trial_boots
    );

    // The cloud saw the job IN_PROGRESS with `self_test: ready`.
    let c = cloud::lock(&cloud);
    let execution = c
        .execution(THING, JOB_ID)
        .ok_or("the cloud has no execution for the job")?;
    let self_test = execution
        .status_details
        .get("self_test")
        .map(String::as_str);
    println!(
        "cloud: job {JOB_ID} is {:?}, self_test: {}",
        execution.status,
        self_test.unwrap_or("(none)")
    );
    if execution.status != JobExecutionStatus::InProgress || self_test != Some("ready") {
        return Err("the cloud did not see the image ready for its self-test".into());
    }
    Ok(())
}
