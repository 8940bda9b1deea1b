//! Signature verification of a 4 MiB image: the agent's read-back of the file through its
//! `FileRead` / `FileData` loop (4 KB chunks from RAM flash) with SHA-256, plus one ECDSA
//! P-256 verify, against raw `sha2` over the same bytes (4 KB updates), measured side by side
//! in each repetition.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml --bin verify -- [--reps N]
//! ```

use std::time::Instant;

use ota_bench::image::{self, IMAGE_LEN};
use ota_bench::mem::{self, Flash, MemBuffers, MemDevice};
use ota_bench::stats::{Summary, arg, mb_per_s, paired_ratio_pct};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};

const BLOCK: u32 = 4096;

fn main() {
    if let Err(e) = run() {
        eprintln!("verify: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let reps = arg("--reps", 11).max(1);
    let img = image::image(IMAGE_LEN, 4);
    let blocks = image::stream_blocks(&img, BLOCK)?;
    let der = image::signer().sign_der(&img);
    let sig = p256::ecdsa::Signature::from_der(&der).map_err(|e| e.to_string())?;
    let key = image::trusted_key();
    let topic = mem::data_topic();
    let mut bufs = MemBuffers::new(BLOCK, IMAGE_LEN);

    let (mut raw_sha_ms, mut raw_ecdsa_ms, mut agent_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut raw_total_ms = Vec::new();
    for rep in 0..reps {
        // Raw: sha2 over the same bytes in 4 KB updates, then one verify of the digest.
        let t = Instant::now();
        let mut h = Sha256::new();
        for chunk in img.chunks(BLOCK as usize) {
            h.update(chunk);
        }
        let digest = h.finalize();
        let sha = t.elapsed();
        let t = Instant::now();
        key.verify_prehash(&digest, &sig)
            .map_err(|e| format!("raw verify: {e}"))?;
        let ecdsa = t.elapsed();

        // Agent: a fresh job, all blocks but the last fed untimed; the last block's write
        // starts the read-back and the check, which end in the self-test-ready status.
        let mut cloud = mem::cloud_with_job(&img)?;
        let mut dev = MemDevice::boot(&mut bufs, mem::config(BLOCK, 32, 8), Flash::default())?;
        mem::start_download(&mut dev, &mut cloud)?;
        dev.collect = false;
        let (last, rest) = blocks.split_last().ok_or("no blocks")?;
        for b in rest {
            dev.feed(&topic, b).map_err(|e| format!("agent: {e:?}"))?;
        }
        dev.collect = true;
        let t = Instant::now();
        dev.feed(&topic, last)
            .map_err(|e| format!("agent: {e:?}"))?;
        let verify = t.elapsed();
        // Untimed: let the status be confirmed; the agent must then ask to activate.
        mem::pump(&mut dev, &mut cloud, |d| d.ready)?;
        if !dev.ready || dev.flash.slot != img {
            return Err(format!("agent did not verify the image: {:?}", dev.failed));
        }
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        eprintln!(
            "rep {rep}: raw sha2 {:.2} ms + verify {:.3} ms; agent {:.2} ms",
            ms(sha),
            ms(ecdsa),
            ms(verify)
        );
        raw_sha_ms.push(ms(sha));
        raw_ecdsa_ms.push(ms(ecdsa));
        raw_total_ms.push(ms(sha) + ms(ecdsa));
        agent_ms.push(ms(verify));
    }

    let s = |v: &[f64]| {
        Summary::of(v).map_or("n/a".into(), |s| {
            format!("{:.2} [{:.2}, {:.2}]", s.median, s.min, s.max)
        })
    };
    let mbs = |v: &[f64]| Summary::of(v).map_or(0.0, |s| mb_per_s(IMAGE_LEN, s.median / 1e3));
    println!("### Signature verification of a 4 MiB image ({reps} repetitions)");
    println!();
    println!("| what | ms | MB/s |");
    println!("|---|---|---:|");
    println!(
        "| raw sha2 0.10, 4 KB updates | {} | {:.0} |",
        s(&raw_sha_ms),
        mbs(&raw_sha_ms)
    );
    println!(
        "| raw p256 0.13 verify of the digest | {} | |",
        s(&raw_ecdsa_ms)
    );
    println!(
        "| raw sha2 + verify | {} | {:.0} |",
        s(&raw_total_ms),
        mbs(&raw_total_ms)
    );
    println!(
        "| agent: last block, read-back (FileRead/FileData, 4 KB), SHA-256, verify, status | {} | {:.0} |",
        s(&agent_ms),
        mbs(&agent_ms)
    );
    let vs_sha = paired_ratio_pct(&agent_ms, &raw_sha_ms);
    let vs_total = paired_ratio_pct(&agent_ms, &raw_total_ms);
    println!();
    if let (Some(a), Some(b)) = (vs_sha, vs_total) {
        println!(
            "Agent time / raw sha2 time: **{:.2}×** [{:.2}, {:.2}]; / (raw sha2 + one verify): **{:.2}×** [{:.2}, {:.2}] (medians of per-repetition ratios).",
            a.median / 100.0,
            a.min / 100.0,
            a.max / 100.0,
            b.median / 100.0,
            b.min / 100.0,
            b.max / 100.0
        );
        println!(
            "SUMMARY|Verification 4 MiB (read-back + SHA-256 + ECDSA), time vs raw sha2|{:.2}× ({:.2}× vs sha2 + verify)|(no goal: measured)|-",
            a.median / 100.0,
            b.median / 100.0
        );
    }
    Ok(())
}
