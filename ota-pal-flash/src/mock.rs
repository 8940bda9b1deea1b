//! A mock NOR flash with real NOR rules and power-cut injection, for tests (feature `mock` or
//! `std`). Public so that the crates above this one can reuse it.
//!
//! Rules it enforces, each failing the operation with a [`MockError`]:
//!
//! * erased value `0xFF`; a program only clears bits (an attempt to set a bit fails with
//!   [`MockError::BitSet`], unless [`MockConfig::allow_bit_set`] lets it be silently ignored as
//!   real NOR does);
//! * erases cover whole *physical* sectors, which may have mixed sizes
//!   ([`MockFlash::with_sectors`]), all multiples of the `ERASE` const parameter;
//! * writes are `WRITE`-aligned in address and length, reads `READ`-aligned, optionally with a
//!   RAM buffer aligned like the word ([`MockConfig::check_buffer_alignment`]);
//! * each `WRITE`-word may be programmed at most [`MockConfig::max_programs`] times between
//!   erases (1 for write-once ECC flash, 2 for nRF52's `nWRITE`).
//!
//! A power cut ([`MockFlash::cut_at_op`], [`MockFlash::cut_after_bytes`]) tears the operation it
//! lands in: a write leaves the bytes before the cut programmed and the byte at the cut
//! half-programmed; an erase leaves the bytes before the cut erased and the byte at the cut
//! half-erased. From then on every operation fails with [`MockError::PowerOff`] until
//! [`MockFlash::power_cycle`]. Only erases and writes count as operations.

use std::vec;
use std::vec::Vec;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Errors of the mock flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockError {
    /// Address or length not aligned to the word / physical sector.
    NotAligned,
    /// Outside the flash.
    OutOfBounds,
    /// A program would set a bit that is 0 (needs an erase first).
    BitSet {
        /// Address of the first offending byte.
        addr: u32,
    },
    /// A word was programmed more often than allowed since its erase.
    TooManyPrograms {
        /// Address of the word.
        addr: u32,
    },
    /// The RAM buffer is not aligned like the flash word.
    BufferAlignment,
    /// The power is off (a cut happened).
    PowerOff,
}

impl NorFlashError for MockError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            MockError::NotAligned | MockError::BufferAlignment => NorFlashErrorKind::NotAligned,
            MockError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl core::fmt::Display for MockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MockError::NotAligned => f.write_str("not aligned"),
            MockError::OutOfBounds => f.write_str("out of bounds"),
            MockError::BitSet { addr } => write!(f, "program sets a bit at {addr:#x}"),
            MockError::TooManyPrograms { addr } => {
                write!(f, "word at {addr:#x} programmed too often")
            }
            MockError::BufferAlignment => f.write_str("RAM buffer not aligned"),
            MockError::PowerOff => f.write_str("power off"),
        }
    }
}

impl core::error::Error for MockError {}

/// Rule settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockConfig {
    /// Programs allowed per word between erases (at least 1).
    pub max_programs: u8,
    /// Ignore attempts to set bits (real NOR behaviour) instead of failing.
    pub allow_bit_set: bool,
    /// Require RAM buffers aligned to `min(WRITE, 4)` for writes and `min(READ, 4)` for reads
    /// (32-bit word access, as most flash controllers and the ESP ROM routines need).
    pub check_buffer_alignment: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            max_programs: 1,
            allow_bit_set: false,
            check_buffer_alignment: true,
        }
    }
}

/// How much of the operation a cut at an operation keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keep {
    /// Nothing: the operation's first byte is torn.
    Nothing,
    /// The first half of the bytes.
    Half,
    /// All bytes but the last, which is torn.
    AllButLast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    AtOp { op: u64, keep: Keep },
    AfterBytes(u64),
}

/// Operation counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockStats {
    /// Erase operations.
    pub erases: u64,
    /// Write (program) operations.
    pub writes: u64,
    /// Read operations.
    pub reads: u64,
    /// Bytes programmed.
    pub bytes_written: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Highest program count any word reached since its erase.
    pub max_programs_seen: u8,
    /// Erases per physical sector (wear).
    pub sector_erases: Vec<u32>,
}

/// The mock flash: `WRITE`-byte words, `ERASE`-byte erase granularity (physical sectors are
/// multiples of it), `READ`-byte reads.
#[derive(Debug, Clone)]
pub struct MockFlash<const WRITE: usize = 4, const ERASE: usize = 4096, const READ: usize = 1> {
    data: Vec<u8>,
    programs: Vec<u8>,
    /// Start address of each physical sector, plus the end.
    bounds: Vec<u32>,
    /// Rule settings.
    pub config: MockConfig,
    cut: Option<Cut>,
    off: bool,
    ops: u64,
    bytes: u64,
    stats: MockStats,
}

impl<const WRITE: usize, const ERASE: usize, const READ: usize> MockFlash<WRITE, ERASE, READ> {
    /// An erased flash of `capacity` bytes in uniform `ERASE`-byte sectors.
    ///
    /// # Panics
    /// If `capacity` is not a multiple of `ERASE` (a test setup mistake).
    pub fn new(capacity: u32) -> Self {
        assert!(
            ERASE > 0 && capacity.is_multiple_of(ERASE as u32),
            "capacity must be a multiple of ERASE"
        );
        let sizes = vec![ERASE as u32; capacity as usize / ERASE];
        Self::with_sectors(&sizes)
    }

    /// An erased flash made of physical sectors of these sizes (multiples of `ERASE`).
    ///
    /// # Panics
    /// If a size is not a multiple of `ERASE`, or `WRITE`/`READ` are not powers of two dividing
    /// `ERASE` (test setup mistakes).
    pub fn with_sectors(sizes: &[u32]) -> Self {
        assert!(WRITE.is_power_of_two() && READ.is_power_of_two());
        assert!(ERASE.is_multiple_of(WRITE) && ERASE.is_multiple_of(READ));
        let mut bounds = vec![0u32];
        for &s in sizes {
            assert!(
                s > 0 && s % ERASE as u32 == 0,
                "sector sizes must be multiples of ERASE"
            );
            let last = *bounds.last().unwrap_or(&0);
            bounds.push(last + s);
        }
        let capacity = *bounds.last().unwrap_or(&0) as usize;
        Self {
            data: vec![0xFF; capacity],
            programs: vec![0; capacity / WRITE],
            bounds,
            config: MockConfig::default(),
            cut: None,
            off: false,
            ops: 0,
            bytes: 0,
            stats: MockStats {
                sector_erases: vec![0; sizes.len()],
                ..MockStats::default()
            },
        }
    }

    /// The same flash with other rule settings.
    pub fn with_config(mut self, config: MockConfig) -> Self {
        self.config = config;
        self
    }

    /// Cuts the power during mutating operation number `op` (0-based, counted from now on:
    /// erases and writes only), keeping `keep` of it.
    pub fn cut_at_op(&mut self, op: u64, keep: Keep) {
        self.cut = Some(Cut::AtOp {
            op: self.ops + op,
            keep,
        });
    }

    /// Cuts the power after `n` more bytes have been erased or programmed.
    pub fn cut_after_bytes(&mut self, n: u64) {
        self.cut = Some(Cut::AfterBytes(self.bytes + n));
    }

    /// Removes a pending cut.
    pub fn cancel_cut(&mut self) {
        self.cut = None;
    }

    /// Whether the power is off (a cut happened since the last power cycle).
    pub fn is_off(&self) -> bool {
        self.off
    }

    /// Powers the flash on again (contents stay as the cut left them).
    pub fn power_cycle(&mut self) {
        self.off = false;
        self.cut = None;
    }

    /// Mutating operations (erases + writes) so far.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Bytes erased or programmed so far (the unit of [`Self::cut_after_bytes`]).
    pub fn bytes_touched(&self) -> u64 {
        self.bytes
    }

    /// Counters.
    pub fn stats(&self) -> &MockStats {
        &self.stats
    }

    /// The contents.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The contents, for test setups (bypasses every rule and counter).
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Sets the program counts back to 0 (after a setup through [`Self::as_bytes_mut`]).
    pub fn forget_programs(&mut self) {
        self.programs.fill(0);
    }

    fn sector_index(&self, addr: u32) -> Option<usize> {
        self.bounds.iter().position(|&b| b == addr)
    }

    /// Byte index within the current operation at which the power fails, if it does.
    fn tear_point(&mut self, len: usize) -> Option<usize> {
        match self.cut? {
            Cut::AtOp { op, keep } if op == self.ops => Some(match keep {
                Keep::Nothing => 0,
                Keep::Half => len / 2,
                Keep::AllButLast => len.saturating_sub(1),
            }),
            Cut::AfterBytes(limit) if self.bytes + len as u64 > limit => {
                Some(limit.saturating_sub(self.bytes) as usize)
            }
            _ => None,
        }
    }

    fn check_buffer(&self, ptr: *const u8, word: usize) -> Result<(), MockError> {
        if self.config.check_buffer_alignment && !(ptr as usize).is_multiple_of(word.min(4)) {
            return Err(MockError::BufferAlignment);
        }
        Ok(())
    }

    fn do_read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), MockError> {
        if self.off {
            return Err(MockError::PowerOff);
        }
        if !(offset as usize).is_multiple_of(READ) || !bytes.len().is_multiple_of(READ) {
            return Err(MockError::NotAligned);
        }
        self.check_buffer(bytes.as_ptr(), READ)?;
        let src = self
            .data
            .get(offset as usize..offset as usize + bytes.len())
            .ok_or(MockError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        self.stats.reads += 1;
        self.stats.bytes_read += bytes.len() as u64;
        Ok(())
    }

    fn do_erase(&mut self, from: u32, to: u32) -> Result<(), MockError> {
        if self.off {
            return Err(MockError::PowerOff);
        }
        if from > to || to as usize > self.data.len() {
            return Err(MockError::OutOfBounds);
        }
        let (Some(first), Some(last)) = (self.sector_index(from), self.sector_index(to)) else {
            return Err(MockError::NotAligned);
        };
        let len = (to - from) as usize;
        let tear = self.tear_point(len);
        self.ops += 1;
        self.stats.erases += 1;
        for s in first..last {
            if let Some(n) = self.stats.sector_erases.get_mut(s) {
                *n += 1;
            }
        }
        let done = tear.unwrap_or(len).min(len);
        let start = from as usize;
        self.data[start..start + done].fill(0xFF);
        // Program counts restart for the words erased in full.
        let first_word = start / WRITE;
        for w in first_word..(start + done) / WRITE {
            self.programs[w] = 0;
        }
        self.bytes += done as u64;
        if tear.is_some() {
            if let Some(b) = self.data.get_mut(start + done)
                && start + done < to as usize
            {
                *b |= 0xF0;
            }
            self.off = true;
            return Err(MockError::PowerOff);
        }
        Ok(())
    }

    fn do_write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), MockError> {
        if self.off {
            return Err(MockError::PowerOff);
        }
        let start = offset as usize;
        if !start.is_multiple_of(WRITE) || !bytes.len().is_multiple_of(WRITE) {
            return Err(MockError::NotAligned);
        }
        self.check_buffer(bytes.as_ptr(), WRITE)?;
        if start + bytes.len() > self.data.len() {
            return Err(MockError::OutOfBounds);
        }
        // Validate the whole operation before changing anything.
        for (i, (&new, &old)) in bytes.iter().zip(&self.data[start..]).enumerate() {
            if old & new != new && !self.config.allow_bit_set {
                return Err(MockError::BitSet {
                    addr: offset + i as u32,
                });
            }
        }
        for w in start / WRITE..(start + bytes.len()) / WRITE {
            if self.programs[w] >= self.config.max_programs.max(1) {
                return Err(MockError::TooManyPrograms {
                    addr: (w * WRITE) as u32,
                });
            }
        }
        let tear = self.tear_point(bytes.len());
        self.ops += 1;
        self.stats.writes += 1;
        let done = tear.unwrap_or(bytes.len()).min(bytes.len());
        // Words the operation reached (the torn byte's word included) count as programmed.
        let touched = if tear.is_some() {
            (done + 1).min(bytes.len())
        } else {
            bytes.len()
        };
        for w in start / WRITE..(start + touched).div_ceil(WRITE) {
            self.programs[w] = self.programs[w].saturating_add(1);
            self.stats.max_programs_seen = self.stats.max_programs_seen.max(self.programs[w]);
        }
        for (d, &b) in self.data[start..start + done].iter_mut().zip(bytes) {
            *d &= b;
        }
        self.bytes += done as u64;
        self.stats.bytes_written += done as u64;
        if tear.is_some() {
            if let (Some(d), Some(&b)) = (self.data.get_mut(start + done), bytes.get(done)) {
                // Half-programmed: only some of the bits to clear are cleared.
                *d &= b | 0x0F;
            }
            self.off = true;
            return Err(MockError::PowerOff);
        }
        Ok(())
    }
}

impl<const W: usize, const E: usize, const R: usize> ErrorType for MockFlash<W, E, R> {
    type Error = MockError;
}

impl<const W: usize, const E: usize, const R: usize> ReadNorFlash for MockFlash<W, E, R> {
    const READ_SIZE: usize = R;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), MockError> {
        self.do_read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl<const W: usize, const E: usize, const R: usize> NorFlash for MockFlash<W, E, R> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), MockError> {
        self.do_erase(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), MockError> {
        self.do_write(offset, bytes)
    }
}

impl<const W: usize, const E: usize, const R: usize> embedded_storage_async::nor_flash::ReadNorFlash
    for MockFlash<W, E, R>
{
    const READ_SIZE: usize = R;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), MockError> {
        self.do_read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl<const W: usize, const E: usize, const R: usize> embedded_storage_async::nor_flash::NorFlash
    for MockFlash<W, E, R>
{
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), MockError> {
        self.do_erase(from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), MockError> {
        self.do_write(offset, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(align(8))]
    struct A<const N: usize>([u8; N]);

    type M = MockFlash<4, 1024, 1>;

    #[test]
    fn programs_only_clear_bits() {
        let mut f = M::new(4096);
        f.write(0, &A([0xF0, 0x0F, 0xFF, 0x00]).0).unwrap();
        assert_eq!(&f.as_bytes()[..4], &[0xF0, 0x0F, 0xFF, 0x00]);
        f.config.max_programs = 2;
        assert_eq!(
            f.write(0, &A([0xFF, 0xFF, 0xFF, 0xFF]).0),
            Err(MockError::BitSet { addr: 0 })
        );
        f.write(0, &A([0x00, 0x0F, 0xFF, 0x00]).0).unwrap();
        assert_eq!(f.as_bytes()[0], 0);
        f.config.allow_bit_set = true;
        f.write(4, &A([0x00; 4]).0).unwrap();
        f.write(4, &A([0xFF; 4]).0).unwrap();
        assert_eq!(
            &f.as_bytes()[4..8],
            &[0; 4],
            "set bits are ignored, like real NOR"
        );
    }

    #[test]
    fn counts_programs_per_word() {
        let mut f = M::new(4096);
        f.write(8, &A([0xFE; 8]).0).unwrap();
        assert_eq!(
            f.write(12, &A([0xFC; 4]).0),
            Err(MockError::TooManyPrograms { addr: 12 })
        );
        f.erase(0, 1024).unwrap();
        f.write(12, &A([0xFC; 4]).0).unwrap();
        assert_eq!(f.stats().max_programs_seen, 1);
    }

    #[test]
    fn enforces_alignment_and_bounds() {
        let mut f = M::new(4096);
        assert_eq!(f.write(2, &A([0; 4]).0), Err(MockError::NotAligned));
        assert_eq!(f.write(0, &A([0; 8]).0[..3]), Err(MockError::NotAligned));
        assert_eq!(f.erase(0, 512), Err(MockError::NotAligned));
        assert_eq!(f.erase(0, 8192), Err(MockError::OutOfBounds));
        assert_eq!(f.write(4096, &A([0; 4]).0), Err(MockError::OutOfBounds));
        let buf = A([0u8; 12]);
        assert_eq!(f.write(0, &buf.0[1..5]), Err(MockError::BufferAlignment));
    }

    #[test]
    fn mixed_sectors_erase_whole_sectors() {
        let mut f = MockFlash::<4, 1024>::with_sectors(&[1024, 1024, 2048]);
        f.write(2048, &A([0; 4]).0).unwrap();
        assert_eq!(
            f.erase(2048, 3072),
            Err(MockError::NotAligned),
            "half of a 2 KiB sector"
        );
        f.erase(2048, 4096).unwrap();
        assert_eq!(f.as_bytes()[2048], 0xFF);
        assert_eq!(f.stats().sector_erases, vec![0, 0, 1]);
    }

    #[test]
    fn cut_tears_a_write_and_powers_off() {
        let mut f = M::new(4096);
        f.cut_at_op(1, Keep::Half);
        f.write(0, &A([0x00; 8]).0).unwrap();
        assert_eq!(f.write(8, &A([0x00; 8]).0), Err(MockError::PowerOff));
        assert!(f.is_off());
        assert_eq!(&f.as_bytes()[8..12], &[0; 4]);
        assert_eq!(f.as_bytes()[12], 0x0F, "half-programmed byte");
        assert_eq!(&f.as_bytes()[13..16], &[0xFF; 3]);
        let mut b = A([0u8; 4]);
        assert_eq!(f.read(0, &mut b.0), Err(MockError::PowerOff));
        f.power_cycle();
        f.read(0, &mut b.0).unwrap();
        assert_eq!(f.ops(), 2);
    }

    #[test]
    fn cut_tears_an_erase() {
        let mut f = M::new(4096);
        f.as_bytes_mut()[..1024].fill(0);
        f.cut_after_bytes(100);
        assert_eq!(f.erase(0, 1024), Err(MockError::PowerOff));
        assert!(f.as_bytes()[..100].iter().all(|b| *b == 0xFF));
        assert_eq!(f.as_bytes()[100], 0xF0);
        assert_eq!(f.as_bytes()[101], 0x00);
    }
}
