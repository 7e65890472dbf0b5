//! `k8scop import falco`: Falco's k8saudit rules (../shared/data) import and pass `check`; the
//! imported rules give Falco's own results on its 47 trace files, with the override files of
//! Falco's test suite, in first-match mode (exactly the rule Falco reports) and in all-matches
//! mode (that rule, and none of the enabled rules Falco evaluates before it); `append`,
//! `override` and `exceptions` work end to end; `ka.uri.param` and the plugin's newer fields
//! read the event; what does not translate is reported per rule, and bad input fails saying
//! where.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util::{arg, k8scop, rules_dir, shared_data};

fn falco_rules(data: &Path) -> PathBuf {
    data.join("falco-k8saudit/rules-v0.18.0/k8s_audit_rules.yaml")
}

/// Falco rule name to k8scop rule name, read from the generated files (each imported rule
/// carries `references ["Falco rule: NAME"]`).
fn rule_names(dir: &Path) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut current = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("rule ") {
                current = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.trim().strip_prefix("references  [\"Falco rule: ") {
                let name = rest.trim_end_matches("\"]").to_owned();
                names.insert(name, current.clone().expect("a rule before its references"));
            }
        }
    }
    names
}

/// The imported rules of Falco's rules file in Falco's order (the generated file keeps it), each
/// with whether it is enabled.
fn falco_order(dir: &Path) -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(dir.join("k8s_audit_rules.rules")).unwrap();
    let mut rules: Vec<(String, bool)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("rule ") {
            let name = rest.split_whitespace().next().unwrap().to_owned();
            rules.push((name, true));
        } else if line.split_whitespace().eq(["enabled", "false"]) {
            rules.last_mut().expect("`enabled` inside a rule").1 = false;
        }
    }
    rules
}

/// Imports `files` into a fresh directory; panics unless the import succeeds.
fn import(files: &[&str], first_match: bool) -> PathBuf {
    let out = rules_dir(&[]);
    let mut args = vec!["import", "falco"];
    args.extend_from_slice(files);
    args.extend_from_slice(&["--out", arg(&out)]);
    if first_match {
        args.push("--first-match");
    }
    let run = k8scop(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    out
}

#[test]
fn the_k8saudit_rules_import_and_pass_check() {
    let Some(data) = shared_data() else { return };
    let rules = falco_rules(&data);
    for first_match in [false, true] {
        let out = import(&[arg(&rules)], first_match);
        let files: BTreeSet<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            files,
            BTreeSet::from([
                "k8s_audit_rules.rules".into(),
                "falco_functions.rules".into()
            ])
        );
        let names = rule_names(&out);
        assert_eq!(names.len(), 48, "{names:?}");
        assert_eq!(
            names["Create/Modify Configmap With Private Credentials"],
            "create_modify_configmap_with_private_credentials"
        );
        let check = k8scop(&["check", arg(&out)]);
        assert_eq!(check.code, 0, "{}", check.stderr);
        assert!(
            check
                .stderr
                .contains("48 rules, 0 sequences, 0 tests; 0 errors"),
            "{}",
            check.stderr
        );
        // The one warning, in both modes: `EphemeralContainers Created` shows `jevt.value`
        // paths of the subresource's body before Kubernetes 1.22, which the schema does not
        // describe. (First-match conditions only include earlier rules of the same resource,
        // so they add none.)
        let json = k8scop(&["check", arg(&out), "--format", "json"]).json();
        let warnings: BTreeSet<String> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["message"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            warnings,
            BTreeSet::from([
                "unknown field `requestObject.ephemeralContainers[0].image`".to_owned(),
                "unknown field `requestObject.ephemeralContainers[0].name`".to_owned(),
            ]),
            "{}",
            check.stderr
        );
    }
    let out = rules_dir(&[]);
    let run = k8scop(&["import", "falco", arg(&rules), "--out", arg(&out)]);
    assert!(
        run.stderr.contains(
            "imported 48 rules (5 switched off, as Falco ships them), 45 macros and 18 lists from 1 file"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`required_engine_version` ignored"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(out.join("k8s_audit_rules.rules")).unwrap();
    // Readable: Falco's comments, lists by name, macros, the plugin's semantics.
    assert!(
        text.contains("# Generally only consider audit events once the response has completed\n")
    );
    assert!(text.contains("macro kevt = stage in k8s_audit_stages\n"));
    assert!(text.contains(
        "and not all falco_image_repository(requestObject.spec.containers.image) in k8s_audit_privileged_images"
    ));
    assert!(text.contains(
        "macro response_successful = falco_text(responseStatus.code) startswith \"2\"\n"
    ));
    assert!(text.contains("    severity    medium\n"));
}

/// The override files of Falco's test suite (test/rules/k8s_audit/ in falcosecurity/falco),
/// written for the list and macro names of the v0.18.0 rules.
const OVERRIDES: &[(&str, &str)] = &[
    ("allow_namespace_foo.yaml", "- list: allowed_namespaces\n  items: [foo]\n  append: true\n"),
    ("allow_user_some-user.yaml", "- list: allowed_k8s_users\n  items: [some-user]\n  append: true\n"),
    ("disallow_kactivity.yaml", "- macro: consider_activity_events\n  condition: (not jevt.rawtime exists)\n"),
    (
        "allow_only_apache_container.yaml",
        "- macro: allowed_k8s_containers\n  condition: (ka.req.pod.containers.image.repository in (thisdoesnotwork))\n",
    ),
    (
        "allow_nginx_container.yaml",
        "- macro: allowed_k8s_containers\n  condition: (ka.req.pod.containers.image.repository in (nginx))\n",
    ),
    (
        "trust_nginx_container.yaml",
        "- list: k8s_audit_sensitive_mount_images\n  items: [nginx]\n  append: true\n\n\
         - list: k8s_audit_privileged_images\n  items: [nginx]\n  append: true\n\n\
         - list: k8s_audit_hostnetwork_images\n  items: [nginx]\n  append: true\n",
    ),
];

/// Falco's test suite (test/falco_k8s_audit_tests.yaml in falcosecurity/falco): each case runs
/// the rules plus override files over one trace, and expects one rule to fire N times, or
/// nothing at all. The suite's `K8s Role/Clusterrole...` names are the v0.18.0 rules'
/// `K8s ClusterRole...` ones.
/// (trace, override files, the rule Falco reports and how often, or nothing).
type Case = (
    &'static str,
    &'static [&'static str],
    Option<(&'static str, usize)>,
);

#[rustfmt::skip]
const SUITE: &[Case] = &[
    ("some-user_creates_namespace_foo.json", &["allow_namespace_foo.yaml"], Some(("Disallowed K8s User", 1))),
    ("some-user_creates_namespace_foo.json", &["allow_namespace_foo.yaml", "allow_user_some-user.yaml", "disallow_kactivity.yaml"], None),
    ("create_nginx_pod_unprivileged.json", &["allow_only_apache_container.yaml"], Some(("Create Disallowed Pod", 1))),
    ("create_nginx_pod_unprivileged.json", &["allow_nginx_container.yaml"], None),
    ("create_nginx_pod_privileged.json", &[], Some(("Create Privileged Pod", 1))),
    ("create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json", &[], Some(("Create Privileged Pod", 1))),
    ("create_nginx_pod_privileged_2nd_container.json", &[], Some(("Create Privileged Pod", 1))),
    ("create_nginx_pod_privileged.json", &["trust_nginx_container.yaml"], None),
    ("create_nginx_pod_unprivileged.json", &[], None),
    ("create_nginx_pod_unprivileged.json", &["trust_nginx_container.yaml"], None),
    ("create_nginx_pod_sensitive_mount.json", &[], Some(("Create Sensitive Mount Pod", 1))),
    ("create_nginx_pod_sensitive_mount_2nd_container.json", &[], Some(("Create Sensitive Mount Pod", 1))),
    ("create_nginx_pod_sensitive_mount.json", &["trust_nginx_container.yaml"], None),
    ("create_nginx_pod_unsensitive_mount.json", &[], None),
    ("create_nginx_pod_unsensitive_mount.json", &["trust_nginx_container.yaml"], None),
    ("create_nginx_pod_hostnetwork.json", &[], Some(("Create HostNetwork Pod", 1))),
    ("create_nginx_pod_hostnetwork.json", &["trust_nginx_container.yaml"], None),
    ("create_nginx_pod_nohostnetwork.json", &[], None),
    ("create_nginx_pod_nohostnetwork.json", &["trust_nginx_container.yaml"], None),
    ("create_nginx_service_nodeport.json", &["disallow_kactivity.yaml"], Some(("Create NodePort Service", 1))),
    ("create_nginx_service_nonodeport.json", &["disallow_kactivity.yaml"], None),
    ("create_configmap_sensitive_values.json", &["disallow_kactivity.yaml"], Some(("Create/Modify Configmap With Private Credentials", 6))),
    ("create_configmap_no_sensitive_values.json", &["disallow_kactivity.yaml"], None),
    ("anonymous_creates_namespace_foo.json", &[], Some(("Anonymous Request Allowed", 1))),
    ("exec_pod.json", &[], Some(("Attach/Exec Pod", 1))),
    ("attach_pod.json", &[], Some(("Attach/Exec Pod", 1))),
    ("some-user_creates_namespace_foo.json", &["allow_user_some-user.yaml"], Some(("Create Disallowed Namespace", 1))),
    ("minikube_creates_namespace_foo.json", &["allow_namespace_foo.yaml", "disallow_kactivity.yaml"], None),
    ("create_pod_kube_system_namespace.json", &[], Some(("Pod Created in Kube Namespace", 1))),
    ("create_pod_kube_public_namespace.json", &[], Some(("Pod Created in Kube Namespace", 1))),
    ("create_serviceaccount_kube_system_namespace.json", &[], Some(("Service Account Created in Kube Namespace", 1))),
    ("create_serviceaccount_kube_public_namespace.json", &[], Some(("Service Account Created in Kube Namespace", 1))),
    ("delete_cluster_role_kube_aggregator.json", &[], Some(("System ClusterRole Modified/Deleted", 1))),
    ("modify_cluster_role_node_problem_detector.json", &[], Some(("System ClusterRole Modified/Deleted", 1))),
    ("attach_cluster_admin_role.json", &[], Some(("Attach to cluster-admin Role", 1))),
    ("create_cluster_role_wildcard_resources.json", &[], Some(("ClusterRole With Wildcard Created", 1))),
    ("create_cluster_role_wildcard_verbs.json", &[], Some(("ClusterRole With Wildcard Created", 1))),
    ("create_cluster_role_write_privileges.json", &[], Some(("ClusterRole With Write Privileges Created", 1))),
    ("create_cluster_role_pod_exec.json", &[], Some(("ClusterRole With Pod Exec Created", 1))),
    ("create_deployment.json", &[], Some(("K8s Deployment Created", 1))),
    ("delete_deployment.json", &[], Some(("K8s Deployment Deleted", 1))),
    ("create_service.json", &[], Some(("K8s Service Created", 1))),
    ("delete_service.json", &[], Some(("K8s Service Deleted", 1))),
    ("create_configmap.json", &[], Some(("K8s ConfigMap Created", 1))),
    ("delete_configmap.json", &[], Some(("K8s ConfigMap Deleted", 1))),
    ("some-user_creates_namespace_foo.json", &["allow_namespace_foo.yaml", "allow_user_some-user.yaml"], Some(("K8s Namespace Created", 1))),
    ("delete_namespace_foo.json", &[], Some(("K8s Namespace Deleted", 1))),
    ("create_serviceaccount.json", &[], Some(("K8s Serviceaccount Created", 1))),
    ("delete_serviceaccount.json", &[], Some(("K8s Serviceaccount Deleted", 1))),
    ("create_clusterrole.json", &[], Some(("K8s ClusterRole Created", 1))),
    ("delete_clusterrole.json", &[], Some(("K8s ClusterRole Deleted", 1))),
    ("create_clusterrolebinding.json", &[], Some(("K8s ClusterRoleBinding Created", 1))),
    ("delete_clusterrolebinding.json", &[], Some(("K8s ClusterRoleBinding Deleted", 1))),
    ("create_secret.json", &[], Some(("K8s Secret Created", 1))),
    ("create_service_account_token_secret.json", &[], None),
    ("create_kube_system_secret.json", &[], None),
    ("delete_secret.json", &[], Some(("K8s Secret Deleted", 1))),
    ("fal_01_003.json", &[], None),
];

/// `k8scop test-rule RULES --events EVENTS --format json`, which must succeed: its report.
fn test_rule_report(rules: &Path, events: &Path) -> serde_json::Value {
    let run = k8scop(&[
        "test-rule",
        arg(rules),
        "--events",
        arg(events),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}: {}", events.display(), run.stderr);
    run.json()
}

/// The imported rules in `rules` pass `k8scop check`, and over `events` exactly the rules of
/// `expected` match, as many times as it says, without an error.
fn assert_checks_and_matches(rules: &Path, events: &Path, expected: &[(&str, u64)]) {
    let check = k8scop(&["check", arg(rules)]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let (got, errors) = matches(rules, events);
    assert_eq!(errors, "[]");
    let expected: BTreeMap<String, u64> = expected
        .iter()
        .map(|&(rule, n)| (rule.to_owned(), n))
        .collect();
    assert_eq!(got, expected);
}

/// The rules (k8scop names) that matched the trace, with their match counts, and the errors.
fn matches(rules: &Path, trace: &Path) -> (BTreeMap<String, u64>, String) {
    let doc = test_rule_report(rules, trace);
    let matched = doc["rules"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| {
            let n = v["matches"].as_u64().unwrap();
            (n > 0).then(|| (k.clone(), n))
        })
        .collect();
    (matched, doc["errors"].to_string())
}

#[test]
fn imported_rules_give_falcos_results_on_its_47_traces() {
    let Some(data) = shared_data() else { return };
    let rules = falco_rules(&data);
    let traces = data.join("falco-k8saudit/traces");
    let overrides = rules_dir(OVERRIDES);
    let all_traces: BTreeSet<String> = std::fs::read_dir(&traces)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(all_traces.len(), 47);
    let covered: BTreeSet<String> = SUITE.iter().map(|(t, _, _)| (*t).to_owned()).collect();
    assert_eq!(
        covered, all_traces,
        "every trace has a case of Falco's suite"
    );

    // One import per set of override files and mode.
    let mut imported: BTreeMap<(Vec<&str>, bool), PathBuf> = BTreeMap::new();
    let mut differences = Vec::new();
    let mut checked = 0;
    for first_match in [true, false] {
        for (trace, extra, expected) in SUITE {
            let key = (extra.to_vec(), first_match);
            let dir = imported.entry(key).or_insert_with(|| {
                let mut files = vec![arg(&rules).to_owned()];
                files.extend(extra.iter().map(|f| arg(&overrides.join(f)).to_owned()));
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                import(&files, first_match)
            });
            let names = rule_names(dir);
            let (got, errors) = matches(dir, &traces.join(trace));
            checked += 1;
            let expected_k8scop = expected.map(|(rule, n)| {
                let name = names
                    .get(rule)
                    .unwrap_or_else(|| panic!("no imported rule for Falco's `{rule}`"));
                (name.clone(), n as u64)
            });
            let ok = match (&expected_k8scop, first_match) {
                (None, _) => got.is_empty(),
                (Some((name, n)), true) => got.len() == 1 && got.get(name) == Some(n),
                // Every enabled rule before the expected one in Falco's order did not match
                // (Falco would have reported it instead). What the later rules do is not
                // something Falco's suite records: it checks the first match only.
                (Some((name, n)), false) => {
                    let order = falco_order(dir);
                    let position = order.iter().position(|(rule, _)| rule == name);
                    let earlier = &order[..position.expect("the expected rule is imported")];
                    got.get(name) == Some(n)
                        && earlier
                            .iter()
                            .all(|(rule, enabled)| !enabled || !got.contains_key(rule))
                }
            };
            if !ok {
                differences.push(format!(
                    "{trace} with {extra:?} ({}): Falco reports {expected:?}, the imported rules matched {got:?}",
                    if first_match { "first match" } else { "all matches" }
                ));
            }
            if *trace == "fal_01_003.json" {
                assert!(errors.contains("not a Kubernetes audit event"), "{errors}");
            }
        }
    }
    assert_eq!(checked, 2 * SUITE.len());
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn append_override_enabled_and_exceptions_work_end_to_end() {
    let dir = rules_dir(&[
        (
            "base.yaml",
            "- list: admins\n  items: [alice]\n\
             - macro: write\n  condition: ka.verb in (create, update)\n\
             - rule: Secret Written\n  desc: a secret was written\n  condition: write and ka.target.resource=secrets\n  \
               output: secret %ka.target.name written by %ka.user.name\n  priority: WARNING\n  source: k8s_audit\n  \
               exceptions:\n    - name: trusted\n      fields: [ka.user.name, ka.target.namespace]\n      values:\n        - [bob, kube-system]\n\
             - rule: Any Delete\n  desc: d\n  condition: ka.verb=delete\n  output: delete\n  priority: INFO\n  source: k8s_audit\n",
        ),
        (
            "local.yaml",
            "- list: admins\n  items: [carol]\n  append: true\n\
             - macro: write\n  condition: or ka.verb=patch\n  append: true\n\
             - rule: Secret Written\n  condition: and not ka.user.name in (admins)\n  override:\n    condition: append\n\
             - rule: Secret Written\n  exceptions:\n    - name: trusted\n      values:\n        - [dave, web]\n  append: true\n\
             - rule: Any Delete\n  enabled: false\n",
        ),
        (
            "events.jsonl",
            concat!(
                r#"{"verb":"patch","user":{"username":"eve"},"objectRef":{"resource":"secrets","namespace":"web","name":"s1"},"requestReceivedTimestamp":"2024-05-01T12:00:00Z"}"#, "\n",
                r#"{"verb":"create","user":{"username":"carol"},"objectRef":{"resource":"secrets","namespace":"web","name":"s2"},"requestReceivedTimestamp":"2024-05-01T12:00:01Z"}"#, "\n",
                r#"{"verb":"update","user":{"username":"bob"},"objectRef":{"resource":"secrets","namespace":"kube-system","name":"s3"},"requestReceivedTimestamp":"2024-05-01T12:00:02Z"}"#, "\n",
                r#"{"verb":"update","user":{"username":"dave"},"objectRef":{"resource":"secrets","namespace":"web","name":"s4"},"requestReceivedTimestamp":"2024-05-01T12:00:03Z"}"#, "\n",
                r#"{"verb":"update","user":{"username":"dave"},"objectRef":{"resource":"secrets","namespace":"prod","name":"s5"},"requestReceivedTimestamp":"2024-05-01T12:00:04Z"}"#, "\n",
                r#"{"verb":"delete","user":{"username":"eve"},"objectRef":{"resource":"secrets","namespace":"web","name":"s1"},"requestReceivedTimestamp":"2024-05-01T12:00:05Z"}"#, "\n",
            ),
        ),
    ]);
    let out = dir.join("out");
    let run = k8scop(&[
        "import",
        "falco",
        arg(&dir.join("base.yaml")),
        arg(&dir.join("local.yaml")),
        "--out",
        arg(&out),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(out.join("base.rules")).unwrap();
    assert!(
        text.contains("list admins = [\"alice\", \"carol\"]\n"),
        "{text}"
    );
    assert!(
        text.contains("macro write = verb in [\"create\", \"update\"] or verb == \"patch\"\n"),
        "{text}"
    );
    assert!(
        text.contains("title       \"secret {objectRef.name} written by {user.username}\""),
        "{text}"
    );
    let doc = test_rule_report(&out, &dir.join("events.jsonl"));
    // eve's patch (appended macro) and dave's write outside `web`; carol is an admin now, bob
    // and dave in `web` are exceptions.
    assert_eq!(doc["rules"]["secret_written"]["matches"], 2, "{doc}");
    // Disabled by the second file: it matches, but raises nothing.
    assert_eq!(doc["rules"]["any_delete"]["alerts"], 0, "{doc}");
}

#[test]
fn uri_parameters_and_the_newer_plugin_fields_work_end_to_end() {
    let event = |n: u32, uri: &str, annotations: &str| {
        format!(
            r#"{{"verb":"create","requestURI":"{uri}","objectRef":{{"resource":"pods","subresource":"exec","name":"web-0"}},"user":{{"username":"u{n}"}},"annotations":{{{annotations}}},"requestReceivedTimestamp":"2024-05-01T12:00:0{n}Z"}}"#
        ) + "\n"
    };
    let events = [
        // The first `command` is `/bin/sh` (percent-decoded): a shell.
        event(
            1,
            "/api/v1/namespaces/web/pods/web-0/exec?command=%2Fbin%2Fsh&command=-c&command=id&container=web",
            r#""authentication.openshift.io/decision":"deny","authentication.openshift.io/username":"mallory""#,
        ),
        // `sh` is not the first value: Falco reads only the first.
        event(
            2,
            "/api/v1/namespaces/web/pods/web-0/exec?command=ls&command=sh",
            r#""pod-security.kubernetes.io/audit-violations":"would violate PodSecurity \"restricted:latest\": privileged""#,
        ),
        // A `;` in the query: Go's URL parser rejects it and the plugin reads nothing.
        event(
            3,
            "/api/v1/namespaces/web/pods/web-0/exec?command=sh;x",
            r#""validation.policy.admission.k8s.io/validation_failure":"[{\"message\":\"no\"}]""#,
        ),
    ]
    .concat();
    let dir = rules_dir(&[
        (
            "user.yaml",
            "- rule: Shell Exec\n  desc: d\n  condition: ka.target.subresource=exec and ka.uri.param[command] in (sh, bash, /bin/sh)\n  \
               output: shell %ka.uri.param[command] by %ka.user.name\n  priority: WARNING\n  source: k8s_audit\n\
             - rule: Exec Names A Container\n  desc: d\n  condition: ka.uri.param[container] exists\n  output: o\n  priority: NOTICE\n  source: k8s_audit\n\
             - rule: OpenShift Login Denied\n  desc: d\n  condition: ka.auth.openshift.decision=deny and ka.auth.openshift.username=mallory\n  \
               output: denied %ka.auth.openshift.username\n  priority: WARNING\n  source: k8s_audit\n\
             - rule: Pod Security Violation\n  desc: d\n  condition: ka.security.pod.violations contains restricted\n  output: o\n  priority: NOTICE\n  source: k8s_audit\n\
             - rule: Admission Policy Failure\n  desc: d\n  condition: ka.validations.admission.policy.failure exists\n  output: o\n  priority: NOTICE\n  source: k8s_audit\n\
             - rule: Targets A Pod By Name\n  desc: d\n  condition: ka.target.pod.name=web-0\n  output: o\n  priority: NOTICE\n  source: k8s_audit\n",
        ),
        ("events.jsonl", &events),
    ]);
    let out = dir.join("out");
    let file = arg(&dir.join("user.yaml")).to_owned();
    let run = k8scop(&["import", "falco", &file, "--out", arg(&out)]);
    // `ka.target.pod.name` does not translate, and says why; the rest does.
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "rule `Targets A Pod By Name` ({file}:31): `ka.target.pod.name` is documented only as"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("imported 5 rules, 0 macros and 0 lists from 1 file"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(out.join("user.rules")).unwrap();
    assert!(
        text.contains(r#"uri_param(requestURI, "command") in ["sh", "bash", "/bin/sh"]"#),
        "{text}"
    );
    assert!(
        text.contains(r#"annotations["authentication.openshift.io/decision"] == "deny""#),
        "{text}"
    );
    assert_checks_and_matches(
        &out,
        &dir.join("events.jsonl"),
        &[
            ("shell_exec", 1),
            ("exec_names_a_container", 1),
            ("openshift_login_denied", 1),
            ("pod_security_violation", 1),
            ("admission_policy_failure", 1),
        ],
    );
    let doc = test_rule_report(&out, &dir.join("events.jsonl"));
    let shells = doc["rules"]["shell_exec"]["matching_events"].to_string();
    assert!(shells.ends_with("events.jsonl:1\"]"), "{shells}");
}

#[test]
fn host_ports_volume_types_and_the_privileged_flag_read_the_pod_as_the_plugin_does() {
    let pod = |n: u32, spec: &str| {
        format!(
            r#"{{"verb":"create","objectRef":{{"resource":"pods","name":"p{n}"}},"requestObject":{{"spec":{spec}}},"requestReceivedTimestamp":"2024-05-01T12:00:0{n}Z"}}"#
        ) + "\n"
    };
    let events = [
        pod(
            1,
            r#"{"containers":[{"name":"a","ports":[{"containerPort":8080}]},{"name":"b","ports":[{"containerPort":80,"hostPort":443}],"securityContext":{"privileged":true}}],"volumes":[{"name":"c","configMap":{"name":"c"}},{"name":"root","hostPath":{"path":"/"}}]}"#,
        ),
        pod(
            2,
            r#"{"containers":[{"name":"a"}],"volumes":[{"name":"s","secret":{"secretName":"s"}}]}"#,
        ),
        pod(
            3,
            r#"{"initContainers":[{"name":"i","ports":[{"containerPort":22,"hostPort":22}]}],"containers":[{"name":"a"}]}"#,
        ),
    ]
    .concat();
    let rule = |name: &str, condition: &str| {
        format!("- rule: {name}\n  desc: d\n  condition: {condition}\n  output: o\n  priority: NOTICE\n  source: k8s_audit\n")
    };
    let rules = [
        rule(
            "Host Port 443",
            "ka.req.pod.containers.host_port intersects (443)",
        ),
        // Without a hostPort, the plugin gives the containerPort.
        rule(
            "Port 8080",
            "ka.req.pod.containers.host_port intersects (8080)",
        ),
        rule(
            "Init Host Port",
            "ka.req.pod.initContainers.host_port[0] = 22",
        ),
        rule(
            "Only Safe Volumes",
            "ka.req.pod.volumes.volume_type in (configMap, secret)",
        ),
        rule(
            "Second Volume Host Path",
            "ka.req.pod.volumes.volume_type[1] = hostPath",
        ),
        rule(
            "Runs As Root",
            "ka.req.pod.containers.eff_run_as_user intersects (0)",
        ),
        // The deprecated field: `true` when any container is privileged.
        rule("Privileged Pod", "ka.req.container.privileged = true"),
        rule("Unprivileged Pod", "ka.req.container.privileged = false"),
    ]
    .concat();
    let dir = rules_dir(&[("pods.yaml", &rules), ("events.jsonl", &events)]);
    let out = dir.join("out");
    let file = arg(&dir.join("pods.yaml")).to_owned();
    let run = k8scop(&["import", "falco", &file, "--out", arg(&out)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "rule `Runs As Root` ({file}:31): `ka.req.pod.containers.eff_run_as_user` is documented as"
        )),
        "{}",
        run.stderr
    );
    assert_checks_and_matches(
        &out,
        &dir.join("events.jsonl"),
        &[
            ("host_port_443", 1),
            ("port_8080", 1),
            ("init_host_port", 1),
            ("only_safe_volumes", 1),
            ("second_volume_host_path", 1),
            ("privileged_pod", 1),
            ("unprivileged_pod", 2),
        ],
    );
    let doc = test_rule_report(&out, &dir.join("events.jsonl"));
    for (rule, event) in [
        ("host_port_443", 1),
        ("init_host_port", 3),
        ("only_safe_volumes", 2),
        ("second_volume_host_path", 1),
        ("privileged_pod", 1),
    ] {
        let ids = doc["rules"][rule]["matching_events"].to_string();
        assert!(
            ids.ends_with(&format!("events.jsonl:{event}\"]")),
            "{rule}: {ids}"
        );
    }
}

#[test]
fn what_does_not_translate_is_reported_per_rule_and_the_rest_imported() {
    let dir = rules_dir(&[(
        "rules.yaml",
        "- macro: kevt\n  condition: ka.verb=get\n\
         - rule: Uses Unknown Macro\n  desc: d\n  condition: kevt and no_such_macro\n  output: o\n  priority: WARNING\n  source: k8s_audit\n\
         - rule: Reads The Cluster Name\n  desc: d\n  condition: ka.cluster.name=prod\n  output: o\n  priority: WARNING\n  source: k8s_audit\n\
         - rule: A Syscall Rule\n  desc: d\n  condition: proc.name=sh\n  output: o\n  priority: WARNING\n\
         - rule: Fine\n  desc: d\n  condition: kevt\n  output: o\n  priority: NOTICE\n  source: k8s_audit\n",
    )]);
    let out = dir.join("out");
    let run = k8scop(&[
        "import",
        "falco",
        arg(&dir.join("rules.yaml")),
        "--out",
        arg(&out),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let file = arg(&dir.join("rules.yaml")).to_owned();
    for line in [
        format!("rule `Uses Unknown Macro` ({file}:3): unknown macro `no_such_macro`"),
        format!("rule `Reads The Cluster Name` ({file}:9): `ka.cluster.name` comes from the plugin's configuration, not from the event"),
        format!("rule `A Syscall Rule` ({file}:15): its source is `syscall`, not Kubernetes audit events (`k8s_audit`)"),
        "imported 1 rule, 1 macro and 0 lists from 1 file".to_owned(),
    ] {
        assert!(run.stderr.contains(&line), "{line}\n{}", run.stderr);
    }
    let text = std::fs::read_to_string(out.join("rules.rules")).unwrap();
    assert!(
        text.contains("# NOT IMPORTED: rule `Uses Unknown Macro`: unknown macro `no_such_macro`\n"),
        "{text}"
    );
    let check = k8scop(&["check", arg(&out)]);
    assert_eq!(check.code, 0, "{}", check.stderr);
}

#[test]
fn bad_input_fails_with_the_place() {
    let dir = rules_dir(&[
        ("bad.yaml", "- rule: x\n  condition: [oops\n"),
        ("map.yaml", "rule: x\n"),
    ]);
    let out = dir.join("out");
    let run = k8scop(&[
        "import",
        "falco",
        arg(&dir.join("bad.yaml")),
        "--out",
        arg(&out),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is not valid YAML"), "{}", run.stderr);
    assert!(
        run.stderr.contains("bad.yaml:3:1]") || run.stderr.contains("bad.yaml:2:"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing is written when an input is broken");
    let run = k8scop(&[
        "import",
        "falco",
        arg(&dir.join("map.yaml")),
        "--out",
        arg(&out),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not a Falco rules file"),
        "{}",
        run.stderr
    );
    let run = k8scop(&[
        "import",
        "falco",
        arg(&dir.join("missing.yaml")),
        "--out",
        arg(&out),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: cannot read `"),
        "{}",
        run.stderr
    );
}
