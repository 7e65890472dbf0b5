//! Retrying with exponential backoff and jitter, shared by the webhook and e-mail sinks and the
//! Elasticsearch client, and [`chain`], which describes a failed attempt with its causes.
//!
//! The wait before retry `n + 1` grows as `initial × 2^n` up to `max` ([`bound`]); jitter then
//! spreads the retries of many clients: the sinks take a random half of it off ([`backoff`],
//! "equal jitter", which keeps a floor so that a struggling server gets a real pause), the
//! Elasticsearch client waits a random time up to it ([`full_jitter`]). The randomness is
//! std's per-process randomly keyed hasher over a counter ([`Jitter`], [`random_unit`]): no
//! random-number crate, and two k8scop instances do not retry in step.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The exponential bound of the wait before retry number `retry + 1` (`retry` counts from 0):
/// `initial × 2^retry`, at most `max`. Saturates rather than overflows on absurd counts.
pub fn bound(initial: Duration, max: Duration, retry: u32) -> Duration {
    let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

/// "Equal jitter": the [`bound`] with a random part of its half (`unit` in [0, 1)) taken off, so
/// between half the bound and the bound.
pub fn backoff(initial: Duration, max: Duration, retry: u32, unit: f64) -> Duration {
    bound(initial, max, retry).mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// "Full jitter": a random whole number of milliseconds from 1 up to the [`bound`] (`unit` in
/// [0, 1)), never zero.
pub fn full_jitter(initial: Duration, max: Duration, retry: u32, unit: f64) -> Duration {
    let millis = bound(initial, max, retry).as_millis().max(1) as u64;
    let drawn = (unit.clamp(0.0, 1.0) * millis as f64) as u64;
    Duration::from_millis(1 + drawn.min(millis - 1))
}

/// A number in [0, 1) from the top 53 bits of a hash.
pub fn unit_interval(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// A sequence of jitter draws for one client (a sink): a randomly keyed hasher over a counter.
#[derive(Debug, Default)]
pub struct Jitter {
    /// Keyed randomly by std, once per process and differently for each `RandomState`.
    keys: RandomState,
    draws: u64,
}

impl Jitter {
    /// A new sequence.
    pub fn new() -> Jitter {
        Jitter::default()
    }

    /// The next draw, in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.draws += 1;
        unit_interval(self.keys.hash_one(self.draws))
    }
}

/// A draw in [0, 1) for callers without their own [`Jitter`] (the Elasticsearch client, whose
/// retry policy is shared by value): each call hashes a fresh value of a process-wide counter.
pub fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    unit_interval(RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// An error and its causes, `: `-separated; a cause whose text the message already holds (as
/// many libraries repeat it) is left out.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_bound_doubles_up_to_the_cap_without_overflow() {
        let bounds: Vec<u128> = (0..6)
            .map(|n| bound(100 * MS, 1000 * MS, n).as_millis())
            .collect();
        assert_eq!(bounds, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(bound(100 * MS, 1000 * MS, 200), 1000 * MS);
        assert_eq!(
            bound(Duration::from_secs(u64::MAX / 2), Duration::MAX, 40),
            Duration::MAX
        );
    }

    #[test]
    fn equal_jitter_takes_at_most_half_off() {
        let (initial, max) = (100 * MS, 1000 * MS);
        let none: Vec<u128> = (0..6)
            .map(|n| backoff(initial, max, n, 0.999_999).as_millis())
            .collect();
        assert_eq!(none, [99, 199, 399, 799, 999, 999]);
        let most: Vec<u128> = (0..6)
            .map(|n| backoff(initial, max, n, 0.0).as_millis())
            .collect();
        assert_eq!(most, [50, 100, 200, 400, 500, 500]);
        assert_eq!(backoff(initial, max, 200, 0.0), 500 * MS);
    }

    #[test]
    fn full_jitter_is_between_a_millisecond_and_the_bound() {
        let (initial, max) = (100 * MS, 2000 * MS);
        assert_eq!(full_jitter(initial, max, 0, 0.0), MS);
        assert_eq!(full_jitter(initial, max, 0, 0.999_999), 100 * MS);
        assert_eq!(full_jitter(initial, max, 3, 0.5), 401 * MS);
        assert_eq!(full_jitter(initial, max, 30, 0.999_999), 2000 * MS);
        // A zero bound still waits a millisecond.
        assert_eq!(full_jitter(Duration::ZERO, max, 0, 0.7), MS);
    }

    #[test]
    fn draws_are_in_the_unit_interval_and_spread() {
        let mut jitter = Jitter::new();
        let draws: Vec<f64> = (0..50).map(|_| jitter.unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)), "{draws:?}");
        let globals: Vec<f64> = (0..50).map(|_| random_unit()).collect();
        assert!(
            globals.iter().all(|u| (0.0..1.0).contains(u)),
            "{globals:?}"
        );
        for sample in [&draws, &globals] {
            let low = sample.iter().filter(|u| **u < 0.5).count();
            assert!((5..=45).contains(&low), "{sample:?}");
        }
        assert_eq!(unit_interval(0), 0.0);
        assert!(unit_interval(u64::MAX) < 1.0);
    }

    #[derive(Debug)]
    struct Failure(&'static str, Option<Box<Failure>>);

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn chain_joins_causes_it_does_not_already_show() {
        let inner = Failure("connection refused", None);
        let middle = Failure(
            "error sending request: connection refused",
            Some(Box::new(inner)),
        );
        let outer = Failure("request failed", Some(Box::new(middle)));
        assert_eq!(
            chain(&outer),
            "request failed: error sending request: connection refused"
        );
    }
}
