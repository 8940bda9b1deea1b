//! A tiny JSON object writer that keeps the key order AWS uses, plus the escaping switch.

use serde_json::Value;

/// How the Jobs side escapes characters in the JSON it publishes.
///
/// AWS IoT Jobs serialises job documents with an HTML-safe JSON writer, so a presigned URL arrives
/// with its `&` written as `\u0026`. Devices must unescape `\uXXXX` in strings; this switch lets
/// tests check both shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum JsonEscaping {
    /// Plain JSON: only what RFC 8259 requires is escaped.
    None,
    /// `&` is written as `\u0026` (the default, as AWS does in presigned URLs).
    #[default]
    Ampersand,
    /// HTML-safe: `&`, `<`, `>`, `=` and `'` are written as `\u0026`, `\u003c`, `\u003e`,
    /// `\u003d` and `\u0027`.
    HtmlSafe,
}

impl JsonEscaping {
    /// Applies the escaping to serialised JSON text.
    ///
    /// This is sound on any JSON text: the escaped characters can only occur inside strings.
    pub fn apply(self, json: &str) -> String {
        let mut out = String::with_capacity(json.len() + 16);
        for c in json.chars() {
            let escaped = match (self, c) {
                (Self::None, _) => None,
                (_, '&') => Some("\\u0026"),
                (Self::HtmlSafe, '<') => Some("\\u003c"),
                (Self::HtmlSafe, '>') => Some("\\u003e"),
                (Self::HtmlSafe, '=') => Some("\\u003d"),
                (Self::HtmlSafe, '\'') => Some("\\u0027"),
                _ => None,
            };
            match escaped {
                Some(e) => out.push_str(e),
                None => out.push(c),
            }
        }
        out
    }
}

/// Writes a JSON object with keys in insertion order.
pub(crate) struct ObjWriter {
    buf: String,
    first: bool,
}

impl ObjWriter {
    pub(crate) fn new() -> Self {
        Self {
            buf: String::from("{"),
            first: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        self.buf.push_str(&quote(key));
        self.buf.push(':');
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.buf.push_str(&quote(value));
        self
    }

    pub(crate) fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.str(key, v);
        }
        self
    }

    pub(crate) fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        self.buf.push_str(&value.to_string());
        self
    }

    pub(crate) fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.buf.push_str(json);
        self
    }

    pub(crate) fn value(&mut self, key: &str, value: &Value) -> &mut Self {
        self.key(key);
        self.buf.push_str(&value.to_string());
        self
    }

    pub(crate) fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// A JSON string literal for `s`.
pub(crate) fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_modes() {
        let text = r#"{"u":"http://h/k?a=1&b=<2>'"}"#;
        assert_eq!(JsonEscaping::None.apply(text), text);
        assert_eq!(
            JsonEscaping::Ampersand.apply(text),
            r#"{"u":"http://h/k?a=1\u0026b=<2>'"}"#
        );
        assert_eq!(
            JsonEscaping::HtmlSafe.apply(text),
            r#"{"u":"http://h/k?a\u003d1\u0026b\u003d\u003c2\u003e\u0027"}"#
        );
        for mode in [
            JsonEscaping::None,
            JsonEscaping::Ampersand,
            JsonEscaping::HtmlSafe,
        ] {
            let back: Value = serde_json::from_str(&mode.apply(text)).expect("valid JSON");
            assert_eq!(back["u"], "http://h/k?a=1&b=<2>'");
        }
    }

    #[test]
    fn writer_keeps_order() {
        let mut w = ObjWriter::new();
        w.str("b", "x\"y")
            .u64("a", 7)
            .opt_str("c", None)
            .raw("d", "[1]");
        assert_eq!(w.finish(), r#"{"b":"x\"y","a":7,"d":[1]}"#);
    }
}
