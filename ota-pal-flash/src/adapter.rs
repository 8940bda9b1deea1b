//! Flash adapters: a blocking flash seen through the async traits, and a partition view of a
//! flash shared through a [`RefCell`].

use core::cell::RefCell;
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// A blocking [`NorFlash`] seen through `embedded-storage-async`'s traits. Every future it returns
/// is ready on its first poll, so `embassy_futures::block_on` runs it without spinning.
///
/// The blocking [`crate::Platform`] uses it to share one implementation with
/// [`crate::AsyncPlatform`].
#[derive(Debug)]
pub struct BlockingAsync<F>(pub F);

impl<F> BlockingAsync<F> {
    /// The wrapped flash.
    pub fn inner(&mut self) -> &mut F {
        &mut self.0
    }
}

impl<F: ErrorType> embedded_storage_async::nor_flash::ErrorType for BlockingAsync<F> {
    type Error = F::Error;
}

impl<F: ReadNorFlash> embedded_storage_async::nor_flash::ReadNorFlash for BlockingAsync<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<F: NorFlash> embedded_storage_async::nor_flash::NorFlash for BlockingAsync<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.erase(from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.0.write(offset, bytes)
    }
}

/// Errors of a [`Partition`]: the flash's own, an access outside the partition, or the flash
/// already borrowed (a re-entrant use, which is a caller bug).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PartitionError<E> {
    /// The underlying flash failed.
    Flash(E),
    /// The access does not fit in the partition.
    OutOfBounds,
    /// The flash was already borrowed.
    Busy,
}

impl<E: NorFlashError> NorFlashError for PartitionError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            PartitionError::Flash(e) => e.kind(),
            PartitionError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            PartitionError::Busy => NorFlashErrorKind::Other,
        }
    }
}

impl<E: core::fmt::Debug> core::fmt::Display for PartitionError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PartitionError::Flash(e) => write!(f, "flash error: {e:?}"),
            PartitionError::OutOfBounds => f.write_str("access outside the partition"),
            PartitionError::Busy => f.write_str("flash already in use"),
        }
    }
}

/// A window `[offset, offset + len)` of a flash shared through a [`RefCell`], itself a
/// [`NorFlash`] with addresses relative to the window. Several partitions of one chip (download
/// slot, journal, bootloader state) can live side by side; the power-cut tests split one mock
/// chip this way so that one operation counter covers all of them.
///
/// On embassy, `embassy_embedded_hal::flash::partition::BlockingPartition` does the same over a
/// blocking mutex and works just as well.
#[derive(Debug)]
pub struct Partition<'a, F> {
    flash: &'a RefCell<F>,
    offset: u32,
    len: u32,
}

impl<'a, F: NorFlash> Partition<'a, F> {
    /// A window of `len` bytes at `offset`. `offset` and `len` should be multiples of the flash's
    /// `ERASE_SIZE`; accesses outside the flash fail with [`PartitionError::OutOfBounds`].
    pub const fn new(flash: &'a RefCell<F>, offset: u32, len: u32) -> Self {
        Self { flash, offset, len }
    }

    /// The window's start in the flash.
    pub const fn offset(&self) -> u32 {
        self.offset
    }

    fn check(&self, offset: u32, len: usize) -> Result<u32, PartitionError<F::Error>> {
        let len = u32::try_from(len).map_err(|_| PartitionError::OutOfBounds)?;
        let end = offset.checked_add(len).ok_or(PartitionError::OutOfBounds)?;
        if end > self.len {
            return Err(PartitionError::OutOfBounds);
        }
        self.offset
            .checked_add(offset)
            .ok_or(PartitionError::OutOfBounds)
    }
}

impl<F: NorFlash> ErrorType for Partition<'_, F> {
    type Error = PartitionError<F::Error>;
}

impl<F: NorFlash> ReadNorFlash for Partition<'_, F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let at = self.check(offset, bytes.len())?;
        let mut f = self
            .flash
            .try_borrow_mut()
            .map_err(|_| PartitionError::Busy)?;
        f.read(at, bytes).map_err(PartitionError::Flash)
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}

impl<F: NorFlash> NorFlash for Partition<'_, F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let len = to.checked_sub(from).ok_or(PartitionError::OutOfBounds)?;
        let at = self.check(from, len as usize)?;
        let mut f = self
            .flash
            .try_borrow_mut()
            .map_err(|_| PartitionError::Busy)?;
        f.erase(at, at + len).map_err(PartitionError::Flash)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let at = self.check(offset, bytes.len())?;
        let mut f = self
            .flash
            .try_borrow_mut()
            .map_err(|_| PartitionError::Busy)?;
        f.write(at, bytes).map_err(PartitionError::Flash)
    }
}
