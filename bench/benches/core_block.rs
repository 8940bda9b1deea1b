//! Core cost per 4 KB block on the host, against a memcpy of the block (criterion).
//!
//! - `memcpy`: the block's payload copied from its received CBOR message into a 4 MiB RAM
//!   image at the block's offset: the least any receiver does.
//! - `agent`: the same message through the agent: `handle(Message)` (topic match, CBOR
//!   decode, checks against the job, copy into the block buffer), the `FileWrite` action
//!   executed on RAM flash (the same copy into the image), `handle(PlatformDone)` (bitmap,
//!   counters), and what the agent does every few blocks, amortized: the next GetStream
//!   request (CBOR) every 32 blocks, a resume record every 8, a progress status (JSON) every 64.
//! - `memcpy_hot`: one 4 KB copy between two buffers that stay in L1 (for scale only).
//! - `cbor_decode`: `decode_data_block` alone (its time is mostly the cache miss on each
//!   message's header).
//!
//! Blocks 0..1023 of a 1,025-block file are fed in order (the download never completes, so no
//! verification is timed); the agent is rebuilt, untimed, every 1,024 blocks.
//!
//! ```text
//! cargo bench --manifest-path bench/Cargo.toml --bench core_block
//! cargo run --release --manifest-path bench/Cargo.toml --bin criterion_table
//! ```
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ota_bench::image::{self, IMAGE_LEN};
use ota_bench::mem::{self, Flash, MemBuffers, MemDevice};
use ota_core::codec::cbor;

const BLOCK: usize = 4096;
const FED: usize = 1024;

fn per_block(c: &mut Criterion) {
    let img = image::image(IMAGE_LEN + BLOCK, 3);
    let blocks = image::stream_blocks(&img, BLOCK as u32).expect("stream blocks");
    // Where each payload sits inside its message.
    let payload_at: Vec<(usize, usize)> = blocks
        .iter()
        .map(|m| {
            let d = cbor::decode_data_block(m).expect("a data block");
            (
                d.payload.as_ptr() as usize - m.as_ptr() as usize,
                d.payload.len(),
            )
        })
        .collect();
    let mut cloud = mem::cloud_with_job(&img).expect("cloud");
    let topic = mem::data_topic();
    let mut bufs = MemBuffers::new(BLOCK as u32, img.len());

    let mut g = c.benchmark_group("per_block_4k");
    g.throughput(Throughput::Bytes(BLOCK as u64));

    g.bench_function("memcpy", |b| {
        let mut image = vec![0xffu8; img.len()];
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(FED as u64) as usize;
                let t = Instant::now();
                for (i, msg) in blocks.iter().enumerate().take(n) {
                    let (at, len) = payload_at[i];
                    image[i * BLOCK..i * BLOCK + len].copy_from_slice(&msg[at..at + len]);
                }
                black_box(&mut image);
                total += t.elapsed();
                done += n as u64;
            }
            total
        })
    });

    g.bench_function("agent", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(FED as u64) as usize;
                let mut dev = MemDevice::boot(
                    &mut bufs,
                    mem::config(BLOCK as u32, 32, 8),
                    Flash::default(),
                )
                .expect("boot");
                mem::start_download(&mut dev, &mut cloud).expect("download starts");
                dev.collect = false;
                let t = Instant::now();
                for msg in &blocks[..n] {
                    dev.feed(&topic, msg).expect("contract");
                }
                total += t.elapsed();
                assert_eq!(dev.writes, n as u64, "every block written once");
                done += n as u64;
            }
            total
        })
    });

    g.bench_function("memcpy_hot", |b| {
        let mut dst = vec![0u8; BLOCK];
        let (at, len) = payload_at[0];
        let src = &blocks[0][at..at + len];
        b.iter(|| {
            dst.copy_from_slice(black_box(src));
            black_box(&mut dst);
        })
    });

    g.bench_function("cbor_decode", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(FED as u64) as usize;
                let t = Instant::now();
                for msg in &blocks[..n] {
                    let _ = black_box(cbor::decode_data_block(black_box(msg)));
                }
                total += t.elapsed();
                done += n as u64;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, per_block);
criterion_main!(benches);
