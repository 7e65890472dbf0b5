//! What the event schema says about a condition: field paths it does not know
//! ([`Code::UnknownField`]), and comparisons that can never be true ([`Code::NeverTrue`]) because
//! the value has another type than the field or lies outside the field's closed set of values.
//! These are warnings: the ruleset still loads.

use std::collections::HashSet;

use k8scop_grammar::ast::{self, CmpOp, ExprKind, ListItem, LiteralValue, SegmentKind, Span};
use k8scop_grammar::suggest;
use k8scop_grammar::{Code, Diagnostic};
use serde_json::Value;

use super::{Compiler, Def, FieldType, Scope};
use crate::kinds::{KindId, KindSet};
use crate::schema::{self, Lookup, ValueType};

impl Compiler<'_> {
    /// Checks a field path against the schema of the scope's event source; warns when the schema
    /// does not know it. Returns what the schema says about the field, when it knows it.
    pub(super) fn check_path(&mut self, scope: &Scope, path: &ast::Path) -> Option<FieldType> {
        let resources: Option<Vec<&str>> = scope
            .resources
            .as_ref()
            .map(|r| r.iter().map(String::as_str).collect());
        // The suggestion is looked for below, only for a warning that is shown.
        let text = path.to_string();
        let known = self
            .lookups
            .get(&(scope.source, scope.resources.clone()))
            .and_then(|paths| paths.get(&text))
            .cloned();
        let lookup = known.unwrap_or_else(|| {
            let lookup = schema::lookup_unsuggested(scope.source, path, resources.as_deref());
            self.lookups
                .entry((scope.source, scope.resources.clone()))
                .or_default()
                .insert(text, lookup.clone());
            lookup
        });
        match lookup {
            Lookup::Field { ty, values, .. } => Some(FieldType {
                ty,
                values,
                absent: false,
            }),
            Lookup::FreeForm => None,
            Lookup::Unknown { segment, .. } => {
                let start = path
                    .segments
                    .get(segment)
                    .map_or(path.span.start, |s| s.span.start);
                let span = Span::new(start.max(path.span.start), path.span.end);
                // Macros expand in every rule that uses them, and a used macro is checked once
                // more for its errors only: most unknown paths give a warning already shown.
                let suggestion = if self.shows_warning(Code::UnknownField, &scope.file, span) {
                    match schema::lookup(scope.source, path, resources.as_deref()) {
                        Lookup::Unknown { suggestion, .. } => suggestion,
                        _ => None,
                    }
                } else {
                    None
                };
                // Under `requestObject`, the rule's resources decide which object it is.
                let in_object = matches!(
                    path.segments.first().map(|s| &s.kind),
                    Some(SegmentKind::Field(f)) if f == "requestObject" || f == "responseObject"
                );
                let label = match &scope.resources {
                    Some(resources) if in_object && segment > 0 => format!(
                        "not a field of {} (the rule's `objectRef.resource`)",
                        resources
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                    _ => format!("not a field of {}", source_phrase(scope.source)),
                };
                let mut d = Diagnostic::new(Code::UnknownField, format!("unknown field `{path}`"))
                    .with_label(&scope.file, span, label);
                // A misspelt list or macro name reads as a one-segment field path.
                let close_name = path
                    .as_ident()
                    .and_then(|name| self.closest_name(name, &["list", "macro"]));
                let misspelt_name = close_name.is_some();
                if let Some(name) = close_name {
                    let what = self.defs.get(&name).map_or("name", Def::what);
                    d = d.with_help(suggest::help_naming(what, &name));
                } else if let Some(s) = suggestion {
                    d = d.with_help(suggest::help(&s));
                }
                self.report(d);
                // An audit event is what the API server writes: outside the request and response
                // objects (whatever the client sent), a path the schema lacks is never there.
                let absent =
                    scope.source.single() == Some(KindId::AUDIT) && !in_object && !misspelt_name;
                absent.then_some(FieldType {
                    ty: ValueType::Any,
                    values: None,
                    absent: true,
                })
            }
        }
    }

    /// Warns when the schema shows that `left op values` can never be true; returns whether it
    /// can't. `values` are the constant (one) or the list's items; `span` is where they are.
    pub(super) fn never_true(
        &mut self,
        scope: &Scope,
        left: &ast::Operand,
        field: Option<FieldType>,
        op: CmpOp,
        values: &[Value],
        span: Span,
    ) -> bool {
        let Some(FieldType {
            ty,
            values: allowed,
            absent,
        }) = field
        else {
            return false;
        };
        // The unknown field is reported already; the comparison is never true.
        if absent {
            return true;
        }
        let ast::Operand::Path(path) = left else {
            return false;
        };
        if let Some(d) = type_mismatch(scope, path, ty, op, values, span) {
            self.report(d);
            return true;
        }
        let Some(allowed) = allowed else {
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
                    &scope.file,
                    span,
                    format!(
                        "`{path}` is one of {}",
                        allowed
                            .iter()
                            .map(|a| if a.is_empty() {
                                "`\"\"`".to_owned()
                            } else {
                                format!("`{a}`")
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            if let Some(suggestion) = suggest::did_you_mean(s, allowed.iter().copied()) {
                d = d.with_help(suggest::help(suggestion));
            } else if *s == "exec" || *s == "attach" || *s == "portforward" {
                d = d.with_help(format!(
                    "`{s}` is a subresource: `objectRef.subresource == \"{s}\"`"
                ));
            }
            self.report(d);
        }
        never
    }

    /// The `objectRef.resource` values a condition is restricted to by its top-level conjunction,
    /// for the schema of `requestObject` and `responseObject`.
    pub(super) fn resource_hint(&mut self, expr: &ast::Expr) -> Option<Vec<String>> {
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

/// The warning for a comparison whose every value has another type than the field, when it has.
fn type_mismatch(
    scope: &Scope,
    path: &ast::Path,
    ty: ValueType,
    op: CmpOp,
    values: &[Value],
    span: Span,
) -> Option<Diagnostic> {
    let is_text = matches!(ty, ValueType::String | ValueType::Timestamp);
    let is_number = matches!(ty, ValueType::Integer | ValueType::Number);
    let is_bool = ty == ValueType::Bool;
    let mismatch = |v: &Value| match v {
        Value::String(_) => is_number || is_bool,
        Value::Number(_) => is_text || is_bool,
        Value::Bool(_) => is_text || is_number,
        _ => false,
    };
    let string_op = matches!(
        op,
        CmpOp::Contains
            | CmpOp::IContains
            | CmpOp::StartsWith
            | CmpOp::IStartsWith
            | CmpOp::EndsWith
            | CmpOp::IEndsWith
            | CmpOp::Matches
            | CmpOp::Glob
            | CmpOp::Cidr
    );
    if string_op && (is_number || is_bool) {
        let field_type = type_phrase(ty);
        let help = if is_bool {
            format!("compare with `true` or `false`: `{path} == true`")
        } else {
            format!(
                "compare with a number: `{path} == 200`, `{path} >= 400`, `{path} in [401, 403]`"
            )
        };
        return Some(
            Diagnostic::new(
                Code::NeverTrue,
                format!(
                    "`{path}` is {field_type}; `{}` reads strings, so it is never true",
                    op.as_str()
                ),
            )
            .with_label(&scope.file, span, format!("{field_type} is never a string"))
            .with_help(help),
        );
    }
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
    if !typed_op || values.is_empty() || !values.iter().all(mismatch) {
        return None;
    }
    let op_text = op.as_str();
    let field_type = type_phrase(ty);
    let value_types = kinds(values)
        .iter()
        .map(|k| k.singular)
        .collect::<Vec<_>>()
        .join(" or ");
    let with = match values {
        [one] => describe(one),
        _ => format!(
            "a list of {}",
            kinds(values)
                .iter()
                .map(|k| k.plural)
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    };
    let label = match op {
        CmpOp::Eq | CmpOp::In | CmpOp::Intersects => {
            format!("{field_type} never equals {value_types}")
        }
        CmpOp::Ne => format!("{field_type} and {value_types} never compare, not even with `!=`"),
        _ => format!("ordering {field_type} against {value_types} is never true"),
    };
    // The values retyped as the field's type, when each one converts.
    let retyped: Option<Vec<String>> = values
        .iter()
        .map(|v| match v {
            Value::String(s) if is_bool && (s == "true" || s == "false") => Some(s.clone()),
            Value::String(s) if is_number && s.trim().parse::<f64>().is_ok() => {
                Some(s.trim().to_owned())
            }
            Value::Number(n) if ty == ValueType::String => Some(format!("\"{n}\"")),
            Value::Bool(b) if ty == ValueType::String => Some(format!("\"{b}\"")),
            _ => None,
        })
        .collect();
    let help = match retyped {
        Some(retyped) => {
            let operand = match retyped.as_slice() {
                [one] if values.len() == 1 => one.clone(),
                _ => format!("[{}]", retyped.join(", ")),
            };
            format!("write `{op_text} {operand}`")
        }
        None if is_bool => "compare with `true` or `false`".to_owned(),
        None => format!("compare with {field_type}"),
    };
    Some(
        Diagnostic::new(
            Code::NeverTrue,
            format!("`{path}` is {field_type}; `{op_text}` with {with} is never true"),
        )
        .with_label(&scope.file, span, label)
        .with_help(help),
    )
}

/// How a kind of literal value is named.
#[derive(PartialEq)]
struct Kind {
    singular: &'static str,
    plural: &'static str,
}

/// The kinds of the values, in the order they first appear.
fn kinds(values: &[Value]) -> Vec<Kind> {
    let mut kinds = Vec::new();
    for value in values {
        let kind = match value {
            Value::String(_) => Kind {
                singular: "a string",
                plural: "strings",
            },
            Value::Number(_) => Kind {
                singular: "a number",
                plural: "numbers",
            },
            Value::Bool(_) => Kind {
                singular: "a boolean",
                plural: "booleans",
            },
            Value::Null => Kind {
                singular: "`null`",
                plural: "`null`s",
            },
            Value::Array(_) => Kind {
                singular: "a list",
                plural: "lists",
            },
            Value::Object(_) => Kind {
                singular: "an object",
                plural: "objects",
            },
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds
}

/// A constant as diagnostics quote it: the string `"x"`, the number `1`.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string `\"{s}\"`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::Bool(b) => format!("`{b}`"),
        Value::Null => "`null`".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A field's type as diagnostics name it.
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

/// An event source as diagnostics name it.
fn source_phrase(source: KindSet) -> &'static str {
    match source.single() {
        Some(kind) => kind.kind().phrase(),
        None => "any known event",
    }
}
