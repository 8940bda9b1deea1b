//! HTTPS through reqwless's embedded-tls against nginx with a CA made in the test (rcgen):
//! a verified download, a wrong CA refused, and plain HTTP through a TLS-enabled runner.
#![cfg(feature = "tls")]

mod support;

use ota_http_reqwless::{HttpBuffers, HttpRunner, TlsSettings, URL_CAPACITY, Verify};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use support::{AgentLink, BS, Nginx, image};

struct Pki {
    ca_der: Vec<u8>,
    dir: std::path::PathBuf,
}

/// A CA and a server certificate for 127.0.0.1 (embedded-tls matches the host against the
/// certificate's common name), written as PEM files for nginx.
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
    let dir = std::env::temp_dir().join(format!("ota-http-pki-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("server.crt"), cert.pem() + &ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    Pki {
        ca_der: ca_cert.der().to_vec(),
        dir,
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn https_nginx(name: &str, pki: &Pki, files: &[(&str, &[u8])]) -> Nginx {
    let d = pki.dir.display();
    Nginx::start_with(
        name,
        files,
        &format!(
            "ssl_certificate {d}/server.crt; ssl_certificate_key {d}/server.key; \
             ssl_protocols TLSv1.3;"
        ),
    )
}

fn leak<const N: usize>() -> &'static mut [u8] {
    Box::leak(Box::new([0u8; N]))
}

fn buffers<'a>() -> HttpBuffers<'a> {
    HttpBuffers {
        url: leak::<URL_CAPACITY>(),
        header: leak::<2048>(),
        chunk: leak::<{ BS as usize }>(),
    }
}

fn seed() -> &'static mut dyn FnMut() -> u64 {
    let mut n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    Box::leak(Box::new(move || {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        n
    }))
}

fn tls<'a>(verify: Verify<'a>) -> TlsSettings<'a> {
    TlsSettings {
        read_buffer: leak::<16640>(),
        write_buffer: leak::<8192>(),
        verify,
        seed: seed(),
    }
}

#[tokio::test]
async fn https_download_verified_against_the_test_ca() {
    let pki = pki("ok");
    let img = image(40 * BS as usize + 9);
    let nginx = https_nginx("tls-ok", &pki, &[("fw.bin", &img)]);
    let url = format!(
        "https://127.0.0.1:{}/fw.bin?X-Amz-Signature={}",
        nginx.port,
        "ab".repeat(700)
    );
    let mut link = AgentLink::new(url, &img);
    let stack = std_embedded_nal_async::Stack::default();
    let ca: &'static [u8] = Box::leak(pki.ca_der.clone().into_boxed_slice());
    let mut runner = HttpRunner::with_tls(&stack, &stack, buffers(), tls(Verify::Ca(ca)));
    runner.run(&mut link).await;
    assert_eq!(
        link.failed,
        None,
        "{:?}",
        link.inputs.iter().take(3).collect::<Vec<_>>()
    );
    assert!(link.file == img && link.done);
    let stats = runner.stats();
    assert_eq!(
        (stats.connects, stats.requests),
        (1, 3),
        "one TLS connection kept alive: {stats:?}"
    );
    assert!(nginx.access_log().iter().all(|(_, s, ..)| *s == 206));
}

#[tokio::test]
async fn a_server_not_signed_by_the_configured_ca_is_refused() {
    let served = pki("served");
    let other = pki("other");
    let img = image(4 * BS as usize);
    let nginx = https_nginx("tls-bad", &served, &[("fw.bin", &img)]);
    let mut link = AgentLink::new(format!("https://127.0.0.1:{}/fw.bin", nginx.port), &img);
    let stack = std_embedded_nal_async::Stack::default();
    let ca: &'static [u8] = Box::leak(other.ca_der.clone().into_boxed_slice());
    let mut runner = HttpRunner::with_tls(&stack, &stack, buffers(), tls(Verify::Ca(ca)));
    runner.run(&mut link).await;
    assert!(!link.inputs.is_empty());
    assert!(
        link.inputs.iter().all(|i| i == "failed"),
        "{:?}",
        link.inputs
    );
    assert!(link.failed.is_some(), "the agent gave up after its retries");
    assert!(nginx.access_log().is_empty(), "no request got through");
}

#[tokio::test]
async fn plain_http_still_works_through_a_tls_enabled_runner() {
    let img = image(20 * BS as usize + 1);
    let nginx = Nginx::start("tls-plain", &[("fw.bin", &img)]);
    let mut link = AgentLink::new(nginx.url("fw.bin"), &img);
    let stack = std_embedded_nal_async::Stack::default();
    let mut runner = HttpRunner::with_tls(&stack, &stack, buffers(), tls(Verify::Insecure));
    runner.run(&mut link).await;
    assert!(link.file == img && link.done);
    assert_eq!(runner.stats().connects, 1);
}
