//! Reading Falco rules files: YAML items with their line numbers, and Falco's loading rules
//! across files (later definitions replace earlier ones in place, `append: true` and `override`
//! extend them, a rule item with only `enabled` switches an existing rule).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8scop_grammar::SourceFile;
use serde_yaml_ng::{Mapping, Value as Yaml};

use super::{ImportError, Problem};

/// Where an item was defined: the file's name and the 1-based line of its `- `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// The file as the user named it.
    pub file: Arc<str>,
    /// 1-based line; 0 when unknown.
    pub line: usize,
    /// Which input file (0-based), to place the item in the matching output file.
    pub input: usize,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.file, self.line)
        } else {
            f.write_str(&self.file)
        }
    }
}

/// A Falco list after loading.
#[derive(Debug, Clone)]
pub struct ListDef {
    /// Its name.
    pub name: String,
    /// Its items, as text.
    pub items: Vec<String>,
    /// Where it was first defined.
    pub loc: Loc,
    /// The comment lines just above its first definition.
    pub comments: Vec<String>,
    /// What later items did to it ("items appended at FILE:LINE").
    pub history: Vec<String>,
}

/// A Falco macro after loading.
#[derive(Debug, Clone)]
pub struct MacroDef {
    /// Its name.
    pub name: String,
    /// Its condition text.
    pub condition: String,
    /// Where it was first defined.
    pub loc: Loc,
    /// The comment lines just above its first definition.
    pub comments: Vec<String>,
    /// What later items did to it.
    pub history: Vec<String>,
}

/// One exception of a rule.
#[derive(Debug, Clone)]
pub struct Exception {
    /// Its name.
    pub name: String,
    /// `fields: [a, b]` (tuples of values) or `fields: a` (one value per entry).
    pub fields: ExceptionFields,
    /// The comparison operators, one per field (default `=`, or `in` for a single field).
    pub comps: Vec<String>,
    /// The values: tuples for several fields, values for one.
    pub values: Vec<Yaml>,
}

/// The `fields` of an exception.
#[derive(Debug, Clone)]
pub enum ExceptionFields {
    /// `fields: ka.user.name`
    One(String),
    /// `fields: [ka.user.name, ka.target.namespace]`
    Many(Vec<String>),
}

/// A Falco rule after loading.
#[derive(Debug, Clone)]
pub struct RuleDef {
    /// Its name.
    pub name: String,
    /// Its condition text.
    pub condition: String,
    /// Its output template.
    pub output: String,
    /// Its `desc`.
    pub desc: String,
    /// Its `priority`, as written.
    pub priority: String,
    /// Its `source`, when given.
    pub source: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its exceptions.
    pub exceptions: Vec<Exception>,
    /// Where it was first defined.
    pub loc: Loc,
    /// The comment lines just above its first definition.
    pub comments: Vec<String>,
    /// What later items did to it.
    pub history: Vec<String>,
}

/// A definition, in the order of first definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A list, by name.
    List(String),
    /// A macro, by name.
    Macro(String),
    /// A rule, by name.
    Rule(String),
}

/// Everything the input files define, after Falco's loading rules.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Definitions in the order Falco first saw them (its rule order for first-match).
    pub order: Vec<Entry>,
    /// Lists by name.
    pub lists: BTreeMap<String, ListDef>,
    /// Macros by name.
    pub macros: BTreeMap<String, MacroDef>,
    /// Rules by name.
    pub rules: BTreeMap<String, RuleDef>,
    /// Items that could not be loaded.
    pub problems: Vec<Problem>,
    /// Things ignored on purpose (`required_engine_version`...).
    pub notes: Vec<String>,
}

/// The text of a scalar (`80` and `true` as well as strings); `None` for others.
fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Yaml> {
    m.get(Yaml::String(key.to_owned()))
}

fn text(m: &Mapping, key: &str) -> Result<Option<String>, String> {
    match get(m, key) {
        None | Some(Yaml::Null) => Ok(None),
        Some(v) => scalar(v)
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a string")),
    }
}

fn strings(m: &Mapping, key: &str) -> Result<Option<Vec<String>>, String> {
    match get(m, key) {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::Sequence(items)) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| format!("the items of `{key}` must be strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("`{key}` must be a list")),
    }
}

fn flag(m: &Mapping, key: &str) -> Result<bool, String> {
    match get(m, key) {
        None | Some(Yaml::Null) => Ok(false),
        Some(Yaml::Bool(b)) => Ok(*b),
        Some(Yaml::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(_) => Err(format!("`{key}` must be `true` or `false`")),
    }
}

/// The `override` mapping: key to `append` or `replace`.
fn overrides(m: &Mapping) -> Result<BTreeMap<String, String>, String> {
    match get(m, "override") {
        None | Some(Yaml::Null) => Ok(BTreeMap::new()),
        Some(Yaml::Mapping(o)) => o
            .iter()
            .map(|(k, v)| {
                let k = scalar(k).ok_or("the keys of `override` must be strings")?;
                let v = scalar(v)
                    .filter(|v| v == "append" || v == "replace")
                    .ok_or_else(|| format!("`override.{k}` must be `append` or `replace`"))?;
                Ok((k, v))
            })
            .collect(),
        Some(_) => Err("`override` must be a mapping of keys to `append` or `replace`".into()),
    }
}

/// Collapses runs of whitespace (folded YAML scalars end with a newline).
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The byte offsets of the lines that start a top-level item (`- ` at column 0).
fn item_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end_matches(['\n', '\r']);
        if l == "-" || l.starts_with("- ") {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
}

/// The comment block right above the line starting at `offset` (no blank line between).
fn comments_above(text: &str, offset: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in text[..offset].lines().rev() {
        let t = line.trim();
        match t.strip_prefix('#') {
            Some(c) => lines.push(c.strip_prefix(' ').unwrap_or(c).trim_end().to_owned()),
            None => break,
        }
    }
    lines.reverse();
    lines
}

/// Reads one file's items and applies them on top of `loaded`.
pub fn load_file(
    loaded: &mut Loaded,
    input: usize,
    file: &Arc<SourceFile>,
) -> Result<(), ImportError> {
    let text = &*file.text;
    let doc: Yaml = serde_yaml_ng::from_str(text).map_err(|e| {
        let offset = e.location().map_or(0, |l| l.index());
        let message = e.to_string();
        // serde_yaml_ng appends " at line L column C"; the label shows the place.
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        ImportError::at(
            file,
            offset,
            format!("`{}` is not valid YAML", file.name),
            message,
        )
    })?;
    let items = match doc {
        Yaml::Null => return Ok(()),
        Yaml::Sequence(items) => items,
        _ => {
            return Err(ImportError::at(
                file,
                0,
                format!("`{}` is not a Falco rules file", file.name),
                "expected a list of `- list:`, `- macro:` and `- rule:` items",
            ))
        }
    };
    let starts = item_starts(text);
    let known_lines = starts.len() == items.len();
    let name: Arc<str> = file.name.as_str().into();
    for (i, item) in items.iter().enumerate() {
        let (line, comments) = if known_lines {
            (file.line_col(starts[i]).0, comments_above(text, starts[i]))
        } else {
            (0, Vec::new())
        };
        let loc = Loc {
            file: Arc::clone(&name),
            line,
            input,
        };
        let Yaml::Mapping(m) = item else {
            loaded.problems.push(Problem::new(
                "item",
                format!("#{}", i + 1),
                &loc,
                "an item must be a mapping such as `- rule: NAME`",
            ));
            continue;
        };
        if let Err((kind, name, reason)) = apply(loaded, m, &loc, comments) {
            loaded.problems.push(Problem::new(kind, name, &loc, reason));
        }
    }
    Ok(())
}

type ItemError = (&'static str, String, String);

fn apply(
    loaded: &mut Loaded,
    m: &Mapping,
    loc: &Loc,
    comments: Vec<String>,
) -> Result<(), ItemError> {
    if let Some(v) = get(m, "list") {
        let name = scalar(v).ok_or(("list", "?".into(), "`list` must be a name".into()))?;
        return list(loaded, m, loc, comments, &name).map_err(|e| ("list", name, e));
    }
    if let Some(v) = get(m, "macro") {
        let name = scalar(v).ok_or(("macro", "?".into(), "`macro` must be a name".into()))?;
        return macro_item(loaded, m, loc, comments, &name).map_err(|e| ("macro", name, e));
    }
    if let Some(v) = get(m, "rule") {
        let name = scalar(v).ok_or(("rule", "?".into(), "`rule` must be a name".into()))?;
        return rule(loaded, m, loc, comments, &name).map_err(|e| ("rule", name, e));
    }
    for key in ["required_engine_version", "required_plugin_versions"] {
        if get(m, key).is_some() {
            loaded.notes.push(format!(
                "{loc}: `{key}` ignored: k8scop reads the audit events itself, without Falco's engine or plugins"
            ));
            return Ok(());
        }
    }
    let key = m.keys().next().and_then(scalar).unwrap_or_default();
    loaded.notes.push(format!(
        "{loc}: item `{key}` ignored: not a list, macro or rule"
    ));
    Ok(())
}

fn list(
    loaded: &mut Loaded,
    m: &Mapping,
    loc: &Loc,
    comments: Vec<String>,
    name: &str,
) -> Result<(), String> {
    let items = strings(m, "items")?;
    let over = overrides(m)?;
    let append = flag(m, "append")? || over.get("items").is_some_and(|v| v == "append");
    if flag(m, "append")? && !over.is_empty() {
        return Err("`append` and `override` cannot be used together".into());
    }
    match loaded.lists.get_mut(name) {
        Some(existing) => {
            let items = items.ok_or("`items` is missing")?;
            if append {
                existing.items.extend(items);
                existing.history.push(format!("items appended at {loc}"));
            } else {
                existing.items = items;
                existing.history.push(format!("replaced at {loc}"));
            }
        }
        None if append => return Err("appends to a list that is not defined earlier".into()),
        None => {
            let items = items.ok_or("`items` is missing")?;
            loaded.order.push(Entry::List(name.to_owned()));
            loaded.lists.insert(
                name.to_owned(),
                ListDef {
                    name: name.to_owned(),
                    items,
                    loc: loc.clone(),
                    comments,
                    history: Vec::new(),
                },
            );
        }
    }
    Ok(())
}

fn macro_item(
    loaded: &mut Loaded,
    m: &Mapping,
    loc: &Loc,
    comments: Vec<String>,
    name: &str,
) -> Result<(), String> {
    let condition = text(m, "condition")?.ok_or("`condition` is missing")?;
    let over = overrides(m)?;
    if flag(m, "append")? && !over.is_empty() {
        return Err("`append` and `override` cannot be used together".into());
    }
    let append = flag(m, "append")? || over.get("condition").is_some_and(|v| v == "append");
    match loaded.macros.get_mut(name) {
        Some(existing) => {
            if append {
                existing.condition = format!("{} {}", existing.condition.trim_end(), condition);
                existing
                    .history
                    .push(format!("condition appended at {loc}"));
            } else {
                existing.condition = condition;
                existing.history.push(format!("replaced at {loc}"));
            }
        }
        None if append => return Err("appends to a macro that is not defined earlier".into()),
        None => {
            loaded.order.push(Entry::Macro(name.to_owned()));
            loaded.macros.insert(
                name.to_owned(),
                MacroDef {
                    name: name.to_owned(),
                    condition,
                    loc: loc.clone(),
                    comments,
                    history: Vec::new(),
                },
            );
        }
    }
    Ok(())
}

fn exceptions(m: &Mapping) -> Result<Vec<Exception>, String> {
    let Some(v) = get(m, "exceptions") else {
        return Ok(Vec::new());
    };
    let Yaml::Sequence(items) = v else {
        return Err("`exceptions` must be a list".into());
    };
    items
        .iter()
        .map(|item| {
            let Yaml::Mapping(e) = item else {
                return Err("each exception must be a mapping with `name`".into());
            };
            let name = text(e, "name")?.ok_or("an exception has no `name`")?;
            let fields = match get(e, "fields") {
                None | Some(Yaml::Null) => ExceptionFields::Many(Vec::new()),
                Some(Yaml::Sequence(_)) => {
                    ExceptionFields::Many(strings(e, "fields")?.unwrap_or_default())
                }
                Some(v) => ExceptionFields::One(scalar(v).ok_or_else(|| {
                    format!("exception `{name}`: `fields` must be a field or a list of fields")
                })?),
            };
            let comps = match get(e, "comps") {
                None | Some(Yaml::Null) => Vec::new(),
                Some(Yaml::Sequence(_)) => strings(e, "comps")?.unwrap_or_default(),
                Some(v) => vec![scalar(v).ok_or_else(|| {
                    format!(
                        "exception `{name}`: `comps` must be an operator or a list of operators"
                    )
                })?],
            };
            let values = match get(e, "values") {
                None | Some(Yaml::Null) => Vec::new(),
                Some(Yaml::Sequence(v)) => v.clone(),
                Some(_) => return Err(format!("exception `{name}`: `values` must be a list")),
            };
            Ok(Exception {
                name,
                fields,
                comps,
                values,
            })
        })
        .collect()
}

fn merge_exceptions(existing: &mut Vec<Exception>, new: Vec<Exception>) {
    for e in new {
        match existing.iter_mut().find(|x| x.name == e.name) {
            Some(x) => x.values.extend(e.values),
            None => existing.push(e),
        }
    }
}

fn rule(
    loaded: &mut Loaded,
    m: &Mapping,
    loc: &Loc,
    comments: Vec<String>,
    name: &str,
) -> Result<(), String> {
    let over = overrides(m)?;
    let append = flag(m, "append")?;
    if append && !over.is_empty() {
        return Err("`append` and `override` cannot be used together".into());
    }
    let condition = text(m, "condition")?;
    let enabled = match get(m, "enabled") {
        None => None,
        Some(_) => Some(flag(m, "enabled")?),
    };
    if let Some(existing) = loaded.rules.get_mut(name) {
        if append || !over.is_empty() {
            let mode = |key: &str| -> Option<&str> {
                if append {
                    matches!(key, "condition" | "exceptions").then_some("append")
                } else {
                    over.get(key).map(String::as_str)
                }
            };
            let mut changed = Vec::new();
            if let Some(c) = condition {
                match mode("condition") {
                    Some("append") => {
                        existing.condition = format!("{} {}", existing.condition.trim_end(), c)
                    }
                    Some(_) => existing.condition = c,
                    None => {
                        return Err(
                            "gives `condition` without saying to append or replace it".into()
                        )
                    }
                }
                changed.push("condition");
            }
            let exc = exceptions(m)?;
            if !exc.is_empty() {
                match mode("exceptions") {
                    Some("replace") => existing.exceptions = exc,
                    _ => merge_exceptions(&mut existing.exceptions, exc),
                }
                changed.push("exceptions");
            }
            for (key, slot) in [
                ("output", &mut existing.output),
                ("desc", &mut existing.desc),
            ] {
                if let Some(v) = text(m, key)? {
                    match mode(key) {
                        Some("append") => *slot = format!("{} {}", slot.trim_end(), v),
                        Some(_) => *slot = v,
                        None => {
                            return Err(format!(
                                "gives `{key}`, which `append: true` cannot change"
                            ))
                        }
                    }
                    changed.push(key);
                }
            }
            if let Some(p) = text(m, "priority")? {
                existing.priority = p;
                changed.push("priority");
            }
            if let Some(t) = strings(m, "tags")? {
                match mode("tags") {
                    Some("append") => existing.tags.extend(t),
                    _ => existing.tags = t,
                }
                changed.push("tags");
            }
            if let Some(e) = enabled {
                existing.enabled = e;
                changed.push("enabled");
            }
            existing
                .history
                .push(format!("{} changed at {loc}", changed.join(", ")));
            return Ok(());
        }
        if condition.is_none() {
            if let Some(e) = enabled {
                existing.enabled = e;
                existing.history.push(format!(
                    "{} at {loc}",
                    if e { "enabled" } else { "disabled" }
                ));
                return Ok(());
            }
        }
    } else if append || !over.is_empty() {
        return Err("appends to a rule that is not defined earlier".into());
    } else if condition.is_none() && enabled.is_some() {
        return Err("sets `enabled` on a rule that is not defined earlier".into());
    }
    let condition = condition.ok_or("`condition` is missing")?;
    let rule = RuleDef {
        name: name.to_owned(),
        condition,
        output: text(m, "output")?.ok_or("`output` is missing")?,
        desc: text(m, "desc")?.unwrap_or_default(),
        priority: text(m, "priority")?.ok_or("`priority` is missing")?,
        source: text(m, "source")?,
        tags: strings(m, "tags")?.unwrap_or_default(),
        enabled: enabled.unwrap_or(true),
        exceptions: exceptions(m)?,
        loc: loc.clone(),
        comments,
        history: Vec::new(),
    };
    match loaded.rules.get_mut(name) {
        // Falco replaces a redefined rule where it stood: its place in the rule order stays.
        Some(existing) => {
            let first = existing.loc.clone();
            let first_comments = std::mem::take(&mut existing.comments);
            let mut history = std::mem::take(&mut existing.history);
            history.push(format!("replaced at {loc}"));
            *existing = RuleDef {
                loc: first,
                comments: first_comments,
                history,
                ..rule
            };
        }
        None => {
            loaded.order.push(Entry::Rule(name.to_owned()));
            loaded.rules.insert(name.to_owned(), rule);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[&str]) -> Loaded {
        let mut loaded = Loaded::default();
        for (i, text) in files.iter().enumerate() {
            let file = SourceFile::new(format!("f{i}.yaml"), *text);
            load_file(&mut loaded, i, &file).unwrap();
        }
        loaded
    }

    #[test]
    fn lines_and_comments_are_kept() {
        let l = load(&["# header\n\n# users\n# more\n- list: users\n  items: [a, b]\n\n- macro: m\n  condition: ka.verb=get\n"]);
        assert_eq!(l.lists["users"].loc.to_string(), "f0.yaml:5");
        assert_eq!(l.lists["users"].comments, ["users", "more"]);
        assert_eq!(l.macros["m"].loc.line, 8);
        assert_eq!(
            l.order,
            [Entry::List("users".into()), Entry::Macro("m".into())]
        );
    }

    #[test]
    fn later_items_append_override_and_replace() {
        let l = load(&[
            "- list: l\n  items: [a]\n- macro: m\n  condition: a\n- rule: R\n  desc: d\n  condition: m\n  output: o\n  priority: WARNING\n  source: k8s_audit\n- rule: S\n  desc: d\n  condition: m\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
            "- list: l\n  items: [b]\n  append: true\n- macro: m\n  condition: or b\n  append: true\n- rule: R\n  condition: and c\n  append: true\n- rule: S\n  enabled: false\n- list: l\n  items: [c]\n  override:\n    items: append\n- rule: R\n  desc: new\n  condition: x\n  output: o2\n  priority: ERROR\n  source: k8s_audit\n",
        ]);
        assert_eq!(l.lists["l"].items, ["a", "b", "c"]);
        assert_eq!(l.macros["m"].condition, "a or b");
        assert!(!l.rules["S"].enabled);
        // Replaced in place: still the first rule, with the new content.
        assert_eq!(l.rules["R"].condition, "x");
        assert_eq!(l.rules["R"].loc.line, 5);
        assert_eq!(
            l.order
                .iter()
                .filter(|e| matches!(e, Entry::Rule(_)))
                .count(),
            2
        );
        assert!(l.problems.is_empty(), "{:?}", l.problems);
    }

    #[test]
    fn bad_items_are_problems_and_bad_yaml_an_error() {
        let l = load(&["- list: l\n  append: true\n  items: [a]\n- rule: R\n  condition: x\n"]);
        let reasons: Vec<_> = l.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            reasons,
            [
                "list `l` (f0.yaml:1): appends to a list that is not defined earlier",
                "rule `R` (f0.yaml:4): `output` is missing"
            ]
        );
        let file = SourceFile::new("bad.yaml", "- rule: a\n  condition: [x\n");
        let e = load_file(&mut Loaded::default(), 0, &file).unwrap_err();
        assert_eq!(e.to_string(), "`bad.yaml` is not valid YAML");
    }
}
