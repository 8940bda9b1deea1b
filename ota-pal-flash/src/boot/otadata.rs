//! Byte-level codec for the ESP-IDF `otadata` partition, host-testable and `no_std`.
//!
//! The partition is two 4 KiB sectors (`0x2000` bytes). Each sector starts with one
//! `esp_ota_select_entry_t` of 32 bytes, little-endian:
//!
//! | offset | size | field | meaning |
//! |---|---|---|---|
//! | 0 | 4 | `ota_seq` | sequence number; `0xFFFFFFFF` = unused. Selects app slot `(ota_seq - 1) % ota_count` |
//! | 4 | 20 | `seq_label` | unused by the bootloader (`0xFF`) |
//! | 24 | 4 | `ota_state` | image state ([`OtaState`]) |
//! | 28 | 4 | `crc` | `esp_rom_crc32_le(0xFFFFFFFF, &ota_seq, 4)`: CRC-32 (reflected polynomial `0xEDB88320`) over the 4 bytes of `ota_seq` only |
//!
//! An entry is *valid* when `ota_seq != 0xFFFFFFFF` and its CRC matches. The bootloader boots
//! the slot of the valid entry with the highest `ota_seq`; with rollback enabled it skips
//! entries marked `INVALID` or `ABORTED`, turns `NEW` into `PENDING_VERIFY` on the first boot
//! and a `PENDING_VERIFY` found at boot (the image never confirmed itself) into `ABORTED`,
//! then falls back to the previous slot. The two sectors are written alternately, so a power
//! cut while one is erased or written leaves the other intact.
//!
//! Sources: ESP-IDF `esp_flash_partitions.h` (`esp_ota_select_entry_t`, `esp_ota_img_states_t`),
//! `bootloader_common_ota_select_crc`, `otatool.py` (`binascii.crc32(struct.pack('I', seq),
//! 0xFFFFFFFF)`), and the ESP-IDF OTA guide ("OTA Data Partition", "App rollback").

use embedded_storage::nor_flash::NorFlash;

/// Size of the otadata partition.
pub const OTADATA_LEN: u32 = 0x2000;
/// Size of one otadata sector.
pub const SECTOR_LEN: u32 = 0x1000;
/// Size of one select entry.
pub const ENTRY_LEN: usize = 32;
/// `ota_seq` of an unused entry.
pub const UNUSED_SEQ: u32 = u32::MAX;

/// `esp_ota_img_states_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum OtaState {
    /// `ESP_OTA_IMG_NEW` (0): activated, never booted.
    New,
    /// `ESP_OTA_IMG_PENDING_VERIFY` (1): booted once, must confirm itself.
    PendingVerify,
    /// `ESP_OTA_IMG_VALID` (2): confirmed.
    Valid,
    /// `ESP_OTA_IMG_INVALID` (3): rejected by the application.
    Invalid,
    /// `ESP_OTA_IMG_ABORTED` (4): rebooted without confirming.
    Aborted,
    /// `ESP_OTA_IMG_UNDEFINED` (`0xFFFFFFFF`): no state (rollback not in use).
    Undefined,
}

impl OtaState {
    /// The on-flash value.
    pub const fn to_u32(self) -> u32 {
        match self {
            OtaState::New => 0,
            OtaState::PendingVerify => 1,
            OtaState::Valid => 2,
            OtaState::Invalid => 3,
            OtaState::Aborted => 4,
            OtaState::Undefined => u32::MAX,
        }
    }

    /// From the on-flash value; `None` for values ESP-IDF does not define.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => OtaState::New,
            1 => OtaState::PendingVerify,
            2 => OtaState::Valid,
            3 => OtaState::Invalid,
            4 => OtaState::Aborted,
            u32::MAX => OtaState::Undefined,
            _ => return None,
        })
    }
}

/// ESP ROM `crc32_le(crc, buf, len)`: reflected CRC-32 (polynomial `0xEDB88320`) that inverts
/// `crc` on entry and the result on exit, so that calls chain.
pub fn esp_crc32_le(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// The CRC an entry with this `ota_seq` carries.
pub fn seq_crc(seq: u32) -> u32 {
    esp_crc32_le(u32::MAX, &seq.to_le_bytes())
}

/// One `esp_ota_select_entry_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Entry {
    /// `ota_seq`.
    pub seq: u32,
    /// `seq_label` (unused by the bootloader).
    pub label: [u8; 20],
    /// `ota_state`, raw (see [`Entry::state`]).
    pub state: u32,
    /// `crc`.
    pub crc: u32,
}

impl Entry {
    /// An erased (unused) entry: all `0xFF`.
    pub const ERASED: Entry = Entry {
        seq: UNUSED_SEQ,
        label: [0xFF; 20],
        state: u32::MAX,
        crc: u32::MAX,
    };

    /// A valid entry for `seq` in `state`, label erased, CRC computed.
    pub fn new(seq: u32, state: OtaState) -> Self {
        Self {
            seq,
            label: [0xFF; 20],
            state: state.to_u32(),
            crc: seq_crc(seq),
        }
    }

    /// The 32 bytes as stored.
    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[0..4].copy_from_slice(&self.seq.to_le_bytes());
        out[4..24].copy_from_slice(&self.label);
        out[24..28].copy_from_slice(&self.state.to_le_bytes());
        out[28..32].copy_from_slice(&self.crc.to_le_bytes());
        out
    }

    /// Decodes 32 stored bytes (any bytes decode; check [`Entry::is_valid`]).
    pub fn decode(b: &[u8; ENTRY_LEN]) -> Self {
        let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut label = [0u8; 20];
        label.copy_from_slice(&b[4..24]);
        Self {
            seq: u(0),
            label,
            state: u(24),
            crc: u(28),
        }
    }

    /// `ota_seq` in use and the CRC matches (`bootloader_common_ota_select_valid`).
    pub fn is_valid(&self) -> bool {
        self.seq != UNUSED_SEQ && self.crc == seq_crc(self.seq)
    }

    /// The image state, if it is a defined value.
    pub fn state(&self) -> Option<OtaState> {
        OtaState::from_u32(self.state)
    }

    /// Valid and not marked `INVALID` / `ABORTED` (`!bootloader_common_ota_select_invalid`):
    /// the bootloader may select it.
    pub fn is_bootable(&self) -> bool {
        self.is_valid() && !matches!(self.state(), Some(OtaState::Invalid | OtaState::Aborted))
    }

    /// The app slot this entry selects among `ota_count` slots.
    pub fn slot(&self, ota_count: u8) -> u8 {
        if ota_count == 0 {
            return 0;
        }
        (self.seq.wrapping_sub(1) % ota_count as u32) as u8
    }
}

/// Which of the two sectors holds the entry the bootloader follows: the bootable entry with
/// the highest `ota_seq` (sector 0 on a tie), if any.
pub fn active(entries: &[Entry; 2]) -> Option<usize> {
    match (entries[0].is_bootable(), entries[1].is_bootable()) {
        (true, true) => Some(if entries[0].seq >= entries[1].seq {
            0
        } else {
            1
        }),
        (true, false) => Some(0),
        (false, true) => Some(1),
        (false, false) => None,
    }
}

/// The highest `ota_seq` among the valid entries (whatever their state), if any.
pub fn max_seq(entries: &[Entry; 2]) -> Option<u32> {
    entries.iter().filter(|e| e.is_valid()).map(|e| e.seq).max()
}

/// The smallest `ota_seq` above `base` that selects `slot` of `ota_count` (as `otatool.py` and
/// `esp_ota_set_boot_partition` compute it); `slot + 1` without a base. `None` on overflow or
/// a bad slot.
pub fn next_seq(base: Option<u32>, slot: u8, ota_count: u8) -> Option<u32> {
    if ota_count == 0 || slot >= ota_count {
        return None;
    }
    let target = slot as u32 + 1;
    let Some(base) = base else {
        return Some(target);
    };
    let n = ota_count as u32;
    // Smallest seq > base with seq ≡ target (mod n).
    let r = (target % n + n - base % n) % n;
    let step = if r == 0 { n } else { r };
    let seq = base.checked_add(step)?;
    (seq != UNUSED_SEQ).then_some(seq)
}

/// Reads both entries of an otadata partition.
pub fn read_entries<F: NorFlash>(flash: &mut F) -> Result<[Entry; 2], F::Error> {
    let mut out = [Entry::ERASED; 2];
    for (i, e) in out.iter_mut().enumerate() {
        let mut b = [0u8; ENTRY_LEN];
        flash.read(i as u32 * SECTOR_LEN, &mut b)?;
        *e = Entry::decode(&b);
    }
    Ok(out)
}

/// Erases sector `sector` (0 or 1) and writes `entry` at its start. The CRC word is programmed
/// after the rest of the entry (when the flash's `WRITE_SIZE` allows it), so an interrupted
/// write leaves an entry whose CRC does not match, which the bootloader ignores.
pub fn write_entry<F: NorFlash>(
    flash: &mut F,
    sector: usize,
    entry: &Entry,
) -> Result<(), F::Error> {
    #[repr(align(4))]
    struct A([u8; ENTRY_LEN]);
    let at = if sector == 0 { 0 } else { SECTOR_LEN };
    flash.erase(at, at + SECTOR_LEN)?;
    let bytes = A(entry.encode());
    if 28 % F::WRITE_SIZE == 0 {
        flash.write(at, &bytes.0[..28])?;
        flash.write(at + 28, &bytes.0[28..])
    } else {
        flash.write(at, &bytes.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Expected CRCs from ESP-IDF's otatool.py formula, evaluated with CPython:
    // binascii.crc32(struct.pack('<I', seq), 0xFFFFFFFF) & 0xFFFFFFFF
    const CRC_VECTORS: [(u32, u32); 5] = [
        (1, 0x4743_989A),
        (2, 0x55F6_3774),
        (3, 0xED4A_5011),
        (16, 0xAFE6_A860),
        (0xFFFF_FFFE, 0x99F8_B879),
    ];

    #[test]
    fn crc_matches_otatool() {
        for (seq, crc) in CRC_VECTORS {
            assert_eq!(seq_crc(seq), crc, "seq {seq}");
        }
        // The ROM function chains: crc32_le(crc32_le(c, a), b) == crc32_le(c, a ++ b).
        let whole = esp_crc32_le(u32::MAX, b"123456789");
        assert_eq!(
            esp_crc32_le(esp_crc32_le(u32::MAX, b"1234"), b"56789"),
            whole
        );
        // With the standard initial value it is the IEEE CRC-32 ("check" value 0xCBF43926).
        assert_eq!(esp_crc32_le(0, b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn entry_bytes_match_the_documented_layout() {
        // ota_seq = 1 (slot ota_0), label unused, state NEW, crc over ota_seq.
        let mut expected = [0xFFu8; 32];
        expected[0..4].copy_from_slice(&[0x01, 0x00, 0x00, 0x00]);
        expected[24..28].copy_from_slice(&[0x00, 0x00, 0x00, 0x00]);
        expected[28..32].copy_from_slice(&[0x9A, 0x98, 0x43, 0x47]);
        let e = Entry::new(1, OtaState::New);
        assert_eq!(e.encode(), expected);
        assert_eq!(Entry::decode(&expected), e);
        assert!(e.is_valid() && e.is_bootable());
        assert_eq!(e.slot(2), 0);

        // ota_seq = 2 (slot ota_1), PENDING_VERIFY.
        let mut expected = [0xFFu8; 32];
        expected[0..4].copy_from_slice(&[0x02, 0, 0, 0]);
        expected[24..28].copy_from_slice(&[0x01, 0, 0, 0]);
        expected[28..32].copy_from_slice(&[0x74, 0x37, 0xF6, 0x55]);
        assert_eq!(Entry::new(2, OtaState::PendingVerify).encode(), expected);
        assert_eq!(Entry::new(2, OtaState::PendingVerify).slot(2), 1);

        // The state values of esp_ota_img_states_t.
        let values: [(OtaState, u32); 6] = [
            (OtaState::New, 0),
            (OtaState::PendingVerify, 1),
            (OtaState::Valid, 2),
            (OtaState::Invalid, 3),
            (OtaState::Aborted, 4),
            (OtaState::Undefined, 0xFFFF_FFFF),
        ];
        for (s, v) in values {
            assert_eq!(s.to_u32(), v);
            assert_eq!(OtaState::from_u32(v), Some(s));
            let mut e = Entry::new(3, s).encode();
            assert_eq!(&e[24..28], &v.to_le_bytes());
            e[24] = 9;
            assert_eq!(Entry::decode(&e).state(), None);
        }
    }

    #[test]
    fn erased_and_damaged_entries_are_not_valid() {
        assert_eq!(Entry::decode(&[0xFF; 32]), Entry::ERASED);
        assert!(!Entry::ERASED.is_valid());
        let mut b = Entry::new(5, OtaState::Valid).encode();
        b[29] ^= 1;
        assert!(!Entry::decode(&b).is_valid());
        let rejected = Entry::new(7, OtaState::Invalid);
        assert!(rejected.is_valid() && !rejected.is_bootable());
        assert!(!Entry::new(7, OtaState::Aborted).is_bootable());
    }

    #[test]
    fn active_picks_the_highest_bootable_seq() {
        let a = Entry::new(4, OtaState::Valid);
        let b = Entry::new(5, OtaState::New);
        assert_eq!(active(&[a, b]), Some(1));
        assert_eq!(active(&[b, a]), Some(0));
        assert_eq!(active(&[a, Entry::new(5, OtaState::Aborted)]), Some(0));
        assert_eq!(active(&[a, a]), Some(0));
        assert_eq!(active(&[Entry::ERASED, Entry::ERASED]), None);
        assert_eq!(max_seq(&[a, Entry::new(9, OtaState::Invalid)]), Some(9));
    }

    #[test]
    fn next_seq_follows_otatool() {
        // Fresh otadata: slot n gets n + 1.
        assert_eq!(next_seq(None, 0, 2), Some(1));
        assert_eq!(next_seq(None, 1, 2), Some(2));
        // From seq 1 (ota_0) to ota_1 is 2, back to ota_0 is 3.
        assert_eq!(next_seq(Some(1), 1, 2), Some(2));
        assert_eq!(next_seq(Some(2), 0, 2), Some(3));
        // The same slot again moves a whole round.
        assert_eq!(next_seq(Some(2), 1, 2), Some(4));
        assert_eq!(next_seq(Some(7), 2, 3), Some(9));
        assert_eq!(next_seq(Some(u32::MAX - 2), 0, 2), None);
        assert_eq!(next_seq(Some(1), 2, 2), None);
    }

    proptest! {
        #[test]
        fn codec_round_trips(seq: u32, label: [u8; 20], state: u32, crc: u32) {
            let e = Entry { seq, label, state, crc };
            prop_assert_eq!(Entry::decode(&e.encode()), e);
        }

        #[test]
        fn next_seq_selects_the_slot(base in proptest::option::of(0u32..1_000_000), count in 1u8..16, slot in 0u8..16) {
            prop_assume!(slot < count);
            let seq = next_seq(base, slot, count).unwrap();
            prop_assert_eq!(Entry::new(seq, OtaState::New).slot(count), slot);
            if let Some(b) = base {
                prop_assert!(seq > b && seq - b <= count as u32);
            }
        }
    }
}
