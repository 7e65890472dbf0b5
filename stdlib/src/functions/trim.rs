use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `trim(s)`
pub(crate) struct Trim;

const DOCS: &str = "\
Returns `s` without the whitespace at its start and end: spaces, tabs, line breaks and the \
other Unicode white space characters. Whitespace inside `s` is kept.

Missing when `s` is not a string.";

const SPEC: Spec = Spec {
    name: "trim",
    params: &[Param {
        name: "s",
        ty: "string",
    }],
    returns: "string",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"trim("  kube-system\n")"#,
            args: r#"["  kube-system\n"]"#,
            result: r#""kube-system""#,
        },
        Example {
            call: r#"trim("a b")"#,
            args: r#"["a b"]"#,
            result: r#""a b""#,
        },
        Example {
            call: r#"trim("\t ")"#,
            args: r#"["\t "]"#,
            result: r#""""#,
        },
        Example {
            call: r#"trim(["x "])"#,
            args: r#"[["x "]]"#,
            result: "null",
        },
    ],
};

impl Function for Trim {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(TrimFn))
    }
}

struct TrimFn;

impl Compiled for TrimFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [s] = args::exact(args)?;
        Ok(s.as_str().map(|s| Value::String(s.trim().into())))
    }
}
