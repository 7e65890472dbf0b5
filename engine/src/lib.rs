//! The k8scop engine: compiles a ruleset and evaluates events against it.
//!
//! - [`loader`] finds and parses the `*.rules` files; [`compile`] resolves names, checks fields
//!   against the event [`schema`] and builds native matchers ([`eval::Cond`]); the result is a
//!   [`Ruleset`].
//! - [`Engine`] runs a ruleset over [`Event`]s: conditions, then thresholds, sequences and
//!   aggregation ([`state`]), producing [`AlertUpdate`]s. It is pure and deterministic in event
//!   time: no clock, no I/O.
//! - [`script`] is the Rhai sandbox for the rare custom predicate; [`decode`] turns raw text
//!   ([`chunk::Chunk`]s) into events, the one decoder every command uses; [`input`] reads events
//!   from text; [`testing`] runs the `test` blocks of a ruleset.
//!
//! The crate is pure: no tokio, no clock, no files, no network. The runtime that reads sources,
//! reloads rules and writes to sinks is the `k8scop-runtime` crate (`engine/runtime/`).

#![warn(missing_docs)]

pub mod alert;
pub mod caseless;
pub mod chunk;
pub mod compile;
pub mod decode;
pub mod doc;
pub mod engine;
pub mod eval;
pub mod event;
pub mod hash;
pub mod input;
pub mod json_text;
pub mod kinds;
pub mod loader;
pub mod memo_regex;
pub mod path;
pub mod prefilter;
pub mod ruleset;
pub mod schema;
pub mod script;
pub mod state;
pub mod template;
pub mod testing;

pub use alert::{Alert, AlertKind, AlertUpdate};
pub use compile::{compile, CompileOptions, Compiled};
pub use engine::{
    DetectionStats, DroppedState, Engine, EngineState, Output, RestoreReport, RuntimeError,
    StateError,
};
pub use event::Event;
pub use ruleset::Ruleset;
