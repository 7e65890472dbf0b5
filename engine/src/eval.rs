//! Compiled conditions and how they evaluate.
//!
//! A [`Cond`] is a tree of native matchers built once at load by `compile`. Comparisons against
//! constants are specialised into a [`Test`] (string equality, a hash set, a prefix, a compiled
//! regex, glob or CIDR list), so that evaluating a comparison walks the field path and compares
//! in place, with no allocation. Function calls and scripts produce owned values and are the only
//! parts that allocate per event.
//!
//! Semantics (LANGUAGE.md, "Conditions"): a comparison holds when it holds for ANY value of its
//! left path (`all` makes it every value, and at least one); a missing or null value makes a
//! comparison false, `!=` included; a string never equals a number.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use k8scop_grammar::ast::CmpOp;
use k8scop_stdlib::glob::Glob;
use k8scop_stdlib::net::{parse_ip, Cidr};
use k8scop_stdlib::Compiled;
use memchr::memmem;
use serde_json::Value;

use crate::caseless::Caseless;
use crate::doc::Ref;
use crate::hash::FastHash;
use crate::memo_regex::MemoRegex;
use crate::path::{FieldPath, SlotCache, Slots};
use crate::script::{ScriptErrorKind, ScriptEvent, ScriptHost, ScriptId};

/// A compiled condition.
pub enum Cond {
    /// Always holds (`true`, or a condition the compiler proved always true).
    True,
    /// Never holds (`false`, or a comparison the compiler proved never true).
    False,
    /// Every condition holds; evaluation stops at the first that does not.
    And(Box<[Cond]>),
    /// Some condition holds; evaluation stops at the first that does.
    Or(Box<[Cond]>),
    /// The condition does not hold (a comparison on a missing field included).
    Not(Box<Cond>),
    /// `exists PATH`
    Exists(FieldPath),
    /// A comparison of a value source against a constant.
    Test {
        /// Where the values compared come from.
        left: Source,
        /// `all`: every value must pass (and there must be one), not just any.
        all: bool,
        /// The comparison, specialised for its constant.
        test: Test,
    },
    /// A comparison whose right side is known only per event.
    Dynamic {
        /// Where the values compared come from.
        left: Source,
        /// `all`: every left value must pass (and there must be one), not just any.
        all: bool,
        /// The operator, applied value by value.
        op: CmpOp,
        /// Where the values compared against come from.
        right: Source,
    },
    /// A function call or script standing alone: true when it yields `true`.
    Truthy(Source),
    /// A condition several rules share (a macro's expansion), evaluated once per event: its
    /// result is kept in the event's cache under memo `id` ([`crate::path::Slots::memo`]).
    /// Only conditions without calls or scripts are shared, so no error is ever skipped.
    Memo {
        /// The memo entry.
        id: u32,
        /// The shared condition.
        cond: Box<Cond>,
    },
}

/// Where the values of an operand come from.
pub enum Source {
    /// The values of a field path of the event.
    Path(FieldPath),
    /// A constant the compiler could not fold into a [`Test`].
    Const(Value),
    /// The result of a function call, computed per event.
    Call(Box<CallSite>),
    /// The value of a `script { ... }` expression, computed per event.
    Script(ScriptId),
}

/// A function call prepared at load.
pub struct CallSite {
    /// The function's name, for error reports.
    pub name: Arc<str>,
    /// What runs: a stdlib function prepared for this call site, or a script function.
    pub callee: Callee,
    /// Where each argument's values come from.
    pub args: Box<[Source]>,
    /// Per argument: whether a path ending at an array passes its elements one by one (a
    /// parameter that takes one value) or the array whole (a parameter that takes a list).
    pub flatten: Box<[bool]>,
}

/// The function a [`CallSite`] calls.
pub enum Callee {
    /// A stdlib function, compiled with the call site's constant arguments.
    Stdlib(Box<dyn Compiled>),
    /// A function of the ruleset's `script` blocks, called by name.
    Script,
}

/// A set of constants for `in` / `intersects`, looked up in constant time.
///
/// Strings are screened by length first (a bit per length), and a set of a few strings is
/// searched in a list, which is cheaper than hashing the value.
#[derive(Debug, Default, Clone)]
pub struct ValueSet {
    strings: HashSet<Box<str>, FastHash>,
    /// The strings again, while there are at most [`SMALL_SET`] of them.
    few: Vec<Box<str>>,
    /// Bit `n` is set when a string of `n` bytes is a member (bit 63: 63 bytes or more).
    lengths: u64,
    /// Numbers by the bits of their f64 value (`-0.0` normalised to `0.0`).
    numbers: HashSet<u64, FastHash>,
    bools: [bool; 2],
}

/// The most strings a [`ValueSet`] searches as a list.
const SMALL_SET: usize = 8;

/// The bit of a string's length in [`ValueSet::lengths`].
#[inline]
fn length_bit(s: &str) -> u64 {
    1 << s.len().min(63)
}

impl ValueSet {
    /// Adds a constant; nulls, arrays and objects are never equal to anything and are left out.
    pub fn insert(&mut self, value: &Value) {
        match value {
            Value::String(s) => {
                if self.strings.insert(s.as_str().into()) {
                    self.lengths |= length_bit(s);
                    if self.strings.len() <= SMALL_SET {
                        self.few.push(s.as_str().into());
                    } else {
                        self.few = Vec::new();
                    }
                }
            }
            Value::Number(n) => {
                if let Some(f) = n.as_f64() {
                    self.numbers.insert(number_bits(f));
                }
            }
            Value::Bool(b) => self.bools[usize::from(*b)] = true,
            Value::Null | Value::Array(_) | Value::Object(_) => {}
        }
    }

    /// Whether `value` equals a member: strings to strings, numbers to numbers (`1` equals
    /// `1.0`), booleans to booleans.
    #[inline]
    pub fn contains<'a>(&self, value: impl Scalar<'a>) -> bool {
        if let Some(s) = value.str() {
            return self.contains_str(s);
        }
        if let Some(b) = value.bool() {
            return self.bools[usize::from(b)];
        }
        value
            .num()
            .is_some_and(|n| self.numbers.contains(&number_bits(n.float)))
    }

    #[inline]
    fn contains_str(&self, s: &str) -> bool {
        if self.lengths & length_bit(s) == 0 {
            return false;
        }
        if self.strings.len() <= SMALL_SET {
            self.few.iter().any(|m| m.len() == s.len() && **m == *s)
        } else {
            self.strings.contains(s)
        }
    }

    /// The members, when they are all strings and numbers (numbers by the bits of their `f64`
    /// value, as the set holds them).
    pub fn strings_and_numbers(
        &self,
    ) -> Option<(impl Iterator<Item = &str>, impl Iterator<Item = u64> + '_)> {
        (!self.bools[0] && !self.bools[1]).then(|| {
            (
                self.strings.iter().map(|s| &**s),
                self.numbers.iter().copied(),
            )
        })
    }

    /// The number of distinct members.
    pub fn len(&self) -> usize {
        self.strings.len() + self.numbers.len() + self.bools.iter().filter(|b| **b).count()
    }

    /// Whether the set has no member, so that `in` it never holds.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) fn number_bits(f: f64) -> u64 {
    if f == 0.0 {
        0f64.to_bits()
    } else {
        f.to_bits()
    }
}

/// A number literal: exact integer comparison when both sides are integers.
#[derive(Debug, Clone, Copy)]
pub struct Num {
    /// The value as an integer, when it is one that fits in an `i64`.
    pub int: Option<i64>,
    /// The value as a float, always set.
    pub float: f64,
}

impl Num {
    /// The number a JSON value holds, if it is a number.
    pub fn of(value: &Value) -> Option<Num> {
        match value {
            Value::Number(n) => Num::from_number(n),
            _ => None,
        }
    }

    /// A JSON number as a `Num`; `None` only for a number `f64` cannot hold.
    pub fn from_number(n: &serde_json::Number) -> Option<Num> {
        Some(Num {
            int: n.as_i64(),
            float: n.as_f64()?,
        })
    }

    fn cmp(self, other: Num) -> Option<std::cmp::Ordering> {
        match (self.int, other.int) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => self.float.partial_cmp(&other.float),
        }
    }
}

/// A comparison against a constant, specialised at load.
pub enum Test {
    /// `== "text"`.
    EqStr(Box<str>),
    /// `== 3`, exact for integers.
    EqNum(Num),
    /// `== true`.
    EqBool(bool),
    /// `!= "text"`: false for a missing value or one of another type.
    NeStr(Box<str>),
    /// `!= 3`: false for a missing value or one of another type.
    NeNum(Num),
    /// `!= true`: false for a missing value or one of another type.
    NeBool(bool),
    /// `<`, `<=`, `>`, `>=` against a number.
    OrdNum(CmpOp, Num),
    /// `<`, `<=`, `>`, `>=` against a string (byte-wise, which orders RFC 3339 times correctly).
    OrdStr(CmpOp, Box<str>),
    /// `in` and `intersects` a list: a hash-set lookup.
    In(Arc<ValueSet>),
    /// `contains "text"`, with a substring finder built once.
    Contains(Box<memmem::Finder<'static>>),
    /// `startswith "text"`.
    StartsWith(Box<str>),
    /// `endswith "text"`.
    EndsWith(Box<str>),
    /// `matches`, and the case-insensitive operators with text that is not ASCII, compiled to
    /// `(?i)` regexes; results remembered per thread for recent values.
    Regex(Box<MemoRegex>),
    /// `icontains`, `istartswith`, `iendswith` and `matches` with a pattern that is only
    /// case-insensitive literal text: compared natively (see [`crate::caseless`]).
    Caseless(Box<Caseless>),
    /// `glob "pattern"`, matching the whole value.
    Glob(Box<Glob>),
    /// `cidr` a range or a list of ranges: the value is an IP address inside one of them.
    Cidr(Box<[Cidr]>),
    /// A list on the right of a string operator: any element.
    Any(Box<[Test]>),
    /// Never true (e.g. `== null`, which the missing-field rule makes false).
    Never,
}

/// What a comparison reads of one value: an event's [`Ref`] or a computed `Value`.
pub trait Scalar<'a>: Copy {
    /// The value if it is a string.
    fn str(self) -> Option<&'a str>;
    /// The value if it is a boolean.
    fn bool(self) -> Option<bool>;
    /// The value if it is a number.
    fn num(self) -> Option<Num>;
}

impl<'a> Scalar<'a> for Ref<'a> {
    #[inline]
    fn str(self) -> Option<&'a str> {
        self.as_str()
    }

    #[inline]
    fn bool(self) -> Option<bool> {
        self.as_bool()
    }

    #[inline]
    fn num(self) -> Option<Num> {
        self.as_number().as_ref().and_then(Num::from_number)
    }
}

impl<'a> Scalar<'a> for &'a Value {
    #[inline]
    fn str(self) -> Option<&'a str> {
        self.as_str()
    }

    #[inline]
    fn bool(self) -> Option<bool> {
        self.as_bool()
    }

    #[inline]
    fn num(self) -> Option<Num> {
        Num::of(self)
    }
}

impl Test {
    /// Whether one value passes; a value of the wrong type never does.
    #[inline]
    pub fn holds<'a>(&self, value: impl Scalar<'a>) -> bool {
        match self {
            Test::EqStr(s) => value.str() == Some(s),
            Test::EqNum(n) => value
                .num()
                .is_some_and(|v| v.cmp(*n) == Some(std::cmp::Ordering::Equal)),
            Test::EqBool(b) => value.bool() == Some(*b),
            Test::NeStr(s) => value.str().is_some_and(|v| v != &**s),
            Test::NeNum(n) => value
                .num()
                .is_some_and(|v| v.cmp(*n) != Some(std::cmp::Ordering::Equal)),
            Test::NeBool(b) => value.bool().is_some_and(|v| v != *b),
            Test::OrdNum(op, n) => value
                .num()
                .and_then(|v| v.cmp(*n))
                .is_some_and(|o| ordering_holds(*op, o)),
            Test::OrdStr(op, s) => value.str().is_some_and(|v| ordering_holds(*op, v.cmp(s))),
            Test::In(set) => set.contains(value),
            Test::Contains(finder) => value
                .str()
                .is_some_and(|v| finder.find(v.as_bytes()).is_some()),
            Test::StartsWith(p) => value.str().is_some_and(|v| v.starts_with(&**p)),
            Test::EndsWith(p) => value.str().is_some_and(|v| v.ends_with(&**p)),
            Test::Regex(re) => value.str().is_some_and(|v| re.is_match(v)),
            Test::Caseless(c) => value.str().is_some_and(|v| c.holds(v)),
            Test::Glob(g) => value.str().is_some_and(|v| g.is_match(v)),
            Test::Cidr(ranges) => value
                .str()
                .and_then(parse_ip)
                .is_some_and(|ip| ranges.iter().any(|r| r.contains(ip))),
            Test::Any(tests) => tests.iter().any(|t| t.holds(value)),
            Test::Never => false,
        }
    }
}

fn ordering_holds(op: CmpOp, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Lt => ordering == Less,
        CmpOp::Le => ordering != Greater,
        CmpOp::Gt => ordering == Greater,
        CmpOp::Ge => ordering != Less,
        _ => false,
    }
}

/// A script or function failure during one evaluation; the engine attaches rule and event.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// `script` or the function's name.
    pub origin: String,
    /// Whether the failure depends on the machine (a script's wall-clock deadline).
    pub kind: ScriptErrorKind,
    /// What went wrong, as the script engine or the function says it.
    pub message: String,
}

/// What one event's evaluation needs besides the conditions.
pub struct EvalCtx<'e> {
    /// The event.
    pub event: Ref<'e>,
    /// The ruleset's compiled scripts, for `script` expressions and script functions.
    pub scripts: &'e ScriptHost,
    slots: &'e Slots,
    cache: SlotCache<'e>,
    script_event: ScriptEvent<'e>,
    /// The failures of this event's evaluation so far; each made its condition false.
    pub errors: Vec<EvalError>,
}

impl<'e> EvalCtx<'e> {
    /// The rules that may match this event, per the ruleset's prefilter.
    pub fn candidates(
        &mut self,
        kind: crate::kinds::KindId,
        prefilter: &crate::prefilter::Prefilter,
        bits: &mut Vec<u64>,
    ) {
        prefilter.candidates(kind, &mut self.cache, self.slots, bits);
    }

    /// `slot_entries` is a buffer for the event's slot cache, reused from event to event.
    pub fn new(
        event: Ref<'e>,
        scripts: &'e ScriptHost,
        slots: &'e Slots,
        slot_entries: &'e mut Vec<u32>,
    ) -> Self {
        EvalCtx {
            event,
            scripts,
            slots,
            cache: SlotCache::new(event, slots, slot_entries),
            script_event: ScriptEvent::new(event),
            errors: Vec::new(),
        }
    }

    /// Whether any value of `path` satisfies `pred`.
    #[inline]
    fn any(&mut self, path: &FieldPath, mut pred: impl FnMut(Ref<'e>) -> bool) -> bool {
        path.visit_cached(&mut self.cache, self.slots, true, &mut |v| {
            if pred(v) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .is_break()
    }

    /// Whether `path` has at least one value and every value satisfies `pred`.
    fn all(&mut self, path: &FieldPath, mut pred: impl FnMut(Ref<'e>) -> bool) -> bool {
        let mut seen = false;
        let failed = path
            .visit_cached(&mut self.cache, self.slots, true, &mut |v| {
                seen = true;
                if pred(v) {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            })
            .is_break();
        seen && !failed
    }
}

/// The most combinations of multi-valued arguments a call runs for one event.
const MAX_CALL_COMBINATIONS: usize = 1024;

impl Cond {
    /// Whether the event of `ctx` satisfies the condition. A failing script or call makes its
    /// part false and is recorded in `ctx.errors`; evaluation itself never fails.
    pub fn eval(&self, ctx: &mut EvalCtx<'_>) -> bool {
        match self {
            Cond::True => true,
            Cond::False => false,
            Cond::And(conds) => conds.iter().all(|c| c.eval(ctx)),
            Cond::Or(conds) => conds.iter().any(|c| c.eval(ctx)),
            Cond::Not(c) => !c.eval(ctx),
            Cond::Exists(path) => ctx.any(path, |_| true),
            Cond::Test {
                left: Source::Path(path),
                all: false,
                test,
            } => ctx.any(path, |v| test.holds(v)),
            Cond::Test {
                left: Source::Path(path),
                all: true,
                test,
            } => ctx.all(path, |v| test.holds(v)),
            Cond::Test { left, all, test } => {
                let values = left.values(ctx, true);
                quantify(*all, &values, |v| test.holds(v))
            }
            Cond::Dynamic {
                left,
                all,
                op,
                right,
            } => {
                let right = right.values(ctx, true);
                if right.is_empty() {
                    return false;
                }
                let left = left.values(ctx, true);
                quantify(*all, &left, |l| {
                    right.iter().any(|r| compare_dynamic(*op, l, r))
                })
            }
            Cond::Memo { id, cond } => match ctx.cache.memo(ctx.slots, *id) {
                Some(result) => result,
                None => {
                    let result = cond.eval(ctx);
                    ctx.cache.set_memo(ctx.slots, *id, result);
                    result
                }
            },
            Cond::Truthy(Source::Script(id)) => Cond::script_bool(*id, ctx),
            Cond::Truthy(source) => {
                let values = source.values(ctx, false);
                values.iter().any(|v| v.as_bool() == Some(true))
            }
        }
    }
}

fn quantify(
    all: bool,
    values: &[std::borrow::Cow<'_, Value>],
    pred: impl Fn(&Value) -> bool,
) -> bool {
    if all {
        !values.is_empty() && values.iter().all(|v| pred(v))
    } else {
        values.iter().any(|v| pred(v))
    }
}

impl Source {
    /// Every value of the operand for this event, as `Value`s: this serves calls, scripts and
    /// comparisons of two fields, while a field compared with a constant is read in place.
    pub fn values<'e>(
        &self,
        ctx: &mut EvalCtx<'e>,
        flatten_last: bool,
    ) -> Vec<std::borrow::Cow<'e, Value>> {
        use std::borrow::Cow;
        match self {
            Source::Path(path) => {
                let mut out = Vec::new();
                let _ = path.visit_cached(&mut ctx.cache, ctx.slots, flatten_last, &mut |v| {
                    out.push(Cow::Owned(v.to_value()));
                    ControlFlow::Continue(())
                });
                out
            }
            Source::Const(v) => vec![Cow::Owned(v.clone())],
            // A call that returns a list compares element by element, like a path ending at an
            // array (`split(userAgent, "/") in [...]`).
            Source::Call(call) => call
                .eval(ctx)
                .into_iter()
                .flat_map(|v| match v {
                    Value::Array(items) if flatten_last => items,
                    v => vec![v],
                })
                .filter(|v| !v.is_null())
                .map(Cow::Owned)
                .collect(),
            Source::Script(id) => match ctx.scripts.eval_value(*id, &ctx.script_event) {
                Ok(Some(Value::Array(items))) if flatten_last => {
                    items.into_iter().map(Cow::Owned).collect()
                }
                Ok(Some(Value::Null) | None) => Vec::new(),
                Ok(Some(v)) => vec![Cow::Owned(v)],
                Err(e) => {
                    ctx.errors.push(EvalError {
                        origin: "script".into(),
                        kind: e.kind,
                        message: e.message,
                    });
                    Vec::new()
                }
            },
        }
    }
}

impl Cond {
    /// A `script { ... }` standing alone must return a boolean; other values are errors.
    pub fn script_bool(id: ScriptId, ctx: &mut EvalCtx<'_>) -> bool {
        match ctx.scripts.eval_bool(id, &ctx.script_event) {
            Ok(b) => b,
            Err(e) => {
                ctx.errors.push(EvalError {
                    origin: "script".into(),
                    kind: e.kind,
                    message: e.message,
                });
                false
            }
        }
    }
}

impl CallSite {
    /// Runs the function once per combination of argument values; a missing argument makes the
    /// result missing without running the function.
    pub fn eval(&self, ctx: &mut EvalCtx<'_>) -> Vec<Value> {
        let mut arg_values = Vec::with_capacity(self.args.len());
        for (arg, flatten) in self.args.iter().zip(self.flatten.iter()) {
            let values = arg.values(ctx, *flatten);
            if values.is_empty() {
                return Vec::new();
            }
            arg_values.push(values);
        }
        let mut results = Vec::new();
        let mut index = vec![0usize; arg_values.len()];
        for _ in 0..MAX_CALL_COMBINATIONS {
            let args: Vec<&Value> = index
                .iter()
                .zip(&arg_values)
                .map(|(&i, vs)| &*vs[i])
                .collect();
            let outcome = match &self.callee {
                Callee::Stdlib(f) => f.call(&args).map_err(|e| (ScriptErrorKind::Error, e.0)),
                Callee::Script => ctx
                    .scripts
                    .call_fn(&self.name, &args)
                    .map_err(|e| (e.kind, e.message)),
            };
            match outcome {
                Ok(Some(Value::Null) | None) => {}
                Ok(Some(v)) => results.push(v),
                Err((kind, message)) => {
                    // A failed call makes its rule false for this event: running the remaining
                    // combinations cannot change that, only cost time.
                    ctx.errors.push(EvalError {
                        origin: self.name.to_string(),
                        kind,
                        message,
                    });
                    return results;
                }
            }
            // Odometer over the argument values.
            let mut pos = index.len();
            loop {
                if pos == 0 {
                    return results;
                }
                pos -= 1;
                index[pos] += 1;
                if index[pos] < arg_values[pos].len() {
                    break;
                }
                index[pos] = 0;
            }
        }
        // Reported rather than silently cut short: the error makes the rule false.
        ctx.errors.push(EvalError {
            origin: self.name.to_string(),
            kind: ScriptErrorKind::Error,
            message: format!("more than {MAX_CALL_COMBINATIONS} combinations of argument values; the call was cut short"),
        });
        results
    }
}

/// A comparison whose two sides are both known only per event.
pub fn compare_dynamic(op: CmpOp, left: &Value, right: &Value) -> bool {
    use std::cmp::Ordering::Equal;
    match op {
        CmpOp::Eq => match (left, right) {
            (Value::Number(_), Value::Number(_)) => {
                Num::of(left)
                    .zip(Num::of(right))
                    .and_then(|(a, b)| a.cmp(b))
                    == Some(Equal)
            }
            (Value::Null, _) | (_, Value::Null) => false,
            _ => left == right,
        },
        CmpOp::Ne => match (left, right) {
            (Value::Number(_), Value::Number(_)) => Num::of(left)
                .zip(Num::of(right))
                .and_then(|(a, b)| a.cmp(b))
                .is_some_and(|o| o != Equal),
            (Value::String(a), Value::String(b)) => a != b,
            (Value::Bool(a), Value::Bool(b)) => a != b,
            _ => false,
        },
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => match (left, right) {
            (Value::String(a), Value::String(b)) => ordering_holds(op, a.as_str().cmp(b.as_str())),
            _ => Num::of(left)
                .zip(Num::of(right))
                .and_then(|(a, b)| a.cmp(b))
                .is_some_and(|o| ordering_holds(op, o)),
        },
        CmpOp::In | CmpOp::Intersects => match right {
            Value::Array(items) => items
                .iter()
                .any(|item| compare_dynamic(CmpOp::Eq, left, item)),
            _ => compare_dynamic(CmpOp::Eq, left, right),
        },
        _ => {
            let (Some(l), Some(r)) = (left.as_str(), right.as_str()) else {
                return false;
            };
            match op {
                CmpOp::Contains => l.contains(r),
                CmpOp::IContains => l.to_lowercase().contains(&r.to_lowercase()),
                CmpOp::StartsWith => l.starts_with(r),
                CmpOp::IStartsWith => l.to_lowercase().starts_with(&r.to_lowercase()),
                CmpOp::EndsWith => l.ends_with(r),
                CmpOp::IEndsWith => l.to_lowercase().ends_with(&r.to_lowercase()),
                CmpOp::Matches => {
                    k8scop_stdlib::re::compile_untrusted(r).is_ok_and(|re| re.is_match(l))
                }
                CmpOp::Glob => Glob::new(r).is_ok_and(|g| g.is_match(l)),
                CmpOp::Cidr => match (parse_ip(l), Cidr::parse(r)) {
                    (Some(ip), Ok(range)) => range.contains(ip),
                    _ => false,
                },
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::ValueSet;

    fn set(values: &[Value]) -> ValueSet {
        let mut set = ValueSet::default();
        values.iter().for_each(|v| set.insert(v));
        set
    }

    /// Small sets (searched as a list), large ones (hashed) and long strings (which share one
    /// length bit) all answer as a hash set would.
    #[test]
    fn membership_is_exact_for_every_size_and_length() {
        let long = "x".repeat(70);
        let longer = "x".repeat(71);
        for size in [0, 1, 2, 8, 9, 40] {
            let mut members: Vec<Value> = (0..size).map(|i| json!(format!("user-{i}"))).collect();
            members.push(json!(long));
            members.push(json!(3));
            members.push(json!(true));
            // A duplicate is one member.
            if size > 0 {
                members.push(json!("user-0"));
            }
            let set = set(&members);
            for i in 0..size {
                let member = json!(format!("user-{i}"));
                assert!(set.contains(&member), "{size}: user-{i}");
            }
            for absent in [
                json!(format!("user-{size}")),
                json!("user-"),
                json!(""),
                json!(longer),
            ] {
                assert!(!set.contains(&absent), "{size}: {absent}");
            }
            assert!(set.contains(&json!(long)));
            assert!(set.contains(&json!(3.0)));
            assert!(!set.contains(&json!("3")));
            assert!(set.contains(&json!(true)));
            assert!(!set.contains(&json!(false)));
            assert_eq!(set.len(), size + 3);
        }
    }
}
