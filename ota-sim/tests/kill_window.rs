//! Real SIGKILLs of the `ota-sim device` process at the end of an update: when the service has
//! confirmed "self_test: ready" (the agent is about to activate), a few milliseconds later, when
//! the activation reached the otadata file, and when the new image's agent reported
//! "self_test: active", and while it ran its trial boot. The device is then started again from
//! its files.
//!
//! What must follow depends only on the boot state the kill left, read from `otadata.bin`:
//! * the active entry is `PENDING_VERIFY` (the new image was on its trial boot and had not
//!   committed): the simulated bootloader, like ESP-IDF's with one trial boot, reverts it, and
//!   the job ends FAILED "rolled back" with the old image running;
//! * anything else (not activated yet, activated but not booted, committed): the job ends
//!   SUCCEEDED with the new image running committed.
//!
//! The narrow window the sweeps in `ota-core` and `ota-pal-flash` found (the resume record
//! dropped, the boot state not yet written: microseconds) cannot be aimed at with a signal; the
//! kills here check the same rule on the real process, files and sockets.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Device, Env, img};
use ota_cloud::{JobExecutionStatus as S, Protocol};
use ota_pal_flash::boot::otadata::{self, OTADATA_LEN, OtaState};
use ota_pal_flash::host::HostFlash;
use ota_sim::cloud::{self, SharedCloud};

const THING: &str = "dev";
const JOB: &str = "j1";

/// When to kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    /// The service recorded "self_test: ready", then `after` more.
    Ready { after: Duration },
    /// The otadata's active entry selects the downloaded slot.
    Activated,
    /// The new image runs its trial boot (active entry `PENDING_VERIFY`).
    OnTrial,
    /// The service recorded "self_test: active" (the new image's agent runs).
    SelfTestActive,
}

/// The active otadata entry: its slot and state (`None`: no entry, factory state).
fn boot_state(state: &Path) -> Option<(u8, Option<OtaState>)> {
    let mut f = HostFlash::open(state.join("otadata.bin"), OTADATA_LEN).ok()?;
    let entries = otadata::read_entries(&mut f).ok()?;
    let e = entries[otadata::active(&entries)?];
    Some((e.slot(2), e.state()))
}

fn has_detail(cloud: &SharedCloud, key: &str, value: &str) -> bool {
    cloud::lock(cloud)
        .execution_history(THING, JOB)
        .iter()
        .any(|r| r.status_details.get(key).is_some_and(|v| v == value))
}

/// What a kill left.
struct Killed {
    /// The active otadata entry.
    left: Option<(u8, Option<OtaState>)>,
    /// Time from "ready" to the kill.
    since_ready: Duration,
    /// The job was terminal before the moment was seen (a loaded machine): killed anyway.
    missed: bool,
}

/// Spins (on a blocking thread, every 50 µs) until `moment`, then SIGKILLs the device.
async fn kill_at(
    cloud: SharedCloud,
    state: std::path::PathBuf,
    mut device: Device,
    moment: Moment,
) -> Killed {
    tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        let mut ready_at = None;
        loop {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{moment:?} never came"
            );
            if ready_at.is_none() && has_detail(&cloud, "self_test", "ready") {
                ready_at = Some(Instant::now());
            }
            let due = match moment {
                Moment::Ready { after } => ready_at.is_some_and(|t| t.elapsed() >= after),
                Moment::Activated => boot_state(&state).is_some_and(|(slot, _)| slot == 1),
                Moment::OnTrial => {
                    matches!(boot_state(&state), Some((1, Some(OtaState::PendingVerify))))
                }
                Moment::SelfTestActive => has_detail(&cloud, "self_test", "active"),
            };
            let missed = !due
                && cloud::lock(&cloud)
                    .execution_status(THING, JOB)
                    .is_some_and(|s| s.is_terminal());
            if due || missed {
                device.kill();
                return Killed {
                    left: boot_state(&state),
                    since_ready: ready_at.map_or(Duration::ZERO, |t| t.elapsed()),
                    missed,
                };
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    })
    .await
    .expect("poller")
}

/// One update of 1.0.0 to 1.0.1 with a SIGKILL at `moment`, then a restart; checks the rule of
/// the module docs. Returns a one-line summary.
async fn case(p: Protocol, moment: Moment) -> String {
    let env = Env::new().await;
    let device = env.device(THING, &[]);
    let t0 = Instant::now();
    env.job(JOB, THING, img("1.0.1"), p, env.signed());
    let killed = kill_at(env.cloud.clone(), env.state(THING), device, moment).await;
    let left = killed.left;
    let on_trial = matches!(left, Some((1, Some(OtaState::PendingVerify))));
    let _restarted = env.device(THING, &[]);
    let end = env.wait_terminal(THING, JOB, 40).await;
    let history = env.history(THING, JOB);
    if on_trial {
        // Killed on its trial boot, before the commit: the bootloader reverts.
        assert_eq!(end, S::Failed, "{moment:?} left {left:?}:\n{history}");
        assert!(
            history
                .lines()
                .last()
                .is_some_and(|l| l.contains("rolled back")),
            "{moment:?} left {left:?}:\n{history}"
        );
        env.wait_version(THING, "1.0.0", 10).await;
    } else {
        assert_eq!(end, S::Succeeded, "{moment:?} left {left:?}:\n{history}");
        env.wait_version(THING, "1.0.1", 10).await;
        env.wait_for("the new image committed", 10, |e| {
            e.device_status(THING)["image_state"] == "Valid"
        })
        .await;
    }
    format!(
        "{p:?} {moment:?}{}: killed {:.2} ms after ready, boot state {left:?} -> {end:?} ({:.1} s)",
        if killed.missed { " (missed)" } else { "" },
        killed.since_ready.as_secs_f64() * 1000.0,
        t0.elapsed().as_secs_f64()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_around_activation_over_mqtt() {
    let mut lines = Vec::new();
    for moment in [
        Moment::Ready {
            after: Duration::ZERO,
        },
        Moment::Ready {
            after: Duration::from_millis(1),
        },
        Moment::Ready {
            after: Duration::from_millis(3),
        },
        Moment::Activated,
        Moment::OnTrial,
        Moment::SelfTestActive,
    ] {
        lines.push(case(Protocol::Mqtt, moment).await);
    }
    println!("{}", lines.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_around_activation_over_http() {
    let mut lines = Vec::new();
    for moment in [
        Moment::Ready {
            after: Duration::ZERO,
        },
        Moment::Activated,
        Moment::OnTrial,
        Moment::SelfTestActive,
    ] {
        lines.push(case(Protocol::Http, moment).await);
    }
    println!("{}", lines.join("\n"));
}

/// How long each stretch after the download lasts on this machine (no kill): from "ready"
/// confirmed to the activation in otadata, to the new image's "active", to SUCCEEDED. A kill
/// in the last two stretches before the commit reverts the image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stretches_after_the_download() {
    let env = Env::new().await;
    let _device = env.device(THING, &[]);
    env.job(JOB, THING, img("1.0.1"), Protocol::Mqtt, env.signed());
    let cloud = env.cloud.clone();
    let state = env.state(THING);
    let marks = tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        let mut marks: [Option<Duration>; 5] = [None; 5];
        while marks.iter().any(Option::is_none) {
            assert!(t0.elapsed() < Duration::from_secs(30), "{marks:?}");
            let now = t0.elapsed();
            let b = boot_state(&state);
            let checks = [
                has_detail(&cloud, "self_test", "ready"),
                b.is_some_and(|(slot, _)| slot == 1),
                matches!(b, Some((1, Some(OtaState::PendingVerify)))),
                has_detail(&cloud, "self_test", "active"),
                cloud::lock(&cloud).execution_status(THING, JOB) == Some(S::Succeeded),
            ];
            for (m, c) in marks.iter_mut().zip(checks) {
                if c && m.is_none() {
                    *m = Some(now);
                }
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        marks.map(|m| m.unwrap_or_default())
    })
    .await
    .expect("poller");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "after \"ready\": activation written +{:.2} ms, trial boot +{:.2} ms, \"active\" +{:.2} ms, \
         SUCCEEDED +{:.2} ms",
        ms(marks[1].saturating_sub(marks[0])),
        ms(marks[2].saturating_sub(marks[0])),
        ms(marks[3].saturating_sub(marks[0])),
        ms(marks[4].saturating_sub(marks[0])),
    );
    assert!(marks[0] <= marks[1] && marks[1] <= marks[4]);
}
