//! Sigma rules (specification v2) for the Kubernetes audit log, translated into k8scop rules.
//!
//! [`import`] takes the texts of Sigma YAML files (several documents per file for correlation
//! rules) and gives one `.rules` file per input ([`RulesFile`]), a [`RuleReport`] per Sigma
//! rule (imported under which name, or skipped and why, with notes on what changed) and the
//! [`SigmaError`]s of files that are not valid Sigma.
//!
//! - Detection rules ([`detection`], [`condition`]): selections (a map is every item, a list of
//!   maps any of them), the modifiers of the specification (the few that do not translate are
//!   reported: docs/importing-sigma.md), conditions with `and`, `or`,
//!   `not`, parentheses, `1 of` / `all of` patterns and `them`.
//! - Correlation rules: `event_count` and `value_count` become rules with a `threshold`,
//!   `temporal_ordered` a `sequence` with steps in order, `temporal` one with steps in any order
//!   (`steps all of ...`, or `steps N of ...` for a condition of N rules); `group-by` and
//!   `timespan` give the key and the window.
//! - Metadata: `level` gives the severity, `tags` become k8scop tags (`attack.t1609` is
//!   `mitre:T1609`, `attack.execution` is `attack:execution`), the Sigma `id` the tag
//!   `sigma:ID`; `author`, `description` and `references` are kept, so that every alert names the
//!   rule's author as the Detection Rule License (DRL 1.1) of SigmaHQ's rules asks. A
//!   correlation's alerts name the authors of the rules it refers to as well.

pub mod condition;
pub mod detection;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use serde_yaml_ng::{Mapping, Value};

use crate::write::{ident, quote, quote_list, Expr};
use condition::Cond;
use detection::{Mods, Val};

/// One Sigma file to import.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Where it comes from, as the user named it (used in messages and the output's header).
    pub path: &'a str,
    /// Its text.
    pub text: &'a str,
}

/// What an import produced.
#[derive(Debug, Default)]
pub struct Import {
    /// The rule files, one per input file that has at least one imported rule.
    pub files: Vec<RulesFile>,
    /// One report per Sigma rule, in input order.
    pub rules: Vec<RuleReport>,
    /// Input files, or documents of them, that are not valid Sigma.
    pub errors: Vec<SigmaError>,
}

/// A generated `.rules` file.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesFile {
    /// The file name, `<input file stem>.rules`.
    pub name: String,
    /// The input file it comes from.
    pub source: String,
    /// Its text.
    pub text: String,
}

/// What became of one Sigma rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleReport {
    /// The input file.
    pub file: String,
    /// The line its YAML document starts on.
    pub line: usize,
    /// Its `title`.
    pub title: String,
    /// Its `id`, when it has one.
    pub id: Option<String>,
    /// Imported or skipped.
    pub outcome: Outcome,
    /// What the reader of the imported rule should know: what Sigma and k8scop do differently
    /// there.
    pub notes: Vec<String>,
}

/// Whether a Sigma rule was imported.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Imported as these rules or sequences (several for a `temporal` correlation).
    Imported(Vec<String>),
    /// Not imported, for this reason.
    Skipped(String),
}

/// A file or document that is not valid Sigma.
#[derive(Debug, Clone, PartialEq)]
pub struct SigmaError {
    /// The input file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong, naming the key involved.
    pub message: String,
}

impl std::fmt::Display for SigmaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SigmaError {}

/// The metadata every Sigma rule may have.
#[derive(Debug, Clone, Default)]
struct Meta {
    title: String,
    id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    author: Option<String>,
    references: Vec<String>,
    tags: Vec<String>,
    level: Option<String>,
    status: Option<String>,
    date: Option<String>,
    license: Option<String>,
    falsepositives: Vec<String>,
}

/// One document of an input file.
struct Doc {
    file: usize,
    line: usize,
    meta: Meta,
    body: Body,
    /// The k8scop name it is imported under.
    name: String,
}

enum Body {
    Detection(Mapping, Result<(), String>),
    Correlation(Mapping),
    Skip(String),
}

/// Imports `inputs`; see the module documentation.
pub fn import(inputs: &[Input<'_>]) -> Import {
    let mut out = Import::default();
    let mut docs: Vec<Doc> = Vec::new();
    // A rule may not take the name of a stdlib function: `hour.yml` imports as `hour_2`.
    let mut used_names: HashSet<String> = k8scop_stdlib::all()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    for (file_index, input) in inputs.iter().enumerate() {
        let stem = stem(input.path);
        match read_documents(input) {
            Ok(values) => {
                for (n, (line, value)) in values.into_iter().enumerate() {
                    match document(input, line, value) {
                        Ok((meta, body)) => {
                            let base = match &meta.name {
                                Some(name) => ident(name),
                                None if n == 0 => ident(&stem),
                                None => format!("{}_{}", ident(&stem), n + 1),
                            };
                            let name = unique(&mut used_names, base);
                            docs.push(Doc {
                                file: file_index,
                                line,
                                meta,
                                body,
                                name,
                            });
                        }
                        Err(e) => out.errors.push(e),
                    }
                }
            }
            Err(e) => out.errors.push(e),
        }
    }

    // Detection conditions first: correlations refer to them by name or id.
    let mut conditions: HashMap<usize, Result<Expr, String>> = HashMap::new();
    for (i, doc) in docs.iter().enumerate() {
        if let Body::Detection(detection, logsource) = &doc.body {
            conditions.insert(
                i,
                logsource
                    .clone()
                    .and_then(|()| translate_detection(detection)),
            );
        }
    }
    let by_ref: HashMap<&str, usize> = docs
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            [d.meta.id.as_deref(), d.meta.name.as_deref()]
                .into_iter()
                .flatten()
                .map(move |r| (r, i))
        })
        .collect();

    // Correlations: what they generate, and which detection rules raise no alerts of their own
    // (`generate: false`, the default, in every correlation that refers to them).
    // Thresholds first: a temporal correlation may use one as a step (a correlation of
    // correlations), which the threshold's hits make happen.
    let mut generated: Vec<Option<Result<Generated, String>>> = docs.iter().map(|_| None).collect();
    let mut referenced: HashMap<usize, bool> = HashMap::new();
    let mut thresholds: HashSet<usize> = HashSet::new();
    for temporal_pass in [false, true] {
        for (i, doc) in docs.iter().enumerate() {
            let Body::Correlation(c) = &doc.body else {
                continue;
            };
            let kind = c.get("type").and_then(string_of);
            if matches!(kind.as_deref(), Some("temporal" | "temporal_ordered")) != temporal_pass {
                continue;
            }
            let result =
                translate_correlation(c, &doc.name, &docs, &by_ref, &conditions, &thresholds);
            if let Ok(g) = &result {
                for &r in &g.refs {
                    let entry = referenced.entry(r).or_insert(false);
                    *entry |= g.generate;
                }
                if matches!(g.kind, Generation::Threshold { .. }) {
                    thresholds.insert(i);
                }
            }
            generated[i] = Some(result);
        }
    }

    let mut texts: BTreeMap<usize, String> = BTreeMap::new();
    for (i, doc) in docs.iter().enumerate() {
        let input = &inputs[doc.file];
        let mut notes = Vec::new();
        let outcome = match &doc.body {
            Body::Skip(reason) => Outcome::Skipped(reason.clone()),
            Body::Detection(..) => match &conditions[&i] {
                Ok(when) => {
                    let enabled = referenced.get(&i).copied().unwrap_or(true);
                    if !enabled {
                        notes.push("raises no alerts of its own (`enabled false`): the correlation rules that use it have `generate: false`".into());
                    }
                    let text = texts.entry(doc.file).or_default();
                    write_header(text, &doc.meta);
                    write_rule(text, &doc.name, &doc.meta, when, enabled);
                    Outcome::Imported(vec![doc.name.clone()])
                }
                Err(reason) => Outcome::Skipped(reason.clone()),
            },
            Body::Correlation(_) => match generated[i].as_ref().expect("a correlation") {
                Ok(g) => {
                    // The rules it is built on, and those of the correlations it uses.
                    let mut built_on = Vec::new();
                    for &r in &g.refs {
                        built_on.push(r);
                        if let Some(Ok(inner)) = &generated[r] {
                            for &x in &inner.refs {
                                if !built_on.contains(&x) {
                                    built_on.push(x);
                                }
                            }
                        }
                    }
                    let meta = with_referred_authors(&doc.meta, &built_on, &docs);
                    let enabled = referenced.get(&i).copied().unwrap_or(true);
                    if !enabled {
                        notes.push("raises no alerts of its own (`enabled false`): the correlation rules that use it have `generate: false`".into());
                    }
                    let text = texts.entry(doc.file).or_default();
                    write_header(text, &meta);
                    write_built_on(text, &built_on, &docs);
                    text.push_str(&g.text(&meta, enabled));
                    notes.extend(g.notes.iter().cloned());
                    Outcome::Imported(g.names.clone())
                }
                Err(reason) => Outcome::Skipped(reason.clone()),
            },
        };
        out.rules.push(RuleReport {
            file: input.path.to_owned(),
            line: doc.line,
            title: doc.meta.title.clone(),
            id: doc.meta.id.clone(),
            outcome,
            notes,
        });
    }
    let mut file_names = HashSet::new();
    for (file, body) in texts {
        let input = &inputs[file];
        let name = unique(&mut file_names, ident(&stem(input.path)));
        out.files.push(RulesFile {
            name: format!("{name}.rules"),
            source: input.path.to_owned(),
            text: format!(
                "# Generated by `k8scop import sigma` from {}.\n\n{}",
                file_name(input.path),
                body.trim_end_matches('\n').to_owned() + "\n"
            ),
        });
    }
    out
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn stem(path: &str) -> String {
    let name = file_name(path);
    name.strip_suffix(".yml")
        .or_else(|| name.strip_suffix(".yaml"))
        .unwrap_or(name)
        .to_owned()
}

fn unique(used: &mut HashSet<String>, base: String) -> String {
    let mut name = base.clone();
    let mut n = 2;
    while !used.insert(name.clone()) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// The YAML documents of a file with the line each starts on.
fn read_documents(input: &Input<'_>) -> Result<Vec<(usize, Value)>, SigmaError> {
    use serde::Deserialize as _;
    // Where each document starts: line 1, and the line after each `---` separator.
    let mut starts = vec![1];
    for (i, line) in input.text.lines().enumerate() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            if i == 0 {
                starts[0] = 2;
            } else {
                starts.push(i + 2);
            }
        }
    }
    let mut docs = Vec::new();
    for (n, de) in serde_yaml_ng::Deserializer::from_str(input.text).enumerate() {
        let value = Value::deserialize(de).map_err(|e| SigmaError {
            file: input.path.to_owned(),
            line: e.location().map(|l| l.line()),
            column: e.location().map(|l| l.column()),
            message: format!("not valid YAML: {}", strip_location(&e.to_string())),
        })?;
        if value.is_null() {
            continue;
        }
        docs.push((starts.get(n).copied().unwrap_or(1), value));
    }
    if docs.is_empty() {
        return Err(SigmaError {
            file: input.path.to_owned(),
            line: None,
            column: None,
            message: "the file holds no Sigma rule".into(),
        });
    }
    Ok(docs)
}

fn strip_location(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

fn doc_error(input: &Input<'_>, line: usize, message: String) -> SigmaError {
    SigmaError {
        file: input.path.to_owned(),
        line: Some(line),
        column: None,
        message,
    }
}

fn string_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(items)) => items.iter().filter_map(string_of).collect(),
        Some(v) => string_of(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The metadata and body of one document.
fn document(input: &Input<'_>, line: usize, value: Value) -> Result<(Meta, Body), SigmaError> {
    let Value::Mapping(map) = value else {
        return Err(doc_error(
            input,
            line,
            "a Sigma rule is a YAML mapping (`title:`, `detection:` ...)".into(),
        ));
    };
    let get = |k: &str| map.get(k);
    let Some(title) = get("title").and_then(string_of) else {
        if get("action").is_some() {
            return Err(doc_error(input, line, "Sigma v1 rule collections (`action: global`) are not supported: write each rule in full".into()));
        }
        return Err(doc_error(input, line, "the rule has no `title`".into()));
    };
    let meta = Meta {
        title,
        id: get("id").and_then(string_of),
        name: get("name").and_then(string_of),
        description: get("description").and_then(string_of),
        author: get("author").and_then(string_of),
        references: strings_of(get("references")),
        tags: strings_of(get("tags")),
        level: get("level").and_then(string_of),
        status: get("status").and_then(string_of),
        date: get("date").and_then(string_of),
        license: get("license").and_then(string_of),
        falsepositives: strings_of(get("falsepositives")),
    };
    if let Some(level) = &meta.level {
        if severity(level).is_none() {
            return Err(doc_error(
                input,
                line,
                format!("rule `{}`: unknown `level: {level}` (informational, low, medium, high or critical)", meta.title),
            ));
        }
    }
    if let Some(c) = get("correlation") {
        let Value::Mapping(c) = c else {
            return Err(doc_error(
                input,
                line,
                format!("rule `{}`: `correlation` is not a mapping", meta.title),
            ));
        };
        return Ok((meta, Body::Correlation(c.clone())));
    }
    if get("filter").is_some() {
        return Ok((
            meta,
            Body::Skip("a Sigma filter (meta rule) changes other rules in a Sigma engine's configuration; add its condition to the imported rules with `and not`".into()),
        ));
    }
    let Some(detection) = get("detection") else {
        return Err(doc_error(
            input,
            line,
            format!(
                "rule `{}` has neither `detection` nor `correlation`",
                meta.title
            ),
        ));
    };
    let Value::Mapping(detection) = detection else {
        return Err(doc_error(
            input,
            line,
            format!("rule `{}`: `detection` is not a mapping", meta.title),
        ));
    };
    let logsource = logsource(get("logsource"));
    Ok((meta, Body::Detection(detection.clone(), logsource)))
}

/// Whether the log source is the Kubernetes audit log.
fn logsource(v: Option<&Value>) -> Result<(), String> {
    let field = |k: &str| {
        v.and_then(|v| v.get(k))
            .and_then(string_of)
            .map(|s| s.to_ascii_lowercase())
    };
    let (product, service) = (field("product"), field("service"));
    if product.as_deref() == Some("kubernetes") && service.as_deref() == Some("audit") {
        return Ok(());
    }
    Err(format!(
        "the log source (product: {}, service: {}) is not the Kubernetes audit log (product: kubernetes, service: audit)",
        product.as_deref().unwrap_or("none"),
        service.as_deref().unwrap_or("none")
    ))
}

/// A detection's condition as a k8scop condition.
fn translate_detection(detection: &Mapping) -> Result<Expr, String> {
    let mut selections: Vec<(String, Expr)> = Vec::new();
    let mut failed: HashMap<String, String> = HashMap::new();
    let mut conditions = Vec::new();
    for (key, value) in detection {
        let Some(key) = key.as_str() else {
            return Err("a detection key is not a string".into());
        };
        match key {
            "condition" => conditions = strings_of(Some(value)),
            "timeframe" => {
                return Err(
                    "`timeframe` with a `|` aggregation is Sigma v1: write a correlation rule"
                        .into(),
                )
            }
            name => match selection(name, value) {
                Ok(e) => selections.push((name.to_owned(), e)),
                Err(reason) => {
                    failed.insert(name.to_owned(), reason);
                    // Keep the name known, so that a condition that does not use it still works.
                    selections.push((name.to_owned(), Expr::Atom(String::new())));
                }
            },
        }
    }
    if conditions.is_empty() {
        return Err("the detection has no `condition`".into());
    }
    let mut exprs = Vec::new();
    for text in &conditions {
        let cond = condition::parse(text)?;
        exprs.push(resolve(&cond, &selections, &failed)?);
    }
    Ok(Expr::or(exprs))
}

fn resolve(
    cond: &Cond,
    selections: &[(String, Expr)],
    failed: &HashMap<String, String>,
) -> Result<Expr, String> {
    let named = |name: &str| -> Result<Expr, String> {
        if let Some(reason) = failed.get(name) {
            return Err(format!("selection `{name}`: {reason}"));
        }
        selections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| format!("the condition names `{name}`, which is not a selection"))
    };
    let matching = |pattern: &str| -> Result<Vec<Expr>, String> {
        let names: Vec<&String> = selections
            .iter()
            .map(|(n, _)| n)
            .filter(|n| condition::pattern_matches(pattern, n))
            .collect();
        if names.is_empty() {
            return Err(format!(
                "`of {pattern}` in the condition matches no selection"
            ));
        }
        names.into_iter().map(|n| named(n)).collect()
    };
    Ok(match cond {
        Cond::Name(n) => named(n)?,
        Cond::OneOf(p) => Expr::or(matching(p)?),
        Cond::AllOf(p) => Expr::and(matching(p)?),
        Cond::And(a, b) => Expr::and(vec![
            resolve(a, selections, failed)?,
            resolve(b, selections, failed)?,
        ]),
        Cond::Or(a, b) => Expr::or(vec![
            resolve(a, selections, failed)?,
            resolve(b, selections, failed)?,
        ]),
        Cond::Not(a) => Expr::negate(resolve(a, selections, failed)?),
    })
}

/// A selection: a map is every item; a list of maps any of them; a list of plain values (or
/// one value) keywords.
fn selection(name: &str, value: &Value) -> Result<Expr, String> {
    match value {
        Value::Mapping(items) => {
            let mut parts = Vec::new();
            for (key, v) in items {
                let Some(key) = key.as_str() else {
                    return Err(format!("a key of `{name}` is not a string"));
                };
                let mut split = key.split('|');
                let field = split.next().filter(|f| !f.is_empty());
                let mods: Vec<&str> = split.collect();
                let mods = Mods::parse(&mods).map_err(|e| format!("`{key}`: {e}"))?;
                let values = match v {
                    Value::Sequence(list) => list
                        .iter()
                        .map(|x| {
                            Val::of(x).ok_or_else(|| {
                                format!("`{key}`: a list of values holds a list or a mapping")
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    v => {
                        vec![Val::of(v).ok_or_else(|| format!("`{key}`: the value is a mapping"))?]
                    }
                };
                parts.push(detection::item(field, &mods, &values)?);
            }
            if parts.is_empty() {
                return Err(format!("`{name}` is empty"));
            }
            Ok(Expr::and(parts))
        }
        Value::Sequence(list) if list.iter().all(|v| matches!(v, Value::Mapping(_))) => {
            let parts = list
                .iter()
                .map(|v| selection(name, v))
                .collect::<Result<Vec<_>, _>>()?;
            if parts.is_empty() {
                return Err(format!("`{name}` is empty"));
            }
            Ok(Expr::or(parts))
        }
        // Keywords: a list of plain values, or one.
        Value::Sequence(list) => {
            let values = list
                .iter()
                .map(|x| {
                    Val::of(x).ok_or_else(|| {
                        format!("`{name}` mixes keywords with lists or field mappings")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            detection::keywords(&values)
        }
        v => detection::keywords(&[
            Val::of(v).ok_or_else(|| format!("`{name}` is neither a mapping nor keywords"))?
        ]),
    }
}

fn severity(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_lowercase().as_str() {
        "informational" => "info",
        "low" => "low",
        "medium" => "medium",
        "high" => "high",
        "critical" => "critical",
        _ => return None,
    })
}

/// Sigma tags as k8scop tags: `attack.t1552.007` is `mitre:T1552.007`, `attack.execution` is
/// `attack:execution`, any other `namespace.value` is `namespace:value`; the rule id is
/// `sigma:ID`.
fn tags(meta: &Meta) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(id) = &meta.id {
        out.push(format!("sigma:{id}"));
    }
    for tag in &meta.tags {
        let t = match tag.split_once('.') {
            Some(("attack", rest))
                if rest.len() > 1
                    && rest.starts_with(['t', 'T'])
                    && rest[1..].starts_with(|c: char| c.is_ascii_digit()) =>
            {
                format!("mitre:{}", rest.to_ascii_uppercase())
            }
            Some((ns, rest)) => format!("{ns}:{rest}"),
            None => tag.clone(),
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn write_header(text: &mut String, meta: &Meta) {
    if !text.is_empty() {
        text.push('\n');
    }
    let mut line = format!("# Sigma rule \"{}\"", one_line(&meta.title));
    if let Some(id) = &meta.id {
        let _ = write!(line, " ({id})");
    }
    let extra: Vec<String> = [
        meta.status.as_ref().map(|s| format!("status {s}")),
        meta.date.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !extra.is_empty() {
        let _ = write!(line, ", {}", extra.join(", "));
    }
    text.push_str(&line);
    text.push('\n');
    if let Some(author) = &meta.author {
        let _ = writeln!(
            text,
            "# Author: {}. Every alert keeps the author (`author` below), as the Detection Rule License (DRL 1.1) of SigmaHQ's rules asks.",
            one_line(author)
        );
    }
    if let Some(license) = &meta.license {
        let _ = writeln!(text, "# License: {}", one_line(license));
    }
    for fp in &meta.falsepositives {
        let _ = writeln!(text, "# False positive: {}", one_line(fp));
    }
}

/// A correlation's metadata with the authors of the rules it refers to added to its own
/// (each once, its own first): its alerts are made from those rules, whose authors the
/// Detection Rule License (DRL 1.1) asks to keep, and with `generate: false` those rules raise
/// no alerts of their own.
fn with_referred_authors(meta: &Meta, refs: &[usize], docs: &[Doc]) -> Meta {
    let mut authors: Vec<String> = Vec::new();
    let referred = refs.iter().map(|&r| docs[r].meta.author.as_ref());
    for author in std::iter::once(meta.author.as_ref())
        .chain(referred)
        .flatten()
    {
        let author = one_line(author);
        if !authors.contains(&author) {
            authors.push(author);
        }
    }
    Meta {
        author: (!authors.is_empty()).then(|| authors.join(", ")),
        ..meta.clone()
    }
}

/// The comment that says which Sigma rules a correlation is built on, and their authors.
fn write_built_on(text: &mut String, refs: &[usize], docs: &[Doc]) {
    let rules: Vec<String> = refs
        .iter()
        .map(|&r| {
            let meta = &docs[r].meta;
            match &meta.author {
                Some(author) => format!("\"{}\" ({})", one_line(&meta.title), one_line(author)),
                None => format!("\"{}\"", one_line(&meta.title)),
            }
        })
        .collect();
    let _ = writeln!(text, "# Built on the Sigma rules {}.", rules.join(", "));
}

/// The properties every imported rule or sequence has.
fn write_meta(text: &mut String, meta: &Meta) {
    let _ = writeln!(
        text,
        "    title       {}",
        quote(&escape_template(&meta.title))
    );
    let _ = writeln!(
        text,
        "    severity    {}",
        meta.level.as_deref().and_then(severity).unwrap_or("medium")
    );
    if let Some(d) = &meta.description {
        let _ = writeln!(text, "    description {}", quote(&one_line(d)));
    }
    if let Some(a) = &meta.author {
        let _ = writeln!(text, "    author      {}", quote(&one_line(a)));
    }
    let tags = tags(meta);
    if !tags.is_empty() {
        let _ = writeln!(text, "    tags        {}", quote_list(&tags));
    }
    if !meta.references.is_empty() {
        let _ = writeln!(text, "    references  {}", quote_list(&meta.references));
    }
}

fn escape_template(title: &str) -> String {
    one_line(title).replace('{', "{{").replace('}', "}}")
}

fn write_rule(text: &mut String, name: &str, meta: &Meta, when: &Expr, enabled: bool) {
    let _ = writeln!(text, "rule {name} {{");
    write_meta(text, meta);
    if !enabled {
        text.push_str("    enabled     false\n");
    }
    let _ = writeln!(text, "    when        {}", when.render_wrapped(16, 100));
    text.push_str("}\n");
}

/// What a correlation rule becomes.
struct Generated {
    /// The names of the rules or sequences written.
    names: Vec<String>,
    /// The detection documents it refers to.
    refs: Vec<usize>,
    /// `generate: true`: the referred rules keep their own alerts.
    generate: bool,
    kind: Generation,
    notes: Vec<String>,
}

enum Generation {
    /// A rule with a threshold.
    Threshold { when: Expr, threshold: String },
    /// A sequence.
    Sequence {
        by: String,
        within: String,
        /// What follows `steps`: `A -> B`, `all of A, B` or `N of A, B, C`.
        steps: String,
    },
}

impl Generated {
    /// The rule or sequence; `enabled: false` when the correlations that use it have
    /// `generate: false`.
    fn text(&self, meta: &Meta, enabled: bool) -> String {
        let mut text = String::new();
        match &self.kind {
            Generation::Threshold { when, threshold } => {
                let _ = writeln!(text, "rule {} {{", self.names[0]);
                write_meta(&mut text, meta);
                if !enabled {
                    text.push_str("    enabled     false\n");
                }
                let _ = writeln!(text, "    when        {}", when.render_wrapped(16, 100));
                let _ = writeln!(text, "    threshold   {threshold}");
                text.push_str("}\n");
            }
            Generation::Sequence { by, within, steps } => {
                let _ = writeln!(text, "sequence {} {{", self.names[0]);
                write_meta(&mut text, meta);
                if !by.is_empty() {
                    let _ = writeln!(text, "    by          {by}");
                }
                let _ = writeln!(text, "    within      {within}");
                let _ = writeln!(text, "    steps       {steps}");
                text.push_str("}\n");
            }
        }
        text
    }
}

/// A Sigma timespan as a k8scop duration: `30s`, `5m`, `1h`, `2d`, `1w` (as `7d`).
fn duration(timespan: &str) -> Result<String, String> {
    let t = timespan.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("the timespan `{timespan}` is not a number and a unit"))?;
    Ok(match unit {
        "s" | "m" | "h" | "d" => format!("{n}{unit}"),
        "w" => format!("{}d", n * 7),
        "M" | "y" => {
            return Err(format!(
                "the timespan `{timespan}` is in months or years: k8scop windows are at most days (`d`)"
            ))
        }
        _ => return Err(format!("the timespan `{timespan}` has no unit s, m, h, d or w")),
    })
}

fn translate_correlation(
    c: &Mapping,
    name: &str,
    docs: &[Doc],
    by_ref: &HashMap<&str, usize>,
    conditions: &HashMap<usize, Result<Expr, String>>,
    thresholds: &HashSet<usize>,
) -> Result<Generated, String> {
    let get = |k: &str| c.get(k);
    let kind = get("type")
        .and_then(string_of)
        .ok_or("the correlation has no `type`")?;
    let rule_refs = strings_of(get("rules"));
    if rule_refs.is_empty() {
        return Err("the correlation names no `rules`".into());
    }
    let aliases = aliases_of(get("aliases"))?;
    if !aliases.is_empty() && !matches!(kind.as_str(), "temporal" | "temporal_ordered") {
        return Err(format!("`aliases` are translated for `temporal` and `temporal_ordered` correlations only: the k8scop threshold a `{kind}` correlation becomes groups every rule's events by the same paths"));
    }
    let mut refs = Vec::new();
    for r in &rule_refs {
        let Some(&i) = by_ref.get(r.as_str()) else {
            return Err(format!(
                "it refers to `{r}`, which is no rule `id` or `name` among the imported files"
            ));
        };
        match conditions.get(&i) {
            Some(Ok(_)) => refs.push(i),
            Some(Err(reason)) => {
                return Err(format!("the rule `{r}` it refers to is not imported: {reason}"))
            }
            // A correlation of correlations: a temporal one may take the rule a threshold
            // correlation became as a step, since its hits are steps.
            None if thresholds.contains(&i)
                && matches!(kind.as_str(), "temporal" | "temporal_ordered") =>
            {
                refs.push(i)
            }
            None => {
                return Err(format!(
                    "it refers to `{r}`, a correlation rule: only a `temporal` or `temporal_ordered` correlation of `event_count` and `value_*` correlations (imported) translates"
                ))
            }
        }
    }
    let group_by: Vec<String> = strings_of(get("group-by"))
        .iter()
        .map(|f| crate::write::path(&f.split('.').collect::<Vec<_>>()))
        .collect();
    let timespan = get("timespan")
        .and_then(string_of)
        .ok_or("the correlation has no `timespan`")?;
    let within = duration(&timespan)?;
    let generate = get("generate").and_then(Value::as_bool).unwrap_or(false);
    let by = if group_by.is_empty() {
        String::new()
    } else {
        format!(" by {}", group_by.join(", "))
    };
    let mut notes = Vec::new();
    match kind.as_str() {
        "event_count" | "value_count" | "value_sum" | "value_avg" | "value_median"
        | "value_percentile" => {
            let cond = get("condition").ok_or("the correlation has no `condition`")?;
            let bounds: Vec<String> = count_condition(cond)?
                .into_iter()
                .map(|(op, n)| format!("{op} {n}"))
                .collect();
            let what = match kind.as_str() {
                "event_count" => "count".to_owned(),
                _ => {
                    let field = cond
                        .get("field")
                        .and_then(string_of)
                        .ok_or_else(|| format!("a `{kind}` condition needs `field`"))?;
                    let reduce = match kind.as_str() {
                        "value_count" => "distinct".to_owned(),
                        "value_sum" => "sum".to_owned(),
                        "value_avg" => "avg".to_owned(),
                        "value_median" => "median".to_owned(),
                        _ => match cond.get("percentile") {
                            None => {
                                notes.push("without `percentile` in its condition, the percentile is the 50th, as rsigma takes it".into());
                                "percentile 50".to_owned()
                            }
                            Some(p) => match p.as_u64() {
                                Some(p) if p <= 100 => format!("percentile {p}"),
                                _ => {
                                    return Err(
                                        "the `percentile` of the condition is not a whole number from 0 to 100"
                                            .into(),
                                    )
                                }
                            },
                        },
                    };
                    let path = crate::write::path(&field.split('.').collect::<Vec<_>>());
                    format!("{reduce} {path}")
                }
            };
            let when = Expr::or(
                refs.iter()
                    .map(|i| conditions[i].clone().expect("checked above"))
                    .collect(),
            );
            notes.push("a k8scop threshold fires at every match whose count in the timespan before it passes the condition (a sliding window, as rsigma's); an event that matches several of the referred rules counts once".into());
            if matches!(kind.as_str(), "value_avg" | "value_median" | "value_percentile") {
                notes.push("while no match in the timespan holds a number, there is no mean or median and no alert".into());
            }
            Ok(Generated {
                names: vec![name.to_owned()],
                refs,
                generate,
                kind: Generation::Threshold {
                    when,
                    threshold: format!("{what} {} within {within}{by}", bounds.join(" and ")),
                },
                notes,
            })
        }
        "temporal" | "temporal_ordered" => {
            let (need, note) = temporal_condition(get("condition"), &kind, refs.len())?;
            notes.extend(note);
            if group_by.is_empty() {
                notes.push("without `group-by`, the sequence has no `by`: the rules may match events that have nothing in common".into());
            }
            notes.push("a k8scop sequence fires at the event that completes it and uses its events up; rsigma fires again at each further event of the rules while the timespan still holds them".into());
            // With aliases, each step is keyed by its rule's own fields, in group-by order; the
            // sequence then has no `by` of its own (the alias names are no fields).
            let aliased = !aliases.is_empty();
            let group_fields = strings_of(get("group-by"));
            let mut step_names = Vec::with_capacity(refs.len());
            for (&i, written) in refs.iter().zip(&rule_refs) {
                let name = docs[i].name.clone();
                if !aliased || group_fields.is_empty() {
                    step_names.push(name);
                    continue;
                }
                let names = [Some(written.as_str()), docs[i].meta.id.as_deref(), docs[i].meta.name.as_deref()];
                let mut paths = Vec::with_capacity(group_fields.len());
                for field in &group_fields {
                    let mapped = aliases
                        .get(field)
                        .and_then(|mapping| names.iter().flatten().find_map(|n| mapping.get(*n)));
                    let field = match mapped {
                        Some(mapped) => mapped,
                        None => {
                            if aliases.contains_key(field) {
                                notes.push(format!("the alias `{field}` names no field of the rule `{written}`: its step is keyed by a field named `{field}`, as rsigma reads it"));
                            }
                            field
                        }
                    };
                    paths.push(crate::write::path(&field.split('.').collect::<Vec<_>>()));
                }
                step_names.push(match paths.as_slice() {
                    [one] => format!("{name} by {one}"),
                    _ => format!("{name} by [{}]", paths.join(", ")),
                });
            }
            if aliased && group_fields.is_empty() {
                notes.push("`aliases` without `group-by` name no key: they are left out".into());
            } else if aliased {
                notes.push("each step is keyed by its rule's fields as `aliases` names them; the alerts name the key's values by the paths of the step that completed the match".into());
            }
            let steps = if kind == "temporal_ordered" {
                step_names.join(" -> ")
            } else {
                let need = match need {
                    Some(n) if n < refs.len() as u64 => n.to_string(),
                    _ => "all".to_owned(),
                };
                format!("{need} of {}", step_names.join(", "))
            };
            Ok(Generated {
                names: vec![name.to_owned()],
                refs,
                generate,
                kind: Generation::Sequence {
                    by: if aliased { String::new() } else { group_by.join(", ") },
                    within,
                    steps,
                },
                notes,
            })
        }
        other => Err(format!(
            "the correlation type `{other}` is not translated (event_count, value_count, value_sum, value_avg, value_median, value_percentile, temporal and temporal_ordered are)"
        )),
    }
}

/// A correlation's `aliases`: for each alias (a name in `group-by`), the field it stands for in
/// each rule, by the rule's reference (name or id).
fn aliases_of(aliases: Option<&Value>) -> Result<HashMap<String, HashMap<String, String>>, String> {
    let Some(aliases) = aliases else {
        return Ok(HashMap::new());
    };
    let Value::Mapping(aliases) = aliases else {
        return Err("`aliases` is not a mapping of aliases to rules and their fields".into());
    };
    let mut out = HashMap::new();
    for (alias, mapping) in aliases {
        let (Some(alias), Value::Mapping(mapping)) = (string_of(alias), mapping) else {
            return Err("`aliases` is not a mapping of aliases to rules and their fields".into());
        };
        let mut fields = HashMap::new();
        for (rule, field) in mapping {
            let (Some(rule), Some(field)) = (string_of(rule), string_of(field)) else {
                return Err(format!(
                    "the alias `{alias}` does not map rules to field names"
                ));
            };
            fields.insert(rule, field);
        }
        out.insert(alias, fields);
    }
    Ok(out)
}

/// A correlation `condition` (`gte: N`, `lt: N`, ..., several making a range) as the comparisons
/// of a k8scop threshold, in the order written.
fn count_condition(cond: &Value) -> Result<Vec<(&'static str, u64)>, String> {
    let Value::Mapping(m) = cond else {
        return Err("the correlation `condition` is not a mapping".into());
    };
    let mut bounds = Vec::new();
    for (k, v) in m {
        let Some(k) = k.as_str() else { continue };
        let op = match k {
            "gte" => ">=",
            "gt" => ">",
            "lte" => "<=",
            "lt" => "<",
            "eq" => "==",
            "neq" => "!=",
            "field" | "percentile" => continue,
            other => return Err(format!("unknown correlation condition `{other}`")),
        };
        let n = v
            .as_u64()
            .ok_or_else(|| format!("the condition `{k}` needs a whole number"))?;
        bounds.push((op, n));
    }
    if bounds.is_empty() {
        return Err(
            "the correlation `condition` has no comparison (gte, gt, lte, lt, eq, neq)".into(),
        );
    }
    Ok(bounds)
}

/// A temporal correlation's optional `condition`, as the number of its rules that must match:
/// `None` for all of them (no condition). A `temporal` correlation takes `gte: N` (or `gt: N - 1`)
/// for N from 1 to its number of rules, which become `steps N of ...`; a `temporal_ordered` one
/// needs every rule, as a sequence of steps in order does, and as rsigma reads a condition of
/// fewer (which the note that comes with it says).
fn temporal_condition(
    cond: Option<&Value>,
    kind: &str,
    rules: usize,
) -> Result<(Option<u64>, Option<String>), String> {
    let Some(cond) = cond else {
        return Ok((None, None));
    };
    if cond.is_string() {
        return Err(format!("a `{kind}` condition that is an expression over the rules is not translated: write `gte: N` for N of the rules"));
    }
    let all = rules as u64;
    let need = match count_condition(cond)?.as_slice() {
        [(">=", n)] => u128::from(*n),
        [(">", n)] => u128::from(*n) + 1,
        bounds => {
            let text: Vec<String> = bounds.iter().map(|(op, n)| format!("{op} {n}")).collect();
            return Err(format!("a `{kind}` condition `{}` is not translated: k8scop counts the rules that matched with `gte: N` (`steps N of ...`)", text.join(" and ")));
        }
    };
    if need == u128::from(all) {
        return Ok((Some(all), None));
    }
    if need == 0 {
        return Err(format!(
            "a `{kind}` condition of 0 rules holds without any rule matching: it is not translated"
        ));
    }
    if need > u128::from(all) {
        return Err(format!(
            "a `{kind}` condition of {need} of its {rules} rules never holds"
        ));
    }
    if kind == "temporal_ordered" {
        // rsigma counts a `temporal_ordered` correlation as every rule (all matched in order)
        // or none, so that fewer than all holds exactly when every rule matched in order.
        let note = format!("a `temporal_ordered` condition of {need} of its {rules} rules holds, as rsigma counts it, only when every rule matched in order: the steps are every rule");
        return Ok((Some(all), Some(note)));
    }
    Ok((Some(need as u64), None))
}

#[cfg(test)]
mod tests;
