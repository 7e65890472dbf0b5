//! The parser against serde_json: the same documents accepted, the same values, the same error
//! messages; and the projected parse against projecting a full parse.

use serde_json::{json, Value};

use super::*;

/// serde_json's verdict on `text`: the value, or the message without its position.
fn reference(text: &str) -> std::result::Result<Value, String> {
    serde_json::from_str::<Value>(text).map_err(|e| {
        let text = e.to_string();
        match text.rfind(" at line ") {
            Some(i) => text[..i].to_owned(),
            None => text,
        }
    })
}

fn ours(text: &str) -> std::result::Result<Value, String> {
    parse(text).map_err(|e| e.message().to_owned())
}

#[track_caller]
fn agrees(text: &str) {
    assert_eq!(ours(text), reference(text), "document: {text:?}");
}

#[test]
fn valid_documents_parse_as_serde_json_does() {
    for text in [
        "null",
        " true ",
        "false",
        "0",
        "-0",
        "-1",
        "12.5e-3",
        "1E+2",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "1e308",
        "1e-400",
        "30.385825454152153",
        "9007199254740993.0",
        "2.2250738585072011e-308",
        "1.7976931348623158e308",
        "123456789012345678901234567890.5e-10",
        r#""""#,
        r#""plain""#,
        r#""tab\tquote\"slash\/back\\ \b\f\n\r""#,
        r#""\u00e9\u4e2d\ud83d\ude00\u0000""#,
        "\"caf\u{e9} \u{1f600}\"",
        "[]",
        "[ 1 , [ 2 , [ ] ] , { } ]",
        "{}",
        r#"{"a":1,"b":{"c":[true,null]},"a":2}"#,
        "\t{\n \"k\" : \"v\" \r}\n",
        r#"{"verb":"get","objectRef":{"resource":"pods","namespace":"kube-system"},"sourceIPs":["10.0.0.1"]}"#,
    ] {
        agrees(text);
    }
}

#[test]
fn invalid_documents_fail_with_serde_json_messages() {
    let texts = [
        "",
        "   ",
        "nul",
        "nulx",
        "tru",
        "fals",
        "x",
        "-",
        "-a",
        "01",
        "1.",
        "1.e3",
        "1e",
        "1e+",
        ".5",
        "1e400",
        "-1e400",
        "1.7976931348623159e308",
        "\"abc",
        "\"a\\",
        "\"a\\x\"",
        "\"a\\u12\"",
        "\"a\\u12",
        "\"a\\uZZZZ\"",
        "\"\\ud800\"",
        "\"\\ud800\\u0041\"",
        "\"\\udc00\"",
        "\"\\ud800",
        "\"a\nb\"",
        "\"a\u{1}b\"",
        "[",
        "[1",
        "[1,",
        "[1,]",
        "[1,}",
        "[1 2]",
        "{",
        "{\"a\"",
        "{\"a\":",
        "{\"a\":1",
        "{\"a\":1,",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":1 \"b\":2}",
        "{1:2}",
        "{,}",
        "{\"a\":1}}",
        "{\"a\":1} x",
        "[] []",
        "{\"a\":tru}",
        "{\"a\":[1,2,{\"b\":\"\\q\"}]}",
    ];
    let wrong: Vec<String> = texts
        .iter()
        .filter(|t| ours(t) != reference(t))
        .map(|t| format!("{t:?}: ours {:?}, serde_json {:?}", ours(t), reference(t)))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn nesting_stops_where_serde_json_stops() {
    for depth in [126, 127, 128, 129, 200] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        agrees(&arrays);
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        agrees(&objects);
        // The limit holds in skipped parts too.
        let trie = Trie::new();
        let skipped = format!("{{\"x\":{arrays}}}");
        assert_eq!(
            parse_projected(&skipped, &trie)
                .map(drop)
                .map_err(|e| e.message()),
            reference(&skipped)
                .map(drop)
                .map_err(|_| "recursion limit exceeded"),
            "depth {depth}"
        );
    }
}

/// Real events from the shipped samples, cut at every byte and with bytes replaced: both parsers
/// accept and reject the same texts, with the same message; the projected parse (everything
/// skipped but `verb`) accepts and rejects them too.
#[test]
fn truncated_and_mutated_events_agree() {
    let samples = include_str!("../../../../rules/samples/attack.jsonl");
    let mut trie = Trie::new();
    trie.insert(Trie::ROOT, &["verb"]);
    let lines: Vec<&str> = samples
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(6)
        .collect();
    assert!(!lines.is_empty());
    let check = |text: &str| {
        let expected = reference(text);
        assert_eq!(ours(text), expected, "document: {text:?}");
        let projected = parse_projected(text, &trie).map_err(|e| e.message().to_owned());
        assert_eq!(
            projected.is_ok(),
            expected.is_ok(),
            "projected parse of {text:?}: {projected:?}, serde_json: {expected:?}"
        );
        if let (Err(ours), Err(theirs)) = (&projected, &expected) {
            assert_eq!(ours, theirs, "projected parse of {text:?}");
        }
    };
    for line in &lines {
        for cut in (0..=line.len()).filter(|i| line.is_char_boundary(*i)) {
            check(&line[..cut]);
        }
        for at in (0..line.len())
            .filter(|i| line.is_char_boundary(*i))
            .step_by(3)
        {
            for replacement in [
                "\"", "\\", "{", "}", "[", "]", ",", ":", "0", "-", " ", "\n", "\u{1}", "x",
            ] {
                let end = (at + 1..=line.len())
                    .find(|i| line.is_char_boundary(*i))
                    .unwrap_or(line.len());
                let mutated = format!("{}{}{}", &line[..at], replacement, &line[end..]);
                check(&mutated);
            }
        }
    }
}

#[test]
fn skipped_numbers_are_range_checked_like_kept_ones() {
    let mut trie = Trie::new();
    trie.insert(Trie::ROOT, &["verb"]);
    let huge_integer = format!("{{\"verb\":\"get\",\"x\":{}}}", "9".repeat(400));
    for text in [
        r#"{"verb":"get","x":1e400}"#,
        r#"{"verb":"get","x":[1,-1e400]}"#,
        r#"{"verb":"get","x":{"y":1.8e308}}"#,
        huge_integer.as_str(),
    ] {
        let err = parse_projected(text, &trie).unwrap_err();
        assert_eq!(err.message(), "number out of range", "{text}");
        assert_eq!(ours(text), reference(text), "{text}");
    }
    for text in [
        r#"{"verb":"get","x":1e300}"#,
        r#"{"verb":"get","x":123456789012345678901234567890}"#,
        r#"{"verb":"get","x":-0.0e-999}"#,
    ] {
        assert!(parse_projected(text, &trie).is_ok(), "{text}");
        assert_eq!(ours(text).is_ok(), reference(text).is_ok(), "{text}");
    }
}

#[test]
fn projection_keeps_what_the_trie_names() {
    let mut trie = Trie::new();
    trie.insert(Trie::ROOT, &["verb"]);
    trie.insert(Trie::ROOT, &["objectRef", "resource"]);
    trie.insert(
        Trie::ROOT,
        &["requestObject", "spec", "containers", "image"],
    );
    let text = r#"{"verb":"create","level":"Request","objectRef":{"resource":"pods","name":"x"},
        "requestObject":{"spec":{"containers":[{"image":"nginx","name":"a"},{"name":"b"}],
        "hostPID":true}},"annotations":{"k":"v\u00e9"}}"#;
    assert_eq!(
        parse_projected(text, &trie).unwrap(),
        json!({"verb":"create","objectRef":{"resource":"pods"},
               "requestObject":{"spec":{"containers":[{"image":"nginx"},{}]}}})
    );
}

#[test]
fn keys_with_escapes_are_looked_up_unescaped() {
    let mut trie = Trie::new();
    trie.insert(Trie::ROOT, &["verb"]);
    trie.insert(Trie::ROOT, &["a\"b"]);
    assert_eq!(
        parse_projected(r#"{"v\u0065rb":"get","a\"b":1,"c\\":2}"#, &trie).unwrap(),
        json!({"verb":"get","a\"b":1})
    );
}

#[test]
fn errors_name_line_and_column() {
    let err = parse("{\"a\":1,\n  \"b\" 2}").unwrap_err();
    assert_eq!(err.to_string(), "expected `:` at line 2 column 7");
    let err = parse("[1,").unwrap_err();
    assert_eq!((err.line(), err.column()), (1, 4));
}

#[test]
fn special_bytes_are_found_at_every_alignment() {
    for len in 0..40 {
        for at in 0..=len {
            for special in [b'"', b'\\', 0u8, 0x1f] {
                let mut bytes = vec![b'a'; len];
                // Bytes around the class boundaries that must not be found.
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = [b'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff][i % 9];
                }
                if at < len {
                    bytes[at] = special;
                }
                assert_eq!(
                    find_special(&bytes, 0),
                    at,
                    "len {len}, at {at}, {special:#x}"
                );
                if at < len {
                    assert_eq!(find_special(&bytes, at), at);
                }
            }
        }
    }
}

/// Objects wider than the scan limit switch to an index of their keys; repeated keys keep the
/// last occurrence either way, in full and projected parses.
#[test]
fn wide_objects_with_repeated_keys_keep_the_last() {
    use std::fmt::Write;
    let mut text = String::from("{");
    for i in 0..300 {
        let key = (i * 7) % 120;
        match i % 3 {
            0 => write!(text, "\"k{key}\":{i},").unwrap(),
            1 => write!(text, "\"k{key}\":{{\"x\":{i},\"y\":0}},").unwrap(),
            _ => write!(text, "\"k{key}\":[{i}],").unwrap(),
        }
    }
    text.pop();
    text.push('}');
    agrees(&text);

    // Projected: `kN.x` for every key, so a scalar or an array of scalars keeps nothing and
    // removes the earlier member, and an object keeps its `x`.
    let mut trie = Trie::new();
    for n in 0..120 {
        trie.insert(Trie::ROOT, &[&format!("k{n}"), "x"]);
    }
    let full = reference(&text).unwrap();
    let expected: serde_json::Map<String, Value> = full
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| match v {
            Value::Object(o) => Some((k.clone(), json!({"x": o["x"]}))),
            Value::Array(_) => Some((k.clone(), json!([]))),
            _ => None,
        })
        .collect();
    assert_eq!(
        parse_projected(&text, &trie).unwrap(),
        Value::Object(expected)
    );
}
