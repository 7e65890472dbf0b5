//! KubeArmor's alerts and logs (`karmor logs --json`, the relay's JSON): `source kubearmor`.
//!
//! Recognised by `UpdatedTime` with `Operation` or `HostName`. The time is `UpdatedTime`
//! (RFC 3339), else `Timestamp` (integer seconds); events have no id of their own, so the id is
//! the position.

use super::{event_time, EventKind, EventTime, Identity, NotAnEvent, TimeEncoding, TimeField};
use crate::alert::Context;
use crate::doc::Ref;
use crate::schema::Schema;

/// The KubeArmor kind.
#[derive(Debug, Clone, Copy)]
pub struct KubeArmor;

const TIME_FIELDS: &[TimeField] = &[
    TimeField {
        key: "UpdatedTime",
        encoding: TimeEncoding::Rfc3339,
    },
    TimeField {
        key: "Timestamp",
        encoding: TimeEncoding::EpochSeconds,
    },
];

impl EventKind for KubeArmor {
    fn name(&self) -> &'static str {
        "kubearmor"
    }

    fn phrase(&self) -> &'static str {
        "a KubeArmor event"
    }

    fn recognises(&self, doc: Ref<'_>) -> bool {
        doc.get("UpdatedTime").is_some()
            && (doc.get("Operation").is_some() || doc.get("HostName").is_some())
    }

    fn identify(&self, doc: Ref<'_>, position: &str) -> Result<Identity, NotAnEvent> {
        let EventTime::Millis(time) = event_time(doc, TIME_FIELDS) else {
            return Err(NotAnEvent {
                reason: "kubearmor event without a valid `UpdatedTime`".into(),
            });
        };
        Ok(Identity {
            time,
            id: position.into(),
            dedup_key: None,
        })
    }

    fn projection_keys(&self) -> &'static [&'static [&'static str]] {
        &[&["Operation"], &["HostName"]]
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
