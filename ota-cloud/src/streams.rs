//! MQTT-based file delivery: DescribeStream and GetStream, CBOR and JSON.

use std::collections::{BTreeMap, VecDeque};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ciborium::Value as Cbor;
use serde_json::Value as Json;

use crate::Outgoing;
use crate::json::ObjWriter;
use crate::topics::{self, StreamFormat};

/// Smallest block size a GetStream request may ask for.
pub const MIN_BLOCK_SIZE: u64 = 256;
/// Largest block size, and the most block data one request is answered with.
pub const MAX_BLOCK_BYTES: u64 = 131_072;
/// Largest block offset `o` and count `n` the service accepts (24 MiB of 256-byte blocks).
pub const MAX_BLOCK_OFFSET: u64 = 98_304;
/// Bitmaps must be shorter than this many bytes.
pub const MAX_BITMAP_BYTES: usize = 12_288;
/// Longest client token, in bytes.
const MAX_CLIENT_TOKEN: usize = 64;
/// Most files in one stream (CreateStream).
pub const MAX_FILES_PER_STREAM: usize = 50;
/// The GetStream log keeps at most this many entries; past it, the oldest half is dropped.
pub const STREAM_LOG_CAP: usize = 65_536;

/// An error code of MQTT-based file delivery, sent as `"o"` on `.../rejected/<fmt>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamErrorCode {
    /// The topic maps to no stream API.
    InvalidTopic,
    /// The JSON payload does not parse.
    InvalidJson,
    /// The CBOR payload does not parse.
    InvalidCbor,
    /// A field is missing, of the wrong type, or the client token is too long.
    InvalidRequest,
    /// Not authorized (only sent when injected).
    Unauthorized,
    /// `l` is outside 256..=131072.
    BlockSizeOutOfBounds,
    /// `o` is outside 0..=98304 or past the end of the file.
    OffsetOutOfBounds,
    /// `n` is outside 0..=98304.
    BlockCountLimitExceeded,
    /// `b` is 12,288 bytes or longer.
    BlockBitmapLimitExceeded,
    /// Unknown stream or file id.
    ResourceNotFound,
    /// `s` does not match the stream version.
    VersionMismatch,
    /// ETag mismatch (only sent when injected).
    ETagMismatch,
    /// Internal error (only sent when injected).
    InternalError,
}

impl StreamErrorCode {
    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidTopic => "InvalidTopic",
            Self::InvalidJson => "InvalidJson",
            Self::InvalidCbor => "InvalidCbor",
            Self::InvalidRequest => "InvalidRequest",
            Self::Unauthorized => "Unauthorized",
            Self::BlockSizeOutOfBounds => "BlockSizeOutOfBounds",
            Self::OffsetOutOfBounds => "OffsetOutOfBounds",
            Self::BlockCountLimitExceeded => "BlockCountLimitExceeded",
            Self::BlockBitmapLimitExceeded => "BlockBitmapLimitExceeded",
            Self::ResourceNotFound => "ResourceNotFound",
            Self::VersionMismatch => "VersionMismatch",
            Self::ETagMismatch => "ETagMismatch",
            Self::InternalError => "InternalError",
        }
    }

    /// Parses a wire code.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::InvalidTopic,
            Self::InvalidJson,
            Self::InvalidCbor,
            Self::InvalidRequest,
            Self::Unauthorized,
            Self::BlockSizeOutOfBounds,
            Self::OffsetOutOfBounds,
            Self::BlockCountLimitExceeded,
            Self::BlockBitmapLimitExceeded,
            Self::ResourceNotFound,
            Self::VersionMismatch,
            Self::ETagMismatch,
            Self::InternalError,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl core::fmt::Display for StreamErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of the stream side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// GetStream requests received (served or rejected).
    pub requests: u64,
    /// GetStream and DescribeStream requests answered on `.../rejected/<fmt>`.
    pub rejected: u64,
    /// Data-block messages published.
    pub blocks_sent: u64,
    /// Payload bytes in those blocks.
    pub bytes_sent: u64,
    /// DescribeStream requests received.
    pub describes: u64,
}

/// One GetStream request as the service saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedRequest {
    /// When it arrived.
    pub at_ms: u64,
    /// The requesting thing (from the topic).
    pub thing_name: String,
    /// The stream.
    pub stream_id: String,
    /// CBOR or JSON.
    pub format: StreamFormat,
    /// `f`, when it could be read.
    pub file_id: Option<u32>,
    /// `l`, when it could be read.
    pub block_size: Option<u32>,
    /// The client token, when valid.
    pub client_token: Option<String>,
    /// The block indexes sent, in order.
    pub blocks: Vec<u32>,
    /// The error sent instead, if any.
    pub error: Option<StreamErrorCode>,
}

struct Stream {
    version: u64,
    description: String,
    files: BTreeMap<u32, Vec<u8>>,
}

/// Options of how blocks are encoded (from the cloud config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockEncoding {
    pub(crate) indefinite_maps: bool,
    pub(crate) echo_client_token: bool,
}

pub(crate) struct Streams {
    streams: BTreeMap<String, Stream>,
    stats: StreamStats,
    log: Vec<ServedRequest>,
    injected: VecDeque<StreamErrorCode>,
}

/// A request field, independent of the encoding.
#[derive(Debug, Clone)]
enum Field {
    Int(i128),
    Text(String),
    Bytes(Vec<u8>),
    Other,
}

struct Rejection {
    code: StreamErrorCode,
    message: String,
    token: Option<String>,
}

fn reject(code: StreamErrorCode, message: impl Into<String>, token: Option<&str>) -> Rejection {
    Rejection {
        code,
        message: message.into(),
        token: token.map(str::to_owned),
    }
}

impl Streams {
    pub(crate) fn new() -> Self {
        Self {
            streams: BTreeMap::new(),
            stats: StreamStats::default(),
            log: Vec::new(),
            injected: VecDeque::new(),
        }
    }

    pub(crate) fn contains(&self, stream_id: &str) -> bool {
        self.streams.contains_key(stream_id)
    }

    /// Creates or replaces a stream; replacing bumps its version.
    pub(crate) fn create(&mut self, stream_id: &str, files: Vec<(u32, Vec<u8>)>) -> u64 {
        let version = self.streams.get(stream_id).map_or(1, |s| s.version + 1);
        let description = self
            .streams
            .get(stream_id)
            .map(|s| s.description.clone())
            .unwrap_or_default();
        self.streams.insert(
            stream_id.to_owned(),
            Stream {
                version,
                description,
                files: files.into_iter().collect(),
            },
        );
        version
    }

    pub(crate) fn set_description(&mut self, stream_id: &str, description: &str) -> bool {
        match self.streams.get_mut(stream_id) {
            Some(s) => {
                s.description = description.to_owned();
                true
            }
            None => false,
        }
    }

    pub(crate) fn delete(&mut self, stream_id: &str) -> bool {
        self.streams.remove(stream_id).is_some()
    }

    pub(crate) fn version(&self, stream_id: &str) -> Option<u64> {
        self.streams.get(stream_id).map(|s| s.version)
    }

    pub(crate) fn stats(&self) -> StreamStats {
        self.stats
    }

    pub(crate) fn log(&self) -> &[ServedRequest] {
        &self.log
    }

    pub(crate) fn take_log(&mut self) -> Vec<ServedRequest> {
        core::mem::take(&mut self.log)
    }

    pub(crate) fn inject(&mut self, code: StreamErrorCode, count: usize) {
        self.injected.extend(core::iter::repeat_n(code, count));
    }

    pub(crate) fn handle_invalid_topic(&mut self, topic: &str, out: &mut VecDeque<Outgoing>) {
        // No stream id or format can be trusted: answer on `<topic>/rejected` in JSON.
        self.stats.rejected += 1;
        out.push_back(Outgoing {
            topic: format!("{topic}/rejected"),
            payload: encode_error(
                StreamFormat::Json,
                StreamErrorCode::InvalidTopic,
                "The topic does not map to a stream API",
                None,
            ),
        });
    }

    pub(crate) fn handle_describe(
        &mut self,
        thing: &str,
        stream_id: &str,
        format: StreamFormat,
        payload: &[u8],
        out: &mut VecDeque<Outgoing>,
    ) {
        self.stats.describes += 1;
        let result = decode_request(format, payload, true).and_then(|fields| {
            let token = client_token(&fields)?;
            let stream = self.streams.get(stream_id).ok_or_else(|| {
                reject(
                    StreamErrorCode::ResourceNotFound,
                    format!("Stream {stream_id} not found"),
                    token.as_deref(),
                )
            })?;
            Ok((token, stream))
        });
        match result {
            Ok((token, stream)) => {
                let files: Vec<(u32, u64)> = stream
                    .files
                    .iter()
                    .map(|(id, bytes)| (*id, bytes.len() as u64))
                    .collect();
                out.push_back(Outgoing {
                    topic: topics::stream_description(thing, stream_id, format),
                    payload: encode_description(
                        format,
                        token.as_deref(),
                        stream.version,
                        &stream.description,
                        &files,
                    ),
                });
            }
            Err(r) => self.send_rejection(thing, stream_id, format, r, out),
        }
    }

    fn send_rejection(
        &mut self,
        thing: &str,
        stream_id: &str,
        format: StreamFormat,
        r: Rejection,
        out: &mut VecDeque<Outgoing>,
    ) {
        self.stats.rejected += 1;
        out.push_back(Outgoing {
            topic: topics::stream_rejected(thing, stream_id, format),
            payload: encode_error(format, r.code, &r.message, r.token.as_deref()),
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_get(
        &mut self,
        now_ms: u64,
        thing: &str,
        stream_id: &str,
        format: StreamFormat,
        payload: &[u8],
        encoding: BlockEncoding,
        out: &mut VecDeque<Outgoing>,
    ) {
        self.stats.requests += 1;
        let mut record = ServedRequest {
            at_ms: now_ms,
            thing_name: thing.to_owned(),
            stream_id: stream_id.to_owned(),
            format,
            file_id: None,
            block_size: None,
            client_token: None,
            blocks: Vec::new(),
            error: None,
        };
        match self.plan(stream_id, format, payload, &mut record) {
            Ok((file_id, block_size, blocks)) => {
                let token = record.client_token.clone();
                if let Some(file) = self
                    .streams
                    .get(stream_id)
                    .and_then(|s| s.files.get(&file_id))
                {
                    for &index in &blocks {
                        let start = u64::from(index) * block_size;
                        let end = (start + block_size).min(file.len() as u64);
                        let data = usize::try_from(start)
                            .ok()
                            .zip(usize::try_from(end).ok())
                            .and_then(|(s, e)| file.get(s..e))
                            .unwrap_or_default();
                        self.stats.blocks_sent += 1;
                        self.stats.bytes_sent += data.len() as u64;
                        out.push_back(Outgoing {
                            topic: topics::stream_data(thing, stream_id, format),
                            payload: encode_block(
                                format,
                                encoding,
                                file_id,
                                index,
                                data,
                                if encoding.echo_client_token {
                                    token.as_deref()
                                } else {
                                    None
                                },
                            ),
                        });
                    }
                }
                record.blocks = blocks;
            }
            Err(r) => {
                record.error = Some(r.code);
                self.send_rejection(thing, stream_id, format, r, out);
            }
        }
        if self.log.len() >= STREAM_LOG_CAP {
            self.log.drain(..STREAM_LOG_CAP / 2);
        }
        self.log.push(record);
    }

    /// Validates a GetStream request and picks the blocks to send: (file id, block size, blocks).
    fn plan(
        &mut self,
        stream_id: &str,
        format: StreamFormat,
        payload: &[u8],
        record: &mut ServedRequest,
    ) -> Result<(u32, u64, Vec<u32>), Rejection> {
        use StreamErrorCode as E;
        let fields = decode_request(format, payload, false)?;
        let token = client_token(&fields)?;
        record.client_token.clone_from(&token);
        let tok = token.as_deref();
        if let Some(code) = self.injected.pop_front() {
            return Err(reject(code, "Injected failure", tok));
        }
        let stream = self.streams.get(stream_id).ok_or_else(|| {
            reject(
                E::ResourceNotFound,
                format!("Stream {stream_id} not found"),
                tok,
            )
        })?;
        if let Some(v) = int_field(&fields, "s", tok)?
            && v != i128::from(stream.version)
        {
            return Err(reject(
                E::VersionMismatch,
                format!("Stream version {v} does not match {}", stream.version),
                tok,
            ));
        }
        let file_id = int_field(&fields, "f", tok)?
            .ok_or_else(|| reject(E::InvalidRequest, "The file id \"f\" is required", tok))?;
        let block_size = int_field(&fields, "l", tok)?
            .ok_or_else(|| reject(E::InvalidRequest, "The block size \"l\" is required", tok))?;
        if !(i128::from(MIN_BLOCK_SIZE)..=i128::from(MAX_BLOCK_BYTES)).contains(&block_size) {
            return Err(reject(
                E::BlockSizeOutOfBounds,
                "The block size is out of bounds",
                tok,
            ));
        }
        // In range by the check above.
        let block_size = block_size as u64;
        record.block_size = u32::try_from(block_size).ok();
        let offset = int_field(&fields, "o", tok)?.unwrap_or(0);
        if !(0..=i128::from(MAX_BLOCK_OFFSET)).contains(&offset) {
            return Err(reject(
                E::OffsetOutOfBounds,
                "The block offset is out of bounds",
                tok,
            ));
        }
        let offset = offset as u64;
        let count = int_field(&fields, "n", tok)?;
        if let Some(n) = count
            && !(0..=i128::from(MAX_BLOCK_OFFSET)).contains(&n)
        {
            return Err(reject(
                E::BlockCountLimitExceeded,
                "The number of blocks is out of bounds",
                tok,
            ));
        }
        let bitmap = bitmap_field(&fields, format, tok)?;
        if bitmap.as_ref().is_some_and(|b| b.len() >= MAX_BITMAP_BYTES) {
            return Err(reject(
                E::BlockBitmapLimitExceeded,
                "The block bitmap is too large",
                tok,
            ));
        }
        let file = u32::try_from(file_id)
            .ok()
            .and_then(|id| stream.files.get(&id).map(|f| (id, f)));
        let Some((file_id, file)) = file else {
            return Err(reject(
                E::ResourceNotFound,
                format!("File {file_id} not found in stream {stream_id}"),
                tok,
            ));
        };
        record.file_id = Some(file_id);
        let total_blocks = (file.len() as u64).div_ceil(block_size);
        if offset >= total_blocks {
            return Err(reject(
                E::OffsetOutOfBounds,
                "The block offset is past the end of the file",
                tok,
            ));
        }
        let by_size = MAX_BLOCK_BYTES / block_size;
        // n = 0 is read as "not given".
        let count = count.filter(|&n| n > 0).map(|n| n as u64);
        let mut blocks = Vec::new();
        match bitmap {
            Some(bitmap) => {
                let cap = count.map_or(by_size, |n| n.min(by_size));
                'bits: for (k, byte) in bitmap.iter().enumerate() {
                    for bit in 0..8u64 {
                        if byte & (1 << bit) == 0 {
                            continue;
                        }
                        let block = offset + (k as u64) * 8 + bit;
                        if block >= total_blocks || blocks.len() as u64 >= cap {
                            break 'bits;
                        }
                        blocks.push(block);
                    }
                }
            }
            None => {
                let n = count.unwrap_or(by_size).min(by_size);
                let end = (offset + n).min(total_blocks);
                blocks.extend(offset..end);
            }
        }
        let blocks = blocks
            .into_iter()
            .filter_map(|b| u32::try_from(b).ok())
            .collect();
        Ok((file_id, block_size, blocks))
    }
}

fn decode_request(
    format: StreamFormat,
    payload: &[u8],
    empty_ok: bool,
) -> Result<BTreeMap<String, Field>, Rejection> {
    let mut fields = BTreeMap::new();
    if payload.is_empty() && empty_ok {
        return Ok(fields);
    }
    match format {
        StreamFormat::Cbor => {
            let mut reader = payload;
            let value: Cbor = ciborium::de::from_reader(&mut reader).map_err(|e| {
                reject(
                    StreamErrorCode::InvalidCbor,
                    format!("The CBOR payload is malformed: {e}"),
                    None,
                )
            })?;
            if !reader.is_empty() {
                return Err(reject(
                    StreamErrorCode::InvalidCbor,
                    "Trailing bytes after the CBOR item",
                    None,
                ));
            }
            let Cbor::Map(entries) = value else {
                return Err(reject(
                    StreamErrorCode::InvalidRequest,
                    "The request is not a CBOR map",
                    None,
                ));
            };
            for (k, v) in entries {
                let Cbor::Text(k) = k else { continue };
                let field = match v {
                    Cbor::Integer(i) => Field::Int(i128::from(i)),
                    Cbor::Text(t) => Field::Text(t),
                    Cbor::Bytes(b) => Field::Bytes(b),
                    _ => Field::Other,
                };
                fields.entry(k).or_insert(field);
            }
        }
        StreamFormat::Json => {
            let value: Json = serde_json::from_slice(payload).map_err(|e| {
                reject(
                    StreamErrorCode::InvalidJson,
                    format!("The JSON payload is malformed: {e}"),
                    None,
                )
            })?;
            let Json::Object(map) = value else {
                return Err(reject(
                    StreamErrorCode::InvalidRequest,
                    "The request is not a JSON object",
                    None,
                ));
            };
            for (k, v) in map {
                let field = match v {
                    Json::Number(n) => n
                        .as_i64()
                        .map(i128::from)
                        .or_else(|| n.as_u64().map(i128::from))
                        .map_or(Field::Other, Field::Int),
                    Json::String(s) => Field::Text(s),
                    _ => Field::Other,
                };
                fields.insert(k, field);
            }
        }
    }
    Ok(fields)
}

fn client_token(fields: &BTreeMap<String, Field>) -> Result<Option<String>, Rejection> {
    match fields.get("c") {
        None => Ok(None),
        Some(Field::Text(t)) if t.len() <= MAX_CLIENT_TOKEN => Ok(Some(t.clone())),
        Some(Field::Text(_)) => Err(reject(
            StreamErrorCode::InvalidRequest,
            "The client token is longer than 64 bytes",
            None,
        )),
        Some(_) => Err(reject(
            StreamErrorCode::InvalidRequest,
            "The client token must be a string",
            None,
        )),
    }
}

fn int_field(
    fields: &BTreeMap<String, Field>,
    key: &str,
    token: Option<&str>,
) -> Result<Option<i128>, Rejection> {
    match fields.get(key) {
        None => Ok(None),
        Some(Field::Int(i)) => Ok(Some(*i)),
        Some(_) => Err(reject(
            StreamErrorCode::InvalidRequest,
            format!("\"{key}\" must be an integer"),
            token,
        )),
    }
}

fn bitmap_field(
    fields: &BTreeMap<String, Field>,
    format: StreamFormat,
    token: Option<&str>,
) -> Result<Option<Vec<u8>>, Rejection> {
    let bad = || {
        reject(
            StreamErrorCode::InvalidRequest,
            "The bitmap \"b\" is malformed",
            token,
        )
    };
    match (fields.get("b"), format) {
        (None, _) => Ok(None),
        (Some(Field::Bytes(b)), StreamFormat::Cbor) => Ok(Some(b.clone())),
        (Some(Field::Text(t)), StreamFormat::Json) => {
            // The developer guide writes the JSON bitmap as hex ("0x130080"); the file-streams
            // library treats binary JSON fields as base64. Both are accepted.
            if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                crate::http::unhex(hex).map(Some).ok_or_else(bad)
            } else {
                STANDARD.decode(t).map(Some).map_err(|_| bad())
            }
        }
        _ => Err(bad()),
    }
}

fn cbor_bytes(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail; an empty payload would only follow a ciborium bug.
    if ciborium::ser::into_writer(value, &mut out).is_err() {
        out.clear();
    }
    out
}

fn cbor_map(entries: Vec<(&str, Cbor)>, indefinite: bool) -> Vec<u8> {
    if indefinite {
        let mut out = vec![0xbf];
        for (k, v) in entries {
            out.extend(cbor_bytes(&Cbor::Text(k.to_owned())));
            out.extend(cbor_bytes(&v));
        }
        out.push(0xff);
        out
    } else {
        cbor_bytes(&Cbor::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Cbor::Text(k.to_owned()), v))
                .collect(),
        ))
    }
}

fn encode_block(
    format: StreamFormat,
    encoding: BlockEncoding,
    file_id: u32,
    index: u32,
    data: &[u8],
    token: Option<&str>,
) -> Vec<u8> {
    match format {
        StreamFormat::Cbor => {
            let mut entries = Vec::with_capacity(5);
            if let Some(t) = token {
                entries.push(("c", Cbor::Text(t.to_owned())));
            }
            entries.push(("f", Cbor::Integer(file_id.into())));
            entries.push(("i", Cbor::Integer(index.into())));
            entries.push(("l", Cbor::Integer((data.len() as u64).into())));
            entries.push(("p", Cbor::Bytes(data.to_vec())));
            cbor_map(entries, encoding.indefinite_maps)
        }
        StreamFormat::Json => {
            let mut w = ObjWriter::new();
            w.opt_str("c", token)
                .u64("f", u64::from(file_id))
                .u64("i", u64::from(index))
                .u64("l", data.len() as u64)
                .str("p", &STANDARD.encode(data));
            w.finish().into_bytes()
        }
    }
}

fn encode_error(
    format: StreamFormat,
    code: StreamErrorCode,
    message: &str,
    token: Option<&str>,
) -> Vec<u8> {
    match format {
        StreamFormat::Cbor => {
            let mut entries = vec![
                ("o", Cbor::Text(code.as_str().to_owned())),
                ("m", Cbor::Text(message.to_owned())),
            ];
            if let Some(t) = token {
                entries.push(("c", Cbor::Text(t.to_owned())));
            }
            cbor_map(entries, false)
        }
        StreamFormat::Json => {
            let mut w = ObjWriter::new();
            w.str("o", code.as_str())
                .str("m", message)
                .opt_str("c", token);
            w.finish().into_bytes()
        }
    }
}

fn encode_description(
    format: StreamFormat,
    token: Option<&str>,
    version: u64,
    description: &str,
    files: &[(u32, u64)],
) -> Vec<u8> {
    match format {
        StreamFormat::Cbor => {
            let mut entries = Vec::new();
            if let Some(t) = token {
                entries.push(("c", Cbor::Text(t.to_owned())));
            }
            entries.push(("s", Cbor::Integer(version.into())));
            entries.push(("d", Cbor::Text(description.to_owned())));
            let list = files
                .iter()
                .map(|&(f, z)| {
                    Cbor::Map(vec![
                        (Cbor::Text("f".into()), Cbor::Integer(f.into())),
                        (Cbor::Text("z".into()), Cbor::Integer(z.into())),
                    ])
                })
                .collect();
            entries.push(("r", Cbor::Array(list)));
            cbor_map(entries, false)
        }
        StreamFormat::Json => {
            let list: Vec<String> = files
                .iter()
                .map(|&(f, z)| format!("{{\"f\":{f},\"z\":{z}}}"))
                .collect();
            let mut w = ObjWriter::new();
            w.opt_str("c", token)
                .u64("s", version)
                .str("d", description)
                .raw("r", &format!("[{}]", list.join(",")));
            w.finish().into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_encoding_matches_the_documented_bytes() {
        // cbor-mqtt-stream-vectors.txt §5: the developer-guide error example.
        let expected = "a3616f74426c6f636b53697a654f75744f66426f756e6473616d781f54686520626c6f636b2073697a65206973206f7574206f6620626f756e64736163782431626238616161312d356331382d346432312d383063322d306234346665653130333830";
        let bytes = encode_error(
            StreamFormat::Cbor,
            StreamErrorCode::BlockSizeOutOfBounds,
            "The block size is out of bounds",
            Some("1bb8aaa1-5c18-4d21-80c2-0b44fee10380"),
        );
        assert_eq!(crate::http::hex(&bytes), expected);
    }

    #[test]
    fn description_encoding_matches_the_documented_bytes() {
        let expected = "a46163782465633934346366622d316533632d343961632d393764652d396463346161616430303339617301616478265468697320697320746865206465736372697074696f6e206f662073747265616d204142432e617282a2616600617a1a00020000a2616601617a19c800";
        let bytes = encode_description(
            StreamFormat::Cbor,
            Some("ec944cfb-1e3c-49ac-97de-9dc4aaad0039"),
            1,
            "This is the description of stream ABC.",
            &[(0, 131_072), (1, 51_200)],
        );
        assert_eq!(crate::http::hex(&bytes), expected);
    }

    #[test]
    fn block_header_matches_the_captured_indefinite_map() {
        // cbor-mqtt-stream-vectors.txt §3: bf 6166 00 6169 00 616c 190400 6170 590400 ... ff
        let data = vec![0u8; 1024];
        let enc = BlockEncoding {
            indefinite_maps: true,
            echo_client_token: false,
        };
        let bytes = encode_block(StreamFormat::Cbor, enc, 0, 0, &data, None);
        assert_eq!(
            crate::http::hex(bytes.get(..17).unwrap_or_default()),
            "bf616600616900616c1904006170590400"
        );
        assert_eq!(bytes.len(), 1042);
        assert_eq!(bytes.last(), Some(&0xff));
    }

    #[test]
    fn codes_round_trip() {
        for code in [
            StreamErrorCode::InvalidTopic,
            StreamErrorCode::BlockBitmapLimitExceeded,
            StreamErrorCode::ETagMismatch,
        ] {
            assert_eq!(StreamErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(StreamErrorCode::parse("Nope"), None);
    }
}
