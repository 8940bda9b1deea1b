//! Application-level rollback over the ESP-IDF otadata scheme, for a 2nd stage bootloader
//! built **without** `CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE` (such as the one espflash bundles).
//!
//! Such a bootloader boots the slot of the bootable otadata entry with the highest sequence
//! number (it skips entries marked `INVALID` or `ABORTED` and entries whose CRC does not
//! match, with or without rollback support) but never turns `NEW` into `PENDING_VERIFY` nor
//! aborts an image that did not confirm itself. The application does both here, once per boot,
//! before anything else can fail ([`AppRollback::boot_check`], pure decision in [`plan_boot`]):
//!
//! | running slot vs. the entry the bootloader follows | state | action | [`BootCheck`] |
//! |---|---|---|---|
//! | selected | `NEW` | write `PENDING_VERIFY` (first trial boot) | `Trial` |
//! | selected | `PENDING_VERIFY` that this module wrote | the last trial boot never confirmed (crash, watchdog, power cut): select the previous image `VALID`, then mark the trial `ABORTED` | `RolledBack`: reset now |
//! | selected | `PENDING_VERIFY` that this module did not write | a rollback-enabled bootloader turned `NEW` into it on this boot: leave it to that bootloader | `Trial` |
//! | not selected | `NEW` / `PENDING_VERIFY` | the bootloader could not load the selected image and fell back: select the running image `VALID`, mark the other `ABORTED` | `Recovered` |
//! | anything else (`VALID`, `UNDEFINED`, nothing selected, factory app) | | nothing | `Confirmed` |
//!
//! # Power-cut safety
//!
//! Every new entry goes to the sector that does **not** hold the entry the bootloader follows,
//! with a higher sequence number; [`otadata::write_entry`] erases that sector, writes the entry
//! and programs its CRC word last, so until the CRC lands the bootloader still follows the old
//! entry. A write therefore takes effect entirely or not at all. When a step needs two writes
//! (select the previous image, then mark the trial `ABORTED` / `INVALID`), the first one moves
//! the selection and the second one rewrites what has by then become the *other* sector; a cut
//! in between or during the second leaves the new selection in force. The one exception is a
//! rollback to the factory app, which has no otadata entry of its own: the bootloader starts it
//! when no entry is bootable, so the entries are marked unbootable, the stale one first.
//!
//! The previous slot travels in the entry's `seq_label` (unused by the bootloader): a 20-byte
//! tag (`"APRB"`, the entry's `ota_seq`, the phase, the previous slot) written with the `NEW`
//! entry at activation and copied into the `PENDING_VERIFY` entry, because that write replaces
//! the previous image's entry. A tag counts only when its `ota_seq` matches the entry's, so a
//! label left over by another writer (`OtaUpdater` keeps the old label when it changes the
//! sequence number) is never mistaken for one. Entries without a tag get the previous slot
//! from the other sector, or the slot before theirs.
//!
//! The tag also tells this module's `PENDING_VERIFY` apart from the one a rollback-enabled
//! bootloader writes on the same boot (the bootloader keeps the label, and aborts any
//! `PENDING_VERIFY` it finds *before* the application runs), so under such a bootloader this
//! mode leaves the trial to it instead of rolling back a healthy first boot. Still use this
//! mode only with a bootloader without rollback support: the default mode of `boot::esp`
//! (feature `esp32c3`) is the one meant for rollback-enabled bootloaders.
//!
//! # Limits
//!
//! * A new image that crashes **before** it calls [`AppRollback::boot_check`] is never marked
//!   `PENDING_VERIFY`, so it is never rolled back: call it first thing after the chip's init.
//! * Any reset between `boot_check` and the commit rolls the image back, a deliberate one
//!   included (as with ESP-IDF's bootloader rollback).
//! * A power cut during the commit loses the commit: the image is rolled back at the next boot.

use embedded_storage::nor_flash::NorFlash;
use ota_core::{PalError, PlatformImageState};

use super::BootControl;
use super::otadata::{self, Entry, OtaState};

/// The first 4 bytes of a tagged `seq_label`.
pub const TAG_MAGIC: [u8; 4] = *b"APRB";
const PHASE_ACTIVATED: u8 = 1;
const PHASE_TRIAL: u8 = 2;
const FACTORY: u8 = 0xFF;
/// Most OTA app slots an ESP-IDF partition table can have.
pub const MAX_OTA_SLOTS: u8 = 16;

fn boot_err<E>(_: E) -> PalError {
    PalError::BootState
}

/// What [`AppRollback::boot_check`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BootCheck {
    /// The running image is not on trial (committed, never rolled-back-capable such as a
    /// freshly flashed one, or the factory app): nothing written.
    Confirmed,
    /// The running image runs on trial (`PENDING_VERIFY`): it must be committed or rejected
    /// before the next reset, which otherwise rolls it back.
    Trial,
    /// The running image was on trial at the last boot and never confirmed itself: otadata now
    /// selects the previous image and marks this one `ABORTED`. **Reset the device now**; do
    /// not start the agent.
    RolledBack,
    /// The bootloader could not load the image otadata selected (`NEW` or `PENDING_VERIFY`)
    /// and started the running one instead: otadata now selects the running image (`VALID`)
    /// and marks the other `ABORTED`. No reset needed.
    Recovered,
}

impl BootCheck {
    /// Whether the caller must reset the device before doing anything else.
    pub const fn reset_required(self) -> bool {
        matches!(self, BootCheck::RolledBack)
    }
}

/// The phase a tagged entry was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Phase {
    /// The `NEW` entry of an activation.
    Activated,
    /// The `PENDING_VERIFY` entry of a first trial boot, written by [`plan_boot`].
    Trial,
}

/// The tag this module keeps in an entry's `seq_label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tag {
    /// Who wrote the entry.
    pub phase: Phase,
    /// The slot to go back to if the image is not confirmed; `None`: the factory app.
    pub prev: Option<u8>,
}

/// An entry for `seq` in `state` carrying `tag` in its label.
pub fn tagged(seq: u32, state: OtaState, tag: Tag) -> Entry {
    let mut e = Entry::new(seq, state);
    e.label[..4].copy_from_slice(&TAG_MAGIC);
    e.label[4..8].copy_from_slice(&seq.to_le_bytes());
    e.label[8] = match tag.phase {
        Phase::Activated => PHASE_ACTIVATED,
        Phase::Trial => PHASE_TRIAL,
    };
    e.label[9] = tag.prev.unwrap_or(FACTORY);
    e
}

/// The tag of `e`, if its label holds one written for its own `ota_seq`.
pub fn tag_of(e: &Entry) -> Option<Tag> {
    let l = &e.label;
    if l[..4] != TAG_MAGIC || l[4..8] != e.seq.to_le_bytes() {
        return None;
    }
    let phase = match l[8] {
        PHASE_ACTIVATED => Phase::Activated,
        PHASE_TRIAL => Phase::Trial,
        _ => return None,
    };
    let prev = match l[9] {
        FACTORY => None,
        s if s < MAX_OTA_SLOTS => Some(s),
        _ => return None,
    };
    Some(Tag { phase, prev })
}

/// One entry write: erase `sector` (0 or 1) and write `entry` there
/// ([`otadata::write_entry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SectorWrite {
    /// The otadata sector, 0 or 1.
    pub sector: usize,
    /// The entry written at its start.
    pub entry: Entry,
}

/// Up to two entry writes, done in order: a cut after any prefix of them leaves the device
/// booting the image before the plan or the image after it.
pub type Writes = [Option<SectorWrite>; 2];

/// What [`plan_boot`] decided: the outcome and the writes that make it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Plan {
    /// What to report once the writes are done.
    pub outcome: BootCheck,
    /// The writes, in order.
    pub writes: Writes,
}

impl Plan {
    const fn keep(outcome: BootCheck) -> Self {
        Self {
            outcome,
            writes: [None, None],
        }
    }
}

fn check_layout(ota_count: u8, running: Option<u8>) -> Result<(), PalError> {
    if !(2..=MAX_OTA_SLOTS).contains(&ota_count) || running.is_some_and(|r| r >= ota_count) {
        return Err(PalError::BootState);
    }
    Ok(())
}

/// The sector a new entry goes to: the one not holding the entry the bootloader follows; with
/// no such entry, one without a valid entry (sector 0 when both or neither have one).
fn free_sector(entries: &[Entry; 2]) -> usize {
    match otadata::active(entries) {
        Some(i) => 1 - i,
        None if entries[0].is_valid() && !entries[1].is_valid() => 1,
        None => 0,
    }
}

/// A fresh entry selecting `slot`, above every valid sequence number.
fn fresh(entries: &[Entry; 2], slot: u8, ota_count: u8) -> Result<u32, PalError> {
    otadata::next_seq(otadata::max_seq(entries), slot, ota_count).ok_or(PalError::BootState)
}

fn with_state(e: Entry, state: OtaState) -> Entry {
    Entry {
        state: state.to_u32(),
        ..e
    }
}

/// The slot an unconfirmed image in entry `i` goes back to.
fn previous(entries: &[Entry; 2], i: usize, ota_count: u8) -> Option<u8> {
    let e = &entries[i];
    let slot = e.slot(ota_count);
    if let Some(tag) = tag_of(e) {
        match tag.prev {
            None => return None,
            Some(p) if p < ota_count && p != slot => return Some(p),
            Some(_) => {}
        }
    }
    let other = &entries[1 - i];
    if other.is_bootable() && other.slot(ota_count) != slot {
        return Some(other.slot(ota_count));
    }
    Some((slot + ota_count - 1) % ota_count)
}

/// Writes that make the bootloader start `target` (`None`: the factory app) and mark the entry
/// it follows now `abandon`.
fn retarget(
    entries: &[Entry; 2],
    ota_count: u8,
    target: Option<u8>,
    abandon: OtaState,
) -> Result<Writes, PalError> {
    let active = otadata::active(entries);
    let free = free_sector(entries);
    let first = match target {
        Some(t) => Some(SectorWrite {
            sector: free,
            entry: Entry::new(fresh(entries, t, ota_count)?, OtaState::Valid),
        }),
        // No entry may stay bootable: the stale one first, then the one in force.
        None => (active.is_some() && entries[free].is_bootable()).then(|| SectorWrite {
            sector: free,
            entry: with_state(entries[free], abandon),
        }),
    };
    let second = active.map(|i| SectorWrite {
        sector: i,
        entry: with_state(entries[i], abandon),
    });
    Ok([first, second])
}

/// The boot-time decision of the table in the [module docs](self), over the two otadata
/// entries as read, the number of OTA app slots (2 to 16) and the running slot (`None`: the
/// factory app). Pure: the caller does the writes in order.
///
/// # Errors
/// [`PalError::BootState`] for a bad slot count or running slot, or when the sequence number
/// would overflow.
pub fn plan_boot(
    entries: &[Entry; 2],
    ota_count: u8,
    running: Option<u8>,
) -> Result<Plan, PalError> {
    check_layout(ota_count, running)?;
    let Some(i) = otadata::active(entries) else {
        return Ok(Plan::keep(BootCheck::Confirmed));
    };
    let e = entries[i];
    let selected = e.slot(ota_count);
    let on_trial = matches!(e.state(), Some(OtaState::New | OtaState::PendingVerify));
    if running != Some(selected) {
        if !on_trial {
            return Ok(Plan::keep(BootCheck::Confirmed));
        }
        return Ok(Plan {
            outcome: BootCheck::Recovered,
            writes: retarget(entries, ota_count, running, OtaState::Aborted)?,
        });
    }
    match e.state() {
        Some(OtaState::New) => {
            let tag = Tag {
                phase: Phase::Trial,
                prev: previous(entries, i, ota_count),
            };
            let entry = tagged(
                fresh(entries, selected, ota_count)?,
                OtaState::PendingVerify,
                tag,
            );
            Ok(Plan {
                outcome: BootCheck::Trial,
                writes: [
                    Some(SectorWrite {
                        sector: 1 - i,
                        entry,
                    }),
                    None,
                ],
            })
        }
        Some(OtaState::PendingVerify) => match tag_of(&e) {
            Some(Tag {
                phase: Phase::Trial,
                ..
            }) => Ok(Plan {
                outcome: BootCheck::RolledBack,
                writes: retarget(
                    entries,
                    ota_count,
                    previous(entries, i, ota_count),
                    OtaState::Aborted,
                )?,
            }),
            // Written by a rollback-enabled bootloader on this very boot: its trial.
            _ => Ok(Plan::keep(BootCheck::Trial)),
        },
        _ => Ok(Plan::keep(BootCheck::Confirmed)),
    }
}

/// Does `writes` in order.
///
/// # Errors
/// [`PalError::BootState`] when the flash fails (the writes before it are done).
pub fn apply<F: NorFlash>(otadata: &mut F, writes: &Writes) -> Result<(), PalError> {
    for w in writes.iter().flatten() {
        otadata::write_entry(otadata, w.sector, &w.entry).map_err(boot_err)?;
    }
    Ok(())
}

/// The application side of application-level rollback over an otadata partition: the
/// [`BootControl`] operations plus [`Self::boot_check`], each given the otadata flash
/// (at least [`otadata::OTADATA_LEN`] bytes, erase size dividing 4 KiB, `WRITE_SIZE`
/// dividing 28).
///
/// `EspIdfBoot::with_app_rollback` (feature `esp32c3`) runs it over the chip's otadata partition;
/// [`AppRollbackBoot`] owns any [`NorFlash`] for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRollback {
    ota_count: u8,
    running: Option<u8>,
    checked: Option<BootCheck>,
    activated: bool,
    rejected: bool,
}

impl AppRollback {
    /// For a device with `ota_count` OTA app slots (2 to 16) running slot `running` (`None`:
    /// the factory app).
    ///
    /// # Errors
    /// [`PalError::BootState`] for a bad slot count or running slot.
    pub fn new(ota_count: u8, running: Option<u8>) -> Result<Self, PalError> {
        check_layout(ota_count, running)?;
        Ok(Self {
            ota_count,
            running,
            checked: None,
            activated: false,
            rejected: false,
        })
    }

    /// The number of OTA app slots.
    pub fn ota_count(&self) -> u8 {
        self.ota_count
    }

    /// The running slot (`None`: the factory app).
    pub fn running_slot(&self) -> Option<u8> {
        self.running
    }

    /// The boot-time check ([`plan_boot`], then its writes). Call it once per boot, before the
    /// agent starts and as early as possible: a new image that fails before this call is never
    /// rolled back. Later calls return the first result and write nothing.
    ///
    /// # Errors
    /// [`PalError::BootState`] when otadata cannot be read or written (a cut write is
    /// harmless: the bootloader still follows the entry before it, and the next boot decides
    /// again).
    pub fn boot_check<F: NorFlash>(&mut self, otadata: &mut F) -> Result<BootCheck, PalError> {
        if let Some(c) = self.checked {
            return Ok(c);
        }
        let entries = otadata::read_entries(otadata).map_err(boot_err)?;
        let plan = plan_boot(&entries, self.ota_count, self.running)?;
        apply(otadata, &plan.writes)?;
        if plan.outcome == BootCheck::RolledBack {
            self.rejected = true;
        }
        self.checked = Some(plan.outcome);
        Ok(plan.outcome)
    }

    /// The slot the next image is downloaded to: the one after the running slot (after the
    /// selected one, or slot 0, for the factory app). Never the running slot.
    ///
    /// # Errors
    /// [`PalError::BootState`] when otadata cannot be read.
    pub fn download_slot<F: NorFlash>(&self, otadata: &mut F) -> Result<u8, PalError> {
        if let Some(r) = self.running {
            return Ok((r + 1) % self.ota_count);
        }
        let entries = otadata::read_entries(otadata).map_err(boot_err)?;
        Ok(otadata::active(&entries).map_or(0, |i| {
            (entries[i].slot(self.ota_count) + 1) % self.ota_count
        }))
    }

    /// See [`BootControl::platform_state`].
    ///
    /// # Errors
    /// [`PalError::BootState`] when otadata cannot be read.
    pub fn platform_state<F: NorFlash>(
        &mut self,
        otadata: &mut F,
    ) -> Result<PlatformImageState, PalError> {
        if self.rejected {
            return Ok(PlatformImageState::Invalid);
        }
        if self.activated {
            return Ok(PlatformImageState::Valid);
        }
        let entries = otadata::read_entries(otadata).map_err(boot_err)?;
        let Some(e) = otadata::active(&entries).map(|i| entries[i]) else {
            return Ok(PlatformImageState::Valid);
        };
        let on_trial = matches!(e.state(), Some(OtaState::New | OtaState::PendingVerify));
        Ok(
            if on_trial && self.running == Some(e.slot(self.ota_count)) {
                PlatformImageState::PendingCommit
            } else {
                PlatformImageState::Valid
            },
        )
    }

    /// See [`BootControl::activate`]: a tagged `NEW` entry for [`Self::download_slot`].
    ///
    /// # Errors
    /// [`PalError::BootState`] on trial (commit first) or when otadata fails.
    pub fn activate<F: NorFlash>(&mut self, otadata: &mut F) -> Result<(), PalError> {
        if self.platform_state(otadata)? == PlatformImageState::PendingCommit {
            return Err(PalError::BootState);
        }
        let target = self.download_slot(otadata)?;
        let entries = otadata::read_entries(otadata).map_err(boot_err)?;
        let tag = Tag {
            phase: Phase::Activated,
            prev: self.running,
        };
        let entry = tagged(fresh(&entries, target, self.ota_count)?, OtaState::New, tag);
        let write = SectorWrite {
            sector: free_sector(&entries),
            entry,
        };
        apply(otadata, &[Some(write), None])?;
        self.activated = true;
        Ok(())
    }

    /// See [`BootControl::cancel_activation`]: the running image selected again, the activated
    /// entry marked `INVALID`.
    ///
    /// # Errors
    /// [`PalError::BootState`] when otadata fails.
    pub fn cancel_activation<F: NorFlash>(&mut self, otadata: &mut F) -> Result<(), PalError> {
        if !self.activated {
            return Ok(());
        }
        let entries = otadata::read_entries(otadata).map_err(boot_err)?;
        let writes = retarget(&entries, self.ota_count, self.running, OtaState::Invalid)?;
        apply(otadata, &writes)?;
        self.activated = false;
        Ok(())
    }

    /// See [`BootControl::commit`]: a `VALID` entry for the running slot.
    ///
    /// # Errors
    /// [`PalError::BootState`] when otadata fails.
    pub fn commit<F: NorFlash>(&mut self, otadata: &mut F) -> Result<(), PalError> {
        if self.platform_state(otadata)? != PlatformImageState::PendingCommit {
            return Ok(());
        }
        let Some(running) = self.running else {
            return Ok(());
        };
        let entries = otadata::read_entries(otadata).map_err(boot_err)?;
        let entry = Entry::new(fresh(&entries, running, self.ota_count)?, OtaState::Valid);
        let write = SectorWrite {
            sector: free_sector(&entries),
            entry,
        };
        apply(otadata, &[Some(write), None])
    }

    /// See [`BootControl::reject`]: the previous image selected, the running one marked
    /// `INVALID`; effective at the next reset.
    ///
    /// # Errors
    /// [`PalError::BootState`] when otadata fails.
    pub fn reject<F: NorFlash>(&mut self, otadata: &mut F) -> Result<(), PalError> {
        if self.platform_state(otadata)? != PlatformImageState::PendingCommit {
            return Ok(());
        }
        let entries = otadata::read_entries(otadata).map_err(boot_err)?;
        let Some(i) = otadata::active(&entries) else {
            return Ok(());
        };
        let prev = previous(&entries, i, self.ota_count);
        let writes = retarget(&entries, self.ota_count, prev, OtaState::Invalid)?;
        apply(otadata, &writes)?;
        self.rejected = true;
        Ok(())
    }
}

/// [`AppRollback`] owning its otadata flash: a [`BootControl`] for any device with ESP-IDF
/// style otadata and a bootloader without rollback support (the host tests use it over the
/// mock flash).
#[derive(Debug)]
pub struct AppRollbackBoot<F> {
    otadata: F,
    ctl: AppRollback,
}

impl<F: NorFlash> AppRollbackBoot<F> {
    /// See [`AppRollback::new`].
    ///
    /// # Errors
    /// [`PalError::BootState`] for a bad slot count or running slot.
    pub fn new(otadata: F, ota_count: u8, running: Option<u8>) -> Result<Self, PalError> {
        Ok(Self {
            otadata,
            ctl: AppRollback::new(ota_count, running)?,
        })
    }

    /// See [`AppRollback::boot_check`].
    ///
    /// # Errors
    /// [`PalError::BootState`] when otadata fails.
    pub fn boot_check(&mut self) -> Result<BootCheck, PalError> {
        self.ctl.boot_check(&mut self.otadata)
    }

    /// See [`AppRollback::download_slot`].
    ///
    /// # Errors
    /// [`PalError::BootState`] when otadata cannot be read.
    pub fn download_slot(&mut self) -> Result<u8, PalError> {
        self.ctl.download_slot(&mut self.otadata)
    }

    /// The state machine.
    pub fn control(&self) -> &AppRollback {
        &self.ctl
    }

    /// The otadata flash back.
    pub fn into_inner(self) -> F {
        self.otadata
    }
}

impl<F: NorFlash> BootControl for AppRollbackBoot<F> {
    fn platform_state(&mut self) -> Result<PlatformImageState, PalError> {
        self.ctl.platform_state(&mut self.otadata)
    }
    fn activate(&mut self, _len: u32) -> Result<(), PalError> {
        self.ctl.activate(&mut self.otadata)
    }
    fn cancel_activation(&mut self) -> Result<(), PalError> {
        self.ctl.cancel_activation(&mut self.otadata)
    }
    fn commit(&mut self) -> Result<(), PalError> {
        self.ctl.commit(&mut self.otadata)
    }
    fn reject(&mut self) -> Result<(), PalError> {
        self.ctl.reject(&mut self.otadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockFlash;
    use proptest::prelude::*;

    type Otadata = MockFlash<4, 4096>;
    const E: Entry = Entry::ERASED;

    fn activated(seq: u32, prev: Option<u8>) -> Entry {
        tagged(
            seq,
            OtaState::New,
            Tag {
                phase: Phase::Activated,
                prev,
            },
        )
    }

    fn trial(seq: u32, prev: Option<u8>) -> Entry {
        tagged(
            seq,
            OtaState::PendingVerify,
            Tag {
                phase: Phase::Trial,
                prev,
            },
        )
    }

    fn w(sector: usize, entry: Entry) -> Option<SectorWrite> {
        Some(SectorWrite { sector, entry })
    }

    /// What a bootloader without rollback support starts: the slot of the active entry,
    /// `None` for the factory app / its fallback.
    fn selected(entries: &[Entry; 2], count: u8) -> Option<u8> {
        otadata::active(entries).map(|i| entries[i].slot(count))
    }

    fn applied(entries: &[Entry; 2], writes: &Writes) -> [Entry; 2] {
        let mut out = *entries;
        for x in writes.iter().flatten() {
            out[x.sector] = x.entry;
        }
        out
    }

    fn entry_at(f: &Otadata, sector: usize) -> Entry {
        let at = sector * 4096;
        let mut b = [0u8; 32];
        b.copy_from_slice(&f.as_bytes()[at..at + 32]);
        Entry::decode(&b)
    }

    #[test]
    fn tag_bytes_and_checks() {
        let e = activated(6, Some(1));
        let mut expected = [0xFFu8; 32];
        expected[0..4].copy_from_slice(&6u32.to_le_bytes());
        expected[4..8].copy_from_slice(b"APRB");
        expected[8..12].copy_from_slice(&6u32.to_le_bytes());
        expected[12] = 1; // phase: activated
        expected[13] = 1; // previous slot
        expected[24..28].copy_from_slice(&0u32.to_le_bytes()); // NEW
        expected[28..32].copy_from_slice(&otadata::seq_crc(6).to_le_bytes());
        assert_eq!(e.encode(), expected);
        assert_eq!(
            tag_of(&e),
            Some(Tag {
                phase: Phase::Activated,
                prev: Some(1)
            })
        );
        assert_eq!(
            tag_of(&trial(9, None)),
            Some(Tag {
                phase: Phase::Trial,
                prev: None
            })
        );
        // A label left over from another sequence number is no tag.
        let stale = Entry {
            seq: 8,
            crc: otadata::seq_crc(8),
            ..e
        };
        assert_eq!(tag_of(&stale), None);
        let mut bad = e;
        bad.label[8] = 7;
        assert_eq!(tag_of(&bad), None);
        bad = e;
        bad.label[9] = 16;
        assert_eq!(tag_of(&bad), None);
        assert_eq!(tag_of(&Entry::new(6, OtaState::New)), None);
    }

    #[test]
    fn nothing_to_do() {
        let v = Entry::new(1, OtaState::Valid);
        for (entries, running) in [
            ([E, E], Some(0)),
            ([v, E], Some(0)),
            ([Entry::new(1, OtaState::Undefined), E], Some(0)),
            ([E, E], None),
            // Everything unbootable: the bootloader's fallback runs.
            (
                [
                    Entry::new(1, OtaState::Aborted),
                    Entry::new(2, OtaState::Invalid),
                ],
                Some(0),
            ),
            // A committed image that no longer loads: left as it is.
            ([E, Entry::new(2, OtaState::Valid)], Some(0)),
        ] {
            assert_eq!(
                plan_boot(&entries, 2, running),
                Ok(Plan::keep(BootCheck::Confirmed)),
                "{entries:?}"
            );
        }
    }

    #[test]
    fn new_becomes_pending_verify_in_the_other_sector() {
        let old = Entry::new(1, OtaState::Valid);
        let p = plan_boot(&[old, activated(2, Some(0))], 2, Some(1)).unwrap();
        assert_eq!(p.outcome, BootCheck::Trial);
        assert_eq!(p.writes, [w(0, trial(4, Some(0))), None]);
        let out = applied(&[old, activated(2, Some(0))], &p.writes);
        assert_eq!(selected(&out, 2), Some(1));

        // Untagged NEW (written by OtaUpdater): the previous slot from the other sector ...
        let p = plan_boot(&[Entry::new(2, OtaState::New), old], 2, Some(1)).unwrap();
        assert_eq!(p.writes, [w(1, trial(4, Some(0))), None]);
        // ... or the slot before.
        let p = plan_boot(&[E, Entry::new(3, OtaState::New)], 3, Some(2)).unwrap();
        assert_eq!(p.writes, [w(0, trial(6, Some(1))), None]);
        // Activated from the factory app.
        let p = plan_boot(&[activated(1, None), E], 2, Some(0)).unwrap();
        assert_eq!(p.writes, [w(1, trial(3, None)), None]);
        // Three slots: the tag's slot wins over the other sector's.
        let p = plan_boot(
            &[Entry::new(2, OtaState::Valid), activated(3, Some(0))],
            3,
            Some(2),
        );
        assert_eq!(p.unwrap().writes, [w(0, trial(6, Some(0))), None]);
    }

    #[test]
    fn unconfirmed_trial_is_rolled_back() {
        let entries = [activated(2, Some(0)), trial(4, Some(0))];
        let p = plan_boot(&entries, 2, Some(1)).unwrap();
        assert_eq!(p.outcome, BootCheck::RolledBack);
        assert!(p.outcome.reset_required());
        assert_eq!(
            p.writes,
            [
                w(0, Entry::new(5, OtaState::Valid)),
                w(
                    1,
                    Entry {
                        state: OtaState::Aborted.to_u32(),
                        ..trial(4, Some(0))
                    }
                ),
            ]
        );
        let out = applied(&entries, &p.writes);
        assert_eq!(selected(&out, 2), Some(0));
        assert_eq!(out[1].state(), Some(OtaState::Aborted));
        assert_eq!(
            plan_boot(&out, 2, Some(0)),
            Ok(Plan::keep(BootCheck::Confirmed))
        );
    }

    #[test]
    fn rollback_to_the_factory_app_leaves_no_bootable_entry() {
        let entries = [activated(1, None), trial(3, None)];
        let p = plan_boot(&entries, 2, Some(0)).unwrap();
        assert_eq!(p.outcome, BootCheck::RolledBack);
        let [Some(first), Some(second)] = p.writes else {
            panic!("{p:?}")
        };
        assert_eq!((first.sector, second.sector), (0, 1), "stale entry first");
        let out = applied(&entries, &p.writes);
        assert_eq!(out[0].state(), Some(OtaState::Aborted));
        assert_eq!(out[1].state(), Some(OtaState::Aborted));
        assert_eq!(selected(&out, 2), None);
    }

    #[test]
    fn pending_verify_of_a_rollback_bootloader_is_left_alone() {
        // The bootloader rewrote our NEW entry in place: the label still says "activated".
        let pv = Entry {
            state: OtaState::PendingVerify.to_u32(),
            ..activated(2, Some(0))
        };
        let old = Entry::new(1, OtaState::Valid);
        assert_eq!(
            plan_boot(&[old, pv], 2, Some(1)),
            Ok(Plan::keep(BootCheck::Trial))
        );
        let foreign = Entry::new(2, OtaState::PendingVerify);
        assert_eq!(
            plan_boot(&[old, foreign], 2, Some(1)),
            Ok(Plan::keep(BootCheck::Trial))
        );
        // A trial tag for another sequence number (label kept by a foreign writer) is no tag.
        let moved = Entry {
            seq: 6,
            crc: otadata::seq_crc(6),
            ..trial(4, Some(0))
        };
        assert_eq!(
            plan_boot(&[old, moved], 2, Some(1)),
            Ok(Plan::keep(BootCheck::Trial))
        );
    }

    #[test]
    fn bootloader_fallback_is_recovered() {
        // ota_1 NEW did not load; the bootloader started ota_0.
        let entries = [Entry::new(1, OtaState::Valid), activated(2, Some(0))];
        let p = plan_boot(&entries, 2, Some(0)).unwrap();
        assert_eq!(p.outcome, BootCheck::Recovered);
        assert!(!p.outcome.reset_required());
        assert_eq!(p.writes[0], w(0, Entry::new(3, OtaState::Valid)));
        let out = applied(&entries, &p.writes);
        assert_eq!(selected(&out, 2), Some(0));
        assert_eq!(out[1].state(), Some(OtaState::Aborted));
        // Same from the factory app: nothing stays bootable.
        let p = plan_boot(&[activated(1, None), E], 2, None).unwrap();
        assert_eq!(p.outcome, BootCheck::Recovered);
        assert_eq!(
            selected(&applied(&[activated(1, None), E], &p.writes), 2),
            None
        );
    }

    #[test]
    fn bad_layouts_and_overflow_are_errors() {
        assert_eq!(plan_boot(&[E, E], 1, Some(0)), Err(PalError::BootState));
        assert_eq!(plan_boot(&[E, E], 17, Some(0)), Err(PalError::BootState));
        assert_eq!(plan_boot(&[E, E], 2, Some(2)), Err(PalError::BootState));
        assert!(AppRollback::new(2, Some(5)).is_err());
        let top = Entry::new(u32::MAX - 1, OtaState::New);
        assert_eq!(plan_boot(&[top, E], 2, Some(1)), Err(PalError::BootState));
    }

    fn boot(f: Otadata) -> (AppRollbackBoot<Otadata>, BootCheck) {
        let mut f = f;
        let entries = otadata::read_entries(&mut f).unwrap();
        let running = selected(&entries, 2).unwrap_or(0);
        let mut b = AppRollbackBoot::new(f, 2, Some(running)).unwrap();
        let c = b.boot_check().unwrap();
        (b, c)
    }

    #[test]
    fn full_cycles_over_flash() {
        let f = Otadata::new(8192);
        // Freshly flashed: empty otadata, ota_0 runs.
        let (mut b, c) = boot(f);
        assert_eq!(c, BootCheck::Confirmed);
        assert_eq!(b.platform_state(), Ok(PlatformImageState::Valid));
        assert_eq!(b.download_slot(), Ok(1));
        b.activate(0).unwrap();
        assert_eq!(b.platform_state(), Ok(PlatformImageState::Valid));
        let f = b.into_inner();
        assert_eq!(entry_at(&f, 0).encode(), activated(2, Some(0)).encode());

        // First boot of ota_1: on trial; activation refused; commit.
        let (mut b, c) = boot(f);
        assert_eq!(c, BootCheck::Trial);
        assert_eq!(b.control().running_slot(), Some(1));
        assert_eq!(
            b.boot_check(),
            Ok(BootCheck::Trial),
            "second call: no write"
        );
        assert_eq!(b.platform_state(), Ok(PlatformImageState::PendingCommit));
        assert_eq!(b.activate(0), Err(PalError::BootState));
        b.commit().unwrap();
        assert_eq!(b.platform_state(), Ok(PlatformImageState::Valid));
        b.commit().unwrap();
        let f = b.into_inner();
        assert_eq!(entry_at(&f, 1).encode(), trial(4, Some(0)).encode());
        assert_eq!(
            entry_at(&f, 0).encode(),
            Entry::new(6, OtaState::Valid).encode()
        );
        let ops = f.ops();
        let (b, c) = boot(f);
        assert_eq!(c, BootCheck::Confirmed);
        let f = b.into_inner();
        assert_eq!(f.ops(), ops, "a committed boot writes nothing");

        // Update to ota_0, which crashes on trial: rolled back at the next boot.
        let (mut b, _) = boot(f);
        b.activate(0).unwrap();
        let (b, c) = boot(b.into_inner());
        assert_eq!(c, BootCheck::Trial);
        let (mut b, c) = boot(b.into_inner());
        assert_eq!(c, BootCheck::RolledBack);
        assert_eq!(b.control().running_slot(), Some(0));
        assert_eq!(b.platform_state(), Ok(PlatformImageState::Invalid));
        let f = b.into_inner();
        let (mut b, c) = boot(f);
        assert_eq!(
            (c, b.control().running_slot()),
            (BootCheck::Confirmed, Some(1))
        );

        // Reject on trial, then a cancelled activation.
        b.activate(0).unwrap();
        let f = b.into_inner();
        let (mut b, c) = boot(f);
        assert_eq!((c, b.control().running_slot()), (BootCheck::Trial, Some(0)));
        b.reject().unwrap();
        assert_eq!(b.platform_state(), Ok(PlatformImageState::Invalid));
        let f = b.into_inner();
        let (mut b, c) = boot(f);
        assert_eq!(
            (c, b.control().running_slot()),
            (BootCheck::Confirmed, Some(1))
        );
        b.activate(0).unwrap();
        b.cancel_activation().unwrap();
        b.cancel_activation().unwrap();
        let f = b.into_inner();
        let (b, c) = boot(f);
        assert_eq!(
            (c, b.control().running_slot()),
            (BootCheck::Confirmed, Some(1))
        );
    }

    fn any_entry() -> impl Strategy<Value = Entry> {
        let state = prop_oneof![
            Just(OtaState::New),
            Just(OtaState::PendingVerify),
            Just(OtaState::Valid),
            Just(OtaState::Invalid),
            Just(OtaState::Aborted),
            Just(OtaState::Undefined),
        ];
        let prev = proptest::option::of(0u8..4);
        prop_oneof![
            Just(Entry::ERASED),
            (1u32..12, state.clone()).prop_map(|(s, st)| Entry::new(s, st)),
            (1u32..12, prev.clone()).prop_map(|(s, p)| activated(s, p)),
            (1u32..12, prev).prop_map(|(s, p)| trial(s, p)),
            (u32::MAX - 3..u32::MAX, state).prop_map(|(s, st)| Entry::new(s, st)),
            (any::<u32>(), any::<[u8; 20]>(), any::<u32>(), any::<u32>()).prop_map(
                |(seq, label, state, crc)| Entry {
                    seq,
                    label,
                    state,
                    crc
                }
            ),
        ]
    }

    proptest! {
        /// Any otadata: no panic, and every prefix of the plan's writes, each write either done
        /// or cut with its sector erased, boots the image before the plan or the one after it.
        #[test]
        fn every_cut_boots_the_before_or_after_image(
            a in any_entry(),
            b in any_entry(),
            (count, running) in (2u8..5).prop_flat_map(|n| (Just(n), proptest::option::weighted(0.9, 0..n))),
        ) {
            let entries = [a, b];
            let Ok(plan) = plan_boot(&entries, count, running) else { return Ok(()) };
            let before = selected(&entries, count);
            let after = applied(&entries, &plan.writes);
            let end = selected(&after, count);
            let mut state = entries;
            for x in plan.writes.iter().flatten() {
                let mut cut = state;
                cut[x.sector] = Entry::ERASED;
                let s = selected(&cut, count);
                prop_assert!(s == before || s == end, "cut {x:?}: {s:?} not {before:?}/{end:?}");
                state[x.sector] = x.entry;
                let s = selected(&state, count);
                prop_assert!(s == before || s == end);
            }
            match plan.outcome {
                BootCheck::Trial if plan.writes[0].is_some() => {
                    prop_assert_eq!(end, running);
                    let i = otadata::active(&after).unwrap();
                    prop_assert_eq!(after[i].state(), Some(OtaState::PendingVerify));
                    // The next boot without a commit rolls it back (unless the sequence
                    // number runs out, an error).
                    let next = plan_boot(&after, count, running).map(|p| p.outcome);
                    prop_assert!(matches!(next, Ok(BootCheck::RolledBack) | Err(PalError::BootState)));
                    prop_assert!(next.is_ok() || after[i].seq > u32::MAX - 8);
                }
                BootCheck::RolledBack => {
                    prop_assert_ne!(end, running);
                    prop_assert_eq!(plan_boot(&after, count, end).map(|p| p.outcome), Ok(BootCheck::Confirmed));
                }
                BootCheck::Recovered => prop_assert_eq!(end, running),
                _ => prop_assert_eq!(plan.writes, [None, None]),
            }
        }
    }
}
