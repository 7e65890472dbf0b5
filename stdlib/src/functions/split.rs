use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `split(s, sep)`
pub(crate) struct Split;

const DOCS: &str = "\
Splits `s` at every occurrence of `sep` and returns the parts, empty ones included: \
`split(\"a,,b\", \",\")` is `[\"a\", \"\", \"b\"]`, and a string without `sep` gives a \
one-item list. An empty `sep` splits `s` into its characters (an empty list for an empty `s`).

Missing when `s` or `sep` is not a string. A constant `sep` that is not a string is an error \
when the ruleset loads.";

const SPEC: Spec = Spec {
    name: "split",
    params: &[
        Param {
            name: "s",
            ty: "string",
        },
        Param {
            name: "sep",
            ty: "string",
        },
    ],
    returns: "list of strings",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"split("system:serviceaccount:default:builder", ":")"#,
            args: r#"["system:serviceaccount:default:builder", ":"]"#,
            result: r#"["system", "serviceaccount", "default", "builder"]"#,
        },
        Example {
            call: r#"split("a, b", ", ")"#,
            args: r#"["a, b", ", "]"#,
            result: r#"["a", "b"]"#,
        },
        Example {
            call: r#"split("a,,b,", ",")"#,
            args: r#"["a,,b,", ","]"#,
            result: r#"["a", "", "b", ""]"#,
        },
        Example {
            call: r#"split("", ",")"#,
            args: r#"["", ","]"#,
            result: r#"[""]"#,
        },
        Example {
            call: r#"split("abc", "")"#,
            args: r#"["abc", ""]"#,
            result: r#"["a", "b", "c"]"#,
        },
        Example {
            call: r#"split(["a,b"], ",")"#,
            args: r#"[["a,b"], ","]"#,
            result: "null",
        },
    ],
};

impl Function for Split {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        args::const_str(args, 1)?;
        Ok(Box::new(SplitFn))
    }
}

struct SplitFn;

impl Compiled for SplitFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [s, sep] = args::exact(args)?;
        let (Some(s), Some(sep)) = (s.as_str(), sep.as_str()) else {
            return Ok(None);
        };
        let parts: Vec<Value> = if sep.is_empty() {
            s.chars().map(|c| Value::String(c.to_string())).collect()
        } else {
            s.split(sep)
                .map(|part| Value::String(part.into()))
                .collect()
        };
        Ok(Some(Value::Array(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_constant_separator_must_be_a_string() {
        let three = json!(3);
        let err = Split
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&three)])
            .err()
            .expect("a number separator is rejected");
        assert_eq!(err.index, 1);
        assert_eq!(err.message, "expected a string, found a number");
    }

    #[test]
    fn a_dynamic_separator_of_another_type_gives_missing() {
        let f = Split
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .unwrap();
        assert_eq!(f.call(&[&json!("a,b"), &json!(3)]), Ok(None));
        assert_eq!(
            f.call(&[&json!("a,b"), &json!(",")]),
            Ok(Some(json!(["a", "b"])))
        );
    }

    #[test]
    fn splitting_an_empty_string_by_characters_gives_an_empty_list() {
        let f = Split
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .unwrap();
        assert_eq!(f.call(&[&json!(""), &json!("")]), Ok(Some(json!([]))));
    }
}
