//! The IDT OTA qualification cases (test-scenarios.md §1.1), written once and run over each
//! data protocol: the job offers only `p`, the device (a real `ota-sim device` process)
//! downloads over it.

use ota_cloud::{JobExecutionStatus as S, Protocol};
use ota_sim::cloud::Signature;
use ota_sim::image::Behaviour;

use super::*;

/// Device arguments and a link delay that make a download last long enough to be
/// interrupted: one block per request, each held back 20 ms (MQTT) or 40 ms (HTTP).
/// [`fast`] ends the delay.
pub fn slow(env: &Env, p: Protocol) -> &'static [&'static str] {
    match p {
        Protocol::Http => {
            env.set_http_delay(40);
            &["--http-blocks-per-request", "1"]
        }
        _ => {
            env.set_stream_delay(20);
            &["--blocks-per-request", "1"]
        }
    }
}

/// Ends [`slow`]'s delay.
pub fn fast(env: &Env) {
    env.set_http_delay(0);
    env.set_stream_delay(0);
}

/// Checks that the job's blocks went over `p` only.
fn used(env: &Env, p: Protocol) {
    let http = env.http_blocks().len();
    let mqtt = env.blocks_served() - http;
    match p {
        Protocol::Http => assert!(http > 0 && mqtt == 0, "http {http} mqtt {mqtt}"),
        _ => assert!(mqtt > 0 && http == 0, "http {http} mqtt {mqtt}"),
    }
}

pub async fn greater_version_succeeds_and_runs_the_exact_image(p: Protocol) {
    let env = Env::new().await;
    let _d = env.device("dev", &[]);
    let image = img("1.0.1");
    env.job("j1", "dev", image.clone(), p, env.signed());
    assert_eq!(
        env.wait_terminal("dev", "j1", 30).await,
        S::Succeeded,
        "{}",
        env.history("dev", "j1")
    );
    used(&env, p);
    env.wait_version("dev", "1.0.1", 10).await;
    let st = env.device_status("dev");
    assert_eq!(st["running_version"], "1.0.1");
    assert_eq!(st["image_state"], "Valid");
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(&image)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(st["running_image_sha256"], want.as_str());
    assert!(st["boots"].as_u64().unwrap() >= 2);
}

pub async fn back_to_back_updates_all_succeed(p: Protocol) {
    let env = Env::new().await;
    let _d = env.device("dev", &[]);
    for (i, v) in ["1.0.1", "1.0.2", "1.0.3"].iter().enumerate() {
        let job = format!("b2b-{i}");
        env.job(&job, "dev", img(v), p, env.signed());
        assert_eq!(
            env.wait_terminal("dev", &job, 30).await,
            S::Succeeded,
            "{}",
            env.history("dev", &job)
        );
        env.wait_version("dev", v, 10).await;
    }
    used(&env, p);
}

async fn refused(p: Protocol, image: Vec<u8>, sig: impl FnOnce(&Env, &[u8]) -> Signature) {
    let env = Env::new().await;
    let _d = env.device("dev", &[]);
    let s = sig(&env, &image);
    env.job("bad", "dev", image, p, s);
    let st = env.wait_terminal("dev", "bad", 30).await;
    assert_ne!(st, S::Succeeded, "{}", env.history("dev", "bad"));
    env.wait_version("dev", "1.0.0", 10).await;
    // The device still takes a good update afterwards.
    env.job("good", "dev", img("1.1.0"), p, env.signed());
    assert_eq!(
        env.wait_terminal("dev", "good", 30).await,
        S::Succeeded,
        "{}",
        env.history("dev", "good")
    );
    used(&env, p);
}

pub async fn same_version_is_refused(p: Protocol) {
    refused(p, img("1.0.0"), |e, _| e.signed()).await;
}

pub async fn previous_version_is_refused(p: Protocol) {
    refused(p, img("0.9.0"), |e, _| e.signed()).await;
}

pub async fn unsigned_image_is_refused(p: Protocol) {
    refused(p, img("1.0.1"), |_, _| Signature::None).await;
}

pub async fn untrusted_key_is_refused(p: Protocol) {
    refused(p, img("1.0.1"), |_, _| {
        Signature::Key(ota_cloud::SigningKey::from_seed(4242))
    })
    .await;
}

pub async fn image_corrupted_after_signing_is_refused(p: Protocol) {
    let good = img("1.0.1");
    let mut bad = good.clone();
    bad[5000] ^= 0x5a;
    refused(p, bad, move |e, _| Signature::Raw(e.key.sign(&good))).await;
}

pub async fn corrupted_signature_is_refused(p: Protocol) {
    refused(p, img("1.0.1"), |e, image| {
        let s = e.key.sign(image);
        // The runner's mutation: letters A..M swapped with Z..N.
        let m: String = s
            .chars()
            .map(|c| match c {
                'A'..='M' => (b'Z' - (c as u8 - b'A')) as char,
                'N'..='Z' => (b'A' + (b'Z' - c as u8)) as char,
                c => c,
            })
            .collect();
        Signature::Raw(m)
    })
    .await;
}

async fn rolled_back(p: Protocol, image: Vec<u8>) {
    let env = Env::new().await;
    let _d = env.device("dev", &[]);
    env.job("bad", "dev", image, p, env.signed());
    let st = env.wait_terminal("dev", "bad", 40).await;
    assert_ne!(st, S::Succeeded, "{}", env.history("dev", "bad"));
    env.wait_version("dev", "1.0.0", 10).await;
    let status = env.device_status("dev");
    assert_eq!(status["image_state"], "Valid");
    used(&env, p);
}

pub async fn signed_image_that_crashes_rolls_back(p: Protocol) {
    rolled_back(p, img_with("1.0.1", Behaviour::Crash)).await;
}

pub async fn signed_image_that_never_connects_rolls_back(p: Protocol) {
    rolled_back(p, img_with("1.0.1", Behaviour::NoNetwork)).await;
}

pub async fn signed_image_that_fails_its_self_test_rolls_back(p: Protocol) {
    rolled_back(p, img_with("1.0.1", Behaviour::FailSelfTest)).await;
}

pub async fn signed_non_image_does_not_boot_and_rolls_back(p: Protocol) {
    rolled_back(p, b"the end is never ".repeat(2500)).await;
}

pub async fn disconnect_and_resume(p: Protocol) {
    let env = Env::new().await;
    let _d = env.device("dev", slow(&env, p));
    env.job("j1", "dev", img("1.0.1"), p, env.signed());
    env.wait_for("download started", 20, |e| e.blocks_served() >= 4)
        .await;
    assert!(env.broker.as_ref().unwrap().kick("dev"), "device connected");
    assert_eq!(
        env.wait_terminal("dev", "j1", 40).await,
        S::Succeeded,
        "{}",
        env.history("dev", "j1")
    );
    assert!(
        env.broker
            .as_ref()
            .unwrap()
            .stats()
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3
    );
    used(&env, p);
}

pub async fn cancel_while_suspended_then_a_new_job(p: Protocol) {
    let env = Env::new().await;
    let mut d = env.device("dev", slow(&env, p));
    env.job("j1", "dev", img("1.0.1"), p, env.signed());
    env.wait_for("download started", 20, |e| e.blocks_served() >= 4)
        .await;
    d.kill(); // offline: the device cannot see the cancel
    env.cancel("j1", true);
    fast(&env);
    let _d2 = env.device("dev", &[]);
    assert_eq!(env.status("dev", "j1"), Some(S::Canceled));
    env.job("j2", "dev", img("1.0.2"), p, env.signed());
    assert_eq!(
        env.wait_terminal("dev", "j2", 40).await,
        S::Succeeded,
        "{}",
        env.history("dev", "j2")
    );
    env.wait_version("dev", "1.0.2", 10).await;
    used(&env, p);
}

pub async fn two_jobs_with_the_first_cancelled(p: Protocol) {
    let env = Env::new().await;
    let _d = env.device("dev", slow(&env, p));
    env.job("j1", "dev", img("1.0.1"), p, env.signed());
    env.job("j2", "dev", img("1.0.2"), p, env.signed());
    env.wait_for("j1 in progress", 20, |e| {
        e.status("dev", "j1") == Some(S::InProgress)
    })
    .await;
    env.cancel("j1", true);
    assert_eq!(
        env.wait_terminal("dev", "j2", 40).await,
        S::Succeeded,
        "{}",
        env.history("dev", "j2")
    );
    assert_eq!(env.status("dev", "j1"), Some(S::Canceled));
    env.wait_version("dev", "1.0.2", 10).await;
    used(&env, p);
}

pub async fn cancel_then_update(p: Protocol) {
    let env = Env::new().await;
    let _d = env.device("dev", slow(&env, p));
    env.job("j1", "dev", img("1.0.1"), p, env.signed());
    env.wait_for("j1 in progress", 20, |e| {
        e.status("dev", "j1") == Some(S::InProgress)
    })
    .await;
    env.cancel("j1", true);
    env.job("j2", "dev", img("1.0.2"), p, env.signed());
    assert_eq!(
        env.wait_terminal("dev", "j2", 40).await,
        S::Succeeded,
        "{}",
        env.history("dev", "j2")
    );
    env.wait_version("dev", "1.0.2", 10).await;
    used(&env, p);
}

pub async fn sigkill_mid_download_resumes_without_refetching_persisted_blocks(p: Protocol) {
    let env = Env::new().await;
    // A larger image than the other cases: the kill must land well before the end.
    let size = 96 * BLOCK as usize;
    let total = size / BLOCK as usize;
    let mut d = env.device("dev", slow(&env, p));
    let image =
        ota_sim::image::build(ota_core::Version::new(1, 0, 1), Behaviour::Ok, size).unwrap();
    env.job("j1", "dev", image, p, env.signed());
    env.wait_for("a quarter of the blocks", 30, |e| {
        e.blocks_served() >= total / 4
    })
    .await;
    d.kill();
    let before = env.blocks_served();
    assert!(
        before < total,
        "killed mid-download: {before} of {total} served"
    );
    fast(&env);
    let _d2 = env.device("dev", &[]);
    assert_eq!(
        env.wait_terminal("dev", "j1", 40).await,
        S::Succeeded,
        "{}",
        env.history("dev", "j1")
    );
    let after = env.blocks_served() - before;
    // The resume record is persisted every `resume_every` (8) blocks: at most that many, plus
    // the blocks in flight at the kill, are fetched again.
    assert!(
        before + after <= total + 8 + 2,
        "served {before} before the kill and {after} after, for {total} blocks"
    );
    assert!(
        after < total,
        "resumed, not restarted: {after} of {total} fetched after the kill"
    );
    used(&env, p);
}
