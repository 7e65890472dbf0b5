//! "Did you mean": the one policy for suggesting a known name in place of a mistyped one.
//!
//! The parser (properties, operators, severities), the compiler (lists, macros, rules, functions,
//! enum values) and the event schema (field names, in `k8scop-engine`) all use it, so a typo is
//! judged the same way wherever it is made, and the help reads the same: [`help`].
//!
//! A written name is close to a known one when [`name_cost`] gives a cost:
//! - the same name: 0; the same but for case (`hostPid` for `hostPID`): 1;
//! - a few typos: the optimal string alignment distance (insertions, deletions, substitutions and
//!   swaps of neighbours, ignoring case), at most [`max_edits`] of the written name's length: none
//!   for one or two characters (one edit changes half of them), then one edit per four
//!   characters, at most three;
//! - a name cut short (`name` for `username`, `k8s` for `k8s_audit`), or a name with more at its
//!   end (`lowercase` for `lower`): [`TRUNCATED_COST`]. A name inside a longer written one is no
//!   match otherwise: `username` is not a typo of `name`.

/// The cost of a written name that a known name contains (`name` for `username`), or that
/// starts with a known name (`lowercase` for `lower`).
pub const TRUNCATED_COST: u32 = 3;

/// The shortest written name that may be taken as a known name cut short.
const MIN_CUT_LEN: usize = 3;

/// The shortest known name that a longer written name may be taken to extend.
const MIN_EXTENDED_LEN: usize = 4;

/// How many edits a written name of `len` characters may be away from a suggestion.
pub fn max_edits(len: usize) -> usize {
    if len <= 2 {
        0
    } else {
        ((len + 2) / 4).clamp(1, 3)
    }
}

/// How far `written` is from the known name `known`, or `None` when it is too far to suggest it.
pub fn name_cost(written: &str, known: &str) -> Option<u32> {
    if written == known {
        return Some(0);
    }
    let (written_len, known_len) = (written.chars().count(), known.chars().count());
    let allowed = max_edits(written_len);
    // Cheap rejections before lowercasing: the distance is at least the difference in length.
    let typo = known_len.abs_diff(written_len) <= allowed;
    let cut_short = written_len >= MIN_CUT_LEN && known_len > written_len;
    let extended = known_len >= MIN_EXTENDED_LEN && written_len > known_len;
    if !(typo || cut_short || extended) {
        return None;
    }
    let written_lower = written.to_lowercase();
    let known_lower = known.to_lowercase();
    if written_lower == known_lower {
        return Some(1);
    }
    if typo {
        if let Some(distance) = osa_within(&written_lower, &known_lower, allowed) {
            return u32::try_from(distance).ok();
        }
    }
    if (cut_short && known_lower.contains(&written_lower))
        || (extended && written_lower.starts_with(&known_lower))
    {
        return Some(TRUNCATED_COST);
    }
    None
}

/// The candidate closest to `written` by [`name_cost`], the first one on a tie; never `written`
/// itself, which would be no suggestion.
pub fn did_you_mean<'c>(
    written: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .filter(|c| *c != written)
        .filter_map(|c| Some((name_cost(written, c)?, c)))
        .min_by_key(|&(cost, _)| cost)
        .map(|(_, c)| c)
}

/// The help that offers a suggestion: `` did you mean `x`? ``.
pub fn help(suggestion: &str) -> String {
    format!("did you mean `{suggestion}`?")
}

/// The help that offers a suggestion of another kind than expected:
/// `` did you mean the macro `x`? ``.
pub fn help_naming(what: &str, suggestion: &str) -> String {
    format!("did you mean the {what} `{suggestion}`?")
}

/// The optimal string alignment distance between `a` and `b` (insertions, deletions,
/// substitutions and transpositions of adjacent characters, each costing 1) when it is at most
/// `max`. Case counts: lowercase both first to ignore it.
pub fn osa_within(a: &str, b: &str, max: usize) -> Option<usize> {
    if a.is_ascii() && b.is_ascii() {
        osa_slices(a.as_bytes(), b.as_bytes(), max)
    } else {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        osa_slices(&a, &b, max)
    }
}

/// The dynamic programme of [`osa_within`], restricted to the band of cells within `max` of the
/// diagonal (no cell outside it can lead to a distance of at most `max`), stopping as soon as a
/// whole row exceeds `max`.
fn osa_slices<T: PartialEq>(a: &[T], b: &[T], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    // Cells outside the band hold `far`, which is more than `max` and cannot overflow.
    let far = max.saturating_add(1);
    // Three rows: the two previous ones (for transpositions) and the current one.
    let mut before: Vec<usize> = vec![far; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).map(|j| j.min(far)).collect();
    let mut current: Vec<usize> = vec![far; b.len() + 1];
    for i in 1..=a.len() {
        let low = i.saturating_sub(max).max(1);
        let high = i.saturating_add(max).min(b.len());
        current.fill(far);
        current[0] = i.min(far);
        let mut row_min = current[0];
        for j in low..=high {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j].saturating_add(1))
                .min(current[j - 1].saturating_add(1))
                .min(previous[j - 1].saturating_add(substitution));
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2].saturating_add(1));
            }
            current[j] = d.min(far);
            row_min = row_min.min(current[j]);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    Some(previous[b.len()]).filter(|&d| d <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let severities = ["info", "low", "medium", "high", "critical"];
        assert_eq!(did_you_mean("hgh", severities), Some("high"));
        assert_eq!(did_you_mean("High", severities), Some("high"));
        assert_eq!(did_you_mean("urgent", severities), None);
        assert_eq!(
            did_you_mean("severty", ["source", "severity"]),
            Some("severity")
        );
        assert_eq!(
            did_you_mean("k8s", ["falco", "k8s_audit"]),
            Some("k8s_audit")
        );
        assert_eq!(
            did_you_mean("startwith", ["istartswith", "startswith"]),
            Some("startswith")
        );
        assert_eq!(did_you_mean("pod_exce", ["pod_exec"]), Some("pod_exec"));
        assert_eq!(did_you_mean("foo", ["low", "high"]), None);
    }

    #[test]
    fn a_name_is_no_suggestion_for_itself() {
        assert_eq!(did_you_mean("rule", ["rule"]), None);
        assert_eq!(did_you_mean("rule", ["rule", "rules"]), Some("rules"));
    }

    #[test]
    fn the_cheapest_candidate_wins_and_the_first_on_a_tie() {
        // `verbs` is one edit away, `verb_list` contains it.
        assert_eq!(did_you_mean("verb", ["verb_list", "verbs"]), Some("verbs"));
        assert_eq!(did_you_mean("cat", ["bat", "hat"]), Some("bat"));
        assert_eq!(did_you_mean("cat", ["hat", "bat"]), Some("hat"));
    }

    #[test]
    fn allowed_edits_grow_with_the_name() {
        assert_eq!(
            [1, 2, 3, 5, 6, 9, 10, 20].map(max_edits),
            [0, 0, 1, 1, 2, 2, 3, 3]
        );
        assert_eq!(name_cost("ip", "op"), None);
        assert_eq!(name_cost("ip", "IP"), Some(1));
        assert_eq!(name_cost("name", "username"), Some(TRUNCATED_COST));
        assert_eq!(name_cost("username", "name"), None);
        assert_eq!(name_cost("lowercase", "lower"), Some(TRUNCATED_COST));
        assert_eq!(name_cost("ruler", "rule"), Some(1));
        assert_eq!(name_cost("upper", "up"), None);
        assert_eq!(name_cost("imgae", "image"), Some(1));
    }

    #[test]
    fn osa_counts_a_swap_as_one_edit() {
        assert_eq!(osa_within("ab", "ba", 5), Some(1));
        assert_eq!(osa_within("kitten", "sitting", 5), Some(3));
        assert_eq!(osa_within("kitten", "sitting", 2), None);
        assert_eq!(osa_within("ünïcödé", "unicode", 5), Some(4));
        assert_eq!(help("x"), "did you mean `x`?");
        assert_eq!(help_naming("macro", "x"), "did you mean the macro `x`?");
    }
}
