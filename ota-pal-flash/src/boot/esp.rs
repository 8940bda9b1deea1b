//! Boot control through the ESP-IDF otadata scheme on ESP32-C3 (feature `esp32c3`), over
//! `esp-storage`'s flash.
//!
//! The partition table must have an `otadata` partition and at least two OTA app slots
//! (`ota_0`, `ota_1`). Two modes, chosen by the bootloader the device has:
//!
//! * **Bootloader rollback** ([`EspIdfBoot::new`]): for an ESP-IDF 2nd stage bootloader built
//!   with `CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE`, which turns `NEW` into `PENDING_VERIFY` on the
//!   first boot of an image and aborts it at the next boot unless it confirmed itself. Writes go
//!   through `esp-bootloader-esp-idf`'s [`OtaUpdater`]. Without such a bootloader an activated
//!   image stays `NEW` and is never reverted.
//! * **Application rollback** ([`EspIdfBoot::with_app_rollback`]): for a bootloader built
//!   **without** rollback support, such as the one espflash bundles. The application does the
//!   bootloader's part in [`EspIdfBoot::boot_check`], called once at start before the agent
//!   (see [`super::app_rollback`] for the decision table and the power-cut argument); every
//!   otadata access goes through this crate's [`otadata`](super::otadata) codec, one whole
//!   entry at a time into the sector not in force. Use it only with a bootloader without
//!   rollback support: from otadata alone the two bootloaders look the same until an image
//!   is booted. Not available with flash encryption (the otadata partition is then
//!   encrypted; every call fails with [`PalError::BootState`]).
//!
//! The download slot is the OTA app partition after the running one
//! ([`EspIdfBoot::download_partition`]); give the [`Platform`](crate::Platform) a
//! [`Partition`](crate::Partition) of the same [`RefCell`]-shared flash for it, and another
//! one (a `data` partition of your table, two sectors or more) for the journal.
//!
//! | otadata state of the running slot | [`PlatformImageState`] |
//! |---|---|
//! | `NEW`, `PENDING_VERIFY` | `PendingCommit` |
//! | `VALID`, `UNDEFINED`, factory app, or the running slot is not the selected one (rolled back, or activated and waiting for the reset) | `Valid` |
//! | `INVALID`, `ABORTED`, or rejected (or rolled back by [`EspIdfBoot::boot_check`]) in this session | `Invalid` |
//!
//! ```ignore
//! let flash = &*FLASH.init(RefCell::new(FlashStorage::new(p.FLASH)));
//! let mut boot = EspIdfBoot::new(flash).with_app_rollback(); // espflash's bootloader
//! if boot.boot_check()?.reset_required() {
//!     esp_hal::system::software_reset(); // the previous image boots
//! }
//! let (offset, len) = boot.download_partition()?;
//! ```

use core::cell::RefCell;

use esp_bootloader_esp_idf::ota::OtaImageState;
use esp_bootloader_esp_idf::ota_updater::OtaUpdater;
use esp_bootloader_esp_idf::partitions::{
    self, AppPartitionSubType, DataPartitionSubType, Error as PartError, FlashStorage,
    NorFlashRegion, PARTITION_TABLE_MAX_LEN, PartitionEntry, PartitionType,
};
use ota_core::{PalError, PlatformImageState};

use super::BootControl;
use super::app_rollback::{AppRollback, BootCheck};
use super::otadata::OTADATA_LEN;

fn boot_err(_: PartError) -> PalError {
    PalError::BootState
}

/// The raw subtype of OTA app slot 0 (`ota_N` is `0x10 + N`).
const OTA_SUBTYPE_0: u8 = 0x10;

/// The OTA slot number of an `ota_N` app partition.
fn ota_slot(p: &PartitionEntry) -> Option<u8> {
    let sub = p.raw_subtype();
    (p.raw_type() == 0 && (OTA_SUBTYPE_0..OTA_SUBTYPE_0 + 16).contains(&sub))
        .then(|| sub - OTA_SUBTYPE_0)
}

/// Application-rollback state, set up on first use from the partition table.
struct AppSide {
    otadata: PartitionEntry,
    ctl: AppRollback,
}

/// [`BootControl`] over the ESP-IDF otadata partition.
pub struct EspIdfBoot<'a, 'd> {
    flash: &'a RefCell<FlashStorage<'d>>,
    table: [u8; PARTITION_TABLE_MAX_LEN],
    activated: bool,
    rejected: bool,
    app_rollback: bool,
    app: Option<AppSide>,
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
            app_rollback: false,
            app: None,
        }
    }

    /// Application-level rollback, for a 2nd stage bootloader built **without**
    /// `CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE` (espflash's bundled one): call
    /// [`Self::boot_check`] once at start, before the agent, and reset when it says so.
    ///
    /// Use it only with such a bootloader. A rollback-enabled bootloader does the same job
    /// itself and the two cannot be told apart from otadata before an image boots; the
    /// [boot check](super::app_rollback) leaves a `PENDING_VERIFY` it did not write to the
    /// bootloader, so a mix-up does not roll back healthy images, but the default mode is the
    /// one for rollback-enabled bootloaders. Not available with flash encryption.
    pub fn with_app_rollback(mut self) -> Self {
        self.app_rollback = true;
        self
    }

    /// Whether [`Self::with_app_rollback`] is on.
    pub fn app_rollback(&self) -> bool {
        self.app_rollback
    }

    /// The boot-time check. With [application rollback](Self::with_app_rollback): the
    /// decision of [`super::app_rollback`] (`NEW` becomes `PENDING_VERIFY` and the image runs on
    /// trial; a `PENDING_VERIFY` found at boot is rolled back to the previous image and
    /// [`BootCheck::RolledBack`] asks for a reset). Call it once, first thing after the chip's
    /// init, before the agent: an image that fails before this call is never rolled back.
    /// Without it (bootloader rollback): reads the state only, [`BootCheck::Trial`] or
    /// [`BootCheck::Confirmed`], and writes nothing.
    ///
    /// # Errors
    /// [`PalError::BootState`] when the partition table or otadata cannot be used.
    pub fn boot_check(&mut self) -> Result<BootCheck, PalError> {
        if self.app_rollback {
            return self.with_otadata(|ctl, f| ctl.boot_check(f));
        }
        Ok(match self.platform_state()? {
            PlatformImageState::PendingCommit => BootCheck::Trial,
            _ => BootCheck::Confirmed,
        })
    }

    /// Reads the partition table once: the otadata partition, the number of OTA app slots and
    /// the running slot.
    fn app_side(&mut self) -> Result<&mut AppSide, PalError> {
        if self.app.is_none() {
            let mut flash = self
                .flash
                .try_borrow_mut()
                .map_err(|_| PalError::BootState)?;
            let pt =
                partitions::read_partition_table(&mut flash, &mut self.table).map_err(boot_err)?;
            let otadata = pt
                .find_partition(PartitionType::Data(DataPartitionSubType::Ota))
                .map_err(boot_err)?
                .ok_or(PalError::BootState)?;
            if otadata.len() < OTADATA_LEN {
                return Err(PalError::BootState);
            }
            let count = pt.iter().filter(|p| ota_slot(p).is_some()).count();
            let count = u8::try_from(count).map_err(|_| PalError::BootState)?;
            let booted = pt
                .booted_partition()
                .map_err(boot_err)?
                .ok_or(PalError::BootState)?;
            let running = match (ota_slot(&booted), booted.partition_type()) {
                (Some(slot), _) => Some(slot),
                (None, PartitionType::App(_)) => None, // factory (or test) app
                (None, _) => return Err(PalError::BootState),
            };
            let ctl = AppRollback::new(count, running)?;
            self.app = Some(AppSide { otadata, ctl });
        }
        self.app.as_mut().ok_or(PalError::BootState)
    }

    /// Runs `f` over the otadata partition as a [`NorFlash`](embedded_storage::nor_flash::NorFlash)
    /// (application rollback).
    fn with_otadata<R>(
        &mut self,
        f: impl FnOnce(&mut AppRollback, &mut NorFlashRegion<'_, '_, 'd>) -> Result<R, PalError>,
    ) -> Result<R, PalError> {
        let flash = self.flash;
        let side = self.app_side()?;
        let mut flash = flash.try_borrow_mut().map_err(|_| PalError::BootState)?;
        let mut region = side.otadata.as_flash_region(&mut flash);
        let mut nor = region.as_nor_flash().map_err(boot_err)?;
        f(&mut side.ctl, &mut nor)
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
        let next = if self.app_rollback {
            let slot = self.with_otadata(|ctl, f| ctl.download_slot(f))?;
            AppPartitionSubType::try_from(OTA_SUBTYPE_0 + slot).map_err(boot_err)?
        } else {
            self.with_updater(|u| u.next_partition().map(|(_, sub)| sub))?
        };
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
        if self.app_rollback {
            return self.with_otadata(|ctl, f| ctl.platform_state(f));
        }
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
        if self.app_rollback {
            return self.with_otadata(|ctl, f| ctl.activate(f));
        }
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
        if self.app_rollback {
            return self.with_otadata(|ctl, f| ctl.cancel_activation(f));
        }
        if self.activated {
            self.with_updater(|u| u.set_current_ota_state(OtaImageState::Invalid))?;
            self.activated = false;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), PalError> {
        if self.app_rollback {
            return self.with_otadata(|ctl, f| ctl.commit(f));
        }
        if self.platform_state()? == PlatformImageState::PendingCommit {
            self.with_updater(|u| u.set_current_ota_state(OtaImageState::Valid))?;
        }
        Ok(())
    }

    fn reject(&mut self) -> Result<(), PalError> {
        if self.app_rollback {
            return self.with_otadata(|ctl, f| ctl.reject(f));
        }
        if self.platform_state()? == PlatformImageState::PendingCommit {
            self.with_updater(|u| u.set_current_ota_state(OtaImageState::Invalid))?;
            self.rejected = true;
        }
        Ok(())
    }
}
