//! The building blocks of the schema: a static tree of [`Ty`] nodes.
//!
//! The whole schema is `const` data (see `audit.rs` and `kube.rs`): nothing is parsed or
//! allocated to describe it, and the compiler checks that every reference resolves. Shared shapes
//! (`ObjectMeta`, `PodSpec`, `Container`) are consts referenced from several places, so the tree is
//! really a DAG without cycles.

use super::ValueType;

/// One node of the schema.
#[derive(Debug)]
pub(crate) enum Ty {
    /// A single value of a known type (never `Object`, `Array` or `Any`: those have their own
    /// variants).
    Scalar(ValueType),
    /// A string from a closed set of values.
    Enum(&'static [&'static str]),
    /// A value whose shape the schema does not describe (probes, affinity, a pod's status). A path
    /// ending here is defined; a path going deeper is free-form.
    Any,
    /// A free-form map whose keys the schema does not describe (labels, annotations, a ConfigMap's
    /// data). A path ending here is an object; a path going deeper is free-form.
    Map,
    /// An array of values of one shape. Key segments cross it implicitly.
    Array(&'static Ty),
    /// An object with known fields. A field named [`INLINE`] whose type is an object embeds that
    /// object's fields (Go's inlined structs), so shared field groups are written once.
    Object(&'static [Field]),
    /// `requestObject` / `responseObject`: one of the Kubernetes kinds in `kube::KINDS`, narrowed by
    /// the resource hint at lookup time.
    KubeObject,
}

/// A named field of an object.
pub(crate) type Field = (&'static str, Ty);

/// The name that marks an embedded group of fields (no JSON key is ever looked up as `""` in an
/// object: [`Ty::field`] skips it).
pub(crate) const INLINE: &str = "";

pub(crate) const S: Ty = Ty::Scalar(ValueType::String);
pub(crate) const I: Ty = Ty::Scalar(ValueType::Integer);
pub(crate) const B: Ty = Ty::Scalar(ValueType::Bool);
pub(crate) const T: Ty = Ty::Scalar(ValueType::Timestamp);
pub(crate) const ANY: Ty = Ty::Any;
pub(crate) const MAP: Ty = Ty::Map;
/// An array of strings.
pub(crate) const STRS: Ty = Ty::Array(&S);
/// An array of integers.
pub(crate) const INTS: Ty = Ty::Array(&I);

impl Ty {
    /// The field `name` of an object node, looking through inlined groups.
    pub(crate) fn field(&self, name: &str) -> Option<&'static Ty> {
        let Ty::Object(fields) = self else {
            return None;
        };
        find_field(fields, name)
    }

    /// Calls `f` with every named field of an object node in declaration order, inlined groups
    /// expanded where they are declared.
    pub(crate) fn for_each_field(&self, f: &mut impl FnMut(&'static str, &'static Ty)) {
        if let Ty::Object(fields) = self {
            for_each(fields, f);
        }
    }
}

fn find_field(fields: &'static [Field], name: &str) -> Option<&'static Ty> {
    for (field, ty) in fields {
        if field.is_empty() {
            if let Ty::Object(inner) = ty {
                if let Some(found) = find_field(inner, name) {
                    return Some(found);
                }
            }
        } else if *field == name {
            return Some(ty);
        }
    }
    None
}

fn for_each(fields: &'static [Field], f: &mut impl FnMut(&'static str, &'static Ty)) {
    for (field, ty) in fields {
        if field.is_empty() {
            if let Ty::Object(inner) = ty {
                for_each(inner, f);
            }
        } else {
            f(field, ty);
        }
    }
}
