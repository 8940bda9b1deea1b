//! Reconnect delays: exponential backoff with jitter, from a caller-provided seed.
//!
//! The delay before attempt `n` (counting from 0 after the last success) is drawn uniformly
//! from `[cap / 2, cap]` where `cap = min(max, min * 2^n)` ("equal jitter"): it grows like
//! the plain exponential backoff but a fleet that lost its broker at the same instant does not
//! come back in lockstep. The jitter comes from a small PRNG (xorshift64*) seeded by the
//! caller, for example from the chip's hardware RNG; the same seed gives the same delays, so
//! tests are deterministic.

use embassy_time::Duration;

/// Exponential backoff with jitter. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    state: u64,
}

impl Backoff {
    /// Delays from `min` doubling up to `max` (`max` is raised to `min` if smaller; a zero
    /// `min` is taken as 1 ms), jittered from `seed`.
    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        let min = if min.as_ticks() == 0 {
            Duration::from_millis(1)
        } else {
            min
        };
        Self {
            min,
            max: if max < min { min } else { max },
            attempt: 0,
            // xorshift must not start at 0; mix the seed so that small seeds differ a lot.
            state: splitmix(seed) | 1,
        }
    }

    /// Failed attempts since the last [`Backoff::reset`].
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay to wait before the next attempt; counts one more failed attempt.
    pub fn next_delay(&mut self) -> Duration {
        let cap = self.cap(self.attempt).as_ticks();
        self.attempt = self.attempt.saturating_add(1);
        let half = cap / 2;
        let span = cap - half;
        let r = self.next_u64() % (span + 1);
        Duration::from_ticks(half + r)
    }

    /// The upper bound of the delay after `attempt` failures.
    pub fn cap(&self, attempt: u32) -> Duration {
        let shift = attempt.min(32);
        let grown = self.min.as_ticks().saturating_mul(1u64 << shift);
        Duration::from_ticks(grown.min(self.max.as_ticks()))
    }

    /// A connection succeeded: start again from `min`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(d: Duration) -> u64 {
        d.as_millis()
    }

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
        let caps = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000];
        for cap in caps {
            let d = ms(b.next_delay());
            assert!(d >= cap / 2 && d <= cap, "{d} not in [{}, {cap}]", cap / 2);
        }
        assert_eq!(b.attempt(), 8);
        b.reset();
        let d = ms(b.next_delay());
        assert!((500..=1_000).contains(&d), "reset starts again at min: {d}");
    }

    #[test]
    fn same_seed_same_delays_other_seed_other_delays() {
        let run = |seed| {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60), seed);
            (0..10)
                .map(|_| ms(b.next_delay()))
                .collect::<std::vec::Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn jitter_spreads_a_fleet() {
        // 100 devices losing the broker at once: their first retries are spread out.
        let mut firsts: std::vec::Vec<u64> = (0..100)
            .map(|seed| {
                Backoff::new(Duration::from_secs(4), Duration::from_secs(60), seed).next_delay()
            })
            .map(ms)
            .collect();
        firsts.sort_unstable();
        firsts.dedup();
        assert!(firsts.len() > 90, "only {} distinct delays", firsts.len());
        assert!(firsts[0] >= 2_000 && *firsts.last().unwrap() <= 4_000);
    }

    #[test]
    fn degenerate_settings_are_safe() {
        let mut b = Backoff::new(Duration::from_ticks(0), Duration::from_ticks(0), 0);
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_millis(1));
        }
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(1), 3);
        assert!(
            b.next_delay() <= Duration::from_secs(10),
            "max raised to min"
        );
    }

    proptest! {
        #[test]
        fn every_delay_is_within_half_cap_and_cap(
            min_ms in 1u64..10_000, max_ms in 1u64..600_000, seed: u64, n in 0usize..80
        ) {
            let mut b = Backoff::new(Duration::from_millis(min_ms), Duration::from_millis(max_ms), seed);
            for i in 0..n {
                let cap = b.cap(i as u32).as_ticks();
                let d = b.next_delay().as_ticks();
                prop_assert!(d <= cap && d >= cap / 2);
                prop_assert!(d <= Duration::from_millis(max_ms.max(min_ms)).as_ticks());
            }
        }
    }
}
