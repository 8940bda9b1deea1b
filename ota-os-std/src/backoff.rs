//! Reconnect delays: exponential backoff with jitter, capped.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with "equal jitter": attempt `n` waits a random time in
/// `[d/2, d]` where `d = min(max, initial * 2^n)`. Half of each delay is random, so a fleet
/// that lost its broker at the same instant does not reconnect in lockstep, and no delay is
/// shorter than half the nominal one.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `initial` and capped at `max` (`max` is raised to `initial` if
    /// smaller; a zero `initial` is taken as 1 ms).
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The nominal (jitter-free) delay of the next attempt.
    pub fn nominal(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The delay before the next attempt, with jitter, and counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(&mut rand::thread_rng())
    }

    /// [`Backoff::next_delay`] with the caller's random source.
    pub fn next_delay_with<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        let d = self.nominal();
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        let span = d.saturating_sub(half).as_micros() as u64;
        half + Duration::from_micros(rng.gen_range(0..=span))
    }

    /// Attempts since the last [`Backoff::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the initial delay (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn doubles_up_to_the_cap_then_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let nominal: Vec<u64> = (0..6)
            .map(|_| {
                let n = b.nominal().as_millis() as u64;
                b.next_delay();
                n
            })
            .collect();
        assert_eq!(nominal, [100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.nominal(), Duration::from_millis(100));
        assert_eq!(b.attempts(), 0);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let delays: std::collections::BTreeSet<u128> = (0..20)
            .map(|_| {
                let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
                b.next_delay_with(&mut rng).as_micros()
            })
            .collect();
        assert!(
            delays.len() > 10,
            "jitter gives distinct delays: {delays:?}"
        );
    }

    proptest! {
        #[test]
        fn delay_between_half_and_nominal(init in 0u64..10_000, max in 0u64..100_000,
                                          n in 0u32..80, seed: u64) {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut b = Backoff::new(Duration::from_millis(init), Duration::from_millis(max));
            for _ in 0..n { b.next_delay_with(&mut rng); }
            let nominal = b.nominal();
            let d = b.next_delay_with(&mut rng);
            prop_assert!(d <= nominal);
            prop_assert!(d >= nominal / 2);
            prop_assert!(nominal <= Duration::from_millis(max.max(init).max(1)));
        }
    }
}
