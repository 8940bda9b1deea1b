//! A [`NorFlash`] over a file, with NOR rules: erased `0xFF`, programs only clear bits, erases
//! in `ERASE`-byte sectors, `WRITE`-aligned programs.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::vec;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Errors of a [`FileFlash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileFlashError {
    /// The file could not be read or written.
    Io(io::ErrorKind),
    /// Address or length not aligned.
    NotAligned,
    /// Outside the flash.
    OutOfBounds,
    /// A program would set a bit that is 0: the sector was not erased first.
    NotErased {
        /// Address of the first offending byte.
        addr: u32,
    },
}

impl NorFlashError for FileFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FileFlashError::NotAligned => NorFlashErrorKind::NotAligned,
            FileFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl core::fmt::Display for FileFlashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FileFlashError::Io(k) => write!(f, "file I/O error: {k}"),
            FileFlashError::NotAligned => f.write_str("not aligned"),
            FileFlashError::OutOfBounds => f.write_str("out of bounds"),
            FileFlashError::NotErased { addr } => {
                write!(f, "program over unerased byte at {addr:#x}")
            }
        }
    }
}

impl std::error::Error for FileFlashError {}

impl From<io::Error> for FileFlashError {
    fn from(e: io::Error) -> Self {
        FileFlashError::Io(e.kind())
    }
}

/// A flash partition stored in a file of exactly its size. Every operation goes to the file at
/// once (no cache), so a process that is killed, or a simulated device that is powered off by
/// dropping its platform, restarts from exactly what was written, like a power cycle.
#[derive(Debug)]
pub struct FileFlash<const WRITE: usize = 4, const ERASE: usize = 4096> {
    file: File,
    len: u32,
}

impl<const WRITE: usize, const ERASE: usize> FileFlash<WRITE, ERASE> {
    /// Opens (or creates) the partition file `path` of `len` bytes. A new file, or the part of a
    /// shorter file beyond its end, reads as erased (`0xFF`).
    ///
    /// # Errors
    /// I/O errors; [`io::ErrorKind::InvalidInput`] when `len` is not a multiple of `ERASE`.
    pub fn open(path: impl AsRef<Path>, len: u32) -> io::Result<Self> {
        if ERASE == 0
            || !len.is_multiple_of(ERASE as u32)
            || WRITE == 0
            || !ERASE.is_multiple_of(WRITE)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "size not a multiple of ERASE",
            ));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let cur = file.metadata()?.len();
        if cur < len as u64 {
            file.seek(SeekFrom::Start(cur))?;
            let fill = vec![0xFFu8; (len as u64 - cur) as usize];
            file.write_all(&fill)?;
            file.flush()?;
        }
        Ok(Self { file, len })
    }

    fn range(&self, offset: u32, len: usize) -> Result<u64, FileFlashError> {
        let end = (offset as u64)
            .checked_add(len as u64)
            .ok_or(FileFlashError::OutOfBounds)?;
        if end > self.len as u64 {
            return Err(FileFlashError::OutOfBounds);
        }
        Ok(offset as u64)
    }
}

impl<const W: usize, const E: usize> ErrorType for FileFlash<W, E> {
    type Error = FileFlashError;
}

impl<const W: usize, const E: usize> ReadNorFlash for FileFlash<W, E> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FileFlashError> {
        let at = self.range(offset, bytes.len())?;
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(bytes)?;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}

impl<const W: usize, const E: usize> NorFlash for FileFlash<W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FileFlashError> {
        if from > to {
            return Err(FileFlashError::OutOfBounds);
        }
        if !from.is_multiple_of(E as u32) || !to.is_multiple_of(E as u32) {
            return Err(FileFlashError::NotAligned);
        }
        let at = self.range(from, (to - from) as usize)?;
        self.file.seek(SeekFrom::Start(at))?;
        self.file.write_all(&vec![0xFF; (to - from) as usize])?;
        self.file.flush()?;
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FileFlashError> {
        if !(offset as usize).is_multiple_of(W) || !bytes.len().is_multiple_of(W) {
            return Err(FileFlashError::NotAligned);
        }
        let at = self.range(offset, bytes.len())?;
        let mut cur = vec![0u8; bytes.len()];
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(&mut cur)?;
        for (i, (c, n)) in cur.iter_mut().zip(bytes).enumerate() {
            if *c & n != *n {
                return Err(FileFlashError::NotErased {
                    addr: offset + i as u32,
                });
            }
            *c &= n;
        }
        self.file.seek(SeekFrom::Start(at))?;
        self.file.write_all(&cur)?;
        self.file.flush()?;
        Ok(())
    }
}
