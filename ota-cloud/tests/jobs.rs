//! Jobs MQTT API transcripts: notify-next, $next/get, updates, rejections, cancel.

mod common;

use common::{json, text_of};
use ota_cloud::{
    ChangeSource, Cloud, CloudConfig, CloudError, Handled, JobExecutionStatus, JobStatus,
    StatusDetailsMode, topics,
};
use serde_json::{Value, json};

fn doc(n: u32) -> Value {
    json!({"afr_ota": {"protocols": ["MQTT"], "streamname": format!("s{n}"),
        "files": [{"filepath": "/fw", "filesize": 1000 + n, "fileid": 0}]}})
}

fn cloud() -> Cloud {
    Cloud::new(CloudConfig::default())
}

fn publish(cloud: &mut Cloud, now_ms: u64, topic: &str, payload: &str) -> Value {
    assert_eq!(
        cloud.handle_publish(now_ms, topic, payload.as_bytes()),
        Handled::Jobs
    );
    let out = cloud.poll().expect("a reply");
    let reply = json(&out);
    let ok = out.topic == topics::accepted(topic);
    let rejected = out.topic == topics::rejected(topic);
    assert!(ok || rejected, "reply on {}", out.topic);
    let mut reply = reply;
    reply["_accepted"] = Value::Bool(ok);
    reply
}

fn update(cloud: &mut Cloud, now_ms: u64, thing: &str, job: &str, payload: &str) -> Value {
    publish(cloud, now_ms, &topics::job_update(thing, job), payload)
}

fn assert_rejected(reply: &Value, code: &str) {
    assert_eq!(reply["_accepted"], false, "expected rejection: {reply}");
    assert_eq!(reply["code"], code, "{reply}");
    assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(reply["timestamp"].is_u64());
}

#[test]
fn full_transcript_two_jobs() {
    let mut c = cloud();
    c.create_job(1_000, "job1", ["dev1"], doc(1)).unwrap();
    let n = c.poll().expect("notify-next for the first job");
    assert_eq!(n.topic, "$aws/things/dev1/jobs/notify-next");
    assert_eq!(
        json(&n),
        json!({"timestamp": 1, "execution": {"jobId": "job1", "status": "QUEUED", "queuedAt": 1,
            "lastUpdatedAt": 1, "versionNumber": 1, "executionNumber": 1, "jobDocument": doc(1)}})
    );
    assert!(c.poll().is_none());

    // $next/get answers with the pending execution and echoes the client token.
    let reply = publish(
        &mut c,
        2_500,
        &topics::next_get("dev1"),
        r#"{"clientToken":"0:dev1"}"#,
    );
    assert_eq!(reply["_accepted"], true);
    assert_eq!(reply["clientToken"], "0:dev1");
    assert_eq!(reply["timestamp"], 2);
    assert_eq!(reply["execution"]["jobId"], "job1");
    assert_eq!(reply["execution"]["thingName"], "dev1");
    assert_eq!(reply["execution"]["status"], "QUEUED");
    assert_eq!(reply["execution"]["jobDocument"], doc(1));

    // A second job does not change the next pending execution: no notify-next.
    c.create_job(3_000, "job2", ["dev1"], doc(2)).unwrap();
    assert!(c.poll().is_none());

    let r = update(
        &mut c,
        4_000,
        "dev1",
        "job1",
        r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"1/10"},"clientToken":"t1"}"#,
    );
    assert_eq!(
        r,
        json!({"timestamp": 4, "clientToken": "t1", "_accepted": true})
    );
    assert!(c.poll().is_none(), "same next job: no notify-next");
    let e = c.execution("dev1", "job1").unwrap();
    assert_eq!(e.status, JobExecutionStatus::InProgress);
    assert_eq!(e.version_number, 2);
    assert_eq!(e.started_at, Some(4));
    assert_eq!(e.last_updated_at, 4);

    // $next/get now shows IN_PROGRESS with details and startedAt.
    let reply = publish(&mut c, 4_500, &topics::next_get("dev1"), "{}");
    assert_eq!(reply["execution"]["status"], "IN_PROGRESS");
    assert_eq!(
        reply["execution"]["statusDetails"],
        json!({"receive": "1/10"})
    );
    assert_eq!(reply["execution"]["startedAt"], 4);
    assert_eq!(reply["execution"]["versionNumber"], 2);
    assert!(reply.get("clientToken").is_none());

    let r = update(
        &mut c,
        5_000,
        "dev1",
        "job1",
        r#"{"status":"SUCCEEDED","statusDetails":{"reason":"accepted  v1.0.1","updatedBy":"  v1.0.0"}}"#,
    );
    assert_eq!(r["_accepted"], true);
    let n = c.poll().expect("notify-next with job2");
    assert_eq!(n.topic, topics::notify_next("dev1"));
    let n = json(&n);
    assert_eq!(n["execution"]["jobId"], "job2");
    assert_eq!(n["execution"]["status"], "QUEUED");
    assert_eq!(n["execution"]["queuedAt"], 3);
    assert_eq!(n["execution"]["jobDocument"], doc(2));
    assert!(n["execution"].get("thingName").is_none());

    let r = update(
        &mut c,
        6_000,
        "dev1",
        "job2",
        r#"{"status":"FAILED","statusDetails":{"reason":"0x0000000c: 0x00000004"}}"#,
    );
    assert_eq!(r["_accepted"], true);
    let n = c.poll().expect("notify-next without execution");
    assert_eq!(text_of(&n), r#"{"timestamp":6}"#);

    let reply = publish(
        &mut c,
        7_000,
        &topics::next_get("dev1"),
        r#"{"clientToken":"x"}"#,
    );
    assert_eq!(
        reply,
        json!({"clientToken": "x", "timestamp": 7, "_accepted": true})
    );

    // History of every accepted change.
    let h = c.execution_history("dev1", "job1");
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].status, JobExecutionStatus::InProgress);
    assert_eq!(h[0].at_ms, 4_000);
    assert_eq!(h[0].status_details["receive"], "1/10");
    assert_eq!(h[0].version_number, 2);
    assert_eq!(h[0].source, ChangeSource::Device);
    assert_eq!(h[1].status, JobExecutionStatus::Succeeded);
    assert_eq!(h[1].status_details["reason"], "accepted  v1.0.1");
    assert!(
        !h[1].status_details.contains_key("receive"),
        "details replace by default"
    );
    assert_eq!(
        c.execution_status("dev1", "job2"),
        Some(JobExecutionStatus::Failed)
    );
    assert_eq!(c.job_status("job1"), Some(JobStatus::Completed));
    assert_eq!(c.next_pending_job("dev1"), None);
    assert!(c.execution_history("dev1", "nope").is_empty());
}

#[test]
fn in_progress_comes_before_older_queued() {
    let mut c = cloud();
    c.create_job(0, "a", ["d"], doc(1)).unwrap();
    c.create_job(0, "b", ["d"], doc(2)).unwrap();
    let _ = c.drain();
    assert_eq!(c.next_pending_job("d"), Some("a"));
    // Starting b (allowed: a device may pick any queued job) makes it the next one.
    let r = update(&mut c, 1_000, "d", "b", r#"{"status":"IN_PROGRESS"}"#);
    assert_eq!(r["_accepted"], true);
    let n = json(&c.poll().expect("next changed from a to b"));
    assert_eq!(n["execution"]["jobId"], "b");
    assert_eq!(n["execution"]["status"], "IN_PROGRESS");
    assert_eq!(c.next_pending_job("d"), Some("b"));
}

#[test]
fn several_things_at_once() {
    let mut c = cloud();
    c.create_job(0, "j", ["d1", "d2", "d3", "d2"], doc(1))
        .unwrap();
    let out = c.drain();
    let things: Vec<_> = out
        .iter()
        .map(|o| o.thing_name().unwrap().to_owned())
        .collect();
    assert_eq!(things, ["d1", "d2", "d3"]);
    update(&mut c, 1_000, "d2", "j", r#"{"status":"SUCCEEDED"}"#);
    let n = c.poll().unwrap();
    assert_eq!(n.topic, topics::notify_next("d2"));
    assert_eq!(
        c.execution_status("d1", "j"),
        Some(JobExecutionStatus::Queued)
    );
    assert_eq!(c.job_status("j"), Some(JobStatus::InProgress));
    assert_eq!(c.executions_of("d2").len(), 1);
}

#[test]
fn update_rejections_each_with_their_code() {
    let mut c = cloud();
    c.create_job(0, "job1", ["dev1"], doc(1)).unwrap();
    c.create_job(0, "other", ["dev2"], doc(2)).unwrap();
    let _ = c.drain();

    let r = update(&mut c, 1_000, "dev1", "job1", "{not json");
    assert_rejected(&r, "InvalidJson");
    assert!(r.get("clientToken").is_none());

    let r = update(&mut c, 1_000, "dev1", "job1", "[1]");
    assert_rejected(&r, "InvalidRequest");

    let r = update(&mut c, 1_000, "dev1", "job1", r#"{"clientToken":"tok"}"#);
    assert_rejected(&r, "InvalidRequest");
    assert_eq!(r["clientToken"], "tok");

    for bad in [
        r#"{"status":"DONE"}"#,
        r#"{"status":"QUEUED"}"#,
        r#"{"status":"CANCELED"}"#,
        r#"{"status":3}"#,
        r#"{"status":"IN_PROGRESS","expectedVersion":"1"}"#,
        r#"{"status":"IN_PROGRESS","expectedVersion":-1}"#,
        r#"{"status":"IN_PROGRESS","includeJobDocument":"yes"}"#,
        r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":1.5}"#,
        r#"{"status":"IN_PROGRESS","statusDetails":"x"}"#,
        r#"{"status":"IN_PROGRESS","statusDetails":{"a":1}}"#,
        r#"{"status":"IN_PROGRESS","statusDetails":{"a":""}}"#,
        r#"{"status":"IN_PROGRESS","statusDetails":{"a b":"v"}}"#,
        r#"{"status":"IN_PROGRESS","statusDetails":{"a":"line\nbreak"}}"#,
        r#"{"status":"IN_PROGRESS","statusDetails":{"a":"v"},"clientToken":""}"#,
        r#"{"status":"IN_PROGRESS","clientToken":7}"#,
    ] {
        let r = update(&mut c, 1_000, "dev1", "job1", bad);
        assert_rejected(&r, "InvalidRequest");
    }
    let long_token = "t".repeat(65);
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "job1",
        &format!(r#"{{"status":"IN_PROGRESS","clientToken":"{long_token}"}}"#),
    );
    assert_rejected(&r, "InvalidRequest");
    assert!(
        r.get("clientToken").is_none(),
        "an invalid token is not echoed"
    );

    // statusDetails: 10 entries pass, 11 do not; 128-character keys and 1024-character values pass.
    let ten: serde_json::Map<String, Value> =
        (0..10).map(|i| (format!("k{i}"), json!("v"))).collect();
    let mut eleven = ten.clone();
    eleven.insert("k10".into(), json!("v"));
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "job1",
        &json!({"status": "IN_PROGRESS", "statusDetails": eleven}).to_string(),
    );
    assert_rejected(&r, "InvalidRequest");
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "job1",
        &json!({"status": "IN_PROGRESS", "statusDetails": {"k".repeat(129): "v"}}).to_string(),
    );
    assert_rejected(&r, "InvalidRequest");
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "job1",
        &json!({"status": "IN_PROGRESS", "statusDetails": {"k": "v".repeat(1025)}}).to_string(),
    );
    assert_rejected(&r, "InvalidRequest");
    assert_eq!(
        c.execution("dev1", "job1").unwrap().version_number,
        1,
        "rejections change nothing"
    );
    assert!(c.execution_history("dev1", "job1").is_empty());

    let r = update(
        &mut c,
        1_000,
        "dev1",
        "job1",
        &json!({"status": "IN_PROGRESS", "statusDetails": {"k".repeat(128): "v".repeat(1024)}})
            .to_string(),
    );
    assert_eq!(r["_accepted"], true);
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "job1",
        &json!({"status": "IN_PROGRESS", "statusDetails": ten}).to_string(),
    );
    assert_eq!(r["_accepted"], true);

    // Unknown job; a job that does not target this thing.
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "nope",
        r#"{"status":"IN_PROGRESS","clientToken":"a"}"#,
    );
    assert_rejected(&r, "ResourceNotFound");
    assert_eq!(r["clientToken"], "a");
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "other",
        r#"{"status":"IN_PROGRESS"}"#,
    );
    assert_rejected(&r, "ResourceNotFound");
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "job1",
        r#"{"status":"IN_PROGRESS","executionNumber":2}"#,
    );
    assert_rejected(&r, "ResourceNotFound");

    // expectedVersion.
    let version = c.execution("dev1", "job1").unwrap().version_number;
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "job1",
        &format!(
            r#"{{"status":"IN_PROGRESS","expectedVersion":{}}}"#,
            version + 5
        ),
    );
    assert_rejected(&r, "VersionMismatch");
    assert_eq!(r["executionState"]["versionNumber"], version);
    assert_eq!(r["executionState"]["status"], "IN_PROGRESS");
    let r = update(
        &mut c,
        1_000,
        "dev1",
        "job1",
        &format!(
            r#"{{"status":"IN_PROGRESS","expectedVersion":{version},"includeJobExecutionState":true,"includeJobDocument":true}}"#
        ),
    );
    assert_eq!(r["_accepted"], true);
    assert_eq!(r["executionState"]["versionNumber"], version + 1);
    assert_eq!(r["jobDocument"], doc(1));

    // IN_PROGRESS cannot become REJECTED.
    let r = update(&mut c, 1_000, "dev1", "job1", r#"{"status":"REJECTED"}"#);
    assert_rejected(&r, "InvalidStateTransition");
    assert_eq!(r["executionState"]["status"], "IN_PROGRESS");

    // Terminal.
    let r = update(&mut c, 2_000, "dev1", "job1", r#"{"status":"FAILED"}"#);
    assert_eq!(r["_accepted"], true);
    let _ = c.drain();
    let r = update(
        &mut c,
        3_000,
        "dev1",
        "job1",
        r#"{"status":"SUCCEEDED","clientToken":"late"}"#,
    );
    assert_rejected(&r, "TerminalStateReached");
    assert_eq!(r["clientToken"], "late");
    assert_eq!(
        c.execution_status("dev1", "job1"),
        Some(JobExecutionStatus::Failed)
    );
}

#[test]
fn queued_execution_can_be_rejected_and_describe_rules() {
    let mut c = cloud();
    c.create_job(0, "j", ["d"], doc(1)).unwrap();
    let _ = c.drain();
    let r = publish(
        &mut c,
        1_000,
        &topics::job_get("d", "j"),
        r#"{"includeJobDocument":false}"#,
    );
    assert_eq!(r["_accepted"], true);
    assert_eq!(r["execution"]["jobId"], "j");
    assert!(r["execution"].get("jobDocument").is_none());
    let r = publish(&mut c, 1_000, &topics::job_get("d", "x"), "{}");
    assert_rejected(&r, "ResourceNotFound");
    let r = update(
        &mut c,
        1_000,
        "d",
        "j",
        r#"{"status":"REJECTED","statusDetails":{"reason":"no"}}"#,
    );
    assert_eq!(r["_accepted"], true);
    assert_eq!(
        c.execution_status("d", "j"),
        Some(JobExecutionStatus::Rejected)
    );
    assert_eq!(
        c.poll().expect("notify-next").topic,
        topics::notify_next("d")
    );
    let r = publish(&mut c, 2_000, &topics::job_get("d", "j"), "{}");
    assert_rejected(&r, "TerminalStateReached");
    let r = publish(&mut c, 2_000, &topics::next_get("d"), "{oops");
    assert_rejected(&r, "InvalidJson");
    // An empty payload reads as {}.
    let r = publish(&mut c, 2_000, &topics::next_get("d"), "");
    assert_eq!(r["_accepted"], true);
}

#[test]
fn invalid_topics_and_own_topics() {
    let mut c = cloud();
    let r = publish(
        &mut c,
        0,
        "$aws/things/d/jobs/j/frobnicate",
        r#"{"clientToken":"c"}"#,
    );
    assert_rejected(&r, "InvalidTopic");
    assert_eq!(r["clientToken"], "c");
    let r = publish(&mut c, 0, "$aws/things/d/jobs/$next/update", "{}");
    assert_rejected(&r, "InvalidTopic");
    for own in [
        "$aws/things/d/jobs/notify-next",
        "$aws/things/d/jobs/notify",
        "$aws/things/d/jobs/$next/get/accepted",
        "$aws/things/d/jobs/j/update/rejected",
    ] {
        assert_eq!(c.handle_publish(0, own, b"{}"), Handled::Ignored);
    }
    assert_eq!(c.handle_publish(0, "sensors/d", b"{}"), Handled::Ignored);
    assert!(c.poll().is_none());
}

#[test]
fn start_next_and_get_pending() {
    let mut c = cloud();
    c.create_job(1_000, "a", ["d"], doc(1)).unwrap();
    c.create_job(2_000, "b", ["d"], doc(2)).unwrap();
    let _ = c.drain();
    let r = publish(
        &mut c,
        3_000,
        &topics::pending_get("d"),
        r#"{"clientToken":"p"}"#,
    );
    assert_eq!(r["_accepted"], true);
    assert_eq!(r["inProgressJobs"], json!([]));
    assert_eq!(r["queuedJobs"][0]["jobId"], "a");
    assert_eq!(r["queuedJobs"][1]["jobId"], "b");
    assert_eq!(r["clientToken"], "p");

    let r = publish(
        &mut c,
        4_000,
        &topics::start_next("d"),
        r#"{"statusDetails":{"step":"1"},"clientToken":"s"}"#,
    );
    assert_eq!(r["_accepted"], true);
    assert_eq!(r["execution"]["jobId"], "a");
    assert_eq!(r["execution"]["status"], "IN_PROGRESS");
    assert_eq!(r["execution"]["statusDetails"], json!({"step": "1"}));
    assert_eq!(r["execution"]["versionNumber"], 2);
    assert!(c.poll().is_none(), "a stays next: no notify-next");
    let r = publish(&mut c, 5_000, &topics::pending_get("d"), "{}");
    assert_eq!(r["inProgressJobs"][0]["jobId"], "a");
    assert_eq!(r["inProgressJobs"][0]["startedAt"], 4);
    assert_eq!(r["queuedJobs"][0]["jobId"], "b");
    let r = publish(
        &mut c,
        5_000,
        &topics::start_next("d"),
        r#"{"statusDetails":{"":"x"}}"#,
    );
    assert_rejected(&r, "InvalidRequest");
}

#[test]
fn non_forced_cancel_leaves_in_progress_running() {
    let mut c = cloud();
    c.create_job(0, "j", ["d1", "d2"], doc(1)).unwrap();
    let _ = c.drain();
    update(&mut c, 1_000, "d1", "j", r#"{"status":"IN_PROGRESS"}"#);
    assert_eq!(c.cancel_job(2_000, "j", false), Ok(1));
    let out = c.drain();
    assert_eq!(out.len(), 1, "only d2's next changed: {out:?}");
    assert_eq!(out[0].topic, topics::notify_next("d2"));
    assert_eq!(text_of(&out[0]), r#"{"timestamp":2}"#);
    assert_eq!(
        c.execution_status("d2", "j"),
        Some(JobExecutionStatus::Canceled)
    );
    assert_eq!(
        c.execution_status("d1", "j"),
        Some(JobExecutionStatus::InProgress)
    );
    assert_eq!(c.job_status("j"), Some(JobStatus::Canceled));
    let h = c.execution_history("d2", "j");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].source, ChangeSource::Service);
    // The running device finishes normally.
    let r = update(&mut c, 3_000, "d1", "j", r#"{"status":"SUCCEEDED"}"#);
    assert_eq!(r["_accepted"], true);
    assert_eq!(
        c.execution_status("d1", "j"),
        Some(JobExecutionStatus::Succeeded)
    );
    assert_eq!(
        text_of(&c.poll().expect("d1 has nothing next")),
        r#"{"timestamp":3}"#
    );
    // A queued execution's device is told it is gone.
    let r = update(&mut c, 3_000, "d2", "j", r#"{"status":"IN_PROGRESS"}"#);
    assert_rejected(&r, "TerminalStateReached");
}

#[test]
fn forced_cancel_stops_in_progress_and_offers_the_next_job() {
    let mut c = cloud();
    c.create_job(0, "first", ["d"], doc(1)).unwrap();
    c.create_job(0, "second", ["d"], doc(2)).unwrap();
    let _ = c.drain();
    update(
        &mut c,
        1_000,
        "d",
        "first",
        r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"3/9"}}"#,
    );
    assert_eq!(c.cancel_job(2_000, "first", true), Ok(1));
    let n = json(&c.poll().expect("notify-next"));
    assert_eq!(n["execution"]["jobId"], "second");
    assert!(c.poll().is_none());
    let e = c.execution("d", "first").unwrap();
    assert_eq!(e.status, JobExecutionStatus::Canceled);
    assert_eq!(
        e.status_details["receive"], "3/9",
        "a cancel keeps the details"
    );
    assert_eq!(e.version_number, 3);
    let r = update(
        &mut c,
        3_000,
        "d",
        "first",
        r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"4/9"}}"#,
    );
    assert_rejected(&r, "TerminalStateReached");
    // Cancel again: nothing left to cancel.
    assert_eq!(c.cancel_job(4_000, "first", true), Ok(0));
    assert_eq!(
        c.cancel_job(4_000, "nope", true),
        Err(CloudError::UnknownJob("nope".into()))
    );
}

#[test]
fn execution_level_cancel_and_service_states() {
    let mut c = cloud();
    c.create_job(0, "j", ["d"], doc(1)).unwrap();
    c.create_job(0, "k", ["d"], doc(2)).unwrap();
    c.create_job(0, "l", ["d"], doc(3)).unwrap();
    let _ = c.drain();
    update(&mut c, 1_000, "d", "j", r#"{"status":"IN_PROGRESS"}"#);
    assert_eq!(
        c.cancel_job_execution(2_000, "d", "j", false),
        Err(CloudError::InvalidStateTransition {
            from: JobExecutionStatus::InProgress,
            to: JobExecutionStatus::Canceled
        })
    );
    assert!(c.poll().is_none());
    c.cancel_job_execution(2_000, "d", "j", true).unwrap();
    assert_eq!(json(&c.poll().unwrap())["execution"]["jobId"], "k");
    c.time_out_execution(3_000, "d", "k").unwrap();
    assert_eq!(
        c.execution_status("d", "k"),
        Some(JobExecutionStatus::TimedOut)
    );
    assert_eq!(json(&c.poll().unwrap())["execution"]["jobId"], "l");
    c.remove_execution(4_000, "d", "l").unwrap();
    assert_eq!(text_of(&c.poll().unwrap()), r#"{"timestamp":4}"#);
    assert!(c.time_out_execution(5_000, "d", "l").is_err());
    assert!(matches!(
        c.cancel_job_execution(5_000, "x", "l", true),
        Err(CloudError::UnknownExecution { .. })
    ));
}

#[test]
fn create_job_validation() {
    let mut c = cloud();
    assert_eq!(
        c.create_job(0, "a:b", ["d"], doc(1)),
        Err(CloudError::InvalidJobId("a:b".into()))
    );
    assert!(c.create_job(0, &"a".repeat(65), ["d"], doc(1)).is_err());
    assert_eq!(
        c.create_job(0, "j", ["bad/thing"], doc(1)),
        Err(CloudError::InvalidThingName("bad/thing".into()))
    );
    assert_eq!(
        c.create_job(0, "j", Vec::<String>::new(), doc(1)),
        Err(CloudError::NoTargets)
    );
    assert!(matches!(
        c.create_job(0, "j", ["d"], json!([1])),
        Err(CloudError::InvalidDocument(_))
    ));
    let big = json!({"x": "y".repeat(33_000)});
    assert!(matches!(
        c.create_job(0, "j", ["d"], big),
        Err(CloudError::DocumentTooLarge(_))
    ));
    c.create_job(0, "j", ["d"], doc(1)).unwrap();
    assert_eq!(
        c.create_job(0, "j", ["d"], doc(1)),
        Err(CloudError::JobExists("j".into()))
    );
    // Errors display.
    assert!(CloudError::NoTargets.to_string().contains("target"));
}

#[test]
fn merge_mode_and_notify_topic() {
    let config = CloudConfig {
        status_details_mode: StatusDetailsMode::Merge,
        publish_notify: true,
        ..CloudConfig::default()
    };
    let mut c = Cloud::new(config);
    c.create_job(0, "j", ["d"], doc(1)).unwrap();
    let out = c.drain();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].topic, topics::notify_next("d"));
    assert_eq!(out[1].topic, topics::notify("d"));
    assert_eq!(json(&out[1])["jobs"]["QUEUED"][0]["jobId"], "j");
    update(
        &mut c,
        1_000,
        "d",
        "j",
        r#"{"status":"IN_PROGRESS","statusDetails":{"a":"1"}}"#,
    );
    assert!(c.poll().is_none(), "pending set unchanged: no notify");
    update(
        &mut c,
        2_000,
        "d",
        "j",
        r#"{"status":"IN_PROGRESS","statusDetails":{"b":"2"}}"#,
    );
    let e = c.execution("d", "j").unwrap();
    assert_eq!(e.status_details.len(), 2);
    assert_eq!(e.history[1].requested_details.as_ref().unwrap().len(), 1);
    update(&mut c, 3_000, "d", "j", r#"{"status":"SUCCEEDED"}"#);
    let out = c.drain();
    assert_eq!(out.len(), 2);
    assert_eq!(text_of(&out[1]), r#"{"timestamp":3,"jobs":{}}"#);
    assert_eq!(
        c.execution("d", "j").unwrap().status_details.len(),
        2,
        "no details: unchanged"
    );
}

#[test]
fn cloud_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Cloud>();
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "QUEUED",
            "IN_PROGRESS",
            "SUCCEEDED",
            "FAILED",
            "REJECTED",
            "CANCELED",
            "BOGUS",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn arbitrary_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut c = cloud();
            c.create_job(0, "j", ["d"], doc(1)).unwrap();
            for topic in [
                topics::next_get("d"),
                topics::job_get("d", "j"),
                topics::job_update("d", "j"),
                topics::pending_get("d"),
                topics::start_next("d"),
            ] {
                c.handle_publish(1_000, &topic, &payload);
            }
            let _ = c.drain();
        }

        /// The version grows by one per accepted change; rejected updates change nothing; once
        /// terminal, nothing is accepted.
        #[test]
        fn versions_follow_accepted_updates(
            updates in proptest::collection::vec((status(), proptest::option::of(0u64..6)), 1..12),
        ) {
            let mut c = cloud();
            c.create_job(0, "j", ["d"], doc(1)).unwrap();
            let _ = c.drain();
            for (k, (status, expected)) in updates.iter().enumerate() {
                let before = c.execution("d", "j").unwrap().clone();
                let mut req = json!({"status": status});
                if let Some(v) = expected { req["expectedVersion"] = json!(v); }
                let r = update(&mut c, 1_000 * (k as u64 + 1), "d", "j", &req.to_string());
                let _ = c.drain();
                let after = c.execution("d", "j").unwrap();
                if r["_accepted"] == true {
                    prop_assert!(!before.status.is_terminal());
                    prop_assert_eq!(after.version_number, before.version_number + 1);
                    prop_assert_eq!(after.status.as_str(), *status);
                } else {
                    prop_assert_eq!(after, &before);
                }
                prop_assert_eq!(after.version_number, 1 + after.history.len() as u64);
            }
        }
    }
}
