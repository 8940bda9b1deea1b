//! A complete simulated update, on one machine, in virtual time: the agent on a device with RAM
//! flash and an A/B bootloader, the `ota-cloud` model of AWS IoT Jobs and MQTT streams, over a
//! link that loses, duplicates and reorders messages and drops the connection. Prints the
//! message transcript, the job's status history and the statistics.
//!
//! `cargo run -p ota-core --example simulated_update [seed] [--http]`

#[path = "../tests/sim/mod.rs"]
#[allow(clippy::all)]
mod sim;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut cfg = sim::SimConfig::new(seed);
    cfg.http = std::env::args().any(|a| a == "--http");
    cfg.verbose = true;
    println!(
        "simulated update: seed {seed}, {} bytes over {}",
        cfg.image_size,
        if cfg.http {
            "HTTP ranges"
        } else {
            "MQTT streams"
        }
    );
    let out = sim::Sim::new(cfg).run();
    println!("\njob status history (as the cloud recorded it):");
    for h in &out.status_history {
        println!("  {h}");
    }
    let s = out.stats;
    println!(
        "\nstatistics of the last boot: received {} queued {} processed {} dropped {} (duplicates {}), requests {}, retries {}",
        s.received, s.queued, s.processed, s.dropped, s.duplicates, s.requests, s.retries
    );
    println!(
        "boots {}, block writes {}, messages {}, simulated time {:.3} s",
        out.boots,
        out.block_writes,
        out.messages,
        out.sim_time_ms as f64 / 1000.0
    );
    let ok = out.final_status.as_deref() == Some("SUCCEEDED") && out.image_ok;
    println!(
        "\nresult: job {}, running version {}, image {}",
        out.final_status.as_deref().unwrap_or("?"),
        out.running_version,
        if out.image_ok {
            "byte-identical"
        } else {
            "DIFFERENT"
        }
    );
    std::process::exit(if ok { 0 } else { 1 });
}
