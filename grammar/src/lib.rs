//! The front end of the k8scop rule language.
//!
//! [`parse`] turns the text of one `.rules` file into an [`ast::File`] whose every node carries its
//! [`ast::Span`], or into [`Diagnostic`]s that point at the offending text. The grammar lives in
//! `rules.pest`; `parser.rs` has one function per grammar rule. Name resolution, type checks and
//! everything else that needs the whole ruleset happen in `k8scop-engine`.

pub mod ast;
pub mod diagnostic;
mod parser;
pub mod suggest;

pub use diagnostic::{Code, Diagnostic, Label, Level, SourceFile};
pub use parser::parse;
