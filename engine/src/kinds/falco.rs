//! Falco's alerts (`json_output: true`): `source falco`.
//!
//! Recognised by `rule`, `priority` and `output` together. The time is `time` (RFC 3339, with
//! nanoseconds); the id is `uuid` when Falco sets one (falcosidekick does), else the position.

use super::{event_time, EventKind, EventTime, Identity, NotAnEvent, TimeEncoding, TimeField};
use crate::alert::Context;
use crate::doc::Ref;
use crate::schema::Schema;

/// The Falco alert kind.
#[derive(Debug, Clone, Copy)]
pub struct Falco;

const TIME_FIELDS: &[TimeField] = &[TimeField {
    key: "time",
    encoding: TimeEncoding::Rfc3339,
}];

impl EventKind for Falco {
    fn name(&self) -> &'static str {
        "falco"
    }

    fn phrase(&self) -> &'static str {
        "a Falco alert"
    }

    fn recognises(&self, doc: Ref<'_>) -> bool {
        doc.get("rule").is_some() && doc.get("priority").is_some() && doc.get("output").is_some()
    }

    fn identify(&self, doc: Ref<'_>, position: &str) -> Result<Identity, NotAnEvent> {
        let EventTime::Millis(time) = event_time(doc, TIME_FIELDS) else {
            return Err(NotAnEvent {
                reason: "falco alert without an RFC 3339 `time`".into(),
            });
        };
        let id = doc.get("uuid").and_then(Ref::as_str).unwrap_or(position);
        Ok(Identity {
            time,
            id: id.into(),
            dedup_key: None,
        })
    }

    fn projection_keys(&self) -> &'static [&'static [&'static str]] {
        &[&["rule"], &["priority"], &["output"], &["uuid"]]
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
