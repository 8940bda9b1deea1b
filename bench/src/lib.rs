//! # ota-bench
//!
//! Benchmarks of the OTA agent against what this machine allows. Every figure is a **ratio
//! measured side by side in one run** (agent and raw limit interleaved, repetition by
//! repetition), because the machine is shared and noisy. Nothing here asserts a time: the
//! binaries print tables, and [`BENCHMARKS.md`](../BENCHMARKS.md) holds the figures with the
//! commands that made them. What the binaries do check is correctness (the image arrived
//! byte-identical, every raw message arrived), so a fast wrong run cannot pass for a result.
//!
//! | binary / bench | figure |
//! |---|---|
//! | `mqtt_download` | 4 MiB over MQTT streams through mosquitto: agent against a plain publish/subscribe |
//! | `http_download` | 4 MiB over HTTP ranges from nginx: agent against a plain range-less GET |
//! | `benches/core_block.rs` (criterion) + `criterion_table` | core cost per 4 KB block against a memcpy |
//! | `verify` | SHA-256 read-back and ECDSA verify of 4 MiB against raw sha2 |
//! | `resume` | blocks fetched again after a power cut at 50 % |
//!
//! `scripts/bench.sh` runs them all (plus the size and fleet figures) and prints the table.
//!
//! Modules:
//! - [`stats`]: medians and throughput;
//! - [`image`]: the deterministic 4 MiB image, its signature, the stream's CBOR blocks;
//! - [`servers`]: mosquitto and nginx started on free loopback ports, stopped on drop;
//! - [`mem`]: the agent on RAM flash driven in memory (core cost, verification, resume);
//! - [`net`]: the agent in its std runtime (`ota-os-std`) over real sockets, the AWS model
//!   (`ota-cloud`) behind an MQTT client, and the raw clients.
#![forbid(unsafe_code)]

pub mod image;
pub mod mem;
pub mod net;
pub mod servers;
pub mod stats;
