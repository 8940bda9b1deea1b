//! The resume record: where a download stands, for the platform to persist power-fail safely.
//!
//! The agent emits it as [`crate::Action::PersistResume`] every
//! [`crate::Config::resume_every`] stored blocks (and when a file starts), and takes the last
//! persisted copy back at start through [`crate::BootInfo::resume`]. Only blocks whose writes
//! were confirmed before the record was emitted are marked stored in it, so a record never
//! claims data that is not durable; blocks stored after the last persisted record are fetched
//! again.
//!
//! Format (little-endian), versioned and CRC-protected so that a torn or foreign record is
//! ignored, never trusted:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `OTAR` |
//! | 1 | format version (1) |
//! | 1 | job id length `J` (1..=64) |
//! | J | job id |
//! | 1 | file position in processing order |
//! | 1 | file index in the job's `files` |
//! | 4 | file id |
//! | 4 | file size |
//! | 4 | block size |
//! | 2 | bitmap length `M` |
//! | M | bitmap |
//! | 4 | CRC-32 of everything before it |

use crate::wire::crc32;

/// Record size without job id and bitmap.
pub const RECORD_OVERHEAD: usize = 4 + 1 + 1 + 1 + 1 + 4 + 4 + 4 + 2 + 4;
/// Largest record for a bitmap of `bitmap_len` bytes (job ids are at most 64 bytes).
pub const fn max_record_len(bitmap_len: usize) -> usize {
    RECORD_OVERHEAD + 64 + bitmap_len
}

const MAGIC: &[u8; 4] = b"OTAR";
const FORMAT: u8 = 1;

/// A decoded resume record, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeRecord<'a> {
    /// The job.
    pub job_id: &'a str,
    /// Position of the file in the agent's processing order.
    pub file_pos: u8,
    /// Index of the file in the job's `files`.
    pub file_index: u8,
    /// The file's `fileid`.
    pub file_id: u32,
    /// The file's `filesize`.
    pub file_size: u32,
    /// The block size the download used.
    pub block_size: u32,
    /// The bitmap (1 = still needed).
    pub bitmap: &'a [u8],
}

impl<'a> ResumeRecord<'a> {
    /// Encodes into `out`; `None` if it does not fit or a field is out of range.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let id = self.job_id.as_bytes();
        if id.is_empty() || id.len() > 64 || self.bitmap.len() > u16::MAX as usize {
            return None;
        }
        let body = RECORD_OVERHEAD - 4 + id.len() + self.bitmap.len();
        let (head, tail) = out.get_mut(..body + 4)?.split_at_mut(body);
        let mut w = crate::wire::Writer::new(head);
        w.bytes(MAGIC)
            .bytes(&[FORMAT, id.len() as u8])
            .bytes(id)
            .bytes(&[self.file_pos, self.file_index])
            .bytes(&self.file_id.to_le_bytes())
            .bytes(&self.file_size.to_le_bytes())
            .bytes(&self.block_size.to_le_bytes())
            .bytes(&(self.bitmap.len() as u16).to_le_bytes())
            .bytes(self.bitmap);
        w.finish()?;
        tail.copy_from_slice(&crc32(head).to_le_bytes());
        Some(body + 4)
    }

    /// Decodes a record; `None` for anything torn, foreign or inconsistent.
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    pub fn decode(bytes: &'a [u8]) -> Option<Self> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32(body).to_le_bytes() != *crc {
            return None;
        }
        let mut r = Reader(body);
        if r.take(4)? != MAGIC || r.u8()? != FORMAT {
            return None;
        }
        let id_len = r.u8()? as usize;
        let job_id = core::str::from_utf8(r.take(id_len)?).ok()?;
        if !crate::codec::job::is_valid_job_id(job_id) {
            return None;
        }
        let file_pos = r.u8()?;
        let file_index = r.u8()?;
        let file_id = r.u32()?;
        let file_size = r.u32()?;
        let block_size = r.u32()?;
        let m = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
        let bitmap = r.take(m)?;
        if !r.0.is_empty() || block_size == 0 || file_size == 0 {
            return None;
        }
        let blocks = file_size.div_ceil(block_size);
        if crate::bitmap::Bitmap::bytes_for(blocks) != m {
            return None;
        }
        Some(Self {
            job_id,
            file_pos,
            file_index,
            file_id,
            file_size,
            block_size,
            bitmap,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.0.split_at_checked(n)?;
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}
