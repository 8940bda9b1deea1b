//! `ota-sim provision`: the identity blob a board reads from its identity area, from PEM
//! files made in the test (rcgen), read back with the boards' own parser.

use ota_os_embassy::identity::{Identity, IdentityError};
use rcgen::{CertificateParams, KeyPair, PKCS_ED25519};
use std::path::Path;
use std::process::Command;

/// A fresh directory of the test's own (removed on drop).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ota-provision-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ota-sim"))
        .arg("provision")
        .args(args)
        .output()
        .expect("run ota-sim");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pki(dir: &Path, key: KeyPair) -> (Vec<u8>, Vec<u8>) {
    let ca_key = KeyPair::generate().unwrap();
    let ca = CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&ca_key)
        .unwrap();
    std::fs::write(
        dir.join("other.key"),
        KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let cert = CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("dev.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("dev.key"), key.serialize_pem()).unwrap();
    (ca.der().to_vec(), cert.der().to_vec())
}

#[test]
fn a_tls_identity_round_trips_through_the_boards_parser() {
    let dir = TempDir::new("tls");
    let key = KeyPair::generate().unwrap();
    let key_der = key.serialize_der();
    let (ca_der, cert_der) = pki(dir.path(), key);
    let d = dir.path().display();
    let out = format!("{d}/identity.bin");
    let (ok, err) = run(&[
        "--thing",
        "esp32c3-0042",
        "--broker",
        "a1b2-ats.iot.eu-west-1.amazonaws.com:8883",
        "--ca",
        &format!("{d}/ca.pem"),
        "--cert",
        &format!("{d}/dev.pem"),
        "--key",
        &format!("{d}/dev.key"),
        "--out",
        &out,
    ]);
    assert!(ok, "{err}");
    let blob = std::fs::read(&out).unwrap();
    let id = Identity::parse(&blob).expect("the board parses it");
    assert_eq!(id.thing_name, "esp32c3-0042");
    assert_eq!(
        (id.host, id.port),
        ("a1b2-ats.iot.eu-west-1.amazonaws.com", 8883)
    );
    assert_eq!(
        (id.anchor, id.cert, id.key),
        (&ca_der[..], &cert_der[..], &key_der[..])
    );
    assert!(id.has_tls());
    // The area past the blob is still erased on the board: parsing is unaffected.
    let mut area = blob.clone();
    area.resize(4096, 0xFF);
    assert_eq!(Identity::parse(&area), Ok(id));
}

#[test]
fn a_plain_identity_and_what_is_refused() {
    let dir = TempDir::new("plain");
    let d = dir.path().display();
    let out = format!("{d}/plain.bin");
    let (ok, err) = run(&[
        "--thing",
        "dk-1",
        "--broker",
        "192.168.1.20:1883",
        "--out",
        &out,
    ]);
    assert!(ok, "{err}");
    let blob = std::fs::read(&out).unwrap();
    let id = Identity::parse(&blob).unwrap();
    assert!(!id.has_tls());
    assert_eq!(Identity::parse(&[0xFF; 4096]), Err(IdentityError::Erased));

    // An Ed25519 device key: the boards' TLS needs P-256.
    pki(dir.path(), KeyPair::generate_for(&PKCS_ED25519).unwrap());
    let (ok, err) = run(&[
        "--thing",
        "dk-1",
        "--broker",
        "h:8883",
        "--ca",
        &format!("{d}/ca.pem"),
        "--cert",
        &format!("{d}/dev.pem"),
        "--key",
        &format!("{d}/dev.key"),
        "--out",
        &out,
    ]);
    assert!(!ok && err.contains("P-256"), "{err}");
    // A P-256 key that is not the certificate's.
    pki(dir.path(), KeyPair::generate().unwrap());
    let (ok, err) = run(&[
        "--thing",
        "dk-1",
        "--broker",
        "h:8883",
        "--ca",
        &format!("{d}/ca.pem"),
        "--cert",
        &format!("{d}/dev.pem"),
        "--key",
        &format!("{d}/other.key"),
        "--out",
        &out,
    ]);
    assert!(!ok && err.contains("does not belong"), "{err}");
    for (args, want) in [
        (vec!["--thing", "a/b", "--broker", "h:1"], "thing name"),
        (vec!["--thing", "dk", "--broker", "nohost"], "host:port"),
        (
            vec!["--thing", "dk", "--broker", "h:1", "--ca", "x.pem"],
            "--cert",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--out", &out]);
        let (ok, err) = run(&a);
        assert!(!ok && err.contains(want), "{args:?}: {err}");
    }
}
