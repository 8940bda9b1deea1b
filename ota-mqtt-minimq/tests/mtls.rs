//! Mutual TLS on the host: mosquitto with `require_certificate true` and a CA made in the test
//! (rcgen); the std transport (tokio-rustls under minimq) connects with a client certificate and
//! key and carries the OTA traffic; a client certificate from another CA is refused.

mod support;

use embassy_time::{Duration, with_timeout};
use embedded_io_adapters::tokio_1::FromTokio;
use minimq::{Buffers, ConfigBuilder, Session};
use ota_core::{Action, Config, Input, QoS, Version};
use ota_mqtt_minimq::{Executed, OtaMqtt, Received};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::sync::Arc;
use support::Broker;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: Vec<u8>,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let cert = p.self_signed(&key).unwrap();
    Ca {
        issuer: Issuer::new(p, key),
        der: cert.der().to_vec(),
        pem: cert.pem(),
    }
}

/// A leaf certificate signed by `ca`: (certificate DER, certificate PEM, key PKCS#8 DER, key PEM).
fn leaf(ca: &Ca, cn: &str, sans: Vec<String>) -> (Vec<u8>, String, Vec<u8>, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (
        cert.der().to_vec(),
        cert.pem(),
        key.serialize_der(),
        key.serialize_pem(),
    )
}

/// mosquitto with TLS on its listener, requiring a client certificate from `ca`.
fn tls_broker(ca: &Ca) -> Broker {
    let (_, cert_pem, _, key_pem) = leaf(ca, "127.0.0.1", vec!["127.0.0.1".into()]);
    let dir = std::env::temp_dir().join(format!(
        "ota-mqtt-pki-{}-{}",
        std::process::id(),
        support::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.crt"), &ca.pem).unwrap();
    std::fs::write(dir.join("server.crt"), cert_pem).unwrap();
    std::fs::write(dir.join("server.key"), key_pem).unwrap();
    let d = dir.display();
    let broker = Broker::start_with(&format!(
        "cafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n\
         require_certificate true\nuse_identity_as_username true\n"
    ));
    // mosquitto has loaded the files.
    let _ = std::fs::remove_dir_all(&dir);
    broker
}

/// The std transport: TCP (no Nagle) + rustls with a client certificate.
async fn connect_tls(
    broker: &Broker,
    ca_der: &[u8],
    cert: Vec<u8>,
    key: Vec<u8>,
) -> std::io::Result<FromTokio<tokio_rustls::client::TlsStream<TcpStream>>> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .unwrap();
    let tcp = TcpStream::connect(broker.addr()).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    Ok(FromTokio::new(tls))
}

#[tokio::test]
async fn the_std_transport_connects_with_a_client_certificate() {
    let ca = ca("ota test CA");
    let broker = tls_broker(&ca);
    let (cert, _, key, _) = leaf(&ca, "dev1", vec![]);
    let io = connect_tls(&broker, &ca.der, cert, key)
        .await
        .expect("TLS handshake");

    let cfg = Config::new("dev1", Version::new(1, 0, 0));
    let (mut rx, mut tx) = ([0u8; 6 * 1024], [0u8; 4 * 1024]);
    let mut session = Session::new(
        ConfigBuilder::new(Buffers::new(&mut rx, &mut tx))
            .client_id("dev1")
            .unwrap(),
    );
    let mut ota = OtaMqtt::for_session(&cfg, 4096, &session).unwrap();
    let mut conn = session.connect(io).await.expect("MQTT over mutual TLS");
    let topic = "$aws/things/dev1/jobs/notify-next";
    let Ok(Executed::Pending(op)) = ota
        .execute(
            &mut conn,
            &Action::Subscribe {
                topic,
                qos: QoS::AtLeastOnce,
            },
        )
        .await
    else {
        panic!("subscribe failed")
    };
    while !conn.is_complete(&op) {
        with_timeout(Duration::from_secs(5), conn.poll())
            .await
            .unwrap()
            .unwrap();
    }
    let publish = Action::Publish {
        topic,
        payload: b"{\"timestamp\":1}",
        qos: QoS::AtLeastOnce,
    };
    assert!(matches!(
        ota.execute(&mut conn, &publish).await,
        Ok(Executed::Pending(_))
    ));
    let r = with_timeout(Duration::from_secs(5), ota.recv(&mut conn))
        .await
        .unwrap()
        .unwrap();
    match r {
        Received::Ota(Input::Message { topic: t, payload }) => {
            assert_eq!(t, topic);
            assert_eq!(payload, b"{\"timestamp\":1}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let ca = ca("ota test CA");
    let rogue = ca_rogue();
    let broker = tls_broker(&ca);
    let (cert, _, key, _) = leaf(&rogue, "dev1", vec![]);
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 4096]);
    let mut session = Session::new(
        ConfigBuilder::new(Buffers::new(&mut rx, &mut tx))
            .client_id("dev1")
            .unwrap(),
    );
    // TLS 1.3: the client may finish its handshake before the broker checks the certificate;
    // the refusal then shows on the first MQTT exchange.
    let refused = match connect_tls(&broker, &ca.der, cert, key).await {
        Err(_) => true,
        Ok(io) => match with_timeout(Duration::from_secs(5), session.connect(io)).await {
            Ok(Ok(_)) => false,
            Ok(Err(_)) => true,
            Err(_) => panic!("neither accepted nor refused in time"),
        },
    };
    assert!(
        refused,
        "a certificate from another CA must not get an MQTT session"
    );
}

fn ca_rogue() -> Ca {
    ca("rogue CA")
}
