//! The AWS side over real sockets: [`ota_cloud::Cloud`] driven by an MQTT client (on the
//! embedded broker or any MQTT 5 broker) and an HTTP server for presigned range downloads.
//! There is no second emulator: every Jobs, stream and HTTP answer comes from `ota-cloud`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ota_cloud::{Cloud, CloudConfig, JobOptions, OtaFile, OtaJobBuilder, Protocol, SigningKey};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::mpsc;

/// Milliseconds since the Unix epoch (the cloud's clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The shared cloud model.
pub type SharedCloud = Arc<Mutex<Cloud>>;

/// Locks the cloud (a poisoned lock is taken over: the model has no invariants a panic in a
/// caller could break half-way).
pub fn lock(cloud: &SharedCloud) -> MutexGuard<'_, Cloud> {
    cloud.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new cloud whose presigned URLs point at `http_addr`.
pub fn new_cloud(http_addr: Option<SocketAddr>, seed: u64) -> SharedCloud {
    let config = CloudConfig {
        seed,
        http_host: http_addr.map_or_else(|| "127.0.0.1:0".into(), |a| a.to_string()),
        ..CloudConfig::default()
    };
    Arc::new(Mutex::new(Cloud::new(config)))
}

/// The request topics the cloud answers (Jobs and streams), as MQTT filters.
pub const FILTERS: [&str; 6] = [
    "$aws/things/+/jobs/+/get",
    "$aws/things/+/jobs/+/update",
    "$aws/things/+/jobs/get",
    "$aws/things/+/jobs/start-next",
    "$aws/things/+/streams/+/get/+",
    "$aws/things/+/streams/+/describe/+",
];

/// Host and port of an `mqtt://HOST:PORT` URL (also `mqtts://`, `tcp://` or a bare
/// `HOST:PORT`; TLS is chosen by the device's `--tls-*` flags, not by the scheme).
///
/// # Errors
/// A message when the URL is not of that form.
pub fn parse_mqtt_url(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("mqtts://"))
        .or_else(|| url.strip_prefix("tcp://"))
        .unwrap_or(url);
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("broker URL {url:?} is not mqtt://HOST:PORT"))?;
    let port = port
        .trim_end_matches('/')
        .parse()
        .map_err(|_| format!("bad port in broker URL {url:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("no host in broker URL {url:?}"));
    }
    Ok((host.to_string(), port))
}

/// Counters of the cloud's MQTT side.
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Requests received.
    pub received: std::sync::atomic::AtomicU64,
    /// Messages published.
    pub published: std::sync::atomic::AtomicU64,
}

/// Runs the cloud as an MQTT client of the broker at `host:port`, forever (reconnecting).
/// Messages the model queues without a request (notify-next after a job is created or
/// cancelled) are published when `kick` fires; send `()` on it after control-plane calls.
pub async fn run_mqtt(
    host: String,
    port: u16,
    cloud: SharedCloud,
    kick: mpsc::UnboundedReceiver<()>,
    counters: Arc<LinkCounters>,
    ready: Option<Arc<tokio::sync::Notify>>,
) {
    let no_delay = Arc::new(std::sync::atomic::AtomicU64::new(0));
    run_mqtt_slowed(host, port, cloud, kick, counters, ready, no_delay).await;
}

/// [`run_mqtt`] whose stream service holds each `GetStream` request back by `stream_delay_ms`
/// milliseconds before answering it (a slow link for tests; the other requests are answered
/// in order behind it).
pub async fn run_mqtt_slowed(
    host: String,
    port: u16,
    cloud: SharedCloud,
    mut kick: mpsc::UnboundedReceiver<()>,
    counters: Arc<LinkCounters>,
    ready: Option<Arc<tokio::sync::Notify>>,
    stream_delay_ms: Arc<std::sync::atomic::AtomicU64>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut opts = MqttOptions::new(format!("ota-sim-cloud-{}", std::process::id()), host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(Some(crate::broker::MAX_PACKET));
    opts.set_clean_start(true);
    // The stream service sends bursts of blocks: without TCP_NODELAY each small write waits
    // for the previous one's ACK (research/limits.md: Nagle stalls).
    let mut net = opts.network_options();
    net.set_tcp_nodelay(true);
    opts.set_network_options(net);
    let (client, mut events) = AsyncClient::new(opts, 4096);
    let (in_tx, mut in_rx) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
    let sub_client = client.clone();
    tokio::spawn(async move {
        let mut subacks = 0usize;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    subacks = 0;
                    for f in FILTERS {
                        let _ = sub_client.subscribe(f, QoS::AtLeastOnce).await;
                    }
                    // Deliver what the model queued while the link was down.
                    let _ = in_tx.send((String::new(), Vec::new()));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    subacks += 1;
                    if subacks == FILTERS.len()
                        && let Some(r) = &ready
                    {
                        r.notify_one();
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    if in_tx.send((topic, p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    log::debug!("cloud MQTT link: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    loop {
        tokio::select! {
            m = in_rx.recv() => {
                let Some((topic, payload)) = m else { return };
                if !topic.is_empty() {
                    counters.received.fetch_add(1, Relaxed);
                    let delay = stream_delay_ms.load(Relaxed);
                    if delay > 0 && topic.contains("/streams/") && topic.contains("/get/") {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    lock(&cloud).handle_publish(now_ms(), &topic, &payload);
                }
            }
            k = kick.recv() => { if k.is_none() { return; } }
        }
        let out = lock(&cloud).drain();
        for o in out {
            let qos = if o.topic.contains("/streams/") {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            };
            counters.published.fetch_add(1, Relaxed);
            if client
                .publish(o.topic, qos, false, o.payload)
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// How a job's image is signed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Signature {
    /// Signed with this key, as AWS Signer would.
    Key(SigningKey),
    /// This base64 value as `sig-sha256-ecdsa` (possibly wrong on purpose).
    Raw(String),
    /// No signature (an update created without code signing).
    None,
}

/// A job to create: one firmware file for a set of things.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Job id.
    pub job_id: String,
    /// Things.
    pub targets: Vec<String>,
    /// The image.
    pub image: Vec<u8>,
    /// Data protocols offered, in order of preference.
    pub protocols: Vec<Protocol>,
    /// Signature.
    pub signature: Signature,
    /// `certfile`, the name of the key the device should verify with.
    pub certfile: Option<String>,
    /// Lifetime of the presigned URL.
    pub presign_expiry_s: Option<u64>,
}

/// Creates the stream and/or object and the job, as CreateOTAUpdate does.
///
/// # Errors
/// The model's error, as text.
pub fn create_job(cloud: &mut Cloud, spec: &JobSpec) -> Result<(), String> {
    let now = now_ms();
    let mqtt = spec.protocols.contains(&Protocol::Mqtt);
    let http = spec.protocols.contains(&Protocol::Http);
    let stream = format!("AFR_OTA-{}", spec.job_id);
    let mut file = OtaFile::new(0, spec.image.len() as u64).file_path("/fw/image.bin");
    match &spec.signature {
        Signature::Key(k) => file = file.signature(k.sign(&spec.image)),
        Signature::Raw(s) => file = file.signature(s.clone()),
        Signature::None => {}
    }
    if let Some(c) = &spec.certfile {
        file = file.cert_file(c.clone());
    }
    if mqtt {
        cloud
            .create_stream(&stream, vec![(0, spec.image.clone())])
            .map_err(|e| e.to_string())?;
    }
    if http {
        let key = format!("ota/{}/image.bin", spec.job_id);
        cloud.put_object(&key, spec.image.clone());
        file = file.http_key(key);
    }
    let mut doc = OtaJobBuilder::new().protocols(&spec.protocols).file(file);
    if mqtt {
        doc = doc.stream_name(stream);
    }
    let options = JobOptions {
        presigned_url_expires_in_s: spec.presign_expiry_s,
    };
    cloud
        .create_job_with_options(
            now,
            &spec.job_id,
            spec.targets.clone(),
            doc.build(),
            options,
        )
        .map_err(|e| e.to_string())
}

/// One answer of the data-plane HTTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServed {
    /// Status code.
    pub status: u16,
    /// The object key (the path without its leading `/`).
    pub path: String,
    /// The `Range` header of the request, if any.
    pub range: Option<String>,
    /// The bytes of the object the answer carried (`first..=last`), for `200` and `206`.
    pub bytes: Option<(u64, u64)>,
}

/// What the data-plane HTTP server saw (every answer, in order), and how long it holds each
/// answer back (a slow link for tests; 0 by default).
#[derive(Debug, Default)]
pub struct HttpTap {
    /// Milliseconds each answer waits before it is computed and sent.
    pub delay_ms: std::sync::atomic::AtomicU64,
    log: Mutex<Vec<HttpServed>>,
}

impl HttpTap {
    /// The answers so far.
    pub fn served(&self) -> Vec<HttpServed> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn push(&self, s: HttpServed) {
        if let Ok(mut l) = self.log.lock() {
            l.push(s);
        }
    }
}

fn served_bytes(status: u16, headers: &[(String, String)], body_len: usize) -> Option<(u64, u64)> {
    match status {
        200 if body_len > 0 => Some((0, body_len as u64 - 1)),
        206 => {
            let v = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-range"))?
                .1
                .strip_prefix("bytes ")?;
            let (a, b) = v.split_once('/')?.0.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        }
        _ => None,
    }
}

/// The data-plane HTTP server: answers GETs from the model's S3 stand-in (Range, presigned
/// query, expiry).
pub fn http_router(cloud: SharedCloud) -> axum::Router {
    http_router_tapped(cloud, Arc::new(HttpTap::default()))
}

/// [`http_router`] that records every answer in `tap` and holds answers back by its delay.
pub fn http_router_tapped(cloud: SharedCloud, tap: Arc<HttpTap>) -> axum::Router {
    use axum::body::Body;
    use axum::http::{HeaderMap, Response, StatusCode, Uri};
    use std::sync::atomic::Ordering::Relaxed;
    axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let cloud = cloud.clone();
        let tap = tap.clone();
        async move {
            let delay = tap.delay_ms.load(Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let target = uri
                .path_and_query()
                .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
            let range = headers
                .get(axum::http::header::RANGE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let reply = lock(&cloud).http_get(now_ms(), &target, range.as_deref());
            tap.push(HttpServed {
                status: reply.status,
                path: uri.path().trim_start_matches('/').to_string(),
                range,
                bytes: served_bytes(reply.status, &reply.headers, reply.body.len()),
            });
            let mut resp = Response::builder()
                .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY));
            for (k, v) in &reply.headers {
                if !k.eq_ignore_ascii_case("content-length") {
                    resp = resp.header(k.as_str(), v.as_str());
                }
            }
            resp.body(Body::from(reply.body))
                .unwrap_or_else(|_| Response::new(Body::empty()))
        }
    })
}

/// Serves `router` on `listener` in a task.
pub fn spawn_http(listener: tokio::net::TcpListener, router: axum::Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}
