//! The simulated device on files: updates, resets and power cycles from the files alone.

mod support;

use std::path::PathBuf;

use ota_core::{Action, FileInfo, ImageState, PlatformImageState};
use ota_pal_flash::Outcome;
use ota_pal_flash::boot::otadata::{self, OtaState};
use ota_pal_flash::boot::sim::SimBootloader;
use ota_pal_flash::host::{FileFlash, HostPlatform, SimDevice, SimDeviceConfig};
use support::image;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ota-pal-flash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn ok(p: &mut HostPlatform, a: Action<'_>) {
    let mut buf = [0u8; 64];
    match p.execute(&a, &mut buf) {
        Outcome::Done(Ok(())) | Outcome::Silent(Ok(())) => {}
        o => panic!("{a:?}: {o:?}"),
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

fn slot_holds(dev: &SimDevice, slot: u8, img: &[u8]) -> bool {
    let mut buf = vec![0u8; img.len()];
    dev.read_slot(slot, 0, &mut buf).unwrap();
    buf == img
}

/// Downloads `img` (4 KiB blocks), with a power loss halfway, then activates.
fn download(dev: &SimDevice, img: &[u8]) {
    let blocks = img.len().div_ceil(4096);
    {
        let (_, mut p) = dev.power_on().unwrap();
        ok(&mut p, create(img.len(), false));
        for b in 0..blocks / 2 {
            let s = b * 4096;
            ok(
                &mut p,
                Action::FileWrite {
                    offset: s as u32,
                    data: &img[s..(s + 4096).min(img.len())],
                },
            );
        }
        ok(&mut p, Action::PersistResume(b"half"));
        // One more block after the record, then the power fails.
        let s = (blocks / 2) * 4096;
        ok(
            &mut p,
            Action::FileWrite {
                offset: s as u32,
                data: &img[s..(s + 4096).min(img.len())],
            },
        );
    }
    let (booted, mut p) = dev.power_on().unwrap();
    assert_eq!(booted.trial_boots, 0);
    let mut rec = [0u8; 64];
    let info = p.boot_info(&mut rec).unwrap();
    assert_eq!(info.resume, Some(&b"half"[..]));
    assert_eq!(info.platform_state, PlatformImageState::Valid);
    ok(&mut p, create(img.len(), true));
    for b in blocks / 2..blocks {
        let s = b * 4096;
        ok(
            &mut p,
            Action::FileWrite {
                offset: s as u32,
                data: &img[s..(s + 4096).min(img.len())],
            },
        );
    }
    let mut back = vec![0u8; img.len()];
    p.read_file(0, &mut back).unwrap();
    assert!(back == img);
    ok(&mut p, Action::ClearResume);
    let mut buf = [0u8; 8];
    assert_eq!(p.execute(&Action::Activate, &mut buf), Outcome::Reset);
}

#[test]
fn update_commit_then_revert_on_files() {
    let dir = temp_dir("update");
    let dev = SimDevice::open(&dir, SimDeviceConfig::new(64 * 1024, 16 * 1024)).unwrap();
    let v1 = image(40_000, 1);
    let v2 = image(50_001, 2);
    let v3 = image(30_000, 3);
    dev.install_factory(&v1).unwrap();

    let (booted, mut p) = dev.power_on().unwrap();
    assert_eq!((booted.slot, booted.state), (0, OtaState::Undefined));
    let mut rec = [0u8; 64];
    let info = p.boot_info(&mut rec).unwrap();
    assert_eq!(
        (info.platform_state, info.resume),
        (PlatformImageState::Valid, None)
    );
    drop(p);

    // v2: download with a power loss, activate, trial boot, commit.
    download(&dev, &v2);
    let (booted, mut p) = dev.power_on().unwrap();
    assert_eq!(
        (booted.slot, booted.state, booted.trial_boots),
        (1, OtaState::PendingVerify, 1)
    );
    assert!(slot_holds(&dev, 1, &v2) && slot_holds(&dev, 0, &v1));
    assert_eq!(
        p.boot_info(&mut rec).unwrap().platform_state,
        PlatformImageState::PendingCommit
    );
    // On trial, the other slot (v1, the fallback) is protected.
    let mut buf = [0u8; 8];
    assert!(matches!(
        p.execute(&create(10, false), &mut buf),
        Outcome::Done(Err(_))
    ));
    ok(&mut p, Action::SetImageState(ImageState::Accepted));
    assert_eq!(
        p.boot_info(&mut rec).unwrap().platform_state,
        PlatformImageState::Valid
    );
    drop(p);
    let (booted, _p) = dev.power_on().unwrap();
    assert_eq!((booted.slot, booted.reverted), (1, false));
    drop(_p);

    // v3: activate, trial boot, no commit: the next power on reverts to v2.
    download(&dev, &v3);
    let (booted, p) = dev.power_on().unwrap();
    assert_eq!((booted.slot, booted.state), (0, OtaState::PendingVerify));
    drop(p);
    let (booted, mut p) = dev.power_on().unwrap();
    assert_eq!((booted.slot, booted.reverted), (1, true));
    assert_eq!(
        p.boot_info(&mut rec).unwrap().platform_state,
        PlatformImageState::Valid
    );
    assert!(slot_holds(&dev, 1, &v2));
    drop(p);

    // The otadata file is in the ESP-IDF format.
    let mut ota = FileFlash::<4, 4096>::open(dir.join("otadata.bin"), 0x2000).unwrap();
    let entries = otadata::read_entries(&mut ota).unwrap();
    let active = otadata::active(&entries).unwrap();
    assert_eq!(entries[active].slot(2), 1);
    assert_eq!(entries[active].state(), Some(OtaState::Valid));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rejected_image_reverts_at_the_reset() {
    let dir = temp_dir("reject");
    let config = SimDeviceConfig::new(32 * 1024, 8 * 1024)
        .with_bootloader(SimBootloader { max_trial_boots: 3 });
    let dev = SimDevice::open(&dir, config).unwrap();
    let v1 = image(20_000, 4);
    let v2 = image(20_000, 5);
    dev.install_factory(&v1).unwrap();
    download(&dev, &v2);
    // Three trial boots are allowed before the bootloader reverts on its own.
    for n in 1..=3 {
        let (booted, p) = dev.power_on().unwrap();
        assert_eq!((booted.slot, booted.trial_boots), (1, n));
        drop(p);
    }
    let (booted, p) = dev.power_on().unwrap();
    assert_eq!((booted.slot, booted.reverted), (0, true));
    drop(p);

    // Again, and this time the self-test rejects it.
    download(&dev, &v2);
    let (booted, mut p) = dev.power_on().unwrap();
    assert_eq!(booted.slot, 1);
    ok(&mut p, Action::SetImageState(ImageState::Rejected));
    let mut rec = [0u8; 8];
    assert_eq!(
        p.boot_info(&mut rec).unwrap().platform_state,
        PlatformImageState::Invalid
    );
    let mut buf = [0u8; 8];
    assert_eq!(p.execute(&Action::Reset, &mut buf), Outcome::Reset);
    drop(p);
    let (booted, _) = dev.power_on().unwrap();
    assert_eq!(booted.slot, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
