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
    pub start: usize,
    pub end: usize,
}

impl Span {
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

    pub fn len(&self) -> usize {
        self.end - self.start
    }

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
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// A name: `[A-Za-z_][A-Za-z0-9_]*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal with its escapes (`\"`, `\\`, `\n`, `\t`) already processed.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// A duration such as `500ms`, `30s`, `10m`, `2h` or `1d`, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Duration {
    pub millis: u64,
    pub span: Span,
}

/// One parsed `.rules` file.
#[derive(Debug, Clone)]
pub struct File {
    pub source: Arc<SourceFile>,
    pub items: Vec<Item>,
}

/// A top-level definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    List(ListDef),
    Macro(MacroDef),
    Rule(RuleDef),
    Sequence(SequenceDef),
    Script(ScriptBlock),
    Test(TestDef),
}

/// `list NAME = [ITEM, ...]`
#[derive(Debug, Clone, PartialEq)]
pub struct ListDef {
    pub name: Ident,
    pub items: Vec<ListItem>,
    pub span: Span,
}

/// An element of a list definition or of a list literal in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum ListItem {
    Literal(Literal),
    /// The name of another list, whose items are spliced in (Falco-style list composition).
    Name(Ident),
}

/// `macro NAME = CONDITION`
#[derive(Debug, Clone, PartialEq)]
pub struct MacroDef {
    pub name: Ident,
    pub condition: Expr,
    pub span: Span,
}

/// The five severities, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|sev| sev.as_str() == s)
    }
}

/// The kind of event a rule applies to (`source NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    K8sAudit,
    KubeArmor,
    Falco,
    Sysdig,
    Any,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [
        SourceKind::K8sAudit,
        SourceKind::KubeArmor,
        SourceKind::Falco,
        SourceKind::Sysdig,
        SourceKind::Any,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::K8sAudit => "k8s_audit",
            SourceKind::KubeArmor => "kubearmor",
            SourceKind::Falco => "falco",
            SourceKind::Sysdig => "sysdig",
            SourceKind::Any => "any",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Properties shared by rules and sequences: what an alert carries besides its events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertProps {
    pub title: Option<StrLit>,
    pub severity: Option<Spanned<Severity>>,
    pub description: Option<StrLit>,
    pub author: Option<StrLit>,
    pub tags: Option<Spanned<Vec<StrLit>>>,
    pub references: Option<Spanned<Vec<StrLit>>>,
    pub fields: Option<Spanned<Vec<Path>>>,
    pub group_by: Option<Spanned<Vec<Path>>>,
    pub enabled: Option<Spanned<bool>>,
}

/// `rule NAME { PROPERTY ... }`
///
/// The parser reports a property given twice; a missing `when` is reported by the compiler so that
/// it can be collected with the other errors of the ruleset.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub name: Ident,
    pub when: Option<Expr>,
    pub props: AlertProps,
    pub source: Option<Spanned<SourceKind>>,
    /// Aggregation window `within D`.
    pub within: Option<Duration>,
    pub threshold: Option<Threshold>,
    pub span: Span,
}

/// `threshold count >= N within D [by path, ...]` or `threshold distinct PATH >= N within D [by ...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub kind: ThresholdKind,
    /// The `N` of `>= N`. A `> N` in the source is normalised to `>= N + 1`.
    pub at_least: Spanned<u64>,
    pub within: Duration,
    pub by: Vec<Path>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdKind {
    Count,
    Distinct(Path),
}

/// `sequence NAME { by ...  within D  steps A -> B ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceDef {
    pub name: Ident,
    pub props: AlertProps,
    pub by: Option<Spanned<Vec<Path>>>,
    /// The step window.
    pub within: Option<Duration>,
    pub steps: Option<Spanned<Vec<Step>>>,
    pub span: Span,
}

/// One step of a sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A rule name: the step happens when the rule matches (or at each threshold hit).
    Rule(Ident),
    /// `{ CONDITION }`
    Inline(Expr),
}

/// A top-level `script { ... }` block of Rhai function definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptBlock {
    /// The text between the braces, exactly as written.
    pub body: String,
    /// Where `body` starts and ends in the file, for mapping Rhai positions.
    pub body_span: Span,
    pub span: Span,
}

/// `test "DESCRIPTION" { events ... expect ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct TestDef {
    pub name: StrLit,
    /// Event sources in the order written; their events are processed in that order.
    pub events: Vec<TestEvents>,
    pub expects: Vec<Expect>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestEvents {
    /// `events [ {JSON}, ... ]`: each event with the span of its JSON text.
    Inline(Vec<Spanned<serde_json::Value>>),
    /// `events file "PATH"`, relative to the `.rules` file.
    File(StrLit),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// `expect NAME alerts N`
    Alerts {
        name: Ident,
        count: Spanned<u64>,
        span: Span,
    },
    /// `expect NAME matches N`
    Matches {
        name: Ident,
        count: Spanned<u64>,
        span: Span,
    },
    /// `expect no alerts`
    NoAlerts { span: Span },
}

/// A condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
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

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// `all PATH OP RIGHT`: every value of the left path must satisfy the comparison.
    pub all: bool,
    pub left: Operand,
    pub op: Spanned<CmpOp>,
    pub right: Operand,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Intersects,
    Contains,
    IContains,
    StartsWith,
    IStartsWith,
    EndsWith,
    IEndsWith,
    Matches,
    Glob,
    Cidr,
}

impl CmpOp {
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
    Literal(Literal),
    /// `[ITEM, ...]`
    List(Spanned<Vec<ListItem>>),
    Call(Call),
    Script(ScriptExpr),
}

impl Operand {
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

#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub value: LiteralValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LiteralValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

/// `name(arg, ...)`
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Operand>,
    pub span: Span,
}

/// `script { RHAI EXPRESSION }` inside a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptExpr {
    /// The text between the braces, exactly as written.
    pub body: String,
    pub body_span: Span,
    pub span: Span,
}

/// A field path such as `objectRef.resource`, `annotations["a.b/c"]`, `sourceIPs[0]` or
/// `spec.containers[*].name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<Segment>,
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
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub kind: SegmentKind,
    pub span: Span,
}

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
}
