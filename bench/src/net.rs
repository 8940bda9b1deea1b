//! The agent in its std runtime over real sockets, the AWS side behind an MQTT client, and
//! the raw clients the agent is compared with.
//!
//! - The **device** is `ota_os_std::run` (minimq over tokio, the `ota-mqtt-minimq` adapter,
//!   `ota-http-reqwless` for ranges): the same run loop `ota-sim device` uses, on RAM flash
//!   ([`RamPal`]) so that the figure is the agent's and the transport's, not a file system's.
//!   Each device runs on its own OS thread with a current-thread tokio runtime.
//! - The **AWS side** ([`Responder`]) is the `ota-cloud` model behind a `rumqttc` client on its
//!   own thread, as `ota-sim serve --broker` runs it, but with `TCP_NODELAY` (see
//!   BENCHMARKS.md: without it every multi-block answer waits ~40 ms for a delayed ACK), and
//!   subscribed to one thing's request topics only.
//! - The **raw** clients: a `rumqttc` publisher and subscriber with no OTA logic
//!   ([`raw_mqtt`]), and a plain HTTP/1.1 GET on a tokio socket ([`raw_http_get`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ota_cloud::{Cloud, CloudConfig, OtaFile, OtaJobBuilder, Protocol};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{Action, BootInfo, Command, Event, PalError, PlatformImageState, Statistics};
use ota_os_std::http::HttpBackend;
use ota_os_std::{Application, Broker, Pal, Settings};
use ota_pal_flash::Outcome;
use rumqttc::NetworkOptions;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event as MqttEvent, MqttOptions};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::image::{self, STREAM};

/// The cloud model shared by the benchmark's threads.
pub type SharedCloud = Arc<Mutex<Cloud>>;

/// Locks the cloud (a poisoned lock is taken over).
pub fn lock(cloud: &SharedCloud) -> MutexGuard<'_, Cloud> {
    cloud.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    ota_sim::cloud::now_ms()
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// The AWS side's model for the download figures: the image in the stream [`STREAM`] and, when
/// `http` names the server and the object key, as an S3 object whose presigned URLs point at it.
///
/// # Errors
/// The model refused the stream.
pub fn new_cloud(img: &[u8], http: Option<(SocketAddr, &str)>) -> Result<SharedCloud, String> {
    let config = CloudConfig {
        http_host: http.map_or_else(|| "127.0.0.1:0".into(), |(a, _)| a.to_string()),
        ..CloudConfig::default()
    };
    let mut cloud = Cloud::new(config);
    cloud
        .create_stream(STREAM, vec![(0, img.to_vec())])
        .map_err(|e| e.to_string())?;
    if let Some((_, key)) = http {
        cloud.put_object(key, img.to_vec());
    }
    Ok(Arc::new(Mutex::new(cloud)))
}

/// Creates a one-file OTA job `job_id` for `thing`: over MQTT (the stream) or, when
/// `http_key` is given, over HTTP (a presigned URL of that object). `signature` is the
/// image's base64 signature, `len` its size.
///
/// # Errors
/// The model refused the job.
pub fn create_job(
    cloud: &SharedCloud,
    thing: &str,
    job_id: &str,
    len: usize,
    signature: &str,
    http_key: Option<&str>,
) -> Result<(), String> {
    let mut file = OtaFile::new(0, len as u64)
        .file_path("/fw/image.bin")
        .signature(signature.to_string());
    let mut doc = OtaJobBuilder::new();
    match http_key {
        Some(key) => {
            file = file.http_key(key.to_string());
            doc = doc.protocols(&[Protocol::Http]);
        }
        None => doc = doc.protocols(&[Protocol::Mqtt]).stream_name(STREAM),
    }
    let doc = doc.file(file).build();
    let mut c = lock(cloud);
    c.create_job(now_ms(), job_id, [thing], doc)
        .map_err(|e| e.to_string())?;
    let _ = c.drain(); // notify-next: the device asks with $next/get when it starts
    Ok(())
}

/// The request topics of `thing` that the AWS side answers.
fn request_filters(thing: &str) -> [String; 6] {
    [
        format!("$aws/things/{thing}/jobs/+/get"),
        format!("$aws/things/{thing}/jobs/+/update"),
        format!("$aws/things/{thing}/jobs/get"),
        format!("$aws/things/{thing}/jobs/start-next"),
        format!("$aws/things/{thing}/streams/+/get/+"),
        format!("$aws/things/{thing}/streams/+/describe/+"),
    ]
}

fn mqtt_options(client_id: &str, port: u16, nodelay: bool) -> MqttOptions {
    let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(Some(1 << 20));
    opts.set_clean_start(true);
    let mut net = NetworkOptions::new();
    net.set_tcp_nodelay(nodelay);
    opts.set_network_options(net);
    opts
}

/// What the AWS side did during a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponderStats {
    /// Requests received (Jobs and stream).
    pub requests: u64,
    /// Messages published.
    pub published: u64,
    /// Messages that could not be queued for publishing (should stay 0).
    pub publish_errors: u64,
    /// GetStream requests answered.
    pub stream_requests: u64,
    /// Time spent answering them: the model (CBOR encoding of the blocks) and queueing the
    /// blocks for publishing.
    pub stream_time: Duration,
}

/// The AWS side for one thing: the shared `ota-cloud` model behind its own `rumqttc` client
/// (own thread, current-thread runtime). Stop it with [`Responder::stop`].
#[derive(Debug)]
pub struct Responder {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<ResponderStats, String>>>,
}

impl Responder {
    /// Connects to the broker on `port` and subscribes to `thing`'s request topics; returns
    /// once the subscriptions are acknowledged. `nodelay` sets `TCP_NODELAY` on its socket.
    ///
    /// # Errors
    /// The connection or a subscription failed within 10 s.
    pub fn spawn(
        port: u16,
        cloud: SharedCloud,
        thing: &str,
        nodelay: bool,
    ) -> Result<Self, String> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thing = thing.to_string();
        let thread = std::thread::spawn(move || -> Result<ResponderStats, String> {
            let rt = runtime()?;
            rt.block_on(respond(port, cloud, thing, nodelay, ready_tx, stop_rx))
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(Self {
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("responder: not subscribed within 10 s".into()),
        }
    }

    /// Disconnects and returns the counters.
    ///
    /// # Errors
    /// The responder's connection failed during the run.
    pub fn stop(mut self) -> Result<ResponderStats, String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| "responder thread panicked".to_string())?,
            None => Ok(ResponderStats::default()),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn respond(
    port: u16,
    cloud: SharedCloud,
    thing: String,
    nodelay: bool,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    mut stop: oneshot::Receiver<()>,
) -> Result<ResponderStats, String> {
    let filters = request_filters(&thing);
    let opts = mqtt_options(&format!("bench-cloud-{thing}"), port, nodelay);
    let (client, mut events) = AsyncClient::new(opts, 1024);
    let mut stats = ResponderStats::default();
    let mut subacks = 0;
    loop {
        let ev = tokio::select! {
            ev = events.poll() => ev,
            _ = &mut stop => break,
        };
        match ev {
            Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                for f in &filters {
                    client
                        .subscribe(f.clone(), QoS::AtLeastOnce)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            Ok(MqttEvent::Incoming(Packet::SubAck(_))) => {
                subacks += 1;
                if subacks == filters.len() {
                    let _ = ready.send(Ok(()));
                }
            }
            Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                stats.requests += 1;
                let t0 = Instant::now();
                let topic = String::from_utf8_lossy(&p.topic);
                let stream = topic.contains("/streams/");
                let out = {
                    let mut c = lock(&cloud);
                    c.handle_publish(now_ms(), &topic, &p.payload);
                    c.drain()
                };
                for o in out {
                    let qos = if o.topic.contains("/streams/") {
                        QoS::AtMostOnce
                    } else {
                        QoS::AtLeastOnce
                    };
                    match client.try_publish(o.topic, qos, false, o.payload) {
                        Ok(()) => stats.published += 1,
                        Err(_) => stats.publish_errors += 1,
                    }
                }
                if stream {
                    stats.stream_requests += 1;
                    stats.stream_time += t0.elapsed();
                }
            }
            Ok(_) => {}
            Err(e) => {
                let msg = format!("responder: {e}");
                let _ = ready.send(Err(msg.clone()));
                return Err(msg);
            }
        }
    }
    let _ = client.try_disconnect();
    // Let the DISCONNECT go out.
    let _ = tokio::time::timeout(Duration::from_millis(100), events.poll()).await;
    Ok(stats)
}

/// The platform of the networked device: RAM flash, timestamps of the download.
#[derive(Debug)]
pub struct RamPal {
    slot: Vec<u8>,
    capacity: u32,
    record: Option<Vec<u8>>,
    /// When the agent's `FileCreate` was answered: its first data request follows at once.
    pub created: Option<Instant>,
    /// When the last `FileWrite` was done.
    pub last_write: Option<Instant>,
    /// Bytes written.
    pub written: u64,
    /// Writes.
    pub writes: u64,
    /// Offset and time of each write, in order.
    pub write_times: Vec<(u32, Instant)>,
}

impl RamPal {
    /// A RAM flash of `capacity` bytes.
    pub fn new(capacity: u32) -> Self {
        Self {
            slot: Vec::new(),
            capacity,
            record: None,
            created: None,
            last_write: None,
            written: 0,
            writes: 0,
            write_times: Vec::with_capacity(8192),
        }
    }

    /// The download slot's bytes.
    pub fn slot(&self) -> &[u8] {
        &self.slot
    }
}

impl Pal for RamPal {
    fn boot_info<'b>(&mut self, _record_buf: &'b mut [u8]) -> Result<BootInfo<'b>, PalError> {
        Ok(BootInfo {
            platform_state: PlatformImageState::Valid,
            resume: None,
        })
    }

    fn execute<'b>(&mut self, action: &Action<'_>, read_buf: &'b mut [u8]) -> Outcome<'b> {
        match action {
            Action::FileCreate(f) => {
                if f.size > self.capacity {
                    return Outcome::Done(Err(PalError::TooLarge));
                }
                self.slot.clear();
                self.slot.resize(f.size as usize, 0xff);
                self.write_times.clear();
                self.created = Some(Instant::now());
                Outcome::Done(Ok(()))
            }
            Action::FileWrite { offset, data } => {
                let o = *offset as usize;
                match self.slot.get_mut(o..o + data.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(data);
                        self.written += data.len() as u64;
                        self.writes += 1;
                        let now = Instant::now();
                        self.last_write = Some(now);
                        self.write_times.push((*offset, now));
                        Outcome::Done(Ok(()))
                    }
                    None => Outcome::Done(Err(PalError::OutOfBounds)),
                }
            }
            Action::FileRead { offset, len } => {
                let (o, n) = (*offset as usize, *len as usize);
                match (self.slot.get(o..o + n), read_buf.get_mut(..n)) {
                    (Some(src), Some(dst)) => {
                        dst.copy_from_slice(src);
                        Outcome::Data(Ok(dst))
                    }
                    _ => Outcome::Data(Err(PalError::OutOfBounds)),
                }
            }
            Action::FileClose | Action::SetImageState(_) => Outcome::Done(Ok(())),
            Action::FileAbort | Action::ClearResume => Outcome::Silent(Ok(())),
            Action::PersistResume(r) => {
                let rec = self.record.get_or_insert_with(Vec::new);
                rec.clear();
                rec.extend_from_slice(r);
                Outcome::Silent(Ok(()))
            }
            Action::Activate | Action::Reset => Outcome::Reset,
            _ => Outcome::NotPlatform,
        }
    }

    fn slot_capacity(&self) -> u32 {
        self.capacity
    }

    fn max_record_len(&self) -> usize {
        0
    }
}

/// The application of the networked device: reports when the image is verified (the agent
/// asks to activate) or the job failed, and never activates.
struct BenchApp {
    done: Option<oneshot::Sender<Result<Instant, String>>>,
    stats: Option<Statistics>,
}

impl Application for BenchApp {
    fn event(&mut self, event: &Event<'_>) -> Option<Command> {
        let result = match event {
            Event::ReadyToActivate { .. } => Ok(Instant::now()),
            Event::Failed { reason, .. } => Err(format!("job failed: {reason}")),
            _ => return None,
        };
        if let Some(tx) = self.done.take() {
            let _ = tx.send(result);
        }
        None
    }

    fn statistics(&mut self, _state: ota_core::State, stats: &Statistics) {
        self.stats = Some(*stats);
    }
}

/// What one device run is.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// Broker port on 127.0.0.1.
    pub port: u16,
    /// Thing name (and MQTT client id).
    pub thing: String,
    /// Block size.
    pub block_size: u32,
    /// Blocks per GetStream request.
    pub blocks_per_request: u32,
    /// Blocks per HTTP range request.
    pub http_blocks_per_request: u32,
    /// Download over HTTP (the job must offer it) instead of MQTT.
    pub http: bool,
    /// `Config::request_ahead`: a second GetStream request in flight.
    pub request_ahead: bool,
    /// HTTP through `HyperBackend` (hyper + rustls) instead of `ReqwlessBackend`.
    pub hyper: bool,
    /// Give up after this long.
    pub timeout: Duration,
}

/// What one device run measured.
#[derive(Debug, Clone)]
pub struct DeviceRun {
    /// From the file's creation (the first data request follows at once) to the last block
    /// written.
    pub download: Duration,
    /// From the file's creation to the agent's request to activate (read-back, signature
    /// check, status confirmed).
    pub to_ready: Duration,
    /// SHA-256 of the download slot.
    pub slot_sha256: [u8; 32],
    /// Bytes written to the slot.
    pub written: u64,
    /// Block writes.
    pub writes: u64,
    /// Offset of each write and when it was done, from the file's creation, in order.
    pub write_times: Vec<(u32, Duration)>,
    /// The agent's counters, as last reported (every 20 ms) before the end.
    pub stats: Option<Statistics>,
}

/// Runs the std device (`ota_os_std::run`) on RAM flash until the image of its job is
/// verified, on its own thread and runtime.
///
/// # Errors
/// The job failed, the run loop stopped, or the timeout passed.
pub fn run_device(spec: &DeviceSpec) -> Result<DeviceRun, String> {
    let spec = spec.clone();
    std::thread::spawn(move || {
        let rt = runtime()?;
        rt.block_on(device(spec))
    })
    .join()
    .map_err(|_| "device thread panicked".to_string())?
}

async fn device(spec: DeviceSpec) -> Result<DeviceRun, String> {
    let keys = [TrustedKey {
        name: None,
        key: image::trusted_key(),
    }];
    let mut config = ota_core::Config::new(&spec.thing, ota_core::Version::new(1, 0, 0));
    config.block_size = spec.block_size;
    config.blocks_per_request = spec.blocks_per_request;
    config.http_blocks_per_request = spec.http_blocks_per_request;
    config.request_ahead = spec.request_ahead;
    config.request_timeout = ota_core::Duration::from_secs(5);
    config.mqtt_enabled = !spec.http;
    config.http_enabled = spec.http;
    if spec.http {
        config.preferred_protocol = ota_core::Protocol::Http;
    }
    let mut settings = Settings::new(Broker::tcp("127.0.0.1", spec.port));
    settings.stats_interval = Duration::from_millis(20);
    let http: Option<Arc<dyn HttpBackend>> = if spec.http {
        if spec.hyper {
            let b = ota_os_std::http::HyperBackend::system_roots().map_err(|e| e.to_string())?;
            Some(Arc::new(b))
        } else {
            let b = ota_os_std::http::ReqwlessBackend::new(4096).map_err(|e| e.to_string())?;
            Some(Arc::new(b))
        }
    } else {
        None
    };
    let mut pal = RamPal::new(8 << 20);
    let (tx, rx) = oneshot::channel();
    let mut app = BenchApp {
        done: Some(tx),
        stats: None,
    };
    let verified = {
        let run = ota_os_std::run(
            &settings,
            config,
            P256Verifier::new(&keys),
            &mut pal,
            http,
            &mut app,
        );
        tokio::select! {
            r = run => Err(format!("the run loop returned: {r:?}")),
            r = rx => r.map_err(|_| "no result".to_string()).and_then(|r| r),
            _ = tokio::time::sleep(spec.timeout) => Err(format!("timeout after {:?}", spec.timeout)),
        }
    }?;
    let (created, last) = match (pal.created, pal.last_write) {
        (Some(c), Some(l)) => (c, l),
        _ => return Err("no download happened".into()),
    };
    Ok(DeviceRun {
        download: last.saturating_duration_since(created),
        to_ready: verified.saturating_duration_since(created),
        slot_sha256: Sha256::digest(pal.slot()).into(),
        written: pal.written,
        writes: pal.writes,
        write_times: pal
            .write_times
            .iter()
            .map(|(o, t)| (*o, t.saturating_duration_since(created)))
            .collect(),
        stats: app.stats,
    })
}

/// Time spent waiting for answers in a download made of requests of `request_bytes` each, one
/// at a time, in file order, from the writes (offset, time from the file's creation): for
/// every write that starts a request's answer (its offset a multiple of `request_bytes`), the
/// time since the previous write (since the creation for the first). The rest of the download
/// is the time to receive and store the answers.
pub fn request_wait(writes: &[(u32, Duration)], request_bytes: u32) -> Duration {
    let r = request_bytes.max(1);
    let mut wait = Duration::ZERO;
    let mut prev = Duration::ZERO;
    for &(offset, t) in writes {
        if offset % r == 0 {
            wait += t.saturating_sub(prev);
        }
        prev = t;
    }
    wait
}

/// What one raw transfer measured.
#[derive(Debug, Clone, Copy)]
pub struct RawRun {
    /// From the publisher's first publish (or the GET's connect) to the last byte received.
    pub elapsed: Duration,
    /// Messages received.
    pub messages: usize,
    /// Payload bytes received.
    pub bytes: usize,
}

/// The raw MQTT limit: `payloads` published on `topic` at QoS 0 by one plain `rumqttc` client
/// and received by another through the broker on `port`, both with `TCP_NODELAY`, each on
/// its own thread and runtime. Timed from just before the first publish to the arrival of the
/// last message.
///
/// # Errors
/// A connection failed, or not every message arrived within 60 s.
pub fn raw_mqtt(port: u16, topic: &str, payloads: Arc<Vec<Vec<u8>>>) -> Result<RawRun, String> {
    let n = payloads.len();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let sub_topic = topic.to_string();
    let sub = std::thread::spawn(move || -> Result<(Instant, usize, usize), String> {
        let rt = runtime()?;
        rt.block_on(async move {
            let (client, mut events) =
                AsyncClient::new(mqtt_options("bench-raw-sub", port, true), 64);
            let (mut count, mut bytes) = (0usize, 0usize);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let ev = tokio::time::timeout_at(deadline, events.poll())
                    .await
                    .map_err(|_| format!("raw subscriber: {count}/{n} messages in 60 s"))?;
                match ev {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => client
                        .subscribe(sub_topic.clone(), QoS::AtMostOnce)
                        .await
                        .map_err(|e| e.to_string())?,
                    Ok(MqttEvent::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                        count += 1;
                        bytes += p.payload.len();
                        if count == n {
                            let t = Instant::now();
                            let _ = done_tx.send(());
                            let _ = client.try_disconnect();
                            return Ok((t, count, bytes));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(format!("raw subscriber: {e}")),
                }
            }
        })
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "raw subscriber not subscribed within 10 s".to_string())?;
    let pub_topic = topic.to_string();
    let publisher = std::thread::spawn(move || -> Result<Instant, String> {
        let rt = runtime()?;
        rt.block_on(async move {
            let (client, mut events) =
                AsyncClient::new(mqtt_options("bench-raw-pub", port, true), 256);
            loop {
                match events.poll().await {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => break,
                    Ok(_) => {}
                    Err(e) => return Err(format!("raw publisher: {e}")),
                }
            }
            let t0 = Instant::now();
            let c = client.clone();
            let sender = tokio::spawn(async move {
                for p in payloads.iter() {
                    if c.publish(pub_topic.clone(), QoS::AtMostOnce, false, p.clone())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
            let mut done = done_rx;
            loop {
                tokio::select! {
                    ev = events.poll() => {
                        if let Err(e) = ev {
                            return Err(format!("raw publisher: {e}"));
                        }
                    }
                    _ = &mut done => break,
                }
            }
            sender.abort();
            let _ = client.try_disconnect();
            Ok(t0)
        })
    });
    let (t_last, messages, bytes) = sub
        .join()
        .map_err(|_| "raw subscriber panicked".to_string())??;
    let t0 = publisher
        .join()
        .map_err(|_| "raw publisher panicked".to_string())??;
    Ok(RawRun {
        elapsed: t_last.saturating_duration_since(t0),
        messages,
        bytes,
    })
}

/// The request/response limit over MQTT: a plain `rumqttc` client with no OTA logic asks the
/// AWS side (a [`Responder`] for `thing`, which must be running) for the stream's `blocks`
/// blocks of `block_size`, `per_request` at a time, one request outstanding (as the agent
/// does), and counts the answers. Timed from the first request to the last block received.
///
/// # Errors
/// The connection failed, or not every block arrived within 60 s.
pub fn raw_request_response(
    port: u16,
    thing: &str,
    block_size: u32,
    per_request: u32,
    blocks: u32,
) -> Result<RawRun, String> {
    use ota_cloud::topics::{self, StreamFormat};
    use ota_core::codec::cbor::{GetStreamRequest, encode_get_stream_request};
    let data = topics::stream_data(thing, STREAM, StreamFormat::Cbor);
    let get = topics::stream_get(thing, STREAM, StreamFormat::Cbor);
    let client_id = format!("bench-rr-{thing}");
    let k = per_request.max(1);
    std::thread::spawn(move || -> Result<RawRun, String> {
        let rt = runtime()?;
        rt.block_on(async move {
            let (client, mut events) = AsyncClient::new(mqtt_options(&client_id, port, true), 64);
            let request = |offset: u32| -> Result<Vec<u8>, String> {
                let mut buf = [0u8; 64];
                let req = GetStreamRequest {
                    client_token: "rr",
                    file_id: 0,
                    block_size,
                    block_offset: offset,
                    bitmap: None,
                    num_blocks: Some(k.min(blocks - offset)),
                };
                let n = encode_get_stream_request(&req, &mut buf).map_err(|e| e.to_string())?;
                Ok(buf[..n].to_vec())
            };
            let (mut offset, mut in_window, mut received, mut bytes) = (0u32, 0u32, 0u32, 0usize);
            let mut t0 = None;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let ev = tokio::time::timeout_at(deadline, events.poll())
                    .await
                    .map_err(|_| format!("request/response: {received}/{blocks} blocks in 60 s"))?;
                match ev {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => client
                        .subscribe(data.clone(), QoS::AtMostOnce)
                        .await
                        .map_err(|e| e.to_string())?,
                    Ok(MqttEvent::Incoming(Packet::SubAck(_))) => {
                        t0 = Some(Instant::now());
                        client
                            .try_publish(get.clone(), QoS::AtMostOnce, false, request(0)?)
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                        received += 1;
                        in_window += 1;
                        bytes += p.payload.len();
                        if in_window == k.min(blocks - offset) {
                            offset += in_window;
                            in_window = 0;
                            if offset >= blocks {
                                let elapsed = t0.map_or(Duration::ZERO, |t| t.elapsed());
                                let _ = client.try_disconnect();
                                return Ok(RawRun {
                                    elapsed,
                                    messages: received as usize,
                                    bytes,
                                });
                            }
                            client
                                .try_publish(get.clone(), QoS::AtMostOnce, false, request(offset)?)
                                .map_err(|e| e.to_string())?;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(format!("request/response: {e}")),
                }
            }
        })
    })
    .join()
    .map_err(|_| "request/response client panicked".to_string())?
}

/// The request/response limit over HTTP: a plain client on one keep-alive tokio connection
/// (with `TCP_NODELAY`) fetches `path` (`len` bytes) in `Range` requests of `range_bytes`, one
/// at a time, bodies read into memory. Timed from the connect to the last byte.
///
/// # Errors
/// I/O errors, a status other than 206, or a malformed answer.
pub fn raw_http_ranges(
    port: u16,
    path: &str,
    len: usize,
    range_bytes: usize,
) -> Result<(RawRun, Vec<u8>), String> {
    let rt = runtime()?;
    rt.block_on(async move {
        let mut body: Vec<u8> = Vec::with_capacity(len);
        let mut buf: Vec<u8> = Vec::with_capacity(range_bytes + 65536);
        let t0 = Instant::now();
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut requests = 0;
        while body.len() < len {
            let first = body.len();
            let last = (first + range_bytes).min(len) - 1;
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nRange: bytes={first}-{last}\r\n\r\n"
            );
            s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
            requests += 1;
            // Header, then exactly Content-Length bytes (what is read past the header counts).
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                if buf.capacity() - buf.len() < 16384 {
                    buf.reserve(65536);
                }
                if s.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                    return Err("connection closed in a header".into());
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 206") {
                return Err(format!("range {first}-{last}: {}", head.lines().next().unwrap_or("")));
            }
            let want: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or("no content-length")?;
            while buf.len() < head_end + want {
                if buf.capacity() - buf.len() < 16384 {
                    buf.reserve(65536);
                }
                if s.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                    return Err("connection closed in a body".into());
                }
            }
            body.extend_from_slice(&buf[head_end..head_end + want]);
            buf.drain(..head_end + want);
        }
        Ok((
            RawRun {
                elapsed: t0.elapsed(),
                messages: requests,
                bytes: body.len(),
            },
            body,
        ))
    })
}

/// The raw HTTP limit: one plain HTTP/1.1 GET of `path` (no `Range`) on a fresh tokio
/// connection with `TCP_NODELAY`, the body read into a buffer. Timed from the connect to the
/// last byte. Returns the run and the body (checked by the caller, outside the timing).
///
/// # Errors
/// I/O errors, a status other than 200, or a short body.
pub fn raw_http_get(port: u16, path: &str, expect_len: usize) -> Result<(RawRun, Vec<u8>), String> {
    let rt = runtime()?;
    rt.block_on(async move {
        let mut buf: Vec<u8> = Vec::with_capacity(expect_len + 4096);
        let t0 = Instant::now();
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        loop {
            if buf.capacity() - buf.len() < 65536 {
                buf.reserve(65536);
            }
            let n = s.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
        }
        let elapsed = t0.elapsed();
        let head_end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no HTTP header end")?
            + 4;
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("GET {path}: {}", head.lines().next().unwrap_or("")));
        }
        let body = buf.split_off(head_end);
        if body.len() != expect_len {
            return Err(format!(
                "GET {path}: {} bytes, {expect_len} expected",
                body.len()
            ));
        }
        Ok((
            RawRun {
                elapsed,
                messages: 1,
                bytes: body.len(),
            },
            body,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wait_sums_the_gaps_before_each_answer() {
        let ms = Duration::from_millis;
        // Requests of 2 blocks of 10 bytes: answers start at offsets 0, 20, 40.
        let w = [
            (0, ms(5)),
            (10, ms(6)),
            (20, ms(10)),
            (30, ms(11)),
            (40, ms(20)),
        ];
        assert_eq!(request_wait(&w, 20), ms(5) + ms(4) + ms(9));
        assert_eq!(request_wait(&w, 10), ms(20));
        assert_eq!(request_wait(&[], 4), Duration::ZERO);
        // Unaligned chunks (HTTP bodies): only the write at a request's start counts.
        let w = [(0, ms(1)), (7, ms(2)), (20, ms(5)), (27, ms(6))];
        assert_eq!(request_wait(&w, 20), ms(1) + ms(3));
    }

    #[test]
    fn ram_pal_stores_reads_and_refuses_out_of_bounds() {
        let mut pal = RamPal::new(64);
        let mut buf = [0u8; 16];
        let w = Action::FileWrite {
            offset: 2,
            data: &[1, 2, 3],
        };
        // No file yet: the slot is empty, so the write is out of bounds.
        assert!(matches!(
            pal.execute(&w, &mut buf),
            Outcome::Done(Err(PalError::OutOfBounds))
        ));
        let create = |size| {
            Action::FileCreate(ota_core::FileInfo {
                index: 0,
                file_type: 0,
                is_firmware: true,
                size,
                path: "/fw",
                resume: false,
            })
        };
        assert!(matches!(
            pal.execute(&create(65), &mut buf),
            Outcome::Done(Err(PalError::TooLarge))
        ));
        assert!(matches!(
            pal.execute(&create(8), &mut buf),
            Outcome::Done(Ok(()))
        ));
        assert!(matches!(pal.execute(&w, &mut buf), Outcome::Done(Ok(()))));
        assert_eq!(pal.slot(), &[0xff, 0xff, 1, 2, 3, 0xff, 0xff, 0xff]);
        assert_eq!((pal.writes, pal.written, pal.write_times.len()), (1, 3, 1));
        match pal.execute(&Action::FileRead { offset: 1, len: 3 }, &mut buf) {
            Outcome::Data(Ok(d)) => assert_eq!(d, &[0xff, 1, 2]),
            _ => panic!("read failed"),
        }
        assert!(matches!(
            pal.execute(&Action::FileRead { offset: 6, len: 3 }, &mut buf),
            Outcome::Data(Err(PalError::OutOfBounds))
        ));
        assert!(matches!(
            pal.execute(&Action::Reset, &mut buf),
            Outcome::Reset
        ));
    }
}
