//! A compiled ruleset: what `compile` produces and the [`Engine`](crate::Engine) runs.

use std::sync::Arc;

use k8scop_grammar::ast::{Severity, Span};
use k8scop_grammar::{Diagnostic, SourceFile};
use serde_json::Value;

use crate::eval::Cond;
use crate::kinds::{KindId, KindSet};
use crate::path::{FieldPath, Slots};
use crate::prefilter::Prefilter;
use crate::script::ScriptHost;
use crate::state::{CountCondition, Counting};
use crate::template::Template;

/// Whether an alert comes from a rule or a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionKind {
    /// A `rule`.
    Rule,
    /// A `sequence`.
    Sequence,
}

impl DetectionKind {
    /// `rule` or `sequence`, as alert documents write it.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectionKind::Rule => "rule",
            DetectionKind::Sequence => "sequence",
        }
    }
}

/// Everything an alert of a rule or sequence carries besides its events.
#[derive(Debug)]
pub struct Detection {
    /// The rule's or sequence's name.
    pub name: Arc<str>,
    /// Rule or sequence.
    pub kind: DetectionKind,
    /// The `title` template.
    pub title: Template,
    /// The `severity`.
    pub severity: Severity,
    /// The `description`.
    pub description: String,
    /// The `author` (kept in every alert, as Sigma's DRL asks).
    pub author: String,
    /// The `tags` (MITRE ATT&CK ids among them).
    pub tags: Vec<String>,
    /// The `references`.
    pub references: Vec<String>,
    /// The `.rules` file that defines it, as the user named it.
    pub file: String,
    /// The `fields` copied from the first event into the alert.
    pub fields: Vec<FieldPath>,
    /// The aggregation key; `None` means the rendered title (a rule without threshold `by`).
    pub group_by: Option<Vec<FieldPath>>,
    /// Aggregation window D in milliseconds.
    pub within_ms: i64,
    /// `enabled false`: compiled and usable as a sequence step, but raises no alerts of its own.
    pub enabled: bool,
    /// A hash of the definition's source text: a reload keeps the state of a detection whose
    /// fingerprint did not change.
    pub fingerprint: u64,
}

/// A compiled rule.
pub struct Rule {
    /// What every alert of the rule carries.
    pub detection: Arc<Detection>,
    /// The kinds of event the rule evaluates (`source NAME`; every kind for `source any`).
    pub source: KindSet,
    /// The compiled `when` condition.
    pub when: Cond,
    /// The `threshold`, if any.
    pub threshold: Option<ThresholdSpec>,
}

/// A rule's `threshold`.
pub struct ThresholdSpec {
    /// `count`, `distinct`, `sum`, `avg`, `median` or `percentile`.
    pub counting: Counting,
    /// The path counted by `distinct`, or whose numbers `sum`, `avg` and `median` reduce.
    pub path: Option<FieldPath>,
    /// What the count (of events or distinct values) must pass to raise the alert.
    pub condition: CountCondition,
    /// The sliding window, in milliseconds.
    pub within_ms: i64,
    /// The group paths: each group counts on its own.
    pub by: Vec<FieldPath>,
}

/// A compiled sequence.
pub struct Sequence {
    /// What every alert of the sequence carries.
    pub detection: Arc<Detection>,
    /// The paths every step's event must agree on.
    pub by: Vec<FieldPath>,
    /// Per step, the paths that key its events in place of `by` when it has its own
    /// (`A by PATH`), as many as every other step's; empty when no step has one.
    pub step_by: Vec<Option<Vec<FieldPath>>>,
    /// Whether its alerts group by the key of the match (steps with keys of their own and no
    /// `group by`), rather than by `group by` paths read from the completing event.
    pub group_by_match: bool,
    /// The window from the first step to the last, in milliseconds.
    pub within_ms: i64,
    /// The steps.
    pub steps: Vec<Step>,
    /// Whether the steps must happen in their order.
    pub order: Order,
}

/// How a compiled sequence's steps must happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// One after the other, in the order written.
    InOrder,
    /// In any order, at least `need` of them (all: the number of steps).
    AnyOrder {
        /// How many distinct steps must happen within the window.
        need: usize,
    },
}

/// One step of a compiled sequence.
pub enum Step {
    /// The index of a rule in [`Ruleset::rules`].
    Rule(usize),
    /// `KIND { CONDITION }`: an event of one of `kinds` for which `cond` holds.
    Inline {
        /// The kinds of event the step happens on (audit events when the step names none).
        kinds: KindSet,
        /// The condition.
        cond: Box<Cond>,
    },
}

/// A `test` block, resolved.
pub struct TestCase {
    /// The test's name.
    pub name: String,
    /// The `.rules` file that defines it.
    pub file: Arc<SourceFile>,
    /// Where in that file.
    pub span: Span,
    /// The events it runs, in order.
    pub events: Vec<TestEvents>,
    /// What must happen.
    pub expects: Vec<Expectation>,
}

/// The events of a test block.
pub enum TestEvents {
    /// Events written in the block.
    Inline(Vec<Value>),
    /// A JSON lines file, already resolved relative to the `.rules` file.
    File {
        /// The file, resolved.
        path: std::path::PathBuf,
        /// Where the block names it.
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
/// What a test block expects.
pub enum Expectation {
    /// `expect NAME alerts COUNT`: the detection raises that many alerts.
    Alerts {
        /// The rule or sequence.
        name: String,
        /// How many.
        count: u64,
    },
    /// `expect NAME matches COUNT`: that many events satisfy the rule's `when`.
    Matches {
        /// The rule or sequence.
        name: String,
        /// How many.
        count: u64,
    },
    /// No rule or sequence defined in the test's own file alerts.
    NoAlerts,
}

/// A compiled, runnable ruleset.
pub struct Ruleset {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// The sequences, in file order.
    pub sequences: Vec<Sequence>,
    /// How many inline steps (`{ CONDITION }`) the sequences have in all: the step bits of a
    /// verdict ([`crate::engine::Judged`]).
    pub inline_steps: usize,
    /// The compiled scripts and script functions.
    pub scripts: ScriptHost,
    /// The plain-key field paths of every condition, for per-event lookup caching.
    pub slots: Slots,
    /// Which rules can match an event, from its `verb` and `objectRef.resource`.
    pub prefilter: Prefilter,
    /// The test blocks of every file.
    pub tests: Vec<TestCase>,
    /// The `.rules` files it was compiled from.
    pub files: Vec<Arc<SourceFile>>,
    /// Warnings found while compiling (errors prevent a ruleset from existing).
    pub warnings: Vec<Diagnostic>,
}

impl Ruleset {
    /// The rule or sequence of that name.
    pub fn detection(&self, name: &str) -> Option<&Arc<Detection>> {
        self.rules
            .iter()
            .map(|r| &r.detection)
            .chain(self.sequences.iter().map(|s| &s.detection))
            .find(|d| &*d.name == name)
    }

    /// Every rule and sequence, rules first, in definition order.
    pub fn detections(&self) -> impl Iterator<Item = &Arc<Detection>> {
        self.rules
            .iter()
            .map(|r| &r.detection)
            .chain(self.sequences.iter().map(|s| &s.detection))
    }

    /// Every inline sequence step, in order (see [`inline_steps`]).
    pub(crate) fn inline_steps_iter(&self) -> impl Iterator<Item = (usize, &Cond, KindSet)> {
        inline_steps(&self.sequences)
    }

    /// Whether any rule or inline sequence step evaluates events of `kind`.
    pub fn accepts(&self, kind: KindId) -> bool {
        self.rules.iter().any(|r| r.source.contains(kind))
            || self.sequences.iter().any(|s| {
                s.steps
                    .iter()
                    .any(|st| matches!(st, Step::Inline { kinds, .. } if kinds.contains(kind)))
            })
    }

    /// Every field path the ruleset reads: conditions, thresholds, sequence keys, titles, `fields`
    /// and `group by`. A parser that keeps only these (and what [`crate::event::Event`] and
    /// [`crate::alert::Context`] read) loses nothing the engine needs, unless
    /// [`Ruleset::uses_scripts`] (a script sees the whole event).
    pub fn field_paths(&self) -> Vec<&FieldPath> {
        let mut out = Vec::new();
        for rule in &self.rules {
            rule.when.paths(&mut out);
            if let Some(t) = &rule.threshold {
                out.extend(t.by.iter());
                out.extend(t.path.iter());
            }
        }
        for seq in &self.sequences {
            out.extend(seq.by.iter());
            out.extend(seq.step_by.iter().flatten().flatten());
            for step in &seq.steps {
                if let Step::Inline { cond, .. } = step {
                    cond.paths(&mut out);
                }
            }
        }
        for d in self
            .rules
            .iter()
            .map(|r| &*r.detection)
            .chain(self.sequences.iter().map(|s| &*s.detection))
        {
            out.extend(d.title.fields());
            out.extend(d.fields.iter());
            if let Some(g) = &d.group_by {
                out.extend(g.iter());
            }
        }
        out
    }

    /// Whether any condition runs a condition script (`script { ... }`): it sees the whole
    /// `event`, so events must be parsed in full. A script-block function called from a
    /// condition sees only its arguments (paths, which [`Ruleset::field_paths`] lists).
    pub fn uses_scripts(&self) -> bool {
        self.rules.iter().any(|r| r.when.runs_script())
            || self.sequences.iter().any(|s| {
                s.steps
                    .iter()
                    .any(|st| matches!(st, Step::Inline { cond: c, .. } if c.runs_script()))
            })
    }

    /// What each rule, then each sequence, reads of an event to decide that it matches: the
    /// field paths of its `when` (its macros expanded) and of its threshold's `by` and
    /// `distinct`; for a sequence, those of the rules its steps name, of its inline steps and
    /// of its `by`. For `k8scop check --format json`: which audit level and which fields a rule
    /// needs to ever match.
    pub fn detection_reads(&self) -> Vec<DetectionReads<'_>> {
        fn rule_paths<'a>(rule: &'a Rule, out: &mut Vec<&'a FieldPath>) {
            rule.when.paths(out);
            if let Some(t) = &rule.threshold {
                out.extend(t.by.iter());
                out.extend(t.path.iter());
            }
        }
        fn finish<'a>(
            detection: &'a Detection,
            sources: KindSet,
            paths: Vec<&'a FieldPath>,
            whole_event: bool,
        ) -> DetectionReads<'a> {
            let mut paths: Vec<&str> = paths.into_iter().map(FieldPath::text).collect();
            paths.sort_unstable();
            paths.dedup();
            DetectionReads {
                detection,
                sources,
                paths,
                whole_event,
            }
        }
        let rules = self.rules.iter().map(|rule| {
            let mut paths = Vec::new();
            rule_paths(rule, &mut paths);
            finish(&rule.detection, rule.source, paths, rule.when.runs_script())
        });
        let sequences = self.sequences.iter().map(|seq| {
            let (mut paths, mut sources, mut whole_event) = (Vec::new(), None, false);
            let mut add = |kinds: KindSet| {
                sources = Some(sources.map_or(kinds, |s: KindSet| s.union(kinds)));
            };
            for step in &seq.steps {
                match step {
                    Step::Rule(i) => {
                        let rule = &self.rules[*i];
                        rule_paths(rule, &mut paths);
                        whole_event |= rule.when.runs_script();
                        add(rule.source);
                    }
                    Step::Inline { kinds, cond } => {
                        cond.paths(&mut paths);
                        whole_event |= cond.runs_script();
                        add(*kinds);
                    }
                }
            }
            paths.extend(seq.by.iter());
            paths.extend(seq.step_by.iter().flatten().flatten());
            let sources = sources.unwrap_or_else(|| KindSet::of(KindId::AUDIT));
            finish(&seq.detection, sources, paths, whole_event)
        });
        rules.chain(sequences).collect()
    }
}

/// What one rule or sequence reads to decide that an event matches ([`Ruleset::detection_reads`]).
pub struct DetectionReads<'r> {
    /// The rule or sequence.
    pub detection: &'r Detection,
    /// The kinds of event it evaluates (for a sequence, those of its steps).
    pub sources: KindSet,
    /// The field paths, as written, sorted, each once.
    pub paths: Vec<&'r str>,
    /// Whether a condition script (`script { ... }`) reads the whole event besides.
    pub whole_event: bool,
}

/// The inline steps (`{ CONDITION }`) of `sequences`, counted over every sequence in order (the
/// order of their bits in the prefilter and in [`crate::engine::Judged`]): each step's sequence
/// index, condition and kinds.
pub(crate) fn inline_steps(
    sequences: &[Sequence],
) -> impl Iterator<Item = (usize, &Cond, KindSet)> {
    sequences.iter().enumerate().flat_map(|(j, seq)| {
        seq.steps.iter().filter_map(move |s| match s {
            Step::Inline { kinds, cond } => Some((j, &**cond, *kinds)),
            Step::Rule(_) => None,
        })
    })
}

impl Cond {
    /// Whether the condition runs a condition script (`script { ... }`), which sees the whole
    /// event.
    pub fn runs_script(&self) -> bool {
        use crate::eval::Source;
        fn source(s: &Source) -> bool {
            match s {
                Source::Script(_) => true,
                Source::Call(c) => c.args.iter().any(source),
                Source::Path(_) | Source::Const(_) => false,
            }
        }
        match self {
            Cond::True | Cond::False | Cond::Exists(_) => false,
            Cond::And(cs) | Cond::Or(cs) => cs.iter().any(Cond::runs_script),
            Cond::Not(c) | Cond::Memo { cond: c, .. } => c.runs_script(),
            Cond::Test { left, .. } => source(left),
            Cond::Dynamic { left, right, .. } => source(left) || source(right),
            Cond::Truthy(s) => source(s),
        }
    }

    /// Collects the field paths a condition reads.
    pub fn paths<'a>(&'a self, out: &mut Vec<&'a FieldPath>) {
        use crate::eval::Source;
        fn source<'a>(s: &'a Source, out: &mut Vec<&'a FieldPath>) {
            match s {
                Source::Path(p) => out.push(p),
                Source::Call(c) => c.args.iter().for_each(|a| source(a, out)),
                Source::Const(_) | Source::Script(_) => {}
            }
        }
        match self {
            Cond::True | Cond::False => {}
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.paths(out)),
            Cond::Not(c) | Cond::Memo { cond: c, .. } => c.paths(out),
            Cond::Exists(p) => out.push(p),
            Cond::Test { left, .. } => source(left, out),
            Cond::Dynamic { left, right, .. } => {
                source(left, out);
                source(right, out);
            }
            Cond::Truthy(s) => source(s, out),
        }
    }
}

#[cfg(test)]
mod tests {
    /// What each rule and sequence reads: macros expanded, threshold keys, a sequence's step
    /// rules, inline steps and key; titles and `fields` left out; scripts flagged.
    #[test]
    fn detection_reads_follow_macros_steps_and_keys() {
        let ruleset = crate::loader::ruleset_of(
            r#"
            macro exec = objectRef.subresource in ["exec", "attach"]
            rule pod_exec {
                title "{user.username} in {objectRef.name}"
                when  verb == "create" and exec
                fields [sourceIPs]
            }
            rule many_names {
                when      objectRef.resource == "secrets"
                threshold distinct objectRef.name >= 3 within 10m by user.username
            }
            rule long_names { when script { (event.objectRef?.name ?? "").len() > 40 } }
            rule alerts { source kubearmor  when Action == "Block" }
            sequence chain {
                by     user.username
                within 5m
                steps  many_names -> { responseStatus.code == 403 } -> pod_exec
            }
            "#,
        );
        let reads: Vec<_> = ruleset
            .detection_reads()
            .into_iter()
            .map(|r| {
                (
                    r.detection.name.to_string(),
                    r.paths.join(" "),
                    r.whole_event,
                )
            })
            .collect();
        let expect =
            |name: &str, paths: &str, script: bool| (name.to_owned(), paths.to_owned(), script);
        assert_eq!(
            reads,
            [
                expect("pod_exec", "objectRef.subresource verb", false),
                expect(
                    "many_names",
                    "objectRef.name objectRef.resource user.username",
                    false
                ),
                expect("long_names", "", true),
                expect("alerts", "Action", false),
                expect(
                    "chain",
                    "objectRef.name objectRef.resource objectRef.subresource \
                     responseStatus.code user.username verb",
                    false
                ),
            ]
        );
        let sources: Vec<_> = ruleset
            .detection_reads()
            .iter()
            .map(|r| r.sources.single().map(crate::kinds::KindId::name))
            .collect();
        assert_eq!(
            sources,
            [
                Some("k8s_audit"),
                Some("k8s_audit"),
                Some("k8s_audit"),
                Some("kubearmor"),
                Some("k8s_audit")
            ]
        );
    }
}
