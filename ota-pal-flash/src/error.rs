//! Errors: flash errors reduced to a kind and surfaced as [`PalError`], plus setup errors.

use core::fmt;
use embedded_storage::nor_flash::{NorFlashError, NorFlashErrorKind};
use ota_core::PalError;

/// Reduces any NOR flash error to the core's [`PalError`] (as embassy-boot reduces flash errors
/// to a [`NorFlashErrorKind`]): alignment and bounds problems become
/// [`PalError::OutOfBounds`], everything else [`PalError::Flash`].
pub fn pal_error<E: NorFlashError>(e: E) -> PalError {
    kind_to_pal(e.kind())
}

/// [`NorFlashErrorKind`] to [`PalError`].
pub fn kind_to_pal(kind: NorFlashErrorKind) -> PalError {
    match kind {
        NorFlashErrorKind::NotAligned | NorFlashErrorKind::OutOfBounds => PalError::OutOfBounds,
        _ => PalError::Flash,
    }
}

/// Code of [`PalError::Other`] for "a buffer or record does not fit" (the seed's
/// `OtaPalOutOfMemory`).
pub const OUT_OF_MEMORY: u32 = 0xe1;

/// A platform cannot be built from the flashes and settings it was given. Raised once, at
/// construction, never while an update runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SetupError {
    /// The flash's `WRITE_SIZE` or `READ_SIZE` is 0, larger than [`crate::MAX_WORD`], or not a
    /// power of two.
    WordSize,
    /// The sector layout does not match the flash: a sector is not a multiple of the flash's
    /// `ERASE_SIZE`, or the layout is larger than the flash.
    Layout,
    /// The slot has more erase sectors than the platform can track (`32 * SECTOR_WORDS`).
    TooManySectors {
        /// Sectors in the slot.
        sectors: u32,
        /// Sectors the platform can track.
        max: u32,
    },
    /// The journal area is not usable by the key-value store (fewer than two erase pages, not
    /// page aligned, or pages too small).
    Journal,
    /// The journal buffer cannot hold the smallest entry plus the erased-sector map.
    JournalBuffer {
        /// Bytes needed at least.
        needed: usize,
    },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::WordSize => f.write_str("flash word size unsupported"),
            SetupError::Layout => f.write_str("sector layout does not match the flash"),
            SetupError::TooManySectors { sectors, max } => {
                write!(
                    f,
                    "slot has {sectors} erase sectors, at most {max} are tracked"
                )
            }
            SetupError::Journal => f.write_str("journal area unusable (need >= 2 aligned pages)"),
            SetupError::JournalBuffer { needed } => {
                write!(f, "journal buffer too small, need at least {needed} bytes")
            }
        }
    }
}

impl core::error::Error for SetupError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_pal_errors() {
        assert_eq!(
            kind_to_pal(NorFlashErrorKind::NotAligned),
            PalError::OutOfBounds
        );
        assert_eq!(
            kind_to_pal(NorFlashErrorKind::OutOfBounds),
            PalError::OutOfBounds
        );
        assert_eq!(kind_to_pal(NorFlashErrorKind::Other), PalError::Flash);
    }

    #[test]
    fn setup_errors_display() {
        extern crate std;
        use std::string::ToString;
        let e = SetupError::TooManySectors {
            sectors: 600,
            max: 512,
        };
        assert_eq!(
            e.to_string(),
            "slot has 600 erase sectors, at most 512 are tracked"
        );
        assert!(!SetupError::Journal.to_string().is_empty());
    }
}
