//! Alerts and their JSON document.
//!
//! The document follows ECS where ECS has a field (`@timestamp`, `message`, `event.kind`,
//! `event.severity`, `rule.*`, `tags`, `user.name`, `source.ip`, `user_agent.original`) and keeps
//! k8scop's own fields under `k8scop.`. The same document goes to stdout (`--format json`), files
//! and Elasticsearch, where `k8scop.id` is the document id, so a re-run updates instead of
//! duplicating. `docs/alerts.md` documents every field.

use std::sync::Arc;

use k8scop_grammar::ast::Severity;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::doc::Ref;
use crate::event::format_millis;
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
    /// to it. Sinks that only write it use [`Alert::doc`], which serialises the same document
    /// without building a tree first.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.doc()).unwrap_or(Value::Null)
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

/// An alert's document, serialised straight from the [`Alert`] (see [`Alert::doc`]).
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

/// A timestamp in milliseconds, serialised as RFC 3339 with milliseconds (`format_millis`).
struct Millis(i64);

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 24];
        match write_millis(self.0, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&format_millis(self.0)),
        }
    }
}

/// A one-key object `{"KEY": VALUE}`.
struct One<'a, T: Serialize + ?Sized>(&'static str, &'a T);

impl<T: Serialize + ?Sized> Serialize for One<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

/// An object of the present entries of `(key, value)` pairs given in byte order of the keys.
struct Present<'a>(&'a [(&'static str, &'a Option<String>)]);

impl Serialize for Present<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (key, value) in self.0 {
            if let Some(v) = value {
                map.serialize_entry(key, v)?;
            }
        }
        map.end()
    }
}

struct EventPart<'a>(&'a Alert);

impl Serialize for EventPart<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut map = s.serialize_map(Some(6))?;
        map.serialize_entry("category", &["configuration"])?;
        map.serialize_entry("count", &a.count)?;
        map.serialize_entry("end", &Millis(a.last_seen))?;
        map.serialize_entry("kind", "alert")?;
        map.serialize_entry("severity", &ecs_severity(a.detection.severity))?;
        map.serialize_entry("start", &Millis(a.first_seen))?;
        map.end()
    }
}

struct RulePart<'a>(&'a Detection);

impl Serialize for RulePart<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut map = s.serialize_map(None)?;
        if !d.author.is_empty() {
            map.serialize_entry("author", &[&d.author])?;
        }
        if !d.description.is_empty() {
            map.serialize_entry("description", &d.description)?;
        }
        map.serialize_entry("id", &*d.name)?;
        map.serialize_entry("name", &*d.name)?;
        if let Some(reference) = d.references.first() {
            map.serialize_entry("reference", reference)?;
        }
        map.serialize_entry("ruleset", &d.file)?;
        map.end()
    }
}

struct ContainerPart<'a>(&'a Context);

impl Serialize for ContainerPart<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut map = s.serialize_map(None)?;
        if let Some(image) = &c.image {
            map.serialize_entry("image", &One("name", image))?;
        }
        if let Some(name) = &c.container {
            map.serialize_entry("name", name)?;
        }
        map.end()
    }
}

/// The group key as an object: sorted by path, the last of a repeated path kept (as a map
/// built from the pairs would).
struct GroupPart<'a>(&'a [(String, Option<String>)]);

impl Serialize for GroupPart<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<&(String, Option<String>)> = self.0.iter().rev().collect();
        // Stable sort of the reversed pairs, then the first of each key: the last one written.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, first| later.0 == first.0);
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

struct SamplePart<'a>(&'a Sample);

impl Serialize for SamplePart<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("id", &*self.0.event_id)?;
        map.serialize_entry("time", &Millis(self.0.time))?;
        map.end()
    }
}

struct SamplesPart<'a>(&'a [Sample]);

impl Serialize for SamplesPart<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(SamplePart))
    }
}

struct OwnPart<'a>(&'a Alert, Option<&'a str>);

impl Serialize for OwnPart<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let d = &a.detection;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("count", &a.count)?;
        if let Some(url) = self.1 {
            map.serialize_entry("events_url", url)?;
        }
        if !a.fields.is_empty() {
            map.serialize_entry("fields", &*a.fields)?;
        }
        map.serialize_entry("file", &d.file)?;
        map.serialize_entry("first_seen", &Millis(a.first_seen))?;
        map.serialize_entry("group", &GroupPart(&a.group))?;
        map.serialize_entry("id", &a.id)?;
        map.serialize_entry("kind", d.kind.as_str())?;
        map.serialize_entry("last_seen", &Millis(a.last_seen))?;
        if !d.references.is_empty() {
            map.serialize_entry("references", &d.references)?;
        }
        map.serialize_entry("rule", &*d.name)?;
        map.serialize_entry("samples", &SamplesPart(&a.samples))?;
        map.serialize_entry("severity", d.severity.as_str())?;
        map.serialize_entry("title", &a.title)?;
        map.end()
    }
}

impl Serialize for AlertDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.alert;
        let d = &a.detection;
        let c = &*a.context;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("@timestamp", &Millis(a.last_seen))?;
        if c.container.is_some() || c.image.is_some() {
            map.serialize_entry("container", &ContainerPart(c))?;
        }
        map.serialize_entry("event", &EventPart(a))?;
        if let Some(host) = &c.host {
            map.serialize_entry("host", &One("name", host))?;
        }
        map.serialize_entry("k8scop", &OwnPart(a, self.events_url.as_deref()))?;
        let k8s = [
            ("name", &c.name),
            ("namespace", &c.namespace),
            ("resource", &c.resource),
            ("subresource", &c.subresource),
            ("verb", &c.verb),
        ];
        if k8s.iter().any(|(_, v)| v.is_some()) {
            map.serialize_entry("kubernetes", &Present(&k8s))?;
        }
        map.serialize_entry("message", &a.title)?;
        if let Some(process) = &c.process {
            map.serialize_entry("process", &One("command_line", process))?;
        }
        map.serialize_entry("rule", &RulePart(d))?;
        if let Some(ip) = &c.source_ip {
            map.serialize_entry("source", &One("ip", ip))?;
        }
        if !d.tags.is_empty() {
            map.serialize_entry("tags", &d.tags)?;
        }
        if let Some(user) = &c.user {
            map.serialize_entry("user", &One("name", user))?;
        }
        if let Some(ua) = &c.user_agent {
            map.serialize_entry("user_agent", &One("original", ua))?;
        }
        map.end()
    }
}

/// Writes `ms` (milliseconds since the Unix epoch) as `format_millis` does,
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, into `buf`; `None` outside the years 0 to 9999, which
/// `format_millis` writes in another form.
fn write_millis(ms: i64, buf: &mut [u8; 24]) -> Option<&str> {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
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
        return None;
    }
    let (hour, minute) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (second, milli) = (in_day / 1000 % 60, in_day % 1000);
    let mut put = |at: usize, value: i64, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, hour, 2);
    put(14, minute, 2);
    put(17, second, 2);
    put(20, milli, 3);
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    buf[19] = b'.';
    buf[23] = b'Z';
    std::str::from_utf8(&buf[..]).ok()
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
        let mut buf = [0u8; 24];
        let mut ms: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
        let end: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
                                            // About 200,000 instants spread over every year, plus the ends and the leap days.
        let step = (end - ms) / 199_999 + 7;
        while ms <= end {
            assert_eq!(
                write_millis(ms, &mut buf),
                Some(format_millis(ms).as_str()),
                "{ms}"
            );
            ms += step;
        }
        for ms in [
            0,
            -1,
            951_782_400_000,
            4_107_456_000_000,
            end,
            -62_167_219_200_000,
        ] {
            assert_eq!(
                write_millis(ms, &mut buf),
                Some(format_millis(ms).as_str()),
                "{ms}"
            );
        }
        assert_eq!(write_millis(end + 1, &mut buf), None);
        assert_eq!(write_millis(-62_167_219_200_001, &mut buf), None);
    }
}
