//! The parser's "did you mean" suggestions and the word lists that diagnostics quote.

/// The candidate closest to `word`, by the crate's one "did you mean" policy
/// ([`crate::suggest`]).
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    crate::suggest::did_you_mean(word, candidates.iter().copied())
}

/// `` `a`, `b` or `c` `` (or `and` with `conjunction = "and"`).
pub(crate) fn quoted_list(words: &[&str], conjunction: &str) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    join_words(&quoted, conjunction)
}

/// `a, b or c`.
pub(crate) fn join_words<S: AsRef<str>>(words: &[S], conjunction: &str) -> String {
    match words {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} {conjunction} {}", init.join(", "), last.as_ref())
        }
    }
}

pub(crate) const DEFINITIONS: &[&str] = &["list", "macro", "rule", "sequence", "script", "test"];

pub(crate) const RULE_PROPERTIES: &[&str] = &[
    "when",
    "title",
    "severity",
    "description",
    "author",
    "tags",
    "references",
    "source",
    "fields",
    "group by",
    "within",
    "threshold",
    "enabled",
];

pub(crate) const SEQUENCE_PROPERTIES: &[&str] = &[
    "by",
    "within",
    "steps",
    "title",
    "severity",
    "description",
    "author",
    "tags",
    "references",
    "fields",
    "group by",
    "enabled",
];

pub(crate) const TEST_PROPERTIES: &[&str] = &["events", "expect"];

pub(crate) const OPERATORS: &[&str] = &[
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "intersects",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "matches",
    "glob",
    "cidr",
];

/// Word operators only: what a mistyped operator is compared with.
pub(crate) const WORD_OPERATORS: &[&str] = &[
    "in",
    "intersects",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "matches",
    "glob",
    "cidr",
];

pub(crate) const DURATION_UNITS: &[&str] = &["ms", "s", "m", "h", "d"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(did_you_mean("severty", RULE_PROPERTIES), Some("severity"));
        assert_eq!(did_you_mean("High", &["low", "high"]), Some("high"));
        assert_eq!(did_you_mean("hgh", &["low", "high"]), Some("high"));
        assert_eq!(did_you_mean("foo", &["low", "high"]), None);
        assert_eq!(
            did_you_mean("k8s", &["falco", "k8s_audit"]),
            Some("k8s_audit")
        );
        assert_eq!(
            did_you_mean("startwith", WORD_OPERATORS),
            Some("startswith")
        );
    }

    #[test]
    fn joins_words() {
        assert_eq!(quoted_list(&["a"], "or"), "`a`");
        assert_eq!(quoted_list(&["a", "b", "c"], "or"), "`a`, `b` or `c`");
        assert_eq!(join_words(&["x", "y"], "and"), "x and y");
    }
}
