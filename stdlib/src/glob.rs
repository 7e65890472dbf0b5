//! Glob patterns, as used by `glob_match` and the `glob` operator.
//!
//! A glob matches a whole string (not a substring), case-sensitively:
//!
//! | pattern | matches |
//! |---|---|
//! | `*` | any sequence of characters, `/` included, the empty one too |
//! | `?` | exactly one character (a Unicode scalar value, not a byte) |
//! | `[abc]` | one of the characters listed |
//! | `[a-z]` | one character in the range, bounds included; ranges and single characters mix: `[a-z0-9_]` |
//! | `[!abc]`, `[^abc]` | one character not listed |
//! | `\c` | the character `c` itself, so `\*`, `\?`, `\[` and `\\` are literal; also inside `[...]` |
//!
//! Inside brackets, a `]` right after the opening `[` (or after the `!`/`^`) is a member, as is a
//! `-` first or last: `[]]`, `[!]a]`, `[-a]`, `[a-]`. Any other character stands for itself.
//!
//! A pattern is malformed, and [`Glob::new`] fails, when a `[` is never closed, a range runs
//! backwards (`[z-a]`) or the pattern ends with a lone `\`.
//!
//! Matching allocates nothing and runs in O(pattern × text) time at worst (no exponential
//! backtracking): only the most recent `*` is ever revisited, which is enough because every other
//! element matches a fixed number of characters.

use std::fmt;

/// A compiled glob pattern.
#[derive(Clone)]
pub struct Glob {
    pattern: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// Characters that must appear as they are.
    Literal(String),
    /// `?`
    AnyChar,
    /// `*` (consecutive stars are merged)
    AnySeq,
    /// `[...]`
    Class(Class),
}

#[derive(Debug, Clone, PartialEq)]
struct Class {
    negated: bool,
    /// Inclusive ranges; a single character `c` is `(c, c)`.
    ranges: Vec<(char, char)>,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

impl Glob {
    /// Compiles a pattern. The error is the reason the pattern is malformed, one line, lowercase,
    /// without the pattern (e.g. ``unclosed `[` ``), for the caller to put after its own
    /// ``invalid glob pattern `...` ``.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => Token::AnySeq,
                '?' => Token::AnyChar,
                '[' => Token::Class(parse_class(&mut chars)?),
                '\\' => match chars.next() {
                    Some(escaped) => {
                        literal.push(escaped);
                        continue;
                    }
                    None => return Err("it ends with a lone `\\`".into()),
                },
                c => {
                    literal.push(c);
                    continue;
                }
            };
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            if token == Token::AnySeq && tokens.last() == Some(&Token::AnySeq) {
                continue;
            }
            tokens.push(token);
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(Glob {
            pattern: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the whole of `text` matches the pattern.
    pub fn is_match(&self, text: &str) -> bool {
        let tokens = &self.tokens[..];
        // `t` indexes tokens, `i` is a byte offset into `text`, always on a char boundary.
        let (mut t, mut i) = (0, 0);
        // The token after the most recent `*` and the offset that `*` currently stops at.
        let mut star: Option<(usize, usize)> = None;
        loop {
            if let Some(token) = tokens.get(t) {
                let rest = &text[i..];
                let advanced = match token {
                    Token::AnySeq => {
                        if t + 1 == tokens.len() {
                            return true;
                        }
                        star = Some((t + 1, i));
                        t += 1;
                        continue;
                    }
                    Token::Literal(lit) => rest.starts_with(lit.as_str()).then_some(lit.len()),
                    Token::AnyChar => rest.chars().next().map(char::len_utf8),
                    Token::Class(class) => rest
                        .chars()
                        .next()
                        .filter(|&c| class.matches(c))
                        .map(char::len_utf8),
                };
                if let Some(len) = advanced {
                    i += len;
                    t += 1;
                    continue;
                }
            } else if i == text.len() {
                return true;
            }
            // Mismatch: let the last `*` swallow one more character and retry from after it.
            let Some((after_star, stop)) = star else {
                return false;
            };
            let Some(c) = text[stop..].chars().next() else {
                return false;
            };
            let mut next = stop + c.len_utf8();
            if let Some(Token::Literal(lit)) = tokens.get(after_star) {
                // Jump straight to the next place the literal occurs.
                match text[next..].find(lit.as_str()) {
                    Some(offset) => next += offset,
                    None => return false,
                }
            }
            star = Some((after_star, next));
            t = after_star;
            i = next;
        }
    }
}

/// Parses a bracket expression after its `[`.
fn parse_class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Class, String> {
    let negated = matches!(chars.peek(), Some('!' | '^'));
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let lo = match chars.next() {
            None => return Err("unclosed `[`".into()),
            Some(']') if !first => break,
            Some('\\') => chars.next().ok_or("unclosed `[`")?,
            Some(c) => c,
        };
        first = false;
        let mut hi = lo;
        if chars.peek() == Some(&'-') {
            let mut lookahead = chars.clone();
            lookahead.next();
            match lookahead.peek() {
                // `-` before the closing `]` is a member, handled on the next turn.
                Some(']') | None => {}
                Some(_) => {
                    chars.next();
                    hi = match chars.next() {
                        Some('\\') => chars.next().ok_or("unclosed `[`")?,
                        Some(c) => c,
                        None => return Err("unclosed `[`".into()),
                    };
                    if hi < lo {
                        return Err(format!("the range `{lo}-{hi}` runs backwards"));
                    }
                }
            }
        }
        ranges.push((lo, hi));
    }
    Ok(Class { negated, ranges })
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Glob").field(&self.pattern).finish()
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn is_match(pattern: &str, text: &str) -> bool {
        Glob::new(pattern)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_match(text)
    }

    #[test]
    fn literals_match_whole_strings_only() {
        assert!(is_match("kube-system", "kube-system"));
        assert!(!is_match("kube-system", "kube-system2"));
        assert!(!is_match("kube", "kube-system"));
        assert!(is_match("", ""));
        assert!(!is_match("", "a"));
        assert!(!is_match("A", "a"));
    }

    #[test]
    fn star_crosses_slashes_and_matches_empty() {
        assert!(is_match("*", ""));
        assert!(is_match("*", "a/b/c"));
        assert!(is_match("/api/*/secrets", "/api/v1/namespaces/x/secrets"));
        assert!(is_match("a*b*c", "abc"));
        assert!(is_match("a*b*c", "a-b-b-c"));
        assert!(!is_match("a*b*c", "a-b-b-"));
        assert!(is_match("*.example.com", "api.eu.example.com"));
        assert!(!is_match("*.example.com", "example.com"));
        assert!(is_match("**x", "yyx"));
        assert!(is_match("*ab", "aab"));
        assert!(is_match("*aab", "aaab"));
        assert!(!is_match("*ab", "aba"));
    }

    #[test]
    fn question_mark_is_one_character_not_one_byte() {
        assert!(is_match("pod-?", "pod-1"));
        assert!(!is_match("pod-?", "pod-"));
        assert!(!is_match("pod-?", "pod-12"));
        assert!(is_match("?", "é"));
        assert!(is_match("a?c", "a/c"));
        assert!(is_match("*?", "日本"));
        assert!(!is_match("??", "日"));
    }

    #[test]
    fn classes_sets_ranges_and_negation() {
        assert!(is_match("v[12]", "v1"));
        assert!(!is_match("v[12]", "v3"));
        assert!(is_match("[a-c]x", "bx"));
        assert!(!is_match("[a-c]x", "dx"));
        assert!(is_match("[a-z0-9_]", "_"));
        assert!(is_match("[!a-c]", "d"));
        assert!(!is_match("[!a-c]", "a"));
        assert!(is_match("[^a-c]", "z"));
        assert!(!is_match("[^a-c]", "b"));
        assert!(!is_match("[!a]", ""));
        assert!(is_match("[é]", "é"));
    }

    #[test]
    fn brackets_dashes_and_carets_as_members() {
        assert!(is_match("[]]", "]"));
        assert!(is_match("[]a]", "a"));
        assert!(is_match("[!]]", "x"));
        assert!(!is_match("[!]]", "]"));
        assert!(is_match("[-a]", "-"));
        assert!(is_match("[a-]", "-"));
        assert!(!is_match("[a-]", "b"));
        assert!(is_match("[a^]", "^"));
        assert!(is_match("[*?]", "*"));
        assert!(!is_match("[*?]", "x"));
    }

    #[test]
    fn escapes_make_metacharacters_literal() {
        assert!(is_match(r"a\*", "a*"));
        assert!(!is_match(r"a\*", "ab"));
        assert!(is_match(r"\?", "?"));
        assert!(!is_match(r"\?", "x"));
        assert!(is_match(r"\[x]", "[x]"));
        assert!(is_match(r"a\\b", r"a\b"));
        assert!(is_match(r"\d", "d"));
        assert!(is_match(r"[\]]", "]"));
        assert!(is_match(r"[a\-z]", "-"));
        assert!(!is_match(r"[a\-z]", "b"));
        assert!(is_match(r"[\!a]", "!"));
    }

    #[test]
    fn malformed_patterns_are_rejected_with_a_message() {
        assert_eq!(Glob::new("[a").unwrap_err(), "unclosed `[`");
        assert_eq!(Glob::new("[]").unwrap_err(), "unclosed `[`");
        assert_eq!(Glob::new("[a-").unwrap_err(), "unclosed `[`");
        assert_eq!(Glob::new("[a\\").unwrap_err(), "unclosed `[`");
        assert_eq!(
            Glob::new("[z-a]").unwrap_err(),
            "the range `z-a` runs backwards"
        );
        assert_eq!(Glob::new("ab\\").unwrap_err(), "it ends with a lone `\\`");
        assert!(Glob::new("]").is_ok());
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let text = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(50));
        let start = std::time::Instant::now();
        assert!(!is_match(&pattern, &text));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn display_gives_the_pattern_back() {
        assert_eq!(Glob::new("a*[b]").unwrap().to_string(), "a*[b]");
        assert_eq!(Glob::new("a*[b]").unwrap().as_str(), "a*[b]");
    }
}
