use chrono::{Datelike, Weekday as ChronoWeekday};
use serde_json::Value;

use crate::args;
use crate::time;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `weekday(t)`
pub(crate) struct Weekday;

const DOCS: &str = "\
The day of the week of the instant `t`, in UTC, as its English name with a capital: \
`\"Monday\"`, `\"Tuesday\"`, `\"Wednesday\"`, `\"Thursday\"`, `\"Friday\"`, `\"Saturday\"` or \
`\"Sunday\"`. A timestamp with an offset is converted to UTC first, which can change the day. \
`t` is an RFC 3339 timestamp (read as `parse_time` reads it) or a number of Unix epoch seconds. \
`weekday(requestReceivedTimestamp) in [\"Saturday\", \"Sunday\"]` flags weekend activity.

Missing when `t` is neither, or is a number of seconds too large for a date.";

const SPEC: Spec = Spec {
    name: "weekday",
    params: &[Param {
        name: "t",
        ty: "string (RFC 3339) | number (epoch seconds)",
    }],
    returns: "string",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"weekday("2024-05-04T10:00:00Z")"#,
            args: r#"["2024-05-04T10:00:00Z"]"#,
            result: r#""Saturday""#,
        },
        Example {
            call: r#"weekday("2024-05-06T00:30:00+02:00")"#,
            args: r#"["2024-05-06T00:30:00+02:00"]"#,
            result: r#""Sunday""#,
        },
        Example {
            call: "weekday(0)",
            args: "[0]",
            result: r#""Thursday""#,
        },
        Example {
            call: "weekday(1714564800.5)",
            args: "[1714564800.5]",
            result: r#""Wednesday""#,
        },
        Example {
            call: r#"weekday("2024-05-04")"#,
            args: r#"["2024-05-04"]"#,
            result: "null",
        },
    ],
};

impl Function for Weekday {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(WeekdayFn))
    }
}

/// The English name of a day.
fn name(day: ChronoWeekday) -> &'static str {
    match day {
        ChronoWeekday::Mon => "Monday",
        ChronoWeekday::Tue => "Tuesday",
        ChronoWeekday::Wed => "Wednesday",
        ChronoWeekday::Thu => "Thursday",
        ChronoWeekday::Fri => "Friday",
        ChronoWeekday::Sat => "Saturday",
        ChronoWeekday::Sun => "Sunday",
    }
}

struct WeekdayFn;

impl Compiled for WeekdayFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [t] = args::exact(args)?;
        Ok(time::instant(t).map(|t| Value::String(name(t.weekday()).into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seven_consecutive_days_have_seven_names() {
        let f = Weekday.compile(&[ArgShape::Dynamic]).unwrap();
        let names: Vec<Value> = (0..7)
            .map(|day| {
                f.call(&[&json!(1_714_953_600 + day * 86_400)])
                    .unwrap()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            names,
            json!([
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
    }
}
