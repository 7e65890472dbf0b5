use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `join(list, sep)`
pub(crate) struct Join;

const DOCS: &str = "\
Joins the items of `list` into one string, with `sep` between them. String items are used as \
they are; any other item is written as JSON (`1`, `true`, `null`, `{\"a\":1}`). An empty list \
gives `\"\"`.

Missing when `list` is not a list or `sep` is not a string. A constant `sep` that is not a string \
is an error when the ruleset loads.";

const SPEC: Spec = Spec {
    name: "join",
    params: &[
        Param {
            name: "list",
            ty: "list",
        },
        Param {
            name: "sep",
            ty: "string",
        },
    ],
    returns: "string",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"join(["get", "list"], ",")"#,
            args: r#"[["get", "list"], ","]"#,
            result: r#""get,list""#,
        },
        Example {
            call: r#"join(["a", 1, true, null], "|")"#,
            args: r#"[["a", 1, true, null], "|"]"#,
            result: r#""a|1|true|null""#,
        },
        Example {
            call: r#"join(user.groups, ", ")"#,
            args: r#"[["system:masters", "system:authenticated"], ", "]"#,
            result: r#""system:masters, system:authenticated""#,
        },
        Example {
            call: r#"join([], "-")"#,
            args: r#"[[], "-"]"#,
            result: r#""""#,
        },
        Example {
            call: r#"join("get", ",")"#,
            args: r#"["get", ","]"#,
            result: "null",
        },
    ],
};

impl Function for Join {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        args::const_str(args, 1)?;
        Ok(Box::new(JoinFn))
    }
}

struct JoinFn;

impl Compiled for JoinFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [list, sep] = args::exact(args)?;
        let (Value::Array(items), Some(sep)) = (list, sep.as_str()) else {
            return Ok(None);
        };
        let mut out = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            match item {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
        }
        Ok(Some(Value::String(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_and_lists_are_written_as_compact_json() {
        let f = Join
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .unwrap();
        let list = json!([{"a": 1}, [1, "x"], 2.5]);
        assert_eq!(
            f.call(&[&list, &json!(" ")]),
            Ok(Some(json!(r#"{"a":1} [1,"x"] 2.5"#)))
        );
        assert_eq!(f.call(&[&list, &json!(1)]), Ok(None));
    }

    #[test]
    fn a_constant_separator_must_be_a_string() {
        let sep = json!(["x"]);
        let err = Join
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&sep)])
            .err()
            .expect("a list separator is rejected");
        assert_eq!(
            (err.index, err.message.as_str()),
            (1, "expected a string, found a list")
        );
    }
}
