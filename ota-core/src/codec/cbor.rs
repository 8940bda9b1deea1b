//! AWS IoT MQTT-based file delivery in CBOR: the GetStream request (`c f l o b n`), the data
//! block (`f i l p`) and the rejected-request error (`o m c`).
//!
//! Decoders accept definite and indefinite-length maps, keys in any order, and skip unknown
//! keys (of any CBOR type, nested up to a small depth); a duplicate known key is an error.
//! Encoders write definite-length maps with the keys in the order AWS documents.

use core::fmt;

/// Why CBOR could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CborError {
    /// The input ended inside an item.
    UnexpectedEnd,
    /// The top-level item is not a map.
    NotAMap,
    /// A known key holds the wrong CBOR type.
    WrongType(&'static str),
    /// A required key is missing.
    Missing(&'static str),
    /// A known key appears twice.
    DuplicateKey(&'static str),
    /// An integer does not fit in `u32`, or is negative.
    IntegerRange(&'static str),
    /// Malformed CBOR (reserved additional info, bad break, nesting too deep, bad UTF-8).
    Malformed,
    /// Bytes after the top-level item.
    TrailingData,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for CborError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!()
    }
}

impl core::error::Error for CborError {}

/// A GetStream request, published on `$aws/things/<thing>/streams/<stream>/get/cbor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetStreamRequest<'a> {
    /// `c`: client token (echoed in errors).
    pub client_token: &'a str,
    /// `f`: file id.
    pub file_id: u32,
    /// `l`: block size in bytes.
    pub block_size: u32,
    /// `o`: block offset: index of the block that bit 0 of `b` stands for.
    pub block_offset: u32,
    /// `b`: block bitmap, LSB-first, 1 = wanted; `None` to omit.
    pub bitmap: Option<&'a [u8]>,
    /// `n`: number of blocks; `None` to omit.
    pub num_blocks: Option<u32>,
}

/// Encodes `req` into `out`, returning the length. Keys in the order `c f l o b n`.
pub fn encode_get_stream_request(req: &GetStreamRequest<'_>, out: &mut [u8]) -> Result<usize, CborError> {
    todo!()
}

/// Decodes a GetStream request (the cloud side of the protocol, and tests).
pub fn decode_get_stream_request(input: &[u8]) -> Result<GetStreamRequest<'_>, CborError> {
    todo!()
}

/// A data block, received on `$aws/things/<thing>/streams/<stream>/data/cbor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataBlock<'a> {
    /// `f`: file id.
    pub file_id: u32,
    /// `i`: block index.
    pub block_id: u32,
    /// `l`: block size claimed by the sender (checked by the agent against `p`).
    pub block_size: u32,
    /// `p`: the payload.
    pub payload: &'a [u8],
}

/// Decodes a data block. All four keys are required.
pub fn decode_data_block(input: &[u8]) -> Result<DataBlock<'_>, CborError> {
    todo!()
}

/// Encodes a data block (keys `f i l p`), for the cloud side and tests.
pub fn encode_data_block(block: &DataBlock<'_>, out: &mut [u8]) -> Result<usize, CborError> {
    todo!()
}

/// A rejected stream request, received on `.../streams/<stream>/rejected/cbor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamError<'a> {
    /// `o`: the error code, e.g. `"ResourceNotFound"`, `"InvalidRequest"`, `"Unauthorized"`.
    pub code: &'a str,
    /// `m`: message, if present.
    pub message: Option<&'a str>,
    /// `c`: the client token of the request, if present.
    pub client_token: Option<&'a str>,
}

/// Decodes a rejected-request error. Only `o` is required.
pub fn decode_stream_error(input: &[u8]) -> Result<StreamError<'_>, CborError> {
    todo!()
}

/// Encodes a rejected-request error (keys `o m c`), for the cloud side and tests.
pub fn encode_stream_error(err: &StreamError<'_>, out: &mut [u8]) -> Result<usize, CborError> {
    todo!()
}
