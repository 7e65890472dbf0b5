//! From parsed files to a runnable [`Ruleset`].
//!
//! The compiler resolves names across every file of the ruleset (lists, macros, rules, sequences
//! and script functions share one namespace; definitions are order-free), expands macros with
//! cycle detection, compiles regexes, globs, CIDRs and Rhai at load with errors at their literal,
//! checks field paths against the event schema, and specialises every comparison into a native
//! matcher ([`crate::eval`]). It collects every diagnostic of the ruleset in one pass: the caller
//! gets all errors and warnings at once, not just the first.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path as FsPath;
use std::sync::Arc;

use k8scop_grammar::ast::{
    self, CmpOp, ExprKind, Item, ListItem, LiteralValue, Severity, SourceKind, Span,
};
use k8scop_grammar::{Code, Diagnostic, SourceFile};
use k8scop_stdlib::glob::Glob;
use k8scop_stdlib::net::Cidr;
use k8scop_stdlib::ArgShape;
use memchr::memmem;
use regex::Regex;
use serde_json::Value;

use crate::eval::{CallSite, Callee, Cond, Num, Source, Test, ValueSet};
use crate::path::{FieldPath, Slots};
use crate::ruleset::{
    Detection, DetectionKind, Expectation, Rule, Ruleset, Sequence, Step, TestCase, TestEvents,
    ThresholdSpec,
};
use crate::schema::{self, Lookup, ValueType};
use crate::script::{ScriptHost, ScriptLimits};
use crate::state::Counting;
use crate::template::{split_path, Template};

/// Settings that come from the command line rather than the rules.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// The aggregation window of rules without `within` (`--max-alert-delta`), in milliseconds.
    pub default_within_ms: i64,
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
    pub ruleset: Option<Ruleset>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Compiles parsed files into a ruleset.
pub fn compile(files: &[ast::File], options: &CompileOptions) -> Compiled {
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
        list_cache: HashMap::new(),
        list_stack: Vec::new(),
        macro_stack: Vec::new(),
        scripts,
        slots: Slots::default(),
        diagnostics: script_diagnostics,
        error_marks: 0,
        used: Default::default(),
        used_scripts: false,
        script_texts: blocks.iter().map(|(_, b)| b.body.clone()).collect(),
        rule_fingerprints: HashMap::new(),
        seen: HashSet::new(),
    };
    compiler.collect_names(files);

    let mut rules = Vec::new();
    let mut rule_index = HashMap::new();
    for file in files {
        for item in &file.items {
            if let Item::Rule(def) = item {
                if let Some(rule) = compiler.rule(&file.source, def) {
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
                    if let Some(seq) = compiler.sequence(&file.source, def, &rule_index) {
                        sequences.push(seq);
                    }
                }
                Item::Test(def) => {
                    if let Some(test) = compiler.test_case(&file.source, def) {
                        tests.push(test);
                    }
                }
                // Macros are compiled where they are used; compile the unused ones too so that
                // their errors are reported.
                Item::Macro(def) if compiler.macro_stack.is_empty() => {
                    let cx = Cx {
                        file: Arc::clone(&file.source),
                        source: SourceKind::K8sAudit,
                        resources: None,
                    };
                    compiler.macro_stack.push(def.name.name.clone());
                    let _ = compiler.expr(&cx, &def.condition);
                    compiler.macro_stack.pop();
                }
                Item::List(def) => {
                    let _ = compiler.list_values(&def.name.name);
                }
                _ => {}
            }
        }
    }

    let mut diagnostics = compiler.diagnostics;
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
        Some(Ruleset {
            prefilter: crate::prefilter::Prefilter::build(&rules, &mut slots),
            slots,
            rules,
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

/// What a name refers to.
#[derive(Clone, Copy)]
enum Def<'a> {
    List(&'a Arc<SourceFile>, &'a ast::ListDef),
    Macro(&'a Arc<SourceFile>, &'a ast::MacroDef),
    Rule(&'a Arc<SourceFile>, &'a ast::RuleDef),
    Sequence(&'a Arc<SourceFile>, &'a ast::SequenceDef),
}

impl Def<'_> {
    fn what(&self) -> &'static str {
        match self {
            Def::List(..) => "list",
            Def::Macro(..) => "macro",
            Def::Rule(..) => "rule",
            Def::Sequence(..) => "sequence",
        }
    }

    fn site(&self) -> (&Arc<SourceFile>, Span) {
        match self {
            Def::List(f, d) => (f, d.name.span),
            Def::Macro(f, d) => (f, d.name.span),
            Def::Rule(f, d) => (f, d.name.span),
            Def::Sequence(f, d) => (f, d.name.span),
        }
    }
}

/// Where an expression is being compiled.
#[derive(Clone)]
struct Cx {
    file: Arc<SourceFile>,
    source: SourceKind,
    /// The `objectRef.resource` values the rule is restricted to, when known.
    resources: Option<Vec<String>>,
}

/// A compiled condition and whether the schema shows it can never be true.
struct Compiled1 {
    cond: Cond,
    never: bool,
}

/// A compiled operand.
enum Operand {
    Value {
        source: Source,
        field: Option<(ValueType, Option<&'static [&'static str]>)>,
    },
    Const(Value, Span),
    List(Arc<ValueSet>, Vec<Value>, Span),
    /// An operand whose error was already reported.
    Invalid,
}

struct Compiler<'a> {
    options: &'a CompileOptions,
    defs: HashMap<String, Def<'a>>,
    list_cache: HashMap<String, Option<ListValues>>,
    list_stack: Vec<String>,
    macro_stack: Vec<String>,
    scripts: ScriptHost,
    slots: Slots,
    diagnostics: Vec<Diagnostic>,
    /// Errors reported so far, counting repeats that `seen` hides.
    error_marks: usize,
    /// The lists, macros and step rules the definition being compiled uses (for its fingerprint).
    used: std::collections::BTreeSet<String>,
    /// Whether it calls a script function, and the text of every script block.
    used_scripts: bool,
    script_texts: Vec<String>,
    /// The fingerprints of the compiled rules, for the sequences that use them as steps.
    rule_fingerprints: HashMap<String, u64>,
    /// (code, file, span start, span end) already reported: macros expand in every rule that uses
    /// them, and their warnings are worth one report.
    seen: HashSet<(Code, String, usize, usize)>,
}

impl<'a> Compiler<'a> {
    /// A condition's field path, with its slot for per-event lookup caching.
    fn field(&mut self, path: &ast::Path) -> FieldPath {
        let mut field = FieldPath::new(path);
        self.slots.intern(&mut field);
        field
    }

    fn report(&mut self, diagnostic: Diagnostic) {
        if diagnostic.is_error() {
            self.error_marks += 1;
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
            if !self.seen.insert(key) {
                return;
            }
        }
        self.diagnostics.push(diagnostic);
    }

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

    fn collect_names(&mut self, files: &'a [ast::File]) {
        for file in files {
            for item in &file.items {
                let def = match item {
                    Item::List(d) => Def::List(&file.source, d),
                    Item::Macro(d) => Def::Macro(&file.source, d),
                    Item::Rule(d) => Def::Rule(&file.source, d),
                    Item::Sequence(d) => Def::Sequence(&file.source, d),
                    Item::Script(_) | Item::Test(_) => continue,
                };
                let name = match item {
                    Item::List(d) => &d.name.name,
                    Item::Macro(d) => &d.name.name,
                    Item::Rule(d) => &d.name.name,
                    Item::Sequence(d) => &d.name.name,
                    Item::Script(_) | Item::Test(_) => continue,
                };
                let (file_here, span_here) = def.site();
                if let Some(first) = self.defs.get(name) {
                    let (first_file, first_span) = first.site();
                    let d = Diagnostic::new(Code::DuplicateName, format!("`{name}` is defined twice"))
                        .with_label(file_here, span_here, format!("this {} is named `{name}`", def.what()))
                        .with_label(first_file, first_span, format!("a {} of the same name is defined here", first.what()))
                        .with_help("each list, macro, rule, sequence and script function name is defined once in the whole ruleset");
                    self.report(d);
                    continue;
                }
                if let Some(function) = self.scripts.functions().iter().find(|f| &f.name == name) {
                    let d = Diagnostic::new(Code::DuplicateName, format!("`{name}` is defined twice"))
                        .with_label(file_here, span_here, format!("this {} is named `{name}`", def.what()))
                        .with_label(&function.file, function.span, "a script function of the same name is defined here")
                        .with_help("each list, macro, rule, sequence and script function name is defined once in the whole ruleset");
                    self.report(d);
                    continue;
                }
                if k8scop_stdlib::lookup(name).is_some() {
                    self.error(
                        Code::DuplicateName,
                        file_here,
                        span_here,
                        format!("`{name}` is already the name of a stdlib function"),
                        "defined here",
                    );
                    continue;
                }
                self.defs.insert(name.clone(), def);
            }
        }
    }

    fn names_of(&self, kinds: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = self
            .defs
            .iter()
            .filter(|(_, d)| kinds.contains(&d.what()))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    // ---------------------------------------------------------------- lists

    /// The items of a list, with nested lists spliced in; `None` after an error.
    fn list_values(&mut self, name: &str) -> Option<(Arc<ValueSet>, Vec<Value>)> {
        self.used.insert(name.to_owned());
        if let Some(cached) = self.list_cache.get(name) {
            return cached.clone();
        }
        let Some(Def::List(file, def)) = self.defs.get(name).copied() else {
            return None;
        };
        if self.list_stack.iter().any(|n| n == name) {
            let cycle = self.list_stack.join("` -> `");
            self.error(
                Code::MacroCycle,
                file,
                def.name.span,
                format!("lists refer to each other in a cycle: `{cycle}` -> `{name}`"),
                "this list is part of the cycle",
            );
            return None;
        }
        self.list_stack.push(name.to_owned());
        let values = self.list_items(file, &def.items);
        self.list_stack.pop();
        let result = values.map(|values| {
            let mut set = ValueSet::default();
            values.iter().for_each(|v| set.insert(v));
            (Arc::new(set), values)
        });
        self.list_cache.insert(name.to_owned(), result.clone());
        result
    }

    fn list_items(&mut self, file: &Arc<SourceFile>, items: &[ListItem]) -> Option<Vec<Value>> {
        let mut values = Vec::new();
        let mut ok = true;
        for item in items {
            match item {
                ListItem::Literal(lit) => values.push(literal_value(&lit.value)),
                ListItem::Name(ident) => match self.defs.get(&ident.name).copied() {
                    Some(Def::List(..)) => match self.list_values(&ident.name) {
                        Some((_, nested)) => values.extend(nested),
                        None => ok = false,
                    },
                    Some(other) => {
                        let what = other.what();
                        self.error(
                            Code::MisusedName,
                            file,
                            ident.span,
                            format!("`{}` is a {what}, not a list", ident.name),
                            "only lists can be spliced into a list",
                        );
                        ok = false;
                    }
                    None => {
                        self.unknown_name(file, &ident.name, ident.span, &["list"], "list");
                        ok = false;
                    }
                },
            }
        }
        ok.then_some(values)
    }

    fn unknown_name(
        &mut self,
        file: &Arc<SourceFile>,
        name: &str,
        span: Span,
        kinds: &[&str],
        what: &str,
    ) {
        let candidates = self.names_of(kinds);
        let mut d = Diagnostic::new(Code::UnknownName, format!("unknown name `{name}`"))
            .with_label(file, span, format!("no {what} of this name in the ruleset"));
        if let Some(s) = did_you_mean(name, candidates.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.report(d);
    }

    // ---------------------------------------------------------------- conditions

    fn expr(&mut self, cx: &Cx, expr: &ast::Expr) -> Compiled1 {
        match &expr.kind {
            ExprKind::And(..) => self.junction(cx, expr, true),
            ExprKind::Or(..) => self.junction(cx, expr, false),
            ExprKind::Not(inner) => {
                let inner = self.expr(cx, inner);
                let cond = match inner.cond {
                    Cond::True => Cond::False,
                    Cond::False => Cond::True,
                    c => Cond::Not(Box::new(c)),
                };
                Compiled1 {
                    never: matches!(cond, Cond::False),
                    cond,
                }
            }
            ExprKind::Bool(b) => Compiled1 {
                cond: if *b { Cond::True } else { Cond::False },
                never: !*b,
            },
            ExprKind::Exists(path) => {
                self.check_path(cx, path);
                Compiled1 {
                    cond: Cond::Exists(self.field(path)),
                    never: false,
                }
            }
            ExprKind::Name(ident) => self.name_condition(cx, ident),
            ExprKind::BarePath(path) => {
                let d = Diagnostic::new(Code::BarePath, format!("field path `{path}` is not a condition"))
                    .with_label(&cx.file, path.span, "a field path needs a comparison")
                    .with_help(format!("write `exists {path}` to test that it is present, or `{path} == true` for a boolean field"));
                self.report(d);
                Compiled1 {
                    cond: Cond::False,
                    never: false,
                }
            }
            ExprKind::Call(call) => match self.call(cx, call) {
                Some(site) => Compiled1 {
                    cond: Cond::Truthy(Source::Call(Box::new(site))),
                    never: false,
                },
                None => Compiled1 {
                    cond: Cond::False,
                    never: false,
                },
            },
            ExprKind::Script(script) => match self.scripts.compile_expr(&cx.file, script) {
                Ok(id) => Compiled1 {
                    cond: Cond::Truthy(Source::Script(id)),
                    never: false,
                },
                Err(d) => {
                    self.report(d);
                    Compiled1 {
                        cond: Cond::False,
                        never: false,
                    }
                }
            },
            ExprKind::Compare(cmp) => self.comparison(cx, cmp),
        }
    }

    /// A chain of `and` (or of `or`), flattened, with constants folded: a `false` operand makes
    /// an `and` false (a `true` one makes an `or` true), and the neutral constant drops out.
    fn junction(&mut self, cx: &Cx, expr: &ast::Expr, and: bool) -> Compiled1 {
        let (absorbing, neutral) = if and { (false, true) } else { (true, false) };
        let constant = |b: bool| if b { Cond::True } else { Cond::False };
        let is = |c: &Cond, b: bool| matches!((c, b), (Cond::True, true) | (Cond::False, false));
        let mut parts = Vec::new();
        flatten(expr, and, &mut parts);
        let compiled: Vec<Compiled1> = parts.into_iter().map(|e| self.expr(cx, e)).collect();
        // An `and` can never be true if one operand can't; an `or`, if none can.
        let never = if and {
            compiled.iter().any(|c| c.never)
        } else {
            compiled.iter().all(|c| c.never)
        };
        if compiled.iter().any(|c| is(&c.cond, absorbing)) {
            return Compiled1 {
                cond: constant(absorbing),
                never: !absorbing,
            };
        }
        let mut conds: Vec<Cond> = compiled
            .into_iter()
            .map(|c| c.cond)
            .filter(|c| !is(c, neutral))
            .collect();
        let cond = match conds.len() {
            0 => constant(neutral),
            1 => conds.pop().unwrap_or(constant(neutral)),
            _ if and => Cond::And(conds.into()),
            _ => Cond::Or(conds.into()),
        };
        Compiled1 { cond, never }
    }

    fn name_condition(&mut self, cx: &Cx, ident: &ast::Ident) -> Compiled1 {
        let invalid = Compiled1 {
            cond: Cond::False,
            never: false,
        };
        match self.defs.get(&ident.name).copied() {
            Some(Def::Macro(file, def)) => {
                self.used.insert(ident.name.clone());
                if let Some(pos) = self.macro_stack.iter().position(|n| n == &ident.name) {
                    let cycle = self.macro_stack[pos..].join("` -> `");
                    let d = Diagnostic::new(
                        Code::MacroCycle,
                        format!(
                            "macros refer to each other in a cycle: `{cycle}` -> `{}`",
                            ident.name
                        ),
                    )
                    .with_label(&cx.file, ident.span, "this use closes the cycle")
                    .with_label(file, def.name.span, "the macro is defined here")
                    .with_help("a macro cannot use itself, directly or through other macros");
                    self.report(d);
                    return invalid;
                }
                self.macro_stack.push(ident.name.clone());
                let macro_cx = Cx {
                    file: Arc::clone(file),
                    ..cx.clone()
                };
                let compiled = self.expr(&macro_cx, &def.condition);
                self.macro_stack.pop();
                compiled
            }
            Some(other) => {
                let what = other.what();
                let help = match other {
                    Def::List(..) => format!("compare a field with it: `FIELD in {}`", ident.name),
                    _ => format!(
                        "a {what} is not a condition; sequences name rules in their `steps`"
                    ),
                };
                let d = Diagnostic::new(
                    Code::MisusedName,
                    format!("`{}` is a {what}, not a condition", ident.name),
                )
                .with_label(
                    &cx.file,
                    ident.span,
                    format!("a {what} used as a condition"),
                )
                .with_help(help);
                self.report(d);
                invalid
            }
            None => {
                let candidates = self.names_of(&["macro"]);
                let mut d =
                    Diagnostic::new(Code::UnknownName, format!("unknown name `{}`", ident.name))
                        .with_label(&cx.file, ident.span, "not a macro of this ruleset");
                d = match did_you_mean(&ident.name, candidates.iter().map(String::as_str)) {
                    Some(s) => d.with_help(format!("did you mean the macro `{s}`?")),
                    None => d.with_help(format!(
                        "a bare name must be a macro; a field needs a comparison, e.g. `exists {}`",
                        ident.name
                    )),
                };
                self.report(d);
                invalid
            }
        }
    }

    fn operand(&mut self, cx: &Cx, operand: &ast::Operand) -> Operand {
        match operand {
            ast::Operand::Literal(lit) => Operand::Const(literal_value(&lit.value), lit.span),
            ast::Operand::List(items) => match self.list_items(&cx.file, &items.node) {
                Some(values) => {
                    let mut set = ValueSet::default();
                    values.iter().for_each(|v| set.insert(v));
                    Operand::List(Arc::new(set), values, items.span)
                }
                None => Operand::Invalid,
            },
            ast::Operand::Path(path) => {
                if let Some(name) = path.as_ident() {
                    match self.defs.get(name).copied() {
                        Some(Def::List(..)) => {
                            return match self.list_values(name) {
                                Some((set, values)) => Operand::List(set, values, path.span),
                                None => Operand::Invalid,
                            };
                        }
                        Some(other) => {
                            let what = other.what();
                            self.error(
                                Code::MisusedName,
                                &cx.file,
                                path.span,
                                format!("`{name}` is a {what}, not a value"),
                                "only fields, literals, lists and calls can be compared",
                            );
                            return Operand::Invalid;
                        }
                        None => {}
                    }
                }
                let field = self.check_path(cx, path);
                Operand::Value {
                    source: Source::Path(self.field(path)),
                    field,
                }
            }
            ast::Operand::Call(call) => match self.call(cx, call) {
                Some(site) => Operand::Value {
                    source: Source::Call(Box::new(site)),
                    field: None,
                },
                None => Operand::Invalid,
            },
            ast::Operand::Script(script) => match self.scripts.compile_expr(&cx.file, script) {
                Ok(id) => Operand::Value {
                    source: Source::Script(id),
                    field: None,
                },
                Err(d) => {
                    self.report(d);
                    Operand::Invalid
                }
            },
        }
    }

    fn comparison(&mut self, cx: &Cx, cmp: &ast::Comparison) -> Compiled1 {
        let invalid = Compiled1 {
            cond: Cond::False,
            never: false,
        };
        let op = cmp.op.node;
        let left = self.operand(cx, &cmp.left);
        let right = self.operand(cx, &cmp.right);
        match (left, right) {
            (Operand::Invalid, _) | (_, Operand::Invalid) => invalid,
            (Operand::Value { source, field }, Operand::Const(value, span)) => {
                let Some(test) = self.test(cx, op, &value, span) else {
                    return invalid;
                };
                let never =
                    self.never_true(cx, &cmp.left, field, op, std::slice::from_ref(&value), span);
                Compiled1 {
                    cond: Cond::Test {
                        left: source,
                        all: cmp.all,
                        test,
                    },
                    never,
                }
            }
            (Operand::Value { source, field }, Operand::List(set, values, span)) => {
                let test = match op {
                    CmpOp::In | CmpOp::Intersects => Test::In(set),
                    CmpOp::Eq | CmpOp::Ne => {
                        self.error(
                            Code::MisusedName,
                            &cx.file,
                            cmp.op.span,
                            format!("`{}` cannot compare with a list", op.as_str()),
                            "this compares one value with a list",
                        );
                        if let Some(last) = self.diagnostics.last_mut() {
                            last.help = Some(format!(
                                "use `{}in` to test membership",
                                if op == CmpOp::Ne { "not ... " } else { "" }
                            ));
                        }
                        return invalid;
                    }
                    _ => {
                        let mut tests = Vec::new();
                        for v in &values {
                            match self.test(cx, op, v, span) {
                                Some(t) => tests.push(t),
                                None => return invalid,
                            }
                        }
                        Test::Any(tests.into())
                    }
                };
                let never = self.never_true(cx, &cmp.left, field, op, &values, span);
                Compiled1 {
                    cond: Cond::Test {
                        left: source,
                        all: cmp.all,
                        test,
                    },
                    never,
                }
            }
            (Operand::Const(value, _), Operand::Value { source, .. }) => {
                // `"x" == field` reads as `field == "x"`; other constant-left forms compare per event.
                let flipped = match op {
                    CmpOp::Eq | CmpOp::Ne => Some(op),
                    CmpOp::Lt => Some(CmpOp::Gt),
                    CmpOp::Le => Some(CmpOp::Ge),
                    CmpOp::Gt => Some(CmpOp::Lt),
                    CmpOp::Ge => Some(CmpOp::Le),
                    _ => None,
                };
                match flipped {
                    Some(flipped) if !cmp.all => {
                        match self.test(cx, flipped, &value, cmp.left.span()) {
                            Some(test) => Compiled1 {
                                cond: Cond::Test {
                                    left: source,
                                    all: false,
                                    test,
                                },
                                never: false,
                            },
                            None => invalid,
                        }
                    }
                    _ => Compiled1 {
                        cond: Cond::Dynamic {
                            left: Source::Const(value),
                            all: cmp.all,
                            op,
                            right: source,
                        },
                        never: false,
                    },
                }
            }
            (Operand::Value { source: left, .. }, Operand::Value { source: right, .. }) => {
                Compiled1 {
                    cond: Cond::Dynamic {
                        left,
                        all: cmp.all,
                        op,
                        right,
                    },
                    never: false,
                }
            }
            (Operand::List(_, _, span), _) => {
                self.error(
                    Code::MisusedName,
                    &cx.file,
                    span,
                    "a list can only be on the right of a comparison".into(),
                    "put the field on the left: `FIELD in LIST`",
                );
                invalid
            }
            (Operand::Const(a, _), right) => {
                let b = match right {
                    Operand::Const(b, _) => b,
                    Operand::List(_, items, _) => Value::Array(items),
                    Operand::Value { .. } | Operand::Invalid => return invalid,
                };
                self.error(
                    Code::NeverTrue,
                    &cx.file,
                    cmp.left.span().join(cmp.right.span()),
                    "this comparison compares two constants".into(),
                    "no field is involved",
                );
                let holds = crate::eval::compare_dynamic(op, &a, &b);
                Compiled1 {
                    cond: if holds { Cond::True } else { Cond::False },
                    never: !holds,
                }
            }
        }
    }

    /// Specialises `OP constant` into a native test.
    fn test(&mut self, cx: &Cx, op: CmpOp, value: &Value, span: Span) -> Option<Test> {
        let string = |me: &mut Self, what: &str| -> Option<String> {
            match value {
                Value::String(s) => Some(s.clone()),
                _ => {
                    me.error(
                        Code::InvalidValue,
                        &cx.file,
                        span,
                        format!("`{}` needs a string, not {}", op.as_str(), describe(value)),
                        &format!("expected {what}"),
                    );
                    None
                }
            }
        };
        let test = match op {
            CmpOp::Eq | CmpOp::Ne => {
                let eq = op == CmpOp::Eq;
                match value {
                    Value::String(s) => {
                        if eq {
                            Test::EqStr(s.as_str().into())
                        } else {
                            Test::NeStr(s.as_str().into())
                        }
                    }
                    Value::Number(_) => {
                        let n = Num::of(value)?;
                        if eq {
                            Test::EqNum(n)
                        } else {
                            Test::NeNum(n)
                        }
                    }
                    Value::Bool(b) => {
                        if eq {
                            Test::EqBool(*b)
                        } else {
                            Test::NeBool(*b)
                        }
                    }
                    Value::Null => {
                        let d = Diagnostic::new(
                            Code::NeverTrue,
                            format!("a comparison `{} null` is never true", op.as_str()),
                        )
                        .with_label(
                            &cx.file,
                            span,
                            "a missing or null field makes every comparison false",
                        )
                        .with_help(if eq {
                            "write `not exists FIELD`"
                        } else {
                            "write `exists FIELD`"
                        });
                        self.report(d);
                        Test::Never
                    }
                    Value::Array(_) | Value::Object(_) => return None,
                }
            }
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => match value {
                Value::Number(_) => Test::OrdNum(op, Num::of(value)?),
                Value::String(s) => Test::OrdStr(op, s.as_str().into()),
                _ => {
                    self.error(
                        Code::InvalidValue,
                        &cx.file,
                        span,
                        format!(
                            "`{}` compares numbers or strings, not {}",
                            op.as_str(),
                            describe(value)
                        ),
                        "expected a number or a string",
                    );
                    return None;
                }
            },
            CmpOp::In | CmpOp::Intersects => {
                let mut set = ValueSet::default();
                set.insert(value);
                Test::In(Arc::new(set))
            }
            CmpOp::Contains => Test::Contains(Box::new(
                memmem::Finder::new(string(self, "a string")?.as_bytes()).into_owned(),
            )),
            CmpOp::StartsWith => Test::StartsWith(string(self, "a string")?.into()),
            CmpOp::EndsWith => Test::EndsWith(string(self, "a string")?.into()),
            CmpOp::IContains | CmpOp::IStartsWith | CmpOp::IEndsWith => {
                let s = regex::escape(&string(self, "a string")?);
                let pattern = match op {
                    CmpOp::IContains => format!("(?i){s}"),
                    CmpOp::IStartsWith => format!("(?i)^{s}"),
                    _ => format!("(?i){s}$"),
                };
                Test::Regex(Regex::new(&pattern).ok()?)
            }
            CmpOp::Matches => {
                let s = string(self, "a regular expression")?;
                match k8scop_stdlib::re::compile(&s) {
                    Ok(re) => Test::Regex(re),
                    Err(e) => {
                        let d = Diagnostic::new(Code::InvalidRegex, format!("invalid regular expression `{s}`"))
                            .with_label(&cx.file, span, e)
                            .with_help("the syntax is that of Rust's `regex` crate; escape literal metacharacters with `\\`");
                        self.report(d);
                        return None;
                    }
                }
            }
            CmpOp::Glob => {
                let s = string(self, "a glob pattern")?;
                match Glob::new(&s) {
                    Ok(g) => Test::Glob(Box::new(g)),
                    Err(e) => {
                        let d = Diagnostic::new(
                            Code::InvalidGlob,
                            format!("invalid glob pattern `{s}`"),
                        )
                        .with_label(&cx.file, span, e)
                        .with_help(
                            "a glob has `*` (any text), `?` (one character) and `[...]` classes",
                        );
                        self.report(d);
                        return None;
                    }
                }
            }
            CmpOp::Cidr => {
                let s = string(self, "a CIDR range")?;
                match Cidr::parse(&s) {
                    Ok(c) => Test::Cidr(vec![c].into()),
                    Err(e) => {
                        let d = Diagnostic::new(
                            Code::InvalidCidr,
                            format!("invalid CIDR range `{s}`"),
                        )
                        .with_label(&cx.file, span, e)
                        .with_help(
                            "write an address and a prefix length, e.g. `10.0.0.0/8` or `fd00::/8`",
                        );
                        self.report(d);
                        return None;
                    }
                }
            }
        };
        Some(test)
    }

    /// Warns when the schema shows a comparison can never be true; returns whether it can't.
    fn never_true(
        &mut self,
        cx: &Cx,
        left: &ast::Operand,
        field: Option<(ValueType, Option<&'static [&'static str]>)>,
        op: CmpOp,
        values: &[Value],
        span: Span,
    ) -> bool {
        let Some((ty, enum_values)) = field else {
            return false;
        };
        let ast::Operand::Path(path) = left else {
            return false;
        };
        let is_text = matches!(ty, ValueType::String | ValueType::Timestamp);
        let is_number = matches!(ty, ValueType::Integer | ValueType::Number);
        let mismatch = |v: &Value| match v {
            Value::String(_) => is_number || ty == ValueType::Bool,
            Value::Number(_) => is_text || ty == ValueType::Bool,
            Value::Bool(_) => is_text || is_number,
            _ => false,
        };
        let typed_op = matches!(
            op,
            CmpOp::Eq
                | CmpOp::Ne
                | CmpOp::In
                | CmpOp::Intersects
                | CmpOp::Lt
                | CmpOp::Le
                | CmpOp::Gt
                | CmpOp::Ge
        );
        if typed_op && !values.is_empty() && values.iter().all(mismatch) {
            let d = Diagnostic::new(
                Code::NeverTrue,
                format!(
                    "`{path}` is {}; comparing it with {} is never true",
                    type_phrase(ty),
                    describe(&values[0])
                ),
            )
            .with_label(&cx.file, span, "a string never equals a number")
            .with_help(match &values[0] {
                Value::Number(n) if is_text => format!("quote the value: `\"{n}\"`"),
                Value::String(s) if is_number => format!("remove the quotes: `{s}`"),
                _ => "compare with a value of the field's type".to_owned(),
            });
            self.report(d);
            return true;
        }
        let Some(allowed) = enum_values else {
            return false;
        };
        if !matches!(op, CmpOp::Eq | CmpOp::In | CmpOp::Intersects) {
            return false;
        }
        let unknown: Vec<&str> = values
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !allowed.contains(s))
            .collect();
        if unknown.is_empty() {
            return false;
        }
        let never = unknown.len() == values.len();
        for s in &unknown {
            let mut d = Diagnostic::new(Code::NeverTrue, format!("`{path}` is never `{s}`"))
                .with_label(
                    &cx.file,
                    span,
                    format!(
                        "`{path}` is one of {}",
                        allowed
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            if let Some(suggestion) = did_you_mean(s, allowed.iter().copied()) {
                d = d.with_help(format!("did you mean `{suggestion}`?"));
            } else if *s == "exec" || *s == "attach" || *s == "portforward" {
                d = d.with_help(format!(
                    "`{s}` is a subresource: `objectRef.subresource == \"{s}\"`"
                ));
            }
            self.report(d);
        }
        never
    }

    fn check_path(
        &mut self,
        cx: &Cx,
        path: &ast::Path,
    ) -> Option<(ValueType, Option<&'static [&'static str]>)> {
        let resources: Option<Vec<&str>> = cx
            .resources
            .as_ref()
            .map(|r| r.iter().map(String::as_str).collect());
        match schema::lookup(cx.source, path, resources.as_deref()) {
            Lookup::Field { ty, values, .. } => Some((ty, values)),
            Lookup::FreeForm => None,
            Lookup::Unknown {
                segment,
                suggestion,
            } => {
                let start = path
                    .segments
                    .get(segment)
                    .map_or(path.span.start, |s| s.span.start);
                let span = Span::new(start.max(path.span.start), path.span.end);
                let label = format!("not a field of {}", source_phrase(cx.source));
                let mut d = Diagnostic::new(Code::UnknownField, format!("unknown field `{path}`"))
                    .with_label(&cx.file, span, label);
                // A misspelt list or macro name reads as a one-segment field path.
                let names = self.names_of(&["list", "macro"]);
                let close_name = path
                    .as_ident()
                    .and_then(|name| did_you_mean(name, names.iter().map(String::as_str)));
                if let Some(name) = close_name {
                    let what = self.defs.get(name).map_or("name", Def::what);
                    d = d.with_help(format!("did you mean the {what} `{name}`?"));
                } else if let Some(s) = suggestion {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.report(d);
                None
            }
        }
    }

    fn call(&mut self, cx: &Cx, call: &ast::Call) -> Option<CallSite> {
        let name = &call.name.name;
        let arity = call.args.len();
        let expected = if let Some(f) = k8scop_stdlib::lookup(name) {
            Some(f.params().len())
        } else {
            self.scripts.function_arity(name)
        };
        let Some(expected) = expected else {
            let mut candidates: Vec<String> = k8scop_stdlib::all()
                .iter()
                .map(|f| f.name().to_owned())
                .collect();
            candidates.extend(self.scripts.functions().iter().map(|f| f.name.clone()));
            let mut d =
                Diagnostic::new(Code::UnknownFunction, format!("unknown function `{name}`"))
                    .with_label(
                        &cx.file,
                        call.name.span,
                        "neither a stdlib function nor defined in a `script` block",
                    );
            if let Some(s) = did_you_mean(name, candidates.iter().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.report(d);
            return None;
        };
        if expected != arity {
            let d = Diagnostic::new(
                Code::WrongArity,
                format!(
                    "`{name}` takes {expected} argument{}, not {arity}",
                    if expected == 1 { "" } else { "s" }
                ),
            )
            .with_label(&cx.file, call.span, format!("called with {arity}"));
            self.report(d);
            return None;
        }
        let mut args = Vec::with_capacity(arity);
        let mut ok = true;
        for arg in &call.args {
            match self.operand(cx, arg) {
                Operand::Value { source, .. } => args.push(source),
                Operand::Const(v, _) => args.push(Source::Const(v)),
                Operand::List(_, values, _) => args.push(Source::Const(Value::Array(values))),
                Operand::Invalid => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let flatten: Box<[bool]> = match k8scop_stdlib::lookup(name) {
            Some(f) => f.params().iter().map(|p| !p.ty.contains("list")).collect(),
            None => vec![true; arity].into(),
        };
        let callee = match k8scop_stdlib::lookup(name) {
            Some(f) => {
                let shapes: Vec<ArgShape<'_>> = args
                    .iter()
                    .map(|a| match a {
                        Source::Const(v) => ArgShape::Const(v),
                        _ => ArgShape::Dynamic,
                    })
                    .collect();
                match f.compile(&shapes) {
                    Ok(compiled) => Callee::Stdlib(compiled),
                    Err(e) => {
                        let code = match name.as_str() {
                            "regex_match" => Code::InvalidRegex,
                            "glob_match" => Code::InvalidGlob,
                            "cidr_match" => Code::InvalidCidr,
                            _ => Code::InvalidValue,
                        };
                        let span = call.args.get(e.index).map_or(call.span, ast::Operand::span);
                        self.error(code, &cx.file, span, e.message, "in this argument");
                        return None;
                    }
                }
            }
            None => {
                self.used_scripts = true;
                Callee::Script
            }
        };
        Some(CallSite {
            name: name.as_str().into(),
            callee,
            args: args.into(),
            flatten,
        })
    }

    // ---------------------------------------------------------------- rules and sequences

    fn paths(&mut self, cx: &Cx, paths: &[ast::Path]) -> Vec<FieldPath> {
        paths
            .iter()
            .map(|p| {
                self.check_path(cx, p);
                FieldPath::new(p)
            })
            .collect()
    }

    // The arguments are the parts rules and sequences define differently.
    #[allow(clippy::too_many_arguments)]
    fn detection(
        &mut self,
        cx: &Cx,
        name: &ast::Ident,
        kind: DetectionKind,
        props: &ast::AlertProps,
        within_ms: i64,
        default_group: Option<Vec<FieldPath>>,
        span: Span,
    ) -> Option<Detection> {
        let title = match &props.title {
            Some(lit) => {
                let raw = cx
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
                    let pspan =
                        at.map_or(lit.span, |s| Span::new(s, s + placeholder.text.len() + 2));
                    let path = ast::Path {
                        segments: segments
                            .into_iter()
                            .map(|kind| ast::Segment { kind, span: pspan })
                            .collect(),
                        span: pspan,
                    };
                    self.check_path(cx, &path);
                    Ok(FieldPath::new(&path))
                });
                match result {
                    Ok(t) => t,
                    Err(e) => {
                        let d = Diagnostic::new(Code::InvalidTemplate, format!("invalid title: {}", e.message))
                            .with_label(&cx.file, lit.span, "in this title")
                            .with_help("`{path}` renders an event field, `{count}` the alert's count, `{{` and `}}` literal braces");
                        self.report(d);
                        return None;
                    }
                }
            }
            None => Template::text(&name.name),
        };
        let fields = props
            .fields
            .as_ref()
            .map(|f| self.paths(cx, &f.node))
            .unwrap_or_default();
        let group_by = match &props.group_by {
            Some(g) => Some(self.paths(cx, &g.node)),
            None => default_group,
        };
        let strings = |l: &Option<ast::Spanned<Vec<ast::StrLit>>>| {
            l.as_ref()
                .map(|l| l.node.iter().map(|s| s.value.clone()).collect())
                .unwrap_or_default()
        };
        let mut hasher = Fnv64::default();
        cx.file
            .text
            .get(span.start..span.end)
            .unwrap_or("")
            .hash(&mut hasher);
        within_ms.hash(&mut hasher);
        // What the definition uses is part of it: editing a macro, list, step rule or script
        // function changes the rules that use it, and a reload must not keep their old state.
        for name in &self.used {
            if let Some(fingerprint) = self.rule_fingerprints.get(name) {
                // A step rule: its own fingerprint covers what it uses in turn.
                fingerprint.hash(&mut hasher);
            } else if let Some(def) = self.defs.get(name) {
                let (file, _) = def.site();
                let whole = match def {
                    Def::List(_, d) => d.span,
                    Def::Macro(_, d) => d.span,
                    Def::Rule(_, d) => d.span,
                    Def::Sequence(_, d) => d.span,
                };
                file.text
                    .get(whole.start..whole.end)
                    .unwrap_or("")
                    .hash(&mut hasher);
            }
        }
        if self.used_scripts {
            self.script_texts.hash(&mut hasher);
        }
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
            file: cx.file.name.clone(),
            fields,
            group_by,
            within_ms,
            enabled: props.enabled.as_ref().is_none_or(|e| e.node),
            fingerprint: hasher.finish(),
        })
    }

    fn rule(&mut self, file: &Arc<SourceFile>, def: &ast::RuleDef) -> Option<Rule> {
        self.used.clear();
        self.used_scripts = false;
        let source = def.source.as_ref().map_or(SourceKind::K8sAudit, |s| s.node);
        let resources = def.when.as_ref().and_then(|w| self.resource_hint(w));
        let cx = Cx {
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
        let errors_before = self.error_marks;
        let compiled = self.expr(&cx, when);
        // A condition with errors compiles to `false`: that is the error's doing, not the rule's.
        if compiled.never && self.error_marks == errors_before {
            let d = Diagnostic::new(
                Code::NeverMatches,
                format!("rule `{}` can never match", def.name.name),
            )
            .with_label(file, when.span, "this condition is never true")
            .with_help("see the other warnings on this condition");
            self.report(d);
        }
        let threshold = def.threshold.as_ref().map(|t| {
            let (counting, distinct) = match &t.kind {
                ast::ThresholdKind::Count => (Counting::Count, None),
                ast::ThresholdKind::Distinct(p) => {
                    self.check_path(&cx, p);
                    (Counting::Distinct, Some(self.field(p)))
                }
            };
            ThresholdSpec {
                counting,
                distinct,
                at_least: t.at_least.node,
                within_ms: t.within.millis as i64,
                by: self.paths(&cx, &t.by),
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
            &cx,
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

    fn sequence(
        &mut self,
        file: &Arc<SourceFile>,
        def: &ast::SequenceDef,
        rules: &HashMap<String, usize>,
    ) -> Option<Sequence> {
        self.used.clear();
        self.used_scripts = false;
        let cx = Cx {
            file: Arc::clone(file),
            source: SourceKind::K8sAudit,
            resources: None,
        };
        let mut missing = Vec::new();
        if def.by.is_none() {
            missing.push("by");
        }
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
            .with_help("a sequence needs `by PATH, ...`, `within DURATION` and `steps A -> B`");
            self.report(d);
            return None;
        }
        let by = self.paths(&cx, &def.by.as_ref()?.node);
        let within = def.within?;
        let mut steps = Vec::new();
        let mut ok = true;
        for step in &def.steps.as_ref()?.node {
            match step {
                ast::Step::Rule(ident) => match rules.get(&ident.name).inspect(|_| {
                    self.used.insert(ident.name.clone());
                }) {
                    Some(&i) => steps.push(Step::Rule(i)),
                    None => {
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
                        let names = self.names_of(&["rule"]);
                        if let Some(s) = did_you_mean(&ident.name, names.iter().map(String::as_str))
                        {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        } else if what == Some("macro") {
                            d = d.with_help(format!(
                                "write the condition inline: `{{ {} }}`",
                                ident.name
                            ));
                        }
                        self.report(d);
                        ok = false;
                    }
                },
                ast::Step::Inline(expr) => {
                    let cx = Cx {
                        resources: self.resource_hint(expr),
                        ..cx.clone()
                    };
                    steps.push(Step::Inline(Box::new(self.expr(&cx, expr).cond)));
                }
            }
        }
        let detection = self.detection(
            &cx,
            &def.name,
            DetectionKind::Sequence,
            &def.props,
            self.options.default_within_ms,
            Some(by.clone()),
            def.span,
        )?;
        ok.then(|| Sequence {
            detection: Arc::new(detection),
            by,
            within_ms: within.millis as i64,
            steps,
        })
    }

    fn test_case(&mut self, file: &Arc<SourceFile>, def: &ast::TestDef) -> Option<TestCase> {
        let mut ok = true;
        let mut expects = Vec::new();
        for expect in &def.expects {
            let (name, e) = match expect {
                ast::Expect::Alerts { name, count, .. } => (
                    Some(name),
                    Expectation::Alerts {
                        name: name.name.clone(),
                        count: count.node,
                    },
                ),
                ast::Expect::Matches { name, count, .. } => (
                    Some(name),
                    Expectation::Matches {
                        name: name.name.clone(),
                        count: count.node,
                    },
                ),
                ast::Expect::NoAlerts { .. } => (None, Expectation::NoAlerts),
            };
            if let Some(name) = name {
                if !matches!(
                    self.defs.get(&name.name),
                    Some(Def::Rule(..) | Def::Sequence(..))
                ) {
                    let names = self.names_of(&["rule", "sequence"]);
                    let mut d = Diagnostic::new(
                        Code::InvalidTest,
                        format!(
                            "`expect` names `{}`, which is no rule or sequence",
                            name.name
                        ),
                    )
                    .with_label(
                        file,
                        name.span,
                        "not a rule or sequence of this ruleset",
                    );
                    if let Some(s) = did_you_mean(&name.name, names.iter().map(String::as_str)) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.report(d);
                    ok = false;
                }
            }
            expects.push(e);
        }
        let dir = FsPath::new(&file.name)
            .parent()
            .map(FsPath::to_path_buf)
            .unwrap_or_default();
        let events = def
            .events
            .iter()
            .map(|e| match e {
                ast::TestEvents::Inline(events) => {
                    TestEvents::Inline(events.iter().map(|e| e.node.clone()).collect())
                }
                ast::TestEvents::File(path) => TestEvents::File {
                    path: dir.join(&path.value),
                    span: path.span,
                },
            })
            .collect();
        ok.then(|| TestCase {
            name: def.name.value.clone(),
            file: Arc::clone(file),
            span: def.span,
            events,
            expects,
        })
    }

    /// The `objectRef.resource` values a condition is restricted to by its top-level conjunction.
    fn resource_hint(&mut self, expr: &ast::Expr) -> Option<Vec<String>> {
        let mut found: Option<Vec<String>> = None;
        let mut stack = vec![expr];
        let mut expanded = HashSet::new();
        while let Some(e) = stack.pop() {
            match &e.kind {
                ExprKind::And(a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                ExprKind::Name(ident) => {
                    if let Some(Def::Macro(_, def)) = self.defs.get(&ident.name).copied() {
                        if expanded.insert(ident.name.clone()) {
                            stack.push(&def.condition);
                        }
                    }
                }
                ExprKind::Compare(cmp) if !cmp.all => {
                    let ast::Operand::Path(p) = &cmp.left else {
                        continue;
                    };
                    if p.to_string() != "objectRef.resource" {
                        continue;
                    }
                    let values: Vec<String> = match (&cmp.op.node, &cmp.right) {
                        (
                            CmpOp::Eq,
                            ast::Operand::Literal(ast::Literal {
                                value: LiteralValue::Str(s),
                                ..
                            }),
                        ) => vec![s.clone()],
                        (CmpOp::In | CmpOp::Intersects, ast::Operand::List(items)) => items
                            .node
                            .iter()
                            .filter_map(|i| match i {
                                ListItem::Literal(ast::Literal {
                                    value: LiteralValue::Str(s),
                                    ..
                                }) => Some(s.clone()),
                                _ => None,
                            })
                            .collect(),
                        (CmpOp::In | CmpOp::Intersects, ast::Operand::Path(list)) => {
                            match list.as_ident() {
                                Some(name) => match self.list_values(name) {
                                    Some((_, values)) => values
                                        .iter()
                                        .filter_map(|v| v.as_str().map(str::to_owned))
                                        .collect(),
                                    None => continue,
                                },
                                None => continue,
                            }
                        }
                        _ => continue,
                    };
                    found = Some(match found {
                        Some(prev) => prev.into_iter().filter(|r| values.contains(r)).collect(),
                        None => values,
                    });
                }
                _ => {}
            }
        }
        found.filter(|f| !f.is_empty())
    }
}

/// Collects the operands of a chain of `and` (or of `or`).
fn flatten<'e>(expr: &'e ast::Expr, and: bool, out: &mut Vec<&'e ast::Expr>) {
    match &expr.kind {
        ExprKind::And(a, b) if and => {
            flatten(a, and, out);
            flatten(b, and, out);
        }
        ExprKind::Or(a, b) if !and => {
            flatten(a, and, out);
            flatten(b, and, out);
        }
        _ => out.push(expr),
    }
}

fn literal_value(value: &LiteralValue) -> Value {
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

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string `\"{s}\"`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::Bool(b) => format!("`{b}`"),
        Value::Null => "`null`".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn type_phrase(ty: ValueType) -> &'static str {
    match ty {
        ValueType::String => "a string",
        ValueType::Timestamp => "a timestamp string",
        ValueType::Integer => "an integer",
        ValueType::Number => "a number",
        ValueType::Bool => "a boolean",
        ValueType::Object => "an object",
        ValueType::Array => "a list",
        ValueType::Any => "any value",
    }
}

fn source_phrase(source: SourceKind) -> &'static str {
    match source {
        SourceKind::K8sAudit => "a Kubernetes audit event",
        SourceKind::KubeArmor => "a KubeArmor event",
        SourceKind::Falco => "a Falco alert",
        SourceKind::Sysdig => "a sysdig event",
        SourceKind::Any => "any known event",
    }
}

/// The candidate closest to `name` by edit distance, when close enough to be a likely typo.
pub fn did_you_mean<'c>(name: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (name.chars().count() / 3).max(1) + 1;
    candidates
        .filter(|c| *c != name)
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// FNV-1a, 64-bit: a stable hash for fingerprints (std's hasher may change between releases).
#[derive(Default)]
struct Fnv64(u64);

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.0 == 0 {
            self.0 = 0xcbf2_9ce4_8422_2325;
        }
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
