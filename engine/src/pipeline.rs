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

use crate::compile::CompileOptions;
use crate::engine::{DetectionStats, RuntimeError};
use crate::ruleset::Detection;
use crate::sinks::SinkError;

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
    pub sources: Vec<SourceSpec>,
    pub analysis: Analysis,
    /// Watch the rules for changes and reload them (streaming runs).
    pub watch_rules: bool,
    /// How often a followed file is polled when change notifications are unavailable, and the
    /// pause between fetches of polling sources (`--fetch-delay`).
    pub poll_interval: Duration,
    /// How long a graceful shutdown may take before the process exits anyway.
    pub shutdown_deadline: Duration,
    /// Chunks decoded at once (the parallelism of decoding).
    pub decode_parallelism: usize,
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
    Load(#[from] crate::loader::LoadError),
    #[error("{0}")]
    Source(String),
}
