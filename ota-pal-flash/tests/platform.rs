//! The platform's file actions on the mock flash: alignment, sector geometry, stale data,
//! sizes, resume, read-back, refusals, and the async twin.

mod support;

use std::cell::RefCell;

use embedded_storage::nor_flash::NorFlash;
use ota_core::{Action, FileInfo, ImageState, Input, PalError, PlatformImageState};
use ota_pal_flash::boot::sim::{SimBoot, SimBootloader};
use ota_pal_flash::mock::{MockConfig, MockFlash};
use ota_pal_flash::{
    AsyncPlatform, BootControl, Config, Outcome, Partition, Platform, SectorLayout, SetupError,
};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::image;

/// A boot control that only reports a state.
#[derive(Debug)]
struct FixedBoot(PlatformImageState, u32);

impl BootControl for FixedBoot {
    fn platform_state(&mut self) -> Result<PlatformImageState, PalError> {
        Ok(self.0)
    }
    fn activate(&mut self, _: u32) -> Result<(), PalError> {
        self.1 += 1;
        Ok(())
    }
    fn cancel_activation(&mut self) -> Result<(), PalError> {
        self.1 += 100;
        Ok(())
    }
    fn commit(&mut self) -> Result<(), PalError> {
        self.0 = PlatformImageState::Valid;
        Ok(())
    }
    fn reject(&mut self) -> Result<(), PalError> {
        self.0 = PlatformImageState::Invalid;
        Ok(())
    }
}

fn valid() -> FixedBoot {
    FixedBoot(PlatformImageState::Valid, 0)
}

fn file(size: usize, resume: bool) -> Action<'static> {
    Action::FileCreate(FileInfo {
        index: 0,
        file_type: 0,
        is_firmware: true,
        size: size as u32,
        path: "",
        resume,
    })
}

fn done<S: NorFlash, J: NorFlash, B: BootControl>(p: &mut Platform<S, J, B>, a: Action<'_>) {
    let mut buf = [0u8; 64];
    match p.execute(&a, &mut buf) {
        Outcome::Done(Ok(())) | Outcome::Silent(Ok(())) => {}
        o => panic!("{a:?}: {o:?}"),
    }
}

fn read_all<S: NorFlash, J: NorFlash, B: BootControl>(
    p: &mut Platform<S, J, B>,
    len: usize,
) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut buf = vec![0u8; 700];
    let mut off = 0;
    while off < len {
        let n = 700.min(len - off);
        match p.execute(
            &Action::FileRead {
                offset: off as u32,
                len: n as u32,
            },
            &mut buf,
        ) {
            Outcome::Data(Ok(d)) => out[off..off + n].copy_from_slice(d),
            o => panic!("read {off}: {o:?}"),
        }
        off += n;
    }
    out
}

/// Writes `img` in `block`-sized pieces in shuffled order on a mock chip whose slot was full of
/// stale zeros, and checks read-back and program counts.
fn shuffled_write<const W: usize, const E: usize, const R: usize>(
    sectors: Option<&'static [u32]>,
    block: usize,
    len: usize,
    persist_every: usize,
) -> u8 {
    let slot_len = 64 * 1024u32;
    let mut chip = match sectors {
        Some(s) => {
            let mut all = s.to_vec();
            all.extend([E as u32; 8]);
            MockFlash::<W, E, R>::with_sectors(&all)
        }
        None => MockFlash::<W, E, R>::new(slot_len + 8 * E as u32),
    }
    .with_config(MockConfig {
        max_programs: 2,
        ..MockConfig::default()
    });
    let cap = chip.as_bytes().len() as u32;
    chip.as_bytes_mut()[..slot_len as usize].fill(0); // stale data everywhere
    let chip = RefCell::new(chip);
    let slot = Partition::new(&chip, 0, slot_len);
    let journal = Partition::new(&chip, slot_len, cap - slot_len);
    let config = sectors.map_or(Config::new(), |s| {
        Config::new().with_sector_layout(SectorLayout::Mixed(s))
    });
    let mut p: Platform<_, _, _> = Platform::new(slot, journal, valid(), config).unwrap();
    let img = image(len, block as u64);
    done(&mut p, file(len, false));
    let n = len.div_ceil(block);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(len as u64));
    for (i, b) in order.iter().enumerate() {
        let s = b * block;
        let e = (s + block).min(len);
        done(
            &mut p,
            Action::FileWrite {
                offset: s as u32,
                data: &img[s..e],
            },
        );
        if persist_every > 0 && (i + 1) % persist_every == 0 {
            done(&mut p, Action::PersistResume(b"record"));
        }
    }
    assert!(
        read_all(&mut p, len) == img,
        "read-back W={W} E={E} block={block}"
    );
    // FileClose programs the open words; the flash then holds the file.
    done(&mut p, Action::FileClose);
    let _ = p.into_parts(); // power off
    let chip = chip.into_inner();
    assert!(
        chip.as_bytes()[..len] == img[..],
        "flash contents W={W} block={block}"
    );
    chip.stats().max_programs_seen
}

#[test]
fn write_sizes_and_block_sizes() {
    for block in [256, 1024, 4096, 8192] {
        assert_eq!(shuffled_write::<1, 4096, 1>(None, block, 20_000, 3), 1);
        assert_eq!(shuffled_write::<4, 4096, 1>(None, block, 20_001, 3), 1);
        assert_eq!(shuffled_write::<8, 2048, 4>(None, block, 19_999, 0), 1);
        assert_eq!(shuffled_write::<16, 1024, 16>(None, block, 20_005, 5), 1);
    }
}

#[test]
fn unaligned_blocks_buffer_partial_words() {
    // Partial words wait in RAM; records, and more open words than the table holds, program
    // them padded and complete them later (a second program). Sequential writes without
    // records program each word once (`http_chunks_of_any_size`).
    for block in [250, 333, 1000, 4097] {
        assert!(
            shuffled_write::<16, 1024, 1>(None, block, 12_345, 0) <= 2,
            "block {block}"
        );
        assert!(
            shuffled_write::<8, 2048, 8>(None, block, 12_345, 0) <= 2,
            "block {block}"
        );
        assert!(shuffled_write::<16, 1024, 1>(None, block, 12_345, 2) <= 2);
        assert!(shuffled_write::<4, 4096, 4>(None, block, 12_345, 1) <= 2);
    }
}

/// A 64 KiB slot of mixed sectors (STM32F4-like small sectors first, then larger ones).
static MIXED: [u32; 13] = [
    1024, 1024, 1024, 1024, 4096, 4096, 8192, 16384, 2048, 2048, 8192, 8192, 8192,
];

#[test]
fn mixed_sector_sizes() {
    assert_eq!(MIXED.iter().sum::<u32>(), 64 * 1024);
    for block in [256, 1000, 4096] {
        assert!(shuffled_write::<4, 1024, 1>(Some(&MIXED), block, 60_000, 4) <= 2);
    }
    assert_eq!(
        shuffled_write::<4, 1024, 1>(Some(&MIXED), 2048, 65_536, 3),
        1
    );
}

#[test]
fn too_large_is_refused_before_any_erase() {
    let chip = RefCell::new(MockFlash::<4, 4096>::new(64 * 1024));
    let slot = Partition::new(&chip, 0, 32 * 1024);
    let journal = Partition::new(&chip, 32 * 1024, 32 * 1024);
    let mut p: Platform<_, _, _> = Platform::new(slot, journal, valid(), Config::new()).unwrap();
    let mut buf = [0u8; 8];
    let o = p.execute(&file(32 * 1024 + 1, false), &mut buf);
    assert_eq!(
        o.input(),
        Some(Input::PlatformDone(Err(PalError::TooLarge)))
    );
    assert_eq!(chip.borrow().ops(), 0);
    done(&mut p, file(32 * 1024, false));
    // Nothing may be written beyond the file.
    let o = p.execute(
        &Action::FileWrite {
            offset: 32 * 1024 - 4,
            data: &[1; 8],
        },
        &mut buf,
    );
    assert_eq!(o, Outcome::Done(Err(PalError::OutOfBounds)));
    assert_eq!(chip.borrow().ops(), 0);
}

#[test]
fn refuses_non_firmware_unless_configured_and_while_on_trial() {
    let other = Action::FileCreate(FileInfo {
        index: 1,
        file_type: 7,
        is_firmware: false,
        size: 100,
        path: "cert.pem",
        resume: false,
    });
    let mut buf = [0u8; 8];
    let mk = |boot: FixedBoot, config: Config| {
        Platform::<_, _, _>::new(
            MockFlash::<4, 4096>::new(16 * 1024),
            MockFlash::<4, 4096>::new(8 * 1024),
            boot,
            config,
        )
        .unwrap()
    };
    let mut p = mk(valid(), Config::new());
    assert_eq!(
        p.execute(&other, &mut buf),
        Outcome::Done(Err(PalError::Unsupported))
    );
    let mut p = mk(valid(), Config::new().with_other_files(true));
    assert_eq!(p.execute(&other, &mut buf), Outcome::Done(Ok(())));
    done(
        &mut p,
        Action::FileWrite {
            offset: 0,
            data: &[7; 100],
        },
    );
    done(&mut p, Action::FileClose);
    let mut back = [0u8; 100];
    p.read_file(0, &mut back).unwrap();
    assert_eq!(back, [7; 100]);
    assert_eq!(
        p.execute(&Action::Activate, &mut buf),
        Outcome::Done(Err(PalError::Unsupported))
    );

    let mut p = mk(
        FixedBoot(PlatformImageState::PendingCommit, 0),
        Config::new(),
    );
    assert_eq!(
        p.execute(&file(100, false), &mut buf),
        Outcome::Done(Err(PalError::BootState))
    );
}

#[test]
fn image_states_and_activation() {
    let mut p: Platform<_, _, _> = Platform::new(
        MockFlash::<4, 4096>::new(16 * 1024),
        MockFlash::<4, 4096>::new(8 * 1024),
        FixedBoot(PlatformImageState::PendingCommit, 0),
        Config::new(),
    )
    .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        p.execute(&Action::SetImageState(ImageState::Testing), &mut buf),
        Outcome::Done(Ok(()))
    );
    assert_eq!(
        p.execute(&Action::SetImageState(ImageState::Accepted), &mut buf),
        Outcome::Done(Ok(()))
    );
    assert_eq!(p.boot_control().0, PlatformImageState::Valid);
    // Activate needs a firmware file.
    assert_eq!(
        p.execute(&Action::Activate, &mut buf),
        Outcome::Done(Err(PalError::OutOfBounds))
    );
    done(&mut p, file(10, false));
    done(
        &mut p,
        Action::FileWrite {
            offset: 0,
            data: &[1; 10],
        },
    );
    assert_eq!(p.execute(&Action::Activate, &mut buf), Outcome::Reset);
    assert_eq!(p.boot_control().1, 1);
    // Activated, waiting for the reset: the slot is protected; Aborted undoes the activation.
    assert_eq!(
        p.execute(&file(10, false), &mut buf),
        Outcome::Done(Err(PalError::BootState))
    );
    assert_eq!(
        p.execute(&Action::SetImageState(ImageState::Aborted), &mut buf),
        Outcome::Done(Ok(()))
    );
    assert_eq!(p.boot_control().1, 101);
    assert_eq!(p.execute(&Action::Reset, &mut buf), Outcome::Reset);
    assert_eq!(Outcome::Reset.input(), None);
    assert_eq!(
        p.execute(&Action::HttpCancel, &mut buf),
        Outcome::NotPlatform
    );
}

#[test]
fn resume_keeps_durable_sectors_and_reerases_the_others() {
    let chip = RefCell::new(
        MockFlash::<4, 1024>::new(24 * 1024).with_config(MockConfig {
            max_programs: 1,
            ..MockConfig::default()
        }),
    );
    let img = image(10_000, 3);
    let block = 512;
    let mut rec = [0u8; 256];
    {
        let mut p: Platform<_, _, _> = Platform::new(
            Partition::new(&chip, 0, 16 * 1024),
            Partition::new(&chip, 16 * 1024, 8 * 1024),
            valid(),
            Config::new(),
        )
        .unwrap();
        assert_eq!(p.boot_info(&mut rec).unwrap().resume, None);
        done(&mut p, file(img.len(), false));
        for b in [0, 1, 5, 6] {
            done(
                &mut p,
                Action::FileWrite {
                    offset: b * 512,
                    data: &img[b as usize * 512..][..512],
                },
            );
        }
        done(&mut p, Action::PersistResume(b"blocks 0 1 5 6"));
        // Written after the record: block 9 lands in a sector erased after the record, block 2
        // in a kept sector.
        for b in [9, 2] {
            done(
                &mut p,
                Action::FileWrite {
                    offset: b * 512,
                    data: &img[b as usize * 512..][..512],
                },
            );
        }
        // Power off.
    }
    let erases_before: Vec<u32> = chip.borrow().stats().sector_erases.clone();
    let mut p: Platform<_, _, _> = Platform::new(
        Partition::new(&chip, 0, 16 * 1024),
        Partition::new(&chip, 16 * 1024, 8 * 1024),
        valid(),
        Config::new(),
    )
    .unwrap();
    let info = p.boot_info(&mut rec).unwrap();
    assert_eq!(info.resume, Some(&b"blocks 0 1 5 6"[..]));
    done(&mut p, file(img.len(), true));
    for b in [2u32, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19] {
        let s = (b * block) as usize;
        let e = (s + block as usize).min(img.len());
        done(
            &mut p,
            Action::FileWrite {
                offset: s as u32,
                data: &img[s..e],
            },
        );
    }
    assert!(read_all(&mut p, img.len()) == img);
    let _ = p.into_parts(); // power off
    let erases = chip.borrow().stats().sector_erases.clone();
    // Sectors 0 (blocks 0, 1) and 2 (blocks 4, 5; 5 durable) were kept; sector 4 (blocks 8, 9)
    // was erased after the record and is erased again.
    assert_eq!(erases[0], erases_before[0]);
    assert_eq!(erases[2], erases_before[2]);
    assert_eq!(erases[4], erases_before[4] + 1);
    // Block 2 was rewritten over itself in a kept sector: compared, not programmed twice.
    assert_eq!(chip.borrow().stats().max_programs_seen, 1);
}

#[test]
fn conflicting_data_in_a_kept_sector_fails_the_write() {
    let chip = RefCell::new(MockFlash::<4, 1024>::new(24 * 1024));
    {
        let mut p: Platform<_, _, _> = Platform::new(
            Partition::new(&chip, 0, 16 * 1024),
            Partition::new(&chip, 16 * 1024, 8 * 1024),
            valid(),
            Config::new(),
        )
        .unwrap();
        done(&mut p, file(4096, false));
        done(
            &mut p,
            Action::FileWrite {
                offset: 0,
                data: &[0x00; 512],
            },
        );
        done(&mut p, Action::PersistResume(b"r"));
    }
    let mut p: Platform<_, _, _> = Platform::new(
        Partition::new(&chip, 0, 16 * 1024),
        Partition::new(&chip, 16 * 1024, 8 * 1024),
        valid(),
        Config::new(),
    )
    .unwrap();
    done(&mut p, file(4096, true));
    let mut buf = [0u8; 8];
    let o = p.execute(
        &Action::FileWrite {
            offset: 0,
            data: &[0xFF; 512],
        },
        &mut buf,
    );
    assert_eq!(o, Outcome::Done(Err(PalError::Flash)));
}

#[test]
fn fresh_file_clears_a_stale_record_before_erasing() {
    let chip = RefCell::new(MockFlash::<4, 1024>::new(24 * 1024));
    let mk = || {
        Platform::<_, _, _>::new(
            Partition::new(&chip, 0, 16 * 1024),
            Partition::new(&chip, 16 * 1024, 8 * 1024),
            valid(),
            Config::new(),
        )
        .unwrap()
    };
    let mut rec = [0u8; 64];
    {
        let mut p = mk();
        done(&mut p, file(4096, false));
        done(
            &mut p,
            Action::FileWrite {
                offset: 0,
                data: &[0x11; 1024],
            },
        );
        done(&mut p, Action::PersistResume(b"old job"));
    }
    {
        let mut p = mk();
        assert_eq!(p.boot_info(&mut rec).unwrap().resume, Some(&b"old job"[..]));
        // A new file without a record first: the old record must not survive the first erase.
        done(&mut p, file(4096, false));
        done(
            &mut p,
            Action::FileWrite {
                offset: 0,
                data: &[0x22; 1024],
            },
        );
    }
    let mut p = mk();
    assert_eq!(p.boot_info(&mut rec).unwrap().resume, None);
}

#[test]
fn http_chunks_of_any_size() {
    // Sequential chunks that end anywhere: every word programmed once without records.
    let chip = RefCell::new(MockFlash::<16, 2048, 4>::new(48 * 1024));
    let mut p: Platform<_, _, _> = Platform::new(
        Partition::new(&chip, 0, 32 * 1024),
        Partition::new(&chip, 32 * 1024, 16 * 1024),
        valid(),
        Config::new(),
    )
    .unwrap();
    let img = image(30_001, 9);
    done(&mut p, file(img.len(), false));
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut off = 0;
    while off < img.len() {
        let n = rng.gen_range(1..700).min(img.len() - off);
        done(
            &mut p,
            Action::FileWrite {
                offset: off as u32,
                data: &img[off..off + n],
            },
        );
        // Read-back includes bytes still waiting in RAM.
        let mut buf = [0u8; 32];
        let k = n.min(32);
        match p.execute(
            &Action::FileRead {
                offset: (off + n - k) as u32,
                len: k as u32,
            },
            &mut buf,
        ) {
            Outcome::Data(Ok(d)) => assert_eq!(d, &img[off + n - k..off + n]),
            o => panic!("{o:?}"),
        }
        off += n;
    }
    assert!(read_all(&mut p, img.len()) == img);
    assert_eq!(chip.borrow().stats().max_programs_seen, 1);
}

#[test]
fn setup_errors() {
    let big = MockFlash::<4, 1024>::new(1024 * 1024);
    let r = Platform::<_, _, FixedBoot, 16>::new(
        big,
        MockFlash::<4, 1024>::new(8192),
        valid(),
        Config::new(),
    );
    assert_eq!(
        r.err(),
        Some(SetupError::TooManySectors {
            sectors: 1024,
            max: 512
        })
    );
    let r = Platform::<_, _, _>::new(
        MockFlash::<4, 1024>::new(8192),
        MockFlash::<4, 1024>::new(1024),
        valid(),
        Config::new(),
    );
    assert_eq!(r.err(), Some(SetupError::Journal));
    let r = Platform::<_, _, _, 16, 4>::new(
        MockFlash::<4, 1024>::new(8192),
        MockFlash::<4, 1024>::new(4096),
        valid(),
        Config::new(),
    );
    assert!(matches!(r.err(), Some(SetupError::JournalBuffer { .. })));
    let r = Platform::<_, _, _>::new(
        MockFlash::<4, 1024>::new(8192),
        MockFlash::<4, 1024>::new(4096),
        valid(),
        Config::new().with_sector_layout(SectorLayout::Uniform(1000)),
    );
    assert_eq!(r.err(), Some(SetupError::Layout));
}

#[test]
fn record_size_limit() {
    let mut p: Platform<_, _, _, 16, 256> = Platform::new(
        MockFlash::<4, 1024>::new(8192),
        MockFlash::<4, 1024>::new(4096),
        valid(),
        Config::new(),
    )
    .unwrap();
    let max = p.max_record_len();
    assert!(max > 200 && max < 256, "{max}");
    let mut buf = [0u8; 8];
    let ok = vec![1u8; max];
    assert_eq!(
        p.execute(&Action::PersistResume(&ok), &mut buf),
        Outcome::Silent(Ok(()))
    );
    let too_big = vec![1u8; max + 1];
    assert_eq!(
        p.execute(&Action::PersistResume(&too_big), &mut buf),
        Outcome::Silent(Err(PalError::Other(ota_pal_flash::OUT_OF_MEMORY)))
    );
    let mut rec = vec![0u8; 300];
    assert_eq!(p.boot_info(&mut rec).unwrap().resume, Some(&ok[..]));
}

#[test]
fn async_platform_matches_the_blocking_one() {
    let img = image(9000, 4);
    let mut otadata = MockFlash::<4, 4096>::new(8192);
    let booted = SimBootloader::default().boot(&mut otadata).unwrap();
    let mut p: AsyncPlatform<_, _, _> = AsyncPlatform::new(
        MockFlash::<4, 4096>::new(16 * 1024),
        MockFlash::<4, 4096>::new(8 * 1024),
        SimBoot::new(otadata, booted.slot),
        Config::new(),
    )
    .unwrap();
    embassy_futures::block_on(async {
        let mut buf = [0u8; 1024];
        let mut rec = [0u8; 64];
        let info = p.boot_info(&mut rec).await.unwrap();
        assert_eq!(info.platform_state, PlatformImageState::Valid);
        assert!(matches!(
            p.execute(&file(img.len(), false), &mut buf).await,
            Outcome::Done(Ok(()))
        ));
        for off in (0..img.len()).step_by(1000).rev() {
            let end = (off + 1000).min(img.len());
            let a = Action::FileWrite {
                offset: off as u32,
                data: &img[off..end],
            };
            assert_eq!(p.execute(&a, &mut buf).await, Outcome::Done(Ok(())));
        }
        let mut back = vec![0u8; img.len()];
        p.read_file(0, &mut back).await.unwrap();
        assert!(back == img);
        assert_eq!(p.execute(&Action::Activate, &mut buf).await, Outcome::Reset);
    });
    let (slot, _, boot) = p.into_parts();
    assert!(slot.as_bytes()[..img.len()] == img[..]);
    let mut otadata = boot.into_inner();
    let booted = SimBootloader::default().boot(&mut otadata).unwrap();
    assert_eq!(booted.slot, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any cover of the file by writes, in any order, with records anywhere, reads back the
    /// file and leaves it in flash. (Pieces smaller than a word can make a word be programmed
    /// once per record that finds it incomplete, so the program count is not limited here.)
    #[test]
    fn any_write_pattern_reads_back(
        len in 1usize..6000,
        cuts in proptest::collection::vec(1usize..6000, 0..12),
        seed: u64,
        persist_mask: u16,
    ) {
        let img = image(len, seed);
        let mut points: Vec<usize> = cuts.into_iter().filter(|c| *c < len).collect();
        points.push(0);
        points.push(len);
        points.sort_unstable();
        points.dedup();
        let mut pieces: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
        pieces.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let chip = RefCell::new(MockFlash::<8, 1024, 4>::new(16 * 1024).with_config(MockConfig {
            max_programs: u8::MAX,
            ..MockConfig::default()
        }));
        let mut p: Platform<_, _, _> = Platform::new(
            Partition::new(&chip, 0, 8 * 1024),
            Partition::new(&chip, 8 * 1024, 8 * 1024),
            valid(),
            Config::new(),
        ).unwrap();
        done(&mut p, file(len, false));
        for (i, (s, e)) in pieces.iter().enumerate() {
            done(&mut p, Action::FileWrite { offset: *s as u32, data: &img[*s..*e] });
            if persist_mask & (1 << (i % 16)) != 0 {
                done(&mut p, Action::PersistResume(b"r"));
            }
        }
        prop_assert!(read_all(&mut p, len) == img);
        done(&mut p, Action::FileClose);
        let _ = p.into_parts(); // power off
        prop_assert!(chip.borrow().as_bytes()[..len] == img[..]);
    }
}
