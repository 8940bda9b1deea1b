//! `http::HyperBackend` against Debian's nginx over HTTPS (TLS 1.3, a CA made in the test): the
//! message contract of the run loop (one `Response` with the parsed `Content-Range`, `Body`
//! chunks no longer than `max_chunk`, `Done`), keep-alive across ranges, HTTP errors passed
//! through, an untrusted server refused, a cancelled request not poisoning the next one, and
//! `ByScheme` sending `http://` to the reqwless runner.
#![cfg(feature = "https")]

mod fetch;
#[path = "../../ota-http-reqwless/tests/support/mod.rs"]
mod nginx;

use std::sync::Arc;

use fetch::{body, fetch_all, req};
use nginx::Nginx;
use ota_os_std::http::{ByScheme, HttpBackend, HttpMsg, HyperBackend, ReqwlessBackend};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::sync::mpsc;

struct Pki {
    ca_pem: String,
    dir: std::path::PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a server certificate for 127.0.0.1 (RSA is what S3 serves; rustls checks either).
fn pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut srv = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    srv.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let cert = srv.signed_by(&key, &issuer).unwrap();
    let dir = std::env::temp_dir().join(format!("ota-std-pki-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("server.crt"), cert.pem() + &ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        dir,
    }
}

fn https_nginx(name: &str, pki: &Pki, files: &[(&str, &[u8])]) -> Nginx {
    let d = pki.dir.display();
    Nginx::start_with(
        name,
        files,
        &format!(
            "ssl_certificate {d}/server.crt; ssl_certificate_key {d}/server.key; \
             ssl_protocols TLSv1.2 TLSv1.3;"
        ),
    )
}

fn https_url(n: &Nginx, path: &str) -> String {
    n.url(path).replacen("http://", "https://", 1)
}

fn object() -> Vec<u8> {
    (0..150_000u32).map(|i| (i * 13 + i / 97) as u8).collect()
}

/// Status and (first, last, complete) of the answer's `Content-Range`.
type Head = (u16, Option<(u32, u32, Option<u32>)>);

fn status(msgs: &[HttpMsg]) -> Option<Head> {
    match msgs.first() {
        Some(HttpMsg::Response {
            status,
            content_range,
            ..
        }) => Some((
            *status,
            content_range.map(|c| (c.first, c.last, c.complete)),
        )),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_ranges_stream_verified_and_kept_alive() {
    let p = pki("ranges");
    let obj = object();
    let n = https_nginx("hyper-ranges", &p, &[("fw.bin", &obj)]);
    let b = HyperBackend::with_extra_ca_pem(p.ca_pem.as_bytes()).unwrap();
    let url = https_url(&n, "fw.bin");
    for (i, (first, last)) in [(0u32, 65_535u32), (65_536, 131_071), (131_072, 149_999)]
        .into_iter()
        .enumerate()
    {
        let msgs = fetch_all(&b, req(i as u64, url.clone(), first, last, 4096)).await;
        assert_eq!(
            status(&msgs),
            Some((206, Some((first, last, Some(150_000))))),
            "{msgs:?}"
        );
        assert!(matches!(msgs.last(), Some(HttpMsg::Done { .. })));
        assert!(msgs.iter().all(|m| match m {
            HttpMsg::Body { data, .. } => !data.is_empty() && data.len() <= 4096,
            _ => true,
        }));
        assert_eq!(body(&msgs), obj[first as usize..=last as usize]);
    }
    let log = n.access_log_wait(3);
    assert_eq!(log.len(), 3);
    assert!(
        log.iter().all(|l| l.0 == log[0].0),
        "one kept-alive connection: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_pass_through_and_an_untrusted_server_fails() {
    let p = pki("errors");
    let n = https_nginx("hyper-errors", &p, &[("fw.bin", b"0123456789")]);
    let b = HyperBackend::with_extra_ca_pem(p.ca_pem.as_bytes()).unwrap();
    let msgs = fetch_all(&b, req(1, https_url(&n, "missing.bin"), 0, 9, 512)).await;
    assert_eq!(status(&msgs).map(|s| s.0), Some(404));
    assert!(matches!(msgs.last(), Some(HttpMsg::Done { .. })));
    let msgs = fetch_all(&b, req(2, https_url(&n, "fw.bin"), 20, 29, 512)).await;
    assert_eq!(status(&msgs).map(|s| s.0), Some(416));
    // The system roots do not include the test CA.
    let system = HyperBackend::system_roots().unwrap();
    let msgs = fetch_all(&system, req(3, https_url(&n, "fw.bin"), 0, 9, 512)).await;
    assert_eq!(msgs, vec![HttpMsg::Failed { id: 3 }]);
    // Neither a URL that is not http(s) nor a closed port hangs.
    let msgs = fetch_all(&b, req(4, "ftp://127.0.0.1/fw.bin".into(), 0, 9, 512)).await;
    assert_eq!(msgs, vec![HttpMsg::Failed { id: 4 }]);
    let closed = format!("https://127.0.0.1:{}/x", nginx::free_port());
    let msgs = fetch_all(&b, req(5, closed, 0, 9, 512)).await;
    assert_eq!(msgs, vec![HttpMsg::Failed { id: 5 }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_range_does_not_poison_the_next() {
    let p = pki("cancel");
    let obj = object();
    let n = https_nginx("hyper-cancel", &p, &[("fw.bin", &obj)]);
    let b = HyperBackend::with_extra_ca_pem(p.ca_pem.as_bytes()).unwrap();
    let url = https_url(&n, "fw.bin");
    let (tx, mut rx) = mpsc::channel(1);
    let task = tokio::spawn(b.fetch(req(1, url.clone(), 0, 149_999, 1024), tx));
    // The response and one chunk, then the agent gives up on it.
    assert!(matches!(rx.recv().await, Some(HttpMsg::Response { .. })));
    assert!(matches!(rx.recv().await, Some(HttpMsg::Body { .. })));
    task.abort();
    drop(rx);
    let msgs = fetch_all(&b, req(2, url, 1000, 1999, 1024)).await;
    assert_eq!(body(&msgs), obj[1000..2000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_scheme_sends_plain_urls_to_the_reqwless_runner() {
    let p = pki("scheme");
    let obj = object();
    let tls = https_nginx("hyper-scheme-tls", &p, &[("fw.bin", &obj)]);
    let plain = Nginx::start("hyper-scheme-plain", &[("fw.bin", &obj)]);
    let b = ByScheme {
        http: Arc::new(ReqwlessBackend::new(4096).unwrap()),
        https: Arc::new(HyperBackend::with_extra_ca_pem(p.ca_pem.as_bytes()).unwrap()),
    };
    let a = fetch_all(&b, req(1, plain.url("fw.bin"), 10, 5009, 4096)).await;
    let s = fetch_all(&b, req(2, https_url(&tls, "fw.bin"), 10, 5009, 4096)).await;
    assert_eq!(body(&a), obj[10..5010]);
    assert_eq!(body(&s), obj[10..5010]);
    assert_eq!(plain.access_log_wait(1).len(), 1);
    assert_eq!(tls.access_log_wait(1).len(), 1);
}
