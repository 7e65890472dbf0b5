//! No input makes the parser panic, and every diagnostic it returns can be shown: labels inside
//! the text, at least one character wide, on character boundaries; messages on one line, in
//! lower case, with no grammar rule names.

mod common;

use common::{render_all, source, LANGUAGE_EXAMPLE};
use k8scop_grammar::{parse, Diagnostic};

/// Parses `text` and checks the diagnostics, if any. Returns whether it parsed.
fn parse_and_check(text: &str) -> bool {
    match parse(&source(text)) {
        Ok(_) => true,
        Err(diagnostics) => {
            check_diagnostics(text, &diagnostics);
            false
        }
    }
}

fn check_diagnostics(text: &str, diagnostics: &[Diagnostic]) {
    assert!(
        !diagnostics.is_empty(),
        "an error without a diagnostic for {text:?}"
    );
    for d in diagnostics {
        let context = || format!("{:?} in {text:?}", d.message);
        assert!(!d.labels.is_empty(), "no label: {}", context());
        for label in &d.labels {
            let span = label.span;
            assert!(
                span.start < span.end && span.end <= text.len(),
                "label {span:?} out of the text or empty: {}",
                context()
            );
            assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                "label {span:?} splits a character: {}",
                context()
            );
        }
        assert!(
            !d.message.contains('\n'),
            "multi-line message: {}",
            context()
        );
        assert!(
            d.message
                .starts_with(|c: char| c.is_lowercase() || c == '`'),
            "message not in lower case: {}",
            context()
        );
        let mut words = vec![d.message.as_str()];
        words.extend(d.help.as_deref());
        words.extend(d.labels.iter().map(|l| l.message.as_str()));
        for words in words {
            // Outside backticks (user text), an underscore can only come from a rule name.
            let ours: String = words.split('`').step_by(2).collect();
            assert!(
                !ours.contains('_'),
                "a rule name leaks in {words:?}: {}",
                context()
            );
        }
    }
    // miette must be able to render every one of them.
    assert!(!render_all(diagnostics).is_empty());
}

fn char_boundaries(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.char_indices().map(|(i, _)| i).chain([text.len()])
}

#[test]
fn the_example_parses_and_some_of_its_prefixes_too() {
    assert!(parse_and_check(LANGUAGE_EXAMPLE));
    // Cut right after a definition, a prefix is a valid file.
    let end_of_list = LANGUAGE_EXAMPLE.find('\n').expect("several lines");
    assert!(parse_and_check(&LANGUAGE_EXAMPLE[..end_of_list]));
    // Cut inside one, it is not.
    assert!(!parse_and_check(&LANGUAGE_EXAMPLE[..end_of_list - 2]));
}

#[test]
fn every_truncation_of_the_example() {
    let mut parsed = 0;
    for end in char_boundaries(LANGUAGE_EXAMPLE) {
        if parse_and_check(&LANGUAGE_EXAMPLE[..end]) {
            parsed += 1;
        }
    }
    // The empty prefix, and prefixes ending at or after the end of a complete definition.
    assert!(parsed > 10, "only {parsed} prefixes parsed");
}

/// Every third character boundary of the example, and both sides of every delimiter: enough to
/// reach every construct at every kind of place while keeping the debug-build test quick.
fn sample_positions() -> Vec<usize> {
    let delimiters = ['{', '}', '"', '[', ']', '(', ')', '#', '\n'];
    char_boundaries(LANGUAGE_EXAMPLE)
        .enumerate()
        .filter(|&(n, at)| {
            n % 3 == 0
                || LANGUAGE_EXAMPLE[..at].ends_with(delimiters)
                || LANGUAGE_EXAMPLE[at..].starts_with(delimiters)
        })
        .map(|(_, at)| at)
        .collect()
}

#[test]
fn single_character_deletions_from_the_example() {
    for at in sample_positions() {
        if at == LANGUAGE_EXAMPLE.len() {
            continue;
        }
        let mut text = LANGUAGE_EXAMPLE.to_string();
        text.remove(at);
        parse_and_check(&text);
    }
}

#[test]
fn insertions_into_the_example() {
    let inserts = [
        "\"",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "#",
        "=",
        "!",
        "&&",
        ",",
        "->",
        "'",
        "`",
        "\\",
        "é",
        "\u{1F680}",
        "\n",
        "not ",
        " and",
        "all ",
        "exists ",
        "script {",
        "/*",
        "-",
        "1e999",
        "@",
        ".",
        "[*]",
        "\t\r",
    ];
    // Two inserts at each position, taking turns, so that each insert lands in many places.
    for (n, at) in sample_positions().into_iter().enumerate() {
        for insert in [
            inserts[n % inserts.len()],
            inserts[(n * 7 + 3) % inserts.len()],
        ] {
            let text = format!(
                "{}{insert}{}",
                &LANGUAGE_EXAMPLE[..at],
                &LANGUAGE_EXAMPLE[at..]
            );
            parse_and_check(&text);
        }
    }
}

#[test]
fn truncations_of_text_with_multibyte_characters() {
    let text = "rule r { title \"Exécution — 🚀\" when naïve == \"ü\" }\n\
                test \"té\" { events [ {\"é\": \"\\u00e9🚀\"} ] expect r alerts 1 }\n\
                script { \"🚀\" } # comment é";
    for end in char_boundaries(text) {
        parse_and_check(&text[..end]);
    }
    for end in char_boundaries(text) {
        let mut cut = text.to_string();
        if end < text.len() {
            cut.remove(end);
        }
        parse_and_check(&cut);
    }
}

#[test]
fn deep_and_long_inputs() {
    let n = 20_000;
    let inputs = [
        format!("rule r {{ when {}x{} }}", "(".repeat(n), ")".repeat(n)),
        format!("rule r {{ when {}x }}", "not ".repeat(n)),
        format!("rule r {{ when x{} }}", " and x".repeat(n)),
        format!("rule r {{ when {}x{} }}", "f(".repeat(n), ")".repeat(n)),
        format!("rule r {{ when {}", "(".repeat(n)),
        format!("script {{ {} }}", "{".repeat(n)),
        format!("script {{ {} }}", "/*".repeat(n)),
        format!(
            "test \"t\" {{ events [ {{\"a\": {}1{} }} ] }}",
            "[".repeat(n),
            "]".repeat(n)
        ),
        format!("test \"t\" {{ events [ {} ] }}", "{".repeat(n)),
        format!("list l = [{}]", "\"x\", ".repeat(n)),
        "\"".repeat(n),
        "{".repeat(n),
        "#".repeat(n),
    ];
    for text in inputs {
        parse_and_check(&text);
    }
}

#[test]
fn odd_inputs() {
    let inputs = [
        "\u{FEFF}rule r { when x }",
        "\0",
        "rule",
        "rule r",
        "rule r {",
        "rule r { when",
        "rule r { when x ==",
        "rule r { when x == \"",
        "rule r { when x == \"\\",
        "rule r { when script",
        "rule r { when script {",
        "rule r { when script { '",
        "rule r { when script { /*",
        "rule r { threshold",
        "rule r { threshold count >=",
        "rule r { threshold count >= 1 within",
        "rule r { threshold count >= 1 within 1m by",
        "sequence s { steps a ->",
        "sequence s { steps { x",
        "test",
        "test \"t\" { events",
        "test \"t\" { events [",
        "test \"t\" { events [ {",
        "test \"t\" { events [ {\"a\"",
        "test \"t\" { events [ {\"a\":",
        "test \"t\" { events [ {\"a\": \"\\u12",
        "test \"t\" { events file",
        "test \"t\" { expect",
        "test \"t\" { expect x",
        "test \"t\" { expect x alerts",
        "list l =",
        "list l = [",
        "macro m = (",
        "macro m = x[",
        "macro m = x[\"",
        "macro m = x[1",
        "macro m = x[*",
        "macro m = x.",
        "macro m = -",
        "macro m = 1.",
        "macro m = f(",
        "macro m = f(x,",
        "macro m = all",
        "macro m = exists",
        "macro m = not",
        "rule r { within 99999999999999999999d }",
        "rule r { within 999999999999999d }",
        "rule r { when x[99999999999999999999999] == 1 }",
        "rule r { when x == 1e999 }",
    ];
    for text in inputs {
        parse_and_check(text);
    }
}
