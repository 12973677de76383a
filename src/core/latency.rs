//! Action latency, per bot: fixed buckets, counted without locks, read by
//! `/metrics` as a histogram.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the buckets, seconds (the last bucket is everything above).
pub const BOUNDS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One bot's answered actions by how long they took.
#[derive(Debug, Default)]
pub struct Latency {
    counts: [AtomicU64; BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

impl Latency {
    /// Counts one action that took `took`.
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BOUNDS.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// (sum in seconds, count, cumulative buckets as (upper bound, count),
    /// the last one `+Inf`).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(BOUNDS.len() + 1);
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Relaxed);
            buckets.push((BOUNDS.get(i).copied().unwrap_or(f64::INFINITY), total));
        }
        (self.sum_micros.load(Relaxed) as f64 / 1e6, total, buckets)
    }

    /// The latency below which `q` (0..1) of the actions fell: the upper
    /// bound of the bucket holding that rank (`None` before any action).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let (_, total, buckets) = self.snapshot();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        buckets.iter().find(|(_, n)| *n >= rank).map(|(b, _)| *b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_quantiles_read_them() {
        let l = Latency::default();
        for ms in [1, 3, 3, 40, 2_000] {
            l.observe(Duration::from_millis(ms));
        }
        l.observe(Duration::from_secs(60));
        let (sum, count, buckets) = l.snapshot();
        assert_eq!(count, 6);
        assert!((sum - 62.047).abs() < 1e-9, "{sum}");
        assert_eq!(buckets[0], (0.001, 1));
        assert_eq!(buckets[2], (0.005, 3));
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 6));
        assert_eq!(l.quantile(0.5), Some(0.005));
        assert_eq!(l.quantile(0.99), Some(f64::INFINITY));
        assert_eq!(Latency::default().quantile(0.5), None);
    }
}
