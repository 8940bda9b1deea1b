//! Seed inputs: scenarios of the `agent` target written as values (whole updates over MQTT and
//! HTTP, multi-file jobs, resume after reboot, self-test accept/reject/timeout, custom jobs,
//! retries, link loss, the public job documents), and the parser seeds taken from the public
//! vectors in `shared/research/vectors/`. The `gen-corpus` example writes them to `corpus/`.

use crate::input::*;
use ota_core::codec::json;
use std::path::Path;

// ------------------------------------------------------------------------------------ agent

/// The setup most scenarios use: 256-byte blocks, 4 blocks per GetStream request, 2 per HTTP
/// range, 3 retries, 2 status tries, progress every 4 blocks, resume record every 2.
pub fn setup(flags: u8) -> Setup {
    Setup {
        flags,
        block_size: 0,
        blocks_per_request: 3,
        http_blocks: 1,
        max_retries: 3,
        status_retries: 1,
        status_every: 3,
        resume_every: 1,
        version: 0,
    }
}

/// A firmware file of `blocks` whole blocks plus `extra` bytes, signed, with a plain URL.
pub fn firmware(blocks: u8, extra: u16) -> FileSel {
    FileSel {
        size: SizeSel::Blocks(blocks, extra),
        file_id: 0,
        file_type: 1,
        sig: 0,
        url: 0,
        path: 1,
        extras: 0,
    }
}

/// A non-firmware file (`fileType` 1).
pub fn data_file(blocks: u8, extra: u16, file_id: u8) -> FileSel {
    FileSel {
        file_type: 2,
        file_id,
        ..firmware(blocks, extra)
    }
}

/// A job `jobA` with these protocol bits, `statusDetails` selector and files.
pub fn job(protocols: u8, details: u8, files: Vec<FileSel>) -> PayloadSel {
    PayloadSel::Job(JobSpec {
        id: IdSel::Fixed(0),
        status: 2,
        details,
        protocols,
        stream: StreamSel::Fixed(0),
        no_stream: false,
        files: List(files),
    })
}

/// A message, unmutated.
pub fn msg(topic: TopicSel, payload: PayloadSel) -> Op {
    Op::Message(topic, payload, List(Vec::new()))
}

/// The next block the agent asked for, on its stream.
pub fn block() -> Op {
    msg(
        TopicSel::StreamData(StreamSel::Subscribed),
        PayloadSel::Block(BlockSpec {
            file_id: 0,
            index: Option16::Auto,
            block_size: 0,
            len: 0,
            encoding: 0,
        }),
    )
}

/// `/update/accepted` for the agent's last status update, with its token.
pub fn confirm() -> Op {
    msg(
        TopicSel::UpdateAccepted(IdSel::LastReported),
        PayloadSel::Answer(AnswerSpec {
            token: 0,
            code: 0,
            status: 0,
        }),
    )
}

/// Start on a committed image without a resume record.
pub fn start() -> Op {
    Op::Start(BootSel::Valid, ResumeSel::Nothing)
}

/// `$next/get/accepted` with `payload`.
pub fn next(payload: PayloadSel) -> Op {
    msg(TopicSel::NextGetAccepted, payload)
}

/// Command by index: 0 CheckForUpdate, 1 Suspend, 2 Resume, 3 Accept, 4 Reject, 5 Abort,
/// 6 Activate, 7 Claim, 8 Decline, 9 Shutdown.
pub fn cmd(k: u8) -> Op {
    Op::Command(k)
}

/// `statusDetails` of a self-test job: `self_test: ready`, `updatedBy` 1.0.0.
pub const SELF_TEST_READY: u8 = 0x11;

/// The ops of a self-test after the reboot into the new image: the job comes back marked
/// `self_test`, the application accepts (or rejects), the status is confirmed.
fn self_test(accept: bool) -> Vec<Op> {
    vec![
        next(job(1, SELF_TEST_READY, vec![firmware(3, 100)])),
        confirm(),
        cmd(if accept { 3 } else { 4 }),
        Op::AnswerPlatform,
        confirm(),
        next(PayloadSel::NoJob(1)),
    ]
}

/// Named scenarios of the `agent` target.
pub fn agent_scenarios() -> Vec<(&'static str, AgentInput)> {
    let mut out = Vec::new();

    // A firmware update over MQTT, activated, self-tested and accepted.
    let mut ops = vec![start(), next(job(1, 0, vec![firmware(3, 100)]))];
    ops.extend(std::iter::repeat_with(block).take(4));
    ops.extend([Op::AnswerPlatform, confirm(), cmd(6), Op::AnswerPlatform]);
    ops.extend(self_test(true));
    out.push((
        "mqtt-update-accept",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    // The same with auto-activation and a rejected self-test (rollback).
    let mut ops = vec![start(), next(job(1, 0, vec![firmware(2, 0)]))];
    ops.extend(std::iter::repeat_with(block).take(2));
    ops.extend([Op::AnswerPlatform, confirm(), Op::AnswerPlatform]);
    ops.extend(self_test(false));
    out.push((
        "mqtt-auto-activate-reject",
        AgentInput {
            setup: setup(8),
            ops,
        },
    ));

    // Over HTTP: ranges of two blocks answered with 206 and whole-block chunks.
    let mut ops = vec![start(), next(job(2, 0, vec![firmware(4, 10)]))];
    for _ in 0..3 {
        ops.extend([
            Op::HttpResponse(0, RangeSel::Matching),
            Op::HttpBody(BodySel::Plausible(0)),
            Op::HttpBody(BodySel::Plausible(0)),
            Op::HttpDone,
        ]);
    }
    ops.extend([Op::AnswerPlatform, confirm(), cmd(6), Op::AnswerPlatform]);
    ops.extend(self_test(true));
    out.push((
        "http-update-accept",
        AgentInput {
            setup: setup(1 | 0x40),
            ops,
        },
    ));

    // HTTP with a server that ignores the range (200) and odd chunk sizes, then an expired URL.
    let mut ops = vec![start(), next(job(2, 0, vec![firmware(3, 1)]))];
    ops.extend([
        Op::HttpResponse(3, RangeSel::Absent),
        Op::HttpBody(BodySel::Plausible(100)),
        Op::HttpBody(BodySel::Plausible(300)),
        Op::HttpFailed,
        Op::Advance(TimeSel::ToDeadline),
        Op::HttpResponse(5, RangeSel::Matching),
        next(job(2, 0, vec![firmware(3, 1)])),
        Op::HttpResponse(0, RangeSel::Matching),
        Op::HttpBody(BodySel::Plausible(0)),
        Op::HttpDone,
    ]);
    out.push((
        "http-200-expired-url",
        AgentInput {
            setup: setup(1),
            ops,
        },
    ));

    // Both protocols offered, HTTP preferred; a two-file job (a data file, then firmware).
    let mut ops = vec![
        start(),
        next(job(3, 0, vec![firmware(1, 5), data_file(1, 0, 1)])),
    ];
    for _ in 0..3 {
        ops.extend([
            Op::HttpResponse(0, RangeSel::Matching),
            Op::HttpBody(BodySel::Plausible(0)),
            Op::HttpBody(BodySel::Plausible(0)),
            Op::HttpDone,
        ]);
    }
    ops.extend([Op::AnswerPlatform, confirm(), cmd(6)]);
    out.push((
        "http-two-files",
        AgentInput {
            setup: setup(4),
            ops,
        },
    ));

    // Two files over MQTT: a data-only job (SUCCEEDED without activation).
    let mut ops = vec![
        start(),
        next(job(1, 0, vec![data_file(1, 7, 1), data_file(0, 90, 2)])),
    ];
    ops.extend(std::iter::repeat_with(block).take(4));
    ops.extend([Op::AnswerPlatform, confirm()]);
    out.push((
        "mqtt-data-files",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    // Resume after a power cut: half the blocks, reboot with the persisted record, the rest.
    let mut ops = vec![start(), next(job(1, 0, vec![firmware(6, 0)]))];
    ops.extend(std::iter::repeat_with(block).take(3));
    ops.extend([
        Op::AnswerPlatform,
        Op::Reboot(0, BootSel::Plausible, ResumeSel::Persisted),
        next(job(1, 0, vec![firmware(6, 0)])),
    ]);
    ops.extend(std::iter::repeat_with(block).take(4));
    ops.extend([Op::AnswerPlatform, confirm()]);
    out.push((
        "mqtt-resume",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    // Self-test that nobody accepts: the timer rolls back.
    let ops = vec![
        Op::Reboot(1, BootSel::PendingCommit, ResumeSel::Nothing),
        next(job(1, SELF_TEST_READY, vec![firmware(3, 100)])),
        confirm(),
        Op::Advance(TimeSel::Large(40_000)),
        Op::AnswerPlatform,
        confirm(),
    ];
    out.push((
        "self-test-timeout",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    // A self-test job seen after the reboot on a committed image (answered from the version).
    let ops = vec![
        start(),
        next(job(1, SELF_TEST_READY, vec![firmware(1, 0)])),
        confirm(),
    ];
    out.push((
        "self-test-after-commit",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    // Custom jobs: one claimed, one left to time out (reported FAILED).
    let ops = vec![
        start(),
        next(job(0x20, 0, vec![])),
        cmd(7),
        msg(
            TopicSel::NotifyNext,
            PayloadSel::Job(JobSpec {
                id: IdSel::Fixed(1),
                ..job_spec(0x20)
            }),
        ),
        Op::Advance(TimeSel::ToDeadline),
        confirm(),
    ];
    out.push((
        "custom-jobs",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    // Retries: no answer to $next/get, a rejected one, then blocks never come.
    let mut ops = vec![start()];
    ops.extend(std::iter::repeat_n(Op::Advance(TimeSel::ToDeadline), 3));
    ops.push(msg(
        TopicSel::NextGetRejected,
        PayloadSel::Answer(AnswerSpec {
            token: 0,
            code: 3,
            status: 0,
        }),
    ));
    ops.extend([next(job(1, 0, vec![firmware(2, 0)])), Op::AnswerPlatform]);
    ops.extend(std::iter::repeat_n(Op::Advance(TimeSel::ToDeadline), 6));
    ops.extend([Op::AnswerPlatform, confirm()]);
    out.push((
        "retries-exhausted",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    // Link loss and suspend in the middle of a download; a duplicate and a bad block.
    let mut ops = vec![
        start(),
        next(job(1, 0, vec![firmware(4, 0)])),
        block(),
        block(),
    ];
    ops.extend([
        Op::Link(false),
        Op::Link(true),
        next(job(1, 0, vec![firmware(4, 0)])),
        msg(
            TopicSel::StreamData(StreamSel::Subscribed),
            PayloadSel::Block(BlockSpec {
                file_id: 0,
                index: Option16::Value(0),
                block_size: 0,
                len: 0,
                encoding: 5,
            }),
        ),
        msg(
            TopicSel::StreamData(StreamSel::Subscribed),
            PayloadSel::Block(BlockSpec {
                file_id: 3,
                index: Option16::Value(1),
                block_size: 7,
                len: 5,
                encoding: 6,
            }),
        ),
        cmd(1),
        block(),
        cmd(2),
        next(job(1, 0, vec![firmware(4, 0)])),
        block(),
        block(),
        Op::AnswerPlatform,
        confirm(),
    ]);
    out.push((
        "link-loss-suspend",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    // The stream service refuses (transient, then fatal), the job is cancelled, superseded.
    let ops = vec![
        start(),
        next(job(1, 0, vec![firmware(2, 0)])),
        msg(
            TopicSel::StreamRejected(StreamSel::Subscribed),
            PayloadSel::StreamError(1),
        ),
        msg(
            TopicSel::StreamRejected(StreamSel::Subscribed),
            PayloadSel::StreamError(0),
        ),
        confirm(),
        next(job(1, 0, vec![firmware(2, 0)])),
        msg(
            TopicSel::UpdateRejected(IdSel::Active),
            PayloadSel::Answer(AnswerSpec {
                token: 1,
                code: 1,
                status: 4,
            }),
        ),
        next(job(1, 0, vec![firmware(2, 0)])),
        msg(
            TopicSel::NotifyNext,
            PayloadSel::Job(JobSpec {
                id: IdSel::Fixed(1),
                ..job_spec(1)
            }),
        ),
        confirm(),
        msg(TopicSel::NotifyNext, PayloadSel::NoJob(0)),
    ];
    out.push((
        "stream-rejected-cancel-supersede",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    // Jobs the agent must refuse: unsigned, too large, no protocol, bad epoch, broken JSON.
    let mut bad_sig = firmware(1, 0);
    bad_sig.sig = 3;
    let mut huge = firmware(1, 0);
    huge.size = SizeSel::Large(10_000_000);
    let ops = vec![
        start(),
        next(job(1, 0, vec![bad_sig])),
        confirm(),
        next(job(1, 0, vec![huge])),
        confirm(),
        next(job(8, 0, vec![firmware(1, 0)])),
        confirm(),
        Op::Message(
            TopicSel::NotifyNext,
            job(1, 0, vec![firmware(1, 0)]),
            List(vec![Mutation::Truncate(200)]),
        ),
        confirm(),
    ];
    out.push((
        "refused-jobs",
        AgentInput {
            setup: setup(0x80),
            ops,
        },
    ));

    // Loose mode: the fuzzer answers platform actions itself (errors, short reads, garbage).
    let mut ops = vec![
        start(),
        next(job(1, 0, vec![firmware(1, 0)])),
        Op::PlatformDone(0),
    ];
    ops.extend([
        block(),
        Op::PlatformDone(0),
        Op::FileData(DataSel::Short),
        Op::FileData(DataSel::Stored),
    ]);
    ops.extend([
        Op::PlatformDone(200),
        confirm(),
        next(job(1, 0, vec![firmware(1, 0)])),
    ]);
    out.push((
        "loose-platform",
        AgentInput {
            setup: setup(0x20),
            ops,
        },
    ));

    // Shutdown and start again.
    let ops = vec![
        start(),
        next(job(1, 0, vec![firmware(2, 0)])),
        block(),
        cmd(9),
        start(),
        next(PayloadSel::NoJob(2)),
    ];
    out.push((
        "shutdown-restart",
        AgentInput {
            setup: setup(0),
            ops,
        },
    ));

    out
}

/// The agent target's findings in ota-core (README, "Findings"; fixed there), as minimal
/// inputs: regression seeds of the `agent` corpus and tests of this crate.
pub fn findings() -> Vec<(&'static str, AgentInput)> {
    // F1: over HTTP, a 403 makes the agent fetch the job document again (presigned URL
    // refresh); the answer names the same job and file but has no `update_data_url`: the
    // agent keeps the download going and emits `HttpGet { url: "" }`.
    let mut no_url = firmware(3, 1);
    no_url.url = 1;
    let ops = vec![
        start(),
        next(job(2, 0, vec![firmware(3, 1)])),
        Op::HttpResponse(5, RangeSel::Matching),
        next(job(2, 0, vec![no_url])),
    ];
    let mut out = vec![(
        "f1-http-refresh-without-url",
        AgentInput {
            setup: setup(1),
            ops,
        },
    )];
    // F2: an empty HTTP body chunk in the middle of a needed block gives a zero-length
    // `FileWrite`.
    let ops = vec![
        start(),
        next(job(2, 0, vec![firmware(3, 1)])),
        Op::HttpResponse(0, RangeSel::Matching),
        Op::HttpBody(BodySel::Plausible(10)),
        Op::HttpBody(BodySel::Raw(Vec::new())),
    ];
    out.push((
        "f2-empty-http-chunk",
        AgentInput {
            setup: setup(1),
            ops,
        },
    ));
    // F3: the active HTTP job's id comes back with a custom (non-OTA) document: the agent
    // offers it to the application and forgets the OTA job without cancelling the HTTP
    // request or aborting the file, and the late body is still written to flash.
    let custom = PayloadSel::Job(JobSpec {
        protocols: 0x20,
        ..job_spec(2)
    });
    let ops = vec![
        start(),
        next(job(2, 0, vec![firmware(3, 1)])),
        Op::AnswerPlatform,
        msg(TopicSel::NotifyNext, custom),
        Op::HttpResponse(0, RangeSel::Matching),
        Op::HttpBody(BodySel::Plausible(0)),
    ];
    out.push((
        "f3-custom-same-id-http",
        AgentInput {
            setup: setup(1),
            ops,
        },
    ));
    // F4: the active HTTP job's id comes back with a broken `afr_ota` (no protocol it knows):
    // the job is reported FAILED but stays active, and its HTTP body is still written.
    let ops = vec![
        start(),
        next(job(2, 0, vec![firmware(3, 1)])),
        Op::AnswerPlatform,
        msg(TopicSel::NotifyNext, job(8, 0, vec![firmware(3, 1)])),
        Op::HttpResponse(0, RangeSel::Matching),
        Op::HttpBody(BodySel::Plausible(0)),
    ];
    out.push((
        "f4-bad-doc-same-id-http",
        AgentInput {
            setup: setup(1),
            ops,
        },
    ));
    out
}

fn job_spec(protocols: u8) -> JobSpec {
    match job(protocols, 0, vec![firmware(1, 0)]) {
        PayloadSel::Job(spec) => spec,
        _ => unreachable!("job() builds a Job"),
    }
}

/// The public job documents as `agent` scenarios (Start, then the document on `notify-next`).
pub fn agent_vector_scenarios(vectors: &Path) -> Vec<(String, AgentInput)> {
    envelopes(vectors)
        .into_iter()
        .map(|(name, doc)| {
            let ops = vec![
                start(),
                msg(TopicSel::NotifyNext, PayloadSel::Raw(doc)),
                Op::AnswerPlatform,
                confirm(),
            ];
            (
                format!("vector-{name}"),
                AgentInput {
                    setup: setup(0),
                    ops,
                },
            )
        })
        .collect()
}

// ------------------------------------------------------------------------------------ vectors

fn read(vectors: &Path, file: &str) -> Vec<u8> {
    let path = vectors.join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(name, document)` of every `vectors[]` entry of a vector file.
fn documents(vectors: &Path, file: &str, name_key: &str) -> Vec<(String, Vec<u8>)> {
    let text = read(vectors, file);
    let root = json::parse(&text).expect("vector file is JSON");
    let list = root
        .as_object()
        .and_then(|o| o.get("vectors"))
        .and_then(|v| v.as_array())
        .expect("vectors[]");
    let unescape = |v: json::Value<'_>| {
        let s = v.as_raw_str()?;
        let mut out = vec![0u8; s.unescaped_len()];
        let n = s.unescape_into(&mut out).ok()?;
        out.truncate(n);
        Some(out)
    };
    list.iter()
        .filter_map(|v| {
            let o = v.as_object()?;
            let name = o.get(name_key).and_then(unescape)?;
            let doc = o.get("document").and_then(unescape)?;
            Some((String::from_utf8_lossy(&name).into_owned(), doc))
        })
        .collect()
}

/// The 22 Jobs envelopes of `ota-sdk-v3-job-documents.json`.
pub fn envelopes(vectors: &Path) -> Vec<(String, Vec<u8>)> {
    documents(vectors, "ota-sdk-v3-job-documents.json", "name")
}

/// The `afr_ota` documents of `jobs-sdk-afr-ota-parser-documents.json`.
pub fn afr_ota_documents(vectors: &Path) -> Vec<(String, Vec<u8>)> {
    documents(vectors, "jobs-sdk-afr-ota-parser-documents.json", "test")
}

/// The `encoded` strings of `base64-decode-vectors.json` (valid and invalid).
pub fn base64_strings(vectors: &Path) -> Vec<Vec<u8>> {
    let text = read(vectors, "base64-decode-vectors.json");
    let root = json::parse(&text).expect("vector file is JSON");
    let obj = root.as_object().expect("object");
    let mut out = Vec::new();
    for list in ["valid", "invalid"] {
        let Some(items) = obj.get(list).and_then(|v| v.as_array()) else {
            continue;
        };
        for item in items.iter() {
            let Some(s) = item
                .as_object()
                .and_then(|o| o.get("encoded"))
                .and_then(|v| v.as_raw_str())
            else {
                continue;
            };
            let mut buf = vec![0u8; s.unescaped_len()];
            if let Ok(n) = s.unescape_into(&mut buf) {
                buf.truncate(n);
                out.push(buf);
            }
        }
    }
    out
}

/// Hex strings of at least 8 bytes in a text vector file, decoded.
pub fn hex_tokens(vectors: &Path, file: &str) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(&read(vectors, file)).into_owned();
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|t| t.len() >= 16 && t.len() % 2 == 0 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|t| {
            (0..t.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&t[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

/// Base64 strings (standard alphabet, padded, ≥ 16 characters) in a text vector file.
pub fn base64_tokens(vectors: &Path, file: &str) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(&read(vectors, file)).into_owned();
    text.split_whitespace()
        .filter(|t| {
            t.len() >= 16
                && t.ends_with('=')
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        })
        .map(|t| t.as_bytes().to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{Summary, run};

    fn scenario(name: &str) -> Summary {
        let (_, input) = agent_scenarios()
            .into_iter()
            .find(|(n, _)| *n == name)
            .expect("scenario");
        // The encoded form is what the corpus holds: run that.
        let input = AgentInput::from_bytes(&input.to_bytes());
        run(&input, std::env::var_os("OTA_FUZZ_TRACE").is_some())
    }

    #[test]
    fn every_scenario_round_trips_and_runs() {
        for (name, input) in agent_scenarios() {
            let bytes = input.to_bytes();
            assert_eq!(AgentInput::from_bytes(&bytes), input, "{name}");
            run(&input, false);
        }
    }

    /// Under `cfg(fuzzing)` (what cargo-fuzz builds) the agent skips the final signature
    /// comparison, so the scenarios reach activation; without it they stop at the signature.
    #[test]
    fn updates_reach_activation_only_without_the_signature_check() {
        for name in ["mqtt-update-accept", "http-update-accept"] {
            let s = scenario(name);
            if cfg!(fuzzing) {
                assert!(
                    s.activations >= 1 && s.self_tests >= 1 && s.commits >= 1,
                    "{name}: {s:?}"
                );
                assert!(s.accepted >= 1 && s.jobs_succeeded >= 1, "{name}: {s:?}");
            } else {
                assert!(
                    s.signature_failures >= 1 && s.activations == 0,
                    "{name}: {s:?}"
                );
            }
        }
        let s = scenario("mqtt-auto-activate-reject");
        if cfg!(fuzzing) {
            assert!(
                s.activations >= 1 && s.rejections >= 1 && s.reboots >= 2,
                "{s:?}"
            );
        }
        let s = scenario("mqtt-data-files");
        if cfg!(fuzzing) {
            assert_eq!(s.files_complete, 2, "{s:?}");
            assert!(s.jobs_succeeded >= 1, "{s:?}");
        }
    }

    #[test]
    fn scenarios_reach_their_states() {
        let s = scenario("mqtt-resume");
        assert!(s.resumed_jobs >= 1 && s.reboots >= 1, "{s:?}");
        let s = scenario("self-test-timeout");
        assert!(s.self_tests >= 1 && s.rejections >= 1, "{s:?}");
        let s = scenario("custom-jobs");
        assert!(s.custom_jobs >= 2, "{s:?}");
        let s = scenario("retries-exhausted");
        assert!(s.failures >= 1, "{s:?}");
        let s = scenario("refused-jobs");
        assert!(s.failures >= 3, "{s:?}");
    }

    #[test]
    fn findings_stay_fixed() {
        for (name, input) in findings() {
            let r = std::panic::catch_unwind(|| run(&input, false));
            assert!(r.is_ok(), "{name} violates an invariant again");
        }
    }

    #[test]
    fn vectors_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/research/vectors");
        if !dir.exists() {
            return;
        }
        assert_eq!(envelopes(&dir).len(), 22);
        assert!(afr_ota_documents(&dir).len() >= 20);
        assert!(base64_strings(&dir).len() >= 10);
        assert!(!hex_tokens(&dir, "cbor-mqtt-stream-vectors.txt").is_empty());
        for (_, input) in agent_vector_scenarios(&dir) {
            run(&input, false);
        }
    }
}
