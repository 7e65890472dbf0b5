use super::*;

/// An Elastic rule file (written for these tests) with `kind`, `language`, `query` and extra
/// `[rule]` lines.
fn rule_file(kind: &str, language: &str, query: &str, extra: &str) -> String {
    format!(
        r#"[metadata]
creation_date = "2024/01/01"

[rule]
author = ["Tester"]
description = "A test rule."
name = "Test {{Rule}}"
rule_id = "0000-1111"
severity = "high"
type = "{kind}"
language = "{language}"
query = '''
{query}
'''
{extra}
[[rule.threat]]
framework = "MITRE ATT&CK"
[[rule.threat.technique]]
id = "T1609"
name = "Container Administration Command"
[[rule.threat.technique.subtechnique]]
id = "T1609.001"
name = "Made up"
[rule.threat.tactic]
id = "TA0002"
name = "Execution"
"#
    )
}

fn import_one(text: &str) -> Import {
    import(&[Input {
        path: "rules/test_rule.toml",
        text,
    }])
}

/// The condition a query translates into, or why it does not.
fn when(query: &str) -> Result<String, String> {
    let query = kql::parse(query).map_err(|e| e.message)?;
    condition(&query).map(|c| c.render())
}

#[test]
fn ecs_and_audit_fields_read_the_audit_event() {
    for (query, expected) in [
        ("kubernetes.audit.verb:create", r#"verb == "create""#),
        ("event.action:(get or list)", r#"verb in ["get", "list"]"#),
        (
            r"user.name:system\:node\:*",
            r#"user.username startswith "system:node:""#,
        ),
        ("user_agent.original:*curl*", r#"userAgent contains "curl""#),
        (
            "kubernetes.audit.annotations.authorization_k8s_io/decision:allow",
            r#"annotations["authorization.k8s.io/decision"] == "allow""#,
        ),
        (
            "event.outcome:failure",
            r#"annotations["authorization.k8s.io/decision"] == "forbid""#,
        ),
        (
            r#"source.ip:(* and not ("::1" or 10.0.0.0/8))"#,
            r#"exists sourceIPs and not (sourceIPs == "::1" or sourceIPs cidr "10.0.0.0/8")"#,
        ),
        (
            "kubernetes.audit.requestObject.spec.hostPID:true and kubernetes.audit.responseStatus.code >= 400",
            "requestObject.spec.hostPID == true and responseStatus.code >= 400",
        ),
        (
            r#"kubernetes.audit.requestURI:*/exec?command=*sh*"#,
            r#"requestURI matches "^(?s:.*)/exec\\?command=(?s:.*)sh(?s:.*)$""#,
        ),
        (
            "kubernetes.audit.user.username:(a or not *)",
            r#"user.username == "a" or not exists user.username"#,
        ),
        // The dataset is that of every audit document: true, and dropped from a conjunction.
        (
            r#"data_stream.dataset:"kubernetes.audit_logs" and event.action:delete"#,
            r#"verb == "delete""#,
        ),
        (r#"event.dataset:"other""#, "false"),
    ] {
        assert_eq!(when(query).as_deref(), Ok(expected), "{query}");
    }
}

#[test]
fn what_does_not_translate_says_why() {
    for (query, reason) in [
        ("host.name:web-1", "`host.name` is not a field"),
        ("source.ip:10.*", "wildcard on the IP field"),
        ("event.dataset:kube*", "wildcard on `event.dataset`"),
        ("\"free text\"", "free text"),
    ] {
        let got = when(query).expect_err(query);
        assert!(got.contains(reason), "{query}: {got}");
    }
}

#[test]
fn a_query_rule_becomes_a_rule_with_its_metadata() {
    let out = import_one(&rule_file(
        "query",
        "kuery",
        "event.action:create and kubernetes.audit.objectRef.subresource:exec",
        "references = [\"https://example.com/a\"]\nfalse_positives = [\"Admins debugging.\"]",
    ));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.rules[0].outcome,
        Outcome::Imported(vec!["test_rule".into()])
    );
    assert_eq!(out.rules[0].id.as_deref(), Some("0000-1111"));
    let file = &out.files[0];
    assert_eq!(file.name, "test_rule.rules");
    for expected in [
        "# Elastic rule \"Test {Rule}\" (0000-1111), type query.",
        "# False positive: Admins debugging.",
        "rule test_rule {",
        "    title       \"Test {{Rule}}\"",
        "    severity    high",
        "    author      \"Tester\"",
        "    tags        [\"elastic:0000-1111\", \"mitre:T1609\", \"mitre:T1609.001\", \"attack:execution\"]",
        "    references  [\"https://example.com/a\"]",
        "    when        verb == \"create\" and objectRef.subresource == \"exec\"",
    ] {
        assert!(file.text.contains(expected), "no {expected:?} in\n{}", file.text);
    }
    let source = k8scop_grammar::SourceFile::new("test_rule.rules", file.text.as_str());
    assert!(k8scop_grammar::parse(&source).is_ok(), "{}", file.text);
}

#[test]
fn a_new_terms_rule_is_a_threshold_over_its_history_window() {
    let terms = "[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"user.name\", \"source.ip\"]\n\
                 [[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now-2w\"\n";
    let out = import_one(&rule_file("new_terms", "kuery", "event.action:list", terms));
    let text = &out.files[0].text;
    assert!(
        text.contains("    threshold   count < 2 within 14d by user.username, sourceIPs\n"),
        "{text}"
    );
    assert!(out.rules[0]
        .notes
        .iter()
        .any(|n| n.contains("new terms rule is a threshold")));
    let bad = terms.replace("now-2w", "now-1M");
    let out = import_one(&rule_file("new_terms", "kuery", "event.action:list", &bad));
    assert!(
        matches!(&out.rules[0].outcome, Outcome::Skipped(r) if r.contains("`now-1M`")),
        "{:?}",
        out.rules[0]
    );
}

#[test]
fn esql_and_files_that_are_not_rules_are_reported() {
    let out = import_one(&rule_file("esql", "esql", "from logs-* | grep a", ""));
    assert!(matches!(&out.rules[0].outcome, Outcome::Skipped(r) if r.contains("`GREP`")));
    let out = import_one(&rule_file("query", "kuery", "event.action:(get or", ""));
    assert!(
        matches!(&out.rules[0].outcome, Outcome::Skipped(r) if r.contains("line 1 of the query")),
        "{:?}",
        out.rules[0]
    );
    let out = import_one("[rule]\nname = \"x\"\n");
    assert!(out.rules.is_empty());
    assert_eq!(out.errors.len(), 1);
    assert!(
        out.errors[0].message.contains("not an Elastic rule file"),
        "{:?}",
        out.errors
    );
    let out = import_one("[rule\nname = 1");
    assert_eq!(out.errors[0].line, Some(1), "{:?}", out.errors);
}

#[test]
fn two_rules_of_one_name_get_two_names() {
    let text = rule_file("query", "kuery", "event.action:get", "");
    let out = import(&[
        Input {
            path: "a.toml",
            text: &text,
        },
        Input {
            path: "b.toml",
            text: &text,
        },
    ]);
    let names: Vec<_> = out.rules.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        names,
        [
            Outcome::Imported(vec!["test_rule".into()]),
            Outcome::Imported(vec!["test_rule_2".into()])
        ]
    );
}

/// The condition an EQL event query translates into, or why it does not.
fn eql_when(query: &str) -> Result<String, String> {
    match eql::parse(query).map_err(|e| e.message)? {
        eql::Query::Event(cond) => eql_condition(&cond).map(|c| c.render()),
        eql::Query::Sequence { .. } => Err("a sequence".into()),
    }
}

#[test]
fn eql_comparisons_read_the_audit_event() {
    for (query, expected) in [
        (
            r#"any where kubernetes.audit.verb in ("get", "list") and `kubernetes.audit.annotations.authorization_k8s_io/decision` == "allow""#,
            r#"verb in ["get", "list"] and annotations["authorization.k8s.io/decision"] == "allow""#,
        ),
        (
            r#"any where data_stream.dataset == "kubernetes.audit_logs" and user.name == null"#,
            "not exists user.username",
        ),
        (
            r#"any where kubernetes.audit.objectRef.name like "trident-controller-*""#,
            r#"objectRef.name startswith "trident-controller-""#,
        ),
        (
            r#"any where kubernetes.audit.requestURI like~ ("*/exec?c=*", "*attach*")"#,
            r#"requestURI matches "(?i)^(?s:.*)/exec(?s:.)c=(?s:.*)$" or requestURI icontains "attach""#,
        ),
        (
            r#"any where user.name : "System:Anonymous" and kubernetes.audit.verb != "get""#,
            r#"user.username matches "(?i)^System:Anonymous$" and not verb == "get""#,
        ),
        (
            r#"any where kubernetes.audit.responseStatus.code >= 400 and startsWith~(user_agent.original, "curl")"#,
            r#"responseStatus.code >= 400 and userAgent istartswith "curl""#,
        ),
        (
            r#"any where kubernetes.audit.objectRef.name regex "debug-[0-9]+" and event.outcome == "failure""#,
            r#"objectRef.name matches "(?s)^(?:debug-[0-9]+)$" and annotations["authorization.k8s.io/decision"] == "forbid""#,
        ),
        (
            r#"any where kubernetes.audit.verb not in ("get", "watch")"#,
            r#"not verb in ["get", "watch"]"#,
        ),
    ] {
        assert_eq!(eql_when(query).as_deref(), Ok(expected), "{query}");
    }
}

#[test]
fn an_eql_sequence_becomes_a_sequence_with_inline_steps() {
    let query = "sequence by user.name with maxspan=10m\n  [any where event.action == \"create\"]\n  \
                 [any where kubernetes.audit.objectRef.subresource == \"exec\"] by kubernetes.audit.impersonatedUser.username";
    let out = import_one(&rule_file("eql", "eql", query, ""));
    assert!(
        matches!(&out.rules[0].outcome, Outcome::Imported(names) if names == &["test_rule"]),
        "{:?}",
        out.rules[0]
    );
    let text = &out.files[0].text;
    for expected in [
        "sequence test_rule {",
        "    by          user.username\n",
        "    within      10m\n",
        "    steps       { verb == \"create\" and exists user.username }\n                -> { objectRef.subresource == \"exec\" and exists impersonatedUser.username } by impersonatedUser.username\n",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    let source = k8scop_grammar::SourceFile::new("test_rule.rules", text.as_str());
    assert!(k8scop_grammar::parse(&source).is_ok(), "{text}");
    let unbounded = "sequence by user.name [any where true] [any where true]";
    let out = import_one(&rule_file("eql", "eql", unbounded, ""));
    assert!(
        matches!(&out.rules[0].outcome, Outcome::Skipped(r) if r.contains("without `maxspan`")),
        "{:?}",
        out.rules[0]
    );
}

/// The rule an ES|QL query (with `from` as the look-back) imports as: its `when` and
/// `threshold` lines, or why it is skipped.
fn esql(query: &str, from: Option<&str>) -> Result<String, String> {
    let extra = from.map(|f| format!("from = \"{f}\"")).unwrap_or_default();
    let out = import_one(&rule_file("esql", "esql", query, &extra));
    match &out.rules[0].outcome {
        Outcome::Skipped(reason) => Err(reason.clone()),
        Outcome::Imported(_) => {
            let text = &out.files[0].text;
            let source = k8scop_grammar::SourceFile::new("test_rule.rules", text.as_str());
            assert!(k8scop_grammar::parse(&source).is_ok(), "{text}");
            // `when` over one line (the import wraps long ones), then `threshold`.
            let body = text.split("    when        ").nth(1).expect("a when");
            let body = body.trim_end().trim_end_matches('}');
            let (when, threshold) = match body.split_once("    threshold   ") {
                Some((when, threshold)) => (when, Some(threshold.trim())),
                None => (body, None),
            };
            let when = when.split_whitespace().collect::<Vec<_>>().join(" ");
            Ok(match threshold {
                Some(t) => format!("when        {when}\nthreshold   {t}"),
                None => format!("when        {when}"),
            })
        }
    }
}

#[test]
fn esql_where_is_a_rule_and_stats_a_threshold() {
    for (query, from, expected) in [
        (
            "FROM logs-* | WHERE kubernetes.audit.verb IN (\"get\", \"list\") AND user.name IS NOT NULL\n  AND NOT user.name LIKE \"system:*\" // humans\n| KEEP user.name",
            None,
            "when        verb in [\"get\", \"list\"] and exists user.username and not user.username startswith \"system:\"",
        ),
        (
            "from logs-* | where to_string(source.ip) not in (\"::1\") and user.name rlike \"adm.n\" and KQL(\"\"\" kubernetes.audit.objectRef.resource:secrets \"\"\")",
            None,
            "when        exists sourceIPs and not sourceIPs == \"::1\" and user.username matches \"(?s)^(?:adm.n)$\" and objectRef.resource == \"secrets\"",
        ),
        (
            "from logs-* | where event.action == \"delete\" | stats n = count(*), names = values(kubernetes.audit.objectRef.name) by user.name, kubernetes.audit.user.username | where n >= 5",
            None,
            "when        verb == \"delete\"\nthreshold   count >= 5 within 6m by user.username",
        ),
        (
            "from logs-* | where event.action == \"get\" | stats Esql.names = count_distinct(kubernetes.audit.objectRef.name) by source.ip | where Esql.names > 2",
            Some("now-10m"),
            "when        verb == \"get\"\nthreshold   distinct objectRef.name > 2 within 10m by sourceIPs",
        ),
        (
            "from logs-* | where event.action == \"get\" | stats first = MIN(@timestamp), n = COUNT(*) by user.name | where first >= NOW() - 9 minutes",
            Some("now-5d"),
            "when        verb == \"get\"\nthreshold   count < 2 within 5d by user.username",
        ),
    ] {
        assert_eq!(esql(query, from).as_deref(), Ok(expected), "{query}");
    }
}

#[test]
fn esql_that_does_not_translate_says_why() {
    for (query, reason) in [
        (
            "from logs-* | eval x = to_upper(user.name) | where x == \"A\"",
            "the field `x` that `EVAL` computes (`to_upper(user.name)`) does not translate",
        ),
        ("from logs-* | dissect user.name \"%{a}\"", "the ES|QL command `DISSECT`"),
        ("row a = 1", "does not start with `FROM`"),
        (
            "from logs-* | stats n = count(*), d = count_distinct(user.name) by kubernetes.audit.verb | where n > 1 and d > 1",
            "other than one comparison",
        ),
        (
            "from logs-* | stats s = sum(kubernetes.audit.responseStatus.code) by user.name | where s > 1",
            "`SUM(kubernetes.audit.responseStatus.code)` is not translated",
        ),
        ("from logs-* | where length(user.name) > 3", "the function `length`"),
    ] {
        let got = esql(query, None).expect_err(query);
        assert!(got.contains(reason), "{query}: {got}");
    }
}

/// The idiom of Elastic's exec rules (`URL_DECODE`, `GROK` of the query, `REPLACE`) is the exec
/// command, and a `DATE_TRUNC` bucket among the `BY` keys is the threshold's window.
#[test]
fn esql_exec_commands_and_time_buckets() {
    let exec = "FROM logs-* | WHERE kubernetes.audit.objectRef.subresource == \"exec\"\n\
        | EVAL decoded = URL_DECODE(kubernetes.audit.requestURI)\n\
        | GROK decoded \"%{DATA}/exec\\\\?%{DATA:raw}&(?:container|stdin|stdout|stderr)=%{GREEDYDATA}\"\n\
        | EVAL c = REPLACE(raw, \"command=\", \"\")\n| EVAL c = REPLACE(c, \"&\", \" \")\n\
        | WHERE c IS NOT NULL AND c RLIKE \".*curl.*\"\n\
        | EVAL label = CASE(c RLIKE \".*x.*\", \"x\", \"y\")";
    assert_eq!(
        esql(exec, None).as_deref(),
        Ok("when        objectRef.subresource == \"exec\" and len(uri_params(requestURI, \"command\")) > 0 and join(uri_params(requestURI, \"command\"), \" \") matches \"(?s)^(?:.*curl.*)$\"")
    );
    let bucketed = "from logs-* | eval t = date_trunc(5 minutes, @timestamp) | where event.action == \"list\"\n\
        | stats n = count_distinct(kubernetes.audit.objectRef.resource) by user.name, t | where n >= 4";
    assert_eq!(
        esql(bucketed, Some("now-1h")).as_deref(),
        Ok("when        verb == \"list\"\nthreshold   distinct objectRef.resource >= 4 within 5m by user.username")
    );
    // A `GROK` of something else does not translate.
    let other = "from logs-* | grok user.name \"%{WORD:first}\" | where first == \"a\"";
    assert!(
        esql(other, None).expect_err(other).contains("`GROK`"),
        "{other}"
    );
}

/// Review fixes: the keys of maps are one key, numbers compare as numbers and as text, `!=`
/// holds on a missing field, a CIDR on the address field, a new terms field must be there, and a
/// regular expression Rust cannot read skips the rule.
#[test]
fn map_keys_numbers_and_missing_values() {
    for (query, expected) in [
        (
            r"kubernetes.audit.user.extra.authentication.kubernetes.io/pod-name:trivy-*",
            r#"user.extra["authentication.kubernetes.io/pod-name"] startswith "trivy-""#,
        ),
        (
            "kubernetes.audit.requestObject.metadata.labels.app.kubernetes.io/name:web",
            r#"requestObject.metadata.labels["app.kubernetes.io/name"] == "web""#,
        ),
        (
            r#"kubernetes.audit.responseStatus.code:403 or kubernetes.audit.objectRef.name:"007""#,
            r#"responseStatus.code in [403, "403"] or objectRef.name in [007, "007"]"#,
        ),
    ] {
        assert_eq!(when(query).as_deref(), Ok(expected), "{query}");
    }
    // `1.` is no number of the rule language: it stays text.
    assert_eq!(
        when("kubernetes.audit.objectRef.name:1.").as_deref(),
        Ok(r#"objectRef.name == "1.""#)
    );
    assert_eq!(
        eql_when(r#"any where source.ip == "10.0.0.0/8" and kubernetes.audit.verb != "get" and kubernetes.audit.responseStatus.code > 5."#).as_deref(),
        Ok(r#"sourceIPs cidr "10.0.0.0/8" and not verb == "get" and responseStatus.code > 5"#)
    );
    let terms = "[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"user_agent.original\"]\n\
                 [[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now-1d\"\n";
    let out = import_one(&rule_file("new_terms", "kuery", "event.action:list", terms));
    assert!(
        out.files[0]
            .text
            .contains("    when        verb == \"list\" and exists userAgent\n"),
        "{}",
        out.files[0].text
    );
    let out = import_one(&rule_file(
        "eql",
        "eql",
        r#"any where user.name regex "a(?=b)""#,
        "",
    ));
    assert!(
        matches!(&out.rules[0].outcome, Outcome::Skipped(r) if r.contains("regular expression `a(?=b)`")),
        "{:?}",
        out.rules[0]
    );
}

/// A rule of another data source is skipped, saying which indices it reads.
#[test]
fn rules_of_other_data_sources_are_skipped() {
    let other = rule_file(
        "query",
        "kuery",
        "event.action:login",
        "index = [\"logs-okta*\"]",
    );
    let out = import_one(&other);
    assert!(
        matches!(&out.rules[0].outcome, Outcome::Skipped(r) if r.contains("reads `logs-okta*`, not Kubernetes")),
        "{:?}",
        out.rules[0]
    );
    let esql = rule_file(
        "esql",
        "esql",
        "from logs-endpoint.events.* | where event.action == \"x\"",
        "",
    );
    assert!(
        matches!(&import_one(&esql).rules[0].outcome, Outcome::Skipped(r) if r.contains("logs-endpoint.events.*"))
    );
    // Kubernetes indices, or the integration named in the metadata, are read.
    let k8s = rule_file(
        "query",
        "kuery",
        "event.action:get",
        "index = [\"logs-kubernetes.audit_logs-*\"]",
    );
    assert!(matches!(
        import_one(&k8s).rules[0].outcome,
        Outcome::Imported(_)
    ));
    let named = format!(
        "[metadata]\nintegration = [\"kubernetes\"]\n{}",
        other.replacen("[metadata]\n", "[unused]\n", 1)
    );
    assert!(
        matches!(import_one(&named).rules[0].outcome, Outcome::Imported(_)),
        "{named}"
    );
}

/// The parsers and the translation never panic, whatever the query: 20,000 queries of the
/// characters that matter to them (quotes, escapes, brackets, comments, operators, multi-byte
/// letters), each through KQL, EQL, an ES|QL `WHERE` and a whole ES|QL query.
#[test]
fn no_query_makes_the_import_panic() {
    const PIECES: &[&str] = &[
        "a",
        "b.c",
        "é",
        "日本",
        " ",
        "\n",
        "\\",
        "\"",
        "\"\"\"",
        "'",
        "`",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ":",
        "*",
        "?",
        "<",
        "<=",
        ">",
        "==",
        "!=",
        "~",
        "/*",
        "*/",
        "//",
        ",",
        "|",
        " and ",
        " or ",
        " not ",
        "not ",
        " in ",
        " like ",
        " regex ",
        " is null",
        " rlike ",
        "any where ",
        "sequence ",
        " by ",
        " with maxspan=",
        "5m",
        "1",
        "-2.5",
        "true",
        "null",
        "kubernetes.audit.verb",
        "user.name",
        "source.ip",
        "KQL(",
        "starts_with(",
        "stats ",
        "count(*)",
        "count_distinct(",
        " where ",
        "eval ",
        "grok ",
        "date_trunc(",
        "from x",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let len = (next() % 12) as usize;
        let query: String = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        if let Ok(q) = kql::parse(&query) {
            let _ = condition(&q);
        }
        if let Ok(eql::Query::Event(c)) = eql::parse(&query) {
            let _ = eql_condition(&c);
        }
        if let Ok(c) = eql::parse_condition(&query) {
            let _ = eql_condition(&c);
        }
        let rule = rule_file("esql", "esql", &format!("from logs-* | {query}"), "");
        // What is written always parses.
        for file in import_one(&rule).files {
            let source = k8scop_grammar::SourceFile::new("out.rules", file.text.as_str());
            assert!(
                k8scop_grammar::parse(&source).is_ok(),
                "{query}\n{}",
                file.text
            );
        }
    }
}

/// Second review: what ES|QL means where k8scop would otherwise read it another way is either
/// kept (nulls, escapes, several indices) or refused with a reason.
#[test]
fn esql_nulls_markers_replaces_and_conditions() {
    // `NOT`, `!=` on a missing field drop the row in ES|QL: the field is required.
    assert_eq!(
        esql("from logs-* | where kubernetes.audit.objectRef.namespace != \"a\" and not kubernetes.audit.objectRef.name like \"b\\\\*\"", None).as_deref(),
        Ok("when        exists objectRef.namespace and not objectRef.namespace == \"a\" and exists objectRef.name and not objectRef.name == \"b*\"")
    );
    for (query, reason) in [
        (
            "from logs-* | eval u = url_decode(kubernetes.audit.requestURI) | where u is not null",
            "a condition on the computed `u`",
        ),
        (
            "from logs-* | eval u = url_decode(kubernetes.audit.requestURI) | grok u \"%{DATA}/exec\\\\?%{DATA:raw}&(?:container)=%{GREEDYDATA}\" | where raw rlike \".*sh.*\"",
            "a condition on the computed `raw`",
        ),
        (
            "from logs-* | eval u = url_decode(kubernetes.audit.requestURI) | grok u \"%{DATA}/exec\\\\?%{DATA:raw}&(?:container)=%{GREEDYDATA}\" | eval c = replace(raw, \"https\", \"\") | where c rlike \".*https.*\"",
            "the field `c` that `EVAL` computes",
        ),
        (
            "from logs-* | stats first = min(@timestamp), n = count(*) by user.name | where first >= now() - 9 minutes and n >= 100",
            "does not translate",
        ),
        (
            "from logs-* | stats n = count(*) by user.name | where n < 50",
            "other than `>=` or `>`",
        ),
    ] {
        let got = esql(query, None).expect_err(query);
        assert!(got.contains(reason), "{query}: {got}");
    }
    let several = rule_file(
        "esql",
        "esql",
        "FROM logs-okta*, logs-kubernetes.audit_logs-* METADATA _id | WHERE event.action == \"get\"",
        "",
    );
    assert!(matches!(
        import_one(&several).rules[0].outcome,
        Outcome::Imported(_)
    ));
}
