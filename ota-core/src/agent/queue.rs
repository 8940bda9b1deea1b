//! The agent's bounded queue of pending actions. Entries are small descriptors; the bytes of
//! an action (topic, payload) are rendered when it is polled.

use crate::codec::job::ExecutionStatus;
use crate::types::{FailReason, ImageState, QoS};

/// Capacity of the queue: more than any single input can produce.
pub(crate) const QUEUE_CAP: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    NotifyNext,
    NextGetAnswers,
    UpdateAnswers,
    StreamData(Slot),
    StreamRejected(Slot),
}

/// Which job-id slot an entry refers to (two slots, so that a job superseded within one input
/// is still named correctly by the entries queued for it).
pub(crate) type Slot = u8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    Progress {
        done: u32,
        total: u32,
        file: u8,
        files: u8,
    },
    SelfTestReady,
    SelfTestActive {
        updated_by: u32,
    },
    Succeeded {
        updated_by: u32,
    },
    FilesDone {
        files: u8,
    },
    Failed(FailReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusMsg {
    pub(crate) slot: Slot,
    pub(crate) status: ExecutionStatus,
    pub(crate) detail: Detail,
    pub(crate) token: u32,
    pub(crate) qos: QoS,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    ReceivedJob { files: u8, resumed: bool },
    NoActiveJob,
    CustomJob,
    Progress { file: u8, done: u32, total: u32 },
    FileComplete { file: u8, file_type: u32 },
    ReadyToActivate,
    StartSelfTest,
    Accepted,
    SelfTestFailed(FailReason),
    Failed(FailReason),
    JobFinished(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Sub(Topic),
    Unsub(Topic),
    NextGet(u32),
    Status(StatusMsg),
    GetStream { offset: u32, span: u32 },
    HttpGet { first: u32, last: u32 },
    HttpCancel,
    FileCreate { resume: bool },
    FileWrite { offset: u32, len: u32 },
    FileRead { offset: u32, len: u32 },
    FileClose,
    FileAbort,
    PersistResume,
    ClearResume,
    SetImageState(ImageState),
    Activate,
    Reset,
    Notify(Slot, Note),
}

#[derive(Debug)]
pub(crate) struct Queue {
    items: [Option<Pending>; QUEUE_CAP],
    head: usize,
    len: usize,
    /// Entries refused because the queue was full (a bug if ever non-zero).
    pub(crate) overflowed: u32,
}

impl Queue {
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    pub(crate) const fn new() -> Self {
        Self {
            items: [None; QUEUE_CAP],
            head: 0,
            len: 0,
            overflowed: 0,
        }
    }
    pub(crate) fn push(&mut self, p: Pending) {
        if self.len == QUEUE_CAP {
            self.overflowed = self.overflowed.saturating_add(1);
            return;
        }
        let i = (self.head + self.len) % QUEUE_CAP;
        self.items[i] = Some(p);
        self.len += 1;
    }
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    pub(crate) fn pop(&mut self) -> Option<Pending> {
        if self.len == 0 {
            return None;
        }
        let p = self.items[self.head].take();
        self.head = (self.head + 1) % QUEUE_CAP;
        self.len -= 1;
        p
    }
    #[inline(never)] // smaller out of line (measured, see the README's code size)
    pub(crate) fn clear(&mut self) {
        *self = Self::new();
    }
}
