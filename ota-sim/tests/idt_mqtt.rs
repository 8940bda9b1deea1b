//! The IDT OTA qualification cases (test-scenarios.md §1.1) over MQTT, end to end: the AWS
//! side (embedded endpoint, ota-cloud) in the test, the device as a real `ota-sim device`
//! process on file-backed flash. The cases are in `common/cases.rs`, shared with `idt_http.rs`.

mod common;

use ota_cloud::Protocol;

const P: Protocol = Protocol::Mqtt;

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
