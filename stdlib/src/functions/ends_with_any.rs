use crate::functions::any_of::{self, Test};
use crate::{ArgError, ArgShape, Compiled, Example, Function, Param, Spec};

/// `ends_with_any(s, list)`
pub(crate) struct EndsWithAny;

const DOCS: &str = "\
Whether `s` ends with at least one of the strings in `list`, case-sensitively. An empty list \
gives `false`; an empty string in the list matches every `s`.

Missing when `s` is not a string or `list` is not a list; items of a list known only per event \
that are not strings are skipped. A constant `list` must be a list of strings, or the ruleset \
does not load. `list` can be the name of a `list` defined in the ruleset.";

const SPEC: Spec = Spec {
    name: "ends_with_any",
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
            call: r#"ends_with_any("backup.sh", [".sh", ".py"])"#,
            args: r#"["backup.sh", [".sh", ".py"]]"#,
            result: r#"true"#,
        },
        Example {
            call: r#"ends_with_any("api.corp.example", [".svc", ".svc.cluster.local"])"#,
            args: r#"["api.corp.example", [".svc", ".svc.cluster.local"]]"#,
            result: r#"false"#,
        },
        Example {
            call: r#"ends_with_any("RUN.SH", [".sh"])"#,
            args: r#"["RUN.SH", [".sh"]]"#,
            result: r#"false"#,
        },
        Example {
            call: r#"ends_with_any("x", [])"#,
            args: r#"["x", []]"#,
            result: r#"false"#,
        },
        Example {
            call: r#"ends_with_any(null, [".sh"])"#,
            args: r#"[null, [".sh"]]"#,
            result: r#"null"#,
        },
    ],
};

impl Function for EndsWithAny {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        any_of::compile(Test::EndsWith, args)
    }
}
