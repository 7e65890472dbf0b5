//! The schema of the events a rule reads, for the warnings of `k8scop check`.
//!
//! [`lookup`] tells the compiler what a field path of a rule refers to: a [`Lookup::Field`] with
//! its [`ValueType`] (and, for enum-like fields, the closed set of values), a
//! [`Lookup::FreeForm`] part whose keys the schema does not describe (annotations, labels, a
//! ConfigMap's data, an object of an undescribed kind), or a [`Lookup::Unknown`] path with the
//! nearest schema path as a suggestion.
//!
//! For `source k8s_audit` the schema is the Kubernetes audit event (`audit.k8s.io/v1` Event, see
//! `audit.rs`), whose `requestObject` and `responseObject` are one of the Kubernetes kinds of
//! `kube.rs`: Pod, the workloads, RBAC, ConfigMap, Secret, Service, ServiceAccount, Namespace,
//! token and access reviews, CSRs, admission webhooks, their subresource bodies, lists of them,
//! delete options, JSON patches, error statuses and tables. The schema is `const` data (a tree of
//! `ty::Ty`), so building it costs nothing; the flattened paths used for suggestions are built
//! once, on the first suggestion asked for. The compiler asks for one only for a warning it
//! shows ([`lookup_unsuggested`] otherwise).
//!
//! Each event kind gives its [`Schema`] ([`crate::kinds::EventKind::schema`]); a kind whose
//! events are not described has [`Schema::FREE_FORM`], where every path is free-form. `source any`
//! is free-form too: its events may be of any kind.

pub(crate) mod audit;
mod kube;
mod suggest;
pub(crate) mod ty;
mod walk;

#[cfg(test)]
mod tests;

use k8scop_grammar::ast::Path;

use crate::kinds::KindSet;

use walk::{Objects, State};

/// The type of a value in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A JSON string.
    String,
    /// A JSON number without a fraction.
    Integer,
    /// A JSON number that may have a fraction.
    Number,
    /// `true` or `false`.
    Bool,
    /// An RFC 3339 string.
    Timestamp,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// Any JSON value: the schema does not say which.
    Any,
}

impl ValueType {
    /// The name of the type in messages (`integer`, `timestamp`).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Integer => "integer",
            ValueType::Number => "number",
            ValueType::Bool => "boolean",
            ValueType::Timestamp => "timestamp",
            ValueType::Object => "object",
            ValueType::Array => "array",
            ValueType::Any => "any value",
        }
    }
}

/// What a field path refers to in the schema of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Defined by the schema. `ty` is the type of each value (arrays crossed implicitly: a path
    /// through `containers` gives one value per container, and a path ending at an array of
    /// strings has `ty` String and `multi` = true).
    Field {
        /// The type of each value.
        ty: ValueType,
        /// The closed set of values of an enum-like field (`stage`, `level`, `verb`, a Service's
        /// `spec.type`); `None` when any value is possible.
        values: Option<&'static [&'static str]>,
        /// Whether the path may have several values (it crosses or ends at an array).
        multi: bool,
    },
    /// The path enters a free-form part: annotations, `user.extra`, labels, a ConfigMap's or
    /// Secret's data, `nodeSelector`, or request/response objects of kinds the schema does not
    /// describe.
    FreeForm,
    /// Not in the schema: `segment` is the index of the first unknown segment; `suggestion` the
    /// nearest schema path, written as a user would (`user.username`), when one is close enough.
    Unknown {
        /// Index of the first path segment the schema does not know.
        segment: usize,
        /// The nearest schema path, when one is close enough.
        suggestion: Option<String>,
    },
}

/// The schema of an event kind: a tree of field types, or nothing (every path free-form).
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    root: Option<&'static ty::Ty>,
}

impl Schema {
    /// A kind whose events the schema does not describe: every path is free-form.
    pub const FREE_FORM: Schema = Schema { root: None };

    /// The schema whose events are `root`.
    pub(crate) const fn of(root: &'static ty::Ty) -> Schema {
        Schema { root: Some(root) }
    }

    /// The Kubernetes audit event's schema.
    pub(crate) const fn audit() -> Schema {
        Schema::of(&audit::EVENT)
    }
}

/// Looks `path` up in the schema of the events of `kinds` (a rule's `source`): the kind's schema
/// when it is one kind, free-form for several (`source any`).
///
/// `resources`: when the compiler knows which `objectRef.resource` values the rule is restricted
/// to (e.g. `objectRef.resource == "pods"` in a top-level conjunction), the lowercase plural
/// resource names; `None` when unknown. With a hint, `requestObject` / `responseObject` paths are
/// checked only against the kinds of those resources (and what any request may carry: delete
/// options, a JSON patch, a status, a table), and are free-form when one of the resources is not
/// described (a custom resource). Without one, a path is defined when it is valid in any
/// described kind.
pub fn lookup(kinds: KindSet, path: &Path, resources: Option<&[&str]>) -> Lookup {
    lookup_with(kinds, path, resources, true)
}

/// [`lookup`] without looking for the nearest schema path of an unknown one (its `suggestion` is
/// `None`): the suggestion costs more than the lookup, and only a warning shown needs it.
pub(crate) fn lookup_unsuggested(
    kinds: KindSet,
    path: &Path,
    resources: Option<&[&str]>,
) -> Lookup {
    lookup_with(kinds, path, resources, false)
}

fn lookup_with(kinds: KindSet, path: &Path, resources: Option<&[&str]>, suggest: bool) -> Lookup {
    let Some(kind) = kinds.single() else {
        return Lookup::FreeForm;
    };
    let Some(root) = kind.kind().schema().root else {
        return Lookup::FreeForm;
    };
    let objects = match resources {
        // An empty hint restricts nothing that is known: treat it as no hint rather than
        // declaring every object path unknown.
        None | Some([]) => Objects::Kinds(kube::all_kinds()),
        Some(resources) => kube::kinds_for(resources).map_or(Objects::FreeForm, Objects::Kinds),
    };
    let mut states = vec![State::root(root)];
    // Set once any node of the union entered a free-form part: from there on, the path is valid
    // whatever follows, and its values may be of any type.
    let mut free = false;
    for (i, segment) in path.segments.iter().enumerate() {
        let step = walk::step(&states, &segment.kind, objects);
        free |= step.free;
        if step.next.is_empty() {
            if free {
                return Lookup::FreeForm;
            }
            return Lookup::Unknown {
                segment: i,
                suggestion: if suggest {
                    suggest::suggest(path, i, &states, objects, kind)
                } else {
                    None
                },
            };
        }
        states = step.next;
    }
    describe(&states, free)
}

/// The [`Lookup::Field`] for the nodes a whole path reached.
fn describe(states: &[State], free: bool) -> Lookup {
    let mut ty: Option<ValueType> = None;
    // `Some(None)` once two nodes disagree or one has no closed set.
    let mut values: Option<Option<&'static [&'static str]>> = None;
    let mut multi = false;
    for state in states {
        let (t, v, m) = value_of(*state);
        ty = Some(match ty {
            Some(seen) if seen != t => ValueType::Any,
            _ => t,
        });
        values = Some(match values {
            None => v,
            Some(Some(seen)) if v == Some(seen) => Some(seen),
            Some(_) => None,
        });
        multi |= m;
    }
    if free {
        // Another node of the union is free-form here: its values may be anything.
        return Lookup::Field {
            ty: ValueType::Any,
            values: None,
            multi,
        };
    }
    Lookup::Field {
        ty: ty.unwrap_or(ValueType::Any),
        values: values.flatten(),
        multi,
    }
}

/// The type, closed value set and multiplicity of the values at one node.
fn value_of(state: State) -> (ValueType, Option<&'static [&'static str]>, bool) {
    use ty::Ty;
    use walk::Node;
    let mut node = state.node;
    let mut multi = state.multi;
    loop {
        return match node {
            Node::Ty(Ty::Array(elem)) => {
                node = Node::Ty(elem);
                multi = true;
                continue;
            }
            Node::Items(_) => (ValueType::Object, None, true),
            Node::List(_) => (ValueType::Object, None, multi),
            Node::Ty(Ty::Scalar(t)) => (*t, None, multi),
            Node::Ty(Ty::Enum(values)) => (ValueType::String, Some(values), multi),
            Node::Ty(Ty::Object(_) | Ty::Map) => (ValueType::Object, None, multi),
            // An object of some kind, or a JSON patch (an array).
            Node::Ty(Ty::Any | Ty::KubeObject) => (ValueType::Any, None, multi),
        };
    }
}
