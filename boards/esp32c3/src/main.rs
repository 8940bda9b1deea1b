//! AWS IoT OTA firmware for ESP32-C3.
//!
//! - Identity: the thing name, the broker and the TLS credentials are read at boot from the
//!   `otaident` partition (`ota_os_embassy::identity`), provisioned once per device, so one
//!   image serves the whole fleet and no private key travels in an OTA image. A device
//!   without a valid identity falls back to the build-time `OTA_THING_NAME` and `OTA_BROKER`
//!   over plain MQTT (see README.md, "Provision a device").
//! - Network: Wi-Fi station (esp-radio) and embassy-net with DHCP; the MQTT broker is reached
//!   over mutual TLS when the identity holds credentials (AWS IoT Core on port 8883), otherwise
//!   over plain TCP.
//! - HTTP (feature `http`, on by default): jobs with protocol HTTP download their file with
//!   range requests on a second TCP socket (ota-os-embassy's reqwless runner), plain `http://`
//!   presigned URLs only (README.md, "HTTP downloads").
//! - Flash (esp-storage): the OTA app slot that is not running is the download slot, the
//!   `otajrnl` partition the resume journal (ota-pal-flash); `otadata` selects the image the
//!   ESP-IDF bootloader starts (activation, commit, rollback); `otaident` holds the identity
//!   (read only).
//! - The agent runs in its own task (ota-os-embassy); this file is the application around it.
//!
//! Memory: the agent, its buffers and the identity are statics (no heap). The Wi-Fi driver
//! needs a heap (esp-alloc); it is the only user of it.
#![no_std]
#![no_main]

use core::cell::RefCell;
use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_net::{Ipv4Address, StackResources};
#[cfg(feature = "http")]
use embassy_net::{
    dns::DnsSocket,
    tcp::client::{TcpClient, TcpClientState},
};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::{Duration, Timer};
use esp_hal::clock::CpuClock;
use esp_hal::rng::{Rng, Trng};
use esp_hal::timer::timg::TimerGroup;
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{
    AuthenticationMethodConfig, Config as WifiConfig, Interface, WifiController,
};
use esp_storage::FlashStorage;
use log::{info, warn};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{Buffers, Config};
use ota_os_embassy::identity::{Identity, IdentityError, MAX_BLOB};
use ota_os_embassy::net::MaybeTls;
use ota_os_embassy::net::{Broker, TcpConnector};
#[cfg(feature = "http")]
use ota_os_embassy::ota_http_reqwless::{HEADER_BUFFER, HttpBuffers, HttpRunner, URL_CAPACITY};
use ota_os_embassy::tls::{MAX_RECORD, TlsConnector, TlsCredentials};
use ota_os_embassy::{
    AgentSetup, AppCommand, Exit, Notification, OtaChannels, OtaTask, TaskBuffers, TaskConfig,
};
use ota_pal_flash::Partition;
use ota_pal_flash::boot::app_rollback::BootCheck;
use ota_pal_flash::boot::esp::EspIdfBoot;
use static_cell::{ConstStaticCell, StaticCell};
use {esp_backtrace as _, esp_println as _};

mod ota_config {
    include!(concat!(env!("OUT_DIR"), "/ota_config.rs"));
}

// The ESP-IDF 2nd-stage bootloader reads this descriptor; its version is the one the agent
// reports (`updatedBy`, self-test checks).
esp_bootloader_esp_idf::esp_app_desc!(
    ota_config::VERSION_STR,
    env!("CARGO_PKG_NAME"),
    esp_bootloader_esp_idf::BUILD_TIME,
    esp_bootloader_esp_idf::BUILD_DATE,
    esp_bootloader_esp_idf::ESP_IDF_COMPATIBLE_VERSION,
    esp_bootloader_esp_idf::MMU_PAGE_SIZE,
    0,
    u16::MAX,
    esp_bootloader_esp_idf::SECURE_VERSION
);

/// The agent's block size (AWS's default stream block).
const BLOCK: usize = 4096;
/// embassy-net sockets: DHCP, DNS, the MQTT connection and (feature `http`) the HTTP one.
const SOCKETS: usize = if cfg!(feature = "http") { 4 } else { 3 };
/// HTTP socket receive buffer: one block plus the response headers in flight.
#[cfg(feature = "http")]
const HTTP_RX: usize = BLOCK + HEADER_BUFFER;
/// HTTP socket transmit buffer: a whole request (the longest URL's target, `Host`, `Range`),
/// so that reqwless's small writes leave together in one segment.
#[cfg(feature = "http")]
const HTTP_TX: usize = URL_CAPACITY + 256;
/// No socket answer for this long aborts a connect or a stalled send (the agent's own
/// request timeout, 10 s, bounds each exchange too).
#[cfg(feature = "http")]
const HTTP_SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

type Flash = RefCell<FlashStorage<'static>>;
type Part = Partition<'static, FlashStorage<'static>>;
type Pal = ota_pal_flash::Platform<Part, Part, EspIdfBoot<'static, 'static>>;
type Channels = OtaChannels<CriticalSectionRawMutex, 4, 8>;
/// One HTTP connection at a time (ota-os-embassy hands the runner one range per connection).
#[cfg(feature = "http")]
type HttpTcp = TcpClient<'static, 1, HTTP_TX, HTTP_RX>;
#[cfg(feature = "http")]
type Http = HttpRunner<'static, HttpTcp, DnsSocket<'static>>;
#[cfg(not(feature = "http"))]
type Http = ota_os_embassy::NoHttp;
/// The broker connection: plain TCP, or mutual TLS over the TCP socket with keys from the TRNG
/// (the RNG with the Wi-Fi radio as its entropy source), as the device's identity says.
type Conn = MaybeTls<TcpConnector<'static>, TlsConnector<'static, TcpConnector<'static>, Trng>>;
type Task = OtaTask<'static, P256Verifier<'static>, Pal, Conn, CriticalSectionRawMutex, 4, 8, Http>;

/// All of the agent's memory, in one static. See README.md, "RAM budget".
struct OtaMemory {
    block: [u8; BLOCK],
    job: [u8; 4096],
    bitmap: [u8; 64],
    read: [u8; BLOCK],
    mqtt_rx: [u8; 6 * 1024],
    mqtt_tx: [u8; 4 * 1024],
    socket_rx: [u8; 8 * 1024],
    socket_tx: [u8; 2 * 1024],
    #[cfg(feature = "http")]
    http: HttpMemory,
    tls: TlsMemory,
}

/// The TLS record buffers (used when the identity holds TLS credentials), sizes from
/// ota-os-embassy's `tls` docs.
struct TlsMemory {
    /// One whole record as the broker sends it (AWS IoT Core sends full 16 KiB records).
    read: [u8; MAX_RECORD],
    /// One record the device sends; the certificate message during the handshake.
    write: [u8; ota_config::TLS_WRITE],
}

/// The HTTP download's memory (feature `http`), sizes from ota-core's and ota-http-reqwless's
/// sizing rules.
#[cfg(feature = "http")]
struct HttpMemory {
    /// The agent's copy of the presigned URL (`Buffers::url`).
    agent_url: [u8; URL_CAPACITY],
    /// The runner's copy of the request URL.
    url: [u8; URL_CAPACITY],
    /// Response headers.
    header: [u8; HEADER_BUFFER],
    /// One body chunk = one flash write: the block size.
    chunk: [u8; BLOCK],
    /// The HTTP TCP socket's buffers.
    socket: TcpClientState<1, HTTP_TX, HTTP_RX>,
}

static OTA_MEMORY: ConstStaticCell<OtaMemory> = ConstStaticCell::new(OtaMemory {
    block: [0; BLOCK],
    job: [0; 4096],
    bitmap: [0; 64],
    read: [0; BLOCK],
    mqtt_rx: [0; 6 * 1024],
    mqtt_tx: [0; 4 * 1024],
    socket_rx: [0; 8 * 1024],
    socket_tx: [0; 2 * 1024],
    #[cfg(feature = "http")]
    http: HttpMemory {
        agent_url: [0; URL_CAPACITY],
        url: [0; URL_CAPACITY],
        header: [0; HEADER_BUFFER],
        chunk: [0; BLOCK],
        socket: TcpClientState::new(),
    },
    tls: TlsMemory {
        read: [0; MAX_RECORD],
        write: [0; ota_config::TLS_WRITE],
    },
});
/// The identity partition's bytes, read once at boot; the identity and the TLS credentials
/// borrow them for the life of the firmware.
static OTA_IDENTITY: ConstStaticCell<[u8; MAX_BLOB]> = ConstStaticCell::new([0; MAX_BLOB]);
static OTA_CHANNELS: Channels = OtaChannels::new();
static OTA_TASK: StaticCell<Task> = StaticCell::new();
static OTA_KEYS: StaticCell<[TrustedKey<'static>; 1]> = StaticCell::new();
static FLASH: StaticCell<Flash> = StaticCell::new();
static NET_RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
/// The HTTP runner's TCP client and DNS resolver (feature `http`).
#[cfg(feature = "http")]
static OTA_HTTP_NET: StaticCell<(HttpTcp, DnsSocket<'static>)> = StaticCell::new();

/// Whom the device connects as, where, and how.
struct Endpoint {
    /// The AWS IoT thing name (MQTT client id).
    thing_name: &'static str,
    /// The broker's host name or IPv4 address (also the TLS server name).
    host: &'static str,
    /// The broker's port.
    port: u16,
    /// Mutual TLS credentials; `None`: plain MQTT.
    tls: Option<TlsCredentials<'static>>,
}

/// The build-time defaults (`OTA_THING_NAME`, `OTA_BROKER`), plain MQTT: what a device
/// without a usable identity (a dev board) connects with.
fn fallback() -> Endpoint {
    warn!(
        "using the build-time defaults: {} at {}:{}, plain MQTT",
        ota_config::THING_NAME,
        ota_config::BROKER_HOST,
        ota_config::BROKER_PORT
    );
    Endpoint {
        thing_name: ota_config::THING_NAME,
        host: ota_config::BROKER_HOST,
        port: ota_config::BROKER_PORT,
        tls: None,
    }
}

/// Reads the identity partition into [`OTA_IDENTITY`] and returns its endpoint, or the
/// build-time defaults when the identity is missing or unusable (the reason is logged).
fn endpoint(flash: &Flash) -> Endpoint {
    let area = OTA_IDENTITY.take();
    if let Err(e) = flash.borrow_mut().read(ota_config::IDENTITY_OFFSET, area) {
        warn!("identity: the otaident partition is unreadable: {e:?}");
        return fallback();
    }
    let area: &'static [u8] = area;
    let id = match Identity::parse(area) {
        Ok(id) => id,
        Err(IdentityError::Erased) => {
            warn!("identity: the otaident partition is erased, the device was never provisioned");
            return fallback();
        }
        Err(e) => {
            warn!("identity: the otaident partition holds no valid identity: {e}");
            return fallback();
        }
    };
    match TlsCredentials::from_identity(&id, ota_config::TLS_WRITE) {
        Ok(tls) => Endpoint {
            thing_name: id.thing_name,
            host: id.host,
            port: id.port,
            tls,
        },
        Err(e) => {
            warn!("identity of {}: {e}", id.thing_name);
            fallback()
        }
    }
}

#[embassy_executor::task]
async fn ota_task(task: &'static mut Task) -> ! {
    match task.run().await {
        Exit::Reset => info!("OTA: resetting into the new (or previous) image"),
        Exit::BootState => warn!("OTA: bootloader state unreadable; resetting"),
        _ => info!("OTA: stopped; resetting"),
    }
    Timer::after(Duration::from_millis(100)).await;
    esp_hal::system::software_reset()
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Interface>) -> ! {
    runner.run().await
}

/// Keeps the station associated: connect, wait for the loss, retry.
#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>) -> ! {
    loop {
        match controller.connect_async().await {
            Ok(_) => {
                info!("Wi-Fi connected to {}", ota_config::WIFI_SSID);
                let _ = controller.wait_for_disconnect_async().await;
                warn!("Wi-Fi lost");
            }
            Err(e) => warn!("Wi-Fi connect failed: {e:?}"),
        }
        Timer::after(Duration::from_secs(5)).await;
    }
}

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    esp_println::logger::init_logger_from_env();
    let p = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    // First thing: the boot check of the application-level rollback (espflash's bootloader
    // has none). An image on trial that never confirmed itself is rolled back here, before
    // anything of it can fail again.
    let flash: &'static Flash = FLASH.init(RefCell::new(FlashStorage::new(p.FLASH)));
    let mut boot = EspIdfBoot::new(flash).with_app_rollback();
    match boot.boot_check() {
        Ok(BootCheck::RolledBack) => {
            warn!("OTA: the image on trial never confirmed itself; rolled back, resetting");
            esp_hal::system::software_reset()
        }
        Ok(check) => info!("OTA boot check: {check:?}"),
        Err(e) => warn!("OTA boot check failed: {e}"),
    }
    // The Wi-Fi driver's heap (the agent uses none).
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: 16 * 1024);

    let timg0 = TimerGroup::new(p.TIMG0);
    esp_rtos::start(timg0.timer0, p.FROM_CPU_INTR0);
    let ep = endpoint(flash);
    info!(
        "OTA firmware {} for {}",
        ota_config::VERSION_STR,
        ep.thing_name
    );

    let rng = Rng::new();
    let seed = (u64::from(rng.random()) << 32) | u64::from(rng.random());

    // Wi-Fi station and the IP stack.
    let mut controller = WifiController::new(p.WIFI, Default::default()).expect("Wi-Fi init");
    let auth = if ota_config::WIFI_PASSWORD.is_empty() {
        AuthenticationMethodConfig::Open
    } else {
        AuthenticationMethodConfig::Wpa2Personal(
            ota_config::WIFI_PASSWORD.try_into().expect("password"),
        )
    };
    let station = StationConfig::default()
        .with_ssid(ota_config::WIFI_SSID.try_into().expect("SSID"))
        .with_authentication(auth);
    controller
        .set_config(&WifiConfig::Station(station))
        .expect("Wi-Fi config");
    spawner.spawn(wifi_task(controller).expect("task"));
    let (stack, net_runner) = embassy_net::new(
        Interface::station(),
        embassy_net::Config::dhcpv4(Default::default()),
        NET_RESOURCES.init(StackResources::new()),
        seed,
    );
    spawner.spawn(net_task(net_runner).expect("task"));

    // Flash: the download slot is the OTA app partition after the running one.
    let (slot_offset, slot_len) = boot.download_partition().expect("partition table");
    let platform: Pal = ota_pal_flash::Platform::new(
        Partition::new(flash, slot_offset, slot_len),
        Partition::new(flash, ota_config::JOURNAL_OFFSET, ota_config::JOURNAL_LEN),
        boot,
        ota_pal_flash::Config::new(),
    )
    .expect("platform");

    let mem = OTA_MEMORY.take();
    let broker = match ep.host.parse::<Ipv4Address>() {
        Ok(ip) => Broker::Addr((ip, ep.port).into()),
        Err(_) => Broker::Host(ep.host, ep.port),
    };
    let tcp = TcpConnector::new(stack, broker, &mut mem.socket_rx, &mut mem.socket_tx);
    let connector: Conn = match ep.tls {
        Some(creds) => {
            // The Wi-Fi driver (started above) is the TRNG's entropy source.
            let trng = Trng::try_new().expect("TRNG: the Wi-Fi driver is its entropy source");
            info!("MQTT over mutual TLS to {}:{}", ep.host, ep.port);
            MaybeTls::Tls(TlsConnector::new(
                tcp,
                creds,
                trng,
                &mut mem.tls.read,
                &mut mem.tls.write,
            ))
        }
        None => {
            info!("MQTT over plain TCP to {}:{}", ep.host, ep.port);
            MaybeTls::Plain(tcp)
        }
    };

    let key =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&ota_config::SIGNER_PUBKEY).expect("signer key");
    let keys = OTA_KEYS.init([TrustedKey { name: None, key }]);
    let mut config = Config::new(ep.thing_name, ota_config::VERSION);
    config.block_size = BLOCK as u32;
    // Jobs offering both protocols use MQTT (`preferred_protocol`); HTTP-only jobs need `http`.
    config.http_enabled = cfg!(feature = "http");
    #[cfg(feature = "http")]
    let url: &'static mut [u8] = &mut mem.http.agent_url;
    #[cfg(not(feature = "http"))]
    let url: &'static mut [u8] = &mut [];
    let agent = AgentSetup {
        config,
        buffers: Buffers {
            block: &mut mem.block,
            job: &mut mem.job,
            bitmap: &mut mem.bitmap,
            url,
        },
        verifier: P256Verifier::new(keys),
    };
    let task = OtaTask::new(
        agent,
        platform,
        connector,
        &OTA_CHANNELS,
        TaskBuffers {
            mqtt_rx: &mut mem.mqtt_rx,
            mqtt_tx: &mut mem.mqtt_tx,
            read: &mut mem.read,
        },
        TaskConfig::new(seed ^ 0x5EED),
    )
    .expect("OTA setup");
    #[cfg(feature = "http")]
    let task = {
        let (tcp, dns) = OTA_HTTP_NET.init((
            TcpClient::new(stack, &mem.http.socket),
            DnsSocket::new(stack),
        ));
        tcp.set_timeout(Some(HTTP_SOCKET_TIMEOUT));
        let buffers = HttpBuffers {
            url: &mut mem.http.url,
            header: &mut mem.http.header,
            chunk: &mut mem.http.chunk,
        };
        task.with_http(HttpRunner::new(tcp, dns, buffers))
    };
    #[cfg(not(feature = "http"))]
    let task = task.with_http(ota_os_embassy::NoHttp);
    spawner.spawn(ota_task(OTA_TASK.init(task)).expect("task"));

    application(stack).await
}

/// The product's side: react to the agent's notifications.
async fn application(stack: embassy_net::Stack<'static>) -> ! {
    let mut reports = 0u32;
    loop {
        match select(OTA_CHANNELS.notification(), OTA_CHANNELS.report.wait()).await {
            Either::First(n) => on_notification(n, stack).await,
            Either::Second(r) => {
                reports += 1;
                if reports % 10 == 1 {
                    info!(
                        "OTA {} link={} received={} processed={} dropped={} connects={}",
                        r.state,
                        r.link_up,
                        r.agent.received,
                        r.agent.processed,
                        r.agent.dropped,
                        r.task.connects
                    );
                }
            }
        }
    }
}

async fn on_notification(n: Notification, stack: embassy_net::Stack<'static>) {
    match n {
        Notification::ReceivedJob {
            job_id, resumed, ..
        } => info!("OTA job {job_id} (resumed: {resumed})"),
        Notification::Progress {
            blocks_done,
            blocks_total,
            ..
        } => info!("OTA progress {blocks_done}/{blocks_total}"),
        Notification::ReadyToActivate { job_id } => {
            info!("OTA job {job_id}: image verified, rebooting into it");
            OTA_CHANNELS.command(AppCommand::Activate).await;
        }
        Notification::StartSelfTest { job_id } => {
            info!("OTA job {job_id}: new image on trial, self-test");
            // The self-test of this firmware: the network came up and stays up for 5 s.
            Timer::after(Duration::from_secs(5)).await;
            let verdict = if stack.is_config_up() {
                AppCommand::Accept
            } else {
                AppCommand::Reject
            };
            OTA_CHANNELS.command(verdict).await;
        }
        Notification::Accepted { job_id } => info!("OTA job {job_id}: committed"),
        Notification::Failed { job_id, reason } => warn!("OTA job {job_id} failed: {reason}"),
        Notification::SelfTestFailed { job_id, reason } => {
            warn!("OTA job {job_id}: self-test failed ({reason}), rolling back")
        }
        Notification::Link(up) => info!("MQTT link {}", if up { "up" } else { "down" }),
        _ => {}
    }
}
