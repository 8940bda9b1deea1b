//! The simulated device: `ota-os-std` on `ota-pal-flash`'s file-backed flash, powered on again
//! in-process after every reset, with the behaviour its running image's header asks for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{Command, Event, PlatformImageState, State, Statistics, Version};
use ota_os_std::{Application, Broker, ConnectError, Exit, Settings};
use ota_pal_flash::BootControl;
use ota_pal_flash::boot::sim::SimBoot;
use ota_pal_flash::host::{HostFlash, SimDevice, SimDeviceConfig};
use sha2::{Digest, Sha256};

use crate::image::{self, Behaviour};

/// A trusted code-signing key: the default one (`name: None`) or the one for jobs whose
/// `certfile` is `name`.
#[derive(Debug, Clone)]
pub struct Trust {
    /// `certfile` this key answers, or `None` for the default key.
    pub name: Option<String>,
    /// The P-256 public key.
    pub key: p256::ecdsa::VerifyingKey,
}

/// Reads a `--trust` value: `PEM` or `NAME=PEM`, the PEM being a SPKI public key or an X.509
/// certificate.
///
/// # Errors
/// A message naming the file and what is wrong.
pub fn load_trust(arg: &str) -> Result<Trust, String> {
    let (name, path) = match arg.split_once('=') {
        Some((n, p)) if !n.is_empty() && !Path::new(arg).exists() => (Some(n.to_string()), p),
        _ => (None, arg),
    };
    let pem = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let key = if pem.contains("BEGIN CERTIFICATE") {
        ota_cloud::VerifyingKey::from_certificate_pem(&pem)
    } else {
        ota_cloud::VerifyingKey::from_public_key_pem(&pem)
    }
    .map_err(|e| format!("{path}: {e}"))?;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.to_sec1_bytes())
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(Trust { name, key })
}

/// Everything `ota-sim device` takes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceOptions {
    /// Thing name (and MQTT client id).
    pub thing: String,
    /// The broker.
    pub broker: Broker,
    /// State directory (the device's flash).
    pub state: PathBuf,
    /// Trusted keys.
    pub trust: Vec<Trust>,
    /// Version of the factory image written when the state directory is new.
    pub factory_version: Version,
    /// Size of the factory image.
    pub factory_size: usize,
    /// Block size.
    pub block_size: u32,
    /// Blocks per MQTT request.
    pub blocks_per_request: u32,
    /// Blocks per HTTP range request (`None`: 64 KiB ranges).
    pub http_blocks_per_request: Option<u32>,
    /// Data protocols enabled.
    pub mqtt: bool,
    /// See [`DeviceOptions::mqtt`].
    pub http: bool,
    /// Self-test timeout (the agent's timer and the trial watchdog).
    pub self_test_timeout: Duration,
    /// The agent's wait for data before asking again.
    pub request_timeout: Duration,
    /// Size of each image slot.
    pub slot_len: u32,
    /// MQTT keep-alive (0 for many devices in one process).
    pub keepalive_s: u16,
    /// First reconnect delay.
    pub backoff_initial: Duration,
}

impl DeviceOptions {
    /// Defaults for a thing on a broker with a state directory.
    pub fn new(thing: impl Into<String>, broker: Broker, state: impl Into<PathBuf>) -> Self {
        Self {
            thing: thing.into(),
            broker,
            state: state.into(),
            trust: Vec::new(),
            factory_version: Version::new(1, 0, 0),
            factory_size: 16 * 1024,
            block_size: 4096,
            blocks_per_request: 32,
            http_blocks_per_request: None,
            mqtt: true,
            http: true,
            self_test_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
            slot_len: 2 << 20,
            keepalive_s: 30,
            backoff_initial: Duration::from_millis(200),
        }
    }
}

/// What the device tells whoever runs it (the demo's progress bar, the fleet's counters).
pub trait Observer: Send {
    /// Powered on: the running image's version and whether the bootloader reverted.
    fn boot(&mut self, version: Option<Version>, reverted: bool) {
        let _ = (version, reverted);
    }
    /// An agent event.
    fn event(&mut self, event: &Event<'_>) {
        let _ = event;
    }
    /// Once a second.
    fn statistics(&mut self, state: State, stats: &Statistics) {
        let _ = (state, stats);
    }
    /// A connection attempt to the broker failed (refused, TLS, timeout).
    fn connect_failed(&mut self, error: &ConnectError, retry_in: Duration) {
        let _ = (error, retry_in);
    }
}

/// An observer that logs to stderr.
#[derive(Debug, Default)]
pub struct LogObserver {
    /// Print statistics lines too.
    pub verbose: bool,
}

impl Observer for LogObserver {
    fn boot(&mut self, version: Option<Version>, reverted: bool) {
        match version {
            Some(v) => eprintln!(
                "[device] boot: running {v}{}",
                if reverted {
                    " (bootloader reverted)"
                } else {
                    ""
                }
            ),
            None => eprintln!("[device] boot: the running slot holds no image"),
        }
    }
    fn event(&mut self, event: &Event<'_>) {
        if !matches!(event, Event::Progress { .. }) {
            eprintln!("[device] {event:?}");
        }
    }
    fn connect_failed(&mut self, error: &ConnectError, retry_in: Duration) {
        eprintln!("[device] connect failed: {error}; retrying in {retry_in:.1?}");
    }
    fn statistics(&mut self, state: State, s: &Statistics) {
        if self.verbose {
            eprintln!(
                "[device] {state}: received {} queued {} processed {} dropped {}",
                s.received, s.queued, s.processed, s.dropped
            );
        }
    }
}

struct SimApp<'o> {
    behaviour: Behaviour,
    observer: &'o mut dyn Observer,
}

impl Application for SimApp<'_> {
    fn event(&mut self, event: &Event<'_>) -> Option<Command> {
        self.observer.event(event);
        match event {
            Event::StartSelfTest { .. } if self.behaviour == Behaviour::FailSelfTest => {
                Some(Command::Reject)
            }
            Event::StartSelfTest { .. } => Some(Command::Accept),
            Event::ReadyToActivate { .. } => Some(Command::Activate),
            _ => None,
        }
    }
    fn statistics(&mut self, state: State, stats: &Statistics) {
        self.observer.statistics(state, stats);
    }
    fn connect_failed(&mut self, error: &ConnectError, retry_in: Duration) {
        self.observer.connect_failed(error, retry_in);
    }
}

/// What `device-status` prints (and the device writes at every boot).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// Version of the running image (`null` when the running slot holds no image).
    pub running_version: Option<String>,
    /// SHA-256 (hex) of the running image as downloaded (its header's length).
    pub running_image_sha256: Option<String>,
    /// `Valid`, `PendingCommit` or `Invalid`.
    pub image_state: String,
    /// Power-ons so far.
    pub boots: u64,
    /// The slot that runs.
    pub running_slot: u8,
    /// The running image's behaviour.
    pub behaviour: Option<String>,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn device_config(slot_len: u32) -> SimDeviceConfig {
    SimDeviceConfig::new(slot_len, 16 << 10)
}

fn read_image(dev: &SimDevice, slot: u8) -> Result<(Vec<u8>, image::ImageInfo), String> {
    let mut head = [0u8; image::HEADER_LEN];
    dev.read_slot(slot, 0, &mut head)
        .map_err(|e| e.to_string())?;
    let len = u32::from_le_bytes([head[16], head[17], head[18], head[19]]) as usize;
    if &head[..8] != image::MAGIC || len > dev.config().slot_len as usize || len < head.len() {
        return Err("no image".into());
    }
    let mut img = vec![0u8; len];
    dev.read_slot(slot, 0, &mut img)
        .map_err(|e| e.to_string())?;
    let info = image::parse(&img).map_err(|e| e.to_string())?;
    Ok((img, info))
}

fn image_state(dev_dir: &Path, running_slot: u8) -> String {
    let Ok(otadata) = HostFlash::open(
        dev_dir.join("otadata.bin"),
        ota_pal_flash::boot::otadata::OTADATA_LEN,
    ) else {
        return "Unknown".into();
    };
    let mut boot = SimBoot::new(otadata, running_slot);
    match boot.platform_state() {
        Ok(PlatformImageState::PendingCommit) => "PendingCommit",
        Ok(PlatformImageState::Invalid) => "Invalid",
        Ok(_) => "Valid",
        Err(_) => "Unknown",
    }
    .into()
}

/// Reads the device's status from its state directory (read-only).
///
/// # Errors
/// A message when the directory holds no device.
pub fn status(state: &Path) -> Result<Status, String> {
    let text = std::fs::read_to_string(state.join("device.json"))
        .map_err(|e| format!("{}: no device here ({e})", state.display()))?;
    let mut s: Status = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    s.image_state = image_state(state, s.running_slot);
    Ok(s)
}

/// Runs the device until the future is dropped (or a fatal setup error).
///
/// # Errors
/// Setup errors (state directory, factory image, configuration).
pub async fn run(opts: &DeviceOptions, observer: &mut dyn Observer) -> Result<(), String> {
    let dev = SimDevice::open(&opts.state, device_config(opts.slot_len))
        .map_err(|e| format!("{}: {e}", opts.state.display()))?;
    let factory_marker = opts.state.join("factory.done");
    if !factory_marker.exists() {
        let img = image::build(opts.factory_version, Behaviour::Ok, opts.factory_size)
            .map_err(|e| e.to_string())?;
        dev.install_factory(&img)
            .map_err(|e| format!("factory image: {e}"))?;
        write_atomic(&opts.state.join("boots"), b"0").map_err(|e| e.to_string())?;
        write_atomic(&factory_marker, b"1").map_err(|e| e.to_string())?;
    }
    let keys: Vec<TrustedKey<'_>> = opts
        .trust
        .iter()
        .map(|t| TrustedKey {
            name: t.name.as_deref(),
            key: t.key,
        })
        .collect();
    loop {
        let boots_path = opts.state.join("boots");
        let boots = std::fs::read_to_string(&boots_path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        write_atomic(&boots_path, boots.to_string().as_bytes()).map_err(|e| e.to_string())?;
        let (booted, mut platform) = dev.power_on().map_err(|e| format!("power on: {e}"))?;
        let running = read_image(&dev, booted.slot);
        let status = Status {
            running_version: running.as_ref().ok().map(|(_, i)| i.version.to_string()),
            running_image_sha256: running
                .as_ref()
                .ok()
                .map(|(img, _)| hex(&Sha256::digest(img))),
            image_state: String::new(),
            boots,
            running_slot: booted.slot,
            behaviour: running
                .as_ref()
                .ok()
                .map(|(_, i)| i.behaviour.as_str().to_string()),
        };
        let json = serde_json::to_vec_pretty(&status).map_err(|e| e.to_string())?;
        write_atomic(&opts.state.join("device.json"), &json).map_err(|e| e.to_string())?;
        observer.boot(
            running.as_ref().ok().map(|(_, i)| i.version),
            booted.reverted,
        );
        let info = match running {
            Ok((_, info)) => info,
            Err(_) => {
                // Not an image: it never starts. Reset; the bootloader reverts a trial image.
                drop(platform);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match info.behaviour {
            Behaviour::Crash => {
                drop(platform);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Behaviour::NoNetwork => {
                drop(platform);
                tokio::time::sleep(opts.self_test_timeout).await;
                continue;
            }
            _ => {}
        }
        let mut config = ota_core::Config::new(&opts.thing, info.version);
        config.block_size = opts.block_size;
        config.blocks_per_request = opts.blocks_per_request;
        config.http_blocks_per_request = opts
            .http_blocks_per_request
            .unwrap_or(64 * 1024 / opts.block_size.max(1))
            .max(1);
        config.mqtt_enabled = opts.mqtt;
        config.http_enabled = opts.http;
        config.self_test_timeout =
            ota_core::Duration::from_millis(opts.self_test_timeout.as_millis() as u64);
        config.request_timeout =
            ota_core::Duration::from_millis(opts.request_timeout.as_millis() as u64);
        config.max_backoff =
            ota_core::Duration::from_millis((opts.request_timeout.as_millis() as u64) * 4);
        if !opts.mqtt {
            config.preferred_protocol = ota_core::Protocol::Http;
        }
        let mut settings = Settings::new(opts.broker.clone());
        settings.keepalive_s = opts.keepalive_s;
        settings.backoff_initial = opts.backoff_initial;
        settings.backoff_max = Duration::from_secs(5);
        settings.trial_watchdog = Some(opts.self_test_timeout + Duration::from_secs(2));
        settings.restart_delay = Duration::from_secs(1);
        let mut app = SimApp {
            behaviour: info.behaviour,
            observer: &mut *observer,
        };
        let http = crate::http_backend();
        let exit = ota_os_std::run(
            &settings,
            config,
            P256Verifier::new(&keys),
            &mut platform,
            http,
            &mut app,
        )
        .await
        .map_err(|e| e.to_string())?;
        log::debug!("reset: {exit:?}");
        let _: Exit = exit;
        drop(platform);
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
