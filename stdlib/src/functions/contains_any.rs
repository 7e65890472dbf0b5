use crate::functions::any_of::{self, Test};
use crate::{ArgError, ArgShape, Compiled, Example, Function, Param, Spec};

/// `contains_any(s, list)`
pub(crate) struct ContainsAny;

const DOCS: &str = "\
Whether `s` contains at least one of the strings in `list`, case-sensitively. An empty list \
gives `false`; an empty string in the list matches every `s`.

Missing when `s` is not a string or `list` is not a list; items of a list known only per event \
that are not strings are skipped. A constant `list` must be a list of strings, or the ruleset \
does not load. `list` can be the name of a `list` defined in the ruleset.";

const SPEC: Spec = Spec {
    name: "contains_any",
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
            call: r#"contains_any("curl/8.5.0", ["curl", "wget", "python-requests"])"#,
            args: r#"["curl/8.5.0", ["curl", "wget", "python-requests"]]"#,
            result: r#"true"#,
        },
        Example {
            call: r#"contains_any("kubectl/v1.30.0", ["curl", "wget"])"#,
            args: r#"["kubectl/v1.30.0", ["curl", "wget"]]"#,
            result: r#"false"#,
        },
        Example {
            call: r#"contains_any("anything", [""])"#,
            args: r#"["anything", [""]]"#,
            result: r#"true"#,
        },
        Example {
            call: r#"contains_any("Curl/8", ["curl"])"#,
            args: r#"["Curl/8", ["curl"]]"#,
            result: r#"false"#,
        },
        Example {
            call: r#"contains_any(["curl"], ["curl"])"#,
            args: r#"[["curl"], ["curl"]]"#,
            result: r#"null"#,
        },
    ],
};

impl Function for ContainsAny {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        any_of::compile(Test::Contains, args)
    }
}
