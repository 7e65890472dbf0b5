use super::*;

fn one(text: &str) -> Import {
    import(&[Input {
        path: "rules/k8s_test.yml",
        text,
    }])
}

const DETECTION: &str = r#"
title: Pod Exec {weird}
id: 1234
status: test
author: Ann Author
description: |
    Two
    lines.
references:
    - https://example.com/a
tags:
    - attack.execution
    - attack.t1609
    - cve.2024-1
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        verb: create
        objectRef.subresource: exec
    filter:
        user.username|startswith: 'system:'
    condition: selection and not filter
falsepositives:
    - Debugging
level: high
"#;

#[test]
fn a_detection_rule_keeps_its_metadata_and_author() {
    let out = one(DETECTION);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.files.len(), 1);
    assert_eq!(out.files[0].name, "k8s_test.rules");
    let text = &out.files[0].text;
    for expected in [
        "rule k8s_test {",
        r#"title       "Pod Exec {{weird}}""#,
        "severity    high",
        r#"description "Two lines.""#,
        r#"author      "Ann Author""#,
        r#"tags        ["sigma:1234", "attack:execution", "mitre:T1609", "cve:2024-1"]"#,
        r#"references  ["https://example.com/a"]"#,
        "when        verb matches \"(?i)^create$\"\n                and objectRef.subresource matches \"(?i)^exec$\"\n                and not user.username istartswith \"system:\"\n}",
        "# False positive: Debugging",
        "# Author: Ann Author.",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert_eq!(
        out.rules[0].outcome,
        Outcome::Imported(vec!["k8s_test".into()])
    );
}

#[test]
fn other_log_sources_and_bad_parts_are_skipped_with_the_reason() {
    let out = one(&DETECTION.replace("service: audit", "service: apiserver"));
    let Outcome::Skipped(reason) = &out.rules[0].outcome else {
        panic!("imported: {:?}", out.rules[0]);
    };
    assert!(reason.contains("not the Kubernetes audit log"), "{reason}");
    assert!(out.files.is_empty());

    let out = one(&DETECTION.replace("verb: create", "verb|expand: '%x%'"));
    let Outcome::Skipped(reason) = &out.rules[0].outcome else {
        panic!("imported: {:?}", out.rules[0]);
    };
    assert!(
        reason.starts_with("selection `selection`: ") && reason.contains("pipeline"),
        "{reason}"
    );
}

#[test]
fn invalid_yaml_names_file_and_line() {
    let out = one("title: x\ndetection: [\n");
    assert_eq!(out.errors.len(), 1);
    let e = out.errors[0].to_string();
    assert!(
        e.starts_with("rules/k8s_test.yml:") && e.contains("not valid YAML"),
        "{e}"
    );
    let out = one("title: x\nlogsource: {}\n");
    assert!(out.errors[0]
        .to_string()
        .contains("neither `detection` nor `correlation`"));
}

const CORRELATED: &str = r#"
title: Secret read
name: secret_read
author: Reader
logsource: {product: kubernetes, service: audit}
detection:
    sel:
        verb: [get, list]
        objectRef.resource: secrets
    condition: sel
---
title: Exec
name: exec
author: Execer
logsource: {product: kubernetes, service: audit}
detection:
    sel: {objectRef.subresource: exec}
    condition: sel
---
title: Many secret reads
author: Counter
correlation:
    type: event_count
    rules: secret_read
    group-by: [user.username]
    timespan: 10m
    condition: {gte: 5}
level: high
---
title: Secrets in many namespaces
correlation:
    type: value_count
    rules: [secret_read]
    group-by: [user.username]
    timespan: 1h
    condition: {field: objectRef.namespace, gt: 2}
    generate: true
---
title: Read then exec
name: read_then_exec
correlation:
    type: temporal_ordered
    rules: [secret_read, exec]
    group-by: [user.username]
    timespan: 1w
---
title: Both
correlation:
    type: temporal
    rules: [secret_read, exec]
    group-by: [user.username]
    timespan: 5m
    condition: {gte: 2}
"#;

#[test]
fn correlations_become_thresholds_and_sequences() {
    let out = one(CORRELATED);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let text = &out.files[0].text;
    for expected in [
        "rule secret_read {",
        "threshold   count >= 5 within 10m by user.username",
        "threshold   distinct objectRef.namespace > 2 within 1h by user.username",
        "sequence read_then_exec {",
        "within      7d",
        "steps       secret_read -> exec",
        "sequence k8s_test_6 {",
        "steps       all of secret_read, exec",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // The report says where an imported correlation fires differently from a Sigma engine.
    let notes = |title: &str| -> Vec<String> {
        let report = out.rules.iter().find(|r| r.title == title).expect(title);
        report.notes.clone()
    };
    assert!(notes("Many secret reads")[0].contains("sliding window"));
    assert!(notes("Read then exec")[0].contains("uses its events up"));
    assert_eq!(notes("Both").len(), 1);
    // DRL 1.1: a correlation's alerts name the authors of the rules it is built on, after its
    // own, each once.
    let author_of = |name: &str| -> String {
        let block = text
            .split(&format!(" {name} {{"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in\n{text}"));
        let line = block.lines().find(|l| l.contains("author")).unwrap_or("");
        line.trim().to_owned()
    };
    assert_eq!(author_of("k8s_test_3"), r#"author      "Counter, Reader""#);
    assert_eq!(author_of("k8s_test_4"), r#"author      "Reader""#);
    assert_eq!(
        author_of("read_then_exec"),
        r#"author      "Reader, Execer""#
    );
    assert_eq!(author_of("k8s_test_6"), r#"author      "Reader, Execer""#);
    assert!(
        text.contains("# Built on the Sigma rules \"Secret read\" (Reader), \"Exec\" (Execer).\n"),
        "{text}"
    );
    // generate: true in one of the correlations using secret_read: it keeps its alerts; exec
    // is only used with the default generate: false.
    let exec = text.split("rule exec {").nth(1).unwrap();
    assert!(exec
        .split('}')
        .next()
        .unwrap()
        .contains("enabled     false"));
    let read = text.split("rule secret_read {").nth(1).unwrap();
    assert!(!read.split('}').next().unwrap().contains("enabled"));
}

/// Every comparison of Sigma's correlation conditions, alone or several making a range, becomes
/// the same comparison of a threshold, in rules that parse (`imported_correlations_fire_where_rsigma_fires`
/// in rsigma-parity runs them).
#[test]
fn every_count_condition_becomes_a_threshold_comparison() {
    for (condition, expected) in [
        ("{lt: 5}", "count < 5"),
        ("{lte: 5}", "count <= 5"),
        ("{eq: 5}", "count == 5"),
        ("{neq: 5}", "count != 5"),
        ("{gte: 2, lte: 10}", "count >= 2 and <= 10"),
        ("{gt: 1, lt: 4, neq: 2}", "count > 1 and < 4 and != 2"),
    ] {
        let out =
            one(&CORRELATED.replace("condition: {gte: 5}", &format!("condition: {condition}")));
        assert!(out.errors.is_empty(), "{condition}: {:?}", out.errors);
        let text = &out.files[0].text;
        let line = format!("threshold   {expected} within 10m by user.username");
        assert!(
            text.contains(&line),
            "{condition}: missing {line:?} in\n{text}"
        );
        let file = k8scop_grammar::SourceFile::new("imported.rules", text.as_str());
        let parsed = k8scop_grammar::parse(&file);
        assert!(
            parsed.is_ok(),
            "{condition}: the imported rules do not parse"
        );
    }
    let out = one(&CORRELATED.replace("condition: {gte: 5}", "condition: {field: x}"));
    let report = report_of(&out, "Many secret reads");
    assert!(
        matches!(&report.outcome, Outcome::Skipped(reason) if reason.contains("no comparison")),
        "{:?}",
        report.outcome
    );
}

/// `value_sum`, `value_avg` and `value_median` become `sum`, `avg` and `median` thresholds of the
/// condition's field, and `value_percentile` a `percentile P` threshold.
#[test]
fn sums_means_and_medians_become_thresholds_of_their_field() {
    let numeric = |kind: &str| {
        CORRELATED.replace(
            "    type: value_count\n    rules: [secret_read]\n    group-by: [user.username]\n    timespan: 1h\n    condition: {field: objectRef.namespace, gt: 2}",
            &format!("    type: {kind}\n    rules: [secret_read]\n    group-by: [user.username]\n    timespan: 1h\n    condition: {{field: responseObject.spec.replicas, gte: 20, lt: 100}}"),
        )
    };
    for (kind, expected) in [
        ("value_sum", "sum"),
        ("value_avg", "avg"),
        ("value_median", "median"),
    ] {
        let out = one(&numeric(kind));
        assert!(out.errors.is_empty(), "{kind}: {:?}", out.errors);
        let text = &out.files[0].text;
        let line = format!(
            "threshold   {expected} responseObject.spec.replicas >= 20 and < 100 within 1h by user.username"
        );
        assert!(text.contains(&line), "{kind}: missing {line:?} in\n{text}");
        let file = k8scop_grammar::SourceFile::new("imported.rules", text.as_str());
        assert!(k8scop_grammar::parse(&file).is_ok(), "{text}");
        let report = report_of(&out, "Secrets in many namespaces");
        let no_number_noted = report.notes.iter().any(|n| n.contains("no mean or median"));
        assert_eq!(
            no_number_noted,
            kind != "value_sum",
            "{kind}: {:?}",
            report.notes
        );
    }
    let out = one(&numeric("value_sum").replace("field: responseObject.spec.replicas, ", ""));
    let skipped = out.rules.iter().find_map(|r| match &r.outcome {
        Outcome::Skipped(reason) => Some(reason.clone()),
        _ => None,
    });
    assert!(
        skipped
            .as_deref()
            .is_some_and(|r| r.contains("`value_sum` condition needs `field`")),
        "{skipped:?}"
    );
    // value_percentile: the condition's `percentile`, the 50th without one (as rsigma), and
    // nothing above the 100th.
    for (percentile, expected) in [
        ("percentile: 95, ", Ok("percentile 95")),
        ("", Ok("percentile 50")),
        ("percentile: 101, ", Err("from 0 to 100")),
    ] {
        let text = numeric("value_percentile").replace(
            "condition: {field: responseObject",
            &format!("condition: {{{percentile}field: responseObject"),
        );
        let out = one(&text);
        let skipped = out.rules.iter().find_map(|r| match &r.outcome {
            Outcome::Skipped(reason) => Some(reason.clone()),
            _ => None,
        });
        match expected {
            Ok(reduce) => {
                assert_eq!(skipped, None, "{percentile}");
                let line = format!(
                    "threshold   {reduce} responseObject.spec.replicas >= 20 and < 100 within 1h"
                );
                let imported = &out.files[0].text;
                assert!(imported.contains(&line), "no {line:?} in\n{imported}");
                let file = k8scop_grammar::SourceFile::new("imported.rules", imported.as_str());
                assert!(k8scop_grammar::parse(&file).is_ok(), "{imported}");
            }
            Err(reason) => assert!(
                skipped.as_deref().is_some_and(|r| r.contains(reason)),
                "{percentile}: {skipped:?}"
            ),
        }
    }
}

/// A temporal correlation's `aliases` key each step by its rule's own fields, in group-by order,
/// and the sequence has no `by`; a rule the alias does not name uses the alias as its field (as
/// rsigma does). A threshold's aliases are reported.
#[test]
fn aliases_key_each_step_by_its_rules_fields() {
    let aliased = CORRELATED.replace(
        "    rules: [secret_read, exec]\n    group-by: [user.username]\n    timespan: 1w",
        "    rules: [secret_read, exec]\n    group-by: [reader, objectRef.namespace]\n    timespan: 1w\n    aliases:\n        reader:\n            secret_read: user.username\n            exec: impersonatedUser.username",
    );
    let out = one(&aliased);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let text = &out.files[0].text;
    let sequence = text.split("sequence read_then_exec {").nth(1).expect(text);
    let sequence = sequence.split('}').next().unwrap();
    assert!(
        sequence.contains("steps       secret_read by [user.username, objectRef.namespace] -> exec by [impersonatedUser.username, objectRef.namespace]"),
        "{sequence}"
    );
    assert!(!sequence.contains("    by "), "{sequence}");
    let file = k8scop_grammar::SourceFile::new("imported.rules", text.as_str());
    assert!(k8scop_grammar::parse(&file).is_ok(), "{text}");
    let report = report_of(&out, "Read then exec");
    assert!(
        report.notes.iter().any(|n| n.contains("aliases")),
        "{:?}",
        report.notes
    );

    // One group-by field, and a rule the alias leaves out.
    let partial = CORRELATED.replace(
        "    rules: [secret_read, exec]\n    group-by: [user.username]\n    timespan: 1w",
        "    rules: [secret_read, exec]\n    group-by: [who]\n    timespan: 1w\n    aliases:\n        who:\n            exec: impersonatedUser.username",
    );
    let out = one(&partial);
    let text = &out.files[0].text;
    assert!(
        text.contains("steps       secret_read by who -> exec by impersonatedUser.username"),
        "{text}"
    );
    let report = report_of(&out, "Read then exec");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("the alias `who` names no field of the rule `secret_read`")),
        "{:?}",
        report.notes
    );

    // Aliases without a group-by key nothing.
    let ungrouped = CORRELATED.replace(
        "    rules: [secret_read, exec]\n    group-by: [user.username]\n    timespan: 1w",
        "    rules: [secret_read, exec]\n    timespan: 1w\n    aliases:\n        who:\n            exec: impersonatedUser.username",
    );
    let out = one(&ungrouped);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let text = &out.files[0].text;
    assert!(text.contains("steps       secret_read -> exec\n"), "{text}");
    let report = report_of(&out, "Read then exec");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("`aliases` without `group-by`"))
            && !report
                .notes
                .iter()
                .any(|n| n.contains("each step is keyed")),
        "{:?}",
        report.notes
    );

    let counted = CORRELATED.replace(
        "    group-by: [user.username]\n    timespan: 10m",
        "    group-by: [who]\n    timespan: 10m\n    aliases:\n        who:\n            secret_read: user.username",
    );
    let out = one(&counted);
    let skipped = out.rules.iter().find_map(|r| match &r.outcome {
        Outcome::Skipped(reason) => Some(reason.clone()),
        _ => None,
    });
    assert!(
        skipped
            .as_deref()
            .is_some_and(|r| r.contains("`aliases` are translated for `temporal`")),
        "{skipped:?}"
    );
}

/// A temporal correlation may use a threshold correlation as a step (its hits make the step
/// happen), which then raises no alerts of its own under `generate: false`; the alerts name the
/// authors of the rules under both. Other correlations of correlations are reported.
#[test]
fn a_temporal_correlation_of_a_threshold_correlation() {
    let text = CORRELATED.replace(
        "title: Many secret reads\nauthor: Counter",
        "title: Many secret reads\nname: many_reads\nauthor: Counter",
    ) + "---
title: Many reads then exec
name: many_reads_then_exec
author: Chainer
correlation:
    type: temporal_ordered
    rules: [many_reads, exec]
    group-by: [user.username]
    timespan: 30m
---
title: Count the chains
correlation:
    type: event_count
    rules: [read_then_exec]
    group-by: [user.username]
    timespan: 1h
    condition: {gte: 2}
";
    let out = one(&text);
    let imported = &out.files[0].text;
    let sequence = imported
        .split("sequence many_reads_then_exec {")
        .nth(1)
        .expect(imported);
    let sequence = sequence.split('}').next().unwrap();
    assert!(
        sequence.contains("steps       many_reads -> exec"),
        "{sequence}"
    );
    assert!(
        sequence.contains(r#"author      "Chainer, Counter, Reader, Execer""#),
        "{sequence}"
    );
    let many_reads = imported.split("rule many_reads {").nth(1).expect(imported);
    let many_reads = many_reads.split('}').next().unwrap();
    assert!(many_reads.contains("enabled     false"), "{many_reads}");
    assert!(
        many_reads.contains("threshold   count >= 5"),
        "{many_reads}"
    );
    let file = k8scop_grammar::SourceFile::new("imported.rules", imported.as_str());
    assert!(k8scop_grammar::parse(&file).is_ok(), "{imported}");
    let report = |title: &str| out.rules.iter().find(|r| r.title == title).unwrap();
    assert!(report("Many secret reads")
        .notes
        .iter()
        .any(|n| n.contains("enabled false")));
    assert!(
        matches!(&report("Count the chains").outcome, Outcome::Skipped(reason) if reason.contains("only a `temporal` or `temporal_ordered` correlation of")),
        "{:?}",
        report("Count the chains").outcome
    );
}

#[test]
fn unknown_references_are_reported() {
    let out = one(&CORRELATED.replace("rules: secret_read", "rules: nope"));
    let skipped: Vec<_> = out
        .rules
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Skipped(reason) => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].contains("`nope`"));
}

/// A `temporal` condition of N rules is `steps N of ...`; every rule is `all of`; other
/// comparisons and expressions are reported. A `temporal_ordered` one needs every rule.
#[test]
fn a_temporal_condition_is_how_many_of_the_rules() {
    let imported = |text: &str, condition: &str| -> Result<String, String> {
        let out = one(&text.replace("condition: {gte: 2}", condition));
        let skipped = out.rules.iter().find_map(|r| match &r.outcome {
            Outcome::Skipped(reason) => Some(reason.clone()),
            _ => None,
        });
        match skipped {
            Some(reason) => Err(reason),
            None => Ok(out.files[0].text.clone()),
        }
    };
    for (condition, steps) in [
        (
            "condition: {gte: 2}",
            "steps       all of secret_read, exec",
        ),
        ("condition: {gt: 1}", "steps       all of secret_read, exec"),
        ("condition: {gte: 1}", "steps       1 of secret_read, exec"),
        ("condition: {gt: 0}", "steps       1 of secret_read, exec"),
    ] {
        let text = imported(CORRELATED, condition).unwrap_or_else(|e| panic!("{condition}: {e}"));
        assert!(text.contains(steps), "{condition}: no {steps:?} in\n{text}");
        let file = k8scop_grammar::SourceFile::new("imported.rules", text.as_str());
        assert!(k8scop_grammar::parse(&file).is_ok(), "{text}");
    }
    for (condition, reason) in [
        ("condition: {gte: 3}", "3 of its 2 rules never holds"),
        ("condition: {gte: 0}", "0 rules"),
        ("condition: {lte: 1}", "`<= 1` is not translated"),
        ("condition: 'secret_read or exec'", "expression"),
    ] {
        let skipped = imported(CORRELATED, condition).expect_err(condition);
        assert!(skipped.contains(reason), "{condition}: {skipped}");
    }
    // Steps in order are every rule.
    let ordered = CORRELATED.replace(
        "    rules: [secret_read, exec]\n    group-by: [user.username]\n    timespan: 1w",
        "    rules: [secret_read, exec]\n    group-by: [user.username]\n    timespan: 1w\n    condition: {gte: 2}",
    );
    assert!(imported(&ordered, "condition: {gte: 2}").is_ok());
    // Fewer than all is every rule in order, as rsigma counts it, with a note.
    let one_of = ordered.replacen("condition: {gte: 2}", "condition: {gte: 1}", 1);
    let out = one(&one_of);
    let text = &out.files[0].text;
    assert!(text.contains("steps       secret_read -> exec\n"), "{text}");
    let report = report_of(&out, "Read then exec");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("`temporal_ordered` condition of 1 of its 2 rules holds")),
        "{:?}",
        report.notes
    );
    for (condition, reason) in [
        (
            "condition: {gte: 0}",
            "`temporal_ordered` condition of 0 rules",
        ),
        ("condition: {gte: 3}", "3 of its 2 rules never holds"),
    ] {
        let written = ordered.replacen("condition: {gte: 2}", condition, 1);
        let skipped = imported(&written, "condition: {gte: 2}").expect_err(condition);
        assert!(skipped.contains(reason), "{condition}: {skipped}");
    }
}

#[test]
fn a_rule_does_not_take_the_name_of_a_stdlib_function() {
    let out = import(&[Input {
        path: "sigma/hour.yml",
        text: DETECTION,
    }]);
    assert_eq!(
        out.rules[0].outcome,
        Outcome::Imported(vec!["hour_2".into()])
    );
}

/// A temporal correlation without `group-by` is a sequence without `by` (one key for all
/// events), and the report says so (`imported_correlations_fire_where_rsigma_fires` in
/// rsigma-parity runs one).
#[test]
fn a_temporal_correlation_without_group_by_is_a_sequence_without_by() {
    let text = CORRELATED.replace(
        "    rules: [secret_read, exec]\n    group-by: [user.username]\n    timespan: 1w",
        "    rules: [secret_read, exec]\n    timespan: 1w",
    );
    let out = one(&text);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let written = &out.files[0].text;
    let sequence = written
        .split("sequence read_then_exec {")
        .nth(1)
        .and_then(|s| s.split('}').next())
        .unwrap_or_else(|| panic!("no read_then_exec in\n{written}"));
    assert!(
        sequence.contains("steps       secret_read -> exec"),
        "{sequence}"
    );
    assert!(!sequence.contains(" by "), "{sequence}");
    let report = report_of(&out, "Read then exec");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("without `group-by`")),
        "{:?}",
        report.notes
    );
    let file = k8scop_grammar::SourceFile::new("imported.rules", written.as_str());
    assert!(k8scop_grammar::parse(&file).is_ok(), "{written}");
}

/// The report of the rule titled `title`.
fn report_of<'a>(out: &'a Import, title: &str) -> &'a RuleReport {
    out.rules
        .iter()
        .find(|r| r.title == title)
        .unwrap_or_else(|| panic!("no rule {title:?} in {:?}", out.rules))
}
