//! The agent on RAM flash, driven in memory: the `ota-cloud` model answers its MQTT messages
//! (job document, status updates, stream blocks) with no sockets, or the caller feeds it
//! pre-encoded blocks. Platform actions are answered at once from a `Vec` (a flash that costs
//! one memcpy per write and per read-back). Used by the core-cost, verification and resume
//! figures.

use ota_cloud::topics::{self, StreamFormat};
use ota_cloud::{Cloud, CloudConfig, OtaFile, OtaJobBuilder, Protocol};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{
    Action, Agent, BootInfo, Buffers, Config, Event, Input, Instant, PalError, PlatformImageState,
    Statistics, UsageError, Version,
};

use crate::image::{self, STREAM};

/// The thing name of the in-memory device.
pub const THING: &str = "bench-mem";
/// The job id of the in-memory cloud's job.
pub const JOB: &str = "AFR_OTA-bench-mem";

/// The memory an agent borrows (its [`Buffers`]) and its trusted key, reused across agents so
/// that rebuilding an agent allocates nothing.
#[derive(Debug)]
pub struct MemBuffers {
    block: Vec<u8>,
    job: Vec<u8>,
    bitmap: Vec<u8>,
    url: Vec<u8>,
    keys: Vec<TrustedKey<'static>>,
}

impl MemBuffers {
    /// Buffers for files up to `max_file` bytes in blocks of `block_size`, sized by the rules
    /// of [`Buffers`] (the block buffer is also the read-back chunk).
    pub fn new(block_size: u32, max_file: usize) -> Self {
        let bitmap_len = max_file
            .div_ceil(block_size.max(1) as usize)
            .div_ceil(8)
            .max(1);
        let block_len = (block_size as usize).max(ota_core::resume::max_record_len(bitmap_len));
        Self {
            block: vec![0; block_len],
            job: vec![0; 8192],
            bitmap: vec![0; bitmap_len],
            url: vec![0; 2048],
            keys: vec![TrustedKey {
                name: None,
                key: image::trusted_key(),
            }],
        }
    }
}

/// What survives a power cut: the download slot and the last persisted resume record.
#[derive(Debug, Clone, Default)]
pub struct Flash {
    /// The download slot (as long as the current file).
    pub slot: Vec<u8>,
    /// The resume record, as last persisted.
    pub record: Option<Vec<u8>>,
}

/// A platform answer computed while the action still borrows the agent.
enum Reply {
    Done(Result<(), PalError>),
    Read { offset: usize, len: usize },
}

/// The agent on RAM flash.
pub struct MemDevice<'a> {
    agent: Agent<'a, P256Verifier<'a>>,
    /// The flash.
    pub flash: Flash,
    read_buf: Vec<u8>,
    now: u64,
    /// Messages the agent published (when [`MemDevice::collect`] is on).
    pub outbox: Vec<(String, Vec<u8>)>,
    /// Keep published messages in the outbox (off: they are dropped, as in the timed loops).
    pub collect: bool,
    /// Block-sized writes so far (FileWrite actions), over this boot.
    pub writes: u64,
    /// Offsets of the writes, when `Some` (the resume figure's bookkeeping).
    pub write_log: Option<Vec<u32>>,
    /// Cut the power right after this many writes of this boot (the write is durable, the
    /// agent never hears of it).
    pub cut_after_writes: Option<u64>,
    /// `false` after a power cut, a reset or an activation: the device does nothing more.
    pub powered: bool,
    /// The image was verified and the agent asked to activate it.
    pub ready: bool,
    /// The last job failure the agent reported.
    pub failed: Option<String>,
}

impl core::fmt::Debug for MemDevice<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemDevice")
            .field("writes", &self.writes)
            .field("powered", &self.powered)
            .field("ready", &self.ready)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// The agent's configuration for the in-memory device: `block_size`, `blocks_per_request`,
/// `resume_every`, otherwise the defaults.
pub fn config(block_size: u32, blocks_per_request: u32, resume_every: u32) -> Config<'static> {
    let mut c = Config::new(THING, Version::new(1, 0, 0));
    c.block_size = block_size;
    c.blocks_per_request = blocks_per_request;
    c.resume_every = resume_every;
    c
}

impl<'a> MemDevice<'a> {
    /// Powers on: a new agent over `bufs` and `flash`, started with the persisted record.
    ///
    /// # Errors
    /// The configuration was refused, or the start broke the run-loop contract.
    pub fn boot(
        bufs: &'a mut MemBuffers,
        config: Config<'a>,
        flash: Flash,
    ) -> Result<Self, String> {
        let read_len = bufs.block.len();
        let buffers = Buffers {
            block: &mut bufs.block,
            job: &mut bufs.job,
            bitmap: &mut bufs.bitmap,
            url: &mut bufs.url,
        };
        let agent = Agent::new(config, buffers, P256Verifier::new(&bufs.keys))
            .map_err(|e| format!("agent: {e}"))?;
        let mut dev = Self {
            agent,
            flash,
            read_buf: vec![0; read_len],
            now: 0,
            outbox: Vec::new(),
            collect: true,
            writes: 0,
            write_log: None,
            cut_after_writes: None,
            powered: true,
            ready: false,
            failed: None,
        };
        let record = dev.flash.record.clone();
        dev.agent
            .handle(
                Instant::from_millis(0),
                Input::Start(BootInfo {
                    platform_state: PlatformImageState::Valid,
                    resume: record.as_deref(),
                }),
            )
            .map_err(|e| format!("start: {e:?}"))?;
        dev.drain().map_err(|e| format!("start: {e:?}"))?;
        Ok(dev)
    }

    /// The agent's counters.
    pub fn statistics(&self) -> Statistics {
        self.agent.statistics()
    }

    /// Powers off, keeping the flash.
    pub fn into_flash(self) -> Flash {
        self.flash
    }

    /// Hands the agent one MQTT message and executes what it asks for.
    ///
    /// # Errors
    /// The agent reported a broken run-loop contract (a harness bug).
    pub fn feed(&mut self, topic: &str, payload: &[u8]) -> Result<(), UsageError> {
        if !self.powered {
            return Ok(());
        }
        self.agent.handle(
            Instant::from_millis(self.now),
            Input::Message { topic, payload },
        )?;
        self.drain()
    }

    /// Drains the agent: platform actions are answered from RAM at once, publishes go to the
    /// outbox (or are dropped), notifications set [`MemDevice::ready`] / [`MemDevice::failed`].
    ///
    /// # Errors
    /// The agent reported a broken run-loop contract (a harness bug).
    pub fn drain(&mut self) -> Result<(), UsageError> {
        let now = Instant::from_millis(self.now);
        while self.powered {
            let Some(action) = self.agent.poll() else {
                break;
            };
            let reply = match action {
                Action::Publish { topic, payload, .. } => {
                    if self.collect {
                        self.outbox.push((topic.to_string(), payload.to_vec()));
                    } else {
                        std::hint::black_box(payload);
                    }
                    None
                }
                Action::FileCreate(f) => {
                    let size = f.size as usize;
                    if !f.resume || self.flash.slot.len() != size {
                        self.flash.slot.clear();
                        self.flash.slot.resize(size, 0xff);
                    }
                    Some(Reply::Done(Ok(())))
                }
                Action::FileWrite { offset, data } => {
                    let o = offset as usize;
                    let r = match self.flash.slot.get_mut(o..o + data.len()) {
                        Some(dst) => {
                            dst.copy_from_slice(data);
                            Ok(())
                        }
                        None => Err(PalError::OutOfBounds),
                    };
                    self.writes += 1;
                    if let Some(log) = &mut self.write_log {
                        log.push(offset);
                    }
                    if self.cut_after_writes == Some(self.writes) {
                        // Power cut: the write is in flash, nothing after it happens.
                        self.powered = false;
                        break;
                    }
                    Some(Reply::Done(r))
                }
                Action::FileRead { offset, len } => Some(Reply::Read {
                    offset: offset as usize,
                    len: len as usize,
                }),
                Action::FileClose | Action::SetImageState(_) => Some(Reply::Done(Ok(()))),
                Action::PersistResume(r) => {
                    let rec = self.flash.record.get_or_insert_with(Vec::new);
                    rec.clear();
                    rec.extend_from_slice(r);
                    None
                }
                Action::ClearResume => {
                    self.flash.record = None;
                    None
                }
                Action::Activate | Action::Reset => {
                    self.powered = false;
                    None
                }
                Action::Notify(Event::ReadyToActivate { .. }) => {
                    self.ready = true;
                    None
                }
                Action::Notify(Event::Failed { reason, .. }) => {
                    self.failed = Some(reason.to_string());
                    None
                }
                _ => None,
            };
            match reply {
                None => {}
                Some(Reply::Done(r)) => self.agent.handle(now, Input::PlatformDone(r))?,
                Some(Reply::Read { offset, len }) => {
                    let src = self.flash.slot.get(offset..offset + len);
                    match (src, self.read_buf.get_mut(..len)) {
                        (Some(src), Some(dst)) => {
                            dst.copy_from_slice(src);
                            self.agent.handle(now, Input::FileData(Ok(dst)))?;
                        }
                        _ => self
                            .agent
                            .handle(now, Input::FileData(Err(PalError::OutOfBounds)))?,
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes the messages published so far.
    pub fn take_outbox(&mut self) -> Vec<(String, Vec<u8>)> {
        std::mem::take(&mut self.outbox)
    }
}

/// An in-memory cloud with the stream [`STREAM`] holding `image` (file 0, signed by
/// [`image::signer`]) and an MQTT job [`JOB`] for [`THING`].
///
/// # Errors
/// The model refused the stream or the job.
pub fn cloud_with_job(image: &[u8]) -> Result<Cloud, String> {
    let mut cloud = Cloud::new(CloudConfig::default());
    cloud
        .create_stream(STREAM, vec![(0, image.to_vec())])
        .map_err(|e| e.to_string())?;
    let file = OtaFile::new(0, image.len() as u64)
        .file_path("/fw/image.bin")
        .signature(image::signer().sign(image));
    let doc = OtaJobBuilder::new()
        .protocols(&[Protocol::Mqtt])
        .stream_name(STREAM)
        .file(file)
        .build();
    cloud
        .create_job(0, JOB, [THING], doc)
        .map_err(|e| e.to_string())?;
    let _ = cloud.drain(); // notify-next for a device not connected yet
    Ok(cloud)
}

/// Moves messages between the device and the cloud until nothing is left to move, the device
/// is off, or `stop` says so (checked after every message delivered to the device). Returns
/// how many stream data blocks were delivered.
///
/// # Errors
/// The agent reported a broken run-loop contract (a harness bug).
pub fn pump(
    dev: &mut MemDevice<'_>,
    cloud: &mut Cloud,
    mut stop: impl FnMut(&MemDevice<'_>) -> bool,
) -> Result<u64, String> {
    let mut blocks = 0;
    loop {
        let out = dev.take_outbox();
        if out.is_empty() || !dev.powered {
            return Ok(blocks);
        }
        for (topic, payload) in out {
            cloud.handle_publish(0, &topic, &payload);
        }
        for m in cloud.drain() {
            if !dev.powered {
                return Ok(blocks);
            }
            if m.topic.ends_with("/data/cbor") {
                blocks += 1;
            }
            dev.feed(&m.topic, &m.payload)
                .map_err(|e| format!("agent: {e:?}"))?;
            if stop(dev) {
                return Ok(blocks);
            }
        }
    }
}

/// Boots `dev`'s job up to its first GetStream request (job document fetched, file created),
/// which is taken out of the outbox and returned; from then on the caller feeds blocks.
///
/// # Errors
/// The agent never asked for data.
pub fn start_download(dev: &mut MemDevice<'_>, cloud: &mut Cloud) -> Result<Vec<u8>, String> {
    let is_get = |t: &str| t.ends_with("/get/cbor");
    pump(dev, cloud, |d| d.outbox.iter().any(|(t, _)| is_get(t)))?;
    let i = dev
        .outbox
        .iter()
        .position(|(t, _)| is_get(t))
        .ok_or_else(|| format!("no GetStream request; failed: {:?}", dev.failed))?;
    let (_, req) = dev.outbox.remove(i);
    // Status updates sent before the request go to the cloud, so it knows the job started.
    let rest = dev.take_outbox();
    for (topic, payload) in rest {
        cloud.handle_publish(0, &topic, &payload);
    }
    let _ = cloud.drain();
    Ok(req)
}

/// The topic the stream's data blocks arrive on at [`THING`].
pub fn data_topic() -> String {
    topics::stream_data(THING, STREAM, StreamFormat::Cbor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{image, stream_blocks};

    #[test]
    fn download_through_the_model_is_byte_identical_and_verified() {
        let img = image(100_000, 9);
        let mut cloud = cloud_with_job(&img).unwrap();
        let mut bufs = MemBuffers::new(1024, img.len());
        let mut dev = MemDevice::boot(&mut bufs, config(1024, 8, 4), Flash::default()).unwrap();
        let blocks = pump(&mut dev, &mut cloud, |d| d.ready).unwrap();
        assert!(dev.ready, "failed: {:?}", dev.failed);
        assert_eq!(blocks, 98);
        assert_eq!(dev.flash.slot, img);
    }

    #[test]
    fn fed_blocks_complete_the_download() {
        let img = image(64 * 1024, 5);
        let mut cloud = cloud_with_job(&img).unwrap();
        let blocks = stream_blocks(&img, 4096).unwrap();
        let mut bufs = MemBuffers::new(4096, img.len());
        let mut dev = MemDevice::boot(&mut bufs, config(4096, 32, 8), Flash::default()).unwrap();
        let req = start_download(&mut dev, &mut cloud).unwrap();
        assert!(!req.is_empty());
        let topic = data_topic();
        dev.collect = false;
        for b in &blocks[..blocks.len() - 1] {
            dev.feed(&topic, b).unwrap();
        }
        assert_eq!(dev.writes, 15);
        dev.collect = true;
        dev.feed(&topic, &blocks[15]).unwrap();
        pump(&mut dev, &mut cloud, |d| d.ready).unwrap();
        assert!(dev.ready, "failed: {:?}", dev.failed);
        assert_eq!(dev.flash.slot, img);
    }

    #[test]
    fn a_corrupted_image_is_not_ready() {
        let img = image(16 * 1024, 6);
        let mut cloud = cloud_with_job(&img).unwrap();
        let mut blocks = stream_blocks(&img, 4096).unwrap();
        // Flip a payload byte near the end of the second block (the CBOR header is in front).
        let b = &mut blocks[1];
        let n = b.len();
        b[n - 10] ^= 1;
        let mut bufs = MemBuffers::new(4096, img.len());
        let mut dev = MemDevice::boot(&mut bufs, config(4096, 32, 8), Flash::default()).unwrap();
        start_download(&mut dev, &mut cloud).unwrap();
        let topic = data_topic();
        for b in &blocks {
            dev.feed(&topic, b).unwrap();
        }
        pump(&mut dev, &mut cloud, |d| d.ready).unwrap();
        assert!(!dev.ready);
        assert!(dev.failed.is_some());
    }
}
