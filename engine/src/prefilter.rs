//! Detection prefiltering: most rules require a `verb` or an `objectRef.resource` from a small
//! set (`verb == "create" and objectRef.resource == "pods" and ...`), and every rule and inline
//! sequence step evaluates only some kinds of event. The prefilter reads the event's kind and those
//! two fields once per event and yields, as a bitset, the only conditions that can hold; the others
//! are not evaluated at all. It is sound by construction: a condition is constrained on a field
//! only when it is a conjunction containing `FIELD == "x"` or `FIELD in [...]` (strings), which a
//! missing field or any other value makes false, or a disjunction whose every branch is
//! constrained (by the union of their values).
//!
//! Bit `i` is the ruleset's rule `i` for `i` below the number of rules, then its inline sequence
//! steps, counted over every sequence in order (the bits of [`crate::engine::Judged`]).

use std::collections::HashMap;

use crate::hash::FastHash;

use crate::caseless::CaselessOp;
use crate::doc::Ref;
use crate::eval::{Cond, Source, Test};
use crate::kinds::{KindId, KindSet};
use crate::path::{SlotCache, Slots};

/// Candidate conditions per value of one field.
#[derive(Debug, Default)]
struct Dispatch {
    by_value: HashMap<Box<str>, Box<[u64]>, FastHash>,
    /// Conditions that require one of some values whatever their ASCII case, by lowercase value.
    by_folded: HashMap<Box<str>, Box<[u64]>, FastHash>,
    /// Every condition of `by_folded`: the candidates for a value that is not ASCII (which only
    /// the condition's own regex can judge) or too long to fold here.
    folded: Box<[u64]>,
    /// Conditions with no constraint on the field: candidates whatever its value.
    unconstrained: Box<[u64]>,
}

/// The longest value [`Dispatch::restrict`] lowercases to look it up.
const FOLD_MAX: usize = 64;

impl Dispatch {
    fn build(conds: &[(&Cond, KindSet)], field: &str, words: usize) -> Dispatch {
        let mut by_value: HashMap<Box<str>, Vec<u64>> = HashMap::new();
        let mut by_folded: HashMap<Box<str>, Vec<u64>> = HashMap::new();
        let mut folded = vec![0u64; words];
        let mut unconstrained = vec![0u64; words];
        for (i, (cond, _)) in conds.iter().enumerate() {
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            let (index, values) = match constraint(cond, field) {
                Some(Constraint::Exact(values)) => (&mut by_value, values),
                Some(Constraint::Folded(values)) => {
                    folded[word] |= bit;
                    (&mut by_folded, values)
                }
                None => {
                    unconstrained[word] |= bit;
                    continue;
                }
            };
            for v in values {
                index.entry(v.into()).or_insert_with(|| vec![0; words])[word] |= bit;
            }
        }
        let finish = |map: HashMap<Box<str>, Vec<u64>>| {
            map.into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect::<HashMap<_, _, FastHash>>()
        };
        Dispatch {
            by_value: finish(by_value),
            by_folded: finish(by_folded),
            folded: folded.into(),
            unconstrained: unconstrained.into(),
        }
    }

    /// ANDs the candidates for `value` into `bits`.
    fn restrict(&self, value: Option<&str>, bits: &mut [u64]) {
        let constrained = value.and_then(|v| self.by_value.get(v));
        let mut buffer = [0u8; FOLD_MAX];
        let folded = match value {
            Some(_) if self.by_folded.is_empty() => None,
            Some(v) if v.is_ascii() && !v.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.by_folded.get(v)
            }
            Some(v) if v.is_ascii() && v.len() <= FOLD_MAX => {
                let lower = &mut buffer[..v.len()];
                lower.copy_from_slice(v.as_bytes());
                lower.make_ascii_lowercase();
                std::str::from_utf8(lower)
                    .ok()
                    .and_then(|l| self.by_folded.get(l))
            }
            Some(_) => Some(&self.folded),
            None => None,
        };
        for (i, b) in bits.iter_mut().enumerate() {
            let allowed = self.unconstrained[i]
                | constrained.map_or(0, |c| c[i])
                | folded.map_or(0, |c| c[i]);
            *b &= allowed;
        }
    }
}

/// The prefilter of a ruleset's rules and inline sequence steps.
#[derive(Debug, Default)]
pub struct Prefilter {
    words: usize,
    /// Per kind ([`KindId::index`]), the conditions that evaluate events of that kind.
    by_kind: Box<[Box<[u64]>]>,
    verb: Dispatch,
    resource: Dispatch,
    /// The slots of `verb` and `objectRef.resource`: the rules read them through the same
    /// per-event cache, so they are looked up once per event in all.
    verb_slot: u32,
    resource_slot: u32,
}

impl Prefilter {
    /// Indexes `conds` (each condition with the kinds of event it evaluates: the rules, then the
    /// inline sequence steps) by kind and by the `verb` and `objectRef.resource` values they
    /// require, interning those two paths in `slots`.
    pub fn build(conds: &[(&Cond, KindSet)], slots: &mut Slots) -> Prefilter {
        let words = conds.len().div_ceil(64).max(1);
        let by_kind = KindId::all()
            .map(|kind| {
                let mut bits = vec![0u64; words];
                for (i, (_, kinds)) in conds.iter().enumerate() {
                    if kinds.contains(kind) {
                        bits[i / 64] |= 1 << (i % 64);
                    }
                }
                bits.into_boxed_slice()
            })
            .collect();
        Prefilter {
            words,
            by_kind,
            verb: Dispatch::build(conds, "verb", words),
            resource: Dispatch::build(conds, "objectRef.resource", words),
            verb_slot: slots.slot_of(&["verb"]),
            resource_slot: slots.slot_of(&["objectRef", "resource"]),
        }
    }

    /// Writes into `bits` the conditions that may hold for the event, of kind `kind`.
    pub fn candidates(
        &self,
        kind: KindId,
        cache: &mut SlotCache<'_>,
        slots: &Slots,
        bits: &mut Vec<u64>,
    ) {
        bits.clear();
        match self.by_kind.get(kind.index()) {
            Some(of_kind) => bits.extend_from_slice(of_kind),
            None => bits.resize(self.words, 0),
        }
        if bits.iter().all(|&b| b == 0) {
            return;
        }
        let verb = cache.get(slots, self.verb_slot).and_then(Ref::as_str);
        self.verb.restrict(verb, bits);
        let resource = cache.get(slots, self.resource_slot).and_then(Ref::as_str);
        self.resource.restrict(resource, bits);
    }
}

/// The string values a field must have for a condition to hold.
enum Constraint {
    /// One of these values exactly.
    Exact(Vec<String>),
    /// One of these lowercase ASCII values, whatever the case of the field's value.
    Folded(Vec<String>),
}

/// The values `field` must have for `cond` to hold, when the condition says so plainly.
fn constraint(cond: &Cond, field: &str) -> Option<Constraint> {
    match cond {
        Cond::And(conds) => conds.iter().find_map(|c| constraint(c, field)),
        // Every branch constrained: the union of their values.
        Cond::Or(conds) => conds
            .iter()
            .map(|c| constraint(c, field))
            .try_fold(None, |union: Option<Constraint>, c| match (union, c?) {
                (None, c) => Some(Some(c)),
                (Some(Constraint::Exact(mut a)), Constraint::Exact(b)) => {
                    a.extend(b);
                    Some(Some(Constraint::Exact(a)))
                }
                (Some(Constraint::Folded(mut a)), Constraint::Folded(b)) => {
                    a.extend(b);
                    Some(Some(Constraint::Folded(a)))
                }
                _ => None,
            })
            .flatten(),
        Cond::Memo { cond, .. } => constraint(cond, field),
        Cond::Test {
            left: Source::Path(path),
            all: false,
            test,
        } if path.text() == field => match test {
            Test::EqStr(s) => Some(Constraint::Exact(vec![s.to_string()])),
            Test::In(set) => set
                .strings_only()
                .map(|it| Constraint::Exact(it.map(str::to_owned).collect())),
            Test::Caseless(c) => match c.op() {
                CaselessOp::Eq(values) => Some(Constraint::Folded(
                    values.iter().map(|v| v.to_string()).collect(),
                )),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::eval::EvalCtx;
    use crate::Event;

    /// The bits the prefilter leaves for `event`: which rules and inline steps are evaluated.
    fn candidates(ruleset: &crate::Ruleset, event: serde_json::Value) -> Vec<usize> {
        let event = Event::classify(event, "t:1").expect("an event");
        let mut entries = Vec::new();
        let mut ctx = EvalCtx::new(event.root(), &ruleset.scripts, &ruleset.slots, &mut entries);
        let mut bits = Vec::new();
        ctx.candidates(event.kind, &ruleset.prefilter, &mut bits);
        (0..bits.len() * 64)
            .filter(|i| bits[i / 64] & (1 << (i % 64)) != 0)
            .collect()
    }

    #[test]
    fn rules_and_inline_steps_are_filtered_by_kind_verb_and_resource() {
        let text = r#"
rule exec { when verb == "create" and objectRef.subresource == "exec" }
rule any_audit { when exists user.username }
rule secrets { when objectRef.resource in ["secrets", "configmaps"] }
rule blocked { source kubearmor  when Action == "Block" }
rule change { when verb matches "(?i)^(?:Delete|patch)$" and objectRef.resource matches "(?i)^events$" }
sequence s {
    by user.username
    within 5m
    steps { verb == "list" and objectRef.resource == "secrets" } -> exec -> { objectRef.resource == "events" }
}
"#;
        let ruleset = crate::loader::ruleset_of(text);
        assert_eq!(ruleset.inline_steps, 2);
        let time = "2024-05-01T12:00:00Z";
        // Bits 0-4 are the rules, 5 and 6 the two inline steps.
        let list_secrets = json!({"verb": "list", "objectRef": {"resource": "secrets"},
            "requestReceivedTimestamp": time});
        assert_eq!(candidates(&ruleset, list_secrets), [1, 2, 5]);
        let create_pods = json!({"verb": "create", "objectRef": {"resource": "pods"},
            "requestReceivedTimestamp": time});
        assert_eq!(candidates(&ruleset, create_pods), [0, 1]);
        let delete_events = json!({"verb": "delete", "objectRef": {"resource": "events"},
            "requestReceivedTimestamp": time});
        assert_eq!(candidates(&ruleset, delete_events), [1, 4, 6]);
        // A case-insensitive constraint: the value's case does not matter; a value that is not
        // ASCII is left to the rule's regex.
        for (verb, resource, expected) in [
            ("DELETE", "Events", &[1, 4][..]),
            ("Patch", "events", &[1, 4, 6]),
            ("get", "EVENTS", &[1]),
            ("d\u{435}lete", "events", &[1, 4, 6]),
            ("delete", "\u{212A}events", &[1, 4]),
        ] {
            let event = json!({"verb": verb, "objectRef": {"resource": resource},
                "requestReceivedTimestamp": time});
            assert_eq!(candidates(&ruleset, event), expected, "{verb} {resource}");
        }
        let no_resource = json!({"verb": "get", "requestReceivedTimestamp": time});
        assert_eq!(candidates(&ruleset, no_resource), [1]);
        let kubearmor = json!({"Timestamp": 1714564800, "UpdatedTime": time, "Action": "Block",
            "Operation": "Process", "HostName": "n", "Type": "MatchedPolicy"});
        assert_eq!(candidates(&ruleset, kubearmor), [3]);
    }
}
