//! Host support (feature `std`): file-backed flash and a simulated device that boots from its
//! files through the simulated A/B bootloader ([`crate::boot::sim`]).
//!
//! A [`SimDevice`] is a directory of partition files:
//!
//! | file | size | content |
//! |---|---|---|
//! | `otadata.bin` | 8 KiB | ESP-IDF-format otadata: which slot boots, image states |
//! | `slot0.bin`, `slot1.bin` | `slot_len` | the two image slots (A/B) |
//! | `journal.bin` | `journal_len` | the resume journal |
//!
//! [`SimDevice::power_on`] runs the bootloader over `otadata.bin` and returns the booted slot
//! and a [`HostPlatform`] whose download slot is the other slot. A reset is: drop the platform,
//! call `power_on` again. Nothing but the files carries over, exactly as in a power cycle.

mod file_flash;

use std::io;
use std::path::{Path, PathBuf};

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use ota_core::PalError;

pub use file_flash::{FileFlash, FileFlashError};

use crate::boot::otadata::OTADATA_LEN;
use crate::boot::sim::{Booted, SimBoot, SimBootloader};
use crate::error::pal_error;
use crate::platform::{Config, Platform};

/// The flash type of the simulated device's partitions (4-byte words, 4 KiB sectors, like
/// nRF52840 and ESP32-C3 internal flash).
pub type HostFlash = FileFlash<4, 4096>;

/// The platform of a simulated device.
pub type HostPlatform = Platform<HostFlash, HostFlash, SimBoot<HostFlash>>;

/// Sizes of a simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimDeviceConfig {
    /// Size of each image slot (multiple of 4 KiB).
    pub slot_len: u32,
    /// Size of the journal (multiple of 4 KiB, at least 8 KiB).
    pub journal_len: u32,
    /// The bootloader's settings.
    pub bootloader: SimBootloader,
    /// The platform's settings.
    pub platform: Config,
}

impl Default for SimDeviceConfig {
    /// 1 MiB slots, 16 KiB journal, one trial boot.
    fn default() -> Self {
        Self {
            slot_len: 1 << 20,
            journal_len: 16 << 10,
            bootloader: SimBootloader::default(),
            platform: Config::new(),
        }
    }
}

impl SimDeviceConfig {
    /// Settings with these slot and journal sizes.
    pub fn new(slot_len: u32, journal_len: u32) -> Self {
        Self {
            slot_len,
            journal_len,
            ..Self::default()
        }
    }

    /// With these bootloader settings.
    pub fn with_bootloader(mut self, bootloader: SimBootloader) -> Self {
        self.bootloader = bootloader;
        self
    }

    /// With these platform settings.
    pub fn with_platform(mut self, platform: Config) -> Self {
        self.platform = platform;
        self
    }
}

/// A simulated device: partition files in a directory.
#[derive(Debug, Clone)]
pub struct SimDevice {
    dir: PathBuf,
    config: SimDeviceConfig,
}

impl SimDevice {
    /// Opens the device in `dir`, creating the directory and erased partition files as needed.
    ///
    /// # Errors
    /// I/O errors, or sizes that are not multiples of 4 KiB.
    pub fn open(dir: impl AsRef<Path>, config: SimDeviceConfig) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let dev = Self { dir, config };
        dev.otadata()?;
        dev.slot(0)?;
        dev.slot(1)?;
        dev.journal()?;
        Ok(dev)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings.
    pub fn config(&self) -> &SimDeviceConfig {
        &self.config
    }

    fn otadata(&self) -> io::Result<HostFlash> {
        HostFlash::open(self.dir.join("otadata.bin"), OTADATA_LEN)
    }

    fn journal(&self) -> io::Result<HostFlash> {
        HostFlash::open(self.dir.join("journal.bin"), self.config.journal_len)
    }

    /// Opens image slot `n` (0 or 1) as a flash.
    ///
    /// # Errors
    /// I/O errors; [`io::ErrorKind::InvalidInput`] for a slot other than 0 or 1.
    pub fn slot(&self, n: u8) -> io::Result<HostFlash> {
        if n > 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "slot is 0 or 1",
            ));
        }
        HostFlash::open(
            self.dir.join(std::format!("slot{n}.bin")),
            self.config.slot_len,
        )
    }

    /// Makes a factory-fresh device running `image` from slot 0: slot 0 holds the image, the
    /// otadata, slot 1 and the journal are erased.
    ///
    /// # Errors
    /// [`PalError::TooLarge`] if the image does not fit a slot; flash errors.
    pub fn install_factory(&self, image: &[u8]) -> Result<(), PalError> {
        if image.len() > self.config.slot_len as usize {
            return Err(PalError::TooLarge);
        }
        let io_err = |_| PalError::Flash;
        for mut f in [self.slot(0).map_err(io_err)?, self.slot(1).map_err(io_err)?] {
            let cap = f.capacity() as u32;
            f.erase(0, cap).map_err(pal_error)?;
        }
        let mut ota = self.otadata().map_err(io_err)?;
        ota.erase(0, OTADATA_LEN).map_err(pal_error)?;
        let mut j = self.journal().map_err(io_err)?;
        let cap = j.capacity() as u32;
        j.erase(0, cap).map_err(pal_error)?;
        let mut s0 = self.slot(0).map_err(io_err)?;
        let whole = image.len() / 4 * 4;
        s0.write(0, &image[..whole]).map_err(pal_error)?;
        if whole < image.len() {
            let mut last = [0xFFu8; 4];
            last[..image.len() - whole].copy_from_slice(&image[whole..]);
            s0.write(whole as u32, &last).map_err(pal_error)?;
        }
        Ok(())
    }

    /// Powers the device on: runs the bootloader over the otadata file and returns what booted
    /// and the platform for the running image (download slot = the other slot).
    ///
    /// # Errors
    /// [`PalError::BootState`] when the otadata cannot be used; [`PalError::Flash`] on I/O
    /// errors; [`PalError::Other`] when the platform settings do not fit the sizes.
    pub fn power_on(&self) -> Result<(Booted, HostPlatform), PalError> {
        let io_err = |_| PalError::Flash;
        let mut otadata = self.otadata().map_err(io_err)?;
        let booted = self.config.bootloader.boot(&mut otadata)?;
        let boot = SimBoot::new(otadata, booted.slot);
        let slot = self.slot(boot.download_slot()).map_err(io_err)?;
        let journal = self.journal().map_err(io_err)?;
        let platform = Platform::new(slot, journal, boot, self.config.platform)
            .map_err(|_| PalError::Other(crate::error::OUT_OF_MEMORY))?;
        Ok((booted, platform))
    }

    /// Reads bytes of image slot `slot` (what a simulated device "runs").
    ///
    /// # Errors
    /// I/O errors and out-of-range reads.
    pub fn read_slot(&self, slot: u8, offset: u32, buf: &mut [u8]) -> io::Result<()> {
        self.slot(slot)?
            .read(offset, buf)
            .map_err(|e| io::Error::other(std::format!("{e}")))
    }
}
