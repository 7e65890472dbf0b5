//! Times on the command line (`--start`, `--end`), all in UTC.
//!
//! Accepted forms, tried in this order:
//! - relative to a clock passed in: `now`, `now-90s`, `now-30m`, `now-1h`, `now-2d`, `now-1w`;
//! - RFC 3339: `2019-02-12T19:30:00Z`, `2019-02-12T20:30:00+01:00` (converted to UTC);
//! - `YYYY-MM-DDTHH:MM:SS[.fff]` without an offset, taken as UTC;
//! - the old K8sCop form `Y-M-D-h-m-s`, unpadded: `2019-2-12-19-30-0`;
//! - a date alone, `YYYY-MM-DD` (midnight UTC).
//!
//! The clock is a parameter so that tests are deterministic; only `run` reads the real one.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

/// What the forms look like, for error messages.
const FORMS: &str = "expected `now`, `now-1h` (s, m, h, d or w), RFC 3339 such as \
                     `2019-02-12T19:30:00Z`, `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` (UTC) or the \
                     old `2019-2-12-19-30-0`";

/// Why a time could not be read: the text as given and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time `{text}`: {problem}")]
pub struct TimeError {
    /// The time as the user wrote it.
    pub text: String,
    /// What is wrong with it.
    pub problem: TimeProblem,
}

/// What is wrong with a time; each message says what would be accepted instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeProblem {
    /// The text is none of the accepted forms.
    #[error("{}", FORMS)]
    UnknownForm,
    /// `now+1h`: relative times only go back.
    #[error("a relative time goes back from now, as in `now-1h`")]
    NotBackwards,
    /// `now-h`: the offset has no number.
    #[error("expected a number and a unit after `now-`, as in `now-1h`")]
    MissingNumber,
    /// `now-5`: the offset has no unit.
    #[error("the offset needs a unit: s, m, h, d or w")]
    MissingUnit,
    /// `now-1y`: a unit other than s, m, h, d or w.
    #[error("unknown unit `{0}`; use s, m, h, d or w")]
    UnknownUnit(String),
    /// The offset, or the time it leads to, does not fit the calendar's range.
    #[error("the offset is too large")]
    TooLarge,
    /// `2019-2-30`: a day that the month does not have.
    #[error("no such date")]
    NoSuchDate,
    /// `2019-2-12-25-0-0`: an hour, minute or second out of range.
    #[error("no such time of day")]
    NoSuchTime,
}

/// Parses one of the accepted forms (see the module docs); `now` is the clock's reading.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    let s = text.trim();
    let invalid = |problem: TimeProblem| TimeError {
        text: text.to_owned(),
        problem,
    };
    if s.is_empty() {
        return Err(invalid(TimeProblem::UnknownForm));
    }
    if let Some(rest) = s.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now);
        }
        let Some(offset) = rest.strip_prefix('-') else {
            return Err(invalid(TimeProblem::NotBackwards));
        };
        let delta = parse_offset(offset).map_err(invalid)?;
        return now
            .checked_sub_signed(delta)
            .ok_or_else(|| invalid(TimeProblem::TooLarge));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if s.contains(['T', 't', ' ']) {
        // A date and a time: RFC 3339 without its offset, read as UTC.
        let fixed = s.replace(['t', ' '], "T");
        return NaiveDateTime::parse_from_str(&fixed, "%Y-%m-%dT%H:%M:%S%.f")
            .map(|t| t.and_utc())
            .map_err(|_| invalid(TimeProblem::UnknownForm));
    }
    let parts: Vec<&str> = s.split('-').collect();
    if !parts
        .iter()
        .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(TimeProblem::UnknownForm));
    }
    // INVARIANT: every part is 1 to 4 ASCII digits, so it fits in a u32.
    let n: Vec<u32> = parts.iter().map(|p| p.parse().unwrap_or(0)).collect();
    let (date, time) = match n.as_slice() {
        [y, mo, d] => (
            NaiveDate::from_ymd_opt(*y as i32, *mo, *d),
            Some(NaiveTime::MIN),
        ),
        [y, mo, d, h, mi, sec] => (
            NaiveDate::from_ymd_opt(*y as i32, *mo, *d),
            NaiveTime::from_hms_opt(*h, *mi, *sec),
        ),
        _ => return Err(invalid(TimeProblem::UnknownForm)),
    };
    let date = date.ok_or_else(|| invalid(TimeProblem::NoSuchDate))?;
    let time = time.ok_or_else(|| invalid(TimeProblem::NoSuchTime))?;
    Ok(date.and_time(time).and_utc())
}

/// `90s`, `30m`, `1h`, `2d`, `1w`.
fn parse_offset(offset: &str) -> Result<TimeDelta, TimeProblem> {
    let digits = offset.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = offset.split_at(digits);
    if number.is_empty() {
        return Err(TimeProblem::MissingNumber);
    }
    let n: i64 = number.parse().map_err(|_| TimeProblem::TooLarge)?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "" => return Err(TimeProblem::MissingUnit),
        other => return Err(TimeProblem::UnknownUnit(other.to_owned())),
    };
    n.checked_mul(seconds_per)
        .and_then(TimeDelta::try_seconds)
        .ok_or(TimeProblem::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn clock() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 10, 12, 0, 0).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, clock()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn err(s: &str) -> String {
        parse_time(s, clock()).unwrap_err().to_string()
    }

    #[test]
    fn old_k8scop_form_unpadded() {
        assert_eq!(t("2019-2-12-19-30-0"), utc(2019, 2, 12, 19, 30, 0));
        assert_eq!(t("2019-02-12-09-05-07"), utc(2019, 2, 12, 9, 5, 7));
        assert_eq!(t("2020-12-31-23-59-59"), utc(2020, 12, 31, 23, 59, 59));
    }

    #[test]
    fn rfc3339_is_converted_to_utc() {
        assert_eq!(t("2019-02-12T19:30:00Z"), utc(2019, 2, 12, 19, 30, 0));
        assert_eq!(t("2019-02-12T20:30:00+01:00"), utc(2019, 2, 12, 19, 30, 0));
        assert_eq!(
            t("2019-02-12T19:30:00.250Z").timestamp_millis(),
            utc(2019, 2, 12, 19, 30, 0).timestamp_millis() + 250
        );
    }

    #[test]
    fn date_and_naive_datetime_are_utc() {
        assert_eq!(t("2019-02-12"), utc(2019, 2, 12, 0, 0, 0));
        assert_eq!(t("2019-2-1"), utc(2019, 2, 1, 0, 0, 0));
        assert_eq!(t("2019-02-12T19:30:00"), utc(2019, 2, 12, 19, 30, 0));
        assert_eq!(t("2019-02-12 19:30:00"), utc(2019, 2, 12, 19, 30, 0));
        assert_eq!(
            t("2019-02-12T19:30:00.5").timestamp_millis(),
            utc(2019, 2, 12, 19, 30, 0).timestamp_millis() + 500
        );
    }

    #[test]
    fn relative_to_the_clock() {
        assert_eq!(t("now"), clock());
        assert_eq!(t("now-90s"), utc(2024, 3, 10, 11, 58, 30));
        assert_eq!(t("now-30m"), utc(2024, 3, 10, 11, 30, 0));
        assert_eq!(t("now-1h"), utc(2024, 3, 10, 11, 0, 0));
        assert_eq!(t("now-2d"), utc(2024, 3, 8, 12, 0, 0));
        assert_eq!(t("now-1w"), utc(2024, 3, 3, 12, 0, 0));
        assert_eq!(t(" now-1h "), utc(2024, 3, 10, 11, 0, 0));
    }

    #[test]
    fn errors_name_the_input_and_the_problem() {
        assert_eq!(
            err("now-1y"),
            "invalid time `now-1y`: unknown unit `y`; use s, m, h, d or w"
        );
        assert_eq!(
            err("now-5"),
            "invalid time `now-5`: the offset needs a unit: s, m, h, d or w"
        );
        assert_eq!(
            err("now-h"),
            "invalid time `now-h`: expected a number and a unit after `now-`, as in `now-1h`"
        );
        assert_eq!(
            err("now+1h"),
            "invalid time `now+1h`: a relative time goes back from now, as in `now-1h`"
        );
        assert_eq!(
            err("now-99999999999999999999s"),
            "invalid time `now-99999999999999999999s`: the offset is too large"
        );
        assert_eq!(
            err("2019-2-30-1-0-0"),
            "invalid time `2019-2-30-1-0-0`: no such date"
        );
        assert_eq!(
            err("2019-2-12-25-0-0"),
            "invalid time `2019-2-12-25-0-0`: no such time of day"
        );
        assert_eq!(err("2019-13-01"), "invalid time `2019-13-01`: no such date");
        for bad in [
            "",
            "yesterday",
            "2019-2-12-19",
            "2019/02/12",
            "2019-02-12T25:00:00",
            "12:30",
        ] {
            assert_eq!(err(bad), format!("invalid time `{bad}`: {FORMS}"), "{bad}");
        }
    }

    #[test]
    fn errors_say_which_part_is_wrong() {
        let problem = |s: &str| parse_time(s, clock()).unwrap_err().problem;
        assert_eq!(problem("now-1y"), TimeProblem::UnknownUnit("y".into()));
        assert_eq!(problem("now-5"), TimeProblem::MissingUnit);
        assert_eq!(problem("2019-2-30"), TimeProblem::NoSuchDate);
        assert_eq!(problem("yesterday"), TimeProblem::UnknownForm);
        assert_eq!(
            parse_time(" tomorrow", clock()).unwrap_err().text,
            " tomorrow"
        );
    }
}
