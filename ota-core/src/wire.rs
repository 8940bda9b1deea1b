//! A tiny bounded byte writer (no `core::fmt`, which costs kilobytes of flash).

pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            overflow: false,
        }
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        match self.buf.get_mut(self.len..self.len + b.len()) {
            Some(dst) if !self.overflow => {
                dst.copy_from_slice(b);
                self.len += b.len();
            }
            _ => self.overflow = true,
        }
        self
    }
    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }
    pub(crate) fn u32(&mut self, mut v: u32) -> &mut Self {
        let mut tmp = [0u8; 10];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let (_, digits) = tmp.split_at(i);
        self.bytes(digits)
    }
    /// `0x` and 8 lowercase hex digits.
    pub(crate) fn hex32(&mut self, v: u32) -> &mut Self {
        let mut tmp = *b"0x00000000";
        for (k, slot) in tmp[2..].iter_mut().enumerate() {
            let nib = (v >> (28 - 4 * k)) & 0xf;
            *slot = b"0123456789abcdef"[nib as usize];
        }
        self.bytes(&tmp)
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    /// The written length, or `None` if anything did not fit.
    pub(crate) fn finish(&self) -> Option<usize> {
        (!self.overflow).then_some(self.len)
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib), bitwise: small code, fast enough for records.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_numbers() {
        let mut b = [0u8; 40];
        let mut w = Writer::new(&mut b);
        w.u32(0)
            .str(" ")
            .u32(4294967295)
            .str(" ")
            .hex32(0x0100_0002);
        let n = w.finish().unwrap();
        assert_eq!(&b[..n], b"0 4294967295 0x01000002");
    }

    #[test]
    fn writer_overflow() {
        let mut b = [0u8; 3];
        let mut w = Writer::new(&mut b);
        w.str("abcd");
        assert_eq!(w.finish(), None);
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
