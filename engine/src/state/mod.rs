//! The engine's stateful stages: aggregation ([`Aggregation`]), thresholds ([`Threshold`]) and
//! sequences ([`Sequence`], and [`AnyOrder`] for steps in any order).
//!
//! Each state object belongs to exactly one rule or sequence, so a hot reload can keep the state of
//! an unchanged rule by moving its object into the new engine. The evaluator calls a state object
//! once per rule match, with the match's [`Key`] (the values of the `group by`, `threshold ... by`
//! or sequence `by` paths) and its event time.
//!
//! # Determinism
//!
//! Everything here is a pure function of the calls made, in the order they are made: no clock, no
//! I/O, no randomness. Time is event time, `i64` milliseconds. Hash maps are only used for lookups;
//! whatever depends on an order (which key to drop, which alerts to close and in what order) goes
//! through ordered structures, with ties broken by arrival order. Arithmetic on times saturates, so
//! no timestamp, however extreme, can panic.
//!
//! # Windows
//!
//! "Within D" is inclusive everywhere, as the language specifies: two times `D` apart are within
//! `D`, `D + 1ms` apart are not.
//!
//! # Out-of-order events
//!
//! Event time, not arrival order, defines every window; time going backwards never panics and never
//! corrupts state. The *watermark* is the newest event time seen (the caller passes it to `evict`;
//! between calls each object also tracks the newest time it was given).
//!
//! - **Thresholds.** A match at time `t` is judged on the window `[t - within, t]`, over all
//!   matches of its key received so far, late ones included, and only when it arrives: a late match
//!   does not turn a match that arrived before it into a hit after the fact (it can make later
//!   arrivals hits). A match at most `within` behind the watermark is judged exactly, whenever
//!   `evict` ran. An older match is judged against what is still held: state older than
//!   `watermark - 2 * within` is dropped, so such a match may miss a hit it would have had in order.
//! - **Sequences.** Partial matches advance in arrival order; the window is checked with event
//!   times. A step whose time is before the partial match's previous step does not advance it, and a
//!   step that arrived before the step it should follow does not count after the fact. A late step-1
//!   event starts its own partial match at its own time. A partial match is kept while an event at
//!   most `within` behind the watermark could still complete it (it started at or after
//!   `watermark - 2 * within`).
//! - **Aggregation.** A match joins its key's open alert when
//!   `first_seen - within <= t <= last_seen + within`: `first_seen` becomes the earliest time,
//!   `last_seen` the latest, and the alert id stays the one computed from the event that opened
//!   it. A match more than `within` before `first_seen` becomes an alert of its own, closed at once
//!   (returned by the next `evict`), and leaves the open alert alone. `evict` closes alerts whose `last_seen` is more than `within`
//!   behind the watermark; a late match of such a key opens a new alert.
//!
//! # Bounded memory
//!
//! State is bounded on any input, given [`Limits`]: expired state goes at `evict` (and, key by key,
//! whenever a key is matched again); at most `max_keys` keys are held, and when a new key arrives at
//! the cap, expired keys go first and then the least recently matched key (the one whose newest time
//! is oldest, ties broken by arrival order); a sequence key holds at most `max_partials_per_key`
//! partial matches (the one that started earliest goes first); a threshold key holds a bounded
//! summary of its window (see [`threshold`]). What had to be dropped beyond expiry is counted in
//! [`Overflow`].
//!
//! # Snapshots
//!
//! Each state object can be saved (`snapshot`) into a plain serde structure and rebuilt from one
//! (`restore`) for checkpoints ([`crate::engine::EngineState`]). A snapshot holds everything that
//! decides later results, recency order and arrival numbers included, so a restored object given
//! the same calls returns exactly what the original would have; `restore` checks the invariants
//! the code relies on and refuses a snapshot that breaks them.

pub mod aggregate;
pub mod any_order;
pub mod sequence;
pub mod threshold;

#[cfg(test)]
mod timeline_tests;

pub use aggregate::{alert_id, Aggregation, OpenAlert, Sample, Update};
pub use any_order::AnyOrder;
pub use sequence::Progress;
pub use sequence::{Sequence, SequenceMatch};
pub use threshold::{CountCondition, Counting, Threshold};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The values of the key paths (`group by`, `threshold ... by` or sequence `by`) for one match,
/// each rendered to a string; `None` = missing.
///
/// A missing value and an empty string are different keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub Box<[Option<String>]>);

impl Key {
    /// A key from its values, in the order of the key paths.
    pub fn new(values: Vec<Option<String>>) -> Self {
        Key(values.into_boxed_slice())
    }

    /// The key's values, in the order of the key paths.
    pub fn values(&self) -> &[Option<String>] {
        &self.0
    }
}

impl From<Vec<Option<String>>> for Key {
    fn from(values: Vec<Option<String>>) -> Self {
        Key::new(values)
    }
}

/// Caps that keep a state object's memory bounded whatever the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Keys held per rule or sequence. A value below 1 counts as 1.
    pub max_keys: usize,
    /// Partial matches held per sequence key. A value below 1 counts as 1.
    pub max_partials_per_key: usize,
    /// Sample events kept per alert.
    pub max_samples: usize,
    /// Numbers held per key of a `threshold sum`, `avg`, `median` or `percentile`. A value below
    /// 1 counts as 1.
    pub max_values_per_key: usize,
}

impl Default for Limits {
    /// - `max_keys: 100_000`: far more distinct users, namespaces or objects than a cluster has, so
    ///   the cap only bites on a key-spraying input; a key costs a few hundred bytes, so a rule's
    ///   state stays in the tens of megabytes.
    /// - `max_partials_per_key: 64`: partial matches of one key only pile up when step 1 repeats
    ///   faster than the sequence completes; 64 covers a burst of step-1 events inside a window,
    ///   and a flood of them (an attacker hiding a sequence in noise) cannot grow memory.
    /// - `max_samples: 10`: enough events to triage an alert while keeping the alert document
    ///   small; the count says how many matched.
    /// - `max_values_per_key: 10_000`: a `sum`, `avg`, `median` or `percentile` must keep every
    ///   number of its window; 10,000 numbers (160 KB) covers a key matching three times a second through a
    ///   one-hour window, and a flood cannot grow memory.
    fn default() -> Self {
        Limits {
            max_keys: 100_000,
            max_partials_per_key: 64,
            max_samples: 10,
            max_values_per_key: 10_000,
        }
    }
}

/// Counters of what state had to drop to stay bounded (beyond normal expiry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overflow {
    /// Keys dropped because `max_keys` was reached while none had expired.
    pub keys_dropped: u64,
    /// Sequence partial matches dropped because `max_partials_per_key` was reached.
    pub partials_dropped: u64,
    /// Numbers of a `threshold sum`, `avg` or `median` dropped because `max_values_per_key` was
    /// reached.
    #[serde(default)]
    pub values_dropped: u64,
}

/// `t - 2 * within`, the oldest time an event at most `within` behind `t` can still look at.
pub(crate) fn horizon(t: i64, within: i64) -> i64 {
    let exact = i128::from(t) - 2 * i128::from(within);
    i64::try_from(exact).unwrap_or(if exact < 0 { i64::MIN } else { i64::MAX })
}

/// Per-key values with a recency order, shared by the three state kinds.
///
/// Lookups go through a hash map (its iteration order never reaches a result); every ordered
/// operation goes through `recency`, ordered by (recency time, arrival sequence number).
#[derive(Debug)]
pub(crate) struct Keyed<V> {
    slots: HashMap<Arc<Key>, Slot<V>>,
    // INVARIANT: holds exactly one entry per slot, `recency[slot.rank] == slot's key`.
    recency: BTreeMap<(i64, u64), Arc<Key>>,
    next_seq: u64,
}

#[derive(Debug)]
struct Slot<V> {
    value: V,
    rank: (i64, u64),
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Keyed {
            slots: HashMap::new(),
            recency: BTreeMap::new(),
            next_seq: 0,
        }
    }
}

impl<V> Keyed<V> {
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Removes a key and hands back its value, to be changed and [`Keyed::put`] back.
    pub(crate) fn take(&mut self, key: &Key) -> Option<(Arc<Key>, V)> {
        let (key, slot) = self.slots.remove_entry(key)?;
        self.recency.remove(&slot.rank);
        Some((key, slot.value))
    }

    /// Changes the value of `key` in place when `change` accepts the change: `change` returns the
    /// value's new recency time, or `None` (having changed nothing) to leave it as it was. The
    /// value is then the most recently matched of that time, as after [`Keyed::take`] and
    /// [`Keyed::put`], for one lookup. Whether it was changed.
    pub(crate) fn change(&mut self, key: &Key, change: impl FnOnce(&mut V) -> Option<i64>) -> bool {
        let Some(slot) = self.slots.get_mut(key) else {
            return false;
        };
        let Some(time) = change(&mut slot.value) else {
            return false;
        };
        let rank = (time, self.next_seq);
        self.next_seq += 1;
        if let Some(key) = self.recency.remove(&slot.rank) {
            self.recency.insert(rank, key);
        }
        slot.rank = rank;
        true
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &Key) -> Option<&V> {
        self.slots.get(key).map(|slot| &slot.value)
    }

    /// Stores `value` under `key`, as the most recently matched of the keys whose recency time is
    /// `time`.
    pub(crate) fn put(&mut self, key: Arc<Key>, value: V, time: i64) -> &mut V {
        let rank = (time, self.next_seq);
        self.next_seq += 1;
        self.recency.insert(rank, Arc::clone(&key));
        let slot = Slot { value, rank };
        match self.slots.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut occupied) => {
                let old = std::mem::replace(occupied.get_mut(), slot);
                self.recency.remove(&old.rank);
                &mut occupied.into_mut().value
            }
            std::collections::hash_map::Entry::Vacant(vacant) => &mut vacant.insert(slot).value,
        }
    }

    /// Removes every key whose recency time is before `cutoff`, oldest first.
    pub(crate) fn pop_older_than(&mut self, cutoff: i64) -> Vec<(Arc<Key>, V)> {
        let kept = self.recency.split_off(&(cutoff, 0));
        let expired = std::mem::replace(&mut self.recency, kept);
        expired
            .into_values()
            .filter_map(|key| {
                let slot = self.slots.remove(&key)?;
                Some((key, slot.value))
            })
            .collect()
    }

    /// Removes the least recently matched key.
    pub(crate) fn pop_least_recent(&mut self) -> Option<(Arc<Key>, V)> {
        let (_, key) = self.recency.pop_first()?;
        let slot = self.slots.remove(&key)?;
        Some((key, slot.value))
    }

    /// Puts back a value taken with [`Keyed::take`] at recency `time`. A key that was not held
    /// (`is_new`) first makes room under `max_keys` ([`Keyed::make_room`], keys before `cutoff`
    /// first); a key dropped for it is counted in `overflow`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put_back(
        &mut self,
        key: Arc<Key>,
        value: V,
        time: i64,
        is_new: bool,
        max_keys: usize,
        cutoff: i64,
        overflow: &mut Overflow,
    ) {
        if is_new && self.make_room(max_keys, cutoff).dropped.is_some() {
            overflow.keys_dropped += 1;
        }
        self.put(key, value, time);
    }

    /// Makes room for one new key when `max_keys` are held: first drops keys whose recency time is
    /// before `cutoff`, then, if none had, the least recently matched key. Returns what was
    /// removed: (expired, dropped).
    pub(crate) fn make_room(&mut self, max_keys: usize, cutoff: i64) -> Room<V> {
        let mut room = Room {
            expired: Vec::new(),
            dropped: None,
        };
        if self.len() < max_keys.max(1) {
            return room;
        }
        room.expired = self.pop_older_than(cutoff);
        if self.len() >= max_keys.max(1) {
            room.dropped = self.pop_least_recent();
        }
        room
    }

    /// Every value, in no particular order: callers that produce output from it must sort.
    pub(crate) fn values_unordered(&self) -> impl Iterator<Item = &V> {
        self.slots.values().map(|slot| &slot.value)
    }
}

impl<V> Keyed<V> {
    /// Every key with its value and recency rank, least recent first, for a snapshot.
    pub(crate) fn snapshot<S>(&self, mut value: impl FnMut(&V) -> S) -> KeyedState<S> {
        let entries = self
            .recency
            .iter()
            .filter_map(|(&(time, seq), key)| {
                let slot = self.slots.get(key)?;
                Some(KeyedEntry {
                    key: key.0.to_vec(),
                    time,
                    seq,
                    value: value(&slot.value),
                })
            })
            .collect();
        KeyedState {
            entries,
            next_seq: self.next_seq,
        }
    }

    /// The keys of a snapshot, with the same ranks, so that recency ties break as before.
    pub(crate) fn restore<S>(
        state: KeyedState<S>,
        mut value: impl FnMut(&Key, S) -> Result<V, Invalid>,
    ) -> Result<Self, Invalid> {
        let mut keyed = Keyed {
            slots: HashMap::with_capacity(state.entries.len()),
            recency: BTreeMap::new(),
            next_seq: state.next_seq,
        };
        let mut seqs = std::collections::HashSet::with_capacity(state.entries.len());
        for entry in state.entries {
            let key = Arc::new(Key::new(entry.key));
            let rank = (entry.time, entry.seq);
            // INVARIANT (of `put`): ranks are unique, and later ones get a larger sequence number.
            if entry.seq >= state.next_seq {
                return Err(Invalid::new(format!(
                    "key {} has arrival number {}, not below the next one ({})",
                    key_text(&key),
                    entry.seq,
                    state.next_seq
                )));
            }
            if !seqs.insert(entry.seq) {
                return Err(Invalid::new(format!(
                    "two keys share the arrival number {}",
                    entry.seq
                )));
            }
            let value = value(&key, entry.value)?;
            if keyed.slots.contains_key(&key) {
                return Err(Invalid::new(format!(
                    "key {} appears twice",
                    key_text(&key)
                )));
            }
            keyed.recency.insert(rank, Arc::clone(&key));
            keyed.slots.insert(key, Slot { value, rank });
        }
        Ok(keyed)
    }
}

/// A key as JSON, for messages about a saved state.
pub(crate) fn key_text(key: &Key) -> String {
    serde_json::to_string(&key.0).unwrap_or_else(|_| format!("{:?}", key.0))
}

/// The saved form of a [`Keyed`]: its keys, least recently matched first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeyedState<S> {
    pub(crate) entries: Vec<KeyedEntry<S>>,
    /// The arrival number the next key will get.
    pub(crate) next_seq: u64,
}

/// One key of a [`KeyedState`] with its recency rank: its recency time and arrival number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeyedEntry<S> {
    pub(crate) key: Vec<Option<String>>,
    pub(crate) time: i64,
    pub(crate) seq: u64,
    pub(crate) value: S,
}

/// Why a saved state cannot be restored: what in it contradicts the state's invariants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) String);

impl Invalid {
    pub(crate) fn new(message: impl Into<String>) -> Invalid {
        Invalid(message.into())
    }
}

/// A "newest time seen" for a snapshot: `None` before any (the in-memory form uses `i64::MIN`).
pub(crate) fn saved_time(t: i64) -> Option<i64> {
    (t != i64::MIN).then_some(t)
}

/// The in-memory form of [`saved_time`].
pub(crate) fn loaded_time(t: Option<i64>) -> i64 {
    t.unwrap_or(i64::MIN)
}

/// What [`Keyed::make_room`] removed.
pub(crate) struct Room<V> {
    pub(crate) expired: Vec<(Arc<Key>, V)>,
    pub(crate) dropped: Option<(Arc<Key>, V)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::new(vec![Some(s.to_owned())])
    }

    #[test]
    fn keyed_orders_by_time_then_arrival() {
        let mut keyed = Keyed::default();
        keyed.put(Arc::new(key("b")), 1, 10);
        keyed.put(Arc::new(key("a")), 2, 10);
        keyed.put(Arc::new(key("c")), 3, 5);
        // c has the oldest time; between a and b (same time), b arrived first.
        let order: Vec<_> = std::iter::from_fn(|| keyed.pop_least_recent())
            .map(|(k, v)| (k.values()[0].clone().unwrap_or_default(), v))
            .collect();
        assert_eq!(
            order,
            vec![
                ("c".to_owned(), 3),
                ("b".to_owned(), 1),
                ("a".to_owned(), 2)
            ]
        );
    }

    #[test]
    fn keyed_take_and_put_moves_the_key_to_most_recent() {
        let mut keyed = Keyed::default();
        keyed.put(Arc::new(key("a")), 1, 10);
        keyed.put(Arc::new(key("b")), 2, 10);
        let (k, v) = keyed.take(&key("a")).expect("a is held");
        assert_eq!(*keyed.put(k, v + 10, 10), 11);
        assert_eq!(keyed.len(), 2);
        let (first, _) = keyed.pop_least_recent().expect("two keys held");
        assert_eq!(*first, key("b"));
    }

    #[test]
    fn keyed_make_room_prefers_expired_keys() {
        let mut keyed = Keyed::default();
        keyed.put(Arc::new(key("old")), 1, 0);
        keyed.put(Arc::new(key("older")), 2, -5);
        keyed.put(Arc::new(key("new")), 3, 100);
        let room = keyed.make_room(3, 50);
        assert_eq!(room.expired.len(), 2);
        assert_eq!(*room.expired[0].0, key("older"));
        assert!(room.dropped.is_none());
        assert_eq!(keyed.len(), 1);

        keyed.put(Arc::new(key("newer")), 4, 200);
        let room = keyed.make_room(2, 50);
        assert!(room.expired.is_empty());
        assert_eq!(room.dropped.map(|(k, _)| (*k).clone()), Some(key("new")));
        assert_eq!(keyed.len(), 1);
        // Below the cap nothing is removed.
        let room = keyed.make_room(2, i64::MAX);
        assert!(room.expired.is_empty() && room.dropped.is_none());
    }

    #[test]
    fn missing_and_empty_are_different_keys() {
        assert_ne!(Key::new(vec![None]), Key::new(vec![Some(String::new())]));
    }

    #[test]
    fn horizon_saturates() {
        assert_eq!(horizon(100, 10), 80);
        assert_eq!(horizon(i64::MIN + 1, 10), i64::MIN);
        assert_eq!(horizon(i64::MAX, -i64::MAX), i64::MAX);
        assert_eq!(horizon(0, i64::MAX), i64::MIN);
    }
}
