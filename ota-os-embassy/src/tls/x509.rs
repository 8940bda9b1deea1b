//! The slice of X.509 (RFC 5280) the verifier needs, read straight from DER without copying:
//! the signed part, the names, the validity, the public key, `basicConstraints` and the
//! subject alternative names. Every length is checked against its container; anything this
//! reader does not understand is an error, never a panic.

use super::CertError;

/// `ecdsa-with-SHA256` (1.2.840.10045.4.3.2).
const ECDSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
/// `id-ecPublicKey` (1.2.840.10045.2.1).
const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// `prime256v1` / secp256r1 (1.2.840.10045.3.1.7).
const PRIME256V1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// `id-at-commonName` (2.5.4.3).
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// `id-ce-subjectAltName` (2.5.29.17).
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];
/// `id-ce-basicConstraints` (2.5.29.19).
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT` (version).
const CTX0: u8 = 0xA0;
/// `[3] EXPLICIT` (extensions).
const CTX3: u8 = 0xA3;
/// `dNSName [2] IA5String` in a `GeneralName`.
const DNS_NAME: u8 = 0x82;
/// `iPAddress [7] OCTET STRING` in a `GeneralName`.
const IP_ADDRESS: u8 = 0x87;

/// One DER element.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    /// The contents.
    value: &'a [u8],
    /// Tag, length and contents.
    whole: &'a [u8],
}

/// A cursor over DER elements.
#[derive(Clone, Copy)]
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next element, whatever its tag.
    fn any(&mut self) -> Result<Tlv<'a>, CertError> {
        let input = self.0;
        let (&tag, rest) = input.split_first().ok_or(CertError::Malformed)?;
        // High tag numbers (0x1F) never occur in the fields read here.
        if tag & 0x1F == 0x1F {
            return Err(CertError::Malformed);
        }
        let (&first, mut rest) = rest.split_first().ok_or(CertError::Malformed)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            // DER: long form only for 128 and more, at most 3 length bytes (16 MiB) here.
            if n == 0 || n > 3 || rest.len() < n {
                return Err(CertError::Malformed);
            }
            let (bytes, after) = rest.split_at(n);
            rest = after;
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 || bytes.first() == Some(&0) {
                return Err(CertError::Malformed);
            }
            len
        };
        if rest.len() < len {
            return Err(CertError::Malformed);
        }
        let header = input.len() - rest.len();
        let (value, after) = rest.split_at(len);
        self.0 = after;
        Ok(Tlv {
            tag,
            value,
            whole: &input[..header + len],
        })
    }

    /// The next element, which must carry `tag`.
    fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, CertError> {
        let tlv = self.any()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(CertError::Malformed)
        }
    }

    /// The next element if it carries `tag`.
    fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, CertError> {
        match self.0.first() {
            Some(&t) if t == tag => self.any().map(Some),
            _ => Ok(None),
        }
    }
}

/// A BIT STRING's bits, which must be whole bytes.
fn bits(tlv: Tlv<'_>) -> Result<&[u8], CertError> {
    match tlv.value.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(CertError::Malformed),
    }
}

/// An `AlgorithmIdentifier`: its OID and its parameters (empty when absent).
fn algorithm<'a>(tlv: Tlv<'a>) -> Result<(&'a [u8], &'a [u8]), CertError> {
    let mut seq = Der(tlv.value);
    let oid = seq.expect(OID)?.value;
    Ok((oid, seq.0))
}

/// A parsed certificate, borrowing its DER.
#[derive(Clone, Copy)]
pub(crate) struct Cert<'a> {
    /// `tbsCertificate`, whole: what the issuer signed.
    tbs: &'a [u8],
    /// `signatureAlgorithm`'s OID.
    sig_alg: &'a [u8],
    /// `signatureValue`'s bits (a DER ECDSA signature for the algorithms accepted).
    signature: &'a [u8],
    /// `issuer`, whole.
    pub(crate) issuer: &'a [u8],
    /// `subject`, whole.
    pub(crate) subject: &'a [u8],
    not_before: Tlv<'a>,
    not_after: Tlv<'a>,
    /// The SEC1 point of a P-256 key; `None` for any other key type.
    key: Option<&'a [u8]>,
    /// The contents of the extensions' SEQUENCE (empty without extensions).
    extensions: &'a [u8],
}

impl<'a> Cert<'a> {
    /// Reads a certificate.
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self, CertError> {
        let mut outer = Der(der);
        let cert = outer.expect(SEQUENCE)?;
        if !outer.is_empty() {
            return Err(CertError::Malformed);
        }
        let mut body = Der(cert.value);
        let tbs = body.expect(SEQUENCE)?;
        let (sig_alg, _) = algorithm(body.expect(SEQUENCE)?)?;
        let signature = bits(body.expect(BIT_STRING)?)?;
        if !body.is_empty() {
            return Err(CertError::Malformed);
        }

        let mut t = Der(tbs.value);
        t.optional(CTX0)?;
        t.expect(INTEGER)?;
        t.expect(SEQUENCE)?; // signature (repeated outside, that copy is the one used)
        let issuer = t.expect(SEQUENCE)?.whole;
        let mut validity = Der(t.expect(SEQUENCE)?.value);
        let not_before = validity.any()?;
        let not_after = validity.any()?;
        let subject = t.expect(SEQUENCE)?.whole;
        let mut spki = Der(t.expect(SEQUENCE)?.value);
        let (key_alg, params) = algorithm(spki.expect(SEQUENCE)?)?;
        let point = bits(spki.expect(BIT_STRING)?)?;
        let key = (key_alg == EC_PUBLIC_KEY && Der(params).expect(OID)?.value == PRIME256V1)
            .then_some(point);
        let mut extensions: &[u8] = &[];
        while !t.is_empty() {
            let field = t.any()?;
            // issuerUniqueID [1] and subjectUniqueID [2] are skipped.
            if field.tag == CTX3 {
                extensions = Der(field.value).expect(SEQUENCE)?.value;
            }
        }
        Ok(Self {
            tbs: tbs.whole,
            sig_alg,
            signature,
            issuer,
            subject,
            not_before,
            not_after,
            key,
            extensions,
        })
    }

    /// The value of extension `oid`, if present.
    fn extension(&self, oid: &[u8]) -> Result<Option<&'a [u8]>, CertError> {
        let mut exts = Der(self.extensions);
        while !exts.is_empty() {
            let mut ext = Der(exts.expect(SEQUENCE)?.value);
            let id = ext.expect(OID)?.value;
            ext.optional(BOOLEAN)?;
            let value = ext.expect(OCTET_STRING)?.value;
            if id == oid {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// Whether `basicConstraints` says this is a CA.
    pub(crate) fn is_ca(&self) -> Result<bool, CertError> {
        let Some(value) = self.extension(BASIC_CONSTRAINTS)? else {
            return Ok(false);
        };
        let mut bc = Der(Der(value).expect(SEQUENCE)?.value);
        Ok(bc.optional(BOOLEAN)?.is_some_and(|b| b.value == [0xFF]))
    }

    /// Checks `now` (Unix seconds) against the validity period.
    pub(crate) fn check_validity(&self, now: u64) -> Result<(), CertError> {
        if now < unix_time(self.not_before)? {
            return Err(CertError::NotYetValid);
        }
        if now > unix_time(self.not_after)? {
            return Err(CertError::Expired);
        }
        Ok(())
    }

    /// Checks that `issuer_key` (this certificate's issuer's) signed it.
    pub(crate) fn check_signed_by(&self, issuer: &Cert<'_>) -> Result<(), CertError> {
        use p256::ecdsa::signature::Verifier;
        use p256::ecdsa::{DerSignature, VerifyingKey};
        if self.sig_alg != ECDSA_SHA256 {
            return Err(CertError::UnsupportedAlgorithm);
        }
        let point = issuer.key.ok_or(CertError::UnsupportedAlgorithm)?;
        let key = VerifyingKey::from_sec1_bytes(point).map_err(|_| CertError::Malformed)?;
        let sig = DerSignature::from_bytes(self.signature).map_err(|_| CertError::Malformed)?;
        key.verify(self.tbs, &sig)
            .map_err(|_| CertError::BadSignature)
    }

    /// The P-256 public key (SEC1 point), if the key is one.
    pub(crate) fn p256_key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// Checks the server's name against the subject alternative names (DNS names, IPv4
    /// addresses), or, when the certificate has no SAN extension, the last common name.
    pub(crate) fn check_host(&self, host: &str) -> Result<(), CertError> {
        let ipv4 = parse_ipv4(host);
        if let Some(san) = self.extension(SUBJECT_ALT_NAME)? {
            let mut names = Der(Der(san).expect(SEQUENCE)?.value);
            while !names.is_empty() {
                let name = names.any()?;
                let found = match (name.tag, ipv4) {
                    (DNS_NAME, None) => host_matches(name.value, host.as_bytes()),
                    (IP_ADDRESS, Some(ip)) => name.value == ip,
                    _ => false,
                };
                if found {
                    return Ok(());
                }
            }
            return Err(CertError::HostnameMismatch);
        }
        let mut cn: Option<&[u8]> = None;
        let mut rdns = Der(Der(self.subject).expect(SEQUENCE)?.value);
        while !rdns.is_empty() {
            let mut set = Der(rdns.expect(SET)?.value);
            while !set.is_empty() {
                let mut atv = Der(set.expect(SEQUENCE)?.value);
                if atv.expect(OID)?.value == COMMON_NAME {
                    cn = Some(atv.any()?.value);
                }
            }
        }
        match cn {
            Some(cn) if ipv4.is_none() && host_matches(cn, host.as_bytes()) => Ok(()),
            _ => Err(CertError::HostnameMismatch),
        }
    }
}

pub(crate) fn parse_ipv4(host: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = host.split('.');
    for b in &mut out {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *b = p.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Whether a certificate name `pattern` covers `host`. RFC 6125 §6.4: case-insensitive, a wildcard only as the whole leftmost label of a name of
/// three labels or more, matching exactly one label.
pub fn host_matches(pattern: &[u8], host: &[u8]) -> bool {
    let ldh = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.';
    if host.is_empty() || !host.iter().all(ldh) {
        return false;
    }
    let Some(suffix) = pattern.strip_prefix(b"*.") else {
        return pattern.iter().all(ldh) && pattern.eq_ignore_ascii_case(host);
    };
    if !suffix.iter().all(ldh) || suffix.iter().filter(|&&b| b == b'.').count() < 1 {
        return false;
    }
    let Some(dot) = host.iter().position(|&b| b == b'.') else {
        return false;
    };
    dot > 0 && host[dot + 1..].eq_ignore_ascii_case(suffix)
}

/// A `Time` (UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`) in Unix seconds.
fn unix_time(t: Tlv<'_>) -> Result<u64, CertError> {
    let (year, rest) = match (t.tag, t.value.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&t.value[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &t.value[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&t.value[..4])?, &t.value[4..]),
        _ => return Err(CertError::Malformed),
    };
    if rest.last() != Some(&b'Z') {
        return Err(CertError::Malformed);
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let (h, m, s) = (
        digits(&rest[4..6])?,
        digits(&rest[6..8])?,
        digits(&rest[8..10])?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return Err(CertError::Malformed);
    }
    if year < 1970 {
        return Ok(0);
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + h * 3_600 + m * 60 + s)
}

fn digits(b: &[u8]) -> Result<u64, CertError> {
    b.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u64::from(c - b'0'))
        } else {
            Err(CertError::Malformed)
        }
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (year ≥ 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 30), 20_787);
    }

    #[test]
    fn times() {
        let utc = Tlv {
            tag: UTC_TIME,
            value: b"261130120000Z",
            whole: &[],
        };
        assert_eq!(unix_time(utc), Ok(1_796_040_000));
        let generalized = Tlv {
            tag: GENERALIZED_TIME,
            value: b"20491231235959Z",
            whole: &[],
        };
        assert_eq!(unix_time(generalized), Ok(2_524_607_999));
        for bad in [
            &b"2611301200Z"[..],
            b"26113012000aZ",
            b"261330120000Z",
            b"2611301200000",
        ] {
            let t = Tlv {
                tag: UTC_TIME,
                value: bad,
                whole: &[],
            };
            assert_eq!(unix_time(t), Err(CertError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn wildcards_follow_rfc6125() {
        let yes: &[(&str, &str)] = &[
            (
                "*.iot.eu-west-1.amazonaws.com",
                "a1b2c3-ats.iot.eu-west-1.amazonaws.com",
            ),
            ("broker.example.com", "BROKER.example.COM"),
            ("*.example.com", "x.EXAMPLE.com"),
        ];
        let no: &[(&str, &str)] = &[
            ("*.example.com", "a.b.example.com"),
            ("*.example.com", "example.com"),
            ("*.com", "example.com"),
            ("a*.example.com", "ab.example.com"),
            ("*.*.example.com", "a.b.example.com"),
            ("example.com", "example.org"),
            ("example.com", "example.com."),
            ("*.example.com", ".example.com"),
            ("exa mple.com", "exa mple.com"),
        ];
        for (p, h) in yes {
            assert!(host_matches(p.as_bytes(), h.as_bytes()), "{p} ~ {h}");
        }
        for (p, h) in no {
            assert!(!host_matches(p.as_bytes(), h.as_bytes()), "{p} !~ {h}");
        }
    }

    #[test]
    fn ipv4_hosts() {
        assert_eq!(parse_ipv4("192.168.1.20"), Some([192, 168, 1, 20]));
        for bad in [
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "a.b.c.d",
            "1..2.3",
            "01234.1.1.1",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{bad}");
        }
    }

    #[test]
    fn lengths_are_checked() {
        // Long form for a short length, length past the end, 4 length bytes, high tag.
        for bad in [
            &[0x30, 0x81, 0x05, 1, 2, 3, 4, 5][..],
            &[0x30, 0x05, 1, 2],
            &[0x30, 0x84, 0, 0, 0, 1, 0],
            &[0x1F, 0x01, 0x00],
            &[0x30],
            &[],
        ] {
            assert!(Der(bad).any().is_err(), "{bad:?}");
        }
        let mut ok = Der(&[0x04, 0x02, 0xAA, 0xBB, 0x05, 0x00]);
        let t = ok.any().unwrap();
        assert_eq!(
            (t.tag, t.value, t.whole.len()),
            (0x04, &[0xAA, 0xBB][..], 4)
        );
        assert_eq!(ok.any().unwrap().tag, 0x05);
        assert!(ok.is_empty());
    }
}
