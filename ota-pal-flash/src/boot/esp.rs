//! Boot control through the ESP-IDF otadata scheme on ESP32-C3 (feature `esp32c3`), with
//! `esp-bootloader-esp-idf`'s [`OtaUpdater`] over `esp-storage`'s flash.
//!
//! The partition table must have an `otadata` partition and at least two OTA app slots
//! (`ota_0`, `ota_1`), and the ESP-IDF 2nd stage bootloader must be built with
//! `CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE` for trial boots and automatic rollback (without it,
//! an activated image stays `NEW` and is never reverted).
//!
//! The download slot is the OTA app partition after the selected one
//! ([`EspIdfBoot::download_partition`]); give the [`Platform`](crate::Platform) a
//! [`Partition`](crate::Partition) of the same [`RefCell`]-shared flash for it, and another
//! one (a `data` partition of your table, two sectors or more) for the journal.
//!
//! | otadata state of the running slot | [`PlatformImageState`] |
//! |---|---|
//! | `NEW`, `PENDING_VERIFY` | `PendingCommit` |
//! | `VALID`, `UNDEFINED`, factory app, or the running slot is not the selected one (rolled back, or activated and waiting for the reset) | `Valid` |
//! | `INVALID`, `ABORTED`, or rejected in this session | `Invalid` |

use core::cell::RefCell;

use esp_bootloader_esp_idf::ota::OtaImageState;
use esp_bootloader_esp_idf::ota_updater::OtaUpdater;
use esp_bootloader_esp_idf::partitions::{
    self, AppPartitionSubType, Error as PartError, FlashStorage, PARTITION_TABLE_MAX_LEN,
    PartitionType,
};
use ota_core::{PalError, PlatformImageState};

use super::BootControl;

fn boot_err(_: PartError) -> PalError {
    PalError::BootState
}

/// [`BootControl`] over the ESP-IDF otadata partition.
pub struct EspIdfBoot<'a, 'd> {
    flash: &'a RefCell<FlashStorage<'d>>,
    table: [u8; PARTITION_TABLE_MAX_LEN],
    activated: bool,
    rejected: bool,
}

impl<'a, 'd> EspIdfBoot<'a, 'd> {
    /// Boot control over the chip's flash, shared with the download-slot and journal
    /// [`Partition`](crate::Partition)s.
    pub fn new(flash: &'a RefCell<FlashStorage<'d>>) -> Self {
        Self {
            flash,
            table: [0; PARTITION_TABLE_MAX_LEN],
            activated: false,
            rejected: false,
        }
    }

    fn with_updater<R>(
        &mut self,
        f: impl FnOnce(&mut OtaUpdater<'_, 'd>) -> Result<R, PartError>,
    ) -> Result<R, PalError> {
        let mut flash = self
            .flash
            .try_borrow_mut()
            .map_err(|_| PalError::BootState)?;
        let mut updater = OtaUpdater::new(&mut flash, &mut self.table).map_err(boot_err)?;
        f(&mut updater).map_err(boot_err)
    }

    /// Offset and length of the app partition the next image goes to.
    ///
    /// # Errors
    /// [`PalError::BootState`] when the partition table or otadata cannot be used.
    pub fn download_partition(&mut self) -> Result<(u32, u32), PalError> {
        let next = self.with_updater(|u| u.next_partition().map(|(_, sub)| sub))?;
        self.app_partition(next)
    }

    fn app_partition(&mut self, sub: AppPartitionSubType) -> Result<(u32, u32), PalError> {
        let mut flash = self
            .flash
            .try_borrow_mut()
            .map_err(|_| PalError::BootState)?;
        let pt = partitions::read_partition_table(&mut flash, &mut self.table).map_err(boot_err)?;
        let entry = pt
            .find_partition(PartitionType::App(sub))
            .map_err(boot_err)?
            .ok_or(PalError::BootState)?;
        Ok((entry.offset(), entry.len()))
    }

    /// Whether the running app is the one otadata selects.
    fn running_is_selected(&mut self) -> Result<bool, PalError> {
        let selected = self.with_updater(|u| u.selected_partition())?;
        let mut flash = self
            .flash
            .try_borrow_mut()
            .map_err(|_| PalError::BootState)?;
        let pt = partitions::read_partition_table(&mut flash, &mut self.table).map_err(boot_err)?;
        let booted = pt.booted_partition().map_err(boot_err)?;
        Ok(booted.is_some_and(|p| p.partition_type() == PartitionType::App(selected)))
    }
}

impl BootControl for EspIdfBoot<'_, '_> {
    fn platform_state(&mut self) -> Result<PlatformImageState, PalError> {
        if self.rejected {
            return Ok(PlatformImageState::Invalid);
        }
        if self.activated || !self.running_is_selected()? {
            return Ok(PlatformImageState::Valid);
        }
        let state = {
            let mut flash = self
                .flash
                .try_borrow_mut()
                .map_err(|_| PalError::BootState)?;
            let mut updater = OtaUpdater::new(&mut flash, &mut self.table).map_err(boot_err)?;
            updater.current_ota_state()
        };
        Ok(match state {
            Ok(OtaImageState::New | OtaImageState::PendingVerify) => {
                PlatformImageState::PendingCommit
            }
            Ok(OtaImageState::Invalid | OtaImageState::Aborted) => PlatformImageState::Invalid,
            // Valid, Undefined, or no OTA slot selected yet (factory app).
            _ => PlatformImageState::Valid,
        })
    }

    fn activate(&mut self, _len: u32) -> Result<(), PalError> {
        if self.platform_state()? == PlatformImageState::PendingCommit {
            return Err(PalError::BootState);
        }
        self.with_updater(|u| {
            u.activate_next_partition()?;
            u.set_current_ota_state(OtaImageState::New)
        })?;
        self.activated = true;
        Ok(())
    }

    fn cancel_activation(&mut self) -> Result<(), PalError> {
        if self.activated {
            self.with_updater(|u| u.set_current_ota_state(OtaImageState::Invalid))?;
            self.activated = false;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), PalError> {
        if self.platform_state()? == PlatformImageState::PendingCommit {
            self.with_updater(|u| u.set_current_ota_state(OtaImageState::Valid))?;
        }
        Ok(())
    }

    fn reject(&mut self) -> Result<(), PalError> {
        if self.platform_state()? == PlatformImageState::PendingCommit {
            self.with_updater(|u| u.set_current_ota_state(OtaImageState::Invalid))?;
            self.rejected = true;
        }
        Ok(())
    }
}
