use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param};

/// `upper(s)`
pub(crate) struct Upper;

impl Function for Upper {
    fn name(&self) -> &'static str {
        "upper"
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
        "Returns `s` in uppercase, by Unicode rules (`ß` becomes `SS`).\n\
         \n\
         Missing when `s` is not a string."
    }

    fn examples(&self) -> &'static [Example] {
        &[
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
        ]
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
