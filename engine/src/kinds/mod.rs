//! Event kinds: what k8scop knows about each kind of event it reads, in one place.
//!
//! Each kind is one file implementing [`EventKind`]: how a decoded document is recognised as one
//! of its events, its event time and id, the keys the decoder's projection must keep for it, the
//! schema its rules' field paths are checked against by `k8scop check`, and the alert
//! [`Context`] (who did what, where) its events give. [`REGISTRY`] lists the kinds; everything
//! that used to special-case a kind (classification in [`crate::event`], the decoder's
//! projection, sequence steps, alert context, the schema) asks the registry instead.
//!
//! Adding a kind is one file here and one line in [`REGISTRY`] (docs/event-kinds.md says how).
//!
//! A rule names its kind with `source NAME` (`k8s_audit` when absent) or `any`; the compiler
//! resolves the name with [`lookup`] into a [`KindSet`], so that the engine's per-event test is
//! one bit test.

use std::sync::Arc;

use crate::alert::Context;
use crate::doc::Ref;
use crate::event::parse_rfc3339_millis;
use crate::schema::Schema;

pub mod audit;
pub mod falco;
pub mod kubearmor;
pub mod sysdig;

/// One kind of event k8scop evaluates rules on.
///
/// Implementations are unit structs listed in [`REGISTRY`]. Every method but [`EventKind::identify`]
/// is cheap and side-effect free; `identify` runs once per decoded document of the kind.
pub trait EventKind: Sync {
    /// The name written after `source` (`k8s_audit`, `kubearmor`): lowercase, an identifier.
    fn name(&self) -> &'static str;

    /// How messages name one event of the kind: "a Kubernetes audit event".
    fn phrase(&self) -> &'static str;

    /// Whether a decoded document (already unwrapped from its shipper's shape) is of this kind.
    /// Kinds are tried in [`REGISTRY`] order and the first that recognises a document takes it,
    /// so a recogniser looks for the fields that only its kind has.
    fn recognises(&self, doc: Ref<'_>) -> bool;

    /// The time, id and deduplication key of a document this kind [recognises], or why it is not
    /// a valid event of the kind (no time, a time that does not parse). `position` (`file:line`)
    /// names the event when it has no id of its own.
    ///
    /// [recognises]: EventKind::recognises
    fn identify(&self, doc: Ref<'_>, position: &str) -> Result<Identity, NotAnEvent>;

    /// The keys, besides the rules' own field paths, that the decoder's projection must keep for
    /// this kind: what [`EventKind::recognises`], [`EventKind::identify`] and
    /// [`EventKind::context`] read. The time fields are added from [`EventKind::time_fields`].
    fn projection_keys(&self) -> &'static [&'static [&'static str]];

    /// The fields an event's time is read from, in order of preference: the first one present
    /// with the JSON type of its encoding gives the time.
    fn time_fields(&self) -> &'static [TimeField];

    /// The schema of the kind's events, for the field-path checks of `k8scop check`.
    fn schema(&self) -> Schema;

    /// Who did what, where, from an event of this kind: the alert document's ECS fields.
    fn context(&self, doc: Ref<'_>) -> Context;

    /// Whether the document can be classified as it was parsed, without the shippers' shapes
    /// being unwrapped (the decoder's fast path). The default: when the kind recognises it.
    fn plain(&self, doc: Ref<'_>) -> bool {
        self.recognises(doc)
    }

    /// [`EventKind::identify`] of a document the kind takes as it was parsed
    /// ([`EventKind::plain`]), `None` for any other: what the decoder asks of every document.
    /// A kind that reads the same keys for both overrides it to read them once.
    fn identify_plain(&self, doc: Ref<'_>, position: &str) -> Option<Result<Identity, NotAnEvent>> {
        self.plain(doc).then(|| self.identify(doc, position))
    }
}

/// The kinds k8scop knows, in the order they are tried on a document and listed in the docs.
///
/// INVARIANT: at most 32 kinds ([`KindSet`] is a 32-bit set), and [`KindId::AUDIT`] is first.
pub static REGISTRY: &[&dyn EventKind] = &[
    &audit::Audit,
    &kubearmor::KubeArmor,
    &falco::Falco,
    &sysdig::Sysdig,
];

/// The word that stands for every kind after `source`.
pub const ANY: &str = "any";

/// A kind of the [`REGISTRY`], by its position there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindId(u8);

impl KindId {
    /// Kubernetes audit events: the kind of a rule without `source` and of a sequence's inline
    /// step without a kind.
    pub const AUDIT: KindId = KindId(0);

    /// The kind's implementation.
    pub fn kind(self) -> &'static dyn EventKind {
        REGISTRY[usize::from(self.0)]
    }

    /// The kind's name (`k8s_audit`).
    pub fn name(self) -> &'static str {
        self.kind().name()
    }

    /// The kind's position in the [`REGISTRY`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Every kind of the registry, in its order.
    pub fn all() -> impl Iterator<Item = KindId> {
        (0..REGISTRY.len()).map(|i| KindId(i as u8))
    }
}

/// A set of kinds: what a rule (`source NAME`, or every kind for `source any`) or a sequence step
/// evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KindSet(u32);

impl KindSet {
    /// No kind.
    pub const EMPTY: KindSet = KindSet(0);

    /// Every kind of the registry (`source any`).
    pub fn all() -> KindSet {
        KindId::all().fold(KindSet::EMPTY, |set, k| set.with(k))
    }

    /// The set of one kind.
    pub fn of(kind: KindId) -> KindSet {
        KindSet(1 << kind.0)
    }

    /// This set and `kind`.
    pub fn with(self, kind: KindId) -> KindSet {
        KindSet(self.0 | 1 << kind.0)
    }

    /// The union of two sets.
    pub fn union(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }

    /// Whether `kind` is in the set.
    #[inline]
    pub fn contains(self, kind: KindId) -> bool {
        self.0 & (1 << kind.0) != 0
    }

    /// Whether the set has every kind (`source any`).
    pub fn is_all(self) -> bool {
        self == KindSet::all()
    }

    /// The set's only kind, if it has exactly one.
    pub fn single(self) -> Option<KindId> {
        (self.0.count_ones() == 1).then(|| KindId(self.0.trailing_zeros() as u8))
    }

    /// The kinds of the set, in registry order.
    pub fn iter(self) -> impl Iterator<Item = KindId> {
        KindId::all().filter(move |k| self.contains(*k))
    }

    /// How `source` would name the set: a kind's name, or `any`.
    pub fn describe(self) -> String {
        if self.is_all() {
            return ANY.to_owned();
        }
        self.iter().map(KindId::name).collect::<Vec<_>>().join(", ")
    }
}

/// What a name written after `source` (or before an inline step) stands for: one kind, or every
/// kind for `any`; `None` for a name the registry does not have.
pub fn lookup(name: &str) -> Option<KindSet> {
    if name == ANY {
        return Some(KindSet::all());
    }
    KindId::all().find(|k| k.name() == name).map(KindSet::of)
}

/// Every name `source` accepts: the kinds' names, then `any`.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|k| k.name()).chain([ANY]).collect()
}

/// The kind that recognises `doc`, in registry order.
pub fn recognise(doc: Ref<'_>) -> Option<KindId> {
    KindId::all().find(|k| k.kind().recognises(doc))
}

/// The kind that takes `doc` as it was parsed ([`EventKind::plain`]), if any, with what it
/// identifies of it ([`EventKind::identify_plain`]).
pub fn identify_plain(
    doc: Ref<'_>,
    position: &str,
) -> Option<(KindId, Result<Identity, NotAnEvent>)> {
    identify_plain_among(KindId::all(), doc, position)
}

/// [`identify_plain`] for a document the audit kind (the first one) has already declined.
pub(crate) fn identify_plain_not_audit(
    doc: Ref<'_>,
    position: &str,
) -> Option<(KindId, Result<Identity, NotAnEvent>)> {
    identify_plain_among(KindId::all().filter(|&k| k != KindId::AUDIT), doc, position)
}

fn identify_plain_among(
    kinds: impl Iterator<Item = KindId>,
    doc: Ref<'_>,
    position: &str,
) -> Option<(KindId, Result<Identity, NotAnEvent>)> {
    kinds.into_iter().find_map(|k| {
        k.kind()
            .identify_plain(doc, position)
            .map(|identity| (k, identity))
    })
}

/// Every key the decoder's projection keeps for the kinds: their [`EventKind::projection_keys`]
/// and time fields.
pub fn projection_keys() -> Vec<Vec<&'static str>> {
    let mut keys = Vec::new();
    for kind in REGISTRY {
        keys.extend(kind.projection_keys().iter().map(|k| k.to_vec()));
        keys.extend(kind.time_fields().iter().map(|t| vec![t.key]));
    }
    keys
}

/// What [`EventKind::identify`] finds out about an event.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Event time, milliseconds since the Unix epoch.
    pub time: i64,
    /// The event's id (see [`crate::event::Event::id`]).
    pub id: Arc<str>,
    /// The deduplication key, for kinds whose events can arrive twice (audit events).
    pub dedup_key: Option<u64>,
}

/// Why a JSON document is not an event k8scop can evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnEvent {
    /// The reason, as reported to the user (lowercase, no final period).
    pub reason: String,
}

/// A field that carries an event's time, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeField {
    /// The top-level key.
    pub key: &'static str,
    /// How the value encodes the time.
    pub encoding: TimeEncoding,
}

/// How a time field encodes its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeEncoding {
    /// An RFC 3339 string, any number of fractional digits.
    Rfc3339,
    /// An integer count of seconds since the Unix epoch.
    EpochSeconds,
    /// An integer count of nanoseconds since the Unix epoch (sysdig).
    EpochNanos,
}

impl TimeEncoding {
    /// The encoding in words, for the docs and messages.
    pub fn describe(self) -> &'static str {
        match self {
            TimeEncoding::Rfc3339 => "RFC 3339 string",
            TimeEncoding::EpochSeconds => "integer seconds since the epoch",
            TimeEncoding::EpochNanos => "integer nanoseconds since the epoch",
        }
    }
}

/// The time an event's [`TimeField`]s give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTime<'a> {
    /// Milliseconds since the Unix epoch.
    Millis(i64),
    /// No field of the list is present with the JSON type of its encoding.
    Missing,
    /// The first present field does not hold a valid time: its key and, for a string, its text.
    Invalid(&'static str, Option<&'a str>),
}

/// The time of `doc` from the first of `fields` that is present with the JSON type of its
/// encoding (a string for RFC 3339, an integer for epoch counts). That field decides: a value
/// that is not a valid time does not fall through to the next field.
pub fn event_time<'a>(doc: Ref<'a>, fields: &[TimeField]) -> EventTime<'a> {
    event_time_of(fields.iter().map(|field| (field, doc.get(field.key))))
}

/// [`event_time`] of values already looked up: each time field with its value in the event (a
/// kind that reads several keys of an event in one pass, [`Ref::get_all`], passes them this way).
pub fn event_time_of<'a, 'f>(
    fields: impl IntoIterator<Item = (&'f TimeField, Option<Ref<'a>>)>,
) -> EventTime<'a> {
    for (field, value) in fields {
        let Some(value) = value else {
            continue;
        };
        let millis = match field.encoding {
            TimeEncoding::Rfc3339 => {
                let Some(text) = value.as_str() else {
                    continue;
                };
                match parse_rfc3339_millis(text) {
                    Some(ms) => ms,
                    None => return EventTime::Invalid(field.key, Some(text)),
                }
            }
            TimeEncoding::EpochSeconds => {
                let Some(s) = value.as_i64() else { continue };
                match s.checked_mul(1000) {
                    Some(ms) => ms,
                    None => return EventTime::Invalid(field.key, None),
                }
            }
            TimeEncoding::EpochNanos => {
                let Some(ns) = value.as_i64() else { continue };
                ns.div_euclid(1_000_000)
            }
        };
        return EventTime::Millis(millis);
    }
    EventTime::Missing
}

/// The first string at `path` (the first string item of an array there), for alert contexts.
pub(crate) fn first_string(doc: Ref<'_>, path: &[&str]) -> Option<String> {
    let mut v = doc;
    for key in path {
        v = v.get(key)?;
    }
    match v.as_str() {
        Some(s) => Some(s.to_owned()),
        None => v.items().next().and_then(Ref::as_str).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Doc;
    use serde_json::json;

    #[test]
    fn registry_names_are_unique_identifiers_and_audit_is_first() {
        assert_eq!(KindId::AUDIT.name(), "k8s_audit");
        let names = names();
        for (i, name) in names.iter().enumerate() {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            assert!(!names[..i].contains(name), "{name} twice");
        }
        assert!(REGISTRY.len() <= 32);
    }

    #[test]
    fn lookup_gives_one_kind_or_every_kind() {
        assert_eq!(lookup("k8s_audit"), Some(KindSet::of(KindId::AUDIT)));
        assert!(lookup("any").is_some_and(KindSet::is_all));
        assert_eq!(lookup("kubearmour"), None);
        let falco = lookup("falco").and_then(KindSet::single).unwrap();
        assert_eq!(falco.name(), "falco");
        assert!(!KindSet::of(falco).contains(KindId::AUDIT));
        assert_eq!(KindSet::all().describe(), "any");
        assert_eq!(KindSet::of(falco).describe(), "falco");
    }

    fn event(v: serde_json::Value) -> crate::event::Event {
        crate::event::Event::classify(v, "t:1").unwrap()
    }

    #[test]
    fn sysdig_default_format_is_timed_by_its_output_time() {
        // `sysdig -j` without `-p` prints `evt.outputtime`, not `evt.rawtime`.
        let e = event(
            json!({"evt.cpu": 0, "evt.dir": "<", "evt.info": "res=0 ", "evt.num": 1096,
                             "evt.outputtime": 1486171335286728910_i64, "evt.type": "select",
                             "proc.name": "python", "thread.tid": 16569}),
        );
        assert_eq!(e.kind.name(), "sysdig");
        assert_eq!(e.time, 1486171335286);
        assert_eq!(&*e.id, "t:1#1096");
        let err =
            crate::event::Event::classify(json!({"evt.type": "open", "evt.time": "x"}), "t:2")
                .unwrap_err();
        assert!(err.reason.contains("`evt.outputtime`"), "{}", err.reason);
    }

    #[test]
    fn each_kind_gives_its_alert_context() {
        let kubearmor = event(json!({
            "UpdatedTime": "2023-06-11T13:43:43.291471Z", "HostName": "ip-172-31-24-142",
            "NamespaceName": "default", "PodName": "nginx-8f458dc5b-fl42t", "ContainerName": "nginx",
            "ContainerImage": "docker.io/library/nginx:latest", "ProcessName": "/bin/cat",
            "Type": "ContainerLog", "Operation": "Process"}));
        let c = kubearmor.context();
        assert_eq!(c.host.as_deref(), Some("ip-172-31-24-142"));
        assert_eq!(c.namespace.as_deref(), Some("default"));
        assert_eq!(c.resource.as_deref(), Some("pods"));
        assert_eq!(c.name.as_deref(), Some("nginx-8f458dc5b-fl42t"));
        assert_eq!(c.process.as_deref(), Some("/bin/cat"));
        assert_eq!(c.container.as_deref(), Some("nginx"));
        assert_eq!(c.image.as_deref(), Some("docker.io/library/nginx:latest"));
        assert_eq!((c.user, c.verb, c.source_ip), (None, None, None));

        let falco = event(json!({
            "rule": "Terminal shell in container", "priority": "Notice", "output": "shell",
            "time": "2024-05-01T12:00:00.123456789Z", "hostname": "node-1",
            "output_fields": {"k8s.ns.name": "web", "k8s.pod.name": "api-0", "user.name": "root",
                              "proc.cmdline": "bash -i", "container.name": "api"}}));
        let c = falco.context();
        assert_eq!(c.host.as_deref(), Some("node-1"));
        assert_eq!(c.user.as_deref(), Some("root"));
        assert_eq!(
            (c.namespace.as_deref(), c.name.as_deref()),
            (Some("web"), Some("api-0"))
        );
        assert_eq!(c.process.as_deref(), Some("bash -i"));
        assert_eq!(c.container.as_deref(), Some("api"));

        // A process outside containers (`host`) has no container; `<NA>` is no value.
        let sysdig = event(json!({
            "evt.num": 1, "evt.type": "open", "evt.rawtime": 1, "container.id": "host",
            "container.name": "host", "proc.name": "cat", "proc.cmdline": "<NA>",
            "user.name": "mstemm"}));
        let c = sysdig.context();
        assert_eq!(c.process.as_deref(), Some("cat"));
        assert_eq!(c.user.as_deref(), Some("mstemm"));
        assert_eq!(c.container, None);
    }

    #[test]
    fn the_first_present_time_field_decides() {
        const FIELDS: &[TimeField] = &[
            TimeField {
                key: "a",
                encoding: TimeEncoding::Rfc3339,
            },
            TimeField {
                key: "b",
                encoding: TimeEncoding::EpochNanos,
            },
            TimeField {
                key: "c",
                encoding: TimeEncoding::EpochSeconds,
            },
        ];
        let time = |v: serde_json::Value| {
            let doc = Doc::from_value(&v);
            match event_time(doc.root(), FIELDS) {
                EventTime::Millis(ms) => Ok(ms),
                EventTime::Missing => Err("missing".to_owned()),
                EventTime::Invalid(key, _) => Err(key.to_owned()),
            }
        };
        assert_eq!(time(json!({"a": "1970-01-01T00:00:01Z", "b": 5})), Ok(1000));
        // A field of the wrong JSON type is not the time field.
        assert_eq!(time(json!({"a": 7, "b": 2_500_000_000_i64})), Ok(2500));
        assert_eq!(time(json!({"c": 3})), Ok(3000));
        assert_eq!(time(json!({"a": "yesterday", "b": 5})), Err("a".into()));
        assert_eq!(time(json!({"c": i64::MAX})), Err("c".into()));
        assert_eq!(time(json!({"d": 1})), Err("missing".into()));
    }
}
