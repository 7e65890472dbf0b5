//! Field paths resolved once at load.
//!
//! A [`FieldPath`] walks a JSON event without allocating. Arrays are crossed implicitly: a key step
//! applied to an array applies to each element, so `requestObject.spec.containers.image` has one
//! value per container. Null values are never visited: a null is the same as a missing field.

use std::ops::ControlFlow;

use k8scop_grammar::ast::{Path, SegmentKind};

use crate::doc::Ref;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    Key(Box<str>),
    Index(usize),
    Wildcard,
    /// `**`: the value and every value nested in it.
    Deep,
}

/// A compiled field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    steps: Box<[Step]>,
    /// The path as written, for messages and alert documents.
    text: Box<str>,
    /// For a path of plain keys: its slot in the ruleset's [`Slots`], so that an event's value
    /// for it is looked up once per event however many rules read it.
    slot: Option<u32>,
}

/// The plain-key paths of a ruleset and all their prefixes, interned: `objectRef.resource` and
/// `objectRef.name` share the slot of `objectRef`.
#[derive(Debug, Default)]
pub struct Slots {
    defs: Vec<(Option<u32>, Box<str>)>,
    index: std::collections::HashMap<(Option<u32>, Box<str>), u32>,
    /// How many memo entries follow the slots in an event's cache (see [`Slots::memo`]).
    memos: u32,
}

impl Slots {
    /// Gives `path` a slot when it is made of plain keys only.
    pub fn intern(&mut self, path: &mut FieldPath) {
        let mut parent = None;
        for step in path.steps.iter() {
            let Step::Key(key) = step else { return };
            let next = self.defs.len() as u32;
            let slot = *self.index.entry((parent, key.clone())).or_insert(next);
            if slot == next {
                self.defs.push((parent, key.clone()));
            }
            parent = Some(slot);
        }
        path.slot = parent;
    }

    /// The number of slots, which is the size of an event's slot cache.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// The slot of a plain-key path, interning it.
    pub fn slot_of(&mut self, keys: &[&str]) -> u32 {
        let mut path = FieldPath::keys(keys);
        self.intern(&mut path);
        path.slot.expect("a path of keys always gets a slot")
    }

    /// Whether no path has a slot (a ruleset that reads no plain-key path).
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// A new memo entry: one condition's result, computed once per event however many rules
    /// evaluate it (a macro several rules use). Its entry lives in the event's cache after the
    /// slots.
    pub fn memo(&mut self) -> u32 {
        self.memos += 1;
        self.memos - 1
    }
}

/// What a slot holds for one event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resolved<'v> {
    Missing,
    Found(Ref<'v>),
    /// An array on the way: the path has several values; walk it in full.
    Crossed,
}

/// A slot's state packed in 32 bits (so that a fresh cache is a small memset): not yet resolved,
/// missing, crossed, or the document node it was found at (plus [`FOUND`]).
const UNRESOLVED: u32 = 0;
/// A memo entry's states after [`UNRESOLVED`] (not computed yet).
const MEMO_FALSE: u32 = 1;
const MEMO_TRUE: u32 = 2;
const MISSING: u32 = 1;
const CROSSED: u32 = 2;
const FOUND: u32 = 3;

/// The slot values of one event, resolved on first use, in a buffer the engine reuses from event
/// to event (a fresh cache is a memset of 4 bytes per slot, no allocation).
pub struct SlotCache<'v> {
    root: Ref<'v>,
    entries: &'v mut Vec<u32>,
}

impl<'v> SlotCache<'v> {
    /// A cache for the event `root` with every slot unresolved, in `entries` (a buffer reused
    /// from one event to the next).
    pub fn new(root: Ref<'v>, slots: &Slots, entries: &'v mut Vec<u32>) -> Self {
        entries.clear();
        entries.resize(slots.len() + slots.memos as usize, UNRESOLVED);
        SlotCache { root, entries }
    }

    /// The result of memo `id` for this event, if it was computed.
    #[inline]
    pub fn memo(&self, slots: &Slots, id: u32) -> Option<bool> {
        match self.entries.get(slots.len() + id as usize).copied() {
            Some(MEMO_FALSE) => Some(false),
            Some(MEMO_TRUE) => Some(true),
            _ => None,
        }
    }

    /// Records the result of memo `id` for this event.
    #[inline]
    pub fn set_memo(&mut self, slots: &Slots, id: u32, result: bool) {
        if let Some(entry) = self.entries.get_mut(slots.len() + id as usize) {
            *entry = if result { MEMO_TRUE } else { MEMO_FALSE };
        }
    }

    /// The first value of a plain-key path through the cache (no array crossed), if any.
    pub fn get(&mut self, slots: &Slots, slot: u32) -> Option<Ref<'v>> {
        match self.resolve(slots, slot) {
            Resolved::Found(v) => Some(v),
            _ => None,
        }
    }

    /// What the path of `slot` holds in this event, looked up on first use.
    pub(crate) fn resolve(&mut self, slots: &Slots, slot: u32) -> Resolved<'v> {
        let i = slot as usize;
        match self.entries.get(i).copied().unwrap_or(CROSSED) {
            UNRESOLVED => {}
            MISSING => return Resolved::Missing,
            CROSSED => return Resolved::Crossed,
            found => return Resolved::Found(self.root.node_at(found - FOUND)),
        }
        let Some((parent, key)) = slots.defs.get(i) else {
            return Resolved::Crossed;
        };
        let container = match parent {
            None => Resolved::Found(self.root),
            Some(p) => self.resolve(slots, *p),
        };
        let (resolved, packed) = match container {
            Resolved::Found(v) if v.is_array() => (Resolved::Crossed, CROSSED),
            Resolved::Found(v) => match v.get(key) {
                Some(v) => (Resolved::Found(v), v.index() + FOUND),
                None => (Resolved::Missing, MISSING),
            },
            Resolved::Crossed => (Resolved::Crossed, CROSSED),
            Resolved::Missing => (Resolved::Missing, MISSING),
        };
        self.entries[i] = packed;
        resolved
    }
}

impl FieldPath {
    /// The compiled form of a path as parsed; it gets its slot from [`Slots::intern`].
    pub fn new(path: &Path) -> FieldPath {
        let steps = path
            .segments
            .iter()
            .map(|s| match &s.kind {
                SegmentKind::Field(k) | SegmentKind::Quoted(k) => Step::Key(k.as_str().into()),
                SegmentKind::Index(i) => Step::Index(*i),
                SegmentKind::Wildcard => Step::Wildcard,
                SegmentKind::Deep => Step::Deep,
            })
            .collect();
        FieldPath {
            steps,
            text: path.to_string().into(),
            slot: None,
        }
    }

    /// A path of plain keys, e.g. `FieldPath::keys(&["objectRef", "namespace"])`.
    pub fn keys(keys: &[&str]) -> FieldPath {
        FieldPath {
            steps: keys.iter().map(|k| Step::Key((*k).into())).collect(),
            text: keys.join(".").into(),
            slot: None,
        }
    }

    /// The path's slot, when it is made of plain keys and was interned.
    pub fn slot(&self) -> Option<u32> {
        self.slot
    }

    /// The path as written, e.g. `objectRef.resource`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The plain keys the path starts with, up to its first index or `[*]`: what a parser must
    /// keep of an event for this path (the whole value under the last key).
    pub fn key_prefix(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map_while(|s| match s {
            Step::Key(k) => Some(&**k),
            Step::Index(_) | Step::Wildcard | Step::Deep => None,
        })
    }

    /// Visits every non-null value of the path. With `flatten_last`, a path that ends at an array
    /// visits the array's elements (comparisons); without it, the array itself (function
    /// arguments, so that `len(sourceIPs)` sees the list).
    #[inline]
    pub fn visit<'v, F>(&self, root: Ref<'v>, flatten_last: bool, f: &mut F) -> ControlFlow<()>
    where
        F: FnMut(Ref<'v>) -> ControlFlow<()>,
    {
        // Fast path: a chain of object keys, the shape of nearly every audit field.
        let mut current = root;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Key(k) if current.is_object() => match current.get(k) {
                    Some(next) => current = next,
                    None => return ControlFlow::Continue(()),
                },
                _ => return walk(current, &self.steps[i..], flatten_last, f),
            }
        }
        emit(current, flatten_last, f)
    }

    /// Like [`FieldPath::visit`], through the event's slot cache when the path has a slot.
    #[inline]
    pub fn visit_cached<'v, F>(
        &self,
        cache: &mut SlotCache<'v>,
        slots: &Slots,
        flatten_last: bool,
        f: &mut F,
    ) -> ControlFlow<()>
    where
        F: FnMut(Ref<'v>) -> ControlFlow<()>,
    {
        match self.slot.map(|s| cache.resolve(slots, s)) {
            Some(Resolved::Found(v)) => emit(v, flatten_last, f),
            Some(Resolved::Missing) => ControlFlow::Continue(()),
            _ => self.visit(cache.root, flatten_last, f),
        }
    }

    /// Whether any value satisfies `pred`.
    #[inline]
    pub fn any<'v>(&self, root: Ref<'v>, mut pred: impl FnMut(Ref<'v>) -> bool) -> bool {
        self.visit(root, true, &mut |v| {
            if pred(v) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .is_break()
    }

    /// Whether there is at least one value and every value satisfies `pred`.
    pub fn all<'v>(&self, root: Ref<'v>, mut pred: impl FnMut(Ref<'v>) -> bool) -> bool {
        let mut seen = false;
        let failed = self
            .visit(root, true, &mut |v| {
                seen = true;
                if pred(v) {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            })
            .is_break();
        seen && !failed
    }

    /// The first value, if any.
    pub fn first<'v>(&self, root: Ref<'v>) -> Option<Ref<'v>> {
        let mut found = None;
        let _ = self.visit(root, true, &mut |v| {
            found = Some(v);
            ControlFlow::Break(())
        });
        found
    }

    /// Every value, collected (for keys, titles and alert fields, not for matching).
    pub fn collect<'v>(&self, root: Ref<'v>, flatten_last: bool) -> Vec<Ref<'v>> {
        let mut out = Vec::new();
        let _ = self.visit(root, flatten_last, &mut |v| {
            out.push(v);
            ControlFlow::Continue(())
        });
        out
    }
}

fn walk<'v, F>(value: Ref<'v>, steps: &[Step], flatten_last: bool, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(Ref<'v>) -> ControlFlow<()>,
{
    let Some((step, rest)) = steps.split_first() else {
        return emit(value, flatten_last, f);
    };
    match step {
        Step::Key(k) if value.is_object() => match value.get(k) {
            Some(next) => walk(next, rest, flatten_last, f),
            None => ControlFlow::Continue(()),
        },
        // Crossing an array implicitly: the key applies to every element.
        Step::Key(_) if value.is_array() => {
            for item in value.items() {
                walk(item, steps, flatten_last, f)?;
            }
            ControlFlow::Continue(())
        }
        Step::Index(i) if value.is_array() => match value.items().nth(*i) {
            Some(next) => walk(next, rest, flatten_last, f),
            None => ControlFlow::Continue(()),
        },
        Step::Wildcard if value.is_array() => {
            for item in value.items() {
                walk(item, rest, flatten_last, f)?;
            }
            ControlFlow::Continue(())
        }
        // `[*]` on a single value is that value.
        Step::Wildcard => walk(value, rest, flatten_last, f),
        Step::Deep => deep(value, rest, flatten_last, f),
        _ => ControlFlow::Continue(()),
    }
}

/// `**` at `value`: the rest of the path from `value` and from every value nested in it. A path
/// that ends at `**` (or continues with names) reaches each value once: every non-null value
/// itself, arrays and objects included, and flattens nothing. An index or `[*]` after `**` can
/// reach a value twice (through an array and through its element).
fn deep<'v, F>(value: Ref<'v>, rest: &[Step], flatten_last: bool, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(Ref<'v>) -> ControlFlow<()>,
{
    if rest.is_empty() {
        if !value.is_null() {
            f(value)?;
        }
    } else if !(value.is_array() && matches!(rest[0], Step::Key(_))) {
        // A key applied to an array applies to its elements, which are visited below anyway.
        walk(value, rest, flatten_last, f)?;
    }
    if value.is_array() {
        for item in value.items() {
            deep(item, rest, flatten_last, f)?;
        }
    } else {
        for (_, member) in value.members() {
            deep(member, rest, flatten_last, f)?;
        }
    }
    ControlFlow::Continue(())
}

#[inline]
fn emit<'v, F>(value: Ref<'v>, flatten_last: bool, f: &mut F) -> ControlFlow<()>
where
    F: FnMut(Ref<'v>) -> ControlFlow<()>,
{
    if value.is_null() {
        return ControlFlow::Continue(());
    }
    if flatten_last && value.is_array() {
        for item in value.items() {
            emit(item, true, f)?;
        }
        return ControlFlow::Continue(());
    }
    f(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8scop_grammar::ast::{Segment, Span};
    use serde_json::{json, Value};

    use crate::doc::Doc;

    fn values(refs: Vec<Ref<'_>>) -> Vec<Value> {
        refs.into_iter().map(Ref::to_value).collect()
    }

    fn path(segments: &[SegmentKind]) -> FieldPath {
        FieldPath::new(&Path {
            segments: segments
                .iter()
                .map(|kind| Segment {
                    kind: kind.clone(),
                    span: Span::default(),
                })
                .collect(),
            span: Span::default(),
        })
    }

    fn key(k: &str) -> SegmentKind {
        SegmentKind::Field(k.into())
    }

    #[test]
    fn deep_visits_every_value_once() {
        let doc = Doc::from_value(&json!({"a": {"b": [1, {"c": "x"}], "n": null}, "d": "y"}));
        let event = doc.root();
        let all = values(path(&[SegmentKind::Deep]).collect(event, true));
        // The root, then each member and element before the next sibling; the null is not a
        // value, and nothing is visited twice (the array is not flattened as well).
        assert_eq!(
            all,
            vec![
                json!({"a": {"b": [1, {"c": "x"}], "n": null}, "d": "y"}),
                json!({"b": [1, {"c": "x"}], "n": null}),
                json!([1, {"c": "x"}]),
                json!(1),
                json!({"c": "x"}),
                json!("x"),
                json!("y"),
            ]
        );
        let under = values(path(&[key("a"), key("b"), SegmentKind::Deep]).collect(event, true));
        assert_eq!(
            under,
            vec![
                json!([1, {"c": "x"}]),
                json!(1),
                json!({"c": "x"}),
                json!("x")
            ]
        );
        assert!(path(&[key("missing"), SegmentKind::Deep])
            .first(event)
            .is_none());
    }

    #[test]
    fn a_key_after_deep_is_found_at_every_depth() {
        let doc = Doc::from_value(&json!({"spec": {
            "image": "top",
            "containers": [{"image": "a"}, {"image": "b", "sidecar": {"image": "c"}}],
            "matrix": [[{"image": "d"}]]
        }}));
        let event = doc.root();
        let mut images = values(path(&[SegmentKind::Deep, key("image")]).collect(event, true));
        images.sort_by_key(|v| v.to_string());
        assert_eq!(images, ["a", "b", "c", "d", "top"].map(|s| json!(s)));
        // An index after `**` applies to every array: the first container, and the first element
        // of `matrix` (whose `image` crosses the inner array) as well as the inner array's first,
        // which reach the same value twice.
        let mut first = values(
            path(&[SegmentKind::Deep, SegmentKind::Index(0), key("image")]).collect(event, true),
        );
        first.dedup();
        assert_eq!(first, vec![json!("a"), json!("d")]);
        // The fast path over the same steps.
        let p = path(&[SegmentKind::Deep, key("image")]);
        assert!(p.any(event, |v| v.as_str() == Some("c")));
        assert!(!p.any(event, |v| v.as_str() == Some("spec")));
    }

    #[test]
    fn arrays_are_crossed_implicitly_and_explicitly() {
        let doc = Doc::from_value(&json!({"spec": {"containers": [
            {"name": "a", "securityContext": {"privileged": true}},
            {"name": "b"},
            {"name": "c", "securityContext": {"privileged": false}}
        ]}}));
        let event = doc.root();
        let implicit = path(&[
            key("spec"),
            key("containers"),
            key("securityContext"),
            key("privileged"),
        ]);
        assert_eq!(
            values(implicit.collect(event, true)),
            vec![json!(true), json!(false)]
        );
        let explicit = path(&[
            key("spec"),
            key("containers"),
            SegmentKind::Wildcard,
            key("name"),
        ]);
        assert_eq!(explicit.collect(event, true).len(), 3);
        let second = path(&[
            key("spec"),
            key("containers"),
            SegmentKind::Index(1),
            key("name"),
        ]);
        assert_eq!(second.first(event).map(Ref::to_value), Some(json!("b")));
        assert_eq!(
            path(&[key("spec"), key("containers"), SegmentKind::Index(9)])
                .first(event)
                .map(Ref::to_value),
            None
        );
    }

    #[test]
    fn last_array_is_flattened_for_comparisons_only() {
        let doc = Doc::from_value(&json!({"sourceIPs": ["10.0.0.1", "1.2.3.4"], "n": null}));
        let event = doc.root();
        let ips = FieldPath::keys(&["sourceIPs"]);
        assert_eq!(ips.collect(event, true).len(), 2);
        assert_eq!(
            values(ips.collect(event, false)),
            vec![json!(["10.0.0.1", "1.2.3.4"])]
        );
        assert!(FieldPath::keys(&["n"]).collect(event, true).is_empty());
    }

    #[test]
    fn all_needs_at_least_one_value() {
        let doc = Doc::from_value(&json!({"a": [1, 2], "e": []}));
        let event = doc.root();
        assert!(FieldPath::keys(&["a"]).all(event, |v| v.as_i64().is_some()));
        assert!(!FieldPath::keys(&["a"]).all(event, |v| v.as_i64() == Some(1)));
        assert!(!FieldPath::keys(&["e"]).all(event, |_| true));
        assert!(!FieldPath::keys(&["missing"]).all(event, |_| true));
    }
}
