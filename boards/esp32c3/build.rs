//! Turns the build-time configuration (environment variables, never committed) and the flash
//! layout (`partitions.csv`: the offsets of `otajrnl` and `otaident`) into `ota_config.rs`
//! (linking is set up by .cargo/config.toml: esp-hal's linkall.x). Nothing of it is specific
//! to one device: the thing name and broker below are only the fallback of a device whose
//! identity partition is empty or invalid (a dev board); a provisioned device uses its
//! identity (README.md, "Provision a device").
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTA_WIFI_SSID` | Wi-Fi network (WPA2 personal) | `ota-lab` (warning) |
//! | `OTA_WIFI_PASSWORD` | its password (empty: open network) | empty |
//! | `OTA_THING_NAME` | fallback AWS IoT thing name = MQTT client id | `esp32c3-1` |
//! | `OTA_BROKER` | fallback `host:port` or `ip:port` of the MQTT broker (plain MQTT) | `192.168.1.100:1883` |
//! | `OTA_SIGNER_PUBKEY` | code-signing public key: a PEM file (`-----BEGIN PUBLIC KEY-----`) or 130 hex digits (SEC1, uncompressed) | the public TEST key of `qemu/` (warning) |
//! | `OTA_FIRMWARE_VERSION` | `major.minor.build` this image reports | the package version |
//! | `OTA_TLS_CA`, `OTA_TLS_CERT`, `OTA_TLS_KEY` | PEM files of the trust anchor, the device certificate and its P-256 key: checked, and written with `OTA_THING_NAME` and `OTA_BROKER` into `identity.bin` beside the firmware, never into it (all three or none, `boards/build_tls.rs`) | none |
use std::{env, fs, path::PathBuf};

#[path = "../build_tls.rs"]
mod tls;

fn var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The public key of the fixed TEST signing key of qemu/build.rs (scalar 0x5a * 32). Anyone can
/// sign for it: a build that trusts it must never leave the lab.
fn test_key() -> Vec<u8> {
    use p256::ecdsa::SigningKey;
    let key = SigningKey::from_slice(&[0x5a; 32]).expect("test key");
    key.verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec()
}

fn signer_key() -> Vec<u8> {
    let Some(v) = var("OTA_SIGNER_PUBKEY") else {
        println!(
            "cargo:warning=OTA_SIGNER_PUBKEY is not set: this firmware trusts the public TEST key. Never ship it."
        );
        return test_key();
    };
    let v = v.trim();
    if v.len() == 130 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Vec<u8> = (0..65)
            .map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes)
            .expect("OTA_SIGNER_PUBKEY: not a P-256 point");
        return bytes;
    }
    println!("cargo:rerun-if-changed={v}");
    let pem = fs::read_to_string(v).unwrap_or_else(|e| panic!("OTA_SIGNER_PUBKEY={v}: {e}"));
    use p256::pkcs8::DecodePublicKey;
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem)
        .unwrap_or_else(|e| panic!("OTA_SIGNER_PUBKEY={v}: not a P-256 public key PEM: {e}"));
    key.to_encoded_point(false).as_bytes().to_vec()
}

/// One row of an ESP-IDF partition table: (name, offset, size).
type PartitionRow = (String, u32, u32);

/// A number of partitions.csv: decimal or `0x` hex, optionally with a `K` or `M` suffix.
fn csv_number(field: &str) -> Option<u32> {
    let f = field.trim();
    let (digits, unit) = match f.chars().last()? {
        'K' | 'k' => (&f[..f.len() - 1], 1024),
        'M' | 'm' => (&f[..f.len() - 1], 1024 * 1024),
        _ => (f, 1),
    };
    let n = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    n.checked_mul(unit)
}

/// The rows of partitions.csv, checked: explicit offsets and sizes, no two rows overlapping,
/// everything inside the 4 MiB of flash.
fn partitions() -> Vec<PartitionRow> {
    let text = fs::read_to_string("partitions.csv").expect("partitions.csv");
    let mut rows: Vec<PartitionRow> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (Some(name), Some(offset), Some(size)) = (fields.first(), fields.get(3), fields.get(4))
        else {
            panic!("partitions.csv: `{line}`: expected name, type, subtype, offset, size");
        };
        let offset = csv_number(offset).unwrap_or_else(|| {
            panic!("partitions.csv: `{name}`: give it an explicit offset (build.rs reads it)")
        });
        let size = csv_number(size)
            .unwrap_or_else(|| panic!("partitions.csv: `{name}`: size `{size}` not understood"));
        rows.push((name.to_string(), offset, size));
    }
    rows.sort_by_key(|r| r.1);
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            u64::from(a.1) + u64::from(a.2) <= u64::from(b.1),
            "partitions.csv: `{}` overlaps `{}`",
            a.0,
            b.0
        );
    }
    if let Some(last) = rows.last() {
        assert!(
            u64::from(last.1) + u64::from(last.2) <= 4 * 1024 * 1024,
            "partitions.csv: `{}` ends beyond the 4 MiB of flash",
            last.0
        );
    }
    rows
}

/// The (offset, size) of partition `name`, which must be whole 4 KiB sectors.
fn partition(rows: &[PartitionRow], name: &str) -> (u32, u32) {
    let (_, offset, size) = rows
        .iter()
        .find(|r| r.0 == name)
        .unwrap_or_else(|| panic!("partitions.csv: no `{name}` partition"));
    assert!(
        offset % 4096 == 0 && size % 4096 == 0 && *size > 0,
        "partitions.csv: `{name}` must be whole 4 KiB flash sectors"
    );
    (*offset, *size)
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build_tls.rs");
    println!("cargo:rerun-if-changed=partitions.csv");

    let ssid = var("OTA_WIFI_SSID").unwrap_or_else(|| {
        println!("cargo:warning=OTA_WIFI_SSID is not set: using `ota-lab` (see README.md)");
        "ota-lab".into()
    });
    let password = var("OTA_WIFI_PASSWORD").unwrap_or_default();
    assert!(ssid.len() <= 32, "OTA_WIFI_SSID: at most 32 bytes");
    assert!(
        password.is_empty() || (8..=64).contains(&password.len()),
        "OTA_WIFI_PASSWORD: 8-64 characters (or empty)"
    );

    let thing = var("OTA_THING_NAME").unwrap_or_else(|| "esp32c3-1".into());
    assert!(
        !thing.is_empty()
            && thing.len() <= 128
            && thing
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_:".contains(&b)),
        "OTA_THING_NAME: 1-128 characters of [a-zA-Z0-9:_-]"
    );
    let broker = var("OTA_BROKER").unwrap_or_else(|| {
        println!("cargo:warning=OTA_BROKER is not set: using 192.168.1.100:1883 (see README.md)");
        "192.168.1.100:1883".into()
    });
    let (host, port) = broker
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .unwrap_or_else(|| panic!("OTA_BROKER={broker}: expected host:port"));
    let version = var("OTA_FIRMWARE_VERSION")
        .unwrap_or_else(|| env::var("CARGO_PKG_VERSION").expect("version"));
    let parts: Vec<u32> = version
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("OTA_FIRMWARE_VERSION={version}: expected X.Y.Z"))
        })
        .collect();
    assert!(
        parts.len() == 3 && parts[0] < 256 && parts[1] < 256 && parts[2] < 65536,
        "OTA_FIRMWARE_VERSION={version}: X.Y.Z with X, Y < 256 and Z < 65536"
    );
    let key = signer_key();
    let rows = partitions();
    let journal = partition(&rows, "otajrnl");
    let identity = partition(&rows, "otaident");
    assert!(
        identity.1 == 4096,
        "partitions.csv: `otaident` must be one 4 KiB sector (ota_os_embassy::identity::MAX_BLOB)"
    );

    let mut s = String::new();
    s += "// Generated by build.rs from the OTA_* environment variables and partitions.csv.\n";
    s += &format!("/// Wi-Fi network.\npub const WIFI_SSID: &str = {ssid:?};\n");
    s += &format!(
        "/// Wi-Fi password (empty: open network).\npub const WIFI_PASSWORD: &str = {password:?};\n"
    );
    s += &format!(
        "/// The AWS IoT thing name (MQTT client id) of a device without an identity.\npub const THING_NAME: &str = {thing:?};\n"
    );
    s += &format!(
        "/// Broker host name or address of a device without an identity.\npub const BROKER_HOST: &str = {host:?};\n"
    );
    s += &format!(
        "/// Broker port of a device without an identity.\npub const BROKER_PORT: u16 = {port};\n"
    );
    s += &format!(
        "/// The journal partition (`otajrnl` in partitions.csv): offset.\npub const JOURNAL_OFFSET: u32 = {:#x};\n",
        journal.0
    );
    s += &format!(
        "/// Its size.\npub const JOURNAL_LEN: u32 = {:#x};\n",
        journal.1
    );
    s += &format!(
        "/// The identity partition (`otaident` in partitions.csv): offset.\npub const IDENTITY_OFFSET: u32 = {:#x};\n",
        identity.0
    );
    s += &format!(
        "/// The version this image reports.\npub const VERSION: ota_core::Version = ota_core::Version::new({}, {}, {});\n",
        parts[0], parts[1], parts[2]
    );
    s += &format!(
        "/// The version as text (the ESP-IDF app descriptor).\npub const VERSION_STR: &str = \"{}.{}.{}\";\n",
        parts[0], parts[1], parts[2]
    );
    s += &format!(
        "/// The code-signing public key (SEC1, uncompressed).\npub const SIGNER_PUBKEY: [u8; 65] = {key:?};\n"
    );
    s += &tls::configure(&out, &thing, &host, port);
    fs::write(out.join("ota_config.rs"), s).expect("ota_config.rs");
}
