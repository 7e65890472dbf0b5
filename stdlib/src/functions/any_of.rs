//! The shared core of `starts_with_any`, `ends_with_any` and `contains_any`.

use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled};

/// How a string is tested against each item of the list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Test {
    StartsWith,
    EndsWith,
    Contains,
}

impl Test {
    fn holds(self, s: &str, needle: &str) -> bool {
        match self {
            Test::StartsWith => s.starts_with(needle),
            Test::EndsWith => s.ends_with(needle),
            Test::Contains => s.contains(needle),
        }
    }
}

/// Compiles `f(s, list)`: a constant `list` must be a list of strings.
pub(crate) fn compile(test: Test, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
    let needles = args::const_str_list(args, 1)?;
    Ok(Box::new(AnyOf { test, needles }))
}

struct AnyOf {
    test: Test,
    /// The list when it is a constant.
    needles: Option<Vec<String>>,
}

impl Compiled for AnyOf {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [s, list] = args::exact(args)?;
        let Some(s) = s.as_str() else {
            return Ok(None);
        };
        let found = match &self.needles {
            Some(needles) => needles.iter().any(|n| self.test.holds(s, n)),
            None => match args::str_items(list) {
                Some(mut needles) => needles.any(|n| self.test.holds(s, n)),
                None => return Ok(None),
            },
        };
        Ok(Some(Value::Bool(found)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_constant_list_must_hold_strings_only() {
        let list = json!(["a", 2]);
        let err = compile(Test::Contains, &[ArgShape::Dynamic, ArgShape::Const(&list)])
            .err()
            .expect("a number in the list is rejected");
        assert_eq!(
            (err.index, err.message.as_str()),
            (1, "expected a list of strings, item 2 is a number")
        );
        let string = json!("a");
        let err = compile(
            Test::StartsWith,
            &[ArgShape::Dynamic, ArgShape::Const(&string)],
        )
        .err()
        .expect("a string is not a list");
        assert_eq!(err.message, "expected a list of strings, found a string");
    }

    #[test]
    fn a_dynamic_list_skips_non_strings_and_needs_a_list() {
        let f = compile(Test::EndsWith, &[ArgShape::Dynamic, ArgShape::Dynamic]).unwrap();
        assert_eq!(
            f.call(&[&json!("abc"), &json!([1, "bc"])]),
            Ok(Some(json!(true)))
        );
        assert_eq!(
            f.call(&[&json!("abc"), &json!([1, null])]),
            Ok(Some(json!(false)))
        );
        assert_eq!(f.call(&[&json!("abc"), &json!("c")]), Ok(None));
    }

    #[test]
    fn the_three_tests_differ() {
        let list = json!(["b"]);
        for (test, expected) in [
            (Test::StartsWith, false),
            (Test::EndsWith, false),
            (Test::Contains, true),
        ] {
            let f = compile(test, &[ArgShape::Dynamic, ArgShape::Const(&list)]).unwrap();
            assert_eq!(
                f.call(&[&json!("abc"), &list]),
                Ok(Some(json!(expected))),
                "{test:?}"
            );
        }
    }
}
