//! The S3 stand-in: ranges, 416, expiry, tampering, faults; presigned URLs in job documents.

mod common;

use common::{json, text_of};
use ota_cloud::{
    Cloud, CloudConfig, JobOptions, JsonEscaping, OtaFile, OtaJobBuilder, Protocol, topics,
};

fn image() -> Vec<u8> {
    (0..10_000u32).map(|i| (i % 251) as u8).collect()
}

fn cloud() -> Cloud {
    let config = CloudConfig {
        http_host: "127.0.0.1:9000".into(),
        ..CloudConfig::default()
    };
    let mut c = Cloud::new(config);
    c.put_object("fw/app.bin", image());
    c
}

fn path_of(url: &str) -> &str {
    let rest = url
        .strip_prefix("http://127.0.0.1:9000")
        .expect("configured host");
    assert!(rest.starts_with("/fw/app.bin?"));
    rest
}

#[test]
fn range_requests() {
    let mut c = cloud();
    let img = image();
    let url = c.presign(0, "fw/app.bin", 1800);
    let target = path_of(&url);

    let r = c.http_get(1_000, target, Some("bytes=0-4095"));
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &img[..4096]);
    assert_eq!(r.header("content-range"), Some("bytes 0-4095/10000"));
    assert_eq!(r.header("Content-Length"), Some("4096"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));

    let r = c.http_get(1_000, target, Some("bytes=8192-"));
    assert_eq!((r.status, r.body.as_slice()), (206, &img[8192..]));
    assert_eq!(r.header("Content-Range"), Some("bytes 8192-9999/10000"));

    let r = c.http_get(1_000, target, Some("bytes=-100"));
    assert_eq!((r.status, r.body.as_slice()), (206, &img[9900..]));

    let r = c.http_get(1_000, target, Some("bytes=9000-20000"));
    assert_eq!((r.status, r.body.as_slice()), (206, &img[9000..]));
    assert_eq!(r.header("Content-Range"), Some("bytes 9000-9999/10000"));

    let r = c.http_get(1_000, target, None);
    assert_eq!((r.status, r.body.as_slice()), (200, img.as_slice()));
    assert_eq!(r.header("Content-Length"), Some("10000"));
    assert!(r.header("Content-Range").is_none());
    assert!(r.header("ETag").is_some_and(|e| e.starts_with('"')));

    let r = c.http_get(1_000, target, Some("bytes=10000-10099"));
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */10000"));
    assert_eq!(r.error_code(), Some("InvalidRange"));

    // The whole URL works as a target too.
    assert_eq!(c.http_get(1_000, &url, Some("bytes=0-0")).body, [img[0]]);

    let stats = c.http_stats();
    assert_eq!(stats.requests, 7);
    assert_eq!(stats.partial, 5);
    assert_eq!(stats.full, 1);
    assert_eq!(stats.unsatisfiable, 1);
    assert_eq!(stats.bytes_served, 4096 + 1808 + 100 + 1000 + 10_000 + 1);
}

#[test]
fn expiry_tampering_and_missing_objects() {
    let mut c = cloud();
    let url = c.presign(5_000, "fw/app.bin", 60);
    let target = path_of(&url).to_owned();
    assert!(url.contains("X-Amz-Expires=60&"));
    assert!(url.contains("X-Amz-Date=19700101T000005Z"));
    assert_eq!(c.http_get(64_999, &target, Some("bytes=0-9")).status, 206);
    let r = c.http_get(65_000, &target, Some("bytes=0-9"));
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), Some("AccessDenied"));
    assert!(String::from_utf8_lossy(&r.body).contains("Request has expired"));

    for tampered in [
        target.replace("X-Amz-Expires=60", "X-Amz-Expires=6000"),
        target.replace("X-Amz-Date=19700101T000005Z", "X-Amz-Date=19700101T000105Z"),
        target.replace("/fw/app.bin", "/fw/app.bim"),
        format!("{}0", &target[..target.len() - 1]),
    ] {
        let r = c.http_get(6_000, &tampered, None);
        assert_eq!(r.status, 403, "{tampered}");
        assert_eq!(r.error_code(), Some("SignatureDoesNotMatch"));
    }
    assert_eq!(c.http_get(6_000, "/fw/app.bin", None).status, 403);
    assert_eq!(
        c.http_get(
            6_000,
            &target.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
            None
        )
        .status,
        400
    );

    let missing = c.presign(5_000, "fw/none.bin", 60);
    let r = c.http_get(6_000, &missing, None);
    assert_eq!((r.status, r.error_code()), (404, Some("NoSuchKey")));
    assert!(c.remove_object("fw/app.bin"));
    assert_eq!(c.http_get(6_000, &target, None).status, 404);
    assert_eq!(c.http_stats().forbidden, 6);
}

#[test]
fn ignore_range_and_fail_after_requests() {
    let mut c = cloud();
    let url = c.presign(0, "fw/app.bin", 1800);
    c.set_ignore_range(true);
    let r = c.http_get(0, &url, Some("bytes=0-99"));
    assert_eq!((r.status, r.body.len()), (200, 10_000));
    c.set_ignore_range(false);
    c.fail_after_requests(2);
    assert_eq!(c.http_get(0, &url, Some("bytes=0-99")).status, 206);
    assert_eq!(c.http_get(0, &url, Some("bytes=100-199")).status, 206);
    for _ in 0..3 {
        let r = c.http_get(0, &url, Some("bytes=200-299"));
        assert_eq!(r.status, 403);
        assert!(String::from_utf8_lossy(&r.body).contains("Request has expired"));
    }
    c.clear_http_faults();
    assert_eq!(c.http_get(0, &url, Some("bytes=200-299")).status, 206);
}

#[test]
fn unsigned_mode_serves_plain_paths() {
    let config = CloudConfig {
        require_presigned: false,
        ..CloudConfig::default()
    };
    let mut c = Cloud::new(config);
    c.put_object("/a b.bin", vec![1, 2, 3]);
    assert_eq!(c.object("a b.bin"), Some(&[1u8, 2, 3][..]));
    assert_eq!(c.http_get(0, "/a%20b.bin", Some("bytes=1-")).body, [2, 3]);
    assert_eq!(c.http_get(0, "/a%2", None).status, 400);
}

fn http_job(c: &mut Cloud, expiry: Option<u64>) {
    let doc = OtaJobBuilder::new()
        .protocols(&[Protocol::Http])
        .file(
            OtaFile::new(0, 10_000)
                .file_path("/fw")
                .http_key("fw/app.bin"),
        )
        .build();
    c.create_job_with_options(
        1_000,
        "AFR_OTA-http",
        ["dev1"],
        doc,
        JobOptions {
            presigned_url_expires_in_s: expiry,
        },
    )
    .unwrap();
}

#[test]
fn job_documents_carry_fresh_escaped_presigned_urls() {
    let mut c = cloud();
    http_job(&mut c, Some(60));
    let stored = c.job_document("AFR_OTA-http").unwrap().clone();
    assert_eq!(
        stored["afr_ota"]["files"][0]["update_data_url"],
        "${aws:iot:s3-presigned-url:fw/app.bin}"
    );

    let notify = c.poll().unwrap();
    let raw = text_of(&notify);
    assert!(raw.contains(r"\u0026X-Amz-Credential="), "{raw}");
    assert!(!raw.contains('&'), "every & is escaped: {raw}");
    let doc = json(&notify);
    let url1 = doc["execution"]["jobDocument"]["afr_ota"]["files"][0]["update_data_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url1.starts_with("http://127.0.0.1:9000/fw/app.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
    assert!(url1.contains("X-Amz-Expires=60&"));
    assert!(url1.contains("X-Amz-Date=19700101T000001Z"));
    assert_eq!(
        doc["execution"]["jobDocument"]["afr_ota"]["files"][0]["auth_scheme"],
        "aws.s3.presigned"
    );
    assert_eq!(c.http_get(2_000, &url1, Some("bytes=0-99")).status, 206);

    // After expiry the old URL fails; asking for the job document again gives a fresh one.
    assert_eq!(c.http_get(61_000, &url1, Some("bytes=100-199")).status, 403);
    c.handle_publish(61_000, &topics::next_get("dev1"), br#"{"clientToken":"r"}"#);
    let reply = json(&c.poll().unwrap());
    let url2 = reply["execution"]["jobDocument"]["afr_ota"]["files"][0]["update_data_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(url1, url2);
    assert!(url2.contains("X-Amz-Date=19700101T000101Z"));
    assert_eq!(c.http_get(61_000, &url2, Some("bytes=100-199")).status, 206);

    // The update reply with includeJobDocument carries a fresh URL too.
    c.handle_publish(
        70_000,
        &topics::job_update("dev1", "AFR_OTA-http"),
        br#"{"status":"IN_PROGRESS","includeJobDocument":true}"#,
    );
    let reply = json(&c.poll().unwrap());
    let url3 = reply["jobDocument"]["afr_ota"]["files"][0]["update_data_url"]
        .as_str()
        .unwrap();
    assert!(url3.contains("X-Amz-Date=19700101T000110Z"));

    let rendered = c.rendered_job_document(80_000, "AFR_OTA-http").unwrap();
    let url4 = rendered["afr_ota"]["files"][0]["update_data_url"]
        .as_str()
        .unwrap();
    assert_eq!(c.http_get(80_000, url4, None).status, 200);
}

#[test]
fn default_expiry_and_escaping_modes() {
    for (mode, needle) in [
        (JsonEscaping::None, "&X-Amz-Credential="),
        (JsonEscaping::HtmlSafe, r"\u0026X-Amz-Credential\u003d"),
    ] {
        let config = CloudConfig {
            json_escaping: mode,
            presign_expiry_s: 900,
            ..CloudConfig::default()
        };
        let mut c = Cloud::new(config);
        c.put_object("fw/app.bin", image());
        http_job(&mut c, None);
        let n = c.poll().unwrap();
        let raw = text_of(&n);
        assert!(raw.contains(needle), "{mode:?}: {raw}");
        let url = json(&n)["execution"]["jobDocument"]["afr_ota"]["files"][0]["update_data_url"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(url.contains("X-Amz-Expires=900&"));
        assert_eq!(c.http_get(1_000, &url, None).status, 200);
    }
}
