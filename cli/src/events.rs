//! Reading events for `test-rule --events` exactly as `run` reads them: the same file source
//! (files, globs, `-` for stdin, gzip, JSON lines or whole documents), the same
//! [`Decoder`] (shippers' shapes, projection, malformed lines and documents that are not events
//! reported with their position) and the same [`Dedup`] (a duplicate is dropped and counted).
//! Only the order of work differs: one chunk at a time, on this thread, which changes no result.

use std::path::PathBuf;
use std::sync::Arc;

use k8scop_engine::decode::{Decoder, Dedup, Problem};
use k8scop_engine::Event;
use k8scop_runtime::pipeline::SourceSpec;
use k8scop_runtime::shutdown;
use k8scop_runtime::sources::file::{self, FileSourceConfig};
use tokio::sync::mpsc;

/// Chunks read ahead of decoding.
const CHUNK_QUEUE: usize = 4;

/// What reading the inputs gave, besides the events themselves.
#[derive(Debug, Default)]
pub struct Tally {
    /// Events handed on (duplicates left out), as `run` counts them.
    pub evaluated: usize,
    /// Malformed text and documents that are not events the ruleset evaluates, in input order.
    pub problems: Vec<Problem>,
    /// Ids of the events dropped as duplicates, in input order.
    pub duplicates: Vec<Arc<str>>,
}

/// Why the events could not be read. What is inside an input (malformed lines, documents that
/// are not events) is never an error: it is tallied.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// An input cannot be read, or a pattern matches no file; the message names it.
    #[error(transparent)]
    Source(#[from] file::SourceError),
    /// The I/O runtime the file source runs on cannot start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The reading task failed (a panic): a bug, reported rather than hidden.
    #[error("reading the events failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Reads every input in order and hands each event that `run` would evaluate to `each`, in
/// order. An input that cannot be read is an error (its message names it); what is inside an
/// input never is.
pub fn for_each_event(
    paths: &[PathBuf],
    decoder: &Decoder,
    mut each: impl FnMut(&Event),
) -> Result<Tally, EventsError> {
    let specs = paths
        .iter()
        .map(|p| SourceSpec::Path(p.to_string_lossy().into_owned()))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EventsError::Runtime)?;
    let mut tally = Tally::default();
    let mut dedup = Dedup::new(Dedup::DEFAULT_CAPACITY);
    let read = runtime.block_on(async {
        let (tx, mut rx) = mpsc::channel(CHUNK_QUEUE);
        // INVARIANT: `_trigger` lives until the source has ended: a dropped trigger reads as a
        // shutdown request, which would stop the source early.
        let (_trigger, shutdown) = shutdown::channel();
        let source = tokio::spawn(file::run(FileSourceConfig::new(specs, false), tx, shutdown));
        while let Some(chunk) = rx.recv().await {
            let decoded = decoder.decode(&chunk);
            tally.problems.extend(decoded.problems);
            for event in &decoded.events {
                if dedup.is_duplicate(event) {
                    tally.duplicates.push(Arc::clone(&event.id));
                } else {
                    tally.evaluated += 1;
                    each(event);
                }
            }
        }
        source.await
    });
    // Nothing is left running once the source has returned; stdin's reader thread, if any,
    // has seen the end of its input.
    runtime.shutdown_background();
    match read {
        Ok(Ok(_report)) => Ok(tally),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(EventsError::Task(e)),
    }
}
