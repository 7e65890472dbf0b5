//! `pipeline::run`: wiring sources, decoding, the engine and sinks together (see
//! [`crate::pipeline`] for the design).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::alert::{AlertKind, AlertUpdate};
use crate::decode::{Decoded, Dedup, ProblemKind};
use crate::engine::{Engine, Output};
use crate::pipeline::{Analysis, Notice, PipelineConfig, PipelineError, Stats, Summary};
use crate::reload::{self, Generation};
use crate::shutdown::{self, Shutdown, ShutdownTrigger};
use crate::sinks::Sink;
use crate::sources::{file, Chunk};

/// Chunks in flight between the source and decoding.
const CHUNK_QUEUE: usize = 8;
/// Alert batches in flight to each sink.
const SINK_QUEUE: usize = 8;
/// Recently seen (auditID, stage) pairs remembered for deduplication.
const DEDUP_CAPACITY: usize = 100_000;

/// A chunk being decoded, with the ruleset generation it is decoded for.
struct InFlight {
    generation: Arc<Generation>,
    decoded: JoinHandle<Decoded>,
}

/// Runs the pipeline until the input ends (static) or a shutdown signal (streaming, or ^C).
pub async fn run(
    config: PipelineConfig,
    sinks: Vec<Box<dyn Sink>>,
    stats: Arc<Stats>,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
) -> Result<Summary, PipelineError> {
    let started = Instant::now();
    let (paths, options) = (config.rules.clone(), config.compile.clone());
    let first = tokio::task::spawn_blocking(move || reload::load(&paths, &options))
        .await
        .map_err(|e| PipelineError::Source(format!("loading the rules failed: {e}")))?
        .map_err(|diagnostics| PipelineError::Ruleset { diagnostics })?;
    let first = Arc::new(first);
    notices(Notice::Loaded {
        rules: first.ruleset.rules.len(),
        sequences: first.ruleset.sequences.len(),
        warnings: first.warnings.clone(),
    });

    let inputs = file::expand(&config.sources).map_err(|e| PipelineError::Source(e.to_string()))?;
    drop(inputs);
    if config.analysis == Analysis::Static {
        if let Some(total) = file::total_size(&config.sources) {
            stats.bytes_total.store(total, Ordering::Relaxed);
        }
    }

    // SIGHUP means "reload the rules". Without a watcher there is nothing to reload, but the
    // signal must not kill the run (its default action) and lose the alerts in flight.
    let hangup_guard = (!config.watch_rules)
        .then(|| tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
        .flatten();
    let (trigger, shutdown) = shutdown::channel();
    let trigger = Arc::new(trigger);
    let signals = tokio::spawn(handle_signals(
        Arc::clone(&trigger),
        config.shutdown_deadline,
        Arc::clone(&notices),
    ));

    // Sinks, each in its own task behind a bounded queue.
    let mut sink_queues = Vec::new();
    let mut sink_tasks = Vec::new();
    for sink in sinks {
        let (tx, rx) = mpsc::channel::<Arc<[AlertUpdate]>>(SINK_QUEUE);
        sink_queues.push(tx);
        sink_tasks.push(tokio::spawn(run_sink(
            sink,
            rx,
            Arc::clone(&stats),
            Arc::clone(&notices),
        )));
    }

    // The source.
    let (chunk_tx, mut chunk_rx) = mpsc::channel::<Chunk>(CHUNK_QUEUE);
    let source_config = file::FileSourceConfig {
        poll_interval: config.poll_interval,
        ..file::FileSourceConfig::new(
            config.sources.clone(),
            config.analysis == Analysis::Streaming,
        )
    };
    let source = tokio::spawn(file::run(source_config, chunk_tx, shutdown.clone()));

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
            shutdown.clone(),
        ))
    });

    // Decoding: chunks are decoded on the blocking pool, several at once, and handed on in input
    // order so that the engine sees events in order.
    let (decoded_tx, mut decoded_rx) = mpsc::channel::<InFlight>(config.decode_parallelism.max(1));
    let decode_stage = tokio::spawn({
        let first = Arc::clone(&first);
        let notices = Arc::clone(&notices);
        async move {
            let mut current = first;
            loop {
                let chunk = tokio::select! {
                    biased;
                    // A new ruleset goes down the line at once, so it takes over even when no
                    // input is arriving.
                    Some(next) = reload_rx.recv() => {
                        current = next;
                        let generation = Arc::clone(&current);
                        let decoded = tokio::task::spawn_blocking(Decoded::default);
                        if decoded_tx.send(InFlight { generation, decoded }).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    chunk = chunk_rx.recv() => match chunk {
                        Some(chunk) => chunk,
                        None => return,
                    },
                };
                if let Chunk::Restarted { origin, reason } = &chunk {
                    notices(Notice::SourceRestarted {
                        origin: Arc::clone(origin),
                        reason: reason.clone(),
                    });
                }
                let generation = Arc::clone(&current);
                let decoder = Arc::clone(&current.decoder);
                let decoded = tokio::task::spawn_blocking(move || {
                    let decoded = decoder.decode(&chunk);
                    chunk.recycle();
                    decoded
                });
                if decoded_tx
                    .send(InFlight {
                        generation,
                        decoded,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });

    // The engine: one task owns all state.
    let mut engine = Engine::new(Arc::clone(&first.ruleset));
    let mut current: Arc<Generation> = first;
    let mut dedup = Dedup::new(DEDUP_CAPACITY);
    let mut out = Output::default();
    let mut failure = None;
    while let Some(in_flight) = decoded_rx.recv().await {
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
        let decoded = match in_flight.decoded.await {
            Ok(d) => d,
            Err(e) => {
                // Stop reading, but drain and flush what the sinks already have.
                failure = Some(PipelineError::Source(format!("decoding failed: {e}")));
                break;
            }
        };
        stats.bytes_read.fetch_add(decoded.bytes, Ordering::Relaxed);
        for problem in decoded.problems {
            let notice = match problem.kind {
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
            };
            notices(notice);
        }
        for event in &decoded.events {
            if dedup.is_duplicate(event) {
                stats.duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            engine.process(event, &mut out);
            stats.events.fetch_add(1, Ordering::Relaxed);
            stats.newest_event.fetch_max(event.time, Ordering::Relaxed);
        }
        // Freeing a batch of event trees is real work: do it off the engine's thread.
        let events = decoded.events;
        tokio::task::spawn_blocking(move || drop(events));
        for error in out.errors.drain(..) {
            stats.script_errors.fetch_add(1, Ordering::Relaxed);
            notices(Notice::ScriptError(error));
        }
        let batch = coalesce(&mut out.alerts, &stats);
        if !batch.is_empty() {
            let batch: Arc<[AlertUpdate]> = batch.into();
            for queue in &sink_queues {
                // A full queue waits: a slow sink slows the engine, and so the source.
                if queue.send(Arc::clone(&batch)).await.is_err() {
                    // The sink's task is gone (it panicked): its alerts are undelivered, counted.
                    stats
                        .undelivered
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    notices(Notice::SinkFailed {
                        sink: "sink".into(),
                        message: "the sink stopped; its alerts are not delivered".into(),
                        undelivered: batch.len() as u64,
                    });
                }
            }
        }
    }
    let interrupted = shutdown.is_requested();
    trigger.trigger();

    // Drain: the sinks write what they were given, then flush.
    drop(sink_queues);
    for task in sink_tasks {
        if let Err(e) = task.await {
            notices(Notice::SinkFailed {
                sink: "sink".into(),
                message: format!("the sink's task failed: {e}"),
                undelivered: 0,
            });
        }
    }
    // Dropping the receiver ends the decode stage even when the loop above broke early.
    drop(decoded_rx);
    let _ = decode_stage.await;
    let source_result = source.await;
    if let Some(w) = watcher {
        let _ = w.await;
    }
    signals.abort();
    drop(hangup_guard);
    if let Some(failure) = failure {
        return Err(failure);
    }
    if let Ok(Err(e)) = source_result {
        if !interrupted {
            return Err(PipelineError::Source(e.to_string()));
        }
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
        detections: engine.stats(),
        duration: started.elapsed(),
        interrupted,
    })
}

/// Keeps the latest state of each alert of a batch, in the order alerts first appeared; an alert
/// opened in the batch stays `New`.
fn coalesce(updates: &mut Vec<AlertUpdate>, stats: &Stats) -> Vec<AlertUpdate> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut batch: Vec<AlertUpdate> = Vec::new();
    for update in updates.drain(..) {
        match update.kind {
            AlertKind::New => stats.alerts_new.fetch_add(1, Ordering::Relaxed),
            AlertKind::Updated => stats.alerts_updated.fetch_add(1, Ordering::Relaxed),
        };
        match index.get(&update.alert.id) {
            Some(&i) => {
                let kind = if batch[i].kind == AlertKind::New {
                    AlertKind::New
                } else {
                    update.kind
                };
                batch[i] = AlertUpdate {
                    kind,
                    alert: update.alert,
                };
            }
            None => {
                index.insert(update.alert.id.clone(), batch.len());
                batch.push(update);
            }
        }
    }
    batch
}

async fn run_sink(
    mut sink: Box<dyn Sink>,
    mut queue: mpsc::Receiver<Arc<[AlertUpdate]>>,
    stats: Arc<Stats>,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
) {
    while let Some(batch) = queue.recv().await {
        if let Err(e) = sink.send(&batch).await {
            stats
                .undelivered
                .fetch_add(e.undelivered, Ordering::Relaxed);
            notices(e.into());
        }
    }
    if let Err(e) = sink.flush().await {
        stats
            .undelivered
            .fetch_add(e.undelivered, Ordering::Relaxed);
        notices(e.into());
    }
}

/// SIGINT or SIGTERM starts a graceful shutdown; a second one, or the deadline passing, exits at
/// once.
async fn handle_signals(
    trigger: Arc<ShutdownTrigger>,
    deadline: std::time::Duration,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let mut listener: Shutdown = trigger.subscribe();
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
        // The pipeline itself ended: nothing to do.
        _ = listener.requested() => return,
    }
    notices(Notice::ShuttingDown);
    trigger.trigger();
    tokio::select! {
        _ = int.recv() => {
            eprintln!("k8scop: second signal, exiting at once");
            std::process::exit(130);
        }
        _ = term.recv() => {
            eprintln!("k8scop: second signal, exiting at once");
            std::process::exit(143);
        }
        _ = tokio::time::sleep(deadline) => {
            eprintln!("k8scop: shutdown did not finish within {} s (sinks still flushing); exiting", deadline.as_secs());
            std::process::exit(1);
        }
    }
}
