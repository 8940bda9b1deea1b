//! Build script: the linker script for the target, and the signed test image.
//!
//! The image the simulated cloud serves is generated here, on the host, and signed with a
//! fixed test key (ECDSA P-256 over SHA-256, DER, base64: AWS's `sig-sha256-ecdsa`). The
//! binary embeds the image, the signature and the public key, so the device side verifies a
//! signature it could not have produced itself.

use p256::ecdsa::{Signature, SigningKey, signature::Signer};
use std::{env, fs, path::PathBuf};

/// Size of the test image: 49 full 1 KiB blocks and a short last one.
const IMAGE_LEN: usize = 49 * 1024 + 333;
/// The test signing key's scalar. A test key, public on purpose: never use it for real images.
const TEST_KEY: [u8; 32] = [0x5a; 32];

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").unwrap_or_default();

    // Linker scripts: cortex-m-rt's link.x includes memory.x; riscv-rt's needs it first.
    let memory = if target.starts_with("thumb") {
        "memory-arm.x"
    } else {
        "memory-riscv.x"
    };
    fs::copy(memory, out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");
    if target.starts_with("thumb") {
        println!("cargo:rustc-link-arg-bins=-Tlink.x");
    } else if target.starts_with("riscv32") {
        println!("cargo:rustc-link-arg-bins=-Tmemory.x");
        println!("cargo:rustc-link-arg-bins=-Tlink.x");
    }

    // The image: deterministic, not compressible into a pattern the agent could get right by luck.
    let mut x: u32 = 0x1234_5678;
    let image: Vec<u8> = (0..IMAGE_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    let key = SigningKey::from_slice(&TEST_KEY).expect("test key");
    let sig: Signature = key.sign(&image);
    let der = sig.to_der();
    let mut b64 = [0u8; 128];
    let n = ota_core::codec::base64::encode(der.as_bytes(), &mut b64).expect("base64");
    let public = key.verifying_key().to_encoded_point(false);

    fs::write(out.join("image.bin"), &image).expect("image.bin");
    fs::write(out.join("image.sig"), &b64[..n]).expect("image.sig");
    fs::write(out.join("key.pub"), public.as_bytes()).expect("key.pub");
}
