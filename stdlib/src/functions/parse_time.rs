use serde_json::{Number, Value};

use crate::args;
use crate::time;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `parse_time(s)`
pub(crate) struct ParseTime;

const DOCS: &str = "\
Parses the RFC 3339 timestamp `s` and returns it as Unix epoch seconds, a float with the \
fraction: `2024-05-01T12:00:00.5Z` gives `1714564800.5`. Subtract two of them to get a \
duration in seconds.

Accepted: any number of fractional digits (those past the ninth are ignored), `T`, `t` or a \
space between date and time, `Z`, `z` or a `+HH:MM` / `-HH:MM` offset, and a leap second \
(`23:59:60`, which counts as the next second). A float keeps about a microsecond of precision \
for present-day times.

Missing when `s` is not a string or not an RFC 3339 timestamp: a date alone, a time without an \
offset, an offset without `:` (`+0200`), surrounding whitespace, or an impossible date or time \
(`2024-02-30`, `24:00:00`). A number is not parsed either: `hour` and `weekday` take epoch \
seconds directly.";

const SPEC: Spec = Spec {
    name: "parse_time",
    params: &[Param {
        name: "s",
        ty: "string (RFC 3339)",
    }],
    returns: "float (Unix epoch seconds)",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"parse_time("2024-05-01T12:00:00Z")"#,
            args: r#"["2024-05-01T12:00:00Z"]"#,
            result: "1714564800.0",
        },
        Example {
            call: r#"parse_time("2024-05-01T12:00:00.123456Z")"#,
            args: r#"["2024-05-01T12:00:00.123456Z"]"#,
            result: "1714564800.123456",
        },
        Example {
            call: r#"parse_time("2024-05-01T14:00:00.5000000000+02:00")"#,
            args: r#"["2024-05-01T14:00:00.5000000000+02:00"]"#,
            result: "1714564800.5",
        },
        Example {
            call: r#"parse_time("1969-12-31T23:59:59Z")"#,
            args: r#"["1969-12-31T23:59:59Z"]"#,
            result: "-1.0",
        },
        Example {
            call: r#"parse_time("2024-05-01 12:00:00")"#,
            args: r#"["2024-05-01 12:00:00"]"#,
            result: "null",
        },
        Example {
            call: "parse_time(1714564800)",
            args: "[1714564800]",
            result: "null",
        },
    ],
};

impl Function for ParseTime {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(ParseTimeFn))
    }
}

struct ParseTimeFn;

impl Compiled for ParseTimeFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [s] = args::exact(args)?;
        Ok(s.as_str()
            .and_then(time::parse_rfc3339)
            .and_then(|t| Number::from_f64(time::epoch_seconds(&t)))
            .map(Value::Number))
    }
}
