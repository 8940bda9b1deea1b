//! `http::ReqwlessBackend` against ota-sim's presigned-URL HTTP server on loopback: the
//! message contract the run loop relies on (one `Response`, `Body` chunks no longer than
//! `max_chunk`, then `Done`; `Failed` below HTTP), HTTP errors passed through, cancellation by
//! dropping the fetch future, and the backend serving request after request.

use std::sync::Arc;
use std::time::Duration;

mod fetch;

use fetch::{body, fetch_all, req};
use ota_os_std::http::{HttpBackend, HttpMsg, ReqwlessBackend};
use ota_sim::cloud::{self, HttpTap, SharedCloud};
use tokio::sync::mpsc;

struct Server {
    cloud: SharedCloud,
    tap: Arc<HttpTap>,
    object: Vec<u8>,
}

async fn server() -> Server {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cloud = cloud::new_cloud(Some(l.local_addr().unwrap()), 9);
    let tap = Arc::new(HttpTap::default());
    cloud::spawn_http(l, cloud::http_router_tapped(cloud.clone(), tap.clone()));
    let object: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    cloud::lock(&cloud).put_object("fw/image.bin", object.clone());
    Server { cloud, tap, object }
}

impl Server {
    fn url(&self) -> String {
        cloud::lock(&self.cloud).presign(cloud::now_ms(), "fw/image.bin", 60)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_stream_in_chunks_no_longer_than_max_chunk() {
    let s = server().await;
    let b = ReqwlessBackend::new(4096).unwrap();
    for (id, (first, last, max)) in [(0u32, 9_999u32, 1000usize), (10_000, 75_535, 3000)]
        .into_iter()
        .enumerate()
    {
        let msgs = fetch_all(&b, req(id as u64, s.url(), first, last, max)).await;
        match &msgs[0] {
            HttpMsg::Response {
                id: i,
                status: 206,
                content_range: Some(cr),
            } => {
                assert_eq!(*i, id as u64);
                assert_eq!(
                    (cr.first, cr.last, cr.complete),
                    (first, last, Some(200_000))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(msgs.last(), Some(HttpMsg::Done { .. })));
        assert!(msgs.iter().all(|m| m.id() == id as u64));
        assert!(msgs.iter().all(|m| match m {
            HttpMsg::Body { data, .. } => !data.is_empty() && data.len() <= max,
            _ => true,
        }));
        assert!(body(&msgs) == s.object[first as usize..=last as usize]);
    }
    assert_eq!(s.tap.served().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_reach_the_agent_and_transport_failures_fail() {
    let s = server().await;
    let b = ReqwlessBackend::new(4096).unwrap();
    // A tampered presigned URL: S3's 403 with its XML body, passed through as it is.
    let bad = s.url().replace("X-Amz-Expires=60", "X-Amz-Expires=61");
    let msgs = fetch_all(&b, req(1, bad, 0, 99, 4096)).await;
    assert!(
        matches!(msgs[0], HttpMsg::Response { status: 403, .. }),
        "{msgs:?}"
    );
    assert!(String::from_utf8_lossy(&body(&msgs)).contains("SignatureDoesNotMatch"));
    // Nobody listens on the port: Failed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let msgs = fetch_all(&b, req(2, format!("http://127.0.0.1:{port}/x"), 0, 9, 4096)).await;
    assert_eq!(msgs, [HttpMsg::Failed { id: 2 }]);
    // Not a URL, or longer than the runner's buffer: Failed.
    let msgs = fetch_all(&b, req(3, "no scheme".into(), 0, 9, 4096)).await;
    assert_eq!(msgs, [HttpMsg::Failed { id: 3 }]);
    let long = format!(
        "{}&pad={}",
        s.url(),
        "x".repeat(ota_os_std::http::URL_BUFFER)
    );
    let msgs = fetch_all(&b, req(4, long, 0, 9, 4096)).await;
    assert_eq!(msgs, [HttpMsg::Failed { id: 4 }]);
    // And the backend still works.
    let msgs = fetch_all(&b, req(5, s.url(), 0, 9, 4096)).await;
    assert!(body(&msgs) == s.object[..10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_fetch_cancels_it_and_the_next_request_is_served() {
    let s = server().await;
    let b = ReqwlessBackend::new(1024).unwrap();
    // A slow reader: one message at a time, and the request dropped after two.
    let (tx, mut rx) = mpsc::channel(1);
    let task = tokio::spawn(b.fetch(req(1, s.url(), 0, 199_999, 1024), tx));
    let first = rx.recv().await.unwrap();
    assert!(matches!(first, HttpMsg::Response { status: 206, .. }));
    assert!(matches!(rx.recv().await, Some(HttpMsg::Body { .. })));
    task.abort();
    let _ = task.await;
    // What is left of the cancelled answer is at most what was queued: no Done ever comes.
    let mut late = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        late.push(m);
    }
    assert!(late.len() <= 2, "{late:?}");
    assert!(!late.iter().any(|m| matches!(m, HttpMsg::Done { .. })));
    // The runner moved on.
    let msgs = fetch_all(&b, req(2, s.url(), 100, 4195, 4096)).await;
    assert!(matches!(msgs.last(), Some(HttpMsg::Done { id: 2 })));
    assert!(body(&msgs) == s.object[100..=4195]);
}

#[tokio::test]
async fn a_backend_made_outside_a_runtime_runs_on_its_own_thread() {
    let s = server().await;
    let b = std::thread::spawn(|| ReqwlessBackend::new(4096).unwrap())
        .join()
        .unwrap();
    let msgs = fetch_all(&b, req(1, s.url(), 0, 4999, 4096)).await;
    assert!(body(&msgs) == s.object[..5000]);
}
