//! `k8scop check`: every diagnostic of a ruleset in one go, with file, line and column.

use serde_json::Value;

use crate::util::{arg, k8scop, rules_dir};

fn codes(doc: &Value) -> Vec<String> {
    doc["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| d["code"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn the_shipped_ruleset_has_no_errors() {
    let run = k8scop(&["check", "rules"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("0 errors"), "{}", run.stderr);
}

#[test]
fn every_error_of_every_file_is_reported_at_once() {
    let dir = rules_dir(&[
        ("a.rules", "rule one {\n  when verb == \"get\" and unknown_macro\n}\nrule bad_re { when userAgent matches \"(curl\" }\n"),
        ("b.rules", "rule one { when verb == \"list\" }\nmacro m1 = m2\nmacro m2 = m1\nrule uses_cycle { when m1 }\n"),
    ]);
    let run = k8scop(&["check", "--format", "json", arg(&dir)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let doc = run.json();
    let codes = codes(&doc);
    for expected in [
        "k8scop::unknown_name",
        "k8scop::invalid_regex",
        "k8scop::duplicate_name",
        "k8scop::macro_cycle",
    ] {
        assert!(
            codes.iter().any(|c| c == expected),
            "{expected} missing from {codes:?}"
        );
    }
    // The duplicate points at both definitions, in both files.
    let dup = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "k8scop::duplicate_name")
        .unwrap();
    let files: Vec<&str> = dup["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["file"].as_str().unwrap())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("a.rules"))
            && files.iter().any(|f| f.ends_with("b.rules")),
        "{dup}"
    );
    // The regex error is at its literal: line 4, after `matches `.
    let re = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "k8scop::invalid_regex")
        .unwrap();
    assert_eq!(
        (re["line"].as_u64(), re["column"].as_u64()),
        (Some(4), Some(38)),
        "{re}"
    );
}

#[test]
fn human_output_names_file_line_and_column_and_underlines() {
    let dir = rules_dir(&[(
        "x.rules",
        "rule r {\n  when verb == \"get\" and not exists user.username\n  severity hihg\n}\n",
    )]);
    let run = k8scop(&["check", arg(&dir)]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("x.rules:3:"), "{}", run.stderr);
    assert!(run.stderr.contains("hihg"), "{}", run.stderr);
    assert!(
        run.stderr.contains("high"),
        "a did-you-mean hint: {}",
        run.stderr
    );
}

#[test]
fn unknown_fields_are_warnings_with_a_suggestion() {
    let dir = rules_dir(&[("w.rules", "rule r { when user.name == \"alice\" }\n")]);
    let run = k8scop(&["check", "--format", "json", arg(&dir)]);
    assert_eq!(run.code, 0, "warnings do not fail a check: {}", run.stdout);
    let doc = run.json();
    let codes: Vec<&str> = doc["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    // No audit event has a `user.name`: the rule that needs it can never match.
    assert_eq!(codes, ["k8scop::never_matches", "k8scop::unknown_field"]);
    let d = &doc["diagnostics"][1];
    assert_eq!(d["level"], "warning");
    assert!(
        d["help"].as_str().unwrap_or("").contains("user.username"),
        "{d}"
    );
}

#[test]
fn script_syntax_errors_point_into_the_rules_file() {
    let dir = rules_dir(&[("s.rules", "# a comment\nscript {\n  fn ok(x) { x + 1 }\n  fn broken(x) { x + }\n}\nrule r { when verb == \"get\" and ok(1) == 2 }\n")]);
    let run = k8scop(&["check", "--format", "json", arg(&dir)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let doc = run.json();
    let d = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "k8scop::script_syntax")
        .expect("a script error");
    assert_eq!(d["line"].as_u64(), Some(4), "{d}");
}

#[test]
fn an_unreadable_path_exits_2() {
    let run = k8scop(&["check", "does/not/exist"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("does/not/exist"), "{}", run.stderr);
}

/// `--format json` lists each rule and sequence with the fields it reads to decide a match: the
/// shipped privileged-container rule needs the request object (the `Request` audit level), and
/// a sequence reads what the rules of its steps read.
#[test]
fn json_lists_what_each_detection_reads() {
    let run = k8scop(&["check", "--format", "json", "rules"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let doc = run.json();
    let detections = doc["detections"].as_array().expect("detections");
    assert_eq!(
        detections.len() as u64,
        doc["rules"].as_u64().unwrap() + doc["sequences"].as_u64().unwrap()
    );
    let reads = |name: &str| -> Vec<String> {
        let d = detections
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"));
        serde_json::from_value(d["reads"].clone()).expect("paths")
    };
    let privileged = reads("privileged_container");
    assert!(
        privileged.contains(&"requestObject.spec.containers.securityContext.privileged".to_owned()),
        "{privileged:?}"
    );
    let chain = reads("secrets_then_exec");
    for rule in ["secret_enumeration", "pod_exec"] {
        for path in reads(rule) {
            assert!(
                chain.contains(&path),
                "{path} of {rule} missing from {chain:?}"
            );
        }
    }
    let chain = detections
        .iter()
        .find(|d| d["name"] == "secrets_then_exec")
        .unwrap();
    assert_eq!(chain["kind"], "sequence");
    assert_eq!(chain["sources"], serde_json::json!(["k8s_audit"]));
}
