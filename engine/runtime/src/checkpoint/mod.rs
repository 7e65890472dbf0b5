//! Checkpoints: a source position and the engine's open state, committed only once every sink
//! has acknowledged the alerts of the events before that position (Vector's finalizers).
//!
//! The data's way: the engine task numbers each batch it processes (`seq`). It sends each batch's
//! alerts to every sink, an empty batch too, so that every sink acknowledges every `seq` in
//! order. Now and then (every [`CheckpointPolicy::interval`], and at the end of the input) the
//! engine task snapshots its state right after a positioned batch and hands the [`Checkpoint`] to
//! the [`Committer`]. The committer writes it to the [`CheckpointStore`] once the lowest `seq`
//! acknowledged by every sink has reached it. A sink that gave up on a batch never acknowledges
//! it, so the checkpoint stays before the lost alerts and a restarted run writes them again
//! (alert documents are idempotent upserts: a replay never makes a second copy).
//!
//! On restart the pipeline loads the newest checkpoint whose `source` is the identity of the
//! source it is given, restores the engine and the deduplication window, and tells the source to
//! resume after the position.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::pipeline::{Notice, Stats};
use crate::shutdown::Shutdown;
use crate::sinks::BoxFuture;
use crate::sources::Position;

pub mod elasticsearch;

/// The format of [`Checkpoint`] documents; a different one is refused rather than misread.
pub const CHECKPOINT_VERSION: u32 = 1;

/// A resumable point of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The format it was written in, [`CHECKPOINT_VERSION`] when this k8scop wrote it.
    pub version: u32,
    /// The identity of the source that made it ([`crate::sources::Source::identity`]).
    pub source: String,
    /// Where the source resumes.
    pub position: Position,
    /// The engine's open state right after the events before `position`.
    pub engine: serde_json::Value,
    /// The deduplication window at the same point.
    pub dedup: serde_json::Value,
    /// Events processed up to this point, for the user's information.
    pub events: u64,
}

/// Why a checkpoint could not be read or written. The kind says what to do: wait for the store,
/// stop the other instance, or start afresh (`--fresh`, another state id).
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The store's server failed (after its retries); the committer keeps trying.
    #[error("the checkpoint store is unavailable: {0}")]
    Store(#[from] crate::elastic::EsError),
    /// Another instance holds the lease on this cursor.
    #[error("another k8scop instance holds the lease on `{id}` (until {until}); stop it or wait for the lease to expire")]
    Leased {
        /// The cursor's id, with the instance that holds it.
        id: String,
        /// When the lease expires.
        until: String,
    },
    /// Another instance wrote the cursor since this one read it.
    #[error("the checkpoint `{id}` was written by another instance since this one read it; this instance lost its lease and stops")]
    LostLease {
        /// The cursor's id.
        id: String,
    },
    /// The stored checkpoint is not a checkpoint document (cut short, edited).
    #[error("the checkpoint cannot be used: {store}: {error}")]
    Unreadable {
        /// Where it is stored.
        store: String,
        /// Why it does not parse.
        #[source]
        error: serde_json::Error,
    },
    /// The stored checkpoint is in a format version this k8scop does not read.
    #[error("the checkpoint cannot be used: {store} has format version {found}, this k8scop reads version {}", CHECKPOINT_VERSION)]
    Version {
        /// Where it is stored.
        store: String,
        /// The version it was written in.
        found: u32,
    },
    /// The engine state or the deduplication window inside the checkpoint cannot be restored.
    #[error("the checkpoint cannot be used: {0}")]
    State(#[from] k8scop_engine::StateError),
    /// The checkpoint was made by another source (another index pattern, server or time field).
    #[error("the checkpoint cannot be used: the checkpoint in {store} was made by `{made_by}`, not by `{source_identity}`; use another state id")]
    OtherSource {
        /// Where it is stored.
        store: String,
        /// The identity of the source that made it.
        made_by: String,
        /// The identity of this run's source.
        source_identity: String,
    },
}

/// Where checkpoints are kept (the Elasticsearch state index).
pub trait CheckpointStore: Send {
    /// A short name for messages.
    fn name(&self) -> String;

    /// The newest checkpoint, if any.
    fn load(&mut self) -> BoxFuture<'_, Result<Option<Checkpoint>, CheckpointError>>;

    /// Writes `checkpoint` as the newest one. Must not return `Ok` before it is durable.
    fn save<'a>(
        &'a mut self,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>>;

    /// Gives up whatever the store holds for this instance (its lease), at the end of a run.
    fn release(&mut self) -> BoxFuture<'_, Result<(), CheckpointError>> {
        Box::pin(async { Ok(()) })
    }
}

/// How often the engine offers a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// The least time between two checkpoints; a quiet source makes them rarer.
    pub interval: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            interval: Duration::from_secs(5),
        }
    }
}

/// A checkpoint waiting for its alerts to be acknowledged.
#[derive(Debug)]
pub struct Pending {
    /// The number of the engine batch it follows; every sink must acknowledge it first.
    pub seq: u64,
    /// What is written once they have.
    pub checkpoint: Checkpoint,
}

/// How far one sink has acknowledged: every batch with a `seq` at or below the value.
pub type AckReceiver = watch::Receiver<u64>;

/// Writes checkpoints once every sink has acknowledged them; runs as its own task.
pub struct Committer {
    /// Where checkpoints are written.
    pub store: Box<dyn CheckpointStore>,
    /// Checkpoints from the engine, in batch order.
    pub pending: mpsc::Receiver<Pending>,
    /// One acknowledgement watch per sink.
    pub acks: Vec<AckReceiver>,
    /// Where committed checkpoints are counted.
    pub stats: Arc<Stats>,
    /// Where retries are reported.
    pub notices: Arc<dyn Fn(Notice) + Send + Sync>,
}

/// How long the committer waits between two attempts to write a checkpoint.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(30);

impl Committer {
    /// Runs until the engine is done (its sender dropped) and every sink has stopped, then
    /// commits the newest acknowledged checkpoint. A lost lease stops it with the error.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), CheckpointError> {
        let mut queue: VecDeque<Pending> = VecDeque::new();
        let mut engine_done = false;
        loop {
            // Commit the newest checkpoint every sink has acknowledged.
            let acked = self
                .acks
                .iter()
                .map(|a| *a.borrow())
                .min()
                .unwrap_or(u64::MAX);
            let mut ready = None;
            while queue.front().is_some_and(|p| p.seq <= acked) {
                ready = queue.pop_front();
            }
            if let Some(p) = ready {
                self.commit(&p.checkpoint, &mut shutdown).await?;
            }
            if engine_done && (queue.is_empty() || self.all_sinks_gone()) {
                return self.store.release().await;
            }
            tokio::select! {
                next = self.pending.recv(), if !engine_done => match next {
                    Some(p) => queue.push_back(p),
                    None => engine_done = true,
                },
                () = changed_any(&mut self.acks) => {}
            }
        }
    }

    /// Whether every sink's task has ended (no acknowledgement can come any more).
    fn all_sinks_gone(&self) -> bool {
        self.acks.iter().all(|a| a.has_changed().is_err())
    }

    /// Writes one checkpoint, retrying with backoff while the store is unavailable. Gives up
    /// only on shutdown (the previous checkpoint stays, a restart replays a little more) or on
    /// a lost lease.
    async fn commit(
        &mut self,
        checkpoint: &Checkpoint,
        shutdown: &mut Shutdown,
    ) -> Result<(), CheckpointError> {
        let mut wait = RETRY_MIN;
        loop {
            match self.store.save(checkpoint).await {
                Ok(()) => {
                    self.stats.checkpoints.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e @ (CheckpointError::LostLease { .. } | CheckpointError::Leased { .. })) => {
                    return Err(e)
                }
                Err(e) => {
                    (self.notices)(Notice::CheckpointRetry {
                        store: self.store.name(),
                        message: e.to_string(),
                        retry_in: wait,
                    });
                    if shutdown.is_requested() && self.all_sinks_gone() {
                        return Err(e);
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

/// Resolves when any of the acknowledgement watches changes (or its sender is gone); never
/// resolves for an empty list.
async fn changed_any(acks: &mut [AckReceiver]) {
    if acks.is_empty() {
        std::future::pending::<()>().await;
    }
    let futures: Vec<_> = acks
        .iter_mut()
        .map(|a| Box::pin(async move { a.changed().await }))
        .collect();
    let gone = futures_select_all(futures).await;
    if gone {
        // A sink ended: avoid a busy loop on a closed watch.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for the first of `futures`; `true` if it reported a closed channel.
async fn futures_select_all<F>(futures: Vec<std::pin::Pin<Box<F>>>) -> bool
where
    F: std::future::Future<Output = Result<(), watch::error::RecvError>>,
{
    let mut futures = futures;
    std::future::poll_fn(move |cx| {
        for f in futures.iter_mut() {
            if let std::task::Poll::Ready(r) = f.as_mut().poll(cx) {
                return std::task::Poll::Ready(r.is_err());
            }
        }
        std::task::Poll::Pending
    })
    .await
}
