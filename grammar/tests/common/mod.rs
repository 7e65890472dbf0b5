//! Helpers shared by the grammar tests: parsing with a panic on error, a compact printer for
//! conditions, and diagnostics rendered the way the CLI shows them, without colour.

#![allow(dead_code)] // each test binary uses its own subset

use std::sync::Arc;

use k8scop_grammar::ast::{
    Expr, ExprKind, File, Item, ListItem, Literal, LiteralValue, Operand, RuleDef, SequenceDef,
    Span, TestDef,
};
use k8scop_grammar::{parse, Diagnostic, SourceFile};

/// The example of LANGUAGE.md ("Top-level items"), copied verbatim.
pub const LANGUAGE_EXAMPLE: &str = include_str!("../fixtures/language_example.rules");

pub fn source(text: &str) -> Arc<SourceFile> {
    SourceFile::new("test.rules", text)
}

/// Parses `text`, failing the test with the rendered diagnostics when it does not parse.
pub fn parse_ok(text: &str) -> File {
    match parse(&source(text)) {
        Ok(file) => file,
        Err(diagnostics) => panic!("{}", render_all(&diagnostics)),
    }
}

/// Parses `text`, failing the test when it parses.
pub fn parse_err(text: &str) -> Vec<Diagnostic> {
    match parse(&source(text)) {
        Ok(file) => panic!("expected errors, parsed: {:#?}", file.items),
        Err(diagnostics) => diagnostics,
    }
}

/// All diagnostics, as the CLI shows them, without colour and at width 100.
pub fn render_all(diagnostics: &[Diagnostic]) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for diagnostic in diagnostics {
        handler
            .render_report(&mut out, diagnostic)
            .expect("rendering into a String cannot fail");
    }
    out
}

/// The text a span covers.
pub fn text_of(text: &str, span: Span) -> &str {
    &text[span.start..span.end]
}

pub fn rule<'a>(file: &'a File, name: &str) -> &'a RuleDef {
    file.items
        .iter()
        .find_map(|item| match item {
            Item::Rule(rule) if rule.name.name == name => Some(rule),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no rule `{name}`"))
}

pub fn sequence<'a>(file: &'a File, name: &str) -> &'a SequenceDef {
    file.items
        .iter()
        .find_map(|item| match item {
            Item::Sequence(seq) if seq.name.name == name => Some(seq),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sequence `{name}`"))
}

pub fn tests(file: &File) -> Vec<&TestDef> {
    file.items
        .iter()
        .filter_map(|item| match item {
            Item::Test(test) => Some(test),
            _ => None,
        })
        .collect()
}

/// The condition of the only rule of `rule r { when CONDITION }`.
pub fn condition(text: &str) -> Expr {
    let file = parse_ok(&format!("rule r {{ when {text} }}"));
    match file.items.as_slice() {
        [Item::Rule(rule)] => rule.when.clone().expect("the rule has a `when`"),
        items => panic!("expected one rule, got {items:#?}"),
    }
}

/// `condition` printed as an s-expression: `(and (not (== verb "get")) x)`.
pub fn sexp(text: &str) -> String {
    show_expr(&condition(text))
}

pub fn show_expr(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::And(a, b) => format!("(and {} {})", show_expr(a), show_expr(b)),
        ExprKind::Or(a, b) => format!("(or {} {})", show_expr(a), show_expr(b)),
        ExprKind::Not(a) => format!("(not {})", show_expr(a)),
        ExprKind::Compare(cmp) => format!(
            "({}{} {} {})",
            if cmp.all { "all " } else { "" },
            cmp.op.node.as_str(),
            show_operand(&cmp.left),
            show_operand(&cmp.right)
        ),
        ExprKind::Exists(path) => format!("(exists {path})"),
        ExprKind::Name(ident) => ident.name.clone(),
        ExprKind::BarePath(path) => format!("(bare {path})"),
        ExprKind::Call(call) => show_call(call),
        ExprKind::Script(script) => format!("script{{{}}}", script.body),
        ExprKind::Bool(b) => b.to_string(),
    }
}

fn show_call(call: &k8scop_grammar::ast::Call) -> String {
    let args: Vec<String> = call.args.iter().map(show_operand).collect();
    format!("{}({})", call.name.name, args.join(", "))
}

pub fn show_operand(operand: &Operand) -> String {
    match operand {
        Operand::Path(path) => path.to_string(),
        Operand::Literal(literal) => show_literal(literal),
        Operand::List(list) => {
            let items: Vec<String> = list
                .node
                .iter()
                .map(|item| match item {
                    ListItem::Literal(literal) => show_literal(literal),
                    ListItem::Name(ident) => ident.name.clone(),
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
        Operand::Call(call) => show_call(call),
        Operand::Script(script) => format!("script{{{}}}", script.body),
    }
}

pub fn show_literal(literal: &Literal) -> String {
    match &literal.value {
        LiteralValue::Str(s) => format!("{s:?}"),
        LiteralValue::Int(i) => i.to_string(),
        LiteralValue::Float(f) => format!("{f:?}f"),
        LiteralValue::Bool(b) => b.to_string(),
        LiteralValue::Null => "null".to_string(),
    }
}
