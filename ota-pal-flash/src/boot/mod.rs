//! Boot control: the hand-over between the application and its bootloader.
//!
//! One trait, [`BootControl`], with three implementations:
//!
//! | impl | feature | bootloader | scheme |
//! |---|---|---|---|
//! | `EmbassyBoot` | `embassy-boot` (`nrf52840`) | embassy-boot | DFU partition swapped into ACTIVE page by page; state partition magic (`mark_updated`, `mark_booted`); revert when not marked booted |
//! | `EspIdfBoot` | `esp32c3` | ESP-IDF 2nd stage | `ota_0`/`ota_1` app slots selected by the otadata partition ([`otadata`]), image states new / pending-verify / valid / invalid / aborted |
//! | `SimBoot` + `SimBootloader` | `std` | simulated A/B | otadata-style selection over any [`NorFlash`](embedded_storage::nor_flash::NorFlash): swap on activate, revert if not confirmed after a trial boot, trial-boot count |
//!
//! The platform never writes the download slot while the running image is on trial
//! ([`PlatformImageState::PendingCommit`]): on every scheme above the slot then holds the image
//! to roll back to.

use ota_core::{PalError, PlatformImageState};

pub mod otadata;

pub mod app_rollback;

#[cfg(feature = "std")]
pub mod sim;

#[cfg(feature = "embassy-boot")]
pub mod embassy;

#[cfg(feature = "esp32c3")]
pub mod esp;

/// The application side of a bootloader: what the platform needs to report the running image's
/// state, hand a verified image over, and commit or reject the image on trial.
///
/// Implementations are blocking: state updates are a few small flash writes, done rarely.
pub trait BootControl {
    /// The running image's state: [`PlatformImageState::PendingCommit`] when it runs on trial
    /// (the next reset reverts it unless committed), [`PlatformImageState::Valid`] when it is
    /// committed (or the factory image, or the image the bootloader reverted to),
    /// [`PlatformImageState::Invalid`] when it was rejected and waits for the reset.
    fn platform_state(&mut self) -> Result<PlatformImageState, PalError>;

    /// The largest image this bootloader can install from the download slot, if smaller than
    /// the slot (embassy-boot: the ACTIVE partition; the DFU partition has a spare page).
    fn max_image_len(&self) -> Option<u32> {
        None
    }

    /// Makes the verified image of `len` bytes in the download slot the next to boot, on trial.
    /// The device resets right after.
    fn activate(&mut self, len: u32) -> Result<(), PalError>;

    /// Undoes [`Self::activate`] before the reset: the running image stays the one to boot.
    fn cancel_activation(&mut self) -> Result<(), PalError>;

    /// Commits the running image (on trial): the bootloader keeps it from now on.
    fn commit(&mut self) -> Result<(), PalError>;

    /// Rejects the running image (on trial): the next reset boots the previous one.
    fn reject(&mut self) -> Result<(), PalError>;

    /// Called right before the platform asks the runtime to reset the device. Nothing by
    /// default; an implementation that can reset the chip itself may do it here.
    fn before_reset(&mut self) {}
}

impl<T: BootControl + ?Sized> BootControl for &mut T {
    fn platform_state(&mut self) -> Result<PlatformImageState, PalError> {
        (**self).platform_state()
    }
    fn max_image_len(&self) -> Option<u32> {
        (**self).max_image_len()
    }
    fn activate(&mut self, len: u32) -> Result<(), PalError> {
        (**self).activate(len)
    }
    fn cancel_activation(&mut self) -> Result<(), PalError> {
        (**self).cancel_activation()
    }
    fn commit(&mut self) -> Result<(), PalError> {
        (**self).commit()
    }
    fn reject(&mut self) -> Result<(), PalError> {
        (**self).reject()
    }
    fn before_reset(&mut self) {
        (**self).before_reset()
    }
}
