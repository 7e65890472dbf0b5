//! Falco's 47 real audit trace files (../shared/data/falco-k8saudit/traces) load through
//! `test-rule` with the shipped rules: every event is evaluated, the one malformed document is
//! reported with its position, and nothing crashes.

use crate::util::{arg, k8scop, shared_data};

#[test]
fn all_falco_traces_load_without_crashing() {
    let Some(data) = shared_data() else { return };
    let dir = data.join("falco-k8saudit/traces");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 47);
    let mut args = vec!["test-rule", "rules", "--format", "json"];
    for f in &files {
        args.push("--events");
        args.push(arg(f));
    }
    let run = k8scop(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    // 45 files of one event, one file of 6 events; fal_01_003.json (`{"kind": 0}`) is rejected.
    assert_eq!(doc["events"]["evaluated"], 51, "{}", doc["events"]);
    assert_eq!(doc["events"]["malformed"], 0);
    assert_eq!(doc["events"]["skipped"], 1);
    let errors = doc["errors"].to_string();
    assert!(
        errors.contains("fal_01_003.json:1: not a Kubernetes audit event"),
        "{errors}"
    );
}

#[test]
fn each_trace_file_loads_on_its_own() {
    let Some(data) = shared_data() else { return };
    for entry in std::fs::read_dir(data.join("falco-k8saudit/traces")).unwrap() {
        let path = entry.unwrap().path();
        let run = k8scop(&[
            "test-rule",
            "rules",
            "--events",
            arg(&path),
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{}: {}", path.display(), run.stderr);
        let _ = run.json();
    }
}
