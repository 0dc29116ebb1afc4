//! What one target's HTTP layer shares across its EC2 and S3 clients: the rate
//! limiter, the circuit breaker and the latency average.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::breaker::CircuitBreaker;

/// Weight of the newest sample in the latency average.
const LATENCY_SMOOTHING: f64 = 0.2;

/// Per-target state behind every attempt.
#[derive(Debug)]
pub(crate) struct TargetHealth {
    pub target: String,
    pub limiter: DefaultDirectRateLimiter,
    pub breaker: CircuitBreaker,
    latency_ms: Mutex<Option<f64>>,
}

impl TargetHealth {
    pub fn new(
        target: &str,
        requests_per_second: NonZeroU32,
        burst: NonZeroU32,
        breaker_failures: u32,
        breaker_cooldown: Duration,
    ) -> Self {
        TargetHealth {
            target: target.to_owned(),
            limiter: RateLimiter::direct(Quota::per_second(requests_per_second).allow_burst(burst)),
            breaker: CircuitBreaker::new(breaker_failures, breaker_cooldown),
            latency_ms: Mutex::new(None),
        }
    }

    /// Folds one successful attempt's latency into the average.
    pub fn record_latency(&self, latency: Duration) {
        let sample = latency.as_secs_f64() * 1000.0;
        let mut average = self
            .latency_ms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *average = Some(match *average {
            None => sample,
            Some(previous) => previous + LATENCY_SMOOTHING * (sample - previous),
        });
    }

    /// The exponentially weighted average latency in milliseconds, if any attempt succeeded yet.
    pub fn latency_ms(&self) -> Option<f64> {
        *self
            .latency_ms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_an_exponentially_weighted_average() {
        let one = NonZeroU32::new(1).unwrap();
        let health = TargetHealth::new("t", one, one, 3, Duration::from_secs(1));
        assert_eq!(health.latency_ms(), None);
        health.record_latency(Duration::from_millis(100));
        assert_eq!(health.latency_ms(), Some(100.0));
        health.record_latency(Duration::from_millis(200));
        let average = health.latency_ms().unwrap();
        assert!((average - 120.0).abs() < 1e-9, "{average}");
    }
}
