//! Erase-sector geometry of a download slot, and the small bit sets that track sectors.

use crate::error::SetupError;

/// The erase sectors of a download slot.
///
/// Most flashes erase in one uniform unit (`NorFlash::ERASE_SIZE`, the default). Some (STM32F4
/// banks, several SPI NOR parts with boot sectors) mix sector sizes; describe them with
/// [`SectorLayout::Mixed`], listing the sizes from the slot's start. Every size must be a
/// multiple of the flash's `ERASE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SectorLayout {
    /// Sectors of this many bytes from the slot's start; a partial sector at the end is unused.
    Uniform(u32),
    /// Sectors of these sizes, in order from the slot's start.
    Mixed(&'static [u32]),
}

/// One erase sector: its index in the slot and its byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sector {
    pub(crate) index: u32,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl SectorLayout {
    /// Checks the layout against a flash of `capacity` bytes erasing in `erase_size` units and
    /// returns `(sector count, usable bytes)`.
    pub(crate) fn check(&self, capacity: u32, erase_size: u32) -> Result<(u32, u32), SetupError> {
        if erase_size == 0 {
            return Err(SetupError::Layout);
        }
        match *self {
            SectorLayout::Uniform(size) => {
                if size == 0 || size % erase_size != 0 {
                    return Err(SetupError::Layout);
                }
                let count = capacity / size;
                Ok((count, count * size))
            }
            SectorLayout::Mixed(sizes) => {
                let mut total: u32 = 0;
                for &s in sizes {
                    if s == 0 || s % erase_size != 0 {
                        return Err(SetupError::Layout);
                    }
                    total = total.checked_add(s).ok_or(SetupError::Layout)?;
                }
                if total > capacity {
                    return Err(SetupError::Layout);
                }
                let count = u32::try_from(sizes.len()).map_err(|_| SetupError::Layout)?;
                Ok((count, total))
            }
        }
    }

    /// The sector holding byte `offset`, if any.
    pub(crate) fn locate(&self, offset: u32, usable: u32) -> Option<Sector> {
        if offset >= usable {
            return None;
        }
        match *self {
            SectorLayout::Uniform(size) => {
                let index = offset / size;
                let start = index * size;
                Some(Sector {
                    index,
                    start,
                    end: start + size,
                })
            }
            SectorLayout::Mixed(sizes) => {
                let mut start = 0u32;
                for (i, &s) in sizes.iter().enumerate() {
                    let end = start + s;
                    if offset < end {
                        return Some(Sector {
                            index: i as u32,
                            start,
                            end,
                        });
                    }
                    start = end;
                }
                None
            }
        }
    }
}

/// A set of sector indices, `32 * W` of them at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectorSet<const W: usize> {
    bits: [u32; W],
}

impl<const W: usize> SectorSet<W> {
    pub(crate) const CAPACITY: u32 = 32 * W as u32;

    pub(crate) const fn new() -> Self {
        Self { bits: [0; W] }
    }

    pub(crate) fn contains(&self, i: u32) -> bool {
        self.bits
            .get((i / 32) as usize)
            .is_some_and(|w| w & (1 << (i % 32)) != 0)
    }

    pub(crate) fn insert(&mut self, i: u32) {
        if let Some(w) = self.bits.get_mut((i / 32) as usize) {
            *w |= 1 << (i % 32);
        }
    }

    pub(crate) fn remove(&mut self, i: u32) {
        if let Some(w) = self.bits.get_mut((i / 32) as usize) {
            *w &= !(1 << (i % 32));
        }
    }

    pub(crate) fn clear(&mut self) {
        self.bits = [0; W];
    }

    /// Bytes needed to serialize `count` sectors.
    pub(crate) const fn bytes_for(count: u32) -> usize {
        count.div_ceil(8) as usize
    }

    /// Writes the first `count` bits, LSB first, into `out`; returns the bytes used, or `None` if
    /// `out` is too small.
    pub(crate) fn write_bytes(&self, count: u32, out: &mut [u8]) -> Option<usize> {
        let n = Self::bytes_for(count);
        let out = out.get_mut(..n)?;
        for (i, b) in out.iter_mut().enumerate() {
            let w = self.bits.get(i / 4).copied().unwrap_or(0);
            let mut byte = (w >> ((i % 4) * 8)) as u8;
            let first = i as u32 * 8;
            if first + 8 > count {
                byte &= ((1u16 << (count - first)) - 1) as u8;
            }
            *b = byte;
        }
        Some(n)
    }

    /// Reads bits written by [`Self::write_bytes`]; bits at or beyond `count` are ignored.
    pub(crate) fn read_bytes(count: u32, bytes: &[u8]) -> Self {
        let mut s = Self::new();
        for (i, b) in bytes.iter().enumerate() {
            for bit in 0..8u32 {
                let idx = i as u32 * 8 + bit;
                if idx < count && b & (1 << bit) != 0 {
                    s.insert(idx);
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_locates_sectors() {
        let l = SectorLayout::Uniform(4096);
        assert_eq!(l.check(10 * 4096 + 100, 4096), Ok((10, 40960)));
        assert_eq!(
            l.locate(4095, 40960),
            Some(Sector {
                index: 0,
                start: 0,
                end: 4096
            })
        );
        assert_eq!(
            l.locate(4096, 40960),
            Some(Sector {
                index: 1,
                start: 4096,
                end: 8192
            })
        );
        assert_eq!(l.locate(40960, 40960), None);
        assert_eq!(
            SectorLayout::Uniform(1000).check(4096, 4096),
            Err(SetupError::Layout)
        );
    }

    #[test]
    fn mixed_locates_sectors() {
        static SIZES: [u32; 4] = [1024, 1024, 2048, 4096];
        let l = SectorLayout::Mixed(&SIZES);
        assert_eq!(l.check(8192, 1024), Ok((4, 8192)));
        assert_eq!(l.check(8000, 1024), Err(SetupError::Layout));
        assert_eq!(l.check(8192, 4096), Err(SetupError::Layout));
        assert_eq!(
            l.locate(1500, 8192),
            Some(Sector {
                index: 1,
                start: 1024,
                end: 2048
            })
        );
        assert_eq!(
            l.locate(3000, 8192),
            Some(Sector {
                index: 2,
                start: 2048,
                end: 4096
            })
        );
        assert_eq!(
            l.locate(8191, 8192),
            Some(Sector {
                index: 3,
                start: 4096,
                end: 8192
            })
        );
    }

    #[test]
    fn set_round_trips_through_bytes() {
        let mut s = SectorSet::<2>::new();
        for i in [0, 3, 31, 32, 40, 63, 64, 100] {
            s.insert(i);
        }
        assert!(s.contains(63) && !s.contains(64) && !s.contains(1));
        let mut buf = [0u8; 8];
        assert_eq!(s.write_bytes(45, &mut buf), Some(6));
        let back = SectorSet::<2>::read_bytes(45, &buf[..6]);
        assert!(back.contains(0) && back.contains(3) && back.contains(40));
        assert!(back.contains(31) && back.contains(32));
        assert!(!back.contains(63), "beyond count is not restored");
        assert_eq!(s.write_bytes(45, &mut buf[..5]), None);
        s.remove(0);
        assert!(!s.contains(0));
        s.clear();
        assert_eq!(s, SectorSet::<2>::new());
    }
}
