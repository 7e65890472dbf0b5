//! Writes N realistic audit events as JSON lines to stdout (default 1,000,000), for benchmarks:
//! `cargo run --release -p k8scop-engine --example gen_events -- 1000000 > /tmp/events.jsonl`

use std::io::{BufWriter, Write};

#[path = "../benches/support/gen.rs"]
mod gen;

fn main() -> std::io::Result<()> {
    let n: u64 = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|_| std::io::Error::other(format!("`{arg}` is not a number of events")))?,
        None => 1_000_000,
    };
    let mut rng = gen::Rng::new(0x6b38_7363_6f70);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for i in 0..n {
        writeln!(out, "{}", gen::event(&mut rng, i))?;
    }
    out.flush()
}
