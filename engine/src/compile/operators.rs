//! Operator specialisation: `OPERATOR constant` becomes a native [`Test`], with the constant
//! prepared once at load (a string, a number, a compiled regex, glob or CIDR range). A constant
//! the operator cannot take is an error at the constant.

use std::sync::Arc;

use k8scop_grammar::ast::{CmpOp, Span};
use k8scop_grammar::{Code, Diagnostic};
use k8scop_stdlib::glob::Glob;
use k8scop_stdlib::net::Cidr;
use memchr::memmem;
use regex::Regex;
use serde_json::Value;

use super::lints::describe;
use super::{Compiler, Scope};
use crate::caseless::Caseless;
use crate::eval::{Num, Test, ValueSet};
use crate::memo_regex::MemoRegex;

/// A regex test, native when the pattern is only case-insensitive literal text.
fn regex_test(regex: Regex) -> Test {
    match Caseless::new(regex) {
        Ok(caseless) => Test::Caseless(Box::new(caseless)),
        Err(regex) => Test::Regex(Box::new(MemoRegex::new(regex))),
    }
}

impl Compiler<'_> {
    /// Specialises `op value` into a native test; `None` after an error.
    pub(super) fn specialise(
        &mut self,
        scope: &Scope,
        op: CmpOp,
        value: &Value,
        span: Span,
    ) -> Option<Test> {
        let test = match op {
            CmpOp::Eq | CmpOp::Ne => self.equality(scope, op == CmpOp::Eq, value, span)?,
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => match value {
                Value::Number(_) => Test::OrdNum(op, Num::of(value)?),
                Value::String(s) => Test::OrdStr(op, s.as_str().into()),
                _ => {
                    self.error(
                        Code::InvalidValue,
                        &scope.file,
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
            CmpOp::Contains => {
                let s = self.string_operand(scope, op, value, span, "a string")?;
                Test::Contains(Box::new(memmem::Finder::new(s.as_bytes()).into_owned()))
            }
            CmpOp::StartsWith => Test::StartsWith(
                self.string_operand(scope, op, value, span, "a string")?
                    .into(),
            ),
            CmpOp::EndsWith => Test::EndsWith(
                self.string_operand(scope, op, value, span, "a string")?
                    .into(),
            ),
            CmpOp::IContains | CmpOp::IStartsWith | CmpOp::IEndsWith => {
                let s = regex::escape(self.string_operand(scope, op, value, span, "a string")?);
                let pattern = match op {
                    CmpOp::IContains => format!("(?i){s}"),
                    CmpOp::IStartsWith => format!("(?i)^{s}"),
                    _ => format!("(?i){s}$"),
                };
                regex_test(Regex::new(&pattern).ok()?)
            }
            CmpOp::Matches => {
                let s = self.string_operand(scope, op, value, span, "a regular expression")?;
                match k8scop_stdlib::re::compile(s) {
                    Ok(re) => regex_test(re),
                    Err(e) => {
                        let d = Diagnostic::new(Code::InvalidRegex, format!("invalid regular expression `{s}`"))
                            .with_label(&scope.file, span, e)
                            .with_help("the syntax is that of Rust's `regex` crate; escape literal metacharacters with `\\`");
                        self.report(d);
                        return None;
                    }
                }
            }
            CmpOp::Glob => {
                let s = self.string_operand(scope, op, value, span, "a glob pattern")?;
                match Glob::new(s) {
                    Ok(g) => Test::Glob(Box::new(g)),
                    Err(e) => {
                        let d = Diagnostic::new(
                            Code::InvalidGlob,
                            format!("invalid glob pattern `{s}`"),
                        )
                        .with_label(&scope.file, span, e)
                        .with_help(
                            "a glob has `*` (any text), `?` (one character) and `[...]` classes",
                        );
                        self.report(d);
                        return None;
                    }
                }
            }
            CmpOp::Cidr => {
                let s = self.string_operand(scope, op, value, span, "a CIDR range")?;
                match Cidr::parse(s) {
                    Ok(c) => Test::Cidr(vec![c].into()),
                    Err(e) => {
                        let d = Diagnostic::new(
                            Code::InvalidCidr,
                            format!("invalid CIDR range `{s}`"),
                        )
                        .with_label(&scope.file, span, e)
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

    /// `==` (`eq`) or `!=` with a constant.
    fn equality(&mut self, scope: &Scope, eq: bool, value: &Value, span: Span) -> Option<Test> {
        Some(match value {
            Value::String(s) if eq => Test::EqStr(s.as_str().into()),
            Value::String(s) => Test::NeStr(s.as_str().into()),
            Value::Number(_) if eq => Test::EqNum(Num::of(value)?),
            Value::Number(_) => Test::NeNum(Num::of(value)?),
            Value::Bool(b) if eq => Test::EqBool(*b),
            Value::Bool(b) => Test::NeBool(*b),
            Value::Null => {
                let op = if eq { "==" } else { "!=" };
                let d = Diagnostic::new(
                    Code::NeverTrue,
                    format!("a comparison `{op} null` is never true"),
                )
                .with_label(
                    &scope.file,
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
        })
    }

    /// The string a string operator needs; an error when the constant is something else.
    fn string_operand<'v>(
        &mut self,
        scope: &Scope,
        op: CmpOp,
        value: &'v Value,
        span: Span,
        expected: &str,
    ) -> Option<&'v str> {
        match value {
            Value::String(s) => Some(s),
            _ => {
                self.error(
                    Code::InvalidValue,
                    &scope.file,
                    span,
                    format!("`{}` needs a string, not {}", op.as_str(), describe(value)),
                    &format!("expected {expected}"),
                );
                None
            }
        }
    }
}
