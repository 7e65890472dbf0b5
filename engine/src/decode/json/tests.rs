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

/// `Specials::next` on `bytes` from `from`, the bitmap built as the parser builds it.
fn find_special(bytes: &[u8], from: usize) -> usize {
    let mut specials = Specials::default();
    specials.build(bytes);
    specials.next(from)
}

#[test]
fn special_bytes_are_found_at_every_alignment() {
    for len in 0..140 {
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
                // A later stop must not hide the first one (within a word or the next).
                for later in [at + 1, at + 9, at + 17, at + 65] {
                    if later < len {
                        bytes[later] = b'"';
                    }
                }
                assert_eq!(
                    find_special(&bytes, 0),
                    at,
                    "len {len}, at {at}, {special:#x}"
                );
                if at < len {
                    assert_eq!(find_special(&bytes, at), at);
                    // From just past it: the next stop, or the end.
                    let next = [at + 1, at + 9, at + 17, at + 65]
                        .into_iter()
                        .find(|&later| later < len)
                        .unwrap_or(len);
                    assert_eq!(find_special(&bytes, at + 1), next, "len {len}, at {at}");
                }
            }
        }
    }
}

/// The bitmap against a byte-by-byte check: bit `i` is set exactly when byte `i` is special,
/// for texts of every length from 0 to 300 holding every byte value at every position, one
/// buffer reused from text to text as the decoder reuses it (a longer text's bits must not
/// survive into a shorter one's).
#[test]
fn the_bitmap_marks_exactly_the_special_bytes() {
    let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
    let mut specials = Specials::default();
    let mut rng = Rng(0x5eed_5eed);
    for len in (0..=300).rev() {
        for round in 0..4 {
            // Byte `i` is `i * 7 + round * 64 + len` (7 is odd: a text of 256 bytes or more holds
            // every value, and over the lengths every value stands at each of the first 44
            // positions), then a few random bytes.
            let mut bytes: Vec<u8> = (0..len).map(|i| (i * 7 + round * 64 + len) as u8).collect();
            for _ in 0..len / 8 {
                let at = rng.below(len as u64) as usize;
                bytes[at] = rng.next() as u8;
            }
            specials.build(&bytes);
            let mut bits = Vec::new();
            for (w, &word) in specials.words.iter().enumerate() {
                for bit in 0..64 {
                    if word >> bit & 1 == 1 {
                        bits.push(w * 64 + bit);
                    }
                }
            }
            let expected: Vec<usize> = (0..len).filter(|&i| special(bytes[i])).collect();
            assert_eq!(bits, expected, "len {len}, round {round}");
            assert_eq!(specials.words.len(), len.div_ceil(64));
            // And `next` from every position is the first special byte at or after it.
            for from in 0..=len {
                let first = (from..len).find(|&i| special(bytes[i])).unwrap_or(len);
                assert_eq!(specials.next(from), first, "len {len}, from {from}");
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

/// A small deterministic generator (xorshift64*), so that the randomized tests below are
/// reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const KEYS: &[&str] = &["a", "b", "verb", "spec", "k\\u0065y", "é", ""];

/// Random JSON text: repeated keys, escapes, every kind of number, random whitespace.
fn random_json(rng: &mut Rng, depth: u32, out: &mut String) {
    random_value(rng, depth, false, out)
}

/// A random value; an object when `object` is set.
fn random_value(rng: &mut Rng, depth: u32, object: bool, out: &mut String) {
    let ws = |rng: &mut Rng, out: &mut String| {
        out.push_str(rng.pick(&["", "", " ", "\n", "\t ", "\r\n"]))
    };
    ws(rng, out);
    let kind = match (object, depth) {
        (true, _) => 5,
        (false, 0) => rng.below(4),
        (false, _) => rng.below(7),
    };
    match kind {
        0 => out.push_str(rng.pick(&["true", "false", "null"])),
        1 => out.push_str(rng.pick(&[
            "0",
            "-0",
            "7",
            "-12",
            "3.25",
            "1e3",
            "-2.5E-3",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "0.1",
            "1e-400",
            "123.456e7",
        ])),
        2 | 3 => {
            out.push('"');
            for _ in 0..rng.below(4) {
                out.push_str(rng.pick(&[
                    "plain",
                    "\\\"",
                    "\\\\",
                    "\\/",
                    "\\n",
                    "\\t",
                    "\\u00e9",
                    "\\ud83d\\ude00",
                    "ü",
                    " ",
                    "",
                ]));
            }
            out.push('"');
        }
        4 => {
            out.push('[');
            let n = rng.below(4);
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                random_json(rng, depth - 1, out);
            }
            ws(rng, out);
            out.push(']');
        }
        _ => {
            out.push('{');
            let n = rng.below(6);
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, out);
                out.push('"');
                out.push_str(rng.pick(KEYS));
                out.push('"');
                ws(rng, out);
                out.push(':');
                random_json(rng, depth.saturating_sub(1), out);
            }
            ws(rng, out);
            out.push('}');
        }
    }
    ws(rng, out);
}

/// What a projection keeps of a fully parsed value: the specification the scanner's projected
/// parse is checked against.
fn project(value: &Value, trie: &Trie, node: NodeId) -> Option<Value> {
    match value {
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, v)| match trie.child(node, k)? {
                    Child::Keep => Some((k.clone(), v.clone())),
                    Child::Node(inner) => project(v, trie, inner).map(|v| (k.clone(), v)),
                })
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|v| project(v, trie, node))
                .collect(),
        )),
        scalar => trie.keeps_scalars(node).then(|| scalar.clone()),
    }
}

/// Thousands of random documents, whole and with a byte removed: the full parse agrees with
/// serde_json, and the projected parse with projecting serde_json's value through random tries.
#[test]
fn random_documents_agree_with_serde_json() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut valid, mut invalid, mut kept) = (0, 0, 0);
    for round in 0..3000 {
        let mut text = String::new();
        random_value(&mut rng, 4, round % 4 != 0, &mut text);
        let mut trie = Trie::new();
        for _ in 0..rng.below(4) {
            let unescaped = |k: &str| k.replace("\\u0065", "e");
            let path: Vec<String> = (0..1 + rng.below(3))
                .map(|_| unescaped(rng.pick(KEYS)))
                .collect();
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            trie.insert(Trie::ROOT, &path);
        }
        let mut texts = vec![text.clone()];
        if !text.is_empty() {
            let cut = rng.below(text.len() as u64) as usize;
            if text.is_char_boundary(cut) && text.is_char_boundary(cut + 1) {
                texts.push(format!("{}{}", &text[..cut], &text[cut + 1..]));
            }
        }
        for text in &texts {
            let expected = reference(text);
            assert_eq!(ours(text), expected, "round {round}: {text:?}");
            let projected = parse_projected(text, &trie).map_err(|e| e.message().to_owned());
            match &expected {
                Ok(full) => {
                    valid += 1;
                    let wanted = project(full, &trie, Trie::ROOT).unwrap_or(Value::Null);
                    kept += usize::from(wanted.as_object().is_some_and(|o| !o.is_empty()));
                    assert_eq!(projected, Ok(wanted), "round {round}: {text:?}");
                }
                Err(message) => {
                    invalid += 1;
                    assert_eq!(
                        projected.as_ref().err(),
                        Some(message),
                        "round {round}: {text:?}"
                    );
                }
            }
        }
    }
    // The generator covers all three cases in earnest.
    assert!(
        valid > 2000 && invalid > 500 && kept > 300,
        "{valid} {invalid} {kept}"
    );
}
