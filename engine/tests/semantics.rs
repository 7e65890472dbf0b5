//! Every comparison operator with its missing-field, multi-value, `all` and type cases, end to
//! end through the compiler and the engine (LANGUAGE.md, "Conditions").

use std::sync::Arc;

use k8scop_engine::event::Event;
use k8scop_engine::{CompileOptions, Engine, Output};
use k8scop_grammar::SourceFile;
use serde_json::{json, Value};

/// Whether `condition` holds for `event` (the event gets a verb and a time if it has none).
fn holds(condition: &str, mut event: Value) -> bool {
    let text = format!("rule t {{ when {condition} }}");
    let compiled = k8scop_engine::loader::load_sources(
        vec![SourceFile::new("t.rules", text)],
        &CompileOptions::default(),
    );
    let errors: Vec<String> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert!(
        errors.is_empty(),
        "`{condition}` does not compile: {errors:?}"
    );
    let ruleset = Arc::new(compiled.ruleset.expect("no errors"));
    let object = event.as_object_mut().expect("test events are objects");
    object.entry("verb").or_insert(json!("get"));
    object
        .entry("requestReceivedTimestamp")
        .or_insert(json!("2024-05-01T12:00:00Z"));
    let mut engine = Engine::new(ruleset);
    let mut out = Output::default();
    engine.process(
        &Event::classify(event, "t:1").expect("an audit event"),
        &mut out,
    );
    engine.stats()[0].1.matches == 1
}

/// (condition, event, expected) rows.
fn check(rows: &[(&str, Value, bool)]) {
    let failures: Vec<String> = rows
        .iter()
        .filter(|(c, e, expected)| holds(c, e.clone()) != *expected)
        .map(|(c, e, expected)| format!("`{c}` on {e} should be {expected}"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn equality_and_inequality() {
    check(&[
        (r#"userAgent == "curl""#, json!({"userAgent": "curl"}), true),
        (
            r#"userAgent == "curl""#,
            json!({"userAgent": "wget"}),
            false,
        ),
        // Missing and null are false, `!=` included; `not` makes them true.
        (r#"userAgent == "curl""#, json!({}), false),
        (r#"userAgent != "curl""#, json!({}), false),
        (r#"userAgent != "curl""#, json!({"userAgent": null}), false),
        (r#"not userAgent == "curl""#, json!({}), true),
        (r#"userAgent != "curl""#, json!({"userAgent": "wget"}), true),
        // Several values: any value.
        (
            r#"sourceIPs == "1.1.1.1""#,
            json!({"sourceIPs": ["10.0.0.1", "1.1.1.1"]}),
            true,
        ),
        (
            r#"sourceIPs != "1.1.1.1""#,
            json!({"sourceIPs": ["1.1.1.1", "10.0.0.1"]}),
            true,
        ),
        (
            r#"all sourceIPs != "1.1.1.1""#,
            json!({"sourceIPs": ["1.1.1.1", "10.0.0.1"]}),
            false,
        ),
        (
            r#"all sourceIPs == "1.1.1.1""#,
            json!({"sourceIPs": ["1.1.1.1", "1.1.1.1"]}),
            true,
        ),
        (
            r#"all sourceIPs == "1.1.1.1""#,
            json!({"sourceIPs": []}),
            false,
        ),
        // Types: a string never equals a number.
        (
            "responseStatus.code == 403",
            json!({"responseStatus": {"code": 403}}),
            true,
        ),
        (
            "responseStatus.code == 403.0",
            json!({"responseStatus": {"code": 403}}),
            true,
        ),
        (
            r#"responseStatus.code == "403""#,
            json!({"responseStatus": {"code": 403}}),
            false,
        ),
        (
            r#"responseStatus.code != "403""#,
            json!({"responseStatus": {"code": 403}}),
            false,
        ),
        (
            "requestObject.spec.hostPID == true",
            json!({"requestObject": {"spec": {"hostPID": true}}}),
            true,
        ),
        (
            r#"requestObject.spec.hostPID == "true""#,
            json!({"requestObject": {"spec": {"hostPID": true}}}),
            false,
        ),
        // Arrays crossed implicitly, and with [*] and an index.
        (
            "requestObject.spec.containers.securityContext.privileged == true",
            json!({"requestObject": {"spec": {"containers": [{"name": "a"}, {"securityContext": {"privileged": true}}]}}}),
            true,
        ),
        (
            r#"requestObject.spec.containers[*].name == "b""#,
            json!({"requestObject": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}),
            true,
        ),
        (
            r#"requestObject.spec.containers[0].name == "b""#,
            json!({"requestObject": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}),
            false,
        ),
        (
            r#"annotations["authorization.k8s.io/decision"] == "forbid""#,
            json!({"annotations": {"authorization.k8s.io/decision": "forbid"}}),
            true,
        ),
    ]);
}

#[test]
fn ordering() {
    check(&[
        (
            "responseStatus.code >= 400",
            json!({"responseStatus": {"code": 403}}),
            true,
        ),
        (
            "responseStatus.code < 400",
            json!({"responseStatus": {"code": 403}}),
            false,
        ),
        (
            "responseStatus.code <= 403",
            json!({"responseStatus": {"code": 403}}),
            true,
        ),
        (
            "responseStatus.code > 403",
            json!({"responseStatus": {"code": 403}}),
            false,
        ),
        (
            "responseStatus.code > 2.5",
            json!({"responseStatus": {"code": 3}}),
            true,
        ),
        ("responseStatus.code >= 400", json!({}), false),
        ("not responseStatus.code >= 400", json!({}), true),
        // Strings order byte-wise, which orders RFC 3339 times.
        (
            r#"stageTimestamp > "2024-05-01T11:00:00Z""#,
            json!({"stageTimestamp": "2024-05-01T12:00:00Z"}),
            true,
        ),
        (
            r#"responseStatus.code > "400""#,
            json!({"responseStatus": {"code": 403}}),
            false,
        ),
        (
            "all responseStatus.code >= 400",
            json!({"responseStatus": {"code": [401, 500]}}),
            true,
        ),
    ]);
}

#[test]
fn membership() {
    check(&[
        (
            r#"verb in ["create", "patch"]"#,
            json!({"verb": "patch"}),
            true,
        ),
        (
            r#"verb in ["create", "patch"]"#,
            json!({"verb": "get"}),
            false,
        ),
        (
            "responseStatus.code in [401, 403]",
            json!({"responseStatus": {"code": 403}}),
            true,
        ),
        (
            r#"responseStatus.code in ["403"]"#,
            json!({"responseStatus": {"code": 403}}),
            false,
        ),
        (
            r#"objectRef.namespace in ["kube-system"]"#,
            json!({}),
            false,
        ),
        (
            r#"not objectRef.namespace in ["kube-system"]"#,
            json!({}),
            true,
        ),
        (
            r#"user.groups intersects ["system:masters"]"#,
            json!({"user": {"groups": ["dev", "system:masters"]}}),
            true,
        ),
        (
            r#"user.groups intersects ["system:masters"]"#,
            json!({"user": {"groups": ["dev"]}}),
            false,
        ),
        // `all ... in` is Falco's subset meaning.
        (
            r#"all user.groups in ["a", "b"]"#,
            json!({"user": {"groups": ["a", "b"]}}),
            true,
        ),
        (
            r#"all user.groups in ["a", "b"]"#,
            json!({"user": {"groups": ["a", "c"]}}),
            false,
        ),
        // The right side may be a field: a value of the left among the values of the right.
        (
            "objectRef.namespace in user.groups",
            json!({"objectRef": {"namespace": "dev"}, "user": {"groups": ["dev"]}}),
            true,
        ),
    ]);
}

#[test]
fn string_operators() {
    let ua = |s: &str| json!({ "userAgent": s });
    check(&[
        (r#"userAgent contains "curl""#, ua("my-curl/8"), true),
        (r#"userAgent contains "Curl""#, ua("my-curl/8"), false),
        (r#"userAgent icontains "CURL""#, ua("my-curl/8"), true),
        (
            r#"userAgent startswith "kubectl/""#,
            ua("kubectl/v1.29"),
            true,
        ),
        (
            r#"userAgent startswith "Kubectl/""#,
            ua("kubectl/v1.29"),
            false,
        ),
        (
            r#"userAgent istartswith "KUBECTL/""#,
            ua("kubectl/v1.29"),
            true,
        ),
        (r#"userAgent endswith "linux""#, ua("x/linux"), true),
        (r#"userAgent iendswith "LINUX""#, ua("x/linux"), true),
        (r#"userAgent iendswith "LINUX""#, ua("x/linux-amd64"), false),
        // A list on the right: any element.
        (
            r#"userAgent startswith ["curl/", "wget/"]"#,
            ua("wget/1.21"),
            true,
        ),
        // Missing, and a number where a string is needed.
        (r#"userAgent contains "x""#, json!({}), false),
        (
            r#"responseStatus.code contains "40""#,
            json!({"responseStatus": {"code": 403}}),
            false,
        ),
        (r#"not userAgent contains "x""#, json!({}), true),
        // Several values: any of them.
        (
            r#"user.groups startswith "system:""#,
            json!({"user": {"groups": ["dev", "system:masters"]}}),
            true,
        ),
        (
            r#"all user.groups startswith "system:""#,
            json!({"user": {"groups": ["dev", "system:masters"]}}),
            false,
        ),
    ]);
}

#[test]
fn regex_glob_and_cidr() {
    let ua = |s: &str| json!({ "userAgent": s });
    let ip = |s: &str| json!({ "sourceIPs": [s] });
    check(&[
        // `matches` holds when the expression matches anywhere; anchors make it whole.
        (r#"userAgent matches "curl/\d+""#, ua("x curl/8 y"), true),
        (r#"userAgent matches "^curl/\d+$""#, ua("x curl/8 y"), false),
        (r#"userAgent matches "^curl/\d+$""#, ua("curl/8"), true),
        (
            r#"userAgent glob "kubectl/*""#,
            ua("kubectl/v1.29 (linux/amd64)"),
            true,
        ),
        (
            r#"userAgent glob "kubectl/v1.?9*""#,
            ua("kubectl/v1.29"),
            true,
        ),
        (r#"userAgent glob "[a-j]*""#, ua("kubectl"), false),
        (r#"userAgent glob "kubectl""#, ua("kubectl/v1"), false),
        (r#"sourceIPs cidr "10.0.0.0/8""#, ip("10.1.2.3"), true),
        (r#"sourceIPs cidr "10.0.0.0/8""#, ip("11.1.2.3"), false),
        (r#"sourceIPs cidr "fd00::/8""#, ip("fd12::1"), true),
        (r#"sourceIPs cidr "10.0.0.0/8""#, ip("not-an-ip"), false),
        (
            r#"sourceIPs cidr ["10.0.0.0/8", "192.168.0.0/16"]"#,
            ip("192.168.1.1"),
            true,
        ),
        (
            r#"sourceIPs cidr "10.0.0.0/8""#,
            json!({"sourceIPs": ["1.1.1.1", "10.0.0.5"]}),
            true,
        ),
        (
            r#"all sourceIPs cidr "10.0.0.0/8""#,
            json!({"sourceIPs": ["1.1.1.1", "10.0.0.5"]}),
            false,
        ),
        (r#"userAgent matches "x""#, json!({}), false),
    ]);
}

#[test]
fn exists_functions_and_precedence() {
    check(&[
        (
            "exists objectRef.subresource",
            json!({"objectRef": {"subresource": "exec"}}),
            true,
        ),
        (
            "exists objectRef.subresource",
            json!({"objectRef": {"subresource": null}}),
            false,
        ),
        (
            "exists objectRef.subresource",
            json!({"objectRef": {}}),
            false,
        ),
        ("not exists objectRef.subresource", json!({}), true),
        // A function's missing argument makes its result missing.
        (
            r#"lower(userAgent) == "curl""#,
            json!({"userAgent": "CURL"}),
            true,
        ),
        (r#"lower(userAgent) == "curl""#, json!({}), false),
        (r#"not lower(userAgent) == "curl""#, json!({}), true),
        // A parameter taking one value runs once per value; one taking a list gets the array.
        (
            "is_private_ip(sourceIPs)",
            json!({"sourceIPs": ["8.8.8.8", "10.0.0.1"]}),
            true,
        ),
        (
            "is_private_ip(sourceIPs)",
            json!({"sourceIPs": ["8.8.8.8"]}),
            false,
        ),
        (
            r#"join(user.groups, ",") == "a,b""#,
            json!({"user": {"groups": ["a", "b"]}}),
            true,
        ),
        (
            "len(sourceIPs) == 2",
            json!({"sourceIPs": ["8.8.8.8", "10.0.0.1"]}),
            true,
        ),
        // Comparisons bind tightest, then not, then and, then or.
        (
            r#"not verb == "get" and userAgent == "x" or objectRef.name == "n""#,
            json!({"verb": "get", "objectRef": {"name": "n"}}),
            true,
        ),
        (
            r#"not verb == "get" and userAgent == "x" or objectRef.name == "n""#,
            json!({"verb": "list", "userAgent": "x"}),
            true,
        ),
        (
            r#"not (verb == "list" and userAgent == "x")"#,
            json!({"verb": "list", "userAgent": "x"}),
            false,
        ),
    ]);
}

#[test]
fn a_failing_script_makes_its_rule_false_even_under_not() {
    // `x / 0` is a runtime error in Rhai.
    check(&[
        ("script { 1 / 0 == 1 }", json!({}), false),
        ("not script { 1 / 0 == 1 }", json!({}), false),
        (r#"script { event.verb == "get" }"#, json!({}), true),
        (
            "script { event.requestObject?.spec?.hostPID == true }",
            json!({}),
            false,
        ),
    ]);
}

/// A macro several rules use is evaluated once per event and shared (`Cond::Memo`): each rule
/// still gets the macro's result for the event at hand, never a result left from the previous
/// event, and `not` or another kind of event around it changes nothing.
#[test]
fn a_macro_shared_by_rules_gives_each_rule_its_result_on_every_event() {
    let text = r#"
macro person = not user.username startswith "system:" and exists user.username
macro writes = verb in ["create", "update", "patch", "delete"]
rule a { when person and writes }
rule b { when writes and person and objectRef.resource == "pods" }
rule c { when not person }
rule d { when person or verb == "watch" }
rule e { source kubearmor  when exists HostName and not (Type == "x") }
"#;
    let compiled = k8scop_engine::loader::load_sources(
        vec![SourceFile::new("t.rules", text)],
        &CompileOptions::default(),
    );
    assert!(compiled.diagnostics.iter().all(|d| !d.is_error()));
    let ruleset = compiled.ruleset.expect("no errors");
    // The macros are shared: rule a's condition is two memos.
    let k8scop_engine::eval::Cond::And(parts) = &ruleset.rules[0].when else {
        panic!("rule a is a conjunction");
    };
    assert!(parts
        .iter()
        .all(|p| matches!(p, k8scop_engine::eval::Cond::Memo { .. })));
    let mut engine = Engine::new(Arc::new(ruleset));
    let events = [
        json!({"verb": "create", "user": {"username": "alice"}, "objectRef": {"resource": "pods"}}),
        json!({"verb": "create", "user": {"username": "system:node:n1"}, "objectRef": {"resource": "pods"}}),
        json!({"verb": "get", "user": {"username": "bob"}}),
        json!({"verb": "watch", "user": {"username": "system:kube-scheduler"}}),
        json!({"verb": "delete", "user": {"username": "carol"}, "objectRef": {"resource": "secrets"}}),
        json!({"verb": "patch"}),
    ];
    let mut out = Output::default();
    for (i, mut event) in events.into_iter().enumerate() {
        event["requestReceivedTimestamp"] = json!(format!("2024-05-01T12:00:0{i}Z"));
        engine.process(&Event::classify(event, "t").expect("an event"), &mut out);
    }
    let matches: Vec<(String, u64)> = engine
        .stats()
        .iter()
        .map(|(d, s)| (d.name.to_string(), s.matches))
        .collect();
    let expected = [("a", 2), ("b", 1), ("c", 3), ("d", 4), ("e", 0)];
    let expected: Vec<(String, u64)> = expected.iter().map(|(n, m)| (n.to_string(), *m)).collect();
    assert_eq!(matches, expected);
}
