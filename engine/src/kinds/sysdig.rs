//! `sysdig -j` events: `source sysdig`.
//!
//! Recognised by `evt.num` or `evt.type` (top-level keys with dots in them). The time is
//! `evt.rawtime`, else `evt.time`, integer nanoseconds; the id is the position and `evt.num`.

use super::{event_time, EventKind, EventTime, Identity, NotAnEvent, TimeEncoding, TimeField};
use crate::alert::Context;
use crate::doc::Ref;
use crate::schema::Schema;

/// The sysdig kind.
#[derive(Debug, Clone, Copy)]
pub struct Sysdig;

const TIME_FIELDS: &[TimeField] = &[
    TimeField {
        key: "evt.rawtime",
        encoding: TimeEncoding::EpochNanos,
    },
    TimeField {
        key: "evt.time",
        encoding: TimeEncoding::EpochNanos,
    },
];

impl EventKind for Sysdig {
    fn name(&self) -> &'static str {
        "sysdig"
    }

    fn phrase(&self) -> &'static str {
        "a sysdig event"
    }

    fn recognises(&self, doc: Ref<'_>) -> bool {
        doc.get("evt.num").is_some() || doc.get("evt.type").is_some()
    }

    fn identify(&self, doc: Ref<'_>, position: &str) -> Result<Identity, NotAnEvent> {
        let EventTime::Millis(time) = event_time(doc, TIME_FIELDS) else {
            return Err(NotAnEvent {
                reason:
                    "sysdig event without an integer `evt.time` or `evt.rawtime` in nanoseconds"
                        .into(),
            });
        };
        let id = match doc.get("evt.num").and_then(Ref::as_i64) {
            Some(n) => format!("{position}#{n}"),
            None => position.to_owned(),
        };
        Ok(Identity {
            time,
            id: id.into(),
            dedup_key: None,
        })
    }

    fn projection_keys(&self) -> &'static [&'static [&'static str]] {
        &[&["evt.num"], &["evt.type"]]
    }

    fn time_fields(&self) -> &'static [TimeField] {
        TIME_FIELDS
    }

    fn schema(&self) -> Schema {
        Schema::FREE_FORM
    }

    fn context(&self, _doc: Ref<'_>) -> Context {
        Context::default()
    }
}
