//! Running the `test` blocks of a ruleset (`k8scop test-rule` without `--events`).
//!
//! Each test runs in a fresh [`Engine`] with the whole ruleset loaded; its events go through the
//! full engine (thresholds, sequences, aggregation) in order, with their event time.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::engine::{Engine, Output};
use crate::event::Event;
use crate::input::{read_documents, Record};
use crate::ruleset::{Expectation, Ruleset, TestCase, TestEvents};

/// One expectation's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The expectation as written, e.g. `expect pod_exec alerts 1`.
    pub expect: String,
    pub expected: u64,
    pub actual: u64,
    pub passed: bool,
}

/// One test's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub name: String,
    /// `file:line:col` of the test block.
    pub location: String,
    pub passed: bool,
    pub checks: Vec<Check>,
    /// Why the test could not run (unreadable events file, an event that is not an event).
    pub error: Option<String>,
    /// (rule or sequence, matches, alerts) for every detection, in the ruleset's order.
    pub counts: Vec<(String, u64, u64)>,
}

/// Runs every test of the ruleset.
pub fn run_tests(ruleset: &Arc<Ruleset>) -> Vec<TestResult> {
    ruleset.tests.iter().map(|t| run_test(ruleset, t)).collect()
}

fn load_events(test: &TestCase) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    for source in &test.events {
        match source {
            TestEvents::Inline(values) => {
                for (i, value) in values.iter().enumerate() {
                    let position =
                        format!("{} test \"{}\" event {}", test.file.name, test.name, i + 1);
                    let event = Event::classify(value.clone(), &position)
                        .map_err(|e| format!("event {}: {}", i + 1, e.reason))?;
                    events.push(event);
                }
            }
            TestEvents::File { path, .. } => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
                for record in read_documents(&text) {
                    match record {
                        Record::Document { line, value } => {
                            let position = format!("{}:{line}", path.display());
                            let event = Event::classify(value, &position)
                                .map_err(|e| format!("{position}: {}", e.reason))?;
                            events.push(event);
                        }
                        Record::Malformed { line, message } => {
                            return Err(format!("{}:{line}: {message}", path.display()));
                        }
                    }
                }
            }
        }
    }
    Ok(events)
}

fn run_test(ruleset: &Arc<Ruleset>, test: &TestCase) -> TestResult {
    let (line, col) = test.file.line_col(test.span.start);
    let location = format!("{}:{line}:{col}", test.file.name);
    let events = match load_events(test) {
        Ok(events) => events,
        Err(error) => {
            return TestResult {
                name: test.name.clone(),
                location,
                passed: false,
                checks: Vec::new(),
                error: Some(error),
                counts: Vec::new(),
            };
        }
    };
    let mut engine = Engine::new(Arc::clone(ruleset));
    let mut out = Output::default();
    for event in &events {
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
    }
}
