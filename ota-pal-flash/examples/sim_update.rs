//! A whole update on the simulated device (files in a temporary directory), driving the
//! platform with the actions `ota-core`'s agent emits, through a power loss, a reset into the
//! new image on trial, and the commit.
//!
//! Run with `cargo run -p ota-pal-flash --example sim_update`.

use ota_core::{Action, FileInfo, ImageState, Input, PlatformImageState};
use ota_pal_flash::Outcome;
use ota_pal_flash::host::{HostPlatform, SimDevice, SimDeviceConfig};

const BLOCK: usize = 4096;

/// What a runtime does with one action: execute it, hand the answer to the agent (here: print
/// it), and reset when asked. Returns `true` for a reset.
fn run(p: &mut HostPlatform, action: Action<'_>) -> bool {
    let mut read_buf = vec![0u8; BLOCK];
    let outcome = p.execute(&action, &mut read_buf);
    let shown = match outcome.input() {
        Some(Input::FileData(Ok(d))) => format!("Input::FileData({} bytes)", d.len()),
        Some(i) => format!("Input::{i:?}"),
        None => format!("{outcome:?}"),
    };
    let name: String = format!("{action:?}").chars().take(40).collect();
    println!("  {name:<40} -> {shown}");
    match outcome {
        Outcome::Reset => true,
        Outcome::Done(Err(e)) | Outcome::Silent(Err(e)) | Outcome::Data(Err(e)) => {
            panic!("{name}: {e}")
        }
        _ => false,
    }
}

fn create(size: usize, resume: bool) -> Action<'static> {
    Action::FileCreate(FileInfo {
        index: 0,
        file_type: 0,
        is_firmware: true,
        size: size as u32,
        path: "",
        resume,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("ota-pal-flash-example-{}", std::process::id()));
    let dev = SimDevice::open(&dir, SimDeviceConfig::new(256 * 1024, 16 * 1024))?;
    let old: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let new: Vec<u8> = (0..120_000u32).map(|i| (i % 241) as u8 ^ 0x5A).collect();
    dev.install_factory(&old).map_err(|e| e.to_string())?;
    let blocks = new.len().div_ceil(BLOCK);

    println!("power on (factory):");
    let (booted, mut p) = dev.power_on().map_err(|e| e.to_string())?;
    let mut record = [0u8; 256];
    let info = p.boot_info(&mut record).map_err(|e| e.to_string())?;
    println!(
        "  booted slot {} -> Input::Start({:?}, resume: {:?})",
        booted.slot, info.platform_state, info.resume
    );
    run(&mut p, create(new.len(), false));
    run(&mut p, Action::PersistResume(b"job-1: nothing stored"));
    for b in 0..blocks / 2 {
        let s = b * BLOCK;
        run(
            &mut p,
            Action::FileWrite {
                offset: s as u32,
                data: &new[s..(s + BLOCK).min(new.len())],
            },
        );
    }
    run(&mut p, Action::PersistResume(b"job-1: first half stored"));
    println!("power lost");
    drop(p);

    println!("power on:");
    let (_, mut p) = dev.power_on().map_err(|e| e.to_string())?;
    let info = p.boot_info(&mut record).map_err(|e| e.to_string())?;
    println!(
        "  resume record: {:?}",
        info.resume.map(String::from_utf8_lossy)
    );
    run(&mut p, create(new.len(), true));
    for b in blocks / 2..blocks {
        let s = b * BLOCK;
        run(
            &mut p,
            Action::FileWrite {
                offset: s as u32,
                data: &new[s..(s + BLOCK).min(new.len())],
            },
        );
    }
    run(
        &mut p,
        Action::FileRead {
            offset: 0,
            len: BLOCK as u32,
        },
    );
    run(&mut p, Action::ClearResume);
    if run(&mut p, Action::Activate) {
        println!("reset");
    }
    drop(p);

    println!("power on (trial):");
    let (booted, mut p) = dev.power_on().map_err(|e| e.to_string())?;
    let info = p.boot_info(&mut record).map_err(|e| e.to_string())?;
    println!(
        "  booted slot {} (trial boot {}): {:?}",
        booted.slot, booted.trial_boots, info.platform_state
    );
    assert_eq!(info.platform_state, PlatformImageState::PendingCommit);
    run(&mut p, Action::SetImageState(ImageState::Accepted));
    drop(p);

    let (booted, mut p) = dev.power_on().map_err(|e| e.to_string())?;
    let info = p.boot_info(&mut record).map_err(|e| e.to_string())?;
    println!(
        "power on: slot {} {:?}, update committed",
        booted.slot, info.platform_state
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
