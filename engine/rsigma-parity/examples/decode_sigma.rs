//! Decoding alone with the imported SigmaHQ rules' projection, for profilers
//! (`valgrind --tool=callgrind`, `perf record`) and instruction counts (docs/PERFORMANCE.md):
//!
//! ```sh
//! cargo run --release -p k8scop-rsigma-parity --example decode_sigma -- EVENTS.jsonl [RUNS] [SIGMA_DIR]
//! ```
//!
//! Decodes the file in 256 KiB chunks as `k8scop run` does, RUNS times (default 1), with the
//! decoder the imported rules get, and prints the keys the projection keeps, the events decoded
//! and the time per event: wall time, and the thread's CPU time where Linux gives it
//! (`/proc/thread-self/schedstat`, in nanoseconds), which time spent waiting for a core on a
//! loaded machine does not inflate.

use std::sync::Arc;
use std::time::Instant;

use k8scop_engine::decode::Decoder;
use k8scop_rsigma_parity::{chunks, thread_cpu_ns, ExampleArgs, Pair};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The size of the chunks `k8scop run` reads a file in.
const CHUNK: usize = 256 * 1024;

fn main() -> Result<(), String> {
    let args = ExampleArgs::parse("decode_sigma", 1)?;
    let (events_path, runs) = (&args.events, args.runs);
    let sigma = args.sigma_files()?;
    let pair = Pair::load(&sigma)?;
    let text = std::fs::read_to_string(events_path).map_err(|e| format!("{events_path}: {e}"))?;
    let decoder = Decoder::new(&pair.ruleset);
    match decoder.projection() {
        Some(trie) => println!("projection: {trie:?}"),
        None => println!("no projection: every field is kept"),
    }
    let origin: Arc<str> = Arc::from(events_path.as_str());
    let pieces: Vec<&str> = chunks(&text, CHUNK).collect();
    for _ in 0..runs {
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        let (mut events, mut problems) = (0, 0);
        for piece in &pieces {
            let decoded = decoder.decode_text(&origin, piece);
            events += decoded.events.len();
            problems += decoded.problems.len();
        }
        let elapsed = start.elapsed();
        let per_event = |seconds: f64| seconds * 1e6 / events.max(1) as f64;
        let cpu = match (cpu_start, thread_cpu_ns()) {
            (Some(a), Some(b)) => format!(", CPU {:.2} µs/event", per_event((b - a) as f64 / 1e9)),
            _ => String::new(),
        };
        println!(
            "{events} events, {problems} problems, {:.1} ms ({:.2} µs/event{cpu})",
            elapsed.as_secs_f64() * 1e3,
            per_event(elapsed.as_secs_f64()),
        );
    }
    Ok(())
}
