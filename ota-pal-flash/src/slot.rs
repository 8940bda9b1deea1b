//! The download slot: erase on first touch, `WRITE_SIZE` alignment with buffered partial words,
//! checked writes into sectors kept across a reboot, read-back. The rules are in the crate docs
//! ("Download slot rules").

use embedded_storage_async::nor_flash::NorFlash;
use ota_core::PalError;

use crate::error::{SetupError, pal_error};
use crate::layout::{Sector, SectorLayout, SectorSet};

/// Largest `WRITE_SIZE` / `READ_SIZE` supported, in bytes.
pub const MAX_WORD: usize = 32;
/// Open partial words the slot keeps in RAM before it programs the oldest one padded.
pub const TAIL_ENTRIES: usize = 4;
/// Bounce buffer size for reads and programs.
const CHUNK: usize = 256;

#[repr(align(32))]
struct Aligned([u8; CHUNK]);

#[derive(Debug, Clone, Copy)]
struct Tail {
    /// Word address (aligned to `WRITE_SIZE`).
    word: u32,
    /// Bit `i` set: byte `i` of the word is known.
    mask: u32,
    bytes: [u8; MAX_WORD],
    /// Insertion order, to evict the oldest entry.
    age: u32,
}

/// The file currently stored in the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFile {
    pub(crate) size: u32,
    pub(crate) index: u8,
    pub(crate) firmware: bool,
}

pub(crate) struct Slot<F, const SW: usize> {
    flash: F,
    layout: SectorLayout,
    sectors: u32,
    usable: u32,
    file: Option<OpenFile>,
    /// Sectors erased for the current file (persisted with each resume record).
    erased: SectorSet<SW>,
    /// Sectors erased in this session whose words are all erased or programmed exactly once by
    /// the aligned path: writes into them skip the read-and-compare step.
    fresh: SectorSet<SW>,
    tails: [Option<Tail>; TAIL_ENTRIES],
    age: u32,
    rd: Aligned,
    wr: Aligned,
}

const fn align_down(x: u32, a: u32) -> u32 {
    x - x % a
}

const fn align_up(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

fn full_mask(w: usize) -> u32 {
    if w >= 32 { u32::MAX } else { (1u32 << w) - 1 }
}

impl<F: NorFlash, const SW: usize> Slot<F, SW> {
    pub(crate) fn new(flash: F, layout: Option<SectorLayout>) -> Result<Self, SetupError> {
        let (w, r, e) = (F::WRITE_SIZE, F::READ_SIZE, F::ERASE_SIZE);
        for s in [w, r] {
            if s == 0 || s > MAX_WORD || !s.is_power_of_two() {
                return Err(SetupError::WordSize);
            }
        }
        if e == 0 || e % w != 0 || e % r != 0 {
            return Err(SetupError::WordSize);
        }
        let capacity = u32::try_from(flash.capacity()).map_err(|_| SetupError::Layout)?;
        let layout = layout.unwrap_or(SectorLayout::Uniform(e as u32));
        let (sectors, usable) = layout.check(capacity, e as u32)?;
        if sectors > SectorSet::<SW>::CAPACITY {
            return Err(SetupError::TooManySectors {
                sectors,
                max: SectorSet::<SW>::CAPACITY,
            });
        }
        Ok(Self {
            flash,
            layout,
            sectors,
            usable,
            file: None,
            erased: SectorSet::new(),
            fresh: SectorSet::new(),
            tails: [None; TAIL_ENTRIES],
            age: 0,
            rd: Aligned([0; CHUNK]),
            wr: Aligned([0; CHUNK]),
        })
    }

    /// Bytes of the slot a file may use.
    pub(crate) fn capacity(&self) -> u32 {
        self.usable
    }

    /// Erase sectors in the slot.
    pub(crate) fn sector_count(&self) -> u32 {
        self.sectors
    }

    pub(crate) fn file(&self) -> Option<OpenFile> {
        self.file
    }

    pub(crate) fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    pub(crate) fn into_flash(self) -> F {
        self.flash
    }

    /// Opens `file`. With `kept`, the file resumes: those sectors hold its data already and are
    /// not erased again. A resume of the file that is already open keeps the in-RAM state.
    pub(crate) fn open(
        &mut self,
        file: OpenFile,
        kept: Option<SectorSet<SW>>,
    ) -> Result<(), PalError> {
        if file.size > self.usable {
            return Err(PalError::TooLarge);
        }
        if kept.is_some() && self.file == Some(file) {
            return Ok(());
        }
        self.tails = [None; TAIL_ENTRIES];
        self.erased = kept.unwrap_or_else(SectorSet::new);
        self.fresh.clear();
        self.file = Some(file);
        Ok(())
    }

    /// Forgets the file and its open partial words (FileAbort).
    pub(crate) fn close_abandon(&mut self) {
        self.file = None;
        self.tails = [None; TAIL_ENTRIES];
        self.erased.clear();
        self.fresh.clear();
    }

    /// Serializes the erased set into `out`; `None` if it does not fit.
    pub(crate) fn erased_bytes(&self, out: &mut [u8]) -> Option<usize> {
        if self.file.is_none() {
            return Some(0);
        }
        self.erased.write_bytes(self.sectors, out)
    }

    /// Decodes an erased set persisted by [`Self::erased_bytes`].
    pub(crate) fn decode_erased(&self, bytes: &[u8]) -> SectorSet<SW> {
        SectorSet::read_bytes(self.sectors, bytes)
    }

    fn sector(&self, at: u32) -> Result<Sector, PalError> {
        self.layout
            .locate(at, self.usable)
            .ok_or(PalError::OutOfBounds)
    }

    /// Checks that `[offset, offset + len)` lies in the open file; returns the file and the end.
    pub(crate) fn check_range(&self, offset: u32, len: usize) -> Result<(OpenFile, u32), PalError> {
        let file = self.file.ok_or(PalError::OutOfBounds)?;
        let len = u32::try_from(len).map_err(|_| PalError::OutOfBounds)?;
        let end = offset.checked_add(len).ok_or(PalError::OutOfBounds)?;
        if end > file.size {
            return Err(PalError::OutOfBounds);
        }
        Ok((file, end))
    }

    /// Writes `data` at `offset` of the open file.
    pub(crate) async fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), PalError> {
        let (_, end) = self.check_range(offset, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        let w = F::WRITE_SIZE as u32;
        self.prepare(align_down(offset, w), align_up(end, w))
            .await?;
        let a = align_up(offset, w);
        let b = align_down(end, w);
        if a > b {
            return self.partial(align_down(offset, w), offset, data).await;
        }
        let (head, rest) = data.split_at((a - offset) as usize);
        let (middle, tail) = rest.split_at((b - a) as usize);
        if !head.is_empty() {
            self.partial(a - w, offset, head).await?;
        }
        if !middle.is_empty() {
            self.program_run(a, middle).await?;
        }
        if !tail.is_empty() {
            self.partial(b, b, tail).await?;
        }
        Ok(())
    }

    /// Erases every not-yet-erased sector overlapping `[from, to)`.
    async fn prepare(&mut self, from: u32, to: u32) -> Result<(), PalError> {
        let mut at = from;
        while at < to {
            let s = self.sector(at)?;
            if !self.erased.contains(s.index) {
                self.flash.erase(s.start, s.end).await.map_err(pal_error)?;
                self.erased.insert(s.index);
                self.fresh.insert(s.index);
            }
            at = s.end;
        }
        Ok(())
    }

    /// Records bytes of a partly covered word; programs it once complete.
    async fn partial(&mut self, word: u32, start: u32, bytes: &[u8]) -> Result<(), PalError> {
        let w = F::WRITE_SIZE;
        let size = self.file.map_or(0, |f| f.size);
        let slot = match self
            .tails
            .iter()
            .position(|t| t.is_some_and(|t| t.word == word))
        {
            Some(i) => i,
            None => {
                let i = match self.tails.iter().position(Option::is_none) {
                    Some(i) => i,
                    None => self.evict_oldest().await?,
                };
                self.age = self.age.wrapping_add(1);
                let mut t = Tail {
                    word,
                    mask: 0,
                    bytes: [0xFF; MAX_WORD],
                    age: self.age,
                };
                // Bytes past the end of the file are padding: erased value.
                for pos in 0..w {
                    if word + pos as u32 >= size {
                        t.mask |= 1 << pos;
                    }
                }
                if let Some(e) = self.tails.get_mut(i) {
                    *e = Some(t);
                }
                i
            }
        };
        let Some(Some(t)) = self.tails.get_mut(slot) else {
            return Err(PalError::Flash);
        };
        let first = (start - word) as usize;
        for (i, b) in bytes.iter().enumerate() {
            if let Some(dst) = t.bytes.get_mut(first + i) {
                *dst = *b;
                t.mask |= 1 << (first + i);
            }
        }
        if t.mask == full_mask(w) {
            let t = *t;
            self.tails[slot] = None;
            self.program_word(t.word, &t.bytes, t.mask).await?;
        }
        Ok(())
    }

    async fn evict_oldest(&mut self) -> Result<usize, PalError> {
        let mut oldest: Option<(usize, u32)> = None;
        for (i, t) in self.tails.iter().enumerate() {
            if let Some(t) = t {
                let age = self.age.wrapping_sub(t.age);
                if oldest.is_none_or(|(_, a)| age > a) {
                    oldest = Some((i, age));
                }
            }
        }
        let (i, _) = oldest.ok_or(PalError::Flash)?;
        if let Some(t) = self.tails.get_mut(i).and_then(Option::take) {
            self.program_word(t.word, &t.bytes, t.mask).await?;
        }
        Ok(i)
    }

    /// Programs every open partial word, padded with the erased value.
    pub(crate) async fn flush(&mut self) -> Result<(), PalError> {
        for i in 0..TAIL_ENTRIES {
            if let Some(t) = self.tails.get_mut(i).and_then(Option::take) {
                self.program_word(t.word, &t.bytes, t.mask).await?;
            }
        }
        Ok(())
    }

    /// Read-modify-program of one word: known bytes from `bytes`/`mask`, the others as stored.
    async fn program_word(
        &mut self,
        word: u32,
        bytes: &[u8; MAX_WORD],
        mask: u32,
    ) -> Result<(), PalError> {
        let w = F::WRITE_SIZE;
        let mut cur = [0u8; MAX_WORD];
        self.read_flash(word, &mut cur[..w]).await?;
        let mut target = cur;
        for i in 0..w {
            if mask & (1 << i) != 0 {
                target[i] = bytes[i];
            }
        }
        if target[..w] == cur[..w] {
            return Ok(());
        }
        if target[..w].iter().zip(&cur[..w]).any(|(t, c)| c & t != *t) {
            return Err(PalError::Flash);
        }
        if mask != full_mask(w) {
            // A padded word will be programmed again: no longer on the fast path.
            if let Ok(s) = self.sector(word) {
                self.fresh.remove(s.index);
            }
        }
        self.wr.0[..w].copy_from_slice(&target[..w]);
        self.flash
            .write(word, &self.wr.0[..w])
            .await
            .map_err(pal_error)
    }

    /// Programs an aligned run, sector by sector.
    async fn program_run(&mut self, start: u32, data: &[u8]) -> Result<(), PalError> {
        let mut at = start;
        let mut rest = data;
        while !rest.is_empty() {
            let s = self.sector(at)?;
            let n = ((s.end - at) as usize).min(rest.len());
            let (now, later) = rest.split_at(n);
            // An open partial word inside a fully written word is superseded.
            for t in self.tails.iter_mut() {
                if t.is_some_and(|t| t.word >= at && t.word < at + n as u32) {
                    *t = None;
                }
            }
            if self.fresh.contains(s.index) {
                self.program_fresh(at, now).await?;
            } else {
                self.program_checked(at, now).await?;
            }
            at += n as u32;
            rest = later;
        }
        Ok(())
    }

    async fn program_fresh(&mut self, start: u32, data: &[u8]) -> Result<(), PalError> {
        for (i, chunk) in data.chunks(CHUNK).enumerate() {
            self.wr.0[..chunk.len()].copy_from_slice(chunk);
            let at = start + (i * CHUNK) as u32;
            self.flash
                .write(at, &self.wr.0[..chunk.len()])
                .await
                .map_err(pal_error)?;
        }
        Ok(())
    }

    /// Programs only the words that differ, after checking that each can reach its target by
    /// clearing bits.
    async fn program_checked(&mut self, start: u32, data: &[u8]) -> Result<(), PalError> {
        let w = F::WRITE_SIZE;
        let mut cur = [0u8; CHUNK];
        for (i, chunk) in data.chunks(CHUNK).enumerate() {
            let base = start + (i * CHUNK) as u32;
            self.read_flash(base, &mut cur[..chunk.len()]).await?;
            let mut run: Option<usize> = None;
            let words = chunk.len() / w;
            for k in 0..=words {
                let differs = if k < words {
                    let (t, c) = (&chunk[k * w..(k + 1) * w], &cur[k * w..(k + 1) * w]);
                    if t.iter().zip(c).any(|(t, c)| c & t != *t) {
                        return Err(PalError::Flash);
                    }
                    t != c
                } else {
                    false
                };
                match (differs, run) {
                    (true, None) => run = Some(k),
                    (false, Some(first)) => {
                        let bytes = &chunk[first * w..k * w];
                        self.wr.0[..bytes.len()].copy_from_slice(bytes);
                        self.flash
                            .write(base + (first * w) as u32, &self.wr.0[..bytes.len()])
                            .await
                            .map_err(pal_error)?;
                        run = None;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Reads `out.len()` bytes at `offset` of the open file, including open partial words.
    pub(crate) async fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), PalError> {
        self.check_range(offset, out.len())?;
        self.read_flash(offset, out).await?;
        let end = offset + out.len() as u32;
        for t in self.tails.iter().flatten() {
            for i in 0..F::WRITE_SIZE {
                let at = t.word + i as u32;
                if t.mask & (1 << i) != 0 && at >= offset && at < end {
                    out[(at - offset) as usize] = t.bytes[i];
                }
            }
        }
        Ok(())
    }

    /// Reads any range of the slot, honouring `READ_SIZE` through the aligned bounce buffer.
    async fn read_flash(&mut self, offset: u32, out: &mut [u8]) -> Result<(), PalError> {
        let r = F::READ_SIZE as u32;
        let mut done = 0usize;
        while done < out.len() {
            let at = offset + done as u32;
            let lead = at % r;
            let take = (out.len() - done).min(CHUNK - F::READ_SIZE);
            let len = align_up(lead + take as u32, r) as usize;
            self.flash
                .read(at - lead, &mut self.rd.0[..len])
                .await
                .map_err(pal_error)?;
            out[done..done + take].copy_from_slice(&self.rd.0[lead as usize..lead as usize + take]);
            done += take;
        }
        Ok(())
    }
}
