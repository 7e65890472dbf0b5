//! Elastic's detection rules (the TOML files of `elastic/detection-rules`) for Kubernetes audit
//! logs, as k8scop rules.
//!
//! - `type = "query"` rules in KQL (`language = "kuery"`) become rules whose condition is the
//!   query's ([`kql`] parses it);
//! - `type = "new_terms"` rules become rules with `threshold count < 2 within HISTORY by FIELDS`:
//!   a hit is a match whose `new_terms_fields` values had no match in the history window before
//!   it (`history_window_start`, `now-7d` say);
//! - EQL rules ([`eql`] parses them) become rules (`any where ...`) or sequences with inline
//!   steps (`sequence by ... with maxspan=...`);
//! - ES|QL rules of `WHERE` (read as EQL conditions) and `STATS ... BY` with a condition on a
//!   `COUNT(*)` or `COUNT_DISTINCT` become rules with a threshold over the rule's look-back;
//! - what does not translate is reported with the reason.
//!
//! The queries read the documents of Elastic Agent's `kubernetes.audit_logs` integration, whose
//! ingest pipeline nests the audit event under `kubernetes.audit` and copies some of its fields
//! to ECS fields (`user.name`, `source.ip`, `user_agent.original`, `event.action`, ...). k8scop
//! takes `kubernetes.audit` as the event (docs/event-shapes.md), so each field is mapped back to
//! the audit event's path ([`field`]); a query then reads raw audit logs as well as Elastic
//! Agent's documents. KQL on `keyword` fields is case-sensitive, and so are the translations.

mod eql;
mod kql;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::Deserialize;

use crate::sigma::{Import, Input, Outcome, RuleReport, RulesFile, SigmaError};
use crate::write::{comment, identifier, quote, quote_list, Expr, Names};
use kql::{Piece, Query, Value, Values};

/// The parts of an Elastic rule file that are read.
#[derive(Debug, Deserialize)]
struct RuleFile {
    #[serde(default)]
    metadata: Metadata,
    rule: Rule,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    /// The integrations whose data the rule reads (`kubernetes`).
    #[serde(default)]
    integration: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    name: String,
    #[serde(default)]
    rule_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    author: Vec<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    false_positives: Vec<String>,
    #[serde(default)]
    threat: Vec<Threat>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    new_terms: Option<NewTerms>,
    /// The index patterns a KQL or EQL rule reads.
    #[serde(default)]
    index: Vec<String>,
    /// How far back each run looks (`now-6m`): the window of an ES|QL `STATS`.
    #[serde(default)]
    from: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Threat {
    #[serde(default)]
    framework: String,
    #[serde(default)]
    technique: Vec<Technique>,
    #[serde(default)]
    tactic: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct Technique {
    id: String,
    #[serde(default)]
    subtechnique: Vec<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct NewTerms {
    #[serde(default)]
    value: Vec<String>,
    #[serde(default)]
    history_window_start: Vec<NewTermsValue>,
}

#[derive(Debug, Deserialize)]
struct NewTermsValue {
    value: String,
}

/// Imports Elastic rule files: one `.rules` file per input with an imported rule, one report
/// per rule (the report's `line` is 1: a file holds one rule), and the files that are not an
/// Elastic rule.
pub fn import(inputs: &[Input<'_>]) -> Import {
    let mut out = Import::default();
    let mut names = Names::default();
    for name in k8scop_stdlib::all().iter().map(|f| f.name()) {
        names.claim(name);
    }
    for input in inputs {
        let file: RuleFile = match toml::from_str(input.text) {
            Ok(file) => file,
            Err(e) => {
                let (line, column) = match e.span() {
                    Some(span) => {
                        let before = &input.text.as_bytes()[..span.start.min(input.text.len())];
                        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                        let line_start = before
                            .iter()
                            .rposition(|&b| b == b'\n')
                            .map_or(0, |i| i + 1);
                        let column = String::from_utf8_lossy(&before[line_start..])
                            .chars()
                            .count()
                            + 1;
                        (Some(line), Some(column))
                    }
                    None => (None, None),
                };
                out.errors.push(SigmaError {
                    file: input.path.to_owned(),
                    line,
                    column,
                    message: format!("not an Elastic rule file: {}", e.message().trim_end()),
                });
                continue;
            }
        };
        let rule = file.rule;
        let mut notes = Vec::new();
        let translated = match of_kubernetes_audit(&rule, &file.metadata) {
            Ok(()) => translate(&rule, &mut notes),
            Err(reason) => Err(reason),
        };
        let outcome = match translated {
            Ok(translated) => {
                let name = names.claim(&identifier(&rule.name, "elastic"));
                let stem = std::path::Path::new(input.path)
                    .file_stem()
                    .map_or_else(|| name.clone(), |s| s.to_string_lossy().into_owned());
                out.files.push(RulesFile {
                    name: format!("{stem}.rules"),
                    source: input.path.to_owned(),
                    text: rule_text(input.path, &rule, &name, &translated, &notes),
                });
                Outcome::Imported(vec![name])
            }
            Err(reason) => Outcome::Skipped(reason),
        };
        out.rules.push(RuleReport {
            file: input.path.to_owned(),
            line: 1,
            title: rule.name.clone(),
            id: rule.rule_id.clone(),
            outcome,
            notes,
        });
    }
    out
}

/// Whether the rule reads Kubernetes audit logs: its integrations name `kubernetes`, or its
/// index patterns (or an ES|QL `FROM`) could hold them (`logs-kubernetes.audit_logs-*`,
/// `logs-*`, `*`). A rule of another data source (Windows, Okta, ...) is skipped, saying so.
fn of_kubernetes_audit(rule: &Rule, metadata: &Metadata) -> Result<(), String> {
    if metadata.integration.iter().any(|i| i == "kubernetes") {
        return Ok(());
    }
    let from: Vec<String> = match rule.query.as_deref() {
        Some(q) if rule.kind == "esql" => {
            let q = q.trim_start();
            match q.get(..4) {
                // `FROM a, b METADATA _id | ...`: the patterns before `METADATA` or `|`.
                Some(w) if w.eq_ignore_ascii_case("from") => {
                    let sources = q[4..].split('|').next().unwrap_or("");
                    let lower = sources.to_ascii_lowercase();
                    let end = find_word(&lower, "metadata").unwrap_or(sources.len());
                    sources[..end]
                        .split(',')
                        .map(|p| p.trim().to_owned())
                        .filter(|p| !p.is_empty())
                        .collect()
                }
                _ => Vec::new(),
            }
        }
        _ => rule.index.clone(),
    };
    let could_hold = |pattern: &str| {
        pattern.contains("kubernetes") || matches!(pattern, "*" | "logs-*" | "logs-*-*")
    };
    if from.is_empty() || from.iter().any(|p| could_hold(p)) {
        Ok(())
    } else {
        Err(format!(
            "the rule reads `{}`, not Kubernetes audit logs (`logs-kubernetes.audit_logs-*`)",
            from.join("`, `")
        ))
    }
}

/// What an Elastic rule becomes.
enum Translated {
    /// A rule: its condition, and its threshold for a `new_terms` rule.
    Rule(Expr, Option<String>),
    /// An EQL sequence: its `by` (paths), `within`, and each step's condition and own key.
    Sequence {
        by: Vec<String>,
        within: String,
        steps: Vec<(Expr, Vec<String>)>,
    },
}

/// Where a query's error is: its line in the query (an error at the end is on the last line
/// that has text), and the message.
fn query_error(text: &str, at: usize, message: &str) -> String {
    let end = at.min(text.trim_end().len());
    let line = text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    format!("the query does not translate (line {line} of the query): {message}")
}

fn translate(rule: &Rule, notes: &mut Vec<String>) -> Result<Translated, String> {
    match (rule.kind.as_str(), rule.language.as_deref()) {
        ("query" | "new_terms", Some("kuery") | None) => {}
        ("eql", _) | (_, Some("eql")) => return translate_eql(rule, notes),
        ("esql", _) | (_, Some("esql")) => return translate_esql(rule, notes),
        (kind, language) => {
            return Err(format!(
                "a rule of type `{kind}`{} is not translated (`query` and `new_terms` rules in KQL are)",
                language.map(|l| format!(" in `{l}`")).unwrap_or_default()
            ))
        }
    }
    let text = rule.query.as_deref().ok_or("the rule has no `query`")?;
    let query = kql::parse(text).map_err(|e| query_error(text, e.at, &e.message))?;
    let when = condition(&query)?;
    if rule.kind != "new_terms" {
        return Ok(Translated::Rule(when, None));
    }
    let terms = rule
        .new_terms
        .as_ref()
        .ok_or("a `new_terms` rule without `new_terms`")?;
    if terms.value.is_empty() {
        return Err("a `new_terms` rule without `new_terms_fields`".into());
    }
    let by = terms
        .value
        .iter()
        .map(|f| key_path(f, "new terms field"))
        .collect::<Result<Vec<_>, String>>()?;
    let start = terms
        .history_window_start
        .first()
        .map(|h| h.value.as_str())
        .ok_or("a `new_terms` rule without `history_window_start`")?;
    let within = history(start)?;
    notes.push(format!(
        "a new terms rule is a threshold: a match is a hit when no other match of its {} was in the {within} before it (Elastic looks back from the start of each run of the rule, k8scop from each event), and k8scop's history starts when it starts reading",
        if by.len() == 1 { "value" } else { "values" }
    ));
    // Elastic's terms aggregation leaves out the documents without a value of the fields.
    let mut parts = vec![when];
    parts.extend(by.iter().map(|k| Expr::Atom(format!("exists {k}"))));
    Ok(Translated::Rule(
        Expr::and(parts),
        Some(format!("count < 2 within {within} by {}", by.join(", "))),
    ))
}

/// An EQL rule: an event query is a rule, a sequence with `maxspan` a sequence.
fn translate_eql(rule: &Rule, notes: &mut Vec<String>) -> Result<Translated, String> {
    let text = rule.query.as_deref().ok_or("the rule has no `query`")?;
    let query = eql::parse(text).map_err(|e| query_error(text, e.at, &e.message))?;
    match query {
        eql::Query::Event(cond) => Ok(Translated::Rule(eql_condition(&cond)?, None)),
        eql::Query::Sequence { by, maxspan, steps } => {
            let maxspan = maxspan.ok_or(
                "a sequence without `maxspan` is not translated: a k8scop sequence needs its window (`within`)",
            )?;
            let within = history(&format!("now-{maxspan}"))
                .map_err(|_| format!("the maxspan `{maxspan}` is not a duration k8scop has"))?;
            let keys = |fields: &[String]| -> Result<Vec<String>, String> {
                fields.iter().map(|f| key_path(f, "join key")).collect()
            };
            let by = keys(&by)?;
            // EQL joins on values only: an event without one of its keys takes no step.
            let steps = steps
                .iter()
                .map(|(cond, own)| {
                    let own = keys(own)?;
                    let key = if own.is_empty() { &by } else { &own };
                    let mut parts = vec![eql_condition(cond)?];
                    parts.extend(key.iter().map(|k| Expr::Atom(format!("exists {k}"))));
                    Ok((Expr::and(parts), own))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let keyed = steps.iter().filter(|(_, own)| !own.is_empty()).count();
            if by.is_empty() && keyed > 0 && keyed < steps.len() {
                return Err("a sequence with keys on some steps only, and no `sequence by`, is not translated".into());
            }
            notes.push("an EQL sequence is a k8scop sequence: it fires at the event that completes it, and that match uses its events up".into());
            Ok(Translated::Sequence { by, within, steps })
        }
    }
}

/// An ES|QL rule: `FROM ... | WHERE ...` is a rule; `| STATS COUNT(*) | COUNT_DISTINCT(f) ... BY
/// keys | WHERE n >= N` a threshold over the rule's look-back (`from`); `KEEP`, `SORT`, `LIMIT`
/// and `DROP` only shape the output. Other commands (`EVAL`, `GROK`, ...) are reported.
fn translate_esql(rule: &Rule, notes: &mut Vec<String>) -> Result<Translated, String> {
    let text = rule.query.as_deref().ok_or("the rule has no `query`")?;
    let mut window = history(rule.from.as_deref().unwrap_or("now-6m"))?;
    let mut wheres = Vec::new();
    let mut stats: Option<Stats> = None;
    let mut threshold: Option<String> = None;
    let mut computed = Computed::default();
    for (i, command) in esql_commands(text).into_iter().enumerate() {
        let command = command.trim();
        let word: String = command
            .chars()
            .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
            .collect::<String>()
            .to_ascii_lowercase();
        let body = command[word.len()..].trim();
        match (i, word.as_str()) {
            (0, "from") => {}
            (0, _) => return Err("an ES|QL query that does not start with `FROM` is not translated".into()),
            (_, "where") if stats.is_none() => {
                // `body` lies inside `text`: where it starts there is the base of the offsets.
                let base = body.as_ptr() as usize - text.as_ptr() as usize;
                let cond = eql::parse_condition(body)
                    .map_err(|e| query_error(text, base + e.at, &e.message))?;
                wheres.push(computed_condition(&esql_nulls(cond), &computed)?);
            }
            (_, "eval") if stats.is_none() => {
                for assignment in split_top(body, ',') {
                    let assignment = strip_comments(assignment);
                    let Some((name, value)) = assignment.split_once('=') else {
                        return Err(format!("the `EVAL` `{}` does not translate", one_line(&assignment)));
                    };
                    let name = name.trim().trim_matches('`').to_owned();
                    let value = esql_eval(value.trim(), &computed, &name);
                    computed.0.insert(name, value);
                }
            }
            (_, "grok") if stats.is_none() => {
                let (name, value) = esql_grok(body, &computed)?;
                if value.is_ok() {
                    notes.push("the exec command that the query takes from `requestURI` (`URL_DECODE`, `GROK`, `REPLACE`) is `join(uri_params(requestURI, \"command\"), \" \")`, every `command` parameter decoded and joined with spaces".into());
                }
                computed.0.insert(name, value);
            }
            (_, "stats") if stats.is_none() => {
                let (parsed, bucket) = esql_stats(body, &computed)?;
                if let Some(bucket) = bucket {
                    notes.push(format!("the `STATS` groups by a time bucket of {bucket}: the threshold counts over the {bucket} before each match, a sliding window where Elastic's buckets are fixed"));
                    window = bucket;
                }
                stats = Some(parsed);
            }
            (_, "where") => {
                let stats = stats.as_ref().expect("matched above");
                if let Some(t) = esql_threshold(body, stats, &window, notes)? {
                    if threshold.replace(t).is_some() {
                        return Err("two conditions on the `STATS` are not translated: a k8scop threshold counts one thing".into());
                    }
                }
            }
            (_, "keep" | "sort" | "limit" | "drop") => {}
            (_, other) => {
                return Err(format!(
                    "the ES|QL command `{}` is not translated (`FROM`, `WHERE`, `STATS ... BY`, `KEEP`, `SORT`, `LIMIT` and `DROP` are)",
                    other.to_ascii_uppercase()
                ))
            }
        }
    }
    let when = Expr::and(wheres);
    let threshold = match (stats, threshold) {
        (None, _) => None,
        (Some(_), Some(t)) => Some(t),
        // Every group with a match in the window is a row: every match is a hit, keyed by it.
        (Some(stats), None) => Some(format!("count >= 1 within {window}{}", stats.by_text())),
    };
    if threshold.is_some() {
        notes.push(format!("an ES|QL `STATS` is a threshold over the rule's look-back ({window}): Elastic counts the rows of each run, k8scop the matches in the {window} before each one"));
    }
    Ok(Translated::Rule(when, threshold))
}

/// ES|QL's three-valued logic where k8scop's `not` differs: a negated comparison (`NOT`, `!=`,
/// `NOT IN`, `NOT LIKE`) of a missing field is null, and `WHERE` drops the row; in k8scop it
/// holds. So each one on a field of the event also requires the field.
fn esql_nulls(cond: eql::Cond) -> eql::Cond {
    use eql::{Cond, Lit, Op};
    let guard = |field: &str| {
        matches!(self::field(field), Ok(Field::Path(_) | Field::Ip)).then(|| Cond::Cmp {
            field: field.to_owned(),
            op: Op::Ne,
            values: vec![Lit::Null],
        })
    };
    match cond {
        Cond::Or(parts) => Cond::Or(parts.into_iter().map(esql_nulls).collect()),
        Cond::And(parts) => Cond::And(parts.into_iter().map(esql_nulls).collect()),
        Cond::Not(inner) => match *inner {
            Cond::Cmp { field, op, values } if values != [Lit::Null] => {
                let negated = Cond::Not(Box::new(Cond::Cmp {
                    field: field.clone(),
                    op,
                    values,
                }));
                match guard(&field) {
                    Some(exists) => Cond::And(vec![exists, negated]),
                    None => negated,
                }
            }
            other => Cond::Not(Box::new(esql_nulls(other))),
        },
        Cond::Cmp {
            field,
            op: Op::Ne,
            values,
        } if values != [Lit::Null] => {
            let differs = Cond::Cmp {
                field: field.clone(),
                op: Op::Ne,
                values,
            };
            match guard(&field) {
                Some(exists) => Cond::And(vec![exists, differs]),
                None => differs,
            }
        }
        other => other,
    }
}

/// Marks what the `GROK` of the exec query takes out (`command=sh&command=-c&...`): the exec
/// command once `REPLACE` has taken out `command=`, `&` and `+`.
const RAW_COMMAND: &str = "raw-command";

/// Whether a computed value is one of the marks above, not an expression a condition may read.
fn is_marker(value: &str) -> bool {
    value == DECODED_URI || value == RAW_COMMAND || value.starts_with(BUCKET)
}

/// Marks a time bucket (`DATE_TRUNC(1 minute, @timestamp)`), followed by its k8scop duration.
const BUCKET: &str = "bucket:";

/// Marks the decoded request URI (`URL_DECODE(kubernetes.audit.requestURI)`).
const DECODED_URI: &str = "url_decode(requestURI)";

/// What an `EVAL` computes: the decoded request URI, a `REPLACE` of the exec command that keeps
/// it the exec command (the `command=`, `&` and `+` the query takes out), or a field that does
/// not translate (which is an error only if a condition reads it).
fn esql_eval(value: &str, computed: &Computed, name: &str) -> ComputedField {
    let lower = value.to_ascii_lowercase();
    let args = value
        .find('(')
        .map(|open| value[open + 1..].trim_end().trim_end_matches(')'))
        .unwrap_or("");
    let first = split_top(args, ',')[0].trim().trim_matches('`');
    if lower.starts_with("url_decode(")
        && matches!(field(first), Ok(Field::Path(p)) if p == "requestURI")
    {
        return Ok((DECODED_URI.to_owned(), String::new()));
    }
    // `DATE_TRUNC(1 minute, @timestamp)`, a time bucket to group by: the window of a threshold.
    if lower.starts_with("date_trunc(")
        && split_top(args, ',')
            .get(1)
            .is_some_and(|t| t.trim() == "@timestamp")
    {
        let mut words = first.split_whitespace();
        let (n, unit) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let unit = match unit.trim_end_matches('s') {
            "second" => "s",
            "minute" => "m",
            "hour" => "h",
            "day" => "d",
            _ => "",
        };
        if let (Ok(n), false) = (n.parse::<u64>(), unit.is_empty()) {
            return Ok((format!("{BUCKET}{n}{unit}"), String::new()));
        }
    }
    if lower.starts_with("replace(") {
        let parts: Vec<String> = split_top(args, ',')
            .iter()
            .map(|a| a.trim().trim_matches('"').replace("\\\\", "\\"))
            .collect();
        let known = matches!(
            (
                parts.get(1).map(String::as_str),
                parts.get(2).map(String::as_str)
            ),
            (Some("command="), Some("")) | (Some("&"), Some(" ")) | (Some("\\+"), Some(" "))
        );
        if let (true, Some(Ok((expr, _)))) = (known, computed.0.get(first)) {
            if expr == EXEC_COMMAND.0 || expr == RAW_COMMAND {
                return Ok((EXEC_COMMAND.0.to_owned(), EXEC_COMMAND.1.to_owned()));
            }
        }
    }
    Err(format!(
        "the field `{name}` that `EVAL` computes (`{}`) does not translate",
        one_line(value)
    ))
}

/// A `GROK` of the decoded request URI that takes out the query of an exec request
/// (`%{DATA}/exec\\?%{DATA:raw_commands}&(?:container|...)=...`): that name is the exec
/// command, once `REPLACE` has taken out `command=`, `&` and `+`.
fn esql_grok(body: &str, computed: &Computed) -> Result<(String, ComputedField), String> {
    let (input, pattern) = body
        .split_once('"')
        .ok_or_else(|| format!("the `GROK` `{}` does not translate", one_line(body)))?;
    let input = input.trim().trim_matches('`');
    let decoded = matches!(computed.0.get(input), Some(Ok((e, _))) if e == DECODED_URI);
    let exec = pattern.find("/exec").and_then(|at| {
        let rest = &pattern[at..];
        let start = rest.find("%{DATA:")? + "%{DATA:".len();
        let end = rest[start..].find('}')?;
        rest[start + end..]
            .starts_with("}&")
            .then(|| rest[start..start + end].to_owned())
    });
    match exec {
        Some(name) if decoded => Ok((name, Ok((RAW_COMMAND.to_owned(), String::new())))),
        _ => Err(format!("the `GROK` `{}` does not translate (a `GROK` of the exec command in `requestURI` does)", one_line(body))),
    }
}

/// An ES|QL `STATS`: its aggregations (name, function, argument) and `BY` paths.
struct Stats {
    aggregations: Vec<(String, String, String)>,
    by: Vec<String>,
}

impl Stats {
    fn by_text(&self) -> String {
        if self.by.is_empty() {
            String::new()
        } else {
            format!(" by {}", self.by.join(", "))
        }
    }
}

/// The commands of an ES|QL query, split at the `|` outside strings. The scan is over bytes: it
/// splits only at `|`, which is ASCII, so every slice is whole text.
fn esql_commands(text: &str) -> Vec<&str> {
    let find = |from: usize, needle: &[u8]| {
        text.as_bytes()
            .get(from..)
            .and_then(|rest| rest.windows(needle.len()).position(|w| w == needle))
            .map(|at| from + at)
    };
    let mut out = Vec::new();
    let (mut start, mut depth) = (0, 0i32);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\"\"\"") {
            i = find(i + 3, b"\"\"\"").map_or(bytes.len(), |end| end + 3);
            continue;
        }
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes[i..].starts_with(b"//") => {
                i = find(i, b"\n").unwrap_or(bytes.len());
                continue;
            }
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'|' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&text[start.min(text.len())..]);
    out
}

/// `name = FUNC(arg), ... BY f1, f2`, and the duration of a time bucket among the keys.
fn esql_stats(body: &str, computed: &Computed) -> Result<(Stats, Option<String>), String> {
    let lower = body.to_ascii_lowercase();
    let (aggs, by) = match find_word(&lower, "by") {
        Some(i) => (&body[..i], Some(&body[i + 2..])),
        None => (body, None),
    };
    let mut aggregations = Vec::new();
    for agg in split_top(aggs, ',') {
        let agg = strip_comments(agg);
        let agg = agg.trim();
        if agg.is_empty() {
            continue;
        }
        let (name, call) = match agg.split_once('=') {
            Some((name, call)) if !name.contains('(') => (name.trim().to_owned(), call.trim()),
            _ => (agg.to_owned(), agg),
        };
        let Some(open) = call.find('(') else {
            return Err(format!("the aggregation `{agg}` is not translated"));
        };
        let function = call[..open].trim().to_ascii_lowercase();
        let argument = call[open + 1..]
            .trim_end()
            .trim_end_matches(')')
            .trim()
            .to_owned();
        aggregations.push((name, function, argument));
    }
    let mut keys = Vec::new();
    let mut bucket = None;
    for key in by.map(|b| split_top(b, ',')).unwrap_or_default() {
        let key = strip_comments(key);
        let key = key.trim().trim_matches('`');
        if let Some(Ok((marked, _))) = computed.0.get(key) {
            if let Some(duration) = marked.strip_prefix(BUCKET) {
                bucket = Some(duration.to_owned());
                continue;
            }
        }
        let path = key_path(key, "`BY` key")?;
        if !keys.contains(&path) {
            keys.push(path);
        }
    }
    Ok((
        Stats {
            aggregations,
            by: keys,
        },
        bucket,
    ))
}

/// The condition on a `STATS` (`WHERE n >= 3`) as a threshold. A condition on the time of the
/// rows is about the window: on the first time of a group (`MIN(@timestamp) >= NOW() - 9
/// minutes`), it keeps the groups first seen in this run, which is a new terms threshold
/// (`count < 2`); on the last time, every group of the window (`None`).
fn esql_threshold(
    body: &str,
    stats: &Stats,
    window: &str,
    notes: &mut Vec<String>,
) -> Result<Option<String>, String> {
    // Only a whole condition `NAME >= NOW() - DURATION` on the time of the rows is read so.
    let recent = |name: &str| {
        let rest = body.trim().strip_prefix(name).map(str::trim_start);
        let rest = rest.and_then(|r| r.strip_prefix(">=").or_else(|| r.strip_prefix('>')));
        rest.is_some_and(|r| {
            let r = r.trim_start();
            r.get(..5)
                .is_some_and(|now| now.eq_ignore_ascii_case("now()"))
                && r[5..].trim_start().starts_with('-')
                && !r.contains(['&', '|'])
                && !r.to_ascii_lowercase().contains(" and ")
                && !r.to_ascii_lowercase().contains(" or ")
        })
    };
    let timestamp = stats
        .aggregations
        .iter()
        .find(|(n, f, a)| matches!(f.as_str(), "min" | "max") && a == "@timestamp" && recent(n));
    let cond = match (eql::parse_condition(body), timestamp) {
        (Ok(cond), _) => cond,
        (Err(_), Some((_, f, _))) if f == "min" => {
            notes.push(format!("`{}` keeps the groups first seen in the latest run: a match is a hit when no other match of its group came in the {window} before it", one_line(body)));
            return Ok(Some(format!(
                "count < 2 within {window}{}",
                stats.by_text()
            )));
        }
        (Err(_), Some(_)) => {
            notes.push(format!(
                "`{}` is about the window: every group with a match in it",
                one_line(body)
            ));
            return Ok(None);
        }
        (Err(e), None) => {
            return Err(format!(
                "the condition on the `STATS` does not translate: {}",
                e.message
            ))
        }
    };
    let eql::Cond::Cmp { field, op, values } = &cond else {
        return Err(
            "a condition on the `STATS` other than one comparison is not translated".into(),
        );
    };
    let Some((_, function, argument)) = stats.aggregations.iter().find(|(n, ..)| n == field) else {
        return Err(format!("`{field}` is not an aggregation of the `STATS`"));
    };
    let counted = match function.as_str() {
        "count" if matches!(argument.as_str(), "" | "*") => "count".to_owned(),
        "count_distinct" => format!("distinct {}", key_path(argument.trim_matches('`'), "counted field")?),
        other => {
            return Err(format!(
                "a condition on `{}({argument})` is not translated (on `COUNT(*)` and `COUNT_DISTINCT(field)` it is)",
                other.to_ascii_uppercase()
            ))
        }
    };
    // k8scop judges a threshold at each match: `>=` and `>` mean what the row of a run means,
    // but `n < 50` would hold at the first matches of every group, however many follow.
    let symbol = match op {
        eql::Op::Gt => ">",
        eql::Op::Ge => ">=",
        _ => {
            return Err(format!(
                "a condition on `{field}` other than `>=` or `>` is not translated: k8scop judges a threshold at each match, before the later ones of the window"
            ))
        }
    };
    let [eql::Lit::Num(n)] = values.as_slice() else {
        return Err(format!(
            "`{field}` is compared with something other than a number"
        ));
    };
    let n = n
        .parse::<u64>()
        .map_err(|_| format!("`{field}` is compared with `{n}`, not a whole number"))?;
    Ok(Some(format!(
        "{counted} {symbol} {n} within {window}{}",
        stats.by_text()
    )))
}

/// The byte offset of `word` as a whole word in `text` (lowercase), outside parentheses.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 && text[i..].starts_with(word) => {
                let before = text[..i]
                    .chars()
                    .next_back()
                    .is_none_or(|c| c.is_whitespace());
                let after = text[i + word.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace());
                if before && after {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `text` split at `sep` outside parentheses.
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let (mut out, mut start, mut depth) = (Vec::new(), 0, 0i32);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// `text` without its `// ...` comments.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The path of a field a threshold or sequence keys by.
fn key_path(name: &str, what: &str) -> Result<String, String> {
    match field(name)? {
        Field::Path(path) => Ok(path),
        Field::Ip => Ok("sourceIPs".to_owned()),
        _ => Err(format!("the {what} `{name}` is the same in every event")),
    }
}

/// `now-7d` as the k8scop duration `7d`.
fn history(start: &str) -> Result<String, String> {
    let Some(span) = start.strip_prefix("now-") else {
        return Err(format!(
            "the history window start `{start}` is not translated (`now-` and a duration are)"
        ));
    };
    let digits = span.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &span[digits.len()..];
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("the history window start `{start}` has no number"))?;
    let (n, unit) = match unit {
        "s" | "m" | "h" | "d" => (n, unit),
        "w" => (
            n.checked_mul(7)
                .ok_or_else(|| format!("the window `{start}` is too long"))?,
            "d",
        ),
        _ => {
            return Err(format!(
                "the history window start `{start}` has a unit k8scop has no duration for (`s`, `m`, `h`, `d`, `w` are)"
            ))
        }
    };
    Ok(format!("{n}{unit}"))
}

/// What an ECS or `kubernetes.audit.*` field is in the audit event.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    /// A path of the audit event (as rule text).
    Path(String),
    /// A field whose value is the same in every document of the integration: the dataset
    /// (`kubernetes.audit_logs`), `event.kind` (`event`), `data_stream.type` (`logs`).
    Constant(&'static str),
    /// `event.outcome`, which the pipeline sets from the authorization decision.
    Outcome,
    /// `source.ip`, `client.ip`: the request's addresses (`sourceIPs`), compared as IPs.
    Ip,
}

const DECISION: &str = r#"annotations["authorization.k8s.io/decision"]"#;

/// The maps of an audit event whose keys are names of their own (often with dots), not paths.
const MAPS: &[&str] = &[
    "extra",
    "labels",
    "annotations",
    "nodeSelector",
    "matchLabels",
    "data",
    "stringData",
];

/// Maps an Elastic field to what it is in the audit event.
fn field(name: &str) -> Result<Field, String> {
    if let Some(rest) = name.strip_prefix("kubernetes.audit.") {
        if let Some(key) = rest.strip_prefix("annotations.") {
            // The pipeline turns `.` into `_` in annotation keys; the prefix of a key (a DNS
            // name) has no `_` of its own, as k8scop's decoder assumes too.
            let key = match key.split_once('/') {
                Some((prefix, name)) => format!("{}/{name}", prefix.replace('_', ".")),
                None => key.to_owned(),
            };
            return Ok(Field::Path(crate::write::path(&[
                "annotations",
                key.as_str(),
            ])));
        }
        // The keys of a map (`user.extra`, labels, a node selector) may hold dots of their own
        // (`authentication.kubernetes.io/pod-name`): what follows the map's name is one key.
        let segments: Vec<&str> = rest.split('.').collect();
        let map = segments
            .iter()
            .position(|s| MAPS.contains(s))
            .filter(|&i| i + 1 < segments.len());
        let path = match map {
            Some(i) => {
                let key = segments[i + 1..].join(".");
                let mut parts: Vec<&str> = segments[..=i].to_vec();
                parts.push(&key);
                crate::write::path(&parts)
            }
            None => crate::write::path(&segments),
        };
        return Ok(Field::Path(path));
    }
    Ok(match name {
        "event.action" => Field::Path("verb".into()),
        "user.name" => Field::Path("user.username".into()),
        "user.id" => Field::Path("user.uid".into()),
        "user_agent.original" => Field::Path("userAgent".into()),
        "container.image.name" => Field::Path("requestObject.spec.containers.image".into()),
        "source.ip" | "client.ip" => Field::Ip,
        "event.outcome" => Field::Outcome,
        "data_stream.dataset" | "event.dataset" => Field::Constant("kubernetes.audit_logs"),
        "event.kind" => Field::Constant("event"),
        "data_stream.type" => Field::Constant("logs"),
        other => return Err(format!(
            "`{other}` is not a field Elastic Agent's kubernetes.audit_logs documents take from the audit event (`kubernetes.audit.*`, `user.name`, `user.id`, `user_agent.original`, `source.ip`, `client.ip`, `event.action`, `event.outcome`, `container.image.name` and the dataset are)"
        )),
    })
}

/// The k8scop condition of a query.
fn condition(query: &Query) -> Result<Expr, String> {
    Ok(match query {
        Query::Or(parts) => Expr::or(parts.iter().map(condition).collect::<Result<_, _>>()?),
        Query::And(parts) => Expr::and(parts.iter().map(condition).collect::<Result<_, _>>()?),
        Query::Not(inner) => Expr::negate(condition(inner)?),
        Query::Field(name, values) => field_values(&field(name)?, name, values)?,
        Query::Range(name, op, value) => {
            let Field::Path(path) = field(name)? else {
                return Err(format!("a range on `{name}` is not translated"));
            };
            let literal = value
                .literal()
                .ok_or_else(|| format!("a range on `{name}` with a wildcard"))?;
            Expr::Atom(format!("{path} {op} {}", scalar(&literal, false)))
        }
    })
}

/// `field:values`, with the values' `and`, `or` and `not`; an `or` of plain values on a path
/// becomes one `in`, `startswith`, `endswith` or `contains` with a list.
fn field_values(field: &Field, name: &str, values: &Values) -> Result<Expr, String> {
    Ok(match values {
        Values::Or(parts) => {
            let mut exprs = Vec::new();
            let mut lists: Vec<(&'static str, Vec<String>)> = Vec::new();
            for part in parts {
                match (field, part) {
                    (Field::Path(_), Values::One(value)) => match string_test(value) {
                        Some((op, text)) => match lists.iter_mut().find(|(o, _)| *o == op) {
                            Some((_, items)) => items.push(text),
                            None => lists.push((op, vec![text])),
                        },
                        None => exprs.push(field_values(field, name, part)?),
                    },
                    _ => exprs.push(field_values(field, name, part)?),
                }
            }
            let Field::Path(path) = field else {
                return Ok(Expr::or(exprs));
            };
            let mut listed: Vec<Expr> = lists
                .into_iter()
                .map(|(op, items)| match (op, items.as_slice()) {
                    ("==", [one]) => Expr::Atom(format!("{path} == {}", quote(one))),
                    ("==", _) => Expr::Atom(format!("{path} in {}", quote_list(&items))),
                    (op, [one]) => Expr::Atom(format!("{path} {op} {}", quote(one))),
                    (op, _) => Expr::Atom(format!("{path} {op} {}", quote_list(&items))),
                })
                .collect();
            listed.extend(exprs);
            Expr::or(listed)
        }
        Values::And(parts) => Expr::and(
            parts
                .iter()
                .map(|p| field_values(field, name, p))
                .collect::<Result<_, _>>()?,
        ),
        Values::Not(inner) => Expr::negate(field_values(field, name, inner)?),
        Values::One(value) => one_value(field, name, value)?,
    })
}

/// A plain string test of a value on a path: `==` for a literal, `startswith`, `endswith` or
/// `contains` for one wildcard at either or both ends; `None` for the other values.
fn string_test(value: &Value) -> Option<(&'static str, String)> {
    match value {
        Value::Quoted(text) if !is_number(text) => Some(("==", text.clone())),
        Value::Quoted(_) => None,
        Value::Unquoted(pieces) => match pieces.as_slice() {
            [Piece::Text(t)] if !is_scalar_word(t) => Some(("==", t.clone())),
            [Piece::Text(t), Piece::Any] => Some(("startswith", t.clone())),
            [Piece::Any, Piece::Text(t)] => Some(("endswith", t.clone())),
            [Piece::Any, Piece::Text(t), Piece::Any] => Some(("contains", t.clone())),
            _ => None,
        },
    }
}

/// An unquoted `true`, `false` or number, which KQL compares with a boolean or number field.
fn is_scalar_word(text: &str) -> bool {
    matches!(text, "true" | "false") || is_number(text)
}

/// Whether `text` is a number as the rule language writes one: `-12`, `1.5`, `2e3`.
fn is_number(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let text = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (text, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// An unquoted literal as a k8scop value: a boolean or number as such, else a string.
fn scalar(text: &str, quoted: bool) -> String {
    if !quoted && is_scalar_word(text) {
        text.to_owned()
    } else {
        quote(text)
    }
}

/// `path` equal to the literal `text`: a number is compared as a number and as text, as
/// Elasticsearch reads a number for a numeric field and text for a keyword one; an unquoted
/// `true` or `false` as a boolean.
fn equals(path: &str, text: &str, quoted: bool) -> String {
    if is_number(text) {
        format!("{path} in [{text}, {}]", quote(text))
    } else {
        format!("{path} == {}", scalar(text, quoted))
    }
}

fn one_value(field: &Field, name: &str, value: &Value) -> Result<Expr, String> {
    let exists = matches!(value, Value::Unquoted(p) if p.as_slice() == [Piece::Any]);
    match field {
        Field::Path(path) => {
            if exists {
                return Ok(Expr::Atom(format!("exists {path}")));
            }
            if let Some((op, text)) = string_test(value) {
                return Ok(Expr::Atom(format!("{path} {op} {}", quote(&text))));
            }
            Ok(Expr::Atom(match value {
                Value::Unquoted(pieces) => match value.literal() {
                    Some(text) => equals(path, &text, false),
                    None => format!("{path} matches {}", quote(&wildcard_regex(pieces))),
                },
                Value::Quoted(text) => equals(path, text, true),
            }))
        }
        Field::Ip => {
            if exists {
                return Ok(Expr::Atom("exists sourceIPs".into()));
            }
            let text = value
                .literal()
                .ok_or_else(|| format!("a wildcard on the IP field `{name}` is not translated"))?;
            // An IP field matches a CIDR range as well as an address.
            Ok(Expr::Atom(if text.contains('/') {
                format!("sourceIPs cidr {}", quote(&text))
            } else {
                format!("sourceIPs == {}", quote(&text))
            }))
        }
        Field::Constant(constant) => Ok(if exists {
            Expr::And(Vec::new())
        } else {
            match value.literal() {
                Some(text) if text == *constant => Expr::And(Vec::new()),
                Some(_) => Expr::Or(Vec::new()),
                None => {
                    return Err(format!("a wildcard on `{name}` is not translated"));
                }
            }
        }),
        Field::Outcome => {
            if exists {
                return Ok(Expr::Atom(format!("{DECISION} in [\"allow\", \"forbid\"]")));
            }
            Ok(match value.literal().as_deref() {
                Some("success") => Expr::Atom(format!("{DECISION} == \"allow\"")),
                Some("failure") => Expr::Atom(format!("{DECISION} == \"forbid\"")),
                Some(_) => Expr::Or(Vec::new()),
                None => return Err(format!("a wildcard on `{name}` is not translated")),
            })
        }
    }
}

/// The k8scop condition of an EQL condition.
fn eql_condition(cond: &eql::Cond) -> Result<Expr, String> {
    computed_condition(cond, &Computed::default())
}

/// Fields an ES|QL query computes (`EVAL`, `GROK`), by name: the k8scop expression of the value
/// and the condition that it is there, or why it does not translate.
#[derive(Default)]
struct Computed(HashMap<String, ComputedField>);

/// A computed field: the k8scop expression of its value and the condition that it is there, or
/// why it does not translate.
type ComputedField = Result<(String, String), String>;

/// The command line of an exec request, which Elastic's rules compute from its `requestURI`
/// with `URL_DECODE`, `GROK` and `REPLACE`.
const EXEC_COMMAND: (&str, &str) = (
    r#"join(uri_params(requestURI, "command"), " ")"#,
    r#"len(uri_params(requestURI, "command")) > 0"#,
);

/// [`eql_condition`], with the fields an ES|QL query computed.
fn computed_condition(cond: &eql::Cond, computed: &Computed) -> Result<Expr, String> {
    Ok(match cond {
        eql::Cond::Or(parts) => Expr::or(
            parts
                .iter()
                .map(|p| computed_condition(p, computed))
                .collect::<Result<_, _>>()?,
        ),
        eql::Cond::And(parts) => Expr::and(
            parts
                .iter()
                .map(|p| computed_condition(p, computed))
                .collect::<Result<_, _>>()?,
        ),
        eql::Cond::Not(inner) => Expr::negate(computed_condition(inner, computed)?),
        eql::Cond::Cmp {
            field: name,
            op,
            values,
        } => match computed.0.get(name) {
            Some(Ok((value, _))) if is_marker(value) => {
                return Err(format!(
                    "a condition on the computed `{name}` is not translated"
                ))
            }
            Some(Ok((value, exists))) => computed_comparison(name, value, exists, *op, values)?,
            Some(Err(reason)) => return Err(reason.clone()),
            None => eql_comparison(name, *op, values)?,
        },
        eql::Cond::Kql(query) => condition(query)?,
    })
}

/// An EQL literal as k8scop text.
fn eql_literal(lit: &eql::Lit) -> String {
    match lit {
        eql::Lit::Str(s) => quote(s),
        // `5.` and `.5` are numbers to EQL, not to the rule language.
        eql::Lit::Num(n) if is_number(n) => n.clone(),
        eql::Lit::Num(n) => n
            .parse::<f64>()
            .map_or_else(|_| quote(n), |x| x.to_string()),
        eql::Lit::Bool(b) => b.to_string(),
        eql::Lit::Null => "null".to_owned(),
    }
}

/// An EQL wildcard pattern (`*` any text, `?` one character) as pieces.
fn eql_pattern(pattern: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let wildcard = match c {
            // `\*`, `\?`, `\\`: the character itself.
            '\\' => {
                text.push(chars.next().unwrap_or('\\'));
                continue;
            }
            '*' => Piece::Any,
            '?' => Piece::One,
            c => {
                text.push(c);
                continue;
            }
        };
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(wildcard);
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// A comparison of a computed field: its expression stands where a path would.
fn computed_comparison(
    name: &str,
    value: &str,
    exists: &str,
    op: eql::Op,
    values: &[eql::Lit],
) -> Result<Expr, String> {
    use eql::{Lit, Op};
    match (op, values) {
        (Op::Eq, [Lit::Null]) => Ok(Expr::negate(Expr::Atom(exists.to_owned()))),
        (Op::Ne, [Lit::Null]) => Ok(Expr::Atom(exists.to_owned())),
        (Op::Regex(insensitive), _) => Ok(Expr::or(
            values
                .iter()
                .map(|v| match v {
                    Lit::Str(re) => Ok(Expr::Atom(format!(
                        "{value} matches {}",
                        quote(&anchored(re, insensitive)?)
                    ))),
                    _ => Err(format!(
                        "`{name}` is compared with something other than a string"
                    )),
                })
                .collect::<Result<_, String>>()?,
        )),
        (Op::Eq, [Lit::Str(text)]) => Ok(Expr::Atom(format!("{value} == {}", quote(text)))),
        _ => Err(format!(
            "this comparison of the computed `{name}` is not translated"
        )),
    }
}

/// An EQL `regex` or ES|QL `RLIKE` pattern, which matches the whole value, as an anchored Rust
/// regular expression (`.` matching a newline too); checked here, so that a pattern Rust's
/// syntax rejects skips its rule instead of breaking the load of the whole directory.
fn anchored(pattern: &str, insensitive: bool) -> Result<String, String> {
    let flags = if insensitive { "(?is)" } else { "(?s)" };
    let anchored = format!("{flags}^(?:{pattern})$");
    regex::Regex::new(&anchored).map(|_| anchored).map_err(|e| {
        format!(
            "the regular expression `{pattern}` does not translate: {}",
            one_line(&e.to_string())
        )
    })
}

/// One EQL comparison.
fn eql_comparison(name: &str, op: eql::Op, values: &[eql::Lit]) -> Result<Expr, String> {
    use eql::{Lit, Op};
    let strings = || -> Result<Vec<&str>, String> {
        values
            .iter()
            .map(|v| match v {
                Lit::Str(s) => Ok(s.as_str()),
                other => Err(format!(
                    "`{name}` is compared with {} where a string is needed",
                    eql_literal(other)
                )),
            })
            .collect()
    };
    let path = match field(name)? {
        Field::Path(path) => path,
        Field::Ip => "sourceIPs".to_owned(),
        Field::Constant(constant) => {
            let holds = match (op, values) {
                (Op::Eq | Op::Colon | Op::In(_), _) => strings()?.iter().any(|v| {
                    *v == constant
                        || (matches!(op, Op::Colon | Op::In(true))
                            && v.eq_ignore_ascii_case(constant))
                }),
                (Op::Ne, [Lit::Str(v)]) => v != constant,
                _ => return Err(format!("this comparison of `{name}` is not translated")),
            };
            return Ok(if holds {
                Expr::And(Vec::new())
            } else {
                Expr::Or(Vec::new())
            });
        }
        Field::Outcome => {
            let decisions: Vec<&str> = strings()?
                .iter()
                .filter_map(|v| match *v {
                    "success" => Some("allow"),
                    "failure" => Some("forbid"),
                    _ => None,
                })
                .collect();
            let is = match decisions.as_slice() {
                [] => Expr::Or(Vec::new()),
                [one] => Expr::Atom(format!("{DECISION} == {}", quote(one))),
                several => Expr::Atom(format!("{DECISION} in {}", quote_list(several))),
            };
            return match op {
                Op::Eq | Op::In(false) => Ok(is),
                Op::Ne => Ok(Expr::negate(is)),
                _ => Err(format!("this comparison of `{name}` is not translated")),
            };
        }
    };
    let any = |exprs: Vec<Expr>| Expr::or(exprs);
    Ok(match op {
        Op::Eq | Op::Ne if values == [Lit::Null] => {
            let exists = Expr::Atom(format!("exists {path}"));
            if op == Op::Eq {
                Expr::negate(exists)
            } else {
                exists
            }
        }
        Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let symbol = match op {
                Op::Eq => "==",
                Op::Ne => "!=",
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                _ => ">=",
            };
            let [value] = values else {
                return Err(format!("`{name}` {symbol} takes one value"));
            };
            match (op, value) {
                // An address field holds a CIDR range as well as an address.
                (Op::Eq | Op::Ne, Lit::Str(v)) if path == "sourceIPs" && v.contains('/') => {
                    let within = Expr::Atom(format!("{path} cidr {}", quote(v)));
                    if op == Op::Eq {
                        within
                    } else {
                        Expr::negate(within)
                    }
                }
                // Elasticsearch's `!=` is "no value equals": true when the field is missing.
                (Op::Ne, value) => {
                    Expr::negate(Expr::Atom(format!("{path} == {}", eql_literal(value))))
                }
                (_, value) => Expr::Atom(format!("{path} {symbol} {}", eql_literal(value))),
            }
        }
        Op::In(false) => match values {
            [one] => Expr::Atom(format!("{path} == {}", eql_literal(one))),
            _ => Expr::Atom(format!(
                "{path} in [{}]",
                values
                    .iter()
                    .map(eql_literal)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        // Equality ignoring case, with wildcards for `:`.
        Op::In(true) | Op::Colon | Op::Like(true) => {
            let wildcards = !matches!(op, Op::In(true));
            any(strings()?
                .iter()
                .map(|v| {
                    let pieces = if wildcards {
                        eql_pattern(v)
                    } else {
                        vec![Piece::Text((*v).to_owned())]
                    };
                    pattern(&path, &pieces, true)
                })
                .collect())
        }
        Op::Like(false) => any(strings()?
            .iter()
            .map(|v| pattern(&path, &eql_pattern(v), false))
            .collect()),
        Op::Regex(insensitive) => any(strings()?
            .iter()
            .map(|v| {
                Ok(Expr::Atom(format!(
                    "{path} matches {}",
                    quote(&anchored(v, insensitive)?)
                )))
            })
            .collect::<Result<_, String>>()?),
        Op::StartsWith(i) | Op::EndsWith(i) | Op::Contains(i) => {
            let word = match op {
                Op::StartsWith(_) => "startswith",
                Op::EndsWith(_) => "endswith",
                _ => "contains",
            };
            let prefix = if i { "i" } else { "" };
            any(strings()?
                .iter()
                .map(|v| Expr::Atom(format!("{path} {prefix}{word} {}", quote(v))))
                .collect())
        }
    })
}

/// A wildcard pattern on `path`, case-sensitive or not: `==`, `startswith`, `endswith`,
/// `contains` (or their `i` forms) where one of them says it, else an anchored `matches`.
fn pattern(path: &str, pieces: &[Piece], insensitive: bool) -> Expr {
    let i = if insensitive { "i" } else { "" };
    Expr::Atom(match pieces {
        [Piece::Any] => format!("exists {path}"),
        [Piece::Text(t)] if insensitive => {
            format!(
                "{path} matches {}",
                quote(&format!("(?i)^{}$", regex::escape(t)))
            )
        }
        [Piece::Text(t)] => format!("{path} == {}", quote(t)),
        [Piece::Text(t), Piece::Any] => format!("{path} {i}startswith {}", quote(t)),
        [Piece::Any, Piece::Text(t)] => format!("{path} {i}endswith {}", quote(t)),
        [Piece::Any, Piece::Text(t), Piece::Any] => format!("{path} {i}contains {}", quote(t)),
        _ => {
            let flags = if insensitive { "(?i)" } else { "" };
            format!(
                "{path} matches {}",
                quote(&format!("{flags}{}", wildcard_regex(pieces)))
            )
        }
    })
}

/// An unquoted value with wildcards inside as an anchored regular expression.
fn wildcard_regex(pieces: &[Piece]) -> String {
    let mut out = String::from("^");
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&regex::escape(t)),
            Piece::Any => out.push_str("(?s:.*)"),
            Piece::One => out.push_str("(?s:.)"),
        }
    }
    out.push('$');
    out
}

/// `mitre:T1234` for each technique (and sub-technique) of the rule's MITRE ATT&CK threats,
/// then `attack:TACTIC` for each tactic, as k8scop's rules tag them.
fn tags(rule: &Rule) -> Vec<String> {
    let mut tags = Vec::new();
    let mut seen = HashSet::new();
    let mitre = rule.threat.iter().filter(|t| t.framework == "MITRE ATT&CK");
    for threat in mitre.clone() {
        for technique in &threat.technique {
            let ids = std::iter::once(technique.id.as_str())
                .chain(technique.subtechnique.iter().map(|s| s.id.as_str()));
            for id in ids {
                if seen.insert(format!("mitre:{id}")) {
                    tags.push(format!("mitre:{id}"));
                }
            }
        }
    }
    for threat in mitre {
        if let Some(tactic) = &threat.tactic {
            let tag = format!(
                "attack:{}",
                identifier(&tactic.name, "tactic").replace('_', "-")
            );
            if !tactic.id.is_empty() && seen.insert(tag.clone()) {
                tags.push(tag);
            }
        }
    }
    if let Some(id) = &rule.rule_id {
        tags.insert(0, format!("elastic:{id}"));
    }
    tags
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn rule_text(
    path: &str,
    rule: &Rule,
    name: &str,
    translated: &Translated,
    notes: &[String],
) -> String {
    let file = std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |f| f.to_string_lossy().into_owned());
    let mut text = format!("# Generated by `k8scop import elastic` from {file}.\n\n");
    let mut about = format!("Elastic rule \"{}\"", one_line(&rule.name));
    if let Some(id) = &rule.rule_id {
        let _ = write!(about, " ({id})");
    }
    let _ = write!(about, ", type {}.", rule.kind);
    text.push_str(&comment(&about, "", 100));
    for fp in &rule.false_positives {
        text.push_str(&comment(
            &format!("False positive: {}", one_line(fp)),
            "",
            100,
        ));
    }
    for note in notes {
        text.push_str(&comment(&format!("Note: {note}"), "", 100));
    }
    let severity = match rule.severity.as_deref() {
        Some("low") => "low",
        Some("high") => "high",
        Some("critical") => "critical",
        _ => "medium",
    };
    let kind = match translated {
        Translated::Rule(..) => "rule",
        Translated::Sequence { .. } => "sequence",
    };
    let _ = writeln!(text, "{kind} {name} {{");
    let title = one_line(&rule.name).replace('{', "{{").replace('}', "}}");
    let _ = writeln!(text, "    title       {}", quote(&title));
    let _ = writeln!(text, "    severity    {severity}");
    if let Some(d) = &rule.description {
        let _ = writeln!(text, "    description {}", quote(&one_line(d)));
    }
    if !rule.author.is_empty() {
        let _ = writeln!(text, "    author      {}", quote(&rule.author.join(", ")));
    }
    let tags = tags(rule);
    if !tags.is_empty() {
        let _ = writeln!(text, "    tags        {}", quote_list(&tags));
    }
    if !rule.references.is_empty() {
        let _ = writeln!(text, "    references  {}", quote_list(&rule.references));
    }
    match translated {
        Translated::Rule(when, threshold) => {
            let _ = writeln!(text, "    when        {}", when.render_wrapped(16, 100));
            if let Some(threshold) = threshold {
                let _ = writeln!(text, "    threshold   {threshold}");
            }
        }
        Translated::Sequence { by, within, steps } => {
            if !by.is_empty() {
                let _ = writeln!(text, "    by          {}", by.join(", "));
            }
            let _ = writeln!(text, "    within      {within}");
            let steps: Vec<String> = steps
                .iter()
                .map(|(when, own)| {
                    let mut step = format!("{{ {} }}", when.render_wrapped(18, 100));
                    match own.as_slice() {
                        [] => {}
                        [one] => {
                            let _ = write!(step, " by {one}");
                        }
                        several => {
                            let _ = write!(step, " by [{}]", several.join(", "));
                        }
                    }
                    step
                })
                .collect();
            let _ = writeln!(
                text,
                "    steps       {}",
                steps.join("\n                -> ")
            );
        }
    }
    text.push_str("}\n");
    text
}
