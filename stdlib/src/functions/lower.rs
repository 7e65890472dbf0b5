use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `lower(s)`
pub(crate) struct Lower;

const SPEC: Spec = Spec {
    name: "lower",
    params: &[Param {
        name: "s",
        ty: "string",
    }],
    returns: "string",
    docs: "Returns `s` in lowercase, by Unicode rules (`Σ` becomes `σ`, `İ` becomes `i̇`).\n\
         \n\
         Missing when `s` is not a string.",
    examples: &[
        Example {
            call: r#"lower("System:Masters")"#,
            args: r#"["System:Masters"]"#,
            result: r#""system:masters""#,
        },
        Example {
            call: r#"lower("ÉTÉ")"#,
            args: r#"["ÉTÉ"]"#,
            result: r#""été""#,
        },
        Example {
            call: r#"lower("")"#,
            args: r#"[""]"#,
            result: r#""""#,
        },
        Example {
            call: "lower(42)",
            args: "[42]",
            result: "null",
        },
    ],
};

impl Function for Lower {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(LowerFn))
    }
}

struct LowerFn;

impl Compiled for LowerFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [s] = args::exact(args)?;
        Ok(s.as_str().map(|s| Value::String(s.to_lowercase())))
    }
}
