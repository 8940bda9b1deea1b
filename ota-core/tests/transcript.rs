//! Transcript tests: each reads like the protocol exchange it checks.
#![allow(missing_docs)]

mod support;

use ota_core::*;
use support::*;

const S: &str = "AFR_OTA-stream1";

fn next_get_topic() -> String {
    format!("$aws/things/{THING}/jobs/$next/get")
}

/// Runs a full MQTT download of `data` as job `job` and returns everything emitted.
fn download(dev: &mut Dev, job: &str, data: &[u8]) -> Vec<Act> {
    let mut all = dev.jobs(
        "$next/get/accepted",
        &job_doc(job, &["MQTT"], S, &[FileSpec::signed(data)], None),
    );
    let blocks = data.len().div_ceil(BS as usize) as u32;
    for i in 0..blocks {
        all.extend(dev.block(S, 0, i, data));
    }
    all
}

#[test]
fn start_subscribes_and_asks_for_the_next_job() {
    let mut dev = Dev::auto();
    assert_eq!(dev.agent.state(), State::Init);
    let acts = dev.start(PlatformImageState::Valid);
    assert_eq!(
        &acts[..3],
        &[
            Act::Sub(format!("$aws/things/{THING}/jobs/notify-next")),
            Act::Sub(format!("$aws/things/{THING}/jobs/$next/get/+")),
            Act::Sub(format!("$aws/things/{THING}/jobs/+/update/+")),
        ]
    );
    let Act::Pub {
        topic,
        payload,
        qos1,
    } = &acts[3]
    else {
        panic!("{acts:?}")
    };
    assert_eq!(topic, &next_get_topic());
    assert!(qos1);
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
    let token = v["clientToken"].as_str().unwrap();
    assert!(!token.is_empty() && token.len() <= 64);
    assert_eq!(dev.agent.state(), State::WaitingForJob);
}

#[test]
fn inputs_before_start_are_refused() {
    let mut dev = Dev::auto();
    let r = dev
        .agent
        .handle(Instant::ZERO, Input::Command(Command::CheckForUpdate));
    assert_eq!(r, Err(UsageError::NotStarted));
}

#[test]
fn no_job_is_reported_and_nothing_is_awaited() {
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let acts = dev.jobs("$next/get/accepted", &no_job());
    assert_eq!(notes(&acts), ["NoActiveJob"]);
    assert_eq!(dev.agent.poll_timeout(), None);
    assert_eq!(dev.agent.state(), State::WaitingForJob);
}

#[test]
fn unanswered_job_request_is_retried_with_backoff() {
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let mut times = Vec::new();
    for _ in 0..4 {
        let acts = dev.fire();
        assert_eq!(pubs(&acts, "/jobs/$next/get").len(), 1, "{acts:?}");
        times.push(dev.now);
    }
    // 10 s, then 20, 40, 60 (capped) after each retry.
    assert_eq!(times, [10_000, 30_000, 70_000, 130_000]);
}

#[test]
fn mqtt_update_downloads_verifies_and_waits_for_activation() {
    let data = image(5 * BS as usize + 100, 1);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let acts = dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    assert_eq!(notes(&acts)[0], "ReceivedJob(job1,1,false)");
    assert!(acts.contains(&Act::Create {
        index: 0,
        size: data.len() as u32,
        resume: false,
        firmware: true,
        path: "/fw/0".into()
    }));
    assert!(acts.contains(&Act::Sub(format!(
        "$aws/things/{THING}/streams/{S}/data/cbor"
    ))));
    assert!(acts.contains(&Act::Sub(format!(
        "$aws/things/{THING}/streams/{S}/rejected/cbor"
    ))));
    // The first status makes the execution IN_PROGRESS.
    let first_status = pubs(&acts, "/jobs/job1/update")[0].json();
    assert_eq!(first_status["status"], "IN_PROGRESS");
    assert_eq!(first_status["statusDetails"]["receive"], "0/6");
    // 4 blocks per request, starting at block 0.
    assert_eq!(stream_requests(&acts), [(0, vec![0, 1, 2, 3])]);
    assert_eq!(dev.agent.state(), State::WaitingForFileBlock);

    let mut acts = Vec::new();
    for i in 0..4 {
        acts.extend(dev.block(S, 0, i, &data));
    }
    // The window is done: the next request asks for the rest.
    assert_eq!(stream_requests(&acts), [(4, vec![4, 5])]);
    assert!(notes(&acts).contains(&"Progress(0,1/6)".to_string()));
    let mut acts = dev.block(S, 0, 4, &data);
    acts.extend(dev.block(S, 0, 5, &data));
    assert_eq!(dev.file, data, "the stored file is the image");
    // Read-back for the signature, then "self_test: ready" (QoS 1) awaiting confirmation.
    assert!(
        acts.iter()
            .any(|a| matches!(a, Act::Read { offset: 0, .. }))
    );
    let ready = pubs(&acts, "/jobs/job1/update").last().unwrap().json();
    assert_eq!(ready["status"], "IN_PROGRESS");
    assert_eq!(ready["statusDetails"]["self_test"], "ready");
    assert_eq!(ready["statusDetails"]["updatedBy"], "0x01000000");
    assert!(
        !notes(&acts)
            .iter()
            .any(|n| n.starts_with("ReadyToActivate"))
    );
    let acts = dev.confirm(&acts);
    assert_eq!(notes(&acts), ["ReadyToActivate(job1)"]);
    // The application decides when to reboot.
    // The resume record outlives the activation (the platform drops it with the boot-state
    // write, the trial boot's `Start` at the latest): a power cut before activation resumes.
    let acts = dev.cmd(Command::Activate);
    assert_eq!(acts, [Act::Activate]);
    let s = dev.agent.statistics();
    assert_eq!((s.received, s.queued, s.processed, s.dropped), (6, 6, 6, 0));
}

#[test]
fn bad_blocks_are_dropped_and_counted_not_fatal() {
    let data = image(3 * BS as usize - 100, 2);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    let topic = format!("$aws/things/{THING}/streams/{S}/data/cbor");
    let bs = BS as usize;
    let cases: Vec<Vec<u8>> = vec![
        b"\xa1garbage".to_vec(),                 // malformed CBOR
        encode_block(7, 0, BS, &data[..bs]),     // wrong file id
        encode_block(0, 3, BS, &data[..bs]),     // index past the end
        encode_block(0, 0, BS, &data[..bs - 1]), // short payload
        encode_block(0, 0, 512, &data[..bs]),    // `l` disagrees
        encode_block(0, 2, BS, &data[..bs]),     // last block too long
    ];
    for c in &cases {
        let acts = dev.msg(&topic, c);
        assert!(
            !acts.iter().any(|a| matches!(a, Act::Write { .. })),
            "{acts:?}"
        );
    }
    assert_eq!(dev.agent.statistics().dropped, cases.len() as u32);
    dev.block(S, 0, 0, &data);
    dev.block(S, 0, 0, &data); // duplicate
    let s = dev.agent.statistics();
    assert_eq!((s.duplicates, s.processed), (1, 1));
    dev.block(S, 0, 1, &data);
    let acts = dev.block(S, 0, 2, &data);
    assert_eq!(
        pubs(&acts, "/update").last().unwrap().json()["statusDetails"]["self_test"],
        "ready"
    );
}

#[test]
fn wrong_signature_fails_the_job_and_the_agent_keeps_serving() {
    let data = image(2 * BS as usize, 3);
    let mut spec = FileSpec::signed(&data);
    spec.sig = Some(sign_b64(&signing_key(), b"something else"));
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[spec], None),
    );
    dev.block(S, 0, 0, &data);
    let acts = dev.block(S, 0, 1, &data);
    assert!(acts.contains(&Act::Abort) && acts.contains(&Act::ClearResume));
    let failed = pubs(&acts, "/jobs/job1/update").last().unwrap().json();
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(
        failed["statusDetails"]["reason"],
        "signature check failed: 0x000000e3"
    );
    assert!(
        notes(&acts)
            .iter()
            .any(|n| n.starts_with("Failed(job1,signature check failed"))
    );
    assert!(!acts.contains(&Act::Activate));
    let acts = dev.confirm(&acts);
    assert_eq!(notes(&acts), ["JobFinished(job1,false)"]);
    assert_eq!(
        pubs(&acts, "/jobs/$next/get").len(),
        1,
        "asks for the next job"
    );
}

#[test]
fn key_is_chosen_by_certfile() {
    let data = image(BS as usize, 4);
    let mut spec = FileSpec::signed(&data);
    spec.sig = Some(sign_b64(&other_key(), &data));
    spec.cert = Some("other.crt".into());
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[spec.clone()], None),
    );
    let acts = dev.block(S, 0, 0, &data);
    assert_eq!(
        pubs(&acts, "/update").last().unwrap().json()["statusDetails"]["self_test"],
        "ready"
    );

    // The same signature under the default key is refused.
    spec.cert = None;
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job2", &["MQTT"], S, &[spec], None),
    );
    let acts = dev.block(S, 0, 0, &data);
    assert_eq!(
        pubs(&acts, "/update").last().unwrap().json()["status"],
        "FAILED"
    );
}

#[test]
fn unsigned_oversize_and_unsupported_jobs_fail_before_anything_is_written() {
    let data = image(BS as usize, 5);
    let mut unsigned = FileSpec::signed(&data);
    unsigned.sig = None;
    let mut huge = FileSpec::signed(&data);
    huge.size = 64 * 8 * BS as usize + 1; // one block more than the 64-byte bitmap holds
    let cases = [
        (
            job_doc("j-unsigned", &["MQTT"], S, &[unsigned], None),
            "missing signature: 0x000000e7",
        ),
        (
            job_doc("j-huge", &["MQTT"], S, &[huge], None),
            "file too large: 0x00000017",
        ),
        (
            job_doc("j-proto", &["FTP"], S, &[FileSpec::signed(&data)], None),
            "bad job document: 0x0000000c",
        ),
        (
            job_doc("j-nourl", &["HTTP"], S, &[FileSpec::signed(&data)], None),
            "unsupported protocol: 0x0000000d",
        ),
        (
            job_doc(
                "j-inject",
                &["MQTT"],
                "a/+/#",
                &[FileSpec::signed(&data)],
                None,
            ),
            "bad job document: 0x0000000c",
        ),
    ];
    for (doc, reason) in cases {
        let mut dev = Dev::auto();
        dev.start(PlatformImageState::Valid);
        let acts = dev.jobs("$next/get/accepted", &doc);
        assert!(
            !acts
                .iter()
                .any(|a| matches!(a, Act::Create { .. } | Act::Write { .. })),
            "{reason}: {acts:?}"
        );
        let st = pubs(&acts, "/update");
        assert_eq!(st.len(), 1, "{reason}: {acts:?}");
        let v = st[0].json();
        assert_eq!(v["status"], "FAILED");
        assert_eq!(v["statusDetails"]["reason"], reason);
    }
}

#[test]
fn job_ids_that_would_inject_into_topics_are_ignored() {
    let data = image(BS as usize, 6);
    for id in ["a/b", "a+b", "#", "x".repeat(65).as_str(), "bad id"] {
        let mut dev = Dev::auto();
        dev.start(PlatformImageState::Valid);
        let acts = dev.jobs(
            "$next/get/accepted",
            &job_doc(id, &["MQTT"], S, &[FileSpec::signed(&data)], None),
        );
        assert!(pubs(&acts, "/update").is_empty(), "{id}: {acts:?}");
        assert!(!acts.iter().any(|a| matches!(a, Act::Create { .. })));
    }
}

#[test]
fn same_job_redelivered_keeps_progress_and_a_new_job_supersedes() {
    let data = image(6 * BS as usize, 7);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let doc = job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None);
    dev.jobs("$next/get/accepted", &doc);
    dev.block(S, 0, 0, &data);
    dev.block(S, 0, 2, &data);
    let acts = dev.jobs("notify-next", &doc);
    assert!(
        !acts.iter().any(|a| matches!(a, Act::Create { .. })),
        "no new file: {acts:?}"
    );
    assert_eq!(stream_requests(&acts), [(1, vec![1, 3, 4, 5])]);

    let doc2 = job_doc("job2", &["MQTT"], S, &[FileSpec::signed(&data)], None);
    let acts = dev.jobs("notify-next", &doc2);
    let old = pubs(&acts, "/jobs/job1/update")[0].json();
    assert_eq!(old["status"], "FAILED");
    assert_eq!(old["statusDetails"]["reason"], "superseded: 0x00000025");
    assert!(acts.contains(&Act::Abort));
    assert!(notes(&acts).contains(&"ReceivedJob(job2,1,false)".to_string()));
    assert_eq!(stream_requests(&acts), [(0, vec![0, 1, 2, 3])]);
}

#[test]
fn cancelled_job_stops_the_download_quietly() {
    let data = image(4 * BS as usize, 8);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    let acts = dev.jobs("notify-next", br#"{"timestamp":5}"#);
    assert!(acts.contains(&Act::Abort), "{acts:?}");
    assert!(acts.contains(&Act::Unsub(format!(
        "$aws/things/{THING}/streams/{S}/data/cbor"
    ))));
    assert_eq!(notes(&acts), ["NoActiveJob"]);
    assert!(pubs(&acts, "/update").is_empty());
    assert_eq!(dev.agent.active_job(), None);
}

#[test]
fn silent_stream_exhausts_retries_and_fails_the_job_not_the_agent() {
    let data = image(2 * BS as usize, 9);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    for k in 0..3 {
        let acts = dev.fire();
        assert_eq!(stream_requests(&acts).len(), 1, "retry {k}: {acts:?}");
    }
    let acts = dev.fire();
    let v = pubs(&acts, "/jobs/job1/update")[0].json();
    assert_eq!(
        v["statusDetails"]["reason"],
        "retries exhausted: 0x0000000e"
    );
    assert_eq!(dev.agent.statistics().retries, 3);
    let acts = dev.confirm(&acts);
    assert_eq!(pubs(&acts, "/jobs/$next/get").len(), 1);
    assert_eq!(dev.agent.state(), State::WaitingForJob);
}

#[test]
fn stream_rejection_fails_the_job() {
    let data = image(2 * BS as usize, 10);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    let mut err = vec![0u8; 128];
    let n = ota_core::codec::cbor::encode_stream_error(
        &ota_core::codec::cbor::StreamError {
            code: "ResourceNotFound",
            message: Some("no such stream"),
            client_token: Some("rdy"),
        },
        &mut err,
    )
    .unwrap();
    let acts = dev.msg(
        &format!("$aws/things/{THING}/streams/{S}/rejected/cbor"),
        &err[..n],
    );
    assert_eq!(
        pubs(&acts, "/update")[0].json()["statusDetails"]["reason"],
        "stream request rejected: 0x00000007"
    );
}

#[test]
fn suspend_drops_blocks_and_resume_continues_from_the_bitmap() {
    let data = image(4 * BS as usize, 11);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let doc = job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None);
    dev.jobs("$next/get/accepted", &doc);
    dev.block(S, 0, 0, &data);
    dev.cmd(Command::Suspend);
    assert_eq!(dev.agent.state(), State::Suspended);
    assert_eq!(
        dev.agent.poll_timeout(),
        None,
        "no requests while suspended"
    );
    dev.block(S, 0, 1, &data);
    assert_eq!(dev.agent.statistics().processed, 1);
    let acts = dev.cmd(Command::Resume);
    assert_eq!(
        pubs(&acts, "/jobs/$next/get").len(),
        1,
        "resume re-reads the job"
    );
    let acts = dev.jobs("$next/get/accepted", &doc);
    assert_eq!(stream_requests(&acts), [(1, vec![1, 2, 3])]);
}

#[test]
fn link_loss_suspends_and_link_return_resubscribes() {
    let data = image(4 * BS as usize, 12);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    dev.input(Input::Link(false));
    assert_eq!(dev.agent.state(), State::Suspended);
    let acts = dev.input(Input::Link(true));
    assert!(acts.contains(&Act::Sub(format!("$aws/things/{THING}/jobs/notify-next"))));
    assert_eq!(pubs(&acts, "/jobs/$next/get").len(), 1);
    let acts = dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    assert!(
        acts.contains(&Act::Sub(format!(
            "$aws/things/{THING}/streams/{S}/data/cbor"
        ))),
        "stream re-subscribed"
    );
}

#[test]
fn self_test_accept_commits_then_reports_succeeded() {
    let data = image(BS as usize, 13);
    let mut dev = Dev::new({
        let mut c = config();
        c.version = Version::new(1, 0, 1);
        c
    });
    dev.auto_platform = true;
    dev.start(PlatformImageState::PendingCommit);
    assert_eq!(dev.agent.image_state(), ImageState::Testing);
    let doc = job_doc(
        "job1",
        &["MQTT"],
        S,
        &[FileSpec::signed(&data)],
        Some(r#"{"self_test":"ready","updatedBy":"0x01000000"}"#),
    );
    let acts = dev.jobs("$next/get/accepted", &doc);
    let active = pubs(&acts, "/jobs/job1/update")[0].json();
    assert_eq!(active["statusDetails"]["self_test"], "active");
    assert_eq!(active["statusDetails"]["updatedBy"], "0x01000000");
    assert_eq!(notes(&acts), ["StartSelfTest(job1)"]);
    let acts = dev.cmd(Command::Accept);
    assert_eq!(acts[0], Act::SetState(ImageState::Accepted), "commit first");
    let done = pubs(&acts, "/jobs/job1/update")[0].json();
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(done["statusDetails"]["reason"], "accepted v1.0.1");
    let acts = dev.confirm(&acts);
    assert_eq!(notes(&acts), ["JobFinished(job1,true)"]);
    assert_eq!(dev.agent.image_state(), ImageState::Accepted);
}

#[test]
fn self_test_same_version_or_downgrade_is_rejected_and_rolled_back() {
    for (updated_by, reason) in [
        ("0x01000000", "same version: 0x00000010"),
        ("0x02000000", "downgrade refused: 0x0000000f"),
    ] {
        let data = image(BS as usize, 14);
        let mut dev = Dev::auto();
        dev.start(PlatformImageState::PendingCommit);
        let details = format!(r#"{{"self_test":"ready","updatedBy":"{updated_by}"}}"#);
        let doc = job_doc(
            "job1",
            &["MQTT"],
            S,
            &[FileSpec::signed(&data)],
            Some(&details),
        );
        let acts = dev.jobs("$next/get/accepted", &doc);
        assert!(acts.contains(&Act::SetState(ImageState::Rejected)));
        assert!(notes(&acts)[0].starts_with("SelfTestFailed(job1"));
        let v = pubs(&acts, "/jobs/job1/update")[0].json();
        assert_eq!(
            (v["status"].as_str(), v["statusDetails"]["reason"].as_str()),
            (Some("FAILED"), Some(reason))
        );
        assert!(
            !acts.contains(&Act::Reset),
            "reset only after the FAILED status is confirmed"
        );
        let acts = dev.confirm(&acts);
        assert_eq!(acts.last(), Some(&Act::Reset));
    }
}

#[test]
fn self_test_timeout_rolls_back_even_without_network() {
    let data = image(BS as usize, 15);
    let mut dev = Dev::new({
        let mut c = config();
        c.version = Version::new(1, 0, 1);
        c
    });
    dev.auto_platform = true;
    dev.start(PlatformImageState::PendingCommit);
    let doc = job_doc(
        "job1",
        &["MQTT"],
        S,
        &[FileSpec::signed(&data)],
        Some(r#"{"self_test":"ready","updatedBy":"0x01000000"}"#),
    );
    dev.jobs("$next/get/accepted", &doc);
    dev.input(Input::Link(false));
    let acts = dev.advance(120_000);
    assert!(
        acts.contains(&Act::SetState(ImageState::Rejected)),
        "{acts:?}"
    );
    // Nobody confirms (no network): after the status retries the device resets anyway.
    let mut all = Vec::new();
    for _ in 0..6 {
        if dev.agent.poll_timeout().is_none() {
            break;
        }
        all.extend(dev.fire());
    }
    assert_eq!(all.last(), Some(&Act::Reset));
}

#[test]
fn pending_commit_with_no_self_test_job_rolls_back() {
    let data = image(BS as usize, 16);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::PendingCommit);
    let acts = dev.jobs(
        "$next/get/accepted",
        &job_doc("other", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    assert!(notes(&acts)[0].starts_with("SelfTestFailed("), "{acts:?}");
    assert!(acts.contains(&Act::SetState(ImageState::Rejected)));
    assert_eq!(acts.last(), Some(&Act::Reset));
}

#[test]
fn self_test_job_after_reboot_on_a_committed_platform_is_concluded_from_the_version() {
    let data = image(BS as usize, 17);
    let details = Some(r#"{"self_test":"active","updatedBy":"0x01000000"}"#);
    // Newer than updatedBy: the image was committed before power was lost. SUCCEEDED again.
    let mut dev = Dev::new({
        let mut c = config();
        c.version = Version::new(1, 0, 1);
        c
    });
    dev.auto_platform = true;
    dev.start(PlatformImageState::Valid);
    let acts = dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], details),
    );
    assert_eq!(pubs(&acts, "/update")[0].json()["status"], "SUCCEEDED");
    // Same as updatedBy: the bootloader reverted. FAILED, rolled back.
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let acts = dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], details),
    );
    let v = pubs(&acts, "/update")[0].json();
    assert_eq!(
        (v["status"].as_str(), v["statusDetails"]["reason"].as_str()),
        (Some("FAILED"), Some("rolled back: 0x00000022"))
    );
}

#[test]
fn allow_downgrade_skips_the_version_rule() {
    let data = image(BS as usize, 18);
    let mut dev = Dev::new({
        let mut c = config();
        c.allow_downgrade = true;
        c
    });
    dev.auto_platform = true;
    dev.start(PlatformImageState::PendingCommit);
    let doc = job_doc(
        "job1",
        &["MQTT"],
        S,
        &[FileSpec::signed(&data)],
        Some(r#"{"self_test":"ready","updatedBy":"0x02000000"}"#),
    );
    let acts = dev.jobs("$next/get/accepted", &doc);
    assert_eq!(notes(&acts), ["StartSelfTest(job1)"]);
}

#[test]
fn reject_command_reports_failed_then_resets() {
    let data = image(BS as usize, 19);
    let mut dev = Dev::new({
        let mut c = config();
        c.version = Version::new(1, 0, 1);
        c
    });
    dev.auto_platform = true;
    dev.start(PlatformImageState::PendingCommit);
    let doc = job_doc(
        "job1",
        &["MQTT"],
        S,
        &[FileSpec::signed(&data)],
        Some(r#"{"self_test":"ready","updatedBy":"0x01000000"}"#),
    );
    dev.jobs("$next/get/accepted", &doc);
    let acts = dev.cmd(Command::Reject);
    assert_eq!(
        pubs(&acts, "/update")[0].json()["statusDetails"]["reason"],
        "rejected: 0x00000020"
    );
    let acts = dev.confirm(&acts);
    assert_eq!(acts.last(), Some(&Act::Reset));
}

#[test]
fn abort_command_reports_failed() {
    let data = image(4 * BS as usize, 20);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    let acts = dev.cmd(Command::Abort);
    assert!(acts.contains(&Act::Abort));
    assert_eq!(
        pubs(&acts, "/update")[0].json()["statusDetails"]["reason"],
        "aborted: 0x00000013"
    );
    assert!(notes(&acts).contains(&"Failed(job1,aborted by the application)".to_string()));
}

#[test]
fn custom_jobs_are_offered_claimed_declined_or_timed_out() {
    let doc = br#"{"execution":{"jobId":"cfg-7","status":"QUEUED","jobDocument":{"operation":"reboot"}}}"#;
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let acts = dev.jobs("$next/get/accepted", doc);
    assert_eq!(notes(&acts), [r#"CustomJob(cfg-7,{"operation":"reboot"})"#]);
    let acts = dev.cmd(Command::ClaimCustomJob);
    assert!(acts.is_empty(), "the application owns it now: {acts:?}");

    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs("$next/get/accepted", doc);
    let acts = dev.cmd(Command::DeclineCustomJob);
    assert_eq!(
        pubs(&acts, "/jobs/cfg-7/update")[0].json()["statusDetails"]["reason"],
        "unsupported job: 0x00000024"
    );

    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs("$next/get/accepted", doc);
    let acts = dev.fire();
    assert_eq!(
        pubs(&acts, "/jobs/cfg-7/update")[0].json()["status"],
        "FAILED"
    );
}

#[test]
fn multi_file_job_stores_data_files_first_and_firmware_last() {
    let fw = image(2 * BS as usize, 21);
    let cfgfile = image(BS as usize + 10, 22);
    let mut f0 = FileSpec::signed(&fw);
    f0.file_id = 0;
    let mut f1 = FileSpec::signed(&cfgfile);
    f1.file_id = 1;
    f1.file_type = 7;
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let acts = dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[f0, f1], None),
    );
    assert!(notes(&acts).contains(&"ReceivedJob(job1,2,false)".to_string()));
    assert!(
        acts.iter().any(|a| matches!(
            a,
            Act::Create {
                index: 1,
                firmware: false,
                ..
            }
        )),
        "data file first"
    );
    dev.block(S, 1, 0, &cfgfile);
    let acts = dev.block(S, 1, 1, &cfgfile);
    assert!(acts.contains(&Act::Close));
    assert!(notes(&acts).contains(&"FileComplete(job1,1,7)".to_string()));
    assert_eq!(dev.files_done, std::slice::from_ref(&cfgfile));
    assert!(acts.iter().any(|a| matches!(
        a,
        Act::Create {
            index: 0,
            firmware: true,
            ..
        }
    )));
    let st = pubs(&acts, "/update").last().unwrap().json();
    assert_eq!(st["statusDetails"]["file"], "2/2");
    dev.block(S, 0, 0, &fw);
    let acts = dev.block(S, 0, 1, &fw);
    assert_eq!(
        pubs(&acts, "/update").last().unwrap().json()["statusDetails"]["self_test"],
        "ready"
    );
}

#[test]
fn data_only_job_succeeds_without_activation() {
    let cfgfile = image(BS as usize, 23);
    let mut f = FileSpec::signed(&cfgfile);
    f.file_type = 3;
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[f], None),
    );
    let acts = dev.block(S, 0, 0, &cfgfile);
    let v = pubs(&acts, "/update").last().unwrap().json();
    assert_eq!(v["status"], "SUCCEEDED");
    let acts = dev.confirm(&acts);
    assert_eq!(notes(&acts), ["JobFinished(job1,true)"]);
    assert!(!dev.log.contains(&Act::Activate));
}

#[test]
fn resume_record_lets_a_rebooted_agent_fetch_only_missing_blocks() {
    let data = image(8 * BS as usize, 24);
    let doc = job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs("$next/get/accepted", &doc);
    for i in [0, 1, 2, 5] {
        dev.block(S, 0, i, &data);
    }
    let record = dev.persisted.clone().expect("a resume record");
    let stored = std::mem::take(&mut dev.file);
    // "Reboot": a new agent, the platform's persisted record and file.
    let mut dev2 = Dev::auto();
    dev2.persisted = Some(record);
    dev2.file = stored;
    dev2.start(PlatformImageState::Valid);
    let acts = dev2.jobs("$next/get/accepted", &doc);
    assert!(notes(&acts).contains(&"ReceivedJob(job1,1,true)".to_string()));
    assert!(
        acts.iter()
            .any(|a| matches!(a, Act::Create { resume: true, .. }))
    );
    // Records are persisted every 2 blocks: 0,1,2,5 stored -> the record has 0,1,2,5 (4 blocks).
    assert_eq!(stream_requests(&acts), [(3, vec![3, 4, 6, 7])]);
    for i in [3, 4, 6, 7] {
        dev2.block(S, 0, i, &data);
    }
    assert_eq!(dev2.file, data);
    assert!(
        dev2.log
            .iter()
            .any(|a| a.is_pub_to("/update") && a.json()["statusDetails"]["self_test"] == "ready")
    );
}

#[test]
fn shutdown_unsubscribes_and_start_works_again() {
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let acts = dev.cmd(Command::Shutdown);
    assert_eq!(
        acts.iter().filter(|a| matches!(a, Act::Unsub(_))).count(),
        3
    );
    assert_eq!(dev.agent.state(), State::Stopped);
    assert_eq!(dev.agent.poll_timeout(), None);
    let acts = dev.start(PlatformImageState::Valid);
    assert_eq!(pubs(&acts, "/jobs/$next/get").len(), 1);
}

#[test]
fn terminal_rejection_of_a_progress_update_means_the_job_is_gone() {
    let data = image(4 * BS as usize, 25);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    let acts = dev.jobs(
        "job1/update/rejected",
        br#"{"code":"TerminalStateReached","message":"canceled","clientToken":"ota-9"}"#,
    );
    assert!(acts.contains(&Act::Abort));
    assert_eq!(pubs(&acts, "/jobs/$next/get").len(), 1);
}

#[test]
fn foreign_topics_and_other_things_are_ignored() {
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let doc = job_doc(
        "job1",
        &["MQTT"],
        S,
        &[FileSpec::signed(&image(100, 1))],
        None,
    );
    for t in [
        "$aws/things/dev2/jobs/notify-next",
        "sensors/temp",
        "$aws/things/dev1/jobs/notify",
        "$aws/things/dev1x/jobs/notify-next",
    ] {
        assert!(dev.msg(t, &doc).is_empty(), "{t}");
    }
}

// ---------------------------------------------------------------- HTTP

fn http_job(job: &str, data: &[u8], url: &str) -> Vec<u8> {
    let mut f = FileSpec::signed(data);
    f.url = Some(url.into());
    job_doc(job, &["HTTP"], "", &[f], None)
}

/// Answers the last HttpGet in `acts` from `data` with a 206 in chunks of `chunk` bytes.
fn serve(dev: &mut Dev, acts: &[Act], data: &[u8], chunk: usize) -> Vec<Act> {
    let (first, last) = acts
        .iter()
        .rev()
        .find_map(|a| {
            if let Act::Http { first, last, .. } = a {
                Some((*first, *last))
            } else {
                None
            }
        })
        .expect("an HTTP request");
    let cr = ota_core::codec::http::ContentRange {
        first,
        last,
        complete: Some(data.len() as u32),
    };
    let mut out = dev.input(Input::HttpResponse {
        status: 206,
        content_range: Some(cr),
    });
    for c in data[first as usize..=last as usize].chunks(chunk) {
        out.extend(dev.input(Input::HttpBody(c)));
    }
    out.extend(dev.input(Input::HttpDone));
    out
}

#[test]
fn http_download_in_multi_block_ranges_with_odd_chunks() {
    let data = image(20 * BS as usize + 77, 30);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    // `\u0026` as AWS escapes `&` in URLs: the request carries the unescaped URL.
    let doc = http_job(
        "job1",
        &data,
        "https://s3.example/fw.bin?X-Amz-Expires=60\\u0026X-Amz-Signature=ab",
    );
    let doc = String::from_utf8(doc)
        .unwrap()
        .replace("\\\\u0026", "\\u0026")
        .into_bytes();
    let mut acts = dev.jobs("$next/get/accepted", &doc);
    let Some(Act::Http {
        url,
        first: 0,
        last,
    }) = acts.iter().find(|a| matches!(a, Act::Http { .. })).cloned()
    else {
        panic!("{acts:?}")
    };
    assert_eq!(
        url,
        "https://s3.example/fw.bin?X-Amz-Expires=60&X-Amz-Signature=ab"
    );
    assert_eq!(last, 16 * BS - 1, "16 blocks per range by default");
    for _ in 0..2 {
        acts = serve(&mut dev, &acts, &data, 700);
    }
    assert_eq!(dev.file, data);
    assert_eq!(
        pubs(&acts, "/update").last().unwrap().json()["statusDetails"]["self_test"],
        "ready"
    );
}

#[test]
fn http_403_refreshes_the_url_through_the_job_document_and_keeps_blocks() {
    let data = image(40 * BS as usize, 31);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let acts = dev.jobs(
        "$next/get/accepted",
        &http_job("job1", &data, "http://h/a?sig=1"),
    );
    serve(&mut dev, &acts, &data, 1024);
    let processed = dev.agent.statistics().processed;
    assert_eq!(processed, 16);
    // The next range: the URL expired.
    let acts = dev.input(Input::HttpResponse {
        status: 403,
        content_range: None,
    });
    assert!(acts.contains(&Act::HttpCancel));
    assert_eq!(pubs(&acts, "/jobs/$next/get").len(), 1);
    let acts = dev.jobs(
        "$next/get/accepted",
        &http_job("job1", &data, "http://h/a?sig=2"),
    );
    let Some(Act::Http { url, first, .. }) =
        acts.iter().find(|a| matches!(a, Act::Http { .. })).cloned()
    else {
        panic!("{acts:?}")
    };
    assert_eq!((url.as_str(), first), ("http://h/a?sig=2", 16 * BS));
    let mut acts = serve(&mut dev, &acts, &data, 1024);
    acts = serve(&mut dev, &acts, &data, 1024);
    let _ = acts;
    assert_eq!(dev.file, data);
}

#[test]
fn http_200_ignoring_the_range_is_used_and_a_bad_content_range_fails() {
    let data = image(3 * BS as usize, 32);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs("$next/get/accepted", &http_job("job1", &data, "http://h/f"));
    let mut acts = dev.input(Input::HttpResponse {
        status: 200,
        content_range: None,
    });
    for c in data.chunks(1000) {
        acts.extend(dev.input(Input::HttpBody(c)));
    }
    acts.extend(dev.input(Input::HttpDone));
    assert_eq!(dev.file, data);
    assert_eq!(
        pubs(&acts, "/update").last().unwrap().json()["statusDetails"]["self_test"],
        "ready"
    );

    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs("$next/get/accepted", &http_job("job1", &data, "http://h/f"));
    let cr = ota_core::codec::http::ContentRange {
        first: 5,
        last: 10,
        complete: Some(data.len() as u32),
    };
    let acts = dev.input(Input::HttpResponse {
        status: 206,
        content_range: Some(cr),
    });
    assert_eq!(pubs(&acts, "/update")[0].json()["status"], "FAILED");
}

#[test]
fn http_failures_retry_then_fail() {
    let data = image(2 * BS as usize, 33);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs("$next/get/accepted", &http_job("job1", &data, "http://h/f"));
    for _ in 0..3 {
        let acts = dev.input(Input::HttpFailed);
        assert_eq!(
            acts.iter()
                .filter(|a| matches!(a, Act::Http { .. }))
                .count(),
            1
        );
    }
    let acts = dev.input(Input::HttpFailed);
    assert_eq!(
        pubs(&acts, "/update")[0].json()["statusDetails"]["reason"],
        "retries exhausted: 0x0000000e"
    );
}

#[test]
fn platform_failures_fail_the_job() {
    let data = image(2 * BS as usize, 34);
    let mut dev = Dev::new(config());
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    let acts = dev.input(Input::PlatformDone(Err(PalError::TooLarge)));
    let v = pubs(&acts, "/update")[0].json();
    assert_eq!(v["statusDetails"]["reason"], "platform error: 0x000000e5");
    assert_eq!(
        dev.agent.handle(dev.t(), Input::PlatformDone(Ok(()))),
        Err(UsageError::UnexpectedPlatformResult)
    );
}

#[test]
fn statistics_and_state_after_download() {
    let data = image(3 * BS as usize, 35);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    download(&mut dev, "job1", &data);
    let s = dev.agent.statistics();
    assert_eq!(s.processed, 3);
    assert_eq!(s.requests, 1);
}

#[test]
fn a_slow_flash_write_does_not_stall_the_download() {
    let data = image(8 * BS as usize, 36);
    let mut dev = Dev::new(config());
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    dev.done(); // FileCreate
    let acts = dev.block(S, 0, 0, &data);
    assert!(acts.iter().any(|a| matches!(a, Act::Write { .. })));
    // The write takes longer than the request timeout.
    let acts = dev.fire();
    assert!(
        stream_requests(&acts).is_empty(),
        "no retry while the flash is busy: {acts:?}"
    );
    let deadline = dev
        .agent
        .poll_timeout()
        .expect("still a deadline while the write is pending");
    assert!(deadline.as_millis() > dev.now);
    dev.done();
    // With the write done and the rest of the window lost, the timer asks again.
    let acts = dev.fire();
    assert_eq!(stream_requests(&acts), [(1, vec![1, 2, 3, 4])]);
}

#[test]
fn pending_commit_with_no_job_at_all_rolls_back_at_the_self_test_deadline() {
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::PendingCommit);
    dev.jobs("$next/get/accepted", &no_job());
    let acts = dev.advance(120_000);
    assert_eq!(notes(&acts), ["SelfTestFailed(,self-test timed out)"]);
    assert!(acts.contains(&Act::SetState(ImageState::Rejected)));
    assert_eq!(acts.last(), Some(&Act::Reset));
}

// Findings of the agent fuzzer (fuzz/README.md, F1–F4), kept as transcripts.

#[test]
fn refreshed_document_without_a_url_fails_the_job_instead_of_requesting_nothing() {
    let data = image(20 * BS as usize, 40);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &http_job("job1", &data, "http://h/a?sig=1"),
    );
    dev.input(Input::HttpResponse {
        status: 403,
        content_range: None,
    });
    let mut f = FileSpec::signed(&data);
    f.url = None;
    let acts = dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["HTTP"], "", &[f], None),
    );
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Act::Http { url, .. } if url.is_empty())),
        "{acts:?}"
    );
    assert_eq!(pubs(&acts, "/update")[0].json()["status"], "FAILED");
}

#[test]
fn an_empty_http_chunk_writes_nothing() {
    let data = image(4 * BS as usize, 41);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs("$next/get/accepted", &http_job("job1", &data, "http://h/f"));
    let cr = ota_core::codec::http::ContentRange {
        first: 0,
        last: data.len() as u32 - 1,
        complete: Some(data.len() as u32),
    };
    dev.input(Input::HttpResponse {
        status: 206,
        content_range: Some(cr),
    });
    let acts = dev.input(Input::HttpBody(&[]));
    assert!(acts.is_empty(), "{acts:?}");
    assert_eq!(dev.agent.statistics().queued, 0);
}

#[test]
fn a_new_document_of_another_kind_under_the_active_id_stops_the_download() {
    let data = image(20 * BS as usize, 42);
    // A custom document under the same id.
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs("$next/get/accepted", &http_job("job1", &data, "http://h/f"));
    let acts = dev.jobs(
        "notify-next",
        br#"{"execution":{"jobId":"job1","status":"IN_PROGRESS","jobDocument":{"operation":"x"}}}"#,
    );
    assert!(
        acts.contains(&Act::HttpCancel) && acts.contains(&Act::Abort),
        "{acts:?}"
    );
    assert!(notes(&acts).iter().any(|n| n.starts_with("CustomJob(job1")));
    // A broken afr_ota under the same id: FAILED, and nothing more is written.
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs("$next/get/accepted", &http_job("job1", &data, "http://h/f"));
    let acts = dev.jobs(
        "notify-next",
        br#"{"execution":{"jobId":"job1","status":"IN_PROGRESS","jobDocument":{"afr_ota":{"protocols":["HTTP"],"files":[]}}}}"#,
    );
    assert!(
        acts.contains(&Act::HttpCancel) && acts.contains(&Act::Abort),
        "{acts:?}"
    );
    assert_eq!(pubs(&acts, "/update")[0].json()["status"], "FAILED");
    let cr = ota_core::codec::http::ContentRange {
        first: 0,
        last: 16 * BS - 1,
        complete: Some(data.len() as u32),
    };
    let mut late = dev.input(Input::HttpResponse {
        status: 206,
        content_range: Some(cr),
    });
    late.extend(dev.input(Input::HttpBody(&data[..1000])));
    assert!(
        !late.iter().any(|a| matches!(a, Act::Write { .. })),
        "{late:?}"
    );
}

/// The blocks 0..n as GetStream request contents.
fn ids(r: std::ops::Range<u32>) -> Vec<u32> {
    r.collect()
}

#[test]
fn a_second_window_is_requested_when_half_of_the_first_has_arrived() {
    let data = image(12 * BS as usize, 7);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    let acts = dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    assert_eq!(stream_requests(&acts), [(0, ids(0..4))]);
    // Block 0 stored: 3 of 4 still missing, nothing yet.
    assert_eq!(stream_requests(&dev.block(S, 0, 0, &data)), []);
    // Block 1 stored: half the window is in, the next one is asked for now.
    assert_eq!(
        stream_requests(&dev.block(S, 0, 1, &data)),
        [(4, ids(4..8))]
    );
    // Two requests are in flight: no third while the first window finishes.
    assert_eq!(stream_requests(&dev.block(S, 0, 2, &data)), []);
    assert_eq!(stream_requests(&dev.block(S, 0, 3, &data)), []);
    // The second window is being served; half of it asks for the last one.
    assert_eq!(stream_requests(&dev.block(S, 0, 4, &data)), []);
    assert_eq!(
        stream_requests(&dev.block(S, 0, 5, &data)),
        [(8, ids(8..12))]
    );
    let mut acts = Vec::new();
    for i in 6..12 {
        acts.extend(dev.block(S, 0, i, &data));
    }
    assert_eq!(stream_requests(&acts), [], "nothing is left to ask for");
    assert_eq!(dev.file, data);
    assert_eq!(dev.agent.statistics().requests, 3);
    // The last block's progress (12 is a multiple of status_every) is reported once.
    let finals = pubs(&acts, "/jobs/job1/update")
        .iter()
        .filter(|p| p.json()["statusDetails"]["receive"] == "12/12")
        .count();
    assert_eq!(finals, 1);
}

#[test]
fn a_window_sent_ahead_that_arrives_first_is_not_asked_for_again() {
    let data = image(12 * BS as usize, 8);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    dev.block(S, 0, 0, &data);
    dev.block(S, 0, 1, &data);
    // The second window overtakes the first's tail.
    let mut acts = Vec::new();
    for i in 4..8 {
        acts.extend(dev.block(S, 0, i, &data));
    }
    assert_eq!(stream_requests(&acts), []);
    // The first window completes: the second is done too, so the rest is asked for.
    dev.block(S, 0, 2, &data);
    assert_eq!(
        stream_requests(&dev.block(S, 0, 3, &data)),
        [(8, ids(8..12))]
    );
}

#[test]
fn a_silent_stream_retries_from_the_first_missing_block_with_one_request() {
    let data = image(12 * BS as usize, 9);
    let mut dev = Dev::auto();
    dev.start(PlatformImageState::Valid);
    dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    dev.block(S, 0, 0, &data);
    dev.block(S, 0, 1, &data); // the request ahead for 4..8 goes out
    dev.block(S, 0, 3, &data);
    // Nothing more arrives: the retry asks from block 2, one window, nothing ahead.
    let acts = dev.fire();
    assert_eq!(stream_requests(&acts), [(2, vec![2, 4, 5, 6])]);
    // The request ahead is forgotten: storing half of the retried window asks again.
    assert_eq!(stream_requests(&dev.block(S, 0, 2, &data)), []);
    assert_eq!(
        stream_requests(&dev.block(S, 0, 4, &data)),
        [(7, ids(7..11))]
    );
}

#[test]
fn without_request_ahead_one_window_at_a_time() {
    let data = image(8 * BS as usize, 10);
    let mut cfg = config();
    cfg.request_ahead = false;
    let mut dev = Dev::new(cfg);
    dev.auto_platform = true;
    dev.start(PlatformImageState::Valid);
    let acts = dev.jobs(
        "$next/get/accepted",
        &job_doc("job1", &["MQTT"], S, &[FileSpec::signed(&data)], None),
    );
    assert_eq!(stream_requests(&acts), [(0, ids(0..4))]);
    for i in 0..3 {
        assert_eq!(stream_requests(&dev.block(S, 0, i, &data)), []);
    }
    assert_eq!(
        stream_requests(&dev.block(S, 0, 3, &data)),
        [(4, ids(4..8))]
    );
}
