//! A whole OTA update against the cloud model, with a few lines of "device" written by hand.
//!
//! Run with `cargo run -p ota-cloud --example walkthrough`. It shows the public API in the order a
//! simulation uses it: signing, stream and object creation, an OTA job document with a presigned
//! URL placeholder, notify-next, `$next/get`, GetStream with a bitmap, HTTP ranges, status updates,
//! history and statistics.

use std::error::Error;

use ciborium::Value as Cbor;
use ota_cloud::{
    Cloud, CloudConfig, Handled, JobExecutionStatus, JobOptions, OtaFile, OtaJobBuilder, Protocol,
    SigningKey, StreamFormat, VerifyingKey, ota_job_id, topics,
};
use serde_json::Value;

const THING: &str = "dev1";
const STREAM: &str = "AFR_OTA-demo";
const BLOCK: usize = 1024;

fn main() -> Result<(), Box<dyn Error>> {
    // Code signing, as AWS Signer would do it.
    let key = SigningKey::from_seed(7);
    let public_pem = key.public_key_pem()?;
    let image: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 256) as u8).collect();

    // The cloud: one stream (MQTT data plane) and one object (HTTP data plane) for the image.
    let mut cloud = Cloud::new(CloudConfig {
        http_host: "127.0.0.1:8080".into(),
        ..CloudConfig::default()
    });
    cloud.create_stream(STREAM, vec![(0, image.clone())])?;
    cloud.put_object("demo/app.bin", image.clone());

    // The job document CreateOTAUpdate would write; the URL is a placeholder that Jobs replaces
    // with a fresh presigned URL every time it sends the document.
    let document = OtaJobBuilder::new()
        .protocols(&[Protocol::Mqtt, Protocol::Http])
        .stream_name(STREAM)
        .file(
            OtaFile::signed(0, &image, &key)
                .file_path("/fw/app.bin")
                .cert_file("signer.pem")
                .http_key("demo/app.bin")
                .file_type(0),
        )
        .build();
    let job_id = ota_job_id("demo");
    cloud.create_job_with_options(
        0,
        &job_id,
        [THING],
        document,
        JobOptions {
            presigned_url_expires_in_s: Some(300),
        },
    )?;
    let notify = cloud.poll().ok_or("no notify-next")?;
    println!("cloud -> {}: {} bytes", notify.topic, notify.payload.len());

    // The device asks for its next job.
    let mut now = 1_000;
    cloud.handle_publish(
        now,
        &topics::next_get(THING),
        br#"{"clientToken":"0:dev1"}"#,
    );
    let reply = cloud.poll().ok_or("no reply")?;
    let reply: Value = serde_json::from_slice(&reply.payload)?;
    let execution = &reply["execution"];
    let file = &execution["jobDocument"]["afr_ota"]["files"][0];
    let size = file["filesize"].as_u64().ok_or("filesize")? as usize;
    let signature = file["sig-sha256-ecdsa"]
        .as_str()
        .ok_or("signature")?
        .to_owned();
    let url = file["update_data_url"].as_str().ok_or("url")?.to_owned();
    println!(
        "job {} ({}), {size} bytes",
        execution["jobId"], execution["status"]
    );
    update(
        &mut cloud,
        now,
        &job_id,
        "IN_PROGRESS",
        r#"{"receive":"0/20"}"#,
    )?;

    // First half over MQTT: one GetStream with a bitmap of the first 10 blocks.
    let total_blocks = size.div_ceil(BLOCK);
    let mut received = vec![None::<Vec<u8>>; total_blocks];
    let request = cbor_request(&[
        ("c", Cbor::Text("rdy".into())),
        ("f", Cbor::Integer(0.into())),
        ("l", Cbor::Integer((BLOCK as u64).into())),
        ("o", Cbor::Integer(0.into())),
        ("b", Cbor::Bytes(vec![0xff, 0x03])),
    ])?;
    now += 100;
    let topic = topics::stream_get(THING, STREAM, StreamFormat::Cbor);
    assert_eq!(cloud.handle_publish(now, &topic, &request), Handled::Stream);
    while let Some(msg) = cloud.poll() {
        let (index, payload) = decode_block(&msg.payload)?;
        if let Some(slot) = received.get_mut(index) {
            *slot = Some(payload);
        }
    }
    println!("MQTT: {} blocks", cloud.stream_stats().blocks_sent);

    // Second half over HTTP ranges with the presigned URL.
    for (index, slot) in received.iter_mut().enumerate().skip(10) {
        let start = index * BLOCK;
        let end = (start + BLOCK).min(size) - 1;
        let reply = cloud.http_get(now, &url, Some(&format!("bytes={start}-{end}")));
        assert_eq!(reply.status, 206, "{:?}", reply.header("Content-Range"));
        *slot = Some(reply.body);
    }
    println!("HTTP: {:?}", cloud.http_stats());

    // Reassemble, verify as the device's PAL would, and report.
    let assembled: Vec<u8> = received.into_iter().flatten().flatten().collect();
    let verifier = VerifyingKey::from_public_key_pem(&public_pem)?;
    verifier.verify(&assembled, &signature)?;
    update(
        &mut cloud,
        now,
        &job_id,
        "IN_PROGRESS",
        r#"{"self_test":"ready","updatedBy":"0x1000000"}"#,
    )?;
    now += 5_000;
    update(
        &mut cloud,
        now,
        &job_id,
        "SUCCEEDED",
        r#"{"reason":"accepted  v1.0.1","updatedBy":"0x1000000"}"#,
    )?;
    let next = cloud.poll().ok_or("no notify-next")?;
    println!(
        "cloud -> {}: {}",
        next.topic,
        String::from_utf8_lossy(&next.payload)
    );

    assert_eq!(
        cloud.execution_status(THING, &job_id),
        Some(JobExecutionStatus::Succeeded)
    );
    for record in cloud.execution_history(THING, &job_id) {
        println!(
            "  t={}ms {} v{} {:?}",
            record.at_ms, record.status, record.version_number, record.status_details
        );
    }
    Ok(())
}

fn update(
    cloud: &mut Cloud,
    now: u64,
    job_id: &str,
    status: &str,
    details: &str,
) -> Result<(), Box<dyn Error>> {
    let payload = format!(r#"{{"status":"{status}","statusDetails":{details}}}"#);
    cloud.handle_publish(now, &topics::job_update(THING, job_id), payload.as_bytes());
    let reply = cloud.poll().ok_or("no reply")?;
    if !reply.topic.ends_with("/accepted") {
        return Err(format!("rejected: {}", String::from_utf8_lossy(&reply.payload)).into());
    }
    Ok(())
}

fn cbor_request(pairs: &[(&str, Cbor)]) -> Result<Vec<u8>, Box<dyn Error>> {
    let map = Cbor::Map(
        pairs
            .iter()
            .map(|(k, v)| (Cbor::Text((*k).into()), v.clone()))
            .collect(),
    );
    let mut out = Vec::new();
    ciborium::ser::into_writer(&map, &mut out)?;
    Ok(out)
}

fn decode_block(bytes: &[u8]) -> Result<(usize, Vec<u8>), Box<dyn Error>> {
    let Cbor::Map(entries) = ciborium::de::from_reader::<Cbor, _>(bytes)? else {
        return Err("not a map".into());
    };
    let (mut index, mut payload) = (None, None);
    for (k, v) in entries {
        match (k, v) {
            (Cbor::Text(k), Cbor::Integer(i)) if k == "i" => index = usize::try_from(i).ok(),
            (Cbor::Text(k), Cbor::Bytes(p)) if k == "p" => payload = Some(p),
            _ => {}
        }
    }
    Ok((index.ok_or("no i")?, payload.ok_or("no p")?))
}
