//! The IDT OTA qualification cases (test-scenarios.md §1.1) over HTTP, end to end: jobs offer
//! only HTTP, the device (a real `ota-sim device` process) downloads presigned ranges from the
//! data-plane server with `ota-http-reqwless`; Jobs stay on MQTT. The cases are in
//! `common/cases.rs`, shared with `idt_mqtt.rs`; presigned URL expiry is HTTP's own.

mod common;

use ota_cloud::Protocol;

const P: Protocol = Protocol::Http;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greater_version_succeeds_and_runs_the_exact_image() {
    common::cases::greater_version_succeeds_and_runs_the_exact_image(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_updates_all_succeed() {
    common::cases::back_to_back_updates_all_succeed(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_version_is_refused() {
    common::cases::same_version_is_refused(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_version_is_refused() {
    common::cases::previous_version_is_refused(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_image_is_refused() {
    common::cases::unsigned_image_is_refused(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_key_is_refused() {
    common::cases::untrusted_key_is_refused(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_corrupted_after_signing_is_refused() {
    common::cases::image_corrupted_after_signing_is_refused(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_signature_is_refused() {
    common::cases::corrupted_signature_is_refused(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_image_that_crashes_rolls_back() {
    common::cases::signed_image_that_crashes_rolls_back(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_image_that_never_connects_rolls_back() {
    common::cases::signed_image_that_never_connects_rolls_back(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_image_that_fails_its_self_test_rolls_back() {
    common::cases::signed_image_that_fails_its_self_test_rolls_back(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_non_image_does_not_boot_and_rolls_back() {
    common::cases::signed_non_image_does_not_boot_and_rolls_back(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_and_resume() {
    common::cases::disconnect_and_resume(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_suspended_then_a_new_job() {
    common::cases::cancel_while_suspended_then_a_new_job(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_with_the_first_cancelled() {
    common::cases::two_jobs_with_the_first_cancelled(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_then_update() {
    common::cases::cancel_then_update(P).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_download_resumes_without_refetching_persisted_blocks() {
    common::cases::sigkill_mid_download_resumes_without_refetching_persisted_blocks(P).await;
}

/// The presigned URL lives one second; the download takes longer (2-block ranges, 150 ms per
/// answer). The device gets 403s, fetches the job document again for a fresh URL (the agent
/// does this on 400/403/404) and finishes, without fetching again a block it already stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_url_expiry_mid_download_is_refreshed_through_the_job_document() {
    use ota_cloud::JobExecutionStatus as S;
    let env = common::Env::new().await;
    env.set_http_delay(150);
    let _d = env.device("dev", &["--http-blocks-per-request", "2"]);
    let mut spec = common::spec("j1", "dev", common::img("1.0.1"), P, env.signed());
    spec.presign_expiry_s = Some(1);
    env.create(&spec);
    assert_eq!(
        env.wait_terminal("dev", "j1", 40).await,
        S::Succeeded,
        "{}",
        env.history("dev", "j1")
    );
    env.wait_version("dev", "1.0.1", 10).await;
    let forbidden = env.http_answers(403);
    assert!(
        forbidden >= 1,
        "the URL expired mid-download: {:?}",
        env.tap.served()
    );
    let mut fetched = std::collections::BTreeMap::<u64, u32>::new();
    for b in env.http_blocks() {
        *fetched.entry(b).or_default() += 1;
    }
    let total = (common::SIZE as u32).div_ceil(common::BLOCK) as usize;
    assert_eq!(fetched.len(), total, "every block arrived");
    let twice: Vec<_> = fetched.iter().filter(|(_, n)| **n > 1).collect();
    // A 403 carries no bytes: only a range cut short in flight (2 blocks) may come again.
    assert!(
        twice.len() <= 2,
        "blocks fetched twice: {twice:?} ({forbidden} 403s)"
    );
}
