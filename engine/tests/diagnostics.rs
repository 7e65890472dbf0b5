//! The compiler's diagnostics as a user sees them: rendered without colour at width 100 and
//! compared with the snapshots in `snapshots/`, at least one per code the compiler raises (the
//! parser's are in `grammar/tests/diagnostics.rs`). Review a changed snapshot as a user would
//! read it.

use std::sync::Arc;

use k8scop_engine::loader::load_sources;
use k8scop_engine::CompileOptions;
use k8scop_grammar::{Code, Diagnostic, SourceFile};

/// Loads the files (name, text) as one ruleset and returns its diagnostics.
fn diagnostics(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    let sources: Vec<Arc<SourceFile>> = files
        .iter()
        .map(|(name, text)| SourceFile::new(*name, *text))
        .collect();
    load_sources(sources, &CompileOptions::default()).diagnostics
}

/// All diagnostics, as the CLI shows them, without colour and at width 100.
fn render_all(diagnostics: &[Diagnostic]) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for diagnostic in diagnostics {
        handler
            .render_report(&mut out, diagnostic)
            .expect("rendering into a String cannot fail");
    }
    out
}

/// Renders the diagnostics of the files and checks that their codes are `codes`, in order.
fn check_files(files: &[(&str, &str)], codes: &[Code]) -> String {
    let diagnostics = diagnostics(files);
    let got: Vec<Code> = diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(got, codes, "{}", render_all(&diagnostics));
    render_all(&diagnostics)
}

fn check(text: &str, codes: &[Code]) -> String {
    check_files(&[("test.rules", text)], codes)
}

macro_rules! snapshot {
    ($name:ident, $text:expr, $($code:ident),+) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(check($text, &[$(Code::$code),+]));
        }
    };
}

/// Every code the compiler raises has a case below. The parser's codes (`syntax`,
/// `duplicate_property`) and the loader's (`unreadable_file`) are tested elsewhere.
#[test]
fn every_compiler_code_has_a_snapshot() {
    let source = include_str!("diagnostics.rs");
    let parser_or_loader = [Code::Syntax, Code::DuplicateProperty, Code::UnreadableFile];
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !parser_or_loader.contains(c))
        .filter(|c| {
            !(source.contains(&format!("    {c:?}\n")) || source.contains(&format!("    {c:?},\n")))
        })
        .map(|c| c.slug())
        .collect();
    assert!(missing.is_empty(), "no snapshot case for {missing:?}");
}

// ---- names and cycles ----------------------------------------------------------------------

snapshot!(
    duplicate_name,
    "macro shell = verb == \"create\"\n\nrule shell {\n    when shell\n}\n",
    DuplicateName
);

#[test]
fn duplicate_name_in_another_file() {
    insta::assert_snapshot!(check_files(
        &[
            ("a.rules", "rule shell {\n    when verb == \"create\"\n}\n"),
            ("b.rules", "list shell = [\"sh\", \"bash\"]\n"),
        ],
        &[Code::DuplicateName],
    ));
}

snapshot!(
    duplicate_name_of_a_stdlib_function,
    "macro lower = verb == \"get\"\n",
    DuplicateName
);
snapshot!(
    duplicate_name_of_a_script_function,
    "script {\n    fn is_admin(user) { user == \"admin\" }\n}\n\nmacro is_admin = user.username == \"admin\"\n",
    DuplicateName
);
snapshot!(
    unknown_name_close_to_a_macro,
    "macro exec_request = objectRef.subresource == \"exec\"\n\nrule pod_exec {\n    when exec_requst\n}\n",
    UnknownName
);
snapshot!(
    unknown_name,
    "rule pod_exec {\n    when privileged\n}\n",
    UnknownName
);
snapshot!(
    unknown_list_in_a_list,
    "list system_namespaces = [\"kube-system\"]\nlist watched = [system_namespace, \"default\"]\n",
    UnknownName
);
// Each macro of the cycle is checked on its own too, so the cycle is reported from both ends.
snapshot!(
    macro_cycle,
    "macro a = verb == \"get\" and b\nmacro b = a\n\nrule r {\n    when a\n}\n",
    MacroCycle,
    MacroCycle
);
snapshot!(
    list_cycle,
    "list a = [\"x\", b]\nlist b = [a]\n",
    MacroCycle
);
snapshot!(
    misused_list_as_a_condition,
    "list sensitive = [\"kube-system\"]\n\nrule r {\n    when verb == \"create\" and sensitive\n}\n",
    MisusedName
);
snapshot!(
    misused_equals_with_a_list,
    "rule r {\n    when verb == [\"get\", \"list\"]\n}\n",
    MisusedName
);
snapshot!(
    misused_not_equals_with_a_list,
    "rule r {\n    when verb != [\"get\", \"list\"]\n}\n",
    MisusedName
);
snapshot!(
    misused_list_on_the_left,
    "list verbs = [\"get\"]\n\nrule r {\n    when verbs in [\"get\"]\n}\n",
    MisusedName
);
snapshot!(
    misused_macro_as_a_value,
    "macro m = verb == \"get\"\n\nrule r {\n    when objectRef.resource == m\n}\n",
    MisusedName
);
snapshot!(
    misused_macro_in_a_list,
    "macro m = verb == \"get\"\nlist l = [\"a\", m]\n",
    MisusedName
);

// ---- conditions ----------------------------------------------------------------------------

snapshot!(
    bare_path,
    "rule r {\n    when requestObject.spec.hostNetwork\n}\n",
    BarePath
);
snapshot!(
    unknown_function,
    "rule r {\n    when lowr(user.username) == \"admin\"\n}\n",
    UnknownFunction
);
snapshot!(
    wrong_arity,
    "rule r {\n    when lower(user.username, \"x\") == \"admin\"\n}\n",
    WrongArity
);
snapshot!(
    script_syntax,
    "rule r {\n    when script { event.verb == }\n}\n",
    ScriptSyntax
);

// ---- operators -----------------------------------------------------------------------------

snapshot!(
    invalid_value_for_a_string_operator,
    "rule r {\n    when userAgent contains 5\n}\n",
    InvalidValue
);
snapshot!(
    invalid_value_for_an_ordering,
    "rule r {\n    when responseStatus.code > true\n}\n",
    InvalidValue
);
snapshot!(
    invalid_value_in_a_function_argument,
    "rule r {\n    when contains_any(userAgent, [\"curl\", 7])\n}\n",
    InvalidValue
);
snapshot!(
    invalid_regex,
    "rule r {\n    when userAgent matches \"curl/(\"\n}\n",
    InvalidRegex
);
snapshot!(
    invalid_regex_in_a_call,
    "rule r {\n    when regex_match(userAgent, \"[a-\")\n}\n",
    InvalidRegex
);
snapshot!(
    invalid_glob,
    "rule r {\n    when objectRef.name glob \"app-[\"\n}\n",
    InvalidGlob
);
snapshot!(
    invalid_cidr,
    "rule r {\n    when sourceIPs[0] cidr \"10.0.0.0/33\"\n}\n",
    InvalidCidr
);

// ---- lints ---------------------------------------------------------------------------------

snapshot!(
    unknown_field,
    "rule r {\n    when user.name == \"admin\"\n}\n",
    NeverMatches,
    UnknownField
);
snapshot!(
    unknown_field_close_to_a_list,
    "list admins = [\"admin\"]\n\nrule r {\n    when exists admin\n}\n",
    UnknownField
);
// The rule is about secrets, and secrets have no containers.
snapshot!(
    unknown_field_of_the_resource,
    "rule r {\n    when objectRef.resource == \"secrets\" and requestObject.spec.containers[0].image == \"x\"\n}\n",
    UnknownField
);
// Type mismatches: the label names the field's type, the value's type and the operator.
snapshot!(
    never_true_boolean_equals_a_string,
    "rule r {\n    when requestObject.spec.hostNetwork == \"true\"\n}\n",
    NeverMatches,
    NeverTrue
);
snapshot!(
    never_true_boolean_not_equal_to_a_string,
    "rule r {\n    when verb == \"create\" and requestObject.spec.hostNetwork != \"false\"\n}\n",
    NeverMatches,
    NeverTrue
);
snapshot!(
    never_true_integer_ordered_against_a_string,
    "rule r {\n    when responseStatus.code > \"400\"\n}\n",
    NeverMatches,
    NeverTrue
);
// A threshold no count can pass: a match counts itself.
snapshot!(
    threshold_no_count_passes,
    "rule r {\n    when verb == \"get\"\n    threshold count < 1 within 1m\n}\n",
    NeverMatches
);
snapshot!(
    threshold_empty_range,
    "rule r {\n    when verb == \"get\"\n    threshold distinct user.username >= 5 and <= 4 within 1m\n}\n",
    NeverMatches
);
// String operators read strings only: an imported Sigma rule's `responseStatus.code: 'ALLOW'`.
snapshot!(
    never_true_string_operator_on_an_integer,
    "rule r {\n    when responseStatus.code matches \"(?i)^allow$\"\n}\n",
    NeverMatches,
    NeverTrue
);
snapshot!(
    never_true_integer_equals_a_string,
    "rule r {\n    when responseStatus.code == \"403\"\n}\n",
    NeverMatches,
    NeverTrue
);
snapshot!(
    never_true_integer_in_a_list_of_strings,
    "rule r {\n    when responseStatus.code in [\"401\", \"403\"]\n}\n",
    NeverMatches,
    NeverTrue
);
snapshot!(
    never_true_string_equals_a_number,
    "rule r {\n    when verb == 1\n}\n",
    NeverMatches,
    NeverTrue
);
snapshot!(
    never_true_integer_equals_a_word,
    "rule r {\n    when responseStatus.code == \"forbidden\"\n}\n",
    NeverMatches,
    NeverTrue
);
snapshot!(
    never_true_timestamp_ordered_against_a_number,
    "rule r {\n    when requestReceivedTimestamp < 5\n}\n",
    NeverMatches,
    NeverTrue
);
snapshot!(
    never_true_outside_the_closed_set,
    "rule r {\n    when verb == \"exec\" or objectRef.subresource == \"exec\"\n}\n",
    NeverTrue
);
snapshot!(
    never_true_misspelt_value,
    "rule r {\n    when stage == \"ResponseComplet\"\n}\n",
    NeverMatches,
    NeverTrue
);
snapshot!(
    never_true_null,
    "rule r {\n    when user.username == null\n}\n",
    NeverTrue
);
snapshot!(
    never_true_two_constants,
    "rule r {\n    when \"a\" == \"b\" or verb == \"get\"\n}\n",
    NeverTrue
);
snapshot!(
    never_matches_through_a_macro,
    "macro forbidden = responseStatus.code == \"403\"\n\nrule r {\n    when verb == \"get\" and forbidden\n}\n",
    NeverTrue,
    NeverMatches
);

// A rule switched off on purpose is not dead weight: no `never_matches` (Falco ships rules
// disabled through a macro that is `false`, and `k8scop import falco` writes them this way).
#[test]
fn a_disabled_rule_that_can_never_match_gets_no_warning() {
    check(
        "macro never = false\n\nrule r {\n    when verb == \"get\" and never\n    enabled false\n}\n",
        &[],
    );
    check(
        "macro never = false\n\nrule r {\n    when verb == \"get\" and never\n}\n",
        &[Code::NeverMatches],
    );
}

// ---- detections and tests ------------------------------------------------------------------

snapshot!(
    missing_property_when,
    "rule r {\n    severity high\n}\n",
    MissingProperty
);
snapshot!(
    missing_property_of_a_sequence,
    "rule a {\n    when verb == \"get\"\n}\n\nsequence s {\n    steps a -> a\n}\n",
    MissingProperty
);
snapshot!(
    any_order_needs_more_steps_than_it_has,
    "rule a {\n    when verb == \"get\"\n}\n\nrule b {\n    when verb == \"list\"\n}\n\nsequence s {\n    by user.username\n    within 5m\n    steps 3 of a, b\n}\n",
    InvalidValue
);
snapshot!(
    percentile_above_100,
    "rule r {\n    when verb == \"get\"\n    threshold percentile 101 requestObject.spec.replicas >= 5 within 1m\n}\n",
    InvalidValue
);
/// A sum, mean or percentile may be any number: only counts are proved out of reach
/// (`threshold_empty_range`).
#[test]
fn a_sum_below_one_or_between_two_whole_numbers_is_no_warning() {
    for threshold in [
        "sum requestObject.spec.replicas < 1",
        "avg requestObject.spec.replicas > 2 and < 3",
        "percentile 95 requestObject.spec.replicas < 1",
    ] {
        let text = format!(
            "rule r {{\n    when verb == \"get\"\n    threshold {threshold} within 1m\n}}\n"
        );
        check(&text, &[]);
    }
}
snapshot!(
    step_key_of_another_length,
    "rule a {\n    when verb == \"get\"\n}\n\nrule b {\n    when verb == \"list\"\n}\n\nsequence s {\n    by user.username\n    within 5m\n    steps a -> b by [user.username, verb]\n}\n",
    InvalidValue
);
snapshot!(
    step_without_key_next_to_steps_with_keys,
    "rule a {\n    when verb == \"get\"\n}\n\nrule b {\n    when verb == \"list\"\n}\n\nsequence s {\n    within 5m\n    steps a by requestObject.subjects.name -> b\n}\n",
    InvalidValue
);
snapshot!(
    key_path_read_as_a_step_in_any_order,
    "rule a {\n    when verb == \"get\"\n}\n\nrule b {\n    when verb == \"list\"\n}\n\nsequence s {\n    within 5m\n    steps all of a, b by user.username, verb\n}\n",
    InvalidValue
);
snapshot!(
    any_order_of_one_step,
    "rule a {\n    when verb == \"get\"\n}\n\nsequence s {\n    by user.username\n    within 5m\n    steps all of a\n}\n",
    InvalidValue
);
snapshot!(
    unknown_step,
    "rule login {\n    when verb == \"create\"\n}\n\nsequence s {\n    by user.username\n    within 5m\n    steps logn -> login\n}\n",
    UnknownStep
);
snapshot!(
    unknown_step_is_a_macro,
    "macro exec = objectRef.subresource == \"exec\"\n\nrule login {\n    when verb == \"create\"\n}\n\nsequence s {\n    by user.username\n    within 5m\n    steps login -> exec\n}\n",
    UnknownStep
);
/// A macro is checked for the kind of the rules that use it: a KubeArmor macro used by a
/// KubeArmor rule is not warned about as if it read audit events, and a typo in it is still found.
#[test]
fn a_macro_is_checked_for_the_kind_of_its_rules() {
    let out = check(
        "macro blocked = Action == \"Block\" and Operaton == \"Process\"\n\nrule r {\n    source kubearmor\n    when blocked\n}\n",
        &[Code::UnknownField],
    );
    assert!(out.contains("unknown field `Operaton`"), "{out}");
    assert!(out.contains("did you mean `Operation`?"), "{out}");
    assert!(out.contains("not a field of a KubeArmor event"), "{out}");
}

snapshot!(
    unknown_source,
    "rule blocked {\n    source kubearmour\n    when Action == \"Block\"\n}\n",
    UnknownSource
);
snapshot!(
    unknown_source_far_from_any_kind,
    "rule r {\n    source cloudtrail\n    when eventName == \"ConsoleLogin\"\n}\n",
    UnknownSource
);
snapshot!(
    unknown_source_of_a_step,
    "rule exec {\n    when objectRef.subresource == \"exec\"\n}\n\nsequence s {\n    by user.username\n    within 5m\n    steps exec -> falko { priority == \"Critical\" }\n}\n",
    UnknownSource
);
snapshot!(
    invalid_template,
    "rule r {\n    title \"exec by {user.username\"\n    when verb == \"create\"\n}\n",
    InvalidTemplate
);
snapshot!(
    invalid_test,
    "rule pod_exec {\n    when objectRef.subresource == \"exec\"\n}\n\ntest \"exec\" {\n    events [ {\"verb\": \"create\"} ]\n    expect pod_exce alerts 1\n}\n",
    InvalidTest
);

#[test]
fn a_diagnostic_in_a_macro_is_reported_once() {
    let diagnostics = diagnostics(&[(
        "test.rules",
        "macro m = user.name == \"x\"\nrule a {\n    when m\n}\nrule b {\n    when m\n}\n",
    )]);
    let codes: Vec<Code> = diagnostics.iter().map(|d| d.code).collect();
    // Reported once, in the macro; each rule using it can never match.
    assert_eq!(
        codes,
        [Code::UnknownField, Code::NeverMatches, Code::NeverMatches],
        "{}",
        render_all(&diagnostics)
    );
    // The suggestion is looked for only for the warning shown, and it is shown with it.
    let unknown = render_all(&diagnostics[..1]);
    assert!(
        unknown.contains("did you mean `user.username`?"),
        "{unknown}"
    );
}
