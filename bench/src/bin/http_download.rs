//! HTTP download of a 4 MiB image from Debian's nginx on loopback, against the raw limit: one
//! plain range-less GET of the same file from the same server.
//!
//! The agent gets its job (with a presigned URL pointing at nginx) over MQTT through
//! mosquitto, then fetches the file in range requests of 4 KB, 64 KB (the default), 1 MiB
//! and 4 MiB through `ota-http-reqwless`, and 64 KB once more through `ota-os-std`'s
//! `HyperBackend` (hyper + rustls, the hosts' `https://` backend). Every repetition measures the
//! raw GET and then each agent configuration, so each ratio pairs runs made seconds apart.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml --bin http_download -- [--reps N]
//! ```

use std::time::Duration;

use ota_bench::image::{self, IMAGE_LEN};
use ota_bench::net::{self, DeviceSpec, Responder};
use ota_bench::servers;
use ota_bench::stats::{Summary, arg, mb_per_s, paired_ratio_pct};
use sha2::{Digest, Sha256};

const KEY: &str = "ota/bench/image.bin";
const BLOCK: u32 = 4096;

struct Case {
    k: u32,
    /// Through `HyperBackend` instead of the reqwless runner.
    hyper: bool,
    mb_s: Vec<f64>,
    raw_mb_s: Vec<f64>,
    rr_mb_s: Vec<f64>,
    wait_pct: Vec<f64>,
    retries: u32,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("http_download: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let reps = arg("--reps", 11).max(1);
    let img = image::image(IMAGE_LEN, 2);
    let sha: [u8; 32] = Sha256::digest(&img).into();
    let signature = image::signer().sign(&img);

    let root = servers::scratch_dir("www").map_err(|e| e.to_string())?;
    let file = root.join(KEY);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&file, &img).map_err(|e| e.to_string())?;
    let nginx = servers::nginx(&root).map_err(|e| e.to_string())?;
    let broker = servers::mosquitto().map_err(|e| e.to_string())?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], nginx.port));
    let cloud = net::new_cloud(&img, Some((addr, KEY)))?;
    eprintln!(
        "nginx {} on {addr}, mosquitto {} on 127.0.0.1:{}; {reps} repetitions",
        nginx.pid(),
        broker.pid(),
        broker.port
    );

    let mut cases: Vec<Case> = [
        (1u32, false),
        (16, false),
        (256, false),
        (1024, false),
        (16, true),
    ]
    .iter()
    .map(|&(k, hyper)| Case {
        k,
        hyper,
        mb_s: Vec::new(),
        raw_mb_s: Vec::new(),
        rr_mb_s: Vec::new(),
        wait_pct: Vec::new(),
        retries: 0,
    })
    .collect();
    let path = format!("/{KEY}");
    let raw_run = || -> Result<f64, String> {
        let (raw, body) = net::raw_http_get(nginx.port, &path, img.len())?;
        if body != img {
            return Err("raw GET: the body differs from the image".into());
        }
        Ok(mb_per_s(IMAGE_LEN, raw.elapsed.as_secs_f64()))
    };
    let rr_run = |k: u32| -> Result<f64, String> {
        let range = (k * BLOCK) as usize;
        let (r, body) = net::raw_http_ranges(nginx.port, &path, img.len(), range)?;
        if body != img {
            return Err("plain ranges: the body differs from the image".into());
        }
        Ok(mb_per_s(IMAGE_LEN, r.elapsed.as_secs_f64()))
    };
    let agent_run = |k: u32, hyper: bool, tag: &str| -> Result<net::DeviceRun, String> {
        let thing = format!("bench-http-k{k}{}-{tag}", if hyper { "-hyper" } else { "" });
        let job = format!("job-{thing}");
        net::create_job(&cloud, &thing, &job, img.len(), &signature, Some(KEY))?;
        let responder = Responder::spawn(broker.port, cloud.clone(), &thing, true)?;
        let r = net::run_device(&DeviceSpec {
            port: broker.port,
            thing: thing.clone(),
            block_size: BLOCK,
            blocks_per_request: 32,
            http_blocks_per_request: k,
            http: true,
            request_ahead: true,
            hyper,
            timeout: Duration::from_secs(120),
        });
        responder.stop()?;
        let r = r.map_err(|e| format!("{thing}: {e}"))?;
        if r.slot_sha256 != sha {
            return Err(format!("{thing}: the downloaded image differs"));
        }
        Ok(r)
    };
    // Warm-up (not counted).
    raw_run()?;
    agent_run(16, false, "warmup")?;
    for rep in 0..reps {
        for case in &mut cases {
            // The raw GET right before the agent run it is compared with.
            let raw_mb_s = raw_run()?;
            let rr_mb_s = rr_run(case.k)?;
            let r = agent_run(case.k, case.hyper, &format!("r{rep}"))?;
            let mb_s = mb_per_s(IMAGE_LEN, r.download.as_secs_f64());
            let wait = net::request_wait(&r.write_times, case.k * BLOCK);
            eprintln!(
                "rep {rep} ranges of {:>4} KB{}: raw {raw_mb_s:.1} MB/s, plain ranges {rr_mb_s:.1} MB/s, agent {mb_s:.1} MB/s ({:.1} ms, {} writes, waiting {:.1} ms)",
                case.k * BLOCK / 1024,
                if case.hyper { " (hyper)" } else { "" },
                r.download.as_secs_f64() * 1e3,
                r.writes,
                wait.as_secs_f64() * 1e3
            );
            case.mb_s.push(mb_s);
            case.raw_mb_s.push(raw_mb_s);
            case.rr_mb_s.push(rr_mb_s);
            case.wait_pct
                .push(100.0 * wait.as_secs_f64() / r.download.as_secs_f64().max(1e-9));
            if let Some(s) = r.stats {
                case.retries = case.retries.max(s.retries);
            }
        }
    }

    println!("### HTTP download, 4 MiB, nginx on loopback ({reps} repetitions)");
    println!();
    println!(
        "| range size | requests | agent MB/s | raw GET MB/s | agent / raw | plain range requests MB/s | agent / plain | waiting for answers | retries |"
    );
    println!("|---:|---:|---|---|---|---|---|---:|---:|");
    let na = "n/a".to_string();
    for c in &cases {
        let ratio = paired_ratio_pct(&c.mb_s, &c.raw_mb_s);
        let wait = Summary::of(&c.wait_pct).map_or(f64::NAN, |s| s.median);
        let rr = Summary::of(&c.rr_mb_s).map_or(na.clone(), |s| s.to_string());
        let vs_rr = paired_ratio_pct(&c.mb_s, &c.rr_mb_s).map_or(na.clone(), |r| {
            format!("{:.0} % [{:.0}, {:.0}]", r.median, r.min, r.max)
        });
        println!(
            "| {} KB{} | {} | {} | {} | {} | {rr} | {vs_rr} | {wait:.0} % | {} |",
            c.k * BLOCK / 1024,
            if c.hyper { " (HyperBackend)" } else { "" },
            (IMAGE_LEN as u32).div_ceil(c.k * BLOCK),
            Summary::of(&c.mb_s).map_or(na.clone(), |s| s.to_string()),
            Summary::of(&c.raw_mb_s).map_or(na.clone(), |s| s.to_string()),
            ratio.map_or(na.clone(), |r| format!(
                "**{:.0} %** [{:.0}, {:.0}]",
                r.median, r.min, r.max
            )),
            c.retries
        );
    }
    println!();
    println!(
        "Agent time: first range request to last block written (RAM flash, 4 KB body chunks); \
         raw time: connect to last byte of one range-less GET read into memory, made just \
         before the agent run it is compared with. Plain range requests: a client with no OTA \
         logic fetching the file in ranges of the same size on one keep-alive connection, one \
         at a time. All on fresh connections. Waiting for \
         answers: share of the agent's time from a range request to its first block stored."
    );
    let summary = |label: &str, c: &Case| {
        if let Some(r) = paired_ratio_pct(&c.mb_s, &c.raw_mb_s) {
            println!(
                "SUMMARY|HTTP download 4 MiB, {label}, % of raw GET|{:.0} %|>= 90 %|{}",
                r.median,
                if r.median >= 90.0 { "met" } else { "not met" }
            );
        }
    };
    if let Some(c) = cases.iter().find(|c| c.k == 16 && c.hyper) {
        summary("64 KB ranges through HyperBackend (hyper + rustls)", c);
    }
    if let Some(c) = cases.iter().find(|c| c.k == 16 && !c.hyper) {
        summary("64 KB ranges (default)", c);
        if let Some(r) = paired_ratio_pct(&c.mb_s, &c.rr_mb_s) {
            println!(
                "SUMMARY|HTTP download, 64 KB ranges, agent vs a plain client making the same range requests|{:.0} %|(diagnostic)|-",
                r.median
            );
        }
    }
    let best = cases.iter().filter(|c| !c.hyper).max_by(|a, b| {
        let ra = paired_ratio_pct(&a.mb_s, &a.raw_mb_s).map_or(0.0, |r| r.median);
        let rb = paired_ratio_pct(&b.mb_s, &b.raw_mb_s).map_or(0.0, |r| r.median);
        ra.total_cmp(&rb)
    });
    if let Some(c) = best {
        summary(&format!("best: {} KB ranges", c.k * BLOCK / 1024), c);
    }
    Ok(())
}
