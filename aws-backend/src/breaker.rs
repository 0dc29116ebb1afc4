//! The per-target circuit breaker: after N consecutive failed attempts, refuse
//! attempts for a cooldown, then let one trial through (half-open) — or every
//! `probe()` — and close again on the first success.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why an attempt may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The breaker is closed.
    Normal,
    /// The breaker is open, its cooldown passed: this attempt tests the target.
    Trial,
}

/// The breaker refused an attempt; `failures` is how many failed in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub failures: u32,
}

#[derive(Debug)]
enum State {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        since: Instant,
        failures: u32,
        trial_in_flight: bool,
    },
}

/// Counts consecutive failures; thread-safe, never held across an await.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// `threshold` consecutive failures open it (at least 1).
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed {
                consecutive_failures: 0,
            }),
        }
    }

    /// Decides whether an attempt may go out now. While open and cooling down,
    /// nothing passes; after the cooldown one trial at a time passes, and a
    /// probe always does (the caller asked explicitly to test the target).
    pub fn admit(&self, probe: bool) -> Result<Admission, Refused> {
        let mut state = self.lock();
        match &mut *state {
            State::Closed { .. } => Ok(Admission::Normal),
            State::Open {
                since,
                failures,
                trial_in_flight,
            } => {
                if since.elapsed() < self.cooldown || (*trial_in_flight && !probe) {
                    Err(Refused {
                        failures: *failures,
                    })
                } else {
                    *trial_in_flight = true;
                    Ok(Admission::Trial)
                }
            }
        }
    }

    /// The target answered: close the breaker.
    pub fn record_success(&self) {
        *self.lock() = State::Closed {
            consecutive_failures: 0,
        };
    }

    /// The attempt failed. Opens the breaker at the threshold (then returns
    /// true); a failed trial restarts the cooldown.
    pub fn record_failure(&self, admission: Admission) -> bool {
        let mut state = self.lock();
        let mut opened = false;
        let next = match &*state {
            State::Closed {
                consecutive_failures,
            } => {
                let failures = consecutive_failures + 1;
                if failures >= self.threshold {
                    opened = true;
                    State::Open {
                        since: Instant::now(),
                        failures,
                        trial_in_flight: false,
                    }
                } else {
                    State::Closed {
                        consecutive_failures: failures,
                    }
                }
            }
            State::Open {
                since,
                failures,
                trial_in_flight,
            } => match admission {
                Admission::Trial => State::Open {
                    since: Instant::now(),
                    failures: failures + 1,
                    trial_in_flight: false,
                },
                // A straggler admitted before the breaker opened.
                Admission::Normal => State::Open {
                    since: *since,
                    failures: failures + 1,
                    trial_in_flight: *trial_in_flight,
                },
            },
        };
        *state = next;
        opened
    }

    /// The attempt ended with no verdict on the target (the caller gave up on
    /// it early). Frees the trial slot so another attempt can test the target.
    pub fn record_abandoned(&self, admission: Admission) {
        if admission == Admission::Trial {
            if let State::Open {
                trial_in_flight, ..
            } = &mut *self.lock()
            {
                *trial_in_flight = false;
            }
        }
    }

    /// True while the breaker is open (cooling down or waiting for a trial to succeed).
    pub fn is_open(&self) -> bool {
        matches!(*self.lock(), State::Open { .. })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every write is one assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(60));
        breaker.record_failure(Admission::Normal);
        breaker.record_failure(Admission::Normal);
        breaker.record_success();
        breaker.record_failure(Admission::Normal);
        breaker.record_failure(Admission::Normal);
        assert!(!breaker.is_open());
        assert_eq!(breaker.admit(false), Ok(Admission::Normal));
        assert!(
            breaker.record_failure(Admission::Normal),
            "the third failure opens it"
        );
        assert!(breaker.is_open());
        assert_eq!(breaker.admit(false), Err(Refused { failures: 3 }));
        assert_eq!(
            breaker.admit(true),
            Err(Refused { failures: 3 }),
            "a probe waits for the cooldown too"
        );
    }

    #[test]
    fn after_cooldown_one_trial_at_a_time_and_probes_always() {
        let breaker = CircuitBreaker::new(1, Duration::from_millis(20));
        breaker.record_failure(Admission::Normal);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(breaker.admit(false), Ok(Admission::Trial));
        assert_eq!(
            breaker.admit(false),
            Err(Refused { failures: 1 }),
            "second trial while one is in flight"
        );
        assert_eq!(
            breaker.admit(true),
            Ok(Admission::Trial),
            "a probe is let through"
        );
        breaker.record_abandoned(Admission::Trial);
        assert_eq!(breaker.admit(false), Ok(Admission::Trial));
        breaker.record_success();
        assert!(!breaker.is_open());
    }

    #[test]
    fn a_failed_trial_restarts_the_cooldown() {
        let breaker = CircuitBreaker::new(1, Duration::from_millis(50));
        breaker.record_failure(Admission::Normal);
        std::thread::sleep(Duration::from_millis(60));
        let trial = breaker.admit(false).unwrap();
        assert!(!breaker.record_failure(trial), "already open");
        assert_eq!(breaker.admit(true), Err(Refused { failures: 2 }));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breaker.admit(false), Ok(Admission::Trial));
    }
}
