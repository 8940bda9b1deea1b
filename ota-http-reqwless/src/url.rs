//! Presigned-URL parsing without allocation: scheme, host, port and request target, all
//! borrowed from the URL.

use core::fmt;

/// The longest URL [`crate::HttpRunner`] accepts by default; presigned S3 URLs reach 1.5 KB.
pub const URL_CAPACITY: usize = 2048;
/// The longest host name (RFC 1035).
pub const HOST_MAX: usize = 253;
/// The longest origin (`https://` + host + `:` + port + `/`).
pub const ORIGIN_MAX: usize = 8 + HOST_MAX + 1 + 5 + 1;

/// The URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Scheme {
    /// `http://` (default port 80).
    Http,
    /// `https://` (default port 443); needs the `tls` feature.
    Https,
}

/// Why a URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UrlError {
    /// Not `http://` or `https://`.
    UnsupportedScheme,
    /// Empty or malformed host (only letters, digits, `-`, `.`; user info is refused).
    BadHost,
    /// Port not a number in 1..=65535.
    BadPort,
    /// A space, control or non-ASCII character where it would break the request line.
    BadCharacter,
    /// Longer than the URL buffer.
    TooLong,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::UnsupportedScheme => "url: scheme is not http or https",
            UrlError::BadHost => "url: empty or malformed host",
            UrlError::BadPort => "url: port is not 1-65535",
            UrlError::BadCharacter => "url: space, control or non-ASCII character",
            UrlError::TooLong => "url: longer than the URL buffer",
        })
    }
}

impl core::error::Error for UrlError {}

/// A parsed absolute `http(s)` URL, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Url<'a> {
    /// Scheme.
    pub scheme: Scheme,
    /// Host name or IPv4 address (no brackets, no port).
    pub host: &'a str,
    /// Port (the scheme's default when absent).
    pub port: u16,
    /// Request target: path and query, exactly as given (percent-encoding untouched), without
    /// the fragment; `""` when the URL has no path (sent as `/`).
    pub target: &'a str,
}

impl<'a> Url<'a> {
    /// Parses `url`.
    ///
    /// # Errors
    /// [`UrlError`] for anything that is not a plain absolute `http(s)` URL.
    pub fn parse(url: &'a str) -> Result<Self, UrlError> {
        if url.len() > URL_CAPACITY {
            return Err(UrlError::TooLong);
        }
        if url.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
            return Err(UrlError::BadCharacter);
        }
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(url, "https://") {
            (Scheme::Https, r)
        } else if let Some(r) = strip_prefix_ci(url, "http://") {
            (Scheme::Http, r)
        } else {
            return Err(UrlError::UnsupportedScheme);
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        let target = target.split('#').next().unwrap_or("");
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, parse_port(p)?),
            None => (
                authority,
                match scheme {
                    Scheme::Http => 80,
                    Scheme::Https => 443,
                },
            ),
        };
        let host_ok = !host.is_empty()
            && host.len() <= HOST_MAX
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !host.starts_with(['.', '-']);
        if !host_ok {
            return Err(UrlError::BadHost);
        }
        Ok(Self {
            scheme,
            host,
            port,
            target,
        })
    }

    /// Writes `scheme://host:port/` into `out` (at least [`ORIGIN_MAX`] bytes) and returns it.
    pub fn origin<'o>(&self, out: &'o mut [u8]) -> Option<&'o str> {
        let mut w = Cursor { buf: out, len: 0 };
        w.put(match self.scheme {
            Scheme::Http => "http://",
            Scheme::Https => "https://",
        })?;
        w.put(self.host)?;
        w.put(":")?;
        w.num(self.port as u32)?;
        w.put("/")?;
        let len = w.len;
        core::str::from_utf8(out.get(..len)?).ok()
    }

    /// Whether a connection to `self` can serve `other` (same scheme, host and port).
    pub fn same_origin(&self, other: &Url<'_>) -> bool {
        self.scheme == other.scheme
            && self.port == other.port
            && self.host.eq_ignore_ascii_case(other.host)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    match p.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(UrlError::BadPort),
    }
}

/// A tiny no-alloc text writer.
pub(crate) struct Cursor<'b> {
    pub(crate) buf: &'b mut [u8],
    pub(crate) len: usize,
}

impl Cursor<'_> {
    pub(crate) fn put(&mut self, s: &str) -> Option<()> {
        let end = self.len.checked_add(s.len())?;
        self.buf
            .get_mut(self.len..end)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Some(())
    }

    pub(crate) fn num(&mut self, mut n: u32) -> Option<()> {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(core::str::from_utf8(&digits[i..]).ok()?)
    }
}

/// `bytes=first-last` into `out` (at least 28 bytes).
pub(crate) fn range_value(first: u32, last: u32, out: &mut [u8]) -> Option<&str> {
    let mut w = Cursor { buf: out, len: 0 };
    w.put("bytes=")?;
    w.num(first)?;
    w.put("-")?;
    w.num(last)?;
    let len = w.len;
    core::str::from_utf8(out.get(..len)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn presigned_s3_url() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abc";
        let s = std::format!("https://bucket.s3.us-east-1.amazonaws.com/fw/img.bin?{q}#frag");
        let u = Url::parse(&s).unwrap();
        assert_eq!(u.scheme, Scheme::Https);
        assert_eq!(u.host, "bucket.s3.us-east-1.amazonaws.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.target, std::format!("/fw/img.bin?{q}"));
        let mut o = [0u8; ORIGIN_MAX];
        assert_eq!(
            u.origin(&mut o),
            Some("https://bucket.s3.us-east-1.amazonaws.com:443/")
        );
    }

    #[test]
    fn long_urls_up_to_the_capacity() {
        let pad = "a".repeat(URL_CAPACITY - "http://h/?".len());
        let s = std::format!("http://h/?{pad}");
        assert_eq!(s.len(), URL_CAPACITY);
        assert!(Url::parse(&s).is_ok());
        let s = std::format!("{s}b");
        assert_eq!(Url::parse(&s), Err(UrlError::TooLong));
    }

    #[test]
    fn ports_hosts_and_schemes() {
        let u = Url::parse("HTTP://127.0.0.1:8080?x=1").unwrap();
        assert_eq!(
            (u.scheme, u.host, u.port, u.target),
            (Scheme::Http, "127.0.0.1", 8080, "?x=1")
        );
        assert_eq!(Url::parse("http://h").unwrap().target, "");
        assert_eq!(Url::parse("ftp://h/x"), Err(UrlError::UnsupportedScheme));
        assert_eq!(Url::parse("http://:80/x"), Err(UrlError::BadHost));
        assert_eq!(Url::parse("http://u@h/x"), Err(UrlError::BadHost));
        assert_eq!(Url::parse("http://h:0/x"), Err(UrlError::BadPort));
        assert_eq!(Url::parse("http://h:65536/x"), Err(UrlError::BadPort));
        assert_eq!(Url::parse("http://h:/x"), Err(UrlError::BadPort));
        assert_eq!(Url::parse("http://h/a b"), Err(UrlError::BadCharacter));
        assert_eq!(
            Url::parse("http://h/a\r\nX: y"),
            Err(UrlError::BadCharacter)
        );
        assert_eq!(Url::parse("http://h/é"), Err(UrlError::BadCharacter));
        let a = Url::parse("http://H.example:80/a").unwrap();
        assert!(a.same_origin(&Url::parse("http://h.example/b?c").unwrap()));
        assert!(!a.same_origin(&Url::parse("https://h.example/a").unwrap()));
        assert!(!a.same_origin(&Url::parse("http://h.example:81/a").unwrap()));
    }

    #[test]
    fn range_values() {
        let mut b = [0u8; 28];
        assert_eq!(range_value(0, 4095, &mut b), Some("bytes=0-4095"));
        assert_eq!(
            range_value(u32::MAX, u32::MAX, &mut b),
            Some("bytes=4294967295-4294967295")
        );
        assert_eq!(range_value(1, 2, &mut [0u8; 8]), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = Url::parse(&s);
        }

        #[test]
        fn round_trips(host in "[a-z0-9][a-z0-9.-]{0,40}", port in 1u16.., path in "(/[A-Za-z0-9%._~=&?-]{0,60}){0,4}") {
            let s = std::format!("https://{host}:{port}{path}");
            let u = Url::parse(&s).unwrap();
            prop_assert_eq!(u.host, host.as_str());
            prop_assert_eq!(u.port, port);
            prop_assert_eq!(u.target, path.as_str());
            let mut o = [0u8; ORIGIN_MAX];
            let origin = std::format!("https://{host}:{port}/");
            prop_assert_eq!(u.origin(&mut o), Some(origin.as_str()));
        }
    }
}
