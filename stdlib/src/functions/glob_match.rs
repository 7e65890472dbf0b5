use serde_json::Value;

use crate::args;
use crate::glob::Glob;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `glob_match(s, pattern)`
pub(crate) struct GlobMatch;

const DOCS: &str = "\
Whether the whole of `s` matches the glob `pattern`, case-sensitively, with the same rules as \
the `glob` operator.

| in `pattern` | matches |
|---|---|
| `*` | any sequence of characters, `/` included, the empty one too |
| `?` | exactly one character |
| `[abc]` | one of the characters listed |
| `[a-z]` | one character in the range; ranges and characters mix: `[a-z0-9_]` |
| `[!abc]` or `[^abc]` | one character not listed |
| `\\c` | the character `c` itself: `\\*`, `\\?`, `\\[`, `\\\\` (also inside brackets) |

Inside brackets, a `]` right after `[`, `[!` or `[^` is a member, as is a `-` that comes first or \
last. A pattern with an unclosed `[`, a backwards range such as `[z-a]` or a lone `\\` at the end \
is invalid: as a constant, the ruleset does not load; known only per event, the call reports an \
error and its result is missing.

Missing when `s` or `pattern` is not a string.";

const SPEC: Spec = Spec {
    name: "glob_match",
    params: &[
        Param {
            name: "s",
            ty: "string",
        },
        Param {
            name: "pattern",
            ty: "string (glob)",
        },
    ],
    returns: "bool",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"glob_match("/var/run/docker.sock", "/var/run/*.sock")"#,
            args: r#"["/var/run/docker.sock", "/var/run/*.sock"]"#,
            result: "true",
        },
        Example {
            call: r#"glob_match("/api/v1/namespaces/prod/secrets", "/api/*/secrets")"#,
            args: r#"["/api/v1/namespaces/prod/secrets", "/api/*/secrets"]"#,
            result: "true",
        },
        Example {
            call: r#"glob_match("web-7", "web-[0-9]")"#,
            args: r#"["web-7", "web-[0-9]"]"#,
            result: "true",
        },
        Example {
            call: r#"glob_match("web-12", "web-?")"#,
            args: r#"["web-12", "web-?"]"#,
            result: "false",
        },
        Example {
            call: r#"glob_match("dev-1", "[!p]*")"#,
            args: r#"["dev-1", "[!p]*"]"#,
            result: "true",
        },
        Example {
            call: r#"glob_match("file*", "file\*")"#,
            args: r#"["file*", "file\\*"]"#,
            result: "true",
        },
        Example {
            call: r#"glob_match(null, "*")"#,
            args: r#"[null, "*"]"#,
            result: "null",
        },
    ],
};

impl Function for GlobMatch {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        let glob = match args::const_str(args, 1)? {
            Some(pattern) => {
                Some(compile(pattern).map_err(|message| ArgError { index: 1, message })?)
            }
            None => None,
        };
        Ok(Box::new(GlobMatchFn { glob }))
    }
}

/// The pattern compiled, with the message for a malformed one.
fn compile(pattern: &str) -> Result<Glob, String> {
    Glob::new(pattern).map_err(|reason| args::invalid("glob pattern", pattern, &reason))
}

struct GlobMatchFn {
    /// The pattern when it is a constant.
    glob: Option<Glob>,
}

impl Compiled for GlobMatchFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [s, pattern] = args::exact(args)?;
        let Some(s) = s.as_str() else {
            return Ok(None);
        };
        let is_match = match &self.glob {
            Some(glob) => glob.is_match(s),
            None => {
                let Some(pattern) = pattern.as_str() else {
                    return Ok(None);
                };
                compile(pattern).map_err(CallError)?.is_match(s)
            }
        };
        Ok(Some(Value::Bool(is_match)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_invalid_constant_pattern_is_a_load_error() {
        let pattern = json!("web-[0-9");
        let err = GlobMatch
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&pattern)])
            .err()
            .expect("an unclosed class is rejected");
        assert_eq!(err.index, 1);
        assert_eq!(err.message, "invalid glob pattern `web-[0-9`: unclosed `[`");
    }

    #[test]
    fn an_invalid_dynamic_pattern_is_a_call_error() {
        let f = GlobMatch
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .unwrap();
        assert_eq!(
            f.call(&[&json!("x"), &json!("[z-a]")]),
            Err(CallError(
                "invalid glob pattern `[z-a]`: the range `z-a` runs backwards".into()
            ))
        );
        assert_eq!(f.call(&[&json!("x"), &json!(1)]), Ok(None));
        assert_eq!(f.call(&[&json!("x"), &json!("?")]), Ok(Some(json!(true))));
    }
}
