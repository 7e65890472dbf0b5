//! The paths `json_get` takes: `a.b[0].c`, `metadata.annotations["kubectl.kubernetes.io/x"]`.
//!
//! A path is a sequence of steps, written without spaces around them:
//!
//! - `name` (first) or `.name`: the member `name` of an object. On a list, a name made only of
//!   digits is an index, so `items.0` is `items[0]`. A name is any run of characters other than
//!   `.`, `[` and `]`.
//! - `[N]`: item N (from 0) of a list; `[-1]` is the last item, `[-2]` the one before.
//! - `["key"]`: the member `key` of an object, for keys with `.` or brackets in them; `\"` and
//!   `\\` escape a quote and a backslash.
//!
//! The empty path stands for the whole value.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Name(String),
    Index(i64),
    Key(String),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path(Vec<Step>);

impl Path {
    /// Parses a path; the error is a complete one-line message.
    pub(crate) fn parse(text: &str) -> Result<Path, String> {
        parse_steps(text)
            .map(Path)
            .map_err(|reason| format!("invalid path {}: {reason}", crate::args::quote(text)))
    }

    /// The value at the path, if there is one.
    pub(crate) fn get<'v>(&self, mut value: &'v Value) -> Option<&'v Value> {
        for step in &self.0 {
            value = match (step, value) {
                (Step::Name(name), Value::Object(object)) => object.get(name)?,
                (Step::Name(name), Value::Array(items)) => {
                    if !name.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    items.get(name.parse::<usize>().ok()?)?
                }
                (Step::Key(key), Value::Object(object)) => object.get(key)?,
                (Step::Index(index), Value::Array(items)) => {
                    let position = if *index < 0 {
                        items
                            .len()
                            .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
                    } else {
                        usize::try_from(*index).ok()?
                    };
                    items.get(position)?
                }
                _ => return None,
            };
        }
        Some(value)
    }
}

fn parse_steps(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut rest = text;
    let mut first = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (step, after) = parse_bracket(after)?;
            steps.push(step);
            rest = after;
        } else {
            let after_dot = if first {
                rest
            } else {
                rest.strip_prefix('.').ok_or_else(|| {
                    format!("expected `.` or `[` before {}", crate::args::quote(rest))
                })?
            };
            let end = after_dot.find(['.', '[', ']']).unwrap_or(after_dot.len());
            if end == 0 {
                return Err(if first {
                    "a path starts with a name or `[`".into()
                } else {
                    "a `.` must be followed by a name".into()
                });
            }
            steps.push(Step::Name(after_dot[..end].to_owned()));
            rest = &after_dot[end..];
        }
        first = false;
    }
    Ok(steps)
}

/// Parses what follows a `[`: `N]`, `-N]` or `"key"]`; returns the step and the text after `]`.
fn parse_bracket(text: &str) -> Result<(Step, &str), String> {
    if let Some(quoted) = text.strip_prefix('"') {
        let mut key = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    return quoted[i + 1..]
                        .strip_prefix(']')
                        .map(|after| (Step::Key(key), after))
                        .ok_or_else(|| "a quoted key must be followed by `]`".to_owned());
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('"' | '\\'))) => key.push(escaped),
                    _ => return Err("only `\\\"` and `\\\\` are escapes in a quoted key".into()),
                },
                c => key.push(c),
            }
        }
        return Err("unclosed quoted key".into());
    }
    let end = text.find(']').ok_or("unclosed `[`")?;
    let inner = &text[..end];
    let digits = inner.strip_prefix('-').unwrap_or(inner);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "expected an index or a quoted key inside `[...]`, found {}",
            crate::args::quote(inner)
        ));
    }
    let index = inner
        .parse::<i64>()
        .map_err(|_| format!("the index `{inner}` is too large"))?;
    Ok((Step::Index(index), &text[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn steps(text: &str) -> Vec<Step> {
        Path::parse(text).unwrap_or_else(|e| panic!("{e}")).0
    }

    #[test]
    fn parses_names_indexes_and_keys() {
        use Step::*;
        assert_eq!(steps(""), vec![]);
        assert_eq!(steps("a"), vec![Name("a".into())]);
        assert_eq!(
            steps("a.b[0].c"),
            vec![
                Name("a".into()),
                Name("b".into()),
                Index(0),
                Name("c".into())
            ]
        );
        assert_eq!(steps("[-1]"), vec![Index(-1)]);
        assert_eq!(steps("[1][2]"), vec![Index(1), Index(2)]);
        assert_eq!(
            steps(r#"metadata.annotations["a.b/c"]"#),
            vec![
                Name("metadata".into()),
                Name("annotations".into()),
                Key("a.b/c".into())
            ]
        );
        assert_eq!(steps(r#"["q\"uo\\te"]"#), vec![Key(r#"q"uo\te"#.into())]);
        assert_eq!(
            steps("a b.c-d"),
            vec![Name("a b".into()), Name("c-d".into())]
        );
    }

    #[test]
    fn malformed_paths_say_why() {
        let err = |text: &str| Path::parse(text).unwrap_err();
        assert_eq!(
            err("a..b"),
            "invalid path `a..b`: a `.` must be followed by a name"
        );
        assert_eq!(
            err("a."),
            "invalid path `a.`: a `.` must be followed by a name"
        );
        assert_eq!(
            err(".a"),
            "invalid path `.a`: a path starts with a name or `[`"
        );
        assert_eq!(err("a[0"), "invalid path `a[0`: unclosed `[`");
        assert_eq!(
            err("a[x]"),
            "invalid path `a[x]`: expected an index or a quoted key inside `[...]`, found `x`"
        );
        assert_eq!(
            err("a[]"),
            "invalid path `a[]`: expected an index or a quoted key inside `[...]`, found ``"
        );
        assert_eq!(
            err("a[0]b"),
            "invalid path `a[0]b`: expected `.` or `[` before `b`"
        );
        assert_eq!(
            err("a]"),
            "invalid path `a]`: expected `.` or `[` before `]`"
        );
        assert_eq!(
            err(r#"a["x"#),
            r#"invalid path `a["x`: unclosed quoted key"#
        );
        assert_eq!(
            err(r#"a["x"y]"#),
            r#"invalid path `a["x"y]`: a quoted key must be followed by `]`"#
        );
        assert_eq!(
            err(r#"a["\n"]"#),
            r#"invalid path `a["\n"]`: only `\"` and `\\` are escapes in a quoted key"#
        );
        assert_eq!(
            err("a[99999999999999999999]"),
            "invalid path `a[99999999999999999999]`: the index `99999999999999999999` is too large"
        );
    }

    #[test]
    fn gets_values() {
        let doc = json!({"a": {"b": [{"c": 1}, {"c": 2}], "x.y": true}, "n": null});
        let get = |text: &str| Path::parse(text).unwrap().get(&doc).cloned();
        assert_eq!(get("a.b[1].c"), Some(json!(2)));
        assert_eq!(get("a.b.1.c"), Some(json!(2)));
        assert_eq!(get("a.b[-1].c"), Some(json!(2)));
        assert_eq!(get("a.b[-2].c"), Some(json!(1)));
        assert_eq!(get("a.b[-3].c"), None);
        assert_eq!(get("a.b[2]"), None);
        assert_eq!(get(r#"a["x.y"]"#), Some(json!(true)));
        assert_eq!(get("a.x.y"), None);
        assert_eq!(get("a[0]"), None);
        assert_eq!(get(r#"a.b["0"]"#), None);
        assert_eq!(get("a.b.+1"), None);
        assert_eq!(get("n"), Some(json!(null)));
        assert_eq!(get(""), Some(doc.clone()));
    }
}
