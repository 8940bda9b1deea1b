//! Boot control through embassy-boot's state partition (feature `embassy-boot`, enabled by
//! `nrf52840`), for nRF52840 and every other embassy-boot target.
//!
//! The download slot of the [`Platform`](crate::Platform) is embassy-boot's DFU partition; this
//! type owns the BOOTLOADER_STATE partition through embassy-boot's own
//! [`BlockingFirmwareState`]. On the next reset embassy-boot's bootloader swaps DFU and ACTIVE
//! page by page (resumable after a power cut), runs the new image with the state still `Swap`,
//! and swaps back (state `Revert`) at the following reset unless the image called
//! `mark_booted`.
//!
//! | embassy-boot state | running image | [`PlatformImageState`] |
//! |---|---|---|
//! | `Boot` | committed | `Valid` |
//! | `Swap` after a reset | new image on trial | `PendingCommit` |
//! | `Swap` set in this session ([`BootControl::activate`]) | old image, update pending | `Valid` |
//! | `Revert` | the old image, restored | `Valid` |
//! | any, after [`BootControl::reject`] | rejected trial image | `Invalid` |
//!
//! `reject` writes nothing: embassy-boot reverts an image that did not mark itself booted, at
//! the reset that follows. The image size is limited to the ACTIVE partition (the DFU
//! partition is one page larger for the swap).

use embassy_boot::{BlockingFirmwareState, FirmwareUpdaterError, State};
use embedded_storage::nor_flash::NorFlash;
use ota_core::{PalError, PlatformImageState};

use super::BootControl;
use crate::error::SetupError;

fn boot_err(_: FirmwareUpdaterError) -> PalError {
    PalError::BootState
}

/// [`BootControl`] over embassy-boot's state partition.
pub struct EmbassyBoot<'d, STATE: NorFlash> {
    state: BlockingFirmwareState<'d, STATE>,
    active_len: u32,
    activated: bool,
    rejected: bool,
}

impl<'d, STATE: NorFlash> EmbassyBoot<'d, STATE> {
    /// Boot control over the BOOTLOADER_STATE partition `state`. `aligned` is embassy-boot's
    /// scratch word: exactly `STATE::WRITE_SIZE` bytes, aligned as the flash needs
    /// (`embassy_boot::AlignedBuffer`). `active_len` is the size of the ACTIVE partition, the
    /// largest image the bootloader can swap in.
    ///
    /// # Errors
    /// [`SetupError::WordSize`] when `aligned` is not `STATE::WRITE_SIZE` bytes long.
    pub fn new(state: STATE, aligned: &'d mut [u8], active_len: u32) -> Result<Self, SetupError> {
        if aligned.len() != STATE::WRITE_SIZE {
            return Err(SetupError::WordSize);
        }
        Ok(Self {
            state: BlockingFirmwareState::new(state, aligned),
            active_len,
            activated: false,
            rejected: false,
        })
    }

    /// embassy-boot's raw state.
    ///
    /// # Errors
    /// [`PalError::BootState`] when the state partition cannot be read.
    pub fn state(&mut self) -> Result<State, PalError> {
        self.state.get_state().map_err(boot_err)
    }
}

impl<STATE: NorFlash> BootControl for EmbassyBoot<'_, STATE> {
    fn platform_state(&mut self) -> Result<PlatformImageState, PalError> {
        if self.rejected {
            return Ok(PlatformImageState::Invalid);
        }
        Ok(match self.state()? {
            State::Swap if !self.activated => PlatformImageState::PendingCommit,
            _ => PlatformImageState::Valid,
        })
    }

    fn max_image_len(&self) -> Option<u32> {
        Some(self.active_len)
    }

    fn activate(&mut self, len: u32) -> Result<(), PalError> {
        if len > self.active_len {
            return Err(PalError::TooLarge);
        }
        if self.platform_state()? == PlatformImageState::PendingCommit {
            return Err(PalError::BootState);
        }
        self.state.mark_updated().map_err(boot_err)?;
        self.activated = true;
        Ok(())
    }

    fn cancel_activation(&mut self) -> Result<(), PalError> {
        if self.activated {
            self.state.mark_booted().map_err(boot_err)?;
            self.activated = false;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), PalError> {
        if self.platform_state()? == PlatformImageState::PendingCommit {
            self.state.mark_booted().map_err(boot_err)?;
        }
        Ok(())
    }

    fn reject(&mut self) -> Result<(), PalError> {
        if self.platform_state()? == PlatformImageState::PendingCommit {
            self.rejected = true;
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::mock::MockFlash;

    #[test]
    fn states_map_and_commit_marks_booted() {
        let mut word = embassy_boot::AlignedBuffer([0u8; 4]);
        assert!(matches!(
            EmbassyBoot::new(MockFlash::<4, 4096>::new(4096), &mut [0u8; 8], 8192),
            Err(SetupError::WordSize)
        ));
        let mut state = MockFlash::<4, 4096>::new(4096);
        // A swapped, not yet booted image: the SWAP magic in the first word.
        state.as_bytes_mut()[..4].fill(0xF0);
        let mut b = EmbassyBoot::new(state, &mut word.0, 8192).unwrap();
        assert_eq!(b.max_image_len(), Some(8192));
        assert_eq!(b.state(), Ok(State::Swap));
        assert_eq!(b.platform_state(), Ok(PlatformImageState::PendingCommit));
        assert_eq!(b.activate(100), Err(PalError::BootState));
        b.commit().unwrap();
        assert_eq!(b.state(), Ok(State::Boot));
        assert_eq!(b.platform_state(), Ok(PlatformImageState::Valid));
        assert_eq!(b.activate(9000), Err(PalError::TooLarge));
        b.activate(100).unwrap();
        assert_eq!(b.state(), Ok(State::Swap));
        assert_eq!(
            b.platform_state(),
            Ok(PlatformImageState::Valid),
            "old image until reset"
        );
        b.cancel_activation().unwrap();
        assert_eq!(b.state(), Ok(State::Boot));
    }
}
