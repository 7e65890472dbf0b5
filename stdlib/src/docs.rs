//! The function reference, generated from the functions themselves: one Markdown page per
//! function (`docs/functions/<name>.md`: signature, what it returns, its docs and its examples)
//! and an index (`docs/functions/README.md`).
//!
//! The pages in the repository are kept current by the test `generated_docs_are_current`; to
//! regenerate them, run `UPDATE_DOCS=1 cargo test -p k8scop-stdlib generated_docs_are_current`.

use std::fmt::Write as _;

use serde_json::Value;

use crate::{all, Example, Function};

/// The command that regenerates the pages, as the pages and the test name it.
pub const REGENERATE: &str = "UPDATE_DOCS=1 cargo test -p k8scop-stdlib generated_docs_are_current";

/// Every page of the function reference: (file name, Markdown). `README.md` is the index; the
/// others are `<function name>.md`, in the order of [`crate::all`].
pub fn markdown_pages() -> Vec<(String, String)> {
    let mut pages = vec![("README.md".to_owned(), index_page())];
    pages.extend(
        all()
            .iter()
            .map(|f| (format!("{}.md", f.name()), function_page(*f))),
    );
    pages
}

/// A function's signature: `split(s: string, sep: string) -> list of strings`.
pub fn signature(function: &dyn Function) -> String {
    let params: Vec<String> = function
        .params()
        .iter()
        .map(|p| format!("{}: {}", p.name, p.ty))
        .collect();
    format!(
        "{}({}) -> {}",
        function.name(),
        params.join(", "),
        function.returns()
    )
}

/// The first sentence of a function's docs, for one-line listings.
pub fn summary(function: &dyn Function) -> &'static str {
    let docs = function.docs();
    let paragraph = docs.split("\n\n").next().unwrap_or(docs);
    let mut in_code = false;
    let bytes = paragraph.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'`' => in_code = !in_code,
            b'.' if !in_code && matches!(bytes.get(i + 1), None | Some(b' ' | b'\n')) => {
                return &paragraph[..=i];
            }
            _ => {}
        }
    }
    paragraph
}

fn generated_notice() -> String {
    format!("<!-- Generated from stdlib/src/functions/ by `{REGENERATE}`. Do not edit. -->")
}

fn index_page() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Stdlib functions\n\n{}\n", generated_notice());
    out.push_str(INDEX_INTRO);
    out.push_str("\n| Function | Returns | What it does |\n|---|---|---|\n");
    for f in all() {
        let call = format!(
            "{}({})",
            f.name(),
            f.params()
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            out,
            "| [{}]({}.md) | {} | {} |",
            code(&call),
            f.name(),
            cell(f.returns()),
            cell(&summary(*f).replace('\n', " "))
        );
    }
    out
}

const INDEX_INTRO: &str = "\
These functions can be called in rule conditions, on either side of a comparison or alone as a \
condition when they return a boolean, and in Rhai scripts, under the same names and with the \
same arguments:

```
rule exec_by_a_person {
    when objectRef.subresource == \"exec\" and not is_system_user(user)
         and image_repository(requestObject.spec.containers.image) startswith \"docker.io/\"
}
```

- **Missing results.** A function whose input is of the wrong type or lacks the part asked for \
(the tag of an image pinned by digest, the namespace of a user who is not a service account) \
returns no value: the result is *missing*, like a field the event does not have. A comparison \
on a missing result is false, for `!=` too, and `not` makes it true. A missing argument makes \
the call missing without running the function.
- **Several values.** An argument with several values (a path that crosses a list on its way, \
such as `requestObject.spec.containers.image`) runs the function once per value, and the \
condition holds when it holds for any of them. A path that ends at a list runs the function \
once per item when the parameter takes one value (`is_private_ip(sourceIPs)`), and passes the \
list whole when the parameter takes a list (`join(user.groups, \",\")`, \
`len(requestObject.spec.containers)`).
- **Constants are checked when the ruleset loads.** A regular expression, glob, CIDR range or \
path written as a literal is compiled once, and a malformed one is an error that stops the \
ruleset from loading. A literal of the wrong type where the type is clear (`split(x, 3)`) is an \
error too. The same argument taken from the event is compiled per call; when it is malformed, \
the call reports an error, which the engine counts, and its result is missing.
- **Strings.** In a rule's string literal, `\\\"`, `\\\\`, `\\n` and `\\t` are escapes and any \
other backslash is kept, so `\"^\\d+$\"` is the regular expression `^\\d+$`.
";

fn function_page(f: &dyn Function) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "# `{}`\n\n{}\n\n```text\n{}\n```\n\nReturns: {}\n\n{}\n\n## Examples\n\n",
        f.name(),
        generated_notice(),
        signature(f),
        f.returns(),
        f.docs().trim_end()
    );
    out.push_str("| Call | Result |\n|---|---|\n");
    for example in f.examples() {
        let _ = writeln!(
            out,
            "| {} | {} |",
            example_call_cell(example),
            example_result_cell(example)
        );
    }
    out.push_str("\n[All functions](README.md)\n");
    out
}

/// The call, followed by the values of the field paths it reads.
fn example_call_cell(example: &Example) -> String {
    let mut cell_text = code(example.call);
    let args: Vec<Value> = match serde_json::from_str(example.args) {
        Ok(Value::Array(args)) => args,
        _ => return cell_text,
    };
    if let Ok((_, parsed)) = parse_call(example.call) {
        for (arg, value) in parsed.iter().zip(&args) {
            if let CallArg::Path(path) = arg {
                let _ = write!(
                    cell_text,
                    "<br>where {} is {}",
                    code(path),
                    code(&to_json(value))
                );
            }
        }
    }
    cell(&cell_text)
}

fn example_result_cell(example: &Example) -> String {
    match serde_json::from_str::<Value>(example.result) {
        Ok(Value::Null) => "*missing*".to_owned(),
        Ok(value) => cell(&code(&to_json(&value))),
        Err(_) => cell(&code(example.result)),
    }
}

/// A Markdown code span holding `text`, whatever backticks it contains.
fn code(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // CommonMark strips one space from each end when both ends have one, and needs one to
    // separate a backtick at either end from the fence.
    let pad = text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' ') && !text.trim().is_empty());
    if pad {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// Text made safe for a table cell: `|` escaped (GitHub Markdown unescapes it inside code spans
/// too).
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// JSON on one line, with a space after `,` and `:` for reading.
pub(crate) fn to_json(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(to_json).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(members) => {
            let members: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), to_json(v)))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// An argument of an example call, as written in a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallArg {
    /// A literal: string, number, boolean, null or a list of literals.
    Literal(Value),
    /// Anything else (a field path), as written.
    Path(String),
}

/// Parses an example call `name(arg, ...)` whose arguments are literals of the rule language or
/// field paths. String literals take the language's escapes (`\"`, `\\`, `\n`, `\t`; any other
/// backslash is kept).
pub(crate) fn parse_call(call: &str) -> Result<(String, Vec<CallArg>), String> {
    let open = call.find('(').ok_or("no `(`")?;
    let inner = call[open + 1..]
        .strip_suffix(')')
        .ok_or("the call does not end with `)`")?;
    let mut parser = LiteralParser {
        text: inner,
        pos: 0,
    };
    let mut args = Vec::new();
    parser.skip_spaces();
    if !parser.at_end() {
        loop {
            args.push(parser.arg()?);
            parser.skip_spaces();
            if parser.at_end() {
                break;
            }
            parser.expect(',')?;
        }
    }
    Ok((call[..open].to_owned(), args))
}

struct LiteralParser<'a> {
    text: &'a str,
    pos: usize,
}

impl LiteralParser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_spaces();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(format!("expected `{c}` at `{}`", self.rest()))
        }
    }

    fn arg(&mut self) -> Result<CallArg, String> {
        self.skip_spaces();
        let rest = self.rest();
        let starts_literal = rest.starts_with(['"', '[', '-'])
            || rest.starts_with(|c: char| c.is_ascii_digit())
            || ["true", "false", "null"].iter().any(|word| {
                rest.strip_prefix(word).is_some_and(|after| {
                    !after.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
                })
            });
        if starts_literal {
            return self.literal().map(CallArg::Literal);
        }
        // A field path runs to the next `,` or the end, outside brackets and quotes.
        let (mut depth, mut quoted, mut end) = (0usize, false, rest.len());
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if quoted => {
                    chars.next();
                }
                '"' => quoted = !quoted,
                '[' if !quoted => depth += 1,
                ']' if !quoted => depth = depth.saturating_sub(1),
                ',' if !quoted && depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let path = rest[..end].trim_end().to_owned();
        if path.is_empty() {
            return Err("empty argument".into());
        }
        self.pos += end;
        Ok(CallArg::Path(path))
    }

    fn literal(&mut self) -> Result<Value, String> {
        self.skip_spaces();
        let rest = self.rest();
        if let Some(body) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = body.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.pos += 1 + i + 1;
                        return Ok(Value::String(out));
                    }
                    '\\' => match chars.next() {
                        Some((_, '"')) => out.push('"'),
                        Some((_, '\\')) => out.push('\\'),
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, 't')) => out.push('\t'),
                        Some((_, other)) => {
                            out.push('\\');
                            out.push(other);
                        }
                        None => break,
                    },
                    c => out.push(c),
                }
            }
            return Err(format!("unclosed string at `{rest}`"));
        }
        if rest.starts_with('[') {
            self.pos += 1;
            let mut items = Vec::new();
            self.skip_spaces();
            if self.rest().starts_with(']') {
                self.pos += 1;
                return Ok(Value::Array(items));
            }
            loop {
                items.push(self.literal()?);
                self.skip_spaces();
                if self.rest().starts_with(']') {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                self.expect(',')?;
            }
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')))
            .unwrap_or(rest.len());
        let token = &rest[..end];
        let value = serde_json::from_str::<Value>(token)
            .map_err(|_| format!("`{token}` is not a literal"))?;
        self.pos += end;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn docs_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/functions")
    }

    #[test]
    fn generated_docs_are_current() {
        let dir = docs_dir();
        let generated: BTreeMap<String, String> = markdown_pages().into_iter().collect();
        if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(&dir).expect("create docs/functions");
            for (name, text) in &generated {
                std::fs::write(dir.join(name), text).expect("write a docs page");
            }
            for entry in std::fs::read_dir(&dir).expect("read docs/functions") {
                let path = entry.expect("a directory entry").path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.ends_with(".md") && !generated.contains_key(name) {
                    std::fs::remove_file(&path).expect("remove a stale docs page");
                }
            }
            return;
        }
        let mut on_disk = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries {
                let path = entry.expect("a directory entry").path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if name.ends_with(".md") {
                    let text = std::fs::read_to_string(&path).expect("read a docs page");
                    on_disk.insert(name.to_owned(), text);
                }
            }
        }
        let mut problems = Vec::new();
        for (name, text) in &generated {
            match on_disk.get(name) {
                None => problems.push(format!("{name} is missing")),
                Some(disk) if disk != text => problems.push(format!("{name} is out of date")),
                Some(_) => {}
            }
        }
        for name in on_disk.keys() {
            if !generated.contains_key(name) {
                problems.push(format!("{name} documents no function"));
            }
        }
        assert!(
            problems.is_empty(),
            "docs/functions does not match the functions ({}); regenerate it with `{REGENERATE}`",
            problems.join(", ")
        );
    }

    #[test]
    fn signatures_and_summaries() {
        let split = crate::lookup("split").unwrap();
        assert_eq!(
            signature(split),
            "split(s: string, sep: string) -> list of strings"
        );
        assert_eq!(
            summary(crate::lookup("lower").unwrap()),
            "Returns `s` in lowercase, by Unicode rules (`Σ` becomes `σ`, `İ` becomes `i̇`)."
        );
        // a period inside a code span does not end the sentence
        assert!(summary(crate::lookup("parse_time").unwrap()).ends_with("gives `1714564800.5`."));
    }

    #[test]
    fn every_function_has_a_page_and_an_index_line() {
        let pages = markdown_pages();
        assert_eq!(pages.len(), all().len() + 1);
        let index = &pages[0].1;
        for f in all() {
            assert!(
                index.contains(&format!("]({}.md)", f.name())),
                "{}",
                f.name()
            );
            let page = &pages
                .iter()
                .find(|(name, _)| *name == format!("{}.md", f.name()))
                .expect("a page")
                .1;
            assert!(page.contains(&signature(*f)));
            let (_, examples) = page
                .split_once("\n## Examples\n")
                .expect("an examples section");
            assert_eq!(
                examples.matches("\n| `").count(),
                f.examples().len(),
                "{}",
                f.name()
            );
        }
    }

    #[test]
    fn table_cells_escape_pipes_and_paths_show_their_values() {
        let example = Example {
            call: r#"regex_match(user.username, "a|b")"#,
            args: r#"["alice", "a|b"]"#,
            result: "true",
        };
        assert_eq!(
            example_call_cell(&example),
            r#"`regex_match(user.username, "a\|b")`<br>where `user.username` is `"alice"`"#
        );
        assert_eq!(example_result_cell(&example), "`true`");
        let missing = Example {
            call: "lower(1)",
            args: "[1]",
            result: "null",
        };
        assert_eq!(example_result_cell(&missing), "*missing*");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
    }

    #[test]
    fn json_is_written_on_one_line_with_spaces() {
        assert_eq!(
            to_json(&json!({"b": [1, "x\n"], "a": null})),
            r#"{"a": null, "b": [1, "x\n"]}"#
        );
    }

    #[test]
    fn example_calls_parse_with_the_language_escapes() {
        let (name, args) =
            parse_call(r#"f("a\"b\\c\d\n", [1, -2.5, "x"], user.groups[0], true, null)"#).unwrap();
        assert_eq!(name, "f");
        assert_eq!(
            args,
            vec![
                CallArg::Literal(json!("a\"b\\c\\d\n")),
                CallArg::Literal(json!([1, -2.5, "x"])),
                CallArg::Path("user.groups[0]".into()),
                CallArg::Literal(json!(true)),
                CallArg::Literal(json!(null)),
            ]
        );
        assert_eq!(parse_call("f()").unwrap().1, vec![]);
        assert_eq!(
            parse_call(r#"f(a["x,y"], trueish)"#).unwrap().1,
            vec![
                CallArg::Path(r#"a["x,y"]"#.into()),
                CallArg::Path("trueish".into())
            ]
        );
        assert!(parse_call(r#"f("open)"#).is_err());
        assert!(parse_call("f(1 2)").is_err());
        assert!(parse_call("f(1").is_err());
    }
}
