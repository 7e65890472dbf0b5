//! Recovery after a syntax error: where the top-level definitions of a file start.
//!
//! pest stops at the first error of a file. So that each broken definition gets its own
//! diagnostic, [`segments`] cuts a file that does not parse into pieces that each start where a
//! definition starts, and `parser.rs` parses the pieces one by one.
//!
//! A definition starts at the first word of a line when the line reads as the head of one:
//! `rule NAME {`, `sequence NAME {`, `list NAME =`, `macro NAME =`, `test "` or `script {`.
//! Heads are looked for outside the strings and comments of the rule language, and outside the
//! strings and comments of Rhai in script bodies. Brackets do not matter: a `{` left open is the
//! commonest mistake, and the definitions after it must still be found. The exception is
//! `script {`, which also starts a condition (`when` on one line, `script { ... }` on the next):
//! it starts a definition only outside any block, or at the very start of a line.
//!
//! Only a file that does not parse is cut, so a wrong cut cannot change how a valid file parses;
//! in a broken file it can at worst split a definition in two, and give it a second diagnostic.

use std::ops::Range;

use super::syntax_error::{block_comment_end, line_end, rhai_char_end, skip_gap, string_end};

/// The pieces of `text`, in order, covering all of it: the first starts at 0, every other one
/// where a definition starts. All offsets are character boundaries (heads start with an ASCII
/// letter).
pub(super) fn segments(text: &str) -> Vec<Range<usize>> {
    let mut starts = definition_starts(text.as_bytes());
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    starts
        .iter()
        .copied()
        .zip(ends)
        .map(|(s, e)| s..e)
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Head {
    /// `rule`, `sequence`, `list`, `macro` or `test`: only ever a top-level definition.
    Definition,
    /// `script {`: a top-level script block, or a condition.
    Script,
}

/// Where the definitions of `text` start (see the module docs).
fn definition_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    // Open `{` (rule language and Rhai alike).
    let mut depth = 0usize;
    // Inside a script body: the depth outside it.
    let mut script: Option<usize> = None;
    let mut line_start = 0;
    let mut first_on_line = true;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                i += 1;
                line_start = i;
                first_on_line = true;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            _ if bytes[i..].starts_with(BOM) => {
                i += BOM.len();
                continue;
            }
            _ => {}
        }
        if std::mem::replace(&mut first_on_line, false) {
            let starts_here = match head(bytes, i) {
                Some(Head::Definition) => true,
                Some(Head::Script) => depth == 0 || i == line_start,
                None => false,
            };
            if starts_here {
                starts.push(i);
                depth = 0;
                script = None;
            }
        }
        let next = match script {
            None => rule_token(bytes, i, &mut depth, &mut script),
            Some(outside) => {
                let next = rhai_token(bytes, i, &mut depth);
                if depth == outside {
                    script = None;
                }
                next
            }
        };
        // A token may span lines (a Rhai comment, `script` and its `{` on two lines).
        if let Some(newline) = bytes[i..next].iter().rposition(|&b| b == b'\n') {
            line_start = i + newline + 1;
        }
        i = next;
    }
    starts
}

const BOM: &[u8] = "\u{FEFF}".as_bytes();

/// Skips one token of the rule language at `i` (not whitespace); returns where the next starts.
fn rule_token(bytes: &[u8], i: usize, depth: &mut usize, script: &mut Option<usize>) -> usize {
    match bytes[i] {
        // A string ends on its line.
        b'"' => string_end(bytes, i).unwrap_or_else(|| line_end(bytes, i)),
        b'#' => line_end(bytes, i),
        b'{' => {
            *depth += 1;
            i + 1
        }
        b'}' => {
            *depth = depth.saturating_sub(1);
            i + 1
        }
        b if is_ident_start(b) => {
            let end = ident_end(bytes, i);
            let brace = skip_gap(bytes, end);
            if &bytes[i..end] == b"script" && bytes.get(brace) == Some(&b'{') {
                *script = Some(*depth);
                *depth += 1;
                brace + 1
            } else {
                end
            }
        }
        _ => i + 1,
    }
}

/// Skips one token of a script body at `i`. Like `script_body` in rules.pest, a string or comment
/// that is not closed is read as plain characters; unlike it, a `"` string ends at the end of its
/// line unless the line ends in `\`, as in Rhai.
fn rhai_token(bytes: &[u8], i: usize, depth: &mut usize) -> usize {
    let rest = &bytes[i..];
    if rest.starts_with(b"//") {
        return line_end(bytes, i);
    }
    if rest.starts_with(b"/*") {
        return block_comment_end(bytes, i).unwrap_or(i + 1);
    }
    match bytes[i] {
        b'"' => rhai_string_end(bytes, i),
        b'`' => rest[1..]
            .iter()
            .position(|&b| b == b'`')
            .map_or(i + 1, |p| i + p + 2),
        b'\'' => rhai_char_end(bytes, i).unwrap_or(i + 1),
        b'{' => {
            *depth += 1;
            i + 1
        }
        b'}' => {
            *depth = depth.saturating_sub(1);
            i + 1
        }
        _ => i + 1,
    }
}

/// The end of a Rhai `"` string starting at `start`: after its closing `"`, or at the line break
/// that leaves it unclosed, or at the end of the text.
fn rhai_string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\n' => return i,
            // An escaped line break continues the string.
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The head of a definition at `at`, if the text there reads as one.
fn head(bytes: &[u8], at: usize) -> Option<Head> {
    if !is_ident_start(bytes[at]) {
        return None;
    }
    let end = ident_end(bytes, at);
    let after = skip_gap(bytes, end);
    // `KEYWORD NAME` then `next`.
    let named = |next: u8| {
        let name_end = ident_end(bytes, after);
        after > end
            && is_ident_start(bytes.get(after).copied().unwrap_or(b' '))
            && bytes.get(skip_gap(bytes, name_end)) == Some(&next)
    };
    let is = match &bytes[at..end] {
        b"rule" | b"sequence" => named(b'{'),
        b"list" | b"macro" => {
            named(b'=') && bytes.get(skip_gap(bytes, ident_end(bytes, after)) + 1) != Some(&b'=')
        }
        b"test" => bytes.get(after) == Some(&b'"'),
        b"script" => return (bytes.get(after) == Some(&b'{')).then_some(Head::Script),
        _ => false,
    };
    is.then_some(Head::Definition)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// The end of the identifier characters from `at`.
fn ident_end(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
        .map_or(bytes.len(), |p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first words of the segments after the first.
    fn cuts(text: &str) -> Vec<&str> {
        segments(text)
            .into_iter()
            .skip(1)
            .map(|s| text[s].split_whitespace().next().unwrap_or(""))
            .collect()
    }

    #[test]
    fn every_kind_of_definition_starts_a_segment() {
        let text = "list l = [\"a\"]\nmacro m = x == 1\nrule r {\n  when m\n}\n\
                    sequence s {\n  steps r -> r\n}\nscript {\n  fn f() { 1 }\n}\n\
                    test \"t\" {\n  expect no alerts\n}\n";
        assert_eq!(
            cuts(text),
            ["macro", "rule", "sequence", "script", "test"],
            "{:?}",
            segments(text)
        );
        let pieces = segments(text);
        assert_eq!(pieces.first().map(|s| s.start), Some(0));
        assert_eq!(pieces.last().map(|s| s.end), Some(text.len()));
        assert!(pieces.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn words_that_only_look_like_definitions_do_not() {
        // Field names, conditions across lines, heads in strings and comments.
        let text = "rule r {\n  when verb == \"get\" and\n    rule == 1\n    or list in [\"a\"]\n\
                    # rule x {\n  title \"rule y {\"\n}\n";
        assert_eq!(cuts(text), Vec::<&str>::new());
        // `script {` in a condition, and heads inside Rhai strings and comments.
        let text = "rule r {\n  when\n    script { x == \"}\" }\n}\n\
                    script {\n  /* \nrule x {\n */ fn f() { `\ntest \"t\"` }\n}\n";
        assert_eq!(cuts(text), ["script"]);
        assert_eq!(cuts("macro m = a\n  == b\nlist == 1"), Vec::<&str>::new());
    }

    #[test]
    fn an_unclosed_block_does_not_hide_the_next_definition() {
        let text = "rule a {\n  when x == 1\n\nrule b {\n  when y\n}\n";
        assert_eq!(cuts(text), ["rule"]);
        // A script body left open: the next definition still starts at the start of its line.
        let text = "script {\n  fn f() { if x {\n}\nrule b { when y }\n";
        assert_eq!(cuts(text), ["rule"]);
        // `script {` at the very start of a line starts a block even inside an open one.
        let text = "rule a {\n  when x\n\nscript {\n  fn f() { 1 }\n}\n";
        assert_eq!(cuts(text), ["script"]);
        // An unclosed Rhai string ends with its line.
        let text = "script {\n  fn f() { \"abc }\n}\nrule b { when y }\n";
        assert_eq!(cuts(text), ["rule"]);
    }

    #[test]
    fn multibyte_text_and_a_byte_order_mark() {
        let text = "\u{FEFF}rule a { title \"é🚀\" }\n\u{FEFF}rule b { when ü }\n";
        let pieces = segments(text);
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        assert!(pieces
            .iter()
            .all(|s| text.is_char_boundary(s.start) && text.is_char_boundary(s.end)));
    }
}
