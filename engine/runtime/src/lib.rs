//! The k8scop runtime: everything around the pure engine that touches tokio, files, the network
//! or the clock.
//!
//! - [`sources`]: the [`Source`](sources::Source) trait and its implementations (files and
//!   stdin, Elasticsearch); each sends [`Batch`](sources::Batch)es of raw text, each with the
//!   position it reaches.
//! - [`pipeline`]: source -> ordered parallel decode -> the engine (one task owns all state) ->
//!   sinks; [`checkpoint`] commits a source position once every sink acknowledged the alerts of
//!   the events before it.
//! - [`sinks`]: stdout, files, webhooks, Elasticsearch.
//! - [`server`]: the HTTP/1.1 server (hyper, rustls) of the audit webhook source and of
//!   [`metrics`], the Prometheus metrics and health endpoints.
//! - [`retry`]: the exponential backoff with jitter every network client uses.
//! - [`reload`] watches the rules and swaps in a new ruleset only when it compiles;
//!   [`shutdown`] is the graceful-shutdown signal every task listens to.
//!
//! Signals and the process's exit code belong to the CLI, not here.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod elastic;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod retry;
mod runner;
pub mod server;
pub mod shutdown;
pub mod sinks;
pub mod sources;
mod workers;
