//! Walking a path through the schema.
//!
//! A path is walked over a *set* of nodes, because `requestObject` is a union of kinds: with no
//! resource hint, `requestObject.spec.selector` is a label selector in a Deployment and a plain map
//! in a Service. The walk mirrors the evaluator (`crate::path`): key segments cross arrays
//! implicitly, `[N]` and `[*]` index arrays, `[*]` on a single value is that value, and an index on
//! anything but an array gives nothing.

use k8scop_grammar::ast::SegmentKind;

use super::kube::{self, KindSet, LIST_META};
use super::ty::{Ty, S};

/// One place in the schema a path can be at.
#[derive(Debug, Clone, Copy)]
pub(super) enum Node {
    Ty(&'static Ty),
    /// A `...List` response (`kind`, `apiVersion`, `metadata`, `items`) of objects of these kinds.
    List(KindSet),
    /// The `items` of such a list: an array of objects of these kinds.
    Items(KindSet),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct State {
    pub node: Node,
    /// Whether an array has been crossed on the way here, so the path may have several values.
    pub multi: bool,
}

impl State {
    pub fn root(ty: &'static Ty) -> State {
        State {
            node: Node::Ty(ty),
            multi: false,
        }
    }
}

/// What `requestObject` and `responseObject` may hold for this lookup.
#[derive(Debug, Clone, Copy)]
pub(super) enum Objects {
    Kinds(KindSet),
    /// The resource hint names a resource the schema does not describe.
    FreeForm,
}

/// The result of one step: the nodes reached, and whether the step entered a free-form part of
/// at least one node of the set (where any continuation is valid).
#[derive(Debug, Default)]
pub(super) struct Step {
    pub next: Vec<State>,
    pub free: bool,
}

/// Applies one segment to every state of `states`.
pub(super) fn step(states: &[State], segment: &SegmentKind, objects: Objects) -> Step {
    let mut out = Step::default();
    let mut expanded = Vec::new();
    for state in states {
        expanded.clear();
        out.free |= expand(*state, objects, &mut expanded);
        for &state in &expanded {
            match segment {
                SegmentKind::Field(name) | SegmentKind::Quoted(name) => {
                    let mut crossed = Vec::new();
                    cross(state, &mut crossed);
                    for state in crossed {
                        out.free |= child(state, name, &mut out.next);
                    }
                }
                SegmentKind::Index(_) => match state.node {
                    Node::Ty(Ty::Array(elem)) => out.next.push(State {
                        node: Node::Ty(elem),
                        ..state
                    }),
                    Node::Items(kinds) => push_kinds(kinds, state.multi, &mut out.next),
                    Node::Ty(Ty::Map | Ty::Any) => out.free = true,
                    _ => {}
                },
                SegmentKind::Wildcard => match state.node {
                    Node::Ty(Ty::Array(elem)) => out.next.push(State {
                        node: Node::Ty(elem),
                        multi: true,
                    }),
                    Node::Items(kinds) => push_kinds(kinds, true, &mut out.next),
                    // `[*]` on a single value is that value.
                    _ => out.next.push(state),
                },
                // Every value below, of any type: what follows is not checked.
                SegmentKind::Deep => out.free = true,
            }
        }
    }
    out
}

/// Replaces a `requestObject` / `responseObject` node by the kinds it may hold. Returns true when
/// the object is free-form (a resource the schema does not describe).
fn expand(state: State, objects: Objects, out: &mut Vec<State>) -> bool {
    let Node::Ty(Ty::KubeObject) = state.node else {
        out.push(state);
        return false;
    };
    match objects {
        Objects::FreeForm => true,
        Objects::Kinds(kinds) => {
            push_kinds(kinds, state.multi, out);
            let lists = kube::listable(kinds);
            if lists != 0 {
                out.push(State {
                    node: Node::List(lists),
                    multi: state.multi,
                });
            }
            false
        }
    }
}

fn push_kinds(kinds: KindSet, multi: bool, out: &mut Vec<State>) {
    out.extend(kube::members(kinds).map(|kind| State {
        node: Node::Ty(kind.ty),
        multi,
    }));
}

/// Crosses arrays implicitly, as a key segment does.
fn cross(state: State, out: &mut Vec<State>) {
    match state.node {
        Node::Ty(Ty::Array(elem)) => cross(
            State {
                node: Node::Ty(elem),
                multi: true,
            },
            out,
        ),
        Node::Items(kinds) => {
            for kind in kube::members(kinds) {
                cross(
                    State {
                        node: Node::Ty(kind.ty),
                        multi: true,
                    },
                    out,
                );
            }
        }
        _ => out.push(state),
    }
}

/// The field `name` of `state`. Returns true when `state` is free-form (any key is valid).
fn child(state: State, name: &str, out: &mut Vec<State>) -> bool {
    let node = match state.node {
        Node::Ty(Ty::Map | Ty::Any) => return true,
        Node::Ty(ty) => ty.field(name).map(Node::Ty),
        Node::List(kinds) => list_field(kinds, name),
        Node::Items(_) => None,
    };
    if let Some(node) = node {
        out.push(State { node, ..state });
    }
    false
}

const LIST_FIELDS: [&str; 4] = ["kind", "apiVersion", "metadata", "items"];

fn list_field(kinds: KindSet, name: &str) -> Option<Node> {
    match name {
        "kind" | "apiVersion" => Some(Node::Ty(&S)),
        "metadata" => Some(Node::Ty(&LIST_META)),
        "items" => Some(Node::Items(kinds)),
        _ => None,
    }
}

/// The named fields reachable from `states` by one key segment, in declaration order, each with
/// the states it leads to. Free-form nodes contribute nothing: their keys are not known.
pub(super) fn children(states: &[State], objects: Objects) -> Vec<(&'static str, Vec<State>)> {
    let mut out: Vec<(&'static str, Vec<State>)> = Vec::new();
    let mut add = |name: &'static str, state: State| match out.iter_mut().find(|(n, _)| *n == name)
    {
        Some((_, states)) => states.push(state),
        None => out.push((name, vec![state])),
    };
    let mut expanded = Vec::new();
    let mut crossed = Vec::new();
    for state in states {
        expanded.clear();
        expand(*state, objects, &mut expanded);
        crossed.clear();
        for state in &expanded {
            cross(*state, &mut crossed);
        }
        for state in &crossed {
            match state.node {
                Node::Ty(ty) => ty.for_each_field(&mut |name, ty| {
                    add(
                        name,
                        State {
                            node: Node::Ty(ty),
                            ..*state
                        },
                    );
                }),
                Node::List(kinds) => {
                    for name in LIST_FIELDS {
                        if let Some(node) = list_field(kinds, name) {
                            add(name, State { node, ..*state });
                        }
                    }
                }
                Node::Items(_) => {}
            }
        }
    }
    out
}
