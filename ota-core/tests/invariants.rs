//! Property tests of the agent and the resume record: arbitrary input sequences never panic,
//! deadlines never lie in the past after a drained poll, the statistics stay consistent, and
//! nothing is activated that was not read back and verified.
#![allow(missing_docs)]

mod support;

use ota_core::resume::ResumeRecord;
use ota_core::*;
use proptest::prelude::*;
use support::*;

const S: &str = "AFR_OTA-s";

#[derive(Debug, Clone)]
enum Op {
    Start(bool, bool),
    Job(u8, u8),
    NoJob,
    Garbage(Vec<u8>),
    Block(u32, u8),
    BadBlock(Vec<u8>),
    Cmd(u8),
    Link(bool),
    Http(u16, u32, u32),
    Body(u16),
    HttpDone,
    HttpFailed,
    Platform(bool),
    Data(u16),
    Confirm,
    Time(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Op::Start(a, b)),
        (0u8..3, 0u8..4).prop_map(|(a, b)| Op::Job(a, b)),
        Just(Op::NoJob),
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(Op::Garbage),
        (0u32..12, 0u8..3).prop_map(|(a, b)| Op::Block(a, b)),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::BadBlock),
        (0u8..10).prop_map(Op::Cmd),
        any::<bool>().prop_map(Op::Link),
        (
            prop_oneof![Just(200u16), Just(206), Just(403), Just(416), Just(500)],
            0u32..9000,
            0u32..9000
        )
            .prop_map(|(s, a, b)| Op::Http(s, a, b)),
        (0u16..2500).prop_map(Op::Body),
        Just(Op::HttpDone),
        Just(Op::HttpFailed),
        any::<bool>().prop_map(Op::Platform),
        (0u16..3000).prop_map(Op::Data),
        Just(Op::Confirm),
        (0u32..200_000).prop_map(Op::Time),
    ]
}

fn cmd(k: u8) -> Command {
    [
        Command::CheckForUpdate,
        Command::Suspend,
        Command::Resume,
        Command::Accept,
        Command::Reject,
        Command::Abort,
        Command::Activate,
        Command::ClaimCustomJob,
        Command::DeclineCustomJob,
        Command::Shutdown,
    ][k as usize % 10]
}

fn check_invariants(dev: &Dev, acts: &[Act]) {
    assert!(
        acts.len() <= 40,
        "too many actions for one input: {}",
        acts.len()
    );
    let s = dev.agent.statistics();
    assert!(s.processed <= s.queued, "{s:?}");
    assert!(s.queued + s.dropped <= s.received, "{s:?}");
    assert!(s.duplicates <= s.dropped, "{s:?}");
    if let Some(t) = dev.agent.poll_timeout() {
        assert!(t.as_millis() >= dev.now, "deadline in the past");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_inputs_never_panic_and_keep_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let data = image(5 * BS as usize + 300, 9);
        let docs = [
            job_doc("jobA", &["MQTT"], S, &[FileSpec::signed(&data)], None),
            job_doc("jobB", &["HTTP"], "", &[FileSpec { url: Some("http://h/x".into()), ..FileSpec::signed(&data) }], None),
            job_doc("jobA", &["MQTT"], S, &[FileSpec::signed(&data)], Some(r#"{"self_test":"ready","updatedBy":"0x00010000"}"#)),
        ];
        let mut dev = Dev::new(config());
        let mut verified_reads: u64 = 0;
        for op in ops {
            let now = dev.t();
            let r = match &op {
                Op::Start(pending, resume) => {
                    let rec = if *resume { dev.persisted.clone() } else { None };
                    let st = if *pending { PlatformImageState::PendingCommit } else { PlatformImageState::Valid };
                    verified_reads = 0;
                    dev.agent.handle(now, Input::Start(BootInfo { platform_state: st, resume: rec.as_deref() }))
                }
                Op::Job(k, mutate) => {
                    let mut d = docs[*k as usize % 3].clone();
                    if *mutate == 3 && !d.is_empty() {
                        let i = d.len() / 2;
                        d[i] ^= 0x20;
                    }
                    let topic = format!("$aws/things/{THING}/jobs/notify-next");
                    dev.agent.handle(now, Input::Message { topic: &topic, payload: &d })
                }
                Op::NoJob => {
                    let topic = format!("$aws/things/{THING}/jobs/$next/get/accepted");
                    dev.agent.handle(now, Input::Message { topic: &topic, payload: &no_job() })
                }
                Op::Garbage(g) => {
                    let topic = format!("$aws/things/{THING}/jobs/notify-next");
                    dev.agent.handle(now, Input::Message { topic: &topic, payload: g })
                }
                Op::Block(i, kind) => {
                    let bs = BS as usize;
                    let start = (*i as usize * bs).min(data.len());
                    let end = (start + bs).min(data.len());
                    let p = encode_block(*kind as u32 % 2, *i, BS, &data[start..end]);
                    let topic = format!("$aws/things/{THING}/streams/{S}/data/cbor");
                    dev.agent.handle(now, Input::Message { topic: &topic, payload: &p })
                }
                Op::BadBlock(b) => {
                    let topic = format!("$aws/things/{THING}/streams/{S}/data/cbor");
                    dev.agent.handle(now, Input::Message { topic: &topic, payload: b })
                }
                Op::Cmd(k) => dev.agent.handle(now, Input::Command(cmd(*k))),
                Op::Link(up) => dev.agent.handle(now, Input::Link(*up)),
                Op::Http(status, a, b) => {
                    let cr = ota_core::codec::http::ContentRange { first: *a.min(b), last: *a.max(b), complete: Some(data.len() as u32) };
                    dev.agent.handle(now, Input::HttpResponse { status: *status, content_range: Some(cr) })
                }
                Op::Body(n) => {
                    let n = (*n as usize).min(data.len());
                    dev.agent.handle(now, Input::HttpBody(&data[..n]))
                }
                Op::HttpDone => dev.agent.handle(now, Input::HttpDone),
                Op::HttpFailed => dev.agent.handle(now, Input::HttpFailed),
                Op::Platform(ok) => {
                    let r = if *ok { Ok(()) } else { Err(PalError::Flash) };
                    dev.agent.handle(now, Input::PlatformDone(r))
                }
                Op::Data(n) => {
                    let n = (*n as usize).min(data.len());
                    verified_reads += n as u64;
                    dev.agent.handle(now, Input::FileData(Ok(&data[..n])))
                }
                Op::Confirm => {
                    let topic = format!("$aws/things/{THING}/jobs/jobA/update/accepted");
                    dev.agent.handle(now, Input::Message { topic: &topic, payload: b"{}" })
                }
                Op::Time(ms) => {
                    dev.now += *ms as u64;
                    dev.agent.handle_timeout(dev.t());
                    Ok(())
                }
            };
            // Usage errors are allowed (random inputs break the contract); panics are not.
            let _ = r;
            let acts = dev.drain();
            if acts.contains(&Act::Activate) {
                prop_assert!(verified_reads > 0, "activation without a read-back");
            }
            check_invariants(&dev, &acts);
        }
    }

    #[test]
    fn deadline_is_never_in_the_past_after_a_timeout(steps in proptest::collection::vec(1u32..100_000, 1..40), job in any::<bool>()) {
        let data = image(3 * BS as usize, 3);
        let mut dev = Dev::auto();
        dev.start(PlatformImageState::Valid);
        if job {
            dev.jobs("$next/get/accepted", &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None));
        }
        for s in steps {
            dev.now += s as u64;
            dev.agent.handle_timeout(dev.t());
            dev.drain();
            if let Some(t) = dev.agent.poll_timeout() {
                prop_assert!(t.as_millis() > dev.now);
            }
        }
    }

    #[test]
    fn resume_record_round_trips_and_rejects_corruption(
        id in "[A-Za-z0-9_-]{1,64}",
        pos in any::<u8>(), index in any::<u8>(), file_id in any::<u32>(),
        size in 1u32..1_000_000, bs in prop_oneof![Just(256u32), Just(1024), Just(4096)],
        flip in any::<usize>(), seed in any::<u8>(),
    ) {
        let blocks = size.div_ceil(bs);
        let mut bitmap = vec![0u8; blocks.div_ceil(8) as usize];
        for (i, b) in bitmap.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31) ^ seed;
        }
        if blocks % 8 != 0 {
            let last = bitmap.len() - 1;
            bitmap[last] &= (1u8 << (blocks % 8)) - 1;
        }
        let rec = ResumeRecord { job_id: &id, file_pos: pos, file_index: index, file_id, file_size: size, block_size: bs, bitmap: &bitmap };
        let mut out = vec![0u8; ota_core::resume::max_record_len(bitmap.len())];
        let n = rec.encode(&mut out).unwrap();
        prop_assert_eq!(ResumeRecord::decode(&out[..n]), Some(rec));
        let mut torn = out[..n].to_vec();
        let k = flip % n;
        torn[k] ^= 0x01;
        prop_assert_eq!(ResumeRecord::decode(&torn), None);
        prop_assert_eq!(ResumeRecord::decode(&out[..n - 1]), None);
    }

    #[test]
    fn resume_record_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = ResumeRecord::decode(&bytes);
    }
}
