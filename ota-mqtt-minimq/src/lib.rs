#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod client;
pub mod sizing;

pub use client::{ClientError, MqttClient, map_error, minimq_qos};
pub use minimq;
pub use sizing::SizingError;

use minimq::{Connection, InboundPublish, Io};
use ota_core::{Action, Config, Input};

/// Where a received message belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Route {
    /// An OTA topic of this thing (`$aws/things/<thing>/jobs/...` or `.../streams/...`): feed it
    /// to the agent as [`Input::Message`].
    Ota,
    /// Any other topic: the application's.
    App,
}

/// A message received by [`OtaMqtt::recv`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Received<'m> {
    /// An OTA message: feed the input to the agent, then drain `agent.poll()`.
    Ota(Input<'m>),
    /// A message on another topic, with all its MQTT 5 properties: the application's.
    App(InboundPublish<'m>),
}

/// What [`OtaMqtt::execute`] did with an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Executed<Op> {
    /// Sent at QoS 0 (nothing to confirm).
    Sent,
    /// Accepted at QoS 1 (or a subscription change): minimq keeps the packet in `tx`, replays it
    /// after a resumed reconnect, and completes `Op` when the broker acknowledges it
    /// (`Connection::is_complete`).
    Pending(Op),
    /// Not an MQTT action (HTTP, flash, platform, notification): execute it elsewhere.
    NotMqtt,
}

/// The OTA side of an MQTT session that belongs to the application.
///
/// It never owns the connection: the application (or the runtime crate) keeps minimq's
/// [`minimq::Session`] and [`Connection`], calls [`OtaMqtt::execute`] for each agent action,
/// and routes received messages with [`OtaMqtt::route`] / [`OtaMqtt::recv`]. The agent is not
/// owned either: every method returns the [`Input`] to feed it.
#[derive(Debug, Clone)]
pub struct OtaMqtt<'a> {
    thing_name: &'a str,
    link_up: bool,
    lost: bool,
}

impl<'a> OtaMqtt<'a> {
    /// Checks the minimq buffers against the [sizing rule](sizing) for the agent's `config`
    /// and a job-document buffer of `job_buffer_len` bytes.
    ///
    /// # Errors
    /// [`SizingError`] when `rx_len` cannot hold one block (or job) message, or `tx_len` the
    /// agent's in-flight packets. Use `Session::max_rx_packet_size()` /
    /// `max_tx_packet_size()`, or [`OtaMqtt::for_session`].
    pub fn new(
        config: &Config<'a>,
        job_buffer_len: usize,
        rx_len: usize,
        tx_len: usize,
    ) -> Result<Self, SizingError> {
        sizing::check(config.block_size, job_buffer_len, rx_len, tx_len)?;
        Ok(Self {
            thing_name: config.thing_name,
            link_up: true,
            lost: false,
        })
    }

    /// [`OtaMqtt::new`] with the buffer sizes of `session`.
    ///
    /// # Errors
    /// See [`OtaMqtt::new`].
    pub fn for_session(
        config: &Config<'a>,
        job_buffer_len: usize,
        session: &minimq::Session<'_>,
    ) -> Result<Self, SizingError> {
        Self::new(
            config,
            job_buffer_len,
            session.max_rx_packet_size(),
            session.max_tx_packet_size(),
        )
    }

    /// The thing name whose OTA topics are routed to the agent.
    pub fn thing_name(&self) -> &'a str {
        self.thing_name
    }

    /// Where a message on `topic` belongs.
    pub fn route(&self, topic: &str) -> Route {
        let ours = topic
            .strip_prefix("$aws/things/")
            .and_then(|r| r.strip_prefix(self.thing_name))
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|r| r.starts_with("jobs/") || r.starts_with("streams/"));
        if ours { Route::Ota } else { Route::App }
    }

    /// Whether the adapter believes the link is up.
    pub fn is_link_up(&self) -> bool {
        self.link_up
    }

    /// Call after every successful `Session::connect`. After a reported loss it gives
    /// `Input::Link(true)`: feed it to the agent, which re-subscribes and resumes. The first
    /// connection gives `None` (the agent subscribes on `Input::Start`).
    pub fn connected(&mut self) -> Option<Input<'static>> {
        self.link_up = true;
        if core::mem::take(&mut self.lost) {
            Some(Input::Link(true))
        } else {
            None
        }
    }

    /// Call when the connection is gone (an operation failed with
    /// [`ClientError::Disconnected`], or the application drops the connection). Gives
    /// `Input::Link(false)` once per loss: feed it to the agent, which suspends its requests.
    pub fn disconnected(&mut self) -> Option<Input<'static>> {
        if self.link_up {
            self.link_up = false;
            self.lost = true;
            Some(Input::Link(false))
        } else {
            None
        }
    }

    /// Executes one agent action if it is an MQTT one, at the QoS the agent asked for.
    ///
    /// Non-MQTT actions give [`Executed::NotMqtt`] untouched. A failed action is not retried
    /// here: the agent's timers retry its requests. On [`ClientError::Disconnected`] call
    /// [`OtaMqtt::disconnected`] and reconnect.
    ///
    /// # Errors
    /// The client's [`ClientError`].
    pub async fn execute<C: MqttClient>(
        &mut self,
        client: &mut C,
        action: &Action<'_>,
    ) -> Result<Executed<C::Op>, ClientError> {
        match *action {
            Action::Subscribe { topic, qos } => {
                client.subscribe(topic, qos).await.map(Executed::Pending)
            }
            Action::Unsubscribe { topic } => client.unsubscribe(topic).await.map(Executed::Pending),
            Action::Publish {
                topic,
                payload,
                qos,
            } => client
                .publish(topic, payload, qos)
                .await
                .map(|op| match op {
                    Some(op) => Executed::Pending(op),
                    None => Executed::Sent,
                }),
            _ => Ok(Executed::NotMqtt),
        }
    }

    /// Routes one message already received by the application.
    pub fn message<'m>(&self, topic: &'m str, payload: &'m [u8]) -> Option<Input<'m>> {
        match self.route(topic) {
            Route::Ota => Some(Input::Message { topic, payload }),
            Route::App => None,
        }
    }

    /// Waits for the next message on `conn` and routes it. Cancel-safe when the transport's
    /// read is (minimq's `recv` is); wrap it in a timeout for the agent's `poll_timeout()`.
    ///
    /// # Errors
    /// [`ClientError::Disconnected`] when the connection is gone (minimq marks the handle dead
    /// on every receive error): call [`OtaMqtt::disconnected`] and reconnect.
    pub async fn recv<'c, IO: Io>(
        &self,
        conn: &'c mut Connection<'_, '_, IO>,
    ) -> Result<Received<'c>, ClientError> {
        match conn.recv().await {
            Ok(msg) => Ok(match self.route(msg.topic()) {
                Route::Ota => Received::Ota(Input::Message {
                    topic: msg.topic(),
                    payload: msg.payload(),
                }),
                Route::App => Received::App(msg),
            }),
            // minimq marks the handle dead on every receive error.
            Err(_) => Err(ClientError::Disconnected),
        }
    }
}

#[cfg(test)]
mod tests;
