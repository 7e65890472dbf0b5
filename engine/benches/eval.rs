//! Evaluation throughput: 16 typical rules (benches/rules16.rules) over pre-parsed, realistic
//! audit events (benches/support/gen.rs). Parsing happens before timing: this measures
//! conditions, thresholds and aggregation only.
//!
//! Four cases: events parsed in full (`serde_json::Value` of the whole event) or as the pipeline
//! parses them (the decoder keeps only the fields the ruleset reads), and a working set that does
//! not fit in the CPU caches (20,000 events, ~60 MB: every event is a cache miss) or one that
//! does (200 events: as in the pipeline, where an event is evaluated right after it is parsed).
//!
//! `cargo bench -p k8scop-engine --bench eval`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use k8scop_engine::chunk::Chunk;
use k8scop_engine::decode::Decoder;
use k8scop_engine::event::Event;
use k8scop_engine::{CompileOptions, Engine, Output, Ruleset};
use k8scop_grammar::SourceFile;

#[path = "support/gen.rs"]
mod gen;

fn lines(n: u64) -> String {
    let mut rng = gen::Rng::new(42);
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&gen::event(&mut rng, i));
        text.push('\n');
    }
    text
}

fn full(text: &str) -> Vec<Event> {
    text.lines()
        .map(|line| {
            let value = serde_json::from_str(line).expect("the generator writes JSON");
            Event::classify(value, "bench").expect("the generator writes audit events")
        })
        .collect()
}

fn projected(text: &str, ruleset: &Ruleset) -> Vec<Event> {
    let decoded = Decoder::new(ruleset).decode(&Chunk::Lines {
        origin: "bench".into(),
        first_line: 1,
        text: text.to_owned(),
    });
    assert!(
        decoded.problems.is_empty(),
        "{:?}",
        decoded.problems.first()
    );
    decoded.events
}

fn ruleset() -> Arc<Ruleset> {
    let source = SourceFile::new("rules16.rules", include_str!("rules16.rules"));
    let compiled = k8scop_engine::loader::load_sources(vec![source], &CompileOptions::default());
    let errors: Vec<_> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    Arc::new(compiled.ruleset.expect("no errors"))
}

fn bench(c: &mut Criterion) {
    let ruleset = ruleset();
    assert_eq!(ruleset.rules.len(), 16);
    let mut group = c.benchmark_group("eval_16_rules");
    group.sample_size(30);
    for (name, n) in [("cold_20000", 20_000u64), ("hot_200", 200)] {
        let text = lines(n);
        for (parse, events) in [
            ("full", full(&text)),
            ("projected", projected(&text, &ruleset)),
        ] {
            group.throughput(Throughput::Elements(n));
            group.bench_function(format!("{name}/{parse}"), |b| {
                b.iter_batched_ref(
                    || (Engine::new(Arc::clone(&ruleset)), Output::default()),
                    |(engine, out)| {
                        for event in &events {
                            engine.process(event, out);
                        }
                        out.alerts.len()
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
