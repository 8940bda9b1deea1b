//! The networked harness on small images against Debian's mosquitto and nginx: every client
//! the figures rely on gets the whole file, byte for byte. Skipped (with a message) when the
//! servers are not installed. Run with `cargo test --release --manifest-path bench/Cargo.toml`.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use ota_bench::image;
use ota_bench::net::{self, DeviceSpec, Responder};
use ota_bench::servers;
use ota_cloud::topics::{self, StreamFormat};
use ota_core::codec::cbor;
use sha2::{Digest, Sha256};

fn installed(name: &str) -> bool {
    let ok = ["/usr/sbin", "/usr/bin"]
        .iter()
        .any(|d| std::path::Path::new(d).join(name).exists());
    if !ok {
        eprintln!("{name} not installed: skipped (scripts/test-services.sh install)");
    }
    ok
}

#[test]
fn mqtt_raw_plain_and_agent_runs_deliver_the_whole_image() {
    if !installed("mosquitto") {
        return;
    }
    let img = image::image(100_000, 11);
    let sha: [u8; 32] = Sha256::digest(&img).into();
    let broker = servers::mosquitto().unwrap();
    let cloud = net::new_cloud(&img, None).unwrap();

    // Raw: every message arrives, and they are the stream's blocks.
    let blocks = Arc::new(image::stream_blocks(&img, 4096).unwrap());
    let topic = topics::stream_data("raw-test", image::STREAM, StreamFormat::Cbor);
    let raw = net::raw_mqtt(broker.port, &topic, blocks.clone()).unwrap();
    assert_eq!(raw.messages, 25);
    assert_eq!(raw.bytes, blocks.iter().map(Vec::len).sum::<usize>());
    assert!(cbor::decode_data_block(&blocks[24]).unwrap().payload.len() == 100_000 - 24 * 4096);

    // Plain request/response against the AWS side.
    let responder = Responder::spawn(broker.port, cloud.clone(), "rr-test", true).unwrap();
    let rr = net::raw_request_response(broker.port, "rr-test", 4096, 8, 25).unwrap();
    let stats = responder.stop().unwrap();
    assert_eq!(rr.messages, 25);
    assert_eq!(stats.stream_requests, 4);
    assert_eq!(stats.publish_errors, 0);

    // The agent: a signed job, downloaded and verified, byte-identical.
    let sig = image::signer().sign(&img);
    net::create_job(&cloud, "dev-test", "job-test", img.len(), &sig, None).unwrap();
    let responder = Responder::spawn(broker.port, cloud.clone(), "dev-test", true).unwrap();
    let run = net::run_device(&DeviceSpec {
        port: broker.port,
        thing: "dev-test".into(),
        block_size: 4096,
        blocks_per_request: 8,
        http_blocks_per_request: 16,
        http: false,
        request_ahead: true,
        hyper: false,
        timeout: Duration::from_secs(60),
    })
    .unwrap();
    responder.stop().unwrap();
    assert_eq!(run.slot_sha256, sha);
    assert_eq!(run.writes, 25);
    assert_eq!(run.written, 100_000);
    assert!(run.to_ready >= run.download);
    assert!(net::request_wait(&run.write_times, 8 * 4096) <= run.download);
}

#[test]
fn mqtt_agent_with_a_wrong_signature_fails_the_run() {
    if !installed("mosquitto") {
        return;
    }
    let img = image::image(20_000, 12);
    let broker = servers::mosquitto().unwrap();
    let cloud = net::new_cloud(&img, None).unwrap();
    let sig = image::signer().sign(b"another image");
    net::create_job(&cloud, "dev-bad", "job-bad", img.len(), &sig, None).unwrap();
    let responder = Responder::spawn(broker.port, cloud.clone(), "dev-bad", true).unwrap();
    let run = net::run_device(&DeviceSpec {
        port: broker.port,
        thing: "dev-bad".into(),
        block_size: 4096,
        blocks_per_request: 8,
        http_blocks_per_request: 16,
        http: false,
        request_ahead: true,
        hyper: false,
        timeout: Duration::from_secs(60),
    });
    responder.stop().unwrap();
    let err = run.unwrap_err();
    assert!(err.contains("job failed"), "{err}");
}

#[test]
fn http_raw_ranges_and_agent_runs_deliver_the_whole_image() {
    if !installed("mosquitto") || !installed("nginx") {
        return;
    }
    let img = image::image(300_000, 13);
    let sha: [u8; 32] = Sha256::digest(&img).into();
    let root = servers::scratch_dir("www-test").unwrap();
    std::fs::create_dir_all(root.join("ota")).unwrap();
    std::fs::write(root.join("ota/t.bin"), &img).unwrap();
    let nginx = servers::nginx(&root).unwrap();

    let (raw, body) = net::raw_http_get(nginx.port, "/ota/t.bin", img.len()).unwrap();
    assert_eq!(body, img);
    assert_eq!(raw.bytes, img.len());
    assert!(net::raw_http_get(nginx.port, "/ota/t.bin", 5).is_err());
    assert!(net::raw_http_get(nginx.port, "/missing", 5).is_err());

    // Ranges that do not divide the file: the last one is short.
    let (rr, body) = net::raw_http_ranges(nginx.port, "/ota/t.bin", img.len(), 65536).unwrap();
    assert_eq!(body, img);
    assert_eq!(rr.messages, 5);

    let broker = servers::mosquitto().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], nginx.port));
    let cloud = net::new_cloud(&img, Some((addr, "ota/t.bin"))).unwrap();
    let sig = image::signer().sign(&img);
    net::create_job(
        &cloud,
        "dev-http",
        "job-http",
        img.len(),
        &sig,
        Some("ota/t.bin"),
    )
    .unwrap();
    let responder = Responder::spawn(broker.port, cloud.clone(), "dev-http", true).unwrap();
    let run = net::run_device(&DeviceSpec {
        port: broker.port,
        thing: "dev-http".into(),
        block_size: 4096,
        blocks_per_request: 32,
        http_blocks_per_request: 16,
        http: true,
        request_ahead: true,
        hyper: false,
        timeout: Duration::from_secs(60),
    })
    .unwrap();
    responder.stop().unwrap();
    assert_eq!(run.slot_sha256, sha);
    assert_eq!(run.written, 300_000);
    std::fs::remove_dir_all(root).unwrap();
}
