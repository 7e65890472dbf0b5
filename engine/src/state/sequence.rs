//! Sequences: `sequence NAME { by ...; within D; steps A -> B [-> C ...] }`.
//!
//! For each key, partial matches advance as events make their steps happen:
//!
//! - Every event that makes step 1 happen starts its own partial match, at its own time.
//! - An event advances each partial match by at most one step: an event that makes steps 1 and 2
//!   happen does not complete a 2-step sequence on its own.
//! - An event that both starts a partial match and advances existing ones does both, but never
//!   advances the partial match it has just started.
//! - A step advances a partial match only if its time is not before the partial match's previous
//!   step and at most D after its step-1 event (`t - start <= D`, inclusive).
//! - The sequence matches when a partial match completes its last step. Then every partial match of
//!   the key is dropped, including one this same event started: the events of a match are used up.
//!   When several complete on the same event, the match reports the earliest start.
//! - A 1-step sequence matches on every event that makes its step happen.
//! - A partial match that can no longer complete is dropped: it started before
//!   `watermark - 2 * D`, so no event at most D behind the watermark can complete it (see the
//!   module docs of [`crate::state`] for late events).
//! - A key holds at most `max_partials_per_key` partial matches; at the cap the one that started
//!   earliest (then the one created first) is dropped and counted in [`Overflow`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::any_order::AnyOrder;
use super::{
    horizon, key_text, loaded_time, saved_time, Invalid, Key, Keyed, KeyedState, Limits, Overflow,
};

/// The partial-match state of one sequence.
#[derive(Debug)]
pub struct Sequence {
    steps: usize,
    within: i64,
    limits: Limits,
    /// Per key, its partial matches sorted by (start, creation order).
    keys: Keyed<Vec<Partial>>,
    /// Newest event time seen, the watermark between `evict` calls.
    newest: i64,
    next_partial: u64,
    overflow: Overflow,
}

/// A completed sequence match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceMatch {
    /// The time of the match's step-1 event.
    pub started_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Partial {
    started_at: i64,
    /// Creation order, to break ties between partial matches that started at the same time.
    created: u64,
    /// The index of the next step to happen (1.. steps - 1).
    next_step: usize,
    /// The time of the latest step taken.
    last_time: i64,
}

impl Sequence {
    /// A sequence of `steps` steps that must all happen within `within_ms` of step 1.
    /// A negative window counts as 0; a sequence of no steps never matches.
    pub fn new(steps: usize, within_ms: i64, limits: Limits) -> Self {
        Sequence {
            steps,
            within: within_ms.max(0),
            limits,
            keys: Keyed::default(),
            newest: i64::MIN,
            next_partial: 0,
            overflow: Overflow::default(),
        }
    }

    /// One event for `key` at `t`; `happened[i]` says whether step `i` happens on this event
    /// (missing entries count as false). Returns the completed match, if any.
    pub fn observe(&mut self, key: &Key, t: i64, happened: &[bool]) -> Option<SequenceMatch> {
        self.newest = self.newest.max(t);
        let step = |i: usize| happened.get(i).copied().unwrap_or(false);
        let starts = step(0);
        if self.steps == 0 || !happened.iter().take(self.steps).any(|&h| h) {
            // Nothing happened for this sequence: the key is not even touched.
            return None;
        }
        if self.steps == 1 && starts {
            // Nothing can be pending for a 1-step sequence: it matches on the spot.
            return Some(SequenceMatch { started_at: t });
        }
        let taken = self.keys.take(key);
        if taken.is_none() && !starts {
            return None;
        }
        let is_new = taken.is_none();
        let (key_arc, mut partials) = match taken {
            Some(taken) => taken,
            None => (Arc::new(key.clone()), Vec::new()),
        };
        let cutoff = horizon(self.newest, self.within);
        partials.retain(|p| p.started_at >= cutoff);

        let mut completed: Option<i64> = None;
        for partial in &mut partials {
            let advances = step(partial.next_step)
                && t >= partial.last_time
                && i128::from(t) - i128::from(partial.started_at) <= i128::from(self.within);
            if !advances {
                continue;
            }
            partial.next_step += 1;
            partial.last_time = t;
            if partial.next_step == self.steps {
                completed =
                    Some(completed.map_or(partial.started_at, |s| s.min(partial.started_at)));
            }
        }
        if let Some(started_at) = completed {
            // Every partial match of the key goes, the one this event would start included: the
            // key is simply not put back.
            return Some(SequenceMatch { started_at });
        }

        if starts {
            let partial = Partial {
                started_at: t,
                created: self.next_partial,
                next_step: 1,
                last_time: t,
            };
            self.next_partial += 1;
            let at =
                partials.partition_point(|p| (p.started_at, p.created) <= (t, partial.created));
            partials.insert(at, partial);
            if partials.len() > self.limits.max_partials_per_key.max(1) {
                partials.remove(0);
                self.overflow.partials_dropped += 1;
            }
        }
        // No partial left (all stale): the key is not put back.
        let newest_start = partials.last().map(|p| p.started_at)?;
        let max_keys = self.limits.max_keys;
        let overflow = &mut self.overflow;
        (self.keys).put_back(
            key_arc,
            partials,
            newest_start,
            is_new,
            max_keys,
            cutoff,
            overflow,
        );
        None
    }

    /// Drops the keys whose partial matches can no longer complete with an event at or after
    /// `watermark - within` (all started before `watermark - 2 * within`). Within a live key,
    /// partial matches that old go when the key next sees an event.
    pub fn evict(&mut self, watermark: i64) {
        self.keys.pop_older_than(horizon(watermark, self.within));
    }

    /// The number of keys with partial matches.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// What had to be dropped to stay within [`Limits`].
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// The number of partial matches held over all keys, for metrics (walks every key).
    pub fn partials(&self) -> usize {
        self.keys.values_unordered().map(Vec::len).sum()
    }
}

impl Sequence {
    /// Everything that decides later matches, for a checkpoint.
    pub(crate) fn snapshot(&self) -> SequenceState {
        SequenceState {
            keys: self.keys.snapshot(Clone::clone),
            newest: saved_time(self.newest),
            next_partial: self.next_partial,
            overflow: self.overflow,
        }
    }

    /// The sequence a snapshot was taken of; `steps`, `within_ms` and `limits` are those of its
    /// definition, as for [`Sequence::new`].
    pub(crate) fn restore(
        steps: usize,
        within_ms: i64,
        limits: Limits,
        state: SequenceState,
    ) -> Result<Self, Invalid> {
        let mut sequence = Sequence::new(steps, within_ms, limits);
        let next_partial = state.next_partial;
        sequence.keys = Keyed::restore(state.keys, |key, partials: Vec<Partial>| {
            let bad = |what: String| {
                Invalid::new(format!("partial matches of key {}: {what}", key_text(key)))
            };
            if partials.is_empty() {
                return Err(bad("none".into()));
            }
            for p in &partials {
                if !(1..steps).contains(&p.next_step) {
                    return Err(bad(format!(
                        "one waits for step {} of {steps}",
                        p.next_step + 1
                    )));
                }
                if p.created >= next_partial {
                    return Err(bad(format!(
                        "one was created as number {}, not below the next one ({next_partial})",
                        p.created
                    )));
                }
            }
            if !partials.is_sorted_by_key(|p| (p.started_at, p.created)) {
                return Err(bad("not ordered by start".into()));
            }
            Ok(partials)
        })?;
        sequence.newest = loaded_time(state.newest);
        sequence.next_partial = next_partial;
        sequence.overflow = state.overflow;
        Ok(sequence)
    }
}

/// The state of a sequence, by how its steps must happen.
#[derive(Debug)]
pub enum Progress {
    /// `steps A -> B -> C`.
    InOrder(Sequence),
    /// `steps all of A, B, C` or `steps N of A, B, C`.
    AnyOrder(AnyOrder),
}

impl Progress {
    /// One event for `key` at `t` (see [`Sequence::observe`] and [`AnyOrder::observe`]).
    pub fn observe(&mut self, key: &Key, t: i64, happened: &[bool]) -> Option<SequenceMatch> {
        match self {
            Progress::InOrder(s) => s.observe(key, t, happened),
            Progress::AnyOrder(s) => s.observe(key, t, happened),
        }
    }

    /// Drops the keys that can no longer complete a match (see [`Sequence::evict`]).
    pub fn evict(&mut self, watermark: i64) {
        match self {
            Progress::InOrder(s) => s.evict(watermark),
            Progress::AnyOrder(s) => s.evict(watermark),
        }
    }

    /// What had to be dropped to stay within [`Limits`].
    pub fn overflow(&self) -> Overflow {
        match self {
            Progress::InOrder(s) => s.overflow(),
            Progress::AnyOrder(s) => s.overflow(),
        }
    }

    /// The number of keys with state.
    pub fn keys(&self) -> usize {
        match self {
            Progress::InOrder(s) => s.keys(),
            Progress::AnyOrder(s) => s.keys(),
        }
    }
}

/// The saved form of a [`Sequence`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SequenceState {
    /// Per key, its partial matches ordered by (start, creation order).
    keys: KeyedState<Vec<Partial>>,
    newest: Option<i64>,
    next_partial: u64,
    overflow: Overflow,
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[bool] = &[true, false, false];
    const B: &[bool] = &[false, true, false];
    const C: &[bool] = &[false, false, true];
    const AB: &[bool] = &[true, true, false];
    const ABC: &[bool] = &[true, true, true];

    fn key(s: &str) -> Key {
        Key::new(vec![Some(s.to_owned())])
    }

    fn seq(steps: usize, within: i64) -> Sequence {
        Sequence::new(steps, within, Limits::default())
    }

    /// Feeds `(time, happened)` events for key "k"; returns the start of each match, per event.
    fn run(s: &mut Sequence, events: &[(i64, &[bool])]) -> Vec<Option<i64>> {
        events
            .iter()
            .map(|&(t, h)| s.observe(&key("k"), t, h).map(|m| m.started_at))
            .collect()
    }

    #[test]
    fn order_matters() {
        let mut s = seq(2, 100);
        assert_eq!(run(&mut s, &[(0, B), (1, A)]), [None, None]);
        assert_eq!(run(&mut s, &[(2, B)]), [Some(1)]);
    }

    #[test]
    fn window_is_inclusive_from_step_one() {
        let mut s = seq(2, 100);
        assert_eq!(run(&mut s, &[(0, A), (100, B)]), [None, Some(0)]);
        let mut s = seq(2, 100);
        assert_eq!(run(&mut s, &[(0, A), (101, B)]), [None, None]);
        // Three steps: the last one is measured from step 1, not from step 2.
        let mut s = seq(3, 100);
        assert_eq!(
            run(&mut s, &[(0, A), (60, B), (101, C)]),
            [None, None, None]
        );
        let mut s = seq(3, 100);
        assert_eq!(
            run(&mut s, &[(0, A), (60, B), (100, C)]),
            [None, None, Some(0)]
        );
    }

    #[test]
    fn each_step_one_event_starts_its_own_partial() {
        let mut s = seq(2, 150);
        // The partial from 0 is out of the window at 200; the one from 100 is not.
        assert_eq!(
            run(&mut s, &[(0, A), (100, A), (200, B)]),
            [None, None, Some(100)]
        );
    }

    #[test]
    fn an_event_takes_a_partial_one_step_at_most() {
        let mut s = seq(2, 100);
        // Steps 1 and 2 on one event: starts a partial, does not complete it.
        assert_eq!(run(&mut s, &[(0, AB)]), [None]);
        // The next one advances that partial and completes it.
        assert_eq!(run(&mut s, &[(1, AB)]), [Some(0)]);
        let mut s = seq(3, 100);
        assert_eq!(
            run(&mut s, &[(0, A), (1, ABC), (2, ABC)]),
            [None, None, Some(0)]
        );
    }

    #[test]
    fn an_event_starts_and_advances() {
        let mut s = seq(3, 100);
        // At 1, the partial from 0 goes to step 3 and a new one starts; at 2 the first completes.
        assert_eq!(
            run(&mut s, &[(0, A), (1, AB), (2, C)]),
            [None, None, Some(0)]
        );
        // The partial started at 1 waits for step 2: the event that started it did not advance it.
        let mut s = seq(3, 100);
        assert_eq!(
            run(&mut s, &[(0, A), (1, AB), (101, C)]),
            [None, None, None]
        );
        let mut s = seq(3, 100);
        assert_eq!(
            run(&mut s, &[(0, A), (1, AB), (50, B), (101, C)]),
            [None, None, None, Some(1)]
        );
        assert_eq!(s.keys(), 0);
    }

    #[test]
    fn a_match_drops_every_partial_of_its_key() {
        let mut s = seq(2, 100);
        assert_eq!(
            run(&mut s, &[(0, A), (10, A), (20, B), (30, B)]),
            [None, None, Some(0), None]
        );
        assert_eq!(s.keys(), 0);
        // Including the one the completing event starts.
        let mut s = seq(2, 100);
        assert_eq!(
            run(&mut s, &[(0, A), (1, AB), (2, B)]),
            [None, Some(0), None]
        );
        // Other keys keep theirs.
        let mut s = seq(2, 100);
        assert_eq!(s.observe(&key("other"), 0, A), None);
        assert_eq!(run(&mut s, &[(1, A), (2, B)]), [None, Some(1)]);
        assert_eq!(
            s.observe(&key("other"), 3, B),
            Some(SequenceMatch { started_at: 0 })
        );
    }

    #[test]
    fn several_completing_together_report_the_earliest_start() {
        let mut s = seq(3, 100);
        assert_eq!(
            run(&mut s, &[(5, A), (6, A), (7, B), (8, C)]),
            [None, None, None, Some(5)]
        );
    }

    #[test]
    fn one_step_sequences_match_every_time() {
        let mut s = seq(1, 100);
        assert_eq!(
            run(&mut s, &[(0, A), (0, A), (500, B), (9, A)]),
            [Some(0), Some(0), None, Some(9)]
        );
        assert_eq!(s.keys(), 0);
        let mut s = seq(0, 100);
        assert_eq!(run(&mut s, &[(0, A), (1, ABC)]), [None, None]);
    }

    #[test]
    fn a_step_before_the_previous_step_does_not_advance() {
        let mut s = seq(2, 100);
        assert_eq!(
            run(&mut s, &[(50, A), (40, B), (50, B)]),
            [None, None, Some(50)]
        );
        // A late step-1 event starts its own partial at its own time.
        let mut s = seq(2, 100);
        assert_eq!(
            run(&mut s, &[(200, A), (150, A), (160, B)]),
            [None, None, Some(150)]
        );
        // A step that arrived before its step 1 does not count after the fact.
        let mut s = seq(2, 100);
        assert_eq!(run(&mut s, &[(160, B), (150, A)]), [None, None]);
    }

    #[test]
    fn expired_partials_are_dropped() {
        let mut s = seq(2, 100);
        run(&mut s, &[(0, A)]);
        s.evict(200);
        assert_eq!(
            s.keys(),
            1,
            "an event at 100 (within behind) could still complete it"
        );
        s.evict(201);
        assert_eq!(s.keys(), 0);
        assert_eq!(run(&mut s, &[(100, B)]), [None]);
        // A key's stale partials also go when it sees a new event.
        let mut s = seq(2, 100);
        run(&mut s, &[(0, A), (500, A)]);
        assert_eq!(s.partials(), 1);
    }

    #[test]
    fn partials_per_key_are_capped_oldest_first() {
        let limits = Limits {
            max_partials_per_key: 2,
            ..Limits::default()
        };
        let mut s = Sequence::new(2, 100, limits);
        assert_eq!(run(&mut s, &[(0, A), (1, A), (2, A)]), [None, None, None]);
        assert_eq!(s.overflow().partials_dropped, 1);
        assert_eq!(s.partials(), 2);
        assert_eq!(run(&mut s, &[(3, B)]), [Some(1)]);
    }

    #[test]
    fn keys_are_capped_least_recent_first() {
        let limits = Limits {
            max_keys: 2,
            ..Limits::default()
        };
        let mut s = Sequence::new(2, 100, limits);
        s.observe(&key("a"), 0, A);
        s.observe(&key("b"), 1, A);
        s.observe(&key("c"), 2, A);
        assert_eq!(s.keys(), 2);
        assert_eq!(s.overflow().keys_dropped, 1);
        assert_eq!(s.observe(&key("a"), 3, B), None, "a was dropped");
        assert_eq!(
            s.observe(&key("b"), 3, B),
            Some(SequenceMatch { started_at: 1 })
        );
        assert_eq!(
            s.observe(&key("c"), 3, B),
            Some(SequenceMatch { started_at: 2 })
        );
        // Expired keys make room without counting as overflow.
        s.observe(&key("d"), 10, A);
        s.observe(&key("e"), 20, A);
        s.observe(&key("f"), 500, A);
        assert_eq!(s.keys(), 1);
        assert_eq!(s.overflow().keys_dropped, 1);
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let mut s = seq(2, i64::MAX);
        // MAX - MIN is more than MAX: not within the window.
        assert_eq!(run(&mut s, &[(i64::MIN, A), (i64::MAX, B)]), [None, None]);
        assert_eq!(run(&mut s, &[(0, A), (i64::MAX, B)]), [None, Some(0)]);
        let mut s = seq(2, 10);
        run(&mut s, &[(i64::MAX, A), (i64::MIN, A), (i64::MIN, B)]);
    }
}
