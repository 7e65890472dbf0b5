use chrono::Timelike;
use serde_json::Value;

use crate::args;
use crate::time;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `hour(t)`
pub(crate) struct Hour;

const DOCS: &str = "\
The hour of the day, 0 to 23, of the instant `t`, in UTC: a timestamp with an offset is \
converted first, so `2024-05-01T01:30:00+02:00` is hour `23`. `t` is an RFC 3339 timestamp \
(read as `parse_time` reads it) or a number of Unix epoch seconds, integer or fractional. Use it \
on the event's time, `hour(requestReceivedTimestamp)`, to flag activity outside office hours.

Missing when `t` is neither, or is a number of seconds too large for a date.";

const SPEC: Spec = Spec {
    name: "hour",
    params: &[Param {
        name: "t",
        ty: "string (RFC 3339) | number (epoch seconds)",
    }],
    returns: "integer",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"hour("2024-05-01T22:15:00Z")"#,
            args: r#"["2024-05-01T22:15:00Z"]"#,
            result: "22",
        },
        Example {
            call: r#"hour("2024-05-01T01:30:00+02:00")"#,
            args: r#"["2024-05-01T01:30:00+02:00"]"#,
            result: "23",
        },
        Example {
            call: "hour(1714564800)",
            args: "[1714564800]",
            result: "12",
        },
        Example {
            call: "hour(-0.5)",
            args: "[-0.5]",
            result: "23",
        },
        Example {
            call: r#"hour("yesterday")"#,
            args: r#"["yesterday"]"#,
            result: "null",
        },
    ],
};

impl Function for Hour {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(HourFn))
    }
}

struct HourFn;

impl Compiled for HourFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [t] = args::exact(args)?;
        Ok(time::instant(t).map(|t| Value::from(t.hour())))
    }
}
