use regex::Regex;
use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `regex_match(s, re)`
pub(crate) struct RegexMatch;

const DOCS: &str = "\
Whether the regular expression `re` matches `s` anywhere; anchor it with `^...$` to match the \
whole string. The syntax is that of Rust's `regex` crate, the same as the `matches` operator: \
Unicode-aware, with flags such as `(?i)` for case-insensitive matching, and without \
look-around or backreferences. Matching takes linear time.

A constant `re` is compiled once, when the ruleset loads; an invalid one is an error there. An \
`re` known only per event is compiled for each call, with a smaller size limit, and an invalid \
one is reported as a call error (the result is then missing).

Missing when `s` or `re` is not a string. In a rule's string literal, a backslash that does not \
start `\\\"`, `\\\\`, `\\n` or `\\t` is kept, so `\"^\\d+$\"` is the expression `^\\d+$`.";

const SPEC: Spec = Spec {
    name: "regex_match",
    params: &[
        Param {
            name: "s",
            ty: "string",
        },
        Param {
            name: "re",
            ty: "string (regular expression)",
        },
    ],
    returns: "bool",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"regex_match("kubectl/v1.30.2 (linux/amd64)", "^kubectl/v1\.(2[89]|3\d)\.")"#,
            args: r#"["kubectl/v1.30.2 (linux/amd64)", "^kubectl/v1\\.(2[89]|3\\d)\\."]"#,
            result: "true",
        },
        Example {
            call: r#"regex_match("prod-db-0", "db-\d+")"#,
            args: r#"["prod-db-0", "db-\\d+"]"#,
            result: "true",
        },
        Example {
            call: r#"regex_match("prod-db-0", "^db-\d+$")"#,
            args: r#"["prod-db-0", "^db-\\d+$"]"#,
            result: "false",
        },
        Example {
            call: r#"regex_match("Curl/8.5", "(?i)^curl/")"#,
            args: r#"["Curl/8.5", "(?i)^curl/"]"#,
            result: "true",
        },
        Example {
            call: r#"regex_match(42, "\d+")"#,
            args: r#"[42, "\\d+"]"#,
            result: "null",
        },
    ],
};

impl Function for RegexMatch {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        let regex = match args::const_str(args, 1)? {
            Some(pattern) => Some(crate::re::compile(pattern).map_err(|reason| ArgError {
                index: 1,
                message: args::invalid("regular expression", pattern, &reason),
            })?),
            None => None,
        };
        Ok(Box::new(RegexMatchFn { regex }))
    }
}

struct RegexMatchFn {
    /// The expression when it is a constant.
    regex: Option<Regex>,
}

impl Compiled for RegexMatchFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [s, re] = args::exact(args)?;
        let Some(s) = s.as_str() else {
            return Ok(None);
        };
        let is_match = match &self.regex {
            Some(regex) => regex.is_match(s),
            None => {
                let Some(pattern) = re.as_str() else {
                    return Ok(None);
                };
                crate::re::compile_untrusted(pattern)
                    .map_err(|reason| {
                        CallError(args::invalid("regular expression", pattern, &reason))
                    })?
                    .is_match(s)
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
    fn an_invalid_constant_expression_is_a_load_error() {
        let re = json!("a(");
        let err = RegexMatch
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&re)])
            .err()
            .expect("`a(` does not compile");
        assert_eq!(err.index, 1);
        assert_eq!(
            err.message,
            "invalid regular expression `a(`: unclosed group"
        );
        let number = json!(1);
        let err = RegexMatch
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&number)])
            .err()
            .expect("a number is not an expression");
        assert_eq!(err.message, "expected a string, found a number");
    }

    #[test]
    fn an_invalid_dynamic_expression_is_a_call_error() {
        let f = RegexMatch
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .unwrap();
        assert_eq!(
            f.call(&[&json!("x"), &json!("[x")]),
            Err(CallError(
                "invalid regular expression `[x`: unclosed character class".into()
            ))
        );
        assert_eq!(f.call(&[&json!("x"), &json!(["x"])]), Ok(None));
        assert_eq!(f.call(&[&json!("x"), &json!("x")]), Ok(Some(json!(true))));
    }

    #[test]
    fn a_constant_expression_ignores_the_value_passed_per_call() {
        let re = json!("^a$");
        let f = RegexMatch
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&re)])
            .unwrap();
        assert_eq!(f.call(&[&json!("a"), &re]), Ok(Some(json!(true))));
        assert_eq!(f.call(&[&json!("b"), &re]), Ok(Some(json!(false))));
    }
}
