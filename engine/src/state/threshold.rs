//! Thresholds: `threshold count >= N within D [by ...]` and
//! `threshold distinct PATH >= N within D [by ...]`, and the other comparisons (`>`, `<=`, `<`,
//! `==`, `!=`, ranges such as `>= 3 and <= 10`: a [`CountCondition`]).
//!
//! A match at time `t` is a *hit* when, counting it, the number of its key's matches (or of
//! distinct values of the path among its matches) with time in `[t - D, t]` passes the condition.
//! Only hits raise alerts and count as sequence steps; nothing resets after a hit, so every further
//! match while the window holds enough is a hit too.
//!
//! Below, `N` is the condition's [`CountCondition::enough`]: the count from which its answer no
//! longer changes (the `N` of `>= N`, `N + 1` for `<= N`, `== N` or `!= N`), so that counting
//! stops there.
//!
//! # What a key holds
//!
//! Keeping every match of the window would let one busy key grow without bound, and keeping only
//! the newest `N - 1` times would be wrong for late events, whose window ends before the newest
//! matches. Instead time is cut into blocks of `D` milliseconds (`t.div_euclid(D)`), and any window
//! `[a, a + D]` covers the tail of one block and the head of the next. So it is enough to keep, per
//! block:
//!
//! - for `count`: the `N - 1` earliest and the `N - 1` latest match times (a block that gets more
//!   drops a middle one);
//! - for `distinct`: the `N` values whose latest time in the block is latest, with that time, and
//!   the `N` values whose earliest time is earliest, with that time (`N`, not `N - 1`, because the
//!   current match's own values may repeat one of them).
//!
//! Whatever the tail or head of a block holds, the kept part counts at least `min(N - 1, true count)`
//! (`N` for distinct), and never more than the truth, so the hit decision is exactly the one a full
//! history would give. Blocks entirely before `watermark - 2 * D` are dropped: no match at most `D`
//! behind the watermark can look at them. A key therefore holds at most 3 blocks, that is at most
//! `6 * (N - 1)` times or `6 * N` values.
//!
//! A condition that holds for every count a match can see (`count >= 1`, `distinct >= 0`) makes a
//! hit of every match and holds no state.
//!
//! # Sums, means and medians
//!
//! `threshold sum PATH`, `avg PATH`, `median PATH` and `percentile P PATH` reduce the numbers
//! themselves, which no summary of a block can stand in for: a key keeps every number of its
//! blocks (the same three blocks), with its time, at most [`Limits::max_values_per_key`] of them;
//! past that the oldest are dropped and counted ([`Overflow::values_dropped`]). The numbers of a
//! window are reduced in time order (arrival order for equal times), this match's last, so that a
//! stream in order sums as a Sigma engine sums.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8scop_grammar::ast::CountCmp;
use serde::{Deserialize, Serialize};

use super::{
    horizon, key_text, loaded_time, saved_time, Invalid, Key, Keyed, KeyedState, Limits, Overflow,
};

/// What a threshold counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counting {
    /// `threshold count >= N`: matches.
    Count,
    /// `threshold distinct PATH >= N`: distinct values of the path among the matches.
    Distinct,
    /// `threshold sum PATH >= N`: the sum of the path's numbers in the matches.
    Sum,
    /// `threshold avg PATH >= N`: their mean; no hit while there is none.
    Avg,
    /// `threshold median PATH >= N`: their median (the mean of the middle two for an even
    /// number of them); no hit while there is none.
    Median,
    /// `threshold percentile P PATH >= N`: their P-th percentile (P from 0 to 100), linearly
    /// interpolated between the two nearest ranks (rank `P / 100 * (n - 1)` of the `n` numbers
    /// sorted); no hit while there is none.
    Percentile(u8),
}

impl Counting {
    /// The smallest count a match can see: it counts itself, but may add no value. `None` for
    /// the reductions of numbers, which may be any number.
    pub fn least(self) -> Option<u64> {
        match self {
            Counting::Count => Some(1),
            Counting::Distinct => Some(0),
            Counting::Sum | Counting::Avg | Counting::Median | Counting::Percentile(_) => None,
        }
    }

    /// The keyword that names it in a rule.
    pub fn as_str(self) -> &'static str {
        match self {
            Counting::Count => "count",
            Counting::Distinct => "distinct",
            Counting::Sum => "sum",
            Counting::Avg => "avg",
            Counting::Median => "median",
            Counting::Percentile(_) => "percentile",
        }
    }

    /// The reduction of `numbers` (in time order), or `None` for [`Counting::Avg`] and
    /// [`Counting::Median`] of no numbers. Only for the reductions of numbers.
    fn reduce(self, numbers: &mut [f64]) -> Option<f64> {
        match self {
            Counting::Sum => Some(numbers.iter().sum()),
            Counting::Avg if numbers.is_empty() => None,
            Counting::Avg => Some(numbers.iter().sum::<f64>() / numbers.len() as f64),
            Counting::Median | Counting::Percentile(_) if numbers.is_empty() => None,
            Counting::Median => {
                numbers.sort_by(f64::total_cmp);
                let mid = numbers.len() / 2;
                Some(if numbers.len().is_multiple_of(2) {
                    middle(numbers[mid - 1], numbers[mid])
                } else {
                    numbers[mid]
                })
            }
            Counting::Percentile(p) => {
                numbers.sort_by(f64::total_cmp);
                let rank = f64::from(p.min(100)) / 100.0 * (numbers.len() - 1) as f64;
                let (lower, upper) = (rank.floor() as usize, rank.ceil() as usize);
                let fraction = rank - lower as f64;
                Some(if lower == upper {
                    numbers[lower]
                } else {
                    between(numbers[lower], numbers[upper], fraction)
                })
            }
            Counting::Count | Counting::Distinct => {
                unreachable!("{} reduces no numbers", self.as_str())
            }
        }
    }
}

/// The comparisons a threshold's count must pass, all of them: `>= 3`, `< 5`, `>= 3 and <= 10`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountCondition {
    bounds: Vec<(CountCmp, u64)>,
}

impl CountCondition {
    /// The condition of these comparisons (none: every count passes).
    pub fn new(bounds: Vec<(CountCmp, u64)>) -> Self {
        CountCondition { bounds }
    }

    /// `>= n`.
    pub fn at_least(n: u64) -> Self {
        CountCondition::new(vec![(CountCmp::AtLeast, n)])
    }

    /// Whether `count` passes every comparison.
    pub fn holds(&self, count: u64) -> bool {
        self.bounds.iter().all(|&(cmp, n)| cmp.holds(count, n))
    }

    /// Whether the number `x` (a sum, a mean) passes every comparison.
    pub fn holds_for(&self, x: f64) -> bool {
        self.bounds.iter().all(|&(cmp, n)| {
            // Exact for every bound a rule can write below 2^53, which is all of them in practice.
            let n = n as f64;
            match cmp {
                CountCmp::AtLeast => x >= n,
                CountCmp::MoreThan => x > n,
                CountCmp::AtMost => x <= n,
                CountCmp::LessThan => x < n,
                CountCmp::Exactly => x == n,
                CountCmp::Not => x != n,
            }
        })
    }

    /// The count from which the answer no longer changes: [`CountCondition::holds`] gives the same
    /// for every count at or above it, so a window need only be counted up to it.
    pub fn enough(&self) -> u64 {
        self.bounds
            .iter()
            .map(|&(cmp, n)| match cmp {
                CountCmp::AtLeast | CountCmp::LessThan => n,
                CountCmp::MoreThan | CountCmp::AtMost | CountCmp::Exactly | CountCmp::Not => {
                    n.saturating_add(1)
                }
            })
            .max()
            .unwrap_or(0)
    }

    /// Whether every count from `min` on passes.
    pub fn holds_from(&self, min: u64) -> bool {
        let (lo, hi, not) = self.passing(min);
        lo == min && hi == u64::MAX && not.range(lo..).next().is_none()
    }

    /// Whether no count from `min` on passes.
    pub fn never_from(&self, min: u64) -> bool {
        let (lo, hi, not) = self.passing(min);
        lo > hi || not.range(lo..=hi).count() as u128 == u128::from(hi - lo) + 1
    }

    /// The counts from `min` on that pass: `[lo, hi]` (empty when `lo > hi`) less the `!=`
    /// values.
    fn passing(&self, min: u64) -> (u64, u64, BTreeSet<u64>) {
        let (mut lo, mut hi, mut not) = (min, u64::MAX, BTreeSet::new());
        for &(cmp, n) in &self.bounds {
            match cmp {
                CountCmp::AtLeast => lo = lo.max(n),
                // `> u64::MAX` and `< 0` leave nothing: an empty range.
                CountCmp::MoreThan => match n.checked_add(1) {
                    Some(n) => lo = lo.max(n),
                    None => (lo, hi) = (1, 0),
                },
                CountCmp::AtMost => hi = hi.min(n),
                CountCmp::LessThan => match n.checked_sub(1) {
                    Some(n) => hi = hi.min(n),
                    None => (lo, hi) = (1, 0),
                },
                CountCmp::Exactly => (lo, hi) = (lo.max(n), hi.min(n)),
                CountCmp::Not => {
                    not.insert(n);
                }
            }
        }
        (lo, hi, not)
    }

    /// The condition as a rule writes it: `>= 3 and <= 10`.
    pub fn text(&self) -> String {
        let parts: Vec<String> = self
            .bounds
            .iter()
            .map(|(cmp, n)| format!("{} {n}", cmp.as_str()))
            .collect();
        parts.join(" and ")
    }
}

/// The threshold state of one rule.
#[derive(Debug)]
pub struct Threshold {
    counting: Counting,
    condition: CountCondition,
    /// `condition.enough()`.
    enough: u64,
    /// The answer for every match, when the condition gives the same for every count a match
    /// can see (at least 1 for `count`, 0 for `distinct`).
    fixed: Option<bool>,
    within: i64,
    /// Block width: `within`, at least 1ms.
    width: i64,
    limits: Limits,
    keys: Keyed<Window>,
    /// Newest match time seen, the watermark between `evict` calls.
    newest: i64,
    overflow: Overflow,
}

/// One key's summary of its recent matches.
#[derive(Debug, Default)]
struct Window {
    /// Newest time recorded, the key's recency.
    newest: i64,
    blocks: BTreeMap<i64, Block>,
}

#[derive(Debug, Default)]
struct Block {
    /// `count`: sorted match times, at most `N - 1` earliest and `N - 1` latest.
    times: Vec<i64>,
    /// `distinct`: at most `N` values with their latest time in this block.
    latest: Vec<(i64, String)>,
    /// `distinct`: at most `N` values with their earliest time in this block.
    earliest: Vec<(i64, String)>,
    /// `sum`, `avg`, `median`, `percentile`: every number of the block with its time, in time
    /// order.
    numbers: Vec<(i64, f64)>,
}

impl Block {
    fn len(&self) -> usize {
        self.times.len() + self.latest.len() + self.earliest.len() + self.numbers.len()
    }
}

impl Threshold {
    /// A threshold whose count of matches (or distinct values) within `within_ms` must pass
    /// `condition`. A negative window counts as 0.
    pub fn new(
        counting: Counting,
        condition: CountCondition,
        within_ms: i64,
        limits: Limits,
    ) -> Self {
        let within = within_ms.max(0);
        let fixed = match counting.least() {
            Some(least) if condition.holds_from(least) => Some(true),
            Some(least) if condition.never_from(least) => Some(false),
            _ => None,
        };
        Threshold {
            counting,
            enough: condition.enough(),
            fixed,
            condition,
            within,
            width: within.max(1),
            limits,
            keys: Keyed::default(),
            newest: i64::MIN,
            overflow: Overflow::default(),
        }
    }

    /// Records one match of `key` at time `t`; for [`Counting::Distinct`], `values` are the values
    /// of the distinct path in this match (a match without a value adds none). Returns true when
    /// this match is a threshold hit: counting it, the number of its key's matches (or of distinct
    /// values among its matches) with time in `[t - within, t]` passes the condition.
    pub fn observe(&mut self, key: &Key, t: i64, values: &[String]) -> bool {
        debug_assert!(
            counting_of_values(self.counting),
            "numbers go to observe_numbers"
        );
        self.newest = self.newest.max(t);
        if let Some(hit) = self.fixed {
            return hit;
        }
        let n = self.enough;
        let lo = t.saturating_sub(self.within);
        let taken = self.keys.take(key);
        let window = taken.as_ref().map(|(_, window)| window);
        let (hit, new_values) = match self.counting {
            Counting::Count => {
                let others = window.map_or(0, |w| w.count(self.width, lo, t, n.saturating_sub(1)));
                (self.condition.holds(others + 1), Vec::new())
            }
            Counting::Distinct => {
                let current: BTreeSet<&str> = values.iter().map(String::as_str).collect();
                let distinct = match window {
                    Some(w) => w.distinct(self.width, lo, t, current.clone(), n),
                    None => current.len() as u64,
                };
                (
                    self.condition.holds(distinct),
                    current.into_iter().collect(),
                )
            }
            Counting::Sum | Counting::Avg | Counting::Median | Counting::Percentile(_) => {
                unreachable!("numbers go to observe_numbers")
            }
        };

        let is_new = taken.is_none();
        let (key_arc, mut window) = match taken {
            Some(taken) => taken,
            None if self.counting == Counting::Distinct && new_values.is_empty() => return hit,
            None => (Arc::new(key.clone()), Window::default()),
        };
        match self.counting {
            Counting::Count => window.record_time(self.width, t, cap(n.saturating_sub(1))),
            Counting::Distinct => {
                for value in new_values {
                    window.record_value(self.width, t, value, cap(n));
                }
            }
            Counting::Sum | Counting::Avg | Counting::Median | Counting::Percentile(_) => {}
        }
        self.put_back(key_arc, window, is_new);
        hit
    }

    /// [`Threshold::observe`] for `sum`, `avg`, `median` and `percentile`: records one match of
    /// `key` at time `t` holding `numbers` (a match without a number adds none, but is judged all
    /// the same), and returns true when, with them, the reduction of the key's numbers with time
    /// in `[t - within, t]` passes the condition.
    pub fn observe_numbers(&mut self, key: &Key, t: i64, numbers: &[f64]) -> bool {
        debug_assert!(!counting_of_values(self.counting), "values go to observe");
        self.newest = self.newest.max(t);
        let lo = t.saturating_sub(self.within);
        let taken = self.keys.take(key);
        let mut window_numbers = match &taken {
            Some((_, window)) => window.numbers(self.width, lo, t),
            None => Vec::new(),
        };
        window_numbers.extend_from_slice(numbers);
        let hit = (self.counting)
            .reduce(&mut window_numbers)
            .is_some_and(|x| self.condition.holds_for(x));

        let is_new = taken.is_none();
        let (key_arc, mut window) = match taken {
            Some(taken) => taken,
            None if numbers.is_empty() => return hit,
            None => (Arc::new(key.clone()), Window::default()),
        };
        for &x in numbers {
            window.record_number(self.width, t, x);
        }
        let over = window
            .held_numbers()
            .saturating_sub(self.limits.max_values_per_key.max(1));
        self.overflow.values_dropped += window.drop_oldest_numbers(over) as u64;
        self.put_back(key_arc, window, is_new);
        hit
    }

    /// Prunes a key's window to what later matches can look at and puts it back, unless nothing
    /// is left of it.
    fn put_back(&mut self, key_arc: Arc<Key>, mut window: Window, is_new: bool) {
        window.prune(self.width, horizon(self.newest, self.within));
        if window.blocks.is_empty() {
            // Everything recorded is already too old to count again (a very late match).
            return;
        }
        let newest = window.newest;
        let cutoff = horizon(self.newest, self.within);
        let (max_keys, overflow) = (self.limits.max_keys, &mut self.overflow);
        (self.keys).put_back(key_arc, window, newest, is_new, max_keys, cutoff, overflow);
    }

    /// Drops the keys that can never count again for events at or after `watermark - within`
    /// (those with no match since `watermark - 2 * within`). Within a live key, blocks that old
    /// go when the key is next matched.
    pub fn evict(&mut self, watermark: i64) {
        self.keys.pop_older_than(horizon(watermark, self.within));
    }

    /// The number of keys held.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// What had to be dropped to stay within [`Limits`].
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// The number of times and values held over all keys, for metrics (walks every key).
    pub fn held(&self) -> usize {
        self.keys
            .values_unordered()
            .map(|w| w.blocks.values().map(Block::len).sum::<usize>())
            .sum()
    }
}

impl Threshold {
    /// Everything that decides later hits, for a checkpoint.
    pub(crate) fn snapshot(&self) -> ThresholdState {
        ThresholdState {
            keys: self.keys.snapshot(|window| WindowState {
                newest: window.newest,
                blocks: window
                    .blocks
                    .iter()
                    .map(|(&index, block)| BlockState {
                        index,
                        times: block.times.clone(),
                        latest: timed(&block.latest),
                        earliest: timed(&block.earliest),
                        numbers: block.numbers.clone(),
                    })
                    .collect(),
            }),
            newest: saved_time(self.newest),
            overflow: self.overflow,
        }
    }

    /// The threshold a snapshot was taken of; `counting`, `condition`, `within_ms` and `limits`
    /// are those of its rule, as for [`Threshold::new`].
    pub(crate) fn restore(
        counting: Counting,
        condition: CountCondition,
        within_ms: i64,
        limits: Limits,
        state: ThresholdState,
    ) -> Result<Self, Invalid> {
        let mut threshold = Threshold::new(counting, condition, within_ms, limits);
        let width = threshold.width;
        threshold.keys = Keyed::restore(state.keys, |key, window| {
            let mut blocks = BTreeMap::new();
            for block in window.blocks {
                let bad = |what: &str| {
                    Invalid::new(format!(
                        "block {} of key {} holds {what}",
                        block.index,
                        key_text(key)
                    ))
                };
                let times_in_block = block
                    .times
                    .iter()
                    .all(|t| t.div_euclid(width) == block.index)
                    && block
                        .latest
                        .iter()
                        .chain(&block.earliest)
                        .all(|v| v.time.div_euclid(width) == block.index)
                    && block
                        .numbers
                        .iter()
                        .all(|(t, _)| t.div_euclid(width) == block.index);
                if !times_in_block {
                    return Err(bad("times outside the block"));
                }
                if !block.times.is_sorted() {
                    return Err(bad("match times out of order"));
                }
                if !block.numbers.is_sorted_by_key(|&(t, _)| t) {
                    return Err(bad("numbers out of time order"));
                }
                if block.numbers.iter().any(|(_, x)| !x.is_finite()) {
                    return Err(bad("a number that is not finite"));
                }
                let index = block.index;
                let block = Block {
                    times: block.times,
                    latest: untimed(block.latest),
                    earliest: untimed(block.earliest),
                    numbers: block.numbers,
                };
                if block.len() == 0 {
                    return Err(bad("nothing"));
                }
                if blocks.insert(index, block).is_some() {
                    return Err(Invalid::new(format!(
                        "key {} holds a block twice",
                        key_text(key)
                    )));
                }
            }
            if blocks.is_empty() {
                return Err(Invalid::new(format!(
                    "key {} holds no block",
                    key_text(key)
                )));
            }
            Ok(Window {
                newest: window.newest,
                blocks,
            })
        })?;
        threshold.newest = loaded_time(state.newest);
        threshold.overflow = state.overflow;
        Ok(threshold)
    }
}

fn timed(values: &[(i64, String)]) -> Vec<TimedValue> {
    values
        .iter()
        .map(|(time, value)| TimedValue {
            time: *time,
            value: value.clone(),
        })
        .collect()
}

fn untimed(values: Vec<TimedValue>) -> Vec<(i64, String)> {
    values.into_iter().map(|v| (v.time, v.value)).collect()
}

/// The saved form of a [`Threshold`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ThresholdState {
    keys: KeyedState<WindowState>,
    newest: Option<i64>,
    overflow: Overflow,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct WindowState {
    newest: i64,
    blocks: Vec<BlockState>,
}

/// A block of a window: `times` for `count`, `latest` and `earliest` for `distinct`, `numbers`
/// for `sum`, `avg`, `median` and `percentile`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct BlockState {
    index: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    times: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    latest: Vec<TimedValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    earliest: Vec<TimedValue>,
    /// `sum`, `avg`, `median`, `percentile`: `[time, number]` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    numbers: Vec<(i64, f64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TimedValue {
    time: i64,
    value: String,
}

/// Whether `counting` counts matches or values ([`Threshold::observe`]) rather than reducing
/// numbers ([`Threshold::observe_numbers`]).
fn counting_of_values(counting: Counting) -> bool {
    matches!(counting, Counting::Count | Counting::Distinct)
}

/// A count from a rule (a `u64`) as an in-memory size.
fn cap(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Window {
    /// The number of recorded times in `[lo, hi]`, counting up to `enough` at most.
    fn count(&self, width: i64, lo: i64, hi: i64, enough: u64) -> u64 {
        let mut total = 0u64;
        for block in self
            .blocks
            .range(lo.div_euclid(width)..=hi.div_euclid(width))
            .map(|(_, block)| block)
        {
            let from = block.times.partition_point(|&x| x < lo);
            let to = block.times.partition_point(|&x| x <= hi);
            total += to.saturating_sub(from) as u64;
            if total >= enough {
                break;
            }
        }
        total
    }

    /// The number of distinct values among `current` and the values recorded in `[lo, hi]`,
    /// counting up to `enough` at most.
    fn distinct<'a>(
        &'a self,
        width: i64,
        lo: i64,
        hi: i64,
        mut seen: BTreeSet<&'a str>,
        enough: u64,
    ) -> u64 {
        let blocks = self
            .blocks
            .range(lo.div_euclid(width)..=hi.div_euclid(width))
            .map(|(_, block)| block);
        for block in blocks {
            for (time, value) in block.latest.iter().chain(&block.earliest) {
                if seen.len() as u64 >= enough {
                    return seen.len() as u64;
                }
                if (lo..=hi).contains(time) {
                    seen.insert(value.as_str());
                }
            }
        }
        seen.len() as u64
    }

    /// Records a match time, keeping the `keep` earliest and `keep` latest of its block.
    fn record_time(&mut self, width: i64, t: i64, keep: usize) {
        self.newest = if self.blocks.is_empty() {
            t
        } else {
            self.newest.max(t)
        };
        let block = self.blocks.entry(t.div_euclid(width)).or_default();
        let at = block.times.partition_point(|&x| x <= t);
        block.times.insert(at, t);
        if block.times.len() > keep.saturating_mul(2) {
            // The block is sorted: index `keep` has `keep` times before it and `keep` after it.
            block.times.remove(keep);
        }
    }

    /// Records a value seen at `t`, keeping its block's `keep` latest and `keep` earliest values.
    fn record_value(&mut self, width: i64, t: i64, value: &str, keep: usize) {
        self.newest = if self.blocks.is_empty() {
            t
        } else {
            self.newest.max(t)
        };
        let block = self.blocks.entry(t.div_euclid(width)).or_default();

        match block.latest.iter_mut().find(|(_, v)| v == value) {
            Some((time, _)) => *time = (*time).max(t),
            None => {
                block.latest.push((t, value.to_owned()));
                if block.latest.len() > keep {
                    remove_extreme(&mut block.latest, |a, b| a < b);
                }
            }
        }
        match block.earliest.iter_mut().find(|(_, v)| v == value) {
            Some((time, _)) => *time = (*time).min(t),
            None => {
                block.earliest.push((t, value.to_owned()));
                if block.earliest.len() > keep {
                    remove_extreme(&mut block.earliest, |a, b| a > b);
                }
            }
        }
    }

    /// The numbers recorded in `[lo, hi]`, in time order.
    fn numbers(&self, width: i64, lo: i64, hi: i64) -> Vec<f64> {
        self.blocks
            .range(lo.div_euclid(width)..=hi.div_euclid(width))
            .flat_map(|(_, block)| &block.numbers)
            .filter(|(time, _)| (lo..=hi).contains(time))
            .map(|&(_, x)| x)
            .collect()
    }

    /// Records a number seen at `t`, after the numbers recorded at or before `t`.
    fn record_number(&mut self, width: i64, t: i64, x: f64) {
        self.newest = if self.blocks.is_empty() {
            t
        } else {
            self.newest.max(t)
        };
        let block = self.blocks.entry(t.div_euclid(width)).or_default();
        let at = block.numbers.partition_point(|&(time, _)| time <= t);
        block.numbers.insert(at, (t, x));
    }

    /// The number of numbers recorded.
    fn held_numbers(&self) -> usize {
        self.blocks.values().map(|block| block.numbers.len()).sum()
    }

    /// Drops the `n` oldest numbers recorded (and the blocks left with nothing), and says how
    /// many there were.
    fn drop_oldest_numbers(&mut self, n: usize) -> usize {
        let mut dropped = 0;
        let mut emptied = Vec::new();
        for (&at, block) in &mut self.blocks {
            if dropped == n {
                break;
            }
            let k = block.numbers.len().min(n - dropped);
            block.numbers.drain(..k);
            dropped += k;
            if block.len() == 0 {
                emptied.push(at);
            }
        }
        for at in emptied {
            self.blocks.remove(&at);
        }
        dropped
    }

    /// Drops the blocks that end before `cutoff`.
    fn prune(&mut self, width: i64, cutoff: i64) {
        self.blocks = self.blocks.split_off(&cutoff.div_euclid(width));
    }
}

/// The mean of `a` and `b`, as rsigma computes a median (`(a + b) / 2`, one rounding), or, where
/// `a + b` is too large for an `f64`, half of each.
fn middle(a: f64, b: f64) -> f64 {
    let sum = a + b;
    if sum.is_finite() {
        sum / 2.0
    } else {
        a / 2.0 + b / 2.0
    }
}

/// The number `fraction` of the way from `a` to `b`, as rsigma computes it (`a + f * (b - a)`),
/// or, where `b - a` is too large for an `f64`, as the weighted mean of the two, which is not.
fn between(a: f64, b: f64, fraction: f64) -> f64 {
    let span = b - a;
    if span.is_finite() {
        a + fraction * span
    } else {
        a * (1.0 - fraction) + b * fraction
    }
}

/// Removes the entry that `first` orders before every other (the oldest latest time, or the
/// newest earliest time), ties broken by value.
fn remove_extreme(
    entries: &mut Vec<(i64, String)>,
    first: impl Fn(&(i64, String), &(i64, String)) -> bool,
) {
    let mut at = 0;
    for (i, entry) in entries.iter().enumerate().skip(1) {
        if first(entry, &entries[at]) {
            at = i;
        }
    }
    if at < entries.len() {
        entries.swap_remove(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn key(s: &str) -> Key {
        Key::new(vec![Some(s.to_owned())])
    }

    fn count(n: u64, within: i64) -> Threshold {
        Threshold::new(
            Counting::Count,
            CountCondition::at_least(n),
            within,
            Limits::default(),
        )
    }

    fn distinct(n: u64, within: i64) -> Threshold {
        Threshold::new(
            Counting::Distinct,
            CountCondition::at_least(n),
            within,
            Limits::default(),
        )
    }

    fn hits(th: &mut Threshold, k: &str, times: &[i64]) -> Vec<bool> {
        times.iter().map(|&t| th.observe(&key(k), t, &[])).collect()
    }

    fn vals(vs: &[&str]) -> Vec<String> {
        vs.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn count_hits_exactly_at_n() {
        let mut th = count(3, MIN);
        assert_eq!(hits(&mut th, "alice", &[0, 10, 20]), [false, false, true]);
    }

    #[test]
    fn count_window_boundary_is_inclusive() {
        let mut th = count(2, MIN);
        assert_eq!(hits(&mut th, "alice", &[0, MIN]), [false, true]);
        let mut th = count(2, MIN);
        assert_eq!(hits(&mut th, "alice", &[0, MIN + 1]), [false, false]);
    }

    #[test]
    fn count_window_slides() {
        let mut th = count(3, 10);
        // At 11 the window is [1, 11]: 0 has fallen out, so only 5 and 11 count.
        assert_eq!(
            hits(&mut th, "a", &[0, 5, 11, 12]),
            [false, false, false, true]
        );
        // At 30 the window is [20, 30]: only 30.
        assert_eq!(hits(&mut th, "a", &[30, 31]), [false, false]);
    }

    #[test]
    fn count_keeps_keys_apart() {
        let mut th = count(2, MIN);
        assert!(!th.observe(&key("alice"), 0, &[]));
        assert!(!th.observe(&key("bob"), 1, &[]));
        assert!(!th.observe(&Key::new(vec![None]), 2, &[]));
        assert!(!th.observe(&Key::new(vec![Some(String::new())]), 3, &[]));
        assert!(th.observe(&key("bob"), 4, &[]));
        assert_eq!(th.keys(), 4);
    }

    #[test]
    fn count_hits_again_and_never_resets() {
        let mut th = count(2, MIN);
        assert_eq!(hits(&mut th, "a", &[0, 1, 2, 3]), [false, true, true, true]);
        // Many matches later, still hits while the window holds two.
        let many: Vec<i64> = (4..1000).collect();
        assert!(hits(&mut th, "a", &many).iter().all(|&h| h));
    }

    #[test]
    fn count_of_one_is_a_hit_every_time_and_holds_nothing() {
        let mut th = count(1, MIN);
        assert_eq!(hits(&mut th, "a", &[0, 5 * MIN]), [true, true]);
        assert_eq!(th.keys(), 0);
        let mut th = count(0, MIN);
        assert!(th.observe(&key("a"), 0, &[]));
    }

    #[test]
    fn count_at_same_millisecond_and_zero_window() {
        let mut th = count(3, 0);
        assert_eq!(
            hits(&mut th, "a", &[7, 7, 8, 8, 8]),
            [false, false, false, false, true]
        );
    }

    #[test]
    fn distinct_counts_values_not_matches() {
        let mut th = distinct(3, MIN);
        let seq = [
            ("a", false),
            ("a", false),
            ("b", false),
            ("b", false),
            ("c", true),
        ];
        for (i, (v, expected)) in seq.into_iter().enumerate() {
            assert_eq!(
                th.observe(&key("u"), i as i64, &vals(&[v])),
                expected,
                "match {i}"
            );
        }
        // Further matches are hits too, repeated values included, nothing resets.
        assert!(th.observe(&key("u"), 10, &vals(&["d"])));
        assert!(th.observe(&key("u"), 11, &vals(&["a"])));
    }

    #[test]
    fn distinct_values_fall_out_of_the_window() {
        let mut th = distinct(2, 10);
        assert!(!th.observe(&key("u"), 0, &vals(&["a"])));
        assert!(th.observe(&key("u"), 10, &vals(&["b"])));
        // At 21 the window is [11, 21]: only b (at 10) is gone too, a and b both out.
        assert!(!th.observe(&key("u"), 21, &vals(&["b"])));
        assert!(th.observe(&key("u"), 22, &vals(&["c"])));
    }

    #[test]
    fn distinct_match_without_value_adds_none_but_can_hit() {
        let mut th = distinct(2, MIN);
        assert!(!th.observe(&key("u"), 0, &[]));
        assert_eq!(th.keys(), 0);
        assert!(!th.observe(&key("u"), 1, &vals(&["a"])));
        assert!(!th.observe(&key("u"), 2, &[]));
        assert!(th.observe(&key("u"), 3, &vals(&["b"])));
        assert!(th.observe(&key("u"), 4, &[]));
    }

    #[test]
    fn distinct_several_values_in_one_match() {
        let mut th = distinct(3, MIN);
        assert!(!th.observe(&key("u"), 0, &vals(&["a", "a", "b"])));
        assert!(th.observe(&key("u"), 1, &vals(&["b", "c"])));
        let mut th = distinct(2, MIN);
        assert!(th.observe(&key("u"), 0, &vals(&["a", "b"])));
    }

    #[test]
    fn a_late_match_is_counted_with_its_own_time() {
        let mut th = count(2, MIN);
        assert!(!th.observe(&key("a"), 10 * MIN, &[]));
        assert!(th.observe(&key("a"), 10 * MIN + 30_000, &[]));
        // Late: its window [8m45s - 1m, 8m45s] holds neither of the later matches.
        assert!(!th.observe(&key("a"), 8 * MIN + 45_000, &[]));
        // Late again, within a minute of the previous late one.
        assert!(th.observe(&key("a"), 9 * MIN, &[]));
        // A late match sees the older matches of its window, past a newer one.
        let mut th = count(2, MIN);
        assert!(!th.observe(&key("b"), 9 * MIN, &[]));
        assert!(!th.observe(&key("b"), 11 * MIN, &[]));
        assert!(th.observe(&key("b"), 9 * MIN + 30_000, &[]));
    }

    #[test]
    fn late_distinct_sees_earlier_occurrences_of_values_seen_since() {
        // "a" occurs at 0 and again at 8; a late match at 5 must see the occurrence at 0, although
        // the newest occurrence of "a" is after its window.
        let mut th = distinct(2, 10);
        assert!(!th.observe(&key("u"), 0, &vals(&["a"])));
        assert!(!th.observe(&key("u"), 8, &vals(&["a"])));
        assert!(th.observe(&key("u"), 5, &vals(&["b"])));
        // And one at -1 sees neither.
        assert!(!th.observe(&key("u"), -1, &vals(&["c"])));
    }

    #[test]
    fn a_busy_key_holds_a_bounded_summary() {
        let mut th = count(5, MIN);
        for t in 0..30_000 {
            th.observe(&key("a"), t, &[]);
        }
        assert!(th.held() <= 6 * 4, "held {}", th.held());
        let mut th = distinct(5, MIN);
        for t in 0..30_000 {
            th.observe(&key("a"), t, &[format!("v{}", t % 1000)]);
        }
        assert!(th.held() <= 2 * 6 * 5, "held {}", th.held());
    }

    #[test]
    fn sums_means_and_medians_of_the_window() {
        let mut sum = Threshold::new(
            Counting::Sum,
            CountCondition::at_least(10),
            100,
            Limits::default(),
        );
        assert!(!sum.observe_numbers(&key("u"), 0, &[4.0]));
        // A match without a number adds none, and is judged on the others.
        assert!(!sum.observe_numbers(&key("u"), 50, &[]));
        assert!(
            sum.observe_numbers(&key("u"), 100, &[2.5, 3.5]),
            "4 + 2.5 + 3.5"
        );
        assert!(
            !sum.observe_numbers(&key("u"), 101, &[]),
            "4 left the window"
        );
        assert!(!sum.observe_numbers(&key("v"), 100, &[9.0]), "keys apart");

        let at_most_zero = CountCondition::new(vec![(CountCmp::AtMost, 0)]);
        let mut avg = Threshold::new(Counting::Avg, at_most_zero, 100, Limits::default());
        assert!(
            !avg.observe_numbers(&key("u"), 0, &[]),
            "no number, no mean"
        );
        assert_eq!(avg.keys(), 0, "and nothing held");
        assert!(avg.observe_numbers(&key("u"), 1, &[-1.0]));
        assert!(!avg.observe_numbers(&key("u"), 2, &[3.0]), "mean 1");
        assert!(avg.observe_numbers(&key("u"), 3, &[-3.0, 1.0]), "mean 0");
        let mut sum = Threshold::new(
            Counting::Sum,
            CountCondition::new(vec![(CountCmp::AtMost, 0)]),
            100,
            Limits::default(),
        );
        assert!(
            sum.observe_numbers(&key("u"), 0, &[]),
            "the sum of no number is 0"
        );

        let mut median = Threshold::new(
            Counting::Median,
            CountCondition::at_least(5),
            100,
            Limits::default(),
        );
        assert!(!median.observe_numbers(&key("u"), 0, &[1.0]));
        assert!(median.observe_numbers(&key("u"), 1, &[9.0]), "(1 + 9) / 2");
        assert!(!median.observe_numbers(&key("u"), 2, &[2.0]), "1, 2, 9");
        assert!(
            median.observe_numbers(&key("u"), 3, &[7.0, 8.0]),
            "1, 2, 7, 8, 9"
        );
    }

    #[test]
    fn percentiles_interpolate_between_the_nearest_ranks() {
        let of = |p: u8, numbers: &[f64]| Counting::Percentile(p).reduce(&mut numbers.to_vec());
        assert_eq!(of(50, &[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(of(95, &[10.0, 20.0]), Some(19.5));
        assert_eq!(of(0, &[7.0, 3.0, 5.0]), Some(3.0));
        assert_eq!(of(100, &[7.0, 3.0, 5.0]), Some(7.0));
        assert_eq!(of(75, &[1.0, 2.0, 3.0, 4.0, 5.0]), Some(4.0));
        assert_eq!(of(90, &[42.0]), Some(42.0));
        assert_eq!(of(90, &[]), None);
        let mut p90 = Threshold::new(
            Counting::Percentile(90),
            CountCondition::at_least(17),
            100,
            Limits::default(),
        );
        assert!(!p90.observe_numbers(&key("u"), 0, &[10.0]));
        assert!(
            p90.observe_numbers(&key("u"), 1, &[20.0]),
            "19 of 10 and 20"
        );
        assert!(
            !p90.observe_numbers(&key("u"), 2, &[0.0, 0.0, 0.0]),
            "0, 0, 0, 10, 20: 16"
        );
    }

    #[test]
    fn a_key_holds_at_most_max_values_per_key_numbers() {
        let limits = Limits {
            max_values_per_key: 3,
            ..Limits::default()
        };
        let mut sum = Threshold::new(Counting::Sum, CountCondition::at_least(10), MIN, limits);
        for t in 0..5 {
            sum.observe_numbers(&key("u"), t, &[3.0]);
        }
        assert_eq!(sum.held(), 3);
        assert_eq!(sum.overflow().values_dropped, 2);
        // The two oldest were dropped: 3 * 3 held, plus this match's 3.
        assert!(sum.observe_numbers(&key("u"), 5, &[1.0]), "9 + 1");
        assert!(!sum.observe_numbers(&key("u"), 6, &[0.0]), "3 + 3 + 1 + 0");
        // Many at once, across blocks of the window: the oldest go, the newest stay.
        let at_least = CountCondition::at_least(1000);
        let mut sum = Threshold::new(Counting::Sum, at_least, 60 * MIN, limits);
        for t in 0..4 {
            sum.observe_numbers(&key("u"), t * 10 * MIN, &[1.0, 1.0]);
        }
        sum.observe_numbers(&key("u"), 45 * MIN, &[100.0; 6]);
        assert_eq!(sum.held(), 3);
        assert_eq!(sum.overflow().values_dropped, 5 + 6);
        assert!(
            sum.observe_numbers(&key("u"), 46 * MIN, &[700.0]),
            "300 + 700"
        );
    }

    /// The middle of two numbers, and the numbers between, stay finite where their difference
    /// is not.
    #[test]
    fn medians_and_percentiles_of_huge_numbers_stay_finite() {
        let median = Counting::Median.reduce(&mut [-f64::MAX, f64::MAX]);
        assert_eq!(median, Some(0.0));
        let p75 = Counting::Percentile(75).reduce(&mut [f64::MAX, -f64::MAX]);
        let p75 = p75.expect("a percentile");
        assert!((p75 / f64::MAX - 0.5).abs() < 1e-12, "{p75}");
        let median = Counting::Median.reduce(&mut [f64::MAX, f64::MAX]);
        assert_eq!(median, Some(f64::MAX));
        // Ordinary numbers are rounded as rsigma rounds them: once, after the sum.
        // (0.1 + 0.7) / 2 is 0.39999999999999997; 0.1 + (0.7 - 0.1) / 2 would be 0.4.
        let median = Counting::Median.reduce(&mut [0.7, 0.1]).expect("a median");
        assert!(median < 0.4, "{median}");
    }

    #[test]
    fn evict_drops_expired_keys_only() {
        let mut th = count(2, MIN);
        th.observe(&key("old"), 0, &[]);
        th.observe(&key("new"), 2 * MIN, &[]);
        // The cutoff is watermark - 2 * within: a match at 1m (within behind) still looks at 0.
        th.evict(2 * MIN);
        assert_eq!(th.keys(), 2);
        assert!(
            th.observe(&key("old"), MIN, &[]),
            "a late match still sees 0"
        );
        th.evict(3 * MIN);
        assert_eq!(
            th.keys(),
            2,
            "old's newest match (1m) is not before the cutoff (1m)"
        );
        th.evict(3 * MIN + 1);
        assert_eq!(th.keys(), 1);
        assert!(th.observe(&key("new"), 2 * MIN + 1, &[]));
    }

    #[test]
    fn key_cap_evicts_expired_first_then_least_recent() {
        let limits = Limits {
            max_keys: 2,
            ..Limits::default()
        };
        let mut th = Threshold::new(Counting::Count, CountCondition::at_least(2), 10, limits);
        th.observe(&key("a"), 0, &[]);
        th.observe(&key("b"), 100, &[]);
        // "a" is older than 100 - 2 * 10: expired, no overflow.
        th.observe(&key("c"), 100, &[]);
        assert_eq!(th.keys(), 2);
        assert_eq!(th.overflow(), Overflow::default());
        // "b" and "c" are live: the least recently matched one ("b") is dropped and counted.
        th.observe(&key("d"), 101, &[]);
        assert_eq!(th.keys(), 2);
        assert_eq!(th.overflow().keys_dropped, 1);
        // "b" lost its match at 100, and coming back pushes out "c"; "d" kept its match.
        assert!(!th.observe(&key("b"), 102, &[]));
        assert_eq!(th.overflow().keys_dropped, 2);
        assert!(th.observe(&key("d"), 102, &[]));
    }

    #[test]
    fn a_very_late_match_neither_panics_nor_evicts_live_keys() {
        let limits = Limits {
            max_keys: 1,
            ..Limits::default()
        };
        let mut th = Threshold::new(Counting::Count, CountCondition::at_least(2), 10, limits);
        th.observe(&key("a"), 1_000, &[]);
        assert!(!th.observe(&key("b"), 0, &[]));
        assert_eq!(th.overflow(), Overflow::default());
        assert!(th.observe(&key("a"), 1_001, &[]));
        for t in [i64::MIN, i64::MAX, 0, i64::MIN + 1] {
            th.observe(&key("x"), t, &[]);
        }
        let mut th = Threshold::new(
            Counting::Distinct,
            CountCondition::at_least(2),
            i64::MAX,
            Limits::default(),
        );
        assert!(!th.observe(&key("x"), i64::MIN, &vals(&["a"])));
        assert!(
            !th.observe(&key("x"), 0, &vals(&["b"])),
            "MIN is more than MAX before 0"
        );
        assert!(
            th.observe(&key("x"), i64::MAX, &vals(&["c"])),
            "0 is within MAX of MAX"
        );
    }
    fn condition(bounds: &[(CountCmp, u64)]) -> CountCondition {
        CountCondition::new(bounds.to_vec())
    }

    #[test]
    fn conditions_other_than_at_least() {
        use CountCmp::*;
        // The comparisons, and whether each of five matches within a minute is a hit.
        type Case = (&'static [(CountCmp, u64)], [bool; 5]);
        let cases: &[Case] = &[
            (&[(LessThan, 3)], [true, true, false, false, false]),
            (&[(AtMost, 3)], [true, true, true, false, false]),
            (&[(Exactly, 3)], [false, false, true, false, false]),
            (&[(Not, 3)], [true, true, false, true, true]),
            (&[(MoreThan, 3)], [false, false, false, true, true]),
            (
                &[(AtLeast, 2), (AtMost, 4)],
                [false, true, true, true, false],
            ),
        ];
        for (bounds, expected) in cases {
            let mut th = Threshold::new(Counting::Count, condition(bounds), MIN, Limits::default());
            assert_eq!(hits(&mut th, "a", &[0, 1, 2, 3, 4]), expected, "{bounds:?}");
        }
    }

    #[test]
    fn conditions_know_where_their_answer_settles() {
        use CountCmp::*;
        assert_eq!(condition(&[(AtLeast, 3)]).enough(), 3);
        assert_eq!(condition(&[(AtLeast, 3), (AtMost, 10)]).enough(), 11);
        assert_eq!(condition(&[(LessThan, 0)]).enough(), 0);
        assert!(condition(&[(AtLeast, 1)]).holds_from(1));
        assert!(!condition(&[(AtLeast, 1)]).holds_from(0));
        assert!(condition(&[(Not, 0)]).holds_from(1));
        assert!(!condition(&[(AtMost, 1_000)]).holds_from(1));
        // Always true, so a key holds nothing (rather than every match time it ever saw).
        assert!(condition(&[(AtMost, u64::MAX)]).holds_from(0));
        let mut th = Threshold::new(
            Counting::Count,
            condition(&[(AtMost, u64::MAX)]),
            MIN,
            Limits::default(),
        );
        assert_eq!(hits(&mut th, "a", &[0, 1, 2]), [true, true, true]);
        assert_eq!(th.keys(), 0);
        assert!(condition(&[(LessThan, 1)]).never_from(1));
        assert!(condition(&[(Exactly, 0)]).never_from(1));
        assert!(!condition(&[(Exactly, 0)]).never_from(0));
        assert!(condition(&[(AtLeast, 5), (AtMost, 4)]).never_from(0));
        assert!(condition(&[(AtLeast, 2), (AtMost, 3), (Not, 2), (Not, 3)]).never_from(0));
        assert!(!condition(&[(AtLeast, 2), (AtMost, 3), (Not, 2)]).never_from(0));
        assert!(condition(&[(MoreThan, u64::MAX)]).never_from(0));
        assert!(!condition(&[(Not, 7)]).never_from(0));
        // A condition that never passes holds no state either.
        let mut th = Threshold::new(
            Counting::Count,
            condition(&[(LessThan, 1)]),
            MIN,
            Limits::default(),
        );
        assert_eq!(hits(&mut th, "a", &[0, 1]), [false, false]);
        assert_eq!(th.keys(), 0);
    }
}
