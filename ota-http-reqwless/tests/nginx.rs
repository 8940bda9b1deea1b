//! The runner against a real nginx on loopback, driving a real agent: a multi-range download
//! byte-identical to the file over one kept-alive connection, a presigned URL that turns 403
//! after a few requests (refreshed through the job document), and a server that ignores `Range`.

mod support;

use ota_http_reqwless::{HttpBuffers, HttpRunner, URL_CAPACITY};
use std::os::unix::fs::PermissionsExt;
use support::{AgentLink, BS, Nginx, image};

fn runner_buffers() -> HttpBuffers<'static> {
    HttpBuffers {
        url: Box::leak(Box::new([0u8; URL_CAPACITY])),
        header: Box::leak(Box::new([0u8; 2048])),
        chunk: Box::leak(Box::new([0u8; BS as usize])),
    }
}

/// A presigned-looking URL of 1.6 KB.
fn presigned(base: &str) -> String {
    let sig = "0123456789abcdef".repeat(90);
    format!(
        "{base}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}"
    )
}

#[tokio::test]
async fn multi_range_download_is_byte_identical_over_one_kept_alive_connection() {
    let img = image(100 * BS as usize + 77);
    let nginx = Nginx::start("ranges", &[("fw.bin", &img)]);
    let url = presigned(&nginx.url("fw.bin"));
    assert!(url.len() >= 1500);
    let mut link = AgentLink::new(url, &img);
    let stack = std_embedded_nal_async::Stack::default();
    let mut runner = HttpRunner::new(&stack, &stack, runner_buffers());
    runner.run(&mut link).await;

    assert_eq!(link.failed, None);
    assert!(link.done, "image verified");
    assert!(link.file == img, "byte-identical");
    // 101 blocks in ranges of 16 blocks: 7 requests, each a 206 with its Content-Range.
    assert_eq!(link.requests.len(), 7, "{:?}", link.requests);
    assert_eq!(
        link.inputs.iter().filter(|i| i.starts_with("206 ")).count(),
        7
    );
    assert!(
        link.inputs
            .contains(&format!("206 0-16383/Some({})", img.len()))
    );
    let stats = runner.stats();
    assert_eq!(
        (stats.connects, stats.requests, stats.failures),
        (1, 7, 0),
        "{stats:?}"
    );
    let log = nginx.access_log_wait(7);
    assert_eq!(log.len(), 7);
    assert!(
        log.iter()
            .all(|(c, s, r, _)| *c == log[0].0 && *s == 206 && r.starts_with("bytes="))
    );
}

#[tokio::test]
async fn a_403_after_n_requests_reaches_the_agent_which_refreshes_the_url() {
    let img = image(100 * BS as usize + 77);
    let nginx = Nginx::start("forbidden", &[("v1/fw.bin", &img), ("v2/fw.bin", &img)]);
    let mut link = AgentLink::new(presigned(&nginx.url("v1/fw.bin")), &img);
    // The server answers 403 from the fourth request on: the "presigned URL" expired. The
    // refreshed job document carries a new one.
    let v1 = nginx.www("v1/fw.bin");
    link.on_request = Some(Box::new(move |i| {
        if i == 3 {
            std::fs::set_permissions(&v1, std::fs::Permissions::from_mode(0o000)).unwrap();
        }
    }));
    link.refresh = Some(presigned(&nginx.url("v2/fw.bin")));
    let stack = std_embedded_nal_async::Stack::default();
    let mut runner = HttpRunner::new(&stack, &stack, runner_buffers());
    runner.run(&mut link).await;
    assert_eq!(link.failed, None);
    assert!(link.inputs.iter().any(|i| i == "403"), "{:?}", link.inputs);
    assert!(link.job_requests >= 2, "the agent asked for the job again");
    assert!(
        link.requests.iter().any(|(u, ..)| u.contains("/v2/")),
        "the new URL was used"
    );
    assert!(link.file == img);
    assert!(link.done);
    let log = nginx.access_log();
    assert!(
        log.iter()
            .any(|(_, s, _, u)| *s == 403 && u == "/v1/fw.bin")
    );
    // The 403's short error body was read, the connection kept for the refreshed URL.
    assert_eq!(runner.stats().connects, 1, "{:?}", runner.stats());
}

#[tokio::test]
async fn a_server_that_ignores_range_answers_200_and_the_agent_takes_the_whole_body() {
    let img = image(40 * BS as usize + 5);
    let nginx = Nginx::start("norange", &[("norange/fw.bin", &img)]);
    let mut link = AgentLink::new(nginx.url("norange/fw.bin"), &img);
    let stack = std_embedded_nal_async::Stack::default();
    let mut runner = HttpRunner::new(&stack, &stack, runner_buffers());
    runner.run(&mut link).await;
    assert_eq!(link.failed, None);
    assert_eq!(link.inputs.first().map(String::as_str), Some("200"));
    assert!(link.file == img);
    assert!(link.done);
    assert!(nginx.access_log().iter().all(|(_, s, ..)| *s == 200));
}
