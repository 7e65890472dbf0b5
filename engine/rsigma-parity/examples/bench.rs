//! k8scop and rsigma side by side on the same Sigma rules and the same events, in one run
//! (docs/PERFORMANCE.md):
//!
//! ```sh
//! cargo run --release -p k8scop-engine --example gen_events -- 200000 > /tmp/events.jsonl
//! cargo run --release -p k8scop-rsigma-parity --example bench -- /tmp/events.jsonl [RUNS] [SIGMA_DIR]
//! ```
//!
//! SIGMA_DIR defaults to the 16 SigmaHQ Kubernetes audit rules in ../shared/data/sigma-k8s.
//! Both engines run on one thread over the event text in memory, from JSON lines to detections:
//! k8scop decodes 256 KiB chunks as `k8scop run` does (the projection of the fields the rules
//! read) and runs its engine on each chunk's events (aggregation included); rsigma splits the
//! text into lines (`str::lines`, skipping blank ones as k8scop does), parses each with
//! serde_json and evaluates it. A second pair of timings evaluates events parsed
//! beforehand (all of them in memory, so mostly out of the caches). The process uses mimalloc,
//! as the k8scop binary does, for both engines. Each is run RUNS times (default
//! 5) and the medians are printed, with the ratio, after checking that both engines counted the
//! same detections per rule. The JSON-lines runs are also given in the thread's CPU time (Linux),
//! which time spent waiting for a core on a busy machine does not inflate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8scop_engine::decode::Decoder;
use k8scop_engine::engine::{Judged, Scratch};
use k8scop_engine::{Engine, Output};
use k8scop_rsigma_parity::{chunks, thread_cpu_ns, ExampleArgs, Pair};

/// The allocator of the k8scop binary, for both engines alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The size of the chunks `k8scop run` reads a file in.
const CHUNK: usize = 256 * 1024;

/// The thread's CPU time since `start` (a [`thread_cpu_ns`] reading), when Linux gives it.
fn cpu_since(start: Option<u64>) -> Option<Duration> {
    Some(Duration::from_nanos(thread_cpu_ns()?.checked_sub(start?)?))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), String> {
    let args = ExampleArgs::parse("bench", 5)?;
    let (events_path, runs) = (&args.events, args.runs);
    let sigma = args.sigma_files()?;
    let pair = Pair::load(&sigma)?;
    let text = std::fs::read_to_string(events_path).map_err(|e| format!("{events_path}: {e}"))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    println!(
        "{} Sigma rules, {} events ({:.0} MB), {runs} runs, one thread each",
        sigma.len(),
        lines.len(),
        text.len() as f64 / 1e6
    );

    let origin: Arc<str> = Arc::from(events_path.as_str());
    let decoder = Decoder::new(&pair.ruleset);
    let mut k8scop_counts = BTreeMap::new();
    let mut rsigma_counts: BTreeMap<String, u64> = BTreeMap::new();
    let (mut k_end, mut r_end, mut k_eval, mut r_eval) = (vec![], vec![], vec![], vec![]);
    // The same JSON-lines runs in thread CPU time, where Linux gives it.
    let (mut k_cpu, mut r_cpu) = (vec![], vec![]);
    for run in 0..runs {
        // k8scop: text -> events -> engine, chunk by chunk as `k8scop run` reads a file.
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        // As `k8scop run` does on one thread: decode a chunk, judge its events' conditions,
        // then apply the verdicts in order, each alert's updates coalesced per chunk (a sink
        // gets an alert's latest state per batch).
        let mut engine = Engine::new(Arc::clone(&pair.ruleset));
        engine.coalesce_alerts(true);
        let mut out = Output::default();
        let mut scratch = Scratch::default();
        let mut judged = Judged::default();
        for chunk in chunks(&text, CHUNK) {
            let events = decoder.decode_text(&origin, chunk).events;
            pair.ruleset.judge_into(&events, &mut scratch, &mut judged);
            for (i, event) in events.iter().enumerate() {
                engine.apply(event, &judged, i, &mut out);
            }
            std::hint::black_box(out.take_alerts());
        }
        k_end.push(start.elapsed());
        k_cpu.extend(cpu_since(cpu_start));
        if run == 0 {
            for (d, s) in engine.stats() {
                k8scop_counts.insert(d.name.to_string(), s.matches);
            }
        }
        // The same, over events decoded beforehand.
        let decoded = decoder.decode_text(&origin, &text);
        let start = Instant::now();
        let mut engine = Engine::new(Arc::clone(&pair.ruleset));
        pair.ruleset
            .judge_into(&decoded.events, &mut scratch, &mut judged);
        for (i, event) in decoded.events.iter().enumerate() {
            engine.apply(event, &judged, i, &mut out);
            out.alerts.clear();
        }
        k_eval.push(start.elapsed());
        drop(decoded);

        // rsigma: text -> lines -> serde_json::Value -> engine. The lines are split here, in the
        // timed loop, as k8scop splits its chunks into lines in its own.
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        let mut detections = 0u64;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("{events_path}: {e}"))?;
            let results = pair
                .rsigma
                .evaluate(&rsigma_eval::JsonEvent::borrow(&value));
            detections += results.len() as u64;
            if run == 0 {
                for r in &results {
                    let id = r.header.rule_id.clone().unwrap_or_default();
                    let name = pair.names_by_id.get(&id).cloned().unwrap_or(id);
                    *rsigma_counts.entry(name).or_default() += 1;
                }
            }
        }
        r_end.push(start.elapsed());
        r_cpu.extend(cpu_since(cpu_start));
        std::hint::black_box(detections);
        // The same, over values parsed beforehand.
        let values: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("parsed above"))
            .collect();
        let start = Instant::now();
        let mut detections = 0u64;
        for value in &values {
            detections += pair
                .rsigma
                .evaluate(&rsigma_eval::JsonEvent::borrow(value))
                .len() as u64;
        }
        r_eval.push(start.elapsed());
        std::hint::black_box(detections);
    }
    k8scop_counts.retain(|_, n| *n > 0);
    if k8scop_counts != rsigma_counts {
        return Err(format!(
            "the engines disagree on these events: k8scop {k8scop_counts:?}, rsigma {rsigma_counts:?}"
        ));
    }
    println!(
        "same detections in both: {} in all, {:?}",
        k8scop_counts.values().sum::<u64>(),
        k8scop_counts
    );
    let n = lines.len() as f64;
    let row = |what: &str, k: Duration, r: Duration| {
        println!(
            "{what:<34} k8scop {:>8.1} ms ({:>5.2} µs/event)   rsigma {:>8.1} ms ({:>5.2} µs/event)   k8scop is {:.1}x rsigma's speed",
            k.as_secs_f64() * 1e3,
            k.as_secs_f64() * 1e6 / n,
            r.as_secs_f64() * 1e3,
            r.as_secs_f64() * 1e6 / n,
            r.as_secs_f64() / k.as_secs_f64()
        )
    };
    row(
        "JSON lines to detections (median)",
        median(k_end),
        median(r_end),
    );
    if k_cpu.len() == runs && r_cpu.len() == runs {
        row(
            "the same, thread CPU time (median)",
            median(k_cpu),
            median(r_cpu),
        );
    }
    row("parsed events (median)", median(k_eval), median(r_eval));
    Ok(())
}
