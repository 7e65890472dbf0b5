//! Conditions: `and`/`or`/`not` with constants folded, comparisons and their operands, function
//! calls and script expressions.

use std::sync::Arc;

use k8scop_grammar::ast::{self, CmpOp, ExprKind};
use k8scop_grammar::suggest;
use k8scop_grammar::{Code, Diagnostic};
use k8scop_stdlib::ArgShape;
use serde_json::Value;

use super::{literal_value, value_set, CompiledCond, Compiler, Def, FieldType, Scope};
use crate::eval::{CallSite, Callee, Cond, Source, Test, ValueSet};

/// A compiled operand of a comparison.
enum CompiledOperand {
    /// A value read per event: a field, a call or a script.
    Value {
        source: Source,
        /// What the schema says about it, when it is a field the schema knows.
        field: Option<FieldType>,
    },
    /// A literal.
    Const(Value, ast::Span),
    /// A list, literal or named: as a set and in order.
    List(Arc<ValueSet>, Vec<Value>, ast::Span),
    /// An operand whose error was already reported.
    Invalid,
}

impl Compiler<'_> {
    /// Compiles a condition.
    pub(super) fn condition(&mut self, scope: &Scope, expr: &ast::Expr) -> CompiledCond {
        match &expr.kind {
            ExprKind::And(..) => self.junction(scope, expr, true),
            ExprKind::Or(..) => self.junction(scope, expr, false),
            ExprKind::Not(inner) => {
                let inner = self.condition(scope, inner);
                let cond = match inner.cond {
                    Cond::True => Cond::False,
                    Cond::False => Cond::True,
                    c => Cond::Not(Box::new(c)),
                };
                CompiledCond {
                    never: matches!(cond, Cond::False),
                    cond,
                }
            }
            ExprKind::Bool(b) => CompiledCond {
                cond: if *b { Cond::True } else { Cond::False },
                never: !*b,
            },
            ExprKind::Exists(path) => {
                let field = self.check_path(scope, path);
                CompiledCond {
                    cond: Cond::Exists(self.field(path)),
                    never: field.is_some_and(|f| f.absent),
                }
            }
            ExprKind::Name(ident) => self.name_condition(scope, ident),
            ExprKind::BarePath(path) => {
                let d = Diagnostic::new(Code::BarePath, format!("field path `{path}` is not a condition"))
                    .with_label(&scope.file, path.span, "a field path needs a comparison")
                    .with_help(format!("write `exists {path}` to test that it is present, or `{path} == true` for a boolean field"));
                self.report(d);
                CompiledCond::invalid()
            }
            ExprKind::Call(call) => match self.call(scope, call) {
                Some(site) => CompiledCond::of(Cond::Truthy(Source::Call(Box::new(site)))),
                None => CompiledCond::invalid(),
            },
            ExprKind::Script(script) => match self.scripts.compile_expr(&scope.file, script) {
                Ok(id) => CompiledCond::of(Cond::Truthy(Source::Script(id))),
                Err(d) => {
                    self.report(d);
                    CompiledCond::invalid()
                }
            },
            ExprKind::Compare(cmp) => self.comparison(scope, cmp),
        }
    }

    /// A chain of `and` (or of `or`), flattened, with constants folded: a `false` operand makes
    /// an `and` false (a `true` one makes an `or` true), and the neutral constant drops out.
    fn junction(&mut self, scope: &Scope, expr: &ast::Expr, and: bool) -> CompiledCond {
        let (absorbing, neutral) = if and { (false, true) } else { (true, false) };
        let constant = |b: bool| if b { Cond::True } else { Cond::False };
        let is = |c: &Cond, b: bool| matches!((c, b), (Cond::True, true) | (Cond::False, false));
        let mut parts = Vec::new();
        flatten(expr, and, &mut parts);
        let compiled: Vec<CompiledCond> = parts
            .into_iter()
            .map(|e| self.condition(scope, e))
            .collect();
        // An `and` can never be true if one operand can't; an `or`, if none can.
        let never = if and {
            compiled.iter().any(|c| c.never)
        } else {
            compiled.iter().all(|c| c.never)
        };
        if compiled.iter().any(|c| is(&c.cond, absorbing)) {
            return CompiledCond {
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
        CompiledCond { cond, never }
    }

    fn operand(&mut self, scope: &Scope, operand: &ast::Operand) -> CompiledOperand {
        match operand {
            ast::Operand::Literal(lit) => {
                CompiledOperand::Const(literal_value(&lit.value), lit.span)
            }
            ast::Operand::List(items) => match self.list_items(&scope.file, &items.node) {
                Some(values) => CompiledOperand::List(value_set(&values), values, items.span),
                None => CompiledOperand::Invalid,
            },
            ast::Operand::Path(path) => {
                if let Some(name) = path.as_ident() {
                    match self.defs.get(name).copied() {
                        Some(Def::List(..)) => {
                            return match self.list_values(name) {
                                Some((set, values)) => {
                                    CompiledOperand::List(set, values, path.span)
                                }
                                None => CompiledOperand::Invalid,
                            };
                        }
                        Some(other) => {
                            let what = other.what();
                            self.error(
                                Code::MisusedName,
                                &scope.file,
                                path.span,
                                format!("`{name}` is a {what}, not a value"),
                                "only fields, literals, lists and calls can be compared",
                            );
                            return CompiledOperand::Invalid;
                        }
                        None => {}
                    }
                }
                let field = self.check_path(scope, path);
                CompiledOperand::Value {
                    source: Source::Path(self.field(path)),
                    field,
                }
            }
            ast::Operand::Call(call) => match self.call(scope, call) {
                Some(site) => CompiledOperand::Value {
                    source: Source::Call(Box::new(site)),
                    field: None,
                },
                None => CompiledOperand::Invalid,
            },
            ast::Operand::Script(script) => match self.scripts.compile_expr(&scope.file, script) {
                Ok(id) => CompiledOperand::Value {
                    source: Source::Script(id),
                    field: None,
                },
                Err(d) => {
                    self.report(d);
                    CompiledOperand::Invalid
                }
            },
        }
    }

    fn comparison(&mut self, scope: &Scope, cmp: &ast::Comparison) -> CompiledCond {
        let op = cmp.op.node;
        let left = self.operand(scope, &cmp.left);
        let right = self.operand(scope, &cmp.right);
        match (left, right) {
            (CompiledOperand::Invalid, _) | (_, CompiledOperand::Invalid) => {
                CompiledCond::invalid()
            }
            (CompiledOperand::Value { source, field }, CompiledOperand::Const(value, span)) => {
                let Some(test) = self.specialise(scope, op, &value, span) else {
                    return CompiledCond::invalid();
                };
                let never = self.never_true(
                    scope,
                    &cmp.left,
                    field,
                    op,
                    std::slice::from_ref(&value),
                    span,
                );
                CompiledCond {
                    cond: Cond::Test {
                        left: source,
                        all: cmp.all,
                        test,
                    },
                    never,
                }
            }
            (
                CompiledOperand::Value { source, field },
                CompiledOperand::List(set, values, span),
            ) => {
                let test = match op {
                    CmpOp::In | CmpOp::Intersects => Test::In(set),
                    CmpOp::Eq | CmpOp::Ne => {
                        let d = Diagnostic::new(
                            Code::MisusedName,
                            format!("`{}` cannot compare with a list", op.as_str()),
                        )
                        .with_label(
                            &scope.file,
                            cmp.op.span,
                            "this compares one value with a list",
                        )
                        .with_help(format!(
                            "use `{}in` to test membership",
                            if op == CmpOp::Ne { "not ... " } else { "" }
                        ));
                        self.report(d);
                        return CompiledCond::invalid();
                    }
                    _ => {
                        let mut tests = Vec::new();
                        for v in &values {
                            match self.specialise(scope, op, v, span) {
                                Some(t) => tests.push(t),
                                None => return CompiledCond::invalid(),
                            }
                        }
                        Test::Any(tests.into())
                    }
                };
                let never = self.never_true(scope, &cmp.left, field, op, &values, span);
                CompiledCond {
                    cond: Cond::Test {
                        left: source,
                        all: cmp.all,
                        test,
                    },
                    never,
                }
            }
            (CompiledOperand::Const(value, _), CompiledOperand::Value { source, .. }) => {
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
                        match self.specialise(scope, flipped, &value, cmp.left.span()) {
                            Some(test) => CompiledCond::of(Cond::Test {
                                left: source,
                                all: false,
                                test,
                            }),
                            None => CompiledCond::invalid(),
                        }
                    }
                    _ => CompiledCond::of(Cond::Dynamic {
                        left: Source::Const(value),
                        all: cmp.all,
                        op,
                        right: source,
                    }),
                }
            }
            (
                CompiledOperand::Value { source: left, .. },
                CompiledOperand::Value { source: right, .. },
            ) => CompiledCond::of(Cond::Dynamic {
                left,
                all: cmp.all,
                op,
                right,
            }),
            (CompiledOperand::List(_, _, span), _) => {
                self.error(
                    Code::MisusedName,
                    &scope.file,
                    span,
                    "a list can only be on the right of a comparison".into(),
                    "put the field on the left: `FIELD in LIST`",
                );
                CompiledCond::invalid()
            }
            (CompiledOperand::Const(a, _), right) => {
                let b = match right {
                    CompiledOperand::Const(b, _) => b,
                    CompiledOperand::List(_, items, _) => Value::Array(items),
                    CompiledOperand::Value { .. } | CompiledOperand::Invalid => {
                        return CompiledCond::invalid()
                    }
                };
                self.error(
                    Code::NeverTrue,
                    &scope.file,
                    cmp.left.span().join(cmp.right.span()),
                    "this comparison compares two constants".into(),
                    "no field is involved",
                );
                let holds = crate::eval::compare_dynamic(op, &a, &b);
                CompiledCond {
                    cond: if holds { Cond::True } else { Cond::False },
                    never: !holds,
                }
            }
        }
    }

    /// A call of a stdlib or script function, with its arguments compiled; `None` after an error.
    fn call(&mut self, scope: &Scope, call: &ast::Call) -> Option<CallSite> {
        let name = &call.name.name;
        let arity = call.args.len();
        let stdlib = k8scop_stdlib::lookup(name);
        let expected = match stdlib {
            Some(f) => Some(f.params().len()),
            None => self.scripts.function_arity(name),
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
                        &scope.file,
                        call.name.span,
                        "neither a stdlib function nor defined in a `script` block",
                    );
            if let Some(s) = suggest::did_you_mean(name, candidates.iter().map(String::as_str)) {
                d = d.with_help(suggest::help(s));
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
            .with_label(&scope.file, call.span, format!("called with {arity}"));
            self.report(d);
            return None;
        }
        let mut args = Vec::with_capacity(arity);
        let mut ok = true;
        for arg in &call.args {
            match self.operand(scope, arg) {
                CompiledOperand::Value { source, .. } => args.push(source),
                CompiledOperand::Const(v, _) => args.push(Source::Const(v)),
                CompiledOperand::List(_, values, _) => {
                    args.push(Source::Const(Value::Array(values)))
                }
                CompiledOperand::Invalid => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let flatten: Box<[bool]> = match stdlib {
            Some(f) => f.params().iter().map(|p| !p.ty.contains("list")).collect(),
            None => vec![true; arity].into(),
        };
        let callee = match stdlib {
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
                        self.error(code, &scope.file, span, e.message, "in this argument");
                        return None;
                    }
                }
            }
            None => {
                self.uses.scripts = true;
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
