//! Alerts and their JSON document.
//!
//! The document follows ECS where ECS has a field (`@timestamp`, `message`, `event.kind`,
//! `event.severity`, `rule.*`, `tags`, `user.name`, `source.ip`, `user_agent.original`) and keeps
//! k8scop's own fields under `k8scop.`. The same document goes to stdout (`--format json`), files
//! and Elasticsearch, where `k8scop.id` is the document id, so a re-run updates instead of
//! duplicating. `docs/alerts.md` documents every field.

use std::sync::Arc;

use k8scop_grammar::ast::Severity;
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::doc::Ref;
use crate::event::format_millis;
use crate::json_text::{self, List, Object};
use crate::path::FieldPath;
use crate::ruleset::Detection;
use crate::state::Sample;

/// Whether an alert is new or an update of an alert already emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// The first update of an alert: a new alert document.
    New,
    /// A later event counted into an alert already emitted (its count and last time changed).
    Updated,
}

/// One alert, as of its latest update.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Stable id (see [`crate::state::aggregate::alert_id`]): the alerts index's document id.
    pub id: String,
    /// The rule or sequence that raised it.
    pub detection: Arc<Detection>,
    /// The title rendered from the first event.
    pub title: String,
    /// Events aggregated into this alert so far.
    pub count: u64,
    /// Event time of the first event, milliseconds since the Unix epoch.
    pub first_seen: i64,
    /// Event time of the latest event, milliseconds since the Unix epoch.
    pub last_seen: i64,
    /// The first events counted (ids and times), as many as the alert keeps.
    pub samples: Vec<Sample>,
    /// The group key: each `group by` path (or `title`) with its value in the first event.
    pub group: Arc<[(String, Option<String>)]>,
    /// The rule's `fields`, from the first event.
    pub fields: Arc<Map<String, Value>>,
    /// Who did what to which object, from the first event.
    pub context: Arc<Context>,
}

/// An alert as it changed on one event.
#[derive(Debug, Clone)]
pub struct AlertUpdate {
    /// Whether the alert is new or an update.
    pub kind: AlertKind,
    /// The alert as of this event.
    pub alert: Alert,
}

/// Who did what, where: the fields every alert document carries (ECS `user.name`, `source.ip`,
/// `kubernetes.*`...), from the alert's first event, as its kind reads them
/// ([`crate::kinds::EventKind::context`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Context {
    /// `user.username`.
    pub user: Option<String>,
    /// The first of `sourceIPs`.
    pub source_ip: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// `verb`.
    pub verb: Option<String>,
    /// `objectRef.namespace`.
    pub namespace: Option<String>,
    /// `objectRef.resource`.
    pub resource: Option<String>,
    /// `objectRef.subresource`.
    pub subresource: Option<String>,
    /// `objectRef.name`.
    pub name: Option<String>,
    /// The host (node) the event happened on: KubeArmor's `HostName`, Falco's `hostname`.
    #[serde(default)]
    pub host: Option<String>,
    /// The process: its command line where the event has one, else its executable.
    #[serde(default)]
    pub process: Option<String>,
    /// The container's name.
    #[serde(default)]
    pub container: Option<String>,
    /// The container's image.
    #[serde(default)]
    pub image: Option<String>,
}

/// Renders a key value: strings as they are, other values as JSON, several values as a JSON list.
pub fn render_values(values: &[Ref<'_>]) -> Option<String> {
    match values {
        [] => None,
        [v] => Some(match v.as_str() {
            Some(s) => s.to_owned(),
            None => v.to_value().to_string(),
        }),
        many => Some(Value::Array(many.iter().map(|v| v.to_value()).collect()).to_string()),
    }
}

/// The values of `fields` in `event`, keyed by the path as written.
pub fn field_values(fields: &[FieldPath], event: Ref<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    for path in fields {
        let values = path.collect(event, false);
        let value = match values.as_slice() {
            [] => Value::Null,
            [v] => v.to_value(),
            many => Value::Array(many.iter().map(|v| v.to_value()).collect()),
        };
        out.insert(path.text().to_owned(), value);
    }
    out
}

/// ECS `event.severity` for each severity (a number, as ECS wants).
pub fn ecs_severity(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

impl Alert {
    /// The alert document (ECS plus `k8scop.*`) as a `serde_json::Value`, for callers that add
    /// to it. Sinks that only write it use [`AlertDoc::write_json`], which writes the same
    /// document's text without building a tree first.
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.doc().to_text()).unwrap_or(Value::Null)
    }

    /// The alert document, serialisable as it is: the same JSON as [`Alert::to_json`], keys in
    /// the same (sorted) order, written straight from the alert.
    pub fn doc(&self) -> AlertDoc<'_> {
        AlertDoc {
            alert: self,
            events_url: None,
        }
    }
}

/// An alert's document, written straight from the [`Alert`] (see [`Alert::doc`]).
///
/// Objects are written with their keys in byte order, as a `serde_json::Map` (a sorted map)
/// writes them, so that both forms of the document are the same text.
pub struct AlertDoc<'a> {
    alert: &'a Alert,
    events_url: Option<String>,
}

impl AlertDoc<'_> {
    /// The document with `k8scop.events_url`, the link to the alert's events in Kibana.
    pub fn with_events_url(mut self, url: String) -> Self {
        self.events_url = Some(url);
        self
    }
}

/// Writes timestamps in milliseconds as JSON strings, RFC 3339 with milliseconds
/// (`format_millis`). It keeps the date of the last one, which an alert's other times mostly
/// share.
#[derive(Default)]
struct Stamps {
    /// The last day written (days since 1970-01-01), and the buffer with its date.
    day: Option<i64>,
    buf: [u8; 24],
}

impl Stamps {
    fn push(&mut self, out: &mut Vec<u8>, ms: i64) {
        let day = ms.div_euclid(86_400_000);
        if self.day != Some(day) {
            if !write_date(day, &mut self.buf) {
                json_text::push_str(out, &format_millis(ms));
                return;
            }
            self.day = Some(day);
        }
        write_time(ms.rem_euclid(86_400_000), &mut self.buf);
        // Digits and separators: nothing to escape.
        out.push(b'"');
        out.extend_from_slice(&self.buf);
        out.push(b'"');
    }
}

/// Appends the one-key object `{"KEY": VALUE}` of a string.
fn push_one(out: &mut Vec<u8>, key: &str, value: &str) {
    let mut object = Object::open(out);
    object.named_str(key, value);
    object.close();
}

impl AlertDoc<'_> {
    /// Appends the document's JSON text to `out`: the text `serde_json` writes of
    /// [`Alert::to_json`], objects with their keys in byte order as a `serde_json::Map` (a
    /// sorted map) keeps them, written straight from the alert.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let a = self.alert;
        let d = &a.detection;
        let c = &*a.context;
        let mut stamps = Stamps::default();
        let mut doc = Object::open(out);
        stamps.push(doc.name("@timestamp"), a.last_seen);
        if c.container.is_some() || c.image.is_some() {
            let mut container = Object::open(doc.name("container"));
            if let Some(image) = &c.image {
                push_one(container.name("image"), "name", image);
            }
            if let Some(name) = &c.container {
                container.named_str("name", name);
            }
            container.close();
        }
        let mut event = Object::open(doc.name("event"));
        event
            .name("category")
            .extend_from_slice(b"[\"configuration\"]");
        json_text::push_u64(event.name("count"), a.count);
        stamps.push(event.name("end"), a.last_seen);
        event.named_str("kind", "alert");
        json_text::push_u64(event.name("severity"), ecs_severity(d.severity).into());
        stamps.push(event.name("start"), a.first_seen);
        event.close();
        if let Some(host) = &c.host {
            push_one(doc.name("host"), "name", host);
        }
        self.write_own(doc.name("k8scop"), &mut stamps);
        let k8s = [
            ("name", &c.name),
            ("namespace", &c.namespace),
            ("resource", &c.resource),
            ("subresource", &c.subresource),
            ("verb", &c.verb),
        ];
        if k8s.iter().any(|(_, v)| v.is_some()) {
            let mut kubernetes = Object::open(doc.name("kubernetes"));
            for (key, value) in k8s {
                if let Some(value) = value {
                    kubernetes.named_str(key, value);
                }
            }
            kubernetes.close();
        }
        doc.named_str("message", &a.title);
        if let Some(process) = &c.process {
            push_one(doc.name("process"), "command_line", process);
        }
        let mut rule = Object::open(doc.name("rule"));
        if !d.author.is_empty() {
            json_text::push_strs(rule.name("author"), &[&d.author]);
        }
        if !d.description.is_empty() {
            rule.named_str("description", &d.description);
        }
        rule.named_str("id", &d.name);
        rule.named_str("name", &d.name);
        if let Some(reference) = d.references.first() {
            rule.named_str("reference", reference);
        }
        rule.named_str("ruleset", &d.file);
        rule.close();
        if let Some(ip) = &c.source_ip {
            push_one(doc.name("source"), "ip", ip);
        }
        if !d.tags.is_empty() {
            json_text::push_strs(doc.name("tags"), &d.tags);
        }
        if let Some(user) = &c.user {
            push_one(doc.name("user"), "name", user);
        }
        if let Some(ua) = &c.user_agent {
            push_one(doc.name("user_agent"), "original", ua);
        }
        doc.close();
    }

    /// Appends the `k8scop` object.
    fn write_own(&self, out: &mut Vec<u8>, stamps: &mut Stamps) {
        let a = self.alert;
        let d = &a.detection;
        let mut own = Object::open(out);
        json_text::push_u64(own.name("count"), a.count);
        if let Some(url) = &self.events_url {
            own.named_str("events_url", url);
        }
        if !a.fields.is_empty() {
            let mut fields = Object::open(own.name("fields"));
            for (key, value) in a.fields.iter() {
                json_text::push_value(fields.key(key), value);
            }
            fields.close();
        }
        own.named_str("file", &d.file);
        stamps.push(own.name("first_seen"), a.first_seen);
        // The group key sorted by path, the last of a repeated path kept (as a map built from
        // the pairs would).
        let mut entries: Vec<&(String, Option<String>)> = a.group.iter().rev().collect();
        entries.sort_by(|x, y| x.0.cmp(&y.0));
        entries.dedup_by(|later, first| later.0 == first.0);
        let mut group = Object::open(own.name("group"));
        for (key, value) in entries {
            match value {
                Some(value) => group.str(key, value),
                None => group.key(key).extend_from_slice(b"null"),
            }
        }
        group.close();
        own.named_str("id", &a.id);
        own.named_str("kind", d.kind.as_str());
        stamps.push(own.name("last_seen"), a.last_seen);
        if !d.references.is_empty() {
            json_text::push_strs(own.name("references"), &d.references);
        }
        own.named_str("rule", &d.name);
        let mut samples = List::open(own.name("samples"));
        for sample in &a.samples {
            let mut one = Object::open(samples.item());
            one.named_str("id", &sample.event_id);
            stamps.push(one.name("time"), sample.time);
            one.close();
        }
        samples.close();
        own.named_str("severity", d.severity.as_str());
        own.named_str("title", &a.title);
        own.close();
    }

    /// The document's JSON text (see [`AlertDoc::write_json`]).
    pub fn to_text(&self) -> String {
        let mut out = Vec::with_capacity(2048);
        self.write_json(&mut out);
        // Only strings and ASCII go in, so the text is UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The document serialises as its JSON text ([`AlertDoc::write_json`]), embedded as it is by
/// `serde_json`'s writers and parsed by `serde_json::to_value`.
impl Serialize for AlertDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.to_text()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// Writes the date of a day (days since 1970-01-01), `YYYY-MM-DDT`, into `buf[..11]`; false
/// outside the years 0 to 9999.
fn write_date(days: i64, buf: &mut [u8; 24]) -> bool {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return false;
    }
    put_digits(buf, 0, year, 4);
    put_digits(buf, 5, month, 2);
    put_digits(buf, 8, day, 2);
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    true
}

/// Writes the time of day (`in_day` milliseconds), `HH:MM:SS.mmmZ`, into `buf[11..]`.
fn write_time(in_day: i64, buf: &mut [u8; 24]) {
    put_digits(buf, 11, in_day / 3_600_000, 2);
    put_digits(buf, 14, in_day / 60_000 % 60, 2);
    put_digits(buf, 17, in_day / 1000 % 60, 2);
    put_digits(buf, 20, in_day % 1000, 3);
    buf[13] = b':';
    buf[16] = b':';
    buf[19] = b'.';
    buf[23] = b'Z';
}

/// Writes `value` in `width` decimal digits at `buf[at..]`.
fn put_digits(buf: &mut [u8; 24], at: usize, value: i64, width: usize) {
    let mut v = value;
    for i in (0..width).rev() {
        buf[at + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The document as `Alert::to_json` built it before `AlertDoc`: the oracle.
    fn legacy(alert: &Alert) -> Value {
        let this = alert;

        let d = &this.detection;
        let mut doc = Map::new();
        doc.insert("@timestamp".into(), json!(format_millis(this.last_seen)));
        doc.insert("message".into(), json!(this.title));
        doc.insert(
            "event".into(),
            json!({
                "kind": "alert",
                "category": ["configuration"],
                "severity": ecs_severity(d.severity),
                "start": format_millis(this.first_seen),
                "end": format_millis(this.last_seen),
                "count": this.count,
            }),
        );
        let mut rule = Map::new();
        rule.insert("name".into(), json!(&*d.name));
        rule.insert("id".into(), json!(&*d.name));
        rule.insert("ruleset".into(), json!(d.file));
        if !d.description.is_empty() {
            rule.insert("description".into(), json!(d.description));
        }
        if !d.author.is_empty() {
            rule.insert("author".into(), json!([d.author]));
        }
        if let Some(reference) = d.references.first() {
            rule.insert("reference".into(), json!(reference));
        }
        doc.insert("rule".into(), Value::Object(rule));
        if !d.tags.is_empty() {
            doc.insert("tags".into(), json!(d.tags));
        }
        let c = &this.context;
        if let Some(user) = &c.user {
            doc.insert("user".into(), json!({ "name": user }));
        }
        if let Some(ip) = &c.source_ip {
            doc.insert("source".into(), json!({ "ip": ip }));
        }
        if let Some(ua) = &c.user_agent {
            doc.insert("user_agent".into(), json!({ "original": ua }));
        }
        if let Some(host) = &c.host {
            doc.insert("host".into(), json!({ "name": host }));
        }
        if let Some(process) = &c.process {
            doc.insert("process".into(), json!({ "command_line": process }));
        }
        let mut container = Map::new();
        if let Some(name) = &c.container {
            container.insert("name".into(), json!(name));
        }
        if let Some(image) = &c.image {
            container.insert("image".into(), json!({ "name": image }));
        }
        if !container.is_empty() {
            doc.insert("container".into(), Value::Object(container));
        }
        let mut k8s = Map::new();
        for (key, value) in [
            ("namespace", &c.namespace),
            ("resource", &c.resource),
            ("subresource", &c.subresource),
            ("name", &c.name),
            ("verb", &c.verb),
        ] {
            if let Some(v) = value {
                k8s.insert(key.into(), json!(v));
            }
        }
        if !k8s.is_empty() {
            doc.insert("kubernetes".into(), Value::Object(k8s));
        }
        let group: Map<String, Value> = this
            .group
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map_or(Value::Null, |v| json!(v))))
            .collect();
        let samples: Vec<Value> = this
            .samples
            .iter()
            .map(|s| json!({ "id": &*s.event_id, "time": format_millis(s.time) }))
            .collect();
        let mut own = json!({
            "id": this.id,
            "kind": d.kind.as_str(),
            "rule": &*d.name,
            "title": this.title,
            "severity": d.severity.as_str(),
            "count": this.count,
            "first_seen": format_millis(this.first_seen),
            "last_seen": format_millis(this.last_seen),
            "group": group,
            "samples": samples,
            "file": d.file,
        });
        if !d.references.is_empty() {
            own["references"] = json!(d.references);
        }
        if !this.fields.is_empty() {
            own["fields"] = Value::Object((*this.fields).clone());
        }
        doc.insert("k8scop".into(), own);
        Value::Object(doc)
    }

    #[test]
    fn the_document_is_the_one_built_as_a_value() {
        use crate::{Engine, Event, Output};

        let rules = r#"
list admins = ["alice"]
rule bare { when verb == "get" }
rule full {
    title       "{user.username} did {verb} on {objectRef.name}"
    severity    high
    description "Everything an alert can carry."
    tags        ["mitre:T1609", "attack:execution"]
    author      "k8scop"
    references  ["https://example.com/a", "https://example.com/b"]
    when        verb in ["create", "delete"]
    fields      [objectRef.namespace, sourceIPs, requestObject.spec.containers.image, missing.field]
    group by    user.username, objectRef.name, user.username
    within      1h
}
rule armor {
    source      kubearmor
    severity    critical
    when        Type == "MatchedPolicy"
    group by    HostName
}
"#;
        let ruleset = std::sync::Arc::new(crate::loader::ruleset_of(rules));
        let events = [
            json!({"verb": "get", "requestReceivedTimestamp": "2024-05-01T12:00:00Z"}),
            json!({"verb": "create", "user": {"username": "alice \"q\" \u{e9}"},
                   "sourceIPs": ["10.0.0.1", "10.0.0.2"], "userAgent": "kubectl/1.29",
                   "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "web",
                                 "name": "api-0"},
                   "requestObject": {"spec": {"containers": [{"image": "a"}, {"image": "b"}]}},
                   "requestReceivedTimestamp": "1969-12-31T23:59:59.5Z"}),
            json!({"verb": "delete", "user": {"username": "alice \"q\" \u{e9}"},
                   "objectRef": {"name": "api-0"},
                   "requestReceivedTimestamp": "9999-12-31T23:59:59.999Z"}),
            json!({"Timestamp": 1714564800, "UpdatedTime": "2024-05-01T12:00:00.123456Z",
                   "HostName": "node-1", "ContainerName": "nginx", "Type": "MatchedPolicy",
                   "Resource": "/bin/sh", "Operation": "Process", "ProcessName": "/bin/sh",
                   "Source": "/bin/bash", "Data": "syscall=SYS_EXECVE"}),
        ];
        let mut engine = Engine::new(ruleset);
        let mut out = Output::default();
        for (i, event) in events.into_iter().enumerate() {
            let event = Event::classify(event, &format!("t:{i}")).expect("an event");
            engine.process(&event, &mut out);
        }
        assert!(out.alerts.len() >= 4, "{}", out.alerts.len());
        for update in &out.alerts {
            let direct = serde_json::to_string(&update.alert.doc()).expect("serialises");
            assert_eq!(direct, legacy(&update.alert).to_string());
            assert_eq!(update.alert.to_json(), legacy(&update.alert));
            let mut linked = legacy(&update.alert);
            linked["k8scop"]["events_url"] = json!("https://kibana/x?a=\"b\"");
            let with_url = update
                .alert
                .doc()
                .with_events_url("https://kibana/x?a=\"b\"".into());
            assert_eq!(
                serde_json::to_string(&with_url).expect("serialises"),
                linked.to_string()
            );
        }
    }

    #[test]
    fn millis_are_written_as_chrono_writes_them() {
        let mut stamps = Stamps::default();
        let mut check = |ms: i64| {
            let mut out = Vec::new();
            stamps.push(&mut out, ms);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&format_millis(ms)).unwrap(),
                "{ms}"
            );
        };
        let start: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
        let end: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
                                            // About 200,000 instants spread over every year, each a new day; each followed by
                                            // instants of the same day and of the next, which reuse or replace the date written.
        let step = (end - start) / 199_999 + 7;
        let mut ms = start;
        while ms <= end {
            for later in [0, 1, 999, 3_600_000, 86_399_999, 86_400_000] {
                if ms + later <= end {
                    check(ms + later);
                }
            }
            ms += step;
        }
        // The ends, leap days, and the years beyond 0 to 9999, which `format_millis` writes in
        // another form, before and after a date of the range.
        for ms in [
            0,
            -1,
            951_782_400_000,
            4_107_456_000_000,
            end,
            start,
            end + 1,
            start - 1,
            0,
            end + 1,
            end,
            i64::MAX,
            i64::MIN,
        ] {
            check(ms);
        }
    }
}
