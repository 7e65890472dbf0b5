//! Alerts and their JSON document.
//!
//! The document follows ECS where ECS has a field (`@timestamp`, `message`, `event.kind`,
//! `event.severity`, `rule.*`, `tags`, `user.name`, `source.ip`, `user_agent.original`) and keeps
//! k8scop's own fields under `k8scop.`. The same document goes to stdout (`--format json`), files
//! and Elasticsearch, where `k8scop.id` is the document id, so a re-run updates instead of
//! duplicating. `docs/alerts.md` documents every field.

use std::sync::Arc;

use k8scop_grammar::ast::Severity;
use serde_json::{json, Map, Value};

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
    /// The alert document (ECS plus `k8scop.*`).
    pub fn to_json(&self) -> Value {
        let d = &self.detection;
        let mut doc = Map::new();
        doc.insert("@timestamp".into(), json!(format_millis(self.last_seen)));
        doc.insert("message".into(), json!(self.title));
        doc.insert(
            "event".into(),
            json!({
                "kind": "alert",
                "category": ["configuration"],
                "severity": ecs_severity(d.severity),
                "start": format_millis(self.first_seen),
                "end": format_millis(self.last_seen),
                "count": self.count,
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
        let c = &self.context;
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
        let group: Map<String, Value> = self
            .group
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map_or(Value::Null, |v| json!(v))))
            .collect();
        let samples: Vec<Value> = self
            .samples
            .iter()
            .map(|s| json!({ "id": &*s.event_id, "time": format_millis(s.time) }))
            .collect();
        let mut own = json!({
            "id": self.id,
            "kind": d.kind.as_str(),
            "rule": &*d.name,
            "title": self.title,
            "severity": d.severity.as_str(),
            "count": self.count,
            "first_seen": format_millis(self.first_seen),
            "last_seen": format_millis(self.last_seen),
            "group": group,
            "samples": samples,
            "file": d.file,
        });
        if !d.references.is_empty() {
            own["references"] = json!(d.references);
        }
        if !self.fields.is_empty() {
            own["fields"] = Value::Object((*self.fields).clone());
        }
        doc.insert("k8scop".into(), own);
        Value::Object(doc)
    }
}
