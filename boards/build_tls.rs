//! The mutual-TLS part of the build-time configuration (a module of both boards'
//! `build.rs`, included with `#[path]`).
//!
//! The TLS credentials are **not** compiled into the firmware: one image serves every device,
//! and each device reads its thing name, broker and credentials from its identity area
//! (`ota_os_embassy::identity`), provisioned once (README.md, "Provision a device"). What the
//! build still does with them, for convenience:
//!
//! | variable | meaning |
//! |---|---|
//! | `OTA_TLS_CA` | PEM file with the trust anchor (AWS IoT Core: `AmazonRootCA3.pem`) |
//! | `OTA_TLS_CERT` | PEM file with the device certificate |
//! | `OTA_TLS_KEY` | PEM file with the device's P-256 private key (SEC1 `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`) |
//!
//! All three set: the files are checked here (certificates that parse, P-256 keys, the key
//! belongs to the certificate, the certificate fits the TLS write buffer) and the identity
//! blob of `OTA_THING_NAME` at `OTA_BROKER` with these credentials is written to
//! `identity.bin` beside the firmware (`target/<target>/<profile>/identity.bin`), ready to be
//! flashed into the identity area; the TLS server name is the host part of `OTA_BROKER`.
//! None set: nothing to check. One or two set: an error.
use std::path::Path;
use std::{env, fs};

use p256::pkcs8::DecodePublicKey;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

/// The TLS write buffer of the firmware (`TlsMemory::write`): the largest record the device
/// sends, and during the handshake its certificate message (certificate + 256).
pub const WRITE_BUFFER: usize = 4096;

/// The three variables, in the order of the table above.
const VARS: [&str; 3] = ["OTA_TLS_CA", "OTA_TLS_CERT", "OTA_TLS_KEY"];

fn var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Stops the build with `msg` as cargo's error (no panic backtrace around it).
fn fail(msg: String) -> ! {
    println!("cargo::error={}", msg.replace('\n', " "));
    std::process::exit(1)
}

/// Reads the `OTA_TLS_*` variables for the thing `thing` at broker `host:port`. Returns the
/// lines to append to `ota_config.rs` (the TLS buffer size; never a credential).
pub fn configure(out: &Path, thing: &str, host: &str, port: u16) -> String {
    let mut s = String::new();
    s += "/// The TLS write buffer (largest record sent; the certificate message in the handshake).\n";
    s += &format!("pub const TLS_WRITE: usize = {WRITE_BUFFER};\n");
    let values: Vec<Option<String>> = VARS.iter().map(|n| var(n)).collect();
    let set: Vec<&str> = VARS
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_some())
        .map(|(n, _)| *n)
        .collect();
    if set.is_empty() {
        if host.ends_with(".amazonaws.com") || port == 8883 {
            println!(
                "cargo:warning=OTA_BROKER={host}:{port} looks like a TLS broker, but the build-time \
                 defaults are only the fallback of a device without an identity, and it speaks plain MQTT: \
                 provision the device with its credentials (README.md, \"Provision a device\")."
            );
        }
        return s;
    }
    if set.len() < VARS.len() {
        let missing: Vec<&str> = VARS.iter().filter(|n| !set.contains(n)).copied().collect();
        fail(format!(
            "Mutual TLS is configured partially: {} set, {} not set.\n\
             Set all three (PEM files: OTA_TLS_CA the trust anchor, e.g. AmazonRootCA3.pem; \
             OTA_TLS_CERT the device certificate; OTA_TLS_KEY its P-256 private key) \
             to check them and write the device's identity.bin, or none of them.",
            set.join(", "),
            missing.join(", ")
        ));
    }
    let [ca_path, cert_path, key_path] = [0, 1, 2].map(|i| values[i].clone().unwrap_or_default());

    if host.is_empty() {
        fail("OTA_BROKER: the host part is the TLS server name and must not be empty".into());
    }
    if host.ends_with(".amazonaws.com") {
        if !host.contains("-ats.") {
            println!(
                "cargo:warning=OTA_BROKER={host}: not an ATS endpoint (`aws iot describe-endpoint --endpoint-type iot:Data-ATS`): \
                 the legacy endpoint's chain does not lead to Amazon Root CA 3."
            );
        }
        if port != 8883 && port != 443 {
            println!(
                "cargo:warning=OTA_BROKER={host}:{port}: AWS IoT Core takes MQTT over TLS on port 8883 (or 443 with ALPN)."
            );
        }
    }

    // The trust anchor: one certificate with a P-256 key (the verifier follows ECDSA P-256
    // chains only).
    let anchor = one_certificate("OTA_TLS_CA", &ca_path);
    if p256_key(&anchor.1).is_none() {
        fail(format!(
            "OTA_TLS_CA={ca_path}: the trust anchor's key is not P-256. The firmware verifies \
             ECDSA P-256 chains only: for AWS IoT Core use AmazonRootCA3.pem (not AmazonRootCA1.pem, which is RSA)."
        ));
    }
    check_dates("OTA_TLS_CA", &ca_path, &anchor.1);

    // The device certificate and its key.
    let cert = one_certificate("OTA_TLS_CERT", &cert_path);
    let Some(cert_key) = p256_key(&cert.1) else {
        fail(format!(
            "OTA_TLS_CERT={cert_path}: the certificate's key is not P-256 (the device signs with ECDSA P-256; \
             register a P-256 CSR with `aws iot create-certificate-from-csr`, README.md)."
        ))
    };
    check_dates("OTA_TLS_CERT", &cert_path, &cert.1);
    if cert.0.len() + 256 > WRITE_BUFFER {
        fail(format!(
            "OTA_TLS_CERT={cert_path}: the certificate ({} bytes DER) does not fit the TLS write buffer \
             ({WRITE_BUFFER} bytes, certificate + 256 during the handshake)",
            cert.0.len()
        ));
    }
    let key = private_key(&key_path);
    if key.1.public_key() != cert_key {
        fail(format!(
            "OTA_TLS_KEY={key_path} is not the key of the certificate OTA_TLS_CERT={cert_path} \
             (their public keys differ)"
        ));
    }

    let blob = identity_blob(thing, host, port, &anchor.0, &cert.0, &key.0);
    let path = profile_dir(out).join("identity.bin");
    fs::write(&path, blob).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
    println!(
        "cargo:warning=OTA_TLS_* are not compiled into the firmware: the identity of {thing} \
         ({host}:{port}, mutual TLS) is in {}; flash it once into the device's identity area \
         (README.md, \"Provision a device\").",
        path.display()
    );
    s
}

/// The identity blob (`ota_os_embassy::identity`, the format `ota-sim provision` writes).
fn identity_blob(
    thing: &str,
    host: &str,
    port: u16,
    anchor: &[u8],
    cert: &[u8],
    key: &[u8],
) -> Vec<u8> {
    use ota_os_embassy::identity::{Identity, MAX_BLOB, encode};
    let id = Identity {
        thing_name: thing,
        host,
        port,
        anchor,
        cert,
        key,
    };
    let mut blob = vec![0u8; MAX_BLOB];
    let n = encode(&id, &mut blob).unwrap_or_else(|e| {
        fail(format!(
            "the identity of {thing} at {host}:{port} does not encode: {e} \
             (at most {MAX_BLOB} bytes with the certificates and the key)"
        ))
    });
    blob.truncate(n);
    blob
}

/// The directory of the firmware being built (`target/<target>/<profile>`, three levels above
/// `OUT_DIR`), or `OUT_DIR` itself when cargo lays the directories out otherwise.
fn profile_dir(out: &Path) -> &Path {
    let up = out.ancestors().nth(3);
    let build = out.ancestors().nth(2).and_then(|b| b.file_name());
    match (up, build) {
        (Some(dir), Some(name)) if name == "build" => dir,
        _ => out,
    }
}

/// The PEM blocks of the file `var`=`path`.
fn pem_blocks(var: &str, path: &str) -> Vec<pem::Pem> {
    println!("cargo:rerun-if-changed={path}");
    let text = fs::read(path).unwrap_or_else(|e| fail(format!("{var}={path}: {e}")));
    let blocks = pem::parse_many(&text)
        .unwrap_or_else(|e| fail(format!("{var}={path}: not a PEM file: {e}")));
    if blocks.is_empty() {
        fail(format!(
            "{var}={path}: no PEM block (-----BEGIN ...-----) in the file"
        ));
    }
    blocks
}

/// The one certificate of a PEM file: (DER, parsed).
fn one_certificate(var: &str, path: &str) -> (Vec<u8>, Certificate) {
    let blocks = pem_blocks(var, path);
    let certs: Vec<&pem::Pem> = blocks.iter().filter(|b| b.tag() == "CERTIFICATE").collect();
    if certs.len() != 1 || blocks.len() != 1 {
        let tags: Vec<&str> = blocks.iter().map(|b| b.tag()).collect();
        fail(format!(
            "{var}={path}: expected exactly one `-----BEGIN CERTIFICATE-----` block, found [{}]",
            tags.join(", ")
        ));
    }
    let der = certs[0].contents().to_vec();
    let parsed = Certificate::from_der(&der)
        .unwrap_or_else(|e| fail(format!("{var}={path}: not an X.509 certificate: {e}")));
    (der, parsed)
}

/// The certificate's public key, when it is P-256.
fn p256_key(cert: &Certificate) -> Option<p256::PublicKey> {
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    p256::PublicKey::from_public_key_der(&spki).ok()
}

/// Warns about a certificate outside its validity at build time (the firmware has no clock
/// and does not check dates; the broker does).
fn check_dates(var: &str, path: &str, cert: &Certificate) {
    let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) else {
        return;
    };
    let v = &cert.tbs_certificate.validity;
    if v.not_after.to_unix_duration() < now {
        println!(
            "cargo:warning={var}={path}: the certificate has expired ({})",
            v.not_after
        );
    } else if v.not_before.to_unix_duration() > now {
        println!(
            "cargo:warning={var}={path}: the certificate is not valid yet ({})",
            v.not_before
        );
    }
}

/// The device key: (DER as in the file, the key).
fn private_key(path: &str) -> (Vec<u8>, p256::SecretKey) {
    const VAR: &str = "OTA_TLS_KEY";
    let blocks = pem_blocks(VAR, path);
    // `openssl ecparam -genkey` writes the curve's parameters before the key.
    let keys: Vec<&pem::Pem> = blocks
        .iter()
        .filter(|b| b.tag() != "EC PARAMETERS")
        .collect();
    let [key] = &keys[..] else {
        let tags: Vec<&str> = blocks.iter().map(|b| b.tag()).collect();
        fail(format!(
            "{VAR}={path}: expected one private key block, found [{}]",
            tags.join(", ")
        ))
    };
    let der = key.contents().to_vec();
    let secret = match key.tag() {
        "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&der).ok(),
        "PRIVATE KEY" => {
            use p256::pkcs8::DecodePrivateKey;
            p256::SecretKey::from_pkcs8_der(&der).ok()
        }
        "ENCRYPTED PRIVATE KEY" => fail(format!(
            "{VAR}={path}: the key is encrypted; the firmware needs it in clear \
             (`openssl pkey -in {path} -out device.key.pem`)"
        )),
        other => fail(format!(
            "{VAR}={path}: a `{other}` block; expected a P-256 key as `EC PRIVATE KEY` (SEC1) or `PRIVATE KEY` (PKCS#8)"
        )),
    };
    let secret = secret.unwrap_or_else(|| {
        fail(format!(
            "{VAR}={path}: not a P-256 private key (create one with `openssl ecparam -name prime256v1 -genkey -noout`)"
        ))
    });
    (der, secret)
}
