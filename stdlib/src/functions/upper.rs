use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `upper(s)`
pub(crate) struct Upper;

const SPEC: Spec = Spec {
    name: "upper",
    params: &[Param {
        name: "s",
        ty: "string",
    }],
    returns: "string",
    docs: "Returns `s` in uppercase, by Unicode rules (`ß` becomes `SS`).\n\
         \n\
         Missing when `s` is not a string.",
    examples: &[
        Example {
            call: r#"upper("get")"#,
            args: r#"["get"]"#,
            result: r#""GET""#,
        },
        Example {
            call: r#"upper("straße")"#,
            args: r#"["straße"]"#,
            result: r#""STRASSE""#,
        },
        Example {
            call: r#"upper("")"#,
            args: r#"[""]"#,
            result: r#""""#,
        },
        Example {
            call: "upper(true)",
            args: "[true]",
            result: "null",
        },
    ],
};

impl Function for Upper {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(UpperFn))
    }
}

struct UpperFn;

impl Compiled for UpperFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [s] = args::exact(args)?;
        Ok(s.as_str().map(|s| Value::String(s.to_uppercase())))
    }
}
