//! `k8scop test-rule`: run a ruleset over sample events, or run its `test` blocks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use k8scop_engine::decode::{Decoder, ProblemKind};
use k8scop_engine::engine::Match;
use k8scop_engine::event::format_millis;
use k8scop_engine::path::FieldPath;
use k8scop_engine::testing::{run_tests, TestResult};
use k8scop_engine::{Alert, Engine, Event, Output, Ruleset};
use serde_json::{json, Value};

use crate::args::{Format, TestRuleArgs};
use crate::commands::{load_ruleset, EXIT_FAILED, EXIT_UNLOADABLE};
use crate::diagnostics::plural;
use crate::events::for_each_event;
use crate::out::outln;

/// How many matching events a human report lists per rule.
const SHOWN: usize = 3;
/// How many malformed lines, skipped documents, duplicates and script errors a human report lists.
const LISTED: usize = 20;

pub fn run(args: &TestRuleArgs) -> u8 {
    let ruleset = match load_ruleset(&args.rules, EXIT_UNLOADABLE, args.format == Format::Json) {
        Ok(r) => r,
        Err(code) => {
            if args.format == Format::Json {
                outln!(
                    "{}",
                    json!({"rules": {}, "alerts": [], "tests": [], "errors": [{"kind": "ruleset", "message": "the ruleset could not be loaded"}]})
                );
            }
            return code;
        }
    };
    if let Some(unknown) = args
        .rules_filter
        .iter()
        .find(|n| ruleset.detection(n).is_none())
    {
        let names: Vec<&str> = ruleset.detections().map(|d| &*d.name).collect();
        let hint = k8scop_engine::compile::did_you_mean(unknown, names.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        eprintln!("error: `--rule {unknown}` names no rule or sequence of the ruleset{hint}");
        return EXIT_UNLOADABLE;
    }
    if args.events.is_empty() {
        run_test_blocks(args, &ruleset)
    } else {
        run_events(args, &ruleset)
    }
}

fn selected(args: &TestRuleArgs, name: &str) -> bool {
    args.rules_filter.is_empty() || args.rules_filter.iter().any(|n| n == name)
}

fn run_events(args: &TestRuleArgs, ruleset: &Arc<Ruleset>) -> u8 {
    let started = Instant::now();
    let decoder = Decoder::new(ruleset);
    let mut engine = Engine::new(Arc::clone(ruleset));
    engine.record_matches(true);
    let mut out = Output::default();
    let mut presence = FieldPresence::new(ruleset, args);
    let read = for_each_event(&args.events, &decoder, |event| {
        engine.process(event, &mut out);
        presence.observe(event);
    });
    let tally = match read {
        Ok(tally) => tally,
        Err(e) => {
            eprintln!("error: {e}");
            if args.format == Format::Json {
                outln!(
                    "{}",
                    json!({"rules": {}, "alerts": [], "tests": [], "errors": [{"kind": "events", "message": e.to_string()}]})
                );
            }
            return EXIT_UNLOADABLE;
        }
    };
    let elapsed = started.elapsed();
    let listed = |kind: ProblemKind| -> Vec<String> {
        tally
            .problems
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| format!("{}:{}: {}", p.origin, p.line, p.message))
            .collect()
    };
    let (malformed, skipped) = (listed(ProblemKind::Malformed), listed(ProblemKind::Skipped));
    let duplicates: Vec<&str> = tally.duplicates.iter().map(|id| &**id).collect();

    // The final state of every alert, in the order alerts were first raised.
    let mut order = Vec::new();
    let mut latest: HashMap<String, Alert> = HashMap::new();
    for update in out.alerts {
        if !selected(args, &update.alert.detection.name) {
            continue;
        }
        if !latest.contains_key(&update.alert.id) {
            order.push(update.alert.id.clone());
        }
        latest.insert(update.alert.id.clone(), update.alert);
    }
    let alerts: Vec<&Alert> = order.iter().filter_map(|id| latest.get(id)).collect();
    let stats = engine.stats();
    let mut alert_count: HashMap<&str, u64> = HashMap::new();
    for a in &alerts {
        *alert_count.entry(&a.detection.name).or_default() += 1;
    }
    let mut examples: BTreeMap<&str, Vec<&Match>> = BTreeMap::new();
    for m in &out.matches {
        let list = examples.entry(&m.detection).or_default();
        if list.len() < SHOWN {
            list.push(m);
        }
    }
    let never: Vec<&str> = stats
        .iter()
        .filter(|(d, s)| s.matches == 0 && selected(args, &d.name))
        .map(|(d, _)| &*d.name)
        .collect();
    let unused = presence.never_present();
    let errors: Vec<_> = out
        .errors
        .iter()
        .filter(|e| selected(args, &e.rule))
        .collect();

    if args.format == Format::Json {
        let rules: serde_json::Map<String, Value> = stats
            .iter()
            .filter(|(d, _)| selected(args, &d.name))
            .map(|(d, s)| {
                let n = alert_count.get(&*d.name).copied().unwrap_or(0);
                let sample: Vec<&str> = examples.get(&*d.name).map(|v| v.iter().map(|m| &*m.event_id).collect()).unwrap_or_default();
                (d.name.to_string(), json!({"matches": s.matches, "alerts": n, "kind": d.kind.as_str(), "matching_events": sample, "script_errors": s.script_errors}))
            })
            .collect();
        let mut error_docs: Vec<Value> = Vec::new();
        error_docs.extend(
            malformed
                .iter()
                .map(|m| json!({"kind": "malformed", "message": m})),
        );
        error_docs.extend(
            skipped
                .iter()
                .map(|m| json!({"kind": "skipped", "message": m})),
        );
        error_docs.extend(errors.iter().map(|e| json!({"kind": "script", "rule": &*e.rule, "event": &*e.event_id, "origin": e.origin, "message": e.message})));
        let doc = json!({
            "rules": rules,
            "alerts": alerts.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
            "tests": [],
            "errors": error_docs,
            "events": {"evaluated": tally.evaluated, "malformed": malformed.len(), "skipped": skipped.len(), "duplicates": duplicates.len()},
            "duplicate_events": duplicates,
            "never_matched": never,
            "fields_never_present": unused.iter().map(|(r, f)| json!({"rule": r, "field": f})).collect::<Vec<_>>(),
            "duration_ms": elapsed.as_secs_f64() * 1000.0,
        });
        outln!("{doc}");
        return 0;
    }

    let rate = tally.evaluated as f64 / elapsed.as_secs_f64().max(1e-9);
    outln!(
        "{} evaluated in {:.1} ms ({:.0} events/s); {} malformed, {} skipped, {}",
        plural(tally.evaluated, "event", "events"),
        elapsed.as_secs_f64() * 1000.0,
        rate,
        malformed.len(),
        skipped.len(),
        plural(duplicates.len(), "duplicate", "duplicates"),
    );
    outln!();
    let width = stats
        .iter()
        .map(|(d, _)| d.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    outln!("{:<width$}  {:>8}  {:>6}", "rule", "matches", "alerts");
    for (d, s) in stats.iter().filter(|(d, _)| selected(args, &d.name)) {
        let n = alert_count.get(&*d.name).copied().unwrap_or(0);
        outln!("{:<width$}  {:>8}  {:>6}", d.name, s.matches, n);
    }
    if !alerts.is_empty() {
        outln!();
        outln!("alerts:");
        for a in &alerts {
            outln!(
                "  [{}] {}  ({}, count {}, {} .. {}, id {})",
                a.detection.severity.as_str(),
                a.title,
                a.detection.name,
                a.count,
                format_millis(a.first_seen),
                format_millis(a.last_seen),
                &a.id[..a.id.len().min(12)]
            );
        }
    }
    if !examples.is_empty() {
        outln!();
        outln!("matching events (first {SHOWN} per rule):");
        for (name, ms) in &examples {
            let ids: Vec<&str> = ms.iter().map(|m| &*m.event_id).collect();
            outln!("  {name}: {}", ids.join(", "));
        }
    }
    if !never.is_empty() {
        outln!();
        outln!("never matched: {}", never.join(", "));
    }
    if !unused.is_empty() {
        outln!();
        outln!("fields used by rules but absent from every event:");
        for (rule, field) in &unused {
            outln!("  {rule}: {field}");
        }
    }
    let duplicates: Vec<String> = duplicates.iter().map(|id| id.to_string()).collect();
    for (title, list) in [
        ("malformed input", &malformed),
        ("skipped documents", &skipped),
        ("duplicates dropped", &duplicates),
    ] {
        if !list.is_empty() {
            outln!();
            outln!("{title} ({}):", list.len());
            for line in list.iter().take(LISTED) {
                outln!("  {line}");
            }
            if list.len() > LISTED {
                outln!("  ... and {} more", list.len() - LISTED);
            }
        }
    }
    if !errors.is_empty() {
        outln!();
        outln!("script errors ({}):", errors.len());
        for e in errors.iter().take(LISTED) {
            outln!(
                "  rule {}, event {}: {}: {}",
                e.rule,
                e.event_id,
                e.origin,
                e.message
            );
        }
    }
    0
}

/// Which field paths of the selected rules' conditions occur in at least one event, learnt one
/// event at a time (the events are not kept).
struct FieldPresence<'r> {
    /// (rule, path) in the ruleset's order, each path once per rule.
    uses: Vec<(&'r str, &'r FieldPath)>,
    /// Path texts not seen in any event yet, with one of their paths.
    absent: HashMap<&'r str, &'r FieldPath>,
}

impl<'r> FieldPresence<'r> {
    fn new(ruleset: &'r Ruleset, args: &TestRuleArgs) -> FieldPresence<'r> {
        let mut uses = Vec::new();
        let mut absent = HashMap::new();
        for rule in &ruleset.rules {
            if !selected(args, &rule.detection.name) {
                continue;
            }
            let mut paths = Vec::new();
            rule.when.paths(&mut paths);
            let mut seen_here = HashSet::new();
            for path in paths {
                if seen_here.insert(path.text()) {
                    uses.push((&*rule.detection.name, path));
                    absent.insert(path.text(), path);
                }
            }
        }
        FieldPresence { uses, absent }
    }

    fn observe(&mut self, event: &Event) {
        if !self.absent.is_empty() {
            self.absent
                .retain(|_, path| path.first(event.root()).is_none());
        }
    }

    /// (rule, field) pairs where the field has no value in any of the events.
    fn never_present(&self) -> Vec<(String, String)> {
        self.uses
            .iter()
            .filter(|(_, path)| self.absent.contains_key(path.text()))
            .map(|(rule, path)| (rule.to_string(), path.text().to_owned()))
            .collect()
    }
}

fn run_test_blocks(args: &TestRuleArgs, ruleset: &Arc<Ruleset>) -> u8 {
    let started = Instant::now();
    let results: Vec<TestResult> = run_tests(ruleset)
        .into_iter()
        .zip(&ruleset.tests)
        .filter(|(_, t)| {
            args.rules_filter.is_empty()
                || t.expects.iter().any(|e| match e {
                    k8scop_engine::ruleset::Expectation::Alerts { name, .. }
                    | k8scop_engine::ruleset::Expectation::Matches { name, .. } => {
                        selected(args, name)
                    }
                    k8scop_engine::ruleset::Expectation::NoAlerts => false,
                })
        })
        .map(|(r, _)| r)
        .collect();
    let failed = results.iter().filter(|r| !r.passed).count();
    if args.format == Format::Json {
        let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for d in ruleset.detections() {
            totals.insert(d.name.to_string(), (0, 0));
        }
        for r in &results {
            for (name, m, a) in &r.counts {
                let t = totals.entry(name.clone()).or_default();
                t.0 += m;
                t.1 += a;
            }
        }
        let rules: serde_json::Map<String, Value> = totals
            .into_iter()
            .filter(|(n, _)| selected(args, n))
            .map(|(n, (m, a))| (n, json!({"matches": m, "alerts": a})))
            .collect();
        let tests: Vec<Value> = results
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "passed": r.passed,
                    "location": r.location,
                    "error": r.error,
                    "duplicates": r.duplicates,
                    "checks": r.checks.iter().map(|c| json!({"expect": c.expect, "expected": c.expected, "actual": c.actual, "passed": c.passed})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let errors: Vec<Value> = results
            .iter()
            .filter_map(|r| {
                r.error
                    .as_ref()
                    .map(|e| json!({"kind": "test", "test": r.name, "message": e}))
            })
            .collect();
        outln!(
            "{}",
            json!({"rules": rules, "alerts": [], "tests": tests, "errors": errors})
        );
    } else {
        for r in &results {
            if r.passed {
                outln!("PASS  {}  ({})", r.name, r.location);
                continue;
            }
            outln!("FAIL  {}  ({})", r.name, r.location);
            if let Some(e) = &r.error {
                let mut lines = e.lines();
                outln!("      cannot run: {}", lines.next().unwrap_or_default());
                for line in lines {
                    outln!("                  {line}");
                }
            }
            for c in r.checks.iter().filter(|c| !c.passed) {
                outln!("      {}", c.expect);
                outln!("      - expected {}", c.expected);
                outln!("      + actual   {}", c.actual);
            }
            let fired: Vec<String> = r
                .counts
                .iter()
                .filter(|(_, _, a)| *a > 0)
                .map(|(n, _, a)| format!("{n} ({a})"))
                .collect();
            if !fired.is_empty() {
                outln!("      alerts raised: {}", fired.join(", "));
            }
            if !r.duplicates.is_empty() {
                outln!(
                    "      {} dropped, as `run` drops them: {}",
                    plural(r.duplicates.len(), "duplicate event", "duplicate events"),
                    r.duplicates.join(", ")
                );
            }
        }
        outln!();
        outln!(
            "{}: {} passed, {} failed in {:.1} ms",
            plural(results.len(), "test", "tests"),
            results.len() - failed,
            failed,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    if failed > 0 {
        EXIT_FAILED
    } else {
        0
    }
}
