//! The streaming runtime: sources -> decode -> engine -> sinks, on tokio.
//!
//! - Sources read raw text and send [`Chunk`](crate::sources::Chunk)s on a bounded channel.
//! - Decoding (JSON, event shapes, projection) and judging the rules' conditions run on a thread
//!   per core (`workers.rs`), several chunks at once, each batch freed by the thread that
//!   built it; results are consumed in input order, so the engine sees events in order and stays
//!   deterministic.
//! - One engine task owns the ruleset's state; between two chunks it swaps in a reloaded ruleset.
//!   It holds the alert updates up to 100 ms (at most 1,024 alerts), merging the updates of an
//!   alert in that time into its latest state, then sends them to the sinks as one batch.
//! - Each sink has its own task behind a bounded channel: a slow sink slows everything upstream,
//!   nothing is dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8scop_grammar::Diagnostic;
use tokio::sync::mpsc;

use crate::checkpoint::{CheckpointError, CheckpointPolicy, CheckpointStore};
use crate::shutdown::Shutdown;
use crate::sinks::{Sink, SinkError};
use crate::sources::{Source, SourceError};
use k8scop_engine::compile::CompileOptions;
use k8scop_engine::engine::{DetectionStats, RuntimeError};
use k8scop_engine::ruleset::Detection;

pub use crate::runner::run;

/// Static: read the inputs to their end and exit. Streaming: follow them until stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Analysis {
    /// Read what is there and stop: a file's end, the end of `--end`'s range.
    Static,
    /// Follow the inputs (`tail -F`, polling the index) until a shutdown is requested.
    Streaming,
}

/// Where events come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// Standard input.
    Stdin,
    /// A file path or a glob (`/var/log/audit/*.log`); `.gz` files are decompressed.
    Path(String),
}

/// Everything `run` needs, validated.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Rules files and directories.
    pub rules: Vec<PathBuf>,
    /// How the rules compile: the default aggregation window and the script limits.
    pub compile: CompileOptions,
    /// Whether the run stops at the end of its input or follows it.
    pub analysis: Analysis,
    /// Watch the rules for changes and reload them (streaming runs).
    pub watch_rules: bool,
    /// Chunks decoded at once (the parallelism of decoding).
    pub decode_parallelism: usize,
    /// How often the engine offers a checkpoint (when a checkpoint store is given).
    pub checkpoints: CheckpointPolicy,
}

/// A run's parts: its configuration, where events come from, where alerts go, where checkpoints
/// are kept, and how the caller follows and stops it.
pub struct Pipeline {
    /// What to run and how.
    pub config: PipelineConfig,
    /// Where the raw text comes from.
    pub source: Box<dyn Source>,
    /// Where alerts go; each runs in its own task and gets every batch.
    pub sinks: Vec<Box<dyn Sink>>,
    /// Where checkpoints are kept; `None` for sources that cannot resume (files, stdin).
    pub checkpoints: Option<Box<dyn CheckpointStore>>,
    /// Counters the run keeps up to date, for a progress display to read while it runs.
    pub stats: Arc<Stats>,
    /// Called with each [`Notice`] as it happens; it must not block.
    pub notices: Arc<dyn Fn(Notice) + Send + Sync>,
    /// Requested by the caller (the CLI, on SIGINT/SIGTERM) to stop gracefully.
    pub shutdown: Shutdown,
    /// A message here reloads the rules even when they look unchanged (the CLI's SIGHUP).
    pub forced_reloads: mpsc::Receiver<()>,
}

/// Something the runtime tells its user about, as it happens.
#[derive(Debug, Clone)]
pub enum Notice {
    /// The ruleset loaded at start, with its warnings.
    Loaded {
        /// Rules in the ruleset.
        rules: usize,
        /// Sequences in the ruleset.
        sequences: usize,
        /// The compiler's warnings, to show the user.
        warnings: Vec<Diagnostic>,
    },
    /// Text that is not JSON.
    Malformed {
        /// The file it came from (`<stdin>` for standard input), or the source's name.
        origin: Arc<str>,
        /// The line, from 1.
        line: u64,
        /// The JSON parser's message.
        message: String,
    },
    /// A JSON document that is not an event the ruleset evaluates.
    Skipped {
        /// The file it came from (`<stdin>` for standard input), or the source's name.
        origin: Arc<str>,
        /// The line, from 1.
        line: u64,
        /// Why it is not evaluated, e.g. `not a Kubernetes audit event`.
        reason: String,
    },
    /// A script or function failed on one event; the condition was taken as false.
    ScriptError(RuntimeError),
    /// A file was rotated or truncated and is read again from its start.
    SourceRestarted {
        /// The file.
        origin: Arc<str>,
        /// `rotated` or `truncated`.
        reason: String,
    },
    /// A new ruleset took over; `kept` names the rules whose state carried over.
    Reloaded {
        /// Rules in the new ruleset.
        rules: usize,
        /// Sequences in the new ruleset.
        sequences: usize,
        /// Rules and sequences that did not change and kept their open state.
        kept: Vec<Arc<str>>,
        /// The compiler's warnings about the new ruleset.
        warnings: Vec<Diagnostic>,
    },
    /// A reload failed: the previous ruleset keeps running.
    ReloadFailed {
        /// Why the new rules do not load.
        diagnostics: Vec<Diagnostic>,
    },
    /// A sink failed; the error names the sink and counts the alerts it did not deliver.
    SinkFailed(Arc<SinkError>),
    /// Shutdown was requested and is in progress.
    ShuttingDown,
    /// Connected to a server (which one, and its version).
    Connected {
        /// `Elasticsearch 8.15.0 at http://es:9200`.
        server: String,
    },
    /// The run resumed from a checkpoint.
    Resumed {
        /// Where the source resumes, in words.
        position: String,
        /// Events processed before the checkpoint.
        events: u64,
        /// Rules whose state was dropped because they changed since the checkpoint.
        dropped_state: Vec<Arc<str>>,
    },
    /// A checkpoint could not be written yet; it is tried again.
    CheckpointRetry {
        /// The store's name.
        store: String,
        /// Why the write failed.
        message: String,
        /// The pause before the next try.
        retry_in: Duration,
    },
    /// A server of the run is listening (the audit webhook, the metrics endpoint).
    Listening {
        /// What it serves: `audit webhook`, `metrics`.
        what: &'static str,
        /// Its URL, with the actual port when port 0 was asked for.
        url: String,
    },
    /// The audit webhook refused a request for good (a body over the limits): the API server
    /// does not send it again, so its events are lost and reported here.
    WebhookRefused {
        /// The request, as `webhook request N` (as in malformed-input notices).
        origin: Arc<str>,
        /// The HTTP status answered.
        status: u16,
        /// Why, as the response's body says it.
        reason: String,
    },
    /// A source's server failed; the source tries again (reading is paused meanwhile).
    SourceRetry {
        /// The source's name.
        source: String,
        /// Why the request failed.
        message: String,
        /// The pause before the next try.
        retry_in: Duration,
    },
    /// A sink's server failed; the sink tries again (the pipeline waits meanwhile).
    SinkRetry {
        /// The sink's [`Sink::name`].
        sink: String,
        /// Why the request failed.
        message: String,
        /// The pause before the next try.
        retry_in: Duration,
    },
    /// Alert documents the server rejected for good, written to the dead-letter file.
    DeadLettered {
        /// The sink's [`Sink::name`].
        sink: String,
        /// Documents rejected.
        count: u64,
        /// The dead-letter file they were appended to.
        file: String,
        /// The server's reason for the first of them.
        reason: String,
    },
}

impl From<SinkError> for Notice {
    fn from(e: SinkError) -> Notice {
        Notice::SinkFailed(Arc::new(e))
    }
}

/// Live counters, shared with whoever displays progress.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes of text read so far, after decompression.
    pub bytes_read: AtomicU64,
    /// The inputs' total size when it is known (static runs over plain files), else 0.
    pub bytes_total: AtomicU64,
    /// Events evaluated.
    pub events: AtomicU64,
    /// Lines that are not JSON.
    pub malformed: AtomicU64,
    /// JSON documents that are not events of a kind the ruleset evaluates.
    pub skipped: AtomicU64,
    /// Events seen before (the same `auditID` and `stage`), not evaluated again.
    pub duplicates: AtomicU64,
    /// Alerts opened.
    pub alerts_new: AtomicU64,
    /// Updates of open alerts (a further match within the aggregation window).
    pub alerts_updated: AtomicU64,
    /// Script and function failures, each on one event.
    pub script_errors: AtomicU64,
    /// Rulesets swapped in by a reload.
    pub reloads: AtomicU64,
    /// Reloads refused because the new rules do not compile.
    pub reload_failures: AtomicU64,
    /// Alerts a sink could not deliver.
    pub undelivered: AtomicU64,
    /// Checkpoints committed.
    pub checkpoints: AtomicU64,
    /// Documents the source will read when it is known up front (a static Elasticsearch range),
    /// else 0.
    pub events_total: AtomicU64,
    /// Documents read by the source (Elasticsearch hits).
    pub documents_read: AtomicU64,
    /// How far behind the present a streaming source is (ms), 0 when not streaming.
    pub source_lag_ms: AtomicU64,
    /// Alert documents written to a dead-letter file.
    pub dead_lettered: AtomicU64,
    /// The newest event time seen (epoch ms), `i64::MIN` before the first event.
    pub newest_event: AtomicI64,
    /// The audit webhook's answers (see [`crate::sources::webhook`]).
    pub webhook: WebhookStats,
    /// Set once the rules are loaded and the source has started; cleared when the run stops
    /// (the `/readyz` endpoint of [`crate::metrics`]).
    pub ready: AtomicBool,
    /// The per-rule, per-sink and queue figures [`crate::metrics`] reports.
    pub live: crate::metrics::Live,
}

/// What the audit webhook answered, by kind.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Requests whose events were queued (200).
    pub accepted: AtomicU64,
    /// Bodies that are not JSON (400); each also counts as malformed.
    pub malformed: AtomicU64,
    /// Bodies over the batch limit or holding an event over the event limit (413).
    pub too_large: AtomicU64,
    /// Requests refused because the queue stayed full (429): the API server sends them again.
    pub throttled: AtomicU64,
    /// Requests refused because the run is stopping (503).
    pub unavailable: AtomicU64,
    /// Other refusals: an unknown path (404), a method other than POST (405), a compressed
    /// body (415), a body that came too slowly (408).
    pub other: AtomicU64,
    /// Bytes of accepted bodies.
    pub bytes: AtomicU64,
}

impl Stats {
    /// All counters at zero, and no event seen yet.
    pub fn new() -> Stats {
        Stats {
            newest_event: AtomicI64::new(i64::MIN),
            ..Default::default()
        }
    }

    /// A counter's current value (a relaxed load: progress figures need no ordering).
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Events evaluated.
    pub events: u64,
    /// Lines that are not JSON.
    pub malformed: u64,
    /// JSON documents that are not events of a kind the ruleset evaluates.
    pub skipped: u64,
    /// Events seen before, not evaluated again.
    pub duplicates: u64,
    /// Alerts opened.
    pub alerts_new: u64,
    /// Updates of open alerts.
    pub alerts_updated: u64,
    /// Script and function failures.
    pub script_errors: u64,
    /// Alerts a sink could not deliver; the CLI exits with status 1 when there are any.
    pub undelivered: u64,
    /// Rulesets swapped in by a reload.
    pub reloads: u64,
    /// Checkpoints committed.
    pub checkpoints: u64,
    /// Per rule and sequence, in the ruleset's order.
    pub detections: Vec<(Arc<Detection>, DetectionStats)>,
    /// How long the run took, from loading the rules to the last sink's flush.
    pub duration: Duration,
    /// Whether the run ended because of a shutdown request rather than the end of the input.
    pub interrupted: bool,
}

/// Why a run could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The rules do not compile; nothing was read.
    #[error("the ruleset has errors")]
    Ruleset {
        /// Every error and warning, to show the user.
        diagnostics: Vec<Diagnostic>,
    },
    /// The rules cannot be found or read.
    #[error(transparent)]
    Load(#[from] k8scop_engine::loader::LoadError),
    /// The source stopped before its input ended.
    #[error("{source_name}: {error}")]
    Source {
        /// The source's [`Source::name`].
        source_name: String,
        /// Why it stopped.
        #[source]
        error: Box<SourceError>,
    },
    /// A checkpoint could not be loaded or written, or was made by another source.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// An internal task failed (a panic): a bug, reported rather than hidden.
    #[error("{task} failed: {message}")]
    Task {
        /// What the task was doing, e.g. `loading the rules`.
        task: &'static str,
        /// The panic's message.
        message: String,
    },
}
