//! MQTT-based file delivery: the public GetStream vectors, the 128 KB cap, errors, JSON, describe.

mod common;

use ciborium::Value as Cbor;
use common::{
    cbor, decode_cbor, get_bytes, get_text, get_u64, hex, int, json, read_vector, text, unhex,
};
use ota_cloud::{Cloud, CloudConfig, Handled, Outgoing, StreamErrorCode, StreamFormat, topics};
use proptest::prelude::*;

/// (request hex, file id, block size, expected (index, l) blocks)
type VectorCase = (&'static str, u64, usize, Vec<(u64, u64)>);

const FILE0_LEN: usize = 181_584;
const FILE1_LEN: usize = 40 * 4096;

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add((i >> 8) as u8) ^ salt)
        .collect()
}

fn cloud() -> Cloud {
    let mut c = Cloud::new(CloudConfig::default());
    c.create_stream(
        "AFR_OTA-s1",
        vec![(0, pattern(FILE0_LEN, 0)), (1, pattern(FILE1_LEN, 0x5a))],
    )
    .unwrap();
    c
}

fn get(c: &mut Cloud, request: &[u8]) -> Vec<Outgoing> {
    let topic = topics::stream_get("dev1", "AFR_OTA-s1", StreamFormat::Cbor);
    assert_eq!(c.handle_publish(10, &topic, request), Handled::Stream);
    c.drain()
}

/// Checks every message is a data block of `file`, and returns (index, l) per block.
fn blocks(out: &[Outgoing], file_id: u64, file: &[u8], block_size: usize) -> Vec<(u64, u64)> {
    out.iter()
        .map(|o| {
            assert_eq!(o.topic, "$aws/things/dev1/streams/AFR_OTA-s1/data/cbor");
            let m = decode_cbor(&o.payload);
            let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["f", "i", "l", "p"]);
            assert_eq!(get_u64(&m, "f"), file_id);
            let i = get_u64(&m, "i");
            let l = get_u64(&m, "l");
            let p = get_bytes(&m, "p");
            let start = i as usize * block_size;
            let end = (start + block_size).min(file.len());
            assert_eq!(p, &file[start..end], "payload of block {i}");
            assert_eq!(l as usize, p.len());
            (i, l)
        })
        .collect()
}

fn rejected(out: &[Outgoing]) -> (String, Option<String>) {
    assert_eq!(out.len(), 1, "one error message: {out:?}");
    assert_eq!(
        out[0].topic,
        "$aws/things/dev1/streams/AFR_OTA-s1/rejected/cbor"
    );
    let m = decode_cbor(&out[0].payload);
    assert!(!get_text(&m, "m").is_empty());
    let token = m.iter().find(|(k, _)| k == "c").map(|(_, v)| match v {
        Cbor::Text(t) => t.clone(),
        other => panic!("c: {other:?}"),
    });
    (get_text(&m, "o").to_owned(), token)
}

/// The GetStream requests in cbor-mqtt-stream-vectors.txt, in file order.
fn vector_requests() -> Vec<String> {
    let text = read_vector("cbor-mqtt-stream-vectors.txt");
    let mut found = Vec::new();
    for line in text.lines() {
        // Either a line of hex, or "label: <hex> <comment>".
        let after_label = line.split_once(": ").map_or(line, |(_, rest)| rest);
        let candidate = after_label.split_whitespace().next().unwrap_or("");
        if candidate.len() < 20 || !candidate.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let bytes = unhex(candidate);
        let Ok(Cbor::Map(entries)) = ciborium::de::from_reader::<Cbor, _>(bytes.as_slice()) else {
            continue;
        };
        if entries.iter().any(|(k, _)| *k == Cbor::Text("l".into()))
            && !entries.iter().any(|(k, _)| *k == Cbor::Text("p".into()))
        {
            found.push(candidate.to_owned());
        }
    }
    found
}

#[test]
fn public_vector_requests_get_the_right_blocks() {
    let f0 = pattern(FILE0_LEN, 0);
    let f1 = pattern(FILE1_LEN, 0x5a);
    // (request, file id, block size, expected (index, l) list)
    let full = |n: u64, l: u64| (0..n).map(|i| (i, l)).collect::<Vec<_>>();
    let expected: Vec<VectorCase> = vec![
        // C agent unit test: bitmap 0xAA x4 (blocks 1,3,5,...) capped by n = 4.
        (
            "a661637254686973497341436c69656e74546f6b656e616601616c191000616f00616244aaaaaaaa616e04",
            1,
            4096,
            vec![(1, 4096), (3, 4096), (5, 4096), (7, 4096)],
        ),
        // rustot: first 31 blocks of 2048.
        (
            "a5616363726479616600616c190800616f00616244ffffff7f",
            0,
            2048,
            full(31, 2048),
        ),
        // rustot: last block 88 of 89 (181584 - 88*2048 = 1360 bytes).
        (
            "a5616363726479616600616c190800616f185861624401000000",
            0,
            2048,
            vec![(88, 1360)],
        ),
        // rustot: first 31 blocks of 512.
        (
            "a5616363726479616600616c190200616f00616244ffffff7f",
            0,
            512,
            full(31, 512),
        ),
        // rustot: blocks 352..354 of 355 (last one 181584 - 354*512 = 336 bytes).
        (
            "a5616363726479616600616c190200616f19016061624407000000",
            0,
            512,
            vec![(352, 512), (353, 512), (354, 336)],
        ),
        // Developer guide: o = 20, bitmap 13 00 80 -> blocks 20, 21, 24, 43.
        (
            "a761636131617301616c190100616601616f14616e1820616243130080",
            1,
            256,
            vec![(20, 256), (21, 256), (24, 256), (43, 256)],
        ),
    ];
    let in_file = vector_requests();
    assert_eq!(
        in_file,
        expected.iter().map(|e| e.0.to_owned()).collect::<Vec<_>>(),
        "the vector file's GetStream requests"
    );
    let mut c = cloud();
    for (request, file_id, block_size, want) in &expected {
        let out = get(&mut c, &unhex(request));
        let file = if *file_id == 0 { &f0 } else { &f1 };
        assert_eq!(
            &blocks(&out, *file_id, file, *block_size),
            want,
            "request {request}"
        );
    }
    let stats = c.stream_stats();
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.rejected, 0);
    assert_eq!(stats.blocks_sent, 4 + 31 + 1 + 31 + 3 + 4);
    let log = c.stream_log();
    assert_eq!(log.len(), 6);
    assert_eq!(log[0].client_token.as_deref(), Some("ThisIsAClientToken"));
    assert_eq!(log[0].blocks, [1, 3, 5, 7]);
    assert_eq!(log[5].block_size, Some(256));
    assert_eq!(log[5].file_id, Some(1));
}

#[test]
fn captured_indefinite_map_response_is_reproduced() {
    // cbor-mqtt-stream-vectors.txt §3: {_ "f":0, "i":0, "l":1024, "p": h'8d3e1cf650c102000002' + 1014 zeros}
    let config = CloudConfig {
        indefinite_length_blocks: true,
        ..CloudConfig::default()
    };
    let mut c = Cloud::new(config);
    let mut file = unhex("8d3e1cf650c102000002");
    file.resize(1024, 0);
    c.create_stream("AFR_OTA-s1", vec![(0, file.clone())])
        .unwrap();
    let out = get(
        &mut c,
        &cbor(vec![("f", int(0)), ("l", int(1024)), ("n", int(1))]),
    );
    assert_eq!(out.len(), 1);
    let mut expected = unhex("bf616600616900616c1904006170590400");
    expected.extend(&file);
    expected.push(0xff);
    assert_eq!(hex(&out[0].payload), hex(&expected));
}

#[test]
fn the_128_kb_cap_and_offsets() {
    let f0 = pattern(FILE0_LEN, 0);
    let mut c = cloud();
    // n beyond the cap: 131072 / 4096 = 32 blocks.
    let out = get(
        &mut c,
        &cbor(vec![
            ("f", int(0)),
            ("l", int(4096)),
            ("o", int(0)),
            ("n", int(100)),
        ]),
    );
    assert_eq!(blocks(&out, 0, &f0, 4096).len(), 32);
    // Neither n nor b: as many as fit in 128 KB.
    let out = get(&mut c, &cbor(vec![("f", int(0)), ("l", int(1024))]));
    let got = blocks(&out, 0, &f0, 1024);
    assert_eq!(got.len(), 128);
    assert_eq!(got.first(), Some(&(0, 1024)));
    // All-ones bitmap of 40 bytes at 1 KB: capped at 128 blocks.
    let out = get(
        &mut c,
        &cbor(vec![
            ("f", int(0)),
            ("l", int(1024)),
            ("b", Cbor::Bytes(vec![0xff; 40])),
        ]),
    );
    let got = blocks(&out, 0, &f0, 1024);
    assert_eq!(got.len(), 128);
    assert_eq!(got.last(), Some(&(127, 1024)));
    // 128 KB blocks: one per request.
    let out = get(
        &mut c,
        &cbor(vec![("f", int(0)), ("l", int(131_072)), ("n", int(5))]),
    );
    assert_eq!(blocks(&out, 0, &f0, 131_072), [(0, 131_072)]);
    let out = get(
        &mut c,
        &cbor(vec![("f", int(0)), ("l", int(131_072)), ("o", int(1))]),
    );
    assert_eq!(
        blocks(&out, 0, &f0, 131_072),
        [(1, (FILE0_LEN - 131_072) as u64)]
    );
    // Offset + count near the end of the file: nothing past the end.
    let out = get(
        &mut c,
        &cbor(vec![
            ("f", int(0)),
            ("l", int(4096)),
            ("o", int(43)),
            ("n", int(10)),
        ]),
    );
    let got = blocks(&out, 0, &f0, 4096);
    assert_eq!(got.iter().map(|b| b.0).collect::<Vec<_>>(), [43, 44]);
    assert_eq!(got[1].1, (FILE0_LEN - 44 * 4096) as u64);
    // Bitmap bits past the end of the file are ignored.
    let out = get(
        &mut c,
        &cbor(vec![
            ("f", int(0)),
            ("l", int(4096)),
            ("o", int(40)),
            ("b", Cbor::Bytes(vec![0xff, 0xff])),
        ]),
    );
    assert_eq!(
        blocks(&out, 0, &f0, 4096)
            .iter()
            .map(|b| b.0)
            .collect::<Vec<_>>(),
        [40, 41, 42, 43, 44]
    );
    // n = 0 reads as not given.
    let out = get(
        &mut c,
        &cbor(vec![("f", int(0)), ("l", int(65_536)), ("n", int(0))]),
    );
    assert_eq!(out.len(), 2);
    // An empty bitmap asks for nothing.
    let out = get(
        &mut c,
        &cbor(vec![
            ("f", int(0)),
            ("l", int(4096)),
            ("b", Cbor::Bytes(vec![0; 4])),
        ]),
    );
    assert!(out.is_empty());
    assert!(c.stream_stats().bytes_sent > 0);
}

#[test]
fn indefinite_maps_and_any_key_order_are_accepted() {
    let f1 = pattern(FILE1_LEN, 0x5a);
    let mut c = cloud();
    // {_ "n": 2, "o": 3, "l": 256, "f": 1 }
    let mut req = vec![0xbf];
    for (k, v) in [("n", int(2)), ("o", int(3)), ("l", int(256)), ("f", int(1))] {
        ciborium::ser::into_writer(&text(k), &mut req).unwrap();
        ciborium::ser::into_writer(&v, &mut req).unwrap();
    }
    req.push(0xff);
    let out = get(&mut c, &req);
    assert_eq!(blocks(&out, 1, &f1, 256), [(3, 256), (4, 256)]);
}

#[test]
fn errors_carry_their_codes() {
    let mut c = cloud();
    let ok = |extra: Vec<(&'static str, Cbor)>| {
        let mut v = vec![
            ("c", text("tok")),
            ("f", int(0)),
            ("l", int(1024)),
            ("n", int(1)),
        ];
        for (k, val) in extra {
            v.retain(|(kk, _)| *kk != k);
            v.push((k, val));
        }
        cbor(v)
    };
    let cases: Vec<(Vec<u8>, &str, Option<&str>)> = vec![
        (
            ok(vec![("l", int(255))]),
            "BlockSizeOutOfBounds",
            Some("tok"),
        ),
        (
            ok(vec![("l", int(131_073))]),
            "BlockSizeOutOfBounds",
            Some("tok"),
        ),
        (
            ok(vec![("l", Cbor::Integer((-1).into()))]),
            "BlockSizeOutOfBounds",
            Some("tok"),
        ),
        (ok(vec![("f", int(9))]), "ResourceNotFound", Some("tok")),
        (
            ok(vec![("f", int(1 << 40))]),
            "ResourceNotFound",
            Some("tok"),
        ),
        (
            ok(vec![("o", int(98_305))]),
            "OffsetOutOfBounds",
            Some("tok"),
        ),
        (ok(vec![("o", int(178))]), "OffsetOutOfBounds", Some("tok")),
        (
            ok(vec![("n", int(98_305))]),
            "BlockCountLimitExceeded",
            Some("tok"),
        ),
        (
            ok(vec![("b", Cbor::Bytes(vec![1; 12_288]))]),
            "BlockBitmapLimitExceeded",
            Some("tok"),
        ),
        (ok(vec![("b", text("MQ=="))]), "InvalidRequest", Some("tok")),
        (ok(vec![("l", text("1024"))]), "InvalidRequest", Some("tok")),
        (ok(vec![("s", int(2))]), "VersionMismatch", Some("tok")),
        (
            ok(vec![("c", text(&"x".repeat(65)))]),
            "InvalidRequest",
            None,
        ),
        (ok(vec![("c", int(5))]), "InvalidRequest", None),
        (
            cbor(vec![("c", text("t")), ("l", int(1024))]),
            "InvalidRequest",
            Some("t"),
        ),
        (cbor(vec![("f", int(0))]), "InvalidRequest", None),
        (vec![0x81, 0x01], "InvalidRequest", None),
        (vec![0xa1, 0x61], "InvalidCbor", None),
        (vec![0xff], "InvalidCbor", None),
        (vec![], "InvalidCbor", None),
        (
            [cbor(vec![("f", int(0)), ("l", int(1024))]), vec![0]].concat(),
            "InvalidCbor",
            None,
        ),
        // A byte string claiming 2^64-1 bytes must fail without allocating it.
        (
            vec![
                0xa1, 0x61, 0x62, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
            "InvalidCbor",
            None,
        ),
    ];
    for (request, code, token) in cases {
        let out = get(&mut c, &request);
        let (got, got_token) = rejected(&out);
        assert_eq!(got, code, "request {}", hex(&request));
        assert_eq!(got_token.as_deref(), token, "request {}", hex(&request));
    }
    // Exactly 64 bytes of token is fine; version 1 matches.
    let out = get(
        &mut c,
        &ok(vec![("c", text(&"x".repeat(64))), ("s", int(1))]),
    );
    assert_eq!(out.len(), 1);
    assert!(out[0].topic.ends_with("/data/cbor"));

    // Unknown stream.
    let topic = topics::stream_get("dev1", "nope", StreamFormat::Cbor);
    c.handle_publish(0, &topic, &ok(vec![]));
    let out = c.drain();
    assert_eq!(out[0].topic, "$aws/things/dev1/streams/nope/rejected/cbor");
    assert_eq!(
        get_text(&decode_cbor(&out[0].payload), "o"),
        "ResourceNotFound"
    );

    // Injected faults.
    c.inject_stream_errors(StreamErrorCode::InternalError, 2);
    for _ in 0..2 {
        assert_eq!(rejected(&get(&mut c, &ok(vec![]))).0, "InternalError");
    }
    assert_eq!(get(&mut c, &ok(vec![])).len(), 1);
    let log = c.take_stream_log();
    assert!(
        log.iter()
            .any(|r| r.error == Some(StreamErrorCode::InternalError))
    );
    assert!(c.stream_log().is_empty());
}

#[test]
fn invalid_stream_topics() {
    let mut c = cloud();
    assert_eq!(
        c.handle_publish(0, "$aws/things/dev1/streams/AFR_OTA-s1/get/xml", b"{}"),
        Handled::Stream
    );
    let out = c.drain();
    assert_eq!(
        out[0].topic,
        "$aws/things/dev1/streams/AFR_OTA-s1/get/xml/rejected"
    );
    assert_eq!(json(&out[0])["o"], "InvalidTopic");
    for own in [
        "$aws/things/dev1/streams/AFR_OTA-s1/data/cbor",
        "$aws/things/dev1/streams/AFR_OTA-s1/rejected/json",
        "$aws/things/dev1/streams/AFR_OTA-s1/description/cbor",
        "$aws/things/dev1/streams/x/get/xml/rejected",
    ] {
        assert_eq!(c.handle_publish(0, own, b"{}"), Handled::Ignored, "{own}");
    }
    assert!(c.poll().is_none());
}

#[test]
fn json_requests_and_blocks() {
    let f1 = pattern(FILE1_LEN, 0x5a);
    let mut c = cloud();
    let topic = topics::stream_get("dev1", "AFR_OTA-s1", StreamFormat::Json);
    // The file-streams library's request shape.
    c.handle_publish(0, &topic, br#"{"s": 1,"f": 1,"l": 256,"o": 2,"n": 2}"#);
    let out = c.drain();
    assert_eq!(out.len(), 2);
    for (k, o) in out.iter().enumerate() {
        assert_eq!(o.topic, "$aws/things/dev1/streams/AFR_OTA-s1/data/json");
        let v = json(o);
        let i = 2 + k;
        assert_eq!(v["f"], 1);
        assert_eq!(v["i"], i);
        assert_eq!(v["l"], 256);
        use base64::Engine as _;
        let p = base64::engine::general_purpose::STANDARD
            .decode(v["p"].as_str().unwrap())
            .unwrap();
        assert_eq!(p, &f1[i * 256..(i + 1) * 256]);
    }
    // Bitmap as "0x" hex (developer guide) and as base64.
    c.handle_publish(
        0,
        &topic,
        br#"{"c":"1","s":1,"l":256,"f":1,"o":20,"n":32,"b":"0x130080"}"#,
    );
    let ids: Vec<_> = c
        .drain()
        .iter()
        .map(|o| json(o)["i"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [20, 21, 24, 43]);
    c.handle_publish(0, &topic, br#"{"l":256,"f":1,"o":20,"b":"EwCA"}"#);
    assert_eq!(c.drain().len(), 4);
    // Errors in JSON.
    c.handle_publish(0, &topic, br#"{"c":"z","l":100,"f":1}"#);
    let out = c.drain();
    assert_eq!(
        out[0].topic,
        "$aws/things/dev1/streams/AFR_OTA-s1/rejected/json"
    );
    assert_eq!(
        json(&out[0]),
        serde_json::json!({"o": "BlockSizeOutOfBounds", "m": "The block size is out of bounds", "c": "z"})
    );
    c.handle_publish(0, &topic, b"{");
    assert_eq!(json(&c.drain()[0])["o"], "InvalidJson");
    c.handle_publish(0, &topic, br#"{"l":256.5,"f":1}"#);
    assert_eq!(json(&c.drain()[0])["o"], "InvalidRequest");
    c.handle_publish(0, &topic, br#"{"l":256,"f":1,"b":"0xzz"}"#);
    assert_eq!(json(&c.drain()[0])["o"], "InvalidRequest");
}

#[test]
fn token_echo_in_blocks_when_configured() {
    let config = CloudConfig {
        echo_client_token_in_blocks: true,
        ..CloudConfig::default()
    };
    let mut c = Cloud::new(config);
    c.create_stream("AFR_OTA-s1", vec![(0, vec![1; 300])])
        .unwrap();
    let out = get(
        &mut c,
        &cbor(vec![("c", text("rdy")), ("f", int(0)), ("l", int(256))]),
    );
    assert_eq!(out.len(), 2);
    let m = decode_cbor(&out[1].payload);
    assert_eq!(get_text(&m, "c"), "rdy");
    assert_eq!(get_u64(&m, "l"), 44);
}

#[test]
fn describe_stream() {
    let mut c = cloud();
    c.set_stream_description("AFR_OTA-s1", "firmware").unwrap();
    let topic = topics::stream_describe("dev1", "AFR_OTA-s1", StreamFormat::Json);
    c.handle_publish(0, &topic, br#"{"c":"d1"}"#);
    let out = c.drain();
    assert_eq!(
        out[0].topic,
        "$aws/things/dev1/streams/AFR_OTA-s1/description/json"
    );
    assert_eq!(
        json(&out[0]),
        serde_json::json!({"c": "d1", "s": 1, "d": "firmware",
            "r": [{"f": 0, "z": FILE0_LEN}, {"f": 1, "z": FILE1_LEN}]})
    );
    let topic = topics::stream_describe("dev1", "AFR_OTA-s1", StreamFormat::Cbor);
    c.handle_publish(0, &topic, b"");
    let m = decode_cbor(&c.drain()[0].payload);
    assert_eq!(get_u64(&m, "s"), 1);
    // Recreating bumps the version.
    assert_eq!(c.create_stream("AFR_OTA-s1", vec![(0, vec![0; 10])]), Ok(2));
    assert_eq!(c.stream_version("AFR_OTA-s1"), Some(2));
    c.handle_publish(
        0,
        &topics::stream_describe("dev1", "gone", StreamFormat::Json),
        b"{}",
    );
    assert_eq!(json(&c.drain()[0])["o"], "ResourceNotFound");
    assert!(c.delete_stream("AFR_OTA-s1"));
    assert!(!c.has_stream("AFR_OTA-s1"));
    assert_eq!(c.stream_stats().describes, 3);
}

#[test]
fn create_stream_validation() {
    let mut c = Cloud::new(CloudConfig::default());
    assert!(c.create_stream("bad id", vec![(0, vec![])]).is_err());
    assert!(c.create_stream("s", vec![]).is_err());
    assert!(c.create_stream("s", vec![(256, vec![])]).is_err());
    assert!(
        c.create_stream("s", vec![(1, vec![]), (1, vec![])])
            .is_err()
    );
    assert!(
        c.create_stream("s", (0..51).map(|i| (i, vec![])).collect())
            .is_err()
    );
    assert!(c.set_stream_description("s", "x").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut c = cloud();
        for fmt in [StreamFormat::Cbor, StreamFormat::Json] {
            c.handle_publish(0, &topics::stream_get("d", "AFR_OTA-s1", fmt), &payload);
            c.handle_publish(0, &topics::stream_describe("d", "AFR_OTA-s1", fmt), &payload);
        }
        let _ = c.drain();
    }

    #[test]
    fn served_blocks_obey_the_request(
        l in 256u64..=131_072,
        o in 0u64..200,
        n in proptest::option::of(0u64..300),
        bitmap in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
    ) {
        let mut c = cloud();
        let mut req = vec![("f", int(0)), ("l", int(l)), ("o", int(o))];
        if let Some(n) = n { req.push(("n", int(n))); }
        if let Some(b) = &bitmap { req.push(("b", Cbor::Bytes(b.clone()))); }
        let out = get(&mut c, &cbor(req));
        let total = (FILE0_LEN as u64).div_ceil(l);
        if o >= total {
            prop_assert_eq!(rejected(&out).0, "OffsetOutOfBounds");
            return Ok(());
        }
        let got = blocks(&out, 0, &pattern(FILE0_LEN, 0), l as usize);
        let bytes: u64 = got.iter().map(|b| b.1).sum();
        prop_assert!(bytes <= 131_072);
        prop_assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        prop_assert!(got.iter().all(|b| b.0 >= o && b.0 < total));
        let cap = (131_072 / l).min(n.filter(|&n| n > 0).unwrap_or(u64::MAX));
        prop_assert!(got.len() as u64 <= cap);
        match &bitmap {
            Some(b) => {
                let wanted: Vec<u64> = (0..b.len() as u64 * 8)
                    .filter(|j| b[(j / 8) as usize] & (1 << (j % 8)) != 0)
                    .map(|j| o + j)
                    .filter(|&i| i < total)
                    .collect();
                let ids: Vec<u64> = got.iter().map(|b| b.0).collect();
                let expect_len = (wanted.len() as u64).min(cap) as usize;
                prop_assert_eq!(&ids[..], &wanted[..expect_len]);
            }
            None => {
                let expect = cap.min(total - o);
                prop_assert_eq!(got.len() as u64, expect);
            }
        }
    }
}
