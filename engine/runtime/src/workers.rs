//! The threads that decode and judge batches: one per core, each freeing the batches it built.
//!
//! A batch's events are built by one thread (decoding), read by the engine's task, and then
//! freed. On tokio's blocking pool, each batch went to whichever of a score of threads was free,
//! and was freed on yet another: each of those threads grew a heap of its own, a batch's memory
//! was cold when the next batch reused it, and every free crossed threads. Measured with
//! PerfSPEC's events, that cost 15% of the wall time on two cores and 10% on one, most of it in
//! the kernel zeroing fresh pages (docs/PERFORMANCE.md, "after session 18").
//!
//! So decoding runs on a fixed set of threads, as many as there are cores; a batch goes to the
//! first free thread, and the engine gives each batch back ([`Spent`]) to the thread that built
//! it, which frees it before its next batch (or within 200 ms when the input pauses) and reuses
//! its verdicts' buffers. The order of events is the runner's business: it awaits the batches'
//! [`Reply`]s in input order.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};

use k8scop_engine::chunk::Chunk;
use k8scop_engine::decode::{Decoded, Decoder};
use k8scop_engine::engine::{Judged, Scratch};
use k8scop_engine::ruleset::Ruleset;
use k8scop_engine::Event;
use tokio::sync::oneshot;

/// What a thread does with one batch: decode it and judge its events with the thread's scratch
/// buffers into the verdicts given.
type Work = Box<dyn FnOnce(&mut Scratch, &mut Judged) -> Decoded + Send>;

/// One batch to work on, and where its result goes.
struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, String>>,
}

/// A decoded and judged batch.
pub(crate) struct Done {
    /// The events and what did not become one.
    pub decoded: Decoded,
    /// What the generation's rules say of the events.
    pub judged: Judged,
    /// Where to give the events back once they are applied.
    pub spent: Spent,
}

/// The way back to the thread that built a batch.
pub(crate) struct Spent {
    to: Sender<(Vec<Event>, Judged)>,
}

impl Spent {
    /// Hands a batch's events and verdicts back to the thread that built them: it frees the
    /// events there (into the heap they came from) and reuses the verdicts' buffers. If that
    /// thread is gone (the run is ending), they are freed here.
    pub fn give_back(self, events: Vec<Event>, judged: Judged) {
        let _ = self.to.send((events, judged));
    }
}

/// A batch on its way: its reply comes once a thread has decoded and judged it.
pub(crate) type Reply = oneshot::Receiver<Result<Done, String>>;

/// The decoding threads. Dropping the pool lets them finish the batches already given and end.
pub(crate) struct Workers {
    jobs: Sender<Job>,
}

impl Workers {
    /// Starts `threads` decoding threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<Workers> {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("k8scop-decode-{i}"))
                .spawn(move || work(&queue))?;
        }
        Ok(Workers { jobs })
    }

    /// Gives `chunk` to the first free thread. If every thread is gone (none could be started
    /// again after a panic, which ends a thread only when it cannot even reply), the reply says
    /// so.
    pub fn decode(&self, chunk: Chunk, decoder: Arc<Decoder>, ruleset: Arc<Ruleset>) -> Reply {
        self.submit(Box::new(move |scratch, judged| {
            let decoded = decoder.decode(&chunk);
            chunk.recycle();
            ruleset.judge_into(&decoded.events, scratch, judged);
            decoded
        }))
    }

    fn submit(&self, work: Work) -> Reply {
        let (reply, pending) = oneshot::channel();
        let job = Job { work, reply };
        if let Err(std::sync::mpsc::SendError(job)) = self.jobs.send(job) {
            let _ = job
                .reply
                .send(Err("no decoding thread is running".to_owned()));
        }
        pending
    }
}

/// One thread's loop: free what came back, take the next job, decode and judge it, reply.
fn work(queue: &Mutex<Receiver<Job>>) {
    let (spent_tx, spent) = channel::<(Vec<Event>, Judged)>();
    let mut scratch = Scratch::default();
    let mut spare: Vec<Judged> = Vec::new();
    loop {
        // The lock is held while waiting, so that one waiting thread takes the next job and the
        // others wait for the lock (the std receiver cannot be shared otherwise). The wait is cut
        // short now and then, so that batches given back while the input is idle are freed.
        let job = match queue.lock() {
            Ok(queue) => queue.recv_timeout(IDLE_FREE),
            Err(poisoned) => poisoned.into_inner().recv_timeout(IDLE_FREE),
        };
        // What was given back while the thread waited is freed before the job runs: the job
        // reuses those verdicts' buffers, and an old ruleset is let go as soon as each thread
        // has taken one batch after a reload.
        free_spent(&spent, &mut spare);
        let Job { work, reply } = match job {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            // The pool was dropped and every job given is done.
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut judged = spare.pop().unwrap_or_default();
        let outcome = catch_unwind(AssertUnwindSafe(|| work(&mut scratch, &mut judged)));
        let done = match outcome {
            Ok(decoded) => Ok(Done {
                decoded,
                judged,
                spent: Spent {
                    to: spent_tx.clone(),
                },
            }),
            Err(panic) => {
                // The scratch buffers may be half-updated: start them afresh.
                scratch = Scratch::default();
                Err(panic_message(panic.as_ref()))
            }
        };
        // The runner stopped waiting (the run is ending): nothing to deliver.
        let _ = reply.send(done);
    }
}

/// Frees the events given back to this thread and keeps their verdicts' buffers for reuse.
fn free_spent(spent: &Receiver<(Vec<Event>, Judged)>, spare: &mut Vec<Judged>) {
    while let Ok((events, mut judged)) = spent.try_recv() {
        drop(events);
        // Verdict buffers for the batches in flight; more than that is never needed. A kept one
        // must not keep its ruleset alive past a reload.
        if spare.len() < SPARE_VERDICTS {
            judged.forget_ruleset();
            spare.push(judged);
        }
    }
}

/// Spare verdict buffers a thread keeps.
const SPARE_VERDICTS: usize = 8;

/// How long a thread waits for a job before it frees what was given back meanwhile.
const IDLE_FREE: std::time::Duration = std::time::Duration::from_millis(200);

/// What a panic said, as a task's `JoinError` reports it.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let said = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    match said {
        Some(message) => format!("panicked with message {message:?}"),
        None => "panicked".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruleset() -> Arc<Ruleset> {
        let compiled = k8scop_engine::loader::load_sources(
            vec![k8scop_grammar::SourceFile::new(
                "t.rules",
                r#"rule exec { severity high  when verb == "create" and objectRef.subresource == "exec" }"#,
            )],
            &k8scop_engine::compile::CompileOptions::default(),
        );
        Arc::new(compiled.ruleset.expect("the rule compiles"))
    }

    fn lines(text: &str) -> Chunk {
        Chunk::Lines {
            origin: Arc::from("t.log"),
            first_line: 1,
            text: text.to_owned(),
        }
    }

    const EXEC: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a1","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","subresource":"exec","namespace":"web","name":"api-0"},"user":{"username":"alice"},"requestReceivedTimestamp":"2026-01-01T00:00:00Z"}"#;
    const GET: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a2","stage":"ResponseComplete","verb":"get","objectRef":{"resource":"pods","namespace":"web","name":"api-0"},"user":{"username":"alice"},"requestReceivedTimestamp":"2026-01-01T00:00:01Z"}"#;

    /// Every batch comes back decoded and judged, whichever thread took it, and what is given
    /// back is reused: many batches on two threads give what one thread gives.
    #[tokio::test]
    async fn batches_come_back_decoded_and_judged() {
        let ruleset = ruleset();
        let decoder = Arc::new(Decoder::new(&ruleset));
        let workers = Workers::start(2).expect("threads");
        let pending: Vec<_> = (0..40)
            .map(|i| {
                let text = if i % 2 == 0 {
                    format!("{EXEC}\n{GET}\n")
                } else {
                    format!("{GET}\nnot json\n")
                };
                workers.decode(lines(&text), Arc::clone(&decoder), Arc::clone(&ruleset))
            })
            .collect();
        for (i, pending) in pending.into_iter().enumerate() {
            let Done {
                decoded,
                judged,
                spent,
            } = pending.await.expect("a reply").expect("decoded");
            assert_eq!(decoded.events.len(), if i % 2 == 0 { 2 } else { 1 }, "{i}");
            assert_eq!(decoded.problems.len(), i % 2, "{i}");
            let mut engine = k8scop_engine::Engine::new(Arc::clone(&ruleset));
            let mut out = k8scop_engine::Output::default();
            for (j, event) in decoded.events.iter().enumerate() {
                engine.apply(event, &judged, j, &mut out);
            }
            assert_eq!(out.alerts.len(), usize::from(i % 2 == 0), "{i}");
            spent.give_back(decoded.events, judged);
        }
    }

    /// A batch whose work panics gets a reply that says so, and the thread goes on with the
    /// next batch.
    #[tokio::test]
    async fn a_panic_is_reported_and_the_thread_goes_on() {
        let ruleset = ruleset();
        let decoder = Arc::new(Decoder::new(&ruleset));
        let workers = Workers::start(1).expect("a thread");
        let failed = workers.submit(Box::new(|_, _| panic!("bad batch")));
        let next = workers.decode(lines(EXEC), decoder, ruleset);
        let Err(message) = failed.await.expect("a reply") else {
            panic!("the panic was not reported");
        };
        assert_eq!(message, r#"panicked with message "bad batch""#);
        let done = next.await.expect("a reply").expect("decoded");
        assert_eq!(done.decoded.events.len(), 1);
    }

    /// Verdict buffers kept for reuse do not keep their ruleset alive: after a reload, the old
    /// ruleset is freed even though its last verdicts were given back to the thread.
    #[tokio::test]
    async fn kept_verdicts_let_their_ruleset_go() {
        let ruleset = ruleset();
        let old = Arc::downgrade(&ruleset);
        let workers = Workers::start(1).expect("a thread");
        let decoder = Arc::new(Decoder::new(&ruleset));
        let done = workers
            .decode(lines(EXEC), decoder, ruleset)
            .await
            .expect("a reply")
            .expect("decoded");
        done.spent.give_back(done.decoded.events, done.judged);
        // The next batch makes the thread take back what was given (and keep the verdict).
        let next = workers.submit(Box::new(|_, _| Decoded::default()));
        next.await.expect("a reply").expect("done");
        assert!(old.upgrade().is_none(), "the old ruleset is still alive");
    }
}
