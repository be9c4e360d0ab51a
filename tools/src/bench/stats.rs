//! Latency samples and their summary: count, minimum, median, 99th percentile, maximum
//! and mean, in milliseconds, as the report and the JSON show them.

use std::time::Duration;

use serde::Serialize;

/// A summary of latency samples, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    /// Samples summarised.
    pub count: usize,
    /// Smallest sample.
    pub min_ms: f64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl Summary {
    /// Summarises `samples`; all zero when there are none.
    pub fn of(samples: &[Duration]) -> Self {
        let mut millis: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        if millis.is_empty() {
            return Self::default();
        }
        millis.sort_by(f64::total_cmp);
        let mean_ms = millis.iter().sum::<f64>() / millis.len() as f64;
        Self {
            count: millis.len(),
            min_ms: millis[0],
            p50_ms: rank(&millis, 0.50),
            p99_ms: rank(&millis, 0.99),
            max_ms: millis[millis.len() - 1],
            mean_ms,
        }
    }
}

/// The nearest-rank percentile `fraction` of sorted, non-empty `sorted`.
fn rank(sorted: &[f64], fraction: f64) -> f64 {
    let index = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[index.clamp(1, sorted.len()) - 1]
}

/// Events per second, zero for an empty interval.
pub fn per_second(count: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let summary = Summary::of(&samples);
        assert_eq!(summary.count, 100);
        assert!((summary.p50_ms - 50.0).abs() < 1e-9);
        assert!((summary.p99_ms - 99.0).abs() < 1e-9);
        assert!((summary.max_ms - 100.0).abs() < 1e-9);
        assert!((summary.min_ms - 1.0).abs() < 1e-9);
    }

    #[test]
    fn no_samples_summarise_to_zero() {
        assert_eq!(Summary::of(&[]).count, 0);
    }
}
