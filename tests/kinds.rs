//! Event kinds through the binary: `k8scop run` with the shipped rules over the real KubeArmor,
//! Falco and sysdig samples of ../shared/data gives the expected alerts, and `k8scop check`
//! warns on a misspelt field of every kind with the right suggestion.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::util::{arg, k8scop, rules_dir, shared_data};

/// The last state of each alert of a `run --output json`, counted by rule.
fn alerts_by_rule(stdout: &str) -> (BTreeMap<String, usize>, BTreeMap<String, Value>) {
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let doc: Value = serde_json::from_str(line).expect("an alert document per line");
        let id = doc["k8scop"]["id"].as_str().expect("k8scop.id").to_owned();
        last.insert(id, doc);
    }
    let mut counts = BTreeMap::new();
    for doc in last.values() {
        let rule = doc["rule"]["name"].as_str().expect("rule.name").to_owned();
        *counts.entry(rule).or_insert(0) += 1;
    }
    (counts, last)
}

/// Runs the shipped rules over `sources` and returns the alerts, after checking that every
/// event was read as an event (none skipped or malformed).
fn run_shipped(sources: &[&Path]) -> (BTreeMap<String, usize>, BTreeMap<String, Value>) {
    let mut args = vec!["run", "--rules", "rules", "--output", "json"];
    for source in sources {
        args.extend(["--source", arg(source)]);
    }
    let run = k8scop(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(" 0 malformed, 0 skipped"),
        "every sample is an event of a kind the rules read:\n{}",
        run.stderr
    );
    alerts_by_rule(&run.stdout)
}

/// What the shipped rules raise on KubeArmor's 43 documented alerts and logs (see the tests of
/// rules/kubearmor.rules for which lines make each).
const KUBEARMOR_EXPECTED: &[(&str, usize)] = &[
    ("kubearmor_audited_operation", 5),
    ("kubearmor_blocked_file_access", 7),
    ("kubearmor_blocked_network", 4),
    ("kubearmor_blocked_process", 12),
    ("kubearmor_blocked_syscall", 2),
    ("kubearmor_high_severity_match", 1),
    ("kubearmor_history_tampering", 1),
    ("kubearmor_network_recon_tool", 3),
    ("kubearmor_package_manager", 3),
    ("kubearmor_remote_copy_tool", 1),
    ("kubearmor_service_account_token_access", 3),
    ("kubearmor_shell_in_container", 1),
    ("kubearmor_trusted_certificates_changed", 1),
];

/// What the shipped rules raise on the five sysdig captures in three formats: the ping capture's
/// ICMP, once for the default format (no `container.id`) and once for `-pc` and custom (`host`).
/// Nothing else in these captures is a detection (reads of libraries and /etc/ld.so.cache, cat
/// and python on the host, a connection to 127.0.0.1).
const SYSDIG_EXPECTED: &[(&str, usize)] = &[("sysdig_icmp_to_public_address", 2)];

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect()
}

#[test]
fn kubearmor_samples_give_the_expected_alerts() {
    let Some(data) = shared_data() else { return };
    let (got, alerts) = run_shipped(&[&data.join("kubearmor/kubearmor_docs_alerts_logs.jsonl")]);
    assert_eq!(got, counts(KUBEARMOR_EXPECTED));
    // The alert context comes from the KubeArmor event: host, pod, process, image.
    let token = alerts
        .values()
        .find(|a| {
            a["rule"]["name"] == "kubearmor_service_account_token_access"
                && a["kubernetes"]["name"] == "nginx-8f458dc5b-fl42t"
                && a["process"]["command_line"] == "/bin/cat"
        })
        .expect("the token read by cat in the nginx pod");
    assert_eq!(token["host"]["name"], "ip-172-31-24-142");
    assert_eq!(token["kubernetes"]["namespace"], "default");
    assert_eq!(token["kubernetes"]["resource"], "pods");
    assert!(token["container"]["image"]["name"]
        .as_str()
        .is_some_and(|i| i.contains("nginx")));
}

#[test]
fn falco_alert_samples_give_the_expected_alerts() {
    let Some(data) = shared_data() else { return };
    let (got, alerts) = run_shipped(&[&data.join("falco-alerts/single_rule_with_cat_write.json")]);
    assert_eq!(got, counts(&[("falco_warning_alert", 1)]));
    let alert = alerts.values().next().expect("one alert");
    assert_eq!(
        alert["message"],
        "Falco Warning: open_from_cat on test-falco-hostname"
    );
    assert_eq!(alert["event"]["count"], 8);
    assert_eq!(alert["host"]["name"], "test-falco-hostname");
    assert_eq!(alert["process"]["command_line"], "cat /dev/null");
    // Falco's time has nanoseconds: the alert keeps the first and last to the millisecond.
    assert_eq!(alert["event"]["start"], "2016-08-04T16:17:57.881Z");
}

#[test]
fn sysdig_samples_give_the_expected_alerts() {
    let Some(data) = shared_data() else { return };
    let mut sources: Vec<std::path::PathBuf> = std::fs::read_dir(data.join("sysdig"))
        .expect("the sysdig samples")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    sources.sort();
    assert_eq!(sources.len(), 15, "five captures in three formats");
    let sources: Vec<&Path> = sources.iter().map(|p| p.as_path()).collect();
    let (got, _) = run_shipped(&sources);
    assert_eq!(got, counts(SYSDIG_EXPECTED));
}

#[test]
fn check_warns_on_a_misspelt_field_of_every_kind() {
    let dir = rules_dir(&[(
        "kinds.rules",
        "rule a { source kubearmor when Severty == \"5\" }\n\
         rule f { source falco when priorty == \"Warning\" }\n\
         rule s { source sysdig when [\"evt.typ\"] == \"open\" }\n\
         rule s2 { source sysdig when evt.type == \"open\" }\n\
         rule k { when objectRef.resorce == \"pods\" }\n",
    )]);
    let run = k8scop(&["check", "--format", "json", arg(&dir)]);
    assert_eq!(run.code, 0, "warnings do not fail a check: {}", run.stdout);
    let doc = run.json();
    let diagnostics = doc["diagnostics"].as_array().expect("diagnostics");
    // An audit event has only the fields the API server writes: the audit rule that needs a
    // misspelt one can also never match.
    let never: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d["code"] == "k8scop::never_matches")
        .filter_map(|d| d["message"].as_str())
        .collect();
    assert_eq!(never, ["rule `k` can never match"]);
    let warnings: Vec<(String, String)> = diagnostics
        .iter()
        .filter(|d| d["code"] != "k8scop::never_matches")
        .map(|d| {
            assert_eq!(d["code"], "k8scop::unknown_field", "{d}");
            (
                d["message"].as_str().unwrap_or("").to_owned(),
                d["help"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("unknown field `Severty`", "did you mean `Severity`?"),
        ("unknown field `priorty`", "did you mean `priority`?"),
        (
            "unknown field `[\"evt.typ\"]`",
            "did you mean `[\"evt.type\"]`?",
        ),
        ("unknown field `evt.type`", "did you mean `[\"evt.type\"]`?"),
        (
            "unknown field `objectRef.resorce`",
            "did you mean `objectRef.resource`?",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, h)| ((*m).to_owned(), (*h).to_owned()))
        .collect();
    assert_eq!(warnings, expected);
}

#[test]
fn check_rejects_an_unknown_source_with_the_kinds() {
    let dir = rules_dir(&[(
        "k.rules",
        "rule a { source kubearmour when Action == \"Block\" }\n",
    )]);
    let run = k8scop(&["check", "--format", "json", arg(&dir)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let d = &run.json()["diagnostics"][0];
    assert_eq!(d["code"], "k8scop::unknown_source");
    let help = d["help"].as_str().unwrap_or("");
    assert!(help.starts_with("did you mean `kubearmor`?"), "{help}");
    assert!(
        help.contains("`sysdig`") && help.contains("`any`"),
        "{help}"
    );
}
