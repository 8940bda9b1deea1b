//! A simulated A/B bootloader and its application side, over any blocking
//! [`NorFlash`]: the host device of the std runtime and of `ota-sim` boots with it from its
//! files, and the power-cut tests boot with it from the mock flash.
//!
//! Two image slots (0 and 1) and an otadata partition in the ESP-IDF format ([`otadata`]). The
//! entry with the highest sequence number selects the slot; states follow ESP-IDF:
//!
//! * **activate** (application): a `NEW` entry selecting the other slot;
//! * **boot** (bootloader): a `NEW` entry becomes `PENDING_VERIFY` (trial boot 1) and boots; a
//!   `PENDING_VERIFY` entry found at boot is a trial boot that was not confirmed: with trial
//!   boots left it boots again (trial boot `n + 1`), otherwise the bootloader **reverts** to the
//!   other slot;
//! * **commit** (application): a `VALID` entry for the running slot; **reject**: an entry
//!   selecting the previous slot, effective at the next reset.
//!
//! Unlike ESP-IDF, which rewrites the active sector in place to change a state, every update
//! here goes to the sector that does *not* hold the active entry, with a higher sequence
//! number: a power cut at any point leaves the active entry intact, so the device boots the
//! state before the update or the state after it. The trial-boot count lives in the (otherwise
//! unused) `seq_label`.

use embedded_storage::nor_flash::NorFlash;
use ota_core::{PalError, PlatformImageState};

use super::BootControl;
use super::otadata::{self, Entry, OtaState};

/// Image slots of the simulated device.
pub const SLOT_COUNT: u8 = 2;
const LABEL_MAGIC: &[u8; 4] = b"SIMT";

fn boot_err<E>(_: E) -> PalError {
    PalError::BootState
}

fn with_trials(mut e: Entry, trials: u8) -> Entry {
    e.label[..4].copy_from_slice(LABEL_MAGIC);
    e.label[4] = trials;
    e
}

fn trials(e: &Entry) -> u8 {
    if &e.label[..4] == LABEL_MAGIC {
        e.label[4]
    } else {
        1
    }
}

/// What the simulated bootloader booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Booted {
    /// The slot that runs (0 or 1).
    pub slot: u8,
    /// The otadata state of the running image after the boot
    /// ([`OtaState::PendingVerify`] on a trial boot; [`OtaState::Undefined`] for a device whose
    /// otadata was never written).
    pub state: OtaState,
    /// Trial boots of the running image so far (0 when it is not on trial).
    pub trial_boots: u8,
    /// `true` when this boot reverted an image that was not confirmed.
    pub reverted: bool,
}

/// The simulated bootloader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimBootloader {
    /// Boots an unconfirmed image may have before the bootloader reverts it (at least 1;
    /// ESP-IDF's is 1).
    pub max_trial_boots: u8,
}

impl Default for SimBootloader {
    fn default() -> Self {
        Self { max_trial_boots: 1 }
    }
}

impl SimBootloader {
    /// Runs the boot decision over an otadata partition (at least [`otadata::OTADATA_LEN`]
    /// bytes, erase size dividing 4 KiB) and returns the slot to run.
    ///
    /// # Errors
    /// [`PalError::BootState`] when the otadata flash fails.
    pub fn boot<F: NorFlash>(&self, otadata: &mut F) -> Result<Booted, PalError> {
        let entries = otadata::read_entries(otadata).map_err(boot_err)?;
        let Some(i) = otadata::active(&entries) else {
            return Ok(Booted {
                slot: 0,
                state: OtaState::Undefined,
                trial_boots: 0,
                reverted: false,
            });
        };
        let e = entries[i];
        let slot = e.slot(SLOT_COUNT);
        let max = otadata::max_seq(&entries);
        let other_sector = 1 - i;
        match e.state() {
            Some(OtaState::New) => self.trial(otadata, max, slot, other_sector, 1),
            Some(OtaState::PendingVerify) if trials(&e) < self.max_trial_boots.max(1) => self
                .trial(
                    otadata,
                    max,
                    slot,
                    other_sector,
                    trials(&e).saturating_add(1),
                ),
            Some(OtaState::PendingVerify) => {
                let back = 1 - slot;
                let seq = otadata::next_seq(max, back, SLOT_COUNT).ok_or(PalError::BootState)?;
                otadata::write_entry(otadata, other_sector, &Entry::new(seq, OtaState::Valid))
                    .map_err(boot_err)?;
                Ok(Booted {
                    slot: back,
                    state: OtaState::Valid,
                    trial_boots: 0,
                    reverted: true,
                })
            }
            s => Ok(Booted {
                slot,
                state: s.unwrap_or(OtaState::Undefined),
                trial_boots: 0,
                reverted: false,
            }),
        }
    }

    fn trial<F: NorFlash>(
        &self,
        otadata: &mut F,
        max: Option<u32>,
        slot: u8,
        sector: usize,
        n: u8,
    ) -> Result<Booted, PalError> {
        let seq = otadata::next_seq(max, slot, SLOT_COUNT).ok_or(PalError::BootState)?;
        let e = with_trials(Entry::new(seq, OtaState::PendingVerify), n);
        otadata::write_entry(otadata, sector, &e).map_err(boot_err)?;
        Ok(Booted {
            slot,
            state: OtaState::PendingVerify,
            trial_boots: n,
            reverted: false,
        })
    }
}

/// The application side of the simulated bootloader: [`BootControl`] over the otadata
/// partition, for a device that booted `slot`.
#[derive(Debug)]
pub struct SimBoot<F> {
    otadata: F,
    booted: u8,
    activated: bool,
    rejected: bool,
}

impl<F: NorFlash> SimBoot<F> {
    /// Boot control for a device running `booted` (from [`SimBootloader::boot`]).
    pub fn new(otadata: F, booted: u8) -> Self {
        Self {
            otadata,
            booted: booted.min(SLOT_COUNT - 1),
            activated: false,
            rejected: false,
        }
    }

    /// The running slot.
    pub fn running_slot(&self) -> u8 {
        self.booted
    }

    /// The slot the next image is downloaded to.
    pub fn download_slot(&self) -> u8 {
        1 - self.booted
    }

    /// The otadata flash back.
    pub fn into_inner(self) -> F {
        self.otadata
    }

    fn entries(&mut self) -> Result<[Entry; 2], PalError> {
        otadata::read_entries(&mut self.otadata).map_err(boot_err)
    }

    /// Writes a new entry selecting `slot` in `state` to the sector that is not active.
    fn select(&mut self, slot: u8, state: OtaState) -> Result<(), PalError> {
        let entries = self.entries()?;
        let sector = otadata::active(&entries).map_or(0, |i| 1 - i);
        let seq = otadata::next_seq(otadata::max_seq(&entries), slot, SLOT_COUNT)
            .ok_or(PalError::BootState)?;
        otadata::write_entry(&mut self.otadata, sector, &Entry::new(seq, state)).map_err(boot_err)
    }

    /// The state of the running image in otadata, if an entry describes it.
    fn running_entry(&mut self) -> Result<Option<Entry>, PalError> {
        let entries = self.entries()?;
        let active = otadata::active(&entries).map(|i| entries[i]);
        if let Some(e) = active.filter(|e| e.slot(SLOT_COUNT) == self.booted) {
            return Ok(Some(e));
        }
        // The active entry selects the other slot (activated, waiting for the reset): the
        // running image is described by the newest valid entry for its own slot.
        Ok(entries
            .iter()
            .filter(|e| e.is_valid() && e.slot(SLOT_COUNT) == self.booted)
            .max_by_key(|e| e.seq)
            .copied())
    }
}

impl<F: NorFlash> BootControl for SimBoot<F> {
    fn platform_state(&mut self) -> Result<PlatformImageState, PalError> {
        if self.rejected {
            return Ok(PlatformImageState::Invalid);
        }
        Ok(match self.running_entry()?.and_then(|e| e.state()) {
            Some(OtaState::New | OtaState::PendingVerify) => PlatformImageState::PendingCommit,
            Some(OtaState::Invalid | OtaState::Aborted) => PlatformImageState::Invalid,
            _ => PlatformImageState::Valid,
        })
    }

    fn activate(&mut self, _len: u32) -> Result<(), PalError> {
        if self.platform_state()? == PlatformImageState::PendingCommit {
            return Err(PalError::BootState);
        }
        self.select(self.download_slot(), OtaState::New)?;
        self.activated = true;
        Ok(())
    }

    fn cancel_activation(&mut self) -> Result<(), PalError> {
        if self.activated {
            self.select(self.booted, OtaState::Valid)?;
            self.activated = false;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), PalError> {
        if self.platform_state()? != PlatformImageState::PendingCommit {
            return Ok(());
        }
        self.select(self.booted, OtaState::Valid)
    }

    fn reject(&mut self) -> Result<(), PalError> {
        if self.platform_state()? == PlatformImageState::PendingCommit {
            self.select(1 - self.booted, OtaState::Valid)?;
            self.rejected = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockFlash;

    type Otadata = MockFlash<4, 4096>;

    fn entry_at(f: &Otadata, sector: usize) -> Entry {
        let at = sector * 4096;
        let mut b = [0u8; 32];
        b.copy_from_slice(&f.as_bytes()[at..at + 32]);
        Entry::decode(&b)
    }

    #[test]
    fn activate_boot_commit_writes_esp_idf_entries() {
        let mut f = Otadata::new(8192);
        let bl = SimBootloader::default();
        let b = bl.boot(&mut f).unwrap();
        assert_eq!((b.slot, b.state), (0, OtaState::Undefined));
        let mut boot = SimBoot::new(f, b.slot);
        assert_eq!(boot.platform_state(), Ok(PlatformImageState::Valid));
        boot.activate(100).unwrap();
        // The running image stays valid until the reset.
        assert_eq!(boot.platform_state(), Ok(PlatformImageState::Valid));
        let mut f = boot.into_inner();
        assert_eq!(
            entry_at(&f, 0).encode(),
            Entry::new(2, OtaState::New).encode()
        );
        assert!(!entry_at(&f, 1).is_valid());

        let b = bl.boot(&mut f).unwrap();
        assert_eq!(
            (b.slot, b.state, b.trial_boots),
            (1, OtaState::PendingVerify, 1)
        );
        let e = entry_at(&f, 1);
        assert_eq!(
            (e.seq, e.state(), e.crc),
            (4, Some(OtaState::PendingVerify), otadata::seq_crc(4))
        );
        let mut boot = SimBoot::new(f, b.slot);
        assert_eq!(boot.platform_state(), Ok(PlatformImageState::PendingCommit));
        assert_eq!(
            boot.activate(1),
            Err(PalError::BootState),
            "no activation on trial"
        );
        boot.commit().unwrap();
        assert_eq!(boot.platform_state(), Ok(PlatformImageState::Valid));
        boot.commit().unwrap(); // idempotent: nothing written
        let mut f = boot.into_inner();
        assert_eq!(
            entry_at(&f, 0).encode(),
            Entry::new(6, OtaState::Valid).encode()
        );
        let ops = f.ops();
        let b = bl.boot(&mut f).unwrap();
        assert_eq!((b.slot, b.state, b.reverted), (1, OtaState::Valid, false));
        assert_eq!(f.ops(), ops, "a committed boot writes nothing");
    }

    #[test]
    fn cancel_and_reject() {
        let mut f = Otadata::new(8192);
        let bl = SimBootloader::default();
        let mut boot = SimBoot::new(f, 0);
        boot.activate(1).unwrap();
        boot.cancel_activation().unwrap();
        f = boot.into_inner();
        assert_eq!(
            bl.boot(&mut f).unwrap().slot,
            0,
            "cancelled activation boots the old slot"
        );

        let mut boot = SimBoot::new(f, 0);
        boot.activate(1).unwrap();
        f = boot.into_inner();
        let b = bl.boot(&mut f).unwrap();
        let mut boot = SimBoot::new(f, b.slot);
        boot.reject().unwrap();
        assert_eq!(boot.platform_state(), Ok(PlatformImageState::Invalid));
        f = boot.into_inner();
        let b = bl.boot(&mut f).unwrap();
        assert_eq!(
            (b.slot, b.reverted),
            (0, false),
            "the rejection selected the old slot"
        );
    }

    #[test]
    fn damaged_otadata_boots_the_older_entry() {
        let mut f = Otadata::new(8192);
        otadata::write_entry(&mut f, 0, &Entry::new(1, OtaState::Valid)).unwrap();
        otadata::write_entry(&mut f, 1, &Entry::new(2, OtaState::New)).unwrap();
        f.as_bytes_mut()[4096 + 29] ^= 0x40; // CRC of the newer entry
        let b = SimBootloader::default().boot(&mut f).unwrap();
        assert_eq!((b.slot, b.state), (0, OtaState::Valid));
    }
}
