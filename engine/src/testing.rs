//! Running the `test` blocks of a ruleset (`k8scop test-rule` without `--events`).
//!
//! Each test runs in a fresh [`Engine`] with the whole ruleset loaded; its events go through the
//! full engine (thresholds, sequences, aggregation) in order, with their event time.
//!
//! A test sees exactly what `run` sees: its events, inline or from a file, go through the same
//! [`Decoder`] (shippers' shapes unwrapped, projection, sources the ruleset does not evaluate
//! left out) and the same [`Dedup`] (a duplicate is dropped and counted, see
//! [`TestResult::duplicates`]). Where `run` reports a malformed line or a document that is not
//! an event and goes on, a test fails: its input must be exact.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::decode::{Decoder, Dedup};
use crate::engine::{Engine, Output};
use crate::event::Event;
use crate::ruleset::{Expectation, Ruleset, TestCase, TestEvents};

/// One expectation's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The expectation as written, e.g. `expect pod_exec alerts 1`.
    pub expect: String,
    /// The count the expectation asks for (0 for `expect no alerts`).
    pub expected: u64,
    /// The count the test's events gave.
    pub actual: u64,
    /// Whether they are equal.
    pub passed: bool,
}

/// One test's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    /// The test's description, as written after `test`.
    pub name: String,
    /// `file:line:col` of the test block.
    pub location: String,
    /// Whether the test ran and every check passed.
    pub passed: bool,
    /// Each expectation's outcome, in the order written.
    pub checks: Vec<Check>,
    /// Why the test could not run: an unreadable events file, or (one per line) each malformed
    /// line and each document that is not an event the ruleset evaluates.
    pub error: Option<String>,
    /// (rule or sequence, matches, alerts) for every detection, in the ruleset's order.
    pub counts: Vec<(String, u64, u64)>,
    /// Ids of the events dropped as duplicates of an earlier event of the test, as `run` drops
    /// them (same `auditID`, `stage` and what the API server sets).
    pub duplicates: Vec<String>,
}

/// Runs every test of the ruleset.
pub fn run_tests(ruleset: &Arc<Ruleset>) -> Vec<TestResult> {
    let decoder = Decoder::new(ruleset);
    ruleset
        .tests
        .iter()
        .map(|t| run_test(ruleset, &decoder, t))
        .collect()
}

/// A test's events, decoded as `run` decodes them, or why it cannot run.
fn load_events(decoder: &Decoder, test: &TestCase) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    // Worded as `test-rule --events` words them.
    let mut problems: Vec<String> = Vec::new();
    for source in &test.events {
        match source {
            TestEvents::Inline(values) => {
                let origin: Arc<str> =
                    format!("{} test \"{}\" event", test.file.name, test.name).into();
                for (i, value) in values.iter().enumerate() {
                    let decoded = decoder.decode_value(value.clone(), &origin, i as u64 + 1);
                    // The report names the test already: `event N: ...` is enough.
                    problems.extend(
                        decoded
                            .problems
                            .iter()
                            .map(|p| format!("event {}: {}", p.line, p.message)),
                    );
                    events.extend(decoded.events);
                }
            }
            TestEvents::File { path, .. } => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
                // As `run`'s source reads it: bytes that are not UTF-8 become U+FFFD, and the
                // decoder reports their line.
                let text = String::from_utf8_lossy(&bytes);
                let origin: Arc<str> = path.display().to_string().into();
                let decoded = decoder.decode_text(&origin, &text);
                problems.extend(
                    decoded
                        .problems
                        .iter()
                        .map(|p| format!("{}:{}: {}", p.origin, p.line, p.message)),
                );
                events.extend(decoded.events);
            }
        }
    }
    if problems.is_empty() {
        Ok(events)
    } else {
        Err(problems.join("\n"))
    }
}

fn run_test(ruleset: &Arc<Ruleset>, decoder: &Decoder, test: &TestCase) -> TestResult {
    let (line, col) = test.file.line_col(test.span.start);
    let location = format!("{}:{line}:{col}", test.file.name);
    let events = match load_events(decoder, test) {
        Ok(events) => events,
        Err(error) => {
            return TestResult {
                name: test.name.clone(),
                location,
                passed: false,
                checks: Vec::new(),
                error: Some(error),
                counts: Vec::new(),
                duplicates: Vec::new(),
            };
        }
    };
    let mut engine = Engine::new(Arc::clone(ruleset));
    let mut out = Output::default();
    let mut dedup = Dedup::new(Dedup::DEFAULT_CAPACITY);
    let mut duplicates = Vec::new();
    for event in &events {
        if dedup.is_duplicate(event) {
            duplicates.push(event.id.to_string());
            continue;
        }
        engine.process(event, &mut out);
    }
    let mut alert_ids: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for update in &out.alerts {
        alert_ids
            .entry(&update.alert.detection.name)
            .or_default()
            .insert(&update.alert.id);
    }
    let stats = engine.stats();
    let matches: HashMap<&str, u64> = stats.iter().map(|(d, s)| (&*d.name, s.matches)).collect();
    let alerts_of = |name: &str| alert_ids.get(name).map_or(0, |ids| ids.len() as u64);
    let checks: Vec<Check> = test
        .expects
        .iter()
        .map(|e| match e {
            Expectation::Alerts { name, count } => {
                let actual = alerts_of(name);
                Check {
                    expect: format!("expect {name} alerts {count}"),
                    expected: *count,
                    actual,
                    passed: actual == *count,
                }
            }
            Expectation::Matches { name, count } => {
                let actual = matches.get(name.as_str()).copied().unwrap_or(0);
                Check {
                    expect: format!("expect {name} matches {count}"),
                    expected: *count,
                    actual,
                    passed: actual == *count,
                }
            }
            Expectation::NoAlerts => {
                let actual: u64 = ruleset
                    .detections()
                    .filter(|d| d.file == test.file.name)
                    .map(|d| alerts_of(&d.name))
                    .sum();
                Check {
                    expect: "expect no alerts".into(),
                    expected: 0,
                    actual,
                    passed: actual == 0,
                }
            }
        })
        .collect();
    let counts = stats
        .iter()
        .map(|(d, s)| (d.name.to_string(), s.matches, alerts_of(&d.name)))
        .collect();
    TestResult {
        name: test.name.clone(),
        location,
        passed: checks.iter().all(|c| c.passed),
        checks,
        error: None,
        counts,
        duplicates,
    }
}
