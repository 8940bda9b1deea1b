//! The block bitmap, over caller memory: bit `i` (byte `i / 8`, bit `1 << (i % 8)`, LSB-first as
//! AWS GetStream requests want it) is 1 while block `i` is still needed, 0 once it is stored.
//!
//! Sizing rule: a file of `S` bytes in blocks of `B` bytes has `ceil(S / B)` blocks and needs
//! `ceil(ceil(S / B) / 8)` bytes of bitmap. 128 bytes cover 4 MiB at 4 KB blocks.

/// A block bitmap for one file, over caller memory that can hold `8 * storage.len()` blocks.
#[derive(Debug)]
pub struct Bitmap<'a> {
    storage: &'a mut [u8],
    blocks: u32,
    remaining: u32,
}

impl<'a> Bitmap<'a> {
    /// Bytes needed for `blocks` blocks.
    pub const fn bytes_for(blocks: u32) -> usize {
        (blocks as usize).div_ceil(8)
    }

    /// An empty bitmap (no file) over `storage`.
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    pub fn new(storage: &'a mut [u8]) -> Self {
        Self {
            storage,
            blocks: 0,
            remaining: 0,
        }
    }

    /// Most blocks the storage can track.
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    pub fn capacity(&self) -> u32 {
        u32::try_from(self.storage.len())
            .unwrap_or(u32::MAX / 8)
            .saturating_mul(8)
    }

    /// Starts a file of `blocks` blocks, all needed. `false` (and unchanged) if it does not fit.
    pub fn init_all_needed(&mut self, blocks: u32) -> bool {
        let n = Self::bytes_for(blocks);
        let Some(bits) = self.storage.get_mut(..n) else {
            return false;
        };
        bits.fill(0xff);
        if !blocks.is_multiple_of(8) {
            if let Some(last) = bits.last_mut() {
                *last = (1u8 << (blocks % 8)) - 1;
            }
        }
        self.blocks = blocks;
        self.remaining = blocks;
        true
    }

    /// Restores a file's bitmap from persisted bytes. `false` (and unchanged) if it does not
    /// fit, the length is wrong, or bits are set beyond `blocks`.
    pub fn restore(&mut self, blocks: u32, bytes: &[u8]) -> bool {
        let n = Self::bytes_for(blocks);
        if bytes.len() != n || n > self.storage.len() {
            return false;
        }
        if !blocks.is_multiple_of(8) {
            match bytes.last() {
                Some(last) if last & !((1u8 << (blocks % 8)) - 1) == 0 => {}
                _ => return false,
            }
        }
        let Some(bits) = self.storage.get_mut(..n) else {
            return false;
        };
        bits.copy_from_slice(bytes);
        self.blocks = blocks;
        self.remaining = bytes.iter().map(|b| b.count_ones()).sum();
        true
    }

    /// Forgets the file.
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    pub fn clear(&mut self) {
        self.blocks = 0;
        self.remaining = 0;
    }

    /// Number of blocks in the file.
    pub fn blocks(&self) -> u32 {
        self.blocks
    }
    /// Blocks still needed.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }
    /// The raw bytes (`ceil(blocks / 8)` of them).
    pub fn as_bytes(&self) -> &[u8] {
        self.storage
            .get(..Self::bytes_for(self.blocks))
            .unwrap_or(&[])
    }
    /// Whether block `i` is still needed (`false` for out-of-range `i`).
    pub fn is_needed(&self, i: u32) -> bool {
        i < self.blocks && bit(self.storage, i)
    }
    /// Marks block `i` stored. Returns `true` if it was needed.
    pub fn mark_done(&mut self, i: u32) -> bool {
        if !self.is_needed(i) {
            return false;
        }
        if let Some(b) = self.storage.get_mut((i / 8) as usize) {
            *b &= !(1 << (i % 8));
            self.remaining -= 1;
            return true;
        }
        false
    }
    /// First needed block at or after `from`.
    pub fn next_needed(&self, from: u32) -> Option<u32> {
        let mut i = from;
        while i < self.blocks {
            let byte = *self.storage.get((i / 8) as usize)?;
            let masked = byte >> (i % 8);
            if masked == 0 {
                i = (i / 8 + 1) * 8;
                continue;
            }
            let found = i + masked.trailing_zeros();
            return (found < self.blocks).then_some(found);
        }
        None
    }
}

/// Read-only view over persisted or borrowed bitmap bytes.
pub(crate) fn bit(bits: &[u8], i: u32) -> bool {
    bits.get((i / 8) as usize)
        .is_some_and(|b| b & (1 << (i % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tail_bits_cleared() {
        let mut s = [0u8; 4];
        let mut b = Bitmap::new(&mut s);
        assert!(b.init_all_needed(10));
        assert_eq!(b.as_bytes(), &[0xff, 0x03]);
        assert_eq!(b.remaining(), 10);
        assert!(!b.is_needed(10));
    }

    #[test]
    fn restore_refuses_bits_past_end() {
        let mut s = [0u8; 2];
        let mut b = Bitmap::new(&mut s);
        assert!(!b.init_all_needed(17));
        assert!(!b.restore(10, &[0xff, 0x07]));
        assert!(b.restore(10, &[0x0f, 0x02]));
        assert_eq!(b.remaining(), 5);
    }

    proptest! {
        #[test]
        fn marking_is_consistent(blocks in 1u32..600, marks in proptest::collection::vec(0u32..700, 0..800)) {
            let mut s = [0u8; 80];
            let mut b = Bitmap::new(&mut s);
            prop_assert!(b.init_all_needed(blocks));
            let mut model = std::vec![true; blocks as usize];
            for m in marks {
                let was = model.get(m as usize).copied().unwrap_or(false);
                prop_assert_eq!(b.mark_done(m), was);
                if was { model[m as usize] = false; }
                let left = model.iter().filter(|x| **x).count() as u32;
                prop_assert_eq!(b.remaining(), left);
                let first = model.iter().position(|x| *x).map(|p| p as u32);
                prop_assert_eq!(b.next_needed(0), first);
            }
            let bytes: std::vec::Vec<u8> = b.as_bytes().to_vec();
            let mut s2 = [0u8; 80];
            let mut r = Bitmap::new(&mut s2);
            prop_assert!(r.restore(blocks, &bytes));
            prop_assert_eq!(r.remaining(), b.remaining());
        }
    }
}
