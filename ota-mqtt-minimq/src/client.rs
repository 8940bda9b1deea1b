//! The thin client seam: the three MQTT operations the agent asks for, and their failures
//! reduced to what the adapter acts on.

use minimq::{Connection, Io, Publication, SubscriptionOptions, TopicFilter};
use ota_core::QoS;

/// What went wrong in one MQTT operation, reduced to what the adapter needs to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClientError {
    /// The connection is gone (transport error, EOF, keep-alive timeout, broker `DISCONNECT`):
    /// drop the handle and reconnect.
    Disconnected,
    /// Local in-flight slots or `tx` space are used up for now; progress on the connection
    /// (receiving acknowledgements) frees them.
    Busy,
    /// The packet does not fit the buffers or the broker's maximum packet size.
    TooLarge,
    /// The broker refused the operation, or sent something invalid.
    Rejected,
    /// The request itself is invalid (empty topic, QoS above the broker's maximum).
    Invalid,
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ClientError::Disconnected => "MQTT connection lost",
            ClientError::Busy => "MQTT in-flight capacity exhausted for now",
            ClientError::TooLarge => "MQTT packet larger than the buffers or the broker allows",
            ClientError::Rejected => "MQTT operation rejected by the broker",
            ClientError::Invalid => "invalid MQTT request",
        })
    }
}

impl core::error::Error for ClientError {}

/// The MQTT operations the adapter needs; implemented for minimq's [`Connection`].
///
/// This is the seam tests mock. `Op` identifies an acknowledged operation (QoS 1 publish,
/// subscribe, unsubscribe) so that its completion can be checked (minimq's [`minimq::Op`]).
///
/// The futures are not required to be `Send`: the adapter runs in the task that owns the
/// connection (an embassy task, or a tokio task / `LocalSet`).
#[allow(async_fn_in_trait)]
#[cfg_attr(test, mockall::automock(type Op = u16;))]
pub trait MqttClient {
    /// Handle of an operation the broker acknowledges.
    type Op: Copy;
    /// Subscribes to `filter` with maximum QoS `qos`.
    async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<Self::Op, ClientError>;
    /// Unsubscribes from `filter`.
    async fn unsubscribe(&mut self, filter: &str) -> Result<Self::Op, ClientError>;
    /// Publishes `payload` on `topic`; QoS 0 gives `None`, QoS 1 the operation to confirm.
    async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
    ) -> Result<Option<Self::Op>, ClientError>;
}

/// The minimq QoS for a core QoS.
pub fn minimq_qos(qos: QoS) -> minimq::QoS {
    match qos {
        QoS::AtMostOnce => minimq::QoS::AtMostOnce,
        _ => minimq::QoS::AtLeastOnce,
    }
}

/// Maps a minimq error; `live` is whether the connection survived it.
pub fn map_error<E>(e: &minimq::Error<E>, live: bool) -> ClientError {
    if !live {
        return ClientError::Disconnected;
    }
    match e {
        minimq::Error::Disconnected | minimq::Error::Transport(_) | minimq::Error::WriteZero => {
            ClientError::Disconnected
        }
        minimq::Error::NotReady => ClientError::Busy,
        minimq::Error::Resource(minimq::ResourceError::InflightExhausted) => ClientError::Busy,
        minimq::Error::Resource(_) => ClientError::TooLarge,
        minimq::Error::Peer(_) => ClientError::Rejected,
        _ => ClientError::Invalid,
    }
}

impl<IO: Io> MqttClient for Connection<'_, '_, IO> {
    type Op = minimq::Op;

    async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<Self::Op, ClientError> {
        let opts = SubscriptionOptions::default().maximum_qos(minimq_qos(qos));
        let r = Connection::subscribe(self, &[TopicFilter::new(filter).options(opts)], &[]).await;
        r.map_err(|e| map_error(&e, self.is_connected()))
    }

    async fn unsubscribe(&mut self, filter: &str) -> Result<Self::Op, ClientError> {
        let r = Connection::unsubscribe(self, &[filter], &[]).await;
        r.map_err(|e| map_error(&e, self.is_connected()))
    }

    async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
    ) -> Result<Option<Self::Op>, ClientError> {
        let publication = Publication::bytes(topic, payload).qos(minimq_qos(qos));
        match Connection::publish(self, publication).await {
            Ok(op) => Ok(op),
            Err(minimq::PubError::Session(e)) => Err(map_error(&e, self.is_connected())),
            Err(minimq::PubError::Payload(_)) => Err(ClientError::TooLarge),
        }
    }
}
