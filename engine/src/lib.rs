//! The k8scop engine: compiles a ruleset and evaluates events against it.
//!
//! (crate overview is completed as the modules land)

pub mod schema;
pub mod script;
pub mod state;
