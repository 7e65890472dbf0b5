//! The syntax tree of a `.rules` file.
//!
//! Every node carries the [`Span`] of the text it was parsed from, so that the compiler can point
//! at the exact text of any diagnostic. Spans are byte offsets into the file's source text, which
//! the [`SourceFile`](crate::SourceFile) of the parsed [`File`] holds.

use std::sync::Arc;

use crate::SourceFile;

/// A byte range `start..end` in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The offset of the first byte.
    pub start: usize,
    /// The offset just past the last byte.
    pub end: usize,
}

impl Span {
    /// The bytes from `start` up to, not including, `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span that covers both `self` and `other`.
    pub fn join(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// The number of bytes covered.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no byte (a position between two bytes, as at the end of a file).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.start, span.len()).into()
    }
}

/// A value together with the span it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub node: T,
    /// Where its text is in the file.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps `node` with the span of its text.
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// A name: `[A-Za-z_][A-Za-z0-9_]*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where the name is in the file.
    pub span: Span,
}

/// A string literal with its escapes (`\"`, `\\`, `\n`, `\t`) already processed.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    /// The string's value, unescaped and without its quotes.
    pub value: String,
    /// Where the literal is in the file, quotes included.
    pub span: Span,
}

/// A duration such as `500ms`, `30s`, `10m`, `2h` or `1d`, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Duration {
    /// The duration in milliseconds (`10m` is 600000).
    pub millis: u64,
    /// Where the duration is in the file.
    pub span: Span,
}

/// One parsed `.rules` file.
#[derive(Debug, Clone)]
pub struct File {
    /// The file's name and text, which every [`Span`] of the tree points into.
    pub source: Arc<SourceFile>,
    /// The definitions in the order written.
    pub items: Vec<Item>,
}

/// A top-level definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `list NAME = [...]`: a constant set of values for `in` and `intersects`.
    List(ListDef),
    /// `macro NAME = CONDITION`: a named condition, expanded where it is used.
    Macro(MacroDef),
    /// `rule NAME { ... }`: a detection that raises alerts on matching events.
    Rule(RuleDef),
    /// `sequence NAME { ... }`: a detection that raises alerts when steps happen in order.
    Sequence(SequenceDef),
    /// `script { ... }`: Rhai functions that conditions may call.
    Script(ScriptBlock),
    /// `test "..." { ... }`: events and the alerts they must raise, run by `k8scop test-rule`.
    Test(TestDef),
}

/// `list NAME = [ITEM, ...]`
#[derive(Debug, Clone, PartialEq)]
pub struct ListDef {
    /// The list's name, by which conditions and other lists refer to it.
    pub name: Ident,
    /// The values, and the names of lists spliced in, in the order written.
    pub items: Vec<ListItem>,
    /// The whole definition.
    pub span: Span,
}

/// An element of a list definition or of a list literal in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum ListItem {
    /// A constant value.
    Literal(Literal),
    /// The name of another list, whose items are spliced in (Falco-style list composition).
    Name(Ident),
}

/// `macro NAME = CONDITION`
#[derive(Debug, Clone, PartialEq)]
pub struct MacroDef {
    /// The macro's name, which stands for its condition wherever it is used.
    pub name: Ident,
    /// The condition it stands for.
    pub condition: Expr,
    /// The whole definition.
    pub span: Span,
}

/// The five severities, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth recording, not worth a look on its own.
    Info,
    /// Unusual, most likely harmless.
    Low,
    /// Worth a look; the default of a rule without `severity`.
    Medium,
    /// Likely an attack or a serious misconfiguration.
    High,
    /// An attack in progress or a compromise: act now.
    Critical,
}

impl Severity {
    /// Every severity, from the lowest to the highest.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The keyword as written in a rule: `info`, `low`, `medium`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity a keyword names, if any (the keywords are lower case).
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|sev| sev.as_str() == s)
    }
}

/// Properties shared by rules and sequences: what an alert carries besides its events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertProps {
    /// `title "..."`: a template whose `{path}` and `{count}` are filled in per alert; the
    /// detection's name when absent.
    pub title: Option<StrLit>,
    /// `severity ...`; `medium` when absent.
    pub severity: Option<Spanned<Severity>>,
    /// `description "..."`, copied into every alert.
    pub description: Option<StrLit>,
    /// `author "..."`, copied into every alert.
    pub author: Option<StrLit>,
    /// `tags [...]`, copied into every alert (MITRE technique ids, say).
    pub tags: Option<Spanned<Vec<StrLit>>>,
    /// `references [...]`: links for the reader of an alert.
    pub references: Option<Spanned<Vec<StrLit>>>,
    /// `fields [path, ...]`: event values copied into the alert.
    pub fields: Option<Spanned<Vec<Path>>>,
    /// `group by path, ...`: matches with equal values of these paths belong to one alert.
    pub group_by: Option<Spanned<Vec<Path>>>,
    /// `enabled false` silences the detection's own alerts; it still works as a sequence step.
    pub enabled: Option<Spanned<bool>>,
}

/// `rule NAME { PROPERTY ... }`
///
/// The parser reports a property given twice; a missing `when` is reported by the compiler so that
/// it can be collected with the other errors of the ruleset.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    /// The rule's name, unique in the ruleset; alerts and sequence steps refer to it.
    pub name: Ident,
    /// `when CONDITION`: which events match. Required, but checked by the compiler.
    pub when: Option<Expr>,
    /// What its alerts carry and how matches group into alerts.
    pub props: AlertProps,
    /// `source NAME`: the kind of event the rule applies to; `k8s_audit` when absent. Any word
    /// parses: the compiler checks it against the engine's registry of event kinds.
    pub source: Option<Ident>,
    /// Aggregation window `within D`.
    pub within: Option<Duration>,
    /// `threshold ...`: only matches that reach the threshold raise alerts.
    pub threshold: Option<Threshold>,
    /// The whole definition.
    pub span: Span,
}

/// `threshold count >= N within D [by path, ...]`, `threshold distinct PATH >= N within D [by ...]`,
/// or `sum`, `avg`, `median` or `percentile P` of a path's numbers in place of `distinct`;
/// the comparison may be any of `>=`, `>`, `<=`, `<`, `==`, `!=`, and several joined with `and`
/// make a range (`>= 3 and <= 10`).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// What is counted: matches, or distinct values of a path among them.
    pub kind: ThresholdKind,
    /// The comparisons the count must pass, all of them, as written.
    pub bounds: Vec<CountBound>,
    /// The sliding window the matches are counted over, ending at each match.
    pub within: Duration,
    /// `by path, ...`: matches are counted separately for each combination of these values.
    pub by: Vec<Path>,
    /// The whole `threshold ...` property.
    pub span: Span,
}

/// One comparison of a [`Threshold`]'s count, e.g. `>= 3`.
#[derive(Debug, Clone, PartialEq)]
pub struct CountBound {
    /// How the count compares.
    pub cmp: CountCmp,
    /// What it is compared with.
    pub n: Spanned<u64>,
}

/// The comparison of a [`CountBound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountCmp {
    /// `>=`
    AtLeast,
    /// `>`
    MoreThan,
    /// `<=`
    AtMost,
    /// `<`
    LessThan,
    /// `==`
    Exactly,
    /// `!=`
    Not,
}

impl CountCmp {
    /// Every comparison.
    pub const ALL: [CountCmp; 6] = [
        CountCmp::AtLeast,
        CountCmp::MoreThan,
        CountCmp::AtMost,
        CountCmp::LessThan,
        CountCmp::Exactly,
        CountCmp::Not,
    ];

    /// The comparison written `text` (`">="`...).
    pub fn from_text(text: &str) -> Option<CountCmp> {
        CountCmp::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CountCmp::AtLeast => ">=",
            CountCmp::MoreThan => ">",
            CountCmp::AtMost => "<=",
            CountCmp::LessThan => "<",
            CountCmp::Exactly => "==",
            CountCmp::Not => "!=",
        }
    }

    /// Whether `count CMP n` holds.
    pub fn holds(self, count: u64, n: u64) -> bool {
        match self {
            CountCmp::AtLeast => count >= n,
            CountCmp::MoreThan => count > n,
            CountCmp::AtMost => count <= n,
            CountCmp::LessThan => count < n,
            CountCmp::Exactly => count == n,
            CountCmp::Not => count != n,
        }
    }
}

/// What a [`Threshold`] counts.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdKind {
    /// `threshold count`: the matches themselves.
    Count,
    /// `threshold distinct PATH`: the distinct values of the path among the matches.
    Distinct(Path),
    /// `threshold sum PATH`: the sum of the numbers the path holds in the matches.
    Sum(Path),
    /// `threshold avg PATH`: their mean.
    Avg(Path),
    /// `threshold median PATH`: their median.
    Median(Path),
    /// `threshold percentile P PATH`: their P-th percentile (P from 0 to 100), interpolated
    /// linearly between the two nearest numbers.
    Percentile(u8, Path),
}

impl ThresholdKind {
    /// The path whose values are counted, summed or averaged (none for `count`).
    pub fn path(&self) -> Option<&Path> {
        match self {
            ThresholdKind::Count => None,
            ThresholdKind::Distinct(path)
            | ThresholdKind::Sum(path)
            | ThresholdKind::Avg(path)
            | ThresholdKind::Median(path)
            | ThresholdKind::Percentile(_, path) => Some(path),
        }
    }
}

/// `sequence NAME { by ...  within D  steps A -> B ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceDef {
    /// The sequence's name, unique in the ruleset among rules and sequences.
    pub name: Ident,
    /// What its alerts carry and how matches group into alerts.
    pub props: AlertProps,
    /// `by path, ...`: steps only follow one another for equal values of these paths. Required,
    /// but checked by the compiler.
    pub by: Option<Spanned<Vec<Path>>>,
    /// The step window.
    pub within: Option<Duration>,
    /// `steps A -> B ...`, or `steps all of A, B ...`. Required, but checked by the compiler.
    pub steps: Option<Spanned<Vec<Step>>>,
    /// Whether the steps must happen in the order written.
    pub order: StepOrder,
    /// One per step of `steps`, in order: `A by PATH` or `A by [PATH, ...]`, the paths that key
    /// the step's events in place of the sequence's `by` (`None`: the sequence's `by`).
    pub step_keys: Vec<Option<StepKey>>,
    /// The whole definition.
    pub span: Span,
}

/// `by PATH` or `by [PATH, ...]` after a step: the paths that key its events.
pub type StepKey = Spanned<Vec<Path>>;

/// How a sequence's steps must happen.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum StepOrder {
    /// `steps A -> B -> C`: one after the other, in that order.
    #[default]
    InOrder,
    /// `steps all of A, B, C` (`need: None`) or `steps N of A, B, C`: in any order, every step
    /// or at least `need` of them.
    AnyOrder {
        /// How many of the steps must happen; `None` for all of them.
        need: Option<Spanned<u64>>,
    },
}

/// One step of a sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A rule name: the step happens when the rule matches (or at each threshold hit).
    Rule(Ident),
    /// `{ CONDITION }`, or `KIND { CONDITION }`: the step happens on an event of that kind (a
    /// Kubernetes audit event without `KIND`) for which the condition holds.
    Inline {
        /// The event kind named before the brace, checked by the compiler like `source`.
        source: Option<Ident>,
        /// The condition between the braces.
        when: Expr,
    },
}

/// A top-level `script { ... }` block of Rhai function definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptBlock {
    /// The text between the braces, exactly as written.
    pub body: String,
    /// Where `body` starts and ends in the file, for mapping Rhai positions.
    pub body_span: Span,
    /// The whole block, `script` keyword included.
    pub span: Span,
}

/// `test "DESCRIPTION" { events ... expect ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct TestDef {
    /// The test's description, which names it in reports.
    pub name: StrLit,
    /// Event sources in the order written; their events are processed in that order.
    pub events: Vec<TestEvents>,
    /// What must hold once every event is processed.
    pub expects: Vec<Expect>,
    /// The whole definition.
    pub span: Span,
}

/// Where a test's events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum TestEvents {
    /// `events [ {JSON}, ... ]`: each event with the span of its JSON text.
    Inline(Vec<Spanned<serde_json::Value>>),
    /// `events file "PATH"`, relative to the `.rules` file.
    File(StrLit),
}

/// What a test expects of its events.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// `expect NAME alerts N`: the detection raised exactly N distinct alerts.
    Alerts {
        /// The rule or sequence.
        name: Ident,
        /// How many alerts.
        count: Spanned<u64>,
        /// The whole expectation.
        span: Span,
    },
    /// `expect NAME matches N`: the detection matched exactly N events (or threshold hits, or
    /// completed sequences), whether or not they raised alerts.
    Matches {
        /// The rule or sequence.
        name: Ident,
        /// How many matches.
        count: Spanned<u64>,
        /// The whole expectation.
        span: Span,
    },
    /// `expect no alerts`: no detection raised any alert.
    NoAlerts {
        /// The whole expectation.
        span: Span,
    },
}

/// A condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the condition is.
    pub kind: ExprKind,
    /// Where its text is, parentheses included.
    pub span: Span,
}

/// The forms of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `LEFT and RIGHT`.
    And(Box<Expr>, Box<Expr>),
    /// `LEFT or RIGHT`.
    Or(Box<Expr>, Box<Expr>),
    /// `not CONDITION`: also true where the condition is false for a missing field.
    Not(Box<Expr>),
    /// `[all] LEFT OP RIGHT`
    Compare(Box<Comparison>),
    /// `exists PATH`
    Exists(Path),
    /// A bare identifier standing alone: a macro reference (anything else is a compile error).
    Name(Ident),
    /// A field path of more than one segment standing alone. Always a compile error with a hint
    /// (`exists PATH` or `PATH == true`); kept in the tree so the error can be reported well.
    BarePath(Path),
    /// A function call standing alone: true when it returns `true`.
    Call(Call),
    /// `script { RHAI EXPRESSION }` standing alone: true when it returns `true`.
    Script(ScriptExpr),
    /// `true` or `false` standing alone.
    Bool(bool),
}

/// `[all] LEFT OP RIGHT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// `all PATH OP RIGHT`: every value of the left path must satisfy the comparison.
    pub all: bool,
    /// The operand before the operator, usually a field path.
    pub left: Operand,
    /// The operator, with its span for diagnostics about it.
    pub op: Spanned<CmpOp>,
    /// The operand after the operator, usually a literal, a list or a regular expression.
    pub right: Operand,
}

/// Comparison operators. On a path with several values, each holds when it holds for any value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`: strings with strings, numbers with numbers, booleans with booleans.
    Eq,
    /// `!=`: false, like every operator, when a side is missing.
    Ne,
    /// `<`, on numbers, or on strings by byte order.
    Lt,
    /// `<=`, on numbers, or on strings by byte order.
    Le,
    /// `>`, on numbers, or on strings by byte order.
    Gt,
    /// `>=`, on numbers, or on strings by byte order.
    Ge,
    /// `in LIST`: a value is one of the list's.
    In,
    /// `intersects LIST`: the same as `in`, read for array fields.
    Intersects,
    /// `contains "text"`: a substring.
    Contains,
    /// `icontains "text"`: a substring, ignoring case.
    IContains,
    /// `startswith "text"`.
    StartsWith,
    /// `istartswith "text"`, ignoring case.
    IStartsWith,
    /// `endswith "text"`.
    EndsWith,
    /// `iendswith "text"`, ignoring case.
    IEndsWith,
    /// `matches "regex"`: the expression matches anywhere in the value.
    Matches,
    /// `glob "pattern"`: the whole value matches `*`, `?` and `[...]`.
    Glob,
    /// `cidr "10.0.0.0/8"`: an IP address inside the range.
    Cidr,
}

impl CmpOp {
    /// The operator as written in a condition: `==`, `in`, `startswith`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::In => "in",
            CmpOp::Intersects => "intersects",
            CmpOp::Contains => "contains",
            CmpOp::IContains => "icontains",
            CmpOp::StartsWith => "startswith",
            CmpOp::IStartsWith => "istartswith",
            CmpOp::EndsWith => "endswith",
            CmpOp::IEndsWith => "iendswith",
            CmpOp::Matches => "matches",
            CmpOp::Glob => "glob",
            CmpOp::Cidr => "cidr",
        }
    }
}

/// One side of a comparison, or a function argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A field path. A single plain segment may instead name a list (resolved by the compiler).
    Path(Path),
    /// A constant.
    Literal(Literal),
    /// `[ITEM, ...]`
    List(Spanned<Vec<ListItem>>),
    /// A stdlib or script function's result.
    Call(Call),
    /// The value of a Rhai expression.
    Script(ScriptExpr),
}

impl Operand {
    /// Where the operand's text is in the file.
    pub fn span(&self) -> Span {
        match self {
            Operand::Path(p) => p.span,
            Operand::Literal(l) => l.span,
            Operand::List(l) => l.span,
            Operand::Call(c) => c.span,
            Operand::Script(s) => s.span,
        }
    }
}

/// A constant in a condition or a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// The constant's value.
    pub value: LiteralValue,
    /// Where it is written.
    pub span: Span,
}

/// The value of a [`Literal`].
#[derive(Debug, Clone, PartialEq)]
pub enum LiteralValue {
    /// `"text"`, unescaped.
    Str(String),
    /// A whole number.
    Int(i64),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`: a comparison with it is false, as with a missing field.
    Null,
}

/// `name(arg, ...)`
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function: a stdlib function or one of the ruleset's script functions.
    pub name: Ident,
    /// The arguments in order.
    pub args: Vec<Operand>,
    /// The whole call, parentheses included.
    pub span: Span,
}

/// `script { RHAI EXPRESSION }` inside a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptExpr {
    /// The text between the braces, exactly as written.
    pub body: String,
    /// Where `body` is in the file, for mapping Rhai positions.
    pub body_span: Span,
    /// The whole expression, `script` keyword included.
    pub span: Span,
}

/// A field path such as `objectRef.resource`, `annotations["a.b/c"]`, `sourceIPs[0]` or
/// `spec.containers[*].name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// The segments from the event's root, at least one.
    pub segments: Vec<Segment>,
    /// Where the whole path is.
    pub span: Span,
}

impl Path {
    /// The identifier when the path is a single plain segment (which may name a list or macro).
    pub fn as_ident(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [Segment {
                kind: SegmentKind::Field(name),
                ..
            }] => Some(name),
            _ => None,
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            match &seg.kind {
                SegmentKind::Field(name) if i == 0 => write!(f, "{name}")?,
                SegmentKind::Field(name) => write!(f, ".{name}")?,
                SegmentKind::Quoted(name) => write!(f, "[{name:?}]")?,
                SegmentKind::Index(i) => write!(f, "[{i}]")?,
                SegmentKind::Wildcard => write!(f, "[*]")?,
                SegmentKind::Deep if i == 0 => write!(f, "**")?,
                SegmentKind::Deep => write!(f, ".**")?,
            }
        }
        Ok(())
    }
}

/// One step of a [`Path`] into the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// How the step is written, which decides what it selects.
    pub kind: SegmentKind,
    /// Where the segment is, for diagnostics about an unknown field.
    pub span: Span,
}

/// How a path [`Segment`] selects its values.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentKind {
    /// `.name` (or the leading `name`)
    Field(String),
    /// `["any key"]`
    Quoted(String),
    /// `[0]`
    Index(usize),
    /// `[*]`: crosses an array explicitly (arrays are crossed implicitly too).
    Wildcard,
    /// `**`: the value and every value nested in it, at any depth (`**` alone: every value of
    /// the event).
    Deep,
}
