use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::Value;

use crate::args;
use crate::time;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `time_part(t, part)`
pub(crate) struct TimePart;

const DOCS: &str = "\
One part of the instant `t`, in UTC, as an integer: `\"minute\"` (0 to 59), `\"hour\"` (0 to \
23), `\"day\"` (of the month, 1 to 31), `\"week\"` (the ISO 8601 week of the year, 1 to 53, \
weeks starting on Monday), `\"month\"` (1 to 12) or `\"year\"`. A timestamp with an offset is \
converted to UTC first. `t` is an RFC 3339 timestamp (read as `parse_time` reads it) or a \
number of Unix epoch seconds. These are the timestamp parts of Sigma's `|minute`, `|hour`, \
`|day`, `|week`, `|month` and `|year` modifiers, which `k8scop import sigma` translates to it.

A constant `part` other than these is an error when the rules load. Missing when `t` is neither \
a timestamp nor a number, or is a number of seconds too large for a date.";

const SPEC: Spec = Spec {
    name: "time_part",
    params: &[
        Param {
            name: "t",
            ty: "string (RFC 3339) | number (epoch seconds)",
        },
        Param {
            name: "part",
            ty: "string",
        },
    ],
    returns: "integer",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"time_part("2024-05-01T22:15:00Z", "minute")"#,
            args: r#"["2024-05-01T22:15:00Z", "minute"]"#,
            result: "15",
        },
        Example {
            call: r#"time_part("2024-05-01T01:30:00+02:00", "day")"#,
            args: r#"["2024-05-01T01:30:00+02:00", "day"]"#,
            result: "30",
        },
        Example {
            call: r#"time_part("2024-12-30T12:00:00Z", "week")"#,
            args: r#"["2024-12-30T12:00:00Z", "week"]"#,
            result: "1",
        },
        Example {
            call: r#"time_part(1714564800, "month")"#,
            args: r#"[1714564800, "month"]"#,
            result: "5",
        },
        Example {
            call: r#"time_part("2024-05-01T12:00:00Z", "year")"#,
            args: r#"["2024-05-01T12:00:00Z", "year"]"#,
            result: "2024",
        },
        Example {
            call: r#"time_part("yesterday", "hour")"#,
            args: r#"["yesterday", "hour"]"#,
            result: "null",
        },
    ],
};

/// The parts `part` may name.
const PARTS: &[&str] = &["minute", "hour", "day", "week", "month", "year"];

fn part_of(t: &DateTime<Utc>, part: &str) -> Option<i64> {
    Some(match part {
        "minute" => i64::from(t.minute()),
        "hour" => i64::from(t.hour()),
        "day" => i64::from(t.day()),
        "week" => i64::from(t.iso_week().week()),
        "month" => i64::from(t.month()),
        "year" => i64::from(t.year()),
        _ => return None,
    })
}

fn unknown_part(part: &str) -> String {
    format!(
        "unknown time part {} (minute, hour, day, week, month or year)",
        args::quote(part)
    )
}

impl Function for TimePart {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        if let Some(part) = args::const_str(args, 1)? {
            if !PARTS.contains(&part) {
                return Err(ArgError {
                    index: 1,
                    message: unknown_part(part),
                });
            }
        }
        Ok(Box::new(TimePartFn))
    }
}

struct TimePartFn;

impl Compiled for TimePartFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [t, part] = args::exact(args)?;
        let Some(part) = part.as_str() else {
            return Ok(None);
        };
        let Some(t) = time::instant(t) else {
            return Ok(None);
        };
        part_of(&t, part)
            .map(|n| Some(Value::from(n)))
            .ok_or_else(|| CallError(unknown_part(part)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_constant_unknown_part_is_an_error_at_load() {
        let err = TimePart
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&json!("second"))])
            .err()
            .expect("an error");
        assert_eq!(err.index, 1);
        assert!(err.message.contains("`second`"), "{}", err.message);
    }

    #[test]
    fn an_unknown_part_given_per_event_is_a_call_error() {
        let f = TimePart
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .expect("compiles");
        let err = f
            .call(&[&json!("2024-05-01T12:00:00Z"), &json!("second")])
            .unwrap_err();
        assert!(err.0.contains("unknown time part"), "{}", err.0);
    }
}
