use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param};

/// `trim(s)`
pub(crate) struct Trim;

const DOCS: &str = "\
Returns `s` without the whitespace at its start and end: spaces, tabs, line breaks and the \
other Unicode white space characters. Whitespace inside `s` is kept.

Missing when `s` is not a string.";

impl Function for Trim {
    fn name(&self) -> &'static str {
        "trim"
    }

    fn params(&self) -> &'static [Param] {
        &[Param {
            name: "s",
            ty: "string",
        }]
    }

    fn returns(&self) -> &'static str {
        "string"
    }

    fn docs(&self) -> &'static str {
        DOCS
    }

    fn examples(&self) -> &'static [Example] {
        &[
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
        ]
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
