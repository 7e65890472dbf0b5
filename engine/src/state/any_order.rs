//! Sequences whose steps may happen in any order: `steps all of A, B, C` (every step) or
//! `steps N of A, B, C` (at least N of the steps).
//!
//! For each key, the time each step last happened is remembered:
//!
//! - An event counts for every step it makes happen: an event that makes steps A and B happen
//!   counts as both (the steps are conditions on events, not a path through them).
//! - At each event that makes a step happen, at time `t`, the sequence matches when at least
//!   `need` steps last happened within the window that ends at the event, `[t - D, t]` (inclusive).
//!   The match reports the earliest of those steps' times as its start.
//! - Then the key's state is dropped: the events of a match are used up, and the next match needs
//!   the steps to happen again.
//! - A step time older than `watermark - 2 * D` can no longer be part of a match with an event at
//!   most D behind the watermark; it is forgotten, and a key with nothing left is dropped (see the
//!   module docs of [`crate::state`] for late events). A late event does not move a step's time
//!   back: a step keeps its latest time.
//! - At most `max_keys` keys are held, as for the other state kinds.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::sequence::SequenceMatch;
use super::{
    horizon, key_text, loaded_time, saved_time, Invalid, Key, Keyed, KeyedState, Limits, Overflow,
};

/// The state of one sequence whose steps happen in any order.
#[derive(Debug)]
pub struct AnyOrder {
    steps: usize,
    need: usize,
    within: i64,
    limits: Limits,
    /// Per key, the latest time each step happened (`None`: not within reach).
    keys: Keyed<Vec<Option<i64>>>,
    /// Newest event time seen, the watermark between `evict` calls.
    newest: i64,
    overflow: Overflow,
}

impl AnyOrder {
    /// A sequence of `steps` steps, at least `need` of which must happen within `within_ms` of
    /// each other. A negative window counts as 0; a `need` of 0 counts as 1; a sequence that
    /// needs more steps than it has never matches.
    pub fn new(steps: usize, need: usize, within_ms: i64, limits: Limits) -> Self {
        AnyOrder {
            steps,
            need: need.max(1),
            within: within_ms.max(0),
            limits,
            keys: Keyed::default(),
            newest: i64::MIN,
            overflow: Overflow::default(),
        }
    }

    /// One event for `key` at `t`; `happened[i]` says whether step `i` happens on this event
    /// (missing entries count as false). Returns the match this event completes, if any.
    pub fn observe(&mut self, key: &Key, t: i64, happened: &[bool]) -> Option<SequenceMatch> {
        self.newest = self.newest.max(t);
        if self.need > self.steps || !happened.iter().take(self.steps).any(|&h| h) {
            return None;
        }
        let cutoff = horizon(self.newest, self.within);
        let (key_arc, mut latest, is_new) = match self.keys.take(key) {
            Some((key_arc, latest)) => (key_arc, latest, false),
            None => (Arc::new(key.clone()), vec![None; self.steps], true),
        };
        for (i, time) in latest.iter_mut().enumerate() {
            if happened.get(i).copied().unwrap_or(false) {
                *time = Some(time.map_or(t, |old| old.max(t)));
            }
            if time.is_some_and(|x| x < cutoff) {
                *time = None;
            }
        }
        let from = t.saturating_sub(self.within);
        let mut count = 0;
        let mut started_at = t;
        for &time in latest.iter().flatten() {
            if from <= time && time <= t {
                count += 1;
                started_at = started_at.min(time);
            }
        }
        if count >= self.need {
            // The key is not put back: its steps are used up.
            return Some(SequenceMatch { started_at });
        }
        let newest = latest.iter().flatten().copied().max()?;
        let max_keys = self.limits.max_keys;
        let overflow = &mut self.overflow;
        (self.keys).put_back(key_arc, latest, newest, is_new, max_keys, cutoff, overflow);
        None
    }

    /// Drops the keys whose steps can no longer be part of a match with an event at or after
    /// `watermark - within` (all happened before `watermark - 2 * within`).
    pub fn evict(&mut self, watermark: i64) {
        self.keys.pop_older_than(horizon(watermark, self.within));
    }

    /// The number of keys with steps remembered.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// What had to be dropped to stay within [`Limits`].
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// Everything that decides later matches, for a checkpoint.
    pub(crate) fn snapshot(&self) -> AnyOrderState {
        AnyOrderState {
            keys: self.keys.snapshot(Clone::clone),
            newest: saved_time(self.newest),
            overflow: self.overflow,
        }
    }

    /// The state a snapshot was taken of; the other arguments are those of its definition, as
    /// for [`AnyOrder::new`].
    pub(crate) fn restore(
        steps: usize,
        need: usize,
        within_ms: i64,
        limits: Limits,
        state: AnyOrderState,
    ) -> Result<Self, Invalid> {
        let mut sequence = AnyOrder::new(steps, need, within_ms, limits);
        sequence.keys = Keyed::restore(state.keys, |key, latest: Vec<Option<i64>>| {
            let bad =
                |what: String| Invalid::new(format!("the steps of key {}: {what}", key_text(key)));
            if latest.len() != steps {
                return Err(bad(format!("{} times for {steps} steps", latest.len())));
            }
            if latest.iter().all(Option::is_none) {
                return Err(bad("none happened".into()));
            }
            Ok(latest)
        })?;
        sequence.newest = loaded_time(state.newest);
        sequence.overflow = state.overflow;
        Ok(sequence)
    }
}

/// The saved form of an [`AnyOrder`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnyOrderState {
    /// Per key, the latest time each step happened.
    keys: KeyedState<Vec<Option<i64>>>,
    newest: Option<i64>,
    overflow: Overflow,
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[bool] = &[true, false, false];
    const B: &[bool] = &[false, true, false];
    const C: &[bool] = &[false, false, true];
    const AB: &[bool] = &[true, true, false];
    const NONE: &[bool] = &[false, false, false];

    fn key(s: &str) -> Key {
        Key::new(vec![Some(s.to_owned())])
    }

    /// Feeds `(time, happened)` events for key "k"; returns the start of each match, per event.
    fn run(s: &mut AnyOrder, events: &[(i64, &[bool])]) -> Vec<Option<i64>> {
        events
            .iter()
            .map(|&(t, h)| s.observe(&key("k"), t, h).map(|m| m.started_at))
            .collect()
    }

    fn all_of_three(within: i64) -> AnyOrder {
        AnyOrder::new(3, 3, within, Limits::default())
    }

    #[test]
    fn every_order_matches() {
        for order in [
            [A, B, C],
            [A, C, B],
            [B, A, C],
            [B, C, A],
            [C, A, B],
            [C, B, A],
        ] {
            let mut s = all_of_three(100);
            let events: Vec<(i64, &[bool])> = order
                .iter()
                .enumerate()
                .map(|(i, &h)| (i as i64 * 10, h))
                .collect();
            assert_eq!(run(&mut s, &events), [None, None, Some(0)], "{order:?}");
        }
    }

    #[test]
    fn the_window_ends_at_the_completing_event_and_is_inclusive() {
        let mut s = all_of_three(100);
        assert_eq!(
            run(&mut s, &[(0, A), (50, B), (100, C)]),
            [None, None, Some(0)]
        );
        let mut s = all_of_three(100);
        assert_eq!(
            run(&mut s, &[(0, A), (50, B), (101, C)]),
            [None, None, None]
        );
        // A happens again: its latest time counts.
        assert_eq!(run(&mut s, &[(120, A)]), [Some(50)]);
    }

    #[test]
    fn an_event_counts_for_every_step_it_makes_happen() {
        let mut s = all_of_three(100);
        assert_eq!(run(&mut s, &[(0, AB), (10, C)]), [None, Some(0)]);
        let mut s = AnyOrder::new(3, 2, 100, Limits::default());
        assert_eq!(run(&mut s, &[(0, AB)]), [Some(0)]);
    }

    #[test]
    fn n_of_the_steps() {
        let mut s = AnyOrder::new(3, 2, 100, Limits::default());
        // The same step twice is one step.
        assert_eq!(
            run(&mut s, &[(0, A), (10, A), (20, C)]),
            [None, None, Some(10)]
        );
        // The match used the steps up: B alone starts again, and keeps its latest time.
        assert_eq!(
            run(&mut s, &[(30, B), (40, B), (50, A)]),
            [None, None, Some(40)]
        );
        // Needing more steps than there are never matches; needing 0 is needing 1.
        let mut s = AnyOrder::new(2, 3, 100, Limits::default());
        assert_eq!(run(&mut s, &[(0, A), (1, B), (2, AB)]), [None, None, None]);
        let mut s = AnyOrder::new(2, 0, 100, Limits::default());
        assert_eq!(run(&mut s, &[(0, A), (1, NONE)]), [Some(0), None]);
    }

    #[test]
    fn keys_are_apart_and_old_steps_are_forgotten() {
        let mut s = AnyOrder::new(2, 2, 100, Limits::default());
        assert_eq!(s.observe(&key("alice"), 0, A), None);
        assert_eq!(s.observe(&key("bob"), 10, B), None);
        assert_eq!(s.keys(), 2);
        s.evict(205);
        assert_eq!(s.keys(), 1, "alice's step at 0 is before 205 - 200");
        assert_eq!(s.observe(&key("alice"), 210, B), None);
        assert_eq!(
            s.observe(&key("bob"), 100, A).map(|m| m.started_at),
            Some(10)
        );
    }

    #[test]
    fn a_late_event_does_not_move_a_step_back() {
        let mut s = AnyOrder::new(2, 2, 100, Limits::default());
        assert_eq!(
            run(&mut s, &[(500, A), (300, A), (400, B)]),
            [None, None, None]
        );
        // B at 400 is within 100 of A's latest time, 500, but the window ends at B.
        assert_eq!(run(&mut s, &[(550, B)]), [Some(500)]);
    }

    #[test]
    fn the_key_cap_drops_the_least_recent_key() {
        let limits = Limits {
            max_keys: 2,
            ..Limits::default()
        };
        let mut s = AnyOrder::new(2, 2, 1000, limits);
        s.observe(&key("a"), 0, A);
        s.observe(&key("b"), 1, A);
        s.observe(&key("c"), 2, A);
        assert_eq!(s.keys(), 2);
        assert_eq!(s.overflow().keys_dropped, 1);
        assert_eq!(s.observe(&key("a"), 3, B), None, "a was dropped");
        assert!(s.observe(&key("c"), 4, B).is_some());
    }

    #[test]
    fn a_restored_state_goes_on_as_the_original() {
        let events: Vec<(&str, i64, &[bool])> = vec![
            ("a", 0, A),
            ("b", 5, C),
            ("a", 10, B),
            ("b", 20, A),
            ("a", 30, C),
            ("b", 40, B),
            ("c", 45, AB),
            ("b", 400, C),
        ];
        for split in 0..events.len() {
            let mut original = all_of_three(100);
            for &(k, t, h) in &events[..split] {
                original.observe(&key(k), t, h);
            }
            let saved = serde_json::to_value(original.snapshot()).unwrap();
            let saved: AnyOrderState = serde_json::from_value(saved).unwrap();
            let mut restored = AnyOrder::restore(3, 3, 100, Limits::default(), saved).unwrap();
            for &(k, t, h) in &events[split..] {
                assert_eq!(
                    restored.observe(&key(k), t, h),
                    original.observe(&key(k), t, h),
                    "split {split}, at {t}"
                );
            }
        }
    }

    #[test]
    fn a_snapshot_that_breaks_the_invariants_is_refused() {
        let mut s = all_of_three(100);
        s.observe(&key("a"), 0, A);
        let mut saved = serde_json::to_value(s.snapshot()).unwrap();
        saved["keys"]["entries"][0]["value"] = serde_json::json!([null, null, null]);
        let state: AnyOrderState = serde_json::from_value(saved.clone()).unwrap();
        let err = AnyOrder::restore(3, 3, 100, Limits::default(), state).unwrap_err();
        assert!(err.0.contains("none happened"), "{}", err.0);
        saved["keys"]["entries"][0]["value"] = serde_json::json!([1]);
        let state: AnyOrderState = serde_json::from_value(saved).unwrap();
        let err = AnyOrder::restore(3, 3, 100, Limits::default(), state).unwrap_err();
        assert!(err.0.contains("1 times for 3 steps"), "{}", err.0);
    }
}
