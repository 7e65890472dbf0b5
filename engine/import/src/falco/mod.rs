//! `k8scop import falco`: Falco's YAML rules for the `k8s_audit` source as k8scop rule files.
//!
//! [`import`] reads the files in order with Falco's loading rules ([`load`]), parses each
//! condition ([`condition`]), maps the `ka.*` and `jevt.*` fields to audit event paths
//! ([`fields`]) and writes the lists, macros and rules as rule-language text ([`translate`]).
//! What does not translate is left out, reported per item in the [`Report`] and as a comment in
//! the generated file; the rest is still imported.
//!
//! With [`Options::first_match`], each rule only matches an event that no earlier enabled rule
//! matched: Falco's default of reporting the first matching rule per event, written into the
//! conditions (`when disallowed_pod_condition and not matched_before_disallowed_pod`), so the
//! generated rules need nothing from the engine that k8scop rules do not have.

pub mod condition;
pub mod fields;
pub mod load;
pub mod translate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use k8scop_grammar::SourceFile;

use crate::write::{comment, identifier, is_identifier, is_reserved, quote, Names, OutputFile};
use load::{Entry, Exception, ExceptionFields, Loaded, Loc, RuleDef};
use translate::{Cond, Env, Helper, MacroState};

/// A rules file to import: its name as the user gave it, and its text.
#[derive(Debug, Clone)]
pub struct Input {
    /// The file's name (shown in messages and comments).
    pub name: String,
    /// Its YAML text.
    pub text: String,
}

/// How to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Falco's default: a rule matches only events that no earlier enabled rule matched.
    pub first_match: bool,
}

/// An item that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `rule`, `macro`, `list` or `item`.
    pub kind: &'static str,
    /// The item's Falco name.
    pub name: String,
    /// `FILE:LINE` of its definition.
    pub location: String,
    /// Why, in one line.
    pub reason: String,
}

impl Problem {
    fn new(
        kind: &'static str,
        name: impl Into<String>,
        loc: &Loc,
        reason: impl Into<String>,
    ) -> Problem {
        Problem {
            kind,
            name: name.into(),
            location: loc.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}` ({}): {}",
            self.kind, self.name, self.location, self.reason
        )
    }
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Rules written (enabled or not).
    pub rules: usize,
    /// Falco macros written.
    pub macros: usize,
    /// Macros the importer added: one per exception, and with first-match each rule's condition
    /// and the earlier rules it must not follow.
    pub generated_macros: usize,
    /// Lists written.
    pub lists: usize,
    /// Rules written with `enabled false` because Falco ships them switched off.
    pub disabled: Vec<String>,
    /// Items not imported, with the reason.
    pub problems: Vec<Problem>,
    /// What was ignored on purpose or translated with a difference worth knowing.
    pub notes: Vec<String>,
}

/// The result of an import: the files to write and the report.
#[derive(Debug, Clone)]
pub struct Import {
    /// The generated `.rules` files.
    pub files: Vec<OutputFile>,
    /// What was imported and what was not.
    pub report: Report,
    /// Falco rule name to k8scop rule name, in Falco's rule order.
    pub rule_names: Vec<(String, String)>,
}

/// An input that cannot be imported at all (not YAML, not a rules file), with the place.
#[derive(Debug)]
pub struct ImportError {
    message: String,
    label: String,
    file: Arc<SourceFile>,
    offset: usize,
}

impl ImportError {
    fn at(
        file: &Arc<SourceFile>,
        offset: usize,
        message: String,
        label: impl Into<String>,
    ) -> ImportError {
        ImportError {
            message,
            label: label.into(),
            file: Arc::clone(file),
            offset,
        }
    }

    /// `FILE:LINE:COLUMN` of the error.
    pub fn location(&self) -> String {
        let (line, col) = self.file.line_col(self.offset);
        format!("{}:{line}:{col}", self.file.name)
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ImportError {}

impl miette::Diagnostic for ImportError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("k8scop::import_falco"))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&*self.file)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let len = self.file.text[self.offset..]
            .chars()
            .next()
            .map_or(0, char::len_utf8);
        Some(Box::new(std::iter::once(miette::LabeledSpan::new(
            Some(self.label.clone()),
            self.offset,
            len,
        ))))
    }
}

/// Falco's priority as a k8scop severity.
pub fn severity(priority: &str) -> Option<&'static str> {
    Some(match priority.to_ascii_uppercase().as_str() {
        "EMERGENCY" | "ALERT" | "CRITICAL" => "critical",
        "ERROR" => "high",
        "WARNING" => "medium",
        "NOTICE" => "low",
        "INFORMATIONAL" | "INFO" | "DEBUG" => "info",
        _ => return None,
    })
}

/// Whether a rule's `source` is read from Kubernetes audit events.
fn audit_source(source: &str) -> bool {
    source == "k8s_audit" || source.starts_with("k8saudit")
}

/// Imports Falco rules files, in order (later files extend and replace what earlier ones define,
/// as Falco loads them).
pub fn import(inputs: &[Input], options: &Options) -> Result<Import, ImportError> {
    let mut loaded = Loaded::default();
    let sources: Vec<Arc<SourceFile>> = inputs
        .iter()
        .map(|i| SourceFile::new(i.name.clone(), i.text.as_str()))
        .collect();
    for (i, file) in sources.iter().enumerate() {
        load::load_file(&mut loaded, i, file)?;
    }
    Ok(Generator::new(loaded, inputs, *options).run())
}

/// The first-match order so far: each earlier enabled rule's condition macro, and the
/// `ka.target.resource` values it needs (`None`: any).
type Chain = Vec<(String, Option<BTreeSet<String>>)>;

/// One definition as it will be written.
struct Written {
    /// Which output file (the input file of its first definition).
    input: usize,
    text: String,
}

struct Generator<'a> {
    loaded: Loaded,
    inputs: &'a [Input],
    options: Options,
    names: Names,
    env: Env,
    helpers: BTreeSet<Helper>,
    report: Report,
    written: Vec<Written>,
    rule_names: Vec<(String, String)>,
}

/// The k8scop name for a Falco list or macro name.
fn name_for(falco: &str) -> String {
    if is_identifier(falco) && !is_reserved(falco) {
        falco.to_owned()
    } else {
        identifier(falco, "falco")
    }
}

impl<'a> Generator<'a> {
    fn new(loaded: Loaded, inputs: &'a [Input], options: Options) -> Self {
        Generator {
            loaded,
            inputs,
            options,
            names: Names::default(),
            env: Env::default(),
            helpers: BTreeSet::new(),
            report: Report::default(),
            written: Vec::new(),
            rule_names: Vec::new(),
        }
    }

    fn run(mut self) -> Import {
        self.report.problems = std::mem::take(&mut self.loaded.problems);
        self.report.notes = std::mem::take(&mut self.loaded.notes);
        for h in Helper::ALL {
            self.names.claim(h.name());
        }
        // Names first: definitions are order-free in k8scop, and a path whose first segment is
        // a list or macro name must be quoted.
        let order = self.loaded.order.clone();
        for entry in &order {
            match entry {
                Entry::List(n) => {
                    let k = self.names.claim(&name_for(n));
                    self.env.lists.insert(n.clone(), k.clone());
                    self.env
                        .list_items
                        .insert(n.clone(), self.loaded.lists[n].items.clone());
                    self.env.names.insert(k);
                }
                Entry::Macro(n) => {
                    let k = self.names.claim(&name_for(n));
                    self.env.names.insert(k.clone());
                    // Provisional: resolved below, in dependency order.
                    self.env.macros.insert(
                        n.clone(),
                        MacroState::Ok {
                            name: k,
                            constant: None,
                        },
                    );
                }
                Entry::Rule(_) => {}
            }
        }
        let mut macro_conds = BTreeMap::new();
        let macro_names: Vec<String> = self.loaded.macros.keys().cloned().collect();
        let mut visiting = BTreeSet::new();
        for n in &macro_names {
            self.resolve_macro(n, &mut visiting, &mut macro_conds);
        }
        let mut first_match_chain: Chain = Vec::new();
        for entry in &order {
            match entry {
                Entry::List(n) => self.write_list(n),
                Entry::Macro(n) => self.write_macro(n, &macro_conds),
                Entry::Rule(n) => self.write_rule(n, &mut first_match_chain),
            }
        }
        if self.options.first_match && self.report.problems.iter().any(|p| p.kind == "rule") {
            self.report.notes.push(
                "first-match: rules that did not translate are not part of the rule order, so an event they would have matched first may be reported by a later rule".into(),
            );
        }
        let files = self.files();
        Import {
            files,
            report: self.report,
            rule_names: self.rule_names,
        }
    }

    /// Translates macro `name` after the macros it uses, so that their constants are known.
    fn resolve_macro(
        &mut self,
        name: &str,
        visiting: &mut BTreeSet<String>,
        done: &mut BTreeMap<String, Result<Cond, String>>,
    ) {
        if done.contains_key(name) {
            return;
        }
        let def = &self.loaded.macros[name];
        let parsed = condition::parse(&def.condition);
        let result = match parsed {
            Err(e) => Err(format!("the condition does not parse: {e}")),
            Ok(expr) => {
                visiting.insert(name.to_owned());
                let mut used = Vec::new();
                macros_used(&expr, &mut used);
                let mut cycle = None;
                for u in used {
                    if visiting.contains(&u) {
                        cycle = Some(u);
                        break;
                    }
                    if self.loaded.macros.contains_key(&u) {
                        self.resolve_macro(&u, visiting, done);
                    }
                }
                visiting.remove(name);
                match cycle {
                    Some(u) => Err(format!("macro `{u}` uses this macro in a cycle")),
                    None => translate::translate(&expr, &self.env).map(|t| {
                        self.helpers.extend(t.helpers);
                        t.cond
                    }),
                }
            }
        };
        let state = match &result {
            Ok(cond) => MacroState::Ok {
                name: match &self.env.macros[name] {
                    MacroState::Ok { name, .. } => name.clone(),
                    MacroState::Broken(_) => name_for(name),
                },
                constant: cond.constant(),
            },
            Err(reason) => MacroState::Broken(reason.clone()),
        };
        self.env.macros.insert(name.to_owned(), state);
        done.insert(name.to_owned(), result);
    }

    fn write(&mut self, input: usize, text: String) {
        self.written.push(Written { input, text });
    }

    fn header(comments: &[String], what: &str, loc: &Loc, history: &[String]) -> String {
        let mut out = String::new();
        for c in comments {
            if c.is_empty() {
                out.push_str("#\n");
            } else {
                out.push_str(&format!("# {c}\n"));
            }
        }
        let mut origin = format!("Falco {what} ({loc})");
        if !history.is_empty() {
            origin.push_str(&format!("; {}", history.join("; ")));
        }
        out.push_str(&comment(&origin, "", 100));
        out
    }

    fn write_list(&mut self, n: &str) {
        let def = self.loaded.lists[n].clone();
        let k = self.env.lists[n].clone();
        let items: Vec<String> = def
            .items
            .iter()
            .map(|i| match self.env.lists.get(i) {
                Some(other) if i != n => other.clone(),
                _ => quote(i),
            })
            .collect();
        let mut text = Self::header(
            &def.comments,
            &format!("list `{n}`"),
            &def.loc,
            &def.history,
        );
        text.push_str(&format!(
            "list {k} = {}\n",
            wrap_list(&items, format!("list {k} = ").len(), 100)
        ));
        self.report.lists += 1;
        self.write(def.loc.input, text);
    }

    fn write_macro(&mut self, n: &str, conds: &BTreeMap<String, Result<Cond, String>>) {
        let def = self.loaded.macros[n].clone();
        let mut text = Self::header(
            &def.comments,
            &format!("macro `{n}`"),
            &def.loc,
            &def.history,
        );
        match &conds[n] {
            Ok(cond) => {
                let MacroState::Ok { name, .. } = &self.env.macros[n] else {
                    unreachable!("a translated macro has a name")
                };
                let lead = format!("macro {name} = ");
                text.push_str(&format!(
                    "{lead}{}\n",
                    cond.render_wrapped(lead.len() - 2, 100)
                ));
                self.report.macros += 1;
            }
            Err(reason) => {
                self.report
                    .problems
                    .push(Problem::new("macro", n, &def.loc, reason.clone()));
                text.push_str(&not_imported("macro", n, reason, &def.condition));
            }
        }
        self.write(def.loc.input, text);
    }

    fn write_rule(&mut self, n: &str, chain: &mut Chain) {
        let def = self.loaded.rules[n].clone();
        let mut text = Self::header(
            &def.comments,
            &format!("rule \"{n}\""),
            &def.loc,
            &def.history,
        );
        match self.rule_text(&def, chain) {
            Ok(rule) => {
                text.push_str(&rule);
                self.report.rules += 1;
            }
            Err(reason) => {
                self.report
                    .problems
                    .push(Problem::new("rule", n, &def.loc, reason.clone()));
                text.push_str(&not_imported("rule", n, &reason, &def.condition));
            }
        }
        self.write(def.loc.input, text);
    }

    fn rule_text(&mut self, def: &RuleDef, chain: &mut Chain) -> Result<String, String> {
        let source = def.source.as_deref().unwrap_or("syscall");
        if !audit_source(source) {
            return Err(format!(
                "its source is `{source}`, not Kubernetes audit events (`k8s_audit`)"
            ));
        }
        let severity = severity(&def.priority).ok_or_else(|| {
            format!(
                "unknown priority `{}` (expected EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL or DEBUG)",
                def.priority
            )
        })?;
        let expr = condition::parse(&def.condition)
            .map_err(|e| format!("the condition does not parse: {e}"))?;
        let translated = translate::translate(&expr, &self.env)?;
        let mut helpers = translated.helpers;
        let mut cond = translated.cond;
        let id = self.names.claim(&identifier(&def.name, "falco"));
        self.env.names.insert(id.clone());
        let mut extra = String::new();
        for e in &def.exceptions {
            let exc = exception(e, &self.env)
                .map_err(|reason| format!("exception `{}`: {reason}", e.name))?;
            let Some(exc) = exc else { continue };
            helpers.extend(exc.helpers);
            let macro_name = self
                .names
                .claim(&format!("{id}_except_{}", identifier(&e.name, "exception")));
            self.env.names.insert(macro_name.clone());
            let lead = format!("macro {macro_name} = ");
            extra.push_str(&comment(
                &format!(
                    "Exception `{}` of Falco rule \"{}\": events it matches are not reported.",
                    e.name, def.name
                ),
                "",
                100,
            ));
            extra.push_str(&format!(
                "{lead}{}\n",
                exc.cond.render_wrapped(lead.len() - 2, 100)
            ));
            self.report.generated_macros += 1;
            cond = cond.and_not(Cond::Macro {
                name: macro_name,
                constant: None,
            });
        }
        self.helpers.extend(helpers);
        let switched_off = cond.constant() == Some(false);
        if switched_off {
            let mut why = Vec::new();
            cond.constant_macros(&mut why);
            self.report.disabled.push(def.name.clone());
            extra.push_str(&comment(
                &format!(
                    "Falco ships this rule switched off: its condition can never be true as written ({}). To turn it on, edit {} and remove `enabled false`.",
                    if why.is_empty() { "a constant".to_owned() } else { why.iter().map(|w| format!("macro `{w}`")).collect::<Vec<_>>().join(", ") },
                    if why.len() == 1 { "that macro" } else { "those macros" }
                ),
                "",
                100,
            ));
        }
        // First-match: the rule's own condition in a macro, and the rule matches only when no
        // earlier enabled rule did.
        let when = if self.options.first_match && def.enabled && !switched_off {
            let own = self.names.claim(&format!("{id}_condition"));
            self.env.names.insert(own.clone());
            let lead = format!("macro {own} = ");
            extra.push_str(&format!(
                "{lead}{}\n",
                cond.render_wrapped(lead.len() - 2, 100)
            ));
            self.report.generated_macros += 1;
            let own_cond = Cond::Macro {
                name: own.clone(),
                constant: None,
            };
            // Only earlier rules that can match the same events: two rules that need
            // different `ka.target.resource` values never match one event.
            let resources = self.resources_of(&expr, 0);
            let earlier: Vec<Cond> = chain
                .iter()
                .filter(|(_, r)| match (&resources, r) {
                    (Some(mine), Some(theirs)) => !mine.is_disjoint(theirs),
                    _ => true,
                })
                .map(|(name, _)| Cond::Macro {
                    name: name.clone(),
                    constant: None,
                })
                .collect();
            chain.push((own.clone(), resources));
            if earlier.is_empty() {
                own_cond
            } else {
                let before_name = self.names.claim(&format!("matched_before_{id}"));
                self.env.names.insert(before_name.clone());
                let lead = format!("macro {before_name} = ");
                extra.push_str(&comment(
                    "First match: the earlier rules, in Falco's order, that can match the same events (rules that need another `ka.target.resource` cannot).",
                    "",
                    100,
                ));
                extra.push_str(&format!(
                    "{lead}{}\n",
                    Cond::Or(earlier).render_wrapped(lead.len() - 2, 100)
                ));
                self.report.generated_macros += 1;
                own_cond.and_not(Cond::Macro {
                    name: before_name,
                    constant: None,
                })
            }
        } else {
            cond
        };
        let (title, fields, notes) = self.output(&def.output);
        for note in notes {
            self.report
                .notes
                .push(format!("rule \"{}\" ({}): {note}", def.name, def.loc));
        }
        let mut tags: Vec<String> = def.tags.iter().map(|t| quote(t)).collect();
        tags.push(quote(&format!(
            "falco:priority:{}",
            def.priority.to_ascii_uppercase()
        )));
        let mut out = extra;
        out.push_str(&format!("rule {id} {{\n"));
        out.push_str(&format!("    title       {}\n", quote(&title)));
        out.push_str(&format!("    severity    {severity}\n"));
        let desc = load::one_line(&def.desc);
        if !desc.is_empty() {
            out.push_str(&format!("    description {}\n", quote(&desc)));
        }
        out.push_str(&format!("    tags        [{}]\n", tags.join(", ")));
        out.push_str(&format!(
            "    references  [{}]\n",
            quote(&format!("Falco rule: {}", def.name))
        ));
        out.push_str(&format!(
            "    when        {}\n",
            when.render_wrapped(16, 100)
        ));
        if !fields.is_empty() {
            out.push_str(&format!(
                "    fields      {}\n",
                wrap_list(&fields, 16, 100)
            ));
        }
        if !def.enabled || switched_off {
            out.push_str("    enabled     false\n");
        }
        out.push_str("}\n");
        if !def.enabled {
            self.report.disabled.push(def.name.clone());
        }
        self.rule_names.push((def.name.clone(), id));
        Ok(out)
    }

    /// The `ka.target.resource` values an event must have for `expr` to hold, when the
    /// condition says (`ka.target.resource=pods`, `in (roles, clusterroles)`, through macros);
    /// `None` when any resource may match.
    fn resources_of(&self, expr: &condition::Expr, depth: usize) -> Option<BTreeSet<String>> {
        use condition::{Expr, Op, Value};
        if depth > 64 {
            return None;
        }
        match expr {
            Expr::Check { field, op, value }
                if field.name == "ka.target.resource" && field.transformer.is_none() =>
            {
                let items = match (op, value) {
                    (Op::Eq, Value::One(i)) => vec![i.clone()],
                    (Op::In | Op::Intersects, Value::List(items)) => items.clone(),
                    _ => return None,
                };
                let mut out = BTreeSet::new();
                for i in items {
                    match self.loaded.lists.get(&i.text).filter(|_| !i.quoted) {
                        // A named list: its items (one level, as Falco's resource lists are).
                        Some(list) => out.extend(list.items.iter().cloned()),
                        None => {
                            out.insert(i.text);
                        }
                    }
                }
                Some(out)
            }
            Expr::Check { .. } | Expr::Not(_) => None,
            Expr::Name { name, .. } => {
                let def = self.loaded.macros.get(name)?;
                let inner = condition::parse(&def.condition).ok()?;
                self.resources_of(&inner, depth + 1)
            }
            Expr::And(parts) => parts
                .iter()
                .filter_map(|p| self.resources_of(p, depth + 1))
                .reduce(|a, b| a.intersection(&b).cloned().collect()),
            Expr::Or(parts) => parts
                .iter()
                .map(|p| self.resources_of(p, depth + 1))
                .collect::<Option<Vec<_>>>()
                .map(|sets| sets.into_iter().flatten().collect()),
        }
    }

    /// Falco's output template as a title (`%ka.user.name` becomes `{user.username}`), the
    /// paths it shows (for `fields`), and notes on what it cannot show.
    fn output(&self, output: &str) -> (String, Vec<String>, Vec<String>) {
        let output = load::one_line(output);
        let mut title = String::new();
        let mut fields = Vec::new();
        let mut notes = Vec::new();
        let mut rest = output.as_str();
        while let Some(i) = rest.find('%') {
            push_literal(&mut title, &rest[..i]);
            let after = &rest[i + 1..];
            let len = after
                .char_indices()
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .map_or(after.len(), |(j, _)| j);
            let name = after[..len].trim_end_matches('.');
            if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                title.push('%');
                rest = after;
                continue;
            }
            let mut consumed = name.len();
            let mut arg = None;
            if after[name.len()..].starts_with('[') {
                if let Some(close) = after[name.len()..].find(']') {
                    arg = Some(&after[name.len() + 1..name.len() + close]);
                    consumed = name.len() + close + 1;
                }
            }
            match fields::resolve(name, arg) {
                fields::Resolved::Mapped(m) => {
                    let path = m.path.render(&|_| false);
                    title.push_str(&format!("{{{path}}}"));
                    match &m.read {
                        fields::Read::Value => {}
                        fields::Read::ImageRepository => {
                            notes.push(format!("`%{name}` shows the whole image"))
                        }
                        fields::Read::UriParam(param) => notes.push(format!(
                            "`%ka.uri.param[{param}]` shows the whole request URI, which holds the parameter"
                        )),
                        fields::Read::HostPorts { .. } => {
                            notes.push(format!("`%{name}` shows the containers' ports"))
                        }
                        fields::Read::VolumeTypes { .. } => {
                            notes.push(format!("`%{name}` shows the volumes"))
                        }
                    }
                    if !fields.contains(&path) {
                        fields.push(path);
                    }
                }
                fields::Resolved::RawTime => title.push_str("{requestReceivedTimestamp}"),
                fields::Resolved::Constant(c) => push_literal(&mut title, &c),
                fields::Resolved::AnyContainerPrivileged => {
                    title.push_str("{requestObject.spec.containers.securityContext.privileged}")
                }
                fields::Resolved::HostPathFlag(_) => {
                    title.push_str("{requestObject.spec.volumes.hostPath.path}")
                }
                fields::Resolved::Unsupported(_) if name.starts_with("jevt.time") => {
                    title.push_str("{requestReceivedTimestamp}");
                }
                fields::Resolved::Unsupported(reason) => {
                    title.push_str("<NA>");
                    notes.push(format!("`%{name}` is left out of the title: {reason}"));
                }
            }
            rest = &after[consumed..];
        }
        push_literal(&mut title, rest);
        (title, fields, notes)
    }

    fn files(&mut self) -> Vec<OutputFile> {
        let mut taken = Names::default();
        let mut files: Vec<OutputFile> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let base = std::path::Path::new(&input.name)
                    .file_stem()
                    .map_or_else(|| format!("falco_{i}"), |s| s.to_string_lossy().into_owned());
                let stem = taken.claim(&identifier(&base, "falco"));
                let mode = if self.options.first_match {
                    "first match: each rule reports only events that no earlier rule matched (Falco's default)"
                } else {
                    "all matches: every rule reports every event it matches"
                };
                let mut text = comment(
                    &format!(
                        "Imported from the Falco rules file `{}` by `k8scop import falco` ({mode}). The `ka.*` and `jevt.*` fields read the audit event as Falco's k8saudit and json plugins do; see docs/importing-falco.md.",
                        input.name
                    ),
                    "",
                    100,
                );
                let problems: Vec<&Problem> = self
                    .report
                    .problems
                    .iter()
                    .filter(|p| p.location.starts_with(&format!("{}:", input.name)) || p.location == input.name)
                    .collect();
                if !problems.is_empty() {
                    text.push_str("#\n# Not imported:\n");
                    for p in problems {
                        text.push_str(&comment(&format!("- {p}"), "", 100));
                    }
                }
                OutputFile {
                    name: format!("{stem}.rules"),
                    text,
                }
            })
            .collect();
        for w in std::mem::take(&mut self.written) {
            let file = &mut files[w.input];
            file.text.push('\n');
            file.text.push_str(&w.text);
        }
        if !self.helpers.is_empty() {
            let mut text = comment(
                "Functions the imported rules call to read values the way Falco's k8saudit plugin gives them. Generated by `k8scop import falco`.",
                "",
                100,
            );
            text.push_str("\nscript {\n");
            let defs: Vec<&str> = self.helpers.iter().map(|h| h.definition()).collect();
            text.push_str(&defs.join("\n"));
            text.push_str("}\n");
            let name = taken.claim("falco_functions");
            files.push(OutputFile {
                name: format!("{name}.rules"),
                text,
            });
        }
        files
    }
}

/// Appends literal title text: braces doubled.
fn push_literal(title: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '{' => title.push_str("{{"),
            '}' => title.push_str("}}"),
            c => title.push(c),
        }
    }
}

/// `[a, b, c]`, broken over lines indented by `indent` when longer than `width`.
fn wrap_list(items: &[String], indent: usize, width: usize) -> String {
    let one = format!("[{}]", items.join(", "));
    if indent + one.len() <= width {
        return one;
    }
    let pad = " ".repeat(indent + 1);
    let mut out = String::from("[");
    let mut line_len = indent + 1;
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            format!("{item}]")
        };
        if i > 0 {
            if line_len + 1 + piece.len() > width {
                out.push('\n');
                out.push_str(&pad);
                line_len = indent + 1;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(&piece);
        line_len += piece.len();
    }
    if items.is_empty() {
        out.push(']');
    }
    out
}

/// The comment that stands in for an item that did not translate.
fn not_imported(kind: &str, name: &str, reason: &str, condition: &str) -> String {
    let mut out = comment(&format!("NOT IMPORTED: {kind} `{name}`: {reason}"), "", 100);
    out.push_str(&comment(
        &format!("Falco condition: {}", load::one_line(condition)),
        "",
        100,
    ));
    out
}

/// The macro names an expression uses.
fn macros_used(e: &condition::Expr, out: &mut Vec<String>) {
    match e {
        condition::Expr::And(v) | condition::Expr::Or(v) => {
            v.iter().for_each(|x| macros_used(x, out))
        }
        condition::Expr::Not(x) => macros_used(x, out),
        condition::Expr::Name { name, .. } => out.push(name.clone()),
        condition::Expr::Check { .. } => {}
    }
}

/// An exception as a condition: events that match it are not reported. `None` when it has no
/// values.
fn exception(e: &Exception, env: &Env) -> Result<Option<translate::Translated>, String> {
    use condition::{Expr, Field, Item, Value};
    let field = |name: &str| -> Result<Field, String> {
        match condition::parse(&format!("{name} exists")) {
            Ok(Expr::Check { field, .. }) => Ok(field),
            _ => Err(format!("`{name}` is not a field")),
        }
    };
    let op = |comp: &str| -> Result<condition::Op, String> {
        match condition::parse(&format!("a.b {comp} (x)"))
            .or_else(|_| condition::parse(&format!("a.b {comp} x")))
        {
            Ok(Expr::Check { op, .. }) => Ok(op),
            _ => Err(format!("`{comp}` is not an operator")),
        }
    };
    let value = |op: condition::Op, v: &serde_yaml_ng::Value| -> Result<Value, String> {
        let item = |s: String| Item {
            text: s,
            quoted: false,
        };
        match v {
            serde_yaml_ng::Value::Sequence(items) => Ok(Value::List(
                items
                    .iter()
                    .map(|i| load_scalar(i).map(item))
                    .collect::<Result<_, _>>()?,
            )),
            v => {
                let s = load_scalar(v)?;
                Ok(if op.takes_list() {
                    Value::List(vec![item(s)])
                } else {
                    Value::One(item(s))
                })
            }
        }
    };
    if e.values.is_empty() {
        return Ok(None);
    }
    let mut alternatives = Vec::new();
    match &e.fields {
        ExceptionFields::One(f) => {
            let comp = e.comps.first().map_or("in", String::as_str);
            let op = op(comp)?;
            let items: Vec<Item> = e
                .values
                .iter()
                .map(|v| {
                    load_scalar(v).map(|s| Item {
                        text: s,
                        quoted: false,
                    })
                })
                .collect::<Result<_, _>>()?;
            alternatives.push(Expr::Check {
                field: field(f)?,
                op,
                value: if op.takes_list() {
                    Value::List(items)
                } else {
                    Value::One(items.into_iter().next().ok_or("no value")?)
                },
            });
        }
        ExceptionFields::Many(fs) => {
            for tuple in &e.values {
                let serde_yaml_ng::Value::Sequence(vals) = tuple else {
                    return Err(
                        "with a list of `fields`, each value must be a list of one value per field"
                            .into(),
                    );
                };
                if vals.len() != fs.len() {
                    return Err(format!(
                        "a value has {} items for {} fields",
                        vals.len(),
                        fs.len()
                    ));
                }
                let mut checks = Vec::new();
                for (i, (f, v)) in fs.iter().zip(vals).enumerate() {
                    let comp = e.comps.get(i).map_or("=", String::as_str);
                    let op = op(comp)?;
                    checks.push(Expr::Check {
                        field: field(f)?,
                        op,
                        value: value(op, v)?,
                    });
                }
                alternatives.push(if checks.len() == 1 {
                    checks.remove(0)
                } else {
                    Expr::And(checks)
                });
            }
        }
    }
    let expr = if alternatives.len() == 1 {
        alternatives.remove(0)
    } else {
        Expr::Or(alternatives)
    };
    translate::translate(&expr, env).map(Some)
}

fn load_scalar(v: &serde_yaml_ng::Value) -> Result<String, String> {
    match v {
        serde_yaml_ng::Value::String(s) => Ok(s.clone()),
        serde_yaml_ng::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml_ng::Value::Number(n) => Ok(n.to_string()),
        _ => Err("exception values must be strings or lists of strings".into()),
    }
}
