//! The resume journal: the agent's resume record plus the slot's erased-sector set, persisted
//! as one item of a `sequential-storage` map.
//!
//! `sequential-storage` appends every new value with a CRC over its header and its data, cycles
//! through the pages of the journal area (wear is spread over all of them) and repairs the
//! page states after an interrupted write or erase. A value whose write was cut fails its CRC
//! and is skipped, so the value read back after a power cut is the previous one or the new one,
//! never a torn mix. The power-cut sweep in `tests/power_cut.rs` checks this at every flash
//! operation.
//!
//! Item layout (after the map's own key and header): `format (1) | flags (1) | erased-set length
//! E (u16 LE) | erased set (E bytes, bit i = sector i) | resume record (rest)`. Flag bit 0: a
//! record follows. The erased set and the record are written in one item, so they always
//! match.

use embedded_storage_async::nor_flash::NorFlash;
use ota_core::PalError;
use sequential_storage::Error as StoreError;
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapStorage, SerializationError, Value};

use crate::error::{OUT_OF_MEMORY, SetupError};
use crate::layout::SectorSet;

const KEY: u8 = 0;
const FORMAT: u8 = 1;
const HEADER: usize = 4;
const FLAG_RECORD: u8 = 1;

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    pub(crate) erased: &'a [u8],
    pub(crate) record: Option<&'a [u8]>,
}

impl<'a> Value<'a> for Entry<'a> {
    fn serialize_into(&self, buffer: &mut [u8]) -> Result<usize, SerializationError> {
        let e = u16::try_from(self.erased.len()).map_err(|_| SerializationError::InvalidData)?;
        let rec = self.record.unwrap_or(&[]);
        let total = HEADER + self.erased.len() + rec.len();
        let out = buffer
            .get_mut(..total)
            .ok_or(SerializationError::BufferTooSmall)?;
        let flags = if self.record.is_some() {
            FLAG_RECORD
        } else {
            0
        };
        let (head, body) = out.split_at_mut(HEADER);
        head.copy_from_slice(&[FORMAT, flags, e.to_le_bytes()[0], e.to_le_bytes()[1]]);
        let (set, record) = body.split_at_mut(self.erased.len());
        set.copy_from_slice(self.erased);
        record.copy_from_slice(rec);
        Ok(total)
    }

    fn deserialize_from(buffer: &'a [u8]) -> Result<(Self, usize), SerializationError> {
        let (head, body) = buffer
            .split_at_checked(HEADER)
            .ok_or(SerializationError::InvalidFormat)?;
        if head[0] != FORMAT {
            return Err(SerializationError::InvalidFormat);
        }
        let e = u16::from_le_bytes([head[2], head[3]]) as usize;
        let (erased, rest) = body
            .split_at_checked(e)
            .ok_or(SerializationError::InvalidFormat)?;
        let record = (head[1] & FLAG_RECORD != 0).then_some(rest);
        Ok((Self { erased, record }, buffer.len()))
    }
}

#[repr(align(32))]
struct Buf<const N: usize>([u8; N]);

/// The journal over an erase-page aligned flash area of at least two pages.
pub(crate) struct Journal<F: NorFlash, const N: usize> {
    map: MapStorage<u8, F, Cache<Uncached, Uncached, Uncached, u8>>,
    buf: Buf<N>,
    /// Longest record that fits next to an erased set of `set_bytes`.
    max_record: usize,
}

fn store_err<E>(e: StoreError<E>) -> PalError {
    match e {
        StoreError::Storage { .. } | StoreError::Corrupted { .. } | StoreError::LogicBug { .. } => {
            PalError::Flash
        }
        _ => PalError::Other(OUT_OF_MEMORY),
    }
}

impl<F: NorFlash, const N: usize> Journal<F, N> {
    /// `set_bytes`: the largest erased set the slot writes.
    pub(crate) fn new(flash: F, set_bytes: usize) -> Result<Self, SetupError> {
        let e = F::ERASE_SIZE;
        let cap = flash.capacity() / e * e;
        let cap = u32::try_from(cap).map_err(|_| SetupError::Journal)?;
        let config = MapConfig::<F>::try_new(0..cap).map_err(|_| SetupError::Journal)?;
        // Key (1 byte) + header + set + at least one record byte, rounded up to the word size.
        let needed = (1 + HEADER + set_bytes + 1).next_multiple_of(F::WRITE_SIZE.max(F::READ_SIZE));
        if N < needed {
            return Err(SetupError::JournalBuffer { needed });
        }
        let word = F::WRITE_SIZE.max(F::READ_SIZE);
        let usable = N / word * word;
        let max_record = usable.saturating_sub(1 + HEADER + set_bytes);
        Ok(Self {
            map: MapStorage::new(flash, config, Cache::new_uncached()),
            buf: Buf([0; N]),
            max_record,
        })
    }

    pub(crate) fn max_record(&self) -> usize {
        self.max_record
    }

    pub(crate) fn flash_mut(&mut self) -> &mut F {
        self.map.flash()
    }

    pub(crate) fn into_flash(self) -> F {
        self.map.destroy().0
    }

    /// Loads the stored entry: copies the erased set into `set_out` and the record into
    /// `record_out` (if given; without it only the record's length is reported). Returns `(set length, record length)`; `None` when nothing usable is
    /// stored (never written, cleared, foreign format, or damaged beyond repair).
    pub(crate) async fn load(
        &mut self,
        set_out: &mut [u8],
        record_out: Option<&mut [u8]>,
    ) -> Result<Option<(usize, Option<usize>)>, PalError> {
        let got = self
            .map
            .fetch_item::<Entry<'_>>(&mut self.buf.0, &KEY)
            .await;
        let entry = match got {
            Ok(Some(e)) => e,
            Ok(None)
            | Err(StoreError::Corrupted { .. })
            | Err(StoreError::SerializationError(_)) => {
                return Ok(None);
            }
            Err(e) => return Err(store_err(e)),
        };
        let set = set_out
            .get_mut(..entry.erased.len())
            .ok_or(PalError::Other(OUT_OF_MEMORY))?;
        set.copy_from_slice(entry.erased);
        let rec = match (entry.record, record_out) {
            (Some(r), Some(out)) => {
                let out = out
                    .get_mut(..r.len())
                    .ok_or(PalError::Other(OUT_OF_MEMORY))?;
                out.copy_from_slice(r);
                Some(r.len())
            }
            (Some(r), None) => Some(r.len()),
            (None, _) => None,
        };
        Ok(Some((entry.erased.len(), rec)))
    }

    /// Replaces the stored entry. A value that cannot be stored because the area is damaged
    /// beyond the store's own repair is retried once on a freshly erased area.
    pub(crate) async fn store(
        &mut self,
        erased: &[u8],
        record: Option<&[u8]>,
    ) -> Result<(), PalError> {
        if record.is_some_and(|r| r.len() > self.max_record) {
            return Err(PalError::Other(OUT_OF_MEMORY));
        }
        let entry = Entry { erased, record };
        match self.map.store_item(&mut self.buf.0, &KEY, &entry).await {
            Ok(()) => Ok(()),
            Err(StoreError::Corrupted { .. }) => {
                self.map.erase_all().await.map_err(store_err)?;
                self.map
                    .store_item(&mut self.buf.0, &KEY, &entry)
                    .await
                    .map_err(store_err)
            }
            Err(e) => Err(store_err(e)),
        }
    }
}

/// Largest erased set stored (1024 sectors).
pub(crate) const MAX_SET_BYTES: usize = 128;

/// Bytes of the erased set for `sectors` sectors.
pub(crate) const fn set_bytes(sectors: u32) -> usize {
    SectorSet::<1>::bytes_for(sectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips() {
        let mut buf = [0u8; 64];
        let e = Entry {
            erased: &[0b101, 0x80],
            record: Some(b"rec"),
        };
        let n = e.serialize_into(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[1, 1, 2, 0, 0b101, 0x80, b'r', b'e', b'c']);
        let (back, used) = Entry::deserialize_from(&buf[..n]).unwrap();
        assert_eq!((back, used), (e, n));
        let cleared = Entry {
            erased: &[],
            record: None,
        };
        let n = cleared.serialize_into(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[1, 0, 0, 0]);
        assert_eq!(Entry::deserialize_from(&buf[..n]).unwrap().0, cleared);
    }

    #[test]
    fn entry_rejects_garbage() {
        assert!(Entry::deserialize_from(&[2, 0, 0, 0]).is_err());
        assert!(Entry::deserialize_from(&[1, 1, 9, 0, 1]).is_err());
        assert!(Entry::deserialize_from(&[1]).is_err());
        assert!(
            Entry {
                erased: &[1; 8],
                record: None
            }
            .serialize_into(&mut [0; 6])
            .is_err()
        );
    }
}
