//! Decoding throughput: the shipped ruleset's projected decoding (parse, unwrap shapes, classify)
//! next to a bare `serde_json::from_str::<Value>` of the same lines, the figure issue 3 sets as
//! the bar, over 20,000 generated audit events (benches/support/gen.rs) in 64 KiB chunks.
//! `cargo bench -p k8scop-engine --bench decode`

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use k8scop_engine::chunk::Chunk;
use k8scop_engine::decode::{json, Decoder};
use k8scop_engine::doc::DocBuilder;
use serde_json::Value;

#[path = "support/gen.rs"]
mod gen;

const EVENTS: u64 = 20_000;
const CHUNK_BYTES: usize = 64 * 1024;

fn text() -> String {
    let mut rng = gen::Rng::new(42);
    let mut text = String::new();
    for i in 0..EVENTS {
        text.push_str(&gen::event(&mut rng, i));
        text.push('\n');
    }
    text
}

/// The text cut into chunks of about 64 KiB at line ends, as the file source reads it.
fn chunks(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let (mut start, mut first_line) = (0, 1);
    while start < text.len() {
        let mut end = (start + CHUNK_BYTES).min(text.len());
        end = match text[end..].find('\n') {
            Some(i) => end + i + 1,
            None => text.len(),
        };
        let piece = &text[start..end];
        chunks.push(Chunk::Lines {
            origin: "bench.jsonl".into(),
            first_line,
            text: piece.to_owned(),
        });
        first_line += piece.matches('\n').count() as u64;
        start = end;
    }
    chunks
}

fn bench(c: &mut Criterion) {
    let rules = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../rules"));
    let compiled = k8scop_engine::loader::load(&[rules], &Default::default())
        .expect("the shipped rules are readable");
    let ruleset = compiled.ruleset.expect("the shipped rules compile");
    let projected = Decoder::new(&ruleset);
    assert!(projected.projects(), "the shipped ruleset runs no scripts");
    let full = Decoder::without_projection(&ruleset);
    let text = text();
    let chunks = chunks(&text);
    let decode_all = |decoder: &Decoder| {
        chunks
            .iter()
            .map(|chunk| decoder.decode(chunk).events.len())
            .sum::<usize>()
    };
    assert_eq!(decode_all(&projected) as u64, EVENTS);

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(20);
    group.bench_function("bare_serde_json_value", |b| {
        b.iter(|| {
            text.lines()
                .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
                .filter(Value::is_object)
                .count()
        })
    });
    group.bench_function("decoder_projected_shipped_rules", |b| {
        b.iter(|| decode_all(&projected))
    });
    // The same parse, holding each chunk's values until the chunk is done, as a pipeline holds
    // a chunk's events until the engine took them: glibc's allocator pays for the batch.
    group.bench_function("bare_serde_json_value_per_chunk", |b| {
        b.iter(|| {
            chunks
                .iter()
                .map(|c| match c {
                    Chunk::Lines { text, .. } => text
                        .lines()
                        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
                        .collect::<Vec<_>>()
                        .len(),
                    _ => 0,
                })
                .sum::<usize>()
        })
    });
    // The scan alone: each line into a compact document of the fields the rules read.
    let trie = projected.projection().expect("projected");
    group.bench_function("projected_parse_only", |b| {
        let mut builder = DocBuilder::default();
        let mut specials = json::Specials::default();
        let mut root = json::RootMembers::default();
        b.iter(|| {
            text.lines()
                .map(|line| {
                    json::parse_into(line, Some(trie), &mut builder, &mut specials, &mut root)
                        .expect("JSON");
                    builder.finish_into()
                })
                .filter(|doc| doc.root().is_object())
                .count()
        })
    });
    group.bench_function("decoder_full_shipped_rules", |b| {
        b.iter(|| decode_all(&full))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
