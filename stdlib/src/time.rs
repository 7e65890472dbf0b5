//! Timestamps: RFC 3339 strings and Unix epoch seconds, as `parse_time`, `hour` and `weekday` take
//! them.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Parses an RFC 3339 timestamp: `2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.123456789+02:00`.
///
/// Accepted: any number of fractional digits (digits past the ninth are ignored), `T`, `t` or a
/// space between date and time, `Z`, `z` or a `+HH:MM`/`-HH:MM` offset, and a leap second `:60`
/// (which counts as the first instant of the next second). A missing offset, a missing seconds
/// field and surrounding whitespace are not accepted.
pub(crate) fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Unix epoch seconds, with the fraction, of an RFC 3339 timestamp. An `f64` keeps about a
/// microsecond of precision for present-day times.
pub(crate) fn epoch_seconds(time: &DateTime<Utc>) -> f64 {
    time.timestamp() as f64 + f64::from(time.timestamp_subsec_nanos()) / 1e9
}

/// The instant a `timestamp` argument stands for: an RFC 3339 string or a number of Unix epoch
/// seconds (integer or fractional, negative before 1970). `None` for anything else, for a string
/// that is not RFC 3339, and for numbers beyond the years -262143..=262142.
pub(crate) fn instant(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(text) => parse_rfc3339(text),
        Value::Number(n) => match n.as_i64() {
            Some(seconds) => DateTime::from_timestamp(seconds, 0),
            None => {
                let seconds = n.as_f64()?;
                let whole = seconds.floor();
                // The range check keeps the `as` conversion exact; chrono checks its own range.
                if !(-1e15..=1e15).contains(&whole) {
                    return None;
                }
                let nanos = ((seconds - whole) * 1e9).floor().clamp(0.0, 999_999_999.0);
                DateTime::from_timestamp(whole as i64, nanos as u32)
            }
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn epoch(text: &str) -> Option<f64> {
        parse_rfc3339(text).map(|t| epoch_seconds(&t))
    }

    #[test]
    fn rfc3339_variants() {
        assert_eq!(epoch("2024-05-01T12:00:00Z"), Some(1_714_564_800.0));
        assert_eq!(epoch("2024-05-01t12:00:00z"), Some(1_714_564_800.0));
        assert_eq!(epoch("2024-05-01 12:00:00Z"), Some(1_714_564_800.0));
        assert_eq!(epoch("2024-05-01T14:00:00+02:00"), Some(1_714_564_800.0));
        assert_eq!(epoch("2024-05-01T07:30:00-04:30"), Some(1_714_564_800.0));
        assert_eq!(epoch("2024-05-01T12:00:00.5Z"), Some(1_714_564_800.5));
        assert_eq!(epoch("2024-05-01T12:00:00.250000Z"), Some(1_714_564_800.25));
        // more than nine fractional digits: the extra ones are ignored
        assert_eq!(
            epoch("2024-05-01T12:00:00.2500000000001Z"),
            Some(1_714_564_800.25)
        );
        assert_eq!(epoch("1969-12-31T23:59:59Z"), Some(-1.0));
        // a leap second is the start of the next second
        assert_eq!(epoch("2016-12-31T23:59:60Z"), Some(1_483_228_800.0));
    }

    #[test]
    fn rfc3339_rejections() {
        for bad in [
            "2024-05-01T12:00:00",
            "2024-05-01T12:00Z",
            "2024-05-01",
            " 2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00Z ",
            "2024-05-01T12:00:00.Z",
            "2024-13-01T12:00:00Z",
            "2024-02-30T12:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00+0200",
            "1714564800",
            "",
        ] {
            assert_eq!(epoch(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn instants_from_numbers_and_strings() {
        let t = |v: Value| instant(&v).map(|t| t.to_rfc3339());
        assert_eq!(t(json!(0)), Some("1970-01-01T00:00:00+00:00".into()));
        assert_eq!(
            t(json!(1_714_564_800)),
            Some("2024-05-01T12:00:00+00:00".into())
        );
        assert_eq!(
            t(json!(1_714_564_800.75)),
            Some("2024-05-01T12:00:00.750+00:00".into())
        );
        assert_eq!(t(json!(-0.5)), Some("1969-12-31T23:59:59.500+00:00".into()));
        assert_eq!(
            t(json!("2024-05-01T12:00:00Z")),
            Some("2024-05-01T12:00:00+00:00".into())
        );
        assert_eq!(t(json!(u64::MAX)), None);
        assert_eq!(t(json!(1e300)), None);
        assert_eq!(t(json!(i64::MAX)), None);
        assert_eq!(t(json!("yesterday")), None);
        assert_eq!(t(json!(true)), None);
        assert_eq!(t(json!(null)), None);
    }
}
