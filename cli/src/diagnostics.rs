//! Printing diagnostics: miette's graphical report on a terminal (colour only there), plain
//! text otherwise.

use std::io::IsTerminal;

use k8scop_grammar::{Diagnostic, Level};

/// Renders one diagnostic as a person reads it.
pub fn render(diagnostic: &Diagnostic, colour: bool) -> String {
    let theme = if colour {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, diagnostic).is_err() {
        out = format!(
            "{}: {}",
            diagnostic.location().unwrap_or_default(),
            diagnostic.message
        );
    }
    out
}

/// Renders an error of another kind (an import error) the same way, with its source underlined.
pub fn render_report(report: &dyn miette::Diagnostic) -> String {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, report).is_err() {
        out = format!("error: {report}");
    }
    out
}

/// Prints diagnostics to stderr and returns (errors, warnings).
pub fn print_all(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for d in diagnostics {
        eprintln!("{}", render(d, colour));
    }
    count(diagnostics)
}

pub fn count(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .count();
    (errors, diagnostics.len() - errors)
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
