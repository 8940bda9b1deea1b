//! The task without a network: the broker is unreachable, so the task retries with backoff
//! while it keeps serving the agent's deadlines and the application's commands.
#![allow(missing_docs)]
#![cfg(feature = "mqtt-minimq")]

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::Duration;
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{
    Action, BootInfo, Buffers, Config, ImageState, PalError, PlatformImageState, Version,
};
use ota_os_embassy::ota_pal_flash::Outcome;
use ota_os_embassy::{
    AgentSetup, AppCommand, Connect, Exit, OtaChannels, OtaPlatform, OtaTask, TaskBuffers,
    TaskConfig,
};
use std::sync::atomic::{AtomicU32, Ordering};

/// A stream type for a connector that never connects.
struct NoStream;
impl embedded_io_async::ErrorType for NoStream {
    type Error = core::convert::Infallible;
}
impl embedded_io_async::Read for NoStream {
    async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> {
        Ok(0)
    }
}
impl embedded_io_async::Write for NoStream {
    async fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> {
        Ok(b.len())
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The broker is down: every attempt fails at once.
struct Unreachable<'a>(&'a AtomicU32);
impl Connect for Unreachable<'_> {
    type Io<'c>
        = NoStream
    where
        Self: 'c;
    type Error = ();
    async fn connect(&mut self) -> Result<NoStream, ()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(())
    }
}

/// A platform that records image-state changes and resets.
#[derive(Default)]
struct FakePlatform {
    boot: Option<PlatformImageState>,
    states: Vec<ImageState>,
    resets: u32,
}

impl OtaPlatform for FakePlatform {
    async fn boot_info<'b>(&mut self, _: &'b mut [u8]) -> Result<BootInfo<'b>, PalError> {
        let state = self.boot.ok_or(PalError::BootState)?;
        Ok(BootInfo {
            platform_state: state,
            resume: None,
        })
    }
    async fn execute<'b>(&mut self, action: &Action<'_>, _: &'b mut [u8]) -> Outcome<'b> {
        match action {
            Action::SetImageState(s) => {
                self.states.push(*s);
                Outcome::Done(Ok(()))
            }
            Action::Reset | Action::Activate => {
                self.resets += 1;
                Outcome::Reset
            }
            Action::PersistResume(_) | Action::ClearResume | Action::FileAbort => {
                Outcome::Silent(Ok(()))
            }
            _ => Outcome::Done(Ok(())),
        }
    }
}

type Channels = OtaChannels<CriticalSectionRawMutex, 4, 16>;

fn keys() -> &'static [TrustedKey<'static>] {
    let key = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
    Box::leak(Box::new([TrustedKey {
        name: None,
        key: *key.verifying_key(),
    }]))
}

fn leak(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

fn task_config() -> TaskConfig {
    let mut c = TaskConfig::new(42);
    c.backoff_min = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(40);
    c.connect_timeout = Duration::from_millis(100);
    c.report_period = Duration::from_millis(50);
    c
}

fn run(
    platform: &mut FakePlatform,
    channels: &'static Channels,
    attempts: &AtomicU32,
    self_test_ms: u64,
) -> Exit {
    let mut config = Config::new("dev-offline", Version::new(1, 2, 0));
    config.self_test_timeout = ota_core::Duration::from_millis(self_test_ms);
    config.block_size = 1024;
    config.blocks_per_request = 4;
    let buffers = Buffers {
        block: leak(1024),
        job: leak(4096),
        bitmap: leak(64),
        url: leak(0),
    };
    let task_buffers = TaskBuffers {
        mqtt_rx: leak(8 * 1024),
        mqtt_tx: leak(4 * 1024),
        read: leak(1024),
    };
    let agent = AgentSetup {
        config,
        buffers,
        verifier: P256Verifier::new(keys()),
    };
    let mut task = OtaTask::new(
        agent,
        platform,
        Unreachable(attempts),
        channels,
        task_buffers,
        task_config(),
    )
    .expect("valid setup");
    embassy_futures::block_on(task.run())
}

#[test]
fn an_image_on_trial_rolls_back_after_the_self_test_deadline_without_network() {
    let channels: &'static Channels = Box::leak(Box::new(OtaChannels::new()));
    let attempts = AtomicU32::new(0);
    let mut platform = FakePlatform {
        boot: Some(PlatformImageState::PendingCommit),
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let exit = run(&mut platform, channels, &attempts, 300);
    assert_eq!(exit, Exit::Reset, "rolled back by a reset");
    assert_eq!(platform.states, [ImageState::Rejected]);
    assert_eq!(platform.resets, 1);
    assert!(t0.elapsed() >= std::time::Duration::from_millis(300));
    // 10, 20, 40, 40 ms... between attempts: several attempts in 300 ms, not hundreds.
    let n = attempts.load(Ordering::Relaxed);
    assert!((4..=40).contains(&n), "{n} connection attempts");
    // The reports counted the failed attempts.
    let report = channels.report.try_take().expect("a report every 50 ms");
    assert!(!report.link_up);
    assert!(report.task.connect_failures >= 3);
}

#[test]
fn shutdown_is_served_while_offline_and_reports_flow() {
    let channels: &'static Channels = Box::leak(Box::new(OtaChannels::new()));
    let attempts = AtomicU32::new(0);
    let mut platform = FakePlatform {
        boot: Some(PlatformImageState::Valid),
        ..Default::default()
    };
    let sender = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        channels.commands.try_send(AppCommand::Shutdown).unwrap();
    });
    let exit = run(&mut platform, channels, &attempts, 120_000);
    sender.join().unwrap();
    assert_eq!(exit, Exit::Shutdown);
    assert!(platform.states.is_empty());
    let report = channels.report.try_take().expect("a report");
    assert!(report.uptime_ms > 0 && report.task.connect_failures > 0);
}

#[test]
fn unreadable_boot_state_stops_the_task() {
    let channels: &'static Channels = Box::leak(Box::new(OtaChannels::new()));
    let attempts = AtomicU32::new(0);
    let mut platform = FakePlatform::default();
    assert_eq!(
        run(&mut platform, channels, &attempts, 1000),
        Exit::BootState
    );
    assert_eq!(attempts.load(Ordering::Relaxed), 0);
}

/// The RAM budget of the task, measured: the task value (agent, MQTT session, platform,
/// connector) and its `run` future (the state kept across awaits). The firmware keeps both in
/// statics; the board builds report the same figures from their symbol tables.
#[test]
fn task_and_future_sizes_are_bounded() {
    let channels: &'static Channels = Box::leak(Box::new(OtaChannels::new()));
    let attempts: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let platform: &'static mut FakePlatform = Box::leak(Box::default());
    let mut config = Config::new("dev-size", Version::new(1, 0, 0));
    config.block_size = 1024;
    config.blocks_per_request = 4;
    let agent = AgentSetup {
        config,
        buffers: Buffers {
            block: leak(1024),
            job: leak(4096),
            bitmap: leak(64),
            url: leak(0),
        },
        verifier: P256Verifier::new(keys()),
    };
    let mut task = OtaTask::new(
        agent,
        platform,
        Unreachable(attempts),
        channels,
        TaskBuffers {
            mqtt_rx: leak(8 * 1024),
            mqtt_tx: leak(4 * 1024),
            read: leak(1024),
        },
        task_config(),
    )
    .expect("valid setup");
    let agent_size = core::mem::size_of::<ota_core::Agent<'static, P256Verifier<'static>>>();
    let task_size = core::mem::size_of_val(&task);
    let future_size = core::mem::size_of_val(&task.run());
    println!(
        "size_of Agent = {agent_size} B, OtaTask = {task_size} B, run() future = {future_size} B"
    );
    assert!(task_size >= agent_size);
    // The agent is ~2.4 KB; the task adds the session, the platform handle and counters, and
    // with HTTP the staged request's URL (2 KB).
    let http = if cfg!(feature = "http-reqwless") {
        2048 + 64
    } else {
        0
    };
    assert!(task_size < agent_size + 2048 + http, "task {task_size} B");
    // The future holds the connection and the waiting state, not buffers.
    assert!(future_size < 2048, "run() future {future_size} B");
}
