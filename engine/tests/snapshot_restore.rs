//! Checkpoints (issue 8, item 7): an engine snapshotted after any event, written as JSON, read
//! back and restored into a fresh engine gives exactly the alert updates of an uninterrupted run
//! (kind, id, count, times, samples, the whole document), and ends in the same state. A rule
//! changed between the two runs starts fresh and is reported; a state of another version or a
//! corrupt one is a typed error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8scop_engine::chunk::Chunk;
use k8scop_engine::decode::{Decoder, Dedup, DedupState};
use k8scop_engine::event::Event;
use k8scop_engine::state::Limits;
use k8scop_engine::{CompileOptions, Engine, EngineState, Output, Ruleset, StateError};
use k8scop_grammar::SourceFile;
use serde_json::{json, Value};

const DEDUP_CAPACITY: usize = 100_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn compiled(result: k8scop_engine::Compiled) -> Arc<Ruleset> {
    let errors: Vec<_> = result.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    Arc::new(result.ruleset.expect("no errors"))
}

fn shipped_ruleset() -> Arc<Ruleset> {
    compiled(
        k8scop_engine::loader::load(&[root().join("rules")], &CompileOptions::default())
            .expect("rules/ is readable"),
    )
}

fn ruleset(text: &str) -> Arc<Ruleset> {
    compiled(k8scop_engine::loader::load_sources(
        vec![SourceFile::new("t.rules", text)],
        &CompileOptions::default(),
    ))
}

/// Everything a sink would see, in order: each alert update's kind and document (id, count,
/// first and last seen, samples, title, group, fields, context), and each runtime error.
#[derive(Debug, Default, PartialEq)]
struct Trace {
    updates: Vec<Value>,
    errors: Vec<String>,
    duplicates: usize,
}

impl Trace {
    fn take(&mut self, out: &mut Output) {
        for update in out.alerts.drain(..) {
            self.updates.push(json!({
                "kind": format!("{:?}", update.kind),
                "doc": update.alert.to_json(),
            }));
        }
        for e in out.errors.drain(..) {
            self.errors.push(format!(
                "{} {} {} {}",
                e.rule, e.event_id, e.origin, e.message
            ));
        }
    }
}

/// The engine task of the runtime: deduplication, then evaluation.
struct Runner {
    engine: Engine,
    dedup: Dedup,
    dedup_capacity: usize,
}

impl Runner {
    fn new(ruleset: &Arc<Ruleset>, limits: Limits, dedup_capacity: usize) -> Runner {
        Runner {
            engine: Engine::with_limits(Arc::clone(ruleset), limits),
            dedup: Dedup::new(dedup_capacity),
            dedup_capacity,
        }
    }

    fn feed(&mut self, events: &[Event], trace: &mut Trace) {
        let mut out = Output::default();
        for event in events {
            if self.dedup.is_duplicate(event) {
                trace.duplicates += 1;
                continue;
            }
            self.engine.process(event, &mut out);
            trace.take(&mut out);
        }
    }

    /// A checkpoint and a restart: the state goes through JSON text, as to the state index.
    fn restart(self, ruleset: &Arc<Ruleset>, limits: Limits) -> Runner {
        let engine_json = serde_json::to_string(&self.engine.snapshot()).expect("serializes");
        let dedup_json = serde_json::to_string(&self.dedup.snapshot()).expect("serializes");
        let capacity = self.dedup_capacity;
        drop(self);
        let state = EngineState::from_json(&engine_json).expect("reads back");
        let (engine, report) =
            Engine::restore_with_limits(Arc::clone(ruleset), limits, state).expect("restores");
        assert!(
            report.changed.is_empty() && report.removed.is_empty() && report.added.is_empty(),
            "{report:?}"
        );
        assert_eq!(
            report.kept.len(),
            ruleset.rules.len() + ruleset.sequences.len()
        );
        let dedup_state = DedupState::from_json(&dedup_json).expect("reads back");
        let dedup = Dedup::restore(capacity, dedup_state).expect("restores");
        Runner {
            engine,
            dedup,
            dedup_capacity: capacity,
        }
    }

    /// What must be equal at the end: the state, the counters and the open alerts.
    fn end(&self) -> Value {
        json!({
            "state": serde_json::to_value(self.engine.snapshot()).expect("serializes"),
            "dedup": serde_json::to_value(self.dedup.snapshot()).expect("serializes"),
            "stats": self.engine.stats().iter()
                .map(|(d, s)| (d.name.to_string(), serde_json::to_value(s).expect("serializes")))
                .collect::<serde_json::Map<String, Value>>(),
            "open": self.engine.open_alerts().iter().map(|a| a.to_json()).collect::<Vec<_>>(),
        })
    }
}

/// Checks that restarting after event `k` changes nothing, for every `k` in `splits`; returns
/// the uninterrupted run's trace and end.
fn check_splits(
    ruleset: &Arc<Ruleset>,
    limits: Limits,
    dedup_capacity: usize,
    events: &[Event],
    splits: impl Iterator<Item = usize>,
) -> (Trace, Value) {
    let mut whole = Trace::default();
    let mut runner = Runner::new(ruleset, limits, dedup_capacity);
    runner.feed(events, &mut whole);
    let whole_end = runner.end();
    let mut checked = 0;
    for k in splits {
        let mut trace = Trace::default();
        let mut runner = Runner::new(ruleset, limits, dedup_capacity);
        runner.feed(&events[..k], &mut trace);
        let mut runner = runner.restart(ruleset, limits);
        runner.feed(&events[k..], &mut trace);
        if trace != whole {
            let at = trace
                .updates
                .iter()
                .zip(&whole.updates)
                .position(|(a, b)| a != b)
                .unwrap_or(trace.updates.len().min(whole.updates.len()));
            panic!(
                "restarting after event {k} of {} changes the output: first difference at update \
                 {at}\nrestarted:     {}\nuninterrupted: {}\n(duplicates {} vs {}, errors {} vs {})",
                events.len(),
                trace.updates.get(at).map_or("(none)".into(), Value::to_string),
                whole.updates.get(at).map_or("(none)".into(), Value::to_string),
                trace.duplicates,
                whole.duplicates,
                trace.errors.len(),
                whole.errors.len(),
            );
        }
        let end = runner.end();
        assert!(
            end == whole_end,
            "restarting after event {k}: the end state differs\nrestarted:     {end}\nuninterrupted: {whole_end}"
        );
        checked += 1;
    }
    assert!(checked > 0, "no split point was checked");
    (whole, whole_end)
}

fn decode_file(decoder: &Decoder, path: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let origin: Arc<str> = path.display().to_string().into();
    let chunk = if path.extension().is_some_and(|e| e == "json") {
        Chunk::Whole { origin, text }
    } else {
        Chunk::Lines {
            origin,
            first_line: 1,
            text,
        }
    };
    decoder.decode(&chunk).events
}

/// The shipped samples (rules/samples: the attack demo, Falco's traces, audit2rbac's log), with
/// every fifth event shipped a second time a little later, as a second shipper would.
fn sample_events(ruleset: &Ruleset) -> Vec<Event> {
    let samples = root().join("rules/samples");
    let mut files = vec![samples.join("attack.jsonl")];
    for dir in ["vendor/falco", "vendor/audit2rbac"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(samples.join(dir))
            .expect("rules/samples/vendor is part of the repository")
            .map(|e| e.expect("readable").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "log"))
            .collect();
        found.sort();
        files.extend(found);
    }
    let decoder = Decoder::new(ruleset);
    let decoded: Vec<Event> = files
        .iter()
        .flat_map(|f| decode_file(&decoder, f))
        .collect();
    let mut events = Vec::new();
    for (i, event) in decoded.iter().enumerate() {
        events.push(event.clone());
        if i % 5 == 4 {
            events.push(decoded[i - 2].clone());
        }
    }
    events
}

#[test]
fn the_shipped_ruleset_restarted_after_any_sample_event_gives_the_same_alerts() {
    let ruleset = shipped_ruleset();
    let events = sample_events(&ruleset);
    assert!(events.len() > 150, "only {} sample events", events.len());
    let (whole, _) = check_splits(
        &ruleset,
        Limits::default(),
        DEDUP_CAPACITY,
        &events,
        0..=events.len(),
    );
    // The samples exercise what a checkpoint must carry: alerts opened and updated, several
    // rules, a sequence, threshold rules, and copies recognised as duplicates.
    let kinds = |kind: &str| whole.updates.iter().filter(|u| u["kind"] == kind).count();
    assert!(kinds("New") > 10 && kinds("Updated") > 10, "{whole:?}");
    let rules_alerting: std::collections::BTreeSet<&str> = whole
        .updates
        .iter()
        .filter_map(|u| u["doc"]["k8scop"]["rule"].as_str())
        .collect();
    for expected in ["secrets_then_exec", "secret_enumeration", "pod_exec"] {
        assert!(
            rules_alerting.contains(expected),
            "{expected} never alerted: {rules_alerting:?}"
        );
    }
    assert!(whole.duplicates > 10, "{} duplicates", whole.duplicates);
}

/// Rules with aggregation windows, count, distinct, sum and avg thresholds, sequences of rule steps and of
/// inline steps, in order and in any order, with keys of their own, and an `enabled false` step
/// rule.
const SYNTHETIC: &str = r#"
rule secret_reads {
    title "{user.username} read {count} secrets"
    when objectRef.resource == "secrets" and verb in ["get", "list"]
    threshold count >= 2 within 1m by user.username
    fields [objectRef.namespace, objectRef.name]
    within 2m
}
rule namespaces_listed {
    when verb == "list"
    threshold distinct objectRef.namespace >= 2 within 1m by user.username
    within 1m
}
rule replicas_asked {
    when verb in ["create", "patch"]
    threshold sum requestObject.spec.replicas >= 6 within 2m by user.username
}
rule replicas_on_average {
    when verb in ["create", "patch"]
    threshold avg requestObject.spec.replicas > 4 within 2m by objectRef.namespace
}
rule deletes {
    title "{user.username} deleted {objectRef.resource}"
    when verb == "delete"
    within 5m
}
rule execs {
    when objectRef.subresource == "exec"
    group by user.username, objectRef.namespace
    fields [objectRef.name]
    within 1m
}
rule patches {
    enabled false
    when verb == "patch"
}
sequence read_then_exec {
    by user.username
    within 5m
    steps secret_reads -> execs
}
sequence create_patch_delete {
    by user.username
    within 5m
    steps { verb == "create" } -> patches -> deletes
}
sequence create_then_exec_in_namespace {
    within 2m
    steps { verb == "create" and objectRef.resource != "pods" } by objectRef.namespace -> execs by [objectRef.namespace]
}
sequence two_of_exec_delete_create {
    by user.username
    within 2m
    steps 2 of execs, deletes, { verb == "create" }
}
"#;

/// A deterministic stream: five users, most events a few seconds apart, some late (up to three
/// minutes back), some after a gap (windows expire, eviction runs), copies of earlier events and
/// events without an `auditID`.
fn synthetic_events(n: usize) -> Vec<Event> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let users = ["alice", "bob", "carol", "dave", "eve"];
    let verbs = ["get", "list", "delete", "create", "patch", "get", "list"];
    let resources = ["secrets", "pods", "configmaps"];
    let namespaces = ["a", "b", "c", "d"];
    let base: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z
    let mut now = base;
    let mut docs: Vec<Value> = Vec::new();
    for i in 0..n {
        let time = match next(40) {
            // A gap: windows expire and eviction runs.
            0 => {
                now += 5 * 60_000;
                now
            }
            // A late event, up to three minutes behind the newest.
            1..=3 => now - next(180_000) as i64,
            _ => {
                now += next(20_000) as i64;
                now
            }
        };
        if next(12) == 0 && !docs.is_empty() {
            // A copy of an earlier event, shipped again.
            let copy = docs[next(docs.len() as u64) as usize].clone();
            docs.push(copy);
            continue;
        }
        let exec = next(6) == 0;
        let stamp = chrono::DateTime::from_timestamp_millis(time)
            .expect("in range")
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let mut doc = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": format!("ev-{i}"),
            "stage": "ResponseComplete",
            "requestURI": format!("/api/v1/x/{i}"),
            "verb": if exec { "create" } else { verbs[next(verbs.len() as u64) as usize] },
            "user": {"username": users[next(users.len() as u64) as usize]},
            "objectRef": {
                "resource": if exec { "pods" } else { resources[next(3) as usize] },
                "namespace": namespaces[next(4) as usize],
                "name": format!("obj-{}", next(5)),
            },
            "requestReceivedTimestamp": stamp,
            "stageTimestamp": stamp,
        });
        if exec {
            doc["objectRef"]["subresource"] = json!("exec");
        }
        // Numbers for the sums and means, some written as strings; none in every fourth event.
        match i % 4 {
            0 => {}
            1 => doc["requestObject"] = json!({"spec": {"replicas": (i % 7).to_string()}}),
            _ => doc["requestObject"] = json!({"spec": {"replicas": i % 7}}),
        }
        if next(25) == 0 {
            doc.as_object_mut().expect("object").remove("auditID");
        }
        docs.push(doc);
    }
    docs.iter()
        .enumerate()
        .map(|(i, doc)| {
            Event::classify(doc.clone(), &format!("synthetic:{}", i + 1)).expect("an event")
        })
        .collect()
}

/// A counter of `name` at the end of a run.
fn stat(end: &Value, name: &str, counter: &str) -> u64 {
    let stats = &end["stats"][name];
    let value = match counter {
        "keys_dropped" | "partials_dropped" | "values_dropped" => &stats["overflow"][counter],
        _ => &stats[counter],
    };
    value
        .as_u64()
        .unwrap_or_else(|| panic!("no {counter} for {name}: {stats}"))
}

#[test]
fn windows_thresholds_and_sequences_restarted_after_any_event_give_the_same_alerts() {
    let ruleset = ruleset(SYNTHETIC);
    let events = synthetic_events(300);
    let (whole, end) = check_splits(&ruleset, Limits::default(), 64, &events, 0..=events.len());
    // Every rule and sequence did its part, so the splits carried real state.
    for name in [
        "secret_reads",
        "namespaces_listed",
        "replicas_asked",
        "replicas_on_average",
        "deletes",
        "execs",
        "read_then_exec",
        "create_patch_delete",
        "create_then_exec_in_namespace",
        "two_of_exec_delete_create",
    ] {
        assert!(
            whole
                .updates
                .iter()
                .filter(|u| u["doc"]["k8scop"]["rule"] == name)
                .count()
                > 1,
            "{name} alerted at most once: {}",
            end["stats"][name]
        );
    }
    assert!(whole.duplicates > 5, "{} duplicates", whole.duplicates);
}

#[test]
fn state_capped_by_the_limits_is_restored_exactly_too() {
    // Tiny limits: keys, partial matches and samples are dropped all the time, and the
    // deduplication window forgets quickly.
    let limits = Limits {
        max_keys: 2,
        max_partials_per_key: 2,
        max_samples: 2,
        max_values_per_key: 3,
    };
    let ruleset = ruleset(SYNTHETIC);
    let events = synthetic_events(300);
    let (_, end) = check_splits(&ruleset, limits, 5, &events, 0..=events.len());
    for name in [
        "secret_reads",
        "deletes",
        "execs",
        "create_patch_delete",
        "two_of_exec_delete_create",
    ] {
        assert!(
            stat(&end, name, "keys_dropped") > 0,
            "the key cap never bit for {name}: {}",
            end["stats"][name]
        );
    }
    assert!(
        stat(&end, "create_patch_delete", "partials_dropped") > 0,
        "the partial-match cap never bit: {}",
        end["stats"]["create_patch_delete"]
    );
    assert!(
        stat(&end, "replicas_on_average", "values_dropped") > 0,
        "the cap on numbers never bit: {}",
        end["stats"]["replicas_on_average"]
    );
}

/// The first update of `rule` at or after update `from`.
fn first_update<'a>(trace: &'a Trace, rule: &str, from: usize) -> Option<&'a Value> {
    trace.updates[from..]
        .iter()
        .find(|u| u["doc"]["k8scop"]["rule"] == rule)
}

#[test]
fn a_rule_changed_between_runs_starts_fresh_and_the_others_keep_their_state() {
    let before = ruleset(SYNTHETIC);
    let after_text = SYNTHETIC
        .replace(
            r#"when verb == "delete""#,
            r#"when verb in ["delete", "deletecollection"]"#,
        )
        .replace("rule namespaces_listed {", "rule namespaces_listed_v2 {");
    let after = ruleset(&after_text);
    let events = synthetic_events(400);

    let mut whole = Trace::default();
    let mut uninterrupted = Runner::new(&before, Limits::default(), 64);
    uninterrupted.feed(&events, &mut whole);
    let whole_end = uninterrupted.end();

    // Look for a split where `deletes` has an open alert that the next delete updates.
    let mut checked = false;
    for k in (50..events.len()).step_by(7) {
        let mut trace = Trace::default();
        let mut runner = Runner::new(&before, Limits::default(), 64);
        runner.feed(&events[..k], &mut trace);
        let split_at_update = trace.updates.len();
        let state = EngineState::from_json(
            &serde_json::to_string(&runner.engine.snapshot()).expect("serializes"),
        )
        .expect("reads back");
        let (engine, report) = Engine::restore(Arc::clone(&after), state).expect("restores");

        let kept: Vec<&str> = report.kept.iter().map(|k| &**k).collect();
        assert_eq!(
            kept,
            [
                "secret_reads",
                "replicas_asked",
                "replicas_on_average",
                "execs",
                "patches",
                "read_then_exec",
                "create_then_exec_in_namespace"
            ]
        );
        let changed: Vec<&str> = report.changed.iter().map(|c| c.name.as_str()).collect();
        // The sequences use `deletes` as a step: they changed too.
        assert_eq!(
            changed,
            [
                "deletes",
                "create_patch_delete",
                "two_of_exec_delete_create"
            ]
        );
        let removed: Vec<&str> = report.removed.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(removed, ["namespaces_listed"]);
        let added: Vec<&str> = report.added.iter().map(|a| &**a).collect();
        assert_eq!(added, ["namespaces_listed_v2"]);

        let next_delete = first_update(&whole, "deletes", split_at_update);
        let updates_open_alert = next_delete.is_some_and(|u| u["kind"] == "Updated");
        if !updates_open_alert {
            continue;
        }
        assert!(report.changed[0].open_alerts > 0, "{report:?}");
        let next_delete = next_delete.expect("checked");

        let mut runner = Runner {
            engine,
            dedup: runner.dedup,
            dedup_capacity: 64,
        };
        runner.feed(&events[k..], &mut trace);
        // The changed rule lost its open alert: its next match opens a new one.
        let restarted =
            first_update(&trace, "deletes", split_at_update).expect("deletes alerts again");
        assert_eq!(restarted["kind"], "New", "{restarted}");
        assert_eq!(restarted["doc"]["k8scop"]["count"], 1);
        assert_ne!(
            restarted["doc"]["k8scop"]["id"],
            next_delete["doc"]["k8scop"]["id"]
        );
        // Its counters went on: no event is a `deletecollection`, so it matched the same events.
        let end = runner.end();
        assert_eq!(
            stat(&end, "deletes", "matches"),
            stat(&whole_end, "deletes", "matches")
        );
        // The unchanged rules and the sequence built on them go on exactly as before.
        for rule in ["secret_reads", "execs", "read_then_exec"] {
            let of = |t: &Trace| -> Vec<Value> {
                t.updates
                    .iter()
                    .filter(|u| u["doc"]["k8scop"]["rule"] == rule)
                    .cloned()
                    .collect()
            };
            assert_eq!(
                of(&trace),
                of(&whole),
                "{rule} after restarting at event {k}"
            );
        }
        checked = true;
        break;
    }
    assert!(
        checked,
        "no split point had an open `deletes` alert updated after it"
    );
}

fn saved_state() -> String {
    let ruleset = ruleset(SYNTHETIC);
    let mut runner = Runner::new(&ruleset, Limits::default(), 64);
    runner.feed(&synthetic_events(200), &mut Trace::default());
    serde_json::to_string(&runner.engine.snapshot()).expect("serializes")
}

#[test]
fn the_state_is_versioned_json() {
    let text = saved_state();
    assert!(text.starts_with(r#"{"version":1,"#), "{}", &text[..40]);
    let value: Value = serde_json::from_str(&text).expect("JSON");
    // Fingerprints are hex strings, not numbers beyond what a double holds.
    let fingerprint = &value["detections"][0]["fingerprint"];
    assert!(
        fingerprint.as_str().is_some_and(|f| f.len() == 16),
        "{fingerprint}"
    );
    // Reading back and writing again gives the same text.
    let again =
        serde_json::to_string(&EngineState::from_json(&text).expect("reads")).expect("writes");
    assert_eq!(again, text);
    let from_value = EngineState::from_value(value).expect("reads");
    assert_eq!(serde_json::to_string(&from_value).expect("writes"), text);
}

#[test]
fn a_state_of_another_version_is_a_typed_error() {
    let text = saved_state().replacen(r#"{"version":1,"#, r#"{"version":2,"#, 1);
    let err = EngineState::from_json(&text).expect_err("version 2");
    assert!(
        matches!(
            err,
            StateError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the saved engine state has version 2, and this k8scop reads version 1"
    );
    // A future version may change everything else too: the version is still what is reported.
    let err = EngineState::from_json(r#"{"version": 7, "detections": "elsewhere"}"#)
        .expect_err("version 7");
    assert!(
        matches!(err, StateError::UnsupportedVersion { found: 7, .. }),
        "{err:?}"
    );
    let err = EngineState::from_value(json!({"version": 3})).expect_err("version 3");
    assert!(
        matches!(err, StateError::UnsupportedVersion { found: 3, .. }),
        "{err:?}"
    );
    // A state deserialized some other way is checked again on restore.
    let state: EngineState = serde_json::from_str(&text).expect("the layout of version 1");
    let Err(err) = Engine::restore(ruleset(SYNTHETIC), state) else {
        panic!("a state of version 2 was restored");
    };
    assert!(
        matches!(err, StateError::UnsupportedVersion { found: 2, .. }),
        "{err:?}"
    );
    let help = miette::Diagnostic::help(&err).expect("help").to_string();
    assert!(help.contains("delete the saved state"), "{help}");
}

#[test]
fn a_corrupt_state_is_a_typed_error_that_says_what_is_wrong() {
    let text = saved_state();
    let corrupt = |result: Result<EngineState, StateError>| -> String {
        match result {
            Err(StateError::Corrupt { what, message }) => {
                assert_eq!(what, "engine state");
                message
            }
            other => panic!("not reported as corrupt: {other:?}"),
        }
    };
    // Cut short, as a partial write would leave it.
    let message = corrupt(EngineState::from_json(&text[..text.len() / 2]));
    assert!(message.contains("EOF while parsing"), "{message}");
    assert!(message.contains("line 1 column"), "{message}");
    // Not JSON at all, no version, a version that is not a number.
    corrupt(EngineState::from_json("not json"));
    let message = corrupt(EngineState::from_json(r#"{"detections": []}"#));
    assert_eq!(message, "it has no `version`");
    let message = corrupt(EngineState::from_json(r#"{"version": "1"}"#));
    assert_eq!(message, "its `version` is `\"1\"`, not a number");
    corrupt(EngineState::from_value(json!([1])));
    // A field of the wrong type.
    let message = corrupt(EngineState::from_json(&text.replacen(
        r#""since_evict":"#,
        r#""since_evict":"many","ignored":"#,
        1,
    )));
    assert!(message.contains("invalid type"), "{message}");

    // Well-formed JSON that breaks the state's invariants: restore says which rule and what.
    let restore_err = |value: Value| -> String {
        let state = EngineState::from_value(value).expect("well-formed");
        match Engine::restore(ruleset(SYNTHETIC), state) {
            Err(StateError::Corrupt { message, .. }) => message,
            other => panic!("not reported as corrupt: {:?}", other.map(|(_, r)| r)),
        }
    };
    let mut value: Value = serde_json::from_str(&text).expect("JSON");
    let detections = value["detections"].as_array_mut().expect("detections");
    let sequence = detections
        .iter_mut()
        .find(|d| {
            d["sequence"]["keys"]["entries"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        })
        .expect("a sequence with partial matches");
    let name = sequence["name"].as_str().expect("name").to_owned();
    sequence["sequence"]["keys"]["entries"][0]["value"][0]["next_step"] = json!(9);
    let message = restore_err(value);
    assert!(
        message.starts_with(&format!("the state of `{name}`: ")),
        "{message}"
    );
    assert!(message.contains("waits for step 10"), "{message}");

    let mut value: Value = serde_json::from_str(&text).expect("JSON");
    value["detections"][0]["fingerprint"] = json!("xyz");
    let message = restore_err(value);
    assert!(message.contains("is not 16 hex digits"), "{message}");

    let mut value: Value = serde_json::from_str(&text).expect("JSON");
    let first = value["detections"][0].clone();
    value["detections"]
        .as_array_mut()
        .expect("detections")
        .push(first);
    let message = restore_err(value);
    assert!(message.contains("is saved twice"), "{message}");
}

#[test]
fn the_deduplication_window_is_restored_with_its_keys() {
    let events: Vec<Event> = synthetic_events(60)
        .into_iter()
        .filter(|e| e.dedup_key.is_some())
        .collect();
    let mut dedup = Dedup::new(10);
    for event in &events[..30] {
        dedup.is_duplicate(event);
    }
    let text = serde_json::to_string(&dedup.snapshot()).expect("serializes");
    assert!(text.starts_with(r#"{"version":1,"#), "{text}");
    let state = DedupState::from_json(&text).expect("reads back");
    assert_eq!(state.len(), 10);
    let mut same = Dedup::restore(10, state.clone()).expect("restores");
    for event in &events {
        assert_eq!(
            same.is_duplicate(event),
            dedup.is_duplicate(event),
            "{}",
            event.id
        );
    }
    // A smaller window keeps the newest keys.
    let restored = Dedup::restore(4, state).expect("restores");
    assert_eq!(restored.len(), 4);
    let keys = |d: &Dedup| -> String {
        serde_json::to_value(d.snapshot()).expect("serializes")["keys"]
            .as_str()
            .expect("keys")
            .to_owned()
    };
    let saved: Value = serde_json::from_str(&text).expect("JSON");
    let saved_keys = saved["keys"].as_str().expect("keys");
    assert_eq!(keys(&restored), saved_keys[saved_keys.len() - 4 * 16..]);

    let bad = |text: &str| DedupState::from_json(text).and_then(|s| Dedup::restore(10, s));
    let err = bad(r#"{"version":2,"hash_key":"","keys":""}"#).expect_err("version 2");
    assert_eq!(
        err.to_string(),
        "the saved deduplication state has version 2, and this k8scop reads version 1"
    );
    let err = bad(r#"{"version":1,"hash_key":"00","keys":""}"#).expect_err("short key");
    assert!(
        err.to_string().contains("`hash_key` is not 32 hex digits"),
        "{err}"
    );
    let key = "0123456789abcdef0123456789abcdef";
    let err = bad(&format!(
        r#"{{"version":1,"hash_key":"{key}","keys":"0123"}}"#
    ))
    .expect_err("keys");
    assert!(err.to_string().contains("not a multiple of 16"), "{err}");
    let err = bad(&format!(
        r#"{{"version":1,"hash_key":"{key}","keys":"0123456789abcdeg"}}"#
    ))
    .expect_err("keys");
    assert!(
        err.to_string()
            .contains("key 1 of `keys` is not 16 hex digits"),
        "{err}"
    );
    // This process already hashes with its own key: another one cannot take over.
    let err = bad(&format!(
        r#"{{"version":1,"hash_key":"{key}","keys":"0123456789abcdef"}}"#
    ))
    .expect_err("another key");
    assert!(matches!(err, StateError::DedupKeyInUse), "{err:?}");
    // With no keys to recognise, the key does not matter.
    assert!(bad(&format!(r#"{{"version":1,"hash_key":"{key}","keys":""}}"#)).is_ok());
    // The hash key never shows in debug output.
    let hash_key = saved["hash_key"].as_str().expect("hash_key");
    assert_eq!(hash_key.len(), 32);
    let shown = format!("{:?}", dedup.snapshot());
    assert!(!shown.contains(&hash_key[..8]), "{shown}");
}
