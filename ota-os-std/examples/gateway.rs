//! A gateway-style device: runs the agent against a broker with a file-backed flash in
//! `./gateway-state`, power-cycling in-process after each reset.
//!
//! ```sh
//! cargo run -p ota-os-std --example gateway -- 127.0.0.1 1883 my-thing signer.pub.pem
//! ```
//! The last argument is the code-signing public key (SPKI PEM). Add `CA CERT KEY` for mutual
//! TLS.

use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{Config, Version};
use ota_os_std::tls::{Tls, TlsFiles};
use ota_os_std::{AutoAccept, Broker, Settings};
use ota_pal_flash::host::{SimDevice, SimDeviceConfig};
use p256::pkcs8::DecodePublicKey;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, port, thing, key, rest @ ..] = args.as_slice() else {
        eprintln!("usage: gateway HOST PORT THING SIGNER_PUB_PEM [CA CERT KEY]");
        std::process::exit(2);
    };
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(&std::fs::read_to_string(key)?)?;
    let keys = [TrustedKey { name: None, key }];
    let tls = match rest {
        [ca, cert, key] => Some(Tls::new(
            &TlsFiles {
                ca: ca.into(),
                cert: cert.into(),
                key: key.into(),
            },
            host,
        )?),
        _ => None,
    };
    let settings = Settings::new(Broker {
        host: host.clone(),
        port: port.parse()?,
        tls,
    });
    let device = SimDevice::open("gateway-state", SimDeviceConfig::new(1 << 20, 16 << 10))?;
    loop {
        let (booted, mut platform) = device.power_on()?;
        eprintln!(
            "boot from slot {} (reverted: {})",
            booted.slot, booted.reverted
        );
        let config = Config::new(thing, Version::new(1, 0, 0));
        let exit = ota_os_std::run(
            &settings,
            config,
            P256Verifier::new(&keys),
            &mut platform,
            None,
            &mut AutoAccept,
        )
        .await?;
        eprintln!("reset ({exit:?})");
    }
}
