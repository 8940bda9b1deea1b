//! The buffer-sizing rule for minimq's `rx` and `tx` buffers.
//!
//! minimq holds **one inbound packet at a time** in `rx` and advertises `rx.len()` to the broker
//! as its MQTT 5 *Maximum Packet Size*. A broker must not send a larger packet: it drops it
//! silently (MQTT 5 §3.1.2.11.4). A stream block that does not fit would therefore never
//! arrive, and the download would stall on retries. [`check`] turns that into a configuration
//! error at start ([`crate::OtaMqtt::new`] calls it).
//!
//! ## `rx` (inbound)
//!
//! `rx >= max(block_size + BLOCK_MESSAGE_OVERHEAD, job_buffer_len + JOB_MESSAGE_OVERHEAD)`,
//! see [`min_rx_len`], plus whatever the application's own largest inbound message needs.
//!
//! - A data block arrives as one `PUBLISH` on `$aws/things/<thing>/streams/<stream>/data/cbor`:
//!   fixed header (≤ 5 B), topic (≤ 2 + 12 + 128 + 9 + 128 + 10 B), packet id (2 B),
//!   properties (≤ 4 + 32 B allowed) and the CBOR block (`f`, `i`, `l`, `p`: ≤ 32 B + the block).
//!   [`BLOCK_MESSAGE_OVERHEAD`] bounds all but the block's bytes.
//! - The job document arrives inside the Jobs envelope (`$next/get/accepted`, `notify-next`),
//!   whose execution fields and `statusDetails` add up to [`JOB_MESSAGE_OVERHEAD`].
//! - The number of blocks per request does **not** change `rx`: each block is its own packet
//!   and minimq reads them one after the other. It changes how much the *transport* buffers
//!   (a TCP socket's receive window, e.g. embassy-net's `rx_buffer`): with a window of at least
//!   one block message the broker is flow-controlled by TCP and nothing is lost; a window of
//!   `blocks_per_request` block messages lets a whole burst land without a stall.
//!
//! ## `tx` (outbound)
//!
//! `tx >= CONNECT_WORKSPACE + will + auth + AGENT_INFLIGHT * PUBLISH_PACKET_MAX`, see
//! [`min_tx_len`], plus the application's own QoS 1 traffic. minimq keeps every unacknowledged
//! QoS 1 `PUBLISH`, `SUBSCRIBE` and `UNSUBSCRIBE` in `tx` until the broker acknowledges it
//! (and replays it after a resumed reconnect), and reserves room to encode a `CONNECT`.
//! The agent's largest packet is a status update ([`PUBLISH_PACKET_MAX`]); it has at most
//! [`AGENT_INFLIGHT`] QoS 1 packets outstanding in a burst (three subscriptions and
//! `$next/get` at start or after a reconnect).
//!
//! The recommended sizes for the defaults (4 KB blocks, job documents up to 4 KB) are
//! `rx = 6 KB` and `tx = 4 KB`.

/// Largest topic the agent renders (`ota-core` renders topics into a 320-byte buffer).
pub const TOPIC_MAX: usize = 320;
/// Largest payload the agent publishes (`ota-core` renders payloads into a 512-byte buffer).
pub const PAYLOAD_MAX: usize = 512;
/// Largest stream topic: `$aws/things/` + thing (128) + `/streams/` + stream (128) + `/data/cbor`.
pub const STREAM_TOPIC_MAX: usize = 12 + 128 + 9 + 128 + 10;
/// Bytes of a data-block `PUBLISH` other than the block itself: fixed header (5), topic
/// (2 + [`STREAM_TOPIC_MAX`]), packet id (2), properties (4 + 32) and the CBOR map around the
/// block (32), rounded up.
pub const BLOCK_MESSAGE_OVERHEAD: usize = 384;
/// Bytes of a Jobs `PUBLISH` other than the job document: fixed header, a jobs topic and the
/// envelope (`clientToken`, `timestamp`, `execution` fields, a modest `statusDetails`).
pub const JOB_MESSAGE_OVERHEAD: usize = 2048;
/// minimq's `CONNECT` workspace without a will or credentials (fixed header, protocol
/// header, three properties and a client id of up to 64 bytes), rounded up.
pub const CONNECT_WORKSPACE: usize = 128;
/// The agent's largest `PUBLISH`: fixed header (5), topic (2 + [`TOPIC_MAX`]), packet id (2),
/// properties length (4), payload ([`PAYLOAD_MAX`]).
pub const PUBLISH_PACKET_MAX: usize = 5 + 2 + TOPIC_MAX + 2 + 4 + PAYLOAD_MAX;
/// QoS 1 packets the agent may have unacknowledged at once.
pub const AGENT_INFLIGHT: usize = 4;

/// Smallest `rx` for blocks of `block_size` bytes and job documents of up to
/// `job_buffer_len` bytes (the agent's `Buffers::job` length).
pub const fn min_rx_len(block_size: u32, job_buffer_len: usize) -> usize {
    let block = block_size as usize + BLOCK_MESSAGE_OVERHEAD;
    let job = job_buffer_len + JOB_MESSAGE_OVERHEAD;
    if block > job { block } else { job }
}

/// Smallest `tx` for the agent, given the bytes of the will message and credentials configured
/// on the session (`extra`, 0 if none).
pub const fn min_tx_len(extra: usize) -> usize {
    CONNECT_WORKSPACE + extra + AGENT_INFLIGHT * PUBLISH_PACKET_MAX
}

/// A buffer that breaks the sizing rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SizingError {
    /// `rx` cannot hold one block message (or one job message): the broker would drop it.
    RxTooSmall {
        /// The `rx` length given.
        have: usize,
        /// The smallest that works ([`min_rx_len`]).
        need: usize,
    },
    /// `tx` cannot hold the agent's in-flight QoS 1 packets.
    TxTooSmall {
        /// The `tx` length given.
        have: usize,
        /// The smallest that works ([`min_tx_len`]).
        need: usize,
    },
}

impl core::fmt::Display for SizingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SizingError::RxTooSmall { have, need } => write!(
                f,
                "minimq rx buffer of {have} B cannot hold one block or job message \
                 (needs {need} B; the broker would drop larger packets silently)"
            ),
            SizingError::TxTooSmall { have, need } => write!(
                f,
                "minimq tx buffer of {have} B cannot hold the agent's in-flight QoS 1 packets \
                 (needs {need} B)"
            ),
        }
    }
}

impl core::error::Error for SizingError {}

/// Checks `rx_len`/`tx_len` against the rule for `block_size` and `job_buffer_len`.
pub const fn check(
    block_size: u32,
    job_buffer_len: usize,
    rx_len: usize,
    tx_len: usize,
) -> Result<(), SizingError> {
    let need = min_rx_len(block_size, job_buffer_len);
    if rx_len < need {
        return Err(SizingError::RxTooSmall { have: rx_len, need });
    }
    let need = min_tx_len(0);
    if tx_len < need {
        return Err(SizingError::TxTooSmall { have: tx_len, need });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_the_recommendation() {
        assert!(check(4096, 4096, 6 * 1024, 4 * 1024).is_ok());
        assert_eq!(min_rx_len(4096, 1024), 4096 + BLOCK_MESSAGE_OVERHEAD);
        assert_eq!(min_rx_len(256, 4096), 4096 + JOB_MESSAGE_OVERHEAD);
    }

    #[test]
    fn block_bigger_than_rx_is_refused() {
        assert_eq!(
            check(8192, 1024, 8192, 4096),
            Err(SizingError::RxTooSmall {
                have: 8192,
                need: 8192 + BLOCK_MESSAGE_OVERHEAD
            })
        );
    }

    #[test]
    fn small_tx_is_refused() {
        assert!(matches!(
            check(1024, 1024, 4096, 1000),
            Err(SizingError::TxTooSmall { have: 1000, .. })
        ));
    }

    #[test]
    fn overhead_bounds_the_worst_stream_message() {
        // fixed header + topic + packet id + properties + CBOR map around the block
        let worst = 5 + 2 + STREAM_TOPIC_MAX + 2 + (4 + 32) + 32;
        assert!(worst <= BLOCK_MESSAGE_OVERHEAD);
    }
}
