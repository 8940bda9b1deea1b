//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use ciborium::Value as Cbor;
use ota_cloud::Outgoing;
use serde_json::Value;

/// `shared/research/vectors` beside the repository.
pub fn vectors_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/research/vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found: looked for {} (the team's shared/research/vectors, \
         expected beside the repository)",
        dir.display()
    );
    dir
}

pub fn read_vector(name: &str) -> String {
    let path = vectors_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn cbor(pairs: Vec<(&str, Cbor)>) -> Vec<u8> {
    let map = Cbor::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Cbor::Text(k.to_owned()), v))
            .collect(),
    );
    let mut out = Vec::new();
    ciborium::ser::into_writer(&map, &mut out).expect("encode");
    out
}

pub fn int(i: u64) -> Cbor {
    Cbor::Integer(i.into())
}

pub fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_owned())
}

pub fn decode_cbor(bytes: &[u8]) -> Vec<(String, Cbor)> {
    let value: Cbor = ciborium::de::from_reader(bytes).expect("valid CBOR from the cloud");
    let Cbor::Map(entries) = value else {
        panic!("not a map: {value:?}")
    };
    entries
        .into_iter()
        .map(|(k, v)| match k {
            Cbor::Text(k) => (k, v),
            other => panic!("non-text key {other:?}"),
        })
        .collect()
}

pub fn get<'a>(map: &'a [(String, Cbor)], key: &str) -> &'a Cbor {
    &map.iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no key {key} in {map:?}"))
        .1
}

pub fn get_u64(map: &[(String, Cbor)], key: &str) -> u64 {
    match get(map, key) {
        Cbor::Integer(i) => u64::try_from(*i).expect("u64"),
        other => panic!("{key} is not an integer: {other:?}"),
    }
}

pub fn get_text<'a>(map: &'a [(String, Cbor)], key: &str) -> &'a str {
    match get(map, key) {
        Cbor::Text(t) => t,
        other => panic!("{key} is not text: {other:?}"),
    }
}

pub fn get_bytes<'a>(map: &'a [(String, Cbor)], key: &str) -> &'a [u8] {
    match get(map, key) {
        Cbor::Bytes(b) => b,
        other => panic!("{key} is not bytes: {other:?}"),
    }
}

pub fn json(out: &Outgoing) -> Value {
    serde_json::from_slice(&out.payload).unwrap_or_else(|e| {
        panic!(
            "not JSON on {}: {e}: {}",
            out.topic,
            String::from_utf8_lossy(&out.payload)
        )
    })
}

pub fn text_of(out: &Outgoing) -> String {
    String::from_utf8(out.payload.clone()).expect("UTF-8")
}
