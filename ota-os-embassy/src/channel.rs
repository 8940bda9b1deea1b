//! What the application and the agent task say to each other: [`AppCommand`]s in,
//! [`Notification`]s and a once-a-second [`Report`] out, through [`OtaChannels`].

use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::signal::Signal;
use embassy_time::Duration;
use ota_core::{Event, FailReason, State, Statistics};

/// Longest job id (AWS: 64 characters).
pub const JOB_ID_LEN: usize = 64;

/// A job id, copied out of the agent.
pub type JobId = heapless::String<JOB_ID_LEN>;

/// A command from the application to the agent task (the seed's `OTA_*` calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AppCommand {
    /// `OTA_CheckForUpdate`: ask the service for the next job now.
    CheckForUpdate,
    /// `OTA_Suspend`: stop requesting data (the connection stays up).
    Suspend,
    /// `OTA_Resume`.
    Resume,
    /// The self-test passed: commit the running image (`OTA_SetImageState(Accepted)`).
    Accept,
    /// The self-test failed: reject the running image and roll back.
    Reject,
    /// Abandon the current download (`OTA_SetImageState(Aborted)`).
    Abort,
    /// Activate the verified image now: the device resets into it
    /// (`OTA_ActivateNewImage`).
    Activate,
    /// Activate the verified image after this delay (for example at a quiet time); a later
    /// `Activate` or `ActivateAfter` replaces it.
    ActivateAfter(Duration),
    /// Take a custom (non-OTA) job offered by [`Notification::CustomJob`].
    ClaimCustomJob,
    /// Refuse it (reported FAILED).
    DeclineCustomJob,
    /// `OTA_Shutdown`: unsubscribe and stop; [`crate::OtaTask::run`] returns.
    Shutdown,
}

impl AppCommand {
    /// The core's command, for the ones that map one to one.
    pub fn to_core(self) -> Option<ota_core::Command> {
        use ota_core::Command as C;
        Some(match self {
            AppCommand::CheckForUpdate => C::CheckForUpdate,
            AppCommand::Suspend => C::Suspend,
            AppCommand::Resume => C::Resume,
            AppCommand::Accept => C::Accept,
            AppCommand::Reject => C::Reject,
            AppCommand::Abort => C::Abort,
            AppCommand::Activate => C::Activate,
            AppCommand::ClaimCustomJob => C::ClaimCustomJob,
            AppCommand::DeclineCustomJob => C::DeclineCustomJob,
            AppCommand::Shutdown => C::Shutdown,
            AppCommand::ActivateAfter(_) => return None,
        })
    }
}

/// A job event for the application: the seed's `OtaJobEvent_t`, plus progress, owned (the
/// job id is copied) so it can cross a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notification {
    /// An OTA job was accepted; its download starts (or resumes).
    ReceivedJob {
        /// Job id.
        job_id: JobId,
        /// Number of files.
        files: u8,
        /// Progress from before a reboot is reused.
        resumed: bool,
    },
    /// The service has no job for this device.
    NoActiveJob,
    /// A job that is not an OTA job: answer with [`AppCommand::ClaimCustomJob`] or
    /// [`AppCommand::DeclineCustomJob`] in time (the document stays in the agent).
    CustomJob {
        /// Job id.
        job_id: JobId,
    },
    /// Download progress.
    Progress {
        /// File index.
        file: u8,
        /// Blocks stored.
        blocks_done: u32,
        /// Blocks in the file.
        blocks_total: u32,
    },
    /// A non-firmware file is stored and verified.
    FileComplete {
        /// Job id.
        job_id: JobId,
        /// File index.
        file: u8,
        /// `fileType`.
        file_type: u32,
    },
    /// The firmware image is verified: send [`AppCommand::Activate`] (or
    /// [`AppCommand::ActivateAfter`]) when the device may reboot.
    ReadyToActivate {
        /// Job id.
        job_id: JobId,
    },
    /// Running a new image on trial: run the self-test, then send [`AppCommand::Accept`] or
    /// [`AppCommand::Reject`] before the self-test timeout.
    StartSelfTest {
        /// Job id.
        job_id: JobId,
    },
    /// The new image is committed; the job is SUCCEEDED.
    Accepted {
        /// Job id.
        job_id: JobId,
    },
    /// The image on trial was refused; the device rolls back.
    SelfTestFailed {
        /// Job id.
        job_id: JobId,
        /// Why.
        reason: FailReason,
    },
    /// The job failed (reported FAILED); the device keeps its image.
    Failed {
        /// Job id.
        job_id: JobId,
        /// Why.
        reason: FailReason,
    },
    /// The job's final status was confirmed by the service.
    JobFinished {
        /// Job id.
        job_id: JobId,
        /// SUCCEEDED.
        succeeded: bool,
    },
    /// The MQTT connection came up (`true`) or went down (`false`).
    Link(bool),
}

fn id(s: &str) -> JobId {
    let mut out = JobId::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

impl Notification {
    /// The owned form of an agent event; `None` for events this version does not know.
    pub fn from_event(e: &Event<'_>) -> Option<Self> {
        Some(match *e {
            Event::ReceivedJob {
                job_id,
                files,
                resumed,
            } => Notification::ReceivedJob {
                job_id: id(job_id),
                files,
                resumed,
            },
            Event::NoActiveJob => Notification::NoActiveJob,
            Event::CustomJob { job_id, .. } => Notification::CustomJob { job_id: id(job_id) },
            Event::Progress {
                file,
                blocks_done,
                blocks_total,
            } => Notification::Progress {
                file,
                blocks_done,
                blocks_total,
            },
            Event::FileComplete {
                job_id,
                file,
                file_type,
            } => Notification::FileComplete {
                job_id: id(job_id),
                file,
                file_type,
            },
            Event::ReadyToActivate { job_id } => {
                Notification::ReadyToActivate { job_id: id(job_id) }
            }
            Event::StartSelfTest { job_id } => Notification::StartSelfTest { job_id: id(job_id) },
            Event::Accepted { job_id } => Notification::Accepted { job_id: id(job_id) },
            Event::SelfTestFailed { job_id, reason } => Notification::SelfTestFailed {
                job_id: id(job_id),
                reason,
            },
            Event::Failed { job_id, reason } => Notification::Failed {
                job_id: id(job_id),
                reason,
            },
            Event::JobFinished { job_id, succeeded } => Notification::JobFinished {
                job_id: id(job_id),
                succeeded,
            },
            _ => return None,
        })
    }
}

/// Counters of the task itself (the connection manager), next to the agent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct TaskStatistics {
    /// Successful MQTT connections.
    pub connects: u32,
    /// Failed connection attempts (TCP, DNS or MQTT handshake).
    pub connect_failures: u32,
    /// Connections lost.
    pub disconnects: u32,
    /// MQTT operations that failed without losing the connection (the agent retries).
    pub mqtt_errors: u32,
    /// MQTT actions dropped because the link was down (the agent repeats what matters).
    pub dropped_offline: u32,
    /// Messages on topics that are not the agent's (dropped).
    pub foreign_messages: u32,
    /// Notifications dropped because the application's channel was full.
    pub notifications_dropped: u32,
    /// Contract errors reported by the agent (a bug in the task; logged).
    pub usage_errors: u32,
}

/// The once-a-second status report (the seed's `OTA_GetStatistics` + `OTA_GetState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Report {
    /// Milliseconds since boot.
    pub uptime_ms: u64,
    /// The agent's state.
    pub state: State,
    /// The agent's counters.
    pub agent: Statistics,
    /// The task's counters.
    pub task: TaskStatistics,
    /// Whether the MQTT connection is up.
    pub link_up: bool,
}

/// The channels between the application and the agent task: `C` commands and `N`
/// notifications deep. Put it in a `static` (all of it is `const`-constructible).
///
/// Notifications never block the agent: when the application lets the channel fill up,
/// further notifications are dropped and counted ([`TaskStatistics::notifications_dropped`]).
/// The [`Report`] is a signal: the latest one wins.
pub struct OtaChannels<M: RawMutex, const C: usize, const N: usize> {
    /// Application → agent.
    pub commands: Channel<M, AppCommand, C>,
    /// Agent → application.
    pub notifications: Channel<M, Notification, N>,
    /// Agent → application, once a second.
    pub report: Signal<M, Report>,
}

impl<M: RawMutex, const C: usize, const N: usize> OtaChannels<M, C, N> {
    /// Empty channels.
    pub const fn new() -> Self {
        Self {
            commands: Channel::new(),
            notifications: Channel::new(),
            report: Signal::new(),
        }
    }

    /// Sends a command, waiting while the command queue is full.
    pub async fn command(&self, c: AppCommand) {
        self.commands.send(c).await;
    }

    /// Waits for the next notification.
    pub async fn notification(&self) -> Notification {
        self.notifications.receive().await
    }
}

impl<M: RawMutex, const C: usize, const N: usize> Default for OtaChannels<M, C, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ota_core::{PalError, verify::VerifyError};

    #[test]
    fn every_event_becomes_an_owned_notification() {
        let long = "j".repeat(80);
        let cases: [(Event<'_>, Notification); 6] = [
            (
                Event::ReceivedJob {
                    job_id: "job-1",
                    files: 2,
                    resumed: true,
                },
                Notification::ReceivedJob {
                    job_id: id("job-1"),
                    files: 2,
                    resumed: true,
                },
            ),
            (Event::NoActiveJob, Notification::NoActiveJob),
            (
                Event::Progress {
                    file: 0,
                    blocks_done: 3,
                    blocks_total: 9,
                },
                Notification::Progress {
                    file: 0,
                    blocks_done: 3,
                    blocks_total: 9,
                },
            ),
            (
                Event::Failed {
                    job_id: "j",
                    reason: FailReason::Signature(VerifyError::Mismatch),
                },
                Notification::Failed {
                    job_id: id("j"),
                    reason: FailReason::Signature(VerifyError::Mismatch),
                },
            ),
            (
                Event::SelfTestFailed {
                    job_id: "j",
                    reason: FailReason::Platform(PalError::BootState),
                },
                Notification::SelfTestFailed {
                    job_id: id("j"),
                    reason: FailReason::Platform(PalError::BootState),
                },
            ),
            (
                Event::CustomJob {
                    job_id: &long,
                    document: b"{}",
                },
                Notification::CustomJob {
                    job_id: id(&"j".repeat(64)),
                },
            ),
        ];
        for (e, n) in cases {
            assert_eq!(Notification::from_event(&e), Some(n));
        }
    }

    #[test]
    fn commands_map_to_the_core_except_delayed_activation() {
        assert_eq!(
            AppCommand::Accept.to_core(),
            Some(ota_core::Command::Accept)
        );
        assert_eq!(
            AppCommand::Shutdown.to_core(),
            Some(ota_core::Command::Shutdown)
        );
        assert_eq!(
            AppCommand::ActivateAfter(Duration::from_secs(5)).to_core(),
            None
        );
    }

    #[test]
    fn channels_carry_both_ways() {
        use embassy_sync::blocking_mutex::raw::NoopRawMutex;
        let ch: OtaChannels<NoopRawMutex, 2, 2> = OtaChannels::new();
        embassy_futures::block_on(async {
            ch.command(AppCommand::CheckForUpdate).await;
            assert_eq!(ch.commands.receive().await, AppCommand::CheckForUpdate);
            ch.notifications
                .try_send(Notification::NoActiveJob)
                .unwrap();
            assert_eq!(ch.notification().await, Notification::NoActiveJob);
        });
    }
}
