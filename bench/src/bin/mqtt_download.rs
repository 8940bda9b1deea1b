//! MQTT stream download of a 4 MiB image through Debian's mosquitto on loopback, against the
//! raw limit: the same CBOR block messages published and received through the same broker by
//! plain clients with no OTA logic.
//!
//! Sweeps the block size (1, 4, 16, 64 KB) and the blocks per request (1 … 128 KB worth).
//! Every agent run is paired with a raw run of the same block size made just before it. One
//! extra row runs the default configuration with the AWS side's socket left with Nagle on
//! (as `ota-sim`'s cloud client was before commit 95152b2), another with the agent keeping one
//! GetStream request in flight at a time (`Config::request_ahead = false`, the C agent's way).
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml --bin mqtt_download -- [--reps N]
//! ```

use std::sync::Arc;
use std::time::Duration;

use ota_bench::image::{self, IMAGE_LEN};
use ota_bench::net::{self, DeviceSpec, Responder};
use ota_bench::servers;
use ota_bench::stats::{Summary, arg, mb_per_s, paired_ratio_pct};
use ota_cloud::topics::{self, StreamFormat};
use sha2::{Digest, Sha256};

struct Case {
    block: u32,
    k: u32,
    nodelay: bool,
    /// `Config::request_ahead`.
    ahead: bool,
    mb_s: Vec<f64>,
    raw_mb_s: Vec<f64>,
    rr_mb_s: Vec<f64>,
    ready_ms: Vec<f64>,
    wait_pct: Vec<f64>,
    within_mb_s: Vec<f64>,
    aws_us: Vec<f64>,
    retries: u32,
    dropped: u32,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("mqtt_download: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let reps = arg("--reps", 5).max(1);
    let img = image::image(IMAGE_LEN, 1);
    let sha: [u8; 32] = Sha256::digest(&img).into();
    let signature = image::signer().sign(&img);
    let broker = servers::mosquitto().map_err(|e| e.to_string())?;
    let cloud = net::new_cloud(&img, None)?;
    eprintln!(
        "mosquitto {} on 127.0.0.1:{}; {reps} repetitions",
        broker.pid(),
        broker.port
    );

    let sweep: [(u32, &[u32]); 4] = [
        (1024, &[1, 4, 16, 128]),
        (4096, &[1, 4, 16, 32]),
        (16384, &[1, 4, 8]),
        (65536, &[1, 2]),
    ];
    let mut cases: Vec<Case> = Vec::new();
    for (block, ks) in sweep {
        for &k in ks {
            cases.push(Case::new(block, k, true));
        }
    }
    cases.push(Case::new(4096, 32, false));
    let mut single = Case::new(4096, 32, true);
    single.ahead = false;
    cases.push(single);

    let mut payloads = Vec::new();
    for (block, _) in sweep {
        payloads.push((block, Arc::new(image::stream_blocks(&img, block)?)));
    }
    let raw_topic = topics::stream_data("bench-raw", image::STREAM, StreamFormat::Cbor);

    let payloads_of = |block: u32| {
        payloads
            .iter()
            .find(|(b, _)| *b == block)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| format!("no payloads for {block}"))
    };
    let raw_run = |block: u32| -> Result<f64, String> {
        let msgs = payloads_of(block)?;
        let raw = net::raw_mqtt(broker.port, &raw_topic, msgs.clone())?;
        if raw.messages != msgs.len() {
            return Err(format!("raw: {} of {} messages", raw.messages, msgs.len()));
        }
        Ok(mb_per_s(IMAGE_LEN, raw.elapsed.as_secs_f64()))
    };
    let agent_run =
        |case: &Case, tag: &str| -> Result<(net::DeviceRun, net::ResponderStats), String> {
            let thing = format!(
                "bench-b{}-k{}-{}{}-{tag}",
                case.block,
                case.k,
                if case.nodelay { "nd" } else { "nagle" },
                if case.ahead { "" } else { "-single" }
            );
            let job = format!("job-{thing}");
            net::create_job(&cloud, &thing, &job, img.len(), &signature, None)?;
            let responder = Responder::spawn(broker.port, cloud.clone(), &thing, case.nodelay)?;
            let r = net::run_device(&DeviceSpec {
                port: broker.port,
                thing: thing.clone(),
                block_size: case.block,
                blocks_per_request: case.k,
                http_blocks_per_request: 16,
                http: false,
                request_ahead: case.ahead,
                hyper: false,
                timeout: Duration::from_secs(120),
            });
            let rs = responder.stop()?;
            let r = r.map_err(|e| format!("{thing}: {e}"))?;
            if r.slot_sha256 != sha {
                return Err(format!("{thing}: the downloaded image differs"));
            }
            if rs.publish_errors > 0 {
                return Err(format!(
                    "{thing}: {} publishes not queued",
                    rs.publish_errors
                ));
            }
            Ok((r, rs))
        };

    let rr_run = |case: &Case, tag: &str| -> Result<f64, String> {
        let thing = format!("bench-rr-b{}-k{}-{tag}", case.block, case.k);
        let responder = Responder::spawn(broker.port, cloud.clone(), &thing, case.nodelay)?;
        let blocks = (IMAGE_LEN as u32).div_ceil(case.block);
        let r = net::raw_request_response(broker.port, &thing, case.block, case.k, blocks);
        responder.stop()?;
        let r = r?;
        if r.messages != blocks as usize {
            return Err(format!("{thing}: {} of {blocks} blocks", r.messages));
        }
        Ok(mb_per_s(IMAGE_LEN, r.elapsed.as_secs_f64()))
    };

    // Warm-up (not counted): one raw transfer per block size, one default agent run.
    for (block, _) in sweep {
        raw_run(block)?;
    }
    agent_run(&Case::new(4096, 32, true), "warmup")?;

    for rep in 0..reps {
        for case in &mut cases {
            // The raw run right before the agent run it is compared with.
            let raw_mb_s = raw_run(case.block)?;
            let rr_mb_s = rr_run(case, &format!("r{rep}"))?;
            let (r, rs) = agent_run(case, &format!("r{rep}"))?;
            case.aws_us
                .push(rs.stream_time.as_secs_f64() * 1e6 / rs.stream_requests.max(1) as f64);
            let mb_s = mb_per_s(IMAGE_LEN, r.download.as_secs_f64());
            let wait = net::request_wait(&r.write_times, case.k * case.block);
            let within = r.download.saturating_sub(wait);
            let blocks = r.write_times.len();
            let windows = blocks.div_ceil(case.k as usize);
            let within_bytes = (blocks - windows) * case.block as usize;
            eprintln!(
                "rep {rep} {:>2} KB x {:>3}{}: raw {raw_mb_s:.1} MB/s, plain req/resp {rr_mb_s:.1} MB/s, agent {mb_s:.1} MB/s ({:.1} ms, waiting {:.1} ms; ready after {:.1} ms)",
                case.block / 1024,
                case.k,
                label(case),
                r.download.as_secs_f64() * 1e3,
                wait.as_secs_f64() * 1e3,
                r.to_ready.as_secs_f64() * 1e3
            );
            case.mb_s.push(mb_s);
            case.raw_mb_s.push(raw_mb_s);
            case.rr_mb_s.push(rr_mb_s);
            case.ready_ms.push(r.to_ready.as_secs_f64() * 1e3);
            case.wait_pct
                .push(100.0 * wait.as_secs_f64() / r.download.as_secs_f64().max(1e-9));
            case.within_mb_s
                .push(mb_per_s(within_bytes, within.as_secs_f64()));
            if let Some(s) = r.stats {
                case.retries = case.retries.max(s.retries);
                case.dropped = case.dropped.max(s.dropped);
            }
        }
    }
    print_table(&cases, reps);
    Ok(())
}

impl Case {
    fn new(block: u32, k: u32, nodelay: bool) -> Self {
        Self {
            block,
            k,
            nodelay,
            ahead: true,
            mb_s: Vec::new(),
            raw_mb_s: Vec::new(),
            rr_mb_s: Vec::new(),
            ready_ms: Vec::new(),
            wait_pct: Vec::new(),
            within_mb_s: Vec::new(),
            aws_us: Vec::new(),
            retries: 0,
            dropped: 0,
        }
    }
}

/// What sets a row apart from the sweep.
fn label(c: &Case) -> &'static str {
    match (c.nodelay, c.ahead) {
        (false, _) => " (AWS side without TCP_NODELAY)",
        (true, false) => " (one request at a time)",
        (true, true) => "",
    }
}

fn print_table(cases: &[Case], reps: usize) {
    println!("### MQTT stream download, 4 MiB, mosquitto on loopback ({reps} repetitions)");
    println!();
    println!(
        "| block | blocks/request | bytes/request | agent MB/s | raw MB/s | agent / raw | plain request/response MB/s | agent / plain | waiting for answers | agent MB/s within answers | AWS side µs per request | download + verify ms | retries | dropped |"
    );
    println!("|---:|---:|---:|---|---|---|---|---|---:|---:|---:|---:|---:|---:|");
    let na = "n/a".to_string();
    for c in cases {
        let agent = Summary::of(&c.mb_s).map_or(na.clone(), |s| s.to_string());
        let raw = Summary::of(&c.raw_mb_s).map_or(na.clone(), |s| s.to_string());
        let ratio = paired_ratio_pct(&c.mb_s, &c.raw_mb_s);
        let rr = Summary::of(&c.rr_mb_s).map_or(na.clone(), |s| s.to_string());
        let vs_rr = paired_ratio_pct(&c.mb_s, &c.rr_mb_s).map_or(na.clone(), |r| {
            format!("{:.0} % [{:.0}, {:.0}]", r.median, r.min, r.max)
        });
        let ready = Summary::of(&c.ready_ms).map_or(f64::NAN, |s| s.median);
        let wait = Summary::of(&c.wait_pct).map_or(f64::NAN, |s| s.median);
        let within = Summary::of(&c.within_mb_s).map_or(f64::NAN, |s| s.median);
        let aws = Summary::of(&c.aws_us).map_or(f64::NAN, |s| s.median);
        println!(
            "| {} KB | {}{} | {} KB | {agent} | {raw} | {} | {rr} | {vs_rr} | {wait:.0} % | {within:.0} | {aws:.0} | {ready:.1} | {} | {} |",
            c.block / 1024,
            c.k,
            label(c),
            c.block * c.k / 1024,
            ratio.map_or(na.clone(), |r| format!(
                "**{:.0} %** [{:.0}, {:.0}]",
                r.median, r.min, r.max
            )),
            c.retries,
            c.dropped
        );
    }
    println!();
    println!(
        "MB/s = 10^6 B/s of image; median [min, max] over repetitions; agent / raw = median of the \
         per-repetition ratios (each agent run against the raw run made just before it). Plain \
         request/response: a client with no OTA logic asking the same AWS side for the same \
         blocks per request, one request outstanding, run between the raw and the agent run. \
         Agent \
         time: first data request to last block written (RAM flash); raw time: first publish \
         to last message received. Waiting for answers: share of the agent's time from a \
         request to the first block of its answer (the last block of one answer to the first \
         of the next); within answers: the agent's rate over the rest; AWS side per request: \
         time the stand-in (ota-cloud model + rumqttc) spends answering one GetStream request \
         before the broker sees its blocks (medians)."
    );
    // Summary lines for scripts/bench.sh.
    let ratio_of = |block: u32, k: u32, nodelay: bool, ahead: bool| {
        cases
            .iter()
            .find(|c| c.block == block && c.k == k && c.nodelay == nodelay && c.ahead == ahead)
            .and_then(|c| paired_ratio_pct(&c.mb_s, &c.raw_mb_s))
    };
    if let Some(r) = ratio_of(4096, 32, true, true) {
        println!(
            "SUMMARY|MQTT download 4 MiB, 4 KB blocks x 32/request (default), % of raw|{:.0} %|>= 90 %|{}",
            r.median,
            if r.median >= 90.0 { "met" } else { "not met" }
        );
    }
    let best = cases
        .iter()
        .filter(|c| c.nodelay && c.ahead)
        .filter_map(|c| paired_ratio_pct(&c.mb_s, &c.raw_mb_s).map(|r| (c, r)))
        .max_by(|a, b| a.1.median.total_cmp(&b.1.median));
    if let Some((c, r)) = best {
        println!(
            "SUMMARY|MQTT download 4 MiB, best of sweep ({} KB x {}), % of raw|{:.0} %|>= 90 %|{}",
            c.block / 1024,
            c.k,
            r.median,
            if r.median >= 90.0 { "met" } else { "not met" }
        );
    }
    if let Some(c) = cases
        .iter()
        .find(|c| c.block == 4096 && c.k == 32 && c.nodelay && c.ahead)
    {
        if let Some(r) = paired_ratio_pct(&c.mb_s, &c.rr_mb_s) {
            println!(
                "SUMMARY|MQTT download, default, agent vs a plain request/response client (same protocol, no OTA logic)|{:.0} %|(diagnostic)|-",
                r.median
            );
        }
    }
    if let Some(r) = ratio_of(4096, 32, true, false) {
        println!(
            "SUMMARY|MQTT download, default but one GetStream request at a time (request_ahead = false), % of raw|{:.0} %|(diagnostic)|-",
            r.median
        );
    }
    if let Some(r) = ratio_of(4096, 32, false, true) {
        println!(
            "SUMMARY|MQTT download, default, AWS side without TCP_NODELAY (ota-sim's cloud before 95152b2), % of raw|{:.0} %|>= 90 %|{}",
            r.median,
            if r.median >= 90.0 { "met" } else { "not met" }
        );
    }
}
