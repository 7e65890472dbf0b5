//! Falco's alerts (`json_output: true`, as falcosidekick forwards them): `source falco`.
//!
//! Recognised by `rule`, `priority` and `output` together. The time is `time` (RFC 3339, with
//! nanoseconds); the id is `uuid` when there is one (falcosidekick sets it), else the position.
//!
//! The schema is Falco's JSON output (`json_include_output_property`, `json_include_tags_property`
//! on, as by default), checked against the real alerts of `shared/data/falco-alerts`.
//! `output_fields` holds the values of the fields the rule's output names, keyed by Falco field
//! names, which have dots: `output_fields["proc.cmdline"]`.

use super::{
    event_time, first_string, EventKind, EventTime, Identity, NotAnEvent, TimeEncoding, TimeField,
};
use crate::alert::Context;
use crate::doc::Ref;
use crate::schema::ty::{Ty, MAP, S, STRS, T};
use crate::schema::Schema;

/// The Falco alert kind.
#[derive(Debug, Clone, Copy)]
pub struct Falco;

const TIME_FIELDS: &[TimeField] = &[TimeField {
    key: "time",
    encoding: TimeEncoding::Rfc3339,
}];

/// Falco's priorities as its JSON output writes them (`falco_common::format_priority`), most
/// severe first.
pub const PRIORITIES: &[&str] = &[
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

const ALERT: Ty = Ty::Object(&[
    ("rule", S),
    ("priority", Ty::Enum(PRIORITIES)),
    ("output", S),
    ("output_fields", MAP),
    ("time", T),
    ("source", S),
    ("tags", STRS),
    ("hostname", S),
    ("uuid", S),
]);

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
        &[
            &["rule"],
            &["priority"],
            &["output"],
            &["uuid"],
            &["hostname"],
            &["output_fields", "user.name"],
            &["output_fields", "k8s.ns.name"],
            &["output_fields", "k8s.pod.name"],
            &["output_fields", "proc.cmdline"],
            &["output_fields", "container.name"],
            &["output_fields", "container.image.repository"],
        ]
    }

    fn time_fields(&self) -> &'static [TimeField] {
        TIME_FIELDS
    }

    fn schema(&self) -> Schema {
        Schema::of(&ALERT)
    }

    fn context(&self, doc: Ref<'_>) -> Context {
        let field = |key: &str| first_string(doc, &["output_fields", key]);
        let pod = field("k8s.pod.name");
        Context {
            user: field("user.name"),
            namespace: field("k8s.ns.name"),
            resource: pod.as_ref().map(|_| "pods".to_owned()),
            name: pod,
            host: first_string(doc, &["hostname"]),
            process: field("proc.cmdline"),
            container: field("container.name"),
            image: field("container.image.repository"),
            ..Context::default()
        }
    }
}
