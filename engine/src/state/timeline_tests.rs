//! Property-style tests over pseudo-random timelines (fixed seeds, a tiny PRNG of our own):
//! the bounded state gives the same answers as an unbounded reference when events are at most
//! `within` late, memory stays within the caps on any input, and two runs agree.

use std::collections::BTreeMap;

use super::*;

/// SplitMix64: tiny, fixed, good enough to shuffle test timelines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Event {
    key: Key,
    time: i64,
    values: Vec<String>,
    /// Whole numbers, so that sums are exact whatever the order of additions.
    numbers: Vec<f64>,
    happened: Vec<bool>,
    /// Call `evict` with the watermark before this event.
    evict: bool,
}

/// A timeline over `keys` keys whose events are at most `max_late` behind the newest time seen.
fn timeline(seed: u64, len: usize, keys: u64, max_late: i64) -> Vec<Event> {
    let mut rng = Rng(seed);
    let mut newest = 1_000_000i64;
    (0..len)
        .map(|_| {
            let time = if rng.chance(25) {
                newest - rng.below(max_late as u64 + 1) as i64
            } else {
                // Mostly small steps, sometimes a long gap.
                let step = if rng.chance(3) {
                    rng.below(500) * 10
                } else {
                    rng.below(6)
                };
                newest += step as i64;
                newest
            };
            // Half the events go to a few hot keys, the rest spread over all keys.
            let k = if rng.chance(50) {
                rng.below(4)
            } else {
                rng.below(keys)
            };
            let key = Key::new(vec![
                Some(format!("k{k}")),
                rng.chance(10).then(String::new),
            ]);
            let values = (0..rng.below(3))
                .map(|_| format!("v{}", rng.below(6)))
                .collect();
            let numbers = (0..rng.below(3))
                .map(|_| rng.below(21) as f64 - 5.0)
                .collect();
            let happened = (0..3).map(|_| rng.chance(30)).collect();
            Event {
                key,
                time,
                values,
                numbers,
                happened,
                evict: rng.chance(20),
            }
        })
        .collect()
}

/// A threshold with every match kept, straight from the spec.
fn reference_threshold(
    counting: Counting,
    condition: &CountCondition,
    within: i64,
    events: &[Event],
) -> Vec<bool> {
    let mut seen: BTreeMap<&Key, Vec<(i64, &[String])>> = BTreeMap::new();
    events
        .iter()
        .map(|e| {
            let matches = seen.entry(&e.key).or_default();
            matches.push((e.time, &e.values));
            let in_window = matches
                .iter()
                .filter(|(t, _)| e.time - within <= *t && *t <= e.time);
            match counting {
                Counting::Count => condition.holds(in_window.count() as u64),
                Counting::Distinct => {
                    let values: std::collections::BTreeSet<&String> =
                        in_window.flat_map(|(_, vs)| vs.iter()).collect();
                    condition.holds(values.len() as u64)
                }
                Counting::Sum | Counting::Avg | Counting::Median | Counting::Percentile(_) => {
                    unreachable!("see reference_numbers")
                }
            }
        })
        .collect()
}

/// A `sum`, `avg` or `median` with every match kept, straight from the spec: the numbers of the
/// window in time order (arrival order for equal times), the current match's last.
fn reference_numbers(
    counting: Counting,
    condition: &CountCondition,
    within: i64,
    events: &[Event],
) -> Vec<bool> {
    let mut seen: BTreeMap<&Key, Vec<(i64, &[f64])>> = BTreeMap::new();
    events
        .iter()
        .map(|e| {
            let matches = seen.entry(&e.key).or_default();
            let mut window: Vec<(i64, &[f64])> = matches
                .iter()
                .filter(|(t, _)| e.time - within <= *t && *t <= e.time)
                .copied()
                .collect();
            // Stable: equal times keep their arrival order.
            window.sort_by_key(|&(t, _)| t);
            let mut numbers: Vec<f64> = window
                .iter()
                .flat_map(|(_, ns)| ns.iter().copied())
                .collect();
            numbers.extend(&e.numbers);
            matches.push((e.time, &e.numbers));
            let value = match counting {
                Counting::Sum => Some(numbers.iter().sum::<f64>()),
                _ if numbers.is_empty() => None,
                Counting::Avg => Some(numbers.iter().sum::<f64>() / numbers.len() as f64),
                Counting::Percentile(p) => {
                    numbers.sort_by(f64::total_cmp);
                    // The value at rank p% of (n - 1), between the two numbers around it.
                    let at = f64::from(p) / 100.0 * (numbers.len() - 1) as f64;
                    let below = numbers[at.floor() as usize];
                    let above = numbers[at.ceil() as usize];
                    Some(below + (at - at.floor()) * (above - below))
                }
                _ => {
                    numbers.sort_by(f64::total_cmp);
                    let mid = numbers.len() / 2;
                    Some(if numbers.len().is_multiple_of(2) {
                        (numbers[mid - 1] + numbers[mid]) / 2.0
                    } else {
                        numbers[mid]
                    })
                }
            };
            value.is_some_and(|x| condition.holds_for(x))
        })
        .collect()
}

/// A sequence with every partial match kept, straight from the spec.
fn reference_sequence(steps: usize, within: i64, events: &[Event]) -> Vec<Option<i64>> {
    // Per key: (start, next step, last time), in creation order.
    let mut partials: BTreeMap<&Key, Vec<(i64, usize, i64)>> = BTreeMap::new();
    events
        .iter()
        .map(|e| {
            let list = partials.entry(&e.key).or_default();
            let mut done: Option<i64> = None;
            for p in list.iter_mut() {
                if e.happened[p.1] && e.time >= p.2 && e.time - p.0 <= within {
                    p.1 += 1;
                    p.2 = e.time;
                    if p.1 == steps {
                        done = Some(done.map_or(p.0, |d| d.min(p.0)));
                    }
                }
            }
            if done.is_some() {
                list.clear();
            } else if e.happened[0] {
                list.push((e.time, 1, e.time));
            }
            done
        })
        .collect()
}

fn unbounded() -> Limits {
    Limits {
        max_keys: usize::MAX,
        max_partials_per_key: usize::MAX,
        max_samples: 10,
        max_values_per_key: usize::MAX,
    }
}

#[test]
fn thresholds_match_the_reference_when_events_are_at_most_within_late() {
    let within = 50;
    for seed in 0..4 {
        let events = timeline(seed, 4_000, 8, within);
        use k8scop_grammar::ast::CountCmp::*;
        let at_least = |n| vec![(AtLeast, n)];
        for (counting, bounds) in [
            (Counting::Count, at_least(2)),
            (Counting::Count, at_least(4)),
            (Counting::Count, at_least(9)),
            (Counting::Distinct, at_least(1)),
            (Counting::Distinct, at_least(2)),
            (Counting::Distinct, at_least(4)),
            // The other comparisons and ranges: the summary must count exactly up to where the
            // answer settles (`enough`), past the `N` of `>=`.
            (Counting::Count, vec![(LessThan, 3)]),
            (Counting::Count, vec![(AtMost, 4)]),
            (Counting::Count, vec![(Exactly, 3)]),
            (Counting::Count, vec![(Not, 2)]),
            (Counting::Count, vec![(MoreThan, 2), (AtMost, 5)]),
            (Counting::Distinct, vec![(LessThan, 2)]),
            (Counting::Distinct, vec![(Exactly, 2)]),
            (
                Counting::Distinct,
                vec![(AtLeast, 2), (Not, 3), (AtMost, 4)],
            ),
        ] {
            let condition = CountCondition::new(bounds);
            let expected = reference_threshold(counting, &condition, within, &events);
            let mut th = Threshold::new(counting, condition.clone(), within, unbounded());
            let mut watermark = i64::MIN;
            let got: Vec<bool> = events
                .iter()
                .map(|e| {
                    if e.evict {
                        th.evict(watermark);
                    }
                    watermark = watermark.max(e.time);
                    th.observe(&e.key, e.time, &e.values)
                })
                .collect();
            let first_difference = got.iter().zip(&expected).position(|(g, x)| g != x);
            let text = condition.text();
            assert_eq!(first_difference, None, "seed {seed}, {counting:?} {text}");
            assert!(expected.iter().any(|&h| h) && expected.iter().any(|&h| !h));
        }
    }
}

#[test]
fn sums_means_and_medians_match_the_reference_when_events_are_at_most_within_late() {
    let within = 50;
    for seed in 0..4 {
        let events = timeline(200 + seed, 4_000, 8, within);
        use k8scop_grammar::ast::CountCmp::*;
        for (counting, bounds) in [
            (Counting::Sum, vec![(AtLeast, 20)]),
            (Counting::Sum, vec![(LessThan, 3)]),
            (Counting::Sum, vec![(MoreThan, 5), (AtMost, 30)]),
            (Counting::Avg, vec![(AtLeast, 6)]),
            (Counting::Avg, vec![(Exactly, 5)]),
            (Counting::Median, vec![(MoreThan, 6)]),
            (Counting::Median, vec![(Not, 5), (AtMost, 8)]),
            (Counting::Percentile(90), vec![(AtLeast, 12)]),
            (Counting::Percentile(25), vec![(LessThan, 2)]),
        ] {
            let condition = CountCondition::new(bounds);
            let expected = reference_numbers(counting, &condition, within, &events);
            let mut th = Threshold::new(counting, condition.clone(), within, unbounded());
            let mut watermark = i64::MIN;
            let got: Vec<bool> = events
                .iter()
                .map(|e| {
                    if e.evict {
                        th.evict(watermark);
                    }
                    watermark = watermark.max(e.time);
                    th.observe_numbers(&e.key, e.time, &e.numbers)
                })
                .collect();
            let first_difference = got.iter().zip(&expected).position(|(g, x)| g != x);
            let text = condition.text();
            assert_eq!(first_difference, None, "seed {seed}, {counting:?} {text}");
            assert!(expected.iter().any(|&h| h) && expected.iter().any(|&h| !h));
        }
    }
}

#[test]
fn sequences_match_the_reference_when_events_are_at_most_within_late() {
    let within = 40;
    for seed in 0..4 {
        let events = timeline(100 + seed, 4_000, 5, within);
        for steps in [2, 3] {
            let expected = reference_sequence(steps, within, &events);
            let mut seq = Sequence::new(steps, within, unbounded());
            let mut watermark = i64::MIN;
            let got: Vec<Option<i64>> = events
                .iter()
                .map(|e| {
                    if e.evict {
                        seq.evict(watermark);
                    }
                    watermark = watermark.max(e.time);
                    seq.observe(&e.key, e.time, &e.happened)
                        .map(|m| m.started_at)
                })
                .collect();
            let first_difference = got.iter().zip(&expected).position(|(g, x)| g != x);
            assert_eq!(first_difference, None, "seed {seed}, {steps} steps");
            assert!(expected.iter().filter(|m| m.is_some()).count() > 10);
        }
    }
}

/// Runs every state kind over a timeline with any lateness and small caps, checks the bounds
/// after every event, and returns everything observable.
fn bounded_run(events: &[Event], within: i64) -> Vec<String> {
    let limits = Limits {
        max_keys: 50,
        max_partials_per_key: 4,
        max_samples: 3,
        max_values_per_key: 5,
    };
    let mut trace = Vec::new();
    let mut count = Threshold::new(Counting::Count, CountCondition::at_least(5), within, limits);
    let mut distinct = Threshold::new(
        Counting::Distinct,
        CountCondition::at_least(3),
        within,
        limits,
    );
    let mut sum = Threshold::new(Counting::Sum, CountCondition::at_least(10), within, limits);
    let mut seq = Sequence::new(3, within, limits);
    let mut agg = Aggregation::new(within, limits);
    let mut opened = 0usize;
    let mut closed = 0usize;
    let mut watermark = i64::MIN;
    for (i, e) in events.iter().enumerate() {
        if e.evict {
            count.evict(watermark);
            distinct.evict(watermark);
            sum.evict(watermark);
            seq.evict(watermark);
            let alerts = agg.evict(watermark);
            closed += alerts.len();
            trace.push(format!("{alerts:?}"));
        }
        watermark = watermark.max(e.time);
        let hit = count.observe(&e.key, e.time, &[]);
        let distinct_hit = distinct.observe(&e.key, e.time, &e.values);
        let sum_hit = sum.observe_numbers(&e.key, e.time, &e.numbers);
        let matched = seq.observe(&e.key, e.time, &e.happened);
        let sample = Sample {
            event_id: format!("e{i}").into(),
            time: e.time,
        };
        let (update, alert) = agg.observe("rule", &e.key, e.time, sample);
        if update == Update::New {
            opened += 1;
        }
        assert!(alert.samples.len() <= 3);
        trace.push(format!(
            "{hit} {distinct_hit} {sum_hit} {matched:?} {update:?} {alert:?}"
        ));

        assert!(count.keys() <= 50 && distinct.keys() <= 50 && seq.keys() <= 50 && agg.len() <= 50);
        assert!(
            count.held() <= count.keys() * 6 * 4,
            "count holds {}",
            count.held()
        );
        assert!(
            distinct.held() <= distinct.keys() * 2 * 6 * 3,
            "distinct holds {}",
            distinct.held()
        );
        assert!(sum.keys() <= 50 && sum.held() <= sum.keys() * 5);
        assert!(seq.partials() <= seq.keys() * 4);
    }
    let last = agg.close_all();
    closed += last.len();
    trace.push(format!("{last:?}"));
    assert_eq!(opened, closed, "every alert opened is closed exactly once");
    let overflow = (
        count.overflow(),
        distinct.overflow(),
        seq.overflow(),
        agg.overflow(),
        sum.overflow(),
    );
    assert!(
        overflow.0.keys_dropped > 0
            && overflow.2.partials_dropped > 0
            && overflow.4.values_dropped > 0,
        "{overflow:?}"
    );
    trace.push(format!("{overflow:?}"));
    trace
}

#[test]
fn memory_stays_bounded_and_runs_agree_on_any_timeline() {
    for (seed, within) in [(7, 300), (8, 5_000), (9, 20_000)] {
        // Up to 10 windows late, over many more keys than the cap.
        let mut events = timeline(seed, 10_000, 300, 10 * within);
        // Time jumping to the extremes and back.
        for (i, time) in [(5_000, i64::MAX), (5_001, i64::MIN), (5_002, 0)] {
            events[i].time = time;
        }
        let first = bounded_run(&events, within);
        let second = bounded_run(&events, within);
        assert_eq!(first.len(), second.len());
        assert!(
            first == second,
            "seed {seed}: two runs over the same input differ"
        );
    }
}
