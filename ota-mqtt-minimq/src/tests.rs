//! Unit tests at the seam: call order and error mapping, with a mocked [`MqttClient`].

use super::*;
use crate::client::MockMqttClient;
use futures_executor::block_on;
use mockall::Sequence;
use mockall::predicate::eq;
use ota_core::{Action, QoS, Version};

fn config() -> Config<'static> {
    Config::new("dev1", Version::new(1, 0, 0))
}

fn ota() -> OtaMqtt<'static> {
    OtaMqtt::new(&config(), 4096, 6 * 1024, 4 * 1024).unwrap()
}

#[test]
fn routes_only_this_things_ota_topics() {
    let o = ota();
    assert_eq!(o.route("$aws/things/dev1/jobs/notify-next"), Route::Ota);
    assert_eq!(
        o.route("$aws/things/dev1/jobs/$next/get/accepted"),
        Route::Ota
    );
    assert_eq!(o.route("$aws/things/dev1/streams/s1/data/cbor"), Route::Ota);
    assert_eq!(o.route("$aws/things/dev10/jobs/notify-next"), Route::App);
    assert_eq!(o.route("$aws/things/dev1/shadow/update"), Route::App);
    assert_eq!(o.route("$aws/things/dev1"), Route::App);
    assert_eq!(o.route("app/telemetry"), Route::App);
    assert_eq!(o.route(""), Route::App);
    assert!(o.message("app/x", b"1").is_none());
    assert_eq!(
        o.message("$aws/things/dev1/jobs/notify-next", b"{}"),
        Some(Input::Message {
            topic: "$aws/things/dev1/jobs/notify-next",
            payload: b"{}"
        })
    );
}

#[test]
fn link_inputs_are_reported_once_per_loss() {
    let mut o = ota();
    assert_eq!(o.connected(), None, "first connection: Start subscribes");
    assert_eq!(o.disconnected(), Some(Input::Link(false)));
    assert_eq!(o.disconnected(), None);
    assert!(!o.is_link_up());
    assert_eq!(o.connected(), Some(Input::Link(true)));
    assert_eq!(o.connected(), None);
    assert!(o.is_link_up());
}

#[test]
fn sizing_is_checked_at_start() {
    let mut c = config();
    c.block_size = 16 * 1024;
    let e = OtaMqtt::new(&c, 4096, 8 * 1024, 4096).unwrap_err();
    assert_eq!(
        e,
        SizingError::RxTooSmall {
            have: 8 * 1024,
            need: 16 * 1024 + sizing::BLOCK_MESSAGE_OVERHEAD
        }
    );
    assert!(e.to_string().contains("drop"));
    assert!(OtaMqtt::new(&c, 4096, 17 * 1024, 4096).is_ok());
}

#[test]
fn executes_actions_at_the_asked_qos() {
    let mut client = MockMqttClient::new();
    let mut seq = Sequence::new();
    client
        .expect_subscribe()
        .with(
            eq("$aws/things/dev1/jobs/notify-next"),
            eq(QoS::AtLeastOnce),
        )
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(7));
    client
        .expect_publish()
        .withf(|t, p, q| t == "a/b" && p == b"x" && *q == QoS::AtMostOnce)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(None));
    client
        .expect_publish()
        .withf(|t, _, q| t == "a/c" && *q == QoS::AtLeastOnce)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(Some(9)));
    client
        .expect_unsubscribe()
        .with(eq("a/#"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(10));
    let mut o = ota();
    let r = block_on(async {
        [
            o.execute(
                &mut client,
                &Action::Subscribe {
                    topic: "$aws/things/dev1/jobs/notify-next",
                    qos: QoS::AtLeastOnce,
                },
            )
            .await,
            o.execute(
                &mut client,
                &Action::Publish {
                    topic: "a/b",
                    payload: b"x",
                    qos: QoS::AtMostOnce,
                },
            )
            .await,
            o.execute(
                &mut client,
                &Action::Publish {
                    topic: "a/c",
                    payload: b"y",
                    qos: QoS::AtLeastOnce,
                },
            )
            .await,
            o.execute(&mut client, &Action::Unsubscribe { topic: "a/#" })
                .await,
            o.execute(&mut client, &Action::HttpCancel).await,
            o.execute(&mut client, &Action::Reset).await,
        ]
    });
    assert_eq!(
        r,
        [
            Ok(Executed::Pending(7)),
            Ok(Executed::Sent),
            Ok(Executed::Pending(9)),
            Ok(Executed::Pending(10)),
            Ok(Executed::NotMqtt),
            Ok(Executed::NotMqtt),
        ]
    );
}

#[test]
fn client_errors_reach_the_caller_unchanged() {
    for err in [
        ClientError::Disconnected,
        ClientError::Busy,
        ClientError::TooLarge,
        ClientError::Rejected,
        ClientError::Invalid,
    ] {
        let mut client = MockMqttClient::new();
        client.expect_publish().returning(move |_, _, _| Err(err));
        let mut o = ota();
        let r = block_on(o.execute(
            &mut client,
            &Action::Publish {
                topic: "t",
                payload: b"",
                qos: QoS::AtLeastOnce,
            },
        ));
        assert_eq!(r, Err(err));
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn minimq_errors_map_to_what_the_adapter_acts_on() {
    type E = minimq::Error<()>;
    let cases: [(E, bool, ClientError); 9] = [
        (minimq::Error::Disconnected, true, ClientError::Disconnected),
        (
            minimq::Error::Transport(()),
            true,
            ClientError::Disconnected,
        ),
        (minimq::Error::WriteZero, true, ClientError::Disconnected),
        (minimq::Error::NotReady, true, ClientError::Busy),
        (
            minimq::Error::Resource(minimq::ResourceError::InflightExhausted),
            true,
            ClientError::Busy,
        ),
        (
            minimq::Error::Resource(minimq::ResourceError::BufferTooSmall),
            true,
            ClientError::TooLarge,
        ),
        (
            minimq::Error::Peer(minimq::PeerError::InvalidPacket),
            true,
            ClientError::Rejected,
        ),
        (minimq::Error::InvalidRequest, true, ClientError::Invalid),
        // Whatever the error, a dead connection is a lost link.
        (minimq::Error::NotReady, false, ClientError::Disconnected),
    ];
    for (e, live, want) in cases {
        assert_eq!(map_error(&e, live), want, "{e:?} live={live}");
    }
    assert_eq!(minimq_qos(QoS::AtMostOnce), minimq::QoS::AtMostOnce);
    assert_eq!(minimq_qos(QoS::AtLeastOnce), minimq::QoS::AtLeastOnce);
}

/// The actions of a real agent, executed in the agent's order: subscriptions first, then the
/// `$next/get` request at QoS 1.
#[test]
fn a_started_agent_subscribes_then_asks_for_its_job() {
    use ota_core::verify::{ImageVerifier, VerifyError};
    struct NoVerify;
    impl ImageVerifier for NoVerify {
        fn begin(&mut self) {}
        fn update(&mut self, _: &[u8]) {}
        fn verify(&mut self, _: &[u8], _: Option<&str>) -> Result<(), VerifyError> {
            Ok(())
        }
    }
    let (mut block, mut job, mut bitmap, mut url) = ([0u8; 4096], [0u8; 4096], [0u8; 64], [0u8; 0]);
    let cfg = config();
    let mut agent = ota_core::Agent::new(
        cfg,
        ota_core::Buffers {
            block: &mut block,
            job: &mut job,
            bitmap: &mut bitmap,
            url: &mut url,
        },
        NoVerify,
    )
    .unwrap();
    let boot = ota_core::BootInfo {
        platform_state: ota_core::PlatformImageState::Valid,
        resume: None,
    };
    agent
        .handle(ota_core::Instant::ZERO, Input::Start(boot))
        .unwrap();

    let mut client = MockMqttClient::new();
    let mut seq = Sequence::new();
    for filter in [
        "$aws/things/dev1/jobs/notify-next",
        "$aws/things/dev1/jobs/$next/get/+",
        "$aws/things/dev1/jobs/+/update/+",
    ] {
        client
            .expect_subscribe()
            .with(eq(filter), eq(QoS::AtLeastOnce))
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(1));
    }
    client
        .expect_publish()
        .withf(|t, p, q| {
            t == "$aws/things/dev1/jobs/$next/get"
                && *q == QoS::AtLeastOnce
                && core::str::from_utf8(p).is_ok_and(|s| s.contains("clientToken"))
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(Some(2)));
    let mut o = OtaMqtt::new(&cfg, 4096, 6 * 1024, 4096).unwrap();
    block_on(async {
        while let Some(action) = agent.poll() {
            o.execute(&mut client, &action).await.unwrap();
        }
    });
}
