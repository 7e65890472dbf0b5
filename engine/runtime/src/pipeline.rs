//! The streaming runtime: sources -> decode -> engine -> sinks, on tokio.
//!
//! - Sources read raw text and send [`Chunk`](crate::sources::Chunk)s on a bounded channel.
//! - Decoding (JSON, event shapes, projection) runs on the blocking pool, several chunks at once,
//!   but results are consumed in input order, so the engine sees events in order and stays
//!   deterministic.
//! - One engine task owns the ruleset's state; between two chunks it swaps in a reloaded ruleset.
//! - Each sink has its own task behind a bounded channel: a slow sink slows everything upstream,
//!   nothing is dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
    Static,
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
    pub compile: CompileOptions,
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
    pub config: PipelineConfig,
    pub source: Box<dyn Source>,
    pub sinks: Vec<Box<dyn Sink>>,
    /// Where checkpoints are kept; `None` for sources that cannot resume (files, stdin).
    pub checkpoints: Option<Box<dyn CheckpointStore>>,
    pub stats: Arc<Stats>,
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
        rules: usize,
        sequences: usize,
        warnings: Vec<Diagnostic>,
    },
    /// Text that is not JSON.
    Malformed {
        origin: Arc<str>,
        line: u64,
        message: String,
    },
    /// A JSON document that is not an event the ruleset evaluates.
    Skipped {
        origin: Arc<str>,
        line: u64,
        reason: String,
    },
    ScriptError(RuntimeError),
    /// A file was rotated or truncated and is read again from its start.
    SourceRestarted {
        origin: Arc<str>,
        reason: String,
    },
    /// A new ruleset took over; `kept` names the rules whose state carried over.
    Reloaded {
        rules: usize,
        sequences: usize,
        kept: Vec<Arc<str>>,
        warnings: Vec<Diagnostic>,
    },
    /// A reload failed: the previous ruleset keeps running.
    ReloadFailed {
        diagnostics: Vec<Diagnostic>,
    },
    SinkFailed {
        sink: String,
        message: String,
        undelivered: u64,
    },
    /// Shutdown was requested and is in progress.
    ShuttingDown,
    /// Connected to a server (which one, and its version).
    Connected {
        server: String,
    },
    /// The run resumed from a checkpoint.
    Resumed {
        position: String,
        events: u64,
        /// Rules whose state was dropped because they changed since the checkpoint.
        dropped_state: Vec<Arc<str>>,
    },
    /// A checkpoint could not be written yet; it is tried again.
    CheckpointRetry {
        store: String,
        message: String,
        retry_in: Duration,
    },
    /// A source's server failed; the source tries again (reading is paused meanwhile).
    SourceRetry {
        source: String,
        message: String,
        retry_in: Duration,
    },
    /// A sink's server failed; the sink tries again (the pipeline waits meanwhile).
    SinkRetry {
        sink: String,
        message: String,
        retry_in: Duration,
    },
    /// Alert documents the server rejected for good, written to the dead-letter file.
    DeadLettered {
        sink: String,
        count: u64,
        file: String,
        reason: String,
    },
}

impl From<SinkError> for Notice {
    fn from(e: SinkError) -> Notice {
        Notice::SinkFailed {
            sink: e.sink,
            message: e.message,
            undelivered: e.undelivered,
        }
    }
}

/// Live counters, shared with whoever displays progress.
#[derive(Debug, Default)]
pub struct Stats {
    pub bytes_read: AtomicU64,
    /// The inputs' total size when it is known (static runs over plain files), else 0.
    pub bytes_total: AtomicU64,
    pub events: AtomicU64,
    pub malformed: AtomicU64,
    pub skipped: AtomicU64,
    pub duplicates: AtomicU64,
    pub alerts_new: AtomicU64,
    pub alerts_updated: AtomicU64,
    pub script_errors: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
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
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            newest_event: AtomicI64::new(i64::MIN),
            ..Default::default()
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub events: u64,
    pub malformed: u64,
    pub skipped: u64,
    pub duplicates: u64,
    pub alerts_new: u64,
    pub alerts_updated: u64,
    pub script_errors: u64,
    pub undelivered: u64,
    pub reloads: u64,
    /// Checkpoints committed.
    pub checkpoints: u64,
    /// Per rule and sequence, in the ruleset's order.
    pub detections: Vec<(Arc<Detection>, DetectionStats)>,
    pub duration: Duration,
    /// Whether the run ended because of a shutdown request rather than the end of the input.
    pub interrupted: bool,
}

/// Why a run could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("the ruleset has errors")]
    Ruleset { diagnostics: Vec<Diagnostic> },
    #[error(transparent)]
    Load(#[from] k8scop_engine::loader::LoadError),
    #[error("{source_name}: {error}")]
    Source {
        source_name: String,
        #[source]
        error: Box<SourceError>,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// An internal task failed (a panic): a bug, reported rather than hidden.
    #[error("{task} failed: {message}")]
    Task { task: &'static str, message: String },
}
