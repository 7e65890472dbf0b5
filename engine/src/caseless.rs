//! Case-insensitive comparisons with ASCII text, evaluated natively.
//!
//! `icontains`, `istartswith`, `iendswith`, and `matches` with a pattern that is only
//! case-insensitive literal text (`(?i)^create$`, `(?i)^(?:create|update)$`, `(?i)kubectl`: what
//! `k8scop import sigma` writes for Sigma's case-insensitive strings) are `(?i)` regular
//! expressions by definition. Running the regex engine for them costs far more than comparing the
//! bytes, so a [`Caseless`] compares ASCII values byte by byte, ignoring ASCII case, and keeps the
//! compiled regex for the other values. The result is the regex's in every case: with an ASCII
//! literal, the only non-ASCII texts a `(?i)` regex can match differently from ASCII case folding
//! contain non-ASCII characters (`K`, KELVIN SIGN, matches `(?i)k`; `ſ` matches `(?i)s`), and
//! those go to the regex.

use memchr::memchr2;
use regex::Regex;

/// How a [`Caseless`] compares an ASCII value with its literals (all lowercase ASCII).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaselessOp {
    /// The whole value is one of the literals.
    Eq(Box<[Box<str>]>),
    /// The value contains the literal.
    Contains(Box<str>),
    /// The value starts with the literal.
    StartsWith(Box<str>),
    /// The value ends with the literal.
    EndsWith(Box<str>),
}

/// A case-insensitive comparison with ASCII literals (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Caseless {
    op: CaselessOp,
    /// The same comparison as a regex, for values that are not ASCII.
    regex: Regex,
}

impl Caseless {
    /// The native form of `regex` when its pattern is only case-insensitive ASCII literal text
    /// (see [`CaselessOp::of_pattern`]); `regex` back otherwise.
    pub fn new(regex: Regex) -> Result<Caseless, Regex> {
        match CaselessOp::of_pattern(regex.as_str()) {
            Some(op) => Ok(Caseless { op, regex }),
            None => Err(regex),
        }
    }

    /// What the comparison is, for ASCII values.
    pub fn op(&self) -> &CaselessOp {
        &self.op
    }

    /// Whether `value` satisfies the comparison: what the regex says.
    #[inline]
    pub fn holds(&self, value: &str) -> bool {
        if !value.is_ascii() {
            return self.regex.is_match(value);
        }
        let v = value.as_bytes();
        match &self.op {
            CaselessOp::Eq(literals) => literals
                .iter()
                .any(|l| l.len() == v.len() && v.eq_ignore_ascii_case(l.as_bytes())),
            CaselessOp::StartsWith(l) => {
                v.len() >= l.len() && v[..l.len()].eq_ignore_ascii_case(l.as_bytes())
            }
            CaselessOp::EndsWith(l) => {
                v.len() >= l.len() && v[v.len() - l.len()..].eq_ignore_ascii_case(l.as_bytes())
            }
            CaselessOp::Contains(l) => contains(v, l.as_bytes()),
        }
    }
}

/// Whether `haystack` contains `needle` (lowercase), ignoring ASCII case.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let last_start = match haystack.len().checked_sub(needle.len()) {
        Some(n) => n,
        None => return false,
    };
    let mut from = 0;
    while from <= last_start {
        let Some(found) = memchr2(
            first,
            first.to_ascii_uppercase(),
            &haystack[from..=last_start],
        ) else {
            return false;
        };
        let at = from + found;
        if haystack[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

impl CaselessOp {
    /// The comparison a pattern makes when it is `(?i)` followed by ASCII literal text (the
    /// regex syntax's metacharacters escaped with `\`), in one of these forms: `^LIT$`,
    /// `^(?:LIT|LIT...)$` or `^(LIT|LIT...)$`, `^LIT`, `LIT$`, `LIT`. `None` for anything else.
    pub fn of_pattern(pattern: &str) -> Option<CaselessOp> {
        let body = pattern.strip_prefix("(?i)")?;
        let (start, body) = match body.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let (body, end) = match body.strip_suffix('$') {
            // `\$` is a literal dollar sign, not an anchor.
            Some(rest) if !ends_in_escape(rest) => (rest, true),
            _ => (body, false),
        };
        if start && end {
            let group = body
                .strip_prefix("(?:")
                .or_else(|| body.strip_prefix('('))
                .and_then(|b| b.strip_suffix(')'))
                .filter(|inner| !ends_in_escape(inner));
            let alternatives = match group {
                Some(inner) => split_alternatives(inner)?,
                None => vec![literal(body)?],
            };
            return Some(CaselessOp::Eq(alternatives.into()));
        }
        let text = literal(body)?;
        Some(match (start, end) {
            (true, _) => CaselessOp::StartsWith(text),
            (false, true) => CaselessOp::EndsWith(text),
            (false, false) => CaselessOp::Contains(text),
        })
    }
}

/// Whether `text` ends with an unpaired `\` (so that a following character is escaped).
fn ends_in_escape(text: &str) -> bool {
    text.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// The alternatives of `A|B|C`, each a literal; `None` if one is not.
fn split_alternatives(inner: &str) -> Option<Vec<Box<str>>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '|' => {
                out.push(literal(&inner[start..i])?);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(literal(&inner[start..])?);
    Some(out)
}

/// The lowercase text of an ASCII literal with escaped metacharacters; `None` if `text` has an
/// unescaped metacharacter, an escape that is not a metacharacter's, or a character that is not
/// printable ASCII or a space.
fn literal(text: &str) -> Option<Box<str>> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '\\' => match chars.next()? {
                e if is_meta(e) => e,
                _ => return None,
            },
            c if is_meta(c) => return None,
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => return None,
        };
        out.push(c.to_ascii_lowercase());
    }
    Some(out.into())
}

/// The characters `regex::escape` escapes.
fn is_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(pattern: &str) -> Option<CaselessOp> {
        CaselessOp::of_pattern(pattern)
    }

    fn lits(l: &[&str]) -> CaselessOp {
        CaselessOp::Eq(l.iter().map(|s| Box::from(*s)).collect())
    }

    #[test]
    fn literal_patterns_are_recognised() {
        assert_eq!(op("(?i)^create$"), Some(lits(&["create"])));
        assert_eq!(
            op("(?i)^(?:Create|UPDATE|patch)$"),
            Some(lits(&["create", "update", "patch"]))
        );
        assert_eq!(op("(?i)^(get|list)$"), Some(lits(&["get", "list"])));
        assert_eq!(op(r"(?i)^kube\-system$"), Some(lits(&["kube-system"])));
        assert_eq!(
            op(r"(?i)^rbac\.authorization\.k8s\.io$"),
            Some(lits(&["rbac.authorization.k8s.io"]))
        );
        assert_eq!(
            op("(?i)kubectl"),
            Some(CaselessOp::Contains("kubectl".into()))
        );
        assert_eq!(
            op("(?i)^Kubectl/"),
            Some(CaselessOp::StartsWith("kubectl/".into()))
        );
        assert_eq!(op(r"(?i)\.exe$"), Some(CaselessOp::EndsWith(".exe".into())));
        assert_eq!(
            op(r"(?i)cost\$"),
            Some(CaselessOp::Contains("cost$".into()))
        );
        assert_eq!(op("(?i)^$"), Some(lits(&[""])));
        assert_eq!(op("(?i)^New Pod$"), Some(lits(&["new pod"])));
    }

    #[test]
    fn anything_else_stays_a_regex() {
        for p in [
            "^create$",            // case-sensitive
            "(?i)^create|update$", // `(^create)|(update$)`, not a whole match
            "(?i)kube|hunter",
            "(?i)^.*$",
            r"(?i)^\d+$",
            "(?i)^café$",
            "(?i)^(?:a|b)c$",
            "(?i)^(a)(b)$",
            r"(?i)^(?:a|b\)$",
            "(?i)^[ab]$",
            "(?im)^a$",
        ] {
            assert_eq!(op(p), None, "{p}");
        }
    }

    /// Every comparison gives what its regex gives, on ASCII and non-ASCII values alike.
    #[test]
    fn results_are_the_regexs() {
        let patterns = [
            "(?i)^create$",
            "(?i)^(?:create|delete|patch)$",
            "(?i)^kube\\-system$",
            "(?i)kubectl",
            "(?i)^kubectl",
            "(?i)ectl$",
            "(?i)sk",
            "(?i)^ks$",
            "(?i)aa",
            "(?i)^$",
        ];
        let values = [
            "",
            "create",
            "CREATE",
            "Create",
            "creat",
            "createe",
            "delete",
            "PATCH",
            "kube-system",
            "KUBE-SYSTEM",
            "kube_system",
            "kubectl",
            "KubeCtl/1.30",
            "my-kubectl",
            "xkubectlx",
            "kubect",
            "SK",
            "sK",
            "ſk",
            "\u{212A}s",
            "k\u{212A}",
            "s\u{212A}",
            "ſ\u{212A}",
            "aaa",
            "aAa",
            "baa",
            "café create",
            "CRÉATE",
            "ks",
            "KS",
            "\u{17F}\u{212A}",
            "a",
            "é",
        ];
        for p in patterns {
            let regex = Regex::new(p).expect("valid");
            let c = Caseless::new(regex.clone()).expect("a literal pattern");
            for v in values {
                assert_eq!(c.holds(v), regex.is_match(v), "{p} on {v:?}");
            }
        }
    }
}
