//! Rule prefiltering: most rules require a `verb` or an `objectRef.resource` from a small set
//! (`verb == "create" and objectRef.resource == "pods" and ...`). The prefilter reads those two
//! fields once per event and yields, as a bitset, the only rules that can match; the others are
//! not evaluated at all. It is sound by construction: a rule is constrained on a field only when
//! its condition is a conjunction containing `FIELD == "x"` or `FIELD in [...]` (strings), which a
//! missing field or any other value makes false.

use std::collections::HashMap;

use crate::hash::FastHash;

use crate::doc::Ref;
use crate::eval::{Cond, Source, Test};
use crate::path::{SlotCache, Slots};
use crate::ruleset::Rule;

/// Candidate rules per value of one field.
#[derive(Debug, Default)]
struct Dispatch {
    by_value: HashMap<Box<str>, Box<[u64]>, FastHash>,
    /// Rules with no constraint on the field: candidates whatever its value.
    unconstrained: Box<[u64]>,
}

impl Dispatch {
    fn build(rules: &[Rule], field: &str, words: usize) -> Dispatch {
        let mut by_value: HashMap<Box<str>, Vec<u64>> = HashMap::new();
        let mut unconstrained = vec![0u64; words];
        for (i, rule) in rules.iter().enumerate() {
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            match constraint(&rule.when, field) {
                Some(values) => {
                    for v in values {
                        by_value.entry(v.into()).or_insert_with(|| vec![0; words])[word] |= bit;
                    }
                }
                None => unconstrained[word] |= bit,
            }
        }
        Dispatch {
            by_value: by_value
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect::<HashMap<_, _, FastHash>>(),
            unconstrained: unconstrained.into(),
        }
    }

    /// ANDs the candidates for `value` into `bits`.
    fn restrict(&self, value: Option<&str>, bits: &mut [u64]) {
        let constrained = value.and_then(|v| self.by_value.get(v));
        for (i, b) in bits.iter_mut().enumerate() {
            let allowed = self.unconstrained[i] | constrained.map_or(0, |c| c[i]);
            *b &= allowed;
        }
    }
}

/// The prefilter of a ruleset's rules.
#[derive(Debug, Default)]
pub struct Prefilter {
    words: usize,
    verb: Dispatch,
    resource: Dispatch,
    /// The slots of `verb` and `objectRef.resource`: the rules read them through the same
    /// per-event cache, so they are looked up once per event in all.
    verb_slot: u32,
    resource_slot: u32,
}

impl Prefilter {
    /// Indexes `rules` by the `verb` and `objectRef.resource` values their conditions require,
    /// interning those two paths in `slots`.
    pub fn build(rules: &[Rule], slots: &mut Slots) -> Prefilter {
        let words = rules.len().div_ceil(64).max(1);
        Prefilter {
            words,
            verb: Dispatch::build(rules, "verb", words),
            resource: Dispatch::build(rules, "objectRef.resource", words),
            verb_slot: slots.slot_of(&["verb"]),
            resource_slot: slots.slot_of(&["objectRef", "resource"]),
        }
    }

    /// Writes into `bits` the rules that may match the event (bit i = rule i).
    pub fn candidates(&self, cache: &mut SlotCache<'_>, slots: &Slots, bits: &mut Vec<u64>) {
        bits.clear();
        bits.resize(self.words, u64::MAX);
        let verb = cache.get(slots, self.verb_slot).and_then(Ref::as_str);
        self.verb.restrict(verb, bits);
        let resource = cache.get(slots, self.resource_slot).and_then(Ref::as_str);
        self.resource.restrict(resource, bits);
    }
}

/// The string values `field` must have for `cond` to hold, when the condition says so plainly.
fn constraint(cond: &Cond, field: &str) -> Option<Vec<String>> {
    match cond {
        Cond::And(conds) => conds.iter().find_map(|c| constraint(c, field)),
        Cond::Memo { cond, .. } => constraint(cond, field),
        Cond::Test {
            left: Source::Path(path),
            all: false,
            test,
        } if path.text() == field => match test {
            Test::EqStr(s) => Some(vec![s.to_string()]),
            Test::In(set) => set.strings_only().map(|it| it.map(str::to_owned).collect()),
            _ => None,
        },
        _ => None,
    }
}
