//! The broker connection, plain TCP or mutual TLS, chosen at boot from the device's identity
//! (the same file in both boards).
//!
//! One firmware image serves every device: whether it speaks TLS is not a build option but
//! what the identity area provisioned into the device says. [`MaybeTls`] is the `Connect`
//! the agent task is built with; the variant is picked once at boot.

use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use ota_os_embassy::net::Connect;

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
