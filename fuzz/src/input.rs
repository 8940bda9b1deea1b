//! The structured input of the `agent` target: a device setup and a sequence of operations.
//!
//! [`AgentInput`] implements [`arbitrary::Arbitrary`] by reading a small byte format (one
//! selector byte per choice, little-endian integers, length-prefixed byte strings), and
//! [`AgentInput::to_bytes`] writes the same format, so that seed scenarios can be written as
//! values and stored as corpus files. Every byte string decodes to some input (running out of
//! bytes reads zeros and ends the operation list), and `to_bytes` of a decoded input decodes to
//! the same input.

use arbitrary::{Arbitrary, Unstructured};

/// Most operations read from one input.
pub const MAX_OPS: usize = 256;
/// Longest raw byte string (payloads, topics, resume records) read from one field.
pub const MAX_BLOB: usize = 2048;

/// Reads the format; never fails (missing bytes read as zero).
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }
    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// One byte (0 when exhausted).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    /// Little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    /// Little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// A `u16`-length-prefixed byte string (at most [`MAX_BLOB`], shorter if the data ends).
    pub fn blob(&mut self) -> Vec<u8> {
        let n = (self.u16() as usize).min(MAX_BLOB).min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a.to_vec()
    }
}

/// Writes the format.
#[derive(Debug, Default)]
pub struct Writer {
    /// The bytes so far.
    pub out: Vec<u8>,
}

impl Writer {
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    /// Little-endian `u16`.
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    /// Little-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    /// A length-prefixed byte string (truncated to [`MAX_BLOB`]).
    pub fn blob(&mut self, b: &[u8]) {
        let b = &b[..b.len().min(MAX_BLOB)];
        self.u16(b.len() as u16);
        self.out.extend_from_slice(b);
    }
}

/// A value of the format.
pub trait Wire: Sized {
    /// Reads one value.
    fn read(r: &mut Reader<'_>) -> Self;
    /// Writes it so that [`Wire::read`] gives it back.
    fn write(&self, w: &mut Writer);
}

impl Wire for u8 {
    fn read(r: &mut Reader<'_>) -> Self {
        r.u8()
    }
    fn write(&self, w: &mut Writer) {
        w.u8(*self);
    }
}

impl Wire for u16 {
    fn read(r: &mut Reader<'_>) -> Self {
        r.u16()
    }
    fn write(&self, w: &mut Writer) {
        w.u16(*self);
    }
}

impl Wire for u32 {
    fn read(r: &mut Reader<'_>) -> Self {
        r.u32()
    }
    fn write(&self, w: &mut Writer) {
        w.u32(*self);
    }
}

impl Wire for bool {
    fn read(r: &mut Reader<'_>) -> Self {
        r.u8() & 1 == 1
    }
    fn write(&self, w: &mut Writer) {
        w.u8(u8::from(*self));
    }
}

impl Wire for Vec<u8> {
    fn read(r: &mut Reader<'_>) -> Self {
        r.blob()
    }
    fn write(&self, w: &mut Writer) {
        w.blob(self);
    }
}

/// Declares a selector enum: the first byte picks the variant (modulo the variant count), the
/// variant's fields follow in order.
macro_rules! wire_enum {
    ($(#[$m:meta])* pub enum $name:ident { $( $(#[$vm:meta])* $var:ident $( ( $($f:ident : $t:ty),* ) )? ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name { $( $(#[$vm])* $var $( ( $($t),* ) )? ),* }

        impl Wire for $name {
            fn read(r: &mut Reader<'_>) -> Self {
                const NAMES: &[&str] = &[$(stringify!($var)),*];
                let k = r.u8() as usize % NAMES.len();
                let mut i = 0usize;
                $(
                    if k == i {
                        return $name::$var $( ( $( <$t as Wire>::read({ let _ = stringify!($f); &mut *r }) ),* ) )?;
                    }
                    i += 1;
                )*
                let _ = i;
                unreachable!("selector modulo the variant count")
            }
            #[allow(unused_assignments)]
            fn write(&self, w: &mut Writer) {
                let mut i = 0u8;
                $(
                    #[allow(unused_variables)]
                    if let $name::$var $( ( $($f),* ) )? = self {
                        w.u8(i);
                        $( $( $f.write(w); )* )?
                        return;
                    }
                    i += 1;
                )*
            }
        }
    };
}

/// Declares a struct whose fields are read and written in order.
macro_rules! wire_struct {
    ($(#[$m:meta])* pub struct $name:ident { $( $(#[$fm:meta])* pub $f:ident : $t:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name { $( $(#[$fm])* pub $f: $t ),* }

        impl Wire for $name {
            fn read(r: &mut Reader<'_>) -> Self {
                Self { $( $f: <$t as Wire>::read(r) ),* }
            }
            fn write(&self, w: &mut Writer) {
                $( self.$f.write(w); )*
            }
        }
    };
}

/// A list: a count byte (taken modulo `MAX + 1`), then the items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List<T, const MAX: usize>(pub Vec<T>);

impl<T: Wire, const MAX: usize> Wire for List<T, MAX> {
    fn read(r: &mut Reader<'_>) -> Self {
        let n = r.u8() as usize % (MAX + 1);
        Self((0..n).map(|_| T::read(r)).collect())
    }
    fn write(&self, w: &mut Writer) {
        let n = self.0.len().min(MAX);
        w.u8(n as u8);
        for item in &self.0[..n] {
            item.write(w);
        }
    }
}

wire_struct! {
    /// How the device is configured (values are mapped into valid ranges by the harness).
    pub struct Setup {
        /// Bit 0 MQTT off, bit 1 HTTP off (both off means both on), bit 2 prefer HTTP, bit 3
        /// auto-activate, bit 4 allow downgrade, bit 5 loose (the harness does not answer
        /// platform actions before network inputs: only the `AnswerPlatform`, `PlatformDone`
        /// and `FileData` operations do), bit 6 block buffer of two blocks, bit 7 minimum
        /// security epoch 2.
        pub flags: u8,
        /// Block size: 256, 512, 1024 or 4096 bytes.
        pub block_size: u8,
        /// Blocks per GetStream request, 1..=8.
        pub blocks_per_request: u8,
        /// Blocks per HTTP range, 1..=8.
        pub http_blocks: u8,
        /// `max_retries`, 0..=7.
        pub max_retries: u8,
        /// `status_retries`, 1..=4.
        pub status_retries: u8,
        /// `status_every`, 1..=8.
        pub status_every: u8,
        /// `resume_every`, 1..=8.
        pub resume_every: u8,
        /// Running version of the first boot (see [`version_of`]).
        pub version: u8,
    }
}

/// The firmware version a selector byte names: `1.<k % 4>.0`.
pub fn version_of(sel: u8) -> ota_core::Version {
    ota_core::Version::new(1, sel % 4, 0)
}

wire_enum! {
    /// The platform image state a boot reports.
    pub enum BootSel {
        /// What the modelled bootloader says (Valid, or PendingCommit after an activation).
        Plausible,
        /// Valid.
        Valid,
        /// PendingCommit.
        PendingCommit,
        /// Invalid.
        Invalid,
    }
}

wire_enum! {
    /// The resume record a boot hands over.
    pub enum ResumeSel {
        /// None.
        Nothing,
        /// The last record the agent persisted.
        Persisted,
        /// The last persisted record with one byte changed (CRC then fails) or truncated.
        PersistedFlip(at: u16, xor: u8),
        /// Arbitrary bytes.
        Raw(bytes: Vec<u8>),
    }
}

wire_enum! {
    /// Which job id a topic or document names.
    pub enum IdSel {
        /// The id in the agent's last status update topic.
        LastReported,
        /// The agent's active job.
        Active,
        /// One of [`JOB_IDS`].
        Fixed(k: u8),
    }
}

/// Job ids the inputs use (valid ones, a longest one, and invalid ones).
pub const JOB_IDS: &[&str] = &[
    "jobA",
    "jobB",
    "AFR_OTA-job-3",
    "j0123456789012345678901234567890123456789012345678901234567890123",
    "bad/id",
    "",
    "job\\u0041",
];

wire_enum! {
    /// Which stream name a topic or document names.
    pub enum StreamSel {
        /// The stream the agent last subscribed to.
        Subscribed,
        /// One of [`STREAMS`].
        Fixed(k: u8),
    }
}

/// Stream names the inputs use.
pub const STREAMS: &[&str] = &["AFR_OTA-s1", "AFR_OTA-s2", "s", "bad/stream", "x+y"];

wire_enum! {
    /// An MQTT topic.
    pub enum TopicSel {
        /// `jobs/notify-next`
        NotifyNext,
        /// `jobs/$next/get/accepted`
        NextGetAccepted,
        /// `jobs/$next/get/rejected`
        NextGetRejected,
        /// `jobs/<id>/update/accepted`
        UpdateAccepted(id: IdSel),
        /// `jobs/<id>/update/rejected`
        UpdateRejected(id: IdSel),
        /// `streams/<s>/data/cbor`
        StreamData(s: StreamSel),
        /// `streams/<s>/rejected/cbor`
        StreamRejected(s: StreamSel),
        /// Another thing's `notify-next`.
        OtherThing,
        /// Arbitrary text (lossy UTF-8).
        Raw(bytes: Vec<u8>),
    }
}

wire_enum! {
    /// A file's size.
    pub enum SizeSel {
        /// A small size (0 allowed: refused by the parser).
        Small(n: u16),
        /// Any `u32`.
        Large(n: u32),
        /// `k` whole blocks plus `extra` bytes (k taken modulo 8).
        Blocks(k: u8, extra: u16),
    }
}

wire_struct! {
    /// One `files[]` entry. Each selector picks among a few plausible and broken values.
    pub struct FileSel {
        /// `filesize`.
        pub size: SizeSel,
        /// `fileid` (0..=3, or 0xdead_beef for 255).
        pub file_id: u8,
        /// `fileType`: absent, 0, 1, `"0"`, or a string that is not a number.
        pub file_type: u8,
        /// `sig-sha256-ecdsa`: the public vector's, absent, empty, not base64, a number.
        pub sig: u8,
        /// `update_data_url`: absent, plain, escaped, too long, not a string.
        pub url: u8,
        /// `filepath`: absent, plain, escaped, unicode.
        pub path: u8,
        /// `certfile` and `attr` (low and high nibble).
        pub extras: u8,
    }
}

wire_struct! {
    /// A Jobs envelope with an `afr_ota` (or custom) job document.
    pub struct JobSpec {
        /// `execution.jobId`.
        pub id: IdSel,
        /// `execution.status`: absent, QUEUED, IN_PROGRESS, SUCCEEDED, CANCELED, unknown.
        pub status: u8,
        /// `statusDetails`: none, self_test ready/active/other, with `updatedBy` (high nibble).
        pub details: u8,
        /// `protocols`: bit 0 MQTT, bit 1 HTTP, bit 2 HTTP first, bit 3 unknown name, bit 4 not
        /// an array; bit 5: custom document instead of `afr_ota`; bit 6: no jobDocument.
        pub protocols: u8,
        /// `streamname`.
        pub stream: StreamSel,
        /// Whether the stream name is left out.
        pub no_stream: bool,
        /// `files` (up to 9: more than the parser accepts).
        pub files: List<FileSel, 9>,
    }
}

wire_struct! {
    /// A stream data block.
    pub struct BlockSpec {
        /// `f`: 0..=3, or a large id for values ≥ 200.
        pub file_id: u8,
        /// `i`: `None` = the next block the agent asked for and has not received; else this.
        pub index: Option16,
        /// `l`: 0 = the configured block size, else another.
        pub block_size: u8,
        /// `p` length: 0 = right for the block, else off by some bytes.
        pub len: u8,
        /// Encoding: 0 canonical, 1 indefinite map, 2 keys reversed, 3 with an unknown key.
        pub encoding: u8,
    }
}

wire_enum! {
    /// An optional `u16`.
    pub enum Option16 {
        /// None.
        Auto,
        /// This value.
        Value(v: u16),
    }
}

wire_struct! {
    /// An answer to a Jobs request.
    pub struct AnswerSpec {
        /// `clientToken`: the agent's last, none, another.
        pub token: u8,
        /// `code`: none, TerminalStateReached, VersionMismatch, InvalidRequest, other.
        pub code: u8,
        /// `executionState.status`.
        pub status: u8,
    }
}

wire_enum! {
    /// An MQTT payload.
    pub enum PayloadSel {
        /// A Jobs envelope.
        Job(spec: JobSpec),
        /// A "no job" answer (several spellings).
        NoJob(k: u8),
        /// A data block.
        Block(spec: BlockSpec),
        /// A rejected stream request with one of a few codes.
        StreamError(code: u8),
        /// An answer to `/update` or `$next/get`.
        Answer(spec: AnswerSpec),
        /// Arbitrary bytes.
        Raw(bytes: Vec<u8>),
    }
}

wire_enum! {
    /// One change applied to a generated payload.
    pub enum Mutation {
        /// Replace the byte at `at` (modulo the length).
        Set(at: u16, v: u8),
        /// Insert a byte.
        Insert(at: u16, v: u8),
        /// Remove a byte.
        Remove(at: u16),
        /// Cut the payload at `at`.
        Truncate(at: u16),
    }
}

wire_enum! {
    /// The status line and `Content-Range` of an HTTP answer.
    pub enum RangeSel {
        /// The range the agent asked for, with the file's size.
        Matching,
        /// The range asked for, with `*` as the complete length.
        MatchingStar,
        /// No `Content-Range`.
        Absent,
        /// The range asked for, shifted by `d` bytes.
        Shifted(d: u8),
        /// Any range.
        Raw(first: u32, last: u32, complete: u32),
    }
}

wire_enum! {
    /// An HTTP body chunk.
    pub enum BodySel {
        /// The next `n` bytes of the range being answered (0 = as many as allowed).
        Plausible(n: u16),
        /// Arbitrary bytes.
        Raw(bytes: Vec<u8>),
    }
}

wire_enum! {
    /// An answer to a file read.
    pub enum DataSel {
        /// The bytes the RAM flash holds.
        Stored,
        /// One byte short (a contract violation: `WrongReadLength`).
        Short,
        /// The right length, other bytes.
        Garbage(v: u8),
        /// A platform error.
        Error(e: u8),
    }
}

wire_enum! {
    /// How far time moves.
    pub enum TimeSel {
        /// Not at all (an early `handle_timeout`).
        Zero,
        /// A few milliseconds.
        Small(ms: u16),
        /// To the agent's next deadline.
        ToDeadline,
        /// Far.
        Large(ms: u32),
    }
}

wire_enum! {
    /// One operation applied to the device.
    pub enum Op {
        /// `Input::Start` on the running agent.
        Start(state: BootSel, resume: ResumeSel),
        /// A new agent (the device rebooted), started at once.
        Reboot(version: u8, state: BootSel, resume: ResumeSel),
        /// An application command (selector modulo 10).
        Command(k: u8),
        /// The MQTT link went down or came back.
        Link(up: bool),
        /// An MQTT message.
        Message(topic: TopicSel, payload: PayloadSel, mutations: List<Mutation, 4>),
        /// The status line of the answer to the last HTTP request.
        HttpResponse(status: u8, range: RangeSel),
        /// A body chunk.
        HttpBody(body: BodySel),
        /// The body ended.
        HttpDone,
        /// The request failed.
        HttpFailed,
        /// `Input::PlatformDone`: 0..=191 success, else an error.
        PlatformDone(k: u8),
        /// `Input::FileData`.
        FileData(data: DataSel),
        /// Time passes; `handle_timeout` is called.
        Advance(time: TimeSel),
        /// Answer every outstanding platform action as a working platform would.
        AnswerPlatform,
    }
}

/// HTTP statuses an answer may carry (selector modulo the length; 0xff means "any").
pub const HTTP_STATUSES: &[u16] = &[
    206, 206, 206, 200, 400, 403, 404, 408, 416, 429, 500, 503, 302,
];

/// The whole input of the `agent` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInput {
    /// The device's configuration.
    pub setup: Setup,
    /// What happens to it, in order.
    pub ops: Vec<Op>,
}

impl AgentInput {
    /// Decodes the format (never fails).
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut r = Reader::new(data);
        let setup = Setup::read(&mut r);
        let mut ops = Vec::new();
        while !r.is_empty() && ops.len() < MAX_OPS {
            ops.push(Op::read(&mut r));
        }
        Self { setup, ops }
    }

    /// Encodes the format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.setup.write(&mut w);
        for op in self.ops.iter().take(MAX_OPS) {
            op.write(&mut w);
        }
        w.out
    }
}

impl<'a> Arbitrary<'a> for AgentInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.len();
        Ok(Self::from_bytes(u.bytes(len)?))
    }
    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self::from_bytes(u.take_rest()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_encode_decode_is_stable() {
        let mut seed = 0x1234_5678u32;
        for len in 0..400usize {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            let a = AgentInput::from_bytes(&data);
            let b = AgentInput::from_bytes(&a.to_bytes());
            assert_eq!(a, b, "input of {len} bytes");
        }
    }
}
