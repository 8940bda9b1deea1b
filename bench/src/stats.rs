//! Medians, spreads and throughput.

use std::fmt;

/// Median, minimum and maximum of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (mean of the two middle samples for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// How many samples.
    pub n: usize,
}

impl Summary {
    /// Summarises `samples`; NaN samples are ignored. `None` when nothing is left.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.1} [{:.1}, {:.1}] n={}",
            self.median, self.min, self.max, self.n
        )
    }
}

/// Throughput in MB/s (10^6 bytes per second); 0 for a zero or negative time.
pub fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / secs / 1e6
    } else {
        0.0
    }
}

/// The median of the per-repetition ratios `a[i] / b[i]` (pairs measured side by side),
/// in percent.
pub fn paired_ratio_pct(a: &[f64], b: &[f64]) -> Option<Summary> {
    let r: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, y)| **y > 0.0)
        .map(|(x, y)| 100.0 * x / y)
        .collect();
    Summary::of(&r)
}

/// The number after `name` on the command line (`--reps 7`), or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_and_nan() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Summary::of(&[4.0, 1.0, f64::NAN, 2.0, 3.0]).unwrap();
        assert_eq!((s.median, s.n), (2.5, 4));
        assert!(Summary::of(&[f64::NAN]).is_none());
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn throughput_and_ratio() {
        assert_eq!(mb_per_s(4_000_000, 2.0), 2.0);
        assert_eq!(mb_per_s(1, 0.0), 0.0);
        let r = paired_ratio_pct(&[50.0, 90.0, 10.0], &[100.0, 100.0, 0.0]).unwrap();
        assert_eq!((r.median, r.n), (70.0, 2));
    }
}
