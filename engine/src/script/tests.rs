use std::sync::Arc;
use std::time::{Duration, Instant};

use k8scop_grammar::ast::{ScriptBlock, ScriptExpr, Span};
use k8scop_grammar::{Code, Diagnostic, SourceFile};
use serde_json::{json, Value};

use crate::doc::Doc;

use super::*;

/// The body of the `script { ... }` that starts at `marker` in `text`, up to its balancing brace.
fn body_span(text: &str, marker: &str) -> (Span, Span) {
    let start = text.find(marker).expect("marker in text");
    let open = start + text[start..].find('{').expect("an opening brace");
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    let close = open + i;
                    return (Span::new(open + 1, close), Span::new(start, close + 1));
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced script in test text");
}

/// Every top-level `script {` block of a file.
fn blocks_of(file: &Arc<SourceFile>) -> Vec<(Arc<SourceFile>, ScriptBlock)> {
    let text = &file.text;
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("script {") {
        let at = from + i;
        if at > 0 && !text[..at].ends_with('\n') {
            from = at + 1;
            continue;
        }
        let (body_span, span) = body_span(&text[at..], "script {");
        let shift = |s: Span| Span::new(s.start + at, s.end + at);
        let (body_span, span) = (shift(body_span), shift(span));
        blocks.push((
            Arc::clone(file),
            ScriptBlock {
                body: text[body_span.start..body_span.end].to_owned(),
                body_span,
                span,
            },
        ));
        from = span.end;
    }
    blocks
}

/// The condition script of a file: the one after `and script {`.
fn expr_of(file: &Arc<SourceFile>) -> ScriptExpr {
    let (body_span, span) = body_span(&file.text, "and script {");
    let span = Span::new(span.start + "and ".len(), span.end);
    ScriptExpr {
        body: file.text[body_span.start..body_span.end].to_owned(),
        body_span,
        span,
    }
}

fn host(text: &str) -> (ScriptHost, Vec<Diagnostic>) {
    host_with(text, ScriptLimits::default())
}

fn host_with(text: &str, limits: ScriptLimits) -> (ScriptHost, Vec<Diagnostic>) {
    let file = SourceFile::new("test.rules", text);
    ScriptHost::new(&blocks_of(&file), limits)
}

/// Compiles `script { BODY }` as a condition of a one-rule file.
fn compile(host: &mut ScriptHost, body: &str) -> Result<ScriptId, Diagnostic> {
    let file = SourceFile::new(
        "cond.rules",
        format!("rule r {{\n    when verb == \"get\"\n         and script {{{body}}}\n}}\n"),
    );
    host.compile_expr(&file, &expr_of(&file))
}

fn eval_bool(host: &mut ScriptHost, body: &str, event: &Value) -> Result<bool, ScriptError> {
    let id = compile(host, body).expect("script compiles");
    let doc = Doc::from_value(event);
    host.eval_bool(id, &ScriptEvent::new(doc.root()))
}

/// The text a diagnostic's primary label underlines and its `line:col`.
fn labelled(d: &Diagnostic) -> (String, (usize, usize)) {
    let label = &d.labels[0];
    let text = label.file.text[label.span.start..label.span.end].to_owned();
    (text, d.line_col().expect("a label"))
}

fn pod_event(host_pid: Option<bool>) -> Value {
    let mut event = json!({
        "verb": "create",
        "user": {"username": "Alice", "groups": ["devs"]},
        "objectRef": {"resource": "pods", "namespace": "web", "name": "api-0"},
        "userAgent": "kubectl/v1.30",
    });
    if let Some(host_pid) = host_pid {
        event["requestObject"] =
            json!({"spec": {"hostPID": host_pid, "containers": [{"name": "c"}]}});
    }
    event
}

#[test]
fn host_and_event_are_send_and_sync() {
    fn is<T: Send + Sync>() {}
    is::<ScriptHost>();
    is::<ScriptEvent<'static>>();
}

#[test]
fn block_syntax_error_points_at_its_place_in_the_rules_file() {
    let text = "rule a { when verb == \"get\" }\nscript {\n    fn has_curl(ua) { ua.contains(\"curl\" }\n}\n";
    let (_, diagnostics) = host(text);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    assert_eq!(d.code, Code::ScriptSyntax);
    assert_eq!(d.file().unwrap().name, "test.rules");
    // `ua.contains("curl" }`: the `)` is missing where the `}` stands.
    let col = text.lines().nth(2).unwrap().rfind('}').unwrap() + 1;
    assert_eq!(labelled(d), ("}".to_owned(), (3, col)));
    assert!(
        d.message.starts_with(|c: char| c.is_lowercase()),
        "{}",
        d.message
    );
}

#[test]
fn every_block_reports_its_own_error() {
    let text = "script {\n  fn a(x) { x +* 1 }\n}\nrule r { when verb == \"get\" }\nscript {\n  fn b(x) {\n    x == y\n  }\n}\n";
    let (host, diagnostics) = host(text);
    let places: Vec<_> = diagnostics.iter().map(labelled).collect();
    assert_eq!(places.len(), 2, "{diagnostics:?}");
    assert_eq!(places[0].1 .0, 2);
    // Undefined variables are compile errors (strict variables).
    assert_eq!(places[1], ("y".to_owned(), (7, 10)));
    assert!(diagnostics[1]
        .help
        .as_deref()
        .unwrap()
        .contains("arguments"));
    // The broken blocks' functions are still known by name, so calls to them are not also
    // reported as unknown.
    assert_eq!(host.function_arity("a"), Some(1));
    assert_eq!(host.function_arity("b"), Some(1));
}

#[test]
fn condition_script_syntax_error_points_at_its_place() {
    let mut host = host("").0;
    let d = compile(&mut host, " event.requestObject?.spec?.hostPID === true ").unwrap_err();
    assert_eq!(d.code, Code::ScriptSyntax);
    let line3 = "         and script { event.requestObject?.spec?.hostPID === true }";
    assert_eq!(
        labelled(&d),
        ("===".to_owned(), (3, line3.find("===").unwrap() + 1))
    );

    // On the second line of a script body, the column counts from the file's line start.
    let d = compile(
        &mut host,
        "\n    let ns = event.objectRef?.namespace;\n    ns == \"web\" && ;\n",
    )
    .unwrap_err();
    assert_eq!(
        labelled(&d),
        (";".to_owned(), (5, "    ns == \"web\" && ".len() + 1))
    );
}

#[test]
fn condition_scripts_cannot_define_functions_nor_use_eval_nor_be_empty() {
    let mut host = host("").0;
    let d = compile(&mut host, " fn f() { true } f() ").unwrap_err();
    assert_eq!(labelled(&d).0, "f");
    let d = compile(&mut host, " eval(\"true\") ").unwrap_err();
    assert_eq!(labelled(&d).0, "eval");
    assert_eq!(
        compile(&mut host, "  ").unwrap_err().code,
        Code::ScriptSyntax
    );
    let d = compile(&mut host, " unknown_var == 1 ").unwrap_err();
    assert_eq!(labelled(&d).0, "unknown_var");
}

#[test]
fn block_statements_outside_functions_are_rejected() {
    let (_, diagnostics) = host("script {\n  fn f() { 1 }\n  let limit = 5;\n}\n");
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(labelled(&diagnostics[0]), ("let".to_owned(), (3, 3)));
}

#[test]
fn duplicate_script_functions_point_at_both_definitions() {
    let (host, diagnostics) =
        host("script {\n  fn f(x) { x }\n}\nscript {\n  fn g() { 1 }\n  fn f(a, b) { a }\n}\n");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    assert_eq!(d.code, Code::DuplicateName);
    assert_eq!(labelled(d), ("f".to_owned(), (6, 6)));
    assert_eq!(d.labels[1].span.start, d.labels[0].file.offset_of(2, 6));
    assert_eq!(host.function_arity("f"), Some(1));
    assert_eq!(host.function_arity("g"), Some(0));
    assert_eq!(host.function_arity("h"), None);
}

#[test]
fn script_function_called_from_a_condition() {
    let (host, diagnostics) = host("script {\n    // Rhai functions, callable from any condition\n    fn scripted_client(ua) { ua.contains(\"curl\") || ua.contains(\"python-requests\") }\n}\n");
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(host.function_arity("scripted_client"), Some(1));
    assert_eq!(
        host.call_fn("scripted_client", &[&json!("curl/8.5.0")]),
        Ok(Some(json!(true)))
    );
    assert_eq!(
        host.call_fn("scripted_client", &[&json!("kubectl/v1.30")]),
        Ok(Some(json!(false)))
    );
    let err = host.call_fn("scripted_client", &[&json!(42)]).unwrap_err();
    assert!(
        err.message.starts_with("in function `scripted_client`: "),
        "{err}"
    );
    assert!(err.message.ends_with("at test.rules:3:33"), "{err}");
    assert!(host.call_fn("nope", &[]).is_err());
}

#[test]
fn condition_scripts_call_script_functions() {
    let (mut host, _) = host("script {\n  fn privileged(spec) { spec?.hostPID == true || spec?.hostNetwork == true }\n}\n");
    let body = " privileged(event.requestObject?.spec) ";
    assert_eq!(eval_bool(&mut host, body, &pod_event(Some(true))), Ok(true));
    assert_eq!(
        eval_bool(&mut host, body, &pod_event(Some(false))),
        Ok(false)
    );
    assert_eq!(eval_bool(&mut host, body, &pod_event(None)), Ok(false));
}

#[test]
fn stdlib_functions_are_callable_from_rhai() {
    let mut host = host("").0;
    let event = pod_event(None);
    assert_eq!(
        eval_bool(
            &mut host,
            " lower(event.user.username) == \"alice\" ",
            &event
        ),
        Ok(true)
    );
    assert_eq!(
        eval_bool(
            &mut host,
            " event.user.username.lower() == \"alice\" ",
            &event
        ),
        Ok(true)
    );
    assert_eq!(
        eval_bool(
            &mut host,
            " is_service_account(\"system:serviceaccount:kube-system:default\") ",
            &event
        ),
        Ok(true)
    );
    assert_eq!(
        eval_bool(
            &mut host,
            " is_service_account(event.user.username) ",
            &event
        ),
        Ok(false)
    );
}

#[test]
fn stdlib_examples_give_the_same_results_from_rhai() {
    // Each example's arguments are passed as the elements of `event`.
    let mut host = host("").0;
    let mut checked = 0;
    for function in k8scop_stdlib::all() {
        for example in function.examples() {
            let args: Value = serde_json::from_str(example.args).unwrap();
            let expected: Value = serde_json::from_str(example.result).unwrap();
            let n = args.as_array().map_or(0, Vec::len);
            let call_args: Vec<String> = (0..n).map(|i| format!("event[{i}]")).collect();
            let body = format!(" {}({}) ", function.name(), call_args.join(", "));
            let id = compile(&mut host, &body).unwrap();
            let args = Doc::from_value(&args);
            let got = host.eval_value(id, &ScriptEvent::new(args.root()));
            let expected = (!expected.is_null()).then_some(expected);
            assert_eq!(got, Ok(expected), "{} from Rhai", example.call);
            checked += 1;
        }
    }
    assert_eq!(checked == 0, k8scop_stdlib::all().is_empty());
}

#[test]
fn event_is_read_only() {
    let (mut host, _) = host("script {\n  fn clobber(m) { m.verb = \"delete\"; true }\n}\n");
    let json = Doc::from_value(&pod_event(Some(true)));
    let event = ScriptEvent::new(json.root());
    for attempt in [
        " event.verb = \"delete\"; true ",
        " event[\"verb\"] = \"delete\"; true ",
        " event.objectRef.name = \"x\"; true ",
        " event.user.groups[0] = \"admins\"; true ",
        " event.user.groups.push(\"admins\"); true ",
        " event.user.groups += \"admins\"; true ",
        " event.clear(); true ",
        " event.remove(\"verb\"); true ",
        " event.mixin(#{verb: \"delete\"}); true ",
        " event += #{verb: \"delete\"}; true ",
        " event = #{}; true ",
        " event.requestObject.spec.containers[0].name = \"evil\"; true ",
        " let f = || { event.verb = \"delete\" }; f.call(); true ",
    ] {
        let result = compile(&mut host, attempt).map(|id| host.eval_bool(id, &event));
        assert!(!matches!(result, Ok(Ok(true))), "`{attempt}` succeeded");
    }
    // Copies and function arguments are values: changing them leaves the event alone.
    for harmless in [
        " let e = event; e.verb = \"delete\"; true ",
        " clobber(event) ",
        // Function-call style passes a copy.
        " clear(event); true ",
        " let g = event.user.groups; g.push(\"x\"); true ",
    ] {
        assert_eq!(
            eval_bool(&mut host, harmless, &json.to_value()),
            Ok(true),
            "{harmless}"
        );
        let id = compile(&mut host, harmless).unwrap();
        assert_eq!(host.eval_bool(id, &event), Ok(true), "{harmless}");
    }
    let id = compile(&mut host, " event ").unwrap();
    assert_eq!(host.eval_value(id, &event), Ok(Some(json.to_value())));
}

#[test]
fn missing_fields_are_unit_with_optional_chaining() {
    let mut host = host("").0;
    let body = " event.requestObject?.spec?.hostPID == true ";
    assert_eq!(eval_bool(&mut host, body, &pod_event(Some(true))), Ok(true));
    assert_eq!(
        eval_bool(&mut host, body, &pod_event(Some(false))),
        Ok(false)
    );
    assert_eq!(eval_bool(&mut host, body, &pod_event(None)), Ok(false));
    assert_eq!(
        eval_bool(&mut host, " event.nope == () ", &pod_event(None)),
        Ok(true)
    );
    // A null field looks like a missing one.
    assert_eq!(
        eval_bool(&mut host, " event.x == () ", &json!({"x": null})),
        Ok(true)
    );

    let id = compile(
        &mut host,
        " event.requestObject?.spec?.containers?[0]?.name ",
    )
    .unwrap();
    let with = Doc::from_value(&pod_event(Some(true)));
    let without = Doc::from_value(&pod_event(None));
    assert_eq!(
        host.eval_value(id, &ScriptEvent::new(with.root())),
        Ok(Some(json!("c")))
    );
    assert_eq!(
        host.eval_value(id, &ScriptEvent::new(without.root())),
        Ok(None)
    );
}

#[test]
fn non_boolean_results_of_eval_bool_are_errors() {
    let mut host = host("").0;
    let event = pod_event(None);
    let err = eval_bool(&mut host, " 42 ", &event).unwrap_err();
    assert_eq!(err.message, "script returned `i64`, expected a boolean");
    let err = eval_bool(&mut host, " event.nope ", &event).unwrap_err();
    assert_eq!(err.message, "script returned `()`, expected a boolean");
    let err = eval_bool(&mut host, " event.verb ", &event).unwrap_err();
    assert_eq!(err.message, "script returned `string`, expected a boolean");
}

#[test]
fn runtime_errors_name_their_place() {
    let mut host = host("").0;
    let err = eval_bool(
        &mut host,
        "\n  event.verb.no_such_method()\n",
        &pod_event(None),
    )
    .unwrap_err();
    assert!(err.message.ends_with("at cond.rules:4:14"), "{err}");
    assert!(err.message.starts_with(|c: char| c.is_lowercase()), "{err}");
    let err = eval_bool(&mut host, " throw \"custom failure\" ", &pod_event(None)).unwrap_err();
    assert!(
        err.message.starts_with("custom failure at cond.rules:3:"),
        "{err}"
    );
}

/// Runs a runaway script and returns its error and how long it ran.
fn runaway(limits: ScriptLimits, body: &str) -> (ScriptError, Duration) {
    let (mut host, _) = host_with("", limits);
    let id = compile(&mut host, body).unwrap();
    let json = Doc::from_value(&pod_event(None));
    let event = ScriptEvent::new(json.root());
    // Convert the event first: only the script's own run is timed.
    let warm = compile(&mut host, " true ").unwrap();
    host.eval_bool(warm, &event).unwrap();
    let started = Instant::now();
    let err = host.eval_bool(id, &event).unwrap_err();
    (err, started.elapsed())
}

#[test]
fn a_runaway_script_stops_at_the_operation_limit_the_same_way_every_time() {
    let operation_limit = ScriptError {
        kind: ScriptErrorKind::Error,
        message: "operation limit exceeded".to_owned(),
    };
    for body in [
        " while true {} ",
        " let n = 0; loop { n += 1; } ",
        " loop { let c = event.requestObject?.spec?.containers; lower(event.user.username); } ",
    ] {
        for _ in 0..5 {
            let (err, took) = runaway(ScriptLimits::default(), body);
            eprintln!("`{}` stopped after {took:?}: {err}", body.trim());
            assert_eq!(err, operation_limit, "`{}`", body.trim());
            // The clock is a backstop: the operation limit comes first by far, even in a debug
            // build on a loaded machine (up to about 50 ms measured there).
            assert!(
                took < ScriptLimits::DEFAULT_DEADLINE / 4,
                "ran for {took:?}"
            );
        }
    }

    // Where the limit falls is a count of operations, not a time.
    let limits = ScriptLimits {
        max_operations: 1_000,
        ..ScriptLimits::default()
    };
    let mut host = host_with("", limits).0;
    let event = pod_event(None);
    for _ in 0..5 {
        let within = " let n = 0; while n < 100 { n += 1; } n == 100 ";
        assert_eq!(eval_bool(&mut host, within, &event), Ok(true));
        let beyond = " let n = 0; while n < 1000 { n += 1; } n == 1000 ";
        assert_eq!(
            eval_bool(&mut host, beyond, &event),
            Err(operation_limit.clone())
        );
    }
}

#[test]
fn the_deadline_stops_a_script_the_operation_limit_would_not_and_says_so() {
    let limits = ScriptLimits {
        // Finite, so that a broken deadline fails the test instead of hanging it.
        max_operations: 100_000_000,
        deadline: Duration::from_millis(5),
        ..ScriptLimits::default()
    };
    let (err, took) = runaway(limits.clone(), " let n = 0; loop { n += 1; } ");
    assert_eq!(
        err,
        ScriptError {
            kind: ScriptErrorKind::DeadlineExceeded,
            message: "script deadline exceeded (5 ms)".to_owned(),
        }
    );
    assert!(took >= Duration::from_millis(5), "{took:?}");

    // The deadline is per evaluation: a script fine on its own is fine after a slow one.
    let (host, _) = host_with(
        "script {\n  fn spin() { loop {} }\n  fn quick() { true }\n}\n",
        limits,
    );
    let err = host.call_fn("spin", &[]).unwrap_err();
    assert_eq!(err.kind, ScriptErrorKind::DeadlineExceeded);
    assert_eq!(err.message, "script deadline exceeded (5 ms)");
    assert_eq!(host.call_fn("quick", &[]), Ok(Some(json!(true))));

    // The other limits are deterministic failures.
    let (mut deep, _) = host_with(
        "script {\n  fn down(n) { down(n + 1) }\n}\n",
        ScriptLimits::default(),
    );
    let err = eval_bool(&mut deep, " down(0) ", &pod_event(None)).unwrap_err();
    assert_eq!(err.kind, ScriptErrorKind::Error);
}

#[test]
fn deep_recursion_stops_at_the_call_depth_limit() {
    let (mut host, _) = host("script {\n  fn down(n) { down(n + 1) }\n}\n");
    let err = eval_bool(&mut host, " down(0) ", &pod_event(None)).unwrap_err();
    assert_eq!(err.message, "call depth limit exceeded");
    let err = host.call_fn("down", &[&json!(0)]).unwrap_err();
    assert_eq!(err.message, "call depth limit exceeded");

    // The configured depth is the one enforced.
    let text = "script {\n  fn depth(n) { if n == 0 { 0 } else { 1 + depth(n - 1) } }\n}\n";
    let shallow = ScriptLimits {
        max_call_levels: 8,
        ..ScriptLimits::default()
    };
    let (host, _) = host_with(text, shallow);
    assert_eq!(host.call_fn("depth", &[&json!(5)]), Ok(Some(json!(5))));
    let err = host.call_fn("depth", &[&json!(10)]).unwrap_err();
    assert_eq!(err.message, "call depth limit exceeded");
    let (host, _) = host_with(text, ScriptLimits::default());
    assert_eq!(host.call_fn("depth", &[&json!(20)]), Ok(Some(json!(20))));
}

#[test]
fn huge_values_stop_at_the_size_limits() {
    let limits = ScriptLimits::default();
    let mut host = host_with("", limits.clone()).0;
    let event = pod_event(None);
    let err = eval_bool(&mut host, " let s = \"x\"; loop { s += s; } ", &event).unwrap_err();
    assert_eq!(err.message, "string size limit exceeded");
    let err = eval_bool(&mut host, " let a = [1]; loop { a += a; } ", &event).unwrap_err();
    assert_eq!(err.message, "array size limit exceeded");
    let err = eval_bool(&mut host, " let a = []; a.pad(1000000, 0); true ", &event).unwrap_err();
    assert_eq!(err.message, "array size limit exceeded");

    let small_maps = ScriptLimits {
        max_map_size: 10,
        ..limits
    };
    let mut host = host_with("", small_maps).0;
    let err = eval_bool(
        &mut host,
        " let m = #{}; for i in 0..100 { m[`k${i}`] = i; m.last = i; } true ",
        &event,
    )
    .unwrap_err();
    assert_eq!(err.message, "map size limit exceeded");
}

#[test]
fn the_event_is_converted_once_however_many_scripts_run() {
    let mut host = host("").0;
    let ids: Vec<ScriptId> = [
        " event.verb == \"create\" ",
        " event.user.username.len() > 0 ",
        " event.objectRef?.namespace == \"web\" ",
    ]
    .into_iter()
    .map(|body| compile(&mut host, body).unwrap())
    .collect();
    let json = Doc::from_value(&pod_event(None));
    let event = ScriptEvent::new(json.root());
    assert_eq!(event.conversions(), 0, "conversion is lazy");
    for _ in 0..3 {
        for &id in &ids {
            assert_eq!(host.eval_bool(id, &event), Ok(true));
        }
    }
    assert_eq!(event.conversions(), 1);
}

#[test]
fn script_variables_do_not_leak_between_evaluations() {
    let mut host = host("").0;
    let json = Doc::from_value(&pod_event(None));
    let event = ScriptEvent::new(json.root());
    let declare = compile(&mut host, " let seen = true; seen ").unwrap();
    assert_eq!(host.eval_bool(declare, &event), Ok(true));
    // `seen` is not defined for the next script: strict variables reject it at compile time.
    assert!(compile(&mut host, " seen ").is_err());
    assert_eq!(host.eval_bool(declare, &event), Ok(true));
}

#[test]
fn print_and_debug_are_silent_no_ops() {
    let mut host = host("").0;
    assert_eq!(
        eval_bool(
            &mut host,
            " print(\"hello\"); debug(event.verb); true ",
            &pod_event(None)
        ),
        Ok(true)
    );
}

#[test]
fn sleep_and_other_escape_hatches_do_not_exist() {
    let mut host = host("").0;
    for body in [
        " sleep(1); true ",
        " exit(true) ",
        " let x = 1; take(x); true ",
    ] {
        let empty = Doc::from_value(&json!({}));
        let result =
            compile(&mut host, body).map(|id| host.eval_bool(id, &ScriptEvent::new(empty.root())));
        assert!(!matches!(result, Ok(Ok(true))), "`{body}` ran");
    }
}
#[test]
fn threads_share_one_host_and_keep_their_own_deadlines() {
    let limits = ScriptLimits {
        // Finite, so that a broken deadline fails the test instead of hanging it.
        max_operations: 100_000_000,
        deadline: Duration::from_millis(20),
        ..ScriptLimits::default()
    };
    let (mut host, _) = host_with("", limits);
    let spin = compile(&mut host, " loop {} ").unwrap();
    let quick = compile(&mut host, " event.objectRef.namespace == \"web\" ").unwrap();
    let host = &host;
    std::thread::scope(|threads| {
        let spinner = threads.spawn(move || {
            let json = Doc::from_value(&pod_event(None));
            host.eval_bool(spin, &ScriptEvent::new(json.root()))
        });
        let workers: Vec<_> = (0..3)
            .map(|_| {
                threads.spawn(move || {
                    let json = Doc::from_value(&pod_event(Some(true)));
                    let event = ScriptEvent::new(json.root());
                    (0..200).all(|_| host.eval_bool(quick, &event) == Ok(true))
                })
            })
            .collect();
        for worker in workers {
            assert!(worker.join().unwrap());
        }
        assert_eq!(
            spinner.join().unwrap().unwrap_err().message,
            "script deadline exceeded (20 ms)"
        );
    });
}
