//! The evaluation runtime: one [`Engine`] owns a ruleset and the state of its rules and sequences,
//! and turns events into alert updates.
//!
//! It is pure and deterministic: the same events in the same order give the same alerts with the
//! same ids. Time is the events' time; state expires against the watermark, the newest event time
//! seen. An event older than the watermark is still evaluated with its own time (see
//! `docs/language.md`, "Event time and late events").
//!
//! [`Engine::snapshot`] saves its open state as an [`EngineState`] and [`Engine::restore`] rebuilds
//! an engine from one, for checkpoints (see [`snapshot`] and `docs/checkpoints.md`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alert::{field_values, render_values, Alert, AlertKind, AlertUpdate, Context};
use crate::doc::Ref;
use crate::eval::EvalError;
use crate::event::Event;
use crate::path::FieldPath;
use crate::ruleset::{Detection, Order, Ruleset, Step};
use crate::script::ScriptErrorKind;
use crate::state::{
    Aggregation, AnyOrder, Counting, Key, Limits, Overflow, Progress, Sample, Sequence, Threshold,
    Update,
};
use crate::template::Title;

mod judge;
pub mod snapshot;

pub use judge::{Judged, Scratch};

pub(crate) use snapshot::{check_version, corrupt, hex64, parse_hex64, version_in, version_of};
pub use snapshot::{DroppedState, EngineState, RestoreReport, StateError, ENGINE_STATE_VERSION};

/// How often (in event time) expired state is evicted.
const EVICT_EVERY_MS: i64 = 10_000;
/// ... and at least every this many events.
const EVICT_EVERY_EVENTS: u32 = 50_000;

/// A script or function error on one event.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeError {
    /// The rule or sequence whose script or function failed.
    pub rule: Arc<str>,
    /// The id of the event it failed on.
    pub event_id: Arc<str>,
    /// `script` or the function's name.
    pub origin: String,
    /// [`ScriptErrorKind::DeadlineExceeded`] when a script's wall-clock deadline stopped it: a
    /// result that depends on the machine, to be counted apart from the other errors.
    pub kind: ScriptErrorKind,
    /// The error's message.
    pub message: String,
}

/// What processing events produced.
#[derive(Debug, Default)]
pub struct Output {
    /// New and updated alerts, in event order; with [`Engine::coalesce_alerts`] on, one entry
    /// per alert: its latest state, in the order alerts first appeared, `New` if it opened here.
    pub alerts: Vec<AlertUpdate>,
    /// Script and function errors; the events they happened on count as not matching.
    pub errors: Vec<RuntimeError>,
    /// Which rules and sequences each event matched, when [`Engine::record_matches`] is on.
    pub matches: Vec<Match>,
    /// Alerts opened, whether or not coalesced (for the caller to read and reset).
    pub alerts_new: u64,
    /// Alert updates, whether or not coalesced (for the caller to read and reset).
    pub alerts_updated: u64,
    /// With [`Engine::coalesce_alerts`] on: each alert's position in `alerts`, by id.
    positions: HashMap<String, usize>,
}

impl Output {
    /// Takes the alerts, leaving `alerts` empty (and the next update of each alert a new entry).
    pub fn take_alerts(&mut self) -> Vec<AlertUpdate> {
        self.positions.clear();
        std::mem::take(&mut self.alerts)
    }
}

/// An event that satisfied a rule's `when` (or completed a sequence).
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The name of the rule or sequence.
    pub detection: Arc<str>,
    /// The id of the event.
    pub event_id: Arc<str>,
}

/// Counters for one rule or sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionStats {
    /// Events that satisfied the rule's `when` (for a sequence: completed matches).
    pub matches: u64,
    /// Threshold hits (rules with a threshold only).
    pub hits: u64,
    /// Alerts raised.
    pub alerts_new: u64,
    /// Updates of alerts already raised (repeats aggregated within the window).
    pub alerts_updated: u64,
    /// Script and function failures, the operation limit included: the same events give the
    /// same count on any machine.
    pub script_errors: u64,
    /// Scripts stopped by their wall-clock deadline, which depends on the machine's speed and
    /// load (see [`crate::script::ScriptLimits::deadline`]).
    #[serde(default)]
    pub script_deadlines: u64,
    /// Keys dropped because a state table reached its limit.
    pub overflow: Overflow,
}

/// What an open alert remembers of its first event.
struct Payload {
    title: Title,
    group: Arc<[(String, Option<String>)]>,
    fields: Arc<Map<String, Value>>,
    context: Arc<Context>,
}

/// The state of one rule or sequence.
struct DetectionState {
    detection: Arc<Detection>,
    threshold: Option<Threshold>,
    sequence: Option<Progress>,
    aggregation: Aggregation,
    payloads: HashMap<String, Payload>,
    stats: DetectionStats,
}

impl DetectionState {
    fn overflow(&self) -> Overflow {
        let mut total = self.aggregation.overflow();
        for o in [
            self.threshold.as_ref().map(Threshold::overflow),
            self.sequence.as_ref().map(Progress::overflow),
        ]
        .into_iter()
        .flatten()
        {
            total.keys_dropped += o.keys_dropped;
            total.partials_dropped += o.partials_dropped;
            total.values_dropped += o.values_dropped;
        }
        total
    }
}

/// Runs a ruleset over events.
pub struct Engine {
    ruleset: Arc<Ruleset>,
    limits: Limits,
    /// One per rule, then one per sequence, in the ruleset's order.
    states: Vec<DetectionState>,
    watermark: i64,
    last_evict: i64,
    happened: Vec<bool>,
    /// The rules `happened` is true for (reset before the next event).
    hits: Vec<usize>,
    /// Which steps of a sequence an event is, reused from one sequence and event to the next.
    steps: Vec<bool>,
    /// The buffers [`Engine::process`] judges one event with.
    scratch: Scratch,
    /// The verdict [`Engine::process`] judges one event into.
    judged: Judged,
    record_matches: bool,
    coalesce_alerts: bool,
    since_evict: u32,
    /// Counters of rules and sequences removed by a reload, for the summary.
    retired: Vec<(Arc<Detection>, DetectionStats)>,
}

impl Engine {
    /// An engine for `ruleset` with the default state limits.
    pub fn new(ruleset: Arc<Ruleset>) -> Engine {
        Engine::with_limits(ruleset, Limits::default())
    }

    /// An engine for `ruleset` whose state tables hold at most what `limits` says.
    pub fn with_limits(ruleset: Arc<Ruleset>, limits: Limits) -> Engine {
        let states = fresh_states(&ruleset, limits);
        Engine {
            happened: vec![false; ruleset.rules.len()],
            hits: Vec::new(),
            steps: Vec::new(),
            ruleset,
            limits,
            states,
            watermark: i64::MIN,
            last_evict: i64::MIN,
            scratch: Scratch::default(),
            judged: Judged::default(),
            record_matches: false,
            coalesce_alerts: false,
            since_evict: 0,
            retired: Vec::new(),
        }
    }

    /// Records every match in [`Output::matches`] (for `test-rule`; off on the hot path).
    pub fn record_matches(&mut self, on: bool) {
        self.record_matches = on;
    }

    /// Keeps one entry per alert in [`Output::alerts`] (its latest state) until the alerts are
    /// taken ([`Output::take_alerts`]): what a sink needs of a batch, without building an alert
    /// for every update of it (the `run` pipeline; off by default, where every update is listed).
    pub fn coalesce_alerts(&mut self, on: bool) {
        self.coalesce_alerts = on;
    }

    /// The ruleset it runs.
    pub fn ruleset(&self) -> &Arc<Ruleset> {
        &self.ruleset
    }

    /// Replaces the ruleset between two events. Rules and sequences whose definition did not
    /// change (same name, same text) keep their windows, counts and open alerts; the others start
    /// fresh. Returns the names whose state was kept.
    pub fn replace_ruleset(&mut self, ruleset: Arc<Ruleset>) -> Vec<Arc<str>> {
        let mut old: HashMap<(Arc<str>, u64), DetectionState> = self
            .states
            .drain(..)
            .map(|s| ((s.detection.name.clone(), s.detection.fingerprint), s))
            .collect();
        let mut kept = Vec::new();
        let fresh = fresh_states(&ruleset, self.limits);
        self.states = fresh
            .into_iter()
            .map(
                |new| match old.remove(&(new.detection.name.clone(), new.detection.fingerprint)) {
                    Some(mut previous) => {
                        kept.push(new.detection.name.clone());
                        previous.detection = new.detection;
                        previous
                    }
                    None => new,
                },
            )
            .collect();
        // A changed rule starts with fresh state, but its counters go on: the run's summary
        // counts what it did before the change too. A removed rule's counters are kept aside.
        let mut by_name: HashMap<Arc<str>, DetectionState> = old
            .into_values()
            .map(|s| (s.detection.name.clone(), s))
            .collect();
        for state in &mut self.states {
            if let Some(previous) = by_name.remove(&state.detection.name) {
                state.stats = previous.stats;
            }
        }
        let mut removed: Vec<DetectionState> = by_name.into_values().collect();
        removed.sort_by(|a, b| a.detection.name.cmp(&b.detection.name));
        self.retired.extend(removed.into_iter().map(|s| {
            let mut stats = s.stats.clone();
            stats.overflow = s.overflow();
            (s.detection, stats)
        }));
        self.happened = vec![false; ruleset.rules.len()];
        self.hits.clear();
        // The old ruleset is not kept alive by the last verdict `process` made with it.
        self.judged = Judged::default();
        self.ruleset = ruleset;
        kept
    }

    /// Evaluates one event and appends what it caused to `out`.
    pub fn process(&mut self, event: &Event, out: &mut Output) {
        let mut judged = std::mem::take(&mut self.judged);
        self.ruleset
            .judge_into(std::slice::from_ref(event), &mut self.scratch, &mut judged);
        self.apply(event, &judged, 0, out);
        self.judged = judged;
    }

    /// Applies the verdict on `event`, event `index` of the batch `judged` was made of (see
    /// [`Ruleset::judge`]): thresholds, sequences and aggregation, in event order. A verdict of
    /// another ruleset than the engine's (a reload in between) is not used: the event is judged
    /// again here.
    pub fn apply(&mut self, event: &Event, judged: &Judged, index: usize, out: &mut Output) {
        let same = judged
            .ruleset
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, &self.ruleset));
        if !same || index >= judged.events {
            return self.process(event, out);
        }
        let ruleset = Arc::clone(&self.ruleset);
        let rule_count = ruleset.rules.len();
        let mut errors = judged.errors_of(index).peekable();
        // Only the rules that matched (or failed) need work: clear what the previous event set,
        // then walk the verdict's set bits in rule order.
        for i in self.hits.drain(..) {
            self.happened[i] = false;
        }
        while let Some(e) = errors.next_if(|e| e.detection < rule_count) {
            // A script or function that fails makes its rule false for this event, whatever
            // the rest of the condition says (`not script { ... }` included): the verdict has
            // no bit for it.
            let (rule, state) = (&ruleset.rules[e.detection], &mut self.states[e.detection]);
            report_error(
                e.error.clone(),
                &rule.detection.name,
                event,
                &mut state.stats,
                out,
            );
        }
        for i in judged.rules_matched(index) {
            let (rule, state) = (&ruleset.rules[i], &mut self.states[i]);
            state.stats.matches += 1;
            if self.record_matches {
                out.matches.push(Match {
                    detection: rule.detection.name.clone(),
                    event_id: event.id.clone(),
                });
            }
            let hit = match (&rule.threshold, &mut state.threshold) {
                (Some(spec), Some(threshold)) => {
                    let key = key_of(&spec.by, event.root());
                    let hit = match (spec.counting, &spec.path) {
                        (
                            Counting::Sum
                            | Counting::Avg
                            | Counting::Median
                            | Counting::Percentile(_),
                            Some(path),
                        ) => {
                            let numbers = numbers_of(path, event.root());
                            threshold.observe_numbers(&key, event.time, &numbers)
                        }
                        (_, path) => {
                            let values: Vec<String> = path
                                .iter()
                                .flat_map(|path| path.collect(event.root(), true))
                                .filter_map(|v| render_values(&[v]))
                                .collect();
                            threshold.observe(&key, event.time, &values)
                        }
                    };
                    state.stats.hits += u64::from(hit);
                    hit
                }
                _ => true,
            };
            if hit {
                self.happened[i] = true;
                self.hits.push(i);
            }
            if hit && rule.detection.enabled {
                aggregate(state, event, self.coalesce_alerts, out);
            }
        }
        let mut steps = std::mem::take(&mut self.steps);
        let mut inline = 0;
        for (j, seq) in ruleset.sequences.iter().enumerate() {
            steps.clear();
            for step in &seq.steps {
                steps.push(match step {
                    Step::Rule(i) => self.happened[*i],
                    Step::Inline { .. } => {
                        inline += 1;
                        judged.step_held(index, inline - 1)
                    }
                });
            }
            let state = &mut self.states[rule_count + j];
            while let Some(e) = errors.next_if(|e| e.detection == rule_count + j) {
                report_error(
                    e.error.clone(),
                    &seq.detection.name,
                    event,
                    &mut state.stats,
                    out,
                );
            }
            if !steps.iter().any(|s| *s) {
                continue;
            }
            let flags = (self.record_matches, self.coalesce_alerts);
            if seq.step_by.is_empty() {
                let key = key_of(&seq.by, event.root());
                observe_sequence(state, seq, event, (&key, &seq.by), &steps, flags, out);
            } else {
                // Each step that happened keys the event by its own paths: one observation per
                // distinct key, with the steps of that key.
                for (key, steps, paths) in step_keys(seq, &steps, event.root()) {
                    observe_sequence(state, seq, event, (&key, paths), &steps, flags, out);
                }
            }
        }
        self.steps = steps;
        self.advance(event.time);
    }

    fn advance(&mut self, time: i64) {
        if time > self.watermark {
            self.watermark = time;
        }
        if self.last_evict == i64::MIN {
            self.last_evict = self.watermark;
        }
        self.since_evict += 1;
        // Also by count: when event time stands still (a burst, or an old file read after a
        // new one), closed alerts and their payloads must still be released.
        if self.watermark - self.last_evict >= EVICT_EVERY_MS
            || self.since_evict >= EVICT_EVERY_EVENTS
        {
            self.last_evict = self.watermark;
            self.since_evict = 0;
            self.evict();
        }
    }

    fn evict(&mut self) {
        let watermark = self.watermark;
        for state in &mut self.states {
            if let Some(t) = state.threshold.as_mut() {
                t.evict(watermark);
            }
            if let Some(s) = state.sequence.as_mut() {
                s.evict(watermark);
            }
            for closed in state.aggregation.evict(watermark) {
                state.payloads.remove(&closed.id);
            }
            // Alerts dropped by the key cap leave payloads behind: keep only the open ones.
            if state.payloads.len() > state.aggregation.len() {
                let open: HashSet<&str> = state.aggregation.open().map(|a| a.id.as_str()).collect();
                state.payloads.retain(|id, _| open.contains(id.as_str()));
            }
        }
    }

    /// The alerts still open, in a deterministic order.
    pub fn open_alerts(&self) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for state in &self.states {
            for open in state.aggregation.open() {
                if let Some(payload) = state.payloads.get(&open.id) {
                    alerts.push(make_alert(&state.detection, open, payload));
                }
            }
        }
        alerts
    }

    /// Counters per rule and sequence, in the ruleset's order.
    pub fn stats(&self) -> Vec<(Arc<Detection>, DetectionStats)> {
        self.states
            .iter()
            .map(|s| {
                let mut stats = s.stats.clone();
                stats.overflow = s.overflow();
                (s.detection.clone(), stats)
            })
            .chain(self.retired.iter().cloned())
            .collect()
    }

    /// The newest event time seen.
    pub fn watermark(&self) -> Option<i64> {
        (self.watermark != i64::MIN).then_some(self.watermark)
    }
}

fn fresh_states(ruleset: &Ruleset, limits: Limits) -> Vec<DetectionState> {
    let rules = ruleset.rules.iter().map(|rule| DetectionState {
        detection: rule.detection.clone(),
        threshold: rule
            .threshold
            .as_ref()
            .map(|t| Threshold::new(t.counting, t.condition.clone(), t.within_ms, limits)),
        sequence: None,
        aggregation: Aggregation::new(rule.detection.within_ms, limits),
        payloads: HashMap::new(),
        stats: DetectionStats::default(),
    });
    let sequences = ruleset.sequences.iter().map(|seq| DetectionState {
        detection: seq.detection.clone(),
        threshold: None,
        sequence: Some(progress(seq, limits)),
        aggregation: Aggregation::new(seq.detection.within_ms, limits),
        payloads: HashMap::new(),
        stats: DetectionStats::default(),
    });
    rules.chain(sequences).collect()
}

/// The fresh state of a sequence.
fn progress(seq: &crate::ruleset::Sequence, limits: Limits) -> Progress {
    match seq.order {
        Order::InOrder => Progress::InOrder(Sequence::new(seq.steps.len(), seq.within_ms, limits)),
        Order::AnyOrder { need } => {
            Progress::AnyOrder(AnyOrder::new(seq.steps.len(), need, seq.within_ms, limits))
        }
    }
}

/// The numbers `path` holds in an event, for `threshold sum`, `avg`, `median` and `percentile`:
/// its JSON numbers, and its strings that are a decimal number (`"250"`, `"1.5e3"`), as a Sigma engine
/// reads them; anything else, and infinities, add nothing.
fn numbers_of(path: &FieldPath, root: Ref<'_>) -> Vec<f64> {
    path.collect(root, true)
        .into_iter()
        .filter_map(|v| match v.as_str() {
            Some(text) => text.parse::<f64>().ok(),
            None => v.as_number().and_then(|n| n.as_f64()),
        })
        .filter(|x| x.is_finite())
        .collect()
}

/// Reports one script or function error of a detection's evaluation in `out`, counting it in
/// its stats: the deadline stops, which depend on the machine, apart from the other failures.
fn report_error(
    e: EvalError,
    detection: &Arc<str>,
    event: &Event,
    stats: &mut DetectionStats,
    out: &mut Output,
) {
    match e.kind {
        ScriptErrorKind::Error => stats.script_errors += 1,
        ScriptErrorKind::DeadlineExceeded => stats.script_deadlines += 1,
    }
    out.errors.push(RuntimeError {
        rule: detection.clone(),
        event_id: event.id.clone(),
        origin: e.origin,
        kind: e.kind,
        message: e.message,
    });
}

/// The key of `paths` in `event`.
fn key_of(paths: &[FieldPath], event: Ref<'_>) -> Key {
    Key(paths
        .iter()
        .map(|p| render_values(&p.collect(event, true)))
        .collect())
}

/// Observes the steps of `seq` that `event` made happen for `key` (read from `paths`), and on a
/// match counts it and raises its alert. `flags`: whether to record matches, and to coalesce
/// alert updates.
fn observe_sequence(
    state: &mut DetectionState,
    seq: &crate::ruleset::Sequence,
    event: &Event,
    (key, paths): (&Key, &[FieldPath]),
    steps: &[bool],
    (record_matches, coalesce): (bool, bool),
    out: &mut Output,
) {
    let Some(sequence) = state.sequence.as_mut() else {
        return;
    };
    if sequence.observe(key, event.time, steps).is_none() {
        return;
    }
    state.stats.matches += 1;
    if record_matches {
        out.matches.push(Match {
            detection: seq.detection.name.clone(),
            event_id: event.id.clone(),
        });
    }
    if seq.detection.enabled {
        // The key's names: the paths the completing step's key was read from (its own, or the
        // sequence's `by`).
        let group = seq.group_by_match.then_some((key, paths));
        aggregate_by(state, event, group, coalesce, out);
    }
}

/// For each distinct key among the steps of `seq` that happened (`steps`), the steps of that
/// key and the paths it was read from: each step's own key, or the sequence's `by`. A missing
/// value is a value, as for `by` and as Sigma engines key their groups: rsigma joins two events
/// that both lack their step's field, and so does an imported correlation.
fn step_keys<'s>(
    seq: &'s crate::ruleset::Sequence,
    steps: &[bool],
    root: Ref<'_>,
) -> Vec<(Key, Vec<bool>, &'s [FieldPath])> {
    let mut keyed: Vec<(Key, Vec<bool>, &[FieldPath])> = Vec::new();
    for (i, _) in steps.iter().enumerate().filter(|(_, &happened)| happened) {
        let paths = seq.step_by[i].as_deref().unwrap_or(&seq.by);
        let key = key_of(paths, root);
        match keyed.iter_mut().find(|(k, ..)| *k == key) {
            Some((_, mask, _)) => mask[i] = true,
            None => {
                let mut mask = vec![false; steps.len()];
                mask[i] = true;
                keyed.push((key, mask, paths));
            }
        }
    }
    keyed
}

/// Sends one match (or threshold hit) to aggregation.
fn aggregate(state: &mut DetectionState, event: &Event, coalesce: bool, out: &mut Output) {
    aggregate_by(state, event, None, coalesce, out);
}

/// [`aggregate`], with the alert's group given (the key of a sequence match and the names of its
/// values) instead of read from the event by the detection's `group by`.
fn aggregate_by(
    state: &mut DetectionState,
    event: &Event,
    given: Option<(&Key, &[FieldPath])>,
    coalesce: bool,
    out: &mut Output,
) {
    let detection = Arc::clone(&state.detection);
    let key = match (given, &detection.group_by) {
        (Some((key, _)), _) => key.clone(),
        (None, Some(paths)) => key_of(paths, event.root()),
        (None, None) => Key(vec![Some(detection.title.render(event.root(), None))].into()),
    };
    let sample = Sample {
        event_id: event.id.clone(),
        time: event.time,
    };
    let (update, open) = state
        .aggregation
        .observe(&detection.name, &key, event.time, sample);
    let kind = match update {
        Update::New => {
            state.stats.alerts_new += 1;
            out.alerts_new += 1;
            // What an alert shows of its first event is computed once, when it opens.
            let group_paths = match given {
                Some((_, paths)) => Some(paths),
                None => detection.group_by.as_deref(),
            };
            let group: Arc<[(String, Option<String>)]> = match group_paths {
                Some(paths) => paths
                    .iter()
                    .map(|p| p.text().to_owned())
                    .zip(key.0.iter().cloned())
                    .collect(),
                None => vec![("title".to_owned(), key.0[0].clone())].into(),
            };
            state.payloads.insert(
                open.id.clone(),
                Payload {
                    title: detection.title.prerender(event.root()),
                    group,
                    fields: Arc::new(field_values(&detection.fields, event.root())),
                    context: Arc::new(event.context()),
                },
            );
            AlertKind::New
        }
        Update::Updated => {
            state.stats.alerts_updated += 1;
            out.alerts_updated += 1;
            AlertKind::Updated
        }
    };
    let Some(payload) = state.payloads.get(&open.id) else {
        return;
    };
    if coalesce {
        let listed = out.positions.get(&open.id).copied();
        // (The id is checked: `alerts` may have been emptied without `take_alerts`.)
        let entry = listed.and_then(|i| out.alerts.get_mut(i));
        if let Some(listed) = entry.filter(|u| u.alert.id == open.id) {
            // The alert's entry of this batch: brought up to date in place.
            let alert = &mut listed.alert;
            alert.count = open.count;
            alert.first_seen = open.first_seen;
            alert.last_seen = open.last_seen;
            if payload.title.has_count() {
                payload.title.write_with_count(&mut alert.title, open.count);
            }
            // An open alert's samples only grow.
            if alert.samples.len() != open.samples.len() {
                alert.samples.clone_from(&open.samples);
            }
            if listed.kind != AlertKind::New {
                listed.kind = kind;
            }
            return;
        }
        out.positions.insert(open.id.clone(), out.alerts.len());
    }
    out.alerts.push(AlertUpdate {
        kind,
        alert: make_alert(&detection, open, payload),
    });
}

fn make_alert(
    detection: &Arc<Detection>,
    open: &crate::state::OpenAlert,
    payload: &Payload,
) -> Alert {
    Alert {
        id: open.id.clone(),
        detection: Arc::clone(detection),
        title: payload.title.with_count(open.count),
        count: open.count,
        first_seen: open.first_seen,
        last_seen: open.last_seen,
        samples: open.samples.clone(),
        group: payload.group.clone(),
        fields: payload.fields.clone(),
        context: payload.context.clone(),
    }
}

/// Everything an engine's run produced (alerts, matches, errors, counters), as comparable text:
/// what the tests compare between two ways of running the same events.
#[cfg(test)]
pub(crate) fn outcome(engine: &Engine, out: &Output) -> Vec<String> {
    let mut lines: Vec<String> = out
        .alerts
        .iter()
        .map(|a| format!("{:?} {}", a.kind, a.alert.to_json()))
        .collect();
    lines.extend(out.matches.iter().map(|m| format!("{m:?}")));
    lines.extend(out.errors.iter().map(|e| format!("{e:?}")));
    lines.extend(
        engine
            .stats()
            .iter()
            .map(|(d, s)| format!("{} {s:?}", d.name)),
    );
    lines
}
