//! Alert sinks: where alerts go (stdout, a file, a webhook, Elasticsearch).
//!
//! Every sink implements [`Sink`]. The pipeline runs each sink in its own task behind a bounded
//! channel, so a slow sink slows the engine down rather than losing alerts. Updates of the same
//! alert within one batch are already coalesced: a sink sees the alert's latest state, with
//! [`AlertKind::New`] if the alert was opened in that batch.

use std::future::Future;
use std::pin::Pin;

use k8scop_engine::alert::AlertUpdate;

pub mod elasticsearch;
pub mod file;
pub mod stdout;
pub mod webhook;

/// A boxed future, so that sinks can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a sink failed. The pipeline reports it; what happens to the alerts is the sink's
/// contract (a webhook retries with backoff, then reports the alerts it could not deliver).
#[derive(Debug, thiserror::Error)]
#[error("{sink}: {message}")]
pub struct SinkError {
    pub sink: String,
    pub message: String,
    /// Alerts that were not delivered, counted so that the run's summary shows them.
    pub undelivered: u64,
}

/// A destination for alerts.
pub trait Sink: Send {
    /// A short name for logs and the summary: `stdout`, `file:/var/log/alerts.json`, `webhook`.
    fn name(&self) -> String;

    /// Writes a batch of alert updates, in order. Returns `Ok` only once they are written (for a
    /// file, flushed; for a network sink, acknowledged by the server): the pipeline takes `Ok` as
    /// the acknowledgement that lets a checkpoint past these alerts. `Err` after retries.
    fn send<'a>(&'a mut self, updates: &'a [AlertUpdate]) -> BoxFuture<'a, Result<(), SinkError>>;

    /// Flushes anything buffered; called at shutdown and at the end of a static run.
    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>>;
}
