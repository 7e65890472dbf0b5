//! From parsed files to a runnable [`Ruleset`].
//!
//! The compiler resolves names across every file of the ruleset (lists, macros, rules, sequences
//! and script functions share one namespace; definitions are order-free), expands macros with
//! cycle detection, compiles regexes, globs, CIDRs and Rhai at load with errors at their literal,
//! checks field paths against the event schema, and specialises every comparison into a native
//! matcher ([`crate::eval`]). It collects every diagnostic of the ruleset in one pass: the caller
//! gets all errors and warnings at once, not just the first.
//!
//! One `Compiler` walks the files; its work is split by concern:
//! - `names`: the namespace, lists (spliced, with cycle detection) and macros (expanded where
//!   they are used, with cycle detection);
//! - `conditions`: conditions and their operands, function calls, constant folding;
//! - `operators`: a comparison with a constant specialised into a native
//!   [`Test`](crate::eval::Test);
//! - `lints`: what the event schema says about a condition (unknown fields, comparisons that
//!   are never true);
//! - `detections`: rules and sequences, their alert properties and their fingerprints;
//! - `test_blocks`: the `test` blocks.
//!
//! Typos are answered by the rule language's one "did you mean" policy,
//! [`k8scop_grammar::suggest`].

mod conditions;
mod detections;
mod lints;
mod names;
mod operators;
mod test_blocks;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use k8scop_grammar::ast::{self, Item, Span};
use k8scop_grammar::{Code, Diagnostic, SourceFile};
use serde_json::Value;

use crate::eval::{Cond, ValueSet};
use crate::kinds::KindSet;
use crate::path::{FieldPath, Slots};
use crate::ruleset::{Rule, Ruleset};
use crate::schema::ValueType;
use crate::script::{ScriptHost, ScriptLimits};

/// The candidate closest to a mistyped name, by the rule language's one "did you mean" policy.
pub use k8scop_grammar::suggest::did_you_mean;

/// Settings that come from the command line rather than the rules.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// The aggregation window of rules without `within` (`--max-alert-delta`), in milliseconds.
    pub default_within_ms: i64,
    /// The limits every Rhai script of the ruleset runs under.
    pub script_limits: ScriptLimits,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            default_within_ms: 600_000,
            script_limits: ScriptLimits::default(),
        }
    }
}

/// The result of compiling: a ruleset when there were no errors, and every diagnostic.
pub struct Compiled {
    /// The ruleset, when no diagnostic is an error.
    pub ruleset: Option<Ruleset>,
    /// Every error and warning, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Compiles parsed files into a ruleset.
pub fn compile(files: &[ast::File], options: &CompileOptions) -> Compiled {
    // A macro is compiled again in each rule that uses it: its regular expressions need not be.
    let _regexes = k8scop_stdlib::re::CompileCache::enter();
    let blocks: Vec<(Arc<SourceFile>, ast::ScriptBlock)> = files
        .iter()
        .flat_map(|f| {
            f.items.iter().filter_map(move |item| match item {
                Item::Script(block) => Some((Arc::clone(&f.source), block.clone())),
                _ => None,
            })
        })
        .collect();
    let (scripts, script_diagnostics) = ScriptHost::new(&blocks, options.script_limits.clone());
    let mut compiler = Compiler {
        options,
        defs: HashMap::new(),
        lists: HashMap::new(),
        list_stack: Vec::new(),
        macro_stack: Vec::new(),
        scripts,
        slots: Slots::default(),
        memos: HashMap::new(),
        lookups: HashMap::new(),
        report: Report {
            diagnostics: script_diagnostics,
            ..Report::default()
        },
        uses: Uses::default(),
        script_texts: blocks.iter().map(|(_, b)| b.body.clone()).collect(),
        rule_fingerprints: HashMap::new(),
        used: HashSet::new(),
        errors_only: false,
    };
    compiler.collect_names(files);

    let mut rules = Vec::new();
    let mut rule_index = HashMap::new();
    for file in files {
        for item in &file.items {
            if let Item::Rule(def) = item {
                let rule = compiler.rule(&file.source, def);
                compiler.used.extend(compiler.uses.names.iter().cloned());
                if let Some(rule) = rule {
                    rule_index.insert(def.name.name.clone(), rules.len());
                    rules.push(rule);
                }
            }
        }
    }
    compiler.rule_fingerprints = rules
        .iter()
        .map(|r: &Rule| (r.detection.name.to_string(), r.detection.fingerprint))
        .collect();
    let mut sequences = Vec::new();
    let mut tests = Vec::new();
    for file in files {
        for item in &file.items {
            match item {
                Item::Sequence(def) => {
                    let seq = compiler.sequence(&file.source, def, &rule_index);
                    compiler.used.extend(compiler.uses.names.iter().cloned());
                    if let Some(seq) = seq {
                        sequences.push(seq);
                    }
                }
                Item::Test(def) => {
                    if let Some(test) = compiler.test_case(&file.source, def) {
                        tests.push(test);
                    }
                }
                Item::List(def) => {
                    let _ = compiler.list_values(&def.name.name);
                }
                _ => {}
            }
        }
    }
    // Macros are compiled where they are used, for the kind of event of the rule that uses them.
    // Compile each on its own too, so that the errors of unused ones are reported; a used one's
    // schema warnings came with its uses (for their kinds: a KubeArmor macro is no audit macro),
    // so only its errors are kept here.
    for file in files {
        for item in &file.items {
            if let Item::Macro(def) = item {
                compiler.errors_only = compiler.used.contains(&def.name.name);
                compiler.check_macro(&file.source, def);
            }
        }
    }
    compiler.errors_only = false;

    let mut diagnostics = compiler.report.diagnostics;
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            d.labels
                .first()
                .map(|l| (l.file.name.clone(), l.span.start))
        };
        key(a).cmp(&key(b))
    });
    let ruleset = if diagnostics.iter().any(Diagnostic::is_error) {
        None
    } else {
        let mut slots = compiler.slots;
        let conds: Vec<(&crate::eval::Cond, crate::kinds::KindSet)> = rules
            .iter()
            .map(|r| (&r.when, r.source))
            .chain(crate::ruleset::inline_steps(&sequences).map(|(_, cond, kinds)| (cond, kinds)))
            .collect();
        let prefilter = crate::prefilter::Prefilter::build(&conds, &mut slots);
        let inline_steps = conds.len() - rules.len();
        Some(Ruleset {
            prefilter,
            slots,
            rules,
            inline_steps,
            sequences,
            scripts: compiler.scripts,
            tests,
            files: files.iter().map(|f| Arc::clone(&f.source)).collect(),
            warnings: diagnostics.clone(),
        })
    };
    Compiled {
        ruleset,
        diagnostics,
    }
}

/// A list's items, as a set for lookups and in order for splicing into other lists.
type ListValues = (Arc<ValueSet>, Vec<Value>);

/// What a name of the ruleset's namespace refers to.
#[derive(Clone, Copy)]
enum Def<'a> {
    List(&'a Arc<SourceFile>, &'a ast::ListDef),
    Macro(&'a Arc<SourceFile>, &'a ast::MacroDef),
    Rule(&'a Arc<SourceFile>, &'a ast::RuleDef),
    Sequence(&'a Arc<SourceFile>, &'a ast::SequenceDef),
}

impl Def<'_> {
    /// The kind of definition, as diagnostics name it.
    fn what(&self) -> &'static str {
        match self {
            Def::List(..) => "list",
            Def::Macro(..) => "macro",
            Def::Rule(..) => "rule",
            Def::Sequence(..) => "sequence",
        }
    }

    /// The file and the span of the definition's name.
    fn site(&self) -> (&Arc<SourceFile>, Span) {
        match self {
            Def::List(f, d) => (f, d.name.span),
            Def::Macro(f, d) => (f, d.name.span),
            Def::Rule(f, d) => (f, d.name.span),
            Def::Sequence(f, d) => (f, d.name.span),
        }
    }

    /// The text of the whole definition.
    fn text(&self) -> &str {
        let (file, span) = match self {
            Def::List(f, d) => (f, d.span),
            Def::Macro(f, d) => (f, d.span),
            Def::Rule(f, d) => (f, d.span),
            Def::Sequence(f, d) => (f, d.span),
        };
        file.text.get(span.start..span.end).unwrap_or("")
    }
}

/// Where a condition is being compiled: its file, the event source of its rule, and what the
/// rule's condition tells about the events it can match.
#[derive(Clone)]
struct Scope {
    file: Arc<SourceFile>,
    source: KindSet,
    /// The `objectRef.resource` values the rule is restricted to, when known.
    resources: Option<Vec<String>>,
}

/// What a schema lookup depends on besides the path: the event source and the resources.
type LookupScope = (KindSet, Option<Vec<String>>);

/// A compiled condition and whether the schema shows it can never be true.
struct CompiledCond {
    cond: Cond,
    /// True when the event schema shows the condition can never hold (and a warning said why).
    never: bool,
}

impl CompiledCond {
    /// A condition the schema has nothing to say about.
    fn of(cond: Cond) -> CompiledCond {
        CompiledCond { cond, never: false }
    }

    /// The stand-in for a condition whose error was already reported: `false`, which is the
    /// error's doing, not the rule's.
    fn invalid() -> CompiledCond {
        CompiledCond::of(Cond::False)
    }
}

/// What the schema says about a field an operand reads.
#[derive(Clone, Copy)]
struct FieldType {
    ty: ValueType,
    /// The closed set of values the field takes, when it is enum-like (`verb`, `stage`).
    values: Option<&'static [&'static str]>,
    /// The path lies in a closed part of the schema that does not have it (a top-level
    /// `hostPath` of an audit event): it never has a value, so a comparison on it is never true.
    absent: bool,
}

/// The diagnostics collected so far.
#[derive(Default)]
struct Report {
    diagnostics: Vec<Diagnostic>,
    /// Errors reported so far, counting repeats that `seen` hides.
    errors: usize,
    /// (code, file, span start, span end) already reported: macros expand in every rule that uses
    /// them, and their warnings are worth one report.
    seen: HashSet<(Code, String, usize, usize)>,
}

/// What the definition being compiled uses, for its fingerprint.
#[derive(Default)]
struct Uses {
    /// The lists, macros and step rules.
    names: BTreeSet<String>,
    /// Whether it calls a script function.
    scripts: bool,
}

/// The state of one compilation.
struct Compiler<'a> {
    options: &'a CompileOptions,
    /// Every list, macro, rule and sequence, by name.
    defs: HashMap<String, Def<'a>>,
    /// The lists compiled so far; `None` for a list with an error.
    lists: HashMap<String, Option<ListValues>>,
    /// The lists being spliced, outermost first, to find cycles.
    list_stack: Vec<String>,
    /// The macros being expanded, outermost first, to find cycles.
    macro_stack: Vec<String>,
    scripts: ScriptHost,
    slots: Slots,
    /// The memo of each shared macro expansion, by macro, kinds and resources (see
    /// `Compiler::shared`).
    memos: HashMap<String, u32>,
    /// What the schema said of each path (its text) for a source and its resources, without
    /// suggestions: a macro is compiled again in each rule that uses it, with the same paths.
    lookups: HashMap<LookupScope, HashMap<String, crate::schema::Lookup>>,
    report: Report,
    uses: Uses,
    /// The text of every script block, part of the fingerprint of what calls a script function.
    script_texts: Vec<String>,
    /// The fingerprints of the compiled rules, for the sequences that use them as steps.
    rule_fingerprints: HashMap<String, u64>,
    /// The lists and macros some rule or sequence uses: they were checked where they are used,
    /// for the events of that rule's kind.
    used: HashSet<String>,
    /// Set while a used macro is checked on its own: only its errors are reported.
    errors_only: bool,
}

impl Compiler<'_> {
    /// A condition's field path, with its slot for per-event lookup caching.
    fn field(&mut self, path: &ast::Path) -> FieldPath {
        let mut field = FieldPath::new(path);
        self.slots.intern(&mut field);
        field
    }

    /// Records a diagnostic, once per code and place.
    fn report(&mut self, diagnostic: Diagnostic) {
        if self.errors_only && !diagnostic.is_error() {
            return;
        }
        if diagnostic.is_error() {
            self.report.errors += 1;
        }
        let key = diagnostic.labels.first().map(|l| {
            (
                diagnostic.code,
                l.file.name.clone(),
                l.span.start,
                l.span.end,
            )
        });
        if let Some(key) = key {
            if !self.report.seen.insert(key) {
                return;
            }
        }
        self.report.diagnostics.push(diagnostic);
    }

    /// Whether [`Compiler::report`] keeps a warning of `code` whose first label is `span` in
    /// `file`: not while only errors are kept, nor a warning already reported. What a warning
    /// costs to explain (a "did you mean") is computed only when it is shown.
    fn shows_warning(&self, code: Code, file: &SourceFile, span: Span) -> bool {
        !self.errors_only
            && !self
                .report
                .seen
                .contains(&(code, file.name.clone(), span.start, span.end))
    }

    /// Records a diagnostic with one label and no help.
    fn error(
        &mut self,
        code: Code,
        file: &Arc<SourceFile>,
        span: Span,
        message: String,
        label: &str,
    ) {
        self.report(Diagnostic::new(code, message).with_label(file, span, label));
    }

    /// The errors reported so far, to tell whether a part added any.
    fn error_count(&self) -> usize {
        self.report.errors
    }
}

/// The value of a literal as events hold it.
fn literal_value(value: &ast::LiteralValue) -> Value {
    use ast::LiteralValue;
    match value {
        LiteralValue::Str(s) => Value::String(s.clone()),
        LiteralValue::Int(i) => Value::from(*i),
        LiteralValue::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        LiteralValue::Bool(b) => Value::Bool(*b),
        LiteralValue::Null => Value::Null,
    }
}

/// A set of values for `in` tests.
fn value_set(values: &[Value]) -> Arc<ValueSet> {
    let mut set = ValueSet::default();
    values.iter().for_each(|v| set.insert(v));
    Arc::new(set)
}
