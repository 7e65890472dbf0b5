//! docs/rules/coverage.md against the rules it maps and the events it names: every rule of
//! Falco's k8saudit set, SigmaHQ's Kubernetes rules and Elastic's Kubernetes rules (read from
//! ../shared/data) has a row, every k8scop rule named exists in the shipped ruleset, and the
//! shipped rules give, on each of Falco's 47 trace files, what the table's last section says:
//! the attack and activity traces fire the k8scop rules named for them, no trace fires a rule
//! named as staying quiet, and the malformed one is rejected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::{arg, k8scop, root, shared_data};

/// The rows of the Markdown table under the `## TITLE` heading: one `Vec` of cells per row.
fn table(page: &str, heading: &str) -> Vec<Vec<String>> {
    let start = page
        .lines()
        .position(|l| l == heading)
        .unwrap_or_else(|| panic!("coverage.md has no `{heading}` section"));
    let rows: Vec<Vec<String>> = page
        .lines()
        .skip(start + 1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and the `|---|` line
        .map(|l| {
            let inner = l.trim().trim_start_matches('|').trim_end_matches('|');
            split_cells(inner)
        })
        .collect();
    assert!(
        !rows.is_empty(),
        "the `{heading}` table of coverage.md is empty"
    );
    rows
}

/// Splits a table row at `|`, except `\|`.
fn split_cells(row: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(c),
        }
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// The rule names linked in a cell: "[`pod_exec`](pod_exec.md), ..." gives `pod_exec`.
fn linked_rules(cell: &str) -> Vec<String> {
    cell.split("[`")
        .skip(1)
        .map(|part| part.split('`').next().unwrap_or_default().to_owned())
        .collect()
}

fn coverage_page() -> String {
    let path = root().join("docs/rules/coverage.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every rule and sequence of the shipped ruleset, as `test-rule --format json` lists them.
fn shipped_detections() -> BTreeSet<String> {
    let run = k8scop(&[
        "test-rule",
        "rules",
        "--events",
        "rules/samples/attack.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let names: BTreeSet<String> = run.json()["rules"]
        .as_object()
        .expect("a `rules` object")
        .keys()
        .cloned()
        .collect();
    assert!(names.len() >= 68, "only {} detections shipped", names.len());
    names
}

fn falco_rule_names(data: &Path) -> BTreeSet<String> {
    let path = data.join("falco-k8saudit/rules-v0.18.0/k8s_audit_rules.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let items: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(&text).unwrap();
    items
        .iter()
        .filter_map(|item| item.get("rule")?.as_str().map(str::to_owned))
        .collect()
}

/// Sigma rules by id: (id, title).
fn sigma_rules(data: &Path) -> BTreeMap<String, String> {
    let mut rules = BTreeMap::new();
    for entry in std::fs::read_dir(data.join("sigma-k8s")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yml") {
            continue;
        }
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let id = doc["id"]
            .as_str()
            .expect("a Sigma rule has an id")
            .to_owned();
        let title = doc["title"].as_str().expect("a Sigma rule has a title");
        rules.insert(id, title.to_owned());
    }
    rules
}

/// The `name` of the `[rule]` table of each Elastic TOML file.
fn elastic_rule_names(data: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(data.join("elastic-k8s-rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let rule = text
            .split("\n[rule]\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{}: no [rule] table", path.display()));
        let name = rule
            .lines()
            .take_while(|l| !l.starts_with('['))
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{}: no rule name", path.display()));
        names.insert(name.to_owned());
    }
    names
}

#[test]
fn every_falco_sigma_and_elastic_rule_has_a_row_naming_shipped_rules() {
    let Some(data) = shared_data() else { return };
    let page = coverage_page();
    let shipped = shipped_detections();
    let mut named = BTreeSet::new();

    let falco = table(&page, "## Falco k8saudit rules (48)");
    let rows: BTreeSet<String> = falco.iter().map(|r| r[0].clone()).collect();
    assert_eq!(rows, falco_rule_names(&data), "Falco rules and table rows");
    assert_eq!(falco.len(), 48);
    for row in &falco {
        let rules = linked_rules(&row[1]);
        // Only Falco's debugging rule that matches every event has no k8scop rule.
        if row[0] != "All K8s Audit Events" {
            assert!(!rules.is_empty(), "no k8scop rule for Falco's {:?}", row[0]);
        }
        named.extend(rules);
    }

    let sigma = table(&page, "## SigmaHQ Kubernetes audit rules (16)");
    let rows: BTreeMap<String, String> = sigma
        .iter()
        .map(|r| (r[1].trim_matches('`').to_owned(), r[0].clone()))
        .collect();
    assert_eq!(
        rows,
        sigma_rules(&data),
        "Sigma rules (id -> title) and table rows"
    );
    for row in &sigma {
        let rules = linked_rules(&row[2]);
        assert!(!rules.is_empty(), "no k8scop rule for Sigma's {:?}", row[0]);
        named.extend(rules);
    }

    let elastic = table(&page, "## Elastic Kubernetes detection rules (45)");
    let rows: BTreeSet<String> = elastic.iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        rows,
        elastic_rule_names(&data),
        "Elastic rules and table rows"
    );
    for row in &elastic {
        let rules = linked_rules(&row[1]);
        assert!(
            !rules.is_empty(),
            "no k8scop rule for Elastic's {:?}",
            row[0]
        );
        named.extend(rules);
    }

    let unknown: Vec<&String> = named.iter().filter(|n| !shipped.contains(*n)).collect();
    assert!(
        unknown.is_empty(),
        "coverage.md names rules that are not shipped: {unknown:?}"
    );
    // Every linked name has its generated page next to coverage.md.
    for name in &named {
        let page = root().join(format!("docs/rules/{name}.md"));
        assert!(page.is_file(), "{} is missing", page.display());
    }
}

#[test]
fn each_falco_trace_fires_the_rules_the_coverage_table_names() {
    let Some(data) = shared_data() else { return };
    let page = coverage_page();
    let rows = table(&page, "## Falco's 47 trace files");
    let dir = data.join("falco-k8saudit/traces");
    let mut files: BTreeSet<String> = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        files.insert(entry.unwrap().file_name().to_string_lossy().into_owned());
    }
    assert_eq!(
        files.len(),
        47,
        "the traces folder is not what this test knows"
    );
    let listed: BTreeSet<String> = rows
        .iter()
        .map(|r| r[0].trim_matches('`').to_owned())
        .collect();
    assert_eq!(listed, files, "coverage.md lists exactly the trace files");

    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for row in &rows {
        let file = row[0].trim_matches('`');
        let class = row[2].as_str();
        *classes.entry(class).or_default() += 1;
        let must_fire = linked_rules(&row[3]);
        let must_not = linked_rules(&row[4]);
        let path = dir.join(file);
        let run = k8scop(&[
            "test-rule",
            "rules",
            "--events",
            arg(&path),
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        let doc = run.json();
        if class == "malformed" {
            let errors = doc["errors"].to_string();
            assert!(
                errors.contains("not a Kubernetes audit event"),
                "{file} is not rejected: {errors}"
            );
            assert_eq!(doc["events"]["evaluated"], 0, "{file}");
            continue;
        }
        assert!(
            matches!(class, "attack" | "activity" | "benign"),
            "{file}: unknown class {class:?}"
        );
        if class != "benign" {
            assert!(
                !must_fire.is_empty(),
                "{file}: an {class} trace names no rule to fire"
            );
        }
        assert!(
            class != "benign" || must_fire.is_empty(),
            "{file}: a benign trace names rules to fire"
        );
        let fired: BTreeSet<String> = doc["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter_map(|a| a["k8scop"]["rule"].as_str().map(str::to_owned))
            .collect();
        for rule in &must_fire {
            if !fired.contains(rule) {
                failures.push(format!(
                    "{file} ({class}): `{rule}` did not fire; fired: {fired:?}"
                ));
            }
        }
        for rule in &must_not {
            if fired.contains(rule) {
                failures.push(format!("{file} ({class}): `{rule}` fired"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Not vacuous: the table's classes are Falco's test suite's.
    assert_eq!(
        classes,
        BTreeMap::from([
            ("activity", 15),
            ("attack", 23),
            ("benign", 8),
            ("malformed", 1)
        ]),
    );
}
