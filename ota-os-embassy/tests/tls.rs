//! Mutual TLS the way AWS IoT Core does it, against Debian's mosquitto (OpenSSL, TLS 1.3):
//! the broker requires a device certificate, and its own chain is shaped like AWS's ECC
//! chain — server certificate for `*.iot.test`, an intermediate, then the root again
//! cross-signed by an older root, then that older root — so the verifier must stop at the
//! configured anchor instead of starting from the last certificate. The whole OTA update runs
//! over that link (the AWS model on mosquitto's plain listener); an untrusted broker, a wrong
//! host name and a device certificate the broker does not trust are refused.
#![allow(missing_docs)]
#![cfg(all(feature = "mqtt-minimq", feature = "http-reqwless", feature = "tls"))]

mod support;

use embedded_io_async::{Read, Write};
use ota_cloud::{Protocol, SigningKey};
use ota_os_embassy::tls::{CertError, TlsConnectError, TlsConnector, TlsCredentials};
use ota_os_embassy::{Connect, Exit, Notification};
use p256::elliptic_curve::rand_core::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{THING, TokioTcp, check_update, image, leak, platform, run_device, start_cloud};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: Vec<u8>,
    pem: String,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

fn self_signed(cn: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let p = ca_params(cn);
    let cert = p.self_signed(&key).unwrap();
    Ca {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

fn intermediate(cn: &str, by: &Ca) -> Ca {
    let key = KeyPair::generate().unwrap();
    let p = ca_params(cn);
    let cert = p.signed_by(&key, &by.issuer).unwrap();
    Ca {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A leaf: (certificate PEM, certificate DER, key PEM, key PKCS#8 DER).
fn leaf(by: &Ca, cn: &str, sans: &[&str], client: bool) -> (String, Vec<u8>, String, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let cert = p.signed_by(&key, &by.issuer).unwrap();
    (
        cert.pem(),
        cert.der().to_vec(),
        key.serialize_pem(),
        key.serialize_der(),
    )
}

struct Pki {
    /// The anchor the device trusts (AWS: Amazon Root CA 3).
    root: Ca,
    /// A root the device does not trust.
    stranger: Ca,
    device_cert: Vec<u8>,
    device_key: Vec<u8>,
    rogue_cert: Vec<u8>,
    rogue_key: Vec<u8>,
}

/// mosquitto: a plain listener for the cloud model, a TLS listener for devices.
struct Mosquitto {
    child: Child,
    plain: u16,
    tls: u16,
    dir: std::path::PathBuf,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mosquitto_bin() -> &'static str {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("mosquitto not found: `apt-get install -y mosquitto` (.ci/run installs it)")
}

fn wait_listening(port: u16) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "mosquitto port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start() -> (Mosquitto, Pki) {
    let root = self_signed("Test Root CA 3");
    let older = self_signed("Test Services Root G2");
    let stranger = self_signed("Some Other Root");
    let inter = intermediate("Test ECDSA 256 M02", &root);
    // The anchor again, cross-signed by the older root (same name and key).
    let cross = ca_params("Test Root CA 3")
        .signed_by(root.issuer.key(), &older.issuer)
        .unwrap();
    let (srv_pem, _, srv_key, _) = leaf(&inter, "*.iot.test", &["*.iot.test", "127.0.0.1"], false);
    let device_ca = self_signed("Test Device CA");
    let (_, device_cert, _, device_key) = leaf(&device_ca, THING, &[], true);
    let rogue_ca = self_signed("Rogue Device CA");
    let (_, rogue_cert, _, rogue_key) = leaf(&rogue_ca, THING, &[], true);

    let (plain, tls) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("ota-embassy-tls-{}-{tls}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let chain = format!("{srv_pem}{}{}{}", inter.pem, cross.pem(), older.pem);
    std::fs::write(dir.join("server.pem"), chain).unwrap();
    std::fs::write(dir.join("server.key"), srv_key).unwrap();
    std::fs::write(dir.join("devices.pem"), &device_ca.pem).unwrap();
    let d = dir.display();
    let conf = format!(
        "per_listener_settings false\nallow_anonymous true\npersistence false\n\
         set_tcp_nodelay true\nlog_dest stderr\nlog_type error\n\
         listener {plain} 127.0.0.1\n\
         listener {tls} 127.0.0.1\ncafile {d}/devices.pem\ncertfile {d}/server.pem\n\
         keyfile {d}/server.key\nrequire_certificate true\ntls_version tlsv1.3\n"
    );
    std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
    let child = Command::new(mosquitto_bin())
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let m = Mosquitto {
        child,
        plain,
        tls,
        dir,
    };
    wait_listening(plain);
    wait_listening(tls);
    (
        m,
        Pki {
            root,
            stranger,
            device_cert,
            device_key,
            rogue_cert,
            rogue_key,
        },
    )
}

fn connector<'a>(
    addr: SocketAddr,
    host: &'a str,
    anchor: &'a [u8],
    cert: &'a [u8],
    key: &[u8],
) -> TlsConnector<'a, TokioTcp, OsRng> {
    let creds = TlsCredentials::new(host, anchor, cert, key).expect("a P-256 key");
    TlsConnector::new(TokioTcp(addr), creds, OsRng, leak(16_640), leak(4096))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An MQTT 5 CONNECT with client id `THING`, then the first byte of the answer.
async fn mqtt_hello(io: &mut (impl Read + Write)) -> Result<u8, String> {
    let id = THING.as_bytes();
    let mut pkt = vec![
        0x10,
        (13 + id.len()) as u8,
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        5,
        2,
        0,
        30,
        0,
    ];
    pkt.extend_from_slice(&[0, id.len() as u8]);
    pkt.extend_from_slice(id);
    io.write_all(&pkt).await.map_err(|e| format!("{e:?}"))?;
    io.flush().await.map_err(|e| format!("{e:?}"))?;
    let mut b = [0u8; 1];
    match io.read(&mut b).await {
        Ok(1) => Ok(b[0]),
        Ok(_) => Err("closed".into()),
        Err(e) => Err(format!("{e:?}")),
    }
}

#[test]
fn ota_update_over_mutual_tls_with_an_aws_shaped_chain() {
    rt().block_on(async {
        let (m, pki) = start();
        let key = SigningKey::from_seed(21);
        let data = image(40 * 1024 + 9);
        let cloud = start_cloud(m.plain, "job-tls", &data, &key, Protocol::Mqtt).await;
        let addr = SocketAddr::from(([127, 0, 0, 1], m.tls));
        let conn = connector(
            addr,
            "a1b2c3-ats.iot.test",
            &pki.root.der,
            &pki.device_cert,
            &pki.device_key,
        );
        let mut platform = platform();
        let out = run_device(conn, &|| (), &key, &mut platform, None, false).await;
        assert_eq!(out.exit, Exit::Reset, "activated: reset into the new image");
        assert!(matches!(out.notes.first(), Some(Notification::Link(true))));
        assert_eq!((out.connects, out.disconnects), (1, 0));
        check_update(&mut platform, &data, &cloud, "job-tls");
    });
}

#[test]
fn a_good_handshake_carries_mqtt() {
    rt().block_on(async {
        let (m, pki) = start();
        let addr = SocketAddr::from(([127, 0, 0, 1], m.tls));
        let mut c = connector(
            addr,
            "broker.iot.test",
            &pki.root.der,
            &pki.device_cert,
            &pki.device_key,
        );
        let mut io = c.connect().await.expect("handshake");
        assert_eq!(mqtt_hello(&mut io).await, Ok(0x20), "CONNACK");
        drop(io);
        // A broker given by address (a LAN broker): no SNI, the IP SAN is checked.
        let mut c = connector(
            addr,
            "127.0.0.1",
            &pki.root.der,
            &pki.device_cert,
            &pki.device_key,
        );
        let mut io = c.connect().await.expect("handshake by address");
        assert_eq!(mqtt_hello(&mut io).await, Ok(0x20), "CONNACK");
    });
}

#[test]
fn a_broker_outside_the_anchor_or_under_another_name_is_refused() {
    rt().block_on(async {
        let (m, pki) = start();
        let addr = SocketAddr::from(([127, 0, 0, 1], m.tls));
        let cases: [(&str, &[u8], CertError); 3] = [
            (
                "broker.iot.test",
                &pki.stranger.der,
                CertError::UnknownIssuer,
            ),
            (
                "broker.example.com",
                &pki.root.der,
                CertError::HostnameMismatch,
            ),
            // The wildcard covers one label only.
            ("a.b.iot.test", &pki.root.der, CertError::HostnameMismatch),
        ];
        for (host, anchor, want) in cases {
            let mut c = connector(addr, host, anchor, &pki.device_cert, &pki.device_key);
            match c.connect().await {
                Err(TlsConnectError::Certificate(e)) => assert_eq!(e, want, "{host}"),
                Err(e) => panic!("{host}: {e:?}"),
                Ok(_) => panic!("{host}: connected"),
            }
        }
    });
}

#[test]
fn a_device_certificate_the_broker_does_not_trust_gets_no_session() {
    rt().block_on(async {
        let (m, pki) = start();
        let addr = SocketAddr::from(([127, 0, 0, 1], m.tls));
        let mut c = connector(
            addr,
            "broker.iot.test",
            &pki.root.der,
            &pki.rogue_cert,
            &pki.rogue_key,
        );
        // TLS 1.3: the client's Finished goes out before the server judged the certificate,
        // so the refusal (an alert) may arrive at the first read instead of the handshake.
        match c.connect().await {
            Err(TlsConnectError::Handshake(_)) => {}
            Err(e) => panic!("{e:?}"),
            Ok(mut io) => {
                let r = mqtt_hello(&mut io).await;
                assert!(r.is_err(), "the broker talked MQTT: {r:?}");
            }
        }
    });
}

#[test]
fn keys_that_are_not_p256_are_refused_up_front() {
    let rsa_like = [0x30, 0x03, 0x02, 0x01, 0x00];
    assert!(TlsCredentials::new("h", &[], &[], &rsa_like).is_err());
    assert!(TlsCredentials::new("h", &[], &[], &[]).is_err());
}

#[test]
fn maybe_tls_speaks_plain_or_tls_as_chosen_at_run_time() {
    use ota_os_embassy::net::MaybeTls;
    rt().block_on(async {
        let (m, pki) = start();
        let tls_addr = SocketAddr::from(([127, 0, 0, 1], m.tls));
        let plain_addr = SocketAddr::from(([127, 0, 0, 1], m.plain));
        type Conn<'a> = MaybeTls<TokioTcp, TlsConnector<'a, TokioTcp, OsRng>>;
        let mut plain: Conn<'_> = MaybeTls::Plain(TokioTcp(plain_addr));
        let mut io = plain.connect().await.expect("plain TCP");
        assert_eq!(mqtt_hello(&mut io).await, Ok(0x20));
        let mut tls: Conn<'_> = MaybeTls::Tls(connector(
            tls_addr,
            "broker.iot.test",
            &pki.root.der,
            &pki.device_cert,
            &pki.device_key,
        ));
        let mut io = tls.connect().await.expect("TLS");
        assert_eq!(mqtt_hello(&mut io).await, Ok(0x20));
        // Plain TCP to the TLS port gets no MQTT answer.
        let mut wrong: Conn<'_> = MaybeTls::Plain(TokioTcp(tls_addr));
        let mut io = wrong.connect().await.expect("TCP connects");
        assert!(mqtt_hello(&mut io).await.is_err());
    });
}
