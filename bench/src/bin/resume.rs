//! Resume after a power cut at 50 %: how many blocks already in flash are fetched again.
//!
//! A deterministic harness: the agent on RAM flash, the `ota-cloud` model answering in
//! memory, a 4 MiB image in 4 KB blocks (1,024 blocks), 32 blocks per request. The power is
//! cut right after block write number 512 + d (the write is in flash, the agent never hears
//! of it), for every d in `0..resume_every`, so every phase of the journal's cycle is hit;
//! then the device boots with the last persisted resume record and finishes the update. A
//! block written before the cut and written again after it was fetched again.
//!
//! The journal's documented granularity is `Config::resume_every`: "at most this many blocks
//! are fetched twice after a power cut".
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml --bin resume
//! ```

use std::collections::BTreeSet;

use ota_bench::image::{self, IMAGE_LEN};
use ota_bench::mem::{self, Flash, MemBuffers, MemDevice};

const BLOCK: u32 = 4096;

struct Row {
    resume_every: u32,
    at_half: u64,
    max: u64,
    min: u64,
    cuts: u32,
    extra_served: u64,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("resume: {e}");
        std::process::exit(1);
    }
}

/// One cut after `cut` writes: (blocks fetched again, blocks served in all).
fn one_cut(
    bufs: &mut MemBuffers,
    img: &[u8],
    resume_every: u32,
    cut: u64,
) -> Result<(u64, u64), String> {
    let mut cloud = mem::cloud_with_job(img)?;
    let config = mem::config(BLOCK, 32, resume_every);
    let (before, flash, served1) = {
        let mut dev = MemDevice::boot(bufs, config, Flash::default())?;
        dev.write_log = Some(Vec::new());
        dev.cut_after_writes = Some(cut);
        let served = mem::pump(&mut dev, &mut cloud, |_| false)?;
        if dev.powered {
            return Err(format!(
                "no power cut after {cut} writes ({} done)",
                dev.writes
            ));
        }
        let before: BTreeSet<u32> = dev
            .write_log
            .take()
            .unwrap_or_default()
            .iter()
            .map(|o| o / BLOCK)
            .collect();
        (before, dev.into_flash(), served)
    };
    let mut dev = MemDevice::boot(bufs, config, flash)?;
    dev.write_log = Some(Vec::new());
    let served2 = mem::pump(&mut dev, &mut cloud, |d| d.ready)?;
    if !dev.ready || dev.flash.slot != img {
        return Err(format!(
            "cut after {cut}: the update did not complete ({:?})",
            dev.failed
        ));
    }
    let again = dev
        .write_log
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|o| before.contains(&(*o / BLOCK)))
        .count() as u64;
    Ok((again, served1 + served2))
}

fn run() -> Result<(), String> {
    let img = image::image(IMAGE_LEN, 5);
    let blocks = IMAGE_LEN as u64 / u64::from(BLOCK);
    let half = blocks / 2;
    let mut bufs = MemBuffers::new(BLOCK, IMAGE_LEN);
    let mut rows = Vec::new();
    for resume_every in [1u32, 4, 8, 32] {
        let mut row = Row {
            resume_every,
            at_half: 0,
            max: 0,
            min: u64::MAX,
            cuts: 0,
            extra_served: 0,
        };
        for d in 0..u64::from(resume_every) {
            let (again, served) = one_cut(&mut bufs, &img, resume_every, half + d)?;
            if d == 0 {
                row.at_half = again;
            }
            row.max = row.max.max(again);
            row.min = row.min.min(again);
            row.extra_served = row.extra_served.max(served.saturating_sub(blocks));
            row.cuts += 1;
        }
        eprintln!(
            "resume_every {resume_every}: at 50 % {} again, {}..{} over {} cut points",
            row.at_half, row.min, row.max, row.cuts
        );
        rows.push(row);
    }

    println!("### Resume after a power cut at 50 % (4 MiB, 4 KB blocks, 32 per request)");
    println!();
    println!(
        "| resume_every (journal granularity) | fetched again, cut at block 512 | fetched again, cuts at 512..512+resume_every (min..max) | beyond granularity | most blocks delivered beyond 1,024 (whole update) |"
    );
    println!("|---:|---:|---|---:|---:|");
    for r in &rows {
        println!(
            "| {}{} | {} | {}..{} ({} cuts) | **{}** | {} |",
            r.resume_every,
            if r.resume_every == 8 {
                " (default)"
            } else {
                ""
            },
            r.at_half,
            r.min,
            r.max,
            r.cuts,
            r.max.saturating_sub(u64::from(r.resume_every)),
            r.extra_served
        );
    }
    println!();
    println!(
        "Blocks delivered: data messages the device received over the whole update (before \
         and after the cut); blocks the AWS side had sent but the device had not received when \
         the power went are lost with the power, not counted."
    );
    let worst = rows
        .iter()
        .map(|r| r.max.saturating_sub(u64::from(r.resume_every)))
        .max()
        .unwrap_or(0);
    if let Some(d) = rows.iter().find(|r| r.resume_every == 8) {
        println!(
            "SUMMARY|Resume after a cut at 50 %, blocks fetched again (resume_every 8)|{} at 50 %, max {}; {} beyond granularity (all settings)|0 beyond resume_every|{}",
            d.at_half,
            d.max,
            worst,
            if worst == 0 { "met" } else { "not met" }
        );
    }
    Ok(())
}
