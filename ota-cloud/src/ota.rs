//! OTA job documents as AWS `CreateOTAUpdate` writes them (`{"afr_ota": {...}}`).

use serde_json::{Map, Value};

use crate::signing::SigningKey;

/// The start of the Jobs placeholder that AWS replaces with a fresh presigned S3 URL each time it
/// sends the job document: `${aws:iot:s3-presigned-url:<url or key>}`.
pub const PRESIGNED_URL_PREFIX: &str = "${aws:iot:s3-presigned-url:";

/// The name AWS gives the signature key of a file signed with ECDSA P-256 / SHA-256.
pub const SIGNATURE_KEY_ECDSA: &str = "sig-sha256-ecdsa";

/// The placeholder for object `key`: `${aws:iot:s3-presigned-url:<key>}`.
///
/// Put it in any string of a job document (this crate's [`OtaFile::http_key`] does it for
/// `update_data_url`); the [`Cloud`](crate::Cloud) replaces it with a URL presigned at send time.
/// AWS writes a full URL there (`https://s3.<region>.amazonaws.com/<bucket>/<key>`); a URL is
/// accepted too, and its path names the object.
pub fn presigned_url_placeholder(key: &str) -> String {
    format!("{PRESIGNED_URL_PREFIX}{key}}}")
}

/// The object key named by a placeholder string, or `None` if `s` is not exactly a placeholder.
pub fn placeholder_key(s: &str) -> Option<&str> {
    let inner = s.strip_prefix(PRESIGNED_URL_PREFIX)?.strip_suffix('}')?;
    for scheme in ["http://", "https://"] {
        if let Some(rest) = inner.strip_prefix(scheme) {
            let path = rest.find('/').and_then(|i| rest.get(i + 1..))?;
            return (!path.is_empty()).then_some(path);
        }
    }
    (!inner.is_empty()).then_some(inner)
}

/// The job id `CreateOTAUpdate` gives an update: `AFR_OTA-<update id>`.
pub fn ota_job_id(update_id: &str) -> String {
    format!("AFR_OTA-{update_id}")
}

/// A data-plane protocol in `afr_ota.protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// `"MQTT"`: blocks through MQTT-based file delivery (the stream named by `streamname`).
    Mqtt,
    /// `"HTTP"`: ranges through the file's `update_data_url`.
    Http,
}

impl Protocol {
    /// `"MQTT"` or `"HTTP"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mqtt => "MQTT",
            Self::Http => "HTTP",
        }
    }
}

/// Where a file's `update_data_url` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateDataUrl {
    /// A presigned-URL placeholder for this object key: every delivery of the job document carries
    /// a freshly presigned URL.
    Presigned {
        /// The object key, as given to [`Cloud::put_object`](crate::Cloud::put_object).
        key: String,
    },
    /// A literal URL, sent as is (e.g. an already expired one, for tests).
    Literal(String),
}

/// One entry of `afr_ota.files`.
#[derive(Debug, Clone, PartialEq)]
pub struct OtaFile {
    /// `fileid`: the stream file id (the CBOR `f`).
    pub file_id: u32,
    /// `filesize`: bytes.
    pub file_size: u64,
    /// `filepath`: where the device stores the file.
    pub file_path: Option<String>,
    /// `certfile`: the signer certificate's name or path on the device.
    pub cert_file: Option<String>,
    /// `update_data_url` (HTTP data plane).
    pub update_data_url: Option<UpdateDataUrl>,
    /// `auth_scheme`; when `None` and a URL is set, `"aws.s3.presigned"` is written.
    pub auth_scheme: Option<String>,
    /// The base64 DER signature.
    pub signature: Option<String>,
    /// The key the signature is written under (default [`SIGNATURE_KEY_ECDSA`]).
    pub signature_key: String,
    /// `fileType` (0–255 in the AWS API).
    pub file_type: Option<u32>,
    /// Further keys written into this file object as they are (for custom or malformed documents).
    pub extra: Map<String, Value>,
}

impl OtaFile {
    /// A file with only `fileid` and `filesize`.
    pub fn new(file_id: u32, file_size: u64) -> Self {
        Self {
            file_id,
            file_size,
            file_path: None,
            cert_file: None,
            update_data_url: None,
            auth_scheme: None,
            signature: None,
            signature_key: SIGNATURE_KEY_ECDSA.to_owned(),
            file_type: None,
            extra: Map::new(),
        }
    }

    /// A file for `image`: its size, and its signature by `key` (as AWS Signer would compute it).
    pub fn signed(file_id: u32, image: &[u8], key: &SigningKey) -> Self {
        Self::new(file_id, image.len() as u64).signature(key.sign(image))
    }

    /// Sets `filepath`.
    pub fn file_path(mut self, path: impl Into<String>) -> Self {
        self.file_path = Some(path.into());
        self
    }

    /// Sets `certfile`.
    pub fn cert_file(mut self, cert: impl Into<String>) -> Self {
        self.cert_file = Some(cert.into());
        self
    }

    /// Serves the file over HTTP from object `key`: `update_data_url` becomes a presigned-URL
    /// placeholder that the Jobs side replaces with a fresh URL at every delivery.
    pub fn http_key(mut self, key: impl Into<String>) -> Self {
        self.update_data_url = Some(UpdateDataUrl::Presigned { key: key.into() });
        self
    }

    /// Sets a literal `update_data_url`, sent unchanged.
    pub fn update_data_url(mut self, url: impl Into<String>) -> Self {
        self.update_data_url = Some(UpdateDataUrl::Literal(url.into()));
        self
    }

    /// Sets `auth_scheme` (default `"aws.s3.presigned"` when a URL is present).
    pub fn auth_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.auth_scheme = Some(scheme.into());
        self
    }

    /// Sets the base64 DER signature.
    pub fn signature(mut self, signature_b64: impl Into<String>) -> Self {
        self.signature = Some(signature_b64.into());
        self
    }

    /// Writes the signature under another key (e.g. `sig-sha1-rsa`).
    pub fn signature_key(mut self, key: impl Into<String>) -> Self {
        self.signature_key = key.into();
        self
    }

    /// Sets `fileType`.
    pub fn file_type(mut self, file_type: u32) -> Self {
        self.file_type = Some(file_type);
        self
    }

    /// Adds or overrides a key of the file object.
    pub fn extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// The JSON object of this file.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(p) = &self.file_path {
            m.insert("filepath".into(), Value::from(p.as_str()));
        }
        m.insert("filesize".into(), Value::from(self.file_size));
        m.insert("fileid".into(), Value::from(self.file_id));
        if let Some(c) = &self.cert_file {
            m.insert("certfile".into(), Value::from(c.as_str()));
        }
        if let Some(url) = &self.update_data_url {
            let text = match url {
                UpdateDataUrl::Presigned { key } => presigned_url_placeholder(key),
                UpdateDataUrl::Literal(u) => u.clone(),
            };
            m.insert("update_data_url".into(), Value::from(text));
            let scheme = self.auth_scheme.as_deref().unwrap_or("aws.s3.presigned");
            m.insert("auth_scheme".into(), Value::from(scheme));
        } else if let Some(scheme) = &self.auth_scheme {
            m.insert("auth_scheme".into(), Value::from(scheme.as_str()));
        }
        if let Some(sig) = &self.signature {
            m.insert(self.signature_key.clone(), Value::from(sig.as_str()));
        }
        if let Some(t) = self.file_type {
            m.insert("fileType".into(), Value::from(t));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// Builds the `{"afr_ota": {...}}` job document that `CreateOTAUpdate` writes.
///
/// ```
/// use ota_cloud::{OtaFile, OtaJobBuilder, Protocol};
/// let doc = OtaJobBuilder::new()
///     .protocols(&[Protocol::Mqtt, Protocol::Http])
///     .stream_name("AFR_OTA-1234")
///     .file(OtaFile::new(0, 4096).file_path("/fw").http_key("fw.bin"))
///     .build();
/// assert_eq!(doc["afr_ota"]["protocols"][1], "HTTP");
/// assert_eq!(doc["afr_ota"]["files"][0]["auth_scheme"], "aws.s3.presigned");
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OtaJobBuilder {
    protocols: Vec<Protocol>,
    stream_name: Option<String>,
    files: Vec<OtaFile>,
    extra: Map<String, Value>,
}

impl OtaJobBuilder {
    /// An empty document with `protocols: ["MQTT"]`.
    pub fn new() -> Self {
        Self {
            protocols: vec![Protocol::Mqtt],
            ..Self::default()
        }
    }

    /// Sets `protocols` (order kept: the device prefers the first it supports).
    pub fn protocols(mut self, protocols: &[Protocol]) -> Self {
        self.protocols = protocols.to_vec();
        self
    }

    /// Sets `streamname`.
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.stream_name = Some(name.into());
        self
    }

    /// Appends a file.
    pub fn file(mut self, file: OtaFile) -> Self {
        self.files.push(file);
        self
    }

    /// Adds or overrides a key of the `afr_ota` object.
    pub fn extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// The job document.
    pub fn build(&self) -> Value {
        let mut afr = Map::new();
        afr.insert(
            "protocols".into(),
            Value::Array(
                self.protocols
                    .iter()
                    .map(|p| Value::from(p.as_str()))
                    .collect(),
            ),
        );
        if let Some(s) = &self.stream_name {
            afr.insert("streamname".into(), Value::from(s.as_str()));
        }
        afr.insert(
            "files".into(),
            Value::Array(self.files.iter().map(OtaFile::to_json).collect()),
        );
        for (k, v) in &self.extra {
            afr.insert(k.clone(), v.clone());
        }
        let mut root = Map::new();
        root.insert("afr_ota".into(), Value::Object(afr));
        Value::Object(root)
    }
}

/// Replaces every presigned-URL placeholder string in `doc` with `presign(key)`.
pub(crate) fn substitute_placeholders(
    doc: &Value,
    presign: &mut dyn FnMut(&str) -> String,
) -> Value {
    match doc {
        Value::String(s) => match placeholder_key(s) {
            Some(key) => Value::String(presign(key)),
            None => doc.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute_placeholders(v, presign))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute_placeholders(v, presign)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            placeholder_key("${aws:iot:s3-presigned-url:fw.bin}"),
            Some("fw.bin")
        );
        assert_eq!(
            placeholder_key(
                "${aws:iot:s3-presigned-url:https://s3.us-east-1.amazonaws.com/b/k.bin}"
            ),
            Some("b/k.bin")
        );
        assert_eq!(placeholder_key("${aws:iot:s3-presigned-url:}"), None);
        assert_eq!(
            placeholder_key("${aws:iot:s3-presigned-url:https://host}"),
            None
        );
        assert_eq!(placeholder_key("x${aws:iot:s3-presigned-url:k}"), None);
        assert_eq!(
            presigned_url_placeholder("a/b"),
            "${aws:iot:s3-presigned-url:a/b}"
        );
    }

    #[test]
    fn document_shape() {
        let doc = OtaJobBuilder::new()
            .stream_name("s1")
            .file(
                OtaFile::new(3, 100)
                    .file_path("/a")
                    .cert_file("c")
                    .signature("MEQ=")
                    .file_type(2),
            )
            .file(OtaFile::new(4, 5).update_data_url("http://x/y?a=1&b=2"))
            .build();
        let expected = serde_json::json!({"afr_ota": {
        "protocols": ["MQTT"], "streamname": "s1",
        "files": [
            {"filepath": "/a", "filesize": 100, "fileid": 3, "certfile": "c",
             "sig-sha256-ecdsa": "MEQ=", "fileType": 2},
            {"filesize": 5, "fileid": 4, "update_data_url": "http://x/y?a=1&b=2",
             "auth_scheme": "aws.s3.presigned"}
        ]}});
        assert_eq!(doc, expected);
    }

    #[test]
    fn substitution_walks_the_document() {
        let doc = OtaJobBuilder::new()
            .file(OtaFile::new(0, 1).http_key("k1"))
            .file(OtaFile::new(1, 1).http_key("k2"))
            .build();
        let mut seen = Vec::new();
        let out = substitute_placeholders(&doc, &mut |k| {
            seen.push(k.to_owned());
            format!("url-for-{k}")
        });
        assert_eq!(seen, ["k1", "k2"]);
        assert_eq!(out["afr_ota"]["files"][1]["update_data_url"], "url-for-k2");
    }
}
