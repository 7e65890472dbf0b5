//! Detection prefiltering: most rules require a `verb` or an `objectRef.resource` from a small
//! set (`verb == "create" and objectRef.resource == "pods" and ...`), and every rule and inline
//! sequence step evaluates only some kinds of event. The prefilter reads the event's kind and those
//! two fields once per event and yields, as a bitset, the only conditions that can hold; the others
//! are not evaluated at all. It is sound by construction: a condition is constrained on a field
//! only when it is a conjunction containing `FIELD == "x"` or `FIELD in [...]` (strings), which a
//! missing field or any other value makes false.
//!
//! Bit `i` is the ruleset's rule `i` for `i` below the number of rules, then its inline sequence
//! steps, counted over every sequence in order (the bits of [`crate::engine::Judged`]).

use std::collections::HashMap;

use crate::hash::FastHash;

use crate::doc::Ref;
use crate::eval::{Cond, Source, Test};
use crate::kinds::{KindId, KindSet};
use crate::path::{SlotCache, Slots};

/// Candidate conditions per value of one field.
#[derive(Debug, Default)]
struct Dispatch {
    by_value: HashMap<Box<str>, Box<[u64]>, FastHash>,
    /// Rules with no constraint on the field: candidates whatever its value.
    unconstrained: Box<[u64]>,
}

impl Dispatch {
    fn build(conds: &[(&Cond, KindSet)], field: &str, words: usize) -> Dispatch {
        let mut by_value: HashMap<Box<str>, Vec<u64>> = HashMap::new();
        let mut unconstrained = vec![0u64; words];
        for (i, (cond, _)) in conds.iter().enumerate() {
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            match constraint(cond, field) {
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

#[cfg(test)]
mod tests {
    use k8scop_grammar::SourceFile;
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
sequence s {
    by user.username
    within 5m
    steps { verb == "list" and objectRef.resource == "secrets" } -> exec -> { objectRef.resource == "events" }
}
"#;
        let compiled = crate::loader::load_sources(
            vec![SourceFile::new("t.rules", text)],
            &Default::default(),
        );
        let ruleset = compiled.ruleset.expect("no errors");
        assert_eq!(ruleset.inline_steps, 2);
        let time = "2024-05-01T12:00:00Z";
        // Bits 0-3 are the rules, 4 and 5 the two inline steps.
        let list_secrets = json!({"verb": "list", "objectRef": {"resource": "secrets"},
            "requestReceivedTimestamp": time});
        assert_eq!(candidates(&ruleset, list_secrets), [1, 2, 4]);
        let create_pods = json!({"verb": "create", "objectRef": {"resource": "pods"},
            "requestReceivedTimestamp": time});
        assert_eq!(candidates(&ruleset, create_pods), [0, 1]);
        let delete_events = json!({"verb": "delete", "objectRef": {"resource": "events"},
            "requestReceivedTimestamp": time});
        assert_eq!(candidates(&ruleset, delete_events), [1, 5]);
        let no_resource = json!({"verb": "get", "requestReceivedTimestamp": time});
        assert_eq!(candidates(&ruleset, no_resource), [1]);
        let kubearmor = json!({"Timestamp": 1714564800, "UpdatedTime": time, "Action": "Block",
            "Operation": "Process", "HostName": "n", "Type": "MatchedPolicy"});
        assert_eq!(candidates(&ruleset, kubearmor), [3]);
    }
}
