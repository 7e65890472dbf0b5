//! One decoder for every command (issue 7): `run`, `test-rule --events` and `test` blocks see the
//! same events, so they give the same alerts, matches, malformed lines, skipped documents and
//! duplicates over every shipper's shape of `../shared/data/es-shapes` and the project's samples
//! (`rules/samples`), each as a file holds it and as Elasticsearch returns it (one line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{arg, k8scop, root, rules_dir, shared_data};

/// Rules for the other sources the shapes carry (Falco and KubeArmor alerts), so that those
/// shapes are evaluated too rather than only skipped.
const OTHER_SOURCES: &str = r#"
rule falco_warning {
    source   falco
    title    "Falco: {rule}"
    when     priority in ["Warning", "Error", "Critical"]
    group by rule
}

rule kubearmor_block {
    source   kubearmor
    title    "KubeArmor blocked {Operation} in {NamespaceName}"
    when     Action == "Block"
    group by PolicyName
}
"#;

/// One input of the comparison: files read in order, as one run.
struct Input {
    name: String,
    files: Vec<PathBuf>,
}

/// What one command reported for one input.
#[derive(Debug)]
struct Seen {
    /// The final document of every alert, by `k8scop.id`.
    alerts: BTreeMap<String, Value>,
    /// (evaluated, malformed, skipped, duplicates).
    counts: (u64, u64, u64, u64),
    /// Script errors, shown when the two disagree.
    script_errors: u64,
}

/// `k8scop run` over `input`: alerts from stdout, counts from the summary on stderr.
fn run(rules: &[&Path], input: &Input) -> Seen {
    let mut args = vec!["run", "--output", "json", "--quiet"];
    for r in rules {
        args.extend(["--rules", arg(r)]);
    }
    for f in &input.files {
        args.extend(["--source", arg(f)]);
    }
    let out = k8scop(&args);
    assert_eq!(out.code, 0, "run over {}: {}", input.name, out.stderr);
    let mut alerts = BTreeMap::new();
    for line in out.stdout.lines() {
        let doc: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("run over {}: not JSON ({e}): {line}", input.name));
        let id = doc["k8scop"]["id"].as_str().expect("k8scop.id").to_owned();
        alerts.insert(id, doc);
    }
    // summary: 50 events in 0.59s (85/s); 0 malformed, 1 skipped, 1 duplicate, 0 script errors
    let summary = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .unwrap_or_else(|| panic!("run over {}: no summary in {}", input.name, out.stderr));
    let number_before = |word: &str| -> u64 {
        let at = summary
            .find(&format!(" {word}"))
            .unwrap_or_else(|| panic!("no `{word}` in `{summary}`"));
        let digits: String = summary[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.chars().rev().collect::<String>().parse().unwrap()
    };
    let counts = (
        number_before("event"),
        number_before("malformed"),
        number_before("skipped"),
        number_before("duplicate"),
    );
    let script_errors = number_before("script");
    Seen {
        alerts,
        counts,
        script_errors,
    }
}

/// `k8scop test-rule --events` over `input`: the JSON report.
fn test_rule(rules: &[&Path], input: &Input) -> Value {
    let mut args = vec!["test-rule"];
    args.extend(rules.iter().map(|r| arg(r)));
    for f in &input.files {
        args.extend(["--events", arg(f)]);
    }
    args.extend(["--format", "json"]);
    let out = k8scop(&args);
    assert_eq!(out.code, 0, "test-rule over {}: {}", input.name, out.stderr);
    out.json()
}

fn seen_by_test_rule(report: &Value) -> Seen {
    let alerts = report["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| (a["k8scop"]["id"].as_str().unwrap().to_owned(), a.clone()))
        .collect();
    let n = |key: &str| report["events"][key].as_u64().expect(key);
    let errors = report["errors"].as_array().expect("errors");
    Seen {
        alerts,
        counts: (
            n("evaluated"),
            n("malformed"),
            n("skipped"),
            n("duplicates"),
        ),
        script_errors: errors.iter().filter(|e| e["kind"] == "script").count() as u64,
    }
}

/// (id, rule, count) of every alert.
fn brief(seen: &Seen) -> Vec<(&str, &Value, &Value)> {
    seen.alerts
        .iter()
        .map(|(id, a)| (id.as_str(), &a["k8scop"]["rule"], &a["k8scop"]["count"]))
        .collect()
}

/// The files of `dir` that hold events, sorted.
fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "json" || e == "jsonl" || e == "log")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no event files in {}", dir.display());
    files
}

fn input(name: &str, files: Vec<PathBuf>) -> Input {
    Input {
        name: name.to_owned(),
        files,
    }
}

/// The inputs: the samples; with the shared data, every shape file as it is (pretty JSON, read
/// whole), all of them as one JSON lines file (as Elasticsearch returns documents: the same
/// requests in several shapes, so duplicates), the issue's Elastic Agent line shipped twice, and
/// a file with a malformed line and a document that is not an event.
fn inputs(scratch: &Path) -> Vec<Input> {
    let samples = root().join("rules/samples");
    let mut inputs = vec![
        input("attack sample", vec![samples.join("attack.jsonl")]),
        input("Falco traces", event_files(&samples.join("vendor/falco"))),
        input(
            "audit2rbac",
            event_files(&samples.join("vendor/audit2rbac")),
        ),
    ];
    let Some(data) = shared_data() else {
        return inputs;
    };
    let shapes = event_files(&data.join("es-shapes"));
    assert_eq!(shapes.len(), 15, "a new shape file: check it is covered");
    let mut as_lines = String::new();
    for file in &shapes {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        as_lines.push_str(&format!("{value}\n"));
        let name = file.file_stem().unwrap().to_string_lossy();
        inputs.push(input(&name, vec![file.clone()]));
    }
    let write = |name: &str, text: &str| {
        let path = scratch.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    inputs.push(input(
        "every shape as JSON lines",
        vec![write("shapes.jsonl", &as_lines)],
    ));
    let ecs: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("es-shapes/elastic_agent_kubernetes_audit_logs.json"))
            .unwrap(),
    )
    .unwrap();
    inputs.push(input(
        "an Elastic Agent line shipped twice",
        vec![write("ecs-twice.jsonl", &format!("{ecs}\n{ecs}\n"))],
    ));
    inputs.push(input(
        "malformed and not an event",
        vec![write(
            "problems.jsonl",
            &format!("{ecs}\n{{\"verb\": oops}}\n{{\"kind\": 0}}\n"),
        )],
    ));
    inputs
}

#[test]
fn run_test_rule_and_test_blocks_see_the_same_events() {
    let extra = rules_dir(&[("other-sources.rules", OTHER_SOURCES)]);
    let shipped = root().join("rules");
    let rules: [&Path; 2] = [&shipped, &extra];
    let scratch = rules_dir(&[]);
    let inputs = inputs(&scratch);

    // `run` and `test-rule --events`: the same alert documents and counts.
    let mut reports = Vec::new();
    let mut alerts = 0;
    for input in &inputs {
        let by_run = run(&rules, input);
        let report = test_rule(&rules, input);
        let by_test_rule = seen_by_test_rule(&report);
        let context = format!(
            "`run` (left) and `test-rule` (right) disagree over {} ({} and {} script errors)",
            input.name, by_run.script_errors, by_test_rule.script_errors
        );
        assert_eq!(
            by_run.counts, by_test_rule.counts,
            "{context}: (evaluated, malformed, skipped, duplicates)"
        );
        assert_eq!(brief(&by_run), brief(&by_test_rule), "{context}: alerts");
        for (id, alert) in &by_run.alerts {
            assert_eq!(
                Some(alert),
                by_test_rule.alerts.get(id),
                "{context}: alert {id}"
            );
        }
        assert!(by_run.counts.0 > 0, "no event evaluated in {}", input.name);
        alerts += by_run.alerts.len();
        reports.push(report);
    }
    // Not vacuous: the samples alone give 26 alerts, the shared data 15 more.
    let least = if inputs.len() > 3 { 41 } else { 26 };
    assert!(alerts >= least, "only {alerts} alerts over every input");

    // `test` blocks over the same files: one test per input, expecting what `test-rule` counted
    // for every rule and sequence.
    let mut text = String::new();
    for (input, report) in inputs.iter().zip(&reports) {
        text.push_str(&format!("test \"{}\" {{\n", input.name));
        for f in &input.files {
            text.push_str(&format!("    events file \"{}\"\n", arg(f)));
        }
        let detections = report["rules"].as_object().expect("rules");
        for (name, counts) in detections {
            text.push_str(&format!(
                "    expect {name} matches {}\n    expect {name} alerts {}\n",
                counts["matches"], counts["alerts"]
            ));
        }
        text.push_str("}\n\n");
    }
    let tests = rules_dir(&[("parity.rules", &text)]);
    let differences = test_block_differences(&[&shipped, &extra, &tests], &inputs, &reports);
    assert!(
        differences.is_empty(),
        "test blocks disagree with `test-rule --events`:\n{}",
        differences.join("\n")
    );
}

/// How the test blocks' results differ from what `test-rule --events` reported for each input.
fn test_block_differences(rules: &[&Path], inputs: &[Input], reports: &[Value]) -> Vec<String> {
    let mut args = vec!["test-rule"];
    args.extend(rules.iter().map(|r| arg(r)));
    args.extend(["--format", "json"]);
    let doc = k8scop(&args).json();
    let results: BTreeMap<&str, &Value> = doc["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t))
        .collect();
    let mut differences = Vec::new();
    for (input, report) in inputs.iter().zip(reports) {
        // The shipped ruleset's own tests run too; ours must all be there.
        let result = results
            .get(&*input.name)
            .unwrap_or_else(|| panic!("no test result for {}", input.name));
        if result["duplicates"] != report["duplicate_events"] {
            differences.push(format!(
                "{}: duplicates {} in the test, {} in test-rule",
                input.name, result["duplicates"], report["duplicate_events"]
            ));
        }
        let mut problems: Vec<&str> = report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "malformed" || e["kind"] == "skipped")
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        problems.sort_unstable();
        if problems.is_empty() {
            if result["passed"] != true {
                let failed: Vec<&Value> = result["checks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["passed"] != true)
                    .collect();
                differences.push(format!(
                    "{}: error {}, failed checks {failed:?}",
                    input.name, result["error"]
                ));
            }
        } else {
            // `run` reports and goes on; a test block fails, listing the same problems.
            let mut listed: Vec<&str> = result["error"].as_str().unwrap_or("").lines().collect();
            listed.sort_unstable();
            if result["passed"] != false || listed != problems {
                differences.push(format!(
                    "{}: passed {}, problems {listed:?}, where test-rule reported {problems:?}",
                    input.name, result["passed"]
                ));
            }
        }
    }
    differences
}
