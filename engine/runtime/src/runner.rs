//! `pipeline::run`: wiring a source, decoding, the engine, sinks and checkpoints together (see
//! [`crate::pipeline`] for the design).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8scop_engine::alert::AlertUpdate;
use k8scop_engine::chunk::Chunk;
use k8scop_engine::decode::{Decoded, Dedup, Problem, ProblemKind};
use k8scop_engine::engine::Judged;
use k8scop_engine::engine::{Engine, Output};
use k8scop_engine::ruleset::Ruleset;
use tokio::sync::{mpsc, watch};

use crate::checkpoint::{Checkpoint, CheckpointError, Committer, Pending, CHECKPOINT_VERSION};
use crate::pipeline::{Notice, Pipeline, PipelineError, Stats, Summary};
use crate::reload::{self, Generation};
use crate::shutdown;
use crate::sinks::{Sink, SinkError, SinkFailure};
use crate::sources::{Batch, Position, SourceContext};
use crate::workers::{Reply, Workers};

/// Checkpoints waiting for acknowledgements (the engine offers one every few seconds).
const CHECKPOINT_QUEUE: usize = 4;
/// Chunks in flight between the source and decoding.
const CHUNK_QUEUE: usize = 8;
/// Alert batches in flight to each sink.
const SINK_QUEUE: usize = 8;
/// How often the engine publishes its per-rule counters for the metrics.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);
/// How long the engine holds alert updates before it sends them to the sinks: further updates
/// of the same alerts within that time are merged, so a sink gets each alert's latest state
/// once rather than every step (a busy rule updates its alert on most events).
const ALERT_HOLD: Duration = Duration::from_millis(100);
/// Distinct alerts held at most: more are sent at once, whatever their age.
const MAX_HELD_ALERTS: usize = 1024;
/// Recently seen (auditID, stage) pairs remembered for deduplication.
const DEDUP_CAPACITY: usize = 100_000;

/// A batch being decoded, with the ruleset generation it is decoded for and the source position
/// it reaches.
struct InFlight {
    generation: Arc<Generation>,
    /// The events and, judged on the same thread, what the generation's rules say of them; none
    /// for the marker a reload sends down the line.
    decoded: Option<Reply>,
    position: Option<Position>,
}

/// One engine batch's alerts on their way to a sink, numbered for acknowledgement.
struct SinkBatch {
    seq: u64,
    updates: Arc<[AlertUpdate]>,
}

/// Restores the engine and the deduplication window from a checkpoint; also returns the rules
/// whose state was dropped because they changed since.
fn resume(
    ruleset: &Arc<Ruleset>,
    checkpoint: &Checkpoint,
) -> Result<(Engine, Dedup, Vec<Arc<str>>), PipelineError> {
    let invalid = |e| PipelineError::Checkpoint(CheckpointError::State(e));
    let state =
        k8scop_engine::EngineState::from_value(checkpoint.engine.clone()).map_err(invalid)?;
    let (engine, report) = Engine::restore(Arc::clone(ruleset), state).map_err(invalid)?;
    let dedup_state =
        k8scop_engine::decode::DedupState::from_value(checkpoint.dedup.clone()).map_err(invalid)?;
    let dedup = Dedup::restore(DEDUP_CAPACITY, dedup_state).map_err(invalid)?;
    let dropped = report
        .changed
        .iter()
        .chain(&report.removed)
        .map(|d| Arc::from(d.name.as_str()))
        .collect();
    Ok((engine, dedup, dropped))
}

fn snapshot_engine(engine: &Engine) -> serde_json::Value {
    serde_json::to_value(engine.snapshot()).unwrap_or(serde_json::Value::Null)
}

fn snapshot_dedup(dedup: &Dedup) -> serde_json::Value {
    serde_json::to_value(dedup.snapshot()).unwrap_or(serde_json::Value::Null)
}

/// Runs the pipeline until the input ends (static) or the shutdown is requested.
pub async fn run(parts: Pipeline) -> Result<Summary, PipelineError> {
    let Pipeline {
        config,
        mut source,
        sinks,
        mut checkpoints,
        stats,
        notices,
        shutdown: external,
        forced_reloads,
    } = parts;
    let started = Instant::now();
    let (paths, options) = (config.rules.clone(), config.compile.clone());
    let first = tokio::task::spawn_blocking(move || reload::load(&paths, &options))
        .await
        .map_err(|e| PipelineError::Task {
            task: "loading the rules",
            message: e.to_string(),
        })?
        .map_err(|diagnostics| PipelineError::Ruleset { diagnostics })?;
    let first = Arc::new(first);
    // The decoding threads, before any task starts: if they cannot be had, nothing is left
    // running.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = Workers::start(cores.min(config.decode_parallelism.max(1))).map_err(|e| {
        PipelineError::Task {
            task: "starting the decoding threads",
            message: e.to_string(),
        }
    })?;
    notices(Notice::Loaded {
        rules: first.ruleset.rules.len(),
        sequences: first.ruleset.sequences.len(),
        warnings: first.warnings.clone(),
    });

    // Resume from the newest checkpoint of this very source, if there is one.
    let mut engine = Engine::new(Arc::clone(&first.ruleset));
    let mut dedup = Dedup::new(DEDUP_CAPACITY);
    let mut events_before = 0;
    if let Some(store) = checkpoints.as_mut() {
        if let Some(checkpoint) = store.load().await? {
            if checkpoint.source == source.identity() {
                let resumed = resume(&first.ruleset, &checkpoint)?;
                engine = resumed.0;
                dedup = resumed.1;
                events_before = checkpoint.events;
                notices(Notice::Resumed {
                    position: source.describe(&checkpoint.position),
                    events: checkpoint.events,
                    dropped_state: resumed.2,
                });
                source.resume_from(checkpoint.position);
            } else {
                return Err(PipelineError::Checkpoint(CheckpointError::OtherSource {
                    store: store.name(),
                    made_by: checkpoint.source,
                    source_identity: source.identity(),
                }));
            }
        }
    }
    // A sink needs each alert's latest state per batch, not every update of it.
    engine.coalesce_alerts(true);
    let identity = source.identity();
    stats.live.set_source(&source.name());

    // Internal shutdown: requested from outside (a signal), or when the run ends by itself.
    let (trigger, shutdown) = shutdown::channel();
    let trigger = Arc::new(trigger);
    let relay = tokio::spawn({
        let trigger = Arc::clone(&trigger);
        let stats = Arc::clone(&stats);
        let mut external = external;
        let mut internal = trigger.subscribe();
        async move {
            tokio::select! {
                () = external.requested() => {
                    // Not ready any more: a load balancer stops sending audit batches here.
                    stats.ready.store(false, Ordering::Relaxed);
                    trigger.trigger();
                    true
                }
                () = internal.requested() => false,
            }
        }
    });

    // Sinks, each in its own task behind a bounded queue, acknowledging every batch.
    let mut sink_queues = Vec::new();
    let mut sink_tasks = Vec::new();
    let mut acks = Vec::new();
    for sink in sinks {
        let (tx, rx) = mpsc::channel::<SinkBatch>(SINK_QUEUE);
        let (ack_tx, ack_rx) = watch::channel(0u64);
        stats.live.queue("sink", Some(sink.name()), &tx);
        sink_queues.push((sink.name(), tx));
        acks.push(ack_rx);
        sink_tasks.push(tokio::spawn(run_sink(
            sink,
            rx,
            ack_tx,
            Arc::clone(&stats),
            Arc::clone(&notices),
        )));
    }

    // Checkpoints, committed once every sink acknowledged them.
    let (pending_tx, pending_rx) = mpsc::channel::<Pending>(CHECKPOINT_QUEUE);
    let committer = checkpoints.map(|store| {
        tokio::spawn(
            Committer {
                store,
                pending: pending_rx,
                acks,
                stats: Arc::clone(&stats),
                notices: Arc::clone(&notices),
            }
            .run(shutdown.clone()),
        )
    });
    let mut pending_tx = committer.as_ref().map(|_| pending_tx);

    // The source.
    let (batch_tx, mut batch_rx) = mpsc::channel::<Batch>(CHUNK_QUEUE);
    stats.live.queue("source", None, &batch_tx);
    let source_task = tokio::spawn(source.run(SourceContext {
        out: batch_tx,
        shutdown: shutdown.clone(),
        stats: Arc::clone(&stats),
        notices: Arc::clone(&notices),
    }));

    // Reloads.
    let (reload_tx, mut reload_rx) = mpsc::channel::<Arc<Generation>>(2);
    let watcher = config.watch_rules.then(|| {
        tokio::spawn(reload::watch(
            config.rules.clone(),
            config.compile.clone(),
            first.fingerprint,
            reload_tx,
            Arc::clone(&stats),
            Arc::clone(&notices),
            forced_reloads,
            shutdown.clone(),
        ))
    });

    // Decoding: batches are decoded on a thread per core, several at once, and handed on in
    // input order so that the engine sees events in order.
    let (decoded_tx, mut decoded_rx) = mpsc::channel::<InFlight>(config.decode_parallelism.max(1));
    stats.live.queue("decode", None, &decoded_tx);
    // The rules are loaded and the source runs: ready for traffic.
    stats.ready.store(true, Ordering::Relaxed);
    let decode_stage = tokio::spawn({
        let first = Arc::clone(&first);
        let notices = Arc::clone(&notices);
        async move {
            let mut current = first;
            loop {
                let batch = tokio::select! {
                    biased;
                    // A new ruleset goes down the line at once, so it takes over even when no
                    // input is arriving.
                    Some(next) = reload_rx.recv() => {
                        current = next;
                        let generation = Arc::clone(&current);
                        let in_flight = InFlight { generation, decoded: None, position: None };
                        if decoded_tx.send(in_flight).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    batch = batch_rx.recv() => match batch {
                        Some(batch) => batch,
                        None => return,
                    },
                };
                let Batch { chunk, position } = batch;
                if let Chunk::Restarted { origin, reason } = &chunk {
                    notices(Notice::SourceRestarted {
                        origin: Arc::clone(origin),
                        reason: reason.clone(),
                    });
                }
                let generation = Arc::clone(&current);
                let decoder = Arc::clone(&current.decoder);
                let ruleset = Arc::clone(&current.ruleset);
                // The conditions are judged there too, in parallel with other batches: the
                // engine's thread keeps only what needs state and order.
                let decoded = Some(workers.decode(chunk, decoder, ruleset));
                let in_flight = InFlight {
                    generation,
                    decoded,
                    position,
                };
                if decoded_tx.send(in_flight).await.is_err() {
                    return;
                }
            }
        }
    });

    // The engine: one task owns all state.
    let mut current: Arc<Generation> = first;
    let mut out = Output::default();
    let mut failure = None;
    let mut seq: u64 = 0;
    let mut last_checkpoint = Instant::now();
    let mut unsaved: Option<Position> = None;
    let mut last_published: Option<Instant> = None;
    // Whether the engine's counters changed since they were last published.
    let mut unpublished = false;
    // The alert updates held in `out`.
    let mut hold = Hold::default();
    let sinks = SinkQueues {
        queues: sink_queues,
        stats: Arc::clone(&stats),
        notices: Arc::clone(&notices),
    };
    loop {
        // While the input pauses: send the held alerts when they are due, and publish the
        // last figures, so that a scrape sees them.
        let wait = match (hold.left(Instant::now()), unpublished) {
            (Some(left), true) => Some(left.min(PUBLISH_INTERVAL)),
            (Some(left), false) => Some(left),
            (None, true) => Some(PUBLISH_INTERVAL),
            (None, false) => None,
        };
        let next = match wait {
            Some(wait) => match tokio::time::timeout(wait, decoded_rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    if hold.due(out.alerts.len(), Instant::now()) {
                        sinks.send(seq, out.take_alerts().into()).await;
                        hold.sent();
                    }
                    if unpublished {
                        stats.live.publish(engine.stats());
                        last_published = Some(Instant::now());
                        unpublished = false;
                    }
                    continue;
                }
            },
            None => decoded_rx.recv().await,
        };
        let Some(in_flight) = next else { break };
        if !Arc::ptr_eq(&in_flight.generation, &current) {
            // The new ruleset takes over between two events; unchanged rules keep their state.
            current = in_flight.generation;
            let kept = engine.replace_ruleset(Arc::clone(&current.ruleset));
            stats.reloads.fetch_add(1, Ordering::Relaxed);
            notices(Notice::Reloaded {
                rules: current.ruleset.rules.len(),
                sequences: current.ruleset.sequences.len(),
                kept,
                warnings: current.warnings.clone(),
            });
        }
        let (decoded, judged, spent) = match in_flight.decoded {
            None => (Decoded::default(), Judged::default(), None),
            Some(pending) => match pending.await {
                Ok(Ok(done)) => (done.decoded, done.judged, Some(done.spent)),
                failed => {
                    // Stop reading, but drain and flush what the sinks already have.
                    let message = match failed {
                        Ok(Err(panic)) => panic,
                        _ => "the decoding thread ended".to_owned(),
                    };
                    failure = Some(PipelineError::Task {
                        task: "decoding",
                        message,
                    });
                    break;
                }
            },
        };
        stats.bytes_read.fetch_add(decoded.bytes, Ordering::Relaxed);
        for problem in decoded.problems {
            notices(problem_notice(problem, &stats));
        }
        // Counted per batch: the shared counters are touched once, not once per event.
        let (mut applied, mut duplicates, mut newest) = (0, 0, i64::MIN);
        for (i, event) in decoded.events.iter().enumerate() {
            if dedup.is_duplicate(event) {
                duplicates += 1;
                continue;
            }
            engine.apply(event, &judged, i, &mut out);
            applied += 1;
            newest = newest.max(event.time);
        }
        stats.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        stats.events.fetch_add(applied, Ordering::Relaxed);
        stats.newest_event.fetch_max(newest, Ordering::Relaxed);
        // Freeing a batch's events is real work: the thread that built them does it, into the
        // heap they came from, and reuses the verdicts' buffers.
        if let Some(spent) = spent {
            spent.give_back(decoded.events, judged);
        }
        for error in out.errors.drain(..) {
            stats.script_errors.fetch_add(1, Ordering::Relaxed);
            notices(Notice::ScriptError(error));
        }
        seq += 1;
        stats
            .alerts_new
            .fetch_add(std::mem::take(&mut out.alerts_new), Ordering::Relaxed);
        stats
            .alerts_updated
            .fetch_add(std::mem::take(&mut out.alerts_updated), Ordering::Relaxed);
        if let Some(position) = in_flight.position {
            unsaved = Some(position);
        }
        // The per-rule figures for the metrics, a few times a second at most.
        if last_published.is_none_or(|t| t.elapsed() >= PUBLISH_INTERVAL) {
            stats.live.publish(engine.stats());
            last_published = Some(Instant::now());
            unpublished = false;
        } else {
            unpublished = true;
        }
        // The alerts go to the sinks once held long enough, or before a checkpoint, which
        // waits for the sinks to acknowledge every alert before it (and so is sent even when
        // there are none).
        let checkpoint_due = pending_tx.is_some()
            && unsaved.is_some()
            && last_checkpoint.elapsed() >= config.checkpoints.interval;
        let now = Instant::now();
        hold.note(out.alerts.len(), now);
        if checkpoint_due || hold.due(out.alerts.len(), now) {
            sinks.send(seq, out.take_alerts().into()).await;
            hold.sent();
        }
        if checkpoint_due {
            if let Some(position) = unsaved.take() {
                offer_checkpoint(
                    &mut pending_tx,
                    seq,
                    &identity,
                    position,
                    &engine,
                    &dedup,
                    events_before,
                    &stats,
                )
                .await;
                last_checkpoint = Instant::now();
            }
        }
    }
    // What is still held goes out before the last checkpoint, and after a failure too.
    sinks.send(seq, out.take_alerts().into()).await;
    let sink_queues = sinks.queues;
    stats.live.publish(engine.stats());
    stats.ready.store(false, Ordering::Relaxed);
    let interrupted = shutdown.is_requested();
    // The input ended (or the run stops): the last position is worth a checkpoint too.
    if let Some(position) = unsaved.take() {
        if failure.is_none() {
            offer_checkpoint(
                &mut pending_tx,
                seq,
                &identity,
                position,
                &engine,
                &dedup,
                events_before,
                &stats,
            )
            .await;
        }
    }
    drop(pending_tx);
    trigger.trigger();

    // Drain: the sinks write what they were given, then flush.
    for (name, task) in sink_queues.into_iter().map(|(n, _)| n).zip(sink_tasks) {
        if let Err(e) = task.await {
            notices(SinkError::new(name, SinkFailure::panicked("the sink's task", &e), 0).into());
        }
    }
    let committed = match committer {
        Some(task) => task.await.map_err(|e| PipelineError::Task {
            task: "checkpointing",
            message: e.to_string(),
        })?,
        None => Ok(()),
    };
    // Dropping the receiver ends the decode stage even when the loop above broke early.
    drop(decoded_rx);
    let _ = decode_stage.await;
    let source_result = source_task.await;
    if let Some(w) = watcher {
        let _ = w.await;
    }
    let interrupted = relay.await.unwrap_or(false) || interrupted;
    if let Some(failure) = failure {
        return Err(failure);
    }
    committed?;
    match source_result {
        Ok(Err(e)) if !interrupted => {
            return Err(PipelineError::Source {
                source_name: identity,
                error: Box::new(e),
            })
        }
        Err(e) => {
            return Err(PipelineError::Task {
                task: "the source",
                message: e.to_string(),
            })
        }
        _ => {}
    }
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    Ok(Summary {
        events: load(&stats.events),
        malformed: load(&stats.malformed),
        skipped: load(&stats.skipped),
        duplicates: load(&stats.duplicates),
        alerts_new: load(&stats.alerts_new),
        alerts_updated: load(&stats.alerts_updated),
        script_errors: load(&stats.script_errors),
        undelivered: load(&stats.undelivered),
        reloads: load(&stats.reloads),
        checkpoints: load(&stats.checkpoints),
        detections: engine.stats(),
        duration: started.elapsed(),
        interrupted,
    })
}

/// Counts a decoding problem and makes the notice that reports it.
fn problem_notice(problem: Problem, stats: &Stats) -> Notice {
    match problem.kind {
        ProblemKind::Malformed => {
            stats.malformed.fetch_add(1, Ordering::Relaxed);
            Notice::Malformed {
                origin: problem.origin,
                line: problem.line,
                message: problem.message,
            }
        }
        ProblemKind::Skipped => {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            Notice::Skipped {
                origin: problem.origin,
                line: problem.line,
                reason: problem.message,
            }
        }
    }
}

/// Snapshots the engine right after batch `seq` and hands it to the committer.
#[allow(clippy::too_many_arguments)]
async fn offer_checkpoint(
    pending: &mut Option<mpsc::Sender<Pending>>,
    seq: u64,
    identity: &str,
    position: Position,
    engine: &Engine,
    dedup: &Dedup,
    events_before: u64,
    stats: &Stats,
) {
    let Some(tx) = pending else { return };
    let checkpoint = Checkpoint {
        version: CHECKPOINT_VERSION,
        source: identity.to_owned(),
        position,
        engine: snapshot_engine(engine),
        dedup: snapshot_dedup(dedup),
        events: events_before + stats.events.load(Ordering::Relaxed),
    };
    if tx.send(Pending { seq, checkpoint }).await.is_err() {
        // The committer stopped (a lost lease): it reports why when it is joined.
        *pending = None;
    }
}

/// When the engine sends the alert updates it holds to the sinks: [`ALERT_HOLD`] after the
/// first of them, or at once when [`MAX_HELD_ALERTS`] alerts are held.
#[derive(Debug, Default)]
struct Hold {
    /// When the first of the updates held was made.
    since: Option<Instant>,
}

impl Hold {
    /// Notes that `held` alerts are held at `now` (after a batch).
    fn note(&mut self, held: usize, now: Instant) {
        if held > 0 && self.since.is_none() {
            self.since = Some(now);
        }
    }

    /// Whether the `held` alerts are due at `now`.
    fn due(&self, held: usize, now: Instant) -> bool {
        held >= MAX_HELD_ALERTS
            || self
                .since
                .is_some_and(|t| now.saturating_duration_since(t) >= ALERT_HOLD)
    }

    /// How long from `now` until the held alerts are due; `None` when none are held.
    fn left(&self, now: Instant) -> Option<Duration> {
        self.since
            .map(|t| ALERT_HOLD.saturating_sub(now.saturating_duration_since(t)))
    }

    /// The held alerts were sent.
    fn sent(&mut self) {
        self.since = None;
    }
}

/// The sinks' queues, as the engine sends them alerts.
struct SinkQueues {
    queues: Vec<(String, mpsc::Sender<SinkBatch>)>,
    stats: Arc<Stats>,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
}

impl SinkQueues {
    /// Sends `updates`, the alerts of the engine's batches up to `seq`, to every sink; an empty
    /// list too, which the sinks acknowledge all the same (a checkpoint after `seq` waits for
    /// that).
    async fn send(&self, seq: u64, updates: Arc<[AlertUpdate]>) {
        for (name, queue) in &self.queues {
            // A full queue waits: a slow sink slows the engine, and so the source.
            let batch = SinkBatch {
                seq,
                updates: Arc::clone(&updates),
            };
            if queue.send(batch).await.is_err() && !updates.is_empty() {
                // The sink's task is gone (it panicked): its alerts are undelivered, counted.
                let lost = updates.len() as u64;
                self.stats.undelivered.fetch_add(lost, Ordering::Relaxed);
                let live = self.stats.live.sink(name);
                live.undelivered.fetch_add(lost, Ordering::Relaxed);
                let error = SinkError::new(name.clone(), SinkFailure::Stopped, updates.len());
                (self.notices)(error.into());
            }
        }
    }
}

/// Runs one sink: writes each batch, then acknowledges its `seq`. A batch the sink gave up on is
/// not acknowledged, and neither is any later one: the checkpoint stays before the lost alerts.
/// While the sink holds alerts back ([`Sink::held_until`]), batches are acknowledged only once
/// the held alerts are flushed, when they are due or at the end.
async fn run_sink(
    mut sink: Box<dyn Sink>,
    mut queue: mpsc::Receiver<SinkBatch>,
    acked: watch::Sender<u64>,
    stats: Arc<Stats>,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
) {
    let counters = stats.live.sink(&sink.name());
    let report = |e: SinkError| {
        stats
            .undelivered
            .fetch_add(e.undelivered, Ordering::Relaxed);
        counters
            .undelivered
            .fetch_add(e.undelivered, Ordering::Relaxed);
        notices(e.into());
    };
    let mut failed = false;
    // The newest batch received while alerts were held: acknowledged once they are flushed.
    let mut waiting: Option<u64> = None;
    loop {
        let next = match sink.held_until() {
            Some(due) => tokio::select! {
                batch = queue.recv() => batch,
                () = tokio::time::sleep_until(due) => {
                    match sink.flush().await {
                        Ok(()) => {
                            if let (false, Some(seq)) = (failed, waiting.take()) {
                                acked.send_replace(seq);
                            }
                        }
                        Err(e) => {
                            failed = true;
                            report(e);
                        }
                    }
                    continue;
                }
            },
            None => queue.recv().await,
        };
        let Some(batch) = next else { break };
        if !batch.updates.is_empty() {
            match sink.send(&batch.updates).await {
                Ok(()) => {
                    counters.batches.fetch_add(1, Ordering::Relaxed);
                    counters
                        .alerts
                        .fetch_add(batch.updates.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    failed = true;
                    report(e);
                }
            }
        }
        if !failed {
            if sink.held_until().is_some() {
                waiting = Some(batch.seq);
            } else {
                waiting = None;
                acked.send_replace(batch.seq);
            }
        }
    }
    match sink.flush().await {
        Ok(()) => {
            if let (false, Some(seq)) = (failed, waiting) {
                acked.send_replace(seq);
            }
        }
        Err(e) => report(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_alerts_are_due_after_the_hold_or_when_too_many() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut hold = Hold::default();
        // Nothing held: nothing is due, and the engine waits for input without a deadline.
        assert!(!hold.due(0, t0 + ms(500)));
        assert_eq!(hold.left(t0), None);
        hold.note(0, t0);
        assert_eq!(hold.left(t0), None, "a batch without alerts starts no hold");
        // The first alerts start the hold; later batches do not move it.
        hold.note(3, t0);
        hold.note(5, t0 + ms(60));
        assert!(!hold.due(5, t0 + ms(99)));
        assert_eq!(hold.left(t0 + ms(60)), Some(ms(40)));
        assert!(hold.due(5, t0 + ALERT_HOLD));
        assert_eq!(hold.left(t0 + ms(250)), Some(Duration::ZERO));
        // Too many alerts are sent at once, however young.
        assert!(hold.due(MAX_HELD_ALERTS, t0));
        assert!(!hold.due(MAX_HELD_ALERTS - 1, t0));
        // Once sent, the next alerts start a new hold.
        hold.sent();
        assert_eq!(hold.left(t0 + ms(300)), None);
        assert!(!hold.due(1, t0 + ms(300)));
        hold.note(1, t0 + ms(300));
        assert!(!hold.due(1, t0 + ms(399)));
        assert!(hold.due(1, t0 + ms(400)));
    }
}
