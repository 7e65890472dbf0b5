//! Event sources: where raw audit text comes from (files and stdin, Elasticsearch, the audit
//! webhook).
//!
//! Every source implements [`Source`]: it runs as its own task and sends [`Batch`]es of raw text,
//! in order, on a bounded channel: a full channel slows the source down, nothing is dropped.
//! Decoding (JSON, event shapes, projection) happens downstream, in parallel, so a source only
//! reads. A batch may carry the [`Position`] the source reaches after it: the pipeline commits
//! that position (see [`crate::checkpoint`]) once every sink has acknowledged the alerts of the
//! events before it, so a restarted run resumes exactly there.

use std::sync::Arc;

use crate::pipeline::Stats;
use crate::shutdown::Shutdown;
use crate::sinks::BoxFuture;
use tokio::sync::mpsc;

pub mod elasticsearch;
pub mod file;
pub mod webhook;

pub use k8scop_engine::chunk::{buffers, Chunk};

/// Where a source stands after a batch, in the source's own terms (the Elasticsearch cursor's
/// sort values, say). The pipeline never looks inside; it stores it in a checkpoint and gives it
/// back to the source that made it when a run resumes.
pub type Position = serde_json::Value;

/// Raw text and, when the source can resume, the position right after it.
#[derive(Debug)]
pub struct Batch {
    /// The text, framed into whole lines or documents.
    pub chunk: Chunk,
    /// Where the source stands once this text is processed; none for sources that cannot
    /// resume.
    pub position: Option<Position>,
}

impl Batch {
    /// A batch a source cannot resume from (files and stdin are read again from their start).
    pub fn unpositioned(chunk: Chunk) -> Batch {
        Batch {
            chunk,
            position: None,
        }
    }
}

/// What a running source is given.
pub struct SourceContext {
    /// Where batches go; bounded, so a full pipeline slows the source.
    pub out: mpsc::Sender<Batch>,
    /// Requested when the run is stopping: the source returns promptly.
    pub shutdown: Shutdown,
    /// Progress counters the source fills in: `bytes_total`/`events_total` when known up front,
    /// `source_lag_ms` while streaming.
    pub stats: Arc<Stats>,
    /// Notices for the user (a server outage, a retry), as the pipeline reports them.
    pub notices: Arc<dyn Fn(crate::pipeline::Notice) + Send + Sync>,
}

/// Why a source stopped before its input ended.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file cannot be read, or a pattern matches nothing.
    #[error(transparent)]
    File(#[from] file::SourceError),
    /// The server failed after the retries.
    #[error(transparent)]
    Elasticsearch(#[from] crate::elastic::EsError),
    /// The audit webhook's listening socket failed.
    #[error(transparent)]
    Webhook(#[from] crate::server::ServerError),
}

/// A producer of raw input.
pub trait Source: Send {
    /// A short name for messages: `file`, `elasticsearch http://es:9200 logs-*`.
    fn name(&self) -> String;

    /// The identity checkpoints are filed under: a checkpoint made by another source (another
    /// index pattern, another server) is never resumed from.
    fn identity(&self) -> String {
        self.name()
    }

    /// Resume after `position`, a position this source's identity produced earlier. Sources that
    /// cannot resume ignore it.
    fn resume_from(&mut self, position: Position) {
        let _ = position;
    }

    /// A position in words for the user (`resumed at ...`).
    fn describe(&self, position: &Position) -> String {
        position.to_string()
    }

    /// Reads until the input ends (static) or the shutdown is requested (streaming), sending
    /// batches in order. Returns `Ok` on shutdown or when the receiver is gone.
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), SourceError>>;
}

/// Files, globs and stdin, read once or followed (see [`file`]).
pub struct FileSource {
    config: file::FileSourceConfig,
}

impl FileSource {
    /// A source over the files, globs and stdin of `config`.
    pub fn new(config: file::FileSourceConfig) -> FileSource {
        FileSource { config }
    }
}

impl Source for FileSource {
    fn name(&self) -> String {
        "file".into()
    }

    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            if !self.config.follow {
                if let Some(total) = file::total_size(&self.config.specs) {
                    ctx.stats
                        .bytes_total
                        .store(total, std::sync::atomic::Ordering::Relaxed);
                }
            }
            // The file source frames chunks; wrap each as an unpositioned batch on its way out.
            let (tx, mut rx) = mpsc::channel::<Chunk>(2);
            let out = ctx.out;
            let forward = tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    if out.send(Batch::unpositioned(chunk)).await.is_err() {
                        return;
                    }
                }
            });
            let result = file::run(self.config, tx, ctx.shutdown).await;
            let _ = forward.await;
            result.map(|_| ()).map_err(SourceError::from)
        })
    }
}
