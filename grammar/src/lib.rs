//! The front end of the k8scop rule language.
//!
//! [`parse`] turns the text of one `.rules` file into an [`ast::File`] whose every node carries its
//! [`ast::Span`], or into [`Diagnostic`]s that point at the offending text: one per broken
//! definition, since the parser recovers at the next definition after a syntax error.
//! [`parse_partial`] also gives the definitions that parse, so that the compiler can report their
//! errors along with the syntax errors. The grammar lives in
//! `rules.pest`; `parser.rs` has one function per grammar rule. Name resolution, type checks and
//! everything else that needs the whole ruleset happen in `k8scop-engine`.

#![warn(missing_docs)]

pub mod ast;
pub mod diagnostic;
mod parser;
pub mod suggest;

pub use diagnostic::{Code, Diagnostic, Label, Level, SourceFile};
pub use parser::{parse, parse_partial};
