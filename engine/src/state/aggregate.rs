//! Aggregation: `group by ...` and `within D` turn matches into alerts.
//!
//! Each key has at most one open alert. A match within D of the open alert
//! (`first_seen - D <= t <= last_seen + D`, so late matches join too) updates it: the count goes up, `first_seen`
//! and `last_seen` widen, and its event is kept as a sample while the alert has fewer than
//! `max_samples`. A match more than D after `last_seen` (or with no open alert) opens a new alert,
//! which replaces the open one; the replaced alert is closed and returned by the next
//! [`Aggregation::evict`]. A late match more than D before `first_seen` becomes an alert of its
//! own, closed at once, and leaves the open alert alone.
//! An alert closes when its `last_seen` falls more than D behind the watermark.
//!
//! # Alert ids
//!
//! An alert's id is stable: the same input gives the same id on every run, so re-running over the
//! same data updates alerts in Elasticsearch instead of duplicating them. It is the FNV-1a 128-bit
//! hash ([`Fnv1a128`], since std's `DefaultHasher` may change between Rust releases) of:
//!
//! - a version tag, so that a future change of the scheme cannot collide with today's ids;
//! - the seed, the rule's name: two rules alerting on the same events get different ids;
//! - the key values, each marked missing or present and length-prefixed, so that a missing value,
//!   an empty string and values containing any delimiter cannot be confused;
//! - the time and event id of the event that opened the alert: successive alerts of one key differ,
//!   and the id does not change while the alert is updated (a late match may lower `first_seen`
//!   later, but the id stays the one computed when the alert opened).
//!
//! It is rendered as 32 lowercase hex characters.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{key_text, loaded_time, saved_time, Invalid, Key, Keyed, KeyedState, Limits, Overflow};
use crate::hash::Fnv1a128;

/// One matching event kept as a sample of an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The event's id (for audit events, `auditID`).
    pub event_id: std::sync::Arc<str>,
    /// The event's time.
    pub time: i64,
}

/// An alert while it can still be updated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAlert {
    /// Stable id, see the module docs.
    pub id: String,
    /// The group key.
    pub key: Key,
    /// Matches aggregated into the alert.
    pub count: u64,
    /// Earliest match time.
    pub first_seen: i64,
    /// Latest match time.
    pub last_seen: i64,
    /// The first `max_samples` matches to arrive.
    pub samples: Vec<Sample>,
}

/// What a match did to its key's alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// The match opened a new alert.
    New,
    /// The match joined the open alert.
    Updated,
}

/// The aggregation state of one rule or sequence.
#[derive(Debug)]
pub struct Aggregation {
    within: i64,
    limits: Limits,
    alerts: Keyed<OpenAlert>,
    /// Alerts closed since the last `evict` (replaced, or dropped at the key cap).
    closed: Vec<OpenAlert>,
    /// Newest match time seen, the watermark between `evict` calls.
    newest: i64,
    overflow: Overflow,
}

impl Aggregation {
    /// Aggregation over a window of `within_ms` (a negative window counts as 0).
    pub fn new(within_ms: i64, limits: Limits) -> Self {
        Aggregation {
            within: within_ms.max(0),
            limits,
            alerts: Keyed::default(),
            closed: Vec::new(),
            newest: i64::MIN,
            overflow: Overflow::default(),
        }
    }

    /// A match of `key` at `t`. Within D of the open alert (`first_seen - D <= t <= last_seen + D`)
    /// it updates that alert (count + 1, `first_seen` = min, `last_seen` = max, sample kept while
    /// under `max_samples`); more than D after it (or with no open alert), a new alert replaces
    /// it; more than D before it, a closed alert of its own. `seed` is the rule's name: it goes
    /// into the id.
    pub fn observe(
        &mut self,
        seed: &str,
        key: &Key,
        t: i64,
        sample: Sample,
    ) -> (Update, &OpenAlert) {
        self.newest = self.newest.max(t);
        let max_samples = self.limits.max_samples;
        // The common case first, in place: a match within D of the open alert.
        let within = self.within;
        let mut sample = Some(sample);
        let joined = self.alerts.change(key, |alert| {
            if t > alert.last_seen.saturating_add(within)
                || t < alert.first_seen.saturating_sub(within)
            {
                return None;
            }
            alert.count += 1;
            alert.first_seen = alert.first_seen.min(t);
            alert.last_seen = alert.last_seen.max(t);
            if alert.samples.len() < max_samples {
                alert.samples.extend(sample.take());
            }
            Some(alert.last_seen)
        });
        if joined {
            let alert = self.alerts.get(key).expect("the alert was just changed");
            return (Update::Updated, alert);
        }
        let sample = sample.expect("kept when the alert was not joined");
        match self.alerts.take(key) {
            Some((key_arc, alert)) if t < alert.first_seen => {
                // A match that arrives late and is more than D older than the open alert: it
                // becomes an alert of its own, closed at once; the live alert is untouched.
                let last_seen = alert.last_seen;
                self.alerts.put(Arc::clone(&key_arc), alert, last_seen);
                let late = open_alert(seed, &key_arc, t, sample, max_samples);
                self.closed.push(late);
                (
                    Update::New,
                    self.closed.last().expect("an alert was just pushed"),
                )
            }
            Some((key_arc, replaced)) => {
                self.closed.push(replaced);
                let alert = open_alert(seed, &key_arc, t, sample, max_samples);
                (Update::New, self.alerts.put(key_arc, alert, t))
            }
            None => {
                let room = self.alerts.make_room(
                    self.limits.max_keys,
                    self.newest.saturating_sub(self.within),
                );
                self.closed
                    .extend(room.expired.into_iter().map(|(_, alert)| alert));
                if let Some((_, dropped)) = room.dropped {
                    self.overflow.keys_dropped += 1;
                    self.closed.push(dropped);
                }
                let key_arc = Arc::new(key.clone());
                let alert = open_alert(seed, &key_arc, t, sample, max_samples);
                (Update::New, self.alerts.put(key_arc, alert, t))
            }
        }
    }

    /// Closes the alerts whose `last_seen` is before `watermark - within`, and returns them with
    /// those closed since the last call (replaced by a new alert of their key, or dropped at the
    /// key cap), ordered by (`first_seen`, id).
    pub fn evict(&mut self, watermark: i64) -> Vec<OpenAlert> {
        let expired = self
            .alerts
            .pop_older_than(watermark.saturating_sub(self.within));
        let mut closed = std::mem::take(&mut self.closed);
        closed.extend(expired.into_iter().map(|(_, alert)| alert));
        sort_alerts(&mut closed);
        closed
    }

    /// Closes every alert, for the end of the input; same order as [`Aggregation::evict`].
    pub fn close_all(&mut self) -> Vec<OpenAlert> {
        let mut closed = std::mem::take(&mut self.closed);
        closed
            .extend(std::iter::from_fn(|| self.alerts.pop_least_recent()).map(|(_, alert)| alert));
        sort_alerts(&mut closed);
        closed
    }

    /// The open alerts, ordered by (`first_seen`, id).
    pub fn open(&self) -> impl Iterator<Item = &OpenAlert> {
        let mut open: Vec<&OpenAlert> = self.alerts.values_unordered().collect();
        open.sort_by(|a, b| alert_order(a).cmp(&alert_order(b)));
        open.into_iter()
    }

    /// The number of open alerts (one per key at most).
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// True when no alert is open.
    pub fn is_empty(&self) -> bool {
        self.alerts.len() == 0
    }

    /// What had to be dropped to stay within [`Limits`].
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }
}

impl Aggregation {
    /// Everything that decides later updates, for a checkpoint.
    pub(crate) fn snapshot(&self) -> AggregationState {
        AggregationState {
            open: self.alerts.snapshot(AlertState::of),
            closed: self
                .closed
                .iter()
                .map(|alert| ClosedAlert {
                    key: alert.key.0.to_vec(),
                    alert: AlertState::of(alert),
                })
                .collect(),
            newest: saved_time(self.newest),
            overflow: self.overflow,
        }
    }

    /// The aggregation a snapshot was taken of, with the window and limits of its rule.
    pub(crate) fn restore(
        within_ms: i64,
        limits: Limits,
        state: AggregationState,
    ) -> Result<Self, Invalid> {
        let mut aggregation = Aggregation::new(within_ms, limits);
        aggregation.alerts = Keyed::restore(state.open, |key, alert| alert.load(key))?;
        aggregation.closed = state
            .closed
            .into_iter()
            .map(|closed| closed.alert.load(&Key::new(closed.key)))
            .collect::<Result<_, _>>()?;
        aggregation.newest = loaded_time(state.newest);
        aggregation.overflow = state.overflow;
        Ok(aggregation)
    }
}

/// The saved form of an [`Aggregation`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AggregationState {
    /// The open alerts by key, least recently matched first.
    open: KeyedState<AlertState>,
    /// Alerts closed since the last `evict`, still to be reported closed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    closed: Vec<ClosedAlert>,
    newest: Option<i64>,
    overflow: Overflow,
}

impl AggregationState {
    /// The number of open alerts held.
    pub(crate) fn open_alerts(&self) -> usize {
        self.open.entries.len()
    }
}

/// The saved form of an [`OpenAlert`], without its key (the key it is held under).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AlertState {
    id: String,
    count: u64,
    first_seen: i64,
    last_seen: i64,
    samples: Vec<SampleState>,
}

/// A closed alert of an [`AggregationState`], with its key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClosedAlert {
    key: Vec<Option<String>>,
    alert: AlertState,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SampleState {
    event_id: String,
    time: i64,
}

impl AlertState {
    fn of(alert: &OpenAlert) -> AlertState {
        AlertState {
            id: alert.id.clone(),
            count: alert.count,
            first_seen: alert.first_seen,
            last_seen: alert.last_seen,
            samples: alert
                .samples
                .iter()
                .map(|s| SampleState {
                    event_id: s.event_id.to_string(),
                    time: s.time,
                })
                .collect(),
        }
    }

    fn load(self, key: &Key) -> Result<OpenAlert, Invalid> {
        if self.count == 0 || self.first_seen > self.last_seen {
            return Err(Invalid::new(format!(
                "alert `{}` of key {} has count {} from {} to {}",
                self.id,
                key_text(key),
                self.count,
                self.first_seen,
                self.last_seen
            )));
        }
        Ok(OpenAlert {
            id: self.id,
            key: key.clone(),
            count: self.count,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            samples: self
                .samples
                .into_iter()
                .map(|s| Sample {
                    event_id: s.event_id.into(),
                    time: s.time,
                })
                .collect(),
        })
    }
}

fn open_alert(seed: &str, key: &Key, t: i64, sample: Sample, max_samples: usize) -> OpenAlert {
    OpenAlert {
        id: alert_id(seed, key, t, &sample.event_id),
        key: key.clone(),
        count: 1,
        first_seen: t,
        last_seen: t,
        samples: if max_samples > 0 {
            vec![sample]
        } else {
            Vec::new()
        },
    }
}

fn alert_order(alert: &OpenAlert) -> (i64, &str, &Key) {
    (alert.first_seen, alert.id.as_str(), &alert.key)
}

fn sort_alerts(alerts: &mut [OpenAlert]) {
    alerts.sort_by(|a, b| alert_order(a).cmp(&alert_order(b)));
}

/// The stable id of an alert of rule `seed`, for `key`, opened by the event `first_event_id` at
/// `first_time`: 32 lowercase hex characters (see the module docs for what goes in and why).
pub fn alert_id(seed: &str, key: &Key, first_time: i64, first_event_id: &str) -> String {
    let mut hash = Fnv1a128::new();
    hash.bytes(b"k8scop-alert-v1");
    hash.field(seed.as_bytes());
    hash.bytes(&(key.0.len() as u64).to_le_bytes());
    for value in key.values() {
        match value {
            None => hash.bytes(&[0]),
            Some(value) => {
                hash.bytes(&[1]);
                hash.field(value.as_bytes());
            }
        }
    }
    hash.bytes(&first_time.to_le_bytes());
    hash.field(first_event_id.as_bytes());
    format!("{:032x}", hash.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = 600_000;

    fn key(s: &str) -> Key {
        Key::new(vec![Some(s.to_owned())])
    }

    fn sample(id: &str, time: i64) -> Sample {
        Sample {
            event_id: id.into(),
            time,
        }
    }

    fn observe(agg: &mut Aggregation, k: &str, t: i64) -> (Update, OpenAlert) {
        let (update, alert) = agg.observe("rule", &key(k), t, sample(&format!("ev-{t}"), t));
        (update, alert.clone())
    }

    #[test]
    fn a_match_within_d_updates_the_alert() {
        let mut agg = Aggregation::new(D, Limits::default());
        let (update, first) = observe(&mut agg, "alice", 0);
        assert_eq!(update, Update::New);
        let (update, alert) = observe(&mut agg, "alice", D);
        assert_eq!(update, Update::Updated);
        assert_eq!((alert.count, alert.first_seen, alert.last_seen), (2, 0, D));
        assert_eq!(alert.id, first.id);
        assert_eq!(
            alert.samples,
            vec![sample("ev-0", 0), sample(&format!("ev-{D}"), D)]
        );
        // D is measured from the last match, not the first.
        let (update, alert) = observe(&mut agg, "alice", 2 * D);
        assert_eq!((update, alert.count), (Update::Updated, 3));
        assert_eq!(agg.len(), 1);
    }

    #[test]
    fn a_match_d_plus_1ms_later_opens_a_new_alert() {
        let mut agg = Aggregation::new(D, Limits::default());
        let (_, first) = observe(&mut agg, "alice", 0);
        let (update, second) = observe(&mut agg, "alice", D + 1);
        assert_eq!(update, Update::New);
        assert_eq!(
            (second.count, second.first_seen, second.last_seen),
            (1, D + 1, D + 1)
        );
        assert_ne!(second.id, first.id);
        assert_eq!(agg.len(), 1);
        // The replaced alert is closed at the next evict, whatever the watermark.
        assert_eq!(agg.evict(D + 1), vec![first]);
        assert_eq!(agg.open().cloned().collect::<Vec<_>>(), vec![second]);
    }

    #[test]
    fn late_matches_join_and_widen_first_seen() {
        let mut agg = Aggregation::new(D, Limits::default());
        let (_, first) = observe(&mut agg, "alice", 10 * D);
        let (update, alert) = observe(&mut agg, "alice", 9 * D);
        assert_eq!(update, Update::Updated);
        assert_eq!(
            (alert.first_seen, alert.last_seen, alert.count),
            (9 * D, 10 * D, 2)
        );
        assert_eq!(
            alert.id, first.id,
            "the id stays the one of the opening event"
        );
        // Within D of the alert's first match: joins too.
        let (update, alert) = observe(&mut agg, "alice", 9 * D - 1);
        assert_eq!(
            (update, alert.count, alert.first_seen),
            (Update::Updated, 3, 9 * D - 1)
        );
        // More than D before the alert: an alert of its own, closed at once; the live alert is
        // untouched, and a later match still updates it.
        let (update, late) = observe(&mut agg, "alice", 7 * D);
        assert_eq!(
            (update, late.count, late.first_seen),
            (Update::New, 1, 7 * D)
        );
        let late_id = late.id.clone();
        let (update, alert) = observe(&mut agg, "alice", 10 * D + 1);
        assert_eq!(
            (update, alert.count, alert.id.clone()),
            (Update::Updated, 4, first.id.clone())
        );
        let closed = agg.evict(10 * D + 1);
        assert_eq!(
            closed.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
            vec![late_id]
        );
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let run = || {
            let mut agg = Aggregation::new(D, Limits::default());
            let mut ids = Vec::new();
            for (k, t) in [
                ("alice", 0),
                ("bob", 5),
                ("alice", 10),
                ("alice", 3 * D),
                ("bob", 6),
            ] {
                ids.push(observe(&mut agg, k, t).1.id);
            }
            ids
        };
        let ids = run();
        assert_eq!(ids, run());
        assert!(ids.iter().all(|id| id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))));
        assert_eq!(ids[0], ids[2], "same alert");
        assert_eq!(ids[1], ids[4], "same alert");
        assert_ne!(ids[0], ids[1], "different keys");
        assert_ne!(ids[0], ids[3], "different first events");

        let id = |seed: &str, key: Vec<Option<&str>>, t: i64, ev: &str| {
            alert_id(
                seed,
                &Key::new(key.into_iter().map(|v| v.map(str::to_owned)).collect()),
                t,
                ev,
            )
        };
        let base = id("r", vec![Some("a")], 0, "e");
        assert_eq!(base, id("r", vec![Some("a")], 0, "e"));
        assert_ne!(base, id("s", vec![Some("a")], 0, "e"), "seed");
        assert_ne!(base, id("r", vec![Some("a")], 1, "e"), "first time");
        assert_ne!(base, id("r", vec![Some("a")], 0, "f"), "first event id");
        assert_ne!(
            id("r", vec![None], 0, "e"),
            id("r", vec![Some("")], 0, "e"),
            "missing vs empty"
        );
        assert_ne!(
            id("r", vec![Some("a"), Some("b")], 0, "e"),
            id("r", vec![Some("ab"), Some("")], 0, "e"),
            "delimited values"
        );
        assert_ne!(id("r", vec![], 0, "e"), id("r", vec![None], 0, "e"));
    }

    #[test]
    fn samples_are_bounded() {
        let limits = Limits {
            max_samples: 3,
            ..Limits::default()
        };
        let mut agg = Aggregation::new(D, limits);
        for t in 0..10 {
            observe(&mut agg, "alice", t);
        }
        let alert = agg.open().next().cloned().expect("one open alert");
        assert_eq!(alert.count, 10);
        let times: Vec<i64> = alert.samples.iter().map(|s| s.time).collect();
        assert_eq!(times, [0, 1, 2]);
        let mut agg = Aggregation::new(
            D,
            Limits {
                max_samples: 0,
                ..limits
            },
        );
        assert!(observe(&mut agg, "alice", 0).1.samples.is_empty());
    }

    #[test]
    fn the_key_cap_closes_the_least_recent_alert_and_counts_it() {
        let limits = Limits {
            max_keys: 2,
            ..Limits::default()
        };
        let mut agg = Aggregation::new(D, limits);
        let (_, a) = observe(&mut agg, "a", 0);
        observe(&mut agg, "b", 1);
        observe(&mut agg, "c", 2);
        assert_eq!(agg.len(), 2);
        assert_eq!(agg.overflow().keys_dropped, 1);
        assert_eq!(agg.evict(2), vec![a]);
        // An expired alert makes room without counting as overflow.
        let (_, b) = observe(&mut agg, "b", 3);
        let (_, c) = observe(&mut agg, "c", 3);
        let (_, d) = observe(&mut agg, "d", 3 + D + 1);
        assert_eq!(agg.overflow().keys_dropped, 1);
        let closed = agg.evict(3 + D + 1);
        assert_eq!(closed.len(), 2);
        assert!(closed.contains(&b) && closed.contains(&c));
        assert_eq!(agg.open().cloned().collect::<Vec<_>>(), vec![d]);
    }

    #[test]
    fn evict_closes_what_fell_behind_in_order() {
        let mut agg = Aggregation::new(D, Limits::default());
        observe(&mut agg, "b", 10);
        observe(&mut agg, "a", 10);
        observe(&mut agg, "c", 20);
        observe(&mut agg, "a", 30);
        assert!(
            agg.evict(D + 10).is_empty(),
            "last_seen 10 is within D of D + 10"
        );
        let closed = agg.evict(D + 20);
        let keys: Vec<&Key> = closed.iter().map(|a| &a.key).collect();
        assert_eq!(keys, [&key("b")]);
        assert_eq!(agg.len(), 2);
        let open: Vec<i64> = agg.open().map(|a| a.first_seen).collect();
        assert_eq!(open, [10, 20]);
        let closed = agg.close_all();
        assert_eq!(
            closed.iter().map(|a| a.first_seen).collect::<Vec<_>>(),
            [10, 20]
        );
        assert!(agg.is_empty());
        // Alerts near the end of time close too.
        observe(&mut agg, "z", i64::MAX);
        observe(&mut agg, "y", i64::MIN);
        assert_eq!(agg.close_all().len(), 2);
    }

    #[test]
    fn order_of_open_alerts_is_first_seen_then_id() {
        let mut agg = Aggregation::new(D, Limits::default());
        let (_, x) = observe(&mut agg, "x", 5);
        let (_, y) = observe(&mut agg, "y", 5);
        observe(&mut agg, "w", 7);
        let open: Vec<String> = agg.open().map(|a| a.id.clone()).collect();
        let (lo, hi) = if x.id < y.id {
            (x.id, y.id)
        } else {
            (y.id, x.id)
        };
        assert_eq!(open[..2], [lo, hi]);
    }
}
