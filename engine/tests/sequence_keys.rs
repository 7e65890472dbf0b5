//! Sequences whose steps have keys of their own, end to end: from the rule's text to the alerts.

use k8scop_engine::event::Event;
use k8scop_engine::{Engine, Output};
use serde_json::{json, Value};

mod common;
use common::ruleset;

const STEPS: &str = r#"
rule read { enabled false  when verb == "get" }
rule exec { enabled false  when objectRef.subresource == "exec" }
"#;

/// An event by `user` at `second`, reading a secret or running exec, perhaps impersonating.
fn event(user: &str, as_user: Option<&str>, exec: bool, second: u32) -> Event {
    let mut value = json!({
        "verb": if exec { "create" } else { "get" },
        "user": {"username": user},
        "objectRef": {"resource": if exec { "pods" } else { "secrets" }},
        "requestReceivedTimestamp": format!("2024-05-01T12:00:{second:02}Z"),
    });
    if exec {
        value["objectRef"]["subresource"] = Value::from("exec");
    }
    if let Some(as_user) = as_user {
        value["impersonatedUser"] = json!({"username": as_user});
    }
    Event::classify(value, "t:1").unwrap()
}

/// The groups of the alerts the events raise: each alert's (path, value) pairs.
fn groups(text: &str, events: &[Event]) -> Vec<Vec<(String, Option<String>)>> {
    let mut engine = Engine::new(ruleset(text));
    let mut out = Output::default();
    for event in events {
        engine.process(event, &mut out);
    }
    out.alerts
        .iter()
        .map(|update| update.alert.group.iter().cloned().collect())
        .collect()
}

fn pair(path: &str, value: &str) -> (String, Option<String>) {
    (path.to_owned(), Some(value.to_owned()))
}

/// `steps read -> exec by user.username`, written before steps had keys, keys both steps by the
/// user: bob's exec does not follow alice's read, alice's does.
#[test]
fn a_by_after_the_last_step_keys_every_step() {
    let text = format!("{STEPS}sequence s {{ within 5m  steps read -> exec by user.username }}");
    let events = [
        event("alice", None, false, 0),
        event("bob", None, true, 1),
        event("alice", None, true, 2),
    ];
    assert_eq!(
        groups(&text, &events),
        [vec![pair("user.username", "alice")]]
    );
}

/// With the sequence's `by` next to it, a key on the last step is that step's own: alice's read
/// is followed by bob's exec as alice, and the alert names the key by the completing step's path.
#[test]
fn a_key_of_the_last_step_next_to_the_sequences_by_is_that_steps() {
    let text = format!(
        "{STEPS}sequence s {{ by user.username  within 5m  \
         steps read -> exec by impersonatedUser.username }}"
    );
    let events = [
        event("alice", None, false, 0),
        event("alice", None, true, 1),
        event("bob", Some("carol"), true, 2),
        event("bob", Some("alice"), true, 3),
    ];
    assert_eq!(
        groups(&text, &events),
        [vec![pair("impersonatedUser.username", "alice")]]
    );
}
