//! Test rigs: one mock chip split into partitions, booted by the simulated A/B bootloader or by
//! embassy-boot's bootloader, and a scripted agent that drives the platform with the same
//! action sequences as `ota-core`.
#![allow(dead_code, unreachable_pub, clippy::type_complexity)]

use std::cell::RefCell;

use embedded_storage::nor_flash::NorFlash;
use ota_core::{Action, FileInfo, ImageState, PalError, PlatformImageState};
use ota_pal_flash::boot::sim::{SimBoot, SimBootloader};
use ota_pal_flash::mock::{Keep, MockConfig, MockFlash};
use ota_pal_flash::{BootControl, Config, Outcome, Partition, Platform};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub type Part<'a, const W: usize, const E: usize, const R: usize> =
    Partition<'a, MockFlash<W, E, R>>;

/// Deterministic pseudo-random bytes.
pub fn image(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.r#gen()).collect()
}

/// A device: a chip, its bootloader, and a platform over it.
pub trait Rig {
    type S<'a>: NorFlash
    where
        Self: 'a;
    type J<'a>: NorFlash
    where
        Self: 'a;
    type B<'a>: BootControl
    where
        Self: 'a;

    /// Runs the bootloader and builds the platform. `Err` when the power failed meanwhile.
    fn power_on(
        &self,
    ) -> Result<(Vec<u8>, Platform<Self::S<'_>, Self::J<'_>, Self::B<'_>>), PalError>;
    /// Bytes of the booted image area, `len` of them.
    fn running(&self, len: usize) -> Vec<u8>;
    fn is_off(&self) -> bool;
    fn power_cycle(&self);
    fn cut_at(&self, op: u64, keep: Keep);
    fn cut_after_bytes(&self, n: u64);
    fn ops(&self) -> u64;
    fn bytes_touched(&self) -> u64;
    fn max_programs_seen(&self) -> u8;
}

/// One chip: otadata (8 KiB) | slot 0 | slot 1 | journal.
pub struct SimRig<const W: usize, const E: usize, const R: usize> {
    pub chip: RefCell<MockFlash<W, E, R>>,
    pub slot_len: u32,
    pub journal_len: u32,
    pub booted: RefCell<u8>,
    pub config: Config,
    pub bootloader: SimBootloader,
}

impl<const W: usize, const E: usize, const R: usize> SimRig<W, E, R> {
    pub fn new(slot_len: u32, journal_len: u32, mock: MockConfig) -> Self {
        let total = 8192 + 2 * slot_len + journal_len;
        Self {
            chip: RefCell::new(MockFlash::new(total).with_config(mock)),
            slot_len,
            journal_len,
            booted: RefCell::new(0),
            config: Config::new(),
            bootloader: SimBootloader::default(),
        }
    }

    pub fn slot_offset(&self, slot: u8) -> u32 {
        8192 + slot as u32 * self.slot_len
    }

    /// Factory install of `img` into slot 0.
    pub fn install(&self, img: &[u8]) {
        let at = self.slot_offset(0) as usize;
        let mut chip = self.chip.borrow_mut();
        chip.as_bytes_mut()[at..at + img.len()].copy_from_slice(img);
        chip.forget_programs();
    }
}

impl<const W: usize, const E: usize, const R: usize> Rig for SimRig<W, E, R> {
    type S<'a> = Part<'a, W, E, R>;
    type J<'a> = Part<'a, W, E, R>;
    type B<'a> = SimBoot<Part<'a, W, E, R>>;

    fn power_on(
        &self,
    ) -> Result<(Vec<u8>, Platform<Self::S<'_>, Self::J<'_>, Self::B<'_>>), PalError> {
        let mut otadata = Partition::new(&self.chip, 0, 8192);
        let booted = self.bootloader.boot(&mut otadata)?;
        *self.booted.borrow_mut() = booted.slot;
        let boot = SimBoot::new(otadata, booted.slot);
        let dl = boot.download_slot();
        let slot = Partition::new(&self.chip, self.slot_offset(dl), self.slot_len);
        let journal = Partition::new(&self.chip, 8192 + 2 * self.slot_len, self.journal_len);
        let p = Platform::new(slot, journal, boot, self.config).expect("platform setup");
        Ok((self.running(self.slot_len as usize), p))
    }

    fn running(&self, len: usize) -> Vec<u8> {
        let at = self.slot_offset(*self.booted.borrow()) as usize;
        self.chip.borrow().as_bytes()[at..at + len.min(self.slot_len as usize)].to_vec()
    }

    fn is_off(&self) -> bool {
        self.chip.borrow().is_off()
    }

    fn power_cycle(&self) {
        self.chip.borrow_mut().power_cycle();
    }

    fn cut_at(&self, op: u64, keep: Keep) {
        self.chip.borrow_mut().cut_at_op(op, keep);
    }

    fn ops(&self) -> u64 {
        self.chip.borrow().ops()
    }

    fn cut_after_bytes(&self, n: u64) {
        self.chip.borrow_mut().cut_after_bytes(n);
    }

    fn bytes_touched(&self) -> u64 {
        self.chip.borrow().bytes_touched()
    }

    fn max_programs_seen(&self) -> u8 {
        self.chip.borrow().stats().max_programs_seen
    }
}

#[cfg(feature = "embassy-boot")]
pub mod embassy {
    use super::*;
    use embassy_boot::{AlignedBuffer, BootLoader, BootLoaderConfig};
    use ota_pal_flash::boot::embassy::EmbassyBoot;

    /// One chip: state (1 page) | active | dfu (active + 1 page) | journal, driven by the real
    /// embassy-boot bootloader.
    pub struct EmbassyRig<const W: usize, const E: usize> {
        pub chip: RefCell<MockFlash<W, E, 1>>,
        pub active_len: u32,
        pub journal_len: u32,
    }

    impl<const W: usize, const E: usize> EmbassyRig<W, E> {
        pub fn new(active_len: u32, journal_len: u32, mock: MockConfig) -> Self {
            let total = E as u32 + active_len + (active_len + E as u32) + journal_len;
            Self {
                chip: RefCell::new(MockFlash::new(total).with_config(mock)),
                active_len,
                journal_len,
            }
        }

        fn state(&self) -> Part<'_, W, E, 1> {
            Partition::new(&self.chip, 0, E as u32)
        }
        fn active(&self) -> Part<'_, W, E, 1> {
            Partition::new(&self.chip, E as u32, self.active_len)
        }
        fn dfu(&self) -> Part<'_, W, E, 1> {
            Partition::new(
                &self.chip,
                E as u32 + self.active_len,
                self.active_len + E as u32,
            )
        }
        fn journal(&self) -> Part<'_, W, E, 1> {
            Partition::new(
                &self.chip,
                2 * E as u32 + 2 * self.active_len,
                self.journal_len,
            )
        }

        pub fn install(&self, img: &[u8]) {
            let at = E;
            let mut chip = self.chip.borrow_mut();
            chip.as_bytes_mut()[at..at + img.len()].copy_from_slice(img);
            chip.forget_programs();
        }
    }

    impl<const W: usize, const E: usize> Rig for EmbassyRig<W, E> {
        type S<'a> = Part<'a, W, E, 1>;
        type J<'a> = Part<'a, W, E, 1>;
        type B<'a> = EmbassyBoot<'a, Part<'a, W, E, 1>>;

        fn power_on(
            &self,
        ) -> Result<(Vec<u8>, Platform<Self::S<'_>, Self::J<'_>, Self::B<'_>>), PalError> {
            {
                let mut bl = BootLoader::new(BootLoaderConfig {
                    active: self.active(),
                    dfu: self.dfu(),
                    state: self.state(),
                });
                let mut page = AlignedBuffer([0u8; 256]);
                bl.prepare_boot(&mut page.0)
                    .map_err(|_| PalError::BootState)?;
            }
            // embassy-boot borrows its scratch word for the platform's lifetime; a test leaks one
            // per boot.
            let aligned: &mut [u8] =
                &mut std::boxed::Box::leak(std::boxed::Box::new(AlignedBuffer([0u8; W]))).0;
            let boot = EmbassyBoot::new(self.state(), aligned, self.active_len).expect("aligned");
            let p =
                Platform::new(self.dfu(), self.journal(), boot, Config::new()).expect("platform");
            Ok((self.running(self.active_len as usize), p))
        }

        fn running(&self, len: usize) -> Vec<u8> {
            let at = E;
            self.chip.borrow().as_bytes()[at..at + len.min(self.active_len as usize)].to_vec()
        }

        fn is_off(&self) -> bool {
            self.chip.borrow().is_off()
        }

        fn power_cycle(&self) {
            self.chip.borrow_mut().power_cycle();
        }

        fn cut_at(&self, op: u64, keep: Keep) {
            self.chip.borrow_mut().cut_at_op(op, keep);
        }

        fn ops(&self) -> u64 {
            self.chip.borrow().ops()
        }

        fn cut_after_bytes(&self, n: u64) {
            self.chip.borrow_mut().cut_after_bytes(n);
        }

        fn bytes_touched(&self) -> u64 {
            self.chip.borrow().bytes_touched()
        }

        fn max_programs_seen(&self) -> u8 {
            self.chip.borrow().stats().max_programs_seen
        }
    }
}

/// How the update ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Download, activate, self-test passes: commit.
    Accept,
    /// Download, activate, self-test fails: reject, the bootloader reverts.
    Reject,
}

/// A scripted agent doing one update: what `ota-core` does, action for action.
#[derive(Debug, Clone)]
pub struct Script {
    pub old: Vec<u8>,
    pub new: Vec<u8>,
    pub block: usize,
    pub persist_every: usize,
    pub seed: u64,
    pub mode: Mode,
    /// End right after `Activate`, before the reset (to prepare the commit sweep).
    pub stop_after_activate: bool,
}

/// What the harness knows (ground truth, kept outside the device).
#[derive(Debug, Default, Clone)]
pub struct Truth {
    /// Last journal state that completed: `None` = no record.
    pub committed: Option<Vec<u8>>,
    /// Journal state being written when the power failed, if any.
    pub in_flight: Option<Option<Vec<u8>>>,
    pub power_ons: u32,
    pub blocks_written: u32,
    /// Blocks written again although a loaded record said they were stored.
    pub durable_rewrites: u32,
    /// Blocks fetched again after a power cut (not in the loaded record).
    pub refetched: u32,
    /// Blocks of the new image written so far (by any session).
    pub written: Vec<bool>,
    pub saw_new_on_trial: bool,
    pub committed_new: bool,
    pub cuts_seen: u32,
}

pub enum Step {
    Reset,
    Done,
    PowerLost,
}

fn blocks(len: usize, block: usize) -> usize {
    len.div_ceil(block)
}

fn record(counter: u32, bitmap: &[bool]) -> Vec<u8> {
    let mut r = b"TREC".to_vec();
    r.extend_from_slice(&counter.to_le_bytes());
    r.extend(bitmap.iter().map(|b| *b as u8));
    r
}

fn decode(rec: &[u8], n: usize) -> Option<(u32, Vec<bool>)> {
    if rec.len() != 8 + n || &rec[..4] != b"TREC" {
        return None;
    }
    let counter = u32::from_le_bytes(rec[4..8].try_into().ok()?);
    Some((counter, rec[8..].iter().map(|b| *b != 0).collect()))
}

impl Script {
    /// Runs the scenario to its end from the current flash contents, across resets and power
    /// cuts, checking the invariants at every power on. Returns the truth.
    pub fn run<R: Rig>(&self, rig: &R, truth: &mut Truth, max_power_ons: u32) {
        loop {
            assert!(
                truth.power_ons < max_power_ons,
                "scenario does not terminate"
            );
            if rig.is_off() {
                rig.power_cycle();
                truth.cuts_seen += 1;
            }
            match self.session(rig, truth) {
                Step::Done => return,
                Step::Reset | Step::PowerLost => continue,
            }
        }
    }

    fn check_running(&self, running: &[u8]) -> bool {
        let is_old = running[..self.old.len()] == self.old[..];
        let is_new = running[..self.new.len()] == self.new[..];
        assert!(
            is_old || is_new,
            "booted image is neither the old nor the new one"
        );
        is_new
    }

    fn session<R: Rig>(&self, rig: &R, truth: &mut Truth) -> Step {
        truth.power_ons += 1;
        let (running, mut p) = match rig.power_on() {
            Ok(x) => x,
            Err(_) if rig.is_off() => return Step::PowerLost,
            Err(e) => panic!("power on failed: {e}"),
        };
        let is_new = self.check_running(&running);
        let mut rec_buf = vec![0u8; 2048];
        let info = match p.boot_info(&mut rec_buf) {
            Ok(i) => i,
            Err(_) if rig.is_off() => return Step::PowerLost,
            Err(e) => panic!("boot_info: {e}"),
        };
        // Journal: old or new, never garbage.
        let loaded = info.resume.map(<[u8]>::to_vec);
        let ok =
            loaded == truth.committed || truth.in_flight.as_ref().is_some_and(|f| *f == loaded);
        assert!(
            ok,
            "journal after power on is neither the old nor the new record: {loaded:?} vs {:?} / {:?}",
            truth.committed, truth.in_flight
        );
        truth.committed = loaded.clone();
        truth.in_flight = None;
        let state = info.platform_state;
        let mut buf = vec![0u8; self.block.max(256)];

        macro_rules! act {
            ($a:expr) => {{
                let out = p.execute(&$a, &mut buf);
                if rig.is_off() {
                    return Step::PowerLost;
                }
                out
            }};
        }
        macro_rules! ok {
            ($a:expr) => {{
                match act!($a) {
                    Outcome::Done(Ok(())) | Outcome::Silent(Ok(())) => {}
                    other => panic!("{:?} failed: {other:?}", $a),
                }
            }};
        }

        if is_new {
            match (self.mode, state) {
                (Mode::Accept, PlatformImageState::PendingCommit) => {
                    truth.saw_new_on_trial = true;
                    ok!(Action::SetImageState(ImageState::Accepted));
                    truth.committed_new = true;
                    // Reboot once more to check the commit held.
                    assert_eq!(act!(Action::Reset), Outcome::Reset);
                    return Step::Reset;
                }
                (Mode::Accept, PlatformImageState::Valid) => return Step::Done,
                (Mode::Reject, PlatformImageState::PendingCommit) => {
                    truth.saw_new_on_trial = true;
                    ok!(Action::SetImageState(ImageState::Rejected));
                    assert_eq!(act!(Action::Reset), Outcome::Reset);
                    return Step::Reset;
                }
                (m, s) => panic!("new image running in state {s:?} in mode {m:?}"),
            }
        }
        assert_eq!(state, PlatformImageState::Valid, "old image must be valid");
        if self.mode == Mode::Reject && truth.saw_new_on_trial {
            return Step::Done;
        }
        assert!(!truth.committed_new, "committed image was rolled back");

        // Download (or resume) the new image.
        let n = blocks(self.new.len(), self.block);
        let (mut counter, mut bitmap, resume) = match loaded.as_deref().and_then(|r| decode(r, n)) {
            Some((c, b)) => (c, b, true),
            None => (0, vec![false; n], false),
        };
        let durable = bitmap.clone();
        let info = FileInfo {
            index: 0,
            file_type: 0,
            is_firmware: true,
            size: self.new.len() as u32,
            path: "",
            resume,
        };
        ok!(Action::FileCreate(info));
        if !resume {
            counter += 1;
            let r = record(counter, &bitmap);
            truth.in_flight = Some(Some(r.clone()));
            ok!(Action::PersistResume(&r));
            truth.committed = Some(r);
            truth.in_flight = None;
        }
        let mut order: Vec<usize> = (0..n).filter(|b| !bitmap[*b]).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ truth.power_ons as u64);
        order.shuffle(&mut rng);
        // Blocks written before the cut that the loaded record does not claim are fetched again.
        truth.written.resize(n, false);
        truth.refetched += (0..n).filter(|b| truth.written[*b] && !bitmap[*b]).count() as u32;
        for (i, b) in order.iter().enumerate() {
            if durable[*b] {
                truth.durable_rewrites += 1;
            }
            let start = b * self.block;
            let end = (start + self.block).min(self.new.len());
            ok!(Action::FileWrite {
                offset: start as u32,
                data: &self.new[start..end]
            });
            truth.blocks_written += 1;
            truth.written[*b] = true;
            bitmap[*b] = true;
            if (i + 1) % self.persist_every == 0 {
                counter += 1;
                let r = record(counter, &bitmap);
                truth.in_flight = Some(Some(r.clone()));
                ok!(Action::PersistResume(&r));
                truth.committed = Some(r);
                truth.in_flight = None;
            }
        }
        // Read back (the agent's signature check).
        let mut off = 0usize;
        while off < self.new.len() {
            let len = self.block.min(self.new.len() - off);
            match act!(Action::FileRead {
                offset: off as u32,
                len: len as u32
            }) {
                Outcome::Data(Ok(bytes)) => {
                    assert!(
                        bytes == &self.new[off..off + len],
                        "read-back mismatch at {off}"
                    )
                }
                other => panic!("read failed: {other:?}"),
            }
            off += len;
        }
        truth.in_flight = Some(None);
        ok!(Action::ClearResume);
        truth.committed = None;
        truth.in_flight = None;
        match act!(Action::Activate) {
            Outcome::Reset if self.stop_after_activate => Step::Done,
            Outcome::Reset => Step::Reset,
            other => panic!("activate: {other:?}"),
        }
    }
}

/// Results of a sweep.
#[derive(Debug, Default)]
pub struct Report {
    /// Cut points covered.
    pub points: u64,
    /// The uncut run.
    pub reference: Truth,
    /// Blocks fetched again after a cut, summed over all cut points.
    pub refetched_total: u64,
    /// The most blocks one cut made the device fetch again.
    pub refetched_max: u32,
}

impl Report {
    pub fn print(&self, name: &str) {
        println!(
            "{name}: {} cut points covered; uncut run writes {} blocks; after a cut {} blocks \
             re-fetched on average, at most {}; durable blocks rewritten: 0",
            self.points,
            self.reference.blocks_written,
            self.refetched_total as f64 / self.points.max(1) as f64,
            self.refetched_max,
        );
    }
}

fn check_after_cut<R: Rig>(
    rig: &R,
    truth: &Truth,
    at: &str,
    uncut_max_programs: u8,
    report: &mut Report,
) {
    assert_eq!(truth.cuts_seen, 1, "the cut at {at} happened");
    assert_eq!(
        truth.durable_rewrites, 0,
        "durable blocks rewritten (cut at {at})"
    );
    // A power cut can interrupt one program, which is completed after the reboot.
    assert!(
        rig.max_programs_seen() <= uncut_max_programs + 1,
        "word programmed {} times (cut at {at})",
        rig.max_programs_seen()
    );
    report.points += 1;
    report.refetched_total += truth.refetched as u64;
    report.refetched_max = report.refetched_max.max(truth.refetched);
}

fn reference<R: Rig>(
    make: &impl Fn() -> R,
    prepare: &impl Fn(&R, &mut Truth),
    script: &Script,
    uncut_max_programs: u8,
) -> (Truth, u64, u64) {
    let rig = make();
    let mut truth = Truth::default();
    prepare(&rig, &mut truth);
    let (ops, bytes) = (rig.ops(), rig.bytes_touched());
    script.run(&rig, &mut truth, 20);
    assert!(
        rig.max_programs_seen() <= uncut_max_programs,
        "an uncut run programs a word {} times",
        rig.max_programs_seen()
    );
    assert_eq!(truth.durable_rewrites, 0);
    (truth, rig.ops() - ops, rig.bytes_touched() - bytes)
}

/// Sweeps a cut over every flash operation of `script` run from `prepare`'s state, with each of
/// the `keep` variants at each operation.
pub fn sweep<R: Rig>(
    make: impl Fn() -> R,
    prepare: impl Fn(&R, &mut Truth),
    script: &Script,
    keeps: &[Keep],
    uncut_max_programs: u8,
) -> Report {
    let (truth, total, _) = reference(&make, &prepare, script, uncut_max_programs);
    let mut report = Report {
        reference: truth,
        ..Report::default()
    };
    for op in 0..total {
        for &keep in keeps {
            let rig = make();
            let mut truth = Truth::default();
            prepare(&rig, &mut truth);
            rig.cut_at(op, keep);
            script.run(&rig, &mut truth, 40);
            check_after_cut(
                &rig,
                &truth,
                &format!("op {op} {keep:?}"),
                uncut_max_programs,
                &mut report,
            );
        }
    }
    report
}

/// Sweeps a cut after every `stride`-th byte erased or programmed (cuts land inside words, inside
/// erases, inside journal items at every offset the stride reaches).
pub fn sweep_bytes<R: Rig>(
    make: impl Fn() -> R,
    prepare: impl Fn(&R, &mut Truth),
    script: &Script,
    stride: u64,
    uncut_max_programs: u8,
) -> Report {
    let (truth, _, total) = reference(&make, &prepare, script, uncut_max_programs);
    let mut report = Report {
        reference: truth,
        ..Report::default()
    };
    for n in (0..total).step_by(stride as usize) {
        let rig = make();
        let mut truth = Truth::default();
        prepare(&rig, &mut truth);
        rig.cut_after_bytes(n);
        script.run(&rig, &mut truth, 40);
        check_after_cut(
            &rig,
            &truth,
            &format!("byte {n}"),
            uncut_max_programs,
            &mut report,
        );
    }
    report
}
