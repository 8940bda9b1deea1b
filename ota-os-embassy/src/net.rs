//! The MQTT transport: anything that opens a fresh byte stream to the broker.
//!
//! [`Connect`] is what [`crate::OtaTask`] calls to (re)connect; `TcpConnector` (feature
//! `embassy-net`) implements it over an embassy-net TCP socket, with the socket buffers
//! owned by the connector, so a reconnect allocates nothing. TLS (AWS IoT Core's port 8883
//! needs mutual TLS) wraps the socket in a `Connect` of its own.

/// Opens a connection to the broker; the stream lives until the next call.
#[allow(async_fn_in_trait)]
pub trait Connect {
    /// The byte stream (embedded-io-async), borrowing the connector (its buffers).
    type Io<'c>: embedded_io_async::Read + embedded_io_async::Write
    where
        Self: 'c;
    /// Why a connection could not be opened.
    type Error: core::fmt::Debug;

    /// Opens a new connection; the previous stream (if any) has been dropped.
    async fn connect(&mut self) -> Result<Self::Io<'_>, Self::Error>;
}

#[cfg(feature = "embassy-net")]
pub use tcp::{Broker, ConnectError, TcpConnector};

#[cfg(feature = "embassy-net")]
mod tcp {
    use super::Connect;
    use embassy_net::dns::DnsQueryType;
    use embassy_net::tcp::TcpSocket;
    use embassy_net::{IpAddress, IpEndpoint, Stack};
    use embassy_time::Duration;

    /// Where the broker is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Broker<'a> {
        /// A host name (resolved with the stack's DNS at every connect) and port.
        Host(&'a str, u16),
        /// An address and port.
        Addr(IpEndpoint),
    }

    /// Why [`TcpConnector::connect`] failed.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    #[non_exhaustive]
    pub enum ConnectError {
        /// The network interface has no address yet (link down, DHCP pending).
        NoNetwork,
        /// The host name did not resolve.
        Dns,
        /// The TCP connection was refused or timed out.
        Tcp,
    }

    impl core::fmt::Display for ConnectError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                ConnectError::NoNetwork => "network not configured",
                ConnectError::Dns => "broker host name did not resolve",
                ConnectError::Tcp => "TCP connection to the broker failed",
            })
        }
    }

    impl core::error::Error for ConnectError {}

    /// A TCP connection to the broker over an embassy-net stack, with its socket buffers.
    ///
    /// Size `rx` for at least one MQTT block message (the block size plus ~400 bytes, see
    /// `ota_mqtt_minimq::sizing`); a window of several blocks lets a GetStream burst land
    /// without a stall.
    pub struct TcpConnector<'a> {
        stack: Stack<'a>,
        broker: Broker<'a>,
        rx: &'a mut [u8],
        tx: &'a mut [u8],
        timeout: Duration,
    }

    impl<'a> TcpConnector<'a> {
        /// A connector to `broker` over `stack`, with socket buffers `rx` and `tx`.
        pub fn new(
            stack: Stack<'a>,
            broker: Broker<'a>,
            rx: &'a mut [u8],
            tx: &'a mut [u8],
        ) -> Self {
            Self {
                stack,
                broker,
                rx,
                tx,
                timeout: Duration::from_secs(30),
            }
        }

        /// The socket's inactivity timeout (30 s by default; keep it above the MQTT keep-alive).
        pub fn with_timeout(mut self, timeout: Duration) -> Self {
            self.timeout = timeout;
            self
        }

        async fn endpoint(&self) -> Result<IpEndpoint, ConnectError> {
            match self.broker {
                Broker::Addr(ep) => Ok(ep),
                Broker::Host(host, port) => {
                    let addrs: heapless::Vec<IpAddress, 4> = self
                        .stack
                        .dns_query(host, DnsQueryType::A)
                        .await
                        .map_err(|_| ConnectError::Dns)?
                        .into_iter()
                        .take(4)
                        .collect();
                    let addr = addrs.first().copied().ok_or(ConnectError::Dns)?;
                    Ok(IpEndpoint::new(addr, port))
                }
            }
        }
    }

    impl Connect for TcpConnector<'_> {
        type Io<'c>
            = TcpSocket<'c>
        where
            Self: 'c;
        type Error = ConnectError;

        async fn connect(&mut self) -> Result<TcpSocket<'_>, ConnectError> {
            if !self.stack.is_config_up() {
                return Err(ConnectError::NoNetwork);
            }
            let ep = self.endpoint().await?;
            let mut socket = TcpSocket::new(self.stack, self.rx, self.tx);
            socket.set_timeout(Some(self.timeout));
            // Stream requests are answered by bursts of blocks; status updates are small and
            // latency-bound: no Nagle.
            socket.set_nagle_enabled(false);
            socket.connect(ep).await.map_err(|_| ConnectError::Tcp)?;
            Ok(socket)
        }
    }
}
