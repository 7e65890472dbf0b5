//! `k8scop import sigma` on SigmaHQ's Kubernetes audit rules (read from ../shared/data, never
//! copied: DRL 1.1), then `check` and `test-rule` on what it wrote.

use std::path::Path;

use crate::util::{arg, k8scop, k8scop_stdin, rules_dir, shared_data};

/// Imports the 16 SigmaHQ rules into a fresh directory.
fn import_sigmahq() -> Option<std::path::PathBuf> {
    let data = shared_data()?;
    let out = rules_dir(&[]);
    let run = k8scop(&[
        "import",
        "sigma",
        arg(&data.join("sigma-k8s")),
        "--out",
        arg(&out),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let rules = report["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 16, "{report:#}");
    for r in rules {
        assert!(r["imported"].is_array(), "not imported: {r}");
    }
    assert_eq!(report["files"].as_array().map(Vec::len), Some(16));
    Some(out)
}

#[test]
fn every_sigmahq_kubernetes_rule_imports_and_keeps_its_author() {
    let Some(out) = import_sigmahq() else { return };
    let text = std::fs::read_to_string(out.join("kubernetes_audit_exec_into_container.rules"))
        .expect("one file per Sigma file");
    for expected in [
        "rule kubernetes_audit_exec_into_container {",
        r#"author      "Leo Tsaousis (@laripping)""#,
        r#"tags        ["sigma:a1b0ca4e-7835-413e-8471-3ff2b8a66be6", "mitre:T1609", "attack:execution"]"#,
        "severity    medium",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn check_names_the_imported_rules_that_can_never_match_and_what_to_write() {
    let Some(out) = import_sigmahq() else { return };
    let run = k8scop(&["check", arg(&out), "--format", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(report["rules"], 16);
    let warnings: Vec<(String, String, String)> = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["file"]
                    .as_str()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_owned(),
                d["message"].as_str().unwrap_or("").to_owned(),
                d["help"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let has = |file: &str, message: &str, help: &str| {
        warnings
            .iter()
            .any(|(f, m, h)| f == file && m.contains(message) && h.contains(help))
    };
    // SigmaHQ's rules use fields that no audit event has, and compare a number with a word.
    assert!(
        has(
            "kubernetes_audit_hostpath_mount.rules",
            "`hostPath`",
            "requestObject.spec.volumes.hostPath"
        ),
        "{warnings:#?}"
    );
    assert!(
        has(
            "kubernetes_audit_privileged_pod_creation.rules",
            "`capabilities`",
            "requestObject.spec.containers.securityContext.capabilities"
        ),
        "{warnings:#?}"
    );
    assert!(
        has(
            "kubernetes_audit_rbac_permisions_listing.rules",
            "`apiGroup`",
            "objectRef.apiGroup"
        ),
        "{warnings:#?}"
    );
    assert!(
        has(
            "kubernetes_audit_sidecar_injection.rules",
            "`apiGroup`",
            "objectRef.apiGroup"
        ),
        "{warnings:#?}"
    );
    assert!(
        has(
            "kubernetes_audit_potential_enumeration_activity.rules",
            "`responseStatus.code` is an integer; `matches` reads strings",
            "compare with a number"
        ),
        "{warnings:#?}"
    );
    // Each of the five is named as a rule that can never match; no other rule is, and the
    // eleven others get no warning at all.
    let never: Vec<&str> = warnings
        .iter()
        .filter(|(_, m, _)| m.contains("can never match"))
        .map(|(f, _, _)| f.trim_end_matches(".rules"))
        .collect();
    assert_eq!(
        never,
        [
            "kubernetes_audit_hostpath_mount",
            "kubernetes_audit_potential_enumeration_activity",
            "kubernetes_audit_privileged_pod_creation",
            "kubernetes_audit_rbac_permisions_listing",
            "kubernetes_audit_sidecar_injection",
        ],
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .all(|(f, _, _)| never.contains(&f.trim_end_matches(".rules"))),
        "{warnings:#?}"
    );
}

#[test]
fn imported_rules_detect_what_the_sigma_rules_describe() {
    let Some(out) = import_sigmahq() else { return };
    let events = [
        // kubectl exec: matches the exec rule, whatever the case of the verb.
        r#"{"verb":"CREATE","objectRef":{"resource":"pods","subresource":"exec","namespace":"web","name":"api-0"},"user":{"username":"alice"},"requestReceivedTimestamp":"2024-05-01T12:00:00Z"}"#,
        // A denied request: the unauthorized rule.
        r#"{"verb":"get","objectRef":{"resource":"secrets","namespace":"web"},"responseStatus":{"code":403},"user":{"username":"bob"},"requestReceivedTimestamp":"2024-05-01T12:00:01Z"}"#,
        // A rolebinding update: the rolebinding rule, and the apiGroup must match.
        r#"{"verb":"update","objectRef":{"resource":"rolebindings","apiGroup":"rbac.authorization.k8s.io","namespace":"web"},"user":{"username":"carol"},"requestReceivedTimestamp":"2024-05-01T12:00:02Z"}"#,
        r#"{"verb":"update","objectRef":{"resource":"rolebindings","apiGroup":"example.com","namespace":"web"},"user":{"username":"carol"},"requestReceivedTimestamp":"2024-05-01T12:00:03Z"}"#,
    ]
    .join("\n");
    let report = test_rule_report(&out, &events);
    let matches = |rule: &str| {
        report["rules"][rule]["matches"]
            .as_u64()
            .unwrap_or(u64::MAX)
    };
    assert_eq!(matches("kubernetes_audit_exec_into_container"), 1);
    assert_eq!(
        matches("kubernetes_audit_unauthorized_unauthenticated_actions"),
        1
    );
    assert_eq!(matches("kubernetes_audit_rolebinding_modification"), 1);
    assert_eq!(matches("kubernetes_audit_secrets_enumeration"), 0);
    // Every alert names the Sigma rule's author.
    let alerts = report["alerts"].as_array().expect("alerts");
    assert!(!alerts.is_empty());
    for a in alerts {
        assert!(
            a["rule"]["author"][0]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{a:#}"
        );
    }
}

#[test]
fn bad_input_is_named_with_its_place() {
    let dir = rules_dir(&[
        ("broken.yml", "title: x\ndetection: [\n"),
        (
            "other.yml",
            "title: Windows\nlogsource: {product: windows}\ndetection: {sel: {a: b}, condition: sel}\n",
        ),
    ]);
    let out = dir.join("out");
    let run = k8scop(&["import", "sigma", arg(&dir), "--out", arg(&out)]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("broken.yml:") && run.stderr.contains("not valid YAML"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("other.yml:1 \"Windows\": the log source"),
        "{}",
        run.stdout
    );

    let run = k8scop(&["import", "sigma", "no/such/file.yml", "--out", arg(&out)]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("`no/such/file.yml`: no such file or directory"),
        "{}",
        run.stderr
    );
}

/// A Sigma rule and a correlation on it, each by its own author.
const CORRELATED: &str = r#"
title: Secret read
name: secret_read
author: Reader Author
logsource: {product: kubernetes, service: audit}
detection:
    selection: {verb: [get, list], objectRef.resource: secrets}
    condition: selection
---
title: Many secret reads
name: many_reads
author: Count Author
correlation:
    type: event_count
    rules: secret_read
    group-by: [user.username]
    timespan: 1m
    condition: {gte: 3}
level: high
"#;

#[test]
fn an_imported_correlation_alerts_with_the_authors_of_the_rules_it_uses() {
    let dir = rules_dir(&[("reads.yml", CORRELATED)]);
    let out = dir.join("out");
    let run = k8scop(&["import", "sigma", arg(&dir), "--out", arg(&out)]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // alice reads three secrets within a minute, bob two: the Sigma rule fires for alice.
    let read = |user: &str, secs: u32| {
        format!(
            r#"{{"verb":"get","objectRef":{{"resource":"secrets","namespace":"web","name":"s{secs}"}},"user":{{"username":"{user}"}},"requestReceivedTimestamp":"2024-05-01T12:00:{secs:02}Z"}}"#
        )
    };
    let events = [
        read("alice", 0),
        read("bob", 1),
        read("alice", 30),
        read("bob", 40),
        read("alice", 59),
    ]
    .join("\n");
    let report = test_rule_report(&out, &events);
    let alerts = report["alerts"].as_array().expect("alerts");
    // `generate: false`: the read rule raises no alerts of its own, so the correlation's alert
    // is the only one, and it names both authors (DRL 1.1).
    assert_eq!(alerts.len(), 1, "{report:#}");
    let alert = &alerts[0];
    assert_eq!(alert["rule"]["name"], "many_reads", "{alert:#}");
    assert_eq!(alert["user"]["name"], "alice", "{alert:#}");
    assert_eq!(
        alert["rule"]["author"],
        serde_json::json!(["Count Author, Reader Author"]),
        "{alert:#}"
    );
}

/// `k8scop test-rule RULES --events - --format json` with `events` on standard input, which must
/// succeed: its report.
fn test_rule_report(rules: &Path, events: &str) -> serde_json::Value {
    let run = k8scop_stdin(
        &["test-rule", arg(rules), "--events", "-", "--format", "json"],
        Some(events),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.json()
}
