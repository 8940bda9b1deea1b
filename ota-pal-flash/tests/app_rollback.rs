//! Application-level rollback (`boot::app_rollback`, what `EspIdfBoot::with_app_rollback` runs
//! on an ESP32-C3) against a model of the ESP-IDF 2nd stage bootloader **without** rollback
//! support (espflash's bundled one): it boots the slot of the bootable otadata entry with the
//! highest sequence number, or `ota_0` when none is bootable, and never writes otadata.
//!
//! Each scenario is a whole update seen from otadata: boot the old image, activate the new one,
//! reset, first boot of the new image (boot check: on trial), then the image crashes / commits /
//! rejects, and the device boots until it settles. The sweeps cut the power at every otadata
//! flash operation (erase, entry, CRC word; keeping none, half or all but the last byte of it),
//! after every few bytes, and twice (a second cut during the recovery); after each cut the device
//! reboots from otadata alone. At every boot the harness checks:
//!
//! * otadata always has a bootable entry (or is still the untouched empty one): the bootloader
//!   never falls back blindly;
//! * the new image runs only on trial or after a commit that completed;
//! * a new image that was on trial and not committed is rolled back at its next boot, and the
//!   boot after a rollback starts the old image;
//! * the device settles within a few boots, and a settled boot writes nothing;
//! * the end state: the old image after a crash, a rejection or a cancelled activation; the new
//!   one after a completed commit (a cut during the commit rolls the update back).

use ota_core::{Action, FileInfo, ImageState, PalError, PlatformImageState};
use ota_pal_flash::boot::BootControl;
use ota_pal_flash::boot::app_rollback::{AppRollbackBoot, BootCheck};
use ota_pal_flash::boot::otadata::{self, Entry, OtaState};
use ota_pal_flash::mock::{Keep, MockFlash};
use ota_pal_flash::{Config, Outcome, Platform};

type Otadata = MockFlash<4, 4096>;

const OLD: u8 = 0;
const NEW: u8 = 1;
const SLOTS: u8 = 2;
const KEEPS: [Keep; 3] = [Keep::Nothing, Keep::Half, Keep::AllButLast];
const MAX_BOOTS: usize = 8;

/// What the new image does on its trial boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Crashes (or loses power) before it commits.
    Crash,
    /// Passes its self-test and commits.
    Commit,
    /// Fails its self-test and rejects itself.
    Reject,
    /// The activation is cancelled before the reset.
    Cancel,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario::Crash,
    Scenario::Commit,
    Scenario::Reject,
    Scenario::Cancel,
];

/// The bootloader without rollback support: `(slot, entries it booted from)`.
fn idf_boot(f: &mut Otadata) -> (u8, [Entry; 2]) {
    let entries = otadata::read_entries(f).expect("otadata readable after a power cycle");
    let slot = otadata::active(&entries).map_or(0, |i| entries[i].slot(SLOTS));
    (slot, entries)
}

/// The same bootloader built with `CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE` (ESP-IDF's
/// `bootloader_utility_get_selected_boot_partition`): every `PENDING_VERIFY` entry becomes
/// `ABORTED` in place, then `NEW` in the selected entry becomes `PENDING_VERIFY` in place.
fn idf_boot_with_rollback(f: &mut Otadata) -> u8 {
    let mut entries = otadata::read_entries(f).unwrap();
    for (i, e) in entries.iter_mut().enumerate() {
        if e.state() == Some(OtaState::PendingVerify) {
            e.state = OtaState::Aborted.to_u32();
            otadata::write_entry(f, i, e).unwrap();
        }
    }
    let Some(i) = otadata::active(&entries) else {
        return 0;
    };
    if entries[i].state() == Some(OtaState::New) {
        entries[i].state = OtaState::PendingVerify.to_u32();
        otadata::write_entry(f, i, &entries[i]).unwrap();
    }
    entries[i].slot(SLOTS)
}

/// What one run observed.
#[derive(Debug, Default, Clone)]
struct Run {
    /// `(booted slot, boot check)` per boot.
    boots: Vec<(u8, BootCheck)>,
    /// A commit returned `Ok` (its entry is durable).
    committed: bool,
    /// The run ended on a settled boot (not cut).
    settled: Option<u8>,
}

/// Checks the rules of the module docs at one boot.
struct Checker {
    /// otadata started empty (a freshly flashed device): no bootable entry is allowed until
    /// the first write lands.
    started_empty: bool,
    /// The last boot was the new image on trial and nothing committed or rejected it since.
    unconfirmed: bool,
    /// The last boot check rolled back and its writes are done.
    rolled_back: bool,
    /// A commit was started (a cut during its CRC word may still leave it complete).
    commit_started: bool,
}

impl Checker {
    fn at_boot(&mut self, entries: &[Entry; 2], slot: u8, context: &str) {
        let active = otadata::active(entries);
        if active.is_none() {
            assert!(
                self.started_empty && entries.iter().all(|e| !e.is_valid()),
                "{context}: no bootable entry in {entries:?}"
            );
        }
        assert!(slot == OLD || slot == NEW, "{context}: slot {slot}");
        if self.rolled_back {
            assert_eq!(slot, OLD, "{context}: the boot after a rollback");
        }
        if slot == NEW {
            let e = entries[active.expect("the new image is selected")];
            let state = e.state();
            assert!(
                matches!(
                    state,
                    Some(OtaState::New | OtaState::PendingVerify | OtaState::Valid)
                ),
                "{context}: new image in {state:?}"
            );
            if state == Some(OtaState::Valid) {
                assert!(
                    self.commit_started,
                    "{context}: new image valid without a commit"
                );
            }
        }
    }

    fn after_check(&mut self, slot: u8, check: BootCheck, context: &str) {
        if self.unconfirmed && slot == NEW {
            assert_eq!(
                check,
                BootCheck::RolledBack,
                "{context}: an unconfirmed trial boots again"
            );
        }
        if slot == NEW {
            assert!(
                matches!(check, BootCheck::Trial | BootCheck::RolledBack)
                    || (check == BootCheck::Confirmed && self.commit_started),
                "{context}: new image booted with {check:?}"
            );
        }
        self.rolled_back = check == BootCheck::RolledBack;
        self.unconfirmed = slot == NEW && check == BootCheck::Trial;
    }
}

/// Boots until the device settles (at most [`MAX_BOOTS`]). `activate`: the old image activates
/// the new one once (the first power-on of a scenario; a recovery run after a cut does not
/// download again). Returns `Err` with what it saw when the power was cut.
fn run(
    f: &mut Otadata,
    scenario: Scenario,
    mut activate: bool,
    checker: &mut Checker,
    context: &str,
) -> Result<Run, Run> {
    let mut out = Run::default();
    for _ in 0..MAX_BOOTS {
        let (slot, entries) = idf_boot(f);
        checker.at_boot(&entries, slot, context);
        let mut boot = AppRollbackBoot::new(&mut *f, SLOTS, Some(slot)).unwrap();
        let Ok(check) = boot.boot_check() else {
            return Err(out);
        };
        checker.after_check(slot, check, context);
        out.boots.push((slot, check));
        match check {
            BootCheck::RolledBack => {
                assert_eq!(
                    boot.platform_state(),
                    Ok(PlatformImageState::Invalid),
                    "{context}"
                );
            }
            BootCheck::Trial => {
                assert_eq!(
                    boot.platform_state(),
                    Ok(PlatformImageState::PendingCommit),
                    "{context}"
                );
                if scenario == Scenario::Commit {
                    checker.commit_started = true;
                }
                let r = match scenario {
                    Scenario::Commit => boot.commit(),
                    Scenario::Reject => boot.reject(),
                    Scenario::Crash | Scenario::Cancel => Ok(()),
                };
                if r.is_err() {
                    return Err(out);
                }
                match scenario {
                    Scenario::Commit => {
                        out.committed = true;
                        checker.unconfirmed = false;
                    }
                    Scenario::Reject => checker.unconfirmed = false,
                    Scenario::Crash | Scenario::Cancel => {}
                }
            }
            BootCheck::Confirmed | BootCheck::Recovered if activate => {
                assert_eq!(slot, OLD, "{context}");
                assert_eq!(boot.download_slot(), Ok(NEW), "{context}");
                activate = false;
                if boot.activate(0).is_err() {
                    return Err(out);
                }
                if scenario == Scenario::Cancel && boot.cancel_activation().is_err() {
                    return Err(out);
                }
            }
            _ => {
                // Settled: another boot writes nothing and starts the same image.
                let ops = f.ops();
                let (again, _) = idf_boot(f);
                let mut boot = AppRollbackBoot::new(&mut *f, SLOTS, Some(again)).unwrap();
                assert_eq!(boot.boot_check(), Ok(BootCheck::Confirmed), "{context}");
                assert_eq!((again, f.ops()), (slot, ops), "{context}: not settled");
                out.settled = Some(slot);
                return Ok(out);
            }
        }
    }
    panic!("{context}: not settled after {MAX_BOOTS} boots: {out:?}");
}

/// The slots a run may end on: the new image only after a commit, and surely after a commit
/// that returned `Ok`.
fn expected_ends(scenario: Scenario, commit_ok: bool, commit_started: bool) -> &'static [u8] {
    match scenario {
        Scenario::Commit if commit_ok => &[NEW],
        Scenario::Commit if commit_started => &[OLD, NEW],
        _ => &[OLD],
    }
}

/// otadata before the scenario: `true`, freshly flashed (empty, `ota_0` boots); `false`, the
/// old image committed by an earlier update (`ota_0` `VALID`).
fn start(empty: bool) -> Otadata {
    let mut f = Otadata::new(8192);
    if !empty {
        otadata::write_entry(&mut f, 1, &Entry::new(5, OtaState::Valid)).unwrap();
    }
    f
}

fn checker(empty: bool) -> Checker {
    Checker {
        started_empty: empty,
        unconfirmed: false,
        rolled_back: false,
        commit_started: false,
    }
}

/// One cut run: the scenario cut by `cut`, then the recovery (cut again by `second`, if any),
/// then a clean recovery. Returns the end slot.
fn cut_run(
    scenario: Scenario,
    empty: bool,
    cut: impl FnOnce(&mut Otadata),
    second: Option<(u64, Keep)>,
    context: &str,
) -> u8 {
    let mut f = start(empty);
    let mut ck = checker(empty);
    cut(&mut f);
    let (end, commit_ok) = match run(&mut f, scenario, true, &mut ck, context) {
        Ok(r) => {
            // The cut point lies past the scenario's last write.
            f.cancel_cut();
            (r.settled, r.committed)
        }
        Err(_) => {
            assert!(f.is_off(), "{context}: failed without a power cut");
            f.power_cycle();
            if let Some((op, keep)) = second {
                f.cut_at_op(op, keep);
            }
            match run(&mut f, scenario, false, &mut ck, context) {
                Ok(r) => {
                    f.cancel_cut();
                    (r.settled, r.committed)
                }
                Err(_) => {
                    assert!(f.is_off(), "{context}: recovery failed without a cut");
                    f.power_cycle();
                    let r = run(&mut f, scenario, false, &mut ck, context)
                        .unwrap_or_else(|r| panic!("{context}: clean run failed: {r:?}"));
                    (r.settled, r.committed)
                }
            }
        }
    };
    let end = end.unwrap_or_else(|| panic!("{context}: not settled"));
    let ends = expected_ends(scenario, commit_ok, ck.commit_started);
    assert!(ends.contains(&end), "{context}: ended on slot {end}");
    end
}

fn reference(scenario: Scenario, empty: bool) -> (Run, u64, u64) {
    let mut f = start(empty);
    let (ops, bytes) = (f.ops(), f.bytes_touched());
    let r = run(&mut f, scenario, true, &mut checker(empty), "reference").unwrap();
    (r, f.ops() - ops, f.bytes_touched() - bytes)
}

#[test]
fn reference_runs() {
    use BootCheck::*;
    for empty in [true, false] {
        let (r, ops, _) = reference(Scenario::Crash, empty);
        assert_eq!(
            r.boots,
            [
                (OLD, Confirmed),
                (NEW, Trial),
                (NEW, RolledBack),
                (OLD, Confirmed)
            ]
        );
        // activate, pending-verify, select old + mark aborted: 4 entries of 3 operations.
        assert_eq!(ops, 12);
        let (r, ..) = reference(Scenario::Commit, empty);
        assert_eq!(r.boots, [(OLD, Confirmed), (NEW, Trial), (NEW, Confirmed)]);
        assert!(r.committed);
        let (r, ..) = reference(Scenario::Reject, empty);
        assert_eq!(r.boots, [(OLD, Confirmed), (NEW, Trial), (OLD, Confirmed)]);
        let (r, ..) = reference(Scenario::Cancel, empty);
        assert_eq!(r.boots, [(OLD, Confirmed), (OLD, Confirmed)]);
    }
}

#[test]
fn sweep_cut_at_every_operation() {
    let mut points = 0;
    for empty in [true, false] {
        for scenario in SCENARIOS {
            let (_, ops, _) = reference(scenario, empty);
            let mut ends = [0usize; 2];
            for op in 0..=ops {
                for keep in KEEPS {
                    let context = format!("{scenario:?} empty={empty} cut at op {op} ({keep:?})");
                    let end = cut_run(scenario, empty, |f| f.cut_at_op(op, keep), None, &context);
                    ends[end as usize] += 1;
                    points += 1;
                }
            }
            println!(
                "{scenario:?} (empty otadata: {empty}): {ops} operations, ends old/new {ends:?}"
            );
            if scenario == Scenario::Commit {
                assert!(
                    ends[0] > 0 && ends[1] > 0,
                    "a cut before / after the commit"
                );
            } else {
                assert_eq!(ends[1], 0);
            }
        }
    }
    println!("{points} cut points");
    assert!(points > 250);
}

#[test]
fn sweep_cut_after_every_few_bytes() {
    let mut points = 0;
    for scenario in SCENARIOS {
        let (_, _, bytes) = reference(scenario, false);
        for n in (0..=bytes).step_by(7) {
            let context = format!("{scenario:?} cut after {n} bytes");
            cut_run(scenario, false, |f| f.cut_after_bytes(n), None, &context);
            points += 1;
        }
    }
    println!("{points} byte-level cut points");
    assert!(points > 5000);
}

#[test]
fn sweep_two_cuts() {
    let mut points = 0;
    for scenario in SCENARIOS {
        let (_, ops, _) = reference(scenario, false);
        for op in 0..ops {
            for second in 0..ops {
                for keep in [Keep::Nothing, Keep::AllButLast] {
                    let context =
                        format!("{scenario:?} cut at op {op}, then at {second} ({keep:?})");
                    cut_run(
                        scenario,
                        false,
                        |f| f.cut_at_op(op, Keep::Half),
                        Some((second, keep)),
                        &context,
                    );
                    points += 1;
                }
            }
        }
    }
    println!("{points} double-cut points");
    assert!(points > 500);
}

#[test]
fn trial_image_that_never_confirms_is_rolled_back_at_each_attempt() {
    // Three updates in a row that all crash on trial: each is rolled back on its next boot,
    // and the sequence numbers keep growing in alternate sectors.
    let mut f = start(false);
    let mut seqs = Vec::new();
    for attempt in 0..3 {
        let mut ck = checker(false);
        let r = run(&mut f, Scenario::Crash, true, &mut ck, "attempt").unwrap();
        assert_eq!(r.settled, Some(OLD), "attempt {attempt}");
        let entries = otadata::read_entries(&mut f).unwrap();
        let i = otadata::active(&entries).unwrap();
        assert_eq!(entries[i].state(), Some(OtaState::Valid));
        assert_eq!(entries[1 - i].state(), Some(OtaState::Aborted));
        seqs.push(entries[i].seq);
    }
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
}

#[test]
fn under_a_rollback_enabled_bootloader_the_trial_is_left_to_it() {
    // Misuse: app rollback with a bootloader that has rollback support. The bootloader turns
    // our NEW into PENDING_VERIFY; the boot check recognises it and writes nothing, so a
    // healthy image is not rolled back, and the bootloader reverts an unconfirmed one.
    for commit in [true, false] {
        let mut f = start(false);
        let slot = idf_boot_with_rollback(&mut f);
        let mut b = AppRollbackBoot::new(&mut f, SLOTS, Some(slot)).unwrap();
        assert_eq!(b.boot_check(), Ok(BootCheck::Confirmed));
        b.activate(0).unwrap();
        let slot = idf_boot_with_rollback(&mut f);
        assert_eq!(slot, NEW);
        let ops = f.ops();
        let mut b = AppRollbackBoot::new(&mut f, SLOTS, Some(slot)).unwrap();
        assert_eq!(b.boot_check(), Ok(BootCheck::Trial));
        assert_eq!(b.platform_state(), Ok(PlatformImageState::PendingCommit));
        if commit {
            b.commit().unwrap();
        }
        if !commit {
            assert_eq!(f.ops(), ops, "the boot check wrote nothing");
        }
        let slot = idf_boot_with_rollback(&mut f);
        assert_eq!(slot, if commit { NEW } else { OLD });
        let mut b = AppRollbackBoot::new(&mut f, SLOTS, Some(slot)).unwrap();
        assert_eq!(b.boot_check(), Ok(BootCheck::Confirmed));
    }
}

#[test]
fn bootloader_fallback_is_recovered_without_a_reset() {
    // The activated image does not load (bad image header): the bootloader starts ota_0.
    let mut f = start(false);
    let mut b = AppRollbackBoot::new(&mut f, SLOTS, Some(OLD)).unwrap();
    b.boot_check().unwrap();
    b.activate(0).unwrap();
    let mut b = AppRollbackBoot::new(&mut f, SLOTS, Some(OLD)).unwrap();
    let c = b.boot_check().unwrap();
    assert_eq!(c, BootCheck::Recovered);
    assert!(!c.reset_required());
    assert_eq!(b.platform_state(), Ok(PlatformImageState::Valid));
    let (slot, entries) = idf_boot(&mut f);
    assert_eq!(slot, OLD);
    assert_eq!(
        entries.iter().filter(|e| e.is_bootable()).count(),
        1,
        "{entries:?}"
    );
}

#[test]
fn platform_drives_app_rollback() {
    // The platform's image states map onto the app-rollback boot control.
    let mut otadata = start(false);
    let mut b = AppRollbackBoot::new(&mut otadata, SLOTS, Some(OLD)).unwrap();
    b.boot_check().unwrap();
    let mut p: Platform<_, _, _> = Platform::new(
        MockFlash::<4, 4096>::new(16 * 1024),
        MockFlash::<4, 4096>::new(8 * 1024),
        b,
        Config::new(),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let create = Action::FileCreate(FileInfo {
        index: 0,
        file_type: 0,
        is_firmware: true,
        size: 64,
        path: "",
        resume: false,
    });
    assert_eq!(p.execute(&create, &mut buf), Outcome::Done(Ok(())));
    let write = Action::FileWrite {
        offset: 0,
        data: &[7; 64],
    };
    assert_eq!(p.execute(&write, &mut buf), Outcome::Done(Ok(())));
    assert_eq!(p.execute(&Action::Activate, &mut buf), Outcome::Reset);

    for (accept, end) in [(false, OLD), (true, NEW)] {
        let mut f = otadata.clone();
        let (slot, _) = idf_boot(&mut f);
        assert_eq!(slot, NEW);
        let mut b = AppRollbackBoot::new(&mut f, SLOTS, Some(slot)).unwrap();
        assert_eq!(b.boot_check(), Ok(BootCheck::Trial));
        let mut p: Platform<_, _, _> = Platform::new(
            MockFlash::<4, 4096>::new(16 * 1024),
            MockFlash::<4, 4096>::new(8 * 1024),
            b,
            Config::new(),
        )
        .unwrap();
        let mut rec = [0u8; 64];
        assert_eq!(
            p.boot_info(&mut rec).unwrap().platform_state,
            PlatformImageState::PendingCommit
        );
        // On trial the download slot holds the image to go back to: no new download.
        assert_eq!(
            p.execute(&create, &mut buf),
            Outcome::Done(Err(PalError::BootState))
        );
        let state = if accept {
            ImageState::Accepted
        } else {
            ImageState::Rejected
        };
        assert_eq!(
            p.execute(&Action::SetImageState(state), &mut buf),
            Outcome::Done(Ok(()))
        );
        assert_eq!(idf_boot(&mut f).0, end);
    }
}
