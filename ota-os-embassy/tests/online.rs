//! The task online, end to end: ota-sim's MQTT 5 endpoint and AWS model (Jobs, MQTT streams,
//! code signing) run in process on loopback; the task connects with minimq over TCP,
//! downloads a signed image into ota-pal-flash's platform (mock NOR flash, simulated A/B boot
//! control), verifies it, reports `self_test: ready` and resets into it when the application
//! activates. A second run kicks the device off the broker mid-download: the task suspends,
//! reconnects with backoff and finishes from its bitmap. A third delivers the image over HTTP
//! (ota-sim's presigned-URL server, ranges through ota-http-reqwless).
#![allow(missing_docs)]
#![cfg(all(feature = "mqtt-minimq", feature = "http-reqwless"))]

mod support;

use ota_cloud::{Protocol, SigningKey};
use ota_os_embassy::{Exit, Notification};
use ota_sim::broker::Broker;
use ota_sim::cloud;
use support::{THING, TokioTcp, check_update, image, platform, run_device, start_cloud};

async fn setup(
    job_id: &str,
    data: &[u8],
    key: &SigningKey,
    protocol: Protocol,
) -> (Broker, cloud::SharedCloud) {
    let broker = Broker::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("broker");
    let cloud = start_cloud(broker.addr().port(), job_id, data, key, protocol).await;
    (broker, cloud)
}

#[test]
fn mqtt_update_end_to_end_over_ota_sim() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let key = SigningKey::from_seed(11);
        let data = image(37 * 1024 + 123);
        let (broker, cloud) = setup("job-e2e", &data, &key, Protocol::Mqtt).await;
        let mut platform = platform();
        let out = run_device(
            TokioTcp(broker.addr()),
            &|| (),
            &key,
            &mut platform,
            None,
            false,
        )
        .await;
        assert_eq!(out.exit, Exit::Reset, "activated: reset into the new image");
        assert!(matches!(out.notes.first(), Some(Notification::Link(true))));
        assert!(out.notes.iter().any(|n| matches!(
            n,
            Notification::ReceivedJob { job_id, resumed: false, .. } if job_id == "job-e2e"
        )));
        assert!(
            out.notes
                .iter()
                .any(|n| matches!(n, Notification::ReadyToActivate { .. }))
        );
        assert_eq!((out.connects, out.disconnects), (1, 0));
        check_update(&mut platform, &data, &cloud, "job-e2e");
    });
}

#[test]
fn a_lost_connection_suspends_reconnects_and_resumes_the_download() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let key = SigningKey::from_seed(12);
        let data = image(64 * 1024 - 77);
        let (broker, cloud) = setup("job-kick", &data, &key, Protocol::Mqtt).await;
        let mut platform = platform();
        let out = run_device(
            TokioTcp(broker.addr()),
            &|| assert!(broker.kick(THING), "the device is connected"),
            &key,
            &mut platform,
            Some(2),
            false,
        )
        .await;
        assert_eq!(out.exit, Exit::Reset);
        assert!(out.disconnects >= 1, "the kick was seen");
        assert!(out.connects >= 2, "the task reconnected");
        let links: Vec<bool> = out
            .notes
            .iter()
            .filter_map(|n| match n {
                Notification::Link(up) => Some(*up),
                _ => None,
            })
            .collect();
        assert_eq!(&links[..3], &[true, false, true], "{links:?}");
        check_update(&mut platform, &data, &cloud, "job-kick");
    });
}

#[test]
fn http_update_end_to_end_over_ota_sim() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let key = SigningKey::from_seed(13);
        let data = image(45 * 1024 + 5);
        let (broker, cloud) = setup("job-http", &data, &key, Protocol::Http).await;
        let mut platform = platform();
        let out = run_device(
            TokioTcp(broker.addr()),
            &|| (),
            &key,
            &mut platform,
            None,
            true,
        )
        .await;
        assert_eq!(out.exit, Exit::Reset, "activated: reset into the new image");
        assert!(out.notes.iter().any(|n| matches!(
            n,
            Notification::ReceivedJob { job_id, .. } if job_id == "job-http"
        )));
        let http = out.http.expect("HTTP counters");
        // 45 KiB in ranges of 8 blocks: 6 ranges, on one kept-alive connection.
        assert_eq!(http.requests, 6, "{http:?}");
        assert_eq!((http.connects, http.failures), (1, 0), "{http:?}");
        check_update(&mut platform, &data, &cloud, "job-http");
    });
}
