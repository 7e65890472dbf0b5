//! Links from an alert document back to its events: a URL template (typically Kibana's
//! Discover) filled in for each alert, written as `k8scop.events_url` (docs/kibana.md).
//!
//! Placeholders, each replaced by a percent-encoded value:
//! - `{start}`, `{end}`: the alert's first and last event times, widened by
//!   [`DiscoverLink::MARGIN`] on each side, in RFC 3339 with milliseconds. Shippers set
//!   `@timestamp` to the time they read a line, which lags the event time, so the window of a
//!   Discover search on `@timestamp` must be wider than the alert's.
//! - `{ids}`: the ids of the events the alert keeps as samples, as a KQL list
//!   (`"id1" or "id2"`): for audit events their `auditID` (the stage that k8scop's event id
//!   adds is dropped), to be used as `auditID:({ids})`.
//! - `{rule}`: the rule or sequence name; `{id}`: the alert's id.

use std::fmt::Write;

use k8scop_engine::alert::Alert;
use k8scop_engine::event::format_millis;

/// A checked URL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverLink {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Start,
    End,
    Ids,
    Rule,
    Id,
}

/// Why a URL template is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverLinkError {
    /// A `{name}` that is not one of the placeholders.
    #[error("unknown placeholder `{{{0}}}` in the events URL template; expected `{{start}}`, `{{end}}`, `{{ids}}`, `{{rule}}` or `{{id}}`")]
    UnknownPlaceholder(String),
    /// A `{` without its `}`.
    #[error("unclosed `{{` at byte {0} of the events URL template")]
    Unclosed(usize),
    /// Not an absolute http(s) URL.
    #[error("the events URL template must start with http:// or https://")]
    NotHttp,
}

impl DiscoverLink {
    /// How far the `{start}`..`{end}` window reaches beyond the alert's events, in
    /// milliseconds: 15 minutes, more than the ingest lag of a healthy shipper.
    pub const MARGIN: i64 = 15 * 60 * 1000;

    /// Checks `template`: an http(s) URL whose `{...}` are known placeholders.
    pub fn parse(template: &str) -> Result<DiscoverLink, DiscoverLinkError> {
        if !(template.starts_with("http://") || template.starts_with("https://")) {
            return Err(DiscoverLinkError::NotHttp);
        }
        let mut parts = Vec::new();
        let mut rest = template;
        let mut offset = 0;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                return Err(DiscoverLinkError::Unclosed(offset + open));
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let name = &rest[open + 1..open + close];
            parts.push(match name {
                "start" => Part::Start,
                "end" => Part::End,
                "ids" => Part::Ids,
                "rule" => Part::Rule,
                "id" => Part::Id,
                other => return Err(DiscoverLinkError::UnknownPlaceholder(other.to_owned())),
            });
            offset += open + close + 1;
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(DiscoverLink { parts })
    }

    /// The link for `alert`.
    pub fn render(&self, alert: &Alert) -> String {
        let mut url = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => url.push_str(text),
                Part::Start => encode(&mut url, &format_millis(alert.first_seen - Self::MARGIN)),
                Part::End => encode(&mut url, &format_millis(alert.last_seen + Self::MARGIN)),
                Part::Ids => {
                    let mut ids = String::new();
                    for (i, sample) in alert.samples.iter().enumerate() {
                        if i > 0 {
                            ids.push_str(" or ");
                        }
                        let id = sample.event_id.split('/').next().unwrap_or_default();
                        ids.push('"');
                        for c in id.chars() {
                            if c == '"' || c == '\\' {
                                ids.push('\\');
                            }
                            ids.push(c);
                        }
                        ids.push('"');
                    }
                    encode(&mut url, &ids);
                }
                Part::Rule => encode(&mut url, &alert.detection.name),
                Part::Id => encode(&mut url, &alert.id),
            }
        }
        url
    }
}

/// Appends `value` percent-encoded: RFC 3986's unreserved characters and `:` stay as they are.
fn encode(out: &mut String, value: &str) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8scop_engine::alert::{Alert, Context};
    use k8scop_engine::ruleset::{Detection, DetectionKind};
    use k8scop_engine::state::Sample;
    use k8scop_grammar::ast::Severity;

    use super::*;

    fn alert(samples: &[&str]) -> Alert {
        let detection = Detection {
            name: "pod exec".into(),
            kind: DetectionKind::Rule,
            title: k8scop_engine::template::Template::text("t"),
            severity: Severity::High,
            description: String::new(),
            author: String::new(),
            tags: Vec::new(),
            references: Vec::new(),
            file: "x.rules".into(),
            fields: Vec::new(),
            group_by: None,
            within_ms: 0,
            enabled: true,
            fingerprint: 0,
        };
        Alert {
            id: "42bedc62".into(),
            detection: Arc::new(detection),
            title: "t".into(),
            count: samples.len() as u64,
            // 2024-05-01T12:03:00.000Z and a minute later.
            first_seen: 1_714_564_980_000,
            last_seen: 1_714_565_040_000,
            samples: samples
                .iter()
                .map(|id| Sample {
                    event_id: Arc::from(*id),
                    time: 0,
                })
                .collect(),
            group: Arc::from(Vec::new()),
            fields: Arc::default(),
            context: Arc::new(Context::default()),
        }
    }

    #[test]
    fn placeholders_are_filled_and_encoded() {
        let link = DiscoverLink::parse(
            "http://kibana:5601/app/discover#/?_g=(time:(from:'{start}',to:'{end}'))\
             &_a=(query:(language:kuery,query:'auditID:({ids})'))&r={rule}&a={id}",
        )
        .unwrap();
        let url = link.render(&alert(&["7d9a/ResponseStarted", "8e0b/ResponseComplete"]));
        assert_eq!(
            url,
            "http://kibana:5601/app/discover#/?_g=(time:(from:'2024-05-01T11:48:00.000Z',\
             to:'2024-05-01T12:19:00.000Z'))&_a=(query:(language:kuery,query:'auditID:(\
             %227d9a%22%20or%20%228e0b%22)'))&r=pod%20exec&a=42bedc62"
        );
    }

    #[test]
    fn ids_without_a_stage_and_quotes_are_kept_and_escaped() {
        let link = DiscoverLink::parse("https://k/{ids}").unwrap();
        assert_eq!(
            link.render(&alert(&["events.jsonl:3", "a\"b"])),
            "https://k/%22events.jsonl:3%22%20or%20%22a%5C%22b%22"
        );
    }

    #[test]
    fn bad_templates_say_why() {
        assert_eq!(
            DiscoverLink::parse("https://k/{from}"),
            Err(DiscoverLinkError::UnknownPlaceholder("from".into()))
        );
        assert_eq!(
            DiscoverLink::parse("https://k/{start"),
            Err(DiscoverLinkError::Unclosed(10))
        );
        assert_eq!(
            DiscoverLink::parse("kibana/{start}"),
            Err(DiscoverLinkError::NotHttp)
        );
        assert_eq!(
            DiscoverLinkError::UnknownPlaceholder("from".into()).to_string(),
            "unknown placeholder `{from}` in the events URL template; expected `{start}`, \
             `{end}`, `{ids}`, `{rule}` or `{id}`"
        );
    }
}
