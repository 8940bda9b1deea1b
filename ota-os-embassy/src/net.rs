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

/// One of two connectors, picked at run time: plain TCP to a LAN broker or mutual TLS to AWS
/// IoT Core, as the device's provisioned [`identity`](crate::identity) says — so one firmware
/// image serves every device. (Any two [`Connect`]s work; the names say what it is for.)
pub use either::{Error as MaybeTlsError, MaybeTls, Stream as MaybeTlsStream};

mod either {
    use super::Connect;
    use embedded_io_async::{ErrorKind, ErrorType, Read, Write};

    /// A connector that is one of two, picked at run time.
    pub enum MaybeTls<P, T> {
        /// Plain MQTT over TCP: a LAN broker (no identity, or one without TLS credentials).
        Plain(P),
        /// MQTT over mutual TLS: AWS IoT Core.
        Tls(T),
    }

    /// The byte stream of a [`MaybeTls`] connection.
    pub enum Stream<P, T> {
        /// Of [`MaybeTls::Plain`].
        Plain(P),
        /// Of [`MaybeTls::Tls`].
        Tls(T),
    }

    /// Why a [`MaybeTls`] connect, or an I/O operation on its [`Stream`], failed.
    #[derive(Debug)]
    pub enum Error<P, T> {
        /// The plain connector's (or stream's) error.
        Plain(P),
        /// The TLS connector's (or stream's) error.
        Tls(T),
    }

    impl<P: core::fmt::Display, T: core::fmt::Display> core::fmt::Display for Error<P, T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                Error::Plain(e) => e.fmt(f),
                Error::Tls(e) => e.fmt(f),
            }
        }
    }

    impl<P: core::error::Error, T: core::error::Error> core::error::Error for Error<P, T> {}

    impl<P: embedded_io_async::Error, T: embedded_io_async::Error> embedded_io_async::Error
        for Error<P, T>
    {
        fn kind(&self) -> ErrorKind {
            match self {
                Error::Plain(e) => e.kind(),
                Error::Tls(e) => e.kind(),
            }
        }
    }

    impl<P: Connect, T: Connect> Connect for MaybeTls<P, T> {
        type Io<'c>
            = Stream<P::Io<'c>, T::Io<'c>>
        where
            Self: 'c;
        type Error = Error<P::Error, T::Error>;

        async fn connect(&mut self) -> Result<Self::Io<'_>, Self::Error> {
            match self {
                MaybeTls::Plain(c) => c.connect().await.map(Stream::Plain).map_err(Error::Plain),
                MaybeTls::Tls(c) => c.connect().await.map(Stream::Tls).map_err(Error::Tls),
            }
        }
    }

    impl<P: ErrorType, T: ErrorType> ErrorType for Stream<P, T> {
        type Error = Error<P::Error, T::Error>;
    }

    impl<P: Read, T: Read> Read for Stream<P, T> {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            match self {
                Stream::Plain(s) => s.read(buf).await.map_err(Error::Plain),
                Stream::Tls(s) => s.read(buf).await.map_err(Error::Tls),
            }
        }
    }

    impl<P: Write, T: Write> Write for Stream<P, T> {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            match self {
                Stream::Plain(s) => s.write(buf).await.map_err(Error::Plain),
                Stream::Tls(s) => s.write(buf).await.map_err(Error::Tls),
            }
        }

        async fn flush(&mut self) -> Result<(), Self::Error> {
            match self {
                Stream::Plain(s) => s.flush().await.map_err(Error::Plain),
                Stream::Tls(s) => s.flush().await.map_err(Error::Tls),
            }
        }
    }
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
