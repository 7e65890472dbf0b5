//! Evaluation throughput: 16 typical rules (benches/rules16.rules) over pre-parsed, realistic
//! audit events (benches/support/gen.rs). Events are parsed and classified before timing: this
//! measures conditions, thresholds and aggregation only. `cargo bench -p k8scop-engine --bench eval`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use k8scop_engine::event::Event;
use k8scop_engine::{CompileOptions, Engine, Output};
use k8scop_grammar::SourceFile;

#[path = "support/gen.rs"]
mod gen;

const EVENTS: u64 = 20_000;

fn events() -> Vec<Event> {
    let mut rng = gen::Rng::new(42);
    (0..EVENTS)
        .map(|i| {
            let line = gen::event(&mut rng, i);
            let value = serde_json::from_str(&line).expect("the generator writes JSON");
            Event::classify(value, "bench").expect("the generator writes audit events")
        })
        .collect()
}

fn ruleset() -> Arc<k8scop_engine::Ruleset> {
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
    let events = events();
    let ruleset = ruleset();
    assert_eq!(ruleset.rules.len(), 16);
    let mut group = c.benchmark_group("eval");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(30);
    group.bench_function("16_rules", |b| {
        b.iter_batched_ref(
            || (Engine::new(Arc::clone(&ruleset)), Output::default()),
            |(engine, out)| {
                for event in &events {
                    engine.process(event, out);
                }
                out.alerts.len()
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
