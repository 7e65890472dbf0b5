//! Issue 7, item 5: a runaway script gives the same result on any machine. The operation limit
//! stops it, a deterministic script error; the wall-clock deadline is a backstop whose stops are
//! reported and counted apart, since they depend on the machine.

use std::sync::Arc;
use std::time::Duration;

use k8scop_engine::event::Event;
use k8scop_engine::script::{ScriptErrorKind, ScriptLimits};
use k8scop_engine::{CompileOptions, DetectionStats, Engine, Output, RuntimeError};
use k8scop_grammar::SourceFile;
use serde_json::json;

const RULES: &str = r#"
script {
    fn spin(n) { loop { n += 1; } }
}

rule runaway_condition {
    when verb == "get" and script { let n = 0; while true { n += 1; } }
}

rule runaway_function {
    when verb == "get" and spin(1)
}

rule fine {
    when verb == "get"
}
"#;

/// Runs `events` get events through the rules; returns each rule's stats and the errors.
fn run(
    options: &CompileOptions,
    events: usize,
) -> (Vec<(String, DetectionStats)>, Vec<RuntimeError>) {
    let compiled =
        k8scop_engine::loader::load_sources(vec![SourceFile::new("t.rules", RULES)], options);
    assert!(
        compiled.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        compiled.diagnostics
    );
    let mut engine = Engine::new(Arc::new(compiled.ruleset.expect("no errors")));
    let mut out = Output::default();
    for i in 0..events {
        let event = json!({
            "verb": "get",
            "auditID": format!("a{i}"),
            "stage": "ResponseComplete",
            "requestReceivedTimestamp": "2024-05-01T12:00:00Z",
        });
        engine.process(
            &Event::classify(event, "t:1").expect("an audit event"),
            &mut out,
        );
    }
    let stats = engine
        .stats()
        .into_iter()
        .map(|(d, s)| (d.name.to_string(), s))
        .collect();
    (stats, out.errors)
}

fn counts(stats: &[(String, DetectionStats)]) -> Vec<(&str, u64, u64, u64)> {
    stats
        .iter()
        .map(|(name, s)| {
            (
                name.as_str(),
                s.matches,
                s.script_errors,
                s.script_deadlines,
            )
        })
        .collect()
}

#[test]
fn the_operation_limit_stops_runaway_scripts_with_the_same_result_every_time() {
    let (stats, errors) = run(&CompileOptions::default(), 3);
    // (rule, matches, script errors, deadline stops)
    assert_eq!(
        counts(&stats),
        [
            ("runaway_condition", 0, 3, 0),
            ("runaway_function", 0, 3, 0),
            ("fine", 3, 0, 0),
        ]
    );
    assert_eq!(errors.len(), 6);
    for e in &errors {
        assert_eq!(e.kind, ScriptErrorKind::Error, "{e:?}");
        assert!(e.message.contains("operation limit exceeded"), "{e:?}");
    }
    // Again, from scratch: the same errors, in the same order.
    for _ in 0..3 {
        let (again_stats, again) = run(&CompileOptions::default(), 3);
        assert_eq!(again, errors);
        assert_eq!(counts(&again_stats), counts(&stats));
    }
}

#[test]
fn a_script_stopped_by_the_deadline_is_counted_apart() {
    let options = CompileOptions {
        script_limits: ScriptLimits {
            // Out of reach, so that only the clock can stop the scripts.
            max_operations: u64::MAX,
            deadline: Duration::from_millis(2),
            ..ScriptLimits::default()
        },
        ..CompileOptions::default()
    };
    let (stats, errors) = run(&options, 2);
    assert_eq!(
        counts(&stats),
        [
            ("runaway_condition", 0, 0, 2),
            ("runaway_function", 0, 0, 2),
            ("fine", 2, 0, 0),
        ]
    );
    assert_eq!(errors.len(), 4);
    for e in &errors {
        assert_eq!(e.kind, ScriptErrorKind::DeadlineExceeded, "{e:?}");
        assert!(
            e.message.contains("script deadline exceeded (2 ms)"),
            "{e:?}"
        );
    }
    assert_eq!(errors[1].origin, "spin");
}
