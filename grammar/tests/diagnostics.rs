//! Diagnostics as a user sees them: rendered without colour at width 100 and compared with the
//! snapshots in `snapshots/`. Review a changed snapshot as a user would read it.

mod common;

use common::{parse_err, render_all, LANGUAGE_EXAMPLE};
use k8scop_grammar::Code;

/// Renders the diagnostics of `text` (which must fail to parse) and checks their codes.
fn check(text: &str, codes: &[Code]) -> String {
    let diagnostics = parse_err(text);
    let got: Vec<Code> = diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(got, codes, "{}", render_all(&diagnostics));
    render_all(&diagnostics)
}

macro_rules! snapshot {
    ($name:ident, $text:expr, $($code:ident),+) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(check($text, &[$(Code::$code),+]));
        }
    };
}

// Syntax errors with a dedicated explanation.
snapshot!(
    single_equals,
    "rule r {\n    when verb = \"get\"\n}\n",
    Syntax
);
snapshot!(double_ampersand, "rule r { when a && b }", Syntax);
snapshot!(double_pipe, "macro m = a || b", Syntax);
snapshot!(bang_for_not, "rule r { when !exists user.extra }", Syntax);
snapshot!(
    unknown_property_close_to_one,
    "rule r {\n    when x\n    severty high\n}",
    Syntax
);
snapshot!(
    unknown_property,
    "rule r {\n    when x\n    colour \"red\"\n}",
    Syntax
);
snapshot!(
    when_in_a_sequence,
    "sequence s {\n    when x == 1\n}",
    Syntax
);
snapshot!(
    by_in_a_rule,
    "rule r {\n    when x\n    by user.username\n}",
    Syntax
);
snapshot!(
    unknown_property_in_a_test,
    "test \"t\" {\n    expects r alerts 1\n}",
    Syntax
);
snapshot!(
    unknown_operator,
    "rule r { when verb equals \"get\" }",
    Syntax
);
snapshot!(
    misspelt_operator,
    "rule r { when verb startwith \"get\" }",
    Syntax
);
snapshot!(
    missing_and,
    "rule r { when verb == \"get\" user.username == \"x\" }",
    Syntax
);
snapshot!(
    missing_and_on_a_new_line,
    "rule r {\n    when verb == \"get\"\n    user.username == \"x\"\n}",
    Syntax
);
snapshot!(
    unclosed_string,
    "rule r {\n    title \"Secret read\n    when x\n}",
    Syntax
);
snapshot!(
    unclosed_block_at_end,
    "rule r {\n    when verb == \"get\"\n",
    Syntax
);
snapshot!(
    unclosed_block_before_a_definition,
    "rule r {\n    when verb == \"get\"\n\nrule s {\n    when x\n}\n",
    Syntax
);
snapshot!(
    unclosed_script,
    "script {\n    fn f(x) { x.contains(\"{\") }\n    fn g() { 1\n}\n",
    Syntax
);
// The `}` inside the Rhai string does not close anything: the rule's `{` is the open one.
snapshot!(
    unclosed_block_after_script,
    "rule r {\n    when script { event.verb == \"}\" && (1 < 2)\n}\n",
    Syntax
);
snapshot!(
    unclosed_list,
    "rule r { when verb in [\"get\", \"list\" }",
    Syntax
);
snapshot!(unknown_definition, "rul r {\n    when x\n}", Syntax);
snapshot!(stray_word_at_top_level, "rule r { when x }\nfoo", Syntax);
snapshot!(literal_alone, "rule r { when \"get\" }", Syntax);
snapshot!(null_alone, "rule r { when null }", Syntax);
snapshot!(missing_condition, "rule r { when }", Syntax);
snapshot!(missing_operand, "rule r { when verb == }", Syntax);
snapshot!(missing_condition_at_end, "macro m =", Syntax);
snapshot!(
    parenthesised_list,
    "rule r { when verb in (\"get\", \"list\") }",
    Syntax
);
snapshot!(single_quotes, "rule r { when verb == 'get' }", Syntax);
snapshot!(
    tags_without_brackets,
    "rule r { tags \"a\", \"b\" }",
    Syntax
);
snapshot!(group_without_by, "rule r { group user.username }", Syntax);
snapshot!(
    threshold_with_equals,
    "rule r { threshold count = 5 within 1m }",
    Syntax
);
snapshot!(
    missing_severity,
    "rule r {\n    severity\n    when x\n}",
    Syntax
);
snapshot!(enabled_yes, "rule r { enabled yes }", Syntax);
snapshot!(dangling_dot, "rule r { when user. == \"x\" }", Syntax);
snapshot!(expect_misspelt, "test \"t\" { expect r alert 1 }", Syntax);
snapshot!(steps_without_arrow, "sequence s { steps a, b }", Syntax);

// Inline JSON.
snapshot!(
    json_trailing_comma,
    "test \"t\" {\n    events [ {\"verb\": \"get\",} ]\n}",
    Syntax
);
snapshot!(
    json_comment,
    "test \"t\" {\n    events [ {\"verb\": \"get\" # c\n} ]\n}",
    Syntax
);
snapshot!(
    json_bad_escape,
    "test \"t\" { events [ {\"a\": \"\\d\"} ] }",
    Syntax
);
snapshot!(
    json_lone_surrogate,
    "test \"t\" { events [ {\"a\": \"\\ud800\"} ] }",
    Syntax
);
snapshot!(
    json_single_quotes,
    "test \"t\" { events [ {'a': 1} ] }",
    Syntax
);
snapshot!(
    json_not_an_object,
    "test \"t\" { events [ \"get\" ] }",
    Syntax
);
snapshot!(
    json_unclosed,
    "test \"t\" {\n    events [ {\"verb\": \"get\"\n",
    Syntax
);
// Inline JSON that balances its braces, so that the fast grammar captures it and serde_json
// rejects it: the diagnostics are the exact grammar's (rules.pest, `file_fast`), at the place of
// the error in the file.
snapshot!(
    json_error_deep_in_a_multiline_event,
    "rule r { when verb == \"get\" }\ntest \"t\" {\n    events [\n        {\"verb\": \"get\"},\n        {\n            \"verb\": \"list\",\n            \"objectRef\": {\"resource\": \"pods\", \"name\": 01}\n        }\n    ]\n    expect r alerts 1\n}\n",
    Syntax
);
snapshot!(
    json_single_quoted_brace,
    "test \"t\" { events [ {\"a\": 'x}'} ] }",
    Syntax
);
snapshot!(
    json_brace_and_quote_in_a_string,
    "test \"t\" { events [ {\"a\": \"}\\\"{\", \"b\": tru} ] }",
    Syntax
);
snapshot!(
    json_errors_and_a_broken_rule,
    "test \"t\" {\n    events [ {\"a\": 1,} ]\n}\nrule r {\n    when verb = \"get\"\n}\ntest \"u\" {\n    events [ {\"é\": \"\\ud800\"} ]\n}\n",
    Syntax,
    Syntax,
    Syntax
);

// Errors found after parsing: all of them are reported.
snapshot!(invalid_severity, "rule r { severity hgh }", InvalidValue);
snapshot!(
    invalid_severity_far,
    "rule r { severity urgent }",
    InvalidValue
);
snapshot!(
    invalid_duration_unit,
    "rule r { within 10min }",
    InvalidValue
);
snapshot!(
    duration_without_unit,
    "sequence s { within 30 }",
    InvalidValue
);
snapshot!(
    duplicate_property,
    "rule r {\n    severity high\n    when x\n    severity low\n}",
    DuplicateProperty
);
snapshot!(
    duplicate_group_by,
    "rule r { group by a group  by b }",
    DuplicateProperty
);
snapshot!(
    duplicate_expectation,
    "test \"t\" {\n    expect r alerts 1\n    expect r alerts 2\n}",
    DuplicateProperty
);
snapshot!(
    single_step_sequence,
    "sequence s { steps only_one }",
    InvalidValue
);
snapshot!(
    integer_too_large,
    "rule r { when x == 99999999999999999999 }",
    InvalidValue
);
snapshot!(
    count_too_large,
    "rule r { threshold count >= 18446744073709551616 within 1m }",
    InvalidValue
);
snapshot!(
    every_error_of_the_file,
    "rule a {\n    severity hgh\n    source k8s\n    within 10x\n    severity low\n}\n\
     sequence b {\n    within 5m\n    steps a\n    within 1h\n}\n",
    InvalidValue,
    InvalidValue,
    DuplicateProperty,
    InvalidValue,
    DuplicateProperty
);

#[test]
fn too_deep_conditions_are_an_error_not_a_crash() {
    let deep = format!("rule r {{ when {}x{} }}", "(".repeat(100), ")".repeat(100));
    insta::assert_snapshot!(check(&deep, &[Code::Syntax]));
    let long = format!("rule r {{ when x{} }}", " or x".repeat(300));
    let diagnostics = parse_err(&long);
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].message, "this condition nests too deeply");
    // Far deeper than the builder allows: pest's own stack guard stops it.
    let deeper = format!(
        "rule r {{ when {}x{} }}",
        "(".repeat(50_000),
        ")".repeat(50_000)
    );
    let diagnostics = parse_err(&deeper);
    assert_eq!(
        diagnostics[0].message,
        "the file nests too deeply to be parsed"
    );
}

#[test]
fn diagnostics_point_at_file_line_and_column() {
    let diagnostics = parse_err("rule r {\n  when x\n  severity hgh\n}");
    assert_eq!(
        diagnostics[0].location().as_deref(),
        Some("test.rules:3:12")
    );
    let json = diagnostics[0].to_json();
    assert_eq!(json["code"], "k8scop::invalid_value");
    assert_eq!(json["labels"][0]["text"], "hgh");
}

// Recovery: a syntax error does not hide the rest of the file. Each broken definition gets its
// own diagnostic, and the definitions that parse are still checked.
const THREE_BROKEN_RULES: &str = "\
rule a {
    when verb = \"get\"
}

rule fine {
    when verb == \"list\"
    severity hgh
}

rule b {
    when verb == \"delete\"

rule c {
    when user.username ==
}

macro also_fine = verb == \"get\"
";

snapshot!(
    three_broken_rules,
    THREE_BROKEN_RULES,
    Syntax,
    InvalidValue,
    Syntax,
    Syntax
);

#[test]
fn each_broken_definition_is_reported_at_its_place_in_the_file() {
    let diagnostics = parse_err(THREE_BROKEN_RULES);
    let places: Vec<(Option<String>, &str)> = diagnostics
        .iter()
        .map(|d| {
            let label = &d.labels[0];
            (
                d.location(),
                &label.file.text[label.span.start..label.span.end],
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            (Some("test.rules:2:15".to_owned()), "="),
            (Some("test.rules:7:14".to_owned()), "hgh"),
            // The rule left open is told that `rule c` starts before it is closed.
            (Some("test.rules:13:1".to_owned()), "rule"),
            (Some("test.rules:15:1".to_owned()), "}"),
        ],
        "{}",
        render_all(&diagnostics)
    );
    // The open brace is the one of `rule b`, not one of another definition.
    assert_eq!(
        diagnostics[2].labels[1].span.start,
        THREE_BROKEN_RULES.find("rule b {").unwrap() + "rule b ".len()
    );
}

#[test]
fn broken_definitions_of_every_kind_are_reported_one_by_one() {
    let text = "\
list l = [\"a\",
macro m = verb ==
sequence s {
    steps a b
}
script {
    fn f() { 1 }
}
test \"t\" {
    events [ {\"verb\": \"get\",} ]
}
rule r { when x }
test \"u\" {
    expect r alerts
}
";
    let diagnostics = parse_err(text);
    let lines: Vec<usize> = diagnostics
        .iter()
        .map(|d| d.line_col().expect("a label").0)
        .collect();
    // The list and the macro are cut short by the next definition, whose first word they are
    // told of; the script and the rule are fine.
    assert_eq!(lines, [2, 3, 4, 10, 15], "{}", render_all(&diagnostics));
    assert!(diagnostics[0].message.ends_with("found `macro`"));
    assert!(diagnostics[1].message.ends_with("found `sequence`"));
}

#[test]
fn a_valid_file_is_not_cut() {
    // `rule`, `list` and `script {` at the start of lines inside definitions: a cut there would
    // break the file, but a file that parses is never cut.
    let text =
        "rule r {\n    when verb == \"get\" and\n    rule == 1\n    or\n    script { true }\n}\n";
    assert!(k8scop_grammar::parse(&common::source(text)).is_ok());
}

#[test]
fn parse_partial_keeps_the_definitions_without_errors() {
    let (file, diagnostics) = k8scop_grammar::parse_partial(&common::source(THREE_BROKEN_RULES));
    assert_eq!(diagnostics.len(), 4);
    // `rule fine` has an invalid severity: left out too.
    let kept: Vec<String> = file
        .items
        .iter()
        .map(|item| match item {
            k8scop_grammar::ast::Item::Macro(m) => m.name.name.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kept, ["also_fine"]);

    let (file, diagnostics) = k8scop_grammar::parse_partial(&common::source(LANGUAGE_EXAMPLE));
    assert!(diagnostics.is_empty());
    let whole = common::parse_ok(LANGUAGE_EXAMPLE);
    assert_eq!(file.items, whole.items);
}
