//! The adapter against a real mosquitto: QoS 0 and 1 on `$aws/...` topics, routing between the
//! agent and the application, QoS 1 confirmation, and the silent drop the sizing rule prevents.

mod support;

use embassy_time::{Duration, with_timeout};
use embedded_io_adapters::tokio_1::FromTokio;
use minimq::{Buffers, ConfigBuilder, Connection, Publication, Session, TopicFilter};
use ota_core::{Action, Config, Input, QoS, Version};
use ota_mqtt_minimq::{Executed, MqttClient, OtaMqtt, Received, SizingError};
use support::Broker;
use tokio::net::TcpStream;

type Tcp = FromTokio<TcpStream>;

async fn tcp(b: &Broker) -> Tcp {
    let s = TcpStream::connect(b.addr())
        .await
        .expect("connect to mosquitto");
    s.set_nodelay(true).unwrap();
    FromTokio::new(s)
}

const DATA: &str = "$aws/things/dev1/streams/s1/data/cbor";
const NOTIFY: &str = "$aws/things/dev1/jobs/notify-next";
const NEXT_GET: &str = "$aws/things/dev1/jobs/$next/get";
const GET_STREAM: &str = "$aws/things/dev1/streams/s1/get/cbor";

/// Drives `conn` until `op` is acknowledged by the broker.
async fn confirm(conn: &mut Connection<'_, '_, Tcp>, op: &minimq::Op) {
    while !conn.is_complete(op) {
        let r = with_timeout(Duration::from_secs(5), conn.poll())
            .await
            .expect("broker acknowledgement in time")
            .expect("connection alive");
        assert!(r.is_none(), "no message expected while confirming");
    }
}

fn pending(e: Result<Executed<minimq::Op>, ota_mqtt_minimq::ClientError>) -> minimq::Op {
    match e {
        Ok(Executed::Pending(op)) => op,
        other => panic!("expected a pending QoS 1 operation, got {other:?}"),
    }
}

#[tokio::test]
async fn qos0_and_qos1_on_aws_topics_and_application_topics_share_the_session() {
    let broker = Broker::start();
    let cfg = Config::new("dev1", Version::new(1, 0, 0));
    let (mut rx, mut tx) = ([0u8; 6 * 1024], [0u8; 4 * 1024]);
    let mut dev_session = Session::new(
        ConfigBuilder::new(Buffers::new(&mut rx, &mut tx))
            .client_id("dev1")
            .unwrap(),
    );
    let mut ota = OtaMqtt::for_session(&cfg, 4096, &dev_session).expect("buffers fit the rule");
    let mut dev = dev_session.connect(tcp(&broker).await).await.unwrap();
    assert_eq!(ota.connected(), None);

    // The agent's subscriptions (QoS as asked) and the application's own, on one connection.
    let a = pending(
        ota.execute(
            &mut dev,
            &Action::Subscribe {
                topic: DATA,
                qos: QoS::AtMostOnce,
            },
        )
        .await,
    );
    let b = pending(
        ota.execute(
            &mut dev,
            &Action::Subscribe {
                topic: NOTIFY,
                qos: QoS::AtLeastOnce,
            },
        )
        .await,
    );
    let c = dev
        .subscribe(&[TopicFilter::new("app/cmd")], &[])
        .await
        .unwrap();
    for op in [a, b, c] {
        confirm(&mut dev, &op).await;
    }

    let (mut crx, mut ctx) = ([0u8; 2048], [0u8; 16 * 1024]);
    let mut cloud_session = Session::new(
        ConfigBuilder::new(Buffers::new(&mut crx, &mut ctx))
            .client_id("cloud")
            .unwrap(),
    );
    let mut cloud = cloud_session.connect(tcp(&broker).await).await.unwrap();
    let opts = minimq::SubscriptionOptions::default().maximum_qos(minimq::QoS::AtLeastOnce);
    let s = cloud
        .subscribe(
            &[
                TopicFilter::new(NEXT_GET).options(opts),
                TopicFilter::new(GET_STREAM),
            ],
            &[],
        )
        .await
        .unwrap();
    confirm(&mut cloud, &s).await;

    // Cloud -> device: a 4 KB block at QoS 0, a job notification at QoS 1, an application message.
    let block: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    cloud
        .publish(Publication::bytes(DATA, &block))
        .await
        .unwrap();
    let op = cloud
        .publish(Publication::bytes(NOTIFY, br#"{"timestamp":1}"#).qos(minimq::QoS::AtLeastOnce))
        .await
        .unwrap()
        .expect("QoS 1 op");
    cloud
        .publish(Publication::bytes("app/cmd", b"hello"))
        .await
        .unwrap();
    confirm(&mut cloud, &op).await;

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let r = with_timeout(Duration::from_secs(5), ota.recv(&mut dev))
            .await
            .expect("message in time")
            .expect("connection alive");
        match r {
            Received::Ota(Input::Message { topic, payload }) => {
                if topic == DATA {
                    assert_eq!(payload, &block[..], "block intact");
                }
                seen.push(format!("ota {topic}"));
            }
            Received::App(msg) => {
                assert_eq!(msg.payload(), b"hello");
                seen.push(format!("app {}", msg.topic()));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "app app/cmd".to_string(),
            format!("ota {NOTIFY}"),
            format!("ota {DATA}"),
        ]
    );

    // Device -> cloud: `$next/get` at QoS 1 is confirmed by the broker; GetStream at QoS 0.
    let op = pending(
        ota.execute(
            &mut dev,
            &Action::Publish {
                topic: NEXT_GET,
                payload: br#"{"clientToken":"ota-1"}"#,
                qos: QoS::AtLeastOnce,
            },
        )
        .await,
    );
    confirm(&mut dev, &op).await;
    assert_eq!(
        ota.execute(
            &mut dev,
            &Action::Publish {
                topic: GET_STREAM,
                payload: b"\xa0",
                qos: QoS::AtMostOnce
            },
        )
        .await,
        Ok(Executed::Sent)
    );
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = with_timeout(Duration::from_secs(5), cloud.recv())
            .await
            .expect("message in time")
            .unwrap();
        got.push((m.topic().to_string(), m.payload().to_vec(), m.qos()));
    }
    assert_eq!(
        got,
        [
            (
                NEXT_GET.to_string(),
                br#"{"clientToken":"ota-1"}"#.to_vec(),
                minimq::QoS::AtLeastOnce
            ),
            (
                GET_STREAM.to_string(),
                b"\xa0".to_vec(),
                minimq::QoS::AtMostOnce
            ),
        ]
    );

    // Unsubscribe through the adapter: the block no longer arrives, the application's do.
    let op = pending(
        ota.execute(&mut dev, &Action::Unsubscribe { topic: DATA })
            .await,
    );
    confirm(&mut dev, &op).await;
    cloud
        .publish(Publication::bytes(DATA, b"late"))
        .await
        .unwrap();
    cloud
        .publish(Publication::bytes("app/cmd", b"hello"))
        .await
        .unwrap();
    let r = with_timeout(Duration::from_secs(5), ota.recv(&mut dev))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(r, Received::App(ref m) if m.topic() == "app/cmd"),
        "{r:?}"
    );
}

/// Why the sizing rule exists: minimq advertises `rx` as its maximum packet size, and the broker
/// drops a larger block without a word. The adapter refuses such buffers at start instead.
#[tokio::test]
async fn a_block_bigger_than_rx_is_a_start_error_not_a_silent_drop() {
    let broker = Broker::start();
    let cfg = Config::new("dev1", Version::new(1, 0, 0)); // 4 KB blocks
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 4 * 1024]);
    let mut small = Session::new(
        ConfigBuilder::new(Buffers::new(&mut rx, &mut tx))
            .client_id("dev1")
            .unwrap(),
    );
    let err = OtaMqtt::for_session(&cfg, 512, &small).unwrap_err();
    assert_eq!(
        err,
        SizingError::RxTooSmall {
            have: 2048,
            need: 4096 + ota_mqtt_minimq::sizing::BLOCK_MESSAGE_OVERHEAD
        }
    );
    println!("configuration error: {err}");

    // Proof on the wire: with these buffers the block never arrives, a small message does.
    let mut dev = small.connect(tcp(&broker).await).await.unwrap();
    let op = MqttClient::subscribe(&mut dev, DATA, QoS::AtMostOnce)
        .await
        .unwrap();
    confirm(&mut dev, &op).await;
    let (mut crx, mut ctx) = ([0u8; 1024], [0u8; 16 * 1024]);
    let mut cloud_session = Session::new(
        ConfigBuilder::new(Buffers::new(&mut crx, &mut ctx))
            .client_id("cloud")
            .unwrap(),
    );
    let mut cloud = cloud_session.connect(tcp(&broker).await).await.unwrap();
    cloud
        .publish(Publication::bytes(DATA, &[0x55; 4096][..]))
        .await
        .unwrap();
    cloud
        .publish(Publication::bytes(DATA, &b"small"[..]))
        .await
        .unwrap();
    let m = with_timeout(Duration::from_secs(5), dev.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        m.payload(),
        b"small",
        "the 4 KB block was dropped by the broker"
    );
}
