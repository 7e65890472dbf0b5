//! Kubernetes API server audit events (`audit.k8s.io/v1` Event, and the older `v1beta1`): the
//! default kind, `source k8s_audit`.
//!
//! Recognised by a string `verb`. The time is the first present of `requestReceivedTimestamp`,
//! `stageTimestamp`, `timestamp` (v1beta1) and `@timestamp` (which shippers usually set to the
//! time they read the line, hence last). The id is `auditID/stage`, and the deduplication key
//! covers the fields of [`crate::decode::DEDUP_FIELDS`]. The schema is the audit event with the
//! Kubernetes objects of `requestObject` and `responseObject` (`crate::schema`).

use std::sync::Arc;

use super::{
    event_time_of, first_string, EventKind, EventTime, Identity, NotAnEvent, TimeEncoding,
    TimeField,
};
use crate::alert::Context;
use crate::doc::Ref;
use crate::schema::Schema;

/// The audit event kind.
#[derive(Debug, Clone, Copy)]
pub struct Audit;

/// The audit event time fields, in order of preference.
pub const TIME_FIELDS: &[TimeField] = &[
    rfc3339("requestReceivedTimestamp"),
    rfc3339("stageTimestamp"),
    rfc3339("timestamp"),
    rfc3339("@timestamp"),
];

const fn rfc3339(key: &'static str) -> TimeField {
    TimeField {
        key,
        encoding: TimeEncoding::Rfc3339,
    }
}

/// Every root key that recognising, identifying and deduplicating an event read, looked up in one
/// pass ([`Ref::get_all`]): the time fields, then `auditID`, `stage`, `verb`, `requestURI`, `user`
/// and `kind`.
pub(crate) const ROOT_KEYS: [&str; 10] = [
    TIME_FIELDS[0].key,
    TIME_FIELDS[1].key,
    TIME_FIELDS[2].key,
    TIME_FIELDS[3].key,
    "auditID",
    "stage",
    "verb",
    "requestURI",
    "user",
    "kind",
];

/// The time, id and deduplication key of an audit event, from the values of its [`ROOT_KEYS`].
/// `position` names an event that has no `auditID` (it is asked for only then).
fn identity<'a>(
    found: [Option<Ref<'a>>; ROOT_KEYS.len()],
    position: impl FnOnce() -> Arc<str>,
) -> Result<Identity, NotAnEvent> {
    let [received, stage_time, timestamp, at_timestamp, audit_id, stage, verb, uri, user, _kind] =
        found;
    let times = TIME_FIELDS
        .iter()
        .zip([received, stage_time, timestamp, at_timestamp]);
    let time = match event_time_of(times) {
        EventTime::Millis(ms) => ms,
        EventTime::Missing => return Err(NotAnEvent {
            reason: "not a Kubernetes audit event: it has a `verb` but no `requestReceivedTimestamp`, `stageTimestamp`, `timestamp` or `@timestamp`".into(),
        }),
        EventTime::Invalid(_, text) => {
            return Err(NotAnEvent {
                reason: format!(
                    "not a Kubernetes audit event: its time `{}` is not an RFC 3339 timestamp",
                    text.unwrap_or_default()
                ),
            })
        }
    };
    let (audit_id, stage) = (audit_id.and_then(Ref::as_str), stage.and_then(Ref::as_str));
    let id: Arc<str> = match (audit_id, stage) {
        (Some(audit_id), Some(stage)) => joined_id(audit_id, stage),
        (Some(audit_id), None) => audit_id.into(),
        _ => position(),
    };
    let str_of = |value: Option<Ref<'a>>| value.and_then(Ref::as_str);
    // In the order of `DEDUP_FIELDS`.
    let dedup_key = crate::decode::dedup_key_of([
        audit_id,
        stage,
        str_of(received),
        str_of(stage_time),
        str_of(verb),
        str_of(uri),
        str_of(user.and_then(|user| user.get("username"))),
    ]);
    Ok(Identity {
        time,
        id,
        dedup_key,
    })
}

/// `audit_id/stage`, in one allocation: through a `String`, an `Arc<str>` takes two and a copy,
/// for every event.
fn joined_id(audit_id: &str, stage: &str) -> Arc<str> {
    let mut buffer = [0u8; 128];
    let length = audit_id.len() + 1 + stage.len();
    if let Some(id) = buffer.get_mut(..length) {
        let (head, tail) = id.split_at_mut(audit_id.len());
        head.copy_from_slice(audit_id.as_bytes());
        tail[0] = b'/';
        tail[1..].copy_from_slice(stage.as_bytes());
        // Always UTF-8: two strings joined by an ASCII byte.
        if let Ok(id) = std::str::from_utf8(id) {
            return Arc::from(id);
        }
    }
    format!("{audit_id}/{stage}").into()
}

/// [`EventKind::identify_plain`] of an audit event from the values of its root's
/// [`ROOT_KEYS`] (what `get_all` finds there), however they were found: the decoder knows them
/// from the parse.
pub(crate) fn identify_plain_found(
    found: [Option<Ref<'_>>; ROOT_KEYS.len()],
    position: impl FnOnce() -> Arc<str>,
) -> Option<Result<Identity, NotAnEvent>> {
    let [received, .., verb, _, _, kind] = found;
    let plain = verb.is_some_and(Ref::is_string)
        && received.is_some()
        && kind.and_then(Ref::as_str) != Some("EventList");
    plain.then(|| identity(found, position))
}

impl EventKind for Audit {
    fn name(&self) -> &'static str {
        "k8s_audit"
    }

    fn phrase(&self) -> &'static str {
        "a Kubernetes audit event"
    }

    fn recognises(&self, doc: Ref<'_>) -> bool {
        doc.get("verb").is_some_and(Ref::is_string)
    }

    fn identify(&self, doc: Ref<'_>, position: &str) -> Result<Identity, NotAnEvent> {
        identity(doc.get_all(ROOT_KEYS), || position.into())
    }

    /// [`Audit::plain`] and [`Audit::identify`] from one pass over the event's members (this runs
    /// for every event).
    fn identify_plain(&self, doc: Ref<'_>, position: &str) -> Option<Result<Identity, NotAnEvent>> {
        identify_plain_found(doc.get_all(ROOT_KEYS), || position.into())
    }

    fn projection_keys(&self) -> &'static [&'static [&'static str]] {
        // `verb`, `auditID` and `stage` (recognition, id); the alert context; the deduplication
        // key's fields (`crate::decode::DEDUP_FIELDS`, `requestURI` the one not already here).
        &[
            &["verb"],
            &["auditID"],
            &["stage"],
            &["user", "username"],
            &["sourceIPs"],
            &["userAgent"],
            &["objectRef", "namespace"],
            &["objectRef", "resource"],
            &["objectRef", "subresource"],
            &["objectRef", "name"],
            &["requestURI"],
        ]
    }

    fn time_fields(&self) -> &'static [TimeField] {
        TIME_FIELDS
    }

    fn schema(&self) -> Schema {
        Schema::audit()
    }

    fn context(&self, doc: Ref<'_>) -> Context {
        let s = |path: &[&str]| first_string(doc, path);
        Context {
            user: s(&["user", "username"]),
            source_ip: s(&["sourceIPs"]),
            user_agent: s(&["userAgent"]),
            verb: s(&["verb"]),
            namespace: s(&["objectRef", "namespace"]),
            resource: s(&["objectRef", "resource"]),
            subresource: s(&["objectRef", "subresource"]),
            name: s(&["objectRef", "name"]),
            ..Context::default()
        }
    }

    /// A raw v1 event (a string `verb` and `requestReceivedTimestamp`, not an `EventList`) needs
    /// no unwrapping; anything else (v1beta1, shippers' wrappers) goes through the shapes.
    fn plain(&self, doc: Ref<'_>) -> bool {
        let [verb, received, kind] = doc.get_all(["verb", "requestReceivedTimestamp", "kind"]);
        verb.is_some_and(Ref::is_string)
            && received.is_some()
            && kind.and_then(Ref::as_str) != Some("EventList")
    }
}
