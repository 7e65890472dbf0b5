//! Dates as Elasticsearch's `date` and `date_nanos` fields read and print them: the default format
//! `strict_date_optional_time||epoch_millis`, and the `strict_date_optional_time`,
//! `strict_date_optional_time_nanos`, `date_optional_time` and `epoch_millis` formats. Calendar
//! arithmetic is done here (proleptic Gregorian, any i64 year) because Elasticsearch prints
//! `Long.MAX_VALUE` milliseconds, the sort value of a missing date, as a year near 292 million.

/// An instant: seconds since the epoch and nanoseconds within the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    pub secs: i64,
    pub nanos: u32,
}

impl Instant {
    pub fn from_millis(millis: i64) -> Instant {
        Instant {
            secs: millis.div_euclid(1000),
            nanos: (millis.rem_euclid(1000) as u32) * 1_000_000,
        }
    }

    /// Milliseconds since the epoch; sub-millisecond digits are dropped, as a `date` field does.
    pub fn millis(self) -> i64 {
        let total = i128::from(self.secs) * 1000 + i128::from(self.nanos / 1_000_000);
        total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Nanoseconds since the epoch (a `date_nanos` field), `None` outside 1677..2262.
    pub fn nanos(self) -> Option<i64> {
        self.secs
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(i64::from(self.nanos)))
    }

    pub fn from_nanos(nanos: i64) -> Instant {
        Instant {
            secs: nanos.div_euclid(1_000_000_000),
            nanos: nanos.rem_euclid(1_000_000_000) as u32,
        }
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A cursor over the text being parsed.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `n` digits.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let end = self.at + n;
        let slice = self.s.get(self.at..end)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at = end;
        Some(
            slice
                .iter()
                .fold(0, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    }

    /// One or more digits, returned with their count.
    fn some_digits(&mut self) -> Option<(i64, usize)> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let n = self.at - start;
        if n == 0 || n > 18 {
            return None;
        }
        let v = self.s[start..self.at]
            .iter()
            .fold(0, |acc, d| acc * 10 + i64::from(d - b'0'));
        Some((v, n))
    }
}

/// `strict_date_optional_time`: `yyyy[-MM[-dd]]['T'HH[:mm[:ss[.fraction]]]][zone]`, with zone `Z`,
/// `±HH`, `±HHmm` or `±HH:mm` (UTC when absent). The year has four digits, or a sign and more
/// digits (how Java prints years past 9999).
pub fn parse_date_optional_time(text: &str) -> Option<Instant> {
    let mut c = Cursor {
        s: text.as_bytes(),
        at: 0,
    };
    let year = if c.peek() == Some(b'+') || c.peek() == Some(b'-') {
        let negative = c.peek() == Some(b'-');
        c.at += 1;
        let (y, n) = c.some_digits()?;
        if n < 4 {
            return None;
        }
        if negative {
            -y
        } else {
            y
        }
    } else {
        c.digits(4)?
    };
    let (mut month, mut day) = (1, 1);
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0u32);
    let mut offset_secs = 0i64;
    if c.eat(b'-') {
        month = c.digits(2)? as u32;
        if c.eat(b'-') {
            day = c.digits(2)? as u32;
        }
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if c.eat(b'T') {
        hour = c.digits(2)?;
        if c.eat(b':') {
            minute = c.digits(2)?;
            if c.eat(b':') {
                second = c.digits(2)?;
                if c.eat(b'.') || c.eat(b',') {
                    let start = c.at;
                    while c.peek().is_some_and(|d| d.is_ascii_digit()) {
                        c.at += 1;
                    }
                    let frac = &c.s[start..c.at];
                    if frac.is_empty() || frac.len() > 9 {
                        return None;
                    }
                    let mut n = frac
                        .iter()
                        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                    for _ in frac.len()..9 {
                        n *= 10;
                    }
                    nanos = n;
                }
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        if c.eat(b'Z') {
        } else if c.peek() == Some(b'+') || c.peek() == Some(b'-') {
            let sign = if c.peek() == Some(b'-') { -1 } else { 1 };
            c.at += 1;
            let oh = c.digits(2)?;
            let om = if c.eat(b':') {
                c.digits(2)?
            } else {
                c.digits(2).unwrap_or(0)
            };
            if oh > 18 || om > 59 {
                return None;
            }
            offset_secs = sign * (oh * 3600 + om * 60);
        }
    } else if c.eat(b'Z') {
        // A date with a zone and no time is accepted by Java's optional-time parsers.
    }
    if c.at != c.s.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days
        .checked_mul(86_400)?
        .checked_add(hour * 3600 + minute * 60 + second - offset_secs)?;
    Some(Instant { secs, nanos })
}

/// `epoch_millis`: an optionally signed number of milliseconds, with up to six decimals.
pub fn parse_epoch_millis(text: &str) -> Option<Instant> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    let millis: i64 = int.parse().ok()?;
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut sub = 0u32;
    for (i, d) in frac.bytes().enumerate() {
        sub += u32::from(d - b'0') * 10u32.pow(5 - i as u32);
    }
    let base = Instant::from_millis(millis);
    if millis < 0 && sub > 0 {
        // -1.5 ms is 1.5 ms before the epoch.
        let total = i128::from(millis) * 1_000_000 - i128::from(sub);
        return Some(Instant {
            secs: total.div_euclid(1_000_000_000) as i64,
            nanos: total.rem_euclid(1_000_000_000) as u32,
        });
    }
    Some(Instant {
        secs: base.secs,
        nanos: base.nanos + sub,
    })
}

/// The formats this server reads and prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// The field default, `strict_date_optional_time||epoch_millis`.
    Default,
    OptionalTime,
    OptionalTimeNanos,
    EpochMillis,
}

impl DateFormat {
    /// Parses a `format` parameter; `None` for formats this server does not implement.
    pub fn from_name(name: &str) -> Option<DateFormat> {
        let mut formats = name.split("||").map(str::trim);
        let first = formats.next()?;
        let rest: Vec<&str> = formats.collect();
        let one = |f: &str| match f {
            "strict_date_optional_time"
            | "date_optional_time"
            | "strictDateOptionalTime"
            | "dateOptionalTime" => Some(DateFormat::OptionalTime),
            "strict_date_optional_time_nanos" | "strictDateOptionalTimeNanos" => {
                Some(DateFormat::OptionalTimeNanos)
            }
            "epoch_millis" => Some(DateFormat::EpochMillis),
            _ => None,
        };
        match (one(first)?, rest.as_slice()) {
            (f, []) => Some(f),
            (DateFormat::OptionalTime | DateFormat::OptionalTimeNanos, ["epoch_millis"]) => {
                Some(DateFormat::Default)
            }
            _ => None,
        }
    }

    pub fn parse(self, text: &str) -> Option<Instant> {
        match self {
            DateFormat::Default => {
                parse_date_optional_time(text).or_else(|| parse_epoch_millis(text))
            }
            DateFormat::OptionalTime | DateFormat::OptionalTimeNanos => {
                parse_date_optional_time(text)
            }
            DateFormat::EpochMillis => parse_epoch_millis(text),
        }
    }

    /// How a value prints in this format (for sort values with a `format`).
    pub fn print(self, instant: Instant) -> String {
        match self {
            DateFormat::EpochMillis => instant.millis().to_string(),
            DateFormat::Default | DateFormat::OptionalTime => print_iso(instant, false),
            DateFormat::OptionalTimeNanos => print_iso(instant, true),
        }
    }
}

/// `2024-01-02T03:04:05.678Z`; with `nanos`, the fraction has 3 to 9 digits, as many as needed.
pub fn print_iso(instant: Instant, nanos: bool) -> String {
    let days = instant.secs.div_euclid(86_400);
    let rem = instant.secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let year_text = if year > 9999 {
        format!("+{year}")
    } else if year < 0 {
        format!("-{:04}", -year)
    } else {
        format!("{year:04}")
    };
    let fraction = if nanos {
        let mut f = format!("{:09}", instant.nanos);
        while f.len() > 3 && f.ends_with('0') {
            f.pop();
        }
        f
    } else {
        format!("{:03}", instant.nanos / 1_000_000)
    };
    format!(
        "{year_text}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses `now`, `now-15m`, `now+1d` (date math without rounding) relative to `now`.
pub fn parse_now(text: &str, now: Instant) -> Result<Option<Instant>, String> {
    let Some(rest) = text.strip_prefix("now") else {
        return Ok(None);
    };
    let mut secs = now.secs;
    let mut rest = rest;
    while !rest.is_empty() {
        let sign = match rest.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            b'/' => {
                return Err(format!(
                    "date math rounding in [{text}] is not supported by the k8scop test server"
                ))
            }
            _ => return Err(format!("operator not supported for date math [{text}]")),
        };
        rest = &rest[1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("truncated date math [{text}]"))?;
        let unit = rest[digits..]
            .chars()
            .next()
            .ok_or(format!("truncated date math [{text}]"))?;
        let per = match unit {
            's' => 1,
            'm' => 60,
            'h' | 'H' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => {
                return Err(format!(
                    "unit [{unit}] in date math [{text}] is not supported by the k8scop test server"
                ))
            }
        };
        secs += sign * n * per;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Ok(Some(Instant {
        secs,
        nanos: now.nanos,
    }))
}

#[test]
fn dates_parse_and_print_like_elasticsearch() {
    let at = |s| parse_date_optional_time(s).map(Instant::millis);
    assert_eq!(at("2024-01-01T00:00:00Z"), Some(1_704_067_200_000));
    assert_eq!(at("2024-01-01T00:00:01.5Z"), Some(1_704_067_201_500));
    assert_eq!(at("2024-01-01T01:00:00+01:00"), Some(1_704_067_200_000));
    assert_eq!(at("2024-01-01T01:00:00+0100"), Some(1_704_067_200_000));
    assert_eq!(at("2024-01-01"), Some(1_704_067_200_000));
    assert_eq!(at("2024-01-01T00:00:00.999999Z"), Some(1_704_067_200_999));
    assert_eq!(at("2024-02-30T00:00:00Z"), None);
    assert_eq!(at("2024-01-01 00:00:00"), None);
    assert_eq!(at("12345"), None);
    assert_eq!(at("x"), None);
    let i = parse_date_optional_time("2024-03-05T06:07:08.123456Z").unwrap();
    assert_eq!(print_iso(i, false), "2024-03-05T06:07:08.123Z");
    assert_eq!(print_iso(i, true), "2024-03-05T06:07:08.123456Z");
    assert_eq!(i.nanos(), Some(1_709_618_828_123_456_000));
    // Long.MAX_VALUE ms, the sort value of a missing date, prints and parses back.
    let max = Instant::from_millis(i64::MAX);
    let printed = print_iso(max, false);
    assert_eq!(printed, "+292278994-08-17T07:12:55.807Z");
    assert_eq!(
        parse_date_optional_time(&printed).map(Instant::millis),
        Some(i64::MAX)
    );
    let min = Instant::from_millis(i64::MIN);
    assert_eq!(
        parse_date_optional_time(&print_iso(min, false)).map(Instant::millis),
        Some(i64::MIN)
    );
    assert_eq!(
        parse_epoch_millis("1704067200000").map(Instant::millis),
        Some(1_704_067_200_000)
    );
    assert_eq!(
        parse_epoch_millis("-1.5").map(Instant::nanos),
        Some(Some(-1_500_000))
    );
    assert_eq!(
        DateFormat::from_name("strict_date_optional_time||epoch_millis"),
        Some(DateFormat::Default)
    );
    assert_eq!(DateFormat::from_name("yyyy-MM-dd"), None);
    let now = Instant::from_millis(1_000_000_000);
    assert_eq!(
        parse_now("now-1h", now).unwrap().map(Instant::millis),
        Some(1_000_000_000 - 3_600_000)
    );
    assert!(parse_now("now/d", now).is_err());
    assert_eq!(parse_now("2024", now), Ok(None));
}
