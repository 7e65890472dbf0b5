use crate::functions::any_of::{self, Test};
use crate::{ArgError, ArgShape, Compiled, Example, Function, Param, Spec};

/// `starts_with_any(s, list)`
pub(crate) struct StartsWithAny;

const DOCS: &str = "\
Whether `s` starts with at least one of the strings in `list`, case-sensitively. An empty list \
gives `false`; an empty string in the list matches every `s`.

Missing when `s` is not a string or `list` is not a list; items of a list known only per event \
that are not strings are skipped. A constant `list` must be a list of strings, or the ruleset \
does not load. `list` can be the name of a `list` defined in the ruleset.";

const SPEC: Spec = Spec {
    name: "starts_with_any",
    params: &[
        Param {
            name: "s",
            ty: "string",
        },
        Param {
            name: "list",
            ty: "list of strings",
        },
    ],
    returns: "bool",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"starts_with_any("system:node:worker-1", ["system:node:", "system:kube-"])"#,
            args: r#"["system:node:worker-1", ["system:node:", "system:kube-"]]"#,
            result: "true",
        },
        Example {
            call: r#"starts_with_any("alice", ["system:", "eks:"])"#,
            args: r#"["alice", ["system:", "eks:"]]"#,
            result: "false",
        },
        Example {
            call: r#"starts_with_any("System:x", ["system:"])"#,
            args: r#"["System:x", ["system:"]]"#,
            result: "false",
        },
        Example {
            call: r#"starts_with_any("alice", [])"#,
            args: r#"["alice", []]"#,
            result: "false",
        },
        Example {
            call: r#"starts_with_any(7, ["7"])"#,
            args: r#"[7, ["7"]]"#,
            result: "null",
        },
    ],
};

impl Function for StartsWithAny {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        any_of::compile(Test::StartsWith, args)
    }
}
