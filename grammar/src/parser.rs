//! Text to syntax tree: runs the pest grammar (`rules.pest`) and turns its pairs into
//! [`crate::ast`] nodes, each with the span of its pair.
//!
//! [`Builder`] has one method per grammar rule, named after the rule (the layout of dhall-rust's
//! parser). A syntax error stops pest at the first mistake; [`parse`] then recovers at the next
//! top-level definition (`recover.rs`), so that each broken definition of a file gets its own
//! diagnostic (`syntax_error.rs`). After a successful parse the builder checks what the grammar
//! cannot (a property given twice, an unknown severity or source, a duration unit, a number that
//! does not fit) and reports every such error of the file, not just the first.

mod recover;
mod suggest;
mod syntax_error;

use std::sync::Arc;

use pest::iterators::Pair;
use pest::Parser as _;

use crate::ast::{
    AlertProps, Call, CmpOp, Comparison, CountBound, CountCmp, Duration, Expect, Expr, ExprKind,
    File, Ident, Item, ListDef, ListItem, Literal, LiteralValue, MacroDef, Operand, Path, RuleDef,
    ScriptBlock, ScriptExpr, Segment, SegmentKind, SequenceDef, Severity, Span, Spanned, Step,
    StepKey, StepOrder, StrLit, TestDef, TestEvents, Threshold, ThresholdKind,
};
use crate::diagnostic::{Code, Diagnostic, SourceFile};
use suggest::{did_you_mean, quoted_list};

#[derive(pest_derive::Parser)]
#[grammar = "rules.pest"]
struct RulesParser;

type Node<'i> = Pair<'i, Rule>;

/// How deep a condition's tree may be (`and`, `or`, `not` levels). Deeper trees would make the
/// recursive passes of the compiler, and even dropping the tree, risk a stack overflow.
const MAX_DEPTH: usize = 256;

/// How deep parentheses and function calls may nest inside one another.
const MAX_NESTING: usize = 64;

/// Parses the text of one `.rules` file.
///
/// Returns the syntax tree, or every error found. A syntax error stops pest, so on one the file
/// is cut into its top-level definitions (`recover.rs`) and each is parsed on its own: every
/// broken definition gets its own diagnostic, and the definitions that parse are still checked
/// for the per-file errors, such as duplicate properties and invalid values. What needs the whole
/// ruleset (names, a missing `when`, types) is checked later, by the compiler.
pub fn parse(file: &Arc<SourceFile>) -> Result<File, Vec<Diagnostic>> {
    let (parsed, diagnostics) = parse_partial(file);
    if diagnostics.is_empty() {
        Ok(parsed)
    } else {
        Err(diagnostics)
    }
}

/// Parses what can be parsed of one `.rules` file: returns the definitions that have no error
/// and every diagnostic of the file, as [`parse`] reports them.
///
/// With no diagnostic, the tree is the one [`parse`] returns. Otherwise it lacks every definition
/// that does not parse or has an invalid value, so that the compiler can still check the others
/// (a ruleset with a diagnostic never loads; this only serves to report all of its errors).
pub fn parse_partial(file: &Arc<SourceFile>) -> (File, Vec<Diagnostic>) {
    // The fast grammar first: it captures inline events as text for serde_json. On any error
    // there (a syntax error, an inline event that is not JSON), the file is parsed again with the
    // exact grammar, whose diagnostics are the ones a user gets (rules.pest, `file_fast`).
    if let Ok(mut pairs) = RulesParser::parse(Rule::file_fast, &file.text) {
        let mut builder = Builder::new(file);
        // INVARIANT: a successful parse of `file_fast` yields exactly one `file_fast` pair.
        let root = pairs
            .next()
            .expect("a parse of `file_fast` yields one pair");
        let items = builder.file(root);
        if !builder.invalid_json {
            let parsed = File {
                source: Arc::clone(file),
                items,
            };
            return (parsed, builder.diagnostics);
        }
    }
    parse_exact(file)
}

/// Parses a file with the exact grammar (`file` in rules.pest), recovering after a syntax error.
fn parse_exact(file: &Arc<SourceFile>) -> (File, Vec<Diagnostic>) {
    let mut builder = Builder::new(file);
    let items = match RulesParser::parse(Rule::file, &file.text) {
        Ok(mut pairs) => {
            // INVARIANT: a successful parse of `file` yields exactly one `file` pair.
            let root = pairs.next().expect("a parse of `file` yields one pair");
            builder.file(root)
        }
        Err(error) => recover(&mut builder, &error),
    };
    let parsed = File {
        source: Arc::clone(file),
        items,
    };
    (parsed, builder.diagnostics)
}

/// Parses a file that pest cannot parse as a whole, definition by definition: returns the
/// definitions without error. Each definition that does not parse on its own gets a diagnostic;
/// all diagnostics are in the order of the file.
fn recover(builder: &mut Builder, error: &pest::error::Error<Rule>) -> Vec<Item> {
    let file = builder.file;
    let text = &*file.text;
    let segments = recover::segments(text);
    if segments.len() < 2 {
        builder
            .diagnostics
            .push(syntax_error::from_pest(file, error, 0));
        return Vec::new();
    }
    let mut items = Vec::new();
    let mut broken = 0;
    for segment in segments {
        match RulesParser::parse(Rule::file, &text[segment.clone()]) {
            Ok(mut pairs) => {
                builder.base = segment.start;
                // INVARIANT: a successful parse of `file` yields exactly one `file` pair.
                let root = pairs.next().expect("a parse of `file` yields one pair");
                items.extend(builder.file(root));
            }
            Err(error) => {
                broken += 1;
                builder
                    .diagnostics
                    .push(syntax_error::from_pest(file, &error, segment.start));
            }
        }
    }
    if broken == 0 {
        // Each part parses on its own but the whole does not: the cut hid the error, so report
        // what pest said of the whole file rather than nothing, and keep no definition, since
        // which one is broken is not known.
        builder
            .diagnostics
            .push(syntax_error::from_pest(file, error, 0));
        return Vec::new();
    }
    items
}

/// Builds AST nodes from pairs, collecting the diagnostics of the file.
///
/// Where a value is invalid, its method reports it and returns `None` (or a placeholder where
/// the tree needs a node); a definition with a diagnostic or a placeholder is left out of the
/// tree, so no placeholder escapes.
struct Builder<'f> {
    file: &'f Arc<SourceFile>,
    diagnostics: Vec<Diagnostic>,
    /// Where in the file the parsed text starts: pest's offsets are relative to the text it was
    /// given, which is one definition of the file when [`recover`] parses them one by one.
    base: usize,
    /// Current depth of parentheses and call arguments.
    nesting: usize,
    reported_too_deep: bool,
    /// Placeholders put in the tree so far, reported or not.
    placeholders: usize,
    /// An inline event captured by the fast grammar (`json_text`) is not valid JSON: the file
    /// must be parsed again with the exact grammar, for its diagnostics.
    invalid_json: bool,
}

impl<'f> Builder<'f> {
    fn new(file: &'f Arc<SourceFile>) -> Self {
        Builder {
            file,
            diagnostics: Vec::new(),
            base: 0,
            nesting: 0,
            reported_too_deep: false,
            placeholders: 0,
            invalid_json: false,
        }
    }

    /// The span of a pair in the file.
    fn span(&self, pair: &Node) -> Span {
        Span::new(self.base + pair.as_span().start(), self.base + end_of(pair))
    }

    // -----------------------------------------------------------------------------------------
    // Files and definitions

    /// The definitions without a diagnostic.
    fn file(&mut self, pair: Node) -> Vec<Item> {
        children(pair)
            .filter_map(|pair| {
                let before = (self.diagnostics.len(), self.placeholders);
                let item = self.item(pair);
                (before == (self.diagnostics.len(), self.placeholders)).then_some(item)
            })
            .collect()
    }

    fn item(&mut self, pair: Node) -> Item {
        let inner = only_child(pair);
        match inner.as_rule() {
            Rule::list_def => Item::List(self.list_def(inner)),
            Rule::macro_def => Item::Macro(self.macro_def(inner)),
            Rule::rule_def => Item::Rule(self.rule_def(inner)),
            Rule::sequence_def => Item::Sequence(self.sequence_def(inner)),
            Rule::script_block => Item::Script(self.script_block(inner)),
            Rule::test_def | Rule::test_def_fast => Item::Test(self.test_def(inner)),
            other => unexpected(other, "item"),
        }
    }

    fn list_def(&mut self, pair: Node) -> ListDef {
        let span = self.span(&pair);
        let mut it = children(pair);
        let name = self.ident(next(&mut it));
        let items = self.list_literal(next(&mut it)).node;
        ListDef { name, items, span }
    }

    fn macro_def(&mut self, pair: Node) -> MacroDef {
        let span = self.span(&pair);
        let mut it = children(pair);
        let name = self.ident(next(&mut it));
        let condition = self.condition(next(&mut it));
        MacroDef {
            name,
            condition,
            span,
        }
    }

    fn rule_def(&mut self, pair: Node) -> RuleDef {
        let span = self.span(&pair);
        let mut it = children(pair);
        let name = self.ident(next(&mut it));
        let mut seen = Seen::new(format!("rule `{}`", name.name));
        let mut def = RuleDef {
            name,
            when: None,
            props: AlertProps::default(),
            source: None,
            within: None,
            threshold: None,
            span,
        };
        for prop in it {
            let prop = only_child(prop);
            self.note_property(&mut seen, &prop);
            match prop.as_rule() {
                Rule::when_prop => {
                    let condition = self.condition(only_child(prop));
                    keep(&mut def.when, Some(condition));
                }
                Rule::source_prop => {
                    let source = self.source_value(only_child(prop));
                    keep(&mut def.source, Some(source));
                }
                Rule::within_prop => {
                    let within = self.duration(only_child(prop));
                    keep(&mut def.within, within);
                }
                Rule::threshold_prop => {
                    let threshold = self.threshold_prop(prop);
                    keep(&mut def.threshold, threshold);
                }
                _ => self.alert_prop(prop, &mut def.props),
            }
        }
        def
    }

    fn sequence_def(&mut self, pair: Node) -> SequenceDef {
        let span = self.span(&pair);
        let mut it = children(pair);
        let name = self.ident(next(&mut it));
        let mut seen = Seen::new(format!("sequence `{}`", name.name));
        let mut def = SequenceDef {
            name,
            props: AlertProps::default(),
            by: None,
            within: None,
            steps: None,
            order: StepOrder::InOrder,
            step_keys: Vec::new(),
            span,
        };
        for prop in it {
            let prop = only_child(prop);
            self.note_property(&mut seen, &prop);
            match prop.as_rule() {
                Rule::by_prop => {
                    let by = self.path_seq(only_child(prop));
                    keep(&mut def.by, Some(by));
                }
                Rule::within_prop => {
                    let within = self.duration(only_child(prop));
                    keep(&mut def.within, within);
                }
                Rule::steps_prop => {
                    let (steps, order, step_keys) = self.steps_prop(prop, &def.name);
                    if def.steps.is_none() {
                        def.order = order;
                        def.step_keys = step_keys;
                    }
                    keep(&mut def.steps, Some(steps));
                }
                _ => self.alert_prop(prop, &mut def.props),
            }
        }
        trailing_by_keys_the_sequence(&mut def);
        def
    }

    /// The properties rules and sequences share.
    fn alert_prop(&mut self, prop: Node, props: &mut AlertProps) {
        match prop.as_rule() {
            Rule::title_prop => {
                let title = self.string(only_child(prop));
                keep(&mut props.title, Some(title));
            }
            Rule::severity_prop => {
                let severity = self.severity_value(only_child(prop));
                keep(&mut props.severity, severity);
            }
            Rule::description_prop => {
                let description = self.string(only_child(prop));
                keep(&mut props.description, Some(description));
            }
            Rule::author_prop => {
                let author = self.string(only_child(prop));
                keep(&mut props.author, Some(author));
            }
            Rule::tags_prop => {
                let tags = self.string_list(only_child(prop));
                keep(&mut props.tags, Some(tags));
            }
            Rule::references_prop => {
                let references = self.string_list(only_child(prop));
                keep(&mut props.references, Some(references));
            }
            Rule::fields_prop => {
                let fields = self.path_list(only_child(prop));
                keep(&mut props.fields, Some(fields));
            }
            Rule::group_by_prop => {
                let group_by = self.path_seq(only_child(prop));
                keep(&mut props.group_by, Some(group_by));
            }
            Rule::enabled_prop => {
                let enabled = self.bool_value(only_child(prop));
                keep(&mut props.enabled, Some(enabled));
            }
            other => unexpected(other, "property"),
        }
    }

    /// Reports a property given a second time in the same block.
    fn note_property(&mut self, seen: &mut Seen, prop: &Node) {
        let name = property_name(prop.as_rule());
        // The keyword(s) of the property: `severity`, or `group by`.
        let keyword = prop
            .clone()
            .into_inner()
            .take_while(|p| is_token(p.as_rule()))
            .map(|p| self.span(&p))
            .reduce(Span::join)
            .unwrap_or_else(|| self.span(prop));
        match seen.given.iter().find(|(n, _)| *n == name) {
            Some(&(_, first)) => self.diagnostics.push(
                Diagnostic::new(
                    Code::DuplicateProperty,
                    format!("property `{name}` is given twice in {}", seen.block),
                )
                .with_label(self.file, keyword, "given again here")
                .with_label(self.file, first, "first given here")
                .with_help("remove one of them"),
            ),
            None => seen.given.push((name, keyword)),
        }
    }

    fn threshold_prop(&mut self, pair: Node) -> Option<Threshold> {
        let span = self.span(&pair);
        let mut it = children(pair);
        let kind = next(&mut it);
        let kind = match kind.as_rule() {
            Rule::thr_count => ThresholdKind::Count,
            Rule::thr_distinct => ThresholdKind::Distinct(self.path(only_child(kind))),
            Rule::thr_sum => ThresholdKind::Sum(self.path(only_child(kind))),
            Rule::thr_avg => ThresholdKind::Avg(self.path(only_child(kind))),
            Rule::thr_median => ThresholdKind::Median(self.path(only_child(kind))),
            Rule::thr_percentile => {
                let mut parts = children(kind);
                let rank = self.count(next(&mut parts))?;
                if rank.node > 100 {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::InvalidValue,
                            format!("`percentile {}` is not a percentile", rank.node),
                        )
                        .with_label(self.file, rank.span, "not between 0 and 100")
                        .with_help("write a percentile from 0 to 100: `percentile 95 PATH`"),
                    );
                    return None;
                }
                let path = self.path(next(&mut parts));
                ThresholdKind::Percentile(rank.node as u8, path)
            }
            other => unexpected(other, "threshold_prop"),
        };
        let mut bounds = Vec::new();
        let mut within = None;
        let mut by = Vec::new();
        let mut complete = true;
        for part in it {
            match part.as_rule() {
                Rule::thr_bound => {
                    let mut parts = children(part);
                    let op = next(&mut parts).as_str();
                    let Some(cmp) = CountCmp::from_text(op) else {
                        unreachable!("the grammar has no comparison `{op}`")
                    };
                    match self.count(next(&mut parts)) {
                        Some(n) => bounds.push(CountBound { cmp, n }),
                        None => complete = false,
                    }
                }
                Rule::duration => within = self.duration(part),
                Rule::path_seq => by = self.path_seq(part).node,
                other => unexpected(other, "threshold_prop"),
            }
        }
        if !complete {
            return None;
        }
        Some(Threshold {
            kind,
            bounds,
            within: within?,
            by,
            span,
        })
    }

    fn steps_prop(
        &mut self,
        pair: Node,
        sequence: &Ident,
    ) -> (Spanned<Vec<Step>>, StepOrder, Vec<Option<StepKey>>) {
        let mut order = StepOrder::InOrder;
        let mut nodes: Vec<Node> = children(pair).collect();
        if let [only] = nodes.as_slice() {
            if only.as_rule() == Rule::steps_any_order {
                let mut parts = children(nodes.remove(0));
                // INVARIANT: `steps_any_order` starts with `steps_need`.
                let need = parts.next().map(only_child);
                let need = match need {
                    Some(n) if n.as_rule() == Rule::count => self.count(n),
                    _ => None,
                };
                order = StepOrder::AnyOrder { need };
                nodes = parts.collect();
            }
        }
        let mut step_keys = Vec::new();
        let steps: Vec<(Step, Span)> = nodes
            .into_iter()
            .map(|p| {
                let (step, span, key) = self.step(p);
                step_keys.push(key);
                (step, span)
            })
            .collect();
        let span = match (steps.first(), steps.last()) {
            (Some((_, first)), Some((_, last))) => first.join(*last),
            // INVARIANT: `steps_prop` has at least one step.
            _ => unreachable!("the grammar gives `steps` at least one step"),
        };
        if steps.len() < 2 {
            let help = match order {
                StepOrder::InOrder => {
                    "a sequence needs at least two steps: `steps first_rule -> second_rule`"
                }
                StepOrder::AnyOrder { .. } => {
                    "a sequence needs at least two steps: `steps all of first_rule, second_rule`"
                }
            };
            self.diagnostics.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("sequence `{}` has a single step", sequence.name),
                )
                .with_label(self.file, span, "one step only")
                .with_help(help),
            );
        } else if let StepOrder::AnyOrder { need: Some(need) } = &order {
            if need.node == 0 || need.node > steps.len() as u64 {
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!(
                            "sequence `{}` needs {} of its {} steps",
                            sequence.name,
                            need.node,
                            steps.len()
                        ),
                    )
                    .with_label(
                        self.file,
                        need.span,
                        "not between 1 and the number of steps",
                    )
                    .with_help(format!(
                        "write a number from 1 to {}, or `all of` for every step",
                        steps.len()
                    )),
                );
            }
        }
        (
            Spanned::new(steps.into_iter().map(|(step, _)| step).collect(), span),
            order,
            step_keys,
        )
    }

    fn step(&mut self, pair: Node) -> (Step, Span, Option<StepKey>) {
        let span = self.span(&pair);
        let mut parts = children(pair);
        let inner = next(&mut parts);
        let key = match parts.next() {
            None => None,
            Some(step_by) => {
                let paths = only_child(step_by);
                Some(match paths.as_rule() {
                    Rule::path_list | Rule::path_seq | Rule::set_key_paths => self.path_list(paths),
                    _ => {
                        let span = self.span(&paths);
                        Spanned::new(vec![self.path(paths)], span)
                    }
                })
            }
        };
        let step = match inner.as_rule() {
            Rule::inline_step => {
                let mut parts = children(inner).peekable();
                let source = match parts.peek().map(|p| p.as_rule()) {
                    Some(Rule::step_kind) => parts.next().map(|p| self.ident(p)),
                    _ => None,
                };
                let when = self.condition(next(&mut parts));
                Step::Inline { source, when }
            }
            Rule::ident => Step::Rule(self.ident(inner)),
            other => unexpected(other, "step"),
        };
        (step, span, key)
    }

    fn script_block(&mut self, pair: Node) -> ScriptBlock {
        let span = self.span(&pair);
        let body = only_child(pair);
        ScriptBlock {
            body: body.as_str().to_string(),
            body_span: self.span(&body),
            span,
        }
    }

    fn test_def(&mut self, pair: Node) -> TestDef {
        let span = self.span(&pair);
        let mut it = children(pair);
        let name = self.string(next(&mut it));
        let mut def = TestDef {
            name,
            events: Vec::new(),
            expects: Vec::new(),
            span,
        };
        let mut seen: Vec<(String, Span)> = Vec::new();
        for prop in it {
            let prop = only_child(prop);
            match prop.as_rule() {
                Rule::events_prop | Rule::events_prop_fast => {
                    if let Some(events) = self.events_prop(prop) {
                        def.events.push(events);
                    }
                }
                Rule::expect_prop => {
                    let (expect, key) = self.expect_prop(prop);
                    let span = expect_span(&expect);
                    match seen.iter().find(|(k, _)| *k == key) {
                        Some((_, first)) => self.diagnostics.push(
                            Diagnostic::new(
                                Code::DuplicateProperty,
                                format!("`{key}` is given twice in test `{}`", def.name.value),
                            )
                            .with_label(self.file, span, "given again here")
                            .with_label(self.file, *first, "first given here")
                            .with_help("remove one of them"),
                        ),
                        None => seen.push((key, span)),
                    }
                    def.expects.push(expect);
                }
                other => unexpected(other, "test_prop"),
            }
        }
        def
    }

    fn events_prop(&mut self, pair: Node) -> Option<TestEvents> {
        let inner = only_child(pair);
        match inner.as_rule() {
            Rule::events_file => Some(TestEvents::File(self.string(only_child(inner)))),
            Rule::events_inline => {
                let events: Vec<_> = children(inner).map(|e| self.json_object(e)).collect();
                events
                    .into_iter()
                    .collect::<Option<_>>()
                    .map(TestEvents::Inline)
            }
            Rule::events_inline_fast => {
                let events: Vec<_> = children(inner).map(|e| self.json_text(e)).collect();
                events
                    .into_iter()
                    .collect::<Option<_>>()
                    .map(TestEvents::Inline)
            }
            other => unexpected(other, "events_prop"),
        }
    }

    /// An inline event. The grammar has checked that the text is JSON; serde_json builds the
    /// value, and reports what the grammar does not check (a lone surrogate in `\uXXXX`, a number
    /// out of range, nesting deeper than 128).
    fn json_object(&mut self, pair: Node) -> Option<Spanned<serde_json::Value>> {
        let span = self.span(&pair);
        match serde_json::from_str(pair.as_str()) {
            Ok(value) => Some(Spanned::new(value, span)),
            Err(error) => {
                let at = json_error_span(pair.as_str(), span.start, &error);
                let message = error.to_string();
                // serde_json appends " at line L column C"; the label shows where.
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                let mut diagnostic = Diagnostic::new(
                    Code::Syntax,
                    format!("invalid JSON: {message}"),
                )
                .with_label(self.file, at, "not valid JSON");
                if message.contains("hex escape") || message.contains("surrogate") {
                    diagnostic = diagnostic.with_help(
                        "a `\\uD800` to `\\uDBFF` escape must be followed by a `\\uDC00` to \
                         `\\uDFFF` escape: together they encode one character",
                    );
                }
                self.diagnostics.push(diagnostic);
                None
            }
        }
    }

    /// An inline event captured as text by the fast grammar. `None` when serde_json rejects it:
    /// the file is then parsed again with the exact grammar, which reports the error.
    fn json_text(&mut self, pair: Node) -> Option<Spanned<serde_json::Value>> {
        let span = self.span(&pair);
        match serde_json::from_str(pair.as_str()) {
            Ok(value) => Some(Spanned::new(value, span)),
            Err(_) => {
                self.invalid_json = true;
                None
            }
        }
    }

    /// Returns the expectation and a key that is equal for two expectations of the same thing.
    fn expect_prop(&mut self, pair: Node) -> (Expect, String) {
        let span = self.span(&pair);
        let inner = only_child(pair);
        let rule = inner.as_rule();
        if rule == Rule::expect_none {
            return (Expect::NoAlerts { span }, "expect no alerts".to_string());
        }
        let mut it = children(inner);
        let name = self.ident(next(&mut it));
        let count = self.count(next(&mut it)).unwrap_or(Spanned::new(0, span));
        match rule {
            Rule::expect_alerts => {
                let key = format!("expect {} alerts", name.name);
                (Expect::Alerts { name, count, span }, key)
            }
            Rule::expect_matches => {
                let key = format!("expect {} matches", name.name);
                (Expect::Matches { name, count, span }, key)
            }
            other => unexpected(other, "expect_prop"),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Conditions

    /// A whole condition (an `or_expr` pair).
    fn condition(&mut self, pair: Node) -> Expr {
        self.or_expr(pair).0
    }

    /// Each condition method also returns the depth of the tree it built.
    fn or_expr(&mut self, pair: Node) -> (Expr, usize) {
        self.chain(pair, Self::and_expr, ExprKind::Or)
    }

    fn and_expr(&mut self, pair: Node) -> (Expr, usize) {
        self.chain(pair, Self::not_expr, ExprKind::And)
    }

    /// `a OP b OP c` as `(a OP b) OP c`.
    fn chain(
        &mut self,
        pair: Node,
        operand: fn(&mut Self, Node) -> (Expr, usize),
        join: fn(Box<Expr>, Box<Expr>) -> ExprKind,
    ) -> (Expr, usize) {
        let mut it = children(pair);
        let (mut acc, mut depth) = operand(self, next(&mut it));
        for pair in it {
            let (right, right_depth) = operand(self, pair);
            let span = acc.span.join(right.span);
            depth = depth.max(right_depth) + 1;
            if depth > MAX_DEPTH {
                return self.too_deep(span);
            }
            acc = Expr {
                kind: join(Box::new(acc), Box::new(right)),
                span,
            };
        }
        (acc, depth)
    }

    /// `not not x` is walked in a loop, so that a long run of `not`s cannot exhaust the stack.
    fn not_expr(&mut self, pair: Node) -> (Expr, usize) {
        let mut nots = Vec::new();
        let mut pair = pair;
        let primary = loop {
            let mut inner = pair.into_inner();
            let first = next(&mut inner);
            if first.as_rule() != Rule::kw_not {
                break first;
            }
            nots.push(self.base + first.as_span().start());
            pair = next(&mut inner);
        };
        let (mut expr, mut depth) = self.primary(primary);
        if depth + nots.len() > MAX_DEPTH {
            let start = nots.first().copied().unwrap_or(expr.span.start);
            return self.too_deep(Span::new(start, expr.span.end));
        }
        for start in nots.into_iter().rev() {
            expr = Expr {
                span: Span::new(start, expr.span.end),
                kind: ExprKind::Not(Box::new(expr)),
            };
            depth += 1;
        }
        (expr, depth)
    }

    fn primary(&mut self, pair: Node) -> (Expr, usize) {
        let inner = only_child(pair);
        let span = self.span(&inner);
        match inner.as_rule() {
            Rule::paren => self.paren(inner),
            Rule::exists_expr => {
                let kind = ExprKind::Exists(self.path(only_child(inner)));
                (Expr { kind, span }, 1)
            }
            Rule::comparison => (self.comparison(inner), 1),
            other => unexpected(other, "primary"),
        }
    }

    /// The condition inside, with its span widened to the parentheses.
    fn paren(&mut self, pair: Node) -> (Expr, usize) {
        let span = self.span(&pair);
        if !self.enter(span) {
            return self.too_deep(span);
        }
        let (mut expr, depth) = self.or_expr(only_child(pair));
        self.nesting -= 1;
        expr.span = span;
        (expr, depth)
    }

    /// `[all] LEFT OP RIGHT`, or an operand standing alone.
    fn comparison(&mut self, pair: Node) -> Expr {
        let span = self.span(&pair);
        let mut it = children(pair);
        let mut left = next(&mut it);
        let all = left.as_rule() == Rule::all_kw;
        if all {
            left = next(&mut it);
        }
        let left = self.operand(left);
        let Some(op) = it.next() else {
            return self.standalone(left, span);
        };
        let op = Spanned::new(cmp_op(op.as_str()), self.span(&op));
        let right = self.operand(next(&mut it));
        let comparison = Comparison {
            all,
            left,
            op,
            right,
        };
        Expr {
            kind: ExprKind::Compare(Box::new(comparison)),
            span,
        }
    }

    /// An operand standing alone as a condition: a name (of a macro), a call or a script that
    /// returns a boolean, `true` or `false`. A field path is kept (the compiler explains what to
    /// write instead); any other value is an error.
    fn standalone(&mut self, operand: Operand, span: Span) -> Expr {
        let kind = match operand {
            Operand::Script(script) => ExprKind::Script(script),
            Operand::Call(call) => ExprKind::Call(call),
            Operand::Literal(Literal {
                value: LiteralValue::Bool(b),
                ..
            }) => ExprKind::Bool(b),
            Operand::Path(path) => match path.segments.as_slice() {
                [Segment {
                    kind: SegmentKind::Field(name),
                    span,
                }] if !name.starts_with('@') => ExprKind::Name(Ident {
                    name: name.clone(),
                    span: *span,
                }),
                _ => ExprKind::BarePath(path),
            },
            Operand::Literal(_) | Operand::List(_) => {
                let text = self.file.text.get(span.start..span.end).unwrap_or_default();
                let what = if matches!(operand, Operand::List(_)) {
                    "a list"
                } else {
                    "a value"
                };
                self.diagnostics.push(
                    Diagnostic::new(Code::Syntax, format!("`{text}` is not a condition"))
                        .with_label(self.file, span, format!("{what} alone is not a condition"))
                        .with_help(
                            "compare it with something, as in `verb == \"get\"` or \
                             `verb in [\"get\", \"list\"]`",
                        ),
                );
                ExprKind::Bool(false)
            }
        };
        Expr { kind, span }
    }

    /// Both `operand` and `left_operand` (they differ only in the order of their alternatives).
    fn operand(&mut self, pair: Node) -> Operand {
        let inner = only_child(pair);
        match inner.as_rule() {
            Rule::script_expr => Operand::Script(self.script_expr(inner)),
            Rule::call => Operand::Call(self.call(inner)),
            Rule::literal => Operand::Literal(self.literal(inner)),
            Rule::list_literal => Operand::List(self.list_literal(inner)),
            Rule::path => Operand::Path(self.path(inner)),
            other => unexpected(other, "operand"),
        }
    }

    fn call(&mut self, pair: Node) -> Call {
        let span = self.span(&pair);
        let mut it = children(pair);
        let name = self.ident(only_child(next(&mut it)));
        let mut args = Vec::new();
        if self.enter(span) {
            for arg in it {
                args.push(self.operand(arg));
            }
            self.nesting -= 1;
        }
        Call { name, args, span }
    }

    fn script_expr(&mut self, pair: Node) -> ScriptExpr {
        let span = self.span(&pair);
        let body = only_child(pair);
        ScriptExpr {
            body: body.as_str().to_string(),
            body_span: self.span(&body),
            span,
        }
    }

    /// Enters parentheses or call arguments; false (and reported) when they nest too deeply.
    fn enter(&mut self, span: Span) -> bool {
        if self.nesting >= MAX_NESTING {
            self.too_deep(span);
            return false;
        }
        self.nesting += 1;
        true
    }

    /// Reports (once per file) a condition too deep to compile, and returns a placeholder.
    fn too_deep(&mut self, span: Span) -> (Expr, usize) {
        self.placeholders += 1;
        if !self.reported_too_deep {
            self.reported_too_deep = true;
            self.diagnostics.push(
                Diagnostic::new(Code::Syntax, "this condition nests too deeply")
                    .with_label(self.file, span, "too deep")
                    .with_help(format!(
                        "a condition may nest {MAX_DEPTH} levels of `and`, `or` and `not`, and \
                         {MAX_NESTING} levels of parentheses and calls; split it into macros"
                    )),
            );
        }
        let kind = ExprKind::Bool(false);
        (Expr { kind, span }, 1)
    }

    // -----------------------------------------------------------------------------------------
    // Values

    fn literal(&mut self, pair: Node) -> Literal {
        let span = self.span(&pair);
        let inner = only_child(pair);
        let value = match inner.as_rule() {
            Rule::string => LiteralValue::Str(unescape(strip_quotes(inner.as_str()))),
            Rule::number => self.number(&inner),
            Rule::bool_lit => LiteralValue::Bool(inner.as_str() == "true"),
            Rule::null_lit => LiteralValue::Null,
            other => unexpected(other, "literal"),
        };
        Literal { value, span }
    }

    fn number(&mut self, pair: &Node) -> LiteralValue {
        let text = pair.as_str();
        let span = self.span(pair);
        if text.contains(['.', 'e', 'E']) {
            match text.parse::<f64>() {
                Ok(float) if float.is_finite() => return LiteralValue::Float(float),
                _ => self.too_large(span, "number"),
            }
        } else {
            match text.parse::<i64>() {
                Ok(int) => return LiteralValue::Int(int),
                Err(_) => self.too_large(span, "integer"),
            }
        }
        LiteralValue::Int(0)
    }

    fn list_literal(&mut self, pair: Node) -> Spanned<Vec<ListItem>> {
        let span = self.span(&pair);
        let items = children(pair).map(|item| self.list_item(item)).collect();
        Spanned::new(items, span)
    }

    fn list_item(&mut self, pair: Node) -> ListItem {
        let inner = only_child(pair);
        match inner.as_rule() {
            Rule::literal => ListItem::Literal(self.literal(inner)),
            Rule::ident => ListItem::Name(self.ident(inner)),
            other => unexpected(other, "list_item"),
        }
    }

    fn string_list(&mut self, pair: Node) -> Spanned<Vec<StrLit>> {
        let span = self.span(&pair);
        let strings = children(pair).map(|s| self.string(s)).collect();
        Spanned::new(strings, span)
    }

    fn path_list(&mut self, pair: Node) -> Spanned<Vec<Path>> {
        let span = self.span(&pair);
        let paths = children(pair).map(|p| self.path(p)).collect();
        Spanned::new(paths, span)
    }

    fn path_seq(&mut self, pair: Node) -> Spanned<Vec<Path>> {
        self.path_list(pair)
    }

    fn path(&mut self, pair: Node) -> Path {
        let span = self.span(&pair);
        let segments = pair.into_inner().map(|s| self.segment(s)).collect();
        Path { segments, span }
    }

    /// One segment of a path; its span covers its brackets but not a leading `.`.
    fn segment(&mut self, pair: Node) -> Segment {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::seg_field => SegmentKind::Field(pair.as_str().to_string()),
            Rule::seg_quoted => SegmentKind::Quoted(self.string(only_child(pair)).value),
            Rule::seg_index => {
                let digits = pair.as_str().trim_start_matches('[').trim_end_matches(']');
                match digits.parse() {
                    Ok(index) => SegmentKind::Index(index),
                    Err(_) => {
                        self.too_large(span, "index");
                        SegmentKind::Index(0)
                    }
                }
            }
            Rule::seg_wildcard => SegmentKind::Wildcard,
            Rule::seg_deep => SegmentKind::Deep,
            other => unexpected(other, "path"),
        };
        Segment { kind, span }
    }

    fn ident(&mut self, pair: Node) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn string(&mut self, pair: Node) -> StrLit {
        StrLit {
            value: unescape(strip_quotes(pair.as_str())),
            span: self.span(&pair),
        }
    }

    fn severity_value(&mut self, pair: Node) -> Option<Spanned<Severity>> {
        let span = self.span(&pair);
        let word = pair.as_str();
        if let Some(severity) = Severity::parse(word) {
            return Some(Spanned::new(severity, span));
        }
        let names: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
        self.invalid_word(word, span, "a severity", &names);
        None
    }

    /// Any word: the grammar does not know the event kinds (the engine's registry does), so the
    /// compiler checks it.
    fn source_value(&mut self, pair: Node) -> Ident {
        self.ident(pair)
    }

    /// `` `hgh` is not a severity ``, with the nearest valid word.
    fn invalid_word(&mut self, word: &str, span: Span, what: &str, valid: &[&str]) {
        let mut help = match did_you_mean(word, valid) {
            Some(near) => format!("did you mean `{near}`? "),
            None => String::new(),
        };
        help.push_str(&format!("{what} is one of {}", quoted_list(valid, "or")));
        self.diagnostics.push(
            Diagnostic::new(Code::InvalidValue, format!("`{word}` is not {what}"))
                .with_label(self.file, span, format!("not {what}"))
                .with_help(help),
        );
    }

    fn bool_value(&mut self, pair: Node) -> Spanned<bool> {
        Spanned::new(pair.as_str() == "true", self.span(&pair))
    }

    fn count(&mut self, pair: Node) -> Option<Spanned<u64>> {
        let span = self.span(&pair);
        match pair.as_str().parse() {
            Ok(n) => Some(Spanned::new(n, span)),
            Err(_) => {
                self.too_large(span, "count");
                None
            }
        }
    }

    /// `500ms`, `30s`, `10m`, `2h`, `1d`, in milliseconds.
    fn duration(&mut self, pair: Node) -> Option<Duration> {
        let span = self.span(&pair);
        let text = pair.as_str();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => {
                self.invalid_duration(digits, unit, span);
                return None;
            }
        };
        let millis = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(millis_per_unit));
        match millis {
            Some(millis) => Some(Duration { millis, span }),
            None => {
                self.too_large(span, "duration");
                None
            }
        }
    }

    fn invalid_duration(&mut self, digits: &str, unit: &str, span: Span) {
        let near = match unit.to_ascii_lowercase().as_str() {
            "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => Some("ms"),
            "sec" | "secs" | "second" | "seconds" => Some("s"),
            "min" | "mins" | "minute" | "minutes" => Some("m"),
            "hr" | "hrs" | "hour" | "hours" => Some("h"),
            "day" | "days" => Some("d"),
            other => did_you_mean(other, suggest::DURATION_UNITS),
        };
        let mut help = match near {
            Some(unit) => format!("did you mean `{digits}{unit}`? "),
            None => String::new(),
        };
        help.push_str(&format!(
            "a duration is a whole number followed by {}, such as `500ms`, `30s`, `10m`, `2h` \
             or `1d`",
            quoted_list(suggest::DURATION_UNITS, "or")
        ));
        let label = if unit.is_empty() {
            "no unit".to_string()
        } else {
            format!("unknown unit `{unit}`")
        };
        self.diagnostics.push(
            Diagnostic::new(
                Code::InvalidValue,
                format!("`{digits}{unit}` is not a duration"),
            )
            .with_label(self.file, span, label)
            .with_help(help),
        );
    }

    fn too_large(&mut self, span: Span, what: &str) {
        let text = self.file.text.get(span.start..span.end).unwrap_or_default();
        let help = match what {
            "integer" => "integers range from -9223372036854775808 to 9223372036854775807",
            "number" => "numbers must fit in a 64-bit float",
            "duration" => "a duration may be at most about 584 million years",
            _ => "the largest value is 18446744073709551615",
        };
        self.diagnostics.push(
            Diagnostic::new(Code::InvalidValue, format!("`{text}` is too large"))
                .with_label(self.file, span, format!("this {what} does not fit"))
                .with_help(help),
        );
    }
}

/// The properties given so far in one block.
struct Seen {
    /// `rule `name``, for messages.
    block: String,
    given: Vec<(&'static str, Span)>,
}

impl Seen {
    fn new(block: String) -> Seen {
        Seen {
            block,
            given: Vec::new(),
        }
    }
}

/// `steps A -> B by PATH`, with no key on any other step and no `by` of the sequence's own: the
/// `by` is the sequence's, as it was before steps had keys of their own (one key on the last
/// step alone would leave the others without one, which is an error). With a `by` elsewhere in
/// the sequence, or a key on an earlier step, it is the last step's key.
fn trailing_by_keys_the_sequence(def: &mut SequenceDef) {
    let Some((last, earlier)) = def.step_keys.split_last_mut() else {
        return;
    };
    if def.by.is_some() || earlier.iter().any(Option::is_some) {
        return;
    }
    if let Some(by) = last.take() {
        def.by = Some(by);
        def.step_keys.clear();
    }
}

/// The first value given wins; a second one is a reported duplicate.
fn keep<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn property_name(rule: Rule) -> &'static str {
    match rule {
        Rule::when_prop => "when",
        Rule::title_prop => "title",
        Rule::severity_prop => "severity",
        Rule::description_prop => "description",
        Rule::author_prop => "author",
        Rule::tags_prop => "tags",
        Rule::references_prop => "references",
        Rule::source_prop => "source",
        Rule::fields_prop => "fields",
        Rule::group_by_prop => "group by",
        Rule::within_prop => "within",
        Rule::threshold_prop => "threshold",
        Rule::enabled_prop => "enabled",
        Rule::by_prop => "by",
        Rule::steps_prop => "steps",
        other => unexpected(other, "property"),
    }
}

fn cmp_op(text: &str) -> CmpOp {
    match text {
        "==" => CmpOp::Eq,
        "!=" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        "in" => CmpOp::In,
        "intersects" => CmpOp::Intersects,
        "contains" => CmpOp::Contains,
        "icontains" => CmpOp::IContains,
        "startswith" => CmpOp::StartsWith,
        "istartswith" => CmpOp::IStartsWith,
        "endswith" => CmpOp::EndsWith,
        "iendswith" => CmpOp::IEndsWith,
        "matches" => CmpOp::Matches,
        "glob" => CmpOp::Glob,
        "cidr" => CmpOp::Cidr,
        // INVARIANT: `cmp_op` in rules.pest matches exactly the words above.
        other => unreachable!("`cmp_op` matched `{other}`"),
    }
}

fn expect_span(expect: &Expect) -> Span {
    match expect {
        Expect::Alerts { span, .. } | Expect::Matches { span, .. } | Expect::NoAlerts { span } => {
            *span
        }
    }
}

/// Where in the file serde_json's error (a line and column within `json`) lies.
fn json_error_span(json: &str, start: usize, error: &serde_json::Error) -> Span {
    let line_start: usize = json
        .split_inclusive('\n')
        .take(error.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let mut offset = (line_start + error.column().saturating_sub(1)).min(json.len());
    while !json.is_char_boundary(offset) {
        offset -= 1;
    }
    let len = json[offset..].chars().next().map_or(0, char::len_utf8);
    if len == 0 {
        // At the very end: label the last character instead.
        let last = json.chars().next_back().map_or(0, char::len_utf8);
        return Span::new(start + json.len() - last, start + json.len());
    }
    Span::new(start + offset, start + offset + len)
}

fn strip_quotes(quoted: &str) -> &str {
    // INVARIANT: `string` pairs start and end with `"`.
    &quoted[1..quoted.len() - 1]
}

/// Processes the escapes `\"`, `\\`, `\n` and `\t`; any other backslash is kept as written, so
/// that regular expressions read naturally (`"^\d+$"`).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Where a pair's text ends. A non-atomic rule that ends in `?` or `*` (`threshold ... [by ...]`,
/// `a or b`) gets from pest a span that runs over the whitespace and comments after its last
/// token, where pest looked for one more repetition; the end of its last child is the true end.
fn end_of(pair: &Node) -> usize {
    // A loop, not recursion: `not not ... x` nests as deep as the text is long.
    let mut pair = pair.clone();
    loop {
        if is_compound_atomic(pair.as_rule()) {
            // No whitespace is skipped inside, and the last child may be followed by a literal
            // (the `]` of `["key"]`).
            return pair.as_span().end();
        }
        match pair.clone().into_inner().next_back() {
            Some(last) => pair = last,
            None => return pair.as_span().end(),
        }
    }
}

/// The `${ ... }` rules of rules.pest (`@{ ... }` rules have no children).
fn is_compound_atomic(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::path
            | Rule::seg_quoted
            | Rule::script_block
            | Rule::script_expr
            | Rule::script_head
            | Rule::call_head
            | Rule::json_object
            | Rule::json_member
            | Rule::json_array
            | Rule::json_value
            | Rule::json_string
    )
}

/// Keywords and punctuation: pairs that carry no meaning of their own once the grammar has
/// matched them.
fn is_token(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::EOI
            | Rule::lbrace
            | Rule::rbrace
            | Rule::rbracket
            | Rule::lparen
            | Rule::rparen
            | Rule::comma
            | Rule::colon
            | Rule::equals
            | Rule::arrow
            | Rule::kw_of
            | Rule::script_head
            | Rule::kw_list
            | Rule::kw_macro
            | Rule::kw_rule
            | Rule::kw_sequence
            | Rule::kw_script
            | Rule::kw_test
            | Rule::kw_when
            | Rule::kw_title
            | Rule::kw_severity
            | Rule::kw_description
            | Rule::kw_author
            | Rule::kw_tags
            | Rule::kw_references
            | Rule::kw_source
            | Rule::kw_fields
            | Rule::kw_group
            | Rule::kw_by
            | Rule::kw_within
            | Rule::kw_threshold
            | Rule::kw_distinct
            | Rule::kw_sum
            | Rule::kw_avg
            | Rule::kw_median
            | Rule::kw_percentile
            | Rule::kw_enabled
            | Rule::kw_steps
            | Rule::kw_events
            | Rule::kw_file
            | Rule::kw_expect
            | Rule::kw_alerts
            | Rule::kw_matches
            | Rule::kw_no
            | Rule::kw_and
            | Rule::kw_or
            | Rule::kw_not
            | Rule::kw_exists
    )
}

/// The meaningful children of a pair.
fn children(pair: Node) -> impl Iterator<Item = Node> {
    pair.into_inner().filter(|p| !is_token(p.as_rule()))
}

/// The next meaningful child.
fn next<'i>(it: &mut impl Iterator<Item = Node<'i>>) -> Node<'i> {
    // INVARIANT: called only where rules.pest guarantees another child; the tests run the parser
    // over every construct and over every truncation of a large file.
    it.next()
        .expect("the grammar guarantees this child of the pair")
}

/// The first meaningful child.
fn only_child(pair: Node) -> Node {
    next(&mut children(pair))
}

/// A pair the grammar cannot produce at this place.
fn unexpected(rule: Rule, parent: &str) -> ! {
    // INVARIANT: the alternatives of each rule in rules.pest are all handled by its method.
    unreachable!("`{rule:?}` cannot appear in `{parent}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text with the inline JSON that a capture could get wrong: braces and quotes in strings,
    /// escapes, nesting, arrays, `#` in strings, comments and commas between events.
    const TRICKY_JSON: &str = r##"rule r { when verb == "get" }
test "t" {
    events [
        {"a": "}", "b": "{", "c": "\"}\\", "d": {"e": [1, {"f": []}, -0.5e-3]}},  # a comment
        {},
        { "g" : "# not a comment", "h": "\u00e9\ud83d\ude00", "i": null, "j": [true, false] }
        # another one
        , {"k": {"l": {"m": {}}}},
    ]
    events [ ]
    events file "x.jsonl"
    expect r alerts 1
}
test "u" { events [{"verb":"get"}] expect no alerts }
"##;

    /// Parses `text` with the fast grammar; `None` when it falls back to the exact one.
    fn parse_fast(text: &str) -> Option<(File, Vec<Diagnostic>)> {
        let file = SourceFile::new("test.rules", text);
        let mut pairs = RulesParser::parse(Rule::file_fast, text).ok()?;
        let mut builder = Builder::new(&file);
        let items = builder.file(pairs.next()?);
        (!builder.invalid_json).then(|| {
            let parsed = File {
                source: Arc::clone(&file),
                items,
            };
            (parsed, builder.diagnostics)
        })
    }

    #[test]
    fn the_fast_grammar_gives_the_exact_grammars_tree() {
        let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules");
        let mut texts: Vec<(String, String)> = std::fs::read_dir(rules)
            .expect("the shipped rules are in the repository")
            .map(|entry| entry.expect("a readable directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "rules"))
            .map(|path| {
                let text = std::fs::read_to_string(&path).expect("a readable rules file");
                (path.display().to_string(), text)
            })
            .collect();
        assert!(texts.len() >= 10, "only {} rules files found", texts.len());
        texts.push(("tricky JSON".into(), TRICKY_JSON.into()));
        let example = include_str!("../tests/fixtures/language_example.rules");
        texts.push(("LANGUAGE.md example".into(), example.into()));
        let mut inline_events = 0;
        for (name, text) in &texts {
            let (fast, fast_diagnostics) =
                parse_fast(text).unwrap_or_else(|| panic!("{name}: the fast grammar failed"));
            let (exact, exact_diagnostics) =
                parse_exact(&SourceFile::new("test.rules", text.as_str()));
            assert!(
                exact_diagnostics.is_empty(),
                "{name}: {exact_diagnostics:?}"
            );
            assert!(fast_diagnostics.is_empty(), "{name}: {fast_diagnostics:?}");
            // Spans included: `{:?}` prints them.
            assert_eq!(
                format!("{:?}", fast.items),
                format!("{:?}", exact.items),
                "{name}"
            );
            inline_events += fast
                .items
                .iter()
                .filter_map(|item| match item {
                    Item::Test(test) => Some(&test.events),
                    _ => None,
                })
                .flatten()
                .filter_map(|events| match events {
                    TestEvents::Inline(events) => Some(events.len()),
                    TestEvents::File(_) => None,
                })
                .sum::<usize>();
        }
        assert!(inline_events > 100, "only {inline_events} inline events");
    }

    #[test]
    fn inline_events_that_are_not_json_fall_back_to_the_exact_grammar() {
        // Balanced, so the fast grammar captures them; serde_json rejects them.
        for event in [
            r#"{"a": 1,}"#,
            r#"{'a': 1}"#,
            r#"{"a": "\d"}"#,
            r#"{"a": 01}"#,
            r#"{"a": "\ud800"}"#,
            "{\"a\": \"tab\tin a string\"}",
            r##"{"a": 1 # comment
            }"##,
            r#"{"a" 1}"#,
        ] {
            let text = format!("test \"t\" {{ events [ {event} ] }}");
            assert!(
                RulesParser::parse(Rule::file_fast, &text).is_ok(),
                "not captured: {event}"
            );
            assert!(parse_fast(&text).is_none(), "accepted: {event}");
            let (_, diagnostics) = parse_partial(&SourceFile::new("test.rules", text.as_str()));
            let (_, exact) = parse_exact(&SourceFile::new("test.rules", text.as_str()));
            assert_eq!(diagnostics.len(), 1, "{event}: {diagnostics:?}");
            assert_eq!(format!("{diagnostics:?}"), format!("{exact:?}"), "{event}");
        }
        // Not balanced: the fast grammar fails, and so does the exact one, which reports.
        for event in [r#"{"a": 'x}'}"#, r#"{"a": "x}"#, r#"{"a": {}"#] {
            let text = format!("test \"t\" {{ events [ {event} ] }}\nrule r {{ when x }}");
            assert!(parse_fast(&text).is_none(), "accepted: {event}");
            let (_, diagnostics) = parse_partial(&SourceFile::new("test.rules", text.as_str()));
            let (_, exact) = parse_exact(&SourceFile::new("test.rules", text.as_str()));
            assert!(!diagnostics.is_empty(), "{event}");
            assert_eq!(format!("{diagnostics:?}"), format!("{exact:?}"), "{event}");
        }
    }

    #[test]
    fn unescape_keeps_unknown_escapes() {
        assert_eq!(unescape(r#"a\"b\\c\nd\te"#), "a\"b\\c\nd\te");
        assert_eq!(unescape(r"^\d+$"), r"^\d+$");
        assert_eq!(unescape(r"\u00e9\x"), r"\u00e9\x");
    }
}
