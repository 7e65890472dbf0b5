//! Mapping Rhai positions to the `.rules` file, and finding function definitions in a script
//! block's text.
//!
//! Rhai reports a position as a 1-based line and column inside the snippet it compiled; the
//! snippet is the body of a `script { ... }`, which starts at `body_span.start` in the file.

use k8scop_grammar::ast::Span;
use rhai::Position;

/// The byte offset in `text` of Rhai's 1-based `line` and `column` (in characters), clamped to
/// the text.
pub(crate) fn offset_in(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for _ in 1..line {
        match text[offset..].find('\n') {
            Some(i) => offset += i + 1,
            None => return text.len(),
        }
    }
    let rest = &text[offset..];
    let line_end = rest.find('\n').unwrap_or(rest.len());
    let within = rest[..line_end]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(line_end, |(i, _)| i);
    offset + within
}

/// The byte offset in `body` of a Rhai position, if it has one.
pub(crate) fn position_offset(body: &str, pos: Position) -> Option<usize> {
    let line = pos.line()?;
    Some(offset_in(body, line, pos.position().unwrap_or(1)))
}

/// The span in the file of the token that starts at `offset` in the body: an identifier or
/// number, a string or character literal, a run of operator characters, or one character. At the
/// end of the body (Rhai reports a missing token there) the span is the body's closing `}`.
pub(crate) fn token_span(body: &str, body_span: Span, offset: usize) -> Span {
    let rest = body[offset.min(body.len())..].trim_end();
    let start = body_span.start + offset;
    let Some(first) = rest.chars().next() else {
        // The closing brace follows the body directly.
        return Span::new(body_span.end, body_span.end + 1);
    };
    let len = match first {
        c if is_ident_char(c) => rest
            .char_indices()
            .find(|&(_, c)| !is_ident_char(c))
            .map_or(rest.len(), |(i, _)| i),
        '"' | '\'' | '`' => quoted_len(rest, first),
        c if is_operator_char(c) => rest
            .char_indices()
            .take(3)
            .find(|&(_, c)| !is_operator_char(c))
            .map_or_else(
                || rest.chars().take(3).map(char::len_utf8).sum(),
                |(i, _)| i,
            ),
        c => c.len_utf8(),
    };
    Span::new(start, start + len)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_operator_char(c: char) -> bool {
    "=!<>&|+-*/%^:.?~@$#".contains(c)
}

/// The length of a quoted literal at the start of `text`, up to its closing quote or the end of
/// the line.
fn quoted_len(text: &str, quote: char) -> usize {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            '\n' => return i,
            '\\' if !escaped => escaped = true,
            c if c == quote && !escaped => return i + 1,
            _ => escaped = false,
        }
    }
    text.len()
}

/// A function definition found in a script block's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FnSite {
    pub name: String,
    /// Where the name is, as a byte range of the body.
    pub name_range: std::ops::Range<usize>,
    pub arity: usize,
}

/// The top-level `fn NAME(PARAMS)` definitions of a script block, in source order.
///
/// This is a light scan, not a parser: it skips comments and string literals and looks for `fn`
/// at brace depth 0. Rhai has the final word on syntax; the scan only finds where each function's
/// name is (for labels) and, when Rhai rejects the block, which functions it meant to define (so
/// that a syntax error does not also make every call to them an unknown name).
pub(crate) fn scan_fn_defs(body: &str) -> Vec<FnSite> {
    let tokens = light_tokens(body);
    let mut sites = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let (range, tok) = &tokens[i];
        match tok {
            Tok::Open => depth += 1,
            Tok::Close => depth = depth.saturating_sub(1),
            Tok::Ident if depth == 0 && &body[range.clone()] == "fn" => {
                if let (Some((name_range, Tok::Ident)), Some((_, Tok::Open))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    let arity = count_params(&tokens[i + 3..]);
                    sites.push(FnSite {
                        name: body[name_range.clone()].to_owned(),
                        name_range: name_range.clone(),
                        arity,
                    });
                    i += 2;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    sites
}

/// The number of parameters of a parameter list whose `(` has just been consumed.
fn count_params(tokens: &[(std::ops::Range<usize>, Tok)]) -> usize {
    let mut commas = 0;
    let mut any = false;
    for (_, tok) in tokens {
        match tok {
            Tok::Close | Tok::Open => break,
            Tok::Comma => commas += 1,
            Tok::Ident => any = true,
            Tok::Other => {}
        }
    }
    if any {
        commas + 1
    } else {
        0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Ident,
    Open,
    Close,
    Comma,
    Other,
}

/// Identifiers, brackets and commas, with comments, strings and character literals skipped.
fn light_tokens(text: &str) -> Vec<(std::ops::Range<usize>, Tok)> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(text.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                // Rhai's block comments nest.
                let mut level = 0usize;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"/*") {
                        level += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        level -= 1;
                        i += 2;
                        if level == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' | b'\'' | b'`' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                i = j + 1;
            }
            b'{' | b'(' | b'[' => {
                tokens.push((i..i + 1, Tok::Open));
                i += 1;
            }
            b'}' | b')' | b']' => {
                tokens.push((i..i + 1, Tok::Close));
                i += 1;
            }
            b',' => {
                tokens.push((i..i + 1, Tok::Comma));
                i += 1;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let end = text[i..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(text.len(), |n| i + n);
                tokens.push((i..end, Tok::Ident));
                i = end;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                tokens.push((i..i + len, Tok::Other));
                i += len;
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters_not_bytes() {
        let text = "ab\n\tcé d\nx";
        assert_eq!(offset_in(text, 1, 1), 0);
        assert_eq!(offset_in(text, 2, 1), 3);
        // `é` is two bytes but one column.
        assert_eq!(offset_in(text, 2, 5), 8);
        assert_eq!(offset_in(text, 3, 1), 10);
        assert_eq!(offset_in(text, 9, 1), text.len());
    }

    #[test]
    fn token_spans_cover_the_offending_text() {
        let body = " let x = foo bar; \"a \\\" b\" === ";
        let span = Span::new(100, 100 + body.len());
        let at = |needle: &str| {
            let s = token_span(body, span, body.find(needle).unwrap());
            &body[s.start - 100..s.end - 100]
        };
        assert_eq!(at("foo"), "foo");
        assert_eq!(at("\"a"), "\"a \\\" b\"");
        assert_eq!(at("==="), "===");
        assert_eq!(at(";"), ";");
        assert_eq!(
            token_span(body, span, body.len()),
            Span::new(span.end, span.end + 1)
        );
    }

    #[test]
    fn finds_top_level_function_definitions() {
        let body = r#"
            // fn commented(a) {}
            /* fn also /* nested */ commented() {} */
            fn one(a) { let s = "fn not_this(x) {"; s }
            private fn two(a, b) {
                fn_like(a)
            }
            fn zero() { `fn nor_this()` }
        "#;
        let sites = scan_fn_defs(body);
        let found: Vec<(&str, usize)> = sites.iter().map(|s| (s.name.as_str(), s.arity)).collect();
        assert_eq!(found, [("one", 1), ("two", 2), ("zero", 0)]);
        assert_eq!(&body[sites[1].name_range.clone()], "two");
    }
}
