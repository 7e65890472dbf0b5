//! `k8scop test-rule`: test blocks, event reports, JSON output, bad input and exit codes.

use crate::util::{arg, k8scop, k8scop_stdin, rules_dir};

const EXEC_RULES: &str = r#"
macro exec_request = objectRef.subresource in ["exec", "attach"] and verb in ["create", "get"]

rule pod_exec {
    title    "Command execution by {user.username} on {objectRef.namespace}/{objectRef.name}"
    severity high
    when     exec_request and not user.username startswith "system:"
    group by user.username, objectRef.namespace, objectRef.name
    within   10m
}

test "one exec raises one alert" {
    events [
        {"verb": "create", "user": {"username": "alice"}, "requestReceivedTimestamp": "2024-05-01T12:00:00Z",
         "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "web", "name": "api-0"}}
    ]
    expect pod_exec alerts 1
    expect pod_exec matches 1
}
"#;

fn exec_event(user: &str, time: &str, id: &str) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"{id}","stage":"ResponseStarted","verb":"create","user":{{"username":"{user}"}},"objectRef":{{"resource":"pods","subresource":"exec","namespace":"web","name":"api-0"}},"requestReceivedTimestamp":"{time}"}}"#
    )
}

#[test]
fn test_blocks_pass_and_report_json() {
    let dir = rules_dir(&[("exec.rules", EXEC_RULES)]);
    let run = k8scop(&["test-rule", arg(&dir), "--format", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    assert_eq!(doc["tests"][0]["name"], "one exec raises one alert");
    assert_eq!(doc["tests"][0]["passed"], true);
    for key in ["rules", "alerts", "tests", "errors"] {
        assert!(doc.get(key).is_some(), "`{key}` missing from {doc}");
    }
}

#[test]
fn a_failing_test_exits_1_with_expected_and_actual() {
    let broken = EXEC_RULES.replace("expect pod_exec alerts 1", "expect pod_exec alerts 2");
    let dir = rules_dir(&[("exec.rules", &broken)]);
    let run = k8scop(&["test-rule", arg(&dir)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("FAIL  one exec raises one alert"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("- expected 2") && run.stdout.contains("+ actual   1"),
        "{}",
        run.stdout
    );
}

#[test]
fn events_aggregate_into_one_alert_with_a_stable_id() {
    let dir = rules_dir(&[("exec.rules", EXEC_RULES)]);
    let events = [
        exec_event("alice", "2024-05-01T12:00:00Z", "a1"),
        exec_event("alice", "2024-05-01T12:05:00Z", "a2"),
        exec_event("alice", "2024-05-01T12:15:00Z", "a3"),
        // 25 minutes after the last match: a new alert.
        exec_event("alice", "2024-05-01T12:40:00.5Z", "a4"),
        exec_event("system:node:n1", "2024-05-01T12:41:00Z", "a5"),
    ]
    .join("\n");
    let file = dir.join("events.jsonl");
    std::fs::write(&file, &events).unwrap();
    let first = k8scop(&[
        "test-rule",
        arg(&dir),
        "--events",
        arg(&file),
        "--format",
        "json",
    ])
    .json();
    assert_eq!(first["rules"]["pod_exec"]["matches"], 4);
    assert_eq!(first["rules"]["pod_exec"]["alerts"], 2);
    let alerts = first["alerts"].as_array().unwrap();
    assert_eq!(alerts[0]["k8scop"]["count"], 3);
    assert_eq!(
        alerts[0]["message"],
        "Command execution by alice on web/api-0"
    );
    assert_eq!(
        alerts[0]["k8scop"]["first_seen"],
        "2024-05-01T12:00:00.000Z"
    );
    assert_eq!(alerts[0]["k8scop"]["last_seen"], "2024-05-01T12:15:00.000Z");
    assert_eq!(alerts[1]["k8scop"]["count"], 1);
    let second = k8scop(&[
        "test-rule",
        arg(&dir),
        "--events",
        arg(&file),
        "--format",
        "json",
    ])
    .json();
    assert_eq!(
        first["alerts"][0]["k8scop"]["id"],
        second["alerts"][0]["k8scop"]["id"]
    );
    assert_ne!(
        first["alerts"][0]["k8scop"]["id"],
        first["alerts"][1]["k8scop"]["id"]
    );
}

#[test]
fn malformed_lines_and_non_events_are_reported_and_skipped() {
    let dir = rules_dir(&[("exec.rules", EXEC_RULES)]);
    let text = format!(
        "{}\n{{\"verb\": oops}}\n{{\"kind\": 0}}\n{}\n",
        exec_event("alice", "2024-05-01T12:00:00Z", "a1"),
        exec_event("bob", "2024-05-01T12:00:01Z", "b1")
    );
    let run = k8scop_stdin(
        &["test-rule", arg(&dir), "--events", "-", "--format", "json"],
        Some(&text),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(
        doc["rules"]["pod_exec"]["matches"], 2,
        "both good events are evaluated"
    );
    let errors = doc["errors"].to_string();
    assert!(errors.contains("<stdin>:2: malformed JSON"), "{errors}");
    assert!(
        errors.contains("<stdin>:3: not a Kubernetes audit event"),
        "{errors}"
    );
}

#[test]
fn event_lists_and_json_arrays_are_read() {
    let dir = rules_dir(&[("exec.rules", EXEC_RULES)]);
    let list = format!(
        "{{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[{}]}}",
        exec_event("alice", "2024-05-01T12:00:00Z", "x")
    );
    let array = format!(
        "[{}, {}]",
        exec_event("carol", "2024-05-01T12:00:00Z", "y"),
        exec_event("dan", "2024-05-01T12:00:00Z", "z")
    );
    for (text, matches) in [(list, 1), (array, 2)] {
        let run = k8scop_stdin(
            &["test-rule", arg(&dir), "--events", "-", "--format", "json"],
            Some(&text),
        );
        assert_eq!(run.json()["rules"]["pod_exec"]["matches"], matches);
    }
}

#[test]
fn unknown_rule_filter_and_unreadable_events_exit_2() {
    let dir = rules_dir(&[("exec.rules", EXEC_RULES)]);
    let run = k8scop(&["test-rule", arg(&dir), "--rule", "pod_exce"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did you mean `pod_exec`"),
        "{}",
        run.stderr
    );
    let run = k8scop(&["test-rule", arg(&dir), "--events", "no/such/file.jsonl"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no/such/file.jsonl"), "{}", run.stderr);
    let broken = rules_dir(&[("x.rules", "rule r { when verb == }")]);
    assert_eq!(k8scop(&["test-rule", arg(&broken)]).code, 2);
}

#[test]
fn the_readme_demo_runs_and_raises_alerts() {
    let run = k8scop(&[
        "test-rule",
        "rules",
        "--events",
        "rules/samples/attack.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert!(
        doc["alerts"].as_array().is_some_and(|a| !a.is_empty()),
        "{doc}"
    );
    assert_eq!(doc["events"]["malformed"], 0);
}

#[test]
fn the_shipped_tests_pass() {
    let run = k8scop(&["test-rule", "rules"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(" 0 failed"), "{}", run.stdout);
}

/// Every field of real alert documents is mapped by the shipped index template, whose mapping is
/// strict: a field it does not know would make Elasticsearch reject the document.
#[test]
fn the_index_template_maps_every_alert_field() {
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            crate::util::root().join("docs/elasticsearch/alerts-index-template.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mappings = &template["template"]["mappings"];
    assert_eq!(mappings["dynamic"], "strict");
    // Audit events, and the other kinds, whose alerts carry `host`, `process` and `container`.
    let mut alerts = Vec::new();
    for events in [
        "rules/samples/attack.jsonl",
        "rules/samples/vendor/kubearmor/kubearmor_docs_alerts_logs.jsonl",
        "rules/samples/vendor/falco-alerts/single_rule_with_cat_write.json",
        "rules/samples/vendor/sysdig/ping_sendto.default.jsonl",
    ] {
        let doc = k8scop(&["test-rule", "rules", "--events", events, "--format", "json"]).json();
        let found = doc["alerts"].as_array().unwrap().clone();
        assert!(!found.is_empty(), "no alert from {events}");
        alerts.extend(found);
    }
    for field in ["host", "process", "container"] {
        assert!(
            alerts.iter().any(|a| a.get(field).is_some()),
            "no alert has `{field}`"
        );
    }
    fn check(value: &serde_json::Value, mapping: &serde_json::Value, path: &str) {
        let serde_json::Value::Object(fields) = value else {
            return;
        };
        for (key, child) in fields {
            let here = format!("{path}{key}");
            let m = &mapping["properties"][key];
            assert!(!m.is_null(), "`{here}` is not in the index template");
            // Flattened fields take any object; objects recurse.
            if m["type"] != "flattened" && child.is_object() {
                check(child, m, &format!("{here}."));
            }
        }
    }
    for alert in &alerts {
        check(alert, mappings, "");
    }
}

/// Issue 7: an Elastic Agent (ECS) line shipped twice gave `run` one alert and one duplicate, but
/// `test-rule` no event at all and `verb` "absent". Both now read through the same decoder.
#[test]
fn an_elastic_agent_line_shipped_twice_is_one_event_and_one_duplicate() {
    let dir = rules_dir(&[("exec.rules", EXEC_RULES)]);
    let ecs = r#"{"@timestamp":"2024-05-01T12:00:09Z","kubernetes":{"audit":{"auditID":"e1","stage":"ResponseComplete","verb":"create","user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec","namespace":"web","name":"api-0"},"requestURI":"/api/v1/namespaces/web/pods/api-0/exec","requestReceivedTimestamp":"2024-05-01T12:00:00.000001Z","stageTimestamp":"2024-05-01T12:00:00.000002Z"}},"user":{"name":"alice"}}"#;
    let file = dir.join("ecs.jsonl");
    std::fs::write(&file, format!("{ecs}\n{ecs}\n")).unwrap();
    let doc = k8scop(&[
        "test-rule",
        arg(&dir),
        "--events",
        arg(&file),
        "--format",
        "json",
    ])
    .json();
    assert_eq!(
        doc["events"],
        serde_json::json!({"evaluated": 1, "malformed": 0, "skipped": 0, "duplicates": 1})
    );
    assert_eq!(
        doc["duplicate_events"],
        serde_json::json!(["e1/ResponseComplete"])
    );
    assert_eq!(doc["rules"]["pod_exec"]["alerts"], 1);
    assert_eq!(doc["never_matched"], serde_json::json!([]));
    let absent = doc["fields_never_present"].to_string();
    assert!(!absent.contains("verb"), "{absent}");

    let human = k8scop(&["test-rule", arg(&dir), "--events", arg(&file)]);
    assert!(
        human.stdout.starts_with("1 event evaluated in ")
            && human
                .stdout
                .contains("; 0 malformed, 0 skipped, 1 duplicate\n"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("duplicates dropped (1):\n  e1/ResponseComplete\n"),
        "{}",
        human.stdout
    );

    let run = k8scop(&[
        "run",
        "--rules",
        arg(&dir),
        "--source",
        arg(&file),
        "--output",
        "json",
        "--quiet",
    ]);
    assert!(
        run.stderr.contains("summary: 1 event in ")
            && run
                .stderr
                .contains("; 0 malformed, 0 skipped, 1 duplicate, "),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
}

/// A test block drops duplicates as `run` does, and a failing test says which events it dropped;
/// a shipper's shape in a test block is unwrapped as `run` unwraps it.
#[test]
fn test_blocks_see_shapes_and_drop_duplicates_as_run_does() {
    let event = r#"{"verb": "create", "auditID": "d1", "stage": "ResponseComplete", "user": {"username": "alice"}, "requestReceivedTimestamp": "2024-05-01T12:00:00Z", "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "web", "name": "api-0"}}"#;
    let fluent_bit = r#"{"@timestamp": "2024-05-01T12:01:00Z", "log": "{\"verb\": \"create\", \"auditID\": \"f1\", \"user\": {\"username\": \"bob\"}, \"requestReceivedTimestamp\": \"2024-05-01T12:00:30Z\", \"objectRef\": {\"resource\": \"pods\", \"subresource\": \"exec\", \"namespace\": \"web\", \"name\": \"api-0\"}}"}"#;
    let rules = format!(
        "{EXEC_RULES}\ntest \"the same event three times is one match\" {{\n    events [\n        {event},\n        {event},\n        {event},\n        {fluent_bit}\n    ]\n    expect pod_exec matches 3\n}}\n"
    );
    let dir = rules_dir(&[("exec.rules", &rules)]);
    let run = k8scop(&["test-rule", arg(&dir)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("+ actual   2")
            && run.stdout.contains(
                "2 duplicate events dropped, as `run` drops them: d1/ResponseComplete, d1/ResponseComplete"
            ),
        "{}",
        run.stdout
    );
    let doc = k8scop(&["test-rule", arg(&dir), "--format", "json"]).json();
    let test = &doc["tests"][1];
    assert_eq!(
        test["duplicates"],
        serde_json::json!(["d1/ResponseComplete", "d1/ResponseComplete"])
    );
    assert_eq!(test["checks"][0]["actual"], 2, "{test}");
}
