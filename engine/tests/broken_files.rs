//! Issue 7, item 6: a file with syntax errors still has its other definitions checked, so that
//! `check` reports every error of a ruleset at once.

use k8scop_engine::loader::load_sources;
use k8scop_engine::CompileOptions;
use k8scop_grammar::{Code, SourceFile};

const BROKEN: &str = r#"
macro reads = verb in ["get", "list"

script {
    fn from_curl(ua) { ua.contains("curl")
}

rule bad_regex {
    when userAgent matches "(unclosed"
}

rule uses_the_broken_macro {
    when reads and objectRef.resource == "secrets"
}

rule calls_the_broken_script {
    when from_curl(userAgent)
}

rule unknown_name {
    when verb == "get" and nowhere_defined
}

rule fine {
    when verb == "delete"
}
"#;

#[test]
fn the_valid_definitions_of_a_broken_file_are_still_checked() {
    let compiled = load_sources(
        vec![SourceFile::new("broken.rules", BROKEN)],
        &CompileOptions::default(),
    );
    let found: Vec<(Code, usize)> = compiled
        .diagnostics
        .iter()
        .map(|d| (d.code, d.line_col().expect("a label").0))
        .collect();
    // The macro and the script block do not parse: one syntax error each. The invalid regex of
    // a valid rule is reported with them. What the broken definitions would have defined is not
    // reported as unknown; and neither, while the file has syntax errors, is a name nothing
    // defines (it may be one of the definitions the errors hide).
    assert_eq!(
        found,
        [
            (Code::Syntax, 4),
            (Code::Syntax, 8),
            (Code::InvalidRegex, 9),
        ],
        "{:#?}",
        compiled.diagnostics
    );
    assert!(compiled.ruleset.is_none());

    // Fixed, the file loads.
    let fixed = BROKEN
        .replace("\"list\"\n", "\"list\"]\n")
        .replace("contains(\"curl\")\n", "contains(\"curl\") }\n")
        .replace("(unclosed", "(closed)")
        .replace(" and nowhere_defined", "");
    let compiled = load_sources(
        vec![SourceFile::new("fixed.rules", fixed)],
        &CompileOptions::default(),
    );
    let errors: Vec<_> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(compiled.ruleset.is_some());
}

#[test]
fn a_definition_with_an_invalid_value_is_left_out_not_half_compiled() {
    // `severity hgh` is an error of the parser's checks; the rule is not compiled (no second
    // error about it), but the one after it is.
    let text = "rule a {\n    severity hgh\n    when verb == \"get\"\n}\n\
                rule b {\n    when verb matches \"(\"\n}\n\
                rule c {\n    when verb ==\n}\n";
    let compiled = load_sources(
        vec![SourceFile::new("t.rules", text)],
        &CompileOptions::default(),
    );
    let codes: Vec<Code> = compiled.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [Code::InvalidValue, Code::Syntax, Code::InvalidRegex],
        "{:#?}",
        compiled.diagnostics
    );
}
