//! Syntax trees: every construct of the language, with the spans the compiler labels.

mod common;

use common::{
    condition, parse_err, parse_ok, render_all, rule, sequence, sexp, show_expr, tests, text_of,
    LANGUAGE_EXAMPLE,
};
use k8scop_grammar::ast::{
    CmpOp, CountCmp, Expect, ExprKind, Item, ListItem, LiteralValue, Operand, SegmentKind,
    Severity, Step, TestEvents, ThresholdKind,
};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// The reference example

#[test]
fn language_example_parses_into_the_expected_items() {
    let file = parse_ok(LANGUAGE_EXAMPLE);
    let kinds: Vec<String> = file
        .items
        .iter()
        .map(|item| match item {
            Item::List(l) => format!("list {}", l.name.name),
            Item::Macro(m) => format!("macro {}", m.name.name),
            Item::Rule(r) => format!("rule {}", r.name.name),
            Item::Sequence(s) => format!("sequence {}", s.name.name),
            Item::Script(_) => "script".to_string(),
            Item::Test(t) => format!("test {}", t.name.value),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "list sensitive_namespaces",
            "macro exec_request",
            "rule pod_exec",
            "rule secret_enumeration",
            "rule secrets_across_namespaces",
            "sequence recon_then_exec",
            "script",
            "rule scripted_access",
            "rule host_pid_pod",
            "test a person exec'ing into a pod raises one alert",
            "test the sample attack fires the sequence",
        ]
    );
}

#[test]
fn language_example_lists_and_macros() {
    let file = parse_ok(LANGUAGE_EXAMPLE);
    let Item::List(list) = &file.items[0] else {
        panic!("first item is not a list")
    };
    let values: Vec<&LiteralValue> = list
        .items
        .iter()
        .map(|item| match item {
            ListItem::Literal(l) => &l.value,
            ListItem::Name(n) => panic!("unexpected name {}", n.name),
        })
        .collect();
    assert_eq!(
        values,
        [
            &LiteralValue::Str("kube-system".into()),
            &LiteralValue::Str("kube-public".into())
        ]
    );
    assert_eq!(
        text_of(LANGUAGE_EXAMPLE, list.span),
        r#"list sensitive_namespaces = ["kube-system", "kube-public"]"#
    );
    let Item::Macro(mac) = &file.items[1] else {
        panic!("second item is not a macro")
    };
    assert_eq!(
        show_expr(&mac.condition),
        r#"(and (in objectRef.subresource ["exec", "attach"]) (in verb ["create", "get"]))"#
    );
}

#[test]
fn language_example_rules() {
    let file = parse_ok(LANGUAGE_EXAMPLE);
    let pod_exec = rule(&file, "pod_exec");
    let props = &pod_exec.props;
    assert_eq!(
        props.title.as_ref().map(|t| t.value.as_str()),
        Some("Command execution by {user.username} on {objectRef.namespace}/{objectRef.name}")
    );
    assert_eq!(
        props.severity.as_ref().map(|s| s.node),
        Some(Severity::High)
    );
    assert_eq!(
        props.description.as_ref().map(|d| d.value.as_str()),
        Some("A user ran a command inside a running container")
    );
    let tags: Vec<&str> = props.tags.as_ref().map_or(vec![], |t| {
        t.node.iter().map(|s| s.value.as_str()).collect()
    });
    assert_eq!(tags, ["mitre:T1609", "k8s:exec"]);
    assert_eq!(
        props.author.as_ref().map(|a| a.value.as_str()),
        Some("k8scop")
    );
    assert_eq!(
        pod_exec.when.as_ref().map(show_expr).as_deref(),
        Some(r#"(and exec_request (not (startswith user.username "system:")))"#)
    );
    let fields: Vec<String> = props
        .fields
        .as_ref()
        .map_or(vec![], |f| f.node.iter().map(|p| p.to_string()).collect());
    assert_eq!(fields, ["sourceIPs", "userAgent"]);
    let group_by: Vec<String> = props
        .group_by
        .as_ref()
        .map_or(vec![], |g| g.node.iter().map(|p| p.to_string()).collect());
    assert_eq!(
        group_by,
        ["user.username", "objectRef.namespace", "objectRef.name"]
    );
    assert_eq!(pod_exec.within.map(|d| d.millis), Some(600_000));
    assert_eq!(pod_exec.threshold, None);
    assert_eq!(pod_exec.source, None);

    let enumeration = rule(&file, "secret_enumeration");
    let threshold = enumeration.threshold.as_ref().expect("a threshold");
    assert_eq!(threshold.kind, ThresholdKind::Count);
    assert_eq!(threshold.bounds.len(), 1);
    assert_eq!(threshold.bounds[0].cmp, CountCmp::AtLeast);
    assert_eq!(threshold.bounds[0].n.node, 5);
    assert_eq!(text_of(LANGUAGE_EXAMPLE, threshold.bounds[0].n.span), "5");
    assert_eq!(threshold.within.millis, 60_000);
    let by: Vec<String> = threshold.by.iter().map(|p| p.to_string()).collect();
    assert_eq!(by, ["user.username"]);
    assert_eq!(
        text_of(LANGUAGE_EXAMPLE, threshold.span),
        "threshold count >= 5 within 1m by user.username"
    );

    let distinct = rule(&file, "secrets_across_namespaces");
    let threshold = distinct.threshold.as_ref().expect("a threshold");
    match &threshold.kind {
        ThresholdKind::Distinct(path) => assert_eq!(path.to_string(), "objectRef.namespace"),
        other => panic!("expected distinct, got {other:?}"),
    }
    assert_eq!(threshold.bounds[0].n.node, 3);
    assert_eq!(threshold.within.millis, 600_000);

    let scripted = rule(&file, "scripted_access");
    assert_eq!(
        scripted.when.as_ref().map(show_expr).as_deref(),
        Some(r#"(and (== verb "list") scripted_client(userAgent))"#)
    );

    let host_pid = rule(&file, "host_pid_pod");
    let when = host_pid.when.as_ref().expect("a condition");
    let ExprKind::And(_, script) = &when.kind else {
        panic!("expected `and`, got {}", show_expr(when))
    };
    let ExprKind::Script(script) = &script.kind else {
        panic!("expected a script, got {}", show_expr(script))
    };
    assert_eq!(script.body, " event.requestObject?.spec?.hostPID == true ");
    assert_eq!(text_of(LANGUAGE_EXAMPLE, script.body_span), script.body);
    assert_eq!(
        text_of(LANGUAGE_EXAMPLE, script.span),
        "script { event.requestObject?.spec?.hostPID == true }"
    );
}

#[test]
fn language_example_sequence_script_and_tests() {
    let file = parse_ok(LANGUAGE_EXAMPLE);
    let seq = sequence(&file, "recon_then_exec");
    assert_eq!(
        seq.props.severity.as_ref().map(|s| s.node),
        Some(Severity::Critical)
    );
    let by: Vec<String> = seq
        .by
        .as_ref()
        .map_or(vec![], |b| b.node.iter().map(|p| p.to_string()).collect());
    assert_eq!(by, ["user.username"]);
    assert_eq!(seq.within.map(|d| d.millis), Some(300_000));
    let steps = seq.steps.as_ref().expect("steps");
    let names: Vec<&str> = steps
        .node
        .iter()
        .map(|s| match s {
            Step::Rule(r) => r.name.as_str(),
            Step::Inline { when, .. } => panic!("unexpected inline step {}", show_expr(when)),
        })
        .collect();
    assert_eq!(names, ["secret_enumeration", "pod_exec"]);
    assert_eq!(
        text_of(LANGUAGE_EXAMPLE, steps.span),
        "secret_enumeration -> pod_exec"
    );

    let script = file
        .items
        .iter()
        .find_map(|i| match i {
            Item::Script(s) => Some(s),
            _ => None,
        })
        .expect("a script block");
    assert!(script
        .body
        .starts_with("\n    // Rhai functions, callable from any condition in the ruleset\n"));
    assert!(script.body.contains(
        r#"fn scripted_client(ua) { ua.contains("curl") || ua.contains("python-requests") }"#
    ));
    assert!(script.body.ends_with("}\n"));
    assert_eq!(text_of(LANGUAGE_EXAMPLE, script.body_span), script.body);

    let tests = tests(&file);
    assert_eq!(tests.len(), 2);
    let [TestEvents::Inline(events)] = tests[0].events.as_slice() else {
        panic!("expected one inline event list: {:?}", tests[0].events)
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].node["verb"], "create");
    assert_eq!(events[0].node["objectRef"]["name"], "api-0");
    assert_eq!(
        events[0].node["requestReceivedTimestamp"],
        "2024-05-01T12:00:00Z"
    );
    let event_text = text_of(LANGUAGE_EXAMPLE, events[0].span);
    assert!(event_text.starts_with("{\"verb\"") && event_text.ends_with("\"}"));
    assert_eq!(
        expectations(&tests[0].expects),
        ["pod_exec alerts 1", "secret_enumeration alerts 0"]
    );
    let [TestEvents::File(path)] = tests[1].events.as_slice() else {
        panic!("expected events from a file: {:?}", tests[1].events)
    };
    assert_eq!(path.value, "samples/recon_then_exec.jsonl");
    assert_eq!(
        expectations(&tests[1].expects),
        ["recon_then_exec alerts 1"]
    );
}

fn expectations(expects: &[Expect]) -> Vec<String> {
    expects
        .iter()
        .map(|e| match e {
            Expect::Alerts { name, count, .. } => format!("{} alerts {}", name.name, count.node),
            Expect::Matches { name, count, .. } => format!("{} matches {}", name.name, count.node),
            Expect::NoAlerts { .. } => "no alerts".to_string(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Conditions

#[test]
fn precedence_is_comparison_not_and_or() {
    assert_eq!(
        sexp(r#"not verb == "get" and x or y"#),
        r#"(or (and (not (== verb "get")) x) y)"#
    );
    assert_eq!(sexp("a or b and c"), "(or a (and b c))");
    assert_eq!(sexp("a and b or c and d"), "(or (and a b) (and c d))");
    assert_eq!(sexp("a and b and c"), "(and (and a b) c)");
    assert_eq!(sexp("a or b or c"), "(or (or a b) c)");
    assert_eq!(sexp("not not a"), "(not (not a))");
    assert_eq!(sexp("not a or b"), "(or (not a) b)");
    assert_eq!(sexp("not (a or b)"), "(not (or a b))");
    assert_eq!(sexp("(a or b) and c"), "(and (or a b) c)");
    assert_eq!(sexp("((a))"), "a");
}

#[test]
fn spans_of_conditions() {
    let text = r#"rule r { when not (verb == "get") and x }"#;
    let file = parse_ok(text);
    let when = file.items.iter().find_map(|i| match i {
        Item::Rule(r) => r.when.clone(),
        _ => None,
    });
    let when = when.expect("a condition");
    assert_eq!(text_of(text, when.span), r#"not (verb == "get") and x"#);
    let ExprKind::And(not, x) = &when.kind else {
        panic!("expected `and`")
    };
    assert_eq!(text_of(text, not.span), r#"not (verb == "get")"#);
    assert_eq!(text_of(text, x.span), "x");
    let ExprKind::Not(paren) = &not.kind else {
        panic!("expected `not`")
    };
    // A parenthesised condition spans its parentheses.
    assert_eq!(text_of(text, paren.span), r#"(verb == "get")"#);
    let ExprKind::Compare(cmp) = &paren.kind else {
        panic!("expected a comparison")
    };
    assert_eq!(text_of(text, cmp.op.span), "==");
    assert_eq!(text_of(text, cmp.left.span()), "verb");
    assert_eq!(text_of(text, cmp.right.span()), r#""get""#);
}

#[test]
fn every_comparison_operator() {
    let ops = [
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        ("<=", CmpOp::Le),
        (">", CmpOp::Gt),
        (">=", CmpOp::Ge),
        ("in", CmpOp::In),
        ("intersects", CmpOp::Intersects),
        ("contains", CmpOp::Contains),
        ("icontains", CmpOp::IContains),
        ("startswith", CmpOp::StartsWith),
        ("istartswith", CmpOp::IStartsWith),
        ("endswith", CmpOp::EndsWith),
        ("iendswith", CmpOp::IEndsWith),
        ("matches", CmpOp::Matches),
        ("glob", CmpOp::Glob),
        ("cidr", CmpOp::Cidr),
    ];
    for (text, op) in ops {
        // Without spaces too, where the operator is a symbol.
        for cond in [format!("a {text} b"), format!("a{text}b")] {
            if text.starts_with(char::is_alphabetic) && !cond.contains(' ') {
                continue;
            }
            let expr = condition(&cond);
            let ExprKind::Compare(cmp) = &expr.kind else {
                panic!("`{cond}` is not a comparison")
            };
            assert_eq!(cmp.op.node, op, "{cond}");
            assert!(!cmp.all);
        }
    }
}

#[test]
fn all_and_exists() {
    assert_eq!(
        sexp(r#"all requestObject.spec.containers[*].image startswith "registry.local/""#),
        r#"(all startswith requestObject.spec.containers[*].image "registry.local/")"#
    );
    assert_eq!(sexp(r#"all x in ["a"]"#), r#"(all in x ["a"])"#);
    assert_eq!(
        sexp("exists user.extra and not exists impersonatedUser"),
        "(and (exists user.extra) (not (exists impersonatedUser)))"
    );
}

#[test]
fn keywords_do_not_eat_identifiers() {
    assert_eq!(
        sexp(r#"index == 1 and notes == "n" or order > 2"#),
        r#"(or (and (== index 1) (== notes "n")) (> order 2))"#
    );
    assert_eq!(
        sexp("allowed == true and inside in insiders and existing and android"),
        "(and (and (and (== allowed true) (in inside insiders)) existing) android)"
    );
    assert_eq!(sexp("nothing or oracle"), "(or nothing oracle)");
    assert_eq!(sexp("all allowed == 1"), "(all == allowed 1)");
    assert_eq!(sexp("existsx == 1"), "(== existsx 1)");
    assert_eq!(
        sexp("globals glob \"*\" and cidrs cidr \"10.0.0.0/8\""),
        r#"(and (glob globals "*") (cidr cidrs "10.0.0.0/8"))"#
    );
    assert_eq!(sexp("matchesx matches \"a\""), r#"(matches matchesx "a")"#);
    assert_eq!(sexp("truex and nullable"), "(and truex nullable)");
    // The keywords themselves are field names where a keyword cannot be.
    assert_eq!(sexp("all == 1"), "(== all 1)");
    assert_eq!(sexp("not == 1"), "(== not 1)");
    assert_eq!(sexp("in in [1]"), "(in in [1])");
    assert_eq!(sexp("a.not.in == 1"), "(== a.not.in 1)");
}

#[test]
fn literals() {
    assert_eq!(
        sexp("a == 42 and b == -7 and c == 1.5 and d == -0.25 and e == 1e3 and f == 2.5E-2"),
        "(and (and (and (and (and (== a 42) (== b -7)) (== c 1.5f)) (== d -0.25f)) \
         (== e 1000.0f)) (== f 0.025f))"
    );
    assert_eq!(
        sexp("a == true and b == false and c != null"),
        "(and (and (== a true) (== b false)) (!= c null))"
    );
    assert_eq!(sexp("1 < a"), "(< 1 a)");
}

#[test]
fn string_escapes() {
    let expr =
        condition(r#"a == "q\"b\\n\nt\t" and b matches "^\d+$" and c == "\u00e9 # not a comment""#);
    assert_eq!(
        show_expr(&expr),
        r#"(and (and (== a "q\"b\\n\nt\t") (matches b "^\\d+$")) (== c "\\u00e9 # not a comment"))"#
    );
    // The span of a string literal covers its quotes.
    let text = r#"rule r { title "a\"b" }"#;
    let file = parse_ok(text);
    let title = rule(&file, "r").props.title.clone().expect("a title");
    assert_eq!(title.value, "a\"b");
    assert_eq!(text_of(text, title.span), r#""a\"b""#);
}

#[test]
fn list_literals() {
    assert_eq!(
        sexp(r#"verb in ["get", 1, -2.5, true, null, other_list,]"#),
        r#"(in verb ["get", 1, -2.5f, true, null, other_list])"#
    );
    assert_eq!(sexp("verb in []"), "(in verb [])");
    let expr = condition(r#"x intersects [ "a" , b ]"#);
    let ExprKind::Compare(cmp) = &expr.kind else {
        panic!("expected a comparison")
    };
    let Operand::List(list) = &cmp.right else {
        panic!("expected a list")
    };
    assert_eq!(list.span.len(), r#"[ "a" , b ]"#.len());
    assert!(matches!(&list.node[1], ListItem::Name(n) if n.name == "b"));
}

#[test]
fn function_calls() {
    assert_eq!(sexp("f()"), "f()");
    assert_eq!(
        sexp("is_system_user(user.username)"),
        "is_system_user(user.username)"
    );
    assert_eq!(
        sexp(r#"lower(json_get(requestObject, "spec.image")) startswith "docker.io/""#),
        r#"(startswith lower(json_get(requestObject, "spec.image")) "docker.io/")"#
    );
    assert_eq!(
        sexp(r#""admin" == lower(user.username)"#),
        r#"(== "admin" lower(user.username))"#
    );
    assert_eq!(
        sexp(r#"f ( a , [1, 2], "s", -1, g(), script { x } , )"#),
        r#"f(a, [1, 2], "s", -1, g(), script{ x })"#
    );
    assert_eq!(sexp("not f(x) and g(y)"), "(and (not f(x)) g(y))");
}

#[test]
fn operands_standing_alone() {
    assert!(matches!(condition("my_macro").kind, ExprKind::Name(ref n) if n.name == "my_macro"));
    assert_eq!(sexp("user.username"), "(bare user.username)");
    assert_eq!(sexp("@timestamp"), "(bare @timestamp)");
    assert_eq!(sexp("a[0]"), "(bare a[0])");
    assert_eq!(sexp("true or false"), "(or true false)");
    assert_eq!(sexp("script { true }"), "script{ true }");
    assert_eq!(
        sexp("is_private_ip(sourceIPs[0])"),
        "is_private_ip(sourceIPs[0])"
    );
}

#[test]
fn field_paths_and_segment_spans() {
    let text = r#"rule r { when annotations["authorization.k8s.io/decision"] == "allow" and sourceIPs[0] cidr "10.0.0.0/8" and requestObject.spec.containers[*].name == "x" and exists ["@timestamp"] }"#;
    let file = parse_ok(text);
    let when = rule(&file, "r").when.clone().expect("a condition");
    let mut paths = Vec::new();
    collect_paths(&when, &mut paths);
    let shown: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        shown,
        [
            r#"annotations["authorization.k8s.io/decision"]"#,
            "sourceIPs[0]",
            "requestObject.spec.containers[*].name",
            r#"["@timestamp"]"#,
        ]
    );
    let segments: Vec<(&str, &SegmentKind)> = paths
        .iter()
        .flat_map(|p| p.segments.iter())
        .map(|s| (text_of(text, s.span), &s.kind))
        .collect();
    assert_eq!(
        segments,
        [
            ("annotations", &SegmentKind::Field("annotations".into())),
            (
                r#"["authorization.k8s.io/decision"]"#,
                &SegmentKind::Quoted("authorization.k8s.io/decision".into())
            ),
            ("sourceIPs", &SegmentKind::Field("sourceIPs".into())),
            ("[0]", &SegmentKind::Index(0)),
            ("requestObject", &SegmentKind::Field("requestObject".into())),
            ("spec", &SegmentKind::Field("spec".into())),
            ("containers", &SegmentKind::Field("containers".into())),
            ("[*]", &SegmentKind::Wildcard),
            ("name", &SegmentKind::Field("name".into())),
            (
                r#"["@timestamp"]"#,
                &SegmentKind::Quoted("@timestamp".into())
            ),
        ]
    );
}

fn collect_paths<'a>(
    expr: &'a k8scop_grammar::ast::Expr,
    out: &mut Vec<&'a k8scop_grammar::ast::Path>,
) {
    match &expr.kind {
        ExprKind::And(a, b) | ExprKind::Or(a, b) => {
            collect_paths(a, out);
            collect_paths(b, out);
        }
        ExprKind::Not(a) => collect_paths(a, out),
        ExprKind::Compare(cmp) => {
            if let Operand::Path(p) = &cmp.left {
                out.push(p);
            }
            if let Operand::Path(p) = &cmp.right {
                out.push(p);
            }
        }
        ExprKind::Exists(p) | ExprKind::BarePath(p) => out.push(p),
        _ => {}
    }
}

#[test]
fn at_timestamp_forms() {
    assert_eq!(
        sexp(r#"@timestamp startswith "2024" and ["@timestamp"] == "x""#),
        r#"(and (startswith @timestamp "2024") (== ["@timestamp"] "x"))"#
    );
    assert_eq!(
        sexp(r#"exists ["@timestamp"]"#),
        r#"(exists ["@timestamp"])"#
    );
    // On the right of a comparison, brackets are a list; on the left, a list of several.
    assert_eq!(sexp(r#"x in ["@timestamp"]"#), r#"(in x ["@timestamp"])"#);
    assert_eq!(
        sexp(r#"["a", "b"] intersects x"#),
        r#"(intersects ["a", "b"] x)"#
    );
    assert_eq!(sexp(r#"[1] intersects x"#), "(intersects [1] x)");
    let file = parse_ok(r#"rule r { when x fields [@timestamp, ["@timestamp"].a] }"#);
    let fields: Vec<String> = rule(&file, "r")
        .props
        .fields
        .as_ref()
        .map_or(vec![], |f| f.node.iter().map(|p| p.to_string()).collect());
    assert_eq!(fields, ["@timestamp", r#"["@timestamp"].a"#]);
}

#[test]
fn script_bodies_end_at_the_balancing_brace() {
    let body = r#" event.a == "}" && '}' != '{' && `x}{` != "" /* } { */ // }
        && { let m = #{ a: 1 }; m.a == 1 } # rhai's map literal, not a comment "#;
    let text = format!("rule r {{ when script {{{body}}} and x }}");
    let file = parse_ok(&text);
    let when = rule(&file, "r").when.clone().expect("a condition");
    let ExprKind::And(script, x) = &when.kind else {
        panic!("expected `and`, got {}", show_expr(&when))
    };
    let ExprKind::Script(script) = &script.kind else {
        panic!("expected a script")
    };
    assert_eq!(script.body, body);
    assert_eq!(text_of(&text, script.body_span), body);
    assert_eq!(show_expr(x), "x");

    let block =
        "\n  fn f(s) { s.contains(\"}\") } // }\n  /* nested /* } */ } */\n  fn g() { '\\'' }\n";
    let text = format!("script {{{block}}}\nrule r {{ when f(x) }}");
    let file = parse_ok(&text);
    let Item::Script(script) = &file.items[0] else {
        panic!("expected a script block")
    };
    assert_eq!(script.body, block);
    assert_eq!(text_of(&text, script.body_span), block);
    assert_eq!(text_of(&text, script.span), format!("script {{{block}}}"));
    assert_eq!(file.items.len(), 2);

    // Comments may separate `script` from its `{`; the body is kept exactly.
    let file = parse_ok("script # functions\n{}");
    let Item::Script(script) = &file.items[0] else {
        panic!("expected a script block")
    };
    assert_eq!(script.body, "");
}

// ---------------------------------------------------------------------------------------------
// Definitions and properties

#[test]
fn conditions_end_where_the_next_property_begins() {
    let file = parse_ok(r#"rule r { when verb == "get" severity high }"#);
    let r = rule(&file, "r");
    assert_eq!(
        r.when.as_ref().map(show_expr).as_deref(),
        Some(r#"(== verb "get")"#)
    );
    assert_eq!(
        r.props.severity.as_ref().map(|s| s.node),
        Some(Severity::High)
    );

    let file = parse_ok(r#"rule r { when a and not b startswith "x" fields [sourceIPs] }"#);
    let r = rule(&file, "r");
    assert_eq!(
        r.when.as_ref().map(show_expr).as_deref(),
        Some(r#"(and a (not (startswith b "x")))"#)
    );
    assert!(r.props.fields.is_some());

    let file = parse_ok(
        "rule r { when exec_request title \"t\" }\n\
         rule s { when x in names within 10m group by a, b.c enabled false }\n\
         macro m = a == b\nlist l = [m]\nmacro n = lone\nscript { }",
    );
    assert_eq!(
        rule(&file, "r").when.as_ref().map(show_expr).as_deref(),
        Some("exec_request")
    );
    let s = rule(&file, "s");
    assert_eq!(
        s.when.as_ref().map(show_expr).as_deref(),
        Some("(in x names)")
    );
    assert_eq!(s.within.map(|d| d.millis), Some(600_000));
    assert_eq!(s.props.enabled.as_ref().map(|e| e.node), Some(false));
    assert_eq!(file.items.len(), 6);
}

#[test]
fn one_line_blocks_and_free_property_order() {
    let text = r#"rule a { severity low when x == 1 title "t" } rule b { when y } sequence s { steps a -> b within 1m by user.username } test "t" { expect no alerts events [] }"#;
    let file = parse_ok(text);
    assert_eq!(file.items.len(), 4);
    let a = rule(&file, "a");
    assert_eq!(
        a.props.severity.as_ref().map(|s| s.node),
        Some(Severity::Low)
    );
    assert_eq!(a.props.title.as_ref().map(|t| t.value.as_str()), Some("t"));
    assert_eq!(
        text_of(text, a.span),
        r#"rule a { severity low when x == 1 title "t" }"#
    );
    let s = sequence(&file, "s");
    assert_eq!(s.within.map(|d| d.millis), Some(60_000));
    assert_eq!(s.steps.as_ref().map(|s| s.node.len()), Some(2));
}

#[test]
fn comments_in_odd_places() {
    let text = "# leading comment\n\
        rule r # after the name\n\
        { # after the brace\n\
          when # before the condition\n\
            verb == # between operator and operand\n\
            \"get # not a comment\" and # after and\n\
            not x # end\n\
          tags [ # in a list\n\
            \"a\", # after a comma\n\
            \"b\" ]\n\
          severity # before a value\n\
            high\n\
        } # after the block\n\
        test \"t\" { events [ # before an event\n\
          {\"a\": \"# not a comment\"} # between events\n\
          , {\"b\": 1} ] }\n\
        # trailing comment without newline";
    let file = parse_ok(text);
    let r = rule(&file, "r");
    assert_eq!(
        r.when.as_ref().map(show_expr).as_deref(),
        Some(r#"(and (== verb "get # not a comment") (not x))"#)
    );
    assert_eq!(r.props.tags.as_ref().map(|t| t.node.len()), Some(2));
    assert_eq!(
        r.props.severity.as_ref().map(|s| s.node),
        Some(Severity::High)
    );
    let [TestEvents::Inline(events)] = tests(&file)[0].events.as_slice() else {
        panic!("expected inline events")
    };
    assert_eq!(events[0].node, json!({"a": "# not a comment"}));
    assert_eq!(events[1].node, json!({"b": 1}));
}

#[test]
fn empty_and_comment_only_files() {
    assert!(parse_ok("").items.is_empty());
    assert!(parse_ok("  \n# nothing\n\t# here").items.is_empty());
}

#[test]
fn windows_line_endings() {
    let file = parse_ok("rule r {\r\n  when verb == \"get\" # c\r\n  severity low\r\n}\r\n");
    assert_eq!(
        rule(&file, "r").props.severity.as_ref().map(|s| s.node),
        Some(Severity::Low)
    );
}

#[test]
fn every_rule_property() {
    let text = r#"
rule r {
    when        verb == "get"
    title       "T {user.username}"
    severity    info
    description "D"
    author      "A"
    tags        ["t1", "t2",]
    references  ["https://example.com"]
    source      falco
    fields      [user.username, sourceIPs[0]]
    group by    user.username, objectRef.namespace
    within      500ms
    threshold   count > 9 within 2h by user.username, verb
    enabled     false
}"#;
    let file = parse_ok(text);
    let r = rule(&file, "r");
    let p = &r.props;
    assert_eq!(
        p.title.as_ref().map(|t| t.value.as_str()),
        Some("T {user.username}")
    );
    assert_eq!(p.severity.as_ref().map(|s| s.node), Some(Severity::Info));
    assert_eq!(p.description.as_ref().map(|t| t.value.as_str()), Some("D"));
    assert_eq!(p.author.as_ref().map(|t| t.value.as_str()), Some("A"));
    assert_eq!(p.tags.as_ref().map(|t| t.node.len()), Some(2));
    assert_eq!(
        p.references.as_ref().map(|t| t.node[0].value.as_str()),
        Some("https://example.com")
    );
    assert_eq!(r.source.as_ref().map(|s| s.name.as_str()), Some("falco"));
    assert_eq!(p.fields.as_ref().map(|f| f.node.len()), Some(2));
    assert_eq!(
        p.group_by.as_ref().map(|g| text_of(text, g.span)),
        Some("user.username, objectRef.namespace")
    );
    assert_eq!(r.within.map(|d| d.millis), Some(500));
    assert_eq!(r.within.map(|d| text_of(text, d.span)), Some("500ms"));
    let t = r.threshold.as_ref().expect("a threshold");
    assert_eq!(t.bounds.len(), 1);
    assert_eq!(
        (t.bounds[0].cmp, t.bounds[0].n.node),
        (CountCmp::MoreThan, 9)
    );
    assert_eq!(t.within.millis, 7_200_000);
    assert_eq!(t.by.len(), 2);
    assert_eq!(p.enabled.as_ref().map(|e| e.node), Some(false));
    assert_eq!(
        p.severity.as_ref().map(|s| text_of(text, s.span)),
        Some("info")
    );
}

#[test]
fn spans_stop_at_the_last_token() {
    let text =
        "rule r {\n  threshold count >= 5 within 1m by a, b # comment\n  group by c, d # more\n}\n\
                sequence s { steps a -> b # c\n }";
    let file = parse_ok(text);
    let r = rule(&file, "r");
    let threshold = r.threshold.as_ref().expect("a threshold");
    assert_eq!(
        text_of(text, threshold.span),
        "threshold count >= 5 within 1m by a, b"
    );
    let group_by = r.props.group_by.as_ref().expect("group by");
    assert_eq!(text_of(text, group_by.span), "c, d");
    let steps = sequence(&file, "s").steps.as_ref().expect("steps");
    assert_eq!(text_of(text, steps.span), "a -> b");
}

#[test]
fn durations_and_sources() {
    for (text, millis) in [
        ("500ms", 500),
        ("30s", 30_000),
        ("10m", 600_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        ("0s", 0),
    ] {
        let file = parse_ok(&format!("rule r {{ within {text} }}"));
        assert_eq!(
            rule(&file, "r").within.map(|d| d.millis),
            Some(millis),
            "{text}"
        );
    }
    // Any word parses: the compiler checks it against the registry of event kinds.
    for source in [
        "k8s_audit",
        "kubearmor",
        "falco",
        "sysdig",
        "any",
        "my_kind",
    ] {
        let file = parse_ok(&format!("rule r {{ source {source} }}"));
        assert_eq!(
            rule(&file, "r").source.as_ref().map(|s| s.name.as_str()),
            Some(source)
        );
    }
    for severity in Severity::ALL {
        let file = parse_ok(&format!("rule r {{ severity {} }}", severity.as_str()));
        assert_eq!(
            rule(&file, "r").props.severity.as_ref().map(|s| s.node),
            Some(severity)
        );
    }
}

#[test]
fn missing_properties_are_left_empty() {
    let file = parse_ok("rule r { } sequence s { }");
    let r = rule(&file, "r");
    assert!(r.when.is_none() && r.within.is_none() && r.threshold.is_none());
    assert_eq!(r.props, Default::default());
    let s = sequence(&file, "s");
    assert!(s.by.is_none() && s.within.is_none() && s.steps.is_none());
}

#[test]
fn sequence_with_inline_steps() {
    let text = r#"sequence s {
        by user.username, objectRef.namespace
        within 5m
        steps first -> { verb == "delete" and objectRef.resource == "pods" } -> { exists x }
              -> kubearmor { Operation == "Process" }
        title "t" severity low description "d" author "a" tags ["x"] references ["r"]
        fields [verb] group by verb enabled true
    }"#;
    let file = parse_ok(text);
    let s = sequence(&file, "s");
    assert_eq!(s.by.as_ref().map(|b| b.node.len()), Some(2));
    let steps: Vec<String> = s
        .steps
        .as_ref()
        .map(|s| {
            s.node
                .iter()
                .map(|step| match step {
                    Step::Rule(r) => r.name.clone(),
                    Step::Inline { source, when } => format!(
                        "{}{{{}}}",
                        source.as_ref().map_or("", |s| s.name.as_str()),
                        show_expr(when)
                    ),
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        steps,
        [
            "first",
            r#"{(and (== verb "delete") (== objectRef.resource "pods"))}"#,
            "{(exists x)}",
            r#"kubearmor{(== Operation "Process")}"#
        ]
    );
    assert_eq!(s.props.enabled.as_ref().map(|e| e.node), Some(true));
    assert_eq!(s.props.group_by.as_ref().map(|g| g.node.len()), Some(1));
}

#[test]
fn test_blocks() {
    let text = r#"test "escapes \"and\" events" {
        events [
            {"s": "tab\t \u00e9 \ud83d\ude00 \"q\" \\ \/", "n": -1.5e3, "i": 0, "b": [true, false, null], "o": {}},
            { } ,
        ]
        events file "more.jsonl"
        events [{"x": [ ]}]
        expect r alerts 2
        expect r matches 3
        expect no alerts
        expect no matches 1
    }"#;
    let file = parse_ok(text);
    let test = tests(&file)[0];
    assert_eq!(test.name.value, "escapes \"and\" events");
    assert_eq!(test.events.len(), 3);
    let TestEvents::Inline(events) = &test.events[0] else {
        panic!("expected inline events")
    };
    assert_eq!(
        events[0].node,
        json!({"s": "tab\t \u{e9} \u{1F600} \"q\" \\ /", "n": -1500.0, "i": 0,
               "b": [true, false, null], "o": {}})
    );
    assert_eq!(events[1].node, json!({}));
    assert_eq!(text_of(text, events[1].span), "{ }");
    assert!(matches!(&test.events[1], TestEvents::File(f) if f.value == "more.jsonl"));
    assert_eq!(
        expectations(&test.expects),
        ["r alerts 2", "r matches 3", "no alerts", "no matches 1"]
    );
    let Expect::Alerts { span, count, .. } = &test.expects[0] else {
        panic!("expected `alerts`")
    };
    assert_eq!(text_of(text, *span), "expect r alerts 2");
    assert_eq!(text_of(text, count.span), "2");
}

#[test]
fn names_may_be_keywords() {
    let file = parse_ok("rule when { when rule } list in = [a] macro steps = in");
    assert_eq!(
        rule(&file, "when").when.as_ref().map(show_expr).as_deref(),
        Some("rule")
    );
    assert_eq!(file.items.len(), 3);
}

#[test]
fn threshold_comparisons_and_ranges() {
    let cases: &[(&str, &[(CountCmp, u64)])] = &[
        ("count >= 3", &[(CountCmp::AtLeast, 3)]),
        ("count > 3", &[(CountCmp::MoreThan, 3)]),
        ("count <= 3", &[(CountCmp::AtMost, 3)]),
        ("count < 3", &[(CountCmp::LessThan, 3)]),
        ("count == 3", &[(CountCmp::Exactly, 3)]),
        ("count != 3", &[(CountCmp::Not, 3)]),
        (
            "count >= 3 and <= 10",
            &[(CountCmp::AtLeast, 3), (CountCmp::AtMost, 10)],
        ),
        (
            "distinct objectRef.namespace > 1 and < 5 and != 3",
            &[
                (CountCmp::MoreThan, 1),
                (CountCmp::LessThan, 5),
                (CountCmp::Not, 3),
            ],
        ),
    ];
    for (written, expected) in cases {
        let text = format!(
            "rule r {{\n  when verb == \"get\"\n  threshold {written} within 1m by a\n}}\n"
        );
        let file = parse_ok(&text);
        let t = rule(&file, "r").threshold.clone().expect("a threshold");
        let bounds: Vec<(CountCmp, u64)> = t.bounds.iter().map(|b| (b.cmp, b.n.node)).collect();
        assert_eq!(bounds, *expected, "{written}");
        let last = t.bounds.last().expect("a bound");
        assert_eq!(
            text_of(&text, last.n.span),
            expected[expected.len() - 1].1.to_string()
        );
        assert_eq!(t.within.millis, 60_000, "{written}");
        assert_eq!(t.by.len(), 1, "{written}");
    }
}

#[test]
fn thresholds_of_sums_means_and_medians() {
    for (written, kind) in [
        ("sum requestObject.spec.replicas >= 50", "sum"),
        ("avg requestObject.spec.replicas > 3 and < 9", "avg"),
        ("median responseStatus.code != 200", "median"),
    ] {
        let text = format!(
            "rule r {{\n  when verb == \"get\"\n  threshold {written} within 1m by a\n}}\n"
        );
        let file = parse_ok(&text);
        let t = rule(&file, "r").threshold.clone().expect("a threshold");
        let path = t.kind.path().expect("a path").to_string();
        let (got, expected_path) = match &t.kind {
            ThresholdKind::Sum(_) => ("sum", "requestObject.spec.replicas"),
            ThresholdKind::Avg(_) => ("avg", "requestObject.spec.replicas"),
            ThresholdKind::Median(_) => ("median", "responseStatus.code"),
            other => panic!("{written}: {other:?}"),
        };
        assert_eq!((got, path.as_str()), (kind, expected_path));
    }
    // `sum` without a path is a syntax error that names what may follow `threshold`.
    let errors = parse_err("rule r {\n  when verb == \"get\"\n  threshold sum >= 3 within 1m\n}\n");
    let shown = render_all(&errors);
    assert!(shown.contains("field path"), "{shown}");
    // The words stay free as names.
    parse_ok("macro sum = verb == \"get\"\nrule avg { when sum }\n");
}

/// `A by PATH` and `A by [PATH, ...]`: a step's own key, in order and in any order, after a rule
/// name or an inline step; `None` for a step without one.
#[test]
fn steps_with_keys_of_their_own() {
    let keys = |text: &str| -> Vec<Option<Vec<String>>> {
        let file = parse_ok(text);
        sequence(&file, "s")
            .step_keys
            .iter()
            .map(|k| {
                k.as_ref()
                    .map(|k| k.node.iter().map(|p| p.to_string()).collect())
            })
            .collect()
    };
    let owned = |paths: &[&str]| Some(paths.iter().map(|p| p.to_string()).collect::<Vec<_>>());
    assert_eq!(
        keys("sequence s {\n  within 5m\n  steps a by requestObject.subjects.name -> { verb == \"get\" } by [user.username, verb] -> c\n}\n"),
        [
            owned(&["requestObject.subjects.name"]),
            owned(&["user.username", "verb"]),
            None
        ]
    );
    assert_eq!(
        keys("sequence s {\n  within 5m\n  steps all of a by x, b, c by [y]\n}\n"),
        [owned(&["x"]), None, owned(&["y"])]
    );
    assert_eq!(
        keys("sequence s {\n  by u\n  within 5m\n  steps a -> b\n}\n"),
        [None, None]
    );
    // In any order a comma ends a key, unless what follows cannot be a step: `a by x, y` is
    // step `a` keyed by `x`, then step `y`; `a by x, y.z` is a key of two paths.
    assert_eq!(
        keys("sequence s {\n  within 5m\n  steps all of a by x, y\n}\n"),
        [owned(&["x"]), None]
    );
    assert_eq!(
        keys("sequence s {\n  within 5m\n  steps all of a by x, y.z, [\"w\"], b by v\n}\n"),
        [owned(&["x", "y.z", "[\"w\"]"]), owned(&["v"])]
    );
    // In order, a key of several paths may also go without brackets.
    assert_eq!(
        keys("sequence s {\n  within 5m\n  steps a by x, y -> b by z, w\n}\n"),
        [owned(&["x", "y"]), owned(&["z", "w"])]
    );
    // Next to the sequence's own `by`, a key on the last step alone is that step's.
    assert_eq!(
        keys("sequence s {\n  by u\n  within 5m\n  steps a -> b by x\n}\n"),
        [None, owned(&["x"])]
    );
    parse_err("sequence s {\n  within 5m\n  steps a by -> b\n}\n");
}

/// `steps A -> B by PATH, ...` was written before steps had keys of their own, and meant the
/// sequence's `by`: with no other `by` and no key on an earlier step, it still does.
#[test]
fn a_by_after_the_steps_is_the_sequences() {
    let by = |text: &str| -> (Option<Vec<String>>, usize) {
        let file = parse_ok(text);
        let s = sequence(&file, "s");
        let by =
            s.by.as_ref()
                .map(|by| by.node.iter().map(|p| p.to_string()).collect());
        (by, s.step_keys.len())
    };
    let paths = |p: &[&str]| Some(p.iter().map(|p| p.to_string()).collect::<Vec<_>>());
    for (text, expected) in [
        (
            "sequence s {\n  within 5m\n  steps a -> b by user.username\n}\n",
            paths(&["user.username"]),
        ),
        (
            "sequence s {\n  steps a -> { verb == \"get\" } by user.username, verb\n  within 5m\n}\n",
            paths(&["user.username", "verb"]),
        ),
        (
            "sequence s {\n  within 5m\n  steps all of a, b by user.username\n}\n",
            paths(&["user.username"]),
        ),
        (
            "sequence s {\n  within 5m\n  steps 1 of a, b by [user.username, verb]\n}\n",
            paths(&["user.username", "verb"]),
        ),
        (
            "sequence s {\n  steps all of a, b\n  by user.username, objectRef.namespace\n  within 5m\n}\n",
            paths(&["user.username", "objectRef.namespace"]),
        ),
    ] {
        assert_eq!(by(text), (expected, 0), "{text}");
    }
}

#[test]
fn deep_paths() {
    for (written, segments) in [
        ("**", vec![SegmentKind::Deep]),
        (
            "requestObject.**",
            vec![
                SegmentKind::Field("requestObject".into()),
                SegmentKind::Deep,
            ],
        ),
        (
            "**.image",
            vec![SegmentKind::Deep, SegmentKind::Field("image".into())],
        ),
        (
            "a.**[0]",
            vec![
                SegmentKind::Field("a".into()),
                SegmentKind::Deep,
                SegmentKind::Index(0),
            ],
        ),
    ] {
        let text = format!("rule r {{\n  when {written} contains \"x\"\n}}\n");
        let file = parse_ok(&text);
        let when = rule(&file, "r").when.clone().expect("a condition");
        let mut paths = Vec::new();
        collect_paths(&when, &mut paths);
        let left = paths[0];
        let kinds: Vec<SegmentKind> = left.segments.iter().map(|s| s.kind.clone()).collect();
        assert_eq!(kinds, segments, "{written}");
        assert_eq!(left.to_string(), written);
        assert_eq!(text_of(&text, left.span), written);
    }
}
