use std::borrow::Cow;

use serde_json::Value;

use crate::args;
use crate::json_path::Path;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `json_get(value, path)`
pub(crate) struct JsonGet;

const DOCS: &str = "\
The part of `value` at `path`. `value` is an object or a list, or a string that holds JSON (an \
annotation such as `kubectl.kubernetes.io/last-applied-configuration`, say), which is parsed \
first.

`path` is written like a field path, without spaces:

- `name` or `.name` after another step: the member `name` of an object. On a list, a name made \
only of digits is an index: `items.0` is `items[0]`.
- `[N]`: item N of a list, counting from 0; `[-1]` is the last item.
- `[\"key\"]`: the member `key`, for keys with `.`, `[` or `]` in them; `\\\"` and `\\\\` escape a \
quote and a backslash inside it.
- the empty path `\"\"` stands for the whole value.

Missing when nothing is at `path` (or only `null` is), when `value` is not an object, a list or \
a string holding JSON, and when `path` is not a string. A constant `path` that is malformed \
(`a..b`, `a[x]`, `a[0`) is an error when the ruleset loads; a malformed `path` known only per \
event makes the call report an error, and its result is missing.";

const SPEC: Spec = Spec {
    name: "json_get",
    params: &[
        Param {
            name: "value",
            ty: "object | list | string (JSON)",
        },
        Param {
            name: "path",
            ty: "string",
        },
    ],
    returns: "any",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"json_get(requestObject, "spec.containers[0].image")"#,
            args: r#"[{"spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}, "spec.containers[0].image"]"#,
            result: r#""nginx:1.25""#,
        },
        Example {
            call: r#"json_get("{\"spec\":{\"hostPID\":true}}", "spec.hostPID")"#,
            args: r#"["{\"spec\":{\"hostPID\":true}}", "spec.hostPID"]"#,
            result: "true",
        },
        Example {
            call: r#"json_get(requestObject, "metadata.annotations[\"app.kubernetes.io/name\"]")"#,
            args: r#"[{"metadata": {"annotations": {"app.kubernetes.io/name": "web"}}}, "metadata.annotations[\"app.kubernetes.io/name\"]"]"#,
            result: r#""web""#,
        },
        Example {
            call: r#"json_get(["a", "b", "c"], "[-1]")"#,
            args: r#"[["a", "b", "c"], "[-1]"]"#,
            result: r#""c""#,
        },
        Example {
            call: r#"json_get(requestObject, "spec.volumes[3]")"#,
            args: r#"[{"spec": {"volumes": []}}, "spec.volumes[3]"]"#,
            result: "null",
        },
        Example {
            call: r#"json_get("not json", "a")"#,
            args: r#"["not json", "a"]"#,
            result: "null",
        },
    ],
};

impl Function for JsonGet {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        let path = match args::const_str(args, 1)? {
            Some(text) => {
                Some(Path::parse(text).map_err(|message| ArgError { index: 1, message })?)
            }
            None => None,
        };
        Ok(Box::new(JsonGetFn { path }))
    }
}

struct JsonGetFn {
    /// The path when it is a constant.
    path: Option<Path>,
}

impl Compiled for JsonGetFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [value, path] = args::exact(args)?;
        let path = match &self.path {
            Some(path) => Cow::Borrowed(path),
            None => match path.as_str() {
                Some(text) => Cow::Owned(Path::parse(text).map_err(CallError)?),
                None => return Ok(None),
            },
        };
        let document = match value {
            Value::Object(_) | Value::Array(_) => Cow::Borrowed(value),
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(parsed) => Cow::Owned(parsed),
                Err(_) => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(path
            .get(&document)
            .filter(|found| !found.is_null())
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_malformed_constant_path_is_a_load_error() {
        let path = json!("a..b");
        let err = JsonGet
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&path)])
            .err()
            .expect("`a..b` is rejected");
        assert_eq!(err.index, 1);
        assert_eq!(
            err.message,
            "invalid path `a..b`: a `.` must be followed by a name"
        );
        let number = json!(0);
        let err = JsonGet
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&number)])
            .err()
            .expect("a number is not a path");
        assert_eq!(err.message, "expected a string, found a number");
    }

    #[test]
    fn a_malformed_dynamic_path_is_a_call_error() {
        let f = JsonGet
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .unwrap();
        let doc = json!({"a": [1, 2]});
        assert_eq!(
            f.call(&[&doc, &json!("a[")]),
            Err(CallError("invalid path `a[`: unclosed `[`".into()))
        );
        assert_eq!(f.call(&[&doc, &json!(["a"])]), Ok(None));
        assert_eq!(f.call(&[&doc, &json!("a[1]")]), Ok(Some(json!(2))));
    }

    #[test]
    fn whole_values_nulls_and_scalars() {
        let f = JsonGet
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .unwrap();
        assert_eq!(
            f.call(&[&json!("[1,2]"), &json!("")]),
            Ok(Some(json!([1, 2])))
        );
        assert_eq!(
            f.call(&[&json!("\"text\""), &json!("")]),
            Ok(Some(json!("text")))
        );
        assert_eq!(f.call(&[&json!({"a": null}), &json!("a")]), Ok(None));
        assert_eq!(
            f.call(&[&json!({"a": {}}), &json!("a")]),
            Ok(Some(json!({})))
        );
        assert_eq!(f.call(&[&json!(12), &json!("")]), Ok(None));
        assert_eq!(f.call(&[&json!(null), &json!("")]), Ok(None));
    }
}
