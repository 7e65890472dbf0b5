//! Alert sinks: where alerts go (stdout, a file, a webhook, e-mail, Elasticsearch).
//!
//! Every sink implements [`Sink`]. The pipeline runs each sink in its own task behind a bounded
//! channel, so a slow sink slows the engine down rather than losing alerts. Updates of the same
//! alert within one batch are already merged: a sink sees the alert's latest state, with
//! [`AlertKind::New`] if the alert was opened since the previous batch. The engine sends a batch
//! 100 ms after the first update it holds (sooner when 1,024 alerts are held).

use std::future::Future;
use std::pin::Pin;

use k8scop_engine::alert::AlertUpdate;

pub mod discover;
pub mod elasticsearch;
pub mod email;
pub mod file;
pub mod stdout;
pub mod webhook;

/// A boxed future, so that sinks can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a sink failed, reported under the sink's name:
/// `sink file /var/log/k8scop/alerts.jsonl: cannot write: No space left on device (os error 28)`.
///
/// The pipeline reports it and counts [`undelivered`](SinkError::undelivered); what happens to
/// the alerts is the sink's contract (a webhook retries with backoff, then reports the alerts it
/// could not deliver).
#[derive(Debug, thiserror::Error)]
#[error("sink {sink}: {failure}")]
pub struct SinkError {
    /// The failing sink's [`Sink::name`], such as `webhook https://hooks.example.com`.
    pub sink: String,
    /// What went wrong.
    #[source]
    pub failure: SinkFailure,
    /// Alerts that were not delivered, counted so that the run's summary shows them.
    pub undelivered: u64,
}

impl SinkError {
    /// A failure of the sink named `sink` that lost `undelivered` alerts.
    pub fn new(sink: impl Into<String>, failure: SinkFailure, undelivered: usize) -> SinkError {
        SinkError {
            sink: sink.into(),
            failure,
            undelivered: undelivered as u64,
        }
    }
}

/// What went wrong in a sink. The kind tells a caller what it can do: fix the settings, free
/// the disk, wait for the server.
#[derive(Debug, thiserror::Error)]
pub enum SinkFailure {
    /// The sink's settings cannot be used (an invalid webhook URL or header); found when the
    /// sink is built, before anything is sent.
    #[error("{0}")]
    Settings(String),
    /// Opening, writing or syncing the destination failed (a missing directory, a full disk).
    #[error("{action}: {error}")]
    Io {
        /// What the sink was doing: `cannot open for appending`, `cannot write`.
        action: &'static str,
        /// The operating system's error.
        #[source]
        error: std::io::Error,
    },
    /// The destination is gone for good (stdout's reader exited): later alerts cannot arrive.
    #[error("{0}")]
    Closed(&'static str),
    /// The webhook's server refused the alerts or did not answer, after the retries.
    #[error("{}", delivery_message(*attempts, *final_answer, reason, *rest_not_sent))]
    Delivery {
        /// Attempts made for the request that failed.
        attempts: u32,
        /// The server's answer was final (a 4xx other than 408 and 429): it was not retried.
        final_answer: bool,
        /// The last failure: the status and the start of the answer, or the connection error.
        reason: String,
        /// Later requests of the same batch were not tried, the endpoint being down.
        rest_not_sent: bool,
    },
    /// Elasticsearch did not take the alerts, or the index template (after the retries).
    #[error("{action}: {error}")]
    Elasticsearch {
        /// What the sink was doing: `cannot write alerts`, `cannot install the index template`.
        action: &'static str,
        /// The server's or the connection's error (boxed: it is large, and failures are rare).
        #[source]
        error: Box<crate::elastic::EsError>,
    },
    /// Elasticsearch kept answering 429 or 5xx for some documents until the retries ran out.
    #[error(
        "the server kept refusing {documents} alert documents (busy): gave up after {attempts} attempts"
    )]
    Busy {
        /// Documents still refused.
        documents: usize,
        /// Attempts made.
        attempts: u32,
    },
    /// Elasticsearch rejected documents for good and the dead-letter file meant to keep them
    /// cannot be written either.
    #[error(
        "the server rejected {documents} alert documents ({reason}) and the dead-letter file `{}` cannot be written: {error}",
        path.display()
    )]
    DeadLetter {
        /// Documents rejected.
        documents: usize,
        /// The server's reason for the first of them, `type: reason`.
        reason: String,
        /// The dead-letter file.
        path: std::path::PathBuf,
        /// Why it cannot be written.
        #[source]
        error: std::io::Error,
    },
    /// The sink's task or one of its threads stopped (a panic): a bug, reported rather than
    /// hidden.
    #[error("{what} failed: {message}")]
    Panicked {
        /// `the sink's task`, `the write thread`.
        what: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The sink's task is gone, so the batch could not even be handed to it.
    #[error("the sink stopped; its alerts are not delivered")]
    Stopped,
}

impl SinkFailure {
    /// A task or thread of the sink, `what`, that ended with a panic.
    pub fn panicked(what: &'static str, error: &tokio::task::JoinError) -> SinkFailure {
        SinkFailure::Panicked {
            what,
            message: error.to_string(),
        }
    }
}

/// `gave up after 4 attempts: the server answered 500 ...; the rest of the batch was not sent`.
fn delivery_message(
    attempts: u32,
    final_answer: bool,
    reason: &str,
    rest_not_sent: bool,
) -> String {
    let mut message = if final_answer {
        format!("{reason} (not retried)")
    } else if attempts > 1 {
        format!("gave up after {attempts} attempts: {reason}")
    } else {
        reason.to_owned()
    };
    if rest_not_sent {
        message.push_str("; the rest of the batch was not sent");
    }
    message
}

/// A destination for alerts.
pub trait Sink: Send {
    /// The sink's name in messages, which read `sink <name>: ...`: `stdout`,
    /// `file /var/log/k8scop/alerts.jsonl`, `webhook https://hooks.example.com`,
    /// `elasticsearch (alerts index k8scop-alerts)`. It never shows a secret.
    fn name(&self) -> String;

    /// Writes a batch of alert updates, in order. Returns `Ok` only once they are written (for a
    /// file, flushed; for a network sink, acknowledged by the server): the pipeline takes `Ok` as
    /// the acknowledgement that lets a checkpoint past these alerts. `Err` after retries.
    fn send<'a>(&'a mut self, updates: &'a [AlertUpdate]) -> BoxFuture<'a, Result<(), SinkError>>;

    /// For a sink that holds alerts back after `send` returned (the e-mail sink's window): when
    /// the held alerts are due. The pipeline then calls [`Sink::flush`], and acknowledges no
    /// batch while alerts are held, so a checkpoint never moves past alerts only in memory.
    /// `None` (the default) when nothing is held.
    fn held_until(&self) -> Option<tokio::time::Instant> {
        None
    }

    /// Flushes anything buffered; called at shutdown, at the end of a static run and when
    /// [`Sink::held_until`] is due.
    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>>;
}
