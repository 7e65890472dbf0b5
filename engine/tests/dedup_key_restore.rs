//! A restored deduplication window takes over the hash key it was saved with, so that copies of
//! events read before a restart are still recognised after it (issue 8, item 7).
//!
//! This is its own test binary with a single test: the hash key belongs to the process and can
//! only be installed before any event is decoded, so no other test may decode in this process.

use std::hash::Hasher;
use std::sync::Arc;

use k8scop_engine::chunk::Chunk;
use k8scop_engine::decode::{Decoder, Dedup, DedupState, DEDUP_FIELDS};
use k8scop_engine::event::Event;
use k8scop_engine::hash::SipKey;
use k8scop_engine::{CompileOptions, StateError};
use k8scop_grammar::SourceFile;
use serde_json::{json, Value};

fn audit_event(id: &str, user: &str) -> Value {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": id, "stage": "ResponseComplete", "verb": "get",
        "requestURI": "/api/v1/namespaces/shop/secrets/db",
        "user": {"username": user},
        "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db"},
        "requestReceivedTimestamp": "2024-05-01T12:00:00.123456Z",
        "stageTimestamp": "2024-05-01T12:00:00.223456Z",
    })
}

/// The key a process hashing with `key` gave `event`. Written out here on purpose: saved windows
/// are only useful while the recipe stays the same, so changing it must fail this test.
fn key_in_saving_process(key: SipKey, event: &Value) -> u64 {
    let mut hasher = key.hasher();
    for path in DEDUP_FIELDS {
        let value = path
            .iter()
            .try_fold(event, |v, key| v.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default();
        hasher.write_usize(value.len());
        hasher.write(value.as_bytes());
    }
    hasher.finish()
}

fn decode(events: &[Value]) -> Vec<Event> {
    let compiled = k8scop_engine::loader::load_sources(
        vec![SourceFile::new(
            "t.rules",
            r#"rule reads { when verb == "get" }"#,
        )],
        &CompileOptions::default(),
    );
    let ruleset = compiled.ruleset.expect("compiles");
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    let decoded = Decoder::new(&ruleset).decode(&Chunk::Lines {
        origin: Arc::from("t.jsonl"),
        first_line: 1,
        text,
    });
    assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
    decoded.events
}

#[test]
fn a_restored_window_hashes_new_events_with_its_saved_key() {
    let saved_key = SipKey::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
    let read_before = audit_event("a1", "alice");
    let state = DedupState::from_value(json!({
        "version": 1,
        "hash_key": "0123456789abcdeffedcba9876543210",
        "keys": format!("{:016x}", key_in_saving_process(saved_key, &read_before)),
    }))
    .expect("a valid state");
    let mut dedup = Dedup::restore(100, state).expect("nothing was decoded yet in this process");

    // Events decoded from now on are hashed with the saved key: the copy is recognised.
    let events = decode(&[
        read_before.clone(),
        audit_event("a2", "alice"),
        // A forged id: same auditID, but not what the API server set for that request.
        audit_event("a1", "mallory"),
    ]);
    assert_eq!(
        events[0].dedup_key,
        Some(key_in_saving_process(saved_key, &read_before))
    );
    assert!(
        dedup.is_duplicate(&events[0]),
        "the copy of a1 is a duplicate"
    );
    assert!(!dedup.is_duplicate(&events[1]));
    assert!(!dedup.is_duplicate(&events[2]), "a forged a1 is not");
    assert!(dedup.is_duplicate(&events[1]));

    // The next checkpoint saves the same key.
    let saved = serde_json::to_value(dedup.snapshot()).expect("serializes");
    assert_eq!(saved["hash_key"], "0123456789abcdeffedcba9876543210");
    assert_eq!(saved["keys"].as_str().map(str::len), Some(3 * 16));

    // Once events are hashed with a key, another one cannot take over.
    let other = DedupState::from_value(json!({
        "version": 1,
        "hash_key": "00000000000000010000000000000002",
        "keys": "0000000000000003",
    }))
    .expect("a valid state");
    assert!(matches!(
        Dedup::restore(100, other),
        Err(StateError::DedupKeyInUse)
    ));
}
