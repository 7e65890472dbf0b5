//! Regular expressions, as used by `regex_match` and the `matches` operator.
//!
//! The syntax is that of Rust's `regex` crate (Unicode-aware, no look-around, no backreferences,
//! matching in linear time). A pattern matches anywhere in the text: anchor it with `^...$` for a
//! whole match. Both compilers here give the same matcher; they differ only in how large the
//! compiled program may grow.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::{Regex, RegexBuilder};

/// The compiled-size limit for patterns written in a ruleset (the `regex` crate's default).
pub const SIZE_LIMIT: usize = 10 * (1 << 20);

/// The compiled-size limit for patterns that arrive at run time, from an event or a nested call:
/// small, so that an odd event cannot make one call take much memory or time.
pub const UNTRUSTED_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a pattern written in a ruleset. The error is a complete one-line message, e.g.
/// ``invalid regular expression `a(`: unclosed group``.
///
/// While a [`CompileCache`] is alive on this thread, a pattern compiled before is not compiled
/// again: the result is a clone of the first (which shares its compiled program).
pub fn compile(pattern: &str) -> Result<Regex, String> {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let Some(cache) = cache.as_mut() else {
            return build(pattern, SIZE_LIMIT);
        };
        if let Some(compiled) = cache.patterns.get(pattern) {
            return compiled.clone();
        }
        let compiled = build(pattern, SIZE_LIMIT);
        cache.patterns.insert(pattern.to_owned(), compiled.clone());
        compiled
    })
}

/// The patterns [`compile`] compiled on this thread while a [`CompileCache`] is alive.
struct Patterns {
    patterns: HashMap<String, Result<Regex, String>>,
    /// The [`CompileCache`]s alive: the patterns are dropped with the last one.
    guards: usize,
}

thread_local! {
    static CACHE: RefCell<Option<Patterns>> = const { RefCell::new(None) };
}

/// While alive, [`compile`] on this thread compiles each distinct pattern once.
///
/// A ruleset's compiler holds one: a macro is compiled again in each rule that uses it, and so
/// are its regular expressions, which are the costliest part of compiling a condition. The
/// patterns are dropped with the cache (with the last one, when several are alive), so that a
/// long-running process that reloads its rules does not keep the patterns of old rulesets.
#[must_use = "the cache lasts as long as the value"]
pub struct CompileCache {
    /// Not `Send`: the cache belongs to the thread that made it.
    _thread: std::marker::PhantomData<*const ()>,
}

impl CompileCache {
    /// Starts caching on this thread, or joins the cache already started.
    pub fn enter() -> CompileCache {
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            cache
                .get_or_insert_with(|| Patterns {
                    patterns: HashMap::new(),
                    guards: 0,
                })
                .guards += 1;
        });
        CompileCache {
            _thread: std::marker::PhantomData,
        }
    }
}

impl Drop for CompileCache {
    fn drop(&mut self) {
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(patterns) = cache.as_mut() {
                patterns.guards -= 1;
                if patterns.guards == 0 {
                    *cache = None;
                }
            }
        });
    }
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
    fn a_cache_compiles_each_pattern_once_while_it_lives() {
        let cached = |pattern: &str| {
            CACHE.with(|c| {
                c.borrow()
                    .as_ref()
                    .is_some_and(|p| p.patterns.contains_key(pattern))
            })
        };
        assert!(compile("^a+$").is_ok());
        assert!(!cached("^a+$"), "no cache, nothing kept");
        {
            let _outer = CompileCache::enter();
            let first = compile("^a+$").expect("a valid pattern");
            assert!(cached("^a+$"));
            {
                let _inner = CompileCache::enter();
                let again = compile("^a+$").expect("a valid pattern");
                assert!(again.is_match("aaa") && !again.is_match("ab"));
                assert_eq!(again.as_str(), first.as_str());
                // Errors are kept too, with the same message.
                assert_eq!(compile("a(").unwrap_err(), "unclosed group");
                assert_eq!(compile("a(").unwrap_err(), "unclosed group");
            }
            assert!(cached("^a+$"), "the outer cache still lives");
        }
        assert!(!cached("^a+$"), "dropped with the last cache");
        // Untrusted patterns are never cached: their size limit differs.
        let _cache = CompileCache::enter();
        assert!(compile_untrusted(r"\w{100}").is_err());
        assert!(compile(r"\w{100}").is_ok());
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
