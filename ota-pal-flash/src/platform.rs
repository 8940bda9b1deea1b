//! The executor of the agent's file and image actions: [`Platform`] (blocking flash) and
//! [`AsyncPlatform`] (async flash), one implementation behind both.

use embedded_storage_async::nor_flash::NorFlash as AsyncNorFlash;
use ota_core::{Action, BootInfo, FileInfo, ImageState, Input, PalError, PlatformImageState};

use crate::adapter::BlockingAsync;
use crate::boot::BootControl;
use crate::error::{OUT_OF_MEMORY, SetupError};
use crate::journal::{self, Journal, MAX_SET_BYTES};
use crate::layout::{SectorLayout, SectorSet};
use crate::slot::{OpenFile, Slot};

/// Default `SECTOR_WORDS`: 16 words track 512 erase sectors (2 MiB of 4 KiB sectors).
pub const DEFAULT_SECTOR_WORDS: usize = 16;
/// Default journal buffer: 1 KiB holds the agent's record for a bitmap of about 6000 blocks.
pub const DEFAULT_JOURNAL_BYTES: usize = 1024;

/// `SECTOR_WORDS` needed for a slot of `slot_len` bytes in sectors of `sector_len` bytes.
pub const fn sector_words(slot_len: u32, sector_len: u32) -> usize {
    if sector_len == 0 {
        return 1;
    }
    (slot_len / sector_len).div_ceil(32) as usize
}

/// Platform settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Config {
    /// Erase sectors of the download slot; `None`: uniform `ERASE_SIZE` sectors.
    pub sector_layout: Option<SectorLayout>,
    /// Store files that are not firmware in the download slot too (read them back with
    /// `read_file` after `FileClose`). Off by default: such files are refused with
    /// [`PalError::Unsupported`]. The slot holds one file at a time, so a job with several
    /// files needs the application to move each non-firmware file away when it completes.
    pub accept_other_files: bool,
}

impl Config {
    /// Default settings.
    pub const fn new() -> Self {
        Self {
            sector_layout: None,
            accept_other_files: false,
        }
    }

    /// With a sector layout for the download slot.
    pub const fn with_sector_layout(mut self, layout: SectorLayout) -> Self {
        self.sector_layout = Some(layout);
        self
    }

    /// Accepting non-firmware files into the download slot.
    pub const fn with_other_files(mut self, accept: bool) -> Self {
        self.accept_other_files = accept;
        self
    }
}

/// What the runtime does after [`Platform::execute`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Outcome<'b> {
    /// The action is not a platform action (MQTT, HTTP, notification): route it elsewhere.
    NotPlatform,
    /// Feed `Input::PlatformDone(result)` to the agent ([`Outcome::input`]).
    Done(Result<(), PalError>),
    /// Feed `Input::FileData(result)` to the agent ([`Outcome::input`]).
    Data(Result<&'b [u8], PalError>),
    /// Nothing goes back to the agent (`FileAbort`, `PersistResume`, `ClearResume`); the
    /// result is for logs.
    Silent(Result<(), PalError>),
    /// Reset the device now (`Activate` succeeded, or `Reset`). A simulated device drops the
    /// platform and powers on again from its flash.
    Reset,
}

impl<'b> Outcome<'b> {
    /// The input to hand back to the agent, if the action expects one.
    pub fn input(&self) -> Option<Input<'b>> {
        match *self {
            Outcome::Done(r) => Some(Input::PlatformDone(r)),
            Outcome::Data(r) => Some(Input::FileData(r)),
            _ => None,
        }
    }
}

/// Shared implementation over async flashes.
struct Engine<S: AsyncNorFlash, J: AsyncNorFlash, B, const SW: usize, const JN: usize> {
    slot: Slot<S, SW>,
    journal: Journal<J, JN>,
    boot: B,
    config: Config,
    /// `None` until the journal was read or written: unknown.
    journal_has_record: Option<bool>,
    /// A fresh file was created and the journal may still describe the previous one.
    journal_stale: bool,
    activated: bool,
}

impl<S, J, B, const SW: usize, const JN: usize> Engine<S, J, B, SW, JN>
where
    S: AsyncNorFlash,
    J: AsyncNorFlash,
    B: BootControl,
{
    fn new(slot: S, journal: J, boot: B, config: Config) -> Result<Self, SetupError> {
        let slot = Slot::new(slot, config.sector_layout)?;
        let set_bytes = journal::set_bytes(slot.sector_count());
        if set_bytes > MAX_SET_BYTES {
            return Err(SetupError::TooManySectors {
                sectors: slot.sector_count(),
                max: MAX_SET_BYTES as u32 * 8,
            });
        }
        let journal = Journal::new(journal, set_bytes)?;
        Ok(Self {
            slot,
            journal,
            boot,
            config,
            journal_has_record: None,
            journal_stale: false,
            activated: false,
        })
    }

    async fn boot_info<'b>(&mut self, buf: &'b mut [u8]) -> Result<BootInfo<'b>, PalError> {
        let platform_state = self.boot.platform_state()?;
        let mut set = [0u8; MAX_SET_BYTES];
        let loaded = self.journal.load(&mut set, Some(&mut *buf)).await;
        let len = match loaded {
            Ok(Some((_, Some(n)))) => {
                self.journal_has_record = Some(true);
                Some(n)
            }
            Ok(_) => {
                self.journal_has_record = Some(false);
                None
            }
            // An unreadable journal must not keep the device from starting: no record.
            Err(_) => None,
        };
        let buf: &'b [u8] = buf;
        Ok(BootInfo {
            platform_state,
            resume: len.and_then(|n| buf.get(..n)),
        })
    }

    async fn execute<'b>(&mut self, action: &Action<'_>, read_buf: &'b mut [u8]) -> Outcome<'b> {
        match *action {
            Action::FileCreate(info) => Outcome::Done(self.create(&info).await),
            Action::FileWrite { offset, data } => Outcome::Done(self.write(offset, data).await),
            Action::FileRead { offset, len } => {
                Outcome::Data(self.read(offset, len, read_buf).await)
            }
            Action::FileClose => Outcome::Done(self.slot.flush().await),
            Action::FileAbort => Outcome::Silent(self.abort()),
            Action::PersistResume(record) => Outcome::Silent(self.persist(Some(record)).await),
            Action::ClearResume => Outcome::Silent(self.persist(None).await),
            Action::SetImageState(state) => Outcome::Done(self.set_image_state(state).await),
            Action::Activate => match self.activate().await {
                Ok(()) => Outcome::Reset,
                Err(e) => Outcome::Done(Err(e)),
            },
            Action::Reset => {
                self.boot.before_reset();
                Outcome::Reset
            }
            _ => Outcome::NotPlatform,
        }
    }

    async fn create(&mut self, info: &FileInfo<'_>) -> Result<(), PalError> {
        if !info.is_firmware && !self.config.accept_other_files {
            return Err(PalError::Unsupported);
        }
        // On trial, or activated and waiting for the reset, the slot holds the image the
        // bootloader needs: never touch it.
        if self.activated || self.boot.platform_state()? == PlatformImageState::PendingCommit {
            return Err(PalError::BootState);
        }
        let max = self
            .boot
            .max_image_len()
            .map_or(self.slot.capacity(), |m| m.min(self.slot.capacity()));
        if info.size > max {
            return Err(PalError::TooLarge);
        }
        let file = OpenFile {
            size: info.size,
            index: info.index,
            firmware: info.is_firmware,
        };
        if info.resume {
            let kept = if self.slot.file() == Some(file) {
                SectorSet::new() // ignored: the open file keeps its state
            } else {
                self.load_erased().await
            };
            self.slot.open(file, Some(kept))
        } else {
            self.slot.open(file, None)?;
            self.journal_stale = self.journal_has_record != Some(false);
            Ok(())
        }
    }

    async fn load_erased(&mut self) -> SectorSet<SW> {
        let mut set = [0u8; MAX_SET_BYTES];
        // The record itself is the agent's business; only the erased set matters here.
        match self.journal.load(&mut set, None).await {
            Ok(Some((n, _))) => self.slot.decode_erased(set.get(..n).unwrap_or(&[])),
            _ => SectorSet::new(),
        }
    }

    async fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), PalError> {
        self.slot.check_range(offset, data.len())?;
        if self.journal_stale {
            // The stored record describes bytes this file is about to overwrite.
            self.journal.store(&[], None).await?;
            self.journal_stale = false;
            self.journal_has_record = Some(false);
        }
        self.slot.write(offset, data).await
    }

    async fn read<'b>(
        &mut self,
        offset: u32,
        len: u32,
        buf: &'b mut [u8],
    ) -> Result<&'b [u8], PalError> {
        let out = buf
            .get_mut(..len as usize)
            .ok_or(PalError::Other(OUT_OF_MEMORY))?;
        self.slot.read(offset, out).await?;
        Ok(out)
    }

    fn abort(&mut self) -> Result<(), PalError> {
        self.slot.close_abandon();
        if self.activated {
            self.boot.cancel_activation()?;
            self.activated = false;
        }
        Ok(())
    }

    async fn persist(&mut self, record: Option<&[u8]>) -> Result<(), PalError> {
        // Open partial words reach flash before a record can claim them.
        self.slot.flush().await?;
        let mut set = [0u8; MAX_SET_BYTES];
        let n = self
            .slot
            .erased_bytes(&mut set)
            .ok_or(PalError::Other(OUT_OF_MEMORY))?;
        self.journal
            .store(set.get(..n).unwrap_or(&[]), record)
            .await?;
        self.journal_stale = false;
        self.journal_has_record = Some(record.is_some());
        Ok(())
    }

    async fn set_image_state(&mut self, state: ImageState) -> Result<(), PalError> {
        match state {
            ImageState::Accepted => {
                if self.boot.platform_state()? == PlatformImageState::PendingCommit {
                    self.boot.commit()?;
                }
                Ok(())
            }
            ImageState::Rejected => {
                if self.boot.platform_state()? == PlatformImageState::PendingCommit {
                    self.boot.reject()
                } else {
                    self.abort()
                }
            }
            ImageState::Aborted => self.abort(),
            _ => Ok(()),
        }
    }

    async fn activate(&mut self) -> Result<(), PalError> {
        let file = self.slot.file().ok_or(PalError::OutOfBounds)?;
        if !file.firmware {
            return Err(PalError::Unsupported);
        }
        self.slot.flush().await?;
        self.boot.activate(file.size)?;
        self.activated = true;
        // The agent keeps its resume record until here (a cut before the boot-state write must
        // find it, or the next boot concludes "rolled back"). Once the image is on trial the
        // record is dropped: should this image be reverted before its agent starts, the old
        // image must not activate it again. Should this write fail, the trial boot's agent drops
        // the record itself.
        if self.journal_has_record != Some(false) {
            let _ = self.persist(None).await;
        }
        self.boot.before_reset();
        Ok(())
    }
}

/// The platform layer over blocking NOR flash: executes the agent's file and image actions on a
/// download slot, persists resume records in a journal, and hands images to the bootloader.
///
/// * `S`: the download slot (the whole flash given is the slot).
/// * `J`: the journal area (at least two erase pages; its own partition).
/// * `B`: the bootloader ([`BootControl`]).
/// * `SECTOR_WORDS`: the slot can have up to `32 * SECTOR_WORDS` erase sectors
///   ([`sector_words`] computes it).
/// * `JOURNAL_BYTES`: journal work buffer; the largest resume record is
///   [`Platform::max_record_len`] (about `JOURNAL_BYTES - 8 - sectors / 8`).
///
/// # Run loop
///
/// ```text
/// let info = platform.boot_info(&mut record_buf)?;        // Input::Start(info)
/// while let Some(action) = agent.poll() {
///     match platform.execute(&action, &mut read_buf) {
///         Outcome::NotPlatform => { /* MQTT / HTTP / notification adapters */ }
///         Outcome::Reset => reset_device(),
///         o => if let Some(input) = o.input() { agent.handle(now, input)?; }
///     }
/// }
/// ```
///
/// Every call is blocking and returns when the flash work is done; a `FileWrite` that returns
/// `Done(Ok)` is durable in the sense the agent relies on (see the crate docs, "Rules").
///
/// `Activate` writes the boot state first and only then drops the resume record (the agent
/// keeps it until activation): a power cut before the boot-state write leaves the record, so the
/// next boot re-verifies the stored image and activates it; a cut after it boots the new image
/// on trial.
pub struct Platform<
    S: embedded_storage::nor_flash::NorFlash,
    J: embedded_storage::nor_flash::NorFlash,
    B,
    const SECTOR_WORDS: usize = DEFAULT_SECTOR_WORDS,
    const JOURNAL_BYTES: usize = DEFAULT_JOURNAL_BYTES,
> {
    engine: Engine<BlockingAsync<S>, BlockingAsync<J>, B, SECTOR_WORDS, JOURNAL_BYTES>,
}

impl<S, J, B, const SW: usize, const JN: usize> Platform<S, J, B, SW, JN>
where
    S: embedded_storage::nor_flash::NorFlash,
    J: embedded_storage::nor_flash::NorFlash,
    B: BootControl,
{
    /// Builds the platform. No flash is touched.
    ///
    /// # Errors
    /// [`SetupError`] when the flashes, the layout and the const parameters do not fit.
    pub fn new(slot: S, journal: J, boot: B, config: Config) -> Result<Self, SetupError> {
        Ok(Self {
            engine: Engine::new(BlockingAsync(slot), BlockingAsync(journal), boot, config)?,
        })
    }

    /// What the agent needs at start ([`ota_core::Input::Start`]): the running image's state
    /// and the last persisted resume record, copied into `record_buf`.
    ///
    /// # Errors
    /// [`PalError::BootState`] when the bootloader state cannot be read. A journal that cannot
    /// be read gives no record, not an error.
    pub fn boot_info<'b>(&mut self, record_buf: &'b mut [u8]) -> Result<BootInfo<'b>, PalError> {
        embassy_futures::block_on(self.engine.boot_info(record_buf))
    }

    /// Executes one action of the agent. `read_buf` receives the bytes of a `FileRead` (it must
    /// hold the agent's block size). See [`Outcome`] for what to do next.
    pub fn execute<'b>(&mut self, action: &Action<'_>, read_buf: &'b mut [u8]) -> Outcome<'b> {
        embassy_futures::block_on(self.engine.execute(action, read_buf))
    }

    /// Reads the stored file (for example a non-firmware file after `FileClose`).
    ///
    /// # Errors
    /// [`PalError::OutOfBounds`] outside the file or with no file; flash errors.
    pub fn read_file(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), PalError> {
        embassy_futures::block_on(self.engine.slot.read(offset, buf))
    }

    /// Bytes of the download slot a file may use (before the bootloader's own limit).
    pub fn slot_capacity(&self) -> u32 {
        self.engine.slot.capacity()
    }

    /// The largest resume record the journal stores.
    pub fn max_record_len(&self) -> usize {
        self.engine.journal.max_record()
    }

    /// The boot control.
    pub fn boot_control(&mut self) -> &mut B {
        &mut self.engine.boot
    }

    /// The download slot's flash.
    pub fn slot_flash(&mut self) -> &mut S {
        self.engine.slot.flash_mut().inner()
    }

    /// The journal's flash.
    pub fn journal_flash(&mut self) -> &mut J {
        self.engine.journal.flash_mut().inner()
    }

    /// Takes the platform apart (a simulated power-off keeps the flashes).
    pub fn into_parts(self) -> (S, J, B) {
        let Engine {
            slot,
            journal,
            boot,
            ..
        } = self.engine;
        (slot.into_flash().0, journal.into_flash().0, boot)
    }
}

/// The async twin of [`Platform`], over `embedded-storage-async` flash (for example embassy's
/// async NVMC / QSPI drivers). Same behaviour and documentation; boot control stays blocking.
pub struct AsyncPlatform<
    S: AsyncNorFlash,
    J: AsyncNorFlash,
    B,
    const SECTOR_WORDS: usize = DEFAULT_SECTOR_WORDS,
    const JOURNAL_BYTES: usize = DEFAULT_JOURNAL_BYTES,
> {
    engine: Engine<S, J, B, SECTOR_WORDS, JOURNAL_BYTES>,
}

impl<S, J, B, const SW: usize, const JN: usize> AsyncPlatform<S, J, B, SW, JN>
where
    S: AsyncNorFlash,
    J: AsyncNorFlash,
    B: BootControl,
{
    /// Builds the platform. No flash is touched.
    ///
    /// # Errors
    /// [`SetupError`] when the flashes, the layout and the const parameters do not fit.
    pub fn new(slot: S, journal: J, boot: B, config: Config) -> Result<Self, SetupError> {
        Ok(Self {
            engine: Engine::new(slot, journal, boot, config)?,
        })
    }

    /// See [`Platform::boot_info`].
    ///
    /// # Errors
    /// [`PalError::BootState`] when the bootloader state cannot be read.
    pub async fn boot_info<'b>(
        &mut self,
        record_buf: &'b mut [u8],
    ) -> Result<BootInfo<'b>, PalError> {
        self.engine.boot_info(record_buf).await
    }

    /// See [`Platform::execute`].
    pub async fn execute<'b>(
        &mut self,
        action: &Action<'_>,
        read_buf: &'b mut [u8],
    ) -> Outcome<'b> {
        self.engine.execute(action, read_buf).await
    }

    /// See [`Platform::read_file`].
    ///
    /// # Errors
    /// [`PalError::OutOfBounds`] outside the file or with no file; flash errors.
    pub async fn read_file(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), PalError> {
        self.engine.slot.read(offset, buf).await
    }

    /// See [`Platform::slot_capacity`].
    pub fn slot_capacity(&self) -> u32 {
        self.engine.slot.capacity()
    }

    /// See [`Platform::max_record_len`].
    pub fn max_record_len(&self) -> usize {
        self.engine.journal.max_record()
    }

    /// The boot control.
    pub fn boot_control(&mut self) -> &mut B {
        &mut self.engine.boot
    }

    /// Takes the platform apart.
    pub fn into_parts(self) -> (S, J, B) {
        let Engine {
            slot,
            journal,
            boot,
            ..
        } = self.engine;
        (slot.into_flash(), journal.into_flash(), boot)
    }
}
