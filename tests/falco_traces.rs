//! Falco's 47 real audit trace files (../shared/data/falco-k8saudit/traces) load through
//! `test-rule` with the shipped rules: every event is evaluated, the one document that is not an
//! event is reported with its position, the one duplicate is dropped as `run` drops it, and
//! nothing crashes.

use serde_json::json;

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
    // Two files hold the same request (auditID, stage, times, verb, URI and user), edited to
    // differ only in its body: `run` drops the second as a duplicate, and so does `test-rule`.
    assert_eq!(
        doc["events"],
        json!({"evaluated": 50, "malformed": 0, "skipped": 1, "duplicates": 1})
    );
    assert_eq!(
        doc["duplicate_events"],
        json!(["f83ecd50-5bf4-4fe7-a419-dea22852ca49/ResponseComplete"])
    );
    let errors = doc["errors"].to_string();
    assert!(
        errors.contains("fal_01_003.json:1: not a Kubernetes audit event"),
        "{errors}"
    );
    // `run` over the same files counts the same.
    let mut args = vec!["run", "--rules", "rules", "--output", "json", "--quiet"];
    for f in &files {
        args.push("--source");
        args.push(arg(f));
    }
    let run = k8scop(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("summary: 50 events in ")
            && run
                .stderr
                .contains("; 0 malformed, 1 skipped, 1 duplicate, "),
        "{}",
        run.stderr
    );
}

#[test]
fn each_trace_file_loads_on_its_own() {
    let Some(data) = shared_data() else { return };
    let mut checked = 0;
    for entry in std::fs::read_dir(data.join("falco-k8saudit/traces")).unwrap() {
        let path = entry.unwrap().path();
        checked += 1;
        let run = k8scop(&[
            "test-rule",
            "rules",
            "--events",
            arg(&path),
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{}: {}", path.display(), run.stderr);
        let doc = run.json();
        assert_eq!(doc["events"]["malformed"], 0, "{}", path.display());
    }
    assert_eq!(checked, 47, "the traces folder is not what this test knows");
}
