//! Helpers shared by the function files: argument access at call time, type checks of constant
//! arguments at compile time, and the wording of messages.
//!
//! Only "configuration" arguments (a separator, a pattern, a list of prefixes, a path) are
//! type-checked when they are constants: a wrong constant there makes every call at that site
//! useless, so it is a load-time error. The subject of a call (the first argument, normally a field
//! path) is never checked at load time: a literal of the wrong type there is merely missing.

use serde_json::Value;

use crate::{ArgError, ArgShape, CallError};

/// The arguments of one call as an array of the arity the function declares.
///
/// The engine checks arity against `Function::params` when it compiles a call site, so a mismatch
/// here is an engine bug; it is reported as a call error rather than a panic.
pub(crate) fn exact<'v, const N: usize>(args: &[&'v Value]) -> Result<[&'v Value; N], CallError> {
    <[&Value; N]>::try_from(args).map_err(|_| {
        CallError(format!(
            "expected {N} argument{}, got {}",
            if N == 1 { "" } else { "s" },
            args.len()
        ))
    })
}

/// How a JSON value's type is named in messages: "a string", "a number", "null", ...
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The constant at `index`, or `None` when that argument is dynamic (or absent).
pub(crate) fn constant<'a>(args: &[ArgShape<'a>], index: usize) -> Option<&'a Value> {
    match args.get(index) {
        Some(ArgShape::Const(value)) => Some(value),
        _ => None,
    }
}

/// A constant string argument: `Ok(Some(s))` when the argument is a constant string, `Ok(None)`
/// when it is dynamic, an error when it is a constant of another type.
pub(crate) fn const_str<'a>(
    args: &[ArgShape<'a>],
    index: usize,
) -> Result<Option<&'a str>, ArgError> {
    match constant(args, index) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ArgError {
            index,
            message: format!("expected a string, found {}", type_name(other)),
        }),
    }
}

/// A constant list of strings: `Ok(Some(items))` when constant, `Ok(None)` when dynamic, an error
/// when the constant is not a list or holds something other than strings.
pub(crate) fn const_str_list(
    args: &[ArgShape<'_>],
    index: usize,
) -> Result<Option<Vec<String>>, ArgError> {
    let Some(value) = constant(args, index) else {
        return Ok(None);
    };
    let Value::Array(items) = value else {
        return Err(ArgError {
            index,
            message: format!("expected a list of strings, found {}", type_name(value)),
        });
    };
    items
        .iter()
        .enumerate()
        .map(|(position, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(ArgError {
                index,
                message: format!(
                    "expected a list of strings, item {} is {}",
                    position + 1,
                    type_name(other)
                ),
            }),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The strings of a list value given at call time; items that are not strings are skipped, and a
/// value that is not a list gives `None`.
pub(crate) fn str_items(value: &Value) -> Option<impl Iterator<Item = &str>> {
    match value {
        Value::Array(items) => Some(items.iter().filter_map(Value::as_str)),
        _ => None,
    }
}

/// The message for a malformed pattern: ``invalid glob pattern `[a`: unclosed `[` ``.
pub(crate) fn invalid(what: &str, text: &str, reason: &str) -> String {
    format!("invalid {what} {}: {reason}", quote(text))
}

/// User text as it appears between backticks in a one-line message: control characters (a
/// newline in a pattern, say) are escaped so that the message stays on one line.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('`');
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_rejects_a_wrong_arity_without_panicking() {
        let a = json!("a");
        assert!(exact::<1>(&[&a]).is_ok());
        assert_eq!(
            exact::<2>(&[&a]).unwrap_err(),
            CallError("expected 2 arguments, got 1".into())
        );
        assert_eq!(
            exact::<1>(&[]).unwrap_err(),
            CallError("expected 1 argument, got 0".into())
        );
    }

    #[test]
    fn const_checks_name_the_type_found() {
        let three = json!(3);
        let list = json!(["a", 1]);
        let args = [
            ArgShape::Dynamic,
            ArgShape::Const(&three),
            ArgShape::Const(&list),
        ];
        assert_eq!(const_str(&args, 0), Ok(None));
        assert_eq!(
            const_str(&args, 1).unwrap_err().message,
            "expected a string, found a number"
        );
        assert_eq!(
            const_str_list(&args, 1).unwrap_err().message,
            "expected a list of strings, found a number"
        );
        let err = const_str_list(&args, 2).unwrap_err();
        assert_eq!(err.index, 2);
        assert_eq!(
            err.message,
            "expected a list of strings, item 2 is a number"
        );
    }

    #[test]
    fn quote_keeps_messages_on_one_line() {
        assert_eq!(quote("a\nb\t\\d"), "`a\\nb\\t\\d`");
        assert_eq!(quote("\u{7}"), "`\\u{7}`");
    }
}
