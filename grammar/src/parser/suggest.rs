//! "Did you mean" suggestions and the word lists that diagnostics quote.

/// The candidate closest to `word`, when it is close enough to be a likely typo.
///
/// Case is ignored (`High` suggests `high`); otherwise the edit distance may be at most a third
/// of the longer word, so `severty` suggests `severity` but `foo` suggests nothing.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    if let Some(exact) = candidates.iter().find(|c| c.to_ascii_lowercase() == lower) {
        return Some(exact);
    }
    // `k8s` for `k8s_audit`, `audit` for `k8s_audit`.
    if lower.len() >= 3 {
        if let Some(containing) = candidates.iter().find(|c| c.contains(lower.as_str())) {
            return Some(containing);
        }
    }
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, c), *c))
        .filter(|&(d, c)| d * 3 <= lower.chars().count().max(c.chars().count()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
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
