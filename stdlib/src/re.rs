//! Regular expressions, as used by `regex_match` and the `matches` operator.
//!
//! The syntax is that of Rust's `regex` crate (Unicode-aware, no look-around, no backreferences,
//! matching in linear time). A pattern matches anywhere in the text: anchor it with `^...$` for a
//! whole match. Both compilers here give the same matcher; they differ only in how large the
//! compiled program may grow.

use regex::{Regex, RegexBuilder};

/// The compiled-size limit for patterns written in a ruleset (the `regex` crate's default).
pub const SIZE_LIMIT: usize = 10 * (1 << 20);

/// The compiled-size limit for patterns that arrive at run time, from an event or a nested call:
/// small, so that an odd event cannot make one call take much memory or time.
pub const UNTRUSTED_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a pattern written in a ruleset. The error is a complete one-line message, e.g.
/// ``invalid regular expression `a(`: unclosed group``.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    build(pattern, SIZE_LIMIT)
}

/// Compiles a pattern known only at run time, with a smaller size limit.
pub fn compile_untrusted(pattern: &str) -> Result<Regex, String> {
    build(pattern, UNTRUSTED_SIZE_LIMIT)
}

fn build(pattern: &str, limit: usize) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(limit)
        .dfa_size_limit(limit)
        .build()
        .map_err(|err| reason(&err))
}

/// The one-line reason of a `regex` error, whose `Display` spans several lines and repeats the
/// pattern with a caret under the fault.
fn reason(err: &regex::Error) -> String {
    match err {
        regex::Error::Syntax(text) => match text.rsplit_once("error: ") {
            Some((_, reason)) => reason.trim().to_owned(),
            None => text
                .lines()
                .last()
                .unwrap_or("syntax error")
                .trim()
                .to_owned(),
        },
        regex::Error::CompiledTooBig(limit) => {
            format!("the compiled expression would exceed the size limit of {limit} bytes")
        }
        other => other.to_string().lines().next().unwrap_or("").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_the_one_line_reason() {
        assert_eq!(compile("a(").unwrap_err(), "unclosed group");
        assert_eq!(
            compile("*a").unwrap_err(),
            "repetition operator missing expression"
        );
        assert_eq!(compile("x\n(").unwrap_err(), "unclosed group");
        assert_eq!(compile(r"(?<n>a)\k<n>").unwrap_err().lines().count(), 1);
    }

    #[test]
    fn untrusted_patterns_have_a_smaller_limit() {
        let big = r"\w{100}";
        assert!(compile(big).is_ok());
        let err = compile_untrusted(big).unwrap_err();
        assert!(
            err.starts_with("the compiled expression would exceed the size limit of"),
            "{err}"
        );
    }

    #[test]
    fn patterns_match_anywhere_unless_anchored() {
        let re = compile(r"kube-\w+").unwrap();
        assert!(re.is_match("ns kube-system here"));
        let anchored = compile(r"^kube-\w+$").unwrap();
        assert!(!anchored.is_match("ns kube-system here"));
        assert!(anchored.is_match("kube-système"));
    }
}
