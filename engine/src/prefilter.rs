//! Detection prefiltering: most rules require a value of some field from a small set
//! (`verb == "create" and objectRef.resource == "pods" and ...`, `user.username ==
//! "system:anonymous"`, `responseStatus.code in [401, 403]`) or that a field exists (`exists
//! impersonatedUser`), and every rule and inline sequence step evaluates only some kinds of event.
//! The prefilter reads the event's kind and those fields once per event and yields, as a bitset,
//! the only conditions that can hold; the others are not evaluated at all.
//!
//! It is sound by construction: a condition is constrained on a field only when it is a
//! conjunction containing `FIELD == "x"`, `FIELD == 3`, `FIELD in [...]` (strings and numbers),
//! their case-insensitive forms or `exists FIELD`, which a missing field makes false and (but for
//! `exists`) any other value too, or a disjunction whose every branch is constrained (by the union
//! of their values). A field whose value is an array (a comparison holds when any element passes)
//! or lies across an array restricts nothing.
//!
//! Which fields are read is decided at load: every plain-key field that constrains at least
//! [`MIN_CONSTRAINED`] conditions, `verb` and `objectRef.resource` first.
//!
//! Bit `i` is the ruleset's rule `i` for `i` below the number of rules, then its inline sequence
//! steps, counted over every sequence in order (the bits of [`crate::engine::Judged`]).

use std::collections::HashMap;

use crate::hash::FastHash;

use crate::caseless::CaselessOp;
use crate::eval::{number_bits, Cond, Scalar, Source, Test};
use crate::kinds::{KindId, KindSet};
use crate::path::{Resolved, SlotCache, Slots};

/// The fewest conditions a field must constrain to be read for every event: reading it costs a
/// lookup per event, which one condition alone rarely repays.
const MIN_CONSTRAINED: usize = 2;

/// Candidate conditions per value of one field.
#[derive(Debug)]
struct Dispatch {
    /// The field's slot in the ruleset's [`Slots`].
    slot: u32,
    by_value: HashMap<Box<str>, Box<[u64]>, FastHash>,
    /// Conditions that require one of some values whatever their ASCII case, by lowercase value.
    by_folded: HashMap<Box<str>, Box<[u64]>, FastHash>,
    /// Every condition of `by_folded`: the candidates for a value that is not ASCII (which only
    /// the condition's own regex can judge) or too long to fold here.
    folded: Box<[u64]>,
    /// Conditions that require one of some numbers, by the bits of the number as an `f64`.
    by_number: HashMap<u64, Box<[u64]>, FastHash>,
    /// Conditions with no constraint on the field but that it exists, or none at all: candidates
    /// whenever the field has a value.
    present: Box<[u64]>,
    /// Conditions with no constraint on the field: candidates whatever its value.
    unconstrained: Box<[u64]>,
}

/// The longest value [`Dispatch::restrict`] lowercases to look it up.
const FOLD_MAX: usize = 64;

impl Dispatch {
    fn build(conds: &[(&Cond, KindSet)], slot: u32, words: usize) -> Dispatch {
        let mut by_value: HashMap<Box<str>, Vec<u64>> = HashMap::new();
        let mut by_folded: HashMap<Box<str>, Vec<u64>> = HashMap::new();
        let mut by_number: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut folded = vec![0u64; words];
        let mut present = vec![0u64; words];
        let mut unconstrained = vec![0u64; words];
        for (i, (cond, _)) in conds.iter().enumerate() {
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            let mark = |index: &mut Vec<u64>| index[word] |= bit;
            match constraint(cond, slot) {
                None => {
                    mark(&mut unconstrained);
                    mark(&mut present);
                }
                Some(Constraint::Present) => mark(&mut present),
                Some(Constraint::Values(values)) => {
                    for v in values.exact {
                        mark(by_value.entry(v.into()).or_insert_with(|| vec![0; words]));
                    }
                    for v in values.numbers {
                        mark(by_number.entry(v).or_insert_with(|| vec![0; words]));
                    }
                    if !values.folded.is_empty() {
                        mark(&mut folded);
                    }
                    for v in values.folded {
                        mark(by_folded.entry(v.into()).or_insert_with(|| vec![0; words]));
                    }
                }
            }
        }
        fn finish<K: Eq + std::hash::Hash>(
            map: HashMap<K, Vec<u64>>,
        ) -> HashMap<K, Box<[u64]>, FastHash> {
            map.into_iter().map(|(k, v)| (k, v.into())).collect()
        }
        Dispatch {
            slot,
            by_value: finish(by_value),
            by_folded: finish(by_folded),
            folded: folded.into(),
            by_number: finish(by_number),
            present: present.into(),
            unconstrained: unconstrained.into(),
        }
    }

    /// ANDs into `bits` the candidates for the field's value in this event.
    fn restrict(&self, value: Resolved<'_>, bits: &mut [u64]) {
        let (base, extra): (&[u64], [Option<&[u64]>; 2]) = match value {
            // An array, or values across one: a comparison holds when any element passes.
            Resolved::Crossed => return,
            Resolved::Found(v) if v.is_array() => return,
            Resolved::Missing => (&self.unconstrained, [None, None]),
            Resolved::Found(v) if v.is_null() => (&self.unconstrained, [None, None]),
            Resolved::Found(v) => match v.as_str() {
                Some(text) => (
                    &self.present,
                    [
                        self.by_value.get(text).map(|c| &**c),
                        self.folded_candidates(text),
                    ],
                ),
                None => {
                    let number = v
                        .num()
                        .and_then(|n| self.by_number.get(&number_bits(n.float)));
                    (&self.present, [number.map(|c| &**c), None])
                }
            },
        };
        for (i, b) in bits.iter_mut().enumerate() {
            *b &= base[i] | extra[0].map_or(0, |c| c[i]) | extra[1].map_or(0, |c| c[i]);
        }
    }

    /// The conditions that require `text` whatever its ASCII case.
    fn folded_candidates(&self, text: &str) -> Option<&[u64]> {
        if self.by_folded.is_empty() {
            return None;
        }
        if !text.is_ascii() {
            return Some(&self.folded);
        }
        if !text.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.by_folded.get(text).map(|c| &**c);
        }
        if text.len() > FOLD_MAX {
            return Some(&self.folded);
        }
        let mut buffer = [0u8; FOLD_MAX];
        let lower = &mut buffer[..text.len()];
        lower.copy_from_slice(text.as_bytes());
        lower.make_ascii_lowercase();
        std::str::from_utf8(lower)
            .ok()
            .and_then(|l| self.by_folded.get(l))
            .map(|c| &**c)
    }
}

/// The prefilter of a ruleset's rules and inline sequence steps.
#[derive(Debug, Default)]
pub struct Prefilter {
    words: usize,
    /// Per kind ([`KindId::index`]), the conditions that evaluate events of that kind.
    by_kind: Box<[Box<[u64]>]>,
    /// The fields read, most useful first. They are read through the event's slot cache, which
    /// the rules share, so each is looked up once per event in all.
    fields: Box<[Dispatch]>,
}

impl Prefilter {
    /// Indexes `conds` (each condition with the kinds of event it evaluates: the rules, then the
    /// inline sequence steps) by kind and by the values of the fields they require.
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
        // How many conditions each field constrains.
        let mut constrained: HashMap<u32, usize> = HashMap::new();
        for (cond, _) in conds {
            let mut fields = Vec::new();
            constrainable_fields(cond, &mut fields);
            fields.sort_unstable();
            fields.dedup();
            for slot in fields {
                if constraint(cond, slot).is_some() {
                    *constrained.entry(slot).or_default() += 1;
                }
            }
        }
        let verb = slots.slot_of(&["verb"]);
        let resource = slots.slot_of(&["objectRef", "resource"]);
        let mut fields: Vec<(u32, usize)> = constrained
            .into_iter()
            .filter(|&(_, n)| n >= MIN_CONSTRAINED)
            .collect();
        fields.sort_unstable_by_key(|&(slot, n)| {
            (slot != verb, slot != resource, std::cmp::Reverse(n), slot)
        });
        Prefilter {
            words,
            by_kind,
            fields: fields
                .into_iter()
                .map(|(slot, _)| Dispatch::build(conds, slot, words))
                .collect(),
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
        for field in self.fields.iter() {
            // A field that constrains none of the candidates left is not read: the fields of
            // other kinds of event, or of rules an earlier field ruled out.
            let constrains_some = bits
                .iter()
                .zip(field.unconstrained.iter())
                .any(|(&b, &free)| b & !free != 0);
            if constrains_some {
                field.restrict(cache.resolve(slots, field.slot), bits);
            }
        }
    }
}

/// What a condition requires of one field.
enum Constraint {
    /// That it has a value (`exists`).
    Present,
    /// That its value is one of these.
    Values(Values),
}

/// The values a field must have for a condition to hold: any of them.
#[derive(Default)]
struct Values {
    /// Strings, exactly.
    exact: Vec<String>,
    /// Lowercase ASCII strings, whatever the case of the field's value.
    folded: Vec<String>,
    /// Numbers, by the bits of their `f64` value ([`number_bits`]).
    numbers: Vec<u64>,
}

impl Values {
    fn extend(&mut self, other: Values) {
        self.exact.extend(other.exact);
        self.folded.extend(other.folded);
        self.numbers.extend(other.numbers);
    }
}

/// What `cond` requires of the field at `slot`, when the condition says so plainly.
fn constraint(cond: &Cond, slot: u32) -> Option<Constraint> {
    match cond {
        // The first conjunct that requires values, else one that requires the field to exist.
        Cond::And(conds) => {
            let mut present = false;
            for c in conds.iter() {
                match constraint(c, slot) {
                    Some(Constraint::Values(values)) => return Some(Constraint::Values(values)),
                    Some(Constraint::Present) => present = true,
                    None => {}
                }
            }
            present.then_some(Constraint::Present)
        }
        // Every branch constrained: the union of their values.
        Cond::Or(conds) => {
            let mut union: Option<Constraint> = None;
            for c in conds.iter() {
                let c = constraint(c, slot)?;
                union = Some(match (union, c) {
                    (None, c) => c,
                    (Some(Constraint::Values(mut a)), Constraint::Values(b)) => {
                        a.extend(b);
                        Constraint::Values(a)
                    }
                    _ => Constraint::Present,
                });
            }
            union
        }
        Cond::Memo { cond, .. } => constraint(cond, slot),
        Cond::Exists(path) if path.slot() == Some(slot) => Some(Constraint::Present),
        Cond::Test {
            left: Source::Path(path),
            all: false,
            test,
        } if path.slot() == Some(slot) => required_values(test).map(Constraint::Values),
        _ => None,
    }
}

/// The values one of which a value must be to pass `test`, when the test says so plainly.
fn required_values(test: &Test) -> Option<Values> {
    let mut values = Values::default();
    match test {
        Test::EqStr(s) => values.exact.push(s.to_string()),
        Test::EqNum(n) => values.numbers.push(number_bits(n.float)),
        Test::In(set) => {
            let (strings, numbers) = set.strings_and_numbers()?;
            values.exact.extend(strings.map(str::to_owned));
            values.numbers.extend(numbers);
        }
        Test::Caseless(c) => match c.op() {
            CaselessOp::Eq(folded) => values.folded.extend(folded.iter().map(|v| v.to_string())),
            _ => return None,
        },
        Test::Any(tests) => {
            for test in tests.iter() {
                values.extend(required_values(test)?);
            }
        }
        _ => return None,
    }
    Some(values)
}

/// The slots of the fields that `cond` may constrain: those of its tests and `exists` under its
/// conjunctions and disjunctions.
fn constrainable_fields(cond: &Cond, out: &mut Vec<u32>) {
    match cond {
        Cond::And(conds) | Cond::Or(conds) => {
            for c in conds.iter() {
                constrainable_fields(c, out);
            }
        }
        Cond::Memo { cond, .. } => constrainable_fields(cond, out),
        Cond::Exists(path)
        | Cond::Test {
            left: Source::Path(path),
            all: false,
            ..
        } => out.extend(path.slot()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
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

    #[test]
    fn any_field_that_conditions_require_is_read() {
        let text = r#"
rule anonymous { when user.username == "system:anonymous" and verb == "get" }
rule anonymous_write { when user.username in ["system:anonymous"] and verb == "create" }
rule forbidden { when responseStatus.code == 403 }
rule denied { when responseStatus.code in [401, 403, "403"] }
rule impersonating { when exists impersonatedUser.username and verb != "get" }
rule as_someone { when impersonatedUser.username startswith "system:" and exists impersonatedUser.username }
rule kube_admin { when user.username icontains "admin" or user.username matches "(?i)^Root$" }
"#;
        let ruleset = crate::loader::ruleset_of(text);
        let time = "2024-05-01T12:00:00Z";
        let event = |fields: serde_json::Value| {
            let mut event = json!({"requestReceivedTimestamp": time});
            event
                .as_object_mut()
                .expect("an object")
                .extend(fields.as_object().expect("an object").clone());
            candidates(&ruleset, event)
        };
        // `kube_admin` has a constraint only in one branch: it is always a candidate.
        assert_eq!(event(json!({"verb": "list"})), [6]);
        assert_eq!(
            event(json!({"user": {"username": "system:anonymous"}, "verb": "get"})),
            [0, 6]
        );
        assert_eq!(
            event(json!({"user": {"username": "alice"}, "verb": "get",
                         "responseStatus": {"code": 403}})),
            [2, 3, 6]
        );
        assert_eq!(
            event(json!({"verb": "get", "responseStatus": {"code": 401.0}})),
            [3, 6],
            "numbers are compared as numbers, whatever their JSON form"
        );
        assert_eq!(
            event(json!({"verb": "get", "responseStatus": {"code": "403"}})),
            [3, 6]
        );
        assert_eq!(
            event(json!({"impersonatedUser": {"username": "bob"}, "verb": "list"})),
            [4, 5, 6]
        );
        assert_eq!(
            event(json!({"impersonatedUser": {"username": null}, "verb": "list"})),
            [6],
            "a null is a missing value"
        );
        // An array, or a field across one, restricts nothing: any element may pass.
        assert_eq!(
            event(json!({"user": {"username": ["system:anonymous"]}, "verb": "get"})),
            [0, 6]
        );
        assert_eq!(
            event(json!({"user": [{"username": "system:anonymous"}], "verb": "get"})),
            [0, 6]
        );
    }

    /// Every condition that holds for an event is one of its candidates: the shipped ruleset
    /// over the events of its test blocks and samples, and over copies of them whose prefiltered
    /// fields have every other shape (arrays, numbers, nulls, objects, other cases).
    #[test]
    fn candidates_include_every_condition_that_holds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let compiled =
            crate::loader::load(&[root.join("rules")], &crate::CompileOptions::default())
                .expect("the shipped rules load");
        let ruleset = compiled.ruleset.expect("the shipped rules compile");
        let mut values: Vec<serde_json::Value> = ruleset
            .tests
            .iter()
            .flat_map(|t| &t.events)
            .filter_map(|events| match events {
                crate::ruleset::TestEvents::Inline(values) => Some(values.clone()),
                crate::ruleset::TestEvents::File { .. } => None,
            })
            .flatten()
            .collect();
        for sample in [
            "rules/samples/attack.jsonl",
            "rules/samples/vendor/kubearmor/kubearmor_docs_alerts_logs.jsonl",
            "rules/samples/vendor/sysdig/cat_write.custom.jsonl",
        ] {
            let text = std::fs::read_to_string(root.join(sample)).expect(sample);
            values.extend(text.lines().map(|l| serde_json::from_str(l).expect(sample)));
        }
        let fields: [&[&str]; 6] = [
            &["verb"],
            &["objectRef", "resource"],
            &["objectRef", "subresource"],
            &["user", "username"],
            &["responseStatus", "code"],
            &["impersonatedUser"],
        ];
        let mut variants = Vec::new();
        for value in &values {
            variants.push(value.clone());
            for field in fields {
                let Some(original) = pointer(value, field) else {
                    continue;
                };
                let upper = original.as_str().map(|s| json!(s.to_uppercase()));
                for shape in [
                    Some(json!([original.clone()])),
                    Some(json!(null)),
                    Some(json!(403)),
                    Some(json!("403")),
                    Some(json!({"x": original.clone()})),
                    upper,
                ]
                .into_iter()
                .flatten()
                {
                    let mut variant = value.clone();
                    set_pointer(&mut variant, field, shape);
                    variants.push(variant);
                }
            }
        }
        let steps: Vec<(&Cond, KindSet)> = ruleset
            .inline_steps_iter()
            .map(|(_, cond, kinds)| (cond, kinds))
            .collect();
        let conds: Vec<(&Cond, KindSet)> = ruleset
            .rules
            .iter()
            .map(|r| (&r.when, r.source))
            .chain(steps)
            .collect();
        let (mut checked, mut held) = (0, 0);
        for (n, value) in variants.into_iter().enumerate() {
            let Ok(event) = crate::Event::classify(value.clone(), "t:1") else {
                continue;
            };
            let mut entries = Vec::new();
            let mut ctx =
                EvalCtx::new(event.root(), &ruleset.scripts, &ruleset.slots, &mut entries);
            let mut bits = Vec::new();
            ctx.candidates(event.kind, &ruleset.prefilter, &mut bits);
            for (i, (cond, kinds)) in conds.iter().enumerate() {
                if !kinds.contains(event.kind) || !cond.eval(&mut ctx) {
                    continue;
                }
                held += 1;
                assert!(
                    bits[i / 64] & (1 << (i % 64)) != 0,
                    "condition {i} holds for event {n} but is not a candidate: {value}"
                );
            }
            checked += 1;
        }
        assert!(
            checked > 1000 && held > 500,
            "{checked} events, {held} conditions held"
        );
    }

    fn pointer<'v>(value: &'v serde_json::Value, path: &[&str]) -> Option<&'v serde_json::Value> {
        path.iter().try_fold(value, |v, key| v.get(key))
    }

    fn set_pointer(value: &mut serde_json::Value, path: &[&str], new: serde_json::Value) {
        let (last, parents) = path.split_last().expect("a path");
        let parent = parents
            .iter()
            .try_fold(value, |v, key| v.get_mut(key))
            .and_then(serde_json::Value::as_object_mut);
        if let Some(parent) = parent {
            parent.insert((*last).to_string(), new);
        }
    }
}
