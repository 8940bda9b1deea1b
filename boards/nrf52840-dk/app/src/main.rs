//! AWS IoT OTA firmware for the nRF52840-DK.
//!
//! - Identity: the thing name, the broker and the TLS credentials are read at boot from the
//!   OTA_IDENTITY flash page (`ota_os_embassy::identity`), provisioned once per device, so one
//!   image serves the whole fleet and no private key travels in an OTA image. A device
//!   without a valid identity falls back to the build-time `OTA_THING_NAME` and `OTA_BROKER`
//!   over plain MQTT (see README.md, "Provision a device").
//! - Network: a WIZnet W5500 Ethernet module on SPI3 (embassy-net-wiznet, MACRAW) and
//!   embassy-net with DHCP; the MQTT broker is reached over mutual TLS when the identity holds
//!   credentials (AWS IoT Core on port 8883), otherwise over plain TCP.
//! - HTTP (feature `http`, on by default): jobs with protocol HTTP download their file with
//!   range requests on a second TCP socket (ota-os-embassy's reqwless runner), plain `http://`
//!   presigned URLs only (README.md, "HTTP downloads").
//! - Flash: the DFU partition is the download slot and OTA_JOURNAL the resume journal
//!   (ota-pal-flash), BOOTLOADER_STATE is embassy-boot's state (activation, `mark_booted`),
//!   OTA_IDENTITY the device's identity (read only).
//! - The agent runs in its own task (ota-os-embassy); this file is the application around it:
//!   it activates verified images, runs the self-test of a new image and accepts it.
#![no_std]
#![no_main]

use core::cell::RefCell;
use defmt::{info, unwrap, warn};
use embassy_boot_nrf::AlignedBuffer;
use embassy_embedded_hal::flash::partition::BlockingPartition;
use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_net::{Ipv4Address, StackResources};
#[cfg(feature = "http")]
use embassy_net::{
    dns::DnsSocket,
    tcp::client::{TcpClient, TcpClientState},
};
use embassy_net_wiznet::chip::W5500;
use embassy_nrf::gpio::{Input, Level, Output, OutputDrive, Pull};
use embassy_nrf::mode::Blocking;
use embassy_nrf::nvmc::Nvmc;
use embassy_nrf::rng::Rng;
use embassy_nrf::spim::{self, Spim};
use embassy_nrf::wdt::{self, HaltConfig, SleepConfig, Watchdog, WatchdogHandle};
use embassy_nrf::{bind_interrupts, peripherals};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, NoopRawMutex};
use embassy_time::{Delay, Duration, Timer};
use embedded_hal_bus::spi::ExclusiveDevice;
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{Buffers, Config};
use ota_os_embassy::identity::{Identity, IdentityError};
use ota_os_embassy::net::MaybeTls;
use ota_os_embassy::net::{Broker, TcpConnector};
#[cfg(feature = "http")]
use ota_os_embassy::ota_http_reqwless::{HEADER_BUFFER, HttpBuffers, HttpRunner, URL_CAPACITY};
use ota_os_embassy::tls::{MAX_RECORD, TlsConnector, TlsCredentials};
use ota_os_embassy::{
    AgentSetup, AppCommand, Exit, Notification, OtaChannels, OtaTask, TaskBuffers, TaskConfig,
};
use ota_pal_flash::boot::embassy::EmbassyBoot;
use static_cell::{ConstStaticCell, StaticCell};
use {defmt_rtt as _, panic_probe as _};

mod ota_config {
    include!(concat!(env!("OUT_DIR"), "/ota_config.rs"));
}

bind_interrupts!(struct Irqs {
    SPIM3 => spim::InterruptHandler<peripherals::SPI3>;
});

/// Watchdog period, as the bootloader started it (bootloader/src/main.rs).
const WATCHDOG_TICKS: u32 = 20 * 32_768;
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

type Nvm = Mutex<NoopRawMutex, RefCell<Nvmc<'static>>>;
type Part = BlockingPartition<'static, NoopRawMutex, Nvmc<'static>>;
type Pal = ota_pal_flash::Platform<Part, Part, EmbassyBoot<'static, Part>>;
type Channels = OtaChannels<CriticalSectionRawMutex, 4, 8>;
/// One HTTP connection at a time (ota-os-embassy hands the runner one range per connection).
#[cfg(feature = "http")]
type HttpTcp = TcpClient<'static, 1, HTTP_TX, HTTP_RX>;
#[cfg(feature = "http")]
type Http = HttpRunner<'static, HttpTcp, DnsSocket<'static>>;
#[cfg(not(feature = "http"))]
type Http = ota_os_embassy::NoHttp;
/// The broker connection: plain TCP, or mutual TLS over the TCP socket with keys from the RNG
/// peripheral, as the device's identity says.
type Conn = MaybeTls<
    TcpConnector<'static>,
    TlsConnector<'static, TcpConnector<'static>, Rng<'static, Blocking>>,
>;
type Task = OtaTask<'static, P256Verifier<'static>, Pal, Conn, CriticalSectionRawMutex, 4, 8, Http>;
type SpiDev = ExclusiveDevice<Spim<'static>, Output<'static>, Delay>;
type EthRunner =
    embassy_net_wiznet::Runner<'static, W5500, SpiDev, Input<'static>, Output<'static>>;

/// All of the agent's memory, in one static (no heap). See README.md, "RAM budget".
struct OtaMemory {
    block: [u8; BLOCK],
    job: [u8; 4096],
    bitmap: [u8; 64],
    read: [u8; BLOCK],
    mqtt_rx: [u8; 6 * 1024],
    mqtt_tx: [u8; 4 * 1024],
    socket_rx: [u8; 8 * 1024],
    socket_tx: [u8; 2 * 1024],
    state_word: AlignedBuffer<4>,
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
    state_word: AlignedBuffer([0; 4]),
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
static OTA_CHANNELS: Channels = OtaChannels::new();
static OTA_TASK: StaticCell<Task> = StaticCell::new();
static OTA_KEYS: StaticCell<[TrustedKey<'static>; 1]> = StaticCell::new();
static NVMC: StaticCell<Nvm> = StaticCell::new();
static ETH_STATE: StaticCell<embassy_net_wiznet::State<4, 4>> = StaticCell::new();
static NET_RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
/// The HTTP runner's TCP client and DNS resolver (feature `http`).
#[cfg(feature = "http")]
static OTA_HTTP_NET: StaticCell<(HttpTcp, DnsSocket<'static>)> = StaticCell::new();

unsafe extern "C" {
    static __bootloader_state_start: u32;
    static __bootloader_state_end: u32;
    static __bootloader_dfu_start: u32;
    static __bootloader_dfu_end: u32;
    static __ota_journal_start: u32;
    static __ota_journal_end: u32;
    static __ota_identity_start: u32;
    static __ota_identity_end: u32;
    static __ota_active_len: u32;
}

/// A flash range from memory.x's symbols: (offset, length).
fn region(start: &u32, end: &u32) -> (u32, u32) {
    let s = start as *const u32 as u32;
    let e = end as *const u32 as u32;
    (s, e - s)
}

/// The OTA_IDENTITY page, read in place: the nRF52840's internal flash is mapped at address 0
/// and reads like memory, so the identity (and the TLS credentials that borrow it) need no
/// copy in RAM.
fn identity_area() -> &'static [u8] {
    // SAFETY: the symbols are defined by memory.x; only their addresses are used.
    let (start, len) = unsafe { region(&__ota_identity_start, &__ota_identity_end) };
    // SAFETY: memory.x places OTA_IDENTITY inside the 1 MiB of internal flash (asserted at
    // link time), where an offset is an address and every byte is readable; nothing writes or
    // erases that page while the firmware runs (it lies outside the ACTIVE, DFU, bootloader
    // state and journal partitions, the only flash the application, the agent and the
    // bootloader are given), so the bytes do not change while the slice lives.
    unsafe { core::slice::from_raw_parts(start as usize as *const u8, len as usize) }
}

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

/// The endpoint of the identity in `area`, or the build-time defaults when the identity is
/// missing or unusable (the reason is logged).
fn endpoint(area: &'static [u8]) -> Endpoint {
    let id = match Identity::parse(area) {
        Ok(id) => id,
        Err(IdentityError::Erased) => {
            warn!("identity: OTA_IDENTITY is erased, the device was never provisioned");
            return fallback();
        }
        Err(e) => {
            warn!("identity: OTA_IDENTITY holds no valid identity: {}", e);
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
            warn!("identity of {}: {}", id.thing_name, e);
            fallback()
        }
    }
}

#[embassy_executor::task]
async fn ota_task(task: &'static mut Task) -> ! {
    let exit = task.run().await;
    match exit {
        Exit::Reset => info!("OTA: resetting into the new (or previous) image"),
        Exit::BootState => warn!("OTA: bootloader state unreadable; resetting"),
        _ => info!("OTA: stopped; resetting"),
    }
    // Let the last log lines out.
    Timer::after(Duration::from_millis(100)).await;
    cortex_m::peripheral::SCB::sys_reset()
}

#[embassy_executor::task]
async fn eth_task(runner: EthRunner) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(
    mut runner: embassy_net::Runner<'static, embassy_net_wiznet::Device<'static>>,
) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn watchdog_task(mut handle: WatchdogHandle) -> ! {
    loop {
        handle.pet();
        Timer::after(Duration::from_secs(5)).await;
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_nrf::init(Default::default());
    let ep = endpoint(identity_area());
    info!(
        "OTA firmware {} for {}",
        ota_config::VERSION.to_u32(),
        ep.thing_name
    );

    // The bootloader started the watchdog; take it over with the same settings.
    let mut wdt_config = wdt::Config::default();
    wdt_config.timeout_ticks = WATCHDOG_TICKS;
    wdt_config.action_during_sleep = SleepConfig::Run;
    wdt_config.action_during_debug_halt = HaltConfig::Pause;
    match Watchdog::try_new::<_, 1>(p.WDT, wdt_config) {
        Ok((_wdt, [handle])) => spawner.spawn(unwrap!(watchdog_task(handle))),
        Err(_) => warn!("watchdog runs with another configuration: no petting (it will reset)"),
    }

    let mut rng: Rng<'static, Blocking> = Rng::new_blocking(p.RNG);
    // Unbiased bits: the TLS keys (ECDHE, client random) come from here too.
    rng.set_bias_correction(true);
    let seed = rng.blocking_next_u64();

    // W5500 on SPI3: SCK P1.15, MISO P1.14, MOSI P1.13, CS P1.12, INT P1.11, RST P1.10
    // (Arduino header D13, D12, D11, D10, D9, D8).
    let mut spi_config = spim::Config::default();
    spi_config.frequency = spim::Frequency::M8;
    let spi = Spim::new(p.SPI3, Irqs, p.P1_15, p.P1_14, p.P1_13, spi_config);
    let cs = Output::new(p.P1_12, Level::High, OutputDrive::Standard);
    let spi = unwrap!(ExclusiveDevice::new(spi, cs, Delay));
    let int = Input::new(p.P1_11, Pull::Up);
    let reset = Output::new(p.P1_10, Level::High, OutputDrive::Standard);
    let mut mac = [0x02, 0, 0, 0, 0, 0];
    rng.blocking_fill_bytes(&mut mac[1..]);
    let (device, eth_runner) = unwrap!(
        embassy_net_wiznet::new(
            mac,
            ETH_STATE.init(embassy_net_wiznet::State::new()),
            spi,
            int,
            reset
        )
        .await
        .ok()
    );
    spawner.spawn(unwrap!(eth_task(eth_runner)));
    let (stack, net_runner) = embassy_net::new(
        device,
        embassy_net::Config::dhcpv4(Default::default()),
        NET_RESOURCES.init(StackResources::new()),
        seed,
    );
    spawner.spawn(unwrap!(net_task(net_runner)));

    // Flash: one NVMC shared by the DFU slot, the journal and embassy-boot's state.
    let nvmc: &'static Nvm = NVMC.init(Mutex::new(RefCell::new(Nvmc::new(p.NVMC))));
    // SAFETY: the symbols are defined by memory.x; only their addresses are used.
    let (state, dfu, journal, active_len) = unsafe {
        (
            region(&__bootloader_state_start, &__bootloader_state_end),
            region(&__bootloader_dfu_start, &__bootloader_dfu_end),
            region(&__ota_journal_start, &__ota_journal_end),
            &__ota_active_len as *const u32 as u32,
        )
    };
    let mem = OTA_MEMORY.take();
    let boot = unwrap!(
        EmbassyBoot::new(
            BlockingPartition::new(nvmc, state.0, state.1),
            &mut mem.state_word.0,
            active_len,
        )
        .ok()
    );
    let platform: Pal = unwrap!(
        ota_pal_flash::Platform::new(
            BlockingPartition::new(nvmc, dfu.0, dfu.1),
            BlockingPartition::new(nvmc, journal.0, journal.1),
            boot,
            ota_pal_flash::Config::new(),
        )
        .ok()
    );

    let broker = match ep.host.parse::<Ipv4Address>() {
        Ok(ip) => Broker::Addr((ip, ep.port).into()),
        Err(_) => Broker::Host(ep.host, ep.port),
    };
    let tcp = TcpConnector::new(stack, broker, &mut mem.socket_rx, &mut mem.socket_tx);
    let connector: Conn = match ep.tls {
        Some(creds) => {
            info!("MQTT over mutual TLS to {}:{}", ep.host, ep.port);
            MaybeTls::Tls(TlsConnector::new(
                tcp,
                creds,
                rng,
                &mut mem.tls.read,
                &mut mem.tls.write,
            ))
        }
        None => {
            info!("MQTT over plain TCP to {}:{}", ep.host, ep.port);
            MaybeTls::Plain(tcp)
        }
    };

    let key = unwrap!(p256::ecdsa::VerifyingKey::from_sec1_bytes(&ota_config::SIGNER_PUBKEY).ok());
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
    let task = unwrap!(
        OtaTask::new(
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
        .ok()
    );
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
    spawner.spawn(unwrap!(ota_task(OTA_TASK.init(task))));

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
                        r.state.as_str(),
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
        } => {
            info!("OTA job {} (resumed: {})", job_id.as_str(), resumed)
        }
        Notification::Progress {
            blocks_done,
            blocks_total,
            ..
        } => {
            info!("OTA progress {}/{}", blocks_done, blocks_total)
        }
        Notification::ReadyToActivate { job_id } => {
            info!(
                "OTA job {}: image verified, rebooting into it",
                job_id.as_str()
            );
            OTA_CHANNELS.command(AppCommand::Activate).await;
        }
        Notification::StartSelfTest { job_id } => {
            info!("OTA job {}: new image on trial, self-test", job_id.as_str());
            // The self-test of this firmware: the network came up and stays up for 5 s.
            // (A product checks its own peripherals here.)
            Timer::after(Duration::from_secs(5)).await;
            let verdict = if stack.is_config_up() {
                AppCommand::Accept
            } else {
                AppCommand::Reject
            };
            OTA_CHANNELS.command(verdict).await;
        }
        Notification::Accepted { job_id } => info!("OTA job {}: committed", job_id.as_str()),
        Notification::Failed { job_id, reason } => {
            warn!("OTA job {} failed: {}", job_id.as_str(), reason.code())
        }
        Notification::SelfTestFailed { job_id, .. } => {
            warn!(
                "OTA job {}: self-test failed, rolling back",
                job_id.as_str()
            )
        }
        Notification::Link(up) => info!("MQTT link {}", if up { "up" } else { "down" }),
        _ => {}
    }
}
