//! The agent's own notion of time. The agent never reads a clock: every input carries `now`.
//!
//! [`Instant`] is milliseconds since an arbitrary epoch chosen by the caller (boot, usually);
//! it must not go backwards across calls (an earlier `now` is treated as the latest seen).

use core::fmt;
use core::ops::{Add, Sub};

/// A point in time, in milliseconds since a caller-chosen epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Self = Self(0);
    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }
    /// From seconds since the epoch.
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1000))
    }
    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Self) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Self;
    fn add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.0))
    }
}

impl Sub<Duration> for Instant {
    type Output = Self;
    fn sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(d.0))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// A span of time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration(u64);

impl Duration {
    /// No time.
    pub const ZERO: Self = Self(0);
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }
    /// From seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1000))
    }
    /// In milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    /// `self * k`, saturating.
    pub const fn saturating_mul(self, k: u64) -> Self {
        Self(self.0.saturating_mul(k))
    }
}

impl Add for Duration {
    type Output = Self;
    fn add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// One-shot timers of the agent, indexed by purpose (quinn-proto's timer table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Retry of the outstanding request (job document, block request, status confirmation).
    Request = 0,
    /// Self-test deadline: roll back if nobody accepts the new image in time.
    SelfTest = 1,
    /// The application's time to claim a custom job.
    CustomJob = 2,
}

impl Timer {
    pub(crate) const COUNT: usize = 3;
    pub(crate) const ALL: [Timer; Self::COUNT] =
        [Timer::Request, Timer::SelfTest, Timer::CustomJob];
}

#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
    }
    pub(crate) fn stop(&mut self, t: Timer) {
        self.at[t as usize] = None;
    }
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }
    pub(crate) fn clear(&mut self) {
        self.at = [None; Timer::COUNT];
    }
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().copied().min()
    }
    /// Takes (stops) the first timer expired at `now`, if any.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        for t in Timer::ALL {
            if let Some(at) = self.at[t as usize] {
                if at <= now {
                    self.at[t as usize] = None;
                    return Some(t);
                }
            }
        }
        None
    }
}
