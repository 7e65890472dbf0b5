use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `len(x)`
pub(crate) struct Len;

const DOCS: &str = "\
The length of `x`: the number of characters of a string (Unicode scalar values, not bytes), \
the number of items of a list, or the number of members of an object.

Missing when `x` is a number, a boolean or null.";

const SPEC: Spec = Spec {
    name: "len",
    params: &[Param {
        name: "x",
        ty: "string | list | object",
    }],
    returns: "integer",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"len("kube-system")"#,
            args: r#"["kube-system"]"#,
            result: "11",
        },
        Example {
            call: r#"len("é日")"#,
            args: r#"["é日"]"#,
            result: "2",
        },
        Example {
            call: r#"len(["get", "list", "watch"])"#,
            args: r#"[["get", "list", "watch"]]"#,
            result: "3",
        },
        Example {
            call: "len(requestObject.data)",
            args: r#"[{"password": "aHVudGVyMg==", "user": "YWRtaW4="}]"#,
            result: "2",
        },
        Example {
            call: "len([])",
            args: "[[]]",
            result: "0",
        },
        Example {
            call: "len(3.5)",
            args: "[3.5]",
            result: "null",
        },
    ],
};

impl Function for Len {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(LenFn))
    }
}

struct LenFn;

impl Compiled for LenFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [x] = args::exact(args)?;
        let len = match x {
            Value::String(s) => s.chars().count(),
            Value::Array(items) => items.len(),
            Value::Object(members) => members.len(),
            _ => return Ok(None),
        };
        Ok(Some(Value::from(len)))
    }
}
