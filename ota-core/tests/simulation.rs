//! Whole-update simulations over a lossy, duplicating, reordering, disconnecting link, with the
//! `ota-cloud` model of AWS on the other side. Every seed must end SUCCEEDED with the new image
//! running, byte-identical, in bounded simulated time.
#![allow(missing_docs)]

mod sim;

use ota_core::Version;
use sim::{Sim, SimConfig};

#[test]
#[ignore = "debug helper: SIM_SEED=n SIM_HTTP=1 SIM_CUT=ms cargo test -p ota-core --test simulation one_seed -- --ignored --nocapture"]
fn one_seed() {
    let seed = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut cfg = SimConfig::new(seed);
    cfg.verbose = true;
    cfg.http = std::env::var("SIM_HTTP").is_ok();
    if let Some(c) = std::env::var("SIM_CUT")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    {
        cfg.power_cuts = vec![c];
        cfg.loss = 0.01;
        cfg.disconnect_every = 0;
        cfg.latency = (1, 5);
    }
    let out = Sim::new(cfg).run();
    println!(
        "{:?} {:#?} refetched {}",
        out.final_status, out.status_history, out.blocks_refetched
    );
}

fn check(cfg: SimConfig) -> sim::Outcome {
    let seed = cfg.seed;
    let max = cfg.max_time;
    let out = Sim::new(cfg).run();
    assert_eq!(
        out.final_status.as_deref(),
        Some("SUCCEEDED"),
        "seed {seed}: history {:#?}\n{}",
        out.status_history,
        out.transcript.join("\n")
    );
    assert!(out.image_ok, "seed {seed}: image differs or not committed");
    assert_eq!(out.running_version, Version::new(2, 0, 0), "seed {seed}");
    assert!(
        out.sim_time_ms < max,
        "seed {seed}: took {} ms",
        out.sim_time_ms
    );
    out
}

#[test]
fn thousand_seeds_over_mqtt_streams() {
    let mut worst = 0;
    let mut boots = 0;
    for seed in 0..1000 {
        let out = check(SimConfig::new(seed));
        worst = worst.max(out.sim_time_ms);
        boots += out.boots;
    }
    println!("1000 MQTT seeds: worst simulated time {worst} ms, {boots} boots");
}

#[test]
fn three_hundred_seeds_over_http_ranges() {
    for seed in 0..300 {
        let mut cfg = SimConfig::new(10_000 + seed);
        cfg.http = true;
        check(cfg);
    }
}

#[test]
fn clean_link_statistics_are_exact() {
    let mut cfg = SimConfig::new(7);
    cfg.loss = 0.0;
    cfg.duplicate = 0.0;
    cfg.disconnect_every = 0;
    let out = check(cfg);
    let blocks = (24 * 1024 + 123u32).div_ceil(1024);
    assert_eq!(
        out.stats.processed, 0,
        "statistics are per boot: the last boot only ran the self-test"
    );
    assert_eq!(out.block_writes, blocks, "each block written once");
    assert_eq!(out.boots, 2, "factory boot + the new image");
}

#[test]
fn power_cuts_mid_download_resume_from_the_journal() {
    let mut total_refetched = 0;
    for seed in 0..200u64 {
        let mut cfg = SimConfig::new(50_000 + seed);
        cfg.loss = 0.01;
        cfg.disconnect_every = 0;
        cfg.latency = (1, 5);
        // One or two cuts, each right after some block write of the 25-block download.
        let a = 1 + (seed as u32 * 7) % 24;
        cfg.power_cuts = if seed % 2 == 0 {
            vec![a]
        } else {
            vec![a, a + 1 + (seed as u32 % 5)]
        };
        let cuts = cfg.power_cuts.len() as u32;
        let out = check(cfg);
        // The journal is written every 4 stored blocks: at most 3 blocks per cut are fetched
        // again (those stored after the last record).
        assert!(
            out.blocks_refetched <= 3 * cuts,
            "seed {seed}: {} blocks fetched again after {cuts} cuts",
            out.blocks_refetched
        );
        total_refetched += out.blocks_refetched;
    }
    println!("200 power-cut runs: {total_refetched} blocks fetched twice in total");
}

#[test]
fn power_cut_after_the_last_block_resumes_verifies_and_activates() {
    for seed in 0..20u64 {
        let mut cfg = SimConfig::new(90_000 + seed);
        cfg.loss = 0.0;
        cfg.duplicate = 0.0;
        cfg.disconnect_every = 0;
        cfg.power_cuts = vec![25];
        let out = check(cfg);
        assert!(
            out.blocks_refetched <= 3,
            "seed {seed}: {}",
            out.blocks_refetched
        );
        assert_eq!(out.boots, 3, "factory, after the cut, the new image");
    }
}
