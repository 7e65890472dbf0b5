//! The promise of `k8scop import sigma`: the imported rules give, event by event, exactly the
//! detections rsigma gives for the Sigma rules as they are. Checked on SigmaHQ's 16 Kubernetes
//! audit rules (read from ../shared/data: DRL 1.1, never copied) over every audit event of the
//! project's samples, of the shared third-party data, and of `tests/sigma_events.jsonl` (122
//! events written for this test: every rule's verbs and resources, case variants, near misses).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8scop_rsigma_parity::{decode, Pair, SigmaFile};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The third-party data: `$K8SCOP_SHARED_DATA` when set, else `../shared/data` next to this
/// checkout. Missing, it fails the test under `CI=true` or when named, and skips otherwise
/// (docs/testing.md).
fn shared_data() -> Option<PathBuf> {
    let (dir, named) = match std::env::var_os("K8SCOP_SHARED_DATA") {
        Some(dir) => (PathBuf::from(dir), true),
        None => (root().join("../shared/data"), false),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    let problem = format!(
        "the third-party test data is missing: {} is not a directory; set K8SCOP_SHARED_DATA to where it is",
        dir.display()
    );
    if named || std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{problem} (with CI=true or K8SCOP_SHARED_DATA set, a test that needs it fails rather than skip)");
    }
    eprintln!("SKIPPED: {problem}");
    None
}

fn files_in(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ext.contains(&e))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sigmahq(data: &Path) -> Vec<SigmaFile> {
    let files: Vec<SigmaFile> = files_in(&data.join("sigma-k8s"), &["yml"])
        .iter()
        .map(|p| (p.display().to_string(), read(p)))
        .collect();
    assert_eq!(files.len(), 16, "SigmaHQ's 16 Kubernetes audit rules");
    files
}

/// Every audit event file of the samples and the shared data, and the PerfSPEC cluster's
/// 16,563 requests converted to audit events by scripts/perfspec-to-audit.
fn event_texts(data: &Path) -> Vec<(String, String)> {
    let mut paths = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigma_events.jsonl")];
    paths.extend(files_in(
        &root().join("rules/samples"),
        &["jsonl", "json", "log"],
    ));
    paths.extend(files_in(
        &data.join("audit-samples"),
        &["jsonl", "json", "log"],
    ));
    paths.extend(files_in(&data.join("es-shapes"), &["json"]));
    paths.extend(files_in(&data.join("falco-k8saudit/traces"), &["json"]));
    let mut texts: Vec<(String, String)> = paths
        .iter()
        .map(|p| (p.display().to_string(), read(p)))
        .collect();
    let perfspec = std::process::Command::new("python3")
        .arg(root().join("scripts/perfspec-to-audit"))
        .arg(data.join("audit-samples/perfspec/audit-logs.csv"))
        .output()
        .expect("python3 runs scripts/perfspec-to-audit (scripts/test needs python3 too)");
    assert!(
        perfspec.status.success(),
        "{}",
        String::from_utf8_lossy(&perfspec.stderr)
    );
    texts.push((
        "perfspec (scripts/perfspec-to-audit)".into(),
        String::from_utf8(perfspec.stdout).expect("UTF-8"),
    ));
    texts
}

#[test]
fn imported_sigmahq_rules_give_exactly_rsigmas_detections() {
    let Some(data) = shared_data() else { return };
    let pair = Pair::load(&sigmahq(&data)).expect("both engines load the rules");
    let mut engine = pair.engine();
    let mut events = 0usize;
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut differences = Vec::new();
    for (origin, text) in event_texts(&data) {
        for (event, value) in decode(&pair.ruleset, &origin, &text) {
            let (k8scop, rsigma) = pair.detections(&mut engine, &event, &value);
            if k8scop != rsigma {
                differences.push(format!(
                    "{origin} {}: k8scop {k8scop:?}, rsigma {rsigma:?}",
                    event.id
                ));
            }
            for name in k8scop {
                *by_rule.entry(name).or_default() += 1;
            }
            events += 1;
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {events} events differ, e.g.:\n{}",
        differences.len(),
        differences[..differences.len().min(20)].join("\n")
    );
    assert!(events > 16_500, "only {events} events compared");
    // Not vacuous: every rule that can match an audit event matched some.
    for rule in [
        "kubernetes_audit_change_admission_controller",
        "kubernetes_audit_cronjob_modification",
        "kubernetes_audit_deployment_deleted",
        "kubernetes_audit_events_deleted",
        "kubernetes_audit_exec_into_container",
        "kubernetes_audit_pod_in_system_namespace",
        "kubernetes_audit_rolebinding_modification",
        "kubernetes_audit_secrets_enumeration",
        "kubernetes_audit_secrets_modified_or_deleted",
        "kubernetes_audit_serviceaccount_creation",
        "kubernetes_audit_unauthorized_unauthenticated_actions",
    ] {
        assert!(
            by_rule.get(rule).is_some_and(|n| *n > 0),
            "{rule} never matched: {by_rule:#?}"
        );
    }
    // The rules `k8scop check` says can never match a real audit event matched none, in
    // either engine.
    for rule in [
        "kubernetes_audit_hostpath_mount",
        "kubernetes_audit_potential_enumeration_activity",
        "kubernetes_audit_privileged_pod_creation",
        "kubernetes_audit_rbac_permisions_listing",
        "kubernetes_audit_sidecar_injection",
    ] {
        assert!(!by_rule.contains_key(rule), "{rule} matched: {by_rule:#?}");
    }
}

/// Modifiers SigmaHQ's Kubernetes rules do not use, on the same events: the translation of each
/// gives rsigma's detections too.
#[test]
fn every_modifier_gives_rsigmas_detections() {
    let rules = r#"
title: Modifiers
id: m-1
logsource: {product: kubernetes, service: audit}
detection:
    wild: {user.username: 'system:serviceaccount:*:default'}
    one: {objectRef.resource: 'secret?'}
    starts: {userAgent|startswith: 'KUBECTL/'}
    ends: {user.username|endswith: ['@EXAMPLE.COM', 'bob']}
    every: {requestURI|contains|all: ['/api', 'namespaces']}
    cased: {verb|cased: 'Create'}
    re: {requestURI|re: '^/api/v1/namespaces/[a-z-]+/pods$'}
    rei: {userAgent|re|i: '^KUBECTL/v1\.\d+'}
    cidr: {sourceIPs|cidr: ['10.0.0.0/8', '172.16.0.0/12']}
    exists: {objectRef.subresource|exists: true}
    missing: {objectRef.namespace: null}
    gte: {responseStatus.code|gte: 400}
    lt: {responseStatus.code|lt: 201}
    neq: {verb|neq: get}
    condition: (wild or one) and not neq or 1 of st* or all of e* or (every and cased) or re or rei or cidr and gte or missing and lt
level: low
"#;
    let pair = Pair::load(&[("modifiers.yml".into(), rules.into())]).expect("loads");
    let mut engine = pair.engine();
    let text = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigma_events.jsonl"));
    let mut matched = 0;
    for (event, value) in decode(&pair.ruleset, "sigma_events.jsonl", &text) {
        let (k8scop, rsigma) = pair.detections(&mut engine, &event, &value);
        assert_eq!(k8scop, rsigma, "{}: {value}", event.id);
        matched += k8scop.len();
    }
    assert!(matched > 10, "only {matched} matches");
}
