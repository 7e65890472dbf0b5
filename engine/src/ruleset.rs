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
use crate::state::Counting;
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
    /// `count` or `distinct`.
    pub counting: Counting,
    /// The path counted by `distinct`.
    pub distinct: Option<FieldPath>,
    /// How many (events or distinct values) raise the alert.
    pub at_least: u64,
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
    /// The window from the first step to the last, in milliseconds.
    pub within_ms: i64,
    /// The steps, in the order they must happen.
    pub steps: Vec<Step>,
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
                out.extend(t.distinct.iter());
            }
        }
        for seq in &self.sequences {
            out.extend(seq.by.iter());
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
        fn cond(c: &Cond) -> bool {
            use crate::eval::Source;
            fn source(s: &Source) -> bool {
                match s {
                    Source::Script(_) => true,
                    Source::Call(c) => c.args.iter().any(source),
                    Source::Path(_) | Source::Const(_) => false,
                }
            }
            match c {
                Cond::True | Cond::False | Cond::Exists(_) => false,
                Cond::And(cs) | Cond::Or(cs) => cs.iter().any(cond),
                Cond::Not(c) | Cond::Memo { cond: c, .. } => cond(c),
                Cond::Test { left, .. } => source(left),
                Cond::Dynamic { left, right, .. } => source(left) || source(right),
                Cond::Truthy(s) => source(s),
            }
        }
        self.rules.iter().any(|r| cond(&r.when))
            || self.sequences.iter().any(|s| {
                s.steps
                    .iter()
                    .any(|st| matches!(st, Step::Inline { cond: c, .. } if cond(c)))
            })
    }
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
