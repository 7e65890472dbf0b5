//! "Did you mean": the nearest schema path to an unknown one.
//!
//! Candidates come from two searches and compete on one cost scale; on a tie the first search
//! wins, so a suggestion that keeps the valid prefix is preferred:
//! 1. *Keep the valid prefix*: from where the path stopped matching, walk on with each remaining
//!    name replaced by its nearest field name (`user.name` -> `user.username`,
//!    `spec.container.image` -> `spec.containers.image`), allowing one missing segment in between
//!    (`namespace` -> `objectRef.namespace`). The cost is the sum of the name costs, plus
//!    [`INSERT_COST`] for a missing segment.
//! 2. *Anywhere*: a schema path that differs from the whole path by a typo or two
//!    (`requestObject.spec.serviceAccount.name` -> `requestObject.spec.serviceAccountName`),
//!    costing its distance; or, when the path stopped at its root or inside an object, a schema
//!    path whose last name is close to the path's last name (`spec.containers.image` ->
//!    `requestObject.spec.containers.image`, `objectRef.username` -> `user.username`), costing
//!    that name's cost plus [`MOVE_COST`]. Among equal costs, the candidate that repeats more of
//!    the path's trailing names wins, then the shallower, then the first declared.
//!
//! Names are compared by the one "did you mean" policy of the rule language,
//! [`k8scop_grammar::suggest`]: the optimal string alignment distance (Levenshtein plus adjacent
//! transpositions), ignoring case; a case-only difference costs 1 (`hostPid` -> `hostPID`), and a
//! name cut short costs [`TRUNCATED_COST`] (`name` -> `username`).

use std::collections::HashMap;
use std::sync::LazyLock;

use k8scop_grammar::ast::{Path, Segment, SegmentKind};
pub(super) use k8scop_grammar::suggest::{name_cost, osa_within, TRUNCATED_COST};

use super::kube::{KindSet, KINDS};
use super::ty::Ty;
use super::walk::{self, Objects, State};
use crate::kinds::KindId;

/// The cost of a segment the user left out.
const INSERT_COST: u32 = 2;
/// The cost of moving a name under another parent (the "anywhere" search by last name). Equal to
/// the cost of a truncated name, so that `user.name` stays `user.username` rather than
/// `objectRef.name`.
const MOVE_COST: u32 = TRUNCATED_COST;
/// The largest whole-path distance the "anywhere" search accepts without a close last name.
const MAX_TYPO_DISTANCE: usize = 2;
/// The cost of dropping an index from a value that is not an array.
const DROP_INDEX_COST: u32 = 1;

/// The nearest audit event path to `path`, which stopped matching at segment `failed`; `states`
/// are the nodes reached by the segments before it.
pub(super) fn suggest(
    path: &Path,
    failed: usize,
    states: &[State],
    objects: Objects,
    kind: KindId,
) -> Option<String> {
    let local = fix(states, &path.segments[failed..], true, objects).map(|(cost, fixed)| {
        let mut all: Vec<SegmentKind> = path.segments[..failed]
            .iter()
            .map(|s| s.kind.clone())
            .collect();
        all.extend(fixed);
        (cost, render(&all))
    });
    // Moving the last name elsewhere makes sense when the user named a field of the wrong
    // object; not when the path goes on past a value (`user.groups.name`).
    let by_last_name = failed == 0 || !walk::children(states, objects).is_empty();
    let global = FLATS
        .get(kind.index())
        .and_then(Option::as_ref)
        .and_then(|flat| anywhere(path, by_last_name, objects, flat));
    match (local, global) {
        (Some((local_cost, local)), Some((global_cost, global))) => {
            Some(if global_cost < local_cost {
                global
            } else {
                local
            })
        }
        (local, global) => local.or(global).map(|(_, text)| text),
    }
}

type Fix = (u32, Vec<SegmentKind>);

/// Walks `segments` from `states`, replacing each name that does not match by the nearest field.
/// Returns the cheapest fix (the first found on a tie) and the fixed segments.
fn fix(states: &[State], segments: &[Segment], insert: bool, objects: Objects) -> Option<Fix> {
    let Some((segment, rest)) = segments.split_first() else {
        return Some((0, Vec::new()));
    };
    let step = walk::step(states, &segment.kind, objects);
    if !step.next.is_empty() {
        if let Some((cost, mut tail)) = fix(&step.next, rest, insert, objects) {
            tail.insert(0, segment.kind.clone());
            return Some((cost, tail));
        }
    }
    if step.free {
        // A free-form part takes the rest as written.
        return Some((0, segments.iter().map(|s| s.kind.clone()).collect()));
    }
    let name = match &segment.kind {
        SegmentKind::Field(name) | SegmentKind::Quoted(name) => name,
        SegmentKind::Index(_) | SegmentKind::Wildcard => {
            // An index on something that is not an array: suggest the path without it.
            let (cost, tail) = fix(states, rest, insert, objects)?;
            return Some((cost + DROP_INDEX_COST, tail));
        }
        // `**` reaches anything: the rest stands as written.
        SegmentKind::Deep => return Some((0, segments.iter().map(|s| s.kind.clone()).collect())),
    };

    let mut best: Option<Fix> = None;
    let mut consider = |cost: u32, head: &[&'static str], tail: Option<Fix>| {
        let Some((tail_cost, tail)) = tail else {
            return;
        };
        let total = cost + tail_cost;
        if best.as_ref().is_none_or(|(b, _)| total < *b) {
            let mut fixed: Vec<SegmentKind> = head.iter().map(|n| schema_segment(n)).collect();
            fixed.extend(tail);
            best = Some((total, fixed));
        }
    };
    let children = walk::children(states, objects);
    for (child, next) in &children {
        if let Some(cost) = name_cost(name, child) {
            consider(cost, &[child], fix(next, rest, insert, objects));
        }
    }
    if insert {
        for (child, next) in &children {
            for (grandchild, next) in walk::children(next, objects) {
                if let Some(cost) = name_cost(name, grandchild) {
                    consider(
                        INSERT_COST + cost,
                        &[child, grandchild],
                        fix(&next, rest, false, objects),
                    );
                }
            }
        }
    }
    best
}

/// The optimal string alignment distance, for the tests of the banded version.
#[cfg(test)]
pub(super) fn osa_distance(a: &str, b: &str) -> usize {
    osa_within(a, b, usize::MAX).unwrap_or(usize::MAX)
}

/// A schema path, flattened for the "anywhere" search.
struct Candidate {
    /// Written as a user would (`spec.containers.image`, `annotations`, `["@timestamp"]`).
    text: String,
    /// The names joined by dots, for distances (`@timestamp`, `evt.type`): a name with dots
    /// (sysdig's) reads as the path a user may write for it.
    dotted: String,
    /// The last name, as an index into [`Flat::names`].
    last: usize,
    depth: usize,
}

/// The schema flattened once for the "anywhere" search.
struct Flat {
    /// Every distinct field name, so that a search computes each name's cost once.
    names: Vec<&'static str>,
    /// The paths of the event outside `requestObject` / `responseObject`.
    event: Vec<Candidate>,
    /// The names of the event fields that hold a Kubernetes object.
    objects: Vec<&'static str>,
    /// The distinct paths inside a Kubernetes object (relative to it), each with the kinds that
    /// have it, in the order of [`KINDS`].
    object_paths: Vec<(Candidate, KindSet)>,
}

/// Each kind's schema flattened (`None` for a kind without one), by [`KindId::index`]; built on
/// the first unknown path.
static FLATS: LazyLock<Vec<Option<Flat>>> = LazyLock::new(|| {
    KindId::all()
        .map(|kind| kind.kind().schema().root.map(Flat::of))
        .collect()
});

impl Flat {
    /// The paths of an event whose schema is `root`, and those of the Kubernetes objects when the
    /// event holds some (`requestObject`, `responseObject` of audit events).
    fn of(root: &'static Ty) -> Flat {
        let mut flat = Flat {
            names: Vec::new(),
            event: Vec::new(),
            objects: Vec::new(),
            object_paths: Vec::new(),
        };
        let mut name_ids = HashMap::new();
        let mut event = Vec::new();
        flatten(root, &mut Vec::new(), &mut event, &mut flat.objects);
        flat.event = intern(event, &mut name_ids, &mut flat.names);
        if flat.objects.is_empty() {
            return flat;
        }
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, kind) in KINDS.iter().enumerate() {
            let mut paths = Vec::new();
            flatten(kind.ty, &mut Vec::new(), &mut paths, &mut Vec::new());
            for candidate in intern(paths, &mut name_ids, &mut flat.names) {
                match index.get(&candidate.dotted) {
                    Some(&at) => flat.object_paths[at].1 |= 1 << i,
                    None => {
                        index.insert(candidate.dotted.clone(), flat.object_paths.len());
                        flat.object_paths.push((candidate, 1 << i));
                    }
                }
            }
        }
        flat
    }
}

/// Depth guard: the schema has no cycles, but a mistake in it must not hang the loader.
const MAX_DEPTH: usize = 16;

/// Collects every path under `ty` as (names, last name).
fn flatten(
    ty: &'static Ty,
    prefix: &mut Vec<&'static str>,
    out: &mut Vec<Vec<&'static str>>,
    objects: &mut Vec<&'static str>,
) {
    if prefix.len() > MAX_DEPTH {
        return;
    }
    match ty {
        Ty::Array(elem) => flatten(elem, prefix, out, objects),
        Ty::Object(_) => ty.for_each_field(&mut |name, ty| {
            prefix.push(name);
            out.push(prefix.clone());
            if let Ty::KubeObject = ty {
                if prefix.len() == 1 {
                    objects.push(name);
                }
            } else {
                flatten(ty, prefix, out, objects);
            }
            prefix.pop();
        }),
        _ => {}
    }
}

fn intern(
    paths: Vec<Vec<&'static str>>,
    ids: &mut HashMap<&'static str, usize>,
    names: &mut Vec<&'static str>,
) -> Vec<Candidate> {
    paths
        .into_iter()
        .filter_map(|path| {
            let last = *path.last()?;
            let last = *ids.entry(last).or_insert_with(|| {
                names.push(last);
                names.len() - 1
            });
            let segments: Vec<SegmentKind> = path.iter().map(|n| schema_segment(n)).collect();
            Some(Candidate {
                text: render(&segments),
                dotted: path.join("."),
                last,
                depth: path.len(),
            })
        })
        .collect()
}

/// The best schema path anywhere for `path`, with its cost.
fn anywhere(
    path: &Path,
    by_last_name: bool,
    objects: Objects,
    flat: &Flat,
) -> Option<(u32, String)> {
    let names: Vec<&str> = path
        .segments
        .iter()
        .filter_map(|s| match &s.kind {
            SegmentKind::Field(name) | SegmentKind::Quoted(name) => Some(name.as_str()),
            SegmentKind::Index(_) | SegmentKind::Wildcard | SegmentKind::Deep => None,
        })
        .collect();
    let last = *names.last()?;
    let written = names.join(".");
    let written_len = written.chars().count();
    // Whole-path typos: none for very short paths, where two edits change everything
    // (`image` is not `stage`).
    let max_typos = (written_len / 4).min(MAX_TYPO_DISTANCE);
    // A short name that is not spelled exactly is too weak a clue to move across the schema
    // (`objectRef.ns` is not `requestObject.spec.os`).
    let last_is_weak = last.chars().count() < 4;

    let mut name_costs: Vec<Option<Option<u32>>> = vec![None; flat.names.len()];
    // (cost, names not matching at the end, depth): lower is better; the first found wins a tie.
    let mut best: Option<((u32, usize, usize), String)> = None;
    let mut consider = |candidate: &Candidate, object: Option<&str>| {
        let mut cost = None;
        if by_last_name {
            let name_cost = *name_costs[candidate.last]
                .get_or_insert_with(|| name_cost(last, flat.names[candidate.last]));
            if let Some(c) = name_cost.filter(|&c| c == 0 || !last_is_weak) {
                cost = Some(c + MOVE_COST);
            }
        }
        let dotted_len = candidate.dotted.len() + object.map_or(0, |o| o.len() + 1);
        if max_typos > 0 && dotted_len.abs_diff(written_len) <= max_typos {
            let full = match object {
                Some(object) => format!("{object}.{}", candidate.dotted),
                None => candidate.dotted.clone(),
            };
            if let Some(distance) = osa_within(&written, &full, max_typos) {
                let distance = u32::try_from(distance).unwrap_or(u32::MAX);
                cost = Some(cost.map_or(distance, |c: u32| c.min(distance)));
            }
        }
        let Some(cost) = cost else {
            return;
        };
        let depth = candidate.depth + usize::from(object.is_some());
        let key = (cost, unmatched_tail(&names, candidate, object), depth);
        if best.as_ref().is_none_or(|(b, _)| key < *b) {
            best = Some((key, join(object, &candidate.text)));
        }
    };
    for candidate in &flat.event {
        consider(candidate, None);
    }
    if let Objects::Kinds(kinds) = objects {
        for object in &flat.objects {
            for (candidate, _) in flat.object_paths.iter().filter(|(_, k)| k & kinds != 0) {
                consider(candidate, Some(object));
            }
        }
    }
    best.map(|((cost, _, _), text)| (cost, text))
}

/// How many of the written names, counted from the end, the candidate does not repeat: 0 when
/// the written path is a suffix of the candidate (`spec.template.spec.containers.image` of
/// `requestObject.spec.template.spec.containers.image`). The last name is taken as matching.
fn unmatched_tail(written: &[&str], candidate: &Candidate, object: Option<&str>) -> usize {
    let schema = object.into_iter().chain(candidate.dotted.split('.'));
    let schema: Vec<&str> = schema.collect();
    let matching = written
        .iter()
        .rev()
        .skip(1)
        .zip(schema.iter().rev().skip(1))
        .take_while(|(w, s)| w.eq_ignore_ascii_case(s))
        .count();
    written.len() - 1 - matching
}

fn join(object: Option<&str>, relative: &str) -> String {
    match object {
        None => relative.to_owned(),
        Some(object) if relative.starts_with('[') => format!("{object}{relative}"),
        Some(object) => format!("{object}.{relative}"),
    }
}

/// A schema field name as a segment: plain when it is an identifier, quoted otherwise.
fn schema_segment(name: &str) -> SegmentKind {
    if is_identifier(name) {
        SegmentKind::Field(name.to_owned())
    } else {
        SegmentKind::Quoted(name.to_owned())
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes segments as a path, the way `Path`'s `Display` does.
fn render(segments: &[SegmentKind]) -> String {
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            SegmentKind::Field(name) if i == 0 => out.push_str(name),
            SegmentKind::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            SegmentKind::Quoted(name) => out.push_str(&format!("[{name:?}]")),
            SegmentKind::Index(index) => out.push_str(&format!("[{index}]")),
            SegmentKind::Wildcard => out.push_str("[*]"),
            SegmentKind::Deep if i == 0 => out.push_str("**"),
            SegmentKind::Deep => out.push_str(".**"),
        }
    }
    out
}
