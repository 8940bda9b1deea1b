//! The flash and bootloader side of the task: anything that executes the agent's file and
//! image actions, [`ota_pal_flash::Platform`] (blocking flash) and
//! [`ota_pal_flash::AsyncPlatform`] (async flash) in particular.

use ota_core::{Action, BootInfo, PalError};
use ota_pal_flash::boot::BootControl;
use ota_pal_flash::{AsyncPlatform, Outcome, Platform};

/// Executes the agent's platform actions (see [`ota_pal_flash::Outcome`] for the answers).
///
/// Implemented for both of ota-pal-flash's platforms; a board with other storage implements
/// it itself (or wraps ota-pal-flash's).
#[allow(async_fn_in_trait)]
pub trait OtaPlatform {
    /// The running image's state and the last resume record (copied into `record_buf`), for
    /// `Input::Start`.
    async fn boot_info<'b>(&mut self, record_buf: &'b mut [u8]) -> Result<BootInfo<'b>, PalError>;

    /// Executes one action; `read_buf` (the agent's block size) receives `FileRead` data.
    async fn execute<'b>(&mut self, action: &Action<'_>, read_buf: &'b mut [u8]) -> Outcome<'b>;
}

impl<S, J, B, const SW: usize, const JN: usize> OtaPlatform for Platform<S, J, B, SW, JN>
where
    S: embedded_storage::nor_flash::NorFlash,
    J: embedded_storage::nor_flash::NorFlash,
    B: BootControl,
{
    async fn boot_info<'b>(&mut self, record_buf: &'b mut [u8]) -> Result<BootInfo<'b>, PalError> {
        Platform::boot_info(self, record_buf)
    }

    async fn execute<'b>(&mut self, action: &Action<'_>, read_buf: &'b mut [u8]) -> Outcome<'b> {
        Platform::execute(self, action, read_buf)
    }
}

impl<S, J, B, const SW: usize, const JN: usize> OtaPlatform for AsyncPlatform<S, J, B, SW, JN>
where
    S: embedded_storage_async::nor_flash::NorFlash,
    J: embedded_storage_async::nor_flash::NorFlash,
    B: BootControl,
{
    async fn boot_info<'b>(&mut self, record_buf: &'b mut [u8]) -> Result<BootInfo<'b>, PalError> {
        AsyncPlatform::boot_info(self, record_buf).await
    }

    async fn execute<'b>(&mut self, action: &Action<'_>, read_buf: &'b mut [u8]) -> Outcome<'b> {
        AsyncPlatform::execute(self, action, read_buf).await
    }
}

impl<T: OtaPlatform + ?Sized> OtaPlatform for &mut T {
    async fn boot_info<'b>(&mut self, record_buf: &'b mut [u8]) -> Result<BootInfo<'b>, PalError> {
        (**self).boot_info(record_buf).await
    }

    async fn execute<'b>(&mut self, action: &Action<'_>, read_buf: &'b mut [u8]) -> Outcome<'b> {
        (**self).execute(action, read_buf).await
    }
}
