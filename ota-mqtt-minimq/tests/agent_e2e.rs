//! A real `ota_core::Agent` driven end to end over mosquitto through the adapter, against a
//! scripted fake cloud (a second MQTT client that answers `$next/get`, status updates and
//! GetStream requests with CBOR blocks). One run restarts the broker mid-download: the device
//! sees the link drop (`Link(false)`, the agent suspends), reconnects (`Link(true)`, the agent
//! re-subscribes), and the download resumes from the bitmap to a byte-identical image.

mod support;

use embassy_time::{Duration, with_timeout};
use embedded_io_adapters::tokio_1::FromTokio;
use minimq::{Buffers, ConfigBuilder, Connection, Publication, Session, TopicFilter};
use ota_core::codec::cbor::{self, DataBlock};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{
    Action, Agent, BootInfo, Config, Event, Input, Instant, PlatformImageState, State, Version,
};
use ota_mqtt_minimq::{ClientError, OtaMqtt, Received};
use p256::ecdsa::{SigningKey, signature::Signer};
use std::net::SocketAddr;
use support::Broker;
use tokio::net::TcpStream;

type Tcp = FromTokio<TcpStream>;
const THING: &str = "dev1";
const BS: u32 = 1024;

fn image(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761) as u8 ^ (i >> 8) as u8)
        .collect()
}

fn sign_b64(key: &SigningKey, data: &[u8]) -> String {
    let sig: p256::ecdsa::Signature = key.sign(data);
    let der = sig.to_der();
    let mut out = [0u8; 200];
    let n = ota_core::codec::base64::encode(der.as_bytes(), &mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

async fn connect(addr: SocketAddr) -> Option<Tcp> {
    let s = TcpStream::connect(addr).await.ok()?;
    s.set_nodelay(true).ok()?;
    Some(FromTokio::new(s))
}

/// The fake cloud: answers forever, reconnecting when the broker goes away.
async fn fake_cloud(addr: SocketAddr, image: &[u8], signature: &str) {
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 32 * 1024]);
    let mut session = Session::new(
        ConfigBuilder::new(Buffers::new(&mut rx, &mut tx))
            .client_id("fake-cloud")
            .unwrap(),
    );
    let jobs = format!("$aws/things/{THING}/jobs");
    loop {
        let Some(io) = connect(addr).await else {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            continue;
        };
        let Ok(mut conn) = session.connect(io).await else {
            continue;
        };
        let q1 = minimq::SubscriptionOptions::default().maximum_qos(minimq::QoS::AtLeastOnce);
        let next_get = format!("{jobs}/$next/get");
        let update = format!("{jobs}/+/update");
        let get_stream = format!("$aws/things/{THING}/streams/+/get/cbor");
        let filters = [
            TopicFilter::new(&next_get).options(q1),
            TopicFilter::new(&update).options(q1),
            TopicFilter::new(&get_stream),
        ];
        let Ok(op) = conn.subscribe(&filters, &[]).await else {
            continue;
        };
        while !conn.is_complete(&op) {
            if conn.poll().await.is_err() {
                break;
            }
        }
        loop {
            let (topic, payload) = match conn.recv().await {
                Ok(m) => (m.topic().to_string(), m.payload().to_vec()),
                Err(_) => break,
            };
            if topic == next_get {
                let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
                let body = serde_json::json!({
                    "clientToken": v["clientToken"], "timestamp": 1,
                    "execution": {
                        "jobId": "job1", "status": "QUEUED", "queuedAt": 1, "lastUpdatedAt": 1,
                        "versionNumber": 1, "executionNumber": 1,
                        "jobDocument": {"afr_ota": {"protocols": ["MQTT"], "streamname": "s1",
                            "files": [{"filepath": "/fw", "filesize": image.len(), "fileid": 0,
                                       "fileType": 0, "sig-sha256-ecdsa": signature}]}}
                    }
                });
                let body = serde_json::to_vec(&body).unwrap();
                let t = format!("{next_get}/accepted");
                let p = Publication::bytes(&t, &body).qos(minimq::QoS::AtLeastOnce);
                if conn.publish(p).await.is_err() {
                    break;
                }
            } else if topic.ends_with("/update") {
                let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
                let body = serde_json::json!({"clientToken": v["clientToken"], "timestamp": 1});
                let body = serde_json::to_vec(&body).unwrap();
                let t = format!("{topic}/accepted");
                let p = Publication::bytes(&t, &body).qos(minimq::QoS::AtLeastOnce);
                if conn.publish(p).await.is_err() {
                    break;
                }
            } else if let Some(stream) = topic.strip_suffix("/get/cbor") {
                let req = cbor::decode_get_stream_request(&payload).unwrap();
                let bits = req.bitmap.unwrap_or(&[0xff]);
                let data_topic = format!("{stream}/data/cbor");
                let mut out = vec![0u8; BS as usize + 64];
                for j in 0..bits.len() as u32 * 8 {
                    if bits[(j / 8) as usize] & (1 << (j % 8)) == 0 {
                        continue;
                    }
                    let i = req.block_offset + j;
                    let start = (i * BS) as usize;
                    if start >= image.len() {
                        break;
                    }
                    let end = (start + BS as usize).min(image.len());
                    let block = DataBlock {
                        file_id: req.file_id,
                        block_id: i,
                        block_size: BS,
                        payload: &image[start..end],
                    };
                    let n = cbor::encode_data_block(&block, &mut out).unwrap();
                    if conn
                        .publish(Publication::bytes(&data_topic, &out[..n]))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    }
}

/// What the device saw.
#[derive(Default)]
struct Log {
    events: Vec<String>,
    links: Vec<bool>,
    subscribes: Vec<String>,
    state_after_loss: Option<State>,
    done: bool,
}

/// What to do after an action.
enum Follow {
    None,
    Done,
    Read(u32, u32),
}

/// Drains the agent, executing MQTT actions on `conn` (dropped while there is none) and platform
/// actions on the RAM file. Returns `Err` when the connection is lost.
async fn drain(
    agent: &mut Agent<'_, P256Verifier<'_>>,
    ota: &mut OtaMqtt<'_>,
    mut conn: Option<&mut Connection<'_, '_, Tcp>>,
    file: &mut Vec<u8>,
    log: &mut Log,
    now: Instant,
) -> Result<(), ClientError> {
    loop {
        let Some(action) = agent.poll() else {
            return Ok(());
        };
        let follow = match action {
            Action::Subscribe { topic, .. }
            | Action::Unsubscribe { topic }
            | Action::Publish { topic, .. } => {
                if let Action::Subscribe { .. } = action {
                    log.subscribes.push(topic.to_string());
                }
                if let Some(c) = conn.as_mut()
                    && let Err(ClientError::Disconnected) = ota.execute(&mut **c, &action).await
                {
                    return Err(ClientError::Disconnected);
                }
                Follow::None
            }
            Action::FileCreate(f) => {
                if !f.resume || file.len() != f.size as usize {
                    *file = vec![0xff; f.size as usize];
                }
                Follow::Done
            }
            Action::FileWrite { offset, data } => {
                file[offset as usize..offset as usize + data.len()].copy_from_slice(data);
                Follow::Done
            }
            Action::FileRead { offset, len } => Follow::Read(offset, len),
            Action::FileClose | Action::SetImageState(_) => Follow::Done,
            Action::Notify(e) => {
                if let Event::ReadyToActivate { .. } = e {
                    log.done = true;
                }
                if !matches!(e, Event::Progress { .. }) {
                    log.events.push(format!("{e:?}"));
                }
                Follow::None
            }
            Action::Reset | Action::Activate => panic!("unexpected {action:?}"),
            _ => Follow::None,
        };
        match follow {
            Follow::None => {}
            Follow::Done => agent.handle(now, Input::PlatformDone(Ok(()))).unwrap(),
            Follow::Read(o, l) => {
                let d = file[o as usize..(o + l) as usize].to_vec();
                agent.handle(now, Input::FileData(Ok(&d))).unwrap();
            }
        }
    }
}

async fn run_device(broker: &mut Broker, restart_after_blocks: Option<u32>) -> (Vec<u8>, Log) {
    let key = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let keys = [TrustedKey {
        name: None,
        key: *key.verifying_key(),
    }];
    let mut cfg = Config::new(THING, Version::new(1, 0, 0));
    cfg.block_size = BS;
    cfg.blocks_per_request = 8;
    cfg.status_every = 16;
    cfg.request_timeout = ota_core::Duration::from_secs(2);
    let (mut block, mut job, mut bitmap, mut url) = ([0u8; 4096], [0u8; 4096], [0u8; 64], [0u8; 0]);
    let buffers = ota_core::Buffers {
        block: &mut block,
        job: &mut job,
        bitmap: &mut bitmap,
        url: &mut url,
    };
    let mut agent = Agent::new(cfg, buffers, P256Verifier::new(&keys)).unwrap();

    let (mut rx, mut tx) = ([0u8; 6 * 1024], [0u8; 4 * 1024]);
    let mut session = Session::new(
        ConfigBuilder::new(Buffers::new(&mut rx, &mut tx))
            .client_id(THING)
            .unwrap()
            .keepalive_interval(5),
    );
    let mut ota = OtaMqtt::for_session(&cfg, 4096, &session).unwrap();
    let t0 = std::time::Instant::now();
    let now = || Instant::from_millis(t0.elapsed().as_millis() as u64);
    let mut file = Vec::new();
    let mut log = Log::default();
    let mut restarted = false;
    let mut started = false;
    let deadline = t0 + std::time::Duration::from_secs(60);

    while !log.done {
        assert!(
            std::time::Instant::now() < deadline,
            "download did not finish; events {:?}",
            log.events
        );
        let Some(io) = connect(broker.addr()).await else {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            continue;
        };
        let Ok(mut conn) = session.connect(io).await else {
            continue;
        };
        if let Some(up) = ota.connected() {
            log.links.push(true);
            agent.handle(now(), up).unwrap();
        }
        if !started {
            let boot = BootInfo {
                platform_state: PlatformImageState::Valid,
                resume: None,
            };
            agent.handle(now(), Input::Start(boot)).unwrap();
            started = true;
        }
        'connected: while !log.done {
            if drain(
                &mut agent,
                &mut ota,
                Some(&mut conn),
                &mut file,
                &mut log,
                now(),
            )
            .await
            .is_err()
            {
                break 'connected;
            }
            if let (Some(k), false) = (restart_after_blocks, restarted)
                && agent.statistics().processed >= k
            {
                restarted = true;
                broker.restart();
            }
            let wait = agent
                .poll_timeout()
                .map(|t| t.as_millis().saturating_sub(now().as_millis()))
                .unwrap_or(100)
                .min(100);
            match with_timeout(Duration::from_millis(wait), ota.recv(&mut conn)).await {
                Err(_) => agent.handle_timeout(now()),
                Ok(Ok(Received::Ota(input))) => agent.handle(now(), input).unwrap(),
                Ok(Ok(other)) => panic!("no application traffic expected: {other:?}"),
                Ok(Err(_)) => break 'connected,
            }
        }
        drop(conn);
        if log.done {
            break;
        }
        if let Some(down) = ota.disconnected() {
            log.links.push(false);
            agent.handle(now(), down).unwrap();
            log.state_after_loss = Some(agent.state());
            drain(&mut agent, &mut ota, None, &mut file, &mut log, now())
                .await
                .unwrap();
        }
    }
    (file, log)
}

async fn scenario(restart_after_blocks: Option<u32>) -> Log {
    let mut broker = Broker::start();
    let addr = broker.addr();
    let img = image(48 * BS as usize + 123);
    let sig = sign_b64(&SigningKey::from_slice(&[0x42; 32]).unwrap(), &img);
    let cloud = fake_cloud(addr, &img, &sig);
    let device = run_device(&mut broker, restart_after_blocks);
    let (file, log) = tokio::select! {
        r = device => r,
        _ = cloud => unreachable!("the fake cloud never returns"),
    };
    assert!(file == img, "downloaded image differs from the original");
    assert!(
        log.events.iter().any(|e| e.starts_with("ReceivedJob")),
        "{:?}",
        log.events
    );
    assert!(
        log.events.iter().any(|e| e.starts_with("ReadyToActivate")),
        "{:?}",
        log.events
    );
    assert!(
        !log.events.iter().any(|e| e.starts_with("Failed")),
        "{:?}",
        log.events
    );
    log
}

#[tokio::test]
async fn agent_downloads_over_mosquitto_with_a_fake_cloud() {
    let log = scenario(None).await;
    assert!(log.links.is_empty());
}

#[tokio::test]
async fn broker_restart_mid_download_reconnects_resubscribes_and_resumes() {
    let log = scenario(Some(20)).await;
    assert_eq!(log.links, [false, true], "one loss, one restore");
    assert_eq!(log.state_after_loss, Some(State::Suspended));
    let notify = format!("$aws/things/{THING}/jobs/notify-next");
    let data = format!("$aws/things/{THING}/streams/s1/data/cbor");
    assert_eq!(
        log.subscribes.iter().filter(|t| **t == notify).count(),
        2,
        "{:?}",
        log.subscribes
    );
    assert!(
        log.subscribes.iter().filter(|t| **t == data).count() >= 2,
        "{:?}",
        log.subscribes
    );
}
