//! Alert title templates: `"Command execution by {user.username} on {objectRef.name}"`.
//!
//! `{path}` renders the first value of an event field (strings as they are, other values as
//! JSON, a missing field as `<none>`), `{count}` the alert's count, and `{{` / `}}` are literal
//! braces.

use crate::doc::Ref;
use crate::path::FieldPath;

/// A parsed title template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(FieldPath),
    Count,
}

/// A `{path}` placeholder found while parsing, with its byte range inside the template text.
#[derive(Debug, Clone, PartialEq)]
pub struct Placeholder {
    /// What is between the braces, trimmed: a field path.
    pub text: String,
    /// The offset of its `{` in the template.
    pub start: usize,
    /// The offset just past its `}`.
    pub end: usize,
}

/// A malformed template, with the byte range of the offending text inside the template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    /// One line, lowercase: what is wrong (an unclosed `{`, an unknown field).
    pub message: String,
    /// The offset of the offending text in the template.
    pub start: usize,
    /// The offset just past it.
    pub end: usize,
}

impl Template {
    /// A template that is just text (the default title: the rule's name).
    pub fn text(text: &str) -> Template {
        Template {
            parts: vec![Part::Text(text.to_owned())],
        }
    }

    /// Parses `text`; `resolve` turns each placeholder (other than `count`) into a field path,
    /// or says why it cannot.
    pub fn parse(
        text: &str,
        mut resolve: impl FnMut(&Placeholder) -> Result<FieldPath, String>,
    ) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|(_, c)| *c) == Some('{') => {
                    rest.next();
                    literal.push('{');
                }
                '}' if rest.peek().map(|(_, c)| *c) == Some('}') => {
                    rest.next();
                    literal.push('}');
                }
                '{' => {
                    let Some(close) = text[i..].find('}').map(|j| i + j) else {
                        return Err(TemplateError {
                            message: "unclosed `{` in title".into(),
                            start: i,
                            end: text.len(),
                        });
                    };
                    let inner = &text[i + 1..close];
                    let placeholder = Placeholder {
                        text: inner.trim().to_owned(),
                        start: i,
                        end: close + 1,
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    if placeholder.text == "count" {
                        parts.push(Part::Count);
                    } else if placeholder.text.is_empty() {
                        return Err(TemplateError {
                            message: "empty `{}` in title".into(),
                            start: i,
                            end: close + 1,
                        });
                    } else {
                        let path = resolve(&placeholder).map_err(|message| TemplateError {
                            message,
                            start: i,
                            end: close + 1,
                        })?;
                        parts.push(Part::Field(path));
                    }
                    while rest.peek().is_some_and(|(j, _)| *j <= close) {
                        rest.next();
                    }
                }
                '}' => {
                    return Err(TemplateError {
                        message: "unmatched `}` in title (write `}}` for a literal brace)".into(),
                        start: i,
                        end: i + 1,
                    })
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Renders the template for `event`. Without a count, `{count}` stays as written, which is
    /// what the default aggregation key uses.
    pub fn render(&self, event: Ref<'_>, count: Option<u64>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Count => match count {
                    Some(n) => out.push_str(&n.to_string()),
                    None => out.push_str("{count}"),
                },
                Part::Field(path) => push_field(&mut out, path.first(event)),
            }
        }
        out
    }

    /// Renders the fields now and leaves `{count}` for later: an alert's title is rendered from
    /// its first event, and its count changes with every update.
    pub fn prerender(&self, event: Ref<'_>) -> Title {
        let mut parts = Vec::new();
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Count => {
                    parts.push(TitlePart::Text(std::mem::take(&mut text)));
                    parts.push(TitlePart::Count);
                }
                Part::Text(t) => text.push_str(t),
                Part::Field(path) => push_field(&mut text, path.first(event)),
            }
        }
        parts.push(TitlePart::Text(text));
        Title { parts }
    }

    /// The field paths the template renders.
    pub fn fields(&self) -> impl Iterator<Item = &FieldPath> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f),
            _ => None,
        })
    }
}

/// A title with its fields rendered and its count still open.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Title {
    parts: Vec<TitlePart>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum TitlePart {
    Text(String),
    Count,
}

impl Title {
    /// The title as shown, with `{count}` replaced by the alert's current count.
    pub fn with_count(&self, count: u64) -> String {
        let mut out = String::new();
        self.write_with_count(&mut out, count);
        out
    }

    /// [`Title::with_count`] into `out`, replacing what it held (and reusing its memory).
    pub fn write_with_count(&self, out: &mut String, count: u64) {
        out.clear();
        for part in &self.parts {
            match part {
                TitlePart::Text(t) => out.push_str(t),
                TitlePart::Count => {
                    use std::fmt::Write;
                    let _ = write!(out, "{count}");
                }
            }
        }
    }

    /// Whether the title shows the count: only then does it change when the alert is updated.
    pub fn has_count(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, TitlePart::Count))
    }
}

/// Parses a placeholder's path text (`a.b`, `a["x.y"]`, `a[0]`, `a[*].b`) into its segments.
pub fn split_path(text: &str) -> Result<Vec<k8scop_grammar::ast::SegmentKind>, String> {
    use k8scop_grammar::ast::SegmentKind;
    let mut segments = Vec::new();
    let mut rest = text;
    let is_ident = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| format!("unclosed `[` in `{text}`"))?;
            let inner = &after[..close];
            let kind = if inner == "*" {
                SegmentKind::Wildcard
            } else if let Ok(i) = inner.parse::<usize>() {
                SegmentKind::Index(i)
            } else if inner.len() >= 2 && inner.starts_with('"') && inner.ends_with('"') {
                SegmentKind::Quoted(inner[1..inner.len() - 1].to_owned())
            } else {
                return Err(format!(
                    "`[{inner}]` is not an index, `[*]` or a quoted key"
                ));
            };
            segments.push(kind);
            rest = &after[close + 1..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let name = &rest[..end];
            if !is_ident(name) {
                return Err(format!("`{text}` is not a field path"));
            }
            segments.push(SegmentKind::Field(name.to_owned()));
            rest = &rest[end..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        }
    }
    if segments.is_empty() {
        return Err("empty field path".into());
    }
    Ok(segments)
}

/// A field of a title: a string as it is, another value as JSON, a missing one as `<none>`.
fn push_field(out: &mut String, value: Option<Ref<'_>>) {
    match value {
        Some(v) => match v.as_str() {
            Some(s) => out.push_str(s),
            None => out.push_str(&v.to_value().to_string()),
        },
        None => out.push_str("<none>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8scop_grammar::ast::{Path, Segment, SegmentKind, Span};
    use serde_json::json;

    use crate::doc::Doc;

    fn resolve(p: &Placeholder) -> Result<FieldPath, String> {
        let segments = split_path(&p.text)?
            .into_iter()
            .map(|kind| Segment {
                kind,
                span: Span::default(),
            })
            .collect();
        Ok(FieldPath::new(&Path {
            segments,
            span: Span::default(),
        }))
    }

    #[test]
    fn renders_fields_count_and_braces() {
        let t = Template::parse(
            "{user.username} ran {count} on {objectRef.namespace}/{objectRef.name} {{x}}",
            resolve,
        )
        .unwrap();
        let doc = Doc::from_value(
            &json!({"user": {"username": "alice"}, "objectRef": {"namespace": "web"}}),
        );
        let event = doc.root();
        assert_eq!(t.render(event, Some(3)), "alice ran 3 on web/<none> {x}");
        assert_eq!(t.render(event, None), "alice ran {count} on web/<none> {x}");
        let title = t.prerender(event);
        assert_eq!(title.with_count(7), "alice ran 7 on web/<none> {x}");
        assert!(title.has_count());
        let mut reused = String::from("an older, longer title than this one");
        title.write_with_count(&mut reused, 12);
        assert_eq!(reused, "alice ran 12 on web/<none> {x}");
        let fixed = Template::parse("{user.username} ran", resolve).unwrap();
        assert!(!fixed.prerender(event).has_count());
    }

    #[test]
    fn errors_point_into_the_template() {
        let err = Template::parse("a {user.username", resolve).unwrap_err();
        assert_eq!((err.start, err.end), (2, 16));
        let err = Template::parse("a } b", resolve).unwrap_err();
        assert_eq!((err.start, err.end), (2, 3));
        let err = Template::parse("x {a..b}", resolve).unwrap_err();
        assert!(err.message.contains("not a field path"), "{}", err.message);
    }

    #[test]
    fn split_path_handles_every_segment_kind() {
        assert_eq!(
            split_path(r#"annotations["a.b/c"].x[0][*]"#).unwrap(),
            vec![
                SegmentKind::Field("annotations".into()),
                SegmentKind::Quoted("a.b/c".into()),
                SegmentKind::Field("x".into()),
                SegmentKind::Index(0),
                SegmentKind::Wildcard
            ]
        );
    }
}
