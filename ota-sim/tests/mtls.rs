//! Mutual TLS end to end, AWS IoT Core's way: mosquitto with a TLS listener that requires a
//! client certificate (`require_certificate true`), a CA, a server and client certificates
//! made in the test (rcgen), the emulator joining on a plain listener, and the device binary
//! connecting with `--tls-ca --tls-cert --tls-key`. A client certificate from another CA is
//! refused, and so is a broker the device's CA did not sign.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::mosquitto::{Mosquitto, free_port};
use common::*;
use ota_cloud::{JobExecutionStatus as S, Protocol};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

/// A CA that signs certificates into `dir`.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    name: &'static str,
}

impl Ca {
    /// A self-signed CA, its certificate written to `dir/NAME.pem`.
    fn new(dir: &Path, name: &'static str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            name,
        }
    }

    fn pem(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.pem", self.name))
    }

    /// A leaf certificate and key written to `dir/FILE.pem` and `dir/FILE.key`.
    fn leaf(&self, dir: &Path, file: &str, cn: &str, sans: &[&str], client: bool) -> [PathBuf; 2] {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (c, k) = (
            dir.join(format!("{file}.pem")),
            dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        [c, k]
    }
}

struct Setup {
    mosquitto: Mosquitto,
    tls_port: u16,
    ca: PathBuf,
    rogue_ca: PathBuf,
    client: [PathBuf; 2],
    rogue_client: [PathBuf; 2],
}

/// mosquitto with a plain listener (for the emulator) and a mutual-TLS listener (for devices).
fn setup() -> Setup {
    let tls_port = free_port();
    let mut files = None;
    let mosquitto = Mosquitto::start_with(|dir| {
        let ca = Ca::new(dir, "ca");
        let rogue = Ca::new(dir, "rogue-ca");
        let [srv, srv_key] = ca.leaf(dir, "server", "127.0.0.1", &["127.0.0.1"], false);
        let client = ca.leaf(dir, "client", "dev", &[], true);
        let rogue_client = rogue.leaf(dir, "rogue-client", "dev", &[], true);
        let conf = format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
             require_certificate true\n",
            ca.pem(dir).display(),
            srv.display(),
            srv_key.display()
        );
        files = Some((ca.pem(dir), rogue.pem(dir), client, rogue_client));
        conf
    });
    let (ca, rogue_ca, client, rogue_client) = files.unwrap();
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "TLS listener");
        std::thread::sleep(Duration::from_millis(20));
    }
    Setup {
        mosquitto,
        tls_port,
        ca,
        rogue_ca,
        client,
        rogue_client,
    }
}

fn tls_args<'a>(ca: &'a Path, [cert, key]: &'a [PathBuf; 2]) -> Vec<String> {
    vec![
        "--tls-ca".into(),
        ca.display().to_string(),
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_updates_over_mutual_tls_with_a_broker_requiring_client_certificates() {
    let s = setup();
    let env = Env::with_broker(None, s.mosquitto.port).await;
    let url = format!("mqtts://127.0.0.1:{}", s.tls_port);
    let args = tls_args(&s.ca, &s.client);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_d, log) = env.device_logged("dev", &url, &args);
    env.job("j1", "dev", img("1.0.1"), Protocol::Mqtt, env.signed());
    assert_eq!(
        env.wait_terminal("dev", "j1", 30).await,
        S::Succeeded,
        "{}\n{}",
        env.history("dev", "j1"),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    env.wait_version("dev", "1.0.1", 10).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("connect failed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_certificate_or_an_untrusted_broker_is_refused() {
    let s = setup();
    let env = Env::with_broker(None, s.mosquitto.port).await;
    let url = format!("mqtts://127.0.0.1:{}", s.tls_port);
    // A client certificate the broker's CA did not sign: the broker refuses the handshake.
    let a = tls_args(&s.ca, &s.rogue_client);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (_d1, log1) = env.device_logged("rogue", &url, &a);
    // A broker certificate the device's CA did not sign: the device refuses the broker.
    let b = tls_args(&s.rogue_ca, &s.client);
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let (_d2, log2) = env.device_logged("wary", &url, &b);
    for thing in ["rogue", "wary"] {
        env.job(
            &format!("j-{thing}"),
            thing,
            img("1.0.1"),
            Protocol::Mqtt,
            env.signed(),
        );
    }
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    env.wait_for("both devices report a failed connection twice", 15, |_| {
        read(&log1).matches("connect failed").count() >= 2
            && read(&log2).matches("connect failed").count() >= 2
    })
    .await;
    for thing in ["rogue", "wary"] {
        assert_eq!(
            env.status(thing, &format!("j-{thing}")),
            Some(S::Queued),
            "{thing} never reached the job"
        );
        let st = ota_sim::device::status(&env.state(thing)).unwrap();
        assert_eq!(st.running_version.as_deref(), Some("1.0.0"));
    }
    let (l1, l2) = (read(&log1), read(&log2));
    assert!(
        !l1.contains("[device] NoActiveJob") && !l2.contains("[device] NoActiveJob"),
        "no device talked to the Jobs service:\n{l1}\n{l2}"
    );
    // The broker's TLS alert reaches the refused device; the one that distrusts the broker
    // says why.
    assert!(
        l1.to_lowercase().contains("alert"),
        "the refused device reports the broker's alert:\n{l1}"
    );
    assert!(
        l2.to_lowercase().contains("certificate"),
        "the reason names the certificate:\n{l2}"
    );
}
