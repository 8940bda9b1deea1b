#![doc = include_str!("../README.md")]
//!
//! # Download slot rules
//!
//! * **Erase on first touch.** A sector is erased right before the first byte of the current
//!   file is written into it and remembered in the *erased set*. `FileCreate { resume: false }`
//!   starts with an empty set, so nothing stale survives in the bytes the file occupies; it also
//!   forgets the stored resume record (durably, before the first erase) unless the agent
//!   persists a new one first, because that record describes bytes about to be erased.
//!   `FileCreate { resume: true }` starts from the set persisted with the last record: those
//!   sectors keep their data; the others are erased on first touch (none of their blocks can
//!   be claimed by the record).
//! * **Checked writes into kept sectors.** After a reboot, blocks written after the last record
//!   may be in flash in full, in part or not at all. A word that already holds its target is
//!   skipped, one that reaches it by clearing bits is programmed, anything else fails the write
//!   with [`ota_core::PalError::Flash`] instead of storing a corrupt image.
//! * **Partial words.** The aligned middle of a write is programmed at once. A word that a
//!   write covers only in part waits in a RAM table ([`TAIL_ENTRIES`] open words) for the rest
//!   of its bytes, then is programmed once; bytes past the end of the file count as present
//!   (erased value), so the file's last word goes out with the last write. Before a resume
//!   record is persisted (a record must never claim bytes that are only in RAM), at
//!   `FileClose` / `Activate`, and when the table is full, open words are programmed padded
//!   with `0xFF` and completed later by another program over them (1→0 bits only).
//!   Program counts per word: with block sizes that are multiples of `WRITE_SIZE` (every AWS
//!   block size is) exactly one; a word shared by two blocks at most two; writes smaller than
//!   a word can add one per record persisted while the word is incomplete; and a program cut
//!   by a power loss is completed once after the reboot. Flashes that allow one program per
//!   word between erases (ECC flash such as STM32L4/H7) therefore need aligned blocks; nRF52
//!   (`nWRITE` = 2) and SPI NOR (ESP32) take the rest.
//! * **Size.** A file larger than the slot (or than the bootloader's limit,
//!   [`BootControl::max_image_len`]) is refused with [`ota_core::PalError::TooLarge`] before any
//!   erase.
//! * **Trial images are protected.** While the running image is on trial (`PendingCommit`), or
//!   after `Activate` until the reset, `FileCreate` fails with
//!   [`ota_core::PalError::BootState`]: the slot holds the image to roll back to.
//!
//! # Journal
//!
//! The resume record and the slot's erased set are persisted together, as one item of a
//! [`sequential-storage`](https://docs.rs/sequential-storage) map in the journal partition.
//! `sequential-storage` appends each value with CRCs over header and data, cycles its pages
//! (wear spread over the whole journal; one item per `PersistResume`, so writes per block are
//! `1 / resume_every`), and repairs page states after an interrupted operation. A value whose
//! write was cut fails its CRC and is skipped: after a power cut the record read back is the
//! old one or the new one, never garbage. The power-cut sweep (`tests/power_cut.rs`) checks
//! this at every flash operation.
//!
//! # Errors
//!
//! Flash errors are reduced to a kind ([`pal_error`]) and surface as a failed action
//! (`Input::PlatformDone(Err(..))`), so the agent reports the job FAILED with a reason and the
//! device keeps running its current image. Construction problems are [`SetupError`]s.
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(all(test, not(feature = "std")))]
extern crate std;

mod adapter;
pub mod boot;
mod error;
mod journal;
mod layout;
mod platform;
mod slot;

#[cfg(feature = "std")]
pub mod host;
#[cfg(feature = "std")]
pub mod mock;

pub use adapter::{BlockingAsync, Partition, PartitionError};
pub use boot::BootControl;
pub use error::{OUT_OF_MEMORY, SetupError, kind_to_pal, pal_error};
pub use layout::SectorLayout;
pub use platform::{
    AsyncPlatform, Config, DEFAULT_JOURNAL_BYTES, DEFAULT_SECTOR_WORDS, Outcome, Platform,
    sector_words,
};
pub use slot::{MAX_WORD, TAIL_ENTRIES};
