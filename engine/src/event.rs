//! The event model: a JSON document, its event time, its id and its kind.
//!
//! [`Event::classify`] decides what a document is by asking the kinds of the registry
//! ([`crate::kinds`]): the first kind that recognises the document gives its time, id and
//! deduplication key. A document no kind recognises is reported as not a Kubernetes audit event
//! (the kind most input is), with the reason.

use std::sync::Arc;

use chrono::DateTime;
use serde_json::Value;

use crate::doc::{Doc, Ref};
use crate::kinds::{self, Identity, KindId};

pub use crate::kinds::NotAnEvent;

/// One event, ready for evaluation.
#[derive(Debug, Clone)]
pub struct Event {
    /// What the decoder kept of the document (all of it when the ruleset runs scripts).
    pub doc: Doc,
    /// Event time, milliseconds since the Unix epoch.
    pub time: i64,
    /// `auditID` (with the stage when it has one) or another id the source gives, else the event's
    /// position in its input (`file:line`); stable for the same input either way.
    pub id: Arc<str>,
    /// The kind of event, from the registry ([`crate::kinds::REGISTRY`]).
    pub kind: KindId,
    /// For an audit event with an `auditID`: its deduplication key (see [`crate::decode::Dedup`]),
    /// computed here, where the id and stage are at hand, rather than on the engine's thread.
    pub dedup_key: Option<u64>,
}

impl Event {
    /// The event's document.
    pub fn root(&self) -> Ref<'_> {
        self.doc.root()
    }

    /// An owned copy of the event's document.
    pub fn to_value(&self) -> Value {
        self.doc.to_value()
    }

    /// Recognises what `value` is. `position` (e.g. `events.json:12`) names the event when it has
    /// no id of its own.
    ///
    /// This is the last step of decoding, on a document already unwrapped from its shipper's
    /// shape: commands read events through [`crate::decode::Decoder`], which unwraps, classifies
    /// and reports what is not an event, so that `run`, `test-rule` and `test` blocks agree.
    pub fn classify(value: Value, position: &str) -> Result<Event, NotAnEvent> {
        Event::classify_doc(Doc::from_value(&value), position)
    }

    /// [`Event::classify`] of a document.
    pub fn classify_doc(doc: Doc, position: &str) -> Result<Event, NotAnEvent> {
        let root = doc.root();
        if !root.is_object() {
            return Err(NotAnEvent {
                reason: format!(
                    "not a Kubernetes audit event: a JSON {}, not an object",
                    type_name(root)
                ),
            });
        }
        let Some(kind) = kinds::recognise(root) else {
            return Err(NotAnEvent {
                reason: "not a Kubernetes audit event: it has no string `verb`".into(),
            });
        };
        Event::of_kind(doc, kind, position)
    }

    /// An event of a kind already known to recognise `doc`.
    pub(crate) fn of_kind(doc: Doc, kind: KindId, position: &str) -> Result<Event, NotAnEvent> {
        let identity = kind.kind().identify(doc.root(), position)?;
        Ok(Event::identified(doc, kind, identity))
    }

    /// The event of a document whose kind identified it.
    pub(crate) fn identified(doc: Doc, kind: KindId, identity: Identity) -> Event {
        Event {
            doc,
            time: identity.time,
            id: identity.id,
            kind,
            dedup_key: identity.dedup_key,
        }
    }

    /// Who did what, where: the alert context of the event, as its kind reads it.
    pub fn context(&self) -> crate::alert::Context {
        self.kind.kind().context(self.root())
    }
}

fn type_name(value: Ref<'_>) -> &'static str {
    if value.is_null() {
        "null"
    } else if value.as_bool().is_some() {
        "boolean"
    } else if value.is_string() {
        "string"
    } else if value.is_array() {
        "array"
    } else if value.is_object() {
        "object"
    } else {
        "number"
    }
}

/// Parses an RFC 3339 timestamp with any number of fractional digits into epoch milliseconds.
pub fn parse_rfc3339_millis(s: &str) -> Option<i64> {
    if let Some(ms) = parse_utc_fast(s) {
        return Some(ms);
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The common shape `YYYY-MM-DDTHH:MM:SS[.fff...]Z`, without chrono: audit timestamps are parsed
/// for every event, so this path matters. Anything else falls back to chrono.
fn parse_utc_fast(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut millis = 0;
    match b[19] {
        b'Z' if b.len() == 20 => {}
        b'.' => {
            let frac = &b[20..b.len() - 1];
            if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
                return None;
            }
            for (i, &c) in frac.iter().take(3).enumerate() {
                millis += i64::from(c - b'0') * [100, 10, 1][i];
            }
        }
        _ => return None,
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch milliseconds as RFC 3339 UTC with millisecond precision.
pub fn format_millis(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fast_time_parser_agrees_with_chrono() {
        for s in [
            "2024-05-01T12:00:00Z",
            "2018-10-26T13:42:46.764713Z",
            "2000-02-29T23:59:59.9Z",
            "1970-01-01T00:00:00.000000001Z",
            "2038-01-19T03:14:08.123Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
            assert_eq!(parse_utc_fast(s), Some(chrono), "{s}");
        }
        assert_eq!(
            parse_rfc3339_millis("2024-05-01T14:00:00+02:00"),
            parse_rfc3339_millis("2024-05-01T12:00:00Z")
        );
        assert_eq!(parse_rfc3339_millis("2024-13-01T12:00:00Z"), None);
        assert_eq!(parse_rfc3339_millis("2024-02-31T12:00:00Z"), None);
        assert_eq!(parse_rfc3339_millis("2023-02-29T12:00:00Z"), None);
        assert_eq!(parse_rfc3339_millis("2100-02-29T12:00:00Z"), None);
        assert!(parse_rfc3339_millis("2000-02-29T12:00:00Z").is_some());
        assert!(parse_rfc3339_millis("2024-04-30T12:00:00Z").is_some());
        assert_eq!(parse_rfc3339_millis("2024-04-31T12:00:00Z"), None);
        assert_eq!(parse_rfc3339_millis("yesterday"), None);
    }

    #[test]
    fn audit_time_prefers_request_received() {
        let e = Event::classify(
            json!({"verb": "get", "stageTimestamp": "2024-05-01T12:00:01Z",
                   "requestReceivedTimestamp": "2024-05-01T12:00:00Z", "@timestamp": "2024-05-02T00:00:00Z",
                   "auditID": "a1", "stage": "ResponseComplete"}),
            "x:1",
        )
        .unwrap();
        assert_eq!(
            e.time,
            parse_rfc3339_millis("2024-05-01T12:00:00Z").unwrap()
        );
        assert_eq!(&*e.id, "a1/ResponseComplete");
        let e = Event::classify(
            json!({"verb": "get", "@timestamp": "2024-05-02T00:00:00Z"}),
            "x:7",
        )
        .unwrap();
        assert_eq!(&*e.id, "x:7");
    }

    #[test]
    fn documents_that_are_not_events_say_why() {
        let err = Event::classify(json!({"kind": 0}), "t:1").unwrap_err();
        assert!(err.reason.contains("no string `verb`"), "{}", err.reason);
        let err = Event::classify(json!({"verb": "get"}), "t:1").unwrap_err();
        assert!(
            err.reason.contains("no `requestReceivedTimestamp`"),
            "{}",
            err.reason
        );
        let err = Event::classify(json!([1]), "t:1").unwrap_err();
        assert!(err.reason.contains("array"), "{}", err.reason);
        // A KubeArmor time in seconds too large for milliseconds is not a time.
        let err = Event::classify(
            json!({"UpdatedTime": "x", "Operation": "Process", "Timestamp": i64::MAX}),
            "t:1",
        )
        .unwrap_err();
        assert!(err.reason.contains("UpdatedTime"), "{}", err.reason);
    }
}
