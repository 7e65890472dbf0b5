//! Regular-expression results remembered for the values each thread saw last.
//!
//! Audit events repeat the same few values in the fields rules match against: a cluster has a
//! handful of user agents, and every request of one client carries the same one. A `matches`
//! over a long value with a pattern the regex engine cannot prefilter (a case-insensitive
//! alternation of tool names, as in `offensive_tool_user_agent`) costs 0.2-0.8 µs per event,
//! while finding the last answer for the same value costs a hash and a comparison. Each thread
//! keeps a small direct-mapped table: (pattern, value) → result. A collision only replaces an
//! entry, and an entry is used only when its value is byte for byte the one asked about, so the
//! answer is always the regex's own.

use std::cell::RefCell;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;

use crate::hash::FxHasher;

/// Entries per thread: a power of two, indexed by the hash's top bits.
const SLOT_BITS: u32 = 8;
const SLOTS: usize = 1 << SLOT_BITS;

/// Values longer than this are matched without the table (long values rarely repeat, and
/// hashing and copying them would cost too much).
const MAX_LEN: usize = 512;

/// A compiled regex whose results are remembered per thread.
#[derive(Debug, Clone)]
pub struct MemoRegex {
    regex: Regex,
    /// Distinguishes this regex's entries from other regexes' in the per-thread table.
    id: u64,
}

#[derive(Default)]
struct Slot {
    id: u64,
    hash: u64,
    value: String,
    result: bool,
}

thread_local! {
    static TABLE: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl MemoRegex {
    /// Wraps `regex`.
    pub fn new(regex: Regex) -> MemoRegex {
        MemoRegex {
            regex,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The regex.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Whether the regex matches `value` (anywhere, as [`Regex::is_match`]).
    pub fn is_match(&self, value: &str) -> bool {
        if value.len() > MAX_LEN {
            return self.regex.is_match(value);
        }
        let mut hasher = FxHasher::default();
        hasher.write(value.as_bytes());
        hasher.write_u64(self.id);
        let hash = hasher.finish();
        let slot = (hash >> (64 - SLOT_BITS)) as usize;
        let known = TABLE.with_borrow(|table| {
            table
                .get(slot)
                .filter(|s| s.id == self.id && s.hash == hash && s.value == value)
                .map(|s| s.result)
        });
        if let Some(result) = known {
            return result;
        }
        let result = self.regex.is_match(value);
        TABLE.with_borrow_mut(|table| {
            if table.is_empty() {
                table.resize_with(SLOTS, Slot::default);
            }
            let s = &mut table[slot];
            s.id = self.id;
            s.hash = hash;
            s.value.clear();
            s.value.push_str(value);
            s.result = result;
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers are the regex's, whatever was asked before: the same values again, values that
    /// share a slot, another regex on the same values, values too long for the table.
    #[test]
    fn answers_are_the_regexs_own() {
        let a = MemoRegex::new(Regex::new("(?i)hunter|^curl/").expect("valid"));
        let b = MemoRegex::new(Regex::new("kubectl").expect("valid"));
        let long_match = format!("{}kube-hunter", "x".repeat(MAX_LEN));
        let long_miss = "x".repeat(MAX_LEN + 5);
        let mut values: Vec<String> = (0..3 * SLOTS).map(|i| format!("agent-{i}")).collect();
        values.extend(
            [
                "kube-hunter/1.0",
                "KUBE-HUNTER",
                "curl/8.5.0",
                "xcurl/8.5.0",
                "kubectl/v1.30",
                "",
            ]
            .map(String::from),
        );
        values.push(long_match);
        values.push(long_miss);
        for round in 0..3 {
            for v in values.iter().chain(values.iter().rev()) {
                for m in [&a, &b] {
                    assert_eq!(m.is_match(v), m.regex().is_match(v), "round {round}: {v}");
                }
            }
        }
    }
}
