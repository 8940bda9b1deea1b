//! Power-cut sweeps at the platform level: a complete update (create, shuffled block writes with
//! resume records every few blocks, read-back, activate, reboot, commit), cut at every flash
//! operation in turn; after each cut the device reboots from flash alone and the harness checks
//! that it boots the old or the new image (never a partial one), that the journal holds the old
//! or the new record (never garbage), that the update then completes, and that no block a
//! loaded record claimed is written again. The same over revert (self-test fails) and over
//! commit.

mod support;

use ota_pal_flash::mock::{Keep, MockConfig};
use support::{Mode, Script, SimRig, image, sweep, sweep_bytes};

const KEEPS: [Keep; 2] = [Keep::Nothing, Keep::Half];

fn mock() -> MockConfig {
    MockConfig {
        max_programs: 2,
        ..MockConfig::default()
    }
}

fn script(mode: Mode, block: usize, new_len: usize) -> Script {
    Script {
        old: image(5000, 1),
        new: image(new_len, 2),
        block,
        persist_every: 3,
        seed: 7,
        mode,
        stop_after_activate: false,
    }
}

#[test]
fn sweep_update_sim_bootloader() {
    let s = script(Mode::Accept, 512, 6000);
    let r = sweep(
        || {
            let rig = SimRig::<4, 1024, 1>::new(16 * 1024, 4 * 1024, mock());
            rig.install(&s.old);
            rig
        },
        |_, _| {},
        &s,
        &KEEPS,
        1,
    );
    assert!(r.reference.committed_new);
    r.print("update (sim A/B, W=4, 1 KiB sectors, 512 B blocks)");
    assert!(r.points > 100);
}

#[test]
fn sweep_update_unaligned_blocks_wide_words() {
    // 500-byte blocks on 16-byte words: every block edge is a partial word.
    let s = Script {
        persist_every: 2,
        ..script(Mode::Accept, 500, 4100)
    };
    let r = sweep(
        || {
            let mock = MockConfig {
                max_programs: 3,
                ..MockConfig::default()
            };
            let rig = SimRig::<16, 2048, 4>::new(16 * 1024, 8 * 1024, mock);
            rig.install(&s.old);
            rig
        },
        |_, _| {},
        &s,
        &KEEPS,
        2,
    );
    r.print("update (sim A/B, W=16, R=4, 2 KiB sectors, 500 B blocks)");
}

#[test]
fn sweep_revert_sim_bootloader() {
    let s = script(Mode::Reject, 1024, 6000);
    let r = sweep(
        || {
            let rig = SimRig::<4, 1024, 1>::new(16 * 1024, 4 * 1024, mock());
            rig.install(&s.old);
            rig
        },
        |_, _| {},
        &s,
        &KEEPS,
        1,
    );
    assert!(r.reference.saw_new_on_trial);
    r.print("revert (sim A/B)");
}

#[test]
fn sweep_commit_sim_bootloader() {
    let s = script(Mode::Accept, 1024, 6000);
    let to_trial = Script {
        stop_after_activate: true,
        ..script(Mode::Accept, 1024, 6000)
    };
    let r = sweep(
        || {
            let rig = SimRig::<4, 1024, 1>::new(16 * 1024, 4 * 1024, mock());
            rig.install(&s.old);
            rig
        },
        |rig, truth| to_trial.run(rig, truth, 10),
        &s,
        &KEEPS,
        1,
    );
    r.print("commit (sim A/B)");
}

#[cfg(feature = "embassy-boot")]
mod embassy {
    use super::*;
    use support::embassy::EmbassyRig;

    fn rig(s: &Script) -> EmbassyRig<4, 1024> {
        let rig = EmbassyRig::<4, 1024>::new(8 * 1024, 4 * 1024, mock());
        rig.install(&s.old);
        rig
    }

    #[test]
    fn sweep_update_embassy_boot() {
        let s = script(Mode::Accept, 1024, 6000);
        let r = sweep(|| rig(&s), |_, _| {}, &s, &KEEPS, 1);
        assert!(r.reference.committed_new);
        r.print("update (embassy-boot swap)");
    }

    #[test]
    fn sweep_revert_embassy_boot() {
        let s = script(Mode::Reject, 1024, 6000);
        let r = sweep(|| rig(&s), |_, _| {}, &s, &KEEPS, 1);
        r.print("revert (embassy-boot swap)");
    }

    #[test]
    fn sweep_commit_embassy_boot() {
        let s = script(Mode::Accept, 1024, 6000);
        let to_trial = Script {
            stop_after_activate: true,
            ..script(Mode::Accept, 1024, 6000)
        };
        let r = sweep(
            || rig(&s),
            |rig, truth| to_trial.run(rig, truth, 10),
            &s,
            &KEEPS,
            1,
        );
        r.print("commit (embassy-boot swap)");
    }
}

#[test]
fn sweep_update_every_37th_byte() {
    // Cuts inside words, erases and journal items, at offsets the op sweep does not reach.
    let s = Script {
        persist_every: 2,
        ..script(Mode::Accept, 512, 3000)
    };
    let r = sweep_bytes(
        || {
            let rig = SimRig::<4, 1024, 1>::new(8 * 1024, 4 * 1024, mock());
            rig.install(&s.old);
            rig
        },
        |_, _| {},
        &s,
        37,
        1,
    );
    r.print("update, byte-level cuts every 37 bytes (sim A/B)");
    assert!(r.points > 300);
}
