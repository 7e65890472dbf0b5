//! Rules and sequences: their conditions, thresholds and steps, their alert properties, and their
//! fingerprints.
//!
//! A fingerprint is a stable hash ([`Fnv1a64`]) of everything that defines a detection: its own
//! text, its aggregation window, and the text of every list, macro, step rule and script block it
//! uses. A reload keeps a detection's open state only when its fingerprint did not change.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use k8scop_grammar::ast::{self, Severity, Span};
use k8scop_grammar::suggest;
use k8scop_grammar::{Code, Diagnostic, SourceFile};

use super::{Compiler, Def, Scope};
use crate::hash::Fnv1a64;
use crate::kinds::{self, KindId, KindSet};
use crate::path::FieldPath;
use crate::ruleset::{Detection, DetectionKind, Order, Rule, Sequence, Step, ThresholdSpec};
use crate::state::{CountCondition, Counting};
use crate::template::{split_path, Template};

impl Compiler<'_> {
    /// Compiles a rule; `None` after an error.
    pub(super) fn rule(&mut self, file: &Arc<SourceFile>, def: &ast::RuleDef) -> Option<Rule> {
        self.uses = Default::default();
        let source = self.source(file, def.source.as_ref())?;
        let resources = def.when.as_ref().and_then(|w| self.resource_hint(w));
        let scope = Scope {
            file: Arc::clone(file),
            source,
            resources,
        };
        let Some(when) = &def.when else {
            let d = Diagnostic::new(Code::MissingProperty, format!("rule `{}` has no `when`", def.name.name))
                .with_label(file, def.name.span, "this rule needs a condition")
                .with_help("add `when CONDITION`, e.g. `when verb == \"create\" and objectRef.resource == \"pods\"`");
            self.report(d);
            return None;
        };
        let errors_before = self.error_count();
        let compiled = self.condition(&scope, when);
        // A condition with errors compiles to `false`: that is the error's doing, not the rule's.
        // A rule switched off with `enabled false` raises nothing anyway: a condition that can
        // never be true there is a rule kept for later (as Falco ships some), not a mistake.
        let switched_off = def.props.enabled.as_ref().is_some_and(|e| !e.node);
        if compiled.never && self.error_count() == errors_before && !switched_off {
            let d = Diagnostic::new(
                Code::NeverMatches,
                format!("rule `{}` can never match", def.name.name),
            )
            .with_label(file, when.span, "this condition is never true")
            .with_help("see the other warnings on this condition");
            self.report(d);
        }
        let threshold = def.threshold.as_ref().map(|t| {
            let counting = match &t.kind {
                ast::ThresholdKind::Count => Counting::Count,
                ast::ThresholdKind::Distinct(_) => Counting::Distinct,
                ast::ThresholdKind::Sum(_) => Counting::Sum,
                ast::ThresholdKind::Avg(_) => Counting::Avg,
                ast::ThresholdKind::Median(_) => Counting::Median,
                ast::ThresholdKind::Percentile(p, _) => Counting::Percentile(*p),
            };
            let path = t.kind.path().map(|p| {
                self.check_path(&scope, p);
                self.field(p)
            });
            let condition =
                CountCondition::new(t.bounds.iter().map(|b| (b.cmp, b.n.node)).collect());
            // A sum, mean or median may be any number, so only counts can be proved out of reach.
            let least = counting.least();
            if least.is_some_and(|least| condition.never_from(least)) && !switched_off {
                let help = if condition.never_from(0) {
                    "the comparisons leave no number between them; check them"
                } else {
                    "a match counts itself, so the count is at least 1"
                };
                let d = Diagnostic::new(
                    Code::NeverMatches,
                    format!("rule `{}` can never raise an alert", def.name.name),
                )
                .with_label(
                    file,
                    t.span,
                    format!("no count passes `{}`", condition.text()),
                )
                .with_help(help);
                self.report(d);
            }
            ThresholdSpec {
                counting,
                path,
                condition,
                within_ms: t.within.millis as i64,
                by: self.paths(&scope, &t.by),
            }
        });
        let default_group = threshold
            .as_ref()
            .filter(|t| !t.by.is_empty())
            .map(|t| t.by.clone());
        let within_ms = def
            .within
            .map_or(self.options.default_within_ms, |d| d.millis as i64);
        let detection = self.detection(
            &scope,
            &def.name,
            DetectionKind::Rule,
            &def.props,
            within_ms,
            default_group,
            def.span,
        )?;
        Some(Rule {
            detection: Arc::new(detection),
            source,
            when: compiled.cond,
            threshold,
        })
    }

    /// Compiles a sequence, whose named steps are among `rules` (name to index); `None` after an
    /// error.
    pub(super) fn sequence(
        &mut self,
        file: &Arc<SourceFile>,
        def: &ast::SequenceDef,
        rules: &HashMap<String, usize>,
    ) -> Option<Sequence> {
        self.uses = Default::default();
        let scope = Scope {
            file: Arc::clone(file),
            source: self.step_kinds(def),
            resources: None,
        };
        let mut missing = Vec::new();
        if def.within.is_none() {
            missing.push("within");
        }
        if def.steps.is_none() {
            missing.push("steps");
        }
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let d = Diagnostic::new(
                Code::MissingProperty,
                format!("sequence `{}` has no {list}", def.name.name),
            )
            .with_label(file, def.name.span, "this sequence is incomplete")
            .with_help(
                "a sequence needs `within DURATION` and `steps A -> B`, and usually `by PATH, ...`",
            );
            self.report(d);
            return None;
        }
        // Without `by`, every event has the same key: the steps of any events follow one another.
        let by = def
            .by
            .as_ref()
            .map(|b| self.paths(&scope, &b.node))
            .unwrap_or_default();
        let within = def.within?;
        let step_by = self.step_keys(&scope, def, by.len())?;
        let mut steps = Vec::new();
        let mut ok = true;
        for step in &def.steps.as_ref()?.node {
            match step {
                ast::Step::Rule(ident) => match rules.get(&ident.name) {
                    Some(&i) => {
                        self.uses.names.insert(ident.name.clone());
                        steps.push(Step::Rule(i));
                    }
                    None => {
                        self.unknown_step(file, ident);
                        ok = false;
                    }
                },
                ast::Step::Inline { source, when } => {
                    let Some(kinds) = self.source(file, source.as_ref()) else {
                        ok = false;
                        continue;
                    };
                    let scope = Scope {
                        source: kinds,
                        resources: self.resource_hint(when),
                        ..scope.clone()
                    };
                    steps.push(Step::Inline {
                        kinds,
                        cond: Box::new(self.condition(&scope, when).cond),
                    });
                }
            }
        }
        let detection = self.detection(
            &scope,
            &def.name,
            DetectionKind::Sequence,
            &def.props,
            self.options.default_within_ms,
            Some(by.clone()).filter(|by| !by.is_empty()),
            def.span,
        )?;
        let order = match &def.order {
            ast::StepOrder::InOrder => Order::InOrder,
            ast::StepOrder::AnyOrder { need } => Order::AnyOrder {
                need: need.as_ref().map_or(steps.len(), |n| {
                    usize::try_from(n.node).unwrap_or(usize::MAX)
                }),
            },
        };
        ok.then(|| Sequence {
            detection: Arc::new(detection),
            by,
            group_by_match: !step_by.is_empty() && def.props.group_by.is_none(),
            step_by,
            within_ms: within.millis as i64,
            steps,
            order,
        })
    }

    /// The steps' own keys (`A by PATH`), compiled: empty when no step has one; `None` after
    /// reporting a key whose number of paths differs from the sequence's `by` (`by_len`, when it
    /// has one) or from the other steps' keys. A step without a key of its own keys by the
    /// sequence's `by`, so it needs one when the other steps have keys.
    fn step_keys(
        &mut self,
        scope: &Scope,
        def: &ast::SequenceDef,
        by_len: usize,
    ) -> Option<Vec<Option<Vec<FieldPath>>>> {
        if def.step_keys.iter().all(Option::is_none) {
            return Some(Vec::new());
        }
        let file = &scope.file;
        let steps = def.steps.as_ref().map_or(&[][..], |s| &s.node[..]);
        let expected = match &def.by {
            Some(by) => by.node.len(),
            None => def
                .step_keys
                .iter()
                .flatten()
                .map(|k| k.node.len())
                .next()
                .unwrap_or(0),
        };
        // `all of a, b by x, y` written for `by x, y`: `y` is read as a step after a keyed one,
        // which leaves the other steps without a key. One error says so.
        if let Some(d) = self.key_path_read_as_step(file, def, steps) {
            self.report(d);
            return None;
        }
        let mut ok = true;
        for (i, key) in def.step_keys.iter().enumerate() {
            let name = match steps.get(i) {
                Some(ast::Step::Rule(ident)) => format!("`{}`", ident.name),
                _ => format!("{}", i + 1),
            };
            match key {
                Some(key) if key.node.len() != expected => {
                    let of_what = if def.by.is_some() {
                        format!("the sequence's `by` has {by_len}")
                    } else {
                        format!("the other steps' keys have {expected}")
                    };
                    let d = Diagnostic::new(
                        Code::InvalidValue,
                        format!(
                            "step {name} of sequence `{}` is keyed by {} paths, {of_what}",
                            def.name.name,
                            key.node.len()
                        ),
                    )
                    .with_label(file, key.span, "a key of another length")
                    .with_help("every step's events are keyed by as many paths, in the same order");
                    self.report(d);
                    ok = false;
                }
                None if def.by.is_none() => {
                    let d = Diagnostic::new(
                        Code::InvalidValue,
                        format!(
                            "step {name} of sequence `{}` has no key, and the sequence no `by`",
                            def.name.name
                        ),
                    )
                    .with_label(
                        file,
                        match steps.get(i) {
                            Some(ast::Step::Rule(ident)) => ident.span,
                            _ => def.name.span,
                        },
                        "no key, where other steps have one",
                    )
                    .with_help("give the step its own `by PATH`, or the sequence `by PATH, ...` for the steps without one");
                    self.report(d);
                    ok = false;
                }
                _ => {}
            }
        }
        if !ok {
            return None;
        }
        Some(
            def.step_keys
                .iter()
                .map(|key| key.as_ref().map(|k| self.paths(scope, &k.node)))
                .collect(),
        )
    }

    /// For steps in any order, where a comma separates the steps: the error for a step that
    /// names nothing defined and follows a keyed step, in a sequence without `by`. It was most
    /// likely meant as a path of that key (`all of a, b by user.username, verb`, as written
    /// before steps had keys).
    fn key_path_read_as_step(
        &self,
        file: &Arc<SourceFile>,
        def: &ast::SequenceDef,
        steps: &[ast::Step],
    ) -> Option<Diagnostic> {
        if def.by.is_some() || !matches!(def.order, ast::StepOrder::AnyOrder { .. }) {
            return None;
        }
        let (before, key, name) = steps
            .iter()
            .zip(&def.step_keys)
            .zip(steps.iter().skip(1))
            .find_map(|((before, key), step)| match (before, key, step) {
                (ast::Step::Rule(before), Some(key), ast::Step::Rule(name))
                    if !self.defs.contains_key(&name.name) =>
                {
                    Some((before, key, name))
                }
                _ => None,
            })?;
        let key: Vec<String> = key.node.iter().map(ToString::to_string).collect();
        let key = key.join(", ");
        let (step, rule) = (&name.name, &before.name);
        Some(
            Diagnostic::new(
                Code::InvalidValue,
                format!(
                    "`{step}` in sequence `{}` names no rule, and is read as a step after `{rule} by {key}`",
                    def.name.name
                ),
            )
            .with_label(file, name.span, "a step, as a comma separates steps in any order")
            .with_help(format!(
                "if `{step}` is a path of the key, write the key in brackets (`{rule} by [{key}, {step}]`), or give the sequence that `by` above `steps` (`by {key}, {step}`)"
            )),
        )
    }

    /// The kinds of event a sequence's steps happen on, which its `by`, title and `fields` paths
    /// read: the kinds of its named rules and inline steps (audit events when it names none that
    /// resolve). Names that do not resolve are reported where the steps are compiled.
    fn step_kinds(&self, def: &ast::SequenceDef) -> KindSet {
        let name_kinds = |name: Option<&ast::Ident>| match name {
            Some(n) => kinds::lookup(&n.name).unwrap_or_default(),
            None => KindSet::of(KindId::AUDIT),
        };
        let mut set = KindSet::EMPTY;
        for step in def.steps.iter().flat_map(|s| &s.node) {
            set = set.union(match step {
                ast::Step::Rule(ident) => match self.defs.get(&ident.name) {
                    Some(Def::Rule(_, rule)) => name_kinds(rule.source.as_ref()),
                    _ => KindSet::EMPTY,
                },
                ast::Step::Inline { source, .. } => name_kinds(source.as_ref()),
            });
        }
        if set == KindSet::EMPTY {
            KindSet::of(KindId::AUDIT)
        } else {
            set
        }
    }

    /// The kinds a `source NAME` (or a step's `NAME { ... }`) stands for: audit events when there
    /// is no name; `None` after reporting a name the registry of event kinds does not have.
    fn source(&mut self, file: &Arc<SourceFile>, name: Option<&ast::Ident>) -> Option<KindSet> {
        let Some(name) = name else {
            return Some(KindSet::of(KindId::AUDIT));
        };
        if let Some(set) = kinds::lookup(&name.name) {
            return Some(set);
        }
        let names = kinds::names();
        let mut help = match suggest::did_you_mean(&name.name, names.iter().copied()) {
            Some(near) => format!("{} ", suggest::help(near)),
            None => String::new(),
        };
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let (last, init) = quoted.split_last()?;
        help.push_str(&format!(
            "the event kinds are {} and {last}",
            init.join(", ")
        ));
        let d = Diagnostic::new(
            Code::UnknownSource,
            format!("`{}` is not an event kind", name.name),
        )
        .with_label(file, name.span, "no event kind of this name")
        .with_help(help);
        self.report(d);
        None
    }

    fn unknown_step(&mut self, file: &Arc<SourceFile>, ident: &ast::Ident) {
        let what = self.defs.get(&ident.name).map(Def::what);
        let mut d = Diagnostic::new(
            Code::UnknownStep,
            format!("sequence step `{}` names no rule", ident.name),
        )
        .with_label(
            file,
            ident.span,
            match what {
                Some(w) => format!("this is a {w}, not a rule"),
                None => "no rule of this name".to_owned(),
            },
        );
        if let Some(s) = self.closest_name(&ident.name, &["rule"]) {
            d = d.with_help(suggest::help(&s));
        } else if what == Some("macro") {
            d = d.with_help(format!(
                "write the condition inline: `{{ {} }}`",
                ident.name
            ));
        }
        self.report(d);
    }

    /// Field paths of a property (`group by`, `fields`, `by`), checked against the schema.
    fn paths(&mut self, scope: &Scope, paths: &[ast::Path]) -> Vec<FieldPath> {
        paths
            .iter()
            .map(|p| {
                self.check_path(scope, p);
                FieldPath::new(p)
            })
            .collect()
    }

    /// What rules and sequences share: name, alert properties and fingerprint. `span` is the
    /// whole definition's.
    // The arguments are the parts rules and sequences define differently.
    #[allow(clippy::too_many_arguments)]
    fn detection(
        &mut self,
        scope: &Scope,
        name: &ast::Ident,
        kind: DetectionKind,
        props: &ast::AlertProps,
        within_ms: i64,
        default_group: Option<Vec<FieldPath>>,
        span: Span,
    ) -> Option<Detection> {
        let title = match &props.title {
            Some(lit) => self.title(scope, lit)?,
            None => Template::text(&name.name),
        };
        let fields = props
            .fields
            .as_ref()
            .map(|f| self.paths(scope, &f.node))
            .unwrap_or_default();
        let group_by = match &props.group_by {
            Some(g) => Some(self.paths(scope, &g.node)),
            None => default_group,
        };
        let strings = |l: &Option<ast::Spanned<Vec<ast::StrLit>>>| {
            l.as_ref()
                .map(|l| l.node.iter().map(|s| s.value.clone()).collect())
                .unwrap_or_default()
        };
        let text = scope.file.text.get(span.start..span.end).unwrap_or("");
        Some(Detection {
            name: name.name.as_str().into(),
            kind,
            title,
            severity: props.severity.as_ref().map_or(Severity::Medium, |s| s.node),
            description: props
                .description
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
            author: props
                .author
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
            tags: strings(&props.tags),
            references: strings(&props.references),
            file: scope.file.name.clone(),
            fields,
            group_by,
            within_ms,
            enabled: props.enabled.as_ref().is_none_or(|e| e.node),
            fingerprint: self.fingerprint(text, within_ms),
        })
    }

    /// A `title` template, with its placeholders checked against the schema; `None` after an
    /// error.
    fn title(&mut self, scope: &Scope, lit: &ast::StrLit) -> Option<Template> {
        let raw = scope
            .file
            .text
            .get(lit.span.start..lit.span.end)
            .unwrap_or("")
            .to_owned();
        let result = Template::parse(&lit.value, |placeholder| {
            let segments = split_path(&placeholder.text)?;
            // Best effort: find the placeholder in the literal as written for its span.
            let at = raw
                .find(&format!("{{{}}}", placeholder.text))
                .map(|i| lit.span.start + i);
            let pspan = at.map_or(lit.span, |s| Span::new(s, s + placeholder.text.len() + 2));
            let path = ast::Path {
                segments: segments
                    .into_iter()
                    .map(|kind| ast::Segment { kind, span: pspan })
                    .collect(),
                span: pspan,
            };
            self.check_path(scope, &path);
            Ok(FieldPath::new(&path))
        });
        match result {
            Ok(t) => Some(t),
            Err(e) => {
                let d = Diagnostic::new(Code::InvalidTemplate, format!("invalid title: {}", e.message))
                    .with_label(&scope.file, lit.span, "in this title")
                    .with_help("`{path}` renders an event field, `{count}` the alert's count, `{{` and `}}` literal braces");
                self.report(d);
                None
            }
        }
    }

    /// The fingerprint of the detection being compiled, whose definition reads `text`.
    fn fingerprint(&self, text: &str, within_ms: i64) -> u64 {
        let mut hasher = Fnv1a64::default();
        text.hash(&mut hasher);
        within_ms.hash(&mut hasher);
        // What the definition uses is part of it: editing a macro, list, step rule or script
        // function changes the rules that use it, and a reload must not keep their old state.
        for name in &self.uses.names {
            if let Some(fingerprint) = self.rule_fingerprints.get(name) {
                // A step rule: its own fingerprint covers what it uses in turn.
                fingerprint.hash(&mut hasher);
            } else if let Some(def) = self.defs.get(name) {
                def.text().hash(&mut hasher);
            }
        }
        if self.uses.scripts {
            self.script_texts.hash(&mut hasher);
        }
        hasher.finish()
    }
}
