//! The k8scop standard library: functions callable from rule conditions and from Rhai scripts,
//! under the same name in both.
//!
//! Each function lives in its own file under `functions/` and implements [`Function`], which
//! carries its signature, its documentation and its examples. The examples run as tests
//! (`tests::examples_hold`) and `docs/functions/` is generated from them ([`docs::markdown_pages`]).
//!
//! Values are [`serde_json::Value`]s. A function is compiled once per call site with the arguments
//! that are constants there ([`Function::compile`]), so that a regular expression, glob or CIDR
//! written as a literal is checked when the ruleset loads and is never recompiled per event.
//!
//! The matchers behind `regex_match`, `glob_match` and `cidr_match` are public ([`re`], [`glob`],
//! [`net`]) so that the engine's `matches`, `glob` and `cidr` operators share their semantics.

#![warn(missing_docs)]

use serde_json::Value;

mod args;
pub mod docs;
mod functions;
pub mod glob;
mod image;
mod json_path;
pub mod net;
pub mod re;
mod time;
mod user;

#[cfg(test)]
mod tests;

/// What a function's parameter accepts, for docs and arity checks.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// The parameter's name in the docs and in arity errors, e.g. `pattern`.
    pub name: &'static str,
    /// A short type description, e.g. `string`, `string | list`, `timestamp`.
    pub ty: &'static str,
}

/// One example: a call written as in a condition, its arguments as JSON and the JSON result.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// The call as a rule author writes it, e.g. `lower("Alice")`.
    pub call: &'static str,
    /// The arguments as a JSON array, e.g. `["Alice"]`.
    pub args: &'static str,
    /// The expected result as JSON, e.g. `"alice"`; `null` means "missing" (no value).
    pub result: &'static str,
}

/// An argument as the compiler sees it at a call site.
#[derive(Debug, Clone, Copy)]
pub enum ArgShape<'a> {
    /// A literal (or list) written in the rule: known at load time.
    Const(&'a Value),
    /// A field path, a nested call or a script: known only per event.
    Dynamic,
}

/// Why a call site is invalid at load time (an invalid regex literal, say).
#[derive(Debug, Clone, PartialEq)]
pub struct ArgError {
    /// Which argument (0-based) is at fault.
    pub index: usize,
    /// Lowercase, one line, user input in backticks.
    pub message: String,
}

/// Why a call failed on one event. The engine counts and reports it; the call's result is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError(
    /// Lowercase, one line: what was wrong with the value, e.g. `` `abc` is not a number ``.
    pub String,
);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// A function prepared for one call site.
pub trait Compiled: Send + Sync {
    /// Runs the function on one set of argument values. `Ok(None)` means the result is missing
    /// (for example `image_tag` of an image that has only a digest, or a string where a number
    /// was needed).
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError>;
}

/// What a stdlib function is, as data: each function declares one as a constant.
#[derive(Debug)]
pub struct Spec {
    /// The name a condition or a script calls it by, e.g. `image_tag`.
    pub name: &'static str,
    /// The parameters in order; a call must give exactly these.
    pub params: &'static [Param],
    /// The type of the result, e.g. `string`, `bool`, `list of strings`.
    pub returns: &'static str,
    /// Markdown: what it does, what it returns for edge cases.
    pub docs: &'static str,
    /// Calls and their results, shown in the docs and run as tests.
    pub examples: &'static [Example],
}

/// A stdlib function: its [`Spec`] and how a call site is prepared.
pub trait Function: Send + Sync {
    /// The function's name, parameters, docs and examples.
    fn spec(&self) -> &'static Spec;

    /// Prepares a call site. `args.len()` has already been checked against `params()`.
    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError>;

    /// The name it is called by ([`Spec::name`]).
    fn name(&self) -> &'static str {
        self.spec().name
    }

    /// Its parameters in order ([`Spec::params`]).
    fn params(&self) -> &'static [Param] {
        self.spec().params
    }

    /// The type of its result ([`Spec::returns`]).
    fn returns(&self) -> &'static str {
        self.spec().returns
    }

    /// Its documentation in Markdown ([`Spec::docs`]).
    fn docs(&self) -> &'static str {
        self.spec().docs
    }

    /// Its examples, which run as tests ([`Spec::examples`]).
    fn examples(&self) -> &'static [Example] {
        self.spec().examples
    }
}

/// Every stdlib function, sorted by name.
pub fn all() -> &'static [&'static dyn Function] {
    functions::ALL
}

/// The stdlib function of that name.
pub fn lookup(name: &str) -> Option<&'static dyn Function> {
    all().iter().copied().find(|f| f.name() == name)
}
